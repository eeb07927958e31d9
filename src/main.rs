//! The `strangler` binary: argument parsing and dispatch, nothing more.
//!
//! Every tool lives in a library crate; this file maps subcommands onto
//! them and their results onto exit codes: 0 ok, 1 a check failed, 2 an
//! error or bad usage. A closed stdout (`strangler … | head`) is not an
//! error and exits 0.

use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, Parser, Subcommand};
use strangler_plan::{Plan, PlanError, PlanFile};
use strangler_proxy::ADMIN_TOKEN_ENV;

/// mimalloc instead of the system allocator: malloc and free were a quarter
/// of the analyzer's profile and about a tenth of the proxy's, and the
/// pingora notes measured 21k → 29k requests/s from this change alone.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod analyze_cmd;
mod completions_cmd;
mod move_cmd;
mod show;
mod sync_cmd;

/// Exit code: a check found problems (invalid plan, verify mismatch).
pub(crate) const EXIT_CHECK_FAILED: u8 = 1;
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
    /// Move tables, and the routes that write them, to their service, under load.
    #[command(
        after_help = "Example:\n  strangler cutover --plan strangler.toml --service orders --table orders --timeout 30s"
    )]
    Cutover(move_cmd::MoveArgs),
    /// Hand owned tables back to the monolith, with the routes that write them.
    #[command(
        after_help = "Example:\n  strangler rollback --plan strangler.toml --service orders --table orders"
    )]
    Rollback(move_cmd::MoveArgs),
    /// Retire the monolith's copy of an owned table, archived to a file.
    #[command(
        after_help = "Examples:\n  strangler decommission --service orders --table orders --archive orders.copy --watch 60s\n  \
        strangler decommission --restore orders.copy --database postgres://…/shop"
    )]
    Decommission(move_cmd::DecommissionArgs),
    /// Print the completion script for a shell on stdout.
    Completions(completions_cmd::CompletionsArgs),
    /// Print the man page, or write one per subcommand with --out.
    Man(completions_cmd::ManArgs),
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    strangler analyze fixtures/shop-monolith\n  \
    strangler analyze fixtures/shop-monolith --format json > graph.json\n  \
    strangler analyze . --format dot | dot -Tsvg > modules.svg\n  \
    strangler analyze . --git --format mermaid")]
pub(crate) struct AnalyzeArgs {
    /// The monolith's repository (a Cargo package or workspace).
    repo: PathBuf,
    /// What to print: a summary, the whole graph and services (json), a
    /// picture (dot, mermaid), or a self-contained HTML report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// With dot and mermaid: draw modules or services.
    #[arg(long, value_enum, default_value_t = Level::Module)]
    level: Level,
    /// Write the suggested plan here, or update it keeping the user's edits
    /// and comments.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The units grouped into services [plan: analyze.granularity; default: module].
    #[arg(long, value_enum)]
    granularity: Option<GranularityArg>,
    /// Leiden's resolution (the help names the analyzer's default).
    #[arg(long, help = analyze_cmd::resolution_help())]
    resolution: Option<f64>,
    /// Search the resolution that gives this many services.
    #[arg(long)]
    services: Option<usize>,
    /// Seed of the clustering (the help names the analyzer's default).
    #[arg(long, help = analyze_cmd::seed_help())]
    seed: Option<u64>,
    /// Evidence weights, as KIND=VALUE (the help lists the plan's kinds).
    #[arg(long = "weight", value_name = "KIND=VALUE", help = analyze_cmd::weight_help())]
    weights: Vec<String>,
    /// List candidate decompositions at several resolutions, with metrics.
    #[arg(long)]
    sweep: bool,
    /// Compare with a reference decomposition (MoJoFM, adjusted Rand index).
    #[arg(long, value_name = "GROUND_TRUTH_TOML")]
    truth: Option<PathBuf>,
    /// With --out on an existing plan: re-cluster every member that is not
    /// pinned (by default every member stays where the plan has it).
    #[arg(long)]
    reset: bool,
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
    Dot,
    Mermaid,
    Html,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Level {
    Module,
    Service,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum GranularityArg {
    Function,
    Module,
    File,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct PlanArgs {
    #[command(subcommand)]
    command: Option<PlanCommand>,
    /// The plan to open in the planner.
    #[arg(default_value = "strangler.toml")]
    file: PathBuf,
    /// Analyze this repository (in the background, with the UI up), for
    /// metrics, reasons and re-suggesting.
    #[arg(long, conflicts_with = "analysis")]
    repo: Option<PathBuf>,
    /// Read the graph from `strangler analyze --format json` output instead.
    #[arg(long)]
    analysis: Option<PathBuf>,
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
#[command(after_help = "Examples:\n  \
    strangler proxy --plan strangler.toml --listen 0.0.0.0:8000\n  \
    curl -s localhost:9900/routes\n  \
    curl -s -XPOST localhost:9900/routes/stage -H 'content-type: application/json' \
    -d '{\"service\":\"catalog\",\"route\":\"/api/products/{id}\",\"stage\":\"canary\",\"percent\":10}'\n  \
    openssl rand -hex 32 > admin.token; strangler proxy --admin 0.0.0.0:9900 --admin-token-file admin.token\n  \
    curl -s -H \"authorization: Bearer $(cat admin.token)\" 10.0.0.5:9900/routes\n\n\
    Admin API: a token is required when --admin is not loopback (--admin-token-file FILE, or \
    STRANGLER_ADMIN_TOKEN); with one, every request but GET /healthz needs \
    `Authorization: Bearer TOKEN`. Writes need `Content-Type: application/json`; requests \
    from another Origin or under a foreign Host are refused.\n\n\
    Signals: SIGHUP reloads the plan, SIGTERM stops gracefully, SIGQUIT hands the \
    sockets to a new process started with --upgrade.")]
// Command-line switches are naturally booleans.
#[allow(clippy::struct_excessive_bools)]
struct ProxyArgs {
    /// The plan whose routes to serve.
    #[arg(long, default_value = "strangler.toml", env = "STRANGLER_PLAN")]
    plan: PathBuf,
    /// Where to listen for clients (IP:PORT) [default: 0.0.0.0:8000].
    #[arg(long, env = "STRANGLER_LISTEN")]
    listen: Option<String>,
    /// Where to serve the admin API and metrics (IP:PORT) [default: 127.0.0.1:9900].
    #[arg(long, env = "STRANGLER_ADMIN")]
    admin: Option<String>,
    /// Turn the admin API off.
    #[arg(long, conflicts_with = "admin")]
    no_admin: bool,
    /// Read the admin API's bearer token from this file (required when --admin
    /// is not loopback). Without it, the token comes from `STRANGLER_ADMIN_TOKEN`;
    /// it is never a flag's value, which `ps` would show.
    #[arg(long, value_name = "FILE", env = "STRANGLER_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Another host name the admin API answers to (repeatable); any Host but
    /// its own IP, `localhost` and these gets 421.
    #[arg(long, value_name = "NAME")]
    admin_host: Vec<String>,
    /// Worker threads [default: one per CPU].
    #[arg(long, env = "STRANGLER_THREADS")]
    threads: Option<usize>,
    /// Write a JSON line per request to this file (`-` for stdout).
    #[arg(long, env = "STRANGLER_ACCESS_LOG")]
    access_log: Option<PathBuf>,
    /// Export a span per request to this OpenTelemetry collector: its OTLP/HTTP
    /// base URL, such as `http://127.0.0.1:4318` (spans go to `/v1/traces`, as
    /// JSON) [default: off].
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Do not add the `x-strangler-target` response header.
    #[arg(long)]
    no_target_header: bool,
    /// Set `Host` to the upstream's host:port instead of the client's.
    #[arg(long)]
    rewrite_host: bool,
    /// Do not reload when the plan file changes (SIGHUP and POST /reload still do).
    #[arg(long)]
    no_watch: bool,
    /// The path active health checks request on every upstream.
    #[arg(long, default_value = "/")]
    health_path: String,
    /// Seconds between active health checks; 0 turns them off.
    #[arg(long, default_value_t = 5)]
    health_interval: u64,
    /// Largest request body copied to a shadow, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    shadow_body_cap: usize,
    /// Largest request header (request line and header lines) in bytes; 431 above.
    #[arg(long, default_value_t = 64 << 10)]
    max_header_bytes: usize,
    /// Largest request body in bytes; 413 above.
    #[arg(long, default_value_t = 64 << 20)]
    max_body_bytes: u64,
    /// Seconds a client may take to send a complete request header; the
    /// connection is closed after it.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds allowed to connect to an upstream (then: the monolith, or 504).
    #[arg(long, default_value_t = 2)]
    upstream_connect_timeout: u64,
    /// Seconds an upstream may take to the first byte of its answer, and
    /// between two reads after it; 0 waits forever.
    #[arg(long, default_value_t = 30)]
    upstream_read_timeout: u64,
    /// Seconds each write of the request to an upstream may take; 0 waits forever.
    #[arg(long, default_value_t = 30)]
    upstream_write_timeout: u64,
    /// Seconds a whole exchange with an upstream may take; 0 (the default) sets no limit.
    #[arg(long, default_value_t = 0)]
    upstream_total_timeout: u64,
    /// Serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Take the listening sockets over from a running proxy (binary upgrade).
    #[arg(long)]
    upgrade: bool,
    /// The Unix socket listening sockets are handed over on.
    #[arg(long, default_value = "/tmp/strangler-proxy-upgrade.sock")]
    upgrade_sock: PathBuf,
}

#[derive(Args)]
struct SyncArgs {
    #[command(subcommand)]
    command: SyncCommand,
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Snapshot and stream every table at stage `syncing` until SIGINT or SIGTERM.
    #[command(
        after_help = "Example:\n  strangler sync run --plan strangler.toml --service catalog --metrics 127.0.0.1:9187"
    )]
    Run {
        #[command(flatten)]
        target: SyncTarget,
        /// Parallel COPY streams per service during the snapshot copy.
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Serve Prometheus metrics on this address.
        #[arg(long, env = "STRANGLER_SYNC_METRICS")]
        metrics: Option<String>,
        /// Exit 2 when another `sync run` already holds the service, instead
        /// of waiting for it to stop and taking over.
        #[arg(long)]
        no_wait: bool,
    },
    /// Per-table state, rows copied, lag, errors, and WAL the slot retains.
    #[command(after_help = "Example:\n  strangler sync status --plan strangler.toml --json")]
    Status {
        #[command(flatten)]
        target: SyncTarget,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Compare row counts and hashes per key range on both sides; exit 1 on a mismatch.
    #[command(
        after_help = "Example:\n  strangler sync verify --plan strangler.toml --service catalog"
    )]
    Verify {
        #[command(flatten)]
        target: SyncTarget,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the running sync to reach the monolith's position.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Create the target tables from the source's DDL (indexes are built after the copy).
    Schema(SyncTarget),
    /// Drop the replication slot and publication of one service, or (with
    /// --slot) a slot of strangler's that no service of the plan uses.
    #[command(
        after_help = "Examples:\n  strangler sync teardown --plan strangler.toml --service catalog\n  strangler sync teardown --plan strangler.toml --slot strangler_search"
    )]
    Teardown {
        #[command(flatten)]
        target: SyncTarget,
        /// A slot on the monolith that `strangler sync status` lists as
        /// belonging to no stream of the plan (a removed service's): drop it
        /// and its publication.
        #[arg(long, conflicts_with = "service")]
        slot: Option<String>,
    },
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
pub(crate) struct StatusArgs {
    /// The plan to report on.
    #[arg(long, default_value = "strangler.toml", env = "STRANGLER_PLAN")]
    pub(crate) plan: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Measure the traffic shares over this much of the proxies' traffic
    /// (their counters are read twice, this far apart); `0s` gives the
    /// shares of every request since the proxies started.
    #[arg(long, default_value = "2s", value_parser = move_cmd::duration_arg)]
    pub(crate) window: std::time::Duration,
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
        Command::Plan(PlanArgs {
            command: None,
            file,
            repo,
            analysis,
        }) => {
            let analysis = match (repo, analysis) {
                (Some(repo), _) => strangler_tui::AnalysisSource::Repo(repo),
                (None, Some(json)) => strangler_tui::AnalysisSource::Json(json),
                (None, None) => strangler_tui::AnalysisSource::None,
            };
            strangler_tui::run(&strangler_tui::Options { file, analysis })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyze(args) => analyze_cmd::run(&args),
        Command::Proxy(args) => {
            let mut config = strangler_proxy::ProxyConfig::new(&args.plan);
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            if args.no_admin {
                config.admin = None;
            } else if let Some(admin) = args.admin {
                config.admin = Some(admin);
            }
            config.admin_token = match (args.admin_token_file, std::env::var(ADMIN_TOKEN_ENV)) {
                (Some(file), _) => Some(strangler_proxy::AdminToken::from_file(&file)?),
                (None, Ok(token)) => Some(strangler_proxy::AdminToken::new(token)?),
                (None, Err(std::env::VarError::NotPresent)) => None,
                (None, Err(e)) => anyhow::bail!("{ADMIN_TOKEN_ENV}: {e}"),
            };
            config.admin_hosts = args.admin_host;
            if let Some(threads) = args.threads {
                config.threads = threads;
            }
            config.access_log = args.access_log;
            config.otlp_endpoint = args.otlp_endpoint.filter(|e| !e.is_empty());
            config.target_header = !args.no_target_header;
            config.rewrite_host = args.rewrite_host;
            config.watch = !args.no_watch;
            config.health.path = args.health_path;
            config.health.interval = std::time::Duration::from_secs(args.health_interval);
            config.shadow.body_cap = args.shadow_body_cap;
            config.max_header_bytes = args.max_header_bytes;
            config.max_body_bytes = args.max_body_bytes;
            let secs = std::time::Duration::from_secs;
            let limit = |n: u64| (n > 0).then(|| secs(n));
            config.header_timeout = secs(args.header_timeout);
            config.timeouts.connect = secs(args.upstream_connect_timeout);
            config.timeouts.read = limit(args.upstream_read_timeout);
            config.timeouts.write = limit(args.upstream_write_timeout);
            config.timeouts.total = limit(args.upstream_total_timeout);
            config.tls = args
                .tls_cert
                .zip(args.tls_key)
                .map(|(cert, key)| strangler_proxy::TlsConfig { cert, key });
            config.upgrade = args.upgrade;
            config.upgrade_sock = args.upgrade_sock;
            strangler_proxy::run(config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync(SyncArgs { command }) => sync_cmd::run(command),
        Command::Status(args) => move_cmd::status(&args),
        Command::Cutover(args) => move_cmd::run_move(&args, true),
        Command::Rollback(args) => move_cmd::run_move(&args, false),
        Command::Decommission(args) => move_cmd::decommission(&args),
        Command::Completions(args) => completions_cmd::completions(&args, Cli::command()),
        Command::Man(args) => completions_cmd::man(&args, Cli::command()),
    }
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
