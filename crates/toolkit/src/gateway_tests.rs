//! Route matching and query strings, as API Gateway does them.

use super::*;

#[test]
fn template_paths_match_like_api_gateway() {
    let params = |template, path| match_route(template, path);
    assert_eq!(params("/orders", "/orders"), Some(vec![]));
    assert_eq!(params("/orders", "/orders/"), None);
    assert_eq!(
        params("/orders/{orderId}", "/orders/ORD%2D1"),
        Some(vec![("orderId".to_owned(), "ORD-1".to_owned())])
    );
    assert_eq!(params("/orders/{orderId}", "/orders/"), None);
    assert_eq!(params("/orders/{orderId}", "/orders/a/b"), None);
    assert_eq!(
        params("/files/{proxy+}", "/files/a/b/c"),
        Some(vec![("proxy".to_owned(), "a/b/c".to_owned())])
    );
    assert_eq!(params("/files/{proxy+}", "/files/"), None);
}

#[test]
fn query_strings_become_both_maps() {
    let (single, multi) = query_maps(Some("limit=2&tag=a&tag=b+c&cursor=x%3Dy"));
    assert_eq!(single.first("limit"), Some("2"));
    assert_eq!(single.first("tag"), Some("b c"));
    assert_eq!(multi.all("tag"), Some(vec!["a", "b c"]));
    assert_eq!(single.first("cursor"), Some("x=y"));
}

/// http-api-develop-integrations-lambda: payload 2.0 answers. JSON
/// without `statusCode` is a 200 `application/json` with the value as body
/// (a string as itself); `cookies` become `Set-Cookie`; a base64 body is
/// decoded; a status that is not one is refused.
#[test]
fn payload_2_answers_are_read_as_http_apis_read_them() {
    let body = |response: Response<Full<Bytes>>| -> Vec<u8> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(response.into_body().collect())
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default()
    };
    let inferred = crate::http_api::response(serde_json::json!({"a": 1})).expect("a response");
    assert_eq!(inferred.status(), StatusCode::OK);
    assert_eq!(inferred.headers()["content-type"], "application/json");
    assert_eq!(body(inferred), br#"{"a":1}"#);
    let text = crate::http_api::response(serde_json::json!("hello")).expect("a response");
    assert_eq!(body(text), b"hello");

    let full = crate::http_api::response(serde_json::json!({
        "statusCode": 201,
        "headers": {"x-one": "1"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": "AAEC",
        "isBase64Encoded": true,
    }))
    .expect("a response");
    assert_eq!(full.status(), StatusCode::CREATED);
    assert_eq!(full.headers()["x-one"], "1");
    let cookies: Vec<_> = full.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
    assert_eq!(body(full), [0u8, 1, 2]);

    assert!(crate::http_api::response(serde_json::json!({"statusCode": 1000})).is_err());
    assert!(crate::http_api::response(serde_json::json!({"statusCode": 200, "body": 5})).is_err());
}

#[test]
fn binary_media_types_match_by_type_wildcard_or_any() {
    let api = |types: &[&str]| Api {
        id: "A".to_owned(),
        kind: ApiKind::Rest,
        cors: None,
        binary_media_types: types.iter().map(|t| (*t).to_owned()).collect(),
        stage: None,
        authorizers: std::collections::BTreeMap::new(),
        default_authorizer: None,
        authorize_preflight: true,
    };
    assert!(is_binary(&api(&["image/png"]), Some("image/png")));
    assert!(is_binary(&api(&["image/png"]), Some("Image/PNG; q=1")));
    assert!(!is_binary(&api(&["image/png"]), Some("image/jpeg")));
    assert!(is_binary(&api(&["image/*"]), Some("image/jpeg")));
    assert!(is_binary(&api(&["*/*"]), Some("text/plain")));
    assert!(!is_binary(&api(&[]), Some("application/octet-stream")));
    assert!(!is_binary(&api(&["image/png"]), None));
}
