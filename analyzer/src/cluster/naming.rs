//! Naming suggested services: a plan service keeps its name; a new one is
//! named after its dominant area (the module path segment after the crate
//! that most members share), else its most-written table.

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
            .find(|w| !w.is_empty() && !taken.contains(w))
            .unwrap_or_else(|| {
                let base = ranked
                    .first()
                    .map_or_else(|| "service".to_owned(), |(_, w)| sanitize(w));
                // At most `taken.len()` suffixes are in use, so one of these is free.
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

/// The area a unit belongs to: the first module segment after the crate
/// (`shop::orders::checkout` → `orders`), the crate itself for its root.
pub(super) fn area_of(id: &str) -> String {
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
