//! The Java front end: a Maven or Gradle project's Java sources, its SQL,
//! `MyBatis` mappers and `web.xml` become the same [`Analysis`] the Rust
//! front end produces, so clustering, metrics, reasons, the plan and the
//! report work on it unchanged.
//!
//! Nodes: packages are modules (`org.example.owner`), classes, interfaces,
//! enums, records and annotation types are types (`org.example.owner.Owner`,
//! nested ones `org.example.owner.Owner.Builder`), methods are functions
//! (`org.example.owner.OwnerController.showOwner`; constructors are `new`,
//! overloads share one node, initialisers are `<clinit>`). A package
//! contains its types (and the packages directly under it that have
//! types), a type its methods and nested types; so at module granularity
//! the units are packages, and at file granularity (one top-level class a
//! file) they are classes. Each entity class `maps` its table.
//!
//! Steps: `layout` finds the files; `syntax` parses each with
//! tree-sitter-java on a rayon pool; `resolve` indexes every type and
//! resolves names; `data` finds entities (annotated, or in `hbm.xml` or
//! `orm.xml`),
//! named queries, repositories and SQL; `liquibase` turns changelogs (XML,
//! YAML through `yaml`, JSON through `json`) into DDL for the schema; `routes` finds HTTP routes; this module resolves
//! each file's methods (in parallel again) and assembles the graph. Nothing here panics on input:
//! unreadable, oversized or unparsable files, broken XML and SQL the
//! parser rejects are diagnostics.

mod data;
mod json;
mod layout;
mod liquibase;
mod model;
mod resolve;
mod routes;
mod syntax;
mod xml;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rayon::prelude::*;

use crate::graph::{Detail, EdgeKind, GraphBuilder, Node, NodeKind, table_id};
use crate::source::Diagnostic;
use crate::sql::{self, Access, Dialect};
use crate::{Analysis, AnalyzeError, Config, Stats};

use model::{JavaFile, Method, Receiver, Value};

/// Lombok annotations that generate members the source does not show.
const LOMBOK: [&str; 9] = [
    "Data",
    "Getter",
    "Setter",
    "Value",
    "Builder",
    "AllArgsConstructor",
    "NoArgsConstructor",
    "RequiredArgsConstructor",
    "SuperBuilder",
];
use resolve::{Index, Scope, fqn};

pub use layout::is_java_project;
pub use routes::normalise as normalise_path;

/// Parses one Java source as the analyzer does and returns the names of the
/// types it declares (fully qualified) and its diagnostics; for tests and
/// fuzzing of the syntax pass.
#[must_use]
pub fn parse_source(rel_path: &str, text: &str) -> (Vec<String>, Vec<Diagnostic>) {
    let (file, diagnostics) = syntax::parse_file(rel_path, text);
    let types = file
        .types
        .iter()
        .map(|t| fqn(&file.package, &t.name))
        .collect();
    (types, diagnostics)
}

/// Reads one `MyBatis` XML mapper as the analyzer does and returns each
/// statement's mapper method id with its flattened SQL, and diagnostics;
/// any other XML gives nothing. For tests and fuzzing of the XML reader.
#[must_use]
pub fn read_mapper(rel_path: &str, text: &str) -> (Vec<(String, String)>, Vec<Diagnostic>) {
    let (statements, diagnostics) = data::mapper_statements(rel_path, text);
    (
        statements.into_iter().map(|s| (s.method, s.sql)).collect(),
        diagnostics,
    )
}

/// Reads one JPA `orm.xml` mapping as the analyzer does and returns each
/// entity class (fully qualified) with its table, and diagnostics; any
/// other XML gives nothing. For tests and fuzzing of the XML reader.
#[must_use]
pub fn read_orm_xml(rel_path: &str, text: &str) -> (Vec<(String, String)>, Vec<Diagnostic>) {
    let (mapping, diagnostics) = data::orm_mapping(rel_path, text);
    (
        mapping
            .classes
            .into_iter()
            .map(|c| (c.class, c.table))
            .collect(),
        diagnostics,
    )
}

/// The files of a Java project, walked once: the Rust front end's walk is
/// needed only when the tree holds a Cargo manifest.
pub(crate) use layout::Layout;

/// Walks `root` the way [`analyze_layout`] reads it.
pub(crate) fn layout(root: &Path) -> Layout {
    layout::discover(root)
}

/// Analyzes the Java project at `root` (which [`is_java_project`] accepted).
pub fn analyze(root: &Path, config: &Config) -> Result<Analysis, AnalyzeError> {
    analyze_layout(&layout::discover(root), config)
}

/// Analyzes a Java project already walked.
pub(crate) fn analyze_layout(layout: &Layout, config: &Config) -> Result<Analysis, AnalyzeError> {
    let threads = config
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| AnalyzeError::Threads(e.to_string()))?;
    Ok(pool.install(|| run(config, layout)))
}

/// What one file's methods do, resolved. [`file_facts`] returns the
/// edges counted (each once, with its occurrences).
#[derive(Debug, Default)]
struct Facts {
    calls: Vec<(String, String)>,
    uses_type: Vec<(String, String)>,
    /// (function, table, writes).
    access: Vec<(String, String, bool)>,
    /// `calls`, `uses_type` and `access` counted, once the file is done.
    counted: Counted,
    /// Repository methods called but inherited (`save`, `findById`): the
    /// repository type and the method name.
    inherited: Vec<(String, String)>,
    resolved: u32,
    unresolved: u32,
    diagnostics: Vec<Diagnostic>,
}

fn run(config: &Config, layout: &layout::Layout) -> Analysis {
    // The Java sources and everything else (SQL, XML, configuration) are
    // read at the same time: the resources need no Java.
    let (parsed, resources) = rayon::join(
        || -> Vec<(Option<JavaFile>, Vec<Diagnostic>)> {
            layout
                .java
                .par_iter()
                .map_init(syntax::java_parser, |parser, (path, rel)| {
                    read_and_parse(parser.as_mut(), path, rel, config.max_file_bytes)
                })
                .collect()
        },
        || read_resources(layout),
    );
    let mut diagnostics = layout.diagnostics.clone();
    diagnostics.extend(resources.diagnostics);
    let mut files = Vec::new();
    for (file, diags) in parsed {
        diagnostics.extend(diags);
        files.extend(file);
    }
    let index = Index::build(&files);
    let mut entities = data::entities(&index);
    diagnostics.extend(data::add_xml_mappings(
        &mut entities,
        &index,
        &resources.mappings,
    ));
    diagnostics.extend(data::named_queries(&index, &mut entities));
    // The files' facts, in parallel, while one thread finds the routes and
    // adds the code and the tables to the graph (serial work that needs no
    // facts).
    let (facts, (found_routes, route_diagnostics, mut builder, tables)) = rayon::join(
        || -> Vec<Facts> {
            files
                .par_iter()
                .map(|file| file_facts(&index, &entities, file))
                .collect()
        },
        || {
            let mut route_diagnostics = Vec::new();
            let found_routes = routes::find(
                &index,
                resources.context.as_deref(),
                &resources.web_xml,
                &mut route_diagnostics,
            );
            let mut builder = GraphBuilder::default();
            add_code(&mut builder, &index);
            let tables = add_tables(&mut builder, &resources.schema, &entities);
            add_maps(&mut builder, &index, &entities, &tables);
            (found_routes, route_diagnostics, builder, tables)
        },
    );
    diagnostics.extend(route_diagnostics);
    let mut stats = Stats {
        java_files: layout.java.len(),
        java_files_parsed: files.len(),
        java_test_files: layout.test_java,
        java_lines: files.iter().map(|f| f.lines).sum(),
        sql_files: resources.sql_files,
        ..Stats::default()
    };
    let mut declared = Declared::default();
    add_facts(
        &mut builder,
        (&index, &entities, &tables),
        facts,
        &mut stats,
        &mut diagnostics,
        &mut declared,
    );
    add_mappers(
        &mut builder,
        &index,
        &tables,
        &resources.mapper_statements,
        &mut diagnostics,
        &mut declared,
    );
    declared.credit(&mut builder, &index);
    crate::add_routes(&mut builder, &found_routes, &mut diagnostics);
    drop(index);
    // Freeing the parsed files takes as long as sorting the graph: both at once.
    let (analysis, ()) = rayon::join(
        || crate::finish(builder, diagnostics, stats),
        move || drop(files),
    );
    analysis
}

/// What the analysis reads besides the Java sources.
#[derive(Default)]
struct Resources {
    /// `hbm.xml` and `orm.xml` mappings.
    mappings: Vec<data::XmlMapping>,
    /// The schema: SQL files, Flyway migrations and Liquibase changelogs.
    schema: Vec<sql::TableDef>,
    /// `MyBatis` XML statements with the tables their SQL reads and
    /// writes (or why it does not parse).
    mapper_statements: Vec<(data::MapperStatement, Result<Access, String>)>,
    /// `web.xml` files: (relative path, text).
    web_xml: Vec<(String, String)>,
    /// The servlet context path, when configured.
    context: Option<String>,
    /// SQL files read.
    sql_files: usize,
    diagnostics: Vec<Diagnostic>,
}

/// Reads the schema, the XML mappers and mappings, `web.xml` and the
/// context path.
fn read_resources(layout: &layout::Layout) -> Resources {
    let mut out = Resources::default();
    let diagnostics = &mut out.diagnostics;
    let xml_texts: Vec<(String, String)> = layout
        .xml
        .iter()
        .filter_map(|(path, rel)| read_text(path, rel, diagnostics).map(|t| (rel.clone(), t)))
        .collect();
    for (rel, text) in &xml_texts {
        for read in [data::hbm_mapping, data::orm_mapping] {
            let (mapping, diags) = read(rel, text);
            out.mappings.push(mapping);
            diagnostics.extend(diags);
        }
    }
    let sql_texts: Vec<(String, String)> = layout
        .sql
        .iter()
        .filter(|(p, _)| !sql::is_down_migration(p))
        .filter_map(|(path, rel)| read_text(path, rel, diagnostics).map(|t| (rel.clone(), t)))
        .collect();
    out.sql_files = sql_texts.len();
    // Liquibase changelogs, in their order, after the other SQL files.
    let yaml_texts: Vec<(String, String)> = layout
        .changelog_text
        .iter()
        .filter_map(|(path, rel)| read_text(path, rel, diagnostics).map(|t| (rel.clone(), t)))
        .collect();
    let changelog_files: BTreeMap<String, String> = sql_texts
        .iter()
        .chain(&xml_texts)
        .chain(&yaml_texts)
        .cloned()
        .collect();
    let changelogs = liquibase::read(&changelog_files);
    diagnostics.extend(changelogs.diagnostics);
    let schema_sources: Vec<(String, String)> = sql_texts
        .into_iter()
        .filter(|(rel, _)| !changelogs.consumed.contains(rel))
        .chain(changelogs.sql)
        .collect();
    let (schema, schema_diags) = sql::schema_from_files(&schema_sources, Dialect::Postgres);
    out.schema = schema;
    diagnostics.extend(schema_diags);
    let mut statements = Vec::new();
    for (rel, text) in xml_texts {
        let (found, diags) = data::mapper_statements(&rel, &text);
        statements.extend(found);
        diagnostics.extend(diags);
        if rel.ends_with("web.xml") {
            out.web_xml.push((rel, text));
        }
    }
    // Mapper SQL is native SQL: no entity names to map.
    let no_entities = data::Entities::default();
    out.mapper_statements = statements
        .into_par_iter()
        .map(|st| {
            let access = data::access_of(&st.sql, false, &no_entities);
            (st, access)
        })
        .collect();
    out.context = layout::context_path(&layout.config, diagnostics);
    out
}

/// Table names as the schema spells them, whatever case the code uses;
/// tables no DDL declares are lower-cased.
struct TableNames(BTreeMap<String, String>);

impl TableNames {
    fn name(&self, table: &str) -> String {
        let lower = table.to_lowercase();
        self.0.get(&lower).cloned().unwrap_or(lower)
    }

    fn in_schema(&self, table: &str) -> bool {
        self.0.contains_key(&table.to_lowercase())
    }
}

fn access_kind(write: bool) -> EdgeKind {
    if write {
        EdgeKind::Writes
    } else {
        EdgeKind::Reads
    }
}

/// The schema's tables, the entities' tables and the mappings' foreign keys.
fn add_tables(
    builder: &mut GraphBuilder,
    schema: &[sql::TableDef],
    entities: &data::Entities,
) -> TableNames {
    let names = TableNames(
        schema
            .iter()
            .map(|t| (t.name.to_lowercase(), t.name.clone()))
            .collect(),
    );
    for table in schema {
        crate::add_table(builder, table);
    }
    for (table, (file, line)) in &entities.declared_at {
        let name = names.name(table);
        if !builder.has(&table_id(&name)) {
            builder.node(Node {
                id: table_id(&name),
                kind: NodeKind::Table,
                name: name.clone(),
                file: Some(file.clone()),
                line: Some(*line),
                detail: Detail::Table {
                    columns: Vec::new(),
                    primary_key: Vec::new(),
                    view: false,
                },
            });
        }
    }
    // The mappings' foreign keys, where the DDL did not already declare
    // the tables (it knows the keys better, and counting both would double
    // their weight).
    for (from, to) in &entities.references {
        if names.in_schema(from) && names.in_schema(to) {
            continue;
        }
        let (from, to) = (names.name(from), names.name(to));
        crate::ensure_table(builder, &from);
        crate::ensure_table(builder, &to);
        builder.edge(&table_id(&from), &table_id(&to), EdgeKind::References, 1);
    }
    names
}

/// `maps` edges: each analyzed entity class (annotated, or mapped in
/// `hbm.xml` or `orm.xml`) to its table, from the class's own node, so the unit that
/// holds the class (its package, or its file) goes with the table.
fn add_maps(
    builder: &mut GraphBuilder,
    index: &Index<'_>,
    entities: &data::Entities,
    tables: &TableNames,
) {
    for (class, table) in &entities.table_of {
        if !index.types.contains_key(class) {
            continue;
        }
        let table = tables.name(table);
        crate::ensure_table(builder, &table);
        builder.edge(class, &table_id(&table), EdgeKind::Maps, 1);
    }
}

/// A file's edges, each once with its number of occurrences.
#[derive(Debug, Default)]
struct Counted {
    calls: Vec<((String, String), u32)>,
    uses_type: Vec<((String, String), u32)>,
    access: Vec<((String, String, bool), u32)>,
}

/// `items` sorted, each once with how often it occurred.
fn counted<T: Ord>(mut items: Vec<T>) -> Vec<(T, u32)> {
    items.sort_unstable();
    let mut out: Vec<(T, u32)> = Vec::with_capacity(items.len());
    for item in items {
        match out.last_mut() {
            Some((last, n)) if *last == item => *n += 1,
            _ => out.push((item, 1)),
        }
    }
    out
}

/// Each file's calls, type uses and table access, and the inherited
/// repository methods they call.
fn add_facts(
    builder: &mut GraphBuilder,
    (index, entities, tables): (&Index<'_>, &data::Entities, &TableNames),
    facts: Vec<Facts>,
    stats: &mut Stats,
    diagnostics: &mut Vec<Diagnostic>,
    declared: &mut Declared,
) {
    let mut synthesized: BTreeSet<String> = BTreeSet::new();
    for f in facts {
        stats.calls_resolved += f.resolved;
        stats.calls_unresolved += f.unresolved;
        for (ty, name) in &f.inherited {
            let id = format!("{ty}.{name}");
            if !synthesized.insert(id.clone()) {
                continue;
            }
            let info = index.types.get(ty);
            builder.node(Node {
                id: id.clone(),
                kind: NodeKind::Function,
                name: name.clone(),
                file: info.map(|i| index.files[i.file].rel_path.clone()),
                line: info.map(|i| i.decl.line),
                detail: Detail::None,
            });
            builder.edge(ty, &id, EdgeKind::Contains, 1);
            if let Some(table) = data::repository_table(index, entities, ty)
                && let Some(write) = data::derived_write(name)
            {
                let table = tables.name(&table);
                crate::ensure_table(builder, &table);
                let table = table_id(&table);
                builder.edge(&id, &table, access_kind(write), 1);
                declared.note(index, &id, table, access_kind(write), 1);
            }
        }
        for ((from, to), n) in f.counted.calls {
            builder.edge(&from, &to, EdgeKind::Calls, n);
            declared.calls.push((from, to));
        }
        for ((from, to), n) in &f.counted.uses_type {
            builder.edge(from, to, EdgeKind::UsesType, *n);
        }
        for ((function, table, write), n) in &f.counted.access {
            let table = tables.name(table);
            crate::ensure_table(builder, &table);
            let table = table_id(&table);
            builder.edge(function, &table, access_kind(*write), *n);
            declared.note(index, function, table, access_kind(*write), *n);
        }
        diagnostics.extend(f.diagnostics);
    }
}

/// `MyBatis` XML statements as the table access of their mapper methods.
fn add_mappers(
    builder: &mut GraphBuilder,
    index: &Index<'_>,
    tables: &TableNames,
    statements: &[(data::MapperStatement, Result<Access, String>)],
    diagnostics: &mut Vec<Diagnostic>,
    declared: &mut Declared,
) {
    for (st, access) in statements {
        let Some((ty, name)) = st.method.rsplit_once('.') else {
            continue;
        };
        if !index.types.contains_key(ty) {
            diagnostics.push(Diagnostic::new(
                st.file.clone(),
                Some(st.line),
                format!("mapper namespace `{ty}` is no analyzed interface; statement `{name}` is tied to no method"),
            ));
            continue;
        }
        if !builder.has(&st.method) {
            builder.node(Node {
                id: st.method.clone(),
                kind: NodeKind::Function,
                name: name.to_owned(),
                file: Some(st.file.clone()),
                line: Some(st.line),
                detail: Detail::None,
            });
            builder.edge(ty, &st.method, EdgeKind::Contains, 1);
        }
        if let Some(info) = index.types.get(ty)
            && let Some(method) = info.decl.methods.iter().find(|m| m.name == name)
        {
            let scope = Scope {
                file: &index.files[info.file],
                type_name: &info.decl.name,
            };
            let used = property_use(index, scope, method, &st.sql);
            for target in used.calls {
                builder.edge(&st.method, &target, EdgeKind::Calls, 1);
                declared.calls.push((st.method.clone(), target));
            }
            for class in used.types {
                builder.edge(&st.method, &class, EdgeKind::UsesType, 1);
            }
        }
        match access {
            Ok(access) => {
                for (table, kind, n) in add_access(builder, &st.method, access, tables) {
                    declared.note(index, &st.method, table, kind, n);
                }
            }
            Err(e) => diagnostics.push(Diagnostic::new(
                st.file.clone(),
                Some(st.line),
                format!("SQL of `{name}` does not parse ({e}); skipped"),
            )),
        }
    }
}

/// `access` as edges of `function`; returns them (table id, kind, statements).
fn add_access(
    builder: &mut GraphBuilder,
    function: &str,
    access: &Access,
    tables: &TableNames,
) -> Vec<(String, EdgeKind, u32)> {
    let mut out = Vec::new();
    for (kind, found) in [
        (EdgeKind::Reads, &access.reads),
        (EdgeKind::Writes, &access.writes),
    ] {
        for (table, n) in found {
            let table = tables.name(table);
            crate::ensure_table(builder, &table);
            let table = table_id(&table);
            builder.edge(function, &table, kind, *n);
            out.push((table, kind, *n));
        }
    }
    out
}

/// Table access declared on interface methods, and every call: a `MyBatis`
/// mapper's or a Spring Data repository's method has no body (the
/// framework generates it), so its statements run where it is called, and
/// [`Declared::credit`] gives each caller the statements of the declared
/// methods it calls, as if it held their SQL, as a JDBC call's caller does.
#[derive(Debug, Default)]
struct Declared {
    /// Interface method id → (table id, reads or writes, statements).
    access: BTreeMap<String, Vec<(String, EdgeKind, u32)>>,
    /// Every resolved call: (caller, callee).
    calls: Vec<(String, String)>,
}

impl Declared {
    /// Records `function`'s access to `table` when it is an interface's method.
    fn note(&mut self, index: &Index<'_>, function: &str, table: String, kind: EdgeKind, n: u32) {
        if interface_method(index, function) {
            self.access
                .entry(function.to_owned())
                .or_default()
                .push((table, kind, n));
        }
    }

    /// Each caller (outside interfaces) of a declared method reads and
    /// writes what that method's statements do, once per callee.
    fn credit(self, builder: &mut GraphBuilder, index: &Index<'_>) {
        let mut calls = self.calls;
        calls.sort_unstable();
        calls.dedup();
        for (from, to) in &calls {
            let Some(access) = self.access.get(to) else {
                continue;
            };
            if interface_method(index, from) {
                continue;
            }
            for (table, kind, n) in access {
                builder.edge(from, table, *kind, *n);
            }
        }
    }
}

/// Whether `function` is a method of an analyzed interface.
fn interface_method(index: &Index<'_>, function: &str) -> bool {
    function
        .rsplit_once('.')
        .and_then(|(ty, _)| index.types.get(ty))
        .is_some_and(|info| info.decl.kind == "interface")
}

fn read_text(path: &Path, rel: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).ok();
            if text.is_none() {
                diagnostics.push(Diagnostic::new(rel, None, "not UTF-8; skipped"));
            }
            text
        }
        Err(e) => {
            diagnostics.push(Diagnostic::new(rel, None, format!("cannot read: {e}")));
            None
        }
    }
}

fn read_and_parse(
    parser: Result<&mut tree_sitter::Parser, &mut String>,
    path: &Path,
    rel: &str,
    max_bytes: u64,
) -> (Option<JavaFile>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    match std::fs::metadata(path) {
        Ok(m) if m.len() > max_bytes => {
            diagnostics.push(Diagnostic::new(
                rel,
                None,
                format!("larger than {max_bytes} bytes; skipped"),
            ));
            return (None, diagnostics);
        }
        Ok(_) => {}
        Err(e) => {
            diagnostics.push(Diagnostic::new(rel, None, format!("cannot read: {e}")));
            return (None, diagnostics);
        }
    }
    let Some(text) = read_text(path, rel, &mut diagnostics) else {
        return (None, diagnostics);
    };
    let (file, more) = syntax::parse_with(parser, rel, &text);
    diagnostics.extend(more);
    (Some(file), diagnostics)
}

/// Packages, types and methods with `contains` and `implements`.
fn add_code(builder: &mut GraphBuilder, index: &Index<'_>) {
    let mut packages: BTreeMap<&str, (&str, u32)> = BTreeMap::new();
    for file in index.files {
        packages.entry(&file.package).or_insert((&file.rel_path, 1));
    }
    for (&package, &(file, line)) in &packages {
        let id = package_id(package);
        builder.node(Node {
            id: id.clone(),
            kind: NodeKind::Module,
            name: id.rsplit('.').next().unwrap_or(&id).to_owned(),
            file: Some(file.to_owned()),
            line: Some(line),
            detail: Detail::None,
        });
        // The nearest enclosing package that has types contains this one.
        let mut parent = package;
        while let Some((up, _)) = parent.rsplit_once('.') {
            if packages.contains_key(up) {
                builder.edge(up, &id, EdgeKind::Contains, 1);
                break;
            }
            parent = up;
        }
    }
    for info in index.types.values() {
        let file = &index.files[info.file];
        let path = Some(file.rel_path.clone());
        let parent = match info.decl.name.rsplit_once('.') {
            Some((outer, _)) => fqn(&file.package, outer),
            None => package_id(&file.package),
        };
        builder.node(Node {
            id: info.fqn.clone(),
            kind: NodeKind::Type,
            name: info
                .decl
                .name
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_owned(),
            file: path.clone(),
            line: Some(info.decl.line),
            detail: Detail::Type {
                type_kind: info.decl.kind.to_owned(),
            },
        });
        builder.edge(&parent, &info.fqn, EdgeKind::Contains, 1);
        for sup in &info.supers {
            builder.edge(&info.fqn, sup, EdgeKind::Implements, 1);
        }
        for m in &info.decl.methods {
            let id = format!("{}.{}", info.fqn, m.name);
            builder.node(Node {
                id: id.clone(),
                kind: NodeKind::Function,
                name: m.name.clone(),
                file: path.clone(),
                line: Some(m.line),
                detail: Detail::None,
            });
            builder.edge(&info.fqn, &id, EdgeKind::Contains, 1);
        }
    }
}

/// The module id of a package; the default package is `(default)`.
fn package_id(package: &str) -> String {
    if package.is_empty() {
        "(default)".to_owned()
    } else {
        package.to_owned()
    }
}

/// Resolves every method of one file.
fn file_facts(index: &Index<'_>, entities: &data::Entities, file: &JavaFile) -> Facts {
    let mut facts = Facts::default();
    for decl in &file.types {
        let scope = Scope {
            file,
            type_name: &decl.name,
        };
        let own = fqn(&file.package, &decl.name);
        if let Some(lombok) = decl
            .annotations
            .iter()
            .find(|a| LOMBOK.contains(&a.name.as_str()))
        {
            facts.diagnostics.push(Diagnostic::new(
                file.rel_path.clone(),
                Some(lombok.line),
                format!(
                    "`@{}` (Lombok) generates members that are not in the source; calls to them count as unresolved",
                    lombok.name
                ),
            ));
        }
        let repo_table = data::repository_table(index, entities, &own);
        // Field types are the type's own uses.
        for field in &decl.fields {
            for t in field.ty.all() {
                if let Some(id) = index.resolve_type(scope, &t.name)
                    && id != own
                {
                    facts.uses_type.push((own.clone(), id));
                }
            }
        }
        for method in &decl.methods {
            let id = format!("{own}.{}", method.name);
            method_facts(index, entities, scope, method, &id, &mut facts);
            if let Some(table) = &repo_table {
                repository_method(index, entities, scope, method, &id, table, &mut facts);
            }
            mybatis_annotations(index, entities, scope, method, &id, &mut facts);
        }
    }
    facts.counted = Counted {
        calls: counted(std::mem::take(&mut facts.calls)),
        uses_type: counted(std::mem::take(&mut facts.uses_type)),
        access: counted(std::mem::take(&mut facts.access)),
    };
    facts
}

fn method_facts(
    index: &Index<'_>,
    entities: &data::Entities,
    scope: Scope<'_>,
    method: &Method,
    id: &str,
    facts: &mut Facts,
) {
    let own = fqn(&scope.file.package, scope.type_name);
    let signature = method
        .params
        .iter()
        .map(|p| &p.1)
        .chain(method.ret.as_ref())
        .chain(&method.body_types)
        .chain(method.locals.iter().map(|l| &l.1));
    for t in signature {
        for part in t.all() {
            if let Some(ty) = index.resolve_type(scope, &part.name)
                && ty != own
            {
                facts.uses_type.push((id.to_owned(), ty));
            }
        }
    }
    for call in &method.calls {
        if matches!(&call.receiver, Receiver::Name(n) if n == "Class") && call.name == "forName" {
            facts.diagnostics.push(Diagnostic::new(
                scope.file.rel_path.clone(),
                Some(call.line),
                "reflection (`Class.forName`): the class it loads is not followed",
            ));
        }
        if let Some(created) = &call.created {
            if let Some(ty) = index.resolve_type(scope, &created.name) {
                facts.resolved += 1;
                let has_ctor = index
                    .types
                    .get(&ty)
                    .is_some_and(|i| i.decl.methods.iter().any(|m| m.is_constructor));
                if has_ctor {
                    facts.calls.push((id.to_owned(), format!("{ty}.new")));
                }
            }
            continue;
        }
        let r = index.resolve_call(scope, method, &call.receiver, &call.name);
        if r.targets.is_empty() {
            if let Some(repo) = &r.receiver_type
                && data::repository_table(index, entities, repo).is_some()
                && data::derived_write(&call.name).is_some()
            {
                // An inherited repository method (`save`, `findById`).
                facts.resolved += 1;
                facts.inherited.push((repo.clone(), call.name.clone()));
                facts
                    .calls
                    .push((id.to_owned(), format!("{repo}.{}", call.name)));
                continue;
            }
            if r.unresolved {
                facts.unresolved += 1;
            }
        } else {
            facts.resolved += 1;
            for t in r.targets {
                facts.calls.push((id.to_owned(), t));
            }
        }
        // SQL and JPQL passed to library calls.
        let receiver_name = r.receiver_ref.as_ref().map(|t| t.name.as_str());
        if r.receiver_type.is_none() && data::takes_sql(receiver_name, &call.name) {
            let text = call.args.iter().find_map(|a| match a {
                Value::Text(p) => index.text_of(scope, Some(method), p, 0),
                Value::Other => None,
            });
            if let Some(text) = text.filter(|t| data::looks_like_sql(t)) {
                let jpql = call.name == "createQuery";
                sql_facts(
                    &text,
                    jpql,
                    entities,
                    id,
                    &scope.file.rel_path,
                    call.line,
                    facts,
                );
            }
        }
        if r.receiver_type.is_none() {
            named_query_call(index, entities, scope, method, call, id, facts);
        }
        // EntityManager / Hibernate Session writes and reads of an entity.
        if r.receiver_type.is_none()
            && receiver_name.is_some_and(|n| n.contains("EntityManager") || n.ends_with("Session"))
        {
            let write = matches!(
                call.name.as_str(),
                "persist" | "merge" | "remove" | "save" | "saveOrUpdate" | "delete" | "update"
            );
            let read = matches!(call.name.as_str(), "find" | "getReference" | "get" | "load");
            if write || read {
                for table in entity_args(index, entities, scope, method, &call.args) {
                    facts.access.push((id.to_owned(), table, write));
                }
            }
        }
    }
}

/// `em.createNamedQuery("Owner.findByLastName")`, Hibernate's
/// `session.getNamedQuery(..)`: the named query's tables.
fn named_query_call(
    index: &Index<'_>,
    entities: &data::Entities,
    scope: Scope<'_>,
    method: &Method,
    call: &model::Call,
    id: &str,
    facts: &mut Facts,
) {
    if !matches!(call.name.as_str(), "createNamedQuery" | "getNamedQuery") {
        return;
    }
    let Some(name) = call.args.first().and_then(|a| match a {
        Value::Text(p) => index.text_of(scope, Some(method), p, 0),
        Value::Other => None,
    }) else {
        return;
    };
    match entities.named_queries.get(&name) {
        Some(Some(access)) => push_access(facts, id, access),
        Some(None) => {}
        None => facts.diagnostics.push(Diagnostic::new(
            scope.file.rel_path.clone(),
            Some(call.line),
            format!("named query `{name}` is declared nowhere the analyzer reads; its tables are unknown"),
        )),
    }
}

/// The entity tables that call arguments name: `Owner.class`, or a
/// variable of an entity type.
fn entity_args(
    index: &Index<'_>,
    entities: &data::Entities,
    scope: Scope<'_>,
    method: &Method,
    args: &[Value],
) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        let Value::Text(pieces) = a else { continue };
        let [model::Piece::Name(name)] = pieces.as_slice() else {
            continue;
        };
        let ty = if let Some(class) = name.strip_suffix(".class") {
            index.resolve_type(scope, class)
        } else {
            method
                .locals
                .iter()
                .map(|(n, t)| (n, t))
                .chain(method.params.iter().map(|p| (&p.0, &p.1)))
                .find(|(n, _)| *n == name)
                .and_then(|(_, t)| index.resolve_type(scope, &t.name))
        };
        if let Some(table) = ty.and_then(|t| entities.table_of.get(&t)) {
            out.push(table.clone());
        }
    }
    out
}

fn sql_facts(
    text: &str,
    jpql: bool,
    entities: &data::Entities,
    id: &str,
    file: &str,
    line: u32,
    facts: &mut Facts,
) {
    match data::access_of(text, jpql, entities) {
        Ok(access) => push_access(facts, id, &access),
        Err(e) => facts.diagnostics.push(Diagnostic::new(
            file,
            Some(line),
            format!(
                "{} does not parse ({e}); skipped",
                if jpql { "JPQL" } else { "SQL" }
            ),
        )),
    }
}

/// Each statement of `access` as one read or write of `id`.
fn push_access(facts: &mut Facts, id: &str, access: &Access) {
    for (write, found) in [(false, &access.reads), (true, &access.writes)] {
        for (t, n) in found {
            for _ in 0..*n {
                facts.access.push((id.to_owned(), t.clone(), write));
            }
        }
    }
}

/// A method declared in a Spring Data repository: its `@Query`, else the
/// named query `Entity.method`, else what its name derives.
fn repository_method(
    index: &Index<'_>,
    entities: &data::Entities,
    scope: Scope<'_>,
    method: &Method,
    id: &str,
    table: &str,
    facts: &mut Facts,
) {
    if let Some(q) = method.annotations.iter().find(|a| a.name == "Query") {
        let native = q.arg("nativeQuery").iter().any(|v| matches!(v, Value::Text(p) if p.iter().any(|x| matches!(x, model::Piece::Name(n) if n == "true"))));
        let text = q.arg("value").iter().find_map(|v| match v {
            Value::Text(p) => index.text_of(scope, None, p, 0),
            Value::Other => None,
        });
        if let Some(text) = text {
            sql_facts(
                &text,
                !native,
                entities,
                id,
                &scope.file.rel_path,
                q.line,
                facts,
            );
            return;
        }
    }
    if method.is_constructor
        || method.annotations.iter().any(|a| {
            a.name == "Select" || a.name == "Insert" || a.name == "Update" || a.name == "Delete"
        })
    {
        return;
    }
    // A named query `Entity.method` is the method's query, as in Spring Data.
    let own = fqn(&scope.file.package, scope.type_name);
    if let Some(named) = data::repository_entity(index, entities, &own)
        .and_then(|e| entities.name_of.get(&e))
        .and_then(|name| {
            entities
                .named_queries
                .get(&format!("{name}.{}", method.name))
        })
        .and_then(Option::as_ref)
    {
        push_access(facts, id, named);
        return;
    }
    if let Some(write) = data::derived_write(&method.name) {
        facts.access.push((id.to_owned(), table.to_owned(), write));
    }
}

/// `MyBatis` `@Select`, `@Insert`, `@Update` and `@Delete` on a method.
fn mybatis_annotations(
    index: &Index<'_>,
    entities: &data::Entities,
    scope: Scope<'_>,
    method: &Method,
    id: &str,
    facts: &mut Facts,
) {
    for ann in &method.annotations {
        if !matches!(ann.name.as_str(), "Select" | "Insert" | "Update" | "Delete") {
            continue;
        }
        // An array of strings is one statement written over several lines.
        let text: Vec<String> = ann
            .arg("value")
            .iter()
            .filter_map(|v| match v {
                Value::Text(p) => index.text_of(scope, None, p, 0),
                Value::Other => None,
            })
            .collect();
        let text = text.join(" ");
        let used = property_use(index, scope, method, &text);
        for target in used.calls {
            facts.calls.push((id.to_owned(), target));
        }
        for class in used.types {
            facts.uses_type.push((id.to_owned(), class));
        }
        if !text.trim().is_empty() {
            sql_facts(
                &strip_script(&text),
                false,
                entities,
                id,
                &scope.file.rel_path,
                ann.line,
                facts,
            );
        }
    }
}

/// What a `MyBatis` statement does with the properties of its classes:
/// a parameter property (`#{orderId}` of `insertOrder(Order order)`; with
/// several parameters `#{order.orderId}`, by name or `@Param`) is read
/// through its getter (`getOrderId`, `isOrderId`), and a selected column
/// (`LINENUM AS lineNumber`, matched case-insensitively) is written into
/// the result class (the return type, or its type argument) through its
/// setter. Each is a call of that accessor; without one, `MyBatis` uses
/// the field, a use of the class. Unanalyzed types (a `Map`, a `String`)
/// and accessors and fields the source does not declare (Lombok) are
/// left out.
#[derive(Debug, Default)]
struct PropertyUse {
    /// Accessor method ids called.
    calls: Vec<String>,
    /// Classes whose fields are used directly.
    types: Vec<String>,
}

fn property_use(index: &Index<'_>, scope: Scope<'_>, method: &Method, sql: &str) -> PropertyUse {
    let params: Vec<(String, String)> = method
        .params
        .iter()
        .filter_map(|(name, ty, annotations)| {
            let class = index.resolve_type(scope, &ty.name)?;
            let alias = annotations
                .iter()
                .find(|a| a.name == "Param")
                .and_then(|a| {
                    a.arg("value").iter().find_map(|v| match v {
                        Value::Text(p) => index.text_of(scope, None, p, 0),
                        Value::Other => None,
                    })
                });
            Some((alias.unwrap_or_else(|| name.clone()), class))
        })
        .collect();
    let single = (method.params.len() == 1).then(|| params.first()).flatten();
    let mut out = PropertyUse::default();
    let mut rest = sql;
    while let Some(start) = rest.find("#{") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('}') else { break };
        let expr = rest[..end].split(',').next().unwrap_or_default().trim();
        rest = &rest[end..];
        let mut path = expr.split('.');
        let first = path.next().unwrap_or_default();
        let (class, property) = match (single, path.next()) {
            (Some((_, class)), None) => (class, first),
            (_, Some(property)) => match params.iter().find(|(n, _)| n == first) {
                Some((_, class)) => (class, property),
                None => continue,
            },
            (None, None) => continue,
        };
        property_access(index, class, property, &["get", "is"], &mut out);
    }
    let result = method.ret.as_ref().and_then(|ret| {
        ret.all()
            .into_iter()
            .find_map(|t| index.resolve_type(scope, &t.name))
    });
    if let Some(class) = result {
        for column in selected_columns(sql) {
            property_access(index, &class, column, &["set"], &mut out);
        }
    }
    out
}

/// The accessor (`prefixes` + the capitalised property) of `class` that
/// `MyBatis` calls, else its field of that name, matched case-insensitively.
fn property_access(
    index: &Index<'_>,
    class: &str,
    property: &str,
    prefixes: &[&str],
    out: &mut PropertyUse,
) {
    if property.is_empty() {
        return;
    }
    for t in index.ancestry(class) {
        let Some(info) = index.types.get(&t) else {
            continue;
        };
        let accessor = info.decl.methods.iter().find(|m| {
            prefixes.iter().any(|p| {
                m.name.len() == p.len() + property.len()
                    && m.name.starts_with(p)
                    && m.name[p.len()..].eq_ignore_ascii_case(property)
            })
        });
        if let Some(m) = accessor {
            out.calls.push(format!("{t}.{}", m.name));
            return;
        }
        if info
            .decl
            .fields
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(property))
        {
            out.types.push(t);
            return;
        }
    }
}

/// The names a `SELECT`'s columns are mapped by: each item's alias, else
/// its last name (`ORDERS.ORDERID` → `ORDERID`); nothing for other statements.
fn selected_columns(sql: &str) -> Vec<&str> {
    let trimmed = sql.trim_start();
    if !trimmed
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("select"))
    {
        return Vec::new();
    }
    let body = &trimmed[6..];
    let upper = body.to_ascii_uppercase();
    let end = upper
        .match_indices("FROM")
        .map(|(i, _)| i)
        .find(|&i| {
            let space = |b: Option<&u8>| b.is_some_and(u8::is_ascii_whitespace);
            space(upper.as_bytes().get(i.wrapping_sub(1))) && space(upper.as_bytes().get(i + 4))
        })
        .unwrap_or(body.len());
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = &body.as_bytes()[..end];
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                out.extend(column_name(&body[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.extend(column_name(&body[start..end]));
    out
}

/// One select item's mapped name: its alias, else its last name.
fn column_name(item: &str) -> Option<&str> {
    let last = item.split_whitespace().last()?;
    let name = last.rsplit('.').next().unwrap_or(last);
    let name = name.trim_matches(|c: char| c == '"' || c == '`');
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
}

/// `MyBatis` `<script>` annotations hold XML; their text is the SQL.
fn strip_script(text: &str) -> String {
    if text.trim_start().starts_with("<script>") {
        match xml::parse(text) {
            Ok(el) => el.deep_text(),
            Err(_) => text.to_owned(),
        }
    } else {
        text.to_owned()
    }
}
