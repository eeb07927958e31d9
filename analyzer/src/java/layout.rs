//! Finding a Java project's files: Maven and Gradle layouts, multi-module
//! builds, and the resources the other passes read.
//!
//! The walk respects `.gitignore` and skips build output (`target/`,
//! `build/`, `.gradle/`). Production code is every `.java` file under a
//! `src/main/java/` directory; a tree with none (an Ant or IDE layout) has
//! every `.java` file outside test directories as production code. Files
//! under `src/test/` (or a `test/` directory) are counted and skipped. The
//! modules `pom.xml` (`<modules>`, recursively) and `settings.gradle`
//! (`include`) declare are read so a missing or unreadable module is a
//! diagnostic; the walk itself finds every module's sources.

use std::path::{Path, PathBuf};

use super::xml;
use crate::source::Diagnostic;

/// The files of a Java project.
#[derive(Debug, Default)]
pub struct Layout {
    /// Production `.java` files as (absolute, relative) paths, sorted.
    pub java: Vec<(PathBuf, String)>,
    /// Test `.java` files (counted, not analyzed).
    pub test_java: usize,
    /// `.java` files outside `src/main/java` in a Maven/Gradle layout.
    pub outside_java: usize,
    /// `.sql` files, in the order they apply (Flyway versions numerically).
    pub sql: Vec<(PathBuf, String)>,
    /// `.xml` files outside build output and tests (mappers, `web.xml`).
    pub xml: Vec<(PathBuf, String)>,
    /// `application*.properties` / `application*.yml` files.
    pub config: Vec<(PathBuf, String)>,
    /// YAML and JSON files whose path names a changelog (Liquibase).
    pub changelog_text: Vec<(PathBuf, String)>,
    /// Modules the build files declare, as directories relative to the root.
    pub modules: Vec<String>,
    /// `Cargo.toml` files met: a tree with one may hold Rust crates, which
    /// the Rust front end looks for first.
    pub cargo_manifests: usize,
    /// Problems met.
    pub diagnostics: Vec<Diagnostic>,
}

/// Whether `root` looks like a Java project: a Maven or Gradle build file,
/// or a `src/main/java` directory, at the top.
#[must_use]
pub fn is_java_project(root: &Path) -> bool {
    [
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "settings.gradle.kts",
        "src/main/java",
    ]
    .iter()
    .any(|f| root.join(f).exists())
}

/// Walks `root`.
#[must_use]
pub fn discover(root: &Path) -> Layout {
    let mut out = Layout::default();
    let mut java = Vec::new();
    for entry in walk(root) {
        let path = match entry {
            Ok(path) => path,
            Err(err) => {
                out.diagnostics.push(Diagnostic::new(
                    String::new(),
                    None,
                    format!("skipped during the walk: {err}"),
                ));
                continue;
            }
        };
        let rel = rel(root, &path);
        let test = is_test(&rel);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("java") if test => out.test_java += 1,
            Some("java") => java.push((path, rel)),
            Some("sql") if !test => out.sql.push((path, rel)),
            Some("xml") if !test && name != "pom.xml" => out.xml.push((path, rel)),
            Some("properties" | "yml" | "yaml") if !test && name.starts_with("application") => {
                out.config.push((path, rel));
            }
            Some("yml" | "yaml" | "json") if !test && rel.to_lowercase().contains("changelog") => {
                out.changelog_text.push((path, rel));
            }
            Some("toml") if name == "Cargo.toml" => out.cargo_manifests += 1,
            _ => {}
        }
    }
    let maven = java.iter().any(|(_, r)| in_main_java(r));
    for (path, rel) in java {
        if !maven || in_main_java(&rel) {
            out.java.push((path, rel));
        } else {
            out.outside_java += 1;
        }
    }
    out.java.sort_by(|a, b| a.1.cmp(&b.1));
    out.xml.sort_by(|a, b| a.1.cmp(&b.1));
    out.config.sort_by(|a, b| a.1.cmp(&b.1));
    out.changelog_text.sort_by(|a, b| a.1.cmp(&b.1));
    out.sql.sort_by_key(|a| sql_order(&a.1));
    read_modules(root, "", &mut out, 0);
    read_gradle_modules(root, &mut out);
    out.modules.sort();
    out.modules.dedup();
    out
}

/// Every file under `root` (or why an entry was skipped), walked on
/// several threads (the order does not matter: the lists are sorted).
fn walk(root: &Path) -> Vec<Result<PathBuf, String>> {
    let found = std::sync::Mutex::new(Vec::new());
    ignore::WalkBuilder::new(root)
        .follow_links(true)
        .require_git(false)
        .filter_entry(|e| {
            !(e.file_type().is_some_and(|t| t.is_dir())
                && matches!(
                    e.file_name().to_str(),
                    Some("target" | "build" | ".gradle" | "node_modules" | "out")
                ))
        })
        .build_parallel()
        .run(|| {
            let found = &found;
            Box::new(move |entry| {
                let item = match entry {
                    Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => Some(Ok(e.into_path())),
                    Ok(_) => None,
                    Err(err) => Some(Err(err.to_string())),
                };
                if let Some(item) = item
                    && let Ok(mut found) = found.lock()
                {
                    found.push(item);
                }
                ignore::WalkState::Continue
            })
        });
    found.into_inner().unwrap_or_default()
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn in_main_java(rel: &str) -> bool {
    rel.starts_with("src/main/java/") || rel.contains("/src/main/java/")
}

fn is_test(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    parts
        .windows(2)
        .any(|w| w[0] == "src" && (w[1] == "test" || w[1] == "it"))
        || parts.first() == Some(&"test")
}

/// The sort key of a SQL file: its directory, then a Flyway version
/// (`V2__x.sql` before `V10__y.sql`), then its name; `schema.sql` and
/// other unversioned files come before versioned ones in the same folder.
fn sql_order(rel: &str) -> (String, Vec<u64>, String) {
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let version = name
        .strip_prefix('V')
        .and_then(|v| v.split_once("__"))
        .map(|(v, _)| {
            v.split(['.', '_'])
                .map(|n| n.parse::<u64>().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    (dir.to_owned(), version, name.to_owned())
}

/// The `<modules>` of the `pom.xml` in `dir`, recursively.
fn read_modules(root: &Path, dir: &str, out: &mut Layout, depth: usize) {
    if depth > 16 {
        return;
    }
    let pom_rel = if dir.is_empty() {
        "pom.xml".to_owned()
    } else {
        format!("{dir}/pom.xml")
    };
    let pom = root.join(&pom_rel);
    if !pom.exists() {
        if !dir.is_empty() {
            out.diagnostics.push(Diagnostic::new(
                pom_rel,
                None,
                "a module the parent pom.xml declares has no pom.xml; skipped",
            ));
        }
        return;
    }
    let text = match std::fs::read_to_string(&pom) {
        Ok(t) => t,
        Err(e) => {
            out.diagnostics
                .push(Diagnostic::new(pom_rel, None, format!("cannot read: {e}")));
            return;
        }
    };
    let project = match xml::parse(&text) {
        Ok(p) => p,
        Err((line, message)) => {
            out.diagnostics.push(Diagnostic::new(
                pom_rel,
                Some(line),
                format!("not well-formed XML ({message}); its modules are not read"),
            ));
            return;
        }
    };
    let mut modules: Vec<String> = Vec::new();
    let mut lists: Vec<&xml::Element> = project.children_named("modules").collect();
    for profiles in project.children_named("profiles") {
        for profile in profiles.children_named("profile") {
            lists.extend(profile.children_named("modules"));
        }
    }
    for list in lists {
        for m in list.children_named("module") {
            let name = m.text.trim().trim_end_matches('/');
            if name.is_empty() {
                continue;
            }
            let path = if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/{name}")
            };
            if !root.join(&path).is_dir() {
                out.diagnostics.push(Diagnostic::new(
                    pom_rel.clone(),
                    Some(m.line),
                    format!("module `{name}` is declared but {path}/ does not exist"),
                ));
                continue;
            }
            modules.push(path);
        }
    }
    for m in modules {
        out.modules.push(m.clone());
        read_modules(root, &m, out, depth + 1);
    }
}

/// The projects `settings.gradle(.kts)` includes (`include 'a', ':b:c'`).
fn read_gradle_modules(root: &Path, out: &mut Layout) {
    for name in ["settings.gradle", "settings.gradle.kts"] {
        let path = root.join(name);
        if !path.exists() {
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                out.diagnostics
                    .push(Diagnostic::new(name, None, format!("cannot read: {e}")));
                continue;
            }
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with("include") {
                continue;
            }
            for project in quoted(line) {
                let dir = project.trim_start_matches(':').replace(':', "/");
                if dir.is_empty() {
                    continue;
                }
                if root.join(&dir).is_dir() {
                    out.modules.push(dir);
                } else {
                    out.diagnostics.push(Diagnostic::new(
                        name,
                        Some(u32::try_from(n + 1).unwrap_or(u32::MAX)),
                        format!("project `{project}` is included but {dir}/ does not exist"),
                    ));
                }
            }
        }
    }
}

/// The single- or double-quoted strings on a line.
fn quoted(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            let s: String = chars.by_ref().take_while(|&d| d != c).collect();
            out.push(s);
        }
    }
    out
}

/// The servlet context path (`server.servlet.context-path`, or Spring Boot
/// 1's `server.context-path`) from `application.properties` or
/// `application.yml`, the first file that sets it; `None` when unset or `/`.
#[must_use]
pub fn context_path(
    files: &[(PathBuf, String)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    // The default profile's files first: `application.properties` before
    // `application-dev.properties`.
    let mut ordered: Vec<&(PathBuf, String)> = files.iter().collect();
    ordered.sort_by_key(|(_, rel)| (rel.contains("application-"), rel.clone()));
    for (path, rel) in ordered {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                diagnostics.push(Diagnostic::new(
                    rel.clone(),
                    None,
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        let found = if rel.ends_with(".properties") {
            properties_value(&text)
        } else {
            yaml_value(&text)
        };
        if let Some(p) = found {
            let p = p
                .trim()
                .trim_matches('"')
                .trim_matches('\'')
                .trim_end_matches('/');
            return (!p.is_empty()).then(|| {
                if p.starts_with('/') {
                    p.to_owned()
                } else {
                    format!("/{p}")
                }
            });
        }
    }
    None
}

const CONTEXT_KEYS: [&str; 2] = ["server.servlet.context-path", "server.context-path"];

fn properties_value(text: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        if CONTEXT_KEYS.contains(&k.trim()) {
            return Some(v.trim().to_owned());
        }
    }
    None
}

/// A nested or dotted key in block-style YAML, by indentation only.
fn yaml_value(text: &str) -> Option<String> {
    let mut path: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let content = line.split(" #").next().unwrap_or_default();
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        if content.trim() == "---" {
            path.clear();
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let Some((k, v)) = content.trim().split_once(':') else {
            continue;
        };
        while path.last().is_some_and(|(i, _)| *i >= indent) {
            path.pop();
        }
        path.push((indent, k.trim().to_owned()));
        let key: Vec<&str> = path.iter().map(|(_, k)| k.as_str()).collect();
        if !v.trim().is_empty() && CONTEXT_KEYS.contains(&key.join(".").as_str()) {
            return Some(v.trim().to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flyway_versions_sort_numerically() {
        let mut files = vec![
            "db/V10__c.sql",
            "db/V2__b.sql",
            "db/V1_1__a.sql",
            "db/schema.sql",
        ];
        files.sort_by_key(|f| sql_order(f));
        assert_eq!(
            files,
            [
                "db/schema.sql",
                "db/V1_1__a.sql",
                "db/V2__b.sql",
                "db/V10__c.sql"
            ]
        );
    }

    #[test]
    fn context_path_from_properties_and_yaml() {
        assert_eq!(
            properties_value("# x\nserver.servlet.context-path=/petclinic\n").as_deref(),
            Some("/petclinic")
        );
        assert_eq!(
            yaml_value(
                "spring:\n  jpa: x\nserver:\n  port: 8080\n  servlet:\n    context-path: /shop\n"
            )
            .as_deref(),
            Some("/shop")
        );
        assert_eq!(
            yaml_value("server.servlet.context-path: /a\n").as_deref(),
            Some("/a")
        );
    }

    #[test]
    fn tests_are_recognised() {
        assert!(is_test("src/test/java/a/B.java"));
        assert!(is_test("web/src/test/java/a/B.java"));
        assert!(!is_test("src/main/java/test/B.java"));
    }
}
