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
