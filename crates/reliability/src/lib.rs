//! The harness of `cargo xtask test-load` and `test-faults`: the local
//! server (`toolkit::local`, the same code `cargo xtask local` runs) on a
//! free port of 127.0.0.1 with DynamoDB Local, an HTTP client, a bounded
//! concurrent driver, the store counted from the table itself, and a TCP
//! proxy that can make a dependency stop answering.
//!
//! Everything here targets 127.0.0.1 and is bounded in count and time.

mod proxy;

pub use proxy::{Proxy, ProxyMode};

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;
use toolkit::local::{Events, LocalOptions, LocalServer, Store};

/// fn-api's timeout in `infra/template.yaml` (ApiFunction), which an
/// answer must beat.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(15);

/// The local server with a table of its own on the DynamoDB Local at
/// `endpoint`, events as `events` says, every published event tallied.
///
/// # Panics
/// When the server cannot start: the run cannot go on.
pub async fn start_server(endpoint: &str, table: &str, events: Events) -> LocalServer {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let options = LocalOptions {
        port: 0,
        lambda_port: None,
        store: Store::Endpoint(endpoint.to_owned()),
        table: Some(table.to_owned()),
        events,
        record_events: true,
        ..LocalOptions::new(&root)
    };
    toolkit::local::start(options)
        .await
        .unwrap_or_else(|e| panic!("the local server did not start: {e}"))
}

/// A table name no other run uses.
pub fn fresh_table(tag: &str) -> String {
    format!(
        "{tag}-{}",
        testkit::orders::order_id().as_str()[4..].to_ascii_lowercase()
    )
}

/// An HTTP client that gives up after the function's timeout and a bit, so
/// a hang is a failure, not a stuck run.
///
/// # Panics
/// When no client can be built.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(FUNCTION_TIMEOUT + Duration::from_secs(5))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|e| panic!("no HTTP client: {e}"))
}

/// What came back for one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
    pub elapsed: Duration,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `orderId` of an order body.
    pub fn order_id(&self) -> Option<String> {
        self.json()["orderId"].as_str().map(str::to_owned)
    }
}

/// The body of a one-item order for `customer`.
pub fn order_body(customer: &str, product: &str) -> Value {
    json!({"customerId": customer, "items": [{"productId": product, "quantity": 1}]})
}

/// An id token of the local user pool (`target/local-auth`, the pool
/// `start_server`'s authorizer checks) for `who`, minted once per caller
/// and kept for the run.
///
/// # Panics
/// When the pool cannot be opened: no request could pass the authorizer.
pub fn token(who: &toolkit::auth::Who) -> String {
    static TOKENS: std::sync::Mutex<BTreeMap<String, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    let name = match who {
        toolkit::auth::Who::Customer(id) => format!("customer:{id}"),
        toolkit::auth::Who::Staff => "staff".to_owned(),
    };
    let mut tokens = TOKENS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tokens
        .entry(name)
        .or_insert_with(|| {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/local-auth");
            toolkit::auth::LocalPool::open(&dir)
                .and_then(|pool| pool.mint(who, Duration::from_secs(3600)))
                .unwrap_or_else(|e| panic!("no local token: {e}"))
        })
        .clone()
}

/// A member of staff's token: reads and cancels any order.
pub fn staff_token() -> String {
    token(&toolkit::auth::Who::Staff)
}

/// `POST /orders` as the customer the body names (a member of staff when
/// it names none), with an `Idempotency-Key` when given. A transport
/// error (no answer at all) is status 0.
pub async fn place(
    client: &reqwest::Client,
    base: &str,
    body: &Value,
    key: Option<&str>,
) -> Answer {
    let caller = match body["customerId"].as_str() {
        Some(id) => token(&toolkit::auth::Who::Customer(id.to_owned())),
        None => staff_token(),
    };
    let mut request = client
        .post(format!("{base}/orders"))
        .bearer_auth(caller)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    send(request).await
}

/// `GET /orders/{id}`, as a member of staff.
pub async fn get_order(client: &reqwest::Client, base: &str, id: &str) -> Answer {
    send(
        client
            .get(format!("{base}/orders/{id}"))
            .bearer_auth(staff_token()),
    )
    .await
}

/// `POST /orders/{id}/cancel`, as a member of staff.
pub async fn cancel(client: &reqwest::Client, base: &str, id: &str) -> Answer {
    send(
        client
            .post(format!("{base}/orders/{id}/cancel"))
            .bearer_auth(staff_token()),
    )
    .await
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.text().await.unwrap_or_default();
            Answer {
                status,
                retry_after,
                body,
                elapsed: started.elapsed(),
            }
        }
        Err(e) => Answer {
            status: 0,
            retry_after: None,
            body: e.to_string(),
            elapsed: started.elapsed(),
        },
    }
}

/// Runs `count` jobs, at most `concurrency` at a time, and returns their
/// results in job order.
///
/// # Panics
/// When a job panics.
pub async fn bounded<T, F, Fut>(count: usize, concurrency: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .unwrap_or_else(|e| panic!("semaphore closed: {e}"));
        let work = job(i);
        tasks.spawn(async move {
            let result = work.await;
            drop(permit);
            (i, result)
        });
    }
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.unwrap_or_else(|e| panic!("a job failed: {e}"));
        results[i] = Some(result);
    }
    results.into_iter().flatten().collect()
}

/// The orders stored in `table`, counted from the table itself (one item
/// per order, told apart by `adapters_dynamo::keys`), with consistent reads.
///
/// # Panics
/// When DynamoDB Local refuses the scan.
pub async fn stored_order_ids(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .projection_expression(adapters_dynamo::keys::KEY_ATTRIBUTES.join(", "))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "scan of {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            });
        ids.extend(
            page.items()
                .iter()
                .filter_map(adapters_dynamo::keys::order_id_of),
        );
        start = page.last_evaluated_key;
        if start.is_none() {
            return ids;
        }
    }
}

/// Reads every order back (50 at a time) until each is `confirmed` or
/// `deadline` passes; returns each order's last status, in `ids` order.
pub async fn statuses_once_settled(
    client: &reqwest::Client,
    base: &str,
    ids: &[String],
    want: &str,
    deadline: Duration,
) -> Vec<String> {
    let started = Instant::now();
    loop {
        let ids_now: Vec<String> = ids.to_vec();
        let client = client.clone();
        let base = base.to_owned();
        let statuses = bounded(ids_now.len(), 50, move |i| {
            let client = client.clone();
            let base = base.clone();
            let id = ids_now[i].clone();
            async move {
                let answer = get_order(&client, &base, &id).await;
                match answer.status {
                    200 => answer.json()["status"].as_str().unwrap_or("?").to_owned(),
                    other => format!("HTTP {other}"),
                }
            }
        })
        .await;
        if statuses.iter().all(|s| s == want) || started.elapsed() > deadline {
            return statuses;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many of each status.
pub fn histogram(statuses: impl IntoIterator<Item = u16>) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_default() += 1;
    }
    counts
}

/// Figures at the percentiles of `samples`, in milliseconds.
pub fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted: Vec<Duration> = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Texts a 5xx body must not carry: SDK error text, store and table
/// words, stack traces.
pub const INTERNAL_WORDS: [&str; 12] = [
    "dynamodb",
    "DynamoDB",
    "dispatch failure",
    "SdkError",
    "timeout",
    "TimeoutError",
    "ConnectorError",
    "aws-sdk",
    "panicked",
    "backtrace",
    "src/",
    ".rs:",
];

/// Whether a response body reveals anything of the inside: the words
/// above, or the table's name.
pub fn leaks(body: &str, table: &str) -> Option<String> {
    INTERNAL_WORDS
        .iter()
        .copied()
        .chain(std::iter::once(table))
        .find(|word| body.contains(word))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_answers_must_beat_is_fn_apis_in_the_template() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        let template = toolkit::template::Template::load(&path).expect("infra/template.yaml");
        let timeout = template
            .resources_raw()
            .into_iter()
            .find(|(id, _)| *id == "ApiFunction")
            .and_then(|(_, resource)| resource["Properties"]["Timeout"].as_u64());
        assert_eq!(timeout, Some(FUNCTION_TIMEOUT.as_secs()));
    }

    #[test]
    fn a_body_leaks_internal_words_or_the_table_name() {
        let problem = r#"{"type":"urn:orders:problem:unavailable","status":503,"requestId":"r1"}"#;
        assert_eq!(leaks(problem, "faults-store-01abc"), None);
        assert_eq!(
            leaks("dispatch failure: io error", "t").as_deref(),
            Some("dispatch failure")
        );
        assert_eq!(
            leaks("no such table faults-store-01abc", "faults-store-01abc").as_deref(),
            Some("faults-store-01abc")
        );
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((percentile_ms(&samples, 50.0) - 51.0).abs() < 1e-9);
        assert!((percentile_ms(&samples, 100.0) - 100.0).abs() < 1e-9);
        assert!(percentile_ms(&[], 99.0).abs() < 1e-9);
    }
}
