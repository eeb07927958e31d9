//! At most one active sync per service: a PostgreSQL session-level
//! advisory lock on the monolith's database, held on a connection of its
//! own for as long as the service streams.
//!
//! The lock is the two-key form `pg_advisory_lock(int4, int4)`: the first
//! key is [`LOCK_NAMESPACE`], fixed, so strangler's locks are told apart
//! from the application's in `pg_locks` (`classid = 1398035015`), the
//! second the service name's FNV-1a 32-bit hash ([`service_key`]), a fixed
//! function of the name (never `RandomState`), so every `strangler sync
//! run`, on any machine and any version, asks for the same lock. Two
//! services whose names hash alike would wait on each other (about one
//! pair in four billion); they would never both stream one service.
//!
//! A second `strangler sync run` for the service finds the lock taken
//! (`pg_try_advisory_lock`), logs once who holds it (from `pg_locks` and
//! `pg_stat_activity`), and waits in `pg_advisory_lock`, visible in
//! `pg_stat_activity` as `wait_event = 'advisory'`; it takes over the moment
//! the holder's session ends (it stopped, was killed, or lost its
//! connection). With `--no-wait` it fails with [`Error::Locked`] instead.
//! The holder checks its lock session every few seconds; when the session
//! is gone, the lock is gone with it, and the service stops streaming.
//! The check is a query worth its round trip: the WAL the service's slot
//! retains, which becomes `strangler_sync_wal_retained_bytes`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio_postgres::Client;

use crate::connect::connect_watched;
use crate::error::{Context as _, Error};
use crate::metrics::Metrics;
use crate::run::stopped;
use crate::spec::SyncSpec;
use crate::status::SLOT_SQL;

/// The first key of every strangler sync lock: `"STRG"` in ASCII.
pub(crate) const LOCK_NAMESPACE: i32 = 0x5354_5247;

/// How often the holder checks that its lock session is alive (and samples
/// the WAL its slot retains).
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long a heartbeat may take before the session counts as lost.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);

/// The second key of the service's lock: FNV-1a (32 bits) of its name.
pub(crate) fn service_key(service: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in service.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// The service's lock, held by the session of `client`.
pub(crate) struct ServiceLock {
    client: Client,
    ended: oneshot::Receiver<()>,
}

impl ServiceLock {
    /// Takes the service's lock. When another session holds it: with
    /// `wait`, logs who holds it and waits until it is free (`None` if
    /// `shutdown` turns true meanwhile); without, returns
    /// [`Error::Locked`].
    pub(crate) async fn acquire(
        spec: &SyncSpec,
        wait: bool,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<ServiceLock>, Error> {
        let mut reached = false;
        let mut logged = false;
        loop {
            let tried = Self::try_acquire(spec, wait, &mut reached, &mut logged, shutdown).await;
            match tried {
                // The monolith was reached before: a session lost while
                // waiting is opened again, as the stream's would be.
                Err(e) if reached && e.is_transient() => {
                    tracing::warn!(service = %spec.service, "{e}; waiting for the lock again in 1 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = stopped(shutdown) => return Ok(None),
                    }
                }
                other => return other,
            }
        }
    }

    async fn try_acquire(
        spec: &SyncSpec,
        wait: bool,
        reached: &mut bool,
        logged: &mut bool,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<ServiceLock>, Error> {
        let name = format!(
            "strangler-sync {} (pid {})",
            spec.service,
            std::process::id()
        );
        let (client, mut ended) =
            connect_watched(&spec.source, "the monolith's database", Some(&name)).await?;
        *reached = true;
        let key = service_key(&spec.service);
        let taken: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_NAMESPACE, &key],
            )
            .await
            .ctx(|| format!("taking service {}'s lock", spec.service))?
            .get(0);
        if taken {
            return Ok(Some(ServiceLock { client, ended }));
        }
        let holder = holder(&client, key).await;
        if !wait {
            return Err(Error::Locked {
                service: spec.service.clone(),
                holder,
            });
        }
        if !*logged {
            *logged = true;
            tracing::warn!(
                service = %spec.service,
                "another `strangler sync run` holds service {} ({holder}); waiting until it \
                 stops, then taking over",
                spec.service
            );
        }
        let cancel = client.cancel_token();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&LOCK_NAMESPACE, &key];
        tokio::select! {
            row = client.query_one("SELECT pg_advisory_lock($1, $2)", &params) => {
                row.ctx(|| format!("waiting for service {}'s lock", spec.service))?;
            }
            _ = &mut ended => {
                return Err(Error::Replication {
                    message: format!(
                        "the connection waiting for service {}'s lock was lost",
                        spec.service
                    ),
                    code: Some("08006".to_owned()),
                });
            }
            () = stopped(shutdown) => {
                let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
                return Ok(None);
            }
        }
        tracing::info!(
            service = %spec.service,
            "took over service {}: the previous sync's lock was released",
            spec.service
        );
        Ok(Some(ServiceLock { client, ended }))
    }

    /// Completes when the lock's session is gone: its connection ended, or
    /// a heartbeat failed or took longer than 10 s. The heartbeat, at once
    /// and then every 2 s, reads the WAL `slot` retains on the monolith
    /// into `metrics.wal_retained_bytes` (0 while the slot does not exist
    /// or has no restart point).
    pub(crate) async fn lost(&mut self, slot: &str, metrics: &Metrics) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut self.ended => return,
                _ = tick.tick() => {
                    let beat = tokio::time::timeout(
                        HEARTBEAT_TIMEOUT,
                        self.client.query_opt(SLOT_SQL, &[&slot]),
                    )
                    .await;
                    let Ok(Ok(row)) = beat else {
                        return;
                    };
                    let retained = row
                        .and_then(|r| r.get::<_, Option<i64>>(1))
                        .unwrap_or(0)
                        .max(0);
                    metrics
                        .wal_retained_bytes
                        .store(retained as u64, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Who holds the lock `key`, for the log: the backend's pid, its
/// `application_name`, client address and start; a plain phrase when it
/// cannot be read (no privilege, or it was just released).
async fn holder(client: &Client, key: i32) -> String {
    let objid = u32::from_ne_bytes(key.to_ne_bytes());
    let namespace = u32::from_ne_bytes(LOCK_NAMESPACE.to_ne_bytes());
    let sql = format!(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), \
         coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '?') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
         AND l.classid = '{namespace}'::oid AND l.objid = '{objid}'::oid \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         LIMIT 1"
    );
    match client.query_opt(&sql, &[]).await {
        Ok(Some(row)) => format!(
            "monolith backend pid {}, application_name '{}', from {}, connected since {}",
            row.get::<_, i32>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, String>(3),
        ),
        _ => "its session could not be read from pg_locks".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_a_fixed_function_of_the_name() {
        // FNV-1a 32 of "" and "a", the published test vectors.
        assert_eq!(service_key("") as u32, 0x811c_9dc5);
        assert_eq!(service_key("a") as u32, 0xe40c_292c);
        assert_ne!(service_key("catalog"), service_key("reviews"));
        assert_eq!(LOCK_NAMESPACE, 1_398_035_015);
    }
}
