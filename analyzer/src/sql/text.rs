//! SQL text from Rust strings: literal pieces, `format!` strings split into
//! pieces and holes, alternatives joined, and whether a text looks like SQL.
//! The extractor's evaluation of expressions builds on these; constants come
//! from the shared table (`rust::consts`).

use syn::Lit;

/// At most this many alternative SQL strings per call site.
pub const MAX_ALTERNATIVES: usize = 16;

/// The literal's text as it would appear in `concat!`.
pub fn lit_text(lit: &Lit) -> Option<String> {
    match lit {
        Lit::Str(s) => Some(s.value()),
        Lit::Char(c) => Some(c.value().to_string()),
        Lit::Int(i) => Some(i.base10_digits().to_owned()),
        Lit::Float(f) => Some(f.base10_digits().to_owned()),
        Lit::Bool(b) => Some(b.value.to_string()),
        _ => None,
    }
}

/// Whether text starts like a SQL statement.
pub fn looks_like_sql(text: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "select", "insert", "update", "delete", "with", "merge", "copy", "create", "alter", "drop",
        "truncate", "replace", "upsert", "values", "explain",
    ];
    let mut rest = text.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    KEYWORDS.contains(&word.as_str())
}

/// Cross product of alternative pieces, capped.
pub fn concat_alternatives(parts: Vec<Vec<String>>) -> Vec<String> {
    let mut out = vec![String::new()];
    for alts in parts {
        let mut next = Vec::new();
        for prefix in &out {
            for a in &alts {
                if next.len() >= MAX_ALTERNATIVES {
                    break;
                }
                next.push(format!("{prefix}{a}"));
            }
        }
        out = next;
    }
    out
}

/// A hole of a format string: positional index, or a name.
pub enum Hole {
    /// `{}`: the next argument.
    Next,
    /// `{0}`: an argument by position.
    Index(usize),
    /// `{name}`: an argument by name.
    Name(String),
}

/// Splits a format string into literal pieces and holes.
pub fn format_pieces(fmt: &str) -> Vec<Result<String, Hole>> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    inner.push(c);
                }
                out.push(Ok(std::mem::take(&mut lit)));
                let sel = inner.split(':').next().unwrap_or_default().trim();
                out.push(Err(if sel.is_empty() {
                    Hole::Next
                } else if let Ok(i) = sel.parse::<usize>() {
                    Hole::Index(i)
                } else {
                    Hole::Name(sel.to_owned())
                }));
            }
            c => lit.push(c),
        }
    }
    out.push(Ok(lit));
    out
}
