//! `strangler sync`: the plan is read and validated here, the sync library
//! does the work and returns a typed report, and this module prints it (text
//! or JSON on stdout) and picks the exit code (1 when verify finds a
//! difference).

use std::fmt::Write as _;
use std::io::{self, IsTerminal as _, Write as _};
use std::process::ExitCode;

use strangler_sync::{
    Command, CopyOptions, FollowOptions, Report, Request, RunOptions, SchemaReport, ServiceSchema,
    ServiceStatus, TeardownReport, VerifyReport,
};

use crate::{EXIT_CHECK_FAILED, SyncCommand, open_plan};

/// Runs `strangler sync …`.
pub(crate) fn run(command: SyncCommand) -> anyhow::Result<ExitCode> {
    let (target, command, json) = match command {
        SyncCommand::Run {
            target,
            workers,
            metrics,
            no_wait,
        } => {
            let options = FollowOptions {
                run: RunOptions {
                    copy: CopyOptions {
                        workers,
                        progress: io::stderr().is_terminal(),
                    },
                    wait_for_lock: !no_wait,
                    ..RunOptions::default()
                },
                metrics,
                plan_path: Some(target.plan.clone()),
            };
            (target, Command::Run(options), false)
        }
        SyncCommand::Status { target, json } => (target, Command::Status, json),
        SyncCommand::Verify {
            target,
            json,
            timeout,
        } => (
            target,
            Command::Verify {
                timeout: std::time::Duration::from_secs(timeout),
            },
            json,
        ),
        SyncCommand::Schema(target) => (target, Command::Schema, false),
        SyncCommand::Teardown { target, slot } => match slot {
            Some(slot) => (target, Command::DropSlot { slot }, false),
            None => (target, Command::Teardown, false),
        },
    };
    let plan = open_plan(&target.plan)?;
    if !plan.is_valid() {
        eprint!("{}", plan.render_diagnostics());
        anyhow::bail!("{} is not a valid plan", target.plan.display());
    }
    let report = strangler_sync::execute(&Request {
        plan: plan.plan().clone(),
        service: target.service,
        command,
    })?;
    let mut out = io::stdout().lock();
    let code = match report {
        Report::Stopped => ExitCode::SUCCESS,
        Report::Status(all, orphans) => {
            if json {
                // The services' array as before; slots left behind are
                // warnings on stderr.
                serde_json::to_writer_pretty(&mut out, &all)?;
                writeln!(out)?;
            } else {
                out.write_all(render_status(&all).as_bytes())?;
                for o in &orphans {
                    writeln!(out, "warning: {}", o.warning())?;
                }
            }
            for s in &all {
                for w in &s.warnings {
                    tracing::warn!("{w}");
                }
            }
            for o in &orphans {
                tracing::warn!("{}", o.warning());
            }
            ExitCode::SUCCESS
        }
        Report::Verify(all) => {
            if json {
                serde_json::to_writer_pretty(&mut out, &all)?;
                writeln!(out)?;
            } else {
                out.write_all(render_verify(&all).as_bytes())?;
            }
            if all.iter().all(VerifyReport::is_ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_CHECK_FAILED)
            }
        }
        Report::Schema(all) => {
            out.write_all(render_schema(&all).as_bytes())?;
            ExitCode::SUCCESS
        }
        Report::Teardown(all) => {
            out.write_all(render_teardown(&all).as_bytes())?;
            ExitCode::SUCCESS
        }
    };
    out.flush()?;
    Ok(code)
}

/// Renders what `schema` did, a line per table.
fn render_schema(all: &[ServiceSchema]) -> String {
    let mut out = String::new();
    for s in all {
        for r in &s.tables {
            render_schema_table(&mut out, &s.service, r);
        }
    }
    out
}

fn render_schema_table(out: &mut String, service: &str, r: &SchemaReport) {
    if r.created {
        let _ = writeln!(
            out,
            "{service}: created {}; {} index statement(s) run after the copy",
            r.table,
            r.deferred.len()
        );
    } else {
        let _ = writeln!(out, "{service}: {} exists, left as it is", r.table);
    }
    for t in &r.types {
        let what = if t.created {
            "created"
        } else {
            "already there, same definition"
        };
        let _ = writeln!(out, "  {} {}: {what}", t.kind, t.name);
    }
    for s in &r.skipped {
        let _ = writeln!(out, "  skipped index {s}");
    }
}

/// Renders what `teardown` removed, a line per service.
fn render_teardown(all: &[TeardownReport]) -> String {
    let mut out = String::new();
    for r in all {
        let _ = writeln!(
            out,
            "{}: {}, {}, {} bookkeeping row(s) removed; the service's tables and data are left \
             in place",
            r.service,
            if r.slot_dropped {
                format!("dropped slot {}", r.slot)
            } else {
                format!("no slot {}", r.slot)
            },
            if r.publication_dropped {
                format!("dropped publication {}", r.publication)
            } else {
                format!("no publication {}", r.publication)
            },
            r.state_rows_removed
        );
    }
    out
}

/// Renders statuses for people.
fn render_status(statuses: &[ServiceStatus]) -> String {
    let mut out = String::new();
    for s in statuses {
        let _ = writeln!(
            out,
            "service {}: slot {} ({}), applied {}, lag {} bytes / {:.1} s",
            s.service,
            s.slot,
            match (s.slot_exists, s.slot_active) {
                (false, _) => "missing".to_owned(),
                (true, true) => "active".to_owned(),
                (true, false) => "inactive".to_owned(),
            },
            s.applied_lsn.as_deref().unwrap_or("-"),
            s.lag_bytes.map_or("-".to_owned(), |b| b.to_string()),
            s.lag_seconds.unwrap_or(0.0),
        );
        for t in &s.tables {
            let _ = writeln!(
                out,
                "  {:<30} {:<12} {:>12} rows copied{}",
                t.table,
                t.state.as_str(),
                t.rows_copied,
                t.error
                    .as_deref()
                    .map_or(String::new(), |e| format!("  error: {e}"))
            );
        }
        for w in &s.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    out
}

/// Renders verifications for people.
fn render_verify(reports: &[VerifyReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "service {} at {}:", r.service, r.lsn);
        for t in &r.tables {
            if t.mismatches.is_empty() {
                let _ = writeln!(
                    out,
                    "  ok        {:<30} {} rows, {} range(s)",
                    t.table, t.source_rows, t.ranges
                );
            } else {
                let _ = writeln!(
                    out,
                    "  MISMATCH  {:<30} monolith {} rows, service {} rows",
                    t.table, t.source_rows, t.target_rows
                );
                for m in &t.mismatches {
                    let range = match (m.from, m.to) {
                        (Some(a), Some(b)) => format!("key [{a}, {b})"),
                        _ => "whole table".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "            {range}: monolith {} rows hash {:x}, service {} rows hash {:x}",
                        m.source_rows, m.source_hash, m.target_rows, m.target_hash
                    );
                }
            }
        }
    }
    out
}
