//! Applies decoded pgoutput messages to the service's database.
//!
//! Changes apply in source commit order. Consecutive changes of one kind to
//! one table (with the same columns present) are sent as one statement over
//! `unnest` of text arrays, cast to the column types: upserts for inserts
//! and full-row updates, `UPDATE … FROM` for updates that change the key or
//! leave unchanged TOAST values out, `DELETE … USING` for deletes. A run is
//! cut whenever a key repeats, so no statement touches a row twice. Inserts
//! say `OVERRIDING SYSTEM VALUE` and updates set the key only when it
//! changes, so a `GENERATED ALWAYS AS IDENTITY` key takes the source's
//! values; generated columns are not in the column lists at all.
//!
//! Several source transactions may share one target transaction, but a
//! source transaction is never split across two: the target commits only at
//! a source commit, and it records that commit's end LSN in
//! `strangler.progress` in the same transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pg_walstream::{ColumnData, LogicalReplicationMessage, TupleData};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::error::{Context as _, Error};
use crate::lsn::Lsn;
use crate::metrics::Metrics;
use crate::preflight::CheckedTable;
use crate::spec::quote_ident;
use crate::state::{self, TableState};

/// Rows per statement.
const RUN_ROWS: usize = 5000;
/// Bytes of values per statement.
const RUN_BYTES: usize = 16 << 20;
/// A target transaction commits at the next source commit once it holds
/// this many rows …
const TXN_ROWS: usize = 50_000;
/// … or is this old.
const TXN_AGE: Duration = Duration::from_millis(200);
/// With nothing more waiting, a target transaction commits once it is this
/// old (or when nothing arrives for this long): a commit per source
/// transaction would cap the apply rate at the target's commit rate.
const TXN_LINGER: Duration = Duration::from_millis(10);

/// One synced table as the applier sees it.
pub(crate) struct ApplyTable {
    pub(crate) checked: CheckedTable,
    /// Changes from transactions committed before this LSN are in the copy.
    pub(crate) snapshot_lsn: Lsn,
    /// Stopped (DDL change or apply error): its changes are skipped.
    pub(crate) failed: bool,
}

/// How one relation's tuples map onto its target table.
struct RelMap {
    table: usize,
    /// Source column position → target column position.
    cols: Vec<Option<usize>>,
    /// Target column names and SQL types.
    target_cols: Vec<(String, String)>,
    /// Source positions of the key columns.
    key_src: Vec<usize>,
    /// Target positions of the key columns.
    key_tgt: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Upsert,
    Update,
    Delete,
}

struct Run {
    rel: u32,
    kind: Kind,
    mask: Vec<bool>,
    arrays: Vec<Vec<Option<String>>>,
    keys: HashSet<Vec<Option<String>>>,
    rows: usize,
    bytes: usize,
}

type Row = Vec<Option<String>>;

/// A Relation message's schema, name and columns.
type SeenRelation = (Arc<str>, Arc<str>, Vec<pg_walstream::ColumnInfo>);

/// Applies a replication stream to the target.
pub(crate) struct Applier {
    client: Client,
    /// The slot whose applied LSN each commit records; `None` for a
    /// table's catch-up, whose position is not the service's.
    slot: Option<String>,
    service: String,
    pub(crate) tables: Vec<ApplyTable>,
    relations: HashMap<u32, Option<RelMap>>,
    /// A Relation for a table not in `tables` ends the stream (to restart
    /// with the plan's new tables) instead of being skipped: a reverse
    /// stream's publication only holds tables it must apply.
    restart_on_unknown: bool,
    /// Every Relation message seen, so a table that joins later can be
    /// mapped without waiting for the monolith to resend it.
    seen_relations: HashMap<u32, SeenRelation>,
    statements: HashMap<(usize, Kind, Vec<bool>), Statement>,
    run: Option<Run>,
    in_source_txn: bool,
    final_lsn: Lsn,
    target_open: bool,
    pending: Option<(Lsn, i64)>,
    opened_at: Instant,
    rows_in_txn: usize,
    persisted: Lsn,
    catch_up_to: Option<Lsn>,
    metrics: Arc<Metrics>,
}

fn text(col: &ColumnData) -> Result<Option<String>, Error> {
    if col.is_null() {
        return Ok(None);
    }
    String::from_utf8(col.as_bytes().to_vec())
        .map(Some)
        .map_err(|_| Error::Other("a value is not valid UTF-8".to_owned()))
}

impl Applier {
    /// Prepares the target session; `start` is the LSN the stream resumes at.
    pub(crate) async fn new(
        client: Client,
        slot: Option<&str>,
        service: &str,
        tables: Vec<ApplyTable>,
        start: Lsn,
        catch_up_to: Option<Lsn>,
        metrics: Arc<Metrics>,
    ) -> Result<Applier, Error> {
        client
            .batch_execute("SET session_replication_role = replica")
            .await
            .ctx(|| "preparing the apply session".to_owned())?;
        metrics.applied_lsn.fetch_max(start.0, Ordering::Relaxed);
        Ok(Applier {
            client,
            slot: slot.map(str::to_owned),
            service: service.to_owned(),
            tables,
            relations: HashMap::new(),
            restart_on_unknown: false,
            seen_relations: HashMap::new(),
            statements: HashMap::new(),
            run: None,
            in_source_txn: false,
            final_lsn: Lsn(0),
            target_open: false,
            pending: None,
            opened_at: Instant::now(),
            rows_in_txn: 0,
            persisted: start,
            catch_up_to,
            metrics,
        })
    }

    /// When the open target transaction should commit if nothing else
    /// arrives: it holds only complete source transactions.
    pub(crate) fn commit_deadline(&self) -> Option<Instant> {
        (self.target_open && !self.in_source_txn && self.pending.is_some())
            .then(|| self.opened_at + TXN_LINGER)
    }

    /// Waits until [`Self::commit_deadline`] as it stands now; forever when
    /// there is none.
    pub(crate) fn commit_due(&self) -> impl std::future::Future<Output = ()> + use<> {
        let deadline = self.commit_deadline();
        async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        }
    }

    /// Whether a source transaction is open (its commit not yet seen).
    pub(crate) fn in_source_txn(&self) -> bool {
        self.in_source_txn
    }

    /// Handles one decoded message. `more` says whether further messages
    /// are already waiting, which lets small transactions share a commit.
    pub(crate) async fn handle(
        &mut self,
        message: LogicalReplicationMessage,
        more: bool,
    ) -> Result<(), Error> {
        match message {
            LogicalReplicationMessage::Begin { final_lsn, .. } => {
                self.in_source_txn = true;
                self.final_lsn = Lsn(final_lsn);
                if !self.target_open {
                    self.client
                        .batch_execute("BEGIN")
                        .await
                        .ctx(|| "starting a target transaction".to_owned())?;
                    self.target_open = true;
                    self.opened_at = Instant::now();
                    self.rows_in_txn = 0;
                }
            }
            LogicalReplicationMessage::Commit {
                end_lsn, timestamp, ..
            } => {
                self.in_source_txn = false;
                self.pending = Some((Lsn(end_lsn), timestamp));
                self.metrics.transactions.fetch_add(1, Ordering::Relaxed);
                if !more || self.rows_in_txn >= TXN_ROWS || self.opened_at.elapsed() >= TXN_AGE {
                    self.commit().await?;
                }
            }
            LogicalReplicationMessage::Relation {
                relation_id,
                namespace,
                relation_name,
                columns,
                ..
            } => {
                self.flush().await?;
                let map = self.relation(&namespace, &relation_name, &columns).await?;
                self.relations.insert(relation_id, map);
                self.seen_relations
                    .insert(relation_id, (namespace, relation_name, columns));
            }
            LogicalReplicationMessage::Insert { relation_id, tuple } => {
                if let Some(row) = self.row(relation_id, &tuple)? {
                    let key = self.key_of(relation_id, &tuple)?;
                    let mask = vec![true; row.len()];
                    self.push(relation_id, Kind::Upsert, mask, key.clone(), key, row)
                        .await?;
                }
            }
            LogicalReplicationMessage::Update {
                relation_id,
                old_tuple,
                new_tuple,
                ..
            } => {
                self.update(relation_id, old_tuple.as_ref(), &new_tuple)
                    .await?;
            }
            LogicalReplicationMessage::Delete {
                relation_id,
                old_tuple,
                ..
            } if self.applies(relation_id) => {
                let key = self.key_of(relation_id, &old_tuple)?;
                self.push(
                    relation_id,
                    Kind::Delete,
                    Vec::new(),
                    key.clone(),
                    key,
                    Vec::new(),
                )
                .await?;
            }
            LogicalReplicationMessage::Truncate { relation_ids, .. } => {
                self.flush().await?;
                let names: Vec<String> = relation_ids
                    .iter()
                    .filter(|oid| self.applies(**oid))
                    .filter_map(|oid| self.relations.get(oid)?.as_ref())
                    .map(|m| self.tables[m.table].checked.spec.table.quoted())
                    .collect();
                if !names.is_empty() {
                    self.client
                        .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
                        .await
                        .ctx(|| "applying TRUNCATE".to_owned())?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether changes of this relation in the current transaction apply.
    fn applies(&self, rel: u32) -> bool {
        match self.relations.get(&rel) {
            Some(Some(map)) => {
                let t = &self.tables[map.table];
                !t.failed && t.snapshot_lsn <= self.final_lsn
            }
            _ => false,
        }
    }

    /// Builds the mapping for a Relation message, or marks the table
    /// failed when its columns changed since preflight.
    async fn relation(
        &mut self,
        namespace: &str,
        name: &str,
        columns: &[pg_walstream::ColumnInfo],
    ) -> Result<Option<RelMap>, Error> {
        let Some(index) = self.tables.iter().position(|t| {
            t.checked.spec.table.schema == namespace && t.checked.spec.table.name == name
        }) else {
            if self.restart_on_unknown {
                return Err(Error::Replication {
                    message: format!(
                        "table {namespace}.{name} joined the reverse publication of service {}; \
                         restarting the stream to apply it",
                        self.service
                    ),
                    code: None,
                });
            }
            return Ok(None);
        };
        let table = &self.tables[index];
        let expected: Vec<(&str, u32)> = table
            .checked
            .source
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_oid))
            .collect();
        let got: Vec<(&str, u32)> = columns.iter().map(|c| (&*c.name, c.type_id)).collect();
        if expected != got {
            let show = |cols: &[(&str, u32)]| {
                cols.iter()
                    .map(|(n, _)| (*n).to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let message = format!(
                "the monolith's table {} changed shape (columns were [{}], now [{}], or a type \
                 changed); change the service's table and the plan to match, then run \
                 `strangler sync run` again to copy it afresh",
                table.checked.spec.name,
                show(&expected),
                show(&got)
            );
            tracing::error!("{message}");
            let table_name = table.checked.spec.name.clone();
            self.tables[index].failed = true;
            self.metrics.errors.fetch_add(1, Ordering::Relaxed);
            state::set_table(
                &self.client,
                &self.metrics,
                &self.service,
                &table_name,
                TableState::Error,
                None,
                None,
                Some(&message),
            )
            .await?;
            return Ok(None);
        }
        let mut target_cols = Vec::new();
        let mut cols = Vec::new();
        for c in &table.checked.source.columns {
            match table.checked.spec.target_column(&c.name) {
                Some(t) => {
                    cols.push(Some(target_cols.len()));
                    target_cols.push((t.to_owned(), c.sql_type.clone()));
                }
                None => cols.push(None),
            }
        }
        let key = table.checked.source_key();
        let key_src: Vec<usize> = key
            .iter()
            .filter_map(|k| columns.iter().position(|c| &*c.name == k))
            .collect();
        let key_tgt: Vec<usize> = key_src.iter().filter_map(|&i| cols[i]).collect();
        if key_src.len() != key.len() || key_tgt.len() != key.len() {
            return Err(Error::Other(format!(
                "the key of {} is not among its replicated columns",
                table.checked.spec.name
            )));
        }
        Ok(Some(RelMap {
            table: index,
            cols,
            target_cols,
            key_src,
            key_tgt,
        }))
    }

    /// The target-ordered values of a tuple (`None` inside: NULL), or
    /// `None` when the relation does not apply.
    fn row(&self, rel: u32, tuple: &TupleData) -> Result<Option<Row>, Error> {
        if !self.applies(rel) {
            return Ok(None);
        }
        let Some(Some(map)) = self.relations.get(&rel) else {
            return Ok(None);
        };
        let mut row = vec![None; map.target_cols.len()];
        for (i, col) in tuple.columns.iter().enumerate() {
            if let Some(Some(j)) = map.cols.get(i) {
                row[*j] = text(col)?;
            }
        }
        Ok(Some(row))
    }

    fn key_of(&self, rel: u32, tuple: &TupleData) -> Result<Row, Error> {
        let Some(Some(map)) = self.relations.get(&rel) else {
            return Ok(Vec::new());
        };
        map.key_src
            .iter()
            .map(|&i| {
                let col = tuple
                    .columns
                    .get(i)
                    .ok_or_else(|| Error::Other("a key column is missing".to_owned()))?;
                if col.is_unchanged() {
                    return Err(Error::Other(
                        "a key column arrived as an unchanged TOAST value".to_owned(),
                    ));
                }
                text(col)
            })
            .collect()
    }

    async fn update(
        &mut self,
        rel: u32,
        old: Option<&TupleData>,
        new: &TupleData,
    ) -> Result<(), Error> {
        if !self.applies(rel) {
            return Ok(());
        }
        let Some(Some(map)) = self.relations.get(&rel) else {
            return Ok(());
        };
        let mut mask = vec![true; map.target_cols.len()];
        let mut row = vec![None; map.target_cols.len()];
        for (i, col) in new.columns.iter().enumerate() {
            if let Some(Some(j)) = map.cols.get(i) {
                if col.is_unchanged() {
                    mask[*j] = false;
                } else {
                    row[*j] = text(col)?;
                }
            }
        }
        let new_key = self.key_of(rel, new)?;
        let old_key = match old {
            Some(old) => self.key_of(rel, old)?,
            None => new_key.clone(),
        };
        if old_key == new_key && mask.iter().all(|m| *m) {
            self.push(rel, Kind::Upsert, mask, old_key, new_key, row)
                .await
        } else {
            // A key that stays is matched, not set: setting it is a no-op,
            // and one that is `GENERATED ALWAYS AS IDENTITY` cannot be set.
            if old_key == new_key {
                for &k in &map.key_tgt {
                    mask[k] = false;
                }
                if !mask.iter().any(|m| *m) {
                    // Only unchanged TOAST values besides the key.
                    return Ok(());
                }
            }
            let values: Row = row
                .into_iter()
                .zip(&mask)
                .filter(|(_, m)| **m)
                .map(|(v, _)| v)
                .collect();
            let mut params = old_key.clone();
            params.extend(values);
            self.push(rel, Kind::Update, mask, old_key, new_key, params)
                .await
        }
    }

    /// Adds a row to the current run, cutting the run first when it is of
    /// another shape or already holds one of the row's keys.
    async fn push(
        &mut self,
        rel: u32,
        kind: Kind,
        mask: Vec<bool>,
        old_key: Row,
        new_key: Row,
        params: Row,
    ) -> Result<(), Error> {
        let fits = self.run.as_ref().is_some_and(|r| {
            r.rel == rel
                && r.kind == kind
                && r.mask == mask
                && r.rows < RUN_ROWS
                && r.bytes < RUN_BYTES
                && !r.keys.contains(&old_key)
                && !r.keys.contains(&new_key)
        });
        if !fits {
            self.flush().await?;
            let params_len = match kind {
                Kind::Delete => old_key.len(),
                _ => params.len(),
            };
            self.run = Some(Run {
                rel,
                kind,
                mask,
                arrays: vec![Vec::new(); params_len],
                keys: HashSet::new(),
                rows: 0,
                bytes: 0,
            });
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let values = if kind == Kind::Delete {
            old_key.clone()
        } else {
            params
        };
        for (array, value) in run.arrays.iter_mut().zip(values) {
            run.bytes += value.as_ref().map_or(1, String::len);
            array.push(value);
        }
        run.keys.insert(old_key);
        run.keys.insert(new_key);
        run.rows += 1;
        Ok(())
    }

    /// Sends the current run.
    async fn flush(&mut self) -> Result<(), Error> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        let Some(Some(map)) = self.relations.get(&run.rel) else {
            return Ok(());
        };
        let table = map.table;
        let key = (table, run.kind, run.mask.clone());
        let statement = if let Some(s) = self.statements.get(&key) {
            s.clone()
        } else {
            let sql = statement_sql(
                &self.tables[table].checked.spec.table.quoted(),
                map,
                run.kind,
                &run.mask,
            );
            let s = self
                .client
                .prepare(&sql)
                .await
                .ctx(|| format!("preparing {sql}"))?;
            self.statements.insert(key, s.clone());
            s
        };
        let params: Vec<&(dyn ToSql + Sync)> = run
            .arrays
            .iter()
            .map(|a| a as &(dyn ToSql + Sync))
            .collect();
        if let Err(e) = self.client.execute(&statement, &params).await {
            let name = self.tables[table].checked.spec.name.clone();
            let err = Error::Postgres {
                context: format!("applying changes to {name}"),
                source: e,
            };
            if err.is_transient() {
                return Err(err);
            }
            return Err(Error::TableFailed {
                table: name,
                message: err.to_string(),
            });
        }
        self.rows_in_txn += run.rows;
        self.metrics
            .rows_applied
            .fetch_add(run.rows as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Commits the target transaction with the last complete source
    /// commit's LSN, then reports it durable.
    pub(crate) async fn commit(&mut self) -> Result<(), Error> {
        if !self.target_open {
            return Ok(());
        }
        if self.in_source_txn {
            return Err(Error::Other(
                "internal: commit inside a source transaction".to_owned(),
            ));
        }
        self.flush().await?;
        if let (Some((lsn, ts)), Some(slot)) = (self.pending, &self.slot) {
            state::set_applied_lsn(&self.client, slot, lsn, Some(ts)).await?;
        }
        self.client
            .batch_execute("COMMIT")
            .await
            .ctx(|| "committing a target transaction".to_owned())?;
        self.target_open = false;
        if let Some((lsn, ts)) = self.pending.take() {
            self.persisted = lsn;
            self.metrics.applied_lsn.fetch_max(lsn.0, Ordering::Release);
            self.metrics.last_commit_time.store(ts, Ordering::Relaxed);
            self.check_caught_up(lsn).await?;
        }
        Ok(())
    }

    /// A keepalive: when no source transaction is open and everything
    /// received is committed, the keepalive's position is applied too.
    pub(crate) async fn keepalive(&mut self, wal_end: Lsn) -> Result<(), Error> {
        if self.in_source_txn {
            return Ok(());
        }
        self.commit().await?;
        if wal_end > self.persisted {
            if let Some(slot) = &self.slot {
                state::set_applied_lsn(&self.client, slot, wal_end, None).await?;
            }
            self.persisted = wal_end;
        }
        self.metrics
            .applied_lsn
            .fetch_max(wal_end.0, Ordering::Release);
        self.check_caught_up(wal_end).await
    }

    /// Makes a Relation message for a table this applier does not know end
    /// the stream with a transient error instead of being skipped, so that
    /// the run restarts with the plan's tables (see `restart_on_unknown`).
    pub(crate) fn restart_on_unknown_relation(&mut self) {
        self.restart_on_unknown = true;
    }

    /// Drops an uncommitted target transaction (on shutdown mid-transaction).
    pub(crate) async fn rollback(&mut self) -> Result<(), Error> {
        self.run = None;
        self.pending = None;
        if self.target_open {
            self.target_open = false;
            self.client
                .batch_execute("ROLLBACK")
                .await
                .ctx(|| "rolling back".to_owned())?;
        }
        Ok(())
    }

    async fn check_caught_up(&mut self, lsn: Lsn) -> Result<(), Error> {
        if self.catch_up_to.is_some_and(|target| lsn >= target) {
            self.catch_up_to = None;
            state::mark_streaming(&self.client, &self.metrics, &self.service).await?;
            tracing::info!("caught up at {lsn}; tables are streaming");
        }
        Ok(())
    }

    /// The position everything before which is committed on the target:
    /// the next source transaction to apply commits at or after it.
    pub(crate) fn committed(&self) -> Lsn {
        self.persisted
    }

    /// Adds tables that joined while streaming (their copy and catch-up
    /// are done) and maps the relations already announced for them.
    pub(crate) async fn add_tables(&mut self, tables: Vec<ApplyTable>) -> Result<(), Error> {
        self.flush().await?;
        self.tables.extend(tables);
        let seen: Vec<(u32, SeenRelation)> = self
            .seen_relations
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (rel, (namespace, name, columns)) in seen {
            if matches!(self.relations.get(&rel), Some(None)) {
                let map = self.relation(&namespace, &name, &columns).await?;
                self.relations.insert(rel, map);
            }
        }
        Ok(())
    }

    /// Removes tables that left the plan (between source transactions):
    /// their changes still in the stream are skipped from now on, and the
    /// relations of the others are mapped again (they index the table
    /// list).
    pub(crate) async fn remove_tables(&mut self, names: &[String]) -> Result<(), Error> {
        self.flush().await?;
        self.tables
            .retain(|t| !names.contains(&t.checked.spec.name));
        let seen: Vec<(u32, SeenRelation)> = self
            .seen_relations
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        self.relations.clear();
        for (rel, (namespace, name, columns)) in seen {
            let map = self.relation(&namespace, &name, &columns).await?;
            self.relations.insert(rel, map);
        }
        Ok(())
    }

    /// The target client, for bookkeeping after a failure.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }
}

/// The statement for one run shape.
fn statement_sql(table: &str, map: &RelMap, kind: Kind, mask: &[bool]) -> String {
    let cast = |param: usize, ty: &str| format!("u.a{param}::{ty}");
    let cols = &map.target_cols;
    // The target row `t` whose key is the run's first parameters.
    let key_match = || {
        map.key_tgt
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                format!(
                    "t.{} = {}",
                    quote_ident(&cols[c].0),
                    cast(i + 1, &cols[c].1)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    match kind {
        Kind::Upsert => {
            let n = cols.len();
            let names: Vec<String> = cols.iter().map(|(c, _)| quote_ident(c)).collect();
            let selects: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, (_, ty))| cast(i + 1, ty))
                .collect();
            let conflict: Vec<String> = map
                .key_tgt
                .iter()
                .map(|&k| quote_ident(&cols[k].0))
                .collect();
            let sets: Vec<String> = cols
                .iter()
                .enumerate()
                .filter(|(i, _)| !map.key_tgt.contains(i))
                .map(|(_, (c, _))| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
                .collect();
            let action = if sets.is_empty() {
                "NOTHING".to_owned()
            } else {
                format!("UPDATE SET {}", sets.join(", "))
            };
            format!(
                "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} \
                 ON CONFLICT ({}) DO {action}",
                names.join(", "),
                selects.join(", "),
                unnest(n),
                conflict.join(", ")
            )
        }
        Kind::Update => {
            let k = map.key_tgt.len();
            let sets: Vec<String> = cols
                .iter()
                .zip(mask)
                .filter(|(_, m)| **m)
                .enumerate()
                .map(|(i, ((c, ty), _))| format!("{} = {}", quote_ident(c), cast(k + i + 1, ty)))
                .collect();
            format!(
                "UPDATE {table} AS t SET {} FROM {} WHERE {}",
                sets.join(", "),
                unnest(k + sets.len()),
                key_match()
            )
        }
        Kind::Delete => {
            let k = map.key_tgt.len();
            format!(
                "DELETE FROM {table} AS t USING {} WHERE {}",
                unnest(k),
                key_match()
            )
        }
    }
}

/// `unnest($1::text[], …) AS u(a1, …)`.
fn unnest(n: usize) -> String {
    let params: Vec<String> = (1..=n).map(|i| format!("${i}::text[]")).collect();
    let names: Vec<String> = (1..=n).map(|i| format!("a{i}")).collect();
    format!("unnest({}) AS u({})", params.join(", "), names.join(", "))
}
