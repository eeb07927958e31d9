//! OpenTelemetry spans for proxied requests, exported over OTLP/HTTP (JSON)
//! when an endpoint is configured.
//!
//! Each request gets one `SERVER` span. Its trace id and parent come from
//! the client's `traceparent` (a new trace without one), and its span id is
//! the parent id of the `traceparent` the proxy forwards, so the upstream's
//! spans hang under the proxy's. The request path only fills a
//! [`FinishedSpan`] and `try_send`s it into a bounded queue; a thread of its
//! own turns spans into OTLP and exports them in batches. A full queue drops
//! the span and counts it (`strangler_trace_spans_total{outcome="dropped"}`),
//! so a slow or unreachable collector never delays or fails a request.

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use pingora_prometheus::prometheus::IntCounterVec;

use crate::error::ProxyError;
use crate::split;

/// Spans waiting for export at most; more are dropped.
const QUEUE: usize = 4096;
/// Spans per export request at most.
const BATCH: usize = 512;
/// How long a span waits for its batch to fill.
const DELAY: Duration = Duration::from_secs(1);
/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long stopping waits for the last batch.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// A request's span while it is proxied: its ids and start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanStart {
    trace_id: u128,
    span_id: u64,
    /// The client's span, when it sent a `traceparent`.
    parent: Option<u64>,
    flags: u8,
    start: SystemTime,
}

impl SpanStart {
    /// A span under the client's `traceparent` (already checked by the
    /// proxy), or the root of a new sampled trace without one.
    pub(crate) fn new(incoming: Option<&[u8]>) -> Self {
        let parsed = incoming.and_then(|v| {
            let s = std::str::from_utf8(v).ok()?;
            Some((
                u128::from_str_radix(s.get(3..35)?, 16).ok()?,
                u64::from_str_radix(s.get(36..52)?, 16).ok()?,
                u8::from_str_radix(s.get(53..55)?, 16).ok()?,
            ))
        });
        let (trace_id, parent, flags) = match parsed {
            Some((trace, parent, flags)) => (trace, Some(parent), flags),
            None => (
                (u128::from(split::random()) << 64) | u128::from(split::random()) | 1,
                None,
                1,
            ),
        };
        Self {
            trace_id,
            span_id: split::random().max(1),
            parent,
            flags,
            start: SystemTime::now(),
        }
    }

    /// The `traceparent` to forward: this span as the upstream's parent.
    pub(crate) fn traceparent(&self) -> HeaderValue {
        let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
        hex(&mut buf[3..35], self.trace_id, 32);
        hex(&mut buf[36..52], u128::from(self.span_id), 16);
        hex(&mut buf[53..55], u128::from(self.flags), 2);
        HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static(
            "00-00000000000000000000000000000001-0000000000000001-01",
        ))
    }
}

/// Writes the low `digits` hex digits of `n` into `out`, lower case.
fn hex(out: &mut [u8], n: u128, digits: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in out.iter_mut().take(digits).enumerate() {
        *b = DIGITS[((n >> (4 * (digits - 1 - i))) & 0xf) as usize];
    }
}

/// A request's span once it is answered, with what the request path
/// already had at hand.
#[derive(Debug)]
pub(crate) struct FinishedSpan {
    pub start: SpanStart,
    pub end: SystemTime,
    pub method: http::Method,
    /// The normalised path.
    pub path: String,
    /// The plan's route template, when a route matched.
    pub route: Option<String>,
    /// The request's `Host` (or `:authority`).
    pub host: Option<String>,
    /// `monolith` or the service's name.
    pub target: String,
    pub stage: Option<&'static str>,
    /// The status sent to the client; 0 when none was.
    pub status: u16,
}

/// The exporter's side of the queue, shared by every worker.
pub(crate) struct Tracer {
    queue: SyncSender<FinishedSpan>,
    outcomes: IntCounterVec,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

impl Tracer {
    /// An exporter to the OTLP/HTTP collector at `endpoint` (its base URL:
    /// spans go to `{endpoint}/v1/traces`), with its thread started.
    pub(crate) fn start(endpoint: &str, outcomes: IntCounterVec) -> Result<Self, ProxyError> {
        // Quoted masked: the URL may carry a password.
        let fail = |why: String| {
            ProxyError::Start(format!(
                "OTLP endpoint `{}`: {why}",
                strangler_plan::mask_url(endpoint)
            ))
        };
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let parsed = url::Url::parse(&url).map_err(|e| fail(e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(fail("only http:// is supported".to_owned()));
        }
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        exporter.set_resource(
            &Resource::builder()
                .with_service_name("strangler-proxy")
                .build(),
        );
        let (queue, rx) = mpsc::sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let outcomes = outcomes.clone();
            std::thread::Builder::new()
                .name("strangler-otlp".to_owned())
                .spawn(move || export_loop(&rx, &exporter, &stop, &outcomes))
                .map_err(|e| ProxyError::Start(format!("OTLP exporter thread: {e}")))?
        };
        Ok(Self {
            queue,
            outcomes,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a span for export, or drops and counts it when the queue is
    /// full. Never blocks.
    pub(crate) fn submit(&self, span: FinishedSpan) {
        if span.start.flags & 1 == 0 {
            // The client's trace is not sampled (ParentBased sampling).
            return;
        }
        match self.queue.try_send(span) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.outcomes.with_label_values(&["dropped"]).inc();
            }
        }
    }

    /// Exports what is queued and stops the thread, waiting for it a
    /// little (an unreachable collector does not hold the shutdown up).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            thread.thread().unpark();
            let deadline = Instant::now() + STOP_WAIT;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

fn export_loop(
    rx: &Receiver<FinishedSpan>,
    exporter: &opentelemetry_otlp::SpanExporter,
    stop: &AtomicBool,
    outcomes: &IntCounterVec,
) {
    let scope = InstrumentationScope::builder("strangler-proxy")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let mut batch = Vec::with_capacity(BATCH);
    let mut deadline = Instant::now() + DELAY;
    loop {
        // Woken at least every 100 ms to see a stop.
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        let disconnected = match rx.recv_timeout(wait) {
            Ok(span) => {
                batch.push(span_data(span, &scope));
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let stopping = disconnected || stop.load(Ordering::Relaxed);
        if stopping {
            while let Ok(span) = rx.try_recv() {
                batch.push(span_data(span, &scope));
            }
        }
        if batch.len() >= BATCH || (!batch.is_empty() && (stopping || Instant::now() >= deadline)) {
            while !batch.is_empty() {
                let rest = batch.split_off(batch.len().min(BATCH));
                let sent = std::mem::replace(&mut batch, rest);
                let n = sent.len() as u64;
                match block_on(exporter.export(sent)) {
                    Ok(()) => outcomes.with_label_values(&["exported"]).inc_by(n),
                    Err(e) => {
                        outcomes.with_label_values(&["failed"]).inc_by(n);
                        tracing::debug!("OTLP export of {n} spans failed: {e}");
                    }
                }
            }
        }
        if batch.is_empty() {
            deadline = Instant::now() + DELAY;
        }
        if stopping {
            return;
        }
    }
}

fn span_data(span: FinishedSpan, scope: &InstrumentationScope) -> SpanData {
    let FinishedSpan {
        start,
        end,
        method,
        path,
        route,
        host,
        target,
        stage,
        status,
    } = span;
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let mut attributes = Vec::with_capacity(10);
    attributes.push(KeyValue::new("http.request.method", method.to_string()));
    attributes.push(KeyValue::new("url.path", path));
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route));
    }
    if let Some(host) = host {
        match split_port(&host) {
            Some((name, port)) => {
                attributes.push(KeyValue::new("server.address", name.to_owned()));
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
            None => attributes.push(KeyValue::new("server.address", host)),
        }
    }
    attributes.push(KeyValue::new("strangler.target", target));
    if let Some(stage) = stage {
        attributes.push(KeyValue::new("strangler.stage", stage));
    }
    if status > 0 {
        attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
    }
    let failed = status >= 500 || status == 0;
    if failed {
        let kind = if status == 0 {
            "no_response".to_owned()
        } else {
            status.to_string()
        };
        attributes.push(KeyValue::new("error.type", kind));
    }
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(start.trace_id),
            SpanId::from(start.span_id),
            TraceFlags::new(start.flags),
            false,
            TraceState::default(),
        ),
        parent_span_id: start.parent.map_or(SpanId::INVALID, SpanId::from),
        parent_span_is_remote: start.parent.is_some(),
        span_kind: SpanKind::Server,
        name: Cow::Owned(name),
        start_time: start.start,
        end_time: end,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: if failed {
            Status::error(if status == 0 {
                "no response".to_owned()
            } else {
                format!("status {status}")
            })
        } else {
            Status::Unset
        },
        instrumentation_scope: scope.clone(),
    }
}

/// `host:port` split into its parts (`[v6]:port` too); `None` without a
/// port.
fn split_port(host: &str) -> Option<(&str, u16)> {
    let (name, port) = host.rsplit_once(':')?;
    if name.contains(':') && !(name.starts_with('[') && name.ends_with(']')) {
        return None;
    }
    Some((name, port.parse().ok()?))
}

/// Runs `future` on this thread: the exporter's HTTP client is blocking,
/// so its futures finish without a runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_traceparent_keeps_the_trace_and_names_this_span() {
        let incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let span = SpanStart::new(Some(incoming));
        assert_eq!(span.trace_id, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736);
        assert_eq!(span.parent, Some(0x00f0_67aa_0ba9_02b7));
        let out = span.traceparent();
        let out = out.to_str().unwrap();
        assert_eq!(&out[..36], "00-4bf92f3577b34da6a3ce929d0e0e4736-");
        assert_eq!(&out[36..52], format!("{:016x}", span.span_id));
        assert_ne!(&out[36..52], "00f067aa0ba902b7");
        assert!(out.ends_with("-01"));
        let root = SpanStart::new(None);
        assert_eq!(root.parent, None);
        assert!(root.trace_id != 0 && root.span_id != 0);
        assert_eq!(split_port("example.com:8080"), Some(("example.com", 8080)));
        assert_eq!(split_port("[::1]:80"), Some(("[::1]", 80)));
        assert_eq!(split_port("example.com"), None);
    }

    #[test]
    fn unusable_endpoints_are_refused_without_their_password() {
        let outcomes = IntCounterVec::new(
            pingora_prometheus::prometheus::Opts::new("spans", "spans"),
            &["outcome"],
        )
        .unwrap();
        for endpoint in ["https://user:secret@collector:4318", "not a url"] {
            let e = Tracer::start(endpoint, outcomes.clone()).unwrap_err();
            let e = e.to_string();
            assert!(e.contains("OTLP endpoint"), "{e}");
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
