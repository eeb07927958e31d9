//! SLO-guarded rollout through the real proxy over loopback: a live route
//! whose service starts failing 20 % of its requests is moved back to the
//! monolith and the plan file says so, with no request failing for the
//! client meanwhile (an idempotent request the service fails is answered
//! by the monolith); a canary with `promote` steps up to `live`; and of two
//! proxies on one plan only the one holding the lease decides.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{HttpClient, Running, backend, client, get, proxy, sample, write_plan};
use serde_json::Value;
use strangler_plan::RouteStage;

/// A service that answers 200, or 500 on every 5th request once `failing`
/// is set. Returns its URL and the switch.
async fn flaky_service() -> (String, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    let switch = failing.clone();
    let (addr, _) = common::serve(move |n| {
        let status = if failing.load(Ordering::SeqCst) && n % 5 == 0 {
            500
        } else {
            200
        };
        (status, "", Bytes::from_static(b"service"))
    })
    .await;
    (format!("http://{addr}"), switch)
}

/// Sends GETs one after another until `stop`; returns every answer that
/// was not a 200 (a 5xx, a reset) with the count of requests sent.
fn load(url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<(Vec<String>, u64)> {
    tokio::spawn(async move {
        let c = client();
        let mut failures = Vec::new();
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) {
            sent += 1;
            match c.get(url.parse().unwrap()).await {
                Ok(r) if r.status() == 200 => {
                    let _ = http_body_util::BodyExt::collect(r.into_body()).await;
                }
                other => failures.push(format!("{other:?}")),
            }
        }
        (failures, sent)
    })
}

/// The stage of the first route of service `orders` in the plan on disk.
fn stage_on_disk(p: &Running) -> (RouteStage, Option<u8>) {
    let text = std::fs::read_to_string(&p.plan).unwrap();
    let parsed = strangler_plan::parse(&text);
    assert!(parsed.is_valid(), "the plan on disk is valid: {text}");
    let plan = parsed.plan;
    let route = &plan.services[0].routes[0];
    (route.stage, route.percent)
}

/// Polls `GET /routes` until `ok`, for up to 30 s (windows are seconds
/// long); the last table either way.
async fn routes_until(c: &HttpClient, p: &Running, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let last: Value =
            serde_json::from_str(&get(c, &p.admin_url("/routes")).await.body).unwrap();
        if ok(&last) || std::time::Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A monolith, a flaky service (with its switch) and a plan whose one
/// route of service `orders` is `route`.
async fn world(
    route: &str,
) -> (
    common::Backend,
    Arc<AtomicBool>,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let mono = backend("monolith").await;
    let (svc, failing) = flaky_service().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &format!(
            "[[service]]\nname = \"orders\"\nupstream = \"{svc}\"\n[[service.route]]\n{route}"
        ),
    );
    (mono, failing, dir, plan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_route_that_breaks_its_slo_moves_back_without_failing_a_request() {
    let (_mono, failing, _dir, plan) = world(
        "path = \"/api/orders/{id}\"\nmethods = [\"GET\"]\nstage = \"live\"\n\
         slo = { error_rate = 0.05, window = \"2s\", min_requests = 20 }\n",
    )
    .await;
    let p = proxy(plan, |_| {}).await;
    let c = client();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(p.url("/api/orders/7"), stop.clone());

    // A healthy window holds: the route stays live.
    let routes = routes_until(&c, &p, |r| {
        r["routes"][0]["slo"]["windows"].as_u64() >= Some(1)
    })
    .await;
    let route = &routes["routes"][0];
    assert_eq!(route["slo"]["last"]["verdict"], "held", "{route}");
    assert_eq!(
        routes["slo"]["held"], true,
        "the only proxy holds the lease: {routes}"
    );
    assert_eq!(stage_on_disk(&p).0, RouteStage::Live);

    // The service starts failing one request in five.
    failing.store(true, Ordering::SeqCst);
    let at_flip: Value =
        serde_json::from_str(&get(&c, &p.admin_url("/routes")).await.body).unwrap();
    let before = at_flip["routes"][0]["slo"]["windows"].as_u64().unwrap();
    let routes = routes_until(&c, &p, |r| r["routes"][0]["stage"] == "monolith").await;
    let route = &routes["routes"][0];
    assert_eq!(route["stage"], "monolith", "{routes}");
    // Within the window the failures began in, or the next one.
    let after = route["slo"]["windows"].as_u64().unwrap();
    assert!(
        after - before <= 2,
        "rolled back after {} windows: {route}",
        after - before
    );
    assert_eq!(
        stage_on_disk(&p),
        (RouteStage::Monolith, None),
        "the plan file says so"
    );

    stop.store(true, Ordering::SeqCst);
    let (failures, sent) = loader.await.unwrap();
    assert!(
        failures.is_empty(),
        "{} of {sent} failed: {failures:?}",
        failures.len()
    );
    let metrics = get(&c, &p.admin_url("/metrics")).await.body;
    let label = route["label"].as_str().unwrap();
    let rollbacks = format!(r#"strangler_slo_rollbacks_total{{route="{label}"}}"#);
    assert_eq!(sample(&metrics, &rollbacks), 1, "{metrics}");
    let fell_back = format!(r#"strangler_fallbacks_total{{reason="service_5xx",route="{label}"}}"#);
    assert!(sample(&metrics, &fell_back) > 0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_slo_holds_steps_up_to_live() {
    let (_mono, _, _dir, plan) = world(
        "path = \"/api/orders/{id}\"\nstage = \"canary\"\npercent = 1\n\
         slo = { error_rate = 0.05, window = \"1s\", min_requests = 5 }\n\
         promote = [1, 10, 50, 100]\n",
    )
    .await;
    let p = proxy(plan, |_| {}).await;
    let c = client();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(p.url("/api/orders/7"), stop.clone());
    let routes = routes_until(&c, &p, |r| r["routes"][0]["stage"] == "live").await;
    stop.store(true, Ordering::SeqCst);
    let (failures, _) = loader.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(routes["routes"][0]["stage"], "live", "{routes}");
    assert_eq!(stage_on_disk(&p), (RouteStage::Live, None));
    let metrics = get(&c, &p.admin_url("/metrics")).await.body;
    let label = routes["routes"][0]["label"].as_str().unwrap();
    let steps = format!(r#"strangler_slo_promotions_total{{route="{label}"}}"#);
    assert_eq!(sample(&metrics, &steps), 3, "1 → 10 → 50 → live: {metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_proxies_on_one_plan_one_decides_and_the_other_takes_over() {
    let (_mono, _, _dir, plan) = world(
        "path = \"/api/orders/{id}\"\nstage = \"live\"\n\
         slo = { error_rate = 0.05, window = \"60s\" }\n",
    )
    .await;
    let mut first = proxy(plan.clone(), |_| {}).await;
    let second = proxy(plan, |_| {}).await;
    let c = client();
    let held = |r: &Value| r["slo"]["held"].as_bool();
    let a = routes_until(&c, &first, |r| held(r) == Some(true)).await;
    assert_eq!(held(&a), Some(true), "{a}");
    let b = routes_until(&c, &second, |r| r["routes"][0]["slo"].is_object()).await;
    assert_eq!(held(&b), Some(false), "the second proxy waits: {b}");
    first
        .handle
        .take()
        .unwrap()
        .stop(strangler_proxy::Stop::Fast);
    let b = routes_until(&c, &second, |r| held(r) == Some(true)).await;
    assert_eq!(held(&b), Some(true), "the lease passes on: {b}");
}
