//! Every metric the Grafana dashboard (`deploy/grafana/strangler.json`) and
//! the Prometheus rules (`deploy/prometheus/strangler-rules.yml`) use is
//! exported: a real `strangler proxy` in front of a small upstream and a real
//! `strangler sync run --metrics` between two throwaway clusters are scraped,
//! after traffic through both, and each name read from those files must be in
//! the scrape. The deploy files are the one list of names; every wait polls
//! an observable condition with a deadline.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use strangler_testkit::{ClusterConfig, PgCluster};

const DASHBOARD: &str = "deploy/grafana/strangler.json";
const RULES: &str = "deploy/prometheus/strangler-rules.yml";
const LIMIT: Duration = Duration::from_secs(60);

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// Every `strangler_[a-z0-9_]+` in `text` that starts a word (so the rules'
/// own `strangler:…` recordings are not taken for exported names).
fn names_in(text: &str, into: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("strangler_") {
        let start = from + at;
        let boundary = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        };
        let end = start
            + text[start..]
                .bytes()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
                .count();
        if boundary {
            into.insert(text[start..end].to_owned());
        }
        from = end;
    }
}

fn strings(value: &serde_json::Value, into: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::String(s) => names_in(s, into),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, into)),
        _ => {}
    }
}

/// The metric names the dashboard (any string in it) and the rules (any line
/// but comments) use, as scripts/check-deploy-prometheus.sh lists them.
fn used_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo_file(DASHBOARD)).expect("the dashboard is JSON");
    strings(&dashboard, &mut names);
    let from_dashboard = names.len();
    assert!(from_dashboard > 10, "the dashboard uses {names:?}");
    for line in repo_file(RULES).lines() {
        if !line.trim_start().starts_with('#') {
            names_in(line, &mut names);
        }
    }
    names
}

/// Whether the Prometheus text `scrape` has `name`: a sample of it (a
/// histogram's `_bucket`, `_sum`, `_count` are samples of their own) or the
/// metric family of that name.
fn exported(scrape: &str, name: &str) -> bool {
    scrape.lines().any(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            || line
                .strip_prefix("# TYPE ")
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|rest| rest.starts_with(' '))
    })
}

fn missing<'a>(scrape: &str, names: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
    names.into_iter().filter(|n| !exported(scrape, n)).collect()
}

/// One HTTP/1.1 exchange over a fresh connection; the whole response (head
/// and body) as text, or `None` when nothing listens yet.
fn http(addr: &str, method: &str, path: &str, extra: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let host = addr;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn status(response: &str) -> Option<u16> {
    response.split(' ').nth(1)?.parse().ok()
}

/// An address nothing listens on, for a child process to listen on. The
/// port is below the kernel's ephemeral range (32768 and up), so no socket
/// bound to port 0 and no outgoing connection takes it before the child
/// binds it, and it is below the range the proxy's tests use (20000 and up).
fn free_addr() -> String {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 160) as u16 * 30;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = 15_000 + (base + n) % 4_800;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return format!("127.0.0.1:{port}");
        }
    }
}

/// A tiny upstream for the monolith and the service alike: `200 ok` to
/// every request, health checks included.
fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            });
        }
    });
    addr
}

/// A child process, killed on drop, with its stderr in a file.
struct Process {
    child: Child,
    log: PathBuf,
    what: &'static str,
}

impl Process {
    fn start(what: &'static str, args: &[&str], log: PathBuf) -> Process {
        let stderr = fs::File::create(&log).expect("create log");
        let child = Command::new(env!("CARGO_BIN_EXE_strangler"))
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("STRANGLER_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start strangler {what}: {e}"));
        Process { child, log, what }
    }

    /// Panics with the log if the process has exited.
    fn check_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "strangler {} exited ({status}):\n{}",
                self.what,
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms until it returns `Ok`, for at most [`LIMIT`];
/// then panics with `what`, the last `Err` and the process's log.
fn poll<T>(what: &str, process: &mut Process, mut check: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        process.check_running();
        match check() {
            Ok(v) => return v,
            Err(last) => assert!(
                started.elapsed() < LIMIT,
                "timed out waiting for {what}: {last}\nlog:\n{}",
                process.log()
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn psql(cluster: &PgCluster, sql: &str) -> String {
    let out = Command::new(cluster.bin_dir().join("psql"))
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(cluster.connection_uri())
        .args(["-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The value of the first sample of `name` whose line contains `with`.
fn sample(scrape: &str, name: &str, with: &str) -> Option<f64> {
    scrape
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(with))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The plan both processes read: the tiny upstream as the monolith and as
/// the `catalog` service (a shadowed route and a live one), and a table.
fn write_plan(dir: &Path, up: &str, source: &str, target: &str) -> PathBuf {
    let text = format!(
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://{up}\"\n\
         database = \"{source}\"\n\n[[service]]\nname = \"catalog\"\n\
         upstream = \"http://{up}\"\ndatabase = \"{target}\"\n\n\
         [[service.route]]\npath = \"/api/products\"\nstage = \"shadow\"\n\n\
         [[service.route]]\npath = \"/api/products/{{id}}\"\nstage = \"live\"\n\n\
         [[service.table]]\nname = \"products\"\nstage = \"syncing\"\n"
    );
    let path = dir.join("strangler.toml");
    // Write then rename, so a reader never sees half a file.
    let tmp = dir.join("strangler.toml.tmp");
    fs::write(&tmp, text).expect("write plan");
    fs::rename(&tmp, &path).expect("rename plan");
    path
}

/// A real proxy: traffic on a shadowed route, a live route and no route,
/// then a reload, so the counters whose labels are set on first use
/// appear; then every name in `names` must be in its `/metrics`.
fn check_proxy(dir: &Path, plan: &Path, names: &BTreeSet<String>) {
    let listen = free_addr();
    let admin = free_addr();
    let mut proxy = Process::start(
        "proxy",
        &[
            "proxy",
            "--plan",
            plan.to_str().expect("utf-8 path"),
            "--listen",
            &listen,
            "--admin",
            &admin,
            "--health-interval",
            "1",
            "--no-watch",
        ],
        dir.join("proxy.log"),
    );
    poll("the proxy's admin API", &mut proxy, || {
        let r = http(&admin, "GET", "/healthz", "", "").ok_or("no answer")?;
        (status(&r) == Some(200)).then_some(()).ok_or(r)
    });
    for path in ["/api/products", "/api/products/7", "/elsewhere"] {
        let r = poll("a request through the proxy", &mut proxy, || {
            http(&listen, "GET", path, "", "").ok_or_else(|| "no answer".to_owned())
        });
        assert_eq!(status(&r), Some(200), "GET {path}: {r}");
    }
    let r = http(
        &admin,
        "POST",
        "/reload",
        "Content-Type: application/json\r\n",
        "{}",
    )
    .expect("POST /reload");
    assert_eq!(status(&r), Some(200), "POST /reload: {r}");
    let scrape = poll("every proxy metric", &mut proxy, || {
        let scrape = http(&admin, "GET", "/metrics", "", "").ok_or("no answer")?;
        let gone = missing(&scrape, names);
        // The shadow copy is sent after the client's answer: wait for it.
        let shadowed = sample(&scrape, "strangler_shadow_requests_total", "same_status")
            .is_some_and(|v| v >= 1.0);
        if gone.is_empty() && shadowed {
            Ok(scrape)
        } else {
            Err(format!("missing {gone:?}, shadow counted: {shadowed}"))
        }
    });
    assert!(
        sample(&scrape, "strangler_reloads_total", "unchanged").is_some_and(|v| v >= 1.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "strangler_upstream_available", "").is_some_and(|v| v > 0.5),
        "{scrape}"
    );
}

/// A real `sync run --metrics`: a table copied, then rows through the
/// stream; then every name in `names` must be in its `/metrics`.
fn check_sync(dir: &Path, plan: &Path, source: &PgCluster, names: &BTreeSet<String>) {
    let plan_arg = plan.to_str().expect("utf-8 path");
    let schema = Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(["sync", "schema", "--service", "catalog", "--plan", plan_arg])
        .output()
        .expect("run sync schema");
    assert!(
        schema.status.success(),
        "sync schema: {}",
        String::from_utf8_lossy(&schema.stderr)
    );
    // A slot a removed service left behind: the sync reports it.
    psql(
        source,
        "SELECT pg_create_logical_replication_slot('strangler_gone', 'pgoutput')",
    );
    let metrics = free_addr();
    let mut sync = Process::start(
        "sync run",
        &[
            "sync",
            "run",
            "--service",
            "catalog",
            "--plan",
            plan_arg,
            "--metrics",
            &metrics,
        ],
        dir.join("sync.log"),
    );
    let mut next = 1000;
    let scrape = poll(
        "every sync metric, rows applied, the slot left behind",
        &mut sync,
        || {
            // One more row per round: the stream applies it once it runs.
            psql(
                source,
                &format!("INSERT INTO products VALUES ({next}, 'streamed')"),
            );
            next += 1;
            let scrape = http(&metrics, "GET", "/metrics", "", "").ok_or("no answer")?;
            let gone = missing(&scrape, names);
            let rows = sample(
                &scrape,
                "strangler_sync_rows_applied_total",
                "service=\"catalog\"",
            );
            let orphans = sample(&scrape, "strangler_sync_orphan_slots", "monolith=\"shop\"");
            if gone.is_empty() && rows.is_some_and(|v| v >= 1.0) && orphans == Some(1.0) {
                Ok(scrape)
            } else {
                Err(format!(
                    "missing {gone:?}, rows applied {rows:?}, slots left behind {orphans:?}"
                ))
            }
        },
    );
    assert!(
        sample(&scrape, "strangler_sync_applied_lsn", "service=\"catalog\"")
            .is_some_and(|v| v > 0.0),
        "{scrape}"
    );
    // The one table reaches `streaming`; every state has a sample, and the
    // slot's retained WAL is sampled beside it.
    let scrape = poll("the table streaming in the metrics", &mut sync, || {
        let scrape = http(&metrics, "GET", "/metrics", "", "").ok_or("no answer")?;
        let streaming = sample(&scrape, "strangler_sync_tables", "state=\"streaming\"");
        if streaming == Some(1.0) {
            Ok(scrape)
        } else {
            Err(format!("tables streaming: {streaming:?}"))
        }
    });
    for state in ["init", "copying", "catching_up", "error"] {
        assert_eq!(
            sample(
                &scrape,
                "strangler_sync_tables",
                &format!("state=\"{state}\"")
            ),
            Some(0.0),
            "{state}: {scrape}"
        );
    }
    assert!(
        sample(
            &scrape,
            "strangler_sync_wal_retained_bytes",
            "service=\"catalog\""
        )
        .is_some_and(|v| v >= 0.0),
        "{scrape}"
    );
    // The slot left behind is reported with the WAL it keeps.
    assert!(
        sample(
            &scrape,
            "strangler_sync_orphan_slot_wal_bytes",
            "slot=\"strangler_gone\""
        )
        .is_some(),
        "{scrape}"
    );
}

#[test]
fn every_metric_the_dashboard_and_the_alerts_use_is_exported() {
    let names = used_names();
    let (sync_names, proxy_names): (BTreeSet<_>, BTreeSet<_>) = names
        .iter()
        .cloned()
        .partition(|n| n.starts_with("strangler_sync_"));
    assert!(
        !sync_names.is_empty() && !proxy_names.is_empty(),
        "{names:?}"
    );

    // The clusters start while the proxy is tested.
    let clusters = std::thread::spawn(|| {
        let source = ClusterConfig::new()
            .database("shop")
            .start_blocking()
            .expect("start the monolith's cluster");
        let target = ClusterConfig::new()
            .database("catalog")
            .start_blocking()
            .expect("start the service's cluster");
        (source, target)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let up = upstream();
    // The proxy reads no database: unreachable URLs do for it.
    let plan = write_plan(
        dir.path(),
        &up,
        "postgres://postgres@127.0.0.1:1/shop",
        "postgres://postgres@127.0.0.1:1/catalog",
    );
    check_proxy(dir.path(), &plan, &proxy_names);

    let (source, target) = clusters.join().expect("cluster thread");
    psql(
        &source,
        "CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);\
         INSERT INTO products SELECT g, 'p' || g FROM generate_series(1, 100) g",
    );
    let plan = write_plan(
        dir.path(),
        &up,
        source.connection_uri(),
        target.connection_uri(),
    );
    check_sync(dir.path(), &plan, &source, &sync_names);
}
