//! Comparing a decomposition with a reference one: reading the reference
//! (`--truth`), MoJoFM and the adjusted Rand index, and scoring a
//! suggestion with both.
//!
//! Both take partitions as `object → cluster label` maps and compare only
//! the objects present in both.

// The code follows the papers' notation (A, B, n, l, m, g), which reads
// better here than long names.
#![allow(clippy::many_single_char_names, clippy::similar_names)]

use std::collections::{BTreeMap, BTreeSet};

use super::suggest::Suggestion;

/// Reads a reference decomposition: `[services.NAME] members = [...],
/// tables = [...]` (other sections, such as `[shared]`, are not scored).
pub fn read_truth(text: &str) -> Result<BTreeMap<String, String>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let services = table
        .get("services")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| "no [services.NAME] sections".to_owned())?;
    let mut out = BTreeMap::new();
    for (name, service) in services {
        for (key, prefix) in [("members", ""), ("tables", "table:")] {
            for item in service
                .get(key)
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = item.as_str() {
                    out.insert(format!("{prefix}{id}"), name.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Scores `suggestion` against a reference from [`read_truth`].
pub fn score(suggestion: &mut Suggestion, truth: &BTreeMap<String, String>) {
    let mut ours = BTreeMap::new();
    for service in &suggestion.services {
        for member in &service.members {
            ours.insert(member.clone(), service.name.clone());
        }
        for table in &service.tables {
            ours.insert(format!("table:{table}"), service.name.clone());
        }
    }
    suggestion.mojofm = Some(mojo_fm(&ours, truth));
    suggestion.ari = Some(adjusted_rand_index(&ours, truth));
}

/// MoJoFM(A, B) = (1 − mno(A, B) / max mno(·, B)) × 100, where mno is the
/// minimum number of Move and Join operations turning A into the reference
/// B (Wen & Tzerpos' exact algorithm: tag each A cluster with the B clusters
/// it overlaps most, match tags by maximum bipartite matching, then count
/// moves and joins). 100 means identical.
#[must_use]
pub fn mojo_fm(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> f64 {
    let objects: Vec<&String> = a.keys().filter(|k| b.contains_key(*k)).collect();
    let n = objects.len();
    if n == 0 {
        return 0.0;
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
    (1.0 - mno as f64 / max as f64) * 100.0
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
/// unrelated, negative for worse than chance.
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
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(spec: &str) -> BTreeMap<String, String> {
        // "A=x,y B=z" → x:A, y:A, z:B
        spec.split_whitespace()
            .flat_map(|cluster| {
                let (name, members) = cluster.split_once('=').unwrap();
                members
                    .split(',')
                    .map(move |m| (m.to_owned(), name.to_owned()))
            })
            .collect()
    }

    #[test]
    fn identical_partitions() {
        let a = partition("A=1,2,3 B=4,5");
        assert!((mojo_fm(&a, &a) - 100.0).abs() < 1e-9);
        assert!((adjusted_rand_index(&a, &a) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_papers_example() {
        // Tzerpos & Holt: A = {1,2,3},{4,5,6},{7,8}; B = {1,2},{3,4,5},{6,7,8}:
        // two moves (3 and 6), no join → mno 2; n = 8, B sizes 2,3,3 → g = 3,
        // max = 5, MoJoFM = (1 − 2/5) × 100 = 60.
        let a = partition("A1=1,2,3 A2=4,5,6 A3=7,8");
        let b = partition("B1=1,2 B2=3,4,5 B3=6,7,8");
        assert!((mojo_fm(&a, &b) - 60.0).abs() < 1e-9, "{}", mojo_fm(&a, &b));
    }

    #[test]
    fn joins_count() {
        // A splits B's one cluster in two: one join, no move. n = 4, g = 1,
        // max = 3 → MoJoFM = (1 − 1/3) × 100.
        let a = partition("A1=1,2 A2=3,4");
        let b = partition("B=1,2,3,4");
        assert!(
            (mojo_fm(&a, &b) - 200.0 / 3.0).abs() < 1e-9,
            "{}",
            mojo_fm(&a, &b)
        );
    }

    #[test]
    fn ari_of_a_known_pair() {
        // sklearn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714
        let a = partition("A=1,2 B=3,4");
        let b = partition("X=1,2 Y=3 Z=4");
        assert!(
            (adjusted_rand_index(&a, &b) - 0.571_428_571_4).abs() < 1e-6,
            "{}",
            adjusted_rand_index(&a, &b)
        );
    }
}
