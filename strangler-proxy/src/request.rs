//! What a request must look like before the route table sees it: the
//! request target normalised (RFC 3986 §6.2.2, dot segments by §5.2.4), an
//! absolute-form target turned into origin-form with its authority as `Host`
//! (RFC 9112 §3.2.2), `Host` required and well formed (RFC 9112 §3.2, RFC
//! 3986 §3.2.2), transfer codings limited to one final `chunked` (RFC 9112
//! §6.1), and the proxy's own `x-strangler-*` headers removed. Pure
//! functions over a [`RequestHeader`], no I/O; `proxy.rs` calls [`prepare`]
//! first thing and routes on [`route_path`].
//!
//! The path rules, in order:
//! 1. A `%` must start a `%HH` triplet. Triplets of unreserved characters
//!    (`A-Z a-z 0-9 - . _ ~`) are decoded, the others are kept with upper
//!    case hex digits (§6.2.2.1, §6.2.2.2).
//! 2. An encoded `/` (`%2F`), `\` (`%5C`) or NUL (`%00`), and a raw `\`, are
//!    refused: upstreams disagree on whether they separate segments, so no
//!    single reading of them is safe to route on.
//! 3. Empty segments are merged (`//` becomes `/`, as nginx's default
//!    `merge_slashes` does): RFC 3986 keeps them distinct, but most upstream
//!    frameworks do not, and the proxy must route the path the upstream will
//!    serve.
//! 4. Dot segments are removed (§5.2.4): `/a/./b` is `/a/b`, `/a/x/../b` is
//!    `/a/b`, a `..` above the root stays at the root.
//! 5. `;` parameters (`/a;v=1/b`) stay on their segment in the forwarded
//!    path, but routing ignores them ([`route_path`]), as servlet containers
//!    do; a segment whose name before the `;` is `.` or `..` is a dot
//!    segment (its parameters go with it), and a segment with parameters
//!    but no name (`/;x/`) is refused.
//!
//! The query is forwarded untouched. The result is what both the route
//! table and the upstream see.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use http::header::{HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Version};
use pingora::http::RequestHeader;
use pingora::http::authority::{RawTargetAuthority, is_http_family_scheme, raw_target_authority};

/// Why a request is refused before routing; the reason is a fixed text that
/// is safe to show the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400 Bad Request.
    BadRequest(&'static str),
    /// 501 Not Implemented.
    NotImplemented(&'static str),
    /// 503 Service Unavailable, with `Retry-After`: a write whose tables
    /// the route's service owns, while that service is down. The
    /// monolith's copy of the tables is fenced (or retired), so the write
    /// has nowhere else to go.
    OwnerUnavailable(&'static str),
}

/// Why a write to an owned table is refused while its service is down.
pub const OWNER_UNAVAILABLE: Refusal = Refusal::OwnerUnavailable(
    "the service that owns the tables this request writes is unavailable; retry later",
);

/// The `Retry-After` seconds of an [`Refusal::OwnerUnavailable`] answer:
/// about the time a restarted service takes to pass its health check.
pub const OWNER_RETRY_AFTER_SECS: u32 = 5;

impl Refusal {
    /// The HTTP status to answer with.
    #[must_use]
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::NotImplemented(_) => 501,
            Refusal::OwnerUnavailable(_) => 503,
        }
    }

    /// Why, in a few words.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadRequest(why)
            | Refusal::NotImplemented(why)
            | Refusal::OwnerUnavailable(why) => why,
        }
    }
}

/// The prefix of the headers the proxy sets itself (`x-strangler-shadow` on
/// shadow copies, `x-strangler-target` on answers). A client cannot send
/// them: the whole namespace is the proxy's, so a later marker is covered
/// too.
pub const INTERNAL_PREFIX: &str = "x-strangler-";

/// Checks `req` and rewrites it in place into what is routed and forwarded:
/// the proxy's own headers removed, the target normalised to origin-form,
/// an absolute-form authority moved to `Host`. Refuses what cannot be made
/// safe.
pub fn prepare(req: &mut RequestHeader) -> Result<(), Refusal> {
    strip_internal_headers(req);
    check_transfer_encoding(&req.headers)?;
    let absolute = match raw_target_authority(req.raw_path()) {
        RawTargetAuthority::None => None,
        RawTargetAuthority::AmbiguousAuthority => {
            return Err(Refusal::BadRequest("ambiguous request target"));
        }
        RawTargetAuthority::Absolute {
            scheme, authority, ..
        } => {
            if !is_http_family_scheme(scheme) {
                return Err(Refusal::BadRequest("request target is not an http URI"));
            }
            if !valid_authority(authority) {
                return Err(Refusal::BadRequest(
                    "invalid authority in the request target",
                ));
            }
            Some(
                HeaderValue::from_bytes(authority)
                    .map_err(|_| Refusal::BadRequest("invalid authority in the request target"))?,
            )
        }
    };
    if let Some(authority) = req.uri.authority()
        && !valid_authority(authority.as_str().as_bytes())
    {
        return Err(Refusal::BadRequest("invalid authority"));
    }
    match req.headers.get(HOST) {
        Some(host) if !valid_authority(host.as_bytes()) => {
            return Err(Refusal::BadRequest("invalid Host"));
        }
        None if absolute.is_none()
            && req.uri.authority().is_none()
            && req.version == Version::HTTP_11 =>
        {
            return Err(Refusal::BadRequest("missing Host"));
        }
        _ => {}
    }
    if !req.raw_path_is_utf8() {
        return Err(Refusal::BadRequest("request target is not ASCII"));
    }
    let path = req.uri.path();
    let normal = if path == "*" && req.method == Method::OPTIONS {
        Cow::Borrowed(path)
    } else {
        normalize_path(path)?
    };
    if absolute.is_some() || matches!(normal, Cow::Owned(_)) {
        let path_and_query = match req.uri.query() {
            Some(query) => format!("{normal}?{query}"),
            None => normal.into_owned(),
        };
        let mut parts = req.uri.clone().into_parts();
        parts.path_and_query = Some(
            path_and_query
                .parse()
                .map_err(|_| Refusal::BadRequest("invalid request target"))?,
        );
        let uri = http::Uri::from_parts(parts)
            .map_err(|_| Refusal::BadRequest("invalid request target"))?;
        req.set_uri(uri);
    }
    if let Some(authority) = absolute {
        req.insert_header(HOST, authority)
            .map_err(|_| Refusal::BadRequest("invalid authority in the request target"))?;
    }
    Ok(())
}

/// The path as a route sees it: `path` (already normalised) without the
/// `;` parameters of its segments.
#[must_use]
pub fn route_path(path: &str) -> Cow<'_, str> {
    if !path.contains(';') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(segment_name(segment));
    }
    Cow::Owned(out)
}

/// Normalises an origin-form path (it starts with `/`) by the rules in the
/// module doc; borrowed when nothing changes.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, Refusal> {
    let Some(body) = path.strip_prefix('/') else {
        return Err(Refusal::BadRequest("request target is not a path"));
    };
    // The common case, without allocating: nothing to decode or refuse, no
    // empty segment, no segment starting with `.` or `;`.
    if !path.contains(['%', '\\']) && !["//", "/.", "/;"].iter().any(|p| path.contains(p)) {
        return Ok(Cow::Borrowed(path));
    }
    resolve(path, body)
}

/// Whether `authority` is `host [ ":" port ]` by RFC 3986 §3.2.2–3.2.3: a
/// bracketed IPv6 (or `vX.` future) literal, or a non-empty reg-name
/// (which covers IPv4 addresses) of unreserved characters, sub-delims and
/// `%HH` triplets; the port, when present, up to 65535 (it may be empty, as
/// §3.2.3 allows). No userinfo, no path, no spaces.
#[must_use]
pub fn valid_authority(authority: &[u8]) -> bool {
    let port = if authority.first() == Some(&b'[') {
        let Some(end) = authority.iter().position(|&b| b == b']') else {
            return false;
        };
        if !valid_ip_literal(&authority[1..end]) {
            return false;
        }
        &authority[end + 1..]
    } else {
        let end = authority
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(authority.len());
        if end == 0 || !valid_reg_name(&authority[..end]) {
            return false;
        }
        &authority[end..]
    };
    match port {
        [] | [b':'] => true,
        [b':', digits @ ..] => {
            digits.len() <= 5
                && digits.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(digits).is_ok_and(|d| d.parse::<u16>().is_ok())
        }
        _ => false,
    }
}

/// Refuses transfer codings other than one final `chunked`: another coding
/// (`gzip, chunked`) is 501, as RFC 9112 §6.1 suggests for a coding the
/// server does not understand; `chunked` twice is 400. pingora itself
/// already refuses a final coding other than `chunked`.
pub fn check_transfer_encoding(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut chunked = 0;
    for coding in headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty())
    {
        if coding.eq_ignore_ascii_case(b"chunked") {
            chunked += 1;
        } else {
            return Err(Refusal::NotImplemented(
                "a transfer coding other than chunked",
            ));
        }
    }
    if chunked > 1 {
        return Err(Refusal::BadRequest("chunked applied more than once"));
    }
    Ok(())
}

/// Removes every header whose name starts with [`INTERNAL_PREFIX`].
pub fn strip_internal_headers(req: &mut RequestHeader) {
    let internal = |name: &http::HeaderName| name.as_str().starts_with(INTERNAL_PREFIX);
    if !req.headers.keys().any(internal) {
        return;
    }
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|n| internal(n))
        .cloned()
        .collect();
    for name in names {
        req.remove_header(&name);
    }
}

/// The whole of [`normalize_path`] on `path`, whose `body` follows the
/// leading `/`.
fn resolve<'a>(path: &'a str, body: &str) -> Result<Cow<'a, str>, Refusal> {
    let decoded = decode_unreserved(body)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let mut pieces = decoded.split('/').peekable();
    while let Some(segment) = pieces.next() {
        let last = pieces.peek().is_none();
        if segment.is_empty() {
            trailing_slash |= last;
            continue;
        }
        match segment_name(segment) {
            "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            "" => return Err(Refusal::BadRequest("path parameters without a segment")),
            _ => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok(if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    })
}

/// The part of a path segment before its `;` parameters.
fn segment_name(segment: &str) -> &str {
    segment.split_once(';').map_or(segment, |(name, _)| name)
}

/// Decodes `%HH` triplets of unreserved characters, upper-cases the hex
/// digits of the others, and refuses malformed triplets, encoded `/`, `\`
/// and NUL, and a raw `\`.
fn decode_unreserved(s: &str) -> Result<Cow<'_, str>, Refusal> {
    if !s.bytes().any(|b| b == b'%' || b == b'\\') {
        return Ok(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(Refusal::BadRequest("backslash in the path")),
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(Refusal::BadRequest("malformed percent-encoding"));
                };
                let byte = hi << 4 | lo;
                if matches!(byte, b'/' | b'\\' | 0) {
                    return Err(Refusal::BadRequest(
                        "encoded slash, backslash or NUL in the path",
                    ));
                }
                if is_unreserved(byte) {
                    out.push(byte);
                } else {
                    out.extend_from_slice(&[b'%', HEX[usize::from(hi)], HEX[usize::from(lo)]]);
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were added or replaced, so the result is UTF-8 when
    // the input was.
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| Refusal::BadRequest("request target is not ASCII"))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2.
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`.
fn valid_reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'%' => {
                if !(name.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && name.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
            }
            b if is_unreserved(b) || is_sub_delim(b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The inside of `[...]`: an IPv6 address, or
/// `"v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn valid_ip_literal(inner: &[u8]) -> bool {
    match inner {
        [b'v' | b'V', rest @ ..] => {
            let Some(dot) = rest.iter().position(|&b| b == b'.') else {
                return false;
            };
            let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
            !version.is_empty()
                && version.iter().all(u8::is_ascii_hexdigit)
                && !tail.is_empty()
                && tail
                    .iter()
                    .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
        }
        _ => std::str::from_utf8(inner).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn normal(path: &str) -> Result<String, Refusal> {
        normalize_path(path).map(Cow::into_owned)
    }

    #[test]
    fn paths_are_normalised_or_refused() {
        let bad = |why| Err(Refusal::BadRequest(why));
        let enc = "encoded slash, backslash or NUL in the path";
        for (path, want) in [
            ("/api/products/7", Ok("/api/products/7")),
            ("/", Ok("/")),
            ("/api/x/../products/7", Ok("/api/products/7")),
            ("/api/./products/7", Ok("/api/products/7")),
            ("/%61pi/products/7", Ok("/api/products/7")),
            ("/api/billing/../products/7", Ok("/api/products/7")),
            ("/api/billing/%2e%2e/products/7", Ok("/api/products/7")),
            ("/api/billing/%2E./products/7", Ok("/api/products/7")),
            ("/api/billing/.%2e/products/7", Ok("/api/products/7")),
            ("/api//products///7", Ok("/api/products/7")),
            ("//api/products/7", Ok("/api/products/7")),
            ("/a/b/", Ok("/a/b/")),
            ("/a/b//", Ok("/a/b/")),
            ("/a/b/.", Ok("/a/b/")),
            ("/a/b/..", Ok("/a/")),
            ("/a/b/../", Ok("/a/")),
            ("/..", Ok("/")),
            ("/../../etc/passwd", Ok("/etc/passwd")),
            ("/a/...", Ok("/a/...")),
            ("/a/.b/..c", Ok("/a/.b/..c")),
            ("/a%20b/%7euser", Ok("/a%20b/~user")),
            ("/q%3fx/%3b", Ok("/q%3Fx/%3B")),
            ("/a;v=1/b", Ok("/a;v=1/b")),
            ("/api/billing/..;x/products/7", Ok("/api/products/7")),
            ("/a/.;x/b", Ok("/a/b")),
            ("/a/;x/b", bad("path parameters without a segment")),
            ("/api/billing%2F..%2Fproducts/7", bad(enc)),
            ("/api/billing%2f..%2fproducts/7", bad(enc)),
            ("/a%5Cb", bad(enc)),
            ("/a%00b", bad(enc)),
            ("/a\\..\\b", bad("backslash in the path")),
            ("/a%zz", bad("malformed percent-encoding")),
            ("/a%4", bad("malformed percent-encoding")),
            ("/a%", bad("malformed percent-encoding")),
            ("api", bad("request target is not a path")),
        ] {
            assert_eq!(normal(path).as_deref(), want.as_deref(), "{path}");
        }
        assert!(matches!(
            normalize_path("/api/products/7"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn routes_ignore_path_parameters() {
        assert_eq!(route_path("/api/products/7"), "/api/products/7");
        assert_eq!(
            route_path("/api/products;v=2/7;jsessionid=x"),
            "/api/products/7"
        );
        assert_eq!(route_path("/a/b;c/"), "/a/b/");
    }

    #[test]
    fn authorities_follow_rfc_3986() {
        for good in [
            "shop.example",
            "shop.example:8080",
            "shop.example:",
            "SHOP.Example.",
            "10.0.0.1:80",
            "[::1]",
            "[::1]:8000",
            "[2001:db8::7]:443",
            "[v1.fe80::a+en1]",
            "under_score.example",
            "a%41b",
            "sub!delims$&'()*+,;=",
            "x:65535",
        ] {
            assert!(valid_authority(good.as_bytes()), "{good}");
        }
        for bad in [
            "",
            ":80",
            "shop.example/../admin",
            "shop example",
            "shop.example:80:80",
            "shop.example:http",
            "shop.example:65536",
            "shop.example:000080",
            "user@shop.example",
            "[::1",
            "[::1]x",
            "[not-ipv6]",
            "[v.x]",
            "a%4",
            "a%zzb",
            "tab\there",
            "shop.example\r\nX-Evil: 1",
            "caf\u{e9}.example",
            "a\"b",
            "a<b>",
        ] {
            assert!(!valid_authority(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn transfer_codings_other_than_chunked_are_refused() {
        let check = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(TRANSFER_ENCODING, HeaderValue::from_str(v).unwrap());
            }
            check_transfer_encoding(&headers)
        };
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(check(&["chunked"]), Ok(()));
        assert_eq!(check(&["Chunked"]), Ok(()));
        assert_eq!(check(&[" , chunked"]), Ok(()));
        let other = Err(Refusal::NotImplemented(
            "a transfer coding other than chunked",
        ));
        assert_eq!(check(&["gzip, chunked"]), other);
        assert_eq!(check(&["gzip", "chunked"]), other);
        assert_eq!(check(&["identity"]), other);
        assert_eq!(
            check(&["chunked, chunked"]),
            Err(Refusal::BadRequest("chunked applied more than once"))
        );
    }

    fn request(target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    #[test]
    fn requests_are_prepared_in_place() {
        let mut req = request(
            "/api/x/../products/7?b=%2e&a",
            &[
                ("host", "shop.example"),
                ("x-strangler-shadow", "1"),
                ("X-Strangler-Target", "svc"),
                ("x-stranglers", "kept"),
            ],
        );
        prepare(&mut req).unwrap();
        assert_eq!(req.uri.to_string(), "/api/products/7?b=%2e&a");
        assert_eq!(req.raw_path(), b"/api/products/7?b=%2e&a");
        assert!(req.headers.get("x-strangler-shadow").is_none());
        assert!(req.headers.get("x-strangler-target").is_none());
        assert_eq!(req.headers["x-stranglers"], "kept");

        let mut req = request("http://beta.example.com/api/beta/3", &[]);
        prepare(&mut req).unwrap();
        assert_eq!(req.raw_path(), b"/api/beta/3");
        assert_eq!(req.headers[HOST], "beta.example.com");

        let mut req = request("http://beta.example.com", &[]);
        prepare(&mut req).unwrap();
        assert_eq!(req.raw_path(), b"/");

        let mut req = request("/", &[]);
        assert_eq!(prepare(&mut req), Err(Refusal::BadRequest("missing Host")));
        req.set_version(Version::HTTP_10);
        assert_eq!(prepare(&mut req), Ok(()));

        for host in ["shop.example/../admin", "shop example", ""] {
            let mut req = request("/", &[("host", host)]);
            assert_eq!(
                prepare(&mut req),
                Err(Refusal::BadRequest("invalid Host")),
                "{host}"
            );
        }
        let mut req = request("ftp://files.example/x", &[]);
        assert_eq!(
            prepare(&mut req),
            Err(Refusal::BadRequest("request target is not an http URI"))
        );
        // HTTP/2: the authority stays in the URI (`:authority`).
        let mut req = request("/", &[]);
        req.set_uri("https://shop.example/a/./b/../c?q".parse().unwrap());
        req.set_version(Version::HTTP_2);
        prepare(&mut req).unwrap();
        assert_eq!(req.uri.to_string(), "https://shop.example/a/c?q");
        req.set_uri("https://shop.example:99999/".parse().unwrap());
        assert_eq!(
            prepare(&mut req),
            Err(Refusal::BadRequest("invalid authority"))
        );

        let mut req = request("*", &[("host", "a")]);
        req.set_method(Method::OPTIONS);
        assert_eq!(prepare(&mut req), Ok(()));
        assert_eq!(req.raw_path(), b"*");
    }

    /// Paths built from pieces that exercise every rule.
    fn path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("a".to_owned()),
            Just("api".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("%2e".to_owned()),
            Just("%2E%2e".to_owned()),
            Just("%61".to_owned()),
            Just("%7e".to_owned()),
            Just("%3b".to_owned()),
            Just("%20".to_owned()),
            Just(";v=1".to_owned()),
            Just("x;y".to_owned()),
            Just(String::new()),
            "[a-z0-9._~-]{1,3}",
        ];
        prop::collection::vec(piece, 0..8).prop_map(|pieces| format!("/{}", pieces.join("/")))
    }

    proptest! {
        #[test]
        fn normalising_twice_is_normalising_once(p in path()) {
            if let Ok(once) = normal(&p) {
                prop_assert_eq!(normal(&once), Ok(once.clone()));
                prop_assert!(matches!(normalize_path(&once), Ok(Cow::Borrowed(_))));
            }
        }

        #[test]
        fn normal_paths_have_no_dot_or_empty_segments(p in path()) {
            if let Ok(once) = normal(&p) {
                prop_assert!(once.starts_with('/'));
                prop_assert!(!once.contains("//"), "{}", once);
                let body = once.strip_prefix('/').unwrap();
                let segments: Vec<&str> = body.split('/').collect();
                for (i, s) in segments.iter().enumerate() {
                    prop_assert!(!matches!(segment_name(s), "." | ".."), "{}", once);
                    prop_assert!(!s.is_empty() || i + 1 == segments.len(), "{}", once);
                }
                let lower = once.to_ascii_lowercase();
                for unreserved in ["%2e", "%61", "%7e"] {
                    prop_assert!(!lower.contains(unreserved), "{}", once);
                }
            }
        }

        #[test]
        fn routing_never_sees_more_than_the_normal_path(p in path()) {
            // Whatever the spelling, the route key is a prefix-preserving
            // reduction of the forwarded path: same segment count.
            if let Ok(once) = normal(&p) {
                let key = route_path(&once);
                prop_assert_eq!(key.matches('/').count(), once.matches('/').count());
                prop_assert!(!key.contains(';'));
            }
        }

        #[test]
        fn the_fast_path_changes_nothing_the_full_rules_would(p in path()) {
            prop_assert_eq!(
                normalize_path(&p).map(Cow::into_owned),
                resolve(&p, &p[1..]).map(Cow::into_owned)
            );
        }

        #[test]
        fn arbitrary_paths_agree_and_never_panic(s in "/[ -~]{0,24}") {
            prop_assert_eq!(
                normalize_path(&s).map(Cow::into_owned),
                resolve(&s, &s[1..]).map(Cow::into_owned)
            );
            let _ = valid_authority(s.as_bytes());
        }
    }
}
