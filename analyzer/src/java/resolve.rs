//! Names across files: the index of every analyzed type, and resolving
//! type names, constants and method calls in a file's context.
//!
//! Exact, as far as syntax shows: single-type, on-demand and static
//! imports, the enclosing package, nested types (of the type itself and
//! its outer types), `java.lang` left out as external, supertypes for
//! inherited methods and fields, locals and parameters with declared types,
//! fields (inherited too), `this`/`super`, and constructors. Overloads share
//! one id (`Type.method`), as the graph has one node per name.
//! **Heuristic:** a call on an expression whose type is unknown (a chained
//! call's result) resolves to the one analyzed method of that name when
//! there is exactly one and the name is not common on library types.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use super::model::{JavaFile, Method, Piece, Receiver, TypeDecl, TypeRef};

/// Annotations that mark a field or constructor as injected.
const INJECT: [&str; 3] = ["Autowired", "Inject", "Resource"];

/// Method names too common on library types for the unique-name
/// heuristic (collections, streams, `Optional`, `Object`, builders).
const COMMON: &[&str] = &[
    "add",
    "addAll",
    "apply",
    "build",
    "clear",
    "close",
    "collect",
    "contains",
    "equals",
    "filter",
    "findFirst",
    "forEach",
    "get",
    "getId",
    "getName",
    "hashCode",
    "isEmpty",
    "isPresent",
    "iterator",
    "map",
    "of",
    "orElse",
    "orElseThrow",
    "put",
    "remove",
    "run",
    "set",
    "setId",
    "setName",
    "size",
    "stream",
    "toList",
    "toString",
    "valueOf",
];

/// A type of the analyzed code.
#[derive(Debug)]
pub struct TypeInfo<'a> {
    /// Fully qualified name.
    pub fqn: String,
    /// Index of its file.
    pub file: usize,
    /// The declaration.
    pub decl: &'a TypeDecl,
    /// Supertypes of the analyzed code.
    pub supers: Vec<String>,
    /// Supertypes outside it, as written (`JpaRepository<Owner, Integer>`).
    pub external_supers: Vec<TypeRef>,
    /// Fields: name → (declared type's id when analyzed, injected).
    pub fields: BTreeMap<String, (Option<String>, bool)>,
}

/// A type's resolved supertypes, external supertypes and fields, computed
/// before they are stored.
type Resolution = (
    String,
    Vec<String>,
    Vec<TypeRef>,
    BTreeMap<String, (Option<String>, bool)>,
);

/// Every analyzed type, and what resolution needs across files.
#[derive(Debug, Default)]
pub struct Index<'a> {
    /// The files.
    pub files: &'a [JavaFile],
    /// Types by fully qualified name.
    pub types: BTreeMap<String, TypeInfo<'a>>,
    /// Interface or abstract class → its analyzed implementations.
    pub implementors: BTreeMap<String, Vec<String>>,
    /// Method name → the types declaring it.
    pub methods_named: BTreeMap<String, BTreeSet<String>>,
}

/// Where a name is written: a type of a file.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The file.
    pub file: &'a JavaFile,
    /// The enclosing type's name inside the package (`Outer.Inner`).
    pub type_name: &'a str,
}

/// How a call resolved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Function ids called (the declared method; plus the implementation's
    /// for an injected interface).
    pub targets: Vec<String>,
    /// The receiver's analyzed type, when known (for repository calls).
    pub receiver_type: Option<String>,
    /// The receiver's declared type, analyzed or not, as written.
    pub receiver_ref: Option<TypeRef>,
    /// Whether the name is a method of the analyzed code that did not
    /// resolve (counted as unresolved; other calls are into libraries).
    pub unresolved: bool,
}

/// The fully qualified name of `name` declared in `package`.
pub fn fqn(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_owned()
    } else {
        format!("{package}.{name}")
    }
}

impl<'a> Index<'a> {
    /// Indexes `files`.
    pub fn build(files: &'a [JavaFile]) -> Self {
        let mut index = Index {
            files,
            ..Index::default()
        };
        for (i, file) in files.iter().enumerate() {
            for decl in &file.types {
                let id = fqn(&file.package, &decl.name);
                for m in &decl.methods {
                    index
                        .methods_named
                        .entry(m.name.clone())
                        .or_default()
                        .insert(id.clone());
                }
                index.types.entry(id.clone()).or_insert(TypeInfo {
                    fqn: id,
                    file: i,
                    decl,
                    supers: Vec::new(),
                    external_supers: Vec::new(),
                    fields: BTreeMap::new(),
                });
            }
        }
        // Each type's supertypes and fields, on every core.
        let infos: Vec<&TypeInfo<'a>> = index.types.values().collect();
        let resolved: Vec<Resolution> = infos
            .par_iter()
            .map(|info| {
                let scope = Scope {
                    file: &files[info.file],
                    type_name: &info.decl.name,
                };
                let mut supers = Vec::new();
                let mut external = Vec::new();
                for t in info.decl.extends.iter().chain(&info.decl.implements) {
                    match index.resolve_type(scope, &t.name) {
                        Some(id) if id != info.fqn => supers.push(id),
                        Some(_) => {}
                        None => external.push(t.clone()),
                    }
                }
                let ctor_types: BTreeSet<&str> = info
                    .decl
                    .methods
                    .iter()
                    .filter(|m| m.is_constructor)
                    .flat_map(|m| m.params.iter().map(|p| p.1.name.as_str()))
                    .collect();
                let fields = info
                    .decl
                    .fields
                    .iter()
                    .map(|f| {
                        let injected = f
                            .annotations
                            .iter()
                            .any(|a| INJECT.contains(&a.name.as_str()))
                            || ctor_types.contains(f.ty.name.as_str());
                        (
                            f.name.clone(),
                            (index.resolve_type(scope, &f.ty.name), injected),
                        )
                    })
                    .collect();
                (info.fqn.clone(), supers, external, fields)
            })
            .collect();
        for (id, supers, external, fields) in resolved {
            for s in &supers {
                index
                    .implementors
                    .entry(s.clone())
                    .or_default()
                    .push(id.clone());
            }
            if let Some(info) = index.types.get_mut(&id) {
                info.supers = supers;
                info.external_supers = external;
                info.fields = fields;
            }
        }
        index
    }

    /// The id of the analyzed type `name` names in `scope`, if any.
    pub fn resolve_type(&self, scope: Scope<'_>, name: &str) -> Option<String> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        if let Some((first, rest)) = name.split_once('.') {
            if self.types.contains_key(name) {
                return Some(name.to_owned());
            }
            let outer = self.resolve_type(scope, first)?;
            let id = format!("{outer}.{rest}");
            return self.types.contains_key(&id).then_some(id);
        }
        let file = scope.file;
        // Nested types of the enclosing types, innermost first.
        let mut prefix = scope.type_name;
        loop {
            let id = fqn(&file.package, &format!("{prefix}.{name}"));
            if self.types.contains_key(&id) {
                return Some(id);
            }
            match prefix.rsplit_once('.') {
                Some((outer, _)) => prefix = outer,
                None => break,
            }
        }
        let own = fqn(&file.package, name);
        if scope.type_name == name && self.types.contains_key(&own) {
            return Some(own);
        }
        for import in file.imports.iter().filter(|i| !i.is_static && !i.on_demand) {
            if import.path.rsplit('.').next() == Some(name) {
                // An import names the type exactly, analyzed or not.
                return self
                    .types
                    .contains_key(&import.path)
                    .then(|| import.path.clone());
            }
        }
        if self.types.contains_key(&own) {
            return Some(own);
        }
        file.imports
            .iter()
            .filter(|i| i.on_demand && !i.is_static)
            .map(|i| format!("{}.{name}", i.path))
            .find(|id| self.types.contains_key(id))
    }

    /// The analyzed types `id` is a subtype of, itself first, breadth first.
    pub fn ancestry(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_owned()];
        let mut i = 0;
        while i < out.len() && out.len() < 64 {
            if let Some(info) = self.types.get(&out[i]) {
                for s in &info.supers {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// The type declaring method `name` that a call on `id` reaches.
    pub fn find_method(&self, id: &str, name: &str) -> Option<String> {
        let declares = |t: &str| {
            self.types
                .get(t)
                .is_some_and(|info| info.decl.methods.iter().any(|m| m.name == name))
        };
        // Most calls are to the type's own methods: no ancestry needed.
        if declares(id) {
            return Some(id.to_owned());
        }
        self.ancestry(id).into_iter().skip(1).find(|t| declares(t))
    }

    /// A field `name` of `id` or its supertypes: (declared type, injected).
    fn find_field(&self, id: &str, name: &str) -> Option<(Option<String>, bool, TypeRef)> {
        for t in self.ancestry(id) {
            if let Some(info) = self.types.get(&t)
                && let Some((ty, injected)) = info.fields.get(name)
            {
                let written = info
                    .decl
                    .fields
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| f.ty.clone())
                    .unwrap_or_default();
                return Some((ty.clone(), *injected, written));
            }
        }
        None
    }

    /// The value of a string constant `name` (a field's simple name,
    /// `Type.NAME`, or statically imported) in `scope`, within `method`
    /// when it is a local. Depth-limited against cycles.
    pub fn constant(
        &self,
        scope: Scope<'_>,
        method: Option<&Method>,
        name: &str,
        depth: usize,
    ) -> Option<String> {
        if depth > 8 {
            return None;
        }
        if let Some(m) = method
            && let Some((_, pieces)) = m.local_strings.iter().rev().find(|(n, _)| n == name)
        {
            return self.text_of(scope, None, pieces, depth + 1);
        }
        let (owner, field) = if let Some((ty, field)) = name.rsplit_once('.') {
            (self.resolve_type(scope, ty)?, field)
        } else {
            {
                let own = fqn(&scope.file.package, scope.type_name);
                let mut found = None;
                let mut prefix = own.as_str();
                loop {
                    if self.field_constant(prefix, name).is_some() {
                        found = Some(prefix.to_owned());
                        break;
                    }
                    match prefix.rsplit_once('.') {
                        Some((outer, _)) if self.types.contains_key(outer) => prefix = outer,
                        _ => break,
                    }
                }
                let found = found.or_else(|| {
                    scope
                        .file
                        .imports
                        .iter()
                        .filter(|i| i.is_static)
                        .find_map(|i| {
                            let (ty, member) = if i.on_demand {
                                (i.path.as_str(), name)
                            } else {
                                let (ty, member) = i.path.rsplit_once('.')?;
                                if member != name {
                                    return None;
                                }
                                (ty, member)
                            };
                            self.field_constant(ty, member).map(|_| ty.to_owned())
                        })
                });
                (found?, name)
            }
        };
        let (holder, pieces) = self.field_constant(&owner, field)?;
        let info = self.types.get(&holder)?;
        let holder_scope = Scope {
            file: &self.files[info.file],
            type_name: &info.decl.name,
        };
        self.text_of(holder_scope, None, pieces, depth + 1)
    }

    fn field_constant(&self, id: &str, name: &str) -> Option<(String, &'a [Piece])> {
        for t in self.ancestry(id) {
            if let Some(info) = self.types.get(&t)
                && let Some(pieces) = info
                    .decl
                    .fields
                    .iter()
                    .find(|f| f.name == name)
                    .and_then(|f| f.constant.as_deref())
            {
                return Some((t, pieces));
            }
        }
        None
    }

    /// The text of a concatenation; unknown pieces (and names that are no
    /// string constant) are left out, as the Rust front end does with
    /// `format!` holes. `None` when nothing at all is known.
    pub fn text_of(
        &self,
        scope: Scope<'_>,
        method: Option<&Method>,
        pieces: &[Piece],
        depth: usize,
    ) -> Option<String> {
        let mut out = String::new();
        let mut known = false;
        for p in pieces {
            match p {
                Piece::Lit(s) => {
                    out.push_str(s);
                    known = true;
                }
                Piece::Name(n) => {
                    if let Some(s) = self.constant(scope, method, n, depth + 1) {
                        out.push_str(&s);
                        known = true;
                    }
                }
                Piece::Unknown => {}
            }
        }
        known.then_some(out)
    }

    /// The type a simple or dotted name has as a receiver in `method` of
    /// `scope`'s type: a local, a parameter, a field (then its fields), or
    /// a type named statically. Returns (analyzed id, written type,
    /// injected, is a static type name).
    fn receiver_type(
        &self,
        scope: Scope<'_>,
        method: &Method,
        name: &str,
    ) -> Option<(Option<String>, TypeRef, bool, bool)> {
        let own = fqn(&scope.file.package, scope.type_name);
        let name = name.strip_prefix("this.").unwrap_or(name);
        let mut parts = name.split('.');
        let first = parts.next()?;
        let mut current: (Option<String>, TypeRef, bool, bool) =
            if let Some((_, t)) = method.locals.iter().rev().find(|(n, _)| n == first) {
                (self.resolve_type(scope, &t.name), t.clone(), false, false)
            } else if let Some((_, t, _)) = method.params.iter().find(|(n, _, _)| n == first) {
                // A constructor or `@Bean` method's parameter is injected.
                let injected = method.is_constructor
                    || method
                        .annotations
                        .iter()
                        .any(|a| a.name == "Bean" || INJECT.contains(&a.name.as_str()));
                (
                    self.resolve_type(scope, &t.name),
                    t.clone(),
                    injected,
                    false,
                )
            } else if let Some((id, injected, written)) = self.outer_field(&own, first) {
                (id, written, injected, false)
            } else if let Some(id) = self.resolve_type(scope, first) {
                (
                    Some(id.clone()),
                    TypeRef {
                        name: first.to_owned(),
                        args: Vec::new(),
                    },
                    false,
                    true,
                )
            } else {
                return Some((
                    None,
                    TypeRef {
                        name: name.to_owned(),
                        args: Vec::new(),
                    },
                    false,
                    true,
                ));
            };
        for part in parts {
            if current.3
                && let Some(id) = &current.0
                && self.types.contains_key(&format!("{id}.{part}"))
            {
                current.0 = Some(format!("{id}.{part}"));
                continue;
            }
            let (id, injected, written) = self.find_field(current.0.as_deref()?, part)?;
            current = (id, written, injected, false);
        }
        Some(current)
    }

    /// A field of `own` or of one of its enclosing types.
    fn outer_field(&self, own: &str, name: &str) -> Option<(Option<String>, bool, TypeRef)> {
        let mut prefix = own;
        loop {
            if let Some(found) = self.find_field(prefix, name) {
                return Some(found);
            }
            match prefix.rsplit_once('.') {
                Some((outer, _)) if self.types.contains_key(outer) => prefix = outer,
                _ => return None,
            }
        }
    }

    /// Resolves one call in `method` of `scope`'s type.
    pub fn resolve_call(
        &self,
        scope: Scope<'_>,
        method: &Method,
        receiver: &Receiver,
        name: &str,
    ) -> Resolved {
        let own = fqn(&scope.file.package, scope.type_name);
        let mut out = Resolved::default();
        let method_id = |ty: &str| format!("{ty}.{name}");
        match receiver {
            Receiver::Implicit => {
                let mut prefix = own.as_str();
                loop {
                    if let Some(t) = self.find_method(prefix, name) {
                        out.targets.push(method_id(&t));
                        return out;
                    }
                    match prefix.rsplit_once('.') {
                        Some((outer, _)) if self.types.contains_key(outer) => prefix = outer,
                        _ => break,
                    }
                }
                for i in scope.file.imports.iter().filter(|i| i.is_static) {
                    let ty = if i.on_demand {
                        Some(i.path.as_str())
                    } else {
                        i.path
                            .rsplit_once('.')
                            .filter(|(_, m)| *m == name)
                            .map(|(t, _)| t)
                    };
                    if let Some(ty) = ty
                        && let Some(t) = self.find_method(ty, name)
                    {
                        out.targets.push(method_id(&t));
                        return out;
                    }
                }
                out.unresolved = self.methods_named.contains_key(name);
            }
            Receiver::This => match self.find_method(&own, name) {
                Some(t) => out.targets.push(method_id(&t)),
                None => out.unresolved = self.methods_named.contains_key(name),
            },
            Receiver::Super => {
                let supers = self
                    .types
                    .get(&own)
                    .map(|i| i.supers.clone())
                    .unwrap_or_default();
                match supers.iter().find_map(|s| self.find_method(s, name)) {
                    Some(t) => out.targets.push(method_id(&t)),
                    None => out.unresolved = self.methods_named.contains_key(name),
                }
            }
            Receiver::Name(n) => {
                let Some((id, written, injected, _)) = self.receiver_type(scope, method, n) else {
                    out.unresolved = self.methods_named.contains_key(name);
                    return out;
                };
                out.receiver_ref = Some(written);
                let Some(id) = id else {
                    return out;
                };
                out.receiver_type = Some(id.clone());
                match self.find_method(&id, name) {
                    Some(t) => out.targets.push(method_id(&t)),
                    // Not declared in the source: Lombok, an inherited
                    // library method, or reflection.
                    None => out.unresolved = true,
                }
                if injected {
                    // An injected interface is its one implementation at run time.
                    if let Some(impls) = self.implementors.get(&id)
                        && impls.len() == 1
                        && let Some(t) = self.find_method(&impls[0], name)
                        && !out.targets.contains(&method_id(&t))
                    {
                        out.targets.push(method_id(&t));
                    }
                }
            }
            Receiver::Expr => {
                if let Some(types) = self.methods_named.get(name)
                    && types.len() == 1
                    && !COMMON.contains(&name)
                    && let Some(t) = types.first()
                {
                    out.targets.push(method_id(t));
                } else {
                    out.unresolved = self.methods_named.get(name).is_some_and(|t| !t.is_empty())
                        && !COMMON.contains(&name);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::java::syntax::parse_file;

    fn files(sources: &[(&str, &str)]) -> Vec<JavaFile> {
        sources.iter().map(|(p, s)| parse_file(p, s).0).collect()
    }

    #[test]
    fn calls_resolve_through_imports_fields_and_injection() {
        let files = files(&[
            (
                "a/OwnerController.java",
                "package a.web; import a.svc.OwnerService; import static a.util.Paths.*;\n\
                 class OwnerController { @Autowired OwnerService service;\n\
                 void show(a.svc.Owner o) { service.find(1); helper(); check(); this.show(o); o.getPets(); }\n\
                 void helper() {} }",
            ),
            (
                "a/OwnerService.java",
                "package a.svc; public interface OwnerService { Owner find(int id); }",
            ),
            (
                "a/OwnerServiceImpl.java",
                "package a.svc; class OwnerServiceImpl implements OwnerService { public Owner find(int id) { return new Owner(); } }",
            ),
            (
                "a/Owner.java",
                "package a.svc; class Owner { java.util.List<String> getPets() { return null; } }",
            ),
            (
                "a/Paths.java",
                "package a.util; class Paths { static void check() {} }",
            ),
        ]);
        let index = Index::build(&files);
        let scope = Scope {
            file: &files[0],
            type_name: "OwnerController",
        };
        let m = &files[0].types[0].methods[0];
        let targets: Vec<Vec<String>> = m
            .calls
            .iter()
            .map(|c| index.resolve_call(scope, m, &c.receiver, &c.name).targets)
            .collect();
        assert_eq!(
            targets,
            [
                vec![
                    "a.svc.OwnerService.find".to_owned(),
                    "a.svc.OwnerServiceImpl.find".to_owned()
                ],
                vec!["a.web.OwnerController.helper".to_owned()],
                vec!["a.util.Paths.check".to_owned()],
                vec!["a.web.OwnerController.show".to_owned()],
                vec!["a.svc.Owner.getPets".to_owned()],
            ]
        );
    }
}
