//! Finding SQL in a Rust function body: the strings passed to sqlx,
//! tokio-postgres/postgres (and rusqlite/mysql look-alikes) and Diesel, and
//! Diesel DSL table references.
//!
//! The walk is bounded: expression nesting deeper than [`MAX_DEPTH`] is not
//! searched, method-call chains are walked in a loop (a 2000-link builder
//! chain costs no stack), and macro bodies are re-parsed only when their
//! token nesting is shallow and at most [`MAX_MACRO_DEPTH`] macros deep.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, ExprCall, ExprMethodCall, Item, Lit, Macro, Pat, Stmt};

use super::calls::{CLIENT_METHODS, DIESEL_WRITES, PREPARE_METHODS, SQLX_FUNCTIONS};
use super::diesel::DieselNames;
use super::parse::{HOLE, StatementAccess, parse_lenient, statement_access};
use super::schema::excerpt;
use super::text::{
    Hole, MAX_ALTERNATIVES, concat_alternatives, format_pieces, lit_text, looks_like_sql,
};
use super::{Access, Dialect, FileContext};
use crate::rust::macros::{
    MacroRules, expand, is_macro_rules, macro_rules_in, parse_args, parse_expansion,
    parse_macro_body, parse_macro_rules,
};
use crate::rust::paths::name_segments;
use crate::source::{Diagnostic, line_of};

/// Expressions nested deeper than this are not searched.
pub const MAX_DEPTH: usize = 96;
/// Macros inside macros deeper than this are not re-parsed.
pub const MAX_MACRO_DEPTH: usize = 6;
/// `query_file!` files larger than this are not read.
const MAX_QUERY_FILE: u64 = 4 * 1024 * 1024;
/// String evaluation (consts referring to consts, nested `concat!`) depth.
const MAX_EVAL_DEPTH: usize = 16;

/// How sure we are that a string is meant as SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// A sqlx / Diesel API that only takes SQL: a parse failure is reported.
    Strong,
    /// A method that takes SQL on a database client but shares its name with
    /// other APIs: a parse failure is reported only when the text starts
    /// like SQL.
    Weak,
}

/// The Diesel statement being collected.
#[derive(Debug, Default)]
struct DieselAcc {
    stmt: StatementAccess,
}

/// Where we are relative to a Diesel write target argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    /// Inside `insert_into(..)`/`update(..)`/`delete(..)`, no table seen yet.
    Open,
    /// Inside one, its table already taken.
    Taken,
}

struct Finder<'c, 'a> {
    ctx: &'c FileContext<'a>,
    access: Access,
    diags: Vec<Diagnostic>,
    depth: usize,
    macro_depth: usize,
    too_deep: bool,
    /// `let` bindings holding SQL text (alternatives).
    locals: HashMap<String, Vec<String>>,
    /// Names bound by `let` or closure parameters (shadow bare Diesel names).
    bound: HashSet<String>,
    /// String consts and statics declared in the body.
    block_consts: HashMap<String, Vec<String>>,
    /// Local names whose SQL went to `prepare`.
    prepared: HashSet<String>,
    /// The module the body is written in, crate name first.
    module: &'c [String],
    /// For methods, the id of the type (`Self`).
    self_type: Option<&'c str>,
    file_macros: Option<HashMap<String, MacroRules>>,
    block_macros: HashMap<String, MacroRules>,
    diesel: Option<DieselNames>,
    acc: Option<DieselAcc>,
    target: Target,
}

/// See [`super::access_in_block`]; `module` is where the body is written
/// and `self_type` the type of a method's `Self`, for naming constants.
pub fn access_in_fn(
    block: &syn::Block,
    module: &[String],
    self_type: Option<&str>,
    ctx: &FileContext<'_>,
) -> (Access, Vec<Diagnostic>) {
    let diesel = if ctx.diesel_tables.is_empty() {
        None
    } else {
        Some(DieselNames::new(ctx.diesel_tables, ctx.file))
    };
    let mut f = Finder {
        ctx,
        access: Access::default(),
        diags: Vec::new(),
        depth: 0,
        macro_depth: 0,
        too_deep: false,
        locals: HashMap::new(),
        bound: HashSet::new(),
        block_consts: HashMap::new(),
        prepared: HashSet::new(),
        module,
        self_type,
        file_macros: None,
        block_macros: HashMap::new(),
        diesel,
        acc: None,
        target: Target::None,
    };
    f.visit_block(block);
    if f.too_deep {
        tracing::debug!(file = %ctx.file.rel_path, "expression nesting too deep; the deepest part was not searched for SQL");
    }
    (f.access, f.diags)
}

/// Whether an expression continues a chain that forms one Diesel statement.
fn is_chain_kind(e: &Expr) -> bool {
    matches!(
        e,
        Expr::MethodCall(_)
            | Expr::Call(_)
            | Expr::Path(_)
            | Expr::Field(_)
            | Expr::Try(_)
            | Expr::Await(_)
            | Expr::Reference(_)
            | Expr::Paren(_)
            | Expr::Group(_)
            | Expr::Unary(_)
            | Expr::Cast(_)
            | Expr::Index(_)
    )
}

impl Finder<'_, '_> {
    fn diag(&mut self, line: u32, message: String) {
        self.diags.push(Diagnostic::new(
            self.ctx.file.rel_path.clone(),
            Some(line),
            message,
        ));
    }

    // ------------------------------------------------------------ SQL text

    /// Parses the SQL of one call site and counts its statements.
    fn run_sql(
        &mut self,
        alternatives: &[String],
        sink: Sink,
        line: u32,
        dialect: Dialect,
        what: &str,
    ) {
        let mut per_alt: Vec<Vec<StatementAccess>> = Vec::new();
        for text in alternatives {
            if text.trim().is_empty() {
                continue;
            }
            match parse_lenient(text, dialect) {
                Ok(stmts) => per_alt.push(stmts.iter().map(statement_access).collect()),
                Err(e) => {
                    if sink == Sink::Strong || looks_like_sql(text) {
                        self.diag(
                            line,
                            format!(
                                "SQL passed to {what} not parsed, skipped: `{}`: {e}",
                                excerpt(text)
                            ),
                        );
                    }
                }
            }
        }
        match per_alt.len() {
            0 => {}
            1 => {
                for s in per_alt.iter().flatten() {
                    s.add_to(&mut self.access);
                }
            }
            _ => {
                // Alternatives (a `match` choosing the text) are one
                // statement touching everything any of them touches.
                let mut all = StatementAccess::default();
                for s in per_alt.iter().flatten() {
                    all.reads.extend(s.reads.iter().cloned());
                    all.writes.extend(s.writes.iter().cloned());
                }
                if !all.is_empty() {
                    all.add_to(&mut self.access);
                }
            }
        }
    }

    fn macro_rules_named(&mut self, name: &str) -> Option<MacroRules> {
        if let Some(r) = self.block_macros.get(name) {
            return Some(r.clone());
        }
        let file = self.ctx.file;
        let macros = self
            .file_macros
            .get_or_insert_with(|| macro_rules_in(&file.ast.items));
        macros.get(name).cloned()
    }

    /// The SQL text an expression evaluates to, as alternatives; `None`
    /// when it is not a compile-time or locally bound string.
    fn eval(&mut self, e: &Expr, depth: usize) -> Option<Vec<String>> {
        if depth > MAX_EVAL_DEPTH {
            return None;
        }
        match e {
            Expr::Lit(l) => lit_text(&l.lit).map(|s| vec![s]),
            Expr::Paren(p) => self.eval(&p.expr, depth + 1),
            Expr::Group(g) => self.eval(&g.expr, depth + 1),
            Expr::Reference(r) => self.eval(&r.expr, depth + 1),
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => self.eval(&u.expr, depth + 1),
            Expr::MethodCall(m)
                if m.args.is_empty()
                    && matches!(
                        m.method.to_string().as_str(),
                        "as_str"
                            | "as_ref"
                            | "to_string"
                            | "to_owned"
                            | "into"
                            | "clone"
                            | "borrow"
                            | "as_deref"
                            | "trim"
                            | "deref"
                    ) =>
            {
                self.eval(&m.receiver, depth + 1)
            }
            Expr::Call(c) if c.args.len() == 1 => {
                let Expr::Path(p) = c.func.as_ref() else {
                    return None;
                };
                let last = p.path.segments.last()?.ident.to_string();
                if matches!(last.as_str(), "from" | "Borrowed" | "Owned" | "new")
                    && p.path.segments.len() >= 2
                {
                    self.eval(c.args.first()?, depth + 1)
                } else {
                    None
                }
            }
            Expr::Macro(m) => self.eval_macro(&m.mac, depth + 1),
            Expr::Path(p) if p.qself.is_none() => {
                let segs = name_segments(&p.path);
                if let [name] = segs.as_slice() {
                    if let Some(v) = self.locals.get(name) {
                        return Some(v.clone());
                    }
                    if let Some(v) = self.block_consts.get(name) {
                        return Some(v.clone());
                    }
                }
                let last = segs.last()?;
                if last.chars().next().is_some_and(char::is_lowercase) {
                    return None;
                }
                let value = match (segs.split_first(), self.self_type) {
                    (Some((first, rest)), Some(ty)) if first == "Self" => {
                        self.ctx.consts.get(&format!("{ty}::{}", rest.join("::")))
                    }
                    _ => self.ctx.consts.resolve(self.module, &segs),
                };
                Some(vec![value?.to_owned()])
            }
            Expr::Block(b) => self.eval_block_tail(&b.block, depth),
            Expr::If(i) => {
                let mut alts = self
                    .eval_block_tail(&i.then_branch, depth)
                    .unwrap_or_default();
                if let Some((_, els)) = &i.else_branch {
                    alts.extend(self.eval(els, depth + 1).unwrap_or_default());
                }
                alts.truncate(MAX_ALTERNATIVES);
                (!alts.is_empty()).then_some(alts)
            }
            Expr::Match(m) => {
                let mut alts = Vec::new();
                for arm in &m.arms {
                    alts.extend(self.eval(&arm.body, depth + 1).unwrap_or_default());
                }
                alts.truncate(MAX_ALTERNATIVES);
                (!alts.is_empty()).then_some(alts)
            }
            _ => None,
        }
    }

    fn eval_block_tail(&mut self, b: &syn::Block, depth: usize) -> Option<Vec<String>> {
        match b.stmts.last() {
            Some(Stmt::Expr(e, None)) => self.eval(e, depth + 1),
            _ => None,
        }
    }

    fn eval_single(&mut self, e: &Expr, depth: usize) -> Option<String> {
        self.eval(e, depth).and_then(|v| v.into_iter().next())
    }

    fn eval_macro(&mut self, mac: &Macro, depth: usize) -> Option<Vec<String>> {
        let name = mac.path.segments.last()?.ident.to_string();
        match name.as_str() {
            "concat" | "concatcp" => {
                let args = parse_args(&mac.tokens).ok()?;
                let mut parts = Vec::new();
                for a in &args {
                    parts.push(self.eval(a, depth + 1)?);
                }
                Some(concat_alternatives(parts))
            }
            "format" | "format_args" | "formatcp" | "formatdoc" | "lazy_format" => {
                let args = parse_args(&mac.tokens).ok()?;
                let (fmt, rest) = args.split_first()?;
                let fmt = match fmt {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(s), ..
                    }) => s.value(),
                    _ => return None,
                };
                let mut positional = Vec::new();
                let mut named = HashMap::new();
                for a in rest {
                    match a {
                        Expr::Assign(asg) => {
                            if let Expr::Path(p) = asg.left.as_ref()
                                && let Some(id) = p.path.get_ident()
                            {
                                named.insert(id.to_string(), asg.right.as_ref().clone());
                            }
                        }
                        other => positional.push(other.clone()),
                    }
                }
                let mut out = String::new();
                let mut next = 0;
                for piece in format_pieces(&fmt) {
                    match piece {
                        Ok(lit) => out.push_str(&lit),
                        Err(hole) => {
                            let value = match hole {
                                Hole::Next => {
                                    next += 1;
                                    positional
                                        .get(next - 1)
                                        .cloned()
                                        .and_then(|e| self.eval_single(&e, depth + 1))
                                }
                                Hole::Index(i) => positional
                                    .get(i)
                                    .cloned()
                                    .and_then(|e| self.eval_single(&e, depth + 1)),
                                Hole::Name(n) => match named.get(&n).cloned() {
                                    Some(e) => self.eval_single(&e, depth + 1),
                                    None => syn::parse_str::<Expr>(&n)
                                        .ok()
                                        .and_then(|e| self.eval_single(&e, depth + 1)),
                                },
                            };
                            match value {
                                Some(v) => out.push_str(&v),
                                None if out.ends_with('$') => out.push('1'),
                                None => out.push_str(HOLE),
                            }
                        }
                    }
                }
                Some(vec![out])
            }
            "indoc" | "sql" | "unindent" => {
                let args = parse_args(&mac.tokens).ok()?;
                match args.as_slice() {
                    [one] => self.eval(one, depth + 1),
                    _ => None,
                }
            }
            "stringify" => Some(vec![mac.tokens.to_string()]),
            _ => {
                let rules = self.macro_rules_named(&name)?;
                let expanded = expand(&rules, &mac.tokens)?;
                let stmts = parse_expansion(expanded)?;
                match stmts.last() {
                    Some(Stmt::Expr(e, None)) => self.eval(e, depth + 1),
                    _ => None,
                }
            }
        }
    }

    // ------------------------------------------------------------ call sites

    fn dialect_hint(&self, generics: Option<&syn::AngleBracketedGenericArguments>) -> Dialect {
        if let Some(g) = generics {
            for arg in &g.args {
                if let syn::GenericArgument::Type(syn::Type::Path(tp)) = arg
                    && let Some(last) = tp.path.segments.last()
                {
                    match last.ident.to_string().as_str() {
                        "Sqlite" => return Dialect::Sqlite,
                        "MySql" => return Dialect::MySql,
                        "Postgres" => return Dialect::Postgres,
                        _ => {}
                    }
                }
            }
        }
        self.ctx.dialect
    }

    fn sql_macro(&mut self, mac: &Macro, name: &str) {
        let line = mac
            .path
            .segments
            .first()
            .map_or(0, |s| line_of(s.ident.span()));
        let shown = format!(
            "{}!",
            mac.path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::")
        );
        let args = match parse_args(&mac.tokens) {
            Ok(a) => a,
            Err(e) => {
                self.diag(
                    line,
                    format!("cannot parse {shown} arguments, call skipped: {e}"),
                );
                return;
            }
        };
        let index = usize::from(name.contains("_as"));
        let Some(arg) = args.get(index) else {
            self.diag(line, format!("{shown} has no SQL argument"));
            return;
        };
        let arg_line = line_of(arg.span());
        if name.starts_with("query_file") {
            let path = if let Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = arg
            {
                s.value()
            } else {
                self.diag(arg_line, format!("{shown} path is not a string literal"));
                return;
            };
            if Path::new(&path).is_absolute() {
                self.diag(arg_line, format!("{shown} path `{path}` is absolute; only paths relative to the crate are read"));
                return;
            }
            let full = self.ctx.file.crate_dir.join(&path);
            match read_limited(&full) {
                Ok(text) => self.run_sql(
                    &[text],
                    Sink::Strong,
                    arg_line,
                    self.ctx.dialect,
                    &format!("{shown} ({path})"),
                ),
                Err(e) => self.diag(arg_line, format!("cannot read `{path}` for {shown}: {e}")),
            }
        } else {
            match self.eval(arg, 0) {
                Some(alts) => self.run_sql(&alts, Sink::Strong, arg_line, self.ctx.dialect, &shown),
                None => self.diag(
                    arg_line,
                    format!("SQL argument of {shown} is not a string literal"),
                ),
            }
        }
        for (i, a) in args.iter().enumerate() {
            if i != index {
                self.visit_expr(a);
            }
        }
    }

    fn method_call(&mut self, m: &ExprMethodCall) {
        let name = m.method.to_string();
        if CLIENT_METHODS.contains(&name.as_str())
            && let Some(arg) = m.args.first()
        {
            let ident = match strip_refs(arg) {
                Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
                _ => None,
            };
            let is_prepare = PREPARE_METHODS.contains(&name.as_str());
            let already = ident.as_ref().is_some_and(|i| self.prepared.contains(i));
            if (!already || is_prepare)
                && let Some(alts) = self.eval(arg, 0)
            {
                self.run_sql(
                    &alts,
                    Sink::Weak,
                    line_of(arg.span()),
                    self.ctx.dialect,
                    &format!(".{name}()"),
                );
                if is_prepare && let Some(i) = ident {
                    self.prepared.insert(i);
                }
            }
        }
        for a in &m.args {
            self.visit_expr(a);
        }
    }

    fn call(&mut self, c: &ExprCall) {
        let Expr::Path(p) = c.func.as_ref() else {
            visit::visit_expr_call(self, c);
            return;
        };
        let segs = name_segments(&p.path);
        let first = segs.first().map_or("", String::as_str);
        let last = segs.last().map_or("", String::as_str);
        let single = segs.len() == 1;
        if (single || first == "sqlx") && SQLX_FUNCTIONS.contains(&last) {
            if let Some(arg) = c.args.first() {
                let generics = match p.path.segments.last().map(|s| &s.arguments) {
                    Some(syn::PathArguments::AngleBracketed(g)) => Some(g),
                    _ => None,
                };
                let dialect = self.dialect_hint(generics);
                if let Some(alts) = self.eval(arg, 0) {
                    let sink = if first == "sqlx" {
                        Sink::Strong
                    } else {
                        Sink::Weak
                    };
                    self.run_sql(
                        &alts,
                        sink,
                        line_of(arg.span()),
                        dialect,
                        &format!("{}()", segs.join("::")),
                    );
                }
            }
        } else if (single || first == "diesel") && last == "sql_query" {
            if let Some(arg) = c.args.first()
                && let Some(alts) = self.eval(arg, 0)
            {
                let sink = if first == "diesel" {
                    Sink::Strong
                } else {
                    Sink::Weak
                };
                self.run_sql(
                    &alts,
                    sink,
                    line_of(arg.span()),
                    self.ctx.dialect,
                    "sql_query()",
                );
            }
        } else if self.diesel.is_some()
            && (single || first == "diesel")
            && DIESEL_WRITES.contains(&last)
        {
            self.visit_expr(&c.func);
            for (i, a) in c.args.iter().enumerate() {
                if i == 0 {
                    let saved = std::mem::replace(&mut self.target, Target::Open);
                    self.visit_expr(a);
                    self.target = saved;
                } else {
                    self.visit_expr(a);
                }
            }
            return;
        }
        visit::visit_expr_call(self, c);
    }

    fn diesel_path(&mut self, p: &syn::ExprPath) {
        let Some(names) = &self.diesel else { return };
        if p.qself.is_some() {
            return;
        }
        let segs = name_segments(&p.path);
        if let [one] = segs.as_slice()
            && self.bound.contains(one)
        {
            return;
        }
        let Some(table) = names.table_of(&segs).map(ToOwned::to_owned) else {
            return;
        };
        let Some(acc) = self.acc.as_mut() else { return };
        if self.target == Target::Open {
            acc.stmt.writes.insert(table);
            self.target = Target::Taken;
        } else {
            acc.stmt.reads.insert(table);
        }
    }

    // ------------------------------------------------------------ macros

    fn mac(&mut self, mac: &Macro) {
        let Some(last) = mac.path.segments.last() else {
            return;
        };
        let name = last.ident.to_string();
        let first = mac
            .path
            .segments
            .first()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let single = mac.path.segments.len() == 1;
        let is_sqlx = matches!(
            name.as_str(),
            "query"
                | "query_as"
                | "query_scalar"
                | "query_unchecked"
                | "query_as_unchecked"
                | "query_scalar_unchecked"
                | "query_file"
                | "query_file_as"
                | "query_file_scalar"
                | "query_file_unchecked"
                | "query_file_as_unchecked"
                | "query_file_scalar_unchecked"
        );
        if is_sqlx && (single || first == "sqlx") {
            self.sql_macro(mac, &name);
            return;
        }
        if is_macro_rules(mac) || self.macro_depth >= MAX_MACRO_DEPTH {
            return;
        }
        self.macro_depth += 1;
        // A project macro: search its expansion (which holds its arguments),
        // else its arguments.
        let expanded = self
            .macro_rules_named(&name)
            .and_then(|rules| expand(&rules, &mac.tokens))
            .and_then(parse_expansion);
        if let Some(stmts) = expanded.or_else(|| parse_macro_body(&mac.tokens)) {
            for s in &stmts {
                self.visit_stmt(s);
            }
        }
        self.macro_depth -= 1;
    }

    fn bind_pat(&mut self, pat: &Pat) {
        let mut stack = vec![pat];
        while let Some(p) = stack.pop() {
            if stack.len() > 256 {
                break;
            }
            match p {
                Pat::Ident(i) => {
                    self.bound.insert(i.ident.to_string());
                }
                Pat::Type(t) => stack.push(&t.pat),
                Pat::Tuple(t) => stack.extend(t.elems.iter()),
                Pat::TupleStruct(t) => stack.extend(t.elems.iter()),
                Pat::Reference(r) => stack.push(&r.pat),
                Pat::Struct(s) => stack.extend(s.fields.iter().map(|f| f.pat.as_ref())),
                Pat::Slice(s) => stack.extend(s.elems.iter()),
                _ => {}
            }
        }
    }

    /// Runs `f` with the Diesel statement collection suspended (a block or
    /// closure body holds its own statements).
    fn boundary(&mut self, f: impl FnOnce(&mut Self)) {
        let acc = self.acc.take();
        let target = std::mem::replace(&mut self.target, Target::None);
        f(self);
        self.acc = acc;
        self.target = target;
    }
}

/// Reads a `query_file!` file, refusing files over [`MAX_QUERY_FILE`].
fn read_limited(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_QUERY_FILE {
        return Err(std::io::Error::other(format!(
            "file is {len} bytes, over the {MAX_QUERY_FILE}-byte limit"
        )));
    }
    std::fs::read_to_string(path)
}

fn strip_refs(e: &Expr) -> &Expr {
    let mut e = e;
    for _ in 0..MAX_EVAL_DEPTH {
        match e {
            Expr::Reference(r) => e = &r.expr,
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            Expr::MethodCall(m)
                if m.args.is_empty()
                    && matches!(m.method.to_string().as_str(), "as_str" | "as_ref") =>
            {
                e = &m.receiver;
            }
            _ => break,
        }
    }
    e
}

impl<'ast> Visit<'ast> for Finder<'_, '_> {
    fn visit_expr(&mut self, e: &'ast Expr) {
        if self.depth >= MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        self.depth += 1;
        let started = self.diesel.is_some() && self.acc.is_none() && is_chain_kind(e);
        if started {
            self.acc = Some(DieselAcc::default());
        }
        match e {
            Expr::MethodCall(_) | Expr::Await(_) | Expr::Try(_) => {
                // Walk the chain in a loop: receivers first, then each call.
                let mut calls: Vec<&ExprMethodCall> = Vec::new();
                let mut cur = e;
                loop {
                    match cur {
                        Expr::MethodCall(m) => {
                            calls.push(m);
                            cur = &m.receiver;
                        }
                        Expr::Await(a) => cur = &a.base,
                        Expr::Try(t) => cur = &t.expr,
                        _ => break,
                    }
                }
                self.visit_expr(cur);
                for m in calls.into_iter().rev() {
                    self.method_call(m);
                }
            }
            Expr::Call(c) => self.call(c),
            Expr::Path(p) => self.diesel_path(p),
            Expr::Closure(c) => {
                for input in &c.inputs {
                    self.bind_pat(input);
                }
                self.boundary(|f| f.visit_expr(&c.body));
            }
            _ => visit::visit_expr(self, e),
        }
        if started
            && let Some(acc) = self.acc.take()
            && !acc.stmt.is_empty()
        {
            acc.stmt.add_to(&mut self.access);
        }
        self.depth -= 1;
    }

    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.boundary(|f| visit::visit_block(f, b));
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
            if let Some((_, div)) = &init.diverge {
                self.visit_expr(div);
            }
        }
        let name = match &l.pat {
            Pat::Ident(i) => Some(i.ident.to_string()),
            Pat::Type(t) => match t.pat.as_ref() {
                Pat::Ident(i) => Some(i.ident.to_string()),
                _ => None,
            },
            _ => None,
        };
        if let Some(name) = name {
            let value = l.init.as_ref().and_then(|init| self.eval(&init.expr, 0));
            self.prepared.remove(&name);
            match value {
                Some(v) => {
                    self.locals.insert(name, v);
                }
                None => {
                    self.locals.remove(&name);
                }
            }
        }
        self.bind_pat(&l.pat);
    }

    fn visit_item(&mut self, item: &'ast Item) {
        match item {
            Item::Const(c) => {
                if let Some(v) = self.eval(&c.expr, 0) {
                    self.block_consts.insert(c.ident.to_string(), v);
                }
            }
            Item::Static(s) => {
                if let Some(v) = self.eval(&s.expr, 0) {
                    self.block_consts.insert(s.ident.to_string(), v);
                }
            }
            Item::Use(u) => {
                if let Some(d) = self.diesel.as_mut() {
                    d.add_use(&u.tree);
                }
            }
            Item::Macro(m) if is_macro_rules(&m.mac) => {
                if let Some(ident) = &m.ident {
                    self.block_macros
                        .insert(ident.to_string(), parse_macro_rules(&m.mac.tokens));
                }
            }
            Item::Fn(f) => self.visit_block(&f.block),
            Item::Macro(m) => self.mac(&m.mac),
            _ => {}
        }
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        self.mac(mac);
    }

    // Types, patterns and attributes hold no SQL; not walking them keeps
    // the visit cheap and shallow.
    fn visit_type(&mut self, _: &'ast syn::Type) {}
    fn visit_pat(&mut self, _: &'ast Pat) {}
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rust::consts::Consts;
    use crate::source::SourceFile;

    #[test]
    fn format_pieces_and_holes() {
        let p = format_pieces("a {{x}} {} {0} {name:>5} b");
        assert_eq!(p.len(), 7);
    }

    #[test]
    fn sql_keywords() {
        assert!(looks_like_sql("  -- x\n (select 1"));
        assert!(!looks_like_sql("ls -la"));
    }

    #[test]
    fn constants_are_named_by_module_path_and_self() {
        let text = r#"
            mod q { pub const LIST: &str = "SELECT * FROM users"; }
            const BASE: &str = "UPDATE orders SET paid = true";
            struct Repo;
            impl Repo {
                const GONE: &str = "DELETE FROM carts";
                fn run() {
                    sqlx::query(q::LIST);
                    sqlx::query(crate::BASE);
                    sqlx::query(Self::GONE);
                    sqlx::query(LIST);
                }
            }
        "#;
        let file = SourceFile {
            rel_path: "src/lib.rs".to_owned(),
            crate_name: "app".to_owned(),
            crate_dir: std::path::PathBuf::new(),
            module: vec!["app".to_owned()],
            ast: syn::parse_file(text).expect("valid Rust"),
        };
        let consts = Consts::from_files(std::slice::from_ref(&file));
        let ctx = FileContext {
            file: &file,
            dialect: Dialect::Postgres,
            diesel_tables: &[],
            consts: &consts,
        };
        let Some(Item::Impl(imp)) = file.ast.items.get(3) else {
            panic!("no impl");
        };
        let Some(syn::ImplItem::Fn(f)) = imp.items.get(1) else {
            panic!("no fn");
        };
        let (access, diags) = access_in_fn(&f.block, &file.module, Some("app::Repo"), &ctx);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(access.reads.keys().collect::<Vec<_>>(), ["users"]);
        // `LIST` alone names nothing here: it lives in `q`, unimported.
        assert_eq!(
            access.writes.keys().collect::<Vec<_>>(),
            ["carts", "orders"]
        );
    }
}
