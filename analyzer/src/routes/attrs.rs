//! Route attributes on handler functions: actix-web `#[get("/p")]`,
//! `#[route("/p", method = "GET", method = "HEAD")]` and Rocket
//! `#[get("/p/<id>", data = "<body>")]`, `#[route(PATCH, uri = "/p")]`.
//!
//! utoipa's `#[utoipa::path(get, path = "/p")]` (on handlers that
//! `OpenApiRouter::routes(routes!(h))` registers) declares one the same way.
//!
//! Project wrappers of the codegen (`#[my_codegen::post(path = "..")]`,
//! any crate but the frameworks' when the macro is named like a method or
//! `route` and has a `path = ` argument) are read as actix-web's. Their path
//! may be a string holding a constant expression
//! (`"crate::ROUTES.account.update"`), which `eval::consts` evaluates when
//! the parts are linked.
//!
//! An attribute alone is not a route: it becomes one when the function is
//! registered (`.service(h)`, `routes![h]`), which gives the prefix.

use std::collections::BTreeSet;

use proc_macro2::TokenTree;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Lit, Token};

use super::eval::{ConstExpr, ConstFacts, Miss, convert};
use crate::source::line_of;

/// HTTP methods, as attribute macro names and as upper-case method names.
pub(crate) const HTTP_METHODS: [&str; 9] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace", "connect",
];

/// A path string longer than this is not read as an expression.
const MAX_EXPR_LEN: usize = 200;
/// Nor one with more brackets and unary operators than this.
const MAX_EXPR_NESTING: usize = 32;

/// The path and methods one route attribute declares: with the path as
/// written ([`AttrPath`]) when collected, as a string once linked.
#[derive(Debug, Clone)]
pub(crate) struct AttrRoute<P = String> {
    /// Upper-case methods; `*` for any.
    pub methods: BTreeSet<String>,
    /// The path (not yet normalised).
    pub path: P,
    /// Index of the file in the analyzed slice.
    pub file: usize,
    /// Line of the attribute.
    pub line: u32,
}

/// A route attribute's path string.
#[derive(Debug, Clone)]
pub(crate) enum AttrPath {
    /// A path, as written.
    Text(String),
    /// A constant expression naming the path (`crate::ROUTES.users.list`),
    /// written in `module`.
    Expr {
        text: String,
        expr: ConstExpr,
        module: Vec<String>,
        /// The expression is a lone name: when it names no constant, it is
        /// a relative path (`"users"`) and taken as written.
        lone: bool,
    },
}

impl AttrPath {
    /// The path as a string, or a message saying why it has none.
    pub(crate) fn evaluate(&self, consts: &ConstFacts) -> Result<String, String> {
        let (text, expr, module, lone) = match self {
            Self::Text(text) => return Ok(text.clone()),
            Self::Expr {
                text,
                expr,
                module,
                lone,
            } => (text, expr, module, *lone),
        };
        match consts.eval_str(module, expr) {
            Ok(path) => Ok(path),
            // A lone name that names no constant is a relative path.
            Err(Miss::NoConst(name)) if lone && name == text.trim() => Ok(text.clone()),
            Err(miss) => Err(format!(
                "route path `{text}` could not be evaluated: {miss}; skipped"
            )),
        }
    }
}

impl AttrRoute<AttrPath> {
    /// The same attribute with `path` for its path.
    pub(crate) fn with_path(self, path: String) -> AttrRoute {
        AttrRoute {
            methods: self.methods,
            path,
            file: self.file,
            line: self.line,
        }
    }
}

/// The upper-case method for a lower- or upper-case name, if it is one.
pub(crate) fn method_name(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    HTTP_METHODS
        .contains(&lower.as_str())
        .then(|| lower.to_ascii_uppercase())
}

/// Every route attribute on a function written in `module`. Attributes
/// that are not route macros, or whose arguments do not parse, are skipped.
pub(crate) fn route_attrs(
    attrs: &[Attribute],
    module: &[String],
    file: usize,
) -> Vec<AttrRoute<AttrPath>> {
    attrs
        .iter()
        .filter_map(|a| route_attr(a, file))
        .map(|a| AttrRoute {
            path: attr_path(a.path, module),
            methods: a.methods,
            file: a.file,
            line: a.line,
        })
        .collect()
}

/// A path string as a path, or as the constant expression it holds: one
/// that does not start with `/` and parses as a path, a field access, a
/// call, an index or a method call (through `&` and parentheses).
fn attr_path(text: String, module: &[String]) -> AttrPath {
    let nesting = text.chars().filter(|c| "([{&*!-".contains(*c)).count();
    if text.is_empty()
        || text.starts_with('/')
        || text.len() > MAX_EXPR_LEN
        || nesting > MAX_EXPR_NESTING
    {
        return AttrPath::Text(text);
    }
    let Ok(expr) = syn::parse_str::<Expr>(&text) else {
        return AttrPath::Text(text);
    };
    let mut outer = &expr;
    loop {
        match outer {
            Expr::Reference(r) => outer = &r.expr,
            Expr::Paren(p) => outer = &p.expr,
            _ => break,
        }
    }
    let lone = matches!(outer, Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some());
    if !matches!(
        outer,
        Expr::Path(_) | Expr::Field(_) | Expr::Call(_) | Expr::Index(_) | Expr::MethodCall(_)
    ) {
        return AttrPath::Text(text);
    }
    AttrPath::Expr {
        expr: convert(&expr, None, 0),
        module: module.to_vec(),
        text,
        lone,
    }
}

fn route_attr(attr: &Attribute, file: usize) -> Option<AttrRoute> {
    let segments = &attr.path().segments;
    let last = segments.last()?.ident.to_string();
    // A project's wrapper of the codegen: any other crate's `get` / `route`
    // macro, when it takes a `path = ` argument.
    let mut wrapper = false;
    if segments.len() > 1 {
        let first = segments.first()?.ident.to_string();
        if first == "utoipa" && last == "path" && segments.len() == 2 {
            return utoipa_attr(attr, file);
        }
        wrapper = !matches!(first.as_str(), "actix_web" | "rocket" | "ntex");
    }
    let is_route = last == "route";
    if !is_route && !HTTP_METHODS.contains(&last.as_str()) {
        return None;
    }
    let args = attr
        .parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .ok()?;
    let mut path = None;
    let mut named_path = false;
    let mut methods = BTreeSet::new();
    if !is_route {
        methods.insert(last.to_ascii_uppercase());
    }
    for arg in &args {
        match arg {
            Expr::Lit(lit) => {
                if let (Lit::Str(s), None) = (&lit.lit, &path) {
                    path = Some(s.value());
                }
            }
            // Rocket: `#[route(PATCH, uri = "..")]`.
            Expr::Path(p) if is_route => {
                if let Some(m) = p.path.get_ident().and_then(|i| method_name(&i.to_string())) {
                    methods.insert(m);
                }
            }
            Expr::Assign(assign) => {
                let Expr::Path(key) = &*assign.left else {
                    continue;
                };
                let Some(key) = key.path.get_ident().map(ToString::to_string) else {
                    continue;
                };
                match (key.as_str(), &*assign.right) {
                    ("uri" | "path", Expr::Lit(lit)) => {
                        if let Lit::Str(s) = &lit.lit {
                            path = Some(s.value());
                            named_path |= key == "path";
                        }
                    }
                    ("method", Expr::Lit(lit)) if is_route => {
                        if let Lit::Str(s) = &lit.lit
                            && let Some(m) = method_name(&s.value())
                        {
                            methods.insert(m);
                        }
                    }
                    ("method", Expr::Path(p)) if is_route => {
                        if let Some(m) = p
                            .path
                            .segments
                            .last()
                            .and_then(|s| method_name(&s.ident.to_string()))
                        {
                            methods.insert(m);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if wrapper && !named_path {
        return None;
    }
    Some(attr_route(methods, path?, file, attr))
}

/// utoipa's `#[utoipa::path(get, path = "/p", ..)]` (or
/// `method(get, head)`): the methods are bare idents, the path is `path =`;
/// the other arguments (`responses(..)`, `params(..)`, `tag = ..`) are not
/// expressions, so the tokens are read at the top level only.
fn utoipa_attr(attr: &Attribute, file: usize) -> Option<AttrRoute> {
    let syn::Meta::List(list) = &attr.meta else {
        return None;
    };
    let mut methods = BTreeSet::new();
    let mut path = None;
    let tokens: Vec<TokenTree> = list.tokens.clone().into_iter().collect();
    for arg in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
        match arg {
            [TokenTree::Ident(i)] => methods.extend(method_name(&i.to_string())),
            [TokenTree::Ident(i), TokenTree::Group(g)] if i == "method" => {
                for t in g.stream() {
                    if let TokenTree::Ident(m) = t {
                        methods.extend(method_name(&m.to_string()));
                    }
                }
            }
            [
                TokenTree::Ident(i),
                TokenTree::Punct(eq),
                TokenTree::Literal(literal),
            ] if i == "path" && eq.as_char() == '=' => {
                if let Lit::Str(s) = Lit::new(literal.clone()) {
                    path = Some(s.value());
                }
            }
            _ => {}
        }
    }
    Some(attr_route(methods, path?, file, attr))
}

/// The route of an attribute: every method when it names none.
fn attr_route(
    mut methods: BTreeSet<String>,
    path: String,
    file: usize,
    attr: &Attribute,
) -> AttrRoute {
    if methods.is_empty() {
        methods.insert("*".to_owned());
    }
    AttrRoute {
        methods,
        path,
        file,
        line: line_of(attr.pound_token.span),
    }
}
