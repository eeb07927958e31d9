//! Call resolution across the crates of a workspace, against the
//! hand-checked `fixtures/frameworks/workspace/expected.toml`.

use std::collections::BTreeSet;
use std::path::Path;

use strangler_analyzer::{Config, EdgeKind, NodeKind, analyze};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/frameworks")
        .join(name)
}

#[test]
fn cross_crate_calls_match_the_expectation() {
    let analysis = analyze(&fixture("workspace"), &Config::default()).expect("analyze");
    let crate_of = |id: &str| id.split("::").next().unwrap_or_default().to_owned();
    let got: BTreeSet<(String, String)> = analysis
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Calls && crate_of(&e.from) != crate_of(&e.to))
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    let expected: toml::Table = std::fs::read_to_string(fixture("workspace/expected.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let want: BTreeSet<(String, String)> = expected["call"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(analysis.stats.crates, 3);
    assert_eq!(
        analysis.stats.calls_unresolved, 0,
        "{:#?}",
        analysis.diagnostics
    );
}

#[test]
fn ids_are_stable_and_output_is_byte_identical() {
    let a = analyze(&fixture("workspace"), &Config::default()).unwrap();
    let b = analyze(
        &fixture("workspace"),
        &Config {
            threads: Some(1),
            ..Config::default()
        },
    )
    .unwrap();
    let json = |x| strangler_analyzer::render(x, strangler_analyzer::Format::Json);
    assert_eq!(json(&a), json(&b));
    assert!(
        a.nodes
            .iter()
            .any(|n| n.id == "domain::orders::place" && n.kind == NodeKind::Function)
    );
    assert!(
        a.nodes
            .iter()
            .any(|n| n.id == "domain" && n.kind == NodeKind::Crate)
    );
}

#[test]
fn a_missing_path_or_a_tree_without_rust_is_an_error() {
    let err = analyze(Path::new("/no/such/dir"), &Config::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/no/such/dir is not a directory; point `strangler analyze` at the monolith's repository"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.md"), "# no rust here").unwrap();
    let err = analyze(dir.path(), &Config::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("no Rust crate found under"),
        "{err}"
    );
}

#[test]
fn the_json_reads_back_into_the_same_analysis() {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/shop-monolith");
    let analysis = analyze(&shop, &Config::default()).expect("analyze");
    let suggestion = strangler_analyzer::cluster::suggest(
        &analysis,
        &strangler_analyzer::cluster::SuggestConfig::default(),
    )
    .expect("suggest");
    for json in [
        strangler_analyzer::render(&analysis, strangler_analyzer::Format::Json),
        strangler_analyzer::cluster::report::json(&analysis, &suggestion),
    ] {
        let back = strangler_analyzer::read_json(&json).expect("reads back");
        assert_eq!(back.nodes, analysis.nodes);
        assert_eq!(back.edges, analysis.edges);
        assert_eq!(back.diagnostics, analysis.diagnostics);
        assert_eq!(
            strangler_analyzer::render(&back, strangler_analyzer::Format::Json),
            strangler_analyzer::render(&analysis, strangler_analyzer::Format::Json)
        );
    }
    for kind in [NodeKind::Route, NodeKind::Table, NodeKind::Type] {
        assert!(analysis.nodes.iter().any(|n| n.kind == kind), "{kind:?}");
    }
    let e = strangler_analyzer::read_json("{}").expect_err("no nodes");
    assert!(e.to_string().contains("missing field `nodes`"), "{e}");
}

#[test]
fn handlers_reach_the_tables_their_callees_touch() {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/shop-monolith");
    let analysis = analyze(&shop, &Config::default()).expect("analyze");
    let graph = analysis.graph();
    let reach = graph.transitive_table_access();
    // Every direct read and write is part of what the function reaches.
    for edge in &analysis.edges {
        let reached = reach.get(&edge.from);
        match edge.kind {
            EdgeKind::Reads => assert!(reached.is_some_and(|r| r.reads.contains(&edge.to))),
            EdgeKind::Writes => assert!(reached.is_some_and(|r| r.writes.contains(&edge.to))),
            _ => {}
        }
    }
    // Some route handler writes a table only through the functions it calls.
    let writes_directly = |f: &str| -> BTreeSet<String> {
        analysis
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Writes && e.from == f)
            .map(|e| e.to.clone())
            .collect()
    };
    let through_calls = analysis
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Handles)
        .any(|e| {
            reach
                .get(&e.to)
                .is_some_and(|r| r.writes != writes_directly(&e.to))
        });
    assert!(through_calls, "no handler reaches a table through a call");
}
