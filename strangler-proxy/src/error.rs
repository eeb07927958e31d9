//! Why a proxy could not start.

use std::path::PathBuf;

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
    /// The admin API would listen beyond loopback without a token.
    #[error(
        "the admin API on `{addr}` is not on a loopback address, so it needs a token: write one \
         (such as `openssl rand -hex 32`) to a file and pass `--admin-token-file FILE`, or set \
         STRANGLER_ADMIN_TOKEN (`ProxyConfig::admin_token` when embedding); or serve it on \
         127.0.0.1"
    )]
    AdminExposed {
        /// The admin address.
        addr: String,
    },
    /// The admin token could not be read, or is not usable.
    #[error("unusable admin token: {reason}")]
    AdminToken {
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
    /// A route's gateway rules could not be set up (a key file that cannot
    /// be read, a key that does not parse).
    #[error("{0}")]
    Gateway(String),
    /// The proxy did not start serving.
    #[error("the proxy did not start: {0}")]
    Start(String),
}
