//! `strangler status`: how far the monolith is from being switched off,
//! per service and in total: routes by stage with their share of the
//! traffic, tables by stage with their stream's lag, the next allowed step
//! for each, and every problem the plan's lint finds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use strangler_plan::{PlanFile, RouteStage, Severity, TableStage, UNMATCHED_LABEL};

use crate::connect::connect;
use crate::error::Error;
use crate::lsn::Lsn;
use crate::proxies::Admin;
use crate::spec::{Direction, resolve};
use crate::state;
use crate::status::{OrphanSlot, orphan_slots as orphan_slots_of};

/// The whole picture.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Where the traffic shares come from: `proxies` (their request
    /// counters) or `plan` (the stages and percents).
    pub traffic_from: &'static str,
    /// With `proxies`: the seconds of traffic the shares measure (the
    /// counters' growth over the window), or `None` when no request came in
    /// the window and the shares are of every request since the proxies
    /// started.
    pub traffic_window_secs: Option<f64>,
    /// Requests that matched no route of the plan (the monolith answers
    /// them; counted in its share), when the proxies answered.
    pub unmatched_requests: Option<u64>,
    /// The share of requests the monolith still answers, 0–1.
    pub monolith_traffic_share: f64,
    /// Tables the monolith still owns (every table not `owned` or
    /// `decommissioned`).
    pub monolith_tables: usize,
    /// Tables in the plan.
    pub tables: usize,
    /// Per service.
    pub services: Vec<ServiceOverview>,
    /// Every lint problem, rendered with its line.
    pub problems: Vec<String>,
    /// Proxies or databases that did not answer.
    pub unreachable: Vec<String>,
    /// Slots of strangler's on the monolith that no stream of the plan
    /// uses (they keep WAL there; see [`OrphanSlot`]).
    pub orphan_slots: Vec<OrphanSlot>,
}

/// One service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceOverview {
    /// Its name.
    pub name: String,
    /// Its routes.
    pub routes: Vec<RouteOverview>,
    /// Its tables.
    pub tables: Vec<TableOverview>,
}

/// One route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteOverview {
    /// `METHODS path`.
    pub route: String,
    /// Its stage.
    pub stage: RouteStage,
    /// The share of its requests the service answers, 0–1.
    pub service_share: f64,
    /// Requests counted by the proxies, when they answered.
    pub requests: Option<u64>,
    /// The next step, as a command or an edit.
    pub next: String,
}

/// One table.
#[derive(Debug, Clone, Serialize)]
pub struct TableOverview {
    /// The table.
    pub table: String,
    /// Its stage.
    pub stage: TableStage,
    /// `forward` or `reverse` while a stream carries it.
    pub stream: Option<Direction>,
    /// The stream's state (`streaming`, `copying`, …) on its target.
    pub state: Option<String>,
    /// How far the stream's target is behind its source, in WAL bytes.
    pub lag_bytes: Option<u64>,
    /// The next step.
    pub next: String,
}

/// Requests per `(route label, target)`, summed over the proxies.
type Counts = BTreeMap<(String, String), u64>;

/// Builds the overview of the plan at `path`. The traffic shares are the
/// growth of the proxies' request counters over `window` (the call reads
/// them, waits `window`, and reads them again); with a zero window, or when
/// no request came in it, they are of every request since the proxies
/// started. Databases and proxies that do not answer are listed, not fatal.
#[allow(clippy::too_many_lines)] // the report, built in the order it prints
pub async fn overview(path: &Path, window: Duration) -> Result<Overview, Error> {
    let file = PlanFile::open(path)?;
    let plan = file.plan().clone();
    let problems: Vec<String> = file
        .diagnostics()
        .iter()
        .map(|d| d.render(&path.display().to_string()))
        .collect();
    let has_errors = file
        .diagnostics()
        .iter()
        .any(|d| d.severity == Severity::Error);
    let mut unreachable = Vec::new();
    let admins = Admin::from_plan(&plan).unwrap_or_default();
    let before = scrape(&admins, &mut unreachable).await;
    let (counts, window_secs) = match before {
        Some(before) if !window.is_zero() => {
            tokio::time::sleep(window).await;
            let mut again = Vec::new();
            let after = scrape(&admins, &mut again).await.unwrap_or_default();
            windowed(&before, after, window)
        }
        other => (other.unwrap_or_default(), None),
    };
    let from_proxies = !counts.is_empty();
    let unmatched = counts
        .get(&(UNMATCHED_LABEL.to_owned(), "monolith".to_owned()))
        .copied();
    // Stream states and lags.
    let mut streams: BTreeMap<(String, String), (Direction, String, Option<u64>)> = BTreeMap::new();
    let specs = if has_errors {
        Vec::new()
    } else {
        resolve(&plan, None).unwrap_or_default()
    };
    let mut orphan_slots = Vec::new();
    if !has_errors && let Some(url) = &plan.monolith.database {
        let known: Vec<String> = specs.iter().map(|s| s.slot.clone()).collect();
        match orphan_slots_of(url, &known).await {
            Ok(found) => orphan_slots = found,
            // With nothing streaming, a monolith database that is not up
            // yet is no news; with streams, their own lines say so too.
            Err(e) if !specs.is_empty() => {
                unreachable.push(format!("the monolith's slots: {e}"));
            }
            Err(_) => {}
        }
    }
    for spec in specs {
        match stream_states(&spec).await {
            Ok(rows) => {
                for (table, st, lag) in rows {
                    streams.insert((spec.service.clone(), table), (spec.direction, st, lag));
                }
            }
            Err(e) => unreachable.push(format!("{}: {e}", spec.key())),
        }
    }
    let mut services = Vec::new();
    // Unmatched requests are the monolith's traffic too.
    let (mut total, mut to_monolith) = (0.0f64, 0.0f64);
    if let Some(n) = unmatched {
        total += n as f64;
        to_monolith += n as f64;
    }
    let mut all_tables = 0;
    let mut monolith_tables = 0;
    for svc in &plan.services {
        let mut routes = Vec::new();
        for r in &svc.routes {
            // The proxies count requests under the route's label.
            let key = r.label();
            let service_n = counts.get(&(key.clone(), svc.name.clone())).copied();
            let monolith_n = counts.get(&(key, "monolith".to_owned())).copied();
            let plan_share = match r.stage {
                RouteStage::Live => 1.0,
                RouteStage::Canary => f64::from(r.percent.unwrap_or(0)) / 100.0,
                RouteStage::Monolith | RouteStage::Shadow => 0.0,
            };
            let (share, requests) = match (from_proxies, service_n, monolith_n) {
                (true, s, m) if s.unwrap_or(0) + m.unwrap_or(0) > 0 => {
                    let (s, m) = (s.unwrap_or(0), m.unwrap_or(0));
                    total += (s + m) as f64;
                    to_monolith += m as f64;
                    (s as f64 / (s + m) as f64, Some(s + m))
                }
                _ => {
                    if !from_proxies {
                        total += 1.0;
                        to_monolith += 1.0 - plan_share;
                    }
                    (plan_share, None)
                }
            };
            let writes_owned = r.writes.iter().all(|w| {
                svc.tables.iter().any(|t| {
                    &t.name == w
                        && matches!(t.stage, TableStage::Owned | TableStage::Decommissioned)
                })
            });
            let next = match r.stage {
                RouteStage::Monolith => "set `stage = \"shadow\"` to compare answers".to_owned(),
                RouteStage::Shadow if !writes_owned => format!(
                    "`strangler cutover --service {} --table {}` (it writes {})",
                    svc.name,
                    r.writes.join(" --table "),
                    r.writes.join(", ")
                ),
                RouteStage::Shadow => "set `stage = \"canary\"` with a small `percent`".to_owned(),
                RouteStage::Canary if !writes_owned => format!(
                    "`strangler cutover --service {} --table {}`",
                    svc.name,
                    r.writes.join(" --table ")
                ),
                RouteStage::Canary => "raise `percent`, then set `stage = \"live\"`".to_owned(),
                RouteStage::Live => "done (the monolith stays as the fallback)".to_owned(),
            };
            routes.push(RouteOverview {
                route: format!("{} {}", r.methods_label(), r.path),
                stage: r.stage,
                service_share: share,
                requests,
                next,
            });
        }
        let mut tables = Vec::new();
        for t in &svc.tables {
            all_tables += 1;
            if !matches!(t.stage, TableStage::Owned | TableStage::Decommissioned) {
                monolith_tables += 1;
            }
            let stream = streams.get(&(svc.name.clone(), t.name.clone()));
            let next = match t.stage {
                TableStage::Monolith => {
                    "set `stage = \"syncing\"` and run `strangler sync run`".to_owned()
                }
                TableStage::Syncing | TableStage::Cutover => format!(
                    "`strangler cutover --service {} --table {}`",
                    svc.name, t.name
                ),
                TableStage::Owned => format!(
                    "`strangler decommission --service {} --table {} --archive {}.copy` (or \
                     `strangler rollback`)",
                    svc.name, t.name, t.name
                ),
                TableStage::Decommissioned => "done".to_owned(),
            };
            tables.push(TableOverview {
                table: t.name.clone(),
                stage: t.stage,
                stream: stream.map(|s| s.0),
                state: stream.map(|s| s.1.clone()),
                lag_bytes: stream.and_then(|s| s.2),
                next,
            });
        }
        services.push(ServiceOverview {
            name: svc.name.clone(),
            routes,
            tables,
        });
    }
    Ok(Overview {
        traffic_from: if from_proxies { "proxies" } else { "plan" },
        traffic_window_secs: window_secs,
        unmatched_requests: unmatched,
        monolith_traffic_share: if total > 0.0 {
            to_monolith / total
        } else {
            1.0
        },
        monolith_tables,
        tables: all_tables,
        services,
        problems,
        unreachable,
        orphan_slots,
    })
}

/// Each table of a stream with its state and the lag of the stream.
async fn stream_states(
    spec: &crate::spec::SyncSpec,
) -> Result<Vec<(String, String, Option<u64>)>, Error> {
    let source = connect(&spec.source, "the stream's source database").await?;
    let target = connect(&spec.target, "the stream's target database").await?;
    if !state::has_schema(&target).await? {
        return Ok(Vec::new());
    }
    let now: String = source
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .map_err(|e| Error::Other(e.to_string()))?
        .get(0);
    let now: Lsn = now.parse().map_err(Error::Other)?;
    let applied = state::applied_lsn(&target, &spec.slot).await?;
    let lag = applied.map(|a| now.0.saturating_sub(a.0));
    Ok(state::tables(&target, &spec.service)
        .await?
        .into_iter()
        .filter(|r| spec.tables.iter().any(|t| t.name == r.table))
        .map(|r| (r.table, r.state.to_string(), lag))
        .collect())
}

/// The request counters of every proxy that answers, summed; `None` when
/// none answered. Those that do not answer are added to `unreachable`.
async fn scrape(admins: &[Admin], unreachable: &mut Vec<String>) -> Option<Counts> {
    let mut counts = Counts::new();
    let mut answered = false;
    for admin in admins {
        match admin.metrics().await {
            Ok(text) => {
                answered = true;
                for (route, target, n) in request_counts(&text) {
                    *counts.entry((route, target)).or_default() += n;
                }
            }
            Err(e) => unreachable.push(e.to_string()),
        }
    }
    answered.then_some(counts)
}

/// The counters' growth from `before` to `after`, over `window`; when
/// nothing grew (no traffic in the window, or the proxies stopped
/// answering), `after` whole (or `before`, if `after` is empty) with no
/// window. A counter that went down (its proxy restarted) counts as grown
/// by its new value.
fn windowed(before: &Counts, after: Counts, window: Duration) -> (Counts, Option<f64>) {
    let grown: Counts = after
        .iter()
        .filter_map(|(k, &n)| {
            let was = before.get(k).copied().unwrap_or(0);
            let d = if n >= was { n - was } else { n };
            (d > 0).then(|| (k.clone(), d))
        })
        .collect();
    if !grown.is_empty() {
        (grown, Some(window.as_secs_f64()))
    } else if after.is_empty() {
        (before.clone(), None)
    } else {
        (after, None)
    }
}

/// `(route, target, count)` from the proxy's `strangler_requests_total`.
fn request_counts(text: &str) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("strangler_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels.split("\",").find_map(|kv| {
                let (k, v) = kv.split_once("=\"")?;
                (k.trim_start_matches(',') == name).then(|| v.trim_end_matches('"').to_owned())
            })
        };
        if let (Some(route), Some(target), Ok(n)) =
            (label("route"), label("target"), value.trim().parse::<f64>())
        {
            out.push((route, target, n as u64));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(entries: &[(&str, &str, u64)]) -> Counts {
        entries
            .iter()
            .map(|&(r, t, n)| ((r.to_owned(), t.to_owned()), n))
            .collect()
    }

    #[test]
    fn shares_are_of_the_window_when_traffic_came_in_it() {
        let before = counts(&[("GET /a", "monolith", 1000), ("GET /a", "svc", 10)]);
        // Since the cutover the service answers everything: the window
        // says so, the cumulative counters would still say 99 % monolith.
        let after = counts(&[("GET /a", "monolith", 1000), ("GET /a", "svc", 50)]);
        let (grown, window) = windowed(&before, after, Duration::from_secs(2));
        assert_eq!(grown, counts(&[("GET /a", "svc", 40)]));
        assert_eq!(window, Some(2.0));
    }

    #[test]
    fn no_traffic_in_the_window_falls_back_to_the_totals() {
        let before = counts(&[("GET /a", "monolith", 7)]);
        let (c, window) = windowed(&before, before.clone(), Duration::from_secs(2));
        assert_eq!((c, window), (before.clone(), None));
        // The proxies stopped answering between the two reads.
        let (c, window) = windowed(&before, Counts::new(), Duration::from_secs(2));
        assert_eq!((c, window), (before, None));
    }

    #[test]
    fn a_restarted_proxy_counts_from_zero() {
        let before = counts(&[("GET /a", "svc", 500)]);
        let after = counts(&[("GET /a", "svc", 30)]);
        let (c, _) = windowed(&before, after.clone(), Duration::from_secs(1));
        assert_eq!(c, after);
    }

    #[test]
    fn reads_request_counters() {
        let text = "# HELP x\nstrangler_requests_total{route=\"GET /api/a\",stage=\"live\",target=\"catalog\"} 7\n\
                    strangler_requests_total{route=\"GET /api/a\",stage=\"live\",target=\"monolith\"} 3\n\
                    strangler_request_errors_total{route=\"GET /api/a\",stage=\"live\",target=\"x\"} 1\n";
        assert_eq!(
            request_counts(text),
            [
                ("GET /api/a".to_owned(), "catalog".to_owned(), 7),
                ("GET /api/a".to_owned(), "monolith".to_owned(), 3)
            ]
        );
    }
}
