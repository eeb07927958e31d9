//! The dependency graph: nodes with stable ids, and weighted, typed edges.
//!
//! Ids are paths such as `shop::orders::checkout::place_order`, derived only
//! from names in the code, so they are the same on every run and do not
//! depend on the order files are read. Nodes and edges are kept sorted by
//! id, which makes every output byte-identical across runs.

use std::collections::BTreeMap;

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
/// fields present ([`DetailFields`]), because an untagged unit variant
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

    /// The graph as a petgraph `DiGraph`, with node weights indexing
    /// [`Graph::nodes`] and edge weights indexing [`Graph::edges`].
    #[must_use]
    pub fn to_petgraph(&self) -> petgraph::graph::DiGraph<usize, usize> {
        let mut g = petgraph::graph::DiGraph::with_capacity(self.nodes.len(), self.edges.len());
        let index: BTreeMap<&str, petgraph::graph::NodeIndex> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), g.add_node(i)))
            .collect();
        for (i, e) in self.edges.iter().enumerate() {
            if let (Some(&a), Some(&b)) = (index.get(e.from.as_str()), index.get(e.to.as_str())) {
                g.add_edge(a, b, i);
            }
        }
        g
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
