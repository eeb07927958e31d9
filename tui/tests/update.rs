//! Unit tests of the pure `update`, driven by the same keys users press.

mod common;

use std::sync::Arc;

use common::{keys, model};
use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use strangler_tui::model::{Effect, Pane, Popup, Row};
use strangler_tui::{Analyzed, Message, Model, dispatch};

fn services_of(m: &Model, member: &str) -> Vec<String> {
    m.plan
        .services
        .iter()
        .filter(|s| s.members.iter().any(|x| x == member))
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn move_undo_redo() {
    let mut m = model();
    keys(&mut m, &["Tab", "j", "m"]);
    let Some(Popup::Pick { choices, .. }) = &m.popup else {
        panic!("no picker: {:?}", m.popup);
    };
    assert_eq!(choices, &["reviews", "payments", "orders"]);
    keys(&mut m, &["j", "Enter"]);
    assert_eq!(services_of(&m, "shop::catalog::categories"), ["payments"]);
    assert!(m.dirty());
    let change = m.change.as_ref().expect("metrics before and after");
    assert_eq!(change.what, "move shop::catalog::categories to payments");
    assert!(
        change.after.modularity < change.before.modularity,
        "{change:?}"
    );
    keys(&mut m, &["u"]);
    assert_eq!(services_of(&m, "shop::catalog::categories"), ["catalog"]);
    assert!(!m.dirty());
    keys(&mut m, &["C-r"]);
    assert_eq!(services_of(&m, "shop::catalog::categories"), ["payments"]);
}

#[test]
fn moving_a_pinned_member_keeps_the_pin() {
    let mut m = model();
    keys(&mut m, &["Tab", "j", "j", "m", "Enter"]);
    let reviews = m.plan.service("reviews").expect("reviews");
    assert!(
        reviews
            .pinned
            .contains(&"shop::catalog::pricing".to_owned())
    );
    assert!(
        m.plan
            .service("catalog")
            .expect("catalog")
            .pinned
            .is_empty()
    );
}

#[test]
fn pin_toggles() {
    let mut m = model();
    keys(&mut m, &["Tab", "p"]);
    assert!(
        m.plan.services[0]
            .pinned
            .contains(&"shop::catalog".to_owned())
    );
    keys(&mut m, &["p"]);
    assert!(
        !m.plan.services[0]
            .pinned
            .contains(&"shop::catalog".to_owned())
    );
    assert_eq!(m.undo.len(), 2);
}

#[test]
fn new_and_rename_service() {
    let mut m = model();
    keys(&mut m, &["n", "s", "e", "a", "r", "c", "h", "Enter"]);
    assert_eq!(
        m.plan.services.last().map(|s| s.name.as_str()),
        Some("search")
    );
    assert_eq!(m.service, m.plan.services.len() - 1);
    keys(
        &mut m,
        &[
            "r", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace",
        ],
    );
    keys(&mut m, &["f", "i", "n", "d", "Enter"]);
    assert_eq!(
        m.plan.services.last().map(|s| s.name.as_str()),
        Some("find")
    );
    // A name already taken is refused, and nothing changes.
    keys(&mut m, &["n", "o", "r", "d", "e", "r", "s", "Enter"]);
    assert_eq!(m.status, "a service is already named orders");
    // An invalid name is refused by the plan's own validation.
    keys(&mut m, &["n", "B", "A", "D", "Enter"]);
    assert!(m.status.starts_with("not done:"), "{}", m.status);
    assert_eq!(m.plan.services.len(), 5);
}

/// A table's recorded `writers` follow a renamed service, analysis or not.
#[test]
fn renaming_a_service_renames_it_in_the_tables_writers() {
    let file = strangler_plan::PlanFile::open(common::fixture().join("strangler.toml"))
        .expect("fixture plan");
    let mut plan = file.plan().clone();
    plan.service_mut("orders").expect("orders").tables[0].writers =
        vec!["orders".to_owned(), "payments".to_owned()];
    let mut m = Model::new("strangler.toml", plan, Vec::new(), None);
    // payments is the third service.
    keys(&mut m, &["j", "j", "r"]);
    keys(&mut m, &["BSpace"; 8]);
    keys(&mut m, &["b", "i", "l", "l", "i", "n", "g", "Enter"]);
    assert!(m.plan.service("billing").is_some(), "{}", m.status);
    assert_eq!(
        m.plan.service("orders").expect("orders").tables[0].writers,
        ["orders", "billing"]
    );
}

fn type_text(m: &mut Model, text: &str) {
    let keys_of: Vec<String> = text.chars().map(String::from).collect();
    let keys_of: Vec<&str> = keys_of.iter().map(String::as_str).collect();
    keys(m, &keys_of);
}

/// A new service gets its upstream and database in the planner: `e` and
/// `E` open a field holding the current URL (not one with a password), the
/// plan's validation refuses a URL that does not parse, empty removes it,
/// and a password never reaches the screen.
#[test]
fn upstream_and_database_are_set_in_the_planner() {
    let mut m = model();
    keys(&mut m, &["n"]);
    type_text(&mut m, "search");
    keys(&mut m, &["Enter", "e"]);
    assert!(
        matches!(&m.popup, Some(Popup::Input { text, .. }) if text.is_empty()),
        "{:?}",
        m.popup
    );
    type_text(&mut m, "http://127.0.0.1:9005");
    keys(&mut m, &["Enter"]);
    let search = |m: &Model| m.plan.service("search").expect("search").clone();
    assert_eq!(
        search(&m).upstream.as_deref(),
        Some("http://127.0.0.1:9005")
    );
    assert!(m.dirty());
    // The field opens with the current value.
    keys(&mut m, &["e"]);
    assert!(
        matches!(&m.popup, Some(Popup::Input { text, .. }) if text == "http://127.0.0.1:9005"),
        "{:?}",
        m.popup
    );
    keys(&mut m, &["Esc"]);
    // A URL that is not one is refused by the plan's own check.
    keys(&mut m, &["E"]);
    type_text(&mut m, "postgress://app:hunter2@db/search");
    let screen = common::render(&m, 100, 30);
    assert!(!screen.contains("hunter2"), "{screen}");
    assert!(screen.contains("postgress://app:***@db/search"), "{screen}");
    keys(&mut m, &["Enter"]);
    assert!(m.status.starts_with("not done:"), "{}", m.status);
    assert!(!m.status.contains("hunter2"), "{}", m.status);
    assert_eq!(search(&m).database, None);
    keys(&mut m, &["E"]);
    type_text(&mut m, "postgres://app:hunter2@db/search");
    keys(&mut m, &["Enter"]);
    assert_eq!(
        search(&m).database.as_deref(),
        Some("postgres://app:hunter2@db/search")
    );
    assert!(!m.status.contains("hunter2"), "{}", m.status);
    let screen = common::render(&m, 100, 30);
    assert!(!screen.contains("hunter2"), "{screen}");
    assert!(
        screen.contains("database: postgres://app:***@db/search"),
        "{screen}"
    );
    // With a password, the field opens empty and the status says why.
    keys(&mut m, &["E"]);
    assert!(
        matches!(&m.popup, Some(Popup::Input { text, .. }) if text.is_empty()),
        "{:?}",
        m.popup
    );
    assert!(
        m.status.contains("has a password, not shown"),
        "{}",
        m.status
    );
    // Empty removes it; undo brings it back.
    keys(&mut m, &["Enter"]);
    assert_eq!(search(&m).database, None);
    keys(&mut m, &["u"]);
    assert!(search(&m).database.is_some());
}

#[test]
fn stage_picker_offers_only_valid_moves() {
    let mut m = model();
    // catalog's tables: categories (decommissioned), products (owned).
    keys(&mut m, &["Tab", "G"]);
    keys(&mut m, &["k", "k", "k", "k"]);
    keys(&mut m, &["s"]);
    let Some(Popup::Pick { choices, .. }) = &m.popup else {
        panic!("no stage picker: {} {:?}", m.status, m.rows().get(m.row));
    };
    // price_rules is at cutover: back to syncing, or on to owned.
    assert_eq!(choices, &["syncing", "owned"]);
    keys(&mut m, &["Esc"]);
    // products is owned: back to syncing (a rollback) or cutover, or
    // decommissioned.
    keys(&mut m, &["k", "s"]);
    let Some(Popup::Pick { choices, .. }) = &m.popup else {
        panic!("no stage picker");
    };
    assert_eq!(choices, &["syncing", "cutover", "decommissioned"]);
    keys(&mut m, &["Esc", "k", "s"]);
    assert!(m.popup.is_none());
    assert_eq!(
        m.status,
        "`decommissioned` is final: no stage can follow it"
    );
}

#[test]
fn route_to_canary_then_percent() {
    let mut m = model();
    keys(&mut m, &["2"]);
    assert_eq!(m.focus, Pane::Routes);
    // The reviews route at monolith: POST /api/reviews/{id}/votes.
    keys(&mut m, &["/", "v", "o", "t", "e", "s", "Enter"]);
    keys(&mut m, &["s"]);
    let Some(Popup::Pick { choices, .. }) = &m.popup else {
        panic!("no picker: {}", m.status);
    };
    assert_eq!(choices, &["shadow", "canary"]);
    keys(&mut m, &["j", "Enter"]);
    let route = &m.plan.service("reviews").expect("reviews").routes[1];
    assert_eq!((route.stage.as_str(), route.percent), ("canary", Some(0)));
    keys(&mut m, &["%", "2", "5", "Enter"]);
    let route = &m.plan.service("reviews").expect("reviews").routes[1];
    assert_eq!(route.percent, Some(25));
}

#[test]
fn quit_asks_with_unsaved_changes() {
    let mut m = model();
    keys(&mut m, &["q"]);
    assert!(m.quit, "nothing changed, so q quits");
    let mut m = model();
    keys(&mut m, &["Tab", "p", "q"]);
    assert_eq!(m.popup, Some(Popup::ConfirmQuit));
    assert!(!m.quit);
    keys(&mut m, &["Esc"]);
    assert!(m.popup.is_none() && !m.quit);
    keys(&mut m, &["q", "w"]);
    assert!(matches!(m.effect, Some(Effect::Save(_))));
    assert!(!m.quit, "quits only once the save succeeded");
    let Some(Effect::Save(plan)) = m.effect.take() else {
        unreachable!()
    };
    dispatch(&mut m, Message::Saved(Ok(plan)));
    assert!(m.quit && !m.dirty());
}

#[test]
fn ctrl_c_always_quits() {
    let mut m = model();
    keys(&mut m, &["Tab", "p", "m", "C-c"]);
    assert!(m.quit);
}

#[test]
fn failed_save_keeps_the_edits() {
    let mut m = model();
    keys(&mut m, &["Tab", "p", "w"]);
    assert!(m.effect.take().is_some());
    dispatch(
        &mut m,
        Message::Saved(Err("strangler.toml changed on disk".to_owned())),
    );
    assert!(m.dirty());
    assert_eq!(m.status, "not saved: strangler.toml changed on disk");
}

#[test]
fn read_only_plan_refuses_edits_and_saves() {
    let mut m = model();
    m.errors = vec!["strangler.toml:3:1: error: broken".to_owned()];
    keys(&mut m, &["Tab", "p", "m", "n", "w"]);
    assert!(m.popup.is_none());
    assert!(m.effect.is_none());
    assert!(!m.dirty());
    assert!(m.status.starts_with("read-only"), "{}", m.status);
}

#[test]
fn search_jumps_with_n_and_shift_n() {
    let mut m = model();
    keys(&mut m, &["/", "e", "Enter"]);
    assert_eq!(m.plan.services[m.service].name, "reviews");
    keys(&mut m, &["n"]);
    assert_eq!(m.plan.services[m.service].name, "payments");
    keys(&mut m, &["N"]);
    assert_eq!(m.plan.services[m.service].name, "reviews");
    keys(&mut m, &["Esc", "n"]);
    assert!(m.filter.is_none());
    assert!(
        matches!(m.popup, Some(Popup::Input { .. })),
        "n is new service again"
    );
}

#[test]
fn tab_cycles_every_pane() {
    let mut m = model();
    let mut seen = vec![m.focus];
    for _ in 0..Pane::ALL.len() {
        keys(&mut m, &["Tab"]);
        seen.push(m.focus);
    }
    assert_eq!(seen, [Pane::ALL.as_slice(), &[Pane::Services]].concat());
}

#[test]
fn stale_members_are_a_warning() {
    let mut m = model();
    m.plan.services[1].members.push("shop::gone".to_owned());
    m.reevaluate();
    assert_eq!(
        m.missing(),
        ["`shop::gone` of service `reviews` is not in the analysis"]
    );
}

#[test]
fn merge_and_delete() {
    let mut m = model();
    keys(&mut m, &["D"]);
    assert!(m.status.contains("merge it (M) instead"), "{}", m.status);
    // orders has no database, so it cannot take reviews' syncing tables.
    keys(&mut m, &["j", "M", "j", "j", "Enter"]);
    assert!(m.status.starts_with("not done:"), "{}", m.status);
    keys(&mut m, &["M", "j", "Enter"]);
    assert!(m.plan.service("reviews").is_none(), "{}", m.status);
    let payments = m.plan.service("payments").expect("payments");
    assert!(payments.members.contains(&"shop::reviews".to_owned()));
    assert_eq!(m.plan.services[m.service].name, "payments");
    keys(&mut m, &["n", "x", "Enter", "D"]);
    assert!(m.plan.service("x").is_none());
}

#[test]
fn no_key_is_bound_twice_in_one_scope() {
    use strangler_tui::keymap::KEYMAP;
    for (i, a) in KEYMAP.iter().enumerate() {
        for b in &KEYMAP[i + 1..] {
            if a.scope == b.scope {
                for k in a.keys {
                    assert!(!b.keys.contains(k), "{k:?} bound twice in {:?}", a.scope);
                }
            }
        }
    }
}

#[test]
fn analysis_json_reads_back() {
    let analysis = common::analysis();
    let json = strangler_analyzer::render(&analysis, strangler_analyzer::Format::Json);
    let back = strangler_analyzer::read_json(&json).expect("reads back");
    let first_difference = back.nodes.iter().zip(&analysis.nodes).find(|(a, b)| a != b);
    assert_eq!(first_difference, None);
    assert_eq!(back.nodes.len(), analysis.nodes.len());
    assert!(back.edges == analysis.edges, "edges differ");
    assert!(strangler_analyzer::read_json("{}").is_err());
}

fn functions_shown(m: &Model) -> Vec<String> {
    m.rows()
        .into_iter()
        .filter_map(|r| match r {
            Row::Function { label, .. } => Some(label),
            _ => None,
        })
        .collect()
}

fn selected_row(m: &Model) -> Row {
    m.rows().get(m.row).cloned().expect("a selected row")
}

#[test]
fn tree_expands_and_collapses() {
    let mut m = model();
    // Members pane, shop::catalog::categories.
    keys(&mut m, &["Tab", "j"]);
    assert!(functions_shown(&m).is_empty(), "collapsed at first");
    keys(&mut m, &["l"]);
    assert_eq!(functions_shown(&m).len(), 3, "{:?}", m.rows());
    assert!(
        matches!(selected_row(&m), Row::Member { id, .. } if id == "shop::catalog::categories"),
        "expanding keeps the module selected"
    );
    // On an open module, → goes to its first function.
    keys(&mut m, &["Right"]);
    let Row::Function { member, id, .. } = selected_row(&m) else {
        panic!("a function: {:?}", selected_row(&m));
    };
    assert_eq!(member, "shop::catalog::categories");
    // A function is not what the plan moves: m and p say so and change nothing.
    keys(&mut m, &["m"]);
    assert!(m.popup.is_none());
    assert!(
        m.status
            .contains("moves with its module shop::catalog::categories"),
        "{}",
        m.status
    );
    keys(&mut m, &["p"]);
    assert!(!m.dirty());
    assert!(m.selected_member().is_none(), "{id} is selected");
    // ← on a function closes its module and selects it.
    keys(&mut m, &["Left"]);
    assert!(functions_shown(&m).is_empty());
    assert_eq!(
        m.selected_member().as_deref(),
        Some("shop::catalog::categories")
    );
    // Enter toggles; h on a closed module goes back to the services.
    keys(&mut m, &["Enter"]);
    assert_eq!(functions_shown(&m).len(), 3);
    keys(&mut m, &["Enter"]);
    assert!(functions_shown(&m).is_empty());
    keys(&mut m, &["h"]);
    assert_eq!(m.focus, Pane::Services);
}

#[test]
fn tree_without_analysis_says_why_nothing_expands() {
    let mut m = model();
    m.analyzed = None;
    m.reevaluate();
    keys(&mut m, &["Tab", "l"]);
    assert!(functions_shown(&m).is_empty());
    assert!(m.status.contains("need the analysis"), "{}", m.status);
}

#[test]
fn filter_narrows_the_services_and_esc_clears_it() {
    let mut m = model();
    keys(&mut m, &["/", "p", "a", "y"]);
    // Narrowed while typing.
    assert_eq!(m.visible_services(), [2]);
    assert_eq!(m.plan.services[m.service].name, "payments");
    keys(&mut m, &["Enter"]);
    assert!(m.popup.is_none());
    assert_eq!(m.visible_services(), [2], "Enter keeps the filter");
    // n is "next match" while a filter is set: wraps around the one match.
    keys(&mut m, &["n"]);
    assert_eq!(m.plan.services[m.service].name, "payments");
    keys(&mut m, &["Esc"]);
    assert!(m.filter.is_none());
    assert_eq!(m.visible_services().len(), 4);
    assert_eq!(
        m.plan.services[m.service].name, "payments",
        "the selection stays"
    );
    // No match: an empty list, and the status says so.
    keys(&mut m, &["/", "z", "z", "z"]);
    assert!(m.visible_services().is_empty());
    assert!(m.status.contains("no match"), "{}", m.status);
}

#[test]
fn an_edit_never_hides_the_selected_service_behind_the_filter() {
    let mut m = model();
    keys(&mut m, &["/", "p", "a", "y", "Enter"]);
    assert_eq!(m.visible_services(), [2]);
    // Renamed so it no longer matches: the filter goes, the service stays
    // selected and visible.
    keys(
        &mut m,
        &[
            "r", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace",
            "b", "i", "l", "l", "i", "n", "g", "Enter",
        ],
    );
    assert_eq!(m.plan.services[m.service].name, "billing");
    assert!(m.filter.is_none());
    assert!(m.visible_services().contains(&m.service));
}

#[test]
fn filter_narrows_members_to_matching_rows_and_functions() {
    let mut m = model();
    keys(&mut m, &["Tab", "/", "p", "r", "i", "c", "e"]);
    let rows = m.rows();
    let members: Vec<&str> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Member { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert!(members.contains(&"shop::catalog::pricing"), "{rows:?}");
    assert!(
        rows.iter().all(|r| match r {
            Row::Member { id, .. } => id.contains("price")
                || id.contains("pricing")
                || rows.iter().any(
                    |f| matches!(f, Row::Function { member, label, .. } if member == id && label.contains("price"))
                ),
            Row::Function { label, .. } => label.contains("price"),
            Row::Table(i) => m.plan.services[0].tables[*i].name.contains("price"),
            Row::Route(_) => false,
            Row::Header(_) => true,
        }),
        "only matches: {rows:?}"
    );
    assert!(!matches!(selected_row(&m), Row::Header(_)));
    // n and N walk the matches, wrapping, never onto a header.
    keys(&mut m, &["Enter"]);
    let first = m.row;
    let selectable = rows.iter().filter(|r| !matches!(r, Row::Header(_))).count();
    for _ in 0..selectable {
        keys(&mut m, &["n"]);
        assert!(!matches!(selected_row(&m), Row::Header(_)));
    }
    assert_eq!(m.row, first, "n wraps around");
    keys(&mut m, &["N", "n"]);
    assert_eq!(m.row, first);
}

#[test]
fn filter_then_move_moves_the_match() {
    let mut m = model();
    keys(
        &mut m,
        &["Tab", "/", "p", "r", "o", "d", "u", "c", "t", "s", "Enter"],
    );
    assert_eq!(
        m.selected_member().as_deref(),
        Some("shop::catalog::products"),
        "{:?}",
        m.rows()
    );
    keys(&mut m, &["m", "Enter"]);
    assert_eq!(services_of(&m, "shop::catalog::products"), ["reviews"]);
}

#[test]
fn filter_and_sort_the_routes_view() {
    let mut m = model();
    keys(&mut m, &["2", "/", "c", "a", "n", "a", "r", "y", "Enter"]);
    let stages: Vec<String> = m
        .all_routes()
        .iter()
        .map(|&(s, r)| m.plan.services[s].routes[r].stage.to_string())
        .collect();
    assert_eq!(stages, ["canary", "canary"]);
    keys(&mut m, &["Esc"]);
    assert_eq!(m.all_routes().len(), 8);
    // o: methods, path, stage; O reverses.
    keys(&mut m, &["o", "o", "o"]);
    assert_eq!(m.route_sort.column, 3);
    assert!(!m.route_sort.descending);
    let first = m.all_routes()[0];
    assert_eq!(
        m.plan.services[first.0].routes[first.1].stage.as_str(),
        "monolith"
    );
    let selected = m.all_routes()[m.route_row];
    keys(&mut m, &["O"]);
    assert!(m.route_sort.descending);
    let first = m.all_routes()[0];
    assert_eq!(
        m.plan.services[first.0].routes[first.1].stage.as_str(),
        "live"
    );
    assert_eq!(
        m.all_routes()[m.route_row],
        selected,
        "sorting keeps the selected route"
    );
    // Back to the first column after the last.
    keys(&mut m, &["o", "o"]);
    assert_eq!(m.route_sort.column, 0);
    assert!(!m.route_sort.descending);
}

#[test]
fn sort_the_tables_view_by_ownership() {
    let mut m = model();
    keys(&mut m, &["3", "o", "o", "o"]);
    assert_eq!(m.table_sort.column, 3);
    let owners: Vec<&str> = m
        .all_tables()
        .iter()
        .map(|&(s, t)| m.ownership(&m.plan.services[s].name, &m.plan.services[s].tables[t].name))
        .collect();
    let mut sorted = owners.clone();
    sorted.sort_unstable();
    assert_eq!(owners, sorted);
    keys(&mut m, &["1", "o"]);
    assert!(m.status.contains("sort the routes"), "{}", m.status);
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> Message {
    Message::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn click_selects_and_the_wheel_scrolls() {
    let mut m = model();
    // 80×24: the services list's first row (under its border and header) is
    // screen row 4; payments is the third service.
    dispatch(&mut m, mouse(MouseEventKind::Down(MouseButton::Left), 5, 6));
    assert_eq!(m.plan.services[m.service].name, "payments");
    assert_eq!(m.focus, Pane::Services);
    // The members pane starts at column 32; row 3 is its first line, the
    // section title; row 4 is the first member.
    dispatch(
        &mut m,
        mouse(MouseEventKind::Down(MouseButton::Left), 40, 3),
    );
    assert_eq!(
        m.selected_member().as_deref(),
        Some("shop::payments"),
        "a title is skipped"
    );
    dispatch(
        &mut m,
        mouse(MouseEventKind::Down(MouseButton::Left), 40, 5),
    );
    assert_eq!(
        m.selected_member().as_deref(),
        Some("shop::payments::gateway")
    );
    dispatch(
        &mut m,
        mouse(MouseEventKind::Down(MouseButton::Left), 40, 4),
    );
    assert_eq!(m.focus, Pane::Members);
    assert_eq!(m.selected_member().as_deref(), Some("shop::payments"));
    dispatch(&mut m, mouse(MouseEventKind::ScrollDown, 40, 8));
    assert_eq!(
        m.selected_member().as_deref(),
        Some("shop::payments::gateway")
    );
    // The wheel over the services list scrolls it, and focuses it.
    dispatch(&mut m, mouse(MouseEventKind::ScrollUp, 5, 8));
    assert_eq!(m.focus, Pane::Services);
    assert_eq!(m.plan.services[m.service].name, "reviews");
    // A click on the header line selects nothing new.
    dispatch(&mut m, mouse(MouseEventKind::Down(MouseButton::Left), 5, 3));
    assert_eq!(m.plan.services[m.service].name, "reviews");
}

#[test]
fn resuggest_runs_in_the_background_and_esc_ignores_its_result() {
    let mut m = model();
    keys(&mut m, &["S"]);
    let Some(Effect::Resuggest { job, plan }) = m.effect.take() else {
        panic!("a re-suggest effect: {:?}", m.effect);
    };
    assert!(m.busy.is_some());
    assert!(m.status.starts_with("re-suggesting"), "{}", m.status);
    // The UI stays usable meanwhile, and a second S waits.
    keys(&mut m, &["j", "S"]);
    assert!(m.effect.is_none());
    assert_eq!(m.service, 1);
    let analyzed = m.analyzed.clone().expect("analysis");
    let result = strangler_tui::resuggest(&plan, &analyzed);
    keys(&mut m, &["Esc"]);
    assert!(m.busy.is_none());
    assert!(m.status.contains("will be ignored"), "{}", m.status);
    dispatch(&mut m, Message::Suggested { job, result });
    assert!(m.popup.is_none(), "a cancelled result is ignored");
}

#[test]
fn a_resuggestion_for_an_older_plan_is_not_offered() {
    let mut m = model();
    keys(&mut m, &["S"]);
    let Some(Effect::Resuggest { job, plan }) = m.effect.take() else {
        panic!("a re-suggest effect");
    };
    let analyzed = m.analyzed.clone().expect("analysis");
    let result = strangler_tui::resuggest(&plan, &analyzed);
    keys(&mut m, &["Tab", "p"]);
    dispatch(&mut m, Message::Suggested { job, result });
    assert!(m.popup.is_none());
    assert!(m.status.contains("plan changed"), "{}", m.status);
    assert!(m.busy.is_none());
}

#[test]
fn analysis_arrives_as_a_message_with_progress_on_the_way() {
    let mut m = model();
    m.analyzed = None;
    m.reevaluate();
    m.start_analysis("fixtures/shop-monolith".into());
    let Some(Effect::Analyze { job, plan, .. }) = m.effect.take() else {
        panic!("an analyze effect");
    };
    dispatch(
        &mut m,
        Message::Progress {
            job,
            phase: "building the coupling graph".to_owned(),
        },
    );
    for _ in 0..12 {
        dispatch(&mut m, Message::Tick);
    }
    let busy = m.busy.clone().expect("busy");
    assert_eq!(busy.phase, "building the coupling graph");
    assert_eq!(m.ticks - busy.started, 12);
    let screen = common::render(&m, 80, 24);
    assert!(
        screen.contains("analyzing fixtures/shop-monolith: building the coupling graph… 1.2 s"),
        "{screen}"
    );
    // An answer to another job is not this one's.
    let analyzed = Arc::new(Analyzed::new(common::analysis(), &plan).expect("usable settings"));
    dispatch(
        &mut m,
        Message::Analyzed {
            job: job + 1,
            result: Ok(analyzed.clone()),
        },
    );
    assert!(m.eval.is_none() && m.busy.is_some());
    dispatch(
        &mut m,
        Message::Analyzed {
            job,
            result: Ok(analyzed),
        },
    );
    assert!(m.busy.is_none());
    assert!(m.eval.is_some(), "metrics once the analysis is in");
}

#[test]
fn a_failed_analysis_leaves_the_plan_open() {
    let mut m = model();
    m.analyzed = None;
    m.reevaluate();
    m.start_analysis("/nowhere".into());
    let Some(Effect::Analyze { job, .. }) = m.effect.take() else {
        panic!("an analyze effect");
    };
    dispatch(
        &mut m,
        Message::Analyzed {
            job,
            result: Err("/nowhere is not a directory".to_owned()),
        },
    );
    assert!(m.busy.is_none() && m.analyzed.is_none());
    assert!(m.status.starts_with("analysis failed"), "{}", m.status);
}

#[test]
fn help_scrolls() {
    let mut m = model();
    keys(&mut m, &["?", "j", "j", "k"]);
    assert_eq!(m.popup, Some(Popup::Help { scroll: 1 }));
}

#[test]
fn at_function_granularity_the_functions_are_what_moves() {
    let analysis = common::analysis();
    let functions: Vec<String> = analysis
        .nodes
        .iter()
        .filter(|n| {
            n.kind == strangler_analyzer::NodeKind::Function
                && n.id.starts_with("shop::catalog::pricing::")
        })
        .map(|n| n.id.clone())
        .collect();
    let mut plan = model().plan;
    plan.analyze = Some(strangler_plan::AnalyzeSettings {
        granularity: Some("function".to_owned()),
        ..strangler_plan::AnalyzeSettings::default()
    });
    plan.services[0].members.clone_from(&functions);
    plan.services[0].pinned.clear();
    let mut m = Model::new("strangler.toml", plan, Vec::new(), Some(analysis));
    let rows = m.rows();
    assert_eq!(
        rows[0],
        Row::Header(format!("functions ({}), the units moved", functions.len()))
    );
    assert!(
        rows.iter()
            .all(|r| !matches!(r, Row::Member { functions, .. } if *functions > 0)),
        "a function has nothing inside: {rows:?}"
    );
    keys(&mut m, &["Tab", "l"]);
    assert!(
        m.status.contains("moves functions one by one"),
        "{}",
        m.status
    );
    keys(&mut m, &["m"]);
    let Some(Popup::Pick { .. }) = &m.popup else {
        panic!("a picker: {}", m.status);
    };
    let screen = common::render(&m, 80, 24);
    assert!(
        screen.contains("Move function shop::catalog::pricing::"),
        "{screen}"
    );
    keys(&mut m, &["Enter"]);
    assert_eq!(m.plan.services[1].members.len(), 2, "{}", m.status);
}

#[test]
fn routes_and_tables_nothing_has_moved_yet_follow_a_moved_member() {
    let routes = |m: &Model, service: &str| -> Vec<String> {
        m.plan
            .service(service)
            .expect("service")
            .routes
            .iter()
            .map(|r| format!("{} {} {}", r.methods_label(), r.path, r.stage))
            .collect()
    };
    let tables = |m: &Model, service: &str| -> Vec<String> {
        m.plan
            .service(service)
            .expect("service")
            .tables
            .iter()
            .map(|t| format!("{} {}", t.name, t.stage))
            .collect()
    };
    let mut m = model();
    // orders' checkout module, moved to payments: the checkout route and
    // the tables it writes most are all still at `monolith`, so they go
    // with it, and so does the preview route it serves, which the plan did
    // not list.
    keys(&mut m, &["j", "j", "j", "Tab", "j", "m"]);
    let Some(Popup::Pick { choices, .. }) = &m.popup else {
        panic!("no picker: {:?}", m.popup);
    };
    assert_eq!(choices, &["catalog", "reviews", "payments"]);
    keys(&mut m, &["j", "j", "Enter"]);
    assert_eq!(services_of(&m, "shop::orders::checkout"), ["payments"]);
    assert_eq!(
        routes(&m, "payments"),
        [
            "GET /api/payments/{id} canary",
            "POST /api/orders/checkout monolith",
            "GET,POST /api/orders/checkout/preview monolith"
        ]
    );
    assert!(routes(&m, "orders").is_empty());
    // order_items is written most by checkout; orders by the module left
    // behind, so it stays.
    assert!(tables(&m, "payments").contains(&"order_items monolith".to_owned()));
    assert_eq!(tables(&m, "orders"), ["orders monolith"]);
    assert!(
        m.status.ends_with("3 route(s) or table(s) follow it"),
        "{}",
        m.status
    );
    // Both services' code wrote `orders` before the move and still does,
    // so the edit leaves the table's `writers` as the file has them (a
    // save writes only what the edit did).
    let writers = |m: &Model| {
        m.plan.service("orders").expect("orders").tables[0]
            .writers
            .clone()
    };
    assert!(writers(&m).is_empty(), "{:?}", writers(&m));
    // Moved to catalog instead, it makes a third service write `orders`:
    // the plan records that the table needs a decision (heaviest writer
    // first), and `plan check` warns.
    let mut other = model();
    keys(&mut other, &["j", "j", "j", "Tab", "j", "m", "Enter"]);
    assert_eq!(services_of(&other, "shop::orders::checkout"), ["catalog"]);
    assert_eq!(writers(&other), ["orders", "catalog", "payments"]);
    let diagnostics = strangler_plan::validate(&other.plan);
    assert!(
        diagnostics.iter().any(|d| d.message
            == "table `orders` of service `orders` needs a decision: the code of `orders`, `catalog`, `payments` writes it"),
        "{diagnostics:#?}"
    );
    keys(&mut other, &["u"]);
    assert!(writers(&other).is_empty(), "{:?}", writers(&other));
    // One undo puts the member, its route and its table back.
    keys(&mut m, &["u"]);
    assert_eq!(services_of(&m, "shop::orders::checkout"), ["orders"]);
    assert_eq!(routes(&m, "orders"), ["POST /api/orders/checkout monolith"]);
    assert_eq!(
        tables(&m, "orders"),
        ["orders monolith", "order_items monolith"]
    );

    // reviews' module, moved to payments: its route in shadow is a
    // decision and stays, and the status line says what to do; its tables
    // are syncing and stay too.
    let mut m = model();
    keys(&mut m, &["j", "Tab", "m", "j", "Enter"]);
    assert_eq!(services_of(&m, "shop::reviews"), ["payments"]);
    assert!(
        routes(&m, "reviews").contains(&"GET /api/reviews/products/{product_id} shadow".to_owned())
    );
    assert!(
        m.status.contains("stay: route GET /api/reviews/products/{product_id} stays in service `reviews` at stage `shadow`")
            && m.status.contains("set the route back to `monolith`"),
        "{}",
        m.status
    );
    assert_eq!(
        tables(&m, "reviews"),
        ["reviews syncing", "review_votes syncing"]
    );
}

/// The monolith view (5) lists what the monolith serves outside the plan:
/// analysed routes no service lists, then code in no service (shared code
/// marked); `m` puts the selected one into a service, with undo.
#[test]
fn the_monolith_view_shows_and_moves_what_no_service_lists() {
    use strangler_tui::model::MonolithItem;
    let mut m = model();
    keys(&mut m, &["5"]);
    assert_eq!(m.focus, Pane::Monolith);
    let texts =
        |m: &Model| -> Vec<String> { m.monolith_items().iter().map(MonolithItem::text).collect() };
    let before = texts(&m);
    // The fixture's plan has 8 routes; 56 analysed routes are in none,
    // then the code no service lists, the shared wiring marked.
    assert_eq!(before.iter().filter(|t| t.starts_with("route")).count(), 56);
    assert_eq!(
        before[0],
        "route GET /api/accounts/addresses shop::accounts::addresses::list"
    );
    assert!(before.contains(&"code  shop::app shared: used by many areas".to_owned()));
    assert!(before.contains(&"code  shop::cart in no service".to_owned()));

    // A route: into the first service offered.
    keys(&mut m, &["m"]);
    let Some(Popup::Pick { choices, .. }) = &m.popup else {
        panic!("no picker: {:?}", m.popup);
    };
    assert_eq!(choices, &["catalog", "reviews", "payments", "orders"]);
    keys(&mut m, &["Enter"]);
    let catalog = m.plan.service("catalog").expect("catalog");
    let route = catalog
        .routes
        .iter()
        .find(|r| r.path.to_string() == "/api/accounts/addresses")
        .expect("the route is in catalog");
    assert_eq!(route.stage, strangler_plan::RouteStage::Monolith);
    // Listing addresses writes nothing.
    assert!(route.writes.is_empty(), "{:?}", route.writes);
    assert_eq!(texts(&m).len(), before.len() - 1);
    keys(&mut m, &["u"]);
    assert_eq!(texts(&m), before);

    // Code: the cart module into orders brings the cart's routes along.
    m.monolith_row = m
        .monolith_items()
        .iter()
        .position(|i| matches!(i, MonolithItem::Unit { id, .. } if id == "shop::cart"))
        .expect("shop::cart is listed");
    keys(&mut m, &["m", "j", "j", "j", "Enter"]);
    let orders = m.plan.service("orders").expect("orders");
    assert!(orders.members.contains(&"shop::cart".to_owned()));
    let cart_routes: Vec<String> = orders
        .routes
        .iter()
        .filter(|r| r.path.to_string().starts_with("/api/cart"))
        .map(|r| format!("{} {}", r.methods_label(), r.path))
        .collect();
    assert_eq!(
        cart_routes,
        [
            "DELETE /api/cart",
            "GET /api/cart",
            "POST /api/cart/items",
            "PUT /api/cart/items/bulk",
            "DELETE /api/cart/items/{product_id}",
            "PATCH /api/cart/items/{product_id}"
        ]
    );
    let add = orders
        .routes
        .iter()
        .find(|r| r.path.to_string() == "/api/cart/items" && r.methods_label() == "POST")
        .expect("POST /api/cart/items");
    assert!(
        add.writes.contains(&"cart_items".to_owned()),
        "{:?}",
        add.writes
    );
    assert!(m.status.contains("follow it"), "{}", m.status);
    assert!(
        strangler_plan::validate(&m.plan)
            .iter()
            .all(|d| !d.is_error())
    );
}

/// Without the analysis the monolith view says what it needs.
#[test]
fn the_monolith_view_needs_the_analysis() {
    let file = strangler_plan::PlanFile::open(common::fixture().join("strangler.toml"))
        .expect("fixture plan");
    let mut m = Model::new("strangler.toml", file.plan().clone(), Vec::new(), None);
    keys(&mut m, &["5"]);
    assert!(m.monolith_items().is_empty());
    let screen = common::render(&m, 100, 24);
    assert!(
        screen.contains("the monolith's routes and code need the analysis"),
        "{screen}"
    );
    keys(&mut m, &["m"]);
    assert!(m.popup.is_none());
}
