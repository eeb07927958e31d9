//! Liquibase JSON changelogs, read with `serde_json` into the same
//! [`Element`] tree the XML and YAML readers give (through the YAML
//! reader's [`Node`] and [`fill`], so the three formats cannot drift), with
//! the line of every key.
//!
//! `serde_json`'s values carry no positions and its maps are sorted, so
//! the document is deserialized into our own [`Node`] (keys in document
//! order) while a reader counts the bytes `serde_json` has taken: when a
//! key has been read, the count is just past it, which gives its line.
//! Malformed JSON is an error with `serde_json`'s line; its recursion limit
//! (128) bounds the nesting.

use std::cell::Cell;
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::xml::{Element, XmlError};
use super::yaml::{Node, fill};

/// Parses a document whose top level is one object, and returns it as an
/// element named after its first key (`databaseChangeLog`).
///
/// # Errors
/// The 1-based line of the first problem and what it is.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let taken = Cell::new(0);
    let lines = Lines::new(text);
    let reader = Counted {
        bytes: text.as_bytes(),
        taken: &taken,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let seed = NodeSeed {
        taken: &taken,
        lines: &lines,
    };
    let node = seed.deserialize(&mut de).map_err(|e| error(&e))?;
    de.end().map_err(|e| error(&e))?;
    let Node::Map(entries) = node else {
        return Err((1, "no object at the top".to_owned()));
    };
    let Some((name, line, _)) = entries.first() else {
        return Err((1, "no object at the top".to_owned()));
    };
    let mut root = Element {
        line: *line,
        ..Element::default()
    };
    let name = name.clone();
    for (key, l, value) in &entries {
        fill(&mut root, key, *l, value);
    }
    // As in YAML: the document is its first key's element.
    if root.attrs.is_empty() && root.children.len() == 1 && root.children[0].name == name {
        return Ok(root.children.swap_remove(0));
    }
    root.name = name;
    Ok(root)
}

fn error(e: &serde_json::Error) -> XmlError {
    (
        u32::try_from(e.line()).unwrap_or(u32::MAX).max(1),
        e.to_string(),
    )
}

/// The text's bytes, handed to `serde_json` one at a time so `taken`
/// always says how far it has read.
struct Counted<'a> {
    bytes: &'a [u8],
    taken: &'a Cell<usize>,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let at = self.taken.get();
        match (buf.first_mut(), self.bytes.get(at)) {
            (Some(slot), Some(b)) => {
                *slot = *b;
                self.taken.set(at + 1);
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Where each line starts, to turn a byte offset into a line.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines(starts)
    }

    /// The 1-based line of the byte before `offset` (the last one read).
    fn line(&self, offset: usize) -> u32 {
        let at = offset.saturating_sub(1);
        let n = self.0.partition_point(|&start| start <= at);
        u32::try_from(n.max(1)).unwrap_or(u32::MAX)
    }
}

/// Deserializes one value into a [`Node`], with lines.
#[derive(Clone, Copy)]
struct NodeSeed<'a> {
    taken: &'a Cell<usize>,
    lines: &'a Lines,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        loop {
            let before = self.lines.line(self.taken.get() + 1);
            let Some(item) = seq.next_element_seed(self)? else {
                break;
            };
            // An object item is on its first key's line.
            let line = match &item {
                Node::Map(entries) => entries.first().map_or(before, |(_, l, _)| *l),
                _ => before,
            };
            items.push((line, item));
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let line = self.lines.line(self.taken.get());
            let value = map.next_value_seed(self)?;
            entries.push((key, line, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_reads_as_the_yaml_would() {
        let text = r#"{
  "databaseChangeLog": [
    { "include": { "file": "a.json" } },
    {
      "changeSet": {
        "id": "1",
        "changes": [
          {
            "createTable": {
              "tableName": "owners",
              "columns": [
                { "column": { "name": "id", "constraints": { "primaryKey": true } } }
              ]
            }
          },
          { "addForeignKeyConstraint": { "baseColumnNames": ["a", "b"], "baseTableName": "x" } }
        ]
      }
    }
  ]
}"#;
        let doc = parse(text).unwrap();
        assert_eq!(doc.name, "databaseChangeLog");
        let names: Vec<&str> = doc.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["include", "changeSet"]);
        assert_eq!(doc.children[0].attr("file"), Some("a.json"));
        assert_eq!(doc.children[0].line, 3);
        let set = &doc.children[1];
        assert_eq!(set.line, 5);
        let create = set.child("createTable").unwrap();
        assert_eq!(create.line, 9);
        assert_eq!(create.attr("tableName"), Some("owners"));
        let column = create.child("column").unwrap();
        assert_eq!(column.line, 12);
        assert_eq!(
            column.child("constraints").unwrap().attr("primaryKey"),
            Some("true")
        );
        let fk = set.child("addForeignKeyConstraint").unwrap();
        assert_eq!(fk.line, 16);
        // A list of names is one attribute, as Liquibase writes `a, b`.
        assert_eq!(fk.attr("baseColumnNames"), Some("a, b"));
    }

    #[test]
    fn bad_json_is_an_error_with_a_line() {
        assert_eq!(parse("{\n  \"a\": [1,\n  }\n").unwrap_err().0, 3);
        assert_eq!(parse("[1, 2]").unwrap_err().0, 1);
        assert_eq!(parse("{}").unwrap_err().0, 1);
        assert!(parse("").is_err());
        assert!(parse("{\"a\": 1} x").is_err());
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(500), "]".repeat(500));
        assert!(parse(&deep).unwrap_err().1.contains("recursion"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_is_not_a_panic(
            text in "(\\{|\\}|\\[|\\]|\"databaseChangeLog\"|\"changeSet\"|\"a\"|:|,|1|true|null|\n| ){0,80}"
        ) {
            let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
            if let Err((line, _)) = parse(&text) {
                proptest::prop_assert!(line >= 1 && line <= lines);
            }
        }
    }
}
