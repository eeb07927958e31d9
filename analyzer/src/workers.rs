//! Running the per-file passes on worker threads.
//!
//! syn's syntax trees cannot move between threads (proc-macro2 tokens are
//! `!Send`), so each worker parses the files it takes, keeps their trees,
//! and does every pass that needs a tree on them itself. The passes need the
//! whole symbol table first, so the work has two phases: each worker parses
//! its files and sends back their symbols; the main thread merges the
//! symbols (reading the `.sql` files meanwhile) and sends the complete table
//! to every worker; each worker then analyzes its functions and routes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use crate::discover::RustFile;
use crate::routes::{self, FoundRoute, RouteFacts};
use crate::rust::body::{self, FileFacts};
use crate::rust::symbols::Symbols;
use crate::source::{Diagnostic, SourceFile};
use crate::sql::{self, TableDef};
use crate::{AnalyzeError, parse};

/// Stack size for workers: long builder chains make deep syntax trees,
/// which syn parses, visits and drops recursively.
const STACK_SIZE: usize = 64 * 1024 * 1024;

/// Everything the workers found.
pub struct Run<T> {
    /// The complete symbol table.
    pub symbols: Symbols,
    /// Diesel tables, sorted by name.
    pub diesel: Vec<TableDef>,
    /// Per-file facts (calls, types, SQL access).
    pub facts: Vec<FileFacts>,
    /// Routes, sorted.
    pub routes: Vec<FoundRoute>,
    /// What the main thread computed meanwhile.
    pub schema: T,
    /// Problems met by the workers.
    pub diagnostics: Vec<Diagnostic>,
    /// Lines of Rust parsed.
    pub lines: usize,
    /// Files parsed.
    pub parsed: usize,
}

struct Summary {
    symbols: Symbols,
    diesel: Vec<TableDef>,
    tests: Vec<String>,
    diagnostics: Vec<Diagnostic>,
    lines: usize,
    parsed: usize,
}

struct Shared {
    symbols: Symbols,
    diesel: Vec<TableDef>,
    tests: BTreeSet<String>,
}

#[derive(Default)]
struct Output {
    facts: Vec<FileFacts>,
    routes: RouteFacts,
}

/// Parses and analyzes `files` on `threads` workers, running `meanwhile` on
/// the calling thread while they parse, then `finish` on the result while
/// the workers free their syntax trees (which takes a while for big trees,
/// and need not hold anything up).
pub fn run<T: Send, R>(
    files: &[RustFile],
    threads: usize,
    max_bytes: u64,
    bar: &indicatif::ProgressBar,
    meanwhile: impl FnOnce() -> T,
    finish: impl FnOnce(Run<T>) -> R,
) -> Result<R, AnalyzeError> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (summary_tx, summary_rx) = mpsc::channel::<Summary>();
        let (output_tx, output_rx) = mpsc::channel::<Output>();
        let mut shared_txs = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let (shared_tx, shared_rx) = mpsc::channel::<Arc<Shared>>();
            shared_txs.push(shared_tx);
            let summary_tx = summary_tx.clone();
            let output_tx = output_tx.clone();
            let next = &next;
            let handle = std::thread::Builder::new()
                .name(format!("analyze-{i}"))
                .stack_size(STACK_SIZE)
                .spawn_scoped(scope, move || {
                    work(
                        files, next, max_bytes, bar, summary_tx, &shared_rx, &output_tx,
                    );
                })
                .map_err(|e| AnalyzeError::Threads(e.to_string()))?;
            handles.push(handle);
        }
        drop(summary_tx);
        drop(output_tx);
        let schema = meanwhile();
        let mut symbols = Symbols::default();
        let mut diesel = Vec::new();
        let mut tests = BTreeSet::new();
        let mut diagnostics = Vec::new();
        let (mut lines, mut parsed) = (0, 0);
        // Ends when every worker has sent its summary (or died).
        for summary in summary_rx {
            symbols.merge(summary.symbols);
            diesel.extend(summary.diesel);
            tests.extend(summary.tests);
            diagnostics.extend(summary.diagnostics);
            lines += summary.lines;
            parsed += summary.parsed;
        }
        // Test modules declared in a file other than theirs (`#[cfg(test)]
        // mod x;`) are known only now: their symbols go.
        symbols.retain_modules(|m| !parse::is_test_module(m, &tests));
        symbols.finish();
        diesel.sort_by(|a: &TableDef, b| a.name.cmp(&b.name));
        diesel.dedup_by(|a, b| a.name == b.name);
        let shared = Arc::new(Shared {
            symbols,
            diesel,
            tests,
        });
        for tx in shared_txs {
            // A worker that died has dropped its receiver; its join says so.
            let _ = tx.send(Arc::clone(&shared));
        }
        let mut facts = Vec::new();
        let mut route_parts = Vec::new();
        // Each worker sends its output before freeing its trees. The loop
        // ends after every worker's output, or early when the only senders
        // left are workers that died.
        for out in output_rx.iter().take(threads) {
            facts.extend(out.facts);
            route_parts.push(out.routes);
        }
        if route_parts.len() < threads {
            diagnostics.push(Diagnostic::new(
                "",
                None,
                "internal error: an analysis worker panicked; its files are missing from the graph (please report this)",
            ));
        }
        // Routers nest across files, so route parts are linked only once
        // every worker's part is in.
        let (routes, route_diagnostics) = routes::link(route_parts);
        diagnostics.extend(route_diagnostics);
        // Workers drop their handle on the table before sending their output;
        // a worker that died may still be unwinding, so wait for it then.
        let shared = match Arc::try_unwrap(shared) {
            Ok(shared) => shared,
            Err(shared) => {
                for handle in handles {
                    let _ = handle.join();
                }
                Arc::try_unwrap(shared).map_err(|_| {
                    AnalyzeError::Threads("a worker outlived the analysis".to_owned())
                })?
            }
        };
        let Shared {
            symbols, diesel, ..
        } = shared;
        Ok(finish(Run {
            symbols,
            diesel,
            facts,
            routes,
            schema,
            diagnostics,
            lines,
            parsed,
        }))
    })
}

fn work(
    files: &[RustFile],
    next: &AtomicUsize,
    max_bytes: u64,
    bar: &indicatif::ProgressBar,
    summary_tx: mpsc::Sender<Summary>,
    shared_rx: &mpsc::Receiver<Arc<Shared>>,
    output_tx: &mpsc::Sender<Output>,
) {
    let mut mine: Vec<SourceFile> = Vec::new();
    let mut summary = Summary {
        symbols: Symbols::default(),
        diesel: Vec::new(),
        tests: Vec::new(),
        diagnostics: Vec::new(),
        lines: 0,
        parsed: 0,
    };
    while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
        match parse::parse_one(file, max_bytes) {
            Ok((source, lines)) => {
                summary.symbols.collect_file(&source);
                summary.tests.extend(parse::declared_test_modules(&source));
                let (tables, diagnostics) = sql::diesel_tables(&source);
                summary.diesel.extend(tables);
                summary.diagnostics.extend(diagnostics);
                summary.lines += lines;
                summary.parsed += 1;
                mine.push(source);
            }
            Err(d) => summary.diagnostics.push(d),
        }
        bar.inc(1);
    }
    // Sending can only fail if the main thread is gone, and then nobody
    // waits for this worker's result either.
    let _ = summary_tx.send(summary);
    drop(summary_tx);
    let Ok(shared) = shared_rx.recv() else {
        return;
    };
    let before = mine.len();
    mine.retain(|f| !parse::is_test_module(&f.module.join("::"), &shared.tests));
    bar.inc((before - mine.len()) as u64);
    let mut out = Output::default();
    for file in &mine {
        let ctx = sql::FileContext {
            file,
            dialect: sql::dialect_of(file),
            diesel_tables: &shared.diesel,
            consts: &shared.symbols.consts,
        };
        out.facts
            .push(body::analyze_file(file, &shared.symbols, &ctx));
        bar.inc(1);
    }
    out.routes = routes::collect(&mine, &shared.symbols);
    drop(shared);
    // The main thread goes on with this; the trees are freed meanwhile.
    let _ = output_tx.send(out);
    drop(mine);
}
