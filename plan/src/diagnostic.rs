//! Problems found in a plan, and where in the file they are.
//!
//! Every check reports a [`Diagnostic`] that names the field it is about as a
//! [`FieldPath`] (`service[1].route[0].percent`). When the plan came from a
//! file, [`locate`] turns that path into a line and column, so messages read
//! `strangler.toml:12:11: error: …` like a compiler's.

use std::fmt::{self, Write as _};
use std::ops::Range;

use serde::Serialize;
use toml_edit::{Item, TableLike, Value};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The plan is usable, but probably not what was meant.
    Warning,
    /// The plan is invalid; no tool acts on it and nothing is written.
    Error,
}

/// A 1-based line and column in the plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// A key in a table.
    Key(String),
    /// An element of an array (of tables).
    Index(usize),
}

/// The field a diagnostic is about, such as `service[1].route[0].percent`.
///
/// Indices count entries in the order they appear in the file, from 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Step>);

/// Whether a diagnostic points at a key or at its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Focus {
    /// The key itself, as for an unknown key.
    Key,
    /// The value, or the table when the path ends at one.
    Value,
}

/// A problem found in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The field concerned.
    #[serde(serialize_with = "serialize_display")]
    pub path: FieldPath,
    /// Whether [`Diagnostic::location`] points at the key or its value.
    #[serde(skip)]
    pub focus: Focus,
    /// Where in the file, when the plan came from a file.
    pub location: Option<Location>,
    /// What is wrong, naming the service, route or table.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl FieldPath {
    /// The empty path: the document itself.
    #[must_use]
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by a key.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_owned()));
        Self(steps)
    }

    /// This path extended by an array index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Index(index));
        Self(steps)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(key) if i == 0 => f.write_str(key)?,
                Step::Key(key) => write!(f, ".{key}")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

fn serialize_display<S: serde::Serializer>(value: &FieldPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

impl Diagnostic {
    /// An error about the value at `path`.
    #[must_use]
    pub fn error(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            path,
            focus: Focus::Value,
            location: None,
            message: message.into(),
            help: None,
        }
    }

    /// A warning about the value at `path`.
    #[must_use]
    pub fn warning(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(path, message)
        }
    }

    /// Adds how to fix it.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Points the diagnostic at the key rather than the value.
    #[must_use]
    pub fn at_key(mut self) -> Self {
        self.focus = Focus::Key;
        self
    }

    /// Whether this is an error (not a warning).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic as `file:line:col: error: message`, followed by
    /// an indented `help:` line when there is one. Without a location, the
    /// field path stands in for line and column.
    #[must_use]
    pub fn render(&self, file: &str) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = match self.location {
            Some(Location { line, column }) => {
                format!("{file}:{line}:{column}: {severity}: {}", self.message)
            }
            None => format!("{file}: {severity}: {} (at {})", self.message, self.path),
        };
        if let Some(help) = &self.help {
            let _ = write!(out, "\n    help: {help}");
        }
        out
    }
}

/// Whether any diagnostic is an error.
#[must_use]
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Converts a byte offset in `source` into a 1-based line and column.
#[must_use]
pub fn location_of(source: &str, offset: usize) -> Location {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    Location { line, column }
}

/// Fills in each diagnostic's location from the span-carrying document it
/// was found in. A path that no longer resolves fully (a missing key) points
/// at the deepest part that does: the table the key belongs in.
pub fn locate(diagnostics: &mut [Diagnostic], doc: &toml_edit::Document<&str>) {
    for diagnostic in diagnostics {
        if let Some(span) = span_of(doc.as_item(), &diagnostic.path, diagnostic.focus) {
            diagnostic.location = Some(location_of(doc.raw(), span.start));
        }
    }
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a toml_edit::Table),
}

impl<'a> Node<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(item) => item.span(),
            Node::Value(value) => value.span(),
            Node::Table(table) => table.span(),
        }
    }

    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(item) => item.as_table_like(),
            Node::Value(value) => value.as_inline_table().map(|t| t as &dyn TableLike),
            Node::Table(table) => Some(table as &dyn TableLike),
        }
    }

    fn element(self, index: usize) -> Option<Node<'a>> {
        match self {
            Node::Item(Item::ArrayOfTables(array)) => array.get(index).map(Node::Table),
            Node::Item(Item::Value(Value::Array(array))) | Node::Value(Value::Array(array)) => {
                array.get(index).map(Node::Value)
            }
            _ => None,
        }
    }
}

fn span_of(root: &Item, path: &FieldPath, focus: Focus) -> Option<Range<usize>> {
    let mut node = Node::Item(root);
    let mut best = None;
    let last = path.0.len().saturating_sub(1);
    for (i, step) in path.0.iter().enumerate() {
        match step {
            Step::Key(key) => {
                let table = node.table_like()?;
                let Some((k, item)) = table.get_key_value(key) else {
                    return best.or_else(|| node.span());
                };
                if i == last && focus == Focus::Key {
                    return k.span().or_else(|| item.span()).or(best);
                }
                best = k.span().or(best);
                node = Node::Item(item);
            }
            Step::Index(index) => {
                let Some(next) = node.element(*index) else {
                    return best.or_else(|| node.span());
                };
                node = next;
            }
        }
        best = node.span().or(best);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, path: FieldPath, focus: Focus, expect: (usize, usize)) {
        let doc = toml_edit::Document::parse(source).unwrap();
        let mut d = [Diagnostic {
            focus,
            ..Diagnostic::error(path, "x")
        }];
        locate(&mut d, &doc);
        let loc = d[0].location.expect("located");
        assert_eq!((loc.line, loc.column), expect);
    }

    const PLAN: &str = "version = 1\n\n[[service]]\nname = \"a\"\n\n[[service]]\nname = \"b\"\n  [[service.route]]\n  path = \"/x\"\n  percent = 300\n";

    #[test]
    fn locates_values_keys_and_missing_keys() {
        let p = FieldPath::root();
        check(PLAN, p.key("version"), Focus::Value, (1, 11));
        check(
            PLAN,
            p.key("service").index(1).key("name"),
            Focus::Value,
            (7, 8),
        );
        check(
            PLAN,
            p.key("service")
                .index(1)
                .key("route")
                .index(0)
                .key("percent"),
            Focus::Value,
            (10, 13),
        );
        check(
            PLAN,
            p.key("service")
                .index(1)
                .key("route")
                .index(0)
                .key("percent"),
            Focus::Key,
            (10, 3),
        );
        // A missing key points at its table's header.
        check(
            PLAN,
            p.key("service").index(0).key("upstream"),
            Focus::Value,
            (3, 1),
        );
    }

    #[test]
    fn location_counts_characters_not_bytes() {
        assert_eq!(location_of("é = 1\nab", 8), Location { line: 2, column: 2 });
        assert_eq!(location_of("", 10), Location { line: 1, column: 1 });
    }

    #[test]
    fn renders_like_a_compiler() {
        let d = Diagnostic {
            location: Some(Location { line: 3, column: 9 }),
            ..Diagnostic::error(FieldPath::root().key("version"), "bad").with_help("fix it")
        };
        assert_eq!(
            d.render("p.toml"),
            "p.toml:3:9: error: bad\n    help: fix it"
        );
        let d = Diagnostic::warning(FieldPath::root().key("service").index(2).key("name"), "odd");
        assert_eq!(
            d.render("p.toml"),
            "p.toml: warning: odd (at service[2].name)"
        );
    }
}
