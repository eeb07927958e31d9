//! The admin API's front door over real loopback sockets: raw request bytes
//! to a real proxy's admin port, the status that comes back, and whether
//! the route table changed (its generation).
//!
//! One table of cases and one `check` helper; each case names the proxy it
//! is sent to: one with a token, one on loopback without.

mod common;

use std::time::Duration;

use common::{Running, backend, proxy, write_plan};
use strangler_proxy::{AdminToken, ProxyConfig, ProxyError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "s3cr3t-admin-token-0123456789";
const STAGE: &str = r#"{"service":"catalog","route":"/api/products/{id}","stage":"shadow"}"#;
const FENCE: &str = r#"{"name":"cutover:catalog","tables":["orders"],"hold_ms":60000}"#;
const RELEASE: &str = r#"{"name":"cutover:catalog","reload":false}"#;

/// Which proxy a case is sent to.
#[derive(Debug, Clone, Copy)]
enum To {
    /// Started with [`TOKEN`].
    Token,
    /// On loopback without a token.
    Open,
}

struct Case {
    name: &'static str,
    to: To,
    /// The request; `{host}` is the admin address, `{token}` the token,
    /// `{len}` the length of `body`, which follows the head.
    head: &'static str,
    body: &'static str,
    status: u16,
    /// A header line the answer must have (lowercase), or "".
    header: &'static str,
    /// Whether the route table changed (a new generation).
    changed: bool,
}

const fn case(
    name: &'static str,
    to: To,
    head: &'static str,
    body: &'static str,
    status: u16,
    header: &'static str,
    changed: bool,
) -> Case {
    Case {
        name,
        to,
        head,
        body,
        status,
        header,
        changed,
    }
}

const JSON: &str = "Content-Type: application/json\r\n";
const CHALLENGE: &str = "www-authenticate: bearer realm=\"strangler admin\"";

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Reads: the token is needed on every path but /healthz.
    case("healthz needs no token", To::Token,
         "GET /healthz HTTP/1.1\r\nHost: {host}\r\n", "", 200, "", false),
    case("routes without a token", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\n", "", 401, CHALLENGE, false),
    case("metrics without a token", To::Token,
         "GET /metrics HTTP/1.1\r\nHost: {host}\r\n", "", 401, CHALLENGE, false),
    case("routes with a wrong token", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer s3cr3t-admin-token-0123456788\r\n",
         "", 401, "error=\"invalid_token\"", false),
    case("routes with a prefix of the token", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer s3cr3t\r\n",
         "", 401, "error=\"invalid_token\"", false),
    case("routes with the token as Basic credentials", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {token}\r\n",
         "", 401, "error=\"invalid_token\"", false),
    case("routes with the right token", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n", "", 200, "", false),
    case("the scheme is case-insensitive", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\nauthorization: bearer {token}\r\n", "", 200, "", false),
    case("unknown paths need the token too", To::Token,
         "GET /nope HTTP/1.1\r\nHost: {host}\r\n", "", 401, CHALLENGE, false),
    // Writes without the token, or not JSON.
    case("stage without a token", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n", STAGE, 401, CHALLENGE, false),
    case("stage with a wrong token", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer nope-nope-nope-nope\r\nContent-Type: application/json\r\n",
         STAGE, 401, "error=\"invalid_token\"", false),
    case("stage as text/plain (a CSRF form)", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/plain\r\n",
         STAGE, 415, "accept: application/json", false),
    case("stage as a form", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
         STAGE, 415, "", false),
    case("stage without a content type", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n", STAGE, 415, "", false),
    case("stage as application/jsonp", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/jsonp\r\n",
         STAGE, 415, "", false),
    case("reload as text/plain", To::Token,
         "POST /reload HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/plain\r\n", "", 415, "", false),
    // The fence endpoints are guarded like the other writes.
    case("fence without a token", To::Token,
         "POST /fence HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n", FENCE, 401, CHALLENGE, false),
    case("fences without a token", To::Token,
         "GET /fences HTTP/1.1\r\nHost: {host}\r\n", "", 401, CHALLENGE, false),
    case("fence release without a token", To::Token,
         "POST /fence/release HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n", RELEASE, 401, CHALLENGE, false),
    case("fence as text/plain", To::Token,
         "POST /fence HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/plain\r\n",
         FENCE, 415, "accept: application/json", false),
    case("fence release as text/plain", To::Token,
         "POST /fence/release HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/plain\r\n",
         RELEASE, 415, "", false),
    case("fence from a foreign Origin, with the token", To::Token,
         "POST /fence HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nOrigin: http://evil.example\r\n",
         FENCE, 403, "", false),
    case("fence, with the token", To::Token,
         "POST /fence HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n",
         FENCE, 200, "", false),
    case("fences, with the token", To::Token,
         "GET /fences HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n", "", 200, "", false),
    case("fence release, with the token", To::Token,
         "POST /fence/release HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n",
         RELEASE, 200, "", false),
    case("open: fence as text/plain", To::Open,
         "POST /fence HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n", FENCE, 415, "", false),
    // Cross-origin: refused even with the token.
    case("stage from a foreign Origin, with the token", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nOrigin: http://evil.example\r\n",
         STAGE, 403, "", false),
    case("stage from the null Origin", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nOrigin: null\r\n",
         STAGE, 403, "", false),
    case("stage from another port of localhost", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nOrigin: http://127.0.0.1:1\r\n",
         STAGE, 403, "", false),
    case("stage marked cross-site by the browser", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nSec-Fetch-Site: cross-site\r\n",
         STAGE, 403, "", false),
    case("routes from a foreign Origin", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nOrigin: http://evil.example\r\n", "", 403, "", false),
    // Host: DNS rebinding reaches the API under a foreign name.
    case("stage under a foreign Host, with the token", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: evil.example:9900\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n",
         STAGE, 421, "", false),
    case("healthz under a foreign Host", To::Token,
         "GET /healthz HTTP/1.1\r\nHost: evil.example\r\n", "", 421, "", false),
    case("an absolute-form target naming a foreign host", To::Token,
         "GET http://evil.example/routes HTTP/1.1\r\nAuthorization: Bearer {token}\r\n", "", 421, "", false),
    // pingora's HTTP/1 reader closes the connection on these.
    case("an absolute-form target that disagrees with Host", To::Token,
         "GET http://evil.example/routes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n", "", CLOSED, "", false),
    case("two Host headers", To::Token,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\nAuthorization: Bearer {token}\r\n", "", CLOSED, "", false),
    case("no Host at all", To::Token,
         "GET /healthz HTTP/1.0\r\n", "", 400, "", false),
    case("localhost, on another port (a port-forward)", To::Token,
         "GET /routes HTTP/1.1\r\nHost: localhost:19900\r\nAuthorization: Bearer {token}\r\n", "", 200, "", false),
    // The right write, same origin: the table changes.
    case("stage, same origin, with the token", To::Token,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nOrigin: http://{host}\r\nSec-Fetch-Site: same-origin\r\n",
         STAGE, 200, "", true),
    case("reload of an unchanged plan", To::Token,
         "POST /reload HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json; charset=utf-8\r\n",
         "", 200, "", false),
    // On loopback without a token: reads are open, CSRF is still refused.
    case("open: routes", To::Open,
         "GET /routes HTTP/1.1\r\nHost: {host}\r\n", "", 200, "", false),
    case("open: stage as text/plain", To::Open,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n", STAGE, 415, "", false),
    case("open: stage from a foreign Origin", To::Open,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nOrigin: http://evil.example\r\n",
         STAGE, 403, "", false),
    case("open: stage under a rebound name", To::Open,
         "POST /routes/stage HTTP/1.1\r\nHost: rebind.evil.example:9900\r\nContent-Type: application/json\r\n",
         STAGE, 421, "", false),
    case("open: stage", To::Open,
         "POST /routes/stage HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n", STAGE, 200, "", true),
];

/// The status of a connection closed without an answer.
const CLOSED: u16 = 0;

/// An answer read off the socket.
struct Raw {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` to `addr` on a connection of its own and reads the
/// answer to the end (the request asks to close).
async fn raw(addr: &str, request: &[u8]) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("the admin API answers and closes")
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(CLOSED);
    Raw {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// A request with `Connection: close` and the body's length added.
fn request(head: &str, body: &str, host: &str) -> Vec<u8> {
    let head = head.replace("{host}", host).replace("{token}", TOKEN);
    let length = if body.is_empty() && !head.starts_with("POST") {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    format!("{head}{length}Connection: close\r\n\r\n{body}").into_bytes()
}

/// The live generation, asked with the token (which the open proxy ignores).
async fn generation(admin: &str) -> u64 {
    let head =
        format!("GET /routes HTTP/1.1\r\nHost: {admin}\r\nAuthorization: Bearer {TOKEN}\r\n");
    let answer = raw(admin, &request(&head, "", admin)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let routes: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    routes["generation"].as_u64().unwrap()
}

async fn check(running: &Running, case: &Case) {
    let admin = &running.admin;
    let before = generation(admin).await;
    let answer = raw(admin, &request(case.head, case.body, admin)).await;
    assert_eq!(
        answer.status, case.status,
        "{}: {}\n{}",
        case.name, answer.head, answer.body
    );
    assert!(
        answer.head.contains(case.header),
        "{}: no `{}` in\n{}",
        case.name,
        case.header,
        answer.head
    );
    if answer.status >= 400 {
        assert!(
            answer.body.contains("\"error\""),
            "{}: {}",
            case.name,
            answer.body
        );
    }
    let after = generation(admin).await;
    assert_eq!(
        after > before,
        case.changed,
        "{}: the generation went from {before} to {after}",
        case.name
    );
}

async fn plan_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &mono.url(),
        &format!(
            "[[service]]\nname = \"catalog\"\nupstream = \"{}\"\n  [[service.route]]\n  path = \"/api/products/{{id}}\"\n  stage = \"monolith\"\n",
            svc.url()
        ),
    );
    (dir, plan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_checks_token_origin_host_and_content_type() {
    let (_token_dir, token_plan) = plan_dir().await;
    let (_open_dir, open_plan) = plan_dir().await;
    let with_token = proxy(token_plan, |c| {
        c.watch = false;
        c.admin_token = Some(AdminToken::new(TOKEN).unwrap());
    })
    .await;
    let open = proxy(open_plan, |c| c.watch = false).await;
    for case in CASES {
        let running = match case.to {
            To::Token => &with_token,
            To::Open => &open,
        };
        check(running, case).await;
    }
}

/// Why `strangler_proxy::start` refused `config`.
async fn refused_start(config: ProxyConfig) -> ProxyError {
    let started = tokio::task::spawn_blocking(move || strangler_proxy::start(config))
        .await
        .unwrap();
    let Err(error) = started else {
        panic!("the proxy started");
    };
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposed_admin_api_needs_a_token() {
    let (_dir, plan) = plan_dir().await;
    let port = common::closed_port();
    let mut config = ProxyConfig::new(&plan);
    config.listen = common::free_addr();
    config.admin = Some(format!("0.0.0.0:{port}"));
    config.signals = false;
    config.work_stealing = true;
    let error = refused_start(config).await;
    assert!(
        matches!(error, ProxyError::AdminExposed { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("--admin-token-file") && message.contains("STRANGLER_ADMIN_TOKEN"),
        "{message}"
    );
    // Nothing was left listening.
    assert!(std::net::TcpListener::bind(("0.0.0.0", port)).is_ok());

    // With a token from a file (its final newline is not part of it), the
    // same address serves, and wants the token.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{TOKEN}\n")).unwrap();
    let token = AdminToken::from_file(file.path()).unwrap();
    assert_eq!(format!("{token:?}"), "AdminToken(***)");
    let exposed = proxy(plan, |c| {
        c.watch = false;
        c.admin = Some(format!("0.0.0.0:{port}"));
        c.admin_token = Some(token);
    })
    .await;
    let local = format!("127.0.0.1:{port}");
    let head = "GET /routes HTTP/1.1\r\nHost: {host}\r\n";
    assert_eq!(raw(&local, &request(head, "", &local)).await.status, 401);
    let head = "GET /routes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n";
    assert_eq!(raw(&local, &request(head, "", &local)).await.status, 200);
    drop(exposed);
}

#[test]
fn unusable_tokens_are_refused() {
    for bad in [
        "",
        "short",
        "sixteen chars but spaces",
        "0123456789abcdef\u{e9}",
    ] {
        assert!(
            matches!(AdminToken::new(bad), Err(ProxyError::AdminToken { .. })),
            "{bad:?}"
        );
    }
    assert!(AdminToken::new("0123456789abcdef").is_ok());
    assert!(AdminToken::new("bXktdG9rZW4tMTIzNDU2Nzg=").is_ok());
    let missing = AdminToken::from_file(std::path::Path::new("/nonexistent/token"));
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/token"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_stay_out_of_reload_and_start_up_errors() {
    let (_dir, plan) = plan_dir().await;
    let p = proxy(plan.clone(), |c| c.watch = false).await;
    let good = std::fs::read_to_string(&plan).unwrap();
    let bad = good.replace(
        "name = \"shop\"\n",
        "name = \"shop\"\ndatabase = \"postgress://user:secret@x/db\"\n",
    );
    std::fs::write(&plan, &bad).unwrap();
    let admin = &p.admin;
    let head = format!("POST /reload HTTP/1.1\r\nHost: {{host}}\r\n{JSON}");
    let answer = raw(admin, &request(&head, "", admin)).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("database `postgress://user:***@x/db`"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("secret"), "{}", answer.body);

    // The same plan at start-up.
    let mut config = ProxyConfig::new(&plan);
    config.listen = common::free_addr();
    config.admin = Some(common::free_addr());
    config.signals = false;
    config.work_stealing = true;
    let error = refused_start(config).await.to_string();
    assert!(error.contains("postgress://user:***@x/db"), "{error}");
    assert!(!error.contains("secret"), "{error}");
}
