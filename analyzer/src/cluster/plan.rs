//! Turning a suggestion into a migration plan, or folding it into an
//! existing one without undoing the user's decisions.

use std::collections::BTreeSet;

use strangler_plan::{
    Method, Monolith, Plan, Route, RouteStage, RouteTemplate, Service, Table, TableStage,
};

use super::suggest::{ExistingService, Suggestion};

/// The services of an existing plan, as decisions the clustering keeps.
#[must_use]
pub fn existing_services(plan: &Plan) -> Vec<ExistingService> {
    plan.services
        .iter()
        .map(|s| ExistingService {
            name: s.name.clone(),
            members: s.members.clone(),
            pinned: s.pinned.clone(),
            tables: s.tables.iter().map(|t| t.name.clone()).collect(),
        })
        .collect()
}

/// The plan for `suggestion`: `existing` updated, or a new plan for the
/// monolith `name`. Returns warnings for routes that could not be added.
///
/// Kept from `existing`: every service and its upstream and database, every
/// route and table with its stage (even when the suggestion would place the
/// handler elsewhere: a route's stage is a decision), and every pin. Changed:
/// members follow the suggestion; routes and tables the plan does not list
/// yet are added at stage `monolith`.
#[must_use]
pub fn apply(existing: Option<&Plan>, suggestion: &Suggestion, name: &str) -> (Plan, Vec<String>) {
    let mut warnings = Vec::new();
    let mut plan = existing.cloned().unwrap_or_else(|| {
        Plan::new(Monolith {
            name: name.to_owned(),
            upstream: "http://127.0.0.1:8080".to_owned(),
            database: None,
        })
    });
    let suggested: BTreeSet<&str> = suggestion
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let placed: BTreeSet<&str> = suggestion
        .services
        .iter()
        .flat_map(|s| s.members.iter().map(String::as_str))
        .collect();
    // Members the suggestion placed in another service leave the old one.
    for service in &mut plan.services {
        if !suggested.contains(service.name.as_str()) {
            service.members.retain(|m| !placed.contains(m.as_str()));
            service.pinned.retain(|m| service.members.contains(m));
        }
    }
    let mut claimed_tables: BTreeSet<String> = plan
        .services
        .iter()
        .flat_map(|s| s.tables.iter().map(|t| t.name.clone()))
        .collect();
    for s in &suggestion.services {
        let index = if let Some(i) = plan.services.iter().position(|p| p.name == s.name) {
            i
        } else {
            plan.services.push(Service {
                name: s.name.clone(),
                ..Service::default()
            });
            plan.services.len() - 1
        };
        for route in plan_routes(&s.routes, &mut warnings) {
            let clash = plan
                .services
                .iter()
                .flat_map(|p| &p.routes)
                .find(|other| other.overlaps(&route))
                .cloned();
            match clash {
                Some(other) if other.path == route.path && other.methods == route.methods => {}
                Some(other) => warnings.push(format!(
                    "route {} {} not added: it overlaps {} {} already in the plan",
                    route.methods_label(),
                    route.path,
                    other.methods_label(),
                    other.path
                )),
                None => plan.services[index].routes.push(route),
            }
        }
        let service = &mut plan.services[index];
        service.members.clone_from(&s.members);
        service.pinned.retain(|p| s.members.contains(p));
        for table in &s.tables {
            if claimed_tables.insert(table.clone()) {
                service.tables.push(Table {
                    name: table.clone(),
                    stage: TableStage::Monolith,
                    rename: std::collections::BTreeMap::new(),
                    exclude: Vec::new(),
                    readers: Vec::new(),
                });
            }
        }
    }
    (plan, warnings)
}

/// The plan routes for suggested routes, at stage `monolith`; routes whose
/// methods or path the plan cannot hold become warnings.
fn plan_routes(routes: &[super::suggest::RouteRef], warnings: &mut Vec<String>) -> Vec<Route> {
    let mut out = Vec::new();
    for r in routes {
        let methods = if r.methods.iter().any(|m| m == "*") {
            None
        } else {
            let parsed: Result<Vec<Method>, String> = r.methods.iter().map(|m| m.parse()).collect();
            match parsed {
                Ok(m) => Some(m),
                Err(e) => {
                    warnings.push(format!(
                        "route {} {} not added to the plan: {e}",
                        r.methods.join(","),
                        r.path
                    ));
                    continue;
                }
            }
        };
        let path = match RouteTemplate::parse(&r.path) {
            Ok(p) => p,
            Err(e) => {
                warnings.push(format!("route {} not added to the plan: {e}", r.path));
                continue;
            }
        };
        out.push(Route {
            path,
            methods,
            stage: RouteStage::Monolith,
            percent: None,
            sticky: None,
            host: None,
            headers: std::collections::BTreeMap::new(),
            writes: Vec::new(),
        });
    }
    out
}
