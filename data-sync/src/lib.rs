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
//! - [`run`]: the service's lock (one sync per service), preflight, the
//!   snapshot copy, then streaming until shut down;
//! - [`follow`]: [`run`] for every service of a plan until SIGINT or
//!   SIGTERM, re-reading the plan file when it changes or on SIGHUP;
//! - [`create_schema`]: the service's tables from the monolith's DDL;
//! - [`check`], [`status`], [`verify`], [`teardown`].
//!
//! [`execute`] runs any `strangler sync` subcommand on its own Tokio runtime
//! and returns a typed [`Report`]; the binary prints it.
//!
//! How the pieces fit, inside: `repl.rs` speaks the replication protocol
//! (slots, `START_REPLICATION`, standby status) directly on
//! `postgres-protocol`; `stream.rs` reads a stream with `pg_walstream`
//! decoding the pgoutput messages; `copy.rs` does the snapshot copy with
//! tokio-postgres' binary COPY; `apply.rs` writes changes and the applied
//! LSN in one target transaction; `state.rs` is the bookkeeping in the
//! target's `strangler` schema; `lock.rs` is the service's advisory lock
//! on the monolith; `run.rs` orchestrates one service and `join.rs` adds
//! tables while it streams.

mod apply;
mod catalog;
mod command;
mod connect;
mod copy;
mod cutover;
mod decommission;
mod error;
mod fence;
mod follow;
mod join;
mod lock;
mod lsn;
mod metrics;
mod overview;
mod preflight;
mod proxies;
mod publication;
mod repl;
mod run;
mod schema;
mod spec;
mod state;
mod status;
mod stream;
mod teardown;
mod verify;

pub use command::{Command, Report, Request, ServiceSchema, block_on, execute};
pub use copy::CopyOptions;
pub use cutover::{MoveReport, MoveRequest, StepTime, cutover, rollback};
pub use decommission::{
    ARCHIVE_SCHEMA, DecommissionReport, DecommissionRequest, decommission, restore,
};
pub use error::{Error, Problem};
pub use follow::{FollowOptions, follow};
pub use metrics::{Metrics, Orphans};
pub use overview::{Overview, RouteOverview, ServiceOverview, TableOverview, overview};
pub use preflight::check;
pub use run::{RunOptions, run};
pub use schema::{SchemaReport, TypeReport, create_schema};
pub use spec::{
    Direction, SyncSpec, TableName, TableSpec, resolve, resolve_forward, resolve_reverse,
};
pub use state::TableState;
pub use status::{OrphanSlot, ServiceStatus, TableStatus, status};
pub use teardown::{TeardownReport, teardown};
pub use verify::{RangeMismatch, TableVerify, VerifyOptions, VerifyReport, verify};
