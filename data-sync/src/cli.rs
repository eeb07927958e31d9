//! The `strangler sync` subcommands over the library, so the binary only
//! parses arguments: [`execute`] takes a plan and a command, prints to the
//! given writer, and returns the exit code (0 ok, 1 verify mismatch).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

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
            } => run_all(&specs, workers, metrics.as_deref(), progress).await,
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
    workers: usize,
    metrics_addr: Option<&str>,
    progress: bool,
) -> Result<u8, Error> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: finishing the current transaction");
        let _ = stop_tx.send(true);
        // Keep the sender alive so receivers see `true`, not a closed channel.
        std::future::pending::<()>().await;
    });
    let metrics: Vec<Arc<Metrics>> = specs
        .iter()
        .map(|s| Arc::new(Metrics::new(&s.service)))
        .collect();
    if let Some(addr) = metrics_addr {
        let listener_metrics = metrics.clone();
        let addr = addr.to_owned();
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(&addr, listener_metrics).await {
                tracing::error!("{e}");
            }
        });
    }
    let options = RunOptions {
        copy: crate::CopyOptions { workers, progress },
        ..RunOptions::default()
    };
    let mut tasks = Vec::new();
    for (spec, m) in specs.iter().zip(metrics) {
        let spec = spec.clone();
        let options = options.clone();
        let stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            crate::run(&spec, &options, m, stop).await
        }));
    }
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(Error::Other(format!("sync task failed: {e}")));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(0),
    }
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
