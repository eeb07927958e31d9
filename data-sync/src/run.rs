//! One service's sync, as `strangler sync run` runs it for each service
//! (through [`follow`](crate::follow::follow)): preflight, the consistent
//! snapshot handoff, and the stream, with retries and resume.
//!
//! The handoff: `CREATE_REPLICATION_SLOT … EXPORT_SNAPSHOT` on a
//! replication connection that then stays idle; the copy workers import the
//! snapshot (`SET TRANSACTION SNAPSHOT`) and copy; one target transaction
//! marks the tables copied and records the slot's consistent point as the
//! applied LSN; then `START_REPLICATION` on the same connection from that
//! point. The snapshot shows exactly the transactions committed before the
//! consistent point, and the slot streams exactly those after it.
//!
//! A table that joins later (or failed) gets PostgreSQL's tablesync
//! treatment: it is added to the publication, a temporary slot exports a
//! snapshot at a later point `S`, the table is copied in it, and the main
//! stream applies its changes only from transactions committing at or
//! after `S`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_postgres::Client;

use crate::apply::{Applier, ApplyTable};
use crate::connect::connect;
use crate::copy::{CopyOptions, copy_tables};
use crate::error::{Context as _, Error};
use crate::join::{Joining, tablesync_slot};
use crate::lock::ServiceLock;
use crate::lsn::Lsn;
use crate::metrics::Metrics;
use crate::preflight::{CheckedTable, preflight_sparing_failed};
use crate::publication::ensure_publication;
use crate::repl::ReplConnection;
use crate::spec::{Direction, SyncSpec, TableSpec};
use crate::state::{self, TableState};
use crate::stream::{Item, Stream};

/// How `run` behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The snapshot copy's settings.
    pub copy: CopyOptions,
    /// The longest wait between retries after a lost connection.
    pub max_backoff: Duration,
    /// How often standby status goes to the monolith.
    pub feedback_interval: Duration,
    /// When another `strangler sync run` holds the service's lock: wait for
    /// it and take over when it stops (the default), or fail at once with
    /// [`Error::Locked`] (`--no-wait`).
    pub wait_for_lock: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            copy: CopyOptions::default(),
            max_backoff: Duration::from_secs(30),
            feedback_interval: Duration::from_secs(1),
            wait_for_lock: true,
        }
    }
}

/// Syncs one service until `shutdown` turns true (or its sender is
/// dropped): takes the service's lock (at most one sync streams a service:
/// another holder is waited for, or with `wait_for_lock` off refused with
/// [`Error::Locked`]), then preflight, copy what needs copying, then
/// stream. Lost connections are retried with exponential backoff; every
/// retry resumes from the LSN committed on the target. A first connection
/// that fails is not retried: it returns [`Error::NotConnected`].
pub async fn run(
    spec: &SyncSpec,
    options: &RunOptions,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let (_keep, specs) = watch::channel(spec.clone());
    run_watching(specs, options, metrics, shutdown).await
}

/// [`run`], following the plan: each new spec sent on `specs` (the plan
/// was edited) takes effect while running. Tables added to the service are
/// copied and joined into the stream while the others keep streaming
/// (PostgreSQL's tablesync: a temporary slot's snapshot, a catch-up from
/// it, and a handover at a transaction boundary); any other change (a table
/// removed, its mapping or a database URL changed) ends the stream at a
/// transaction boundary and starts it again from the applied LSN.
pub(crate) async fn run_watching(
    mut specs: watch::Receiver<SyncSpec>,
    options: &RunOptions,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut backoff = Duration::from_millis(250);
    let mut first = true;
    let mut connected = false;
    // The service's lock, held across retries and restarts; taken again
    // (waiting for whoever took it meanwhile) after its session was lost.
    let mut lock: Option<ServiceLock> = None;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let spec = specs.borrow_and_update().clone();
        if spec.tables.is_empty() {
            tracing::info!(service = %spec.service, "{}: no table left to stream; stopped", spec.key());
            return Ok(());
        }
        let started = Instant::now();
        let result = match lock.as_mut() {
            None => match ServiceLock::acquire(&spec, options.wait_for_lock, &mut shutdown).await {
                Ok(Some(taken)) => {
                    lock = Some(taken);
                    continue;
                }
                Ok(None) => return Ok(()),
                Err(e) => Err(e),
            },
            Some(held) => {
                let (result, lost) = attempt_holding(
                    held,
                    &spec,
                    options,
                    &metrics,
                    &mut first,
                    &mut connected,
                    &shutdown,
                    &mut specs,
                )
                .await;
                if lost {
                    lock = None;
                    metrics.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        service = %spec.service,
                        "the session holding service {}'s lock was lost; stopped streaming so \
                         that no two syncs stream it, and taking the lock again",
                        spec.service
                    );
                    continue;
                }
                result
            }
        };
        match result {
            Ok(Ended::Shutdown) => return Ok(()),
            Ok(Ended::Restart) => {
                tracing::info!(service = %spec.service, "the plan changed; restarting the stream");
            }
            Err(e) if !connected && e.is_transient() => {
                return Err(Error::NotConnected {
                    service: spec.service.clone(),
                    reason: e.to_string(),
                });
            }
            Err(e) if e.is_transient() => {
                metrics.errors.fetch_add(1, Ordering::Relaxed);
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = Duration::from_millis(250);
                }
                tracing::warn!(
                    service = %spec.service,
                    "{e}; retrying in {:.1} s",
                    backoff.as_secs_f64()
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                backoff = (backoff * 2).min(options.max_backoff);
            }
            Err(e) => {
                tracing::error!(service = %spec.service, "{e}");
                return Err(e);
            }
        }
    }
}

/// How long a stream may take to stop after its lock was lost before it is
/// dropped (connections closed, the target rolling back what it had open).
const LOST_LOCK_GRACE: Duration = Duration::from_secs(10);

/// One [`attempt`] while `lock` is held: it is stopped as by a shutdown
/// when `shutdown` turns true or when the lock's session is lost (then
/// dropped if it has not stopped within [`LOST_LOCK_GRACE`]). Returns its
/// result and whether the lock was lost.
#[allow(clippy::too_many_arguments)] // `attempt`'s, plus the lock
async fn attempt_holding(
    lock: &mut ServiceLock,
    spec: &SyncSpec,
    options: &RunOptions,
    metrics: &Arc<Metrics>,
    first: &mut bool,
    connected: &mut bool,
    shutdown: &watch::Receiver<bool>,
    specs: &mut watch::Receiver<SyncSpec>,
) -> (Result<Ended, Error>, bool) {
    let (stop_tx, mut stop) = watch::channel(*shutdown.borrow());
    let mut outer = shutdown.clone();
    let mut lost = false;
    let result = tokio::select! {
        result = attempt(spec, options, metrics, first, connected, &mut stop, specs) => result,
        () = async {
            lost = tokio::select! {
                () = stopped(&mut outer) => false,
                () = lock.lost(&spec.slot, metrics) => true,
            };
            let _ = stop_tx.send(true);
            if lost {
                tokio::time::sleep(LOST_LOCK_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => Err(Error::Other(format!(
            "the stream did not stop within {} s of losing the lock; dropped it",
            LOST_LOCK_GRACE.as_secs()
        ))),
    };
    (result, lost)
}

/// Completes once `shutdown` is true or its sender is gone.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Why a stream ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Shutdown was asked for.
    Shutdown,
    /// The plan changed in a way that needs a fresh start.
    Restart,
}

async fn attempt(
    spec: &SyncSpec,
    options: &RunOptions,
    metrics: &Arc<Metrics>,
    first: &mut bool,
    connected: &mut bool,
    shutdown: &mut watch::Receiver<bool>,
    specs: &mut watch::Receiver<SyncSpec>,
) -> Result<Ended, Error> {
    let source = connect(&spec.source, "the monolith's database").await?;
    let target = connect(
        &spec.target,
        &format!("service {}'s database", spec.service),
    )
    .await?;
    *connected = true;
    let failed: Vec<String> = if state::has_schema(&target).await? {
        state::tables(&target, &spec.service)
            .await?
            .into_iter()
            .filter(|r| r.state == TableState::Error)
            .map(|r| r.table)
            .collect()
    } else {
        Vec::new()
    };
    let checked = preflight_sparing_failed(&source, &target, spec, &failed).await?;
    state::ensure_schema(&target).await?;
    ensure_publication(&source, spec).await?;
    let (conn, start) = prepare(spec, options, metrics, &source, &target, &checked, *first).await?;
    *first = false;
    let records = state::tables(&target, &spec.service).await?;
    // What the target holds now is what the gauge says from here on (a
    // write of an earlier attempt may have rolled back).
    metrics.set_table_states(spec.tables.iter().map(|t| {
        let record = records.iter().find(|r| r.table == t.name);
        (t.name.clone(), record.map_or(TableState::Init, |r| r.state))
    }));
    let tables: Vec<ApplyTable> = checked
        .into_iter()
        .map(|c| {
            let record = records.iter().find(|r| r.table == c.spec.name);
            ApplyTable {
                snapshot_lsn: record.and_then(|r| r.snapshot_lsn).unwrap_or(start),
                failed: record.is_none_or(|r| !r.state.is_synced()),
                checked: c,
            }
        })
        .collect();
    let catch_up_to: Option<Lsn> = if records.iter().any(|r| r.state == TableState::CatchingUp) {
        let now: String = source
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .ctx(|| "reading the monolith's WAL position".to_owned())?
            .get(0);
        Some(now.parse().map_err(Error::Other)?)
    } else {
        None
    };
    drop(source);
    let fresh = conn.is_some();
    let started = async {
        let conn = match conn {
            Some(c) => c,
            None => {
                ReplConnection::connect(&spec.source, &format!("strangler-sync-{}", spec.service))
                    .await?
            }
        };
        let mut applier = Applier::new(
            target,
            Some(&spec.slot),
            &spec.service,
            tables,
            start,
            catch_up_to,
            Arc::clone(metrics),
        )
        .await?;
        if spec.direction == Direction::Reverse {
            applier.restart_on_unknown_relation();
        }
        let stream = Stream::start(
            conn,
            &spec.slot,
            &spec.publication,
            start,
            metrics,
            options.feedback_interval,
        )
        .await?;
        Ok::<_, Error>((applier, stream))
    }
    .await;
    let (applier, stream) = match started {
        Ok(started) => started,
        // `run` ends here: the slot it just created must not hold WAL. A
        // lost connection is retried from the recorded copy instead.
        Err(e) if fresh && !e.is_transient() => {
            drop_unused_slot(spec, None).await;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let signals = Signals { shutdown, specs };
    session(spec, options, stream, start, applier, metrics, signals).await
}

/// The signals a session listens to besides its stream.
struct Signals<'a> {
    shutdown: &'a mut watch::Receiver<bool>,
    specs: &'a mut watch::Receiver<SyncSpec>,
}

/// Copies what needs copying and says where the stream starts. Returns the
/// replication connection when it created the main slot (it must stay open
/// between the export and the copy).
#[allow(clippy::too_many_lines)] // the fresh and the resume paths side by side
async fn prepare(
    spec: &SyncSpec,
    options: &RunOptions,
    metrics: &Metrics,
    source: &Client,
    target: &Client,
    checked: &[CheckedTable],
    first: bool,
) -> Result<(Option<ReplConnection>, Lsn), Error> {
    let slot = source
        .query_opt(
            "SELECT active_pid, confirmed_flush_lsn::text FROM pg_replication_slots \
             WHERE slot_name = $1",
            &[&spec.slot],
        )
        .await
        .ctx(|| format!("looking for slot {}", spec.slot))?;
    if let Some(pid) = slot.as_ref().and_then(|r| r.get::<_, Option<i32>>(0)) {
        return Err(Error::Replication {
            message: format!(
                "slot {} is in use by process {pid} (another `strangler sync run`, or one that \
                 died and whose connection the monolith has not noticed yet)",
                spec.slot
            ),
            code: Some("55006".to_owned()),
        });
    }
    let progress = state::applied_lsn(target, &spec.slot).await?;
    let records = state::tables(target, &spec.service).await?;
    if spec.direction == Direction::Reverse {
        reverse_recorded(spec, progress, slot.is_some(), &records)?;
    }
    // A table in `error` that preflight left out keeps its record (and
    // its reason); only tables gone from the plan lose theirs.
    for record in &records {
        if !spec.tables.iter().any(|t| t.name == record.table) {
            state::remove_table(target, metrics, &spec.service, &record.table).await?;
        }
    }
    if let (Some(applied), Some(slot)) = (progress, slot.as_ref()) {
        let confirmed: Option<String> = slot.get(1);
        if let Some(confirmed) = confirmed {
            let confirmed: Lsn = confirmed.parse().map_err(Error::Other)?;
            if applied < confirmed {
                return Err(Error::Other(format!(
                    "the service's database has applied up to {applied}, but slot {} already \
                     confirmed {confirmed}: the changes in between are gone (was the service's \
                     database restored from a backup?); re-sync with `strangler sync teardown` \
                     and `strangler sync run`",
                    spec.slot
                )));
            }
        }
        let need: Vec<CheckedTable> = checked
            .iter()
            .filter(|c| {
                records
                    .iter()
                    .find(|r| r.table == c.spec.name)
                    .is_none_or(|r| !r.state.is_synced() && (first || r.state != TableState::Error))
            })
            .cloned()
            .collect();
        if !need.is_empty() {
            let mut conn = ReplConnection::connect(
                &spec.source,
                &format!("strangler-tablesync-{}", spec.service),
            )
            .await?;
            let created = conn.create_slot(&tablesync_slot(spec), true).await?;
            tracing::info!(
                "copying {} table(s) that joined later, as of {}",
                need.len(),
                created.consistent_point
            );
            copy_and_record(
                spec,
                options,
                metrics,
                target,
                &need,
                &created.snapshot,
                created.consistent_point,
                false,
            )
            .await?;
            drop(conn);
        }
        return Ok((None, applied));
    }
    // Fresh start: no complete copy on the target, or no slot on the source.
    if slot.is_some() {
        source
            .execute("SELECT pg_drop_replication_slot($1)", &[&spec.slot])
            .await
            .ctx(|| format!("dropping the unfinished slot {}", spec.slot))?;
    }
    state::clear_progress(target, &spec.slot).await?;
    let mut conn =
        ReplConnection::connect(&spec.source, &format!("strangler-sync-{}", spec.service)).await?;
    let created = conn.create_slot(&spec.slot, false).await?;
    tracing::info!(
        "slot {} created; copying {} table(s) as of {}",
        spec.slot,
        checked.len(),
        created.consistent_point
    );
    if let Err(e) = copy_and_record(
        spec,
        options,
        metrics,
        target,
        checked,
        &created.snapshot,
        created.consistent_point,
        true,
    )
    .await
    {
        // Without a recorded copy the slot is of no use (a retry starts
        // afresh), and left behind it would hold the monolith's WAL.
        drop_unused_slot(spec, Some(conn)).await;
        return Err(e);
    }
    Ok((Some(conn), created.consistent_point))
}

/// A reverse stream only resumes what `strangler cutover` started (it
/// created the slot and recorded every table as streaming, the sides being
/// equal): it never copies, since a copy would overwrite the monolith's
/// tables.
fn reverse_recorded(
    spec: &SyncSpec,
    progress: Option<Lsn>,
    slot: bool,
    records: &[state::TableRecord],
) -> Result<(), Error> {
    let missing: Vec<&str> = spec
        .tables
        .iter()
        .filter(|t| {
            !records
                .iter()
                .any(|r| r.table == t.name && r.state.is_synced())
        })
        .map(|t| t.name.as_str())
        .collect();
    if progress.is_none() || !slot || !missing.is_empty() {
        let tables = if missing.is_empty() {
            spec.tables
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
        } else {
            missing
        };
        return Err(Error::Other(format!(
            "the reverse sync of service {} has no recorded start for {} (slot {} on the \
             service's database, progress on the monolith's); only `strangler cutover` starts a \
             reverse sync: run `strangler cutover --service {} --table …` again to finish or undo it",
            spec.service,
            tables.join(", "),
            spec.slot,
            spec.service
        )));
    }
    Ok(())
}

/// Drops the service's slot after a run that created it failed before
/// streaming from it, so that it retains no WAL on the monolith: on `conn`
/// while it is open, else on a new replication connection (`WAIT`ing for
/// the old walsender to let go). A failure is logged with the manual fix.
async fn drop_unused_slot(spec: &SyncSpec, conn: Option<ReplConnection>) {
    let sql = format!(
        "DROP_REPLICATION_SLOT {}",
        crate::spec::quote_ident(&spec.slot)
    );
    if let Some(mut conn) = conn
        && conn.simple_query(&sql).await.is_ok()
    {
        tracing::info!(service = %spec.service, "dropped slot {}: the run failed before streaming", spec.slot);
        return;
    }
    let again = async {
        let mut conn =
            ReplConnection::connect(&spec.source, &format!("strangler-sync-{}", spec.service))
                .await?;
        conn.simple_query(&format!("{sql} WAIT")).await
    };
    match tokio::time::timeout(Duration::from_secs(10), again).await {
        Ok(Ok(_)) => tracing::info!(
            service = %spec.service,
            "dropped slot {}: the run failed before streaming",
            spec.slot
        ),
        Ok(Err(e)) => tracing::warn!(
            service = %spec.service,
            "could not drop slot {} after the failed run ({e}); it retains WAL on the monolith \
             until `strangler sync run` starts again or it is dropped with \
             `SELECT pg_drop_replication_slot('{}');`",
            spec.slot,
            spec.slot
        ),
        Err(_) => tracing::warn!(
            service = %spec.service,
            "slot {} is still in use 10 s after the failed run; it retains WAL on the monolith \
             until `strangler sync run` starts again or it is dropped with \
             `SELECT pg_drop_replication_slot('{}');`",
            spec.slot,
            spec.slot
        ),
    }
}

/// Copies `tables` in `snapshot` and, in one target transaction, marks them
/// `catching_up` from `point` (and, for the first copy, records `point` as
/// the applied LSN).
#[allow(clippy::too_many_arguments)] // what to copy, where, and what to record
async fn copy_and_record(
    spec: &SyncSpec,
    options: &RunOptions,
    metrics: &Metrics,
    target: &Client,
    tables: &[CheckedTable],
    snapshot: &str,
    point: Lsn,
    set_progress: bool,
) -> Result<(), Error> {
    let names: Vec<&str> = tables.iter().map(|t| t.spec.name.as_str()).collect();
    state::mark_copying(target, metrics, &spec.service, &names).await?;
    let rows = copy_tables(&spec.source, &spec.target, snapshot, tables, &options.copy).await?;
    target
        .batch_execute("BEGIN")
        .await
        .ctx(|| "recording the copy".to_owned())?;
    for (t, rows) in tables.iter().zip(rows) {
        state::set_table(
            target,
            metrics,
            &spec.service,
            &t.spec.name,
            TableState::CatchingUp,
            Some(i64::try_from(rows).unwrap_or(i64::MAX)),
            Some(point),
            None,
        )
        .await?;
    }
    if set_progress {
        state::set_applied_lsn(target, &spec.slot, point, None).await?;
    }
    target
        .batch_execute("COMMIT")
        .await
        .ctx(|| "recording the copy".to_owned())?;
    Ok(())
}

/// Applies `stream` (started at `start`) until shutdown, a plan change that
/// needs a restart, or an error.
async fn session(
    spec: &SyncSpec,
    options: &RunOptions,
    mut stream: Stream,
    start: Lsn,
    mut applier: Applier,
    metrics: &Arc<Metrics>,
    mut signals: Signals<'_>,
) -> Result<Ended, Error> {
    tracing::info!(service = %spec.service, "streaming from {start}");
    let mut current = spec.clone();
    let mut joining = None;
    let result = apply_loop(
        &mut applier,
        &mut stream.rx,
        &mut signals,
        &mut current,
        &mut joining,
        options,
        metrics,
    )
    .await;
    // Dropping a join in progress stops it.
    drop(joining);
    let result = match result {
        Ok(ended) => {
            if applier.in_source_txn() {
                applier.rollback().await.map(|()| ended)
            } else {
                applier.commit().await.map(|()| ended)
            }
        }
        Err(Error::TableFailed { table, message }) => {
            let _ = applier.rollback().await;
            tracing::error!("table {table} stopped: {message}");
            state::set_table(
                applier.client(),
                metrics,
                &spec.service,
                &table,
                TableState::Error,
                None,
                None,
                Some(&message),
            )
            .await?;
            Err(Error::TableFailed { table, message })
        }
        Err(e) => Err(e),
    };
    let (feedback, reader_error) = stream.finish().await;
    match result {
        Err(Error::Other(ref m)) if m == "stream ended" => {
            Err(reader_error.unwrap_or_else(|| Error::Replication {
                message: "the replication stream ended".to_owned(),
                code: None,
            }))
        }
        Err(e) => Err(e),
        Ok(ended) => feedback.map(|()| ended),
    }
}

/// What a plan change asks of a running session.
enum Change {
    /// Nothing that concerns this service.
    None,
    /// Only new tables: join them while streaming.
    Join(Vec<TableSpec>),
    /// Only tables gone from the plan (by name): drop them from the
    /// publication at a transaction boundary, the others streaming on.
    Leave(Vec<String>),
    /// Anything else (a table remapped, a URL changed, tables both added
    /// and removed): stop at a transaction boundary and start again.
    Restart,
}

fn change(current: &SyncSpec, new: &SyncSpec) -> Change {
    if new.source != current.source
        || new.target != current.target
        || new.slot != current.slot
        || new.publication != current.publication
    {
        return Change::Restart;
    }
    let mut left = Vec::new();
    for t in &current.tables {
        match new.tables.iter().find(|n| n.name == t.name) {
            Some(n) if n == t => {}
            Some(_) => return Change::Restart,
            None => left.push(t.name.clone()),
        }
    }
    let added: Vec<_> = new
        .tables
        .iter()
        .filter(|t| !current.tables.iter().any(|c| c.name == t.name))
        .cloned()
        .collect();
    match (left.is_empty(), added.is_empty()) {
        (true, true) => Change::None,
        (true, false) => Change::Join(added),
        (false, true) => Change::Leave(left),
        (false, false) => Change::Restart,
    }
}

/// Takes tables that left the plan out of a running forward stream, at a
/// transaction boundary: out of the publication (so the monolith's later
/// transactions no longer carry them), out of the applier (changes of
/// theirs still in the stream are skipped), and their progress rows
/// forgotten (a table that comes back is copied afresh). The service's
/// copies stay as they are, no longer fed.
async fn leave(
    applier: &mut Applier,
    current: &mut SyncSpec,
    new: &SyncSpec,
    left: &[String],
    metrics: &Metrics,
) -> Result<(), Error> {
    applier.commit().await?;
    let source = connect(&new.source, "the monolith's database").await?;
    let mut kept = current.clone();
    kept.tables.retain(|t| !left.contains(&t.name));
    ensure_publication(&source, &kept).await?;
    applier.remove_tables(left).await?;
    for name in left {
        state::remove_table(applier.client(), metrics, &current.service, name).await?;
    }
    *current = kept;
    tracing::info!(
        service = %current.service,
        "{} left the plan: dropped from publication {} at {}; the other tables stream on, and          the service's copy stays as it is, no longer fed",
        left.join(", "),
        current.publication,
        applier.committed()
    );
    Ok(())
}

#[allow(clippy::too_many_lines)] // the stream, the timer, shutdown, plan changes and joins
async fn apply_loop(
    applier: &mut Applier,
    rx: &mut mpsc::Receiver<Item>,
    signals: &mut Signals<'_>,
    current: &mut SyncSpec,
    joining: &mut Option<Joining>,
    options: &RunOptions,
    metrics: &Arc<Metrics>,
) -> Result<Ended, Error> {
    let mut specs_open = true;
    let mut spec_dirty = false;
    loop {
        if *signals.shutdown.borrow() {
            return Ok(Ended::Shutdown);
        }
        // A joining table's catch-up reached the stream: hand over at this
        // transaction boundary.
        if let Some(j) = joining.as_mut()
            && j.ready
            && !applier.in_source_txn()
        {
            applier.commit().await?;
            let at = applier.committed();
            let done = tokio::select! {
                done = j.hand_over(at) => done,
                _ = signals.shutdown.changed() => return Ok(Ended::Shutdown),
            };
            let names = j.names.join(", ");
            *joining = None;
            match done {
                Ok(tables) => {
                    for t in &tables {
                        current.tables.push(t.checked.spec.clone());
                    }
                    applier.add_tables(tables).await?;
                    tracing::info!(
                        service = %current.service,
                        "{names} joined the stream at {at}"
                    );
                }
                Err(e) => {
                    metrics.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(service = %current.service, "{names} not joined: {e}");
                }
            }
            continue;
        }
        if spec_dirty && joining.is_none() {
            spec_dirty = false;
            let new = signals.specs.borrow_and_update().clone();
            match change(current, &new) {
                Change::None => {}
                Change::Restart => return Ok(Ended::Restart),
                // A reverse stream never copies: a table `strangler
                // cutover` added was recorded as streaming, and a restart
                // resumes it; its tables leave through rollback and
                // decommission, which restart it too.
                Change::Join(_) | Change::Leave(_) if new.direction == Direction::Reverse => {
                    return Ok(Ended::Restart);
                }
                // Wait for the transaction in progress to end.
                Change::Leave(_) if applier.in_source_txn() => spec_dirty = true,
                Change::Leave(left) => {
                    leave(applier, current, &new, &left, metrics).await?;
                    if current.tables.is_empty() {
                        return Ok(Ended::Restart);
                    }
                    continue;
                }
                Change::Join(added) => {
                    *joining = Some(Joining::start(
                        &new,
                        added,
                        options.copy.clone(),
                        options.feedback_interval,
                        Arc::clone(metrics),
                    ));
                }
            }
        }
        tokio::select! {
            biased;
            () = applier.commit_due() => applier.commit().await?,
            changed = signals.shutdown.changed() => {
                if changed.is_err() || *signals.shutdown.borrow() {
                    return Ok(Ended::Shutdown);
                }
            }
            changed = signals.specs.changed(), if specs_open => {
                if changed.is_err() {
                    specs_open = false;
                } else {
                    spec_dirty = true;
                }
            }
            event = async {
                match joining.as_mut() {
                    Some(j) if !j.ready => j.next_event().await,
                    _ => std::future::pending().await,
                }
            } => {
                if let Err(e) = event {
                    let names = joining.as_ref().map(|j| j.names.join(", ")).unwrap_or_default();
                    metrics.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(service = %current.service, "{names} not joined: {e}");
                    *joining = None;
                }
            }
            item = rx.recv() => match item {
                Some(Item::Message(message)) => {
                    let more = !rx.is_empty();
                    applier.handle(*message, more).await?;
                }
                Some(Item::Keepalive(lsn)) => applier.keepalive(lsn).await?,
                None => return Err(Error::Other("stream ended".to_owned())),
            },
        }
    }
}
