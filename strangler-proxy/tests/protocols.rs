//! Protocols through the proxy: WebSocket upgrades, h2c, and h2 and
//! HTTP/1.1 over TLS (the binary upgrade is in `upgrade.rs`).

mod common;

use bytes::Bytes;
use common::{backend, proxy, write_plan};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;

async fn websocket_echo() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() || msg.is_binary() {
                        ws.send(msg).await.unwrap();
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_passes_through() {
    let mono = backend("monolith").await;
    let echo = websocket_echo().await;
    let dir = tempfile::tempdir().unwrap();
    let services = format!(
        "[[service]]\nname = \"chat\"\nupstream = \"{echo}\"\n  [[service.route]]\n  path = \"/ws\"\n  stage = \"live\"\n"
    );
    let plan = write_plan(dir.path(), &mono.url(), &services);
    let p = proxy(plan, |_| {}).await;
    // Many sessions, several at once: pingora 0.9 used to tear an upgraded
    // connection down right after the 101 when the upstream answered before
    // the upgrade request's empty body was handled (cloudflare/pingora#946,
    // patched in vendor/pingora-proxy). Every session must work, first time.
    let addr = p.addr;
    let mut sessions = tokio::task::JoinSet::new();
    for session in 0..8 {
        let addr = addr.clone();
        sessions.spawn(async move {
            for round in 0..5 {
                let (mut ws, response) =
                    tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                        .await
                        .unwrap();
                assert_eq!(response.headers()["x-strangler-target"], "chat");
                for i in 0..3 {
                    let text = format!("hello {session}/{round}/{i}");
                    ws.send(Message::text(text.clone())).await.unwrap();
                    let echoed = ws.next().await.unwrap();
                    assert_eq!(
                        echoed.unwrap(),
                        Message::text(text),
                        "session {session}, round {round}"
                    );
                }
                ws.close(None).await.unwrap();
            }
        });
    }
    while let Some(done) = sessions.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_are_served() {
    let mono = backend("monolith").await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &mono.url(), "");
    let p = proxy(plan, |_| {}).await;
    let h2: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let response = h2.get(p.url("/over/h2").parse().unwrap()).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "monolith GET /over/h2");
}

/// Connects over TLS to `addr`, trusting `cert`, offering `alpn`.
async fn tls_connect(
    addr: &str,
    cert: &rcgen::Certificate,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("shop.test").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
    tls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_and_http1_over_tls_are_served_and_routed() {
    let mono = backend("monolith").await;
    let svc = backend("catalog").await;
    let dir = tempfile::tempdir().unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["shop.test".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let services = format!(
        "[[service]]\nname = \"catalog\"\nupstream = \"{}\"\n  [[service.route]]\n  path = \"/api/{{id}}\"\n  stage = \"live\"\n  host = \"shop.test\"\n",
        svc.url()
    );
    let plan = write_plan(dir.path(), &mono.url(), &services);
    let p = proxy(plan, |c| {
        c.tls = Some(strangler_proxy::TlsConfig { cert, key });
    })
    .await;

    // h2 by ALPN: the host comes as `:authority`, from the URI.
    let tls = tls_connect(&p.addr, &certified.cert, b"h2").await;
    let (mut h2, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    for (uri, who) in [
        ("https://shop.test/api/7", "catalog"),
        ("https://other.test/api/7", "monolith"),
        ("https://shop.test/elsewhere", "monolith"),
    ] {
        let request = http::Request::get(uri)
            .body(Full::new(Bytes::new()))
            .unwrap();
        h2.ready().await.unwrap();
        let response = h2.send_request(request).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2, "{uri}");
        assert_eq!(response.status(), 200, "{uri}");
        assert_eq!(response.headers()["x-strangler-target"], who, "{uri}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let path = uri.split_once(".test").unwrap().1;
        assert_eq!(body, format!("{who} GET {path}"), "{uri}");
    }
    let seen = &svc.seen_path("/api/7")[0];
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["x-forwarded-host"], "shop.test");

    // HTTP/1.1 by ALPN on the same listener: the host comes in `Host`.
    let tls = tls_connect(&p.addr, &certified.cert, b"http/1.1").await;
    let (mut h1, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    for (host, who) in [("shop.test:443", "catalog"), ("other.test", "monolith")] {
        let request = http::Request::get("/api/8")
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        // The previous exchange may still be finishing on the connection.
        h1.ready().await.unwrap();
        let response = h1.send_request(request).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_11, "{host}");
        assert_eq!(response.headers()["x-strangler-target"], who, "{host}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("{who} GET /api/8"), "{host}");
    }
}
