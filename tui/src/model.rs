//! The planner's state: the plan being edited, what the analyzer says about
//! it, the selection, the open popup, and the undo history. No I/O happens
//! here; saving and re-suggesting are [`Effect`]s that the loop runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use strangler_analyzer::cluster::plan::{UnplannedRoute, existing_services, unplanned_routes};
use strangler_analyzer::cluster::{
    Coupling, Granularity, Metrics, SettingsError, SuggestConfig, Suggestion, evaluate,
};
use strangler_analyzer::{Analysis, EdgeKind, NodeKind};
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
    /// Unit id → the functions inside it, sorted; empty at function
    /// granularity, where the functions are the units.
    pub functions: BTreeMap<String, Vec<String>>,
    /// Node id → its index in `analysis.nodes`.
    pub node_index: BTreeMap<String, usize>,
    /// Function id → the calls, reads and writes it is an end of, as indices
    /// into `analysis.edges`.
    pub edges_of: BTreeMap<String, Vec<usize>>,
}

impl Analyzed {
    /// Folds `analysis` onto the units of `plan` (its `[analyze]` granularity
    /// and weights, else the analyzer's defaults). Fails when those settings
    /// cannot be used, as `strangler analyze` does on the same plan.
    pub fn new(analysis: Analysis, plan: &Plan) -> Result<Self, SettingsError> {
        let config = suggest_config(plan)?;
        let granularity = config.granularity;
        let coupling = Coupling::build(&analysis, granularity, &config.weights);
        let mut functions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let node_index: BTreeMap<String, usize> = analysis
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let is_function = |id: &str| {
            node_index
                .get(id)
                .is_some_and(|&i| analysis.nodes[i].kind == NodeKind::Function)
        };
        if granularity != Granularity::Function {
            for node in analysis
                .nodes
                .iter()
                .filter(|n| n.kind == NodeKind::Function)
            {
                if let Some(unit) = coupling.unit_of(&node.id) {
                    functions
                        .entry(unit.to_owned())
                        .or_default()
                        .push(node.id.clone());
                }
            }
        }
        let mut edges_of: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, edge) in analysis.edges.iter().enumerate() {
            if !matches!(
                edge.kind,
                EdgeKind::Calls | EdgeKind::Reads | EdgeKind::Writes
            ) {
                continue;
            }
            for end in [&edge.from, &edge.to] {
                if is_function(end) {
                    edges_of.entry(end.clone()).or_default().push(i);
                }
            }
        }
        Ok(Self {
            analysis,
            coupling,
            granularity,
            functions,
            node_index,
            edges_of,
        })
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

/// The clustering configuration of the plan's `[analyze]` settings, read
/// by the analyzer as `strangler analyze` reads them.
pub fn suggest_config(plan: &Plan) -> Result<SuggestConfig, SettingsError> {
    SuggestConfig::from_settings(&plan.analyze.clone().unwrap_or_default())
}

/// The granularity the plan's `[analyze]` names, else the analyzer's default
/// (modules). Only for words on the screen: a granularity that cannot be
/// used is reported when the analysis is folded onto the plan.
#[must_use]
pub fn granularity_of(plan: &Plan) -> Granularity {
    suggest_config(plan).map_or_else(|_| Granularity::default(), |c| c.granularity)
}

/// What a member of a plan at `granularity` is, for the UI: "module",
/// "function" or "file".
#[must_use]
pub fn unit_word(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Function => "function",
        Granularity::Module => "module",
        Granularity::File => "file",
    }
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
    /// What the monolith still serves outside the plan: the analysed
    /// routes no service lists, and the code in no service.
    Monolith,
}

impl Pane {
    /// The panes `/` can filter.
    #[must_use]
    pub fn filterable(self) -> bool {
        matches!(
            self,
            Pane::Services | Pane::Members | Pane::Routes | Pane::Tables | Pane::Monolith
        )
    }

    /// Every pane, in Tab order.
    pub const ALL: [Pane; 7] = [
        Pane::Services,
        Pane::Members,
        Pane::Details,
        Pane::Routes,
        Pane::Tables,
        Pane::Dsm,
        Pane::Monolith,
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
            Pane::Monolith => "Monolith",
        }
    }
}

/// A line of the monolith view: what the monolith serves that no service
/// of the plan lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonolithItem {
    /// An analysed route no plan route takes (boxed: a plan route is large).
    Route(Box<UnplannedRoute>),
    /// A code unit (at the plan's granularity) in no service.
    Unit {
        /// Its id.
        id: String,
        /// Whether the analyzer leaves it out as shared (a library every
        /// service links, or wiring), rather than just not placed yet.
        shared: bool,
    },
}

impl MonolithItem {
    /// Its columns: what it is (`route` or `code`), the route's methods,
    /// the route's path or the unit's id, and a note (the handler, or
    /// whether the code is shared).
    #[must_use]
    pub fn columns(&self) -> [String; 4] {
        match self {
            MonolithItem::Route(u) => [
                "route".to_owned(),
                u.route.methods_label(),
                u.route.path.to_string(),
                u.handler
                    .clone()
                    .unwrap_or_else(|| "(no handler found)".to_owned()),
            ],
            MonolithItem::Unit { id, shared } => [
                "code".to_owned(),
                String::new(),
                id.clone(),
                if *shared {
                    "shared: used by many areas"
                } else {
                    "in no service"
                }
                .to_owned(),
            ],
        }
    }

    /// The text it is filtered by: its columns.
    #[must_use]
    pub fn text(&self) -> String {
        self.columns().join(" ")
    }
}

/// A line of the members pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A section title; not selectable.
    Header(String),
    /// A member (what the plan moves), its tree depth and its label (the
    /// part below its parent).
    Member {
        /// The member's id.
        id: String,
        /// Depth in the module tree of the service.
        depth: usize,
        /// What is shown: the id below the nearest listed ancestor.
        label: String,
        /// How many functions the analysis puts inside it (0: not expandable).
        functions: usize,
    },
    /// A function inside an expanded member; it moves with its member.
    Function {
        /// The function's id.
        id: String,
        /// The member it belongs to.
        member: String,
        /// Depth in the tree (its member's plus one).
        depth: usize,
        /// What is shown: the id below the member.
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
    /// Set the selected service's `upstream` (empty removes it).
    Upstream,
    /// Set the selected service's `database` (empty removes it).
    Database,
    /// Filter the rows of this pane.
    Filter(Pane),
}

/// What a picker chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickPurpose {
    /// The service the member moves to.
    Move {
        /// The member.
        member: String,
    },
    /// The service an unplanned route of the monolith goes to.
    AdoptRoute(Box<UnplannedRoute>),
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
    Help {
        /// The first line shown.
        scroll: usize,
    },
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
    /// Re-run the clustering, keeping this plan's pins and placements; the
    /// answer is [`crate::Message::Suggested`] with this job number.
    Resuggest {
        /// The job number the answer carries.
        job: u64,
        /// The plan to re-cluster.
        plan: Box<Plan>,
    },
    /// Analyze a repository and fold it onto the plan's units; the answer is
    /// [`crate::Message::Analyzed`] with this job number.
    Analyze {
        /// The job number the answer carries.
        job: u64,
        /// The repository.
        repo: PathBuf,
        /// The plan whose granularity and weights the coupling graph uses.
        plan: Box<Plan>,
    },
}

/// Work running in the background, shown with a spinner until it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// The job number its answer must carry; any other answer is ignored.
    pub job: u64,
    /// What runs, as shown ("analyzing shop", "re-suggesting").
    pub what: String,
    /// The step it reported last.
    pub phase: String,
    /// `Model::ticks` when it started.
    pub started: u64,
    /// `Model::revision` when it started: a re-suggestion for an older plan
    /// is not offered.
    pub revision: u64,
}

/// The columns of the routes view, in order.
pub const ROUTE_COLUMNS: [&str; 6] = ["service", "methods", "path", "stage", "%", "match"];
/// The columns of the tables view, in order.
pub const TABLE_COLUMNS: [&str; 4] = ["service", "table", "stage", "ownership"];
/// How many of the routes view's columns sort (not the `match` column).
pub const ROUTE_SORT_COLUMNS: usize = 5;

/// How a view is sorted: a column of it, and the direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    /// The index of the column in [`ROUTE_COLUMNS`] or [`TABLE_COLUMNS`].
    pub column: usize,
    /// Largest first.
    pub descending: bool,
}

impl Sort {
    /// The header mark of column `column`: ▲ or ▼ when sorted by it.
    #[must_use]
    pub fn mark(self, column: usize) -> &'static str {
        match (column == self.column, self.descending) {
            (false, _) => "",
            (true, false) => "▲",
            (true, true) => "▼",
        }
    }
}

/// A filter narrowing the rows of one pane to those that match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The pane it narrows.
    pub pane: Pane,
    /// The text rows must contain (case-insensitive).
    pub text: String,
}

/// Whether row text contains the filter text, ignoring case.
#[must_use]
pub fn matches(text: &str, filter: &str) -> bool {
    text.to_lowercase().contains(&filter.to_lowercase())
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
    /// The selected row of the monolith view.
    pub monolith_row: usize,
    /// The selected row of the tables view.
    pub table_row: usize,
    /// The selected row of the coupling matrix.
    pub dsm_row: usize,
    /// The first line shown in the details pane.
    pub details_scroll: usize,
    /// How the routes view is sorted.
    pub route_sort: Sort,
    /// How the tables view is sorted.
    pub table_sort: Sort,
    /// Members whose functions are shown.
    pub expanded: BTreeSet<String>,
    /// The open popup.
    pub popup: Option<Popup>,
    /// The filter; n and N go to the next and previous match while it is set.
    pub filter: Option<Filter>,
    /// Background work the UI waits for.
    pub busy: Option<Busy>,
    /// Ticks of the loop's clock (about ten a second while busy).
    pub ticks: u64,
    /// The last job number handed out.
    pub jobs: u64,
    /// Counts edits, undos and redos, so an answer can tell the plan changed.
    pub revision: u64,
    /// The service each member and table (`table:<name>`) belongs to; made
    /// from the plan by [`Model::reevaluate`], with the metrics.
    pub owners: BTreeMap<String, String>,
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
        let (analyzed, unusable) = match analysis.map(|a| Analyzed::new(a, &plan)) {
            Some(Ok(analyzed)) => (Some(Arc::new(analyzed)), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
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
            monolith_row: 0,
            table_row: 0,
            dsm_row: 0,
            details_scroll: 0,
            route_sort: Sort::default(),
            table_sort: Sort::default(),
            expanded: BTreeSet::new(),
            popup: None,
            filter: None,
            busy: None,
            ticks: 0,
            jobs: 0,
            revision: 0,
            owners: BTreeMap::new(),
            status: String::new(),
            effect: None,
            quit_after_save: false,
            quit: false,
            size: (80, 24),
        };
        model.reevaluate();
        model.status = if model.read_only() {
            "the plan is invalid: read-only; fix the errors in the file and reopen it".to_owned()
        } else if let Some(e) = unusable {
            format!("no metrics or reasons: {e}")
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
        self.owners = owners(&self.plan);
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

    /// Starts analyzing `repo` in the background: the loop runs the
    /// [`Effect::Analyze`] and the UI shows a spinner until it answers.
    pub fn start_analysis(&mut self, repo: PathBuf) {
        let what = format!("analyzing {}", repo.display());
        let job = self.start_job(what);
        self.effect = Some(Effect::Analyze {
            job,
            repo,
            plan: Box::new(self.plan.clone()),
        });
    }

    /// Marks background work as started and returns its job number.
    pub fn start_job(&mut self, what: String) -> u64 {
        self.jobs += 1;
        self.status = format!("{what}… (Esc stops waiting)");
        self.busy = Some(Busy {
            job: self.jobs,
            what,
            phase: String::new(),
            started: self.ticks,
            revision: self.revision,
        });
        self.jobs
    }

    /// What the plan's members are: modules, functions or files.
    #[must_use]
    pub fn granularity(&self) -> Granularity {
        self.analyzed
            .as_ref()
            .map_or_else(|| granularity_of(&self.plan), |a| a.granularity)
    }

    /// The filter text of `pane`, when the filter narrows it.
    #[must_use]
    pub fn filter_of(&self, pane: Pane) -> Option<&str> {
        self.filter
            .as_ref()
            .filter(|f| f.pane == pane && !f.text.is_empty())
            .map(|f| f.text.as_str())
    }

    /// The functions the analysis puts inside member `id`.
    #[must_use]
    pub fn functions_of(&self, id: &str) -> &[String] {
        self.analyzed
            .as_ref()
            .and_then(|a| a.functions.get(id))
            .map_or(&[], Vec::as_slice)
    }

    /// The services shown in the services list (all, or those matching the
    /// filter), as indices into the plan's services.
    #[must_use]
    pub fn visible_services(&self) -> Vec<usize> {
        let filter = self.filter_of(Pane::Services);
        self.plan
            .services
            .iter()
            .enumerate()
            .filter(|(_, s)| filter.is_none_or(|f| matches(&s.name, f)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The rows of the members pane for the selected service: the member
    /// tree (with the functions of expanded members), its tables and its
    /// routes; only matching rows while a filter narrows the pane.
    #[must_use]
    pub fn rows(&self) -> Vec<Row> {
        let Some(service) = self.plan.services.get(self.service) else {
            return Vec::new();
        };
        let filter = self.filter_of(Pane::Members);
        let shown = |text: &str| filter.is_none_or(|f| matches(text, f));
        let count = |shown: usize, all: usize| {
            if filter.is_some() {
                format!("{shown} of {all}")
            } else {
                all.to_string()
            }
        };
        let mut members = Vec::new();
        let mut sorted: Vec<&String> = service.members.iter().collect();
        sorted.sort();
        let mut depth_of: BTreeMap<&str, usize> = BTreeMap::new();
        let mut matched = 0;
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
            let functions = self.functions_of(id);
            let function_row = |f: &String| Row::Function {
                id: f.clone(),
                member: id.clone(),
                depth: depth + 1,
                label: f
                    .strip_prefix(id.as_str())
                    .map_or(f.as_str(), |l| l.trim_start_matches("::"))
                    .to_owned(),
            };
            let inside: Vec<Row> = match filter {
                Some(f) => functions
                    .iter()
                    .map(function_row)
                    .filter(|r| matches!(r, Row::Function { label, .. } if matches(label, f)))
                    .collect(),
                None if self.expanded.contains(id) => functions.iter().map(function_row).collect(),
                None => Vec::new(),
            };
            if shown(id) || !inside.is_empty() {
                matched += 1;
                members.push(Row::Member {
                    id: id.clone(),
                    depth,
                    label,
                    functions: functions.len(),
                });
                members.extend(inside);
            }
        }
        let word = unit_word(self.granularity());
        let mut rows = vec![Row::Header(format!(
            "{word}s ({}), the units moved",
            count(matched, service.members.len())
        ))];
        rows.extend(members);
        let tables: Vec<usize> = (0..service.tables.len())
            .filter(|&i| shown(&service.tables[i].name))
            .collect();
        rows.push(Row::Header(format!(
            "tables ({})",
            count(tables.len(), service.tables.len())
        )));
        rows.extend(tables.into_iter().map(Row::Table));
        let routes: Vec<usize> = (0..service.routes.len())
            .filter(|&i| {
                let r = &service.routes[i];
                shown(&format!("{} {}", r.methods_label(), r.path))
            })
            .collect();
        rows.push(Row::Header(format!(
            "routes ({})",
            count(routes.len(), service.routes.len())
        )));
        rows.extend(routes.into_iter().map(Row::Route));
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

    /// What the monolith serves outside the plan, filtered: its routes no
    /// service lists (by path), then its code in no service (by id). Empty
    /// without the analysis.
    #[must_use]
    pub fn monolith_items(&self) -> Vec<MonolithItem> {
        let Some(a) = &self.analyzed else {
            return Vec::new();
        };
        let filter = self.filter_of(Pane::Monolith);
        let placed: BTreeSet<&str> = self
            .plan
            .services
            .iter()
            .flat_map(|s| s.members.iter().map(String::as_str))
            .collect();
        let shared: BTreeSet<&str> = self
            .eval
            .as_ref()
            .map(|e| e.shared.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let routes = unplanned_routes(&self.plan, &a.analysis)
            .into_iter()
            .map(|u| MonolithItem::Route(Box::new(u)));
        let mut units: Vec<&str> = a
            .coupling
            .units()
            .iter()
            .filter(|u| !u.table && !placed.contains(u.id.as_str()))
            .map(|u| u.id.as_str())
            .collect();
        units.sort_unstable();
        let units = units.into_iter().map(|id| MonolithItem::Unit {
            id: id.to_owned(),
            shared: shared.contains(id),
        });
        routes
            .chain(units)
            .filter(|item| filter.is_none_or(|f| matches(&item.text(), f)))
            .collect()
    }

    /// Every route as (service index, route index), in the view's order:
    /// those matching the filter, sorted by the chosen column.
    #[must_use]
    pub fn all_routes(&self) -> Vec<(usize, usize)> {
        let filter = self.filter_of(Pane::Routes);
        let mut out: Vec<(usize, usize)> = self
            .plan
            .services
            .iter()
            .enumerate()
            .flat_map(|(s, svc)| (0..svc.routes.len()).map(move |r| (s, r)))
            .filter(|&(s, r)| filter.is_none_or(|f| matches(&self.route_text(s, r), f)))
            .collect();
        let route = |&(s, r): &(usize, usize)| -> &Route { &self.plan.services[s].routes[r] };
        let name = |&(s, _): &(usize, usize)| self.plan.services[s].name.as_str();
        let sort = self.route_sort;
        out.sort_by(|a, b| {
            let key = match sort.column {
                0 => name(a).cmp(name(b)),
                1 => route(a).methods_label().cmp(&route(b).methods_label()),
                2 => route(a).path.to_string().cmp(&route(b).path.to_string()),
                3 => route(a).stage.cmp(&route(b).stage),
                _ => route(a).percent.cmp(&route(b).percent),
            };
            if sort.descending { key.reverse() } else { key }.then(a.cmp(b))
        });
        out
    }

    /// The text a route is filtered on: service, methods, path, stage and
    /// match conditions.
    #[must_use]
    pub fn route_text(&self, service: usize, route: usize) -> String {
        let svc = &self.plan.services[service];
        let r = &svc.routes[route];
        format!(
            "{} {} {} {} {}",
            svc.name,
            r.methods_label(),
            r.path,
            r.stage,
            conditions(r)
        )
    }

    /// Every table as (service index, table index), in the view's order:
    /// those matching the filter, sorted by the chosen column.
    #[must_use]
    pub fn all_tables(&self) -> Vec<(usize, usize)> {
        let filter = self.filter_of(Pane::Tables);
        let mut out: Vec<(usize, usize)> = self
            .plan
            .services
            .iter()
            .enumerate()
            .flat_map(|(s, svc)| (0..svc.tables.len()).map(move |t| (s, t)))
            .filter(|&(s, t)| {
                filter.is_none_or(|f| {
                    let svc = &self.plan.services[s];
                    let table = &svc.tables[t];
                    matches(&format!("{} {} {}", svc.name, table.name, table.stage), f)
                })
            })
            .collect();
        let table = |&(s, t): &(usize, usize)| -> &Table { &self.plan.services[s].tables[t] };
        let name = |&(s, _): &(usize, usize)| self.plan.services[s].name.as_str();
        let sort = self.table_sort;
        // Ownership looks at the graph: worked out once per table, not per
        // comparison.
        let owner: BTreeMap<(usize, usize), &str> = if sort.column == 3 {
            out.iter()
                .map(|&(s, t)| {
                    let svc = &self.plan.services[s];
                    ((s, t), self.ownership(&svc.name, &svc.tables[t].name))
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let own = |k: &(usize, usize)| owner.get(k).copied().unwrap_or_default();
        out.sort_by(|a, b| {
            let key = match sort.column {
                0 => name(a).cmp(name(b)),
                1 => table(a).name.cmp(&table(b).name),
                2 => table(a).stage.cmp(&table(b).stage),
                _ => own(a).cmp(own(b)),
            };
            if sort.descending { key.reverse() } else { key }.then(a.cmp(b))
        });
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
        let unit = format!("table:{table}");
        if analyzed.coupling.unit_of(&unit).is_none() {
            return "unknown";
        }
        let others = analyzed
            .coupling
            .ties(&unit)
            .any(|tie| self.owners.get(tie.other).is_some_and(|s| s != service));
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

/// The service each member and table (`table:<name>`) of `plan` belongs to.
#[must_use]
pub fn owners(plan: &Plan) -> BTreeMap<String, String> {
    plan.services
        .iter()
        .flat_map(|s| {
            s.members
                .iter()
                .cloned()
                .chain(s.tables.iter().map(|t| format!("table:{}", t.name)))
                .map(move |m| (m, s.name.clone()))
        })
        .collect()
}

/// A route's host and header conditions, as shown: `host=… k=v`, or empty.
#[must_use]
pub fn conditions(route: &Route) -> String {
    let mut parts: Vec<String> = route.host.iter().map(|h| format!("host={h}")).collect();
    parts.extend(route.headers.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join(" ")
}

/// The module ids above `id`, nearest first (`a::b::c` → `a::b`, `a`).
fn ancestors(id: &str) -> impl Iterator<Item = &str> {
    id.rmatch_indices("::").map(move |(i, _)| &id[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_the_analyzer_cannot_use_are_reported_not_ignored() {
        let mut plan = Plan::new(strangler_plan::Monolith::default());
        plan.analyze = Some(strangler_plan::AnalyzeSettings {
            weights: BTreeMap::from([("colour".to_owned(), 1.0)]),
            ..strangler_plan::AnalyzeSettings::default()
        });
        let analysis = Analysis {
            nodes: Vec::new(),
            edges: Vec::new(),
            diagnostics: Vec::new(),
            stats: strangler_analyzer::Stats::default(),
        };
        assert!(Analyzed::new(analysis.clone(), &plan).is_err());
        let model = Model::new("strangler.toml", plan, Vec::new(), Some(analysis));
        assert!(model.analyzed.is_none());
        assert!(
            model
                .status
                .contains("analyze.weights.colour is not a kind of evidence"),
            "{}",
            model.status
        );
    }
}
