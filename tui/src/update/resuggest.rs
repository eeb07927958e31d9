//! Re-suggesting: starting the analyzer's clustering for the plan as it
//! is, showing its answer as a diff of the plan, and accepting it as one
//! edit (so `u` undoes it).

use std::collections::BTreeMap;

use strangler_plan::Plan;

use crate::model::{Busy, Effect, Model, Popup};
use crate::update::edit::{edit, writable};
use crate::update::status::say;

/// What changes from `old` to `new`, one line each: moved, added and
/// removed members, new services, new tables and routes.
#[must_use]
pub fn diff(old: &Plan, new: &Plan) -> Vec<String> {
    let owners = |plan: &Plan| -> BTreeMap<String, String> {
        plan.services
            .iter()
            .flat_map(|s| s.members.iter().map(|m| (m.clone(), s.name.clone())))
            .collect()
    };
    let (before, after) = (owners(old), owners(new));
    let mut lines = Vec::new();
    for s in &new.services {
        if old.service(&s.name).is_none() {
            lines.push(format!("+ service {}", s.name));
        }
    }
    for (member, to) in &after {
        match before.get(member) {
            Some(from) if from != to => lines.push(format!("~ {member}: {from} → {to}")),
            None => lines.push(format!("+ {member} → {to}")),
            _ => {}
        }
    }
    for (member, from) in &before {
        if !after.contains_key(member) {
            lines.push(format!("- {member} (leaves {from})"));
        }
    }
    for s in &new.services {
        let had = old.service(&s.name);
        for t in &s.tables {
            if !had.is_some_and(|h| h.tables.iter().any(|x| x.name == t.name)) {
                lines.push(format!("+ table {} → {}", t.name, s.name));
            }
        }
        for r in &s.routes {
            if !had.is_some_and(|h| h.routes.contains(r)) {
                lines.push(format!(
                    "+ route {} {} → {}",
                    r.methods_label(),
                    r.path,
                    s.name
                ));
            }
        }
    }
    lines
}

/// Asks the loop to re-suggest services for the plan, when there is an
/// analysis to suggest from and no other background work runs.
pub(super) fn start(model: &mut Model) {
    if model.analyzed.is_none() {
        say(
            model,
            "no analysis to re-suggest from: open with --repo or --analysis",
        );
    } else if let Some(busy) = &model.busy {
        model.status = format!("busy {}…; Esc stops waiting", busy.what);
    } else if writable(model) {
        let job = model.start_job("re-suggesting".to_owned());
        model.effect = Some(Effect::Resuggest {
            job,
            plan: Box::new(model.plan.clone()),
        });
    }
}

/// Takes the answer of the re-suggestion `busy` waited for: a diff to
/// accept or reject, unless the plan was edited meanwhile or it failed.
pub(super) fn answered(
    model: &mut Model,
    busy: &Busy,
    result: Result<(Box<Plan>, Vec<String>), String>,
) {
    match result {
        Ok(_) if busy.revision != model.revision => {
            say(
                model,
                "the plan changed while re-suggesting; S re-suggests for the plan as it is now",
            );
        }
        Ok((plan, warnings)) => offer(model, plan, warnings),
        Err(e) => model.status = format!("cannot re-suggest: {e}"),
    }
}

/// Replaces the plan with the re-suggestion shown, as one edit.
pub(super) fn accept(model: &mut Model) {
    if let Some(Popup::Diff { plan, .. }) = model.popup.take() {
        edit(model, "accept the re-suggestion".to_owned(), |p| {
            *p = *plan;
            Ok(())
        });
    }
}

/// Shows a re-suggestion as a diff to accept or reject.
fn offer(model: &mut Model, plan: Box<Plan>, warnings: Vec<String>) {
    let changes = diff(&model.plan, &plan);
    if changes.is_empty() {
        say(model, "the re-suggestion changes nothing");
        return;
    }
    let mut lines = changes;
    lines.extend(warnings.into_iter().map(|w| format!("warning: {w}")));
    model.status = format!(
        "re-suggestion: {} lines of changes; y accepts, n rejects",
        lines.len()
    );
    model.popup = Some(Popup::Diff {
        plan,
        lines,
        scroll: 0,
    });
}
