//! Co-change counting on small repositories with a known history.

mod history_support;

use history_support::{Repo, keep_all, pairs};
use strangler_analyzer::history::{HistoryConfig, co_changes, read_history};

/// a,b,c added; a+b changed together 5 times; a+c twice; a bulk commit of
/// 42 files (40 new ones, a and b); c alone.
fn basic() -> Repo {
    let mut repo = Repo::new();
    repo.change(&["src/a.rs", "src/b.rs", "src/c.rs"]);
    for _ in 0..5 {
        repo.change(&["src/a.rs", "src/b.rs"]);
    }
    for _ in 0..2 {
        repo.change(&["src/a.rs", "src/c.rs"]);
    }
    let mut bulk: Vec<String> = (0..40).map(|i| format!("bulk/f{i:02}.rs")).collect();
    bulk.extend(["src/a.rs".to_owned(), "src/b.rs".to_owned()]);
    repo.change(&bulk.iter().map(String::as_str).collect::<Vec<_>>());
    repo.change(&["src/c.rs"]);
    repo
}

#[test]
fn counts_pairs_and_revisions_and_skips_bulk_commits() {
    let repo = basic();
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert_eq!(
        history.pairs,
        pairs(&[
            ("src/a.rs", "src/b.rs", 6),
            ("src/a.rs", "src/c.rs", 3),
            ("src/b.rs", "src/c.rs", 1)
        ])
    );
    let revisions: Vec<(&str, u32)> = history
        .revisions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        revisions,
        [("src/a.rs", 8), ("src/b.rs", 6), ("src/c.rs", 4)]
    );
    let stats = &history.stats;
    assert_eq!(stats.commits_read, 10);
    assert_eq!(stats.commits_counted, 9);
    assert_eq!(stats.bulk_skipped, 1);
    assert_eq!(stats.merges_skipped, 0);
    assert!(!stats.truncated && !stats.shallow);
}

#[test]
fn thresholds_filter_files_and_pairs() {
    let repo = basic();
    // The defaults: 5 revisions, 3 shared commits. c has only 4 revisions.
    assert_eq!(
        co_changes(repo.path(), &HistoryConfig::default()).unwrap(),
        pairs(&[("src/a.rs", "src/b.rs", 6)])
    );
    let config = HistoryConfig {
        min_revisions: 4,
        ..HistoryConfig::default()
    };
    assert_eq!(
        co_changes(repo.path(), &config).unwrap(),
        pairs(&[("src/a.rs", "src/b.rs", 6), ("src/a.rs", "src/c.rs", 3)])
    );
    let config = HistoryConfig {
        min_revisions: 1,
        min_shared_commits: 2,
        ..HistoryConfig::default()
    };
    assert_eq!(
        co_changes(repo.path(), &config).unwrap(),
        pairs(&[("src/a.rs", "src/b.rs", 6), ("src/a.rs", "src/c.rs", 3)])
    );
}

#[test]
fn a_higher_bulk_limit_counts_the_bulk_commit() {
    let repo = basic();
    let config = HistoryConfig {
        max_files_per_commit: 42,
        ..keep_all()
    };
    let history = read_history(repo.path(), &config).unwrap();
    assert_eq!(history.stats.bulk_skipped, 0);
    // Every pair of the 42 files in the bulk commit, plus a-c and b-c.
    assert_eq!(history.pairs.len(), 42 * 41 / 2 + 2);
    assert!(
        history
            .pairs
            .contains(&("bulk/f07.rs".to_owned(), "src/b.rs".to_owned(), 1))
    );
    let config = HistoryConfig {
        min_revisions: 2,
        ..config
    };
    assert_eq!(
        co_changes(repo.path(), &config).unwrap(),
        pairs(&[
            ("src/a.rs", "src/b.rs", 7),
            ("src/a.rs", "src/c.rs", 3),
            ("src/b.rs", "src/c.rs", 1)
        ])
    );
}

#[test]
fn max_commits_reads_only_the_newest() {
    let repo = basic();
    let config = HistoryConfig {
        max_commits: 3,
        ..keep_all()
    };
    // c alone, the bulk commit (skipped), then a+c.
    let history = read_history(repo.path(), &config).unwrap();
    assert_eq!(history.pairs, pairs(&[("src/a.rs", "src/c.rs", 1)]));
    assert_eq!(history.stats.commits_read, 3);
    assert!(history.stats.truncated);
    let config = HistoryConfig {
        max_commits: 10,
        ..keep_all()
    };
    let history = read_history(repo.path(), &config).unwrap();
    assert_eq!(history.stats.commits_read, 10);
    assert!(
        !history.stats.truncated,
        "exactly all commits read is not truncated"
    );
}

#[test]
fn merge_commits_are_skipped_and_branch_commits_counted_once() {
    let mut repo = Repo::new();
    repo.change(&["a.rs", "b.rs", "c.rs"]);
    repo.change(&["a.rs", "b.rs"]);
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.change(&["a.rs", "c.rs"]);
    repo.change(&["a.rs", "c.rs"]);
    repo.git(&["checkout", "--quiet", "main"]);
    repo.change(&["b.rs"]);
    repo.merge("feature");
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert_eq!(
        history.pairs,
        pairs(&[
            ("a.rs", "b.rs", 2),
            ("a.rs", "c.rs", 3),
            ("b.rs", "c.rs", 1)
        ])
    );
    assert_eq!(history.stats.commits_read, 6);
    assert_eq!(history.stats.merges_skipped, 1);
    assert_eq!(history.stats.commits_counted, 5);
}

#[test]
fn exact_renames_carry_history_to_the_new_path() {
    let mut repo = Repo::new();
    repo.change(&["a.rs", "b.rs"]);
    repo.change(&["a.rs", "b.rs"]);
    repo.change(&["a.rs", "b.rs"]);
    std::fs::create_dir(repo.path().join("moved")).unwrap();
    repo.git(&["mv", "a.rs", "moved/a.rs"]);
    repo.commit("rename a");
    repo.change(&["moved/a.rs", "b.rs"]);
    repo.change(&["moved/a.rs", "b.rs"]);
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert_eq!(history.pairs, pairs(&[("b.rs", "moved/a.rs", 5)]));
    assert_eq!(
        history.revisions.get("moved/a.rs"),
        Some(&6),
        "the rename is a revision too"
    );
    assert_eq!(history.revisions.get("a.rs"), None);
    assert_eq!(history.stats.renames_followed, 1);
}

#[test]
fn a_rename_with_edits_starts_the_history_over() {
    let mut repo = Repo::new();
    repo.change(&["a.rs", "b.rs"]);
    repo.change(&["a.rs", "b.rs"]);
    repo.git(&["mv", "a.rs", "c.rs"]);
    repo.write("c.rs", "edited");
    repo.commit_all("rename and edit a");
    repo.change(&["c.rs", "b.rs"]);
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert_eq!(history.pairs, pairs(&[("b.rs", "c.rs", 1)]));
    assert_eq!(history.revisions.get("c.rs"), Some(&2));
    assert_eq!(history.stats.renames_followed, 0);
}

#[test]
fn a_bulk_move_is_skipped_but_its_renames_are_followed() {
    let mut repo = Repo::new();
    let files: Vec<String> = (0..40).map(|i| format!("old/f{i:02}.rs")).collect();
    repo.change(&files.iter().map(String::as_str).collect::<Vec<_>>());
    for _ in 0..3 {
        repo.change(&["old/f00.rs", "old/f01.rs"]);
    }
    repo.git(&["mv", "old", "new"]);
    repo.commit("move old to new");
    repo.change(&["new/f00.rs", "new/f01.rs"]);
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert_eq!(history.pairs, pairs(&[("new/f00.rs", "new/f01.rs", 4)]));
    assert_eq!(
        history.stats.bulk_skipped, 2,
        "the root commit and the move"
    );
    assert_eq!(history.stats.renames_followed, 40);
}

#[test]
fn files_deleted_since_are_dropped() {
    let mut repo = Repo::new();
    repo.change(&["a.rs", "b.rs", "d.rs"]);
    for _ in 0..3 {
        repo.change(&["a.rs", "d.rs"]);
    }
    repo.git(&["rm", "--quiet", "d.rs"]);
    repo.commit("delete d");
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert_eq!(history.pairs, pairs(&[("a.rs", "b.rs", 1)]));
    assert_eq!(
        history.revisions.keys().collect::<Vec<_>>(),
        ["a.rs", "b.rs"]
    );
}

/// A monorepo: `svc/` is analyzed, `other/` is someone else's.
fn monorepo() -> Repo {
    let mut repo = Repo::new();
    repo.change(&["svc/a.rs", "svc/b.rs", "other/x.rs", "top.md"]);
    for _ in 0..3 {
        repo.change(&["svc/a.rs", "svc/b.rs", "other/x.rs"]);
    }
    repo.change(&["svc/a.rs", "other/x.rs"]);
    // 41 files, but only one under svc/.
    let mut bulk: Vec<String> = (0..40).map(|i| format!("other/gen{i:02}.rs")).collect();
    bulk.push("svc/b.rs".to_owned());
    repo.change(&bulk.iter().map(String::as_str).collect::<Vec<_>>());
    repo.change(&["svc/inner/c.rs", "svc/a.rs"]);
    repo.change(&["other/x.rs"]);
    repo
}

#[test]
fn a_subfolder_root_sees_only_its_files_relative_to_itself() {
    let repo = monorepo();
    let history = read_history(&repo.path().join("svc"), &keep_all()).unwrap();
    assert_eq!(
        history.pairs,
        pairs(&[("a.rs", "b.rs", 4), ("a.rs", "inner/c.rs", 1)])
    );
    let revisions: Vec<(&str, u32)> = history
        .revisions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(revisions, [("a.rs", 6), ("b.rs", 5), ("inner/c.rs", 1)]);
    let stats = &history.stats;
    assert_eq!(stats.commits_read, 8);
    assert_eq!(
        stats.bulk_skipped, 0,
        "only files under the root count towards the bulk limit"
    );
    assert_eq!(stats.untouched, 1);
    assert_eq!(stats.commits_counted, 7);
}

#[test]
fn a_folder_that_appeared_late_has_history_only_since() {
    let repo = monorepo();
    let history = read_history(&repo.path().join("svc/inner"), &keep_all()).unwrap();
    assert!(history.pairs.is_empty());
    assert_eq!(
        history.revisions.into_iter().collect::<Vec<_>>(),
        [("c.rs".to_owned(), 1)]
    );
    assert_eq!(history.stats.commits_counted, 1);
    assert_eq!(history.stats.untouched, 7);
}

#[test]
fn the_top_of_a_monorepo_sees_everything() {
    let repo = monorepo();
    let history = read_history(repo.path(), &keep_all()).unwrap();
    assert!(
        history
            .pairs
            .contains(&("other/x.rs".to_owned(), "svc/a.rs".to_owned(), 5))
    );
    assert!(
        history
            .pairs
            .contains(&("svc/a.rs".to_owned(), "svc/b.rs".to_owned(), 4))
    );
    assert_eq!(
        history.revisions.get("svc/b.rs"),
        Some(&4),
        "the bulk commit is skipped here"
    );
    assert_eq!(history.stats.bulk_skipped, 1);
    // Sorted and each pair ordered.
    assert!(history.pairs.windows(2).all(|w| w[0] < w[1]));
    assert!(history.pairs.iter().all(|(a, b, _)| a < b));
}
