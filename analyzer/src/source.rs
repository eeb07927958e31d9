//! Parsed source files and the facts every pass needs about them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A problem met while analyzing: the analysis goes on without that part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    /// File, relative to the analyzed root (`/`-separated).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// What went wrong and what was skipped.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a line of a file.
    #[must_use]
    pub fn new(file: impl Into<String>, line: Option<u32>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

/// A Rust file parsed with syn, and where it sits in its crate.
#[derive(Debug)]
pub struct SourceFile {
    /// Path relative to the analyzed root, `/`-separated.
    pub rel_path: String,
    /// The crate's name as code names it (hyphens become underscores).
    pub crate_name: String,
    /// The directory holding the crate's `Cargo.toml`.
    pub crate_dir: PathBuf,
    /// The file's module path, crate name first: `["shop", "orders"]`.
    pub module: Vec<String>,
    /// The parsed file.
    pub ast: syn::File,
}

/// The 1-based line where a syntax element starts.
#[must_use]
pub fn line_of(span: proc_macro2::Span) -> u32 {
    u32::try_from(span.start().line).unwrap_or(u32::MAX)
}

/// Names functions for passes that meet a path in code (a route handler, a
/// router-building function) and need the id of the function it names.
pub trait Resolver {
    /// The id of the function that `path` (its segments, such as
    /// `["users", "get_user"]` or `["crate", "api", "router"]`) names when
    /// written inside `module` (crate name first), if that function is part
    /// of the analyzed code. Follows `use` imports (renames and globs),
    /// `self`/`super`/`crate`, and other crates of the analyzed workspace.
    fn function(&self, module: &[String], path: &[String]) -> Option<String>;

    /// The value of the string constant that `path` names when written
    /// inside `module`, if it is one of the analyzed code's (see
    /// [`crate::Consts`], which an implementation can delegate to).
    fn string_const(&self, module: &[String], path: &[String]) -> Option<String>;
}
