//! Plain (non-replication) connections to the monolith's and the
//! services' databases, with a connect timeout and errors that name the
//! database without its password, and the output settings every
//! connection of the sync pins (the replication connection too).

use tokio_postgres::Client;

use crate::error::{Context as _, Error};

/// How long a connection attempt may take before it counts as failed, when
/// the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The session settings every connection the sync opens pins, on both
/// sides, whatever the server, database or role sets: values travel as
/// text (pgoutput, text COPY, the apply's `unnest($n::text[])`, verify's
/// row hashes), and a monolith with `DateStyle = 'SQL, DMY'`,
/// `IntervalStyle = sql_standard` or `extra_float_digits = 0` would
/// otherwise send dates, intervals and floats that the service reads back
/// differently. PostgreSQL's own walreceiver pins the same three.
const PINNED_SETTINGS: [(&str, &str); 3] = [
    ("datestyle", "ISO"),
    ("intervalstyle", "postgres"),
    ("extra_float_digits", "3"),
];

/// The startup `options` value that pins [`PINNED_SETTINGS`], after the
/// URL's own `options` (a later `-c` wins).
pub(crate) fn pinned_options(url_options: Option<&str>) -> String {
    let pinned: Vec<String> = PINNED_SETTINGS
        .iter()
        .map(|(name, value)| format!("-c {name}={value}"))
        .collect();
    match url_options.map(str::trim) {
        Some(own) if !own.is_empty() => format!("{own} {}", pinned.join(" ")),
        _ => pinned.join(" "),
    }
}

/// The `application_name` of every session strangler opens, or its
/// prefix: what tells strangler's own sessions from the application's in
/// `pg_stat_activity` (the decommission watch leaves them out).
pub(crate) const SESSION_NAME: &str = "strangler";

/// Connects a plain (non-replication) client with the pinned output
/// settings, named [`SESSION_NAME`], and drives its connection.
pub async fn connect(url: &str, what: &str) -> Result<Client, Error> {
    connect_watched(url, what, None)
        .await
        .map(|(client, _)| client)
}

/// [`connect`], naming the session `application_name` (which starts
/// with [`SESSION_NAME`]) when given, and
/// with a receiver that completes (with an error, its sender dropped) when
/// the connection has ended: the service lock must know at once that its
/// session, and so its lock, is gone.
pub(crate) async fn connect_watched(
    url: &str,
    what: &str,
    application_name: Option<&str>,
) -> Result<(Client, tokio::sync::oneshot::Receiver<()>), Error> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e: tokio_postgres::Error| Error::Url {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let options = pinned_options(config.get_options());
    config.options(&options);
    // strangler's own name, over one the URL may carry: the sessions
    // must be told apart from the application's.
    config.application_name(application_name.unwrap_or(SESSION_NAME));
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .ctx(|| format!("connecting to {what} at {}", describe(&config)))?;
    let (ended_tx, ended) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection closed: {e}");
        }
        drop(ended_tx);
    });
    Ok((client, ended))
}

/// Where a configuration points, without its password: `host:port/db`.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_owned(),
        |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}
