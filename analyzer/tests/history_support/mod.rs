//! Builds throwaway git repositories with a known history, using the `git`
//! CLI with a fixed identity, fixed dates and no user or system config.
// Each test crate uses a part of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary repository whose commits get increasing fixed dates.
pub struct Repo {
    dir: tempfile::TempDir,
    commits: u32,
}

impl Repo {
    /// `git init` in a fresh temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let repo = Self { dir, commits: 0 };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    /// The work tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the work tree and returns its stdout; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        run_git(self.path(), args, &self.date())
    }

    fn date(&self) -> String {
        // One minute apart, so "newest first" is well defined.
        format!("{} +0000", 1_700_000_000 + 60 * u64::from(self.commits))
    }

    /// Writes `path` (creating folders) with contents that differ each time.
    pub fn write(&self, path: &str, salt: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(&full, format!("{path} {salt} {}\n", self.commits)).expect("write");
    }

    /// Changes (or creates) every file in `paths` and commits them.
    pub fn change(&mut self, paths: &[&str]) {
        for path in paths {
            self.write(path, "change");
        }
        self.commit_all(&format!("change {}", paths.join(" ")));
    }

    /// Stages everything and commits.
    pub fn commit_all(&mut self, message: &str) {
        self.git(&["add", "--all"]);
        self.commit(message);
    }

    /// Commits what is staged.
    pub fn commit(&mut self, message: &str) {
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.commits += 1;
    }

    /// Merges `branch` into the current branch with a merge commit.
    pub fn merge(&mut self, branch: &str) {
        self.git(&[
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            &format!("merge {branch}"),
            branch,
        ]);
        self.commits += 1;
    }

    /// A shallow clone of this repository holding the newest `depth` commits.
    pub fn shallow_clone(&self, depth: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("file://{}", self.path().display());
        let target = dir.path().join("clone");
        run_git(
            dir.path(),
            &[
                "clone",
                "--quiet",
                "--depth",
                &depth.to_string(),
                &url,
                "clone",
            ],
            &self.date(),
        );
        (dir, target)
    }
}

fn run_git(dir: &Path, args: &[&str], date: &str) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("the git CLI must be installed to build test repositories");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Thresholds that keep every pair.
pub fn keep_all() -> strangler_analyzer::history::HistoryConfig {
    strangler_analyzer::history::HistoryConfig {
        min_revisions: 1,
        min_shared_commits: 1,
        ..Default::default()
    }
}

/// Owned pairs from string slices, for comparisons.
pub fn pairs(expected: &[(&str, &str, u32)]) -> Vec<(String, String, u32)> {
    expected
        .iter()
        .map(|&(a, b, n)| (a.to_owned(), b.to_owned(), n))
        .collect()
}
