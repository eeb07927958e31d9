//! Prometheus metrics, registered once per process in the default registry
//! through `pingora-prometheus`'s re-exported `prometheus` crate, which is
//! what `GET /metrics` on the admin address serves.
//!
//! The per-route handles are resolved when a route table is built, so a
//! request touches only atomics, never a label lookup.

use std::sync::{Mutex, OnceLock};

use pingora_prometheus::prometheus::{
    self, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

/// Every metric the proxy exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `strangler_requests_total{route,target,stage}`.
    pub requests: IntCounterVec,
    /// `strangler_request_errors_total{route,target,stage}`: 5xx or no answer.
    pub errors: IntCounterVec,
    /// `strangler_request_duration_seconds{route,target,stage}`.
    pub latency: HistogramVec,
    /// `strangler_fallbacks_total{route,reason}`.
    pub fallbacks: IntCounterVec,
    /// `strangler_shadow_requests_total{route,outcome}`.
    pub shadow: IntCounterVec,
    /// `strangler_shadow_duration_seconds{route}`.
    pub shadow_latency: HistogramVec,
    /// `strangler_reloads_total{result}`.
    pub reloads: IntCounterVec,
    /// `strangler_upstream_available{upstream}`: 1 when it takes traffic.
    pub upstream_available: IntGaugeVec,
    /// `strangler_routes`: routes in the live table.
    pub routes: IntGauge,
}

/// The label of requests no route matched.
pub const UNMATCHED: &str = "(unmatched)";

/// The process-wide metrics, built and registered by the first call; later
/// calls (more proxies in one process) share them. Fails only if a metric
/// definition is invalid.
pub fn metrics() -> Result<&'static Metrics, prometheus::Error> {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    if let Some(m) = METRICS.get() {
        return Ok(m);
    }
    let _init = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(m) = METRICS.get() {
        return Ok(m);
    }
    let m = Metrics::register()?;
    Ok(METRICS.get_or_init(|| m))
}

impl Metrics {
    fn register() -> Result<Self, prometheus::Error> {
        let rts = &["route", "target", "stage"];
        let buckets = vec![
            0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ];
        let m = Self {
            requests: IntCounterVec::new(
                Opts::new("strangler_requests_total", "Requests proxied."),
                rts,
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "strangler_request_errors_total",
                    "Requests answered with 5xx or not at all.",
                ),
                rts,
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "strangler_request_duration_seconds",
                    "Time from request to the end of the response.",
                )
                .buckets(buckets.clone()),
                rts,
            )?,
            fallbacks: IntCounterVec::new(
                Opts::new(
                    "strangler_fallbacks_total",
                    "Requests meant for a service that the monolith answered, by reason.",
                ),
                &["route", "reason"],
            )?,
            shadow: IntCounterVec::new(
                Opts::new(
                    "strangler_shadow_requests_total",
                    "Shadow copies by outcome (same_status, different_status, error, timeout, dropped, body_too_large, unavailable, upgrade_skipped).",
                ),
                &["route", "outcome"],
            )?,
            shadow_latency: HistogramVec::new(
                HistogramOpts::new(
                    "strangler_shadow_duration_seconds",
                    "Time a shadow copy took at the service.",
                )
                .buckets(buckets),
                &["route"],
            )?,
            reloads: IntCounterVec::new(
                Opts::new(
                    "strangler_reloads_total",
                    "Plan reloads by result (applied, unchanged, rejected).",
                ),
                &["result"],
            )?,
            upstream_available: IntGaugeVec::new(
                Opts::new(
                    "strangler_upstream_available",
                    "1 when the upstream takes traffic (checks pass, not ejected).",
                ),
                &["upstream"],
            )?,
            routes: IntGauge::new("strangler_routes", "Routes in the live table.")?,
        };
        let registry = prometheus::default_registry();
        let collectors: [Box<dyn prometheus::core::Collector>; 9] = [
            Box::new(m.requests.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.latency.clone()),
            Box::new(m.fallbacks.clone()),
            Box::new(m.shadow.clone()),
            Box::new(m.shadow_latency.clone()),
            Box::new(m.reloads.clone()),
            Box::new(m.upstream_available.clone()),
            Box::new(m.routes.clone()),
        ];
        for c in collectors {
            // Another copy of this library in the process registered the
            // same names first: the metrics still count, unexported.
            if let Err(e) = registry.register(c) {
                tracing::warn!("metric not registered: {e}");
            }
        }
        Ok(m)
    }
}

/// The pre-resolved counters of one route and target.
#[derive(Debug, Clone)]
pub struct RouteMetrics {
    /// Requests.
    pub requests: IntCounter,
    /// Errors.
    pub errors: IntCounter,
    /// Latency.
    pub latency: prometheus::Histogram,
}

impl RouteMetrics {
    /// The handles for `route`, `target` and `stage`.
    #[must_use]
    pub fn new(m: &Metrics, route: &str, target: &str, stage: &str) -> Self {
        let labels = [route, target, stage];
        Self {
            requests: m.requests.with_label_values(&labels),
            errors: m.errors.with_label_values(&labels),
            latency: m.latency.with_label_values(&labels),
        }
    }
}
