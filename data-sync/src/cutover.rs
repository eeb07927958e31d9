//! `strangler cutover` and `strangler rollback`: moving the ownership of
//! tables (and the routes that write them) between the monolith and a
//! service, under load, as a state machine recorded in the service
//! database's `strangler` schema.
//!
//! A cutover: preflight (nothing changed yet, every problem listed) → the
//! HTTP fence (every proxy holds new writes to the tables' routes and
//! drains those in flight) → the database fence (a trigger on the
//! monolith's tables refuses everyone but strangler) → drain (the service
//! has applied the monolith's WAL up to a mark written after the fence) →
//! sequences (set on the service to at least the monolith's) → the reverse
//! stream's slot and bookkeeping (the sides are equal, so it starts with no
//! copy) and the tables leave the forward publication → the flip (one
//! `PlanFile::save`: tables `owned`, write routes `live`) → the proxies
//! reload and release what they held.
//!
//! A rollback is the same machine in the other direction: fence the
//! routes and the service's tables, drain the reverse stream, put the
//! tables back into the forward publication at the monolith's current
//! position, flip (tables `syncing`, write routes `monolith`), drop the
//! reverse stream's part, lift both database fences, release.
//!
//! The plan is the record of the flip. A run that finds a record of an
//! interrupted move looks at the plan: flipped, it finishes the move;
//! not, it undoes every step (each undo is idempotent). Any failure before
//! the flip undoes everything and the plan is unchanged.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use strangler_plan::{Plan, PlanFile, RouteStage, TableStage, validate};
use tokio_postgres::Client;

use crate::catalog;
use crate::connect::connect;
use crate::error::{Context as _, Error, Problem};
use crate::fence;
use crate::lsn::Lsn;
use crate::metrics::Metrics;
use crate::proxies::Admin;
use crate::publication::ensure_publication;
use crate::repl::ReplConnection;
use crate::spec::{
    Direction, SyncSpec, TableName, quote_ident, resolve_forward, resolve_reverse, stream_name,
};
use crate::state::{self, TableState};
use crate::verify::{VerifyOptions, verify, wait_applied};

/// What to move.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    /// The plan file; the flip saves it.
    pub plan_path: PathBuf,
    /// The service that takes (cutover) or gives back (rollback) the tables.
    pub service: String,
    /// The tables, as the plan names them.
    pub tables: Vec<String>,
    /// The longest the proxies hold requests, and the bound on the
    /// database fence's lock wait and the drain.
    pub timeout: Duration,
    /// Preflight refuses when the stream is further behind than this.
    pub max_lag_bytes: u64,
}

impl MoveRequest {
    /// A request with the defaults: a 30 s hold and 16 MiB of lag.
    #[must_use]
    pub fn new(plan_path: PathBuf, service: &str, tables: Vec<String>) -> MoveRequest {
        MoveRequest {
            plan_path,
            service: service.to_owned(),
            tables,
            timeout: Duration::from_secs(30),
            max_lag_bytes: 16 << 20,
        }
    }
}

/// What a cutover or rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    /// `cutover` or `rollback`.
    pub operation: &'static str,
    /// The service.
    pub service: String,
    /// The tables moved.
    pub tables: Vec<String>,
    /// The routes that moved with them.
    pub routes: Vec<String>,
    /// A move that an earlier run left unfinished and this one finished or
    /// undid first, described.
    pub resumed: Option<String>,
    /// From the first proxy holding requests to the last releasing them.
    pub held_ms: u64,
    /// The longest any request waited, as the proxies report it.
    pub longest_request_held_ms: Option<u64>,
    /// Each step and how long it took.
    pub steps: Vec<StepTime>,
    /// What the user should know (no proxy listed, a slot left behind).
    pub warnings: Vec<String>,
}

/// One step of a move and its duration.
#[derive(Debug, Clone, Serialize)]
pub struct StepTime {
    /// The step's name.
    pub step: &'static str,
    /// How long it took.
    pub ms: u64,
}

/// Which way a move goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Cutover,
    Rollback,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Cutover => "cutover",
            Operation::Rollback => "rollback",
        }
    }

    fn parse(text: &str) -> Option<Operation> {
        match text {
            "cutover" => Some(Operation::Cutover),
            "rollback" => Some(Operation::Rollback),
            _ => None,
        }
    }

    /// The stage the tables have before the move, and after.
    fn stages(self) -> (TableStage, TableStage) {
        match self {
            Operation::Cutover => (TableStage::Syncing, TableStage::Owned),
            Operation::Rollback => (TableStage::Owned, TableStage::Syncing),
        }
    }
}

/// A catch-up round shorter than this ends the catch-up before the fences.
const CAUGHT_UP: Duration = Duration::from_millis(500);

/// The longest a catch-up round may take and still end the catch-up when
/// rounds have stopped getting shorter (see [`caught_up`]), and a quarter
/// of the timeout if that is less: the drain under the fences takes about
/// one round, and this is what the hold may cost. Refusing instead would
/// not shorten it (a rollback is often the way out of an incident).
const STEADY_ROUND: Duration = Duration::from_secs(5);

/// The earlier catch-up rounds' times for an error message: empty, or
/// `; the rounds before took 0.9 s, 1.1 s`.
fn round_times(rounds: &[Duration]) -> String {
    if rounds.is_empty() {
        return String::new();
    }
    let times: Vec<String> = rounds
        .iter()
        .map(|t| format!("{:.1} s", t.as_secs_f64()))
        .collect();
    format!("; the rounds before took {}", times.join(", "))
}

/// Whether the catch-up before the fences can stop after a round that took
/// `took` (the one before took `previous`), with requests to be held for up
/// to `timeout`. It stops at once under [`CAUGHT_UP`]. A stream that keeps
/// up with the writes but with a steady latency (a busy machine, a debug
/// build) never gets under it, and another round would not be shorter: so
/// it also stops when a round was not at least a fifth shorter than the one
/// before and the hold it predicts is under [`STEADY_ROUND`] and a quarter
/// of the timeout. Rounds still shrinking fast go on.
fn caught_up(took: Duration, previous: Option<Duration>, timeout: Duration) -> bool {
    if took < CAUGHT_UP {
        return true;
    }
    let Some(previous) = previous else {
        return false;
    };
    let steady = took.as_secs_f64() >= 0.8 * previous.as_secs_f64();
    steady && took <= STEADY_ROUND.min(timeout / 4)
}

/// The record of a move in progress, on the service's database.
const RECORD_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS strangler;
CREATE TABLE IF NOT EXISTS strangler.ownership_move (
    service text PRIMARY KEY,
    operation text NOT NULL,
    tables text[] NOT NULL,
    step text NOT NULL,
    mark_lsn pg_lsn,
    created_slot boolean NOT NULL DEFAULT false,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
";

#[derive(Debug, Clone)]
struct Record {
    operation: Operation,
    tables: Vec<String>,
    step: String,
    created_slot: bool,
}

/// Everything a move works with, resolved from the plan.
struct Move {
    op: Operation,
    plan_path: PathBuf,
    service: String,
    tables: Vec<String>,
    names: Vec<TableName>,
    timeout: Duration,
    max_lag_bytes: u64,
    admins: Vec<Admin>,
    /// The forward stream with the service's tables as they will be
    /// streamed forward once the move is done (for rollback, with these
    /// tables; for cutover, without them).
    forward: SyncSpec,
    /// The reverse stream likewise.
    reverse: SyncSpec,
    monolith: Client,
    own: Client,
    fence_name: String,
    report: MoveReport,
    held_since: Option<Instant>,
    /// Tables that differed in preflight while writes went on (a hot key
    /// range moves under any comparison): compared again under the fences,
    /// after the drain, when neither side changes.
    recheck: Option<SyncSpec>,
}

/// Cuts `request.tables` over to the service: see the module's docs.
pub async fn cutover(request: &MoveRequest) -> Result<MoveReport, Error> {
    run_move(Operation::Cutover, request).await
}

/// Hands `request.tables` back to the monolith: see the module's docs.
pub async fn rollback(request: &MoveRequest) -> Result<MoveReport, Error> {
    run_move(Operation::Rollback, request).await
}

async fn run_move(op: Operation, request: &MoveRequest) -> Result<MoveReport, Error> {
    let mut m = Move::open(op, request).await?;
    m.own
        .batch_execute(RECORD_SQL)
        .await
        .ctx(|| "creating the move record on the service's database".to_owned())?;
    if let Some(record) = m.load_record().await? {
        let what = format!(
            "an interrupted {} of {} (at step `{}`)",
            record.operation.as_str(),
            record.tables.join(", "),
            record.step
        );
        let finished = resume(&mut m, &record).await?;
        let done = if finished { "finished" } else { "undid" };
        m.report.resumed = Some(format!("{done} {what}"));
        if finished && record.operation == op && m.tables.iter().all(|t| record.tables.contains(t))
        {
            return Ok(m.report);
        }
        // The plan changed: take the move's view of it afresh.
        m = Move::open(op, request).await.map(|mut fresh| {
            fresh.report.resumed = m.report.resumed.take();
            fresh
        })?;
    }
    let problems = m.preflight().await?;
    if !problems.is_empty() {
        return Err(Error::Preflight(problems));
    }
    m.save_record("preflight", None, false).await?;
    match m.forward_steps().await {
        Ok(()) => {}
        Err(e) => {
            // Finish if the plan was flipped (the save may have landed
            // before the error), else undo: the plan decides, as on a
            // re-run after a crash.
            let undone = match m.load_record().await {
                Ok(Some(record)) => resume(&mut m, &record).await,
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            };
            return Err(match undone {
                Ok(true) => Error::Other(format!(
                    "{} of {} to service {} hit an error after the plan was flipped ({e}); it \
                     was finished",
                    op.as_str(),
                    m.tables.join(", "),
                    m.service
                )),
                Ok(false) => Error::Other(format!(
                    "{} of {} to service {} aborted: {e}; every step was undone and the plan is \
                     unchanged",
                    op.as_str(),
                    m.tables.join(", "),
                    m.service
                )),
                Err(undo) => Error::Other(format!(
                    "{} of {} aborted: {e}; undoing it failed too ({undo}); run the same command \
                     again to undo it",
                    op.as_str(),
                    m.tables.join(", ")
                )),
            });
        }
    }
    m.finish().await?;
    Ok(m.report)
}

/// Finishes (after the flip) or undoes (before it) the move `record`
/// describes; returns whether it was finished.
async fn resume(m: &mut Move, record: &Record) -> Result<bool, Error> {
    let file = PlanFile::open(&m.plan_path)?;
    let (_, after) = record.operation.stages();
    let flipped = record.tables.iter().all(|t| {
        file.plan()
            .service(&m.service)
            .and_then(|s| s.tables.iter().find(|x| &x.name == t))
            .is_some_and(|x| x.stage == after)
    });
    // Act as the recorded move, on its tables.
    let saved = (m.op, m.tables.clone(), m.names.clone());
    m.op = record.operation;
    m.tables.clone_from(&record.tables);
    m.names = record.tables.iter().map(|t| TableName::parse(t)).collect();
    m.fence_name = fence_name(m.op, &m.service);
    m.recompute_specs(file.plan())?;
    let result = if flipped {
        m.finish().await
    } else {
        m.undo(false).await
    };
    (m.op, m.tables, m.names) = saved;
    m.fence_name = fence_name(m.op, &m.service);
    result.map(|()| flipped)
}

fn fence_name(op: Operation, service: &str) -> String {
    format!("{}:{service}", op.as_str())
}

/// Test hook: `STRANGLER_TEST_CRASH_AFTER=<step>` makes the process die
/// at once (as by `kill -9`: no undo, no cleanup) right after recording
/// that step, so the crash tests can stop a move at every step.
fn crash_point(step: &str) {
    if std::env::var("STRANGLER_TEST_CRASH_AFTER").is_ok_and(|s| s == step) {
        eprintln!("STRANGLER_TEST_CRASH_AFTER={step}: dying here");
        std::process::abort();
    }
}

impl Move {
    async fn open(op: Operation, request: &MoveRequest) -> Result<Move, Error> {
        let file = PlanFile::open(&request.plan_path)?;
        let plan = file.ensure_valid()?.clone();
        let svc = plan.service(&request.service).ok_or_else(|| {
            let known: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
            Error::Plan(format!(
                "no service named `{}` in {}; services: {}",
                request.service,
                request.plan_path.display(),
                known.join(", ")
            ))
        })?;
        if request.tables.is_empty() {
            return Err(Error::Plan(format!(
                "name the tables to {} with --table NAME (service {}'s tables: {})",
                op.as_str(),
                svc.name,
                svc.tables
                    .iter()
                    .map(|t| format!("{} ({})", t.name, t.stage))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for t in &request.tables {
            if !svc.tables.iter().any(|x| &x.name == t) {
                return Err(Error::Plan(format!(
                    "service {} has no table `{t}` in {}; its tables: {}",
                    svc.name,
                    request.plan_path.display(),
                    svc.tables
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let monolith_url = plan
            .monolith
            .database
            .clone()
            .ok_or_else(|| Error::Plan("the plan's [monolith] has no `database`".to_owned()))?;
        let own_url = svc
            .database
            .clone()
            .ok_or_else(|| Error::Plan(format!("service `{}` has no `database`", svc.name)))?;
        let admins = Admin::from_plan(&plan)?;
        let monolith = connect(&monolith_url, "the monolith's database").await?;
        let own = connect(&own_url, &format!("service {}'s database", svc.name)).await?;
        let mut tables = request.tables.clone();
        tables.sort();
        tables.dedup();
        let names = tables.iter().map(|t| TableName::parse(t)).collect();
        let mut m = Move {
            op,
            plan_path: request.plan_path.clone(),
            service: svc.name.clone(),
            names,
            timeout: request.timeout,
            max_lag_bytes: request.max_lag_bytes,
            admins,
            forward: empty_spec(),
            reverse: empty_spec(),
            monolith,
            own,
            fence_name: fence_name(op, &svc.name),
            report: MoveReport {
                operation: op.as_str(),
                service: svc.name.clone(),
                tables: tables.clone(),
                routes: Vec::new(),
                resumed: None,
                held_ms: 0,
                longest_request_held_ms: None,
                steps: Vec::new(),
                warnings: Vec::new(),
            },
            tables,
            held_since: None,
            recheck: None,
        };
        m.recompute_specs(&plan)?;
        m.report.routes = write_routes(&plan, &m.service, &m.tables);
        if m.admins.is_empty() {
            m.report.warnings.push(
                "the plan lists no [[proxy]]: no proxy held requests, so writes that reached the \
                 monolith during the switch were refused by its database fence; list every \
                 proxy's admin address to have them held instead"
                    .to_owned(),
            );
        }
        Ok(m)
    }

    /// The forward and reverse streams as they are once the move is done.
    fn recompute_specs(&mut self, plan: &Plan) -> Result<(), Error> {
        let mut after = plan.clone();
        let (_, to) = self.op.stages();
        if let Some(svc) = after.service_mut(&self.service) {
            for t in &mut svc.tables {
                if self.tables.contains(&t.name) {
                    t.stage = to;
                }
            }
        }
        self.forward = resolve_forward(&after, Some(&self.service))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Plan(format!("service {} cannot sync", self.service)))?;
        let before = resolve_forward(plan, Some(&self.service))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Plan(format!("service {} cannot sync", self.service)))?;
        self.reverse = reverse_spec(&after, &self.service, &before)?;
        Ok(())
    }

    fn step_done(&mut self, step: &'static str, since: Instant) {
        self.report.steps.push(StepTime {
            step,
            ms: millis(since.elapsed()),
        });
        tracing::info!(service = %self.service, "{} step `{step}` done", self.op.as_str());
    }

    async fn load_record(&self) -> Result<Option<Record>, Error> {
        let row = self
            .own
            .query_opt(
                "SELECT operation, tables, step, created_slot FROM strangler.ownership_move \
                 WHERE service = $1",
                &[&self.service],
            )
            .await
            .ctx(|| "reading the move record".to_owned())?;
        Ok(row.and_then(|r| {
            Some(Record {
                operation: Operation::parse(r.get(0))?,
                tables: r.get(1),
                step: r.get(2),
                created_slot: r.get(3),
            })
        }))
    }

    async fn save_record(
        &self,
        step: &str,
        mark: Option<Lsn>,
        created_slot: bool,
    ) -> Result<(), Error> {
        self.own
            .execute(
                "INSERT INTO strangler.ownership_move AS m \
                     (service, operation, tables, step, mark_lsn, created_slot) \
                 VALUES ($1, $2, $3, $4, $5::text::pg_lsn, $6) \
                 ON CONFLICT (service) DO UPDATE SET step = EXCLUDED.step, \
                     mark_lsn = coalesce(EXCLUDED.mark_lsn, m.mark_lsn), \
                     created_slot = m.created_slot OR EXCLUDED.created_slot, updated_at = now()",
                &[
                    &self.service,
                    &self.op.as_str(),
                    &self.tables,
                    &step,
                    &mark.map(|l| l.to_string()),
                    &created_slot,
                ],
            )
            .await
            .ctx(|| format!("recording step `{step}`"))?;
        crash_point(step);
        Ok(())
    }

    async fn clear_record(&self) -> Result<(), Error> {
        self.own
            .execute(
                "DELETE FROM strangler.ownership_move WHERE service = $1",
                &[&self.service],
            )
            .await
            .ctx(|| "clearing the move record".to_owned())?;
        Ok(())
    }

    /// Every problem that would stop the move, none changed.
    #[allow(clippy::too_many_lines)] // one check after the other
    async fn preflight(&mut self) -> Result<Vec<Problem>, Error> {
        let mut problems = Vec::new();
        let file = PlanFile::open(&self.plan_path)?;
        let plan = file.plan().clone();
        let (from, to) = self.op.stages();
        let svc = plan
            .service(&self.service)
            .ok_or_else(|| Error::Plan(format!("no service `{}`", self.service)))?;
        for t in &self.tables {
            if let Some(entry) = svc.tables.iter().find(|x| &x.name == t)
                && entry.stage != from
            {
                problems.push(Problem {
                    message: format!(
                        "table {t} of service {} is at `{}`; a {} starts from `{from}`",
                        self.service,
                        entry.stage,
                        self.op.as_str()
                    ),
                    fix: match (self.op, entry.stage) {
                        (Operation::Cutover, TableStage::Monolith) => {
                            "sync it first: set `stage = \"syncing\"` and run `strangler sync run`"
                                .to_owned()
                        }
                        (Operation::Cutover, TableStage::Owned) => {
                            "it is already cut over".to_owned()
                        }
                        _ => format!(
                            "check `strangler status --plan {}`",
                            self.plan_path.display()
                        ),
                    },
                });
            }
        }
        // The plan after the flip must be valid: plan/ decides, so the
        // rules live in one place.
        let flipped = flip(&plan, self.op, &self.service, &self.tables);
        for d in validate(&flipped)
            .iter()
            .filter(|d| d.severity == strangler_plan::Severity::Error)
        {
            problems.push(Problem {
                message: format!(
                    "after the {}, the plan would be invalid: {}",
                    self.op.as_str(),
                    d.message
                ),
                fix: d
                    .help
                    .clone()
                    .unwrap_or_else(|| "fix the plan first".to_owned()),
            });
        }
        // The stream that carries the tables now must be live and close.
        let (stream, source, target, source_what) = match self.op {
            Operation::Cutover => {
                let mut spec = self.forward.clone();
                spec.tables = resolve_forward(&plan, Some(&self.service))?
                    .into_iter()
                    .flat_map(|s| s.tables)
                    .filter(|t| self.tables.contains(&t.name))
                    .collect();
                (spec, &self.monolith, &self.own, "the monolith's")
            }
            Operation::Rollback => {
                let spec = resolve_reverse(&plan, Some(&self.service))?
                    .into_iter()
                    .next()
                    .map_or_else(empty_spec, |mut s| {
                        s.tables.retain(|t| self.tables.contains(&t.name));
                        s
                    });
                (spec, &self.own, &self.monolith, "the service's")
            }
        };
        let records = if state::has_schema(target).await? {
            state::tables(target, &self.service).await?
        } else {
            Vec::new()
        };
        for t in &self.tables {
            let rec = records.iter().find(|r| &r.table == t);
            if rec.is_none_or(|r| r.state != TableState::Streaming) {
                problems.push(Problem {
                    message: format!(
                        "table {t} is not streaming from {source_what} database ({})",
                        rec.map_or("no record".to_owned(), |r| r.state.to_string())
                    ),
                    fix: "run `strangler sync run` and wait for `strangler sync status` to show \
                          it streaming"
                        .to_owned(),
                });
            }
        }
        let slot: Option<(Option<i32>,)> = source
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                &[&stream.slot],
            )
            .await
            .ctx(|| format!("looking for slot {}", stream.slot))?
            .map(|r| (r.get(0),));
        if slot.and_then(|s| s.0).is_none() {
            problems.push(Problem {
                message: format!(
                    "nothing is streaming slot {} from {source_what} database",
                    stream.slot
                ),
                fix: "start `strangler sync run` for the plan; the move drains through it"
                    .to_owned(),
            });
        } else {
            let now = current_lsn(source).await?;
            let applied = state::applied_lsn(target, &stream.slot).await?;
            let lag = applied.map_or(u64::MAX, |a| now.0.saturating_sub(a.0));
            if lag > self.max_lag_bytes {
                problems.push(Problem {
                    message: format!(
                        "the stream of slot {} is {} behind (the bound is {})",
                        stream.slot,
                        bytes(lag),
                        bytes(self.max_lag_bytes)
                    ),
                    fix: "wait for it to catch up, or raise --max-lag".to_owned(),
                });
            }
        }
        // The two sides must be equal.
        if !stream.tables.is_empty() && problems.is_empty() {
            let options = VerifyOptions {
                timeout: self.timeout,
                ..VerifyOptions::default()
            };
            match verify(&stream, &options).await {
                Ok(report) => {
                    let differing: Vec<String> = report
                        .tables
                        .iter()
                        .filter(|t| !t.mismatches.is_empty())
                        .map(|t| t.table.clone())
                        .collect();
                    if !differing.is_empty() {
                        let mut again = stream.clone();
                        again.tables.retain(|t| differing.contains(&t.name));
                        self.recheck = Some(again);
                    }
                }
                Err(e) => problems.push(Problem {
                    message: format!("the tables could not be compared: {e}"),
                    fix: "make sure `strangler sync run` is running and both databases answer"
                        .to_owned(),
                }),
            }
        }
        // The way back must be possible.
        let (reverse_source, reverse_target, reverse_what) = match self.op {
            Operation::Cutover => (&self.own, &self.monolith, "service's"),
            Operation::Rollback => (&self.monolith, &self.own, "monolith's"),
        };
        let wal: String = reverse_source
            .query_one("SHOW wal_level", &[])
            .await
            .ctx(|| "reading wal_level".to_owned())?
            .get(0);
        if wal != "logical" {
            problems.push(Problem {
                message: format!(
                    "the {reverse_what} database has wal_level = {wal}, so changes cannot \
                     stream back from it"
                ),
                fix: format!(
                    "run `ALTER SYSTEM SET wal_level = logical;` on the {reverse_what} database \
                     and restart it"
                ),
            });
        }
        let can_replicate: bool = reverse_source
            .query_one(
                "SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .ctx(|| "reading the role's privileges".to_owned())?
            .get(0);
        if !can_replicate {
            problems.push(Problem {
                message: format!(
                    "the role strangler uses on the {reverse_what} database cannot create a \
                     replication slot"
                ),
                fix: "`ALTER ROLE … REPLICATION` (and ownership of the tables, to publish them)"
                    .to_owned(),
            });
        }
        for name in &self.names {
            match catalog::table_info(reverse_source, name).await? {
                None => problems.push(Problem {
                    message: format!("the {reverse_what} database has no table {name}"),
                    fix: "create it (`strangler sync schema`)".to_owned(),
                }),
                Some(info) if info.identity().is_none() => problems.push(Problem {
                    message: format!(
                        "table {name} on the {reverse_what} database has no usable key, so its \
                         updates and deletes cannot stream"
                    ),
                    fix: format!(
                        "add a primary key to {name} there (`ALTER TABLE {} ADD PRIMARY KEY …`)",
                        name.quoted()
                    ),
                }),
                Some(_) => {}
            }
            let writable: Option<bool> = reverse_target
                .query_one(
                    "SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE \
                     has_table_privilege(current_user, $1, 'INSERT, UPDATE, DELETE') END",
                    &[&name.quoted()],
                )
                .await
                .ctx(|| format!("checking the privileges on {name}"))?
                .get(0);
            if writable == Some(false) {
                problems.push(Problem {
                    message: format!(
                        "the role strangler uses cannot write {name} on the database the \
                         changes will stream into"
                    ),
                    fix: format!("`GRANT INSERT, UPDATE, DELETE ON {} TO …`", name.quoted()),
                });
            }
        }
        if self.op == Operation::Cutover {
            for (table, column, _) in catalog::sequences(&self.monolith, &self.names).await? {
                let target_col = self
                    .column_across(&plan, &table, &column, Direction::Forward)
                    .unwrap_or_else(|| column.clone());
                if catalog::sequence_of(&self.own, &TableName::parse(&table), &target_col)
                    .await?
                    .is_none()
                {
                    problems.push(Problem {
                        message: format!(
                            "column {target_col} of {table} on the service's database has no \
                             sequence, while the monolith's takes its values from one: after the \
                             cutover the service could not insert"
                        ),
                        fix: format!(
                            "give it an identity or serial default on the service (`ALTER TABLE \
                             {} ALTER COLUMN {} ADD GENERATED BY DEFAULT AS IDENTITY`)",
                            TableName::parse(&table).quoted(),
                            quote_ident(&target_col)
                        ),
                    });
                }
            }
            if let Some(upstream) = &svc.upstream
                && let Err(reason) = reachable(upstream).await
            {
                problems.push(Problem {
                    message: format!(
                        "service {} does not answer at {}: {reason}",
                        self.service,
                        strangler_plan::mask_url(upstream)
                    ),
                    fix: "start the service before moving its writes to it".to_owned(),
                });
            }
        }
        for admin in &self.admins {
            if let Err(e) = admin.probe().await {
                problems.push(Problem {
                    message: e.to_string(),
                    fix: "start the proxy, or fix its [[proxy]] entry; nothing is held until \
                          every proxy answers"
                        .to_owned(),
                });
            }
        }
        let _ = to;
        Ok(problems)
    }

    /// Column `column` of `table` as the other side names it: a monolith
    /// column on the service (`Forward`), or a service column on the
    /// monolith (`Reverse`), by the table's `rename`.
    fn column_across(
        &self,
        plan: &Plan,
        table: &str,
        column: &str,
        toward: Direction,
    ) -> Option<String> {
        let rename = &plan
            .service(&self.service)?
            .tables
            .iter()
            .find(|t| t.name == table)?
            .rename;
        let renamed = match toward {
            Direction::Forward => rename.get(column).cloned(),
            Direction::Reverse => rename
                .iter()
                .find(|(_, to)| *to == column)
                .map(|(from, _)| from.clone()),
        };
        Some(renamed.unwrap_or_else(|| column.to_owned()))
    }

    /// Fences, drains, prepares the new direction and flips the plan.
    async fn forward_steps(&mut self) -> Result<(), Error> {
        let t = Instant::now();
        let created = self.prepare().await?;
        self.save_record("prepared", None, created).await?;
        self.step_done("prepare", t);
        // HTTP fence: every proxy holds the writes, or none does.
        let t = Instant::now();
        self.held_since = Some(Instant::now());
        self.save_record("http_fence", None, false).await?;
        for admin in &self.admins {
            admin
                .fence(&self.fence_name, &self.tables, self.timeout)
                .await?;
        }
        self.step_done("http_fence", t);
        // Database fence on the side that owned the tables.
        let t = Instant::now();
        let reason = format!("{} in progress", self.op.as_str());
        let (source, slot) = match self.op {
            Operation::Cutover => ("monolith", self.forward.slot.clone()),
            Operation::Rollback => ("service", self.reverse.slot.clone()),
        };
        let lock_wait = self.remaining();
        let fenced = match self.op {
            Operation::Cutover => &mut self.monolith,
            Operation::Rollback => &mut self.own,
        };
        fence::fence(fenced, &self.names, &self.service, &reason, lock_wait).await?;
        let mark = fence::mark(fenced, &format!("{} {}", self.op.as_str(), self.service)).await?;
        self.save_record("db_fence", Some(mark), false).await?;
        self.step_done("db_fence", t);
        // Drain what was written before the fence.
        let t = Instant::now();
        let target = match self.op {
            Operation::Cutover => &self.own,
            Operation::Rollback => &self.monolith,
        };
        wait_applied(
            target,
            &slot,
            mark,
            self.remaining(),
            &format!(
                "the {} (drain after the {source}'s fence)",
                self.op.as_str()
            ),
        )
        .await?;
        if let Some(again) = self.recheck.take() {
            let options = VerifyOptions {
                timeout: self.remaining(),
                rechecks: 0,
                ..VerifyOptions::default()
            };
            let report = verify(&again, &options).await?;
            if let Some(t) = report.tables.iter().find(|t| !t.mismatches.is_empty()) {
                return Err(Error::Other(format!(
                    "table {} differs between the two databases in {} key range(s), compared \
                     with the writes fenced; run `strangler sync verify` to see where (a table \
                     that drifted is copied afresh by setting it to `monolith` and back to \
                     `syncing`)",
                    t.table,
                    t.mismatches.len()
                )));
            }
        }
        self.save_record("drained", None, false).await?;
        self.step_done("drain", t);
        let t = Instant::now();
        self.set_sequences().await?;
        self.save_record("sequences", None, false).await?;
        self.step_done("sequences", t);
        let t = Instant::now();
        self.join_new_stream().await?;
        self.save_record("joined", None, false).await?;
        self.step_done("join", t);
        // The flip: one save of the plan.
        let t = Instant::now();
        let mut file = PlanFile::open(&self.plan_path)?;
        let flipped = flip(file.plan(), self.op, &self.service, &self.tables);
        file.save(&flipped)?;
        crash_point("flip");
        self.save_record("flipped", None, false).await?;
        self.step_done("flip", t);
        Ok(())
    }

    /// What is left of the timeout since the move started.
    fn remaining(&self) -> Duration {
        self.timeout
            .saturating_sub(self.held_since.map_or(Duration::ZERO, |h| h.elapsed()))
            .max(Duration::from_millis(100))
    }

    /// Sets each sequence behind the tables' columns on the service to at
    /// least the monolith's, so the service never issues a value the
    /// monolith already did.
    async fn set_sequences(&self) -> Result<(), Error> {
        let file = PlanFile::open(&self.plan_path)?;
        // The side that owned the tables until now, and the one that will.
        let (from, to, to_what) = match self.op {
            Operation::Cutover => (&self.monolith, &self.own, "the service"),
            Operation::Rollback => (&self.own, &self.monolith, "the monolith"),
        };
        for (table, column, from_seq) in catalog::sequences(from, &self.names).await? {
            let Some(issued) = issued_max(from, &from_seq).await? else {
                continue;
            };
            let toward = match self.op {
                Operation::Cutover => Direction::Forward,
                Operation::Rollback => Direction::Reverse,
            };
            let to_col = self
                .column_across(file.plan(), &table, &column, toward)
                .unwrap_or(column);
            let Some(to_seq) = catalog::sequence_of(to, &TableName::parse(&table), &to_col).await?
            else {
                continue;
            };
            let to_issued = issued_max(to, &to_seq).await?.unwrap_or(i64::MIN);
            if issued > to_issued {
                to.execute(
                    "SELECT setval($1::text::regclass, $2, true)",
                    &[&to_seq, &issued],
                )
                .await
                .ctx(|| format!("setting sequence {to_seq} on {to_what}"))?;
            }
        }
        Ok(())
    }

    /// The stream the tables move into: reverse for a cutover, forward for
    /// a rollback; its source database and its target's.
    fn new_stream(&self) -> (&SyncSpec, &Client, &Client) {
        match self.op {
            Operation::Cutover => (&self.reverse, &self.own, &self.monolith),
            Operation::Rollback => (&self.forward, &self.monolith, &self.own),
        }
    }

    /// Before anything is held: the stream that carries the tables now
    /// catches up (so the drain under the fences is short), and the stream
    /// they move into gets its publication (without them yet) and its slot,
    /// created here if missing, with its starting position recorded on its
    /// target. Creating a slot waits for every running transaction, which
    /// is why it happens before the fences. Returns whether it was created.
    async fn prepare(&mut self) -> Result<bool, Error> {
        let (old_source, old_target, old_slot) = match self.op {
            Operation::Cutover => (&self.monolith, &self.own, self.forward.slot.clone()),
            Operation::Rollback => (&self.own, &self.monolith, self.reverse.slot.clone()),
        };
        // Catch up until a round is short (see `caught_up`): the drain
        // under the fences then has at most about that much to apply. A
        // stream that applies more slowly than the writes arrive never
        // gets there, and holding requests for it would hold them ever
        // longer.
        let started = Instant::now();
        let mut rounds: Vec<Duration> = Vec::new();
        loop {
            let round = Instant::now();
            let mark = fence::mark(old_source, "catch up before the fences").await?;
            let left = self.timeout.saturating_sub(started.elapsed());
            wait_applied(
                old_target,
                &old_slot,
                mark,
                left.max(Duration::from_millis(100)),
                "the catch-up before the fences",
            )
            .await
            .map_err(|e| {
                Error::Other(format!(
                    "the stream of slot {old_slot} does not catch up within {} s ({e}{}); \
                     nothing was held. Cut over when the writes are fewer, give the sync more \
                     CPU, or raise --timeout",
                    self.timeout.as_secs(),
                    round_times(&rounds)
                ))
            })?;
            let took = round.elapsed();
            tracing::debug!(
                "catch-up round {} of slot {old_slot} took {:.2} s",
                rounds.len() + 1,
                took.as_secs_f64()
            );
            if caught_up(took, rounds.last().copied(), self.timeout) {
                break;
            }
            rounds.push(took);
            if started.elapsed() >= self.timeout {
                return Err(Error::Other(format!(
                    "the stream of slot {old_slot} does not catch up: applying the last round of \
                     writes took {:.1} s, so requests would be held about that long; nothing was \
                     held. Cut over when the writes are fewer, or give the sync more CPU",
                    took.as_secs_f64()
                )));
            }
        }
        let file = PlanFile::open(&self.plan_path)?;
        let plan = file.plan().clone();
        // The new stream's publication as the plan has it now: the tables
        // join it under the fences, once the sides are equal.
        let current = match self.op {
            Operation::Cutover => reverse_spec(&plan, &self.service, &self.forward)?,
            Operation::Rollback => resolve_forward(&plan, Some(&self.service))?
                .into_iter()
                .next()
                .ok_or_else(|| Error::Plan(format!("service {} cannot sync", self.service)))?,
        };
        let (spec, source, target) = self.new_stream();
        ensure_publication(source, &current).await?;
        if slot_exists(source, &spec.slot).await? {
            return Ok(false);
        }
        let mut conn = ReplConnection::connect(
            &spec.source,
            &format!("strangler-{}-{}", self.op.as_str(), self.service),
        )
        .await?;
        let from = conn.create_slot(&spec.slot, false).await?.consistent_point;
        drop(conn);
        state::ensure_schema(target).await?;
        state::set_applied_lsn(target, &spec.slot, from, None).await?;
        Ok(true)
    }

    /// Under the fences, the sides equal: the tables join the new stream's
    /// publication and are recorded on its target as streaming from here
    /// (no copy), and leave the old stream's publication, so nothing loops.
    async fn join_new_stream(&mut self) -> Result<(), Error> {
        let (spec, source, target) = self.new_stream();
        ensure_publication(source, spec).await?;
        let from = current_lsn(source).await?;
        state::ensure_schema(target).await?;
        let metrics = Metrics::new(&spec.key());
        for t in &self.tables {
            state::set_table(
                target,
                &metrics,
                &self.service,
                t,
                TableState::Streaming,
                None,
                Some(from),
                None,
            )
            .await?;
        }
        // The old stream lets go of them (its publication may stay empty
        // until the sync stops that stream after the flip).
        match self.op {
            Operation::Cutover => ensure_publication(&self.monolith, &self.forward).await,
            Operation::Rollback => ensure_publication(&self.own, &self.reverse).await,
        }
    }

    /// After the flip: the old direction's part goes, the fences that are
    /// not to stay are lifted, and the proxies reload and release.
    async fn finish(&mut self) -> Result<(), Error> {
        let t = Instant::now();
        match self.op {
            Operation::Cutover => {
                // The forward stream forgets the tables; the monolith's
                // fence stays, now naming the owner.
                let metrics = Metrics::new(&self.forward.key());
                for table in &self.tables {
                    state::remove_table(&self.own, &metrics, &self.service, table).await?;
                }
                ensure_publication_or_drop(&self.monolith, &self.forward).await?;
                fence::fence(
                    &mut self.monolith,
                    &self.names,
                    &self.service,
                    "it owns the table since the cutover",
                    Duration::from_secs(30),
                )
                .await?;
                if self.forward.tables.is_empty() {
                    self.drop_unused_slot(Direction::Forward).await;
                }
            }
            Operation::Rollback => {
                let metrics = Metrics::new(&self.reverse.key());
                for table in &self.tables {
                    state::remove_table(&self.monolith, &metrics, &self.service, table).await?;
                }
                ensure_publication_or_drop(&self.own, &self.reverse).await?;
                if self.reverse.tables.is_empty() {
                    self.drop_unused_slot(Direction::Reverse).await;
                }
                fence::unfence(&self.monolith, &self.names).await?;
                fence::unfence(&self.own, &self.names).await?;
            }
        }
        self.release(true).await;
        self.clear_record().await?;
        self.step_done("release", t);
        Ok(())
    }

    /// Undoes every step before the flip; each part is idempotent.
    async fn undo(&mut self, flipped: bool) -> Result<(), Error> {
        if flipped {
            return self.finish().await;
        }
        let record = self.load_record().await?;
        let created = record.as_ref().is_some_and(|r| r.created_slot);
        let file = PlanFile::open(&self.plan_path)?;
        let plan = file.plan().clone();
        match self.op {
            Operation::Cutover => {
                // The reverse part goes: the reverse publication and state
                // as the plan has them now, the slot if this move made it.
                let current = reverse_spec(&plan, &self.service, &self.forward)?;
                ensure_publication_or_drop(&self.own, &current).await?;
                if state::has_schema(&self.monolith).await? {
                    let metrics = Metrics::new(&current.key());
                    for table in &self.tables {
                        state::remove_table(&self.monolith, &metrics, &self.service, table).await?;
                    }
                }
                if created || current.tables.is_empty() {
                    let saved = std::mem::replace(&mut self.reverse, current);
                    self.drop_unused_slot(Direction::Reverse).await;
                    self.reverse = saved;
                }
                // The tables go back into the forward publication before
                // the monolith's fence lifts.
                let forward = resolve_forward(&plan, Some(&self.service))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Plan(format!("service {} cannot sync", self.service)))?;
                ensure_publication(&self.monolith, &forward).await?;
                fence::unfence(&self.monolith, &self.names).await?;
            }
            Operation::Rollback => {
                let current = resolve_forward(&plan, Some(&self.service))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Plan(format!("service {} cannot sync", self.service)))?;
                ensure_publication_or_drop(&self.monolith, &current).await?;
                let metrics = Metrics::new(&current.key());
                for table in &self.tables {
                    state::remove_table(&self.own, &metrics, &self.service, table).await?;
                }
                if created && current.tables.is_empty() {
                    let saved = std::mem::replace(&mut self.forward, current);
                    self.drop_unused_slot(Direction::Forward).await;
                    self.forward = saved;
                }
                fence::unfence(&self.own, &self.names).await?;
            }
        }
        self.release(false).await;
        self.clear_record().await
    }

    /// Releases every proxy's fence (after reloading the plan, with
    /// `reload`); a proxy that does not answer lets go by itself when the
    /// hold times out, which is said in the report.
    async fn release(&mut self, reload: bool) {
        let mut longest: Option<u64> = None;
        for admin in &self.admins {
            let answer = match admin.release(&self.fence_name, reload).await {
                Ok(v) => Ok(v),
                // The plan may not load on that proxy: release anyway.
                Err(e) if reload => {
                    self.report
                        .warnings
                        .push(format!("{e}; released without reloading the plan there"));
                    admin.release(&self.fence_name, false).await
                }
                Err(e) => Err(e),
            };
            match answer {
                Ok(v) => {
                    if let Some(ms) = v.get("longest_held_ms").and_then(serde_json::Value::as_u64) {
                        longest = Some(longest.map_or(ms, |l| l.max(ms)));
                    }
                }
                Err(e) => self.report.warnings.push(format!(
                    "{e}; its fence lifts by itself {} s after it was set",
                    self.timeout.as_secs()
                )),
            }
        }
        if let Some(since) = self.held_since.take() {
            self.report.held_ms = millis(since.elapsed());
        }
        self.report.longest_request_held_ms = longest;
    }

    /// Drops the stream's slot once nothing streams it (the sync notices
    /// the plan change and stops it), waiting a little; a slot still in use
    /// is left with a warning, since dropping it would stop a stream.
    async fn drop_unused_slot(&mut self, direction: Direction) {
        let (client, spec) = match direction {
            Direction::Forward => (&self.monolith, &self.forward),
            Direction::Reverse => (&self.own, &self.reverse),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let row = client
                .query_opt(
                    "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                    &[&spec.slot],
                )
                .await;
            match row {
                Ok(None) => return,
                Ok(Some(r)) if r.get::<_, Option<i32>>(0).is_none() => {
                    let dropped = client
                        .execute("SELECT pg_drop_replication_slot($1)", &[&spec.slot])
                        .await;
                    if dropped.is_ok() {
                        let _ = state::clear_progress(
                            match direction {
                                Direction::Forward => &self.own,
                                Direction::Reverse => &self.monolith,
                            },
                            &spec.slot,
                        )
                        .await;
                        return;
                    }
                }
                Ok(Some(_)) if Instant::now() < deadline => {}
                Ok(Some(_)) | Err(_) => {
                    self.report.warnings.push(format!(
                        "slot {} has no table left but is still in use; once `strangler sync \
                         run` has let it go, `strangler sync teardown --service {}` drops it",
                        spec.slot, self.service
                    ));
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The reverse stream of `plan` for `service`, with its tables' column
/// mapping; `forward` lends its databases when no table is owned yet.
fn reverse_spec(plan: &Plan, service: &str, forward: &SyncSpec) -> Result<SyncSpec, Error> {
    let name = stream_name(service, Direction::Reverse);
    Ok(resolve_reverse(plan, Some(service))?
        .into_iter()
        .next()
        .unwrap_or_else(|| SyncSpec {
            service: service.to_owned(),
            direction: Direction::Reverse,
            source: forward.target.clone(),
            target: forward.source.clone(),
            slot: name.clone(),
            publication: name,
            tables: Vec::new(),
        }))
}

/// Brings a publication in line with `spec`'s tables, dropping it when
/// there are none (a publication cannot be emptied by the same means).
async fn ensure_publication_or_drop(client: &Client, spec: &SyncSpec) -> Result<(), Error> {
    if spec.tables.is_empty() {
        client
            .batch_execute(&format!(
                "DROP PUBLICATION IF EXISTS {}",
                quote_ident(&spec.publication)
            ))
            .await
            .ctx(|| format!("dropping publication {}", spec.publication))
    } else {
        ensure_publication(client, spec).await
    }
}

/// `plan` with the move done: the tables at their new stage and the
/// routes that write them live (cutover) or back at the monolith
/// (rollback).
fn flip(plan: &Plan, op: Operation, service: &str, tables: &[String]) -> Plan {
    let mut plan = plan.clone();
    let (_, to) = op.stages();
    if let Some(svc) = plan.service_mut(service) {
        for t in &mut svc.tables {
            if tables.contains(&t.name) {
                t.stage = to;
            }
        }
        for r in &mut svc.routes {
            if r.writes.iter().any(|w| tables.contains(w)) {
                r.stage = match op {
                    Operation::Cutover => RouteStage::Live,
                    Operation::Rollback => RouteStage::Monolith,
                };
                r.percent = None;
                r.sticky = None;
            }
        }
    }
    plan
}

/// The routes of `service` that write any of `tables`, as `METHODS path`.
fn write_routes(plan: &Plan, service: &str, tables: &[String]) -> Vec<String> {
    plan.service(service)
        .map(|s| {
            s.routes
                .iter()
                .filter(|r| r.writes.iter().any(|w| tables.contains(w)))
                .map(|r| format!("{} {}", r.methods_label(), r.path))
                .collect()
        })
        .unwrap_or_default()
}

fn empty_spec() -> SyncSpec {
    SyncSpec {
        service: String::new(),
        direction: Direction::Forward,
        source: String::new(),
        target: String::new(),
        slot: String::new(),
        publication: String::new(),
        tables: Vec::new(),
    }
}

async fn current_lsn(client: &Client) -> Result<Lsn, Error> {
    let lsn: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .ctx(|| "reading the WAL position".to_owned())?
        .get(0);
    lsn.parse().map_err(Error::Other)
}

async fn slot_exists(client: &Client, slot: &str) -> Result<bool, Error> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .ctx(|| format!("looking for slot {slot}"))?
        .is_some())
}

/// The largest value `sequence` has handed out, or `None` if none yet.
async fn issued_max(client: &Client, sequence: &str) -> Result<Option<i64>, Error> {
    let row = client
        .query_one(
            &format!(
                "SELECT s.last_value, s.is_called, p.increment_by \
                 FROM {sequence} s, pg_sequences p \
                 WHERE format('%I.%I', p.schemaname, p.sequencename)::regclass = $1::text::regclass"
            ),
            &[&sequence],
        )
        .await
        .ctx(|| format!("reading sequence {sequence}"))?;
    let last: i64 = row.get(0);
    let called: bool = row.get(1);
    let increment: i64 = row.get(2);
    Ok(if called {
        Some(last)
    } else {
        last.checked_sub(increment)
            .filter(|_| increment > 0 && last > 1)
    })
}

/// Whether something accepts TCP connections at the URL's host and port.
async fn reachable(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().ok_or("no host")?.to_owned();
    let port = parsed.port_or_known_default().ok_or("no port")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 3 s".to_owned()),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn bytes(n: u64) -> String {
    if n == u64::MAX {
        "an unknown amount".to_owned()
    } else if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_catch_up_stops_when_rounds_are_short_or_stop_shrinking() {
        let timeout = Duration::from_secs(30);
        // (this round, the one before, stop?)
        let cases = [
            (ms(100), None, true),
            (ms(499), Some(ms(5_000)), true),
            (ms(900), None, false),
            (ms(900), Some(ms(3_000)), false),
            (ms(900), Some(ms(1_000)), true),
            (ms(1_200), Some(ms(900)), true),
            (ms(2_500), Some(ms(2_400)), true),
            (ms(6_000), Some(ms(6_000)), false),
        ];
        for (took, previous, stop) in cases {
            assert_eq!(
                caught_up(took, previous, timeout),
                stop,
                "round {took:?} after {previous:?}"
            );
        }
        assert!(!caught_up(ms(1_500), Some(ms(1_500)), ms(4_000)));
        assert!(caught_up(ms(900), Some(ms(1_000)), ms(4_000)));
        assert_eq!(round_times(&[]), "");
        assert_eq!(
            round_times(&[ms(900), ms(1_100)]),
            "; the rounds before took 0.9 s, 1.1 s"
        );
    }
}
