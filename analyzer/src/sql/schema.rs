//! The schema left by applying `.sql` files' DDL in order.

use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, CreateTable, CreateView, Expr,
    ForeignKeyConstraint, Ident, ObjectType, PrimaryKeyConstraint, RenameTableNameKind, SelectItem,
    SetExpr, Statement, TableConstraint,
};

use super::parse::{ident_name, parse_lenient, table_name};
use super::split::{Unterminated, split_statements};
use super::{Dialect, ForeignKey, TableDef};
use crate::source::Diagnostic;

/// A table being built, with the constraint names DDL may refer to later.
#[derive(Debug)]
struct TableState {
    def: TableDef,
    pk_name: Option<String>,
    /// One name per entry of `def.foreign_keys`.
    fk_names: Vec<String>,
}

#[derive(Debug, Default)]
struct Schema {
    tables: Vec<TableState>,
}

/// A short, one-line excerpt of a statement for messages.
#[must_use]
pub fn excerpt(sql: &str) -> String {
    let first = sql.lines().next().unwrap_or_default().trim();
    let mut out: String = first.chars().take(60).collect();
    if out.len() < first.len() || sql.lines().nth(1).is_some() {
        out.push_str(" ..");
    }
    out
}

/// Builds the schema from `(path, text)` pairs applied in order.
#[must_use]
pub fn build(files: &[(String, String)], dialect: Dialect) -> (Vec<TableDef>, Vec<Diagnostic>) {
    let mut schema = Schema::default();
    let mut diags = Vec::new();
    for (path, text) in files {
        for raw in split_statements(text, dialect) {
            if let Some(open) = raw.unterminated {
                let (what, line) = match open {
                    Unterminated::DollarQuote { line } => ("dollar-quoted string", line),
                    Unterminated::String { line } => ("string literal", line),
                    Unterminated::Identifier { line } => ("quoted identifier", line),
                    Unterminated::Comment { line } => ("block comment", line),
                };
                diags.push(Diagnostic::new(
                    path.clone(),
                    Some(raw.line),
                    format!(
                        "unterminated {what} (opened on line {line}): the statement `{}` runs to the end of the file and is skipped",
                        excerpt(&raw.text)
                    ),
                ));
                continue;
            }
            match parse_lenient(&raw.text, dialect) {
                Ok(stmts) => {
                    for stmt in &stmts {
                        schema.apply(stmt, path, raw.line);
                    }
                }
                Err(e) => diags.push(Diagnostic::new(
                    path.clone(),
                    Some(raw.line),
                    format!(
                        "SQL statement not parsed, skipped: `{}`: {e}",
                        excerpt(&raw.text)
                    ),
                )),
            }
        }
    }
    (schema.finish(), diags)
}

fn column_list(idents: &[Ident]) -> Vec<String> {
    idents.iter().map(ident_name).collect()
}

fn index_columns(pk: &PrimaryKeyConstraint) -> Vec<String> {
    pk.columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(ident) => ident_name(ident),
            other => other.to_string().to_lowercase(),
        })
        .collect()
}

impl Schema {
    fn find(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.def.name == name)
    }

    fn apply(&mut self, stmt: &Statement, file: &str, line: u32) {
        match stmt {
            Statement::CreateTable(ct) => self.create_table(ct, file, line),
            Statement::CreateView(cv) => self.create_view(cv, file, line),
            Statement::AlterTable(at) => {
                let Some(name) = table_name(&at.name) else {
                    return;
                };
                if self.find(&name).is_none() {
                    tracing::debug!(file, line, table = %name, "ALTER TABLE of a table not created by the DDL");
                    return;
                }
                for op in &at.operations {
                    self.alter(&name, op);
                }
            }
            Statement::RenameTable(renames) => {
                for r in renames {
                    if let (Some(old), Some(new)) =
                        (table_name(&r.old_name), table_name(&r.new_name))
                    {
                        self.rename_table(&old, &new);
                    }
                }
            }
            Statement::Drop {
                object_type: ObjectType::Table | ObjectType::View | ObjectType::MaterializedView,
                names,
                ..
            } => {
                for n in names {
                    if let Some(n) = table_name(n) {
                        self.drop_table(&n);
                    }
                }
            }
            _ => {}
        }
    }

    fn create_table(&mut self, ct: &CreateTable, file: &str, line: u32) {
        let Some(name) = table_name(&ct.name) else {
            return;
        };
        if let Some(i) = self.find(&name) {
            if ct.if_not_exists {
                return;
            }
            self.tables.remove(i);
        }
        let mut state = TableState {
            def: TableDef {
                name: name.clone(),
                defined_at: Some((file.to_owned(), line)),
                ..TableDef::default()
            },
            pk_name: None,
            fk_names: Vec::new(),
        };
        for col in &ct.columns {
            add_column(&mut state, col);
        }
        for c in &ct.constraints {
            add_constraint(&mut state, c);
        }
        self.tables.push(state);
    }

    fn create_view(&mut self, cv: &CreateView, file: &str, line: u32) {
        let Some(name) = table_name(&cv.name) else {
            return;
        };
        if let Some(i) = self.find(&name) {
            if cv.if_not_exists {
                return;
            }
            self.tables.remove(i);
        }
        let columns = if cv.columns.is_empty() {
            view_columns(&cv.query.body)
        } else {
            cv.columns.iter().map(|c| ident_name(&c.name)).collect()
        };
        self.tables.push(TableState {
            def: TableDef {
                name,
                columns,
                view: true,
                defined_at: Some((file.to_owned(), line)),
                ..TableDef::default()
            },
            pk_name: None,
            fk_names: Vec::new(),
        });
    }

    fn alter(&mut self, table: &str, op: &AlterTableOperation) {
        match op {
            AlterTableOperation::RenameTable { table_name: kind } => {
                let (RenameTableNameKind::As(new) | RenameTableNameKind::To(new)) = kind;
                if let Some(mut new) = table_name(new) {
                    // An unqualified new name stays in the old schema.
                    if !new.contains('.')
                        && let Some((schema, _)) = table.rsplit_once('.')
                    {
                        new = format!("{schema}.{new}");
                    }
                    self.rename_table(table, &new);
                }
                return;
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                self.rename_column(
                    table,
                    &ident_name(old_column_name),
                    &ident_name(new_column_name),
                );
                return;
            }
            AlterTableOperation::ChangeColumn {
                old_name, new_name, ..
            } => {
                self.rename_column(table, &ident_name(old_name), &ident_name(new_name));
                return;
            }
            _ => {}
        }
        let Some(i) = self.find(table) else { return };
        let Some(state) = self.tables.get_mut(i) else {
            return;
        };
        match op {
            AlterTableOperation::AddColumn { column_def, .. }
                if !state.def.columns.contains(&ident_name(&column_def.name)) =>
            {
                add_column(state, column_def);
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                for c in column_names.iter().map(ident_name) {
                    state.def.columns.retain(|x| *x != c);
                    if state.def.primary_key.contains(&c) {
                        state.def.primary_key.clear();
                        state.pk_name = None;
                    }
                    let keep: Vec<bool> = state
                        .def
                        .foreign_keys
                        .iter()
                        .map(|fk| !fk.columns.contains(&c))
                        .collect();
                    retain_fks(state, &keep);
                }
            }
            AlterTableOperation::AddConstraint { constraint, .. } => {
                add_constraint(state, constraint);
            }
            AlterTableOperation::DropConstraint { name, .. }
            | AlterTableOperation::DropForeignKey { name, .. } => {
                let name = ident_name(name);
                if state.pk_name.as_deref() == Some(name.as_str()) {
                    state.def.primary_key.clear();
                    state.pk_name = None;
                }
                let keep: Vec<bool> = state.fk_names.iter().map(|n| *n != name).collect();
                retain_fks(state, &keep);
            }
            AlterTableOperation::DropPrimaryKey { .. } => {
                state.def.primary_key.clear();
                state.pk_name = None;
            }
            _ => {}
        }
    }

    fn rename_column(&mut self, table: &str, old: &str, new: &str) {
        for state in &mut self.tables {
            if state.def.name == table {
                for c in state
                    .def
                    .columns
                    .iter_mut()
                    .chain(state.def.primary_key.iter_mut())
                    .chain(
                        state
                            .def
                            .foreign_keys
                            .iter_mut()
                            .flat_map(|fk| fk.columns.iter_mut()),
                    )
                {
                    if c == old {
                        new.clone_into(c);
                    }
                }
            }
            for fk in &mut state.def.foreign_keys {
                if fk.references == table {
                    for c in &mut fk.referenced_columns {
                        if c == old {
                            new.clone_into(c);
                        }
                    }
                }
            }
        }
    }

    fn rename_table(&mut self, old: &str, new: &str) {
        if old == new || self.find(old).is_none() || self.find(new).is_some() {
            return;
        }
        for state in &mut self.tables {
            if state.def.name == old {
                new.clone_into(&mut state.def.name);
            }
            for fk in &mut state.def.foreign_keys {
                if fk.references == old {
                    new.clone_into(&mut fk.references);
                }
            }
        }
    }

    fn drop_table(&mut self, name: &str) {
        self.tables.retain(|t| t.def.name != name);
        for state in &mut self.tables {
            let keep: Vec<bool> = state
                .def
                .foreign_keys
                .iter()
                .map(|fk| fk.references != name)
                .collect();
            retain_fks(state, &keep);
        }
    }

    fn finish(self) -> Vec<TableDef> {
        let pks: Vec<(String, Vec<String>)> = self
            .tables
            .iter()
            .map(|t| (t.def.name.clone(), t.def.primary_key.clone()))
            .collect();
        self.tables
            .into_iter()
            .map(|mut t| {
                for fk in &mut t.def.foreign_keys {
                    if fk.referenced_columns.is_empty()
                        && let Some((_, pk)) = pks.iter().find(|(n, _)| *n == fk.references)
                    {
                        fk.referenced_columns.clone_from(pk);
                    }
                }
                t.def
            })
            .collect()
    }
}

fn retain_fks(state: &mut TableState, keep: &[bool]) {
    let mut i = 0;
    state.def.foreign_keys.retain(|_| {
        let k = keep.get(i).copied().unwrap_or(true);
        i += 1;
        k
    });
    let mut i = 0;
    state.fk_names.retain(|_| {
        let k = keep.get(i).copied().unwrap_or(true);
        i += 1;
        k
    });
}

fn add_column(state: &mut TableState, col: &ColumnDef) {
    let name = ident_name(&col.name);
    state.def.columns.push(name.clone());
    for opt in &col.options {
        let outer = opt.name.as_ref().map(ident_name);
        match &opt.option {
            ColumnOption::PrimaryKey(pk) => {
                state.def.primary_key = vec![name.clone()];
                state.pk_name = outer
                    .or_else(|| pk.name.as_ref().map(ident_name))
                    .or_else(|| Some(format!("{}_pkey", state.def.name)));
            }
            ColumnOption::ForeignKey(fk) => {
                let fk_name = outer
                    .or_else(|| fk.name.as_ref().map(ident_name))
                    .unwrap_or_else(|| format!("{}_{name}_fkey", state.def.name));
                push_fk(state, vec![name.clone()], fk, fk_name);
            }
            _ => {}
        }
    }
}

fn push_fk(
    state: &mut TableState,
    columns: Vec<String>,
    fk: &ForeignKeyConstraint,
    fk_name: String,
) {
    let Some(references) = table_name(&fk.foreign_table) else {
        return;
    };
    state.def.foreign_keys.push(ForeignKey {
        columns,
        references,
        referenced_columns: column_list(&fk.referred_columns),
    });
    state.fk_names.push(fk_name);
}

fn add_constraint(state: &mut TableState, c: &TableConstraint) {
    match c {
        TableConstraint::PrimaryKey(pk) => {
            state.def.primary_key = index_columns(pk);
            state.pk_name = Some(
                pk.name
                    .as_ref()
                    .map_or_else(|| format!("{}_pkey", state.def.name), ident_name),
            );
        }
        TableConstraint::ForeignKey(fk) => {
            let columns = column_list(&fk.columns);
            let name = fk.name.as_ref().map_or_else(
                || {
                    format!(
                        "{}_{}_fkey",
                        state.def.name,
                        columns.first().map_or("", String::as_str)
                    )
                },
                ident_name,
            );
            push_fk(state, columns, fk, name);
        }
        _ => {}
    }
}

/// Best-effort column names of a view from its SELECT list.
fn view_columns(body: &SetExpr) -> Vec<String> {
    let select = match body {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { left, .. } => return view_columns(left),
        SetExpr::Query(q) => return view_columns(&q.body),
        _ => return Vec::new(),
    };
    select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(ident_name(alias)),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(ident_name(i)),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(ident_name)
            }
            _ => None,
        })
        .collect()
}
