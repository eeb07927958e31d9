//! The human-readable form of a plan for `strangler plan show`.

use std::fmt::Write as _;
use std::path::Path;

use strangler_plan::{Plan, RouteStage, TableStage, mask_url};

/// "3 services, 12 routes, 9 tables".
pub fn counts(plan: &Plan) -> String {
    let routes: usize = plan.services.iter().map(|s| s.routes.len()).sum();
    let tables: usize = plan.services.iter().map(|s| s.tables.len()).sum();
    format!(
        "{} service{}, {routes} route{}, {tables} table{}",
        plan.services.len(),
        if plan.services.len() == 1 { "" } else { "s" },
        if routes == 1 { "" } else { "s" },
        if tables == 1 { "" } else { "s" },
    )
}

/// Renders the plan as an indented outline. Passwords in URLs are masked.
pub fn render(file: &Path, plan: &Plan) -> String {
    let mut out = String::new();
    let m = &plan.monolith;
    let _ = writeln!(
        out,
        "plan {} (version {}): {}",
        file.display(),
        plan.version,
        counts(plan)
    );
    let _ = writeln!(
        out,
        "monolith {}  upstream {}{}",
        m.name,
        mask_url(&m.upstream),
        database(m.database.as_deref())
    );
    let _ = writeln!(out, "routes by stage: {}", route_stages(plan));
    let _ = writeln!(out, "tables by stage: {}", table_stages(plan));
    for service in &plan.services {
        let _ = writeln!(
            out,
            "\nservice {}  upstream {}{}",
            service.name,
            service
                .upstream
                .as_deref()
                .map_or_else(|| "(none)".to_owned(), mask_url),
            database(service.database.as_deref())
        );
        if !service.members.is_empty() {
            let _ = writeln!(out, "  members ({}):", service.members.len());
            for member in &service.members {
                let pin = if service.pinned.contains(member) {
                    "  [pinned]"
                } else {
                    ""
                };
                let _ = writeln!(out, "    {member}{pin}");
            }
        }
        if !service.routes.is_empty() {
            let _ = writeln!(out, "  routes ({}):", service.routes.len());
            let width = service
                .routes
                .iter()
                .map(|r| r.methods_label().len() + r.path.as_str().len() + 1)
                .max()
                .unwrap_or(0);
            for route in &service.routes {
                let target = format!("{} {}", route.methods_label(), route.path);
                let mut stage = route.stage.to_string();
                if let Some(p) = route.percent {
                    let _ = write!(stage, " {p}%");
                }
                if let Some(sticky) = &route.sticky {
                    let _ = write!(stage, " sticky by {sticky}");
                }
                let _ = writeln!(out, "    {target:<width$}  {stage}");
            }
        }
        if !service.tables.is_empty() {
            let _ = writeln!(out, "  tables ({}):", service.tables.len());
            let width = service
                .tables
                .iter()
                .map(|t| t.name.len())
                .max()
                .unwrap_or(0);
            for table in &service.tables {
                let mut line = format!("    {:<width$}  {}", table.name, table.stage);
                for (from, to) in &table.rename {
                    let _ = write!(line, "  {from} -> {to}");
                }
                if !table.exclude.is_empty() {
                    let _ = write!(line, "  without {}", table.exclude.join(", "));
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

fn database(url: Option<&str>) -> String {
    url.map(|u| format!("  database {}", mask_url(u)))
        .unwrap_or_default()
}

fn route_stages(plan: &Plan) -> String {
    let routes: Vec<_> = plan.services.iter().flat_map(|s| &s.routes).collect();
    RouteStage::ALL
        .iter()
        .map(|stage| {
            format!(
                "{} {stage}",
                routes.iter().filter(|r| r.stage == *stage).count()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn table_stages(plan: &Plan) -> String {
    let tables: Vec<_> = plan.services.iter().flat_map(|s| &s.tables).collect();
    TableStage::ALL
        .iter()
        .map(|stage| {
            format!(
                "{} {stage}",
                tables.iter().filter(|t| t.stage == *stage).count()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn masks_passwords() {
        // Even a plan that does not validate shows its URLs masked.
        let parsed = strangler_plan::parse(
            "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://u:secret@h\"\n\
             database = \"postgres://u:secret@h:5432/db\"\n",
        );
        let shown = super::render(Path::new("p.toml"), &parsed.plan);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("database postgres://u:***@h:5432/db"),
            "{shown}"
        );
        assert!(shown.contains("upstream http://u:***@h"), "{shown}");
    }
}
