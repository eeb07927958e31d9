//! The planner end to end: the real binary in tmux, driven with the keys a
//! user presses, and the plan file checked on disk afterwards.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

const FIXTURE_PLAN: &str = "fixtures/shop-monolith/strangler.toml";

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (install it: apt-get install tmux)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Waits until the screen shows `text`; fails with the screen after 20 s.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}:\n{screen}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.cmd(&["send-keys", "-t", "t", key]);
            assert!(out.status.success(), "send-keys {key}");
        }
    }

    /// Waits until the program in the session has exited.
    fn wait_exit(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.cmd(&["has-session", "-t", "t"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "did not quit:\n{}",
                self.screen()
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn move_a_member_save_and_quit_in_tmux() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("strangler.toml");
    let original = std::fs::read_to_string(FIXTURE_PLAN).expect("fixture plan");
    std::fs::write(&plan, &original).expect("copy the plan");
    let tmux = Tmux {
        socket: format!("strangler-e2e-{}", std::process::id()),
    };
    let command = format!(
        "{} plan {} --repo {}",
        env!("CARGO_BIN_EXE_strangler"),
        plan.display(),
        Path::new("fixtures/shop-monolith").display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "30",
        "-e",
        "NO_COLOR=1",
        &command,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_for("Services (4)");
    tmux.wait_for("modularity");
    // Members pane, filtered to the member (`/`, typing narrows the rows,
    // Enter keeps the filter), then move it.
    tmux.keys(&["Tab", "/", "categ", "Enter"]);
    tmux.wait_for("/categ: ");
    tmux.keys(&["m"]);
    tmux.wait_for("Move module shop::catalog::categories to");
    // The picker lists reviews, payments, orders: choose payments.
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("[modified]");
    // Esc clears the filter: the moved member is gone from catalog's tree.
    tmux.keys(&["Escape"]);
    tmux.wait_for("filter cleared");
    tmux.keys(&["w"]);
    tmux.wait_for("saved ");
    tmux.keys(&["q"]);
    tmux.wait_exit();

    let saved = std::fs::read_to_string(&plan).expect("saved plan");
    // The writer lays an array out on one line when it fits, else one
    // element per line; everything else, comments included, is untouched.
    let expected = original
        .replace(
            "members = [\n    \"shop::catalog\",\n    \"shop::catalog::categories\",\n    \"shop::catalog::pricing\",\n    \"shop::catalog::products\",\n]\n",
            "members = [\"shop::catalog\", \"shop::catalog::pricing\", \"shop::catalog::products\"]\n",
        )
        .replace(
            "members = [\"shop::payments\", \"shop::payments::gateway\"]\n",
            "members = [\n    \"shop::payments\",\n    \"shop::payments::gateway\",\n    \"shop::catalog::categories\",\n]\n",
        );
    assert_ne!(expected, original);
    assert_eq!(saved, expected, "exactly the move, comments kept");
}
