//! Throwaway `PostgreSQL` clusters for strangler's tests.
//!
//! [`PgCluster::start`] runs `initdb` and `postgres` from the machine's
//! `PostgreSQL` installation (through [`pgtemp`]) in a fresh temporary
//! directory, configured for logical replication, and waits until it accepts
//! connections. Dropping the [`PgCluster`] stops the server and deletes the
//! directory. Every test gets its own cluster on its own port, so tests (and
//! test binaries) run in parallel without sharing state.
//!
//! ```
//! use strangler_testkit::PgCluster;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // In a `#[tokio::test] async fn`:
//! let cluster = PgCluster::start().await.expect("start PostgreSQL");
//! cluster
//!     .run_script("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
//!     .await
//!     .expect("create table");
//!
//! let client = cluster.connect().await.expect("connect");
//! let row = client.query_one("SELECT count(*) FROM t", &[]).await.expect("count");
//! assert_eq!(row.get::<_, i64>(0), 2);
//!
//! let rows = cluster.query_text("SHOW wal_level").await.expect("show");
//! assert_eq!(rows, vec![vec![Some("logical".to_owned())]]);
//!
//! // Hand `cluster.connection_uri()` to the code under test or to `psql`.
//! assert!(cluster.connection_uri().starts_with("postgres://postgres:"));
//! # }
//! ```
//!
//! Use [`ClusterConfig`] for another database name, extra server parameters
//! or an explicit directory of server binaries:
//!
//! ```no_run
//! # async fn example() -> Result<(), strangler_testkit::HarnessError> {
//! use strangler_testkit::ClusterConfig;
//!
//! let cluster = ClusterConfig::new()
//!     .database("shop")
//!     .param("max_connections", "50")
//!     .start()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Server binaries, root and sudo
//!
//! The server binaries are looked up in [`ClusterConfig::bin_dir`] if set,
//! else in the directory named by the `STRANGLER_PG_BINDIR` environment
//! variable, else in `pg_config --bindir`, the newest
//! `/usr/lib/postgresql/<version>/bin` and `$PATH`. If they are missing,
//! starting fails with an error that says what to install: tests never skip.
//!
//! `PostgreSQL` refuses to run as root, so when the tests run as root pgtemp runs
//! `initdb` and `postgres` through `sudo -u postgres` (and gives the data
//! directory to that user); that needs `sudo` and the `postgres` system user,
//! which the server package creates.
//!
//! # Server settings
//!
//! See [`ClusterConfig`]: logical replication is on, and durability is off
//! (`fsync`, `full_page_writes`), which only matters if the machine crashes —
//! never for a throwaway cluster. `synchronous_commit` stays on (unlike
//! pgtemp's default) so that a commit is visible to logical decoding at once.

mod bindir;
mod error;

use std::any::Any;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pgtemp::{PgTempDB, PgTempDBBuilder};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

pub use error::HarnessError;
/// The client library the helpers return; use this re-export to be sure to
/// have the same version.
pub use tokio_postgres;

/// Environment variable naming the directory that holds `initdb` and
/// `postgres`, when they are not where the harness looks by default.
pub const BINDIR_ENV: &str = "STRANGLER_PG_BINDIR";

/// The cluster's superuser (created by `initdb`).
const SUPERUSER: &str = "postgres";
/// Its password. Authentication is `trust` anyway; the password is there so
/// that the connection URI is complete for clients that insist on one.
const PASSWORD: &str = "password";
/// The database `initdb` creates, used for administration.
const ADMIN_DATABASE: &str = "postgres";

/// How often a server that exits during startup is replaced by a fresh one:
/// pgtemp picks a free port and the server binds it later, so another process
/// can take it in between.
const START_ATTEMPTS: u32 = 3;
/// The pause between connection attempts while the server starts.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How many connection attempts between checks that the server still runs.
const ALIVE_CHECK_EVERY: u32 = 10;

/// Server settings of every cluster, before [`ClusterConfig::param`]s.
const SERVER_PARAMS: &[(&str, &str)] = &[
    // What strangler's CDC needs.
    ("wal_level", "logical"),
    ("max_replication_slots", "16"),
    ("max_wal_senders", "16"),
    // Only the loopback address the connection URI uses (no IPv6 surprises).
    ("listen_addresses", "127.0.0.1"),
    // The server log goes to files under the data directory: pgtemp pipes the
    // server's stderr without reading it, so a chatty server would block on a
    // full pipe; and the files can be read through `PgCluster::server_log`.
    ("logging_collector", "on"),
    // Speed: no durability on a throwaway cluster (pgtemp sets these too).
    ("fsync", "off"),
    ("full_page_writes", "off"),
    // pgtemp sets `synchronous_commit = off`; put it back. Logical decoding
    // and walsenders only see WAL once it is flushed, so with it off a
    // committed change reaches a slot up to a few hundred milliseconds later
    // (whenever the WAL writer wakes up): CDC tests that read a slot right
    // after a commit would be flaky. With `fsync = off` a synchronous commit
    // costs a write(2), not a disk flush.
    ("synchronous_commit", "on"),
    // pgtemp turns autovacuum off as well; tests that need statistics ANALYZE.
    ("autovacuum", "off"),
];

/// Arguments of `initdb`: trust authentication (which includes replication
/// connections over the local socket and 127.0.0.1), and a UTF-8 database
/// with the C locale so sort orders do not depend on the machine.
const INITDB_ARGS: &[(&str, &str)] = &[
    ("--auth", "trust"),
    ("--encoding", "UTF8"),
    ("--locale", "C"),
];

/// How to start a cluster: database name, extra server parameters, where the
/// server binaries are. [`ClusterConfig::default`] is what [`PgCluster::start`]
/// uses.
///
/// Every cluster runs with `wal_level = logical`, `max_replication_slots = 16`
/// and `max_wal_senders = 16`, listens on 127.0.0.1 only, logs to files in its
/// data directory, and trades durability for speed with `fsync = off` and
/// `full_page_writes = off` (data survives a server restart or crash, not a
/// machine crash; no test relies on the latter). `synchronous_commit` is on:
/// logical decoding only sees flushed WAL, so with it off a commit would
/// reach replication slots only when the WAL writer next runs (with
/// `fsync = off` it costs no disk flush). `autovacuum` is off. `initdb` uses
/// trust authentication (also for replication connections), UTF-8 and the C
/// locale. [`ClusterConfig::param`] overrides any of these.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    database: String,
    bin_dir: Option<PathBuf>,
    params: Vec<(String, String)>,
    startup_timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            database: ADMIN_DATABASE.to_owned(),
            bin_dir: None,
            params: Vec::new(),
            startup_timeout: Duration::from_secs(60),
        }
    }
}

impl ClusterConfig {
    /// The default configuration (same as [`ClusterConfig::default`]).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The database that [`PgCluster::connection_uri`] and the helpers use;
    /// created at startup unless it is `postgres` (the default), which always
    /// exists.
    #[must_use]
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.database = name.into();
        self
    }

    /// The directory holding `initdb` and `postgres`, instead of looking for
    /// it (see the crate documentation). Starting fails if they are not there.
    #[must_use]
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    /// A server parameter (as in `postgresql.conf`), overriding the harness's
    /// value if it sets one.
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// How long to wait for the server to accept connections (default: 60
    /// seconds, generous because many test binaries may start clusters at
    /// once on a small machine).
    #[must_use]
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts a cluster with this configuration and waits until it accepts
    /// connections.
    pub async fn start(self) -> Result<PgCluster, HarnessError> {
        let explicit = self.bin_dir.clone();
        let bin_dir = blocking(move || {
            let bin_dir = bindir::find(explicit.as_deref())?;
            bindir::check_root_prerequisites()?;
            Ok(bin_dir)
        })
        .await?;

        let mut attempt = 1;
        let db = loop {
            let builder = self.builder(&bin_dir);
            let db = blocking({
                let bin_dir = bin_dir.clone();
                // pgtemp reports every failure by panicking.
                move || {
                    std::panic::catch_unwind(|| builder.start()).map_err(|panic| {
                        HarnessError::StartFailed {
                            bin_dir,
                            message: panic_message(panic.as_ref()),
                        }
                    })
                }
            })
            .await?;
            match wait_until_ready(&db, self.startup_timeout).await {
                Startup::Ready => break db,
                Startup::Exited if attempt < START_ATTEMPTS => attempt += 1,
                Startup::Exited => {
                    return Err(HarnessError::ServerExited {
                        port: db.db_port(),
                        attempts: attempt,
                        log: log_or_note(read_server_log(&db.data_dir())),
                    });
                }
                Startup::TimedOut => {
                    return Err(HarnessError::StartupTimeout {
                        port: db.db_port(),
                        timeout: self.startup_timeout,
                        log: log_or_note(read_server_log(&db.data_dir())),
                    });
                }
            }
        };

        let cluster = PgCluster {
            connection_uri: connection_uri(db.db_port(), &self.database),
            db,
            bin_dir,
            database: self.database,
        };
        if cluster.database != ADMIN_DATABASE {
            let sql = format!("CREATE DATABASE {}", quote_ident(&cluster.database));
            let client = connect(&cluster.uri_for(ADMIN_DATABASE)).await?;
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| HarnessError::sql(&sql, e))?;
        }
        Ok(cluster)
    }

    /// [`ClusterConfig::start`] for code without an async runtime (a plain
    /// `#[test]`). Runs the startup on its own thread and runtime, so it also
    /// works, blocking, inside one.
    pub fn start_blocking(self) -> Result<PgCluster, HarnessError> {
        let thread = std::thread::Builder::new()
            .name("pg-cluster-start".to_owned())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| HarnessError::Io {
                        context: "building a Tokio runtime to start PostgreSQL".to_owned(),
                        source,
                    })?
                    .block_on(self.start())
            })
            .map_err(|source| HarnessError::Io {
                context: "spawning a thread to start PostgreSQL".to_owned(),
                source,
            })?;
        thread.join().map_err(|panic| HarnessError::Io {
            context: "starting PostgreSQL".to_owned(),
            source: std::io::Error::other(panic_message(panic.as_ref())),
        })?
    }

    fn builder(&self, bin_dir: &Path) -> PgTempDBBuilder {
        let mut builder = PgTempDBBuilder::new()
            .with_bin_path(bin_dir)
            .with_username(SUPERUSER)
            .with_password(PASSWORD)
            // pgtemp runs `createdb` (through TCP, 1 s of retries) for any
            // other name; the harness creates the database itself instead.
            .with_dbname(ADMIN_DATABASE);
        for (arg, value) in INITDB_ARGS {
            builder = builder.with_initdb_arg(arg, value);
        }
        let params = SERVER_PARAMS
            .iter()
            .map(|&(name, value)| (name, value))
            .chain(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        for (name, value) in params {
            builder = builder.with_config_param(name, value);
        }
        builder
    }
}

/// A running throwaway `PostgreSQL` cluster. Dropping it stops the server (fast
/// shutdown: open connections are cut) and deletes its data directory; the
/// drop blocks for the few milliseconds that takes.
pub struct PgCluster {
    db: PgTempDB,
    bin_dir: PathBuf,
    database: String,
    connection_uri: String,
}

impl PgCluster {
    /// Starts a cluster with the default [`ClusterConfig`].
    pub async fn start() -> Result<Self, HarnessError> {
        ClusterConfig::default().start().await
    }

    /// Starts a cluster with the default [`ClusterConfig`], blocking; see
    /// [`ClusterConfig::start_blocking`].
    pub fn start_blocking() -> Result<Self, HarnessError> {
        ClusterConfig::default().start_blocking()
    }

    /// The URL of the configured database, as
    /// `postgres://postgres:password@127.0.0.1:<port>/<database>`; usable by
    /// `tokio_postgres::connect` and `psql`.
    #[must_use]
    pub fn connection_uri(&self) -> &str {
        &self.connection_uri
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.db.db_port()
    }

    /// The configured database's name.
    #[must_use]
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The directory of the server binaries in use (`psql`, `pg_dump` and the
    /// other client programs of the same version are usually there too).
    #[must_use]
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The server's data directory (deleted on drop).
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.db.data_dir()
    }

    /// The server log so far (files under the data directory's `log/`), for
    /// debugging a failing test.
    pub fn server_log(&self) -> Result<String, HarnessError> {
        read_server_log(&self.data_dir()).map_err(|source| HarnessError::Io {
            context: format!("reading the server log in {}", self.data_dir().display()),
            source,
        })
    }

    /// Opens a connection to the configured database. The connection task is
    /// spawned on the current Tokio runtime and ends when the client is
    /// dropped.
    pub async fn connect(&self) -> Result<Client, HarnessError> {
        connect(&self.connection_uri).await
    }

    /// Runs a script of one or more `;`-separated statements, like
    /// `psql -c`, on a new connection. Stops at the first error.
    pub async fn run_script(&self, sql: &str) -> Result<(), HarnessError> {
        self.connect()
            .await?
            .batch_execute(sql)
            .await
            .map_err(|e| HarnessError::sql(sql, e))
    }

    /// Runs one or more statements with the simple query protocol on a new
    /// connection and returns the rows they produced, every value as text
    /// (`None` for NULL), like `psql` shows them.
    pub async fn query_text(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, HarnessError> {
        let messages = self
            .connect()
            .await?
            .simple_query(sql)
            .await
            .map_err(|e| HarnessError::sql(sql, e))?;
        Ok(messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    fn uri_for(&self, database: &str) -> String {
        connection_uri(self.port(), database)
    }
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster")
            .field("connection_uri", &self.connection_uri)
            .field("bin_dir", &self.bin_dir)
            .field("data_dir", &self.data_dir())
            .finish_non_exhaustive()
    }
}

enum Startup {
    Ready,
    Exited,
    TimedOut,
}

/// Polls until the server accepts a connection, exits, or the timeout passes.
async fn wait_until_ready(db: &PgTempDB, timeout: Duration) -> Startup {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(db.db_port())
        .user(SUPERUSER)
        .password(PASSWORD)
        .dbname(ADMIN_DATABASE)
        .connect_timeout(Duration::from_secs(5));
    let marker = server_marker(&db.data_dir());
    let deadline = Instant::now() + timeout;
    let mut attempts = 0_u32;
    loop {
        // The handshake completes only once the server is ready for queries.
        if config.connect(NoTls).await.is_ok() {
            return Startup::Ready;
        }
        attempts += 1;
        if attempts.is_multiple_of(ALIVE_CHECK_EVERY) && server_process_gone(&marker) {
            return Startup::Exited;
        }
        if Instant::now() >= deadline {
            return Startup::TimedOut;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A piece of the server's command line unique to this cluster (pgtemp passes
/// the data directory as the socket directory).
fn server_marker(data_dir: &Path) -> Vec<u8> {
    format!("unix_socket_directories={}", data_dir.display()).into_bytes()
}

/// Whether no process (the `sudo` pgtemp started as root, or the server) has
/// this cluster's command line any more: pgtemp keeps the server's process
/// handle to itself, so `/proc` is the way to notice that it died. False when
/// `/proc` cannot tell (not Linux): the startup timeout still applies.
fn server_process_gone(marker: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    let mut any_process = false;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        any_process = true;
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && cmdline.windows(marker.len()).any(|w| w == marker)
        {
            return false;
        }
    }
    any_process
}

fn read_server_log(data_dir: &Path) -> std::io::Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut log = String::new();
    for file in files {
        log.push_str(&String::from_utf8_lossy(&std::fs::read(file)?));
    }
    Ok(log)
}

fn log_or_note(log: std::io::Result<String>) -> String {
    match log {
        Ok(log) if !log.trim().is_empty() => log,
        Ok(_) | Err(_) => "(none: the server failed before its logging collector started, \
                           e.g. on a bad server parameter or a port already in use)"
            .to_owned(),
    }
}

async fn connect(uri: &str) -> Result<Client, HarnessError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| HarnessError::NoRuntime)?;
    let (client, connection) = tokio_postgres::connect(uri, NoTls)
        .await
        .map_err(|source| HarnessError::Connect {
            uri: uri.to_owned(),
            source,
        })?;
    // Errors surface through the client's calls.
    runtime.spawn(async move { drop(connection.await) });
    Ok(client)
}

fn connection_uri(port: u16, database: &str) -> String {
    format!(
        "postgres://{SUPERUSER}:{PASSWORD}@127.0.0.1:{port}/{}",
        percent_encode(database)
    )
}

/// Percent-encodes everything but URL-unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            // Writing to a `String` cannot fail.
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs blocking work (process spawning, pgtemp) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HarnessError> + Send + 'static,
) -> Result<T, HarnessError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| HarnessError::Io {
            context: "starting PostgreSQL".to_owned(),
            source: std::io::Error::other(if join.is_panic() {
                panic_message(join.into_panic().as_ref())
            } else {
                join.to_string()
            }),
        })?
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_encoded_and_quoted() {
        assert_eq!(
            connection_uri(5432, "my db/x"),
            "postgres://postgres:password@127.0.0.1:5432/my%20db%2Fx"
        );
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }
}
