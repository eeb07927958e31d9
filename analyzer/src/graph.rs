//! The dependency graph: nodes with stable ids, and weighted, typed edges.
//!
//! Ids are paths such as `shop::orders::checkout::place_order`, derived only
//! from names in the code, so they are the same on every run and do not
//! depend on the order files are read. Nodes and edges are kept sorted by
//! id, which makes every output byte-identical across runs.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A Cargo package's library or binary target.
    Crate,
    /// A module (a file, a `mod` block, or a crate root).
    Module,
    /// A free function or a method.
    Function,
    /// A struct, enum, union or trait.
    Type,
    /// An HTTP route: methods, a path template and a handler.
    Route,
    /// A SQL table or view.
    Table,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A crate or module to an item it contains.
    Contains,
    /// A function to a function it calls.
    Calls,
    /// A function signature or a type's field to a type it names.
    UsesType,
    /// A type to a trait it implements.
    Implements,
    /// A route to its handler.
    Handles,
    /// A function to a table it reads (SELECT, JOIN, subquery, CTE body).
    Reads,
    /// A function to a table it writes (INSERT, UPDATE, DELETE, MERGE, COPY FROM).
    Writes,
    /// A table to a table its foreign key references.
    References,
    /// A module to a module it changed together with in the history (`--git`).
    CoChanges,
    /// A module to a table it maps: a sea-orm entity (`#[sea_orm(table_name
    /// = "…")]`) or the Diesel `table!` schema that declares it.
    Maps,
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Stable id, such as `shop::orders::checkout` or `table:orders`.
    pub id: String,
    /// What the node is.
    pub kind: NodeKind,
    /// Short name: the last path segment, the route as `GET /x`, the table.
    pub name: String,
    /// File the node is defined in, relative to the analyzed root.
    pub file: Option<String>,
    /// 1-based line of the definition.
    pub line: Option<u32>,
    /// Kind-specific details, flattened into the node's JSON.
    #[serde(flatten)]
    pub detail: Detail,
}

/// Details that only some kinds of node have.
///
/// Written untagged (its fields flattened into the node); read back by the
/// fields present, because an untagged unit variant
/// cannot tell itself from the others when flattened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(untagged, from = "DetailFields")]
pub enum Detail {
    /// No details.
    #[default]
    None,
    /// A route's methods (`["*"]` for any), path template and handler id.
    Route {
        /// Upper-case methods, sorted; `["*"]` when unrestricted.
        methods: Vec<String>,
        /// Full path with every prefix, in `{param}`/`{*rest}` syntax.
        path: String,
        /// The handler function's id, when it could be resolved.
        handler: Option<String>,
    },
    /// A table's columns and keys, from the DDL.
    Table {
        /// Column names, in order.
        columns: Vec<String>,
        /// Primary key columns.
        primary_key: Vec<String>,
        /// Whether it is a view.
        view: bool,
    },
    /// What sort of type.
    Type {
        /// `struct`, `enum`, `union` or `trait`.
        type_kind: String,
    },
}

/// Every field a [`Detail`] may have, as JSON carries them: `path` makes a
/// route, `columns` a table, `type_kind` a type, none of them no details.
#[derive(Deserialize)]
struct DetailFields {
    methods: Option<Vec<String>>,
    path: Option<String>,
    handler: Option<String>,
    columns: Option<Vec<String>>,
    primary_key: Option<Vec<String>>,
    view: Option<bool>,
    type_kind: Option<String>,
}

impl From<DetailFields> for Detail {
    fn from(f: DetailFields) -> Self {
        if let Some(path) = f.path {
            Self::Route {
                methods: f.methods.unwrap_or_default(),
                path,
                handler: f.handler,
            }
        } else if let Some(columns) = f.columns {
            Self::Table {
                columns,
                primary_key: f.primary_key.unwrap_or_default(),
                view: f.view.unwrap_or(false),
            }
        } else if let Some(type_kind) = f.type_kind {
            Self::Type { type_kind }
        } else {
            Self::None
        }
    }
}

/// An edge of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Id of the source node.
    pub from: String,
    /// Id of the target node.
    pub to: String,
    /// What the edge means.
    pub kind: EdgeKind,
    /// How many times it occurs (calls, statements, shared commits).
    pub weight: u32,
}

/// The whole graph, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Graph {
    /// Nodes, sorted by id.
    pub nodes: Vec<Node>,
    /// Edges, sorted by (from, to, kind).
    pub edges: Vec<Edge>,
}

/// Collects nodes and edges in any order; [`GraphBuilder::finish`] sorts
/// them and sums the weights of repeated edges.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    nodes: BTreeMap<String, Node>,
    edges: BTreeMap<(String, String, EdgeKind), u32>,
}

impl GraphBuilder {
    /// Adds a node; the first definition of an id wins (a later one with the
    /// same id, such as a second `impl` block, adds nothing).
    pub fn node(&mut self, node: Node) {
        self.nodes.entry(node.id.clone()).or_insert(node);
    }

    /// Whether a node with this id exists.
    #[must_use]
    pub fn has(&self, id: &str) -> bool {
        self.nodes.contains_key(id)
    }

    /// Adds `weight` occurrences of an edge.
    pub fn edge(&mut self, from: &str, to: &str, kind: EdgeKind, weight: u32) {
        *self
            .edges
            .entry((from.to_owned(), to.to_owned(), kind))
            .or_default() += weight;
    }

    /// The sorted graph. Edges whose ends are not both nodes are dropped.
    #[must_use]
    pub fn finish(self) -> Graph {
        let nodes = self.nodes;
        let edges = self
            .edges
            .into_iter()
            .filter(|((from, to, _), _)| nodes.contains_key(from) && nodes.contains_key(to))
            .map(|((from, to, kind), weight)| Edge {
                from,
                to,
                kind,
                weight,
            })
            .collect();
        Graph {
            nodes: nodes.into_values().collect(),
            edges,
        }
    }
}

impl Graph {
    /// The node with this id.
    #[must_use]
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.nodes[i])
    }

    /// Nodes of one kind.
    pub fn nodes_of(&self, kind: NodeKind) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.kind == kind)
    }

    /// Edges of one kind.
    pub fn edges_of(&self, kind: EdgeKind) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.kind == kind)
    }

    /// For every function, the tables it reads and writes itself or through
    /// any chain of calls within the analyzed code, by table id. Functions
    /// that reach no table are left out.
    ///
    /// The call graph is condensed with petgraph (Tarjan's strongly
    /// connected components), so functions in a call cycle share one
    /// answer and each component is visited once, callees before callers:
    /// linear in the calls, whatever the recursion.
    #[must_use]
    pub fn transitive_table_access(&self) -> BTreeMap<String, TableAccess> {
        self.transitive_table_access_except(&BTreeSet::new())
    }

    /// [`Graph::transitive_table_access`], except that calls into the
    /// functions of `opaque` are not followed: their own access stays
    /// theirs, and their callers do not inherit it. The readers of a table
    /// use it with the route handlers, whose callers only register them.
    #[must_use]
    pub fn transitive_table_access_except(
        &self,
        opaque: &BTreeSet<&str>,
    ) -> BTreeMap<String, TableAccess> {
        transitive_access(&self.nodes, &self.edges, opaque)
    }
}

/// The functions that handle a route (the targets of `handles` edges).
pub(crate) fn handlers(edges: &[Edge]) -> BTreeSet<&str> {
    edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Handles)
        .map(|e| e.to.as_str())
        .collect()
}

/// [`Graph::transitive_table_access_except`] on nodes and edges held
/// elsewhere (an [`crate::Analysis`]), without copying them into a graph.
pub(crate) fn transitive_access(
    nodes: &[Node],
    edges: &[Edge],
    opaque: &BTreeSet<&str>,
) -> BTreeMap<String, TableAccess> {
    let mut calls: DiGraph<&str, ()> = DiGraph::new();
    let mut index: BTreeMap<&str, NodeIndex> = BTreeMap::new();
    for node in nodes.iter().filter(|n| n.kind == NodeKind::Function) {
        index.insert(&node.id, calls.add_node(&node.id));
    }
    let mut direct: BTreeMap<NodeIndex, TableAccess> = BTreeMap::new();
    for edge in edges {
        let Some(&from) = index.get(edge.from.as_str()) else {
            continue;
        };
        match edge.kind {
            EdgeKind::Calls if !opaque.contains(edge.to.as_str()) => {
                if let Some(&to) = index.get(edge.to.as_str()) {
                    calls.add_edge(from, to, ());
                }
            }
            EdgeKind::Reads => {
                direct
                    .entry(from)
                    .or_default()
                    .reads
                    .insert(edge.to.clone());
            }
            EdgeKind::Writes => {
                direct
                    .entry(from)
                    .or_default()
                    .writes
                    .insert(edge.to.clone());
            }
            _ => {}
        }
    }
    // Components come sinks first (callees before their callers).
    let components = petgraph::algo::tarjan_scc(&calls);
    let mut component_of = vec![0; calls.node_count()];
    for (c, members) in components.iter().enumerate() {
        for m in members {
            component_of[m.index()] = c;
        }
    }
    let mut reach: Vec<TableAccess> = vec![TableAccess::default(); components.len()];
    for (c, members) in components.iter().enumerate() {
        let mut access = TableAccess::default();
        for &m in members {
            if let Some(own) = direct.get(&m) {
                access.extend(own);
            }
            for callee in calls.neighbors(m) {
                let d = component_of[callee.index()];
                if d != c {
                    access.extend(&reach[d]);
                }
            }
        }
        reach[c] = access;
    }
    index
        .iter()
        .filter_map(|(id, &n)| {
            let access = &reach[component_of[n.index()]];
            (!access.is_empty()).then(|| ((*id).to_owned(), access.clone()))
        })
        .collect()
}

/// The tables a function reaches, by table id (`table:orders`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableAccess {
    /// Tables read.
    pub reads: BTreeSet<String>,
    /// Tables written.
    pub writes: BTreeSet<String>,
}

impl TableAccess {
    /// Whether no table is read or written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty()
    }

    fn extend(&mut self, other: &TableAccess) {
        self.reads.extend(other.reads.iter().cloned());
        self.writes.extend(other.writes.iter().cloned());
    }
}

/// The id of a table node: `table:<name>`, so a table never collides with
/// a module of the same name.
#[must_use]
pub fn table_id(name: &str) -> String {
    format!("table:{name}")
}

/// The id of a route node: `route:<METHODS> <path>`.
#[must_use]
pub fn route_id(methods: &[String], path: &str) -> String {
    format!("route:{} {path}", methods.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(id: &str) -> Node {
        Node {
            id: id.to_owned(),
            kind: NodeKind::Function,
            name: id.to_owned(),
            file: None,
            line: None,
            detail: Detail::None,
        }
    }

    #[test]
    fn table_access_follows_calls_through_cycles() {
        // handler → a ⇄ b → c; b writes t, c reads u, lone reads v.
        let mut builder = GraphBuilder::default();
        for id in ["handler", "a", "b", "c", "lone", "idle"] {
            builder.node(function(id));
        }
        builder.node(Node {
            kind: NodeKind::Table,
            ..function("table:t")
        });
        builder.node(Node {
            kind: NodeKind::Table,
            ..function("table:u")
        });
        builder.node(Node {
            kind: NodeKind::Table,
            ..function("table:v")
        });
        for (from, to) in [("handler", "a"), ("a", "b"), ("b", "a"), ("b", "c")] {
            builder.edge(from, to, EdgeKind::Calls, 1);
        }
        builder.edge("b", "table:t", EdgeKind::Writes, 1);
        builder.edge("c", "table:u", EdgeKind::Reads, 2);
        builder.edge("lone", "table:v", EdgeKind::Reads, 1);
        let reach = builder.finish().transitive_table_access();
        let set = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        for id in ["handler", "a", "b"] {
            assert_eq!(reach[id].writes, set(&["table:t"]), "{id}");
            assert_eq!(reach[id].reads, set(&["table:u"]), "{id}");
        }
        assert_eq!(reach["c"].writes, set(&[]));
        assert_eq!(reach["c"].reads, set(&["table:u"]));
        assert_eq!(reach["lone"].reads, set(&["table:v"]));
        assert!(!reach.contains_key("idle"));
    }
}
