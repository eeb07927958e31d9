//! Showing a suggestion: text, JSON, service-level DOT and Mermaid, and a
//! self-contained HTML report with an SVG service graph and the coupling
//! matrix (no network, no CDN, no JavaScript needed).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::suggest::Suggestion;
use crate::Analysis;

/// The analysis and the suggestion, as one JSON document.
#[derive(Serialize)]
struct Full<'a> {
    #[serde(flatten)]
    analysis: &'a Analysis,
    #[serde(flatten)]
    suggestion: &'a Suggestion,
}

/// The graph and the suggested services as one JSON document: `nodes`,
/// `edges`, `diagnostics`, `stats`, `services`, `metrics` and the rest.
#[must_use]
pub fn json(analysis: &Analysis, suggestion: &Suggestion) -> String {
    serde_json::to_string_pretty(&Full {
        analysis,
        suggestion,
    })
    .map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |s| s + "\n")
}

/// The suggestion for people: services with their members, tables and
/// routes, the metrics, and what needs a decision.
#[must_use]
pub fn text(s: &Suggestion) -> String {
    let mut out = String::new();
    let m = &s.metrics;
    let _ = writeln!(
        out,
        "\nsuggested services: {} at {:?} granularity (resolution {:.2})",
        s.services.len(),
        s.granularity,
        s.resolution
    );
    let _ = writeln!(
        out,
        "  modularity {:.3}, SM {:.3}, ICP {:.3}, IFN {:.2}, NED {:.3}, {} cross-service calls, {} shared tables",
        m.modularity, m.sm, m.icp, m.ifn, m.ned, m.cross_service_calls, m.shared_tables
    );
    if let Some(c) = &s.comparison {
        let _ = writeln!(
            out,
            "  against the reference: MoJoFM {:.1}, adjusted Rand index {:.3} (one-service baseline: MoJoFM {:.1})",
            c.mojofm, c.ari, c.baseline_mojofm
        );
        let _ = writeln!(
            out,
            "  scored {} of the reference's {} units; {} of its {} business modules left in shared; {} units of the analysis not in the reference (not scored)",
            c.scored,
            c.truth_units,
            c.business_modules_shared,
            c.business_modules,
            c.unlabelled.len()
        );
        if !c.missing.is_empty() {
            let _ = writeln!(
                out,
                "  {} units of the reference are not in the analysis (scored as singletons): {}",
                c.missing.len(),
                c.missing.join(", ")
            );
        }
    }
    for service in &s.services {
        let _ = writeln!(
            out,
            "\n  {}  ({} members, {} tables, {} routes; cohesion {:.2}, {} calls out, {} in)",
            service.name,
            service.members.len(),
            service.tables.len(),
            service.routes.len(),
            service.metrics.cohesion,
            service.metrics.calls_out,
            service.metrics.calls_in
        );
        for member in &service.members {
            let pin = if service.pinned.contains(member) {
                " [pinned]"
            } else {
                ""
            };
            let why = service
                .reasons
                .get(member)
                .and_then(|r| r.because.first())
                .map(String::as_str)
                .unwrap_or_default();
            let _ = writeln!(out, "    {member}{pin}: {why}");
        }
        if !service.tables.is_empty() {
            let _ = writeln!(out, "    tables: {}", service.tables.join(", "));
        }
    }
    if !s.shared.is_empty() {
        let _ = writeln!(
            out,
            "\n  shared (used by many services, in none): {}",
            s.shared.join(", ")
        );
    }
    for t in &s.tables_needing_decision {
        let writers: Vec<String> = t.writers.iter().map(|(w, n)| format!("{w} {n}")).collect();
        let _ = writeln!(
            out,
            "  needs a decision: table {} is written by {} (suggested owner {})",
            t.table,
            writers.join(", "),
            t.owner
        );
    }
    for w in &s.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}

/// Services as a Graphviz DOT graph: node labels carry sizes, edge labels
/// and widths the coupling.
#[must_use]
pub fn dot(s: &Suggestion) -> String {
    let mut out = String::from(
        "digraph services {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    for service in &s.services {
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\n{} members, {} tables\"];",
            service.name,
            service.name,
            service.members.len(),
            service.tables.len()
        );
    }
    let max = s.links.iter().map(|l| l.weight).fold(1.0f64, f64::max);
    for l in s.links.iter().filter(|l| l.calls + l.reads + l.writes > 0) {
        let width = 1.0 + 4.0 * l.weight / max;
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\", penwidth={width:.1}];",
            l.from,
            l.to,
            link_label(l.calls, l.reads, l.writes)
        );
    }
    out.push_str("}\n");
    out
}

/// Services as a Mermaid flowchart.
#[must_use]
pub fn mermaid(s: &Suggestion) -> String {
    let mut out = String::from("graph LR\n");
    let ids: BTreeMap<&str, String> = s
        .services
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.as_str(), format!("s{i}")))
        .collect();
    for service in &s.services {
        let _ = writeln!(
            out,
            "  {}[\"{} ({} members)\"]",
            ids[service.name.as_str()],
            service.name,
            service.members.len()
        );
    }
    for l in s.links.iter().filter(|l| l.calls + l.reads + l.writes > 0) {
        if let (Some(a), Some(b)) = (ids.get(l.from.as_str()), ids.get(l.to.as_str())) {
            let _ = writeln!(
                out,
                "  {a} -->|{}| {b}",
                link_label(l.calls, l.reads, l.writes)
            );
        }
    }
    out
}

fn link_label(calls: u32, reads: u32, writes: u32) -> String {
    let mut parts = Vec::new();
    if calls > 0 {
        parts.push(format!("{calls} calls"));
    }
    if reads > 0 {
        parts.push(format!("{reads} reads"));
    }
    if writes > 0 {
        parts.push(format!("{writes} writes"));
    }
    parts.join(", ")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One self-contained HTML page: the service graph (SVG drawn here), the
/// coupling matrix as a heat map, the metrics, and each service's members,
/// tables, routes and reasons.
#[must_use]
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
pub fn html(analysis: &Analysis, s: &Suggestion) -> String {
    let mut out = String::new();
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>strangler: suggested services</title>\n<style>\n");
    out.push_str(
        "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fff}\n\
         h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px;margin:18px 0 6px}\n\
         table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left}\n\
         th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}\n\
         .dsm td{width:34px;height:26px;text-align:center;font-size:12px}\n\
         .pin{color:#8a4b00;font-weight:600}.muted{color:#777}.svc{border:1px solid #e2e2e2;border-radius:6px;padding:8px 14px;margin:10px 0}\n\
         code{font-size:12.5px}\n</style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>Suggested services</h1>\n<p class=\"muted\">{} services from {} Rust files and {} SQL files, {:?} granularity, resolution {:.2}.</p>",
        s.services.len(),
        analysis.stats.rust_files_parsed,
        analysis.stats.sql_files,
        s.granularity,
        s.resolution
    );

    // The service graph, laid out on a circle.
    out.push_str("<h2>Service graph</h2>\n<p class=\"muted\">Node size: members and tables. Edge width: coupling.</p>\n");
    let n = s.services.len().max(1);
    let (width, height, cx, cy, radius) = (900.0f64, 640.0f64, 450.0f64, 320.0f64, 240.0f64);
    let position: BTreeMap<&str, (f64, f64)> = s
        .services
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let angle = std::f64::consts::TAU * i as f64 / n as f64 - std::f64::consts::FRAC_PI_2;
            (
                v.name.as_str(),
                (cx + radius * angle.cos(), cy + radius * angle.sin()),
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "<svg id=\"service-graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"service graph\">"
    );
    let mut undirected: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for l in &s.links {
        let key = if l.from < l.to {
            (l.from.as_str(), l.to.as_str())
        } else {
            (l.to.as_str(), l.from.as_str())
        };
        undirected.insert(key, l.weight);
    }
    let max_weight = undirected.values().copied().fold(1.0f64, f64::max);
    for ((a, b), w) in &undirected {
        if let (Some(&(x1, y1)), Some(&(x2, y2))) = (position.get(a), position.get(b)) {
            let stroke = 1.0 + 11.0 * w / max_weight;
            let _ = writeln!(
                out,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#7a93b8\" stroke-opacity=\"0.55\" stroke-width=\"{stroke:.1}\"><title>{} – {}: coupling {w:.0}</title></line>",
                esc(a),
                esc(b)
            );
        }
    }
    let max_size = s
        .services
        .iter()
        .map(|v| v.members.len() + v.tables.len())
        .max()
        .unwrap_or(1)
        .max(1);
    for v in &s.services {
        let (x, y) = position[v.name.as_str()];
        let size = (v.members.len() + v.tables.len()) as f64;
        let r = 14.0 + 34.0 * (size / max_size as f64).sqrt();
        let _ = writeln!(
            out,
            "<g><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.1}\" fill=\"#dfe9f7\" stroke=\"#3d6aa8\" stroke-width=\"2\"><title>{}: {} members, {} tables, {} routes</title></circle>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"600\">{}</text>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">{} / {}</text></g>",
            esc(&v.name),
            v.members.len(),
            v.tables.len(),
            v.routes.len(),
            y - 2.0,
            esc(&v.name),
            y + 13.0,
            v.members.len(),
            v.tables.len()
        );
    }
    out.push_str("</svg>\n");

    // The coupling matrix.
    out.push_str("<h2>Coupling matrix</h2>\n<p class=\"muted\">Read a row across: the row's service depends on the column's (call sites, plus statements on tables the column owns). Darker is more.</p>\n<table class=\"dsm\"><tr><th></th>");
    for v in &s.services {
        let _ = write!(
            out,
            "<th title=\"{}\">{}</th>",
            esc(&v.name),
            esc(&abbrev(&v.name))
        );
    }
    out.push_str("</tr>\n");
    let cell: BTreeMap<(&str, &str), u32> = s
        .links
        .iter()
        .map(|l| {
            (
                (l.from.as_str(), l.to.as_str()),
                l.calls + l.reads + l.writes,
            )
        })
        .collect();
    let max_cell = cell.values().copied().max().unwrap_or(1).max(1);
    for row in &s.services {
        let _ = write!(out, "<tr><th>{}</th>", esc(&row.name));
        for col in &s.services {
            if row.name == col.name {
                out.push_str("<td style=\"background:#444\"></td>");
                continue;
            }
            let value = cell
                .get(&(row.name.as_str(), col.name.as_str()))
                .copied()
                .unwrap_or(0);
            let alpha = if value == 0 {
                0.0
            } else {
                0.12 + 0.88 * f64::from(value) / f64::from(max_cell)
            };
            let ink = if alpha > 0.55 { "#fff" } else { "#222" };
            let label = if value == 0 {
                String::new()
            } else {
                value.to_string()
            };
            let _ = write!(
                out,
                "<td style=\"background:rgba(200,60,40,{alpha:.2});color:{ink}\" title=\"{} → {}: {value}\">{label}</td>",
                esc(&row.name),
                esc(&col.name)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");

    // Metrics.
    let m = &s.metrics;
    out.push_str(
        "<h2>Metrics</h2>\n<table><tr><th>metric</th><th>value</th><th>meaning</th></tr>\n",
    );
    let mut rows = vec![
        (
            "modularity Q",
            format!("{:.3}", m.modularity),
            "higher: more coupling inside services than chance",
        ),
        (
            "structural modularity SM",
            format!("{:.3}", m.sm),
            "cohesion minus coupling, by edge counts",
        ),
        (
            "ICP",
            format!("{:.3}", m.icp),
            "share of call sites that cross services (lower is better)",
        ),
        (
            "IFN",
            format!("{:.2}", m.ifn),
            "mean functions per service called from other services",
        ),
        (
            "NED",
            format!("{:.3}", m.ned),
            "share of units in services of extreme size (lower is better)",
        ),
        (
            "cross-service calls",
            m.cross_service_calls.to_string(),
            "call sites between services",
        ),
        (
            "shared tables",
            m.shared_tables.to_string(),
            "tables used by more than one service",
        ),
    ];
    if let (Some(mojofm), Some(ari)) = (s.mojofm, s.ari) {
        rows.push((
            "MoJoFM",
            format!("{mojofm:.1}"),
            "agreement with the reference, 0–100",
        ));
        rows.push((
            "adjusted Rand index",
            format!("{ari:.3}"),
            "agreement with the reference, 1 is identical",
        ));
    }
    for (name, value, meaning) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td class=\"num\">{value}</td><td class=\"muted\">{meaning}</td></tr>"
        );
    }
    out.push_str("</table>\n");
    if !s.tables_needing_decision.is_empty() {
        out.push_str("<h2>Needs a decision</h2>\n<ul>\n");
        for t in &s.tables_needing_decision {
            let writers: Vec<String> = t
                .writers
                .iter()
                .map(|(w, n)| format!("{} ({n})", esc(w)))
                .collect();
            let _ = writeln!(
                out,
                "<li>table <code>{}</code> is written by {}; suggested owner <b>{}</b></li>",
                esc(&t.table),
                writers.join(", "),
                esc(&t.owner)
            );
        }
        out.push_str("</ul>\n");
    }
    if !s.shared.is_empty() {
        let _ = writeln!(
            out,
            "<p><b>Shared</b> (used by many services, owned by none): {}</p>",
            s.shared
                .iter()
                .map(|x| format!("<code>{}</code>", esc(x)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // Services.
    out.push_str("<h2>Services</h2>\n");
    for v in &s.services {
        let _ = writeln!(
            out,
            "<div class=\"svc\"><h3 id=\"svc-{0}\">{0}</h3><p class=\"muted\">{1} members, {2} tables, {3} routes; cohesion {4:.2}; {5} calls out, {6} in; {7} functions called from outside.</p>",
            esc(&v.name),
            v.members.len(),
            v.tables.len(),
            v.routes.len(),
            v.metrics.cohesion,
            v.metrics.calls_out,
            v.metrics.calls_in,
            v.metrics.interface
        );
        out.push_str("<table><tr><th>member</th><th>why here</th><th>runner-up, and what moving there would cut</th></tr>\n");
        for member in v.members.iter().chain(v.tables.iter()) {
            let key = if v.members.contains(member) {
                member.clone()
            } else {
                format!("table:{member}")
            };
            let reason = v.reasons.get(&key);
            let pin = if v.pinned.contains(member) {
                " <span class=\"pin\">pinned</span>"
            } else {
                ""
            };
            let because = reason.map(|r| r.because.join("; ")).unwrap_or_default();
            let cost = reason
                .and_then(|r| {
                    r.runner_up
                        .as_ref()
                        .map(|u| format!("{}: {}", esc(u), esc(&r.move_cost.join("; "))))
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code>{pin}</td><td>{}</td><td class=\"muted\">{cost}</td></tr>",
                esc(member),
                esc(&because)
            );
        }
        out.push_str("</table>\n");
        if !v.routes.is_empty() {
            let routes: Vec<String> = v
                .routes
                .iter()
                .map(|r| format!("<code>{} {}</code>", r.methods.join(","), esc(&r.path)))
                .collect();
            let _ = writeln!(out, "<p>Routes: {}</p>", routes.join(", "));
        }
        out.push_str("</div>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn abbrev(name: &str) -> String {
    name.chars().take(4).collect()
}
