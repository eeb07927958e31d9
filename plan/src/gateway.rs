//! Gateway rules: what the proxy checks and changes on a route's requests
//! before anyone answers them (authentication, authorization, forwarded
//! identity, rate limits, path and header transforms, CORS), and how it
//! compares a service's shadow answers with the monolith's (`diff`,
//! `shadow_writes`).
//!
//! The same keys are written on a route (`[[service.route]]`), on a service
//! (defaults for its routes) and in `[gateway]` (defaults for every route);
//! [`Plan::gateway_for`] resolves them, the route's own value first, key by
//! key.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{Method, Plan, Route, Service};

/// The gateway keys of a route, a service or `[gateway]`. A key left out
/// is inherited (route, then service, then `[gateway]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    /// Who may call: pass-through (`"none"`, the default) or a verified JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Claims or scopes a verified token must carry, else 403.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<Require>,
    /// Verified claims forwarded as request headers: claim → header name.
    /// Client-sent headers of those names are removed first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forward_claims: BTreeMap<String, String>,
    /// A token bucket per client key, else 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// A path prefix removed before the request goes to the service
    /// (`/api` turns `/api/products/7` into `/products/7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip_prefix: Option<String>,
    /// A path prefix put in front (after `strip_prefix`) before the request
    /// goes to the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_prefix: Option<String>,
    /// Headers set on or removed from the request sent upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<HeaderRules>,
    /// Headers set on or removed from the response sent to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_headers: Option<HeaderRules>,
    /// CORS: preflights answered at the edge, and the response headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// At `shadow`, how the service's answers are compared with the
    /// monolith's (`diff = { ignore = ["$.generated_at"] }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// At `shadow`, whether the service runs copies of unsafe requests
    /// (RFC 9110 §9.2.1: anything but GET, HEAD, OPTIONS, TRACE) as a dry
    /// run, writing nothing; only then are such copies sent to it. The
    /// copies carry `x-strangler-shadow: 1`, which the service checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_writes: Option<bool>,
    /// At `canary` and `live`, the service's objective: a route that
    /// breaks it over a window is moved back to the monolith.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    /// Canary percents to step through while the SLO holds, one step per
    /// window (`promote = [1, 5, 25, 50, 100]`); at 100 the route goes
    /// `live`. From `shadow`, the first step is taken once the diff rate
    /// stayed under [`Slo::max_diff_rate`] for a window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promote: Vec<u8>,
    /// Upstream timeouts for the route's requests, over the proxy's
    /// defaults (`timeouts = { connect = "1s", read = "5s", total = "30s" }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}

/// A route's upstream timeouts (`timeouts = { … }`), each a duration such
/// as `"500ms"` or `"5s"`; one left out is the proxy's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// The TCP (and TLS) connect; after it the request falls back as if
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<String>,
    /// The first byte of the answer, and then each read of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
    /// The whole exchange, from the request's arrival to the end of the
    /// answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
}

impl Timeouts {
    /// The timeouts by name, as written.
    #[must_use]
    pub fn named(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("connect", self.connect.as_deref()),
            ("read", self.read.as_deref()),
            ("total", self.total.as_deref()),
        ]
    }
}

/// A fraction such as `0.01`, compared by value (so [`Gateway`] stays `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ratio(pub f64);

impl Eq for Ratio {}

/// A route's service-level objective (`slo = { … }`), judged over a
/// sliding window on the service's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// The largest share of the service's requests that may fail (5xx, no
    /// answer, or a fallback to the monolith), such as `0.01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<Ratio>,
    /// The largest ratio of the service's p99 latency to the monolith's on
    /// the same route, such as `1.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ratio: Option<Ratio>,
    /// The sliding window, such as `"60s"`, `"500ms"` or `"5m"` (default
    /// 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Fewer requests than this in a window decide nothing (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    /// For promotion out of `shadow`: the largest share of compared answers
    /// that may differ beyond the noise (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_diff_rate: Option<Ratio>,
}

impl Slo {
    /// The window when `window` is left out.
    pub const DEFAULT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
    /// The minimum request count when `min_requests` is left out.
    pub const DEFAULT_MIN_REQUESTS: u64 = 100;
    /// The diff rate allowed for promotion when `max_diff_rate` is left out.
    pub const DEFAULT_MAX_DIFF_RATE: f64 = 0.01;

    /// The window, parsed (`None` when it does not parse; validation
    /// reports that).
    #[must_use]
    pub fn window(&self) -> Option<std::time::Duration> {
        match &self.window {
            None => Some(Self::DEFAULT_WINDOW),
            Some(text) => parse_duration(text),
        }
    }
}

/// `"60s"`, `"500ms"`, `"5m"`, `"1h"`: a whole number and a unit.
#[must_use]
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(std::time::Duration::from_millis(millis))
}

/// How shadow answers are compared (`diff = { … }`): the status, the
/// headers named here, and the body: JSON structurally (key order and
/// number spelling ignored), any other body byte for byte.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diff {
    /// JSON paths left out of the comparison ([`JsonPath`]: `$.generated_at`,
    /// `$.items[*].etag`, `$..id` for a key at any depth).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// The response headers compared; default `["content-type"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<String>>,
    /// The share of safe shadowed requests, in percent, that also get a
    /// second copy to the monolith: fields that differ between two of the
    /// monolith's own answers are noise, and are not counted against the
    /// service. Default [`Diff::DEFAULT_NOISE_PERCENT`]; 0 turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_percent: Option<u8>,
    /// `off = true`: answers are not compared (only their statuses are
    /// counted), for routes whose bodies are large or not worth it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub off: bool,
}

impl Diff {
    /// The noise sample when `noise_percent` is left out.
    pub const DEFAULT_NOISE_PERCENT: u8 = 10;

    /// The headers compared when `headers` is left out.
    pub const DEFAULT_HEADERS: &'static [&'static str] = &["content-type"];
}

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JsonStep {
    /// `.name` or `["name"]`: this key of an object.
    Key(String),
    /// `.*`: any key of an object.
    AnyKey,
    /// `[3]`: this element of an array.
    Index(usize),
    /// `[*]`: any element of an array.
    AnyIndex,
    /// `..name`: this key at any depth below.
    Descendant(String),
}

/// A JSON path as `diff.ignore` writes it: `$` then steps, `.name`,
/// `["name"]`, `.*`, `[3]`, `[*]` or `..name`. It names the values it
/// matches and everything below them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPath {
    /// The steps after `$`.
    pub steps: Vec<JsonStep>,
}

impl FromStr for JsonPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix('$')
            .ok_or_else(|| format!("JSON path `{s}` does not start with `$`"))?;
        let bytes = rest.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        let name_end = |from: usize| {
            bytes[from..]
                .iter()
                .position(|b| matches!(b, b'.' | b'['))
                .map_or(bytes.len(), |n| from + n)
        };
        while i < bytes.len() {
            match bytes[i] {
                b'.' if bytes.get(i + 1) == Some(&b'.') => {
                    let end = name_end(i + 2);
                    let name = &rest[i + 2..end];
                    if name.is_empty() || name == "*" {
                        return Err(format!(
                            "JSON path `{s}`: `..` needs a key name after it, as in `$..id`"
                        ));
                    }
                    steps.push(JsonStep::Descendant(name.to_owned()));
                    i = end;
                }
                b'.' => {
                    let end = name_end(i + 1);
                    let name = &rest[i + 1..end];
                    match name {
                        "" => {
                            return Err(format!(
                                "JSON path `{s}`: a `.` needs a key name or `*` after it"
                            ));
                        }
                        "*" => steps.push(JsonStep::AnyKey),
                        _ => steps.push(JsonStep::Key(name.to_owned())),
                    }
                    i = end;
                }
                b'[' => {
                    let close = rest[i..]
                        .find(']')
                        .map(|n| i + n)
                        .ok_or_else(|| format!("JSON path `{s}`: a `[` is not closed by `]`"))?;
                    let inner = &rest[i + 1..close];
                    if inner == "*" {
                        steps.push(JsonStep::AnyIndex);
                    } else if let Some(quoted) = inner
                        .strip_prefix('"')
                        .and_then(|q| q.strip_suffix('"'))
                        .filter(|q| !q.contains('"'))
                    {
                        steps.push(JsonStep::Key(quoted.to_owned()));
                    } else if let Ok(n) = inner.parse::<usize>() {
                        steps.push(JsonStep::Index(n));
                    } else {
                        return Err(format!(
                            "JSON path `{s}`: `[{inner}]` is not `[*]`, an index such as `[0]` or a quoted key such as `[\"a.b\"]`"
                        ));
                    }
                    i = close + 1;
                }
                _ => {
                    return Err(format!(
                        "JSON path `{s}`: expected `.`, `..` or `[` after `{}`",
                        &s[..=i]
                    ));
                }
            }
        }
        Ok(JsonPath { steps })
    }
}

/// How a route's callers are authenticated (`auth = …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// `auth = "none"`: requests pass as they come (overrides a default).
    None,
    /// `auth = { jwt = { … } }`: a verified JWT is required, else 401.
    Jwt(Jwt),
}

/// JWT verification at the edge (`auth = { jwt = { … } }`). Exactly one of
/// `secret_file`, `keys` and `jwks_url` names the keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    /// A file holding the HMAC secret (HS256, HS384, HS512), relative to the
    /// plan's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
    /// A file with the public keys: a JWKS (`{"keys": […]}`) or one PEM
    /// key, relative to the plan's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<String>,
    /// A JWKS URL, fetched at start and refreshed in the background; an
    /// outage keeps the last keys fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The `iss` a token must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// An `aud` a token must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The algorithms accepted; by default those of the keys' kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<u64>,
    /// Read the token from this cookie when there is no `Authorization:
    /// Bearer` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// The JWT algorithms the proxy verifies.
pub const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// What a verified token must carry (`require = { … }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Require {
    /// Scopes, space-separated, each of which the token's `scope` (a
    /// space-separated string) or `scp` (an array) must list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Claims that must equal these strings (or, for an array claim,
    /// contain them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, String>,
}

/// A token bucket per client (`rate_limit = { per_second = 50, … }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The sustained rate, requests per second per key.
    pub per_second: u32,
    /// How many requests may come at once; default `per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// What identifies a client; default the client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<RateKey>,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RateKey {
    /// The client's IP address (`ip`).
    Ip,
    /// A request header's value (`header:x-api-key`); requests without it
    /// share one bucket.
    Header(String),
    /// A verified JWT claim (`claim:sub`); needs `auth = { jwt = … }`.
    Claim(String),
}

/// Headers set or removed (`request_headers = { set = {…}, remove = […] }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    /// Header name → value, replacing any value present.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Header names removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// Cross-origin requests answered at the edge (`cors = { origins = […] }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// The origins allowed (`https://app.example.com`), or `["*"]`.
    pub origins: Vec<String>,
    /// The methods a preflight allows; by default the route's methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Method>,
    /// The request headers a preflight allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// How long a browser may cache a preflight, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// Whether credentials (cookies) may be sent; not with `"*"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credentials: bool,
}

impl Gateway {
    /// The keys of a [`Gateway`], as they are written in the plan.
    pub const KEYS: &'static [&'static str] = &[
        "auth",
        "require",
        "forward_claims",
        "rate_limit",
        "strip_prefix",
        "add_prefix",
        "request_headers",
        "response_headers",
        "cors",
        "diff",
        "shadow_writes",
        "slo",
        "promote",
        "timeouts",
    ];

    /// Whether no key is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Gateway::default()
    }

    /// These rules, with each key left out taken from `defaults`.
    #[must_use]
    pub fn or(&self, defaults: &Gateway) -> Gateway {
        Gateway {
            auth: self.auth.clone().or_else(|| defaults.auth.clone()),
            require: self.require.clone().or_else(|| defaults.require.clone()),
            forward_claims: if self.forward_claims.is_empty() {
                defaults.forward_claims.clone()
            } else {
                self.forward_claims.clone()
            },
            rate_limit: self
                .rate_limit
                .clone()
                .or_else(|| defaults.rate_limit.clone()),
            strip_prefix: self
                .strip_prefix
                .clone()
                .or_else(|| defaults.strip_prefix.clone()),
            add_prefix: self
                .add_prefix
                .clone()
                .or_else(|| defaults.add_prefix.clone()),
            request_headers: self
                .request_headers
                .clone()
                .or_else(|| defaults.request_headers.clone()),
            response_headers: self
                .response_headers
                .clone()
                .or_else(|| defaults.response_headers.clone()),
            cors: self.cors.clone().or_else(|| defaults.cors.clone()),
            diff: self.diff.clone().or_else(|| defaults.diff.clone()),
            shadow_writes: self.shadow_writes.or(defaults.shadow_writes),
            slo: self.slo.clone().or_else(|| defaults.slo.clone()),
            promote: if self.promote.is_empty() {
                defaults.promote.clone()
            } else {
                self.promote.clone()
            },
            timeouts: self.timeouts.clone().or_else(|| defaults.timeouts.clone()),
        }
    }

    /// The JWT settings, when requests must carry a verified token.
    #[must_use]
    pub fn jwt(&self) -> Option<&Jwt> {
        match &self.auth {
            Some(Auth::Jwt(jwt)) => Some(jwt),
            Some(Auth::None) | None => None,
        }
    }
}

impl Plan {
    /// The gateway rules in force on `route` of `service`: the route's own
    /// keys, then the service's, then `[gateway]`'s.
    #[must_use]
    pub fn gateway_for(&self, service: &Service, route: &Route) -> Gateway {
        route.gateway.or(&service.gateway).or(&self.gateway)
    }
}

impl fmt::Display for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateKey::Ip => f.write_str("ip"),
            RateKey::Header(name) => write!(f, "header:{name}"),
            RateKey::Claim(name) => write!(f, "claim:{name}"),
        }
    }
}

impl FromStr for RateKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "ip" => Ok(RateKey::Ip),
            Some(("header", name)) if is_header_name(name) => {
                Ok(RateKey::Header(name.to_ascii_lowercase()))
            }
            Some(("claim", name)) if !name.is_empty() => Ok(RateKey::Claim(name.to_owned())),
            _ => Err(format!(
                "rate limit key `{s}` is not `ip`, `header:NAME` or `claim:NAME`"
            )),
        }
    }
}

impl TryFrom<String> for RateKey {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<RateKey> for String {
    fn from(value: RateKey) -> Self {
        value.to_string()
    }
}

/// Whether `name` is a valid HTTP field name (RFC 9110 §5.1: a token).
#[must_use]
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod json_path_tests {
    use super::*;

    #[test]
    fn json_paths_parse_into_steps() {
        let p: JsonPath = "$.items[*].etag".parse().unwrap();
        assert_eq!(
            p.steps,
            vec![
                JsonStep::Key("items".into()),
                JsonStep::AnyIndex,
                JsonStep::Key("etag".into())
            ]
        );
        let p: JsonPath = r#"$..id["a.b"][2].*"#.parse().unwrap();
        assert_eq!(
            p.steps,
            vec![
                JsonStep::Descendant("id".into()),
                JsonStep::Key("a.b".into()),
                JsonStep::Index(2),
                JsonStep::AnyKey
            ]
        );
        assert_eq!("$".parse::<JsonPath>().unwrap().steps, vec![]);
        for bad in [
            "generated_at",
            "$.",
            "$..",
            "$..*",
            "$[x]",
            "$[1",
            "$a",
            "$.a[\"b]",
        ] {
            assert!(bad.parse::<JsonPath>().is_err(), "{bad}");
        }
    }
}
