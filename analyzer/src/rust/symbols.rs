//! The symbol table: what each module defines and imports, and name
//! resolution over it.
//!
//! Resolution follows what syntax shows, no more:
//! - items defined in a module (functions, types, modules, inline `mod`s);
//! - `use` imports, including renames (`as`), groups and globs (`*`), and
//!   `pub use` re-exports, transitively;
//! - `crate::`, `self::`, `super::` and `::` prefixes, and paths that start
//!   with the name of another crate of the analyzed workspace;
//! - `Type::method` for inherent and trait impls in the analyzed code, and a
//!   trait's provided (default) methods as `Trait::method`.
//!
//! It does not expand macros, follow `#[path]`, or infer types; method calls
//! on values are handled heuristically by the body pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::consts::Consts;
use super::paths::path_segments;
use crate::source::{Resolver, SourceFile, line_of};
use crate::sql::{TableDef, seaorm};

/// What a name refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Def {
    /// A function or method, by id.
    Fn(String),
    /// A struct, enum, union, trait or type alias, by id.
    Type(String),
    /// A module (or crate root), by id.
    Module(String),
}

/// One `use` entry, as written.
#[derive(Debug, Clone)]
struct Import {
    /// The name it brings into scope (the alias when renamed).
    name: String,
    /// The path, as written (relative to the importing module).
    path: Vec<String>,
}

#[derive(Debug, Default)]
struct Scope {
    items: HashMap<String, Def>,
    imports: Vec<Import>,
    globs: Vec<Vec<String>>,
}

/// A function or method found in the code, with where its body is.
#[derive(Debug, Clone)]
pub struct FnInfo {
    /// Function id.
    pub id: String,
    /// The module it is defined in.
    pub module: String,
    /// The short name.
    pub name: String,
    /// 1-based line.
    pub line: u32,
}

/// A type found in the code.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    /// Type id.
    pub id: String,
    /// The module it is defined in.
    pub module: String,
    /// `struct`, `enum`, `union`, `trait` or `type`.
    pub kind: &'static str,
    /// 1-based line.
    pub line: u32,
}

/// A module found in the code.
#[derive(Debug, Clone)]
pub struct ModuleInfo {
    /// Module id.
    pub id: String,
    /// The file it is in, relative to the root.
    pub file: String,
    /// 1-based line (1 for file modules).
    pub line: u32,
}

/// An `impl` block whose self type (and trait) still need resolving.
#[derive(Debug)]
struct PendingImpl {
    module: String,
    self_path: Vec<String>,
    trait_path: Option<Vec<String>>,
    methods: Vec<(String, u32)>,
}

/// Every module, function and type of the analyzed code, and how names
/// resolve between them.
#[derive(Debug, Default)]
pub struct Symbols {
    scopes: HashMap<String, Scope>,
    crates: BTreeSet<String>,
    /// Identifies this table's finished state in the lookup cache.
    generation: u64,
    /// Modules by id.
    pub modules: BTreeMap<String, ModuleInfo>,
    /// Functions and methods by id.
    pub fns: BTreeMap<String, FnInfo>,
    /// Types by id.
    pub types: BTreeMap<String, TypeInfo>,
    /// `(type id, trait id)` for each `impl Trait for Type` in the code.
    pub implements: BTreeSet<(String, String)>,
    /// The string constants, for SQL extraction and route evaluation.
    pub consts: Consts,
    /// Method name → ids of the methods with that name.
    pub methods_by_name: HashMap<String, Vec<String>>,
    /// sea-orm entity modules (their `Model` names a table) → the table.
    pub entities: BTreeMap<String, TableDef>,
    /// sea-orm relations: `(module, path)` for each `belongs_to = "path"`
    /// of a `Relation` enum, resolved into foreign keys by
    /// [`Symbols::entity_foreign_keys`].
    relations: BTreeSet<(String, String)>,
    /// Impl blocks collected but not yet resolved (see [`Symbols::finish`]).
    pending: Vec<PendingImpl>,
}

const MAX_DEPTH: usize = 24;

thread_local! {
    /// The (module, name) lookups in progress on this thread.
    static VISITING: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Whether a lookup in progress was cut short by a cycle (its result
    /// then depends on where it started, so it is not cached).
    static CUT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Finished lookups: (table generation, module, name) → result. Unknown
    /// names (std's `Ok`, `Vec`, ...) otherwise search every glob again.
    static CACHE: std::cell::RefCell<(u64, LookupCache)> = std::cell::RefCell::new((0, HashMap::new()));
}

/// Finished lookups of one symbol table: (module, name) → result.
type LookupCache = HashMap<(String, String), Option<Def>>;

/// Tells symbol tables apart in the per-thread cache.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Symbols {
    /// Records one file's modules, items and imports. Syntax trees cannot
    /// cross threads, so each worker collects its own files into its own
    /// table; [`Symbols::merge`] and [`Symbols::finish`] complete it.
    pub fn collect_file(&mut self, file: &SourceFile) {
        self.crates.insert(file.crate_name.clone());
        self.consts.collect_file(file);
        let module = file.module.join("::");
        self.add_module(&module, &file.rel_path, 1);
        let mut pending = std::mem::take(&mut self.pending);
        self.collect_items(&module, &file.rel_path, &file.ast.items, &mut pending);
        self.pending = pending;
    }

    /// Adds what another table collected.
    pub fn merge(&mut self, other: Symbols) {
        for (id, scope) in other.scopes {
            let mine = self.scopes.entry(id).or_default();
            for (name, def) in scope.items {
                insert_min(&mut mine.items, name, def);
            }
            mine.imports.extend(scope.imports);
            mine.globs.extend(scope.globs);
        }
        self.crates.extend(other.crates);
        self.consts.merge(other.consts);
        // Two files defining the same id (a package's `lib.rs` and
        // `main.rs` are both its crate root): keep the first by position,
        // whichever worker saw it first.
        for (id, module) in other.modules {
            match self.modules.get(&id) {
                Some(mine) if (&mine.file, mine.line) <= (&module.file, module.line) => {}
                _ => {
                    self.modules.insert(id, module);
                }
            }
        }
        for (id, f) in other.fns {
            match self.fns.get(&id) {
                Some(mine) if (&mine.module, mine.line) <= (&f.module, f.line) => {}
                _ => {
                    self.fns.insert(id, f);
                }
            }
        }
        for (id, t) in other.types {
            match self.types.get(&id) {
                Some(mine) if (&mine.module, mine.line) <= (&t.module, t.line) => {}
                _ => {
                    self.types.insert(id, t);
                }
            }
        }
        self.pending.extend(other.pending);
        for (name, ids) in other.methods_by_name {
            self.methods_by_name.entry(name).or_default().extend(ids);
        }
        self.implements.extend(other.implements);
        for (module, table) in other.entities {
            self.entities.entry(module).or_insert(table);
        }
        self.relations.extend(other.relations);
    }

    /// Keeps only the modules `keep` accepts, with their functions, types
    /// and entities (test code found once every file was read). Names that
    /// resolved to what was dropped then name nothing the graph has.
    pub fn retain_modules(&mut self, keep: impl Fn(&str) -> bool) {
        self.modules.retain(|id, _| keep(id));
        self.fns.retain(|_, f| keep(&f.module));
        self.types.retain(|_, t| keep(&t.module));
        self.entities.retain(|m, _| keep(m));
        self.relations.retain(|(m, _)| keep(m));
        self.pending.retain(|p| keep(&p.module));
        let fns = &self.fns;
        for ids in self.methods_by_name.values_mut() {
            ids.retain(|id| fns.contains_key(id));
        }
    }

    /// Resolves what needed every file: parent modules and impl blocks.
    pub fn finish(&mut self) {
        self.generation = 0;
        self.consts.finish();
        // Every module is an item of its parent, even without a `mod` line.
        let ids: Vec<String> = self.modules.keys().cloned().collect();
        for id in ids {
            if let Some((parent, name)) = id.rsplit_once("::") {
                self.scopes
                    .entry(parent.to_owned())
                    .or_default()
                    .items
                    .entry(name.to_owned())
                    .or_insert(Def::Module(id.clone()));
            }
        }
        // Sort for a result that does not depend on which worker saw what.
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by(|a, b| {
            (&a.module, &a.self_path, &a.methods).cmp(&(&b.module, &b.self_path, &b.methods))
        });
        for imp in pending {
            self.add_impl(imp);
        }
        for scope in self.scopes.values_mut() {
            scope
                .imports
                .sort_by(|a, b| (&a.name, &a.path).cmp(&(&b.name, &b.path)));
            scope.globs.sort();
            scope.globs.dedup();
        }
        for ids in self.methods_by_name.values_mut() {
            ids.sort();
            ids.dedup();
        }
        self.generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn add_module(&mut self, id: &str, file: &str, line: u32) {
        self.modules
            .entry(id.to_owned())
            .or_insert_with(|| ModuleInfo {
                id: id.to_owned(),
                file: file.to_owned(),
                line,
            });
        self.scopes.entry(id.to_owned()).or_default();
    }

    fn scope(&mut self, module: &str) -> &mut Scope {
        self.scopes.entry(module.to_owned()).or_default()
    }

    fn collect_items(
        &mut self,
        module: &str,
        file: &str,
        items: &[syn::Item],
        pending: &mut Vec<PendingImpl>,
    ) {
        for item in items {
            match item {
                syn::Item::Fn(f) => {
                    let name = f.sig.ident.to_string();
                    let id = format!("{module}::{name}");
                    self.fns.insert(
                        id.clone(),
                        FnInfo {
                            id: id.clone(),
                            module: module.to_owned(),
                            name: name.clone(),
                            line: line_of(f.sig.ident.span()),
                        },
                    );
                    self.scope(module).items.insert(name, Def::Fn(id));
                }
                syn::Item::Struct(s) => {
                    self.add_type(module, &s.ident, "struct");
                    if let Some(table) = seaorm::entity_table(s, file) {
                        self.add_entity(module, &s.ident, table);
                    }
                }
                syn::Item::Enum(e) => {
                    self.add_type(module, &e.ident, "enum");
                    if e.ident == "Relation" {
                        for path in seaorm::belongs_to(e) {
                            self.relations.insert((module.to_owned(), path));
                        }
                    }
                }
                syn::Item::Union(u) => self.add_type(module, &u.ident, "union"),
                syn::Item::Type(t) => self.add_type(module, &t.ident, "type"),
                syn::Item::Trait(t) => {
                    self.add_type(module, &t.ident, "trait");
                    let trait_id = format!("{module}::{}", t.ident);
                    for item in &t.items {
                        if let syn::TraitItem::Fn(f) = item {
                            let name = f.sig.ident.to_string();
                            self.add_method(&trait_id, module, &name, line_of(f.sig.ident.span()));
                        }
                    }
                }
                syn::Item::Mod(m) => {
                    let id = format!("{module}::{}", m.ident);
                    self.scope(module)
                        .items
                        .insert(m.ident.to_string(), Def::Module(id.clone()));
                    if let Some((_, inner)) = &m.content {
                        self.add_module(&id, file, line_of(m.ident.span()));
                        self.collect_items(&id, file, inner, pending);
                    }
                }
                syn::Item::Use(u) => {
                    let mut prefix = Vec::new();
                    if u.leading_colon.is_some() {
                        prefix.push("::".to_owned());
                    }
                    self.collect_use(module, &u.tree, &mut prefix);
                }
                syn::Item::Impl(imp) => {
                    let Some(self_path) = type_path(&imp.self_ty) else {
                        continue;
                    };
                    let methods = imp
                        .items
                        .iter()
                        .filter_map(|i| match i {
                            syn::ImplItem::Fn(f) => {
                                Some((f.sig.ident.to_string(), line_of(f.sig.ident.span())))
                            }
                            _ => None,
                        })
                        .collect();
                    pending.push(PendingImpl {
                        module: module.to_owned(),
                        self_path,
                        trait_path: imp.trait_.as_ref().map(|(_, p, _)| path_segments(p)),
                        methods,
                    });
                }
                _ => {}
            }
        }
    }

    fn add_type(&mut self, module: &str, ident: &syn::Ident, kind: &'static str) {
        let id = format!("{module}::{ident}");
        self.types.insert(
            id.clone(),
            TypeInfo {
                id: id.clone(),
                module: module.to_owned(),
                kind,
                line: line_of(ident.span()),
            },
        );
        self.scope(module)
            .items
            .insert(ident.to_string(), Def::Type(id));
    }

    /// Records an entity module and the types sea-orm generates in it,
    /// unless the source defines them itself.
    fn add_entity(&mut self, module: &str, model: &syn::Ident, table: TableDef) {
        for name in seaorm::GENERATED_TYPES {
            if self.scope(module).items.contains_key(*name) {
                continue;
            }
            let ident = syn::Ident::new(name, model.span());
            self.add_type(module, &ident, "struct");
        }
        self.entities.insert(module.to_owned(), table);
    }

    /// The sea-orm entities' tables with the foreign keys their `Relation`
    /// enums declare (`belongs_to = "super::users::Entity"` in the entity
    /// of `posts`: `posts` references `users`), resolved like any path
    /// written in the entity's module. A relation whose entity does not
    /// resolve, or whose module is no entity, adds nothing.
    #[must_use]
    pub fn entity_tables(&self) -> Vec<TableDef> {
        let mut tables = self.entities.clone();
        for (module, path) in &self.relations {
            let segments: Vec<String> = path.split("::").map(str::to_owned).collect();
            let Some(Def::Type(type_id)) = self.resolve(module, &segments) else {
                continue;
            };
            let Some((references, _)) = self.entity_type(&type_id) else {
                continue;
            };
            let references = references.to_owned();
            if let Some(table) = tables.get_mut(module)
                && table.name != references
                && !table
                    .foreign_keys
                    .iter()
                    .any(|fk| fk.references == references)
            {
                table.foreign_keys.push(crate::sql::ForeignKey {
                    columns: Vec::new(),
                    references,
                    referenced_columns: Vec::new(),
                });
            }
        }
        tables.into_values().collect()
    }

    /// The entity table behind a type id (`…::users::Entity`) and the
    /// type's name there, when the type is one sea-orm generates.
    #[must_use]
    pub fn entity_type<'a>(&'a self, type_id: &'a str) -> Option<(&'a str, &'a str)> {
        let (module, name) = type_id.rsplit_once("::")?;
        let table = self.entities.get(module)?;
        seaorm::GENERATED_TYPES
            .contains(&name)
            .then_some((table.name.as_str(), name))
    }

    fn add_method(&mut self, type_id: &str, module: &str, name: &str, line: u32) {
        let id = format!("{type_id}::{name}");
        self.fns.entry(id.clone()).or_insert_with(|| FnInfo {
            id: id.clone(),
            module: module.to_owned(),
            name: name.to_owned(),
            line,
        });
        self.methods_by_name
            .entry(name.to_owned())
            .or_default()
            .push(id);
    }

    fn collect_use(&mut self, module: &str, tree: &syn::UseTree, prefix: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.collect_use(module, &p.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let (alias, path) = if name == "self" {
                    (prefix.last().cloned().unwrap_or_default(), prefix.clone())
                } else {
                    let mut path = prefix.clone();
                    path.push(name.clone());
                    (name, path)
                };
                self.scope(module)
                    .imports
                    .push(Import { name: alias, path });
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                let ident = r.ident.to_string();
                if ident != "self" {
                    path.push(ident);
                }
                self.scope(module).imports.push(Import {
                    name: r.rename.to_string(),
                    path,
                });
            }
            syn::UseTree::Glob(_) => {
                let path = prefix.clone();
                self.scope(module).globs.push(path);
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.collect_use(module, tree, prefix);
                }
            }
        }
    }

    fn add_impl(&mut self, imp: PendingImpl) {
        let type_id = match self.resolve(&imp.module, &imp.self_path) {
            Some(Def::Type(id)) => id,
            // A type from outside the analyzed code (`impl Display for
            // Vec<..>` is not possible, but `impl ext::Trait for Local` with
            // an unresolvable path is): name it where the impl is.
            _ => format!(
                "{}::{}",
                imp.module,
                imp.self_path.last().cloned().unwrap_or_default()
            ),
        };
        if let Some(trait_path) = &imp.trait_path
            && let Some(Def::Type(trait_id)) = self.resolve(&imp.module, trait_path)
        {
            self.implements.insert((type_id.clone(), trait_id));
        }
        for (name, line) in imp.methods {
            self.add_method(&type_id, &imp.module, &name, line);
        }
    }

    /// Whether the methods `candidates` (ids `Owner::name`) are all one
    /// trait's: the trait's own declaration and the implementations of it
    /// in the analyzed code, with at least one implementation.
    #[must_use]
    pub fn one_trait_family(&self, candidates: &[String], name: &str) -> bool {
        let suffix = format!("::{name}");
        let owners: Vec<&str> = candidates
            .iter()
            .filter_map(|id| id.strip_suffix(&suffix))
            .collect();
        if owners.len() != candidates.len() || owners.len() < 2 {
            return false;
        }
        // Each owner's traits: a range of the sorted `(type, trait)` set.
        let traits: Vec<Vec<&str>> = owners
            .iter()
            .map(|&owner| {
                self.implements
                    .range((owner.to_owned(), String::new())..)
                    .take_while(|(ty, _)| ty == owner)
                    .map(|(_, tr)| tr.as_str())
                    .collect()
            })
            .collect();
        // The family's trait is the first owner itself or one it
        // implements; every other owner implements it.
        let mut families = traits[0].clone();
        families.push(owners[0]);
        families.into_iter().any(|family| {
            owners
                .iter()
                .zip(&traits)
                .all(|(&o, ts)| o == family || ts.contains(&family))
        })
    }

    /// What `path` names when written in `module`.
    #[must_use]
    pub fn resolve(&self, module: &str, path: &[String]) -> Option<Def> {
        self.resolve_depth(module, path, 0)
    }

    fn resolve_depth(&self, module: &str, path: &[String], depth: usize) -> Option<Def> {
        if depth > MAX_DEPTH {
            CUT.set(true);
            return None;
        }
        let (first, rest) = path.split_first()?;
        let mut current = match first.as_str() {
            "crate" => Def::Module(module.split("::").next().unwrap_or(module).to_owned()),
            "self" => Def::Module(module.to_owned()),
            "super" => Def::Module(
                module
                    .rsplit_once("::")
                    .map_or(module, |(p, _)| p)
                    .to_owned(),
            ),
            "::" => {
                let (name, rest) = rest.split_first()?;
                return self.walk(Def::Module(self.crate_root(name)?), rest, depth);
            }
            name => self.lookup(module, name, depth)?,
        };
        let mut rest = rest;
        // `super::super::x`.
        while let (Def::Module(m), Some(("super", tail))) =
            (&current, rest.split_first().map(|(h, t)| (h.as_str(), t)))
        {
            current = Def::Module(
                m.rsplit_once("::")
                    .map_or(m.as_str(), |(p, _)| p)
                    .to_owned(),
            );
            rest = tail;
        }
        self.walk(current, rest, depth)
    }

    fn crate_root(&self, name: &str) -> Option<String> {
        self.crates.contains(name).then(|| name.to_owned())
    }

    fn walk(&self, mut current: Def, rest: &[String], depth: usize) -> Option<Def> {
        for segment in rest {
            current = match current {
                Def::Module(m) => self.lookup_in(&m, segment, depth + 1)?,
                Def::Type(t) => {
                    let id = format!("{t}::{segment}");
                    if self.fns.contains_key(&id) {
                        Def::Fn(id)
                    } else if segment.starts_with(|c: char| c.is_ascii_uppercase()) {
                        // An enum variant or an associated constant: a use
                        // of the type, not a call.
                        Def::Type(t)
                    } else {
                        return None;
                    }
                }
                Def::Fn(_) => return None,
            };
        }
        Some(current)
    }

    /// A name as seen from inside `module`: its items, imports, globs, then
    /// the workspace's crates.
    fn lookup(&self, module: &str, name: &str, depth: usize) -> Option<Def> {
        self.lookup_in(module, name, depth)
            .or_else(|| self.crate_root(name).map(Def::Module))
    }

    /// A name defined or imported in `module`.
    fn lookup_in(&self, module: &str, name: &str, depth: usize) -> Option<Def> {
        if depth > MAX_DEPTH {
            CUT.set(true);
            return None;
        }
        let scope = self.scopes.get(module)?;
        if let Some(def) = scope.items.get(name) {
            return Some(def.clone());
        }
        let key = (module.to_owned(), name.to_owned());
        let generation = self.generation;
        if generation != 0
            && let Some(found) = CACHE.with_borrow(|(g, cache)| {
                if *g == generation {
                    cache.get(&key).cloned()
                } else {
                    None
                }
            })
        {
            return found;
        }
        // A name being looked up further up this chain (`use a::*` in b and
        // `use b::*` in a) would only loop.
        if VISITING.with_borrow(|v| v.contains(&key)) {
            CUT.set(true);
            return None;
        }
        VISITING.with_borrow_mut(|v| v.push(key.clone()));
        let outer_cut = CUT.replace(false);
        let found = self.lookup_imports(module, scope, name, depth);
        let cut = CUT.get();
        CUT.set(outer_cut || cut);
        VISITING.with_borrow_mut(Vec::pop);
        if generation != 0 && !cut {
            CACHE.with_borrow_mut(|(g, cache)| {
                if *g != generation {
                    *g = generation;
                    cache.clear();
                }
                cache.insert(key, found.clone());
            });
        }
        found
    }

    fn lookup_imports(&self, module: &str, scope: &Scope, name: &str, depth: usize) -> Option<Def> {
        for import in scope.imports.iter().filter(|i| i.name == name) {
            if let Some(def) = self.resolve_depth(module, &import.path, depth + 1) {
                return Some(def);
            }
        }
        for glob in &scope.globs {
            if let Some(Def::Module(m)) = self.resolve_depth(module, glob, depth + 1)
                && m != module
                && let Some(def) = self.lookup_in(&m, name, depth + 1)
            {
                return Some(def);
            }
        }
        None
    }
}

impl Resolver for Symbols {
    fn function(&self, module: &[String], path: &[String]) -> Option<String> {
        match self.resolve(&module.join("::"), path)? {
            Def::Fn(id) => Some(id),
            _ => None,
        }
    }

    fn string_const(&self, module: &[String], path: &[String]) -> Option<String> {
        self.consts.resolve(module, path).map(str::to_owned)
    }
}

/// Inserts `def` unless a smaller one is there, so the result does not
/// depend on the order files were collected in.
fn insert_min(items: &mut HashMap<String, Def>, name: String, def: Def) {
    match items.get(&name) {
        Some(old) if *old <= def => {}
        _ => {
            items.insert(name, def);
        }
    }
}

/// The path of a type written as a plain path (`Foo`, `crate::a::Foo<T>`).
fn type_path(ty: &syn::Type) -> Option<Vec<String>> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => Some(path_segments(&p.path)),
        syn::Type::Reference(r) => type_path(&r.elem),
        syn::Type::Paren(p) => type_path(&p.elem),
        _ => None,
    }
}
