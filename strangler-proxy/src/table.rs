//! The route table: which plan route, if any, a request belongs to, and
//! which side answers it. A pure data structure with no I/O, built from a
//! [`Plan`] and tested on its own.
//!
//! Lookup walks a segment trie per HTTP method. At each segment a literal
//! beats a `{param}`, which beats a `{*rest}`, and the walk backtracks when a
//! more specific branch has no route at the end, so the most specific path
//! wins. Where several routes end on the same path (they differ in their host
//! or header matches), the first whose conditions hold wins, in this order: a
//! route with an exact host, then one with a `*.` wildcard host (a longer
//! suffix first), then one without; within each, more header matches first;
//! then plan order. When none of them holds the walk backtracks to less
//! specific paths. A request no route matches goes to the monolith.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use strangler_plan::{
    Method, Plan, RouteStage, RouteTemplate, Segment, Slo, Sticky, TableStage, Timeouts,
};

use crate::diff::DiffRules;
use crate::split;

/// Who answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The monolith.
    Monolith,
    /// The service with this index in [`RouteTable::services`].
    Service(usize),
}

/// One route of the plan, as the proxy uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The index of the route's service in [`RouteTable::services`].
    pub service: usize,
    /// The index of the route within its service in the plan.
    pub index: usize,
    /// The path template, as in the plan.
    pub path: RouteTemplate,
    /// The methods as written (`GET,HEAD`), or `*` for every method.
    pub methods: String,
    /// The route's stage.
    pub stage: RouteStage,
    /// At `canary`, the share of requests sent to the service, 0–100.
    pub percent: u8,
    /// At `canary`, what keeps a client on one side.
    pub sticky: Option<Sticky>,
    /// The host the route is limited to, as in the plan.
    pub host: Option<String>,
    /// The headers a request must carry, names in lower case.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The host and header matches as one label (`host=a.example.com
    /// x-tenant=acme`); empty without conditions.
    pub conditions: String,
    /// The route's name in metrics, logs and the admin API
    /// ([`strangler_plan::Route::label`]).
    pub label: String,
    /// The tables the route's handler writes, as in the plan.
    pub writes: Vec<String>,
    /// Whether one of [`RouteEntry::writes`] is not yet `owned` (or
    /// `decommissioned`) by the route's service: a shadow copy of an
    /// unsafe request would then write the service's copy of a table the
    /// sync still feeds, so none is sent.
    pub writes_unowned: bool,
    /// Whether the service runs shadow copies of unsafe requests as a dry
    /// run (`shadow_writes = true`): only then are they sent to it.
    pub shadow_writes: bool,
    /// How the service's shadow answers are compared with the monolith's.
    pub diff: Arc<DiffRules>,
    /// The service-level objective the route is judged by, if any.
    pub slo: Option<Slo>,
    /// Canary percents to step through while the SLO holds.
    pub promote: Vec<u8>,
    /// The route's own upstream timeouts, over the proxy's defaults.
    pub timeouts: RouteTimeouts,
    /// The host match, lower case, ready for comparisons.
    host_match: Option<HostMatch>,
    /// False when a header match cannot be represented (never in a valid
    /// plan): such a route matches nothing.
    matchable: bool,
}

/// A route's upstream timeouts (`timeouts = { … }`); `None` keeps the
/// proxy's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteTimeouts {
    /// The connect.
    pub connect: Option<Duration>,
    /// The first byte, then each read.
    pub read: Option<Duration>,
    /// The whole exchange.
    pub total: Option<Duration>,
}

impl RouteTimeouts {
    /// The timeouts the plan gives (valid, so each parses).
    #[must_use]
    pub fn new(plan: Option<&Timeouts>) -> Self {
        let get = |v: Option<&String>| v.and_then(|t| strangler_plan::parse_duration(t));
        plan.map_or_else(Self::default, |t| Self {
            connect: get(t.connect.as_ref()),
            read: get(t.read.as_ref()),
            total: get(t.total.as_ref()),
        })
    }
}

/// A route's host condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// This host exactly.
    Exact(Box<str>),
    /// Any subdomain: the suffix with its leading dot (`.example.com`).
    Subdomains(Box<str>),
}

/// What the table looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method (`GET`).
    pub method: &'a str,
    /// The path without the query string, normalised by `request.rs`
    /// (dot segments resolved, unreserved characters decoded) and without
    /// `;` parameters.
    pub path: &'a str,
    /// The host the request is for: the URI's authority (HTTP/2
    /// `:authority`, or an absolute-form HTTP/1 target) or else the `Host`
    /// header; a port is ignored.
    pub host: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// A service named by the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The service's name.
    pub name: String,
    /// Where it serves HTTP, when the plan says.
    pub upstream: Option<String>,
}

/// What the table decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Who answers.
    pub target: Target,
    /// Whether a copy goes to this service as a shadow.
    pub shadow: Option<usize>,
}

/// The key a canary split is made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitKey<'a> {
    /// The sticky header's or cookie's value.
    Sticky(&'a [u8]),
    /// No sticky key: a fresh random number for this request.
    Random(u64),
}

/// The routes of a plan, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    services: Vec<ServiceEntry>,
    routes: Vec<RouteEntry>,
    /// One trie per method in [`Method::ALL`] order, then one for methods
    /// the plan cannot name (extension methods such as `PROPFIND`).
    tries: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Literal children, sorted by segment text for binary search.
    literals: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    /// Routes ending in `{*rest}` here, most specific conditions first.
    catch_all: Vec<usize>,
    /// Routes ending here, most specific conditions first.
    end: Vec<usize>,
}

const OTHER_METHODS: usize = Method::ALL.len();

/// Whether `service` owns every one of `tables` (`owned` or
/// `decommissioned`).
fn owns_all(service: &strangler_plan::Service, tables: &[String]) -> bool {
    tables.iter().all(|name| {
        service.tables.iter().any(|t| {
            t.name == *name && matches!(t.stage, TableStage::Owned | TableStage::Decommissioned)
        })
    })
}

impl RouteTable {
    /// Builds the table from a plan. The plan should be valid: when two
    /// routes claim the same requests (which validation forbids) the first
    /// in file order wins.
    #[must_use]
    pub fn new(plan: &Plan) -> Self {
        let mut table = Self {
            services: Vec::with_capacity(plan.services.len()),
            routes: Vec::new(),
            tries: vec![Node::default(); OTHER_METHODS + 1],
        };
        for (s, service) in plan.services.iter().enumerate() {
            table.services.push(ServiceEntry {
                name: service.name.clone(),
                upstream: service.upstream.clone(),
            });
            for (r, route) in service.routes.iter().enumerate() {
                let id = table.routes.len();
                let gateway = plan.gateway_for(service, route);
                let headers: Option<Vec<(HeaderName, HeaderValue)>> = route
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        Some((
                            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()?,
                            HeaderValue::from_str(value).ok()?,
                        ))
                    })
                    .collect();
                table.routes.push(RouteEntry {
                    service: s,
                    index: r,
                    path: route.path.clone(),
                    methods: route.methods_label(),
                    stage: route.stage,
                    percent: route.percent.unwrap_or(0).min(100),
                    sticky: route.sticky.clone(),
                    host: route.host.clone(),
                    matchable: headers.is_some(),
                    headers: headers.unwrap_or_default(),
                    conditions: route.conditions_label(),
                    label: route.label(),
                    writes: route.writes.clone(),
                    writes_unowned: !owns_all(service, &route.writes),
                    shadow_writes: gateway.shadow_writes.unwrap_or(false),
                    diff: Arc::new(DiffRules::new(gateway.diff.as_ref())),
                    slo: gateway.slo.clone(),
                    promote: gateway.promote.clone(),
                    timeouts: RouteTimeouts::new(gateway.timeouts.as_ref()),
                    host_match: route.host.as_deref().map(HostMatch::new),
                });
                match &route.methods {
                    Some(methods) => {
                        for method in methods {
                            let slot = method_slot(method.as_str());
                            table.tries[slot].insert(route.path.segments(), id);
                        }
                    }
                    None => {
                        for trie in &mut table.tries {
                            trie.insert(route.path.segments(), id);
                        }
                    }
                }
            }
        }
        let routes = &table.routes;
        for trie in &mut table.tries {
            trie.order(&|id| routes[id].specificity());
        }
        table
    }

    /// The services, in plan order.
    #[must_use]
    pub fn services(&self) -> &[ServiceEntry] {
        &self.services
    }

    /// The routes, in plan order (service by service).
    #[must_use]
    pub fn routes(&self) -> &[RouteEntry] {
        &self.routes
    }

    /// The index of the route that `request` belongs to, or `None` for the
    /// monolith.
    #[must_use]
    pub fn lookup(&self, request: &Request<'_>) -> Option<usize> {
        let trie = &self.tries[method_slot(request.method)];
        let rest = request.path.strip_prefix('/')?;
        let host = request.host.map(bare_host);
        let accept = |candidates: &[usize]| {
            candidates
                .iter()
                .copied()
                .find(|&id| self.routes[id].accepts(host, request.headers))
        };
        if rest.is_empty()
            && let Some(id) = accept(&trie.end)
        {
            return Some(id);
        }
        trie.find(rest, &accept)
    }

    /// The route with this index.
    #[must_use]
    pub fn route(&self, id: usize) -> Option<&RouteEntry> {
        self.routes.get(id)
    }
}

impl RouteEntry {
    /// `METHODS path`, with the conditions in brackets when there are any:
    /// the route's name in metrics, logs and the admin API.
    #[must_use]
    pub fn label(&self) -> String {
        self.label.clone()
    }

    /// Whether a request for `host` (port already stripped) with `headers`
    /// meets the route's host and header conditions.
    fn accepts(&self, host: Option<&str>, headers: &HeaderMap) -> bool {
        if !self.matchable {
            return false;
        }
        if let Some(want) = &self.host_match
            && !host.is_some_and(|h| want.matches(h))
        {
            return false;
        }
        self.headers
            .iter()
            .all(|(name, value)| headers.get_all(name).iter().any(|v| v == value))
    }

    /// Orders routes that end on the same path: higher first.
    fn specificity(&self) -> (u8, usize, usize) {
        let (rank, len) = match &self.host_match {
            Some(HostMatch::Exact(_)) => (2, 0),
            Some(HostMatch::Subdomains(suffix)) => (1, suffix.len()),
            None => (0, 0),
        };
        (rank, len, self.headers.len())
    }

    /// Decides who answers a request to this route; `key` is only used at
    /// `canary`.
    #[must_use]
    pub fn decide(&self, key: SplitKey<'_>) -> Decision {
        let service = Target::Service(self.service);
        match self.stage {
            RouteStage::Monolith => Decision {
                target: Target::Monolith,
                shadow: None,
            },
            RouteStage::Shadow => Decision {
                target: Target::Monolith,
                shadow: Some(self.service),
            },
            RouteStage::Canary => {
                let bucket = match key {
                    SplitKey::Sticky(value) => split::bucket(value),
                    SplitKey::Random(n) => split::bucket_of_hash(n),
                };
                Decision {
                    target: if split::in_canary(bucket, self.percent) {
                        service
                    } else {
                        Target::Monolith
                    },
                    shadow: None,
                }
            }
            RouteStage::Live => Decision {
                target: service,
                shadow: None,
            },
        }
    }
}

impl HostMatch {
    fn new(pattern: &str) -> Self {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        match pattern.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => HostMatch::Subdomains(suffix.into()),
            _ => HostMatch::Exact(pattern.into()),
        }
    }

    /// `host` is the request's host without its port.
    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(want) => host.eq_ignore_ascii_case(want),
            HostMatch::Subdomains(suffix) => {
                host.len() > suffix.len()
                    && host.is_char_boundary(host.len() - suffix.len())
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }
}

/// The host of a `Host` header or authority without its port and without a
/// trailing dot; an IPv6 literal keeps its brackets.
fn bare_host(authority: &str) -> &str {
    let host = match authority.rfind(':') {
        Some(i)
            if !authority[i..].contains(']')
                && authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &authority[..i]
        }
        _ => authority,
    };
    host.strip_suffix('.').unwrap_or(host)
}

/// The trie for a method name; names the plan cannot write share one.
fn method_slot(method: &str) -> usize {
    Method::ALL
        .iter()
        .position(|m| m.as_str() == method)
        .unwrap_or(OTHER_METHODS)
}

impl Node {
    fn insert(&mut self, segments: &[Segment], id: usize) {
        let Some((first, rest)) = segments.split_first() else {
            self.end.push(id);
            return;
        };
        let child = match first {
            Segment::Literal(text) => {
                match self
                    .literals
                    .binary_search_by(|(k, _)| (**k).cmp(text.as_str()))
                {
                    Ok(i) => &mut self.literals[i].1,
                    Err(i) => {
                        self.literals
                            .insert(i, (text.as_str().into(), Node::default()));
                        &mut self.literals[i].1
                    }
                }
            }
            Segment::Param(_) => self.param.get_or_insert_with(Box::default),
            Segment::CatchAll(_) => {
                self.catch_all.push(id);
                return;
            }
        };
        child.insert(rest, id);
    }

    /// Sorts every candidate list by `rank`, highest first; ties keep their
    /// insertion (plan) order.
    fn order(&mut self, rank: &impl Fn(usize) -> (u8, usize, usize)) {
        self.end.sort_by_key(|&id| std::cmp::Reverse(rank(id)));
        self.catch_all
            .sort_by_key(|&id| std::cmp::Reverse(rank(id)));
        for (_, child) in &mut self.literals {
            child.order(rank);
        }
        if let Some(child) = &mut self.param {
            child.order(rank);
        }
    }

    /// Finds the route for `rest`, the path after a `/`, preferring
    /// literals, then parameters, then a catch-all, and backtracking;
    /// `accept` picks the first candidate whose conditions hold.
    fn find(&self, rest: &str, accept: &impl Fn(&[usize]) -> Option<usize>) -> Option<usize> {
        let (segment, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let descend = |child: &Node| match tail {
            None => accept(&child.end),
            Some(tail) => child.find(tail, accept),
        };
        if let Ok(i) = self.literals.binary_search_by(|(k, _)| (**k).cmp(segment))
            && let Some(id) = descend(&self.literals[i].1)
        {
            return Some(id);
        }
        if !segment.is_empty()
            && let Some(child) = &self.param
            && let Some(id) = descend(child)
        {
            return Some(id);
        }
        if rest.is_empty() {
            None
        } else {
            accept(&self.catch_all)
        }
    }
}

/// A route entry for unit tests: `* /x` of service 3 at `stage`.
#[cfg(test)]
pub(crate) fn test_entry(stage: RouteStage, percent: u8) -> RouteEntry {
    RouteEntry {
        service: 3,
        index: 0,
        path: RouteTemplate::parse("/x").expect("valid template"),
        methods: "*".to_owned(),
        stage,
        percent,
        sticky: None,
        host: None,
        headers: Vec::new(),
        conditions: String::new(),
        label: "* /x".to_owned(),
        writes: Vec::new(),
        writes_unowned: false,
        shadow_writes: false,
        slo: None,
        promote: Vec::new(),
        timeouts: RouteTimeouts::default(),
        diff: Arc::new(DiffRules::new(None)),
        host_match: None,
        matchable: true,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn plan(routes: &str) -> Plan {
        let text = format!(
            "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:1\"\n\
             [[service]]\nname = \"a\"\nupstream = \"http://127.0.0.1:2\"\n{routes}"
        );
        let parsed = strangler_plan::parse(&text);
        assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
        parsed.plan
    }

    fn route(path: &str, methods: &str) -> String {
        let methods = if methods.is_empty() {
            String::new()
        } else {
            format!("methods = [{methods}]\n")
        };
        format!("[[service.route]]\npath = \"{path}\"\n{methods}stage = \"live\"\n")
    }

    #[test]
    fn a_route_owns_its_writes_only_when_its_service_owns_every_table() {
        let text = "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:1\"\n\
                    [[service]]\nname = \"a\"\nupstream = \"http://127.0.0.1:2\"\n\
                    [[service.route]]\npath = \"/w\"\nstage = \"shadow\"\nwrites = [\"orders\", \"items\"]\n\
                    [[service.route]]\npath = \"/r\"\nstage = \"shadow\"\n";
        let mut plan = strangler_plan::parse(text).plan;
        let table = |stages: &[(&str, TableStage)], plan: &mut Plan| {
            plan.services[0].tables = stages
                .iter()
                .map(|&(name, stage)| strangler_plan::Table {
                    name: name.to_owned(),
                    stage,
                    rename: std::collections::BTreeMap::new(),
                    exclude: Vec::new(),
                    readers: Vec::new(),
                    writers: Vec::new(),
                })
                .collect();
            let t = RouteTable::new(plan);
            (t.routes()[0].writes_unowned, t.routes()[1].writes_unowned)
        };
        assert_eq!(table(&[], &mut plan), (true, false));
        assert_eq!(
            table(
                &[
                    ("orders", TableStage::Owned),
                    ("items", TableStage::Syncing)
                ],
                &mut plan
            ),
            (true, false)
        );
        assert_eq!(
            table(
                &[
                    ("orders", TableStage::Owned),
                    ("items", TableStage::Cutover)
                ],
                &mut plan
            ),
            (true, false)
        );
        assert_eq!(
            table(
                &[
                    ("orders", TableStage::Owned),
                    ("items", TableStage::Decommissioned)
                ],
                &mut plan
            ),
            (false, false)
        );
        assert!(!table(&[], &mut plan).1, "a route that writes nothing");
        assert_eq!(
            RouteTable::new(&plan).routes()[0].writes,
            ["orders", "items"]
        );
    }

    /// Looks each request up and prints the matched template, or `-`.
    fn check(routes: &[(&str, &str)], requests: &[(&str, &str)], expect: &str) {
        let text: String = routes.iter().map(|(p, m)| route(p, m)).collect();
        let table = RouteTable::new(&plan(&text));
        let headers = HeaderMap::new();
        let got: String = requests
            .iter()
            .map(|(method, path)| {
                let request = Request {
                    method,
                    path,
                    host: None,
                    headers: &headers,
                };
                let hit = table
                    .lookup(&request)
                    .and_then(|id| table.route(id))
                    .map_or("-".to_owned(), RouteEntry::label);
                format!("{method} {path} => {hit}")
            })
            .fold(String::new(), |out, line| out + &line + "\n");
        assert_eq!(got, expect);
    }

    /// Routes given as TOML bodies (path, host, headers); each request is
    /// `path host header=value…` (`-` for no host), answered with the
    /// matched route's label.
    fn check_conditions(routes: &[&str], requests: &[&str], expect: &str) {
        let text = routes.iter().fold(String::new(), |mut text, r| {
            let _ = writeln!(text, "[[service.route]]\n{r}\nstage = \"live\"");
            text
        });
        let table = RouteTable::new(&plan(&text));
        let got: String = requests
            .iter()
            .map(|line| {
                let mut words = line.split(' ');
                let path = words.next().unwrap_or_default();
                let host = words.next().filter(|h| *h != "-");
                let mut headers = HeaderMap::new();
                for pair in words {
                    let (name, value) = pair.split_once('=').expect("name=value");
                    headers.append(
                        HeaderName::from_bytes(name.as_bytes()).expect("valid name"),
                        HeaderValue::from_str(value).expect("valid value"),
                    );
                }
                let request = Request {
                    method: "GET",
                    path,
                    host,
                    headers: &headers,
                };
                let hit = table
                    .lookup(&request)
                    .and_then(|id| table.route(id))
                    .map_or("-".to_owned(), RouteEntry::label);
                format!("{line} => {hit}")
            })
            .fold(String::new(), |out, line| out + &line + "\n");
        assert_eq!(got, expect);
    }

    #[test]
    fn hosts_and_headers_pick_among_routes_on_one_path() {
        check_conditions(
            &[
                "path = \"/p/{id}\"",
                "path = \"/p/{id}\"\nheaders = { x-tenant = \"acme\" }",
                "path = \"/p/{id}\"\nheaders = { x-tenant = \"acme\", x-beta = \"1\" }",
                "path = \"/p/{id}\"\nhost = \"*.example.com\"",
                "path = \"/p/{id}\"\nhost = \"*.eu.example.com\"",
                "path = \"/p/{id}\"\nhost = \"Shop.Example.com\"",
                "path = \"/p/special\"\nhost = \"other.org\"",
            ],
            &[
                "/p/1 -",
                "/p/1 - x-tenant=acme",
                "/p/1 - x-tenant=ACME",
                "/p/1 - X-Tenant=acme x-beta=1",
                "/p/1 - x-beta=1",
                "/p/1 shop.example.com",
                "/p/1 SHOP.EXAMPLE.COM:8443 x-tenant=acme",
                "/p/1 shop.example.com.",
                "/p/1 api.example.com",
                "/p/1 a.b.example.com:80",
                "/p/1 api.eu.example.com",
                "/p/1 example.com",
                "/p/1 [::1]:8000",
                "/p/special other.org",
                "/p/special other.org:8080 x-tenant=acme",
                "/p/special api.example.com",
                "/p/special evil-other.org",
            ],
            "/p/1 - => * /p/{id}\n\
             /p/1 - x-tenant=acme => * /p/{id} [x-tenant=acme]\n\
             /p/1 - x-tenant=ACME => * /p/{id}\n\
             /p/1 - X-Tenant=acme x-beta=1 => * /p/{id} [x-beta=1 x-tenant=acme]\n\
             /p/1 - x-beta=1 => * /p/{id}\n\
             /p/1 shop.example.com => * /p/{id} [host=Shop.Example.com]\n\
             /p/1 SHOP.EXAMPLE.COM:8443 x-tenant=acme => * /p/{id} [host=Shop.Example.com]\n\
             /p/1 shop.example.com. => * /p/{id} [host=Shop.Example.com]\n\
             /p/1 api.example.com => * /p/{id} [host=*.example.com]\n\
             /p/1 a.b.example.com:80 => * /p/{id} [host=*.example.com]\n\
             /p/1 api.eu.example.com => * /p/{id} [host=*.eu.example.com]\n\
             /p/1 example.com => * /p/{id}\n\
             /p/1 [::1]:8000 => * /p/{id}\n\
             /p/special other.org => * /p/special [host=other.org]\n\
             /p/special other.org:8080 x-tenant=acme => * /p/special [host=other.org]\n\
             /p/special api.example.com => * /p/{id} [host=*.example.com]\n\
             /p/special evil-other.org => * /p/{id}\n",
        );
    }

    #[test]
    fn conditions_backtrack_to_less_specific_paths_and_ties_keep_plan_order() {
        check_conditions(
            &[
                "path = \"/a/{*rest}\"",
                "path = \"/a/b\"\nhost = \"x.test\"",
                "path = \"/a/c\"\nheaders = { x-one = \"1\" }",
                "path = \"/a/c\"\nheaders = { x-two = \"2\" }",
                "path = \"/a/{*rest}\"\nhost = \"*.test\"",
            ],
            &[
                "/a/b x.test",
                "/a/b y.test",
                "/a/b -",
                "/a/c - x-two=2 x-one=1",
                "/a/c - x-two=2",
                "/a/c - x-one=2",
                "/a/c/d y.test",
            ],
            "/a/b x.test => * /a/b [host=x.test]\n\
             /a/b y.test => * /a/{*rest} [host=*.test]\n\
             /a/b - => * /a/{*rest}\n\
             /a/c - x-two=2 x-one=1 => * /a/c [x-one=1]\n\
             /a/c - x-two=2 => * /a/c [x-two=2]\n\
             /a/c - x-one=2 => * /a/{*rest}\n\
             /a/c/d y.test => * /a/{*rest} [host=*.test]\n",
        );
    }

    #[test]
    fn most_specific_wins() {
        check(
            &[
                ("/api/products/{id}", ""),
                ("/api/products/featured", ""),
                ("/api/{*rest}", ""),
                ("/", ""),
            ],
            &[
                ("GET", "/api/products/featured"),
                ("GET", "/api/products/42"),
                ("GET", "/api/products/42/reviews"),
                ("GET", "/api/products"),
                ("GET", "/api"),
                ("GET", "/api/"),
                ("GET", "/"),
                ("GET", "/other"),
                ("GET", ""),
                ("PROPFIND", "/api/products/1"),
            ],
            "GET /api/products/featured => * /api/products/featured\n\
             GET /api/products/42 => * /api/products/{id}\n\
             GET /api/products/42/reviews => * /api/{*rest}\n\
             GET /api/products => * /api/{*rest}\n\
             GET /api => -\n\
             GET /api/ => -\n\
             GET / => * /\n\
             GET /other => -\n\
             GET  => -\n\
             PROPFIND /api/products/1 => * /api/products/{id}\n",
        );
    }

    #[test]
    fn methods_pick_routes_and_backtrack() {
        check(
            &[
                ("/items/new", "\"POST\""),
                ("/items/{id}", "\"GET\", \"HEAD\""),
                ("/items/{id}", "\"DELETE\""),
            ],
            &[
                ("POST", "/items/new"),
                ("GET", "/items/new"),
                ("HEAD", "/items/7"),
                ("DELETE", "/items/7"),
                ("PUT", "/items/7"),
                ("PROPFIND", "/items/7"),
            ],
            "POST /items/new => POST /items/new\n\
             GET /items/new => GET,HEAD /items/{id}\n\
             HEAD /items/7 => GET,HEAD /items/{id}\n\
             DELETE /items/7 => DELETE /items/{id}\n\
             PUT /items/7 => -\n\
             PROPFIND /items/7 => -\n",
        );
    }

    #[test]
    fn params_need_a_segment_and_trailing_slashes_are_exact() {
        check(
            &[("/a/{x}/b", ""), ("/c/", ""), ("/files/{*path}", "")],
            &[
                ("GET", "/a/1/b"),
                ("GET", "/a//b"),
                ("GET", "/a/1/b/"),
                ("GET", "/c/"),
                ("GET", "/c"),
                ("GET", "/files/x/y.txt"),
                ("GET", "/files/"),
                ("GET", "/files"),
            ],
            "GET /a/1/b => * /a/{x}/b\n\
             GET /a//b => -\n\
             GET /a/1/b/ => -\n\
             GET /c/ => * /c/\n\
             GET /c => -\n\
             GET /files/x/y.txt => * /files/{*path}\n\
             GET /files/ => -\n\
             GET /files => -\n",
        );
    }

    fn entry(stage: RouteStage, percent: u8) -> RouteEntry {
        test_entry(stage, percent)
    }

    #[test]
    fn stages_decide_the_target() {
        let key = SplitKey::Sticky(b"user-1");
        assert_eq!(
            entry(RouteStage::Monolith, 0).decide(key),
            Decision {
                target: Target::Monolith,
                shadow: None
            }
        );
        assert_eq!(
            entry(RouteStage::Shadow, 0).decide(key),
            Decision {
                target: Target::Monolith,
                shadow: Some(3)
            }
        );
        assert_eq!(
            entry(RouteStage::Live, 0).decide(key).target,
            Target::Service(3)
        );
        assert_eq!(
            entry(RouteStage::Canary, 0).decide(key).target,
            Target::Monolith
        );
        assert_eq!(
            entry(RouteStage::Canary, 100).decide(key).target,
            Target::Service(3)
        );
    }

    #[test]
    fn canary_share_holds_over_ten_thousand_keys() {
        for percent in [1u8, 10, 25, 50, 90] {
            let canary = entry(RouteStage::Canary, percent);
            let hits = (0..10_000)
                .filter(|i| {
                    let key = format!("user-{i}");
                    canary.decide(SplitKey::Sticky(key.as_bytes())).target == Target::Service(3)
                })
                .count();
            let want = usize::from(percent) * 100;
            assert!(
                hits.abs_diff(want) <= 200,
                "{percent}%: {hits} of 10000 keys went to the service"
            );
        }
    }

    #[test]
    fn random_split_holds_too() {
        let canary = entry(RouteStage::Canary, 10);
        let hits = (0..10_000u64)
            .filter(|i| canary.decide(SplitKey::Random(*i)).target == Target::Service(3))
            .count();
        assert!(hits.abs_diff(1_000) <= 200, "{hits}");
    }
}
