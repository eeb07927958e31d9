//! Comparing a decomposition with a reference one: reading the reference
//! (`--truth`), MoJoFM and the adjusted Rand index, and scoring a
//! suggestion with both.
//!
//! Scoring counts every unit the reference names, so nothing the tool does
//! can hide a unit from the score:
//! - a unit the suggestion leaves in `shared` is a cluster of its own (a
//!   singleton), and so is a table it puts in no service;
//! - the reference's `[shared]` members are scored too, each as a cluster
//!   of its own, the same rule as the suggestion's `shared`: "in no
//!   service" means alone on both sides, so a suggestion that agrees with
//!   the reference scores 100, and one that puts a shared module into a
//!   service pays a move for it (read as one cluster instead, the shared
//!   members of a perfect suggestion would each cost a join, and no
//!   suggestion could reach 100);
//! - a unit of the reference the analysis does not have is a singleton and
//!   is listed in [`Comparison::missing`];
//! - units of the analysis the reference does not name (test modules, tool
//!   crates it leaves out) are not scored and are listed in
//!   [`Comparison::unlabelled`];
//! - at file and function granularity a module is scored where its nodes
//!   are: the service of the unit (file or function) most of its nodes
//!   belong to, so the reference's module ids stay comparable.
//!
//! MoJoFM and the adjusted Rand index themselves take partitions as
//! `object → cluster label` maps and compare only the objects present in
//! both; [`score`] hands them two maps over the same objects.

// The code follows the papers' notation (A, B, n, l, m, g), which reads
// better here than long names.
#![allow(clippy::many_single_char_names, clippy::similar_names)]

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::coupling::{Granularity, unit_map};
use super::suggest::Suggestion;
use crate::Analysis;
use crate::graph::NodeKind;

/// A reference decomposition ("ground truth"), from [`read_truth`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    /// Unit id (a module id, or `table:NAME`) → the service it belongs to.
    pub services: BTreeMap<String, String>,
    /// Units the reference puts in no service (its `[shared]` members).
    pub shared: BTreeSet<String>,
}

impl Truth {
    /// How many units the reference names, in services and in `[shared]`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.services.len() + self.shared.len()
    }

    /// Whether the reference names no unit at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a suggestion compares with a reference, every unit of the reference
/// counted (see the module docs for the rules).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// MoJoFM, 0 to 100 (100 is identical).
    pub mojofm: f64,
    /// The adjusted Rand index, −1 to 1 (1 is identical, about 0 is chance).
    pub ari: f64,
    /// MoJoFM of the one-service baseline (every unit of the reference in
    /// one service) against the reference: the score of not splitting.
    pub baseline_mojofm: f64,
    /// Units the reference names: modules and tables, its `[shared]`
    /// members included.
    pub truth_units: usize,
    /// Units the scores were computed on (every unit of the reference).
    pub scored: usize,
    /// Modules the reference puts in a service ("business modules").
    pub business_modules: usize,
    /// Of those, the ones the suggestion leaves in `shared`.
    pub business_modules_shared: usize,
    /// Units of the reference the analysis does not have, scored as
    /// singletons.
    pub missing: Vec<String>,
    /// Modules and tables of the analysis the reference does not name, left
    /// out of the scores.
    pub unlabelled: Vec<String>,
}

/// Reads a reference decomposition: `[services.NAME] members = [...],
/// tables = [...]`, and `[shared] members = [...]` for the modules it puts
/// in no service. A unit named twice, or a reference naming no unit, is an
/// error.
pub fn read_truth(text: &str) -> Result<Truth, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let services = table
        .get("services")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| "no [services.NAME] sections".to_owned())?;
    let mut truth = Truth::default();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let sections = services
        .iter()
        .map(|(name, section)| (format!("services.{name}"), Some(name), section))
        .chain(
            table
                .get("shared")
                .map(|section| ("shared".to_owned(), None, section)),
        );
    for (section_name, service, section) in sections {
        for (key, prefix) in [("members", ""), ("tables", "table:")] {
            for item in section
                .get(key)
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = item.as_str() else {
                    return Err(format!("[{section_name}] {key}: {item} is not a string"));
                };
                let id = format!("{prefix}{id}");
                if let Some(first) = seen.insert(id.clone(), section_name.clone()) {
                    return Err(format!(
                        "`{id}` is named twice, in [{first}] and in [{section_name}]; a unit belongs to one place"
                    ));
                }
                match service {
                    Some(name) => {
                        truth.services.insert(id, name.clone());
                    }
                    None => {
                        truth.shared.insert(id);
                    }
                }
            }
        }
    }
    if truth.is_empty() {
        return Err("the reference names no members or tables".to_owned());
    }
    Ok(truth)
}

/// Scores `suggestion`, made from `analysis`, against `truth`: sets its
/// `mojofm`, `ari` and `comparison`.
pub fn score(analysis: &Analysis, suggestion: &mut Suggestion, truth: &Truth) {
    let ours = placements(analysis, suggestion);
    let comparison = compare(truth, &ours);
    suggestion.mojofm = Some(comparison.mojofm);
    suggestion.ari = Some(comparison.ari);
    suggestion.comparison = Some(comparison);
}

/// Where a suggestion puts a module or a table of the analysis.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Placement {
    /// In this service.
    Service(String),
    /// In `shared` (left out of every service).
    Shared,
    /// In no service and not in `shared` (a table no service took).
    Unplaced,
}

/// Every module and table node of `analysis`, with where `suggestion`
/// puts it. At module granularity a module is its own unit; at file and
/// function granularity each of its nodes (itself, its items) votes with
/// its unit's placement, and the most votes win (a service over `shared`
/// on a tie, then the first name).
fn placements(analysis: &Analysis, suggestion: &Suggestion) -> BTreeMap<String, Placement> {
    let mut service_of_unit: BTreeMap<String, &str> = BTreeMap::new();
    for service in &suggestion.services {
        for member in &service.members {
            service_of_unit.insert(member.clone(), &service.name);
        }
        for table in &service.tables {
            service_of_unit.insert(format!("table:{table}"), &service.name);
        }
    }
    let placement_of_unit = |unit: &str| {
        service_of_unit
            .get(unit)
            .map_or(Placement::Shared, |s| Placement::Service((*s).to_owned()))
    };
    let module_of = unit_map(analysis, Granularity::Module);
    let unit_of = if suggestion.granularity == Granularity::Module {
        None
    } else {
        Some(unit_map(analysis, suggestion.granularity))
    };
    let mut votes: BTreeMap<&str, BTreeMap<Placement, usize>> = BTreeMap::new();
    for (node, module) in &module_of {
        let unit = match &unit_of {
            None => Some(module),
            Some(map) => map.get(node),
        };
        if let Some(unit) = unit {
            *votes
                .entry(module.as_str())
                .or_default()
                .entry(placement_of_unit(unit))
                .or_default() += 1;
        }
    }
    let mut out = BTreeMap::new();
    for node in &analysis.nodes {
        let placement = match node.kind {
            NodeKind::Module | NodeKind::Crate => votes
                .get(node.id.as_str())
                .and_then(|v| {
                    // Most votes; on a tie a service before `shared`, then
                    // the first service name (`Placement`'s order).
                    v.iter()
                        .max_by(|(p, n), (q, m)| n.cmp(m).then_with(|| q.cmp(p)))
                        .map(|(p, _)| p.clone())
                })
                .unwrap_or(Placement::Unplaced),
            NodeKind::Table => service_of_unit
                .get(&node.id)
                .map_or(Placement::Unplaced, |s| Placement::Service((*s).to_owned())),
            _ => continue,
        };
        out.insert(node.id.clone(), placement);
    }
    out
}

/// Compares the placements of a suggestion with the reference, every unit
/// of the reference counted.
fn compare(truth: &Truth, ours: &BTreeMap<String, Placement>) -> Comparison {
    // Cluster labels: `s:` for services, `1:` for singletons, so that no
    // service name can meet a singleton's.
    let singleton = |id: &str| format!("1:{id}");
    let mut a: BTreeMap<String, String> = BTreeMap::new();
    let mut b: BTreeMap<String, String> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut business_modules = 0;
    let mut business_modules_shared = 0;
    let truth_units = truth
        .services
        .iter()
        .map(|(id, s)| (id, Some(s)))
        .chain(truth.shared.iter().map(|id| (id, None)));
    for (id, service) in truth_units {
        b.insert(
            id.clone(),
            service.map_or_else(|| singleton(id), |s| format!("s:{s}")),
        );
        let placement = ours.get(id);
        let label = match placement {
            Some(Placement::Service(s)) => format!("s:{s}"),
            Some(_) => singleton(id),
            None => {
                missing.push(id.clone());
                singleton(id)
            }
        };
        a.insert(id.clone(), label);
        if service.is_some() && !id.starts_with("table:") {
            business_modules += 1;
            if placement == Some(&Placement::Shared) {
                business_modules_shared += 1;
            }
        }
    }
    let one: BTreeMap<String, String> = b.keys().map(|id| (id.clone(), String::new())).collect();
    let unlabelled = ours
        .keys()
        .filter(|id| !truth.services.contains_key(*id) && !truth.shared.contains(*id))
        .cloned()
        .collect();
    Comparison {
        mojofm: mojo_fm(&a, &b),
        ari: adjusted_rand_index(&a, &b),
        baseline_mojofm: mojo_fm(&one, &b),
        truth_units: truth.len(),
        scored: a.len(),
        business_modules,
        business_modules_shared,
        missing,
        unlabelled,
    }
}
/// MoJoFM(A, B) = (1 − mno(A, B) / max mno(·, B)) × 100, where mno is the
/// minimum number of Move and Join operations turning A into the reference
/// B (Wen & Tzerpos' exact algorithm: tag each A cluster with the B clusters
/// it overlaps most, match tags by maximum bipartite matching, then count
/// moves and joins). 100 means identical; the result is always in 0–100
/// (mno never exceeds its maximum, and the clamp only absorbs rounding).
/// Two empty partitions are identical: 100.
#[must_use]
pub fn mojo_fm(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> f64 {
    let objects: Vec<&String> = a.keys().filter(|k| b.contains_key(*k)).collect();
    let n = objects.len();
    if n == 0 {
        return 100.0;
    }
    let a_labels: Vec<&str> = labels(objects.iter().map(|o| a[*o].as_str()));
    let b_labels: Vec<&str> = labels(objects.iter().map(|o| b[*o].as_str()));
    let a_index: BTreeMap<&str, usize> =
        a_labels.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let b_index: BTreeMap<&str, usize> =
        b_labels.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let (l, m) = (a_labels.len(), b_labels.len());
    // overlap[i][j] = |A_i ∩ B_j|
    let mut overlap = vec![vec![0usize; m]; l];
    let mut b_sizes = vec![0usize; m];
    for o in &objects {
        let i = a_index[a[*o].as_str()];
        let j = b_index[b[*o].as_str()];
        overlap[i][j] += 1;
        b_sizes[j] += 1;
    }
    // Tags: the B clusters each A cluster overlaps most.
    let mut tags: Vec<Vec<usize>> = Vec::with_capacity(l);
    let mut moves = 0usize;
    for row in &overlap {
        let size: usize = row.iter().sum();
        let max = row.iter().copied().max().unwrap_or(0);
        moves += size - max;
        tags.push((0..m).filter(|&j| row[j] == max && max > 0).collect());
    }
    // Maximum bipartite matching of A clusters to tag groups (Kuhn).
    let mut matched_b: Vec<Option<usize>> = vec![None; m];
    for i in 0..l {
        let mut seen = vec![false; m];
        augment(i, &tags, &mut matched_b, &mut seen);
    }
    let mut group_of: Vec<Option<usize>> = vec![None; l];
    for (j, owner) in matched_b.iter().enumerate() {
        if let Some(i) = owner {
            group_of[*i] = Some(j);
        }
    }
    // Unmatched A clusters join the group of their first tag.
    let mut groups: BTreeSet<usize> = BTreeSet::new();
    for i in 0..l {
        if let Some(g) = group_of[i].or_else(|| tags[i].first().copied()) {
            groups.insert(g);
        }
    }
    let joins = l - groups.len();
    let mno = moves + joins;
    // max mno(·, B) = n − g, with g from B's sorted cluster sizes.
    b_sizes.sort_unstable();
    let mut g = 0usize;
    for size in &b_sizes {
        if g < *size {
            g += 1;
        }
    }
    let max = n.saturating_sub(g);
    if max == 0 {
        return if mno == 0 { 100.0 } else { 0.0 };
    }
    ((1.0 - mno as f64 / max as f64) * 100.0).clamp(0.0, 100.0)
}

fn augment(
    i: usize,
    tags: &[Vec<usize>],
    matched: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for &j in &tags[i] {
        if seen[j] {
            continue;
        }
        seen[j] = true;
        if matched[j].is_none_or(|other| augment(other, tags, matched, seen)) {
            matched[j] = Some(i);
            return true;
        }
    }
    false
}

fn labels<'a>(iter: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let set: BTreeSet<&str> = iter.collect();
    set.into_iter().collect()
}

/// The adjusted Rand index of two partitions: 1 for identical, about 0 for
/// unrelated, negative for worse than chance; always in −1…1.
///
/// Degenerate partitions are guarded: with fewer than two objects there
/// are no pairs, and the index's denominator (max − expected) is zero only
/// when both partitions are all singletons or both one cluster, so
/// identical; both cases give 1.
#[must_use]
pub fn adjusted_rand_index(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> f64 {
    let objects: Vec<&String> = a.keys().filter(|k| b.contains_key(*k)).collect();
    let n = objects.len();
    if n < 2 {
        return 1.0;
    }
    let mut table: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut rows: BTreeMap<&str, usize> = BTreeMap::new();
    let mut cols: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &objects {
        let (x, y) = (a[*o].as_str(), b[*o].as_str());
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let pairs = |k: usize| (k * k.saturating_sub(1)) as f64 / 2.0;
    let index: f64 = table.values().map(|&k| pairs(k)).sum();
    let sum_rows: f64 = rows.values().map(|&k| pairs(k)).sum();
    let sum_cols: f64 = cols.values().map(|&k| pairs(k)).sum();
    let expected = sum_rows * sum_cols / pairs(n);
    let max = f64::midpoint(sum_rows, sum_cols);
    if (max - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    ((index - expected) / (max - expected)).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "A=x,y B=z" → x:A, y:A, z:B.
    fn partition(spec: &str) -> BTreeMap<String, String> {
        spec.split_whitespace()
            .flat_map(|cluster| {
                let (name, members) = cluster.split_once('=').unwrap();
                members
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(move |m| (m.to_owned(), name.to_owned()))
            })
            .collect()
    }

    /// Checks MoJoFM(a, b) and ARI(a, b), and that both are in range.
    fn check(a: &str, b: &str, mojofm: f64, ari: f64) {
        let (a, b) = (partition(a), partition(b));
        let (got_mojofm, got_ari) = (mojo_fm(&a, &b), adjusted_rand_index(&a, &b));
        assert!(
            (0.0..=100.0).contains(&got_mojofm) && (-1.0..=1.0).contains(&got_ari),
            "out of range: MoJoFM {got_mojofm}, ARI {got_ari}"
        );
        assert!(
            (got_mojofm - mojofm).abs() < 1e-9,
            "MoJoFM {got_mojofm}, expected {mojofm}"
        );
        assert!(
            (got_ari - ari).abs() < 1e-9,
            "ARI {got_ari}, expected {ari}"
        );
    }

    #[test]
    fn identical_partitions() {
        check("A=1,2,3 B=4,5", "X=1,2,3 Y=4,5", 100.0, 1.0);
    }

    #[test]
    fn mojofm_the_papers_example() {
        // Tzerpos & Holt: A = {1,2,3},{4,5,6},{7,8}; B = {1,2},{3,4,5},{6,7,8}:
        // two moves (3 and 6), no join → mno 2; n = 8, B sizes 2,3,3 → g = 3,
        // max = 5, MoJoFM = (1 − 2/5) × 100 = 60.
        // ARI: the contingency cells are 2,1 / 2,1 / 2 → Σ C(cell,2) = 3;
        // rows 3,3,2 → 3+3+1 = 7; columns 2,3,3 → 1+3+3 = 7; C(8,2) = 28;
        // expected 7·7/28 = 1.75, max 7 → (3 − 1.75)/(7 − 1.75) = 5/21.
        check(
            "A1=1,2,3 A2=4,5,6 A3=7,8",
            "B1=1,2 B2=3,4,5 B3=6,7,8",
            60.0,
            5.0 / 21.0,
        );
    }

    #[test]
    fn mojofm_counts_joins() {
        // A splits B's one cluster in two: one join, no move. n = 4, g = 1,
        // max = 3 → MoJoFM = (1 − 1/3) × 100. ARI: B is one cluster, so
        // expected = Σ rows = 2 = index → 0.
        check("A1=1,2 A2=3,4", "B=1,2,3,4", 200.0 / 3.0, 0.0);
    }

    #[test]
    fn ari_of_a_known_pair() {
        // Cells 2 / 1 / 1 → index 1; rows 2,2 → 2; columns 2,1,1 → 1;
        // C(4,2) = 6; expected 2·1/6 = 1/3, max 1.5 →
        // (1 − 1/3)/(1.5 − 1/3) = 4/7 (sklearn's adjusted_rand_score
        // ([0,0,1,1],[0,0,1,2]) agrees). MoJoFM: A's cluster {3,4} splits
        // into B's Y and Z, one move; B sizes 1,1,2 → g = 2, max = 2 → 50.
        check("A=1,2 B=3,4", "X=1,2 Y=3 Z=4", 50.0, 4.0 / 7.0);
    }

    #[test]
    fn degenerate_partitions_stay_in_range() {
        // Both one cluster, or both all singletons: identical, so 1 and 100.
        check("A=1,2,3", "B=1,2,3", 100.0, 1.0);
        check("A=1 B=2 C=3", "X=1 Y=2 Z=3", 100.0, 1.0);
        // One cluster against singletons: two moves, no join → mno 2; B
        // (three singletons) gives g = 1, max = 2 → 0. ARI: index 0, rows
        // 3, columns 0, expected 0, max 1.5 → 0.
        check("A=1,2,3", "X=1 Y=2 Z=3", 0.0, 0.0);
        // One object, or none: nothing to disagree on.
        check("A=1", "B=1", 100.0, 1.0);
        check("A=", "B=", 100.0, 1.0);
        // Worse than chance: every pair A keeps together B separates and
        // the other way round. Cells all 1 → index 0; rows 2,2 → 2; columns
        // 2,2 → 2; C(4,2) = 6; expected 4/6, max 2 → (0 − 2/3)/(2 − 2/3)
        // = −1/2. MoJoFM: each A cluster moves one object, 2 moves; B sizes
        // 2,2 → g = 2, max = 2 → 0.
        check("A=1,2 B=3,4", "X=1,3 Y=2,4", 0.0, -0.5);
    }

    /// "S=a,b shared=c" as a reference: `shared` names `[shared]`.
    fn truth(spec: &str) -> Truth {
        let mut truth = Truth::default();
        for (id, name) in partition(spec) {
            if name == "shared" {
                truth.shared.insert(id);
            } else {
                truth.services.insert(id, name);
            }
        }
        truth
    }

    /// "X=a,b shared=c none=t" as placements: `shared` is the suggestion's
    /// shared list, `none` in no service.
    fn ours(spec: &str) -> BTreeMap<String, Placement> {
        partition(spec)
            .into_iter()
            .map(|(id, name)| {
                let placement = match name.as_str() {
                    "shared" => Placement::Shared,
                    "none" => Placement::Unplaced,
                    _ => Placement::Service(name),
                };
                (id, placement)
            })
            .collect()
    }

    /// Checks `compare` of a suggestion's placements with a reference.
    fn check_compare(truth_spec: &str, ours_spec: &str, expect: &Comparison) {
        let got = compare(&truth(truth_spec), &ours(ours_spec));
        assert!(
            (got.mojofm - expect.mojofm).abs() < 1e-9
                && (got.ari - expect.ari).abs() < 1e-9
                && (got.baseline_mojofm - expect.baseline_mojofm).abs() < 1e-9,
            "got {got:?}\nexpected {expect:?}"
        );
        assert_eq!(
            (
                got.truth_units,
                got.scored,
                got.business_modules,
                got.business_modules_shared,
                &got.missing,
                &got.unlabelled
            ),
            (
                expect.truth_units,
                expect.scored,
                expect.business_modules,
                expect.business_modules_shared,
                &expect.missing,
                &expect.unlabelled
            )
        );
    }

    #[test]
    fn agreeing_on_shared_scores_100() {
        // Shared on both sides is a singleton on both sides: identical.
        // Baseline (all 5 in one cluster): it overlaps A and B twice each,
        // so it is tagged A and 3 objects move, no join → mno 3; B sizes
        // 1,2,2 → g = 2, max = 5 − 2 = 3 → (1 − 3/3) × 100 = 0.
        check_compare(
            "A=a1,a2 B=b1,b2 shared=s",
            "X=a1,a2 Y=b1,b2 shared=s",
            &Comparison {
                mojofm: 100.0,
                ari: 1.0,
                baseline_mojofm: 0.0,
                truth_units: 5,
                scored: 5,
                business_modules: 4,
                business_modules_shared: 0,
                ..Comparison::default()
            },
        );
    }

    #[test]
    fn every_unit_of_the_reference_counts() {
        // Reference: A = {a1,a2,a3}, B = {b1,b2,b3}, s1 shared; n = 7.
        // Ours: X = {a1,a2}, Y = {b1,b2,s1}, a3 left in shared and b3
        // missing from the analysis (both singletons), u1 unlabelled (not
        // scored).
        // MoJoFM: X → A (no move), Y → B (s1 moves), {a3} → A, {b3} → B;
        // l = 4 clusters, matched to 2 groups → 2 joins; mno = 1 + 2 = 3.
        // B sizes 1,3,3 → g = 3, max = 7 − 3 = 4 → (1 − 3/4) × 100 = 25.
        // ARI: cells X∩A 2, Y∩B 2, Y∩S 1, a3 1, b3 1 → index 1 + 1 = 2;
        // rows 2,3,1,1 → 1 + 3 = 4; columns 3,3,1 → 3 + 3 = 6; C(7,2) = 21;
        // expected 4·6/21 = 8/7, max 5 → (2 − 8/7)/(5 − 8/7) = 6/27 = 2/9.
        // Baseline: one cluster of 7 tagged A (3), 4 moves → (1 − 4/4) = 0.
        check_compare(
            "A=a1,a2,a3 B=b1,b2,b3 shared=s1",
            "X=a1,a2,u1 Y=b1,b2,s1 shared=a3",
            &Comparison {
                mojofm: 25.0,
                ari: 2.0 / 9.0,
                baseline_mojofm: 0.0,
                truth_units: 7,
                scored: 7,
                business_modules: 6,
                business_modules_shared: 1,
                missing: vec!["b3".to_owned()],
                unlabelled: vec!["u1".to_owned()],
            },
        );
    }

    #[test]
    fn tables_in_no_service_are_singletons() {
        // The table t belongs with A in the reference; ours puts it in no
        // service, so it is alone. MoJoFM: X = {a} and {t} both tag A, Y
        // tags B; 3 clusters in 2 groups → 1 join, no move → mno 1; B sizes
        // 2,2 → g = 2, n = 4, max = 2 → (1 − 1/2) × 100 = 50. ARI: cells
        // 1,2,1 → index 1; rows 1,2,1 → 1; columns 2,2 → 2; C(4,2) = 6;
        // expected 2/6, max 1.5 → (1 − 1/3)/(1.5 − 1/3) = 4/7. Baseline:
        // one cluster of 4 tagged A, 2 moves, max 2 → 0. Tables are no
        // business modules.
        check_compare(
            "A=a,table:t B=b1,b2",
            "X=a Y=b1,b2 none=table:t",
            &Comparison {
                mojofm: 50.0,
                ari: 4.0 / 7.0,
                baseline_mojofm: 0.0,
                truth_units: 4,
                scored: 4,
                business_modules: 3,
                business_modules_shared: 0,
                ..Comparison::default()
            },
        );
    }

    #[test]
    fn read_truth_counts_shared_and_refuses_duplicates() {
        let truth = read_truth(
            "[services.a]\nmembers = [\"m1\"]\ntables = [\"t\"]\n[shared]\nmembers = [\"m2\"]\n",
        )
        .unwrap();
        assert_eq!(truth.services.len(), 2);
        assert_eq!(truth.shared.iter().collect::<Vec<_>>(), ["m2"]);
        let twice =
            read_truth("[services.a]\nmembers = [\"m1\"]\n[services.b]\nmembers = [\"m1\"]\n");
        assert!(twice.unwrap_err().contains("named twice"));
        assert!(read_truth("[services.a]\n").is_err());
    }
}
