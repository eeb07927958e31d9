//! Following the plan file while a tool runs: [`PlanWatcher`] calls back
//! whenever the file's bytes change, however the change was made.
//!
//! The proxy and the sync both re-read the plan when it changes, so both
//! use this one watcher. Three ways of changing a file must all be seen:
//!
//! - an edit in place (`>>`, a tool that truncates and writes);
//! - an editor's or [`PlanFile::save`](crate::PlanFile::save)'s write to a
//!   temporary file and rename over the plan, which replaces the inode a
//!   watch on the file itself would follow;
//! - a Kubernetes `ConfigMap` update: the mounted `strangler.toml` is a
//!   symlink to `..data/strangler.toml`, and the kubelet swaps the `..data`
//!   symlink to a new directory, so no event ever names the plan itself.
//!
//! So the watcher listens (through `notify`) to every event in the plan's
//! directory, and in the directory of the file the path resolves to when
//! that differs, and on each burst re-reads the file through the path and
//! compares the bytes with the last ones it read. It also re-reads once per
//! poll interval, for file systems that send no events (NFS, some container
//! mounts). A read that fails (the file is missing for a moment) is not a
//! change; the next successful read is compared with the last good one.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

use crate::PlanError;

/// How often the file is re-read when no event arrives.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a burst of events (write, rename, symlink swap) may take to
/// settle before the file is read.
const SETTLE: Duration = Duration::from_millis(50);

/// Calls back whenever the plan file's bytes change; dropping it stops it.
///
/// ```no_run
/// let (tx, rx) = std::sync::mpsc::channel();
/// let _watcher = strangler_plan::PlanWatcher::start("strangler.toml".as_ref(), move || {
///     let _ = tx.send(());
/// })?;
/// rx.recv().ok(); // the plan changed: re-read it with `PlanFile::open`
/// # Ok::<(), strangler_plan::PlanError>(())
/// ```
pub struct PlanWatcher {
    wake: mpsc::Sender<Wake>,
    /// The directory watches; `None` when the platform gave none, and the
    /// watcher polls only.
    events: Option<notify::RecommendedWatcher>,
}

impl std::fmt::Debug for PlanWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanWatcher")
            .field("events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

/// What wakes the watcher's thread.
enum Wake {
    /// Something happened in a watched directory.
    Event,
    /// The [`PlanWatcher`] was dropped.
    Stop,
}

impl PlanWatcher {
    /// Watches `path`, polling every [`POLL_INTERVAL`] besides the events.
    ///
    /// `on_change` runs on the watcher's own thread, once per change, after
    /// the file has been read; keep it short (send on a channel).
    pub fn start(
        path: &Path,
        on_change: impl FnMut() + Send + 'static,
    ) -> Result<PlanWatcher, PlanError> {
        PlanWatcher::with_poll_interval(path, POLL_INTERVAL, on_change)
    }

    /// Like [`start`](Self::start), re-reading the file every `poll` when
    /// no event arrives.
    pub fn with_poll_interval(
        path: &Path,
        poll: Duration,
        mut on_change: impl FnMut() + Send + 'static,
    ) -> Result<PlanWatcher, PlanError> {
        let path = path.to_owned();
        let (wake, woken) = mpsc::channel();
        let events = watch_directories(&path, wake.clone());
        let mut last = std::fs::read(&path).ok();
        let thread_path = path.clone();
        thread::Builder::new()
            .name("plan watcher".into())
            .spawn(move || {
                loop {
                    match woken.recv_timeout(poll) {
                        Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                        Ok(Wake::Event) => {
                            if settle(&woken) {
                                return;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                    if let Ok(now) = std::fs::read(&thread_path)
                        && last.as_ref() != Some(&now)
                    {
                        last = Some(now);
                        on_change();
                    }
                }
            })
            .map_err(|source| PlanError::Watch { path, source })?;
        Ok(PlanWatcher { wake, events })
    }
}

impl Drop for PlanWatcher {
    fn drop(&mut self) {
        let _ = self.wake.send(Wake::Stop);
    }
}

/// Waits until no event has arrived for [`SETTLE`]; true when the watcher
/// was stopped meanwhile.
fn settle(woken: &mpsc::Receiver<Wake>) -> bool {
    let mut quiet_from = Instant::now();
    loop {
        let left = SETTLE.saturating_sub(quiet_from.elapsed());
        if left.is_zero() {
            return false;
        }
        match woken.recv_timeout(left) {
            Ok(Wake::Event) => quiet_from = Instant::now(),
            Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
    }
}

/// Watches the plan's directory and, when the path is a symlink, the
/// directory of the file it resolves to. `None` when no watch could be set
/// up: the watcher then polls only, which still sees every change, later.
fn watch_directories(path: &Path, wake: mpsc::Sender<Wake>) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        // Reading the plan is an access event in its directory; waking on it
        // would read the file again, forever.
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            let _ = wake.send(Wake::Event);
        }
    };
    let mut watcher = notify::recommended_watcher(handler).ok()?;
    let mut any = false;
    for dir in directories(path) {
        any |= watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok();
    }
    any.then_some(watcher)
}

/// The directories whose entries decide what `path` reads.
fn directories(path: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![parent(path)];
    if let Ok(target) = std::fs::canonicalize(path) {
        let dir = parent(&target);
        let same = std::fs::canonicalize(&dirs[0]).is_ok_and(|d| d == dir);
        if !same {
            dirs.push(dir);
        }
    }
    dirs
}
