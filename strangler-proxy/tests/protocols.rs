//! Protocols through the proxy: WebSocket upgrades, h2c, and the
//! zero-downtime binary upgrade through pingora's upgrade socket.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{backend, client, get, proxy, write_plan};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use strangler_proxy::Stop;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_upgrade_hands_over_sockets_without_failing_requests() {
    let mono = backend("monolith").await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &mono.url(), "");
    let sock = dir.path().join("upgrade.sock");
    let s = sock.clone();
    let mut old = proxy(plan.clone(), move |c| c.upgrade_sock = s).await;
    let (listen, admin) = (old.addr.clone(), old.admin.clone());

    // Clients keep sending through the whole upgrade.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let url = old.url("/during");
    let load = {
        let (stop, ok) = (stop.clone(), ok.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                // A fresh connection each time, as the old process closes
                // kept-alive ones when it drains.
                let c = client();
                match c.get(url.parse().unwrap()).await {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    other => failures.push(format!("{other:?}")),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failures
        })
    };

    // The new process waits on the upgrade socket for the listeners...
    let new = tokio::task::spawn_blocking({
        let mut config = strangler_proxy::ProxyConfig::new(&plan);
        config.listen = listen.clone();
        config.admin = Some(admin);
        config.threads = 2;
        config.work_stealing = true;
        config.signals = false;
        config.health.interval = Duration::ZERO;
        config.upgrade = true;
        config.upgrade_sock = sock;
        move || strangler_proxy::start(config)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...which the old one sends on SIGQUIT (here: Stop::Upgrade), then drains.
    let handle = old.handle.take().unwrap();
    let old_done = tokio::task::spawn_blocking(move || handle.stop(Stop::Upgrade));
    let new = new.await.unwrap().unwrap();
    old_done.await.unwrap();
    let before = ok.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let failures = load.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(ok.load(Ordering::SeqCst) > before, "the new process serves");
    let a = get(&client(), &format!("http://{listen}/after")).await;
    assert_eq!(a.body, "monolith GET /after");
    new.stop(Stop::Fast);
}
