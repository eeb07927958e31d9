//! Write fences over real loopback sockets: a real proxy, a monolith whose
//! POSTs wait at a gate the test opens, a service, and the admin API's
//! `POST /fence`, `POST /fence/release` and `GET /fences`. Every wait is on
//! an observable condition (a counter, a held count, an answer).

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::{HttpClient, Running, backend, client, eventually, get, proxy, send};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

const JSON: (&str, &str) = ("content-type", "application/json");

/// A monolith whose unsafe requests wait until the gate opens; safe ones
/// are answered at once.
#[derive(Clone)]
struct Gated {
    url: String,
    /// Unsafe requests that reached it.
    arrived: Arc<AtomicUsize>,
    /// Unsafe requests it answered.
    answered: Arc<AtomicUsize>,
    gate: Arc<watch::Sender<bool>>,
}

impl Gated {
    fn open(&self) {
        self.gate.send_replace(true);
    }
}

async fn gated() -> Gated {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, _) = watch::channel(false);
    let g = Gated {
        url: format!("http://{}", listener.local_addr().unwrap()),
        arrived: Arc::default(),
        answered: Arc::default(),
        gate: Arc::new(tx),
    };
    let server = g.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let g = server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let g = g.clone();
                    async move {
                        let text = format!("monolith {} {}", req.method(), req.uri().path());
                        if !req.method().is_safe() {
                            g.arrived.fetch_add(1, Ordering::SeqCst);
                            let mut open = g.gate.subscribe();
                            let _ = open.wait_for(|o| *o).await;
                            g.answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    g
}

/// The plan: service `catalog`'s route `/api/<prefix>/{id}` writes
/// `orders` (at `table_stage`) and is at `route_stage`.
fn plan_text(mono: &str, svc: &str, prefix: &str, route_stage: &str, table_stage: &str) -> String {
    format!(
        "version = 1\n\n[monolith]\nname = \"shop\"\nupstream = \"{mono}\"\ndatabase = \"postgres://u@127.0.0.1/shop\"\n\n\
         [[service]]\nname = \"catalog\"\nupstream = \"{svc}\"\ndatabase = \"postgres://u@127.0.0.1/catalog\"\n\
         \x20 [[service.route]]\n  path = \"/api/{prefix}/{{id}}\"\n  methods = [\"GET\", \"POST\", \"PUT\"]\n  stage = \"{route_stage}\"\n  writes = [\"orders\"]\n\
         \x20 [[service.route]]\n  path = \"/api/users/{{id}}\"\n  stage = \"monolith\"\n  writes = [\"users\"]\n\
         \x20 [[service.table]]\n  name = \"orders\"\n  stage = \"{table_stage}\"\n"
    )
}

async fn start(plan: &str) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strangler.toml");
    std::fs::write(&path, plan).unwrap();
    let running = proxy(path, |c| c.watch = false).await;
    (dir, running)
}

async fn admin_post(c: &HttpClient, p: &Running, path: &str, body: &str) -> (u16, Value) {
    let a = send(c, "POST", &p.admin_url(path), &[JSON], body).await;
    let json = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    (a.status, json)
}

/// `GET /fences`, polled until `ok` holds; the last answer either way.
async fn fences_when(c: &HttpClient, p: &Running, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let last: Value =
            serde_json::from_str(&get(c, &p.admin_url("/fences")).await.body).unwrap();
        if ok(&last) || std::time::Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn held(fences: &Value) -> u64 {
    fences["fences"].as_array().map_or(0, |f| {
        f.iter().map(|f| f["held"].as_u64().unwrap_or(0)).sum()
    })
}

fn up(fences: &Value) -> usize {
    fences["fences"].as_array().map_or(0, Vec::len)
}

fn post(c: &HttpClient, url: String) -> tokio::task::JoinHandle<common::Answer> {
    let c = c.clone();
    tokio::spawn(async move { send(&c, "POST", &url, &[], "order").await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_drains_writes_holds_new_ones_and_releases_them_to_the_new_owner() {
    let mono = gated().await;
    let svc = backend("catalog").await;
    let (_dir, p) = start(&plan_text(
        &mono.url,
        &svc.url(),
        "orders",
        "monolith",
        "cutover",
    ))
    .await;
    let c = client();

    // Two writes in flight at the monolith, waiting at its gate.
    let early = [
        post(&c, p.url("/api/orders/1")),
        post(&c, p.url("/api/orders/2")),
    ];
    eventually("two writes at the monolith", || {
        mono.arrived.load(Ordering::SeqCst) == 2
    })
    .await;

    let fence = {
        let (c, url) = (c.clone(), p.admin_url("/fence"));
        tokio::spawn(async move {
            let body = r#"{"name": "cutover:catalog", "tables": ["orders", "order_items"], "hold_ms": 30000}"#;
            send(&c, "POST", &url, &[JSON], body).await
        })
    };
    let fences = fences_when(&c, &p, |f| up(f) == 1).await;
    assert_eq!(fences["fences"][0]["name"], "cutover:catalog", "{fences}");
    assert_eq!(
        fences["fences"][0]["tables"],
        serde_json::json!(["order_items", "orders"])
    );
    assert!(
        !fence.is_finished(),
        "the fence answered before the writes in flight finished"
    );

    // Reads pass the fence; another route's writes too.
    let read = get(&c, &p.url("/api/orders/1")).await;
    assert_eq!(
        (read.status, read.body.as_str()),
        (200, "monolith GET /api/orders/1")
    );
    assert!(!fence.is_finished());

    mono.open();
    let fence = fence.await.unwrap();
    assert_eq!(fence.status, 200, "{}", fence.body);
    assert_eq!(
        mono.answered.load(Ordering::SeqCst),
        2,
        "answered before the fence did"
    );
    let fence: Value = serde_json::from_str(&fence.body).unwrap();
    assert_eq!(fence["name"], "cutover:catalog");
    assert_eq!(fence["drained_in_flight"], 2, "{fence}");
    assert_eq!(
        fence["routes"],
        serde_json::json!([{"service": "catalog", "route": "/api/orders/{id}", "methods": "GET,POST,PUT"}])
    );
    for w in early {
        let a = w.await.unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(
            a.body.starts_with("monolith POST /api/orders/"),
            "{}",
            a.body
        );
    }
    let users = send(&c, "POST", &p.url("/api/users/1"), &[], "u").await;
    assert_eq!(users.body, "monolith POST /api/users/1");

    hold_then_release_to_the_service(&c, &p, &mono, &svc).await;
}

/// With the fence up: new writes are held, and the release with a reload
/// sends them to the service the edited plan makes their owner.
async fn hold_then_release_to_the_service(
    c: &HttpClient,
    p: &Running,
    mono: &Gated,
    svc: &common::Backend,
) {
    // New writes are held, not refused.
    let held_posts: Vec<_> = (1..=3)
        .map(|i| post(c, p.url(&format!("/api/orders/{i}"))))
        .collect();
    let fences = fences_when(c, p, |f| held(f) == 3).await;
    assert_eq!(held(&fences), 3, "{fences}");
    assert!(held_posts.iter().all(|h| !h.is_finished()));
    let metrics = get(c, &p.admin_url("/metrics")).await.body;
    assert!(
        common::sample(&metrics, "strangler_proxy_fence_held") >= 3,
        "{metrics}"
    );

    // The cutover moves the route and the table meanwhile; the release
    // reloads the plan and lets the writes go to the service.
    let edited = plan_text(&mono.url, &svc.url(), "orders", "live", "owned");
    std::fs::write(&p.plan, edited).unwrap();
    let (status, released) = admin_post(
        c,
        p,
        "/fence/release",
        r#"{"name": "cutover:catalog", "reload": true}"#,
    )
    .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["name"], "cutover:catalog");
    assert_eq!(released["released"], 3, "{released}");
    assert!(released["longest_held_ms"].as_u64().is_some(), "{released}");
    for h in held_posts {
        let a = h.await.unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(
            a.body.starts_with("catalog POST /api/orders/"),
            "{}",
            a.body
        );
    }
    assert_eq!(svc.seen().iter().filter(|s| s.method == "POST").count(), 3);
    assert_eq!(
        mono.arrived.load(Ordering::SeqCst),
        3,
        "only the early writes and /api/users"
    );
    assert_eq!(up(&fences_when(c, p, |f| up(f) == 0).await), 0);
    let metrics = get(c, &p.admin_url("/metrics")).await.body;
    assert!(
        common::sample(&metrics, "strangler_proxy_fence_hold_seconds_count") >= 3,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_nobody_releases_lifts_itself_after_hold_ms() {
    let mono = gated().await;
    mono.open();
    let svc = backend("catalog").await;
    let (_dir, p) = start(&plan_text(
        &mono.url,
        &svc.url(),
        "lift",
        "monolith",
        "syncing",
    ))
    .await;
    let c = client();
    let (status, fence) = admin_post(
        &c,
        &p,
        "/fence",
        r#"{"name": "cutover:lost", "tables": ["orders"], "hold_ms": 1500}"#,
    )
    .await;
    assert_eq!(status, 200, "{fence}");
    assert_eq!(fence["drained_in_flight"], 0);
    // A retry with the same name replaces it: still one fence.
    let (status, again) = admin_post(
        &c,
        &p,
        "/fence",
        r#"{"name": "cutover:lost", "tables": ["orders"], "hold_ms": 1500}"#,
    )
    .await;
    assert_eq!((status, &again["routes"]), (200, &fence["routes"]));
    let started = std::time::Instant::now();
    let write = post(&c, p.url("/api/lift/1"));
    let fences = fences_when(&c, &p, |f| held(f) == 1).await;
    assert_eq!(up(&fences), 1, "{fences}");
    let a = write.await.unwrap();
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "monolith POST /api/lift/1")
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "held until the lift"
    );
    assert_eq!(up(&fences_when(&c, &p, |f| up(f) == 0).await), 0);
    // Releasing it now, or a name never set, is not an error.
    for name in ["cutover:lost", "never-set"] {
        let (status, released) = admin_post(
            &c,
            &p,
            "/fence/release",
            &format!(r#"{{"name": "{name}", "reload": false}}"#),
        )
        .await;
        assert_eq!(status, 200, "{released}");
        assert_eq!(released["released"], 0, "{released}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_whose_writes_do_not_drain_answers_504_and_lifts() {
    let mono = gated().await;
    let svc = backend("catalog").await;
    let (_dir, p) = start(&plan_text(
        &mono.url,
        &svc.url(),
        "slow",
        "monolith",
        "cutover",
    ))
    .await;
    let c = client();
    let stuck = post(&c, p.url("/api/slow/1"));
    eventually("a write at the monolith", || {
        mono.arrived.load(Ordering::SeqCst) == 1
    })
    .await;
    let fence = {
        let (c, url) = (c.clone(), p.admin_url("/fence"));
        tokio::spawn(async move {
            let body = r#"{"name": "cutover:slow", "tables": ["orders"], "hold_ms": 2000}"#;
            send(&c, "POST", &url, &[JSON], body).await
        })
    };
    fences_when(&c, &p, |f| up(f) == 1).await;
    let held_write = post(&c, p.url("/api/slow/2"));
    assert_eq!(held(&fences_when(&c, &p, |f| held(f) == 1).await), 1);
    let fence = fence.await.unwrap();
    assert_eq!(fence.status, 504, "{}", fence.body);
    let body: Value = serde_json::from_str(&fence.body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("hold_ms"),
        "{body}"
    );
    // The held write may already be on its way when the fence lifts at
    // the same deadline: at least the stuck one is in flight.
    assert!(body["in_flight"].as_u64() >= Some(1), "{body}");
    assert_eq!(body["released"], 1, "{body}");
    assert_eq!(up(&fences_when(&c, &p, |f| up(f) == 0).await), 0);
    // The held write went on to the monolith when the fence lifted.
    eventually("the held write at the monolith", || {
        mono.arrived.load(Ordering::SeqCst) == 2
    })
    .await;
    mono.open();
    for w in [stuck, held_write] {
        assert_eq!(w.await.unwrap().status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_with_the_expected_shape() {
    let mono = gated().await;
    let svc = backend("catalog").await;
    let (_dir, p) = start(&plan_text(
        &mono.url,
        &svc.url(),
        "bad",
        "monolith",
        "cutover",
    ))
    .await;
    let c = client();
    let long = "x".repeat(101);
    let fence_cases = [
        "not json".to_owned(),
        "{}".to_owned(),
        r#"{"name": "a", "tables": ["orders"]}"#.to_owned(),
        r#"{"name": "", "tables": ["orders"], "hold_ms": 100}"#.to_owned(),
        format!(r#"{{"name": "{long}", "tables": ["orders"], "hold_ms": 100}}"#),
        r#"{"name": "a\u0007b", "tables": ["orders"], "hold_ms": 100}"#.to_owned(),
        r#"{"name": "a", "tables": "orders", "hold_ms": 100}"#.to_owned(),
        r#"{"name": "a", "tables": ["orders"], "hold_ms": 0}"#.to_owned(),
        r#"{"name": "a", "tables": ["orders"], "hold_ms": -1}"#.to_owned(),
        r#"{"name": "a", "tables": ["orders"], "hold_ms": 100, "extra": 1}"#.to_owned(),
    ];
    for body in &fence_cases {
        let (status, answer) = admin_post(&c, &p, "/fence", body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(r#"expected {"name": "cutover:catalog", "tables""#),
            "{body}: {message}"
        );
    }
    for body in [
        "",
        r#"{"reload": true}"#,
        r#"{"name": 1}"#,
        r#"{"name": "a", "reload": "yes"}"#,
    ] {
        let (status, answer) = admin_post(&c, &p, "/fence/release", body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(r#"expected {"name": "cutover:catalog", "reload": true}"#),
            "{message}"
        );
    }
    assert_eq!(up(&fences_when(&c, &p, |_| true).await), 0);

    // An unknown table holds nothing.
    let (status, fence) = admin_post(
        &c,
        &p,
        "/fence",
        r#"{"name": "cutover:none", "tables": ["nobody_writes_me"], "hold_ms": 60000}"#,
    )
    .await;
    assert_eq!(status, 200, "{fence}");
    assert_eq!(fence["routes"], serde_json::json!([]));

    // A release that reloads an invalid plan releases nothing.
    let (status, fence) = admin_post(
        &c,
        &p,
        "/fence",
        r#"{"name": "cutover:bad", "tables": ["orders"], "hold_ms": 60000}"#,
    )
    .await;
    assert_eq!(status, 200, "{fence}");
    mono.open();
    let write = post(&c, p.url("/api/bad/1"));
    fences_when(&c, &p, |f| held(f) == 1).await;
    std::fs::write(&p.plan, "version = 1\n[monolith]\nname = \"\"\n").unwrap();
    let (status, refused) = admin_post(
        &c,
        &p,
        "/fence/release",
        r#"{"name": "cutover:bad", "reload": true}"#,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("still holds"),
        "{refused}"
    );
    assert!(!write.is_finished());
    assert_eq!(held(&fences_when(&c, &p, |_| true).await), 1);
    let (status, released) = admin_post(
        &c,
        &p,
        "/fence/release",
        r#"{"name": "cutover:bad", "reload": false}"#,
    )
    .await;
    assert_eq!(
        (status, released["released"].as_u64()),
        (200, Some(1)),
        "{released}"
    );
    let a = write.await.unwrap();
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "monolith POST /api/bad/1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_copies_of_writes_go_only_to_a_service_that_dry_runs_them() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let (_dir, p) = start(&plan_text(
        &mono.url(),
        &svc.url(),
        "shadowed",
        "shadow",
        "syncing",
    ))
    .await;
    let c = client();
    let routes: Value = serde_json::from_str(&get(&c, &p.admin_url("/routes")).await.body).unwrap();
    assert_eq!(
        routes["routes"][0]["writes"],
        serde_json::json!(["orders"]),
        "{routes}"
    );

    let a = send(&c, "POST", &p.url("/api/shadowed/1"), &[], "w").await;
    assert_eq!(a.body, "monolith POST /api/shadowed/1");
    let skipped = r#"strangler_shadow_requests_total{outcome="write_not_owned_skipped",route="GET,POST,PUT /api/shadowed/{id}"}"#;
    let metrics = common::metrics_when(&c, &p, |m| common::sample(m, skipped) == 1).await;
    assert_eq!(common::sample(&metrics, skipped), 1, "{metrics}");
    // A read is still copied.
    get(&c, &p.url("/api/shadowed/2")).await;
    eventually("the read's copy", || {
        !svc.seen_path("/api/shadowed/2").is_empty()
    })
    .await;
    assert!(
        svc.seen_path("/api/shadowed/1").is_empty(),
        "a write was copied to a syncing table"
    );

    // Once the service owns the table (here decommissioned: the plan
    // refuses `owned` while a writer is not `live`), a write is still not
    // copied until the route says the service runs copies as a dry run.
    let reload_with = |table_stage: &str, dry_run: bool| {
        let mut text = plan_text(&mono.url(), &svc.url(), "shadowed", "shadow", table_stage);
        if dry_run {
            text = text.replacen(
                "writes = [\"orders\"]\n",
                "writes = [\"orders\"]\n  shadow_writes = true\n",
                1,
            );
        }
        std::fs::write(&p.plan, text).unwrap();
        admin_post(&c, &p, "/reload", "")
    };
    let (status, reload) = reload_with("decommissioned", false).await;
    assert_eq!(status, 200, "{reload}");
    send(&c, "POST", &p.url("/api/shadowed/3"), &[], "w").await;
    let not_dry = r#"strangler_shadow_requests_total{outcome="write_skipped",route="GET,POST,PUT /api/shadowed/{id}"}"#;
    let metrics = common::metrics_when(&c, &p, |m| common::sample(m, not_dry) == 1).await;
    assert_eq!(common::sample(&metrics, not_dry), 1, "{metrics}");

    // With `shadow_writes = true` writes are copied, marked, even while the
    // table syncs: the service promised not to apply them.
    for (stage, path) in [
        ("decommissioned", "/api/shadowed/4"),
        ("syncing", "/api/shadowed/5"),
    ] {
        let (status, reload) = reload_with(stage, true).await;
        assert_eq!(status, 200, "{reload}");
        send(&c, "POST", &p.url(path), &[], "w").await;
        eventually("the write's copy", || !svc.seen_path(path).is_empty()).await;
        let copy = &svc.seen_path(path)[0];
        assert_eq!(copy.body, "w");
        assert_eq!(copy.headers["x-strangler-shadow"], "1");
    }
    assert!(svc.seen_path("/api/shadowed/3").is_empty());
    let metrics = get(&c, &p.admin_url("/metrics")).await.body;
    assert_eq!(common::sample(&metrics, skipped), 1, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_request_whose_client_hangs_up_leaves_nothing_behind() {
    use tokio::io::AsyncWriteExt;
    let mono = gated().await;
    mono.open();
    let svc = backend("catalog").await;
    let (_dir, p) = start(&plan_text(
        &mono.url,
        &svc.url(),
        "gone",
        "monolith",
        "cutover",
    ))
    .await;
    let c = client();
    let fence = r#"{"name": "cutover:gone", "tables": ["orders"], "hold_ms": 60000}"#;
    let (status, _) = admin_post(&c, &p, "/fence", fence).await;
    assert_eq!(status, 200);
    let mut stream = tokio::net::TcpStream::connect(&p.addr).await.unwrap();
    stream
        .write_all(b"POST /api/gone/1 HTTP/1.1\r\nHost: shop\r\nContent-Length: 1\r\n\r\nx")
        .await
        .unwrap();
    assert_eq!(held(&fences_when(&c, &p, |f| held(f) == 1).await), 1);
    drop(stream);
    let (status, released) =
        admin_post(&c, &p, "/fence/release", r#"{"name": "cutover:gone"}"#).await;
    assert_eq!(
        (status, released["released"].as_u64()),
        (200, Some(1)),
        "{released}"
    );
    // Whatever became of the orphan, it is counted out: a new fence finds
    // nothing in flight once it is done, and holds nothing.
    let (c2, p_url) = (c.clone(), p.url("/api/gone/2"));
    let mut drained = None;
    for _ in 0..100 {
        let (status, again) = admin_post(&c, &p, "/fence", fence).await;
        assert_eq!(status, 200, "{again}");
        if again["drained_in_flight"] == 0 {
            drained = Some(again);
            break;
        }
    }
    assert!(drained.is_some(), "the orphan stayed counted in flight");
    assert_eq!(held(&fences_when(&c, &p, |_| true).await), 0);
    let (status, released) =
        admin_post(&c, &p, "/fence/release", r#"{"name": "cutover:gone"}"#).await;
    assert_eq!((status, released["released"].as_u64()), (200, Some(0)));
    let a = send(&c2, "POST", &p_url, &[], "y").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "monolith POST /api/gone/2")
    );
}
