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
    keys(&mut m, &["5", "G"]);
    insta::assert_snapshot!("monolith", render(&m, 100, 30));
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

#[test]
fn members_tree_with_a_function_selected() {
    let mut m = model();
    // shop::catalog::pricing, opened, then its fourth function (quote),
    // which orders' checkout calls.
    keys(&mut m, &["Tab", "j", "j", "l", "l", "j", "j", "j"]);
    insta::assert_snapshot!("tree_function_80x24", render(&m, 80, 24));
    insta::assert_snapshot!("tree_function_140x40", render(&m, 140, 40));
}

#[test]
fn filter_while_typing_and_after() {
    let mut m = model();
    keys(&mut m, &["Tab", "/", "p", "r", "i", "c"]);
    insta::assert_snapshot!("filter_typing", render(&m, 80, 24));
    keys(&mut m, &["Enter"]);
    insta::assert_snapshot!("filter_members", render(&m, 80, 24));
}

#[test]
fn routes_sorted_by_stage_descending_and_tables_filtered() {
    let mut m = model();
    keys(&mut m, &["2", "o", "o", "o", "O"]);
    insta::assert_snapshot!("routes_stage_descending", render(&m, 80, 24));
    keys(&mut m, &["3", "/", "s", "y", "n", "c", "Enter"]);
    insta::assert_snapshot!("tables_filtered_140x40", render(&m, 140, 40));
}

#[test]
fn help_scrolled_to_the_end_and_whole_when_tall() {
    let mut m = model();
    keys(&mut m, &["?"]);
    insta::assert_snapshot!("help_140x40", render(&m, 140, 40));
    keys(&mut m, &["j", "j", "j", "j", "j", "j", "j", "j", "j", "j"]);
    insta::assert_snapshot!("help_scrolled", render(&m, 80, 24));
}

#[test]
fn no_color_selection_is_reverse_video() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::{Color, Modifier};
    let m = model();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    terminal
        .draw(|f| strangler_tui::view(f, &m, strangler_tui::Theme { color: false }))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    // The selected service, catalog, is on line 4, after the marker.
    let cell = &buffer[(3, 4)];
    assert_eq!(cell.symbol(), "c");
    assert!(cell.modifier.contains(Modifier::REVERSED), "{cell:?}");
    assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
    let colored = buffer
        .content()
        .iter()
        .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
        .count();
    assert_eq!(colored, 0, "no colour anywhere");
}
