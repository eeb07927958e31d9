//! Where things are on screen: the panes' rectangles, which panes start
//! with a header row, and how a list scrolls. The view draws by these facts
//! and the mouse handler hit-tests by them, so a click lands on the row
//! drawn under it.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::model::Pane;

/// The smallest terminal the planner draws in.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// The panes drawn for `focus` in `area`, with their rectangles (borders
/// included), for drawing and for mouse hit tests alike.
#[must_use]
pub fn panes(area: Rect, focus: Pane) -> Vec<(Pane, Rect)> {
    let body = body(area);
    match focus {
        Pane::Services | Pane::Members | Pane::Details => {
            let columns =
                Layout::horizontal([Constraint::Length(32), Constraint::Min(0)]).split(body);
            let right = Layout::vertical([Constraint::Percentage(55), Constraint::Min(0)])
                .split(columns[1]);
            vec![
                (Pane::Services, columns[0]),
                (Pane::Members, right[0]),
                (Pane::Details, right[1]),
            ]
        }
        other => vec![(other, body)],
    }
}

/// How many header rows `pane` draws inside its border, above its rows:
/// the services list and the routes, tables and coupling views start with
/// a line of column titles; the members and details panes have none.
#[must_use]
pub fn header_rows(pane: Pane) -> usize {
    match pane {
        Pane::Services | Pane::Routes | Pane::Tables | Pane::Dsm => 1,
        Pane::Members | Pane::Details => 0,
    }
}

/// How many rows of its list `pane` shows when drawn in `rect` (borders
/// included): the rows inside the border, less the header.
#[must_use]
pub fn list_height(pane: Pane, rect: Rect) -> usize {
    usize::from(rect.height.saturating_sub(2)).saturating_sub(header_rows(pane))
}

/// The first visible row of a list `height` rows high when `selected` is
/// selected: the list scrolls just enough to show it.
#[must_use]
pub fn offset(selected: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        (selected + 1).saturating_sub(height)
    }
}

/// The index of the row of `pane`'s list drawn at screen row `y`, when
/// `pane` is drawn in `rect` with row `selected` selected; `None` on the
/// header. A click on the top border counts as one on the line below it,
/// and one on the bottom border as one on the row after the last shown.
#[must_use]
pub fn row_at(pane: Pane, rect: Rect, selected: usize, y: u16) -> Option<usize> {
    let line = usize::from(y.saturating_sub(rect.y + 1));
    let line = line.checked_sub(header_rows(pane))?;
    Some(offset(selected, list_height(pane, rect)) + line)
}

/// The area between the title and metrics bars at the top and the status
/// and hint lines at the bottom.
fn body(area: Rect) -> Rect {
    Rect {
        y: area.y + 2,
        height: area.height.saturating_sub(4),
        ..area
    }
}
