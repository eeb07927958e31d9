//! Arbitrary Rust-like input never makes the analysis panic: every file is
//! analyzed or becomes a diagnostic.

use std::path::Path;

use proptest::prelude::*;
use strangler_analyzer::{Config, analyze};

/// Token soup that is often, but not always, valid Rust.
fn rust_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("fn f() { g(); }".to_owned()),
        Just("use crate::*;".to_owned()),
        Just("use super::{self, a as b};".to_owned()),
        Just("mod m { pub fn h() { super::f(); crate::m::h(); } }".to_owned()),
        Just("impl S { fn m(&self) { self.m(); Self::m(self); } }".to_owned()),
        Just("struct S { a: Vec<S> }".to_owned()),
        Just("trait T { fn d(&self) { } }".to_owned()),
        Just("impl T for S {}".to_owned()),
        Just("fn q(c: &Client) { c.query(\"SELECT * FROM t\", &[]); sqlx::query!(\"DELETE FROM u\"); }".to_owned()),
        Just("fn r() -> Router { Router::new().route(\"/x/{id}\", get(f)).nest(\"/a\", r()) }".to_owned()),
        Just("#[get(\"/p/<id>\")] fn p() {}".to_owned()),
        Just("macro_rules! m { ($e:expr) => { $e } }".to_owned()),
        Just("fn w() { m!(f()); format!(\"{}\", 1); }".to_owned()),
        "[a-z{}()<>;:,.!#\\[\\]\"/* ]{0,40}",
    ];
    prop::collection::vec(token, 0..12).prop_map(|parts| parts.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn analysis_never_panics(files in prop::collection::vec(rust_like(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"fuzzed\"\nversion = \"0.1.0\"\n").unwrap();
        std::fs::create_dir_all(root.join("src/a")).unwrap();
        let names = ["src/lib.rs", "src/a/mod.rs", "src/a/b.rs", "src/c.rs"];
        for (name, text) in names.iter().zip(&files) {
            std::fs::write(root.join(name), text).unwrap();
        }
        let analysis = analyze(root, &Config::default()).unwrap();
        prop_assert_eq!(analysis.stats.rust_files, files.len());
        prop_assert_eq!(
            analysis.stats.rust_files_parsed + analysis.diagnostics.iter().filter(|d| d.message.contains("does not parse as Rust")).count(),
            files.len()
        );
    }
}

#[test]
fn regression_corpus_analyzes_without_panics() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/rust");
    let analysis = analyze(&corpus, &Config::default()).expect("the corpus is a crate");
    assert!(analysis.stats.rust_files >= 3);
}
