//! The `strangler sync` subcommands, one call for all of them: [`execute`]
//! takes a plan and a [`Command`] with typed options, runs it on its own
//! Tokio runtime (so the caller needs none), and returns a typed
//! [`Report`]. Printing the report and choosing the exit code are the
//! caller's.

use std::time::Duration;

use strangler_plan::Plan;

use crate::connect::connect;
use crate::error::{Context as _, Error};
use crate::follow::{FollowOptions, follow};
use crate::schema::{SchemaReport, create_schema};
use crate::spec::{Direction, resolve};
use crate::status::{DEFAULT_RETENTION_WARNING, OrphanSlot, ServiceStatus, orphan_slots, status};
use crate::teardown::{TeardownReport, drop_orphan, teardown};
use crate::verify::{VerifyOptions, VerifyReport, verify};

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Copy and stream until SIGINT or SIGTERM, following the plan file
    /// ([`follow`]).
    Run(FollowOptions),
    /// Per-table state and lag.
    Status,
    /// Compare both sides, waiting up to `timeout` for the sync to catch up.
    Verify {
        /// How long to wait for the sync to reach the monolith's position.
        timeout: Duration,
    },
    /// Create the service's tables.
    Schema,
    /// Drop the slot and publication (needs a service).
    Teardown,
    /// Drop a slot of strangler's on the monolith that no stream of the
    /// plan uses, and its publication ([`crate::OrphanSlot`]).
    DropSlot {
        /// The slot's name.
        slot: String,
    },
}

/// A `strangler sync` invocation.
#[derive(Debug, Clone)]
pub struct Request {
    /// The (valid) plan.
    pub plan: Plan,
    /// Only this service.
    pub service: Option<String>,
    /// The subcommand.
    pub command: Command,
}

/// What a command found or did, per service.
#[derive(Debug, Clone)]
pub enum Report {
    /// `run` stopped cleanly on SIGINT or SIGTERM.
    Stopped,
    /// Each service's status, and the slots on the monolith no stream of
    /// the plan uses.
    Status(Vec<ServiceStatus>, Vec<OrphanSlot>),
    /// Each service's verification; see [`VerifyReport::is_ok`].
    Verify(Vec<VerifyReport>),
    /// The tables created (or left alone) per service.
    Schema(Vec<ServiceSchema>),
    /// What teardown removed per service.
    Teardown(Vec<TeardownReport>),
}

/// What `schema` did for one service.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceSchema {
    /// The service.
    pub service: String,
    /// One report per table.
    pub tables: Vec<SchemaReport>,
}

/// Runs a request on its own Tokio runtime and returns its report.
pub fn execute(request: &Request) -> Result<Report, Error> {
    if matches!(request.command, Command::Teardown) && request.service.is_none() {
        return Err(Error::Plan(
            "teardown drops a service's slot and publication; name it with --service NAME"
                .to_owned(),
        ));
    }
    let service = request.service.as_deref();
    // The plan's streams, whichever service was asked about: a slot of
    // strangler's that is none of them is an orphan.
    let known: Vec<String> = resolve(&request.plan, None)
        .map(|specs| specs.into_iter().map(|s| s.slot).collect())
        .unwrap_or_default();
    let monolith = request.plan.monolith.database.clone();
    let specs = match resolve(&request.plan, service) {
        Ok(specs) => specs,
        // An orphan slot is dropped whatever the plan streams.
        Err(_) if matches!(request.command, Command::DropSlot { .. }) => Vec::new(),
        // With nothing syncing, status still lists the slots left behind.
        Err(e) if matches!(request.command, Command::Status) && service.is_none() => {
            let orphans = match &monolith {
                Some(url) => block_on(orphan_slots(url, &known))?,
                None => Vec::new(),
            };
            if orphans.is_empty() {
                return Err(e);
            }
            return Ok(Report::Status(Vec::new(), orphans));
        }
        Err(e) => return Err(e),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx(|| "starting the async runtime".to_owned())?;
    runtime.block_on(async {
        match &request.command {
            Command::Run(options) => {
                follow(&request.plan, service, options).await?;
                Ok(Report::Stopped)
            }
            Command::Status => {
                let mut all = Vec::new();
                for spec in &specs {
                    all.push(status(spec, DEFAULT_RETENTION_WARNING).await?);
                }
                let orphans = match &monolith {
                    Some(url) => orphan_slots(url, &known).await?,
                    None => Vec::new(),
                };
                Ok(Report::Status(all, orphans))
            }
            Command::Verify { timeout } => {
                let options = VerifyOptions {
                    timeout: *timeout,
                    ..VerifyOptions::default()
                };
                let mut all = Vec::new();
                for spec in &specs {
                    all.push(verify(spec, &options).await?);
                }
                Ok(Report::Verify(all))
            }
            Command::Schema => {
                let mut all = Vec::new();
                for spec in specs.iter().filter(|s| s.direction == Direction::Forward) {
                    let source = connect(&spec.source, "the monolith's database").await?;
                    let target = connect(&spec.target, "the service's database").await?;
                    all.push(ServiceSchema {
                        service: spec.service.clone(),
                        tables: create_schema(&source, &target, spec).await?,
                    });
                }
                Ok(Report::Schema(all))
            }
            Command::DropSlot { slot } => {
                let Some(url) = &monolith else {
                    return Err(Error::Plan(
                        "the plan's [monolith] has no `database`, so there is no slot to drop"
                            .to_owned(),
                    ));
                };
                Ok(Report::Teardown(vec![
                    drop_orphan(url, slot, &known).await?,
                ]))
            }
            Command::Teardown => {
                let mut all = Vec::new();
                for spec in &specs {
                    all.push(teardown(spec).await?);
                }
                Ok(Report::Teardown(all))
            }
        }
    })
}

/// Runs `future` (a cutover, rollback, decommission or overview) to
/// completion on a Tokio runtime of its own.
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx(|| "starting the async runtime".to_owned())?
        .block_on(future)
}
