//! Helpers shared by the sync's integration tests: cluster pairs, plans,
//! a running sync in a task, waiting, and exact comparisons.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use strangler_sync::{Metrics, RunOptions, SyncSpec};
use strangler_testkit::tokio_postgres::Client;
use strangler_testkit::{ClusterConfig, PgCluster};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A monolith cluster (database `shop`) and a service cluster (`catalog`).
pub async fn pair() -> (PgCluster, PgCluster) {
    let (source, target) = tokio::join!(
        ClusterConfig::new().database("shop").start(),
        ClusterConfig::new().database("catalog").start()
    );
    (
        source.expect("start the monolith's cluster"),
        target.expect("start the service's cluster"),
    )
}

/// A plan syncing `tables` (TOML `[[service.table]]` bodies) into service `catalog`.
pub fn plan(source: &PgCluster, target: &PgCluster, tables: &str) -> strangler_plan::Plan {
    let text = format!(
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n\
         database = \"{}\"\n\n[[service]]\nname = \"catalog\"\nupstream = \"http://127.0.0.1:9001\"\n\
         database = \"{}\"\n{tables}",
        source.connection_uri(),
        target.connection_uri()
    );
    let parsed = strangler_plan::parse(&text);
    assert!(
        parsed.is_valid(),
        "test plan invalid: {:?}",
        parsed.diagnostics
    );
    parsed.plan
}

/// The one spec of a plan.
pub fn spec(plan: &strangler_plan::Plan) -> SyncSpec {
    let mut specs = strangler_sync::resolve(plan, Some("catalog")).expect("resolve");
    specs.remove(0)
}

/// A sync running in a task.
pub struct Running {
    pub stop: watch::Sender<bool>,
    pub task: JoinHandle<Result<(), strangler_sync::Error>>,
    pub metrics: Arc<Metrics>,
}

/// Starts `run` in a task.
pub fn start(spec: &SyncSpec) -> Running {
    start_with(spec, RunOptions::default())
}

/// Starts `run` with options in a task.
pub fn start_with(spec: &SyncSpec, mut options: RunOptions) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("strangler_sync=info")),
        )
        .with_test_writer()
        .try_init();
    options.max_backoff = Duration::from_secs(1);
    let (stop, rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new(&spec.service));
    let spec = spec.clone();
    let m = Arc::clone(&metrics);
    let task = tokio::spawn(async move { strangler_sync::run(&spec, &options, m, rx).await });
    Running {
        stop,
        task,
        metrics,
    }
}

impl Running {
    /// Stops cleanly and returns the run's result.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the sync stops within 30 s")
            .expect("the sync task did not panic")
            .expect("the sync ended without error");
    }

    /// Simulates a crash: the task dies at once, its sockets close without
    /// a goodbye, nothing in flight is committed.
    pub async fn crash(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Polls `sql` (one boolean) until it is true.
pub async fn wait_for(client: &Client, sql: &str, what: &str) {
    let started = Instant::now();
    loop {
        if let Ok(row) = client.query_one(sql, &[]).await
            && row.get::<_, Option<bool>>(0) == Some(true)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what} ({sql})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the target has applied everything the source has written.
pub async fn wait_caught_up(source: &Client, target: &Client, slot: &str) {
    let lsn: String = source
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .expect("source lsn")
        .get(0);
    wait_for(
        target,
        &format!("SELECT lsn >= '{lsn}'::pg_lsn FROM strangler.progress WHERE slot = '{slot}'"),
        "the target to catch up",
    )
    .await;
}

/// Rows of `sql` as text, in order, for exact comparison.
pub async fn rows(client: &Client, sql: &str) -> Vec<String> {
    client
        .query(&format!("SELECT t::text FROM ({sql}) t"), &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Count and order-independent hash of a table.
pub async fn fingerprint(client: &Client, table: &str) -> (i64, i64) {
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), coalesce(bit_xor(hashtextextended(t::text, 0)), 0) FROM {table} t"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    (row.get(0), row.get(1))
}

/// The state of a table on the target.
pub async fn table_state(target: &Client, table: &str) -> Option<String> {
    target
        .query_opt(
            "SELECT state FROM strangler.table_state WHERE table_name = $1",
            &[&table],
        )
        .await
        .expect("read state")
        .map(|r| r.get(0))
}
