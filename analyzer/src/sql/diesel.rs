//! Diesel: `table!` / `joinable!` declarations, and the names code uses to
//! refer to those tables (`users::table`, `users::dsl::users`, a bare
//! `users` after `use ..::users::dsl::*`).

use std::collections::HashMap;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::{Item, UseTree};

use super::{ForeignKey, TableDef};
use crate::source::{Diagnostic, SourceFile, line_of};

/// Tables declared with `table!` in a file, with `joinable!` foreign keys.
#[must_use]
pub fn tables_in_file(file: &SourceFile) -> (Vec<TableDef>, Vec<Diagnostic>) {
    let mut tables: Vec<TableDef> = Vec::new();
    let mut joins: Vec<(String, String, String)> = Vec::new();
    let mut diags = Vec::new();
    let mut stack: Vec<&[Item]> = vec![&file.ast.items];
    while let Some(items) = stack.pop() {
        for item in items {
            match item {
                Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        stack.push(items);
                    }
                }
                Item::Macro(m) => {
                    let Some(last) = m.mac.path.segments.last() else {
                        continue;
                    };
                    let line = line_of(last.ident.span());
                    if last.ident == "table" {
                        match parse_table_macro(m.mac.tokens.clone()) {
                            Ok(mut t) => tables.append(&mut t),
                            Err(e) => diags.push(Diagnostic::new(
                                file.rel_path.clone(),
                                Some(line),
                                format!("cannot read Diesel table! declaration: {e}"),
                            )),
                        }
                    } else if last.ident == "joinable" {
                        match parse_joinable(m.mac.tokens.clone()) {
                            Some(j) => joins.push(j),
                            None => diags.push(Diagnostic::new(
                                file.rel_path.clone(),
                                Some(line),
                                "cannot read Diesel joinable! declaration (expected `child -> parent (fk)`)",
                            )),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for (child, parent, column) in joins {
        let parent_def = tables.iter().find(|t| rust_name(&t.name) == parent);
        let references = parent_def.map_or_else(|| parent.clone(), |t| t.name.clone());
        let referenced_columns =
            parent_def.map_or_else(|| vec!["id".to_owned()], |t| t.primary_key.clone());
        if let Some(child_def) = tables.iter_mut().find(|t| rust_name(&t.name) == child) {
            child_def.foreign_keys.push(ForeignKey {
                columns: vec![column],
                references,
                referenced_columns,
            });
        }
    }
    (tables, diags)
}

/// The Rust name of a Diesel table: its name without a schema.
#[must_use]
pub fn rust_name(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(_, t)| t)
}

fn punct_is(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// `sql_name = "x"` inside an attribute's brackets.
fn sql_name_attr(stream: &TokenStream) -> Option<String> {
    let toks: Vec<TokenTree> = stream.clone().into_iter().collect();
    match toks.as_slice() {
        [
            TokenTree::Ident(i),
            TokenTree::Punct(p),
            TokenTree::Literal(l),
        ] if i == "sql_name" && p.as_char() == '=' => {
            let lit: syn::LitStr =
                syn::parse2(TokenStream::from(TokenTree::Literal(l.clone()))).ok()?;
            Some(lit.value())
        }
        _ => None,
    }
}

/// Skips `#[..]` attributes at `i`, returning a `sql_name` among them.
fn skip_attrs(toks: &[TokenTree], i: &mut usize) -> Option<String> {
    let mut name = None;
    while punct_is(toks.get(*i), '#') {
        match toks.get(*i + 1) {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => {
                if let Some(n) = sql_name_attr(&g.stream()) {
                    name = Some(n);
                }
                *i += 2;
            }
            _ => break,
        }
    }
    name
}

fn parse_table_macro(tokens: TokenStream) -> Result<Vec<TableDef>, String> {
    let toks: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        // `use diesel::sql_types::*;` lines inside the macro.
        if matches!(toks.get(i), Some(TokenTree::Ident(id)) if id == "use") {
            while i < toks.len() && !punct_is(toks.get(i), ';') {
                i += 1;
            }
            i += 1;
            continue;
        }
        let sql_name = skip_attrs(&toks, &mut i);
        let Some(TokenTree::Ident(first)) = toks.get(i) else {
            return Err("expected a table name".to_owned());
        };
        let mut schema = None;
        let mut name = first.to_string();
        i += 1;
        if punct_is(toks.get(i), '.')
            && let Some(TokenTree::Ident(t)) = toks.get(i + 1)
        {
            schema = Some(name);
            name = t.to_string();
            i += 2;
        }
        let mut primary_key = vec!["id".to_owned()];
        if let Some(TokenTree::Group(g)) = toks.get(i)
            && g.delimiter() == Delimiter::Parenthesis
        {
            primary_key = g
                .stream()
                .into_iter()
                .filter_map(|t| match t {
                    TokenTree::Ident(id) => Some(strip_raw(&id.to_string())),
                    _ => None,
                })
                .collect();
            i += 1;
        }
        let Some(TokenTree::Group(body)) = toks.get(i) else {
            return Err(format!("expected `{{ columns }}` after table `{name}`"));
        };
        if body.delimiter() != Delimiter::Brace {
            return Err(format!("expected `{{ columns }}` after table `{name}`"));
        }
        i += 1;
        let (columns, renamed) = parse_columns(body.stream());
        // The key lists Rust column names; report SQL names.
        let primary_key = primary_key
            .into_iter()
            .map(|k| renamed.get(&k).cloned().unwrap_or(k))
            .collect();
        let table = strip_raw(&sql_name.unwrap_or(name));
        let full = match schema.filter(|s| s != "public") {
            Some(s) => format!("{s}.{table}"),
            None => table,
        };
        out.push(TableDef {
            name: full,
            columns,
            primary_key,
            ..TableDef::default()
        });
    }
    Ok(out)
}

fn strip_raw(s: &str) -> String {
    s.strip_prefix("r#").unwrap_or(s).to_owned()
}

/// Column SQL names in order, and Rust name → SQL name for renamed ones.
fn parse_columns(stream: TokenStream) -> (Vec<String>, HashMap<String, String>) {
    let toks: Vec<TokenTree> = stream.into_iter().collect();
    let mut columns = Vec::new();
    let mut renamed = HashMap::new();
    let mut i = 0;
    while i < toks.len() {
        let sql_name = skip_attrs(&toks, &mut i);
        let Some(TokenTree::Ident(name)) = toks.get(i) else {
            i += 1;
            continue;
        };
        let rust = strip_raw(&name.to_string());
        let sql = sql_name.unwrap_or_else(|| rust.clone());
        if sql != rust {
            renamed.insert(rust, sql.clone());
        }
        columns.push(sql);
        // Skip `-> Type<..>` up to the next top-level comma.
        let mut angle = 0i32;
        i += 1;
        while let Some(t) = toks.get(i) {
            i += 1;
            if let TokenTree::Punct(p) = t {
                match p.as_char() {
                    '<' => angle += 1,
                    '>' if !punct_is(toks.get(i.wrapping_sub(2)), '-') => angle -= 1,
                    ',' if angle <= 0 => break,
                    _ => {}
                }
            }
        }
    }
    (columns, renamed)
}

fn parse_joinable(tokens: TokenStream) -> Option<(String, String, String)> {
    let toks: Vec<TokenTree> = tokens.into_iter().collect();
    match toks.as_slice() {
        [
            TokenTree::Ident(child),
            TokenTree::Punct(a),
            TokenTree::Punct(b),
            TokenTree::Ident(parent),
            TokenTree::Group(g),
            ..,
        ] if a.as_char() == '-'
            && b.as_char() == '>'
            && g.delimiter() == Delimiter::Parenthesis =>
        {
            let fk = g.stream().into_iter().find_map(|t| match t {
                TokenTree::Ident(id) => Some(strip_raw(&id.to_string())),
                _ => None,
            })?;
            Some((
                strip_raw(&child.to_string()),
                strip_raw(&parent.to_string()),
                fk,
            ))
        }
        _ => None,
    }
}

/// What code may call the Diesel tables: Rust name → SQL name, and which
/// Rust names are usable bare (imported from `X::dsl`).
#[derive(Debug, Default)]
pub struct DieselNames {
    /// Rust table name → table name as reported.
    pub tables: HashMap<String, String>,
    /// Bare identifier → Rust table name (`use ..::posts::dsl::*` gives
    /// `posts` → `posts`; `use ..::posts::dsl::posts as p` gives `p`).
    pub bare: HashMap<String, String>,
}

impl DieselNames {
    /// The names for a file, from the known tables and its `use` items.
    #[must_use]
    pub fn new(tables: &[TableDef], file: &SourceFile) -> Self {
        let mut names = DieselNames {
            tables: tables
                .iter()
                .map(|t| (rust_name(&t.name).to_owned(), t.name.clone()))
                .collect(),
            bare: HashMap::new(),
        };
        if names.tables.is_empty() {
            return names;
        }
        let mut stack: Vec<&[Item]> = vec![&file.ast.items];
        while let Some(items) = stack.pop() {
            for item in items {
                match item {
                    Item::Use(u) => names.add_use(&u.tree),
                    Item::Mod(m) => {
                        if let Some((_, items)) = &m.content {
                            stack.push(items);
                        }
                    }
                    _ => {}
                }
            }
        }
        names
    }

    /// Records the bare table names a `use` tree brings into scope.
    pub fn add_use(&mut self, tree: &UseTree) {
        // (tree, path so far)
        let mut stack: Vec<(&UseTree, Vec<String>)> = vec![(tree, Vec::new())];
        while let Some((tree, path)) = stack.pop() {
            if path.len() > 64 {
                continue;
            }
            match tree {
                UseTree::Path(p) => {
                    let mut next = path;
                    next.push(p.ident.to_string());
                    stack.push((&p.tree, next));
                }
                UseTree::Group(g) => {
                    for t in &g.items {
                        stack.push((t, path.clone()));
                    }
                }
                UseTree::Glob(_) => {
                    if let [.., table, dsl] = path.as_slice()
                        && dsl == "dsl"
                        && self.tables.contains_key(table)
                    {
                        self.bare.insert(table.clone(), table.clone());
                    }
                }
                UseTree::Name(n) => {
                    let name = n.ident.to_string();
                    if let [.., dsl] = path.as_slice()
                        && dsl == "dsl"
                        && self.tables.contains_key(&name)
                    {
                        self.bare.insert(name.clone(), name);
                    }
                }
                UseTree::Rename(r) => {
                    let name = r.ident.to_string();
                    if let [.., dsl] = path.as_slice()
                        && dsl == "dsl"
                        && self.tables.contains_key(&name)
                    {
                        self.bare.insert(r.rename.to_string(), name);
                    }
                }
            }
        }
    }

    /// The table an expression path names, if it names one: `X::table`,
    /// `X::dsl::X`, or a bare imported `X`.
    pub fn table_of(&self, segments: &[String]) -> Option<&str> {
        match segments {
            [name] => self
                .bare
                .get(name)
                .and_then(|t| self.tables.get(t))
                .map(String::as_str),
            [.., table, last] if last == "table" => self.tables.get(table).map(String::as_str),
            [.., dsl, last] if dsl == "dsl" => self.tables.get(last).map(String::as_str),
            _ => None,
        }
    }
}
