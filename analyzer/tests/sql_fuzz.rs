//! The SQL module never panics: arbitrary and SQL-like text through the
//! splitter, the statement parser and the schema builder; Rust-ish token
//! soup through `access_in_block`; and the regression corpus in
//! `tests/corpus/sql/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strangler_analyzer::Consts;
use strangler_analyzer::source::SourceFile;
use strangler_analyzer::sql::split_statements;
use strangler_analyzer::sql::{
    Dialect, FileContext, TableDef, access_in_block, dialect_of, diesel_tables, schema_from_files,
    sql_access,
};

const DIALECTS: [Dialect; 4] = [
    Dialect::Postgres,
    Dialect::MySql,
    Dialect::Sqlite,
    Dialect::Generic,
];

/// Runs every SQL entry point on `text`.
fn all_sql(text: &str) {
    for d in DIALECTS {
        let stmts = split_statements(text, d);
        let mut last = 0;
        for s in &stmts {
            assert!(s.line >= last, "lines go backwards");
            last = s.line;
            let _ = sql_access(&s.text, d);
        }
        let _ = sql_access(text, d);
        let files = vec![
            ("a.sql".to_owned(), text.to_owned()),
            ("b.sql".to_owned(), text.to_owned()),
        ];
        let (_, diags) = schema_from_files(&files, d);
        assert!(diags.iter().all(|x| x.line.is_some()));
    }
}

fn diesel_fixture_tables() -> Vec<TableDef> {
    ["users", "posts", "t"]
        .iter()
        .map(|n| TableDef {
            name: (*n).to_owned(),
            primary_key: vec!["id".to_owned()],
            ..TableDef::default()
        })
        .collect()
}

fn source(ast: syn::File) -> SourceFile {
    SourceFile {
        rel_path: "src/fuzz.rs".to_owned(),
        crate_name: "fuzz".to_owned(),
        crate_dir: std::env::temp_dir().join("strangler-sql-fuzz-no-such-crate"),
        module: vec!["fuzz".to_owned()],
        ast,
    }
}

/// Runs every Rust entry point on a file's text, if syn parses it.
fn all_rust(text: &str) {
    let Ok(ast) = syn::parse_file(text) else {
        return;
    };
    let file = source(ast);
    let _ = dialect_of(&file);
    let (mut tables, _) = diesel_tables(&file);
    tables.extend(diesel_fixture_tables());
    for diesel in [&[][..], &tables[..]] {
        let ctx = FileContext {
            file: &file,
            dialect: dialect_of(&file),
            diesel_tables: diesel,
            consts: &Consts::from_files(std::slice::from_ref(&file)),
        };
        let mut stack: Vec<&[syn::Item]> = vec![&file.ast.items];
        while let Some(items) = stack.pop() {
            for item in items {
                match item {
                    syn::Item::Fn(f) => {
                        let _ = access_in_block(&f.block, &ctx);
                    }
                    syn::Item::Impl(i) => {
                        for ii in &i.items {
                            if let syn::ImplItem::Fn(f) = ii {
                                let _ = access_in_block(&f.block, &ctx);
                            }
                        }
                    }
                    syn::Item::Mod(m) => {
                        if let Some((_, items)) = &m.content {
                            stack.push(items);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

const SQL_TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "t",
    "u",
    "public.t",
    "\"T\"",
    "(",
    ")",
    ";",
    "'",
    "''",
    "\"",
    "$$",
    "$a$",
    "$1",
    "?",
    "--",
    "/*",
    "*/",
    "\n",
    "WITH",
    "RECURSIVE",
    "AS",
    "INSERT INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "=",
    "DELETE",
    "MERGE INTO",
    "USING",
    "WHEN MATCHED THEN",
    "COPY",
    "TO STDOUT",
    "FROM STDIN",
    "JOIN",
    "ON",
    ",",
    "x",
    "1",
    "E'\\''",
    "\\",
    "CREATE TABLE",
    "CREATE VIEW",
    "ALTER TABLE",
    "RENAME TO",
    "RENAME COLUMN",
    "ADD COLUMN",
    "DROP TABLE",
    "DROP COLUMN",
    "ADD CONSTRAINT",
    "PRIMARY KEY",
    "REFERENCES",
    "FOREIGN KEY",
    "IF EXISTS",
    "int",
    "DO",
    "BEGIN",
    "END",
    "`",
    "#",
    "é",
    "$é$",
    "TRUNCATE",
];

const RUST_TOKENS: &[&str] = &[
    "sqlx::query!",
    "query_as!",
    "query_file!",
    "sqlx::query",
    "query_as::<_, T>",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "\"SELECT * FROM t\"",
    "\"INSERT INTO t VALUES (1)\"",
    "\"SELEC\"",
    "\"{}\"",
    "\"$\"",
    "concat!",
    "format!",
    ",",
    ".",
    "execute",
    "query",
    "prepare",
    "let",
    "sql",
    "=",
    ";",
    "users::table",
    "posts",
    "diesel::update",
    "diesel::insert_into",
    "diesel::sql_query",
    "|c|",
    "macro_rules! m",
    "m!",
    "=>",
    "$",
    "$x:expr",
    "$x:literal",
    "#",
    "&",
    "?",
    ".await",
    "r#\"DELETE FROM t\"#",
    "const S: &str =",
    "S",
    "match",
    "if",
    "else",
    "_",
    "use",
    "posts::dsl::*",
    "table!",
    "joinable!",
    "->",
    "::",
    "vec!",
    "tracing::info!",
    "x",
    "1",
    "'a'",
];

fn soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(tokens), 0..max).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_through_sql(text in any::<String>()) {
        all_sql(&text);
    }

    #[test]
    fn sql_like_text(text in soup(SQL_TOKENS, 40)) {
        all_sql(&text);
    }

    #[test]
    fn rust_token_soup(body in soup(RUST_TOKENS, 40)) {
        // As a function body, as macro arguments, and as items.
        all_rust(&format!("fn f() {{ {body} }}"));
        all_rust(&format!("fn f() {{ m!({body}); sqlx::query!({body}); }}"));
        all_rust(&format!("macro_rules! m {{ ($x:expr) => {{ {body} }} }}\nfn f() {{ m!(1); }}"));
        all_rust(&format!("diesel::table! {{ {body} }}\ndiesel::joinable!({body});\nfn f() {{ }}"));
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sql")
}

/// Every corpus file through everything: `.sql` as SQL, `.rs` as Rust (and
/// both as the other, for good measure).
#[test]
fn regression_corpus() {
    let mut n = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let bytes = std::fs::read(&p).expect("corpus file");
        let text = String::from_utf8_lossy(&bytes);
        all_sql(&text);
        all_rust(&text);
        n += 1;
    }
    assert!(n >= 10, "corpus has {n} files");
}

/// Long method chains and deep nesting cost no stack (run on a 2 MiB
/// thread, like test threads and rayon workers).
#[test]
fn long_chains_and_deep_nesting() {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let mut chain = String::from("fn router() { let _ = sqlx::query(\"SELECT 1 FROM t\")");
            for i in 0..2000 {
                let _ = write!(chain, ".route(\"/r/{i}\", get(h{i}))");
            }
            chain.push_str("; }");
            all_rust(&chain);
            // Deeply nested macro tokens are not re-parsed. (syn itself
            // cannot parse such a file on this stack, so the tokens are
            // built here and put into a parsed function.)
            let mut tokens: proc_macro2::TokenStream =
                "sqlx::query(\"SELECT 1 FROM t\")".parse().expect("tokens");
            for _ in 0..1500 {
                let g = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, tokens);
                tokens = proc_macro2::TokenStream::from(proc_macro2::TokenTree::Group(g));
            }
            let mut ast = syn::parse_file("fn f() { m!(x); }").expect("parses");
            if let Some(syn::Item::Fn(f)) = ast.items.first_mut()
                && let Some(syn::Stmt::Macro(m)) = f.block.stmts.first_mut()
            {
                m.mac.tokens = tokens;
            }
            let file = source(ast);
            let ctx = FileContext {
                file: &file,
                dialect: Dialect::Postgres,
                diesel_tables: &[],
                consts: &Consts::default(),
            };
            if let Some(syn::Item::Fn(f)) = file.ast.items.first() {
                let (access, _) = access_in_block(&f.block, &ctx);
                assert!(access.reads.is_empty());
            }
            // Deeply nested Rust expressions (syn itself overflows this stack at about 150 in a debug build).
            all_rust(&format!(
                "fn f() {{ let _ = {}sqlx::query(\"SELECT 1 FROM t\"){}; }}",
                "(".repeat(90),
                ")".repeat(90)
            ));
            // Deep SQL: sqlparser's recursion limit answers with an error.
            all_sql(&format!("SELECT {}1{}", "(".repeat(3000), ")".repeat(3000)));
        })
        .expect("thread");
    assert!(handle.join().is_ok());
}

/// A long chain's SQL is still found.
#[test]
fn chain_sql_is_found() {
    let mut text = String::from("fn f() { sqlx::query(\"DELETE FROM t\")");
    for _ in 0..500 {
        text.push_str(".bind(1)");
    }
    text.push_str(".execute(pool); }");
    let ast = syn::parse_file(&text).expect("parses");
    let file = source(ast);
    let ctx = FileContext {
        file: &file,
        dialect: Dialect::Postgres,
        diesel_tables: &[],
        consts: &Consts::default(),
    };
    let Some(syn::Item::Fn(f)) = file.ast.items.first() else {
        panic!("no fn")
    };
    let (access, diags) = access_in_block(&f.block, &ctx);
    assert!(diags.is_empty());
    assert_eq!(access.writes.get("t"), Some(&1));
}
