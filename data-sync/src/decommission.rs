//! `strangler decommission`: retiring the monolith's copy of an `owned`
//! table once nothing reads it there.
//!
//! It refuses, naming who, while a reader remains: code the plan leaves in
//! the monolith that reads the table (the analysis's `readers`, against the
//! service's `members`), or reads of the copy seen on the monolith's
//! database during a watch window. Then it takes the table out of the
//! reverse stream and waits until the stream has applied what it carried
//! before (a mark in the service's WAL), archives the copy to a file
//! (`--restore` loads it back) and moves it into the `strangler_archive`
//! schema (or drops it with `--drop`) in one transaction holding the
//! table's lock, and sets the plan's stage to `decommissioned`. Each step
//! is idempotent and a re-run after a crash picks up where the table is.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde::Serialize;
use strangler_plan::{PlanFile, TableStage};
use tokio_postgres::Client;

use crate::connect::{SESSION_NAME, connect};
use crate::error::{Context as _, Error};
use crate::fence;
use crate::metrics::Metrics;
use crate::publication::ensure_publication;
use crate::spec::{Direction, TableName, quote_ident, resolve_reverse, stream_name};
use crate::state;
use crate::verify::wait_applied;

/// The schema a decommissioned table moves to unless it is dropped.
pub const ARCHIVE_SCHEMA: &str = "strangler_archive";

/// How long the decommission waits for the reverse stream to apply what it
/// carried before the table left it, and for the table's lock.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What to decommission.
#[derive(Debug, Clone)]
pub struct DecommissionRequest {
    /// The plan file; the last step saves it.
    pub plan_path: PathBuf,
    /// The owning service.
    pub service: String,
    /// The table, as the plan names it.
    pub table: String,
    /// Where the archive goes.
    pub archive: PathBuf,
    /// Drop the monolith's copy instead of moving it to
    /// [`ARCHIVE_SCHEMA`].
    pub drop: bool,
    /// How long to watch the monolith's copy for reads.
    pub watch: Duration,
}

/// What `decommission` did.
#[derive(Debug, Clone, Serialize)]
pub struct DecommissionReport {
    /// The service.
    pub service: String,
    /// The table.
    pub table: String,
    /// The archive file.
    pub archive: String,
    /// Rows archived.
    pub rows: u64,
    /// Where the monolith's copy went: `dropped` or `strangler_archive.T`.
    pub copy: String,
}

/// Decommissions the monolith's copy of an owned table (see the module).
#[allow(clippy::too_many_lines)] // the checks and steps, in the order they run
pub async fn decommission(request: &DecommissionRequest) -> Result<DecommissionReport, Error> {
    let mut file = PlanFile::open(&request.plan_path)?;
    let plan = file.ensure_valid()?.clone();
    let svc = plan.service(&request.service).ok_or_else(|| {
        Error::Plan(format!(
            "no service named `{}` in {}",
            request.service,
            request.plan_path.display()
        ))
    })?;
    let entry = svc
        .tables
        .iter()
        .find(|t| t.name == request.table)
        .ok_or_else(|| {
            Error::Plan(format!(
                "service {} has no table `{}` in {}",
                svc.name,
                request.table,
                request.plan_path.display()
            ))
        })?;
    let name = TableName::parse(&request.table);
    let archived = TableName {
        schema: ARCHIVE_SCHEMA.to_owned(),
        name: name.name.clone(),
    };
    let mut report = DecommissionReport {
        service: svc.name.clone(),
        table: request.table.clone(),
        archive: request.archive.display().to_string(),
        rows: 0,
        copy: if request.drop {
            "dropped".to_owned()
        } else {
            archived.to_string()
        },
    };
    if entry.stage == TableStage::Decommissioned {
        return Ok(report);
    }
    if entry.stage != TableStage::Owned {
        return Err(Error::Plan(format!(
            "table {} of service {} is at `{}`; only an `owned` table is decommissioned (cut it \
             over first: `strangler cutover --service {} --table {}`)",
            request.table, svc.name, entry.stage, svc.name, request.table
        )));
    }
    let still_there: Vec<&String> = entry
        .readers
        .iter()
        .filter(|r| {
            !svc.members
                .iter()
                .any(|m| m == *r || r.starts_with(&format!("{m}::")))
        })
        .collect();
    if !still_there.is_empty() {
        return Err(Error::Other(format!(
            "{} still read{} table {} from the monolith (the analysis's `readers` of the table, \
             not members of service {}); move that code to the service or change it to call \
             the service's API, run `strangler analyze --out` again, then decommission",
            still_there
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if still_there.len() == 1 { "s" } else { "" },
            request.table,
            svc.name
        )));
    }
    let monolith_url = plan
        .monolith
        .database
        .clone()
        .ok_or_else(|| Error::Plan("the plan's [monolith] has no `database`".to_owned()))?;
    let monolith = connect(&monolith_url, "the monolith's database").await?;
    let live = exists(&monolith, &name).await?;
    if live {
        watch_reads(&monolith, &name, request.watch).await?;
        // The table leaves the reverse stream first, and what the stream
        // carried before that is applied, so the archive holds every write.
        let mut after = plan.clone();
        if let Some(s) = after.service_mut(&svc.name)
            && let Some(t) = s.tables.iter_mut().find(|t| t.name == request.table)
        {
            t.stage = TableStage::Decommissioned;
        }
        // The service's database, and whether its reverse publication goes
        // once the copy is retired (this was its last table).
        let mut own_last = None;
        if let Some(own_url) = &svc.database {
            let own = connect(own_url, &format!("service {}'s database", svc.name)).await?;
            let reverse = resolve_reverse(&after, Some(&svc.name))?.into_iter().next();
            let last = reverse.is_none();
            if let Some(spec) = reverse {
                ensure_publication(&own, &spec).await?;
            } else {
                // The last table: it leaves the publication, which stays
                // until the stream has drained through it (a stream whose
                // publication is gone stops before the mark).
                let publication = stream_name(&svc.name, Direction::Reverse);
                let published: bool = own
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_publication_rel r \
                         JOIN pg_publication p ON p.oid = r.prpubid \
                         WHERE p.pubname = $1 AND r.prrelid = to_regclass($2))",
                        &[&publication, &name.quoted()],
                    )
                    .await
                    .ctx(|| "reading the reverse publication".to_owned())?
                    .get(0);
                if published {
                    own.batch_execute(&format!(
                        "ALTER PUBLICATION {} DROP TABLE {}",
                        quote_ident(&publication),
                        name.quoted()
                    ))
                    .await
                    .ctx(|| format!("taking {name} out of the reverse publication"))?;
                }
            }
            let before = resolve_reverse(&plan, Some(&svc.name))?.into_iter().next();
            if let Some(spec) = before
                && state::has_schema(&monolith).await?
                && state::applied_lsn(&monolith, &spec.slot).await?.is_some()
            {
                let mark = fence::mark(&own, &format!("decommission {name}")).await?;
                wait_applied(
                    &monolith,
                    &spec.slot,
                    mark,
                    DRAIN_TIMEOUT,
                    &format!("the decommission of {name} (the writes before it left the stream)"),
                )
                .await?;
            }
            own_last = Some((own, last));
        }
        if state::has_schema(&monolith).await? {
            let metrics = Metrics::new(&stream_name(&svc.name, Direction::Reverse));
            state::remove_table(&monolith, &metrics, &svc.name, &request.table).await?;
        }
        report.rows = archive_and_retire(&monolith, &name, &request.archive, request.drop).await?;
        if let Some((own, true)) = &own_last {
            own.batch_execute(&format!(
                "DROP PUBLICATION IF EXISTS {}",
                quote_ident(&stream_name(&svc.name, Direction::Reverse))
            ))
            .await
            .ctx(|| "dropping the reverse publication".to_owned())?;
        }
        file = PlanFile::open(&request.plan_path)?;
    } else if !request.archive.exists() {
        return Err(Error::Other(format!(
            "the monolith has no table {name} any more and there is no archive at {}; restore \
             it from a backup before decommissioning",
            request.archive.display()
        )));
    }
    let mut plan = file.plan().clone();
    if let Some(s) = plan.service_mut(&request.service)
        && let Some(t) = s.tables.iter_mut().find(|t| t.name == request.table)
    {
        t.stage = TableStage::Decommissioned;
    }
    file.save(&plan)?;
    Ok(report)
}

/// Loads an archive written by [`decommission`] into `database`: the
/// table is created if it is missing, then its rows are copied in.
pub async fn restore(database: &str, archive: &Path) -> Result<u64, Error> {
    let text = std::fs::read_to_string(archive).ctx(|| format!("reading {}", archive.display()))?;
    let client = connect(database, "the database to restore into").await?;
    let (ddl, rest) = text.split_once("\n-- data\n").ok_or_else(|| {
        Error::Other(format!(
            "{} is not a strangler archive (no `-- data` line)",
            archive.display()
        ))
    })?;
    client
        .batch_execute(ddl)
        .await
        .ctx(|| format!("creating the table from {}", archive.display()))?;
    let (copy_sql, data) = rest
        .split_once('\n')
        .ok_or_else(|| Error::Other(format!("{} ends before its data", archive.display())))?;
    let copy_sql = copy_sql.trim_end_matches(';');
    let data = data.strip_suffix("\\.\n").unwrap_or(data);
    let sink = client
        .copy_in(copy_sql)
        .await
        .ctx(|| "starting the COPY".to_owned())?;
    futures_util::pin_mut!(sink);
    futures_util::SinkExt::send(&mut sink, bytes::Bytes::from(data.to_owned()))
        .await
        .ctx(|| "sending the rows".to_owned())?;
    sink.finish().await.ctx(|| "finishing the COPY".to_owned())
}

async fn exists(client: &Client, name: &TableName) -> Result<bool, Error> {
    Ok(client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name.quoted()])
        .await
        .ctx(|| format!("looking for {name}"))?
        .get(0))
}

/// Watches the copy for reads for `window`: a session of anyone but
/// strangler holding a lock on it, sampled every 50 ms, or scans counted by
/// `pg_stat_user_tables` in a second in which strangler wrote nothing to it
/// (the reverse stream's own updates scan it too, so seconds with writes
/// are not counted).
async fn watch_reads(client: &Client, name: &TableName, window: Duration) -> Result<(), Error> {
    let started = Instant::now();
    let mut last = scans(client, name).await?;
    let mut last_at = Instant::now();
    loop {
        let readers: Vec<String> = client
            .query(
                "SELECT DISTINCT format('pid %s (%s, user %s, %s, %s; last query: %s)', a.pid, \
                        coalesce(nullif(a.application_name, ''), 'no application name'), a.usename, \
                        a.state, l.mode, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 100)) \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND l.relation = to_regclass($1) AND a.pid <> pg_backend_pid() \
                   AND a.application_name NOT LIKE $2 || '%'",
                &[&name.quoted(), &SESSION_NAME],
            )
            .await
            .ctx(|| format!("watching {name} for readers"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !readers.is_empty() {
            return Err(Error::Other(format!(
                "{name} is still used on the monolith's database, by {}; find what reads it \
                 there and move it to the service before decommissioning",
                readers.join(", ")
            )));
        }
        if last_at.elapsed() >= Duration::from_secs(1) {
            let now = scans(client, name).await?;
            if now.writes == last.writes && now.reads > last.reads {
                return Err(Error::Other(format!(
                    "{name} was read {} time(s) on the monolith's database during the watch \
                     (pg_stat_user_tables), while nothing wrote it; find what reads it there \
                     and move it to the service before decommissioning",
                    now.reads - last.reads
                )));
            }
            last = now;
            last_at = Instant::now();
        }
        if started.elapsed() >= window {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Scans {
    reads: i64,
    writes: i64,
}

async fn scans(client: &Client, name: &TableName) -> Result<Scans, Error> {
    // The statistics a backend reports are flushed at most once a second;
    // a fresh snapshot is read each time.
    client
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .await
        .ctx(|| "reading table statistics".to_owned())?;
    let row = client
        .query_one(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0), \
                    n_tup_ins + n_tup_upd + n_tup_del \
             FROM pg_stat_user_tables WHERE relid = to_regclass($1)",
            &[&name.quoted()],
        )
        .await
        .ctx(|| format!("reading the statistics of {name}"))?;
    Ok(Scans {
        reads: row.get(0),
        writes: row.get(1),
    })
}

/// Archives the copy and moves it aside (or drops it) in one transaction
/// that holds the table's lock throughout, so no write falls between the
/// archive and the move. Killed midway, the transaction is undone and a
/// re-run starts again; the archive is renamed into place only once whole.
async fn archive_and_retire(
    client: &Client,
    name: &TableName,
    path: &Path,
    drop: bool,
) -> Result<u64, Error> {
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL lock_timeout = '{}ms'; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            DRAIN_TIMEOUT.as_millis(),
            name.quoted()
        ))
        .await
        .ctx(|| format!("locking {name} on the monolith to archive it"))?;
    let done = async {
        let rows = archive(client, name, path).await?;
        if drop {
            client
                .batch_execute(&format!("DROP TABLE {}", name.quoted()))
                .await
                .ctx(|| {
                    format!(
                        "dropping {name} on the monolith (if other tables reference it, drop \
                         their foreign keys first, or decommission without --drop)"
                    )
                })?;
        } else {
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; ALTER TABLE {} SET SCHEMA {schema}",
                    name.quoted(),
                    schema = quote_ident(ARCHIVE_SCHEMA)
                ))
                .await
                .ctx(|| format!("moving {name} into {ARCHIVE_SCHEMA} on the monolith"))?;
        }
        client
            .batch_execute("COMMIT")
            .await
            .ctx(|| format!("committing the decommission of {name}"))?;
        Ok(rows)
    }
    .await;
    if done.is_err() {
        // Best effort: the session ends with this client anyway.
        let _ = client.batch_execute("ROLLBACK").await;
    }
    done
}

/// Writes the copy's DDL and rows to `path` (a temporary file renamed into
/// place once synced); returns the rows.
async fn archive(client: &Client, name: &TableName, path: &Path) -> Result<u64, Error> {
    let columns: Vec<(String, String, bool)> = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
               AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
            &[&name.quoted()],
        )
        .await
        .ctx(|| format!("reading the columns of {name}"))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let list: Vec<String> = columns.iter().map(|(c, _, _)| quote_ident(c)).collect();
    let defs: Vec<String> = columns
        .iter()
        .map(|(c, t, nn)| {
            format!(
                "    {} {t}{}",
                quote_ident(c),
                if *nn { " NOT NULL" } else { "" }
            )
        })
        .collect();
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?,
    );
    let io = |e: std::io::Error| Error::Io {
        context: format!("writing {}", tmp.display()),
        source: e,
    };
    write!(
        out,
        "-- strangler archive of {name}\nCREATE TABLE IF NOT EXISTS {} (\n{}\n);\n-- data\n\
         COPY {} ({}) FROM STDIN;\n",
        name.quoted(),
        defs.join(",\n"),
        name.quoted(),
        list.join(", ")
    )
    .map_err(io)?;
    let stream = client
        .copy_out(&format!(
            "COPY {} ({}) TO STDOUT",
            name.quoted(),
            list.join(", ")
        ))
        .await
        .ctx(|| format!("archiving {name}"))?;
    futures_util::pin_mut!(stream);
    let mut rows = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ctx(|| format!("archiving {name}"))?;
        // One line per row in COPY's text format; a crate for counting
        // bytes would not pay for itself here.
        #[allow(clippy::naive_bytecount)]
        let lines = chunk.iter().filter(|b| **b == b'\n').count();
        rows += u64::try_from(lines).unwrap_or(0);
        out.write_all(&chunk).map_err(io)?;
    }
    out.write_all(b"\\.\n").map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).ctx(|| format!("moving the archive to {}", path.display()))?;
    Ok(rows)
}
