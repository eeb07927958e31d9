//! The SQL module against the framework fixtures' `expected.toml` files and
//! the shop monolith: table access per function, the schema from
//! migrations, and diagnostics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use strangler_analyzer::Consts;
use strangler_analyzer::source::{Diagnostic, SourceFile};
use strangler_analyzer::sql::{
    self, Access, Dialect, FileContext, TableDef, access_in_block, dialect_of, diesel_tables,
    schema_from_files,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Every `.rs` file of the crate at `dir` that reads and parses, as the
/// analyzer's discovery finds it; `crate_name` is checked against it.
fn load_crate(dir: &Path, crate_name: &str) -> Vec<SourceFile> {
    let (files, _) = strangler_analyzer::crate_sources(dir);
    assert!(
        files.iter().all(|f| f.crate_name == crate_name),
        "{} is not all {crate_name}",
        dir.display()
    );
    files
}

/// Function id → its body, for free functions and methods, also in inline
/// modules.
fn functions<'f>(file: &'f SourceFile) -> Vec<(String, &'f syn::Block)> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<String>, &'f [syn::Item])> =
        vec![(file.module.clone(), &file.ast.items)];
    while let Some((module, items)) = stack.pop() {
        for item in items {
            match item {
                syn::Item::Fn(f) => out.push((
                    format!("{}::{}", module.join("::"), f.sig.ident),
                    f.block.as_ref(),
                )),
                syn::Item::Impl(imp) => {
                    for ii in &imp.items {
                        if let syn::ImplItem::Fn(f) = ii {
                            out.push((format!("{}::{}", module.join("::"), f.sig.ident), &f.block));
                        }
                    }
                }
                syn::Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        let mut sub = module.clone();
                        sub.push(m.ident.to_string());
                        stack.push((sub, items));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

struct Analysis {
    access: BTreeMap<String, Access>,
    diags: Vec<Diagnostic>,
}

fn analyze(files: &[SourceFile], diesel: &[TableDef]) -> Analysis {
    let mut access = BTreeMap::new();
    let mut diags = Vec::new();
    let consts = Consts::from_files(files);
    for file in files {
        let ctx = FileContext {
            file,
            dialect: dialect_of(file),
            diesel_tables: diesel,
            consts: &consts,
        };
        for (id, block) in functions(file) {
            let (a, d) = access_in_block(block, &ctx);
            diags.extend(d);
            if !a.reads.is_empty() || !a.writes.is_empty() {
                access.insert(id, a);
            }
        }
    }
    Analysis { access, diags }
}

fn migrations(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir.join("migrations"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().and_then(|x| x.to_str()) == Some("sql"))
                .filter(|e| !sql::is_down_migration(&e.path()))
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (
                        format!("migrations/{name}"),
                        std::fs::read_to_string(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn expected(dir: &Path) -> toml::Table {
    let text = std::fs::read_to_string(dir.join("expected.toml")).expect("expected.toml");
    text.parse::<toml::Table>().expect("expected.toml parses")
}

fn strings(v: Option<&toml::Value>) -> BTreeSet<String> {
    v.and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(ToOwned::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(ToOwned::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares accesses with `[[access]]`: every listed function matches as
/// sets, and no other function has any access.
fn check_access(exp: &toml::Table, got: &Analysis) -> Vec<String> {
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for entry in exp
        .get("access")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = entry
            .get("function")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let reads = strings(entry.get("reads"));
        let writes = strings(entry.get("writes"));
        let a = got.access.get(&f).cloned().unwrap_or_default();
        let got_reads: BTreeSet<String> = a.reads.keys().cloned().collect();
        let got_writes: BTreeSet<String> = a.writes.keys().cloned().collect();
        if got_reads != reads || got_writes != writes {
            problems.push(format!("{f}: expected reads {reads:?} writes {writes:?}, got reads {got_reads:?} writes {got_writes:?}"));
        }
        listed.insert(f);
    }
    for (f, a) in &got.access {
        if !listed.contains(f) {
            problems.push(format!("{f}: unexpected access {a:?}"));
        }
    }
    problems
}

fn check_tables(exp: &toml::Table, tables: &[TableDef]) -> Vec<String> {
    let mut problems = Vec::new();
    let want = exp
        .get("table")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in &want {
        let name = t
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_default();
        let Some(got) = tables.iter().find(|g| g.name == name) else {
            problems.push(format!("table {name} missing"));
            continue;
        };
        let columns = string_list(t.get("columns"));
        if columns != got.columns {
            problems.push(format!("{name}: columns {columns:?} != {:?}", got.columns));
        }
        let pk = string_list(t.get("primary_key"));
        if pk != got.primary_key {
            problems.push(format!(
                "{name}: primary key {pk:?} != {:?}",
                got.primary_key
            ));
        }
        let mut fks: Vec<(Vec<String>, String, Vec<String>)> = t
            .get("foreign_keys")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .map(|fk| {
                (
                    string_list(fk.get("columns")),
                    fk.get("references")
                        .and_then(toml::Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    string_list(fk.get("referenced_columns")),
                )
            })
            .collect();
        let mut got_fks: Vec<(Vec<String>, String, Vec<String>)> = got
            .foreign_keys
            .iter()
            .map(|fk| {
                (
                    fk.columns.clone(),
                    fk.references.clone(),
                    fk.referenced_columns.clone(),
                )
            })
            .collect();
        fks.sort();
        got_fks.sort();
        if fks != got_fks {
            problems.push(format!("{name}: foreign keys {fks:?} != {got_fks:?}"));
        }
    }
    for g in tables {
        if !want
            .iter()
            .any(|t| t.get("name").and_then(toml::Value::as_str) == Some(g.name.as_str()))
        {
            problems.push(format!("unexpected table {}", g.name));
        }
    }
    problems
}

/// Every `[[diagnostic]]` for a file in `files` is matched (line ±1), and
/// nothing else is reported for those files.
fn check_diags(
    exp: &toml::Table,
    diags: &[Diagnostic],
    files: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let want: Vec<(String, i64)> = exp
        .get("diagnostic")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some((
                d.get("file")?.as_str()?.to_owned(),
                d.get("line")?.as_integer()?,
            ))
        })
        .filter(|(f, _)| files(f))
        .collect();
    for (f, l) in &want {
        if !diags
            .iter()
            .any(|d| d.file == *f && d.line.is_some_and(|x| (i64::from(x) - l).abs() <= 1))
        {
            problems.push(format!("missing diagnostic {f}:{l}"));
        }
    }
    for d in diags {
        if !want
            .iter()
            .any(|(f, l)| d.file == *f && d.line.is_some_and(|x| (i64::from(x) - l).abs() <= 1))
        {
            problems.push(format!(
                "unexpected diagnostic {}:{:?}: {}",
                d.file, d.line, d.message
            ));
        }
    }
    problems
}

fn report(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn sqlx_queries_fixture() {
    let dir = fixtures().join("frameworks/sqlx-queries");
    let exp = expected(&dir);
    let files = load_crate(&dir, "sqlx_queries");
    let got = analyze(&files, &[]);
    let (tables, schema_diags) = schema_from_files(&migrations(&dir), Dialect::Postgres);
    let mut problems = check_access(&exp, &got);
    problems.extend(check_tables(&exp, &tables));
    let mut diags = schema_diags;
    diags.extend(got.diags.iter().cloned());
    problems.extend(check_diags(&exp, &diags, &|_| true));
    report(&problems);
    assert_eq!(
        exp.get("access")
            .and_then(toml::Value::as_array)
            .map(Vec::len),
        Some(24)
    );
}

#[test]
fn sqlx_cache_module_is_sqlite() {
    let dir = fixtures().join("frameworks/sqlx-queries");
    let files = load_crate(&dir, "sqlx_queries");
    for f in &files {
        let want = if f.rel_path.ends_with("cache.rs") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        };
        assert_eq!(dialect_of(f), want, "{}", f.rel_path);
    }
}

#[test]
fn diesel_fixture() {
    let dir = fixtures().join("frameworks/diesel-schema");
    let exp = expected(&dir);
    let files = load_crate(&dir, "diesel_app");
    let mut tables = Vec::new();
    let mut diags = Vec::new();
    for f in &files {
        let (t, d) = diesel_tables(f);
        tables.extend(t);
        diags.extend(d);
    }
    let got = analyze(&files, &tables);
    diags.extend(got.diags.iter().cloned());
    let mut problems = check_access(&exp, &got);
    problems.extend(check_tables(&exp, &tables));
    problems.extend(diags.iter().map(|d| format!("unexpected diagnostic {d:?}")));
    report(&problems);
}

#[test]
fn diesel_through_a_multi_backend_macro() {
    let dir = fixtures().join("frameworks/diesel-backends");
    let exp = expected(&dir);
    let files = load_crate(&dir, "backends_app");
    let mut tables = Vec::new();
    let mut diags = Vec::new();
    for f in &files {
        let (t, d) = diesel_tables(f);
        tables.extend(t);
        diags.extend(d);
    }
    let got = analyze(&files, &tables);
    diags.extend(got.diags.iter().cloned());
    let mut problems = check_access(&exp, &got);
    problems.extend(check_tables(&exp, &tables));
    problems.extend(diags.iter().map(|d| format!("unexpected diagnostic {d:?}")));
    report(&problems);
}

#[test]
fn broken_fixture() {
    let dir = fixtures().join("frameworks/broken");
    let exp = expected(&dir);
    let files = load_crate(&dir, "broken");
    let got = analyze(&files, &[]);
    let (tables, schema_diags) = schema_from_files(&migrations(&dir), Dialect::Postgres);
    let mut problems = check_access(&exp, &got);
    problems.extend(check_tables(&exp, &tables));
    let mut diags = schema_diags;
    diags.extend(got.diags.iter().cloned());
    // syntax_error.rs and bad_utf8.rs are the file loader's diagnostics.
    problems.extend(check_diags(&exp, &diags, &|f| {
        f.starts_with("migrations/") || f.ends_with("garbage_macro.rs")
    }));
    report(&problems);
}

/// The shop monolith: every function's SQL parses (no diagnostics), the
/// schema has every table of the ground truth, and every table a function
/// touches exists in the schema (or is the migration runner's own).
#[test]
fn shop_monolith() {
    let dir = fixtures().join("shop-monolith");
    let files = load_crate(&dir, "shop");
    let got = analyze(&files, &[]);
    let (tables, schema_diags) = schema_from_files(&migrations(&dir), Dialect::Postgres);
    let mut problems: Vec<String> = got
        .diags
        .iter()
        .map(|d| format!("unexpected diagnostic {d:?}"))
        .collect();
    // The one DO block in 0012 is the only statement sqlparser rejects.
    let schema_lines: Vec<(String, Option<u32>)> = schema_diags
        .iter()
        .map(|d| (d.file.clone(), d.line))
        .collect();
    if schema_lines != vec![("migrations/0012_schema_cleanup.sql".to_owned(), Some(26))] {
        problems.push(format!("schema diagnostics: {schema_diags:?}"));
    }
    let truth: toml::Table = std::fs::read_to_string(dir.join("ground-truth.toml"))
        .expect("ground truth")
        .parse()
        .expect("toml");
    let mut truth_tables = BTreeSet::new();
    for (_, svc) in truth
        .get("services")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flatten()
    {
        truth_tables.extend(strings(svc.get("tables")));
    }
    let names: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
    if names != truth_tables {
        problems.push(format!(
            "schema tables {names:?} != ground truth {truth_tables:?}"
        ));
    }
    let mut touched = BTreeSet::new();
    for a in got.access.values() {
        touched.extend(a.reads.keys().cloned());
        touched.extend(a.writes.keys().cloned());
    }
    for t in &touched {
        if !names.contains(t) && t != "schema_migrations" {
            problems.push(format!("accessed table {t} is not in the schema"));
        }
    }
    for t in &truth_tables {
        if !touched.contains(t) {
            problems.push(format!("no function touches {t}"));
        }
    }
    // Spot checks.
    let price_rules = tables.iter().find(|t| t.name == "price_rules");
    if price_rules.is_none_or(|t| {
        t.defined_at
            .as_ref()
            .is_none_or(|(f, _)| !f.contains("0002"))
    }) {
        problems.push(format!(
            "price_rules defined_at: {:?}",
            price_rules.map(|t| &t.defined_at)
        ));
    }
    // Every function whose source holds a literal starting like DML has
    // access (the migration runner's own bookkeeping aside).
    for file in &files {
        let text = std::fs::read_to_string(dir.join(&file.rel_path)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (id, block) in functions(file) {
            let span = block.brace_token.span;
            let (from, to) = (span.open().start().line, span.close().end().line);
            let body = lines
                .get(from.saturating_sub(1)..to)
                .unwrap_or_default()
                .join("\n");
            let dml = [
                "\"SELECT ",
                "\"INSERT ",
                "\"UPDATE ",
                "\"DELETE ",
                "\"WITH ",
                "\"COPY ",
            ]
            .iter()
            .any(|k| body.contains(k));
            let select_1_only = body.contains("\"SELECT 1\"") || body.contains("pg_advisory");
            if dml && !select_1_only && !got.access.contains_key(&id) {
                problems.push(format!("{id}: has SQL text but no access found"));
            }
        }
    }
    eprintln!(
        "shop: {} functions with SQL, {} tables",
        got.access.len(),
        tables.len()
    );
    report(&problems);
}
