//! HTTP routes of axum, actix-web and Rocket, with full paths and handlers.
//!
//! The rest of the analyzer calls [`find_routes`], or [`collect`] per worker
//! thread and [`link`] once over all parts.
//!
//! # How it works
//!
//! 1. **Index** (`index.rs`): every function body (free functions, functions
//!    in inline `mod` blocks, methods in `impl` blocks) and every route
//!    attribute (`#[get("/p")]`, `#[route(..)]`) keyed by the handler's id.
//!    String constants come from the symbols pass's table, through the
//!    [`Resolver`].
//! 2. **Interpret** (`eval/mod.rs`, with each framework's names in
//!    `eval/frameworks.rs`): each function body is evaluated abstractly.
//!    The value of an expression is a router under construction (axum
//!    `Router`, actix-web `App` / `Scope` / `ServiceConfig`, Rocket instance,
//!    `routes![..]`), a method router (`get(h).post(h2)`, `web::get().to(h)`),
//!    an actix-web resource, a string, a call to a function of the analyzed
//!    code, or nothing of interest. `let` bindings, re-assignment, `if` /
//!    `match` branches, closures and `?` / `.await` are followed. A router
//!    holds routes relative to itself, handlers whose path is in their
//!    attribute, and *includes*: "everything function `f` builds, under
//!    this prefix" (`nest`, `merge`, `mount`, `.service(f())`,
//!    `.configure(f)`). Each function ends up with the router it returns,
//!    what it registers on a `&mut ServiceConfig` parameter, and routers it
//!    builds but hands to something else (`axum::serve(.., app)`,
//!    `HttpServer::new(|| App::new()..)`, `rocket::build().mount(..).launch()`).
//! 3. **Link** (here): starting from roots, includes are replaced by the
//!    target's routes under the accumulated prefix (with cycle and depth
//!    protection), attributed handlers by their attribute's path, and every
//!    path is normalised (`path.rs`). Roots are every router a function
//!    builds and does not return, every returned router no include points
//!    at, every `ServiceConfig` function no `.configure` points at, and
//!    finally any router function still unvisited (one only reachable
//!    through a cycle). So a router function that nothing uses still
//!    reports its routes, with the paths relative to it.
//!
//! # Resolved vs heuristic
//!
//! Resolved exactly:
//! - Handler and router-function paths (`h`, `users::router`,
//!   `crate::api::router`, renamed and glob imports, other workspace crates)
//!   go through the [`Resolver`]. When it has no answer, a syntactic lookup
//!   among the analyzed free functions: `crate::` / `self::` / `super::`
//!   paths, items of the current module (inline `mod` blocks included), and
//!   paths starting with an analyzed crate's name.
//! - Prefixes compose across any number of functions and files: axum `nest`
//!   / `merge`, actix-web `web::scope` / `.service(f())` / `.configure(f)`
//!   (also `f(cfg)` called inside a configure function, and closures), Rocket
//!   `.mount(base, f())`.
//! - A router bound to a `let`, re-assigned (`r = r.route(..)`), passed
//!   through a helper taking it by value (`fn add(r: Router) -> Router`), or
//!   returned from either branch of an `if` / `match`.
//! - Path strings: literals, `concat!` of literals, locals bound to them,
//!   and `const` / `static` strings of the analyzed code (same module, or a
//!   `crate::` / `self::` / `super::` / child-module / other-crate path; not
//!   through `use`), from the table SQL extraction uses too.
//! - A route attribute's path string that does not start with `/` and
//!   parses as a path, field access, call, index or method call
//!   (`"crate::ROUTES.account.update"`, `"&DOCS.home[0..DOCS.home.len() - 1]"`)
//!   is evaluated when the parts are linked (`eval/consts.rs`): constants
//!   through `use` imports and re-exports, `const fn` calls whose bodies are
//!   `let`s and a struct literal, fields, `.len()`, slices. One that cannot
//!   be evaluated is skipped with a diagnostic saying why; a lone name that
//!   names no constant is a relative path, as written.
//!
//! Heuristic:
//! - A path or prefix built at run time from literals and unknown values
//!   (`format!`, `[..].concat()`, `.join("")`, `+`) keeps its literal part,
//!   the unknown parts taken as empty, with a diagnostic (the runtime
//!   value is usually a deployment base such as `/` or `/app`).
//! - Framework calls are recognised by name, not by type: `Router::new`,
//!   `App::new`, `rocket::build` / `custom`, `web::scope`, `web::resource`,
//!   `web::get()` .. `web::route()` / `web::method(..)`, `get(h)` .. `any(h)`,
//!   `on(filter, h)`, `*_service(..)`, and the methods `.route`,
//!   `.route_service`, `.nest`, `.nest_service`, `.merge`, `.service`,
//!   `.configure`, `.mount`, `.to`, `.guard`, `.method`. A function of the
//!   project named like one of them (a free `get(x)`) is taken for it.
//! - Any other method on a router (`.layer`, `.with_state`, `.wrap`,
//!   `.fallback`, `.register`, `.launch`) returns the same router and adds no
//!   route; a method router's `.fallback` is not a route.
//! - Route attributes: `get`, `post`, `put`, `delete`, `patch`, `head`,
//!   `options`, `trace`, `connect` and `route`, bare or as
//!   `actix_web::` / `rocket::` / `ntex::`; the path is the first string
//!   literal or `uri = ".."` / `path = ".."`, methods from `method = ".."`
//!   or a bare `GET` ident. The same names in any other crate
//!   (`my_codegen::post`) are taken for a project's wrapper of the codegen
//!   when they have a `path = ".."` argument.
//! - Which framework a prefix belongs to decides how `/` joins: axum and
//!   Rocket `"/api" + "/"` is `/api`, actix-web is `/api/`.
//! - `nest_service(p, svc)` is one any-method route `p/{*rest}`.
//! - A router function nobody includes is a root: its routes are reported
//!   with paths relative to it (e.g. an unused `fn router()`), so nothing
//!   registered is silently lost. A router that is built and never handed to
//!   anything is reported the same way.
//! - A segment that mixes text and parameters (`/{name}.{ext}`) becomes one
//!   parameter, with a diagnostic; a regex parameter is a catch-all when its
//!   regex starts with `.*` or `.+`.
//!
//! Not followed (routes inside are missed or reported without a prefix):
//! routers built inside macros other than `routes!` / `concat!`, method
//! routers returned from functions (`.route("/x", handlers::mr())`, with a
//! diagnostic), routers stored in struct fields or collections, methods
//! called through `self` (`self.routes()`), functions nested inside
//! function bodies, and a `.configure(make_config(..))` factory.

mod attrs;
mod eval;
mod index;
mod model;
mod path;

use std::collections::{BTreeSet, HashMap, HashSet};

use self::attrs::{AttrPath, AttrRoute};
use self::eval::{ConstFacts, FnRoutes, walk_fn};
use self::index::Index;
use self::model::Entry;
use self::path::{Style, concat, join, normalise};
use crate::source::{Diagnostic, Resolver, SourceFile};

/// Includes nested deeper than this are not followed.
const MAX_INCLUDE_DEPTH: usize = 64;
/// At most this many routes are reported (a guard against include graphs
/// that multiply routes exponentially).
const MAX_ROUTES: usize = 1_000_000;

/// A route found in the code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FoundRoute {
    /// Upper-case methods, sorted; `["*"]` when any method matches.
    pub methods: Vec<String>,
    /// Full path with every prefix, in `{param}` / `{*rest}` syntax.
    pub path: String,
    /// The handler's function id, when it resolves.
    pub handler: Option<String>,
    /// File of the registration (or the attribute), relative to the root.
    pub file: String,
    /// Line of the registration: the `.route(..)` / `web::resource(..)`
    /// call for builders, the attribute for attribute-declared handlers.
    pub line: u32,
}

/// Every route registered in `files`, sorted, with a diagnostic for each
/// registration that could not be followed. The same as [`link`] of one
/// [`collect`].
#[must_use]
pub fn find_routes(
    files: &[SourceFile],
    resolver: &dyn Resolver,
) -> (Vec<FoundRoute>, Vec<Diagnostic>) {
    link(vec![collect(files, resolver)])
}

/// What some files contribute to the routes, before routers in different
/// files are linked: [`collect`] it where the syntax trees live (one part
/// per worker thread; it is `Send`), then [`link`] all parts once. Linking
/// needs every part: a router nested in one file and defined in another
/// only gets its prefix when both are linked together.
#[derive(Debug, Default)]
pub struct RouteFacts {
    /// Relative paths; entries refer to them by index.
    files: Vec<String>,
    /// Function id and what it builds.
    fns: Vec<(String, FnRoutes)>,
    /// Handler id → its route attributes.
    attrs: HashMap<String, Vec<AttrRoute<AttrPath>>>,
    /// What constant-expression paths in attributes may need.
    consts: ConstFacts,
    diagnostics: Vec<Diagnostic>,
}

/// Interprets every function of `files` (see the module docs). Names and
/// string constants resolve through `resolver`, which should know the whole
/// workspace.
#[must_use]
pub fn collect(files: &[SourceFile], resolver: &dyn Resolver) -> RouteFacts {
    let index = Index::new(files, resolver);
    let mut diagnostics = Vec::new();
    let fns = index
        .fns
        .iter()
        .map(|f| (f.id.clone(), walk_fn(&index, f, &mut diagnostics)))
        .collect();
    RouteFacts {
        files: files.iter().map(|f| f.rel_path.clone()).collect(),
        fns,
        attrs: index.attrs,
        consts: index.consts,
        diagnostics,
    }
}

/// Links the parts [`collect`] made into full routes: includes are
/// expanded from the roots with every prefix, attributed handlers get their
/// attribute's path, and paths are normalised. The result is sorted and
/// does not depend on the order of `parts`.
#[must_use]
pub fn link(parts: Vec<RouteFacts>) -> (Vec<FoundRoute>, Vec<Diagnostic>) {
    let mut all = RouteFacts::default();
    for mut part in parts {
        let offset = all.files.len();
        for (_, fn_routes) in &mut part.fns {
            fn_routes.shift_files(offset);
        }
        for attrs in part.attrs.values_mut() {
            for attr in attrs {
                attr.file += offset;
            }
        }
        all.files.append(&mut part.files);
        all.fns.append(&mut part.fns);
        for (id, attrs) in part.attrs {
            all.attrs.entry(id).or_default().extend(attrs);
        }
        all.consts.merge(part.consts);
        all.diagnostics.append(&mut part.diagnostics);
    }
    // A stable order, whatever order the parts came in.
    all.fns.sort_by(|a, b| a.0.cmp(&b.0));
    let RouteFacts {
        files,
        fns,
        attrs,
        consts,
        mut diagnostics,
    } = all;

    // Merge functions that share an id (cfg-gated twins).
    let mut returned: HashMap<&str, Vec<&Entry>> = HashMap::new();
    let mut config: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for (id, r) in &fns {
        if let Some(entries) = &r.returned {
            returned.entry(id.as_str()).or_default().extend(entries);
        }
        if let Some(entries) = &r.config {
            config.entry(id.as_str()).or_default().extend(entries);
        }
    }
    let (referenced, registered) = references(&fns);
    let attrs = attr_paths(attrs, &registered, &consts, &files, &mut diagnostics);

    let mut ex = Expander {
        files: &files,
        attrs: &attrs,
        returned: &returned,
        config: &config,
        visited: HashSet::new(),
        routes: Vec::new(),
        diags: &mut diagnostics,
        stack: Vec::new(),
        capped: false,
    };
    for (_, r) in &fns {
        for set in &r.loose {
            ex.expand(set.iter(), "", Style::Axum);
        }
    }
    // First the true roots, then whatever only a cycle reaches.
    let mut roots: Vec<(&str, bool)> = Vec::new();
    for (id, _) in &fns {
        for is_config in [false, true] {
            let map = if is_config { &config } else { &returned };
            if map.contains_key(id.as_str()) && !referenced.contains(&(id.as_str(), is_config)) {
                roots.push((id.as_str(), is_config));
            }
        }
    }
    for (id, _) in &fns {
        for is_config in [false, true] {
            roots.push((id.as_str(), is_config));
        }
    }
    for (id, is_config) in roots {
        if ex.visited.contains(&(id.to_owned(), is_config)) {
            continue;
        }
        let map = if is_config { &config } else { &returned };
        if let Some(entries) = map.get(id) {
            ex.visited.insert((id.to_owned(), is_config));
            ex.stack.push(id.to_owned());
            ex.expand(entries.iter().copied(), "", Style::Axum);
            ex.stack.pop();
        }
    }

    let mut routes = ex.routes;
    routes.sort();
    routes.dedup();
    diagnostics.sort();
    diagnostics.dedup();
    (routes, diagnostics)
}

/// The router functions includes point at (with whether they are
/// `.configure` functions), and the handlers registered for their
/// attributes.
fn references(fns: &[(String, FnRoutes)]) -> (HashSet<(&str, bool)>, HashSet<&str>) {
    let mut referenced = HashSet::new();
    let mut registered = HashSet::new();
    let all_entries = fns
        .iter()
        .flat_map(|(_, r)| r.returned.iter().chain(&r.config).chain(&r.loose).flatten());
    for entry in all_entries {
        match entry {
            Entry::Include { target, config, .. } => {
                referenced.insert((target.as_str(), *config));
            }
            Entry::Attributed { handler, .. } => {
                registered.insert(handler.as_str());
            }
            Entry::Route { .. } => {}
        }
    }
    (referenced, registered)
}

/// The attributes of the `registered` handlers with their paths as
/// strings: constant expressions evaluated, and those that cannot be
/// dropped with a diagnostic. Handlers nobody registers are not routes, so
/// their paths are not evaluated.
fn attr_paths(
    attrs: HashMap<String, Vec<AttrRoute<AttrPath>>>,
    registered: &HashSet<&str>,
    consts: &ConstFacts,
    files: &[String],
    diags: &mut Vec<Diagnostic>,
) -> HashMap<String, Vec<AttrRoute>> {
    let mut out = HashMap::with_capacity(attrs.len());
    for (handler, list) in attrs {
        if !registered.contains(handler.as_str()) {
            continue;
        }
        let mut done = Vec::with_capacity(list.len());
        for attr in list {
            match attr.path.evaluate(consts) {
                Ok(path) => done.push(attr.with_path(path)),
                Err(message) => diags.push(Diagnostic::new(
                    files.get(attr.file).cloned().unwrap_or_default(),
                    Some(attr.line),
                    message,
                )),
            }
        }
        // Kept when empty: the handler has route attributes, unreadable.
        out.insert(handler, done);
    }
    out
}

struct Expander<'m> {
    files: &'m [String],
    attrs: &'m HashMap<String, Vec<AttrRoute>>,
    returned: &'m HashMap<&'m str, Vec<&'m Entry>>,
    config: &'m HashMap<&'m str, Vec<&'m Entry>>,
    visited: HashSet<(String, bool)>,
    routes: Vec<FoundRoute>,
    diags: &'m mut Vec<Diagnostic>,
    stack: Vec<String>,
    capped: bool,
}

impl<'m> Expander<'m> {
    fn file_name(&self, file: usize) -> String {
        self.files.get(file).cloned().unwrap_or_default()
    }

    fn push(
        &mut self,
        methods: &BTreeSet<String>,
        path: &str,
        handler: Option<&String>,
        file: usize,
        line: u32,
    ) {
        if self.routes.len() >= MAX_ROUTES {
            if !self.capped {
                self.capped = true;
                self.diags.push(Diagnostic::new(
                    self.file_name(file),
                    Some(line),
                    format!("more than {MAX_ROUTES} routes; the rest are not reported"),
                ));
            }
            return;
        }
        let (path, approximate) = normalise(path);
        if approximate {
            self.diags.push(Diagnostic::new(
                self.file_name(file),
                Some(line),
                format!(
                    "route path `{path}` approximates a segment that mixes text and parameters"
                ),
            ));
        }
        let methods = if methods.contains("*") || methods.is_empty() {
            vec!["*".to_owned()]
        } else {
            methods.iter().cloned().collect()
        };
        self.routes.push(FoundRoute {
            methods,
            path,
            handler: handler.cloned(),
            file: self.file_name(file),
            line,
        });
    }

    /// Reports `entries` under `prefix`, joined as `style`'s framework does.
    fn expand<'e>(&mut self, entries: impl Iterator<Item = &'e Entry>, prefix: &str, style: Style) {
        for entry in entries {
            match entry {
                Entry::Route {
                    methods,
                    path,
                    handler,
                    file,
                    line,
                } => {
                    let full = join(style, prefix, path);
                    self.push(methods, &full, handler.as_ref(), *file, *line);
                }
                Entry::Attributed {
                    prefix: own,
                    style: own_style,
                    handler,
                    file,
                    line,
                } => {
                    let full_prefix = concat(prefix, own);
                    let Some(attrs) = self.attrs.get(handler) else {
                        self.diags.push(Diagnostic::new(
                            self.file_name(*file),
                            Some(*line),
                            format!("`{handler}` is registered as a route handler but has no route attribute; skipped"),
                        ));
                        continue;
                    };
                    for attr in attrs {
                        let full = join(*own_style, &full_prefix, &attr.path);
                        self.push(&attr.methods, &full, Some(handler), attr.file, attr.line);
                    }
                }
                Entry::Include {
                    prefix: own,
                    style: own_style,
                    target,
                    config,
                    file,
                    line,
                } => {
                    let map: &'m HashMap<&'m str, Vec<&'m Entry>> =
                        if *config { self.config } else { self.returned };
                    let Some(sub) = map.get(target.as_str()) else {
                        continue;
                    };
                    if self.stack.iter().any(|s| s == target) {
                        self.diags.push(Diagnostic::new(
                            self.file_name(*file),
                            Some(*line),
                            format!(
                                "router function `{target}` includes itself; the cycle is cut here"
                            ),
                        ));
                        continue;
                    }
                    if self.stack.len() >= MAX_INCLUDE_DEPTH {
                        self.diags.push(Diagnostic::new(
                            self.file_name(*file),
                            Some(*line),
                            format!("routers nested more than {MAX_INCLUDE_DEPTH} levels deep; `{target}` is not followed"),
                        ));
                        continue;
                    }
                    self.visited.insert((target.clone(), *config));
                    let full_prefix = concat(prefix, own);
                    self.stack.push(target.clone());
                    self.expand(sub.iter().copied(), &full_prefix, *own_style);
                    self.stack.pop();
                }
            }
        }
    }
}
