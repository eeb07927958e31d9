//! Tables that join while the stream runs, in the manner of PostgreSQL's
//! tablesync: the table is added to the publication, a temporary slot
//! exports a snapshot at `S`, the table is copied in it, and a catch-up
//! stream on the temporary slot applies the table's changes from `S` until
//! it reaches the main stream's position. The main stream then pauses at a
//! transaction boundary `P`, the catch-up applies the rest up to `P`, the
//! table is marked `streaming` from `P`, and the main stream applies its
//! changes from transactions committing at or after `P`. The other tables
//! keep streaming through the copy and the first catch-up; they wait only
//! for the last stretch.
//!
//! Until the handover the table stays `copying`, so a crash at any point
//! copies it afresh on the next start.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pg_walstream::LogicalReplicationMessage;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::apply::{Applier, ApplyTable};
use crate::connect::connect;
use crate::copy::{CopyOptions, copy_tables};
use crate::error::Error;
use crate::lsn::Lsn;
use crate::metrics::Metrics;
use crate::preflight::preflight;
use crate::publication::ensure_publication;
use crate::repl::ReplConnection;
use crate::spec::{SyncSpec, TableSpec};
use crate::state::{self, TableState};
use crate::stream::{Item, Stream};

/// A temporary slot's name for copying tables that join later. It is
/// unique per process, so a slot still held by the walsender of a process
/// that was just killed cannot block the next one.
pub(crate) fn tablesync_slot(spec: &SyncSpec) -> String {
    format!("{}_sync_{}", spec.slot, std::process::id())
}

/// A join in progress, as the main stream sees it.
pub(crate) struct Joining {
    /// The joining tables, as the plan names them.
    pub(crate) names: Vec<String>,
    /// The catch-up has reached the main stream: hand over at the next
    /// transaction boundary.
    pub(crate) ready: bool,
    /// The task doing the copy and the catch-up.
    task: JoinHandle<()>,
    events: mpsc::Receiver<Event>,
    at: Option<oneshot::Sender<Lsn>>,
}

impl Drop for Joining {
    /// A join whose stream ended (shutdown, a restart, an error, or the
    /// whole run dropped) stops with it; the table stays `copying` and is
    /// copied afresh on the next start.
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Event {
    Ready,
    Done(Result<Vec<ApplyTable>, Error>),
}

impl Joining {
    /// Starts joining `added` (tables of `spec` the stream does not have),
    /// copying with `copy` and sending the catch-up's standby status every
    /// `feedback_interval`. `main` is the main stream's metrics, whose
    /// applied LSN the first catch-up runs to.
    pub(crate) fn start(
        spec: &SyncSpec,
        added: Vec<TableSpec>,
        copy: CopyOptions,
        feedback_interval: Duration,
        main: Arc<Metrics>,
    ) -> Joining {
        let names: Vec<String> = added.iter().map(|t| t.name.clone()).collect();
        tracing::info!(
            service = %spec.service,
            "the plan adds {}; copying while the other tables keep streaming",
            names.join(", ")
        );
        let (events_tx, events) = mpsc::channel(2);
        let (at_tx, at_rx) = oneshot::channel();
        let spec = spec.clone();
        let task = tokio::spawn(async move {
            let options = JoinOptions {
                copy,
                feedback_interval,
            };
            let result = join(&spec, &added, &options, &main, &events_tx, at_rx).await;
            if let Err(e) = &result {
                record_failure(&spec, &added, &main, e).await;
            }
            let _ = events_tx.send(Event::Done(result)).await;
        });
        Joining {
            names,
            ready: false,
            task,
            events,
            at: Some(at_tx),
        }
    }

    /// Waits until the catch-up has reached the main stream (then `ready`
    /// is set) or the join failed.
    pub(crate) async fn next_event(&mut self) -> Result<(), Error> {
        match self.events.recv().await {
            Some(Event::Ready) => {
                self.ready = true;
                Ok(())
            }
            Some(Event::Done(Err(e))) => Err(e),
            Some(Event::Done(Ok(_))) | None => Err(Error::Other(
                "the joining task ended before its catch-up".to_owned(),
            )),
        }
    }

    /// Tells the catch-up where the main stream stands (everything before
    /// `at` is committed on the target) and waits for it to get there.
    /// Returns the tables to apply from `at` on.
    pub(crate) async fn hand_over(&mut self, at: Lsn) -> Result<Vec<ApplyTable>, Error> {
        if let Some(tx) = self.at.take() {
            let _ = tx.send(at);
        }
        match self.events.recv().await {
            Some(Event::Done(result)) => result,
            _ => Err(Error::Other(
                "the joining task ended before the handover".to_owned(),
            )),
        }
    }
}

/// How a join copies and streams.
struct JoinOptions {
    copy: CopyOptions,
    feedback_interval: Duration,
}

#[allow(clippy::too_many_lines)] // the tablesync steps in order
async fn join(
    spec: &SyncSpec,
    added: &[TableSpec],
    options: &JoinOptions,
    main: &Arc<Metrics>,
    events: &mpsc::Sender<Event>,
    at: oneshot::Receiver<Lsn>,
) -> Result<Vec<ApplyTable>, Error> {
    let target_what = format!("service {}'s database", spec.service);
    let source = connect(&spec.source, "the monolith's database").await?;
    let target = connect(&spec.target, &target_what).await?;
    let sub = SyncSpec {
        tables: added.to_vec(),
        ..spec.clone()
    };
    let checked = preflight(&source, &target, &sub).await?;
    state::ensure_schema(&target).await?;
    let names: Vec<&str> = checked.iter().map(|t| t.spec.name.as_str()).collect();
    state::mark_copying(&target, main, &spec.service, &names).await?;
    // The publication first: the temporary slot's point comes after it, so
    // every change from that point on is published.
    ensure_publication(&source, spec).await?;
    drop(source);
    let mut conn = ReplConnection::connect(
        &spec.source,
        &format!("strangler-tablesync-{}", spec.service),
    )
    .await?;
    let slot = tablesync_slot(spec);
    let created = conn.create_slot(&slot, true).await?;
    let from = created.consistent_point;
    tracing::info!(service = %spec.service, "copying {} as of {from}", sub_names(added));
    let rows = copy_tables(
        &spec.source,
        &spec.target,
        &created.snapshot,
        &checked,
        &options.copy,
    )
    .await?;
    for (t, rows) in checked.iter().zip(&rows) {
        state::set_table(
            &target,
            main,
            &spec.service,
            &t.spec.name,
            TableState::Copying,
            Some(i64::try_from(*rows).unwrap_or(i64::MAX)),
            None,
            None,
        )
        .await?;
    }
    let tables = checked
        .into_iter()
        .map(|checked| ApplyTable {
            checked,
            snapshot_lsn: from,
            failed: false,
        })
        .collect();
    let metrics = Arc::new(Metrics::new(&spec.service));
    let apply_client = connect(&spec.target, &target_what).await?;
    let mut applier = Applier::new(
        apply_client,
        None,
        &spec.service,
        tables,
        from,
        None,
        Arc::clone(&metrics),
    )
    .await?;
    let mut stream = Stream::start(
        conn,
        &slot,
        &spec.publication,
        from,
        &metrics,
        options.feedback_interval,
    )
    .await?;
    let caught_up = async {
        let mut held = None;
        let first = Lsn(main.applied_lsn.load(Ordering::Acquire));
        catch_up(&mut applier, &mut stream.rx, &mut held, first).await?;
        tracing::debug!(service = %spec.service, "catch-up reached {first}");
        events
            .send(Event::Ready)
            .await
            .map_err(|_| Error::Other("the main stream stopped".to_owned()))?;
        let at = at
            .await
            .map_err(|_| Error::Other("the main stream stopped".to_owned()))?;
        catch_up(&mut applier, &mut stream.rx, &mut held, at).await?;
        Ok::<Lsn, Error>(at)
    }
    .await;
    let (_, reader_error) = stream.finish().await;
    let at = caught_up.map_err(|e| match (e, reader_error) {
        (Error::Other(m), Some(r)) if m == "catch-up stream ended" => r,
        (e, _) => e,
    })?;
    // A main stream behind the snapshot must not apply what the copy has.
    let at = at.max(from);
    let mut tables = std::mem::take(&mut applier.tables);
    for t in &mut tables {
        let (state, error) = if t.failed {
            (
                TableState::Error,
                Some("its columns changed during the copy"),
            )
        } else {
            (TableState::Streaming, None)
        };
        state::set_table(
            &target,
            main,
            &spec.service,
            &t.checked.spec.name,
            state,
            None,
            Some(at),
            error,
        )
        .await?;
        t.snapshot_lsn = at;
    }
    Ok(tables)
}

fn sub_names(tables: &[TableSpec]) -> String {
    tables
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies the catch-up stream's transactions that commit before `until`,
/// and stops at a transaction boundary (holding back the first message
/// that belongs after it).
async fn catch_up(
    applier: &mut Applier,
    rx: &mut mpsc::Receiver<Item>,
    held: &mut Option<Item>,
    until: Lsn,
) -> Result<(), Error> {
    loop {
        let item = if let Some(item) = held.take() {
            item
        } else {
            tokio::select! {
                biased;
                () = applier.commit_due() => {
                    applier.commit().await?;
                    continue;
                }
                item = rx.recv() => item
                    .ok_or_else(|| Error::Other("catch-up stream ended".to_owned()))?,
            }
        };
        match item {
            Item::Message(message) => {
                if let LogicalReplicationMessage::Begin { final_lsn, .. } = &*message
                    && Lsn(*final_lsn) >= until
                    && !applier.in_source_txn()
                {
                    *held = Some(Item::Message(message));
                    return applier.commit().await;
                }
                let more = !rx.is_empty();
                applier.handle(*message, more).await?;
            }
            Item::Keepalive(lsn) => {
                applier.keepalive(lsn).await?;
                if lsn >= until && !applier.in_source_txn() {
                    return applier.commit().await;
                }
            }
        }
    }
}

/// Puts the tables of a failed join into `error`, so `status` shows why.
async fn record_failure(spec: &SyncSpec, added: &[TableSpec], main: &Metrics, error: &Error) {
    let message = format!(
        "{error}; fix it and save the plan again (or send SIGHUP) to retry joining, or restart \
         `strangler sync run`"
    );
    let Ok(target) = connect(
        &spec.target,
        &format!("service {}'s database", spec.service),
    )
    .await
    else {
        return;
    };
    if state::ensure_schema(&target).await.is_err() {
        return;
    }
    for t in added {
        let _ = state::set_table(
            &target,
            main,
            &spec.service,
            &t.name,
            TableState::Error,
            None,
            None,
            Some(&message),
        )
        .await;
    }
}
