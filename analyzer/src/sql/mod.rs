//! SQL: finding queries in Rust code, parsing them, and the schema from DDL.
//!
//! The rest of the analyzer, and the tests, call only the items below. The
//! private parts: `split` cuts `.sql` files into statements
//! ([`split_statements`]), `parse` parses SQL (with dialect fallbacks) and
//! says which tables a statement reads and writes, `schema` applies DDL in
//! order, `diesel` reads `table!`/`joinable!`, `calls` lists the library
//! calls that take SQL, `text` turns Rust strings into SQL text, and
//! `extract` walks function bodies for SQL strings and Diesel DSL, and
//! `seaorm` reads sea-orm entities and classifies the paths that name them.

mod calls;
mod diesel;
mod extract;
mod parse;
mod schema;
pub(crate) mod seaorm;
mod split;
pub(crate) mod text;

pub(crate) use extract::access_in_fn;
pub use split::{RawStatement, Unterminated, split_statements};

use std::collections::BTreeMap;
use std::path::Path;

use syn::visit::Visit;

use crate::rust::consts::Consts;
use crate::source::{Diagnostic, SourceFile};

/// The SQL dialect a source is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// PostgreSQL (the default).
    #[default]
    Postgres,
    /// `MySQL`.
    MySql,
    /// `SQLite`.
    Sqlite,
    /// Anything else; sqlparser's generic dialect.
    Generic,
}

/// Which tables a function (or a statement) reads and writes, with how many
/// statements do so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Table name → number of statements reading it.
    pub reads: BTreeMap<String, u32>,
    /// Table name → number of statements writing it.
    pub writes: BTreeMap<String, u32>,
}

/// A table or view as the DDL leaves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDef {
    /// Name, schema-qualified when not in `public`.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<String>,
    /// Primary-key columns.
    pub primary_key: Vec<String>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// Whether it is a view.
    pub view: bool,
    /// Where it was created (file, line).
    pub defined_at: Option<(String, u32)>,
}

/// A foreign key from some columns to another table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignKey {
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub references: String,
    /// Referenced columns. When the DDL left them implicit (`REFERENCES
    /// users`), the referenced table's primary key as the schema leaves it;
    /// empty only when that is unknown.
    pub referenced_columns: Vec<String>,
}

/// What a pass over one file's functions needs to know.
#[derive(Debug)]
pub struct FileContext<'a> {
    /// The file.
    pub file: &'a SourceFile,
    /// The dialect of this file's queries.
    pub dialect: Dialect,
    /// Diesel tables declared anywhere in the analyzed code (`table!`).
    pub diesel_tables: &'a [TableDef],
    /// The string constants of the analyzed code, which SQL strings may
    /// name (`query(LIST_USERS)`).
    pub consts: &'a Consts,
}

/// The tables a function body reads and writes, from every SQL string it
/// passes to sqlx, tokio-postgres/postgres or Diesel, plus diagnostics for
/// SQL that does not parse.
///
/// Constants are named from the file's module; the analyzer itself names
/// them from each function's own module and `Self`.
///
/// Each SQL string is one call site; each statement in it counts once for
/// every table it reads and once for every table it writes. Each Diesel
/// query chain (`users::table.filter(..).load(..)`, `diesel::update(..)`) is
/// one statement. Never panics; deep nesting is cut off, not followed.
#[must_use]
pub fn access_in_block(block: &syn::Block, ctx: &FileContext<'_>) -> (Access, Vec<Diagnostic>) {
    extract::access_in_fn(block, &ctx.file.module, None, ctx)
}

/// The dialect a file's queries are written in, judged from its imports and
/// types (`sqlx::Sqlite`, `rusqlite`, `mysql`...), PostgreSQL by default.
///
/// Only `use` items and item signatures are read (not function bodies). A
/// file with `SQLite` (or `MySQL`) markers and no PostgreSQL ones is `SQLite` (or
/// `MySQL`); anything else is PostgreSQL. Parsing falls back to the other
/// dialects anyway when a statement does not parse in the chosen one.
#[must_use]
pub fn dialect_of(file: &SourceFile) -> Dialect {
    let mut hints = DialectHints::default();
    hints.visit_file(&file.ast);
    match (hints.postgres, hints.sqlite, hints.mysql) {
        (0, s, 0) if s > 0 => Dialect::Sqlite,
        (0, 0, m) if m > 0 => Dialect::MySql,
        _ => Dialect::Postgres,
    }
}

/// Counts dialect markers in paths outside function bodies.
#[derive(Debug, Default)]
struct DialectHints {
    postgres: u32,
    sqlite: u32,
    mysql: u32,
}

impl DialectHints {
    fn word(&mut self, w: &str) {
        let lower = w.to_ascii_lowercase();
        if lower.contains("sqlite") {
            self.sqlite += 1;
        } else if lower.contains("mysql") {
            self.mysql += 1;
        } else if lower.contains("postgres")
            || lower.starts_with("pg")
                && (lower == "pgpool"
                    || lower == "pgconnection"
                    || lower == "pgpooloptions"
                    || lower == "pgexecutor")
        {
            self.postgres += 1;
        }
    }
}

impl<'ast> Visit<'ast> for DialectHints {
    fn visit_block(&mut self, _: &'ast syn::Block) {}
    fn visit_expr(&mut self, _: &'ast syn::Expr) {}
    fn visit_path_segment(&mut self, s: &'ast syn::PathSegment) {
        self.word(&s.ident.to_string());
        syn::visit::visit_path_segment(self, s);
    }
    fn visit_use_path(&mut self, p: &'ast syn::UsePath) {
        self.word(&p.ident.to_string());
        syn::visit::visit_use_path(self, p);
    }
    fn visit_use_name(&mut self, n: &'ast syn::UseName) {
        self.word(&n.ident.to_string());
    }
    fn visit_use_rename(&mut self, r: &'ast syn::UseRename) {
        self.word(&r.ident.to_string());
    }
}

/// Diesel tables declared with `table!` in a file.
///
/// Columns are SQL names (`#[sql_name]` applied), the primary key is the
/// list after the table name or `id`; `joinable!(child -> parent (fk))` in
/// the same file becomes a foreign key from `child.fk` to the parent's key.
#[must_use]
pub fn diesel_tables(file: &SourceFile) -> (Vec<TableDef>, Vec<Diagnostic>) {
    diesel::tables_in_file(file)
}

/// The schema built from `.sql` files applied in order: `(relative path,
/// text)` pairs, already sorted. Statements the parser rejects become
/// diagnostics and are skipped. DML in these files is ignored.
///
/// Applies CREATE TABLE/VIEW, ALTER TABLE (ADD/DROP/RENAME COLUMN, ADD/DROP
/// CONSTRAINT, RENAME TO, which also rewrites foreign keys pointing at the
/// table), RENAME TABLE and DROP TABLE/VIEW. An unterminated quote or
/// dollar-quoted body swallows the rest of its file with one diagnostic.
#[must_use]
pub fn schema_from_files(
    files: &[(String, String)],
    dialect: Dialect,
) -> (Vec<TableDef>, Vec<Diagnostic>) {
    schema::build(files, dialect)
}

/// The tables a SQL text reads and writes (each statement counted once per
/// table), parsed with `dialect` and the fallbacks.
///
/// # Errors
/// The parser's message when no dialect accepts the text.
pub fn sql_access(sql: &str, dialect: Dialect) -> Result<Access, String> {
    let stmts = parse::parse_lenient(sql, dialect)?;
    let mut access = Access::default();
    for s in &stmts {
        parse::statement_access(s).add_to(&mut access);
    }
    Ok(access)
}

/// Whether a `.sql` file should not be applied to the schema: a down
/// migration (`down.sql`, `*.down.sql`) undoes what the up one did.
#[must_use]
pub fn is_down_migration(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "down.sql" || n.ends_with(".down.sql"))
}
