//! Parsing SQL text with a dialect (and fallbacks), and which tables a
//! parsed statement reads and writes.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use sqlparser::ast::{
    CopySource, Delete, FromTable, Ident, Insert, Merge, ObjectName, ObjectNamePart, Query,
    Statement, TableFactor, TableObject, TableWithJoins, Update, Visit, Visitor,
};
use sqlparser::dialect::{GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::{Access, Dialect};

/// The placeholder put where a `format!` hole was: an identifier that can
/// stand for an expression, and a table name that is never reported.
pub const HOLE: &str = "__strangler_hole__";

/// Parses `sql` with exactly one dialect.
///
/// # Errors
/// sqlparser's message when the text is not valid SQL in that dialect.
pub fn parse_with(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, String> {
    let result = match dialect {
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        Dialect::MySql => Parser::parse_sql(&MySqlDialect {}, sql),
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::Generic => Parser::parse_sql(&GenericDialect {}, sql),
    };
    result.map_err(|e| e.to_string())
}

/// Parses `sql` with `dialect`, then with the generic dialect, then with the
/// other dialects (`SQLite` first when the text has `?` placeholders), and
/// returns the first success.
///
/// # Errors
/// The error of the first (chosen) dialect when none accepts the text.
pub fn parse_lenient(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, String> {
    let first = match parse_with(sql, dialect) {
        Ok(stmts) => return Ok(stmts),
        Err(e) => e,
    };
    let mut order = vec![Dialect::Generic];
    if sql.contains('?') {
        order.push(Dialect::Sqlite);
    }
    order.extend([Dialect::Postgres, Dialect::Sqlite, Dialect::MySql]);
    let mut tried = vec![dialect];
    for d in order {
        if tried.contains(&d) {
            continue;
        }
        tried.push(d);
        if let Ok(stmts) = parse_with(sql, d) {
            return Ok(stmts);
        }
    }
    Err(first)
}

/// Normalises an identifier: unquoted ones are lowercased, quoted ones keep
/// their case.
#[must_use]
pub fn ident_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// Normalises a table name: identifiers as [`ident_name`], joined by `.`,
/// with a leading `public.` schema dropped. `None` for names that are not
/// plain identifiers.
#[must_use]
pub fn table_name(name: &ObjectName) -> Option<String> {
    let mut parts: Vec<String> = Vec::with_capacity(name.0.len());
    for part in &name.0 {
        match part {
            ObjectNamePart::Identifier(ident) => parts.push(ident_name(ident)),
            ObjectNamePart::Function(_) => return None,
        }
    }
    if parts.len() == 2 && parts.first().is_some_and(|s| s == "public") {
        parts.remove(0);
    }
    if parts.is_empty() || parts.iter().any(String::is_empty) {
        return None;
    }
    Some(parts.join("."))
}

/// Whether a table name stands for a system catalog, a dummy table or a
/// `format!` hole rather than an application table.
fn is_ignored_table(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains(HOLE)
        || lower.starts_with("pg_catalog.")
        || lower.starts_with("information_schema.")
        || lower.starts_with("pg_")
        || lower.starts_with("sqlite_")
        || lower == "dual"
}

/// Which tables one statement reads and writes (each counted once).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatementAccess {
    /// Tables read.
    pub reads: BTreeSet<String>,
    /// Tables written.
    pub writes: BTreeSet<String>,
}

impl StatementAccess {
    /// Adds this statement to a function's tally (one statement per table).
    pub fn add_to(&self, access: &mut Access) {
        for t in &self.reads {
            let n = access.reads.entry(t.clone()).or_default();
            *n = n.saturating_add(1);
        }
        for t in &self.writes {
            let n = access.writes.entry(t.clone()).or_default();
            *n = n.saturating_add(1);
        }
    }

    /// Whether the statement touches no table.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty()
    }

    fn read(&mut self, name: Option<String>) {
        if let Some(n) = name.filter(|n| !is_ignored_table(n)) {
            self.reads.insert(n);
        }
    }

    fn write(&mut self, name: Option<String>) {
        if let Some(n) = name.filter(|n| !is_ignored_table(n)) {
            self.writes.insert(n);
        }
    }
}

/// The tables a statement reads and writes.
///
/// INSERT, UPDATE, DELETE, MERGE, TRUNCATE and `COPY t FROM` write their
/// target (only the target: a mention of it in WHERE or ON CONFLICT is not a
/// read); every other table in them, and every table of a query (FROM,
/// JOIN, subqueries, CTE bodies, `COPY (..) TO`, `COPY t TO`) is read. CTE
/// names are scoped and never tables. DDL and other statements touch no
/// table.
#[must_use]
pub fn statement_access(stmt: &Statement) -> StatementAccess {
    let mut out = StatementAccess::default();
    match stmt {
        Statement::Query(_)
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_) => {
            let mut v = RelationVisitor::default();
            let _ = stmt.visit(&mut v);
            for name in v.direct_writes {
                out.write(Some(name));
            }
            out.reads.extend(v.access.reads);
            out.writes.extend(v.access.writes);
        }
        Statement::Copy { source, to, .. } => match source {
            CopySource::Table {
                table_name: name, ..
            } => {
                if *to {
                    out.read(table_name(name));
                } else {
                    out.write(table_name(name));
                }
            }
            CopySource::Query(query) => {
                let mut v = RelationVisitor::default();
                let _ = query.visit(&mut v);
                out.reads.extend(v.access.reads);
                // A query source only reads, whatever the direction.
                out.reads.extend(v.access.writes);
            }
        },
        Statement::Truncate(t) => {
            for target in &t.table_names {
                out.write(table_name(&target.name));
            }
        }
        _ => {}
    }
    out
}

/// One `WITH` scope: its CTE names and how many of them are visible (a
/// non-recursive CTE body sees only the CTEs before it).
#[derive(Debug)]
struct Scope {
    names: Vec<String>,
    visible: usize,
}

#[derive(Debug, Default)]
struct RelationVisitor {
    access: StatementAccess,
    /// Write targets, by the address of their `ObjectName` in the AST.
    targets: Vec<*const ObjectName>,
    /// Written tables named only indirectly (`MySQL` multi-table DELETE).
    direct_writes: Vec<String>,
    /// Table-valued function names, which are not tables.
    functions: Vec<*const ObjectName>,
    scopes: Vec<Scope>,
    /// CTE body query address → (scope index, position of the CTE).
    cte_bodies: HashMap<*const Query, (usize, usize)>,
    /// Body queries entered: (query address, scope index, visible before).
    entered: Vec<(*const Query, usize, usize)>,
}

fn factor_name(factor: &TableFactor) -> Option<&ObjectName> {
    match factor {
        TableFactor::Table {
            name, args: None, ..
        } => Some(name),
        _ => None,
    }
}

impl RelationVisitor {
    fn is_cte(&self, name: &ObjectName) -> bool {
        if name.0.len() != 1 {
            return false;
        }
        let Some(n) = table_name(name) else {
            return false;
        };
        self.scopes
            .iter()
            .any(|s| s.names.iter().take(s.visible).any(|c| *c == n))
    }

    fn add_target(&mut self, name: &ObjectName) {
        self.targets.push(std::ptr::from_ref(name));
    }

    fn insert_targets(&mut self, insert: &Insert) {
        if let TableObject::TableName(name) = &insert.table {
            self.add_target(name);
        }
    }

    fn update_targets(&mut self, update: &Update) {
        if let Some(name) = factor_name(&update.table.relation) {
            self.add_target(name);
        }
    }

    fn merge_targets(&mut self, merge: &Merge) {
        if let Some(name) = factor_name(&merge.table) {
            self.add_target(name);
        }
    }

    fn delete_targets(&mut self, delete: &Delete) {
        let from: &[TableWithJoins] = match &delete.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        if delete.tables.is_empty() {
            for twj in from {
                if let Some(name) = factor_name(&twj.relation) {
                    self.add_target(name);
                }
            }
            return;
        }
        // `DELETE t1, a FROM t1 JOIN t2 AS a ..`: targets named by table or alias.
        let using = delete.using.as_deref().unwrap_or_default();
        for wanted in &delete.tables {
            let wanted_name = table_name(wanted);
            let mut found = false;
            for twj in from.iter().chain(using) {
                for factor in
                    std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation))
                {
                    if let TableFactor::Table {
                        name,
                        alias,
                        args: None,
                        ..
                    } = factor
                    {
                        let by_alias = alias.as_ref().map(|a| ident_name(&a.name));
                        if wanted_name.is_some()
                            && (by_alias == wanted_name || table_name(name) == wanted_name)
                        {
                            self.add_target(name);
                            found = true;
                        }
                    }
                }
            }
            if !found && let Some(n) = wanted_name {
                self.direct_writes.push(n);
            }
        }
    }
}

impl Visitor for RelationVisitor {
    type Break = ();

    fn pre_visit_statement(&mut self, stmt: &Statement) -> ControlFlow<()> {
        match stmt {
            Statement::Insert(i) => self.insert_targets(i),
            Statement::Update(u) => self.update_targets(u),
            Statement::Delete(d) => self.delete_targets(d),
            Statement::Merge(m) => self.merge_targets(m),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let ptr = std::ptr::from_ref(query);
        if let Some(&(scope, position)) = self.cte_bodies.get(&ptr)
            && let Some(s) = self.scopes.get_mut(scope)
        {
            let before = s.visible;
            s.visible = position;
            self.entered.push((ptr, scope, before));
        }
        let mut names = Vec::new();
        if let Some(with) = &query.with {
            let index = self.scopes.len();
            for (position, cte) in with.cte_tables.iter().enumerate() {
                names.push(ident_name(&cte.alias.name));
                let visible = if with.recursive {
                    with.cte_tables.len()
                } else {
                    position
                };
                self.cte_bodies
                    .insert(std::ptr::from_ref(cte.query.as_ref()), (index, visible));
            }
        }
        let visible = names.len();
        self.scopes.push(Scope { names, visible });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.scopes.pop();
        let ptr = std::ptr::from_ref(query);
        if self.entered.last().is_some_and(|(p, _, _)| *p == ptr)
            && let Some((_, scope, before)) = self.entered.pop()
            && let Some(s) = self.scopes.get_mut(scope)
        {
            s.visible = before;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            self.functions.push(std::ptr::from_ref(name));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let ptr = std::ptr::from_ref(relation);
        if self.functions.contains(&ptr) {
            return ControlFlow::Continue(());
        }
        if self.targets.contains(&ptr) {
            self.access.write(table_name(relation));
        } else if !self.is_cte(relation) {
            self.access.read(table_name(relation));
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(sql: &str) -> (Vec<String>, Vec<String>) {
        let stmts = parse_lenient(sql, Dialect::Postgres).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut a = StatementAccess::default();
        for s in &stmts {
            let x = statement_access(s);
            a.reads.extend(x.reads);
            a.writes.extend(x.writes);
        }
        (
            a.reads.into_iter().collect(),
            a.writes.into_iter().collect(),
        )
    }

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn selects_and_ctes() {
        assert_eq!(
            acc("SELECT * FROM a JOIN b ON a.x = b.x WHERE a.y IN (SELECT y FROM c)"),
            (v(&["a", "b", "c"]), v(&[]))
        );
        assert_eq!(
            acc("WITH r AS (SELECT * FROM orders) SELECT * FROM r JOIN users u ON true"),
            (v(&["orders", "users"]), v(&[]))
        );
        // A non-recursive CTE body sees the real table of the same name.
        assert_eq!(
            acc("WITH orders AS (SELECT * FROM orders) SELECT * FROM orders"),
            (v(&["orders"]), v(&[]))
        );
        assert_eq!(
            acc(
                "WITH RECURSIVE t AS (SELECT 1 UNION ALL SELECT n FROM t JOIN edges ON true) SELECT * FROM t"
            ),
            (v(&["edges"]), v(&[]))
        );
        // Scoping: `r` is only a CTE inside its query.
        assert_eq!(
            acc("SELECT * FROM (WITH r AS (SELECT 1) SELECT * FROM r) x, r"),
            (v(&["r"]), v(&[]))
        );
    }

    #[test]
    fn writes_and_names() {
        assert_eq!(acc("INSERT INTO t SELECT * FROM t"), (v(&["t"]), v(&["t"])));
        assert_eq!(
            acc("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2 RETURNING a"),
            (v(&[]), v(&["t"]))
        );
        assert_eq!(
            acc("UPDATE orders o SET s = 1 FROM users u WHERE u.id = o.uid"),
            (v(&["users"]), v(&["orders"]))
        );
        assert_eq!(
            acc("DELETE FROM public.Users WHERE id IN (SELECT id FROM \"Bad\")"),
            (v(&["Bad"]), v(&["users"]))
        );
        assert_eq!(acc("COPY t (a) FROM STDIN"), (v(&[]), v(&["t"])));
        assert_eq!(acc("COPY billing.t TO STDOUT"), (v(&["billing.t"]), v(&[])));
        assert_eq!(acc("COPY (SELECT * FROM a) TO STDOUT"), (v(&["a"]), v(&[])));
        assert_eq!(
            acc("SELECT * FROM generate_series(1, 3), pg_catalog.pg_type, pg_class"),
            (v(&[]), v(&[]))
        );
        assert_eq!(
            acc("WITH d AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM d"),
            (v(&[]), v(&["a", "b"]))
        );
        assert_eq!(acc("TRUNCATE a, b"), (v(&[]), v(&["a", "b"])));
        assert_eq!(acc("CREATE TABLE x (id int)"), (v(&[]), v(&[])));
    }
}
