//! The end: every acknowledged write looked up with plain SQL in the
//! database that owns its table, the failures counted and explained, and the
//! summary with the per-step figures.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::load::{Ack, Kind, Outcome, Tally};
use crate::world::connect;

/// One step of the scenario, as the scenario saw it.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step was.
    pub name: String,
    /// The proxy's fallbacks to the monolith during it.
    pub fallbacks: u64,
}

/// The figures of the summary line.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Requests answered or failed.
    pub requests: usize,
    /// Failed requests (a 5xx, a reset, no answer) not explained by a fault.
    pub failed: usize,
    /// Failed requests the fallback rules allow during a deliberate fault.
    pub allowed: usize,
    /// Writes the shop acknowledged.
    pub acknowledged: usize,
    /// Acknowledged writes missing or different in the owner's database.
    pub lost: usize,
    /// The longest time writes were held at a cutover or rollback.
    pub held_ms: u64,
    /// From the start to the checks' end.
    pub took: Duration,
    lines: Vec<String>,
}

impl Summary {
    /// No request failed and no write was lost.
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.lost == 0
    }

    /// Prints the per-step figures, the failures and the summary line.
    pub fn print(&self) {
        println!();
        for line in &self.lines {
            println!("{line}");
        }
        println!(
            "strangle-demo: requests {}, failed {}{}, writes acknowledged {}, writes lost {}, \
             longest held at cutover {} ms, took {:.0} s",
            self.requests,
            self.failed,
            if self.allowed > 0 {
                format!(" (+{} allowed during the faults)", self.allowed)
            } else {
                String::new()
            },
            self.acknowledged,
            self.lost,
            self.held_ms,
            self.took.as_secs_f64()
        );
    }
}

/// Checks every acknowledged write against the owners' databases and
/// computes the summary.
pub async fn check(
    tally: &Tally,
    steps: &[Step],
    faults: &[(Duration, Duration)],
    monolith_uri: &str,
    service_uri: &str,
    held_ms: u64,
    took: Duration,
) -> Result<Summary> {
    let outcomes = tally.outcomes();
    let acks = tally.acks();
    let lost = lost_writes(&acks, monolith_uri, service_uri).await?;
    // A request overlaps a fault when it was still running as the fault
    // began (sent to the service just before it was killed) or started
    // during it.
    let in_fault = |o: &Outcome| {
        faults
            .iter()
            .any(|(from, to)| o.at <= *to && o.at + o.latency >= *from)
    };
    // During a deliberate fault the fallback rules allow one kind of
    // failure: a write to the table the stopped service owns. The proxy
    // sends it to the monolith (connect failure), whose copy is fenced, so
    // it is refused (a 5xx) and never acknowledged; a write already sent to
    // the service when it died is not retried (not idempotent).
    let allowed = |o: &Outcome| o.kind == Kind::CategoryCreate && in_fault(o);
    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed()).collect();
    let allowed_n = failures.iter().filter(|o| allowed(o)).count();
    let mut lines = vec![format!(
        "{:<46} {:>8} {:>7} {:>7} {:>9} {:>8} {:>6}",
        "step", "requests", "p50 ms", "p99 ms", "fallbacks", "service", "failed"
    )];
    for (i, step) in steps.iter().enumerate() {
        let mut latencies: Vec<Duration> = outcomes
            .iter()
            .filter(|o| o.step == i)
            .map(|o| o.latency)
            .collect();
        latencies.sort_unstable();
        let n = latencies.len();
        let served = outcomes
            .iter()
            .filter(|o| o.step == i && o.target.as_deref().is_some_and(|t| t != "monolith"))
            .count();
        let failed = outcomes
            .iter()
            .filter(|o| o.step == i && o.failed())
            .count();
        lines.push(format!(
            "{:<46} {:>8} {:>7.1} {:>7.1} {:>8.2}% {:>7.1}% {:>6}",
            step.name,
            n,
            percentile(&latencies, 50),
            percentile(&latencies, 99),
            share(step.fallbacks as usize, n),
            share(served, n),
            failed
        ));
    }
    lines.push(
        "(fallbacks: the share of the step's requests the proxy sent to the monolith after the \
         service failed them; service: the share the service answered)"
            .to_owned(),
    );
    for o in failures.iter().take(10) {
        lines.push(format!(
            "{}failed: {}",
            if allowed(o) { "allowed, " } else { "" },
            o.error.as_deref().unwrap_or("-")
        ));
    }
    for l in lost.iter().take(10) {
        lines.push(format!("lost: {l}"));
    }
    Ok(Summary {
        requests: outcomes.len(),
        failed: failures.len() - allowed_n,
        allowed: allowed_n,
        acknowledged: acks.len(),
        lost: lost.len(),
        held_ms,
        took,
        lines,
    })
}

/// The acknowledged writes not in their owner's database as acknowledged:
/// categories in the service's (it owns them at the end), cart lines and
/// orders in the monolith's.
async fn lost_writes(acks: &[Ack], monolith_uri: &str, service_uri: &str) -> Result<Vec<String>> {
    let service = connect(service_uri).await?;
    let monolith = connect(monolith_uri).await?;
    let categories: HashMap<i32, (String, String, String)> = service
        .query("SELECT id, slug, name, path FROM categories", &[])
        .await
        .context("reading the service's categories")?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let cart: HashMap<(String, i64), i32> = monolith
        .query(
            "SELECT s.token, ci.product_id, ci.quantity FROM cart_items ci \
             JOIN carts c ON c.id = ci.cart_id JOIN sessions s ON s.user_id = c.user_id",
            &[],
        )
        .await
        .context("reading the monolith's cart lines")?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    let orders: HashMap<String, i64> = monolith
        .query("SELECT id::text, total_cents FROM orders", &[])
        .await
        .context("reading the monolith's orders")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(acks
        .iter()
        .filter_map(|ack| match ack {
            Ack::Category { id, content } => (categories.get(id) != Some(content)).then(|| {
                format!(
                    "category {id} {content:?}: {:?} in the service",
                    categories.get(id)
                )
            }),
            Ack::CartItem {
                token,
                product,
                quantity,
            } => (cart.get(&(token.clone(), *product)) != Some(quantity)).then(|| {
                format!(
                    "cart line {token}/{product} × {quantity}: not in the monolith as acknowledged"
                )
            }),
            Ack::Order { id, total_cents } => (orders.get(id) != Some(total_cents)).then(|| {
                format!("order {id} ({total_cents} cents): not in the monolith as acknowledged")
            }),
        })
        .collect())
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[at.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
