//! The snapshot copy: binary `COPY` from the monolith, inside the slot's
//! exported snapshot, straight into `COPY … FROM STDIN` on the service.
//! Tables copy in parallel, and big tables in ctid ranges (TID range scans);
//! a table's deferred indexes are built once its last range is in.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_util::{SinkExt as _, StreamExt as _};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::connect::connect;
use crate::error::{Context as _, Error};
use crate::preflight::CheckedTable;
use crate::spec::quote_ident;

/// Blocks per ctid range: 8192 blocks are 64 MiB.
const RANGE_BLOCKS: i64 = 8192;

/// Bytes per `CopyData` message sent to the service.
const COPY_CHUNK: usize = 256 << 10;

/// How the copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Parallel COPY streams (each holds a connection on both sides).
    pub workers: usize,
    /// Draw progress bars on stderr.
    pub progress: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            workers: 4,
            progress: false,
        }
    }
}

struct Job {
    table: usize,
    /// `[from, to)` in blocks; `to = None` runs to the end of the table.
    range: Option<(i64, Option<i64>)>,
}

struct TableProgress {
    remaining: AtomicUsize,
    rows: AtomicU64,
    bar: ProgressBar,
}

/// Copies `tables` as of `snapshot` from `source_url` into `target_url`,
/// truncating the targets first. Returns the rows copied per table.
#[allow(clippy::too_many_lines)] // planning, spawning and joining read best in one place
pub async fn copy_tables(
    source_url: &str,
    target_url: &str,
    snapshot: &str,
    tables: &[CheckedTable],
    options: &CopyOptions,
) -> Result<Vec<u64>, Error> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let target = connect(target_url, "the service's database").await?;
    let names: Vec<String> = tables.iter().map(|t| t.spec.table.quoted()).collect();
    target
        .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
        .await
        .ctx(|| "emptying the service's tables before the copy".to_owned())?;
    drop(target);

    let workers = options.workers.max(1);
    let multi = MultiProgress::with_draw_target(if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix:>24} [{bar:30}] {human_pos}/{human_len} rows {per_sec} {elapsed}",
    )
    .map_err(|e| Error::Other(e.to_string()))?
    .progress_chars("=> ");
    let mut jobs = Vec::new();
    let mut progress = Vec::new();
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tables[i].source.blocks));
    for &i in &order {
        let t = &tables[i];
        let ranges = (t.source.blocks / RANGE_BLOCKS)
            .clamp(1, i64::try_from(workers * 2).unwrap_or(i64::MAX));
        let per = (t.source.blocks / ranges).max(1);
        if ranges == 1 {
            jobs.push(Job {
                table: i,
                range: None,
            });
        } else {
            for r in 0..ranges {
                let to = (r + 1 < ranges).then_some((r + 1) * per);
                jobs.push(Job {
                    table: i,
                    range: Some((r * per, to)),
                });
            }
        }
        let bar = multi.add(ProgressBar::new(t.source.estimated_rows.max(0) as u64));
        bar.set_style(style.clone());
        bar.set_prefix(t.spec.name.clone());
        progress.push((i, ranges as usize, bar));
    }
    progress.sort_by_key(|(i, _, _)| *i);
    let progress: Arc<Vec<TableProgress>> = Arc::new(
        progress
            .into_iter()
            .map(|(_, ranges, bar)| TableProgress {
                remaining: AtomicUsize::new(ranges),
                rows: AtomicU64::new(0),
                bar,
            })
            .collect(),
    );
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let tables = Arc::new(tables.to_vec());
    // A JoinSet aborts the workers if this future is dropped (a join
    // cancelled by a plan change or shutdown): no COPY outlives its caller.
    let mut handles = tokio::task::JoinSet::new();
    for _ in 0..workers.min(queue.lock().await.len()) {
        let queue = Arc::clone(&queue);
        let tables = Arc::clone(&tables);
        let progress = Arc::clone(&progress);
        let source_url = source_url.to_owned();
        let target_url = target_url.to_owned();
        let snapshot = snapshot.to_owned();
        handles.spawn(async move {
            worker(
                &source_url,
                &target_url,
                &snapshot,
                &tables,
                &queue,
                &progress,
            )
            .await
        });
    }
    let mut first_error = None;
    while let Some(joined) = handles.join_next().await {
        let result = joined
            .map_err(|e| Error::Other(format!("copy worker failed: {e}")))
            .and_then(|r| r);
        if let Err(e) = result {
            queue.lock().await.clear();
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(progress
        .iter()
        .map(|p| {
            p.bar.finish();
            p.rows.load(Ordering::Relaxed)
        })
        .collect())
}

async fn worker(
    source_url: &str,
    target_url: &str,
    snapshot: &str,
    tables: &[CheckedTable],
    queue: &Mutex<VecDeque<Job>>,
    progress: &[TableProgress],
) -> Result<(), Error> {
    let source = connect(source_url, "the monolith's database").await?;
    source
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
            crate::spec::quote_literal(snapshot)
        ))
        .await
        .ctx(|| "importing the slot's snapshot on the monolith".to_owned())?;
    let mut target = connect(target_url, "the service's database").await?;
    target
        .batch_execute("SET session_replication_role = replica; SET synchronous_commit = off")
        .await
        .ctx(|| "preparing the service's session".to_owned())?;
    loop {
        let Some(job) = queue.lock().await.pop_front() else {
            break;
        };
        let table = &tables[job.table];
        tracing::debug!("copying {} range {:?}", table.spec.name, job.range);
        let started = std::time::Instant::now();
        let rows = copy_range(&source, &target, table, job.range, &progress[job.table].bar).await?;
        let p = &progress[job.table];
        p.rows.fetch_add(rows, Ordering::Relaxed);
        tracing::debug!(
            "copied {rows} rows of {} in {:.2} s",
            table.spec.name,
            started.elapsed().as_secs_f64()
        );
        if p.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            p.bar.set_message("indexes");
            let started = std::time::Instant::now();
            crate::schema::build_deferred(&mut target, &table.spec.name).await?;
            tracing::debug!(
                "built the deferred indexes of {} in {:.2} s",
                table.spec.name,
                started.elapsed().as_secs_f64()
            );
            let total = p.rows.load(Ordering::Relaxed);
            p.bar.set_length(total);
            p.bar.set_position(total);
        }
    }
    source
        .batch_execute("COMMIT")
        .await
        .ctx(|| "ending the snapshot transaction".to_owned())?;
    Ok(())
}

async fn copy_range(
    source: &Client,
    target: &Client,
    table: &CheckedTable,
    range: Option<(i64, Option<i64>)>,
    bar: &ProgressBar,
) -> Result<u64, Error> {
    let mapped = table.mapped_columns();
    let src_cols: Vec<String> = mapped.iter().map(|(s, _)| quote_ident(s)).collect();
    let dst_cols: Vec<String> = mapped.iter().map(|(_, t)| quote_ident(t)).collect();
    let binary = table
        .source
        .columns
        .iter()
        .filter(|c| table.spec.target_column(&c.name).is_some())
        .all(|c| c.binary_portable);
    let format = if binary { "binary" } else { "text" };
    let name = table.spec.table.quoted();
    let out_sql = match range {
        None => format!(
            "COPY {name} ({}) TO STDOUT (FORMAT {format})",
            src_cols.join(", ")
        ),
        Some((from, to)) => {
            let upper = to.map_or(String::new(), |to| format!(" AND ctid < '({to},0)'::tid"));
            format!(
                "COPY (SELECT {} FROM {name} WHERE ctid >= '({from},0)'::tid{upper}) \
                 TO STDOUT (FORMAT {format})",
                src_cols.join(", ")
            )
        }
    };
    let what = || format!("copying {}", table.spec.name);
    // A table copied whole is emptied again in the COPY's own transaction,
    // so its rows can be written frozen (`FREEZE`): no hint bits to set and
    // no pages to dirty again when the index build first reads them. When
    // the table cannot be truncated alone (a foreign key points at it), it
    // is copied plainly.
    let freeze = range.is_none()
        && if let Err(e) = target
            .batch_execute(&format!("BEGIN; TRUNCATE ONLY {name}"))
            .await
        {
            tracing::debug!("copying {} without FREEZE: {e}", table.spec.name);
            target.batch_execute("ROLLBACK").await.ctx(what)?;
            false
        } else {
            true
        };
    let in_sql = format!(
        "COPY {name} ({}) FROM STDIN (FORMAT {format}{})",
        dst_cols.join(", "),
        if freeze { ", FREEZE" } else { "" }
    );
    let out = source.copy_out(out_sql.as_str()).await.ctx(what)?;
    let sink = target.copy_in(in_sql.as_str()).await.ctx(what)?;
    futures_util::pin_mut!(out);
    futures_util::pin_mut!(sink);
    // The monolith sends one message per row; the service gets them in
    // large messages (the driver would cut them at 4 KiB), which saves a
    // wake-up of the connection task and a message on both ends per row.
    let mut buf = bytes::BytesMut::with_capacity(COPY_CHUNK * 2);
    let mut chunks = 0u64;
    while let Some(chunk) = out.next().await {
        let chunk = chunk.ctx(what)?;
        buf.extend_from_slice(&chunk);
        if buf.len() >= COPY_CHUNK {
            sink.feed(buf.split().freeze()).await.ctx(what)?;
        }
        chunks += 1;
        if chunks.is_multiple_of(4096) {
            bar.inc(4096);
        }
    }
    if !buf.is_empty() {
        sink.feed(buf.split().freeze()).await.ctx(what)?;
    }
    let rows = sink.as_mut().finish().await.ctx(what)?;
    if freeze {
        target.batch_execute("COMMIT").await.ctx(what)?;
    }
    bar.inc(chunks % 4096);
    Ok(rows)
}
