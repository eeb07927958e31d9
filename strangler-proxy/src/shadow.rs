//! Shadow copies: at stage `shadow` the monolith answers and a copy of the
//! request, body included up to a cap, goes to the service.
//!
//! The copy never delays or changes the client's response. A semaphore
//! permit is taken when the request starts (no permit: the copy is dropped
//! and counted); the body chunks are kept as cheap `Bytes` clones while the
//! monolith is proxied; once the client has its answer, a spawned task sends
//! the copy with its own connector and records the outcome next to the
//! monolith's status and latency. With the monolith's answer captured, the
//! service's answer joins an [`Exchange`] that compares the two
//! ([`crate::diff`]), and a sample of safe requests gets a second copy to
//! the monolith ([`NoiseJob`]) to learn the noise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::upstreams::peer::{HttpPeer, Peer as _};
use tokio::sync::OwnedSemaphorePermit;

use crate::diff::Exchange;
use crate::http1::{Capture, Reply};
use crate::metrics::{ShadowMetrics, ShadowOutcome};
use crate::pipeline::{self, Answer, Lanes};
use crate::state::Shared;
use crate::upstream::Upstream;

/// One shadow copy, ready to send.
pub struct ShadowJob {
    /// The route's shadow metrics (and label).
    pub metrics: Arc<ShadowMetrics>,
    /// Where to send it.
    pub peer: HttpPeer,
    /// The client's request header, marked `x-strangler-shadow: 1`.
    pub header: RequestHeader,
    /// The request body, in the chunks it arrived in.
    pub body: Vec<Bytes>,
    /// The status the monolith answered the client with.
    pub primary_status: u16,
    /// How long the monolith's answer took.
    pub primary_latency: Duration,
    /// The service, for passive health.
    pub upstream: Arc<Upstream>,
    /// Held until the copy is done.
    pub permit: OwnedSemaphorePermit,
    /// The comparison the service's answer joins, when the monolith's
    /// answer was captured.
    pub exchange: Option<Arc<Exchange>>,
}

/// A second copy of a safe request to the monolith, whose answer tells
/// the noise in the first one apart ([`crate::diff`]).
pub struct NoiseJob {
    /// The monolith.
    pub peer: HttpPeer,
    /// The request header, as the monolith got it.
    pub header: RequestHeader,
    /// The request body.
    pub body: Vec<Bytes>,
    /// The monolith's upstream, whose lanes carry the copy.
    pub upstream: Arc<Upstream>,
    /// The comparison the answer joins.
    pub exchange: Arc<Exchange>,
}

/// Decides whether a request gets a shadow copy: the service must be
/// available, the request no protocol upgrade, and a permit free.
pub fn prepare(
    shared: &Shared,
    metrics: &ShadowMetrics,
    service: Option<&Arc<Upstream>>,
    is_upgrade: bool,
) -> Option<OwnedSemaphorePermit> {
    let outcome = if is_upgrade {
        ShadowOutcome::UpgradeSkipped
    } else if !service.is_some_and(|u| u.is_available()) {
        ShadowOutcome::Unavailable
    } else {
        match shared.shadow_permits.clone().try_acquire_owned() {
            Ok(permit) => return Some(permit),
            Err(_) => ShadowOutcome::Dropped,
        }
    };
    metrics.count(outcome);
    None
}

/// Sends the copy to the service and records its outcome; with an
/// exchange, the answer is then compared with the monolith's.
pub fn spawn(shared: Arc<Shared>, job: ShadowJob) {
    let capture = job
        .exchange
        .as_ref()
        .map(|e| e.capture(shared.config.shadow.diff_body_cap));
    let meta = Finished {
        metrics: job.metrics,
        primary_status: job.primary_status,
        primary_latency: job.primary_latency,
        upstream: job.upstream.clone(),
        permit: job.permit,
    };
    let exchange = job.exchange;
    let recorder = shared.clone();
    send_copy(
        shared,
        job.peer,
        &job.upstream,
        job.header,
        job.body,
        capture,
        Box::new(move |answer, elapsed| {
            meta.record(&recorder, &answer, elapsed);
            if let Some(exchange) = exchange {
                exchange.candidate(reply_of(answer));
            }
        }),
    );
}

/// Sends a noise copy to the monolith; its answer goes to the exchange.
pub fn spawn_noise(shared: Arc<Shared>, job: NoiseJob) {
    let capture = Some(job.exchange.capture(shared.config.shadow.diff_body_cap));
    let exchange = job.exchange;
    send_copy(
        shared,
        job.peer,
        &job.upstream,
        job.header,
        job.body,
        capture,
        Box::new(move |answer, _| exchange.secondary(reply_of(answer))),
    );
}

fn reply_of(answer: Answer) -> Option<Reply> {
    match answer {
        Answer::Reply(reply) => Some(reply),
        Answer::Failed | Answer::TimedOut => None,
    }
}

/// What is called with a copy's answer and how long it took.
type Done = Box<dyn FnOnce(Answer, Duration) + Send>;

/// Sends a copy: to a plaintext upstream on one of its pipelined lanes
/// ([`crate::pipeline`]), to a TLS one from a task of its own. With
/// `capture`, the answer's headers and body (up to that many bytes) are
/// kept.
fn send_copy(
    shared: Arc<Shared>,
    peer: HttpPeer,
    upstream: &Arc<Upstream>,
    header: RequestHeader,
    body: Vec<Bytes>,
    capture: Option<Capture>,
    done: Done,
) {
    if !peer.tls()
        && let Some(addr) = peer.address().as_inet()
        && let Some(lanes) = upstream.shadow_lanes(|| {
            Lanes::start(
                *addr,
                shared.config.shadow.connections,
                shared.config.timeouts.connect,
                shared.config.shadow.timeout,
            )
        })
    {
        let head_only = header.method == http::Method::HEAD;
        let idempotent = header.method.is_idempotent();
        let request = serialize(header, &body);
        let started = Instant::now();
        lanes.send(pipeline::Job::new(
            request,
            head_only,
            idempotent,
            capture,
            Box::new(move |answer| done(answer, started.elapsed())),
        ));
        return;
    }
    tokio::spawn(async move {
        let started = Instant::now();
        let timeout = shared.config.shadow.timeout;
        let sent = tokio::time::timeout(timeout, send(&shared, &peer, &header, &body, capture));
        let answer = match sent.await {
            Ok(Ok(reply)) => Answer::Reply(reply),
            Ok(Err(_)) => Answer::Failed,
            Err(_) => Answer::TimedOut,
        };
        done(answer, started.elapsed());
    });
}

/// What is left of a [`ShadowJob`] once the copy is sent.
struct Finished {
    metrics: Arc<ShadowMetrics>,
    primary_status: u16,
    primary_latency: Duration,
    upstream: Arc<Upstream>,
    permit: OwnedSemaphorePermit,
}

impl Finished {
    /// Records the outcome next to the monolith's, feeds passive health,
    /// and frees the permit.
    fn record(self, shared: &Shared, answer: &Answer, elapsed: Duration) {
        let outcome = match answer {
            Answer::Reply(r) if r.status == self.primary_status => ShadowOutcome::SameStatus,
            Answer::Reply(_) => ShadowOutcome::DifferentStatus,
            Answer::Failed => ShadowOutcome::Error,
            Answer::TimedOut => ShadowOutcome::Timeout,
        };
        match answer {
            Answer::Reply(r) if r.status < 500 => self.upstream.record_success(),
            _ => {
                self.upstream.record_failure(&shared.config.health);
            }
        }
        self.metrics.count(outcome);
        self.metrics.observe(elapsed);
        tracing::debug!(
            route = %self.metrics.route,
            outcome = outcome.as_str(),
            monolith_status = self.primary_status,
            monolith_ms = self.primary_latency.as_secs_f64() * 1e3,
            service_status = match answer {
                Answer::Reply(r) => Some(r.status),
                _ => None,
            },
            service_ms = elapsed.as_secs_f64() * 1e3,
            "shadow copy done"
        );
        drop(self.permit);
    }
}

/// The copy as it goes on the wire: hop-by-hop and framing headers dropped,
/// `Content-Length` for the buffered body, origin-form target and a `Host`
/// (from HTTP/2's `:authority` when the client spoke h2).
fn serialize(mut header: RequestHeader, body: &[Bytes]) -> Bytes {
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    ] {
        header.remove_header(name);
    }
    let len: usize = body.iter().map(Bytes::len).sum();
    let method = header.method.clone();
    if len > 0
        || matches!(
            method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        )
    {
        let _ = header.insert_header(http::header::CONTENT_LENGTH, len);
    }
    let authority = header.uri.authority().cloned();
    if let Some(authority) = &authority
        && !header.headers.contains_key(http::header::HOST)
        && let Ok(value) = http::HeaderValue::from_str(authority.as_str())
    {
        let _ = header.insert_header(http::header::HOST, value);
    }
    let mut out = BytesMut::with_capacity(512 + len);
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    if authority.is_some() {
        let target = header.uri.path_and_query().map_or("/", |p| p.as_str());
        out.extend_from_slice(target.as_bytes());
    } else {
        out.extend_from_slice(header.raw_path());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    header.header_to_h1_wire(&mut out);
    out.extend_from_slice(b"\r\n");
    for chunk in body {
        out.extend_from_slice(chunk);
    }
    out.freeze()
}

async fn send(
    shared: &Shared,
    peer: &HttpPeer,
    header: &RequestHeader,
    body: &[Bytes],
    capture: Option<Capture>,
) -> pingora::Result<Reply> {
    let connector = &shared.connector;
    let (mut session, _) = connector.get_http_session(peer).await?;
    session
        .write_request_header(Box::new(header.clone()))
        .await?;
    let last = body.len().saturating_sub(1);
    for (i, chunk) in body.iter().enumerate() {
        session.write_request_body(chunk.clone(), i == last).await?;
    }
    session.finish_request_body().await?;
    session.read_response_header().await?;
    let mut reply = Reply::bare(session.response_header().map_or(0, |h| h.status.as_u16()));
    if capture.is_some()
        && let Some(h) = session.response_header()
    {
        reply.headers = h
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
    }
    // Read the body to the end so the connection can be reused.
    let mut kept = BytesMut::new();
    while let Some(chunk) = session.read_response_body().await? {
        if let Some(capture) = &capture {
            let room = capture.cap.saturating_sub(kept.len());
            reply.truncated |= chunk.len() > room;
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }
    reply.body = kept.freeze();
    connector
        .release_http_session(session, peer, peer.options.idle_timeout)
        .await;
    Ok(reply)
}
