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

use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use tokio::sync::OwnedSemaphorePermit;

use crate::metrics::metrics;
use crate::state::Shared;
use crate::upstream::Upstream;

/// Limits of shadowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowConfig {
    /// Bodies larger than this are not copied (outcome `body_too_large`).
    pub body_cap: usize,
    /// Copies in flight at most; more are dropped (outcome `dropped`).
    pub max_in_flight: usize,
    /// How long a copy may take at the service.
    pub timeout: Duration,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            body_cap: 1 << 20,
            max_in_flight: 256,
            timeout: Duration::from_secs(10),
        }
    }
}

/// One shadow copy, ready to send.
pub struct ShadowJob {
    /// The route's label, for metrics.
    pub route: String,
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
    route: &str,
    service: Option<&Arc<Upstream>>,
    is_upgrade: bool,
) -> Option<OwnedSemaphorePermit> {
    let outcome = if is_upgrade {
        "upgrade_skipped"
    } else if !service.is_some_and(|u| u.is_available()) {
        "unavailable"
    } else {
        match shared.shadow_permits.clone().try_acquire_owned() {
            Ok(permit) => return Some(permit),
            Err(_) => "dropped",
        }
    };
    metrics().shadow.with_label_values(&[route, outcome]).inc();
    None
}

/// Sends the copy from a task of its own.
pub fn spawn(shared: Arc<Shared>, job: ShadowJob) {
    tokio::spawn(async move {
        let started = Instant::now();
        let timeout = shared.config.shadow.timeout;
        let result = tokio::time::timeout(timeout, send(&shared, &job)).await;
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(Ok(status)) if *status == job.primary_status => "same_status",
            Ok(Ok(_)) => "different_status",
            Ok(Err(_)) => "error",
            Err(_) => "timeout",
        };
        match &result {
            Ok(Ok(status)) if *status < 500 => job.upstream.record_success(),
            _ => {
                job.upstream.record_failure(&shared.config.health);
            }
        }
        let m = metrics();
        m.shadow.with_label_values(&[&job.route, outcome]).inc();
        m.shadow_latency
            .with_label_values(&[&job.route])
            .observe(elapsed.as_secs_f64());
        tracing::debug!(
            route = %job.route,
            outcome,
            monolith_status = job.primary_status,
            monolith_ms = job.primary_latency.as_secs_f64() * 1e3,
            service_status = result.as_ref().ok().and_then(|r| r.as_ref().ok()).copied(),
            service_ms = elapsed.as_secs_f64() * 1e3,
            "shadow copy done"
        );
        drop(job.permit);
    });
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
