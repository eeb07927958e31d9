//! Robustness over real loopback sockets through the real proxy (issue 15,
//! points 7–10): upstream timeouts and their fallback, pipelined requests,
//! the request-header deadline (slowloris) and HTTP/1.0 framing. One table
//! of cases, one `check`: raw bytes in, then what the client got (read
//! until the proxy closes the connection) and what each upstream received.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Running, backend, client, eventually, metrics_when, proxy, sample, write_plan};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

/// The upstream read timeout the proxy runs with here.
const READ_TIMEOUT: Duration = Duration::from_millis(500);
/// The request-header deadline the proxy runs with here.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// The total upstream timeout the proxy runs with here.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(2);
/// How much later than its timeout a case may end on a loaded machine.
const SLACK: Duration = Duration::from_millis(2500);
/// How long a case may take at most before it counts as hanging.
const GENEROUS: Duration = Duration::from_secs(10);

/// How a scripted upstream answers.
#[derive(Clone, Copy)]
enum Answer {
    /// Never: it keeps the connection open and silent.
    Never,
    /// These bytes at once.
    Now(&'static [u8]),
    /// These bytes a line at a time, one line per interval: a slow upstream
    /// that never stays silent as long as the read timeout.
    Drip(&'static [u8], Duration),
}

/// A scripted HTTP/1.1 upstream: it records each request line (requests
/// without bodies) and answers as told.
#[derive(Clone)]
struct Scripted {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn scripted(answer: Answer) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = Scripted {
        addr: listener.local_addr().unwrap(),
        seen: Arc::default(),
    };
    let seen = up.seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).into_owned();
                        got.drain(..end + 4);
                        let line = head.lines().next().unwrap_or_default();
                        let line = line.trim_end_matches(" HTTP/1.1").to_owned();
                        seen.lock().unwrap().push(line);
                        if answer_with(&mut stream, answer).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    up
}

async fn answer_with(stream: &mut TcpStream, answer: Answer) -> std::io::Result<()> {
    match answer {
        Answer::Never => Ok(()),
        Answer::Now(bytes) => stream.write_all(bytes).await,
        Answer::Drip(bytes, every) => {
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                // The upstream's own pace, not synchronisation.
                tokio::time::sleep(every).await;
                stream.write_all(line).await?;
            }
            Ok(())
        }
    }
}

impl Scripted {
    fn seen(&self, prefix: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|l| l.split(' ').nth(1).is_some_and(|p| p.starts_with(prefix)))
            .cloned()
            .collect()
    }
}

/// One case of the table.
struct Case {
    name: &'static str,
    /// Raw bytes sent on a fresh connection.
    send: &'static [u8],
    /// Send them a byte every this long instead of at once (slowloris),
    /// while the answer is read.
    drip: Option<Duration>,
    /// Sent next, once the hanging service has received this request line
    /// (so the first request is being proxied when these bytes arrive).
    then: Option<(&'static str, &'static [u8])>,
    /// The paths this case uses; what the upstreams received is filtered by it.
    prefix: &'static str,
    /// Everything the client got, lower-cased, must contain these in order…
    answer: &'static [&'static str],
    /// …and none of these; with `answer` empty, it must be empty.
    absent: &'static [&'static str],
    /// The request lines the monolith received, in order.
    monolith: &'static [&'static str],
    /// The request lines the hanging service received.
    hang: &'static [&'static str],
    /// The request lines the chunked service received.
    chunked: &'static [&'static str],
    /// The request lines the slow service received.
    slow: &'static [&'static str],
    /// The proxy closed the connection no earlier than this…
    not_before: Duration,
    /// …and no later than this (slack for a loaded machine included).
    not_after: Duration,
    /// A counter on `/metrics` that this case raises by exactly one.
    counts: Option<&'static str>,
}

const CASE: Case = Case {
    name: "",
    send: b"",
    drip: None,
    then: None,
    prefix: "",
    answer: &[],
    absent: &[],
    monolith: &[],
    hang: &[],
    chunked: &[],
    slow: &[],
    not_before: Duration::ZERO,
    not_after: GENEROUS,
    counts: None,
};

const SLOW_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\nJ: 10\r\nContent-Length: 2\r\n\r\nok";

const CHUNKED_ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

/// The cases, run in order on one proxy.
const CASES: &[Case] = &[
    Case {
        name: "a hanging service: a GET falls back to the monolith after the read timeout",
        send: b"GET /hang/get HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        prefix: "/hang/get",
        answer: &["http/1.1 200", "x-strangler-target: monolith", "monolith get /hang/get"],
        monolith: &["GET /hang/get"],
        hang: &["GET /hang/get"],
        not_before: READ_TIMEOUT,
        not_after: READ_TIMEOUT.saturating_add(SLACK),
        ..CASE
    },
    Case {
        name: "a hanging service: a POST (not idempotent) gets 504, the monolith nothing",
        send: b"POST /hang/post HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        prefix: "/hang/post",
        answer: &["http/1.1 504", "gateway timeout"],
        hang: &["POST /hang/post"],
        not_before: READ_TIMEOUT,
        not_after: READ_TIMEOUT.saturating_add(SLACK),
        ..CASE
    },
    Case {
        name: "a service dripping its answer past the total timeout: 504, no fallback",
        send: b"GET /slow-service/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        prefix: "/slow-service/",
        answer: &["http/1.1 504", "gateway timeout"],
        slow: &["GET /slow-service/x"],
        not_before: TOTAL_TIMEOUT,
        not_after: TOTAL_TIMEOUT.saturating_add(SLACK),
        ..CASE
    },
    Case {
        name: "two pipelined requests in one write are answered in order",
        send: b"GET /pipe/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /pipe/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        prefix: "/pipe/",
        answer: &["http/1.1 200", "monolith get /pipe/1", "http/1.1 200", "monolith get /pipe/2"],
        absent: &["400"],
        monolith: &["GET /pipe/1", "GET /pipe/2"],
        ..CASE
    },
    Case {
        name: "a request pipelined while the first is being proxied waits its turn",
        send: b"GET /hang/pipe-1 HTTP/1.1\r\nHost: t\r\n\r\n",
        then: Some((
            "GET /hang/pipe-1",
            b"GET /hang/pipe-2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )),
        prefix: "/hang/pipe-",
        answer: &["http/1.1 200", "monolith get /hang/pipe-1", "http/1.1 200", "monolith get /hang/pipe-2"],
        absent: &["400"],
        monolith: &["GET /hang/pipe-1", "GET /hang/pipe-2"],
        hang: &["GET /hang/pipe-1", "GET /hang/pipe-2"],
        ..CASE
    },
    Case {
        name: "slowloris: a header that never completes loses its connection at the deadline",
        send: b"GET /loris HTTP/1.1\r\nHost: t\r\nX-Slow: ",
        prefix: "/loris",
        not_before: HEADER_TIMEOUT,
        not_after: HEADER_TIMEOUT.saturating_add(SLACK),
        counts: Some("strangler_header_timeouts_total"),
        ..CASE
    },
    Case {
        name: "slowloris: a header sent a byte every 100 ms loses its connection at the deadline",
        send: b"GET /loris-drip HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
        drip: Some(Duration::from_millis(100)),
        prefix: "/loris-drip",
        not_before: HEADER_TIMEOUT,
        not_after: HEADER_TIMEOUT.saturating_add(SLACK),
        counts: Some("strangler_header_timeouts_total"),
        ..CASE
    },
    Case {
        name: "HTTP/1.0 with keep-alive gets no chunked body: close-delimited instead",
        send: b"GET /chunked/old HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n",
        prefix: "/chunked/old",
        answer: &["http/1.1 200", "connection: close", "\r\n\r\nhello world"],
        absent: &["transfer-encoding", "\r\n5\r\n"],
        chunked: &["GET /chunked/old"],
        ..CASE
    },
    Case {
        name: "HTTP/1.1 still gets the chunked body",
        send: b"GET /chunked/new HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        prefix: "/chunked/new",
        // pingora may join the chunks; the framing is the point.
        answer: &["http/1.1 200", "transfer-encoding: chunked", "\r\n\r\n", "hello", "world\r\n0\r\n\r\n"],
        chunked: &["GET /chunked/new"],
        ..CASE
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_pipelining_header_deadline_and_http10() {
    let mono = backend("monolith").await;
    let hang = scripted(Answer::Never).await;
    let chunked = scripted(Answer::Now(CHUNKED_ANSWER)).await;
    // Twelve header lines 250 ms apart: past the total timeout, never
    // silent for the read timeout.
    let slow = scripted(Answer::Drip(SLOW_ANSWER, READ_TIMEOUT / 2)).await;
    let dir = tempfile::tempdir().unwrap();
    let services = format!(
        "[[service]]\nname = \"hang\"\nupstream = \"http://{}\"\n  [[service.route]]\n  path = \"/hang/{{*rest}}\"\n  stage = \"live\"\n\n\
         [[service]]\nname = \"chunky\"\nupstream = \"http://{}\"\n  [[service.route]]\n  path = \"/chunked/{{*rest}}\"\n  stage = \"live\"\n\n\
         [[service]]\nname = \"slow\"\nupstream = \"http://{}\"\n  [[service.route]]\n  path = \"/slow-service/{{*rest}}\"\n  stage = \"live\"\n",
        hang.addr, chunked.addr, slow.addr
    );
    let plan = write_plan(dir.path(), &mono.url(), &services);
    let p = proxy(plan, |c| {
        c.timeouts.read = Some(READ_TIMEOUT);
        c.timeouts.total = Some(TOTAL_TIMEOUT);
        c.header_timeout = HEADER_TIMEOUT;
        // Failures here must not eject the hanging service between cases.
        c.health.eject_after = 0;
    })
    .await;

    for case in CASES {
        check(&p, &mono, [&hang, &chunked, &slow], case).await;
    }
}

/// Runs one case: sends its bytes, reads until the proxy closes the
/// connection, and checks the answer, the upstreams and the counter.
async fn check(
    p: &Running,
    mono: &common::Backend,
    [hang, chunked, slow]: [&Scripted; 3],
    case: &Case,
) {
    let name = case.name;
    let c = client();
    let count = |metrics: &str| case.counts.map_or(0, |series| sample(metrics, series));
    let before = count(&metrics_when(&c, p, |_| true).await);

    let started = Instant::now();
    let (mut read, mut write) = TcpStream::connect(&p.addr).await.unwrap().into_split();
    // The write half stays open (no FIN) until the answer is read.
    let _write = if let Some(every) = case.drip {
        let send = case.send;
        tokio::spawn(async move {
            for byte in send.chunks(1) {
                // The client's own pace, not synchronisation.
                tokio::time::sleep(every).await;
                if write.write_all(byte).await.is_err() {
                    return;
                }
            }
        });
        None
    } else {
        write.write_all(case.send).await.unwrap();
        if let Some((line, more)) = case.then {
            eventually(line, || hang.seen(case.prefix).iter().any(|l| l == line)).await;
            write.write_all(more).await.unwrap();
        }
        Some(write)
    };
    let (got, closed) = read_to_close(&mut read, started + GENEROUS).await;
    let took = started.elapsed();
    let got = String::from_utf8_lossy(&got).to_lowercase();

    assert!(closed, "{name}: the connection was not closed: {got:?}");
    assert!(
        (case.not_before..case.not_after).contains(&took),
        "{name}: closed after {took:?}, not within {:?}..{:?}",
        case.not_before,
        case.not_after
    );
    if case.answer.is_empty() {
        assert_eq!(got, "", "{name}");
    }
    let mut rest = got.as_str();
    for want in case.answer {
        let at = rest
            .find(want)
            .unwrap_or_else(|| panic!("{name}: no {want:?} (in order) in {got:?}"));
        rest = &rest[at + want.len()..];
    }
    for unwanted in case.absent {
        assert!(!got.contains(unwanted), "{name}: {unwanted:?} in {got:?}");
    }
    let monolith: Vec<String> = mono
        .seen()
        .iter()
        .filter(|s| s.path.starts_with(case.prefix))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(monolith, case.monolith, "{name}: the monolith received");
    assert_eq!(
        hang.seen(case.prefix),
        case.hang,
        "{name}: the hanging service received"
    );
    assert_eq!(
        chunked.seen(case.prefix),
        case.chunked,
        "{name}: the chunked service received"
    );
    assert_eq!(
        slow.seen(case.prefix),
        case.slow,
        "{name}: the slow service received"
    );
    if let Some(series) = case.counts {
        let after = metrics_when(&c, p, |m| sample(m, series) > before).await;
        assert_eq!(sample(&after, series), before + 1, "{name}: {series}");
    }
}

/// Reads until the peer closes (EOF or reset) or `deadline`; returns the
/// bytes and whether it closed.
async fn read_to_close(stream: &mut OwnedReadHalf, deadline: Instant) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// A route's own `timeouts` apply over the proxy's defaults (here: none at
/// all, so without them these requests would wait for ever; the outer
/// bound only keeps a failure from hanging the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_s_own_timeouts_apply_over_the_defaults() {
    let mono = backend("monolith").await;
    let hang = scripted(Answer::Never).await;
    let slow = scripted(Answer::Drip(SLOW_ANSWER, Duration::from_millis(250))).await;
    let dir = tempfile::tempdir().unwrap();
    let services = format!(
        "[[service]]\nname = \"hang\"\nupstream = \"http://{}\"\n  [[service.route]]\n  path = \"/quick/{{*rest}}\"\n  stage = \"live\"\n  timeouts = {{ read = \"200ms\" }}\n\n\
         [[service]]\nname = \"slow\"\nupstream = \"http://{}\"\n  [[service.route]]\n  path = \"/bounded/{{*rest}}\"\n  stage = \"live\"\n  timeouts = {{ total = \"300ms\" }}\n",
        hang.addr, slow.addr
    );
    let plan = write_plan(dir.path(), &mono.url(), &services);
    let p = proxy(plan, |c| {
        c.timeouts.read = None;
        c.timeouts.total = None;
        c.health.eject_after = 0;
    })
    .await;
    let c = client();
    let within = |what: &'static str| {
        move |r: Result<common::Answer, _>| {
            r.unwrap_or_else(|_| panic!("{what}: still waiting after {GENEROUS:?}"))
        }
    };
    // A read the service never answers falls back to the monolith...
    let a =
        within("GET")(tokio::time::timeout(GENEROUS, common::get(&c, &p.url("/quick/a"))).await);
    assert_eq!((a.status, a.body.as_str()), (200, "monolith GET /quick/a"));
    // ...a write cannot, and gets 504.
    let a = within("POST")(
        tokio::time::timeout(
            GENEROUS,
            common::send(&c, "POST", &p.url("/quick/b"), &[], ""),
        )
        .await,
    );
    assert_eq!(a.status, 504, "{}", a.body);
    assert!(hang.seen("/quick/").iter().any(|l| l == "POST /quick/b"));
    // An answer that keeps coming, slower than the route's total, is cut.
    let a = within("total")(
        tokio::time::timeout(GENEROUS, common::get(&c, &p.url("/bounded/x"))).await,
    );
    assert_ne!(a.body, "ok", "the whole slow answer came through");
    assert!(
        a.status == 504 || a.body.starts_with("monolith"),
        "{} {}",
        a.status,
        a.body
    );
}
