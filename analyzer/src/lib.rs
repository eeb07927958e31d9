//! The analyzer behind `strangler analyze`: a monolith's Rust or Java code
//! and SQL become one dependency graph of crates, modules, functions, types, HTTP
//! routes and tables, which later steps cluster into services.
//!
//! ```no_run
//! let analysis = strangler_analyzer::analyze(
//!     std::path::Path::new("fixtures/shop-monolith"),
//!     &strangler_analyzer::Config::default(),
//! )?;
//! println!("{}", strangler_analyzer::render(&analysis, strangler_analyzer::Format::Text));
//! # Ok::<(), strangler_analyzer::AnalyzeError>(())
//! ```
//!
//! The analysis never stops at a bad file: a file that cannot be read or
//! parsed, SQL the parser rejects, or a symlink loop becomes a
//! [`Diagnostic`] and the rest goes on. It fails only when the root does not
//! exist or holds neither a Rust crate nor a Java project ([`java`] is the
//! Java front end, chosen when there is no Rust crate). It never opens a
//! socket.
//!
//! The public API is the [`analyze`] entry point and its [`Config`], the
//! graph types ([`Analysis`], [`Node`], [`Edge`], ...), [`render`] and
//! [`read_json`] for the outputs, [`cluster`] for suggesting services, and
//! [`history`] for co-changes. [`routes`], [`sql`] and [`source`] expose the
//! entry points of those passes on already parsed files, for tests and
//! benchmarks that hold a pass to its fixtures; [`crate_sources`] loads the
//! files of one crate as discovery would. The passes' internals are private.
//!
//! Steps, each in its own module: `discover` walks the tree, `parse` runs
//! syn in parallel, `rust` builds the symbol table and each function's
//! calls, types and SQL, [`sql`] reads queries and the schema, [`routes`]
//! finds HTTP routes, [`history`] reads co-changes with gix, and `output`
//! renders text, JSON, DOT and Mermaid.

pub mod cluster;
mod discover;
mod graph;
pub mod history;
pub mod java;
mod output;
mod parse;
pub mod routes;
mod rust;
pub mod source;
pub mod sql;
mod workers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use graph::{Detail, Edge, EdgeKind, Graph, Node, NodeKind, TableAccess};
pub use history::HistoryConfig;
pub use output::{Format, ReadJsonError, read_json, render};
pub use rust::consts::Consts;
pub use source::Diagnostic;

use graph::{GraphBuilder, route_id, table_id};
use rust::symbols::Symbols;

/// How to analyze.
#[derive(Debug, Clone)]
pub struct Config {
    /// Read co-change coupling from the git history, with these thresholds.
    pub history: Option<HistoryConfig>,
    /// Skip Rust files larger than this many bytes.
    pub max_file_bytes: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Worker threads; `None` uses one per core.
    pub threads: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            history: None,
            max_file_bytes: parse::DEFAULT_MAX_FILE_BYTES,
            progress: false,
            threads: None,
        }
    }
}

/// Why an analysis could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The root does not exist or is not a directory.
    #[error("{} is not a directory; point `strangler analyze` at the monolith's repository", path.display())]
    NotADirectory {
        /// The root given.
        path: PathBuf,
    },
    /// The root holds no Rust crate and is no Java project.
    #[error("no Rust crate found under {}: expected a Cargo.toml with [package] and .rs files under src/ (or, for Java, a pom.xml, build.gradle, settings.gradle or src/main/java)", path.display())]
    NoRust {
        /// The root given.
        path: PathBuf,
    },
    /// The worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Threads(String),
}

/// The result of an analysis. It is written as JSON by [`render`] with
/// [`Format::Json`] (and, with the suggestion, by
/// [`cluster::report::json`]) and read back by [`read_json`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analysis {
    /// Nodes, sorted by id.
    pub nodes: Vec<Node>,
    /// Edges, sorted by (from, to, kind).
    pub edges: Vec<Edge>,
    /// Every problem met, sorted by file and line.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
    /// Counts.
    #[serde(default)]
    pub stats: Stats,
}

/// Counts describing an analysis.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Rust files found in crates.
    pub rust_files: usize,
    /// Rust files parsed (the rest are diagnostics).
    pub rust_files_parsed: usize,
    /// `.rs` files outside any crate's `src/` (tests, examples), not analyzed.
    pub rust_files_outside_crates: usize,
    /// SQL files read.
    pub sql_files: usize,
    /// Lines of Rust parsed.
    pub rust_lines: usize,
    /// Crates found.
    pub crates: usize,
    /// Nodes by kind.
    pub nodes: BTreeMap<NodeKind, usize>,
    /// Edges by kind.
    pub edges: BTreeMap<EdgeKind, usize>,
    /// Calls resolved to a function of the analyzed code.
    pub calls_resolved: u32,
    /// Calls into the analyzed code that could not be resolved.
    pub calls_unresolved: u32,
    /// Commits counted for co-changes (`--git`).
    pub history_commits: Option<usize>,
    /// Production `.java` files found (the Java front end).
    #[serde(default)]
    pub java_files: usize,
    /// Java files parsed (a file with syntax errors still counts, with a
    /// diagnostic; unreadable ones do not).
    #[serde(default)]
    pub java_files_parsed: usize,
    /// Java files under `src/test`, counted and not analyzed.
    #[serde(default)]
    pub java_test_files: usize,
    /// Lines of Java parsed.
    #[serde(default)]
    pub java_lines: usize,
}

impl Analysis {
    /// The analysis as a [`Graph`] view (nodes and edges).
    #[must_use]
    pub fn graph(&self) -> Graph {
        Graph {
            nodes: self.nodes.clone(),
            edges: self.edges.clone(),
        }
    }
}

/// Analyzes the repository at `root`.
pub fn analyze(root: &Path, config: &Config) -> Result<Analysis, AnalyzeError> {
    if !root.is_dir() {
        return Err(AnalyzeError::NotADirectory {
            path: root.to_owned(),
        });
    }
    // A Java project is walked once, by the Java front end, unless the tree
    // also holds a Cargo manifest: then the Rust front end looks first.
    let java_layout = java::is_java_project(root).then(|| java::layout(root));
    if let Some(layout) = &java_layout
        && layout.cargo_manifests == 0
    {
        return java::analyze_layout(layout, config);
    }
    let found = discover::discover(root);
    if found.rust.is_empty()
        && let Some(layout) = &java_layout
    {
        return java::analyze_layout(layout, config);
    }
    if found.rust.is_empty() {
        return Err(AnalyzeError::NoRust {
            path: root.to_owned(),
        });
    }
    let threads = config
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .clamp(1, found.rust.len().max(1));
    let bar = progress_bar(config.progress, found.rust.len() as u64 * 2);
    let rust = found.rust.clone();
    let sql = found.sql.clone();
    workers::run(
        &rust,
        threads,
        config.max_file_bytes,
        &bar,
        || schema(&sql),
        |run| {
            bar.finish_and_clear();
            assemble(root, config, found, run)
        },
    )
}

/// The Rust files of the crates under `root`, found and parsed as
/// [`analyze`] finds and parses them: `.gitignore` respected, each file's
/// module path from its place under its package's `src/` (`src/lib.rs` and
/// `src/main.rs` are the crate root, `src/a/mod.rs` and `src/a.rs` are
/// `crate::a`, `src/bin/x.rs` is the root of a crate `x`), sorted by path.
/// Each file that cannot be read or parsed is a diagnostic instead.
///
/// This is for tests and benchmarks that hold one pass ([`routes`],
/// [`sql`]) to its fixtures on the same files the analyzer would see.
#[must_use]
pub fn crate_sources(root: &Path) -> (Vec<source::SourceFile>, Vec<Diagnostic>) {
    let found = discover::discover(root);
    let mut diagnostics = found.diagnostics;
    let mut files = Vec::new();
    for file in &found.rust {
        match parse::parse_one(file, parse::DEFAULT_MAX_FILE_BYTES) {
            Ok((source, _lines)) => files.push(source),
            Err(d) => diagnostics.push(d),
        }
    }
    (files, diagnostics)
}

/// The schema from the `.sql` files, in path order, without down migrations.
fn schema(files: &[(PathBuf, String)]) -> (Vec<sql::TableDef>, Vec<Diagnostic>, usize) {
    let mut diagnostics = Vec::new();
    let texts: Vec<(String, String)> = files
        .iter()
        .filter(|(path, _)| !sql::is_down_migration(path))
        .filter_map(|(path, rel)| match std::fs::read_to_string(path) {
            Ok(text) => Some((rel.clone(), text)),
            Err(e) => {
                diagnostics.push(Diagnostic::new(
                    rel.clone(),
                    None,
                    format!("cannot read: {e}"),
                ));
                None
            }
        })
        .collect();
    let (tables, more) = sql::schema_from_files(&texts, sql::Dialect::Postgres);
    diagnostics.extend(more);
    (tables, diagnostics, texts.len())
}

fn assemble(
    root: &Path,
    config: &Config,
    found: discover::Discovered,
    run: workers::Run<(Vec<sql::TableDef>, Vec<Diagnostic>, usize)>,
) -> Analysis {
    let workers::Run {
        symbols,
        diesel,
        facts,
        routes,
        schema: (schema, schema_diagnostics, sql_files),
        diagnostics: worker_diagnostics,
        lines,
        parsed,
    } = run;
    let mut diagnostics = found.diagnostics;
    diagnostics.extend(worker_diagnostics);
    diagnostics.extend(schema_diagnostics);
    let history = match &config.history {
        Some(cfg) => match history::read_history(root, cfg) {
            Ok(found) => Some(found),
            Err(d) => {
                diagnostics.push(d);
                None
            }
        },
        None => None,
    };

    let mut builder = GraphBuilder::default();
    add_code(&mut builder, &symbols);
    let mut stats = Stats {
        rust_files: found.rust.len(),
        rust_files_parsed: parsed,
        rust_files_outside_crates: found.skipped_rust,
        sql_files,
        rust_lines: lines,
        crates: found.crates.len(),
        ..Stats::default()
    };
    let entity_tables = symbols.entity_tables();
    for table in schema.iter().chain(&diesel).chain(&entity_tables) {
        add_table(&mut builder, table);
    }
    add_maps(&mut builder, &symbols, &diesel);
    add_facts(&mut builder, &mut stats, &mut diagnostics, facts);
    add_routes(&mut builder, &routes, &mut diagnostics);
    if let Some(history) = history {
        stats.history_commits = Some(history.stats.commits_counted);
        let module_of: BTreeMap<&str, String> = found
            .rust
            .iter()
            .map(|f| (f.rel_path.as_str(), f.module.join("::")))
            .collect();
        for (a, b, n) in &history.pairs {
            if let (Some(ma), Some(mb)) = (module_of.get(a.as_str()), module_of.get(b.as_str()))
                && ma != mb
            {
                builder.edge(ma, mb, EdgeKind::CoChanges, *n);
            }
        }
    }
    finish(builder, diagnostics, stats)
}

/// Builds the graph, counts its nodes and edges into `stats`, and sorts
/// and dedups the diagnostics: the last step of every front end.
fn finish(builder: GraphBuilder, mut diagnostics: Vec<Diagnostic>, mut stats: Stats) -> Analysis {
    let graph = builder.finish();
    for node in &graph.nodes {
        *stats.nodes.entry(node.kind).or_default() += 1;
    }
    for edge in &graph.edges {
        *stats.edges.entry(edge.kind).or_default() += 1;
    }
    diagnostics.sort();
    diagnostics.dedup();
    Analysis {
        nodes: graph.nodes,
        edges: graph.edges,
        diagnostics,
        stats,
    }
}

/// Calls, type uses and table access, with their counts.
fn add_facts(
    builder: &mut GraphBuilder,
    stats: &mut Stats,
    diagnostics: &mut Vec<Diagnostic>,
    facts: Vec<rust::body::FileFacts>,
) {
    for file_facts in facts {
        stats.calls_resolved += file_facts.resolved_calls;
        stats.calls_unresolved += file_facts.unresolved_calls;
        for ((from, to), n) in file_facts.calls {
            builder.edge(&from, &to, EdgeKind::Calls, n);
        }
        for ((from, to), n) in file_facts.uses_type {
            builder.edge(&from, &to, EdgeKind::UsesType, n);
        }
        for (function, access) in file_facts.access {
            for (kind, tables) in [
                (EdgeKind::Reads, access.reads),
                (EdgeKind::Writes, access.writes),
            ] {
                for (table, n) in tables {
                    ensure_table(builder, &table);
                    builder.edge(&function, &table_id(&table), kind, n);
                }
            }
        }
        diagnostics.extend(file_facts.diagnostics);
    }
}

/// Route nodes and their `handles` edges.
///
/// Two registrations with the same methods and path but different handlers
/// are different routes whose mounts' prefixes were not all found (a real
/// server cannot answer one request with two handlers): each keeps a node
/// of its own (the later ones' ids end in `@<handler>`) and a diagnostic says
/// which prefix to look for. The same handler registered twice is one route.
fn add_routes(
    builder: &mut GraphBuilder,
    routes: &[routes::FoundRoute],
    diagnostics: &mut Vec<Diagnostic>,
) {
    // Route id → (handler, file, line) of the first registration.
    let mut first: BTreeMap<String, (Option<&str>, &str, u32)> = BTreeMap::new();
    for route in routes {
        let plain = route_id(&route.methods, &route.path);
        let id = match first.get(&plain) {
            None => {
                first.insert(
                    plain.clone(),
                    (route.handler.as_deref(), &route.file, route.line),
                );
                plain
            }
            Some(&(handler, _, _)) if handler == route.handler.as_deref() => plain,
            Some(&(_, file, line)) => {
                diagnostics.push(Diagnostic::new(
                    &route.file,
                    Some(route.line),
                    format!(
                        "route {} {} is also registered at {file}:{line} with another handler: \
                         they are different routes under mounts whose prefixes were not found \
                         (a runtime value or an unresolved call); both are kept, and the plan \
                         can route only one of them until the prefix is written into its route",
                        route.methods.join(","),
                        route.path
                    ),
                ));
                format!(
                    "{plain}@{}",
                    route.handler.as_deref().unwrap_or("(unresolved)")
                )
            }
        };
        builder.node(Node {
            id: id.clone(),
            kind: NodeKind::Route,
            name: format!("{} {}", route.methods.join(","), route.path),
            file: Some(route.file.clone()),
            line: Some(route.line),
            detail: Detail::Route {
                methods: route.methods.clone(),
                path: route.path.clone(),
                handler: route.handler.clone(),
            },
        });
        if let Some(handler) = &route.handler {
            builder.edge(&id, handler, EdgeKind::Handles, 1);
        }
    }
}

fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} analyzing {bar:30} {pos}/{len} steps ({elapsed})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Crates, modules, functions and types, with `contains` and `implements`.
fn add_code(builder: &mut GraphBuilder, symbols: &Symbols) {
    for module in symbols.modules.values() {
        let is_crate = !module.id.contains("::");
        let file = Some(module.file.clone());
        builder.node(Node {
            id: module.id.clone(),
            kind: if is_crate {
                NodeKind::Crate
            } else {
                NodeKind::Module
            },
            name: module
                .id
                .rsplit("::")
                .next()
                .unwrap_or(&module.id)
                .to_owned(),
            file,
            line: Some(module.line),
            detail: Detail::None,
        });
        if let Some((parent, _)) = module.id.rsplit_once("::") {
            builder.edge(parent, &module.id, EdgeKind::Contains, 1);
        }
    }
    let file_of = |module: &str| symbols.modules.get(module).map(|m| m.file.clone());
    for ty in symbols.types.values() {
        builder.node(Node {
            id: ty.id.clone(),
            kind: NodeKind::Type,
            name: ty.id.rsplit("::").next().unwrap_or(&ty.id).to_owned(),
            file: file_of(&ty.module),
            line: Some(ty.line),
            detail: Detail::Type {
                type_kind: ty.kind.to_owned(),
            },
        });
        builder.edge(&ty.module, &ty.id, EdgeKind::Contains, 1);
    }
    for f in symbols.fns.values() {
        builder.node(Node {
            id: f.id.clone(),
            kind: NodeKind::Function,
            name: f.name.clone(),
            file: file_of(&f.module),
            line: Some(f.line),
            detail: Detail::None,
        });
        builder.edge(&f.module, &f.id, EdgeKind::Contains, 1);
    }
    for (ty, tr) in &symbols.implements {
        builder.edge(ty, tr, EdgeKind::Implements, 1);
    }
}

fn add_table(builder: &mut GraphBuilder, table: &sql::TableDef) {
    let id = table_id(&table.name);
    builder.node(Node {
        id: id.clone(),
        kind: NodeKind::Table,
        name: table.name.clone(),
        file: table.defined_at.as_ref().map(|(f, _)| f.clone()),
        line: table.defined_at.as_ref().map(|(_, l)| *l),
        detail: Detail::Table {
            columns: table.columns.clone(),
            primary_key: table.primary_key.clone(),
            view: table.view,
        },
    });
    for fk in &table.foreign_keys {
        builder.edge(&id, &table_id(&fk.references), EdgeKind::References, 1);
    }
}

/// `maps` edges: each sea-orm entity module to its table, and the module
/// of each Diesel `table!` to the table it declares.
fn add_maps(builder: &mut GraphBuilder, symbols: &Symbols, diesel: &[sql::TableDef]) {
    for (module, table) in &symbols.entities {
        builder.edge(module, &table_id(&table.name), EdgeKind::Maps, 1);
    }
    let mut module_of_file: BTreeMap<&str, &str> = BTreeMap::new();
    for module in symbols.modules.values() {
        // The file's own module: the shortest id with that file (inline
        // modules share their file with their parent).
        let entry = module_of_file.entry(&module.file).or_insert(&module.id);
        if module.id.len() < entry.len() {
            *entry = &module.id;
        }
    }
    for table in diesel {
        if let Some((file, _)) = &table.defined_at
            && let Some(module) = module_of_file.get(file.as_str())
        {
            builder.edge(module, &table_id(&table.name), EdgeKind::Maps, 1);
        }
    }
}

/// A table named by a query but defined by no DDL the analyzer saw.
fn ensure_table(builder: &mut GraphBuilder, name: &str) {
    let id = table_id(name);
    if !builder.has(&id) {
        builder.node(Node {
            id,
            kind: NodeKind::Table,
            name: name.to_owned(),
            file: None,
            line: None,
            detail: Detail::Table {
                columns: Vec::new(),
                primary_key: Vec::new(),
                view: false,
            },
        });
    }
}
