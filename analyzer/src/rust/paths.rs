//! Paths as the passes see them: a `syn::Path` as segments, ids built from
//! a module and a name, and the ids a path can name without imports.

use std::collections::BTreeSet;

/// The segments of a path, as strings.
#[must_use]
pub fn path_segments(path: &syn::Path) -> Vec<String> {
    let mut out = Vec::with_capacity(path.segments.len() + 1);
    if path.leading_colon.is_some() {
        out.push("::".to_owned());
    }
    out.extend(path.segments.iter().map(|s| s.ident.to_string()));
    out
}

/// The segments of a path without the leading `::` marker, for passes that
/// match names (`sqlx::query`, a Diesel table) instead of resolving them.
#[must_use]
pub fn name_segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// Inline `mod` blocks nested deeper than this are not looked into.
pub const MAX_INLINE_MODULE_DEPTH: usize = 64;

/// The path under which an `impl` block's items get their ids, written in
/// `module`: `module::Type` for `impl Type` and `impl Trait for Type`, the
/// type's last segment; `None` when the type is not a plain path.
#[must_use]
pub fn impl_owner(module: &[String], imp: &syn::ItemImpl) -> Option<Vec<String>> {
    let syn::Type::Path(ty) = &*imp.self_ty else {
        return None;
    };
    let ty = ty.path.segments.last()?;
    let mut owner = module.to_vec();
    owner.push(ty.ident.to_string());
    Some(owner)
}

/// `module::name` as an id.
#[must_use]
pub fn path_id(module: &[String], name: &str) -> String {
    let mut id = module.join("::");
    if !id.is_empty() {
        id.push_str("::");
    }
    id.push_str(name);
    id
}

/// Candidate ids for a path written inside `module`, without imports:
/// `crate::`, `self::`, `super::`, another crate of `crates` (also after a
/// leading `::`), or an item of `module` itself. `Self::` names nothing
/// here.
#[must_use]
pub fn candidates(
    module: &[String],
    segments: &[String],
    crates: &BTreeSet<String>,
) -> Vec<String> {
    let segments = match segments.split_first() {
        Some((first, rest)) if first == "::" => rest,
        _ => segments,
    };
    let Some((first, rest)) = segments.split_first() else {
        return Vec::new();
    };
    let mut base: Vec<String> = match first.as_str() {
        "crate" => module.iter().take(1).cloned().collect(),
        "self" => module.to_vec(),
        "super" => {
            let mut base = module.to_vec();
            base.pop();
            let mut rest = rest;
            while let Some(("super", more)) = rest.split_first().map(|(s, m)| (s.as_str(), m)) {
                base.pop();
                rest = more;
            }
            if base.is_empty() {
                return Vec::new();
            }
            base.extend(rest.iter().cloned());
            return vec![base.join("::")];
        }
        "Self" => return Vec::new(),
        _ => {
            let mut out = vec![path_id(module, &segments.join("::"))];
            if crates.contains(first) && segments.len() > 1 {
                out.push(segments.join("::"));
            }
            return out;
        }
    };
    base.extend(rest.iter().cloned());
    vec![base.join("::")]
}
