//! The plan watcher sees every way a plan file is changed in practice, and
//! only real changes.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use strangler_plan::PlanWatcher;

/// Long enough for a loaded machine; a change is normally seen in
/// milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

/// A watcher on `path` that counts its calls and signals each one.
fn watch(path: &Path, poll: Duration) -> (PlanWatcher, mpsc::Receiver<()>, Arc<AtomicUsize>) {
    let (tx, rx) = mpsc::channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let watcher = PlanWatcher::with_poll_interval(path, poll, move || {
        counted.fetch_add(1, Ordering::SeqCst);
        let _ = tx.send(());
    })
    .expect("the watcher starts");
    (watcher, rx, calls)
}

fn changed(rx: &mpsc::Receiver<()>, how: &str) {
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("no change seen within {DEADLINE:?} after {how}"));
}

#[test]
fn an_edit_in_place_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("strangler.toml");
    fs::write(&plan, "version = 1\n").unwrap();
    let (_watcher, rx, _) = watch(&plan, Duration::from_secs(60));
    fs::write(&plan, "version = 1\n# edited\n").unwrap();
    changed(&rx, "writing the file in place");
}

#[test]
fn an_editors_write_and_rename_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("strangler.toml");
    fs::write(&plan, "version = 1\n").unwrap();
    let (_watcher, rx, _) = watch(&plan, Duration::from_secs(60));
    let temp = dir.path().join(".strangler.toml.swp");
    fs::write(&temp, "version = 1\n# saved\n").unwrap();
    fs::rename(&temp, &plan).unwrap();
    changed(&rx, "renaming a new file over the plan");
}

/// The layout the kubelet gives a mounted `ConfigMap`, and its update: a new
/// timestamped directory, a `..data_tmp` symlink to it renamed over
/// `..data`, and the old directory removed. No event names the plan.
#[test]
fn a_kubernetes_configmap_update_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path();
    fs::create_dir(mount.join("..2026_12_02_01")).unwrap();
    fs::write(
        mount.join("..2026_12_02_01/strangler.toml"),
        "version = 1\n",
    )
    .unwrap();
    symlink("..2026_12_02_01", mount.join("..data")).unwrap();
    symlink("..data/strangler.toml", mount.join("strangler.toml")).unwrap();
    let plan = mount.join("strangler.toml");
    let (_watcher, rx, _) = watch(&plan, Duration::from_secs(60));

    fs::create_dir(mount.join("..2026_12_02_02")).unwrap();
    fs::write(
        mount.join("..2026_12_02_02/strangler.toml"),
        "version = 1\n# from the new ConfigMap\n",
    )
    .unwrap();
    symlink("..2026_12_02_02", mount.join("..data_tmp")).unwrap();
    fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    fs::remove_dir_all(mount.join("..2026_12_02_01")).unwrap();
    changed(&rx, "swapping the ConfigMap's ..data symlink");
    assert_eq!(
        fs::read_to_string(&plan).unwrap(),
        "version = 1\n# from the new ConfigMap\n"
    );
}

/// A change no event reports is still seen, by polling: the plan is a
/// symlink to a symlink in a directory nobody watches, and that middle link
/// is re-pointed.
#[test]
fn polling_sees_a_change_without_events() {
    let root = tempfile::tempdir().unwrap();
    for dir in ["links", "middle", "first", "second"] {
        fs::create_dir(root.path().join(dir)).unwrap();
    }
    fs::write(root.path().join("first/plan.toml"), "version = 1\n").unwrap();
    fs::write(
        root.path().join("second/plan.toml"),
        "version = 1\n# second\n",
    )
    .unwrap();
    symlink(
        root.path().join("first/plan.toml"),
        root.path().join("middle/plan.toml"),
    )
    .unwrap();
    let plan = root.path().join("links/plan.toml");
    symlink(root.path().join("middle/plan.toml"), &plan).unwrap();
    let (_watcher, rx, _) = watch(&plan, Duration::from_millis(100));
    fs::remove_file(root.path().join("middle/plan.toml")).unwrap();
    symlink(
        root.path().join("second/plan.toml"),
        root.path().join("middle/plan.toml"),
    )
    .unwrap();
    changed(&rx, "re-pointing a symlink in an unwatched directory");
}

/// Replaces `path` atomically, so the watcher never reads half a file.
fn replace(path: &Path, text: &str) {
    let temp = path.with_extension("tmp");
    fs::write(&temp, text).unwrap();
    fs::rename(&temp, path).unwrap();
}

/// Rewriting the same bytes, or removing the file for a moment, is not a
/// change.
#[test]
fn only_a_change_of_the_bytes_calls_back() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("strangler.toml");
    replace(&plan, "version = 1\n");
    let (watcher, rx, calls) = watch(&plan, Duration::from_millis(50));
    replace(&plan, "version = 1\n");
    fs::remove_file(&plan).unwrap();
    replace(&plan, "version = 1\n");
    replace(&plan, "version = 1\n# changed\n");
    changed(&rx, "the one real change");
    drop(watcher);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "calls for one change");
}
