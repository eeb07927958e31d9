//! From the coupling graph to suggested services: clustering with the
//! user's pins, shared infrastructure left out, table ownership and routes.
//! Names, metrics and reasons come from their own modules.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::access::DataAccess;
use super::compare::Comparison;
use super::coupling::{Coupling, Granularity, Weights};
use super::leiden::{DEFAULT_SEED, LeidenConfig, leiden};
use super::metrics::{Metrics, ServiceMetrics, metrics};
use super::naming::{name_communities, top_area_of};
use super::reasons::{Reason, reason_for};
use crate::Analysis;
use crate::graph::{Detail, NodeKind};

/// The default resolution: a little above modularity's 1, because at 1
/// modularity's resolution limit (Fortunato & Barthélemy, 2007) merges
/// small, tightly coupled areas, such as payments and the orders they
/// update, that teams split into services. `--services N` and `--sweep`
/// move it.
pub const DEFAULT_RESOLUTION: f64 = 1.25;

/// How to suggest services.
#[derive(Debug, Clone)]
pub struct SuggestConfig {
    /// The units clustered.
    pub granularity: Granularity,
    /// Evidence weights.
    pub weights: Weights,
    /// Leiden's resolution; ignored when `services` is set.
    pub resolution: f64,
    /// Seed for Leiden's node order.
    pub seed: u64,
    /// Search the resolution that gives this many services.
    pub services: Option<usize>,
    /// Services of an existing plan, whose decisions are kept.
    pub existing: Vec<ExistingService>,
    /// Keep only pinned members of `existing` (re-cluster the rest).
    pub reset: bool,
}

impl Default for SuggestConfig {
    fn default() -> Self {
        Self {
            granularity: Granularity::default(),
            weights: Weights::default(),
            resolution: DEFAULT_RESOLUTION,
            seed: DEFAULT_SEED,
            services: None,
            existing: Vec::new(),
            reset: false,
        }
    }
}

/// A service of an existing plan.
#[derive(Debug, Clone, Default)]
pub struct ExistingService {
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<String>,
    /// Members the user pinned.
    pub pinned: Vec<String>,
    /// Tables it has taken over (always kept).
    pub tables: Vec<String>,
}

/// Why a suggestion cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    /// Nothing to cluster.
    #[error(
        "the dependency graph has no code units to group into services (no functions or modules were found)"
    )]
    EmptyGraph,
    /// `--services 0`.
    #[error("--services must be at least 1")]
    ZeroServices,
    /// More services than units.
    #[error(
        "--services {asked} asks for more services than there are units to put in them ({units} {granularity} units); ask for at most {units}, or use a finer --granularity"
    )]
    TooManyServices {
        /// Services asked for.
        asked: usize,
        /// Units available.
        units: usize,
        /// The granularity's name.
        granularity: String,
    },
}

/// The suggested decomposition.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// The services, sorted by name.
    pub services: Vec<ServiceSuggestion>,
    /// Metrics of the whole decomposition.
    pub metrics: Metrics,
    /// Tables written by more than one service.
    pub tables_needing_decision: Vec<TableDecision>,
    /// Problems with the plan's decisions (a pinned member gone from the code).
    pub warnings: Vec<String>,
    /// Code units left out of every service: shared libraries and wiring.
    pub shared: Vec<String>,
    /// Every table of the analysis → the modules that read or write it,
    /// themselves or through calls (calls into route handlers aside: see
    /// the plan's `readers`), sorted. Empty from [`evaluate`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub readers: BTreeMap<String, Vec<String>>,
    /// How services depend on each other: `from` calls, reads or writes
    /// `to` (the coupling matrix).
    pub links: Vec<ServiceLink>,
    /// The resolution used.
    pub resolution: f64,
    /// The granularity used.
    pub granularity: Granularity,
    /// MoJoFM against a reference (`--truth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mojofm: Option<f64>,
    /// Adjusted Rand index against a reference (`--truth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ari: Option<f64>,
    /// The whole comparison with a reference (`--truth`): the scores, the
    /// one-service baseline and what was counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

/// One suggested service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSuggestion {
    /// A name from its dominant module or table.
    pub name: String,
    /// Unit ids, sorted.
    pub members: Vec<String>,
    /// Members the plan had pinned here.
    pub pinned: Vec<String>,
    /// Tables it owns, sorted.
    pub tables: Vec<String>,
    /// Routes whose handler is a member: `(methods, path)`.
    pub routes: Vec<RouteRef>,
    /// Its own metrics.
    pub metrics: ServiceMetrics,
    /// Why each member and table is here.
    pub reasons: BTreeMap<String, Reason>,
}

/// A route, as the plan names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RouteRef {
    /// The path template.
    pub path: String,
    /// Upper-case methods; `["*"]` for any.
    pub methods: Vec<String>,
    /// The tables its handler writes, itself or through its calls, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
}

/// How much one service depends on another.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceLink {
    /// The depending service.
    pub from: String,
    /// The service depended on.
    pub to: String,
    /// Call sites from `from` into `to`.
    pub calls: u32,
    /// Statements of `from` reading tables `to` owns.
    pub reads: u32,
    /// Statements of `from` writing tables `to` owns.
    pub writes: u32,
    /// Type uses between them (counted on both sides).
    pub types: u32,
    /// Coupling weight of all ties between them (the same both ways).
    pub weight: f64,
}

/// A table that several services write.
#[derive(Debug, Clone, Serialize)]
pub struct TableDecision {
    /// The table.
    pub table: String,
    /// The service suggested as owner (the heaviest writer).
    pub owner: String,
    /// `(service, statements)`, heaviest first.
    pub writers: Vec<(String, u32)>,
}

/// Suggests services for `analysis`.
pub fn suggest(analysis: &Analysis, config: &SuggestConfig) -> Result<Suggestion, SuggestError> {
    let coupling = Coupling::build(analysis, config.granularity, &config.weights);
    let code_units = coupling.units.iter().filter(|u| !u.table).count();
    if code_units == 0 {
        return Err(SuggestError::EmptyGraph);
    }
    match config.services {
        Some(0) => return Err(SuggestError::ZeroServices),
        Some(asked) if asked > code_units => {
            return Err(SuggestError::TooManyServices {
                asked,
                units: code_units,
                granularity: format!("{:?}", config.granularity).to_lowercase(),
            });
        }
        _ => {}
    }
    let pinned_anywhere: BTreeSet<&str> = config
        .existing
        .iter()
        .flat_map(|s| {
            s.members
                .iter()
                .filter(|m| !config.reset || s.pinned.contains(m))
        })
        .map(String::as_str)
        .collect();
    let (shared, product) = left_out(&coupling, &pinned_anywhere);
    let graph = coupling.graph_without(&shared);
    let mut warnings = Vec::new();
    let mut fixed: Vec<Option<u32>> = vec![None; coupling.units.len()];
    for (label, service) in config.existing.iter().enumerate() {
        let label = u32::try_from(label).unwrap_or(u32::MAX);
        let kept = service
            .members
            .iter()
            .filter(|m| !config.reset || service.pinned.contains(m));
        for member in kept {
            match coupling.index(member) {
                Some(i) => fixed[i] = Some(label),
                None if service.pinned.contains(member) => warnings.push(format!(
                    "pinned member `{member}` of service `{}` no longer exists in the code; unpin or remove it",
                    service.name
                )),
                None => warnings.push(format!(
                    "member `{member}` of service `{}` no longer exists in the code; it is dropped",
                    service.name
                )),
            }
        }
        for table in &service.tables {
            if let Some(i) = coupling.index(&format!("table:{table}")) {
                fixed[i] = Some(label);
            }
        }
    }
    let (partition, resolution) = if let Some(n) = config.services {
        search_resolution(&graph, &fixed, n, config.seed, &coupling, &shared)
    } else {
        let leiden_config = LeidenConfig {
            resolution: config.resolution,
            seed: config.seed,
            ..LeidenConfig::default()
        };
        let mut partition = leiden(&graph, &fixed, &leiden_config);
        join_products(&coupling, &product, &fixed, &shared, &mut partition);
        (partition, config.resolution)
    };
    let mut suggestion = build(
        analysis, config, &coupling, &graph, &fixed, &partition, resolution, warnings, &shared,
    );
    suggestion.shared = shared
        .iter()
        .filter(|&&i| coupling.units[i].part_of.is_none())
        .map(|&i| coupling.units[i].id.clone())
        .collect();
    Ok(suggestion)
}

/// Evaluates a placement someone chose, such as a plan after the user's
/// edits, with the same metrics, coupling matrix, table decisions and
/// reasons as a suggestion, without clustering anything.
///
/// `coupling` is [`Coupling::build`] of `analysis` at the plan's
/// granularity; build it once and evaluate every edit against it. A member
/// or table of `services` that the coupling graph does not hold becomes a
/// warning; units no service lists count as left out, like shared ones.
/// The services come back in the order given, with their routes empty;
/// `shared` lists the units the analyzer would leave out as shared that no
/// service lists.
#[must_use]
pub fn evaluate(
    analysis: &Analysis,
    coupling: &Coupling,
    granularity: Granularity,
    services: &[ExistingService],
) -> Suggestion {
    let mut service_index: Vec<Option<&str>> = vec![None; coupling.units.len()];
    let mut warnings = Vec::new();
    for service in services {
        let tables = service.tables.iter().map(|t| (format!("table:{t}"), t));
        let members = service.members.iter().map(|m| (m.clone(), m));
        for (id, name) in members.chain(tables) {
            match coupling.index(&id) {
                Some(i) => service_index[i] = Some(service.name.as_str()),
                None => warnings.push(format!(
                    "`{name}` of service `{}` is not in the analysis",
                    service.name
                )),
            }
        }
    }
    // The graph the metrics see is the one a suggestion is measured on:
    // without the units the analyzer leaves out as shared, unless the plan
    // placed them in a service; so a plan just written from a suggestion
    // scores what `strangler analyze` printed for it.
    let (mut shared, _) = left_out(coupling, &BTreeSet::new());
    shared.retain(|&i| service_index[i].is_none());
    let graph = coupling.graph_without(&shared);
    let shared_ids: Vec<String> = shared
        .iter()
        .filter(|&&i| coupling.units[i].part_of.is_none())
        .map(|&i| coupling.units[i].id.clone())
        .collect();
    let (metrics, mut per_service) =
        metrics(analysis, coupling, &graph, &service_index, granularity);
    let label: BTreeMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let writes = table_writes(coupling, |code| {
        service_index[code].and_then(|s| label.get(s).copied())
    });
    let names: BTreeMap<usize, String> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.name.clone()))
        .collect();
    let communities: BTreeSet<usize> = names.keys().copied().collect();
    let community_of: Vec<usize> = service_index
        .iter()
        .map(|s| s.and_then(|s| label.get(s).copied()).unwrap_or(usize::MAX))
        .collect();
    let tables_needing_decision = table_decisions(
        &writes,
        &coupling.units,
        &names,
        &communities,
        &community_of,
    );
    let mut out: Vec<ServiceSuggestion> = services
        .iter()
        .map(|s| ServiceSuggestion {
            name: s.name.clone(),
            members: s.members.clone(),
            pinned: s.pinned.clone(),
            tables: s.tables.clone(),
            routes: Vec::new(),
            metrics: per_service.remove(&s.name).unwrap_or_default(),
            reasons: BTreeMap::new(),
        })
        .collect();
    for (i, unit) in coupling.units.iter().enumerate() {
        let Some(&c) = service_index[i].and_then(|s| label.get(s)) else {
            continue;
        };
        let pinned = out[c].pinned.contains(&unit.id);
        let reason = reason_for(i, coupling, &service_index, pinned);
        out[c].reasons.insert(unit.id.clone(), reason);
    }
    Suggestion {
        services: out,
        metrics,
        tables_needing_decision,
        warnings,
        shared: shared_ids,
        readers: BTreeMap::new(),
        links: links(coupling, &service_index),
        resolution: 0.0,
        granularity,
        mojofm: None,
        ari: None,
        comparison: None,
    }
}

/// The units clustering leaves out: the shared ones (see [`shared_units`])
/// and the data hubs, whose functions are clustered in their place. Also
/// returns, per unit, whether it is in a product crate of its own.
fn left_out(coupling: &Coupling, keep: &BTreeSet<&str>) -> (BTreeSet<usize>, Vec<bool>) {
    let (mut shared, product) = shared_units(coupling, keep);
    shared.extend(
        coupling
            .units
            .iter()
            .filter_map(|u| u.part_of.as_deref())
            .filter_map(|h| coupling.index(h)),
    );
    (shared, product)
}

/// Code units that belong to no one service: they touch no table
/// themselves, and three or more other areas depend on them while they
/// reach no table through their calls either (a `util` or `db::pool`
/// module), or they depend on three or more other areas, serve no route
/// that reaches a table, and reach tables through two or more other
/// areas, or none (a
/// composition root such as `main` wiring every router, which reaches
/// tables through the jobs it starts; a handler that reaches its tables
/// through a repository is not shared, however many helpers it calls), or
/// nothing else ties them to any unit.
/// They are left out of clustering and reported as `shared`: a library
/// every service links, or wiring the services replace.
///
/// Also returns, per unit, whether it is in a product crate of its own
/// (see [`products`]).
fn shared_units(coupling: &Coupling, keep: &BTreeSet<&str>) -> (BTreeSet<usize>, Vec<bool>) {
    let units = &coupling.units;
    let area: Vec<String> = units.iter().map(|u| top_area_of(&u.id)).collect();
    let mut touches_table = vec![false; units.len()];
    let mut reaches_table = vec![false; units.len()];
    let mut fan_in: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); units.len()];
    let mut fan_out: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); units.len()];
    for (&(a, b), (_, e)) in &coupling.edges {
        if units[a].table || units[b].table {
            let code = if units[a].table { b } else { a };
            if e.reads + e.writes > 0 {
                touches_table[code] = true;
            }
            if e.reads_through_calls + e.writes_through_calls > 0 {
                reaches_table[code] = true;
            }
            continue;
        }
        // Dependencies of a on b: a calls b, or they share types (which
        // way is unknown, so both).
        let a_on_b = e.calls > 0 || e.types > 0;
        let b_on_a = e.called_by > 0 || e.types > 0;
        if area[a] != area[b] {
            if a_on_b {
                fan_in[b].insert(&area[a]);
                fan_out[a].insert(&area[b]);
            }
            if b_on_a {
                fan_in[a].insert(&area[b]);
                fan_out[b].insert(&area[a]);
            }
        }
    }
    // The other areas through which a unit reaches its tables: the areas
    // of the units it calls that touch or reach one.
    let mut table_areas: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); units.len()];
    let data = |i: usize| touches_table[i] || reaches_table[i];
    for (&(a, b), (_, e)) in &coupling.edges {
        if units[a].table || units[b].table || area[a] == area[b] {
            continue;
        }
        if e.calls > 0 && data(b) {
            table_areas[a].insert(&area[b]);
        }
        if e.called_by > 0 && data(a) {
            table_areas[b].insert(&area[a]);
        }
    }
    let product = products(coupling, &touches_table, &reaches_table);
    let mut shared: BTreeSet<usize> = (0..units.len())
        .filter(|&i| {
            // Reaching tables keeps a unit whose handlers reach them, or
            // that reaches them through one other area (a service calling
            // its repository), out of the composition-root rule.
            let reaching =
                reaches_table[i] && (coupling.serving.contains(&i) || table_areas[i].len() < 2);
            !units[i].table
                && !touches_table[i]
                && !keep.contains(units[i].id.as_str())
                && !product[i]
                && (fan_in[i].len() >= 3 && !reaches_table[i] || fan_out[i].len() >= 3 && !reaching)
        })
        .collect();
    // Units tied to nothing but shared ones are shared too.
    loop {
        let isolated: Vec<usize> = (0..units.len())
            .filter(|&i| {
                !units[i].table
                    && !shared.contains(&i)
                    && !touches_table[i]
                    && !reaches_table[i]
                    && !product[i]
                    && !keep.contains(units[i].id.as_str())
            })
            .filter(|&i| {
                coupling.neighbors[i]
                    .iter()
                    .all(|(other, _)| shared.contains(other))
            })
            .collect();
        if isolated.is_empty() {
            break;
        }
        shared.extend(isolated);
    }
    (shared, product)
}

/// Merges each community that owns no table its code reads or writes
/// (none, or only tables its entities map) into the service whose
/// tables its code reads, writes or reaches most (a login page and the
/// password check that reads `users` are one capability with `users`);
/// one that touches no table and serves no route goes to the community
/// with tables it is most coupled to, when that holds at least half its
/// ties to other communities (the value types of the one area that uses
/// them; not a docs or static-files area, which serves its own). A
/// community carrying a plan service is never merged, and one tied to
/// nothing stays (a separately shipped client, say).
fn merge_dataless(
    coupling: &Coupling,
    community_of: &mut [usize],
    communities: &BTreeSet<usize>,
    member: &impl Fn(usize) -> bool,
    labelled: &BTreeMap<usize, u32>,
) {
    let units = &coupling.units;
    // Communities whose members (or a data hub's functions) read or write
    // a table of theirs (an entity that only maps one is not data access).
    let mut with_tables: BTreeSet<usize> = BTreeSet::new();
    for (&(a, b), (_, e)) in &coupling.edges {
        let access = e.reads + e.writes + e.reads_through_calls + e.writes_through_calls;
        if access == 0 || units[a].table == units[b].table {
            continue;
        }
        let (code, table) = if units[a].table { (b, a) } else { (a, b) };
        let part = units[code].part_of.is_some();
        if (member(code) || part) && community_of[code] == community_of[table] {
            with_tables.insert(community_of[code]);
        }
    }
    with_tables.retain(|c| communities.contains(c));
    let mut to_tables: BTreeMap<usize, BTreeMap<usize, f64>> = BTreeMap::new();
    let mut to_code: BTreeMap<usize, BTreeMap<usize, f64>> = BTreeMap::new();
    for (&(a, b), (w, _)) in &coupling.edges {
        for (x, y) in [(a, b), (b, a)] {
            let (cx, cy) = (community_of[x], community_of[y]);
            if !member(x) || cx == cy || with_tables.contains(&cx) || labelled.contains_key(&cx) {
                continue;
            }
            if units[y].table && with_tables.contains(&cy) {
                *to_tables.entry(cx).or_default().entry(cy).or_default() += w;
            } else if member(y) {
                *to_code.entry(cx).or_default().entry(cy).or_default() += w;
            }
        }
    }
    let best = |ties: &BTreeMap<usize, f64>| {
        ties.iter()
            .max_by(|x, y| x.1.total_cmp(y.1).then(y.0.cmp(x.0)))
            .map(|(&c, &w)| (c, w))
    };
    let serving: BTreeSet<usize> = coupling.handling.iter().map(|&i| community_of[i]).collect();
    let mut target: BTreeMap<usize, usize> = BTreeMap::new();
    for &c in communities
        .iter()
        .filter(|c| !with_tables.contains(c) && !labelled.contains_key(c))
    {
        if let Some((d, _)) = to_tables.get(&c).and_then(best) {
            target.insert(c, d);
        } else if let Some(ties) = to_code.get(&c) {
            let total: f64 = ties.values().sum();
            let data_ties: BTreeMap<usize, f64> = ties
                .iter()
                .filter(|(d, _)| with_tables.contains(d))
                .map(|(&d, &w)| (d, w))
                .collect();
            if let Some((d, w)) = best(&data_ties)
                && w >= 0.5 * total
                && !serving.contains(&c)
            {
                target.insert(c, d);
            }
        }
    }
    for c in community_of.iter_mut() {
        if let Some(&d) = target.get(c) {
            *c = d;
        }
    }
}

/// For each unit, whether it is in a crate of its own product: a crate
/// none of whose code touches or reaches a table, and whose ties to the
/// crates with such code weigh less than a tenth of its ties within
/// itself (an SDK the server calls once, a CLI, a bridge, a browser front
/// end shipped from the same repository). Its modules are not shared
/// infrastructure however many of its areas use them: they are clustered
/// among themselves, into the product's services.
fn products(coupling: &Coupling, touches: &[bool], reaches: &[bool]) -> Vec<bool> {
    let units = &coupling.units;
    let crate_at = |i: usize| crate_of(&units[i]);
    let data: BTreeSet<&str> = (0..units.len())
        .filter(|&i| touches[i] || reaches[i])
        .filter_map(crate_at)
        .collect();
    // Crate → (weight within it, weight of its ties to data crates).
    let mut weight: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (&(a, b), (w, _)) in &coupling.edges {
        let (Some(ca), Some(cb)) = (crate_at(a), crate_at(b)) else {
            continue;
        };
        if ca == cb {
            weight.entry(ca).or_default().0 += w;
        } else {
            if data.contains(cb) {
                weight.entry(ca).or_default().1 += w;
            }
            if data.contains(ca) {
                weight.entry(cb).or_default().1 += w;
            }
        }
    }
    let own: BTreeSet<&str> = weight
        .iter()
        .filter(|(c, (inside, to_data))| !data.contains(*c) && *to_data * 10.0 < *inside)
        .map(|(c, _)| *c)
        .collect();
    (0..units.len())
        .map(|i| crate_at(i).is_some_and(|c| own.contains(c)))
        .collect()
}

/// The crate of a code unit's id; none for a table or a file unit.
fn crate_of(unit: &super::coupling::Unit) -> Option<&str> {
    let id = &unit.id;
    (!unit.table && !id.starts_with("file:")).then(|| id.split("::").next().unwrap_or(id))
}

/// Puts each product crate's code (see [`products`]) in one community, its
/// largest: a CLI or an SDK shipped from the monolith's repository is one
/// deployable, not services to split (Leiden cuts a large one into
/// several). Fixed units keep their place. Not done with `--services N`,
/// whose count it would change.
fn join_products(
    coupling: &Coupling,
    product: &[bool],
    fixed: &[Option<u32>],
    shared: &BTreeSet<usize>,
    partition: &mut [usize],
) {
    let crate_at = |i: usize| crate_of(&coupling.units[i]).unwrap_or_default();
    let movable = |i: usize| product[i] && fixed[i].is_none() && !shared.contains(&i);
    let mut sizes: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
    for i in (0..partition.len()).filter(|&i| movable(i)) {
        *sizes
            .entry(crate_at(i))
            .or_default()
            .entry(partition[i])
            .or_default() += 1;
    }
    let largest: BTreeMap<&str, usize> = sizes
        .iter()
        .filter_map(|(krate, by_community)| {
            by_community
                .iter()
                .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)))
                .map(|(&c, _)| (*krate, c))
        })
        .collect();
    for i in (0..partition.len()).filter(|&i| movable(i)) {
        if let Some(&c) = largest.get(crate_at(i)) {
            partition[i] = c;
        }
    }
}

/// Finds the resolution whose partition has `target` communities with code
/// in them (or the closest), by bisection on a log scale.
fn search_resolution(
    graph: &super::leiden::WeightedGraph,
    fixed: &[Option<u32>],
    target: usize,
    seed: u64,
    coupling: &Coupling,
    shared: &BTreeSet<usize>,
) -> (Vec<usize>, f64) {
    let services = |p: &[usize]| -> usize {
        p.iter()
            .enumerate()
            .filter(|(i, _)| {
                let u = &coupling.units[*i];
                !u.table && u.part_of.is_none() && !shared.contains(i)
            })
            .map(|(_, c)| *c)
            .collect::<BTreeSet<_>>()
            .len()
    };
    let run = |gamma: f64| {
        leiden(
            graph,
            fixed,
            &LeidenConfig {
                resolution: gamma,
                seed,
                ..LeidenConfig::default()
            },
        )
    };
    let (mut lo, mut hi) = (-6.0f64, 4.0f64);
    let mut best = (usize::MAX, 1.0, run(1.0));
    for _ in 0..40 {
        let mid = f64::midpoint(lo, hi);
        let gamma = mid.exp2();
        let p = run(gamma);
        let count = services(&p);
        let distance = count.abs_diff(target);
        if distance < best.0 {
            best = (distance, gamma, p);
        }
        if count == target {
            break;
        }
        if count < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (best.2, best.1)
}

#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
fn build(
    analysis: &Analysis,
    config: &SuggestConfig,
    coupling: &Coupling,
    graph: &super::leiden::WeightedGraph,
    fixed: &[Option<u32>],
    partition: &[usize],
    resolution: f64,
    warnings: Vec<String>,
    shared: &BTreeSet<usize>,
) -> Suggestion {
    let units = &coupling.units;
    // Community → the plan service it carries, from fixed members.
    let mut community_label: BTreeMap<usize, u32> = BTreeMap::new();
    for (i, label) in fixed.iter().enumerate() {
        if let Some(l) = label {
            community_label.entry(partition[i]).or_insert(*l);
        }
    }
    // Table ownership: the community whose code writes it most.
    let writes = table_writes(coupling, |code| Some(partition[code]));
    let mut community_of: Vec<usize> = partition.to_vec();
    for (i, unit) in units.iter().enumerate() {
        if !unit.table || fixed[i].is_some() {
            continue;
        }
        if let Some(by_community) = writes.get(&i)
            && let Some((&owner, _)) = by_community
                .iter()
                .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)))
        {
            community_of[i] = owner;
        }
    }
    // Communities that hold code become services (a data hub's functions
    // are no members: they only carry their tables to a service).
    let member = |i: usize| !units[i].table && units[i].part_of.is_none() && !shared.contains(&i);
    let communities_of = |community_of: &[usize]| -> BTreeSet<usize> {
        (0..units.len())
            .filter(|&i| member(i))
            .map(|i| community_of[i])
            .collect()
    };
    let communities = communities_of(&community_of);
    // Tables left in a community without code go to their heaviest reader's.
    for (i, unit) in units.iter().enumerate() {
        if unit.table && !communities.contains(&community_of[i]) {
            let mut best: Option<(f64, usize)> = None;
            for &(other, key) in &coupling.neighbors[i] {
                let w = &coupling.edges[&key].0;
                if !member(other) {
                    continue;
                }
                let c = community_of[other];
                if best.is_none_or(|(bw, bc)| w.total_cmp(&bw).then(bc.cmp(&c)).is_gt()) {
                    best = Some((*w, c));
                }
            }
            if let Some((_, c)) = best {
                community_of[i] = c;
            }
        }
    }
    merge_dataless(
        coupling,
        &mut community_of,
        &communities,
        &member,
        &community_label,
    );
    let communities = communities_of(&community_of);
    let existing: Vec<&str> = config.existing.iter().map(|s| s.name.as_str()).collect();
    let naming_community: Vec<usize> = (0..units.len())
        .map(|i| {
            if units[i].part_of.is_some() {
                usize::MAX
            } else {
                community_of[i]
            }
        })
        .collect();
    let names = name_communities(
        &existing,
        units,
        &naming_community,
        &communities,
        &community_label,
    );
    // A data hub's function has its hub's placement: shared.
    let service_of = |i: usize| -> Option<&str> {
        let c = community_of[i];
        (communities.contains(&c) && !shared.contains(&i) && units[i].part_of.is_none())
            .then(|| names[&c].as_str())
    };

    let mut services: BTreeMap<String, ServiceSuggestion> = BTreeMap::new();
    for c in &communities {
        let name = names[c].clone();
        let pinned = community_label
            .get(c)
            .and_then(|l| config.existing.get(*l as usize))
            .map(|s| s.pinned.clone())
            .unwrap_or_default();
        services.insert(
            name.clone(),
            ServiceSuggestion {
                name,
                members: Vec::new(),
                pinned,
                tables: Vec::new(),
                routes: Vec::new(),
                metrics: ServiceMetrics::default(),
                reasons: BTreeMap::new(),
            },
        );
    }
    for (i, unit) in units.iter().enumerate() {
        let Some(service) = service_of(i).and_then(|n| services.get_mut(n)) else {
            continue;
        };
        if unit.table {
            service
                .tables
                .push(unit.id.trim_start_matches("table:").to_owned());
        } else {
            service.members.push(unit.id.clone());
        }
    }
    for service in services.values_mut() {
        service.pinned.retain(|p| service.members.contains(p));
    }

    // Routes go where their handler is.
    let access = DataAccess::of(analysis);
    for node in analysis.nodes.iter().filter(|n| n.kind == NodeKind::Route) {
        if let Detail::Route {
            methods,
            path,
            handler: Some(handler),
        } = &node.detail
            && let Some(&u) = coupling.unit_of.get(handler)
            && let Some(service) = service_of(u).and_then(|n| services.get_mut(n))
        {
            service.routes.push(RouteRef {
                methods: methods.clone(),
                path: path.clone(),
                writes: access.writes.get(handler).cloned().unwrap_or_default(),
            });
        }
    }
    for service in services.values_mut() {
        service.routes.sort();
        service.routes.dedup();
    }

    let tables_needing_decision =
        table_decisions(&writes, units, &names, &communities, &community_of);
    let service_index: Vec<Option<&str>> = (0..units.len()).map(service_of).collect();
    let (metrics, per_service) = metrics(
        analysis,
        coupling,
        graph,
        &service_index,
        config.granularity,
    );
    for (name, m) in per_service {
        if let Some(s) = services.get_mut(&name) {
            s.metrics = m;
        }
    }
    for (i, unit) in units.iter().enumerate() {
        let Some(name) = service_of(i) else { continue };
        let reason = reason_for(i, coupling, &service_index, fixed[i].is_some());
        if let Some(s) = services.get_mut(name) {
            s.reasons.insert(unit.id.clone(), reason);
        }
    }
    Suggestion {
        services: services.into_values().collect(),
        metrics,
        tables_needing_decision,
        warnings,
        shared: Vec::new(),
        readers: access.readers,
        links: links(coupling, &service_index),
        resolution,
        granularity: config.granularity,
        mojofm: None,
        ari: None,
        comparison: None,
    }
}

fn links(coupling: &Coupling, service_of: &[Option<&str>]) -> Vec<ServiceLink> {
    fn link<'m>(
        links: &'m mut BTreeMap<(String, String), ServiceLink>,
        from: &str,
        to: &str,
    ) -> &'m mut ServiceLink {
        links
            .entry((from.to_owned(), to.to_owned()))
            .or_insert_with(|| ServiceLink {
                from: from.to_owned(),
                to: to.to_owned(),
                ..ServiceLink::default()
            })
    }
    let mut links: BTreeMap<(String, String), ServiceLink> = BTreeMap::new();
    for (&(a, b), (w, e)) in &coupling.edges {
        let (Some(sa), Some(sb)) = (service_of[a], service_of[b]) else {
            continue;
        };
        if sa == sb {
            continue;
        }
        let (a_table, b_table) = (coupling.units[a].table, coupling.units[b].table);
        if b_table && !a_table {
            let l = link(&mut links, sa, sb);
            l.reads += e.reads;
            l.writes += e.writes;
        } else if a_table && !b_table {
            let l = link(&mut links, sb, sa);
            l.reads += e.reads;
            l.writes += e.writes;
        } else {
            link(&mut links, sa, sb).calls += e.calls;
            link(&mut links, sb, sa).calls += e.called_by;
            link(&mut links, sa, sb).types += e.types;
            link(&mut links, sb, sa).types += e.types;
        }
        link(&mut links, sa, sb).weight += w;
        link(&mut links, sb, sa).weight += w;
    }
    links
        .into_values()
        .filter(|l| l.calls + l.reads + l.writes + l.types > 0 || l.weight > 0.0)
        .collect()
}

/// Table unit → group → the statements of that group's code writing it;
/// `group_of` puts each code unit in a group (a community, a service), or
/// in none.
pub(super) fn table_writes(
    coupling: &Coupling,
    group_of: impl Fn(usize) -> Option<usize>,
) -> BTreeMap<usize, BTreeMap<usize, u32>> {
    let mut writes: BTreeMap<usize, BTreeMap<usize, u32>> = BTreeMap::new();
    for (&(a, b), (_, evidence)) in &coupling.edges {
        if evidence.writes == 0 {
            continue;
        }
        let (code, table) = if coupling.units[a].table {
            (b, a)
        } else {
            (a, b)
        };
        if let Some(group) = group_of(code) {
            *writes.entry(table).or_default().entry(group).or_default() += evidence.writes;
        }
    }
    writes
}

fn table_decisions(
    tally: &BTreeMap<usize, BTreeMap<usize, u32>>,
    units: &[super::coupling::Unit],
    names: &BTreeMap<usize, String>,
    communities: &BTreeSet<usize>,
    community_of: &[usize],
) -> Vec<TableDecision> {
    let mut out = Vec::new();
    for (&table, by_community) in tally {
        let mut writers: Vec<(String, u32)> = by_community
            .iter()
            .filter(|(c, _)| communities.contains(c))
            .map(|(c, n)| (names[c].clone(), *n))
            .collect();
        if writers.len() < 2 {
            continue;
        }
        writers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let owner = names.get(&community_of[table]).cloned().unwrap_or_default();
        out.push(TableDecision {
            table: units[table].id.trim_start_matches("table:").to_owned(),
            owner,
            writers,
        });
    }
    out
}
