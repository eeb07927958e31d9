//! SLO-guarded rollout: each route with an `slo` is judged over a sliding
//! window on the control loop's tick; a route at `canary` or `live` that
//! breaks it is moved back to the monolith, and a route with `promote`
//! steps its canary percent up after each window in which it held.
//!
//! Only the proxy holding the plan's lease decides ([`Lease`]: an
//! exclusive lock on a file next to the plan, released by the kernel when
//! the process ends), so replicas on one plan never fight over a route.
//! The holder judges on its own traffic, a sample of the whole. A decision
//! goes through [`Shared::set_stage`], the admin API's path: validated,
//! written to the plan with `PlanFile::save` (so every replica and the next
//! start agree), then the table is swapped.
//!
//! The numbers come from the route's own counters, sampled each tick:
//! requests and errors on the service's side, fallbacks to the monolith
//! (each a failed service attempt), latency histograms on both sides, and
//! the diff tallies. A window's figures are the differences between the
//! newest sample and the oldest one still inside the window; a window is
//! judged once a full one has passed since the route's stage last changed.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use pingora_prometheus::prometheus::core::Metric as _;
use pingora_prometheus::prometheus::{Histogram, IntCounter, IntCounterVec};
use serde_json::{Value, json};
use strangler_plan::{RouteStage, Slo};

use crate::metrics::RouteRuntime;
use crate::state::{Shared, StageChange};
use crate::table::RouteEntry;

/// The exclusive right to make SLO decisions for a plan.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    held: Mutex<Option<File>>,
}

impl Lease {
    /// The lease of the plan at `plan`: the file `<plan>.lease` beside it.
    #[must_use]
    pub fn for_plan(plan: &Path) -> Self {
        let mut name = plan.file_name().unwrap_or_default().to_os_string();
        name.push(".lease");
        Self {
            path: plan.with_file_name(name),
            held: Mutex::new(None),
        }
    }

    /// Whether this proxy holds the lease, taking it when it is free.
    pub fn hold(&self) -> bool {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some() {
            return true;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path);
        match file {
            Ok(file) => match file.try_lock() {
                Ok(()) => {
                    tracing::info!(lease = %self.path.display(), "this proxy makes the SLO decisions");
                    *held = Some(file);
                    true
                }
                Err(_) => false,
            },
            Err(e) => {
                tracing::warn!(lease = %self.path.display(), "cannot open the SLO lease: {e}; no SLO decisions");
                false
            }
        }
    }

    /// Whether this proxy holds the lease now (without trying to take it).
    #[must_use]
    pub fn is_held(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }
}

/// One reading of a route's counters.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    requests: u64,
    errors: u64,
    fallbacks: u64,
    service_buckets: Vec<(f64, u64)>,
    monolith_requests: u64,
    monolith_buckets: Vec<(f64, u64)>,
    compared: u64,
    different: u64,
}

/// What the tracker remembers of a route between ticks.
#[derive(Debug, Default)]
struct Track {
    /// The stage and percent the samples were taken at.
    at: Option<(RouteStage, u8)>,
    samples: VecDeque<Sample>,
    /// The monolith's p99 on the route from the last window that had
    /// enough of its requests (at `live` it gets none).
    baseline_p99: Option<f64>,
    /// Windows that decided something (held or broke the SLO), and the
    /// last judgement's figures and verdict.
    windows: u64,
    last: Option<(Window, Verdict)>,
}

/// The SLO tracker of one proxy.
#[derive(Debug)]
pub struct SloTracker {
    /// The plan's lease.
    pub lease: Lease,
    routes: Mutex<HashMap<String, Track>>,
    rollbacks: IntCounterVec,
    promotions: IntCounterVec,
}

/// A window's figures for one route.
#[derive(Debug, Clone, Copy)]
struct Window {
    requests: u64,
    errors: u64,
    service_p99: Option<f64>,
    monolith_p99: Option<f64>,
    compared: u64,
    different: u64,
}

impl Window {
    fn error_rate(&self) -> f64 {
        ratio(self.errors, self.requests)
    }

    fn diff_rate(&self) -> f64 {
        ratio(self.different, self.compared)
    }
}

fn ratio(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// What a window says about a route.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// Not enough requests, or not a full window yet.
    Undecided,
    /// The SLO broke, for this reason.
    Breach(String),
    /// The SLO held.
    Held,
}

impl SloTracker {
    /// A tracker for the plan at `plan`, counting in `rollbacks` and
    /// `promotions`.
    #[must_use]
    pub fn new(plan: &Path, rollbacks: IntCounterVec, promotions: IntCounterVec) -> Self {
        Self {
            lease: Lease::for_plan(plan),
            routes: Mutex::new(HashMap::new()),
            rollbacks,
            promotions,
        }
    }

    /// One tick: samples every route with an SLO and, holding the lease,
    /// acts on the windows that are complete.
    pub fn tick(&self, shared: &Shared) {
        let snap = shared.snapshot();
        let guarded: Vec<(&RouteEntry, &RouteRuntime)> = snap
            .table
            .routes()
            .iter()
            .zip(&snap.routes)
            .filter(|(r, _)| r.slo.is_some())
            .collect();
        if guarded.is_empty() {
            return;
        }
        let leader = self.lease.hold();
        let now = Instant::now();
        let mut decisions = Vec::new();
        {
            let mut routes = self
                .routes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            routes.retain(|label, _| guarded.iter().any(|(_, rt)| rt.label == *label));
            for (entry, rt) in &guarded {
                let Some(slo) = &entry.slo else { continue };
                let window = slo.window().unwrap_or(Slo::DEFAULT_WINDOW);
                let track = routes.entry(rt.label.clone()).or_default();
                let here = (entry.stage, entry.percent);
                if track.at != Some(here) {
                    track.at = Some(here);
                    track.samples.clear();
                }
                track.samples.push_back(sample(rt, now));
                // Keep the newest sample at least a window old as the base.
                while track.samples.len() > 2
                    && track
                        .samples
                        .get(1)
                        .is_some_and(|s| now.duration_since(s.at) >= window)
                {
                    track.samples.pop_front();
                }
                let (Some(first), Some(last)) = (track.samples.front(), track.samples.back())
                else {
                    continue;
                };
                if now.duration_since(first.at) < window {
                    continue;
                }
                let w = figures(first, last, slo);
                if let Some(p99) = w.monolith_p99 {
                    track.baseline_p99 = Some(p99);
                }
                let w = Window {
                    monolith_p99: w.monolith_p99.or(track.baseline_p99),
                    ..w
                };
                let verdict = judge(entry, slo, &w);
                if verdict != Verdict::Undecided {
                    track.windows += 1;
                }
                track.last = Some((w, verdict.clone()));
                if verdict != Verdict::Undecided && leader {
                    let service = snap
                        .table
                        .services()
                        .get(entry.service)
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    decisions.push(((*entry).clone(), service, rt.label.clone(), verdict, w));
                    // The next judgement needs a window of its own.
                    let last = track.samples.pop_back();
                    track.samples.clear();
                    track.samples.extend(last);
                }
            }
        }
        for (entry, service, label, verdict, w) in decisions {
            self.act(shared, &entry, &service, &label, &verdict, &w);
        }
    }

    /// Moves a route back after a breach, or a step on after a window that
    /// held, through the admin API's path.
    fn act(
        &self,
        shared: &Shared,
        entry: &RouteEntry,
        service: &str,
        label: &str,
        verdict: &Verdict,
        w: &Window,
    ) {
        let change = |stage: RouteStage, percent: Option<u8>| StageChange {
            service: service.to_owned(),
            route: entry.path.as_str().to_owned(),
            stage: stage.as_str().to_owned(),
            percent,
            methods: Some(entry.methods.clone()),
            host: Some(entry.host.clone().unwrap_or_default()),
            headers: Some(
                entry
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            v.to_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            ),
        };
        let numbers = format!(
            "{} requests, error rate {:.4}, service p99 {}, monolith p99 {}, diff rate {:.4} of {} compared",
            w.requests,
            w.error_rate(),
            ms(w.service_p99),
            ms(w.monolith_p99),
            w.diff_rate(),
            w.compared
        );
        match verdict {
            Verdict::Breach(reason)
                if matches!(entry.stage, RouteStage::Canary | RouteStage::Live) =>
            {
                match shared.set_stage(&change(RouteStage::Monolith, None)) {
                    Ok(_) => {
                        self.rollbacks.with_label_values(&[label]).inc();
                        tracing::warn!(
                            route = label,
                            from = entry.stage.as_str(),
                            percent = entry.percent,
                            "SLO broken ({reason}; {numbers}): moved back to the monolith and saved in the plan"
                        );
                    }
                    Err(e) => tracing::error!(
                        route = label,
                        "SLO broken ({reason}; {numbers}), but the route cannot move back to the monolith: {e}"
                    ),
                }
            }
            Verdict::Held => {
                let Some((stage, percent)) = next_step(entry) else {
                    return;
                };
                match shared.set_stage(&change(stage, percent)) {
                    Ok(_) => {
                        self.promotions.with_label_values(&[label]).inc();
                        tracing::info!(
                            route = label,
                            to = stage.as_str(),
                            percent,
                            "SLO held ({numbers}): promoted and saved in the plan"
                        );
                    }
                    Err(e) => tracing::warn!(
                        route = label,
                        "SLO held ({numbers}), but the promotion was refused: {e}"
                    ),
                }
            }
            Verdict::Breach(_) | Verdict::Undecided => {}
        }
    }

    /// The tracker's view for `GET /routes`: whether this proxy decides.
    #[must_use]
    pub fn summary(&self) -> Value {
        json!({"lease": self.lease.path.display().to_string(), "held": self.lease.is_held()})
    }

    /// One route's SLO state for `GET /routes`: the windows that decided
    /// something, and the last judgement's figures and verdict.
    #[must_use]
    pub fn route_status(&self, label: &str) -> Value {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(track) = routes.get(label) else {
            return Value::Null;
        };
        let last = track.last.as_ref().map(|(w, verdict)| {
            let (verdict, reason) = match verdict {
                Verdict::Undecided => ("undecided", None),
                Verdict::Held => ("held", None),
                Verdict::Breach(reason) => ("breach", Some(reason.as_str())),
            };
            json!({
                "verdict": verdict,
                "reason": reason,
                "requests": w.requests,
                "error_rate": w.error_rate(),
                "service_p99_ms": w.service_p99.map(|s| s * 1e3),
                "monolith_p99_ms": w.monolith_p99.map(|s| s * 1e3),
                "compared": w.compared,
                "diff_rate": w.diff_rate(),
            })
        });
        json!({"windows": track.windows, "last": last})
    }
}

fn ms(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "unknown".to_owned(), |s| format!("{:.1} ms", s * 1e3))
}

/// The route's next promotion step, when it has one: from `shadow` the
/// first step, from `canary` the first step above its percent (`live` at
/// 100).
fn next_step(entry: &RouteEntry) -> Option<(RouteStage, Option<u8>)> {
    let step = match entry.stage {
        RouteStage::Shadow => entry.promote.first().copied(),
        RouteStage::Canary => entry.promote.iter().copied().find(|p| *p > entry.percent),
        RouteStage::Monolith | RouteStage::Live => None,
    }?;
    Some(if step >= 100 {
        (RouteStage::Live, None)
    } else {
        (RouteStage::Canary, Some(step))
    })
}

/// Judges a complete window.
fn judge(entry: &RouteEntry, slo: &Slo, w: &Window) -> Verdict {
    let min = slo.min_requests.unwrap_or(Slo::DEFAULT_MIN_REQUESTS);
    match entry.stage {
        RouteStage::Monolith => Verdict::Undecided,
        RouteStage::Shadow => {
            if entry.promote.is_empty() || w.compared < min {
                return Verdict::Undecided;
            }
            let allowed = slo
                .max_diff_rate
                .map_or(Slo::DEFAULT_MAX_DIFF_RATE, |r| r.0);
            if w.diff_rate() <= allowed {
                Verdict::Held
            } else {
                Verdict::Undecided
            }
        }
        RouteStage::Canary | RouteStage::Live => {
            if w.requests < min {
                return Verdict::Undecided;
            }
            if let Some(limit) = slo.error_rate
                && w.error_rate() > limit.0
            {
                return Verdict::Breach(format!(
                    "error rate {:.4} above {}",
                    w.error_rate(),
                    limit.0
                ));
            }
            if let (Some(limit), Some(service), Some(monolith)) =
                (slo.p99_ratio, w.service_p99, w.monolith_p99)
                && monolith > 0.0
                && service > limit.0 * monolith
            {
                return Verdict::Breach(format!(
                    "p99 {:.1} ms above {} × the monolith's {:.1} ms",
                    service * 1e3,
                    limit.0,
                    monolith * 1e3
                ));
            }
            Verdict::Held
        }
    }
}

/// Reads a route's counters now.
fn sample(rt: &RouteRuntime, at: Instant) -> Sample {
    let (compared, different) = rt.diffs.counts();
    Sample {
        at,
        requests: rt.service.requests.get(),
        errors: rt.service.errors.get(),
        fallbacks: rt.fallbacks.iter().map(IntCounter::get).sum(),
        service_buckets: buckets(&rt.service.latency),
        monolith_requests: rt.monolith.requests.get(),
        monolith_buckets: buckets(&rt.monolith.latency),
        compared,
        different,
    }
}

/// A histogram's cumulative buckets: (upper bound in seconds, count).
fn buckets(h: &Histogram) -> Vec<(f64, u64)> {
    h.metric()
        .get_histogram()
        .get_bucket()
        .iter()
        .map(|b| (b.upper_bound(), b.cumulative_count()))
        .collect()
}

/// The figures between two samples. A fallback is a service attempt that
/// failed (its request is counted on the monolith's side).
fn figures(first: &Sample, last: &Sample, slo: &Slo) -> Window {
    let fallbacks = last.fallbacks.saturating_sub(first.fallbacks);
    let min = slo.min_requests.unwrap_or(Slo::DEFAULT_MIN_REQUESTS);
    let monolith = last
        .monolith_requests
        .saturating_sub(first.monolith_requests)
        .saturating_sub(fallbacks);
    Window {
        requests: last.requests.saturating_sub(first.requests) + fallbacks,
        errors: last.errors.saturating_sub(first.errors) + fallbacks,
        service_p99: p99(&first.service_buckets, &last.service_buckets),
        monolith_p99: (monolith >= min)
            .then(|| p99(&first.monolith_buckets, &last.monolith_buckets))
            .flatten(),
        compared: last.compared.saturating_sub(first.compared),
        different: last.different.saturating_sub(first.different),
    }
}

/// The 99th percentile of the observations between two cumulative bucket
/// readings, interpolated within its bucket as Prometheus'
/// `histogram_quantile` does; `None` without observations.
fn p99(first: &[(f64, u64)], last: &[(f64, u64)]) -> Option<f64> {
    let counts: Vec<(f64, u64)> = last
        .iter()
        .zip(first.iter().map(|b| b.1).chain(std::iter::repeat(0)))
        .map(|(&(bound, n), before)| (bound, n.saturating_sub(before)))
        .collect();
    let total = counts.last().map(|b| b.1)?;
    if total == 0 {
        return None;
    }
    let rank = 0.99 * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, count) in &counts {
        if count as f64 >= rank {
            if !bound.is_finite() {
                return Some(lower.0);
            }
            let within = (count - lower.1) as f64;
            let share = if within > 0.0 {
                (rank - lower.1 as f64) / within
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * share);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_interpolates_within_its_bucket() {
        let before = [(0.001, 0), (0.01, 0), (0.1, 0)];
        // 90 fast, 10 between 10 and 100 ms.
        let after = [(0.001, 90), (0.01, 90), (0.1, 100)];
        let p = p99(&before, &after).unwrap();
        assert!((p - 0.091).abs() < 1e-9, "{p}");
        assert_eq!(p99(&after, &after), None);
    }

    #[test]
    fn promotion_steps_go_up_and_end_live() {
        let mut entry = crate::table::test_entry(RouteStage::Shadow, 0);
        entry.promote = vec![1, 5, 100];
        assert_eq!(next_step(&entry), Some((RouteStage::Canary, Some(1))));
        entry.stage = RouteStage::Canary;
        entry.percent = 1;
        assert_eq!(next_step(&entry), Some((RouteStage::Canary, Some(5))));
        entry.percent = 5;
        assert_eq!(next_step(&entry), Some((RouteStage::Live, None)));
        entry.stage = RouteStage::Live;
        assert_eq!(next_step(&entry), None);
    }

    #[test]
    fn windows_are_judged_by_errors_latency_and_diffs() {
        let slo = Slo {
            error_rate: Some(strangler_plan::Ratio(0.05)),
            p99_ratio: Some(strangler_plan::Ratio(1.5)),
            min_requests: Some(10),
            ..Slo::default()
        };
        let w = |requests, errors, service_p99, compared, different| Window {
            requests,
            errors,
            service_p99,
            monolith_p99: Some(0.010),
            compared,
            different,
        };
        let mut live = crate::table::test_entry(RouteStage::Live, 0);
        assert_eq!(judge(&live, &slo, &w(9, 9, None, 0, 0)), Verdict::Undecided);
        assert_eq!(
            judge(&live, &slo, &w(100, 5, Some(0.015), 0, 0)),
            Verdict::Held
        );
        assert!(
            matches!(judge(&live, &slo, &w(100, 6, None, 0, 0)), Verdict::Breach(r) if r.contains("error rate"))
        );
        assert!(
            matches!(judge(&live, &slo, &w(100, 0, Some(0.016), 0, 0)), Verdict::Breach(r) if r.contains("p99"))
        );
        live.stage = RouteStage::Shadow;
        assert_eq!(
            judge(&live, &slo, &w(0, 0, None, 100, 0)),
            Verdict::Undecided,
            "no promote"
        );
        live.promote = vec![1, 100];
        assert_eq!(judge(&live, &slo, &w(0, 0, None, 100, 1)), Verdict::Held);
        assert_eq!(
            judge(&live, &slo, &w(0, 0, None, 100, 2)),
            Verdict::Undecided
        );
        assert_eq!(judge(&live, &slo, &w(0, 0, None, 9, 0)), Verdict::Undecided);
    }
}
