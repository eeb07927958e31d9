//! The admin API, served on its own address (localhost by default):
//!
//! - `GET /healthz`: the proxy is up; the live generation.
//! - `GET /routes`: the live table with stages, upstream health and counters.
//! - `POST /routes/stage` with `{"service", "route", "stage", "percent"?,
//!   "methods"?, "host"?, "headers"?}`: changes a stage, writes the plan
//!   back atomically (comments kept) and swaps the table. 404 for an unknown
//!   service or route, 400 for an unknown stage, a forbidden move or an
//!   invalid result, 409 when several routes fit (the message lists them)
//!   or the file cannot be written.
//! - `POST /reload`: re-reads the plan; 400 with the problems if invalid.
//! - `POST /fence` with `{"name", "tables", "hold_ms"}`: holds the unsafe
//!   requests on the routes that write those tables and answers once the
//!   ones already in flight have finished (504, and the fence lifted, when
//!   they do not within `hold_ms`); see [`crate::fence`].
//! - `POST /fence/release` with `{"name", "reload"?}`: re-reads the plan
//!   when `reload` is true (400 and nothing released if it is invalid),
//!   then lets the held requests go on by the plan in force.
//! - `GET /fences`: the fences up, their tables, routes, held requests, age.
//! - `GET /metrics`: Prometheus text format (the default registry).
//!
//! Every request passes the `guard` first: `Host` and `Origin` name the
//! admin API itself, and the bearer token, when set, is on every path but
//! `/healthz`; the writes also need `Content-Type: application/json`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora_prometheus::PrometheusHttpApp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::fence::{self, Fence, NotDrained};
use crate::guard::{Guard, Refusal, json_only};
use crate::metrics::FallbackReason;
use crate::state::{ReloadOutcome, Shared, StageChange, StageError};
use crate::table::Target;

/// Largest admin request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// The admin HTTP application.
pub struct AdminApp {
    shared: Arc<Shared>,
    guard: Guard,
}

impl AdminApp {
    /// The admin API over `shared`, behind `guard`.
    #[must_use]
    pub fn new(shared: Arc<Shared>, guard: Guard) -> Self {
        Self { shared, guard }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_owned();
        let write = method == Method::POST
            && matches!(
                path.as_str(),
                "/routes/stage" | "/reload" | "/fence" | "/fence/release"
            );
        let checked = self.guard.check(req, path == "/healthz").and_then(|()| {
            if write {
                json_only(&req.headers)
            } else {
                Ok(())
            }
        });
        if let Err(refusal) = checked {
            tracing::debug!(%method, path, status = refusal.status.as_u16(), "admin request refused: {}", refusal.message);
            return refused(refusal);
        }
        match (method, path.as_str()) {
            (Method::GET, "/healthz") => json_response(
                StatusCode::OK,
                &json!({"status": "ok", "generation": self.shared.snapshot().generation}),
            ),
            (Method::GET, "/routes") => json_response(StatusCode::OK, &routes(&self.shared)),
            (Method::GET, "/metrics") => PrometheusHttpApp.response(session).await,
            (Method::POST, "/reload") => reload(&self.shared),
            (Method::POST, "/routes/stage") => match read_body(session).await {
                Ok(body) => set_stage(&self.shared, &body),
                Err(response) => response,
            },
            (Method::POST, "/fence") => match read_body(session).await {
                Ok(body) => set_fence(&self.shared, &body).await,
                Err(response) => response,
            },
            (Method::POST, "/fence/release") => match read_body(session).await {
                Ok(body) => release_fence(&self.shared, &body),
                Err(response) => response,
            },
            (Method::GET, "/fences") => json_response(StatusCode::OK, &fences(&self.shared)),
            (Method::GET, "/diffs") => diffs(&self.shared, session.req_header().uri.query()),
            (
                _,
                "/healthz" | "/routes" | "/metrics" | "/reload" | "/routes/stage" | "/fence"
                | "/fence/release" | "/fences" | "/diffs",
            ) => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
            _ => error(
                StatusCode::NOT_FOUND,
                "not found; try GET /routes, POST /routes/stage, POST /reload, POST /fence, POST /fence/release, GET /fences, GET /diffs, GET /healthz or GET /metrics",
            ),
        }
    }
}

async fn read_body(session: &mut ServerSession) -> Result<Vec<u8>, Response<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
                }
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(error(StatusCode::BAD_REQUEST, &e.to_string())),
        }
    }
}

fn reload(shared: &Shared) -> Response<Vec<u8>> {
    match shared.reload() {
        Ok(ReloadOutcome::Applied { generation }) => json_response(
            StatusCode::OK,
            &json!({"reloaded": true, "generation": generation}),
        ),
        Ok(ReloadOutcome::Unchanged { generation }) => json_response(
            StatusCode::OK,
            &json!({"reloaded": false, "generation": generation, "reason": "the plan did not change"}),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn set_stage(shared: &Shared, body: &[u8]) -> Response<Vec<u8>> {
    let change: StageChange = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "invalid body: {e}; expected {{\"service\": \"catalog\", \"route\": \"/api/products/{{id}}\", \"stage\": \"canary\", \"percent\": 10}}"
                ),
            );
        }
    };
    match shared.set_stage(&change) {
        Ok(id) => {
            let all = routes(shared);
            let route = all["routes"].get(id).cloned().unwrap_or(Value::Null);
            json_response(StatusCode::OK, &json!({"saved": true, "route": route}))
        }
        Err(e @ StageError::NotFound(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ StageError::Invalid(_)) => error(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e @ (StageError::Io(_) | StageError::Ambiguous(_))) => {
            error(StatusCode::CONFLICT, &e.to_string())
        }
    }
}

/// The live table as JSON.
fn routes(shared: &Shared) -> Value {
    let snap = shared.snapshot();
    let upstream = |target: Target| {
        snap.upstream(target).map(|u| {
            json!({
                "url": u.url,
                "available": u.is_available(),
                "down": u.is_down(),
                "ejected": u.is_ejected(),
                "error": u.peer.as_ref().err(),
            })
        })
    };
    let routes: Vec<Value> = snap
        .table
        .routes()
        .iter()
        .zip(&snap.routes)
        .map(|(r, rt)| {
            let fallbacks: serde_json::Map<String, Value> = FallbackReason::ALL
                .iter()
                .zip(&rt.fallbacks)
                .map(|(reason, c)| (reason.as_str().to_owned(), json!(c.get())))
                .collect();
            json!({
                "service": snap.table.services()[r.service].name,
                "path": r.path.as_str(),
                "methods": r.methods,
                "host": r.host,
                "headers": r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or_default())))
                    .collect::<serde_json::Map<String, Value>>(),
                "label": rt.label,
                "stage": r.stage.as_str(),
                "percent": (r.stage == strangler_plan::RouteStage::Canary).then_some(r.percent),
                "sticky": r.sticky.as_ref().map(ToString::to_string),
                "upstream": upstream(Target::Service(r.service)),
                "requests": {"service": rt.service.requests.get(), "monolith": rt.monolith.requests.get()},
                "errors": {"service": rt.service.errors.get(), "monolith": rt.monolith.errors.get()},
                "fallbacks": fallbacks,
                "writes": r.writes,
                "shadow_writes": r.shadow_writes,
                "diff": rt.diffs.summary(),
                "slo": shared.slo.route_status(&rt.label),
            })
        })
        .collect();
    json!({
        "plan": shared.config.plan.display().to_string(),
        "generation": snap.generation,
        "monolith": upstream(Target::Monolith),
        "unmatched_requests": snap.unmatched.requests.get(),
        "slo": shared.slo.summary(),
        "routes": routes,
    })
}

/// `GET /diffs[?route=LABEL]`: the recent differing shadow pairs of the
/// route with that label (as `GET /routes` and the metrics name it), or of
/// every route.
fn diffs(shared: &Shared, query: Option<&str>) -> Response<Vec<u8>> {
    let wanted = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "route")
            .map(|(_, v)| v.into_owned())
    });
    let snap = shared.snapshot();
    let routes: Vec<Value> = snap
        .routes
        .iter()
        .filter(|rt| wanted.as_deref().is_none_or(|w| w == rt.label))
        .map(|rt| json!({"route": rt.label, "pairs": rt.diffs.recent()}))
        .collect();
    if let Some(wanted) = &wanted
        && routes.is_empty()
    {
        let labels: Vec<&str> = snap.routes.iter().map(|rt| rt.label.as_str()).collect();
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "no route is labelled `{wanted}`; the labels are: {}",
                labels.join(", ")
            ),
        );
    }
    json_response(StatusCode::OK, &json!({"routes": routes}))
}

/// The body of `POST /fence`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FenceRequest {
    name: String,
    tables: Vec<String>,
    hold_ms: u64,
}

/// The body of `POST /fence/release`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseRequest {
    name: String,
    #[serde(default)]
    reload: bool,
}

const FENCE_SHAPE: &str =
    r#"{"name": "cutover:catalog", "tables": ["orders", "order_items"], "hold_ms": 30000}"#;
const RELEASE_SHAPE: &str = r#"{"name": "cutover:catalog", "reload": true}"#;

/// `POST /fence`: sets the fence, waits for the drain, answers with the
/// routes it holds.
async fn set_fence(shared: &Arc<Shared>, body: &[u8]) -> Response<Vec<u8>> {
    let bad = |why: &str| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("invalid body: {why}; expected {FENCE_SHAPE}"),
        )
    };
    let request: FenceRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad(&e.to_string()),
    };
    if !fence::valid_name(&request.name) {
        return bad(&format!(
            "\"name\" must be 1 to {} printable characters",
            fence::MAX_NAME_CHARS
        ));
    }
    if !(1..=fence::MAX_HOLD_MS).contains(&request.hold_ms) {
        return bad(&format!("\"hold_ms\" must be 1 to {}", fence::MAX_HOLD_MS));
    }
    let tables = request.tables.into_iter().collect();
    let fence = shared.fences.set(
        &request.name,
        tables,
        Duration::from_millis(request.hold_ms),
    );
    spawn_expiry(shared, &fence);
    let routes = fenced_routes(shared, &fence);
    tracing::info!(
        fence = %fence.name,
        tables = ?fence.tables,
        hold_ms = request.hold_ms,
        "write fence set; waiting for the writes in flight"
    );
    match shared.fences.drain(&fence).await {
        Ok(drained) => json_response(
            StatusCode::OK,
            &json!({"name": fence.name, "routes": routes, "drained_in_flight": drained}),
        ),
        Err(NotDrained {
            in_flight,
            released,
        }) => {
            tracing::warn!(
                fence = %fence.name,
                in_flight,
                released,
                "write fence lifted: the writes in flight did not finish within hold_ms"
            );
            json_response(
                StatusCode::GATEWAY_TIMEOUT,
                &json!({
                    "error": format!(
                        "{in_flight} requests in flight on the fenced routes did not finish within hold_ms ({} ms); the fence is lifted and the {released} requests it held went on",
                        request.hold_ms
                    ),
                    "name": fence.name,
                    "in_flight": in_flight,
                    "released": released,
                }),
            )
        }
    }
}

/// Lifts `fence` when its `hold_ms` is up, if it is still in force then.
fn spawn_expiry(shared: &Arc<Shared>, fence: &Arc<Fence>) {
    let deadline = tokio::time::Instant::from(fence.deadline);
    // The fence set is what holds on to a fence, and the proxy to its
    // state: the task keeps neither alive until the deadline.
    let weak = Arc::downgrade(fence);
    let shared = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        if let (Some(fence), Some(shared)) = (weak.upgrade(), shared.upgrade()) {
            shared.fences.expire(&fence);
        }
    });
}

/// The routes of the live table that write one of the fence's tables.
fn fenced_routes(shared: &Shared, fence: &Fence) -> Vec<Value> {
    let snap = shared.snapshot();
    snap.table
        .routes()
        .iter()
        .filter(|r| r.writes.iter().any(|t| fence.tables.contains(t)))
        .map(|r| {
            json!({
                "service": snap.table.services()[r.service].name,
                "route": r.path.as_str(),
                "methods": r.methods,
            })
        })
        .collect()
}

/// `POST /fence/release`: reloads when asked, then lets the held go on.
fn release_fence(shared: &Shared, body: &[u8]) -> Response<Vec<u8>> {
    let request: ReleaseRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid body: {e}; expected {RELEASE_SHAPE}"),
            );
        }
    };
    if !fence::valid_name(&request.name) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "invalid body: \"name\" must be 1 to {} printable characters; expected {RELEASE_SHAPE}",
                fence::MAX_NAME_CHARS
            ),
        );
    }
    if request.reload {
        match shared.reload() {
            Ok(outcome) => {
                tracing::info!(?outcome, "plan re-read before the fence release");
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "the plan did not reload, so fence `{}` still holds; fix the plan or release with \"reload\": false: {e}",
                        request.name
                    ),
                );
            }
        }
    }
    let released = shared.fences.release(&request.name);
    tracing::info!(
        fence = %request.name,
        released = released.released,
        longest_held_ms = released.longest_held_ms,
        "write fence released"
    );
    json_response(
        StatusCode::OK,
        &json!({
            "name": request.name,
            "released": released.released,
            "longest_held_ms": released.longest_held_ms,
        }),
    )
}

/// `GET /fences`.
fn fences(shared: &Shared) -> Value {
    let now = Instant::now();
    let fences: Vec<Value> = shared
        .fences
        .list()
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "tables": f.tables,
                "routes": fenced_routes(shared, f),
                "held": f.held(),
                "age_ms": fence::millis(now.saturating_duration_since(f.set_at)),
                "lifts_in_ms": fence::millis(f.deadline.saturating_duration_since(now)),
            })
        })
        .collect();
    json!({"fences": fences})
}

fn json_response(status: StatusCode, body: &Value) -> Response<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(body).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(bytes);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let len = response.body().len();
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    response
}

fn error(status: StatusCode, message: &str) -> Response<Vec<u8>> {
    json_response(status, &json!({"error": message}))
}

fn refused(refusal: Refusal) -> Response<Vec<u8>> {
    let mut response = error(refusal.status, refusal.message);
    let headers = response.headers_mut();
    if let Some(challenge) = refusal.challenge {
        headers.insert(http::header::WWW_AUTHENTICATE, challenge);
    }
    if refusal.status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
    }
    response
}
