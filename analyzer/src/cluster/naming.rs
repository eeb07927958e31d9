//! Naming suggested services: a plan service keeps its name; a new one is
//! named after its dominant area (the module path segment after the crate
//! that most members share, layer names such as `routes` or `db` skipped),
//! else its most-written table; never after a layer or a helper (`api`,
//! `db`, `macros`, `utils`, `mod`).

use std::collections::{BTreeMap, BTreeSet};

use super::coupling::Unit;

/// Names each community: a plan service keeps its name; others are named
/// after their dominant area (the module path segment after the crate most
/// members share), else their most-written table. Names are unique.
/// `labels` gives a community the index of the plan service it carries, in
/// `existing`, the names of the plan's services.
pub(super) fn name_communities(
    existing: &[&str],
    units: &[Unit],
    community_of: &[usize],
    communities: &BTreeSet<usize>,
    labels: &BTreeMap<usize, u32>,
) -> BTreeMap<usize, String> {
    let mut names: BTreeMap<usize, String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for c in communities {
        if let Some(&name) = labels.get(c).and_then(|l| existing.get(*l as usize)) {
            names.insert(*c, name.to_owned());
            taken.insert(name.to_owned());
        }
    }
    // Largest communities choose first, so the main area gets the plain name.
    let mut order: Vec<(usize, usize)> = communities
        .iter()
        .filter(|c| !names.contains_key(c))
        .map(|&c| {
            (
                community_of
                    .iter()
                    .zip(units)
                    .filter(|(x, u)| **x == c && !u.table)
                    .count(),
                c,
            )
        })
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let java_prefix = common_java_prefix(units);
    for (_, c) in order {
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for (i, unit) in units.iter().enumerate() {
            if community_of[i] != c {
                continue;
            }
            let word = if unit.table {
                unit.id
                    .trim_start_matches("table:")
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            } else if let Some(segments) = java_segments(&unit.id) {
                java_area(&segments, java_prefix)
            } else {
                area_of(&unit.id)
            };
            if !word.is_empty() {
                *votes.entry(word).or_default() += if unit.table { 1 } else { 2 };
            }
        }
        let mut ranked: Vec<(usize, String)> = votes.into_iter().map(|(w, n)| (n, w)).collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let candidate = ranked
            .iter()
            .map(|(_, w)| sanitize(w))
            .find(|w| !w.is_empty() && nameable(w) && !taken.contains(w))
            .unwrap_or_else(|| {
                let base = ranked
                    .iter()
                    .map(|(_, w)| sanitize(w))
                    .find(|w| !w.is_empty() && nameable(w))
                    .unwrap_or_else(|| "service".to_owned());
                if !taken.contains(&base) && !ranked.iter().any(|(_, w)| sanitize(w) == base) {
                    return base;
                }
                (2..=taken.len() + 2)
                    .map(|n| format!("{base}-{n}"))
                    .find(|n| !taken.contains(n))
                    .unwrap_or(base)
            });
        taken.insert(candidate.clone());
        names.insert(c, candidate);
    }
    names
}

/// Module names that say which layer code is in, not which business area:
/// layered applications repeat them in every area (`routes::orders`,
/// `domain::orders`, `db::orders`), so they neither name a service nor
/// tell areas apart.
pub(super) const LAYER_WORDS: &[&str] = &[
    "api",
    "apis",
    "controller",
    "controllers",
    "db",
    "dao",
    "domain",
    "endpoint",
    "endpoints",
    "entities",
    "entity",
    "handler",
    "handlers",
    "http",
    "model",
    "models",
    "repo",
    "repos",
    "repositories",
    "repository",
    "resources",
    "rest",
    "routes",
    "schema",
    "service",
    "services",
    "store",
    "storage",
    "v1",
    "v2",
    "v3",
    "web",
];

/// Module names of helpers and plumbing, which never name a service.
const HELPER_WORDS: &[&str] = &[
    "common",
    "core",
    "error",
    "errors",
    "helpers",
    "impls",
    "lib",
    "macros",
    "middleware",
    "mod",
    "prelude",
    "source",
    "types",
    "util",
    "utils",
];

/// Whether a module name is a layer's (see [`LAYER_WORDS`]).
pub(super) fn is_layer(word: &str) -> bool {
    LAYER_WORDS.contains(&word)
}

/// The area a unit belongs to: the first module segment after the crate
/// that is not a layer's (`shop::orders::checkout` → `orders`,
/// `app::routes::subscriptions::confirm` → `subscriptions`), else the first
/// segment after the crate, the crate itself for its root.
pub(super) fn area_of(id: &str) -> String {
    let id = id.strip_prefix("file:").unwrap_or(id);
    let mut parts = id
        .split(['/', ':'])
        .filter(|p| !p.is_empty() && *p != "src")
        .map(|p| p.trim_end_matches(".rs"));
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    rest.iter()
        .find(|p| !is_layer(p))
        .or_else(|| rest.first())
        .copied()
        .unwrap_or(first)
        .to_owned()
}

/// A Java unit's package path and class, as segments: a package or type
/// id (`org.example.shop.order.Cart`) split at its dots, or a file under a
/// `java/` source root (`file:src/main/java/org/example/shop/order/Cart.java`)
/// split at its slashes from the package on. `None` for Rust ids (`::`
/// paths, crate names, files outside a `java/` root).
fn java_segments(id: &str) -> Option<Vec<&str>> {
    if let Some(path) = id.strip_prefix("file:") {
        let start = if let Some(rest) = path.strip_prefix("java/") {
            rest
        } else {
            let at = path.rfind("/java/")?;
            &path[at + "/java/".len()..]
        };
        let start = start.strip_suffix(".java").unwrap_or(start);
        return Some(start.split('/').filter(|s| !s.is_empty()).collect());
    }
    if id.contains("::") || id.contains('/') || !id.contains('.') {
        return None;
    }
    Some(id.split('.').filter(|s| !s.is_empty()).collect())
}

/// How many leading package segments every Java unit shares
/// (`org.example.shop` of `org.example.shop.order` and
/// `org.example.shop.account.Account`): the organisation's and the
/// application's name, which tell no area apart. Class names (upper case
/// by Java's conventions) are not package segments.
fn common_java_prefix(units: &[Unit]) -> usize {
    let mut common: Option<Vec<&str>> = None;
    for unit in units.iter().filter(|u| !u.table) {
        let Some(segments) = java_segments(&unit.id) else {
            continue;
        };
        let package: Vec<&str> = segments.into_iter().take_while(|s| is_package(s)).collect();
        common = Some(match common {
            None => package,
            Some(c) => c
                .iter()
                .zip(&package)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    common.map_or(0, |c| c.len())
}

/// Whether a Java id segment is a package's (lower case first), not a
/// class's.
fn is_package(segment: &str) -> bool {
    segment
        .chars()
        .next()
        .is_some_and(|c| !c.is_ascii_uppercase())
}

/// A Java unit's area: the first package segment after the `prefix` all
/// units share that is not a layer's (`org.example.shop.web.order.Cart` →
/// `order`), else the first after it, else the last shared one (a unit of
/// the root package is in the application's own area).
fn java_area(segments: &[&str], prefix: usize) -> String {
    let package: Vec<&str> = segments
        .iter()
        .copied()
        .take_while(|s| is_package(s))
        .collect();
    let rest = package.get(prefix..).unwrap_or_default();
    rest.iter()
        .find(|p| !is_layer(p))
        .or_else(|| rest.first())
        .or_else(|| prefix.checked_sub(1).and_then(|i| package.get(i)))
        .copied()
        .unwrap_or_default()
        .to_owned()
}

/// The top-level area of a unit: the first module segment after the
/// crate, layers included (`app::routes::orders` → `routes`), the crate
/// itself for its root. The shared-infrastructure rule counts these: with
/// layers skipped, every module a handler calls would count as another
/// area, and generated clients (one module per resource) as dozens.
pub(super) fn top_area_of(id: &str) -> String {
    let id = id.strip_prefix("file:").unwrap_or(id);
    let mut parts = id
        .split(['/', ':'])
        .filter(|p| !p.is_empty() && *p != "src");
    let first = parts.next().unwrap_or_default();
    parts
        .next()
        .map_or(first, |s| s.trim_end_matches(".rs"))
        .to_owned()
}

/// Whether a word may name a service: not a layer's, not a helper's.
fn nameable(word: &str) -> bool {
    !is_layer(word) && !HELPER_WORDS.contains(&word)
}

fn sanitize(word: &str) -> String {
    let lower: String = word
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    lower.trim_matches('-').replace("--", "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str) -> Unit {
        Unit {
            id: id.to_owned(),
            table: id.starts_with("table:"),
            part_of: None,
        }
    }

    #[test]
    fn areas_skip_layer_names() {
        assert_eq!(area_of("shop::orders::checkout"), "orders");
        assert_eq!(area_of("zero2prod::routes::subscriptions"), "subscriptions");
        assert_eq!(area_of("app::db::models::users"), "users");
        assert_eq!(area_of("zero2prod::routes"), "routes");
        assert_eq!(area_of("zero2prod"), "zero2prod");
        assert_eq!(area_of("file:src/api/v1/users.rs"), "users");
    }

    #[test]
    fn java_areas_skip_the_shared_package_prefix_and_layers() {
        let units = [
            unit("org.example.shop.order"),
            unit("org.example.shop.web.account.AccountController"),
            unit("file:src/main/java/org/example/shop/catalog/Item.java"),
            unit("table:orders"),
        ];
        let prefix = common_java_prefix(&units);
        assert_eq!(prefix, 3);
        let area = |id: &str| java_area(&java_segments(id).unwrap(), prefix);
        assert_eq!(area("org.example.shop.order"), "order");
        assert_eq!(
            area("org.example.shop.web.account.AccountController"),
            "account"
        );
        assert_eq!(
            area("file:src/main/java/org/example/shop/catalog/Item.java"),
            "catalog"
        );
        assert_eq!(area("org.example.shop.Application"), "shop");
        assert_eq!(area("org.example.shop.web.Base"), "web");
        assert_eq!(java_segments("shop::orders"), None);
        assert_eq!(java_segments("kellnr_db"), None);
        assert_eq!(java_segments("file:src/orders.rs"), None);
        // Named in a suggestion: the areas, not `java` or the package path.
        let community_of = [0, 1, 2, 0];
        let communities: BTreeSet<usize> = [0, 1, 2].into();
        let names = name_communities(&[], &units, &community_of, &communities, &BTreeMap::new());
        assert_eq!(
            names.values().map(String::as_str).collect::<Vec<_>>(),
            ["order", "account", "catalog"]
        );
    }

    #[test]
    fn services_are_never_named_after_a_layer_or_a_helper() {
        // One community of `db`/`utils` helpers writing `invoices`, one of
        // `macros` only.
        let units = [
            unit("app::db"),
            unit("app::utils"),
            unit("app::utils::time"),
            unit("table:billing.invoices"),
            unit("app::macros"),
        ];
        let community_of = [0, 0, 0, 0, 1];
        let communities = BTreeSet::from([0, 1]);
        let names = name_communities(&[], &units, &community_of, &communities, &BTreeMap::new());
        assert_eq!(names[&0], "invoices");
        assert_eq!(names[&1], "service");
    }
}
