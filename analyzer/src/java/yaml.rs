//! A small YAML reader for Liquibase changelogs, giving the same
//! [`Element`] tree the XML reader gives, so one pass reads both: a
//! mapping's scalar entries become attributes, its mapping entries child
//! elements, and a sequence of one-key mappings (`changes: - createTable:
//! ..`) the children of the element holding it. Block style only: mappings,
//! sequences, plain and quoted scalars, `|` and `>` block scalars and
//! comments; flow collections (`[a, b]`) are kept as plain text, anchors
//! and tags are not understood. Bad indentation is an error with its line,
//! never a panic.

use super::xml::{Element, Item, XmlError};

/// Deeper nesting is an error, so the recursion stays bounded.
const MAX_DEPTH: usize = 64;

/// Parses a document whose top level is one mapping, and returns it as an
/// element named after its first key (`databaseChangeLog`).
///
/// # Errors
/// The 1-based line of the first problem and what it is.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut lines: Vec<Line> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let number = u32::try_from(n + 1).unwrap_or(u32::MAX);
        if raw.trim_start().starts_with('\t') || raw.starts_with('\t') {
            return Err((number, "tabs are not YAML indentation".to_owned()));
        }
        let content = strip_comment(raw);
        let trimmed = content.trim_start();
        lines.push(Line {
            indent: content.len() - trimmed.len(),
            content: trimmed.trim_end().to_owned(),
            raw: raw.to_owned(),
            number,
        });
    }
    let mut p = Parser { lines, i: 0 };
    p.skip_blank();
    let Some(first) = p.lines.get(p.i) else {
        return Err((1, "no mapping at the top".to_owned()));
    };
    let indent = first.indent;
    let Some((name, _)) = split_key(&first.content) else {
        return Err((first.number, "no mapping at the top".to_owned()));
    };
    let mut root = Element {
        line: first.number,
        ..Element::default()
    };
    p.mapping(&mut root, indent, 0)?;
    // The document is its first key's element: a mapping is a child, a
    // sequence's items were flattened into the top.
    if root.attrs.is_empty() && root.children.len() == 1 && root.children[0].name == name {
        return Ok(root.children.swap_remove(0));
    }
    root.name = name;
    Ok(root)
}

struct Line {
    indent: usize,
    /// Without the indentation and comment.
    content: String,
    raw: String,
    number: u32,
}

struct Parser {
    lines: Vec<Line>,
    i: usize,
}

impl Parser {
    fn skip_blank(&mut self) {
        while self
            .lines
            .get(self.i)
            .is_some_and(|l| l.content.is_empty() || l.content == "---")
        {
            self.i += 1;
        }
    }

    /// The entries of a mapping at `indent` into `el`.
    fn mapping(&mut self, el: &mut Element, indent: usize, depth: usize) -> Result<(), XmlError> {
        if depth > MAX_DEPTH {
            return Err((el.line, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        loop {
            self.skip_blank();
            let Some(line) = self.lines.get(self.i) else {
                return Ok(());
            };
            if line.indent < indent {
                return Ok(());
            }
            if line.indent > indent {
                return Err((line.number, "unexpected indentation".to_owned()));
            }
            if line.content.starts_with('-') {
                return Err((
                    line.number,
                    "a sequence item where a key was expected".to_owned(),
                ));
            }
            let number = line.number;
            let Some((key, value)) = split_key(&line.content) else {
                return Err((number, format!("`{}` is not `key: value`", line.content)));
            };
            self.i += 1;
            if value.starts_with('|') || value.starts_with('>') {
                let folded = value.starts_with('>');
                let text = self.block_scalar(indent, folded);
                el.attrs.push((key, text));
                continue;
            }
            if !value.is_empty() {
                el.attrs.push((key, unquote(&value)));
                continue;
            }
            // A nested mapping or sequence, or nothing.
            self.skip_blank();
            let next = self
                .lines
                .get(self.i)
                .map(|l| (l.indent, l.content.starts_with('-')));
            match next {
                Some((ni, true)) if ni >= indent => {
                    self.sequence(el, &key, ni, number, depth + 1)?;
                }
                Some((ni, false)) if ni > indent => {
                    let mut child = Element {
                        name: key,
                        line: number,
                        ..Element::default()
                    };
                    self.mapping(&mut child, ni, depth + 1)?;
                    push_child(el, child);
                }
                _ => el.attrs.push((key, String::new())),
            }
        }
    }

    /// A sequence at `indent` under `key`: one-key mapping items become
    /// children of `el`; other items are left out.
    fn sequence(
        &mut self,
        el: &mut Element,
        key: &str,
        indent: usize,
        key_line: u32,
        depth: usize,
    ) -> Result<(), XmlError> {
        if depth > MAX_DEPTH {
            return Err((key_line, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        loop {
            self.skip_blank();
            let Some(line) = self.lines.get_mut(self.i) else {
                return Ok(());
            };
            if line.indent != indent || !line.content.starts_with('-') {
                if line.indent > indent {
                    return Err((line.number, "unexpected indentation".to_owned()));
                }
                return Ok(());
            }
            let rest = line.content[1..].trim_start().to_owned();
            if rest.is_empty() || split_key(&rest).is_none() {
                // A scalar item, or an item on the next lines: not a change.
                self.i += 1;
                let mut skipped = Element::default();
                self.skip_blank();
                if let Some(ni) = self
                    .lines
                    .get(self.i)
                    .map(|l| l.indent)
                    .filter(|&ni| ni > indent)
                {
                    self.mapping(&mut skipped, ni, depth + 1)?;
                }
                continue;
            }
            // The item is a mapping whose first entry is on this line.
            let offset = line.content.len() - rest.len();
            line.indent += offset;
            line.content = rest;
            let item_indent = line.indent;
            let mut item = Element {
                name: key.to_owned(),
                line: line.number,
                ..Element::default()
            };
            self.mapping(&mut item, item_indent, depth + 1)?;
            // `- column: {..}`: the one key's element is the child.
            if item.attrs.is_empty() && item.children.len() == 1 {
                for child in item.children {
                    push_child(el, child);
                }
            } else {
                push_child(el, item);
            }
        }
    }

    /// The lines of a `|` or `>` block scalar, indented deeper than `indent`.
    fn block_scalar(&mut self, indent: usize, folded: bool) -> String {
        let mut parts: Vec<String> = Vec::new();
        while let Some(line) = self.lines.get(self.i) {
            let raw_indent = line.raw.len() - line.raw.trim_start().len();
            if !line.raw.trim().is_empty() && raw_indent <= indent {
                break;
            }
            parts.push(line.raw.trim().to_owned());
            self.i += 1;
        }
        parts
            .join(if folded { " " } else { "\n" })
            .trim()
            .to_owned()
    }
}

fn push_child(el: &mut Element, child: Element) {
    el.items.push(Item::Child(el.children.len()));
    el.children.push(child);
}

/// `key: value` or `key:`, with the key unquoted.
fn split_key(content: &str) -> Option<(String, String)> {
    let (key, value) = if let Some(k) = content.strip_suffix(':') {
        (k, "")
    } else {
        let at = content.find(": ")?;
        (&content[..at], &content[at + 2..])
    };
    let key = unquote(key.trim());
    (!key.is_empty()).then(|| (key, value.trim().to_owned()))
}

/// A scalar without its quotes.
fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

/// The line without a ` #` comment outside quotes.
fn strip_comment(raw: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in raw.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &raw[..i],
            _ => {}
        }
        prev = c;
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_reads_as_the_xml_would() {
        let doc = parse(
            "databaseChangeLog:\n  - include:\n      file: a.yaml  # first\n  - changeSet:\n      id: 1\n      changes:\n        - createTable:\n            tableName: owners\n            columns:\n              - column:\n                  name: id\n                  constraints:\n                    primaryKey: true\n        - sql:\n            sql: |\n              CREATE TABLE t (\n                x int);\n",
        )
        .unwrap();
        assert_eq!(doc.name, "databaseChangeLog");
        let names: Vec<&str> = doc.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["include", "changeSet"]);
        assert_eq!(doc.children[0].attr("file"), Some("a.yaml"));
        let set = &doc.children[1];
        let create = set.child("createTable").unwrap();
        assert_eq!(create.line, 7);
        assert_eq!(create.attr("tableName"), Some("owners"));
        let column = create.child("column").unwrap();
        assert_eq!(column.attr("name"), Some("id"));
        assert_eq!(
            column.child("constraints").unwrap().attr("primaryKey"),
            Some("true")
        );
        assert_eq!(
            set.child("sql").unwrap().attr("sql"),
            Some("CREATE TABLE t (\nx int);")
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_is_not_a_panic(
            text in "(databaseChangeLog:|- |[a-z]+: |  |\n|#|'|\"|\\||>|-|:|\t|x){0,80}"
        ) {
            let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
            if let Err((line, _)) = parse(&text) {
                proptest::prop_assert!(line >= 1 && line <= lines);
            }
        }
    }

    #[test]
    fn bad_indentation_is_an_error_with_a_line() {
        assert_eq!(parse("a:\n  b: 1\n    c: 2\n").unwrap_err().0, 3);
        assert_eq!(parse("a:\n\tb: 1\n").unwrap_err().0, 2);
        assert!(parse("").is_err());
        assert!(parse("just text").is_err());
    }
}
