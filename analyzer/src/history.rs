//! Co-change coupling from the repository's history (`--git`), read with gix.
//!
//! Two files that keep changing in the same commits are coupled even when no
//! code path connects them. This pass counts, CodeScene-style, how often each
//! pair of files changed together, and keeps the pairs above thresholds
//! ([`HistoryConfig`]). It never shells out to `git`.
//!
//! # What is read
//!
//! - **Commits:** every commit reachable from `HEAD` (all parents, not just
//!   the first), newest first by committer time, at most
//!   [`HistoryConfig::max_commits`] of them (merges included in that count).
//! - **Merges are skipped.** Their changes already appear in the commits on
//!   the merged branch; diffing a merge against its first parent would count
//!   a whole feature branch again as one big commit.
//! - **Changed files** of a commit are the tree diff against its only parent;
//!   a root commit adds all of its files. Commits that change more than
//!   [`HistoryConfig::max_files_per_commit`] files under the root (bulk moves,
//!   formatting sweeps, vendoring) are skipped.
//! - **Only files that exist at `HEAD` count**, since the result weights edges
//!   between today's code. Deleted files and the old names of renamed files
//!   are dropped.
//! - **Renames:** exact renames (a file deleted and another added with the
//!   same content in one commit, as `git mv` makes) are followed, so history
//!   from before the rename counts for the file's current path, even when the
//!   rename commit itself is skipped as bulk. A rename that also edits the
//!   file is not detected: the file's history starts again at the new path.
//! - **Subfolders:** when `root` lies inside a repository below its top (one
//!   service of a monorepo), only the tree under `root` is diffed; files
//!   outside it are ignored, paths are relative to `root`, and the bulk limit
//!   counts only files under `root`.
//! - **Shallow clones** are refused unless [`HistoryConfig::allow_shallow`] is
//!   set, because the history they hold is cut off; when allowed, the commits
//!   at the cut (whose parents are missing) are skipped.
//!
//! Paths are relative to `root` and `/`-separated; path bytes that are not
//! UTF-8 are replaced lossily.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path};

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::diff::tree::recorder::Change;
use gix::objs::TreeRefIter;
use serde::Serialize;

use crate::source::Diagnostic;

/// Thresholds for counting two files as coupled, CodeScene-style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Commits touching more files than this (under the analyzed root) are
    /// skipped (bulk renames, formatting sweeps).
    pub max_files_per_commit: usize,
    /// A file needs at least this many revisions to count.
    pub min_revisions: u32,
    /// A pair needs at least this many shared commits to count.
    pub min_shared_commits: u32,
    /// Only the newest this many commits are read (merges included).
    pub max_commits: usize,
    /// Read a shallow clone's truncated history instead of refusing it.
    pub allow_shallow: bool,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            max_files_per_commit: 30,
            min_revisions: 5,
            min_shared_commits: 3,
            max_commits: 10_000,
            allow_shallow: false,
        }
    }
}

/// The result of reading the history: coupled pairs, revision counts and
/// what was read or skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoChanges {
    /// Coupled pairs `(a, b, shared)`: paths relative to the root,
    /// `/`-separated, `a < b`, with the number of commits that changed both.
    /// Sorted by `a`, then `b`. Only pairs passing the thresholds.
    pub pairs: Vec<(String, String, u32)>,
    /// Revisions (counted commits that changed the file) of every file that
    /// exists at `HEAD` under the root and changed at least once. Together
    /// with `pairs` this gives a pair's degree of coupling,
    /// `shared / mean(revisions of a, revisions of b)`.
    pub revisions: BTreeMap<String, u32>,
    /// What was read and skipped.
    pub stats: HistoryStats,
}

/// Counts of what the history pass read and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HistoryStats {
    /// Commits taken from the walk (at most `max_commits`).
    pub commits_read: usize,
    /// Commits whose changed files were counted.
    pub commits_counted: usize,
    /// Merge commits skipped.
    pub merges_skipped: usize,
    /// Commits skipped for touching more than `max_files_per_commit` files.
    pub bulk_skipped: usize,
    /// Commits that changed no file under the root.
    pub untouched: usize,
    /// Commits at the cut of a shallow clone, skipped because their parent
    /// is missing.
    pub shallow_skipped: usize,
    /// Exact renames followed to the file's current path.
    pub renames_followed: usize,
    /// Whether more history remained after `max_commits` commits.
    pub truncated: bool,
    /// Whether the repository is a shallow clone.
    pub shallow: bool,
}

/// Pairs of files (paths relative to `root`, `/`-separated, the first
/// sorting before the second) with the number of commits that changed both.
///
/// The same as [`read_history`]`(root, config)?.pairs`.
pub fn co_changes(
    root: &Path,
    config: &HistoryConfig,
) -> Result<Vec<(String, String, u32)>, Diagnostic> {
    read_history(root, config).map(|history| history.pairs)
}

/// Reads the history of the repository holding `root` and counts co-changes
/// under `root`; see the [module documentation](self) for what is counted.
///
/// Fails with a diagnostic (file `"."`) when `root` is in no repository, the
/// repository has no commits yet, it is a shallow clone (unless allowed), or
/// an object cannot be read.
pub fn read_history(root: &Path, config: &HistoryConfig) -> Result<CoChanges, Diagnostic> {
    let Opened {
        repo,
        head_id,
        shallow_commits,
    } = open(root, config)?;
    let prefix = prefix_in_repo(&repo, root)?;
    let mut reader = Reader {
        repo: &repo,
        prefix,
        subtrees: HashMap::new(),
        state: gix::diff::tree::State::default(),
        buf: Vec::new(),
        empty: Vec::new(),
    };

    // Files at HEAD under the root: every entry the HEAD tree adds to an
    // empty one.
    let head_tree = reader.subtree(head_id)?;
    let head_files: HashSet<BString> = reader
        .diff(None, head_tree)?
        .into_iter()
        .filter_map(|change| match change {
            Change::Addition {
                entry_mode, path, ..
            } if !entry_mode.is_tree() => Some(path),
            _ => None,
        })
        .collect();

    let walk = repo
        .rev_walk([head_id])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
        ))
        .all()
        .map_err(|e| fail(format!("cannot walk the history: {e}")))?;

    let mut counter = Counter::default();
    let mut stats = HistoryStats {
        shallow: !shallow_commits.is_empty(),
        ..HistoryStats::default()
    };
    // Old path -> path at HEAD, learnt from renames in newer commits.
    let mut renamed: HashMap<BString, BString> = HashMap::new();

    for info in walk {
        if stats.commits_read == config.max_commits {
            stats.truncated = true;
            break;
        }
        let info = info.map_err(|e| fail(format!("cannot walk the history: {e}")))?;
        stats.commits_read += 1;
        let parent = match info.parent_ids.as_slice() {
            [] => None,
            [parent] => Some(*parent),
            _ => {
                stats.merges_skipped += 1;
                continue;
            }
        };
        if shallow_commits.contains(&info.id) {
            stats.shallow_skipped += 1;
            continue;
        }
        let tree = reader.subtree(info.id)?;
        let parent_tree = match parent {
            Some(parent) => reader.subtree(parent)?,
            None => None,
        };
        if tree == parent_tree {
            stats.untouched += 1;
            continue;
        }
        let diff = reader.diff(parent_tree, tree)?;
        let changed = changed_files(diff, &mut renamed, &mut stats.renames_followed);
        if changed.is_empty() {
            stats.untouched += 1;
        } else if changed.len() > config.max_files_per_commit {
            stats.bulk_skipped += 1;
        } else {
            stats.commits_counted += 1;
            counter.add_commit(changed.iter().filter(|path| head_files.contains(*path)));
        }
    }

    let (pairs, revisions) = counter.finish(config);
    tracing::debug!(?stats, pairs = pairs.len(), "read the git history");
    Ok(CoChanges {
        pairs,
        revisions,
        stats,
    })
}

/// A repository ready to be walked.
struct Opened {
    repo: gix::Repository,
    head_id: ObjectId,
    /// The commits at the cut of a shallow clone; empty for a full one.
    shallow_commits: HashSet<ObjectId>,
}

/// Opens the repository holding `root` and checks it has a full history.
fn open(root: &Path, config: &HistoryConfig) -> Result<Opened, Diagnostic> {
    let root_display = root.display();
    let mut repo = gix::discover(root).map_err(|e| {
        fail(format!(
            "{root_display} is not inside a git repository ({e}); run without --git"
        ))
    })?;
    // Trees of neighbouring commits share most subtrees; a cache saves
    // decoding them twice (once as a commit's tree, once as its child's
    // parent tree). 32 MiB was the knee on a 30k-commit repository.
    repo.object_cache_size_if_unset(32 * 1024 * 1024);

    let shallow_commits = repo
        .shallow_commits()
        .map_err(|e| fail(format!("cannot read the shallow-clone file: {e}")))?;
    if shallow_commits.is_some() && !config.allow_shallow {
        return Err(fail(format!(
            "the repository at {root_display} is a shallow clone, so its history is cut off; \
             fetch the full history (`git fetch --unshallow`) or run without --git"
        )));
    }
    let shallow_commits = shallow_commits
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default();

    let head = repo
        .head()
        .map_err(|e| fail(format!("cannot read HEAD: {e}")))?;
    if head.is_unborn() {
        return Err(fail(format!(
            "the repository at {root_display} has no commits yet, so there is no history to read"
        )));
    }
    let head_id = repo
        .head_commit()
        .map_err(|e| fail(format!("cannot read the commit at HEAD: {e}")))?
        .id;
    Ok(Opened {
        repo,
        head_id,
        shallow_commits,
    })
}

/// A diagnostic about the repository as a whole.
fn fail(message: String) -> Diagnostic {
    Diagnostic::new(".", None, message)
}

/// Where `root` lies in the repository's work tree, as path components.
fn prefix_in_repo(repo: &gix::Repository, root: &Path) -> Result<Vec<BString>, Diagnostic> {
    let Some(workdir) = repo.workdir() else {
        // A bare repository: its whole tree is the root.
        return Ok(Vec::new());
    };
    let canonical = |path: &Path| {
        std::fs::canonicalize(path)
            .map_err(|e| fail(format!("cannot resolve {}: {e}", path.display())))
    };
    let (root_abs, workdir_abs) = (canonical(root)?, canonical(workdir)?);
    let relative = root_abs.strip_prefix(&workdir_abs).map_err(|_| {
        fail(format!(
            "{} is not inside the work tree {} of its repository",
            root.display(),
            workdir.display()
        ))
    })?;
    relative
        .components()
        .map(|component| match component {
            Component::Normal(name) => Ok(BString::from(name.as_encoded_bytes())),
            _ => Err(fail(format!(
                "unexpected path component in {}",
                relative.display()
            ))),
        })
        .collect()
}

/// Reads trees under the root prefix and diffs them.
struct Reader<'repo> {
    repo: &'repo gix::Repository,
    /// The root's path in the repository, as components; empty at the top.
    prefix: Vec<BString>,
    /// Commit id -> id of its tree at the prefix (`None`: no such folder).
    subtrees: HashMap<ObjectId, Option<ObjectId>>,
    state: gix::diff::tree::State,
    buf: Vec<u8>,
    /// The empty tree's bytes.
    empty: Vec<u8>,
}

impl Reader<'_> {
    /// The id of `commit`'s tree at the prefix, if that is a folder there.
    fn subtree(&mut self, commit: ObjectId) -> Result<Option<ObjectId>, Diagnostic> {
        if let Some(known) = self.subtrees.get(&commit) {
            return Ok(*known);
        }
        let tree_id = self
            .repo
            .find_commit(commit)
            .and_then(|commit| commit.tree_id())
            .map_err(|e| fail(format!("cannot read commit {commit}: {e}")))?
            .detach();
        let subtree = if self.prefix.is_empty() {
            Some(tree_id)
        } else {
            let tree = self
                .repo
                .find_tree(tree_id)
                .map_err(|e| fail(format!("cannot read the tree of commit {commit}: {e}")))?;
            let entry = TreeRefIter::from_bytes(&tree.data, self.repo.object_hash())
                .lookup_entry(
                    &self.repo.objects,
                    &mut self.buf,
                    self.prefix.iter().map(|c| c.as_slice()),
                )
                .map_err(|e| fail(format!("cannot read the tree of commit {commit}: {e}")))?;
            entry
                .filter(|entry| entry.mode.is_tree())
                .map(|entry| entry.oid)
        };
        // Each commit is looked up about twice: as itself and as a parent.
        if self.subtrees.len() > 100_000 {
            self.subtrees.clear();
        }
        self.subtrees.insert(commit, subtree);
        Ok(subtree)
    }

    /// The changes that turn tree `old` into tree `new` (`None`: empty).
    fn diff(
        &mut self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
    ) -> Result<Vec<Change>, Diagnostic> {
        let read = |id: Option<ObjectId>| -> Result<Option<gix::Tree<'_>>, Diagnostic> {
            id.map(|id| {
                self.repo
                    .find_tree(id)
                    .map_err(|e| fail(format!("cannot read tree {id}: {e}")))
            })
            .transpose()
        };
        let (old_tree, new_tree) = (read(old)?, read(new)?);
        let hash = self.repo.object_hash();
        let old_data = old_tree
            .as_ref()
            .map_or(self.empty.as_slice(), |t| t.data.as_slice());
        let new_data = new_tree
            .as_ref()
            .map_or(self.empty.as_slice(), |t| t.data.as_slice());
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            TreeRefIter::from_bytes(old_data, hash),
            TreeRefIter::from_bytes(new_data, hash),
            &mut self.state,
            &self.repo.objects,
            &mut recorder,
        )
        .map_err(|e| fail(format!("cannot diff tree {new:?} against {old:?}: {e}")))?;
        Ok(recorder.records)
    }
}

/// The files a commit changed (no folders), under their `HEAD` paths,
/// deduplicated. Learns exact renames into `renamed` for older commits.
fn changed_files(
    changes: Vec<Change>,
    renamed: &mut HashMap<BString, BString>,
    renames_followed: &mut usize,
) -> Vec<BString> {
    let mut paths = Vec::with_capacity(changes.len());
    // Content id -> path, and how often the id was seen (renames must be
    // unambiguous: two deleted empty files do not pair up).
    let mut deleted: HashMap<ObjectId, (BString, u32)> = HashMap::new();
    let mut added: HashMap<ObjectId, (BString, u32)> = HashMap::new();
    for change in changes {
        match change {
            Change::Modification {
                entry_mode, path, ..
            } => {
                if !entry_mode.is_tree() {
                    paths.push(path);
                }
            }
            Change::Addition {
                entry_mode,
                oid,
                path,
                ..
            } => {
                if !entry_mode.is_tree() {
                    added.entry(oid).or_insert_with(|| (path.clone(), 0)).1 += 1;
                    paths.push(path);
                }
            }
            Change::Deletion {
                entry_mode,
                oid,
                path,
                ..
            } => {
                if !entry_mode.is_tree() {
                    deleted.entry(oid).or_insert_with(|| (path.clone(), 0)).1 += 1;
                    paths.push(path);
                }
            }
        }
    }
    let current = |renamed: &HashMap<BString, BString>, path: &BStr| -> BString {
        renamed
            .get(path)
            .cloned()
            .unwrap_or_else(|| path.to_owned())
    };
    let mut moved_away = HashSet::new();
    for (oid, (old, count)) in &deleted {
        if let (1, Some((new, 1))) = (*count, added.get(oid)) {
            let now = current(renamed, new.as_bstr());
            renamed.insert(old.clone(), now);
            moved_away.insert(old.clone());
            *renames_followed += 1;
        }
    }
    let mut files: Vec<BString> = paths
        .into_iter()
        .filter(|path| !moved_away.contains(path))
        .map(|path| current(renamed, path.as_bstr()))
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// A coupled pair: two paths and their shared commits.
type Pair = (String, String, u32);

/// Revisions per file and shared commits per pair, by interned file id.
#[derive(Default)]
struct Counter {
    ids: HashMap<BString, u32>,
    names: Vec<BString>,
    revisions: Vec<u32>,
    shared: HashMap<(u32, u32), u32>,
}

impl Counter {
    fn id(&mut self, path: &BString) -> u32 {
        if let Some(id) = self.ids.get(path) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(path.clone(), id);
        self.names.push(path.clone());
        self.revisions.push(0);
        id
    }

    /// Counts one commit that changed `files` (distinct paths).
    fn add_commit<'a>(&mut self, files: impl Iterator<Item = &'a BString>) {
        let ids: Vec<u32> = files.map(|path| self.id(path)).collect();
        for (i, &a) in ids.iter().enumerate() {
            if let Some(revisions) = self.revisions.get_mut(a as usize) {
                *revisions += 1;
            }
            for &b in &ids[i + 1..] {
                *self.shared.entry((a.min(b), a.max(b))).or_insert(0) += 1;
            }
        }
    }

    /// The pairs passing the thresholds, sorted, and revisions by path.
    fn finish(self, config: &HistoryConfig) -> (Vec<Pair>, BTreeMap<String, u32>) {
        let name = |id: u32| {
            self.names
                .get(id as usize)
                .map(|n| n.to_str_lossy().into_owned())
        };
        let revisions_of = |id: u32| self.revisions.get(id as usize).copied().unwrap_or(0);
        let mut pairs: Vec<Pair> = self
            .shared
            .iter()
            .filter(|&(&(a, b), &shared)| {
                shared >= config.min_shared_commits
                    && revisions_of(a) >= config.min_revisions
                    && revisions_of(b) >= config.min_revisions
            })
            .filter_map(|(&(a, b), &shared)| {
                let (a, b) = (name(a)?, name(b)?);
                Some(if a <= b {
                    (a, b, shared)
                } else {
                    (b, a, shared)
                })
            })
            .collect();
        pairs.sort_unstable();
        let revisions = self
            .names
            .iter()
            .zip(&self.revisions)
            .map(|(name, &count)| (name.to_str_lossy().into_owned(), count))
            .collect();
        (pairs, revisions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gix::objs::tree::{EntryKind, EntryMode};

    fn oid(byte: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[byte; 20])
    }

    fn blob() -> EntryMode {
        EntryKind::Blob.into()
    }

    fn added(path: &str, id: u8) -> Change {
        Change::Addition {
            entry_mode: blob(),
            oid: oid(id),
            path: path.into(),
            relation: None,
        }
    }

    fn deleted(path: &str, id: u8) -> Change {
        Change::Deletion {
            entry_mode: blob(),
            oid: oid(id),
            path: path.into(),
            relation: None,
        }
    }

    #[test]
    fn folders_are_not_files() {
        let folder = Change::Addition {
            entry_mode: EntryKind::Tree.into(),
            oid: oid(9),
            path: "src".into(),
            relation: None,
        };
        let mut renamed = HashMap::new();
        let files = changed_files(vec![folder, added("src/a.rs", 1)], &mut renamed, &mut 0);
        assert_eq!(files, [BString::from("src/a.rs")]);
    }

    #[test]
    fn an_exact_rename_maps_the_old_path_to_the_current_one() {
        // A newer commit renamed b.rs to c.rs; this one renamed a.rs to b.rs.
        let mut renamed = HashMap::from([(BString::from("b.rs"), BString::from("c.rs"))]);
        let mut followed = 0;
        let files = changed_files(
            vec![deleted("a.rs", 1), added("b.rs", 1)],
            &mut renamed,
            &mut followed,
        );
        assert_eq!(
            files,
            [BString::from("c.rs")],
            "one change, under today's name"
        );
        assert_eq!(renamed.get(BStr::new("a.rs")), Some(&BString::from("c.rs")));
        assert_eq!(followed, 1);
    }

    #[test]
    fn ambiguous_identical_contents_are_not_renames() {
        let mut renamed = HashMap::new();
        let mut followed = 0;
        let changes = vec![
            deleted("x/1", 7),
            deleted("x/2", 7),
            added("y/1", 7),
            added("y/2", 7),
        ];
        let files = changed_files(changes, &mut renamed, &mut followed);
        assert_eq!(files.len(), 4);
        assert!(renamed.is_empty());
        assert_eq!(followed, 0);
    }

    #[test]
    fn pairs_are_ordered_sorted_and_filtered() {
        let mut counter = Counter::default();
        let (z, a, m) = (BString::from("z"), BString::from("a"), BString::from("m"));
        for _ in 0..3 {
            counter.add_commit([&z, &a].into_iter());
        }
        counter.add_commit([&m, &a].into_iter());
        let config = HistoryConfig {
            min_revisions: 1,
            min_shared_commits: 1,
            ..HistoryConfig::default()
        };
        let (pairs, revisions) = counter.finish(&config);
        assert_eq!(
            pairs,
            [
                ("a".to_owned(), "m".to_owned(), 1),
                ("a".to_owned(), "z".to_owned(), 3)
            ]
        );
        assert_eq!(
            revisions.into_iter().collect::<Vec<_>>(),
            [
                ("a".to_owned(), 4),
                ("m".to_owned(), 1),
                ("z".to_owned(), 3)
            ]
        );
    }

    #[test]
    fn thresholds_apply_to_both_files_and_the_pair() {
        let mut counter = Counter::default();
        let (a, b, c) = (BString::from("a"), BString::from("b"), BString::from("c"));
        for _ in 0..2 {
            counter.add_commit([&a, &b].into_iter());
        }
        counter.add_commit([&a, &c].into_iter());
        counter.add_commit([&c].into_iter());
        let config = HistoryConfig {
            min_revisions: 2,
            min_shared_commits: 2,
            ..HistoryConfig::default()
        };
        let (pairs, _) = counter.finish(&config);
        assert_eq!(pairs, [("a".to_owned(), "b".to_owned(), 2)]);
    }
}
