//! Where things are on screen: the panes' rectangles, which panes start
//! with a header row, and how a list scrolls. The view draws by these facts
//! and the mouse handler hit-tests by them, so a click lands on the row
//! drawn under it.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::model::Pane;

/// The smallest terminal the planner draws in.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// The most lines the status bar grows to; a longer message ends in `…`.
pub const MAX_STATUS_LINES: usize = 3;

/// The panes drawn for `focus` in `area` above the status message
/// `status`, with their rectangles (borders included), for drawing and for
/// mouse hit tests alike.
#[must_use]
pub fn panes(area: Rect, focus: Pane, status: &str) -> Vec<(Pane, Rect)> {
    let body = body(area, status_lines(status, area.width).len());
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
        Pane::Services | Pane::Routes | Pane::Tables | Pane::Dsm | Pane::Monolith => 1,
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

/// The area between the title and metrics bars at the top and the
/// `status_rows` status lines and the hint line at the bottom.
fn body(area: Rect, status_rows: usize) -> Rect {
    let rows = u16::try_from(status_rows).unwrap_or(u16::MAX);
    Rect {
        y: area.y + 2,
        height: area.height.saturating_sub(3).saturating_sub(rows),
        ..area
    }
}

/// The status message as the status bar shows it: wrapped at word
/// boundaries to `width` columns (a word longer than a line is split), at
/// least one line and at most [`MAX_STATUS_LINES`], the last ending in `…`
/// when the message is longer.
#[must_use]
pub fn status_lines(status: &str, width: u16) -> Vec<String> {
    let width = usize::from(width.max(2));
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in status.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let room = if used == 0 {
                width
            } else {
                width.saturating_sub(used + 1)
            };
            if word.len() <= room {
                if used > 0 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word wider than the line: as much as fits, the rest on the next.
            let rest = word.split_off(width);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    if lines.len() > MAX_STATUS_LINES {
        lines.truncate(MAX_STATUS_LINES);
        if let Some(last) = lines.last_mut() {
            while last.chars().count() + 1 > width {
                last.pop();
            }
            last.push('…');
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_wraps_at_words_and_ends_in_an_ellipsis_past_three_lines() {
        assert_eq!(status_lines("", 10), [""]);
        assert_eq!(status_lines("saved", 10), ["saved"]);
        assert_eq!(
            status_lines("not done: the route", 10),
            ["not done:", "the route"]
        );
        // A word wider than the line is split, never lost.
        assert_eq!(status_lines("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
        let long = status_lines("one two three four five six seven eight", 10);
        assert_eq!(long, ["one two", "three four", "five six…"]);
        assert!(long.iter().all(|l| l.chars().count() <= 10));
    }
}
