//! The `strangler` binary: argument parsing and dispatch, nothing more.
//!
//! Every tool lives in a library crate; this file maps subcommands onto
//! them and their results onto exit codes: 0 ok, 1 a check failed, 2 an
//! error or bad usage. A closed stdout (`strangler … | head`) is not an
//! error and exits 0.

use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use strangler_plan::{Plan, PlanError, PlanFile};

mod show;

/// Exit code: a check found problems (invalid plan, verify mismatch).
const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: an error, bad usage, or a tool that does not exist yet.
const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "strangler",
    version,
    about = "Strangle a monolith into services, one endpoint and one table at a time.",
    long_about = "Strangle a monolith into services, one endpoint and one table at a time.\n\n\
        One plan file, strangler.toml, ties the tools together: `analyze` suggests it, `plan` \
        reviews and edits it, `proxy` moves routes by it and `sync` moves tables by it.",
    after_help = "Examples:\n  \
        strangler analyze fixtures/shop-monolith --out strangler.toml\n  \
        strangler plan check strangler.toml\n  \
        strangler plan show strangler.toml --json\n\n\
        Exit codes: 0 ok, 1 a check failed, 2 error or usage."
)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse a monolith's Rust code and SQL, suggest service boundaries and write the plan.
    Analyze(AnalyzeArgs),
    /// Review and edit the migration plan (a terminal UI), or check and show it.
    Plan(PlanArgs),
    /// Run the reverse proxy that moves routes from the monolith to services.
    Proxy(ProxyArgs),
    /// Copy and stream tables from the monolith's PostgreSQL into services' databases.
    Sync(SyncArgs),
    /// How far the monolith is from being switched off.
    Status(StatusArgs),
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    strangler analyze fixtures/shop-monolith\n  \
    strangler analyze fixtures/shop-monolith --format json > graph.json\n  \
    strangler analyze . --format dot | dot -Tsvg > modules.svg\n  \
    strangler analyze . --git --format mermaid")]
struct AnalyzeArgs {
    /// The monolith's repository (a Cargo package or workspace).
    repo: PathBuf,
    /// What to print: a summary, the whole graph, or a module-level picture.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Add co-change coupling from the git history.
    #[arg(long)]
    git: bool,
    /// With --git: skip commits that touch more files than this.
    #[arg(long, default_value_t = 30, requires = "git")]
    git_max_files: usize,
    /// With --git: a file needs this many revisions to count.
    #[arg(long, default_value_t = 5, requires = "git")]
    git_min_revisions: u32,
    /// With --git: a pair needs this many shared commits to count.
    #[arg(long, default_value_t = 3, requires = "git")]
    git_min_shared: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct PlanArgs {
    #[command(subcommand)]
    command: Option<PlanCommand>,
    /// The plan to open in the planner.
    #[arg(default_value = "strangler.toml")]
    file: PathBuf,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Validate a plan: exit 0 if valid, else 1 with every problem listed.
    #[command(
        after_help = "Example:\n  strangler plan check fixtures/shop-monolith/strangler.toml"
    )]
    Check {
        /// The plan file.
        file: PathBuf,
        /// Print the diagnostics as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print a plan: services, members, routes and tables with their stages.
    #[command(
        after_help = "Example:\n  strangler plan show fixtures/shop-monolith/strangler.toml --json"
    )]
    Show {
        /// The plan file.
        file: PathBuf,
        /// Print the plan as JSON (the plan model's field names) on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ProxyArgs {
    /// The plan whose routes to serve.
    #[arg(long, default_value = "strangler.toml", env = "STRANGLER_PLAN")]
    plan: PathBuf,
    /// Where to listen for clients.
    #[arg(long, env = "STRANGLER_LISTEN")]
    listen: Option<String>,
    /// Where to serve the admin API and metrics.
    #[arg(long, env = "STRANGLER_ADMIN")]
    admin: Option<String>,
}

#[derive(Args)]
struct SyncArgs {
    #[command(subcommand)]
    command: SyncCommand,
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Snapshot and stream every table at stage `syncing`.
    Run(SyncTarget),
    /// Per-table state, rows copied, lag and errors.
    Status(SyncTarget),
    /// Compare row counts and hashes on both sides.
    Verify(SyncTarget),
    /// Create the target tables from the source's DDL.
    Schema(SyncTarget),
    /// Drop the replication slot and publication.
    Teardown(SyncTarget),
}

#[derive(Args)]
struct SyncTarget {
    /// The plan naming the databases and tables.
    #[arg(long, default_value = "strangler.toml", env = "STRANGLER_PLAN")]
    plan: PathBuf,
    /// Only this service's tables.
    #[arg(long)]
    service: Option<String>,
}

#[derive(Args)]
struct StatusArgs {
    /// The plan to report on.
    #[arg(long, default_value = "strangler.toml", env = "STRANGLER_PLAN")]
    plan: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match run(cli.command) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("strangler: error: {}", message(&err));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Plan(PlanArgs {
            command: Some(PlanCommand::Check { file, json }),
            ..
        }) => plan_check(&file, json),
        Command::Plan(PlanArgs {
            command: Some(PlanCommand::Show { file, json }),
            ..
        }) => plan_show(&file, json),
        Command::Plan(PlanArgs { command: None, .. }) => {
            Ok(not_implemented("plan (the planner UI)", 7))
        }
        Command::Analyze(args) => analyze(&args),
        Command::Proxy(_) => Ok(not_implemented("proxy", 5)),
        Command::Sync(_) => Ok(not_implemented("sync", 6)),
        Command::Status(_) => Ok(not_implemented("status", 2)),
    }
}

/// Says plainly that a tool is not built yet; nothing pretends to work.
fn not_implemented(what: &str, issue: u32) -> ExitCode {
    eprintln!(
        "strangler: `{what}` is not implemented yet (tracked in issue {issue}); \
         `strangler plan check` and `strangler plan show` work today"
    );
    ExitCode::from(EXIT_ERROR)
}

fn analyze(args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    use strangler_analyzer::{Config, Format, HistoryConfig};
    let format = match args.format {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Dot => Format::Dot,
        OutputFormat::Mermaid => Format::Mermaid,
    };
    let config = Config {
        history: args.git.then(|| HistoryConfig {
            max_files_per_commit: args.git_max_files,
            min_revisions: args.git_min_revisions,
            min_shared_commits: args.git_min_shared,
            ..HistoryConfig::default()
        }),
        progress: io::stderr().is_terminal() && !matches!(args.format, OutputFormat::Json),
        ..Config::default()
    };
    let analysis = strangler_analyzer::analyze(&args.repo, &config)?;
    let mut out = io::stdout().lock();
    out.write_all(strangler_analyzer::render(&analysis, format).as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn open_plan(file: &Path) -> anyhow::Result<PlanFile> {
    PlanFile::open(file).map_err(|e| match e {
        PlanError::Read { ref source, .. } if source.kind() == io::ErrorKind::NotFound => anyhow::anyhow!(
            "{e}\n    help: check the path, or create a plan with `strangler analyze <repo> --out strangler.toml`"
        ),
        other => other.into(),
    })
}

fn plan_check(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let plan = open_plan(file)?;
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, plan.diagnostics())?;
        writeln!(out)?;
    } else {
        write!(out, "{}", plan.render_diagnostics())?;
        let errors = plan.diagnostics().iter().filter(|d| d.is_error()).count();
        let warnings = plan.diagnostics().len() - errors;
        if errors == 0 {
            writeln!(
                out,
                "{}: valid plan, {}{}",
                file.display(),
                show::counts(plan.plan()),
                plural(warnings, "warning", ", ")
            )?;
        } else {
            writeln!(
                out,
                "{}: invalid plan: {}{}",
                file.display(),
                plural(errors, "error", ""),
                plural(warnings, "warning", ", ")
            )?;
        }
    }
    out.flush()?;
    Ok(if plan.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    })
}

fn plural(n: usize, word: &str, lead: &str) -> String {
    match n {
        0 if !lead.is_empty() => String::new(),
        1 => format!("{lead}1 {word}"),
        n => format!("{lead}{n} {word}s"),
    }
}

fn plan_show(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let plan = open_plan(file)?;
    if !plan.is_valid() {
        eprint!("{}", plan.render_diagnostics());
        eprintln!(
            "strangler: {} is not a valid plan; fix the errors above (`strangler plan check` lists them)",
            file.display()
        );
        return Ok(ExitCode::from(EXIT_CHECK_FAILED));
    }
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, plan.plan() as &Plan)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", show::render(file, plan.plan()))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let color =
        io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(color)
        .init();
}

/// The error and its causes on one line, skipping a cause whose text the
/// message already holds (many errors print their source themselves).
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                .is_some_and(|k| k == io::ErrorKind::BrokenPipe)
    })
}
