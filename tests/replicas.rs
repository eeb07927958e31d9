#![allow(clippy::too_many_lines)] // A scenario test reads top to bottom.

//! Several `strangler proxy` replicas on one plan file: a stage change made
//! through one replica's admin API is saved to the file, and every other
//! replica's plan watcher picks it up. Three real proxy processes (the
//! built binary), a monolith and a service upstream that answer with their
//! own names, and clients sending to all three replicas throughout: after
//! the change all three route the new way within 2 s, and not one request
//! fails. Every wait is bounded.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An upstream that answers every request `200` with its name as the body,
/// keeping connections alive, one thread per connection.
fn upstream(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an upstream");
    let addr = listener.local_addr().expect("upstream address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || serve(stream, name));
        }
    });
    addr
}

fn serve(stream: TcpStream, name: &str) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if !matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if !matches!(reader.read_line(&mut header), Ok(n) if n > 0) {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{name}",
            name.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A port below the kernel's ephemeral range (32768 and up), so no
/// upstream bound to port 0 and no outgoing connection takes it before the
/// proxy binds it, never handed out twice in one process (the approach of
/// `strangler-proxy/tests/common`).
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 400) as u16 * 30;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = 20_000 + (base + n) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A keep-alive HTTP/1.1 client connection to one address, reconnecting
/// when it has none.
struct Conn {
    port: u16,
    stream: Option<BufReader<TcpStream>>,
}

/// An answer: status, `x-strangler-target` and body.
struct Answer {
    status: u16,
    target: String,
    body: String,
}

impl Conn {
    fn new(port: u16) -> Conn {
        Conn { port, stream: None }
    }

    fn get(&mut self, path: &str) -> Result<Answer, String> {
        self.send("GET", path, &[], "")
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Answer, String> {
        let result = self.exchange(method, path, headers, body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Answer, String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port))
                .map_err(|e| format!("connect to {}: {e}", self.port))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| format!("set a read timeout: {e}"))?;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().expect("connected");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-length: {}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            let _ = write!(request, "{k}: {v}\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        reader
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("read the status line: {e}"))?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut length = None;
        let mut target = String::new();
        let mut close = false;
        loop {
            let mut header = String::new();
            reader
                .read_line(&mut header)
                .map_err(|e| format!("read a header: {e}"))?;
            if header.is_empty() {
                return Err("connection closed in the header".to_owned());
            }
            if header == "\r\n" {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("x-strangler-target") {
                    v.clone_into(&mut target);
                } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let length = length.ok_or("an answer without content-length")?;
        let mut body = vec![0; length];
        reader
            .read_exact(&mut body)
            .map_err(|e| format!("read the body: {e}"))?;
        if close {
            self.stream = None;
        }
        Ok(Answer {
            status,
            target,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// One `strangler proxy` process, its stderr in a file.
struct Proxy {
    child: Child,
    port: u16,
    admin: u16,
    log: PathBuf,
}

impl Proxy {
    fn start(plan: &Path, dir: &Path, n: usize) -> Proxy {
        let port = free_port();
        let admin = free_port();
        let log = dir.join(format!("proxy{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_strangler"))
            .arg("proxy")
            .arg("--plan")
            .arg(plan)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin", &format!("127.0.0.1:{admin}")])
            .args(["--threads", "1", "--health-interval", "0"])
            .env("RUST_LOG", "info")
            .env_remove("STRANGLER_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(fs_create(&log))
            .spawn()
            .expect("start strangler proxy");
        Proxy {
            child,
            port,
            admin,
            log,
        }
    }

    /// Waits until the admin API answers `/healthz` and the proxy serves.
    fn wait_ready(&mut self) {
        let started = Instant::now();
        let mut admin = Conn::new(self.admin);
        loop {
            if admin.get("/healthz").is_ok_and(|a| a.status == 200) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("the proxy exited ({status}):\n{}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the proxy did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fs_create(path: &Path) -> std::fs::File {
    std::fs::File::create(path).expect("create a log file")
}

#[test]
fn a_stage_change_through_one_replica_reaches_all_three_under_load() {
    let monolith = upstream("monolith");
    let service = upstream("catalog");
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("strangler.toml");
    std::fs::write(
        &plan,
        format!(
            "# three replicas, one plan\nversion = 1\n\n[monolith]\nname = \"shop\"\n\
             upstream = \"http://{monolith}\"\n\n[[service]]\nname = \"catalog\"\n\
             upstream = \"http://{service}\"\n\n[[service.route]]\n\
             path = \"/api/products/{{id}}\"\nstage = \"canary\"\npercent = 0\n"
        ),
    )
    .expect("write the plan");
    let mut proxies: Vec<Proxy> = (0..3).map(|n| Proxy::start(&plan, dir.path(), n)).collect();
    for proxy in &mut proxies {
        proxy.wait_ready();
    }
    let ports: Vec<u16> = proxies.iter().map(|p| p.port).collect();
    for &port in &ports {
        let answer = Conn::new(port)
            .get("/api/products/1")
            .expect("a first request");
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "monolith"),
            "at canary 0 % the monolith answers"
        );
    }

    // Constant load on all three replicas, every answer recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..3)
        .map(|c| {
            let stop = Arc::clone(&stop);
            let failures = Arc::clone(&failures);
            let ports = ports.clone();
            std::thread::spawn(move || {
                let mut conns: Vec<Conn> = ports.iter().map(|&p| Conn::new(p)).collect();
                let mut sent = 0u64;
                let mut i = c;
                while !stop.load(Ordering::SeqCst) {
                    let n = i % conns.len();
                    i += 1;
                    match conns[n].get(&format!("/api/products/{i}")) {
                        Ok(a) if a.status == 200 => {}
                        Ok(a) => failures
                            .lock()
                            .expect("lock")
                            .push(format!("replica {n}: status {} {}", a.status, a.body)),
                        Err(e) => failures
                            .lock()
                            .expect("lock")
                            .push(format!("replica {n}: {e}")),
                    }
                    sent += 1;
                    // Pacing, not synchronisation: a steady load that
                    // leaves the two cores some room.
                    std::thread::sleep(Duration::from_millis(1));
                }
                sent
            })
        })
        .collect();
    // Let the load run a moment on the old table (not a synchronisation:
    // nothing waits on it).
    std::thread::sleep(Duration::from_millis(300));

    // The stage change, through replica 0 only.
    let started = Instant::now();
    let mut admin = Conn::new(proxies[0].admin);
    let changed = admin
        .send(
            "POST",
            "/routes/stage",
            &[("content-type", "application/json")],
            r#"{"service": "catalog", "route": "/api/products/{id}", "stage": "live"}"#,
        )
        .expect("POST /routes/stage");
    assert_eq!(changed.status, 200, "{}", changed.body);

    // Every replica routes to the service within 2 s.
    let mut propagation = Vec::new();
    for (n, &port) in ports.iter().enumerate() {
        let mut conn = Conn::new(port);
        loop {
            let answer = conn.get("/api/products/1").expect("a poll");
            assert_eq!(answer.status, 200);
            if answer.body == "catalog" {
                assert_eq!(answer.target, "catalog");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "replica {n} still routes to the monolith after 2 s:\n{}",
                proxies[n].log()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        propagation.push(started.elapsed());
    }
    let slowest = propagation.iter().max().copied().unwrap_or_default();
    eprintln!("stage change seen by the replicas after {propagation:?}");
    assert!(slowest < Duration::from_secs(2), "{propagation:?}");

    // The load goes on on the new table for a moment, then stops.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let sent: u64 = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .sum();
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(20)]
    );
    assert!(sent > 100, "the load ran: {sent} requests");
    eprintln!("{sent} requests under load, none failed");

    // All three stay on the service, and say so in their tables; the file
    // holds the change, its comment kept.
    for (n, &port) in ports.iter().enumerate() {
        let mut conn = Conn::new(port);
        for _ in 0..10 {
            assert_eq!(conn.get("/api/products/7").expect("get").body, "catalog");
        }
        let routes = Conn::new(proxies[n].admin)
            .get("/routes")
            .expect("GET /routes");
        let routes: serde_json::Value = serde_json::from_str(&routes.body).expect("JSON");
        assert_eq!(routes["routes"][0]["stage"], "live", "replica {n}");
    }
    let text = std::fs::read_to_string(&plan).expect("read the plan");
    assert!(
        text.contains("stage = \"live\"") && text.starts_with("# three replicas, one plan"),
        "{text}"
    );
}
