//! Gateway duties on a route's requests, compiled from the plan's gateway
//! rules ([`strangler_plan::Gateway`]) when a snapshot is built: CORS
//! preflights answered at the edge, rate limits (`governor` token buckets),
//! JWT verification (`jsonwebtoken`) with required scopes and claims,
//! verified claims forwarded as headers, and path and header transforms.
//!
//! A request is admitted in this order, each step answering at the edge
//! when it fails, so nothing reaches an upstream: a CORS preflight (204),
//! a rate limit keyed by IP or header (429, before the token is verified,
//! so floods cost no signature checks), the token (401), the required
//! scopes and claims (403), a rate limit keyed by a claim (429). Headers
//! named by `forward_claims` are removed from every request first, so a
//! client can never pose as a verified user.
//!
//! Keys come from files read when the snapshot is built (a file that
//! cannot be read fails the reload, naming the route and the file) or from
//! a JWKS URL fetched by the control loop and kept across reloads: an
//! outage of the key server keeps the last keys fetched. Rate-limit state
//! is kept across reloads too, as long as the route's limit is unchanged.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderName, HeaderValue};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use serde_json::{Map, Value};
use strangler_plan::{Gateway, Jwt, Method, Plan, RateKey, Require};

use crate::config::PeerTimeouts;
use crate::upstream::Upstream;

/// A rate limiter with a bucket per client key.
type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The longest client key a limit counts by; longer header values are cut,
/// so a client cannot grow the limiter's memory with huge keys.
const MAX_KEY_BYTES: usize = 256;

/// How often a JWKS URL is fetched again; a failed fetch is retried after
/// [`JWKS_RETRY`].
const JWKS_REFRESH: Duration = Duration::from_secs(300);
/// How soon a failed JWKS fetch is tried again.
const JWKS_RETRY: Duration = Duration::from_secs(5);
/// How soon after the last fetch a token whose `kid` the keys lack (a
/// rotation) fetches them again: at most once a second, whatever tokens
/// arrive.
const JWKS_UNKNOWN_KID: Duration = Duration::from_secs(1);
/// The longest a JWKS fetch may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest JWKS document read.
const JWKS_MAX_BYTES: usize = 1 << 20;

/// Per-process state that outlives a snapshot: rate-limit buckets and the
/// keys fetched from JWKS URLs.
#[derive(Default)]
pub struct GatewayCache {
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
    jwks: Mutex<HashMap<String, Arc<JwksSource>>>,
}

/// The gateway rules of every route of a snapshot, parallel to its table's
/// routes, and those of `[gateway]` for requests no route matched.
#[derive(Default)]
pub struct Gateways {
    /// Per route; `None` where no rule applies.
    pub routes: Vec<Option<Arc<RouteGateway>>>,
    /// `[gateway]`'s rules, for requests no route matched.
    pub unmatched: Option<Arc<RouteGateway>>,
    /// Whether any rule applies at all, so a plan without gateway keys
    /// costs a request one branch.
    pub any: bool,
}

impl std::fmt::Debug for Gateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateways")
            .field(
                "routes",
                &self.routes.iter().filter(|r| r.is_some()).count(),
            )
            .finish_non_exhaustive()
    }
}

/// One route's compiled rules.
pub struct RouteGateway {
    jwt: Option<JwtCheck>,
    require: Option<Require>,
    /// Claim → header; the headers are also removed from every request.
    forward: Vec<(String, HeaderName)>,
    limit: Option<RateRule>,
    strip_prefix: Option<String>,
    add_prefix: Option<String>,
    request_headers: HeaderOps,
    response_headers: HeaderOps,
    cors: Option<CorsRule>,
}

struct RateRule {
    limiter: Arc<Limiter>,
    key: RateKey,
    per_second: u32,
}

#[derive(Default)]
struct HeaderOps {
    set: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

struct CorsRule {
    any_origin: bool,
    origins: Vec<String>,
    methods: HeaderValue,
    headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
}

struct JwtCheck {
    keys: KeySource,
    /// Accepted algorithms with their prepared validation.
    validations: Vec<(Algorithm, Validation)>,
    cookie: Option<String>,
}

enum KeySource {
    Fixed(Arc<KeySet>),
    Remote(Arc<JwksSource>),
}

/// Verification keys, each with its `kid` and the algorithms it verifies.
#[derive(Default)]
struct KeySet {
    keys: Vec<(Option<String>, DecodingKey, Vec<Algorithm>)>,
}

/// A JWKS URL and the last keys fetched from it.
pub struct JwksSource {
    url: String,
    keys: ArcSwap<KeySet>,
    state: Mutex<FetchState>,
    fetching: AtomicBool,
    /// A token named a `kid` the keys lack: fetch again soon.
    wanted: AtomicBool,
}

#[derive(Default)]
struct FetchState {
    last_ok: Option<Instant>,
    last_try: Option<Instant>,
}

/// What the gateway decided about a request.
pub enum Admission {
    /// Go on; rate-limit headers to add to the response, if a limit applies.
    Pass(Option<RateHeaders>),
    /// Answer at the edge with this response.
    Answer(Box<ResponseHeader>, Bytes, Denial),
}

/// Why a request was answered at the edge, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// A CORS preflight answered (not a failure).
    Preflight,
    /// 401: no valid token.
    Unauthenticated,
    /// 403: a required scope or claim is missing, or a CORS origin is not
    /// allowed.
    Forbidden,
    /// 429: over the rate limit.
    RateLimited,
}

impl Denial {
    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::Preflight => "cors_preflight",
            Denial::Unauthenticated => "unauthenticated",
            Denial::Forbidden => "forbidden",
            Denial::RateLimited => "rate_limited",
        }
    }
}

/// The `RateLimit-*` headers of an admitted request.
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders {
    limit: u32,
    remaining: u32,
}

impl GatewayCache {
    /// Compiles the rules of every route of `plan`, reading key files
    /// relative to `plan_dir`. `routes` lists, parallel to the route table,
    /// each route's service and index within it.
    pub fn compile(
        &self,
        plan: &Plan,
        plan_dir: &Path,
        routes: &[(usize, usize)],
    ) -> Result<Gateways, String> {
        let mut live_limiters = Vec::new();
        let mut live_jwks = Vec::new();
        let mut out = Vec::with_capacity(routes.len());
        for &(s, r) in routes {
            let (Some(service), Some(route)) = (
                plan.services.get(s),
                plan.services.get(s).and_then(|svc| svc.routes.get(r)),
            ) else {
                out.push(None);
                continue;
            };
            let rules = plan.gateway_for(service, route);
            if rules.is_empty() {
                out.push(None);
                continue;
            }
            let what = format!(
                "route {} {} of service `{}`",
                route.methods_label(),
                route.path,
                service.name
            );
            let key = format!(
                "{}/{} {} {}",
                service.name,
                route.methods_label(),
                route.path,
                route.conditions_label()
            );
            let compiled = self.route(
                &rules,
                route.methods.as_deref(),
                plan_dir,
                &what,
                &key,
                &mut live_limiters,
                &mut live_jwks,
            )?;
            out.push(Some(Arc::new(compiled)));
        }
        let unmatched = if plan.gateway.is_empty() {
            None
        } else {
            Some(Arc::new(self.route(
                &plan.gateway,
                None,
                plan_dir,
                "[gateway]",
                "(unmatched)",
                &mut live_limiters,
                &mut live_jwks,
            )?))
        };
        lock(&self.limiters).retain(|k, _| live_limiters.contains(k));
        lock(&self.jwks).retain(|k, _| live_jwks.contains(k));
        Ok(Gateways {
            any: unmatched.is_some() || out.iter().any(Option::is_some),
            routes: out,
            unmatched,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        rules: &Gateway,
        methods: Option<&[Method]>,
        plan_dir: &Path,
        what: &str,
        key: &str,
        live_limiters: &mut Vec<String>,
        live_jwks: &mut Vec<String>,
    ) -> Result<RouteGateway, String> {
        let jwt = match rules.jwt() {
            Some(jwt) => Some(self.jwt(jwt, plan_dir, what, live_jwks)?),
            None => None,
        };
        let limit = match &rules.rate_limit {
            Some(limit) => {
                let per_second = NonZeroU32::new(limit.per_second)
                    .ok_or_else(|| format!("the rate limit of {what} is 0 per second"))?;
                let burst = limit.burst.and_then(NonZeroU32::new).unwrap_or(per_second);
                let id = format!("{key} {}/{}/{:?}", per_second, burst, limit.key);
                let limiter = lock(&self.limiters)
                    .entry(id.clone())
                    .or_insert_with(|| {
                        Arc::new(
                            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
                                .with_middleware::<StateInformationMiddleware>(),
                        )
                    })
                    .clone();
                live_limiters.push(id);
                Some(RateRule {
                    limiter,
                    key: limit.key.clone().unwrap_or(RateKey::Ip),
                    per_second: per_second.get(),
                })
            }
            None => None,
        };
        let forward = rules
            .forward_claims
            .iter()
            .map(|(claim, header)| {
                HeaderName::from_bytes(header.to_ascii_lowercase().as_bytes())
                    .map(|h| (claim.clone(), h))
                    .map_err(|_| format!("`{header}` of {what} is not a header name"))
            })
            .collect::<Result<_, _>>()?;
        let cors = rules
            .cors
            .as_ref()
            .map(|cors| {
                let listed: Vec<&str> = if cors.methods.is_empty() {
                    methods.map_or_else(
                        || vec!["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                        |m| m.iter().map(|m| m.as_str()).collect(),
                    )
                } else {
                    cors.methods.iter().map(|m| m.as_str()).collect()
                };
                Ok::<_, String>(CorsRule {
                    any_origin: cors.origins.iter().any(|o| o == "*"),
                    origins: cors
                        .origins
                        .iter()
                        .map(|o| o.to_ascii_lowercase())
                        .collect(),
                    methods: value(&listed.join(", "), what)?,
                    headers: if cors.headers.is_empty() {
                        None
                    } else {
                        Some(value(&cors.headers.join(", "), what)?)
                    },
                    max_age: cors.max_age.map(HeaderValue::from),
                    credentials: cors.credentials,
                })
            })
            .transpose()?;
        Ok(RouteGateway {
            jwt,
            require: rules.require.clone(),
            forward,
            limit,
            strip_prefix: rules.strip_prefix.clone(),
            add_prefix: rules.add_prefix.clone(),
            request_headers: header_ops(rules.request_headers.as_ref(), what)?,
            response_headers: header_ops(rules.response_headers.as_ref(), what)?,
            cors,
        })
    }

    fn jwt(
        &self,
        jwt: &Jwt,
        plan_dir: &Path,
        what: &str,
        live_jwks: &mut Vec<String>,
    ) -> Result<JwtCheck, String> {
        let read = |file: &str| {
            let path = plan_dir.join(file);
            std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot read the JWT key file {} of {what}: {e}; create it or fix the path (relative to the plan)",
                    path.display()
                )
            })
        };
        let keys = if let Some(file) = &jwt.secret_file {
            let mut secret = read(file)?;
            // A file written by `echo` ends with a newline no one meant.
            if secret.last() == Some(&b'\n') {
                secret.pop();
                if secret.last() == Some(&b'\r') {
                    secret.pop();
                }
            }
            if secret.is_empty() {
                return Err(format!("the JWT secret file {file} of {what} is empty"));
            }
            let key = DecodingKey::from_secret(&secret)
                .map_err(|e| format!("the JWT secret of {what} is not usable: {e}"))?;
            KeySource::Fixed(Arc::new(KeySet {
                keys: vec![(None, key, family_algorithms(AlgorithmFamily::Hmac))],
            }))
        } else if let Some(file) = &jwt.keys {
            let bytes = read(file)?;
            KeySource::Fixed(Arc::new(key_file(&bytes).map_err(|e| {
                format!("the JWT key file {file} of {what} is not a JWKS or a PEM public key: {e}")
            })?))
        } else if let Some(url) = &jwt.jwks_url {
            let source = lock(&self.jwks)
                .entry(url.clone())
                .or_insert_with(|| Arc::new(JwksSource::new(url)))
                .clone();
            live_jwks.push(url.clone());
            KeySource::Remote(source)
        } else {
            return Err(format!("the JWT settings of {what} name no keys"));
        };
        let algorithms: Vec<Algorithm> = if jwt.algorithms.is_empty() {
            ALL_ALGORITHMS.to_vec()
        } else {
            jwt.algorithms
                .iter()
                .map(|a| {
                    a.parse::<Algorithm>()
                        .map_err(|_| format!("JWT algorithm `{a}` of {what} is not supported"))
                })
                .collect::<Result<_, _>>()?
        };
        let validations = algorithms
            .into_iter()
            .map(|alg| {
                let mut v = Validation::new(alg);
                v.leeway = jwt.leeway.unwrap_or(30);
                v.validate_nbf = true;
                v.set_required_spec_claims(&["exp"]);
                match &jwt.issuer {
                    Some(iss) => v.set_issuer(&[iss]),
                    None => v.iss = None,
                }
                match &jwt.audience {
                    Some(aud) => v.set_audience(&[aud]),
                    None => v.validate_aud = false,
                }
                (alg, v)
            })
            .collect();
        Ok(JwtCheck {
            keys,
            validations,
            cookie: jwt.cookie.clone(),
        })
    }

    /// The JWKS sources due for a fetch.
    #[must_use]
    pub fn jwks_due(&self) -> Vec<Arc<JwksSource>> {
        lock(&self.jwks)
            .values()
            .filter(|s| s.is_due())
            .cloned()
            .collect()
    }

    /// Forgets rate-limit buckets that are full again, bounding memory.
    pub fn trim_limiters(&self) {
        for limiter in lock(&self.limiters).values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Every algorithm, when the plan lists none: each key then verifies the
/// algorithms of its kind only.
const ALL_ALGORITHMS: &[Algorithm] = &[
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn family_algorithms(family: AlgorithmFamily) -> Vec<Algorithm> {
    ALL_ALGORITHMS
        .iter()
        .copied()
        .filter(|a| a.family() == family)
        .collect()
}

/// Reads a JWKS document or a single PEM public key.
fn key_file(bytes: &[u8]) -> Result<KeySet, String> {
    if bytes.trim_ascii_start().starts_with(b"{") {
        return jwks(bytes);
    }
    let key = DecodingKey::from_rsa_pem(bytes)
        .or_else(|_| DecodingKey::from_ec_pem(bytes))
        .or_else(|_| DecodingKey::from_ed_pem(bytes))
        .map_err(|e| e.to_string())?;
    let algs = family_algorithms(key.family());
    Ok(KeySet {
        keys: vec![(None, key, algs)],
    })
}

/// Reads a JWKS document; keys of kinds this build cannot use are skipped.
fn jwks(bytes: &[u8]) -> Result<KeySet, String> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let algs = match jwk
            .common
            .key_algorithm
            .and_then(|a| a.to_string().parse::<Algorithm>().ok())
        {
            Some(alg) => vec![alg],
            None => family_algorithms(key.family()),
        };
        keys.push((jwk.common.key_id.clone(), key, algs));
    }
    if keys.is_empty() {
        return Err("it holds no usable key".to_owned());
    }
    Ok(KeySet { keys })
}

impl JwksSource {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            keys: ArcSwap::from_pointee(KeySet::default()),
            state: Mutex::new(FetchState::default()),
            fetching: AtomicBool::new(false),
            wanted: AtomicBool::new(false),
        }
    }

    fn is_due(&self) -> bool {
        if self.fetching.load(Ordering::Relaxed) {
            return false;
        }
        let state = lock(&self.state);
        if self.wanted.load(Ordering::Relaxed)
            && state
                .last_try
                .is_none_or(|t| t.elapsed() >= JWKS_UNKNOWN_KID)
        {
            return true;
        }
        match (state.last_ok, state.last_try) {
            (_, None) => true,
            (Some(ok), Some(tried)) if ok >= tried => ok.elapsed() >= JWKS_REFRESH,
            (_, Some(tried)) => tried.elapsed() >= JWKS_RETRY,
        }
    }

    /// Fetches the keys once; a failure keeps the keys fetched before.
    pub async fn refresh(&self, connector: &Connector) {
        if self.fetching.swap(true, Ordering::AcqRel) {
            return;
        }
        self.wanted.store(false, Ordering::Relaxed);
        let result = tokio::time::timeout(JWKS_TIMEOUT, fetch(connector, &self.url)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {JWKS_TIMEOUT:?}")),
        };
        let now = Instant::now();
        match result.and_then(|body| jwks(&body)) {
            Ok(keys) => {
                tracing::info!(
                    url = %strangler_plan::mask_url(&self.url),
                    keys = keys.keys.len(),
                    "JWKS fetched"
                );
                self.keys.store(Arc::new(keys));
                let mut state = lock(&self.state);
                state.last_ok = Some(now);
                state.last_try = Some(now);
            }
            Err(e) => {
                let held = self.keys.load().keys.len();
                tracing::warn!(
                    url = %strangler_plan::mask_url(&self.url),
                    keys_kept = held,
                    "JWKS fetch failed: {e}; the last keys fetched stay in use"
                );
                lock(&self.state).last_try = Some(now);
            }
        }
        self.fetching.store(false, Ordering::Release);
    }
}

/// `GET url` through pingora's connector (TLS for `https`).
async fn fetch(connector: &Connector, url: &str) -> Result<Vec<u8>, String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let origin = parsed.origin().ascii_serialization();
    let upstream = Upstream::new(&origin, PeerTimeouts::default());
    let peer = upstream.peer.as_ref().map_err(Clone::clone)?;
    let mut target = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    let (mut session, _) = connector
        .get_http_session(peer)
        .await
        .map_err(|e| e.to_string())?;
    let mut req =
        RequestHeader::build("GET", target.as_bytes(), Some(3)).map_err(|e| e.to_string())?;
    req.insert_header("host", upstream.authority.clone())
        .and_then(|()| req.insert_header("accept", "application/json"))
        .and_then(|()| req.insert_header("user-agent", "strangler-jwks"))
        .map_err(|e| e.to_string())?;
    session
        .write_request_header(Box::new(req))
        .await
        .map_err(|e| e.to_string())?;
    session
        .finish_request_body()
        .await
        .map_err(|e| e.to_string())?;
    session
        .read_response_header()
        .await
        .map_err(|e| e.to_string())?;
    let status = session.response_header().map_or(0, |h| h.status.as_u16());
    let mut body = Vec::new();
    while let Some(chunk) = session
        .read_response_body()
        .await
        .map_err(|e| e.to_string())?
    {
        body.extend_from_slice(&chunk);
        if body.len() > JWKS_MAX_BYTES {
            return Err(format!("the answer is larger than {JWKS_MAX_BYTES} bytes"));
        }
    }
    if status != 200 {
        return Err(format!("status {status}"));
    }
    Ok(body)
}

/// What the gateway reads from a request.
pub struct Incoming<'a> {
    /// The request header; forwarded-claim headers are set on it.
    pub header: &'a mut RequestHeader,
    /// The client's address, for limits by IP.
    pub client_ip: Option<std::net::IpAddr>,
}

impl RouteGateway {
    /// Whether this is a CORS preflight for a route that answers them, and
    /// if so the answer.
    #[must_use]
    pub fn preflight(&self, header: &RequestHeader) -> Option<Admission> {
        let cors = self.cors.as_ref()?;
        let origin = header.headers.get(http::header::ORIGIN)?;
        let mut resp = match cors.allows(origin) {
            Some(allowed) => {
                let mut resp = ResponseHeader::build(204, Some(6)).ok()?;
                let _ = resp.insert_header("access-control-allow-origin", allowed);
                let _ = resp.insert_header("access-control-allow-methods", cors.methods.clone());
                if let Some(h) = &cors.headers {
                    let _ = resp.insert_header("access-control-allow-headers", h.clone());
                }
                if let Some(age) = &cors.max_age {
                    let _ = resp.insert_header("access-control-max-age", age.clone());
                }
                if cors.credentials {
                    let _ = resp.insert_header("access-control-allow-credentials", "true");
                }
                resp
            }
            None => ResponseHeader::build(403, Some(3)).ok()?,
        };
        let _ = resp.insert_header("vary", "Origin");
        let status = resp.status.as_u16();
        let (body, denial) = if status == 204 {
            (Bytes::new(), Denial::Preflight)
        } else {
            (
                Bytes::from_static(b"strangler: CORS origin not allowed\n"),
                Denial::Forbidden,
            )
        };
        let _ = resp.insert_header("content-length", body.len());
        Some(Admission::Answer(Box::new(resp), body, denial))
    }

    /// Checks a request against the route's limits, token and required
    /// claims, and sets the forwarded-claim headers.
    pub fn admit(&self, req: &mut Incoming<'_>) -> Admission {
        for (_, header) in &self.forward {
            req.header.remove_header(header);
        }
        let mut rate = None;
        if let Some(limit) = &self.limit
            && !matches!(limit.key, RateKey::Claim(_))
        {
            let key = client_key(&limit.key, req.header, req.client_ip, None);
            match limit.check(&key) {
                Ok(headers) => rate = Some(headers),
                Err(answer) => return answer,
            }
        }
        let claims = match &self.jwt {
            Some(jwt) => match jwt.verify(req.header) {
                Ok(claims) => Some(claims),
                Err(reason) => return unauthorized(reason),
            },
            None => None,
        };
        if let (Some(require), Some(claims)) = (&self.require, &claims)
            && let Err(missing) = check_require(require, claims)
        {
            return forbidden(require, &missing);
        }
        if let Some(limit) = &self.limit
            && matches!(limit.key, RateKey::Claim(_))
        {
            let key = client_key(&limit.key, req.header, req.client_ip, claims.as_ref());
            match limit.check(&key) {
                Ok(headers) => rate = Some(headers),
                Err(answer) => return answer,
            }
        }
        if let Some(claims) = &claims {
            for (claim, header) in &self.forward {
                if let Some(value) = claims.get(claim).and_then(claim_header_value) {
                    let _ = req.header.insert_header(header.clone(), value);
                }
            }
        }
        Admission::Pass(rate)
    }

    /// Rewrites a request about to go to the service: the path prefix.
    pub fn to_service(&self, header: &mut RequestHeader) {
        if self.strip_prefix.is_none() && self.add_prefix.is_none() {
            return;
        }
        let path = header.uri.path();
        let mut rest = match &self.strip_prefix {
            Some(prefix) => match path.strip_prefix(prefix.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => path,
            },
            None => path,
        };
        if rest.is_empty() {
            rest = "/";
        }
        let mut target = String::with_capacity(path.len() + 8);
        if let Some(prefix) = &self.add_prefix {
            target.push_str(prefix);
        }
        if rest != "/" || target.is_empty() {
            target.push_str(rest);
        }
        if let Some(q) = header.uri.query() {
            target.push('?');
            target.push_str(q);
        }
        if let Ok(uri) = target.parse::<http::Uri>() {
            header.set_uri(uri);
        }
    }

    /// Applies the request header rules (to whoever answers).
    pub fn upstream_headers(&self, header: &mut RequestHeader) {
        for name in &self.request_headers.remove {
            header.remove_header(name);
        }
        for (name, value) in &self.request_headers.set {
            let _ = header.insert_header(name.clone(), value.clone());
        }
    }

    /// Applies the response header rules and the CORS headers for
    /// `origin`, the request's `Origin`.
    pub fn response(&self, resp: &mut ResponseHeader, origin: Option<&HeaderValue>) {
        for name in &self.response_headers.remove {
            resp.remove_header(name);
        }
        for (name, value) in &self.response_headers.set {
            let _ = resp.insert_header(name.clone(), value.clone());
        }
        if let (Some(cors), Some(origin)) = (&self.cors, origin)
            && let Some(allowed) = cors.allows(origin)
        {
            let _ = resp.insert_header("access-control-allow-origin", allowed);
            if cors.credentials {
                let _ = resp.insert_header("access-control-allow-credentials", "true");
            }
            let _ = resp.append_header("vary", "Origin");
        }
    }
}

impl RateHeaders {
    /// Adds `RateLimit-Limit` and `RateLimit-Remaining` to a response.
    pub fn apply(self, resp: &mut ResponseHeader) {
        let _ = resp.insert_header("ratelimit-limit", self.limit);
        let _ = resp.insert_header("ratelimit-remaining", self.remaining);
    }
}

impl RateRule {
    fn check(&self, key: &str) -> Result<RateHeaders, Admission> {
        match self.limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => Ok(RateHeaders {
                limit: self.per_second,
                remaining: snapshot.remaining_burst_capacity(),
            }),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let secs = secs.max(1);
                let body = Bytes::from_static(b"strangler: too many requests\n");
                let Ok(mut resp) = ResponseHeader::build(429, Some(5)) else {
                    return Err(Admission::Pass(None));
                };
                let _ = resp.insert_header("retry-after", secs);
                let _ = resp.insert_header("ratelimit-limit", self.per_second);
                let _ = resp.insert_header("ratelimit-remaining", 0);
                let _ = resp.insert_header("ratelimit-reset", secs);
                let _ = resp.insert_header("content-length", body.len());
                Err(Admission::Answer(Box::new(resp), body, Denial::RateLimited))
            }
        }
    }
}

impl CorsRule {
    /// The `Access-Control-Allow-Origin` value for `origin`, if allowed.
    fn allows(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.any_origin && !self.credentials {
            return Some(HeaderValue::from_static("*"));
        }
        let o = origin.to_str().ok()?.to_ascii_lowercase();
        (self.any_origin || self.origins.contains(&o)).then(|| origin.clone())
    }
}

impl JwtCheck {
    fn token<'a>(&self, header: &'a RequestHeader) -> Option<&'a str> {
        let mut auth = header.headers.get_all(http::header::AUTHORIZATION).iter();
        if let Some(value) = auth.next() {
            if auth.next().is_some() {
                return None;
            }
            let value = value.to_str().ok()?;
            let (scheme, token) = value.split_once(' ')?;
            return scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim())
                .filter(|t| !t.is_empty());
        }
        let name = self.cookie.as_deref()?;
        crate::proxy::cookie(header, name).and_then(|c| std::str::from_utf8(c).ok())
    }

    fn verify(&self, header: &RequestHeader) -> Result<Map<String, Value>, &'static str> {
        let token = self.token(header).ok_or("no bearer token")?;
        let head = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == head.alg) else {
            return Err("token algorithm not accepted");
        };
        let set = match &self.keys {
            KeySource::Fixed(set) => set.clone(),
            KeySource::Remote(source) => {
                let set = source.keys.load_full();
                if let Some(want) = &head.kid
                    && !set
                        .keys
                        .iter()
                        .any(|(kid, _, _)| kid.as_ref() == Some(want))
                {
                    // Keys rotated, most likely: the control loop fetches
                    // them again soon; this request fails as it stands.
                    source.wanted.store(true, Ordering::Relaxed);
                }
                set
            }
        };
        let mut last = "no key verifies the token";
        for (kid, key, algs) in &set.keys {
            if !algs.contains(&head.alg) {
                continue;
            }
            if let (Some(want), Some(have)) = (&head.kid, kid)
                && want != have
            {
                continue;
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = match e.kind() {
                        ErrorKind::InvalidSignature => "bad signature",
                        ErrorKind::ExpiredSignature => return Err("token expired"),
                        ErrorKind::ImmatureSignature => return Err("token not yet valid"),
                        ErrorKind::InvalidIssuer => return Err("wrong issuer"),
                        ErrorKind::InvalidAudience => return Err("wrong audience"),
                        ErrorKind::MissingRequiredClaim(_) => return Err("token has no exp"),
                        _ => "token rejected",
                    };
                }
            }
        }
        Err(last)
    }
}

fn unauthorized(reason: &'static str) -> Admission {
    let body = Bytes::from(format!("strangler: unauthorized: {reason}\n"));
    let challenge = if reason == "no bearer token" {
        "Bearer realm=\"strangler\"".to_owned()
    } else {
        format!(
            "Bearer realm=\"strangler\", error=\"invalid_token\", error_description=\"{reason}\""
        )
    };
    answer(401, body, Denial::Unauthenticated, Some(challenge))
}

fn forbidden(require: &Require, missing: &str) -> Admission {
    let body = Bytes::from(format!("strangler: forbidden: {missing}\n"));
    let mut challenge = "Bearer realm=\"strangler\", error=\"insufficient_scope\"".to_owned();
    if let Some(scope) = &require.scope {
        challenge = format!("{challenge}, scope=\"{scope}\"");
    }
    answer(403, body, Denial::Forbidden, Some(challenge))
}

fn answer(status: u16, body: Bytes, denial: Denial, challenge: Option<String>) -> Admission {
    let Ok(mut resp) = ResponseHeader::build(status, Some(4)) else {
        return Admission::Pass(None);
    };
    if let Some(c) = challenge
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        let _ = resp.insert_header("www-authenticate", v);
    }
    let _ = resp.insert_header("content-type", "text/plain; charset=utf-8");
    let _ = resp.insert_header("content-length", body.len());
    Admission::Answer(Box::new(resp), body, denial)
}

/// Checks the required scopes and claims; the error names what is missing.
fn check_require(require: &Require, claims: &Map<String, Value>) -> Result<(), String> {
    if let Some(scope) = &require.scope {
        let granted: Vec<&str> = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) | (_, Some(Value::String(s))) => {
                s.split_whitespace().collect()
            }
            (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for want in scope.split_whitespace() {
            if !granted.contains(&want) {
                return Err(format!("scope {want} required"));
            }
        }
    }
    for (claim, want) in &require.claims {
        let ok = match claims.get(claim) {
            Some(Value::Array(a)) => a.iter().any(|v| scalar(v).as_deref() == Some(want)),
            Some(v) => scalar(v).as_deref() == Some(want),
            None => false,
        };
        if !ok {
            return Err(format!("claim {claim} must be {want}"));
        }
    }
    Ok(())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A claim as a header value: scalars as text, arrays of scalars joined by
/// `,`; `None` when it cannot be a header value.
fn claim_header_value(v: &Value) -> Option<HeaderValue> {
    let text = match v {
        Value::Array(a) => a.iter().map(scalar).collect::<Option<Vec<_>>>()?.join(","),
        other => scalar(other)?,
    };
    HeaderValue::from_str(&text).ok()
}

/// The key a limit counts a request by.
fn client_key(
    key: &RateKey,
    header: &RequestHeader,
    ip: Option<std::net::IpAddr>,
    claims: Option<&Map<String, Value>>,
) -> String {
    let mut key = match key {
        RateKey::Ip => ip.map_or_else(String::new, |ip| ip.to_string()),
        RateKey::Header(name) => header
            .headers
            .get(name.as_str())
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
        RateKey::Claim(name) => claims
            .and_then(|c| c.get(name))
            .and_then(scalar)
            .unwrap_or_default(),
    };
    if key.len() > MAX_KEY_BYTES {
        let mut cut = MAX_KEY_BYTES;
        while !key.is_char_boundary(cut) {
            cut -= 1;
        }
        key.truncate(cut);
    }
    key
}

fn value(text: &str, what: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| format!("`{text}` of {what} is not a header value"))
}

fn header_ops(
    rules: Option<&strangler_plan::HeaderRules>,
    what: &str,
) -> Result<HeaderOps, String> {
    let Some(rules) = rules else {
        return Ok(HeaderOps::default());
    };
    let name = |n: &str| {
        HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("`{n}` of {what} is not a header name"))
    };
    Ok(HeaderOps {
        set: rules
            .set
            .iter()
            .map(|(n, v)| Ok((name(n)?, value(v, what)?)))
            .collect::<Result<_, String>>()?,
        remove: rules
            .remove
            .iter()
            .map(|n| name(n))
            .collect::<Result<_, _>>()?,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
