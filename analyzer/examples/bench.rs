//! The analyzer benchmark's measuring program; `scripts/bench-analyzer.sh`
//! runs it once per mode and repetition, each in a fresh process, so that
//! peak memory is per mode.
//!
//! ```text
//! bench --mode parse   [--threads N] <dir>   # the floor: syn + sqlparser, nothing else
//! bench --mode parse-keep [--threads N] <dir>  # the same, but every syn tree is kept
//! bench --mode analyze [--threads N] <dir>   # strangler_analyzer::analyze
//! bench --mode parse-java [--threads N] <dir>  # the Java floor: tree-sitter-java + sqlparser
//! ```
//!
//! `parse` is the least any analyzer must do: find the `.rs` and `.sql`
//! files under `<dir>`, read them, and parse each `.rs` file with
//! `syn::parse_file` and each `.sql` file whole with sqlparser's
//! PostgreSQL dialect (errors ignored), on one thread per core, dropping
//! every tree at once. `parse-keep` keeps the Rust trees until the end (as
//! the analyzer's workers must, to analyze after the symbol table is
//! complete), to show how much of the analyzer's peak memory is syn's trees;
//! its time does not include dropping them. `analyze` runs the whole analysis with the default
//! configuration (no git history, no progress bar); on a Java tree it runs
//! the Java front end, and `parse-java` is that front end's floor: the
//! `.java` files the analyzer reads (those under a `src/main/java/`)
//! parsed with tree-sitter-java, one parser per thread, and the `.sql`
//! files with sqlparser, every tree dropped at once.
//!
//! Prints one line of `key=value` pairs: the wall time of the mode's work
//! in seconds, the process's peak resident memory (`VmHWM` from
//! `/proc/self/status`, read at the end) and what was processed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::{IntoParallelRefIterator, ParallelIterator};

/// Same as the analyzer's workers: syn recurses per nesting level.
const STACK_SIZE: usize = 64 * 1024 * 1024;

type Error = Box<dyn std::error::Error>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Parse,
    ParseKeep,
    ParseJava,
    Analyze,
}

struct Args {
    mode: Mode,
    threads: Option<usize>,
    dir: PathBuf,
}

/// The allocator the `strangler` binary uses, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Error> {
    let args = args()?;
    let report = match args.mode {
        Mode::Parse => parse_only(&args.dir, args.threads, false)?,
        Mode::ParseKeep => parse_only(&args.dir, args.threads, true)?,
        Mode::ParseJava => parse_java(&args.dir, args.threads)?,
        Mode::Analyze => analyze(&args.dir, args.threads)?,
    };
    let peak_kb = peak_rss_kb()?;
    println!("{report} peak_kb={peak_kb}");
    Ok(())
}

fn args() -> Result<Args, Error> {
    let usage = "usage: bench --mode parse|parse-keep|parse-java|analyze [--threads N] <dir>";
    let mut mode = None;
    let mut threads = None;
    let mut dir = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--mode" => {
                mode = Some(match it.next().as_deref() {
                    Some("parse") => Mode::Parse,
                    Some("parse-keep") => Mode::ParseKeep,
                    Some("parse-java") => Mode::ParseJava,
                    Some("analyze") => Mode::Analyze,
                    _ => return Err(usage.into()),
                });
            }
            "--threads" => {
                let n: usize = it.next().ok_or(usage)?.parse()?;
                threads = Some(n.max(1));
            }
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other if !other.starts_with('-') && dir.is_none() => dir = Some(PathBuf::from(other)),
            _ => return Err(usage.into()),
        }
    }
    Ok(Args {
        mode: mode.ok_or(usage)?,
        threads,
        dir: dir.ok_or(usage)?,
    })
}

/// The floor: walk, read, parse, drop.
fn parse_only(dir: &Path, threads: Option<usize>, keep: bool) -> Result<String, Error> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(STACK_SIZE)
        .build()?;
    let start = Instant::now();
    let mut rust = Vec::new();
    let mut sql = Vec::new();
    walk(dir, &mut rust, &mut sql)?;
    let (rs, sq) = pool.install(|| {
        rayon::join(
            || {
                rust.par_iter()
                    .map(|path| parse_rust(path, keep))
                    .reduce(Counts::default, Counts::add)
            },
            || {
                sql.par_iter()
                    .map(|path| parse_sql(path))
                    .reduce(Counts::default, Counts::add)
            },
        )
    });
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "mode={} threads={threads} secs={secs:.4} rs_files={} rs_parsed={} rs_lines={} sql_files={} sql_parsed={} sql_lines={}",
        if keep { "parse-keep" } else { "parse" },
        rust.len(),
        rs.ok,
        rs.lines,
        sql.len(),
        sq.ok,
        sq.lines,
    ))
}

#[derive(Default, Clone, Copy)]
struct Counts {
    ok: usize,
    lines: usize,
}

impl Counts {
    fn add(self, other: Self) -> Self {
        Self {
            ok: self.ok + other.ok,
            lines: self.lines + other.lines,
        }
    }
}

thread_local! {
    /// The trees `parse-keep` holds; syn's trees cannot leave their thread.
    static KEPT: std::cell::RefCell<Vec<syn::File>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn parse_rust(path: &Path, keep: bool) -> Counts {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Counts::default();
    };
    let parsed = std::hint::black_box(syn::parse_file(&text));
    let ok = parsed.is_ok();
    if let (true, Ok(file)) = (keep, parsed) {
        KEPT.with(|kept| kept.borrow_mut().push(file));
    }
    Counts {
        ok: usize::from(ok),
        lines: text.lines().count(),
    }
}

fn parse_sql(path: &Path) -> Counts {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Counts::default();
    };
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let parsed = sqlparser::parser::Parser::parse_sql(&dialect, &text);
    let ok = std::hint::black_box(parsed).is_ok();
    Counts {
        ok: usize::from(ok),
        lines: text.lines().count(),
    }
}

/// Every `.rs` and `.sql` file under `dir`, following no symlinks.
fn walk(dir: &Path, rust: &mut Vec<PathBuf>, sql: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, rust, sql)?;
        } else if kind.is_file() {
            match path.extension().and_then(|e| e.to_str()) {
                Some("rs") => rust.push(path),
                Some("sql") => sql.push(path),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The Java floor: walk, read, parse with tree-sitter-java (and sqlparser
/// for `.sql`), drop.
fn parse_java(dir: &Path, threads: Option<usize>) -> Result<String, Error> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let start = Instant::now();
    let mut java = Vec::new();
    let mut sql = Vec::new();
    walk_java(dir, &mut java, &mut sql)?;
    let (jv, sq) = pool.install(|| {
        rayon::join(
            || {
                java.par_iter()
                    .map_init(java_parser, |parser, path| parse_java_file(parser, path))
                    .reduce(Counts::default, Counts::add)
            },
            || {
                sql.par_iter()
                    .map(|path| parse_sql(path))
                    .reduce(Counts::default, Counts::add)
            },
        )
    });
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "mode=parse-java threads={threads} secs={secs:.4} java_files={} java_parsed={} java_lines={} sql_files={} sql_parsed={} sql_lines={}",
        java.len(),
        jv.ok,
        jv.lines,
        sql.len(),
        sq.ok,
        sq.lines,
    ))
}

/// One tree-sitter parser per worker thread, as cheap as parsing gets.
fn java_parser() -> Option<tree_sitter::Parser> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_java::LANGUAGE.into())
        .ok()?;
    Some(parser)
}

/// Parses one file; `ok` counts the files without syntax errors.
fn parse_java_file(parser: &mut Option<tree_sitter::Parser>, path: &Path) -> Counts {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Counts::default();
    };
    let tree = parser.as_mut().and_then(|p| p.parse(&text, None));
    let ok = std::hint::black_box(tree).is_some_and(|t| !t.root_node().has_error());
    Counts {
        ok: usize::from(ok),
        lines: text.lines().count(),
    }
}

/// The `.java` files under a `src/main/java/` (what the analyzer reads in a
/// Maven or Gradle layout) and every `.sql` file outside `src/test/`.
fn walk_java(dir: &Path, java: &mut Vec<PathBuf>, sql: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        let text = path.to_string_lossy();
        if kind.is_dir() {
            if !text.ends_with("/src/test") {
                walk_java(&path, java, sql)?;
            }
        } else if kind.is_file() {
            match path.extension().and_then(|e| e.to_str()) {
                Some("java") if text.contains("/src/main/java/") => java.push(path),
                Some("sql") => sql.push(path),
                _ => {}
            }
        }
    }
    Ok(())
}

fn analyze(dir: &Path, threads: Option<usize>) -> Result<String, Error> {
    let config = strangler_analyzer::Config {
        threads,
        ..strangler_analyzer::Config::default()
    };
    let start = Instant::now();
    let analysis = strangler_analyzer::analyze(dir, &config)?;
    let secs = start.elapsed().as_secs_f64();
    // The suggestion step (issue 4) on the graph just built, timed apart:
    // its goal is to take at most the time the graph took.
    let start = Instant::now();
    let suggestion = strangler_analyzer::cluster::suggest(
        &analysis,
        &strangler_analyzer::cluster::SuggestConfig::default(),
    );
    let suggest_secs = start.elapsed().as_secs_f64();
    let services = suggestion.map_or(0, |s| s.services.len());
    let s = &analysis.stats;
    let threads = threads.map_or_else(|| "default".to_owned(), |n| n.to_string());
    let report = format!(
        "mode=analyze threads={threads} secs={secs:.4} suggest_secs={suggest_secs:.4} suggest_ratio={:.2} services={services} rs_files={} rs_parsed={} rs_lines={} java_files={} java_parsed={} java_lines={} sql_files={} crates={} nodes={} edges={} diagnostics={} calls_resolved={} calls_unresolved={}",
        suggest_secs / secs,
        s.rust_files,
        s.rust_files_parsed,
        s.rust_lines,
        s.java_files,
        s.java_files_parsed,
        s.java_lines,
        s.sql_files,
        s.crates,
        analysis.nodes.len(),
        analysis.edges.len(),
        analysis.diagnostics.len(),
        s.calls_resolved,
        s.calls_unresolved,
    );
    drop(std::hint::black_box(analysis));
    Ok(report)
}

/// Peak resident set size of this process, in KiB.
fn peak_rss_kb() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    let kb = line.trim().trim_end_matches("kB").trim().parse()?;
    Ok(kb)
}
