//! End-to-end tests: the real proxy on loopback in front of real upstream
//! servers that say who answered.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    backend, client, closed_port, eventually, get, metrics_when, proxy, resetter, routes_when,
    sample, send, silent, write_plan,
};
use serde_json::Value;

/// The content type the admin API's writes need.
const JSON: (&str, &str) = ("content-type", "application/json");

fn service(name: &str, upstream: &str, routes: &str) -> String {
    format!("[[service]]\nname = \"{name}\"\nupstream = \"{upstream}\"\n{routes}\n")
}

fn route(path: &str, extra: &str) -> String {
    format!("  [[service.route]]\n  path = \"{path}\"\n{extra}\n")
}

/// The stage of the route on `path` in a `GET /routes` answer.
fn stage_of<'a>(routes: &'a Value, path: &str) -> &'a Value {
    routes["routes"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["path"] == path))
        .map_or(&Value::Null, |r| &r["stage"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_routes_as_planned_with_headers() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let routes = [
        route("/live/{id}", "  stage = \"live\""),
        route("/mono", "  stage = \"monolith\""),
        route("/none", "  stage = \"canary\"\n  percent = 0"),
        route("/all", "  stage = \"canary\"\n  percent = 100"),
        // The service runs copies of writes as a dry run.
        route(
            "/shadow",
            "  methods = [\"POST\"]\n  stage = \"shadow\"\n  shadow_writes = true",
        ),
        route("/live/special", "  stage = \"monolith\""),
    ]
    .concat();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &service("catalog", &svc.url(), &routes),
    );
    let p = proxy(plan, |_| {}).await;
    let c = client();

    for (path, who) in [
        ("/live/7", "catalog"),
        ("/live/special", "monolith"),
        ("/mono", "monolith"),
        ("/none", "monolith"),
        ("/all", "catalog"),
        ("/elsewhere", "monolith"),
        ("/live/7/deeper", "monolith"),
    ] {
        let a = get(&c, &p.url(path)).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.body, format!("{who} GET {path}"), "{path}");
        assert_eq!(a.target(), who, "{path}");
    }

    // Shadow: the monolith answers, the service gets a marked copy.
    let a = send(&c, "POST", &p.url("/shadow"), &[], "payload").await;
    assert_eq!(a.body, "monolith POST /shadow");
    assert_eq!(a.target(), "monolith");
    eventually("the shadow copy", || !svc.seen_path("/shadow").is_empty()).await;
    let copy = &svc.seen_path("/shadow")[0];
    assert_eq!(copy.body, "payload");
    assert_eq!(copy.headers["x-strangler-shadow"], "1");
    assert_eq!(mono.seen_path("/shadow")[0].body, "payload");

    // Forwarding headers, and a traceparent created when absent.
    let seen = &svc.seen_path("/live/7")[0];
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], p.addr.as_str());
    let trace = seen.headers["traceparent"].to_str().unwrap();
    assert_eq!(trace.len(), 55, "{trace}");
    assert!(
        trace.starts_with("00-") && trace.ends_with("-01"),
        "{trace}"
    );

    // A valid traceparent and an X-Forwarded-For chain are carried on.
    let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    send(
        &c,
        "GET",
        &p.url("/live/8"),
        &[("traceparent", given), ("x-forwarded-for", "10.0.0.1")],
        "",
    )
    .await;
    let seen = &svc.seen_path("/live/8")[0];
    assert_eq!(seen.headers["traceparent"], given);
    assert_eq!(seen.headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");

    // Metrics and the shadow outcome are on the admin address.
    let same = r#"strangler_shadow_requests_total{outcome="same_status",route="POST /shadow"}"#;
    let metrics = metrics_when(&c, &p, |m| sample(m, same) == 1).await;
    assert_eq!(sample(&metrics, same), 1, "{metrics}");
    assert!(
        metrics.contains(
            r#"strangler_requests_total{route="* /live/{id}",stage="live",target="catalog"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("strangler_shadow_requests_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_canary_is_stable_across_proxies() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let routes = [
        route(
            "/h",
            "  stage = \"canary\"\n  percent = 30\n  sticky = \"header:x-user-id\"",
        ),
        route(
            "/c",
            "  stage = \"canary\"\n  percent = 30\n  sticky = \"cookie:session\"",
        ),
    ]
    .concat();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &service("catalog", &svc.url(), &routes),
    );
    let one = proxy(plan.clone(), |_| {}).await;
    let two = proxy(plan, |_| {}).await;
    let c = client();
    let keys = 1_000;
    let mut on_service = 0;
    for i in 0..keys {
        let user = format!("user-{i}");
        let a = send(&c, "GET", &one.url("/h"), &[("x-user-id", &user)], "").await;
        let b = send(&c, "GET", &two.url("/h"), &[("x-user-id", &user)], "").await;
        assert_eq!(a.target(), b.target(), "{user} split differently");
        let again = send(&c, "GET", &one.url("/h"), &[("x-user-id", &user)], "").await;
        assert_eq!(a.target(), again.target(), "{user} moved");
        let cookie = format!("theme=dark; session={user}");
        let by_cookie = send(&c, "GET", &two.url("/c"), &[("cookie", &cookie)], "").await;
        assert_eq!(
            a.target(),
            by_cookie.target(),
            "{user}: cookie and header differ"
        );
        on_service += usize::from(a.target() == "catalog");
    }
    // 30 % of 1,000 keys; the ±2 % over 10,000 keys is checked in the table's tests.
    assert!(on_service.abs_diff(300) <= 50, "{on_service} of {keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_fall_back_for_every_method() {
    let mono = backend("monolith").await;
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let routes = route("/orders", "  stage = \"live\"");
    let plan = write_plan(dir.path(), &mono.url(), &service("orders", &dead, &routes));
    let p = proxy(plan, |c| c.health.eject_after = 0).await;
    let c = client();
    for method in ["GET", "POST", "PATCH"] {
        let a = send(&c, method, &p.url("/orders"), &[], "x").await;
        assert_eq!(a.status, 200, "{method}");
        assert_eq!(a.body, format!("monolith {method} /orders"));
        assert_eq!(a.target(), "monolith");
    }
    let routes = routes_when(&c, &p, |r| r["routes"][0]["requests"]["monolith"] == 3).await;
    assert_eq!(routes["routes"][0]["fallbacks"]["connect_failed"], 3);
    assert_eq!(routes["routes"][0]["requests"]["monolith"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_tables_the_service_owns_get_503_while_it_is_down() {
    // `orders` is owned by the service, so the monolith's copy is fenced
    // (or retired): its reads may fall back, its writes must not.
    let mono = backend("monolith").await;
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let routes = "  database = \"postgres://u@127.0.0.1/orders\"\n".to_owned()
        + &route("/orders", "  stage = \"live\"\n  writes = [\"orders\"]")
        + &route("/notes", "  stage = \"live\"")
        + "  [[service.table]]\n  name = \"orders\"\n  stage = \"owned\"\n";
    let plan = write_plan(
        dir.path(),
        &format!("{}\"\ndatabase = \"postgres://u@127.0.0.1/shop", mono.url()),
        &service("orders", &dead, &routes),
    );
    // Once without ejection (the connect fails), then ejected (the
    // service is known to be down before anything is sent).
    for eject_after in [0, 1] {
        let p = proxy(plan.clone(), |c| c.health.eject_after = eject_after).await;
        let c = client();
        for _ in 0..2 {
            let read = send(&c, "GET", &p.url("/orders"), &[], "").await;
            assert_eq!(read.status, 200);
            assert_eq!(read.body, "monolith GET /orders");
            for method in ["POST", "PUT", "DELETE"] {
                let write = send(&c, method, &p.url("/orders"), &[], "x").await;
                assert_eq!(write.status, 503, "{method}: {}", write.body);
                assert_eq!(write.headers["retry-after"], "5");
                assert!(
                    write
                        .body
                        .starts_with("strangler: service unavailable: the service that owns"),
                    "{}",
                    write.body
                );
                assert!(!write.body.contains("127.0.0.1"), "{}", write.body);
            }
            // A write to a route with no owned table still falls back.
            let other = send(&c, "POST", &p.url("/notes"), &[], "x").await;
            assert_eq!(other.body, "monolith POST /notes");
        }
    }
    // The monolith saw the reads and the other route's writes, and not one
    // write to `/orders`.
    let seen = mono.seen_path("/orders");
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().all(|s| s.method == "GET"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_after_sending_retry_only_idempotent_requests() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let reset = resetter().await;
    let dir = tempfile::tempdir().unwrap();
    let services = [
        service("catalog", &svc.url(), &route("/boom", "  stage = \"live\"")),
        service(
            "flaky",
            &format!("http://{reset}"),
            &route("/reset", "  stage = \"live\""),
        ),
    ]
    .concat();
    let plan = write_plan(dir.path(), &mono.url(), &services);
    let p = proxy(plan, |c| c.health.eject_after = 0).await;
    let c = client();

    // 5xx: GET and PUT are retried on the monolith; POST gets the service's 500.
    for method in ["GET", "PUT", "DELETE"] {
        let a = send(&c, method, &p.url("/boom"), &[], "").await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (200, &*format!("monolith {method} /boom"))
        );
    }
    let a = send(&c, "POST", &p.url("/boom"), &[], "order").await;
    assert_eq!((a.status, a.body.as_str()), (500, "catalog POST /boom"));
    assert_eq!(a.target(), "catalog");

    // Reset after sending: GET falls back, POST fails with 502.
    let a = get(&c, &p.url("/reset")).await;
    assert_eq!((a.status, a.body.as_str()), (200, "monolith GET /reset"));
    let a = send(&c, "POST", &p.url("/reset"), &[], "order").await;
    assert_eq!(a.status, 502);
    assert!(mono.seen_path("/reset").iter().all(|s| s.method == "GET"));

    let routes: Value = serde_json::from_str(&get(&c, &p.admin_url("/routes")).await.body).unwrap();
    assert_eq!(routes["routes"][0]["fallbacks"]["service_5xx"], 3);
    assert_eq!(routes["routes"][1]["fallbacks"]["reset"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_monolith_gets_a_fixed_502_page() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &format!("http://127.0.0.1:{}", closed_port()),
        "",
    );
    let p = proxy(plan, |_| {}).await;
    let a = get(&client(), &p.url("/anything")).await;
    assert_eq!(a.status, 502);
    // The address and the cause go to the log only (`tests/hostile.rs`
    // checks the page against a malformed upstream answer too).
    assert!(
        a.body.starts_with("strangler: bad gateway (request ") && !a.body.contains("127.0.0.1"),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stage_changes_persist_to_the_plan() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let routes = route("/api/products/{id}", "  stage = \"monolith\"   # keep me");
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &service("catalog", &svc.url(), &routes),
    );
    let p = proxy(plan.clone(), |c| c.watch = false).await;
    let c = client();
    let admin = p.admin_url("/routes/stage");
    let stage = async |body: &str| send(&c, "POST", &admin, &[JSON], body).await;

    let a = stage(
        r#"{"service":"catalog","route":"/api/products/{id}","stage":"canary","percent":100}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("stage = \"canary\""), "{text}");
    assert!(text.contains("percent = 100"), "{text}");
    assert!(
        text.contains("# keep me") && text.starts_with("# test plan"),
        "{text}"
    );
    assert_eq!(get(&c, &p.url("/api/products/1")).await.target(), "catalog");

    let a = stage(r#"{"service":"nope","route":"/api/products/{id}","stage":"live"}"#).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = stage(r#"{"service":"catalog","route":"/api/nope","stage":"live"}"#).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = stage(r#"{"service":"catalog","route":"/api/products/{id}","stage":"cannary"}"#).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("unknown route stage"), "{}", a.body);
    let a = stage("not json").await;
    assert_eq!(a.status, 400);

    // Back to monolith, then a forbidden jump straight to live.
    assert_eq!(
        stage(r#"{"service":"catalog","route":"/api/products/{id}","stage":"monolith"}"#)
            .await
            .status,
        200
    );
    let a = stage(r#"{"service":"catalog","route":"/api/products/{id}","stage":"live"}"#).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("cannot move route"), "{}", a.body);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("stage = \"monolith\"") && !text.contains("percent"),
        "{text}"
    );
    assert_eq!(
        get(&c, &p.url("/api/products/1")).await.target(),
        "monolith"
    );

    let routes = routes_when(&c, &p, |r| r["routes"][0]["requests"]["monolith"] == 1).await;
    // Counters are per stage, so the table shows the current stage's.
    assert_eq!(routes["routes"][0]["stage"], "monolith");
    assert_eq!(routes["routes"][0]["requests"]["monolith"], 1);
    assert_eq!(routes["routes"][0]["requests"]["service"], 0);
    let health = get(&c, &p.admin_url("/healthz")).await;
    assert_eq!(health.status, 200);
    assert_eq!(get(&c, &p.admin_url("/nope")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_fail_no_request() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let plan_for = |stage: &str| {
        service(
            "catalog",
            &svc.url(),
            &route("/r/{id}", &format!("  stage = \"{stage}\"")),
        )
    };
    let plan = write_plan(dir.path(), &mono.url(), &plan_for("monolith"));
    let p = Arc::new(proxy(plan.clone(), |_| {}).await);
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (p, failures, done, stop) = (p.clone(), failures.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut targets = std::collections::BTreeSet::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let a = get(&c, &p.url(&format!("/r/{worker}-{i}"))).await;
                if a.status == 200 {
                    targets.insert(a.target().to_owned());
                } else {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            targets
        }));
    }
    let c = client();
    let mut stage = "monolith";
    for round in 0..20 {
        // Moves the plan allows: monolith → canary → live → monolith.
        stage = match stage {
            "monolith" => "canary",
            "canary" => "live",
            _ => "monolith",
        };
        let extra = if stage == "canary" {
            "\n  percent = 50"
        } else {
            ""
        };
        let text = service(
            "catalog",
            &svc.url(),
            &route("/r/{id}", &format!("  stage = \"{stage}\"{extra}")),
        );
        write_plan(dir.path(), &mono.url(), &text);
        if round % 2 == 0 {
            // The watcher reloads odd rounds; POST /reload the even ones.
            let a = send(&c, "POST", &p.admin_url("/reload"), &[JSON], "").await;
            assert_eq!(a.status, 200, "{}", a.body);
        }
        let routes = routes_when(&c, &p, |r| *stage_of(r, "/r/{id}") == stage).await;
        assert_eq!(
            *stage_of(&routes, "/r/{id}"),
            stage,
            "round {round}: the new table is not live"
        );
    }
    // An invalid plan is rejected, by POST /reload and by the watcher, and
    // the old table stays.
    let rejected = r#"strangler_reloads_total{result="rejected"}"#;
    let before = sample(&get(&c, &p.admin_url("/metrics")).await.body, rejected);
    std::fs::write(&plan, "version = 1\n[monolith]\nname = \"\"\n").unwrap();
    let a = send(&c, "POST", &p.admin_url("/reload"), &[JSON], "").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("not a valid plan"), "{}", a.body);
    let metrics = metrics_when(&c, &p, |m| sample(m, rejected) >= before + 2).await;
    assert!(
        sample(&metrics, rejected) >= before + 2,
        "the watcher did not try the invalid plan"
    );
    eventually("more than 100 requests under reloads", || {
        done.load(Ordering::SeqCst) > 100
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let mut seen = std::collections::BTreeSet::new();
    for t in tasks {
        seen.extend(t.await.unwrap());
    }
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["catalog", "monolith"],
        "both sides answered during the reloads"
    );
    // The rounds went monolith → canary → live and around again; the last
    // one (round 19) made the route live, and the invalid plan after it
    // left it so: the service answers, and every round was an install.
    let routes = routes_when(&c, &p, |_| true).await;
    assert_eq!(*stage_of(&routes, "/r/{id}"), "live");
    assert!(routes["generation"].as_u64().unwrap() > 20, "{routes}");
    assert_eq!(get(&c, &p.url("/r/last")).await.target(), "catalog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_keep_traffic_off_a_sick_service() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let routes = route("/x", "  stage = \"live\"");
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &service("catalog", &svc.url(), &routes),
    );
    let p = proxy(plan, |c| {
        c.health.path = "/health".to_owned();
        c.health.interval = Duration::from_millis(50);
        c.health.unhealthy_after = 1;
    })
    .await;
    let c = client();
    assert_eq!(get(&c, &p.url("/x")).await.target(), "catalog");
    svc.healthy.store(false, Ordering::SeqCst);
    let available = |r: &Value| r["routes"][0]["upstream"]["available"].clone();
    let routes = routes_when(&c, &p, |r| available(r) == false).await;
    assert_eq!(available(&routes), false, "the service is not marked down");
    let a = get(&c, &p.url("/x")).await;
    assert_eq!(
        (a.target(), a.body.as_str()),
        ("monolith", "monolith GET /x")
    );
    svc.healthy.store(true, Ordering::SeqCst);
    let routes = routes_when(&c, &p, |r| available(r) == true).await;
    assert_eq!(available(&routes), true, "the service is not back");
    assert_eq!(get(&c, &p.url("/x")).await.target(), "catalog");
    let routes: Value = serde_json::from_str(&get(&c, &p.admin_url("/routes")).await.body).unwrap();
    assert_eq!(routes["routes"][0]["fallbacks"]["unavailable"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_health_checks_do_not_hold_up_a_plan_edit() {
    let mono = backend("monolith").await;
    let dir = tempfile::tempdir().unwrap();
    let mut services = String::new();
    let mut accepted = Vec::new();
    for i in 0..5 {
        let (addr, count) = silent().await;
        accepted.push(count);
        services += &service(
            &format!("hang{i}"),
            &format!("http://{addr}"),
            &route(&format!("/h{i}"), "  stage = \"monolith\""),
        );
    }
    let plan = write_plan(dir.path(), &mono.url(), &services);
    let p = proxy(plan, |c| {
        c.health.interval = Duration::from_secs(1);
        // Longer than the 2 s the edit may take: a loop that waited for the
        // checks, even run side by side, would fail.
        c.health.timeout = Duration::from_secs(5);
    })
    .await;
    let c = client();
    // Every hanging service has a check's connection: a round is in flight,
    // its checks side by side (one after another, the fifth would wait
    // 20 s for the four before it to time out).
    eventually("a health check at every hanging service", || {
        accepted.iter().all(|n| n.load(Ordering::SeqCst) > 0)
    })
    .await;
    let edited = services.replacen("stage = \"monolith\"", "stage = \"shadow\"", 1);
    let edit = Instant::now();
    write_plan(dir.path(), &mono.url(), &edited);
    let routes = routes_when(&c, &p, |r| *stage_of(r, "/h0") == "shadow").await;
    let took = edit.elapsed();
    assert_eq!(*stage_of(&routes, "/h0"), "shadow", "{routes}");
    assert!(
        took < Duration::from_secs(2),
        "the edit took {took:?} to go live"
    );
    // The checks were still hanging when the edit went live: none of them
    // has timed out and been followed by a second round's connection.
    assert!(
        accepted.iter().all(|n| n.load(Ordering::SeqCst) == 1),
        "a second round of checks started before the edit was live"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_ejection_after_consecutive_failures() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let routes = [
        route("/boom", "  stage = \"live\""),
        route("/fine", "  stage = \"live\""),
    ]
    .concat();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &service("catalog", &svc.url(), &routes),
    );
    let p = proxy(plan, |c| {
        c.health.eject_after = 3;
        c.health.ejection = Duration::from_secs(3600);
    })
    .await;
    let c = client();
    assert_eq!(get(&c, &p.url("/fine")).await.target(), "catalog");
    for _ in 0..3 {
        assert_eq!(get(&c, &p.url("/boom")).await.target(), "monolith");
    }
    // Ejected: even the healthy route goes to the monolith now.
    assert_eq!(get(&c, &p.url("/fine")).await.target(), "monolith");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_header_matches_pick_routes_and_the_admin_names_them() {
    let mono = backend("monolith").await;
    let beta = backend("beta").await;
    let tenant = backend("tenant").await;
    let dir = tempfile::tempdir().unwrap();
    let services = [
        service(
            "beta",
            &beta.url(),
            &[
                route("/p/{id}", "  stage = \"live\"\n  host = \"*.beta.test\""),
                route(
                    "/p/{id}",
                    "  stage = \"monolith\"\n  host = \"exact.beta.test\"",
                ),
            ]
            .concat(),
        ),
        service(
            "tenant",
            &tenant.url(),
            &route(
                "/p/{id}",
                "  stage = \"live\"\n  headers = { x-tenant = \"acme\" }",
            ),
        ),
    ]
    .concat();
    let plan = write_plan(dir.path(), &mono.url(), &services);
    let p = proxy(plan.clone(), |c| c.watch = false).await;
    let c = client();
    let who = async |headers: &[(&str, &str)]| {
        let a = send(&c, "GET", &p.url("/p/1"), headers, "").await;
        assert_eq!(a.status, 200, "{headers:?}: {}", a.body);
        a.target().to_owned()
    };
    assert_eq!(who(&[]).await, "monolith");
    assert_eq!(who(&[("host", "api.beta.test:8000")]).await, "beta");
    assert_eq!(who(&[("host", "API.Beta.Test")]).await, "beta");
    assert_eq!(who(&[("host", "beta.test")]).await, "monolith");
    // The exact host beats the wildcard, and its stage is `monolith`.
    assert_eq!(who(&[("host", "exact.beta.test")]).await, "monolith");
    assert_eq!(who(&[("x-tenant", "acme")]).await, "tenant");
    assert_eq!(who(&[("X-Tenant", "other")]).await, "monolith");
    // A route with a host wins over one with header matches.
    assert_eq!(
        who(&[("host", "a.beta.test"), ("x-tenant", "acme")]).await,
        "beta"
    );

    let admin = p.admin_url("/routes/stage");
    let stage = async |body: &str| send(&c, "POST", &admin, &[JSON], body).await;
    let a = stage(r#"{"service":"beta","route":"/p/{id}","stage":"monolith"}"#).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(
        a.body.contains("host=*.beta.test") && a.body.contains("host=exact.beta.test"),
        "{}",
        a.body
    );
    let a =
        stage(r#"{"service":"beta","route":"/p/{id}","host":"nope.test","stage":"shadow"}"#).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a =
        stage(r#"{"service":"beta","route":"/p/{id}","host":"Exact.Beta.Test","stage":"shadow"}"#)
            .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("host = \"exact.beta.test\"\n  stage = \"shadow\"")
            || text.contains("stage = \"shadow\"\n  host = \"exact.beta.test\""),
        "{text}"
    );
    assert_eq!(who(&[("host", "exact.beta.test")]).await, "monolith");
    eventually("the shadow copy for the exact host", || {
        !beta.seen_path("/p/1").is_empty()
            && beta
                .seen_path("/p/1")
                .iter()
                .any(|s| s.headers.contains_key("x-strangler-shadow"))
    })
    .await;

    let routes = routes_when(&c, &p, |_| true).await;
    let listed: Vec<String> = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["label"].as_str().unwrap(), r["stage"]))
        .collect();
    assert_eq!(
        listed,
        [
            "* /p/{id} [host=*.beta.test] \"live\"",
            "* /p/{id} [host=exact.beta.test] \"shadow\"",
            "* /p/{id} [x-tenant=acme] \"live\""
        ]
    );
    assert_eq!(routes["routes"][2]["headers"]["x-tenant"], "acme");
}

/// Sends raw bytes on a fresh connection and returns what comes back until
/// the proxy closes it (generous timeout; no timing is asserted).
async fn raw(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The proxy may answer and close before it has read everything; what it
    // answered is the point, so a failed write is fine.
    let _ = stream.write_all(request).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await
            && n > 0
        {
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

fn status_of(answer: &str) -> &str {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .unwrap_or(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_are_refused_and_serving_goes_on() {
    let mono = backend("monolith").await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &mono.url(), "");
    let p = proxy(plan, |c| {
        c.max_header_bytes = 8 * 1024;
        c.max_body_bytes = 1000;
    })
    .await;
    let c = client();
    let big = "a".repeat(10_000);
    let near = "a".repeat(7_000);
    let many = "x-h: v\r\n".repeat(300);
    let chunked = format!("{:x}\r\n{}\r\n0\r\n\r\n", 2000, "b".repeat(2000));
    let cases: Vec<(&str, String, &str)> = vec![
        ("garbage", "NOT HTTP AT ALL\r\n\r\n".to_owned(), "400"),
        // Shorter than the HTTP/2 preface that pingora waits for on its own.
        (
            "a short HTTP/1.0 request",
            "GET / HTTP/1.0\r\n\r\n".to_owned(),
            "200",
        ),
        ("a short bad request", "X\r\n\r\n".to_owned(), "400"),
        (
            "header line without a colon",
            "GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n".to_owned(),
            "400",
        ),
        (
            "unparsable content-length",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n".to_owned(),
            "400",
        ),
        (
            "conflicting content-lengths",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"
                .to_owned(),
            "400",
        ),
        (
            "a transfer-encoding that is not chunked",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".to_owned(),
            "400",
        ),
        (
            "more than 256 header fields",
            format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n"),
            "400",
        ),
        (
            "a header over the limit",
            format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n"),
            "431",
        ),
        (
            "a header under the limit",
            format!("GET /near HTTP/1.1\r\nHost: a\r\nX-Near: {near}\r\nConnection: close\r\n\r\n"),
            "200",
        ),
        (
            "a declared body over the limit",
            "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n".to_owned(),
            "413",
        ),
        (
            "a chunked body over the limit",
            format!("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}"),
            "413",
        ),
        (
            "a body under the limit",
            format!(
                "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\nConnection: close\r\n\r\n{}",
                "c".repeat(900)
            ),
            "200",
        ),
    ];
    for (what, request, want) in &cases {
        let answer = raw(&p.addr, request.as_bytes()).await;
        assert_eq!(status_of(&answer), *want, "{what}: {answer:.300}");
        // The proxy keeps serving after every one.
        let a = get(&c, &p.url("/still")).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (200, "monolith GET /still"),
            "after {what}"
        );
    }
    let answer = raw(
        &p.addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        answer.contains("strangler: request header fields too large"),
        "{answer}"
    );
    assert_eq!(mono.seen_path("/small")[0].body.len(), 900);
    assert!(
        mono.seen_path("/up").is_empty()
            || mono.seen_path("/up").iter().all(|s| s.body.len() <= 1000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_shadow_copies_all_arrive_over_pipelined_lanes() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let routes = route(
        "/mirror/{id}",
        "  stage = \"shadow\"\n  shadow_writes = true",
    );
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &service("catalog", &svc.url(), &routes),
    );
    let p = proxy(plan, |c| c.shadow.connections = 2).await;
    let c = client();
    let n: usize = 200;
    let sends = (0..n).map(|i| {
        let c = c.clone();
        let url = p.url(&format!("/mirror/{i}"));
        async move {
            let (method, body) = if i.is_multiple_of(2) {
                ("POST", format!("body {i}"))
            } else {
                ("GET", String::new())
            };
            let a = send(&c, method, &url, &[("x-n", &i.to_string())], &body).await;
            assert_eq!(a.target(), "monolith", "{i}");
            assert_eq!(a.body, format!("monolith {method} /mirror/{i}"));
        }
    });
    futures_util::future::join_all(sends).await;
    eventually("every shadow copy", || {
        svc.seen()
            .iter()
            .filter(|s| s.path.starts_with("/mirror/"))
            .count()
            == n
    })
    .await;
    for seen in svc.seen() {
        let i: usize = seen.path.trim_start_matches("/mirror/").parse().unwrap();
        assert_eq!(seen.headers["x-n"], i.to_string().as_str());
        assert_eq!(seen.headers["x-strangler-shadow"], "1");
        let want = if i.is_multiple_of(2) {
            format!("body {i}")
        } else {
            String::new()
        };
        assert_eq!(seen.body, want, "{}", seen.path);
        assert_eq!(
            seen.method,
            if i.is_multiple_of(2) { "POST" } else { "GET" }
        );
    }
    let same = r#"strangler_shadow_requests_total{outcome="same_status",route="* /mirror/{id}"}"#;
    let text = metrics_when(&c, &p, |m| sample(m, same) == 200).await;
    assert_eq!(
        sample(&text, same),
        200,
        "{}",
        text.lines()
            .filter(|l| l.contains("shadow"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
