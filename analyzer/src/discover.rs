//! Finding the crates, Rust files and SQL files under the analyzed root.
//!
//! The walk respects `.gitignore` (the `ignore` crate) and skips Cargo
//! `target` directories. Every `.rs` file belongs to the nearest enclosing
//! Cargo package; its module path comes from its place under `src/`:
//! `src/lib.rs` and `src/main.rs` are the crate root, `src/a/mod.rs` and
//! `src/a.rs` are `crate::a`, `src/bin/x.rs` is the root of a crate `x`.
//! Tests, benches, examples and build scripts are not production code and
//! are left out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::source::Diagnostic;

/// A Rust file to parse, and where it sits.
#[derive(Debug, Clone)]
pub struct RustFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Path relative to the root, `/`-separated.
    pub rel_path: String,
    /// The crate's name as code names it.
    pub crate_name: String,
    /// The package directory.
    pub crate_dir: PathBuf,
    /// Module path, crate name first.
    pub module: Vec<String>,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Rust files in crates, sorted by relative path.
    pub rust: Vec<RustFile>,
    /// SQL files as (absolute path, relative path), sorted by relative path.
    pub sql: Vec<(PathBuf, String)>,
    /// Crate names found, sorted.
    pub crates: Vec<String>,
    /// `.rs` files outside any package's `src/` (tests, examples, scripts).
    pub skipped_rust: usize,
    /// Problems met during the walk (unreadable directories, symlink loops).
    pub diagnostics: Vec<Diagnostic>,
}

/// Walks `root` and returns its crates, Rust files and SQL files.
#[must_use]
pub fn discover(root: &Path) -> Discovered {
    let mut out = Discovered::default();
    let mut manifests: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
    let mut rust_paths = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .follow_links(true)
        .require_git(false)
        .filter_entry(|entry| {
            !(entry.file_type().is_some_and(|t| t.is_dir())
                && entry.file_name() == "target"
                && entry.path().join("CACHEDIR.TAG").exists())
        })
        .build();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let file = err_path(&err).map_or_else(String::new, |p| rel(root, &p));
                out.diagnostics.push(Diagnostic::new(
                    file,
                    None,
                    format!("skipped during the walk: {err}"),
                ));
                continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.into_path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("rs") => rust_paths.push(path),
            Some("sql") => {
                let rel_path = rel(root, &path);
                out.sql.push((path, rel_path));
            }
            Some("toml") if path.file_name().is_some_and(|n| n == "Cargo.toml") => {
                let name = package_name(&path, &mut out.diagnostics, root);
                if let Some(dir) = path.parent() {
                    manifests.insert(dir.to_owned(), name);
                }
            }
            _ => {}
        }
    }
    let mut crates = std::collections::BTreeSet::new();
    for path in rust_paths {
        let package = path
            .ancestors()
            .skip(1)
            .find_map(|dir| manifests.get(dir).map(|name| (dir.to_owned(), name)));
        let Some((dir, Some(name))) = package else {
            out.skipped_rust += 1;
            continue;
        };
        let Ok(inside) = path.strip_prefix(dir.join("src")) else {
            out.skipped_rust += 1;
            continue;
        };
        let Some((crate_name, module)) = module_path(name, inside) else {
            out.skipped_rust += 1;
            continue;
        };
        crates.insert(crate_name.clone());
        out.rust.push(RustFile {
            rel_path: rel(root, &path),
            path,
            crate_name,
            crate_dir: dir,
            module,
        });
    }
    out.rust.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    out.sql.sort_by(|a, b| a.1.cmp(&b.1));
    out.crates = crates.into_iter().collect();
    out
}

/// The crate name and module path of a file at `inside` (relative to the
/// package's `src/`), or `None` for files that are not part of a target.
fn module_path(package: &str, inside: &Path) -> Option<(String, Vec<String>)> {
    let parts: Vec<&str> = inside.iter().filter_map(|p| p.to_str()).collect();
    let (crate_name, rest): (String, &[&str]) = match parts.as_slice() {
        ["bin", file] => (file.strip_suffix(".rs")?.replace('-', "_"), &[]),
        ["bin", dir, rest @ ..] => (dir.replace('-', "_"), rest),
        _ => (package.to_owned(), parts.as_slice()),
    };
    let mut module = vec![crate_name.clone()];
    let count = rest.len();
    for (i, part) in rest.iter().enumerate() {
        if i + 1 < count {
            module.push((*part).to_owned());
            continue;
        }
        let stem = part.strip_suffix(".rs")?;
        let is_root = matches!(stem, "lib" | "main") && module.len() == 1;
        if stem != "mod" && !is_root {
            module.push(stem.to_owned());
        }
    }
    Some((crate_name, module))
}

fn package_name(manifest: &Path, diagnostics: &mut Vec<Diagnostic>, root: &Path) -> Option<String> {
    let text = match std::fs::read_to_string(manifest) {
        Ok(text) => text,
        Err(e) => {
            diagnostics.push(Diagnostic::new(
                rel(root, manifest),
                None,
                format!("cannot read: {e}"),
            ));
            return None;
        }
    };
    match text.parse::<toml::Table>() {
        Ok(table) => {
            let package = table.get("package")?.as_table()?;
            let lib_name = table
                .get("lib")
                .and_then(|l| l.get("name"))
                .and_then(toml::Value::as_str);
            let name = lib_name.or_else(|| package.get("name").and_then(toml::Value::as_str))?;
            Some(name.replace('-', "_"))
        }
        Err(e) => {
            diagnostics.push(Diagnostic::new(
                rel(root, manifest),
                None,
                format!(
                    "not valid TOML, so its Rust files are skipped: {}",
                    e.message()
                ),
            ));
            None
        }
    }
}

fn err_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            err_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

/// `path` relative to `root`, with `/` separators.
#[must_use]
pub fn rel(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::module_path;
    use std::path::Path;

    fn check(inside: &str, expect: &str) {
        let got =
            module_path("shop", Path::new(inside)).map(|(c, m)| format!("{c}: {}", m.join("::")));
        assert_eq!(got.as_deref().unwrap_or("none"), expect, "{inside}");
    }

    #[test]
    fn module_paths_follow_cargo_layout() {
        check("lib.rs", "shop: shop");
        check("main.rs", "shop: shop");
        check("orders/mod.rs", "shop: shop::orders");
        check("orders/checkout.rs", "shop: shop::orders::checkout");
        check("orders.rs", "shop: shop::orders");
        check("a/main.rs", "shop: shop::a::main");
        check("bin/tool.rs", "tool: tool");
        check("bin/my-tool/main.rs", "my_tool: my_tool");
        check("bin/my-tool/cmd.rs", "my_tool: my_tool::cmd");
        check("notes.txt", "none");
    }
}
