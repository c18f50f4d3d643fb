//! A TCP proxy on 127.0.0.1 in front of a dependency, switchable between
//! passing traffic and swallowing it: in `Hang` mode it accepts
//! connections and never answers (a host that stopped responding), and the
//! switch cuts the connections already open, so pooled connections do not
//! slip past it. It can also hold back the answer to chosen requests
//! (`delay_answers`): the request reaches the server and takes effect, its
//! answer comes too late for the client, which retries: a write whose
//! outcome the client does not know.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Pass,
    Hang,
}

/// Answers to hold back: to the next `count` requests whose bytes contain
/// `needle`, each held for `by`.
#[derive(Debug, Default)]
struct Delays {
    plan: Mutex<Option<(Vec<u8>, usize, Duration)>>,
    done: AtomicUsize,
}

impl Delays {
    /// Whether `chunk` is a request to hold the answer of, and for how long.
    fn take(&self, chunk: &[u8]) -> Option<Duration> {
        let mut plan = self
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (needle, count, by) = plan.as_mut()?;
        if *count == 0 || !chunk.windows(needle.len()).any(|w| w == needle.as_slice()) {
            return None;
        }
        *count -= 1;
        self.done.fetch_add(1, Ordering::SeqCst);
        Some(*by)
    }
}

#[derive(Debug)]
pub struct Proxy {
    address: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    delays: Arc<Delays>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy: no port: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy: no address: {e}"));
        let (mode, watching) = watch::channel(ProxyMode::Pass);
        let delays = Arc::new(Delays::default());
        let shared = delays.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(carry(client, upstream, watching.clone(), shared.clone()));
            }
        });
        Self {
            address,
            mode,
            delays,
            task,
        }
    }

    /// Holds back the answer to each of the next `count` requests whose
    /// bytes contain `needle` (an `X-Amz-Target` such as
    /// `DynamoDB_20120810.PutItem`) for `by`; the request itself passes.
    pub fn delay_answers(&self, needle: &str, count: usize, by: Duration) {
        *self
            .delays
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((needle.as_bytes().to_vec(), count, by));
    }

    /// How many answers have been held back so far.
    pub fn delayed(&self) -> usize {
        self.delays.done.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Switches the mode; open connections are cut either way.
    pub fn set(&self, mode: ProxyMode) {
        let _ = self.mode.send(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn carry(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<ProxyMode>,
    delays: Arc<Delays>,
) {
    if *mode.borrow_and_update() == ProxyMode::Hang {
        // Hold the connection unanswered until the mode changes (or a
        // minute passes), then drop it.
        let _ = tokio::time::timeout(Duration::from_secs(60), mode.changed()).await;
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        let _ = client.shutdown().await;
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    // Set when a request whose answer is to be held went up; the next
    // bytes down wait that long.
    let hold = Arc::new(Mutex::new(None::<Duration>));
    let armed = Arc::new(AtomicBool::new(false));
    let up = {
        let (hold, armed) = (hold.clone(), armed.clone());
        async move {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let read = match from_client.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                if let Some(by) = delays.take(&buffer[..read]) {
                    *hold
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(by);
                    armed.store(true, Ordering::SeqCst);
                }
                if to_server.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
            let _ = to_server.shutdown().await;
        }
    };
    let down = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match from_server.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            if armed.swap(false, Ordering::SeqCst) {
                let by = hold
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                if let Some(by) = by {
                    tokio::time::sleep(by).await;
                }
            }
            if to_client.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = mode.changed() => {}
    }
}
