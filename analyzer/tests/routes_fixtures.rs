//! Route extraction held to the framework fixtures' `expected.toml`, the
//! shop monolith, generated huge input and arbitrary token soup.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strangler_analyzer::Consts;
use strangler_analyzer::routes::{FoundRoute, RouteFacts, collect, find_routes, link};
use strangler_analyzer::source::{Diagnostic, Resolver, SourceFile};
use syn::{Item, UseTree};

// ------------------------------------------------------------------ inputs

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Every parsable `.rs` file of the crate at `crate_dir`, with the module
/// paths the analyzer's discovery gives them (broken files skipped).
fn load_crate(crate_dir: &Path) -> Vec<SourceFile> {
    strangler_analyzer::crate_sources(crate_dir).0
}

fn source(crate_name: &str, module: &[&str], rel_path: &str, text: &str) -> SourceFile {
    let mut m = vec![crate_name.to_owned()];
    m.extend(module.iter().map(|s| (*s).to_owned()));
    SourceFile {
        rel_path: rel_path.to_owned(),
        crate_name: crate_name.to_owned(),
        crate_dir: PathBuf::new(),
        module: m,
        ast: syn::parse_file(text).expect("test source parses"),
    }
}

// ------------------------------------------------------- resolver double

/// A small stand-in for the real resolver: `use` imports (renames, groups,
/// `self`, globs), `crate`/`self`/`super`, child modules and one level of
/// re-exports. Functions only; inline modules included.
#[derive(Default)]
struct UseResolver {
    fns: HashSet<String>,
    /// module → alias → absolute path.
    uses: HashMap<Vec<String>, HashMap<String, Vec<String>>>,
    globs: HashMap<Vec<String>, Vec<Vec<String>>>,
    crates: HashSet<String>,
    /// The analyzer's own table of string constants.
    consts: Consts,
}

impl UseResolver {
    fn new(files: &[SourceFile]) -> Self {
        let mut r = Self {
            consts: Consts::from_files(files),
            ..Self::default()
        };
        for f in files {
            r.crates.insert(f.crate_name.clone());
        }
        for f in files {
            r.items(&f.ast.items, &f.module);
        }
        r
    }

    fn items(&mut self, items: &[Item], module: &[String]) {
        for item in items {
            match item {
                Item::Fn(f) => {
                    self.fns
                        .insert(format!("{}::{}", module.join("::"), f.sig.ident));
                }
                Item::Mod(m) => {
                    if let Some((_, content)) = &m.content {
                        let mut inner = module.to_vec();
                        inner.push(m.ident.to_string());
                        self.items(content, &inner);
                    }
                }
                Item::Use(u) => self.use_tree(&u.tree, module, &mut Vec::new()),
                _ => {}
            }
        }
    }

    fn use_tree(&mut self, tree: &UseTree, module: &[String], prefix: &mut Vec<String>) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, module, prefix);
                prefix.pop();
            }
            UseTree::Name(n) => {
                let (alias, target) = if n.ident == "self" {
                    (prefix.last().cloned().unwrap_or_default(), prefix.clone())
                } else {
                    let mut t = prefix.clone();
                    t.push(n.ident.to_string());
                    (n.ident.to_string(), t)
                };
                let target = self.absolute(module, &target, false);
                self.uses
                    .entry(module.to_vec())
                    .or_default()
                    .insert(alias, target);
            }
            UseTree::Rename(r) => {
                let mut t = prefix.clone();
                t.push(r.ident.to_string());
                let target = self.absolute(module, &t, false);
                self.uses
                    .entry(module.to_vec())
                    .or_default()
                    .insert(r.rename.to_string(), target);
            }
            UseTree::Glob(_) => {
                let target = self.absolute(module, prefix, false);
                self.globs.entry(module.to_vec()).or_default().push(target);
            }
            UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, module, prefix);
                }
            }
        }
    }

    fn absolute(&self, module: &[String], path: &[String], aliases: bool) -> Vec<String> {
        let Some((first, rest)) = path.split_first() else {
            return Vec::new();
        };
        let mut base = match first.as_str() {
            "crate" => module[..1].to_vec(),
            "self" => module.to_vec(),
            "super" => module[..module.len().saturating_sub(1).max(1)].to_vec(),
            name if aliases && self.uses.get(module).is_some_and(|u| u.contains_key(name)) => {
                self.uses[module][name].clone()
            }
            name if self.crates.contains(name) => vec![name.to_owned()],
            name => {
                let mut b = module.to_vec();
                b.push(name.to_owned());
                b
            }
        };
        base.extend(rest.iter().cloned());
        base
    }

    fn lookup(&self, abs: &[String], hops: u32) -> Option<String> {
        let id = abs.join("::");
        if self.fns.contains(&id) {
            return Some(id);
        }
        if hops == 0 {
            return None;
        }
        // Re-exports: `pub use` in a module along the path.
        for i in 1..abs.len() {
            if let Some(target) = self.uses.get(&abs[..i]).and_then(|u| u.get(&abs[i])) {
                let mut next = target.clone();
                next.extend(abs[i + 1..].iter().cloned());
                if let Some(found) = self.lookup(&next, hops - 1) {
                    return Some(found);
                }
            }
        }
        None
    }
}

impl Resolver for UseResolver {
    fn function(&self, module: &[String], path: &[String]) -> Option<String> {
        let abs = self.absolute(module, path, true);
        if let Some(found) = self.lookup(&abs, 4) {
            return Some(found);
        }
        for glob in self.globs.get(module).into_iter().flatten() {
            let mut candidate = glob.clone();
            candidate.extend(path.iter().cloned());
            if let Some(found) = self.lookup(&candidate, 4) {
                return Some(found);
            }
        }
        None
    }

    fn string_const(&self, module: &[String], path: &[String]) -> Option<String> {
        self.consts.resolve(module, path).map(str::to_owned)
    }
}

/// Resolves nothing: everything rests on the built-in syntactic fallback.
struct NoResolver;

impl Resolver for NoResolver {
    fn function(&self, _: &[String], _: &[String]) -> Option<String> {
        None
    }

    fn string_const(&self, _: &[String], _: &[String]) -> Option<String> {
        None
    }
}

// ------------------------------------------------------------ comparing

type Key = (Vec<String>, String, Option<String>);

fn keys(routes: &[FoundRoute]) -> BTreeSet<Key> {
    routes
        .iter()
        .map(|r| (r.methods.clone(), r.path.clone(), r.handler.clone()))
        .collect()
}

fn expected_routes(fixture: &Path) -> Vec<Key> {
    let text = std::fs::read_to_string(fixture.join("expected.toml")).expect("expected.toml");
    let table: toml::Table = text.parse().expect("expected.toml parses");
    let mut out = Vec::new();
    for route in table["route"].as_array().expect("[[route]]") {
        let mut methods: Vec<String> = route["methods"]
            .as_array()
            .expect("methods")
            .iter()
            .map(|m| m.as_str().expect("method").to_owned())
            .collect();
        methods.sort();
        out.push((
            methods,
            route["path"].as_str().expect("path").to_owned(),
            Some(route["handler"].as_str().expect("handler").to_owned()),
        ));
    }
    out
}

fn describe(keys: &BTreeSet<Key>) -> String {
    let mut s = String::new();
    for (m, p, h) in keys {
        let _ = writeln!(
            s,
            "  {} {p} -> {}",
            m.join(","),
            h.as_deref().unwrap_or("?")
        );
    }
    s
}

fn check_fixture(name: &str) -> (Vec<FoundRoute>, Vec<Diagnostic>) {
    let dir = fixtures().join("frameworks").join(name);
    let files = load_crate(&dir);
    let resolver = UseResolver::new(&files);
    let (routes, diags) = find_routes(&files, &resolver);
    let expected = expected_routes(&dir);
    let want: BTreeSet<Key> = expected.iter().cloned().collect();
    assert_eq!(
        want.len(),
        expected.len(),
        "{name}: duplicate expected routes"
    );
    let got = keys(&routes);
    assert_eq!(
        got.len(),
        routes.len(),
        "{name}: duplicate routes found: {routes:#?}"
    );
    let missing: BTreeSet<Key> = want.difference(&got).cloned().collect();
    let extra: BTreeSet<Key> = got.difference(&want).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}:\nmissing:\n{}extra:\n{}diagnostics: {diags:#?}",
        describe(&missing),
        describe(&extra)
    );
    for r in &routes {
        assert!(r.file.starts_with("src/") && r.line > 0, "{r:?}");
    }
    (routes, diags)
}

// ------------------------------------------------------------ fixtures

#[test]
fn axum_fixture() {
    let (_, diags) = check_fixture("axum-routes");
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn actix_fixture() {
    let (_, diags) = check_fixture("actix-routes");
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn rocket_fixture() {
    let (_, diags) = check_fixture("rocket-routes");
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn const_routes_fixture() {
    // Codegen wrappers (`my_codegen::post`, `actix_web_codegen_const_routes::get`,
    // a bare `get` imported from one) whose paths name constants' fields.
    let (_, diags) = check_fixture("const-routes");
    let got: Vec<String> = diags
        .iter()
        .map(|d| format!("{}:{} {}", d.file, d.line.unwrap_or(0), d.message))
        .collect();
    assert_eq!(
        got,
        [
            "src/api/mod.rs:23 route path `crate::API.account.nope` could not be evaluated: \
             the value of `const_routes::api::account::routes::Account::new` has no field `nope`; skipped",
            "src/pages.rs:71 route path `LOOP.home` could not be evaluated: \
             `const_routes::pages::LOOP.panel` refers to itself; skipped",
            "src/pages.rs:77 route path `AGAIN.home` could not be evaluated: \
             `const_routes::pages::Panel::again` refers to itself; skipped",
        ]
    );
}

#[test]
fn broken_fixture() {
    let (_, diags) = check_fixture("broken");
    assert!(diags.is_empty(), "{diags:#?}");
}

/// Every `(file, line)` holding `.route(` in a crate's sources, and how
/// many `.route(` calls there are.
fn route_call_sites(files: &[SourceFile]) -> (BTreeSet<(String, u32)>, usize) {
    let mut sites = BTreeSet::new();
    let mut calls = 0;
    for f in files {
        let text = std::fs::read_to_string(f.crate_dir.join(&f.rel_path)).expect("source");
        for (i, line) in text.lines().enumerate() {
            for _ in line.matches(".route(") {
                calls += 1;
                sites.insert((f.rel_path.clone(), u32::try_from(i + 1).expect("line")));
            }
        }
    }
    (sites, calls)
}

#[test]
fn shop_monolith_routes_have_full_prefixes() {
    let dir = fixtures().join("shop-monolith");
    let files = load_crate(&dir);
    let resolver = UseResolver::new(&files);
    let (routes, diags) = find_routes(&files, &resolver);
    assert!(diags.is_empty(), "{diags:#?}");

    // Every `.route(` call site yields at least one route.
    let (sites, calls) = route_call_sites(&files);
    let found: BTreeSet<(String, u32)> = routes.iter().map(|r| (r.file.clone(), r.line)).collect();
    let missing: Vec<_> = sites.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "`.route(` sites without a route: {missing:?}"
    );
    // The fixture's README: 49 `.route(..)` calls and 65 method+path pairs
    // (it counts `on(GET.or(POST), h)` once, as one FoundRoute does).
    assert_eq!(calls, 49);
    assert_eq!(routes.len(), 65);

    for r in &routes {
        assert!(
            r.path == "/healthz" || r.path.starts_with("/api/"),
            "route without its /api prefix: {r:?}"
        );
        let handler = r.handler.as_deref().unwrap_or("");
        assert!(handler.starts_with("shop::"), "unresolved handler: {r:?}");
    }

    let got: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{} {} -> {}",
                r.methods.join(","),
                r.path,
                r.handler.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let want = SHOP_ROUTES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>();
    assert_eq!(got, want, "got:\n{}", got.join("\n"));
}

/// The shop monolith's routes, checked by hand against `src/**/*.rs`.
const SHOP_ROUTES: &str = "
* /api/payments/webhooks/{provider} -> shop::payments::webhooks::receive
DELETE /api/accounts/addresses/{id} -> shop::accounts::addresses::remove
DELETE /api/accounts/me -> shop::accounts::profile::delete_account
DELETE /api/cart -> shop::cart::clear
DELETE /api/cart/items/{product_id} -> shop::cart::remove_item
DELETE /api/catalog/products/{id} -> shop::catalog::products::archive
DELETE /api/reviews/{id}/votes -> shop::reviews::votes::retract
GET /api/accounts/addresses -> shop::accounts::addresses::list
GET /api/accounts/me -> shop::accounts::profile::get_profile
GET /api/admin/audit -> shop::accounts::audit::list
GET /api/admin/dashboard -> shop::orders::reports::dashboard
GET /api/admin/orders/export -> shop::orders::reports::export_orders
GET /api/admin/orders/{id}/history -> shop::orders::reports::history
GET /api/cart -> shop::cart::show
GET /api/catalog/c/{*path} -> shop::catalog::categories::browse
GET /api/catalog/categories -> shop::catalog::categories::list
GET /api/catalog/price-rules -> shop::catalog::pricing::list_rules
GET /api/catalog/products -> shop::catalog::products::list
GET /api/catalog/products/{id} -> shop::catalog::products::show
GET /api/catalog/products/{id}/page -> shop::catalog::products::page
GET /api/catalog/products/{id}/price -> shop::catalog::pricing::price_for_product
GET /api/inventory/movements/export -> shop::inventory::import::export_movements
GET /api/inventory/stock/{product_id} -> shop::inventory::stock::levels
GET /api/inventory/warehouses -> shop::inventory::warehouses::list
GET /api/notifications -> shop::notifications::list
GET /api/orders -> shop::orders::list
GET /api/orders/{id} -> shop::orders::show
GET /api/payments/{id} -> shop::payments::show
GET /api/reviews/moderation -> shop::reviews::moderation::queue
GET /api/reviews/products/{product_id} -> shop::reviews::list_for_product
GET /api/shipping/rates -> shop::shipping::rates::list
GET /api/shipping/shipments/{id} -> shop::shipping::shipments::show
GET /api/shipping/track/{carrier}/{*tracking_number} -> shop::shipping::shipments::track
GET /healthz -> shop::app::healthz
GET,POST /api/orders/checkout/preview -> shop::orders::checkout::preview
PATCH /api/accounts/me -> shop::accounts::profile::update_profile
PATCH /api/admin/orders/{id}/status -> shop::orders::reports::set_status
PATCH /api/cart/items/{product_id} -> shop::cart::set_quantity
PATCH /api/shipping/shipments/{id} -> shop::shipping::shipments::add_tracking_event
POST /api/accounts/addresses -> shop::accounts::addresses::create
POST /api/accounts/login -> shop::accounts::auth::login
POST /api/accounts/logout -> shop::accounts::auth::logout
POST /api/accounts/register -> shop::accounts::auth::register
POST /api/cart/items -> shop::cart::add_item
POST /api/catalog/categories -> shop::catalog::categories::create
POST /api/catalog/price-rules -> shop::catalog::pricing::create_rule
POST /api/catalog/products -> shop::catalog::products::create
POST /api/inventory/movements/import -> shop::inventory::import::import_movements
POST /api/inventory/reconcile -> shop::inventory::import::reconcile
POST /api/inventory/warehouses -> shop::inventory::warehouses::create
POST /api/notifications/outbox/flush -> shop::notifications::outbox::flush
POST /api/notifications/{id}/read -> shop::notifications::mark_read
POST /api/orders/checkout -> shop::orders::checkout::place_order
POST /api/orders/{id}/cancel -> shop::orders::cancel
POST /api/payments/{id}/capture -> shop::payments::capture
POST /api/payments/{id}/refunds -> shop::payments::refunds::create
POST /api/reviews/products/{product_id} -> shop::reviews::create
POST /api/reviews/{id}/moderate -> shop::reviews::moderation::moderate
POST /api/reviews/{id}/votes -> shop::reviews::votes::vote
POST /api/shipping/shipments -> shop::shipping::shipments::create
PUT /api/accounts/addresses/{id} -> shop::accounts::addresses::replace
PUT /api/cart/items/bulk -> shop::cart::replace_items
PUT /api/catalog/products/{id} -> shop::catalog::products::replace
PUT /api/inventory/stock/{product_id}/{warehouse_id} -> shop::inventory::stock::set_level
PUT /api/shipping/rates -> shop::shipping::rates::upsert
";

#[test]
fn parts_collected_apart_link_like_one() {
    // As the analyzer's workers do: each collects its share of the files
    // (with the whole workspace's resolver); one link sees them all.
    fn assert_send<T: Send>() {}
    assert_send::<RouteFacts>();
    for fixture in [
        "shop-monolith",
        "frameworks/actix-routes",
        "frameworks/rocket-routes",
        "frameworks/const-routes",
    ] {
        let files = load_crate(&fixtures().join(fixture));
        let resolver = UseResolver::new(&files);
        let whole = find_routes(&files, &resolver);
        let mut shares: Vec<Vec<SourceFile>> = vec![Vec::new(), Vec::new(), Vec::new()];
        for (i, f) in files.into_iter().enumerate() {
            shares[i % 3].push(f);
        }
        let mut parts: Vec<RouteFacts> = shares.iter().map(|s| collect(s, &resolver)).collect();
        parts.reverse();
        assert_eq!(link(parts), whole, "{fixture}");
    }
}

#[test]
fn no_resolver_still_finds_local_and_anchored_handlers() {
    // Without imports resolved, `crate::`-anchored and same-module paths
    // still resolve; the renamed import does not.
    let dir = fixtures().join("frameworks").join("axum-routes");
    let files = load_crate(&dir);
    let (routes, _) = find_routes(&files, &NoResolver);
    let got = keys(&routes);
    assert!(got.contains(&(
        vec!["GET".into()],
        "/".into(),
        Some("axum_routes::root".into())
    )));
    assert!(got.contains(&(
        vec!["GET".into()],
        "/api/health".into(),
        Some("axum_routes::health::check".into())
    )));
    assert!(got.contains(&(vec!["GET".into()], "/admin/stats".into(), None)));
}

// ------------------------------------------------------------ special cases

fn run(files: &[SourceFile]) -> (BTreeSet<String>, Vec<Diagnostic>) {
    let resolver = UseResolver::new(files);
    let (routes, diags) = find_routes(files, &resolver);
    let lines = routes
        .iter()
        .map(|r| {
            format!(
                "{} {} -> {}",
                r.methods.join(","),
                r.path,
                r.handler.as_deref().unwrap_or("?")
            )
        })
        .collect();
    (lines, diags)
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn axum_locals_consts_helpers_and_unused_routers() {
    let lib = source(
        "app",
        &[],
        "src/lib.rs",
        r#"
        mod paths { pub const ITEMS: &str = "/items"; }
        const USERS: &str = "/users";
        pub fn app() -> Router {
            let mut r = Router::new();
            r = r.route(USERS, get(list)).route(paths::ITEMS, post(list));
            let api = Router::new().route("/:id", axum::routing::delete(list)).route_service("/svc", list);
            let r = r.nest("/api", api);
            let r = with_health(r);
            if cfg!(debug) { r.merge(debug_routes()) } else { r }
        }
        fn with_health(r: Router) -> Router { r.route("/health", get(health)) }
        fn debug_routes() -> Router { Router::new().route("/debug/*rest", any(health)) }
        fn unused() -> Router { Router::new().route("/orphan", get(health).post(list)) }
        fn dynamic(p: String) -> Router { Router::new().route(&p, get(health)) }
        async fn list() {}
        async fn health() {}
        "#,
    );
    let (got, diags) = run(&[lib]);
    assert_eq!(
        got,
        set(&[
            "GET /users -> app::list",
            "POST /items -> app::list",
            "DELETE /api/{id} -> app::list",
            "* /api/svc -> app::list",
            "GET /health -> app::health",
            "* /debug/{*rest} -> app::health",
            "GET /orphan -> app::health",
            "POST /orphan -> app::list",
        ])
    );
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(diags[0].message.contains("route path `&p`"), "{diags:#?}");
    assert_eq!(diags[0].line, Some(15));
}

/// Prefixes and paths built at run time keep their literal part (the
/// runtime parts taken as empty), with a diagnostic saying what was
/// assumed: axum `format!`, Rocket `[base, "/api"].concat()`, actix-web
/// `prefix.to_owned() + "/v1"`. A value with no literal part is skipped.
#[test]
fn runtime_prefixes_keep_their_literal_part() {
    let lib = source(
        "app",
        &[],
        "src/lib.rs",
        r#"
        pub fn app(base: &str, version: u8) -> Router {
            Router::new()
                .nest(&format!("{base}/orders"), Router::new().route("/", get(list)))
                .nest(&format!("{}/v{}/users", base, version), Router::new().route("/{id}", get(list)))
                .nest(&(base.to_owned() + "/admin"), Router::new().route("/stats", get(list)))
                .nest(base, Router::new().route("/unknowable", get(list)))
        }
        pub fn rocket_app(base_path: String) -> Rocket<Build> {
            rocket::build().mount([base_path.as_str(), "/api"].concat(), routes![index])
        }
        #[get("/index")]
        async fn index() {}
        async fn list() {}
        "#,
    );
    let (got, diags) = run(&[lib]);
    assert_eq!(
        got,
        set(&[
            "GET /orders -> app::list",
            "GET /v/users/{id} -> app::list",
            "GET /admin/stats -> app::list",
            "GET /unknowable -> app::list",
            "GET /api/index -> app::index",
        ]),
        "{diags:#?}"
    );
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages.contains(
            &"nest prefix `&format!(\"{base}/orders\")` is built at run time: assumed `base` empty, so the path kept is `/orders`; write the real prefix into the plan's routes if it is not empty"
        ),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("mount base `[base_path.as_str(), \"/api\"].concat()` is built at run time: assumed `base_path` empty")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("nest prefix `base` is not a string literal")),
        "{messages:#?}"
    );
}

/// actix-files `Files::new(path, dir)` serves every file below its path
/// to GET and HEAD, with builder calls after it, inside a scope or not.
#[test]
fn actix_files_services_are_catch_all_routes() {
    let main = source(
        "app",
        &[],
        "src/main.rs",
        r#"
        fn app(assets: std::path::PathBuf) -> App {
            App::new()
                .service(web::resource("/static/main.js").route(web::get().to(main_js)))
                .service(Files::new("/pkg", assets.join("pkg")).use_last_modified(true))
                .service(web::scope("/admin").service(actix_files::Files::new("/", "./admin").index_file("index.html")))
        }
        async fn main_js() {}
        "#,
    );
    let (got, diags) = run(&[main]);
    assert_eq!(
        got,
        set(&[
            "GET /static/main.js -> app::main_js",
            "GET,HEAD /pkg/{*rest} -> ?",
            "GET,HEAD /admin/{*rest} -> ?",
        ]),
        "{diags:#?}"
    );
}

/// utoipa-swagger-ui: `SwaggerUi::new(path)` serves its page and assets,
/// `.url(path, doc)` the `OpenAPI` document, merged into axum or as an
/// actix-web service (whose `{_:.*}` tail is a catch-all).
#[test]
fn swagger_ui_pages_and_openapi_documents_are_routes() {
    let main = source(
        "app",
        &[],
        "src/main.rs",
        r#"
        fn axum_app(api: OpenApi) -> Router {
            Router::new()
                .route("/health", get(health))
                .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", api))
        }
        fn actix_app() -> App {
            App::new().service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", ApiDoc::openapi()))
        }
        async fn health() {}
        "#,
    );
    let (got, diags) = run(&[main]);
    assert_eq!(
        got,
        set(&[
            "GET /health -> app::health",
            "GET /api/docs -> ?",
            "GET /api/docs/{*rest} -> ?",
            "GET /api/openapi.json -> ?",
            "GET /swagger-ui -> ?",
            "GET /swagger-ui/{*_} -> ?",
            "GET /api-docs/openapi.json -> ?",
        ]),
        "{diags:#?}"
    );
}

#[test]
fn actix_configure_closure_and_nested_config_calls() {
    let main = source(
        "shop",
        &[],
        "src/main.rs",
        r#"
        mod users;
        fn main() {
            HttpServer::new(move || {
                App::new()
                    .configure(|cfg| { cfg.service(web::scope("/c").route("", web::route().to(h))); })
                    .service(web::scope("/api").configure(config))
                    .service(web::resource(["/a", "/b"]).route(web::route().guard(guard::Post()).to(h)))
                    .service(api_scope())
            });
        }
        fn config(cfg: &mut web::ServiceConfig) {
            users::config(cfg);
            cfg.route("/x", web::method(Method::PATCH).to(h));
        }
        fn api_scope() -> Scope { web::scope("/s").service(index) }
        #[actix_web::get("/")]
        async fn index() {}
        async fn h() {}
        "#,
    );
    let users = source(
        "shop",
        &["users"],
        "src/users.rs",
        r#"
        pub fn config(cfg: &mut ServiceConfig) { cfg.service(web::resource("/users").to(super::h)); }
        "#,
    );
    let (got, diags) = run(&[main, users]);
    assert_eq!(
        got,
        set(&[
            "* /c -> shop::h",
            "* /api/users -> shop::h",
            "PATCH /api/x -> shop::h",
            "POST /a -> shop::h",
            "POST /b -> shop::h",
            "GET /s/ -> shop::index",
        ])
    );
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn rocket_unmounted_catchers_and_cycles() {
    let main = source(
        "r",
        &[],
        "src/main.rs",
        r#"
        #[get("/<a>/<b..>?<q>")] fn one() {}
        #[catch(404)] fn nf() {}
        #[post("/x")] fn unmounted() {}
        #[rocket::main]
        async fn main() {
            let _ = rocket::build().mount("/m", routes![one]).register("/", catchers![nf]).launch().await;
        }
        fn a() -> Router { Router::new().route("/a", get(one)).merge(b()) }
        fn b() -> Router { Router::new().nest("/b", a()) }
        "#,
    );
    let (got, diags) = run(&[main]);
    assert_eq!(
        got,
        set(&["GET /m/{a}/{*b} -> r::one", "GET /a -> r::one",])
    );
    assert!(
        diags.iter().any(|d| d.message.contains("includes itself")),
        "{diags:#?}"
    );
}

#[test]
fn utoipa_openapi_router_routes_macro_and_split_for_parts() {
    let main = source(
        "reg",
        &[],
        "src/main.rs",
        r#"
        mod users;
        use utoipa_axum::{router::OpenApiRouter, routes};
        fn main() {
            let app = create_router();
            axum::serve(listener, app);
        }
        pub fn create_router() -> Router {
            let mut api: OpenApiRouter<S> = OpenApiRouter::with_openapi(ApiDoc::openapi())
                .route("/", get(index))
                .nest("/api/v1/users", users::routes());
            if enabled {
                api = api.nest("/api/v1/extra", OpenApiRouter::new().routes(routes!(index)));
            }
            let (router, doc): (Router, _) = api.split_for_parts();
            router.merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc))
        }
        async fn index() {}
        "#,
    );
    let users = source(
        "reg",
        &["users"],
        "src/users.rs",
        r#"
        pub fn routes() -> OpenApiRouter<S> {
            let upload: OpenApiRouter<S> = Router::new().route("/", put(upload)).into();
            OpenApiRouter::new()
                .routes(routes!(list, add))
                .merge(upload)
                .routes(routes!(remove))
        }
        #[utoipa::path(get, path = "/", tag = "users", responses((status = 200, body = Vec<User>)))]
        async fn list() {}
        #[utoipa::path(post, path = "/", params(("name" = String, Path, description = "a name")))]
        async fn add() {}
        #[utoipa::path(method(delete, head), path = "/{name}")]
        async fn remove() {}
        async fn upload() {}
        "#,
    );
    let (got, diags) = run(&[main, users]);
    assert_eq!(
        got,
        set(&[
            "GET / -> reg::index",
            // `index` has no `#[utoipa::path]`: registered, but no route.
            "GET /api/v1/users -> reg::users::list",
            "POST /api/v1/users -> reg::users::add",
            "PUT /api/v1/users -> reg::users::upload",
            "DELETE,HEAD /api/v1/users/{name} -> reg::users::remove",
            // The Swagger UI the router merges, and its document.
            "GET /api/docs -> ?",
            "GET /api/docs/{*rest} -> ?",
            "GET /api/openapi.json -> ?",
        ])
    );
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(
        diags[0].message.contains("has no route attribute"),
        "{diags:#?}"
    );
}

#[test]
fn aide_api_routes_with_documented_method_routers() {
    let lib = source(
        "hooks",
        &[],
        "src/lib.rs",
        r#"
        pub fn serve() {
            let v1 = router().with_state(state);
            let app = ApiRouter::new().nest_api_service("/api/v1", v1).finish_api(&mut doc);
            axum::serve(listener, app);
        }
        pub fn router() -> ApiRouter<S> {
            let tag = openapi_tag("Endpoint");
            ApiRouter::new()
                .api_route_with(
                    "/app/{app_id}/endpoint",
                    post_with(create, create_operation).get_with(list, list_operation),
                    &tag,
                )
                .api_route("/health", get(health))
                .route("/old", axum::routing::get(list))
        }
        async fn create() {}
        async fn list() {}
        async fn health() {}
        fn create_operation(op: TransformOperation) -> TransformOperation { op }
        fn list_operation(op: TransformOperation) -> TransformOperation { op }
        "#,
    );
    let (got, diags) = run(&[lib]);
    assert_eq!(
        got,
        set(&[
            "POST /api/v1/app/{app_id}/endpoint -> hooks::create",
            "GET /api/v1/app/{app_id}/endpoint -> hooks::list",
            "GET /api/v1/health -> hooks::health",
            "GET /api/v1/old -> hooks::list",
        ])
    );
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn actix_bare_builders_through_a_glob_import() {
    let main = source(
        "cap",
        &[],
        "src/main.rs",
        r#"
        use actix_web::web::*;
        fn main() {
            HttpServer::new(|| App::new().service(
                scope("/api")
                    .service(resource("/x").route(get().to(h)).route(post().to(h)))
                    .route("/any", route().to(h))
                    .route("/m", method(Method::PATCH).to(h)),
            ));
        }
        async fn h() {}
        "#,
    );
    let (got, diags) = run(&[main]);
    assert_eq!(
        got,
        set(&[
            "GET /api/x -> cap::h",
            "POST /api/x -> cap::h",
            "* /api/any -> cap::h",
            "PATCH /api/m -> cap::h",
        ])
    );
    assert!(diags.is_empty(), "{diags:#?}");
}

// ------------------------------------------------------------ robustness

#[test]
fn chain_of_3000_routes() {
    let mut text = String::from("pub fn router() -> Router {\n    Router::new()\n");
    for i in 0..3000 {
        let _ = writeln!(text, "        .route(\"/r/{i}\", get(h{i}))");
    }
    text.push_str("}\n");
    for i in 0..3000 {
        let _ = writeln!(text, "async fn h{i}() {{}}");
    }
    let file = source("huge", &[], "src/lib.rs", &text);
    let (routes, diags) = find_routes(
        std::slice::from_ref(&file),
        &UseResolver::new(std::slice::from_ref(&file)),
    );
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(routes.len(), 3000);
    let paths: HashSet<&str> = routes.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.contains("/r/0") && paths.contains("/r/2999"));
    let r = routes
        .iter()
        .find(|r| r.path == "/r/1234")
        .expect("route 1234");
    assert_eq!(r.handler.as_deref(), Some("huge::h1234"));
    assert_eq!(r.line, 1237);
}

#[test]
fn deeply_nested_expression_is_a_diagnostic() {
    let depth = 400;
    let text = format!(
        "fn f() {{ let x = {}Router::new().route(\"/a\", get(h)){}; }}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    // syn parses and drops recursively: give it a big stack; the routes
    // pass itself runs with whatever it is given.
    let (routes, diags) = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let file = source("deep", &[], "src/lib.rs", &text);
            find_routes(std::slice::from_ref(&file), &NoResolver)
        })
        .expect("spawn")
        .join()
        .expect("no panic");
    assert!(routes.is_empty());
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(diags[0].message.contains("nested more than"));
}

const WORDS: &[&str] = &[
    "Router",
    "App",
    "web",
    "scope",
    "resource",
    "new",
    "route",
    "nest",
    "merge",
    "service",
    "configure",
    "mount",
    "routes",
    "rocket",
    "build",
    "get",
    "post",
    "any",
    "on",
    "to",
    "MethodFilter",
    "GET",
    "or",
    "cfg",
    "app",
    "r",
    "h",
    "Ok",
    "self",
    "super",
    "crate",
    "\"/a\"",
    "\"/{id:.*}\"",
    "\"<x..>\"",
    "\"\"",
    "\":p\"",
    "\"?\"",
    ".",
    "::",
    "(",
    ")",
    "(",
    ")",
    ",",
    ",",
    "|c|",
    "&",
    "&mut",
    "let",
    "=",
    ";",
    "{",
    "}",
    "[",
    "]",
    "!",
    "return",
    "if",
    "else",
    "true",
    "match",
    "_",
    "=>",
    "?",
    ".await",
    "move",
    "async",
    "concat!",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..80).prop_map(|w| w.join(" "))
}

const LEAVES: &[&str] = &[
    "h",
    "m::h",
    "crate::m::h",
    "super::h",
    "cfg",
    "x",
    "P",
    "api()",
    "m::api()",
    "Router::new()",
    "App::new()",
    "web::scope(\"/s\")",
    "web::resource(\"/r/{x:.*}\")",
    "web::get()",
    "web::route()",
    "routes![h, m::h, nope]",
    "rocket::build()",
    "MethodFilter::GET",
    "\"/a/{id}\"",
    "\"\"",
    "\"<p..>\"",
    "\":q/*r\"",
    "|c| c",
    "42",
    "concat!(\"/a\", \"b\")",
];
const METHODS: &[&str] = &[
    "route",
    "nest",
    "merge",
    "service",
    "configure",
    "mount",
    "to",
    "or",
    "get",
    "post",
    "on",
    "route_service",
    "nest_service",
    "layer",
    "with_state",
    "guard",
    "method",
    "await",
];

/// Random but syntactically valid router-ish expressions.
fn router_expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(LEAVES).prop_map(str::to_owned);
    leaf.prop_recursive(8, 64, 3, |inner| {
        let args = prop::collection::vec(inner.clone(), 0..3).prop_map(|a| a.join(", "));
        prop_oneof![
            (inner.clone(), prop::sample::select(METHODS), args.clone()).prop_map(|(r, m, a)| {
                if m == "await" {
                    format!("{r}.await")
                } else {
                    format!("{r}.{m}({a})")
                }
            }),
            (
                prop::sample::select(
                    &["get", "any", "on", "web::scope", "api", "m::api", "Ok"][..]
                ),
                args
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}, {b})")),
            inner.clone().prop_map(|a| format!("&{a}")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("{{ let x = {a}; x = {b}; x }}")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("if c {{ {a} }} else {{ {b} }}")),
            inner.prop_map(|a| format!("match x {{ _ => {a} }}")),
        ]
    })
}

const CONST_LEAVES: &[&str] = &[
    "A",
    "B",
    "crate::A",
    "m::C",
    "self::m::C",
    "x",
    "p",
    "S::new()",
    "Self::new()",
    "\"/s/\"",
    "\"\"",
    "0",
    "1",
    "concat!(\"/a\", \"/b\")",
];

/// Random constant expressions: fields, struct literals, calls, slices.
fn const_expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(CONST_LEAVES).prop_map(str::to_owned);
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(&["a", "b", "c"][..]))
                .prop_map(|(e, f)| format!("{e}.{f}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("S {{ a: {a}, b: {b} }}")),
            inner.clone().prop_map(|a| format!("f({a})")),
            inner.clone().prop_map(|a| format!("{a}.len()")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("&{a}[{b}..{a}.len() - 1]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} - {b})")),
            inner.prop_map(|a| format!("{a}.trim()")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(body in soup(), attr in soup()) {
        let text = format!(
            "mod m {{ #[get({attr})] pub fn h() {{}} pub fn f(cfg: &mut ServiceConfig) -> Router {{ {body} }} }}\n\
             fn g() {{ let app = {body}; }}"
        );
        if let Ok(ast) = syn::parse_file(&text) {
            let file = SourceFile {
                rel_path: "src/lib.rs".into(),
                crate_name: "soup".into(),
                crate_dir: PathBuf::new(),
                module: vec!["soup".into()],
                ast,
            };
            let files = [file];
            let (routes, _) = find_routes(&files, &UseResolver::new(&files));
            for r in routes {
                prop_assert!(r.path.starts_with('/'));
                prop_assert!(!r.path.contains("//"));
                prop_assert!(!r.methods.is_empty());
            }
        }
    }

    #[test]
    fn router_expressions_never_panic(a in router_expr(), b in router_expr(), c in router_expr()) {
        let text = format!(
            "const P: &str = \"/p\";\n\
             fn api() -> Router {{ {a} }}\n\
             fn cfgf(cfg: &mut ServiceConfig) {{ {b}; }}\n\
             mod m {{ pub fn api() -> Router {{ {c} }} #[get(\"/h/<x>\")] pub fn h() {{}} }}\n\
             #[route(\"/r\", method = \"GET\")] fn h() {{}}"
        );
        let Ok(ast) = syn::parse_file(&text) else {
            return Err(TestCaseError::fail(format!("generator made invalid Rust: {text}")));
        };
        let files = [SourceFile {
            rel_path: "src/lib.rs".into(),
            crate_name: "gen".into(),
            crate_dir: PathBuf::new(),
            module: vec!["gen".into()],
            ast,
        }];
        let (routes, diags) = find_routes(&files, &UseResolver::new(&files));
        for r in routes {
            prop_assert!(r.path.starts_with('/') && !r.path.contains("//"), "{:?}", r);
            prop_assert!(r.line > 0);
        }
        for d in diags {
            prop_assert!(d.line.is_some_and(|l| l > 0), "{:?}", d);
        }
    }

    #[test]
    fn constant_expression_paths_never_panic(
        exprs in prop::collection::vec(const_expr(), 8),
    ) {
        let [a, b, c, x, tail, f, p1, p2] = &exprs[..] else {
            return Err(TestCaseError::fail("eight expressions"));
        };
        let text = format!(
            "const A: S = {a};\n\
             const B: S = {b};\n\
             mod m {{ pub const C: &str = {c}; }}\n\
             impl S {{ const fn new() -> S {{ let x = {x}; {tail} }} }}\n\
             const fn f(p: S) -> S {{ {f} }}\n\
             fn cfgf(cfg: &mut ServiceConfig) {{ cfg.service(h1).service(h2); }}\n\
             #[my_codegen::get(path = {p1:?})] fn h1() {{}}\n\
             #[post(path = {p2:?})] fn h2() {{}}"
        );
        let Ok(ast) = syn::parse_file(&text) else {
            return Ok(());
        };
        let files = [SourceFile {
            rel_path: "src/lib.rs".into(),
            crate_name: "gen".into(),
            crate_dir: PathBuf::new(),
            module: vec!["gen".into()],
            ast,
        }];
        let (routes, diags) = find_routes(&files, &UseResolver::new(&files));
        for r in routes {
            prop_assert!(r.path.starts_with('/') && !r.path.contains("//"), "{:?}", r);
        }
        for d in diags {
            prop_assert!(d.line.is_some_and(|l| l > 0), "{:?}", d);
        }
    }

    #[test]
    fn arbitrary_paths_normalise_to_templates(path in "[/a-z{}<>:*.?#_ \\\\d+-]{0,40}") {
        let text = format!("fn f() -> Router {{ Router::new().route({path:?}, get(f)) }}");
        let file = source("p", &[], "src/lib.rs", &text);
        let (routes, _) = find_routes(std::slice::from_ref(&file), &NoResolver);
        prop_assert_eq!(routes.len(), 1);
        let p = &routes[0].path;
        prop_assert!(p.starts_with('/'), "{}", p);
        prop_assert!(!p.contains(['?', '#', ' ']), "{}", p);
        let segments: Vec<&str> = p[1..].split('/').collect();
        let mut names = HashSet::new();
        for (i, s) in segments.iter().enumerate() {
            prop_assert!(!s.is_empty() || i + 1 == segments.len(), "{}", p);
            if let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let (catch_all, name) = inner.strip_prefix('*').map_or((false, inner), |n| (true, n));
                prop_assert!(!catch_all || i + 1 == segments.len(), "{}", p);
                prop_assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{}", p);
                prop_assert!(!name.starts_with(|c: char| c.is_ascii_digit()), "{}", p);
                prop_assert!(names.insert(name.to_owned()), "{}", p);
            } else {
                prop_assert!(!s.contains(['{', '}']), "{}", p);
            }
        }
    }
}

/// Two routers mounted under prefixes the analysis cannot see (here a
/// runtime value) both register `GET /list`: they are different routes, so
/// the graph keeps a node for each, handled by its own handler, and says
/// which prefixes to look for; one handler registered twice stays one route.
#[test]
fn routes_that_share_a_path_after_a_lost_prefix_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("src/main.rs"),
        r#"use axum::{Router, routing::get};
mod orders { pub async fn list() {} }
mod invoices { pub async fn list() {} }
fn orders_router() -> Router { Router::new().route("/list", get(orders::list)) }
fn invoices_router() -> Router {
    Router::new().route("/list", get(invoices::list)).route("/list", get(invoices::list))
}
fn main() {
    let orders = std::env::var("ORDERS_BASE").unwrap();
    let invoices = std::env::var("INVOICES_BASE").unwrap();
    let _app: Router = Router::new()
        .nest(&orders, orders_router())
        .nest(&invoices, invoices_router());
}
"#,
    )
    .unwrap();
    let analysis =
        strangler_analyzer::analyze(root, &strangler_analyzer::Config::default()).unwrap();
    let handlers: BTreeSet<(String, String)> = analysis
        .nodes
        .iter()
        .filter_map(|n| match &n.detail {
            strangler_analyzer::Detail::Route { path, handler, .. } if path.ends_with("/list") => {
                Some((path.clone(), handler.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect();
    let handled: BTreeSet<&str> = handlers.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(
        handled,
        BTreeSet::from(["app::invoices::list", "app::orders::list"]),
        "{handlers:?}"
    );
    // The runtime prefixes are skipped, so both routers are roots: one path.
    let paths: BTreeSet<&str> = handlers.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, BTreeSet::from(["/list"]));
    let collisions: Vec<&str> = analysis
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .filter(|m| m.contains("is also registered at src/main.rs"))
        .collect();
    assert_eq!(collisions.len(), 1, "{:#?}", analysis.diagnostics);
}
