//! An abstract interpreter over one function body: it computes the routers
//! the function returns, registers on a `&mut ServiceConfig` parameter, or
//! builds and hands to something else (`axum::serve`, `HttpServer::new`).
//!
//! Method-call chains are walked iteratively, so a chain of thousands of
//! `.route(..)` calls costs no stack; any other nesting deeper than
//! [`MAX_DEPTH`] is skipped with a diagnostic.
//!
//! This module is the interpreter core: values, bindings, blocks, control
//! flow, calls of the analyzed code's functions. What each framework's
//! constructors and router methods mean lives in `frameworks`, the one
//! place to change when adding a framework; `consts` evaluates route paths
//! written as constant expressions, when the parts are linked.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Block, Expr, ExprCall, ExprMethodCall, ExprPath, FnArg, Pat, Stmt, Type};

use super::index::{FnRef, Index};
use super::model::{Entry, Routes, Value};
use super::path::Style;
use crate::rust::consts::concat_macro;
use crate::rust::paths::path_segments;
use crate::source::{Diagnostic, line_of};
use crate::sql::text::{Hole, format_pieces};

mod consts;
mod frameworks;

pub(crate) use self::consts::{ConstExpr, ConstFacts, Miss, convert};

/// Expression nesting (not counting method-call chains) followed at most.
pub(crate) const MAX_DEPTH: usize = 200;

/// What one function builds.
#[derive(Debug, Default)]
pub(crate) struct FnRoutes {
    /// The router the function returns, if it returns one.
    pub returned: Option<Vec<Entry>>,
    /// What it registers on its `&mut ServiceConfig` parameter.
    pub config: Option<Vec<Entry>>,
    /// Routers built and not returned (served, or dropped).
    pub loose: Vec<Vec<Entry>>,
}

impl FnRoutes {
    /// Moves every file index by `offset` (when parts are linked).
    pub(crate) fn shift_files(&mut self, offset: usize) {
        let sets = self
            .returned
            .iter_mut()
            .chain(self.config.iter_mut())
            .chain(self.loose.iter_mut());
        for entry in sets.flatten() {
            entry.shift_file(offset);
        }
    }
}

struct Binding<'a> {
    name: String,
    value: Value<'a>,
    used: bool,
    /// An actix-web `ServiceConfig`: calls on it register in place.
    config: bool,
}

/// Interprets one function.
pub(crate) fn walk_fn<'a>(ix: &Index<'a>, f: &FnRef<'a>, diags: &mut Vec<Diagnostic>) -> FnRoutes {
    let mut w = Walker {
        ix,
        module: &f.module,
        file: f.file,
        scopes: Vec::new(),
        out: FnRoutes::default(),
        closure_depth: 0,
        too_deep: false,
        diags,
    };
    let mut params = Vec::new();
    for input in &f.sig.inputs {
        let FnArg::Typed(arg) = input else { continue };
        let Some(name) = pat_ident(&arg.pat) else {
            continue;
        };
        let (value, config) = match param_kind(&arg.ty) {
            Some(config) => (Value::Routes(Routes::default()), config),
            None => (Value::Unknown, false),
        };
        params.push(Binding {
            name,
            value,
            used: config,
            config,
        });
    }
    w.scopes.push(params);
    let tail = w.walk_block(f.block, 0);
    w.add_returned(tail);
    for binding in w.pop_scope() {
        if let (true, Value::Routes(r)) = (binding.config, binding.value) {
            w.out.config.get_or_insert_with(Vec::new).extend(r.close());
        }
    }
    w.out
}

/// `Some(true)` for `&mut ServiceConfig`, `Some(false)` for a router taken
/// by value (`Router<S>`, `Scope`), `None` otherwise.
fn param_kind(ty: &Type) -> Option<bool> {
    match ty {
        Type::Reference(r) if r.mutability.is_some() => {
            (last_type_ident(&r.elem)? == "ServiceConfig").then_some(true)
        }
        _ => matches!(last_type_ident(ty)?.as_str(), "Router" | "Scope").then_some(false),
    }
}

fn last_type_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// A closure's named parameters, bound to unknown values.
fn closure_params<'a>(c: &syn::ExprClosure) -> Vec<Binding<'a>> {
    c.inputs
        .iter()
        .filter_map(pat_ident)
        .map(|name| Binding {
            name,
            value: Value::Unknown,
            used: true,
            config: false,
        })
        .collect()
}

fn pat_ident(pat: &Pat) -> Option<String> {
    match pat {
        Pat::Ident(p) if p.subpat.is_none() => Some(p.ident.to_string()),
        Pat::Type(t) => pat_ident(&t.pat),
        _ => None,
    }
}

/// The elements of a tuple pattern (`(a, b)` or `(a, b): (A, B)`).
fn pat_tuple(pat: &Pat) -> Option<Vec<&Pat>> {
    match pat {
        Pat::Tuple(t) => Some(t.elems.iter().collect()),
        Pat::Type(t) => pat_tuple(&t.pat),
        _ => None,
    }
}

/// The source text of a span, shortened for a message.
/// A string built at run time: its literal text, in order, and the
/// parts only known at run time (as written).
#[derive(Debug, Default, PartialEq)]
struct RuntimeString {
    literal: String,
    runtime: Vec<String>,
}

impl RuntimeString {
    fn push(&mut self, other: RuntimeString) {
        self.literal.push_str(&other.literal);
        self.runtime.extend(other.runtime);
    }
}

/// The literal and runtime parts of a string expression: literals;
/// `format!` (placeholders are the runtime parts); `[..].concat()` and
/// `.join("")`; `a + b`; references, parentheses, `.to_string()`,
/// `.to_owned()`, `.as_str()`, `String::from(..)`; anything else is one
/// runtime part. Bounded in depth, so hostile nesting cannot overflow the
/// stack.
fn runtime_string(e: &Expr) -> Option<RuntimeString> {
    fn go(e: &Expr, depth: usize) -> Option<RuntimeString> {
        if depth > 32 {
            return None;
        }
        let runtime = |e: &Expr| RuntimeString {
            literal: String::new(),
            runtime: vec![snippet(e.span())],
        };
        Some(match e {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => RuntimeString {
                literal: s.value(),
                runtime: Vec::new(),
            },
            Expr::Reference(r) => go(&r.expr, depth + 1)?,
            Expr::Paren(p) => go(&p.expr, depth + 1)?,
            Expr::Group(g) => go(&g.expr, depth + 1)?,
            Expr::Binary(b) if matches!(b.op, syn::BinOp::Add(_)) => {
                let mut out = go(&b.left, depth + 1)?;
                out.push(go(&b.right, depth + 1)?);
                out
            }
            Expr::MethodCall(m)
                if m.args.is_empty()
                    && matches!(
                        m.method.to_string().as_str(),
                        "to_string" | "to_owned" | "as_str" | "into" | "as_ref"
                    ) =>
            {
                go(&m.receiver, depth + 1)?
            }
            Expr::MethodCall(m)
                if (m.method == "concat" && m.args.is_empty())
                    || (m.method == "join"
                        && matches!(m.args.first(), Some(Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. })) if s.value().is_empty())) =>
            {
                let mut receiver = &*m.receiver;
                while let Expr::Reference(r) = receiver {
                    receiver = &r.expr;
                }
                let Expr::Array(array) = receiver else {
                    return Some(runtime(e));
                };
                let mut out = RuntimeString::default();
                for element in &array.elems {
                    out.push(go(element, depth + 1)?);
                }
                out
            }
            Expr::Call(c)
                if c.args.len() == 1
                    && matches!(&*c.func, Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "from")) =>
            {
                go(&c.args[0], depth + 1)?
            }
            Expr::Macro(m)
                if m.mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "format") =>
            {
                format_parts(&m.mac)?
            }
            _ => runtime(e),
        })
    }
    go(e, 0)
}

/// `format!("…", args)`: the format string's text, with each placeholder
/// (`{}`, `{base}`, `{0}`, `{:>8}`) a runtime part; `{{` and `}}` are braces.
fn format_parts(mac: &syn::Macro) -> Option<RuntimeString> {
    let args = mac
        .parse_body_with(syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated)
        .ok()?;
    let mut args = args.iter();
    let Some(Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(template),
        ..
    })) = args.next()
    else {
        return None;
    };
    let positional: Vec<String> = args.map(|a| snippet(a.span())).collect();
    let mut out = RuntimeString::default();
    let mut next = 0;
    for piece in format_pieces(&template.value()) {
        match piece {
            Ok(text) => out.literal.push_str(&text),
            Err(Hole::Next) => {
                out.runtime.push(
                    positional
                        .get(next)
                        .cloned()
                        .unwrap_or_else(|| "{}".to_owned()),
                );
                next += 1;
            }
            Err(Hole::Index(i)) => out.runtime.push(
                positional
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("{{{i}}}")),
            ),
            Err(Hole::Name(name)) => out.runtime.push(name),
        }
    }
    Some(out)
}

fn snippet(span: Span) -> String {
    let text = span
        .source_text()
        .unwrap_or_else(|| "expression".to_owned());
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 60 {
        let mut short: String = text.chars().take(57).collect();
        short.push_str("...");
        short
    } else {
        text
    }
}

struct Walker<'a, 'i, 'd> {
    ix: &'i Index<'a>,
    module: &'i [String],
    file: usize,
    scopes: Vec<Vec<Binding<'a>>>,
    out: FnRoutes,
    closure_depth: usize,
    too_deep: bool,
    diags: &'d mut Vec<Diagnostic>,
}

/// The direct sub-expressions and blocks of an expression.
#[derive(Default)]
struct Children<'a> {
    exprs: Vec<&'a Expr>,
    blocks: Vec<&'a Block>,
}

impl<'a> Visit<'a> for Children<'a> {
    fn visit_expr(&mut self, e: &'a Expr) {
        self.exprs.push(e);
    }
    fn visit_block(&mut self, b: &'a Block) {
        self.blocks.push(b);
    }
    fn visit_item(&mut self, _: &'a syn::Item) {}
}

impl<'a> Walker<'a, '_, '_> {
    fn diag(&mut self, span: Span, message: String) {
        let file = self
            .ix
            .files
            .get(self.file)
            .map_or("", |f| f.rel_path.as_str());
        self.diags
            .push(Diagnostic::new(file, Some(line_of(span)), message));
    }

    fn resolve(&self, path: &syn::Path) -> Option<String> {
        self.ix.resolve_fn(self.module, &path_segments(path))
    }

    // ------------------------------------------------------------ scopes

    fn bind(&mut self, name: String, value: Value<'a>, config: bool) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(Binding {
                name,
                value,
                used: false,
                config,
            });
        } else {
            self.sink(value);
        }
    }

    /// Binds a `let` pattern: a name, or a tuple of names taking a tuple
    /// value element by element (`let (router, api) = r.split_for_parts()`).
    fn bind_pat(&mut self, pat: &Pat, value: Value<'a>) {
        if let Some(name) = pat_ident(pat) {
            self.bind(name, value, false);
            return;
        }
        match (pat_tuple(pat), value) {
            (Some(pats), Value::Tuple(values)) if pats.len() == values.len() => {
                for (pat, value) in pats.iter().zip(values) {
                    self.bind_pat(pat, value);
                }
            }
            (_, value) => self.sink(value),
        }
    }

    fn lookup(&mut self, name: &str) -> Option<&mut Binding<'a>> {
        self.scopes
            .iter_mut()
            .rev()
            .find_map(|scope| scope.iter_mut().rev().find(|b| b.name == name))
    }

    /// Leaves a scope; routers bound in it and never used are loose.
    fn pop_scope(&mut self) -> Vec<Binding<'a>> {
        let mut scope = self.scopes.pop().unwrap_or_default();
        let mut kept = Vec::new();
        for binding in scope.drain(..) {
            if binding.config {
                kept.push(binding);
            } else if !binding.used {
                self.sink(binding.value);
            }
        }
        kept
    }

    /// A value nobody consumes: a router in it is a root of its own.
    fn sink(&mut self, value: Value<'a>) {
        match value {
            Value::Routes(r) => {
                let entries = r.close();
                if !entries.is_empty() {
                    self.out.loose.push(entries);
                }
            }
            Value::Tuple(values) => {
                for v in values {
                    self.sink(v);
                }
            }
            _ => {}
        }
    }

    /// A value as router entries: a router, or a call to a function of the
    /// analyzed code that may build one.
    fn as_entries(&self, value: Value<'a>, style: Style) -> Result<Vec<Entry>, Value<'a>> {
        match value {
            Value::Routes(r) => Ok(r.close()),
            Value::Call { path, line } => match self.resolve(path) {
                Some(target) => Ok(vec![Entry::Include {
                    prefix: String::new(),
                    style,
                    target,
                    config: false,
                    file: self.file,
                    line,
                }]),
                None => Err(Value::Unknown),
            },
            other => Err(other),
        }
    }

    fn add_returned(&mut self, value: Value<'a>) {
        match self.as_entries(value, Style::Axum) {
            Ok(entries) => self
                .out
                .returned
                .get_or_insert_with(Vec::new)
                .extend(entries),
            Err(other) => self.sink(other),
        }
    }

    // ------------------------------------------------------------ walking

    fn walk_block(&mut self, block: &'a Block, depth: usize) -> Value<'a> {
        self.scopes.push(Vec::new());
        let mut tail = Value::Unknown;
        let last = block.stmts.len().saturating_sub(1);
        for (i, stmt) in block.stmts.iter().enumerate() {
            match stmt {
                Stmt::Local(local) => {
                    let mut value = Value::Unknown;
                    if let Some(init) = &local.init {
                        value = self.eval(&init.expr, depth + 1);
                        if let Some((_, diverge)) = &init.diverge {
                            let v = self.eval(diverge, depth + 1);
                            self.sink(v);
                        }
                    }
                    self.bind_pat(&local.pat, value);
                }
                Stmt::Expr(e, semi) => {
                    let value = self.eval(e, depth + 1);
                    if semi.is_none() && i == last {
                        tail = value;
                    } else {
                        self.sink(value);
                    }
                }
                Stmt::Macro(m) => {
                    let value = self.eval_macro(&m.mac, depth + 1);
                    self.sink(value);
                }
                Stmt::Item(_) => {}
            }
        }
        self.pop_scope();
        tail
    }

    fn eval(&mut self, e: &'a Expr, depth: usize) -> Value<'a> {
        if depth > MAX_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.diag(
                    e.span(),
                    format!("expression nested more than {MAX_DEPTH} levels deep; routes inside it are skipped"),
                );
            }
            return Value::Unknown;
        }
        let d = depth + 1;
        match e {
            Expr::MethodCall(_) => self.eval_chain(e, d),
            Expr::Call(call) => self.eval_call(call, d),
            Expr::Path(p) => self.eval_path(p),
            Expr::Lit(lit) => match &lit.lit {
                syn::Lit::Str(s) => Value::Str(s.value()),
                _ => Value::Unknown,
            },
            Expr::Reference(r) => self.eval(&r.expr, d),
            Expr::Paren(p) => self.eval(&p.expr, d),
            Expr::Group(g) => self.eval(&g.expr, d),
            Expr::Try(t) => self.eval(&t.expr, d),
            Expr::Await(a) => self.eval(&a.base, d),
            Expr::Tuple(t) => Value::Tuple(t.elems.iter().map(|x| self.eval(x, d)).collect()),
            Expr::Macro(m) => self.eval_macro(&m.mac, d),
            Expr::Block(b) => self.walk_block(&b.block, d),
            Expr::Unsafe(b) => self.walk_block(&b.block, d),
            Expr::Return(r) => {
                if let Some(x) = &r.expr {
                    let v = self.eval(x, d);
                    if self.closure_depth == 0 {
                        self.add_returned(v);
                    } else {
                        self.sink(v);
                    }
                }
                Value::Unknown
            }
            Expr::Assign(a) => self.eval_assign(a, d),
            Expr::Closure(c) => {
                let params = closure_params(c);
                self.scopes.push(params);
                self.closure_depth += 1;
                let v = self.eval(&c.body, d);
                self.closure_depth -= 1;
                self.pop_scope();
                self.sink(v);
                Value::Unknown
            }
            Expr::If(i) => {
                let cond = self.eval(&i.cond, d);
                self.sink(cond);
                let then = self.walk_block(&i.then_branch, d);
                let other = match &i.else_branch {
                    Some((_, e)) => self.eval(e, d),
                    None => Value::Unknown,
                };
                self.union(vec![then, other])
            }
            Expr::Match(m) => self.eval_match(m, d),
            _ => {
                self.eval_children(e, d);
                Value::Unknown
            }
        }
    }

    /// `x = expr`: a local bound to a router is re-bound.
    fn eval_assign(&mut self, a: &'a syn::ExprAssign, depth: usize) -> Value<'a> {
        let v = self.eval(&a.right, depth);
        if let Expr::Path(p) = &*a.left
            && let Some(name) = p.path.get_ident().map(ToString::to_string)
            && let Some(binding) = self.lookup(&name)
        {
            binding.value = v;
            binding.used = binding.config;
            return Value::Unknown;
        }
        self.sink(v);
        Value::Unknown
    }

    fn eval_match(&mut self, m: &'a syn::ExprMatch, depth: usize) -> Value<'a> {
        let scrutinee = self.eval(&m.expr, depth);
        self.sink(scrutinee);
        let mut values = Vec::new();
        for arm in &m.arms {
            if let Some((_, guard)) = &arm.guard {
                let g = self.eval(guard, depth);
                self.sink(g);
            }
            values.push(self.eval(&arm.body, depth));
        }
        self.union(values)
    }

    /// Any other expression: its parts are evaluated for routers of their
    /// own, and it has no value of interest.
    fn eval_children(&mut self, e: &'a Expr, depth: usize) {
        let mut children = Children::default();
        syn::visit::visit_expr(&mut children, e);
        for child in children.exprs {
            let v = self.eval(child, depth);
            self.sink(v);
        }
        for block in children.blocks {
            let v = self.walk_block(block, depth);
            self.sink(v);
        }
    }

    /// Branches of an `if` / `match`: routers in any branch, together.
    fn union(&mut self, values: Vec<Value<'a>>) -> Value<'a> {
        let mut entries = Vec::new();
        let mut any = false;
        for v in values {
            match v {
                Value::Unknown => {}
                other => match self.as_entries(other, Style::Axum) {
                    Ok(es) => {
                        any = true;
                        entries.extend(es);
                    }
                    Err(other) => self.sink(other),
                },
            }
        }
        if any {
            Value::Routes(Routes {
                scope: None,
                entries,
            })
        } else {
            Value::Unknown
        }
    }

    fn eval_path(&mut self, p: &'a ExprPath) -> Value<'a> {
        if p.qself.is_none()
            && let Some(name) = p.path.get_ident().map(ToString::to_string)
            && let Some(binding) = self.lookup(&name)
        {
            binding.used = true;
            return binding.value.clone();
        }
        Value::Path(p)
    }

    /// A string for a route path or prefix: a literal, `concat!` of
    /// literals, a local bound to one, or a string constant of the crate.
    /// One built at run time from literals and values the analysis cannot
    /// know (`format!("{base}/api")`, `[base, "/api"].concat()`,
    /// `base.to_owned() + "/api"`) keeps its literal part, taking the
    /// runtime parts as empty, and a diagnostic says so.
    fn path_arg(&mut self, e: &'a Expr, what: &str, depth: usize) -> Option<String> {
        let found = match self.eval(e, depth) {
            Value::Str(s) => return Some(s),
            Value::Path(p) => {
                let found = self.ix.resolve_const(self.module, &path_segments(&p.path));
                if found.is_some() {
                    return found;
                }
                None
            }
            other => {
                self.sink(other);
                None
            }
        };
        if let Some(RuntimeString { literal, runtime }) = runtime_string(e)
            && !literal.is_empty()
            && !runtime.is_empty()
        {
            self.diag(
                e.span(),
                format!(
                    "{what} `{}` is built at run time: assumed `{}` empty, so the path kept is `{literal}`; \
                     write the real prefix into the plan's routes if it is not empty",
                    snippet(e.span()),
                    runtime.join("`, `")
                ),
            );
            return Some(literal);
        }
        self.diag(
            e.span(),
            format!(
                "{what} `{}` is not a string literal or a string constant of this crate; skipped",
                snippet(e.span())
            ),
        );
        found
    }

    // ------------------------------------------------------------ macros

    fn eval_macro(&mut self, mac: &'a syn::Macro, _depth: usize) -> Value<'a> {
        let Some(name) = mac.path.segments.last().map(|s| s.ident.to_string()) else {
            return Value::Unknown;
        };
        match name.as_str() {
            "concat" => concat_macro(mac).map_or(Value::Unknown, Value::Str),
            "routes" => self.rocket_routes(mac),
            _ => Value::Unknown,
        }
    }

    fn eval_call(&mut self, call: &'a ExprCall, depth: usize) -> Value<'a> {
        let Expr::Path(func) = &*call.func else {
            return self.generic_call(call, depth);
        };
        let segs = path_segments(&func.path);
        let Some(last) = segs.last().map(String::as_str) else {
            return Value::Unknown;
        };
        let prev = segs
            .len()
            .checked_sub(2)
            .and_then(|i| segs.get(i))
            .map(String::as_str);
        let args: Vec<&'a Expr> = call.args.iter().collect();
        let line = line_of(func.span());
        if let Some(value) = self.framework_call(prev, last, &args, line, depth) {
            return value;
        }
        self.call_of_fn(&func.path, &args, line, depth)
    }

    /// A call to a function by path: maybe a router-building function of
    /// the analyzed code, maybe one that registers on a `ServiceConfig` or
    /// extends a router it is given. The path is resolved only when that
    /// matters.
    fn call_of_fn(
        &mut self,
        path: &'a syn::Path,
        args: &[&'a Expr],
        line: u32,
        depth: usize,
    ) -> Value<'a> {
        let mut carried = Vec::new();
        let mut target: Option<Option<String>> = None;
        let file = self.file;
        for arg in args {
            // `users::config(cfg)`: the callee registers on our config.
            if let Some(name) = local_name(arg)
                && self.lookup(&name).is_some_and(|b| b.config)
            {
                let resolved = target.get_or_insert_with(|| self.resolve(path)).clone();
                if let Some(resolved) = resolved
                    && let Some(binding) = self.lookup(&name)
                    && let Value::Routes(r) = &mut binding.value
                {
                    r.entries.push(Entry::Include {
                        prefix: String::new(),
                        style: Style::Actix,
                        target: resolved,
                        config: true,
                        file,
                        line,
                    });
                }
                continue;
            }
            // `with_routes(router)`: the callee extends a router it is given.
            match self.eval(arg, depth) {
                Value::Routes(r) => carried.extend(r.close()),
                other => self.sink(other),
            }
        }
        if carried.is_empty() {
            return Value::Call { path, line };
        }
        let Some(resolved) = target.unwrap_or_else(|| self.resolve(path)) else {
            // `axum::serve(listener, app)`: the router is served as it is.
            self.out.loose.push(carried);
            return Value::Unknown;
        };
        carried.push(Entry::Include {
            prefix: String::new(),
            style: Style::Axum,
            target: resolved,
            config: false,
            file,
            line,
        });
        Value::Routes(Routes {
            scope: None,
            entries: carried,
        })
    }

    fn generic_call(&mut self, call: &'a ExprCall, depth: usize) -> Value<'a> {
        let f = self.eval(&call.func, depth);
        self.sink(f);
        for arg in &call.args {
            let v = self.eval(arg, depth);
            self.sink(v);
        }
        Value::Unknown
    }

    /// The function a handler argument names: `h`, `module::h`, `h::<T>`,
    /// `&h`, `h.into_service()`. Closures and calls name none.
    fn handler_of(&self, e: &Expr) -> Option<String> {
        let mut e = e;
        for _ in 0..32 {
            match e {
                Expr::Path(p) => return self.resolve(&p.path),
                Expr::Reference(r) => e = &r.expr,
                Expr::Paren(p) => e = &p.expr,
                Expr::Group(g) => e = &g.expr,
                Expr::MethodCall(m) => e = &m.receiver,
                _ => return None,
            }
        }
        None
    }

    // ------------------------------------------------------------ chains

    fn eval_chain(&mut self, e: &'a Expr, depth: usize) -> Value<'a> {
        let mut links = Vec::new();
        let mut base = e;
        while let Expr::MethodCall(mc) = base {
            links.push(mc);
            base = &mc.receiver;
        }
        // Calls on an actix `ServiceConfig` register in place.
        let config_base = match base {
            Expr::Path(p) => p
                .path
                .get_ident()
                .map(ToString::to_string)
                .filter(|name| self.lookup(name).is_some_and(|b| b.config)),
            _ => None,
        };
        let mut value = self.eval(base, depth);
        for mc in links.into_iter().rev() {
            value = self.apply(value, mc, depth);
        }
        if let Some(name) = config_base
            && matches!(value, Value::Routes(_))
            && let Some(binding) = self.lookup(&name)
        {
            binding.value = value;
            return Value::Unknown;
        }
        value
    }

    fn sink_args(&mut self, mc: &'a ExprMethodCall, depth: usize) {
        for arg in &mc.args {
            let v = self.eval(arg, depth);
            self.sink(v);
        }
    }
}

/// The single identifier `e` names, through `&` / `&mut`.
fn local_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
        Expr::Reference(r) => local_name(&r.expr),
        _ => None,
    }
}
