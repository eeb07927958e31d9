//! The one error type of the harness.

use std::path::PathBuf;
use std::time::Duration;

use crate::BINDIR_ENV;

/// Why a throwaway cluster could not be started or used.
///
/// The messages say what to install or where to look, so tests can simply
/// `.expect("...")` or `?` them and fail with an actionable message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// `initdb` and `postgres` were not found where they were looked for.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found in {searched}; \
         install them: apt-get install postgresql \
         (or set {BINDIR_ENV} to the directory that holds them)"
    )]
    BinariesNotFound {
        /// The places searched, for the message.
        searched: String,
    },

    /// Running as root, but `sudo` (which pgtemp uses to run the server as the
    /// `postgres` user) is not installed.
    #[error(
        "running as root, so pgtemp starts initdb and postgres through `sudo -u postgres`, \
         but `sudo` is not on PATH; install sudo: apt-get install sudo"
    )]
    SudoNotFound,

    /// Running as root, but there is no `postgres` system user to run the
    /// server as.
    #[error(
        "running as root, so pgtemp starts initdb and postgres as the `postgres` system user, \
         which does not exist; install the PostgreSQL server package, which creates it: \
         apt-get install postgresql"
    )]
    NoPostgresUser,

    /// pgtemp failed (it reports failures by panicking; the panic is caught
    /// and its message kept here), for example because `initdb` failed.
    #[error("starting PostgreSQL with the binaries in {} failed: {message}", bin_dir.display())]
    StartFailed {
        /// The server binaries used.
        bin_dir: PathBuf,
        /// pgtemp's message, usually with the failing command's output.
        message: String,
    },

    /// The server process exited before accepting connections, on every
    /// attempt (a port taken between pgtemp picking it and the server binding
    /// it is retried; a bad server parameter is not going to get better).
    #[error(
        "the PostgreSQL server exited during startup ({attempts} attempts, last on port {port}); \
         check extra server parameters; server log:\n{log}"
    )]
    ServerExited {
        /// The port of the last attempt.
        port: u16,
        /// How many servers were started.
        attempts: u32,
        /// The server log of the last attempt, if it got as far as writing one.
        log: String,
    },

    /// The server did not accept connections in time.
    #[error(
        "the PostgreSQL server on port {port} did not accept connections within {timeout:?}; \
         server log:\n{log}"
    )]
    StartupTimeout {
        /// The server's port.
        port: u16,
        /// The configured startup timeout.
        timeout: Duration,
        /// The server log so far.
        log: String,
    },

    /// Connecting to the cluster failed.
    #[error("connecting to {uri} failed: {}", chain(source))]
    Connect {
        /// The connection URI.
        uri: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A SQL statement or script failed.
    #[error("SQL failed: {}\n  in: {sql}", chain(source))]
    Sql {
        /// The statement or script (shortened if long).
        sql: String,
        /// The client's error, with the server's message if there is one.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A file or process operation of the harness failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// `connect` was called outside a Tokio runtime, so the connection task
    /// could not be spawned.
    #[error("PgCluster::connect must run inside a Tokio runtime (use #[tokio::test])")]
    NoRuntime,
}

impl HarnessError {
    pub(crate) fn sql(sql: &str, source: tokio_postgres::Error) -> Self {
        const MAX: usize = 300;
        let sql = match sql.char_indices().nth(MAX) {
            Some((end, _)) => format!("{}...", &sql[..end]),
            None => sql.to_owned(),
        };
        Self::Sql { sql, source }
    }
}

/// `tokio_postgres::Error`'s `Display` says only "db error" or "error
/// connecting to server"; the useful part (the server's message, the OS
/// error) is in its sources.
fn chain(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    if let Some(db) = error.as_db_error() {
        text = format!("{text}: {db} (SQLSTATE {})", db.code().code());
        return text;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
