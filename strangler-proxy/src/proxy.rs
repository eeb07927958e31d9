//! The pingora [`ProxyHttp`] implementation: thin callbacks that ask the
//! route table who answers, fall back to the monolith when a service fails,
//! set the forwarding and trace headers, hand shadow copies to
//! [`crate::shadow`] and record metrics and the access log.
//!
//! Fallback rules, in pingora's terms:
//! - `request_filter` picks the target; a service that is down or ejected
//!   is replaced by the monolith right away (reason `unavailable`).
//! - `fail_to_connect`: nothing was sent, so any method is retried on the
//!   monolith (`connect_failed`); pingora calls `upstream_peer` again.
//! - `upstream_response_filter`: a 5xx from a service, for an idempotent
//!   request whose body pingora still holds, becomes a retryable error
//!   before anything reaches the client (`service_5xx`).
//! - `error_while_proxy`: a reset or timeout after sending is retried on the
//!   monolith for idempotent requests (`reset`); others get the error.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{ErrorSource, RetryType};
use strangler_plan::Sticky;
use tokio::sync::OwnedSemaphorePermit;

use crate::diff::{DiffRules, Exchange, RequestLine};
use crate::fence::InFlightGuard;
use crate::gateway::{Admission, Incoming, RateHeaders, RouteGateway};
use crate::http1::Reply;
use crate::metrics::{FallbackReason, RouteRuntime, ShadowOutcome};
use crate::otel::{FinishedSpan, SpanStart, Tracer};
use crate::request::{self, OWNER_RETRY_AFTER_SECS, OWNER_UNAVAILABLE, Refusal};
use crate::shadow::{self, NoiseJob, ShadowJob};
use crate::sniff;
use crate::split;
use crate::state::{Shared, Snapshot};
use crate::table::{Request, RouteEntry, SplitKey, Target};
use crate::upstream::Upstream;

/// The proxy's per-request state.
pub struct Ctx {
    snap: Option<Arc<Snapshot>>,
    route: Option<usize>,
    /// Who is being tried now.
    target: Target,
    fallback: Option<FallbackReason>,
    /// The status of a service's 5xx that is being retried on the monolith.
    service_status: Option<u16>,
    response_started: bool,
    body_bytes: u64,
    shadow: Option<ShadowCopy>,
    /// The `traceparent` forwarded upstream: the client's when valid (a
    /// new one without), or with tracing on the proxy's span as parent;
    /// its trace id is the request id on error pages.
    trace: Option<HeaderValue>,
    /// The request's span, with tracing on.
    span: Option<SpanStart>,
    /// Why the request was refused before routing.
    refusal: Option<Refusal>,
    started: Instant,
    /// How long a write fence held the request; the total upstream timeout
    /// counts from after the hold.
    held: Option<std::time::Duration>,
    /// The request counted among its route's unsafe requests in flight,
    /// which a fence being set waits for.
    in_flight: Option<InFlightGuard>,
    /// The gateway rules that admitted the request, for its transforms.
    gateway: Option<Arc<RouteGateway>>,
    /// The rate-limit headers for the response.
    rate: Option<RateHeaders>,
    /// The request's `Origin`, for the CORS response headers.
    origin: Option<HeaderValue>,
}

struct ShadowCopy {
    service: usize,
    permit: OwnedSemaphorePermit,
    chunks: Vec<Bytes>,
    size: usize,
    too_large: bool,
    /// How the answers are compared; `None` when the route's `diff` is off.
    rules: Option<Arc<DiffRules>>,
    /// The monolith's answer as it came, for the response diff (the
    /// headers, and the body up to the diff cap).
    answer: Option<Reply>,
    /// The captured body so far.
    answer_body: Vec<Bytes>,
}

/// The proxy: the shared state and the span exporter, when tracing is on.
pub struct StranglerProxy {
    shared: Arc<Shared>,
    tracer: Option<Arc<Tracer>>,
}

impl StranglerProxy {
    /// A proxy over `shared`, exporting spans to `tracer` when there is one.
    #[must_use]
    pub fn new(shared: Arc<Shared>, tracer: Option<Arc<Tracer>>) -> Self {
        Self { shared, tracer }
    }

    fn fall_back(ctx: &mut Ctx, reason: FallbackReason) {
        if let (Some(snap), Some(route)) = (&ctx.snap, ctx.route)
            && let Some(rt) = snap.routes.get(route)
        {
            rt.count_fallback(reason);
            let service = match ctx.target {
                Target::Service(s) => snap.table.services().get(s).map(|s| s.name.as_str()),
                Target::Monolith => None,
            };
            tracing::info!(
                route = %rt.label,
                service = service.unwrap_or("-"),
                reason = reason.as_str(),
                "falling back to the monolith"
            );
        }
        ctx.fallback = Some(reason);
        ctx.target = Target::Monolith;
    }

    /// Fails the request with 504 once it has taken longer than the total
    /// upstream timeout (upgraded connections have none).
    fn check_total(&self, session: &Session, ctx: &Ctx) -> Result<()> {
        let total = Self::route_entry(ctx)
            .and_then(|r| r.timeouts.total)
            .or(self.shared.config.timeouts.total);
        match total {
            Some(total)
                if ctx
                    .started
                    .elapsed()
                    .saturating_sub(ctx.held.unwrap_or_default())
                    > total
                    && !session.as_downstream().is_upgrade_req() =>
            {
                Error::e_explain(
                    HTTPStatus(504),
                    format!("the upstream took longer than the total timeout ({total:?})"),
                )
            }
            _ => Ok(()),
        }
    }

    /// Looks the request up in the live table. An unsafe request on a
    /// route writing a fenced table waits until the fence lifts and is
    /// looked up again, in the table in force then; otherwise it is counted
    /// among the route's writes in flight (`ctx.in_flight`).
    async fn route_or_hold(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        unsafe_method: bool,
    ) -> (Arc<Snapshot>, Option<usize>) {
        let mut held_since: Option<Instant> = None;
        let found = loop {
            let snap = self.shared.snapshot();
            let req = session.req_header();
            let route = snap.table.lookup(&Request {
                method: req.method.as_str(),
                path: &request::route_path(req.uri.path()),
                host: request_host(req),
                headers: &req.headers,
            });
            let writer = route
                .filter(|_| unsafe_method)
                .and_then(|id| snap.in_flight.get(id).cloned().flatten());
            let Some(writer) = writer else {
                break (snap, route);
            };
            let guard = writer.enter();
            let tables = route
                .and_then(|id| snap.table.route(id))
                .map_or(&[][..], |r| r.writes.as_slice());
            let Some(fence) = self.shared.fences.covering(tables) else {
                ctx.in_flight = Some(guard);
                break (snap, route);
            };
            drop(guard);
            let since = *held_since.get_or_insert_with(Instant::now);
            self.shared.fences.hold(fence, since).await;
        };
        if let Some(since) = held_since {
            let held = since.elapsed();
            self.shared.fences.observe_hold(held);
            ctx.held = Some(held);
            let req = session.req_header();
            tracing::info!(
                method = %req.method,
                path = req.uri.path(),
                held_ms = crate::fence::millis(held),
                "request held by a write fence goes on"
            );
        }
        found
    }

    /// Runs the gateway rules of the request's route (or `[gateway]`'s for
    /// a request no route matches). Returns whether the request was
    /// answered at the edge.
    async fn gate(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let snap = self.shared.snapshot();
        if !snap.gateways.any {
            return Ok(false);
        }
        let req = session.req_header();
        let path = request::route_path(req.uri.path());
        let lookup = |method: &str| {
            snap.table.lookup(&Request {
                method,
                path: &path,
                host: request_host(req),
                headers: &req.headers,
            })
        };
        let rules = |route: Option<usize>| match route {
            Some(id) => snap.gateways.routes.get(id).cloned().flatten(),
            None => snap.gateways.unmatched.clone(),
        };
        // A CORS preflight is looked up by the method it asks about.
        if req.method == http::Method::OPTIONS
            && req.headers.contains_key(http::header::ORIGIN)
            && let Some(asked) = req
                .headers
                .get("access-control-request-method")
                .and_then(|v| v.to_str().ok())
        {
            let route = lookup(asked);
            if let Some(answer) = rules(route).and_then(|g| g.preflight(req)) {
                self.answer_at_edge(session, ctx, &snap, route, answer)
                    .await?;
                return Ok(true);
            }
        }
        let route = lookup(req.method.as_str());
        let Some(gateway) = rules(route) else {
            return Ok(false);
        };
        drop(path);
        ctx.origin = session
            .req_header()
            .headers
            .get(http::header::ORIGIN)
            .cloned();
        let client_ip = session
            .as_downstream()
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(std::net::SocketAddr::ip);
        match gateway.admit(&mut Incoming {
            header: session.req_header_mut(),
            client_ip,
        }) {
            Admission::Pass(rate) => {
                ctx.rate = rate;
                ctx.gateway = Some(gateway);
                Ok(false)
            }
            answer @ Admission::Answer(..) => {
                self.answer_at_edge(session, ctx, &snap, route, answer)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Writes a response the gateway made, and counts it.
    async fn answer_at_edge(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        snap: &Arc<Snapshot>,
        route: Option<usize>,
        answer: Admission,
    ) -> Result<()> {
        let Admission::Answer(resp, body, denial) = answer else {
            return Ok(());
        };
        let label = route
            .and_then(|r| snap.routes.get(r))
            .map_or(crate::metrics::UNMATCHED, |rt| rt.label.as_str());
        self.shared
            .metrics
            .gateway
            .with_label_values(&[label, denial.as_str()])
            .inc();
        ctx.snap = Some(snap.clone());
        ctx.route = route;
        ctx.response_started = true;
        let head = session.req_header().method == http::Method::HEAD;
        session.write_response_header(resp, false).await?;
        session
            .write_response_body(if head { None } else { Some(body) }, true)
            .await?;
        Ok(())
    }

    /// The route the request matched, in the table it was routed by.
    fn route_entry(ctx: &Ctx) -> Option<&RouteEntry> {
        ctx.snap
            .as_ref()
            .zip(ctx.route)
            .and_then(|(snap, id)| snap.table.route(id))
    }

    /// Whether `ctx`'s request is a write that only its service may take:
    /// unsafe, on a route whose `writes` its service all owns, so the
    /// monolith's copy of the tables is fenced or retired and a fallback
    /// would only be refused there.
    fn owner_only_write(session: &Session, ctx: &Ctx) -> bool {
        !session.req_header().method.is_safe()
            && Self::route_entry(ctx).is_some_and(|r| !r.writes.is_empty() && !r.writes_unowned)
    }

    /// Refuses an owner-only write with 503 (see [`Refusal::OwnerUnavailable`]).
    #[allow(
        clippy::unnecessary_box_returns,
        reason = "pingora's hooks take and return Box<Error>"
    )]
    fn refuse_owner_write(ctx: &mut Ctx) -> Box<Error> {
        if let Some(route) = Self::route_entry(ctx) {
            tracing::warn!(
                route = %route.label,
                "the service owning the route's tables is unavailable: write refused with 503, not sent to the monolith"
            );
        }
        ctx.refusal = Some(OWNER_UNAVAILABLE);
        Error::explain(HTTPStatus(503), OWNER_UNAVAILABLE.reason())
    }

    fn upstream_of(ctx: &Ctx) -> Option<&Upstream> {
        ctx.snap
            .as_ref()
            .and_then(|s| s.upstream(ctx.target))
            .map(AsRef::as_ref)
    }

    /// The header of a copy of the client's request to `up` (the service's
    /// shadow copy, or the noise copy to the monolith): marked
    /// `x-strangler-shadow: 1`, with the request's `traceparent`, the
    /// upstream's `Host` when the proxy rewrites it, and the gateway's
    /// request-header rules.
    fn copy_header(&self, session: &Session, ctx: &Ctx, up: &Upstream) -> RequestHeader {
        let mut header = session.req_header().clone();
        let _ = header.insert_header("x-strangler-shadow", "1");
        if let Some(trace) = &ctx.trace {
            let _ = header.insert_header("traceparent", trace.clone());
        }
        if self.shared.config.rewrite_host {
            let _ = header.insert_header(http::header::HOST, up.authority.clone());
        }
        if let Some(gateway) = &ctx.gateway {
            gateway.upstream_headers(&mut header);
        }
        header
    }

    /// Starts the comparison of a shadowed request with the monolith's
    /// `answer` (its body in `body`) by the route's `rules` and, for a
    /// sample of safe requests,
    /// sends the noise copy to the monolith.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &self,
        session: &Session,
        ctx: &Ctx,
        snap: &Snapshot,
        rt: &RouteRuntime,
        rules: Arc<DiffRules>,
        mut answer: Reply,
        body: &[Bytes],
        request_body: &[Bytes],
    ) -> Arc<Exchange> {
        answer.body = join(body);
        let req = session.req_header();
        let line = RequestLine {
            method: req.method.clone(),
            target: req.uri.clone(),
        };
        let monolith = snap
            .upstream(Target::Monolith)
            .filter(|up| up.peer.is_ok() && req.method.is_safe())
            .filter(|_| rt.diffs.sample_noise(rules.noise_percent));
        let permit =
            monolith.and_then(|_| self.shared.shadow_permits.clone().try_acquire_owned().ok());
        let noise = monolith.zip(permit.is_some().then_some(()));
        let exchange = Exchange::new(rt.diffs.clone(), rules, line, answer, permit);
        if let Some((up, ())) = noise
            && let Ok(peer) = &up.peer
        {
            let header = self.copy_header(session, ctx, up);
            shadow::spawn_noise(
                self.shared.clone(),
                NoiseJob {
                    peer: peer.clone(),
                    header,
                    body: request_body.to_vec(),
                    upstream: up.clone(),
                    exchange: exchange.clone(),
                },
            );
        }
        exchange
    }
}

/// The chunks of a body as one buffer.
fn join(chunks: &[Bytes]) -> Bytes {
    match chunks {
        [] => Bytes::new(),
        [one] => one.clone(),
        _ => {
            let mut out = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for chunk in chunks {
                out.extend_from_slice(chunk);
            }
            out.freeze()
        }
    }
}

/// Whether `e` is a timeout of the upstream connection (connect, read or
/// write), which the client sees as `504 Gateway Timeout`.
fn is_timeout(e: &Error) -> bool {
    matches!(e.etype(), ConnectTimedout | ReadTimedout | WriteTimedout)
}

fn is_idempotent(session: &Session) -> bool {
    session.req_header().method.is_idempotent()
}

fn can_retry(session: &Session, ctx: &Ctx) -> bool {
    !ctx.response_started
        && is_idempotent(session)
        && !session.as_downstream().retry_buffer_truncated()
        && !session.as_downstream().is_upgrade_req()
}

/// The host a request names: HTTP/2 carries it as `:authority`, which
/// pingora puts in the URI; HTTP/1 in `Host` (or in an absolute-form
/// target, which wins).
fn request_host(req: &RequestHeader) -> Option<&str> {
    req.uri
        .authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a [u8]> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
        })
}

/// The size of a request header as HTTP/1.1 sends it: the request line and
/// every `name: value` line with its CRLF.
fn header_bytes(req: &RequestHeader) -> usize {
    let line = req.method.as_str().len() + req.raw_path().len() + " HTTP/1.1\r\n".len() + 1;
    req.headers.iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    })
}

/// Whether `value` is a well-formed W3C `traceparent` (version 00).
fn valid_traceparent(value: &[u8]) -> bool {
    let hex = |s: &[u8]| s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    value.len() == 55
        && value[2] == b'-'
        && value[35] == b'-'
        && value[52] == b'-'
        && hex(&value[..2])
        && &value[..2] != b"ff"
        && hex(&value[3..35])
        && value[3..35].iter().any(|&b| b != b'0')
        && hex(&value[36..52])
        && value[36..52].iter().any(|&b| b != b'0')
        && hex(&value[53..])
}

/// A fresh `traceparent` with random trace and span ids, sampled.
fn new_traceparent() -> HeaderValue {
    let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-01";
    hex16(&mut buf[3..19], split::random());
    hex16(&mut buf[19..35], split::random());
    hex16(&mut buf[36..52], split::random() | 1);
    HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static(
        "00-00000000000000000000000000000001-0000000000000001-01",
    ))
}

/// Writes `n` as 16 lower-case hex digits into `out`.
fn hex16(out: &mut [u8], n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in out.iter_mut().take(16).enumerate() {
        *b = DIGITS[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// The client's IP as a header value, appended to an earlier
/// `X-Forwarded-For` when there is one; formatted on the stack.
fn forwarded_for(prior: Option<&HeaderValue>, ip: std::net::IpAddr) -> Option<HeaderValue> {
    use std::io::Write as _;
    let mut buf = [0u8; 48];
    let len = {
        let mut cursor = &mut buf[..];
        write!(cursor, "{ip}").ok()?;
        48 - cursor.len()
    };
    match prior {
        Some(prior) => {
            let mut v = Vec::with_capacity(prior.len() + 2 + len);
            v.extend_from_slice(prior.as_bytes());
            v.extend_from_slice(b", ");
            v.extend_from_slice(&buf[..len]);
            HeaderValue::from_maybe_shared(bytes::Bytes::from(v)).ok()
        }
        None => HeaderValue::from_bytes(&buf[..len]).ok(),
    }
}

#[async_trait]
impl ProxyHttp for StranglerProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            snap: None,
            route: None,
            target: Target::Monolith,
            fallback: None,
            service_status: None,
            response_started: false,
            body_bytes: 0,
            shadow: None,
            trace: None,
            span: None,
            refusal: None,
            started: Instant::now(),
            held: None,
            in_flight: None,
            gateway: None,
            rate: None,
            origin: None,
        }
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        // The header is in: the connection's header deadline is over.
        sniff::header_received();
        // Serve a request the client pipelined behind this one after this
        // one's answer (RFC 9112 §9.3.2); pingora's default failed this one
        // with 400 when the next arrived while it was proxied.
        session.as_downstream_mut().set_pipelining_enabled(true);
        let req = session.req_header_mut();
        let incoming = req
            .headers
            .get("traceparent")
            .filter(|v| valid_traceparent(v.as_bytes()));
        ctx.trace = Some(if self.tracer.is_some() {
            // The upstream's parent is the proxy's span.
            let span = SpanStart::new(incoming.map(HeaderValue::as_bytes));
            ctx.span = Some(span);
            span.traceparent()
        } else {
            incoming.cloned().unwrap_or_else(new_traceparent)
        });
        if let Err(refusal) = request::prepare(req) {
            // Counted and logged as an unmatched request.
            ctx.snap = Some(self.shared.snapshot());
            ctx.refusal = Some(refusal);
            return Err(Error::explain(
                HTTPStatus(refusal.status()),
                refusal.reason(),
            ));
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let req = session.req_header();
        if header_bytes(req) > self.shared.config.max_header_bytes {
            return Err(Error::explain(
                HTTPStatus(431),
                "request header larger than the limit",
            ));
        }
        let max = self.shared.config.max_body_bytes;
        if let Some(len) = req.headers.get(http::header::CONTENT_LENGTH)
            && let Ok(len) = std::str::from_utf8(len.as_bytes())
                .unwrap_or("x")
                .parse::<u64>()
            && len > max
        {
            return Err(Error::explain(
                HTTPStatus(413),
                "request body larger than the limit",
            ));
        }
        if self.gate(session, ctx).await? {
            return Ok(true);
        }
        let unsafe_method = !session.req_header().method.is_safe();
        let (snap, route) = self.route_or_hold(session, ctx, unsafe_method).await;
        let req = session.req_header();
        ctx.route = route;
        if let Some(entry) = ctx.route.and_then(|id| snap.table.route(id)) {
            let key = match &entry.sticky {
                Some(Sticky::Header(name)) => {
                    req.headers.get(name.as_str()).map(HeaderValue::as_bytes)
                }
                Some(Sticky::Cookie(name)) => cookie(req, name),
                None => None,
            };
            let key = key.map_or_else(|| SplitKey::Random(split::random()), SplitKey::Sticky);
            let decision = entry.decide(key);
            ctx.target = decision.target;
            ctx.snap = Some(snap.clone());
            if let Target::Service(s) = decision.target
                && !snap.services[s].as_ref().is_some_and(|u| u.is_available())
            {
                if Self::owner_only_write(session, ctx) {
                    return Err(Self::refuse_owner_write(ctx));
                }
                Self::fall_back(ctx, FallbackReason::Unavailable);
            }
            if let Some(s) = decision.shadow
                && let Some(rt) = ctx.route.and_then(|r| snap.routes.get(r))
            {
                if unsafe_method && !entry.shadow_writes {
                    // A write reaches a service only as a dry run it has
                    // promised; the service's copy of a table it does not
                    // own yet is, besides, the sync's to write.
                    rt.shadow.count(if entry.writes_unowned {
                        ShadowOutcome::WriteNotOwnedSkipped
                    } else {
                        ShadowOutcome::WriteSkipped
                    });
                } else {
                    let upgrade = session.as_downstream().is_upgrade_req();
                    ctx.shadow = shadow::prepare(
                        &self.shared,
                        &rt.shadow,
                        snap.services[s].as_ref(),
                        upgrade,
                    )
                    .map(|permit| ShadowCopy {
                        service: s,
                        permit,
                        chunks: Vec::new(),
                        size: 0,
                        too_large: false,
                        rules: entry.diff.on.then(|| entry.diff.clone()),
                        answer: None,
                        answer_body: Vec::new(),
                    });
                }
            }
        } else {
            ctx.snap = Some(snap);
        }
        Ok(false)
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        match Self::upstream_of(ctx).map(|u| &u.peer) {
            Some(Ok(peer)) => {
                let mut peer = Box::new(peer.clone());
                if let Some(t) = Self::route_entry(ctx).map(|r| r.timeouts) {
                    if let Some(connect) = t.connect {
                        peer.options.connection_timeout = Some(connect);
                        peer.options.total_connection_timeout = Some(connect);
                    }
                    if let Some(read) = t.read {
                        peer.options.read_timeout = Some(read);
                    }
                }
                if session.as_downstream().is_upgrade_req() {
                    // A WebSocket may stay quiet for as long as it likes.
                    peer.options.read_timeout = None;
                    peer.options.write_timeout = None;
                }
                Ok(peer)
            }
            Some(Err(reason)) => Err(Error::explain(ConnectNoRoute, reason.clone()).into_up()),
            None => Err(Error::explain(ConnectNoRoute, "no upstream").into_up()),
        }
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let downstream = session.as_downstream();
        if let Some(addr) = downstream.client_addr().and_then(|a| a.as_inet())
            && let Some(value) = forwarded_for(upstream.headers.get("x-forwarded-for"), addr.ip())
        {
            upstream.insert_header("x-forwarded-for", value)?;
        }
        let tls = downstream.digest().is_some_and(|d| d.ssl_digest.is_some());
        upstream.insert_header(
            "x-forwarded-proto",
            HeaderValue::from_static(if tls { "https" } else { "http" }),
        )?;
        let host = upstream
            .headers
            .get(http::header::HOST)
            .cloned()
            .or_else(|| {
                upstream
                    .uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            });
        if let Some(host) = host {
            upstream.insert_header("x-forwarded-host", host)?;
        }
        let trace = ctx.trace.get_or_insert_with(new_traceparent).clone();
        upstream.insert_header("traceparent", trace)?;
        if self.shared.config.rewrite_host
            && let Some(up) = Self::upstream_of(ctx)
        {
            upstream.insert_header(http::header::HOST, up.authority.clone())?;
        }
        if let Some(gateway) = &ctx.gateway {
            gateway.upstream_headers(upstream);
            if let Target::Service(_) = ctx.target {
                gateway.to_service(upstream);
            }
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > self.shared.config.max_body_bytes {
                return Err(Error::explain(
                    HTTPStatus(413),
                    "request body larger than the limit",
                ));
            }
            if let Some(copy) = &mut ctx.shadow
                && !copy.too_large
            {
                if copy.size + chunk.len() > self.shared.config.shadow.body_cap {
                    copy.too_large = true;
                    copy.chunks.clear();
                } else {
                    copy.size += chunk.len();
                    copy.chunks.push(chunk.clone());
                }
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.check_total(session, ctx)?;
        if let (Some(copy), Target::Monolith) = (&mut ctx.shadow, ctx.target)
            && let Some(rules) = &copy.rules
            && !response.status.is_informational()
        {
            copy.answer = Some(Reply {
                status: response.status.as_u16(),
                headers: response
                    .headers
                    .iter()
                    .filter(|(n, _)| rules.keeps(n))
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect(),
                ..Reply::default()
            });
            copy.answer_body.clear();
        }
        if let Target::Service(_) = ctx.target
            && let Some(up) = Self::upstream_of(ctx)
        {
            let status = response.status.as_u16();
            if status >= 500 {
                up.record_failure(&self.shared.config.health);
                if can_retry(session, ctx) {
                    ctx.service_status = Some(status);
                    let mut e = Error::explain(HTTPStatus(status), "the service answered 5xx");
                    e.as_up();
                    e.set_retry(true);
                    return Err(e);
                }
            } else if !response.status.is_informational() {
                up.record_success();
            }
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        self.check_total(session, ctx)?;
        if let Some(copy) = &mut ctx.shadow
            && let (Some(answer), Some(chunk)) = (&mut copy.answer, body.as_ref())
            && !answer.truncated
        {
            // Cheap clones of the chunks, joined once the exchange starts.
            let cap = self.shared.config.shadow.diff_body_cap;
            let have: usize = copy.answer_body.iter().map(Bytes::len).sum();
            let room = cap.saturating_sub(have);
            if chunk.len() > room {
                answer.truncated = true;
            }
            copy.answer_body.push(chunk.slice(..chunk.len().min(room)));
        }
        Ok(None)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.response_started = true;
        if session.req_header().version < http::Version::HTTP_11
            && response
                .headers
                .contains_key(http::header::TRANSFER_ENCODING)
        {
            // An HTTP/1.0 client cannot read chunked (RFC 9112 §6.1): send
            // the body as it comes and end it by closing the connection.
            response.remove_header(&http::header::TRANSFER_ENCODING);
            session.set_keepalive(None);
        }
        if self.shared.config.target_header
            && let Some(snap) = &ctx.snap
        {
            let value = match ctx.target {
                Target::Monolith => HeaderValue::from_static("monolith"),
                Target::Service(s) => snap
                    .service_names
                    .get(s)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static("service")),
            };
            response.insert_header("x-strangler-target", value)?;
        }
        if let Some(gateway) = &ctx.gateway {
            gateway.response(response, ctx.origin.as_ref());
        }
        if let Some(rate) = ctx.rate {
            rate.apply(response);
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Target::Service(_) = ctx.target {
            if let Some(up) = Self::upstream_of(ctx) {
                up.record_failure(&self.shared.config.health);
            }
            if Self::owner_only_write(session, ctx) {
                return Self::refuse_owner_write(ctx);
            }
            Self::fall_back(ctx, FallbackReason::ConnectFailed);
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let upstream_side = *e.esource() == ErrorSource::Upstream;
        match ctx.target {
            Target::Service(_) if upstream_side => {
                let stale_pooled = client_reused
                    && matches!(e.retry, RetryType::ReusedOnly)
                    && ctx.service_status.is_none();
                if stale_pooled && can_retry(session, ctx) {
                    // A kept-alive connection the service had closed: try the
                    // service again on a fresh one, as pingora does.
                    e.set_retry(true);
                } else if can_retry(session, ctx) {
                    let reason = if ctx.service_status.is_some() {
                        FallbackReason::ServiceError
                    } else {
                        if let Some(up) = Self::upstream_of(ctx) {
                            up.record_failure(&self.shared.config.health);
                        }
                        if is_timeout(&e) {
                            FallbackReason::Timeout
                        } else {
                            FallbackReason::Reset
                        }
                    };
                    Self::fall_back(ctx, reason);
                    e.set_retry(true);
                } else {
                    if ctx.service_status.is_none()
                        && let Some(up) = Self::upstream_of(ctx)
                    {
                        up.record_failure(&self.shared.config.health);
                    }
                    e.set_retry(false);
                }
            }
            _ => {
                if can_retry(session, ctx) {
                    e.retry.decide_reuse(client_reused);
                } else {
                    e.set_retry(false);
                }
            }
        }
        e
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, error: &Error) -> bool {
        // A client that hangs up mid-request is not the proxy's error, nor
        // is a request refused before routing (the access log has it).
        ctx.refusal.is_some()
            || *error.esource() == ErrorSource::Downstream
                && matches!(error.etype(), ConnectionClosed | ReadError | WriteError)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            HTTPStatus(code) => *code,
            _ => match e.esource() {
                ErrorSource::Upstream if is_timeout(e) => 504,
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    WriteError | ReadError | ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if code > 0 && !ctx.response_started {
            let who = match (ctx.target, &ctx.snap) {
                (Target::Service(s), Some(snap)) => snap
                    .table
                    .services()
                    .get(s)
                    .map_or("a service".to_owned(), |s| format!("service `{}`", s.name)),
                (_, Some(snap)) => format!("the monolith at {}", snap.monolith.url),
                _ => "the upstream".to_owned(),
            };
            let id = request_id(ctx.trace.as_ref());
            let body = error_page(code, ctx.refusal, id);
            if code >= 500 && ctx.refusal.is_none() {
                // The detail (addresses, what the upstream sent) goes to the
                // log only; the client gets the fixed page.
                tracing::warn!(request = id, status = code, "{who}: {e}");
            }
            if let Some(Refusal::OwnerUnavailable(_)) = ctx.refusal
                && let Ok(mut resp) = ResponseHeader::build(code, Some(4))
            {
                let _ = resp.insert_header("content-type", "text/plain; charset=utf-8");
                let _ = resp.insert_header("content-length", body.len());
                let _ = resp.insert_header("retry-after", OWNER_RETRY_AFTER_SECS);
                let _ = session.write_response_header(Box::new(resp), false).await;
                let _ = session.write_response_body(Some(body), true).await;
            } else {
                let _ = session.respond_error_with_body(code, body).await;
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let Some(snap) = ctx.snap.take() else {
            return;
        };
        let status = session
            .as_downstream()
            .response_written()
            .map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        // The request is over: a fence being set no longer waits for it.
        ctx.in_flight = None;
        let runtime = ctx.route.and_then(|r| snap.routes.get(r));
        let counters = match (runtime, ctx.target) {
            (Some(rt), Target::Service(_)) => &rt.service,
            (Some(rt), Target::Monolith) => &rt.monolith,
            (None, _) => &snap.unmatched,
        };
        counters.requests.inc();
        counters.latency.observe(elapsed.as_secs_f64());
        if status >= 500 || status == 0 || e.is_some() {
            counters.errors.inc();
        }
        if let Some(log) = &self.shared.access_log {
            log.write(access_line(session, ctx, &snap, status, elapsed, e));
        }
        if let (Some(tracer), Some(start)) = (&self.tracer, ctx.span.take()) {
            tracer.submit(finished_span(session, ctx, &snap, start, status));
        }
        if let Some(copy) = ctx.shadow.take()
            && let Some(rt) = runtime
        {
            if copy.too_large {
                rt.shadow.count(ShadowOutcome::BodyTooLarge);
            } else if let Some(up) = snap.upstream(Target::Service(copy.service))
                && let Ok(peer) = &up.peer
            {
                let mut header = self.copy_header(session, ctx, up);
                if let Some(gateway) = &ctx.gateway {
                    gateway.to_service(&mut header);
                }
                let exchange = copy.answer.zip(copy.rules).map(|(answer, rules)| {
                    self.exchange(
                        session,
                        ctx,
                        &snap,
                        rt,
                        rules,
                        answer,
                        &copy.answer_body,
                        &copy.chunks,
                    )
                });
                shadow::spawn(
                    self.shared.clone(),
                    ShadowJob {
                        metrics: rt.shadow.clone(),
                        peer: peer.clone(),
                        header,
                        body: copy.chunks,
                        primary_status: status,
                        primary_latency: elapsed,
                        upstream: up.clone(),
                        permit: copy.permit,
                        exchange,
                    },
                );
            }
        }
    }
}

/// The trace id of a `traceparent` (valid: [`valid_traceparent`] or
/// [`new_traceparent`]) as the request id, `-` without one.
fn request_id(trace: Option<&HeaderValue>) -> &str {
    trace
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.get(3..35))
        .unwrap_or("-")
}

/// The body of an error answer: a short fixed text by status, the reason a
/// request was refused before routing (also fixed), and the request id;
/// never an address or anything an upstream sent.
fn error_page(code: u16, refusal: Option<Refusal>, id: &str) -> Bytes {
    let what = match code {
        400 => "bad request",
        413 => "request body too large",
        431 => "request header fields too large",
        501 => "not implemented",
        503 => "service unavailable",
        502 => "bad gateway",
        504 => "gateway timeout",
        _ if code >= 500 => "internal error",
        _ => "request refused",
    };
    Bytes::from(match refusal {
        Some(r) => format!("strangler: {what}: {} (request {id})\n", r.reason()),
        None => format!("strangler: {what} (request {id})\n"),
    })
}

/// The request's span, answered with `status`.
fn finished_span(
    session: &Session,
    ctx: &Ctx,
    snap: &Snapshot,
    start: SpanStart,
    status: u16,
) -> FinishedSpan {
    let req = session.req_header();
    let route = ctx.route.and_then(|r| snap.table.route(r));
    let host = request_host(req);
    let target = match ctx.target {
        Target::Monolith => "monolith",
        Target::Service(s) => snap
            .table
            .services()
            .get(s)
            .map_or("service", |s| s.name.as_str()),
    };
    FinishedSpan {
        start,
        end: std::time::SystemTime::now(),
        method: req.method.clone(),
        path: req.uri.path().to_owned(),
        route: route.map(|r| r.path.as_str().to_owned()),
        host: host.map(str::to_owned),
        target: target.to_owned(),
        stage: route.map(|r| r.stage.as_str()),
        status,
    }
}

fn access_line(
    session: &Session,
    ctx: &Ctx,
    snap: &Snapshot,
    status: u16,
    elapsed: std::time::Duration,
    e: Option<&Error>,
) -> String {
    let req = session.req_header();
    let route = ctx.route.and_then(|r| snap.table.route(r));
    let target = match ctx.target {
        Target::Monolith => "monolith",
        Target::Service(s) => snap
            .table
            .services()
            .get(s)
            .map_or("service", |s| s.name.as_str()),
    };
    let line = serde_json::json!({
        "ts_ms": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        "client": session.as_downstream().client_addr().map(ToString::to_string),
        "method": req.method.as_str(),
        "path": req.uri.path(),
        "status": status,
        "route": route.map(|r| r.path.as_str()),
        "stage": route.map(|r| r.stage.as_str()),
        "target": target,
        "fallback": ctx.fallback.map(FallbackReason::as_str),
        "duration_ms": elapsed.as_secs_f64() * 1e3,
        "held_ms": ctx.held.map(|h| h.as_secs_f64() * 1e3),
        "bytes_sent": session.as_downstream().body_bytes_sent(),
        "traceparent": ctx.trace.as_ref().and_then(|t| t.to_str().ok()),
        "error": e.map(ToString::to_string),
    });
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_checked_and_made() {
        assert!(valid_traceparent(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent(
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent(
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent(b"garbage"));
        let made = new_traceparent();
        assert!(valid_traceparent(made.as_bytes()), "{made:?}");
        assert_ne!(made, new_traceparent());
        let mut hex = [0u8; 16];
        hex16(&mut hex, 0x0123_4567_89ab_cdef);
        assert_eq!(&hex, b"0123456789abcdef");
    }

    #[test]
    fn error_pages_are_fixed_texts_with_the_request_id() {
        let trace =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let id = request_id(Some(&trace));
        assert_eq!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(request_id(None), "-");
        assert_eq!(
            error_page(502, None, id),
            "strangler: bad gateway (request 4bf92f3577b34da6a3ce929d0e0e4736)\n"
        );
        assert_eq!(
            error_page(504, None, "-"),
            "strangler: gateway timeout (request -)\n"
        );
        assert_eq!(
            error_page(400, Some(Refusal::BadRequest("invalid Host")), "-"),
            "strangler: bad request: invalid Host (request -)\n"
        );
        assert_eq!(
            error_page(501, Some(Refusal::NotImplemented("gzip")), "-"),
            "strangler: not implemented: gzip (request -)\n"
        );
        assert_eq!(
            error_page(500, None, "-"),
            "strangler: internal error (request -)\n"
        );
        assert_eq!(
            error_page(503, Some(OWNER_UNAVAILABLE), "-"),
            "strangler: service unavailable: the service that owns the tables this request writes is unavailable; retry later (request -)\n"
        );
    }

    #[test]
    fn forwarded_for_appends() {
        let ip = std::net::IpAddr::from([10, 0, 0, 7]);
        assert_eq!(forwarded_for(None, ip).unwrap(), "10.0.0.7");
        let prior = HeaderValue::from_static("1.2.3.4");
        assert_eq!(
            forwarded_for(Some(&prior), ip).unwrap(),
            "1.2.3.4, 10.0.0.7"
        );
        let v6 = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        assert_eq!(
            forwarded_for(None, v6).unwrap(),
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
        );
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut req = RequestHeader::build("GET", b"/", None).expect("valid request");
        req.append_header("cookie", "a=1; session=abc ; b=2")
            .expect("valid header");
        req.append_header("cookie", "late=z").expect("valid header");
        assert_eq!(cookie(&req, "session"), Some(&b"abc"[..]));
        assert_eq!(cookie(&req, "late"), Some(&b"z"[..]));
        assert_eq!(cookie(&req, "sess"), None);
    }
}
