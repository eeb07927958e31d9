//! Zero-downtime binary upgrade through pingora's upgrade socket. It lives
//! in its own test binary: handing over sockets and draining act on the
//! whole process, and would reset connections of other tests running in
//! parallel in the same process.

mod common;

use std::os::unix::fs::FileTypeExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{backend, client, eventually, get, proxy, write_plan};
use strangler_proxy::Stop;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_upgrade_hands_over_sockets_without_failing_requests() {
    let mono = backend("monolith").await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &mono.url(), "");
    let sock = dir.path().join("upgrade.sock");
    let s = sock.clone();
    // The grace period is what requests in flight in the old process get
    // once it stops accepting: after it the runtime drops what is left
    // (tokio drops async tasks at once; the shutdown timeout only waits for
    // blocking work). It must cover a request accepted a moment before.
    let mut old = proxy(plan.clone(), move |c| {
        c.upgrade_sock = s;
        c.grace_period = Duration::from_secs(2);
    })
    .await;
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
        config.upgrade_sock = sock.clone();
        move || strangler_proxy::start(config)
    });
    // The new process has bound the socket once it exists. Probing it with
    // a connection would take the place of the old process's, and until
    // the new one listens the old one's connect is refused and retried.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::symlink_metadata(&sock).is_ok_and(|m| m.file_type().is_socket()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new process never bound {}",
            sock.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...which the old one sends on SIGQUIT (here: Stop::Upgrade), then drains.
    let handle = old.handle.take().unwrap();
    let old_done = tokio::task::spawn_blocking(move || handle.stop(Stop::Upgrade));
    let new = new.await.unwrap().unwrap();
    old_done.await.unwrap();
    // Only the new process listens now: more answers are its answers.
    let before = ok.load(Ordering::SeqCst);
    eventually("answers from the new process", || {
        ok.load(Ordering::SeqCst) >= before + 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let failures = load.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let a = get(&client(), &format!("http://{listen}/after")).await;
    assert_eq!(a.body, "monolith GET /after");
    new.stop(Stop::Fast);
}
