//! The admin API's front door: who may ask it anything, and which requests
//! a web page could have forged.
//!
//! Every admin request passes [`Guard::check`] before it is routed, in this
//! order, each refusal answered before the next check:
//!
//! 1. `Host` (or an absolute-form target's authority) names the admin API
//!    itself: its listen IP, any IP when it listens on `0.0.0.0`/`[::]`,
//!    `localhost` when it listens on loopback or everywhere, or a name in
//!    [`ProxyConfig::admin_hosts`]; the port is not compared, so a
//!    `kubectl port-forward` from another port works. Otherwise 421 (400
//!    without a `Host`). A DNS-rebinding page reaches the API under its
//!    own name, so it is refused here.
//! 2. No cross-origin request: an `Origin` header must be `http://` plus
//!    that very `Host`, and `Sec-Fetch-Site`, when sent, `same-origin` or
//!    `none`. Otherwise 403, whatever the token: a web page never moves
//!    traffic, even in a browser that holds the token.
//! 3. The bearer token ([`ProxyConfig::admin_token`]), when one is set:
//!    `Authorization: Bearer <token>`, compared in constant time, on every
//!    path but `/healthz` (liveness probes, such as Kubernetes', send no
//!    token; it tells only that the proxy is up and its generation).
//!    Otherwise 401 with `WWW-Authenticate: Bearer`.
//!
//! Writes (`POST /routes/stage`, `POST /reload`, `POST /fence`,
//! `POST /fence/release`) also need
//! `Content-Type: application/json` ([`json_only`], else 415): an HTML form
//! or a `no-cors` fetch cannot send it, and a page that asks for it must
//! pass a CORS preflight, which the admin API never grants.
//!
//! [`Guard::new`] refuses an admin address that is not loopback unless a
//! token is set, so the proxy does not start with its switch exposed.
//!
//! [`ProxyConfig::admin_hosts`]: crate::ProxyConfig::admin_hosts
//! [`ProxyConfig::admin_token`]: crate::ProxyConfig::admin_token

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use http::{HeaderMap, HeaderValue, StatusCode};
use pingora::http::RequestHeader;
use pingora::http::authority::raw_target_authority;

use crate::config::AdminToken;
use crate::error::ProxyError;

/// The environment variable the binary reads the admin token from.
pub const ADMIN_TOKEN_ENV: &str = "STRANGLER_ADMIN_TOKEN";

/// The realm named in `WWW-Authenticate`.
const CHALLENGE: &str = "Bearer realm=\"strangler admin\"";

/// The checks for one admin address.
#[derive(Debug)]
pub struct Guard {
    ip: IpAddr,
    token: Option<AdminToken>,
    hosts: Vec<String>,
}

/// Why a request was refused: its status, a message for the client and the
/// `WWW-Authenticate` challenge of a 401.
#[derive(Debug)]
pub struct Refusal {
    /// The status to answer with.
    pub status: StatusCode,
    /// What the client did wrong, and how to do it right.
    pub message: &'static str,
    /// The challenge of a 401.
    pub challenge: Option<HeaderValue>,
}

impl Guard {
    /// The checks for an admin API on `addr`; refused when `addr` is not a
    /// loopback address and there is no token.
    pub fn new(
        addr: SocketAddr,
        token: Option<AdminToken>,
        hosts: &[String],
    ) -> Result<Self, ProxyError> {
        let ip = addr.ip().to_canonical();
        if token.is_none() && !ip.is_loopback() {
            return Err(ProxyError::AdminExposed {
                addr: addr.to_string(),
            });
        }
        Ok(Self {
            ip,
            token,
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        })
    }

    /// Checks a request's Host, Origin and token; `open` paths (`/healthz`)
    /// need no token.
    pub fn check(&self, req: &RequestHeader, open: bool) -> Result<(), Refusal> {
        let host = authority(req)?;
        if !self.host_allowed(host) {
            return Err(refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "this is the strangler admin API; address it by its own IP, `localhost` or a name given with --admin-host",
            ));
        }
        if !same_origin(&req.headers, host) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "cross-origin requests to the admin API are refused",
            ));
        }
        match &self.token {
            Some(token) if !open => check_token(&req.headers, token),
            _ => Ok(()),
        }
    }

    /// Whether `authority` (`host[:port]`) names this admin API.
    fn host_allowed(&self, authority: &str) -> bool {
        let host = strip_port(authority);
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return self.ip.is_unspecified() || ip.to_canonical() == self.ip;
        }
        let host = host.to_ascii_lowercase();
        (host == "localhost" && (self.ip.is_loopback() || self.ip.is_unspecified()))
            || self.hosts.contains(&host)
    }
}

impl AdminToken {
    /// Reads the token from a file: its content, without the whitespace
    /// around it (such as the final newline).
    pub fn from_file(path: &Path) -> Result<Self, ProxyError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProxyError::AdminToken {
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        Self::new(text.trim()).map_err(|e| match e {
            ProxyError::AdminToken { reason } => ProxyError::AdminToken {
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    /// Whether `given` is the token, in time that depends on the token's
    /// length only, never on where `given` first differs.
    fn matches(&self, given: &[u8]) -> bool {
        let expected = self.secret().as_bytes();
        let mut diff = usize::from(given.len() != expected.len());
        for (i, e) in expected.iter().enumerate() {
            let g = given.get(i).copied().unwrap_or(!e);
            diff |= usize::from(g ^ e);
        }
        std::hint::black_box(diff) == 0
    }
}

/// Checks that a write carries `Content-Type: application/json` (with any
/// parameters, such as `; charset=utf-8`).
pub fn json_only(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut types = headers.get_all(CONTENT_TYPE).iter();
    let json = match (types.next(), types.next()) {
        (Some(value), None) => value.to_str().is_ok_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        }),
        _ => false,
    };
    if json {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "admin writes take `Content-Type: application/json`",
        ))
    }
}

/// The request's authority: an absolute-form target's (which pingora keeps
/// out of `uri`), else `Host`'s. pingora's HTTP/1 reader has already closed
/// connections with a second `Host`, a `Host` that differs from the
/// target's authority, or an ambiguous target.
fn authority(req: &RequestHeader) -> Result<&str, Refusal> {
    let authority = raw_target_authority(req.raw_path())
        .authority()
        .or_else(|| req.headers.get(HOST).map(HeaderValue::as_bytes));
    match authority.map(std::str::from_utf8) {
        Some(Ok(authority)) if !authority.trim().is_empty() => Ok(authority.trim()),
        _ => Err(bad_host()),
    }
}

fn bad_host() -> Refusal {
    refuse(
        StatusCode::BAD_REQUEST,
        "the admin API needs a `Host` header",
    )
}

/// `host` of `host:port`, `[v6]` of `[v6]:port`.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Whether no header says the request comes from another origin.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    let mut origins = headers.get_all(ORIGIN).iter();
    let origin_ok = match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => origin.to_str().is_ok_and(|o| {
            o.strip_prefix("http://")
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
        }),
        _ => false,
    };
    let site_ok = headers.get_all("sec-fetch-site").iter().all(|site| {
        site.to_str()
            .is_ok_and(|s| s.eq_ignore_ascii_case("same-origin") || s.eq_ignore_ascii_case("none"))
    });
    origin_ok && site_ok
}

fn check_token(headers: &HeaderMap, token: &AdminToken) -> Result<(), Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let given = match (values.next(), values.next()) {
        (None, _) => {
            return Err(Refusal {
                challenge: Some(HeaderValue::from_static(CHALLENGE)),
                ..refuse(
                    StatusCode::UNAUTHORIZED,
                    "the admin API needs `Authorization: Bearer <token>`",
                )
            });
        }
        (Some(value), None) => bearer(value.as_bytes()),
        _ => None,
    };
    if given.is_some_and(|given| token.matches(given)) {
        return Ok(());
    }
    Err(Refusal {
        challenge: Some(HeaderValue::from_static(
            "Bearer realm=\"strangler admin\", error=\"invalid_token\"",
        )),
        ..refuse(StatusCode::UNAUTHORIZED, "wrong admin token")
    })
}

/// The credentials of `Bearer <credentials>`.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    Some(rest.trim_ascii())
}

fn refuse(status: StatusCode, message: &'static str) -> Refusal {
    Refusal {
        status,
        message,
        challenge: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(t: &str) -> AdminToken {
        AdminToken::new(t).unwrap()
    }

    #[test]
    fn tokens_match_exactly() {
        let t = token("0123456789abcdef");
        assert!(t.matches(b"0123456789abcdef"));
        assert!(!t.matches(b"0123456789abcdeF"));
        assert!(!t.matches(b"0123456789abcde"));
        assert!(!t.matches(b"0123456789abcdef0"));
        assert!(!t.matches(b""));
    }

    #[test]
    fn bearer_credentials() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
    }

    #[test]
    fn hosts_of_the_admin_address() {
        let check = |addr: &str, host: &str| {
            let guard = Guard::new(
                addr.parse().unwrap(),
                Some(token("0123456789abcdef")),
                &["admin.internal".to_owned()],
            )
            .unwrap();
            guard.host_allowed(host)
        };
        assert!(check("127.0.0.1:9900", "127.0.0.1:9900"));
        assert!(check("127.0.0.1:9900", "127.0.0.1:19900"));
        assert!(check("127.0.0.1:9900", "LOCALHOST:9900"));
        assert!(check("127.0.0.1:9900", "admin.internal"));
        assert!(!check("127.0.0.1:9900", "10.0.0.1:9900"));
        assert!(!check("127.0.0.1:9900", "evil.example:9900"));
        assert!(!check("127.0.0.1:9900", "localhost.evil.example"));
        assert!(check("[::1]:9900", "[::1]:9900"));
        assert!(check("[::1]:9900", "localhost"));
        assert!(!check("[::1]:9900", "127.0.0.1:9900"));
        assert!(check("0.0.0.0:9900", "10.0.0.1:9900"));
        assert!(check("0.0.0.0:9900", "[fe80::1]:9900"));
        assert!(!check("0.0.0.0:9900", "evil.example:9900"));
        assert!(check("10.0.0.1:9900", "10.0.0.1"));
        assert!(!check("10.0.0.1:9900", "localhost:9900"));
    }

    #[test]
    fn an_exposed_address_needs_a_token() {
        let exposed = Guard::new("0.0.0.0:9900".parse().unwrap(), None, &[]);
        assert!(matches!(exposed, Err(ProxyError::AdminExposed { .. })));
        assert!(Guard::new("[::1]:9900".parse().unwrap(), None, &[]).is_ok());
        assert!(Guard::new("[::ffff:127.0.0.1]:9900".parse().unwrap(), None, &[]).is_ok());
    }
}
