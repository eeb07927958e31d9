//! The plan's data: the monolith, its services, and their routes and tables.
//!
//! These types are what every tool works with. They derive serde, most with
//! `deny_unknown_fields` (services and routes, whose gateway keys are
//! flattened, cannot have it), so the JSON that `strangler plan show
//! --json` prints reads back; TOML files go through [`crate::parse`], which
//! rejects every unknown key and reports every problem with its line
//! instead of stopping at the first.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::gateway::{Gateway, is_header_name};
use crate::stage::{RouteStage, TableStage};
use crate::template::RouteTemplate;

/// The only plan format version this build reads and writes.
pub const VERSION: u32 = 1;

/// A whole migration plan: one `strangler.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The format version; always [`VERSION`] in a valid plan.
    pub version: u32,
    /// The system being strangled.
    pub monolith: Monolith,
    /// Settings for `strangler analyze` (`[analyze]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyze: Option<AnalyzeSettings>,
    /// The services being extracted, in file order (`[[service]]`).
    #[serde(rename = "service", default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// The proxies in front of the monolith, whose admin APIs `strangler
    /// cutover` fences and `strangler status` reads (`[[proxy]]`).
    #[serde(rename = "proxy", default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<Proxy>,
    /// Gateway rules for every route (`[gateway]`); services and routes
    /// override them key by key.
    #[serde(default, skip_serializing_if = "Gateway::is_empty")]
    pub gateway: Gateway,
}

/// One running `strangler proxy`, reached through its admin API
/// (`[[proxy]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// The admin API's base URL, such as `http://127.0.0.1:9901`.
    pub admin: String,
    /// A file holding the admin API's bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// An environment variable holding the admin API's bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
}

/// Settings for `strangler analyze`, kept with the plan so every run of the
/// team uses the same ones (`[analyze]`). Flags override them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeSettings {
    /// The units clustered: `function`, `module` or `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    /// Leiden's resolution: higher gives more, smaller services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<f64>,
    /// The clustering seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Aim for this many services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<u32>,
    /// Evidence weights by kind (see [`AnalyzeSettings::WEIGHTS`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
}

impl AnalyzeSettings {
    /// The kinds of evidence a weight can be set for.
    pub const WEIGHTS: &'static [&'static str] = &[
        "reads",
        "writes",
        "calls",
        "types",
        "nesting",
        "co_changes",
        "references",
        "co_writes",
    ];
    /// The granularities.
    pub const GRANULARITIES: &'static [&'static str] = &["function", "module", "file"];
}

/// The monolith that the services are extracted from (`[monolith]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monolith {
    /// A short name, such as `shop`.
    pub name: String,
    /// Where the monolith serves HTTP, an `http://` or `https://` URL.
    pub upstream: String,
    /// The monolith's `PostgreSQL` database, needed once a table syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// A service being extracted (`[[service]]`).
///
/// Not `deny_unknown_fields`, which serde cannot combine with the flattened
/// gateway keys; [`crate::parse`] still rejects unknown keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Unique name: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Where the service serves HTTP; needed once a route leaves `monolith`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The service's own `PostgreSQL` database; needed once a table syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Code units (module ids as the analyzer names them) in this service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Members the user placed here on purpose; the analyzer keeps them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pinned: Vec<String>,
    /// The HTTP routes this service takes over (`[[service.route]]`).
    #[serde(rename = "route", default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// The tables this service takes over (`[[service.table]]`).
    #[serde(rename = "table", default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<Table>,
    /// Gateway rules for the service's routes; a route overrides them key
    /// by key.
    #[serde(flatten)]
    pub gateway: Gateway,
}

/// The [`Route::label`] of requests that match no route of the plan: the
/// proxy counts them under it (answered by the monolith), and the tools
/// that read the proxy's metrics find them by it.
pub const UNMATCHED_LABEL: &str = "(unmatched)";

/// An HTTP route moving to a service (`[[service.route]]`).
///
/// Not `deny_unknown_fields`, which serde cannot combine with the flattened
/// gateway keys; [`crate::parse`] still rejects unknown keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The path template: literal segments, `{param}`, a trailing `{*rest}`.
    pub path: RouteTemplate,
    /// The methods routed; `None` means every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<Method>>,
    /// Who answers.
    pub stage: RouteStage,
    /// At `canary`, the share of requests sent to the service, 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// At `canary`, what keeps one client on one side; `None` splits per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// Only requests for this host match (the `Host` header or HTTP/2
    /// `:authority`, port ignored, case-insensitive). A leading `*.` matches
    /// any subdomain: `*.example.com` matches `api.example.com`, not
    /// `example.com`. `None` matches every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Only requests carrying every one of these headers with exactly this
    /// value match (names case-insensitive, values exact).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The tables the route's handler writes, directly or through its
    /// calls. A route that writes a table answers from the service (`live`,
    /// or `canary` above 0 %) only once the service owns the table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
    /// Gateway rules for this route (auth, rate limit, transforms, …); keys
    /// left out come from the service, then from `[gateway]`.
    #[serde(flatten)]
    pub gateway: Gateway,
}

/// A table moving to a service's database (`[[service.table]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The table's name, schema-qualified when not in `public`.
    pub name: String,
    /// Who owns the data.
    pub stage: TableStage,
    /// Columns renamed on the way to the service: monolith name → service name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
    /// Columns left behind in the monolith.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Code units (module ids as the analyzer names them) that read the
    /// table, as the last analysis found them. `strangler decommission`
    /// refuses while one of them is still in the monolith (not a member of
    /// the owning service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<String>,
    /// The services whose code writes the table, heaviest writer first, as
    /// the last analysis found them; recorded only when there are two or
    /// more, because then the table needs a decision (one owner, the others
    /// calling its API), which `plan check` reports until the code agrees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<String>,
}

/// An HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)] // The variants are the HTTP methods of the same name.
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Trace,
    Connect,
}

/// What keeps a client on one side of a canary split.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Sticky {
    /// The value of this request header (`header:x-user-id`).
    Header(String),
    /// The value of this cookie (`cookie:session`).
    Cookie(String),
}

impl Method {
    /// Every method, in the order above.
    pub const ALL: &'static [Method] = &[
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
        Method::Trace,
        Method::Connect,
    ];

    /// The method's name, in upper case.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
        }
    }

    /// Whether repeating the request has the same effect as sending it once,
    /// so the proxy may retry it on the monolith after a service failed.
    #[must_use]
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get
                | Method::Head
                | Method::Options
                | Method::Put
                | Method::Delete
                | Method::Trace
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let known = Method::ALL
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                if Method::ALL
                    .iter()
                    .any(|m| m.as_str().eq_ignore_ascii_case(s))
                {
                    format!(
                        "method `{s}` must be written in upper case (`{}`)",
                        s.to_ascii_uppercase()
                    )
                } else {
                    format!("unknown HTTP method `{s}`; expected one of: {known}")
                }
            })
    }
}

impl Sticky {
    /// The header or cookie name.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Sticky::Header(name) | Sticky::Cookie(name) => name,
        }
    }
}

impl fmt::Display for Sticky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sticky::Header(name) => write!(f, "header:{name}"),
            Sticky::Cookie(name) => write!(f, "cookie:{name}"),
        }
    }
}

impl FromStr for Sticky {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("header", name)) if is_header_name(name) => {
                Ok(Sticky::Header(name.to_ascii_lowercase()))
            }
            Some(("cookie", name)) if is_header_name(name) => Ok(Sticky::Cookie(name.to_owned())),
            _ => Err(format!(
                "sticky `{s}` is not `header:NAME` or `cookie:NAME` with a valid header or cookie name"
            )),
        }
    }
}

impl TryFrom<String> for Sticky {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Sticky> for String {
    fn from(value: Sticky) -> Self {
        value.to_string()
    }
}

impl Plan {
    /// A plan for `monolith` with no services yet.
    #[must_use]
    pub fn new(monolith: Monolith) -> Self {
        Self {
            version: VERSION,
            monolith,
            analyze: None,
            services: Vec::new(),
            proxies: Vec::new(),
            gateway: Gateway::default(),
        }
    }

    /// The service with this name.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The service with this name, for editing.
    pub fn service_mut(&mut self, name: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.name == name)
    }

    /// Serialises the plan as a fresh TOML document, without comments.
    /// To keep a file's comments, save through [`crate::PlanFile`].
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

impl Route {
    /// Whether the service answers some of the route's requests: `live`, or
    /// `canary` with a percent above 0.
    #[must_use]
    pub fn serves_from_service(&self) -> bool {
        match self.stage {
            RouteStage::Live => true,
            RouteStage::Canary => self.percent.unwrap_or(0) > 0,
            RouteStage::Monolith | RouteStage::Shadow => false,
        }
    }

    /// Whether this route and `other` claim the same requests: the same path
    /// shape (parameter names aside), at least one shared method, and the same
    /// host and header matches. Routes that differ only in their host or
    /// header matches do not conflict: the more specific one wins.
    #[must_use]
    pub fn overlaps(&self, other: &Route) -> bool {
        if self.path.shape() != other.path.shape() || !self.same_conditions(other) {
            return false;
        }
        match (&self.methods, &other.methods) {
            (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
            _ => true,
        }
    }

    /// Whether both routes have the same host and header matches (host and
    /// header names compared case-insensitively).
    #[must_use]
    pub fn same_conditions(&self, other: &Route) -> bool {
        let host = |r: &Route| r.host.as_deref().map(str::to_ascii_lowercase);
        let headers = |r: &Route| {
            r.headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        host(self) == host(other) && headers(self) == headers(other)
    }

    /// The host and header matches as one label, such as
    /// `host=api.example.com x-tenant=beta`; empty when there are none.
    #[must_use]
    pub fn conditions_label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(host) = &self.host {
            parts.push(format!("host={host}"));
        }
        for (name, value) in &self.headers {
            parts.push(format!("{name}={value}"));
        }
        parts.join(" ")
    }

    /// The route as one label, `GET,HEAD /api/products/{id}` with its
    /// conditions in brackets when it has any: how the proxy names it in
    /// its metrics and logs, and how the tools that read those find it.
    #[must_use]
    pub fn label(&self) -> String {
        match self.conditions_label() {
            c if c.is_empty() => format!("{} {}", self.methods_label(), self.path),
            c => format!("{} {} [{c}]", self.methods_label(), self.path),
        }
    }

    /// The methods as written, or `*` for every method.
    #[must_use]
    pub fn methods_label(&self) -> String {
        match &self.methods {
            None => "*".to_owned(),
            Some(methods) => methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}
