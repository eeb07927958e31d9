//! The route table: which plan route, if any, a request belongs to, and
//! which side answers it. A pure data structure with no I/O, built from a
//! [`Plan`] and tested on its own.
//!
//! Lookup walks a segment trie per HTTP method. At each segment a literal
//! beats a `{param}`, which beats a `{*rest}`, and the walk backtracks when a
//! more specific branch has no route at the end, so the most specific route
//! wins. A request no route matches goes to the monolith.

use strangler_plan::{Method, Plan, RouteStage, RouteTemplate, Segment, Sticky};

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
    catch_all: Option<usize>,
    end: Option<usize>,
}

const OTHER_METHODS: usize = Method::ALL.len();

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
                table.routes.push(RouteEntry {
                    service: s,
                    index: r,
                    path: route.path.clone(),
                    methods: route.methods_label(),
                    stage: route.stage,
                    percent: route.percent.unwrap_or(0).min(100),
                    sticky: route.sticky.clone(),
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

    /// The index of the route that a request with this method and path
    /// belongs to, or `None` for the monolith. `path` is the request path
    /// without the query string, as sent (not percent-decoded).
    #[must_use]
    pub fn lookup(&self, method: &str, path: &str) -> Option<usize> {
        let trie = &self.tries[method_slot(method)];
        let rest = path.strip_prefix('/')?;
        if rest.is_empty()
            && let Some(id) = trie.end
        {
            return Some(id);
        }
        trie.find(rest)
    }

    /// The route with this index.
    #[must_use]
    pub fn route(&self, id: usize) -> Option<&RouteEntry> {
        self.routes.get(id)
    }
}

impl RouteEntry {
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
            self.end.get_or_insert(id);
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
                self.catch_all.get_or_insert(id);
                return;
            }
        };
        child.insert(rest, id);
    }

    /// Finds the route for `rest`, the path after a `/`, preferring
    /// literals, then parameters, then a catch-all, and backtracking.
    fn find(&self, rest: &str) -> Option<usize> {
        let (segment, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let descend = |child: &Node| match tail {
            None => child.end,
            Some(tail) => child.find(tail),
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
            self.catch_all
        }
    }
}

#[cfg(test)]
mod tests {
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

    /// Looks each request up and prints the matched template, or `-`.
    fn check(routes: &[(&str, &str)], requests: &[(&str, &str)], expect: &str) {
        let text: String = routes.iter().map(|(p, m)| route(p, m)).collect();
        let table = RouteTable::new(&plan(&text));
        let got: String = requests
            .iter()
            .map(|(method, path)| {
                let hit = table
                    .lookup(method, path)
                    .and_then(|id| table.route(id))
                    .map_or("-".to_owned(), |r| format!("{} {}", r.methods, r.path));
                format!("{method} {path} => {hit}")
            })
            .fold(String::new(), |out, line| out + &line + "\n");
        assert_eq!(got, expect);
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
        RouteEntry {
            service: 3,
            index: 0,
            path: RouteTemplate::parse("/x").expect("valid template"),
            methods: "*".to_owned(),
            stage,
            percent,
            sticky: None,
        }
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
