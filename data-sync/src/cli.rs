//! The `strangler sync` subcommands over the library, so the binary only
//! parses arguments: [`execute`] takes a plan and a command, prints to the
//! given writer, and returns the exit code (0 ok, 1 verify mismatch).
//!
//! `run` follows the plan file while it runs: it re-reads it when the file
//! changes (polled every second) or on SIGHUP, and hands each service its
//! new tables. An invalid plan is logged and ignored; the sync goes on.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use strangler_plan::Plan;
use tokio::sync::watch;

use crate::error::{Context as _, Error};
use crate::{Metrics, RunOptions, VerifyOptions};

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Copy and stream until SIGINT or SIGTERM.
    Run {
        /// Parallel COPY streams per service.
        workers: usize,
        /// Serve Prometheus metrics here (`127.0.0.1:9187`).
        metrics: Option<String>,
        /// Draw progress bars on stderr.
        progress: bool,
    },
    /// Per-table state and lag.
    Status {
        /// JSON on stdout.
        json: bool,
    },
    /// Compare both sides; exit 1 on a mismatch.
    Verify {
        /// JSON on stdout.
        json: bool,
        /// How long to wait for the sync to catch up.
        timeout: Duration,
    },
    /// Create the service's tables.
    Schema,
    /// Drop the slot and publication (needs a service).
    Teardown,
}

/// A parsed `strangler sync` invocation.
#[derive(Debug, Clone)]
pub struct Request {
    /// The (valid) plan.
    pub plan: Plan,
    /// The file the plan came from; `run` re-reads it when it changes.
    pub plan_path: Option<PathBuf>,
    /// Only this service.
    pub service: Option<String>,
    /// The subcommand.
    pub command: Command,
}

/// Runs a request on its own Tokio runtime and returns the exit code.
#[allow(clippy::too_many_lines)] // one arm per subcommand, each a few lines
pub fn execute(request: Request, out: &mut dyn Write) -> Result<u8, Error> {
    if matches!(request.command, Command::Teardown) && request.service.is_none() {
        return Err(Error::Plan(
            "teardown drops a service's slot and publication; name it with --service NAME"
                .to_owned(),
        ));
    }
    let specs = crate::resolve(&request.plan, request.service.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx(|| "starting the async runtime".to_owned())?;
    runtime.block_on(async move {
        match request.command {
            Command::Run {
                workers,
                metrics,
                progress,
            } => {
                run_all(
                    &specs,
                    request.plan_path,
                    request.service.as_deref(),
                    workers,
                    metrics.as_deref(),
                    progress,
                )
                .await
            }
            Command::Status { json } => {
                let mut all = Vec::new();
                for spec in &specs {
                    all.push(crate::status(spec, crate::status::DEFAULT_RETENTION_WARNING).await?);
                }
                if json {
                    write_json(out, &all)?;
                } else {
                    write_text(out, &crate::status::render(&all))?;
                }
                for s in &all {
                    for w in &s.warnings {
                        tracing::warn!("{w}");
                    }
                }
                Ok(0)
            }
            Command::Verify { json, timeout } => {
                let options = VerifyOptions {
                    timeout,
                    ..VerifyOptions::default()
                };
                let mut all = Vec::new();
                for spec in &specs {
                    all.push(crate::verify(spec, &options).await?);
                }
                if json {
                    write_json(out, &all)?;
                } else {
                    write_text(out, &crate::verify::render(&all))?;
                }
                Ok(u8::from(!all.iter().all(crate::VerifyReport::is_ok)))
            }
            Command::Schema => {
                for spec in &specs {
                    let source =
                        crate::copy::connect(&spec.source, "the monolith's database").await?;
                    let target =
                        crate::copy::connect(&spec.target, "the service's database").await?;
                    for r in crate::create_schema(&source, &target, spec).await? {
                        let line = if r.created {
                            format!(
                                "{}: created {}; {} index statement(s) run after the copy\n",
                                spec.service,
                                r.table,
                                r.deferred.len()
                            )
                        } else {
                            format!("{}: {} exists, left as it is\n", spec.service, r.table)
                        };
                        write_text(out, &line)?;
                        for s in &r.skipped {
                            write_text(out, &format!("  skipped index {s}\n"))?;
                        }
                    }
                }
                Ok(0)
            }
            Command::Teardown => {
                for spec in &specs {
                    let r = crate::teardown(spec).await?;
                    write_text(
                        out,
                        &format!(
                            "{}: {}, {}, {} bookkeeping row(s) removed; the service's tables and \
                             data are left in place\n",
                            spec.service,
                            if r.slot_dropped {
                                format!("dropped slot {}", spec.slot)
                            } else {
                                format!("no slot {}", spec.slot)
                            },
                            if r.publication_dropped {
                                format!("dropped publication {}", spec.publication)
                            } else {
                                format!("no publication {}", spec.publication)
                            },
                            r.state_rows_removed
                        ),
                    )?;
                }
                Ok(0)
            }
        }
    })
}

fn write_text(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .ctx(|| "writing to stdout".to_owned())
}

fn write_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    write_text(out, &format!("{text}\n"))
}

async fn run_all(
    specs: &[crate::SyncSpec],
    plan_path: Option<PathBuf>,
    service: Option<&str>,
    workers: usize,
    metrics_addr: Option<&str>,
    progress: bool,
) -> Result<u8, Error> {
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
    let metrics: crate::metrics::MetricsSet = Arc::new(std::sync::RwLock::new(Vec::new()));
    if let Some(addr) = metrics_addr {
        serve_metrics(addr.to_owned(), Arc::clone(&metrics));
    }
    let options = RunOptions {
        copy: crate::CopyOptions { workers, progress },
        ..RunOptions::default()
    };
    let senders: Senders = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    // Services from the start: one that cannot go on stops the others.
    // Services added to the plan later: one that fails is logged, and the
    // others go on.
    let mut added_later = std::collections::HashSet::new();
    let start = |spec: &crate::SyncSpec, tasks: &mut tokio::task::JoinSet<_>| {
        let m = Arc::new(Metrics::new(&spec.service));
        metrics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::clone(&m));
        let (spec_tx, spec_rx) = watch::channel(spec.clone());
        senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(spec_tx);
        let options = options.clone();
        let stop = stop_rx.clone();
        let name = spec.service.clone();
        tasks.spawn(async move {
            let result = crate::run_watching(spec_rx, &options, m, stop).await;
            (name, result)
        });
    };
    for spec in specs {
        start(spec, &mut tasks);
    }
    let (new_tx, mut new_rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(path) = plan_path {
        let service = service.map(str::to_owned);
        tokio::spawn(watch_plan(path, service, Arc::clone(&senders), new_tx));
    } else {
        drop(new_tx);
    }
    let mut first_error = None;
    loop {
        let joined = tokio::select! {
            joined = tasks.join_next() => joined,
            Some(spec) = new_rx.recv(), if !*stop_rx.borrow() => {
                let known = senders
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .any(|s| s.borrow().service == spec.service);
                if known {
                    continue;
                }
                tracing::info!(service = %spec.service, "service {} is new in the plan; syncing it", spec.service);
                added_later.insert(spec.service.clone());
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
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .retain(|s| s.borrow().service != *name);
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
        None => Ok(0),
    }
}

/// Serves the metrics in the background; a failure is logged.
fn serve_metrics(addr: String, metrics: crate::metrics::MetricsSet) {
    tokio::spawn(async move {
        if let Err(e) = crate::metrics::serve(&addr, metrics).await {
            tracing::error!("{e}");
        }
    });
}

/// The spec channels of the running services, one per service.
type Senders = Arc<std::sync::Mutex<Vec<watch::Sender<crate::SyncSpec>>>>;

/// Re-reads the plan when its file changes or on SIGHUP, and sends each
/// running service its new spec. An unreadable or invalid plan is logged
/// and ignored.
async fn watch_plan(
    path: PathBuf,
    service: Option<String>,
    senders: Senders,
    new_services: tokio::sync::mpsc::UnboundedSender<crate::SyncSpec>,
) {
    let stamp = |path: &PathBuf| -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    let mut last = stamp(&path);
    let mut hangup = hangup_signal();
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => false,
            () = next_hangup(&mut hangup) => true,
        };
        let now = stamp(&path);
        if !forced && now == last {
            continue;
        }
        last = now;
        tracing::info!("re-reading the plan {}", path.display());
        let file = match strangler_plan::PlanFile::open(&path) {
            Ok(file) => file,
            Err(e) => {
                tracing::error!("{e}; the sync goes on with the plan it has");
                continue;
            }
        };
        if !file.is_valid() {
            tracing::error!(
                "{} is not a valid plan; the sync goes on with the plan it has:\n{}",
                path.display(),
                file.render_diagnostics()
            );
            continue;
        }
        let specs = match crate::resolve(file.plan(), service.as_deref()) {
            Ok(specs) => specs,
            Err(e) => {
                tracing::error!("{e}; the sync goes on with the plan it has");
                continue;
            }
        };
        let running: Vec<String> = {
            let senders = senders
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for sender in senders.iter() {
                let name = sender.borrow().service.clone();
                if let Some(spec) = specs.iter().find(|s| s.service == name) {
                    let _ = sender.send(spec.clone());
                } else {
                    tracing::warn!(
                        "service {name} has no table at stage `syncing` any more; it keeps its \
                         current tables until `strangler sync run` restarts (`strangler sync \
                         teardown --service {name}` removes its slot)"
                    );
                }
            }
            senders.iter().map(|s| s.borrow().service.clone()).collect()
        };
        for spec in specs {
            if !running.contains(&spec.service) && new_services.send(spec).is_err() {
                return;
            }
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
