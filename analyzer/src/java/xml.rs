//! A small, forgiving XML reader for the few files the Java front end reads
//! (`pom.xml`, `MyBatis` mappers, `web.xml`, Hibernate and JPA mappings,
//! Liquibase changelogs): elements, attributes, text,
//! CDATA, comments, processing instructions and a DOCTYPE skipped. No
//! namespaces beyond keeping the prefix off element names, no entities
//! beyond the five predefined ones and numeric ones. Broken markup is an
//! error with its line, never a panic.

/// Deeper nesting is an error, so no recursion over a tree can exhaust the
/// stack.
const MAX_DEPTH: usize = 256;

/// A problem with a document: its 1-based line and what is wrong.
pub type XmlError = (u32, String);

/// An element's attributes, in order.
type Attributes = Vec<(String, String)>;

/// An element with its attributes, children and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name (prefix dropped).
    pub name: String,
    /// Attributes in order, prefix kept.
    pub attrs: Vec<(String, String)>,
    /// Child elements.
    pub children: Vec<Element>,
    /// All text directly inside, CDATA included, child elements' text not.
    pub text: String,
    /// 1-based line of the start tag.
    pub line: u32,
    /// Text and children in document order.
    pub items: Vec<Item>,
}

/// One piece of an element's content, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Text (or CDATA).
    Text(String),
    /// The child at this index of `children`.
    Child(usize),
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Child elements named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Its text and its descendants' text, in document order (`MyBatis`
    /// dynamic SQL such as `<where>`/`<if>` keeps its fragments).
    pub fn deep_text(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            match item {
                Item::Text(t) => out.push_str(t),
                Item::Child(i) => {
                    if let Some(c) = self.children.get(*i) {
                        out.push_str(&c.deep_text());
                    }
                }
            }
        }
        out
    }
}

/// Parses a document and returns its root element.
///
/// # Errors
/// A message with the 1-based line of the first problem.
pub fn parse(text: &str) -> Result<Element, (u32, String)> {
    let mut p = Reader {
        s: text.as_bytes(),
        i: 0,
        line: 1,
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    while p.i < p.s.len() {
        if p.starts("<!--") {
            p.skip_past("-->")?;
        } else if p.starts("<![CDATA[") {
            let start = p.i + 9;
            p.skip_past("]]>")?;
            let body = String::from_utf8_lossy(&p.s[start..p.i - 3]).into_owned();
            if let Some(top) = stack.last_mut() {
                top.text.push_str(&body);
                top.items.push(Item::Text(body));
            }
        } else if p.starts("<?") {
            p.skip_past("?>")?;
        } else if p.starts("<!") {
            p.skip_doctype()?;
        } else if p.starts("</") {
            p.i += 2;
            let name = p.name();
            p.skip_past(">")?;
            let Some(done) = stack.pop() else {
                return Err((
                    p.line,
                    format!("closing tag </{name}> without an opening one"),
                ));
            };
            if local(&name) != done.name {
                return Err((
                    p.line,
                    format!(
                        "</{name}> closes <{}> opened on line {}",
                        done.name, done.line
                    ),
                ));
            }
            attach(&mut stack, &mut root, done);
        } else if p.starts("<") {
            let line = p.line;
            p.i += 1;
            let name = p.name();
            if name.is_empty() {
                return Err((line, "`<` not followed by a tag name".to_owned()));
            }
            let (attrs, self_closing) = p.attributes()?;
            let el = Element {
                name: local(&name).to_owned(),
                attrs,
                line,
                ..Element::default()
            };
            if self_closing {
                attach(&mut stack, &mut root, el);
            } else if stack.len() >= MAX_DEPTH {
                return Err((line, format!("elements nested deeper than {MAX_DEPTH}")));
            } else {
                stack.push(el);
            }
        } else {
            let start = p.i;
            while p.i < p.s.len() && p.s[p.i] != b'<' {
                p.bump();
            }
            let raw = String::from_utf8_lossy(&p.s[start..p.i]);
            if let Some(top) = stack.last_mut() {
                let text = decode(&raw);
                top.text.push_str(&text);
                top.items.push(Item::Text(text));
            }
        }
        if root.is_some() && stack.is_empty() {
            break;
        }
    }
    if let Some(open) = stack.last() {
        return Err((open.line, format!("<{}> is never closed", open.name)));
    }
    root.ok_or((1, "no root element".to_owned()))
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => {
            parent.items.push(Item::Child(parent.children.len()));
            parent.children.push(el);
        }
        None => {
            if root.is_none() {
                *root = Some(el);
            }
        }
    }
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    line: u32,
}

impl Reader<'_> {
    fn starts(&self, prefix: &str) -> bool {
        self.s[self.i..].starts_with(prefix.as_bytes())
    }

    fn bump(&mut self) {
        if self.s.get(self.i) == Some(&b'\n') {
            self.line += 1;
        }
        self.i += 1;
    }

    fn skip_past(&mut self, end: &str) -> Result<(), (u32, String)> {
        let line = self.line;
        while self.i < self.s.len() {
            if self.starts(end) {
                for _ in 0..end.len() {
                    self.bump();
                }
                return Ok(());
            }
            self.bump();
        }
        Err((line, format!("unterminated markup: `{end}` never found")))
    }

    fn skip_doctype(&mut self) -> Result<(), (u32, String)> {
        let line = self.line;
        let mut depth = 0usize;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'<' => depth += 1,
                b'>' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.bump();
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.bump();
        }
        Err((line, "unterminated <!DOCTYPE".to_owned()))
    }

    fn name(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len()
            && !self.s[self.i].is_ascii_whitespace()
            && !matches!(self.s[self.i], b'>' | b'/' | b'=' | b'<')
        {
            self.bump();
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.bump();
        }
    }

    fn attributes(&mut self) -> Result<(Attributes, bool), XmlError> {
        let mut attrs = Vec::new();
        loop {
            self.skip_ws();
            if self.i >= self.s.len() {
                return Err((self.line, "unterminated start tag".to_owned()));
            }
            if self.starts("/>") {
                self.i += 2;
                return Ok((attrs, true));
            }
            if self.starts(">") {
                self.i += 1;
                return Ok((attrs, false));
            }
            let key = self.name();
            if key.is_empty() {
                return Err((self.line, "unexpected character in a start tag".to_owned()));
            }
            self.skip_ws();
            if !self.starts("=") {
                attrs.push((key, String::new()));
                continue;
            }
            self.i += 1;
            self.skip_ws();
            let Some(&quote) = self.s.get(self.i) else {
                return Err((self.line, "unterminated attribute".to_owned()));
            };
            if quote != b'"' && quote != b'\'' {
                return Err((self.line, format!("attribute `{key}` is not quoted")));
            }
            self.i += 1;
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != quote {
                self.bump();
            }
            if self.i >= self.s.len() {
                return Err((self.line, format!("attribute `{key}` is never closed")));
            }
            let value = decode(&String::from_utf8_lossy(&self.s[start..self.i]));
            self.i += 1;
            attrs.push((key, value));
        }
    }
}

/// The predefined entities and numeric character references.
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        if let Some(c) = decoded {
            out.push(c);
            rest = &rest[end + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_mapper() {
        let doc = parse(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE mapper PUBLIC \"-//x//DTD\" \"http://x/y.dtd\">\n\
             <mapper namespace=\"a.B\">\n  <!-- c -->\n  <select id=\"get\">SELECT * FROM t WHERE a &lt; 3<if test=\"x\"> AND b = 1</if></select>\n\
             <insert id=\"put\"><![CDATA[INSERT INTO t VALUES (1)]]></insert>\n</mapper>",
        )
        .unwrap();
        assert_eq!(doc.name, "mapper");
        assert_eq!(doc.attr("namespace"), Some("a.B"));
        let select = doc.child("select").unwrap();
        assert_eq!(select.line, 5);
        assert_eq!(select.deep_text(), "SELECT * FROM t WHERE a < 3 AND b = 1");
        assert_eq!(
            doc.child("insert").unwrap().text,
            "INSERT INTO t VALUES (1)"
        );
    }

    #[test]
    fn broken_markup_is_an_error_with_a_line() {
        assert_eq!(parse("<a>\n<b>\n</a>").unwrap_err().0, 3);
        assert!(parse("<a x=1>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a><!-- never").is_err());
    }
}
