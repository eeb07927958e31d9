//! Plan edits: each is applied to a copy of the plan, kept only when the
//! plan stays valid, recorded for undo and redo with its effect on the
//! metrics, and saved on request. The pickers and text fields that ask
//! what an edit should do are opened and answered here.

use strangler_analyzer::cluster::Metrics;
use strangler_analyzer::cluster::plan::{
    Followed, UnplannedRoute, adopt_route, adopt_served_routes, follow_code,
};
use strangler_plan::{Plan, RouteStage, Service, TableStage, mask_url, validate};

use crate::model::{
    Change, Effect, InputPurpose, Model, MonolithItem, Pane, PickPurpose, Popup, Row, unit_word,
};
use crate::update::navigate::{clamp, set_filter};
use crate::update::status::say;

/// Asks the loop to save the plan, unless it is read-only.
pub(super) fn save(model: &mut Model) {
    if model.read_only() {
        say(
            model,
            "read-only: the plan is invalid; it is never overwritten. Fix it in an editor",
        );
        model.quit_after_save = false;
    } else {
        model.effect = Some(Effect::Save(Box::new(model.plan.clone())));
        say(model, "saving…");
    }
}

/// Undoes the last edit (`back`) or redoes the last undone one.
pub(super) fn undo(model: &mut Model, back: bool) {
    let (from, to) = if back {
        (&mut model.undo, &mut model.redo)
    } else {
        (&mut model.redo, &mut model.undo)
    };
    let Some((what, plan)) = from.pop() else {
        say(
            model,
            if back {
                "nothing to undo"
            } else {
                "nothing to redo"
            },
        );
        return;
    };
    let old = std::mem::replace(&mut model.plan, plan);
    to.push((what.clone(), old));
    model.revision += 1;
    let before = model.eval.as_ref().map(|e| e.metrics.clone());
    model.reevaluate();
    record(
        model,
        format!("{}: {what}", if back { "undone" } else { "redone" }),
        before,
    );
    clamp(model);
}

/// Opens the picker of the services the selected member can move to.
pub(super) fn start_move(model: &mut Model) {
    if model.focus == Pane::Monolith {
        start_adopt(model);
        return;
    }
    if function_selected(model) {
        return;
    }
    let Some(member) = model
        .selected_member()
        .filter(|_| matches!(model.focus, Pane::Members | Pane::Details))
    else {
        say(model, "select a member in the Members pane to move it");
        return;
    };
    let choices = other_services(model);
    if choices.is_empty() {
        say(model, "no other service to move to; n creates one");
    } else if writable(model) {
        model.popup = Some(Popup::Pick {
            purpose: PickPurpose::Move { member },
            choices,
            selected: 0,
        });
    }
}

/// From the monolith view: opens the picker of the services that can take
/// the selected route or code unit.
fn start_adopt(model: &mut Model) {
    let Some(item) = model.monolith_items().get(model.monolith_row).cloned() else {
        say(model, "nothing selected: the monolith view is empty");
        return;
    };
    let choices: Vec<String> = model.plan.services.iter().map(|s| s.name.clone()).collect();
    if choices.is_empty() {
        say(model, "no service to move it to; n creates one");
    } else if writable(model) {
        let purpose = match item {
            MonolithItem::Route(route) => PickPurpose::AdoptRoute(route),
            MonolithItem::Unit { id, .. } => PickPurpose::Move { member: id },
        };
        model.popup = Some(Popup::Pick {
            purpose,
            choices,
            selected: 0,
        });
    }
}

/// Opens the picker of the services the selected one can merge into.
pub(super) fn start_merge(model: &mut Model) {
    let choices = other_services(model);
    if choices.is_empty() {
        say(model, "no other service to merge into");
    } else if writable(model) {
        model.popup = Some(Popup::Pick {
            purpose: PickPurpose::Merge,
            choices,
            selected: 0,
        });
    }
}

/// Opens the text field to rename the selected service, holding its name.
pub(super) fn start_rename(model: &mut Model) {
    if let Some(name) = model
        .plan
        .services
        .get(model.service)
        .map(|s| s.name.clone())
        && writable(model)
    {
        model.popup = Some(Popup::Input {
            purpose: InputPurpose::Rename,
            text: name,
        });
    }
}

/// Opens the text field for the selected service's `upstream` or
/// `database`, holding the current URL, unless it carries a password: a
/// secret is never put on the screen, so the field starts empty and says so.
pub(super) fn start_endpoint(model: &mut Model, purpose: InputPurpose) {
    if !writable(model) {
        return;
    }
    let Some(service) = model.plan.services.get(model.service) else {
        return;
    };
    let current = match purpose {
        InputPurpose::Upstream => service.upstream.clone(),
        _ => service.database.clone(),
    }
    .unwrap_or_default();
    let text = if mask_url(&current) == current {
        current
    } else {
        model.status = format!(
            "the current URL ({}) has a password, not shown: type the whole URL",
            mask_url(&current)
        );
        String::new()
    };
    model.popup = Some(Popup::Input { purpose, text });
}

/// Opens the text field for a new service's name.
pub(super) fn start_new_service(model: &mut Model) {
    if writable(model) {
        model.popup = Some(Popup::Input {
            purpose: InputPurpose::NewService,
            text: String::new(),
        });
    }
}

/// Pins or unpins the selected member.
pub(super) fn pin(model: &mut Model) {
    if function_selected(model) {
        return;
    }
    let Some(member) = model.selected_member() else {
        say(model, "select a member in the Members pane to pin it");
        return;
    };
    let service = model.service;
    let pinned = model.plan.services[service].pinned.contains(&member);
    let what = format!("{} {member}", if pinned { "unpin" } else { "pin" });
    edit(model, what, |plan| {
        let s = &mut plan.services[service];
        if pinned {
            s.pinned.retain(|m| *m != member);
        } else {
            s.pinned.push(member);
        }
        Ok(())
    });
}

/// Deletes the selected service, when it has no routes and tables.
pub(super) fn delete(model: &mut Model) {
    let Some(s) = model.plan.services.get(model.service) else {
        return;
    };
    if !s.routes.is_empty() || !s.tables.is_empty() {
        model.status = format!(
            "service {} has routes or tables; merge it (M) instead, so their stages are kept",
            s.name
        );
        return;
    }
    let (index, name) = (model.service, s.name.clone());
    edit(model, format!("delete service {name}"), |plan| {
        plan.services.remove(index);
        Ok(())
    });
}

/// Opens the picker of the stages the selected route or table may move to
/// from its stage in the file.
pub(super) fn start_stage(model: &mut Model) {
    let Some((s, i, is_route)) = selected_item(model) else {
        say(
            model,
            "select a route or table (Members pane, or views 2 and 3)",
        );
        return;
    };
    let (purpose, current, offered): (PickPurpose, String, Vec<String>) = if is_route {
        let route = &model.plan.services[s].routes[i];
        let base = model
            .saved
            .services
            .iter()
            .flat_map(|x| &x.routes)
            .find(|r| r.path == route.path && r.methods == route.methods)
            .map_or(route.stage, |r| r.stage);
        (
            PickPurpose::RouteStage(s, i),
            route.stage.to_string(),
            other_stages(base.next_stages(), route.stage),
        )
    } else {
        let table = &model.plan.services[s].tables[i];
        let base = model.saved_table_stage(s, i).unwrap_or(table.stage);
        (
            PickPurpose::TableStage(s, i),
            table.stage.to_string(),
            other_stages(base.next_stages(), table.stage),
        )
    };
    if offered.is_empty() {
        model.status = format!("`{current}` is final: no stage can follow it");
    } else if writable(model) {
        model.popup = Some(Popup::Pick {
            purpose,
            choices: offered,
            selected: 0,
        });
    }
}

/// Opens the text field for the selected canary route's percent.
pub(super) fn start_percent(model: &mut Model) {
    match selected_item(model) {
        Some((s, r, true)) if model.plan.services[s].routes[r].stage == RouteStage::Canary => {
            let text = model.plan.services[s].routes[r]
                .percent
                .map(|p| p.to_string())
                .unwrap_or_default();
            if writable(model) {
                model.popup = Some(Popup::Input {
                    purpose: InputPurpose::Percent,
                    text,
                });
            }
        }
        _ => say(model, "select a route at stage canary to set its percent"),
    }
}

/// Answers the open picker or text field with its choice or text.
pub(super) fn confirm(model: &mut Model) {
    match model.popup.take() {
        Some(Popup::Pick {
            purpose,
            choices,
            selected,
        }) => {
            if let Some(choice) = choices.get(selected) {
                pick(model, purpose, choice);
            }
        }
        Some(Popup::Input { purpose, text }) => submit(model, &purpose, text.trim().to_owned()),
        other => model.popup = other,
    }
}

/// Whether the plan can change; says why not when it is read-only.
pub(super) fn writable(model: &mut Model) -> bool {
    if model.read_only() {
        say(
            model,
            "read-only: the plan is invalid, so nothing can change",
        );
    }
    !model.read_only()
}

/// Applies an edit to a copy of the plan; keeps it only if the plan stays
/// valid, and records it for undo with its effect on the metrics.
pub(super) fn edit(
    model: &mut Model,
    what: String,
    f: impl FnOnce(&mut Plan) -> Result<(), String>,
) {
    if !writable(model) {
        return;
    }
    let mut plan = model.plan.clone();
    if let Err(e) = f(&mut plan) {
        model.status = e;
        return;
    }
    if let Some(error) = validate(&plan)
        .into_iter()
        .find(strangler_plan::Diagnostic::is_error)
    {
        model.status = format!("not done: {}", error.message);
        return;
    }
    let before = model.eval.as_ref().map(|e| e.metrics.clone());
    let decided = model
        .eval
        .as_ref()
        .map(|e| decisions(&e.tables_needing_decision));
    let old = std::mem::replace(&mut model.plan, plan);
    model.undo.push((what.clone(), old));
    model.redo.clear();
    model.revision += 1;
    model.reevaluate();
    // With the analysis, the `writers` of each table whose writing services
    // the edit changed follow it (the others stay as the file has them, so
    // a save writes only what the edit did); the undo entry holds the old.
    if let (Some(eval), Some(decided)) = (&model.eval, decided) {
        let now = decisions(&eval.tables_needing_decision);
        for table in model.plan.services.iter_mut().flat_map(|s| &mut s.tables) {
            let after = now.get(&table.name);
            if after != decided.get(&table.name) {
                table.writers = after.cloned().unwrap_or_default();
            }
        }
    }
    record(model, what, before);
    clamp(model);
}

/// Each table that needs a decision → the services writing it, heaviest
/// first, as the plan's `writers` records them.
fn decisions(
    all: &[strangler_analyzer::cluster::TableDecision],
) -> std::collections::BTreeMap<String, Vec<String>> {
    all.iter()
        .map(|d| {
            (
                d.table.clone(),
                d.writers.iter().map(|(w, _)| w.clone()).collect(),
            )
        })
        .collect()
}

/// Records `what` was done in the status line and, with the metrics, as
/// the last change shown before → after.
fn record(model: &mut Model, what: String, before: Option<Metrics>) {
    model.change = match (before, model.eval.as_ref()) {
        (Some(before), Some(after)) => Some(Change {
            what: what.clone(),
            before,
            after: after.metrics.clone(),
        }),
        _ => None,
    };
    model.status = what;
}

/// The names of every service but the selected one.
fn other_services(model: &Model) -> Vec<String> {
    model
        .plan
        .services
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != model.service)
        .map(|(_, s)| s.name.clone())
        .collect()
}

/// Says why the selected row cannot move or pin, when it is a function
/// inside a member; true when it is.
fn function_selected(model: &mut Model) -> bool {
    let Some(Row::Function { id, member, .. }) = model.rows().get(model.row).cloned() else {
        return false;
    };
    let word = unit_word(model.granularity());
    model.status = format!(
        "{id} moves with its {word} {member}: this plan moves {word}s; select the {word}'s row"
    );
    true
}

/// The stages of `next` other than `current`, as the stage picker shows
/// them.
fn other_stages<S: Copy + PartialEq + std::fmt::Display>(next: Vec<S>, current: S) -> Vec<String> {
    next.into_iter()
        .filter(|st| *st != current)
        .map(|st| st.to_string())
        .collect()
}

/// The selected route or table: in the members pane, or the routes and
/// tables views. `(service, index, is_route)`.
fn selected_item(model: &Model) -> Option<(usize, usize, bool)> {
    match model.focus {
        Pane::Members => match model.rows().get(model.row)? {
            Row::Route(r) => Some((model.service, *r, true)),
            Row::Table(t) => Some((model.service, *t, false)),
            _ => None,
        },
        Pane::Routes => model
            .all_routes()
            .get(model.route_row)
            .map(|&(s, r)| (s, r, true)),
        Pane::Tables => model
            .all_tables()
            .get(model.table_row)
            .map(|&(s, t)| (s, t, false)),
        _ => None,
    }
}

/// Puts a route of the monolith that the plan did not list into service
/// `choice`, with what it writes (a write the plan's rules forbid there is
/// left out, and the status line says so).
fn put_route(model: &mut Model, route: &UnplannedRoute, choice: &str) {
    let Some(a) = model.analyzed.clone() else {
        return;
    };
    let mut warnings = Vec::new();
    let what = format!(
        "put {} {} into {choice}",
        route.route.methods_label(),
        route.route.path
    );
    edit(model, what, |plan| {
        warnings = adopt_route(plan, &a.analysis, choice, route)?;
        Ok(())
    });
    if let Some(first) = warnings.first() {
        model.status = format!("{}; {first}", model.status);
    }
}

/// Does what a picker asked for with `choice`.
fn pick(model: &mut Model, purpose: PickPurpose, choice: &str) {
    match purpose {
        PickPurpose::Move { member } => {
            // The routes it serves and the tables it writes go with it,
            // while nothing has moved to a service yet.
            let analyzed = model.analyzed.clone();
            let mut follow = Followed::default();
            let revision = model.revision;
            let member_id = member.clone();
            edit(model, format!("move {member} to {choice}"), |plan| {
                let mut pinned = false;
                for s in &mut plan.services {
                    s.members.retain(|m| *m != member);
                    pinned |= s.pinned.contains(&member);
                    s.pinned.retain(|m| *m != member);
                }
                let target = plan
                    .service_mut(choice)
                    .ok_or_else(|| format!("no service {choice}"))?;
                target.members.push(member.clone());
                if pinned {
                    target.pinned.push(member);
                }
                if let Some(a) = &analyzed {
                    follow = follow_code(plan, &a.analysis, &a.coupling);
                    // Routes no service listed come with the code serving them.
                    let (adopted, _) =
                        adopt_served_routes(plan, &a.analysis, &a.coupling, &[member_id.as_str()]);
                    follow.moved.extend(adopted);
                }
                Ok(())
            });
            if model.revision != revision {
                let mut parts = Vec::new();
                if !follow.moved.is_empty() {
                    parts.push(format!(
                        "{} route(s) or table(s) follow it",
                        follow.moved.len()
                    ));
                }
                if let Some(first) = follow.stayed.first() {
                    parts.push(format!("{} stay: {first}", follow.stayed.len()));
                }
                for part in parts {
                    model.status = format!("{}; {part}", model.status);
                }
            }
        }
        PickPurpose::AdoptRoute(route) => put_route(model, &route, choice),
        PickPurpose::Merge => {
            let index = model.service;
            let name = model.plan.services[index].name.clone();
            edit(model, format!("merge {name} into {choice}"), |plan| {
                let source = plan.services.remove(index);
                let target = plan
                    .service_mut(choice)
                    .ok_or_else(|| format!("no service {choice}"))?;
                target.members.extend(source.members);
                target.pinned.extend(source.pinned);
                target.routes.extend(source.routes);
                target.tables.extend(source.tables);
                Ok(())
            });
            if model.plan.service(&name).is_none()
                && let Some(i) = model.plan.services.iter().position(|s| s.name == choice)
            {
                model.service = i;
            }
        }
        PickPurpose::RouteStage(s, r) => {
            let Ok(stage) = choice.parse::<RouteStage>() else {
                return;
            };
            let path = model.plan.services[s].routes[r].path.to_string();
            let what = format!("route {path} → {stage}");
            edit(model, what, |plan| {
                let route = &mut plan.services[s].routes[r];
                route.stage = stage;
                if stage == RouteStage::Canary {
                    route.percent.get_or_insert(0);
                } else {
                    route.percent = None;
                    route.sticky = None;
                }
                Ok(())
            });
            if stage == RouteStage::Canary {
                model.status.push_str(" (% sets the percent)");
            }
        }
        PickPurpose::TableStage(s, t) => {
            let Ok(stage) = choice.parse::<TableStage>() else {
                return;
            };
            let name = model.plan.services[s].tables[t].name.clone();
            edit(model, format!("table {name} → {stage}"), |plan| {
                plan.services[s].tables[t].stage = stage;
                Ok(())
            });
        }
    }
}

/// Does what a text field asked for with `text`.
fn submit(model: &mut Model, purpose: &InputPurpose, text: String) {
    match purpose {
        InputPurpose::Filter(pane) => {
            set_filter(model, *pane, &text);
        }
        InputPurpose::Rename => {
            let index = model.service;
            let old = model.plan.services[index].name.clone();
            if text == old {
                return;
            }
            let taken = model.plan.service(&text).is_some();
            edit(model, format!("rename {old} to {text}"), |plan| {
                if taken {
                    return Err(format!("a service is already named {text}"));
                }
                for name in plan
                    .services
                    .iter_mut()
                    .flat_map(|s| &mut s.tables)
                    .flat_map(|t| &mut t.writers)
                    .filter(|w| **w == old)
                {
                    name.clone_from(&text);
                }
                plan.services[index].name = text;
                Ok(())
            });
        }
        InputPurpose::NewService => {
            if text.is_empty() {
                return;
            }
            if model.plan.service(&text).is_some() {
                model.status = format!("a service is already named {text}");
                return;
            }
            edit(model, format!("new service {text}"), |plan| {
                plan.services.push(Service {
                    name: text.clone(),
                    ..Service::default()
                });
                Ok(())
            });
            if let Some(i) = model.plan.services.iter().position(|s| s.name == text) {
                model.service = i;
                model.focus = Pane::Services;
                model.row = model.first_selectable(0);
            }
        }
        InputPurpose::Upstream | InputPurpose::Database => {
            let index = model.service;
            let Some(name) = model.plan.services.get(index).map(|s| s.name.clone()) else {
                return;
            };
            let upstream = *purpose == InputPurpose::Upstream;
            let key = if upstream { "upstream" } else { "database" };
            let value = (!text.trim().is_empty()).then(|| text.trim().to_owned());
            let what = match &value {
                Some(v) => format!("{key} of {name} set to {}", mask_url(v)),
                None => format!("{key} of {name} removed"),
            };
            // The plan's validation (in `edit`) checks the URL and refuses
            // one that does not parse, naming what to write instead.
            edit(model, what, |plan| {
                let service = &mut plan.services[index];
                if upstream {
                    service.upstream = value;
                } else {
                    service.database = value;
                }
                Ok(())
            });
        }
        InputPurpose::Percent => {
            let Some((s, r, true)) = selected_item(model) else {
                return;
            };
            match text.parse::<u8>() {
                Ok(p) if p <= 100 => {
                    let path = model.plan.services[s].routes[r].path.to_string();
                    edit(model, format!("route {path} at {p}%"), |plan| {
                        plan.services[s].routes[r].percent = Some(p);
                        Ok(())
                    });
                }
                _ => model.status = format!("percent must be a whole number 0–100, not `{text}`"),
            }
        }
    }
}
