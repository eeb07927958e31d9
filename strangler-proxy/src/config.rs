//! How a proxy runs: [`ProxyConfig`] and the settings it is made of (TLS,
//! the admin token, health checks and ejection, upstream timeouts,
//! shadowing limits).
//!
//! Plain data with defaults and no I/O; the binary fills it from its flags,
//! tests and embedders set the fields they need.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// The bearer token the admin API requires on every request but
    /// `GET /healthz`. Required when [`ProxyConfig::admin`] is not a
    /// loopback address: without one, the proxy refuses to start.
    pub admin_token: Option<AdminToken>,
    /// Host names the admin API answers to besides its own IP and
    /// `localhost` (lowercase, without a port), such as a DNS name it is
    /// reached by. Any other `Host` gets 421 (DNS rebinding).
    pub admin_hosts: Vec<String>,
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
    /// Export a span per request to this OTLP/HTTP collector (its base URL,
    /// such as `http://127.0.0.1:4318`; spans go to `/v1/traces`, as JSON).
    /// `None` (the default) exports nothing and forwards the client's
    /// `traceparent` unchanged.
    pub otlp_endpoint: Option<String>,
    /// Reload when the plan file changes.
    pub watch: bool,
    /// Reload on SIGHUP, and shut down on SIGTERM (graceful), SIGINT (fast)
    /// and SIGQUIT (graceful upgrade). Off for proxies embedded in tests.
    pub signals: bool,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: u64,
    /// How long a client may take to send a complete request header, from
    /// its first byte (on a kept-alive connection: from the end of the
    /// previous answer, plus the 60 s keep-alive wait). A connection that
    /// has not sent one by then is closed and counted in
    /// `strangler_header_timeouts_total`. HTTP/1 only; HTTP/2 has its own
    /// flow control.
    pub header_timeout: Duration,
    /// Largest request header accepted: the request line plus every header
    /// line (431 above). pingora itself refuses headers over 1 MiB or with
    /// more than 256 fields with 400, so limits above 1 MiB change nothing.
    pub max_header_bytes: usize,
    /// Once the listeners stop accepting (at SIGTERM, or after the sockets
    /// are handed over on an upgrade), how long requests in flight and
    /// requests already on the wire get to finish. After it the runtime
    /// drops whatever is left, so it must be longer than the slowest
    /// request that should survive a stop (and at least a second: a
    /// connection accepted a moment before gets that long to send its
    /// request).
    pub grace_period: Duration,
    /// After the grace period, how long to wait for blocking work (such as
    /// a plan being written) before the process exits anyway.
    pub graceful_shutdown_timeout: Duration,
    /// Take the listening sockets over from a running proxy through
    /// [`ProxyConfig::upgrade_sock`] (zero-downtime binary upgrade).
    pub upgrade: bool,
    /// The Unix socket the listening sockets are handed over on.
    pub upgrade_sock: PathBuf,
}

/// The admin API's bearer token: 16 to 4096 characters of RFC 6750's
/// `b64token` (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding), such as the
/// output of `openssl rand -hex 32`. Its `Debug` form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Checks and wraps a token.
    pub fn new(token: impl Into<String>) -> Result<Self, crate::ProxyError> {
        let token = token.into();
        let body = token.trim_end_matches('=');
        let reason = if token.len() < 16 {
            Some("it is shorter than 16 characters")
        } else if token.len() > 4096 {
            Some("it is longer than 4096 characters")
        } else if !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        {
            Some("it may only hold A-Z a-z 0-9 - . _ ~ + / (and = at the end)")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(crate::ProxyError::AdminToken {
                reason: reason.to_owned(),
            }),
            None => Ok(Self(token)),
        }
    }

    /// The token itself.
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
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
            admin_token: None,
            admin_hosts: Vec::new(),
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
            otlp_endpoint: None,
            watch: true,
            signals: true,
            max_body_bytes: 64 << 20,
            max_header_bytes: 64 << 10,
            header_timeout: Duration::from_secs(10),
            grace_period: Duration::from_secs(5),
            graceful_shutdown_timeout: Duration::from_secs(10),
            upgrade: false,
            upgrade_sock: PathBuf::from("/tmp/strangler-proxy-upgrade.sock"),
        }
    }
}

/// How upstreams are checked and ejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// The path active checks request (`GET`); any status below 500 passes.
    pub path: String,
    /// Time between active checks; zero turns them off.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// Failed checks in a row that mark an upstream down.
    pub unhealthy_after: u32,
    /// Passed checks in a row that bring it back.
    pub healthy_after: u32,
    /// Failed requests in a row that eject an upstream (passive); 0 never.
    pub eject_after: u32,
    /// How long an ejection lasts before the upstream is tried again.
    pub ejection: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            path: "/".to_owned(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            unhealthy_after: 2,
            healthy_after: 1,
            eject_after: 5,
            ejection: Duration::from_secs(30),
        }
    }
}

/// Timeouts of connections to upstreams. A service that misses one is
/// answered for by the monolith where the fallback rules allow (a connect
/// timeout for any method, a later one for idempotent methods only);
/// otherwise the client gets `504 Gateway Timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerTimeouts {
    /// Time allowed for the TCP (and TLS) connect; after it the request
    /// falls back as if refused.
    pub connect: Duration,
    /// Time allowed for the first byte of the answer after the request was
    /// sent, and then between two reads of it (pingora's per-read timeout,
    /// like nginx's `proxy_read_timeout`); `None` waits forever. Upgraded
    /// connections (WebSockets) have none, so idle sockets stay up.
    pub read: Option<Duration>,
    /// Time allowed for each write of the request to the upstream; `None`
    /// waits forever.
    pub write: Option<Duration>,
    /// Time allowed for the whole exchange, from the request's arrival to
    /// the end of the answer, checked whenever part of the answer arrives
    /// (so at worst it ends `read` later); `None` (the default) sets no
    /// limit, for long downloads and streams. Not for upgraded connections.
    pub total: Option<Duration>,
    /// How long an idle pooled connection is kept.
    pub idle: Duration,
}

impl Default for PeerTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            read: Some(Duration::from_secs(30)),
            write: Some(Duration::from_secs(30)),
            total: None,
            idle: Duration::from_secs(60),
        }
    }
}

/// Limits of shadowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowConfig {
    /// Bodies larger than this are not copied (outcome `body_too_large`).
    pub body_cap: usize,
    /// Copies in flight at most; more are dropped (outcome `dropped`).
    pub max_in_flight: usize,
    /// How long a copy may take at the service.
    pub timeout: Duration,
    /// Pipelined connections ("lanes") per plaintext service at most; more
    /// open only while a slow service holds the first ones up.
    pub connections: usize,
    /// The part of each answer's body kept for the response diff; a body
    /// cut here is compared byte for byte as far as it goes.
    pub diff_body_cap: usize,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            body_cap: 1 << 20,
            max_in_flight: 256,
            timeout: Duration::from_secs(10),
            connections: 32,
            diff_body_cap: 256 << 10,
        }
    }
}
