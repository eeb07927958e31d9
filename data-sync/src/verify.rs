//! `strangler sync verify`: row counts and an order-independent hash
//! (`bit_xor(hashtextextended(row::text, 0))`) per primary-key range on
//! both sides, at a consistent point: the source is read in one snapshot
//! whose WAL position the target is then waited for. Ranges that differ are
//! checked again (writes may have moved on meanwhile) before being reported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::catalog::{self, TableInfo};
use crate::connect::connect;
use crate::error::{Context as _, Error};
use crate::lsn::Lsn;
use crate::spec::{SyncSpec, TableSpec, quote_ident};

/// How verify runs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// How long to wait for the sync to apply up to the source's position.
    pub timeout: Duration,
    /// How many times a differing range is checked again.
    pub rechecks: u32,
    /// Target rows per key range.
    pub rows_per_range: i64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            timeout: Duration::from_secs(60),
            rechecks: 3,
            rows_per_range: 100_000,
        }
    }
}

/// One service's verification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// The service.
    pub service: String,
    /// The source WAL position the comparison was made at.
    pub lsn: String,
    /// Per table.
    pub tables: Vec<TableVerify>,
}

impl VerifyReport {
    /// Whether every table matched.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.tables.iter().all(|t| t.mismatches.is_empty())
    }
}

/// One table's verification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableVerify {
    /// The table as the plan names it.
    pub table: String,
    /// Rows on the monolith.
    pub source_rows: i64,
    /// Rows on the service.
    pub target_rows: i64,
    /// Key ranges compared.
    pub ranges: usize,
    /// Ranges that differ.
    pub mismatches: Vec<RangeMismatch>,
}

/// A key range whose count or hash differs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RangeMismatch {
    /// The range's first key (inclusive), when the table is split by key.
    pub from: Option<i64>,
    /// The range's end (exclusive; `i64::MAX` when the range runs to the
    /// largest bigint, which it then includes).
    pub to: Option<i64>,
    /// Rows in the range on the monolith.
    pub source_rows: i64,
    /// Rows in the range on the service.
    pub target_rows: i64,
    /// The range's hash on the monolith.
    pub source_hash: i64,
    /// The range's hash on the service.
    pub target_hash: i64,
}

/// How a table is split: `bucket = floor((key - low) / width)` on an
/// integer key, computed in `numeric` (SQL) and `i128` (here), so that keys
/// anywhere in the type's domain, `-2^63` to `2^63 - 1`, cannot overflow.
#[derive(Debug, Clone, Copy)]
struct Split {
    low: i64,
    width: i128,
    buckets: i64,
}

impl Split {
    /// Splits `[low, high]` into `buckets` ranges of equal width.
    fn new(low: i64, high: i64, buckets: i64) -> Split {
        let span = i128::from(high) - i128::from(low) + 1;
        let buckets = buckets.max(1);
        let width = (span + i128::from(buckets) - 1) / i128::from(buckets);
        Split {
            low,
            width: width.max(1),
            buckets,
        }
    }

    /// The SQL for a key's bucket. Keys outside `[low, high]` (rows only
    /// the service has) go to bucket `-1` (below) or `buckets` (above).
    fn bucket_sql(self, key: &str) -> String {
        // `div` truncates exactly; `/` on numeric rounds its quotient, which
        // can carry a key into the next bucket.
        format!(
            "CASE WHEN {key} < '{low}'::bigint THEN -1 ELSE least(div({key}::numeric - \
             '{low}'::numeric, '{width}'::numeric), {buckets}) END::bigint",
            low = self.low,
            width = self.width,
            buckets = self.buckets
        )
    }

    /// Bucket `b`'s keys, `[from, to)`, or a superset of them where a bound
    /// would not fit a bigint (`to = None`: no upper bound). A query
    /// filtered by it still groups by [`Split::bucket_sql`].
    fn range(self, bucket: i64) -> (i64, Option<i64>) {
        if bucket < 0 {
            return (i64::MIN, Some(self.low));
        }
        let at = |b: i64| i128::from(self.low) + i128::from(b) * self.width;
        let from = i64::try_from(at(bucket)).unwrap_or(i64::MAX);
        (from, i64::try_from(at(bucket + 1)).ok())
    }
}

type Buckets = BTreeMap<i64, (i64, i64)>;

struct Sides<'a> {
    table: &'a TableSpec,
    source_cols: Vec<String>,
    target_cols: Vec<String>,
    key_source: String,
    key_target: String,
    split: Option<Split>,
}

impl Sides<'_> {
    fn query(&self, target: bool, only: Option<i64>) -> String {
        let cols = if target {
            &self.target_cols
        } else {
            &self.source_cols
        };
        let key = if target {
            &self.key_target
        } else {
            &self.key_source
        };
        let hash = format!("hashtextextended(ROW({})::text, 0)", cols.join(", "));
        let name = self.table.table.quoted();
        match self.split {
            None => format!("SELECT 0::bigint, count(*), coalesce(bit_xor({hash}), 0) FROM {name}"),
            Some(s) => {
                let bucket = s.bucket_sql(key);
                let filter = only.map_or(String::new(), |b| {
                    let (from, to) = s.range(b);
                    let upper =
                        to.map_or(String::new(), |to| format!(" AND {key} < '{to}'::bigint"));
                    format!(" WHERE {key} >= '{from}'::bigint{upper}")
                });
                format!(
                    "SELECT {bucket} AS b, count(*), coalesce(bit_xor({hash}), 0) FROM {name}{filter} \
                     GROUP BY 1"
                )
            }
        }
    }
}

async fn buckets(client: &Client, sql: &str) -> Result<Buckets, Error> {
    Ok(client
        .query(sql, &[])
        .await
        .ctx(|| format!("hashing: {sql}"))?
        .iter()
        .map(|r| (r.get::<_, i64>(0), (r.get::<_, i64>(1), r.get::<_, i64>(2))))
        .collect())
}

/// Opens a repeatable-read snapshot on the source and returns its WAL
/// position; everything committed before it is visible.
async fn source_snapshot(source: &Client) -> Result<Lsn, Error> {
    source
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .ctx(|| "opening a snapshot on the monolith".to_owned())?;
    let lsn: String = source
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .ctx(|| "reading the monolith's WAL position".to_owned())?
        .get(0);
    lsn.parse().map_err(Error::Other)
}

/// Waits until `target` has applied `slot`'s stream up to `lsn`, polling
/// its bookkeeping; `what` names who waits, for the timeout's message.
pub(crate) async fn wait_applied(
    target: &Client,
    slot: &str,
    lsn: Lsn,
    timeout: Duration,
    what: &str,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let applied = crate::state::applied_lsn(target, slot).await?;
        if applied.is_some_and(|a| a >= lsn) {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(Error::Other(format!(
                "the target database has applied {slot}'s stream up to {} but {what} needs \
                 {lsn}; is `strangler sync run` running?",
                applied.map_or("nothing".to_owned(), |a| a.to_string())
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Verifies every table of `spec`.
#[allow(clippy::too_many_lines)] // split planning, hashing and rechecks read in order
pub async fn verify(spec: &SyncSpec, options: &VerifyOptions) -> Result<VerifyReport, Error> {
    let source = connect(&spec.source, "the monolith's database").await?;
    let target = connect(&spec.target, "the service's database").await?;
    let mut infos = Vec::new();
    for table in &spec.tables {
        let info: TableInfo = catalog::table_info(&source, &table.table)
            .await?
            .ok_or_else(|| {
                Error::Plan(format!(
                    "table {} does not exist on the monolith",
                    table.name
                ))
            })?;
        infos.push(info);
    }
    let lsn = source_snapshot(&source).await?;
    let mut plans = Vec::new();
    let mut source_sides = Vec::new();
    for (table, info) in spec.tables.iter().zip(&infos) {
        let mapped: Vec<(&str, &str)> = info
            .columns
            .iter()
            .filter_map(|c| table.target_column(&c.name).map(|t| (c.name.as_str(), t)))
            .collect();
        let key = info
            .identity()
            .and_then(|k| k.first())
            .ok_or_else(|| Error::Plan(format!("table {} has no key", table.name)))?;
        let key_col = info.column(key);
        let int_key = key_col.is_some_and(|c| matches!(c.type_oid, 20 | 21 | 23));
        let mut split = None;
        if int_key {
            let row = source
                .query_one(
                    &format!(
                        "SELECT min({k})::bigint, max({k})::bigint, count(*) FROM {}",
                        table.table.quoted(),
                        k = quote_ident(key)
                    ),
                    &[],
                )
                .await
                .ctx(|| format!("sizing {}", table.name))?;
            if let (Some(low), Some(high)) =
                (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
            {
                let count: i64 = row.get(2);
                let buckets = (count / options.rows_per_range.max(1)).clamp(1, 1024);
                split = Some(Split::new(low, high, buckets));
            }
        }
        let sides = Sides {
            table,
            source_cols: mapped.iter().map(|(s, _)| quote_ident(s)).collect(),
            target_cols: mapped.iter().map(|(_, t)| quote_ident(t)).collect(),
            key_source: quote_ident(key),
            key_target: quote_ident(table.target_column(key).unwrap_or(key)),
            split,
        };
        source_sides.push(buckets(&source, &sides.query(false, None)).await?);
        plans.push(sides);
    }
    source
        .batch_execute("COMMIT")
        .await
        .ctx(|| "closing the snapshot".to_owned())?;
    wait_applied(&target, &spec.slot, lsn, options.timeout, "verify").await?;
    let mut tables = Vec::new();
    for (sides, source_buckets) in plans.iter().zip(source_sides) {
        let target_buckets = buckets(&target, &sides.query(true, None)).await?;
        let mut differing: Vec<i64> = source_buckets
            .keys()
            .chain(target_buckets.keys())
            .copied()
            .filter(|b| source_buckets.get(b) != target_buckets.get(b))
            .collect();
        differing.sort_unstable();
        differing.dedup();
        let mut mismatches = Vec::new();
        for bucket in differing {
            let mut last = (
                source_buckets.get(&bucket).copied().unwrap_or((0, 0)),
                target_buckets.get(&bucket).copied().unwrap_or((0, 0)),
            );
            let mut matched = false;
            if sides.split.is_some() {
                for _ in 0..options.rechecks {
                    let at = source_snapshot(&source).await?;
                    let s = buckets(&source, &sides.query(false, Some(bucket))).await?;
                    source
                        .batch_execute("COMMIT")
                        .await
                        .ctx(|| "closing the snapshot".to_owned())?;
                    wait_applied(&target, &spec.slot, at, options.timeout, "verify").await?;
                    let t = buckets(&target, &sides.query(true, Some(bucket))).await?;
                    last = (
                        s.get(&bucket).copied().unwrap_or((0, 0)),
                        t.get(&bucket).copied().unwrap_or((0, 0)),
                    );
                    if last.0 == last.1 {
                        matched = true;
                        break;
                    }
                }
            }
            if !matched {
                let range = sides.split.map(|s| {
                    let (from, to) = s.range(bucket);
                    (from, to.unwrap_or(i64::MAX))
                });
                mismatches.push(RangeMismatch {
                    from: range.map(|r| r.0),
                    to: range.map(|r| r.1),
                    source_rows: last.0.0,
                    target_rows: last.1.0,
                    source_hash: last.0.1,
                    target_hash: last.1.1,
                });
            }
        }
        tables.push(TableVerify {
            table: sides.table.name.clone(),
            source_rows: source_buckets.values().map(|v| v.0).sum(),
            target_rows: target_buckets.values().map(|v| v.0).sum(),
            ranges: sides.split.map_or(1, |s| s.buckets as usize),
            mismatches,
        });
    }
    Ok(VerifyReport {
        service: spec.service.clone(),
        lsn: lsn.to_string(),
        tables,
    })
}
