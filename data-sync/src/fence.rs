//! The database fence of a cutover or rollback: a trigger on each moving
//! table that refuses every write by anyone but strangler, naming the
//! service the table belongs to.
//!
//! The trigger is an ordinary (`ENABLE ORIGIN`) trigger, so it does not
//! fire in sessions with `session_replication_role = replica`, which is
//! how every strangler apply session runs: the sync's own writes pass, a
//! background job's or an old code path's are refused. The trigger is its
//! own record: it is there or it is not, and creating or dropping it again
//! changes nothing.

use std::time::Duration;

use tokio_postgres::Client;

use crate::error::{Context as _, Error};
use crate::lsn::Lsn;
use crate::spec::{TableName, quote_ident, quote_literal};

/// The row trigger's name on a fenced table.
const ROW_TRIGGER: &str = "strangler_fence";
/// The TRUNCATE trigger's name.
const TRUNCATE_TRIGGER: &str = "strangler_fence_truncate";

/// The function both triggers call: `TG_ARGV[0]` is the owning service,
/// `TG_ARGV[1]` why the table is fenced.
const FUNCTION_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS strangler;
CREATE OR REPLACE FUNCTION strangler.fence() RETURNS trigger LANGUAGE plpgsql AS $fence$
BEGIN
    RAISE EXCEPTION 'table %.% is written only through service % (%)',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
        USING ERRCODE = '55000',
              HINT = 'strangler moved this table; write it through the service''s API';
END
$fence$;
";

/// Fences `tables` in one transaction. Taking each trigger waits for the
/// transactions that are writing the table to end, at most `lock_timeout`
/// (then nothing is fenced and the error says so).
pub(crate) async fn fence(
    client: &mut Client,
    tables: &[TableName],
    service: &str,
    reason: &str,
    lock_timeout: Duration,
) -> Result<(), Error> {
    let what = || format!("fencing writes to {} for service {service}", names(tables));
    let tx = client.transaction().await.ctx(what)?;
    let ms = lock_timeout.as_millis().max(1);
    tx.batch_execute(&format!("SET LOCAL lock_timeout = {ms}"))
        .await
        .ctx(what)?;
    tx.batch_execute(FUNCTION_SQL).await.ctx(what)?;
    let args = format!("{}, {}", quote_literal(service), quote_literal(reason));
    for table in tables {
        let t = table.quoted();
        tx.batch_execute(&format!(
            "DROP TRIGGER IF EXISTS {row} ON {t};
             CREATE TRIGGER {row} BEFORE INSERT OR UPDATE OR DELETE ON {t}
                 FOR EACH ROW EXECUTE FUNCTION strangler.fence({args});
             DROP TRIGGER IF EXISTS {trunc} ON {t};
             CREATE TRIGGER {trunc} BEFORE TRUNCATE ON {t}
                 FOR EACH STATEMENT EXECUTE FUNCTION strangler.fence({args});",
            row = quote_ident(ROW_TRIGGER),
            trunc = quote_ident(TRUNCATE_TRIGGER),
        ))
        .await
        .ctx(what)?;
    }
    tx.commit().await.ctx(what)
}

/// Lifts the fence from `tables`; a table without one, or gone, is fine.
pub(crate) async fn unfence(client: &Client, tables: &[TableName]) -> Result<(), Error> {
    for table in tables {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table.quoted()])
            .await
            .ctx(|| format!("looking for {table}"))?
            .get(0);
        if !exists {
            continue;
        }
        client
            .batch_execute(&format!(
                "DROP TRIGGER IF EXISTS {} ON {t}; DROP TRIGGER IF EXISTS {} ON {t};",
                quote_ident(ROW_TRIGGER),
                quote_ident(TRUNCATE_TRIGGER),
                t = table.quoted(),
            ))
            .await
            .ctx(|| format!("lifting the write fence from {table}"))?;
    }
    Ok(())
}

/// Writes a transactional logical message into the WAL and returns its
/// position: once a stream from this database has applied up to it, every
/// transaction that committed before it (every write the fence let
/// finish) is applied too. A message, unlike a bare WAL position, reaches
/// the stream even when nothing else is written.
pub(crate) async fn mark(client: &Client, what: &str) -> Result<Lsn, Error> {
    let lsn: String = client
        .query_one(
            "SELECT pg_logical_emit_message(true, 'strangler', $1)::text",
            &[&what],
        )
        .await
        .ctx(|| "writing a position mark into the WAL".to_owned())?
        .get(0);
    lsn.parse().map_err(Error::Other)
}

fn names(tables: &[TableName]) -> String {
    tables
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
