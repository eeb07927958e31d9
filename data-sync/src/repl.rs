//! A replication connection (`replication=database`) spoken directly over
//! the wire protocol: tokio-postgres cannot open one.
//!
//! It does the startup and authentication (trust, password, MD5 and
//! SCRAM-SHA-256, through `postgres-protocol`), simple queries such as
//! `CREATE_REPLICATION_SLOT`, and `START_REPLICATION`, after which it splits
//! into a [`FrameReader`] (`XLogData` and keepalives) and a [`FeedbackWriter`]
//! (standby status updates). TLS is not supported yet.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Context as _, Error};
use crate::lsn::Lsn;

/// One backend message: its tag and body.
struct Frame {
    tag: u8,
    body: Bytes,
}

fn protocol(message: impl Into<String>) -> Error {
    Error::Replication {
        message: message.into(),
        code: None,
    }
}

/// Turns an `ErrorResponse` body into an error with the SQLSTATE.
fn server_error(body: &[u8]) -> Error {
    let mut message = String::new();
    let mut code = None;
    let mut detail = None;
    for field in body.split(|b| *b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match kind {
            b'M' => message = value,
            b'C' => code = Some(value),
            b'D' => detail = Some(value),
            _ => {}
        }
    }
    if let Some(detail) = detail {
        message = format!("{message} ({detail})");
    }
    Error::Replication { message, code }
}

/// Reads whole messages from a socket half.
struct Reader<R> {
    read: R,
    buf: BytesMut,
}

impl<R: tokio::io::AsyncRead + Unpin> Reader<R> {
    async fn frame(&mut self) -> Result<Frame, Error> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if len < 4 {
                    return Err(protocol("invalid message length"));
                }
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    let mut whole = self.buf.split_to(len + 1);
                    whole.advance(5);
                    return Ok(Frame {
                        tag,
                        body: whole.freeze(),
                    });
                }
                self.buf.reserve(len + 1 - self.buf.len());
            }
            if self.buf.capacity() - self.buf.len() < 8192 {
                self.buf.reserve(64 * 1024);
            }
            let n = self
                .read
                .read_buf(&mut self.buf)
                .await
                .ctx(|| "reading from the replication connection".to_owned())?;
            if n == 0 {
                return Err(Error::Io {
                    context: "reading from the replication connection".to_owned(),
                    source: std::io::ErrorKind::UnexpectedEof.into(),
                });
            }
        }
    }
}

/// A replication connection before streaming starts.
pub struct ReplConnection {
    reader: Reader<ReadHalf>,
    write: WriteHalf,
}

/// The connection's read side: TCP or a Unix socket.
type ReadHalf = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// The connection's write side: TCP or a Unix socket.
type WriteHalf = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// The result of `CREATE_REPLICATION_SLOT … EXPORT_SNAPSHOT`.
#[derive(Debug, Clone)]
pub struct CreatedSlot {
    /// Where the slot's stream starts; the snapshot shows everything before it.
    pub consistent_point: Lsn,
    /// The exported snapshot, usable with `SET TRANSACTION SNAPSHOT` while
    /// this connection runs no other command.
    pub snapshot: String,
}

/// Opens the socket to the first host of `config`: a Unix socket when the
/// host is a directory (`host=/var/run/postgresql`), else TCP.
async fn open(config: &tokio_postgres::Config, port: u16) -> Result<(ReadHalf, WriteHalf), Error> {
    let host = match config.get_hosts().first() {
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(dir)) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let stream = tokio::net::UnixStream::connect(&path)
                .await
                .ctx(|| format!("connecting to {} for replication", path.display()))?;
            let (read, write) = stream.into_split();
            return Ok((Box::new(read), Box::new(write)));
        }
        Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
        None => "localhost".to_owned(),
    };
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .ctx(|| format!("connecting to {host}:{port} for replication"))?;
    stream
        .set_nodelay(true)
        .ctx(|| "setting TCP_NODELAY".to_owned())?;
    let (read, write) = stream.into_split();
    Ok((Box::new(read), Box::new(write)))
}

impl ReplConnection {
    /// Connects with `replication=database` to the database in `url`, with
    /// the output settings pinned (`options`, as PostgreSQL's walreceiver
    /// sends them): pgoutput formats values with the walsender's settings.
    pub async fn connect(url: &str, application_name: &str) -> Result<ReplConnection, Error> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| Error::Url {
            what: "replication".to_owned(),
            reason: e.to_string(),
        })?;
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_owned();
        let dbname = config.get_dbname().unwrap_or(&user).to_owned();
        let password = config.get_password().map(<[u8]>::to_vec);
        let options = crate::connect::pinned_options(config.get_options());
        let (read, write) = open(&config, port).await?;
        let mut conn = ReplConnection {
            reader: Reader {
                read,
                buf: BytesMut::with_capacity(64 * 1024),
            },
            write,
        };
        let mut buf = BytesMut::new();
        frontend::startup_message(
            [
                ("user", user.as_str()),
                ("database", dbname.as_str()),
                ("replication", "database"),
                ("application_name", application_name),
                ("client_encoding", "UTF8"),
                ("options", options.as_str()),
            ],
            &mut buf,
        )
        .ctx(|| "encoding the startup message".to_owned())?;
        conn.send(&buf).await?;
        conn.authenticate(user.as_bytes(), password.as_deref())
            .await?;
        Ok(conn)
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.write
            .write_all(bytes)
            .await
            .ctx(|| "writing to the replication connection".to_owned())
    }

    async fn authenticate(&mut self, user: &[u8], password: Option<&[u8]>) -> Result<(), Error> {
        let need_password = || {
            protocol(
                "the server asks for a password but the URL has none; add it to the URL \
                 (postgres://user:password@host/db)",
            )
        };
        let mut scram: Option<ScramSha256> = None;
        loop {
            let frame = self.reader.frame().await?;
            match frame.tag {
                b'R' => {
                    let mut body = frame.body.clone();
                    if body.len() < 4 {
                        return Err(protocol("short authentication message"));
                    }
                    let code = body.get_i32();
                    let mut out = BytesMut::new();
                    match code {
                        0 => continue,
                        3 => {
                            let pw = password.ok_or_else(need_password)?;
                            frontend::password_message(pw, &mut out)
                                .ctx(|| "encoding the password".to_owned())?;
                        }
                        5 => {
                            let pw = password.ok_or_else(need_password)?;
                            if body.len() < 4 {
                                return Err(protocol("short MD5 salt"));
                            }
                            let salt = [body[0], body[1], body[2], body[3]];
                            let hash = md5_hash(user, pw, salt);
                            frontend::password_message(hash.as_bytes(), &mut out)
                                .ctx(|| "encoding the password".to_owned())?;
                        }
                        10 => {
                            let pw = password.ok_or_else(need_password)?;
                            let offers_scram = body
                                .split(|b| *b == 0)
                                .any(|m| m == SCRAM_SHA_256.as_bytes());
                            if !offers_scram {
                                return Err(protocol(
                                    "the server offers no SASL mechanism strangler supports \
                                     (SCRAM-SHA-256)",
                                ));
                            }
                            let s = ScramSha256::new(pw, ChannelBinding::unsupported());
                            frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut out)
                                .ctx(|| "encoding SASL".to_owned())?;
                            scram = Some(s);
                        }
                        11 => {
                            let s = scram
                                .as_mut()
                                .ok_or_else(|| protocol("SASL continue without a start"))?;
                            s.update(&body).ctx(|| "SCRAM authentication".to_owned())?;
                            frontend::sasl_response(s.message(), &mut out)
                                .ctx(|| "encoding SASL".to_owned())?;
                        }
                        12 => {
                            let mut s = scram
                                .take()
                                .ok_or_else(|| protocol("SASL final without a start"))?;
                            s.finish(&body).ctx(|| "SCRAM authentication".to_owned())?;
                            continue;
                        }
                        other => {
                            return Err(protocol(format!(
                                "unsupported authentication method {other}; use trust, \
                                 password, md5 or scram-sha-256 for replication connections"
                            )));
                        }
                    }
                    self.send(&out).await?;
                }
                b'E' => return Err(server_error(&frame.body)),
                b'Z' => return Ok(()),
                _ => {}
            }
        }
    }

    /// Runs one command with the simple query protocol and returns its rows
    /// as text.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, Error> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).ctx(|| "encoding a query".to_owned())?;
        self.send(&out).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let frame = self.reader.frame().await?;
            match frame.tag {
                b'D' => rows.push(data_row(frame.body)?),
                b'E' => error = Some(server_error(&frame.body)),
                b'Z' => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// Creates a logical slot with the pgoutput plugin and exports its
    /// snapshot. A temporary slot goes away with this connection.
    pub async fn create_slot(&mut self, slot: &str, temporary: bool) -> Result<CreatedSlot, Error> {
        let sql = format!(
            "CREATE_REPLICATION_SLOT {}{} LOGICAL pgoutput EXPORT_SNAPSHOT",
            crate::spec::quote_ident(slot),
            if temporary { " TEMPORARY" } else { "" }
        );
        let rows = self.simple_query(&sql).await?;
        let row = rows
            .first()
            .ok_or_else(|| protocol("CREATE_REPLICATION_SLOT returned no row"))?;
        let point = row
            .get(1)
            .and_then(Option::as_deref)
            .ok_or_else(|| protocol("CREATE_REPLICATION_SLOT returned no consistent point"))?;
        let snapshot = row
            .get(2)
            .and_then(Option::clone)
            .ok_or_else(|| protocol("CREATE_REPLICATION_SLOT exported no snapshot"))?;
        Ok(CreatedSlot {
            consistent_point: point.parse().map_err(protocol)?,
            snapshot,
        })
    }

    /// Starts streaming pgoutput (protocol version 1) from `start` and splits
    /// the connection into its reading and writing halves.
    pub async fn start_replication(
        mut self,
        slot: &str,
        publication: &str,
        start: Lsn,
    ) -> Result<(FrameReader, FeedbackWriter), Error> {
        let sql = format!(
            "START_REPLICATION SLOT {} LOGICAL {start} (\"proto_version\" '1', \"messages\" 'true', \
             \"publication_names\" {})",
            crate::spec::quote_ident(slot),
            crate::spec::quote_literal(&crate::spec::quote_ident(publication)),
        );
        let mut out = BytesMut::new();
        frontend::query(&sql, &mut out).ctx(|| "encoding START_REPLICATION".to_owned())?;
        self.send(&out).await?;
        loop {
            let frame = self.reader.frame().await?;
            match frame.tag {
                b'W' => break,
                b'E' => return Err(server_error(&frame.body)),
                b'N' | b'S' => {}
                other => {
                    return Err(protocol(format!(
                        "unexpected message {:?} after START_REPLICATION",
                        other as char
                    )));
                }
            }
        }
        Ok((
            FrameReader {
                reader: self.reader,
            },
            FeedbackWriter { write: self.write },
        ))
    }
}

fn data_row(mut body: Bytes) -> Result<Vec<Option<String>>, Error> {
    if body.len() < 2 {
        return Err(protocol("short data row"));
    }
    let count = body.get_u16() as usize;
    let mut row = Vec::with_capacity(count);
    for _ in 0..count {
        if body.len() < 4 {
            return Err(protocol("short data row"));
        }
        let len = body.get_i32();
        if len < 0 {
            row.push(None);
        } else {
            let len = len as usize;
            if body.len() < len {
                return Err(protocol("short data row"));
            }
            let value = body.split_to(len);
            row.push(Some(String::from_utf8_lossy(&value).into_owned()));
        }
    }
    Ok(row)
}

/// What the server sends while streaming.
#[derive(Debug)]
pub enum ServerFrame {
    /// A pgoutput message (`XLogData`).
    XLogData {
        /// The WAL position just past this message.
        wal_end: Lsn,
        /// The pgoutput message.
        data: Bytes,
    },
    /// A keepalive: the server has sent everything up to `wal_end`.
    Keepalive {
        /// The server's send position.
        wal_end: Lsn,
        /// The server wants a status update now.
        reply_requested: bool,
    },
    /// The server ended the copy stream.
    End,
}

/// The reading half of a streaming replication connection.
pub struct FrameReader {
    reader: Reader<ReadHalf>,
}

impl FrameReader {
    /// The next frame from the server.
    pub async fn next(&mut self) -> Result<ServerFrame, Error> {
        loop {
            let frame = self.reader.frame().await?;
            match frame.tag {
                b'd' => {
                    let mut body = frame.body;
                    if body.is_empty() {
                        continue;
                    }
                    match body.get_u8() {
                        b'w' if body.len() >= 24 => {
                            let _start = body.get_u64();
                            let end = body.get_u64();
                            let _time = body.get_i64();
                            return Ok(ServerFrame::XLogData {
                                wal_end: Lsn(end),
                                data: body,
                            });
                        }
                        b'k' if body.len() >= 17 => {
                            let end = body.get_u64();
                            let _time = body.get_i64();
                            let reply = body.get_u8() != 0;
                            return Ok(ServerFrame::Keepalive {
                                wal_end: Lsn(end),
                                reply_requested: reply,
                            });
                        }
                        other => {
                            return Err(protocol(format!(
                                "unexpected replication message {:?}",
                                other as char
                            )));
                        }
                    }
                }
                b'c' | b'C' | b'Z' => return Ok(ServerFrame::End),
                b'E' => return Err(server_error(&frame.body)),
                _ => {}
            }
        }
    }
}

/// The writing half: standby status updates and the end of the stream.
pub struct FeedbackWriter {
    write: WriteHalf,
}

impl FeedbackWriter {
    /// Sends a standby status update: received up to `written`, durably
    /// applied up to `flushed` (what the slot may forget).
    pub async fn send_status(&mut self, written: Lsn, flushed: Lsn) -> Result<(), Error> {
        let micros_since_2000 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64)
            - 946_684_800_000_000;
        let mut out = BytesMut::with_capacity(40);
        out.put_u8(b'd');
        out.put_i32(4 + 1 + 8 + 8 + 8 + 8 + 1);
        out.put_u8(b'r');
        out.put_u64(written.0);
        out.put_u64(flushed.0);
        out.put_u64(flushed.0);
        out.put_i64(micros_since_2000);
        out.put_u8(0);
        self.write
            .write_all(&out)
            .await
            .ctx(|| "sending standby status".to_owned())
    }

    /// Ends the copy stream politely.
    pub async fn finish(&mut self) -> Result<(), Error> {
        let mut out = BytesMut::new();
        frontend::copy_done(&mut out);
        frontend::terminate(&mut out);
        self.write
            .write_all(&out)
            .await
            .ctx(|| "ending the replication stream".to_owned())?;
        let _ = self.write.shutdown().await;
        Ok(())
    }
}
