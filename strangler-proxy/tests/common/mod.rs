//! Real loopback upstreams and a client for the proxy's end-to-end tests.

#![allow(dead_code)] // Each test binary uses a different part.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use strangler_proxy::{ProxyConfig, ProxyHandle};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A request an upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// A small HTTP server that answers `<name> <METHOD> <path>`, 500 on paths
/// containing `boom` (unless it is the monolith), and 503 on `/health`
/// while unhealthy.
#[derive(Clone)]
pub struct Backend {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub healthy: Arc<AtomicBool>,
}

impl Backend {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn seen_path(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

pub async fn backend(name: &'static str) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = Backend {
        addr: listener.local_addr().unwrap(),
        seen: Arc::default(),
        healthy: Arc::new(AtomicBool::new(true)),
    };
    let b = backend.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let b = b.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(name, b.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    backend
}

async fn answer(
    name: &'static str,
    b: Backend,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let status = if path.contains("boom") && name != "monolith" {
        500
    } else if path == "/health" && !b.healthy.load(Ordering::SeqCst) {
        503
    } else {
        200
    };
    if path != "/health" && path != "/" {
        b.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            path: path.clone(),
            headers: parts.headers,
            body,
        });
    }
    let text = format!("{name} {} {path}", parts.method);
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(text)))
        .unwrap())
}

/// An upstream whose `n`th answer (counting from 1, over every
/// connection) is `answer(n)`: status, content type (none when empty) and
/// body. Returns its address and the count of requests it has answered.
pub async fn serve(
    answer: impl Fn(u64) -> (u16, &'static str, Bytes) + Send + Sync + 'static,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let answer = Arc::new(answer);
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (answer, seen) = (answer.clone(), seen.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<Incoming>| {
                    let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                    let (status, content_type, body) = answer(n);
                    async move {
                        let mut response = Response::builder().status(status);
                        if !content_type.is_empty() {
                            response = response.header("content-type", content_type);
                        }
                        Ok::<_, Infallible>(response.body(Full::new(body)).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, count)
}

/// A server that reads a request and resets the connection.
pub async fn resetter() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                #[allow(deprecated)] // A reset is the point; blocking on drop is fine here.
                let _ = stream.set_linger(Some(Duration::ZERO));
                drop(stream);
            });
        }
    });
    addr
}

/// A server that accepts connections and never answers on them (it keeps
/// them open); returns its address and the number of connections accepted.
pub async fn silent() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            open.push(stream);
        }
    });
    (addr, accepted)
}

/// A port nothing listens on, for a proxy to listen on or as a dead
/// upstream. It comes from below the kernel's ephemeral range (32768 and
/// up), so no in-test server bound to port 0 and no outgoing connection can
/// take it before the proxy binds it (a port picked by binding port 0 and
/// letting go could be handed to such a server meanwhile, and then clients
/// reached the wrong server), and it is never handed out twice in one
/// process.
pub fn closed_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Test binaries that run side by side start at different places.
    let base = (std::process::id() % 400) as u16 * 30;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = 20_000 + (base + n) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn free_addr() -> String {
    format!("127.0.0.1:{}", closed_port())
}

pub struct Running {
    pub handle: Option<ProxyHandle>,
    pub addr: String,
    pub admin: String,
    pub plan: PathBuf,
    pub _dir: Option<tempfile::TempDir>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }
}

pub fn write_plan(dir: &Path, monolith: &str, services: &str) -> PathBuf {
    let path = dir.join("strangler.toml");
    std::fs::write(
        &path,
        format!(
            "# test plan\nversion = 1\n\n[monolith]\nname = \"shop\"\nupstream = \"{monolith}\"\n\n{services}"
        ),
    )
    .unwrap();
    path
}

/// Starts a proxy on free ports; `tweak` adjusts the config.
pub async fn proxy(plan: PathBuf, tweak: impl FnOnce(&mut ProxyConfig)) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut config = ProxyConfig::new(&plan);
    config.listen = free_addr();
    config.admin = Some(free_addr());
    config.threads = 2;
    // Many servers in one process need pingora's stealing runtime; see
    // `ProxyConfig::work_stealing`. The benchmark runs the default.
    config.work_stealing = true;
    config.signals = false;
    config.health.interval = Duration::ZERO;
    config.grace_period = Duration::ZERO;
    config.graceful_shutdown_timeout = Duration::from_secs(1);
    tweak(&mut config);
    let addr = config.listen.clone();
    let admin = config.admin.clone().unwrap_or_default();
    let handle = tokio::task::spawn_blocking(move || strangler_proxy::start(config))
        .await
        .unwrap()
        .unwrap();
    Running {
        handle: Some(handle),
        addr,
        admin,
        plan,
        _dir: None,
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn target(&self) -> &str {
        self.headers
            .get("x-strangler-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = client
        .request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e:?}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(client: &HttpClient, url: &str) -> Answer {
    send(client, "GET", url, &[], "").await
}

/// Polls `f` until it returns true, for up to five seconds.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `GET /routes` on the admin address, polled until `ok` holds (counters
/// are updated in pingora's `logging` phase, just after the client has its
/// answer); returns the last table either way.
pub async fn routes_when(
    client: &HttpClient,
    running: &Running,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let last =
            serde_json::from_str(&get(client, &running.admin_url("/routes")).await.body).unwrap();
        if ok(&last) || std::time::Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `GET /metrics` on the admin address, polled until `ok` holds (shadow
/// outcomes are counted after the service answered the copy); returns the
/// last text either way.
pub async fn metrics_when(
    client: &HttpClient,
    running: &Running,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let last = get(client, &running.admin_url("/metrics")).await.body;
        if ok(&last) || std::time::Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The value of the counter sample `name{labels}` in Prometheus text, 0 if
/// absent.
pub fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().unwrap())
}
