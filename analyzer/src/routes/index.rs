//! What the route passes need to know about all files up front: every
//! function body (with its id and module), string constants, route
//! attributes, and name resolution with a syntactic fallback.

use std::collections::{HashMap, HashSet};

use syn::{Attribute, Block, Expr, ImplItem, Item, Lit, Signature, Type};

use super::attrs::{AttrRoute, route_attrs};
use crate::source::{Resolver, SourceFile};

/// Inline `mod` blocks deeper than this are not looked into.
const MAX_MODULE_DEPTH: usize = 64;

/// A function body to interpret.
pub(crate) struct FnRef<'a> {
    /// `crate::module::name`, or `crate::module::Type::name` for methods.
    pub id: String,
    /// The module the body is written in, crate name first.
    pub module: Vec<String>,
    /// Index of the file in the analyzed slice.
    pub file: usize,
    /// The signature (for `&mut ServiceConfig` and router parameters).
    pub sig: &'a Signature,
    /// The body.
    pub block: &'a Block,
}

/// Facts about all analyzed files.
pub(crate) struct Index<'a> {
    /// The analyzed files.
    pub files: &'a [SourceFile],
    /// Name resolution through `use` imports.
    pub resolver: &'a dyn Resolver,
    /// Every function body, in file and item order.
    pub fns: Vec<FnRef<'a>>,
    /// Ids of free functions (for the syntactic fallback).
    known_fns: HashSet<String>,
    /// `crate::module::NAME` → value of string constants and statics.
    consts: HashMap<String, String>,
    /// Handler id → its route attributes.
    pub attrs: HashMap<String, Vec<AttrRoute>>,
    /// Crate names of the analyzed files.
    crates: HashSet<String>,
}

impl<'a> Index<'a> {
    /// Indexes `files`.
    pub(crate) fn new(files: &'a [SourceFile], resolver: &'a dyn Resolver) -> Self {
        let mut index = Self {
            files,
            resolver,
            fns: Vec::new(),
            known_fns: HashSet::new(),
            consts: HashMap::new(),
            attrs: HashMap::new(),
            crates: HashSet::new(),
        };
        for (i, file) in files.iter().enumerate() {
            index.crates.insert(file.crate_name.clone());
            index.items(&file.ast.items, &file.module, i, 0);
        }
        index
    }

    fn items(&mut self, items: &'a [Item], module: &[String], file: usize, depth: usize) {
        for item in items {
            match item {
                Item::Fn(f) => {
                    let id = path_id(module, &f.sig.ident.to_string());
                    self.add_fn(&id, &f.attrs, module, file, &f.sig, &f.block);
                    self.known_fns.insert(id);
                }
                Item::Mod(m) => {
                    if let (Some((_, content)), true) = (&m.content, depth < MAX_MODULE_DEPTH) {
                        let mut inner = module.to_vec();
                        inner.push(m.ident.to_string());
                        self.items(content, &inner, file, depth + 1);
                    }
                }
                Item::Impl(imp) => {
                    let Type::Path(ty) = &*imp.self_ty else {
                        continue;
                    };
                    let Some(ty) = ty.path.segments.last() else {
                        continue;
                    };
                    let mut inner = module.to_vec();
                    inner.push(ty.ident.to_string());
                    for item in &imp.items {
                        if let ImplItem::Fn(f) = item {
                            let id = path_id(&inner, &f.sig.ident.to_string());
                            self.add_fn(&id, &f.attrs, module, file, &f.sig, &f.block);
                        }
                    }
                }
                Item::Const(c) => self.add_const(module, &c.ident.to_string(), &c.expr),
                Item::Static(s) => self.add_const(module, &s.ident.to_string(), &s.expr),
                _ => {}
            }
        }
    }

    fn add_fn(
        &mut self,
        id: &str,
        attrs: &[Attribute],
        module: &[String],
        file: usize,
        sig: &'a Signature,
        block: &'a Block,
    ) {
        let found = route_attrs(attrs, file);
        if !found.is_empty() {
            self.attrs.entry(id.to_owned()).or_default().extend(found);
        }
        self.fns.push(FnRef {
            id: id.to_owned(),
            module: module.to_vec(),
            file,
            sig,
            block,
        });
    }

    fn add_const(&mut self, module: &[String], name: &str, expr: &Expr) {
        if let Some(value) = literal_str(expr) {
            self.consts.insert(path_id(module, name), value);
        }
    }

    /// The function `segments` names inside `module`: the resolver's answer,
    /// else a syntactic lookup among the analyzed free functions.
    pub(crate) fn resolve_fn(&self, module: &[String], segments: &[String]) -> Option<String> {
        if segments.is_empty() {
            return None;
        }
        if let Some(id) = self.resolver.function(module, segments) {
            return Some(id);
        }
        self.syntactic(module, segments)
            .into_iter()
            .find(|id| self.known_fns.contains(id))
    }

    /// The value of a string constant `segments` names inside `module`.
    pub(crate) fn resolve_const(&self, module: &[String], segments: &[String]) -> Option<&str> {
        self.syntactic(module, segments)
            .into_iter()
            .find_map(|id| self.consts.get(&id).map(String::as_str))
    }

    /// Candidate ids for a path, without imports: `crate::`, `self::`,
    /// `super::`, another analyzed crate, or an item of `module` itself.
    fn syntactic(&self, module: &[String], segments: &[String]) -> Vec<String> {
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
                if self.crates.contains(first) && segments.len() > 1 {
                    out.push(segments.join("::"));
                }
                return out;
            }
        };
        base.extend(rest.iter().cloned());
        vec![base.join("::")]
    }
}

fn path_id(module: &[String], name: &str) -> String {
    let mut id = module.join("::");
    if !id.is_empty() {
        id.push_str("::");
    }
    id.push_str(name);
    id
}

/// A string literal, possibly behind `&`, parentheses or `concat!` of
/// literals.
pub(crate) fn literal_str(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        Expr::Reference(r) => literal_str(&r.expr),
        Expr::Paren(p) => literal_str(&p.expr),
        Expr::Group(g) => literal_str(&g.expr),
        Expr::Macro(m) => concat_macro(&m.mac),
        _ => None,
    }
}

/// The text of `concat!("a", "b")` when every argument is a literal.
pub(crate) fn concat_macro(mac: &syn::Macro) -> Option<String> {
    if mac.path.segments.last()?.ident != "concat" {
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
