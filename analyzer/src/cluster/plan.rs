//! Turning a suggestion into a migration plan, or folding it into an
//! existing one without undoing the user's decisions.

use std::collections::{BTreeMap, BTreeSet};

use strangler_plan::{
    Method, Monolith, Plan, Route, RouteStage, RouteTemplate, Service, Table, TableStage,
};

use super::coupling::Coupling;
use super::suggest::{ExistingService, Suggestion, TableDecision, table_writes};
use crate::{Analysis, Detail, EdgeKind, NodeKind};

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
/// handler elsewhere: a route's stage is a decision), every pin, and every
/// table a route's `writes` lists. Changed: members follow the suggestion;
/// routes and tables the plan does not list yet are added at stage
/// `monolith`; each route's `writes` gains the tables its handler writes
/// (the user's entries stay, the analysis adds); each table's `readers`
/// become the modules the analysis finds using it (a table the analysis
/// does not know keeps its list).
///
/// The plan stays valid: a write that would break the rules keeping writes
/// in one place (a route answered by its service writes only tables that
/// service owns; an `owned` table is written only by its service's `live`
/// routes) is not added, and a warning names the route and the table.
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
                    writers: Vec::new(),
                });
            }
        }
    }
    add_writes(&mut plan, suggestion, &mut warnings);
    for table in plan.services.iter_mut().flat_map(|s| &mut s.tables) {
        if let Some(readers) = suggestion.readers.get(&table.name) {
            table.readers.clone_from(readers);
        }
    }
    record_writers(&mut plan, &suggestion.tables_needing_decision);
    (plan, warnings)
}

/// Sets each table's `writers` to the services of `decisions` that write it
/// (heaviest first), and clears it on a table no longer written by two or
/// more: the plan records what still needs a decision, and `plan check`
/// reports it.
pub fn record_writers(plan: &mut Plan, decisions: &[TableDecision]) {
    let by_table: BTreeMap<&str, &TableDecision> =
        decisions.iter().map(|d| (d.table.as_str(), d)).collect();
    for table in plan.services.iter_mut().flat_map(|s| &mut s.tables) {
        table.writers = by_table
            .get(table.name.as_str())
            .map(|d| d.writers.iter().map(|(w, _)| w.clone()).collect())
            .unwrap_or_default();
    }
}

/// Adds to every route of `plan` the tables the suggestion finds its
/// handler writing, unless the write would make the plan invalid (then a
/// warning says which and why).
fn add_writes(plan: &mut Plan, suggestion: &Suggestion, warnings: &mut Vec<String>) {
    // Each analysed route: its path shape, its methods (`None` for any)
    // and the tables its handler writes.
    let found: Vec<AnalysedRoute> = suggestion
        .services
        .iter()
        .flat_map(|s| &s.routes)
        .filter(|r| !r.writes.is_empty())
        .filter_map(|r| {
            let shape = RouteTemplate::parse(&r.path).ok()?.shape();
            let methods = (!r.methods.iter().any(|m| m == "*"))
                .then(|| r.methods.iter().map(String::as_str).collect());
            Some((shape, methods, r.writes.as_slice()))
        })
        .collect();
    let owners = table_owners(plan);
    for service in &mut plan.services {
        for route in &mut service.routes {
            let shape = route.path.shape();
            let path = route.path.to_string();
            // A plan route gets the writes of every analysed route whose
            // requests it may take: the same path shape and a method in
            // common (its host and header matches aside, so more, not less).
            let tables: BTreeSet<&String> = found
                .iter()
                .filter(|(s, methods, _)| {
                    *s == shape
                        && match (&route.methods, methods) {
                            (Some(mine), Some(theirs)) => {
                                mine.iter().any(|m| theirs.contains(m.as_str()))
                            }
                            _ => true,
                        }
                })
                .flat_map(|(_, _, writes)| writes.iter())
                .collect();
            for table in tables {
                if route.writes.contains(table) {
                    continue;
                }
                match write_conflict(&service.name, route, table, owners.get(table)) {
                    None => route.writes.push(table.clone()),
                    Some(why) => warnings.push(format!(
                        "route {} {path} of service `{}` writes table `{table}`, but it was not added to the route's `writes`: {why}; the plan would not be valid. Resolve it before moving the route or the table further",
                        route.methods_label(),
                        service.name
                    )),
                }
            }
            route.writes.sort();
        }
    }
}

/// Each table of `plan` → the service that lists it and its stage there.
fn table_owners(plan: &Plan) -> BTreeMap<String, (String, TableStage)> {
    plan.services
        .iter()
        .flat_map(|s| {
            s.tables
                .iter()
                .map(|t| (t.name.clone(), (s.name.clone(), t.stage)))
        })
        .collect()
}

/// An analysed route as [`add_writes`] matches it: its path shape, its
/// methods (`None` for any) and the tables its handler writes.
type AnalysedRoute<'s> = (String, Option<BTreeSet<&'s str>>, &'s [String]);

/// Why `route` of `service` may not list `table` in its writes, by the
/// plan's validation rules, or `None` when it may. `owner` is the service
/// that lists the table and the table's stage there.
fn write_conflict(
    service: &str,
    route: &Route,
    table: &str,
    owner: Option<&(String, TableStage)>,
) -> Option<String> {
    if !strangler_plan::is_table_name(table) {
        return Some("the plan cannot name it (not a plain or schema-qualified name)".to_owned());
    }
    let stage = route.stage;
    if route.serves_from_service() {
        match owner {
            Some((s, TableStage::Owned | TableStage::Decommissioned)) if s == service => {}
            Some((s, t)) if s == service => {
                return Some(format!(
                    "the route is at `{stage}` while the table is only at `{t}`"
                ));
            }
            Some((s, _)) => {
                return Some(format!(
                    "the route is at `{stage}` and the table belongs to service `{s}`"
                ));
            }
            None => {
                return Some(format!(
                    "the route is at `{stage}` and no service has taken the table over"
                ));
            }
        }
    }
    match owner {
        Some((s, TableStage::Owned)) if s != service => Some(format!(
            "the table is `owned` by service `{s}`, so only its live routes may write it"
        )),
        Some((_, TableStage::Owned)) if stage != RouteStage::Live => Some(format!(
            "the table is `owned` by this service, so only its live routes may write it, and the route is at `{stage}`"
        )),
        _ => None,
    }
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
            gateway: strangler_plan::Gateway::default(),
        });
    }
    out
}

/// Moves each route and table that is still at stage `monolith` to the
/// service whose members now hold its code: a route to the service of its
/// handler, a table to the service whose code writes it most (a tie keeps
/// it where it is). That is what a user who moved a member expects: the
/// routes it serves and the tables it writes go with it, while nothing has
/// moved to a service yet. A route or table past `monolith` is a decision
/// (traffic or data is already moving) and stays; each one whose code now
/// lives in another service gets a line saying what to do. Code in no
/// service (left in the monolith, or shared) moves nothing.
///
/// The plan stays valid: a route or table moves only at stage `monolith`,
/// where no rule ties writes to owners.
#[must_use]
pub fn follow_code(plan: &mut Plan, analysis: &Analysis, coupling: &Coupling) -> Followed {
    let mut notes = Followed::default();
    let service_of: BTreeMap<String, usize> = plan
        .services
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.members.iter().map(move |m| (m.clone(), i)))
        .collect();
    let unit_service = |node: &str| {
        let unit = coupling.unit_of(node)?;
        Some((*service_of.get(unit)?, unit.to_owned()))
    };
    // Each analysed route with a handler in some service.
    let served: Vec<AnalysedHandler> = analysis
        .nodes
        .iter()
        .filter_map(|n| match &n.detail {
            Detail::Route {
                methods,
                path,
                handler: Some(handler),
            } => {
                let (service, unit) = unit_service(handler)?;
                let shape = RouteTemplate::parse(path).ok()?.shape();
                let methods = (!methods.iter().any(|m| m == "*"))
                    .then(|| methods.iter().map(String::as_str).collect());
                Some((shape, methods, service, unit))
            }
            _ => None,
        })
        .collect();
    // Routes: (service, route index) → where their handlers are. A plan
    // route matched by handlers in several services is left alone.
    let mut route_moves: Vec<(usize, usize, usize)> = Vec::new();
    for (si, service) in plan.services.iter().enumerate() {
        for (ri, route) in service.routes.iter().enumerate() {
            let shape = route.path.shape();
            let homes: BTreeMap<usize, &str> = served
                .iter()
                .filter(|(s, methods, _, _)| {
                    *s == shape
                        && match (&route.methods, methods) {
                            (Some(mine), Some(theirs)) => {
                                mine.iter().any(|m| theirs.contains(m.as_str()))
                            }
                            _ => true,
                        }
                })
                .map(|(_, _, to, unit)| (*to, unit.as_str()))
                .collect();
            let mut homes = homes.into_iter();
            let (Some((to, unit)), None) = (homes.next(), homes.next()) else {
                continue;
            };
            if to == si {
                continue;
            }
            let target = &plan.services[to].name;
            if route.stage == RouteStage::Monolith {
                notes.moved.push(format!(
                    "route {} {} moves from service `{}` to `{target}`, with its handler's `{unit}`",
                    route.methods_label(),
                    route.path,
                    service.name
                ));
                route_moves.push((si, ri, to));
            } else {
                notes.stayed.push(format!(
                    "route {} {} stays in service `{}` at stage `{}`, but its handler's `{unit}` is now in `{target}`: set the route back to `monolith` to let it follow, or move `{unit}` back",
                    route.methods_label(),
                    route.path,
                    service.name,
                    route.stage
                ));
            }
        }
    }
    // Remove from the back so the indices stay right.
    route_moves.sort_unstable();
    let mut moved: Vec<(usize, Route)> = Vec::new();
    for &(si, ri, to) in route_moves.iter().rev() {
        moved.push((to, plan.services[si].routes.remove(ri)));
    }
    for (to, route) in moved.into_iter().rev() {
        plan.services[to].routes.push(route);
    }

    follow_tables(plan, coupling, &service_of, &mut notes);
    notes
}

/// The table half of [`follow_code`]: each table at `monolith` goes to the
/// service whose members write it most.
fn follow_tables(
    plan: &mut Plan,
    coupling: &Coupling,
    service_of: &BTreeMap<String, usize>,
    notes: &mut Followed,
) {
    let units = coupling.units();
    let group = |code: usize| service_of.get(&units[code].id).copied();
    let writers: BTreeMap<String, BTreeMap<usize, u32>> = table_writes(coupling, group)
        .into_iter()
        .map(|(t, w)| (units[t].id.trim_start_matches("table:").to_owned(), w))
        .collect();
    let mut table_moves: Vec<(usize, usize, usize)> = Vec::new();
    for (si, service) in plan.services.iter().enumerate() {
        for (ti, table) in service.tables.iter().enumerate() {
            let Some(by_service) = writers.get(&table.name) else {
                continue;
            };
            let most = by_service.values().copied().max().unwrap_or(0);
            if by_service.get(&si).copied() == Some(most) {
                continue;
            }
            let mut top = by_service.iter().filter(|(_, n)| **n == most);
            let (Some((&to, &n)), None) = (top.next(), top.next()) else {
                continue;
            };
            let target = &plan.services[to].name;
            if table.stage == TableStage::Monolith {
                notes.moved.push(format!(
                    "table {} moves from service `{}` to `{target}`, whose code writes it most ({n} statement(s))",
                    table.name, service.name
                ));
                table_moves.push((si, ti, to));
            } else {
                notes.stayed.push(format!(
                    "table {} stays in service `{}` at stage `{}`, but `{target}`'s code writes it most ({n} statement(s)): move the writing code back, or roll the table back to `monolith` first",
                    table.name, service.name, table.stage
                ));
            }
        }
    }
    table_moves.sort_unstable();
    let mut moved: Vec<(usize, Table)> = Vec::new();
    for &(si, ti, to) in table_moves.iter().rev() {
        moved.push((to, plan.services[si].tables.remove(ti)));
    }
    for (to, table) in moved.into_iter().rev() {
        plan.services[to].tables.push(table);
    }
}

/// What [`follow_code`] did, a line per route or table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Followed {
    /// Routes and tables moved with their code.
    pub moved: Vec<String>,
    /// Routes and tables past `monolith` left where they are although
    /// their code moved, each with what to do.
    pub stayed: Vec<String>,
}

/// An analysed route's path shape, its methods (`None` for any), the
/// service its handler's unit is a member of, and that unit.
type AnalysedHandler<'a> = (String, Option<BTreeSet<&'a str>>, usize, String);

/// The name a new plan gives the monolith: the crate (or Java build module)
/// that serves the most routes, else the one with the most functions; ties
/// go to the first by name. `None` when the analysis found no crate.
///
/// A workspace's first crate by name is often a helper (`macros`, `common`);
/// the monolith is the one that answers HTTP.
#[must_use]
pub fn monolith_name(analysis: &Analysis) -> Option<String> {
    let parent: BTreeMap<&str, &str> = analysis
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Contains)
        .map(|e| (e.to.as_str(), e.from.as_str()))
        .collect();
    let kind: BTreeMap<&str, NodeKind> = analysis
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.kind))
        .collect();
    let crate_of = |id: &str| -> Option<&str> {
        let mut current = parent.get(id).copied()?;
        // Bounded, in case a malformed analysis has a cycle of `contains`.
        for _ in 0..256 {
            if kind.get(current) == Some(&NodeKind::Crate) {
                return Some(current);
            }
            current = parent.get(current).copied()?;
        }
        None
    };
    // (routes served, functions) per crate.
    let mut score: BTreeMap<&str, (usize, usize)> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Crate)
        .map(|n| (n.id.as_str(), (0, 0)))
        .collect();
    for node in &analysis.nodes {
        match (&node.kind, &node.detail) {
            (
                NodeKind::Route,
                Detail::Route {
                    handler: Some(handler),
                    ..
                },
            ) => {
                if let Some(s) = crate_of(handler).and_then(|c| score.get_mut(c)) {
                    s.0 += 1;
                }
            }
            (NodeKind::Function, _) => {
                if let Some(s) = crate_of(&node.id).and_then(|c| score.get_mut(c)) {
                    s.1 += 1;
                }
            }
            _ => {}
        }
    }
    // max_by_key keeps the last maximum; reversing keeps the first by name.
    score
        .into_iter()
        .rev()
        .max_by_key(|&(_, s)| s)
        .map(|(name, _)| name.to_owned())
}

/// A route the analysis found that no route of the plan takes: one the
/// monolith still serves without the plan saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnplannedRoute {
    /// The plan route it would be, at stage `monolith`, without `writes`.
    pub route: Route,
    /// Its handler's function id, when it resolved.
    pub handler: Option<String>,
}

/// The analysed routes no route of `plan` overlaps (the same path shape and
/// a method in common), sorted by path and methods; one the plan cannot
/// hold (a method or path it rejects) is left out.
#[must_use]
pub fn unplanned_routes(plan: &Plan, analysis: &Analysis) -> Vec<UnplannedRoute> {
    let planned: Vec<&Route> = plan.services.iter().flat_map(|s| &s.routes).collect();
    let mut out: Vec<UnplannedRoute> = Vec::new();
    for node in &analysis.nodes {
        let Detail::Route {
            methods,
            path,
            handler,
        } = &node.detail
        else {
            continue;
        };
        let found = super::suggest::RouteRef {
            methods: methods.clone(),
            path: path.clone(),
            writes: Vec::new(),
        };
        for route in plan_routes(std::slice::from_ref(&found), &mut Vec::new()) {
            if !planned.iter().any(|p| p.overlaps(&route))
                && !out.iter().any(|u| u.route.overlaps(&route))
            {
                out.push(UnplannedRoute {
                    route,
                    handler: handler.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (a.route.path.to_string(), a.route.methods_label())
            .cmp(&(b.route.path.to_string(), b.route.methods_label()))
    });
    out
}

/// Puts `unplanned` into service `service` at stage `monolith`, with the
/// tables its handler writes (directly or through calls) as its `writes`,
/// except those the plan's rules forbid there (each a returned warning).
///
/// # Errors
///
/// The service is not in the plan, or a route of the plan already takes
/// the route's requests.
pub fn adopt_route(
    plan: &mut Plan,
    analysis: &Analysis,
    service: &str,
    unplanned: &UnplannedRoute,
) -> Result<Vec<String>, String> {
    adopt_with(
        plan,
        &super::access::DataAccess::of(analysis),
        service,
        unplanned,
    )
}

/// [`adopt_route`] with the analysis's data access worked out once.
fn adopt_with(
    plan: &mut Plan,
    access: &super::access::DataAccess,
    service: &str,
    unplanned: &UnplannedRoute,
) -> Result<Vec<String>, String> {
    let mut route = unplanned.route.clone();
    if let Some(other) = plan
        .services
        .iter()
        .find(|s| s.routes.iter().any(|r| r.overlaps(&route)))
    {
        return Err(format!(
            "route {} {} is already in service `{}`",
            route.methods_label(),
            route.path,
            other.name
        ));
    }
    let owners = table_owners(plan);
    let mut warnings = Vec::new();
    if let Some(handler) = &unplanned.handler {
        for table in access.writes.get(handler).into_iter().flatten() {
            match write_conflict(service, &route, table, owners.get(table)) {
                None => route.writes.push(table.clone()),
                Some(why) => warnings.push(format!(
                    "route {} {} writes table `{table}`, which is not in its `writes`: {why}",
                    route.methods_label(),
                    route.path
                )),
            }
        }
    }
    let target = plan
        .service_mut(service)
        .ok_or_else(|| format!("no service `{service}` in the plan"))?;
    target.routes.push(route);
    Ok(warnings)
}

/// After `moved` (code units) went into services: puts each unplanned route
/// whose handler is in one of them into the service that now lists it (see
/// [`adopt_route`]), so routes follow the code that serves them. Routes of
/// other code stay as the plan has them. Returns the routes added, as
/// `METHODS path → service`, and the warnings.
pub fn adopt_served_routes(
    plan: &mut Plan,
    analysis: &Analysis,
    coupling: &Coupling,
    moved: &[&str],
) -> (Vec<String>, Vec<String>) {
    let member_of: BTreeMap<&str, String> = plan
        .services
        .iter()
        .flat_map(|s| s.members.iter().map(move |m| (m.as_str(), s.name.clone())))
        .collect();
    let mut adopted = Vec::new();
    let mut warnings = Vec::new();
    let unplanned = unplanned_routes(plan, analysis);
    let homes: Vec<(UnplannedRoute, String)> = unplanned
        .into_iter()
        .filter_map(|u| {
            let unit = coupling.unit_of(u.handler.as_deref()?)?;
            if !moved.contains(&unit) {
                return None;
            }
            let service = member_of.get(unit)?.clone();
            Some((u, service))
        })
        .collect();
    if homes.is_empty() {
        return (adopted, warnings);
    }
    let access = super::access::DataAccess::of(analysis);
    for (u, service) in homes {
        if let Ok(w) = adopt_with(plan, &access, &service, &u) {
            adopted.push(format!(
                "{} {} → {service}",
                u.route.methods_label(),
                u.route.path
            ));
            warnings.extend(w);
        }
    }
    (adopted, warnings)
}
