//! The status line: what the last key did, or why it did nothing.

use crate::model::Model;

/// Shows `text` in the status line.
pub(super) fn say(model: &mut Model, text: &str) {
    text.clone_into(&mut model.status);
}
