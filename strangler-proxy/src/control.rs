//! The control loop: the background service that reloads the plan when its
//! file changes ([`strangler_plan::PlanWatcher`]) or on SIGHUP, and on a
//! tick runs the active health checks, ends ejections whose time is up,
//! fetches JWKS keys that are due, trims idle rate-limit buckets and judges
//! the routes' SLO windows (`slo`).
//!
//! Nothing in the loop waits on an upstream. A round of health checks runs
//! every upstream's check at once and is polled beside the other events, so
//! services that accept a connection and never answer delay neither a
//! reload nor a readmission; the round ends when the slowest check times
//! out, and the next one starts at the first tick after that.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use strangler_plan::PlanWatcher;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::state::Shared;
use crate::upstream::Upstream;

/// The longest time between two ticks: ejections end and the availability
/// gauges are updated at least this often.
const MAX_TICK: Duration = Duration::from_millis(500);

/// How often rate-limit buckets that are full again are forgotten.
const LIMITER_TRIM: Duration = Duration::from_secs(60);

/// The background work of one proxy: reloads and health.
pub struct Control {
    shared: Arc<Shared>,
    sighup: bool,
    /// Taken by the loop when it starts; the watcher sends on its sender.
    plan_changes: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
    /// Kept for as long as the proxy runs; dropping it stops the watching.
    _watcher: Option<PlanWatcher>,
}

impl Control {
    /// The control loop over `shared`, watching the plan file when `watch`
    /// is on and reloading on SIGHUP when `sighup` is. A plan file that
    /// cannot be watched is logged, and SIGHUP and `POST /reload` still
    /// reload it.
    #[must_use]
    pub fn new(shared: Arc<Shared>, watch: bool, sighup: bool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let watcher = if watch {
            match PlanWatcher::start(&shared.config.plan, move || {
                let _ = tx.send(());
            }) {
                Ok(watcher) => Some(watcher),
                Err(e) => {
                    tracing::warn!("{e}; reload with SIGHUP or POST /reload");
                    None
                }
            }
        } else {
            None
        };
        Self {
            shared,
            sighup,
            plan_changes: Mutex::new(watcher.is_some().then_some(rx)),
            _watcher: watcher,
        }
    }
}

/// A round of health checks in flight.
type Round<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut changes = self.plan_changes.lock().ok().and_then(|mut c| c.take());
        let mut hangup = if self.sighup {
            signal(SignalKind::hangup()).ok()
        } else {
            None
        };
        let health = &self.shared.config.health;
        let mut tick = tokio::time::interval(if health.interval.is_zero() {
            MAX_TICK
        } else {
            health.interval.min(MAX_TICK)
        });
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_round: Option<Instant> = None;
        let mut round: Option<Round<'_>> = None;
        let mut last_trim = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = recv(&mut changes) => {
                    // The watcher lets a burst of events settle before it
                    // calls; changes queued meanwhile are in this reload.
                    if let Some(rx) = &mut changes {
                        while rx.try_recv().is_ok() {}
                    }
                    let _ = self.shared.reload();
                }
                Some(()) = hup(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading the plan");
                    let _ = self.shared.reload();
                }
                () = finished(&mut round) => round = None,
                _ = tick.tick() => {
                    let upstreams = self.shared.upstreams();
                    let due = !health.interval.is_zero()
                        && round.is_none()
                        && last_round.is_none_or(|t| t.elapsed() >= health.interval);
                    if due {
                        last_round = Some(Instant::now());
                        round = Some(Box::pin(check_all(&self.shared, upstreams.clone())));
                    }
                    for source in self.shared.gateway.jwks_due() {
                        let shared = self.shared.clone();
                        tokio::spawn(async move { source.refresh(&shared.connector).await });
                    }
                    if last_trim.elapsed() >= LIMITER_TRIM {
                        last_trim = Instant::now();
                        self.shared.gateway.trim_limiters();
                    }
                    self.shared.slo.tick(&self.shared);
                    let m = self.shared.metrics;
                    for u in &upstreams {
                        u.maybe_readmit(health);
                        m.upstream_available
                            .with_label_values(&[&u.url])
                            .set(i64::from(u.is_available()));
                    }
                }
            }
        }
    }
}

/// Checks every upstream concurrently; done when the last check is.
async fn check_all(shared: &Shared, upstreams: Vec<Arc<Upstream>>) {
    let health = &shared.config.health;
    futures_util::future::join_all(upstreams.iter().map(|u| u.check(&shared.connector, health)))
        .await;
}

/// Completes when the round in flight does; never when there is none.
async fn finished(round: &mut Option<Round<'_>>) {
    match round {
        Some(round) => round.await,
        None => std::future::pending().await,
    }
}

/// The next plan change; never, when the file is not watched.
async fn recv(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next SIGHUP; never, when SIGHUP is not handled.
async fn hup(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
