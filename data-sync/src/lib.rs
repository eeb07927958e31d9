//! Change data capture behind `strangler sync`: copies the monolith's
//! PostgreSQL tables into each service's own database with a consistent
//! snapshot, then keeps them current from the monolith's logical
//! replication stream, with an exactly-once effect across crashes.
//!
//! The plan (`strangler-plan`) says which tables move where: every table at
//! stage `syncing` (or `cutover`) of a service with a `database`. [`resolve`]
//! turns a plan into one [`SyncSpec`] per service; the entry points take
//! those:
//!
//! - [`run`]: preflight, the snapshot copy, then streaming until shut down;
//! - [`create_schema`]: the service's tables from the monolith's DDL;
//! - [`status`], [`verify`], [`teardown`].
//!
//! [`cli`] wraps them for the `strangler sync` command.
//!
//! How the pieces fit: [`repl`] speaks the replication protocol (slots,
//! `START_REPLICATION`, standby status) directly on `postgres-protocol`;
//! `pg_walstream` decodes the pgoutput messages; [`copy`] does the snapshot
//! copy with tokio-postgres' binary COPY; [`apply`](mod@apply) writes changes
//! and the applied LSN in one target transaction; [`state`] is the
//! bookkeeping in the target's `strangler` schema.

pub mod apply;
pub mod catalog;
pub mod cli;
pub mod copy;
pub mod error;
mod join;
pub mod lsn;
pub mod metrics;
pub mod preflight;
pub mod repl;
pub mod run;
pub mod schema;
pub mod spec;
pub mod state;
pub mod status;
pub mod teardown;
pub mod verify;

pub use copy::CopyOptions;
pub use error::{Error, Problem};
pub use lsn::Lsn;
pub use metrics::Metrics;
pub use run::{RunOptions, run, run_watching};
pub use schema::{SchemaReport, create_schema};
pub use spec::{SyncSpec, TableName, TableSpec, resolve};
pub use state::TableState;
pub use status::{ServiceStatus, status};
pub use teardown::{TeardownReport, teardown};
pub use verify::{VerifyOptions, VerifyReport, verify};

/// Runs the preflight checks for `spec` without changing anything.
pub async fn check(spec: &SyncSpec) -> Result<(), Error> {
    let source = copy::connect(&spec.source, "the monolith's database").await?;
    let target = copy::connect(&spec.target, "the service's database").await?;
    preflight::preflight(&source, &target, spec)
        .await
        .map(|_| ())
}
