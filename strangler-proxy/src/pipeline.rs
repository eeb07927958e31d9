//! Shadow copies to plaintext services over long-lived, pipelined HTTP/1.1
//! connections ("lanes"): as few as the service's speed allows.
//!
//! Sending each copy on its own pooled connection costs a write, a read and
//! a task per copy, as much kernel work as the request it copies. A lane
//! instead takes every copy queued since its last round, writes them in one
//! go and reads the answers in order (HTTP/1.1 pipelining), so under load a
//! round carries many copies for the same few system calls; when idle a
//! round is a single copy and nothing waits. Copies written behind an answer
//! that announced the close (`Connection: close`, or a body that runs to the
//! close) were not read by the service and go again on a fresh connection.
//! When the connection closes without an answer and without notice, the
//! service may have read the copies: idempotent ones (GET, HEAD, OPTIONS,
//! PUT, DELETE, TRACE) are sent again, once, and the others fail, so a write
//! never reaches the service twice. A kept connection idle for 2 s is
//! replaced before use, so a service's idle timeout rarely cuts a round.
//!
//! This file schedules: which lane takes a copy, the rounds, and what is
//! sent again. Reading the answers (only the status is kept; the body is
//! skipped) is HTTP/1.1 framing, in [`crate::http1`]. TLS services keep the
//! pingora client path in `shadow`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::http1::{Capture, Conn, ReadError, Reply};

/// Copies written in one round at most.
const MAX_ROUND: usize = 64;

/// A kept connection idle longer than this is replaced by a fresh one.
/// Servers close idle connections after 5 s or more (nginx 75 s, hyper
/// and Go none by default), so 2 s stays clear of their timers.
const MAX_IDLE: Duration = Duration::from_secs(2);

/// What became of one copy at the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The service answered (with the headers and body when captured).
    Reply(Reply),
    /// The copy could not be sent or the answer was broken.
    Failed,
    /// No answer within the shadow timeout.
    TimedOut,
}

#[cfg(test)]
impl Answer {
    /// An answer of which only the status is known.
    #[must_use]
    pub fn status(code: u16) -> Self {
        Answer::Reply(Reply::bare(code))
    }
}

/// One copy, serialised, with what to do with its answer.
pub struct Job {
    /// The request as it goes on the wire: head and body.
    pub request: Bytes,
    /// A `HEAD` request: the answer has no body.
    pub head_only: bool,
    /// The method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE):
    /// the copy may be sent again when its connection closed without an
    /// answer. Other copies are never sent twice, since the service may
    /// have acted on the first one.
    pub idempotent: bool,
    /// What of the answer to keep for a comparison.
    pub capture: Option<Capture>,
    /// Called once with the answer.
    pub done: Box<dyn FnOnce(Answer) + Send>,
    retried: bool,
    lane: Option<Arc<LaneState>>,
}

impl Job {
    /// A copy ready to queue.
    #[must_use]
    pub fn new(
        request: Bytes,
        head_only: bool,
        idempotent: bool,
        capture: Option<Capture>,
        done: Box<dyn FnOnce(Answer) + Send>,
    ) -> Self {
        Self {
            request,
            head_only,
            idempotent,
            capture,
            done,
            retried: false,
            lane: None,
        }
    }

    fn finish(self, answer: Answer) {
        if let Some(lane) = &self.lane {
            lane.pending.fetch_sub(1, Ordering::Relaxed);
        }
        (self.done)(answer);
    }
}

/// A lane whose round has run this long without an answer is considered
/// held up by a slow service: new copies go to another lane.
const SPILL_AFTER: Duration = Duration::from_millis(1);

/// What the dispatcher knows of a lane.
#[derive(Debug, Default)]
struct LaneState {
    /// Microseconds since [`LaneConfig::epoch`] (plus one) when the running round
    /// started; 0 when the lane waits for copies.
    busy_since: AtomicU64,
    /// Copies queued or in flight.
    pending: AtomicUsize,
}

#[derive(Debug)]
struct Lane {
    tx: mpsc::UnboundedSender<Job>,
    state: Arc<LaneState>,
}

/// Where lanes are started, and with what.
#[derive(Debug)]
struct LaneConfig {
    addr: SocketAddr,
    connect: Duration,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
    epoch: Instant,
}

/// The lanes to one service: started on demand, up to a maximum.
///
/// A copy goes to the first lane that waits or whose round started less
/// than [`SPILL_AFTER`] ago, so with a fast service one lane carries
/// everything in large rounds; a slow service holds rounds up, and copies
/// spill over to more lanes (more connections, more concurrency at the
/// service). With every lane held up, the one with the fewest copies
/// pending takes it.
#[derive(Debug)]
pub struct Lanes {
    slots: Vec<OnceLock<Lane>>,
    started: AtomicUsize,
    config: LaneConfig,
}

impl Lanes {
    /// Lanes to `addr`, at most `max`, run as tasks on the current tokio
    /// runtime (`None` outside one). Each copy may take `timeout` from the
    /// moment it is written.
    #[must_use]
    pub fn start(
        addr: SocketAddr,
        max: usize,
        connect: Duration,
        timeout: Duration,
    ) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(Self {
            slots: (0..max.max(1)).map(|_| OnceLock::new()).collect(),
            started: AtomicUsize::new(0),
            config: LaneConfig {
                addr,
                connect,
                timeout,
                runtime,
                epoch: Instant::now(),
            },
        })
    }

    /// Queues a copy; never waits.
    pub fn send(&self, mut job: Job) {
        let lane = self.pick();
        lane.state.pending.fetch_add(1, Ordering::Relaxed);
        job.lane = Some(lane.state.clone());
        if let Err(mpsc::error::SendError(job)) = lane.tx.send(job) {
            // The lane's runtime is gone (the server is stopping).
            job.finish(Answer::Failed);
        }
    }

    fn pick(&self) -> &Lane {
        let now = micros_since(self.config.epoch);
        let spill = u64::try_from(SPILL_AFTER.as_micros()).unwrap_or(u64::MAX);
        let started = self.started.load(Ordering::Acquire);
        let mut least: Option<&Lane> = None;
        for lane in self.slots.iter().take(started).filter_map(OnceLock::get) {
            let busy = lane.state.busy_since.load(Ordering::Relaxed);
            if busy == 0 || now.saturating_sub(busy) < spill {
                return lane;
            }
            if least.is_none_or(|l| {
                lane.state.pending.load(Ordering::Relaxed) < l.state.pending.load(Ordering::Relaxed)
            }) {
                least = Some(lane);
            }
        }
        match (self.slots.get(started), least) {
            (Some(slot), _) => {
                let lane = slot.get_or_init(|| self.spawn());
                let _ = self.started.compare_exchange(
                    started,
                    started + 1,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                lane
            }
            (None, Some(lane)) => lane,
            // `max` is at least one, so a lane exists once one was started.
            (None, None) => self.slots[0].get_or_init(|| self.spawn()),
        }
    }

    fn spawn(&self) -> Lane {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(LaneState::default());
        let c = &self.config;
        c.runtime.spawn(run(
            c.addr,
            c.connect,
            c.timeout,
            c.epoch,
            state.clone(),
            rx,
        ));
        Lane { tx, state }
    }
}

/// Microseconds since `epoch`, plus one (0 means idle).
fn micros_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1
}

/// One lane: rounds of pipelined copies on one connection at a time.
async fn run(
    addr: SocketAddr,
    connect: Duration,
    timeout: Duration,
    epoch: Instant,
    state: Arc<LaneState>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut kept: Option<Kept> = None;
    let mut again: VecDeque<Job> = VecDeque::new();
    loop {
        state.busy_since.store(0, Ordering::Relaxed);
        let mut round: Vec<Job> = again.drain(..).collect();
        if round.is_empty() {
            match rx.recv().await {
                Some(job) => round.push(job),
                None => return,
            }
        }
        state
            .busy_since
            .store(micros_since(epoch), Ordering::Relaxed);
        while round.len() < MAX_ROUND {
            match rx.try_recv() {
                Ok(job) => round.push(job),
                Err(_) => break,
            }
        }
        // A connection idle for a while may be closing at the service's end
        // right now; a fresh one spares the copies an unanswered round.
        let fresh = kept.take().filter(|k| k.last_used.elapsed() < MAX_IDLE);
        let c = match fresh {
            Some(k) => Some(k.conn),
            None => Conn::connect(addr, connect).await,
        };
        let Some(mut c) = c else {
            for job in round {
                job.finish(Answer::Failed);
            }
            continue;
        };
        let total: usize = round.iter().map(|j| j.request.len()).sum();
        let mut out = BytesMut::with_capacity(total);
        for job in &round {
            out.extend_from_slice(&job.request);
        }
        let written = tokio::time::timeout(timeout, c.write(&out)).await;
        if !matches!(written, Ok(Ok(()))) {
            // Most likely a kept connection the service had closed.
            retry_or_fail(round, &mut again);
            continue;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut jobs = round.into_iter();
        let mut reusable = true;
        let mut answered = 0usize;
        while let Some(job) = jobs.next() {
            let read = tokio::time::timeout_at(
                deadline,
                c.read_response(job.head_only, job.capture.as_ref()),
            )
            .await;
            match read {
                Ok(Ok((reply, keep))) => {
                    answered += 1;
                    job.finish(Answer::Reply(reply));
                    if !keep {
                        // The service announced the close: the copies after
                        // this one were not processed; not their failure.
                        reusable = false;
                        again.extend(jobs);
                        break;
                    }
                }
                Ok(Err(ReadError::Closed)) => {
                    // Closed without an answer and without announcing it
                    // (after earlier answers, or a kept connection the
                    // service had dropped): the service may or may not have
                    // read these copies.
                    reusable = false;
                    unanswered(std::iter::once(job).chain(jobs), answered > 0, &mut again);
                    break;
                }
                Ok(Err(ReadError::Broken)) => {
                    reusable = false;
                    job.finish(Answer::Failed);
                    retry_or_fail(jobs, &mut again);
                    break;
                }
                Err(_) => {
                    reusable = false;
                    job.finish(Answer::TimedOut);
                    for job in jobs.by_ref() {
                        job.finish(Answer::TimedOut);
                    }
                    break;
                }
            }
        }
        if reusable {
            kept = Some(Kept {
                conn: c,
                last_used: Instant::now(),
            });
        }
    }
}

/// Sends idempotent copies that got no answer once more; a second time they
/// fail. Other copies fail at once: the service may have acted on them.
/// Copies left unanswered by a close without notice. After progress
/// (earlier answers on the connection) idempotent copies go again without
/// using up their one retry and the others fail; otherwise each gets its
/// one retry.
fn unanswered(rest: impl IntoIterator<Item = Job>, progress: bool, again: &mut VecDeque<Job>) {
    if !progress {
        retry_or_fail(rest, again);
        return;
    }
    for job in rest {
        if job.idempotent {
            again.push_back(job);
        } else {
            job.finish(Answer::Failed);
        }
    }
}

fn retry_or_fail(jobs: impl IntoIterator<Item = Job>, again: &mut VecDeque<Job>) {
    for mut job in jobs {
        if job.retried || !job.idempotent {
            job.finish(Answer::Failed);
        } else {
            job.retried = true;
            again.push_back(job);
        }
    }
}

/// A connection kept between rounds.
struct Kept {
    conn: Conn,
    /// When the last round on it ended.
    last_used: Instant,
}

#[cfg(test)]
mod tests {
    use bytes::Buf as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A server that answers each request by its path, over as many
    /// connections as it is given: `/continue` a 100 then 200, `/chunked`
    /// a chunked 201 with a trailer, `/close` a 202 and a close (dropping
    /// what else was pipelined), `/eof` an HTTP/1.0 body up to the close,
    /// `/quiet-close` a 203 and a close it did not announce, anything
    /// else 204.
    async fn scripted_server() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = BytesMut::new();
                    while let Some(head) = next_head(&mut stream, &mut buf).await {
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.parse().unwrap());
                        while buf.len() < len {
                            stream.read_buf(&mut buf).await.unwrap();
                        }
                        buf.advance(len);
                        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                        let (answer, close): (&[u8], bool) = match path.as_str() {
                            "/continue" => (
                                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                                false,
                            ),
                            "/chunked" => (
                                b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n",
                                false,
                            ),
                            "/close" => (
                                b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                                true,
                            ),
                            "/eof" => (b"HTTP/1.0 200 OK\r\n\r\nthe body runs to the close", true),
                            "/quiet-close" => (b"HTTP/1.1 203 OK\r\nContent-Length: 0\r\n\r\n", true),
                            _ => (b"HTTP/1.1 204 No Content\r\n\r\n", false),
                        };
                        stream.write_all(answer).await.unwrap();
                        if close {
                            let _ = stream.shutdown().await;
                            let mut sink = [0u8; 1024];
                            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    /// Reads up to the end of the next request head and takes the head out
    /// of `buf`; `None` when the client closed first.
    async fn next_head(stream: &mut tokio::net::TcpStream, buf: &mut BytesMut) -> Option<String> {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.advance(end + 4);
                return Some(head);
            }
            if matches!(stream.read_buf(buf).await, Ok(0) | Err(_)) {
                return None;
            }
        }
    }

    fn request(path: &str, body: &str) -> Bytes {
        request_with("PUT", path, body)
    }

    fn request_with(method: &str, path: &str, body: &str) -> Bytes {
        Bytes::from(format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    #[tokio::test]
    async fn pipelined_answers_are_read_in_order_and_unanswered_copies_sent_again() {
        let addr = scripted_server().await;
        let lanes = Lanes::start(addr, 1, Duration::from_secs(5), Duration::from_secs(30)).unwrap();
        let paths = [
            "/continue",
            "/chunked",
            "/close",
            "/after1",
            "/after2",
            "/eof",
            "/quiet-close",
            "/quiet-close",
            "/last",
        ];
        let mut answers = Vec::new();
        for path in paths {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let done = Box::new(move |answer: Answer| {
                let _ = tx.send(answer);
            });
            lanes.send(Job::new(request(path, "payload"), false, true, None, done));
            answers.push(rx);
        }
        let mut got = Vec::new();
        for (path, rx) in paths.iter().zip(answers) {
            got.push((*path, rx.await.unwrap()));
        }
        assert_eq!(
            got,
            [
                ("/continue", Answer::status(200)),
                ("/chunked", Answer::status(201)),
                ("/close", Answer::status(202)),
                ("/after1", Answer::status(204)),
                ("/after2", Answer::status(204)),
                ("/eof", Answer::status(200)),
                ("/quiet-close", Answer::status(203)),
                ("/quiet-close", Answer::status(203)),
                ("/last", Answer::status(204)),
            ]
        );
    }

    #[tokio::test]
    async fn a_write_is_never_sent_twice() {
        // An announced close (`Connection: close`) means the copies behind
        // it were not read, so they go again on a fresh connection. Then the
        // service answers a POST and closes without a word, so it may have
        // read the next one: that copy fails rather than reach it twice.
        let addr = scripted_server().await;
        let lanes = Lanes::start(addr, 1, Duration::from_secs(5), Duration::from_secs(30)).unwrap();
        let paths = ["/close", "/after1", "/quiet-close", "/quiet-close"];
        let mut answers = Vec::new();
        for path in paths {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let done = Box::new(move |answer: Answer| {
                let _ = tx.send(answer);
            });
            lanes.send(Job::new(
                request_with("POST", path, "w"),
                false,
                false,
                None,
                done,
            ));
            answers.push(rx);
        }
        let mut got = Vec::new();
        for rx in answers {
            got.push(rx.await.unwrap());
        }
        assert_eq!(
            got,
            [
                Answer::status(202),
                Answer::status(204),
                Answer::status(203),
                Answer::Failed,
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_service_gets_copies_on_more_connections() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (seen_tx, mut seen) = mpsc::unbounded_channel::<String>();
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let seen_tx = seen_tx.clone();
                tokio::spawn(async move {
                    let mut buf = BytesMut::new();
                    while let Some(head) = next_head(&mut stream, &mut buf).await {
                        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                        let _ = seen_tx.send(path.clone());
                        if path == "/slow" {
                            // Holds the lane's round far longer than the spill time.
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let lanes = Lanes::start(addr, 8, Duration::from_secs(5), Duration::from_secs(30)).unwrap();
        let send = |path: &str| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let request = Bytes::from(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n"));
            lanes.send(Job::new(
                request,
                false,
                true,
                None,
                Box::new(move |a| {
                    let _ = tx.send(a);
                }),
            ));
            rx
        };
        let slow = send("/slow");
        assert_eq!(seen.recv().await.as_deref(), Some("/slow"));
        // The lane counts as held up once its round is older than the spill
        // time; the round lasts the server's 2 s.
        let lane = &lanes.slots[0].get().unwrap().state;
        let spill = u64::try_from(SPILL_AFTER.as_micros()).unwrap();
        while micros_since(lanes.config.epoch)
            .saturating_sub(lane.busy_since.load(Ordering::Relaxed))
            <= spill
        {
            tokio::task::yield_now().await;
        }
        let fast = send("/fast");
        assert_eq!(fast.await.unwrap(), Answer::status(200));
        assert_eq!(slow.await.unwrap(), Answer::status(200));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unreachable_service_fails_the_copy() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let lanes = Lanes::start(addr, 2, Duration::from_secs(5), Duration::from_secs(30)).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        lanes.send(Job::new(
            request("/x", ""),
            false,
            true,
            None,
            Box::new(move |a| {
                let _ = tx.send(a);
            }),
        ));
        assert_eq!(rx.await.unwrap(), Answer::Failed);
    }
}
