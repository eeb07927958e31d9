//! Messages and the pure `update`: every key, click and effect result
//! becomes a change of the [`Model`], and nothing else happens here.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use strangler_plan::{Plan, RouteStage, Service, TableStage, validate};

use crate::keymap::{Action, Scope, lookup};
use crate::model::{
    Analyzed, Change, Effect, Filter, InputPurpose, Model, Pane, PickPurpose, Popup,
    ROUTE_SORT_COLUMNS, Row, TABLE_COLUMNS, unit_word,
};
use crate::view;

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Message {
    /// A key was pressed.
    Key(KeyEvent),
    /// The mouse was used.
    Mouse(MouseEvent),
    /// The terminal has a new size.
    Resize(u16, u16),
    /// A keymap action.
    Action(Action),
    /// The save effect finished: the plan saved, or why not.
    Saved(Result<Box<Plan>, String>),
    /// The re-suggest effect `job` finished: the suggested plan and its
    /// warnings, or why not.
    Suggested {
        /// The job number of the effect.
        job: u64,
        /// The suggested plan and its warnings, or why there is none.
        result: Result<(Box<Plan>, Vec<String>), String>,
    },
    /// The analyze effect `job` finished: the graph folded onto the plan's
    /// units, or why not.
    Analyzed {
        /// The job number of the effect.
        job: u64,
        /// The analysis, or why there is none.
        result: Result<Arc<Analyzed>, String>,
    },
    /// Background work `job` reached a new step.
    Progress {
        /// The job number of the effect.
        job: u64,
        /// The step, as shown.
        phase: String,
    },
    /// The loop's clock ticked (about ten times a second while busy): the
    /// spinner turns.
    Tick,
}

/// Applies `message` to `model`; returns a follow-up message, if any.
pub fn update(model: &mut Model, message: Message) -> Option<Message> {
    match message {
        Message::Key(key) => on_key(model, key),
        Message::Mouse(mouse) => on_mouse(model, mouse),
        Message::Resize(w, h) => {
            model.size = (w, h);
            None
        }
        Message::Action(action) => {
            act(model, action);
            None
        }
        Message::Saved(Ok(plan)) => {
            model.saved = *plan;
            model.status = format!("saved {}", model.file);
            if model.quit_after_save {
                model.quit = true;
            }
            None
        }
        Message::Saved(Err(e)) => {
            model.quit_after_save = false;
            model.status = format!("not saved: {e}");
            None
        }
        Message::Suggested { job, result } => {
            let busy = finish(model, job)?;
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
            None
        }
        Message::Analyzed { job, result } => {
            finish(model, job)?;
            match result {
                Ok(analyzed) => {
                    model.analyzed = Some(analyzed);
                    model.reevaluate();
                    clamp(model);
                    say(model, "analysis done; ? for help");
                }
                Err(e) => {
                    model.status = format!("analysis failed, so no metrics or reasons: {e}");
                }
            }
            None
        }
        Message::Progress { job, phase } => {
            if let Some(busy) = model.busy.as_mut().filter(|b| b.job == job) {
                busy.phase = phase;
            }
            None
        }
        Message::Tick => {
            model.ticks += 1;
            None
        }
    }
}

/// Ends the background work `job`, if the UI still waits for it.
fn finish(model: &mut Model, job: u64) -> Option<crate::model::Busy> {
    if model.busy.as_ref().is_some_and(|b| b.job == job) {
        model.busy.take()
    } else {
        None
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

/// The keymap scopes that apply now, most specific first.
#[must_use]
pub fn scopes(model: &Model) -> Vec<Scope> {
    let popup = match &model.popup {
        None => None,
        Some(Popup::Help { .. }) => Some(Scope::Help),
        Some(Popup::Pick { .. }) => Some(Scope::Picker),
        Some(Popup::Input { .. }) => Some(Scope::Input),
        Some(Popup::ConfirmQuit) => Some(Scope::Confirm),
        Some(Popup::Diff { .. }) => Some(Scope::Diff),
    };
    if let Some(scope) = popup {
        return vec![Scope::Always, scope];
    }
    let mut out = vec![Scope::Always];
    if model.busy.is_some() {
        out.push(Scope::Busy);
    }
    out.push(if model.filter.is_some() {
        Scope::Searching
    } else {
        Scope::NotSearching
    });
    if model.focus == Pane::Members {
        out.push(Scope::Tree);
    }
    out.push(Scope::Main);
    out
}

fn on_key(model: &mut Model, key: KeyEvent) -> Option<Message> {
    if let Some(action) = lookup(&scopes(model), &key) {
        return Some(Message::Action(action));
    }
    let Some(Popup::Input { purpose, text }) = &mut model.popup else {
        return None;
    };
    match key.code {
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
        KeyCode::Backspace => {
            text.pop();
        }
        _ => return None,
    }
    if let InputPurpose::Filter(pane) = *purpose {
        let text = text.clone();
        set_filter(model, pane, &text);
    }
    None
}

fn on_mouse(model: &mut Model, mouse: MouseEvent) -> Option<Message> {
    if model.popup.is_some() {
        return None;
    }
    let area = Rect::new(0, 0, model.size.0, model.size.1);
    let hit = view::panes(area, model.focus)
        .into_iter()
        .find(|(_, r)| r.contains((mouse.column, mouse.row).into()));
    let (pane, rect) = hit?;
    match mouse.kind {
        MouseEventKind::ScrollDown => {
            model.focus = pane;
            step(model, 1);
        }
        MouseEventKind::ScrollUp => {
            model.focus = pane;
            step(model, -1);
        }
        MouseEventKind::Down(MouseButton::Left) => {
            model.focus = pane;
            let inner = rect.height.saturating_sub(2) as usize;
            let (selected, _) = position(model, pane);
            let line = (mouse.row.saturating_sub(rect.y + 1)) as usize;
            // The services list and the routes, tables and coupling views
            // start with a header line.
            let first = usize::from(matches!(
                pane,
                Pane::Services | Pane::Routes | Pane::Tables | Pane::Dsm
            ));
            if line < first {
                return None;
            }
            let target = view::offset(selected, inner.saturating_sub(first)) + line - first;
            let (_, len) = position(model, pane);
            if target < len {
                set_position(model, pane, target);
                if pane == Pane::Members {
                    model.row = model.first_selectable(target);
                }
            }
        }
        _ => {}
    }
    None
}

#[allow(clippy::too_many_lines)]
fn act(model: &mut Model, action: Action) {
    match action {
        Action::ForceQuit | Action::Discard => model.quit = true,
        Action::Quit => {
            if model.dirty() {
                model.popup = Some(Popup::ConfirmQuit);
            } else {
                model.quit = true;
            }
        }
        Action::Save => save(model),
        Action::SaveAndQuit => {
            model.popup = None;
            model.quit_after_save = true;
            save(model);
        }
        Action::Undo => undo(model, true),
        Action::Redo => undo(model, false),
        Action::Up => step(model, -1),
        Action::Down => step(model, 1),
        Action::PageUp => step(model, -10),
        Action::PageDown => step(model, 10),
        Action::Top => step(model, isize::MIN / 2),
        Action::Bottom => step(model, isize::MAX / 2),
        Action::NextPane | Action::PrevPane => {
            let i = Pane::ALL
                .iter()
                .position(|p| *p == model.focus)
                .unwrap_or(0);
            let n = Pane::ALL.len();
            let next = if action == Action::NextPane {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            model.focus = Pane::ALL[next];
        }
        Action::ViewPlan => model.focus = Pane::Services,
        Action::ViewRoutes => model.focus = Pane::Routes,
        Action::ViewTables => model.focus = Pane::Tables,
        Action::ViewDsm => model.focus = Pane::Dsm,
        Action::Help => model.popup = Some(Popup::Help { scroll: 0 }),
        Action::Filter => start_filter(model),
        Action::NextMatch => next_match(model, true),
        Action::PrevMatch => next_match(model, false),
        Action::Close => {
            let popup = model.popup.take();
            let clears_filter = match &popup {
                Some(Popup::Input { purpose, .. }) => matches!(purpose, InputPurpose::Filter(_)),
                Some(_) => false,
                None => true,
            };
            if clears_filter {
                reselect(model, |m| m.filter = None);
                say(model, "filter cleared");
            }
        }
        Action::Cancel => {
            if let Some(busy) = model.busy.take() {
                model.status =
                    format!("stopped waiting: {}; its result will be ignored", busy.what);
            }
        }
        Action::Expand | Action::Collapse | Action::Toggle => tree(model, action),
        Action::Confirm => confirm(model),
        Action::Accept => {
            if let Some(Popup::Diff { plan, .. }) = model.popup.take() {
                edit(model, "accept the re-suggestion".to_owned(), |p| {
                    *p = *plan;
                    Ok(())
                });
            }
        }
        Action::Move => start_move(model),
        Action::Merge => {
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
        Action::Delete => delete(model),
        Action::Pin => pin(model),
        Action::Rename => {
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
        Action::NewService => {
            if writable(model) {
                model.popup = Some(Popup::Input {
                    purpose: InputPurpose::NewService,
                    text: String::new(),
                });
            }
        }
        Action::Stage => start_stage(model),
        Action::Percent => start_percent(model),
        Action::Resuggest => {
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
        Action::Sort | Action::Reverse => sort(model, action == Action::Sort),
    }
}

fn say(model: &mut Model, text: &str) {
    text.clone_into(&mut model.status);
}

fn writable(model: &mut Model) -> bool {
    if model.read_only() {
        say(
            model,
            "read-only: the plan is invalid, so nothing can change",
        );
    }
    !model.read_only()
}

fn save(model: &mut Model) {
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

/// Applies an edit to a copy of the plan; keeps it only if the plan stays
/// valid, and records it for undo with its effect on the metrics.
fn edit(model: &mut Model, what: String, f: impl FnOnce(&mut Plan) -> Result<(), String>) {
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
    let old = std::mem::replace(&mut model.plan, plan);
    model.undo.push((what.clone(), old));
    model.redo.clear();
    model.revision += 1;
    model.reevaluate();
    record(model, what, before);
    clamp(model);
}

fn record(model: &mut Model, what: String, before: Option<strangler_analyzer::cluster::Metrics>) {
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

fn undo(model: &mut Model, back: bool) {
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

fn clamp(model: &mut Model) {
    let services = model.plan.services.len();
    model.service = model.service.min(services.saturating_sub(1));
    let rows = model.rows().len();
    model.row = model.first_selectable(model.row.min(rows.saturating_sub(1)));
    model.route_row = model
        .route_row
        .min(model.all_routes().len().saturating_sub(1));
    model.table_row = model
        .table_row
        .min(model.all_tables().len().saturating_sub(1));
    model.dsm_row = model.dsm_row.min(services.saturating_sub(1));
    // An edit (a rename, a new service) can take the selected service out
    // of the services filter: drop the filter rather than hide the service
    // the user is working on.
    if model.filter_of(Pane::Services).is_some()
        && !model.visible_services().contains(&model.service)
    {
        model.filter = None;
    }
}

/// The selected index and the number of rows of `pane`.
fn position(model: &Model, pane: Pane) -> (usize, usize) {
    match pane {
        Pane::Services => {
            let visible = model.visible_services();
            (
                visible
                    .iter()
                    .position(|&i| i == model.service)
                    .unwrap_or(0),
                visible.len(),
            )
        }
        Pane::Members => (model.row, model.rows().len()),
        Pane::Details => (model.details_scroll, usize::MAX),
        Pane::Routes => (model.route_row, model.all_routes().len()),
        Pane::Tables => (model.table_row, model.all_tables().len()),
        Pane::Dsm => (model.dsm_row, model.plan.services.len()),
    }
}

fn set_position(model: &mut Model, pane: Pane, to: usize) {
    match pane {
        Pane::Services => {
            if let Some(&to) = model.visible_services().get(to)
                && model.service != to
            {
                model.service = to;
                model.row = model.first_selectable(0);
                model.details_scroll = 0;
            }
        }
        Pane::Members => {
            model.row = to;
            model.details_scroll = 0;
        }
        Pane::Details => model.details_scroll = to,
        Pane::Routes => model.route_row = to,
        Pane::Tables => model.table_row = to,
        Pane::Dsm => model.dsm_row = to,
    }
}

/// Moves the selection of the focused pane (or the open picker) by `delta`.
fn step(model: &mut Model, delta: isize) {
    match &mut model.popup {
        Some(Popup::Pick {
            choices, selected, ..
        }) => {
            *selected = selected
                .saturating_add_signed(delta)
                .min(choices.len().saturating_sub(1));
            return;
        }
        Some(Popup::Diff { lines, scroll, .. }) => {
            *scroll = scroll
                .saturating_add_signed(delta)
                .min(lines.len().saturating_sub(1));
            return;
        }
        Some(Popup::Help { scroll }) => {
            *scroll = scroll
                .saturating_add_signed(delta)
                .min(view::help_lines().len().saturating_sub(1));
            return;
        }
        Some(_) => return,
        None => {}
    }
    let pane = model.focus;
    let (at, len) = position(model, pane);
    if len == 0 {
        return;
    }
    let mut to = at.saturating_add_signed(delta).min(len - 1);
    if pane == Pane::Members {
        let rows = model.rows();
        // Headers are skipped in the direction of travel.
        while matches!(rows.get(to), Some(Row::Header(_))) {
            if delta < 0 && to > 0 {
                to -= 1;
            } else if to + 1 < rows.len() && (delta >= 0 || to == 0) {
                to += 1;
            } else {
                break;
            }
        }
        if matches!(rows.get(to), Some(Row::Header(_))) {
            to = at;
        }
    }
    if pane == Pane::Details {
        to = at.saturating_add_signed(delta).min(200);
    }
    set_position(model, pane, to);
}

/// Runs `change`, then selects again what was selected before wherever
/// it now is, or the first row when it is gone (filtered out, collapsed).
fn reselect(model: &mut Model, change: impl FnOnce(&mut Model)) {
    let row = model.rows().get(model.row).cloned();
    let route = model.all_routes().get(model.route_row).copied();
    let table = model.all_tables().get(model.table_row).copied();
    change(model);
    let services = model.visible_services();
    if !services.is_empty() && !services.contains(&model.service) {
        model.service = services[0];
        model.details_scroll = 0;
    }
    let rows = model.rows();
    model.row = match row.and_then(|r| rows.iter().position(|x| *x == r)) {
        Some(i) => i,
        None => model.first_selectable(0),
    };
    model.route_row = route
        .and_then(|r| model.all_routes().iter().position(|x| *x == r))
        .unwrap_or(0);
    model.table_row = table
        .and_then(|t| model.all_tables().iter().position(|x| *x == t))
        .unwrap_or(0);
}

fn start_filter(model: &mut Model) {
    let pane = match model.focus {
        Pane::Details => Pane::Members,
        pane => pane,
    };
    if !pane.filterable() {
        say(
            model,
            "/ filters the services, members, routes and tables lists; not the coupling matrix",
        );
        return;
    }
    model.focus = pane;
    let text = model
        .filter
        .as_ref()
        .filter(|f| f.pane == pane)
        .map(|f| f.text.clone())
        .unwrap_or_default();
    model.popup = Some(Popup::Input {
        purpose: InputPurpose::Filter(pane),
        text,
    });
}

/// Narrows `pane` to the rows containing `text` (no filter when empty).
fn set_filter(model: &mut Model, pane: Pane, text: &str) {
    reselect(model, |m| {
        m.filter = (!text.is_empty()).then(|| Filter {
            pane,
            text: text.to_owned(),
        });
    });
    let (_, shown) = position(model, pane);
    let shown = if pane == Pane::Members {
        model
            .rows()
            .iter()
            .filter(|r| !matches!(r, Row::Header(_)))
            .count()
    } else {
        shown
    };
    model.status = if text.is_empty() {
        String::new()
    } else if shown == 0 {
        format!("/{text}: no match in {}", pane.title())
    } else {
        format!(
            "/{text}: {shown} in {}; n/N next and previous, Esc clears",
            pane.title()
        )
    };
}

/// Selects the next (or previous) row the filter left, wrapping around, in
/// the filtered pane.
fn next_match(model: &mut Model, forward: bool) {
    let Some(pane) = model.filter.as_ref().map(|f| f.pane) else {
        return;
    };
    model.focus = pane;
    let (at, len) = position(model, pane);
    let rows = if pane == Pane::Members {
        model.rows()
    } else {
        Vec::new()
    };
    let found = (1..=len)
        .map(|k| {
            if forward {
                (at + k) % len
            } else {
                (at + len * 2 - k) % len
            }
        })
        .find(|&i| !matches!(rows.get(i), Some(Row::Header(_))));
    match found {
        Some(i) => set_position(model, pane, i),
        None => model.status = format!("no match in {}", pane.title()),
    }
}

/// Expands or collapses the selected member's functions.
fn tree(model: &mut Model, action: Action) {
    let rows = model.rows();
    match (rows.get(model.row), action) {
        (Some(Row::Member { id, functions, .. }), _) if *functions == 0 => {
            let word = unit_word(model.granularity());
            model.status = if model.analyzed.is_none() {
                format!("{id}: its functions need the analysis (--repo or --analysis)")
            } else if word == "function" {
                format!("{id} is a function: this plan moves functions one by one")
            } else {
                format!("the analysis knows no function inside {id}")
            };
            if action == Action::Collapse {
                model.focus = Pane::Services;
            }
        }
        (Some(Row::Member { id, .. }), Action::Expand) if model.expanded.contains(id) => {
            step(model, 1);
        }
        (Some(Row::Member { id, .. }), Action::Expand) => {
            let id = id.clone();
            reselect(model, |m| {
                m.expanded.insert(id);
            });
        }
        (Some(Row::Member { id, .. }), Action::Collapse) if !model.expanded.contains(id) => {
            model.focus = Pane::Services;
        }
        (Some(Row::Member { id, .. }), _) => {
            let (id, open) = (id.clone(), model.expanded.contains(id));
            reselect(model, |m| {
                if open {
                    m.expanded.remove(&id);
                } else {
                    m.expanded.insert(id);
                }
            });
        }
        (Some(Row::Function { member, .. }), Action::Collapse | Action::Toggle) => {
            let member = member.clone();
            if let Some(i) = rows
                .iter()
                .position(|r| matches!(r, Row::Member { id, .. } if *id == member))
            {
                model.row = i;
            }
            reselect(model, |m| {
                m.expanded.remove(&member);
            });
        }
        (_, Action::Collapse) => model.focus = Pane::Services,
        _ => say(model, "only modules expand, to show their functions"),
    }
}

/// Sorts the focused routes or tables view by its next column, or
/// reverses its sort.
fn sort(model: &mut Model, next_column: bool) {
    let (sort, columns) = match model.focus {
        Pane::Routes => (&mut model.route_sort, ROUTE_SORT_COLUMNS),
        Pane::Tables => (&mut model.table_sort, TABLE_COLUMNS.len()),
        _ => {
            say(model, "o and O sort the routes (2) and tables (3) views");
            return;
        }
    };
    let mut new = *sort;
    if next_column {
        new.column = (new.column + 1) % columns;
        new.descending = false;
    } else {
        new.descending = !new.descending;
    }
    let pane = model.focus;
    reselect(model, |m| {
        if pane == Pane::Routes {
            m.route_sort = new;
        } else {
            m.table_sort = new;
        }
    });
}

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

fn start_move(model: &mut Model) {
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

fn pin(model: &mut Model) {
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

fn delete(model: &mut Model) {
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

fn start_stage(model: &mut Model) {
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
        let offered = base
            .next_stages()
            .into_iter()
            .filter(|st| *st != route.stage)
            .map(|st| st.to_string())
            .collect();
        (
            PickPurpose::RouteStage(s, i),
            route.stage.to_string(),
            offered,
        )
    } else {
        let table = &model.plan.services[s].tables[i];
        let base = model.saved_table_stage(s, i).unwrap_or(table.stage);
        let offered = base
            .next_stages()
            .into_iter()
            .filter(|st| *st != table.stage)
            .map(|st| st.to_string())
            .collect();
        (
            PickPurpose::TableStage(s, i),
            table.stage.to_string(),
            offered,
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

fn start_percent(model: &mut Model) {
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

fn confirm(model: &mut Model) {
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
        Some(Popup::Input { purpose, text }) => input(model, &purpose, text.trim().to_owned()),
        other => model.popup = other,
    }
}

fn pick(model: &mut Model, purpose: PickPurpose, choice: &str) {
    match purpose {
        PickPurpose::Move { member } => {
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
                Ok(())
            });
        }
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

fn input(model: &mut Model, purpose: &InputPurpose, text: String) {
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
