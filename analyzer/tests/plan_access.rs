//! The plan's data access on the shop monolith: each route's `writes` (the
//! tables its handler's call chains write) and each table's `readers`, as
//! `strangler analyze --out` writes and refreshes them.

use std::path::Path;

use strangler_analyzer::cluster::{Coupling, SuggestConfig, Suggestion, plan, suggest};
use strangler_analyzer::{Analysis, Config, analyze};
use strangler_plan::{Plan, Route, RouteStage, TableStage, has_errors, parse, validate};

fn shop() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/shop-monolith")
}

fn analysed() -> (Analysis, Suggestion) {
    let analysis = analyze(&shop(), &Config::default()).unwrap();
    let suggestion = suggest(&analysis, &SuggestConfig::default()).unwrap();
    (analysis, suggestion)
}

fn route<'p>(plan: &'p Plan, method: &str, path: &str) -> &'p Route {
    plan.services
        .iter()
        .flat_map(|s| &s.routes)
        .find(|r| {
            r.path.to_string() == path
                && r.methods
                    .as_ref()
                    .is_some_and(|m| m.iter().any(|m| m.as_str() == method))
        })
        .unwrap_or_else(|| panic!("no route {method} {path} in the plan"))
}

fn assert_valid(plan: &Plan) {
    let diagnostics = validate(plan);
    assert!(!has_errors(&diagnostics), "{diagnostics:#?}");
}

#[test]
fn a_new_plan_lists_what_each_route_writes_and_who_reads_each_table() {
    let (_, suggestion) = analysed();
    let (plan, warnings) = plan::apply(None, &suggestion, "shop");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_valid(&plan);
    // Placing an order writes the order and its items itself, and through
    // its calls reserves stock (`inventory::stock::reserve`), creates the
    // payment (`payments::create_and_authorize`), empties the cart
    // (`cart::store::empty`), notifies, queues the mail and audits.
    assert_eq!(
        route(&plan, "POST", "/api/orders/checkout").writes,
        [
            "audit_log",
            "cart_items",
            "email_outbox",
            "notifications",
            "order_items",
            "orders",
            "payments",
            "stock_levels",
        ]
    );
    // Reading orders writes nothing.
    assert_eq!(
        route(&plan, "GET", "/api/orders").writes,
        Vec::<String>::new()
    );
    assert_eq!(
        route(&plan, "GET", "/api/orders/{id}").writes,
        Vec::<String>::new()
    );

    let readers = |table: &str| {
        plan.services
            .iter()
            .flat_map(|s| &s.tables)
            .find(|t| t.name == table)
            .unwrap_or_else(|| panic!("no table {table}"))
            .readers
            .clone()
    };
    // `orders` is used by the order modules and, through their calls, by
    // the areas that look orders up (payments, shipping, reviews).
    let orders = readers("orders");
    for module in [
        "shop::orders",
        "shop::orders::checkout",
        "shop::orders::reports",
    ] {
        assert!(orders.iter().any(|m| m == module), "{module}: {orders:?}");
    }
    // Registering a handler is not reading: the composition root, which
    // names every handler, reads no table.
    assert!(
        !orders.iter().any(|m| m == "shop::app" || m == "shop"),
        "{orders:?}"
    );
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "sorted: {orders:?}");
}

#[test]
fn a_refresh_keeps_hand_added_writes_and_replaces_readers() {
    let (_, suggestion) = analysed();
    let (mut first, _) = plan::apply(None, &suggestion, "shop");
    // The user adds a write the analysis cannot see (a trigger, say), and a
    // reader the analysis will not find again.
    let list = first
        .services
        .iter_mut()
        .flat_map(|s| &mut s.routes)
        .find(|r| r.path.to_string() == "/api/orders")
        .unwrap();
    list.writes.push("order_views".to_owned());
    let table = first
        .services
        .iter_mut()
        .flat_map(|s| &mut s.tables)
        .find(|t| t.name == "orders")
        .unwrap();
    table.readers.push("shop::gone".to_owned());
    let (second, warnings) = plan::apply(Some(&first), &suggestion, "shop");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_valid(&second);
    assert_eq!(route(&second, "GET", "/api/orders").writes, ["order_views"]);
    assert!(
        route(&second, "POST", "/api/orders/checkout")
            .writes
            .contains(&"orders".to_owned())
    );
    let orders = second
        .services
        .iter()
        .flat_map(|s| &s.tables)
        .find(|t| t.name == "orders")
        .unwrap();
    assert!(!orders.readers.contains(&"shop::gone".to_owned()));
    // A third run changes nothing.
    let (third, _) = plan::apply(Some(&second), &suggestion, "shop");
    assert_eq!(third, second);
}

#[test]
fn a_refresh_of_a_plan_with_live_routes_stays_valid_and_says_what_it_left_out() {
    let (_, suggestion) = analysed();
    let text = std::fs::read_to_string(shop().join("strangler.toml")).unwrap();
    let parsed = parse(&text);
    assert!(parsed.is_valid(), "{:#?}", parsed.diagnostics);
    let existing = parsed.plan;
    let (refreshed, warnings) = plan::apply(Some(&existing), &suggestion, "shop");
    assert_valid(&refreshed);
    // The fixture's live `* /api/catalog/categories` takes the analysed
    // `POST /api/catalog/categories`, which writes `categories` (catalog's,
    // decommissioned: allowed) and, through `audit::record`, `audit_log`
    // (accounts' table: adding it would make the live route invalid).
    let categories = refreshed.services[0]
        .routes
        .iter()
        .find(|r| r.path.to_string() == "/api/catalog/categories")
        .unwrap();
    assert_eq!(categories.stage, RouteStage::Live);
    assert_eq!(categories.writes, ["categories"]);
    let said = |route: &str, table: &str, why: &str| {
        warnings.iter().any(|w| {
            w.starts_with(&format!(
                "route {route} of service `catalog` writes table `{table}`"
            )) && w.contains(why)
        })
    };
    assert!(
        said(
            "* /api/catalog/categories",
            "audit_log",
            "the table belongs to service `accounts`"
        ),
        "{warnings:#?}"
    );
    // `products` is owned by catalog, so the product-writing routes the
    // analysis adds at `monolith` may not list it: its writes would reach
    // the monolith's copy. That is a real problem of the fixture's plan,
    // and the warning says so instead of writing an invalid plan.
    for route in [
        "POST /api/catalog/products",
        "PUT /api/catalog/products/{id}",
    ] {
        assert!(
            said(route, "products", "only its live routes may write it"),
            "{warnings:#?}"
        );
    }
    // Every route the service answers writes only tables it owns.
    for service in &refreshed.services {
        for r in service.routes.iter().filter(|r| r.serves_from_service()) {
            for table in &r.writes {
                let owned = service.tables.iter().any(|t| {
                    &t.name == table
                        && matches!(t.stage, TableStage::Owned | TableStage::Decommissioned)
                });
                assert!(owned, "{} {} writes {table}", r.methods_label(), r.path);
            }
        }
    }
}

/// The service listing `method path`, and the route's index there.
fn route_home(plan: &Plan, method: &str, path: &str) -> (usize, usize) {
    plan.services
        .iter()
        .enumerate()
        .find_map(|(si, s)| {
            s.routes
                .iter()
                .position(|r| {
                    r.path.to_string() == path
                        && r.methods
                            .as_ref()
                            .is_some_and(|m| m.iter().any(|m| m.as_str() == method))
                })
                .map(|ri| (si, ri))
        })
        .unwrap_or_else(|| panic!("no route {method} {path} in the plan"))
}

#[test]
fn routes_and_tables_follow_moved_code_until_they_start_moving() {
    let (analysis, suggestion) = analysed();
    let coupling = Coupling::build(
        &analysis,
        suggestion.granularity,
        &SuggestConfig::default().weights,
    );
    let (mut plan, _) = plan::apply(None, &suggestion, "shop");
    // A fresh plan already has everything where its code is.
    assert_eq!(
        plan::follow_code(&mut plan, &analysis, &coupling),
        plan::Followed::default()
    );

    // The user moves the checkout module into another service, as the
    // planner or an edit of `members` does.
    let member = "shop::orders::checkout";
    let (from, _) = route_home(&plan, "POST", "/api/orders/checkout");
    let to = usize::from(from == 0);
    plan.services[from].members.retain(|m| m != member);
    plan.services[to].members.push(member.to_owned());
    let mut refreshed = plan.clone();
    let followed = plan::follow_code(&mut refreshed, &analysis, &coupling);
    assert_eq!(route_home(&refreshed, "POST", "/api/orders/checkout").0, to);
    assert!(
        followed
            .moved
            .iter()
            .any(|l| l.starts_with("route POST /api/orders/checkout moves from")),
        "{followed:?}"
    );
    assert!(followed.stayed.is_empty(), "{followed:?}");
    assert_valid(&refreshed);

    // Once the route is in shadow it is a decision: it stays, and the note
    // says how to let it follow.
    let (si, ri) = route_home(&plan, "POST", "/api/orders/checkout");
    plan.services[si].routes[ri].stage = RouteStage::Shadow;
    plan.services[si].upstream = Some("http://127.0.0.1:9001".to_owned());
    let followed = plan::follow_code(&mut plan, &analysis, &coupling);
    assert_eq!(route_home(&plan, "POST", "/api/orders/checkout").0, from);
    assert!(
        followed.stayed.iter().any(|l| l
            .starts_with("route POST /api/orders/checkout stays in service")
            && l.contains("set the route back to `monolith`")),
        "{followed:?}"
    );
    assert_valid(&plan);
}

/// The planner evaluates a plan with `evaluate`; a plan just written from a
/// suggestion must score there what `strangler analyze` printed for it,
/// shared units and all (they are left out of both graphs alike).
#[test]
fn a_new_plan_scores_in_the_planner_what_the_suggestion_scored() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut with_shared = Vec::new();
    for app in [
        "shop-monolith",
        "shop-catalog",
        "frameworks/workspace",
        "java-petclinic",
        "java-jpetstore",
    ] {
        let analysis = analyze(&fixtures.join(app), &Config::default()).unwrap();
        let config = SuggestConfig::default();
        let suggestion = suggest(&analysis, &config).unwrap();
        if !suggestion.shared.is_empty() {
            with_shared.push(app);
        }
        let (written, _) = plan::apply(None, &suggestion, "monolith");
        let granularity = config.granularity;
        let coupling = Coupling::build(&analysis, granularity, &config.weights);
        let evaluated = strangler_analyzer::cluster::evaluate(
            &analysis,
            &coupling,
            granularity,
            &plan::existing_services(&written),
        );
        assert_eq!(
            format!("{:?}", evaluated.metrics),
            format!("{:?}", suggestion.metrics),
            "{app}: the planner's metrics differ from the suggestion's"
        );
    }
    assert!(
        !with_shared.is_empty(),
        "no fixture has shared units, so the test does not cover them"
    );
}

/// A new plan names the monolith after the crate that serves HTTP, not the
/// workspace's first crate by name (often a helper such as `macros`).
#[test]
fn the_monolith_is_named_after_the_crate_that_serves_http() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "Cargo.toml",
            "[workspace]\nmembers = [\"macros\", \"common\", \"shopfront\"]\n",
        ),
        (
            "macros/Cargo.toml",
            "[package]\nname = \"macros\"\nversion = \"0.1.0\"\n",
        ),
        (
            "macros/src/lib.rs",
            "pub fn a() {}\npub fn b() {}\npub fn c() {}\npub fn d() {}\npub fn e() {}\n",
        ),
        (
            "common/Cargo.toml",
            "[package]\nname = \"common\"\nversion = \"0.1.0\"\n",
        ),
        ("common/src/lib.rs", "pub fn helper() {}\n"),
        (
            "shopfront/Cargo.toml",
            "[package]\nname = \"shopfront\"\nversion = \"0.1.0\"\n",
        ),
        (
            "shopfront/src/main.rs",
            "use axum::{Router, routing::get};\n\
             async fn list_orders() {}\n\
             fn main() { let _app: Router = Router::new().route(\"/orders\", get(list_orders)); }\n",
        ),
    ];
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let analysis = analyze(dir.path(), &Config::default()).unwrap();
    assert_eq!(plan::monolith_name(&analysis).as_deref(), Some("shopfront"));
    // Without routes, the crate with the most code.
    std::fs::write(dir.path().join("shopfront/src/main.rs"), "fn main() {}\n").unwrap();
    let analysis = analyze(dir.path(), &Config::default()).unwrap();
    assert_eq!(plan::monolith_name(&analysis).as_deref(), Some("macros"));
}

/// The routes the monolith serves that the plan does not list can be seen
/// and put into a service, with what they write; moving their code into a
/// service brings them along.
#[test]
fn unplanned_routes_are_listed_and_adopted() {
    let (analysis, suggestion) = analysed();
    let coupling = Coupling::build(
        &analysis,
        suggestion.granularity,
        &SuggestConfig::default().weights,
    );
    let (mut plan, _) = plan::apply(None, &suggestion, "shop");
    // Take the checkout route and its module out of the plan, as a plan
    // written by hand (or one whose service dropped them) has it.
    let member = "shop::orders::checkout";
    let (si, ri) = route_home(&plan, "POST", "/api/orders/checkout");
    let service = plan.services[si].name.clone();
    plan.services[si].routes.remove(ri);
    plan.services[si].members.retain(|m| m != member);
    let unplanned = plan::unplanned_routes(&plan, &analysis);
    let checkout = unplanned
        .iter()
        .find(|u| u.route.path.to_string() == "/api/orders/checkout")
        .expect("the checkout route is unplanned")
        .clone();
    assert_eq!(checkout.route.methods_label(), "POST");
    assert_eq!(
        checkout.handler.as_deref(),
        Some("shop::orders::checkout::place_order")
    );
    // Every other analysed route is in the plan, but the health check,
    // whose handler is in the shared wiring (`shop::app`), in no service.
    let paths: Vec<String> = unplanned.iter().map(|u| u.route.path.to_string()).collect();
    assert_eq!(paths, ["/api/orders/checkout", "/healthz"]);
    assert!(suggestion.shared.contains(&"shop::app".to_owned()));

    let mut adopted = plan.clone();
    let warnings = plan::adopt_route(&mut adopted, &analysis, &service, &checkout).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(plan::unplanned_routes(&adopted, &analysis).len(), 1);
    let route = route(&adopted, "POST", "/api/orders/checkout");
    assert_eq!(route.stage, RouteStage::Monolith);
    assert!(
        route.writes.contains(&"orders".to_owned()),
        "{:?}",
        route.writes
    );
    assert_valid(&adopted);
    // A second time is refused: a route of the plan takes its requests.
    let again = plan::adopt_route(&mut adopted, &analysis, &service, &checkout);
    assert!(again.unwrap_err().contains("already in service"));

    // Moving the code that serves it into a service brings the route.
    plan.services[si].members.push(member.to_owned());
    let (added, _) = plan::adopt_served_routes(&mut plan, &analysis, &coupling, &[member]);
    assert_eq!(added, [format!("POST /api/orders/checkout → {service}")]);
    assert_eq!(route_home(&plan, "POST", "/api/orders/checkout").0, si);
    assert_valid(&plan);
}
