//! The end-to-end suite's client: `API_URL` and a few helpers. The tests
//! in `tests/api.rs` speak HTTP only, so the same suite runs against
//! `cargo xtask local` and against a deployed stage.

use std::time::Duration;

use serde_json::Value;

/// The base URL under test, without a trailing slash.
///
/// # Panics
/// When `API_URL` is not set: the suite has nothing to test.
pub fn api_url() -> String {
    std::env::var("API_URL")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| {
            panic!(
                "API_URL is not set: run `cargo xtask test-e2e` (local server) or \
                 `cargo xtask test-e2e --api-url https://…/dev` (a deployed stage)"
            )
        })
}

/// A listener on the bus the API publishes to, when the run says where it
/// is: `LAMBDA_URL` (the local cloud's control port) or `E2E_STAGE` (a
/// deployed stage, with AWS credentials); `None` otherwise.
///
/// # Panics
/// When the listener cannot be set up: the run asked for it.
pub async fn listener(pattern: Value) -> Option<toolkit::listen::Listener> {
    if let Ok(url) = std::env::var("LAMBDA_URL") {
        return Some(
            toolkit::listen::Listener::on_local(&url, Some(pattern))
                .await
                .unwrap_or_else(|e| panic!("listening on the local bus: {e}")),
        );
    }
    let stage = std::env::var("E2E_STAGE").ok()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let remote = toolkit::stage::Remote::for_stage(&root, &stage, None)
        .unwrap_or_else(|e| panic!("stage {stage}: {e}"));
    let config = remote.sdk_config().await;
    let outputs = remote
        .outputs(&aws_sdk_cloudformation::Client::new(&config))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bus = remote
        .output(&outputs, "EventBusName", "E2E_STAGE")
        .unwrap_or_else(|e| panic!("{e}"))
        .to_owned();
    Some(
        toolkit::listen::Listener::on_stage(&config, &bus, Some(pattern))
            .await
            .unwrap_or_else(|e| panic!("listening on {bus}: {e}")),
    )
}

/// An id token for `who` that the API under test takes:
/// - `E2E_STAGE` set (a deployed stage): a test user of the stage's user
///   pool, made and signed in with Cognito's admin API (what `cargo xtask
///   token --stage STAGE` prints), with AWS credentials from the usual
///   chain;
/// - otherwise (the local cloud): minted by the local user pool under
///   `E2E_AUTH_DIR`, or `target/local-auth`, the pool `cargo xtask local`
///   checks tokens with.
///
/// # Panics
/// When no token can be had: no request could pass the authorizer.
pub async fn token(who: &toolkit::auth::Who) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if let Ok(stage) = std::env::var("E2E_STAGE") {
        let remote = toolkit::stage::Remote::for_stage(&root, &stage, None)
            .unwrap_or_else(|e| panic!("stage {stage}: {e}"));
        let config = remote.sdk_config().await;
        let pool = toolkit::stage_token::StagePool::of(&remote, &config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let client = aws_sdk_cognitoidentityprovider::Client::new(&config);
        return toolkit::stage_token::stage_token(&client, &pool, who)
            .await
            .unwrap_or_else(|e| panic!("a token of stage {stage}: {e}"));
    }
    let dir = std::env::var_os("E2E_AUTH_DIR")
        .map_or_else(|| root.join("target/local-auth"), std::path::PathBuf::from);
    toolkit::auth::LocalPool::open(&dir)
        .and_then(|pool| pool.mint(who, Duration::from_secs(3600)))
        .unwrap_or_else(|e| panic!("a local token: {e}"))
}

/// A customer's token.
pub async fn customer_token(id: &str) -> String {
    token(&toolkit::auth::Who::Customer(id.to_owned())).await
}

/// A member of staff's token.
pub async fn staff_token() -> String {
    token(&toolkit::auth::Who::Staff).await
}

/// A client with a timeout, so a hung server fails the test instead of
/// holding it forever.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap_or_else(|e| panic!("no HTTP client: {e}"))
}

/// A customer id no other run uses, so runs against a shared stage do not
/// see each other's orders.
pub fn unique_customer(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("E2E-{tag}-{nanos:x}-{}", std::process::id())
}

/// `{"customerId": customer, "items": [{"productId": "PROD-A", "quantity": 1}]}`
pub fn order_body(customer: &str) -> Value {
    serde_json::json!({"customerId": customer, "items": [{"productId": "PROD-A", "quantity": 1}]})
}

/// `GET url?query` with `token` and its JSON body, whatever the status.
pub async fn get_json(url: &str, token: &str, query: &[(&str, &str)]) -> Value {
    client()
        .get(url)
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: the body is not JSON: {e}"))
}
