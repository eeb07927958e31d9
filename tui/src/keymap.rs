//! The one keymap table. The key handler, the help overlay and the status
//! bar hints all read [`KEYMAP`], so they cannot disagree; [`scopes`] says
//! which of its scopes apply to a model.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::model::{Model, Pane, Popup};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere, popups included.
    Always,
    /// The main screen, no popup open.
    Main,
    /// The main screen while a search is set.
    Searching,
    /// The main screen while no search is set.
    NotSearching,
    /// The members pane, focused, no popup open.
    Tree,
    /// The main screen while background work runs.
    Busy,
    /// A list popup (pickers).
    Picker,
    /// A text input popup.
    Input,
    /// The unsaved-changes question.
    Confirm,
    /// The re-suggestion diff.
    Diff,
    /// The help overlay.
    Help,
}

impl Scope {
    /// How the help overlay titles the scope's section.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Scope::Always => "anywhere",
            Scope::Main | Scope::NotSearching => "main screen",
            Scope::Searching => "while a filter is set",
            Scope::Tree => "in the members tree",
            Scope::Busy => "while analyzing or re-suggesting",
            Scope::Picker => "in a picker",
            Scope::Input => "in a text field",
            Scope::Confirm => "when asked about unsaved changes",
            Scope::Diff => "in the re-suggestion diff",
            Scope::Help => "in this help",
        }
    }
}

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Quit now, unsaved changes or not.
    ForceQuit,
    /// Quit, asking first when there are unsaved changes.
    Quit,
    /// Save the plan.
    Save,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Select the previous row.
    Up,
    /// Select the next row.
    Down,
    /// Ten rows up.
    PageUp,
    /// Ten rows down.
    PageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Jump to the plan screen.
    ViewPlan,
    /// Jump to the routes view.
    ViewRoutes,
    /// Jump to the tables view.
    ViewTables,
    /// Jump to the coupling matrix.
    ViewDsm,
    /// Jump to what the monolith serves outside the plan.
    ViewMonolith,
    /// Filter the focused list.
    Filter,
    /// Next match of the filter.
    NextMatch,
    /// Previous match of the filter.
    PrevMatch,
    /// Show the functions of the selected member.
    Expand,
    /// Hide them (from a function: its member's).
    Collapse,
    /// Expand or collapse the selected member.
    Toggle,
    /// Stop waiting for the background work; its result is ignored.
    Cancel,
    /// Move the selected member to another service.
    Move,
    /// Pin or unpin the selected member.
    Pin,
    /// Rename the selected service.
    Rename,
    /// Create a service.
    NewService,
    /// Set the selected service's upstream URL.
    Upstream,
    /// Set the selected service's database URL.
    Database,
    /// Merge the selected service into another.
    Merge,
    /// Delete the selected service.
    Delete,
    /// Set the selected route's or table's stage.
    Stage,
    /// Set the selected canary route's percent.
    Percent,
    /// Re-run the clustering.
    Resuggest,
    /// Sort the routes or tables view by its next column.
    Sort,
    /// Reverse the sort of the routes or tables view.
    Reverse,
    /// Open the help overlay.
    Help,
    /// Close the popup, clear the search.
    Close,
    /// Choose the highlighted entry, confirm the text.
    Confirm,
    /// Accept the re-suggestion.
    Accept,
    /// Save, then quit.
    SaveAndQuit,
    /// Quit without saving.
    Discard,
}

/// A key, as the table writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character without Ctrl.
    Char(char),
    /// A character with Ctrl.
    Ctrl(char),
    /// A named key.
    Code(KeyCode),
}

/// One line of the keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys that trigger it.
    pub keys: &'static [Key],
    /// How the keys are written in help and hints.
    pub label: &'static str,
    /// Where it applies.
    pub scope: Scope,
    /// What it does.
    pub action: Action,
    /// What the help says.
    pub description: &'static str,
    /// The word the status bar shows for it; empty when it is not shown.
    pub hint: &'static str,
}

const fn b(
    keys: &'static [Key],
    label: &'static str,
    scope: Scope,
    action: Action,
    description: &'static str,
    hint: &'static str,
) -> Binding {
    Binding {
        keys,
        label,
        scope,
        action,
        description,
        hint,
    }
}

use Key::{Char, Code, Ctrl};

/// Every key binding.
#[rustfmt::skip]
pub const KEYMAP: &[Binding] = &[
    b(&[Ctrl('c')], "C-c", Scope::Always, Action::ForceQuit, "quit now, even with unsaved changes", ""),
    b(&[Char('?')], "?", Scope::Main, Action::Help, "help (this overlay)", "help"),
    b(&[Char('q')], "q", Scope::Main, Action::Quit, "quit (asks when there are unsaved changes)", "quit"),
    b(&[Char('w')], "w", Scope::Main, Action::Save, "save the plan (atomic, keeps comments)", "save"),
    b(&[Char('m')], "m", Scope::Main, Action::Move, "move the selected member to another service", "move"),
    b(&[Char('p')], "p", Scope::Main, Action::Pin, "pin or unpin the selected member", "pin"),
    b(&[Char('r')], "r", Scope::Main, Action::Rename, "rename the selected service", "rename"),
    b(&[Char('n')], "n", Scope::NotSearching, Action::NewService, "new service", "new"),
    b(&[Char('e')], "e", Scope::Main, Action::Upstream, "set the upstream URL", ""),
    b(&[Char('E')], "E", Scope::Main, Action::Database, "set the database URL", ""),
    b(&[Char('M')], "M", Scope::Main, Action::Merge, "merge the selected service into another", ""),
    b(&[Char('D')], "D", Scope::Main, Action::Delete, "delete the selected service (only without routes and tables)", ""),
    b(&[Char('s')], "s", Scope::Main, Action::Stage, "set the selected route's or table's stage (valid moves only)", "stage"),
    b(&[Char('%')], "%", Scope::Main, Action::Percent, "set the selected canary route's percent", ""),
    b(&[Char('u')], "u", Scope::Main, Action::Undo, "undo", "undo"),
    b(&[Ctrl('r')], "C-r", Scope::Main, Action::Redo, "redo", ""),
    b(&[Char('S')], "S", Scope::Main, Action::Resuggest, "re-suggest services (keeps pins and your moves), then accept or reject", ""),
    b(&[Char('o')], "o", Scope::Main, Action::Sort, "sort routes/tables by the next column", ""),
    b(&[Char('O')], "O", Scope::Main, Action::Reverse, "reverse the sort (▲ ascending, ▼ descending)", ""),
    b(&[Char('j'), Code(KeyCode::Down)], "j/↓", Scope::Main, Action::Down, "next row", ""),
    b(&[Char('k'), Code(KeyCode::Up)], "k/↑", Scope::Main, Action::Up, "previous row", ""),
    b(&[Code(KeyCode::PageDown)], "PgDn", Scope::Main, Action::PageDown, "ten rows down", ""),
    b(&[Code(KeyCode::PageUp)], "PgUp", Scope::Main, Action::PageUp, "ten rows up", ""),
    b(&[Char('g'), Code(KeyCode::Home)], "g/Home", Scope::Main, Action::Top, "first row", ""),
    b(&[Char('G'), Code(KeyCode::End)], "G/End", Scope::Main, Action::Bottom, "last row", ""),
    b(&[Code(KeyCode::Tab), Char('l'), Code(KeyCode::Right)], "Tab", Scope::Main, Action::NextPane, "next pane", "pane"),
    b(&[Code(KeyCode::BackTab), Char('h'), Code(KeyCode::Left)], "S-Tab", Scope::Main, Action::PrevPane, "previous pane", ""),
    b(&[Char('1')], "1", Scope::Main, Action::ViewPlan, "services, members and details", ""),
    b(&[Char('2')], "2", Scope::Main, Action::ViewRoutes, "every route", ""),
    b(&[Char('3')], "3", Scope::Main, Action::ViewTables, "every table", ""),
    b(&[Char('4')], "4", Scope::Main, Action::ViewDsm, "coupling matrix", ""),
    b(&[Char('5')], "5", Scope::Main, Action::ViewMonolith, "the monolith's routes and code in no service", ""),
    b(&[Char('/')], "/", Scope::Main, Action::Filter, "filter the focused list", "filter"),
    b(&[Char('n')], "n", Scope::Searching, Action::NextMatch, "next match", "next"),
    b(&[Char('N')], "N", Scope::Searching, Action::PrevMatch, "previous match", ""),
    b(&[Code(KeyCode::Esc)], "Esc", Scope::Searching, Action::Close, "clear the filter", "clear"),
    b(&[Code(KeyCode::Esc)], "Esc", Scope::Busy, Action::Cancel, "stop waiting (the result is ignored)", "stop"),
    b(&[Code(KeyCode::Enter)], "Enter", Scope::Tree, Action::Toggle, "expand or collapse the module's functions", "expand"),
    b(&[Char('l'), Code(KeyCode::Right)], "l/→", Scope::Tree, Action::Expand, "expand; on an open module, its first function", ""),
    b(&[Char('h'), Code(KeyCode::Left)], "h/←", Scope::Tree, Action::Collapse, "collapse; on a function, its module's", ""),
    b(&[Char('j'), Code(KeyCode::Down)], "j/↓", Scope::Picker, Action::Down, "next choice", ""),
    b(&[Char('k'), Code(KeyCode::Up)], "k/↑", Scope::Picker, Action::Up, "previous choice", ""),
    b(&[Code(KeyCode::Enter)], "Enter", Scope::Picker, Action::Confirm, "choose", "choose"),
    b(&[Code(KeyCode::Esc), Char('q')], "Esc", Scope::Picker, Action::Close, "cancel", "cancel"),
    b(&[Code(KeyCode::Enter)], "Enter", Scope::Input, Action::Confirm, "confirm", "confirm"),
    b(&[Code(KeyCode::Esc)], "Esc", Scope::Input, Action::Close, "cancel", "cancel"),
    b(&[Char('w')], "w", Scope::Confirm, Action::SaveAndQuit, "save, then quit", "save+quit"),
    b(&[Char('y'), Char('q')], "y/q", Scope::Confirm, Action::Discard, "quit without saving", "discard"),
    b(&[Code(KeyCode::Esc), Char('n')], "Esc/n", Scope::Confirm, Action::Close, "stay", "stay"),
    b(&[Char('y'), Code(KeyCode::Enter)], "y/Enter", Scope::Diff, Action::Accept, "accept the suggestion", "accept"),
    b(&[Char('n'), Code(KeyCode::Esc)], "n/Esc", Scope::Diff, Action::Close, "reject it", "reject"),
    b(&[Char('j'), Code(KeyCode::Down)], "j/↓", Scope::Diff, Action::Down, "scroll down", ""),
    b(&[Char('k'), Code(KeyCode::Up)], "k/↑", Scope::Diff, Action::Up, "scroll up", ""),
    b(&[Code(KeyCode::Esc), Char('?'), Char('q')], "Esc/?/q", Scope::Help, Action::Close, "close the help", "close"),
    b(&[Char('j'), Code(KeyCode::Down)], "j/↓", Scope::Help, Action::Down, "scroll down", "scroll"),
    b(&[Char('k'), Code(KeyCode::Up)], "k/↑", Scope::Help, Action::Up, "scroll up", ""),
];

impl Key {
    /// Whether `event` is this key.
    #[must_use]
    pub fn matches(self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Key::Char(c) => !ctrl && event.code == KeyCode::Char(c),
            Key::Ctrl(c) => ctrl && event.code == KeyCode::Char(c),
            Key::Code(code) => !ctrl && event.code == code,
        }
    }
}

/// The action bound to `event` in the first of `scopes` that binds it.
#[must_use]
pub fn lookup(scopes: &[Scope], event: &KeyEvent) -> Option<Action> {
    scopes.iter().find_map(|scope| {
        KEYMAP
            .iter()
            .find(|b| b.scope == *scope && b.keys.iter().any(|k| k.matches(event)))
            .map(|b| b.action)
    })
}

/// The status bar hints for these scopes: `key label` pairs.
#[must_use]
pub fn hints(scopes: &[Scope]) -> Vec<(&'static str, &'static str)> {
    KEYMAP
        .iter()
        .filter(|b| !b.hint.is_empty() && scopes.contains(&b.scope))
        .map(|b| (b.label, b.hint))
        .collect()
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

/// The help overlay's lines, from [`KEYMAP`]: the main screen's keys in two
/// columns, then the members tree's, background work's and each popup's
/// keys on a line each.
#[must_use]
pub fn help_lines() -> Vec<String> {
    let main: Vec<String> = KEYMAP
        .iter()
        .filter(|b| {
            matches!(
                b.scope,
                Scope::Always | Scope::Main | Scope::NotSearching | Scope::Searching
            )
        })
        .map(|b| {
            let mut text = format!("{:<7} {}", b.label, b.description);
            if b.scope == Scope::Searching {
                text.push_str(" (filtering)");
            }
            text
        })
        .collect();
    let half = main.len().div_ceil(2);
    let mut lines: Vec<String> = (0..half)
        .map(|i| {
            let left = truncate(&main[i], 37);
            let right = main.get(i + half).map_or("", String::as_str);
            format!("{left:<38}{}", truncate(right, 37))
        })
        .collect();
    for scope in [
        Scope::Tree,
        Scope::Busy,
        Scope::Picker,
        Scope::Input,
        Scope::Confirm,
        Scope::Diff,
        Scope::Help,
    ] {
        let keys: Vec<String> = KEYMAP
            .iter()
            .filter(|b| b.scope == scope)
            .map(|b| format!("{} {}", b.label, b.description))
            .collect();
        let mut line = format!("{}:", scope.title());
        for key in keys {
            if line.chars().count() + key.chars().count() + 2 > 76 {
                lines.push(std::mem::replace(&mut line, "   ".to_owned()));
            }
            line.push(' ');
            line.push_str(&key);
            line.push(',');
        }
        line.pop();
        lines.push(line);
    }
    lines
}

/// `text` cut to `width` characters, the last one an ellipsis when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}
