//! `strangler cutover`, `rollback`, `decommission` and `status`: the flags
//! are read here, the sync library does the work and returns a report, and
//! this module prints it (text, or JSON with `--json`) and picks the exit
//! code: 0 done, 1 refused or aborted with nothing changed, 2 an error.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use strangler_sync::{DecommissionRequest, Error, MoveReport, MoveRequest, Overview, block_on};

use crate::{EXIT_CHECK_FAILED, StatusArgs};

/// `strangler cutover` and `strangler rollback`.
#[derive(Args)]
pub(crate) struct MoveArgs {
    /// The plan; the move saves it at its flip.
    #[arg(long, default_value = "strangler.toml", env = "STRANGLER_PLAN")]
    plan: PathBuf,
    /// The service taking (cutover) or giving back (rollback) the tables.
    #[arg(long)]
    service: String,
    /// A table to move; repeat for several (they move together).
    #[arg(long = "table", required = true)]
    tables: Vec<String>,
    /// The longest requests are held, such as `30s` or `1500ms`.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    timeout: Duration,
    /// Refuse when the stream is more than this many MiB behind.
    #[arg(long, default_value_t = 16)]
    max_lag_mib: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `strangler decommission`.
#[derive(Args)]
pub(crate) struct DecommissionArgs {
    /// The plan.
    #[arg(long, default_value = "strangler.toml", env = "STRANGLER_PLAN")]
    plan: PathBuf,
    /// The service that owns the table.
    #[arg(long, required_unless_present = "restore")]
    service: Option<String>,
    /// The table whose monolith copy is retired.
    #[arg(long, required_unless_present = "restore")]
    table: Option<String>,
    /// Where the copy is archived (a file `--restore` loads back).
    #[arg(long, required_unless_present = "restore")]
    archive: Option<PathBuf>,
    /// Drop the monolith's copy instead of moving it into the
    /// `strangler_archive` schema.
    #[arg(long)]
    drop: bool,
    /// How long to watch the copy for reads first, such as `60s`.
    #[arg(long, default_value = "60s", value_parser = duration_arg)]
    watch: Duration,
    /// Load an archive back instead (into --database).
    #[arg(long, requires = "database")]
    restore: Option<PathBuf>,
    /// The database `--restore` loads into.
    #[arg(long)]
    database: Option<String>,
}

/// A duration flag as `30s`, `1500ms`, `2m`, `1h` or bare seconds, read
/// by the plan's own duration parser.
pub(crate) fn duration_arg(text: &str) -> Result<Duration, String> {
    let parsed = if text.bytes().all(|b| b.is_ascii_digit()) {
        strangler_plan::parse_duration(&format!("{text}s"))
    } else {
        strangler_plan::parse_duration(text)
    };
    parsed.ok_or_else(|| format!("`{text}` is not a duration such as `30s`, `500ms` or `2m`"))
}

/// Exit 1 for a refusal or an abort that changed nothing, else the error.
fn outcome(e: Error) -> anyhow::Result<ExitCode> {
    match e {
        Error::Preflight(_) | Error::Other(_) => {
            eprintln!("strangler: {e}");
            Ok(ExitCode::from(EXIT_CHECK_FAILED))
        }
        e => Err(e.into()),
    }
}

/// Runs a cutover (`cutover` true) or a rollback.
pub(crate) fn run_move(args: &MoveArgs, cutover: bool) -> anyhow::Result<ExitCode> {
    let mut request = MoveRequest::new(args.plan.clone(), &args.service, args.tables.clone());
    request.timeout = args.timeout;
    request.max_lag_bytes = args.max_lag_mib << 20;
    let result = if cutover {
        block_on(strangler_sync::cutover(&request))
    } else {
        block_on(strangler_sync::rollback(&request))
    };
    let report = match result {
        Ok(report) => report,
        Err(e) => return outcome(e),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(render_move(&report).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render_move(r: &MoveReport) -> String {
    let mut s = String::new();
    if let Some(resumed) = &r.resumed {
        let _ = writeln!(s, "{resumed}");
    }
    let _ = writeln!(
        s,
        "{} of {} for service {}: done",
        r.operation,
        r.tables.join(", "),
        r.service
    );
    if !r.routes.is_empty() {
        let _ = writeln!(s, "  routes moved: {}", r.routes.join(", "));
    }
    let steps: Vec<String> = r
        .steps
        .iter()
        .map(|t| format!("{} {} ms", t.step, t.ms))
        .collect();
    if !steps.is_empty() {
        let _ = writeln!(s, "  steps: {}", steps.join(", "));
    }
    let _ = write!(s, "  writes held for {} ms", r.held_ms);
    if let Some(ms) = r.longest_request_held_ms {
        let _ = write!(s, " (longest request held: {ms} ms)");
    }
    s.push('\n');
    for w in &r.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    s
}

/// Runs `strangler decommission`.
pub(crate) fn decommission(args: &DecommissionArgs) -> anyhow::Result<ExitCode> {
    if let (Some(archive), Some(database)) = (&args.restore, &args.database) {
        return match block_on(strangler_sync::restore(database, archive)) {
            Ok(rows) => {
                println!("restored {rows} row(s) from {}", archive.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => outcome(e),
        };
    }
    let (Some(service), Some(table), Some(archive)) = (&args.service, &args.table, &args.archive)
    else {
        anyhow::bail!("name the table with --service, --table and --archive");
    };
    let request = DecommissionRequest {
        plan_path: args.plan.clone(),
        service: service.clone(),
        table: table.clone(),
        archive: archive.clone(),
        drop: args.drop,
        watch: args.watch,
    };
    match block_on(strangler_sync::decommission(&request)) {
        Ok(r) => {
            println!(
                "table {} of service {} decommissioned: {} row(s) archived to {}; the monolith's \
                 copy {}",
                r.table,
                r.service,
                r.rows,
                r.archive,
                if r.copy == "dropped" {
                    "was dropped".to_owned()
                } else {
                    format!("is now {}", r.copy)
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => outcome(e),
    }
}

/// Runs `strangler status`.
pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let overview = block_on(strangler_sync::overview(&args.plan, args.window))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &overview)?;
        writeln!(out)?;
    } else {
        out.write_all(render_status(&overview).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render_status(o: &Overview) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "monolith: {:.0}% of the traffic (from the {}), {} of {} table(s) still its own",
        o.monolith_traffic_share * 100.0,
        match (o.traffic_from, o.traffic_window_secs) {
            ("proxies", Some(w)) => format!("proxies' counters over the last {w} s"),
            ("proxies", None) => {
                "proxies' counters since they started; no request in the window".to_owned()
            }
            _ => "plan's stages; no proxy answered".to_owned(),
        },
        o.monolith_tables,
        o.tables
    );
    if let Some(n) = o.unmatched_requests {
        let _ = writeln!(
            s,
            "  {n} request(s) matched no route of the plan (the monolith's, in its share)"
        );
    }
    for svc in &o.services {
        let _ = writeln!(s, "\nservice {}", svc.name);
        for r in &svc.routes {
            let _ = writeln!(
                s,
                "  route {:<32} {:<8} {:>4.0}% to the service{}  next: {}",
                r.route,
                r.stage.as_str(),
                r.service_share * 100.0,
                r.requests
                    .map(|n| format!(" ({n} requests)"))
                    .unwrap_or_default(),
                r.next
            );
        }
        for t in &svc.tables {
            let stream = match (&t.stream, &t.state) {
                (Some(d), Some(st)) => format!(
                    " {} {st}{}",
                    match d {
                        strangler_sync::Direction::Forward => "forward",
                        strangler_sync::Direction::Reverse => "reverse",
                    },
                    t.lag_bytes
                        .map(|b| format!(", lag {b} B"))
                        .unwrap_or_default()
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "  table {:<32} {:<14}{stream}  next: {}",
                t.table,
                t.stage.as_str(),
                t.next
            );
        }
    }
    for p in &o.problems {
        let _ = writeln!(s, "\n{p}");
    }
    for u in &o.unreachable {
        let _ = writeln!(s, "\nnot reached: {u}");
    }
    for slot in &o.orphan_slots {
        let _ = writeln!(s, "\nwarning: {}", slot.warning());
    }
    s
}
