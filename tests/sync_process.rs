#![allow(clippy::too_many_lines)] // Scenario tests read top to bottom.

//! `strangler sync run` as a real, separate process against real throwaway
//! clusters under `pgbench` load: a first connection that fails exits 2,
//! `kill -9` at several moments resumes exactly, connections cut by the
//! databases are retried, and tables added to the plan while it runs join
//! the stream, also when the plan is a Kubernetes `ConfigMap` mount whose
//! symlink is swapped. Every wait is bounded.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use strangler_testkit::{ClusterConfig, PgCluster};

const TABLES: [&str; 3] = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers"];

/// A monolith (`shop`) and a service (`catalog`) cluster, started in parallel.
fn clusters() -> (PgCluster, PgCluster) {
    let source = std::thread::spawn(|| ClusterConfig::new().database("shop").start_blocking());
    let target = ClusterConfig::new()
        .database("catalog")
        .start_blocking()
        .expect("start the service's cluster");
    let source = source
        .join()
        .expect("cluster thread")
        .expect("start the monolith's cluster");
    (source, target)
}

/// Runs `sql` with psql and returns its unaligned, tuples-only output.
fn psql(cluster: &PgCluster, sql: &str) -> String {
    psql_in(cluster, cluster.connection_uri(), sql)
}

/// [`psql`] in the database `uri` names.
fn psql_in(cluster: &PgCluster, uri: &str, sql: &str) -> String {
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

/// Polls `sql` (one boolean) until it is true, for at most `limit`.
fn wait_until(cluster: &PgCluster, sql: &str, what: &str, limit: Duration, sync: &mut Sync) {
    wait_until_in(cluster, cluster.connection_uri(), sql, what, limit, sync);
}

/// [`wait_until`] in the database `uri` names.
fn wait_until_in(
    cluster: &PgCluster,
    uri: &str,
    sql: &str,
    what: &str,
    limit: Duration,
    sync: &mut Sync,
) {
    let started = Instant::now();
    loop {
        let out = Command::new(cluster.bin_dir().join("psql"))
            .args(["-X", "-A", "-t", "-q", "-d"])
            .arg(uri)
            .args(["-c", sql])
            .output()
            .expect("run psql");
        if String::from_utf8_lossy(&out.stdout).trim() == "t" {
            return;
        }
        if let Some(status) = sync.exited() {
            panic!(
                "the sync exited ({status}) while waiting for {what}:\n{}",
                sync.log()
            );
        }
        assert!(
            started.elapsed() < limit,
            "timed out waiting for {what} ({sql}); sync log:\n{}",
            sync.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_plan(dir: &Path, source: &str, target: &str, tables: &[&str]) -> PathBuf {
    let mut text = format!(
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n\
         database = \"{source}\"\n\n[[service]]\nname = \"catalog\"\n\
         upstream = \"http://127.0.0.1:9001\"\ndatabase = \"{target}\"\n"
    );
    for t in tables {
        let _ = write!(
            text,
            "[[service.table]]\nname = \"{t}\"\nstage = \"syncing\"\n"
        );
    }
    let path = dir.join("strangler.toml");
    // Write then rename, as editors do, so the watcher never reads half a file.
    let tmp = dir.join("strangler.toml.tmp");
    fs::write(&tmp, text).expect("write plan");
    fs::rename(&tmp, &path).expect("rename plan");
    path
}

fn strangler(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(args)
        .env("RUST_LOG", "strangler_sync=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strangler");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("strangler {args:?} did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A `strangler sync run` child process with its stderr in a file.
struct Sync {
    child: Child,
    log: PathBuf,
}

impl Sync {
    fn start(plan: &Path, log: &Path) -> Sync {
        Sync::start_with(plan, log, &["--service", "catalog"])
    }

    /// Starts `sync run` with extra arguments (none: every service).
    fn start_with(plan: &Path, log: &Path, args: &[&str]) -> Sync {
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log");
        let child = Command::new(env!("CARGO_BIN_EXE_strangler"))
            .args(["sync", "run", "--workers", "2"])
            .args(args)
            .arg("--plan")
            .arg(plan)
            .env("RUST_LOG", "strangler_sync=info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start strangler sync run");
        Sync {
            child,
            log: log.to_owned(),
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds every one of `lines` and returns the log.
    /// A table's state is committed before its log line is written, so a
    /// state seen in the database does not mean the line is there yet.
    fn wait_for_log(&mut self, lines: &[&str], limit: Duration) -> String {
        let started = Instant::now();
        loop {
            let text = self.log();
            if lines.iter().all(|line| text.contains(line)) {
                return text;
            }
            if let Some(status) = self.exited() {
                panic!("the sync exited ({status}) before logging {lines:?}:\n{text}");
            }
            assert!(
                started.elapsed() < limit,
                "timed out waiting for {lines:?} in the sync log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// SIGKILL: no shutdown, no goodbye to either database.
    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// SIGTERM, and the exit code once it stopped (within 30 s).
    fn terminate(mut self) -> Option<i32> {
        self.signal("TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status.code();
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!(
                    "the sync did not stop within 30 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pgbench` TPC-B-like load (accounts, tellers, branches updated, history
/// inserted) at a fixed rate, until dropped.
struct Load(Child);

impl Load {
    fn start(source: &PgCluster) -> Load {
        Load(
            Command::new(source.bin_dir().join("pgbench"))
                .args(["-n", "-c", "2", "-T", "600", "-R", "200"])
                .arg(source.connection_uri())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start pgbench"),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pgbench_init(source: &PgCluster, scale: u32) {
    let out = Command::new(source.bin_dir().join("pgbench"))
        .args(["-i", "-q", "-s", &scale.to_string()])
        .arg(source.connection_uri())
        .output()
        .expect("run pgbench -i");
    assert!(
        out.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fingerprint(cluster: &PgCluster, table: &str) -> String {
    psql(
        cluster,
        &format!(
            "SELECT count(*) || ' ' || coalesce(bit_xor(hashtextextended(t::text, 0)), 0) \
             FROM {table} t"
        ),
    )
}

/// Waits until the target has applied everything the monolith has written.
fn wait_caught_up(source: &PgCluster, target: &PgCluster, sync: &mut Sync) {
    let lsn = psql(source, "SELECT pg_current_wal_lsn()");
    wait_until(
        target,
        &format!(
            "SELECT lsn >= '{lsn}'::pg_lsn FROM strangler.progress WHERE slot = 'strangler_catalog'"
        ),
        "the service to catch up",
        Duration::from_secs(90),
        sync,
    );
}

/// Exact equality of every table (count and order-independent hash), and
/// `strangler sync verify` agrees.
fn assert_exact(source: &PgCluster, target: &PgCluster, plan: &Path, tables: &[&str]) {
    for table in tables {
        assert_eq!(
            fingerprint(source, table),
            fingerprint(target, table),
            "{table} differs"
        );
    }
    let verify = strangler(&[
        "sync",
        "verify",
        "--service",
        "catalog",
        "--timeout",
        "60",
        "--plan",
        plan.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Runs `sync run` that is expected to give up, and returns its exit code
/// and stderr.
fn run_expecting_exit(plan: &Path) -> (Option<i32>, String) {
    let out = strangler(&["sync", "run", "--plan", plan.to_str().expect("utf-8 path")]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_first_connection_that_fails_exits_2_naming_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/shop");
    let plan = write_plan(
        dir.path(),
        &url,
        &format!("postgres://postgres@127.0.0.1:{port}/catalog"),
        &["products"],
    );
    let (code, stderr) = run_expecting_exit(&plan);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("service catalog")
            && stderr.contains(&format!("monolith's database at 127.0.0.1:{port}/shop"))
            && stderr.contains("fix: check that the database server is running"),
        "{stderr}"
    );

    // The monolith is up, the service's database is not.
    let source = ClusterConfig::new()
        .database("shop")
        .start_blocking()
        .expect("start the monolith's cluster");
    psql(&source, "CREATE TABLE products (id int PRIMARY KEY)");
    let plan = write_plan(
        dir.path(),
        source.connection_uri(),
        &format!("postgres://postgres@127.0.0.1:{port}/catalog"),
        &["products"],
    );
    let (code, stderr) = run_expecting_exit(&plan);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "service catalog's database at 127.0.0.1:{port}/catalog"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("password"), "no secrets: {stderr}");

    // A URL that does not parse is refused before anything starts.
    let plan = write_plan(
        dir.path(),
        "postgres://postgres@127.0.0.1:notaport/shop",
        source.connection_uri(),
        &["products"],
    );
    let (code, stderr) = run_expecting_exit(&plan);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("is not a PostgreSQL URL") && stderr.contains("is not a valid plan"),
        "{stderr}"
    );
}

#[test]
fn kill_9_mid_copy_and_mid_stream_then_resume_exactly() {
    let (source, target) = clusters();
    pgbench_init(&source, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("sync.log");
    let plan = write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &TABLES,
    );
    let plan_arg = plan.to_str().expect("utf-8 path");
    let schema = strangler(&["sync", "schema", "--service", "catalog", "--plan", plan_arg]);
    assert_eq!(
        schema.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&schema.stderr)
    );
    let load = Load::start(&source);
    let limit = Duration::from_secs(90);

    // Mid-copy, twice: the copy starts again from a fresh snapshot.
    for _ in 0..2 {
        let mut sync = Sync::start(&plan, &log);
        wait_until(
            &target,
            "SELECT EXISTS (SELECT 1 FROM strangler.table_state WHERE state = 'copying')",
            "the copy to start",
            limit,
            &mut sync,
        );
        std::thread::sleep(Duration::from_millis(150));
        sync.kill9();
    }

    // Mid-stream under load.
    let mut sync = Sync::start(&plan, &log);
    wait_until(
        &target,
        "SELECT count(*) = 3 AND bool_and(state IN ('catching_up', 'streaming')) \
         FROM strangler.table_state",
        "the copy to finish",
        limit,
        &mut sync,
    );
    std::thread::sleep(Duration::from_millis(700));
    sync.kill9();

    // Mid-batch: one big source transaction is being applied.
    let mut sync = Sync::start(&plan, &log);
    wait_until(
        &source,
        "SELECT active FROM pg_replication_slots WHERE slot_name = 'strangler_catalog'",
        "the sync to stream again",
        limit,
        &mut sync,
    );
    psql(
        &source,
        "UPDATE pgbench_accounts SET abalance = abalance + 1",
    );
    // The service holds one target transaction open far longer than the
    // small ones of the load ever are (they commit within 200 ms).
    wait_until(
        &target,
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = 'catalog' \
         AND backend_xid IS NOT NULL AND xact_start < clock_timestamp() - interval '400 ms')",
        "the big transaction to be half applied",
        limit,
        &mut sync,
    );
    sync.kill9();

    // Once more while it resumes, then let it run.
    let sync = Sync::start(&plan, &log);
    std::thread::sleep(Duration::from_millis(600));
    sync.kill9();
    let mut sync = Sync::start(&plan, &log);
    std::thread::sleep(Duration::from_secs(1));
    drop(load);
    wait_caught_up(&source, &target, &mut sync);
    assert_exact(&source, &target, &plan, &TABLES);
    assert_eq!(sync.terminate(), Some(0), "SIGTERM stops cleanly");
}

#[test]
fn connections_cut_mid_stream_are_retried_and_resume_exactly() {
    let (source, target) = clusters();
    pgbench_init(&source, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("sync.log");
    let plan = write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &TABLES,
    );
    let plan_arg = plan.to_str().expect("utf-8 path");
    let schema = strangler(&["sync", "schema", "--service", "catalog", "--plan", plan_arg]);
    assert_eq!(schema.status.code(), Some(0));
    let load = Load::start(&source);
    let limit = Duration::from_secs(90);
    let mut sync = Sync::start(&plan, &log);
    wait_until(
        &target,
        "SELECT count(*) = 3 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "streaming",
        limit,
        &mut sync,
    );
    let walsender = "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                     WHERE slot_name = 'strangler_catalog' AND active";
    let apply = "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = 'catalog' AND backend_type = 'client backend' \
                 AND pid <> pg_backend_pid()";
    let walsender_pid = "SELECT active_pid FROM pg_replication_slots \
                         WHERE slot_name = 'strangler_catalog'";
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        let before = psql(&source, walsender_pid);
        match round {
            0 => assert_eq!(psql(&source, walsender), "t", "the walsender was cut"),
            1 => assert_eq!(psql(&target, apply), "t", "the apply connection was cut"),
            _ => {
                // In the middle of one big transaction.
                psql(
                    &source,
                    "UPDATE pgbench_accounts SET abalance = abalance - 1",
                );
                wait_until(
                    &target,
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = 'catalog' \
                     AND backend_xid IS NOT NULL \
                     AND xact_start < clock_timestamp() - interval '300 ms')",
                    "the big transaction to be half applied",
                    limit,
                    &mut sync,
                );
                assert_eq!(psql(&target, apply), "t", "cut mid-transaction");
            }
        }
        // The sync notices, backs off and streams again on a new connection.
        wait_until(
            &source,
            &format!(
                "SELECT active AND active_pid <> {before} FROM pg_replication_slots \
                 WHERE slot_name = 'strangler_catalog'"
            ),
            "the sync to reconnect",
            limit,
            &mut sync,
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(load);
    wait_caught_up(&source, &target, &mut sync);
    assert_exact(&source, &target, &plan, &TABLES);
    let log_text = sync.log();
    assert!(log_text.contains("retrying in"), "{log_text}");
    assert_eq!(sync.terminate(), Some(0));
}

#[test]
fn tables_added_to_the_plan_join_while_the_others_stream() {
    let (source, target) = clusters();
    pgbench_init(&source, 1);
    psql(
        &source,
        "CREATE TABLE extra (id int PRIMARY KEY, v text); \
         INSERT INTO extra SELECT g, md5(g::text) FROM generate_series(1, 300000) g",
    );
    let all = [TABLES[0], TABLES[1], TABLES[2], "extra"];
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("sync.log");
    // The service's tables exist; the plan syncs only the accounts at first.
    let plan = write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &all,
    );
    let plan_arg = plan.to_str().expect("utf-8 path").to_owned();
    let schema = strangler(&[
        "sync",
        "schema",
        "--service",
        "catalog",
        "--plan",
        &plan_arg,
    ]);
    assert_eq!(schema.status.code(), Some(0));
    write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &TABLES[..1],
    );
    let load = Load::start(&source);
    let limit = Duration::from_secs(90);
    let mut sync = Sync::start(&plan, &log);
    wait_until(
        &target,
        "SELECT count(*) = 1 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "the accounts to stream",
        limit,
        &mut sync,
    );

    // One more table, noticed by the file watch.
    write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &TABLES[..2],
    );
    wait_until(
        &target,
        "SELECT count(*) = 2 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "pgbench_branches to join",
        limit,
        &mut sync,
    );

    // An invalid plan is logged and ignored.
    fs::write(&plan, "version = 1\n[monolith\n").expect("write");
    sync.signal("HUP");
    let started = Instant::now();
    while !sync.log().contains("is not a valid plan") {
        assert!(
            started.elapsed() < limit,
            "the invalid plan was not reported:\n{}",
            sync.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sync.exited().is_none(), "the sync goes on:\n{}", sync.log());

    // The third table, announced with SIGHUP.
    write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &TABLES,
    );
    sync.signal("HUP");
    wait_until(
        &target,
        "SELECT count(*) = 3 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "pgbench_tellers to join",
        limit,
        &mut sync,
    );
    let log_text = sync.wait_for_log(
        &[
            "pgbench_branches joined the stream",
            "pgbench_tellers joined the stream",
        ],
        limit,
    );
    assert!(
        !log_text.contains("restarting the stream") && !log_text.contains("retrying in"),
        "the accounts kept streaming, never restarted:\n{log_text}"
    );

    // kill -9 while a table is joining: the next start copies it afresh.
    write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &all,
    );
    sync.signal("HUP");
    wait_until(
        &target,
        "SELECT EXISTS (SELECT 1 FROM strangler.table_state \
         WHERE table_name = 'extra' AND state = 'copying')",
        "extra to be copying",
        limit,
        &mut sync,
    );
    std::thread::sleep(Duration::from_millis(100));
    sync.kill9();
    psql(&source, "UPDATE extra SET v = 'changed' WHERE id % 3 = 0");
    let mut sync = Sync::start(&plan, &log);
    wait_until(
        &target,
        "SELECT count(*) = 4 AND bool_and(state IN ('catching_up', 'streaming')) \
         FROM strangler.table_state",
        "extra to be copied again",
        limit,
        &mut sync,
    );
    std::thread::sleep(Duration::from_millis(500));

    // A table leaves the plan: it leaves the publication and the
    // bookkeeping at a transaction boundary while the others stream on,
    // never restarted.
    write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &TABLES,
    );
    wait_until(
        &source,
        "SELECT count(*) = 3 AND bool_and(tablename <> 'extra') FROM pg_publication_tables \
         WHERE pubname = 'strangler_catalog'",
        "extra to leave the publication",
        limit,
        &mut sync,
    );
    wait_until(
        &target,
        "SELECT count(*) = 3 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "the others to stream again",
        limit,
        &mut sync,
    );
    let log_text = sync.wait_for_log(&["extra left the plan: dropped from publication"], limit);
    assert!(
        !log_text.contains("restarting the stream"),
        "the others streamed on:\n{log_text}"
    );
    std::thread::sleep(Duration::from_millis(500));
    drop(load);
    wait_caught_up(&source, &target, &mut sync);
    assert_exact(&source, &target, &plan, &TABLES);
    assert_eq!(sync.terminate(), Some(0));
}

#[test]
fn a_service_added_to_the_plan_starts_while_the_others_stream() {
    let (source, target) = clusters();
    pgbench_init(&source, 1);
    psql(
        &source,
        "CREATE TABLE extra (id int PRIMARY KEY, v text); \
         INSERT INTO extra SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
    );
    psql(&target, "CREATE DATABASE reviews");
    let reviews_uri = format!(
        "{}/reviews",
        target
            .connection_uri()
            .rsplit_once('/')
            .expect("a database in the URI")
            .0
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("sync.log");
    let plan = write_plan(
        dir.path(),
        source.connection_uri(),
        target.connection_uri(),
        &TABLES,
    );
    let plan_arg = plan.to_str().expect("utf-8 path").to_owned();
    let schema = strangler(&["sync", "schema", "--plan", &plan_arg]);
    assert_eq!(schema.status.code(), Some(0));
    let load = Load::start(&source);
    let limit = Duration::from_secs(90);
    let mut sync = Sync::start_with(&plan, &log, &[]);
    wait_until(
        &target,
        "SELECT count(*) = 3 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "catalog to stream",
        limit,
        &mut sync,
    );

    // A second service, with its own database, joins the running sync. It
    // is added before its tables exist: its preflight fails, the error is
    // logged, catalog goes on; once the tables are made, a SIGHUP starts it.
    let catalog = fs::read_to_string(&plan).expect("read plan");
    let two = format!(
        "{catalog}\n[[service]]\nname = \"reviews\"\nupstream = \"http://127.0.0.1:9002\"\n\
         database = \"{reviews_uri}\"\n[[service.table]]\nname = \"extra\"\nstage = \"syncing\"\n"
    );
    let next = dir.path().join("next.toml");
    fs::write(&next, two).expect("write plan");
    fs::rename(&next, &plan).expect("replace the plan");
    let started = Instant::now();
    while !sync.log().contains("to try service reviews again") {
        assert!(
            started.elapsed() < limit,
            "the failing service was not reported:\n{}",
            sync.log()
        );
        assert!(sync.exited().is_none(), "the sync goes on:\n{}", sync.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let schema = strangler(&[
        "sync",
        "schema",
        "--service",
        "reviews",
        "--plan",
        &plan_arg,
    ]);
    assert_eq!(
        schema.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&schema.stderr)
    );
    sync.signal("HUP");
    wait_until_in(
        &target,
        &reviews_uri,
        "SELECT count(*) = 1 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "reviews to stream",
        limit,
        &mut sync,
    );
    psql(
        &source,
        "UPDATE extra SET v = 'changed' WHERE id % 7 = 0; DELETE FROM extra WHERE id % 11 = 0",
    );
    drop(load);
    let lsn = psql(&source, "SELECT pg_current_wal_lsn()");
    wait_until_in(
        &target,
        &reviews_uri,
        &format!(
            "SELECT lsn >= '{lsn}'::pg_lsn FROM strangler.progress WHERE slot = 'strangler_reviews'"
        ),
        "reviews to catch up",
        limit,
        &mut sync,
    );
    let fingerprint_sql =
        "SELECT count(*) || ' ' || coalesce(bit_xor(hashtextextended(t::text, 0)), 0) FROM extra t";
    assert_eq!(
        psql(&source, fingerprint_sql),
        psql_in(&target, &reviews_uri, fingerprint_sql),
        "extra differs"
    );
    wait_caught_up(&source, &target, &mut sync);
    assert_exact(&source, &target, &plan, &TABLES);
    let log_text = sync.log();
    assert!(
        log_text.contains("service reviews is new in the plan; syncing it"),
        "{log_text}"
    );
    assert!(
        !log_text.contains("restarting the stream") && !log_text.contains("retrying in"),
        "catalog kept streaming, never restarted:\n{log_text}"
    );
    assert_eq!(sync.terminate(), Some(0));
}

#[cfg(unix)]
#[test]
fn a_plan_mounted_from_a_kubernetes_configmap_is_followed_through_its_symlink_swap() {
    use std::os::unix::fs::symlink;

    let (source, target) = clusters();
    pgbench_init(&source, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("sync.log");
    // The layout the kubelet mounts: `strangler.toml` links to
    // `..data/strangler.toml`, and `..data` links to the current version's
    // directory.
    let version = |name: &str, tables: &[&str]| {
        let version_dir = dir.path().join(name);
        fs::create_dir(&version_dir).expect("version directory");
        write_plan(
            &version_dir,
            source.connection_uri(),
            target.connection_uri(),
            tables,
        )
    };
    let all = version("v0", &TABLES);
    let schema = strangler(&[
        "sync",
        "schema",
        "--service",
        "catalog",
        "--plan",
        all.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(schema.status.code(), Some(0));
    version("v1", &TABLES[..1]);
    symlink("v1", dir.path().join("..data")).expect("link ..data");
    let plan = dir.path().join("strangler.toml");
    symlink("..data/strangler.toml", &plan).expect("link the plan");
    let limit = Duration::from_secs(90);
    let mut sync = Sync::start(&plan, &log);
    wait_until(
        &target,
        "SELECT count(*) = 1 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "the accounts to stream",
        limit,
        &mut sync,
    );

    // A ConfigMap update: the new version's directory appears and `..data`
    // is swapped to it in one rename; no event names the plan itself.
    version("v2", &TABLES[..2]);
    symlink("v2", dir.path().join("..data_tmp")).expect("link ..data_tmp");
    fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).expect("swap ..data");
    wait_until(
        &target,
        "SELECT count(*) = 2 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "pgbench_branches to join",
        limit,
        &mut sync,
    );
    let log_text = sync.wait_for_log(&["pgbench_branches joined the stream"], limit);
    assert!(!log_text.contains("restarting the stream"), "{log_text}");
    wait_caught_up(&source, &target, &mut sync);
    assert_exact(&source, &target, &plan, &TABLES[..2]);
    assert_eq!(sync.terminate(), Some(0));
}
