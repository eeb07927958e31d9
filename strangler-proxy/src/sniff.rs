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
//! start with `PRI ` goes to pingora's own h2c handling; TLS connections go
//! straight to pingora, which picks the protocol by ALPN.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::Stream;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

/// How long a new plaintext connection may stay silent before it is closed
/// (pingora's own limit for reading an HTTP/1 request header).
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(60);

/// What the HTTP/2 preface starts with; no HTTP/1 request does.
const PREFACE_START: &[u8; 4] = b"PRI ";

/// A pingora server app (the proxy) behind the HTTP/1-or-h2c decision.
pub struct H1OrH2c<A> {
    app: Arc<A>,
}

impl<A> H1OrH2c<A> {
    /// Wraps `app`, whose server options should turn h2c on.
    pub fn new(app: A) -> Self {
        Self { app: Arc::new(app) }
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
                Ok(Some(false)) => return serve_http1(&self.app, stream, shutdown).await,
                Ok(Some(true)) => {}
                // Closed, failed or silent: nothing to answer.
                Ok(None) | Err(_) => return None,
            }
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
/// for connections without h2c.
async fn serve_http1<A>(app: &Arc<A>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream>
where
    A: HttpServerApp + Send + Sync + 'static,
{
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
    let mut result = app.process_new_http(session, shutdown).await;
    while let Some((stream, settings)) = result.map(pingora::apps::ReusedHttpStream::consume) {
        let mut session = ServerSession::new_http1(stream);
        if let Some(settings) = settings {
            HttpPersistentSettings::apply_to_session(settings, &mut session);
        }
        result = app.process_new_http(session, shutdown).await;
    }
    None
}
