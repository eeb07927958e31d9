//! `strangler sync run` for every service of a plan, following the plan
//! file while it runs.
//!
//! [`follow`] syncs each service in its own task until SIGINT or SIGTERM.
//! It re-reads the plan when the file's bytes change (through
//! [`strangler_plan::PlanWatcher`]) or on SIGHUP, hands each running
//! service its new spec, and starts a service that is new in the plan beside
//! the running ones. An unreadable or invalid plan is logged and ignored;
//! the sync goes on with the plan it has.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use strangler_plan::{Plan, PlanFile, PlanWatcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::error::Error;
use crate::metrics::{self, Metrics, MetricsSet, Orphans};
use crate::run::{RunOptions, run_watching};
use crate::spec::{SyncSpec, resolve};
use crate::status::orphan_slots;

/// How [`follow`] runs.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// Each service's sync settings.
    pub run: RunOptions,
    /// Serve Prometheus metrics on this address (`127.0.0.1:9187`).
    pub metrics: Option<String>,
    /// The file the plan came from: it is re-read when it changes and on
    /// SIGHUP. Without one, the plan stays as given.
    pub plan_path: Option<PathBuf>,
}

/// Syncs every service of `plan` (only `service`, when given) until SIGINT
/// or SIGTERM.
///
/// With `options.plan_path`, it re-reads the plan when the file's bytes
/// change or on SIGHUP. Tables added to a running service are copied and
/// joined into its stream while the others keep streaming; any other change
/// to a service (a table removed, its mapping or a database URL changed)
/// ends its stream at a transaction boundary and starts it again from the
/// applied LSN. A service that is new in the plan starts beside the others.
/// An unreadable or invalid plan is logged and ignored.
///
/// A service there from the start that cannot go on stops the others
/// cleanly and its error is returned. A service added to the plan later
/// that fails is logged and the others go on; the next change to the plan
/// or SIGHUP tries it again.
#[allow(clippy::too_many_lines)] // one supervision loop, read top to bottom
pub async fn follow(
    plan: &Plan,
    service: Option<&str>,
    options: &FollowOptions,
) -> Result<(), Error> {
    let specs = resolve(plan, service)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = Arc::clone(&stop_tx);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping: finishing the current transaction");
            let _ = stop_tx.send(true);
        });
    }
    let metrics: MetricsSet = Arc::new(RwLock::new(Vec::new()));
    let orphans = Arc::new(Orphans::new(&plan.monolith.name));
    if let Some(addr) = &options.metrics {
        serve_metrics(addr.clone(), Arc::clone(&metrics), Arc::clone(&orphans));
    }
    tokio::spawn(watch_orphans(
        plan.clone(),
        options.plan_path.clone(),
        orphans,
    ));
    let senders: Senders = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = JoinSet::new();
    // Services from the start: one that cannot go on stops the others.
    // Services added to the plan later: one that fails is logged, and the
    // others go on.
    let mut added_later = HashSet::new();
    let start = |spec: &SyncSpec, tasks: &mut JoinSet<_>| {
        let m = Arc::new(Metrics::new(&spec.key()));
        metrics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&m));
        let (spec_tx, spec_rx) = watch::channel(spec.clone());
        senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(spec_tx);
        let run = options.run.clone();
        let stop = stop_rx.clone();
        let name = spec.key();
        tasks.spawn(async move {
            let result = run_watching(spec_rx, &run, m, stop).await;
            (name, result)
        });
    };
    for spec in &specs {
        start(spec, &mut tasks);
    }
    let (new_tx, mut new_rx) = mpsc::unbounded_channel();
    if let Some(path) = options.plan_path.clone() {
        let service = service.map(str::to_owned);
        tokio::spawn(watch_plan(path, service, Arc::clone(&senders), new_tx));
    } else {
        drop(new_tx);
    }
    let mut first_error = None;
    // With the plan watched, a moment with no stream running (every table
    // between two stages, a cutover's flip) is not the end: the next plan
    // change starts one again. Without a watcher, or once stopping, the
    // last stream to end ends `follow`.
    let mut watching = options.plan_path.is_some();
    let mut stopping = stop_rx.clone();
    loop {
        if tasks.is_empty() && (!watching || *stop_rx.borrow()) {
            break;
        }
        let joined = tokio::select! {
            joined = tasks.join_next(), if !tasks.is_empty() => joined,
            _ = stopping.changed(), if tasks.is_empty() => continue,
            spec = new_rx.recv(), if watching && !*stop_rx.borrow() => {
                let Some(spec) = spec else {
                    watching = false;
                    continue;
                };
                let known = {
                    let mut senders = senders.lock().unwrap_or_else(PoisonError::into_inner);
                    // A stream whose run has ended (its receiver is gone) is
                    // not running any more, whatever ended it.
                    senders.retain(|s| !s.is_closed());
                    senders.iter().any(|s| s.borrow().key() == spec.key())
                };
                if known {
                    continue;
                }
                tracing::info!(service = %spec.service, "service {} is new in the plan; syncing it", spec.key());
                added_later.insert(spec.key());
                start(&spec, &mut tasks);
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (name, result) = match joined {
            Ok((name, result)) => (Some(name), result),
            Err(e) => (None, Err(Error::Other(format!("sync task failed: {e}")))),
        };
        if let Err(e) = result {
            if let Some(name) = name.as_ref().filter(|n| added_later.contains(*n)) {
                // Forget it, so that the next change to the plan (or a
                // SIGHUP) tries it again.
                senders
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|s| s.borrow().key() != *name);
                tracing::error!(
                    "{e}; the other services go on. Fix it, then save the plan or send SIGHUP \
                     to try service {name} again"
                );
                continue;
            }
            if first_error.is_none() {
                // One service cannot go on: stop the others cleanly too.
                let _ = stop_tx.send(true);
            }
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Serves the metrics in the background; a failure is logged.
fn serve_metrics(addr: String, metrics: MetricsSet, orphans: Arc<Orphans>) {
    tokio::spawn(async move {
        if let Err(e) = metrics::serve(&addr, metrics, orphans).await {
            tracing::error!("{e}");
        }
    });
}

/// How often a running sync looks for slots no stream of the plan uses.
const ORPHAN_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Looks for the slots of strangler's on the monolith that no stream of
/// the plan (as the file says now, every service's) uses: at the start and
/// every [`ORPHAN_CHECK_EVERY`]. Each new one is a warning in the log, and
/// all are in `orphans` for the metrics. A check that fails is logged at
/// debug level and tried again (the streams report the database's state).
async fn watch_orphans(plan: Plan, path: Option<PathBuf>, orphans: Arc<Orphans>) {
    let mut warned: HashSet<String> = HashSet::new();
    loop {
        let current = path
            .as_deref()
            .and_then(|p| PlanFile::open(p).ok())
            .filter(PlanFile::is_valid)
            .map_or_else(|| plan.clone(), |f| f.plan().clone());
        if let Some(url) = &current.monolith.database {
            let known: Vec<String> = resolve(&current, None)
                .map(|specs| specs.into_iter().map(|s| s.slot).collect())
                .unwrap_or_default();
            match orphan_slots(url, &known).await {
                Ok(found) => {
                    for slot in &found {
                        if warned.insert(slot.slot.clone()) {
                            tracing::warn!("{}", slot.warning());
                        }
                    }
                    warned.retain(|s| found.iter().any(|o| o.slot == *s));
                    orphans.set(found);
                }
                Err(e) => tracing::debug!("looking for slots no stream uses: {e}"),
            }
        }
        tokio::time::sleep(ORPHAN_CHECK_EVERY).await;
    }
}

/// The spec channels of the running services, one per service.
type Senders = Arc<Mutex<Vec<watch::Sender<SyncSpec>>>>;

/// Re-reads the plan when its file changes or on SIGHUP, and sends each
/// running service its new spec and each service new in the plan to
/// `new_services`. An unreadable or invalid plan is logged and ignored.
async fn watch_plan(
    path: PathBuf,
    service: Option<String>,
    senders: Senders,
    new_services: mpsc::UnboundedSender<SyncSpec>,
) {
    let (changed_tx, mut changed) = mpsc::unbounded_channel();
    // The watcher stops when this function returns and drops it.
    let _watcher = match PlanWatcher::start(&path, move || {
        let _ = changed_tx.send(());
    }) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::error!("{e}; changes to the plan are not noticed, send SIGHUP to re-read it");
            None
        }
    };
    let mut hangup = hangup_signal();
    loop {
        tokio::select! {
            Some(()) = changed.recv() => {}
            () = next_hangup(&mut hangup) => {}
        }
        tracing::info!("re-reading the plan {}", path.display());
        let Some(specs) = reread(&path, service.as_deref()) else {
            continue;
        };
        let running: Vec<String> = {
            let mut senders = senders.lock().unwrap_or_else(PoisonError::into_inner);
            senders.retain(|s| !s.is_closed());
            senders.retain(|sender| {
                let key = sender.borrow().key();
                if let Some(spec) = specs.iter().find(|s| s.key() == key) {
                    let _ = sender.send(spec.clone());
                    true
                } else {
                    // No table left in this stream: it stops at the next
                    // transaction boundary (an empty spec ends a run).
                    tracing::info!(
                        "{key} has no table left to stream; stopping it at a transaction \
                         boundary (its slot stays: `strangler sync teardown` removes it)"
                    );
                    let mut empty = sender.borrow().clone();
                    empty.tables.clear();
                    let _ = sender.send(empty);
                    false
                }
            });
            senders.iter().map(|s| s.borrow().key()).collect()
        };
        for spec in specs {
            if !running.contains(&spec.key()) && new_services.send(spec).is_err() {
                return;
            }
        }
    }
}

/// The plan at `path` as specs, or `None` (logged) when it cannot be read,
/// is invalid, or does not resolve.
fn reread(path: &Path, service: Option<&str>) -> Option<Vec<SyncSpec>> {
    let file = match PlanFile::open(path) {
        Ok(file) => file,
        Err(e) => {
            tracing::error!("{e}; the sync goes on with the plan it has");
            return None;
        }
    };
    if !file.is_valid() {
        tracing::error!(
            "{} is not a valid plan; the sync goes on with the plan it has:\n{}",
            path.display(),
            file.render_diagnostics()
        );
        return None;
    }
    match resolve(file.plan(), service) {
        Ok(specs) => Some(specs),
        Err(e) => {
            tracing::error!("{e}; the sync goes on with the plan it has");
            None
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
}

async fn next_hangup(hangup: &mut Hangup) {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        signal.recv().await;
        return;
    }
    #[cfg(not(unix))]
    let _ = hangup;
    std::future::pending::<()>().await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
