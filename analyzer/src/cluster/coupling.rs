//! The coupling graph: the dependency graph folded onto the units users
//! move (modules by default), with tables as units of their own, and one
//! weighted undirected edge per pair of units.
//!
//! Weights, and why (all can be changed in the plan's `[analyze.weights]`
//! or with flags):
//! - `writes` 6 and `reads` 2 per statement: which tables code touches is
//!   the strongest evidence of how developers themselves split systems (in a
//!   2024 comparison of eight tools, the one grouping code by table access
//!   matched developers' decompositions best). Writing binds three times
//!   harder than reading: the writer will own the table, while reads of
//!   another area's table are exactly the calls a split turns into API use.
//! - `calls` 1 per call site, and `types` 0.5 per use of another unit's type
//!   in a signature or field: code coupling, the next best signal; a type
//!   use is looser than a call.
//! - `nesting` 4 between a module and its parent module (not between a crate
//!   root and its top-level modules, nor under a layer's module such as
//!   `routes` or `db::models`, whose children are areas of one layer): the
//!   module tree is the developers' own grouping of code by area, as strong
//!   as a couple of table reads.
//! - `co_changes` 0.5 per shared commit (`--git` only): the weakest, noisiest
//!   signal (co-change based tools matched developers least).
//! - `references` 0.5 per foreign key between two tables.
//! - `co_writes` [`CO_WRITES`] between two tables that one function writes
//!   itself, divided among the pairs (by the number of tables it writes,
//!   less one): a unit of work, usually one transaction, is one service's
//!   (an order and its line items, which class-level clustering of a
//!   JPetStore-shaped app otherwise split: 85.7 → 92.9 MoJoFM), and a
//!   function writing many areas' tables ties none of them hard.
//! - `maps` [`MAPS_WEIGHT`] between a module and the table it maps (a
//!   sea-orm entity, a Diesel `table!`).
//! - Tables reached through calls: a function that reads or writes a table
//!   only through the functions it calls (a handler calling a repository)
//!   ties its unit to the table with a tenth of the direct weight, once per
//!   function and table ([`REACHED_SHARE`]; more smeared the shop fixture's
//!   areas: at a half, checkout, which reaches eight tables of six areas,
//!   pulled orders apart). Real applications reach their
//!   tables through a model, repository or ORM layer; without this, their
//!   handlers and services look tableless and cluster by layer.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::Analysis;
use crate::graph::{EdgeKind, NodeKind, TableAccess, handlers, transitive_access};

use super::leiden::WeightedGraph;

/// The share of a read's or write's weight that a function gets for a
/// table it reaches only through its calls (once per function and table,
/// not per statement): a handler that writes `orders` through
/// `OrderRepo::insert` belongs with `orders`, but the code holding the SQL
/// is far stronger evidence, and a handler reaching many areas' tables
/// must not be pulled apart by them.
pub const REACHED_SHARE: f64 = 0.1;

/// Tables that migration tools keep for themselves. They belong to no
/// service, so they are no units: every area's migrations touch them.
pub const BOOKKEEPING_TABLES: &[&str] = &[
    "__diesel_schema_migrations",
    "_sqlx_migrations",
    "flyway_schema_history",
    "refinery_schema_history",
    "schema_migrations",
    "seaql_migrations",
];

/// Whether a table (schema-qualified or not) is a migration tool's.
#[must_use]
pub fn is_bookkeeping(table: &str) -> bool {
    let name = table.rsplit('.').next().unwrap_or(table);
    BOOKKEEPING_TABLES.contains(&name)
}

/// Which units are clustered and moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Functions and methods (types join their module's functions).
    Function,
    /// Modules (the default).
    #[default]
    Module,
    /// Source files (inline modules join their file).
    File,
}

impl std::str::FromStr for Granularity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "function" => Ok(Self::Function),
            "module" => Ok(Self::Module),
            "file" => Ok(Self::File),
            _ => Err(format!(
                "unknown granularity `{s}`; expected function, module or file"
            )),
        }
    }
}

/// How much each kind of evidence weighs; see the module docs for the
/// defaults and the reasons.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    /// Per statement reading a table.
    pub reads: f64,
    /// Per statement writing a table.
    pub writes: f64,
    /// Per call site.
    pub calls: f64,
    /// Per use of a type in a signature or field, or an `impl`.
    pub types: f64,
    /// Between a module and its parent module.
    pub nesting: f64,
    /// Per shared commit (`--git`).
    pub co_changes: f64,
    /// Per foreign key between tables.
    pub references: f64,
    /// Between two tables, per function that writes both.
    pub co_writes: f64,
    /// The share of `reads` and `writes` a function gets for a table it
    /// reaches only through its calls ([`REACHED_SHARE`] by default). Not
    /// one of the plan's `[analyze.weights]`.
    pub reached: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            reads: 2.0,
            writes: 6.0,
            calls: 1.0,
            types: 0.5,
            nesting: 4.0,
            co_changes: 0.5,
            references: 0.5,
            co_writes: CO_WRITES,
            reached: REACHED_SHARE,
        }
    }
}

impl Weights {
    /// The weight of the kind of evidence `name` names (one of
    /// `strangler_plan::AnalyzeSettings::WEIGHTS`, the plan's and the
    /// `--weight` flag's spelling), or `None` for a name that is no kind.
    pub fn slot_mut(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "reads" => &mut self.reads,
            "writes" => &mut self.writes,
            "calls" => &mut self.calls,
            "types" => &mut self.types,
            "nesting" => &mut self.nesting,
            "co_changes" => &mut self.co_changes,
            "references" => &mut self.references,
            "co_writes" => &mut self.co_writes,
            _ => return None,
        })
    }
}

/// A unit of the coupling graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// The unit's id: a module, function or file id, or `table:<name>`.
    pub id: String,
    /// Whether it is a table.
    pub table: bool,
    /// For a function of a data hub (see [`Coupling::build`]), clustered on
    /// its own: the hub's unit id. Such a unit is no member of a service;
    /// its hub is shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_of: Option<String>,
}

/// The default weight between two tables per function that writes both
/// ([`Weights::co_writes`]).
pub const CO_WRITES: f64 = 3.0;

/// The weight between a module and a table it maps (its sea-orm entity,
/// its Diesel `table!`): as strong as two written statements, so an
/// entity module, which the code that queries it names by type, goes
/// with its table instead of being left out as shared.
pub const MAPS_WEIGHT: f64 = 12.0;

/// A data hub writes (or maps) this many tables at least ...
pub const HUB_MIN_TABLES: usize = 8;

/// ... and at least this share of all tables: one repository module
/// (`db::database` implementing a `DbProvider` trait of sixty methods)
/// that writes every capability's tables. (Reads do not count: a report
/// or a product page reads many areas' tables and is still one area.) Folded into one unit,
/// it would tie all tables into one service; its functions are clustered
/// one by one instead, so each table goes with the handlers that reach
/// it, and the hub itself is shared (it mixes capabilities; splitting it
/// along its functions' services is part of the migration).
pub const HUB_MIN_SHARE: f64 = 1.0 / 3.0;

/// The evidence behind one edge, counted by kind and direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// Calls from the first unit to the second.
    pub calls: u32,
    /// Calls from the second unit to the first.
    pub called_by: u32,
    /// Type uses, either way.
    pub types: u32,
    /// Statements of the code unit reading the table unit.
    pub reads: u32,
    /// Statements of the code unit writing the table unit.
    pub writes: u32,
    /// Functions of the code unit that read the table unit only through
    /// their calls.
    pub reads_through_calls: u32,
    /// Functions of the code unit that write the table unit only through
    /// their calls.
    pub writes_through_calls: u32,
    /// Shared commits.
    pub co_changes: u32,
    /// Module nesting or foreign keys.
    pub structure: u32,
    /// Functions writing both tables.
    pub co_writes: u32,
    /// The code unit maps the table (its ORM entity or schema declaration).
    pub maps: u32,
}

/// The units, their weighted edges and the evidence for each edge.
///
/// Callers outside the clustering read it through [`Coupling::units`],
/// [`Coupling::unit_of`] and [`Coupling::ties`]; the index-based fields stay
/// inside, where the clustering keeps them consistent.
#[derive(Debug, Clone, Default)]
pub struct Coupling {
    /// Units, sorted by id.
    pub(crate) units: Vec<Unit>,
    /// `(a, b)` with `a < b` → (weight, evidence seen from `a`).
    pub(crate) edges: BTreeMap<(usize, usize), (f64, Evidence)>,
    /// Node id → its unit's index, for call-level metrics.
    pub(crate) unit_of: BTreeMap<String, usize>,
    /// For each unit, its neighbours and the key of the shared edge.
    pub(crate) neighbors: Vec<Vec<(usize, (usize, usize))>>,
    /// Units holding a route handler that reads or writes a table, itself
    /// or through its calls.
    pub(crate) serving: BTreeSet<usize>,
    /// Units holding a route handler.
    pub(crate) handling: BTreeSet<usize>,
}

/// One edge of the coupling graph, seen from one of its units.
#[derive(Debug, Clone, Copy)]
pub struct Tie<'a> {
    /// The unit at the other end.
    pub other: &'a str,
    /// The edge's weight.
    pub weight: f64,
    /// The evidence behind it, counted as seen from `forward`'s unit.
    pub evidence: &'a Evidence,
    /// Whether the evidence is seen from this unit (so `calls` are calls
    /// this unit makes); otherwise from `other`.
    pub forward: bool,
}

impl Coupling {
    /// The units, sorted by id.
    #[must_use]
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// The id of the unit a node (a function, a module, a route or a table)
    /// belongs to, if the node is in a unit.
    #[must_use]
    pub fn unit_of(&self, node: &str) -> Option<&str> {
        self.unit_of.get(node).map(|&u| self.units[u].id.as_str())
    }

    /// The index of the unit with id `unit` in [`Coupling::units`], if it
    /// is one.
    #[must_use]
    pub(crate) fn index(&self, unit: &str) -> Option<usize> {
        self.units
            .binary_search_by(|u| u.id.as_str().cmp(unit))
            .ok()
    }

    /// The edges of unit `unit` to its neighbours, in the neighbours' order;
    /// none for an id that is no unit.
    pub fn ties(&self, unit: &str) -> impl Iterator<Item = Tie<'_>> {
        self.index(unit).into_iter().flat_map(move |i| {
            self.neighbors[i].iter().filter_map(move |&(other, key)| {
                let (weight, evidence) = self.edges.get(&key)?;
                Some(Tie {
                    other: &self.units[other].id,
                    weight: *weight,
                    evidence,
                    forward: key.0 == i,
                })
            })
        })
    }

    /// Folds `analysis` onto units of `granularity`.
    ///
    /// At module and file granularity, a unit whose code writes at least
    /// [`HUB_MIN_TABLES`] tables and [`HUB_MIN_SHARE`] of all is a
    /// data hub: its functions become units of their own, with
    /// [`Unit::part_of`] naming the hub.
    #[must_use]
    pub fn build(analysis: &Analysis, granularity: Granularity, weights: &Weights) -> Self {
        let mut unit_names = unit_map(analysis, granularity);
        let hub_of = split_hubs(analysis, granularity, &mut unit_names);
        let mut ids: BTreeSet<&str> = unit_names.values().map(String::as_str).collect();
        for node in analysis.nodes.iter().filter(|n| n.kind == NodeKind::Table) {
            if !is_bookkeeping(&node.name) {
                ids.insert(&node.id);
            }
        }
        let units: Vec<Unit> = ids
            .iter()
            .map(|id| Unit {
                id: (*id).to_owned(),
                table: id.starts_with("table:"),
                part_of: hub_of.get(*id).cloned(),
            })
            .collect();
        let index: BTreeMap<&str, usize> = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.as_str(), i))
            .collect();
        let unit_of_node = |id: &str| -> Option<usize> {
            if id.starts_with("table:") {
                return index.get(id).copied();
            }
            unit_names
                .get(id)
                .and_then(|u| index.get(u.as_str()).copied())
        };
        let mut coupling = Coupling {
            units: units.clone(),
            edges: BTreeMap::new(),
            unit_of: BTreeMap::new(),
            neighbors: Vec::new(),
            serving: BTreeSet::new(),
            handling: BTreeSet::new(),
        };
        for node in &analysis.nodes {
            if let Some(u) = unit_of_node(&node.id) {
                coupling.unit_of.insert(node.id.clone(), u);
            }
        }
        let handlers = handlers(&analysis.edges);
        let reach = transitive_access(&analysis.nodes, &analysis.edges, &handlers);
        let data_units = data_units(&reach, &units, &unit_of_node);
        coupling.serving = serving_units(&handlers, &reach, &unit_of_node);
        coupling.handling = handlers.iter().filter_map(|h| unit_of_node(h)).collect();
        for edge in &analysis.edges {
            let (Some(a), Some(b)) = (unit_of_node(&edge.from), unit_of_node(&edge.to)) else {
                continue;
            };
            if a == b {
                continue;
            }
            let n = edge.weight;
            let nf = f64::from(n);
            match edge.kind {
                EdgeKind::Calls => coupling.add(a, b, weights.calls * nf, |e, forward| {
                    if forward {
                        e.calls += n;
                    } else {
                        e.called_by += n;
                    }
                }),
                EdgeKind::UsesType | EdgeKind::Implements => {
                    coupling.add(a, b, weights.types * nf, |e, _| e.types += n);
                }
                EdgeKind::Reads => coupling.add(a, b, weights.reads * nf, |e, _| e.reads += n),
                EdgeKind::Writes => coupling.add(a, b, weights.writes * nf, |e, _| e.writes += n),
                EdgeKind::CoChanges => {
                    coupling.add(a, b, weights.co_changes * nf, |e, _| e.co_changes += n);
                }
                EdgeKind::References => {
                    coupling.add(a, b, weights.references * nf, |e, _| e.structure += n);
                }
                EdgeKind::Contains => {
                    // A module and its submodule; not a crate root and its
                    // top-level modules, which would tie every area together,
                    // and not a layer's module (`routes`, `db::models`) and
                    // a child reaching tables (a business area of that
                    // layer), which would cluster by layer. A layer's child
                    // that reaches no table (a generated client's model, a
                    // DTO) has no area to go to, so it stays with its layer.
                    let both_units = units[a].id == edge.from
                        && units[b].id == edge.to
                        && units[b].part_of.is_none();
                    let layer = edge
                        .from
                        .rsplit("::")
                        .next()
                        .is_some_and(super::naming::is_layer)
                        && reaches_data(&data_units, &edge.to);
                    if both_units && edge.from.contains("::") && !layer {
                        coupling.add(a, b, weights.nesting, |e, _| e.structure += 1);
                    }
                }
                EdgeKind::Maps => coupling.add(a, b, MAPS_WEIGHT, |e, _| e.maps += n),
                EdgeKind::Handles => {}
            }
        }
        coupling.add_co_writes(analysis, weights, &unit_of_node);
        coupling.add_reached(analysis, weights, &reach, &unit_of_node);
        coupling.index_neighbors();
        coupling
    }

    /// Lists each unit's edges, for walks over a unit's neighbours.
    fn index_neighbors(&mut self) {
        self.neighbors = vec![Vec::new(); self.units.len()];
        for &(a, b) in self.edges.keys() {
            self.neighbors[a].push((b, (a, b)));
            self.neighbors[b].push((a, (a, b)));
        }
    }

    /// Tables written together: each function that writes several tables
    /// itself (one unit of work, usually one transaction) ties each pair of
    /// them with `co_writes` divided by the number of its tables less one,
    /// once per function.
    fn add_co_writes(
        &mut self,
        analysis: &Analysis,
        weights: &Weights,
        unit_of_node: &impl Fn(&str) -> Option<usize>,
    ) {
        if weights.co_writes == 0.0 {
            return;
        }
        let mut written: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for edge in analysis.edges.iter().filter(|e| e.kind == EdgeKind::Writes) {
            if let Some(t) = unit_of_node(&edge.to).filter(|&t| self.units[t].table) {
                written.entry(edge.from.as_str()).or_default().insert(t);
            }
        }
        for tables in written.values().filter(|t| t.len() > 1) {
            let tables: Vec<usize> = tables.iter().copied().collect();
            let share = weights.co_writes / (tables.len() - 1) as f64;
            for (i, &a) in tables.iter().enumerate() {
                for &b in &tables[i + 1..] {
                    self.add(a, b, share, |e, _| e.co_writes += 1);
                }
            }
        }
    }

    /// Table access through call chains: for each function, every table it
    /// reaches only through its calls ties its unit to the table with
    /// [`REACHED_SHARE`] of the direct weight, once per function. Calls into
    /// route handlers are not followed (naming a handler registers it).
    fn add_reached(
        &mut self,
        analysis: &Analysis,
        weights: &Weights,
        reach: &BTreeMap<String, TableAccess>,
        unit_of_node: &impl Fn(&str) -> Option<usize>,
    ) {
        let direct: BTreeSet<(&str, &str, EdgeKind)> = analysis
            .edges
            .iter()
            .filter(|e| matches!(e.kind, EdgeKind::Reads | EdgeKind::Writes))
            .map(|e| (e.from.as_str(), e.to.as_str(), e.kind))
            .collect();
        for (function, access) in reach {
            let Some(a) = unit_of_node(function) else {
                continue;
            };
            for table in &access.writes {
                if direct.contains(&(function.as_str(), table.as_str(), EdgeKind::Writes)) {
                    continue;
                }
                if let Some(b) = unit_of_node(table) {
                    self.add(a, b, weights.writes * weights.reached, |e, _| {
                        e.writes_through_calls += 1;
                    });
                }
            }
            for table in access.reads.difference(&access.writes) {
                if direct.contains(&(function.as_str(), table.as_str(), EdgeKind::Reads)) {
                    continue;
                }
                if let Some(b) = unit_of_node(table) {
                    self.add(a, b, weights.reads * weights.reached, |e, _| {
                        e.reads_through_calls += 1;
                    });
                }
            }
        }
    }

    fn add(&mut self, a: usize, b: usize, weight: f64, count: impl Fn(&mut Evidence, bool)) {
        if weight <= 0.0 {
            return;
        }
        let key = (a.min(b), a.max(b));
        let entry = self.edges.entry(key).or_default();
        entry.0 += weight;
        count(&mut entry.1, a < b);
    }

    /// The weighted graph Leiden works on.
    #[must_use]
    pub fn graph(&self) -> WeightedGraph {
        self.graph_without(&BTreeSet::new())
    }

    /// The weighted graph without the edges of some units (which stay, as
    /// isolated nodes, so indices do not change).
    #[must_use]
    pub fn graph_without(&self, left_out: &BTreeSet<usize>) -> WeightedGraph {
        WeightedGraph::from_edges(
            self.units.len(),
            self.edges
                .iter()
                .filter(|((a, b), _)| !left_out.contains(a) && !left_out.contains(b))
                .map(|(&(a, b), (w, _))| (a, b, *w)),
        )
    }
}

/// Each code node's unit id at this granularity: its module (a module or
/// crate root is its own), function or file; a route's is its handler's.
/// Tables are not in the map.
#[must_use]
pub fn unit_map(analysis: &Analysis, granularity: Granularity) -> BTreeMap<String, String> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    for edge in analysis
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Contains)
    {
        parent.insert(&edge.to, &edge.from);
    }
    let kind: BTreeMap<&str, NodeKind> = analysis
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.kind))
        .collect();
    let module_of = |id: &str| -> Option<String> {
        let mut current = id;
        for _ in 0..64 {
            match kind.get(current) {
                Some(NodeKind::Module | NodeKind::Crate) => return Some(current.to_owned()),
                _ => current = parent.get(current)?,
            }
        }
        None
    };
    let file_of: BTreeMap<&str, &str> = analysis
        .nodes
        .iter()
        .filter_map(|n| n.file.as_deref().map(|f| (n.id.as_str(), f)))
        .collect();
    let handler_of: BTreeMap<&str, &str> = analysis
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Handles)
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    let mut out = BTreeMap::new();
    for node in &analysis.nodes {
        let unit = match (node.kind, granularity) {
            (NodeKind::Table, _) => continue,
            (NodeKind::Route, _) => {
                // A route belongs with its handler.
                match handler_of.get(node.id.as_str()).map(|h| (*h).to_owned()) {
                    Some(h) => match granularity {
                        Granularity::Function => Some(h),
                        Granularity::Module => module_of(&h),
                        Granularity::File => file_of.get(h.as_str()).map(|f| format!("file:{f}")),
                    },
                    None => None,
                }
            }
            (NodeKind::Function, Granularity::Function) => Some(node.id.clone()),
            (_, Granularity::Function | Granularity::Module) => module_of(&node.id),
            (_, Granularity::File) => file_of.get(node.id.as_str()).map(|f| format!("file:{f}")),
        };
        if let Some(unit) = unit {
            out.insert(node.id.clone(), unit);
        }
    }
    out
}

/// Finds the data hubs of `unit_names` (see [`Coupling::build`]) and maps
/// their functions to units of their own; returns function unit → hub.
fn split_hubs(
    analysis: &Analysis,
    granularity: Granularity,
    unit_names: &mut BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    if granularity == Granularity::Function {
        return BTreeMap::new();
    }
    let tables = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table && !is_bookkeeping(&n.name))
        .count();
    let mut touched: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for edge in &analysis.edges {
        if matches!(edge.kind, EdgeKind::Writes | EdgeKind::Maps)
            && let Some(unit) = unit_names.get(&edge.from)
            && !is_bookkeeping(edge.to.trim_start_matches("table:"))
        {
            touched.entry(unit).or_default().insert(&edge.to);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let hubs: BTreeSet<String> = touched
        .into_iter()
        .filter(|(_, t)| {
            t.len() >= HUB_MIN_TABLES && t.len() as f64 >= HUB_MIN_SHARE * tables as f64
        })
        .map(|(unit, _)| unit.to_owned())
        .collect();
    let mut parts = BTreeMap::new();
    if hubs.is_empty() {
        return parts;
    }
    for node in analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Function)
    {
        if let Some(unit) = unit_names.get_mut(&node.id)
            && hubs.contains(unit.as_str())
        {
            parts.insert(node.id.clone(), std::mem::replace(unit, node.id.clone()));
        }
    }
    parts
}

/// The units of the `handlers` that reach a table unit.
fn serving_units(
    handlers: &BTreeSet<&str>,
    reach: &BTreeMap<String, TableAccess>,
    unit_of_node: &impl Fn(&str) -> Option<usize>,
) -> BTreeSet<usize> {
    handlers
        .iter()
        .filter(|h| {
            reach.get(**h).is_some_and(|access| {
                access
                    .reads
                    .iter()
                    .chain(&access.writes)
                    .any(|t| unit_of_node(t).is_some())
            })
        })
        .filter_map(|h| unit_of_node(h))
        .collect()
}

/// Whether the module `id`, or a module under it, is one of `data_units`.
fn reaches_data(data_units: &BTreeSet<&str>, id: &str) -> bool {
    let below = format!("{id}::");
    data_units.contains(id)
        || data_units
            .range(below.as_str()..)
            .next()
            .is_some_and(|u| u.starts_with(&below))
}

/// Units with code that reads or writes a table, itself or through its
/// calls (bookkeeping tables, which are no units, aside).
fn data_units<'u>(
    reach: &BTreeMap<String, TableAccess>,
    units: &'u [Unit],
    unit_of_node: &impl Fn(&str) -> Option<usize>,
) -> BTreeSet<&'u str> {
    reach
        .iter()
        .filter(|(_, access)| {
            access
                .reads
                .iter()
                .chain(&access.writes)
                .any(|t| unit_of_node(t).is_some())
        })
        .filter_map(|(function, _)| unit_of_node(function))
        .map(|u| units[u].id.as_str())
        .collect()
}
