//! Any valid plan survives every path in and out: the lenient reader with
//! diagnostics, serde's strict reader, and a save through `PlanFile`.

use proptest::prelude::*;
use strangler_plan::{
    Auth, Diff, Gateway, HeaderRules, Method, Monolith, Plan, PlanFile, RateKey, RateLimit, Route,
    RouteStage, RouteTemplate, Service, Sticky, Table, TableStage,
};

fn route(service: usize, index: usize) -> impl Strategy<Value = Route> {
    (
        prop::sample::select(vec![
            "/api/s{s}/r{i}",
            "/api/s{s}/r{i}/{id}",
            "/s{s}/r{i}/{*rest}",
            "/s{s}/r{i}/{a}/x/{b}",
        ]),
        prop::option::of(prop::sample::subsequence(Method::ALL.to_vec(), 1..4)),
        prop::sample::select(RouteStage::ALL.to_vec()),
        0u8..=100,
        prop::option::of(prop_oneof![
            "[a-z][a-z0-9-]{0,8}".prop_map(Sticky::Header),
            "[A-Za-z][A-Za-z0-9_]{0,8}".prop_map(Sticky::Cookie),
        ]),
        prop::option::of("(\\*\\.)?[a-z0-9]{1,8}(\\.[a-z0-9-]{1,8}){0,2}"),
        prop::collection::btree_map("x-[a-z0-9-]{1,8}", "[ -~]{0,12}", 0..3),
        gateway(),
    )
        .prop_map(
            move |(template, methods, stage, percent, sticky, host, headers, gateway)| {
                let path = template
                    .replace("{s}", &service.to_string())
                    .replace("{i}", &index.to_string());
                let canary = stage == RouteStage::Canary;
                Route {
                    path: RouteTemplate::parse(&path).expect("strategy makes valid templates"),
                    methods,
                    stage,
                    percent: canary.then_some(percent),
                    sticky: if canary { sticky } else { None },
                    host,
                    headers,
                    writes: Vec::new(),
                    gateway,
                }
            },
        )
}

/// Gateway keys that need no token and fit any route path.
fn gateway() -> impl Strategy<Value = Gateway> {
    (
        prop::option::of((1u32..1000, prop::option::of(1u32..2000))),
        prop::collection::btree_map("x-[a-z0-9-]{1,8}", "[ -~]{0,12}", 0..2),
        any::<bool>(),
        prop::option::of((any::<bool>(), 0u8..=100)),
    )
        .prop_map(|(limit, set, open, diff)| Gateway {
            auth: open.then_some(Auth::None),
            rate_limit: limit.map(|(per_second, burst)| RateLimit {
                per_second,
                burst,
                key: Some(RateKey::Header("x-api-key".into())),
            }),
            response_headers: (!set.is_empty()).then(|| HeaderRules {
                set,
                remove: vec!["x-powered-by".into()],
            }),
            diff: diff.map(|(writes, noise)| Diff {
                ignore: vec!["$..id".into(), "$.items[*].etag".into()],
                headers: writes.then(|| vec!["etag".into()]),
                noise_percent: Some(noise),
                off: noise == 0,
            }),
            shadow_writes: diff.map(|(writes, _)| writes),
            ..Gateway::default()
        })
}

fn table(service: usize, index: usize) -> impl Strategy<Value = Table> {
    (
        prop::sample::select(TableStage::ALL.to_vec()),
        // Renamed columns never start with `x`, excluded ones always do: a
        // column is either renamed or excluded, never both.
        prop::collection::btree_map("[a-w][a-z]{0,5}", "[a-z_]{1,8}", 0..3),
        prop::collection::vec("x[a-z]{1,6}", 0..3),
        prop::collection::vec("app::[a-z]{1,6}", 0..3),
        prop::collection::vec("s[0-9]", 0..3),
    )
        .prop_map(move |(stage, rename, exclude, readers, writers)| Table {
            name: if index.is_multiple_of(2) {
                format!("t{service}_{index}")
            } else {
                format!("app.t{service}_{index}")
            },
            stage,
            rename,
            exclude,
            readers,
            writers,
        })
}

fn service(index: usize) -> impl Strategy<Value = Service> {
    (
        0usize..4,
        0usize..4,
        prop::collection::vec("[a-z_]{1,12}", 0..8),
        any::<bool>(),
    )
        .prop_flat_map(move |(routes, tables, members, pin_first)| {
            let routes: Vec<_> = (0..routes).map(|i| route(index, i)).collect();
            let tables: Vec<_> = (0..tables).map(|i| table(index, i)).collect();
            (routes, tables).prop_map(move |(routes, tables)| {
                let mut members: Vec<String> = members
                    .iter()
                    .map(|m| format!("shop::s{index}::{m}"))
                    .collect();
                members.dedup();
                members.sort();
                members.dedup();
                let pinned = if pin_first {
                    members.first().cloned().into_iter().collect()
                } else {
                    Vec::new()
                };
                Service {
                    name: format!("svc-{index}"),
                    upstream: Some(format!("http://127.0.0.1:{}", 9000 + index)),
                    database: Some(format!("postgres://postgres@127.0.0.1:5432/s{index}")),
                    members,
                    pinned,
                    routes,
                    tables,
                    gateway: Gateway::default(),
                }
            })
        })
}

fn plan() -> impl Strategy<Value = Plan> {
    (0usize..5, any::<bool>()).prop_flat_map(|(n, db)| {
        let services: Vec<_> = (0..n).map(service).collect();
        services.prop_map(move |services| Plan {
            services,
            ..Plan::new(Monolith {
                name: "shop".to_owned(),
                upstream: "https://monolith.internal:8443".to_owned(),
                database: (db || n > 0)
                    .then(|| "postgres://postgres@127.0.0.1:5432/shop".to_owned()),
            })
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_reader_agrees(plan in plan()) {
        let text = plan.to_toml().unwrap();
        let parsed = strangler_plan::parse(&text);
        prop_assert!(parsed.is_valid(), "{:?}\n{text}", parsed.diagnostics);
        prop_assert_eq!(&parsed.plan, &plan);
        let strict: Plan = toml::from_str(&text).unwrap();
        prop_assert_eq!(&strict, &plan);
        let json = serde_json::to_string(&plan).unwrap();
        let from_json: Plan = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&from_json, &plan);
    }

    #[test]
    fn saving_a_new_file_reads_back(plan in plan()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        PlanFile::new(&path).save(&plan).unwrap();
        let file = PlanFile::open(&path).unwrap();
        prop_assert!(file.is_valid(), "{}", file.render_diagnostics());
        prop_assert_eq!(file.plan(), &plan);
    }
}
