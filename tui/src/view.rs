//! Drawing: the model in, a frame out. Nothing here changes the model.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use strangler_analyzer::cluster::Evidence;
use strangler_plan::mask_url;

use crate::keymap::{Scope, help_lines, hints, scopes};
use crate::layout::{MIN_SIZE, header_rows, list_height, offset, panes, status_lines};
use crate::model::{
    InputPurpose, Model, MonolithItem, Pane, PickPurpose, Popup, ROUTE_COLUMNS, Row, Sort,
    TABLE_COLUMNS, conditions, unit_word,
};

/// Colours, or a monochrome theme when `NO_COLOR` is set: the selection is
/// then reverse video plus the `▶` marker, which every theme draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Whether to use colour.
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value.
    #[must_use]
    pub fn from_env() -> Self {
        Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn pick(self, color: Style, mono: Style) -> Style {
        if self.color { color } else { mono }
    }

    fn selected(self) -> Style {
        self.pick(
            Style::new()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }

    fn focus(self) -> Style {
        self.pick(
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    fn warn(self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    fn error(self) -> Style {
        self.pick(
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }

    fn dim(self) -> Style {
        self.pick(Style::new().fg(Color::DarkGray), Style::new())
    }

    fn hot(self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }

    fn header(self) -> Style {
        self.pick(
            Style::new().add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
}

/// Draws the whole screen.
pub fn view(frame: &mut Frame, model: &Model, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = vec![
            Line::from("strangler plan needs more room"),
            Line::from(format!(
                "at least {}×{}; this terminal is {}×{}",
                MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
            )),
            Line::from("enlarge the window, or press q to quit"),
        ];
        frame.render_widget(Paragraph::new(text), area);
        return;
    }
    title_bar(frame, model, theme, area);
    metrics_bar(frame, model, theme, area);
    for (pane, rect) in panes(area, model.focus, &model.status) {
        let focused = pane == model.focus;
        match pane {
            Pane::Services => services(frame, model, theme, rect, focused),
            Pane::Members => members(frame, model, theme, rect, focused),
            Pane::Details => details(frame, model, theme, rect, focused),
            Pane::Routes => routes(frame, model, theme, rect),
            Pane::Tables => tables(frame, model, theme, rect),
            Pane::Dsm => dsm(frame, model, theme, rect),
            Pane::Monolith => monolith(frame, model, theme, rect),
        }
    }
    let status: Vec<Line> = status_lines(&model.status, area.width)
        .into_iter()
        .map(Line::from)
        .collect();
    let rows = u16::try_from(status.len()).unwrap_or(1);
    let status_area = Rect::new(area.x, area.bottom() - 1 - rows, area.width, rows);
    frame.render_widget(Paragraph::new(status), status_area);
    // Whole hints only: one that does not fit is left out, never cut.
    let mut room = usize::from(area.width);
    let hint_spans: Vec<Span> = hints(&scopes(model))
        .into_iter()
        .take_while(|(key, word)| {
            let wide = key.chars().count() + word.chars().count() + 2;
            let fits = wide <= room + 1;
            room = room.saturating_sub(wide);
            fits
        })
        .flat_map(|(key, word)| {
            [
                Span::styled(key, theme.header()),
                Span::raw(format!(" {word} ")),
            ]
        })
        .collect();
    let hint_area = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    frame.render_widget(Paragraph::new(Line::from(hint_spans)), hint_area);
    if let Some(popup) = &model.popup {
        draw_popup(frame, model, theme, popup, area);
    }
}

fn title_bar(frame: &mut Frame, model: &Model, theme: Theme, area: Rect) {
    let mut spans = vec![
        Span::styled("strangler plan ", theme.header()),
        Span::raw(model.file.clone()),
    ];
    if model.dirty() {
        spans.push(Span::styled(" [modified]", theme.warn()));
    }
    if model.read_only() {
        spans.push(Span::styled(" [read-only]", theme.error()));
    }
    spans.push(Span::raw("  "));
    for (key, pane, label) in [
        ("1", Pane::Services, "plan"),
        ("2", Pane::Routes, "routes"),
        ("3", Pane::Tables, "tables"),
        ("4", Pane::Dsm, "coupling"),
        ("5", Pane::Monolith, "monolith"),
    ] {
        let on = pane == model.focus
            || (pane == Pane::Services && matches!(model.focus, Pane::Members | Pane::Details));
        let style = if on { theme.selected() } else { Style::new() };
        spans.push(Span::styled(format!("{key} {label}"), style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)),
        Rect::new(area.x, area.y, area.width, 1),
    );
}

/// The spinner's frames, one per tick.
const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

fn metrics_bar(frame: &mut Frame, model: &Model, theme: Theme, area: Rect) {
    let busy = model.busy.as_ref().map(|b| {
        let ticks = model.ticks.saturating_sub(b.started);
        #[allow(clippy::cast_possible_truncation)]
        let frame = SPINNER[(ticks % SPINNER.len() as u64) as usize];
        let phase = if b.phase.is_empty() {
            String::new()
        } else {
            format!(": {}", b.phase)
        };
        Span::styled(
            format!(
                "{frame} {}{phase}… {}.{} s  ",
                b.what,
                ticks / 10,
                ticks % 10
            ),
            theme.warn(),
        )
    });
    let line = match (&model.eval, &model.change) {
        (None, _) if busy.is_some() => Line::from(busy.clone().into_iter().collect::<Vec<_>>()),
        (None, _) => Line::styled(
            "metrics need the analysis: open with --repo PATH or --analysis FILE",
            theme.dim(),
        ),
        (Some(eval), None) => {
            let m = &eval.metrics;
            Line::from(format!(
                "modularity {:.3}  cross-service calls {}  shared tables {}  services {}",
                m.modularity, m.cross_service_calls, m.shared_tables, m.services
            ))
        }
        (Some(_), Some(c)) => {
            let (b, a) = (&c.before, &c.after);
            let mut spans = vec![Span::raw(format!(
                "modularity {:.3}→{:.3}  cross calls {}→{}  shared tables {}→{}",
                b.modularity,
                a.modularity,
                b.cross_service_calls,
                a.cross_service_calls,
                b.shared_tables,
                a.shared_tables
            ))];
            spans.push(Span::styled(format!("  ({})", c.what), theme.dim()));
            Line::from(spans)
        }
    };
    let line = match busy {
        Some(span) if model.eval.is_some() => {
            let mut spans = vec![span];
            spans.extend(line.spans);
            Line::from(spans)
        }
        _ => line,
    };
    frame.render_widget(
        Paragraph::new(line),
        Rect::new(area.x, area.y + 1, area.width, 1),
    );
}

fn block(title: String, focused: bool, theme: Theme) -> Block<'static> {
    let block = Block::bordered().title(title);
    if focused {
        block.border_style(theme.focus())
    } else {
        block
    }
}

/// Draws `pane`'s rows in a bordered box, scrolled to show `selected`, with
/// the selection marked by `▶` and the theme's selection style. `header` is
/// the line of column titles of a pane that [`header_rows`] gives one.
#[allow(clippy::too_many_arguments)]
fn list(
    frame: &mut Frame,
    rect: Rect,
    pane: Pane,
    title: String,
    header: Option<Line<'static>>,
    rows: Vec<Line<'static>>,
    selected: Option<usize>,
    focused: bool,
    theme: Theme,
) {
    let block = block(title, focused, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let height = list_height(pane, rect);
    let mut lines: Vec<Line> = header
        .into_iter()
        .take(header_rows(pane))
        .map(|h| h.style(theme.header()))
        .collect();
    let first = offset(selected.unwrap_or(0), height);
    for (i, row) in rows.into_iter().enumerate().skip(first).take(height) {
        let is_selected = Some(i) == selected;
        let marker = if is_selected && focused {
            "▶ "
        } else if is_selected {
            "› "
        } else {
            "  "
        };
        let mut spans = vec![Span::raw(marker)];
        spans.extend(row.spans);
        let mut line = Line::from(spans).style(row.style);
        if is_selected && focused {
            line = line.style(theme.selected());
        } else if is_selected {
            line = line.style(theme.header());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The filter's mark for a pane title: ` /text`, or nothing.
fn filter_mark(model: &Model, pane: Pane) -> String {
    model
        .filter_of(pane)
        .map(|f| format!(" /{f} (Esc clears)"))
        .unwrap_or_default()
}

/// `shown of all`, or `all` when nothing is filtered out.
fn count(shown: usize, all: usize) -> String {
    if shown == all {
        all.to_string()
    } else {
        format!("{shown} of {all}")
    }
}

fn services(frame: &mut Frame, model: &Model, theme: Theme, rect: Rect, focused: bool) {
    let metrics: BTreeMap<&str, _> = model
        .eval
        .iter()
        .flat_map(|e| &e.services)
        .map(|s| (s.name.as_str(), &s.metrics))
        .collect();
    let visible = model.visible_services();
    let rows = visible
        .iter()
        .map(|&i| {
            let s = &model.plan.services[i];
            let text = match metrics.get(s.name.as_str()) {
                Some(m) => format!(
                    "{:<13.13} {:>3} {:>4.2} {:>5.0}",
                    s.name, m.size, m.cohesion, m.coupling
                ),
                None => format!("{:<13.13} {:>3}", s.name, s.members.len()),
            };
            Line::from(text)
        })
        .collect();
    list(
        frame,
        rect,
        Pane::Services,
        format!(
            "Services ({}){}",
            count(visible.len(), model.plan.services.len()),
            filter_mark(model, Pane::Services)
        ),
        Some(Line::from("  name          size coh  coupl")),
        rows,
        visible.iter().position(|&i| i == model.service),
        focused,
        theme,
    );
}

fn members(frame: &mut Frame, model: &Model, theme: Theme, rect: Rect, focused: bool) {
    let Some(service) = model.plan.services.get(model.service) else {
        list(
            frame,
            rect,
            Pane::Members,
            "Members".to_owned(),
            None,
            vec![Line::from("no services yet: n creates one")],
            None,
            focused,
            theme,
        );
        return;
    };
    let missing: Vec<&str> = model.missing().iter().map(String::as_str).collect();
    let all = model.rows();
    // A member is shown open when its functions follow it.
    let open: Vec<bool> = (0..all.len())
        .map(|i| matches!(all.get(i + 1), Some(Row::Function { .. })))
        .collect();
    let rows = all
        .into_iter()
        .zip(open)
        .map(|(row, open)| match row {
            Row::Header(h) => Line::styled(h, theme.header()),
            Row::Member {
                id,
                depth,
                label,
                functions,
            } => {
                let mark = if functions == 0 {
                    "  "
                } else if open {
                    "▾ "
                } else {
                    "▸ "
                };
                let mut spans = vec![Span::raw(format!("{}{mark}{label}", "  ".repeat(depth)))];
                if functions > 0 {
                    spans.push(Span::styled(format!(" ({functions} fn)"), theme.dim()));
                }
                if service.pinned.contains(&id) {
                    spans.push(Span::styled(" [pinned]", theme.warn()));
                }
                if missing.iter().any(|w| w.contains(&format!("`{id}`"))) {
                    spans.push(Span::styled(" [not in analysis]", theme.error()));
                }
                Line::from(spans)
            }
            Row::Function { depth, label, .. } => Line::from(vec![
                Span::raw(format!("{}  ", "  ".repeat(depth))),
                Span::styled("fn ", theme.dim()),
                Span::raw(label),
            ]),
            Row::Table(i) => {
                let t = &service.tables[i];
                let own = model.ownership(&service.name, &t.name);
                let own_style = if own == "decide" {
                    theme.hot()
                } else {
                    theme.dim()
                };
                Line::from(vec![
                    Span::raw(format!("{:<20} ", t.name)),
                    Span::raw(format!("{:<14} ", t.stage.as_str())),
                    Span::styled(own, own_style),
                ])
            }
            Row::Route(i) => {
                let r = &service.routes[i];
                let percent = r.percent.map(|p| format!(" {p}%")).unwrap_or_default();
                let path = r.path.to_string();
                Line::from(vec![
                    Span::raw(format!("{:<9.9} ", r.methods_label())),
                    Span::raw(format!("{path} ")),
                    Span::raw(format!("{}{percent}", r.stage)),
                ])
            }
        })
        .collect();
    list(
        frame,
        rect,
        Pane::Members,
        format!(
            "{} ({}){}",
            Pane::Members.title(),
            service.name,
            filter_mark(model, Pane::Members)
        ),
        None,
        rows,
        Some(model.row),
        focused,
        theme,
    );
}

fn details(frame: &mut Frame, model: &Model, theme: Theme, rect: Rect, focused: bool) {
    let mut lines: Vec<Line<'static>> = Vec::new();
    if model.read_only() {
        lines.push(Line::styled(
            "the plan is invalid; nothing can be edited or saved:",
            theme.error(),
        ));
        lines.extend(model.errors.iter().map(|e| Line::from(e.clone())));
    }
    let missing = model.missing();
    if !missing.is_empty() {
        lines.push(Line::styled(
            format!(
                "⚠ {} plan entries are not in the analysis (stale?):",
                missing.len()
            ),
            theme.warn(),
        ));
        lines.extend(
            missing
                .iter()
                .take(5)
                .map(|w| Line::styled(format!("  {w}"), theme.warn())),
        );
    }
    lines.extend(selection_details(model, theme));
    let block = block(Pane::Details.title().to_owned(), focused, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let scroll = u16::try_from(model.details_scroll).unwrap_or(u16::MAX);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}

fn selection_details(model: &Model, theme: Theme) -> Vec<Line<'static>> {
    let Some(service) = model.plan.services.get(model.service) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if model.focus == Pane::Services {
        return service_details(service, theme);
    }
    match model.rows().get(model.row) {
        Some(Row::Function { id, member, .. }) => {
            return function_details(model, theme, id, member, &service.name);
        }
        Some(Row::Member { id, .. }) => return member_details(model, theme, id, &service.name),
        Some(Row::Table(i)) => {
            let t = &service.tables[*i];
            out.push(Line::styled(format!("table {}", t.name), theme.header()));
            let next: Vec<&str> = t
                .stage
                .next_stages()
                .into_iter()
                .filter(|s| *s != t.stage)
                .map(strangler_plan::TableStage::as_str)
                .collect();
            out.push(Line::from(format!(
                "stage {}; can move to: {}",
                t.stage,
                if next.is_empty() {
                    "nothing (final)".to_owned()
                } else {
                    next.join(", ")
                }
            )));
            out.push(Line::from(format!(
                "ownership: {}",
                model.ownership(&service.name, &t.name)
            )));
            if let Some(d) = model
                .eval
                .as_ref()
                .and_then(|e| e.tables_needing_decision.iter().find(|d| d.table == t.name))
            {
                let writers: Vec<String> = d
                    .writers
                    .iter()
                    .map(|(s, n)| format!("{s} ({n})"))
                    .collect();
                out.push(Line::styled(
                    format!("written by: {}", writers.join(", ")),
                    theme.hot(),
                ));
            } else if !t.writers.is_empty() {
                out.push(Line::styled(
                    format!(
                        "needs a decision: written by {} (the plan's `writers`)",
                        t.writers.join(", ")
                    ),
                    theme.hot(),
                ));
            }
        }
        Some(Row::Route(i)) => {
            let r = &service.routes[*i];
            out.push(Line::styled(
                format!("route {} {}", r.methods_label(), r.path),
                theme.header(),
            ));
            let when = conditions(r);
            if !when.is_empty() {
                out.push(Line::from(format!("only when {when}")));
            }
            out.push(Line::from(format!(
                "stage {}{}{}",
                r.stage,
                r.percent.map(|p| format!(", {p}%")).unwrap_or_default(),
                r.sticky
                    .as_ref()
                    .map(|s| format!(", sticky {s}"))
                    .unwrap_or_default()
            )));
        }
        _ => {}
    }
    out
}

/// A service: where it answers and where its data lives (passwords masked),
/// and what it holds.
fn service_details(service: &strangler_plan::Service, theme: Theme) -> Vec<Line<'static>> {
    let unset = |key: &str, what: &str| format!("{key}: not set ({what})");
    vec![
        Line::styled(format!("service {}", service.name), theme.header()),
        Line::from(service.upstream.as_deref().map_or_else(
            || {
                unset(
                    "upstream",
                    "e sets it; needed before a route leaves the monolith",
                )
            },
            |u| format!("upstream: {}", mask_url(u)),
        )),
        Line::from(service.database.as_deref().map_or_else(
            || unset("database", "E sets it; needed before a table syncs"),
            |d| format!("database: {}", mask_url(d)),
        )),
        Line::from(format!(
            "{} members, {} routes, {} tables",
            service.members.len(),
            service.routes.len(),
            service.tables.len()
        )),
    ]
}

/// A member: what it is, where, why the analyzer puts it here, and its
/// ties to other services.
fn member_details(model: &Model, theme: Theme, id: &str, own: &str) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let word = unit_word(model.granularity());
    out.push(Line::styled(format!("{word} {id}"), theme.header()));
    if let Some(place) = place(model, id) {
        out.push(Line::from(format!("defined at {place}")));
    }
    let reason = model
        .eval
        .as_ref()
        .and_then(|e| e.services.iter().find(|s| s.name == own))
        .and_then(|s| s.reasons.get(id));
    let Some(reason) = reason else {
        out.push(Line::styled(
            "no reason: the analysis does not know this member",
            theme.dim(),
        ));
        return out;
    };
    if reason.pinned {
        out.push(Line::from("pinned: the analyzer keeps it here"));
    }
    out.push(Line::from(format!(
        "here because: {}",
        reason.because.join("; ")
    )));
    if let Some(runner) = &reason.runner_up {
        out.push(Line::from(format!(
            "runner-up {runner}; moving there cuts {:.1}: {}",
            reason.move_cost_weight,
            reason.move_cost.join("; ")
        )));
    }
    let ties = cross_ties(model, id, own);
    out.push(Line::styled(
        format!("cross-service ties ({}):", ties.len()),
        theme.header(),
    ));
    out.extend(ties.into_iter().map(|t| Line::styled(t, theme.hot())));
    out
}

/// `file:line` of a node of the analysis.
fn place(model: &Model, id: &str) -> Option<String> {
    let analyzed = model.analyzed.as_ref()?;
    let node = &analyzed.analysis.nodes[*analyzed.node_index.get(id)?];
    let file = node.file.as_ref()?;
    Some(match node.line {
        Some(line) => format!("{file}:{line}"),
        None => file.clone(),
    })
}

/// A function inside a member: where it is, and the calls, reads and writes
/// that cross from it into other services or from them into it.
fn function_details(
    model: &Model,
    theme: Theme,
    id: &str,
    member: &str,
    own: &str,
) -> Vec<Line<'static>> {
    let word = unit_word(model.granularity());
    let mut out = vec![
        Line::styled(format!("fn {id}"), theme.header()),
        Line::from(format!(
            "in {word} {member} of {own}; it moves with its {word} (select the {word} to move it)"
        )),
    ];
    if let Some(place) = place(model, id) {
        out.push(Line::from(format!("defined at {place}")));
    }
    let Some(analyzed) = &model.analyzed else {
        return out;
    };
    let owners = &model.owners;
    let service_of = |node: &str| -> Option<&str> {
        if node.starts_with("table:") {
            return owners.get(node).map(String::as_str);
        }
        owners
            .get(analyzed.coupling.unit_of(node)?)
            .map(String::as_str)
    };
    let mut lines: Vec<(u32, String)> = Vec::new();
    for &e in analyzed.edges_of.get(id).map_or(&[][..], Vec::as_slice) {
        let edge = &analyzed.analysis.edges[e];
        let (other, outgoing) = if edge.from == id {
            (&edge.to, true)
        } else {
            (&edge.from, false)
        };
        let Some(theirs) = service_of(other) else {
            continue;
        };
        if theirs == own {
            continue;
        }
        let verb = match (edge.kind, outgoing) {
            (strangler_analyzer::EdgeKind::Calls, true) => "→ calls",
            (strangler_analyzer::EdgeKind::Calls, false) => "← called by",
            (strangler_analyzer::EdgeKind::Reads, _) => "→ reads",
            (_, true) => "→ writes",
            (_, false) => "← written by",
        };
        lines.push((
            edge.weight,
            format!("{verb} {other} ({theirs}) ×{}", edge.weight),
        ));
    }
    lines.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    out.push(Line::styled(
        format!("cross-service edges ({}):", lines.len()),
        theme.header(),
    ));
    out.extend(lines.into_iter().map(|(_, l)| Line::styled(l, theme.hot())));
    out
}

/// The ties of `member` to units in other services, heaviest first.
fn cross_ties(model: &Model, member: &str, own: &str) -> Vec<String> {
    let Some(analyzed) = &model.analyzed else {
        return Vec::new();
    };
    let service_of = &model.owners;
    let mut ties: Vec<(f64, String)> = analyzed
        .coupling
        .ties(member)
        .filter_map(|tie| {
            let (id, theirs) = (tie.other, service_of.get(tie.other)?);
            if *theirs == own {
                return None;
            }
            let what = describe(tie.evidence, tie.forward);
            Some((tie.weight, format!("{what} {id} ({theirs})")))
        })
        .collect();
    ties.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ties.into_iter().map(|(_, t)| t).collect()
}

fn describe(e: &Evidence, forward: bool) -> &'static str {
    let (calls, called_by) = if forward {
        (e.calls, e.called_by)
    } else {
        (e.called_by, e.calls)
    };
    if e.writes > 0 {
        "writes/written"
    } else if e.reads > 0 {
        "reads/read"
    } else if calls > 0 {
        "calls"
    } else if called_by > 0 {
        "called by"
    } else if e.types > 0 {
        "shares types"
    } else {
        "tied to"
    }
}

/// A column title with the sort mark, padded to `width`.
fn column(names: &[&str], sort: Sort, i: usize, width: usize) -> String {
    format!("{:<width$}", format!("{}{}", names[i], sort.mark(i)))
}

fn routes(frame: &mut Frame, model: &Model, theme: Theme, rect: Rect) {
    let shown = model.all_routes();
    let all: usize = model.plan.services.iter().map(|s| s.routes.len()).sum();
    let rows = shown
        .iter()
        .map(|&(s, r)| {
            let svc = &model.plan.services[s];
            let route = &svc.routes[r];
            Line::from(format!(
                "{:<14.14} {:<10.10} {:<34} {:<9} {:<4} {}",
                svc.name,
                route.methods_label(),
                route.path.to_string(),
                route.stage.as_str(),
                route.percent.map(|p| format!("{p}%")).unwrap_or_default(),
                conditions(route)
            ))
        })
        .collect();
    let sort = model.route_sort;
    let c = |i, w| column(&ROUTE_COLUMNS, sort, i, w);
    list(
        frame,
        rect,
        Pane::Routes,
        format!(
            "Routes ({}){}  o sorts by the next column, O reverses",
            count(shown.len(), all),
            filter_mark(model, Pane::Routes)
        ),
        Some(Line::from(format!(
            "  {} {} {} {} {} {}",
            c(0, 14),
            c(1, 10),
            c(2, 34),
            c(3, 9),
            c(4, 4),
            ROUTE_COLUMNS[5]
        ))),
        rows,
        Some(model.route_row),
        true,
        theme,
    );
}

/// What the monolith serves outside the plan: its routes no service lists
/// and its code in no service, each movable into a service with `m`.
fn monolith(frame: &mut Frame, model: &Model, theme: Theme, rect: Rect) {
    if model.analyzed.is_none() {
        frame.render_widget(
            Paragraph::new(
                "the monolith's routes and code need the analysis: open with --repo or --analysis",
            )
            .block(block("Monolith".to_owned(), true, theme)),
            rect,
        );
        return;
    }
    let items = model.monolith_items();
    let routes = items
        .iter()
        .filter(|i| matches!(i, MonolithItem::Route(_)))
        .count();
    // The path or id gets what the note can spare, up to 48 columns.
    let inner = usize::from(rect.width.saturating_sub(4));
    let path = inner.saturating_sub(6 + 10 + 28).clamp(20, 48);
    // A long note keeps its end (a handler's own name), not its start.
    let room = inner.saturating_sub(2 + 6 + 10 + path + 1);
    let line = |c: &[String; 4]| {
        let count = c[3].chars().count();
        let note = if count > room && room > 1 {
            let tail: String = c[3].chars().skip(count - (room - 1)).collect();
            format!("…{tail}")
        } else {
            c[3].clone()
        };
        format!(
            "{:<5} {:<9.9} {:<path$.path$} {note}",
            c[0],
            c[1],
            c[2],
            path = path
        )
    };
    let rows = items
        .iter()
        .map(|i| Line::from(line(&i.columns())))
        .collect();
    let header = ["what", "methods", "path or id", "note"].map(str::to_owned);
    list(
        frame,
        rect,
        Pane::Monolith,
        format!(
            "Monolith: {routes} routes, {} units in no service{} (m moves one)",
            items.len() - routes,
            filter_mark(model, Pane::Monolith)
        ),
        Some(Line::from(format!("  {}", line(&header)))),
        rows,
        Some(model.monolith_row),
        true,
        theme,
    );
}

fn tables(frame: &mut Frame, model: &Model, theme: Theme, rect: Rect) {
    let shown = model.all_tables();
    let all: usize = model.plan.services.iter().map(|s| s.tables.len()).sum();
    let rows = shown
        .iter()
        .map(|&(s, t)| {
            let svc = &model.plan.services[s];
            let table = &svc.tables[t];
            Line::from(format!(
                "{:<14.14} {:<28.28} {:<15} {}",
                svc.name,
                table.name,
                table.stage.as_str(),
                model.ownership(&svc.name, &table.name)
            ))
        })
        .collect();
    let sort = model.table_sort;
    let c = |i, w| column(&TABLE_COLUMNS, sort, i, w);
    list(
        frame,
        rect,
        Pane::Tables,
        format!(
            "Tables ({}){}  o sorts by the next column, O reverses",
            count(shown.len(), all),
            filter_mark(model, Pane::Tables)
        ),
        Some(Line::from(format!(
            "  {} {} {} {}",
            c(0, 14),
            c(1, 28),
            c(2, 15),
            c(3, 9)
        ))),
        rows,
        Some(model.table_row),
        true,
        theme,
    );
}

fn dsm(frame: &mut Frame, model: &Model, theme: Theme, rect: Rect) {
    let names: Vec<&str> = model
        .plan
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let mut cells: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for link in model.eval.iter().flat_map(|e| &e.links) {
        cells.insert(
            (link.from.as_str(), link.to.as_str()),
            link.calls + link.reads + link.writes,
        );
    }
    let label_width = 18;
    let block = block(
        "Coupling matrix: row depends on column (calls + reads + writes)".to_owned(),
        true,
        theme,
    );
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    if model.eval.is_none() {
        frame.render_widget(
            Paragraph::new("the coupling matrix needs the analysis: --repo or --analysis"),
            inner,
        );
        return;
    }
    let columns = ((inner.width as usize).saturating_sub(label_width) / 5).min(names.len());
    let mut header = vec![Span::raw(format!("{:label_width$}", ""))];
    header.extend((0..columns).map(|j| Span::styled(format!("{:>5}", j + 1), theme.header())));
    let mut lines = vec![Line::from(header)];
    let height = list_height(Pane::Dsm, rect);
    let first = offset(model.dsm_row, height);
    for (i, from) in names.iter().enumerate().skip(first).take(height) {
        let selected = i == model.dsm_row;
        let label = format!(
            "{}{:>2} {:<13.13}",
            if selected { "▶" } else { " " },
            i + 1,
            from
        );
        let mut spans = vec![Span::styled(
            format!("{label:<label_width$}"),
            if selected {
                theme.selected()
            } else {
                Style::new()
            },
        )];
        for to in names.iter().take(columns) {
            let span = if from == to {
                Span::styled(format!("{:>5}", "■"), theme.dim())
            } else {
                match cells.get(&(*from, *to)) {
                    Some(&n) if n > 0 => Span::styled(format!("{n:>5}"), theme.hot()),
                    _ => Span::styled(format!("{:>5}", "·"), theme.dim()),
                }
            };
            spans.push(span);
        }
        lines.push(Line::from(spans));
    }
    if columns < names.len() {
        lines.push(Line::styled(
            format!(
                "columns 1–{columns} of {} shown; widen the terminal for more",
                names.len()
            ),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width.saturating_sub(2));
    let height = height.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

fn draw_popup(frame: &mut Frame, model: &Model, theme: Theme, popup: &Popup, area: Rect) {
    let (title, lines, width, height): (String, Vec<Line>, u16, u16) = match popup {
        Popup::Help { scroll } => help_popup(*scroll, area),
        Popup::Pick {
            purpose,
            choices,
            selected,
        } => {
            let title = match purpose {
                PickPurpose::Move { member } => {
                    format!("Move {} {member} to", unit_word(model.granularity()))
                }
                PickPurpose::Merge => "Merge the service into".to_owned(),
                PickPurpose::AdoptRoute(u) => {
                    format!("Put {} {} into", u.route.methods_label(), u.route.path)
                }
                PickPurpose::RouteStage(..) => "Route stage (valid moves)".to_owned(),
                PickPurpose::TableStage(..) => "Table stage (valid moves)".to_owned(),
            };
            let height = choices.len().min(14) as u16 + 2;
            let first = offset(*selected, height as usize - 2);
            let lines = choices
                .iter()
                .enumerate()
                .skip(first)
                .map(|(i, c)| {
                    if i == *selected {
                        Line::styled(format!("▶ {c}"), theme.selected())
                    } else {
                        Line::from(format!("  {c}"))
                    }
                })
                .collect();
            let width = (title.chars().count() as u16 + 4).max(30);
            (title, lines, width, height)
        }
        Popup::Input { purpose, text } => {
            let title = match purpose {
                InputPurpose::Rename => "Rename service",
                InputPurpose::NewService => "New service name",
                InputPurpose::Percent => "Canary percent (0–100)",
                InputPurpose::Upstream => "Upstream URL (http://host:port; empty removes)",
                InputPurpose::Database => "Database URL (postgres://…; empty removes)",
                InputPurpose::Filter(pane) => &format!("Filter {} (Enter keeps it)", pane.title()),
            };
            // A URL's password is never drawn, even while it is typed.
            let (shown, width) = match purpose {
                InputPurpose::Upstream | InputPurpose::Database => (mask_url(text), 72),
                _ => (text.clone(), 40),
            };
            // The end of a long text, where the cursor is, stays in view.
            let room = usize::from(width).saturating_sub(3);
            let count = shown.chars().count();
            let tail: String = shown.chars().skip(count.saturating_sub(room)).collect();
            (
                title.to_owned(),
                vec![Line::from(format!("{tail}_"))],
                width,
                3,
            )
        }
        Popup::ConfirmQuit => {
            let keys: Vec<String> = hints(&[Scope::Confirm])
                .into_iter()
                .map(|(k, w)| format!("{k} {w}"))
                .collect();
            (
                "Unsaved changes".to_owned(),
                vec![
                    Line::from("The plan has unsaved changes."),
                    Line::from(keys.join("  ")),
                ],
                50,
                4,
            )
        }
        Popup::Diff { lines, scroll, .. } => {
            let shown: Vec<Line> = lines
                .iter()
                .skip(*scroll)
                .map(|l| Line::from(l.clone()))
                .collect();
            (
                format!(
                    "Re-suggestion: {} changes (y accept, n reject)",
                    lines.len()
                ),
                shown,
                76,
                18,
            )
        }
    };
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title).border_style(theme.focus())),
        rect,
    );
}

/// The help overlay's title, lines, width and height, scrolled when the
/// terminal is too low for all of it.
fn help_popup(scroll: usize, area: Rect) -> (String, Vec<Line<'static>>, u16, u16) {
    let all = help_lines();
    let h = all.len() as u16 + 2;
    let room = area.height.saturating_sub(2).min(h).saturating_sub(2) as usize;
    let scroll = scroll.min(all.len().saturating_sub(room));
    let title = if room < all.len() {
        format!(
            "Keys (?): lines {}–{} of {}, j/k scroll",
            scroll + 1,
            (scroll + room).min(all.len()),
            all.len()
        )
    } else {
        "Keys (?)".to_owned()
    };
    (
        title,
        all.into_iter().skip(scroll).map(Line::from).collect(),
        78,
        h,
    )
}
