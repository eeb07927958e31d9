//! Response diffs at `shadow`: each service answer compared with the
//! monolith's, with noise learnt from a second monolith answer, as Diffy
//! does.
//!
//! A comparison looks at the status, the headers the route names (default
//! `content-type`) and, when the statuses agree, the body: JSON
//! structurally (key order and number spelling ignored, the route's
//! `diff.ignore` paths left out), any other body byte for byte. What
//! differs is a list of paths: `status`, `header:etag`, `body`, or JSON
//! paths with array indices written `[*]` (`$.items[*].price`), so they can
//! be counted per route and pasted into `diff.ignore`.
//!
//! Noise: for a sample of safe requests (`diff.noise_percent`, and the
//! first [`NOISE_WARMUP`] of each route) a second copy goes to the
//! monolith. A path on which two of the monolith's own answers differ
//! (a timestamp, a random id) is noise; a path counts against the service
//! only while its rate of difference with the service is clearly above its
//! rate between the monolith's answers ([`Tally::is_noise`]). An
//! [`Exchange`] waits for both copies, so the noise of a request is known
//! before its service answer is judged.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderName;
use pingora_prometheus::prometheus::IntCounter;
use serde_json::{Value, json};
use strangler_plan::{Diff, JsonPath, JsonStep};
use tokio::sync::OwnedSemaphorePermit;

use crate::http1::{Capture, Reply};
use crate::metrics::Metrics;

/// Safe requests of a route that always get a noise copy, so the noise of
/// a route is known from its first answers.
pub const NOISE_WARMUP: u64 = 10;

/// A path counts against the service when its rate of difference with the
/// service exceeds its rate between two monolith answers by more than this
/// (or by a fifth of its own rate, when that is larger).
const NOISE_MARGIN: f64 = 0.05;

/// Paths reported for one pair at most.
const MAX_PATHS_PER_PAIR: usize = 32;

/// Distinct paths counted per route at most (metrics labels included);
/// more are counted as `(other)`.
const MAX_TRACKED_PATHS: usize = 64;

/// The longest path kept, in bytes.
const MAX_PATH_LEN: usize = 200;

/// Differing pairs kept per route for `GET /diffs`.
const MAX_RECENT: usize = 32;

/// The part of each body kept in a stored pair, in bytes.
const STORED_BODY: usize = 2048;

/// The top paths listed in `GET /routes`.
const TOP_PATHS: usize = 10;

/// How a route's answers are compared: its plan `diff` settings, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRules {
    ignore: Vec<JsonPath>,
    headers: Vec<HeaderName>,
    /// The share of safe requests, in percent, that get a noise copy.
    pub noise_percent: u8,
    /// Whether answers are compared at all (`diff = { off = true }` says not).
    pub on: bool,
    /// The headers an answer is captured with: the compared ones and
    /// `Content-Type`.
    kept: Arc<[HeaderName]>,
}

impl DiffRules {
    /// The rules of a route whose effective `diff` is `diff`. The plan is
    /// valid, so every path parses; one that does not is left out.
    #[must_use]
    pub fn new(diff: Option<&Diff>) -> Self {
        let ignore = diff
            .map(|d| d.ignore.iter().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default();
        let headers: Vec<HeaderName> = match diff.and_then(|d| d.headers.as_ref()) {
            Some(names) => names
                .iter()
                .filter_map(|n| HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok())
                .collect(),
            None => Diff::DEFAULT_HEADERS
                .iter()
                .map(|n| HeaderName::from_static(n))
                .collect(),
        };
        let mut kept = headers.clone();
        if !kept.contains(&http::header::CONTENT_TYPE) {
            kept.push(http::header::CONTENT_TYPE);
        }
        Self {
            on: !diff.is_some_and(|d| d.off),
            kept: kept.into(),
            ignore,
            headers,
            noise_percent: diff
                .and_then(|d| d.noise_percent)
                .unwrap_or(Diff::DEFAULT_NOISE_PERCENT)
                .min(100),
        }
    }
}

impl DiffRules {
    /// Whether an answer's header `name` is kept for the comparison.
    #[must_use]
    pub fn keeps(&self, name: &HeaderName) -> bool {
        self.kept.contains(name)
    }

    /// What of an answer to capture, with bodies cut at `cap` bytes.
    #[must_use]
    pub fn capture(&self, cap: usize) -> Capture {
        Capture {
            cap,
            headers: self.kept.clone(),
        }
    }
}

/// What differs between answers `a` and `b` (see the module docs), at
/// most [`MAX_PATHS_PER_PAIR`] paths, each once.
#[must_use]
pub fn differences(a: &Reply, b: &Reply, rules: &DiffRules) -> Vec<String> {
    let mut out = Vec::new();
    if a.status != b.status {
        out.push("status".to_owned());
    }
    for name in &rules.headers {
        if header_values(a, name) != header_values(b, name) {
            out.push(format!("header:{name}"));
        }
    }
    // Identical bytes need no parsing, which is most answers of a service
    // that already works.
    if a.status == b.status && (a.body != b.body || a.truncated != b.truncated) {
        let json = (is_json(a) || is_json(b))
            .then(|| {
                serde_json::from_slice::<Value>(&a.body)
                    .ok()
                    .zip(serde_json::from_slice::<Value>(&b.body).ok())
            })
            .flatten();
        match json {
            Some((x, y)) if !a.truncated && !b.truncated => {
                walk(&x, &y, &mut Vec::new(), &rules.ignore, &mut out);
            }
            _ => out.push("body".to_owned()),
        }
    }
    out
}

fn header_values<'a>(reply: &'a Reply, name: &HeaderName) -> Vec<&'a [u8]> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_bytes())
        .collect()
}

fn is_json(reply: &Reply) -> bool {
    reply.headers.iter().any(|(n, v)| {
        n == http::header::CONTENT_TYPE
            && v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("json"))
    })
}

/// A step of a concrete path into a JSON value.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn walk<'a>(
    left: &'a Value,
    right: &'a Value,
    path: &mut Vec<Seg<'a>>,
    ignore: &[JsonPath],
    out: &mut Vec<String>,
) {
    if out.len() >= MAX_PATHS_PER_PAIR || ignore.iter().any(|p| matches(&p.steps, path)) {
        return;
    }
    match (left, right) {
        (Value::Object(lhs), Value::Object(rhs)) => {
            for (key, value) in lhs {
                path.push(Seg::Key(key));
                match rhs.get(key) {
                    Some(other) => walk(value, other, path, ignore, out),
                    None => report(path, ignore, out),
                }
                path.pop();
            }
            for key in rhs.keys().filter(|key| !lhs.contains_key(*key)) {
                path.push(Seg::Key(key));
                report(path, ignore, out);
                path.pop();
            }
        }
        (Value::Array(lhs), Value::Array(rhs)) if lhs.len() == rhs.len() => {
            for (index, (value, other)) in lhs.iter().zip(rhs).enumerate() {
                path.push(Seg::Index(index));
                walk(value, other, path, ignore, out);
                path.pop();
            }
        }
        (Value::Number(lhs), Value::Number(rhs)) => {
            if !same_number(lhs, rhs) {
                report(path, &[], out);
            }
        }
        _ => {
            if left != right {
                report(path, &[], out);
            }
        }
    }
}

/// Numbers are equal by value, however they are spelt (`10` and `10.0`).
fn same_number(lhs: &serde_json::Number, rhs: &serde_json::Number) -> bool {
    if let (Some(l), Some(r)) = (lhs.as_i64(), rhs.as_i64()) {
        return l == r;
    }
    if let (Some(l), Some(r)) = (lhs.as_u64(), rhs.as_u64()) {
        return l == r;
    }
    lhs.as_f64() == rhs.as_f64()
}

fn report(path: &[Seg<'_>], ignore: &[JsonPath], out: &mut Vec<String>) {
    if out.len() >= MAX_PATHS_PER_PAIR || ignore.iter().any(|p| matches(&p.steps, path)) {
        return;
    }
    let rendered = render(path);
    if !out.contains(&rendered) {
        out.push(rendered);
    }
}

/// Whether `steps` match the start of `path` (an ignored path covers
/// everything below it).
fn matches(steps: &[JsonStep], path: &[Seg<'_>]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return true;
    };
    if let JsonStep::Descendant(name) = step {
        return (0..path.len())
            .any(|i| matches!(path[i], Seg::Key(k) if k == name) && matches(rest, &path[i + 1..]));
    }
    let Some((seg, below)) = path.split_first() else {
        return false;
    };
    let here = match (step, seg) {
        (JsonStep::Key(name), Seg::Key(k)) => name == k,
        (JsonStep::AnyKey, Seg::Key(_)) | (JsonStep::AnyIndex, Seg::Index(_)) => true,
        (JsonStep::Index(n), Seg::Index(i)) => n == i,
        _ => false,
    };
    here && matches(rest, below)
}

/// `$.items[*].price`: keys as `.name` (or `["name"]` when they are not
/// plain), indices as `[*]`, at most [`MAX_PATH_LEN`] bytes.
fn render(path: &[Seg<'_>]) -> String {
    let mut out = String::from("$");
    for seg in path {
        match seg {
            Seg::Key(k)
                if !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                out.push('.');
                out.push_str(k);
            }
            Seg::Key(k) => {
                out.push_str("[\"");
                out.push_str(&k.replace('"', "'"));
                out.push_str("\"]");
            }
            Seg::Index(_) => out.push_str("[*]"),
        }
        if out.len() > MAX_PATH_LEN {
            let mut end = MAX_PATH_LEN;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push('…');
            break;
        }
    }
    out
}

/// How one comparison came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffResult {
    /// Nothing differed.
    Equal,
    /// A path differed beyond the noise.
    Different,
    /// Only noise differed.
    NoiseFiltered,
}

impl DiffResult {
    /// Every result, in declaration order.
    pub const ALL: [DiffResult; 3] = [
        DiffResult::Equal,
        DiffResult::Different,
        DiffResult::NoiseFiltered,
    ];

    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DiffResult::Equal => "equal",
            DiffResult::Different => "different",
            DiffResult::NoiseFiltered => "noise_filtered",
        }
    }
}

/// The counts behind one route's diffs.
#[derive(Debug, Default)]
struct Tally {
    /// Service answers compared, and by result.
    compared: u64,
    results: [u64; 3],
    /// Noise copies compared.
    noise_samples: u64,
    /// How often each path differed with the service.
    paths: HashMap<String, u64>,
    /// How often each path differed between two monolith answers.
    noise: HashMap<String, u64>,
    /// Safe requests seen, for the noise warm-up.
    seen: u64,
    /// Recent differing pairs, newest last.
    recent: VecDeque<Value>,
}

impl Tally {
    /// Whether `path` is noise: two monolith answers differ on it, and the
    /// service differs on it hardly more often.
    fn is_noise(&self, path: &str) -> bool {
        let rate = |count: Option<&u64>, of: u64| {
            if of == 0 {
                0.0
            } else {
                count.copied().unwrap_or(0) as f64 / of as f64
            }
        };
        let noise = rate(self.noise.get(path), self.noise_samples);
        let raw = rate(self.paths.get(path), self.compared);
        noise > 0.0 && raw - noise <= NOISE_MARGIN.max(0.2 * raw)
    }
}

/// The key a path is counted under: itself, or `(other)` once a route
/// counts [`MAX_TRACKED_PATHS`] distinct ones.
fn tracked(map: &HashMap<String, u64>, path: &str) -> String {
    if map.contains_key(path) || map.len() < MAX_TRACKED_PATHS {
        path.to_owned()
    } else {
        "(other)".to_owned()
    }
}

/// One route's diffs: tallies, noise and recent differing pairs. Kept
/// across reloads by route label ([`DiffRegistry`]).
#[derive(Debug)]
pub struct RouteDiffs {
    route: String,
    tally: Mutex<Tally>,
    results: [IntCounter; 3],
    metrics: &'static Metrics,
}

impl RouteDiffs {
    fn new(metrics: &'static Metrics, route: &str) -> Self {
        Self {
            route: route.to_owned(),
            tally: Mutex::new(Tally::default()),
            results: DiffResult::ALL.map(|r| metrics.diffs.with_label_values(&[route, r.as_str()])),
            metrics,
        }
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this safe request gets a noise copy: the first
    /// [`NOISE_WARMUP`] do, then `percent` in a hundred.
    #[must_use]
    pub fn sample_noise(&self, percent: u8) -> bool {
        if percent == 0 {
            return false;
        }
        let mut t = self.tally();
        t.seen += 1;
        t.seen <= NOISE_WARMUP || crate::split::random() % 100 < u64::from(percent)
    }

    /// Records the paths on which two monolith answers differed.
    fn record_noise(&self, paths: &[String]) {
        let mut t = self.tally();
        t.noise_samples += 1;
        for p in paths {
            let key = tracked(&t.noise, p);
            *t.noise.entry(key.clone()).or_default() += 1;
            self.metrics
                .diff_paths
                .with_label_values(&[&self.route, &key, "noise"])
                .inc();
        }
    }

    /// Records one service answer's differences; `pair` describes the
    /// exchange for `GET /diffs` when it differed beyond the noise.
    fn record(
        &self,
        paths: &[String],
        pair: impl FnOnce(&[&String], &[&String]) -> Value,
    ) -> DiffResult {
        let mut t = self.tally();
        t.compared += 1;
        for p in paths {
            let key = tracked(&t.paths, p);
            *t.paths.entry(key.clone()).or_default() += 1;
            self.metrics
                .diff_paths
                .with_label_values(&[&self.route, &key, "service"])
                .inc();
        }
        let (noise, real): (Vec<&String>, Vec<&String>) = paths
            .iter()
            .partition(|p| t.is_noise(&tracked(&t.paths, p)));
        let result = if paths.is_empty() {
            DiffResult::Equal
        } else if real.is_empty() {
            DiffResult::NoiseFiltered
        } else {
            let stored = pair(&real, &noise);
            if t.recent.len() >= MAX_RECENT {
                t.recent.pop_front();
            }
            t.recent.push_back(stored);
            DiffResult::Different
        };
        t.results[result as usize] += 1;
        self.results[result as usize].inc();
        result
    }

    /// The route's diffs as `GET /routes` shows them: counts, then the
    /// paths that differed most, with their rates and whether each is
    /// noise now.
    #[must_use]
    pub fn summary(&self) -> Value {
        let t = self.tally();
        let mut paths: Vec<(&String, &u64)> = t.paths.iter().collect();
        paths.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let rate = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        let top: Vec<Value> = paths
            .into_iter()
            .take(TOP_PATHS)
            .map(|(path, count)| {
                let noise = t.noise.get(path).copied().unwrap_or(0);
                json!({
                    "path": path,
                    "count": count,
                    "rate": rate(*count, t.compared),
                    "noise_rate": rate(noise, t.noise_samples),
                    "noise": t.is_noise(path),
                })
            })
            .collect();
        json!({
            "compared": t.compared,
            "equal": t.results[DiffResult::Equal as usize],
            "different": t.results[DiffResult::Different as usize],
            "noise_filtered": t.results[DiffResult::NoiseFiltered as usize],
            "noise_samples": t.noise_samples,
            "paths": top,
        })
    }

    /// Answers compared so far, and how many of them differed beyond the
    /// noise.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        let t = self.tally();
        (t.compared, t.results[DiffResult::Different as usize])
    }

    /// The recent differing pairs, oldest first.
    #[must_use]
    pub fn recent(&self) -> Vec<Value> {
        self.tally().recent.iter().cloned().collect()
    }
}

/// The [`RouteDiffs`] of every route, by label, so a reload keeps them.
#[derive(Debug, Default)]
pub struct DiffRegistry {
    routes: Mutex<HashMap<String, Arc<RouteDiffs>>>,
}

impl DiffRegistry {
    /// The diffs of each route labelled in `labels`, in order; routes no
    /// longer in the table are forgotten.
    pub fn for_routes(&self, metrics: &'static Metrics, labels: &[&str]) -> Vec<Arc<RouteDiffs>> {
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        routes.retain(|label, _| labels.contains(&label.as_str()));
        labels
            .iter()
            .map(|label| {
                routes
                    .entry((*label).to_owned())
                    .or_insert_with(|| Arc::new(RouteDiffs::new(metrics, label)))
                    .clone()
            })
            .collect()
    }
}

/// The request a comparison is about, as a stored pair quotes it (the
/// target masked only then: most pairs are never stored).
#[derive(Debug, Clone)]
pub struct RequestLine {
    /// The method.
    pub method: http::Method,
    /// The target as the client sent it.
    pub target: http::Uri,
}

/// One shadowed request's comparison: the monolith's answer, then the
/// service's and, when sampled, a second one from the monolith. The last
/// copy to finish compares.
pub struct Exchange {
    diffs: Arc<RouteDiffs>,
    rules: Arc<DiffRules>,
    request: RequestLine,
    primary: Reply,
    state: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    /// Copies still out.
    left: u8,
    candidate: Option<Reply>,
    secondary: Option<Reply>,
    /// The noise copy's permit, freed when the exchange ends.
    permit: Option<OwnedSemaphorePermit>,
}

impl Exchange {
    /// An exchange waiting for the service's copy and, with `noise` (the
    /// permit for the noise copy), for a second monolith answer.
    #[must_use]
    pub fn new(
        diffs: Arc<RouteDiffs>,
        rules: Arc<DiffRules>,
        request: RequestLine,
        primary: Reply,
        noise: Option<OwnedSemaphorePermit>,
    ) -> Arc<Self> {
        Arc::new(Self {
            diffs,
            rules,
            request,
            primary,
            state: Mutex::new(Waiting {
                left: if noise.is_some() { 2 } else { 1 },
                permit: noise,
                ..Waiting::default()
            }),
        })
    }

    /// What of an answer to capture for this comparison.
    #[must_use]
    pub fn capture(&self, cap: usize) -> Capture {
        self.rules.capture(cap)
    }

    /// The service's answer (`None`: it failed or timed out).
    pub fn candidate(&self, reply: Option<Reply>) {
        self.arrive(|w| w.candidate = reply);
    }

    /// The monolith's second answer (`None`: it failed or timed out).
    pub fn secondary(&self, reply: Option<Reply>) {
        self.arrive(|w| w.secondary = reply);
    }

    fn arrive(&self, put: impl FnOnce(&mut Waiting)) {
        let done = {
            let mut w = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            put(&mut w);
            w.left = w.left.saturating_sub(1);
            (w.left == 0).then(|| std::mem::take(&mut *w))
        };
        if let Some(w) = done {
            self.compare(w);
        }
    }

    fn compare(&self, w: Waiting) {
        if let Some(secondary) = &w.secondary {
            let noise = differences(&self.primary, secondary, &self.rules);
            self.diffs.record_noise(&noise);
        }
        drop(w.permit);
        let Some(candidate) = &w.candidate else {
            return;
        };
        let paths = differences(&self.primary, candidate, &self.rules);
        let result = self.diffs.record(&paths, |real, noise| {
            json!({
                "at_ms": SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis()),
                "method": self.request.method.as_str(),
                "target": strangler_plan::mask_url(&self.request.target.to_string()),
                "paths": real,
                "noise": noise,
                "monolith": stored(&self.primary, &self.rules),
                "service": stored(candidate, &self.rules),
            })
        });
        tracing::debug!(
            route = %self.diffs.route,
            result = result.as_str(),
            paths = ?paths,
            "shadow answer compared"
        );
    }
}

/// One side of a stored pair: status, the compared headers (secret ones
/// masked) and the start of the body.
fn stored(reply: &Reply, rules: &DiffRules) -> Value {
    let headers: serde_json::Map<String, Value> = rules
        .headers
        .iter()
        .filter_map(|name| {
            let values = header_values(reply, name);
            (!values.is_empty()).then(|| {
                let shown = if is_secret_header(name.as_str()) {
                    "***".to_owned()
                } else {
                    values
                        .iter()
                        .map(|v| String::from_utf8_lossy(v))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (name.as_str().to_owned(), Value::String(shown))
            })
        })
        .collect();
    let cut = reply.body.len().min(STORED_BODY);
    json!({
        "status": reply.status,
        "headers": headers,
        "body": String::from_utf8_lossy(&reply.body[..cut]),
        "body_trimmed": cut < reply.body.len() || reply.truncated,
    })
}

/// Whether a header's value is a secret that a stored pair must not show.
fn is_secret_header(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "token", "secret", "api-key", "apikey", "session", "password",
    ]
    .iter()
    .any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn json_reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            truncated: false,
        }
    }

    fn rules(ignore: &[&str]) -> DiffRules {
        DiffRules::new(Some(&Diff {
            ignore: ignore.iter().map(|s| (*s).to_owned()).collect(),
            ..Diff::default()
        }))
    }

    #[test]
    fn json_is_compared_by_structure() {
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            // key order and number spelling do not matter
            (r#"{"a":1,"b":[1,2]}"#, r#"{"b":[1,2],"a":1.0}"#, &[], &[]),
            (
                r#"{"items":[{"id":1,"p":2},{"id":2,"p":3}]}"#,
                r#"{"items":[{"id":1,"p":2},{"id":2,"p":4}]}"#,
                &[],
                &["$.items[*].p"],
            ),
            (r#"{"a":1}"#, r#"{"a":1,"b":null}"#, &[], &["$.b"]),
            (r#"{"a":[1,2]}"#, r#"{"a":[1]}"#, &[], &["$.a"]),
            (r#"{"a":"1"}"#, r#"{"a":1}"#, &[], &["$.a"]),
            (
                r#"{"odd key":1}"#,
                r#"{"odd key":2}"#,
                &[],
                &[r#"$["odd key"]"#],
            ),
            // ignored paths, and everything below them
            (
                r#"{"at":1,"x":{"id":1,"n":1}}"#,
                r#"{"at":2,"x":{"id":2,"n":1}}"#,
                &["$.at", "$..id"],
                &[],
            ),
            (
                r#"{"m":{"a":{"b":1}}}"#,
                r#"{"m":{"a":{"b":2}}}"#,
                &["$.m.*"],
                &[],
            ),
            (
                r#"[{"e":1},{"e":2}]"#,
                r#"[{"e":3},{"e":2}]"#,
                &["$[0].e"],
                &[],
            ),
            (
                r#"[{"e":1},{"e":2}]"#,
                r#"[{"e":1},{"e":3}]"#,
                &["$[0].e"],
                &["$[*].e"],
            ),
        ];
        for (a, b, ignore, want) in cases {
            let got = differences(&json_reply(200, a), &json_reply(200, b), &rules(ignore));
            assert_eq!(got, *want, "{a} vs {b} ignoring {ignore:?}");
        }
    }

    #[test]
    fn status_headers_and_other_bodies() {
        let r = rules(&[]);
        assert_eq!(
            differences(&json_reply(200, "{}"), &json_reply(404, "{}"), &r),
            ["status"]
        );
        let mut text = json_reply(200, "plain");
        text.headers[0].1 = HeaderValue::from_static("text/plain");
        assert_eq!(
            differences(&json_reply(200, "plain"), &text, &r),
            ["header:content-type"]
        );
        let mut other = text.clone();
        other.body = bytes::Bytes::from_static(b"other");
        assert_eq!(differences(&text, &other, &r), ["body"]);
        // Not JSON although it says so: byte for byte.
        assert_eq!(
            differences(&json_reply(200, "{bad"), &json_reply(200, "{bad!"), &r),
            ["body"]
        );
    }

    #[test]
    fn noise_is_a_path_the_monolith_itself_changes() {
        let m: &'static Metrics = crate::metrics::metrics().unwrap();
        let diffs = RouteDiffs::new(m, "GET /test/noise");
        let price = "$.price".to_owned();
        let at = "$.at".to_owned();
        for i in 0..100 {
            if i % 10 == 0 {
                diffs.record_noise(std::slice::from_ref(&at));
            }
            let paths = if i % 20 == 0 {
                vec![at.clone(), price.clone()]
            } else {
                vec![at.clone()]
            };
            diffs.record(&paths, |_, _| json!({}));
        }
        let s = diffs.summary();
        assert_eq!(
            (
                s["compared"].as_u64(),
                s["different"].as_u64(),
                s["noise_filtered"].as_u64()
            ),
            (Some(100), Some(5), Some(95)),
            "{s}"
        );
        assert_eq!(s["paths"][0]["path"], "$.at");
        assert_eq!(s["paths"][0]["noise"], true);
        assert_eq!(s["paths"][1]["path"], "$.price");
        assert_eq!(s["paths"][1]["noise"], false);
        assert_eq!(s["paths"][1]["rate"], 0.05);
    }

    #[test]
    fn stored_pairs_mask_secret_headers() {
        let r = DiffRules::new(Some(&Diff {
            headers: Some(vec!["set-cookie".into(), "content-type".into()]),
            ..Diff::default()
        }));
        let mut reply = json_reply(200, "{}");
        reply.headers.push((
            http::header::SET_COOKIE,
            HeaderValue::from_static("s=secret"),
        ));
        let shown = stored(&reply, &r).to_string();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("application/json"), "{shown}");
    }
}
