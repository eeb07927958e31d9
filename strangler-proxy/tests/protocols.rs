//! Protocols through the proxy: WebSocket upgrades and h2c (the binary
//! upgrade is in `upgrade.rs`).

mod common;

use bytes::Bytes;
use common::{backend, proxy, write_plan};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
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
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{}/ws", p.addr))
        .await
        .unwrap();
    assert_eq!(response.headers()["x-strangler-target"], "chat");
    for i in 0..3 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed, Message::text(format!("hello {i}")));
    }
    ws.close(None).await.unwrap();
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
