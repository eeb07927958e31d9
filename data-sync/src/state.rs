//! The sync's bookkeeping on the target, in the `strangler` schema:
//! the applied LSN per slot (committed with the data it covers), each
//! table's state, and the indexes to build after the copy.
//!
//! Every write of a table's state goes through this module, and each one
//! updates the service's [`Metrics`] too (`strangler_sync_tables`).

use std::fmt;
use std::str::FromStr;

use tokio_postgres::GenericClient;

use crate::error::{Context as _, Error};
use crate::lsn::Lsn;
use crate::metrics::Metrics;

/// The DDL of the bookkeeping tables; idempotent.
pub const SCHEMA_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS strangler;
CREATE TABLE IF NOT EXISTS strangler.progress (
    slot text PRIMARY KEY,
    lsn pg_lsn NOT NULL,
    source_commit_time timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS strangler.table_state (
    service text NOT NULL,
    table_name text NOT NULL,
    state text NOT NULL,
    rows_copied bigint NOT NULL DEFAULT 0,
    snapshot_lsn pg_lsn,
    error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, table_name)
);
CREATE TABLE IF NOT EXISTS strangler.deferred_index (
    table_name text NOT NULL,
    ord int NOT NULL,
    ddl text NOT NULL,
    PRIMARY KEY (table_name, ord)
);
";

/// Where a table is in its life: `init → copying → catching_up →
/// streaming`, or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableState {
    /// Known, nothing copied yet.
    Init,
    /// The snapshot copy is running.
    Copying,
    /// Copied; the stream is applying what happened since the snapshot.
    CatchingUp,
    /// Caught up; changes apply as they come.
    Streaming,
    /// Stopped with an error (see the table's `error`); the next run
    /// copies it again.
    Error,
}

impl TableState {
    /// Every state, in the order of a table's life.
    pub const ALL: [TableState; 5] = [
        TableState::Init,
        TableState::Copying,
        TableState::CatchingUp,
        TableState::Streaming,
        TableState::Error,
    ];

    /// The state's name as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TableState::Init => "init",
            TableState::Copying => "copying",
            TableState::CatchingUp => "catching_up",
            TableState::Streaming => "streaming",
            TableState::Error => "error",
        }
    }

    /// Whether the table holds a complete copy that the stream keeps current.
    #[must_use]
    pub fn is_synced(self) -> bool {
        matches!(self, TableState::CatchingUp | TableState::Streaming)
    }
}

impl fmt::Display for TableState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TableState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "init" => TableState::Init,
            "copying" => TableState::Copying,
            "catching_up" => TableState::CatchingUp,
            "streaming" => TableState::Streaming,
            "error" => TableState::Error,
            other => return Err(format!("unknown table state `{other}`")),
        })
    }
}

/// One table's stored state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableRecord {
    /// The table as the plan names it.
    pub table: String,
    /// Its state.
    pub state: TableState,
    /// Rows copied by the snapshot copy.
    pub rows_copied: i64,
    /// Changes committed on the source before this LSN are in the copy;
    /// the stream applies this table's changes from here on.
    pub snapshot_lsn: Option<Lsn>,
    /// Why it stopped, in state `error`.
    pub error: Option<String>,
}

/// Creates the `strangler` schema and its tables on the target.
pub async fn ensure_schema(client: &impl GenericClient) -> Result<(), Error> {
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .ctx(|| "creating the strangler schema on the target".to_owned())
}

/// Whether the bookkeeping schema exists.
pub async fn has_schema(client: &impl GenericClient) -> Result<bool, Error> {
    let row = client
        .query_one(
            "SELECT to_regclass('strangler.table_state') IS NOT NULL",
            &[],
        )
        .await
        .ctx(|| "looking for the strangler schema on the target".to_owned())?;
    Ok(row.get(0))
}

/// The LSN applied for `slot`, if a sync ever completed its copy.
pub async fn applied_lsn(client: &impl GenericClient, slot: &str) -> Result<Option<Lsn>, Error> {
    let row = client
        .query_opt(
            "SELECT lsn::text FROM strangler.progress WHERE slot = $1",
            &[&slot],
        )
        .await
        .ctx(|| "reading the applied LSN".to_owned())?;
    row.map(|r| r.get::<_, String>(0).parse().map_err(Error::Other))
        .transpose()
}

/// Records the applied LSN; call it in the transaction that applied the
/// changes up to it.
pub async fn set_applied_lsn(
    client: &impl GenericClient,
    slot: &str,
    lsn: Lsn,
    commit_time_micros: Option<i64>,
) -> Result<(), Error> {
    client
        .execute(
            "INSERT INTO strangler.progress (slot, lsn, source_commit_time, updated_at) \
             VALUES ($1, $2::text::pg_lsn, \
                     CASE WHEN $3::bigint IS NULL THEN NULL \
                          ELSE timestamptz '2000-01-01 00:00:00+00' + $3::bigint * interval '1 microsecond' END, \
                     now()) \
             ON CONFLICT (slot) DO UPDATE SET lsn = EXCLUDED.lsn, \
                 source_commit_time = coalesce(EXCLUDED.source_commit_time, strangler.progress.source_commit_time), \
                 updated_at = now()",
            &[&slot, &lsn.to_string(), &commit_time_micros],
        )
        .await
        .ctx(|| "recording the applied LSN".to_owned())?;
    Ok(())
}

/// Forgets the applied LSN (a fresh copy follows).
pub async fn clear_progress(client: &impl GenericClient, slot: &str) -> Result<(), Error> {
    client
        .execute("DELETE FROM strangler.progress WHERE slot = $1", &[&slot])
        .await
        .ctx(|| "clearing the applied LSN".to_owned())?;
    Ok(())
}

/// Every stored table state of `service`.
pub async fn tables(client: &impl GenericClient, service: &str) -> Result<Vec<TableRecord>, Error> {
    let rows = client
        .query(
            "SELECT table_name, state, rows_copied, snapshot_lsn::text, error \
             FROM strangler.table_state WHERE service = $1 ORDER BY table_name",
            &[&service],
        )
        .await
        .ctx(|| "reading table states".to_owned())?;
    rows.iter()
        .map(|r| {
            Ok(TableRecord {
                table: r.get(0),
                state: r.get::<_, String>(1).parse().map_err(Error::Other)?,
                rows_copied: r.get(2),
                snapshot_lsn: r
                    .get::<_, Option<String>>(3)
                    .map(|s| s.parse().map_err(Error::Other))
                    .transpose()?,
                error: r.get(4),
            })
        })
        .collect()
}

/// Marks `tables` of `service` as being copied, with no rows yet.
pub async fn mark_copying(
    client: &impl GenericClient,
    metrics: &Metrics,
    service: &str,
    tables: &[&str],
) -> Result<(), Error> {
    for &table in tables {
        set_table(
            client,
            metrics,
            service,
            table,
            TableState::Copying,
            Some(0),
            None,
            None,
        )
        .await?;
    }
    Ok(())
}

/// Sets a table's state (and error, rows, snapshot LSN when given), in
/// the database and in `metrics`.
#[allow(clippy::too_many_arguments)] // the row's columns
pub async fn set_table(
    client: &impl GenericClient,
    metrics: &Metrics,
    service: &str,
    table: &str,
    state: TableState,
    rows_copied: Option<i64>,
    snapshot_lsn: Option<Lsn>,
    error: Option<&str>,
) -> Result<(), Error> {
    client
        .execute(
            "INSERT INTO strangler.table_state AS s \
                 (service, table_name, state, rows_copied, snapshot_lsn, error) \
             VALUES ($1, $2, $3, coalesce($4::bigint, 0), $5::text::pg_lsn, $6) \
             ON CONFLICT (service, table_name) DO UPDATE SET state = EXCLUDED.state, \
                 rows_copied = coalesce($4::bigint, s.rows_copied), \
                 snapshot_lsn = coalesce(EXCLUDED.snapshot_lsn, s.snapshot_lsn), \
                 error = EXCLUDED.error, updated_at = now()",
            &[
                &service,
                &table,
                &state.as_str(),
                &rows_copied,
                &snapshot_lsn.map(|l| l.to_string()),
                &error,
            ],
        )
        .await
        .ctx(|| format!("recording the state of {table}"))?;
    metrics.set_table_state(table, state);
    Ok(())
}

/// Moves every table of `service` in `catching_up` to `streaming`.
pub async fn mark_streaming(
    client: &impl GenericClient,
    metrics: &Metrics,
    service: &str,
) -> Result<(), Error> {
    let rows = client
        .query(
            "UPDATE strangler.table_state SET state = 'streaming', updated_at = now() \
             WHERE service = $1 AND state = 'catching_up' RETURNING table_name",
            &[&service],
        )
        .await
        .ctx(|| "marking tables as streaming".to_owned())?;
    for row in &rows {
        metrics.set_table_state(row.get(0), TableState::Streaming);
    }
    Ok(())
}

/// Forgets a table that left the plan.
pub async fn remove_table(
    client: &impl GenericClient,
    metrics: &Metrics,
    service: &str,
    table: &str,
) -> Result<(), Error> {
    client
        .execute(
            "DELETE FROM strangler.table_state WHERE service = $1 AND table_name = $2",
            &[&service, &table],
        )
        .await
        .ctx(|| format!("forgetting {table}"))?;
    metrics.forget_table(table);
    Ok(())
}
