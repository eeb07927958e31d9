//! Shadow copies: at stage `shadow` the monolith answers and a copy of the
//! request, body included up to a cap, goes to the service.
//!
//! The copy never delays or changes the client's response. A semaphore
//! permit is taken when the request starts (no permit: the copy is dropped
//! and counted); the body chunks are kept as cheap `Bytes` clones while the
//! monolith is proxied; once the client has its answer, a spawned task sends
//! the copy with its own connector and records the outcome next to the
//! monolith's status and latency. Comparing the two bodies is left to a
//! later issue; [`ShadowJob`] already carries what a diff needs to start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::upstreams::peer::{HttpPeer, Peer as _};
use tokio::sync::OwnedSemaphorePermit;

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

/// Sends the copy: to a plaintext service on one of its pipelined lanes
/// ([`crate::pipeline`]), to a TLS service from a task of its own.
pub fn spawn(shared: Arc<Shared>, job: ShadowJob) {
    if !job.peer.tls()
        && let Some(addr) = job.peer.address().as_inet()
        && let Some(lanes) = job.upstream.shadow_lanes(|| {
            Lanes::start(
                *addr,
                shared.config.shadow.connections,
                shared.config.timeouts.connect,
                shared.config.shadow.timeout,
            )
        })
    {
        let head_only = job.header.method == http::Method::HEAD;
        let idempotent = job.header.method.is_idempotent();
        let request = serialize(job.header, &job.body);
        let started = Instant::now();
        let meta = Finished {
            metrics: job.metrics,
            primary_status: job.primary_status,
            primary_latency: job.primary_latency,
            upstream: job.upstream.clone(),
            permit: job.permit,
        };
        let done = Box::new(move |answer: Answer| {
            let result = match answer {
                Answer::Status(status) => Ok(Ok(status)),
                Answer::Failed => Ok(Err(())),
                Answer::TimedOut => Err(()),
            };
            meta.record(&shared, result, started.elapsed());
        });
        lanes.send(pipeline::Job::new(request, head_only, idempotent, done));
        return;
    }
    tokio::spawn(async move {
        let started = Instant::now();
        let timeout = shared.config.shadow.timeout;
        let result = tokio::time::timeout(timeout, send(&shared, &job)).await;
        let elapsed = started.elapsed();
        let result = match result {
            Ok(Ok(status)) => Ok(Ok(status)),
            Ok(Err(_)) => Ok(Err(())),
            Err(_) => Err(()),
        };
        let meta = Finished {
            metrics: job.metrics,
            primary_status: job.primary_status,
            primary_latency: job.primary_latency,
            upstream: job.upstream,
            permit: job.permit,
        };
        meta.record(&shared, result, elapsed);
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
    /// Records the outcome (`Err` a timeout, `Ok(Err)` a failure) next to
    /// the monolith's, feeds passive health, and frees the permit.
    fn record(self, shared: &Shared, result: Result<Result<u16, ()>, ()>, elapsed: Duration) {
        let outcome = match &result {
            Ok(Ok(status)) if *status == self.primary_status => ShadowOutcome::SameStatus,
            Ok(Ok(_)) => ShadowOutcome::DifferentStatus,
            Ok(Err(())) => ShadowOutcome::Error,
            Err(()) => ShadowOutcome::Timeout,
        };
        match &result {
            Ok(Ok(status)) if *status < 500 => self.upstream.record_success(),
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
            service_status = result.ok().and_then(Result::ok),
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

async fn send(shared: &Shared, job: &ShadowJob) -> pingora::Result<u16> {
    let connector = &shared.connector;
    let (mut session, _) = connector.get_http_session(&job.peer).await?;
    session
        .write_request_header(Box::new(job.header.clone()))
        .await?;
    let last = job.body.len().saturating_sub(1);
    for (i, chunk) in job.body.iter().enumerate() {
        session.write_request_body(chunk.clone(), i == last).await?;
    }
    session.finish_request_body().await?;
    session.read_response_header().await?;
    let status = session.response_header().map_or(0, |h| h.status.as_u16());
    // Read the body to the end so the connection can be reused; a later
    // issue compares it with the monolith's.
    while session.read_response_body().await?.is_some() {}
    connector
        .release_http_session(session, &job.peer, job.peer.options.idle_timeout)
        .await;
    Ok(status)
}
