//! Telling HTTP/1 from h2c (HTTP/2 with prior knowledge) on plaintext
//! connections, without waiting for bytes a short request never sends.
//!
//! pingora 0.9 decides by reading the 24-byte HTTP/2 preface before anything
//! else, with no time limit: a complete HTTP/1 request shorter than that
//! (`GET / HTTP/1.0` and a blank line is 18 bytes) or a client that connects
//! and sends nothing would wait forever. [`H1OrH2c`] looks at the first bytes
//! only as far as they can still be the preface (`PRI `, a method HTTP/1 never
//! uses): anything else is served as HTTP/1.1 at once, and a connection that
//! sends nothing for [`FIRST_BYTES_TIMEOUT`] is closed. A connection that does
//! start with `PRI ` goes to pingora's own h2c handling; TLS connections
//! that chose `h2` by ALPN go straight to pingora.
//!
//! HTTP/1 connections (plaintext and TLS) are served here, one request after
//! another, each under a request-header deadline ([`HeaderDeadline`]):
//! pingora 0.9 times each read of a header on its own (60 s), so a client
//! sending a byte every few seconds (slowloris) held a connection forever.
//! The proxy's first callback reports a complete header through
//! [`header_received`]; a request whose header is not in by the deadline
//! loses its connection, and the close is counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{ALPN, Stream};
use pingora::server::ShutdownWatch;
use pingora_prometheus::prometheus::IntCounter;

/// How long a new plaintext connection may stay silent before it is closed
/// (pingora's own limit for reading an HTTP/1 request header).
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(60);

/// What the HTTP/2 preface starts with; no HTTP/1 request does.
const PREFACE_START: &[u8; 4] = b"PRI ";

tokio::task_local! {
    /// Whether the current request's header is complete, set by
    /// [`header_received`] from inside the request's processing.
    static HEADER_IN: Arc<AtomicBool>;
}

/// Tells the connection's header deadline that the current request's header
/// is complete. The proxy calls it first thing for every request; outside a
/// connection served here (HTTP/2) it does nothing.
pub fn header_received() {
    let _ = HEADER_IN.try_with(|flag| flag.store(true, Ordering::Relaxed));
}

/// How long an HTTP/1 request header may take, and the counter of the
/// connections closed for taking longer.
#[derive(Debug, Clone)]
pub struct HeaderDeadline {
    /// From the first byte of a connection's first request; a later request
    /// has [`FIRST_BYTES_TIMEOUT`] more, for the keep-alive wait before it.
    pub timeout: Duration,
    /// Counts the connections closed by the deadline.
    pub closed: IntCounter,
}

/// A pingora server app (the proxy) behind the HTTP/1-or-h2c decision.
pub struct H1OrH2c<A> {
    app: Arc<A>,
    header: HeaderDeadline,
}

impl<A> H1OrH2c<A> {
    /// Wraps `app`, whose server options should turn h2c on; HTTP/1 request
    /// headers must complete within `header`.
    pub fn new(app: A, header: HeaderDeadline) -> Self {
        Self {
            app: Arc::new(app),
            header,
        }
    }
}

#[async_trait]
impl<A> ServerApp for H1OrH2c<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if stream.get_ssl_digest().is_none() {
            match tokio::time::timeout(FIRST_BYTES_TIMEOUT, starts_like_h2(&mut stream)).await {
                Ok(Some(false)) => {
                    return serve_http1(&self.app, stream, shutdown, &self.header).await;
                }
                Ok(Some(true)) => {}
                // Closed, failed or silent: nothing to answer.
                Ok(None) | Err(_) => return None,
            }
        } else if !matches!(
            stream.selected_alpn_proto(),
            Some(ALPN::H2 | ALPN::Custom(_))
        ) {
            return serve_http1(&self.app, stream, shutdown, &self.header).await;
        }
        ServerApp::process_new(&self.app, stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

/// Whether the connection's first bytes can be the HTTP/2 preface, reading
/// (and putting back) only as many as it takes to tell; `None` when the
/// stream closed or failed first, or cannot be peeked.
async fn starts_like_h2(stream: &mut Stream) -> Option<bool> {
    let mut buf = [0u8; PREFACE_START.len()];
    for n in 1..=buf.len() {
        if !stream.try_peek(&mut buf[..n]).await.ok()? {
            // A stream that cannot put bytes back: let pingora decide.
            return Some(true);
        }
        if buf[..n] != PREFACE_START[..n] {
            return Some(false);
        }
    }
    Some(true)
}

/// Serves HTTP/1.1 requests on `stream` until it is closed, as pingora does
/// for connections without h2c, each under the header deadline.
async fn serve_http1<A>(
    app: &Arc<A>,
    stream: Stream,
    shutdown: &ShutdownWatch,
    header: &HeaderDeadline,
) -> Option<Stream>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    let header_in = Arc::new(AtomicBool::new(false));
    let mut session = ServerSession::new_http1(stream);
    if *shutdown.borrow() {
        session.set_keepalive(None);
    } else {
        session.set_keepalive(Some(60));
    }
    session.set_keepalive_reuses_remaining(
        app.server_options()
            .and_then(|options| options.keepalive_request_limit),
    );
    let mut result =
        serve_request(app, session, shutdown, &header_in, header.timeout, header).await;
    // A later request's bytes may already be buffered (pipelined) or may
    // come after the keep-alive wait; pingora ends an idle connection at 60
    // s by itself, before this deadline.
    let later = FIRST_BYTES_TIMEOUT + header.timeout;
    while let Some((stream, settings)) = result.map(ReusedHttpStream::consume) {
        let mut session = ServerSession::new_http1(stream);
        if let Some(settings) = settings {
            HttpPersistentSettings::apply_to_session(settings, &mut session);
        }
        result = serve_request(app, session, shutdown, &header_in, later, header).await;
    }
    None
}

/// Serves one request; if its header is not complete within `limit`, drops
/// it (closing the connection) and counts the close.
async fn serve_request<A>(
    app: &Arc<A>,
    session: ServerSession,
    shutdown: &ShutdownWatch,
    header_in: &Arc<AtomicBool>,
    limit: Duration,
    header: &HeaderDeadline,
) -> Option<ReusedHttpStream>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    header_in.store(false, Ordering::Relaxed);
    let serve = HEADER_IN.scope(header_in.clone(), app.process_new_http(session, shutdown));
    tokio::pin!(serve);
    tokio::select! {
        biased;
        result = &mut serve => result,
        () = tokio::time::sleep(limit) => {
            if header_in.load(Ordering::Relaxed) {
                serve.await
            } else {
                header.closed.inc();
                tracing::debug!("request header not complete after {limit:?}; connection closed");
                None
            }
        }
    }
}
