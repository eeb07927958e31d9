//! The crate's error type: every failure says what went wrong and, where
//! there is one, the fix.

use std::fmt;

/// Everything that can go wrong in a sync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan or the service selection cannot be used (exit 2).
    #[error("{0}")]
    Plan(String),
    /// A database URL in the plan does not parse (exit 2).
    #[error("invalid database URL for {what}: {reason}")]
    Url {
        /// Which database: `monolith` or `service NAME`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Preflight checks failed; each problem carries its fix.
    #[error("preflight failed:\n{}", list(.0))]
    Preflight(Vec<Problem>),
    /// A statement failed on one of the databases.
    #[error("{context}: {}", pg_message(.source))]
    Postgres {
        /// What was being done.
        context: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The replication connection failed or the server sent something unexpected.
    #[error("replication connection: {message}")]
    Replication {
        /// What happened.
        message: String,
        /// The server's SQLSTATE, when it sent one.
        code: Option<String>,
    },
    /// A socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Applying a table's changes failed; the table goes to `error` and the
    /// stream restarts without it.
    #[error("table {table} stopped: {message}")]
    TableFailed {
        /// The table as the plan names it.
        table: String,
        /// Why.
        message: String,
    },
    /// `run` could not reach a database at start; it retries lost
    /// connections only once it has connected (exit 2).
    #[error(
        "service {service}: {reason}\n    fix: check that the database server is running and \
         reachable from here, and that the URL in the plan is right ([monolith] database for \
         the monolith, the [[service]] entry's database for the service); once `strangler sync \
         run` has connected, it retries lost connections with backoff"
    )]
    NotConnected {
        /// The service being synced.
        service: String,
        /// The connection error.
        reason: String,
    },
    /// Another `strangler sync run` holds the service, and `run` was told
    /// not to wait for it (`--no-wait`; exit 2).
    #[error(
        "service {service} is already being synced by another `strangler sync run` ({holder}); \
         only one may stream a service at a time\n    fix: stop that one first, or run without \
         --no-wait to wait for it and take over when it stops"
    )]
    Locked {
        /// The service.
        service: String,
        /// Who holds its lock, as `pg_locks` and `pg_stat_activity` tell.
        holder: String,
    },
    /// Verify found tables that differ (exit 1).
    #[error("{0}")]
    Mismatch(String),
    /// Any other failure, described.
    #[error("{0}")]
    Other(String),
}

/// One preflight problem and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n    fix: {}", self.message, self.fix)
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The server's message for a database error, the driver's text otherwise.
pub(crate) fn pg_message(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        }
    } else {
        {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

impl Error {
    /// Whether retrying later may help: lost connections, a slot still held
    /// by a dying walsender, a server shutting down.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io { .. } | Error::TableFailed { .. } => true,
            Error::Replication { code, .. } => code.as_deref().is_none_or(transient_code),
            Error::Postgres { source, .. } => {
                source.is_closed()
                    || std::error::Error::source(source)
                        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
                    || source.code().is_some_and(|c| transient_code(c.code()))
            }
            _ => false,
        }
    }
}

/// SQLSTATEs worth a retry: connection exceptions, operator intervention
/// (shutdown), and a slot still held by a walsender that has not noticed its
/// client died.
fn transient_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "55006"
}

/// Adds context to driver errors.
pub(crate) trait Context<T> {
    /// Wraps the error with what was being done.
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, tokio_postgres::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Postgres {
            context: context(),
            source,
        })
    }
}

impl<T> Context<T> for Result<T, std::io::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}

impl From<strangler_plan::PlanError> for Error {
    fn from(e: strangler_plan::PlanError) -> Self {
        Error::Plan(e.to_string())
    }
}
