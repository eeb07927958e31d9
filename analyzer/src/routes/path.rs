//! Route path joining (prefixes) and normalisation to strangler's template
//! syntax: `{param}` and a trailing `{*rest}`.
//!
//! Accepted input syntaxes, mixed freely: axum 0.8 `{id}` / `{*rest}`, axum
//! 0.7 `:id` / `*rest`, actix-web `{id}`, `{id:\d+}`, `{tail:.*}`,
//! `{tail}*`, Rocket `<id>`, `<path..>` and a `?<query>` part (dropped).

use std::fmt::Write as _;

/// How a framework joins a prefix and a child path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// axum `nest`: a child `/` is the prefix itself (`/api` + `/` = `/api`).
    Axum,
    /// actix-web scopes: plain concatenation (`/api` + `/` = `/api/`).
    Actix,
    /// Rocket `mount`: like axum (`/blog` + `/` = `/blog`).
    Rocket,
}

/// Joins two prefixes (no special case for `/`): `/api` + `/v1` = `/api/v1`.
pub(crate) fn concat(prefix: &str, more: &str) -> String {
    if prefix.is_empty() {
        return more.to_owned();
    }
    if more.is_empty() {
        return prefix.to_owned();
    }
    let mut out = prefix.trim_end_matches('/').to_owned();
    if !more.starts_with('/') {
        out.push('/');
    }
    out.push_str(more);
    out
}

/// Joins a prefix and a route's own path the way `style`'s framework does.
pub(crate) fn join(style: Style, prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        return path.to_owned();
    }
    match style {
        Style::Axum | Style::Rocket if path.is_empty() || path == "/" => prefix.to_owned(),
        Style::Actix if path.is_empty() => prefix.to_owned(),
        _ => concat(prefix, path),
    }
}

/// Normalises a full route path to `{param}` / `{*rest}` template syntax.
///
/// Never fails: every input yields a path that starts with `/`, whose
/// parameters are identifiers (unique within the path), whose catch-all (if
/// any) is last, and without spaces, `?` or `#`. Returns whether the result
/// is only an approximation (a segment mixing text and parameters, such as
/// `/{name}.{ext}`, becomes one parameter).
pub(crate) fn normalise(path: &str) -> (String, bool) {
    let path = strip_query(path);
    let parts = split_segments(path);
    let mut out = String::with_capacity(path.len() + 1);
    let mut names: Vec<String> = Vec::new();
    let mut approximate = false;
    let last_nonempty = parts.iter().rposition(|p| !p.is_empty());
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        let is_last = Some(i) == last_nonempty;
        out.push('/');
        match classify(part) {
            Seg::Literal => push_literal(&mut out, part),
            Seg::Param(name) => {
                let name = unique(&mut names, &name);
                let _ = write!(out, "{{{name}}}");
            }
            Seg::CatchAll(name) => {
                let name = unique(&mut names, &name);
                if is_last {
                    let _ = write!(out, "{{*{name}}}");
                } else {
                    // A catch-all in the middle cannot be a template; the
                    // closest is one segment.
                    approximate = true;
                    let _ = write!(out, "{{{name}}}");
                }
            }
            Seg::Mixed(name) => {
                approximate = true;
                let name = unique(&mut names, &name);
                let _ = write!(out, "{{{name}}}");
            }
        }
    }
    // Keep one trailing slash (`/api/` differs from `/api` in actix), but
    // never after a catch-all, which must be last.
    let ends_in_catch_all = out.rsplit('/').next().is_some_and(|s| s.starts_with("{*"));
    if path.len() > 1 && path.ends_with('/') && !out.is_empty() && !ends_in_catch_all {
        out.push('/');
    }
    if out.is_empty() {
        out.push('/');
    }
    (out, approximate)
}

/// Drops a Rocket query part (`/search?<q>&<page>`) and any `#fragment`,
/// but not a `?` inside `{..}` (an actix regex).
fn strip_query(path: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in path.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '?' | '#' if depth == 0 => return &path[..i],
            _ => {}
        }
    }
    path
}

/// Splits at `/`, except inside `{..}` and `<..>` (regexes may hold `/`).
fn split_segments(path: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in path.char_indices() {
        match c {
            '{' | '<' => depth += 1,
            '}' | '>' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                parts.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&path[start..]);
    parts
}

enum Seg {
    Literal,
    Param(String),
    CatchAll(String),
    /// Text and parameters in one segment; the name of the first parameter.
    Mixed(String),
}

fn classify(part: &str) -> Seg {
    // axum 0.8 / actix `{..}`, with actix's `{tail}*` tail form.
    if let Some(inner) = part.strip_prefix('{') {
        if let Some(inner) = inner.strip_suffix("}*")
            && !inner.contains(['{', '}'])
        {
            return Seg::CatchAll(param_name(inner));
        }
        if let Some(inner) = inner.strip_suffix('}')
            && !inner.contains(['{', '}'])
        {
            return brace_param(inner);
        }
    }
    // Rocket `<id>` / `<path..>`.
    if let Some(inner) = part.strip_prefix('<').and_then(|p| p.strip_suffix('>'))
        && !inner.contains(['<', '>'])
    {
        return match inner.strip_suffix("..") {
            Some(name) => Seg::CatchAll(param_name(name)),
            None => Seg::Param(param_name(inner)),
        };
    }
    // axum 0.7 `:id` / `*rest`.
    if let Some(name) = part.strip_prefix(':') {
        return Seg::Param(param_name(name));
    }
    if let Some(name) = part.strip_prefix('*') {
        return Seg::CatchAll(param_name(name));
    }
    if let Some(name) = first_embedded_param(part) {
        return Seg::Mixed(name);
    }
    Seg::Literal
}

/// `{id}`, `{*rest}`, `{id:\d+}`, `{tail:.*}`.
fn brace_param(inner: &str) -> Seg {
    if let Some(name) = inner.strip_prefix('*') {
        return Seg::CatchAll(param_name(name));
    }
    match inner.split_once(':') {
        Some((name, regex)) => {
            let regex = regex.trim();
            // A regex that can match `/` takes the rest of the path.
            if regex.starts_with(".*") || regex.starts_with(".+") {
                Seg::CatchAll(param_name(name))
            } else {
                Seg::Param(param_name(name))
            }
        }
        None => Seg::Param(param_name(inner)),
    }
}

fn first_embedded_param(part: &str) -> Option<String> {
    for (open, close) in [('{', '}'), ('<', '>')] {
        if let Some(start) = part.find(open) {
            let rest = &part[start + open.len_utf8()..];
            let end = rest.find(close).unwrap_or(rest.len());
            let inner = &rest[..end];
            let inner = inner.split(':').next().unwrap_or(inner);
            return Some(param_name(
                inner.trim_start_matches('*').trim_end_matches(".."),
            ));
        }
    }
    None
}

/// Makes a parameter name an identifier: other characters become `_`, an
/// empty name becomes `param`, a leading digit gets a `_`.
fn param_name(raw: &str) -> String {
    let mut name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        name.push_str("param");
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// `name`, or `name2`, `name3`, … when already used in this path.
fn unique(names: &mut Vec<String>, name: &str) -> String {
    let mut candidate = name.to_owned();
    let mut n = 2u32;
    while names.contains(&candidate) {
        candidate = format!("{name}{n}");
        n = n.saturating_add(1);
    }
    names.push(candidate.clone());
    candidate
}

/// A literal segment without characters a template may not hold: braces,
/// whitespace and control characters are percent-encoded.
fn push_literal(out: &mut String, part: &str) {
    for c in part.chars() {
        if c.is_whitespace() || c.is_control() || matches!(c, '{' | '}' | '?' | '#') {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Style, concat, join, normalise};

    fn n(path: &str) -> String {
        normalise(path).0
    }

    #[test]
    fn framework_syntaxes() {
        assert_eq!(n("/users/:id"), "/users/{id}");
        assert_eq!(n("/files/*rest"), "/files/{*rest}");
        assert_eq!(n("/users/<id>"), "/users/{id}");
        assert_eq!(n("/files/<path..>"), "/files/{*path}");
        assert_eq!(n("/static/{tail:.*}"), "/static/{*tail}");
        assert_eq!(n(r"/orders/{id:\d+}"), "/orders/{id}");
        assert_eq!(n("/a/{tail}*"), "/a/{*tail}");
        assert_eq!(n("/search?<q>&<page>"), "/search");
        assert_eq!(n("/echo/{*rest}"), "/echo/{*rest}");
        assert_eq!(n("/re/{p:[a-z/]+}/x"), "/re/{p}/x");
        assert_eq!(n(""), "/");
        assert_eq!(n("/"), "/");
        assert_eq!(n("users"), "/users");
        assert_eq!(n("//a//b"), "/a/b");
    }

    #[test]
    fn odd_parameters_still_make_templates() {
        assert_eq!(n("/<_>/<_>"), "/{_}/{_2}");
        assert_eq!(normalise("/f/{name}.{ext}"), ("/f/{name}".to_owned(), true));
        assert_eq!(n("/a b"), "/a%20b");
        assert_eq!(n("/{}"), "/{param}");
        assert_eq!(n("/{*a}/b"), "/{a}/b");
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert_eq!(n("/api/"), "/api/");
        assert_eq!(n("/api/{id}/"), "/api/{id}/");
    }

    #[test]
    fn joining() {
        assert_eq!(join(Style::Axum, "/api", "/"), "/api");
        assert_eq!(join(Style::Rocket, "/blog", "/"), "/blog");
        assert_eq!(join(Style::Rocket, "/", "/x"), "/x");
        assert_eq!(join(Style::Actix, "/api", "/"), "/api/");
        assert_eq!(join(Style::Actix, "/api", ""), "/api");
        assert_eq!(join(Style::Axum, "", "/x"), "/x");
        assert_eq!(concat("/api/", "/v1"), "/api/v1");
        assert_eq!(concat("/api", "v1"), "/api/v1");
    }
}
