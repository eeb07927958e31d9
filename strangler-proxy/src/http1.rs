//! HTTP/1.1 framing for the shadow lanes: a client connection that writes
//! requests as they are and reads answers off the wire one after another.
//!
//! The status is kept and, when the answer is to be compared with the
//! monolith's (`diff`), the headers and the body up to a cap. The head is
//! parsed with `httparse` (already under pingora); the body is read by its
//! `Content-Length`, by its chunks (sizes through
//! `httparse::parse_chunk_size`, trailers through `httparse::parse_headers`),
//! or up to the close. Interim (1xx) answers
//! other than 101 are skipped. Which answer belongs to which copy, and what
//! happens when the connection closes, is the lanes' business (`pipeline`).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Response headers (or trailer fields) parsed at most.
const MAX_HEADERS: usize = 128;

/// Largest response header, chunk-size line or trailer section accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Why no answer could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The connection closed before any byte of this answer.
    Closed,
    /// A malformed, oversized or truncated answer, or an I/O error.
    Broken,
}

/// An answer as read: its status and, when captured, its headers and body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header fields, in order (captured answers only).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, up to the capture cap (captured answers only).
    pub body: Bytes,
    /// Whether the body was longer than the cap and cut there.
    pub truncated: bool,
}

impl Reply {
    /// An answer of which only the status is known.
    #[must_use]
    pub fn bare(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }
}

/// What of an answer to keep for a comparison.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The most body bytes kept.
    pub cap: usize,
    /// The headers kept (lower case); the others are skipped unread.
    pub headers: std::sync::Arc<[HeaderName]>,
}

/// Where a captured body goes while it is read.
struct Sink {
    body: BytesMut,
    cap: usize,
    truncated: bool,
}

impl Sink {
    fn put(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.body.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// A client connection to a service, with the bytes read but not yet used.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

/// What the head of an answer says about its body.
struct Head {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    len: Option<u64>,
    chunked: bool,
    keep: bool,
    consumed: usize,
}

impl Conn {
    /// Connects to `addr` within `timeout`; `None` if that fails.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Option<Conn> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
        let _ = stream.set_nodelay(true);
        Some(Conn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
        })
    }

    /// Writes `bytes` (whole requests) to the service.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one answer (skipping 1xx ones) and its body; returns it and
    /// whether the connection can carry more. `head_only` is for the answer
    /// to a `HEAD` request, which has no body. With `capture`, the headers
    /// it names and the body up to its cap are kept.
    pub async fn read_response(
        &mut self,
        head_only: bool,
        capture: Option<&Capture>,
    ) -> Result<(Reply, bool), ReadError> {
        let mut first = true;
        let mut sink = capture.map(|c| Sink {
            body: BytesMut::new(),
            cap: c.cap,
            truncated: false,
        });
        let keep: &[HeaderName] = capture.map_or(&[], |c| &c.headers);
        loop {
            let head = loop {
                if let Some(head) = parse_head(&self.buf, keep)? {
                    break head;
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(ReadError::Broken);
                }
                if !self.fill().await? {
                    return Err(if first && self.buf.is_empty() {
                        ReadError::Closed
                    } else {
                        ReadError::Broken
                    });
                }
                first = false;
            };
            self.buf.advance(head.consumed);
            first = false;
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            let keep =
                if head_only || head.status == 204 || head.status == 304 || head.status == 101 {
                    head.keep && head.status != 101
                } else if head.chunked {
                    self.skip_chunked(&mut sink).await?;
                    head.keep
                } else if let Some(len) = head.len {
                    self.skip(len, &mut sink).await?;
                    head.keep
                } else {
                    // No length: the body runs to the close.
                    loop {
                        if let Some(sink) = &mut sink {
                            sink.put(&self.buf);
                        }
                        self.buf.clear();
                        if !self.fill().await? {
                            break;
                        }
                    }
                    false
                };
            let reply = match sink {
                Some(sink) => Reply {
                    status: head.status,
                    headers: head.headers,
                    body: sink.body.freeze(),
                    truncated: sink.truncated,
                },
                None => Reply::bare(head.status),
            };
            return Ok((reply, keep));
        }
    }

    /// Reads more bytes into the buffer; `Ok(false)` at the end of stream.
    async fn fill(&mut self) -> Result<bool, ReadError> {
        self.buf.reserve(8 * 1024);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(_) => Err(ReadError::Broken),
        }
    }

    /// Reads more bytes for a part that must fit in [`MAX_HEAD`]; the end
    /// of stream in the middle of it is a broken answer.
    async fn fill_part(&mut self) -> Result<(), ReadError> {
        if self.buf.len() > MAX_HEAD || !self.fill().await? {
            return Err(ReadError::Broken);
        }
        Ok(())
    }

    /// Skips `len` bytes of body, handing them to `sink` when there is one.
    async fn skip(&mut self, mut len: u64, sink: &mut Option<Sink>) -> Result<(), ReadError> {
        loop {
            let have = self.buf.len() as u64;
            if have >= len {
                let len = usize::try_from(len).map_err(|_| ReadError::Broken)?;
                if let Some(sink) = sink {
                    sink.put(&self.buf[..len]);
                }
                self.buf.advance(len);
                return Ok(());
            }
            len -= have;
            if let Some(sink) = sink {
                sink.put(&self.buf);
            }
            self.buf.clear();
            if !self.fill().await? {
                return Err(ReadError::Broken);
            }
        }
    }

    /// Skips a chunked body: chunks up to the last, empty one, then the
    /// trailer section up to its empty line.
    async fn skip_chunked(&mut self, sink: &mut Option<Sink>) -> Result<(), ReadError> {
        loop {
            let (consumed, size) = loop {
                // httparse reads an empty size as zero; HTTP requires a digit.
                if self.buf.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
                    return Err(ReadError::Broken);
                }
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete(chunk)) => break chunk,
                    Ok(httparse::Status::Partial) => self.fill_part().await?,
                    Err(httparse::InvalidChunkSize) => return Err(ReadError::Broken),
                }
            };
            self.buf.advance(consumed);
            if size == 0 {
                return self.skip_trailers().await;
            }
            // The chunk's data, then the CRLF that ends it.
            self.skip(size, sink).await?;
            self.skip(2, &mut None).await?;
        }
    }

    /// Skips the trailer fields after the last chunk, up to the empty line.
    async fn skip_trailers(&mut self) -> Result<(), ReadError> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(&self.buf, &mut fields) {
                Ok(httparse::Status::Complete((consumed, _))) => {
                    self.buf.advance(consumed);
                    return Ok(());
                }
                Ok(httparse::Status::Partial) => self.fill_part().await?,
                Err(_) => return Err(ReadError::Broken),
            }
        }
    }
}

/// Parses an answer's head from `buf`; `Ok(None)` when more bytes are needed.
fn parse_head(buf: &[u8], keep: &[HeaderName]) -> Result<Option<Head>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let consumed = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ReadError::Broken),
    };
    let mut head = Head {
        status: response.code.unwrap_or_default(),
        headers: Vec::new(),
        len: None,
        chunked: false,
        keep: response.version == Some(1),
        consumed,
    };
    for h in response.headers.iter() {
        if let Some(name) = keep
            .iter()
            .find(|k| h.name.eq_ignore_ascii_case(k.as_str()))
            && let Ok(value) = HeaderValue::from_bytes(h.value)
        {
            head.headers.push((name.clone(), value));
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            head.len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            if head.len.is_none() {
                return Err(ReadError::Broken);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    head.keep = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    head.keep = true;
                }
            }
        }
    }
    Ok(Some(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection to a server that writes `answers` one byte at a time,
    /// so every part of an answer arrives split, then closes.
    async fn answering(answers: &[u8]) -> Conn {
        let answers = answers.to_vec();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            for byte in answers {
                stream.write_all(&[byte]).await.unwrap();
                stream.flush().await.unwrap();
            }
        });
        Conn::connect(addr, Duration::from_secs(5)).await.unwrap()
    }

    #[tokio::test]
    async fn answers_split_anywhere_are_read_one_after_another() {
        let mut conn = answering(
            b"HTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;ext=1\r\nabc\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody\
              HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(
            conn.read_response(false, None).await,
            Ok((Reply::bare(201), true))
        );
        assert_eq!(
            conn.read_response(false, None).await,
            Ok((Reply::bare(200), true))
        );
        assert_eq!(
            conn.read_response(false, None).await,
            Ok((Reply::bare(204), false))
        );
        assert_eq!(
            conn.read_response(false, None).await,
            Err(ReadError::Closed)
        );
    }

    fn capture(cap: usize) -> Capture {
        Capture {
            cap,
            headers: vec![HeaderName::from_static("etag")].into(),
        }
    }

    #[tokio::test]
    async fn captured_answers_keep_headers_and_the_body_up_to_the_cap() {
        let mut conn = answering(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nETag: \"v1\"\r\n\r\n\
              3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody\
              HTTP/1.1 200 OK\r\n\r\nto the close",
        )
        .await;
        let (chunked, keep) = conn.read_response(false, Some(&capture(8))).await.unwrap();
        assert!(keep);
        assert_eq!(
            (chunked.status, &chunked.body[..], chunked.truncated),
            (201, &b"abc01234"[..], true)
        );
        assert_eq!(
            chunked.headers[0],
            (
                HeaderName::from_static("etag"),
                HeaderValue::from_static("\"v1\"")
            )
        );
        let (sized, _) = conn.read_response(false, Some(&capture(8))).await.unwrap();
        assert_eq!((&sized.body[..], sized.truncated), (&b"body"[..], false));
        let (closed, keep) = conn.read_response(false, Some(&capture(64))).await.unwrap();
        assert_eq!((&closed.body[..], keep), (&b"to the close"[..], false));
    }

    #[tokio::test]
    async fn malformed_chunk_sizes_break_the_answer() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
        ] {
            let mut conn = answering(answer).await;
            assert_eq!(
                conn.read_response(false, Some(&capture(1024))).await,
                Err(ReadError::Broken),
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn heads_are_parsed() {
        let head = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n",
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.status, head.len, head.keep), (200, Some(12), false));
        let head = parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &[])
            .unwrap()
            .unwrap();
        assert!(head.keep && head.chunked);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", &[])
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", &[]).is_err());
        assert!(parse_head(b"garbage\r\n\r\n", &[]).is_err());
    }
}
