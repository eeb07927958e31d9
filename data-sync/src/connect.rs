//! Plain (non-replication) connections to the monolith's and the
//! services' databases, with a connect timeout and errors that name the
//! database without its password.

use tokio_postgres::Client;

use crate::error::{Context as _, Error};

/// How long a connection attempt may take before it counts as failed, when
/// the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects a plain (non-replication) client and drives its connection.
pub async fn connect(url: &str, what: &str) -> Result<Client, Error> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e: tokio_postgres::Error| Error::Url {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .ctx(|| format!("connecting to {what} at {}", describe(&config)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection closed: {e}");
        }
    });
    Ok(client)
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
