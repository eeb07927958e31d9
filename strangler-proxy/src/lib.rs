//! The reverse proxy behind `strangler proxy`: it moves HTTP endpoints from
//! the monolith to extracted services by the plan's route stages, on
//! pingora.
//!
//! ```no_run
//! let config = strangler_proxy::ProxyConfig::new("strangler.toml");
//! strangler_proxy::run(config)?; // serves until SIGTERM or SIGINT
//! # Ok::<(), strangler_proxy::ProxyError>(())
//! ```
//!
//! The parts, one module each, as pingora splits its own concerns:
//! - [`table`]: the route table, a pure data structure built from the plan
//!   (most specific route wins, unmatched requests go to the monolith) and
//!   the stage decision with its stable sticky canary split ([`split`]);
//! - [`proxy`]: the thin [`pingora::proxy::ProxyHttp`] implementation:
//!   fallback to the monolith, forwarding and trace headers, metrics and
//!   the JSON access log;
//! - [`shadow`]: copies of requests sent to a service without delaying the
//!   client, over pipelined connections ([`pipeline`]);
//! - [`sniff`]: HTTP/1 or h2c on plaintext connections, without pingora's
//!   wait for 24 bytes;
//! - [`upstream`]: peers and health (active checks, passive ejection);
//! - [`state`]: the live snapshot behind an `ArcSwap`, hot reload, and stage
//!   changes written back to the plan through `strangler_plan::PlanFile`;
//! - [`admin`]: the admin API (`/routes`, `/routes/stage`, `/reload`,
//!   `/healthz`, `/metrics`);
//! - [`metrics`]: Prometheus metrics through pingora's re-export.

pub mod access_log;
pub mod admin;
pub mod metrics;
pub mod pipeline;
pub mod proxy;
pub mod shadow;
pub mod sniff;
pub mod split;
pub mod state;
pub mod table;
pub mod upstream;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora::services::background::{BackgroundService, background_service};
use pingora::services::listening::Service;
use tokio::sync::{mpsc, watch};

pub use shadow::ShadowConfig;
pub use state::Shared;
pub use upstream::{HealthConfig, PeerTimeouts};

/// How to run the proxy. Build one with [`ProxyConfig::new`] and adjust the
/// fields.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // Independent switches, each documented.
pub struct ProxyConfig {
    /// The plan file.
    pub plan: PathBuf,
    /// Where clients connect (`ADDR:PORT`).
    pub listen: String,
    /// Where the admin API listens; `None` turns it off.
    pub admin: Option<String>,
    /// Serve TLS (h2 and HTTP/1.1 by ALPN) on `listen` instead of plaintext.
    pub tls: Option<TlsConfig>,
    /// Accept HTTP/2 with prior knowledge (h2c) on the plaintext listener.
    pub h2c: bool,
    /// Worker threads.
    pub threads: usize,
    /// Share work between the worker threads (one multi-threaded tokio
    /// runtime) instead of giving each its own single-threaded runtime.
    /// Off by default: without stealing was faster in benchmarks. Embedders
    /// that start more than one proxy in a process over time must turn it
    /// on: pingora 0.9 keeps the no-stealing runtimes' handles in a
    /// `thread_local::ThreadLocal`, whose slots a later thread with a reused
    /// thread id inherits, so a second server's listeners would spawn onto
    /// the first server's dead runtimes and stop at once.
    pub work_stealing: bool,
    /// Health checks and ejection.
    pub health: HealthConfig,
    /// Upstream connection timeouts.
    pub timeouts: PeerTimeouts,
    /// Shadowing limits.
    pub shadow: ShadowConfig,
    /// Add `x-strangler-target: monolith|<service>` to responses.
    pub target_header: bool,
    /// Set `Host` to the upstream's `host:port` instead of passing the
    /// client's on.
    pub rewrite_host: bool,
    /// Write a JSON line per request to this file (`-` for stdout).
    pub access_log: Option<PathBuf>,
    /// Reload when the plan file changes.
    pub watch: bool,
    /// Reload on SIGHUP, and shut down on SIGTERM (graceful), SIGINT (fast)
    /// and SIGQUIT (graceful upgrade). Off for proxies embedded in tests.
    pub signals: bool,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: u64,
    /// Largest request header accepted: the request line plus every header
    /// line (431 above). pingora itself refuses headers over 1 MiB or with
    /// more than 256 fields with 400, so limits above 1 MiB change nothing.
    pub max_header_bytes: usize,
    /// After SIGTERM, keep serving this long before closing listeners.
    pub grace_period: Duration,
    /// After the grace period, how long requests in flight may finish.
    pub graceful_shutdown_timeout: Duration,
    /// Take the listening sockets over from a running proxy through
    /// [`ProxyConfig::upgrade_sock`] (zero-downtime binary upgrade).
    pub upgrade: bool,
    /// The Unix socket the listening sockets are handed over on.
    pub upgrade_sock: PathBuf,
}

/// A certificate and key for the TLS listener (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl ProxyConfig {
    /// The defaults for `plan`: clients on `0.0.0.0:8000`, the admin API on
    /// `127.0.0.1:9900`, one worker thread per CPU, the file watched.
    #[must_use]
    pub fn new(plan: impl AsRef<Path>) -> Self {
        Self {
            plan: plan.as_ref().to_owned(),
            listen: "0.0.0.0:8000".to_owned(),
            admin: Some("127.0.0.1:9900".to_owned()),
            tls: None,
            h2c: true,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            work_stealing: false,
            health: HealthConfig::default(),
            timeouts: PeerTimeouts::default(),
            shadow: ShadowConfig::default(),
            target_header: true,
            rewrite_host: false,
            access_log: None,
            watch: true,
            signals: true,
            max_body_bytes: 64 << 20,
            max_header_bytes: 64 << 10,
            grace_period: Duration::from_secs(5),
            graceful_shutdown_timeout: Duration::from_secs(10),
            upgrade: false,
            upgrade_sock: PathBuf::from("/tmp/strangler-proxy-upgrade.sock"),
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The plan could not be read, or is invalid.
    #[error(transparent)]
    Plan(#[from] strangler_plan::PlanError),
    /// An address is not `HOST:PORT`, or cannot be listened on.
    #[error("cannot listen on {what} address `{addr}`: {reason}")]
    Address {
        /// `client` or `admin`.
        what: &'static str,
        /// The address as given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The access log could not be opened.
    #[error("cannot open access log {}: {source}", path.display())]
    AccessLog {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The Prometheus metrics could not be built.
    #[error("cannot set up metrics: {0}")]
    Metrics(String),
    /// The TLS certificate or key could not be loaded.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The proxy did not start serving.
    #[error("the proxy did not start: {0}")]
    Start(String),
}

/// Runs the proxy until a signal stops it: SIGTERM gracefully (after
/// [`ProxyConfig::grace_period`]), SIGINT at once, SIGQUIT by handing the
/// listening sockets to a new process started with
/// [`ProxyConfig::upgrade`].
pub fn run(config: ProxyConfig) -> Result<(), ProxyError> {
    let (server, _shared) = build(config)?;
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals {
            unix: true,
            manual: None,
        }),
    });
    Ok(())
}

/// A proxy running on a thread of this process, for tests and embedding;
/// [`ProxyHandle::shutdown`] stops it.
pub struct ProxyHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<Option<Stop>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How [`ProxyHandle`] stops the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Close at once.
    Fast,
    /// Stop accepting after the grace period; let requests finish.
    Graceful,
    /// Hand the listening sockets to a proxy started with `upgrade`, then
    /// finish the requests in flight.
    Upgrade,
}

impl ProxyHandle {
    /// The shared state: the live table, reload and stage changes.
    #[must_use]
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self, how: Stop) {
        let _ = self.stop.send(Some(how));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.stop.send(Some(Stop::Fast));
            let _ = thread.join();
        }
    }
}

/// Starts the proxy on a background thread and waits until it accepts
/// connections on [`ProxyConfig::listen`].
pub fn start(config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    let listen = config.listen.clone();
    let upgrade = config.upgrade;
    let (server, shared) = build(config)?;
    let (stop, rx) = watch::channel(None);
    let thread = std::thread::Builder::new()
        .name("strangler-proxy".to_owned())
        .spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(Signals {
                    unix: false,
                    manual: Some(rx),
                }),
            });
        })
        .map_err(|e| ProxyError::Start(e.to_string()))?;
    let handle = ProxyHandle {
        shared,
        stop,
        thread: Some(thread),
    };
    // An upgrading proxy serves on sockets that already accept.
    if !upgrade {
        wait_until_listening(&listen)?;
    }
    Ok(handle)
}

fn wait_until_listening(addr: &str) -> Result<(), ProxyError> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| ProxyError::Start(format!("{addr}: {e}")))?;
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    for _ in 0..500 {
        if TcpStream::connect_timeout(&target, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(ProxyError::Start(format!("nothing listens on {addr}")))
}

fn check_addr(what: &'static str, addr: &str, bind: bool) -> Result<(), ProxyError> {
    let fail = |reason: String| ProxyError::Address {
        what,
        addr: addr.to_owned(),
        reason,
    };
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| fail("expected IP:PORT, such as 127.0.0.1:8000 or [::1]:8000".to_owned()))?;
    if bind {
        TcpListener::bind(parsed).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

fn build(config: ProxyConfig) -> Result<(Server, Arc<Shared>), ProxyError> {
    let shared = Shared::new(config)?;
    let config = &shared.config;
    // An upgrading proxy takes over sockets the old one still holds.
    check_addr("client", &config.listen, !config.upgrade)?;
    if let Some(admin) = &config.admin {
        check_addr("admin", admin, !config.upgrade)?;
    }
    let conf = ServerConf {
        threads: config.threads.max(1),
        work_stealing: config.work_stealing,
        grace_period_seconds: Some(config.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.graceful_shutdown_timeout.as_secs()),
        upgrade_sock: config.upgrade_sock.display().to_string(),
        max_retries: 4,
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: config.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let mut options = HttpServerOptions::default();
    options.h2c = config.h2c;
    let mut app = pingora::proxy::http_proxy(
        &server.configuration,
        proxy::StranglerProxy::new(shared.clone()),
    );
    app.server_options = Some(options);
    let mut proxy = Service::new("strangler proxy".to_owned(), sniff::H1OrH2c::new(app));
    match &config.tls {
        Some(tls) => {
            let mut settings = pingora::listeners::tls::TlsSettings::intermediate(
                &tls.cert.display().to_string(),
                &tls.key.display().to_string(),
            )
            .map_err(|e| ProxyError::Tls(e.to_string()))?;
            settings.enable_h2();
            proxy.add_tls_with_settings(&config.listen, None, settings);
        }
        None => proxy.add_tcp(&config.listen),
    }
    server.add_service(proxy);

    if let Some(admin) = &config.admin {
        let mut service = Service::new(
            "strangler admin".to_owned(),
            admin::AdminApp::new(shared.clone()),
        );
        service.add_tcp(admin);
        server.add_service(service);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = if config.watch {
        watch_plan(&config.plan, tx)
    } else {
        None
    };
    server.add_service(background_service(
        "strangler control",
        Control {
            shared: shared.clone(),
            sighup: config.signals,
            plan_changes: std::sync::Mutex::new(Some(rx)),
            _watcher: watcher,
        },
    ));
    Ok((server, shared))
}

/// Watches the plan's directory (editors and `PlanFile::save` replace the
/// file by rename, which a watch on the file itself would miss).
fn watch_plan(plan: &Path, tx: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher as _};
    let name = plan.file_name()?.to_owned();
    let dir = match plan.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let handler = move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
            && event.paths.iter().any(|p| p.file_name() == Some(&name))
        {
            let _ = tx.send(());
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(mut watcher) => match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => Some(watcher),
            Err(e) => {
                tracing::warn!(
                    "cannot watch {}: {e}; reload with SIGHUP or POST /reload",
                    dir.display()
                );
                None
            }
        },
        Err(e) => {
            tracing::warn!("cannot watch the plan: {e}; reload with SIGHUP or POST /reload");
            None
        }
    }
}

/// The background work: health checks, ejection timeouts, reloads on file
/// changes and SIGHUP.
struct Control {
    shared: Arc<Shared>,
    sighup: bool,
    plan_changes: std::sync::Mutex<Option<mpsc::UnboundedReceiver<()>>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut changes = self.plan_changes.lock().ok().and_then(|mut c| c.take());
        let mut hangup = if self.sighup {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
        } else {
            None
        };
        let health = &self.shared.config.health;
        let mut tick = tokio::time::interval(if health.interval.is_zero() {
            Duration::from_millis(500)
        } else {
            health.interval.min(Duration::from_millis(500))
        });
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_check: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = recv(&mut changes) => {
                    // Let a burst of events (write, rename) settle.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if let Some(rx) = &mut changes {
                        while rx.try_recv().is_ok() {}
                    }
                    let _ = self.shared.reload();
                }
                Some(()) = hup(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading the plan");
                    let _ = self.shared.reload();
                }
                _ = tick.tick() => {
                    let due = !health.interval.is_zero()
                        && last_check.is_none_or(|t| t.elapsed() >= health.interval);
                    let upstreams = self.shared.upstreams();
                    if due {
                        last_check = Some(tokio::time::Instant::now());
                        let checks = upstreams
                            .iter()
                            .map(|u| u.check(&self.shared.connector, health));
                        futures_join_all(checks).await;
                    }
                    let m = self.shared.metrics;
                    for u in &upstreams {
                        u.maybe_readmit(health);
                        m.upstream_available
                            .with_label_values(&[&u.url])
                            .set(i64::from(u.is_available()));
                    }
                }
            }
        }
    }
}

async fn recv(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn hup(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the futures concurrently on this task.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    for f in set {
        f.await;
    }
}

/// Shutdown signals: Unix signals and, for embedded proxies, a channel.
struct Signals {
    unix: bool,
    manual: Option<watch::Receiver<Option<Stop>>>,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{SignalKind, signal};
        let manual = async {
            match self.manual.clone() {
                Some(mut rx) => loop {
                    if let Some(stop) = *rx.borrow_and_update() {
                        return stop;
                    }
                    if rx.changed().await.is_err() {
                        return Stop::Fast;
                    }
                },
                None => std::future::pending().await,
            }
        };
        let unix = async {
            if !self.unix {
                return std::future::pending().await;
            }
            let (Ok(mut quit), Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::quit()),
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::error!("cannot install signal handlers");
                return std::future::pending().await;
            };
            tokio::select! {
                _ = quit.recv() => Stop::Upgrade,
                _ = term.recv() => Stop::Graceful,
                _ = int.recv() => Stop::Fast,
            }
        };
        let stop = tokio::select! {
            s = manual => s,
            s = unix => s,
        };
        match stop {
            Stop::Fast => ShutdownSignal::FastShutdown,
            Stop::Graceful => ShutdownSignal::GracefulTerminate,
            Stop::Upgrade => ShutdownSignal::GracefulUpgrade,
        }
    }
}
