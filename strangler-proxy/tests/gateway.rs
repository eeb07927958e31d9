//! The gateway duties through the real proxy over loopback: JWT
//! verification (HS256 from a secret file, ES256 from a PEM key), required
//! scopes, forwarded claims with client copies stripped, rate limits, path
//! prefixes and CORS preflights. Every refusal must be answered at the
//! edge: the upstream never sees the request.

mod common;

use std::sync::{Arc, Mutex};

use common::{backend, client, proxy, send, write_plan};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

const SECRET: &[u8] = b"a shared secret of enough length for HS256";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn claims(aud: &str, exp_in: i64, scope: &str) -> serde_json::Value {
    json!({
        "sub": "user-42",
        "iss": "shop",
        "aud": aud,
        "exp": (i64::try_from(now()).unwrap() + exp_in),
        "scope": scope,
    })
}

/// One request to /api/orders/7: the headers sent, the status expected,
/// and whether an upstream may see it.
struct Case<'a> {
    what: &'a str,
    headers: Vec<(&'a str, String)>,
    status: u16,
    upstream: bool,
}

#[allow(clippy::too_many_lines)] // One scenario on one proxy, step by step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_scopes_claims_limits_and_transforms() {
    let mono = backend("monolith").await;
    let svc = backend("orders").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hs256.key"), [SECRET, b"\n"].concat()).unwrap();
    let ec = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("ec.pem"), ec.public_key_pem()).unwrap();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &format!(
            r#"[[service]]
name = "orders"
upstream = "{}"
auth = {{ jwt = {{ secret_file = "hs256.key", issuer = "shop", audience = "api" }} }}
forward_claims = {{ sub = "x-user-id" }}

  [[service.route]]
  path = "/api/orders/{{id}}"
  stage = "live"
  require = {{ scope = "orders:read" }}
  strip_prefix = "/api"
  response_headers = {{ set = {{ x-frame-options = "DENY" }} }}
  cors = {{ origins = ["https://app.example.com"], headers = ["authorization"], max_age = 600 }}

  [[service.route]]
  path = "/api/ec/{{id}}"
  stage = "live"
  auth = {{ jwt = {{ keys = "ec.pem", algorithms = ["ES256"] }} }}

  [[service.route]]
  path = "/api/open/{{id}}"
  stage = "live"
  auth = "none"
  rate_limit = {{ per_second = 2, burst = 3 }}
"#,
            svc.url()
        ),
    );
    let p = proxy(plan, |_| {}).await;
    let c = client();
    let good = hs256(&claims("api", 300, "orders:read orders:write"), SECRET);
    let bearer = |t: &str| format!("Bearer {t}");

    let expired = hs256(&claims("api", -3600, "orders:read"), SECRET);
    let wrong_aud = hs256(&claims("web", 300, "orders:read"), SECRET);
    let wrong_key = hs256(
        &claims("api", 300, "orders:read"),
        b"another secret entirely, also long",
    );
    let no_scope = hs256(&claims("api", 300, "orders:write"), SECRET);
    let mut parts: Vec<&str> = good.split('.').collect();
    let none_header = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
    parts[0] = &none_header;
    let alg_none = format!("{}.{}.", parts[0], parts[1]);
    let cases = vec![
        Case {
            what: "no token",
            headers: vec![],
            status: 401,
            upstream: false,
        },
        Case {
            what: "valid token",
            headers: vec![("authorization", bearer(&good))],
            status: 200,
            upstream: true,
        },
        Case {
            what: "scheme in lower case",
            headers: vec![("authorization", format!("bearer {good}"))],
            status: 200,
            upstream: true,
        },
        Case {
            what: "expired",
            headers: vec![("authorization", bearer(&expired))],
            status: 401,
            upstream: false,
        },
        Case {
            what: "wrong audience",
            headers: vec![("authorization", bearer(&wrong_aud))],
            status: 401,
            upstream: false,
        },
        Case {
            what: "wrongly signed",
            headers: vec![("authorization", bearer(&wrong_key))],
            status: 401,
            upstream: false,
        },
        Case {
            what: "alg none",
            headers: vec![("authorization", bearer(&alg_none))],
            status: 401,
            upstream: false,
        },
        Case {
            what: "garbage",
            headers: vec![("authorization", "Bearer a.b.c".into())],
            status: 401,
            upstream: false,
        },
        Case {
            what: "basic auth",
            headers: vec![("authorization", "Basic dTpw".into())],
            status: 401,
            upstream: false,
        },
        Case {
            what: "scope missing",
            headers: vec![("authorization", bearer(&no_scope))],
            status: 403,
            upstream: false,
        },
    ];
    let check = |case: &Case<'_>, answer: &common::Answer, seen_before: usize| {
        let seen = svc.seen().len() + mono.seen().len();
        assert_eq!(answer.status, case.status, "{}: {}", case.what, answer.body);
        assert_eq!(
            seen > seen_before,
            case.upstream,
            "{}: upstream saw it?",
            case.what
        );
        if case.status == 401 {
            let challenge = answer
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok());
            assert!(
                challenge.is_some_and(|c| c.starts_with("Bearer")),
                "{}: {challenge:?}",
                case.what
            );
        }
    };
    for case in &cases {
        let before = svc.seen().len() + mono.seen().len();
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = send(&c, "GET", &p.url("/api/orders/7"), &headers, "").await;
        check(case, &answer, before);
    }

    // The service got the prefix stripped, the verified claim, and never
    // the client's own copy of that header.
    let a = send(
        &c,
        "GET",
        &p.url("/api/orders/9?x=1"),
        &[("authorization", &bearer(&good)), ("x-user-id", "admin")],
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.headers.get("x-frame-options").unwrap(), "DENY");
    let seen = svc.seen_path("/orders/9");
    assert_eq!(seen.len(), 1, "{:?}", svc.seen());
    let ids: Vec<_> = seen[0].headers.get_all("x-user-id").iter().collect();
    assert_eq!(ids, ["user-42"]);

    // A CORS preflight is answered at the edge, without a token.
    let before = svc.seen().len();
    let pre = send(
        &c,
        "OPTIONS",
        &p.url("/api/orders/7"),
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
        "",
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.headers.get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    assert_eq!(pre.headers.get("access-control-max-age").unwrap(), "600");
    let foreign = send(
        &c,
        "OPTIONS",
        &p.url("/api/orders/7"),
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "GET"),
        ],
        "",
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert!(foreign.headers.get("access-control-allow-origin").is_none());
    assert_eq!(
        svc.seen().len(),
        before,
        "preflights never reach the service"
    );

    // ES256 from a PEM public key.
    let es = encode(
        &Header::new(Algorithm::ES256),
        &claims("any", 300, ""),
        &EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let a = send(
        &c,
        "GET",
        &p.url("/api/ec/1"),
        &[("authorization", &bearer(&es))],
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = send(
        &c,
        "GET",
        &p.url("/api/ec/1"),
        &[("authorization", &bearer(&good))],
        "",
    )
    .await;
    assert_eq!(
        a.status, 401,
        "an HS256 token on an ES256 route: {}",
        a.body
    );

    // The rate limit: a burst of 3, then 429 with Retry-After.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let a = send(&c, "GET", &p.url("/api/open/1"), &[], "").await;
        if a.status == 429 {
            retry_after = a.headers.get("retry-after").cloned();
        }
        statuses.push(a.status);
    }
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((3..=4).contains(&passed), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after.is_some(), "429 carries Retry-After");
}

fn base64_url(text: &str) -> String {
    base64_url_bytes(text.as_bytes())
}

fn base64_url_bytes(b: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (u32::from(x) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The README's gateway example is a valid plan as shown.
#[test]
fn the_readme_gateway_example_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## Gateway").expect("the gateway section")..];
    let start = section.find("```toml\n").expect("its example") + "```toml\n".len();
    let end = section[start..]
        .find("```")
        .expect("the end of the example")
        + start;
    let plan = format!(
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n{}",
        &section[start..end]
    );
    let parsed = strangler_plan::parse(&plan);
    let errors: Vec<String> = parsed
        .diagnostics
        .iter()
        .map(|d| d.render("README"))
        .collect();
    assert!(parsed.is_valid(), "{errors:?}");
}

/// A JWKS document with one ES256 key per `(kid, key pair)`.
fn jwks_of(keys: &[(&str, &rcgen::KeyPair)]) -> String {
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .map(|(kid, pair)| {
            // The uncompressed point: 0x04, then x and y.
            let raw = pair.public_key_raw();
            json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": base64_url_bytes(&raw[1..33]),
                "y": base64_url_bytes(&raw[33..65]),
            })
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn es256(kid: &str, pair: &rcgen::KeyPair) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    encode(
        &header,
        &claims("api", 300, "orders:read"),
        &EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A key server: answers `GET /jwks.json` with the document in `doc`, or
/// 503 while it is `None` (an outage). Returns its URL and the count of
/// fetches.
async fn key_server(
    doc: Arc<Mutex<Option<String>>>,
) -> (String, Arc<std::sync::atomic::AtomicU64>) {
    let (addr, fetches) = common::serve(move |_| match doc.lock().unwrap().clone() {
        Some(body) => (200, "application/json", bytes::Bytes::from(body)),
        None => (503, "", bytes::Bytes::new()),
    })
    .await;
    (format!("http://{addr}/jwks.json"), fetches)
}

/// `GET url` with `Authorization: Bearer token`.
async fn get_with(c: &common::HttpClient, url: &str, token: &str) -> common::Answer {
    send(
        c,
        "GET",
        url,
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await
}

/// Sends `token` until the answer has `status`, for up to 10 s; the last
/// status either way.
async fn status_becomes(c: &common::HttpClient, url: &str, token: &str, status: u16) -> u16 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let a = get_with(c, url, token).await;
        if a.status == status || std::time::Instant::now() > deadline {
            return a.status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_rotation_and_outage() {
    let mono = backend("monolith").await;
    let svc = backend("orders").await;
    let (old, new) = (
        rcgen::KeyPair::generate().unwrap(),
        rcgen::KeyPair::generate().unwrap(),
    );
    let doc = Arc::new(Mutex::new(Some(jwks_of(&[("old", &old)]))));
    let (jwks_url, fetches) = key_server(doc.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &format!(
            "[[service]]\nname = \"orders\"\nupstream = \"{}\"\n\
             auth = {{ jwt = {{ jwks_url = \"{jwks_url}\", issuer = \"shop\", audience = \"api\" }} }}\n\
             [[service.route]]\npath = \"/api/orders/{{id}}\"\nstage = \"live\"\n",
            svc.url()
        ),
    );
    let p = proxy(plan, |_| {}).await;
    let c = client();
    let url = p.url("/api/orders/7");
    // The keys are fetched in the background at start.
    assert_eq!(
        status_becomes(&c, &url, &es256("old", &old), 200).await,
        200
    );

    // Rotation: the key server now publishes only the new key. A token
    // with the new kid fetches the keys again (at most once a second).
    *doc.lock().unwrap() = Some(jwks_of(&[("new", &new)]));
    assert_eq!(
        status_becomes(&c, &url, &es256("new", &new), 200).await,
        200
    );
    let a = get_with(&c, &url, &es256("old", &old)).await;
    assert_eq!(
        a.status, 401,
        "the retired key verifies no more: {}",
        a.body
    );
    assert!(a.headers.contains_key("www-authenticate"));

    // Outage: the key server fails; a token naming an unknown kid makes the
    // proxy try, and the last good keys stay in use.
    *doc.lock().unwrap() = None;
    let before = fetches.load(std::sync::atomic::Ordering::SeqCst);
    let stranger = rcgen::KeyPair::generate().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fetches.load(std::sync::atomic::Ordering::SeqCst) == before
        && std::time::Instant::now() < deadline
    {
        let a = get_with(&c, &url, &es256("unknown", &stranger)).await;
        assert_eq!(a.status, 401);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        fetches.load(std::sync::atomic::Ordering::SeqCst) > before,
        "the failing server was asked"
    );
    let a = get_with(&c, &url, &es256("new", &new)).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "orders GET /api/orders/7"),
        "kept keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_its_rate_within_ten_percent_over_ten_seconds() {
    let mono = backend("monolith").await;
    let svc = backend("orders").await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &format!(
            "[[service]]\nname = \"orders\"\nupstream = \"{}\"\n\
             [[service.route]]\npath = \"/api/orders/{{id}}\"\nstage = \"live\"\n\
             rate_limit = {{ per_second = 20, burst = 1 }}\n",
            svc.url()
        ),
    );
    let p = proxy(plan, |_| {}).await;
    let c = client();
    let url = p.url("/api/orders/7");
    let started = std::time::Instant::now();
    let (mut passed, mut limited) = (0u64, 0u64);
    // As fast as one client can: far above the limit.
    while started.elapsed() < std::time::Duration::from_secs(10) {
        match send(&c, "GET", &url, &[], "").await.status {
            200 => passed += 1,
            429 => limited += 1,
            other => panic!("status {other}"),
        }
    }
    let expected = 20.0 * started.elapsed().as_secs_f64() + 1.0;
    let off = (passed as f64 - expected).abs() / expected;
    assert!(
        off <= 0.10,
        "{passed} passed, {expected:.0} expected ({limited} limited)"
    );
    assert!(limited > passed, "the client sent far more than the limit");
}

/// The README's examples for diffs, SLOs, shadow writes and timeouts are
/// valid plans (a route fragment is put under a service).
#[test]
fn the_readme_rollout_examples_are_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for heading in [
        "## Timeouts",
        "### Shadow copies of writes",
        "### Response diffs",
        "## SLO-guarded rollout",
    ] {
        let section = &readme[readme.find(heading).unwrap_or_else(|| panic!("{heading}"))..];
        let start = section.find("```toml\n").expect("its example") + "```toml\n".len();
        let end = section[start..]
            .find("```")
            .expect("the end of the example")
            + start;
        let example = &section[start..end];
        let service = if example.starts_with("[[service.route]]") {
            "[[service]]\nname = \"orders\"\nupstream = \"http://127.0.0.1:9001\"\n"
        } else {
            ""
        };
        let plan = format!(
            "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n{service}{example}"
        );
        let parsed = strangler_plan::parse(&plan);
        let errors: Vec<String> = parsed
            .diagnostics
            .iter()
            .map(|d| d.render("README"))
            .collect();
        assert!(parsed.is_valid(), "{heading}: {errors:?}\n{plan}");
    }
}
