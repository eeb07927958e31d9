//! Reading a plan from TOML: every problem at once, each with its line.
//!
//! Parsing is strict (an unknown key is an error, as with serde's
//! `deny_unknown_fields`) but does not stop at the first problem. The TOML is
//! lowered by hand from a span-carrying [`toml_edit::Document`] into the
//! [`Plan`] model, collecting a [`Diagnostic`] per problem, and then
//! [`crate::validate`] checks what spans entries (duplicates, overlaps).
//! Entries that cannot be lowered (a route without a valid path) are left
//! out of the best-effort plan, and an error says why.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use toml_edit::{Item, TableLike, Value};

use crate::diagnostic::{Diagnostic, FieldPath, Step, locate, location_of};
use crate::gateway::Gateway;
use crate::model::{AnalyzeSettings, Method, Monolith, Plan, Proxy, Route, Service, Sticky, Table};
use crate::stage::{RouteStage, TableStage};
use crate::template::RouteTemplate;
use crate::validate::validate;

/// A plan read from TOML, with every problem found in it.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The plan, as far as it could be read. Only act on it when
    /// [`Parsed::is_valid`] says so; a partial plan is for showing.
    pub plan: Plan,
    /// Every problem, sorted by position in the file.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// Whether the plan has no errors (warnings are allowed).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        !crate::diagnostic::has_errors(&self.diagnostics)
    }
}

/// Parses and validates a plan from TOML text.
///
/// Never fails: a syntax error or an invalid field becomes a diagnostic with
/// a line and column, and the plan holds whatever could be read.
#[must_use]
pub fn parse(source: &str) -> Parsed {
    let doc = match toml_edit::Document::parse(source) {
        Ok(doc) => doc,
        Err(e) => {
            let message = e.message().trim().to_owned();
            let mut diagnostic =
                Diagnostic::error(FieldPath::root(), format!("invalid TOML: {message}"))
                    .with_help("fix the TOML syntax; every other check runs once the file parses");
            diagnostic.location = Some(location_of(source, e.span().map_or(0, |s| s.start)));
            return Parsed {
                plan: Plan::new(Monolith::default()),
                diagnostics: vec![diagnostic],
            };
        }
    };
    let mut lower = Lower::default();
    let plan = lower.plan(doc.as_table());
    let mut diagnostics = lower.diagnostics;
    let read_errors = diagnostics.len();
    for mut diagnostic in validate(&plan) {
        diagnostic.path = lower.origins.to_document(&diagnostic.path);
        // A field that could not even be read was reported already; checks on
        // its stand-in value would only repeat that.
        let shadowed = diagnostics[..read_errors]
            .iter()
            .any(|d| d.is_error() && diagnostic.path.0.starts_with(&d.path.0));
        if !shadowed {
            diagnostics.push(diagnostic);
        }
    }
    locate(&mut diagnostics, &doc);
    diagnostics.sort_by_key(|d| d.location);
    Parsed { plan, diagnostics }
}

/// Where each lowered entry came from, since entries that could not be
/// lowered are left out and shift the indices after them.
#[derive(Debug, Default)]
struct Origins {
    services: Vec<ServiceOrigin>,
}

#[derive(Debug, Default)]
struct ServiceOrigin {
    index: usize,
    routes: Vec<usize>,
    tables: Vec<usize>,
}

impl Origins {
    /// Maps a path into the plan to the same field's path in the document.
    fn to_document(&self, path: &FieldPath) -> FieldPath {
        let mut steps = path.0.clone();
        if let [Step::Key(k), Step::Index(i), rest @ ..] = steps.as_mut_slice()
            && k == "service"
            && let Some(service) = self.services.get(*i)
        {
            *i = service.index;
            if let [Step::Key(k), Step::Index(j), ..] = rest {
                let origin = match k.as_str() {
                    "route" => service.routes.get(*j),
                    "table" => service.tables.get(*j),
                    _ => None,
                };
                if let Some(origin) = origin {
                    *j = *origin;
                }
            }
        }
        FieldPath(steps)
    }
}

#[derive(Default)]
struct Lower {
    diagnostics: Vec<Diagnostic>,
    origins: Origins,
}

const PLAN_KEYS: &[&str] = &[
    "version", "monolith", "analyze", "service", "proxy", "gateway",
];
const PROXY_KEYS: &[&str] = &["admin", "token_file", "token_env"];
const ANALYZE_KEYS: &[&str] = &["granularity", "resolution", "seed", "services", "weights"];
const MONOLITH_KEYS: &[&str] = &["name", "upstream", "database"];
const SERVICE_KEYS: &[&str] = &[
    "name", "upstream", "database", "members", "pinned", "route", "table",
];
const ROUTE_KEYS: &[&str] = &[
    "path", "methods", "stage", "percent", "sticky", "host", "headers", "writes",
];
const TABLE_KEYS: &[&str] = &["name", "stage", "rename", "exclude", "readers", "writers"];

impl Lower {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn plan(&mut self, root: &toml_edit::Table) -> Plan {
        let path = FieldPath::root();
        self.unknown_keys(root, &path, "the plan", PLAN_KEYS);
        if root.get("version").is_none() {
            self.error(
                Diagnostic::error(path.key("version"), "the plan has no `version`")
                    .with_help("add `version = 1` at the top of the file"),
            );
        }
        let version = self
            .integer(root, &path, "version")
            .map_or(crate::model::VERSION, |v| {
                u32::try_from(v).unwrap_or(u32::MAX)
            });
        let monolith = if let Some(item) = root.get("monolith") {
            if let Some(table) = item.as_table_like() {
                self.monolith(table, &path.key("monolith"))
            } else {
                self.type_error(
                    &path.key("monolith"),
                    item,
                    "a table",
                    "write it as a `[monolith]` section",
                );
                Monolith::default()
            }
        } else {
            self.error(
                Diagnostic::error(path.key("monolith"), "the plan has no `[monolith]` section")
                    .with_help("add `[monolith]` with `name` and `upstream = \"http://…\"`"),
            );
            Monolith::default()
        };
        let analyze = match root.get("analyze") {
            Some(item) => {
                if let Some(table) = item.as_table_like() {
                    Some(self.analyze(table, &path.key("analyze")))
                } else {
                    self.type_error(
                        &path.key("analyze"),
                        item,
                        "a table",
                        "write it as an `[analyze]` section",
                    );
                    None
                }
            }
            None => None,
        };
        let mut services = Vec::new();
        for (index, table) in self.entries(root, &path, "service") {
            let service_path = path.key("service").index(index);
            let (service, origin) = self.service(table, &service_path, index);
            services.push(service);
            self.origins.services.push(origin);
        }
        let mut proxies = Vec::new();
        for (index, table) in self.entries(root, &path, "proxy") {
            let proxy_path = path.key("proxy").index(index);
            let what = format!("proxy #{}", index + 1);
            self.unknown_keys(table, &proxy_path, &what, PROXY_KEYS);
            proxies.push(Proxy {
                admin: self
                    .required_string(
                        table,
                        &proxy_path,
                        "admin",
                        "[[proxy]]",
                        "admin = \"http://127.0.0.1:9901\"",
                    )
                    .unwrap_or_default(),
                token_file: self.string(table, &proxy_path, "token_file"),
                token_env: self.string(table, &proxy_path, "token_env"),
            });
        }
        let gateway = match root.get("gateway") {
            Some(item) => {
                if let Some(table) = item.as_table_like() {
                    self.unknown_keys(table, &path.key("gateway"), "[gateway]", Gateway::KEYS);
                    self.gateway(table, &path.key("gateway"), "[gateway]")
                } else {
                    self.type_error(
                        &path.key("gateway"),
                        item,
                        "a table",
                        "write it as a `[gateway]` section",
                    );
                    Gateway::default()
                }
            }
            None => Gateway::default(),
        };
        Plan {
            version,
            monolith,
            analyze,
            services,
            proxies,
            gateway,
        }
    }

    /// The gateway keys of a route, a service or `[gateway]`. Each key is
    /// read with serde (its inner tables deny unknown fields), and a key
    /// that does not read becomes one error at that key.
    fn gateway(&mut self, table: &dyn TableLike, path: &FieldPath, what: &str) -> Gateway {
        let mut doc = toml_edit::DocumentMut::new();
        for key in Gateway::KEYS {
            if let Some(item) = table.get(key) {
                doc.insert(key, item.clone());
            }
        }
        if doc.is_empty() {
            return Gateway::default();
        }
        let text = doc.to_string();
        if let Ok(gateway) = toml::from_str::<Gateway>(&text) {
            return gateway;
        }
        // Read key by key, so each bad one is named and the good ones kept.
        let mut gateway = Gateway::default();
        for key in Gateway::KEYS {
            let Some(item) = table.get(key) else {
                continue;
            };
            let mut one = toml_edit::DocumentMut::new();
            one.insert(key, item.clone());
            match toml::from_str::<Gateway>(&one.to_string()) {
                Ok(read) => gateway = read.or(&gateway),
                Err(e) => self.error(
                    Diagnostic::error(
                        path.key(key),
                        format!("`{key}` of {what} is not valid: {}", e.message().trim()),
                    )
                    .with_help(gateway_example(key)),
                ),
            }
        }
        gateway
    }

    fn analyze(&mut self, table: &dyn TableLike, path: &FieldPath) -> AnalyzeSettings {
        self.unknown_keys(table, path, "[analyze]", ANALYZE_KEYS);
        let mut weights = std::collections::BTreeMap::new();
        if let Some(item) = table.get("weights") {
            if let Some(map) = item.as_table_like() {
                self.unknown_keys(
                    map,
                    &path.key("weights"),
                    "[analyze.weights]",
                    AnalyzeSettings::WEIGHTS,
                );
                for (kind, value) in map.iter() {
                    if let Some(w) = self.number(map, &path.key("weights"), kind) {
                        weights.insert(kind.to_owned(), w);
                    }
                    let _ = value;
                }
            } else {
                self.type_error(
                    &path.key("weights"),
                    item,
                    "a table of numbers",
                    "write `[analyze.weights]` with `reads = 2.0` and the like",
                );
            }
        }
        AnalyzeSettings {
            granularity: self.string(table, path, "granularity"),
            resolution: self.number(table, path, "resolution"),
            seed: self
                .integer(table, path, "seed")
                .and_then(|s| u64::try_from(s).ok()),
            services: self
                .integer(table, path, "services")
                .map(|s| u32::try_from(s).unwrap_or(0)),
            weights,
        }
    }

    /// A float, or an integer taken as one.
    fn number(&mut self, table: &dyn TableLike, path: &FieldPath, key: &str) -> Option<f64> {
        let item = table.get(key)?;
        if let Some(f) = item.as_float() {
            return Some(f);
        }
        if let Some(i) = item.as_integer() {
            return Some(i as f64);
        }
        self.type_error(
            &path.key(key),
            item,
            "a number",
            &format!("write `{key}` as a number, such as `1.5`"),
        );
        None
    }

    fn monolith(&mut self, table: &dyn TableLike, path: &FieldPath) -> Monolith {
        self.unknown_keys(table, path, "[monolith]", MONOLITH_KEYS);
        Monolith {
            name: self
                .required_string(table, path, "name", "[monolith]", "name = \"shop\"")
                .unwrap_or_default(),
            upstream: self
                .required_string(
                    table,
                    path,
                    "upstream",
                    "[monolith]",
                    "upstream = \"http://127.0.0.1:8080\"",
                )
                .unwrap_or_default(),
            database: self.string(table, path, "database"),
        }
    }

    fn service(
        &mut self,
        table: &dyn TableLike,
        path: &FieldPath,
        index: usize,
    ) -> (Service, ServiceOrigin) {
        let name = self.required_string(table, path, "name", "[[service]]", "name = \"catalog\"");
        let what = match &name {
            Some(name) => format!("service `{name}`"),
            None => format!("service #{}", index + 1),
        };
        self.unknown_keys(table, path, &what, &with_gateway(SERVICE_KEYS));
        let mut origin = ServiceOrigin {
            index,
            ..ServiceOrigin::default()
        };
        let mut routes = Vec::new();
        for (i, route) in self.entries(table, path, "route") {
            if let Some(route) = self.route(route, &path.key("route").index(i), &what) {
                routes.push(route);
                origin.routes.push(i);
            }
        }
        let mut tables = Vec::new();
        for (i, entry) in self.entries(table, path, "table") {
            if let Some(entry) = self.table(entry, &path.key("table").index(i), &what) {
                tables.push(entry);
                origin.tables.push(i);
            }
        }
        let service = Service {
            name: name.unwrap_or_default(),
            upstream: self.string(table, path, "upstream"),
            database: self.string(table, path, "database"),
            members: self.strings(table, path, "members"),
            pinned: self.strings(table, path, "pinned"),
            routes,
            tables,
            gateway: self.gateway(table, path, &what),
        };
        (service, origin)
    }

    fn route(&mut self, table: &dyn TableLike, path: &FieldPath, service: &str) -> Option<Route> {
        let raw_path = self.required_string(
            table,
            path,
            "path",
            "[[service.route]]",
            "path = \"/api/items/{id}\"",
        );
        let what = match &raw_path {
            Some(p) => format!("route `{p}` of {service}"),
            None => format!("a route of {service}"),
        };
        self.unknown_keys(table, path, &what, &with_gateway(ROUTE_KEYS));
        let template = raw_path.and_then(|raw| match RouteTemplate::parse(&raw) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(Diagnostic::error(path.key("path"), format!("{e} (in {service})")).with_help(
                    "write the path with literal segments, `{param}` and an optional trailing `{*rest}`, as in `/api/products/{id}`",
                ));
                None
            }
        });
        let methods = self.methods(table, path, &what);
        let stage = self.stage::<RouteStage>(table, path, &what, "stage = \"monolith\"");
        let percent = self.integer(table, path, "percent").map(|p| {
            if !(0..=100).contains(&p) {
                self.error(
                    Diagnostic::error(
                        path.key("percent"),
                        format!("percent {p} of {what} is outside 0–100"),
                    )
                    .with_help("set `percent` to a whole number from 0 to 100"),
                );
            }
            p.clamp(0, 100) as u8
        });
        let sticky = self.parsed::<Sticky>(
            table,
            path,
            "sticky",
            &what,
            "use `sticky = \"header:x-user-id\"` or `sticky = \"cookie:session\"`",
        );
        let host = self.string(table, path, "host");
        let headers = self.string_map(
            table,
            path,
            "headers",
            "a string (the header's required value)",
            "a table of header names",
            "write `headers = { x-tenant = \"beta\" }`",
        );
        let writes = self.strings(table, path, "writes");
        let gateway = self.gateway(table, path, &what);
        Some(Route {
            path: template?,
            methods,
            stage: stage?,
            percent,
            sticky,
            host,
            headers,
            writes,
            gateway,
        })
    }

    fn table(&mut self, table: &dyn TableLike, path: &FieldPath, service: &str) -> Option<Table> {
        let name = self.required_string(
            table,
            path,
            "name",
            "[[service.table]]",
            "name = \"products\"",
        );
        let what = match &name {
            Some(n) => format!("table `{n}` of {service}"),
            None => format!("a table of {service}"),
        };
        self.unknown_keys(table, path, &what, TABLE_KEYS);
        let stage = self.stage::<TableStage>(table, path, &what, "stage = \"monolith\"");
        let rename = self.string_map(
            table,
            path,
            "rename",
            "a string (the column's new name)",
            "a table of column names",
            "write `rename = { old_column = \"new_column\" }`",
        );
        let exclude = self.strings(table, path, "exclude");
        let readers = self.strings(table, path, "readers");
        let writers = self.strings(table, path, "writers");
        Some(Table {
            name: name?,
            stage: stage?,
            rename,
            exclude,
            readers,
            writers,
        })
    }

    fn methods(
        &mut self,
        table: &dyn TableLike,
        path: &FieldPath,
        what: &str,
    ) -> Option<Vec<Method>> {
        let item = table.get("methods")?;
        let Some(array) = item.as_array() else {
            self.type_error(
                &path.key("methods"),
                item,
                "an array of strings",
                "write `methods = [\"GET\", \"HEAD\"]`, or leave it out for every method",
            );
            return None;
        };
        let mut methods = Vec::new();
        for (i, value) in array.iter().enumerate() {
            let element = path.key("methods").index(i);
            match value.as_str().map(Method::from_str) {
                Some(Ok(m)) => methods.push(m),
                Some(Err(e)) => self.error(
                    Diagnostic::error(element, format!("{e} (in {what})")).with_help(
                        "use upper-case HTTP methods such as GET, POST, PUT, PATCH, DELETE",
                    ),
                ),
                None => self.error(
                    Diagnostic::error(
                        element,
                        format!("a method of {what} is {}, not a string", value.type_name()),
                    )
                    .with_help("write `methods = [\"GET\", \"HEAD\"]`"),
                ),
            }
        }
        if methods.is_empty() && array.is_empty() {
            self.error(
                Diagnostic::error(
                    path.key("methods"),
                    format!("{what} has an empty `methods` list, so it matches nothing"),
                )
                .with_help("list the methods, or leave `methods` out to route every method"),
            );
        }
        Some(methods)
    }

    fn stage<S>(
        &mut self,
        table: &dyn TableLike,
        path: &FieldPath,
        what: &str,
        example: &str,
    ) -> Option<S>
    where
        S: FromStr,
        S::Err: Display,
    {
        if table.get("stage").is_none() {
            self.error(
                Diagnostic::error(path.key("stage"), format!("{what} has no `stage`"))
                    .with_help(format!("add `{example}`")),
            );
            return None;
        }
        self.parsed::<S>(
            table,
            path,
            "stage",
            what,
            "use one of the stage names listed",
        )
    }

    /// Reads an optional string key and parses it, reporting parse errors.
    fn parsed<T>(
        &mut self,
        table: &dyn TableLike,
        path: &FieldPath,
        key: &str,
        what: &str,
        help: &str,
    ) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let raw = self.string(table, path, key)?;
        match raw.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(
                    Diagnostic::error(path.key(key), format!("{e} (in {what})")).with_help(help),
                );
                None
            }
        }
    }

    /// The tables of an array of tables (`[[key]]` or `key = [{…}]`), with
    /// their indices in the document.
    fn entries<'a>(
        &mut self,
        table: &'a dyn TableLike,
        path: &FieldPath,
        key: &str,
    ) -> Vec<(usize, &'a dyn TableLike)> {
        let Some(item) = table.get(key) else {
            return Vec::new();
        };
        let path = path.key(key);
        match item {
            Item::ArrayOfTables(array) => array
                .iter()
                .enumerate()
                .map(|(i, t)| (i, t as &dyn TableLike))
                .collect(),
            Item::Value(Value::Array(array)) => {
                let mut out = Vec::new();
                for (i, value) in array.iter().enumerate() {
                    match value.as_inline_table() {
                        Some(t) => out.push((i, t as &dyn TableLike)),
                        None => self.error(
                            Diagnostic::error(
                                path.index(i),
                                format!(
                                    "an entry of `{key}` is {}, not a table",
                                    value.type_name()
                                ),
                            )
                            .with_help(format!("write each entry as a `[[{key}]]` section")),
                        ),
                    }
                }
                out
            }
            other => {
                self.type_error(
                    &path,
                    other,
                    "an array of tables",
                    &format!("write each entry as a `[[{key}]]` section"),
                );
                Vec::new()
            }
        }
    }

    fn unknown_keys(
        &mut self,
        table: &dyn TableLike,
        path: &FieldPath,
        what: &str,
        allowed: &[&str],
    ) {
        for (key, _) in table.iter() {
            if allowed.contains(&key) {
                continue;
            }
            let help = match closest(key, allowed) {
                Some(near) => format!(
                    "did you mean `{near}`? The keys of {what} are: {}",
                    allowed.join(", ")
                ),
                None => format!("remove it; the keys of {what} are: {}", allowed.join(", ")),
            };
            self.error(
                Diagnostic::error(path.key(key), format!("unknown key `{key}` in {what}"))
                    .with_help(help)
                    .at_key(),
            );
        }
    }

    fn required_string(
        &mut self,
        table: &dyn TableLike,
        path: &FieldPath,
        key: &str,
        section: &str,
        example: &str,
    ) -> Option<String> {
        if table.get(key).is_none() {
            self.error(
                Diagnostic::error(path.key(key), format!("{section} entry has no `{key}`"))
                    .with_help(format!("add `{example}`")),
            );
            return None;
        }
        self.string(table, path, key)
    }

    /// A table of strings (`key = { a = "b" }`), with a type error for every
    /// entry that is not a string.
    fn string_map(
        &mut self,
        table: &dyn TableLike,
        path: &FieldPath,
        key: &str,
        value_expected: &str,
        map_expected: &str,
        help: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(item) = table.get(key) else {
            return out;
        };
        match item.as_table_like() {
            Some(map) => {
                for (from, to) in map.iter() {
                    match to.as_str() {
                        Some(to) => {
                            out.insert(from.to_owned(), to.to_owned());
                        }
                        None => {
                            self.type_error(&path.key(key).key(from), to, value_expected, help);
                        }
                    }
                }
            }
            None => self.type_error(&path.key(key), item, map_expected, help),
        }
        out
    }

    fn string(&mut self, table: &dyn TableLike, path: &FieldPath, key: &str) -> Option<String> {
        let item = table.get(key)?;
        if let Some(s) = item.as_str() {
            return Some(s.to_owned());
        }
        self.type_error(
            &path.key(key),
            item,
            "a string",
            &format!("quote the value: `{key} = \"…\"`"),
        );
        None
    }

    fn integer(&mut self, table: &dyn TableLike, path: &FieldPath, key: &str) -> Option<i64> {
        let item = table.get(key)?;
        if let Some(i) = item.as_integer() {
            return Some(i);
        }
        self.type_error(
            &path.key(key),
            item,
            "a whole number",
            &format!("write `{key}` as a bare integer, without quotes"),
        );
        None
    }

    fn strings(&mut self, table: &dyn TableLike, path: &FieldPath, key: &str) -> Vec<String> {
        let Some(item) = table.get(key) else {
            return Vec::new();
        };
        let Some(array) = item.as_array() else {
            self.type_error(
                &path.key(key),
                item,
                "an array of strings",
                &format!("write `{key} = [\"…\", \"…\"]`"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, value) in array.iter().enumerate() {
            match value.as_str() {
                Some(s) => out.push(s.to_owned()),
                None => self.error(
                    Diagnostic::error(
                        path.key(key).index(i),
                        format!("an entry of `{key}` is {}, not a string", value.type_name()),
                    )
                    .with_help("quote it"),
                ),
            }
        }
        out
    }

    fn type_error(&mut self, path: &FieldPath, item: &dyn TypeName, expected: &str, help: &str) {
        let key = path.0.last().map_or_else(String::new, |s| match s {
            Step::Key(k) => format!("`{k}`"),
            Step::Index(i) => format!("entry {i}"),
        });
        self.error(
            Diagnostic::error(
                path.clone(),
                format!("{key} must be {expected}, not {}", item.name()),
            )
            .with_help(help),
        );
    }
}

/// The allowed keys of an entry that also takes the gateway keys.
fn with_gateway(keys: &[&'static str]) -> Vec<&'static str> {
    keys.iter().chain(Gateway::KEYS).copied().collect()
}

/// An example of a gateway key, for the help of an error on it.
fn gateway_example(key: &str) -> &'static str {
    match key {
        "auth" => {
            "write `auth = \"none\"` or `auth = { jwt = { secret_file = \"hs256.key\", issuer = \"shop\", audience = \"api\" } }` (or `keys = \"jwks.json\"`, `jwks_url = \"https://…\"`)"
        }
        "require" => {
            "write `require = { scope = \"orders:read\" }` or `require = { claims = { role = \"admin\" } }`"
        }
        "forward_claims" => "write `forward_claims = { sub = \"x-user-id\" }` (claim = header)",
        "rate_limit" => {
            "write `rate_limit = { per_second = 50, burst = 100, key = \"ip\" }` (key: `ip`, `header:NAME` or `claim:NAME`)"
        }
        "strip_prefix" | "add_prefix" => "write a path prefix such as `\"/api\"`",
        "request_headers" | "response_headers" => {
            "write `{ set = { x-env = \"prod\" }, remove = [\"x-debug\"] }`"
        }
        "cors" => {
            "write `cors = { origins = [\"https://app.example.com\"], headers = [\"authorization\"], max_age = 600 }`"
        }
        "diff" => {
            "write `diff = { ignore = [\"$.generated_at\", \"$..etag\"], headers = [\"content-type\"], noise_percent = 10 }`"
        }
        "shadow_writes" => {
            "write `shadow_writes = true` (the service runs shadow writes as a dry run) or `false`"
        }
        _ => "see the plan format in strangler-proxy/README.md",
    }
}

/// Something whose TOML type can be named in a message.
trait TypeName {
    fn name(&self) -> &'static str;
}

impl TypeName for Item {
    fn name(&self) -> &'static str {
        match self {
            Item::Value(v) => v.type_name(),
            other => other.type_name(),
        }
    }
}

/// The allowed key closest to `key`, if it is a plausible typo.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min()
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        assert_eq!(closest("upstrem", SERVICE_KEYS), Some("upstream"));
        assert_eq!(closest("stages", ROUTE_KEYS), Some("stage"));
        assert_eq!(closest("colour", ROUTE_KEYS), None);
    }
}
