//! Unit tests of the pure `update`, driven by the same keys users press.

mod common;

use common::{keys, model};
use strangler_tui::model::{Effect, Pane, Popup};
use strangler_tui::{Message, Model, dispatch};

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
    // products is owned: cutover back, or decommissioned.
    keys(&mut m, &["k", "s"]);
    let Some(Popup::Pick { choices, .. }) = &m.popup else {
        panic!("no stage picker");
    };
    assert_eq!(choices, &["cutover", "decommissioned"]);
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
    for _ in 0..6 {
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
    let back = strangler_tui::analysis_json::parse(&json).expect("reads back");
    let first_difference = back.nodes.iter().zip(&analysis.nodes).find(|(a, b)| a != b);
    assert_eq!(first_difference, None);
    assert_eq!(back.nodes.len(), analysis.nodes.len());
    assert!(back.edges == analysis.edges, "edges differ");
    assert!(strangler_tui::analysis_json::parse("{}").is_err());
}
