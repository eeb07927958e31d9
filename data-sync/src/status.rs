//! `strangler sync status`: per table, its state, rows copied, lag and
//! error; per service, the slot and the WAL it retains.

use crate::connect::connect;
use crate::error::{Context as _, Error};
use crate::lsn::Lsn;
use crate::spec::SyncSpec;
use crate::state::{self, TableState};

/// A slot's `active` and the WAL it retains on the monolith
/// (`pg_current_wal_lsn() - restart_lsn`, bytes; NULL while it has no
/// restart point); no row when the slot `$1` does not exist. `status`
/// reads it, and a running sync samples it on its lock's session.
pub(crate) const SLOT_SQL: &str = "SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint \
     FROM pg_replication_slots WHERE slot_name = $1";

/// The WAL a slot may retain before status warns: 1 GiB.
pub(crate) const DEFAULT_RETENTION_WARNING: i64 = 1 << 30;

/// One service's sync, as the databases see it now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    /// The service.
    pub service: String,
    /// The slot's name.
    pub slot: String,
    /// Whether the slot exists on the monolith.
    pub slot_exists: bool,
    /// Whether a sync is connected to the slot now.
    pub slot_active: bool,
    /// WAL the slot keeps on the monolith's disk, in bytes.
    pub retained_wal_bytes: Option<i64>,
    /// The last LSN applied on the service's database.
    pub applied_lsn: Option<String>,
    /// The monolith's current WAL position.
    pub source_lsn: String,
    /// WAL written on the monolith since the applied LSN, in bytes.
    pub lag_bytes: Option<i64>,
    /// Seconds since the last applied transaction committed on the
    /// monolith, when behind; 0 when caught up.
    pub lag_seconds: Option<f64>,
    /// Per-table state.
    pub tables: Vec<TableStatus>,
    /// Warnings, such as a slot retaining too much WAL.
    pub warnings: Vec<String>,
}

/// One table's state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableStatus {
    /// The table as the plan names it.
    pub table: String,
    /// `init`, `copying`, `catching_up`, `streaming` or `error`.
    pub state: TableState,
    /// Rows the snapshot copy wrote.
    pub rows_copied: i64,
    /// The last error, in state `error`.
    pub error: Option<String>,
}

/// Reads the status of `spec`'s sync.
pub async fn status(spec: &SyncSpec, retention_warning: i64) -> Result<ServiceStatus, Error> {
    let source = connect(&spec.source, "the monolith's database").await?;
    let target = connect(&spec.target, "the service's database").await?;
    let what = || "reading the sync's status".to_owned();
    let source_lsn: String = source
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .ctx(what)?
        .get(0);
    let slot = source.query_opt(SLOT_SQL, &[&spec.slot]).await.ctx(what)?;
    let has_schema = state::has_schema(&target).await?;
    let (applied, records, commit_age) = if has_schema {
        let applied = state::applied_lsn(&target, &spec.slot).await?;
        let records = state::tables(&target, &spec.service).await?;
        let age: Option<f64> = target
            .query_opt(
                "SELECT extract(epoch FROM now() - source_commit_time)::float8 \
                 FROM strangler.progress WHERE slot = $1",
                &[&spec.slot],
            )
            .await
            .ctx(what)?
            .and_then(|r| r.get(0));
        (applied, records, age)
    } else {
        (None, Vec::new(), None)
    };
    let lag_bytes = match applied {
        Some(applied) => {
            let current: Lsn = source_lsn.parse().map_err(Error::Other)?;
            Some(i64::try_from(current.0.saturating_sub(applied.0)).unwrap_or(i64::MAX))
        }
        None => None,
    };
    let lag_seconds = lag_bytes.map(|bytes| {
        if bytes == 0 {
            0.0
        } else {
            commit_age.unwrap_or(0.0).max(0.0)
        }
    });
    let retained: Option<i64> = slot.as_ref().and_then(|r| r.get(1));
    let mut warnings = Vec::new();
    if let Some(bytes) = retained
        && bytes > retention_warning
    {
        warnings.push(format!(
            "slot {} retains {} MiB of WAL on the monolith; a stopped sync fills its disk — run \
             `strangler sync run`, or `strangler sync teardown --service {}` if this sync is \
             abandoned",
            spec.slot,
            bytes >> 20,
            spec.service
        ));
    }
    let tables = spec
        .tables
        .iter()
        .map(|t| {
            let record = records.iter().find(|r| r.table == t.name);
            TableStatus {
                table: t.name.clone(),
                state: record.map_or(TableState::Init, |r| r.state),
                rows_copied: record.map_or(0, |r| r.rows_copied),
                error: record.and_then(|r| r.error.clone()),
            }
        })
        .collect();
    Ok(ServiceStatus {
        service: spec.service.clone(),
        slot: spec.slot.clone(),
        slot_exists: slot.is_some(),
        slot_active: slot.as_ref().is_some_and(|r| r.get::<_, bool>(0)),
        retained_wal_bytes: retained,
        applied_lsn: applied.map(|l| l.to_string()),
        source_lsn,
        lag_bytes,
        lag_seconds,
        tables,
        warnings,
    })
}

/// A replication slot on the monolith named like strangler's
/// (`strangler_…`) that no stream of the plan uses: left by a service
/// removed from the plan, or whose tables all went back to `monolith`. It
/// keeps WAL on the monolith's disk until it is dropped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrphanSlot {
    /// The slot's name.
    pub slot: String,
    /// Whether something is connected to it now.
    pub active: bool,
    /// WAL it keeps on the monolith's disk, in bytes.
    pub retained_wal_bytes: Option<i64>,
}

impl OrphanSlot {
    /// What to tell the user about it: what it costs and the command that
    /// drops it.
    #[must_use]
    pub fn warning(&self) -> String {
        let kept = self.retained_wal_bytes.map_or_else(
            || "no WAL yet".to_owned(),
            |b| format!("{} MiB of WAL", b >> 20),
        );
        format!(
            "slot {} on the monolith belongs to no stream of the plan and keeps {kept} there{}; \
             drop it with `strangler sync teardown --slot {}` if its service is gone for good",
            self.slot,
            if self.active {
                " (something is connected to it)"
            } else {
                ""
            },
            self.slot
        )
    }
}

/// The slots on the monolith (`monolith_url`) named like strangler's that
/// are not in `known` (the plan's streams), by name.
pub(crate) async fn orphan_slots(
    monolith_url: &str,
    known: &[String],
) -> Result<Vec<OrphanSlot>, Error> {
    let source = connect(monolith_url, "the monolith's database").await?;
    let rows = source
        .query(
            "SELECT slot_name::text, active, \
             pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint \
             FROM pg_replication_slots WHERE slot_name LIKE 'strangler\\_%' ORDER BY slot_name",
            &[],
        )
        .await
        .ctx(|| "listing the monolith's replication slots".to_owned())?;
    Ok(rows
        .iter()
        .map(|r| OrphanSlot {
            slot: r.get(0),
            active: r.get(1),
            retained_wal_bytes: r.get(2),
        })
        .filter(|o| !known.contains(&o.slot))
        .collect())
}
