//! A small YAML reader for Liquibase changelogs, giving the same
//! [`Element`] tree the XML reader gives, so one pass reads both: a
//! mapping's scalar entries become attributes, its mapping entries child
//! elements, and a sequence of one-key mappings (`changes: - createTable:
//! ..`) the children of the element holding it, and a sequence of
//! scalars one attribute, its items joined by `, ` (as Liquibase writes
//! `columnNames: a, b`). Block style (mappings, sequences, plain and quoted
//! scalars, `|` and `>` block scalars, comments) and flow style (`[a, b]`,
//! `{k: v}`, nested, over several lines, as a value or a sequence item);
//! anchors, aliases, tags and complex keys are not understood. Bad
//! indentation and unbalanced flow collections are errors with their line,
//! never a panic. [`Node`] and [`fill`] are the tree JSON changelogs read
//! into too.

use super::xml::{Element, Item, XmlError};

/// Deeper nesting is an error, so the recursion stays bounded.
const MAX_DEPTH: usize = 64;

/// A parsed value with the 1-based line of each entry and item, before it
/// becomes part of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A scalar (null as empty).
    Scalar(String),
    /// A sequence's items with their lines.
    Seq(Vec<(u32, Node)>),
    /// A mapping's entries, in order, with their keys' lines.
    Map(Vec<(String, u32, Node)>),
}

/// Adds `value`, the value of `key` (on `line`), to `el` as the block
/// reader would: a scalar or a sequence of scalars is an attribute, a
/// mapping a child element, a sequence of mappings children of `el` (a
/// one-key item whose value is a mapping gives that key's element).
pub fn fill(el: &mut Element, key: &str, line: u32, value: &Node) {
    match value {
        Node::Scalar(text) => el.attrs.push((key.to_owned(), text.clone())),
        Node::Map(entries) => {
            let mut child = Element {
                name: key.to_owned(),
                line,
                ..Element::default()
            };
            for (k, l, v) in entries {
                fill(&mut child, k, *l, v);
            }
            push_child(el, child);
        }
        Node::Seq(items) => {
            if items.iter().all(|(_, i)| matches!(i, Node::Scalar(_))) {
                let joined: Vec<&str> = items
                    .iter()
                    .filter_map(|(_, i)| match i {
                        Node::Scalar(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect();
                el.attrs.push((key.to_owned(), joined.join(", ")));
                return;
            }
            for (l, item) in items {
                let Node::Map(entries) = item else { continue };
                let mut wrapper = Element {
                    name: key.to_owned(),
                    line: *l,
                    ..Element::default()
                };
                for (k, kl, v) in entries {
                    fill(&mut wrapper, k, *kl, v);
                }
                push_item(el, wrapper);
            }
        }
    }
}

/// A sequence item: `- column: {..}` gives the one key's element, any
/// other mapping the item itself.
fn push_item(el: &mut Element, item: Element) {
    if item.attrs.is_empty() && item.children.len() == 1 {
        for child in item.children {
            push_child(el, child);
        }
    } else {
        push_child(el, item);
    }
}

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
            if value.starts_with('[') || value.starts_with('{') {
                let node = self.flow(&value, number)?;
                fill(el, &key, number, &node);
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
            let number = line.number;
            if rest.starts_with('{') || rest.starts_with('[') {
                // A flow item: `- {createTable: {tableName: t}}`.
                self.i += 1;
                let node = self.flow(&rest, number)?;
                fill(el, key, number, &Node::Seq(vec![(number, node)]));
                continue;
            }
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
            push_item(el, item);
        }
    }

    /// A flow collection starting with `first` (the rest of line `line`),
    /// continued on the following lines until its brackets close.
    fn flow(&mut self, first: &str, line: u32) -> Result<Node, XmlError> {
        let mut text = first.to_owned();
        while !flow_closed(&text) {
            let Some(next) = self.lines.get(self.i) else {
                return Err((line, "flow collection is not closed".to_owned()));
            };
            text.push('\n');
            text.push_str(&next.content);
            self.i += 1;
        }
        let mut f = Flow {
            s: text.chars().collect(),
            i: 0,
            line,
        };
        let node = f.value(0)?;
        f.skip_space();
        if f.i < f.s.len() {
            return Err((f.line, "text after a flow collection".to_owned()));
        }
        Ok(node)
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

/// Whether every bracket of a flow collection opened in `text` is closed
/// (outside quotes).
fn flow_closed(text: &str) -> bool {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            // A quote opens a scalar only where one starts (`it's` is plain).
            None if (c == '"' || c == '\'') && (prev.is_whitespace() || "[{,:".contains(prev)) => {
                quote = Some(c);
            }
            None => match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    depth == 0 && quote.is_none()
}

/// A flow collection's characters and where the reader is.
struct Flow {
    s: Vec<char>,
    i: usize,
    /// The line of `s[i]`.
    line: u32,
}

impl Flow {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                self.line = self.line.saturating_add(1);
            } else if !c.is_whitespace() {
                return;
            }
            self.i += 1;
        }
    }

    fn error<T>(&self, message: &str) -> Result<T, XmlError> {
        Err((self.line, message.to_owned()))
    }

    /// A collection or a scalar.
    fn value(&mut self, depth: usize) -> Result<Node, XmlError> {
        if depth > MAX_DEPTH {
            return self.error(&format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.skip_space();
        match self.peek() {
            Some('[') => self.seq(depth),
            Some('{') => self.map(depth),
            _ => self.scalar().map(Node::Scalar),
        }
    }

    /// `[a, b: c, {..}]`; a `k: v` item is a one-entry mapping.
    fn seq(&mut self, depth: usize) -> Result<Node, XmlError> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(']') {
                self.i += 1;
                return Ok(Node::Seq(items));
            }
            let line = self.line;
            let item = self.value(depth + 1)?;
            self.skip_space();
            let item = match (item, self.peek()) {
                (Node::Scalar(key), Some(':')) => {
                    self.i += 1;
                    let value = self.value(depth + 1)?;
                    Node::Map(vec![(key, line, value)])
                }
                (item, _) => item,
            };
            items.push((line, item));
            self.skip_space();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(']') => {}
                _ => return self.error("expected `,` or `]` in a flow sequence"),
            }
        }
    }

    /// `{k: v, k2: [..]}`; a key without a value is null.
    fn map(&mut self, depth: usize) -> Result<Node, XmlError> {
        self.i += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some('}') {
                self.i += 1;
                return Ok(Node::Map(entries));
            }
            let line = self.line;
            let key = self.scalar()?;
            self.skip_space();
            let value = if self.peek() == Some(':') {
                self.i += 1;
                self.value(depth + 1)?
            } else {
                Node::Scalar(String::new())
            };
            if key.is_empty() {
                return self.error("a flow mapping entry without a key");
            }
            entries.push((key, line, value));
            self.skip_space();
            match self.peek() {
                Some(',') => self.i += 1,
                Some('}') => {}
                _ => return self.error("expected `,` or `}` in a flow mapping"),
            }
        }
    }

    /// A quoted scalar, or a plain one up to `,`, a closing bracket or a
    /// `:` followed by a space.
    fn scalar(&mut self) -> Result<String, XmlError> {
        let mut out = String::new();
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.i += 1;
                loop {
                    let Some(c) = self.peek() else {
                        return self.error("quoted scalar is not closed");
                    };
                    self.i += 1;
                    match c {
                        '\n' => {
                            self.line = self.line.saturating_add(1);
                            out.push(' ');
                        }
                        '\'' if q == '\'' && self.peek() == Some('\'') => {
                            self.i += 1;
                            out.push('\'');
                        }
                        '\\' if q == '"' => {
                            if let Some(e) = self.peek() {
                                self.i += 1;
                                out.push(match e {
                                    'n' => '\n',
                                    't' => '\t',
                                    other => other,
                                });
                            }
                        }
                        c if c == q => return Ok(out),
                        c => out.push(c),
                    }
                }
            }
            Some('[' | '{') => self.error("a collection where a key was expected"),
            _ => {
                while let Some(c) = self.peek() {
                    let next = self.s.get(self.i + 1).copied();
                    let ends_key =
                        c == ':' && next.is_none_or(|n| n.is_whitespace() || ",]}".contains(n));
                    if matches!(c, ',' | ']' | '}') || ends_key {
                        break;
                    }
                    if c == '\n' {
                        // A plain scalar over lines is folded.
                        self.line = self.line.saturating_add(1);
                        out.push(' ');
                    } else {
                        out.push(c);
                    }
                    self.i += 1;
                }
                Ok(out.trim().to_owned())
            }
        }
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
            text in "(databaseChangeLog:|- |[a-z]+: |  |\n|#|'|\"|\\||>|-|:|\t|x|\\[|\\]|\\{|\\}|, ){0,80}"
        ) {
            let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
            if let Err((line, _)) = parse(&text) {
                proptest::prop_assert!(line >= 1 && line <= lines);
            }
        }
    }

    #[test]
    fn flow_collections_read_as_block_ones() {
        let doc = parse(
            "databaseChangeLog:\n  - changeSet:\n      id: 1\n      changes:\n        - {createTable: {tableName: owners, columns: [{column: {name: id, constraints: {primaryKey: true}}}, {column: {name: 'a, b'}}]}}\n        - addPrimaryKey: {tableName: t, columnNames: [a, \"b\"]}\n        - addForeignKeyConstraint: {\n            baseTableName: pets, baseColumnNames: owner_id,\n            referencedTableName: owners,  # comment\n            referencedColumnNames: id}\n        - sql: {sql: \"DROP TABLE x\"}\n  - include: {file: 'classpath:db/it''s.yaml'}\n  - [ignored, sequence]\n",
        )
        .unwrap();
        let names: Vec<&str> = doc.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["changeSet", "include"]);
        let set = &doc.children[0];
        let changes: Vec<(&str, u32)> = set
            .children
            .iter()
            .map(|c| (c.name.as_str(), c.line))
            .collect();
        assert_eq!(
            changes,
            [
                ("createTable", 5),
                ("addPrimaryKey", 6),
                ("addForeignKeyConstraint", 7),
                ("sql", 11)
            ]
        );
        let create = &set.children[0];
        assert_eq!(create.attr("tableName"), Some("owners"));
        let columns: Vec<Option<&str>> = create
            .children_named("column")
            .map(|c| c.attr("name"))
            .collect();
        assert_eq!(columns, [Some("id"), Some("a, b")]);
        assert_eq!(
            create.children[0]
                .child("constraints")
                .unwrap()
                .attr("primaryKey"),
            Some("true")
        );
        assert_eq!(set.children[1].attr("columnNames"), Some("a, b"));
        let fk = &set.children[2];
        assert_eq!(fk.attr("referencedTableName"), Some("owners"));
        assert_eq!(fk.attr("referencedColumnNames"), Some("id"));
        assert_eq!(set.children[3].attr("sql"), Some("DROP TABLE x"));
        assert_eq!(doc.children[1].attr("file"), Some("classpath:db/it's.yaml"));
    }

    #[test]
    fn broken_flow_collections_are_errors_with_a_line() {
        assert_eq!(parse("a:\n  b: [1, 2\n  c: 3\n").unwrap_err().0, 2);
        assert_eq!(parse("a:\n  b: {x: 1 y: 2}\n").unwrap_err().0, 2);
        assert_eq!(parse("a:\n  b: [1,\n   2]]\n").unwrap_err().0, 3);
        // Plain scalars may hold spaces and fold over lines.
        assert_eq!(
            parse("a:\n  b: [1,\n   2 3]\n").unwrap().attr("b"),
            Some("1, 2 3")
        );
        assert_eq!(parse("a:\n  b: [1] x\n").unwrap_err().0, 2);
        assert_eq!(parse("a:\n  b: {: 1}\n").unwrap_err().0, 2);
        let deep = format!("a: {}1{}\n", "[".repeat(500), "]".repeat(500));
        assert!(parse(&deep).unwrap_err().1.contains("nested deeper"));
    }

    #[test]
    fn bad_indentation_is_an_error_with_a_line() {
        assert_eq!(parse("a:\n  b: 1\n    c: 2\n").unwrap_err().0, 3);
        assert_eq!(parse("a:\n\tb: 1\n").unwrap_err().0, 2);
        assert!(parse("").is_err());
        assert!(parse("just text").is_err());
    }
}
