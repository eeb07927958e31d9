//! Shared setup: the shop fixture's plan and analysis, and a renderer.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use strangler_analyzer::Analysis;
use strangler_plan::PlanFile;
use strangler_tui::{Message, Model, Theme, dispatch, view};

pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/shop-monolith")
}

pub fn analysis() -> Analysis {
    static ANALYSIS: OnceLock<Analysis> = OnceLock::new();
    ANALYSIS
        .get_or_init(|| {
            strangler_analyzer::analyze(&fixture(), &strangler_analyzer::Config::default())
                .expect("the shop fixture analyzes")
        })
        .clone()
}

/// The fixture plan with the fixture's analysis.
pub fn model() -> Model {
    let file = PlanFile::open(fixture().join("strangler.toml")).expect("fixture plan");
    Model::new(
        "strangler.toml",
        file.plan().clone(),
        Vec::new(),
        Some(analysis()),
    )
}

pub fn render(model: &Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|f| view(f, model, Theme { color: false }))
        .expect("draw");
    terminal.backend().to_string()
}

/// Sends keys written as in tmux: single characters, or `Tab`, `Enter`,
/// `Esc`, `Down`, `Up`, `Left`, `Right`, `C-r`.
pub fn keys(model: &mut Model, keys: &[&str]) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    for key in keys {
        let event = match *key {
            "Tab" => KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE),
            "BTab" => KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
            "Enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
            "Esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
            "Down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
            "Up" => KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
            "Left" => KeyEvent::new(KeyCode::Left, KeyModifiers::NONE),
            "Right" => KeyEvent::new(KeyCode::Right, KeyModifiers::NONE),
            "BSpace" => KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
            k if k.starts_with("C-") => KeyEvent::new(
                KeyCode::Char(k.chars().nth(2).expect("a letter")),
                KeyModifiers::CONTROL,
            ),
            k => {
                let mut chars = k.chars();
                let c = chars.next().expect("a key");
                assert!(chars.next().is_none(), "unknown key {k}");
                KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
            }
        };
        dispatch(model, Message::Key(event));
    }
}
