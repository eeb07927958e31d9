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
    // Sizes and edge counts for SM and cohesion.
    let mut size = vec![0usize; k];
    for (i, unit) in coupling.units.iter().enumerate() {
        if !unit.table && label[i] < k {
            size[label[i]] += 1;
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
    let scoh: f64 = (0..k)
        .filter(|&i| size[i] > 0)
        .map(|i| inside[i] as f64 / (size[i] * size[i]) as f64)
        .sum::<f64>()
        / k.max(1) as f64;
    let scop: f64 = if k > 1 {
        let sum: f64 = between
            .iter()
            .map(|(&(i, j), &e)| e as f64 / (2.0 * (size[i].max(1) * size[j].max(1)) as f64))
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
