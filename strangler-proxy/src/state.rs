//! The proxy's shared state: the live [`Snapshot`] (route table, upstreams
//! and metric handles) behind an `ArcSwap`, plan reloads, and stage changes
//! written back to the plan file.
//!
//! A request loads the snapshot once, at its start, and keeps it to its end,
//! so a reload never changes the rules under a request in flight; the next
//! request sees the new table. Reloads and admin edits are serialised by a
//! mutex that the request path never touches.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use http::HeaderValue;
use pingora::connectors::http::Connector;
use serde::Deserialize;
use strangler_plan::{Plan, PlanError, PlanFile, RouteStage};
use tokio::sync::Semaphore;

use crate::access_log::AccessLog;
use crate::config::{PeerTimeouts, ProxyConfig};
use crate::diff::DiffRegistry;
use crate::error::ProxyError;
use crate::fence::{Fences, InFlight};
use crate::gateway::{GatewayCache, Gateways};
use crate::metrics::{Metrics, RouteMetrics, RouteRuntime, UNMATCHED, metrics};
use crate::slo::SloTracker;
use crate::table::{RouteTable, Target};
use crate::upstream::Upstream;

/// One consistent view of the plan, swapped whole on reload.
#[derive(Debug)]
pub struct Snapshot {
    /// The plan it was built from.
    pub plan: Plan,
    /// Counts up with every table installed (0 until stored).
    pub generation: u64,
    /// The route table.
    pub table: RouteTable,
    /// The monolith.
    pub monolith: Arc<Upstream>,
    /// Each service's upstream, when the plan names one.
    pub services: Vec<Option<Arc<Upstream>>>,
    /// Values of the `x-strangler-target` response header, per service.
    pub service_names: Vec<HeaderValue>,
    /// Per-route metric handles and labels, parallel to the table's routes.
    pub routes: Vec<RouteRuntime>,
    /// Counters of requests no route matched.
    pub unmatched: RouteMetrics,
    /// Per route, parallel to the table's routes: the counter of its
    /// unsafe requests in flight, for routes that write tables.
    pub in_flight: Vec<Option<Arc<InFlight>>>,
    /// The gateway rules, parallel to the table's routes.
    pub gateways: Gateways,
}

impl Snapshot {
    /// The upstream of a target; `None` for a service without an upstream.
    #[must_use]
    pub fn upstream(&self, target: Target) -> Option<&Arc<Upstream>> {
        match target {
            Target::Monolith => Some(&self.monolith),
            Target::Service(s) => self.services.get(s).and_then(Option::as_ref),
        }
    }
}

/// Everything the proxy, the admin API and the background tasks share.
pub struct Shared {
    /// The configuration the proxy started with.
    pub config: ProxyConfig,
    /// The live snapshot. Private, and stored only by `Shared::store`,
    /// whose callers pass plans that validated: a plan that does not
    /// validate never replaces the live route table.
    current: ArcSwap<Snapshot>,
    /// The client for shadow copies and health checks.
    pub connector: Connector,
    /// Bounds the shadow copies in flight.
    pub shadow_permits: Arc<Semaphore>,
    /// The JSON access log, when on.
    pub access_log: Option<AccessLog>,
    /// The process-wide metrics.
    pub metrics: &'static Metrics,
    /// The write fences up, and the in-flight counters they drain.
    pub fences: Fences,
    /// Rate-limit buckets and fetched JWKS keys, kept across reloads.
    pub gateway: GatewayCache,
    /// Each route's response diffs, kept across reloads.
    pub diffs: DiffRegistry,
    /// The SLO windows and the plan's lease.
    pub slo: SloTracker,
    upstreams: Mutex<HashMap<String, Arc<Upstream>>>,
    edit: Mutex<()>,
    generation: AtomicU64,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new table is live.
    Applied {
        /// Its generation.
        generation: u64,
    },
    /// The plan did not change.
    Unchanged {
        /// The live generation.
        generation: u64,
    },
}

/// A stage change requested through the admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageChange {
    /// The service's name.
    pub service: String,
    /// The route's path template, as in the plan.
    pub route: String,
    /// The new stage.
    pub stage: String,
    /// The canary percentage; required by the plan at `canary`.
    #[serde(default)]
    pub percent: Option<u8>,
    /// The route's methods (`"GET,HEAD"` or `"*"`), when one service has
    /// several routes on the same path.
    #[serde(default)]
    pub methods: Option<String>,
    /// The route's host match (case-insensitive; `""` for the route without
    /// one), when one service has several routes on the same path.
    #[serde(default)]
    pub host: Option<String>,
    /// The route's header matches exactly (`{}` for the route without any),
    /// when one service has several routes on the same path and host.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

impl StageChange {
    /// Whether `route` fits the optional `methods`, `host` and `headers`.
    fn selects(&self, route: &strangler_plan::Route) -> bool {
        let methods = self.methods.as_deref().is_none_or(|m| {
            m.replace(' ', "")
                .eq_ignore_ascii_case(&route.methods_label())
        });
        let host = self.host.as_deref().is_none_or(|want| match &route.host {
            Some(host) => host.eq_ignore_ascii_case(want),
            None => want.is_empty(),
        });
        let headers = self.headers.as_ref().is_none_or(|want| {
            let lower = |m: &BTreeMap<String, String>| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            };
            lower(want) == lower(&route.headers)
        });
        methods && host && headers
    }
}

/// Why a stage change was refused.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// No such service or route.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed, the stage unknown, the move forbidden or
    /// the resulting plan invalid.
    #[error("{0}")]
    Invalid(String),
    /// Several routes fit the request; it must say which.
    #[error("{0}")]
    Ambiguous(String),
    /// The plan could not be read or written.
    #[error("{0}")]
    Io(String),
}

impl Shared {
    /// Loads the plan and builds the first snapshot.
    pub fn new(config: ProxyConfig) -> Result<Arc<Self>, ProxyError> {
        let file = PlanFile::open(&config.plan)?;
        let plan = file.ensure_valid()?.clone();
        let access_log = match &config.access_log {
            Some(path) => Some(
                AccessLog::open(path).map_err(|source| ProxyError::AccessLog {
                    path: path.clone(),
                    source,
                })?,
            ),
            None => None,
        };
        let metrics = metrics().map_err(|e| ProxyError::Metrics(e.to_string()))?;
        let slo = SloTracker::new(
            &config.plan,
            metrics.slo_rollbacks.clone(),
            metrics.slo_promotions.clone(),
        );
        let shared = Arc::new(Self {
            shadow_permits: Arc::new(Semaphore::new(config.shadow.max_in_flight)),
            config,
            current: ArcSwap::from_pointee(empty_snapshot(metrics)),
            connector: Connector::new(None),
            access_log,
            metrics,
            fences: Fences::new(
                metrics.fence_held.clone(),
                metrics.fence_hold_seconds.clone(),
            ),
            gateway: GatewayCache::default(),
            diffs: DiffRegistry::default(),
            slo,
            upstreams: Mutex::new(HashMap::new()),
            edit: Mutex::new(()),
            generation: AtomicU64::new(0),
        });
        let snapshot = shared.build(plan)?;
        shared.store(snapshot);
        Ok(shared)
    }

    /// The live snapshot; a request keeps the one it started with.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Every upstream of the live snapshot, the monolith first.
    #[must_use]
    pub fn upstreams(&self) -> Vec<Arc<Upstream>> {
        let snap = self.current.load();
        std::iter::once(snap.monolith.clone())
            .chain(snap.services.iter().flatten().cloned())
            .collect()
    }

    /// Re-reads the plan file and swaps the table if it changed. An invalid
    /// plan is rejected with its diagnostics and the old table stays.
    pub fn reload(&self) -> Result<ReloadOutcome, ProxyError> {
        let _edit = self.lock_edits();
        let result = PlanFile::open(&self.config.plan)
            .map_err(ProxyError::from)
            .and_then(|file| file.ensure_valid().cloned().map_err(ProxyError::from));
        let plan = match result {
            Ok(plan) => plan,
            Err(e) => {
                self.metrics.reloads.with_label_values(&["rejected"]).inc();
                tracing::error!("plan reload rejected, the old routes stay: {e}");
                return Err(e);
            }
        };
        if plan == self.current.load().plan {
            self.metrics.reloads.with_label_values(&["unchanged"]).inc();
            return Ok(ReloadOutcome::Unchanged {
                generation: self.current.load().generation,
            });
        }
        let snapshot = match self.build(plan) {
            Ok(snapshot) => snapshot,
            Err(e) => {
                self.metrics.reloads.with_label_values(&["rejected"]).inc();
                tracing::error!("plan reload rejected, the old routes stay: {e}");
                return Err(e);
            }
        };
        let generation = self.store(snapshot);
        self.metrics.reloads.with_label_values(&["applied"]).inc();
        tracing::info!(generation, "plan reloaded");
        Ok(ReloadOutcome::Applied { generation })
    }

    /// Changes one route's stage, writes the plan back atomically (keeping
    /// comments; refused for forbidden moves or an invalid result) and
    /// installs the new table. Returns the route's index in the new table.
    pub fn set_stage(&self, change: &StageChange) -> Result<usize, StageError> {
        let _edit = self.lock_edits();
        let stage: RouteStage = change
            .stage
            .parse()
            .map_err(|e: strangler_plan::UnknownStage| StageError::Invalid(e.to_string()))?;
        let mut file =
            PlanFile::open(&self.config.plan).map_err(|e| StageError::Io(e.to_string()))?;
        let mut plan = file
            .ensure_valid()
            .map_err(|e| StageError::Invalid(e.to_string()))?
            .clone();
        let service = plan.service_mut(&change.service).ok_or_else(|| {
            StageError::NotFound(format!("no service `{}` in the plan", change.service))
        })?;
        let candidates: Vec<usize> = service
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.path.as_str() == change.route && change.selects(r))
            .map(|(i, _)| i)
            .collect();
        let index = match candidates.as_slice() {
            [i] => *i,
            [] => {
                let narrowed =
                    change.methods.is_some() || change.host.is_some() || change.headers.is_some();
                return Err(StageError::NotFound(format!(
                    "service `{}` has no route `{}`{}",
                    change.service,
                    change.route,
                    if narrowed {
                        " with these methods, host and headers"
                    } else {
                        ""
                    },
                )));
            }
            several => {
                let routes: Vec<String> =
                    several.iter().map(|&i| service.routes[i].label()).collect();
                return Err(StageError::Ambiguous(format!(
                    "service `{}` has {} routes on `{}` ({}); name one with \"methods\", \"host\" (\"\" for none) or \"headers\"",
                    change.service,
                    several.len(),
                    change.route,
                    routes.join("; "),
                )));
            }
        };
        let route = &mut service.routes[index];
        route.stage = stage;
        if stage == RouteStage::Canary {
            if let Some(p) = change.percent {
                route.percent = Some(p);
            }
        } else if change.percent.is_some() {
            return Err(StageError::Invalid(
                "\"percent\" only applies at stage `canary`".to_owned(),
            ));
        } else {
            // The share means nothing outside `canary`; `sticky` stays, so a
            // later canary keeps the same clients together.
            route.percent = None;
        }
        // Built before the save, so a plan whose key files cannot be read
        // is neither saved nor installed.
        let snapshot = self
            .build(plan.clone())
            .map_err(|e| StageError::Invalid(e.to_string()))?;
        file.save(&plan).map_err(|e| match e {
            PlanError::Read { .. } | PlanError::Write { .. } | PlanError::ChangedOnDisk { .. } => {
                StageError::Io(e.to_string())
            }
            other => StageError::Invalid(other.to_string()),
        })?;
        let generation = self.store(snapshot);
        tracing::info!(
            service = %change.service,
            route = %change.route,
            stage = %stage,
            generation,
            "stage changed and saved"
        );
        let snap = self.current.load();
        let service_index = snap
            .table
            .services()
            .iter()
            .position(|s| s.name == change.service);
        Ok(snap
            .table
            .routes()
            .iter()
            .position(|r| Some(r.service) == service_index && r.index == index)
            .unwrap_or_default())
    }

    fn lock_edits(&self) -> MutexGuard<'_, ()> {
        self.edit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Builds a snapshot of `plan`. Fails when a gateway key file cannot be
    /// read, naming the route and the file.
    fn build(&self, plan: Plan) -> Result<Snapshot, ProxyError> {
        let table = RouteTable::new(&plan);
        let places: Vec<(usize, usize)> = table
            .routes()
            .iter()
            .map(|r| (r.service, r.index))
            .collect();
        let plan_dir = self
            .config
            .plan
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let gateways = self
            .gateway
            .compile(&plan, plan_dir, &places)
            .map_err(ProxyError::Gateway)?;
        let mut registry = self
            .upstreams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let timeouts = self.config.timeouts;
        let mut upstream = |url: &str| {
            registry
                .entry(url.to_owned())
                .or_insert_with(|| {
                    let up = Upstream::new(url, timeouts);
                    if let Err(e) = &up.peer {
                        tracing::warn!(
                            upstream = url,
                            "{e}; requests for it go to the monolith (or fail with 502 if it is the monolith)"
                        );
                    }
                    Arc::new(up)
                })
                .clone()
        };
        let monolith = upstream(&plan.monolith.upstream);
        let services: Vec<Option<Arc<Upstream>>> = plan
            .services
            .iter()
            .map(|s| s.upstream.as_deref().map(&mut upstream))
            .collect();
        let keep: Vec<String> = std::iter::once(monolith.url.clone())
            .chain(services.iter().flatten().map(|u| u.url.clone()))
            .collect();
        registry.retain(|url, _| keep.contains(url));
        drop(registry);

        let service_names = table
            .services()
            .iter()
            .map(|s| HeaderValue::from_str(&s.name).unwrap_or(HeaderValue::from_static("service")))
            .collect();
        let labels: Vec<&str> = table.routes().iter().map(|r| r.label.as_str()).collect();
        let diffs = self.diffs.for_routes(self.metrics, &labels);
        let routes: Vec<RouteRuntime> = table
            .routes()
            .iter()
            .zip(diffs)
            .map(|(r, diffs)| {
                let service = &table.services()[r.service].name;
                RouteRuntime::new(self.metrics, r.label(), service, r.stage.as_str(), diffs)
            })
            .collect();
        let in_flight = table
            .routes()
            .iter()
            .zip(&routes)
            .map(|(r, rt)| {
                let service = &table.services()[r.service].name;
                self.fences.in_flight_for(service, &rt.label, &r.writes)
            })
            .collect();
        self.metrics
            .routes
            .set(i64::try_from(table.routes().len()).unwrap_or(i64::MAX));
        Ok(Snapshot {
            plan,
            generation: 0,
            table,
            monolith,
            services,
            service_names,
            routes,
            unmatched: RouteMetrics::new(self.metrics, UNMATCHED, "monolith", "monolith"),
            in_flight,
            gateways,
        })
    }

    /// Makes a built snapshot live; returns its generation. The only writer
    /// of [`Shared::current`]: every caller passes a snapshot of a plan that
    /// validated (`ensure_valid`, or a `PlanFile::save` that succeeded).
    fn store(&self, mut snapshot: Snapshot) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        snapshot.generation = generation;
        self.current.store(Arc::new(snapshot));
        self.fences.prune();
        generation
    }
}

fn empty_snapshot(metrics: &Metrics) -> Snapshot {
    Snapshot {
        plan: Plan::new(strangler_plan::Monolith::default()),
        generation: 0,
        table: RouteTable::default(),
        monolith: Arc::new(Upstream::new("http://127.0.0.1:9", PeerTimeouts::default())),
        services: Vec::new(),
        service_names: Vec::new(),
        routes: Vec::new(),
        unmatched: RouteMetrics::new(metrics, UNMATCHED, "monolith", "monolith"),
        in_flight: Vec::new(),
        gateways: Gateways::default(),
    }
}
