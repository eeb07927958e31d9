//! What each function does: the functions it calls, the types its signature
//! names, and the tables its SQL touches.
//!
//! Calls are resolved as far as syntax allows (see [`super::symbols`]):
//! - `f(..)`, `module::f(..)`, `Type::f(..)`, `Self::f(..)` resolve through
//!   the symbol table;
//! - a function named without being called (`get(list_products)`,
//!   `.map(parse)`) counts as a call: it is a dependency all the same;
//! - `self.m(..)` inside an impl resolves to the impl type's method `m`;
//! - `x.m(..)` on any other value is resolved heuristically: if exactly one
//!   type in the analyzed code has a method `m`, that one (unless `m` is a
//!   name common on standard types, such as `get` or `insert`); if every
//!   type that has one is a trait of the analyzed code or implements it
//!   (`db.get_user()` on an `Arc<dyn Repo>`), each of them; if several
//!   unrelated types do, the call is counted as unresolved;
//! - arguments of macro invocations are parsed as expressions and searched.
//!
//! A call whose path starts in the analyzed code but does not resolve is
//! counted in the stats as unresolved; calls into other crates are dropped.

use std::collections::{BTreeMap, BTreeSet};

use syn::visit::{self, Visit};

use super::paths::path_segments;
use super::symbols::{Def, Symbols};
use crate::source::{Diagnostic, SourceFile};
use crate::sql::{self, Access, FileContext, seaorm};

/// Facts about one file's functions and types.
#[derive(Debug, Default)]
pub struct FileFacts {
    /// `(caller, callee) → count`.
    pub calls: BTreeMap<(String, String), u32>,
    /// `(function or type, type) → count`.
    pub uses_type: BTreeMap<(String, String), u32>,
    /// Per function: the tables it reads and writes.
    pub access: Vec<(String, Access)>,
    /// Calls resolved to a function of the analyzed code.
    pub resolved_calls: u32,
    /// Calls into the analyzed code that could not be resolved.
    pub unresolved_calls: u32,
    /// Problems (SQL that does not parse, ...).
    pub diagnostics: Vec<Diagnostic>,
}

/// Method names so common on standard types that a call to one on an
/// unknown value is far more likely std than ours.
const COMMON_STD_METHODS: &[&str] = &[
    "as_ref",
    "as_str",
    "borrow",
    "clone",
    "cloned",
    "collect",
    "contains",
    "contains_key",
    "default",
    "entry",
    "eq",
    "extend",
    "filter",
    "find",
    "first",
    "fmt",
    "from",
    "get",
    "get_mut",
    "hash",
    "insert",
    "into",
    "into_iter",
    "is_empty",
    "is_some",
    "is_none",
    "iter",
    "iter_mut",
    "join",
    "keys",
    "last",
    "len",
    "lock",
    "map",
    "next",
    "ok",
    "parse",
    "pop",
    "push",
    "read",
    "remove",
    "send",
    "split",
    "to_owned",
    "to_string",
    "trim",
    "try_from",
    "try_into",
    "unwrap",
    "unwrap_or",
    "values",
    "write",
];

/// How deep macro arguments are re-parsed (a macro inside a macro ...).
const MAX_MACRO_DEPTH: u32 = 4;

/// Analyzes every function and type of `file`.
#[must_use]
pub fn analyze_file(file: &SourceFile, symbols: &Symbols, sql_ctx: &FileContext<'_>) -> FileFacts {
    let mut facts = FileFacts::default();
    let module = file.module.join("::");
    walk_items(&file.ast.items, &module, symbols, sql_ctx, &mut facts);
    facts
}

fn walk_items(
    items: &[syn::Item],
    module: &str,
    symbols: &Symbols,
    sql_ctx: &FileContext<'_>,
    facts: &mut FileFacts,
) {
    for item in items {
        match item {
            syn::Item::Fn(f) => {
                let id = format!("{module}::{}", f.sig.ident);
                function(
                    &id,
                    module,
                    None,
                    &f.sig,
                    Some(&f.block),
                    symbols,
                    sql_ctx,
                    facts,
                );
            }
            syn::Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    walk_items(
                        inner,
                        &format!("{module}::{}", m.ident),
                        symbols,
                        sql_ctx,
                        facts,
                    );
                }
            }
            syn::Item::Impl(imp) => {
                let Some(type_id) = impl_type(imp, module, symbols) else {
                    continue;
                };
                for item in &imp.items {
                    if let syn::ImplItem::Fn(f) = item {
                        let id = format!("{type_id}::{}", f.sig.ident);
                        function(
                            &id,
                            module,
                            Some(&type_id),
                            &f.sig,
                            Some(&f.block),
                            symbols,
                            sql_ctx,
                            facts,
                        );
                    }
                }
            }
            syn::Item::Trait(t) => {
                let trait_id = format!("{module}::{}", t.ident);
                for item in &t.items {
                    if let syn::TraitItem::Fn(f) = item {
                        let id = format!("{trait_id}::{}", f.sig.ident);
                        function(
                            &id,
                            module,
                            Some(&trait_id),
                            &f.sig,
                            f.default.as_ref(),
                            symbols,
                            sql_ctx,
                            facts,
                        );
                    }
                }
            }
            syn::Item::Struct(s) => {
                let id = format!("{module}::{}", s.ident);
                field_types(&id, module, s.fields.iter().map(|f| &f.ty), symbols, facts);
            }
            syn::Item::Enum(e) => {
                let id = format!("{module}::{}", e.ident);
                let types = e
                    .variants
                    .iter()
                    .flat_map(|v| v.fields.iter().map(|f| &f.ty));
                field_types(&id, module, types, symbols, facts);
            }
            _ => {}
        }
    }
}

/// The id of an impl block's self type, as [`Symbols::build`] named it.
fn impl_type(imp: &syn::ItemImpl, module: &str, symbols: &Symbols) -> Option<String> {
    let mut ty = &*imp.self_ty;
    while let syn::Type::Reference(r) = ty {
        ty = &r.elem;
    }
    let syn::Type::Path(p) = ty else {
        return None;
    };
    let path = path_segments(&p.path);
    match symbols.resolve(module, &path) {
        Some(Def::Type(id)) => Some(id),
        _ => Some(format!("{module}::{}", path.last()?)),
    }
}

#[allow(clippy::too_many_arguments)]
fn function(
    id: &str,
    module: &str,
    self_type: Option<&str>,
    sig: &syn::Signature,
    block: Option<&syn::Block>,
    symbols: &Symbols,
    sql_ctx: &FileContext<'_>,
    facts: &mut FileFacts,
) {
    let mut types = TypeCollector {
        symbols,
        module,
        found: Vec::new(),
    };
    types.visit_signature(sig);
    for ty in types.found {
        if ty != id {
            *facts.uses_type.entry((id.to_owned(), ty)).or_default() += 1;
        }
    }
    let Some(block) = block else {
        return;
    };
    let mut calls = CallCollector {
        symbols,
        module,
        self_type,
        calls: BTreeMap::new(),
        resolved: 0,
        unresolved: 0,
        macro_depth: 0,
        entities: Access::default(),
        columns: BTreeSet::new(),
    };
    calls.visit_block(block);
    facts.resolved_calls += calls.resolved;
    facts.unresolved_calls += calls.unresolved;
    for (callee, n) in calls.calls {
        if callee != id {
            *facts.calls.entry((id.to_owned(), callee)).or_default() += n;
        }
    }
    let module_path: Vec<String> = module.split("::").map(str::to_owned).collect();
    let (mut access, diagnostics) = sql::access_in_fn(block, &module_path, self_type, sql_ctx);
    facts.diagnostics.extend(diagnostics);
    // sea-orm: each `Entity`/`ActiveModel` use is a statement; a table
    // named only through its `Column`s counts one read.
    for (table, n) in calls.entities.reads {
        *access.reads.entry(table).or_default() += n;
    }
    for (table, n) in calls.entities.writes {
        *access.writes.entry(table).or_default() += n;
    }
    for table in calls.columns {
        if !access.reads.contains_key(&table) && !access.writes.contains_key(&table) {
            access.reads.insert(table, 1);
        }
    }
    if !access.reads.is_empty() || !access.writes.is_empty() {
        facts.access.push((id.to_owned(), access));
    }
}

fn field_types<'a>(
    id: &str,
    module: &str,
    types: impl Iterator<Item = &'a syn::Type>,
    symbols: &Symbols,
    facts: &mut FileFacts,
) {
    let mut collector = TypeCollector {
        symbols,
        module,
        found: Vec::new(),
    };
    for ty in types {
        collector.visit_type(ty);
    }
    for ty in collector.found {
        if ty != id {
            *facts.uses_type.entry((id.to_owned(), ty)).or_default() += 1;
        }
    }
}

struct TypeCollector<'a> {
    symbols: &'a Symbols,
    module: &'a str,
    found: Vec<String>,
}

impl<'ast> Visit<'ast> for TypeCollector<'_> {
    fn visit_type_path(&mut self, ty: &'ast syn::TypePath) {
        if let Some(Def::Type(id)) = self.symbols.resolve(self.module, &path_segments(&ty.path)) {
            self.found.push(id);
        }
        visit::visit_type_path(self, ty);
    }

    fn visit_block(&mut self, _: &'ast syn::Block) {
        // Only signatures and fields; bodies are the call collector's.
    }
}

struct CallCollector<'a> {
    symbols: &'a Symbols,
    module: &'a str,
    self_type: Option<&'a str>,
    calls: BTreeMap<String, u32>,
    resolved: u32,
    unresolved: u32,
    macro_depth: u32,
    /// Tables read and written through sea-orm entities.
    entities: Access,
    /// Tables whose `Column`s are named.
    columns: BTreeSet<String>,
}

impl CallCollector<'_> {
    /// A path that may name a type sea-orm generates for an entity: the
    /// whole path (`users::ActiveModel`, `users::Column::Email`, `User` as
    /// a value), or all but its last segment (`users::Entity::find`).
    fn entity_path(&mut self, segments: &[String], whole: Option<&Def>) {
        if self.symbols.entities.is_empty() {
            return;
        }
        let (type_id, next) = match (segments.first().map(String::as_str), self.self_type) {
            (Some("Self"), Some(t)) => (t.to_owned(), segments.get(1).map(String::as_str)),
            _ => match whole {
                Some(Def::Type(id)) => (id.clone(), None),
                None if segments.len() > 1 => {
                    let Some((last, prefix)) = segments.split_last() else {
                        return;
                    };
                    match self.symbols.resolve(self.module, prefix) {
                        Some(Def::Type(id)) => (id, Some(last.as_str())),
                        _ => return,
                    }
                }
                _ => return,
            },
        };
        let Some((table, ty)) = self.symbols.entity_type(&type_id) else {
            return;
        };
        if ty == "Column" {
            self.columns.insert(table.to_owned());
            return;
        }
        let slot = match seaorm::classify(ty, next) {
            Some(seaorm::Use::Read) => &mut self.entities.reads,
            Some(seaorm::Use::Write) => &mut self.entities.writes,
            None => return,
        };
        *slot.entry(table.to_owned()).or_default() += 1;
    }

    /// A path in expression position: a call, or a function named as a value.
    fn path(&mut self, path: &syn::Path) {
        let mut segments = path_segments(path);
        let def = if let (Some("Self"), Some(t)) =
            (segments.first().map(String::as_str), self.self_type)
        {
            let id = segments.get(1).map(|m| format!("{t}::{m}"));
            let def = id
                .filter(|id| self.symbols.fns.contains_key(id))
                .map(Def::Fn);
            if def.is_none() {
                self.entity_path(&segments, None);
            }
            segments.remove(0);
            def
        } else {
            let def = self.symbols.resolve(self.module, &segments);
            if !matches!(def, Some(Def::Fn(_))) {
                self.entity_path(&segments, def.as_ref());
            }
            def
        };
        match def {
            Some(Def::Fn(id)) => self.found(id),
            None if segments.len() > 1 && self.is_internal(&segments) => {
                tracing::debug!(
                    module = self.module,
                    path = segments.join("::"),
                    "unresolved call"
                );
                self.unresolved += 1;
            }
            // A type, a module, or a name from another crate.
            _ => {}
        }
    }

    /// Whether an unresolved path starts in the analyzed code.
    fn is_internal(&self, segments: &[String]) -> bool {
        match segments.first().map(String::as_str) {
            Some("crate" | "self" | "super" | "Self") => true,
            Some(first) => matches!(
                self.symbols.resolve(self.module, &[first.to_owned()]),
                Some(Def::Module(_) | Def::Type(_))
            ),
            None => false,
        }
    }

    fn found(&mut self, id: String) {
        self.resolved += 1;
        *self.calls.entry(id).or_default() += 1;
    }

    fn method(&mut self, call: &syn::ExprMethodCall) {
        let name = call.method.to_string();
        let on_self = matches!(&*call.receiver, syn::Expr::Path(p) if p.path.is_ident("self"));
        if on_self && let Some(t) = self.self_type {
            let id = format!("{t}::{name}");
            if self.symbols.fns.contains_key(&id) {
                self.found(id);
                return;
            }
        }
        if !on_self && COMMON_STD_METHODS.contains(&name.as_str()) {
            return;
        }
        match self.symbols.methods_by_name.get(&name).map(Vec::as_slice) {
            Some([only]) => self.found(only.clone()),
            Some(candidates) if !candidates.is_empty() => {
                let mine = self.self_type.and_then(|t| {
                    candidates
                        .iter()
                        .find(|c| c.starts_with(t) && c.len() == t.len() + 2 + name.len())
                });
                if let Some(id) = mine {
                    self.found(id.clone());
                } else if self.symbols.one_trait_family(candidates, &name) {
                    // `db.get_user()` on an `Arc<dyn DbProvider>`: every
                    // candidate is the trait's method or an implementation
                    // of it, so the call reaches one of the implementations
                    // (class hierarchy analysis). Count it against each.
                    for id in candidates {
                        self.found(id.clone());
                    }
                } else {
                    tracing::debug!(
                        module = self.module,
                        method = name,
                        candidates = candidates.len(),
                        "ambiguous method call"
                    );
                    self.unresolved += 1;
                }
            }
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for CallCollector<'_> {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        match &*call.func {
            syn::Expr::Path(p) => self.path(&p.path),
            other => self.visit_expr(other),
        }
        for arg in &call.args {
            self.visit_expr(arg);
        }
    }

    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        // A function named as a value (`.map(parse)`, a handler).
        if path.qself.is_none() && !path.path.is_ident("self") {
            self.path(&path.path);
        }
    }

    fn visit_expr_struct(&mut self, expr: &'ast syn::ExprStruct) {
        // A struct literal: `users::ActiveModel { .. }` builds a row.
        if expr.qself.is_none() {
            let segments = path_segments(&expr.path);
            let def = self.symbols.resolve(self.module, &segments);
            self.entity_path(&segments, def.as_ref());
        }
        visit::visit_expr_struct(self, expr);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        self.method(call);
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if self.macro_depth >= MAX_MACRO_DEPTH {
            return;
        }
        if let Some(stmts) = super::macros::parse_macro_body(&mac.tokens) {
            self.macro_depth += 1;
            for stmt in &stmts {
                self.visit_stmt(stmt);
            }
            self.macro_depth -= 1;
        }
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {
        // Items nested in a body are not in the symbol table.
    }
}
