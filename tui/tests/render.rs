//! Render snapshots on ratatui's `TestBackend` (monochrome theme: the
//! snapshots hold text, and `▶` marks the selection in every theme).

mod common;

use common::{fixture, keys, model, render};
use strangler_plan::PlanFile;
use strangler_tui::{Message, Model, dispatch, perform};

#[test]
fn plan_screen_80x24() {
    insta::assert_snapshot!(render(&model(), 80, 24));
}

#[test]
fn member_details_and_metrics_after_a_move() {
    let mut m = model();
    keys(&mut m, &["Tab", "j", "m"]);
    insta::assert_snapshot!("move_picker", render(&m, 80, 24));
    keys(&mut m, &["j", "Enter"]);
    insta::assert_snapshot!("after_move", render(&m, 80, 24));
}

#[test]
fn too_small() {
    insta::assert_snapshot!(render(&model(), 79, 24));
}

#[test]
fn help_overlay() {
    let mut m = model();
    keys(&mut m, &["?"]);
    insta::assert_snapshot!(render(&m, 80, 24));
}

#[test]
fn routes_tables_and_coupling_views() {
    let mut m = model();
    keys(&mut m, &["2"]);
    insta::assert_snapshot!("routes", render(&m, 80, 24));
    keys(&mut m, &["3", "o", "o"]);
    insta::assert_snapshot!("tables_by_stage", render(&m, 80, 24));
    keys(&mut m, &["4"]);
    insta::assert_snapshot!("coupling", render(&m, 80, 24));
}

#[test]
fn large_terminal() {
    let mut m = model();
    keys(&mut m, &["Tab", "j", "j"]);
    insta::assert_snapshot!(render(&m, 140, 40));
}

#[test]
fn invalid_plan_is_read_only_with_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("strangler.toml");
    let text = std::fs::read_to_string(fixture().join("strangler.toml"))
        .expect("fixture")
        .replace("percent = 10 ", "percent = 150");
    std::fs::write(&path, &text).expect("write");
    let file = PlanFile::open(&path).expect("open");
    let errors = file
        .diagnostics()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.render("strangler.toml"))
        .collect();
    let mut m = Model::new("strangler.toml", file.plan().clone(), errors, None);
    keys(&mut m, &["w"]);
    insta::assert_snapshot!(render(&m, 80, 24));
    assert!(m.effect.is_none());
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn resuggest_diff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("strangler.toml");
    std::fs::copy(fixture().join("strangler.toml"), &path).expect("copy");
    let mut file = PlanFile::open(&path).expect("open");
    let mut m = model();
    keys(&mut m, &["S"]);
    let effect = m.effect.take().expect("a re-suggest effect");
    let reply = perform(effect, &mut file, m.analyzed.as_deref());
    dispatch(&mut m, reply);
    insta::assert_snapshot!(render(&m, 80, 24));
    let before = m.plan.clone();
    dispatch(
        &mut m,
        Message::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('y'),
        )),
    );
    assert_ne!(m.plan, before, "accepting applies the suggestion");
    keys(&mut m, &["u"]);
    assert_eq!(m.plan, before, "and undo takes it back");
}
