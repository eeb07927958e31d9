//! Route attributes on handler functions: actix-web `#[get("/p")]`,
//! `#[route("/p", method = "GET", method = "HEAD")]` and Rocket
//! `#[get("/p/<id>", data = "<body>")]`, `#[route(PATCH, uri = "/p")]`.
//!
//! utoipa's `#[utoipa::path(get, path = "/p")]` (on handlers that
//! `OpenApiRouter::routes(routes!(h))` registers) declares one the same way.
//!
//! An attribute alone is not a route: it becomes one when the function is
//! registered (`.service(h)`, `routes![h]`), which gives the prefix.

use std::collections::BTreeSet;

use proc_macro2::TokenTree;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Lit, Token};

use crate::source::line_of;

/// HTTP methods, as attribute macro names and as upper-case method names.
pub(crate) const HTTP_METHODS: [&str; 9] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace", "connect",
];

/// The path and methods one route attribute declares.
#[derive(Debug, Clone)]
pub(crate) struct AttrRoute {
    /// Upper-case methods; `*` for any.
    pub methods: BTreeSet<String>,
    /// The path as written (not yet normalised).
    pub path: String,
    /// Index of the file in the analyzed slice.
    pub file: usize,
    /// Line of the attribute.
    pub line: u32,
}

/// The upper-case method for a lower- or upper-case name, if it is one.
pub(crate) fn method_name(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    HTTP_METHODS
        .contains(&lower.as_str())
        .then(|| lower.to_ascii_uppercase())
}

/// Every route attribute on a function. Attributes that are not route
/// macros, or whose arguments do not parse, are skipped.
pub(crate) fn route_attrs(attrs: &[Attribute], file: usize) -> Vec<AttrRoute> {
    attrs.iter().filter_map(|a| route_attr(a, file)).collect()
}

fn route_attr(attr: &Attribute, file: usize) -> Option<AttrRoute> {
    let segments = &attr.path().segments;
    let last = segments.last()?.ident.to_string();
    if segments.len() > 1 {
        let first = segments.first()?.ident.to_string();
        if first == "utoipa" && last == "path" && segments.len() == 2 {
            return utoipa_attr(attr, file);
        }
        if !matches!(first.as_str(), "actix_web" | "rocket" | "ntex") {
            return None;
        }
    }
    let is_route = last == "route";
    if !is_route && !HTTP_METHODS.contains(&last.as_str()) {
        return None;
    }
    let args = attr
        .parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .ok()?;
    let mut path = None;
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
