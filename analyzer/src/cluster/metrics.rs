//! The metrics of a decomposition and of each service (definitions in the
//! `cluster` module docs): modularity, SM, ICP, IFN, NED, cross-service
//! calls and shared tables.

// Metrics follow the literature's notation (k services, m sizes, scoh and
// scop for structural cohesion and coupling).
#![allow(clippy::many_single_char_names, clippy::similar_names)]

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::coupling::{Coupling, Granularity};
use super::leiden::{WeightedGraph, modularity};
use crate::Analysis;
use crate::graph::EdgeKind;

/// Metrics of a decomposition (definitions in `cluster/mod.rs`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// Modularity Q of the services on the coupling graph.
    pub modularity: f64,
    /// Structural modularity.
    pub sm: f64,
    /// Share of call sites that cross services.
    pub icp: f64,
    /// Mean number of a service's functions that other services call.
    pub ifn: f64,
    /// Share of units in services whose size is outside sane bounds.
    pub ned: f64,
    /// Call sites crossing services.
    pub cross_service_calls: u32,
    /// Tables used (read or written) by more than one service.
    pub shared_tables: usize,
    /// Number of services.
    pub services: usize,
}

/// Metrics of one service.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceMetrics {
    /// Code units.
    pub size: usize,
    /// Weight of ties inside / weight of all its ties.
    pub cohesion: f64,
    /// Weight of its ties to other services.
    pub coupling: f64,
    /// Call sites from it into other services.
    pub calls_out: u32,
    /// Call sites from other services into it.
    pub calls_in: u32,
    /// Of its functions, how many other services call.
    pub interface: usize,
}

#[allow(clippy::too_many_lines)]
pub(super) fn metrics(
    analysis: &Analysis,
    coupling: &Coupling,
    graph: &WeightedGraph,
    service_of: &[Option<&str>],
    granularity: Granularity,
) -> (Metrics, BTreeMap<String, ServiceMetrics>) {
    let names: BTreeSet<&str> = service_of.iter().flatten().copied().collect();
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let k = names.len();
    let label: Vec<usize> = service_of
        .iter()
        .map(|s| s.map_or(k, |n| index[n]))
        .collect();
    let modularity_q = modularity(graph, &label, 1.0);
    let mut per: BTreeMap<String, ServiceMetrics> = names
        .iter()
        .map(|n| ((*n).to_owned(), ServiceMetrics::default()))
        .collect();
    // Sizes: code units (for NED and each service's size), and all units,
    // tables included, for SM, whose edge counts include the edges to a
    // service's tables; counting those edges but not the tables would let
    // μ_k exceed m_k² and SM exceed 1.
    let mut size = vec![0usize; k];
    let mut nodes = vec![0usize; k];
    for (i, unit) in coupling.units.iter().enumerate() {
        if label[i] < k {
            nodes[label[i]] += 1;
            if !unit.table {
                size[label[i]] += 1;
            }
        }
    }
    let mut inside = vec![0usize; k];
    let mut between: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut weight_in = vec![0.0f64; k];
    let mut weight_out = vec![0.0f64; k];
    for (&(a, b), (w, _)) in &coupling.edges {
        let (x, y) = (label[a], label[b]);
        if x >= k || y >= k {
            continue;
        }
        if x == y {
            inside[x] += 1;
            weight_in[x] += w;
        } else {
            *between.entry((x.min(y), x.max(y))).or_default() += 1;
            weight_out[x] += w;
            weight_out[y] += w;
        }
    }
    // An undirected graph without loops has at most m(m − 1)/2 edges among
    // m units and m_i·m_j between two groups, so each μ_k/m_k² and so scoh
    // is in [0, 1/2), each σ_ij/(2 m_i m_j) and so scop in [0, 1/2], and SM
    // in [−1/2, 1/2).
    let scoh: f64 = (0..k)
        .filter(|&i| nodes[i] > 0)
        .map(|i| inside[i] as f64 / (nodes[i] * nodes[i]) as f64)
        .sum::<f64>()
        / k.max(1) as f64;
    let scop: f64 = if k > 1 {
        let sum: f64 = between
            .iter()
            .map(|(&(i, j), &e)| e as f64 / (2.0 * (nodes[i].max(1) * nodes[j].max(1)) as f64))
            .sum();
        2.0 * sum / (k * (k - 1)) as f64
    } else {
        0.0
    };
    // Calls at function level.
    let mut total_calls = 0u32;
    let mut cross = 0u32;
    let mut called_from_outside: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); k];
    let mut calls_out = vec![0u32; k];
    let mut calls_in = vec![0u32; k];
    for edge in analysis.edges.iter().filter(|e| e.kind == EdgeKind::Calls) {
        let (Some(&a), Some(&b)) = (
            coupling.unit_of.get(&edge.from),
            coupling.unit_of.get(&edge.to),
        ) else {
            continue;
        };
        let (x, y) = (label[a], label[b]);
        if x >= k || y >= k {
            continue;
        }
        total_calls += edge.weight;
        if x != y {
            cross += edge.weight;
            calls_out[x] += edge.weight;
            calls_in[y] += edge.weight;
            called_from_outside[y].insert(&edge.to);
        }
    }
    // Tables used by more than one service.
    let mut users: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (&(a, b), (_, e)) in &coupling.edges {
        if e.reads + e.writes == 0 {
            continue;
        }
        let (code, table) = if coupling.units[a].table {
            (b, a)
        } else {
            (a, b)
        };
        if label[code] < k {
            users.entry(table).or_default().insert(label[code]);
        }
    }
    let shared_tables = users.values().filter(|s| s.len() > 1).count();
    let (low, high) = match granularity {
        Granularity::Function => (5, 250),
        Granularity::Module | Granularity::File => (2, 25),
    };
    let total_units: usize = size.iter().sum();
    let sane: usize = size.iter().filter(|&&s| s >= low && s <= high).sum();
    let ned = if total_units == 0 {
        0.0
    } else {
        1.0 - sane as f64 / total_units as f64
    };
    let ifn = if k == 0 {
        0.0
    } else {
        called_from_outside.iter().map(BTreeSet::len).sum::<usize>() as f64 / k as f64
    };
    for (name, i) in &index {
        if let Some(m) = per.get_mut(*name) {
            let all = weight_in[*i] + weight_out[*i];
            *m = ServiceMetrics {
                size: size[*i],
                cohesion: if all > 0.0 { weight_in[*i] / all } else { 1.0 },
                coupling: weight_out[*i],
                calls_out: calls_out[*i],
                calls_in: calls_in[*i],
                interface: called_from_outside[*i].len(),
            };
        }
    }
    let metrics = Metrics {
        modularity: modularity_q,
        sm: scoh - scop,
        icp: if total_calls == 0 {
            0.0
        } else {
            f64::from(cross) / f64::from(total_calls)
        },
        ifn,
        ned,
        cross_service_calls: cross,
        shared_tables,
        services: k,
    };
    (metrics, per)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Detail, Edge, Node, NodeKind};

    /// A crate `app` with modules a, b, c, d, functions f1 and f2 in a, g
    /// in b, h in c, k in d, and a table t1. Calls: f1 → g twice, f2 → f1,
    /// g → h, h → k; f1 writes t1, h reads it. Services: s1 = {a, t1},
    /// s2 = {b, c, d}; the crate root is in none.
    ///
    /// The coupling graph (default weights): a–b 2 (two calls), b–c 1,
    /// c–d 1, a–t1 6 (a write), c–t1 2 (a read); total weight 12.
    fn example() -> Metrics {
        let node = |id: &str, kind| Node {
            id: id.to_owned(),
            kind,
            name: id.rsplit("::").next().unwrap_or(id).to_owned(),
            file: None,
            line: None,
            detail: Detail::None,
        };
        let edge = |from: &str, to: &str, kind, weight| Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            kind,
            weight,
        };
        let mut nodes = vec![
            node("app", NodeKind::Crate),
            node("table:t1", NodeKind::Table),
        ];
        let mut edges = Vec::new();
        for (module, functions) in [
            ("app::a", &["f1", "f2"][..]),
            ("app::b", &["g"]),
            ("app::c", &["h"]),
            ("app::d", &["k"]),
        ] {
            nodes.push(node(module, NodeKind::Module));
            edges.push(edge("app", module, EdgeKind::Contains, 1));
            for f in functions {
                let id = format!("{module}::{f}");
                nodes.push(node(&id, NodeKind::Function));
                edges.push(edge(module, &id, EdgeKind::Contains, 1));
            }
        }
        edges.extend([
            edge("app::a::f1", "app::b::g", EdgeKind::Calls, 2),
            edge("app::a::f2", "app::a::f1", EdgeKind::Calls, 1),
            edge("app::b::g", "app::c::h", EdgeKind::Calls, 1),
            edge("app::c::h", "app::d::k", EdgeKind::Calls, 1),
            edge("app::a::f1", "table:t1", EdgeKind::Writes, 1),
            edge("app::c::h", "table:t1", EdgeKind::Reads, 1),
        ]);
        nodes.sort_by(|x, y| x.id.cmp(&y.id));
        let analysis = Analysis {
            nodes,
            edges,
            diagnostics: Vec::new(),
            stats: crate::Stats::default(),
        };
        let coupling = Coupling::build(
            &analysis,
            Granularity::Module,
            // The hand-worked figures count direct access only.
            &crate::cluster::Weights {
                reached: 0.0,
                ..crate::cluster::Weights::default()
            },
        );
        let service_of: Vec<Option<&str>> = coupling
            .units
            .iter()
            .map(|u| match u.id.as_str() {
                "app::a" | "table:t1" => Some("s1"),
                "app" => None,
                _ => Some("s2"),
            })
            .collect();
        let graph = coupling.graph();
        metrics(
            &analysis,
            &coupling,
            &graph,
            &service_of,
            Granularity::Module,
        )
        .0
    }

    /// Checks a metric's value and that it is in its range.
    fn check(got: f64, expect: f64, range: std::ops::RangeInclusive<f64>) {
        assert!(range.contains(&got), "{got} is outside {range:?}");
        assert!((got - expect).abs() < 1e-9, "{got}, expected {expect}");
    }

    #[test]
    fn modularity_q() {
        // Strengths: a 8, b 3, c 4, d 1, t1 8 (sum 24 = twice the total).
        // s1: internal a–t1 counted from both ends 12 → 12/24 = 1/2, minus
        // (16/24)² = 4/9; s2: b–c and c–d from both ends 4 → 1/6, minus
        // (8/24)² = 1/9; the crate root has strength 0.
        // Q = (1/2 − 4/9) + (1/6 − 1/9) = 1/18 + 1/18 = 1/9.
        check(example().modularity, 1.0 / 9.0, -0.5..=1.0);
    }

    #[test]
    fn structural_modularity() {
        // Sizes count tables: s1 = {a, t1}, m 2, μ 1 (a–t1) → 1/4; s2 =
        // {b, c, d}, m 3, μ 2 → 2/9; scoh = (1/4 + 2/9)/2 = 17/72. Between
        // them a–b and c–t1, σ 2 → scop = (2/(2·1)) · 2/(2·2·3) = 1/6 =
        // 12/72. SM = 5/72. (Without t1 in s1's size, μ/m² would be 1/1.)
        check(example().sm, 5.0 / 72.0, -0.5..=0.5);
    }

    #[test]
    fn icp() {
        // Call sites: f1 → g 2 (s1 → s2), f2 → f1 1, g → h 1, h → k 1 (all
        // inside): 2 of 5 cross → 0.4.
        let m = example();
        check(m.icp, 0.4, 0.0..=1.0);
        assert_eq!(m.cross_service_calls, 2);
    }

    #[test]
    fn ifn() {
        // s2's g is called from s1; s1 is called from nowhere: (1 + 0)/2.
        check(example().ifn, 0.5, 0.0..=f64::INFINITY);
    }

    #[test]
    fn ned() {
        // Code sizes: s1 1 (below 2), s2 3 (within 2–25): 3 of 4 units are
        // in services of a sane size → NED = 1 − 3/4 = 1/4.
        check(example().ned, 0.25, 0.0..=1.0);
    }

    #[test]
    fn shared_tables_and_services() {
        // t1 is written by s1 and read by s2.
        let m = example();
        assert_eq!((m.shared_tables, m.services), (1, 2));
    }
}
