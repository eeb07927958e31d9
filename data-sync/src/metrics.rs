//! Live counters of a running sync, and a minimal Prometheus endpoint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::error::{Context as _, Error};
use crate::state::TableState;

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
    /// WAL the service's replication slot retains on the monolith
    /// (`pg_current_wal_lsn() - restart_lsn`), in bytes, as last sampled
    /// on the lock's session (every heartbeat); 0 before the first sample
    /// and while the slot does not exist.
    pub wal_retained_bytes: AtomicU64,
    /// Each table's state as last written to `strangler.table_state`
    /// (`state.rs` updates it with every write).
    tables: Mutex<BTreeMap<String, TableState>>,
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

    /// Records `table`'s new state.
    pub(crate) fn set_table_state(&self, table: &str, state: TableState) {
        self.lock_tables().insert(table.to_owned(), state);
    }

    /// Forgets a table that left the plan.
    pub(crate) fn forget_table(&self, table: &str) {
        self.lock_tables().remove(table);
    }

    /// Replaces every table's state (as read from the target at the start
    /// of a stream).
    pub(crate) fn set_table_states(&self, states: impl IntoIterator<Item = (String, TableState)>) {
        *self.lock_tables() = states.into_iter().collect();
    }

    /// How many tables are in `state`.
    #[must_use]
    pub fn tables_in(&self, state: TableState) -> usize {
        self.lock_tables().values().filter(|s| **s == state).count()
    }

    fn lock_tables(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TableState>> {
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counters in Prometheus' text format.
    #[must_use]
    pub fn render(&self) -> String {
        render_families(vec![self.families()])
    }

    /// The counters as metric families, each with this service's samples.
    fn families(&self) -> Vec<Family> {
        let s = &self.service;
        let applied = self.applied_lsn.load(Ordering::Relaxed);
        let received = self.received_lsn.load(Ordering::Relaxed);
        let one =
            |name: &'static str, kind: &'static str, help: &'static str, value: String| Family {
                name,
                kind,
                help,
                samples: vec![format!("{name}{{service=\"{s}\"}} {value}")],
            };
        let tables = "strangler_sync_tables";
        vec![
            one(
                "strangler_sync_applied_lsn",
                "gauge",
                "Highest monolith WAL position committed on the service's database.",
                applied.to_string(),
            ),
            one(
                "strangler_sync_lag_bytes",
                "gauge",
                "WAL received from the monolith but not yet applied.",
                received.saturating_sub(applied).to_string(),
            ),
            one(
                "strangler_sync_lag_seconds",
                "gauge",
                "Age of the last applied transaction while behind.",
                format!("{:.3}", self.lag_seconds()),
            ),
            one(
                "strangler_sync_rows_applied_total",
                "counter",
                "Rows applied from the change stream.",
                self.rows_applied.load(Ordering::Relaxed).to_string(),
            ),
            one(
                "strangler_sync_transactions_total",
                "counter",
                "Monolith transactions applied.",
                self.transactions.load(Ordering::Relaxed).to_string(),
            ),
            one(
                "strangler_sync_errors_total",
                "counter",
                "Errors: failed tables and lost connections.",
                self.errors.load(Ordering::Relaxed).to_string(),
            ),
            one(
                "strangler_sync_wal_retained_bytes",
                "gauge",
                "WAL the service's replication slot retains on the monolith.",
                self.wal_retained_bytes.load(Ordering::Relaxed).to_string(),
            ),
            // Every state has a sample (0 when no table is in it), so that
            // `strangler_sync_tables{state="error"} > 0` needs no absent().
            Family {
                name: tables,
                kind: "gauge",
                help: "Tables of the service in each state.",
                samples: TableState::ALL
                    .iter()
                    .map(|state| {
                        format!(
                            "{tables}{{service=\"{s}\",state=\"{state}\"}} {}",
                            self.tables_in(*state)
                        )
                    })
                    .collect(),
            },
        ]
    }
}

/// One metric family: its `# HELP` and `# TYPE` lines, written once, and
/// its samples.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<String>,
}

/// The families of several services (each the same families in the same
/// order) in Prometheus' text format, each family's header once and then
/// every service's samples: the format allows one `# HELP` and `# TYPE` per
/// name, and a scrape with two services must parse.
fn render_families(services: Vec<Vec<Family>>) -> String {
    let mut out = String::new();
    let mut services = services.into_iter();
    let Some(first) = services.next() else {
        return out;
    };
    let mut merged = first;
    for families in services {
        for (into, family) in merged.iter_mut().zip(families) {
            into.samples.extend(family.samples);
        }
    }
    for family in merged {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} {}",
            family.name, family.help, family.name, family.kind
        );
        for sample in family.samples {
            let _ = writeln!(out, "{sample}");
        }
    }
    out
}

/// Every running service's counters in Prometheus' text format, each metric
/// family's header once.
#[must_use]
pub(crate) fn render_all(metrics: &[std::sync::Arc<Metrics>]) -> String {
    render_families(metrics.iter().map(|m| m.families()).collect())
}

/// The counters of every running service; services added to the plan while
/// running join the set.
pub type MetricsSet = std::sync::Arc<std::sync::RwLock<Vec<std::sync::Arc<Metrics>>>>;

/// The slots of strangler's on the monolith that no stream of the plan uses,
/// as a running sync last found them.
#[derive(Debug, Default)]
pub struct Orphans {
    /// The monolith's name (the metrics' `monolith` label).
    pub monolith: String,
    slots: Mutex<Vec<crate::status::OrphanSlot>>,
}

impl Orphans {
    /// None found yet, on `monolith`.
    #[must_use]
    pub fn new(monolith: &str) -> Orphans {
        Orphans {
            monolith: monolith.to_owned(),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// Replaces what was found.
    pub(crate) fn set(&self, slots: Vec<crate::status::OrphanSlot>) {
        *self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = slots;
    }

    /// The gauges in Prometheus' text format: how many there are (always a
    /// sample, so an alert needs no `absent()`), and each one's WAL.
    #[must_use]
    pub fn render(&self) -> String {
        let slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let m = &self.monolith;
        let (count, wal) = (
            "strangler_sync_orphan_slots",
            "strangler_sync_orphan_slot_wal_bytes",
        );
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP {count} Slots of strangler's on the monolith that no stream of the plan uses.\n\
             # TYPE {count} gauge\n{count}{{monolith=\"{m}\"}} {}",
            slots.len()
        );
        let _ = writeln!(
            out,
            "# HELP {wal} WAL such a slot keeps on the monolith.\n# TYPE {wal} gauge"
        );
        for slot in slots.iter() {
            let _ = writeln!(
                out,
                "{wal}{{monolith=\"{m}\",slot=\"{}\"}} {}",
                slot.slot,
                slot.retained_wal_bytes.unwrap_or(0)
            );
        }
        out
    }
}

/// Serves `GET /metrics` (any path, really) for the given counters until
/// the task is dropped.
pub async fn serve(
    addr: &str,
    metrics: MetricsSet,
    orphans: std::sync::Arc<Orphans>,
) -> Result<(), Error> {
    let listener = TcpListener::bind(addr)
        .await
        .ctx(|| format!("listening for metrics on {addr}"))?;
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let mut body = render_all(
            &metrics
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        body.push_str(&orphans.render());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_services_share_each_family_header() {
        let (a, b) = (Metrics::new("catalog"), Metrics::new("orders"));
        let text = render_all(&[std::sync::Arc::new(a), std::sync::Arc::new(b)]);
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert_eq!(
                text.lines().filter(|l| *l == line).count(),
                1,
                "{line} twice in:\n{text}"
            );
        }
        assert!(text.contains("strangler_sync_applied_lsn{service=\"catalog\"} 0\nstrangler_sync_applied_lsn{service=\"orders\"} 0"), "{text}");
    }

    #[test]
    fn orphan_slots_have_a_count_always_and_a_wal_sample_each() {
        let orphans = Orphans::new("shop");
        assert!(
            orphans
                .render()
                .lines()
                .any(|l| l == "strangler_sync_orphan_slots{monolith=\"shop\"} 0")
        );
        orphans.set(vec![crate::status::OrphanSlot {
            slot: "strangler_search".to_owned(),
            active: false,
            retained_wal_bytes: Some(8192),
        }]);
        let text = orphans.render();
        assert!(
            text.lines()
                .any(|l| l == "strangler_sync_orphan_slots{monolith=\"shop\"} 1"),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l
                == "strangler_sync_orphan_slot_wal_bytes{monolith=\"shop\",slot=\"strangler_search\"} 8192"),
            "{text}"
        );
    }

    #[test]
    fn every_table_state_has_a_sample_and_the_counts_follow_the_writes() {
        let m = Metrics::new("catalog");
        m.wal_retained_bytes.store(4096, Ordering::Relaxed);
        m.set_table_states([
            ("a".to_owned(), TableState::Init),
            ("b".to_owned(), TableState::Init),
        ]);
        m.set_table_state("a", TableState::Copying);
        m.set_table_state("b", TableState::Copying);
        m.set_table_state("a", TableState::Streaming);
        m.set_table_state("c", TableState::Error);
        m.forget_table("c");
        let text = m.render();
        for (state, n) in [
            ("init", 0),
            ("copying", 1),
            ("catching_up", 0),
            ("streaming", 1),
            ("error", 0),
        ] {
            let line =
                format!("strangler_sync_tables{{service=\"catalog\",state=\"{state}\"}} {n}");
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(
            text.contains("# TYPE strangler_sync_tables gauge"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l == "strangler_sync_wal_retained_bytes{service=\"catalog\"} 4096"),
            "{text}"
        );
    }
}
