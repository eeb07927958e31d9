//! The history pass on inputs that are not a full repository: clear
//! diagnostics, never a panic.

mod history_support;

use history_support::{Repo, keep_all, pairs};
use strangler_analyzer::history::{HistoryConfig, read_history};

#[test]
fn a_folder_outside_any_repository_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_history(dir.path(), &keep_all()).unwrap_err();
    assert!(
        err.message.contains("is not inside a git repository"),
        "{err:?}"
    );
    assert!(err.message.contains("without --git"), "{err:?}");
    assert_eq!(err.line, None);
}

#[test]
fn a_missing_path_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_history(&dir.path().join("nope"), &keep_all()).unwrap_err();
    assert!(
        err.message.contains("is not inside a git repository"),
        "{err:?}"
    );
}

#[test]
fn a_repository_without_commits_is_a_diagnostic() {
    let repo = Repo::new();
    let err = read_history(repo.path(), &keep_all()).unwrap_err();
    assert!(err.message.contains("has no commits yet"), "{err:?}");
}

fn five_commits() -> Repo {
    let mut repo = Repo::new();
    for _ in 0..5 {
        repo.change(&["a.rs", "b.rs"]);
    }
    repo
}

#[test]
fn a_shallow_clone_is_refused_by_default() {
    let repo = five_commits();
    let (_dir, clone) = repo.shallow_clone(2);
    let err = read_history(&clone, &keep_all()).unwrap_err();
    assert!(err.message.contains("shallow clone"), "{err:?}");
    assert!(err.message.contains("git fetch --unshallow"), "{err:?}");
}

#[test]
fn a_shallow_clone_can_be_read_up_to_its_cut() {
    let repo = five_commits();
    let (_dir, clone) = repo.shallow_clone(2);
    let config = HistoryConfig {
        allow_shallow: true,
        ..keep_all()
    };
    let history = read_history(&clone, &config).unwrap();
    // The newest commit is counted; the one at the cut has no parent to diff.
    assert_eq!(history.pairs, pairs(&[("a.rs", "b.rs", 1)]));
    assert!(history.stats.shallow);
    assert_eq!(history.stats.commits_read, 2);
    assert_eq!(history.stats.shallow_skipped, 1);
}

#[test]
fn the_full_clone_reads_everything() {
    let repo = five_commits();
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert_eq!(history.pairs, pairs(&[("a.rs", "b.rs", 5)]));
    assert!(!history.stats.shallow);
}
