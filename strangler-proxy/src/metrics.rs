//! Prometheus metrics, registered once per process in the default registry
//! through `pingora-prometheus`'s re-exported `prometheus` crate, which is
//! what `GET /metrics` on the admin address serves.
//!
//! The per-route handles are resolved when a route table is built, so a
//! request touches only atomics, never a label lookup.

use std::sync::OnceLock;

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

/// The process-wide metrics, registered on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::register)
}

impl Metrics {
    fn register() -> Self {
        let rts = &["route", "target", "stage"];
        let buckets = vec![
            0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ];
        let m = Self {
            requests: IntCounterVec::new(
                Opts::new("strangler_requests_total", "Requests proxied."),
                rts,
            )
            .expect("valid metric"),
            errors: IntCounterVec::new(
                Opts::new(
                    "strangler_request_errors_total",
                    "Requests answered with 5xx or not at all.",
                ),
                rts,
            )
            .expect("valid metric"),
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "strangler_request_duration_seconds",
                    "Time from request to the end of the response.",
                )
                .buckets(buckets.clone()),
                rts,
            )
            .expect("valid metric"),
            fallbacks: IntCounterVec::new(
                Opts::new(
                    "strangler_fallbacks_total",
                    "Requests meant for a service that the monolith answered, by reason.",
                ),
                &["route", "reason"],
            )
            .expect("valid metric"),
            shadow: IntCounterVec::new(
                Opts::new(
                    "strangler_shadow_requests_total",
                    "Shadow copies by outcome (same_status, different_status, error, timeout, dropped, body_too_large, unavailable).",
                ),
                &["route", "outcome"],
            )
            .expect("valid metric"),
            shadow_latency: HistogramVec::new(
                HistogramOpts::new(
                    "strangler_shadow_duration_seconds",
                    "Time a shadow copy took at the service.",
                )
                .buckets(buckets),
                &["route"],
            )
            .expect("valid metric"),
            reloads: IntCounterVec::new(
                Opts::new(
                    "strangler_reloads_total",
                    "Plan reloads by result (applied, unchanged, rejected).",
                ),
                &["result"],
            )
            .expect("valid metric"),
            upstream_available: IntGaugeVec::new(
                Opts::new(
                    "strangler_upstream_available",
                    "1 when the upstream takes traffic (checks pass, not ejected).",
                ),
                &["upstream"],
            )
            .expect("valid metric"),
            routes: IntGauge::new("strangler_routes", "Routes in the live table.")
                .expect("valid metric"),
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
            if let Err(e) = registry.register(c) {
                tracing::warn!("metric not registered: {e}");
            }
        }
        m
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
    pub fn new(route: &str, target: &str, stage: &str) -> Self {
        let m = metrics();
        let labels = [route, target, stage];
        Self {
            requests: m.requests.with_label_values(&labels),
            errors: m.errors.with_label_values(&labels),
            latency: m.latency.with_label_values(&labels),
        }
    }
}
