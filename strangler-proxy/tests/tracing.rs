//! OpenTelemetry export over real loopback: a small OTLP/HTTP (JSON)
//! collector in the test, the real proxy in front of real upstreams.
//! The proxy's span continues the client's trace, and the upstream sees it
//! as its parent; a collector that is down or never answers fails no
//! request.

#![allow(clippy::too_many_lines)] // A scenario test reads top to bottom.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{backend, client, closed_port, metrics_when, proxy, sample, send, silent, write_plan};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP collector: every span of every `POST /v1/traces` (JSON).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Value>>>,
    posts: Arc<Mutex<Vec<(String, String)>>>,
    arrived: Arc<Notify>,
}

impl Collector {
    async fn start() -> (Self, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Self::default();
        let c = collector.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| c.clone().receive(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (collector, addr)
    }

    async fn receive(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        self.posts.lock().unwrap().push((
            format!("{} {}", parts.method, parts.uri.path()),
            content_type,
        ));
        let status = if parts.method == "POST" && parts.uri.path() == "/v1/traces" {
            let export: Value = serde_json::from_slice(&body).unwrap();
            let mut spans = self.spans.lock().unwrap();
            for rs in export["resourceSpans"].as_array().unwrap() {
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    for span in ss["spans"].as_array().unwrap() {
                        let mut span = span.clone();
                        span["resource"] = rs["resource"].clone();
                        spans.push(span);
                    }
                }
            }
            self.arrived.notify_waiters();
            200
        } else {
            404
        };
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap())
    }

    /// Waits up to ten seconds for a span that `pick` accepts.
    async fn span(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.arrived.notified();
            if let Some(span) = self.spans.lock().unwrap().iter().find(|s| pick(s)) {
                return span.clone();
            }
            let in_time = tokio::time::timeout_at(deadline, arrived).await.is_ok();
            assert!(
                in_time,
                "no span {what} within 10 s; got {:#?}",
                self.spans.lock().unwrap()
            );
        }
    }
}

/// The value of attribute `key` of an OTLP JSON span, as text.
fn attr(span: &Value, key: &str) -> Option<String> {
    let value = &span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"];
    let inner = value.get("stringValue").or_else(|| value.get("intValue"))?;
    Some(match inner {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The `traceparent` the upstream received on `path`.
fn forwarded(seen: &[common::Seen], path: &str) -> String {
    seen.iter()
        .rev()
        .find(|s| s.path == path)
        .unwrap_or_else(|| panic!("the upstream never saw {path}"))
        .headers
        .get("traceparent")
        .expect("a traceparent upstream")
        .to_str()
        .unwrap()
        .to_owned()
}

fn plan(dir: &std::path::Path, monolith: &str, catalog: &str) -> std::path::PathBuf {
    write_plan(
        dir,
        monolith,
        &format!(
            "[[service]]\nname = \"catalog\"\nupstream = \"{catalog}\"\n  \
             [[service.route]]\n  path = \"/items/{{id}}\"\n  stage = \"live\"\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_continue_the_clients_trace_and_parent_the_upstream() {
    let (collector, addr) = Collector::start().await;
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(plan(dir.path(), &mono.url(), &svc.url()), |c| {
        c.otlp_endpoint = Some(format!("http://{addr}"));
    })
    .await;
    let c = client();

    // A client in a trace: the proxy's span is its child.
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let a = send(
        &c,
        "GET",
        &p.url("/items/7/../42"),
        &[("traceparent", &incoming)],
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.target(), "catalog");
    let span = collector
        .span("in the client's trace", |s| s["traceId"] == TRACE)
        .await;
    assert_eq!(span["parentSpanId"], PARENT, "{span:#}");
    assert_eq!(span["kind"], 2, "SPAN_KIND_SERVER: {span:#}");
    assert_eq!(span["name"], "GET /items/{id}");
    assert_eq!(attr(&span, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr(&span, "url.path").as_deref(), Some("/items/42"));
    assert_eq!(attr(&span, "http.route").as_deref(), Some("/items/{id}"));
    assert_eq!(attr(&span, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(attr(&span, "strangler.target").as_deref(), Some("catalog"));
    assert_eq!(attr(&span, "strangler.stage").as_deref(), Some("live"));
    assert_eq!(
        attr(&span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attr(&span, "error.type"), None);
    let service_name = span["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "service.name")
        .map(|a| a["value"]["stringValue"].clone());
    assert_eq!(service_name, Some(Value::from("strangler-proxy")));
    // The upstream's parent is the exported span, in the same trace.
    let span_id = span["spanId"].as_str().unwrap().to_owned();
    assert_eq!(span_id.len(), 16);
    assert_ne!(span_id, PARENT);
    assert_eq!(
        forwarded(&svc.seen(), "/items/42"),
        format!("00-{TRACE}-{span_id}-01")
    );

    // No traceparent: a new trace whose root is the proxy's span. The
    // monolith answers (no route), and a 5xx is an error.
    let a = send(&c, "GET", &p.url("/other"), &[], "").await;
    assert_eq!(a.status, 200);
    let sent = forwarded(&mono.seen(), "/other");
    let (trace, span_id) = (sent[3..35].to_owned(), sent[36..52].to_owned());
    assert_ne!(trace, TRACE);
    let span = collector
        .span("of a new trace", |s| s["traceId"] == trace)
        .await;
    assert_eq!(span["spanId"], span_id.as_str(), "{span:#}");
    assert!(
        span["parentSpanId"].as_str().unwrap_or("").is_empty(),
        "{span:#}"
    );
    assert_eq!(attr(&span, "http.route"), None);
    assert_eq!(attr(&span, "strangler.target").as_deref(), Some("monolith"));

    // A service's 500 on a POST (not retried on the monolith): an error span.
    let failing = format!("00-{TRACE}-00000000000000aa-01");
    let a = send(
        &c,
        "POST",
        &p.url("/items/boom"),
        &[("traceparent", &failing)],
        "x",
    )
    .await;
    assert_eq!(a.status, 500);
    let span = collector
        .span("of the failed POST", |s| {
            s["parentSpanId"] == "00000000000000aa"
        })
        .await;
    assert_eq!(attr(&span, "error.type").as_deref(), Some("500"));
    assert_eq!(
        attr(&span, "http.response.status_code").as_deref(),
        Some("500")
    );
    assert_eq!(span["status"]["code"], 2, "STATUS_CODE_ERROR: {span:#}");

    // An unsampled client trace is forwarded under the proxy's span but
    // not exported (parent-based sampling).
    let unsampled = format!("00-{TRACE}-00000000000000bb-00");
    let a = send(
        &c,
        "GET",
        &p.url("/items/9"),
        &[("traceparent", &unsampled)],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    let sent = forwarded(&svc.seen(), "/items/9");
    assert!(sent.starts_with(&format!("00-{TRACE}-")) && sent.ends_with("-00"));
    assert_ne!(&sent[36..52], "00000000000000bb");

    let posts = collector.posts.lock().unwrap().clone();
    assert!(
        posts
            .iter()
            .all(|(what, ct)| what == "POST /v1/traces" && ct == "application/json"),
        "{posts:?}"
    );
    let m = metrics_when(&c, &p, |m| {
        sample(m, "strangler_trace_spans_total{outcome=\"exported\"}") >= 3
    })
    .await;
    assert!(
        sample(&m, "strangler_trace_spans_total{outcome=\"exported\"}") >= 3,
        "{m}"
    );
    assert!(
        !collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|s| s["parentSpanId"] == "00000000000000bb"),
        "an unsampled span was exported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_or_silent_fails_no_request() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let (silent, _) = silent().await;
    for endpoint in [
        format!("http://127.0.0.1:{}", closed_port()),
        format!("http://{silent}"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = proxy(plan(dir.path(), &mono.url(), &svc.url()), |c| {
            c.otlp_endpoint = Some(endpoint.clone());
        })
        .await;
        let c = client();
        let started = Instant::now();
        for i in 0..50 {
            let trace = format!("00-{TRACE}-{:016x}-01", i + 1);
            let a = send(
                &c,
                "GET",
                &p.url(&format!("/items/{i}")),
                &[("traceparent", &trace)],
                "",
            )
            .await;
            assert_eq!(a.status, 200, "{endpoint}: request {i}: {}", a.body);
            assert_eq!(a.target(), "catalog");
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{endpoint}: 50 requests took {took:?}"
        );
    }
    // The dead collector's spans were counted as failed.
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(plan(dir.path(), &mono.url(), &svc.url()), |_| {}).await;
    let c = client();
    let m = metrics_when(&c, &p, |m| {
        sample(m, "strangler_trace_spans_total{outcome=\"failed\"}") >= 50
    })
    .await;
    assert!(
        sample(&m, "strangler_trace_spans_total{outcome=\"failed\"}") >= 50,
        "{m}"
    );
}
