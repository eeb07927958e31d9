//! Reads the JSON of `strangler analyze --format json` back into an
//! [`Analysis`], for `strangler plan --analysis FILE`.
//!
//! The analyzer's types only serialise, so this reads the few fields the
//! planner needs (node ids, kinds and route details; edges) by hand and
//! says which entry is wrong when one is.

use serde_json::Value;
use strangler_analyzer::{Analysis, Detail, Edge, EdgeKind, Node, NodeKind, Stats};

/// Parses analyzer JSON.
pub fn parse(text: &str) -> Result<Analysis, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let nodes = array(&root, "nodes")?
        .iter()
        .enumerate()
        .map(|(i, n)| node(n).map_err(|e| format!("nodes[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let edges = array(&root, "edges")?
        .iter()
        .enumerate()
        .map(|(i, e)| edge(e).map_err(|e| format!("edges[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Analysis {
        nodes,
        edges,
        diagnostics: Vec::new(),
        stats: Stats::default(),
    })
}

fn array<'v>(v: &'v Value, key: &str) -> Result<&'v Vec<Value>, String> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no `{key}` array; is this `strangler analyze --format json`?"))
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no string `{key}`"))
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn node(v: &Value) -> Result<Node, String> {
    let kind = match string(v, "kind")?.as_str() {
        "crate" => NodeKind::Crate,
        "module" => NodeKind::Module,
        "function" => NodeKind::Function,
        "type" => NodeKind::Type,
        "route" => NodeKind::Route,
        "table" => NodeKind::Table,
        other => return Err(format!("unknown node kind `{other}`")),
    };
    let detail = match kind {
        NodeKind::Route => Detail::Route {
            methods: strings(v, "methods"),
            path: string(v, "path")?,
            handler: v.get("handler").and_then(Value::as_str).map(str::to_owned),
        },
        NodeKind::Table => Detail::Table {
            columns: strings(v, "columns"),
            primary_key: strings(v, "primary_key"),
            view: v.get("view").and_then(Value::as_bool).unwrap_or(false),
        },
        NodeKind::Type => match v.get("type_kind").and_then(Value::as_str) {
            Some(kind) => Detail::Type {
                type_kind: kind.to_owned(),
            },
            None => Detail::None,
        },
        _ => Detail::None,
    };
    Ok(Node {
        id: string(v, "id")?,
        kind,
        name: string(v, "name").unwrap_or_default(),
        file: v.get("file").and_then(Value::as_str).map(str::to_owned),
        line: v
            .get("line")
            .and_then(Value::as_u64)
            .and_then(|l| u32::try_from(l).ok()),
        detail,
    })
}

fn edge(v: &Value) -> Result<Edge, String> {
    let kind = match string(v, "kind")?.as_str() {
        "contains" => EdgeKind::Contains,
        "calls" => EdgeKind::Calls,
        "uses_type" => EdgeKind::UsesType,
        "implements" => EdgeKind::Implements,
        "handles" => EdgeKind::Handles,
        "reads" => EdgeKind::Reads,
        "writes" => EdgeKind::Writes,
        "references" => EdgeKind::References,
        "co_changes" => EdgeKind::CoChanges,
        other => return Err(format!("unknown edge kind `{other}`")),
    };
    Ok(Edge {
        from: string(v, "from")?,
        to: string(v, "to")?,
        kind,
        weight: v
            .get("weight")
            .and_then(Value::as_u64)
            .and_then(|w| u32::try_from(w).ok())
            .unwrap_or(1),
    })
}
