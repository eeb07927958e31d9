//! The string constants of the analyzed code, by module path: one table,
//! built in the symbols pass, in which SQL extraction and route evaluation
//! both look up the constants their strings name.
//!
//! A constant counts when its value is a string known from the syntax: a
//! literal, `concat!` of literals, or another such constant (`const Q: &str
//! = BASE;`), behind any `&` or parentheses. Names resolve syntactically
//! ([`candidates`]): `crate::`, `self::`, `super::`, another analyzed crate,
//! or an item of the module the name is written in.

use std::collections::{BTreeMap, BTreeSet};

use syn::{Expr, ImplItem, Item, Lit};

use super::paths::{MAX_INLINE_MODULE_DEPTH, candidates, impl_owner, path_id, path_segments};
use crate::source::SourceFile;

/// Constants naming constants are followed this many steps.
const MAX_CHAIN: usize = 16;

/// What a constant's value is, as the syntax says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    /// A known string.
    Str(String),
    /// Another constant: the module the path is written in, and the path.
    Ref(Vec<String>, Vec<String>),
}

/// String constants and statics by id (`crate::module::NAME`, or
/// `crate::module::Type::NAME` for associated constants).
#[derive(Debug, Clone, Default)]
pub struct Consts {
    values: BTreeMap<String, Value>,
    crates: BTreeSet<String>,
}

impl Consts {
    /// The table of `files`' constants, finished.
    #[must_use]
    pub fn from_files(files: &[SourceFile]) -> Self {
        let mut consts = Self::default();
        for file in files {
            consts.collect_file(file);
        }
        consts.finish();
        consts
    }

    /// Records one file's constants; [`Consts::finish`] resolves the ones
    /// that name other constants once every file is in.
    pub fn collect_file(&mut self, file: &SourceFile) {
        self.crates.insert(file.crate_name.clone());
        self.items(&file.ast.items, &file.module, 0);
    }

    /// Adds what another table collected. When two files define the same id
    /// (a package's `lib.rs` and `main.rs`), the smaller value wins, so the
    /// result does not depend on which worker saw which file.
    pub fn merge(&mut self, other: Consts) {
        for (id, value) in other.values {
            match self.values.get(&id) {
                Some(old) if *old <= value => {}
                _ => {
                    self.values.insert(id, value);
                }
            }
        }
        self.crates.extend(other.crates);
    }

    /// Resolves constants that name other constants; those that name
    /// nothing known (or a cycle) are dropped.
    pub fn finish(&mut self) {
        for _ in 0..MAX_CHAIN {
            let pending: Vec<(String, Vec<String>, Vec<String>)> = self
                .values
                .iter()
                .filter_map(|(id, v)| match v {
                    Value::Ref(module, path) => Some((id.clone(), module.clone(), path.clone())),
                    Value::Str(_) => None,
                })
                .collect();
            if pending.is_empty() {
                return;
            }
            for (id, module, path) in pending {
                if let Some(value) = self.resolve(&module, &path).map(str::to_owned) {
                    self.values.insert(id, Value::Str(value));
                }
            }
        }
        self.values.retain(|_, v| matches!(v, Value::Str(_)));
    }

    /// The value of the string constant with id `id`.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&str> {
        match self.values.get(id) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The value of the string constant `path` names when written inside
    /// `module` (crate name first).
    #[must_use]
    pub fn resolve(&self, module: &[String], path: &[String]) -> Option<&str> {
        candidates(module, path, &self.crates)
            .into_iter()
            .find_map(|id| match self.values.get(&id) {
                Some(Value::Str(s)) => Some(s.as_str()),
                _ => None,
            })
    }

    fn items(&mut self, items: &[Item], module: &[String], depth: usize) {
        for item in items {
            match item {
                Item::Const(c) => self.add(module, module, &c.ident.to_string(), &c.expr),
                Item::Static(s) => self.add(module, module, &s.ident.to_string(), &s.expr),
                Item::Mod(m) => {
                    if let (Some((_, content)), true) =
                        (&m.content, depth < MAX_INLINE_MODULE_DEPTH)
                    {
                        let mut inner = module.to_vec();
                        inner.push(m.ident.to_string());
                        self.items(content, &inner, depth + 1);
                    }
                }
                Item::Impl(imp) => {
                    let Some(owner) = impl_owner(module, imp) else {
                        continue;
                    };
                    for item in &imp.items {
                        if let ImplItem::Const(c) = item {
                            self.add(&owner, module, &c.ident.to_string(), &c.expr);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Records `owner::name` = `expr`, whose paths are written in `module`.
    fn add(&mut self, owner: &[String], module: &[String], name: &str, expr: &Expr) {
        let value = match string_value(expr) {
            Some(s) => Value::Str(s),
            None => match plain_path(expr) {
                Some(path) => Value::Ref(module.to_vec(), path),
                None => return,
            },
        };
        let id = path_id(owner, name);
        match self.values.get(&id) {
            Some(old) if *old <= value => {}
            _ => {
                self.values.insert(id, value);
            }
        }
    }
}

/// A path expression behind any `&` or parentheses, as segments.
fn plain_path(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => Some(path_segments(&p.path)),
        Expr::Reference(r) => plain_path(&r.expr),
        Expr::Paren(p) => plain_path(&p.expr),
        Expr::Group(g) => plain_path(&g.expr),
        _ => None,
    }
}

/// A string known from the syntax: a literal string, or `concat!` (or
/// `const_format`'s `concatcp!`) of literals, behind any `&` or
/// parentheses.
#[must_use]
pub fn string_value(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        Expr::Reference(r) => string_value(&r.expr),
        Expr::Paren(p) => string_value(&p.expr),
        Expr::Group(g) => string_value(&g.expr),
        Expr::Macro(m) => concat_macro(&m.mac),
        _ => None,
    }
}

/// The text of `concat!("a", "b")` (or `concatcp!`) when every argument is
/// a literal.
#[must_use]
pub fn concat_macro(mac: &syn::Macro) -> Option<String> {
    let name = &mac.path.segments.last()?.ident;
    if name != "concat" && name != "concatcp" {
        return None;
    }
    let args = mac
        .parse_body_with(syn::punctuated::Punctuated::<Lit, syn::Token![,]>::parse_terminated)
        .ok()?;
    let mut out = String::new();
    for lit in &args {
        match lit {
            Lit::Str(s) => out.push_str(&s.value()),
            Lit::Char(c) => out.push(c.value()),
            Lit::Int(i) => out.push_str(i.base10_digits()),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Consts {
        let file = SourceFile {
            rel_path: "src/lib.rs".to_owned(),
            crate_name: "app".to_owned(),
            crate_dir: std::path::PathBuf::new(),
            module: vec!["app".to_owned()],
            ast: syn::parse_file(text).expect("valid Rust"),
        };
        Consts::from_files(std::slice::from_ref(&file))
    }

    fn path(p: &str) -> Vec<String> {
        p.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn constants_resolve_by_module_path_and_through_each_other() {
        let consts = table(
            r#"
            const BASE: &str = "SELECT 1";
            const ALIAS: &str = BASE;
            mod q { pub const LIST: &str = concat!("/a", "/b"); pub const UP: &str = super::BASE; }
            struct T;
            impl T { const X: &str = "x"; }
            const NUMBER: u32 = 5;
            "#,
        );
        let root = path("app");
        assert_eq!(consts.resolve(&root, &path("BASE")), Some("SELECT 1"));
        assert_eq!(consts.resolve(&root, &path("ALIAS")), Some("SELECT 1"));
        assert_eq!(consts.resolve(&root, &path("q::LIST")), Some("/a/b"));
        assert_eq!(
            consts.resolve(&root, &path("crate::q::UP")),
            Some("SELECT 1")
        );
        assert_eq!(consts.resolve(&path("app::q"), &path("LIST")), Some("/a/b"));
        assert_eq!(consts.resolve(&root, &path("T::X")), Some("x"));
        assert_eq!(consts.resolve(&root, &path("NUMBER")), None);
        assert_eq!(consts.resolve(&root, &path("LIST")), None);
    }
}
