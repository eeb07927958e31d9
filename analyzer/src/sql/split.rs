//! Splitting a `.sql` file into statements without parsing it.
//!
//! A `;` ends a statement only outside `--` and `/* */` comments (block
//! comments nest, as in PostgreSQL), single-quoted strings (with `''` and,
//! for `E'..'` strings and `MySQL`, backslash escapes), double-quoted and
//! backquoted identifiers, and dollar-quoted bodies (`$$ .. $$`,
//! `$tag$ .. $tag$`). The scanner is a single forward pass over the bytes, so
//! it cannot loop or recurse on any input.

use super::Dialect;

/// One statement cut from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStatement {
    /// The statement's text, without the terminating `;`, starting at its
    /// first token (leading comments and blank lines dropped).
    pub text: String,
    /// 1-based line of the statement's first token.
    pub line: u32,
    /// Why the statement ran to the end of the input, if it was not closed.
    pub unterminated: Option<Unterminated>,
}

/// A quoted region still open at the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unterminated {
    /// A `$$` or `$tag$` body; the rest of the file is inside it.
    DollarQuote {
        /// 1-based line where the dollar quote opened.
        line: u32,
    },
    /// A `'..'` string.
    String {
        /// 1-based line where the string opened.
        line: u32,
    },
    /// A `"..."` or backquoted identifier.
    Identifier {
        /// 1-based line where the identifier opened.
        line: u32,
    },
    /// A `/* .. */` comment.
    Comment {
        /// 1-based line where the comment opened.
        line: u32,
    },
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The length of a dollar-quote delimiter (`$$` or `$tag$`) starting at
/// `i`, if one starts there.
fn dollar_tag_len(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'$') {
        return None;
    }
    // `foo$bar` is an identifier, not a dollar quote.
    if i > 0 && bytes.get(i - 1).copied().is_some_and(is_ident_byte) {
        return None;
    }
    let mut j = i + 1;
    // The tag may not start with a digit (`$1` is a parameter).
    if bytes.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    while let Some(&b) = bytes.get(j) {
        if b == b'$' {
            return Some(j + 1 - i);
        }
        if !is_ident_byte(b) {
            return None;
        }
        j += 1;
    }
    None
}

/// A forward-only cursor over the bytes, counting lines.
struct Scanner<'s> {
    bytes: &'s [u8],
    i: usize,
    line: u32,
}

impl Scanner<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.i + ahead).copied()
    }

    /// Steps over one byte, counting a newline.
    fn bump(&mut self) {
        if self.peek(0) == Some(b'\n') {
            self.line = self.line.saturating_add(1);
        }
        self.i += 1;
    }

    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|b| b != b'\n') {
            self.i += 1;
        }
    }

    /// After `/*`: to the matching `*/`. False when it never closes.
    fn skip_block_comment(&mut self, nested: bool) -> bool {
        self.i += 2;
        let mut depth = 1u32;
        while let Some(b) = self.peek(0) {
            if b == b'*' && self.peek(1) == Some(b'/') {
                self.i += 2;
                depth -= 1;
                if depth == 0 {
                    return true;
                }
            } else if nested && b == b'/' && self.peek(1) == Some(b'*') {
                self.i += 2;
                depth += 1;
            } else {
                self.bump();
            }
        }
        false
    }

    /// At a quote: past the closing quote (a doubled quote is an escaped
    /// one). False when it never closes.
    fn skip_quoted(&mut self, quote: u8, backslash_escapes: bool) -> bool {
        self.i += 1;
        while let Some(b) = self.peek(0) {
            if backslash_escapes && b == b'\\' {
                self.bump();
                self.bump();
            } else if b == quote && self.peek(1) == Some(quote) {
                self.i += 2;
            } else if b == quote {
                self.i += 1;
                return true;
            } else {
                self.bump();
            }
        }
        false
    }

    /// At a dollar-quote delimiter of `len` bytes: past the closing one.
    /// False when it never closes.
    fn skip_dollar(&mut self, len: usize) -> bool {
        let tag = self.bytes.get(self.i..self.i + len).unwrap_or_default();
        self.i += len;
        while let Some(b) = self.peek(0) {
            if b == b'$'
                && self
                    .bytes
                    .get(self.i..)
                    .is_some_and(|rest| rest.starts_with(tag))
            {
                self.i += len;
                return true;
            }
            self.bump();
        }
        false
    }

    /// Whether a `'` at the cursor opens an `E'..'` string.
    fn is_escape_string(&self) -> bool {
        let i = self.i;
        i > 0
            && matches!(self.bytes.get(i - 1), Some(b'E' | b'e'))
            && (i < 2 || !self.bytes.get(i - 2).copied().is_some_and(is_ident_byte))
    }
}

/// Splits SQL text into statements, each with its first line.
///
/// Empty statements (only whitespace and comments) are dropped. An opened
/// quote or comment that never closes makes the rest of the input one
/// statement marked [`RawStatement::unterminated`].
#[must_use]
pub fn split_statements(sql: &str, dialect: Dialect) -> Vec<RawStatement> {
    let mysql = dialect == Dialect::MySql;
    let mut out = Vec::new();
    let mut sc = Scanner {
        bytes: sql.as_bytes(),
        i: 0,
        line: 1,
    };
    // Start (byte offset, line) of the current statement's first token.
    let mut start: Option<(usize, u32)> = None;
    let mut open: Option<Unterminated> = None;

    while let Some(b) = sc.peek(0) {
        let line = sc.line;
        match b {
            b';' => {
                if let Some((s, l)) = start.take() {
                    push(&mut out, sql, s, sc.i, l, None);
                }
                sc.i += 1;
            }
            b'-' if sc.peek(1) == Some(b'-') => sc.skip_line(),
            b'#' if mysql => sc.skip_line(),
            b'/' if sc.peek(1) == Some(b'*') => {
                if !sc.skip_block_comment(!mysql) {
                    open = Some(Unterminated::Comment { line });
                }
            }
            b'\'' => {
                begin(&mut start, sc.i, line);
                let escapes = mysql || sc.is_escape_string();
                if !sc.skip_quoted(b'\'', escapes) {
                    open = Some(Unterminated::String { line });
                }
            }
            b'"' | b'`' => {
                begin(&mut start, sc.i, line);
                if !sc.skip_quoted(b, false) {
                    open = Some(Unterminated::Identifier { line });
                }
            }
            b'$' => {
                begin(&mut start, sc.i, line);
                match dollar_tag_len(sc.bytes, sc.i) {
                    Some(len) => {
                        if !sc.skip_dollar(len) {
                            open = Some(Unterminated::DollarQuote { line });
                        }
                    }
                    None => sc.i += 1,
                }
            }
            c if c.is_ascii_whitespace() => sc.bump(),
            _ => {
                begin(&mut start, sc.i, line);
                sc.i += 1;
            }
        }
        if open.is_some() {
            break;
        }
    }
    if let Some((s, l)) = start.take() {
        push(&mut out, sql, s, sql.len(), l, open);
    }
    out
}

/// Marks the first token of a statement.
fn begin(start: &mut Option<(usize, u32)>, at: usize, line: u32) {
    if start.is_none() {
        *start = Some((at, line));
    }
}

fn push(
    out: &mut Vec<RawStatement>,
    sql: &str,
    from: usize,
    to: usize,
    line: u32,
    unterminated: Option<Unterminated>,
) {
    // Offsets come from ASCII bytes (quotes, `;`, first non-space byte) or
    // the end, so they are char boundaries; `get` keeps that unchecked
    // assumption from ever panicking.
    let text = sql.get(from..to).unwrap_or_default().trim_end().to_owned();
    if text.is_empty() && unterminated.is_none() {
        return;
    }
    out.push(RawStatement {
        text,
        line,
        unterminated,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<(String, u32)> {
        split_statements(sql, Dialect::Postgres)
            .into_iter()
            .map(|s| (s.text, s.line))
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let got = texts(
            "-- c;\nSELECT 'a;b';\n/* x; */ SELECT \"a;\" ; \n\nSELECT $$ ; $$;SELECT $t$ $$ ; $t$",
        );
        assert_eq!(
            got,
            vec![
                ("SELECT 'a;b'".to_owned(), 2),
                ("SELECT \"a;\"".to_owned(), 3),
                ("SELECT $$ ; $$".to_owned(), 5),
                ("SELECT $t$ $$ ; $t$".to_owned(), 5),
            ]
        );
    }

    #[test]
    fn parameters_are_not_dollar_quotes() {
        assert_eq!(texts("SELECT $1; SELECT a$b$c;").len(), 2);
    }

    #[test]
    fn unterminated_dollar_quote_swallows_the_rest() {
        let got = split_statements(
            "SELECT 1;\n\nCREATE FUNCTION f() AS $$\nBEGIN;\nCREATE TABLE x ();",
            Dialect::Postgres,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].line, 3);
        assert_eq!(
            got[1].unterminated,
            Some(Unterminated::DollarQuote { line: 3 })
        );
    }

    #[test]
    fn escaped_strings() {
        assert_eq!(texts("SELECT E'a\\';'; SELECT 'it''s;';").len(), 2);
        assert_eq!(
            split_statements("SELECT 'a\\';'; SELECT 1;", Dialect::MySql).len(),
            2
        );
    }

    #[test]
    fn empty_and_comment_only() {
        assert!(texts("").is_empty());
        assert!(texts("-- only\n/* comments */ ;;\n").is_empty());
    }
}
