//! Writing a [`Plan`] back into its TOML document without losing the user's
//! comments, key order or formatting.
//!
//! [`reconcile`] changes only what differs. Services are matched by name
//! (or by position, when one was renamed), routes by path and methods, and
//! tables by name; a matched entry keeps its comments and layout, a new one
//! is appended, and one that is gone is removed with its comments.

use std::collections::BTreeMap;

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::gateway::Gateway;
use crate::model::{AnalyzeSettings, Monolith, Plan, Proxy, Route, Service, Table as PlanTable};

/// Makes `doc` describe `plan`, touching only what changed.
pub fn reconcile(doc: &mut DocumentMut, plan: &Plan) {
    let root = doc.as_table_mut();
    set_integer(root, "version", i64::from(plan.version));
    if !root.get("monolith").is_some_and(Item::is_table) {
        root.insert("monolith", Item::Table(Table::new()));
    }
    if let Some(table) = root.get_mut("monolith").and_then(Item::as_table_mut) {
        reconcile_monolith(table, &plan.monolith);
    }
    match &plan.analyze {
        None => {
            root.remove("analyze");
        }
        Some(settings) => {
            if !root.get("analyze").is_some_and(Item::is_table) {
                root.insert("analyze", Item::Table(Table::new()));
            }
            if let Some(table) = root.get_mut("analyze").and_then(Item::as_table_mut) {
                reconcile_analyze(table, settings);
            }
        }
    }
    let old = match root.remove("service") {
        Some(Item::ArrayOfTables(array)) => array.into_iter().collect(),
        _ => Vec::new(),
    };
    let services = merge_entries(
        old,
        &plan.services,
        |t| t.get("name").and_then(Item::as_str).map(str::to_owned),
        |s| s.name.clone(),
        reconcile_service,
    );
    if !services.is_empty() {
        root.insert("service", Item::ArrayOfTables(services));
    }
    if plan.gateway.is_empty() {
        root.remove("gateway");
    } else {
        if !root.get("gateway").is_some_and(Item::is_table) {
            root.insert("gateway", Item::Table(Table::new()));
        }
        if let Some(table) = root.get_mut("gateway").and_then(Item::as_table_mut) {
            reconcile_gateway(table, &plan.gateway);
        }
    }
    let old = match root.remove("proxy") {
        Some(Item::ArrayOfTables(array)) => array.into_iter().collect(),
        _ => Vec::new(),
    };
    let proxies = merge_entries(
        old,
        &plan.proxies,
        |t| t.get("admin").and_then(Item::as_str).map(str::to_owned),
        |p| p.admin.clone(),
        reconcile_proxy,
    );
    if !proxies.is_empty() {
        root.insert("proxy", Item::ArrayOfTables(proxies));
    }
}

fn reconcile_proxy(table: &mut Table, proxy: &Proxy) {
    set_string(table, "admin", Some(&proxy.admin));
    set_string(table, "token_file", proxy.token_file.as_deref());
    set_string(table, "token_env", proxy.token_env.as_deref());
}

fn reconcile_monolith(table: &mut Table, monolith: &Monolith) {
    set_string(table, "name", Some(&monolith.name));
    set_string(table, "upstream", Some(&monolith.upstream));
    set_string(table, "database", monolith.database.as_deref());
}

fn reconcile_analyze(table: &mut Table, settings: &AnalyzeSettings) {
    set_string(table, "granularity", settings.granularity.as_deref());
    set_float(table, "resolution", settings.resolution);
    match settings.seed.and_then(|s| i64::try_from(s).ok()) {
        Some(seed) => set_integer(table, "seed", seed),
        None => {
            table.remove("seed");
        }
    }
    match settings.services {
        Some(n) => set_integer(table, "services", i64::from(n)),
        None => {
            table.remove("services");
        }
    }
    if settings.weights.is_empty() {
        table.remove("weights");
        return;
    }
    if !table.get("weights").is_some_and(Item::is_table_like) {
        table.insert("weights", Item::Table(Table::new()));
    }
    if let Some(weights) = table.get_mut("weights").and_then(Item::as_table_mut) {
        let stale: Vec<String> = weights
            .iter()
            .map(|(k, _)| k.to_owned())
            .filter(|k| !settings.weights.contains_key(k))
            .collect();
        for key in stale {
            weights.remove(&key);
        }
        for (kind, w) in &settings.weights {
            set_float(weights, kind, Some(*w));
        }
    }
}

fn set_float(table: &mut Table, key: &str, value: Option<f64>) {
    match value {
        None => {
            table.remove(key);
        }
        Some(v) => {
            let current = table
                .get(key)
                .and_then(|i| i.as_float().or_else(|| i.as_integer().map(|n| n as f64)));
            if current != Some(v) {
                replace_value(table, key, Value::from(v));
            }
        }
    }
}

fn reconcile_service(table: &mut Table, service: &Service) {
    set_string(table, "name", Some(&service.name));
    set_string(table, "upstream", service.upstream.as_deref());
    set_string(table, "database", service.database.as_deref());
    set_strings(table, "members", &service.members);
    set_strings(table, "pinned", &service.pinned);
    reconcile_gateway(table, &service.gateway);
    let old_routes = take_array(table, "route");
    let routes = merge_entries(
        old_routes,
        &service.routes,
        route_key_of_table,
        route_key,
        reconcile_route,
    );
    if !routes.is_empty() {
        table.insert("route", Item::ArrayOfTables(routes));
    }
    let old_tables = take_array(table, "table");
    let tables = merge_entries(
        old_tables,
        &service.tables,
        |t| t.get("name").and_then(Item::as_str).map(str::to_owned),
        |t| t.name.clone(),
        reconcile_table,
    );
    if !tables.is_empty() {
        table.insert("table", Item::ArrayOfTables(tables));
    }
}

fn reconcile_route(table: &mut Table, route: &Route) {
    set_string(table, "path", Some(route.path.as_str()));
    let methods: Option<Vec<String>> = route
        .methods
        .as_ref()
        .map(|m| m.iter().map(|m| m.as_str().to_owned()).collect());
    match &methods {
        Some(methods) => set_strings_always(table, "methods", methods),
        None => {
            table.remove("methods");
        }
    }
    set_string(table, "stage", Some(route.stage.as_str()));
    match route.percent {
        Some(p) => set_integer(table, "percent", i64::from(p)),
        None => {
            table.remove("percent");
        }
    }
    set_string(
        table,
        "sticky",
        route.sticky.as_ref().map(ToString::to_string).as_deref(),
    );
    set_string(table, "host", route.host.as_deref());
    set_string_map(table, "headers", &route.headers);
    set_strings(table, "writes", &route.writes);
    reconcile_gateway(table, &route.gateway);
}

/// Writes the gateway keys: a key whose value reads the same as the wanted
/// one is left as written (comments, layout and all); others are replaced
/// by inline values, and keys no longer set are removed.
fn reconcile_gateway(table: &mut Table, gateway: &Gateway) {
    let wanted: DocumentMut = toml::to_string(gateway)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_default();
    for key in Gateway::KEYS {
        let read = |item: &Item| {
            let mut one = DocumentMut::new();
            one.insert(key, item.clone());
            toml::from_str::<Gateway>(&one.to_string()).ok()
        };
        let Some(want) = wanted.get(key) else {
            table.remove(key);
            continue;
        };
        let same = table
            .get(key)
            .is_some_and(|have| read(have).is_some_and(|have| Some(have) == read(want)));
        if same {
            continue;
        }
        match want.clone().into_value() {
            Ok(mut value) => {
                if let Value::InlineTable(inline) = &mut value {
                    inline.fmt();
                }
                replace_value(table, key, value);
            }
            Err(item) => {
                table.insert(key, item);
            }
        }
    }
}

/// The string entries of an inline or standard table under `key`.
fn string_map_of(table: &Table, key: &str) -> Option<BTreeMap<String, String>> {
    table.get(key).and_then(Item::as_table_like).map(|t| {
        t.iter()
            .map(|(k, v)| (k.to_owned(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    })
}

/// Sets `key` to an inline table of strings, removes it when `wanted` is
/// empty, and leaves it untouched (comments and all) when it already holds
/// the same entries.
fn set_string_map(table: &mut Table, key: &str, wanted: &BTreeMap<String, String>) {
    if wanted.is_empty() {
        table.remove(key);
    } else if string_map_of(table, key).as_ref() != Some(wanted) {
        let mut inline = InlineTable::new();
        for (k, v) in wanted {
            inline.insert(k, Value::from(v.as_str()));
        }
        replace_value(table, key, Value::InlineTable(inline));
    }
}

fn reconcile_table(table: &mut Table, entry: &PlanTable) {
    set_string(table, "name", Some(&entry.name));
    set_string(table, "stage", Some(entry.stage.as_str()));
    set_string_map(table, "rename", &entry.rename);
    set_strings(table, "exclude", &entry.exclude);
    set_strings(table, "readers", &entry.readers);
    set_strings(table, "writers", &entry.writers);
}

fn route_key(route: &Route) -> String {
    format!(
        "{} {} {}",
        route.methods_label(),
        route.path,
        route.conditions_label()
    )
}

fn route_key_of_table(table: &Table) -> Option<String> {
    let path = table.get("path").and_then(Item::as_str)?;
    let methods = match table.get("methods").and_then(Item::as_array) {
        Some(array) => array
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        None => "*".to_owned(),
    };
    let mut conditions = Vec::new();
    if let Some(host) = table.get("host").and_then(Item::as_str) {
        conditions.push(format!("host={host}"));
    }
    for (name, value) in string_map_of(table, "headers").unwrap_or_default() {
        conditions.push(format!("{name}={value}"));
    }
    Some(format!("{methods} {path} {}", conditions.join(" ")))
}

fn take_array(table: &mut Table, key: &str) -> Vec<Table> {
    match table.remove(key) {
        Some(Item::ArrayOfTables(array)) => array.into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Pairs each wanted entry with the old table of the same identity (or, when
/// its identity is new, with the old table at the same position whose
/// identity is gone: a rename), reconciles it, and returns the new array in
/// the wanted order.
fn merge_entries<T>(
    old: Vec<Table>,
    wanted: &[T],
    key_of_table: impl Fn(&Table) -> Option<String>,
    key_of: impl Fn(&T) -> String,
    apply: impl Fn(&mut Table, &T),
) -> ArrayOfTables {
    let wanted_keys: Vec<String> = wanted.iter().map(&key_of).collect();
    let old_keys: Vec<Option<String>> = old.iter().map(&key_of_table).collect();
    let mut old: Vec<Option<Table>> = old.into_iter().map(Some).collect();
    let mut out = ArrayOfTables::new();
    for (i, entry) in wanted.iter().enumerate() {
        let by_key = old_keys
            .iter()
            .position(|k| k.as_deref() == Some(wanted_keys[i].as_str()));
        let by_position = || {
            old_keys
                .get(i)
                .filter(|k| k.as_ref().is_none_or(|k| !wanted_keys.contains(k)))
                .map(|_| i)
        };
        let mut table = by_key
            .or_else(by_position)
            .and_then(|j| old.get_mut(j).and_then(Option::take))
            .unwrap_or_default();
        apply(&mut table, entry);
        out.push(table);
    }
    out
}

/// Sets `key` to `value`, keeping the key's and the old value's decor
/// (indentation, spacing, trailing comment).
fn replace_value(table: &mut Table, key: &str, mut value: Value) {
    if let Some(item) = table.get_mut(key) {
        if let Item::Value(old) = item {
            *value.decor_mut() = old.decor().clone();
        }
        *item = Item::Value(value);
        return;
    }
    let indent = sibling_indent(table);
    table.insert(key, Item::Value(value));
    if let Some(indent) = indent
        && let Some(mut new_key) = table.key_mut(key)
    {
        new_key.leaf_decor_mut().set_prefix(indent);
    }
}

/// The indentation of the table's first key, so a key added beside it
/// lines up (`  percent = 10` under `  stage = "canary"`).
fn sibling_indent(table: &Table) -> Option<String> {
    table.iter().find_map(|(name, _)| {
        let prefix = table.key(name)?.leaf_decor().prefix()?.as_str()?;
        let indent = prefix.rsplit('\n').next().unwrap_or(prefix);
        (!indent.is_empty() && indent.chars().all(|c| c == ' ' || c == '\t'))
            .then(|| indent.to_owned())
    })
}

fn set_string(table: &mut Table, key: &str, value: Option<&str>) {
    match value {
        None => {
            table.remove(key);
        }
        Some(v) if table.get(key).and_then(Item::as_str) == Some(v) => {}
        Some(v) => replace_value(table, key, Value::from(v)),
    }
}

fn set_integer(table: &mut Table, key: &str, value: i64) {
    if table.get(key).and_then(Item::as_integer) != Some(value) {
        replace_value(table, key, Value::from(value));
    }
}

/// Sets an array of strings, removing the key when the list is empty.
fn set_strings(table: &mut Table, key: &str, values: &[String]) {
    if values.is_empty() {
        table.remove(key);
    } else {
        set_strings_always(table, key, values);
    }
}

fn set_strings_always(table: &mut Table, key: &str, values: &[String]) {
    let current: Option<Vec<&str>> = table
        .get(key)
        .and_then(Item::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    if current.is_some_and(|c| c.len() == values.len() && c.iter().zip(values).all(|(a, b)| a == b))
    {
        return;
    }
    let mut array: Array = values.iter().map(String::as_str).collect();
    let width: usize = values.iter().map(|v| v.len() + 4).sum();
    if width > 72 {
        for value in array.iter_mut() {
            value.decor_mut().set_prefix("\n    ");
        }
        array.set_trailing("\n");
        array.set_trailing_comma(true);
    }
    replace_value(table, key, Value::Array(array));
}
