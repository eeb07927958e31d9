//! `strangler sync teardown`: drops the slot and the publication on the
//! monolith and the sync's bookkeeping on the service, leaving the
//! service's data in place.

use crate::connect::connect;
use crate::error::{Context as _, Error};
use crate::spec::{SyncSpec, quote_ident};

/// What teardown removed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TeardownReport {
    /// The service.
    pub service: String,
    /// The slot's name.
    pub slot: String,
    /// The publication's name.
    pub publication: String,
    /// The slot was dropped (false: there was none).
    pub slot_dropped: bool,
    /// The publication was dropped (false: there was none).
    pub publication_dropped: bool,
    /// Bookkeeping rows removed on the service's database.
    pub state_rows_removed: u64,
}

/// Tears down `spec`'s sync. Refuses while a sync is connected to the slot.
pub async fn teardown(spec: &SyncSpec) -> Result<TeardownReport, Error> {
    let source = connect(&spec.source, "the monolith's database").await?;
    let what = || format!("tearing down the sync of {}", spec.service);
    let mut report = TeardownReport {
        service: spec.service.clone(),
        slot: spec.slot.clone(),
        publication: spec.publication.clone(),
        ..TeardownReport::default()
    };
    let slot = source
        .query_opt(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
            &[&spec.slot],
        )
        .await
        .ctx(what)?;
    if let Some(row) = slot {
        if let Some(pid) = row.get::<_, Option<i32>>(0) {
            return Err(Error::Other(format!(
                "slot {} is in use by process {pid}; stop `strangler sync run` first",
                spec.slot
            )));
        }
        source
            .execute("SELECT pg_drop_replication_slot($1)", &[&spec.slot])
            .await
            .ctx(what)?;
        report.slot_dropped = true;
    }
    let publication = source
        .query_opt(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&spec.publication],
        )
        .await
        .ctx(what)?;
    if publication.is_some() {
        source
            .batch_execute(&format!(
                "DROP PUBLICATION {}",
                quote_ident(&spec.publication)
            ))
            .await
            .ctx(what)?;
        report.publication_dropped = true;
    }
    let target = connect(&spec.target, "the service's database").await?;
    if crate::state::has_schema(&target).await? {
        report.state_rows_removed = target
            .execute(
                "DELETE FROM strangler.table_state WHERE service = $1",
                &[&spec.service],
            )
            .await
            .ctx(what)?
            + target
                .execute(
                    "DELETE FROM strangler.progress WHERE slot = $1",
                    &[&spec.slot],
                )
                .await
                .ctx(what)?;
    }
    Ok(report)
}

/// Drops `slot`, a slot of strangler's on the monolith (`monolith_url`)
/// that no stream of the plan uses (see [`crate::OrphanSlot`]), and the
/// publication of the same name. Refuses a name that is not strangler's, a
/// slot of a stream in the plan (`known`: that is `--service`'s job, which
/// also clears the service's bookkeeping), and a slot in use.
pub(crate) async fn drop_orphan(
    monolith_url: &str,
    slot: &str,
    known: &[String],
) -> Result<TeardownReport, Error> {
    if !slot.starts_with("strangler_") {
        return Err(Error::Plan(format!(
            "slot {slot} is not one of strangler's (they are named strangler_<service>); \
             strangler leaves it alone"
        )));
    }
    if known.iter().any(|k| k == slot) {
        return Err(Error::Plan(format!(
            "slot {slot} is the stream of a service in the plan; tear it down with \
             `strangler sync teardown --service <name>`, which also clears its bookkeeping"
        )));
    }
    let source = connect(monolith_url, "the monolith's database").await?;
    let what = || format!("dropping slot {slot}");
    let row = source
        .query_opt(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .ctx(what)?;
    let Some(row) = row else {
        return Err(Error::Plan(format!(
            "there is no slot {slot} on the monolith; `strangler sync status` lists the ones left"
        )));
    };
    if let Some(pid) = row.get::<_, Option<i32>>(0) {
        return Err(Error::Other(format!(
            "slot {slot} is in use by process {pid}; stop what reads it first"
        )));
    }
    source
        .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .ctx(what)?;
    let publication = source
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[&slot])
        .await
        .ctx(what)?;
    if publication.is_some() {
        source
            .batch_execute(&format!("DROP PUBLICATION {}", quote_ident(slot)))
            .await
            .ctx(what)?;
    }
    Ok(TeardownReport {
        service: "(not in the plan)".to_owned(),
        slot: slot.to_owned(),
        publication: slot.to_owned(),
        slot_dropped: true,
        publication_dropped: publication.is_some(),
        state_rows_removed: 0,
    })
}
