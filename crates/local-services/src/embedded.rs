//! DynamoDB in this process: `dynoxide` (a DynamoDB emulator on SQLite)
//! serving the DynamoDB and DynamoDB Streams JSON APIs on a loopback port
//! it picks, from a thread and runtime of its own, so it answers whatever
//! the caller's runtime is doing and starts in milliseconds, with no Java
//! and no Docker.
//!
//! The data lives in memory (gone when the value is dropped) or in an
//! SQLite file, which survives restarts: the local cloud keeps its tables
//! under `target/` that way.
//!
//! Invariant: dropping the value stops the server and releases the file;
//! the thread is joined, so a new server may open the same file at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory: gone when the server stops.
    Memory,
    /// An SQLite file (created with its folder when missing).
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot create {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the DynamoDB database {what}: {source}")]
    Open {
        what: String,
        source: dynoxide::DynoxideError,
    },
    #[error("cannot listen on 127.0.0.1 for the embedded DynamoDB: {0}")]
    Listen(std::io::Error),
    #[error("cannot start the embedded DynamoDB's thread: {0}")]
    Thread(std::io::Error),
    #[error("the embedded DynamoDB stopped before it answered")]
    Stopped,
}

/// A running embedded DynamoDB.
#[derive(Debug)]
pub struct EmbeddedDynamoDb {
    endpoint: String,
    storage: Storage,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    started_in: Duration,
}

impl EmbeddedDynamoDb {
    /// Opens `storage` and serves it on a free loopback port. Blocks until
    /// the port is bound (a client may connect as soon as this returns).
    pub fn start(storage: Storage) -> Result<Self, EmbeddedError> {
        let began = Instant::now();
        let database = open(&storage)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(EmbeddedError::Listen)?;
        listener
            .set_nonblocking(true)
            .map_err(EmbeddedError::Listen)?;
        let address = listener.local_addr().map_err(EmbeddedError::Listen)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel::<Result<(), EmbeddedError>>();
        let thread = std::thread::Builder::new()
            .name("embedded-dynamodb".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(EmbeddedError::Thread(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready.send(Err(EmbeddedError::Listen(e)));
                            return;
                        }
                    };
                    let _ = ready.send(Ok(()));
                    let served =
                        dynoxide::server::serve_with_shutdown(listener, database, async move {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing_free_log(&format!("embedded DynamoDB: {e}"));
                    }
                });
            })
            .map_err(EmbeddedError::Thread)?;
        is_ready.recv().map_err(|_| EmbeddedError::Stopped)??;
        Ok(Self {
            endpoint: format!("http://{address}"),
            storage,
            stop: Some(stop),
            thread: Some(thread),
            started_in: began.elapsed(),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// From the call of [`Self::start`] to a bound port.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }
}

impl Drop for EmbeddedDynamoDb {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open(storage: &Storage) -> Result<dynoxide::Database, EmbeddedError> {
    match storage {
        Storage::Memory => dynoxide::Database::memory().map_err(|source| EmbeddedError::Open {
            what: "in memory".to_owned(),
            source,
        }),
        Storage::File(path) => {
            if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder).map_err(|source| EmbeddedError::Folder {
                    path: folder.to_owned(),
                    source,
                })?;
            }
            dynoxide::Database::new(&path_text(path)).map_err(|source| EmbeddedError::Open {
                what: path.display().to_string(),
                source,
            })
        }
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A server error after start has no caller to return to: it goes to
/// standard error, where the local cloud's own log goes.
#[allow(clippy::print_stderr)]
fn tracing_free_log(line: &str) {
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("local", "local", None, None, "test"))
                .endpoint_url(endpoint)
                .build(),
        )
    }

    async fn make_table(client: &aws_sdk_dynamodb::Client, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("ID")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("ID")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .send()
            .await
            .expect("create table");
    }

    #[tokio::test]
    async fn a_file_database_keeps_its_tables_across_a_restart() {
        let dir = std::env::temp_dir().join(format!("embedded-ddb-{}", std::process::id()));
        let path = dir.join("tables.sqlite");
        let _ = std::fs::remove_dir_all(&dir);
        let first = EmbeddedDynamoDb::start(Storage::File(path.clone())).expect("start");
        make_table(&client(first.endpoint()), "Kept").await;
        drop(first);
        let second = EmbeddedDynamoDb::start(Storage::File(path)).expect("restart");
        let tables = client(second.endpoint())
            .list_tables()
            .send()
            .await
            .expect("list");
        assert_eq!(tables.table_names(), ["Kept".to_owned()]);
        drop(second);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_memory_database_starts_empty_each_time() {
        let first = EmbeddedDynamoDb::start(Storage::Memory).expect("start");
        make_table(&client(first.endpoint()), "Gone").await;
        drop(first);
        let second = EmbeddedDynamoDb::start(Storage::Memory).expect("start");
        let tables = client(second.endpoint())
            .list_tables()
            .send()
            .await
            .expect("list");
        assert!(tables.table_names().is_empty());
    }
}
