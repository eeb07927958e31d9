//! The Leiden algorithm (Traag, Waltman & van Eck, 2019) for modularity with
//! a resolution parameter, on a weighted undirected graph.
//!
//! Leiden improves on Louvain by refining each community before aggregating
//! it, which guarantees that every community it returns is connected. This
//! implementation adds two things strangler needs:
//! - **Determinism.** Node order comes from a seeded generator and every
//!   tie is broken by the lower id, so the same graph, resolution and seed
//!   always give the same partition. The refinement picks the best merge
//!   instead of a random one (the paper's θ → 0 limit).
//! - **Fixed nodes.** A node may be fixed to a label (a member the user
//!   pinned to a service). Fixed nodes never move; nodes fixed to different
//!   labels never share a community; free nodes may join them.

use std::collections::BTreeMap;

/// A weighted undirected graph in adjacency form.
#[derive(Debug, Clone, Default)]
pub struct WeightedGraph {
    /// For each node, its neighbours and edge weights (both directions
    /// stored; a self-loop once).
    pub adjacency: Vec<Vec<(usize, f64)>>,
}

impl WeightedGraph {
    /// A graph with `n` nodes and no edges.
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self {
            adjacency: vec![Vec::new(); n],
        }
    }

    /// Adds weight to the undirected edge `a`–`b`.
    pub fn add_edge(&mut self, a: usize, b: usize, weight: f64) {
        if a >= self.adjacency.len() || b >= self.adjacency.len() || weight <= 0.0 {
            return;
        }
        add_to(&mut self.adjacency[a], b, weight);
        if a != b {
            add_to(&mut self.adjacency[b], a, weight);
        }
    }

    /// A graph from undirected edges; repeated pairs add up. Linear in the
    /// number of edges, unlike repeated [`WeightedGraph::add_edge`] on hubs.
    #[must_use]
    pub fn from_edges(n: usize, edges: impl IntoIterator<Item = (usize, usize, f64)>) -> Self {
        let mut summed: std::collections::HashMap<(usize, usize), f64> =
            std::collections::HashMap::new();
        for (a, b, w) in edges {
            if a < n && b < n && w > 0.0 {
                *summed.entry((a.min(b), a.max(b))).or_default() += w;
            }
        }
        let mut pairs: Vec<((usize, usize), f64)> = summed.into_iter().collect();
        pairs.sort_by_key(|x| x.0);
        let mut adjacency = vec![Vec::new(); n];
        for ((a, b), w) in pairs {
            adjacency[a].push((b, w));
            if a != b {
                adjacency[b].push((a, w));
            }
        }
        Self { adjacency }
    }

    /// Number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.adjacency.len()
    }

    /// Whether the graph has no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.adjacency.is_empty()
    }

    /// Each node's strength (the sum of its edge weights; a self-loop counts
    /// twice, as in the modularity's degree).
    #[must_use]
    pub fn strengths(&self) -> Vec<f64> {
        self.adjacency
            .iter()
            .enumerate()
            .map(|(i, edges)| {
                edges
                    .iter()
                    .map(|&(j, w)| if i == j { 2.0 * w } else { w })
                    .sum()
            })
            .collect()
    }
}

fn add_to(edges: &mut Vec<(usize, f64)>, to: usize, weight: f64) {
    match edges.iter_mut().find(|(j, _)| *j == to) {
        Some((_, w)) => *w += weight,
        None => edges.push((to, weight)),
    }
}

/// The default seed of the node-order generator, for every run that sets
/// none (`strangler analyze` without `--seed`, a plan without
/// `analyze.seed`).
pub const DEFAULT_SEED: u64 = 42;

/// Settings for one Leiden run.
#[derive(Debug, Clone, Copy)]
pub struct LeidenConfig {
    /// Resolution γ: higher gives more, smaller communities.
    pub resolution: f64,
    /// Seed of the node-order generator.
    pub seed: u64,
    /// Upper bound on outer iterations (each is move, refine, aggregate).
    pub max_levels: usize,
}

impl Default for LeidenConfig {
    fn default() -> Self {
        Self {
            resolution: 1.0,
            seed: DEFAULT_SEED,
            max_levels: 32,
        }
    }
}

/// A small, portable generator (SplitMix64): the same seed gives the same
/// sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Partitions `graph`; `fixed[i] = Some(label)` pins node `i`. Returns each
/// node's community, numbered from 0 in order of each community's lowest
/// node.
#[must_use]
pub fn leiden(graph: &WeightedGraph, fixed: &[Option<u32>], config: &LeidenConfig) -> Vec<usize> {
    let n = graph.len();
    if n == 0 {
        return Vec::new();
    }
    let mut rng = Rng(config.seed);
    // Start: singletons, except that nodes fixed to one label start together.
    let mut by_label: BTreeMap<u32, usize> = BTreeMap::new();
    let start: Vec<usize> = (0..n)
        .map(|i| match fixed.get(i).copied().flatten() {
            Some(label) => *by_label.entry(label).or_insert(i),
            None => i,
        })
        .collect();
    let fixed: Vec<Option<u32>> = (0..n).map(|i| fixed.get(i).copied().flatten()).collect();
    if graph.strengths().iter().sum::<f64>() <= 0.0 {
        return renumber(&start);
    }
    // Like the reference implementation, run Leiden again from its own
    // result until it stops improving: later runs fix moves that an early
    // aggregation locked in.
    let mut best = renumber(&run(graph, &fixed, start, config, &mut rng));
    let mut best_q = modularity(graph, &best, config.resolution);
    for _ in 0..config.max_levels {
        let next = renumber(&run(graph, &fixed, best.clone(), config, &mut rng));
        let q = modularity(graph, &next, config.resolution);
        if q <= best_q + 1e-12 {
            break;
        }
        best = next;
        best_q = q;
    }
    best
}

/// One run of Leiden from the partition `start`.
fn run(
    graph: &WeightedGraph,
    fixed: &[Option<u32>],
    start: Vec<usize>,
    config: &LeidenConfig,
    rng: &mut Rng,
) -> Vec<usize> {
    let n = graph.len();
    let mut level = Level {
        graph: graph.clone(),
        strength: graph.strengths(),
        fixed: fixed.to_vec(),
        members: (0..n).map(|i| vec![i]).collect(),
    };
    let total: f64 = level.strength.iter().sum();
    let mut partition = start;
    for _ in 0..config.max_levels {
        move_nodes(&level, &mut partition, total, config.resolution, rng);
        let communities = count(&partition);
        if communities == level.graph.len() {
            break;
        }
        let mut refined = refine(&level, &partition, total, config.resolution, rng);
        if count(&refined) == level.graph.len() {
            // Refinement merged nothing; aggregate the communities themselves
            // so the next level makes progress.
            refined.clone_from(&partition);
        }
        let (next, next_partition) = aggregate(&level, &refined, &partition);
        level = next;
        partition = next_partition;
    }
    // Map back to the original nodes.
    let mut result = vec![0usize; n];
    for (node, community) in partition.iter().enumerate() {
        for &original in &level.members[node] {
            result[original] = *community;
        }
    }
    result
}

/// One level of the aggregation: the graph, each node's strength, its
/// fixed label, and the original nodes it stands for.
#[derive(Clone)]
struct Level {
    graph: WeightedGraph,
    strength: Vec<f64>,
    fixed: Vec<Option<u32>>,
    members: Vec<Vec<usize>>,
}

/// Fast local moving: visit nodes from a queue, move each to the community
/// with the best modularity gain, re-queue neighbours that may now want to
/// follow. Fixed nodes stay; so communities holding fixed nodes of two
/// labels can never form.
fn move_nodes(level: &Level, partition: &mut [usize], total: f64, gamma: f64, rng: &mut Rng) {
    let n = level.graph.len();
    let mut sigma = vec![0.0f64; n];
    for (i, &c) in partition.iter().enumerate() {
        sigma[c] += level.strength[i];
    }
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut queue: std::collections::VecDeque<usize> = order.into_iter().collect();
    let mut queued = vec![true; n];
    let mut empty: Vec<usize> = (0..n).filter(|&c| sigma[c] == 0.0).collect();
    let mut weights: BTreeMap<usize, f64> = BTreeMap::new();
    while let Some(v) = queue.pop_front() {
        queued[v] = false;
        if level.fixed[v].is_some() {
            continue;
        }
        let current = partition[v];
        let k = level.strength[v];
        weights.clear();
        for &(u, w) in &level.graph.adjacency[v] {
            if u != v {
                *weights.entry(partition[u]).or_default() += w;
            }
        }
        sigma[current] -= k;
        let gain = |c: usize, w: f64| w - gamma * k * sigma[c] / total;
        let mut best = current;
        let mut best_gain = gain(current, weights.get(&current).copied().unwrap_or(0.0));
        for (&c, &w) in &weights {
            let g = gain(c, w);
            if g > best_gain + 1e-12 || ((g - best_gain).abs() <= 1e-12 && c < best && c != current)
            {
                best = c;
                best_gain = g;
            }
        }
        // An empty community is worth 0: leaving is better than a loss.
        if best_gain < -1e-12
            && sigma[current] > 0.0
            && let Some(&c) = empty.iter().find(|&&c| c != current && sigma[c] == 0.0)
        {
            best = c;
        }
        sigma[best] += k;
        if best != current {
            partition[v] = best;
            if sigma[current] == 0.0 {
                empty.push(current);
            }
            for &(u, _) in &level.graph.adjacency[v] {
                if partition[u] != best && !queued[u] && level.fixed[u].is_none() {
                    queued[u] = true;
                    queue.push_back(u);
                }
            }
        }
    }
}

/// Refinement: inside each community, start from singletons and merge each
/// well-connected singleton into the well-connected sub-community where the
/// gain is best. Sub-communities are therefore connected.
fn refine(level: &Level, partition: &[usize], total: f64, gamma: f64, rng: &mut Rng) -> Vec<usize> {
    let n = level.graph.len();
    let mut refined: Vec<usize> = (0..n).collect();
    let mut sigma: Vec<f64> = level.strength.clone();
    let mut community_strength = vec![0.0f64; n];
    for (i, &c) in partition.iter().enumerate() {
        community_strength[c] += level.strength[i];
    }
    // Weight from each node to the rest of its own community.
    let external: Vec<f64> = (0..n)
        .map(|v| {
            level.graph.adjacency[v]
                .iter()
                .filter(|&&(u, _)| u != v && partition[u] == partition[v])
                .map(|&(_, w)| w)
                .sum()
        })
        .collect();
    // Weight from each sub-community to the rest of its community.
    let mut sub_external = external.clone();
    let mut singleton = vec![true; n];
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut weights: BTreeMap<usize, f64> = BTreeMap::new();
    for v in order {
        if !singleton[v] {
            continue;
        }
        let k = level.strength[v];
        let c_strength = community_strength[partition[v]];
        // Well connected to its community?
        if external[v] < gamma * k * (c_strength - k) / total - 1e-12 {
            continue;
        }
        weights.clear();
        for &(u, w) in &level.graph.adjacency[v] {
            if u != v && partition[u] == partition[v] {
                *weights.entry(refined[u]).or_default() += w;
            }
        }
        let mut best = refined[v];
        let mut best_gain = 0.0;
        for (&t, &w) in &weights {
            if t == refined[v] {
                continue;
            }
            // Only into well-connected sub-communities.
            if sub_external[t] < gamma * sigma[t] * (c_strength - sigma[t]) / total - 1e-12 {
                continue;
            }
            let g = w - gamma * k * sigma[t] / total;
            if g > best_gain + 1e-12 || ((g - best_gain).abs() <= 1e-12 && g > 0.0 && t < best) {
                best = t;
                best_gain = g;
            }
        }
        if best != refined[v] {
            let w_to_best = weights.get(&best).copied().unwrap_or(0.0);
            sigma[best] += k;
            sigma[refined[v]] -= k;
            sub_external[best] = sub_external[best] + external[v] - 2.0 * w_to_best;
            refined[v] = best;
            singleton[v] = false;
            if let Some(s) = singleton.get_mut(best) {
                *s = false;
            }
        }
    }
    refined
}

/// Collapses each refined sub-community into one node. The new nodes start
/// in the community (from local moving) their members were in.
fn aggregate(level: &Level, refined: &[usize], partition: &[usize]) -> (Level, Vec<usize>) {
    let ids = renumber(refined);
    let count = ids.iter().copied().max().map_or(0, |m| m + 1);
    let mut edges = Vec::new();
    let mut strength = vec![0.0; count];
    let mut fixed = vec![None; count];
    let mut members = vec![Vec::new(); count];
    let mut next_partition = vec![0usize; count];
    for v in 0..level.graph.len() {
        let a = ids[v];
        strength[a] += level.strength[v];
        if level.fixed[v].is_some() {
            fixed[a] = level.fixed[v];
        }
        members[a].extend_from_slice(&level.members[v]);
        next_partition[a] = partition[v];
        for &(u, w) in &level.graph.adjacency[v] {
            // Each undirected edge is stored twice (once per end) except
            // self-loops; add each once.
            if u >= v {
                edges.push((a, ids[u], w));
            }
        }
    }
    let graph = WeightedGraph::from_edges(count, edges);
    // Community ids must index the new node range.
    let renumbered = renumber(&next_partition);
    let mut by_partition: BTreeMap<usize, usize> = BTreeMap::new();
    for (node, &c) in renumbered.iter().enumerate() {
        by_partition.entry(c).or_insert(node);
    }
    let next_partition = renumbered.iter().map(|c| by_partition[c]).collect();
    (
        Level {
            graph,
            strength,
            fixed,
            members,
        },
        next_partition,
    )
}

/// The number of distinct labels.
fn count(labels: &[usize]) -> usize {
    labels
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// Renumbers labels from 0 in order of first appearance.
fn renumber(labels: &[usize]) -> Vec<usize> {
    let mut map: BTreeMap<usize, usize> = BTreeMap::new();
    let mut next = 0;
    labels
        .iter()
        .map(|&l| {
            *map.entry(l).or_insert_with(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Modularity with resolution γ of a partition.
#[must_use]
pub fn modularity(graph: &WeightedGraph, partition: &[usize], gamma: f64) -> f64 {
    let strength = graph.strengths();
    let total: f64 = strength.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let communities = partition.iter().copied().max().map_or(0, |m| m + 1);
    let mut internal = vec![0.0; communities];
    let mut sigma = vec![0.0; communities];
    for (v, edges) in graph.adjacency.iter().enumerate() {
        sigma[partition[v]] += strength[v];
        for &(u, w) in edges {
            if partition[u] == partition[v] {
                internal[partition[v]] += if u == v { 2.0 * w } else { w };
            }
        }
    }
    internal
        .iter()
        .zip(&sigma)
        .map(|(e, s)| e / total - gamma * (s / total) * (s / total))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zachary's karate club, 34 members, 78 friendships (1-based).
    const KARATE: &[(usize, usize)] = &[
        (2, 1),
        (3, 1),
        (3, 2),
        (4, 1),
        (4, 2),
        (4, 3),
        (5, 1),
        (6, 1),
        (7, 1),
        (7, 5),
        (7, 6),
        (8, 1),
        (8, 2),
        (8, 3),
        (8, 4),
        (9, 1),
        (9, 3),
        (10, 3),
        (11, 1),
        (11, 5),
        (11, 6),
        (12, 1),
        (13, 1),
        (13, 4),
        (14, 1),
        (14, 2),
        (14, 3),
        (14, 4),
        (17, 6),
        (17, 7),
        (18, 1),
        (18, 2),
        (20, 1),
        (20, 2),
        (22, 1),
        (22, 2),
        (26, 24),
        (26, 25),
        (28, 3),
        (28, 24),
        (28, 25),
        (29, 3),
        (30, 24),
        (30, 27),
        (31, 2),
        (31, 9),
        (32, 1),
        (32, 25),
        (32, 26),
        (32, 29),
        (33, 3),
        (33, 9),
        (33, 15),
        (33, 16),
        (33, 19),
        (33, 21),
        (33, 23),
        (33, 24),
        (33, 30),
        (33, 31),
        (33, 32),
        (34, 9),
        (34, 10),
        (34, 14),
        (34, 15),
        (34, 16),
        (34, 19),
        (34, 20),
        (34, 21),
        (34, 23),
        (34, 24),
        (34, 27),
        (34, 28),
        (34, 29),
        (34, 30),
        (34, 31),
        (34, 32),
        (34, 33),
    ];

    fn karate() -> WeightedGraph {
        let mut g = WeightedGraph::new(34);
        for &(a, b) in KARATE {
            g.add_edge(a - 1, b - 1, 1.0);
        }
        g
    }

    fn connected(g: &WeightedGraph, partition: &[usize]) -> bool {
        let communities = partition.iter().copied().max().map_or(0, |m| m + 1);
        (0..communities).all(|c| {
            let nodes: Vec<usize> = (0..g.len()).filter(|&v| partition[v] == c).collect();
            let mut seen = vec![false; g.len()];
            let mut stack = vec![nodes[0]];
            seen[nodes[0]] = true;
            while let Some(v) = stack.pop() {
                for &(u, _) in &g.adjacency[v] {
                    if partition[u] == c && !seen[u] {
                        seen[u] = true;
                        stack.push(u);
                    }
                }
            }
            nodes.iter().all(|&v| seen[v])
        })
    }

    #[test]
    fn karate_club_reaches_the_known_best_modularity() {
        let g = karate();
        let mut best = 0.0f64;
        for seed in 0..10 {
            let p = leiden(
                &g,
                &[],
                &LeidenConfig {
                    seed,
                    ..LeidenConfig::default()
                },
            );
            let q = modularity(&g, &p, 1.0);
            assert!(q > 0.40, "seed {seed}: Q = {q}");
            assert!(
                connected(&g, &p),
                "seed {seed}: a community is disconnected"
            );
            best = best.max(q);
        }
        // The optimum is 0.4198 (four communities).
        assert!(best > 0.4197, "best Q over seeds = {best}");
    }

    #[test]
    fn same_seed_same_partition() {
        let g = karate();
        let config = LeidenConfig {
            seed: 7,
            ..LeidenConfig::default()
        };
        assert_eq!(leiden(&g, &[], &config), leiden(&g, &[], &config));
    }

    #[test]
    fn resolution_controls_granularity() {
        let g = karate();
        let count = |gamma| {
            let p = leiden(
                &g,
                &[],
                &LeidenConfig {
                    resolution: gamma,
                    ..LeidenConfig::default()
                },
            );
            p.iter().copied().max().map_or(0, |m| m + 1)
        };
        assert!(count(0.3) < count(1.0), "{} vs {}", count(0.3), count(1.0));
        assert!(count(1.0) < count(3.0), "{} vs {}", count(1.0), count(3.0));
    }

    #[test]
    fn fixed_nodes_keep_their_labels_apart() {
        let g = karate();
        // The two leaders, 1 and 34, fixed to one label: they end together,
        // whatever modularity prefers.
        let mut fixed = vec![None; 34];
        fixed[0] = Some(1);
        fixed[33] = Some(1);
        let p = leiden(&g, &fixed, &LeidenConfig::default());
        assert_eq!(p[0], p[33]);
        // Fixed to different labels, two friends stay apart.
        let mut fixed = vec![None; 34];
        fixed[0] = Some(1);
        fixed[1] = Some(2);
        let p = leiden(&g, &fixed, &LeidenConfig::default());
        assert_ne!(p[0], p[1]);
    }

    #[test]
    fn two_cliques_joined_by_one_edge_split_in_two() {
        let mut g = WeightedGraph::new(8);
        for a in 0..4 {
            for b in (a + 1)..4 {
                g.add_edge(a, b, 1.0);
                g.add_edge(a + 4, b + 4, 1.0);
            }
        }
        g.add_edge(3, 4, 1.0);
        let p = leiden(&g, &[], &LeidenConfig::default());
        assert_eq!(p, [0, 0, 0, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn degenerate_graphs() {
        assert!(leiden(&WeightedGraph::new(0), &[], &LeidenConfig::default()).is_empty());
        assert_eq!(
            leiden(&WeightedGraph::new(3), &[], &LeidenConfig::default()),
            [0, 1, 2]
        );
    }
}
