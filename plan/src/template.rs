//! Route path templates: literal segments, `{param}` and a trailing `{*rest}`.
//!
//! This is the one template syntax of strangler. The analyzer normalises
//! every framework's syntax (`:id`, `<id>`, `{tail:.*}`) to it, and the proxy
//! routes by it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A parsed route path template such as `/api/products/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RouteTemplate {
    raw: String,
    segments: Vec<Segment>,
}

/// One `/`-separated part of a [`RouteTemplate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `{name}`: matches one non-empty segment.
    Param(String),
    /// `{*name}`: matches the rest of the path; only last.
    CatchAll(String),
}

/// Why a string is not a valid [`RouteTemplate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid route path `{path}`: {reason}")]
pub struct TemplateError {
    /// The path as given.
    pub path: String,
    /// What is wrong with it, as a sentence fragment.
    pub reason: String,
}

impl RouteTemplate {
    /// Parses and checks a template.
    pub fn parse(path: &str) -> Result<Self, TemplateError> {
        let fail = |reason: String| TemplateError {
            path: path.to_owned(),
            reason,
        };
        let Some(rest) = path.strip_prefix('/') else {
            return Err(fail("it must start with `/`".to_owned()));
        };
        if let Some(c) = path
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        {
            return Err(fail(format!(
                "it contains {c:?}; a template holds only the path, without spaces, query or fragment"
            )));
        }
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            let segment = if let Some(inner) =
                part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
            {
                let (catch_all, name) = match inner.strip_prefix('*') {
                    Some(name) => (true, name),
                    None => (false, inner),
                };
                if !is_identifier(name) {
                    return Err(fail(format!(
                        "`{part}` is not a parameter; names are letters, digits and `_`, as in `{{id}}` or `{{*rest}}`"
                    )));
                }
                if names.contains(&name) {
                    return Err(fail(format!("parameter `{name}` appears twice")));
                }
                names.push(name);
                if catch_all {
                    if i != last {
                        return Err(fail(format!("`{part}` must be the last segment")));
                    }
                    Segment::CatchAll(name.to_owned())
                } else {
                    Segment::Param(name.to_owned())
                }
            } else if let Some(name) = part
                .strip_prefix(':')
                .or_else(|| part.strip_prefix('<').and_then(|p| p.strip_suffix('>')))
            {
                let name = name.trim_end_matches("..");
                return Err(fail(format!(
                    "`{part}` looks like a parameter in another framework's syntax; write `{{{name}}}`"
                )));
            } else if part.contains(['{', '}']) {
                return Err(fail(format!(
                    "segment `{part}` mixes text and braces; a parameter must be a whole segment, as in `/files/{{name}}`"
                )));
            } else if part.is_empty() && i != last {
                return Err(fail("it has an empty segment (`//`)".to_owned()));
            } else {
                Segment::Literal((*part).to_owned())
            };
            segments.push(segment);
        }
        Ok(Self {
            raw: path.to_owned(),
            segments,
        })
    }

    /// The template as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The segments after the leading `/`.
    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The template with parameter names erased (`/a/{}/{*}`), so two
    /// templates that match the same requests compare equal.
    #[must_use]
    pub fn shape(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Param(_) => out.push_str("{}"),
                Segment::CatchAll(_) => out.push_str("{*}"),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for RouteTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl TryFrom<String> for RouteTemplate {
    type Error = TemplateError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RouteTemplate> for String {
    fn from(value: RouteTemplate) -> Self {
        value.raw
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(path: &str, expect: &str) {
        let got = match RouteTemplate::parse(path) {
            Ok(t) => format!("ok {}", t.shape()),
            Err(e) => format!("err {}", e.reason),
        };
        assert_eq!(got, expect, "for {path:?}");
    }

    #[test]
    fn valid_templates() {
        check("/", "ok /");
        check("/api/products", "ok /api/products");
        check("/api/products/{id}", "ok /api/products/{}");
        check("/api/products/{id}/", "ok /api/products/{}/");
        check("/static/{*rest}", "ok /static/{*}");
        check("/a/{x}/b/{y_2}", "ok /a/{}/b/{}");
    }

    #[test]
    fn invalid_templates() {
        check("api", "err it must start with `/`");
        check("", "err it must start with `/`");
        check("/a//b", "err it has an empty segment (`//`)");
        check(
            "/a/{}",
            "err `{}` is not a parameter; names are letters, digits and `_`, as in `{id}` or `{*rest}`",
        );
        check(
            "/a/{1x}",
            "err `{1x}` is not a parameter; names are letters, digits and `_`, as in `{id}` or `{*rest}`",
        );
        check("/a/{*rest}/b", "err `{*rest}` must be the last segment");
        check("/a/{id}/{id}", "err parameter `id` appears twice");
        check(
            "/files/{name}.txt",
            "err segment `{name}.txt` mixes text and braces; a parameter must be a whole segment, as in `/files/{name}`",
        );
        check(
            "/a/:id",
            "err `:id` looks like a parameter in another framework's syntax; write `{id}`",
        );
        check(
            "/a/<id>",
            "err `<id>` looks like a parameter in another framework's syntax; write `{id}`",
        );
        check(
            "/a b",
            "err it contains ' '; a template holds only the path, without spaces, query or fragment",
        );
        check(
            "/a?x=1",
            "err it contains '?'; a template holds only the path, without spaces, query or fragment",
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(path in "\\PC{0,40}") {
            if let Ok(t) = RouteTemplate::parse(&path) {
                prop_assert_eq!(t.as_str(), path.as_str());
                prop_assert!(t.shape().starts_with('/'));
            }
        }
    }
}
