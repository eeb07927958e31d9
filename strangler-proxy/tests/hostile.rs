//! Hostile requests over raw loopback sockets through the real proxy (issue
//! 15): path spellings, absolute-form targets, forged `x-strangler-*`
//! headers, missing and invalid `Host`, transfer codings and the error
//! pages. One table of cases; each is request bytes in, and one `check`
//! asserts both what the client got and what each upstream received.

mod common;

use std::time::Duration;

use common::{Backend, backend, proxy, silent, write_plan};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// `200` from `upstream`, which received `path` with this `Host` (and
    /// the same `X-Forwarded-Host`), or no `Host` at all.
    Forwarded {
        upstream: &'static str,
        path: &'static str,
        host: Option<&'static str>,
    },
    /// The proxy answered with this status and its fixed page (a short
    /// text and the request id); no upstream that records saw the request.
    Page(u16),
    /// pingora refused the request with this status while reading its
    /// header, before any strangler callback; no upstream saw it.
    Pingora(u16),
}

struct Case {
    what: &'static str,
    request: String,
    want: Want,
}

const HOST: &str = "Host: shop.example\r\n";

fn case(what: &'static str, request: impl Into<String>, want: Want) -> Case {
    Case {
        what,
        request: request.into(),
        want,
    }
}

/// `GET target` over HTTP/1.1 with these header lines.
fn get(target: &str, headers: &str) -> String {
    format!("GET {target} HTTP/1.1\r\n{headers}\r\n")
}

fn to(upstream: &'static str, path: &'static str, host: &'static str) -> Want {
    Want::Forwarded {
        upstream,
        path,
        host: Some(host),
    }
}

fn shop(upstream: &'static str, path: &'static str) -> Want {
    to(upstream, path, "shop.example")
}

/// A service that answers every request with a malformed status line that
/// carries bytes a client must never see.
async fn broken_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 2OO secret-internal-bytes\r\nX-Leak: yes\r\n\r\n")
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// Sends `request` with `X-Case: n` and `Connection: close` added after its
/// request line, reads the answer to the end, and checks it and what every
/// upstream received against `case.want`.
async fn check(proxy: &str, upstreams: &[(&str, &Backend)], n: usize, case: &Case) {
    let what = case.what;
    let line_end = case.request.find("\r\n").map_or(0, |i| i + 2);
    let request = format!(
        "{}X-Case: {n}\r\nConnection: close\r\n{}",
        &case.request[..line_end],
        &case.request[line_end..]
    );
    let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    // The proxy may answer and close before it has read everything; the
    // answer is the point, so a failed write is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut got = Vec::new();
    // A guard against a hang, not a synchronisation: the proxy closes.
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await
            && n > 0
        {
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: no end of the answer in 20 s"));
    let answer = String::from_utf8_lossy(&got);
    let status: u16 = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no status line in {answer:?}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let head = head.to_ascii_lowercase();

    // Nothing internal ever reaches a client.
    for secret in ["127.0.0.1", "secret-internal-bytes", "x-leak"] {
        assert!(!answer.contains(secret), "{what}: {secret} in {answer:?}");
    }
    let marker = format!("{n}");
    let saw: Vec<(&str, common::Seen)> = upstreams
        .iter()
        .flat_map(|(name, b)| {
            b.seen()
                .into_iter()
                .filter(|s| {
                    s.headers
                        .get("x-case")
                        .is_some_and(|v| v == marker.as_str())
                })
                .map(move |s| (*name, s))
        })
        .collect();

    match case.want {
        Want::Forwarded {
            upstream,
            path,
            host,
        } => {
            assert_eq!(status, 200, "{what}: {answer:?}");
            assert!(
                head.contains(&format!("\r\nx-strangler-target: {upstream}")),
                "{what}: {head}"
            );
            let [(name, seen)] = saw.as_slice() else {
                panic!(
                    "{what}: expected {upstream} alone, got {:?}",
                    saw.iter().map(|(n, s)| (n, &s.path)).collect::<Vec<_>>()
                );
            };
            assert_eq!(*name, upstream, "{what}");
            assert_eq!(seen.path, path, "{what}");
            let method = case.request.split(' ').next().unwrap_or("");
            assert_eq!(body, format!("{upstream} {method} {path}"), "{what}");
            let header = |name: &str| seen.headers.get(name).map(|v| v.to_str().unwrap());
            assert_eq!(header("host"), host, "{what}: Host");
            assert_eq!(header("x-forwarded-host"), host, "{what}: X-Forwarded-Host");
            let internal: Vec<_> = seen
                .headers
                .keys()
                .filter(|k| k.as_str().starts_with("x-strangler-"))
                .collect();
            assert!(internal.is_empty(), "{what}: {internal:?} reached {name}");
        }
        Want::Page(want) => {
            assert_eq!(status, want, "{what}: {answer:?}");
            assert!(saw.is_empty(), "{what}: reached {:?}", saw[0].0);
            let id = body
                .strip_prefix("strangler: ")
                .and_then(|b| b.rsplit_once("(request "))
                .and_then(|(_, id)| id.strip_suffix(")\n"))
                .unwrap_or_else(|| panic!("{what}: not a fixed page: {body:?}"));
            assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{what}: request id {id:?}"
            );
        }
        Want::Pingora(want) => {
            assert_eq!(status, want, "{what}: {answer:?}");
            assert!(saw.is_empty(), "{what}: reached {:?}", saw[0].0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_normalised_or_refused() {
    let mono = backend("monolith").await;
    let catalog = backend("catalog").await;
    let billing = backend("billing").await;
    let beta = backend("beta").await;
    let broken = broken_upstream().await;
    let (hanging, _) = silent().await;
    let dir = tempfile::tempdir().unwrap();
    let services = format!(
        "[[service]]\nname = \"catalog\"\nupstream = \"{}\"\n  [[service.route]]\n  path = \"/api/products/{{id}}\"\n  stage = \"live\"\n\n\
         [[service]]\nname = \"billing\"\nupstream = \"{}\"\n  [[service.route]]\n  path = \"/api/billing/{{*rest}}\"\n  stage = \"live\"\n\n\
         [[service]]\nname = \"beta\"\nupstream = \"{}\"\n  [[service.route]]\n  path = \"/api/beta/{{id}}\"\n  stage = \"live\"\n  host = \"beta.example.com\"\n\n\
         [[service]]\nname = \"broken\"\nupstream = \"{broken}\"\n  [[service.route]]\n  path = \"/api/broken/{{id}}\"\n  stage = \"live\"\n\n\
         [[service]]\nname = \"hanging\"\nupstream = \"http://{hanging}\"\n  [[service.route]]\n  path = \"/api/hanging/{{id}}\"\n  stage = \"live\"\n",
        catalog.url(),
        billing.url(),
        beta.url(),
    );
    let plan = write_plan(dir.path(), &mono.url(), &services);
    // The read timeout is what the 504 case waits for; every other answer
    // comes in milliseconds.
    let p = proxy(plan, |c| c.timeouts.read = Some(Duration::from_secs(1))).await;
    let upstreams = [
        ("monolith", &mono),
        ("catalog", &catalog),
        ("billing", &billing),
        ("beta", &beta),
    ];

    let gzip_body = "5\r\nhello\r\n0\r\n\r\n";
    // One line per case.
    #[rustfmt::skip]
    let cases = [
        // 1. Routing on the normalised path (RFC 3986 §6.2.2, §5.2.4).
        case("plain", get("/api/products/7", HOST), shop("catalog", "/api/products/7")),
        case("dot-dot", get("/api/x/../products/7", HOST), shop("catalog", "/api/products/7")),
        case("dot", get("/api/./products/7", HOST), shop("catalog", "/api/products/7")),
        case("encoded unreserved", get("/%61pi/products/7", HOST), shop("catalog", "/api/products/7")),
        case("out of billing's prefix", get("/api/billing/../products/7", HOST), shop("catalog", "/api/products/7")),
        case("encoded dot-dot out of billing", get("/api/billing/%2e%2e/products/7", HOST), shop("catalog", "/api/products/7")),
        case("mixed-case half-encoded dot-dot", get("/api/billing/.%2E/products/7", HOST), shop("catalog", "/api/products/7")),
        case("into billing's prefix", get("/api/products/7/../../billing/x", HOST), shop("billing", "/api/billing/x")),
        case("above the root", get("/../../api/products/7", HOST), shop("catalog", "/api/products/7")),
        case("double slashes merge", get("/api//products///7", HOST), shop("catalog", "/api/products/7")),
        case("leading double slash", get("//api/products/7", HOST), shop("catalog", "/api/products/7")),
        case("other encodings kept, hex upper-cased", get("/api/billing/a%3bb/%7euser", HOST), shop("billing", "/api/billing/a%3Bb/~user")),
        case("asterisk-form", format!("OPTIONS * HTTP/1.1\r\n{HOST}\r\n"), shop("monolith", "*")),
        case("unmatched stays with the monolith", get("/elsewhere/./x", HOST), shop("monolith", "/elsewhere/x")),
        case("encoded slash", get("/api/billing%2F..%2Fproducts/7", HOST), Want::Page(400)),
        case("encoded slash in a dot-dot", get("/api/billing/..%2fproducts/7", HOST), Want::Page(400)),
        case("encoded backslash", get("/api/billing/..%5Cproducts/7", HOST), Want::Page(400)),
        case("raw backslash", get("/api/billing/..\\products/7", HOST), Want::Page(400)),
        case("encoded NUL", get("/api/products/7%00.json", HOST), Want::Page(400)),
        case("malformed percent-encoding", get("/api/products/%zz", HOST), Want::Page(400)),
        case("path parameter stays, routing ignores it", get("/api/products;v=1/7", HOST), shop("catalog", "/api/products;v=1/7")),
        case("jsessionid on the last segment", get("/api/products/7;jsessionid=x", HOST), shop("catalog", "/api/products/7;jsessionid=x")),
        case("dot-dot with a parameter", get("/api/billing/..;/products/7", HOST), shop("catalog", "/api/products/7")),
        case("parameter without a segment", get("/api/;x/products/7", HOST), Want::Page(400)),
        // 2. Absolute-form targets (RFC 9112 §3.2.2).
        case("absolute-form, no Host", get("http://beta.example.com/api/beta/3", ""), to("beta", "/api/beta/3", "beta.example.com")),
        case("absolute-form, same Host", get("http://beta.example.com/api/beta/3", "Host: beta.example.com\r\n"), to("beta", "/api/beta/3", "beta.example.com")),
        case("absolute-form, normalised", get("http://beta.example.com/api/x/../beta/%33", ""), to("beta", "/api/beta/3", "beta.example.com")),
        case("absolute-form to the monolith", get("http://shop.example/./x", ""), shop("monolith", "/x")),
        case("absolute-form, other Host (pingora is stricter than §3.2.2)", get("http://beta.example.com/api/beta/3", HOST), Want::Pingora(400)),
        case("absolute-form, not http", get("ftp://beta.example.com/api/beta/3", ""), Want::Page(400)),
        case("host route by Host", get("/api/beta/./3", "Host: BETA.example.com\r\n"), to("beta", "/api/beta/3", "BETA.example.com")),
        case("host route, other host", get("/api/beta/3", HOST), shop("monolith", "/api/beta/3")),
        // 3. Forged proxy headers are stripped.
        case("forged shadow marker on a live route", get("/api/products/7", "Host: shop.example\r\nX-Strangler-Shadow: 1\r\nx-strangler-target: billing\r\n"), shop("catalog", "/api/products/7")),
        case("forged shadow marker to the monolith", get("/other", "Host: shop.example\r\nX-STRANGLER-SHADOW: 1\r\n"), shop("monolith", "/other")),
        // 6. Error pages: fixed text and request id, detail in the log.
        case("upstream silent past the read timeout", format!("POST /api/hanging/1 HTTP/1.1\r\n{HOST}Content-Length: 0\r\n\r\n"), Want::Page(504)),
        case("malformed upstream status line", format!("POST /api/broken/1 HTTP/1.1\r\n{HOST}Content-Length: 0\r\n\r\n"), Want::Page(502)),
        // 11. Host is required in HTTP/1.1 (RFC 9112 §3.2).
        case("HTTP/1.1 without Host", get("/api/products/7", ""), Want::Page(400)),
        case("HTTP/1.0 without Host", "GET /api/products/7 HTTP/1.0\r\n\r\n", Want::Forwarded { upstream: "catalog", path: "/api/products/7", host: None }),
        case("two Hosts", get("/", "Host: a.example\r\nHost: b.example\r\n"), Want::Pingora(400)),
        // 12. Host syntax (RFC 3986 §3.2.2 host, §3.2.3 port).
        case("Host with a path", get("/api/products/7", "Host: shop.example/../admin\r\n"), Want::Page(400)),
        case("Host with a space", get("/api/products/7", "Host: shop example\r\n"), Want::Page(400)),
        case("empty Host", get("/api/products/7", "Host: \r\n"), Want::Page(400)),
        case("Host with a bad port", get("/api/products/7", "Host: shop.example:80x\r\n"), Want::Page(400)),
        case("Host with a big port", get("/api/products/7", "Host: shop.example:65536\r\n"), Want::Page(400)),
        case("Host with userinfo", get("/api/products/7", "Host: user@shop.example\r\n"), Want::Pingora(400)),
        case("Host with a port", get("/api/products/7", "Host: shop.example:8000\r\n"), to("catalog", "/api/products/7", "shop.example:8000")),
        case("Host as IPv6 literal", get("/api/products/7", "Host: [::1]:8000\r\n"), to("catalog", "/api/products/7", "[::1]:8000")),
        // 13. Transfer codings other than one final chunked (RFC 9112 §6.1).
        case("gzip, chunked", format!("POST /api/products/7 HTTP/1.1\r\n{HOST}Transfer-Encoding: gzip, chunked\r\n\r\n{gzip_body}"), Want::Page(501)),
        case("gzip then chunked in two fields", format!("POST /api/products/7 HTTP/1.1\r\n{HOST}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n{gzip_body}"), Want::Page(501)),
        case("chunked twice", format!("POST /api/products/7 HTTP/1.1\r\n{HOST}Transfer-Encoding: chunked, chunked\r\n\r\n{gzip_body}"), Want::Page(400)),
        case("chunked, gzip (pingora: final coding not chunked)", format!("POST /api/products/7 HTTP/1.1\r\n{HOST}Transfer-Encoding: chunked, gzip\r\n\r\n{gzip_body}"), Want::Pingora(400)),
        case("CONNECT", "CONNECT shop.example:443 HTTP/1.1\r\nHost: shop.example:443\r\n\r\n", Want::Pingora(405)),
        case("plain chunked", format!("POST /api/products/7 HTTP/1.1\r\n{HOST}Transfer-Encoding: chunked\r\n\r\n{gzip_body}"), shop("catalog", "/api/products/7")),
    ];
    for (n, c) in cases.iter().enumerate() {
        check(&p.addr, &upstreams, n, c).await;
    }
    // The plain chunked body arrived whole.
    let seen = catalog.seen();
    assert!(seen.iter().any(|s| s.method == "POST" && s.body == "hello"));
}
