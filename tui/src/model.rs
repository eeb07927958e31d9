//! The planner's state: the plan being edited, what the analyzer says about
//! it, the selection, the open popup, and the undo history. No I/O happens
//! here; saving and re-suggesting are [`Effect`]s that the loop runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use strangler_analyzer::Analysis;
use strangler_analyzer::cluster::coupling::{Coupling, Granularity, Weights};
use strangler_analyzer::cluster::plan::existing_services;
use strangler_analyzer::cluster::suggest::{Metrics, Suggestion, evaluate};
use strangler_plan::{Plan, Route, Table, TableStage};

/// The analyzer's graph of the monolith, folded once onto the units the plan
/// moves, so every edit is evaluated against it without re-reading code.
#[derive(Debug)]
pub struct Analyzed {
    /// The dependency graph.
    pub analysis: Analysis,
    /// The coupling graph at `granularity`.
    pub coupling: Coupling,
    /// The units the plan's members are.
    pub granularity: Granularity,
}

impl Analyzed {
    /// Folds `analysis` onto the units of `plan` (its `[analyze]` granularity
    /// and weights, else the analyzer's defaults).
    #[must_use]
    pub fn new(analysis: Analysis, plan: &Plan) -> Self {
        let granularity = plan
            .analyze
            .as_ref()
            .and_then(|a| a.granularity.as_deref())
            .and_then(|g| g.parse().ok())
            .unwrap_or_default();
        let weights = weights_of(plan);
        let coupling = Coupling::build(&analysis, granularity, &weights);
        Self {
            analysis,
            coupling,
            granularity,
        }
    }

    /// Metrics, coupling matrix, reasons and warnings for `plan` as it is.
    #[must_use]
    pub fn evaluate(&self, plan: &Plan) -> Suggestion {
        evaluate(
            &self.analysis,
            &self.coupling,
            self.granularity,
            &existing_services(plan),
        )
    }
}

/// The evidence weights the plan's `[analyze.weights]` sets, else defaults.
#[must_use]
pub fn weights_of(plan: &Plan) -> Weights {
    let mut w = Weights::default();
    if let Some(settings) = &plan.analyze {
        for (kind, value) in &settings.weights {
            match kind.as_str() {
                "reads" => w.reads = *value,
                "writes" => w.writes = *value,
                "calls" => w.calls = *value,
                "types" => w.types = *value,
                "nesting" => w.nesting = *value,
                "co_changes" => w.co_changes = *value,
                "references" => w.references = *value,
                _ => {}
            }
        }
    }
    w
}

/// The panes, in the order Tab visits them. The first three share the plan
/// screen; the others fill the screen on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The services list.
    Services,
    /// Members, tables and routes of the selected service.
    Members,
    /// Why the selected member is where it is.
    Details,
    /// Every route of the plan.
    Routes,
    /// Every table of the plan.
    Tables,
    /// The service coupling matrix.
    Dsm,
}

impl Pane {
    /// Every pane, in Tab order.
    pub const ALL: [Pane; 6] = [
        Pane::Services,
        Pane::Members,
        Pane::Details,
        Pane::Routes,
        Pane::Tables,
        Pane::Dsm,
    ];

    /// The pane's title.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Pane::Services => "Services",
            Pane::Members => "Members",
            Pane::Details => "Details",
            Pane::Routes => "Routes",
            Pane::Tables => "Tables",
            Pane::Dsm => "Coupling",
        }
    }
}

/// A line of the members pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A section title; not selectable.
    Header(String),
    /// A member, its tree depth and its label (the part below its parent).
    Member {
        /// The member's id.
        id: String,
        /// Depth in the module tree of the service.
        depth: usize,
        /// What is shown: the id below the nearest listed ancestor.
        label: String,
    },
    /// The service's table at this index.
    Table(usize),
    /// The service's route at this index.
    Route(usize),
}

/// What a text input is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPurpose {
    /// Rename the selected service.
    Rename,
    /// Create a service.
    NewService,
    /// Set the selected canary route's percent.
    Percent,
    /// Search rows.
    Filter,
}

/// What a picker chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickPurpose {
    /// The service the member moves to.
    Move {
        /// The member.
        member: String,
    },
    /// The service the selected one merges into.
    Merge,
    /// The route's next stage (service index, route index).
    RouteStage(usize, usize),
    /// The table's next stage (service index, table index).
    TableStage(usize, usize),
}

/// An open popup; it takes the keys until it closes.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    /// The help overlay.
    Help,
    /// A list to choose from.
    Pick {
        /// What the choice is for.
        purpose: PickPurpose,
        /// The choices, as shown.
        choices: Vec<String>,
        /// The highlighted choice.
        selected: usize,
    },
    /// A line of text.
    Input {
        /// What the text is for.
        purpose: InputPurpose,
        /// The text so far.
        text: String,
    },
    /// Unsaved changes: save, discard or stay.
    ConfirmQuit,
    /// A re-suggestion's changes, to accept or reject.
    Diff {
        /// The plan the suggestion would give.
        plan: Box<Plan>,
        /// What changes, one line each.
        lines: Vec<String>,
        /// The first line shown.
        scroll: usize,
    },
}

/// Work with side effects, run by the loop, which answers with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Save this plan to the file.
    Save(Box<Plan>),
    /// Re-run the clustering, keeping this plan's pins and placements.
    Resuggest(Box<Plan>),
}

/// How the routes and tables views are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By service, then file order.
    #[default]
    Service,
    /// By path or table name.
    Name,
    /// By stage, furthest along first.
    Stage,
}

/// An edit's effect on the whole decomposition's metrics.
#[derive(Debug, Clone)]
pub struct Change {
    /// What the edit was.
    pub what: String,
    /// Metrics before it.
    pub before: Metrics,
    /// Metrics after it.
    pub after: Metrics,
}

/// The planner's whole state.
#[derive(Debug, Clone)]
pub struct Model {
    /// The plan file's path, as shown.
    pub file: String,
    /// The plan being edited.
    pub plan: Plan,
    /// The plan as last loaded or saved.
    pub saved: Plan,
    /// The plan's errors as `file:line:col: …` lines; when not empty the plan
    /// is invalid and the planner is read-only.
    pub errors: Vec<String>,
    /// The analyzer's graph, when one was given.
    pub analyzed: Option<Arc<Analyzed>>,
    /// The current plan evaluated on the graph.
    pub eval: Option<Suggestion>,
    /// The last edit's effect on the metrics.
    pub change: Option<Change>,
    /// Plans before each edit, with the edit's name.
    pub undo: Vec<(String, Plan)>,
    /// Plans undone, for redo.
    pub redo: Vec<(String, Plan)>,
    /// The focused pane.
    pub focus: Pane,
    /// The selected service.
    pub service: usize,
    /// The selected row of the members pane.
    pub row: usize,
    /// The selected row of the routes view.
    pub route_row: usize,
    /// The selected row of the tables view.
    pub table_row: usize,
    /// The selected row of the coupling matrix.
    pub dsm_row: usize,
    /// The first line shown in the details pane.
    pub details_scroll: usize,
    /// How the routes and tables views are sorted.
    pub sort: Sort,
    /// The open popup.
    pub popup: Option<Popup>,
    /// The search text; n and N jump between matches while it is set.
    pub filter: Option<String>,
    /// A one-line message for the user.
    pub status: String,
    /// Work for the loop.
    pub effect: Option<Effect>,
    /// Quit after the pending save succeeds.
    pub quit_after_save: bool,
    /// The loop should stop.
    pub quit: bool,
    /// The terminal size, for mouse hit tests.
    pub size: (u16, u16),
}

impl Model {
    /// A model for `plan`, loaded from `file`. `errors` are the rendered
    /// errors of an invalid plan (read-only); `analysis`, when given, enables
    /// metrics, reasons, the coupling matrix and re-suggesting.
    #[must_use]
    pub fn new(
        file: impl Into<String>,
        plan: Plan,
        errors: Vec<String>,
        analysis: Option<Analysis>,
    ) -> Self {
        let analyzed = analysis.map(|a| Arc::new(Analyzed::new(a, &plan)));
        let mut model = Self {
            file: file.into(),
            saved: plan.clone(),
            plan,
            errors,
            analyzed,
            eval: None,
            change: None,
            undo: Vec::new(),
            redo: Vec::new(),
            focus: Pane::Services,
            service: 0,
            row: 0,
            route_row: 0,
            table_row: 0,
            dsm_row: 0,
            details_scroll: 0,
            sort: Sort::default(),
            popup: None,
            filter: None,
            status: String::new(),
            effect: None,
            quit_after_save: false,
            quit: false,
            size: (80, 24),
        };
        model.reevaluate();
        model.status = if model.read_only() {
            "the plan is invalid: read-only; fix the errors in the file and reopen it".to_owned()
        } else if model.analyzed.is_none() {
            "no analysis: open with --repo or --analysis for metrics and reasons".to_owned()
        } else {
            "? for help".to_owned()
        };
        model.row = model.first_selectable(0);
        model
    }

    /// Evaluates the plan on the graph again.
    pub fn reevaluate(&mut self) {
        self.eval = self.analyzed.as_ref().map(|a| a.evaluate(&self.plan));
    }

    /// Whether the plan is invalid, so nothing may change or be saved.
    #[must_use]
    pub fn read_only(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Whether the plan differs from the file.
    #[must_use]
    pub fn dirty(&self) -> bool {
        self.plan != self.saved
    }

    /// Plan members and tables the analysis does not know (a stale analysis).
    #[must_use]
    pub fn missing(&self) -> &[String] {
        self.eval.as_ref().map_or(&[], |e| e.warnings.as_slice())
    }

    /// The rows of the members pane for the selected service.
    #[must_use]
    pub fn rows(&self) -> Vec<Row> {
        let Some(service) = self.plan.services.get(self.service) else {
            return Vec::new();
        };
        let mut rows = vec![Row::Header(format!("members ({})", service.members.len()))];
        let mut sorted: Vec<&String> = service.members.iter().collect();
        sorted.sort();
        let mut depth_of: BTreeMap<&str, usize> = BTreeMap::new();
        for id in sorted {
            let parent = ancestors(id).find(|a| depth_of.contains_key(a));
            let (depth, label) = match parent {
                Some(p) => (
                    depth_of[p] + 1,
                    id[p.len()..].trim_start_matches("::").to_owned(),
                ),
                None => (0, id.clone()),
            };
            depth_of.insert(id, depth);
            rows.push(Row::Member {
                id: id.clone(),
                depth,
                label,
            });
        }
        rows.push(Row::Header(format!("tables ({})", service.tables.len())));
        rows.extend((0..service.tables.len()).map(Row::Table));
        rows.push(Row::Header(format!("routes ({})", service.routes.len())));
        rows.extend((0..service.routes.len()).map(Row::Route));
        rows
    }

    /// The first selectable row at or after `from`, else before it.
    #[must_use]
    pub fn first_selectable(&self, from: usize) -> usize {
        let rows = self.rows();
        (from..rows.len())
            .chain((0..from.min(rows.len())).rev())
            .find(|&i| !matches!(rows[i], Row::Header(_)))
            .unwrap_or(0)
    }

    /// The selected member, if a member row is selected.
    #[must_use]
    pub fn selected_member(&self) -> Option<String> {
        match self.rows().get(self.row) {
            Some(Row::Member { id, .. }) => Some(id.clone()),
            _ => None,
        }
    }

    /// Every route as (service index, route index), in the view's order.
    #[must_use]
    pub fn all_routes(&self) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = self
            .plan
            .services
            .iter()
            .enumerate()
            .flat_map(|(s, svc)| (0..svc.routes.len()).map(move |r| (s, r)))
            .collect();
        let route = |&(s, r): &(usize, usize)| -> &Route { &self.plan.services[s].routes[r] };
        match self.sort {
            Sort::Service => {}
            Sort::Name => out.sort_by(|a, b| {
                route(a)
                    .path
                    .to_string()
                    .cmp(&route(b).path.to_string())
                    .then(a.cmp(b))
            }),
            Sort::Stage => out.sort_by(|a, b| route(b).stage.cmp(&route(a).stage).then(a.cmp(b))),
        }
        out
    }

    /// Every table as (service index, table index), in the view's order.
    #[must_use]
    pub fn all_tables(&self) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = self
            .plan
            .services
            .iter()
            .enumerate()
            .flat_map(|(s, svc)| (0..svc.tables.len()).map(move |t| (s, t)))
            .collect();
        let table = |&(s, t): &(usize, usize)| -> &Table { &self.plan.services[s].tables[t] };
        match self.sort {
            Sort::Service => {}
            Sort::Name => out.sort_by(|a, b| table(a).name.cmp(&table(b).name).then(a.cmp(b))),
            Sort::Stage => out.sort_by(|a, b| table(b).stage.cmp(&table(a).stage).then(a.cmp(b))),
        }
        out
    }

    /// Who else uses a table of service `service`: `owned` when only it
    /// does, `shared` when others read it, `decide` when others write it.
    #[must_use]
    pub fn ownership(&self, service: &str, table: &str) -> &'static str {
        let Some(eval) = &self.eval else { return "" };
        if eval
            .tables_needing_decision
            .iter()
            .any(|d| d.table == table)
        {
            return "decide";
        }
        let Some(analyzed) = &self.analyzed else {
            return "";
        };
        let Some(i) = analyzed
            .coupling
            .units
            .iter()
            .position(|u| u.table && u.id.strip_prefix("table:") == Some(table))
        else {
            return "unknown";
        };
        let others = analyzed.coupling.neighbors[i].iter().any(|&(other, _)| {
            let id = &analyzed.coupling.units[other].id;
            self.plan
                .services
                .iter()
                .any(|s| s.name != service && s.members.contains(id))
        });
        if others { "shared" } else { "owned" }
    }

    /// The stage a table had when loaded, if it did.
    #[must_use]
    pub fn saved_table_stage(&self, service: usize, table: usize) -> Option<TableStage> {
        let t = &self.plan.services.get(service)?.tables.get(table)?;
        self.saved
            .services
            .iter()
            .flat_map(|s| &s.tables)
            .find(|s| s.name == t.name)
            .map(|s| s.stage)
    }
}

/// The module ids above `id`, nearest first (`a::b::c` → `a::b`, `a`).
fn ancestors(id: &str) -> impl Iterator<Item = &str> {
    id.rmatch_indices("::").map(move |(i, _)| &id[..i])
}
