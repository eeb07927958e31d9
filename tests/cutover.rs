#![allow(clippy::too_many_lines)] // Scenario tests read top to bottom.

//! The path to decommissioning, with real parts: one throwaway PostgreSQL
//! cluster holding the monolith's database and the service's, the real
//! `strangler sync run`, the real `strangler proxy`, and two small HTTP
//! upstreams in the test (a "monolith" and a "service", each writing the
//! `orders` table in its own database) under a constant load of writes and
//! reads that records every acknowledged write.
//!
//! - cutover, rollback, cutover again, decommission: no request fails,
//!   every acknowledged write is on the owner's side and on the monolith's
//!   copy until it is decommissioned, and no id is issued twice;
//! - a crash (the process dies at once, as by `kill -9`) after every step
//!   of a cutover and of a rollback, then a re-run: consistent each time;
//! - a proxy that cannot be reached and a preflight failure abort with
//!   nothing changed.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strangler_testkit::{ClusterConfig, PgCluster};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The binary under test: this build's, or `STRANGLER_BIN` (the held-time
/// measurement runs the scenario against a release build).
fn binary() -> String {
    std::env::var("STRANGLER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_strangler").to_owned())
}

/// The scenarios run one at a time: each starts a cluster, a sync, a proxy
/// and a load, and on two cores side by side they would starve each other
/// (a stream that cannot keep up is refused by the cutover).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const TABLE_SQL: &str =
    "CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL, qty int NOT NULL)";

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn psql(cluster: &PgCluster, uri: &str, sql: &str) -> String {
    let out = Command::new(cluster.bin_dir().join("psql"))
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(uri)
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

/// Polls `sql` (one boolean) in `uri` until it is true, at most `limit`.
fn wait_true(cluster: &PgCluster, uri: &str, sql: &str, limit: Duration, log: &dyn Fn() -> String) {
    let started = Instant::now();
    while psql(cluster, uri, sql) != "t" {
        assert!(
            started.elapsed() < limit,
            "timed out waiting for `{sql}`; logs:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process with its stderr in a file, killed when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(args: &[&str], log: PathBuf) -> Process {
        let child = Command::new(binary())
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("STRANGLER_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start strangler");
        Process { child, log }
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

/// Runs `strangler args…` to the end (at most 120 s), with `env` set.
fn strangler(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("run strangler");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("strangler {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One HTTP upstream writing `orders` in its database: `POST /api/orders`
/// (body `item qty`) inserts and answers 201 with the new id; `GET
/// /api/orders/{id}` answers the row or 404. A database error is a 503.
fn upstream(runtime: &tokio::runtime::Runtime, database: String) -> u16 {
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let database = database.clone();
            tokio::spawn(async move {
                let Ok((client, conn)) =
                    tokio_postgres::connect(&database, tokio_postgres::NoTls).await
                else {
                    return;
                };
                tokio::spawn(conn);
                let _ = serve(stream, &client).await;
            });
        }
    });
    port
}

async fn serve(stream: TcpStream, client: &tokio_postgres::Client) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let Some((method, path, body)) = read_request(&mut reader).await? else {
            return Ok(());
        };
        let (status, answer) = if method == "POST" && path == "/api/orders" {
            let (item, qty) = body.split_once(' ').unwrap_or((&body, "1"));
            let qty: i32 = qty.parse().unwrap_or(1);
            match client
                .query_one(
                    "INSERT INTO orders (item, qty) VALUES ($1, $2) RETURNING id",
                    &[&item, &qty],
                )
                .await
            {
                Ok(row) => (201, row.get::<_, i64>(0).to_string()),
                Err(e) => (503, e.to_string()),
            }
        } else if let Some(id) = path.strip_prefix("/api/orders/") {
            let id: i64 = id.parse().unwrap_or(-1);
            match client
                .query_opt("SELECT item FROM orders WHERE id = $1", &[&id])
                .await
            {
                Ok(Some(row)) => (200, row.get::<_, String>(0)),
                Ok(None) => (404, "no such order".to_owned()),
                Err(e) => (503, e.to_string()),
            }
        } else {
            (404, "not found".to_owned())
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{answer}",
            answer.len()
        );
        reader.get_mut().write_all(response.as_bytes()).await?;
    }
}

/// Reads one request (or a response, for the client side): the first
/// line's two words and the body by `content-length`.
async fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(String, String, String)>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default().to_owned();
    let second = words.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(Some((
        first,
        second,
        String::from_utf8_lossy(&body).into_owned(),
    )))
}

/// The load: writers and readers on keep-alive connections to the proxy,
/// recording every answer.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    failed: AtomicU64,
    /// id → item of every acknowledged write.
    acked: Mutex<HashMap<i64, String>>,
    /// Ids acknowledged twice: a sequence reissued.
    duplicates: Mutex<Vec<i64>>,
    failures: Mutex<Vec<String>>,
}

fn start_load(
    runtime: &tokio::runtime::Runtime,
    proxy: u16,
    writers: usize,
    readers: usize,
    stop: &Arc<AtomicBool>,
) -> (Arc<Tally>, Vec<tokio::task::JoinHandle<()>>) {
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    for w in 0..writers + readers {
        let tally = Arc::clone(&tally);
        let stop = Arc::clone(stop);
        let writer = w < writers;
        tasks.push(runtime.spawn(async move {
            let mut n = 0u64;
            let mut conn: Option<BufReader<TcpStream>> = None;
            // Each client keeps a steady pace (20 requests/s), so the load
            // is the same on a fast machine and on a busy one.
            let mut pace = tokio::time::interval(Duration::from_millis(50));
            while !stop.load(Ordering::Relaxed) {
                pace.tick().await;
                n += 1;
                let item = format!("w{w}-{n}");
                let request = if writer {
                    let body = format!("{item} {}", n % 7 + 1);
                    format!(
                        "POST /api/orders HTTP/1.1\r\nhost: shop\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    let id = {
                        let acked = tally.acked.lock().expect("lock");
                        acked.keys().next().copied().unwrap_or(1)
                    };
                    format!("GET /api/orders/{id} HTTP/1.1\r\nhost: shop\r\n\r\n")
                };
                if conn.is_none() {
                    match TcpStream::connect(("127.0.0.1", proxy)).await {
                        Ok(s) => conn = Some(BufReader::new(s)),
                        Err(e) => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                            tally.failures.lock().expect("lock").push(format!("connect: {e}"));
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                tally.requests.fetch_add(1, Ordering::Relaxed);
                let answer = async {
                    c.get_mut().write_all(request.as_bytes()).await?;
                    read_request(c).await
                }
                .await;
                if let Ok(Some((_, status, body))) = answer {
                        let code: u16 = status.parse().unwrap_or(0);
                        if code >= 500 || code == 0 {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                            tally
                                .failures
                                .lock()
                                .expect("lock")
                                .push(format!("{status}: {body}"));
                        } else if writer && code == 201 {
                            let id: i64 = body.trim().parse().unwrap_or(-1);
                            if tally
                                .acked
                                .lock()
                                .expect("lock")
                                .insert(id, item.clone())
                                .is_some()
                            {
                                tally.duplicates.lock().expect("lock").push(id);
                            }
                        }
                } else {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                        tally
                            .failures
                            .lock()
                            .expect("lock")
                            .push(format!("{request:?}: connection closed or reset"));
                        conn = None;
                }
            }
        }));
    }
    (tally, tasks)
}

/// The world of one test: the cluster with both databases, the plan, the
/// upstreams, the sync and the proxy.
struct World {
    cluster: PgCluster,
    monolith: String,
    service: String,
    plan: PathBuf,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    proxy_port: u16,
    admin_port: u16,
    sync: Option<Process>,
    syncs: usize,
    proxy: Option<Process>,
    /// Held for the world's life (see [`ONE_AT_A_TIME`]); last, so it is
    /// released after the processes are gone.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl World {
    fn start(proxy_admin_override: Option<u16>) -> World {
        let guard = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Each load connection's upstream holds a database connection of
        // its own, on both sides: 50 writers (the held-time measurement's
        // 1,000 writes/s) outgrow PostgreSQL's default of 100.
        let cluster = ClusterConfig::new()
            .database("shop")
            .param("max_connections", "300")
            .start_blocking()
            .expect("start a PostgreSQL cluster (install PostgreSQL's server package)");
        let monolith = cluster.connection_uri().to_owned();
        psql(&cluster, &monolith, "CREATE DATABASE svc");
        let service = monolith.replace("/shop", "/svc");
        assert_ne!(service, monolith, "the URI names the database: {monolith}");
        psql(&cluster, &monolith, TABLE_SQL);
        psql(&cluster, &service, TABLE_SQL);
        psql(
            &cluster,
            &monolith,
            "INSERT INTO orders (item, qty) SELECT 'seed-' || g, 1 FROM generate_series(1, 500) g",
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let monolith_port = upstream(&runtime, monolith.clone());
        let service_port = upstream(&runtime, service.clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let proxy_port = free_port();
        let admin_port = free_port();
        let plan = dir.path().join("strangler.toml");
        let listed_admin = proxy_admin_override.unwrap_or(admin_port);
        fs::write(
            &plan,
            format!(
                "version = 1\n\
                 [monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:{monolith_port}\"\n\
                 database = \"{monolith}\"\n\n\
                 [[service]]\nname = \"orders\"\nupstream = \"http://127.0.0.1:{service_port}\"\n\
                 database = \"{service}\"\n\
                 [[service.route]]\npath = \"/api/orders\"\nmethods = [\"POST\"]\nstage = \"shadow\"\n\
                 writes = [\"orders\"]\n\
                 [[service.route]]\npath = \"/api/orders/{{id}}\"\nmethods = [\"GET\"]\nstage = \"live\"\n\
                 [[service.table]]\nname = \"orders\"\nstage = \"syncing\"\n\n\
                 [[proxy]]\nadmin = \"http://127.0.0.1:{listed_admin}\"\n"
            ),
        )
        .expect("write the plan");
        let mut world = World {
            cluster,
            monolith,
            service,
            plan,
            dir,
            runtime,
            proxy_port,
            admin_port,
            sync: None,
            syncs: 0,
            proxy: None,
            _one_at_a_time: guard,
        };
        world.start_sync();
        let plan = world.plan_arg();
        world.proxy = Some(Process::start(
            &[
                "proxy",
                "--plan",
                &plan,
                "--listen",
                &format!("127.0.0.1:{proxy_port}"),
                "--admin",
                &format!("127.0.0.1:{admin_port}"),
                "--threads",
                "2",
                "--health-interval",
                "0",
            ],
            world.dir.path().join("proxy.log"),
        ));
        world.wait_proxy();
        world.wait_streaming("forward");
        world
    }

    fn plan_arg(&self) -> String {
        self.plan.display().to_string()
    }

    fn start_sync(&mut self) {
        let plan = self.plan_arg();
        self.syncs += 1;
        let n = self.syncs;
        self.sync = Some(Process::start(
            &["sync", "run", "--plan", &plan],
            self.dir.path().join(format!("sync{n}.log")),
        ));
    }

    fn logs(&self) -> String {
        format!(
            "activity: {}\nslots: {}\nreplication: {}\nprogress: {}\nsync:\n{}\nproxy:\n{}",
            psql(
                &self.cluster,
                &self.monolith,
                "SELECT string_agg(datname || ' ' || application_name || ' ' || coalesce(state, '') || ' ' || coalesce(wait_event_type, '') || '/' || coalesce(wait_event, '') || ' ' || left(query, 80), E'\\n') FROM pg_stat_activity WHERE datname IS NOT NULL AND pid <> pg_backend_pid()"
            ),
            psql(
                &self.cluster,
                &self.monolith,
                "SELECT string_agg(slot_name || ' ' || coalesce(active_pid::text, '-') || ' ' || confirmed_flush_lsn, '; ') FROM pg_replication_slots"
            ),
            psql(
                &self.cluster,
                &self.monolith,
                "SELECT string_agg(application_name || ' ' || state || ' sent ' || sent_lsn || ' flush ' || coalesce(flush_lsn::text, '-'), '; ') FROM pg_stat_replication"
            ),
            psql(
                &self.cluster,
                &self.service,
                "SELECT string_agg(slot || ' ' || lsn, '; ') FROM strangler.progress"
            ),
            self.sync.as_ref().map(Process::log).unwrap_or_default(),
            self.proxy.as_ref().map(Process::log).unwrap_or_default()
        )
    }

    fn wait_proxy(&self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.admin_port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", self.proxy_port)).is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the proxy did not come up:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `orders` streams in `direction`, with the stream live.
    fn wait_streaming(&self, direction: &str) {
        let (uri, slot, source) = if direction == "forward" {
            (&self.service, "strangler_orders", &self.monolith)
        } else {
            (&self.monolith, "strangler_rev_orders", &self.service)
        };
        let logs = || self.logs();
        // The sync creates its state table when it starts, and a query
        // naming a table that does not exist fails to plan, whatever guards
        // it: wait for the table first.
        wait_true(
            &self.cluster,
            uri,
            "SELECT to_regclass('strangler.table_state') IS NOT NULL",
            Duration::from_secs(60),
            &logs,
        );
        wait_true(
            &self.cluster,
            uri,
            "SELECT EXISTS (SELECT 1 FROM strangler.table_state \
             WHERE table_name = 'orders' AND state = 'streaming')",
            Duration::from_secs(60),
            &logs,
        );
        // After a kill -9 the old walsender holds the slot until it
        // notices its client is gone (up to wal_sender_timeout, 60 s).
        wait_true(
            &self.cluster,
            source,
            &format!(
                "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}' \
                 AND active)"
            ),
            Duration::from_secs(120),
            &logs,
        );
    }

    fn stage(&self) -> (String, String) {
        let text = fs::read_to_string(&self.plan).expect("read plan");
        let find = |after: &str| {
            let at = text.find(after).expect("entry in the plan");
            let rest = &text[at..];
            let s = rest.find("stage = \"").expect("stage") + 9;
            rest[s..s + rest[s..].find('"').expect("quote")].to_owned()
        };
        (
            find("path = \"/api/orders\""),
            find("name = \"orders\"\nstage"),
        )
    }

    fn fenced(&self, uri: &str) -> bool {
        psql(
            &self.cluster,
            uri,
            "SELECT count(*) > 0 FROM pg_trigger WHERE tgname = 'strangler_fence'",
        ) == "t"
    }

    fn record(&self) -> String {
        // Two queries: one naming a table that does not exist fails to
        // plan, even behind a CASE.
        let exists = psql(
            &self.cluster,
            &self.service,
            "SELECT to_regclass('strangler.ownership_move') IS NOT NULL",
        );
        if exists != "t" {
            return String::new();
        }
        psql(
            &self.cluster,
            &self.service,
            "SELECT coalesce(string_agg(operation || ':' || step, ','), '') \
             FROM strangler.ownership_move",
        )
    }

    fn move_cmd(&self, op: &str, env: &[(&str, &str)]) -> Output {
        let plan = self.plan_arg();
        strangler(
            &[
                op,
                "--plan",
                &plan,
                "--service",
                "orders",
                "--table",
                "orders",
                "--timeout",
                "60s",
            ],
            env,
        )
    }
}

/// The rows of `orders` in `uri` as id → item.
fn rows(world: &World, uri: &str) -> HashMap<i64, String> {
    psql(&world.cluster, uri, "SELECT id || ' ' || item FROM orders")
        .lines()
        .filter_map(|l| {
            let (id, item) = l.split_once(' ')?;
            Some((id.parse().ok()?, item.to_owned()))
        })
        .collect()
}

/// Waits until `n` more writes were acknowledged than `from`.
fn wait_acked(tally: &Tally, n: usize, world: &World) {
    let from = tally.acked.lock().expect("lock").len();
    let started = Instant::now();
    while tally.acked.lock().expect("lock").len() < from + n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load made no progress ({} failures: {:?}):\n{}",
            tally.failed.load(Ordering::Relaxed),
            tally.failures.lock().expect("lock").first(),
            world.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The held time a move reports (`writes held for N ms`).
fn held_ms(out: &Output) -> u64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let at = stdout
        .find("writes held for ")
        .expect("held time in the report")
        + 16;
    stdout[at..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

#[test]
fn cutover_rollback_cutover_decommission_under_load_lose_nothing() {
    let world = World::start(None);
    let stop = Arc::new(AtomicBool::new(false));
    // 8 writers at 20 writes/s each; the held-time measurement runs the
    // same scenario with more (STRANGLER_CUTOVER_WRITERS=50 is 1,000/s).
    let writers = std::env::var("STRANGLER_CUTOVER_WRITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(8);
    let (tally, tasks) = start_load(&world.runtime, world.proxy_port, writers, 4, &stop);
    wait_acked(&tally, 300, &world);
    // The offered write rate, measured over about a second of steady load
    // just before the cutover (the rate during it includes the hold).
    let window = (writers * 20).max(300);
    let steady = Instant::now();
    wait_acked(&tally, window, &world);
    let write_rate = window as f64 / steady.elapsed().as_secs_f64();

    let started = Instant::now();
    let before = tally.requests.load(Ordering::Relaxed);
    let out = world.move_cmd("cutover", &[]);
    assert!(
        out.status.success(),
        "cutover: {}\n{}",
        text(&out),
        world.logs()
    );
    let rate =
        (tally.requests.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    let first_hold = held_ms(&out);
    eprintln!(
        "cutover under {write_rate:.0} writes/s of steady load ({rate:.0} requests/s during \
         the cutover): {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(world.stage(), ("live".to_owned(), "owned".to_owned()));
    assert!(
        world.fenced(&world.monolith),
        "the monolith's copy stays fenced"
    );
    world.wait_streaming("reverse");
    wait_acked(&tally, 300, &world);

    let out = world.move_cmd("rollback", &[]);
    assert!(
        out.status.success(),
        "rollback: {}\n{}",
        text(&out),
        world.logs()
    );
    eprintln!("rollback: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(world.stage(), ("monolith".to_owned(), "syncing".to_owned()));
    assert!(!world.fenced(&world.monolith) && !world.fenced(&world.service));
    world.wait_streaming("forward");
    wait_acked(&tally, 300, &world);

    let out = world.move_cmd("cutover", &[]);
    assert!(
        out.status.success(),
        "cutover again: {}\n{}",
        text(&out),
        world.logs()
    );
    let second_hold = held_ms(&out);
    world.wait_streaming("reverse");
    wait_acked(&tally, 300, &world);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        world.runtime.block_on(t).expect("load task");
    }

    let failed = tally.failed.load(Ordering::Relaxed);
    assert_eq!(
        failed,
        0,
        "requests failed: {:?}\n{}",
        tally
            .failures
            .lock()
            .expect("lock")
            .iter()
            .take(5)
            .collect::<Vec<_>>(),
        world.logs()
    );
    assert!(
        tally.duplicates.lock().expect("lock").is_empty(),
        "an id was issued twice"
    );
    let acked = tally.acked.lock().expect("lock").clone();
    // Every acknowledged write is on the owner's side, and the reverse
    // stream brings it to the monolith's copy.
    let own = rows(&world, &world.service);
    for (id, item) in &acked {
        assert_eq!(own.get(id), Some(item), "write {id} missing on the service");
    }
    let logs = || world.logs();
    wait_true(
        &world.cluster,
        &world.monolith,
        &format!("SELECT count(*) = {} FROM orders", own.len()),
        Duration::from_secs(30),
        &logs,
    );
    assert_eq!(
        rows(&world, &world.monolith),
        own,
        "the monolith's copy differs"
    );
    eprintln!(
        "{} requests, {failed} failed, {} writes acknowledged, 0 lost; held {first_hold} ms and \
         {second_hold} ms",
        tally.requests.load(Ordering::Relaxed),
        acked.len()
    );

    let plan = world.plan_arg();

    // Writes go on while the copy is decommissioned: the reverse stream
    // applying them to it is strangler's own use, not a reader.
    let stop = Arc::new(AtomicBool::new(false));
    let (during, tasks) = start_load(&world.runtime, world.proxy_port, 4, 0, &stop);
    wait_acked(&during, 20, &world);
    // Status while the service answers every request: over its window the
    // proxies' counters give the monolith none of the traffic, while every
    // request since the proxy started gives it a share.
    let status = strangler(&["status", "--plan", &plan], &[]);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "status: {}", text(&status));
    assert!(
        shown.contains("owned") && shown.contains("reverse streaming"),
        "{shown}"
    );
    assert!(shown.contains("0 of 1 table(s) still its own"), "{shown}");
    assert!(
        shown.starts_with(
            "monolith: 0% of the traffic (from the proxies' counters over the last 2 s)"
        ),
        "{shown}"
    );
    let total = strangler(&["status", "--plan", &plan, "--window", "0s"], &[]);
    let shown = String::from_utf8_lossy(&total.stdout);
    let share: u32 = shown
        .strip_prefix("monolith: ")
        .and_then(|s| {
            s.split_once("% of the traffic (from the proxies' counters since they started")
        })
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no share from the proxies' counters: {shown}"));
    assert!(share > 0 && share < 100, "{shown}");
    let archive = world.dir.path().join("orders.copy");
    let archive_arg = archive.display().to_string();
    let out = strangler(
        &[
            "decommission",
            "--plan",
            &plan,
            "--service",
            "orders",
            "--table",
            "orders",
            "--archive",
            &archive_arg,
            "--watch",
            "2s",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "decommission: {}\n{}",
        text(&out),
        world.logs()
    );
    assert_eq!(world.stage().1, "decommissioned");
    wait_acked(&during, 20, &world);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        world.runtime.block_on(t).expect("load task");
    }
    assert_eq!(
        during.failed.load(Ordering::Relaxed),
        0,
        "requests failed during decommission: {:?}",
        during.failures.lock().expect("lock").first()
    );
    let owned_now = rows(&world, &world.service);
    for (id, item) in during.acked.lock().expect("lock").iter() {
        assert_eq!(
            owned_now.get(id),
            Some(item),
            "write {id} missing on the service"
        );
    }
    assert_eq!(
        psql(
            &world.cluster,
            &world.monolith,
            "SELECT to_regclass('public.orders') IS NULL"
        ),
        "t"
    );
    let archived: usize = psql(
        &world.cluster,
        &world.monolith,
        "SELECT count(*) FROM strangler_archive.orders",
    )
    .parse()
    .expect("count");
    assert!(
        archived >= own.len() && archived <= owned_now.len(),
        "archived {archived} rows; {} before the decommission, {} after",
        own.len(),
        owned_now.len()
    );
    // The archive loads back into a fresh database.
    psql(&world.cluster, &world.monolith, "CREATE DATABASE restored");
    let restored_uri = world.monolith.replace("/shop", "/restored");
    let out = strangler(
        &[
            "decommission",
            "--restore",
            &archive_arg,
            "--database",
            &restored_uri,
        ],
        &[],
    );
    assert!(out.status.success(), "restore: {}", text(&out));
    let restored = rows(&world, &restored_uri);
    assert_eq!(restored.len(), archived);
    for (id, item) in &own {
        assert_eq!(
            restored.get(id),
            Some(item),
            "row {id} missing from the archive"
        );
    }
    for (id, item) in &restored {
        assert_eq!(
            owned_now.get(id),
            Some(item),
            "archived row {id} is not the service's"
        );
    }
}

#[test]
fn a_crash_after_any_step_is_finished_or_undone_by_a_rerun() {
    let mut world = World::start(None);
    let steps = [
        "preflight",
        "prepared",
        "http_fence",
        "db_fence",
        "drained",
        "sequences",
        "joined",
        "flip",
        "flipped",
    ];
    let mut next_id = 10_000;
    // A write through the proxy must land where the plan says, after every
    // re-run.
    let mut write_through = |world: &World, owner: &str| {
        next_id += 1;
        let item = format!("after-{next_id}");
        let body = format!("{item} 1");
        let mut s = std::net::TcpStream::connect(("127.0.0.1", world.proxy_port)).expect("connect");
        std::io::Write::write_all(
            &mut s,
            format!(
                "POST /api/orders HTTP/1.1\r\nhost: shop\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .expect("send");
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut s, &mut answer).expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "write after re-run: {answer}\n{}",
            world.logs()
        );
        let uri = if owner == "service" {
            &world.service
        } else {
            &world.monolith
        };
        assert_eq!(
            psql(
                &world.cluster,
                uri,
                &format!("SELECT count(*) FROM orders WHERE item = '{item}'")
            ),
            "1",
            "the write went to the {owner}"
        );
    };
    for (op, back) in [("cutover", "rollback"), ("rollback", "cutover")] {
        if op == "rollback" {
            let out = world.move_cmd("cutover", &[]);
            assert!(out.status.success(), "{}", text(&out));
            world.wait_streaming("reverse");
        }
        for step in &steps {
            let crashed = world.move_cmd(op, &[("STRANGLER_TEST_CRASH_AFTER", step)]);
            assert!(
                !crashed.status.success() && text(&crashed).contains("dying here"),
                "{op} was to die after {step}: {}",
                text(&crashed)
            );
            assert!(
                !world.record().is_empty(),
                "a record is left after a crash at {step}"
            );
            let again = world.move_cmd(op, &[]);
            assert!(
                again.status.success(),
                "{op} re-run after a crash at {step}: {}\n{}",
                text(&again),
                world.logs()
            );
            assert!(
                String::from_utf8_lossy(&again.stdout).contains("interrupted"),
                "the re-run says what it found: {}",
                text(&again)
            );
            assert_eq!(
                world.record(),
                "",
                "no record left after the re-run ({step})"
            );
            let owner = if op == "cutover" {
                "service"
            } else {
                "monolith"
            };
            let expect = if op == "cutover" {
                ("live".to_owned(), "owned".to_owned())
            } else {
                ("monolith".to_owned(), "syncing".to_owned())
            };
            assert_eq!(
                world.stage(),
                expect,
                "after a crash at {step} and a re-run"
            );
            world.wait_streaming(if op == "cutover" {
                "reverse"
            } else {
                "forward"
            });
            write_through(&world, owner);
            // And back, for the next step.
            let out = world.move_cmd(back, &[]);
            assert!(
                out.status.success(),
                "{back} after {step}: {}\n{}",
                text(&out),
                world.logs()
            );
            world.wait_streaming(if op == "cutover" {
                "forward"
            } else {
                "reverse"
            });
        }
        // The sync itself killed mid-stream: a restart resumes it.
        if let Some(mut sync) = world.sync.take() {
            let _ = sync.child.kill();
            let _ = sync.child.wait();
        }
        world.start_sync();
        world.wait_streaming(if op == "cutover" {
            "forward"
        } else {
            "reverse"
        });
    }
    // Both sides equal at the end.
    let logs = || world.logs();
    let own = rows(&world, &world.service);
    wait_true(
        &world.cluster,
        &world.monolith,
        &format!("SELECT count(*) = {} FROM orders", own.len()),
        Duration::from_secs(30),
        &logs,
    );
    assert_eq!(rows(&world, &world.monolith), own);
}

#[test]
fn an_unreachable_proxy_or_a_failed_preflight_changes_nothing() {
    let closed = free_port();
    let world = World::start(Some(closed));
    let before = fs::read_to_string(&world.plan).expect("plan");
    let out = world.move_cmd("cutover", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("preflight failed") && stderr.contains("cannot be reached"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&world.plan).expect("plan"), before);
    assert!(!world.fenced(&world.monolith));
    assert_eq!(world.record(), "");
    // A rollback of a table that is not owned is refused the same way.
    let out = world.move_cmd("rollback", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a rollback starts from `owned`"),
        "{}",
        text(&out)
    );
    assert_eq!(fs::read_to_string(&world.plan).expect("plan"), before);
}
