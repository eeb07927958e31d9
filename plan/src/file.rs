//! A plan file on disk: loading it, and saving edits atomically while
//! keeping the user's comments.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use toml_edit::DocumentMut;

use crate::diagnostic::{Diagnostic, has_errors};
use crate::edit::reconcile;
use crate::load::{Parsed, parse};
use crate::model::{Plan, Route};
use crate::stage::{RouteStage, TableStage, TransitionError};
use crate::validate::validate;

/// Why a plan could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read plan {}: {source}", path.display())]
    Read {
        /// The plan file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The plan has errors, so nothing was written.
    #[error("{}", render_invalid(path, diagnostics))]
    Invalid {
        /// The plan file.
        path: PathBuf,
        /// Every problem, errors and warnings.
        diagnostics: Vec<Diagnostic>,
    },
    /// An edit moves a route or table to a stage its current one cannot
    /// reach, so nothing was written.
    #[error("{what}: {source}")]
    Transition {
        /// The route or table, as `route GET /x of service a`.
        what: String,
        /// The disallowed move.
        source: TransitionError,
    },
    /// The file changed on disk after it was loaded; writing would lose
    /// those changes, so nothing was written.
    #[error("{} changed on disk since it was loaded; reload it and apply the edit again", path.display())]
    ChangedOnDisk {
        /// The plan file.
        path: PathBuf,
    },
    /// The plan could not be turned into TOML that reads back as the same
    /// plan. This is a bug in strangler; nothing was written.
    #[error("cannot write {}: the TOML written would not read back as the same plan (a bug; please report it)", path.display())]
    RoundTrip {
        /// The plan file.
        path: PathBuf,
    },
    /// The plan watcher's thread could not be started.
    #[error("cannot watch plan {}: {source}", path.display())]
    Watch {
        /// The plan file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the file failed; the old file is untouched.
    #[error("cannot write plan {}: {source}", path.display())]
    Write {
        /// The plan file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

fn render_invalid(path: &Path, diagnostics: &[Diagnostic]) -> String {
    let file = path.display().to_string();
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let mut out = format!(
        "{file} is not a valid plan ({errors} error{}):",
        if errors == 1 { "" } else { "s" }
    );
    for d in diagnostics {
        let _ = write!(out, "\n{}", d.render(&file));
    }
    out
}

/// A plan loaded from a file, ready to be shown, checked, edited and saved.
#[derive(Debug, Clone)]
pub struct PlanFile {
    path: PathBuf,
    /// The text as loaded (or last saved), to notice changes made by others;
    /// `None` when the file does not exist yet.
    source: Option<String>,
    doc: DocumentMut,
    parsed: Parsed,
}

impl PlanFile {
    /// Reads and checks the plan at `path`.
    ///
    /// Fails only when the file cannot be read. An invalid plan loads, with
    /// its problems in [`PlanFile::diagnostics`], so it can be shown; it can
    /// not be saved over.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PlanError> {
        let path = path.as_ref().to_owned();
        let source = fs::read_to_string(&path).map_err(|source| PlanError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(Self::from_source(path, Some(source)))
    }

    /// A plan that is not on disk yet; [`PlanFile::save`] creates the file.
    /// The document starts with a comment saying what the file is.
    #[must_use]
    pub fn new(path: impl AsRef<Path>) -> Self {
        let header = "# strangler migration plan: services, their code, routes and tables, each with a stage.\n\
                      # Edit it by hand or with `strangler plan`; strangler keeps your comments when it saves.\n";
        let mut file = Self::from_source(path.as_ref().to_owned(), None);
        file.doc.decor_mut().set_prefix(header);
        file
    }

    fn from_source(path: PathBuf, source: Option<String>) -> Self {
        let text = source.as_deref().unwrap_or_default();
        let parsed = if source.is_some() {
            parse(text)
        } else {
            // A new plan starts empty and valid; `save` checks what is saved.
            Parsed {
                plan: Plan::new(crate::model::Monolith::default()),
                diagnostics: Vec::new(),
            }
        };
        // A document that does not parse is never written, so an empty one
        // stands in for it.
        let doc = text.parse::<DocumentMut>().unwrap_or_default();
        Self {
            path,
            source,
            doc,
            parsed,
        }
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plan, as far as it could be read; see [`PlanFile::is_valid`].
    #[must_use]
    pub fn plan(&self) -> &Plan {
        &self.parsed.plan
    }

    /// Every problem found, sorted by line.
    #[must_use]
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.parsed.diagnostics
    }

    /// Whether the plan has no errors.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.parsed.is_valid()
    }

    /// The diagnostics rendered as `file:line:col: error: …` lines.
    #[must_use]
    pub fn render_diagnostics(&self) -> String {
        let file = self.path.display().to_string();
        self.diagnostics()
            .iter()
            .map(|d| d.render(&file) + "\n")
            .collect()
    }

    /// Fails with [`PlanError::Invalid`] unless the plan is valid.
    pub fn ensure_valid(&self) -> Result<&Plan, PlanError> {
        if self.is_valid() {
            Ok(self.plan())
        } else {
            Err(PlanError::Invalid {
                path: self.path.clone(),
                diagnostics: self.parsed.diagnostics.clone(),
            })
        }
    }

    /// Writes `plan` to the file, keeping comments, key order and layout of
    /// everything that did not change.
    ///
    /// Nothing is written when the loaded file is invalid, when `plan` is
    /// invalid, when a stage moves in a way the migration path forbids, or
    /// when the file changed on disk since it was loaded. The write is
    /// atomic: a temporary file in the same directory, fsync, rename, fsync
    /// of the directory. Readers see the old plan or the new one, never a
    /// mix, even after a crash.
    pub fn save(&mut self, plan: &Plan) -> Result<(), PlanError> {
        self.ensure_valid()?;
        let diagnostics = validate(plan);
        if has_errors(&diagnostics) {
            return Err(PlanError::Invalid {
                path: self.path.clone(),
                diagnostics,
            });
        }
        check_transitions(self.plan(), plan)?;
        let on_disk = match fs::read_to_string(&self.path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(PlanError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        if on_disk != self.source {
            return Err(PlanError::ChangedOnDisk {
                path: self.path.clone(),
            });
        }
        let mut doc = self.doc.clone();
        reconcile(&mut doc, plan);
        let text = doc.to_string();
        let reread = parse(&text);
        if !reread.is_valid() || reread.plan != *plan {
            return Err(PlanError::RoundTrip {
                path: self.path.clone(),
            });
        }
        write_atomic(&self.path, text.as_bytes()).map_err(|source| PlanError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.source = Some(text);
        self.doc = doc;
        self.parsed = reread;
        Ok(())
    }
}

/// Checks that every route and table present in both plans moves only as
/// its stage allows.
fn check_transitions(old: &Plan, new: &Plan) -> Result<(), PlanError> {
    let routes = |plan: &Plan| -> Vec<(String, Route)> {
        plan.services
            .iter()
            .flat_map(|s| {
                s.routes
                    .iter()
                    .map(|r| (format!("{} {}", r.methods_label(), r.path), r.clone()))
            })
            .collect()
    };
    let old_routes = routes(old);
    let owned = |plan: &Plan, table: &str| {
        plan.services
            .iter()
            .flat_map(|s| &s.tables)
            .any(|t| t.name == table && t.stage == TableStage::Owned)
    };
    for (key, route) in routes(new) {
        if let Some((_, before)) = old_routes.iter().find(|(k, _)| *k == key) {
            // A route that writes tables goes live with their cutover, from
            // whatever stage it had: it could not be a canary before (its
            // writes would have reached the service's copy).
            let goes_live_with_cutover = route.stage == RouteStage::Live
                && !route.writes.is_empty()
                && route.writes.iter().all(|t| owned(new, t))
                && route.writes.iter().any(|t| !owned(old, t));
            if goes_live_with_cutover {
                continue;
            }
            before
                .stage
                .transition(route.stage)
                .map_err(|source| PlanError::Transition {
                    what: format!("route {key}"),
                    source,
                })?;
        }
    }
    for table in new.services.iter().flat_map(|s| &s.tables) {
        if let Some(before) = old
            .services
            .iter()
            .flat_map(|s| &s.tables)
            .find(|t| t.name == table.name)
        {
            before
                .stage
                .transition(table.stage)
                .map_err(|source| PlanError::Transition {
                    what: format!("table {}", table.name),
                    source,
                })?;
        }
    }
    Ok(())
}

/// Replaces the file at `path` with `bytes` atomically: readers and crashes
/// see the old content or the new, never a torn write. The new file keeps
/// the old one's permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".strangler-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    temp.write_all(bytes)?;
    if let Ok(meta) = fs::metadata(path) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the directory entry is.
    fs::File::open(&dir)?.sync_all()
}
