//! Write fences: while `strangler cutover` moves a table to its service, it
//! asks every proxy to hold the writes to that table (`POST /fence`), and
//! lets them go once the plan routes them to their new owner
//! (`POST /fence/release`).
//!
//! A request is *held* when its method is not safe (RFC 9110 §9.2.1: not
//! GET, HEAD, OPTIONS or TRACE) and the route it matches writes a fenced
//! table. It waits, without a thread, until the fence lifts, and is then
//! routed again by the plan in force at that moment. A fence lifts when it
//! is released, replaced by one of the same name, or `hold_ms` after it was
//! set, whoever comes first.
//!
//! Before setting a fence answers, the requests already in flight on those
//! routes must finish: every unsafe request on a route that writes a table
//! counts itself in the route's [`InFlight`] counter (resolved when the
//! table is built, one atomic add and one atomic load of the fence set on
//! the request path) and, when the count drops to zero, wakes whoever
//! waits for the drain. The counter is taken before the fence set is read
//! and the setter stores the set before it reads the counters, both
//! sequentially consistent, so a request either sees the fence or is
//! counted by the drain.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use pingora_prometheus::prometheus::{Histogram, IntGauge};
use tokio::sync::Notify;

/// The longest `hold_ms` a fence may ask for: one hour.
pub const MAX_HOLD_MS: u64 = 3_600_000;

/// How long after its deadline a held request lifts the fence itself,
/// should the timer that lifts it be gone.
const BACKSTOP: Duration = Duration::from_millis(250);

/// The longest fence name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The fences that are up, and the in-flight counters they drain.
pub struct Fences {
    /// The fences up now; empty when none, which is all the request path
    /// looks at then.
    current: ArcSwap<Vec<Arc<Fence>>>,
    /// Serialises setting and lifting fences.
    edit: Mutex<()>,
    /// The in-flight counters of the routes that write tables, by route.
    registry: Mutex<HashMap<InFlightKey, Arc<InFlight>>>,
    next_id: AtomicU64,
    held: IntGauge,
    hold_seconds: Histogram,
}

/// One fence.
#[derive(Debug)]
pub struct Fence {
    /// The caller's name for it, such as `cutover:catalog`.
    pub name: String,
    /// The fenced tables.
    pub tables: BTreeSet<String>,
    /// When it was set.
    pub set_at: Instant,
    /// When it lifts itself.
    pub deadline: Instant,
    /// The requests it holds now: a number of each and when it was first
    /// held.
    held: Mutex<HashMap<u64, Instant>>,
    lifted: std::sync::atomic::AtomicBool,
    /// How many requests it let go when it lifted.
    released: AtomicUsize,
    lift: Notify,
}

/// The unsafe requests in flight on one route that writes tables.
#[derive(Debug)]
pub struct InFlight {
    /// The tables the route writes.
    tables: Vec<String>,
    count: AtomicUsize,
    idle: Notify,
}

/// A request counted in an [`InFlight`]; uncounted when dropped.
#[derive(Debug)]
pub struct InFlightGuard(Arc<InFlight>);

/// A request held by a fence; dropping it (the release, or the request
/// dropped while held) deregisters it.
struct HeldGuard<'a> {
    fences: &'a Fences,
    fence: Arc<Fence>,
    id: u64,
}

/// `(service, route label, written tables)`: a route across reloads.
type InFlightKey = (String, String, Vec<String>);

/// What lifting a fence let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// The requests it held.
    pub released: usize,
    /// How long the longest of them waited, in milliseconds.
    pub longest_held_ms: u64,
}

/// The in-flight requests did not finish within `hold_ms`.
#[derive(Debug, Clone, Copy)]
pub struct NotDrained {
    /// The requests still in flight.
    pub in_flight: usize,
    /// The requests the fence held meanwhile, now let go.
    pub released: usize,
}

impl Fences {
    /// No fence up, with the gauge of held requests and the histogram of
    /// their waits.
    #[must_use]
    pub fn new(held: IntGauge, hold_seconds: Histogram) -> Self {
        Self {
            current: ArcSwap::from_pointee(Vec::new()),
            edit: Mutex::new(()),
            registry: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            held,
            hold_seconds,
        }
    }

    /// The fences up now.
    #[must_use]
    pub fn list(&self) -> Vec<Arc<Fence>> {
        self.current.load().as_ref().clone()
    }

    /// The in-flight counter of the route labelled `label` of `service`,
    /// which writes `tables`; `None` when it writes none. The same route
    /// keeps its counter across reloads, so a fence set after a reload
    /// still drains the requests that started before it.
    pub fn in_flight_for(
        &self,
        service: &str,
        label: &str,
        tables: &[String],
    ) -> Option<Arc<InFlight>> {
        if tables.is_empty() {
            return None;
        }
        let key = (service.to_owned(), label.to_owned(), tables.to_vec());
        let mut registry = lock(&self.registry);
        Some(
            registry
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(InFlight {
                        tables: tables.to_vec(),
                        count: AtomicUsize::new(0),
                        idle: Notify::new(),
                    })
                })
                .clone(),
        )
    }

    /// Forgets the counters no table and no request uses any more; called
    /// after a new table is installed.
    pub fn prune(&self) {
        lock(&self.registry).retain(|_, c| Arc::strong_count(c) > 1);
    }

    /// The fence that holds a request writing `tables`, if any: the request
    /// path's check, one load of the fence set when none is up.
    #[must_use]
    pub fn covering(&self, tables: &[String]) -> Option<Arc<Fence>> {
        let current = self.current.load();
        if current.is_empty() {
            return None;
        }
        current
            .iter()
            .find(|f| tables.iter().any(|t| f.tables.contains(t)))
            .cloned()
    }

    /// Holds a request until `fence` lifts; `since` is when the request was
    /// first held (a request may meet a second fence after the first).
    pub async fn hold(&self, fence: Arc<Fence>, since: Instant) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&fence.held).insert(id, since);
        self.held.inc();
        let guard = HeldGuard {
            fences: self,
            fence,
            id,
        };
        let fence = &guard.fence;
        {
            let lifted = fence.lift.notified();
            tokio::pin!(lifted);
            lifted.as_mut().enable();
            if !fence.lifted.load(Ordering::SeqCst) {
                tokio::select! {
                    () = lifted => {}
                    // The admin API's timer lifts the fence at its deadline;
                    // this is the backstop should that task be gone.
                    () = tokio::time::sleep_until((fence.deadline + BACKSTOP).into()) => {
                        self.expire(fence);
                    }
                }
            }
        }
        drop(guard);
    }

    /// Records how long a request was held, once it goes on.
    pub fn observe_hold(&self, held: Duration) {
        self.hold_seconds.observe(held.as_secs_f64());
    }

    /// Sets (or replaces, by name) a fence on `tables` for `hold` and
    /// returns it. The requests the fence it replaces held are held by the
    /// new one when it covers them, and let go otherwise.
    pub fn set(&self, name: &str, tables: BTreeSet<String>, hold: Duration) -> Arc<Fence> {
        let _edit = lock(&self.edit);
        let now = Instant::now();
        let fence = Arc::new(Fence {
            name: name.to_owned(),
            tables,
            set_at: now,
            deadline: now + hold,
            held: Mutex::new(HashMap::new()),
            lifted: std::sync::atomic::AtomicBool::new(false),
            released: AtomicUsize::new(0),
            lift: Notify::new(),
        });
        let old = self.current.load();
        let replaced = old.iter().find(|f| f.name == name).cloned();
        let mut next: Vec<Arc<Fence>> = old.iter().filter(|f| f.name != name).cloned().collect();
        next.push(fence.clone());
        self.current.store(Arc::new(next));
        // Pairs with the fence in `InFlight::enter`: every request either
        // sees this set or is counted when the drain reads its counter.
        std::sync::atomic::fence(Ordering::SeqCst);
        if let Some(old) = replaced {
            old.lift();
        }
        fence
    }

    /// Lifts the fence named `name` and lets go what it held; nothing to
    /// lift is not an error (the caller may retry).
    pub fn release(&self, name: &str) -> Released {
        let _edit = lock(&self.edit);
        let old = self.current.load();
        let Some(fence) = old.iter().find(|f| f.name == name).cloned() else {
            return Released {
                released: 0,
                longest_held_ms: 0,
            };
        };
        self.remove(&fence);
        fence.lift()
    }

    /// Lifts `fence` itself if it is still up: it outlived `hold_ms`.
    pub fn expire(&self, fence: &Arc<Fence>) {
        let _edit = lock(&self.edit);
        if self.remove(fence) {
            let released = fence.lift();
            tracing::warn!(
                fence = %fence.name,
                released = released.released,
                "fence `{}` lifted itself after its hold_ms without a release (was the cutover stopped?); the requests it held go on",
                fence.name
            );
        }
    }

    /// Lifts `fence` because its in-flight requests did not finish in
    /// time; returns how many requests it let go, whoever lifted it (its
    /// own timer fires at the same deadline).
    fn abandon(&self, fence: &Arc<Fence>) -> usize {
        let _edit = lock(&self.edit);
        if self.remove(fence) {
            fence.lift().released
        } else {
            fence.released.load(Ordering::SeqCst)
        }
    }

    /// Takes `fence` out of the set; false when it was no longer in it.
    fn remove(&self, fence: &Arc<Fence>) -> bool {
        let old = self.current.load();
        if !old.iter().any(|f| Arc::ptr_eq(f, fence)) {
            return false;
        }
        let next: Vec<Arc<Fence>> = old
            .iter()
            .filter(|f| !Arc::ptr_eq(f, fence))
            .cloned()
            .collect();
        self.current.store(Arc::new(next));
        true
    }

    /// Waits until no request that started before `fence` is in flight on
    /// a route writing one of its tables, at most until its deadline;
    /// returns how many there were. When they do not finish in time the
    /// fence is lifted (what it held goes on) and the error says how many
    /// are left.
    pub async fn drain(&self, fence: &Arc<Fence>) -> Result<usize, NotDrained> {
        let counters: Vec<Arc<InFlight>> = lock(&self.registry)
            .values()
            .filter(|c| c.tables.iter().any(|t| fence.tables.contains(t)))
            .cloned()
            .collect();
        let total = counters
            .iter()
            .map(|c| c.count.load(Ordering::SeqCst))
            .sum();
        let deadline = tokio::time::Instant::from(fence.deadline);
        for counter in &counters {
            if tokio::time::timeout_at(deadline, counter.idle())
                .await
                .is_err()
            {
                let in_flight = counters
                    .iter()
                    .map(|c| c.count.load(Ordering::SeqCst))
                    .sum();
                let released = self.abandon(fence);
                return Err(NotDrained {
                    in_flight,
                    released,
                });
            }
        }
        Ok(total)
    }
}

impl Fence {
    /// How many requests it holds now.
    #[must_use]
    pub fn held(&self) -> usize {
        lock(&self.held).len()
    }

    /// Marks it lifted and wakes what it holds; returns what they were.
    fn lift(&self) -> Released {
        self.lifted.store(true, Ordering::SeqCst);
        let now = Instant::now();
        let held = std::mem::take(&mut *lock(&self.held));
        self.released.fetch_add(held.len(), Ordering::SeqCst);
        self.lift.notify_waiters();
        Released {
            released: held.len(),
            longest_held_ms: held
                .values()
                .map(|since| millis(now.saturating_duration_since(*since)))
                .max()
                .unwrap_or(0),
        }
    }
}

impl InFlight {
    /// Counts a request in; it is counted out when the guard drops.
    #[must_use]
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `Fences::set`.
        std::sync::atomic::fence(Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    /// Completes when no request is counted in.
    async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        lock(&self.fence.held).remove(&self.id);
        self.fences.held.dec();
    }
}

/// Whether `name` is a fence name: 1 to [`MAX_NAME_CHARS`] printable
/// characters.
#[must_use]
pub fn valid_name(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control)
}

/// `d` in whole milliseconds, saturating.
#[must_use]
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fences() -> Fences {
        Fences::new(
            IntGauge::new("test_held", "held").unwrap(),
            Histogram::with_opts(pingora_prometheus::prometheus::HistogramOpts::new(
                "test_hold",
                "hold",
            ))
            .unwrap(),
        )
    }

    fn tables(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn names_are_one_to_a_hundred_printable_chars() {
        assert!(valid_name("cutover:catalog"));
        assert!(valid_name(&"é".repeat(100)));
        assert!(!valid_name(&"x".repeat(101)));
        assert!(!valid_name(""));
        assert!(!valid_name("a\nb"));
        assert!(!valid_name("a\u{7f}"));
    }

    #[tokio::test]
    async fn a_fence_covers_its_tables_until_released_and_a_retry_replaces_it() {
        let f = fences();
        let orders = ["orders".to_owned()];
        assert!(f.covering(&orders).is_none());
        let first = f.set("c", tables(&["orders", "items"]), Duration::from_secs(60));
        assert!(f.covering(&orders).is_some());
        assert!(f.covering(&["users".to_owned()]).is_none());
        let second = f.set("c", tables(&["orders"]), Duration::from_secs(60));
        assert_eq!(f.list().len(), 1);
        assert!(first.lifted.load(Ordering::SeqCst));
        assert!(Arc::ptr_eq(&f.covering(&orders).unwrap(), &second));
        assert_eq!(f.release("c").released, 0);
        assert!(f.covering(&orders).is_none());
        assert_eq!(f.release("c").released, 0);
    }

    #[tokio::test]
    async fn a_held_request_goes_on_at_release_and_is_counted() {
        let f = Arc::new(fences());
        let fence = f.set("c", tables(&["orders"]), Duration::from_secs(60));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let held = {
            let f = f.clone();
            tokio::spawn(async move {
                let hold = f.hold(fence, Instant::now());
                tokio::pin!(hold);
                // Registered on the first poll.
                tokio::select! {
                    biased;
                    () = &mut hold => {}
                    () = async {} => {}
                }
                let _ = tx.send(());
                hold.await;
            })
        };
        rx.await.unwrap();
        assert_eq!(f.list()[0].held(), 1);
        assert_eq!(f.held.get(), 1);
        assert_eq!(f.release("c").released, 1);
        held.await.unwrap();
        assert_eq!(f.held.get(), 0);
    }

    #[tokio::test]
    async fn drain_waits_for_the_requests_in_flight() {
        let f = Arc::new(fences());
        let counter = f
            .in_flight_for("catalog", "POST /orders", &["orders".to_owned()])
            .unwrap();
        assert!(f.in_flight_for("catalog", "GET /x", &[]).is_none());
        let guard = counter.enter();
        let fence = f.set("c", tables(&["orders"]), Duration::from_secs(60));
        // The drain is polled first: it counts the request, then waits.
        let (drained, ()) = tokio::join!(f.drain(&fence), async move { drop(guard) });
        assert_eq!(drained.map_err(|e| e.in_flight), Ok(1));

        let guard = counter.enter();
        let short = f.set("c", tables(&["orders"]), Duration::from_millis(20));
        let err = f.drain(&short).await.unwrap_err();
        assert_eq!(err.in_flight, 1);
        assert!(f.list().is_empty(), "an undrained fence is lifted");
        drop(guard);
    }
}
