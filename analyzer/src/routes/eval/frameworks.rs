//! The frameworks' names: what axum, actix-web and Rocket call their
//! routers, scopes, resources, method routers and method filters, and what
//! each of their calls does to a router value. The interpreter in the
//! parent module knows values, bindings and control flow and asks here
//! whenever a call or a method might be a framework's; adding a framework
//! means adding its names here.

use std::collections::BTreeSet;

use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprMethodCall, Token};

use super::{Walker, closure_params, snippet};
use crate::routes::attrs::{HTTP_METHODS, method_name};
use crate::routes::model::{Entry, MethodGroup, Methods, Resource, Routes, Value, any_method};
use crate::routes::path::{Style, concat};
use crate::source::line_of;

impl<'a> Walker<'a, '_, '_> {
    /// Rocket `routes![a, b, module::c]`.
    pub(super) fn rocket_routes(&mut self, mac: &'a syn::Macro) -> Value<'a> {
        let Ok(paths) = mac.parse_body_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
        else {
            self.diag(
                mac.path.span(),
                "cannot read the handler list of `routes![..]`; its routes are skipped".to_owned(),
            );
            return Value::Unknown;
        };
        let mut entries = Vec::new();
        for path in &paths {
            match self.resolve(path) {
                Some(handler) => entries.push(Entry::Attributed {
                    prefix: String::new(),
                    style: Style::Rocket,
                    handler,
                    file: self.file,
                    line: line_of(path.span()),
                }),
                None => self.diag(
                    path.span(),
                    format!(
                        "handler `{}` in `routes![..]` does not resolve to a function of the analyzed code; skipped",
                        snippet(path.span())
                    ),
                ),
            }
        }
        Value::Routes(Routes {
            scope: None,
            entries,
        })
    }

    // ------------------------------------------------------------ calls

    /// Framework constructors recognised by name: `Router::new()`,
    /// `App::new()`, `web::scope(p)`, `web::resource(p)`, `web::get()`,
    /// `get(h)`, `on(filter, h)`, `rocket::build()`, `Ok(x)`.
    pub(super) fn framework_call(
        &mut self,
        prev: Option<&str>,
        last: &str,
        args: &[&'a Expr],
        line: u32,
        depth: usize,
    ) -> Option<Value<'a>> {
        let actix_route = |methods| {
            Value::ActixRoute(MethodGroup {
                methods,
                handler: None,
            })
        };
        let value = match (prev, last, args) {
            (Some("Router" | "App" | "OpenApiRouter" | "ApiRouter"), "new" | "default", [])
            | (Some("rocket" | "Rocket"), "build", []) => Value::Routes(Routes::default()),
            (Some("OpenApiRouter"), "with_openapi", [doc]) => {
                let v = self.eval(doc, depth);
                self.sink(v);
                Value::Routes(Routes::default())
            }
            (Some("rocket" | "Rocket"), "custom", [config]) => {
                let v = self.eval(config, depth);
                self.sink(v);
                Value::Routes(Routes::default())
            }
            (None | Some("web"), "scope", [p]) | (Some("Scope"), "new", [p]) => {
                let prefix = self.path_arg(p, "scope prefix", depth).unwrap_or_default();
                Value::Routes(Routes {
                    scope: Some(prefix),
                    entries: Vec::new(),
                })
            }
            (None | Some("web"), "resource", [p]) | (Some("Resource"), "new", [p]) => {
                self.resource(p, line, depth)
            }
            // utoipa-swagger-ui `SwaggerUi::new("/docs")`: the UI's page and
            // its assets below it; `.url(p, doc)` adds the document's route.
            (Some("SwaggerUi"), "new", [p]) => {
                let mut entries = Vec::new();
                if let Some(path) = self.path_arg(p, "Swagger UI path", depth) {
                    let get = || BTreeSet::from(["GET".to_owned()]);
                    // A path that ends in a parameter (actix-web's
                    // `/swagger-ui/{_:.*}`) already names the assets.
                    let (page, assets) = match path.rsplit_once('/') {
                        Some((page, last)) if last.starts_with('{') || last.starts_with('*') => {
                            (page.to_owned(), path.clone())
                        }
                        _ => (path.clone(), concat(&path, "/{*rest}")),
                    };
                    for path in [page, assets] {
                        entries.push(Entry::Route {
                            methods: get(),
                            path,
                            handler: None,
                            file: self.file,
                            line,
                        });
                    }
                }
                Value::Routes(Routes {
                    scope: None,
                    entries,
                })
            }
            // actix-files `Files::new("/static", dir)`: every file below the
            // mount path, answered to GET and HEAD by the files service.
            (Some("Files"), "new", [p, dir]) => {
                let v = self.eval(dir, depth);
                self.sink(v);
                let paths = self
                    .path_arg(p, "files mount path", depth)
                    .map(|p| concat(&p, "/{*rest}"))
                    .into_iter()
                    .collect();
                Value::Resource(Resource {
                    paths,
                    groups: vec![MethodGroup {
                        methods: BTreeSet::from(["GET".to_owned(), "HEAD".to_owned()]),
                        handler: None,
                    }],
                    line,
                })
            }
            (None | Some("web"), "route", []) => actix_route(any_method()),
            (None | Some("web"), "method", [m]) => {
                actix_route(filter_of(m, 0).unwrap_or_else(any_method))
            }
            (None | Some("web"), m, []) => actix_route(BTreeSet::from([method_name(m)?])),
            (Some("MethodRouter"), "new", []) => Value::Methods(Vec::new()),
            (p, m, [h]) if p != Some("web") && is_axum_method_fn(m) => {
                Value::Methods(vec![MethodGroup {
                    methods: axum_fn_methods(m),
                    handler: self.handler_of(h),
                }])
            }
            (p, m, [h, _operation]) if p != Some("web") && is_aide_method_fn(m) => {
                Value::Methods(vec![MethodGroup {
                    methods: aide_fn_methods(m),
                    handler: self.handler_of(h),
                }])
            }
            (p, "on" | "on_service", [f, h]) if p != Some("web") => {
                Value::Methods(vec![MethodGroup {
                    methods: filter_of(f, 0).unwrap_or_else(any_method),
                    handler: self.handler_of(h),
                }])
            }
            (None, "Ok" | "Some", [x]) => self.eval(x, depth),
            _ => return None,
        };
        Some(value)
    }

    /// actix-web `web::resource("/p")` (or a list of paths).
    pub(super) fn resource(&mut self, p: &'a Expr, line: u32, depth: usize) -> Value<'a> {
        let paths = match p {
            Expr::Array(a) => a
                .elems
                .iter()
                .filter_map(|e| self.path_arg(e, "resource path", depth))
                .collect(),
            Expr::Reference(r) if matches!(&*r.expr, Expr::Array(_)) => {
                return self.resource(&r.expr, line, depth);
            }
            _ => self
                .path_arg(p, "resource path", depth)
                .into_iter()
                .collect(),
        };
        Value::Resource(Resource {
            paths,
            groups: Vec::new(),
            line,
        })
    }

    /// A method call on an axum `MethodRouter` (`get(h).post(h2)`, aide's
    /// `get_with(h, op)`, `on(filter, h)`): the method groups it adds.
    fn apply_methods(
        &mut self,
        mut groups: Vec<MethodGroup>,
        name: &str,
        mc: &'a ExprMethodCall,
        depth: usize,
    ) -> Vec<MethodGroup> {
        let args: Vec<&'a Expr> = mc.args.iter().collect();
        match args.as_slice() {
            [h] if is_axum_method_fn(name) => groups.push(MethodGroup {
                methods: axum_fn_methods(name),
                handler: self.handler_of(h),
            }),
            [h, _operation] if is_aide_method_fn(name) => groups.push(MethodGroup {
                methods: aide_fn_methods(name),
                handler: self.handler_of(h),
            }),
            [f, h] if name == "on" || name == "on_service" => groups.push(MethodGroup {
                methods: filter_of(f, 0).unwrap_or_else(any_method),
                handler: self.handler_of(h),
            }),
            // `.fallback(h)`, `.layer(..)`, `.with_state(..)`: not routes.
            _ => self.sink_args(mc, depth),
        }
        groups
    }

    pub(super) fn apply(
        &mut self,
        recv: Value<'a>,
        mc: &'a ExprMethodCall,
        depth: usize,
    ) -> Value<'a> {
        let name = mc.method.to_string();
        match recv {
            // utoipa-axum: the router and the OpenAPI document it collected.
            Value::Routes(r) if name == "split_for_parts" => {
                Value::Tuple(vec![Value::Routes(r), Value::Unknown])
            }
            Value::Routes(r) => Value::Routes(self.apply_router(r, &name, mc, depth)),
            Value::Call { path, line }
                if matches!(
                    name.as_str(),
                    "route"
                        | "route_service"
                        | "api_route"
                        | "api_route_with"
                        | "nest"
                        | "nest_service"
                        | "nest_api_service"
                        | "merge"
                        | "routes"
                        | "service"
                        | "configure"
                        | "mount"
                ) =>
            {
                let Some(target) = self.resolve(path) else {
                    self.sink_args(mc, depth);
                    return Value::Unknown;
                };
                let r = Routes {
                    scope: None,
                    entries: vec![Entry::Include {
                        prefix: String::new(),
                        style: Style::Axum,
                        target,
                        config: false,
                        file: self.file,
                        line,
                    }],
                };
                Value::Routes(self.apply_router(r, &name, mc, depth))
            }
            call @ Value::Call { .. } => {
                self.sink_args(mc, depth);
                call
            }
            Value::Methods(groups) => Value::Methods(self.apply_methods(groups, &name, mc, depth)),
            Value::ActixRoute(mut group) => {
                match (name.as_str(), mc.args.first()) {
                    ("to" | "service", Some(h)) => group.handler = self.handler_of(h),
                    ("method" | "guard", Some(f)) => {
                        if let Some(m) = filter_of(f, 0) {
                            if group.methods.contains("*") {
                                group.methods = m;
                            } else {
                                group.methods.extend(m);
                            }
                        }
                    }
                    _ => self.sink_args(mc, depth),
                }
                Value::ActixRoute(group)
            }
            Value::Resource(mut res) => {
                match (name.as_str(), mc.args.first()) {
                    ("route", Some(r)) => match self.eval(r, depth) {
                        Value::ActixRoute(group) => res.groups.push(group),
                        other => self.sink(other),
                    },
                    ("to", Some(h)) => res.groups.push(MethodGroup {
                        methods: any_method(),
                        handler: self.handler_of(h),
                    }),
                    (m, Some(h)) if method_name(m).is_some() && mc.args.len() == 1 => {
                        res.groups.push(MethodGroup {
                            methods: method_name(m).into_iter().collect(),
                            handler: self.handler_of(h),
                        });
                    }
                    _ => self.sink_args(mc, depth),
                }
                Value::Resource(res)
            }
            Value::Str(s)
                if matches!(name.as_str(), "to_string" | "to_owned" | "into" | "as_str") =>
            {
                Value::Str(s)
            }
            other => {
                self.sink(other);
                self.sink_args(mc, depth);
                Value::Unknown
            }
        }
    }

    /// A method called on a router (axum, actix-web or Rocket).
    pub(super) fn apply_router(
        &mut self,
        mut r: Routes,
        name: &str,
        mc: &'a ExprMethodCall,
        depth: usize,
    ) -> Routes {
        let args: Vec<&'a Expr> = mc.args.iter().collect();
        let line = line_of(mc.method.span());
        let file = self.file;
        match (name, args.as_slice()) {
            // aide's `api_route_with(p, mr, transform)`: the transform only
            // documents the route.
            ("api_route_with", [p, m, transform]) => {
                let v = self.eval(transform, depth);
                self.sink(v);
                return self.apply_route(r, p, m, line, depth);
            }
            ("route" | "api_route", [p, m]) => return self.apply_route(r, p, m, line, depth),
            ("route_service", [p, s]) => {
                if let Some(path) = self.path_arg(p, "route path", depth) {
                    r.entries.push(Entry::Route {
                        methods: any_method(),
                        path,
                        handler: self.handler_of(s),
                        file,
                        line,
                    });
                }
            }
            ("nest_service", [p, s]) => {
                if let Some(prefix) = self.path_arg(p, "nest prefix", depth) {
                    r.entries.push(Entry::Route {
                        methods: any_method(),
                        path: concat(&prefix, "/{*rest}"),
                        handler: self.handler_of(s),
                        file,
                        line,
                    });
                }
            }
            ("nest" | "nest_api_service" | "mount", [p, sub]) => {
                let style = if name == "mount" {
                    Style::Rocket
                } else {
                    Style::Axum
                };
                let value = self.eval(sub, depth);
                let prefix = self.path_arg(
                    p,
                    if name == "mount" {
                        "mount base"
                    } else {
                        "nest prefix"
                    },
                    depth,
                );
                match (prefix, self.as_entries(value, style)) {
                    (Some(prefix), Ok(entries)) => r
                        .entries
                        .extend(entries.into_iter().map(|e| e.prefixed(&prefix, style))),
                    (_, Ok(entries)) => self.out.loose.push(entries),
                    (_, Err(other)) => self.sink(other),
                }
            }
            // utoipa-axum `routes(routes!(a, b))`: handlers with their
            // `#[utoipa::path]` attributes.
            ("merge" | "routes", [sub]) => {
                let value = self.eval(sub, depth);
                match self.as_entries(value, Style::Axum) {
                    Ok(entries) => r.entries.extend(entries),
                    Err(other) => self.sink(other),
                }
            }
            ("service", [svc]) => {
                let value = self.eval(svc, depth);
                self.add_service(&mut r.entries, value, line);
            }
            ("configure", [f]) => self.add_configure(&mut r.entries, f, line, depth),
            // utoipa-swagger-ui `SwaggerUi::new(..).url("/openapi.json", doc)`
            // (no router of the frameworks has a `url` method).
            ("url", [p, doc]) => {
                let v = self.eval(doc, depth);
                self.sink(v);
                if let Some(path) = self.path_arg(p, "OpenAPI document path", depth) {
                    r.entries.push(Entry::Route {
                        methods: BTreeSet::from(["GET".to_owned()]),
                        path,
                        handler: None,
                        file,
                        line,
                    });
                }
            }
            _ => self.sink_args(mc, depth),
        }
        r
    }

    /// `.route(p, mr)` (and aide's `api_route`): the method router's
    /// handlers at `p`.
    fn apply_route(
        &mut self,
        mut r: Routes,
        p: &'a Expr,
        m: &'a Expr,
        line: u32,
        depth: usize,
    ) -> Routes {
        let file = self.file;
        let value = self.eval(m, depth);
        let Some(path) = self.path_arg(p, "route path", depth) else {
            self.sink(value);
            return r;
        };
        let groups = match value {
            Value::Methods(groups) => groups,
            Value::ActixRoute(group) => vec![group],
            other => {
                self.sink(other);
                self.diag(
                    m.span(),
                    format!(
                        "cannot tell which methods and handlers `{}` serves at `{path}`; route skipped",
                        snippet(m.span())
                    ),
                );
                Vec::new()
            }
        };
        for group in groups {
            r.entries.push(Entry::Route {
                methods: group.methods,
                path: path.clone(),
                handler: group.handler,
                file,
                line,
            });
        }
        r
    }

    /// actix-web `.service(x)`.
    pub(super) fn add_service(&mut self, entries: &mut Vec<Entry>, value: Value<'a>, line: u32) {
        match value {
            Value::Tuple(values) => {
                for v in values {
                    self.add_service(entries, v, line);
                }
            }
            Value::Routes(sub) => entries.extend(sub.close()),
            Value::Resource(res) => {
                for path in &res.paths {
                    for group in &res.groups {
                        entries.push(Entry::Route {
                            methods: group.methods.clone(),
                            path: path.clone(),
                            handler: group.handler.clone(),
                            file: self.file,
                            line: res.line,
                        });
                    }
                }
            }
            Value::Path(p) => match self.resolve(&p.path) {
                Some(handler) => entries.push(Entry::Attributed {
                    prefix: String::new(),
                    style: Style::Actix,
                    handler,
                    file: self.file,
                    line,
                }),
                None => self.diag(
                    p.span(),
                    format!(
                        "service `{}` does not resolve to a function of the analyzed code; skipped",
                        snippet(p.span())
                    ),
                ),
            },
            Value::Call { path, line } => {
                if let Some(target) = self.resolve(path) {
                    entries.push(Entry::Include {
                        prefix: String::new(),
                        style: Style::Actix,
                        target,
                        config: false,
                        file: self.file,
                        line,
                    });
                }
            }
            other => self.sink(other),
        }
    }

    /// actix-web `.configure(f)` with a function path or a closure.
    pub(super) fn add_configure(
        &mut self,
        entries: &mut Vec<Entry>,
        f: &'a Expr,
        line: u32,
        depth: usize,
    ) {
        match f {
            Expr::Path(p) => match self.resolve(&p.path) {
                Some(target) => entries.push(Entry::Include {
                    prefix: String::new(),
                    style: Style::Actix,
                    target,
                    config: true,
                    file: self.file,
                    line,
                }),
                None => self.diag(
                    p.span(),
                    format!(
                        "configure function `{}` does not resolve to a function of the analyzed code; skipped",
                        snippet(p.span())
                    ),
                ),
            },
            Expr::Closure(c) => {
                let mut params = closure_params(c);
                if let Some(first) = params.first_mut() {
                    first.value = Value::Routes(Routes::default());
                    first.config = true;
                }
                self.scopes.push(params);
                self.closure_depth += 1;
                let v = self.eval(&c.body, depth);
                self.closure_depth -= 1;
                self.sink(v);
                for binding in self.pop_scope() {
                    if let Value::Routes(r) = binding.value {
                        entries.extend(r.close());
                    }
                }
            }
            Expr::Reference(r) => self.add_configure(entries, &r.expr, line, depth),
            Expr::Paren(p) => self.add_configure(entries, &p.expr, line, depth),
            other => {
                let v = self.eval(other, depth);
                self.sink(v);
                self.diag(
                    other.span(),
                    format!("cannot follow `.configure({})`; skipped", snippet(other.span())),
                );
            }
        }
    }
}

fn is_axum_method_fn(name: &str) -> bool {
    let base = name.strip_suffix("_service").unwrap_or(name);
    base == "any" || HTTP_METHODS.contains(&base)
}

/// aide's documented method routers: `get_with(handler, operation)`.
fn is_aide_method_fn(name: &str) -> bool {
    name.strip_suffix("_with")
        .is_some_and(|base| HTTP_METHODS.contains(&base))
}

fn aide_fn_methods(name: &str) -> Methods {
    let base = name.strip_suffix("_with").unwrap_or(name);
    method_name(base).map_or_else(any_method, |m| BTreeSet::from([m]))
}

fn axum_fn_methods(name: &str) -> Methods {
    let base = name.strip_suffix("_service").unwrap_or(name);
    method_name(base).map_or_else(any_method, |m| BTreeSet::from([m]))
}

/// Methods of a method filter or guard: `MethodFilter::PUT.or(MethodFilter::PATCH)`,
/// `MethodFilter::GET | MethodFilter::POST`, `Method::GET`, `guard::Get()`,
/// `guard::Method(Method::GET)`.
fn filter_of(e: &Expr, depth: usize) -> Option<Methods> {
    if depth > 32 {
        return None;
    }
    match e {
        Expr::Path(p) => {
            let last = p.path.segments.last()?.ident.to_string();
            method_name(&last).map(|m| BTreeSet::from([m]))
        }
        Expr::MethodCall(mc) if mc.method == "or" => {
            let mut m = filter_of(&mc.receiver, depth + 1)?;
            m.extend(filter_of(mc.args.first()?, depth + 1)?);
            Some(m)
        }
        Expr::Binary(b) if matches!(b.op, syn::BinOp::BitOr(_)) => {
            let mut m = filter_of(&b.left, depth + 1)?;
            m.extend(filter_of(&b.right, depth + 1)?);
            Some(m)
        }
        Expr::Call(c) => {
            let Expr::Path(f) = &*c.func else { return None };
            let last = f.path.segments.last()?.ident.to_string();
            if last == "Method" || last == "from" || last == "try_from" {
                return filter_of(c.args.first()?, depth + 1);
            }
            method_name(&last).map(|m| BTreeSet::from([m]))
        }
        Expr::Paren(p) => filter_of(&p.expr, depth + 1),
        Expr::Reference(r) => filter_of(&r.expr, depth + 1),
        _ => None,
    }
}
