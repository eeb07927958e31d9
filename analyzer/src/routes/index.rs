//! What the route passes need to know about all files up front: every
//! function body (with its id and module), route attributes, and name
//! resolution with a syntactic fallback. String constants come from the
//! symbols pass, through the [`Resolver`]; the constants, `const fn`s and
//! imports route attributes' constant expressions may need are recorded for
//! the link ([`ConstFacts`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use syn::{Attribute, Block, ImplItem, Item, Signature};

use super::attrs::{AttrPath, AttrRoute, route_attrs};
use super::eval::ConstFacts;
use crate::rust::paths::{MAX_INLINE_MODULE_DEPTH, candidates, impl_owner, path_id};
use crate::source::{Resolver, SourceFile};

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
    /// Handler id → its route attributes.
    pub attrs: HashMap<String, Vec<AttrRoute<AttrPath>>>,
    /// Constants, `const fn`s and imports, for constant-expression paths.
    pub consts: ConstFacts,
    /// Crate names of the analyzed files.
    crates: BTreeSet<String>,
}

impl<'a> Index<'a> {
    /// Indexes `files`.
    pub(crate) fn new(files: &'a [SourceFile], resolver: &'a dyn Resolver) -> Self {
        let mut index = Self {
            files,
            resolver,
            fns: Vec::new(),
            known_fns: HashSet::new(),
            attrs: HashMap::new(),
            consts: ConstFacts::default(),
            crates: BTreeSet::new(),
        };
        for (i, file) in files.iter().enumerate() {
            index.crates.insert(file.crate_name.clone());
            index.consts.add_crate(&file.crate_name);
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
                    self.consts.add_fn(&id, module, None, &f.sig, &f.block);
                    self.known_fns.insert(id);
                }
                Item::Const(c) => {
                    let name = c.ident.to_string();
                    self.consts.add_const(module, module, None, &name, &c.expr);
                }
                Item::Static(s) => {
                    let name = s.ident.to_string();
                    self.consts.add_const(module, module, None, &name, &s.expr);
                }
                Item::Use(u) => self.consts.add_use(module, &u.tree),
                Item::Mod(m) => {
                    if let (Some((_, content)), true) =
                        (&m.content, depth < MAX_INLINE_MODULE_DEPTH)
                    {
                        let mut inner = module.to_vec();
                        inner.push(m.ident.to_string());
                        self.items(content, &inner, file, depth + 1);
                    }
                }
                Item::Impl(imp) => {
                    let Some(inner) = impl_owner(module, imp) else {
                        continue;
                    };
                    for item in &imp.items {
                        match item {
                            ImplItem::Fn(f) => {
                                let id = path_id(&inner, &f.sig.ident.to_string());
                                self.add_fn(&id, &f.attrs, module, file, &f.sig, &f.block);
                                let ty = Some(inner.as_slice());
                                self.consts.add_fn(&id, module, ty, &f.sig, &f.block);
                            }
                            ImplItem::Const(c) => {
                                let name = c.ident.to_string();
                                let ty = Some(inner.as_slice());
                                self.consts.add_const(&inner, module, ty, &name, &c.expr);
                            }
                            _ => {}
                        }
                    }
                }
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
        let found = route_attrs(attrs, module, file);
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

    /// The function `segments` names inside `module`: the resolver's answer,
    /// else a syntactic lookup among the analyzed free functions.
    pub(crate) fn resolve_fn(&self, module: &[String], segments: &[String]) -> Option<String> {
        if segments.is_empty() {
            return None;
        }
        if let Some(id) = self.resolver.function(module, segments) {
            return Some(id);
        }
        candidates(module, segments, &self.crates)
            .into_iter()
            .find(|id| self.known_fns.contains(id))
    }

    /// The value of a string constant `segments` names inside `module`,
    /// from the constants table of the symbols pass.
    pub(crate) fn resolve_const(&self, module: &[String], segments: &[String]) -> Option<String> {
        self.resolver.string_const(module, segments)
    }
}
