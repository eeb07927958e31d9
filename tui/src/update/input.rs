//! Input: a key becomes a keymap action or a character typed into the open
//! text field; a click or the wheel selects in the pane under the mouse.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use crate::keymap::{Action, lookup, scopes};
use crate::layout;
use crate::model::{InputPurpose, Model, Pane, Popup};
use crate::update::navigate::{position, set_filter, set_position, step};

/// The action `key` is bound to where the model is; otherwise the key types
/// into the open text field (a filter narrows as it is typed).
pub(super) fn on_key(model: &mut Model, key: KeyEvent) -> Option<Action> {
    if let Some(action) = lookup(&scopes(model), &key) {
        return Some(action);
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

/// Focuses the pane under the mouse, and scrolls it with the wheel or
/// selects the row clicked; does nothing while a popup is open.
pub(super) fn on_mouse(model: &mut Model, mouse: MouseEvent) {
    if model.popup.is_some() {
        return;
    }
    let area = Rect::new(0, 0, model.size.0, model.size.1);
    let Some((pane, rect)) = layout::panes(area, model.focus, &model.status)
        .into_iter()
        .find(|(_, r)| r.contains((mouse.column, mouse.row).into()))
    else {
        return;
    };
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
            let (selected, len) = position(model, pane);
            let Some(target) = layout::row_at(pane, rect, selected, mouse.row) else {
                return;
            };
            if target < len {
                set_position(model, pane, target);
                if pane == Pane::Members {
                    model.row = model.first_selectable(target);
                }
            }
        }
        _ => {}
    }
}
