//! Prometheus metrics, registered once per process in the default registry
//! through `pingora-prometheus`'s re-exported `prometheus` crate, which is
//! what `GET /metrics` on the admin address serves.
//!
//! The per-route handles ([`RouteRuntime`], with its [`RouteMetrics`] and
//! [`ShadowMetrics`]) are resolved when a route table is built, so a
//! request touches only atomics, never a label lookup. The label values
//! that are fixed sets, fallback reasons and shadow outcomes, are enums
//! here too.

use std::sync::{Arc, Mutex, OnceLock};

use pingora_prometheus::prometheus::{
    self, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts,
};

use crate::diff::RouteDiffs;

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
    /// `strangler_shadow_diffs_total{route,result}`: service answers
    /// compared with the monolith's (`equal`, `different`,
    /// `noise_filtered`).
    pub diffs: IntCounterVec,
    /// `strangler_shadow_diff_paths_total{route,path,side}`: how often a
    /// path differed, with the service (`side="service"`) or between two
    /// monolith answers (`side="noise"`); at most 64 paths per route.
    pub diff_paths: IntCounterVec,
    /// `strangler_reloads_total{result}`.
    pub reloads: IntCounterVec,
    /// `strangler_slo_rollbacks_total{route}`: routes moved back to the
    /// monolith because they broke their SLO.
    pub slo_rollbacks: IntCounterVec,
    /// `strangler_slo_promotions_total{route}`: promotion steps taken.
    pub slo_promotions: IntCounterVec,
    /// `strangler_upstream_available{upstream}`: 1 when it takes traffic.
    pub upstream_available: IntGaugeVec,
    /// `strangler_routes`: routes in the live table.
    pub routes: IntGauge,
    /// `strangler_header_timeouts_total`: client connections closed because
    /// their request header did not complete in time (slowloris).
    pub header_timeouts: IntCounter,
    /// `strangler_trace_spans_total{outcome}`: spans `exported`, `failed`
    /// (the collector refused or could not be reached) or `dropped` (the
    /// export queue was full).
    pub trace_spans: IntCounterVec,
    /// `strangler_gateway_answers_total{route,reason}`: requests the
    /// gateway answered at the edge (`unauthenticated`, `forbidden`,
    /// `rate_limited`, `cors_preflight`).
    pub gateway: IntCounterVec,
    /// `strangler_proxy_fence_held`: requests a write fence holds now.
    pub fence_held: IntGauge,
    /// `strangler_proxy_fence_hold_seconds`: how long each held request
    /// waited for its fence to lift.
    pub fence_hold_seconds: Histogram,
}

/// The label of requests no route matched (the plan's, which the tools
/// reading these metrics share).
pub const UNMATCHED: &str = strangler_plan::UNMATCHED_LABEL;

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
    #[allow(clippy::too_many_lines)] // One literal: a field per metric.
    fn register() -> Result<Self, prometheus::Error> {
        let (fence_held, fence_hold_seconds) = fence_metrics()?;
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
            gateway: IntCounterVec::new(
                Opts::new(
                    "strangler_gateway_answers_total",
                    "Requests the gateway answered at the edge, by reason (unauthenticated, forbidden, rate_limited, cors_preflight).",
                ),
                &["route", "reason"],
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
                    "Shadow copies by outcome (same_status, different_status, error, timeout, dropped, body_too_large, unavailable, upgrade_skipped, write_not_owned_skipped, write_skipped).",
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
            diffs: IntCounterVec::new(
                Opts::new(
                    "strangler_shadow_diffs_total",
                    "Shadow answers compared with the monolith's, by result (equal, different, noise_filtered).",
                ),
                &["route", "result"],
            )?,
            diff_paths: IntCounterVec::new(
                Opts::new(
                    "strangler_shadow_diff_paths_total",
                    "Differences by path: with the service (side=service) or between two monolith answers (side=noise).",
                ),
                &["route", "path", "side"],
            )?,
            slo_rollbacks: IntCounterVec::new(
                Opts::new(
                    "strangler_slo_rollbacks_total",
                    "Routes moved back to the monolith because they broke their SLO.",
                ),
                &["route"],
            )?,
            slo_promotions: IntCounterVec::new(
                Opts::new(
                    "strangler_slo_promotions_total",
                    "Promotion steps taken by routes whose SLO held.",
                ),
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
            header_timeouts: IntCounter::new(
                "strangler_header_timeouts_total",
                "Client connections closed because the request header did not complete in time.",
            )?,
            trace_spans: IntCounterVec::new(
                Opts::new(
                    "strangler_trace_spans_total",
                    "Request spans by outcome (exported, failed, dropped: the export queue was full).",
                ),
                &["outcome"],
            )?,
            fence_held,
            fence_hold_seconds,
        };
        let registry = prometheus::default_registry();
        let collectors: [Box<dyn prometheus::core::Collector>; 18] = [
            Box::new(m.slo_rollbacks.clone()),
            Box::new(m.slo_promotions.clone()),
            Box::new(m.diffs.clone()),
            Box::new(m.diff_paths.clone()),
            Box::new(m.requests.clone()),
            Box::new(m.gateway.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.latency.clone()),
            Box::new(m.fallbacks.clone()),
            Box::new(m.shadow.clone()),
            Box::new(m.shadow_latency.clone()),
            Box::new(m.reloads.clone()),
            Box::new(m.upstream_available.clone()),
            Box::new(m.routes.clone()),
            Box::new(m.header_timeouts.clone()),
            Box::new(m.trace_spans.clone()),
            Box::new(m.fence_held.clone()),
            Box::new(m.fence_hold_seconds.clone()),
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

/// The write fences' gauge of held requests and histogram of their waits.
fn fence_metrics() -> Result<(IntGauge, Histogram), prometheus::Error> {
    Ok((
        IntGauge::new(
            "strangler_proxy_fence_held",
            "Requests a write fence holds now.",
        )?,
        Histogram::with_opts(
            HistogramOpts::new(
                "strangler_proxy_fence_hold_seconds",
                "How long each request held by a write fence waited.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
        )?,
    ))
}

/// The pre-resolved counters of one route and target.
#[derive(Debug, Clone)]
pub struct RouteMetrics {
    /// Requests.
    pub requests: IntCounter,
    /// Errors.
    pub errors: IntCounter,
    /// Latency.
    pub latency: Histogram,
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

/// Why a request meant for a service was answered by the monolith.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// The service could not be connected (refused, timed out); nothing
    /// was sent, so any method falls back.
    ConnectFailed,
    /// Health checks fail or the service is ejected, or it has no address.
    Unavailable,
    /// The service answered 5xx to an idempotent request.
    ServiceError,
    /// The connection broke after the request was sent, for an idempotent
    /// request.
    Reset,
    /// The service missed a read or write timeout after the request was
    /// (partly) sent, for an idempotent request.
    Timeout,
}

impl FallbackReason {
    /// Every reason, in the order of [`RouteRuntime::fallbacks`]: the
    /// order of declaration, so `reason as usize` is its index.
    pub const ALL: [FallbackReason; 5] = [
        FallbackReason::ConnectFailed,
        FallbackReason::Unavailable,
        FallbackReason::ServiceError,
        FallbackReason::Reset,
        FallbackReason::Timeout,
    ];

    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::ConnectFailed => "connect_failed",
            FallbackReason::Unavailable => "unavailable",
            FallbackReason::ServiceError => "service_5xx",
            FallbackReason::Reset => "reset",
            FallbackReason::Timeout => "timeout",
        }
    }
}

/// One route's metric handles and label, parallel to the route table's
/// routes.
#[derive(Debug)]
pub struct RouteRuntime {
    /// `METHODS path [conditions]`, the route's label in metrics and logs.
    pub label: String,
    /// Counters of requests the service answered.
    pub service: RouteMetrics,
    /// Counters of requests the monolith answered.
    pub monolith: RouteMetrics,
    /// Fallback counters, by [`FallbackReason::ALL`] index.
    pub fallbacks: [IntCounter; FallbackReason::ALL.len()],
    /// Shadow outcome counters and latency.
    pub shadow: Arc<ShadowMetrics>,
    /// The route's response diffs, kept across reloads.
    pub diffs: Arc<RouteDiffs>,
}

impl RouteRuntime {
    /// The handles for the route labelled `label`, of the service named
    /// `service`, at `stage`.
    #[must_use]
    pub fn new(
        m: &Metrics,
        label: String,
        service: &str,
        stage: &str,
        diffs: Arc<RouteDiffs>,
    ) -> Self {
        Self {
            service: RouteMetrics::new(m, &label, service, stage),
            monolith: RouteMetrics::new(m, &label, "monolith", stage),
            fallbacks: FallbackReason::ALL
                .map(|f| m.fallbacks.with_label_values(&[&label, f.as_str()])),
            shadow: Arc::new(ShadowMetrics::new(m, &label)),
            diffs,
            label,
        }
    }

    /// Counts one fallback of this route.
    pub fn count_fallback(&self, reason: FallbackReason) {
        self.fallbacks[reason as usize].inc();
    }
}

/// What became of a shadow copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowOutcome {
    /// The service answered with the monolith's status.
    SameStatus,
    /// The service answered with another status.
    DifferentStatus,
    /// The copy failed (refused, reset, bad response).
    Error,
    /// The service took longer than the shadow timeout.
    Timeout,
    /// Too many copies were in flight.
    Dropped,
    /// The body was larger than the shadow body cap.
    BodyTooLarge,
    /// The service is down, ejected or has no address.
    Unavailable,
    /// Protocol upgrades (WebSockets) are not copied.
    UpgradeSkipped,
    /// An unsafe request (RFC 9110 §9.2.1) on a route that writes a table
    /// its service does not own yet is not copied: the service's copy of
    /// the table is still fed by the sync.
    WriteNotOwnedSkipped,
    /// An unsafe request on a route without `shadow_writes = true` is not
    /// copied: the service has not said it runs copies as a dry run.
    WriteSkipped,
}

impl ShadowOutcome {
    /// Every outcome, in the order of [`ShadowMetrics`]' counters: the
    /// order of declaration, so `outcome as usize` is its index.
    pub const ALL: [ShadowOutcome; 10] = [
        ShadowOutcome::SameStatus,
        ShadowOutcome::DifferentStatus,
        ShadowOutcome::Error,
        ShadowOutcome::Timeout,
        ShadowOutcome::Dropped,
        ShadowOutcome::BodyTooLarge,
        ShadowOutcome::Unavailable,
        ShadowOutcome::UpgradeSkipped,
        ShadowOutcome::WriteNotOwnedSkipped,
        ShadowOutcome::WriteSkipped,
    ];

    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ShadowOutcome::SameStatus => "same_status",
            ShadowOutcome::DifferentStatus => "different_status",
            ShadowOutcome::Error => "error",
            ShadowOutcome::Timeout => "timeout",
            ShadowOutcome::Dropped => "dropped",
            ShadowOutcome::BodyTooLarge => "body_too_large",
            ShadowOutcome::Unavailable => "unavailable",
            ShadowOutcome::UpgradeSkipped => "upgrade_skipped",
            ShadowOutcome::WriteNotOwnedSkipped => "write_not_owned_skipped",
            ShadowOutcome::WriteSkipped => "write_skipped",
        }
    }
}

/// One route's shadow metric handles, resolved when the table is built.
#[derive(Debug)]
pub struct ShadowMetrics {
    /// The route's label.
    pub route: String,
    outcomes: [IntCounter; ShadowOutcome::ALL.len()],
    latency: Histogram,
}

impl ShadowMetrics {
    /// The handles for the route labelled `route`.
    #[must_use]
    pub fn new(m: &Metrics, route: &str) -> Self {
        Self {
            route: route.to_owned(),
            outcomes: ShadowOutcome::ALL.map(|o| m.shadow.with_label_values(&[route, o.as_str()])),
            latency: m.shadow_latency.with_label_values(&[route]),
        }
    }

    /// Records how long one copy took at the service.
    pub fn observe(&self, elapsed: std::time::Duration) {
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// Counts one copy with this outcome.
    pub fn count(&self, outcome: ShadowOutcome) {
        self.outcomes[outcome as usize].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_list_their_values_in_declaration_order() {
        for (i, reason) in FallbackReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i, "{}", reason.as_str());
        }
        for (i, outcome) in ShadowOutcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i, "{}", outcome.as_str());
        }
    }
}
