//! Navigation: moving the selection and scrolling in each pane and popup,
//! cycling the panes, filtering and sorting the lists, and opening and
//! closing the members tree. Each keeps the selected row selected when it
//! is still shown.

use crate::keymap::{Action, help_lines};
use crate::model::{
    Filter, InputPurpose, Model, Pane, Popup, ROUTE_SORT_COLUMNS, Row, TABLE_COLUMNS, unit_word,
};
use crate::update::status::say;

/// The selected index and the number of rows of `pane`.
pub(super) fn position(model: &Model, pane: Pane) -> (usize, usize) {
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
        Pane::Monolith => (model.monolith_row, model.monolith_items().len()),
    }
}

/// Selects row `to` of `pane` (for the details pane, scrolls to line `to`).
pub(super) fn set_position(model: &mut Model, pane: Pane, to: usize) {
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
        Pane::Monolith => model.monolith_row = to,
    }
}

/// Moves the selection of the focused pane (or the open picker) by `delta`.
pub(super) fn step(model: &mut Model, delta: isize) {
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
                .min(help_lines().len().saturating_sub(1));
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

/// Focuses the next pane, or the previous one, wrapping around.
pub(super) fn cycle_pane(model: &mut Model, forward: bool) {
    let i = Pane::ALL
        .iter()
        .position(|p| *p == model.focus)
        .unwrap_or(0);
    let n = Pane::ALL.len();
    let next = if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    };
    model.focus = Pane::ALL[next];
}

/// Runs `change`, then selects again what was selected before wherever
/// it now is, or the first row when it is gone (filtered out, collapsed).
pub(super) fn reselect(model: &mut Model, change: impl FnOnce(&mut Model)) {
    let row = model.rows().get(model.row).cloned();
    let route = model.all_routes().get(model.route_row).copied();
    let table = model.all_tables().get(model.table_row).copied();
    let item = model.monolith_items().get(model.monolith_row).cloned();
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
    model.monolith_row = item
        .and_then(|i| model.monolith_items().iter().position(|x| *x == i))
        .unwrap_or(0);
}

/// Keeps every selection inside its list after the plan changed.
pub(super) fn clamp(model: &mut Model) {
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
    model.monolith_row = model
        .monolith_row
        .min(model.monolith_items().len().saturating_sub(1));
    // An edit (a rename, a new service) can take the selected service out
    // of the services filter: drop the filter rather than hide the service
    // the user is working on.
    if model.filter_of(Pane::Services).is_some()
        && !model.visible_services().contains(&model.service)
    {
        model.filter = None;
    }
}

/// Opens the filter's text field for the focused list (from the details
/// pane, the members), holding the filter already set on it.
pub(super) fn start_filter(model: &mut Model) {
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
pub(super) fn set_filter(model: &mut Model, pane: Pane, text: &str) {
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
pub(super) fn next_match(model: &mut Model, forward: bool) {
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

/// Closes the open popup; with no popup open, or from the filter's text
/// field, clears the filter too.
pub(super) fn close(model: &mut Model) {
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

/// Expands or collapses the selected member's functions.
pub(super) fn tree(model: &mut Model, action: Action) {
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
pub(super) fn sort(model: &mut Model, next_column: bool) {
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
