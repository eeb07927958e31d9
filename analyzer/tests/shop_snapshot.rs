//! The shop monolith's routes, tables and table access, as a reviewed
//! snapshot: any change to what the analyzer finds there shows up as a diff.
//!
//! Reviewed by hand against the fixture's source: every `.route(` call
//! (65 method/path pairs, `on(GET.or(POST))` as one route), the 23 tables of
//! `ground-truth.toml` plus `schema_migrations` (created at run time by
//! `db::migrate`), and the statements behind each reads/writes edge.
//!
//! FIXME: `catalog::products::list` also reads `categories` and
//! `stock_levels` through SQL fragments it assembles with `push_str`; the
//! analyzer only sees strings that reach a query call whole, so those two
//! reads are missing here.

use std::fmt::Write as _;
use std::path::Path;

use strangler_analyzer::{Config, Detail, EdgeKind, NodeKind, analyze};

#[test]
fn shop_routes_tables_reads_and_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/shop-monolith");
    let analysis = analyze(&root, &Config::default()).expect("analyze the shop");
    let mut out = String::new();

    writeln!(out, "# routes: methods path -> handler").unwrap();
    for node in analysis.nodes.iter().filter(|n| n.kind == NodeKind::Route) {
        if let Detail::Route {
            methods,
            path,
            handler,
        } = &node.detail
        {
            let handler = handler.as_deref().unwrap_or("(unresolved)");
            writeln!(out, "{} {path} -> {handler}", methods.join(",")).unwrap();
        }
    }

    writeln!(out, "\n# tables: columns [primary key]").unwrap();
    for node in analysis.nodes.iter().filter(|n| n.kind == NodeKind::Table) {
        if let Detail::Table {
            columns,
            primary_key,
            ..
        } = &node.detail
        {
            writeln!(
                out,
                "{}: {} [{}]",
                node.name,
                columns.join(", "),
                primary_key.join(", ")
            )
            .unwrap();
        }
    }

    for (kind, title) in [
        (EdgeKind::Writes, "writes"),
        (EdgeKind::Reads, "reads"),
        (EdgeKind::References, "references"),
    ] {
        writeln!(out, "\n# {title}: from -> table (statements)").unwrap();
        for edge in analysis.edges.iter().filter(|e| e.kind == kind) {
            let table = edge.to.strip_prefix("table:").unwrap_or(&edge.to);
            writeln!(out, "{} -> {table} ({})", edge.from, edge.weight).unwrap();
        }
    }

    writeln!(out, "\n# diagnostics").unwrap();
    for d in &analysis.diagnostics {
        writeln!(out, "{}:{}: {}", d.file, d.line.unwrap_or(0), d.message).unwrap();
    }
    insta::assert_snapshot!(out);
}
