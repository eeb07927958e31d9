//! Which tables each route writes and which modules use each table: the
//! plan's `writes` (per route) and `readers` (per table).
//!
//! - A route writes every table its handler writes itself or through any
//!   chain of calls ([`crate::Graph::transitive_table_access`]). More is
//!   safer here: a write the plan does not list lets a route answer from a
//!   service while the monolith still owns the table.
//! - A table's readers are the modules of every function that reads *or
//!   writes* it, itself or through calls: `strangler decommission` refuses
//!   while one of them stays in the monolith, and a statement that writes a
//!   table needs the monolith's copy as much as one that reads it (false
//!   positives there only delay a decommission; a false negative breaks the
//!   monolith). One exception keeps the list usable: calls into a route
//!   handler are not followed, because the code that names a handler
//!   (`get(list_orders)`) registers it rather than runs it, and would
//!   otherwise make the composition root read every table. The handler's
//!   own module is listed.

use std::collections::{BTreeMap, BTreeSet};

use crate::Analysis;
use crate::graph::{NodeKind, TableAccess, handlers, transitive_access};

use super::coupling::{Granularity, unit_map};

/// What the plan records about data access, from one analysis.
#[derive(Debug, Clone, Default)]
pub(crate) struct DataAccess {
    /// Handler function id → the tables it writes, by name, sorted.
    pub(crate) writes: BTreeMap<String, Vec<String>>,
    /// Every table of the analysis, by name → the module ids that read or
    /// write it, sorted (empty when none does).
    pub(crate) readers: BTreeMap<String, Vec<String>>,
}

impl DataAccess {
    /// The data access of `analysis`.
    pub(crate) fn of(analysis: &Analysis) -> Self {
        let handlers = handlers(&analysis.edges);
        let full = transitive_access(&analysis.nodes, &analysis.edges, &BTreeSet::new());
        let writes = handlers
            .iter()
            .map(|&h| {
                let tables = full.get(h).map(|a| names(&a.writes)).unwrap_or_default();
                (h.to_owned(), tables)
            })
            .collect();
        let mut readers: BTreeMap<String, BTreeSet<String>> = analysis
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Table)
            .map(|n| (table_name(&n.id).to_owned(), BTreeSet::new()))
            .collect();
        let modules = unit_map(analysis, Granularity::Module);
        let registered = transitive_access(&analysis.nodes, &analysis.edges, &handlers);
        for (function, TableAccess { reads, writes }) in &registered {
            let Some(module) = modules.get(function) else {
                continue;
            };
            for table in reads.iter().chain(writes) {
                readers
                    .entry(table_name(table).to_owned())
                    .or_default()
                    .insert(module.clone());
            }
        }
        Self {
            writes,
            readers: readers
                .into_iter()
                .map(|(t, m)| (t, m.into_iter().collect()))
                .collect(),
        }
    }
}

fn names(tables: &BTreeSet<String>) -> Vec<String> {
    tables.iter().map(|t| table_name(t).to_owned()).collect()
}

fn table_name(id: &str) -> &str {
    id.strip_prefix("table:").unwrap_or(id)
}
