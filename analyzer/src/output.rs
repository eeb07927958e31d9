//! Rendering an analysis: a text summary, the whole graph as JSON (and
//! reading that JSON back), and module-level pictures as Graphviz DOT and
//! Mermaid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::Analysis;
use crate::graph::{EdgeKind, NodeKind};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A summary for people.
    #[default]
    Text,
    /// The whole graph, diagnostics and stats.
    Json,
    /// Graphviz DOT, at module level.
    Dot,
    /// Mermaid, at module level.
    Mermaid,
}

/// Renders the analysis in `format`.
#[must_use]
pub fn render(analysis: &Analysis, format: Format) -> String {
    match format {
        Format::Text => text(analysis),
        Format::Json => serde_json::to_string_pretty(analysis)
            .map_or_else(|e| format!("{{\"error\": \"{e}\"}}"), |s| s + "\n"),
        Format::Dot => dot(&ModuleGraph::new(analysis)),
        Format::Mermaid => mermaid(&ModuleGraph::new(analysis)),
    }
}

/// Why [`read_json`] could not read a document.
#[derive(Debug, thiserror::Error)]
#[error("not the JSON of `strangler analyze --format json`: {0}")]
pub struct ReadJsonError(#[from] serde_json::Error);

/// Reads back the JSON of [`render`] with [`Format::Json`], or of
/// `strangler analyze --format json` (whose suggestion fields are ignored),
/// on the same types that wrote it.
pub fn read_json(text: &str) -> Result<Analysis, ReadJsonError> {
    Ok(serde_json::from_str(text)?)
}

/// The graph folded to modules (and tables): each function, type and route
/// counts for the module that contains it.
pub struct ModuleGraph {
    /// Module ids (crate roots included) and table ids.
    pub nodes: BTreeSet<String>,
    /// `(from, to) → (calls and type uses, reads, writes)`.
    pub edges: BTreeMap<(String, String), (u32, u32, u32)>,
}

impl ModuleGraph {
    /// Folds `analysis` to module level.
    #[must_use]
    pub fn new(analysis: &Analysis) -> Self {
        // Each node's module (modules, crate roots and tables are their own;
        // a route's is its handler's).
        let units = crate::cluster::unit_map(analysis, crate::cluster::Granularity::Module);
        let mut owner: BTreeMap<&str, &str> = units
            .iter()
            .map(|(n, m)| (n.as_str(), m.as_str()))
            .collect();
        for node in analysis.nodes.iter().filter(|n| n.kind == NodeKind::Table) {
            owner.insert(&node.id, &node.id);
        }
        let mut nodes = BTreeSet::new();
        for node in &analysis.nodes {
            if matches!(
                node.kind,
                NodeKind::Module | NodeKind::Crate | NodeKind::Table
            ) {
                nodes.insert(node.id.clone());
            }
        }
        let mut edges: BTreeMap<(String, String), (u32, u32, u32)> = BTreeMap::new();
        for edge in &analysis.edges {
            let (Some(from), Some(to)) =
                (owner.get(edge.from.as_str()), owner.get(edge.to.as_str()))
            else {
                continue;
            };
            if from == to {
                continue;
            }
            let entry = edges
                .entry(((*from).to_owned(), (*to).to_owned()))
                .or_default();
            match edge.kind {
                EdgeKind::Calls | EdgeKind::UsesType | EdgeKind::Implements => {
                    entry.0 += edge.weight;
                }
                EdgeKind::Reads => entry.1 += edge.weight,
                EdgeKind::Writes => entry.2 += edge.weight,
                _ => {}
            }
        }
        edges.retain(|_, (a, b, c)| *a + *b + *c > 0);
        Self { nodes, edges }
    }
}

/// The first line of the text output: what was read.
fn summary(s: &crate::Stats) -> String {
    if s.java_files > 0 {
        format!(
            "analyzed {} Java files ({} lines; {} test files skipped), and {} SQL files\n",
            s.java_files_parsed, s.java_lines, s.java_test_files, s.sql_files
        )
    } else {
        format!(
            "analyzed {} Rust files ({} lines) in {} crate{}, and {} SQL files\n",
            s.rust_files_parsed,
            s.rust_lines,
            s.crates,
            if s.crates == 1 { "" } else { "s" },
            s.sql_files
        )
    }
}

fn text(analysis: &Analysis) -> String {
    let s = &analysis.stats;
    let mut out = String::new();
    out.push_str(&summary(s));
    let counts = |map: &BTreeMap<String, usize>| {
        map.iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let nodes: BTreeMap<String, usize> = s.nodes.iter().map(|(k, v)| (kind_name(*k), *v)).collect();
    let edges: BTreeMap<String, usize> = s.edges.iter().map(|(k, v)| (edge_name(*k), *v)).collect();
    let _ = writeln!(out, "nodes: {}", counts(&nodes));
    let _ = writeln!(out, "edges: {}", counts(&edges));
    let _ = writeln!(
        out,
        "calls: {} resolved, {} into this code unresolved (calls to other crates are not counted)",
        s.calls_resolved, s.calls_unresolved
    );

    let modules = ModuleGraph::new(analysis);
    let mut coupling: BTreeMap<&str, (u32, BTreeSet<&str>)> = BTreeMap::new();
    for ((from, to), (code, reads, writes)) in &modules.edges {
        if to.starts_with("table:") {
            coupling.entry(from).or_default().1.insert(to);
            let _ = (reads, writes);
        } else {
            coupling.entry(from).or_default().0 += code;
            coupling.entry(to).or_default().0 += code;
        }
    }
    let mut ranked: Vec<(&str, u32, usize)> = coupling
        .iter()
        .map(|(m, (c, t))| (*m, *c, t.len()))
        .filter(|(_, c, _)| *c > 0)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    if !ranked.is_empty() {
        let _ = writeln!(
            out,
            "\nmost-coupled modules (calls and type uses across module lines, tables touched):"
        );
        let width = ranked.iter().take(10).map(|r| r.0.len()).max().unwrap_or(0);
        for (module, code, tables) in ranked.iter().take(10) {
            let _ = writeln!(out, "  {module:<width$}  {code:>5}  {tables} tables");
        }
    }

    let mut users: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for ((from, to), (_, reads, writes)) in &modules.edges {
        if let Some(table) = to.strip_prefix("table:") {
            let entry = users.entry(table).or_default();
            if *reads > 0 {
                entry.0.insert(from);
            }
            if *writes > 0 {
                entry.1.insert(from);
            }
        }
    }
    let mut shared: Vec<(&str, usize, usize, usize)> = users
        .iter()
        .map(|(t, (r, w))| (*t, r.union(w).count(), r.len(), w.len()))
        .filter(|(_, n, _, _)| *n > 1)
        .collect();
    shared.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !shared.is_empty() {
        let _ = writeln!(out, "\ntables shared by several modules:");
        let width = shared.iter().take(10).map(|r| r.0.len()).max().unwrap_or(0);
        for (table, n, r, w) in shared.iter().take(10) {
            let _ = writeln!(
                out,
                "  {table:<width$}  {n:>3} modules  (read by {r}, written by {w})"
            );
        }
    }

    let _ = writeln!(out, "\ndiagnostics: {}", analysis.diagnostics.len());
    for d in analysis.diagnostics.iter().take(20) {
        let line = d.line.map(|l| format!(":{l}")).unwrap_or_default();
        let _ = writeln!(out, "  {}{line}: {}", d.file, d.message);
    }
    if analysis.diagnostics.len() > 20 {
        let _ = writeln!(
            out,
            "  ... and {} more (--format json lists them all)",
            analysis.diagnostics.len() - 20
        );
    }
    out
}

fn kind_name(kind: NodeKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn edge_name(kind: EdgeKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn dot(graph: &ModuleGraph) -> String {
    let mut out = String::from(
        "digraph modules {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for node in &graph.nodes {
        let shape = if node.starts_with("table:") {
            "cylinder"
        } else {
            "box"
        };
        let label = node.strip_prefix("table:").unwrap_or(node);
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}];",
            quote(node),
            quote(label)
        );
    }
    for ((from, to), (code, reads, writes)) in &graph.edges {
        let (label, style) = if to.starts_with("table:") {
            match (*reads, *writes) {
                (0, w) => (format!("writes {w}"), "color=firebrick"),
                (r, 0) => (format!("reads {r}"), "style=dashed"),
                (r, w) => (format!("reads {r}, writes {w}"), "color=firebrick"),
            }
        } else {
            (code.to_string(), "")
        };
        let sep = if style.is_empty() { "" } else { ", " };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{sep}{style}];",
            quote(from),
            quote(to),
            quote(&label)
        );
    }
    out.push_str("}\n");
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn mermaid(graph: &ModuleGraph) -> String {
    let ids: BTreeMap<&str, String> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), format!("n{i}")))
        .collect();
    let mut out = String::from("graph LR\n");
    for node in &graph.nodes {
        let id = &ids[node.as_str()];
        let label = node
            .strip_prefix("table:")
            .unwrap_or(node)
            .replace('"', "'");
        if node.starts_with("table:") {
            let _ = writeln!(out, "  {id}[(\"{label}\")]");
        } else {
            let _ = writeln!(out, "  {id}[\"{label}\"]");
        }
    }
    for ((from, to), (code, reads, writes)) in &graph.edges {
        let (Some(a), Some(b)) = (ids.get(from.as_str()), ids.get(to.as_str())) else {
            continue;
        };
        let label = if to.starts_with("table:") {
            match (*reads, *writes) {
                (0, w) => format!("writes {w}"),
                (r, 0) => format!("reads {r}"),
                (r, w) => format!("reads {r}, writes {w}"),
            }
        } else {
            code.to_string()
        };
        let arrow = if to.starts_with("table:") && *writes == 0 {
            "-.->"
        } else {
            "-->"
        };
        let _ = writeln!(out, "  {a} {arrow}|{label}| {b}");
    }
    out
}
