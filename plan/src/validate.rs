//! The checks a plan must pass before any tool acts on it.
//!
//! [`validate`] works on the in-memory [`Plan`], so the same checks guard a
//! file being loaded, an edit in the planner and a stage change through the
//! proxy's admin API. It returns every problem, never just the first.

use std::collections::HashMap;

use url::Url;

use crate::diagnostic::{Diagnostic, FieldPath};
use crate::gateway::{
    Auth, Cors, Diff, Gateway, HeaderRules, JWT_ALGORITHMS, JsonPath, Jwt, RateKey, Ratio, Require,
    Slo, Timeouts, is_header_name, parse_duration,
};
use crate::mask::mask_url;
use crate::model::{AnalyzeSettings, Plan, Proxy, Route, Service, VERSION};
use crate::stage::{RouteStage, TableStage};

/// Checks a plan and returns every problem found, errors and warnings.
///
/// Paths in the diagnostics index the plan's vectors (`service[2]` is
/// `plan.services[2]`).
#[must_use]
pub fn validate(plan: &Plan) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let root = FieldPath::root();
    if plan.version != VERSION {
        out.push(
            Diagnostic::error(
                root.key("version"),
                format!(
                    "plan version {} is not supported; this strangler reads version {VERSION}",
                    plan.version
                ),
            )
            .with_help(format!(
                "set `version = {VERSION}`, or use the strangler release that wrote this plan"
            )),
        );
    }
    let monolith = root.key("monolith");
    if plan.monolith.name.trim().is_empty() {
        out.push(
            Diagnostic::error(monolith.key("name"), "the monolith's name is empty")
                .with_help("name it, as in `name = \"shop\"`"),
        );
    }
    check_http_url(
        &mut out,
        monolith.key("upstream"),
        "the monolith",
        &plan.monolith.upstream,
    );
    if let Some(db) = &plan.monolith.database {
        check_postgres_url(&mut out, monolith.key("database"), "the monolith", db);
    }

    if let Some(settings) = &plan.analyze {
        check_analyze(&mut out, &root.key("analyze"), settings);
    }
    let mut service_names: HashMap<&str, usize> = HashMap::new();
    let mut member_owner: HashMap<&str, &str> = HashMap::new();
    let mut table_owner: HashMap<&str, &str> = HashMap::new();
    let mut routes_seen: Vec<(&str, &Route)> = Vec::new();
    for (i, service) in plan.services.iter().enumerate() {
        let path = root.key("service").index(i);
        let name = service.name.as_str();
        check_service_name(&mut out, &path, name);
        if let Some(first) = service_names.insert(name, i) {
            out.push(
                Diagnostic::error(
                    path.key("name"),
                    format!(
                        "service `{name}` is defined twice (first as service #{})",
                        first + 1
                    ),
                )
                .with_help("give each service a unique name, or merge the two entries"),
            );
        }
        let what = format!("service `{name}`");
        if let Some(upstream) = &service.upstream {
            check_http_url(&mut out, path.key("upstream"), &what, upstream);
        }
        if let Some(db) = &service.database {
            check_postgres_url(&mut out, path.key("database"), &what, db);
        }
        check_members(&mut out, &path, service, &mut member_owner);
        for (j, route) in service.routes.iter().enumerate() {
            let route_path = path.key("route").index(j);
            check_route(&mut out, &route_path, service, route);
            let methods = route.methods_label();
            let conditions = match route.conditions_label() {
                c if c.is_empty() => c,
                c => format!(" [{c}]"),
            };
            if let Some((other, _)) = routes_seen.iter().find(|(_, seen)| seen.overlaps(route)) {
                let message = if *other == name {
                    format!(
                        "route {methods} {}{conditions} is listed twice in service `{name}`",
                        route.path
                    )
                } else {
                    format!(
                        "route {methods} {}{conditions} is claimed by services `{other}` and `{name}`",
                        route.path
                    )
                };
                out.push(
                    Diagnostic::error(route_path.key("path"), message)
                        .with_help("a request must have one destination: keep the route in one service, or split it by `methods`, `host` or `headers`"),
                );
            }
            routes_seen.push((name, route));
        }
        check_tables(&mut out, plan, &path, service, &mut table_owner);
    }
    check_gateways(&mut out, plan);
    check_ownership(&mut out, plan);
    for (i, proxy) in plan.proxies.iter().enumerate() {
        check_proxy(&mut out, &root.key("proxy").index(i), i, proxy);
    }
    out
}

/// The rules that keep writes in one place: a route that writes a table is
/// answered by its service only once that service owns the table, and a
/// table is owned only when every route that writes it is its service's
/// and `live`. Writes reaching both databases would be lost at the next
/// sync (the monolith's overwritten by the forward stream, or the
/// service's never seen by the monolith).
#[allow(clippy::too_many_lines)] // the two rules read as one table of cases
fn check_ownership(out: &mut Vec<Diagnostic>, plan: &Plan) {
    let root = FieldPath::root();
    let owner_of = |table: &str| {
        plan.services
            .iter()
            .find_map(|s| s.tables.iter().find(|t| t.name == table).map(|t| (s, t)))
    };
    for (i, service) in plan.services.iter().enumerate() {
        let name = &service.name;
        for (j, route) in service.routes.iter().enumerate() {
            let path = root.key("service").index(i).key("route").index(j);
            let what = format!(
                "route {} {} of service `{name}`",
                route.methods_label(),
                route.path
            );
            for (k, table) in route.writes.iter().enumerate() {
                if !is_table_name(table) {
                    out.push(
                        Diagnostic::error(path.key("writes").index(k), format!("`{table}` in the writes of {what} is not a table name"))
                            .with_help("write the table's name, schema-qualified when not in public: `orders` or `billing.invoices`"),
                    );
                    continue;
                }
                if !route.serves_from_service() {
                    continue;
                }
                let stage = route.stage.as_str();
                match owner_of(table) {
                    Some((owner, entry)) if owner.name == *name => {
                        if !matches!(entry.stage, TableStage::Owned | TableStage::Decommissioned) {
                            out.push(
                                Diagnostic::error(path.key("stage"), format!(
                                    "{what} is at stage `{stage}` but writes table `{table}`, which is at `{}`: its writes would reach the service's copy while the monolith still owns the table",
                                    entry.stage
                                ))
                                .with_help(format!(
                                    "cut the table over first: `strangler cutover --plan strangler.toml --service {name} --table {table}` (it moves the table and this route together), or keep the route at `shadow`"
                                )),
                            );
                        }
                    }
                    Some((owner, _)) => out.push(
                        Diagnostic::error(path.key("stage"), format!(
                            "{what} is at stage `{stage}` but writes table `{table}`, which belongs to service `{}`",
                            owner.name
                        ))
                        .with_help(format!(
                            "a table is written by one service: move the route to service `{}`, or the table to `{name}`",
                            owner.name
                        )),
                    ),
                    None => out.push(
                        Diagnostic::error(path.key("stage"), format!(
                            "{what} is at stage `{stage}` but writes table `{table}`, which no service has taken over"
                        ))
                        .with_help(format!(
                            "add `[[service.table]] name = \"{table}\"` to service `{name}`, sync it and cut it over (`strangler cutover`), or keep the route at `shadow`"
                        )),
                    ),
                }
            }
        }
        for (j, table) in service.tables.iter().enumerate() {
            if table.stage != TableStage::Owned {
                continue;
            }
            let path = root.key("service").index(i).key("table").index(j);
            for other in &plan.services {
                for route in other
                    .routes
                    .iter()
                    .filter(|r| r.writes.contains(&table.name))
                {
                    let route_what = format!("route {} {}", route.methods_label(), route.path);
                    if other.name != *name {
                        out.push(
                            Diagnostic::error(path.key("stage"), format!(
                                "table `{}` of service `{name}` is `owned`, but {route_what} of service `{}` writes it",
                                table.name, other.name
                            ))
                            .with_help(format!(
                                "a table is written by one service: move the route to `{name}`, or roll the table back (`strangler rollback --service {name} --table {}`)",
                                table.name
                            )),
                        );
                    } else if route.stage != RouteStage::Live {
                        out.push(
                            Diagnostic::error(path.key("stage"), format!(
                                "table `{}` of service `{name}` is `owned`, but {route_what}, which writes it, is at `{}`: its writes would reach the monolith's copy",
                                table.name, route.stage
                            ))
                            .with_help(format!(
                                "set the route to `live`, or roll the table back with its routes: `strangler rollback --plan strangler.toml --service {name} --table {}`",
                                table.name
                            )),
                        );
                    }
                }
            }
        }
    }
}

fn check_proxy(out: &mut Vec<Diagnostic>, path: &FieldPath, index: usize, proxy: &Proxy) {
    let what = format!("proxy #{}", index + 1);
    check_http_url_of(out, path.key("admin"), "admin API", &what, &proxy.admin);
    if proxy.token_file.is_some() && proxy.token_env.is_some() {
        out.push(
            Diagnostic::error(path.key("token_env"), format!("{what} sets both `token_file` and `token_env`"))
                .with_help("keep one: the file that holds the admin token, or the environment variable that does"),
        );
    }
    if let Some(var) = &proxy.token_env
        && (var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        out.push(
            Diagnostic::error(
                path.key("token_env"),
                format!("`{var}` ({what}) is not an environment variable name"),
            )
            .with_help("use letters, digits and `_`, as in `STRANGLER_ADMIN_TOKEN`"),
        );
    }
}

fn check_tables<'a>(
    out: &mut Vec<Diagnostic>,
    plan: &Plan,
    path: &FieldPath,
    service: &'a Service,
    table_owner: &mut HashMap<&'a str, &'a str>,
) {
    let name = service.name.as_str();
    for (j, table) in service.tables.iter().enumerate() {
        let table_path = path.key("table").index(j);
        let table_name = table.name.as_str();
        let what = format!("table `{table_name}` of service `{name}`");
        if !is_table_name(table_name) {
            out.push(
                Diagnostic::error(table_path.key("name"), format!("`{table_name}` is not a table name (in service `{name}`)"))
                    .with_help("write the table's name, schema-qualified when not in public: `orders` or `billing.invoices`"),
            );
        }
        if let Some(other) = table_owner.insert(table_name, name) {
            let message = if other == name {
                format!("table `{table_name}` is listed twice in service `{name}`")
            } else {
                format!("table `{table_name}` is claimed by services `{other}` and `{name}`")
            };
            out.push(
                Diagnostic::error(table_path.key("name"), message)
                    .with_help("a table has one owner: keep it in one service (others read it through that service's API)"),
            );
        }
        if table.stage.needs_databases() {
            if service.database.is_none() {
                out.push(
                    Diagnostic::error(table_path.key("stage"), format!("{what} is at stage `{}`, but the service has no `database`", table.stage))
                        .with_help(format!("set `database = \"postgres://…\"` on service `{name}`, or keep the table at `monolith`")),
                );
            }
            if plan.monolith.database.is_none() {
                out.push(
                    Diagnostic::error(table_path.key("stage"), format!("{what} is at stage `{}`, but `[monolith]` has no `database`", table.stage))
                        .with_help("set `database = \"postgres://…\"` under `[monolith]`, or keep the table at `monolith`"),
                );
            }
        }
        for (from, to) in &table.rename {
            if from.is_empty() || to.is_empty() {
                out.push(
                    Diagnostic::error(
                        table_path.key("rename"),
                        format!("{what} renames `{from}` to `{to}`; column names cannot be empty"),
                    )
                    .with_help("write `rename = { old_column = \"new_column\" }`"),
                );
            }
            if table.exclude.contains(from) {
                out.push(
                    Diagnostic::error(table_path.key("exclude"), format!("{what} both renames and excludes column `{from}`"))
                        .with_help("a column either moves (under a new name) or stays behind; remove it from one of `rename` and `exclude`"),
                );
            }
        }
        check_writers(out, plan, &table_path, &what, &table.writers);
    }
}

/// A table's `writers`: two or more services writing one table is a
/// decision the plan still needs (a warning: the migration can go on for
/// other tables), and a name that is no service is a stale analysis.
fn check_writers(
    out: &mut Vec<Diagnostic>,
    plan: &Plan,
    table_path: &FieldPath,
    what: &str,
    writers: &[String],
) {
    let unknown: Vec<&str> = writers
        .iter()
        .map(String::as_str)
        .filter(|w| *w != plan.monolith.name && !plan.services.iter().any(|s| s.name == *w))
        .collect();
    if !unknown.is_empty() {
        out.push(
            Diagnostic::warning(
                table_path.key("writers"),
                format!(
                    "{what} lists writers that are not services of the plan: {}",
                    quoted(&unknown)
                ),
            )
            .with_help(
                "re-run `strangler analyze --out` to refresh `writers`, or remove the names",
            ),
        );
    }
    if let [first, rest @ ..] = writers
        && !rest.is_empty()
    {
        let others: Vec<&str> = rest.iter().map(String::as_str).collect();
        out.push(
            Diagnostic::warning(
                table_path.key("writers"),
                format!(
                    "{what} needs a decision: the code of {} writes it",
                    quoted(&writers.iter().map(String::as_str).collect::<Vec<_>>())
                ),
            )
            .with_help(format!(
                "give it one owner (`{first}` writes it most): have {} call that service's API instead of writing the table, or merge the services; `strangler analyze --out` then drops the entry",
                quoted(&others)
            )),
        );
    }
}

/// Names in backticks, joined with commas.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_analyze(out: &mut Vec<Diagnostic>, path: &FieldPath, settings: &AnalyzeSettings) {
    if let Some(g) = &settings.granularity
        && !AnalyzeSettings::GRANULARITIES.contains(&g.as_str())
    {
        out.push(
            Diagnostic::error(
                path.key("granularity"),
                format!("unknown granularity `{g}` in [analyze]"),
            )
            .with_help("use `function`, `module` or `file`"),
        );
    }
    if let Some(r) = settings.resolution
        && !(r.is_finite() && r > 0.0)
    {
        out.push(
            Diagnostic::error(
                path.key("resolution"),
                format!("resolution {r} in [analyze] must be a positive number"),
            )
            .with_help("1.25 is the default; higher gives more, smaller services"),
        );
    }
    if settings.services == Some(0) {
        out.push(
            Diagnostic::error(
                path.key("services"),
                "services = 0 in [analyze] asks for no services",
            )
            .with_help("ask for at least 1, or remove it to let the clustering choose"),
        );
    }
    for (kind, w) in &settings.weights {
        if !(w.is_finite() && *w >= 0.0) {
            out.push(
                Diagnostic::error(
                    path.key("weights").key(kind),
                    format!("weight {w} for `{kind}` in [analyze.weights] must be zero or more"),
                )
                .with_help("0 ignores that kind of evidence"),
            );
        }
    }
}

fn check_service_name(out: &mut Vec<Diagnostic>, path: &FieldPath, name: &str) {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        out.push(
            Diagnostic::error(path.key("name"), format!("service name `{name}` is not valid"))
                .with_help("use lowercase letters, digits, `-` and `_`, starting with a letter or digit, as in `catalog`"),
        );
    }
}

fn check_members<'a>(
    out: &mut Vec<Diagnostic>,
    path: &FieldPath,
    service: &'a Service,
    owner: &mut HashMap<&'a str, &'a str>,
) {
    let name = service.name.as_str();
    for (k, member) in service.members.iter().enumerate() {
        if member.trim().is_empty() {
            out.push(
                Diagnostic::error(
                    path.key("members").index(k),
                    format!("service `{name}` has an empty member id"),
                )
                .with_help("remove it; members are code ids such as `shop::catalog`"),
            );
            continue;
        }
        if let Some(other) = owner.insert(member, name) {
            let message = if other == name {
                format!("member `{member}` is listed twice in service `{name}`")
            } else {
                format!("member `{member}` is in services `{other}` and `{name}`")
            };
            out.push(
                Diagnostic::error(path.key("members").index(k), message)
                    .with_help("a code unit belongs to one service: remove it from the other"),
            );
        }
    }
    for (k, pin) in service.pinned.iter().enumerate() {
        if !service.members.contains(pin) {
            out.push(
                Diagnostic::error(
                    path.key("pinned").index(k),
                    format!("pinned `{pin}` is not a member of service `{name}`"),
                )
                .with_help(format!(
                    "add `{pin}` to `members` of `{name}`, or remove the pin"
                )),
            );
        }
    }
}

fn check_route(out: &mut Vec<Diagnostic>, path: &FieldPath, service: &Service, route: &Route) {
    let name = &service.name;
    let what = format!(
        "route {} {} of service `{name}`",
        route.methods_label(),
        route.path
    );
    if route.stage.needs_service() && service.upstream.is_none() {
        out.push(
            Diagnostic::error(
                path.key("stage"),
                format!(
                    "{what} is at stage `{}`, but the service has no `upstream`",
                    route.stage
                ),
            )
            .with_help(format!(
                "set `upstream = \"http://…\"` on service `{name}`, or keep the route at `monolith`"
            )),
        );
    }
    match (route.stage, route.percent) {
        (RouteStage::Canary, None) => out.push(
            Diagnostic::error(
                path.key("stage"),
                format!("{what} is at stage `canary` without a `percent`"),
            )
            .with_help("add `percent = 5` (the share of requests, 0–100, sent to the service)"),
        ),
        (_, Some(p)) if p > 100 => out.push(
            Diagnostic::error(
                path.key("percent"),
                format!("percent {p} of {what} is outside 0–100"),
            )
            .with_help("set `percent` to a whole number from 0 to 100"),
        ),
        (stage, Some(_)) if stage != RouteStage::Canary => out.push(
            Diagnostic::warning(
                path.key("percent"),
                format!("{what} has a `percent`, which only applies at stage `canary`"),
            )
            .with_help("remove it, or set `stage = \"canary\"`"),
        ),
        _ => {}
    }
    if let Some(host) = &route.host
        && !is_host_pattern(host)
    {
        out.push(
            Diagnostic::error(
                path.key("host"),
                format!("host `{host}` of {what} is not a host name"),
            )
            .with_help(
                "write a bare host name such as `api.example.com`, or `*.example.com` for any subdomain (no scheme, port or path)",
            ),
        );
    }
    for (name, value) in &route.headers {
        if name.eq_ignore_ascii_case("host") {
            out.push(
                Diagnostic::error(
                    path.key("headers").key(name),
                    format!("{what} matches the `host` header under `headers`"),
                )
                .with_help("use the route's `host = \"…\"` key instead"),
            );
        } else if !is_header_name(name) {
            out.push(
                Diagnostic::error(
                    path.key("headers").key(name),
                    format!("`{name}` in the headers of {what} is not a valid header name"),
                )
                .with_help("use letters, digits and `-`, as in `x-tenant`"),
            );
        } else if !is_header_value(value) {
            out.push(
                Diagnostic::error(
                    path.key("headers").key(name),
                    format!("the value of header `{name}` of {what} has characters a header cannot carry"),
                )
                .with_help("use visible ASCII characters and spaces"),
            );
        }
    }
    if route.sticky.is_some() && route.stage != RouteStage::Canary {
        out.push(
            Diagnostic::warning(
                path.key("sticky"),
                format!("{what} has `sticky`, which only applies at stage `canary`"),
            )
            .with_help("remove it, or set `stage = \"canary\"`"),
        );
    }
}

/// A host name, optionally with a leading `*.` wildcard: labels of letters,
/// digits and `-`, separated by dots.
fn is_host_pattern(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

// Messages quote URLs through `mask_url` only: a plan's passwords must not
// reach a terminal, a log line or an HTTP answer through a diagnostic.
/// Checks an `http(s)://` URL; `field` names it in messages (`upstream`,
/// `admin API`).
fn check_http_url(out: &mut Vec<Diagnostic>, path: FieldPath, owner: &str, value: &str) {
    check_http_url_of(out, path, "upstream", owner, value);
}

fn check_http_url_of(
    out: &mut Vec<Diagnostic>,
    path: FieldPath,
    field: &str,
    owner: &str,
    value: &str,
) {
    let problem = match Url::parse(value) {
        _ if !value.contains("://") => Some("it has no `http://` or `https://` scheme".to_owned()),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            Some(format!("its scheme is `{}`", url.scheme()))
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => Some("it has no host".to_owned()),
        Ok(url) if url.password().is_some() => {
            out.push(
                Diagnostic::error(
                    path,
                    format!(
                        "{field} `{}` of {owner} has a password, which strangler never sends",
                        mask_url(value)
                    ),
                )
                .with_help("remove `user:password@`; a password there would only end up in logs and metrics"),
            );
            return;
        }
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    if let Some(problem) = problem {
        out.push(
            Diagnostic::error(
                path,
                format!(
                    "{field} `{}` of {owner} is not an http(s) URL: {problem}",
                    mask_url(value)
                ),
            )
            .with_help("write it as `http://host:port` or `https://host:port`"),
        );
    }
}

fn check_postgres_url(out: &mut Vec<Diagnostic>, path: FieldPath, owner: &str, value: &str) {
    let problem = match Url::parse(value) {
        _ if !value.contains("://") => Some("it has no `postgres://` scheme".to_owned()),
        Ok(url) if !matches!(url.scheme(), "postgres" | "postgresql") => {
            Some(format!("its scheme is `{}`", url.scheme()))
        }
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    if let Some(problem) = problem {
        out.push(
            Diagnostic::error(
                path,
                format!(
                    "database `{}` of {owner} is not a PostgreSQL URL: {problem}",
                    mask_url(value)
                ),
            )
            .with_help("write it as `postgres://user@host:5432/dbname`"),
        );
    }
}

/// Whether `name` is a table name the plan accepts: an identifier,
/// optionally schema-qualified (`orders`, `billing.invoices`). Tools that
/// write table names into a plan check them with this, so the rule has
/// one home.
#[must_use]
pub fn is_table_name(name: &str) -> bool {
    let part = |p: &str| {
        p.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && p.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
    };
    match name.split_once('.') {
        Some((schema, table)) => part(schema) && part(table),
        None => part(name),
    }
}

/// Headers a gateway rule may not set, remove or fill from a claim: they
/// frame the message or route it, so changing them breaks the exchange.
const FRAMING_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a rule may touch header `name`: not a framing header, and not
/// one of the `x-strangler-*` headers the proxy sets itself.
fn header_is_settable(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !FRAMING_HEADERS.contains(&lower.as_str()) && !lower.starts_with("x-strangler-")
}

/// Checks the gateway keys written at `path` (a route, a service or
/// `[gateway]`) on their own.
fn check_gateway(out: &mut Vec<Diagnostic>, path: &FieldPath, what: &str, gateway: &Gateway) {
    if let Some(Auth::Jwt(jwt)) = &gateway.auth {
        check_jwt(out, &path.key("auth").key("jwt"), what, jwt);
    }
    if let Some(require) = &gateway.require {
        check_require(out, &path.key("require"), what, require);
    }
    for (claim, header) in &gateway.forward_claims {
        let at = path.key("forward_claims").key(claim);
        if !is_header_name(header) {
            out.push(
                Diagnostic::error(
                    at,
                    format!("claim `{claim}` of {what} is forwarded as `{header}`, which is not a header name"),
                )
                .with_help("name a header such as `x-user-id`"),
            );
        } else if !header_is_settable(header) {
            out.push(
                Diagnostic::error(
                    at,
                    format!("claim `{claim}` of {what} would overwrite header `{header}`, which the proxy must keep"),
                )
                .with_help("forward it as an application header such as `x-user-id`"),
            );
        }
    }
    if let Some(limit) = &gateway.rate_limit {
        let at = path.key("rate_limit");
        if limit.per_second == 0 {
            out.push(
                Diagnostic::error(
                    at.key("per_second"),
                    format!("the rate limit of {what} allows 0 requests per second"),
                )
                .with_help(
                    "set `per_second` to 1 or more; to shut a route, keep it on the monolith",
                ),
            );
        }
        if limit.burst == Some(0) {
            out.push(
                Diagnostic::error(
                    at.key("burst"),
                    format!("the rate limit of {what} has a burst of 0"),
                )
                .with_help(
                    "set `burst` to 1 or more, or leave it out (it defaults to `per_second`)",
                ),
            );
        }
    }
    for key in ["strip_prefix", "add_prefix"] {
        let value = if key == "strip_prefix" {
            &gateway.strip_prefix
        } else {
            &gateway.add_prefix
        };
        if let Some(prefix) = value
            && !is_path_prefix(prefix)
        {
            out.push(
                Diagnostic::error(
                    path.key(key),
                    format!("`{key}` `{prefix}` of {what} is not a path prefix"),
                )
                .with_help("start it with `/`, end it without one, and use no `{…}`, `?`, `#`, `%` or spaces: `\"/api\"`"),
            );
        }
    }
    for (key, rules) in [
        ("request_headers", &gateway.request_headers),
        ("response_headers", &gateway.response_headers),
    ] {
        if let Some(rules) = rules {
            check_header_rules(out, &path.key(key), what, rules);
        }
    }
    if let Some(cors) = &gateway.cors {
        check_cors(out, &path.key("cors"), what, cors);
    }
    if let Some(diff) = &gateway.diff {
        check_diff(out, &path.key("diff"), what, diff);
    }
    if let Some(slo) = &gateway.slo {
        check_slo(out, &path.key("slo"), what, slo);
    }
    check_promote(out, &path.key("promote"), what, &gateway.promote);
    for (name, value) in gateway.timeouts.iter().flat_map(Timeouts::named) {
        if let Some(text) = value
            && parse_duration(text).is_none_or(|d| d.is_zero())
        {
            out.push(
                Diagnostic::error(
                    path.key("timeouts").key(name),
                    format!("the {name} timeout `{text}` of {what} is not a duration above zero"),
                )
                .with_help("write a whole number and a unit: `\"500ms\"`, `\"5s\"`, `\"2m\"`"),
            );
        }
    }
}

/// Checks `require = { … }` at `at`.
fn check_require(out: &mut Vec<Diagnostic>, at: &FieldPath, what: &str, require: &Require) {
    if require
        .scope
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        out.push(
            Diagnostic::error(at.key("scope"), format!("`scope` of {what} is empty"))
                .with_help("list the scopes, space-separated: `scope = \"orders:read\"`"),
        );
    }
    if require.scope.is_none() && require.claims.is_empty() {
        out.push(
            Diagnostic::error(at.clone(), format!("`require` of {what} requires nothing"))
                .with_help(
                    "add `scope = \"…\"` or `claims = { role = \"admin\" }`, or remove `require`",
                ),
        );
    }
}

/// Checks `promote = [..]` at `at`: percents going up.
fn check_promote(out: &mut Vec<Diagnostic>, at: &FieldPath, what: &str, steps: &[u8]) {
    for (i, step) in steps.iter().enumerate() {
        let bad = if *step == 0 || *step > 100 {
            Some(format!(
                "promotion step {step} of {what} is not a percent from 1 to 100"
            ))
        } else if i > 0 && *step <= steps[i - 1] {
            Some(format!(
                "promotion step {step} of {what} does not go up from {}",
                steps[i - 1]
            ))
        } else {
            None
        };
        if let Some(message) = bad {
            out.push(Diagnostic::error(at.index(i), message).with_help(
                "list canary percents in increasing order: `promote = [1, 5, 25, 50, 100]`",
            ));
        }
    }
}

/// Checks `slo = { … }` at `at`.
fn check_slo(out: &mut Vec<Diagnostic>, at: &FieldPath, what: &str, slo: &Slo) {
    for (key, value) in [
        ("error_rate", slo.error_rate),
        ("max_diff_rate", slo.max_diff_rate),
    ] {
        if let Some(Ratio(r)) = value
            && !(0.0..=1.0).contains(&r)
        {
            out.push(
                Diagnostic::error(
                    at.key(key),
                    format!("`{key}` {r} of {what} is not between 0 and 1"),
                )
                .with_help("write a fraction: `0.01` is 1 %"),
            );
        }
    }
    if let Some(Ratio(r)) = slo.p99_ratio
        && !(r >= 1.0 && r.is_finite())
    {
        out.push(
            Diagnostic::error(
                at.key("p99_ratio"),
                format!("`p99_ratio` {r} of {what} is below 1"),
            )
            .with_help("write how many times the monolith's p99 the service may take: `1.2`"),
        );
    }
    if slo.window().is_none_or(|w| w.is_zero()) {
        out.push(
            Diagnostic::error(
                at.key("window"),
                format!(
                    "the SLO window `{}` of {what} is not a duration",
                    slo.window.as_deref().unwrap_or_default()
                ),
            )
            .with_help("write a whole number and a unit: `\"60s\"`, `\"500ms\"`, `\"5m\"`"),
        );
    }
    if slo.min_requests == Some(0) {
        out.push(
            Diagnostic::error(
                at.key("min_requests"),
                format!("`min_requests` of {what} is 0"),
            )
            .with_help("set it to 1 or more: a window with fewer requests decides nothing"),
        );
    }
    if slo.error_rate.is_none() && slo.p99_ratio.is_none() {
        out.push(
            Diagnostic::error(at.clone(), format!("the SLO of {what} sets no objective"))
                .with_help("add `error_rate = 0.01` and/or `p99_ratio = 1.2`"),
        );
    }
}

/// Checks `diff = { … }` at `at`.
fn check_diff(out: &mut Vec<Diagnostic>, at: &FieldPath, what: &str, diff: &Diff) {
    for (i, path) in diff.ignore.iter().enumerate() {
        if let Err(e) = path.parse::<JsonPath>() {
            out.push(
                Diagnostic::error(
                    at.key("ignore").index(i),
                    format!("{e}, in the diff settings of {what}"),
                )
                .with_help("write paths as `$.generated_at`, `$.items[*].etag` or `$..id`"),
            );
        }
    }
    for (i, name) in diff.headers.iter().flatten().enumerate() {
        if !is_header_name(name) {
            out.push(
                Diagnostic::error(
                    at.key("headers").index(i),
                    format!("`{name}` in the diff settings of {what} is not a header name"),
                )
                .with_help("name response headers such as `content-type` or `etag`"),
            );
        }
    }
    if let Some(percent) = diff.noise_percent
        && percent > 100
    {
        out.push(
            Diagnostic::error(
                at.key("noise_percent"),
                format!("`noise_percent` {percent} of {what} is above 100"),
            )
            .with_help(
                "use 0 to 100: the share of safe shadowed requests sent twice to the monolith",
            ),
        );
    }
}

/// Checks the keys written at `path` that need a verified token (`require`,
/// `forward_claims`, a rate limit by claim) against the JWT in force there
/// (`effective`, the level's keys over those it inherits). An inherited key
/// on a route that opts out with `auth = "none"` is not in force there.
fn check_needs_token(
    out: &mut Vec<Diagnostic>,
    path: &FieldPath,
    what: &str,
    own: &Gateway,
    effective: &Gateway,
) {
    if effective.jwt().is_some() {
        return;
    }
    let help = "add `auth = { jwt = { … } }` here, to its service or to `[gateway]`";
    if own.require.is_some() {
        out.push(
            Diagnostic::error(
                path.key("require"),
                format!("{what} requires claims but verifies no token"),
            )
            .with_help(help),
        );
    }
    if !own.forward_claims.is_empty() {
        out.push(
            Diagnostic::error(
                path.key("forward_claims"),
                format!("{what} forwards claims but verifies no token"),
            )
            .with_help(help),
        );
    }
    if let Some(limit) = &own.rate_limit
        && let Some(RateKey::Claim(claim)) = &limit.key
    {
        out.push(
            Diagnostic::error(
                path.key("rate_limit"),
                format!("{what} limits rates by claim `{claim}` but verifies no token"),
            )
            .with_help(help),
        );
    }
}

/// Checks that a route starts with the prefix it strips.
fn check_strip_prefix(
    out: &mut Vec<Diagnostic>,
    path: &FieldPath,
    what: &str,
    route: &Route,
    gateway: &Gateway,
) {
    if let Some(prefix) = &gateway.strip_prefix
        && is_path_prefix(prefix)
    {
        let fits = route
            .path
            .as_str()
            .strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if !fits {
            let at = if route.gateway.strip_prefix.is_some() {
                path.key("strip_prefix")
            } else {
                path.key("path")
            };
            out.push(
                Diagnostic::error(
                    at,
                    format!("{what} does not start with the prefix `{prefix}` it strips"),
                )
                .with_help(
                    "set `strip_prefix` on this route to a prefix of its path, or remove it",
                ),
            );
        }
    }
}

fn check_header_rules(
    out: &mut Vec<Diagnostic>,
    path: &FieldPath,
    what: &str,
    rules: &HeaderRules,
) {
    let names = rules.set.keys().map(|n| (path.key("set").key(n), n)).chain(
        rules
            .remove
            .iter()
            .enumerate()
            .map(|(i, n)| (path.key("remove").index(i), n)),
    );
    for (at, name) in names {
        if !is_header_name(name) {
            out.push(
                Diagnostic::error(
                    at,
                    format!("`{name}` in the header rules of {what} is not a header name"),
                )
                .with_help("use letters, digits and `-`, as in `x-env`"),
            );
        } else if !header_is_settable(name) {
            out.push(
                Diagnostic::error(at, format!("the header rules of {what} change `{name}`, which the proxy must keep"))
                    .with_help("framing headers and the proxy's own `x-strangler-*` headers cannot be set or removed"),
            );
        }
    }
    for (name, value) in &rules.set {
        if !is_header_value(value) {
            out.push(
                Diagnostic::error(
                    path.key("set").key(name),
                    format!("the value set for header `{name}` of {what} has characters a header cannot carry"),
                )
                .with_help("use visible ASCII characters and spaces"),
            );
        }
    }
}

/// `/a/b`: starts with `/`, does not end with one, no template, query,
/// fragment, percent sign or white space.
fn is_path_prefix(prefix: &str) -> bool {
    prefix.len() > 1
        && prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("//")
        && prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"{}?#%".contains(&b))
}

/// A serialized origin: `scheme://host[:port]`, nothing after.
fn is_origin(origin: &str) -> bool {
    match Url::parse(origin) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.path() == "/"
                && !origin.ends_with('/')
                && url.query().is_none()
                && url.username().is_empty()
        }
        Err(_) => false,
    }
}

/// Checks the gateway keys of `[gateway]`, each service and each route.
fn check_gateways(out: &mut Vec<Diagnostic>, plan: &Plan) {
    check_gateway(
        out,
        &FieldPath::root().key("gateway"),
        "[gateway]",
        &plan.gateway,
    );
    check_needs_token(
        out,
        &FieldPath::root().key("gateway"),
        "[gateway]",
        &plan.gateway,
        &plan.gateway,
    );
    for (i, service) in plan.services.iter().enumerate() {
        let path = FieldPath::root().key("service").index(i);
        let what = format!("service `{}`", service.name);
        check_gateway(out, &path, &what, &service.gateway);
        check_needs_token(
            out,
            &path,
            &what,
            &service.gateway,
            &service.gateway.or(&plan.gateway),
        );
        for (j, route) in service.routes.iter().enumerate() {
            let what = format!(
                "route {} {} of service `{}`",
                route.methods_label(),
                route.path,
                service.name
            );
            let route_path = path.key("route").index(j);
            check_gateway(out, &route_path, &what, &route.gateway);
            let effective = plan.gateway_for(service, route);
            check_needs_token(out, &route_path, &what, &route.gateway, &effective);
            check_strip_prefix(out, &route_path, &what, route, &effective);
            if !effective.promote.is_empty() && effective.slo.is_none() {
                let at = if route.gateway.promote.is_empty() {
                    route_path.key("path")
                } else {
                    route_path.key("promote")
                };
                out.push(
                    Diagnostic::error(at, format!("{what} is promoted step by step but has no SLO to judge the steps by"))
                        .with_help("add `slo = { error_rate = 0.01, window = \"60s\" }` here, to its service or to `[gateway]`, or remove `promote`"),
                );
            }
        }
    }
}

/// Checks `auth = { jwt = { … } }` at `at`.
fn check_jwt(out: &mut Vec<Diagnostic>, at: &FieldPath, what: &str, jwt: &Jwt) {
    let sources = [
        jwt.secret_file.is_some(),
        jwt.keys.is_some(),
        jwt.jwks_url.is_some(),
    ];
    let count = sources.iter().filter(|s| **s).count();
    if count != 1 {
        out.push(
            Diagnostic::error(
                at.clone(),
                format!(
                    "the JWT settings of {what} name {count} key sources; exactly one is needed"
                ),
            )
            .with_help("set one of `secret_file = \"hs256.key\"` (HMAC), `keys = \"jwks.json\"` (a JWKS or PEM file) or `jwks_url = \"https://…/jwks.json\"`"),
        );
    }
    for (k, value) in [
        ("secret_file", &jwt.secret_file),
        ("keys", &jwt.keys),
        ("issuer", &jwt.issuer),
        ("audience", &jwt.audience),
        ("cookie", &jwt.cookie),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            out.push(
                Diagnostic::error(at.key(k), format!("`{k}` of {what} is empty"))
                    .with_help(format!("give `{k}` a value, or remove it")),
            );
        }
    }
    if let Some(url) = &jwt.jwks_url {
        check_http_url_of(out, at.key("jwks_url"), "JWKS URL", what, url);
    }
    for (i, alg) in jwt.algorithms.iter().enumerate() {
        if !JWT_ALGORITHMS.contains(&alg.as_str()) {
            out.push(
                Diagnostic::error(
                    at.key("algorithms").index(i),
                    format!("JWT algorithm `{alg}` of {what} is not supported"),
                )
                .with_help(format!("use one of {}", JWT_ALGORITHMS.join(", "))),
            );
        } else if jwt.secret_file.is_some() != alg.starts_with("HS") {
            let help = if jwt.secret_file.is_some() {
                "a `secret_file` verifies HS256, HS384 or HS512 only; list those, or name public keys with `keys`/`jwks_url`"
            } else {
                "HS256/HS384/HS512 need a shared secret: use `secret_file`, or list the public-key algorithms of the keys"
            };
            out.push(
                Diagnostic::error(
                    at.key("algorithms").index(i),
                    format!("JWT algorithm `{alg}` of {what} does not fit its keys"),
                )
                .with_help(help),
            );
        }
    }
    if let Some(cookie) = &jwt.cookie
        && !cookie.trim().is_empty()
        && !is_header_name(cookie)
    {
        out.push(
            Diagnostic::error(
                at.key("cookie"),
                format!("cookie name `{cookie}` of {what} is not a valid cookie name"),
            )
            .with_help("use letters, digits, `-` and `_`, as in `session`"),
        );
    }
}

/// Checks `cors = { … }` at `at`.
fn check_cors(out: &mut Vec<Diagnostic>, at: &FieldPath, what: &str, cors: &Cors) {
    if cors.origins.is_empty() {
        out.push(
            Diagnostic::error(
                at.key("origins"),
                format!("the CORS rule of {what} allows no origin"),
            )
            .with_help("list origins such as `\"https://app.example.com\"`, or `\"*\"`"),
        );
    }
    for (i, origin) in cors.origins.iter().enumerate() {
        if origin == "*" {
            if cors.credentials {
                out.push(
                    Diagnostic::error(
                        at.key("origins").index(i),
                        format!(
                            "the CORS rule of {what} allows every origin (`*`) with credentials"
                        ),
                    )
                    .with_help(
                        "browsers refuse `*` with credentials (Fetch standard): list the origins",
                    ),
                );
            }
        } else if !is_origin(origin) {
            out.push(
                Diagnostic::error(
                    at.key("origins").index(i),
                    format!("CORS origin `{origin}` of {what} is not an origin"),
                )
                .with_help(
                    "write scheme, host and optional port, with no path: `https://app.example.com`",
                ),
            );
        }
    }
    for (i, header) in cors.headers.iter().enumerate() {
        if !is_header_name(header) {
            out.push(
                Diagnostic::error(
                    at.key("headers").index(i),
                    format!("`{header}` in the CORS headers of {what} is not a header name"),
                )
                .with_help("use letters, digits and `-`, as in `authorization`"),
            );
        }
    }
}

/// Whether `value` can be sent as a header value as written: visible ASCII,
/// spaces and tabs (no CR, LF or NUL, no bytes a peer may reject).
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}
