//! Response diffs at `shadow`, through the real proxy over loopback: a
//! service that differs in one JSON field on 5 % of its answers is
//! reported at that path and rate, a timestamp that differs on every answer
//! of both sides is learnt as noise from the monolith's own second
//! answers, and the differing pairs are kept, secrets masked.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{client, get, metrics_when, proxy, routes_when, sample, write_plan};
use serde_json::Value;

/// A JSON upstream: `answer(n)` is the body of its `n`th answer (from 1).
/// Returns its URL and the number of requests it has answered.
async fn json_upstream(
    answer: impl Fn(u64) -> String + Send + Sync + 'static,
) -> (String, Arc<AtomicU64>) {
    let (addr, count) =
        common::serve(move |n| (200, "application/json", Bytes::from(answer(n)))).await;
    (format!("http://{addr}"), count)
}

/// Requests sent through the shadow route.
const N: u64 = 200;

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_that_differs_on_5_percent_is_reported_and_a_timestamp_is_noise() {
    let (mono, mono_seen) = json_upstream(|_| {
        format!(
            r#"{{"id":7,"name":"lamp","price":10,"tags":["a","b"],"generated_at":{}}}"#,
            now_nanos()
        )
    })
    .await;
    // The service writes its keys in another order and numbers its own
    // way; every 20th answer has the wrong price.
    let (svc, svc_seen) = json_upstream(|n| {
        let price = if n % 20 == 0 { "11" } else { "10.0" };
        format!(
            r#"{{"generated_at":{},"tags":["a","b"],"price":{price},"name":"lamp","id":7}}"#,
            now_nanos()
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &mono,
        &format!(
            "[[service]]\nname = \"catalog\"\nupstream = \"{svc}\"\n\
             [[service.route]]\npath = \"/api/products/{{id}}\"\nmethods = [\"GET\"]\nstage = \"shadow\"\n"
        ),
    );
    let p = proxy(plan, |_| {}).await;
    let c = client();
    for _ in 0..N {
        let a = get(&c, &p.url("/api/products/7?token=hunter2&page=1")).await;
        assert_eq!(a.status, 200);
        assert!(a.body.contains(r#""price":10,"#), "{}", a.body);
    }
    let routes = routes_when(&c, &p, |r| r["routes"][0]["diff"]["compared"] == N).await;
    let diff = &routes["routes"][0]["diff"];
    assert_eq!(diff["compared"], N, "{diff}");
    assert_eq!(svc_seen.load(Ordering::SeqCst), N);
    // Every answer differs in the timestamp, which the monolith's own
    // second answers show to be noise; 10 of 200 differ in the price too.
    assert_eq!(
        (&diff["different"], &diff["noise_filtered"], &diff["equal"]),
        (&Value::from(10), &Value::from(190), &Value::from(0)),
        "{diff}"
    );
    let noise_samples = diff["noise_samples"].as_u64().unwrap();
    assert!(
        (10..N).contains(&noise_samples),
        "the first 10 and then about 10 % of the requests get a noise copy: {diff}"
    );
    assert_eq!(mono_seen.load(Ordering::SeqCst), N + noise_samples);
    let paths = diff["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2, "{diff}");
    assert_eq!(
        (&paths[0]["path"], &paths[0]["rate"], &paths[0]["noise"]),
        (
            &Value::from("$.generated_at"),
            &Value::from(1.0),
            &Value::from(true)
        ),
        "{diff}"
    );
    assert_eq!(paths[0]["noise_rate"], 1.0, "{diff}");
    assert_eq!(
        (
            &paths[1]["path"],
            &paths[1]["count"],
            &paths[1]["rate"],
            &paths[1]["noise"]
        ),
        (
            &Value::from("$.price"),
            &Value::from(10),
            &Value::from(0.05),
            &Value::from(false)
        ),
        "{diff}"
    );

    // The same counts in Prometheus.
    let label = routes["routes"][0]["label"].as_str().unwrap().to_owned();
    let different =
        format!(r#"strangler_shadow_diffs_total{{result="different",route="{label}"}}"#);
    let price = format!(
        r#"strangler_shadow_diff_paths_total{{path="$.price",route="{label}",side="service"}}"#
    );
    let metrics = metrics_when(&c, &p, |m| sample(m, &different) == 10).await;
    assert_eq!(sample(&metrics, &different), 10, "{metrics}");
    assert_eq!(sample(&metrics, &price), 10, "{metrics}");

    stored_pairs_are_the_differing_ones(&c, &p, &label).await;
}

/// `GET /diffs?route=…` keeps the differing pairs, both bodies, the
/// secret in the query masked; an unknown label is a 404 naming the known.
async fn stored_pairs_are_the_differing_ones(
    c: &common::HttpClient,
    p: &common::Running,
    label: &str,
) {
    let url = p.admin_url(&format!(
        "/diffs?route={}",
        url::form_urlencoded::byte_serialize(label.as_bytes()).collect::<String>()
    ));
    let stored: Value = serde_json::from_str(&get(c, &url).await.body).unwrap();
    let pairs = stored["routes"][0]["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 10, "{stored}");
    for pair in pairs {
        assert_eq!(pair["paths"], serde_json::json!(["$.price"]), "{pair}");
        assert_eq!(
            pair["noise"],
            serde_json::json!(["$.generated_at"]),
            "{pair}"
        );
        assert_eq!(pair["method"], "GET");
        assert_eq!(pair["target"], "/api/products/7?token=***&page=1", "{pair}");
        assert!(
            pair["monolith"]["body"]
                .as_str()
                .unwrap()
                .contains(r#""price":10,"#)
        );
        assert!(
            pair["service"]["body"]
                .as_str()
                .unwrap()
                .contains(r#""price":11,"#)
        );
        assert_eq!(
            pair["service"]["headers"]["content-type"],
            "application/json"
        );
    }
    assert!(!stored.to_string().contains("hunter2"), "{stored}");
    let unknown = get(c, &p.admin_url("/diffs?route=GET%20/nope")).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains(label), "{}", unknown.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_paths_and_a_reload_keep_what_was_learnt() {
    let (mono, _) =
        json_upstream(|n| format!(r#"{{"etag":"m{n}","items":[{{"id":{n},"q":1}}]}}"#)).await;
    let (svc, _) =
        json_upstream(|n| format!(r#"{{"etag":"s{n}","items":[{{"id":{},"q":1}}]}}"#, n + 1000))
            .await;
    let dir = tempfile::tempdir().unwrap();
    let route = |extra: &str| {
        format!(
            "[[service]]\nname = \"cart\"\nupstream = \"{svc}\"\ndiff = {{ ignore = [\"$.etag\", \"$.items[*].id\"], noise_percent = 0 }}\n\
             [[service.route]]\npath = \"/api/cart\"\nstage = \"shadow\"\n{extra}\
             [[service.route]]\npath = \"/api/off\"\nstage = \"shadow\"\ndiff = {{ off = true }}\n"
        )
    };
    let plan = write_plan(dir.path(), &mono, &route(""));
    let p = proxy(plan.clone(), |c| c.watch = false).await;
    let c = client();
    for _ in 0..5 {
        get(&c, &p.url("/api/cart")).await;
    }
    let routes = routes_when(&c, &p, |r| r["routes"][0]["diff"]["compared"] == 5).await;
    let diff = &routes["routes"][0]["diff"];
    // The service's settings apply to its route: nothing left to differ,
    // and no noise copies with `noise_percent = 0`.
    assert_eq!(
        (&diff["equal"], &diff["noise_samples"]),
        (&Value::from(5), &Value::from(0)),
        "{diff}"
    );
    // A reload (here one that changes the route's own diff settings) keeps
    // the route's tallies: they are the route's, not the table's.
    write_plan(dir.path(), &mono, &route("diff = { noise_percent = 0 }\n"));
    let reload = common::send(
        &c,
        "POST",
        &p.admin_url("/reload"),
        &[("content-type", "application/json")],
        "",
    )
    .await;
    assert_eq!(reload.status, 200, "{}", reload.body);
    get(&c, &p.url("/api/cart")).await;
    let routes = routes_when(&c, &p, |r| r["routes"][0]["diff"]["compared"] == 6).await;
    let diff = &routes["routes"][0]["diff"];
    assert_eq!(diff["equal"], 5, "{diff}");
    assert_eq!(diff["different"], 1, "{diff}");
    let paths: Vec<&str> = diff["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["$.etag", "$.items[*].id"], "{diff}");

    // With `diff = { off = true }` copies go out and are counted, unread.
    for _ in 0..3 {
        get(&c, &p.url("/api/off")).await;
    }
    let same = r#"strangler_shadow_requests_total{outcome="same_status",route="* /api/off"}"#;
    let metrics = metrics_when(&c, &p, |m| sample(m, same) == 3).await;
    assert_eq!(sample(&metrics, same), 3, "{metrics}");
    let routes: Value = serde_json::from_str(&get(&c, &p.admin_url("/routes")).await.body).unwrap();
    assert_eq!(routes["routes"][1]["diff"]["compared"], 0, "{routes}");
}
