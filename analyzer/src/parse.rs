//! Reading and parsing Rust files with syn, where every failure is a
//! diagnostic and never an abort.

use crate::discover::RustFile;
use crate::source::{Diagnostic, SourceFile};

/// Files larger than this are skipped (generated code, vendored blobs).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Brackets nested deeper than this make a file too deep to parse safely:
/// syn recurses per level. No hand-written code comes close.
pub const MAX_NESTING: usize = 256;

/// Reads and parses one file; a file that cannot be read or parsed is a
/// diagnostic.
pub fn parse_one(file: &RustFile, max_bytes: u64) -> Result<(SourceFile, usize), Diagnostic> {
    let fail =
        |line: Option<u32>, message: String| Diagnostic::new(file.rel_path.clone(), line, message);
    let size = std::fs::metadata(&file.path)
        .map_err(|e| fail(None, format!("cannot read: {e}")))?
        .len();
    if size > max_bytes {
        return Err(fail(
            None,
            format!(
                "skipped: {size} bytes is more than the {max_bytes}-byte limit for one file (generated code?)"
            ),
        ));
    }
    let bytes = std::fs::read(&file.path).map_err(|e| fail(None, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e
            .as_bytes()
            .get(..offset)
            .map_or(0, |b| b.split(|&c| c == b'\n').count().saturating_sub(1))
            + 1;
        fail(
            Some(u32::try_from(line).unwrap_or(u32::MAX)),
            "skipped: not valid UTF-8, so not Rust source".to_owned(),
        )
    })?;
    if let Some(line) = too_deep(&text, MAX_NESTING) {
        return Err(fail(
            Some(line),
            format!(
                "skipped: brackets nest more than {MAX_NESTING} deep here, too deep to parse safely"
            ),
        ));
    }
    let mut ast = syn::parse_file(&text).map_err(|e| {
        let line = u32::try_from(e.span().start().line).unwrap_or(u32::MAX);
        fail(Some(line), format!("skipped: does not parse as Rust: {e}"))
    })?;
    strip_tests(&mut ast.items);
    let source = SourceFile {
        rel_path: file.rel_path.clone(),
        crate_name: file.crate_name.clone(),
        crate_dir: file.crate_dir.clone(),
        module: file.module.clone(),
        ast,
    };
    Ok((source, text.lines().count()))
}

/// Removes test code from a file's items, recursively: every item under
/// `#[cfg(test)]` (or `#[cfg(all(test, ..))]`), and inline `mod tests { }`
/// blocks with or without the attribute. Test code is not production code:
/// it would become service members, and its routers routes. A `mod x;`
/// line is kept (its file is judged by [`is_test_module`]).
pub fn strip_tests(items: &mut Vec<syn::Item>) {
    items.retain(|item| match item {
        syn::Item::Mod(m) if m.content.is_none() => true,
        syn::Item::Mod(m) if m.ident == "tests" => false,
        other => !item_attrs(other).iter().any(is_cfg_test),
    });
    for item in items.iter_mut() {
        match item {
            syn::Item::Mod(m) => {
                if let Some((_, inner)) = &mut m.content {
                    strip_tests(inner);
                }
            }
            syn::Item::Impl(imp) => imp.items.retain(|i| match i {
                syn::ImplItem::Fn(f) => !f.attrs.iter().any(is_cfg_test),
                _ => true,
            }),
            _ => {}
        }
    }
}

/// The child modules a file declares as test code: `#[cfg(test)] mod x;`
/// and `mod tests;`, by module id.
#[must_use]
pub fn declared_test_modules(file: &SourceFile) -> Vec<String> {
    let module = file.module.join("::");
    let mut out = Vec::new();
    let mut stack: Vec<(String, &[syn::Item])> = vec![(module, &file.ast.items)];
    while let Some((module, items)) = stack.pop() {
        for item in items {
            if let syn::Item::Mod(m) = item {
                let id = format!("{module}::{}", m.ident);
                match &m.content {
                    None if m.ident == "tests" || m.attrs.iter().any(is_cfg_test) => out.push(id),
                    Some((_, inner)) => stack.push((id, inner)),
                    None => {}
                }
            }
        }
    }
    out
}

/// Whether a module id is test code: named `tests`, or at or under one of
/// the `declared` test modules.
#[must_use]
pub fn is_test_module(id: &str, declared: &std::collections::BTreeSet<String>) -> bool {
    id.rsplit("::").next() == Some("tests")
        || declared.iter().any(|d| {
            id.strip_prefix(d.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// `#[cfg(test)]`, or `#[cfg(all(test, ..))]`.
fn is_cfg_test(attr: &syn::Attribute) -> bool {
    if !attr.path().is_ident("cfg") {
        return false;
    }
    let Ok(list) = attr.meta.require_list() else {
        return false;
    };
    let text: String = list
        .tokens
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    text == "test" || text.starts_with("all(test,") || text.starts_with("all(test)")
}

/// The line where bracket nesting first exceeds `limit`, skipping strings,
/// characters and comments well enough for this purpose.
#[must_use]
pub fn too_deep(text: &str, limit: usize) -> Option<u32> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut line = 1u32;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\n' => line += 1,
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(line);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while let Some(&c) = bytes.get(i) {
                    if c == b'\n' {
                        line += 1;
                    }
                    if c == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        i += 1;
                        break;
                    }
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    match c {
                        b'\\' => i += 1,
                        b'\n' => line += 1,
                        b'"' => break,
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::too_deep;

    #[test]
    fn nesting_depth() {
        assert_eq!(too_deep("fn f() { ((((1)))) }", 4), Some(1));
        assert_eq!(too_deep("fn f() { ((1)) }", 4), None);
        assert_eq!(too_deep("// ((((((\nfn f() { \"((((((\" }", 4), None);
        assert_eq!(too_deep("/* ((((\n */\nfn f() {(((())))}", 3), Some(3));
    }
}
