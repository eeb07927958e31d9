//! Liquibase changelogs as schema sources: formatted SQL files as they
//! are, and XML, YAML and JSON changelogs' changes written out as the DDL
//! they stand for,
//! all in changelog order so the SQL schema pass applies them as it does
//! Flyway migrations.
//!
//! The changelogs are read from each
//! `db.changelog-master.(xml|yaml|yml|json|sql)`,
//! following `<include file>` (relative to the including file with
//! `relativeToChangelogFile="true"`, else to the module's
//! `src/main/resources/`, else to the root) and `<includeAll path>` (the
//! folder's changelogs by name); with no master, every changelog under a
//! `db/changelog/` folder is read, by path. Changes: `createTable`,
//! `addColumn`, `dropColumn`, `renameColumn`, `addPrimaryKey`,
//! `addForeignKeyConstraint`, `dropForeignKeyConstraint`, `renameTable`,
//! `dropTable`, `createView`, `dropView` and `<sql>`; data and index changes
//! are known and skipped; any other change type, a changelog that is not
//! well-formed and an include that names no file are diagnostics. YAML
//! (`yaml.rs`) and JSON (`json.rs`) changelogs read into the same element
//! tree as XML ones.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::xml::{self, Element};
use super::{json, yaml};
use crate::source::Diagnostic;

/// Changes that do not alter which tables and columns exist.
const NO_SCHEMA_EFFECT: &[&str] = &[
    "createIndex",
    "dropIndex",
    "insert",
    "update",
    "delete",
    "loadData",
    "loadUpdateData",
    "addNotNullConstraint",
    "dropNotNullConstraint",
    "addUniqueConstraint",
    "dropUniqueConstraint",
    "addDefaultValue",
    "dropDefaultValue",
    "addAutoIncrement",
    "createSequence",
    "dropSequence",
    "alterSequence",
    "modifyDataType",
    "setTableRemarks",
    "setColumnRemarks",
    "tagDatabase",
    "empty",
    "output",
    "stop",
    "createProcedure",
    "dropProcedure",
    "addLookupTable",
    "mergeColumns",
    "customChange",
    "executeCommand",
    "sqlFile",
];

/// Elements of a `changeSet` that are not changes.
const NOT_CHANGES: &[&str] = &[
    "comment",
    "preConditions",
    "precondition",
    "rollback",
    "validCheckSum",
    "modifySql",
];

/// What the changelogs give the schema pass.
#[derive(Debug, Default)]
pub struct Changelogs {
    /// (file, SQL) in changelog order.
    pub sql: Vec<(String, String)>,
    /// Every file read as a changelog, so the plain SQL pass skips them.
    pub consumed: BTreeSet<String>,
    /// Problems met.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads the changelogs among `files` (relative path → text).
#[must_use]
pub fn read(files: &BTreeMap<String, String>) -> Changelogs {
    let mut out = Changelogs::default();
    let masters: Vec<&String> = files
        .keys()
        .filter(|rel| {
            let name = rel.rsplit('/').next().unwrap_or_default();
            name.strip_prefix("db.changelog-master.")
                .is_some_and(|ext| matches!(ext, "xml" | "yaml" | "yml" | "json" | "sql"))
        })
        .collect();
    let starts: Vec<&String> = if masters.is_empty() {
        files
            .keys()
            .filter(|rel| rel.starts_with("db/changelog/") || rel.contains("/db/changelog/"))
            .filter(|rel| is_changelog_file(rel))
            .collect()
    } else {
        masters
    };
    for rel in starts {
        visit(files, rel, &mut out, 0);
    }
    out
}

/// A file's extension, lower case.
fn extension(rel: &str) -> String {
    std::path::Path::new(rel)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn is_changelog_file(rel: &str) -> bool {
    matches!(
        extension(rel).as_str(),
        "xml" | "yaml" | "yml" | "json" | "sql"
    )
}

/// Reads one changelog and what it includes, once each.
fn visit(files: &BTreeMap<String, String>, rel: &str, out: &mut Changelogs, depth: usize) {
    if depth > 32 || !out.consumed.insert(rel.to_owned()) {
        return;
    }
    let Some(text) = files.get(rel) else {
        return;
    };
    let ext = extension(rel);
    if ext == "sql" {
        // Formatted SQL: `--changeset` and `--rollback` lines are comments.
        out.sql.push((rel.to_owned(), text.clone()));
        return;
    }
    let (parsed, format) = match ext.as_str() {
        "xml" => (xml::parse(text), "XML"),
        "json" => (json::parse(text), "JSON"),
        _ => (yaml::parse(text), "YAML"),
    };
    let root = match parsed {
        Ok(r) => r,
        Err((line, message)) => {
            out.diagnostics.push(Diagnostic::new(
                rel,
                Some(line),
                format!("Liquibase changelog is not well-formed {format} ({message}); skipped"),
            ));
            return;
        }
    };
    if root.name != "databaseChangeLog" {
        out.consumed.remove(rel);
        return;
    }
    let mut sql = Sql::default();
    for el in &root.children {
        match el.name.as_str() {
            "changeSet" => {
                for change in &el.children {
                    sql.change(change, rel, &mut out.diagnostics);
                }
            }
            "include" | "includeAll" => {
                // What comes before an include applies before it.
                flush(rel, &mut sql, out);
                include(files, rel, el, out, depth);
            }
            _ => {}
        }
    }
    flush(rel, &mut sql, out);
}

fn flush(rel: &str, sql: &mut Sql, out: &mut Changelogs) {
    let done = std::mem::take(sql);
    if !done.text.trim().is_empty() {
        out.sql.push((rel.to_owned(), done.text));
    }
    // Later statements keep their lines.
    sql.line = done.line;
    sql.text = "\n".repeat(done.line.saturating_sub(1) as usize);
}

/// An `<include file>` or `<includeAll path>`.
fn include(
    files: &BTreeMap<String, String>,
    rel: &str,
    el: &Element,
    out: &mut Changelogs,
    depth: usize,
) {
    let relative = el.attr("relativeToChangelogFile") == Some("true");
    if el.name == "include" {
        let Some(file) = el.attr("file") else { return };
        match resolve(rel, file, relative, |c| files.contains_key(c)) {
            Some(target) => visit(files, &target, out, depth + 1),
            None => out.diagnostics.push(Diagnostic::new(
                rel,
                Some(el.line),
                format!("included changelog `{file}` is not among the analyzed files; skipped"),
            )),
        }
        return;
    }
    let Some(path) = el.attr("path") else { return };
    let dir = |c: &str| {
        let prefix = format!("{}/", c.trim_end_matches('/'));
        files.keys().any(|k| k.starts_with(&prefix))
    };
    match resolve(rel, path, relative, dir) {
        Some(found) => {
            let prefix = format!("{}/", found.trim_end_matches('/'));
            let inside: Vec<&String> = files
                .keys()
                .filter(|k| k.starts_with(&prefix) && is_changelog_file(k))
                .collect();
            for target in inside {
                visit(files, target, out, depth + 1);
            }
        }
        None => out.diagnostics.push(Diagnostic::new(
            rel,
            Some(el.line),
            format!("included folder `{path}` holds no analyzed changelog; skipped"),
        )),
    }
}

/// The analyzed path an include names, trying the including file's folder
/// (first when `relative`), the module's `src/main/resources/` and the root.
fn resolve(
    from: &str,
    target: &str,
    relative: bool,
    exists: impl Fn(&str) -> bool,
) -> Option<String> {
    let target = target
        .trim_start_matches("classpath:")
        .trim_start_matches('/');
    let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
    let resources = from
        .find("src/main/resources/")
        .map(|i| &from[..i + "src/main/resources/".len()]);
    let mut candidates = Vec::new();
    if relative {
        candidates.push(join(dir, target));
    }
    if let Some(r) = resources {
        candidates.push(join(r.trim_end_matches('/'), target));
    }
    candidates.push(join("", target));
    candidates.push(join(dir, target));
    candidates.into_iter().find(|c| exists(c))
}

/// `dir/path` with `.` and `..` segments resolved.
fn join(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// DDL written for changes, each statement on its element's line.
#[derive(Debug, Default)]
struct Sql {
    text: String,
    /// The line the text ends on.
    line: u32,
}

impl Sql {
    fn statement(&mut self, line: u32, stmt: &str) {
        // Changelog lines only grow, so padding puts a statement on its
        // element's line and the schema pass cites the changelog's lines.
        let line = line.max(1);
        if self.line == 0 {
            self.line = 1;
        }
        while self.line < line {
            self.text.push('\n');
            self.line += 1;
        }
        self.text.push_str(stmt);
        self.text.push_str("; ");
    }

    fn change(&mut self, change: &Element, rel: &str, diagnostics: &mut Vec<Diagnostic>) {
        let name = change.name.as_str();
        if let Some(stmts) = table_ddl(change).or_else(|| other_ddl(change)) {
            for stmt in stmts {
                self.statement(change.line, &stmt);
            }
        } else if !NO_SCHEMA_EFFECT.contains(&name) && !NOT_CHANGES.contains(&name) {
            diagnostics.push(Diagnostic::new(
                rel,
                Some(change.line),
                format!("unknown Liquibase change type `{name}`; skipped"),
            ));
        }
    }
}

/// The DDL of a change to one table's columns or key; `None` for another
/// change type, no statement when attributes are missing.
fn table_ddl(change: &Element) -> Option<Vec<String>> {
    let attr = |k: &str| change.attr(k).map(ident);
    let table = attr("tableName");
    let mut out = Vec::new();
    match change.name.as_str() {
        "createTable" => {
            let (mut body, keys) = columns(change);
            if !keys.is_empty() {
                body.push(format!("PRIMARY KEY ({})", keys.join(", ")));
            }
            out.extend(table.map(|t| format!("CREATE TABLE {t} ({})", body.join(", "))));
        }
        "addColumn" => {
            if let Some(t) = table {
                let (defs, _) = columns(change);
                out.extend(
                    defs.iter()
                        .map(|d| format!("ALTER TABLE {t} ADD COLUMN {d}")),
                );
            }
        }
        "dropColumn" => {
            if let Some(t) = table {
                let names = change.attr("columnName").into_iter().chain(
                    change
                        .children_named("column")
                        .filter_map(|c| c.attr("name")),
                );
                out.extend(names.map(|c| format!("ALTER TABLE {t} DROP COLUMN {}", ident(c))));
            }
        }
        "renameColumn" => {
            if let (Some(t), Some(old), Some(new)) =
                (table, attr("oldColumnName"), attr("newColumnName"))
            {
                out.push(format!("ALTER TABLE {t} RENAME COLUMN {old} TO {new}"));
            }
        }
        "addPrimaryKey" => {
            if let (Some(t), Some(cols)) = (table, change.attr("columnNames")) {
                out.push(format!("ALTER TABLE {t} ADD PRIMARY KEY ({})", list(cols)));
            }
        }
        _ => return None,
    }
    Some(out)
}

/// The DDL of a foreign-key, table, view or `<sql>` change; `None` for
/// another change type.
fn other_ddl(change: &Element) -> Option<Vec<String>> {
    let attr = |k: &str| change.attr(k).map(ident);
    let mut out = Vec::new();
    match change.name.as_str() {
        "addForeignKeyConstraint" => {
            if let (Some(base), Some(cols), Some(to), Some(to_cols)) = (
                attr("baseTableName"),
                change.attr("baseColumnNames"),
                attr("referencedTableName"),
                change.attr("referencedColumnNames"),
            ) {
                let named =
                    attr("constraintName").map_or_else(String::new, |n| format!("CONSTRAINT {n} "));
                out.push(format!(
                    "ALTER TABLE {base} ADD {named}FOREIGN KEY ({}) REFERENCES {to} ({})",
                    list(cols),
                    list(to_cols)
                ));
            }
        }
        "dropForeignKeyConstraint" => {
            if let (Some(base), Some(n)) = (attr("baseTableName"), attr("constraintName")) {
                out.push(format!("ALTER TABLE {base} DROP CONSTRAINT {n}"));
            }
        }
        "renameTable" => {
            if let (Some(old), Some(new)) = (attr("oldTableName"), attr("newTableName")) {
                out.push(format!("ALTER TABLE {old} RENAME TO {new}"));
            }
        }
        "dropTable" => out.extend(attr("tableName").map(|t| format!("DROP TABLE {t}"))),
        "createView" => {
            if let Some(view) = attr("viewName") {
                let query = text_or(change, "selectQuery");
                out.push(format!(
                    "CREATE VIEW {view} AS {}",
                    query.trim().trim_end_matches(';')
                ));
            }
        }
        "dropView" => out.extend(attr("viewName").map(|v| format!("DROP VIEW {v}"))),
        "sql" => {
            let text = text_or(change, "sql");
            let text = text.trim().trim_end_matches(';');
            if !text.is_empty() {
                out.push(text.to_owned());
            }
        }
        _ => return None,
    }
    Some(out)
}

/// An element's text (XML), else its attribute `key` (YAML's
/// `sql: ..`, `selectQuery: ..`).
fn text_or(el: &Element, key: &str) -> String {
    let text = el.deep_text();
    if text.trim().is_empty() {
        el.attr(key).unwrap_or_default().to_owned()
    } else {
        text
    }
}

/// The column definitions of a `createTable`/`addColumn`, and the
/// primary-key columns. Types are all `text`: the schema keeps names only,
/// and Liquibase types (`${id.type}`, `java.sql.Types.VARCHAR(255)`) are
/// not SQL.
fn columns(change: &Element) -> (Vec<String>, Vec<String>) {
    let mut defs = Vec::new();
    let mut keys = Vec::new();
    for c in change.children_named("column") {
        let Some(name) = c.attr("name").map(ident) else {
            continue;
        };
        let mut def = format!("{name} text");
        if let Some(k) = c.child("constraints") {
            if k.attr("primaryKey") == Some("true") {
                keys.push(name.clone());
            }
            let target = k
                .attr("referencedTableName")
                .map(|t| (ident(t), k.attr("referencedColumnNames").map(list)))
                .or_else(|| {
                    k.attr("references").map(|r| match r.split_once('(') {
                        Some((t, cols)) => {
                            (ident(t.trim()), Some(list(cols.trim_end_matches(')'))))
                        }
                        None => (ident(r.trim()), None),
                    })
                });
            if let Some((table, cols)) = target {
                let _ = write!(def, " REFERENCES {table}");
                if let Some(cols) = cols {
                    let _ = write!(def, " ({cols})");
                }
            }
        }
        defs.push(def);
    }
    (defs, keys)
}

/// A name as a quoted identifier, lower case (unquoted names are case
/// insensitive; quoting keeps reserved words such as `order` valid).
fn ident(name: &str) -> String {
    let name = name
        .trim()
        .trim_matches('"')
        .trim_matches('`')
        .to_lowercase();
    format!("\"{}\"", name.replace('"', ""))
}

/// `a, b` as quoted identifiers.
fn list(names: &str) -> String {
    names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(ident)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn without_a_master_the_changelog_folder_is_read_by_path() {
        let out = read(&files(&[
            (
                "db/changelog/2.xml",
                "<databaseChangeLog><changeSet id=\"2\"><dropTable tableName=\"a\"/></changeSet></databaseChangeLog>",
            ),
            (
                "db/changelog/1.xml",
                "<databaseChangeLog><changeSet id=\"1\"><createTable tableName=\"A\"><column name=\"x\"/></createTable></changeSet></databaseChangeLog>",
            ),
            ("db/changelog/notes.xml", "<notes/>"),
            ("other/3.xml", "<databaseChangeLog/>"),
        ]));
        let order: Vec<&str> = out.sql.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(order, ["db/changelog/1.xml", "db/changelog/2.xml"]);
        assert!(out.sql[0].1.contains("CREATE TABLE \"a\" (\"x\" text)"));
        // Only changelogs are consumed: other XML stays with its readers.
        assert_eq!(
            out.consumed.iter().collect::<Vec<_>>(),
            ["db/changelog/1.xml", "db/changelog/2.xml"]
        );
        assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    }

    #[test]
    fn includes_resolve_and_cycles_end() {
        let out = read(&files(&[
            (
                "src/main/resources/db/changelog/db.changelog-master.xml",
                "<databaseChangeLog><include file=\"db/changelog/a.xml\"/></databaseChangeLog>",
            ),
            (
                "src/main/resources/db/changelog/a.xml",
                "<databaseChangeLog><include file=\"../changelog/db.changelog-master.xml\" relativeToChangelogFile=\"true\"/><changeSet id=\"1\"><sql>CREATE TABLE t (x int);</sql></changeSet></databaseChangeLog>",
            ),
        ]));
        assert_eq!(out.sql.len(), 1);
        assert!(out.sql[0].1.contains("CREATE TABLE t (x int)"));
        assert_eq!(join("a/b", "../c/./d.xml"), "a/c/d.xml");
    }
}
