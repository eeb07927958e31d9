//! A replication stream being read: `START_REPLICATION` on a
//! [`ReplConnection`], a reader task that decodes pgoutput into [`Item`]s,
//! and a feedback task that reports as flushed only what the target has
//! committed. The main stream and a joining table's catch-up both read one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pg_walstream::{LogicalReplicationMessage, LogicalReplicationParser};
use tokio::sync::{Notify, mpsc, watch};

use crate::error::Error;
use crate::lsn::Lsn;
use crate::metrics::Metrics;
use crate::repl::{ReplConnection, ServerFrame};

/// One decoded frame of a replication stream.
pub(crate) enum Item {
    /// A pgoutput message.
    Message(Box<LogicalReplicationMessage>),
    /// A keepalive carrying the server's position.
    Keepalive(Lsn),
}

/// A replication stream being read: decoded messages arrive on `rx`; a
/// reader task decodes, a feedback task sends standby status every
/// `interval` (and at once when the server asks), reporting as flushed only
/// `metrics.applied_lsn`.
pub(crate) struct Stream {
    /// Decoded messages in stream order.
    pub(crate) rx: mpsc::Receiver<Item>,
    reader: tokio::task::JoinHandle<Result<(), Error>>,
    feedback: tokio::task::JoinHandle<Result<(), Error>>,
    stop: watch::Sender<bool>,
}

impl Stream {
    /// Runs `START_REPLICATION` on `conn` and starts the reader and
    /// feedback tasks.
    pub(crate) async fn start(
        conn: ReplConnection,
        slot: &str,
        publication: &str,
        start: Lsn,
        metrics: &Arc<Metrics>,
        interval: Duration,
    ) -> Result<Stream, Error> {
        let (mut reader, mut writer) = conn.start_replication(slot, publication, start).await?;
        metrics.received_lsn.fetch_max(start.0, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Item>(8192);
        let reply = Arc::new(Notify::new());
        let reader_task = {
            let metrics = Arc::clone(metrics);
            let reply = Arc::clone(&reply);
            tokio::spawn(async move {
                let mut parser = LogicalReplicationParser::with_protocol_version(1);
                loop {
                    let item = match reader.next().await? {
                        ServerFrame::XLogData { wal_end, data } => {
                            metrics.received_lsn.fetch_max(wal_end.0, Ordering::Relaxed);
                            let parsed = parser.parse_wal_message_bytes(data).map_err(|e| {
                                Error::Replication {
                                    message: format!("decoding pgoutput: {e}"),
                                    code: Some("XX000".to_owned()),
                                }
                            })?;
                            Item::Message(Box::new(parsed.message))
                        }
                        ServerFrame::Keepalive {
                            wal_end,
                            reply_requested,
                        } => {
                            metrics.received_lsn.fetch_max(wal_end.0, Ordering::Relaxed);
                            if reply_requested {
                                reply.notify_one();
                            }
                            Item::Keepalive(wal_end)
                        }
                        ServerFrame::End => {
                            return Err(Error::Replication {
                                message: "the monolith ended the replication stream".to_owned(),
                                code: None,
                            });
                        }
                    };
                    if tx.send(item).await.is_err() {
                        return Ok::<(), Error>(());
                    }
                }
            })
        };
        let (stop, mut stop_rx) = watch::channel(false);
        let feedback = {
            let metrics = Arc::clone(metrics);
            tokio::spawn(async move {
                loop {
                    let stop = tokio::select! {
                        () = tokio::time::sleep(interval) => false,
                        () = reply.notified() => false,
                        _ = stop_rx.changed() => true,
                    };
                    let seen = Lsn(metrics.received_lsn.load(Ordering::Relaxed));
                    let durable = Lsn(metrics.applied_lsn.load(Ordering::Acquire));
                    writer.send_status(seen.max(durable), durable).await?;
                    if stop {
                        return writer.finish().await;
                    }
                }
            })
        };
        Ok(Stream {
            rx,
            reader: reader_task,
            feedback,
            stop,
        })
    }

    /// Sends a last standby status and ends the stream. Returns the
    /// feedback task's result and the reader's error, if it failed.
    pub(crate) async fn finish(self) -> (Result<(), Error>, Option<Error>) {
        let _ = self.stop.send(true);
        drop(self.rx);
        let feedback = match self.feedback.await {
            Ok(r) => r,
            Err(e) => Err(Error::Other(format!("feedback task failed: {e}"))),
        };
        self.reader.abort();
        let reader = match self.reader.await {
            Ok(Err(e)) => Some(e),
            _ => None,
        };
        (feedback, reader)
    }
}
