//! Route paths written as constant expressions. Project wrappers of
//! actix-web's codegen (`#[my_codegen::post(path = "crate::ROUTES.account.update")]`)
//! take the path as a string holding a Rust expression: a field of a
//! `const` whose value `const fn`s build, such as
//!
//! ```text
//! pub const ROUTES: Routes = Routes::new();
//! impl Routes { const fn new() -> Routes { Routes { account: Account::new() } } }
//! impl Account {
//!     const fn new() -> Account { let update = "/api/account/update"; Account { update } }
//! }
//! ```
//!
//! The constant, its `const fn`s and the `use` that names it are usually in
//! different files, so each worker records what it sees in [`ConstFacts`]
//! (owned, so it is `Send`) and the expressions are evaluated when the parts
//! are linked.
//!
//! Evaluated: string and integer literals, `concat!` of literals, paths to
//! `const` / `static` items (associated ones too) and to locals, field
//! access, calls of `const fn`s (arguments bound to parameters), whose body
//! is `let name = expr;` statements and a tail expression (or `return`),
//! struct literals (shorthand and `field: expr`), `s.len()`, `&s[a..b]`
//! and `+` / `-` on integers. Anything else is a [`Miss`] naming what
//! stopped the evaluation.
//!
//! Names resolve syntactically ([`candidates`]) and through `use` imports
//! (renames, groups, globs, `pub use` re-exports along the path), which this
//! module follows itself: the symbols pass's resolver knows functions,
//! types and string constants, but not constants of other types.
//! FIXME: once the symbols pass records every `const` item, resolve through
//! it and drop the import follower here.
//!
//! Bounded on hostile input: at most [`MAX_DEPTH`] nested evaluations,
//! [`MAX_STEPS`] steps per expression, [`MAX_LETS`] statements per
//! `const fn`, [`MAX_HOPS`] imports followed per name; a constant, `const
//! fn` or struct field met again while it is being evaluated is a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

use syn::spanned::Spanned;
use syn::{Block, Expr, FnArg, Lit, Pat, Signature, Stmt, UseTree};

use super::snippet;
use crate::rust::consts::concat_macro;
use crate::rust::paths::{candidates, path_id, path_segments};

/// Evaluations nested deeper than this (calls, constants, fields,
/// sub-expressions) stop the evaluation.
pub(crate) const MAX_DEPTH: usize = 64;
/// Steps one route path may take.
pub(crate) const MAX_STEPS: usize = 10_000;
/// A `const fn` with more statements than this is not evaluated.
pub(crate) const MAX_LETS: usize = 256;
/// `use` imports followed to find one name, at most.
const MAX_HOPS: usize = 8;
/// Candidate paths tried to find one name, at most.
const MAX_LOOKUPS: usize = 512;

/// A constant expression, as far as the evaluator follows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ConstExpr {
    /// A string.
    Str(String),
    /// An integer (slice bounds).
    Int(usize),
    /// A local, a parameter or a constant, as written (`Self` replaced by
    /// the impl's type).
    Path(Vec<String>),
    /// `base.field`.
    Field(Box<ConstExpr>, String),
    /// A call of a function by path, with its arguments.
    Call(Vec<String>, Vec<ConstExpr>),
    /// A struct literal's fields (shorthand ones as paths).
    Struct(Vec<(String, ConstExpr)>),
    /// `s.len()`.
    Len(Box<ConstExpr>),
    /// `s[lo..hi]`, either bound optional.
    Slice(
        Box<ConstExpr>,
        Option<Box<ConstExpr>>,
        Option<Box<ConstExpr>>,
    ),
    /// `a + b` on integers.
    Add(Box<ConstExpr>, Box<ConstExpr>),
    /// `a - b` on integers.
    Sub(Box<ConstExpr>, Box<ConstExpr>),
    /// Anything else: why it is not evaluated.
    Other(String),
}

/// A `const fn`: its parameters and its body as `let`s and a tail.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ConstFn {
    /// The module its body is written in.
    module: Vec<String>,
    params: Vec<String>,
    lets: Vec<(String, ConstExpr)>,
    tail: ConstExpr,
}

/// A `const` or `static` item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ConstItem {
    /// The module its expression is written in.
    module: Vec<String>,
    expr: ConstExpr,
}

/// What some files contribute to evaluating constant expressions: their
/// `const` / `static` items, `const fn`s and `use` imports.
#[derive(Debug, Default)]
pub(crate) struct ConstFacts {
    /// By id (`crate::module::NAME`, `crate::module::Type::NAME`).
    items: BTreeMap<String, ConstItem>,
    /// By id (`crate::module::f`, `crate::module::Type::f`).
    fns: BTreeMap<String, ConstFn>,
    /// Module id → name brought into scope → paths as written there.
    imports: BTreeMap<String, BTreeMap<String, BTreeSet<Vec<String>>>>,
    /// Module id → glob-imported paths as written there.
    globs: BTreeMap<String, BTreeSet<Vec<String>>>,
    crates: BTreeSet<String>,
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Miss {
    /// A path naming no constant or local.
    NoConst(String),
    /// A call of something that is not a `const fn` of the analyzed code.
    NoFn(String),
    /// A call with the wrong number of arguments.
    Args {
        callee: String,
        want: usize,
        got: usize,
    },
    /// A field the struct does not have; `origin` built the struct.
    NoField { field: String, origin: String },
    /// A field of a value that is not a struct.
    NotStruct { field: String, what: &'static str },
    /// An operation on the wrong kind of value.
    Kind {
        op: &'static str,
        what: &'static str,
    },
    /// The value is not a string.
    NotString(&'static str),
    /// A slice out of range or not on a character boundary.
    Slice,
    /// Integer arithmetic out of range.
    Overflow,
    /// A constant, `const fn` or field met again while evaluating it.
    Cycle(String),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More than [`MAX_STEPS`] steps.
    TooLong,
    /// A kind of expression that is not evaluated: why.
    Unsupported(String),
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoConst(p) => write!(f, "`{p}` names no constant of the analyzed code"),
            Self::NoFn(p) => write!(f, "`{p}` is not a `const fn` of the analyzed code"),
            Self::Args { callee, want, got } => {
                write!(f, "`{callee}` takes {want} arguments, not {got}")
            }
            Self::NoField { field, origin } if origin.is_empty() => {
                write!(f, "the struct has no field `{field}`")
            }
            Self::NoField { field, origin } => {
                write!(f, "the value of `{origin}` has no field `{field}`")
            }
            Self::NotStruct { field, what } => {
                write!(f, "field `{field}` of {what}, not of a struct")
            }
            Self::Kind { op, what } => write!(f, "{op} of {what}"),
            Self::NotString(what) => write!(f, "its value is {what}, not a string"),
            Self::Slice => f.write_str("the slice is out of range"),
            Self::Overflow => f.write_str("integer arithmetic out of range"),
            Self::Cycle(what) => write!(f, "`{what}` refers to itself"),
            Self::TooDeep => write!(f, "nested more than {MAX_DEPTH} levels deep"),
            Self::TooLong => write!(f, "more than {MAX_STEPS} steps"),
            Self::Unsupported(why) => f.write_str(why),
        }
    }
}

impl ConstFacts {
    /// Adds another part's facts. When two files define the same id
    /// (cfg-gated twins, a package's `lib.rs` and `main.rs`), the smaller
    /// definition wins, so the result does not depend on the parts' order.
    pub(crate) fn merge(&mut self, other: Self) {
        for (id, item) in other.items {
            insert_min(&mut self.items, id, item);
        }
        for (id, f) in other.fns {
            insert_min(&mut self.fns, id, f);
        }
        for (module, names) in other.imports {
            let mine = self.imports.entry(module).or_default();
            for (name, paths) in names {
                mine.entry(name).or_default().extend(paths);
            }
        }
        for (module, paths) in other.globs {
            self.globs.entry(module).or_default().extend(paths);
        }
        self.crates.extend(other.crates);
    }

    /// Records a crate name (for paths starting with one).
    pub(crate) fn add_crate(&mut self, name: &str) {
        if !self.crates.contains(name) {
            self.crates.insert(name.to_owned());
        }
    }

    /// Records `owner::name = expr`, written in `module`; `self_ty` is the
    /// impl's type for associated constants.
    pub(crate) fn add_const(
        &mut self,
        owner: &[String],
        module: &[String],
        self_ty: Option<&[String]>,
        name: &str,
        expr: &Expr,
    ) {
        let item = ConstItem {
            module: module.to_vec(),
            expr: convert(expr, self_ty, 0),
        };
        insert_min(&mut self.items, path_id(owner, name), item);
    }

    /// Records `const fn` `id`, written in `module`; `self_ty` is the
    /// impl's type for methods. Other functions are not recorded.
    pub(crate) fn add_fn(
        &mut self,
        id: &str,
        module: &[String],
        self_ty: Option<&[String]>,
        sig: &Signature,
        block: &Block,
    ) {
        if sig.constness.is_none() {
            return;
        }
        let params = sig
            .inputs
            .iter()
            .map(|input| match input {
                FnArg::Receiver(_) => "self".to_owned(),
                FnArg::Typed(t) => pat_name(&t.pat).unwrap_or_else(|| "_".to_owned()),
            })
            .collect();
        let (lets, tail) = convert_body(block, self_ty);
        let f = ConstFn {
            module: module.to_vec(),
            params,
            lets,
            tail,
        };
        insert_min(&mut self.fns, id.to_owned(), f);
    }

    /// Records a `use` item written in `module`.
    pub(crate) fn add_use(&mut self, module: &[String], tree: &UseTree) {
        self.use_tree(&module.join("::"), tree, &mut Vec::new(), 0);
    }

    fn use_tree(&mut self, module: &str, tree: &UseTree, prefix: &mut Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let (name, path) = match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(module, &p.tree, prefix, depth + 1);
                prefix.pop();
                return;
            }
            UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(module, tree, prefix, depth + 1);
                }
                return;
            }
            UseTree::Glob(_) => {
                self.globs
                    .entry(module.to_owned())
                    .or_default()
                    .insert(prefix.clone());
                return;
            }
            // `use a::b::{self}` brings `b` into scope.
            UseTree::Name(n) if n.ident == "self" => match prefix.last() {
                Some(last) => (last.clone(), prefix.clone()),
                None => return,
            },
            UseTree::Name(n) => {
                let mut path = prefix.clone();
                path.push(n.ident.to_string());
                (n.ident.to_string(), path)
            }
            UseTree::Rename(r) => {
                let mut path = prefix.clone();
                path.push(r.ident.to_string());
                (r.rename.to_string(), path)
            }
        };
        if name == "_" {
            return;
        }
        self.imports
            .entry(module.to_owned())
            .or_default()
            .entry(name)
            .or_default()
            .insert(path);
    }

    /// The string `expr`, written in `module`, evaluates to.
    pub(crate) fn eval_str(&self, module: &[String], expr: &ConstExpr) -> Result<String, Miss> {
        let mut ev = Evaluator {
            facts: self,
            steps: 0,
            stack: Vec::new(),
        };
        let env = Env {
            module,
            locals: None,
        };
        match ev.eval(expr, &env, 0)? {
            Val::Str(s) => Ok(s),
            Val::Int(_) => Err(Miss::NotString("an integer")),
            Val::Struct(_) => Err(Miss::NotString("a struct")),
        }
    }

    /// The id of the item of `kind` that `path` names inside `module`.
    fn find(&self, module: &[String], path: &[String], kind: Kind) -> Option<&str> {
        let mut budget = MAX_LOOKUPS;
        self.find_in(module, path, kind, 0, &mut budget)
    }

    fn find_in(
        &self,
        module: &[String],
        path: &[String],
        kind: Kind,
        hops: usize,
        budget: &mut usize,
    ) -> Option<&str> {
        for candidate in candidates(module, path, &self.crates) {
            *budget = budget.checked_sub(1)?;
            let found = match kind {
                Kind::Fn => self.fns.get_key_value(&candidate).map(|(k, _)| k.as_str()),
                Kind::Const => self
                    .items
                    .get_key_value(&candidate)
                    .map(|(k, _)| k.as_str()),
            };
            if found.is_some() {
                return found;
            }
            if hops >= MAX_HOPS {
                continue;
            }
            // Through a `use` in a module along the path: `m::name::rest`
            // where `m` imports `name` (or has a glob that may hold it).
            let segments: Vec<String> = candidate.split("::").map(str::to_owned).collect();
            for i in 1..segments.len() {
                let (within, rest) = segments.split_at(i);
                let module_id = within.join("::");
                let Some((name, after)) = rest.split_first() else {
                    continue;
                };
                let targets = self
                    .imports
                    .get(&module_id)
                    .and_then(|names| names.get(name))
                    .into_iter()
                    .flatten()
                    .map(|target| [target.as_slice(), after].concat());
                let globbed = self
                    .globs
                    .get(&module_id)
                    .into_iter()
                    .flatten()
                    .map(|glob| [glob.as_slice(), rest].concat());
                for next in targets.chain(globbed).collect::<Vec<_>>() {
                    if let Some(found) = self.find_in(within, &next, kind, hops + 1, budget) {
                        return Some(found);
                    }
                    if *budget == 0 {
                        return None;
                    }
                }
            }
        }
        None
    }
}

/// What a name is looked up as.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A `const` or `static` item.
    Const,
    /// A `const fn`.
    Fn,
}

/// Inserts `value` unless a smaller one is there.
fn insert_min<T: Ord>(map: &mut BTreeMap<String, T>, id: String, value: T) {
    match map.get(&id) {
        Some(old) if *old <= value => {}
        _ => {
            map.insert(id, value);
        }
    }
}

fn pat_name(pat: &Pat) -> Option<String> {
    match pat {
        Pat::Ident(p) if p.subpat.is_none() => Some(p.ident.to_string()),
        Pat::Type(t) => pat_name(&t.pat),
        _ => None,
    }
}

/// A `const fn` body as `let`s and a tail; a statement of another kind
/// makes the tail say so.
fn convert_body(
    block: &Block,
    self_ty: Option<&[String]>,
) -> (Vec<(String, ConstExpr)>, ConstExpr) {
    let mut lets = Vec::new();
    let last = block.stmts.len().saturating_sub(1);
    for (i, stmt) in block.stmts.iter().enumerate() {
        if lets.len() >= MAX_LETS {
            return (
                Vec::new(),
                ConstExpr::Other(format!(
                    "a `const fn` of more than {MAX_LETS} statements is not evaluated"
                )),
            );
        }
        match stmt {
            Stmt::Local(local) => {
                let (Some(name), Some(init)) = (pat_name(&local.pat), &local.init) else {
                    return (lets, other(local));
                };
                if init.diverge.is_some() {
                    return (lets, other(local));
                }
                lets.push((name, convert(&init.expr, self_ty, 0)));
            }
            Stmt::Item(_) => {}
            Stmt::Expr(Expr::Return(r), _) if i == last => {
                let tail = match &r.expr {
                    Some(e) => convert(e, self_ty, 0),
                    None => other(r),
                };
                return (lets, tail);
            }
            Stmt::Expr(e, None) if i == last => return (lets, convert(e, self_ty, 0)),
            Stmt::Expr(..) | Stmt::Macro(_) => return (lets, other(stmt)),
        }
    }
    (
        lets,
        ConstExpr::Other("a `const fn` without a value".to_owned()),
    )
}

/// Why `node` is not evaluated: what it is, as written (shortened; a long
/// expression, such as a table of data, is not copied).
fn other(node: &impl Spanned) -> ConstExpr {
    let span = node.span();
    let lines = span.end().line.saturating_sub(span.start().line) + 1;
    if lines > 3 {
        return ConstExpr::Other(format!("an expression of {lines} lines is not evaluated"));
    }
    ConstExpr::Other(format!("`{}` is not evaluated", snippet(span)))
}

/// The evaluator's form of `e`; `self_ty` replaces a leading `Self`.
pub(crate) fn convert(e: &Expr, self_ty: Option<&[String]>, depth: usize) -> ConstExpr {
    if depth > MAX_DEPTH {
        return other(e);
    }
    let sub = |e: &Expr| Box::new(convert(e, self_ty, depth + 1));
    match e {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => ConstExpr::Str(s.value()),
            Lit::Int(i) => i
                .base10_parse::<usize>()
                .map_or_else(|_| other(e), ConstExpr::Int),
            _ => other(e),
        },
        Expr::Path(p) if p.qself.is_none() => ConstExpr::Path(own_path(&p.path, self_ty)),
        Expr::Field(f) => match &f.member {
            syn::Member::Named(name) => ConstExpr::Field(sub(&f.base), name.to_string()),
            syn::Member::Unnamed(_) => other(e),
        },
        Expr::Call(call) => match &*call.func {
            Expr::Path(p) if p.qself.is_none() => ConstExpr::Call(
                own_path(&p.path, self_ty),
                call.args
                    .iter()
                    .map(|a| convert(a, self_ty, depth + 1))
                    .collect(),
            ),
            _ => other(e),
        },
        Expr::Struct(s) => {
            let mut fields = Vec::new();
            for field in &s.fields {
                let syn::Member::Named(name) = &field.member else {
                    return other(e);
                };
                fields.push((name.to_string(), convert(&field.expr, self_ty, depth + 1)));
            }
            ConstExpr::Struct(fields)
        }
        Expr::MethodCall(m) if m.method == "len" && m.args.is_empty() => {
            ConstExpr::Len(sub(&m.receiver))
        }
        Expr::MethodCall(m) => ConstExpr::Other(format!(
            "the method call `.{}(..)` is not evaluated (only `.len()` is)",
            m.method
        )),
        Expr::Index(ix) => match &*ix.index {
            Expr::Range(r) => {
                let lo = r.start.as_deref().map(sub);
                let hi = match (&r.limits, r.end.as_deref()) {
                    (syn::RangeLimits::HalfOpen(_), end) => end.map(sub),
                    // `a..=b` is `a..b + 1`.
                    (syn::RangeLimits::Closed(_), Some(end)) => Some(Box::new(ConstExpr::Add(
                        sub(end),
                        Box::new(ConstExpr::Int(1)),
                    ))),
                    (syn::RangeLimits::Closed(_), None) => return other(e),
                };
                ConstExpr::Slice(sub(&ix.expr), lo, hi)
            }
            _ => other(e),
        },
        Expr::Binary(b) => match b.op {
            syn::BinOp::Add(_) => ConstExpr::Add(sub(&b.left), sub(&b.right)),
            syn::BinOp::Sub(_) => ConstExpr::Sub(sub(&b.left), sub(&b.right)),
            _ => other(e),
        },
        Expr::Reference(r) => convert(&r.expr, self_ty, depth + 1),
        Expr::Paren(p) => convert(&p.expr, self_ty, depth + 1),
        Expr::Group(g) => convert(&g.expr, self_ty, depth + 1),
        Expr::Macro(m) => concat_macro(&m.mac).map_or_else(|| other(e), ConstExpr::Str),
        _ => other(e),
    }
}

/// A path's segments, a leading `Self` replaced by the impl's type
/// (as a `crate::` path).
fn own_path(path: &syn::Path, self_ty: Option<&[String]>) -> Vec<String> {
    let segments = path_segments(path);
    match (segments.split_first(), self_ty) {
        (Some((first, rest)), Some(ty)) if first == "Self" => {
            let mut out = vec!["crate".to_owned()];
            out.extend(ty.iter().skip(1).cloned());
            out.extend(rest.iter().cloned());
            out
        }
        _ => segments,
    }
}

// ------------------------------------------------------------ evaluation

#[derive(Debug, Clone)]
enum Val<'f> {
    Str(String),
    Int(usize),
    Struct(Rc<Obj<'f>>),
}

impl Val<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::Int(_) => "an integer",
            Self::Struct(_) => "a struct",
        }
    }
}

/// A struct literal's value: its fields are evaluated when read, in the
/// scope the literal was written in.
#[derive(Debug)]
struct Obj<'f> {
    /// The constant or `const fn` whose evaluation built it (empty for a
    /// literal in the route path itself).
    origin: &'f str,
    fields: &'f [(String, ConstExpr)],
    env: Env<'f>,
}

/// Locals, newest first. A local whose value failed keeps why, so only a
/// use of it fails.
#[derive(Debug)]
struct Local<'f> {
    name: &'f str,
    value: Result<Val<'f>, Miss>,
    next: Option<Rc<Local<'f>>>,
}

#[derive(Debug, Clone)]
struct Env<'f> {
    module: &'f [String],
    locals: Option<Rc<Local<'f>>>,
}

impl<'f> Env<'f> {
    fn with(&self, name: &'f str, value: Result<Val<'f>, Miss>) -> Self {
        Env {
            module: self.module,
            locals: Some(Rc::new(Local {
                name,
                value,
                next: self.locals.clone(),
            })),
        }
    }

    fn local(&self, name: &str) -> Option<Result<Val<'f>, Miss>> {
        let mut at = self.locals.as_deref();
        while let Some(local) = at {
            if local.name == name {
                return Some(local.value.clone());
            }
            at = local.next.as_deref();
        }
        None
    }
}

struct Evaluator<'f> {
    facts: &'f ConstFacts,
    steps: usize,
    /// Constants and `const fn`s (with an empty field) and struct fields
    /// (with their origin) being evaluated.
    stack: Vec<(&'f str, &'f str)>,
}

impl<'f> Evaluator<'f> {
    fn eval(&mut self, e: &'f ConstExpr, env: &Env<'f>, depth: usize) -> Result<Val<'f>, Miss> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Miss::TooLong);
        }
        if depth > MAX_DEPTH {
            return Err(Miss::TooDeep);
        }
        let d = depth + 1;
        match e {
            ConstExpr::Str(s) => Ok(Val::Str(s.clone())),
            ConstExpr::Int(i) => Ok(Val::Int(*i)),
            ConstExpr::Path(path) => {
                if let [name] = path.as_slice()
                    && let Some(value) = env.local(name)
                {
                    return value;
                }
                let id = self
                    .facts
                    .find(env.module, path, Kind::Const)
                    .ok_or_else(|| Miss::NoConst(path.join("::")))?;
                let item = self
                    .facts
                    .items
                    .get(id)
                    .ok_or_else(|| Miss::NoConst(path.join("::")))?;
                self.enter(id, "")?;
                let inner = Env {
                    module: &item.module,
                    locals: None,
                };
                let value = self.eval(&item.expr, &inner, d);
                self.stack.pop();
                value
            }
            ConstExpr::Field(base, field) => {
                let base = self.eval(base, env, d)?;
                self.field(&base, field, d)
            }
            ConstExpr::Call(path, args) => self.call(path, args, env, d),
            ConstExpr::Struct(fields) => Ok(Val::Struct(Rc::new(Obj {
                origin: self.stack.last().map_or("", |(id, _)| id),
                fields,
                env: env.clone(),
            }))),
            ConstExpr::Len(s) => match self.eval(s, env, d)? {
                Val::Str(s) => Ok(Val::Int(s.len())),
                other => Err(Miss::Kind {
                    op: "`.len()`",
                    what: other.kind(),
                }),
            },
            ConstExpr::Slice(s, lo, hi) => {
                let s = match self.eval(s, env, d)? {
                    Val::Str(s) => s,
                    other => {
                        return Err(Miss::Kind {
                            op: "a slice",
                            what: other.kind(),
                        });
                    }
                };
                let lo = match lo {
                    Some(lo) => self.int(lo, env, d)?,
                    None => 0,
                };
                let hi = match hi {
                    Some(hi) => self.int(hi, env, d)?,
                    None => s.len(),
                };
                s.get(lo..hi)
                    .map(|s| Val::Str(s.to_owned()))
                    .ok_or(Miss::Slice)
            }
            ConstExpr::Add(a, b) => {
                let (a, b) = (self.int(a, env, d)?, self.int(b, env, d)?);
                a.checked_add(b).map(Val::Int).ok_or(Miss::Overflow)
            }
            ConstExpr::Sub(a, b) => {
                let (a, b) = (self.int(a, env, d)?, self.int(b, env, d)?);
                a.checked_sub(b).map(Val::Int).ok_or(Miss::Overflow)
            }
            ConstExpr::Other(text) => Err(Miss::Unsupported(text.clone())),
        }
    }

    fn int(&mut self, e: &'f ConstExpr, env: &Env<'f>, depth: usize) -> Result<usize, Miss> {
        match self.eval(e, env, depth)? {
            Val::Int(i) => Ok(i),
            other => Err(Miss::Kind {
                op: "arithmetic",
                what: other.kind(),
            }),
        }
    }

    /// Marks `id` (and `field`) as being evaluated, or reports the cycle.
    fn enter(&mut self, id: &'f str, field: &'f str) -> Result<(), Miss> {
        if self.stack.contains(&(id, field)) {
            let what = if field.is_empty() {
                id.to_owned()
            } else {
                format!("{id}.{field}")
            };
            return Err(Miss::Cycle(what));
        }
        self.stack.push((id, field));
        Ok(())
    }

    fn field(&mut self, base: &Val<'f>, field: &'f str, depth: usize) -> Result<Val<'f>, Miss> {
        let Val::Struct(obj) = base else {
            return Err(Miss::NotStruct {
                field: field.to_owned(),
                what: base.kind(),
            });
        };
        let Some((_, e)) = obj.fields.iter().find(|(name, _)| name == field) else {
            return Err(Miss::NoField {
                field: field.to_owned(),
                origin: obj.origin.to_owned(),
            });
        };
        self.enter(obj.origin, field)?;
        let value = self.eval(e, &obj.env, depth);
        self.stack.pop();
        value
    }

    fn call(
        &mut self,
        path: &'f [String],
        args: &'f [ConstExpr],
        env: &Env<'f>,
        depth: usize,
    ) -> Result<Val<'f>, Miss> {
        let callee = || path.join("::");
        let id = self
            .facts
            .find(env.module, path, Kind::Fn)
            .ok_or_else(|| Miss::NoFn(callee()))?;
        let f = self.facts.fns.get(id).ok_or_else(|| Miss::NoFn(callee()))?;
        if f.params.len() != args.len() {
            return Err(Miss::Args {
                callee: callee(),
                want: f.params.len(),
                got: args.len(),
            });
        }
        let mut inner = Env {
            module: &f.module,
            locals: None,
        };
        for (param, arg) in f.params.iter().zip(args) {
            let value = self.eval(arg, env, depth);
            inner = inner.with(param, value);
        }
        self.enter(id, "")?;
        for (name, e) in &f.lets {
            let value = self.eval(e, &inner, depth);
            if matches!(value, Err(Miss::TooLong | Miss::TooDeep)) {
                self.stack.pop();
                return value;
            }
            inner = inner.with(name, value);
        }
        let value = self.eval(&f.tail, &inner, depth);
        self.stack.pop();
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> ConstFacts {
        let file = syn::parse_file(text).expect("valid Rust");
        let mut facts = ConstFacts::default();
        facts.add_crate("app");
        let module = vec!["app".to_owned()];
        for item in &file.items {
            match item {
                syn::Item::Const(c) => {
                    facts.add_const(&module, &module, None, &c.ident.to_string(), &c.expr);
                }
                syn::Item::Fn(f) => {
                    let id = path_id(&module, &f.sig.ident.to_string());
                    facts.add_fn(&id, &module, None, &f.sig, &f.block);
                }
                syn::Item::Use(u) => facts.add_use(&module, &u.tree),
                _ => {}
            }
        }
        facts
    }

    fn eval(facts: &ConstFacts, expr: &str) -> Result<String, String> {
        let e = syn::parse_str::<Expr>(expr).expect("expression");
        facts
            .eval_str(&["app".to_owned()], &convert(&e, None, 0))
            .map_err(|m| m.to_string())
    }

    #[test]
    fn locals_calls_fields_and_slices() {
        let f = facts(
            r#"
            const A: S = make("/a", inner());
            const fn make(p: &str, i: I) -> S { let q = "/q"; S { p, q, i, n: I { x: q } } }
            const fn inner() -> I { I { x: "/x/" } }
            use self::A as B;
            const C: &str = "/c";
            "#,
        );
        assert_eq!(eval(&f, "A.p"), Ok("/a".to_owned()));
        assert_eq!(eval(&f, "B.n.x"), Ok("/q".to_owned()));
        assert_eq!(eval(&f, "crate::A.i.x"), Ok("/x/".to_owned()));
        assert_eq!(eval(&f, "&A.i.x[0..A.i.x.len() - 1]"), Ok("/x".to_owned()));
        assert_eq!(eval(&f, "C"), Ok("/c".to_owned()));
        assert_eq!(
            eval(&f, "A.i.x[0..99]"),
            Err("the slice is out of range".to_owned())
        );
        assert_eq!(
            eval(&f, "A.i.y"),
            Err("the value of `app::inner` has no field `y`".to_owned())
        );
        assert_eq!(
            eval(&f, "A.p.y"),
            Err("field `y` of a string, not of a struct".to_owned())
        );
        assert_eq!(
            eval(&f, "A.i"),
            Err("its value is a struct, not a string".to_owned())
        );
        assert_eq!(
            eval(&f, "A.i.x.trim()"),
            Err("the method call `.trim(..)` is not evaluated (only `.len()` is)".to_owned())
        );
    }

    #[test]
    fn cycles_and_limits_are_misses() {
        let f = facts(
            r"
            const A: S = B;
            const B: S = A;
            const L: S = S { x: L.x };
            const R: S = again();
            const fn again() -> S { again() }
            const W: S = wide(0);
            const fn wide(n: usize) -> S { let a = wide(n); let b = wide(n); S { a, b } }
            ",
        );
        assert_eq!(eval(&f, "A.x"), Err("`app::A` refers to itself".to_owned()));
        assert_eq!(
            eval(&f, "L.x"),
            Err("`app::L.x` refers to itself".to_owned())
        );
        assert_eq!(
            eval(&f, "R.x"),
            Err("`app::again` refers to itself".to_owned())
        );
        assert!(eval(&f, "W.a.b.x").is_err());
    }
}
