//! Live counters of a running sync, and a minimal Prometheus endpoint.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::error::{Context as _, Error};

/// Counters one sync updates as it runs.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The service this sync feeds.
    pub service: String,
    /// The highest LSN applied (committed) on the target.
    pub applied_lsn: AtomicU64,
    /// The highest LSN received from the monolith.
    pub received_lsn: AtomicU64,
    /// Rows applied by the stream.
    pub rows_applied: AtomicU64,
    /// Source transactions applied.
    pub transactions: AtomicU64,
    /// Errors (failed tables, lost connections).
    pub errors: AtomicU64,
    /// The source commit time of the last applied transaction, in
    /// microseconds since 2000-01-01 (PostgreSQL's epoch).
    pub last_commit_time: AtomicI64,
}

impl Metrics {
    /// New counters for `service`.
    #[must_use]
    pub fn new(service: &str) -> Metrics {
        Metrics {
            service: service.to_owned(),
            ..Metrics::default()
        }
    }

    /// Seconds between the last applied transaction's commit on the monolith
    /// and now, when the stream is behind; 0 when everything received is applied.
    #[must_use]
    pub fn lag_seconds(&self) -> f64 {
        let applied = self.applied_lsn.load(Ordering::Relaxed);
        let received = self.received_lsn.load(Ordering::Relaxed);
        let commit = self.last_commit_time.load(Ordering::Relaxed);
        if received <= applied || commit == 0 {
            return 0.0;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64)
            - 946_684_800_000_000;
        ((now - commit).max(0) as f64) / 1e6
    }

    /// The counters in Prometheus' text format.
    #[must_use]
    pub fn render(&self) -> String {
        let s = &self.service;
        let applied = self.applied_lsn.load(Ordering::Relaxed);
        let received = self.received_lsn.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{service=\"{s}\"}} {value}");
        };
        metric(
            "strangler_sync_applied_lsn",
            "gauge",
            "Highest monolith WAL position committed on the service's database.",
            applied.to_string(),
        );
        metric(
            "strangler_sync_lag_bytes",
            "gauge",
            "WAL received from the monolith but not yet applied.",
            received.saturating_sub(applied).to_string(),
        );
        metric(
            "strangler_sync_lag_seconds",
            "gauge",
            "Age of the last applied transaction while behind.",
            format!("{:.3}", self.lag_seconds()),
        );
        metric(
            "strangler_sync_rows_applied_total",
            "counter",
            "Rows applied from the change stream.",
            self.rows_applied.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "strangler_sync_transactions_total",
            "counter",
            "Monolith transactions applied.",
            self.transactions.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "strangler_sync_errors_total",
            "counter",
            "Errors: failed tables and lost connections.",
            self.errors.load(Ordering::Relaxed).to_string(),
        );
        out
    }
}

/// The counters of every running service; services added to the plan while
/// running join the set.
pub type MetricsSet = std::sync::Arc<std::sync::RwLock<Vec<std::sync::Arc<Metrics>>>>;

/// Serves `GET /metrics` (any path, really) for the given counters until
/// the task is dropped.
pub async fn serve(addr: &str, metrics: MetricsSet) -> Result<(), Error> {
    let listener = TcpListener::bind(addr)
        .await
        .ctx(|| format!("listening for metrics on {addr}"))?;
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let body: String = metrics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|m| m.render())
            .collect();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}
