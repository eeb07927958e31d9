//! Why each member sits in its service: its strongest ties there, the
//! runner-up service, and what moving it would cost, in words.

use std::collections::BTreeMap;

use serde::Serialize;

use super::coupling::{Coupling, Evidence};

/// Why a member sits in its service, and what moving it would cost.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reason {
    /// The strongest ties to its own service, strongest first.
    pub because: Vec<String>,
    /// The service it is next most tied to.
    pub runner_up: Option<String>,
    /// The ties that would cross services if it moved there.
    pub move_cost: Vec<String>,
    /// Total weight of those ties.
    pub move_cost_weight: f64,
    /// Whether the user pinned it.
    pub pinned: bool,
}

pub(super) fn reason_for(
    i: usize,
    coupling: &Coupling,
    service_of: &[Option<&str>],
    pinned: bool,
) -> Reason {
    let Some(own) = service_of[i] else {
        return Reason::default();
    };
    let mut ties: Vec<(f64, String, Option<&str>)> = Vec::new();
    for &(other, key) in &coupling.neighbors[i] {
        let (w, e) = &coupling.edges[&key];
        let forward = key.0 == i;
        ties.push((
            *w,
            describe(e, forward, &coupling.units[other].id),
            service_of[other],
        ));
    }
    ties.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    let because: Vec<String> = ties
        .iter()
        .filter(|t| t.2 == Some(own))
        .take(3)
        .map(|t| t.1.clone())
        .collect();
    let mut other_weight: BTreeMap<&str, f64> = BTreeMap::new();
    for (w, _, s) in &ties {
        if let Some(s) = s
            && *s != own
        {
            *other_weight.entry(s).or_default() += w;
        }
    }
    let runner_up = other_weight
        .iter()
        .max_by(|x, y| x.1.total_cmp(y.1).then(y.0.cmp(x.0)))
        .map(|(s, _)| (*s).to_owned());
    let own_ties: Vec<&(f64, String, Option<&str>)> =
        ties.iter().filter(|t| t.2 == Some(own)).collect();
    Reason {
        because: if because.is_empty() {
            vec!["no ties to other units; placed with its module".to_owned()]
        } else {
            because
        },
        move_cost: own_ties.iter().take(3).map(|t| t.1.clone()).collect(),
        move_cost_weight: own_ties.iter().map(|t| t.0).sum(),
        runner_up,
        pinned,
    }
}

fn functions(n: u32) -> String {
    if n == 1 {
        "1 function".to_owned()
    } else {
        format!("{n} functions")
    }
}

/// One tie in words: `writes orders (2 statements), calls shop::a (5)`.
fn describe(e: &Evidence, forward: bool, other: &str) -> String {
    let name = other.strip_prefix("table:").unwrap_or(other);
    let mut parts = Vec::new();
    // Evidence counts code → table whichever way the pair is ordered.
    if e.writes > 0 {
        parts.push(if other.starts_with("table:") {
            format!("writes {name} ({})", statements(e.writes))
        } else {
            format!("written by {name} ({})", statements(e.writes))
        });
    }
    if e.reads > 0 {
        parts.push(if other.starts_with("table:") {
            format!("reads {name} ({})", statements(e.reads))
        } else {
            format!("read by {name} ({})", statements(e.reads))
        });
    }
    if e.writes_through_calls > 0 {
        parts.push(if other.starts_with("table:") {
            format!(
                "writes {name} through calls ({})",
                functions(e.writes_through_calls)
            )
        } else {
            format!(
                "written by {name} through calls ({})",
                functions(e.writes_through_calls)
            )
        });
    }
    if e.reads_through_calls > 0 {
        parts.push(if other.starts_with("table:") {
            format!(
                "reads {name} through calls ({})",
                functions(e.reads_through_calls)
            )
        } else {
            format!(
                "read by {name} through calls ({})",
                functions(e.reads_through_calls)
            )
        });
    }
    if e.maps > 0 {
        parts.push(if other.starts_with("table:") {
            format!("maps {name} (its ORM entity or schema)")
        } else {
            format!("mapped by {name}")
        });
    }
    let (calls, called_by) = if forward {
        (e.calls, e.called_by)
    } else {
        (e.called_by, e.calls)
    };
    if calls > 0 {
        parts.push(format!("calls {name} ({calls})"));
    }
    if called_by > 0 {
        parts.push(format!("called by {name} ({called_by})"));
    }
    if e.types > 0 {
        parts.push(format!("shares types with {name} ({})", e.types));
    }
    if e.co_changes > 0 {
        parts.push(format!("changes with {name} ({} commits)", e.co_changes));
    }
    if e.co_writes > 0 {
        parts.push(format!(
            "written with {name} by {} function{}",
            e.co_writes,
            if e.co_writes == 1 { "" } else { "s" }
        ));
    }
    if e.structure > 0 && parts.is_empty() {
        parts.push(format!("next to {name} in the module tree"));
    }
    parts.join(", ")
}

fn statements(n: u32) -> String {
    if n == 1 {
        "1 statement".to_owned()
    } else {
        format!("{n} statements")
    }
}
