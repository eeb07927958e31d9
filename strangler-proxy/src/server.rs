//! Starting and stopping a proxy: the pingora server with its services
//! (the proxy, the admin API, the control loop), [`run`] for the binary
//! and [`start`] for tests and embedders, and the signals that stop it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use tokio::sync::watch;

use crate::admin::AdminApp;
use crate::config::ProxyConfig;
use crate::control::Control;
use crate::error::ProxyError;
use crate::guard::Guard;
use crate::otel::Tracer;
use crate::proxy::StranglerProxy;
use crate::sniff::{H1OrH2c, HeaderDeadline};
use crate::state::Shared;

/// Runs the proxy until a signal stops it: SIGTERM gracefully (after
/// [`ProxyConfig::grace_period`]), SIGINT at once, SIGQUIT by handing the
/// listening sockets to a new process started with
/// [`ProxyConfig::upgrade`].
pub fn run(config: ProxyConfig) -> Result<(), ProxyError> {
    let (server, tracer) = build(config)?;
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals {
            unix: true,
            manual: None,
        }),
    });
    if let Some(tracer) = tracer {
        tracer.stop();
    }
    Ok(())
}

/// A proxy running on a thread of this process, for tests and embedding;
/// [`ProxyHandle::stop`] stops it.
pub struct ProxyHandle {
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
/// connections on [`ProxyConfig::listen`] and [`ProxyConfig::admin`].
pub fn start(config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    let listen = config.listen.clone();
    let admin = config.admin.clone();
    let upgrade = config.upgrade;
    let (server, tracer) = build(config)?;
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
            if let Some(tracer) = tracer {
                tracer.stop();
            }
        })
        .map_err(|e| ProxyError::Start(e.to_string()))?;
    let handle = ProxyHandle {
        stop,
        thread: Some(thread),
    };
    // An upgrading proxy serves on sockets that already accept.
    if !upgrade {
        wait_until_listening(&listen)?;
        if let Some(admin) = &admin {
            wait_until_listening(admin)?;
        }
    }
    Ok(handle)
}

/// Waits until `addr` accepts connections, for up to about five seconds.
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

/// Checks that `addr` is `IP:PORT` and, when `bind`, that it can be
/// listened on now.
fn check_addr(what: &'static str, addr: &str, bind: bool) -> Result<SocketAddr, ProxyError> {
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
    Ok(parsed)
}

/// Loads the plan and puts the proxy, the admin API and the control loop
/// on a pingora server, ready to run, with the span exporter when tracing
/// is on (stopped after the server).
fn build(config: ProxyConfig) -> Result<(Server, Option<Arc<Tracer>>), ProxyError> {
    // Before the plan is read: an exposed admin API without a token is
    // refused first.
    let guard = match &config.admin {
        Some(admin) => Some(Guard::new(
            check_addr("admin", admin, false)?,
            config.admin_token.clone(),
            &config.admin_hosts,
        )?),
        None => None,
    };
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
    let tracer = match &config.otlp_endpoint {
        Some(endpoint) => Some(Arc::new(Tracer::start(
            endpoint,
            shared.metrics.trace_spans.clone(),
        )?)),
        None => None,
    };
    let mut app = pingora::proxy::http_proxy(
        &server.configuration,
        StranglerProxy::new(shared.clone(), tracer.clone()),
    );
    app.server_options = Some(options);
    let header = HeaderDeadline {
        timeout: config.header_timeout,
        closed: shared.metrics.header_timeouts.clone(),
    };
    let mut proxy = Service::new("strangler proxy".to_owned(), H1OrH2c::new(app, header));
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

    if let (Some(admin), Some(guard)) = (&config.admin, guard) {
        let mut service = Service::new(
            "strangler admin".to_owned(),
            AdminApp::new(shared.clone(), guard),
        );
        service.add_tcp(admin);
        server.add_service(service);
    }
    server.add_service(background_service(
        "strangler control",
        Control::new(shared.clone(), config.watch, config.signals),
    ));
    Ok((server, tracer))
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
