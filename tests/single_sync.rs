#![allow(clippy::too_many_lines)] // A scenario test reads top to bottom.

//! At most one `strangler sync run` streams a service: real binaries, real
//! throwaway clusters. A second run for the same service waits on the
//! service's advisory lock on the monolith (and says who holds it);
//! `--no-wait` exits 2 instead; `kill -9` of the first hands the service
//! over to the waiting one, and so does the loss of the holder's lock
//! session (the holder stops streaming and waits in turn), under load,
//! with every row applied exactly once. Every wait is bounded and polls what PostgreSQL shows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strangler_testkit::{ClusterConfig, PgCluster};

const LIMIT: Duration = Duration::from_secs(90);

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

/// A `strangler sync run --service catalog` process, its stderr in a file.
struct Sync {
    child: Child,
    log: PathBuf,
}

impl Sync {
    fn start(plan: &Path, log: &Path, extra: &[&str]) -> Sync {
        let stderr = fs::File::create(log).expect("create log");
        let child = Command::new(env!("CARGO_BIN_EXE_strangler"))
            .args(["sync", "run", "--workers", "2", "--service", "catalog"])
            .args(extra)
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

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits (at most [`LIMIT`]) for the process to exit by itself.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(started.elapsed() < LIMIT, "did not exit:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status.code();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no stop within 30 s of SIGTERM:\n{}",
                self.log()
            );
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

/// Polls `sql` (one boolean) on `cluster` until it is true, failing if one
/// of `syncs` exits meanwhile.
fn wait_until(cluster: &PgCluster, sql: &str, what: &str, syncs: &mut [&mut Sync]) {
    let started = Instant::now();
    loop {
        let out = Command::new(cluster.bin_dir().join("psql"))
            .args(["-X", "-A", "-t", "-q", "-d"])
            .arg(cluster.connection_uri())
            .args(["-c", sql])
            .output()
            .expect("run psql");
        if String::from_utf8_lossy(&out.stdout).trim() == "t" {
            return;
        }
        for sync in syncs.iter_mut() {
            if let Some(status) = sync.exited() {
                panic!(
                    "a sync exited ({status}) while waiting for {what}:\n{}",
                    sync.log()
                );
            }
        }
        assert!(
            started.elapsed() < LIMIT,
            "timed out waiting for {what} ({sql}); logs:\n{}",
            syncs
                .iter()
                .map(|s| s.log())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_log(sync: &mut Sync, needle: &str) {
    let started = Instant::now();
    while !sync.log().contains(needle) {
        if let Some(status) = sync.exited() {
            panic!(
                "the sync exited ({status}) before logging {needle:?}:\n{}",
                sync.log()
            );
        }
        assert!(
            started.elapsed() < LIMIT,
            "no {needle:?} in the log:\n{}",
            sync.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Inserts at a fixed rate through `pgbench`, each transaction five rows
/// with fresh ids from the monolith's sequence, until dropped.
struct Load(Child);

impl Load {
    fn start(source: &PgCluster, dir: &Path) -> Load {
        let script = dir.join("insert.sql");
        fs::write(
            &script,
            "INSERT INTO items (v) SELECT md5(random()::text) FROM generate_series(1, 5);\n",
        )
        .expect("write the pgbench script");
        Load(
            Command::new(source.bin_dir().join("pgbench"))
                .args(["-n", "-c", "2", "-T", "600", "-R", "200", "-f"])
                .arg(&script)
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

fn write_plan(dir: &Path, source: &str, target: &str) -> PathBuf {
    let path = dir.join("strangler.toml");
    fs::write(
        &path,
        format!(
            "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n\
             database = \"{source}\"\n\n[[service]]\nname = \"catalog\"\n\
             upstream = \"http://127.0.0.1:9001\"\ndatabase = \"{target}\"\n\
             [[service.table]]\nname = \"items\"\nstage = \"syncing\"\n"
        ),
    )
    .expect("write plan");
    path
}

/// The sessions of `strangler sync run` processes for catalog on the
/// monolith that wait for an advisory lock.
const WAITING: &str = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
    WHERE application_name LIKE 'strangler-sync catalog (pid %)' \
    AND wait_event_type = 'Lock' AND wait_event = 'advisory')";

#[test]
fn a_second_sync_waits_and_takes_over_when_the_first_is_killed_or_loses_its_lock() {
    let (source, target) = clusters();
    psql(
        &source,
        "CREATE SEQUENCE items_id; \
         CREATE TABLE items (id bigint PRIMARY KEY DEFAULT nextval('items_id'), v text NOT NULL); \
         INSERT INTO items (v) SELECT md5(g::text) FROM generate_series(1, 1000) g",
    );
    // Every row the apply writes on the service is logged by a trigger that
    // fires under `session_replication_role = replica` too (ENABLE ALWAYS):
    // a row applied twice (an insert replayed as the upsert's update) would
    // leave two log rows, a rolled-back apply none.
    psql(
        &target,
        "CREATE TABLE items (id bigint PRIMARY KEY, v text NOT NULL); \
         CREATE TABLE applied (id bigint NOT NULL, v text NOT NULL); \
         CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS \
         $$BEGIN INSERT INTO applied VALUES (NEW.id, NEW.v); RETURN NULL; END$$; \
         CREATE TRIGGER log_apply AFTER INSERT OR UPDATE ON items \
         FOR EACH ROW EXECUTE FUNCTION log_apply(); \
         ALTER TABLE items ENABLE ALWAYS TRIGGER log_apply",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(dir.path(), source.connection_uri(), target.connection_uri());

    // A streams.
    let mut a = Sync::start(&plan, &dir.path().join("a.log"), &[]);
    wait_until(
        &target,
        "SELECT count(*) = 1 AND bool_and(state = 'streaming') FROM strangler.table_state",
        "A to stream",
        &mut [&mut a],
    );
    wait_until(
        &source,
        "SELECT count(*) = 1 FROM pg_stat_replication WHERE application_name = 'strangler-sync-catalog'",
        "A's walsender",
        &mut [&mut a],
    );
    let load = Load::start(&source, dir.path());

    // B waits on the lock, says who holds it, and neither streams nor
    // touches the slot.
    let mut b = Sync::start(&plan, &dir.path().join("b.log"), &[]);
    wait_for_log(&mut b, "another `strangler sync run` holds service catalog");
    wait_until(
        &source,
        WAITING,
        "B to wait on the lock",
        &mut [&mut a, &mut b],
    );
    let b_log = b.log();
    assert!(
        b_log.contains("application_name 'strangler-sync catalog (pid ")
            && b_log.contains(&format!("(pid {})", a.child.id())),
        "B names A's session: {b_log}"
    );
    assert!(!b_log.contains("streaming from"), "{b_log}");

    // `--no-wait` refuses while A runs.
    let mut c = Sync::start(&plan, &dir.path().join("c.log"), &["--no-wait"]);
    let status = c.wait_exit();
    let c_log = c.log();
    assert_eq!(status.code(), Some(2), "{c_log}");
    assert!(
        c_log.contains("service catalog is already being synced by another `strangler sync run`")
            && c_log.contains(&format!("(pid {})", a.child.id()))
            && c_log.contains("run without --no-wait"),
        "{c_log}"
    );
    assert_eq!(
        psql(
            &source,
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'strangler-sync-catalog'"
        ),
        "1",
        "only A streams"
    );

    // Rows arrive while A streams; then A dies mid-stream under load.
    wait_until(
        &target,
        "SELECT count(*) > 2000 FROM items",
        "A to apply rows of the load",
        &mut [&mut a, &mut b],
    );
    let a_walsender = psql(
        &source,
        "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'strangler_catalog'",
    );
    a.kill9();

    // B takes over: its own walsender on the slot, streaming.
    wait_for_log(&mut b, "took over service catalog");
    wait_until(
        &source,
        &format!(
            "SELECT active AND active_pid <> {a_walsender} FROM pg_replication_slots \
             WHERE slot_name = 'strangler_catalog'"
        ),
        "B to stream from the slot",
        &mut [&mut b],
    );
    wait_for_log(&mut b, "streaming from");
    let before = psql(&target, "SELECT count(*) FROM items");
    wait_until(
        &target,
        &format!("SELECT count(*) > {before} + 1000 FROM items"),
        "B to apply new rows",
        &mut [&mut b],
    );

    // D waits behind B. B's lock session dies (terminated on the monolith):
    // B stops streaming and waits for the lock again; D takes over.
    let mut d = Sync::start(&plan, &dir.path().join("d.log"), &[]);
    wait_for_log(&mut d, "another `strangler sync run` holds service catalog");
    wait_until(
        &source,
        WAITING,
        "D to wait on the lock",
        &mut [&mut b, &mut d],
    );
    let b_walsender = psql(
        &source,
        "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'strangler_catalog'",
    );
    assert_eq!(
        psql(
            &source,
            &format!(
                "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'strangler-sync catalog (pid {})'",
                b.child.id()
            )
        ),
        "t",
        "B's lock session terminated"
    );
    wait_for_log(
        &mut b,
        "the session holding service catalog's lock was lost",
    );
    wait_for_log(&mut d, "took over service catalog");
    wait_until(
        &source,
        &format!(
            "SELECT active AND active_pid <> {b_walsender} FROM pg_replication_slots \
             WHERE slot_name = 'strangler_catalog'"
        ),
        "D to stream from the slot",
        &mut [&mut b, &mut d],
    );
    wait_until(
        &source,
        &format!(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
             WHERE application_name = 'strangler-sync catalog (pid {})' \
             AND wait_event = 'advisory')",
            b.child.id()
        ),
        "B to wait for the lock again",
        &mut [&mut b, &mut d],
    );
    let before = psql(&target, "SELECT count(*) FROM items");
    wait_until(
        &target,
        &format!("SELECT count(*) > {before} + 1000 FROM items"),
        "D to apply new rows",
        &mut [&mut b, &mut d],
    );
    drop(load);

    // Caught up: everything the monolith has, exactly once.
    let lsn = psql(&source, "SELECT pg_current_wal_lsn()");
    wait_until(
        &target,
        &format!(
            "SELECT lsn >= '{lsn}'::pg_lsn FROM strangler.progress WHERE slot = 'strangler_catalog'"
        ),
        "D to catch up",
        &mut [&mut b, &mut d],
    );
    let fingerprint = "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || \
                       coalesce(bit_xor(hashtextextended(t::text, 0)), 0) FROM items t";
    let on_source = psql(&source, fingerprint);
    assert_eq!(
        on_source,
        psql(&target, fingerprint),
        "the service has every row"
    );
    let rows: u64 = on_source
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(rows > 4000, "the load wrote rows: {rows}");
    // The initial copy does not go through the apply (COPY fires the
    // trigger too, once per row): every row is in `applied` exactly once.
    assert_eq!(
        psql(
            &target,
            "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || \
             bool_and(a.v = i.v) FROM applied a JOIN items i USING (id)"
        ),
        format!("{rows} {rows} true"),
        "each row applied exactly once"
    );
    assert_eq!(
        psql(&target, "SELECT count(*) FROM applied"),
        rows.to_string()
    );
    eprintln!(
        "{rows} rows, each applied once\nB's log:\n{}\nD's log:\n{}",
        b.log(),
        d.log()
    );
    // SIGTERM stops a waiting sync at once, and the streaming one cleanly.
    assert_eq!(b.terminate(), Some(0), "SIGTERM stops the waiting B");
    assert_eq!(d.terminate(), Some(0), "SIGTERM stops D cleanly");
}
