//! Data access in Java: JPA entities and their tables, Spring Data
//! repositories, JPQL and SQL strings (JDBC, `EntityManager`, `@Query`,
//! `MyBatis` annotations) and `MyBatis` XML mappers.
//!
//! - An `@Entity`'s table is `@Table(name)`, else its entity name
//!   (`@Entity(name)` or the class name) in Spring Boot's default
//!   `snake_case` (`PetType` → `pet_type`); an entity extending another
//!   without a `@Table` shares its table (JPA's default single-table
//!   inheritance). `@ManyToOne`/`@OneToOne` fields, `@OneToMany` and
//!   `@ManyToMany` collections, and `@JoinTable`s become foreign keys.
//! - A Spring Data repository (an interface extending `Repository`,
//!   `CrudRepository`, `JpaRepository`, ... with the entity as first type
//!   argument) reads its entity's table in `find*`/`get*`/`read*`/
//!   `query*`/`count*`/`exists*`/`search*`/`stream*` methods and writes it
//!   in `save*`/`delete*`/`remove*`/`insert*`/`update*`/`persist*`, unless
//!   an `@Query` says otherwise (parsed as native SQL with
//!   `nativeQuery = true`, else as JPQL with entity names mapped to tables).
//! - Named queries (`@NamedQuery`, `@NamedNativeQuery`, also in their
//!   plural containers), parsed once where declared and read by
//!   `createNamedQuery` calls and by repository methods `Entity.method`.
//! - Hibernate `*.hbm.xml` and JPA `orm.xml` mappings: classes to tables,
//!   associations to foreign keys, `<query>`/`<sql-query>` and
//!   `<named-query>`/`<named-native-query>` as named queries.
//! - SQL strings passed to JDBC and `JdbcTemplate` methods, and JPQL
//!   passed to `EntityManager.createQuery`, resolved through constants and
//!   concatenation (unknown parts left out).
//! - `MyBatis`: `@Select`/`@Insert`/`@Update`/`@Delete` on mapper methods and
//!   XML mappers whose `namespace` is the mapper interface, dynamic SQL
//!   (`<where>`, `<set>`, `<if>`, `<foreach>`, `<include>`) flattened.

use std::collections::BTreeMap;

use super::model::Value;
use super::resolve::{Index, Scope, TypeInfo};
use super::xml::{self, Element, Item};
use crate::source::Diagnostic;
use crate::sql::{self, Access, Dialect};

/// Spring Data repository interfaces whose first type argument is the entity.
const REPOSITORY_BASES: &[&str] = &[
    "Repository",
    "CrudRepository",
    "ListCrudRepository",
    "PagingAndSortingRepository",
    "ListPagingAndSortingRepository",
    "JpaRepository",
    "JpaSpecificationExecutor",
    "MongoRepository",
    "ReactiveCrudRepository",
    "R2dbcRepository",
    "QuerydslPredicateExecutor",
];

/// Methods of JDBC, `JdbcTemplate` and friends whose first string argument is SQL.
const SQL_METHODS: &[&str] = &[
    "query",
    "queryForObject",
    "queryForList",
    "queryForMap",
    "queryForRowSet",
    "queryForStream",
    "update",
    "batchUpdate",
    "execute",
    "executeQuery",
    "executeUpdate",
    "executeLargeUpdate",
    "addBatch",
    "prepareStatement",
    "prepareCall",
    "createNativeQuery",
    "createQuery",
    "sql",
];

/// Entities and their tables.
#[derive(Debug, Default)]
pub struct Entities {
    /// Entity type id → table name.
    pub table_of: BTreeMap<String, String>,
    /// Entity name as JPQL writes it (lower case) → table name.
    pub by_jpql_name: BTreeMap<String, String>,
    /// Foreign keys: (from table, to table).
    pub references: Vec<(String, String)>,
    /// Where each table's entity is declared: table → (file, line).
    pub declared_at: BTreeMap<String, (String, u32)>,
    /// Entity type id → entity name (`@Entity(name)`, else the simple
    /// class name), which prefixes its named queries.
    pub name_of: BTreeMap<String, String>,
    /// Named queries (`@NamedQuery`, `@NamedNativeQuery`) by name, with the
    /// tables their text reads and writes (`None`: it does not parse, which
    /// was reported where it is declared).
    pub named_queries: BTreeMap<String, Option<Access>>,
}

/// `PetType` → `pet_type`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0 && (prev_lower || (next_lower && chars[i - 1].is_uppercase())) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

fn first_text(index: &Index<'_>, scope: Scope<'_>, values: &[Value]) -> Option<String> {
    values.iter().find_map(|v| match v {
        Value::Text(p) => index.text_of(scope, None, p, 0),
        Value::Other => None,
    })
}

fn scope_of<'a>(index: &'a Index<'a>, info: &'a TypeInfo<'a>) -> Scope<'a> {
    Scope {
        file: &index.files[info.file],
        type_name: &info.decl.name,
    }
}

/// Finds the entities and their tables.
pub fn entities(index: &Index<'_>) -> Entities {
    let mut out = Entities::default();
    let is_entity = |info: &TypeInfo<'_>| info.decl.annotations.iter().any(|a| a.name == "Entity");
    let own_table = |info: &TypeInfo<'_>| -> Option<String> {
        let scope = scope_of(index, info);
        info.decl
            .annotations
            .iter()
            .find(|a| a.name == "Table")
            .and_then(|a| first_text(index, scope, a.arg("name")))
            .filter(|n| !n.is_empty())
            .map(|n| n.to_lowercase())
    };
    // Each entity's own table: `@Table(name)`, else its entity name.
    let mut own: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for info in index.types.values().filter(|i| is_entity(i)) {
        let scope = scope_of(index, info);
        let entity_name = info
            .decl
            .annotations
            .iter()
            .find(|a| a.name == "Entity")
            .and_then(|a| first_text(index, scope, a.arg("name")))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                info.decl
                    .name
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            });
        let explicit = own_table(info);
        let has_table = explicit.is_some();
        own.insert(
            info.fqn.clone(),
            (explicit.unwrap_or_else(|| snake(&entity_name)), has_table),
        );
        out.by_jpql_name
            .insert(entity_name.to_lowercase(), info.fqn.clone());
        out.name_of.insert(info.fqn.clone(), entity_name);
    }
    // An entity under another entity shares the topmost one's table unless
    // it has its own `@Table` (single-table inheritance, JPA's default).
    for info in index.types.values().filter(|i| is_entity(i)) {
        let Some((mut table, has_table)) = own.get(&info.fqn).cloned() else {
            continue;
        };
        if !has_table {
            for ancestor in index.ancestry(&info.fqn).into_iter().skip(1) {
                if let Some((t, _)) = own.get(&ancestor) {
                    table.clone_from(t);
                }
            }
        }
        out.table_of.insert(info.fqn.clone(), table.clone());
        out.declared_at
            .entry(table)
            .or_insert((index.files[info.file].rel_path.clone(), info.decl.line));
    }
    // JPQL names map to the entity's table.
    for value in out.by_jpql_name.values_mut() {
        if let Some(table) = out.table_of.get(value.as_str()) {
            value.clone_from(table);
        }
    }
    relationships(index, &mut out);
    out
}

/// The foreign keys entity relationships declare, fields of mapped
/// superclasses included.
fn relationships(index: &Index<'_>, out: &mut Entities) {
    let is_entity = |info: &TypeInfo<'_>| info.decl.annotations.iter().any(|a| a.name == "Entity");
    for info in index.types.values().filter(|i| is_entity(i)) {
        let Some(table) = out.table_of.get(&info.fqn).cloned() else {
            continue;
        };
        for ancestor in index.ancestry(&info.fqn) {
            let Some(holder) = index.types.get(&ancestor) else {
                continue;
            };
            let scope = scope_of(index, holder);
            for field in &holder.decl.fields {
                let has = |n: &str| field.annotations.iter().any(|a| a.name == n);
                let target = field
                    .ty
                    .all()
                    .iter()
                    .filter_map(|t| index.resolve_type(scope, &t.name))
                    .find_map(|id| out.table_of.get(&id).cloned());
                let Some(target) = target else {
                    continue;
                };
                if has("ManyToOne") || (has("OneToOne") && has("JoinColumn")) {
                    out.references.push((table.clone(), target));
                } else if has("OneToMany") {
                    out.references.push((target, table.clone()));
                } else if has("ManyToMany")
                    && let Some(join) = field
                        .annotations
                        .iter()
                        .find(|a| a.name == "JoinTable")
                        .and_then(|a| first_text(index, scope, a.arg("name")))
                {
                    let join = join.to_lowercase();
                    out.references.push((join.clone(), table.clone()));
                    out.references.push((join, target));
                }
            }
        }
    }
    out.references.sort();
    out.references.dedup();
}

/// Parses the named queries declared on any type (`@NamedQuery`,
/// `@NamedNativeQuery`, each also inside `@NamedQueries({..})` /
/// `@NamedNativeQueries({..})`) into `entities.named_queries`; one that does
/// not parse is a diagnostic at its declaration and is left out.
pub fn named_queries(index: &Index<'_>, entities: &mut Entities) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut found = BTreeMap::new();
    for info in index.types.values() {
        let scope = scope_of(index, info);
        let declared = info.decl.annotations.iter().flat_map(|a| {
            std::iter::once(a).chain(
                a.nested
                    .iter()
                    .filter(move |_| a.name == "NamedQueries" || a.name == "NamedNativeQueries"),
            )
        });
        for ann in declared {
            let native = match ann.name.as_str() {
                "NamedQuery" => false,
                "NamedNativeQuery" => true,
                _ => continue,
            };
            let name = first_text(index, scope, ann.arg("name"));
            let query = first_text(index, scope, ann.arg("query"));
            let (Some(name), Some(query)) = (name, query) else {
                continue;
            };
            let file = &index.files[info.file].rel_path;
            let access = parse_named(&name, &query, native, entities, file, ann.line);
            diagnostics.extend(access.as_ref().err().cloned());
            found.insert(name, access.ok());
        }
    }
    entities.named_queries.extend(found);
    diagnostics
}

/// A named query's tables, or the diagnostic saying it does not parse.
fn parse_named(
    name: &str,
    query: &str,
    native: bool,
    entities: &Entities,
    file: &str,
    line: u32,
) -> Result<Access, Diagnostic> {
    access_of(query, !native, entities).map_err(|e| {
        Diagnostic::new(
            file,
            Some(line),
            format!(
                "named query `{name}` does not parse as {} ({e}); skipped",
                if native { "SQL" } else { "JPQL" }
            ),
        )
    })
}

/// What one XML mapping file declares: a Hibernate `*.hbm.xml` or a JPA
/// `orm.xml`.
#[derive(Debug, Default)]
pub struct XmlMapping {
    /// Mapped classes.
    pub classes: Vec<MappedClass>,
    /// Named queries: `<query>` (HQL) and `<sql-query>` (SQL) in Hibernate,
    /// `<named-query>` (JPQL) and `<named-native-query>` (SQL) in JPA.
    pub queries: Vec<MappedQuery>,
}

/// A `<class>` (or `<subclass>`, `<joined-subclass>`, `<union-subclass>`)
/// of a Hibernate mapping, or an `<entity>` of a JPA `orm.xml`.
#[derive(Debug)]
pub struct MappedClass {
    /// Fully qualified class name.
    pub class: String,
    /// Its table, lower case; a `<subclass>` has its parent's.
    pub table: String,
    /// The mapping names no table (an `orm.xml` entity without `<table>`):
    /// the class shares a mapped ancestor's table when it has one
    /// (single-table inheritance), else `table` is the default name.
    pub inherits_table: bool,
    /// Its entity name (`entity-name`, else the simple class name).
    pub entity_name: String,
    /// Foreign keys as (from, to): each side is a class (`class:a.B`), the
    /// entity a field of this class holds (`field:owner`, for an
    /// association without `class=`, from the Java field's type or type
    /// argument), or a table.
    pub references: Vec<(String, String)>,
    /// File, relative to the root.
    pub file: String,
    /// 1-based line of the element.
    pub line: u32,
}

/// A named query of a Hibernate mapping.
#[derive(Debug)]
pub struct MappedQuery {
    /// Its name.
    pub name: String,
    /// Its text.
    pub text: String,
    /// `<sql-query>`: native SQL.
    pub native: bool,
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// The root element of an XML file whose root is one of `roots` (possibly
/// namespace-prefixed in the text, `<orm:entity-mappings>`): `None` for
/// any other file, and a diagnostic naming `what` when a file that looks
/// like one is not well-formed.
fn xml_root(
    rel: &str,
    text: &str,
    roots: &[&str],
    what: &str,
) -> Result<Option<xml::Element>, Diagnostic> {
    let looks_like = roots
        .iter()
        .any(|r| text.contains(&format!("<{r}")) || text.contains(&format!(":{r}")));
    if !looks_like {
        return Ok(None);
    }
    match xml::parse(text) {
        Ok(root) => Ok(roots.contains(&root.name.as_str()).then_some(root)),
        Err((line, message)) => Err(Diagnostic::new(
            rel,
            Some(line),
            format!("{what} is not well-formed XML ({message}); skipped"),
        )),
    }
}

/// Reads a Hibernate `*.hbm.xml` mapping; any other file gives nothing, and
/// a mapping that is not well-formed XML is a diagnostic.
pub fn hbm_mapping(rel: &str, text: &str) -> (XmlMapping, Vec<Diagnostic>) {
    let mut out = XmlMapping::default();
    let root = match xml_root(rel, text, &["hibernate-mapping"], "Hibernate mapping") {
        Ok(Some(root)) => root,
        Ok(None) => return (out, Vec::new()),
        Err(diagnostic) => return (out, vec![diagnostic]),
    };
    let package = root.attr("package").unwrap_or_default();
    for el in &root.children {
        hbm_class(el, package, None, rel, &mut out.classes, 0);
    }
    // Named queries, at the top level or inside a class.
    let holders = std::iter::once(&root).chain(root.children.iter());
    for holder in holders {
        for q in &holder.children {
            let native = match q.name.as_str() {
                "query" => false,
                "sql-query" => true,
                _ => continue,
            };
            let Some(name) = q.attr("name") else { continue };
            out.queries.push(MappedQuery {
                name: name.to_owned(),
                text: q.text.trim().to_owned(),
                native,
                file: rel.to_owned(),
                line: q.line,
            });
        }
    }
    (out, Vec::new())
}

/// A class element, its subclasses and its associations.
fn hbm_class(
    el: &Element,
    package: &str,
    parent_table: Option<&str>,
    rel: &str,
    out: &mut Vec<MappedClass>,
    depth: usize,
) {
    let own_table = match el.name.as_str() {
        "class" | "joined-subclass" | "union-subclass" => true,
        "subclass" => false,
        _ => return,
    };
    let Some(name) = el.attr("name").or_else(|| el.attr("entity-name")) else {
        return;
    };
    let class = qualify(package, name);
    let simple = class.rsplit('.').next().unwrap_or_default().to_owned();
    let table = match (own_table, parent_table) {
        (false, Some(t)) => t.to_owned(),
        _ => el
            .attr("table")
            .map_or_else(|| simple.clone(), |t| t.trim_matches('`').to_owned())
            .to_lowercase(),
    };
    let mut references = Vec::new();
    if el.name == "joined-subclass"
        && let Some(parent) = parent_table
    {
        references.push((table.clone(), parent.to_owned()));
    }
    let mut properties: Vec<&Element> = el.children.iter().collect();
    // `<component>`s and `<join>`s hold associations too.
    for c in &el.children {
        if matches!(c.name.as_str(), "component" | "join") {
            properties.extend(c.children.iter());
        }
    }
    for p in properties {
        match p.name.as_str() {
            "many-to-one" | "one-to-one"
                if p.name == "many-to-one" || p.attr("constrained") == Some("true") =>
            {
                if let Some(t) = hbm_target(p) {
                    references.push((table.clone(), format!("class:{}", qualify(package, t))));
                } else if let Some(field) = p.attr("name") {
                    references.push((table.clone(), format!("field:{field}")));
                }
            }
            "set" | "bag" | "list" | "map" | "idbag" | "array" => {
                let one_to_many = p.child("one-to-many");
                if let Some(t) = one_to_many.and_then(hbm_target) {
                    references.push((format!("class:{}", qualify(package, t)), table.clone()));
                } else if let (Some(_), Some(field)) = (one_to_many, p.attr("name")) {
                    references.push((format!("field:{field}"), table.clone()));
                } else if let (Some(join), Some(t)) = (
                    p.attr("table"),
                    p.child("many-to-many").and_then(hbm_target),
                ) {
                    let join = join.trim_matches('`').to_lowercase();
                    references.push((join.clone(), table.clone()));
                    references.push((join, format!("class:{}", qualify(package, t))));
                }
            }
            _ => {}
        }
    }
    out.push(MappedClass {
        class: class.clone(),
        table: table.clone(),
        inherits_table: false,
        entity_name: el.attr("entity-name").map_or(simple, str::to_owned),
        references,
        file: rel.to_owned(),
        line: el.line,
    });
    if depth < 32 {
        for c in &el.children {
            hbm_class(c, package, Some(&table), rel, out, depth + 1);
        }
    }
}

/// Reads a JPA `orm.xml` mapping (any XML file whose root is
/// `<entity-mappings>`); any other file gives nothing. Each `<entity
/// class>` maps to its `<table name>` (else its entity name, `name=` or
/// the simple class name, in `snake_case`, or a mapped ancestor's table);
/// `<many-to-one>`, `<one-to-one>` with a `<join-column>`, `<one-to-many>`
/// and `<many-to-many>` with a `<join-table>` under `<attributes>` are
/// foreign keys; `<named-query>` and `<named-native-query>`, at the top or
/// in an entity, are named queries. Broken XML, an entity without a class
/// and a named query without a name or text are diagnostics.
pub fn orm_mapping(rel: &str, text: &str) -> (XmlMapping, Vec<Diagnostic>) {
    let mut out = XmlMapping::default();
    let root = match xml_root(rel, text, &["entity-mappings"], "JPA orm.xml mapping") {
        Ok(Some(root)) => root,
        Ok(None) => return (out, Vec::new()),
        Err(diagnostic) => return (out, vec![diagnostic]),
    };
    let mut diagnostics = Vec::new();
    let package = root.child("package").map_or("", |p| p.text.trim());
    orm_queries(&root, rel, &mut out.queries, &mut diagnostics);
    for el in root.children_named("entity") {
        let Some(class) = el.attr("class").map(str::trim).filter(|c| !c.is_empty()) else {
            diagnostics.push(Diagnostic::new(
                rel,
                Some(el.line),
                "`<entity>` without a `class`; skipped",
            ));
            continue;
        };
        let class = qualify(package, class);
        let simple = class.rsplit('.').next().unwrap_or_default().to_owned();
        let entity_name = el
            .attr("name")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or(simple, str::to_owned);
        let table = el
            .child("table")
            .and_then(|t| t.attr("name"))
            .map(|t| t.trim().trim_matches(['`', '"']).to_lowercase())
            .filter(|t| !t.is_empty());
        let own = format!("class:{class}");
        let target = |a: &Element| match a.attr("target-entity").map(str::trim) {
            Some(t) if !t.is_empty() => Some(format!("class:{}", qualify(package, t))),
            _ => a.attr("name").map(|f| format!("field:{f}")),
        };
        let mut references = Vec::new();
        for a in el.child("attributes").iter().flat_map(|a| &a.children) {
            let Some(to) = target(a) else { continue };
            match a.name.as_str() {
                "many-to-one" => references.push((own.clone(), to)),
                "one-to-one" if a.child("join-column").is_some() => {
                    references.push((own.clone(), to));
                }
                "one-to-many" => references.push((to, own.clone())),
                "many-to-many" => {
                    if let Some(join) = a
                        .child("join-table")
                        .and_then(|j| j.attr("name"))
                        .map(|j| j.trim().trim_matches(['`', '"']).to_lowercase())
                        .filter(|j| !j.is_empty())
                    {
                        references.push((join.clone(), own.clone()));
                        references.push((join, to));
                    }
                }
                _ => {}
            }
        }
        orm_queries(el, rel, &mut out.queries, &mut diagnostics);
        out.classes.push(MappedClass {
            class,
            inherits_table: table.is_none(),
            table: table.unwrap_or_else(|| snake(&entity_name)),
            entity_name,
            references,
            file: rel.to_owned(),
            line: el.line,
        });
    }
    (out, diagnostics)
}

/// The `<named-query>` and `<named-native-query>` children of an
/// `orm.xml` element.
fn orm_queries(
    el: &Element,
    rel: &str,
    out: &mut Vec<MappedQuery>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for q in &el.children {
        let native = match q.name.as_str() {
            "named-query" => false,
            "named-native-query" => true,
            _ => continue,
        };
        let name = q.attr("name").map(str::trim).filter(|n| !n.is_empty());
        let text = q
            .child("query")
            .map(|t| t.text.trim())
            .filter(|t| !t.is_empty());
        let (Some(name), Some(text)) = (name, text) else {
            diagnostics.push(Diagnostic::new(
                rel,
                Some(q.line),
                format!("`<{}>` without a name or a `<query>`; skipped", q.name),
            ));
            continue;
        };
        out.push(MappedQuery {
            name: name.to_owned(),
            text: text.to_owned(),
            native,
            file: rel.to_owned(),
            line: q.line,
        });
    }
}

/// The table of the entity a class's field holds (`Owner owner`, or
/// `Set<Pet> pets`), when the class is analyzed.
fn field_entity_table(
    index: &Index<'_>,
    entities: &Entities,
    class: &str,
    field: &str,
) -> Option<String> {
    let info = index.types.get(class)?;
    let scope = scope_of(index, info);
    let f = info.decl.fields.iter().find(|f| f.name == field)?;
    f.ty.all()
        .iter()
        .filter_map(|t| index.resolve_type(scope, &t.name))
        .find_map(|id| entities.table_of.get(&id).cloned())
}

/// The class (or entity name) an association element points to.
fn hbm_target(e: &Element) -> Option<&str> {
    e.attr("class").or_else(|| e.attr("entity-name"))
}

/// A mapping's class name with the `package` default applied.
fn qualify(package: &str, name: &str) -> String {
    if name.contains('.') || package.is_empty() {
        name.to_owned()
    } else {
        format!("{package}.{name}")
    }
}

/// Adds XML mappings (Hibernate `hbm.xml`, JPA `orm.xml`) to the entities:
/// each class's table (an annotated `@Entity` keeps its own; a class the
/// mapping gives no table shares a mapped ancestor's), its entity name, its
/// foreign keys, and the mappings' named queries (parsed, unparsable ones
/// reported).
pub fn add_xml_mappings(
    entities: &mut Entities,
    index: &Index<'_>,
    mappings: &[XmlMapping],
) -> Vec<Diagnostic> {
    let classes = mappings.iter().flat_map(|m| &m.classes);
    let new: Vec<&MappedClass> = classes
        .clone()
        .filter(|c| !entities.table_of.contains_key(&c.class))
        .collect();
    for c in &new {
        entities.table_of.insert(c.class.clone(), c.table.clone());
    }
    for c in new {
        // The topmost mapped ancestor's table, for a class the mapping
        // gives none.
        let table = if c.inherits_table {
            index
                .ancestry(&c.class)
                .into_iter()
                .skip(1)
                .rev()
                .find_map(|a| entities.table_of.get(&a))
                .unwrap_or(&c.table)
                .clone()
        } else {
            c.table.clone()
        };
        entities.table_of.insert(c.class.clone(), table.clone());
        entities
            .by_jpql_name
            .insert(c.entity_name.to_lowercase(), table.clone());
        // HQL may name the class fully qualified.
        entities
            .by_jpql_name
            .insert(c.class.to_lowercase(), table.clone());
        entities
            .name_of
            .insert(c.class.clone(), c.entity_name.clone());
        entities
            .declared_at
            .entry(table)
            .or_insert((c.file.clone(), c.line));
    }
    for c in classes {
        let side = |s: &str| {
            if let Some(class) = s.strip_prefix("class:") {
                entities.table_of.get(class).cloned()
            } else if let Some(field) = s.strip_prefix("field:") {
                field_entity_table(index, entities, &c.class, field)
            } else {
                Some(s.to_owned())
            }
        };
        let found: Vec<(String, String)> = c
            .references
            .iter()
            .filter_map(|(from, to)| Some((side(from)?, side(to)?)))
            .collect();
        entities.references.extend(found);
    }
    entities.references.sort();
    entities.references.dedup();
    let mut diagnostics = Vec::new();
    for q in mappings.iter().flat_map(|m| &m.queries) {
        let access = parse_named(&q.name, &q.text, q.native, entities, &q.file, q.line);
        diagnostics.extend(access.as_ref().err().cloned());
        entities.named_queries.insert(q.name.clone(), access.ok());
    }
    diagnostics
}

/// The entity type of a Spring Data repository type, if it is one.
pub fn repository_entity(index: &Index<'_>, entities: &Entities, id: &str) -> Option<String> {
    for t in index.ancestry(id) {
        let info = index.types.get(&t)?;
        let scope = scope_of(index, info);
        for sup in &info.external_supers {
            let simple = sup.name.rsplit('.').next().unwrap_or_default();
            if REPOSITORY_BASES.contains(&simple)
                && let Some(entity) = sup.args.first()
                && let Some(entity_id) = index.resolve_type(scope, &entity.name)
            {
                return entities
                    .table_of
                    .contains_key(&entity_id)
                    .then_some(entity_id);
            }
        }
    }
    None
}

/// The entity table of a Spring Data repository type, if it is one.
pub fn repository_table(index: &Index<'_>, entities: &Entities, id: &str) -> Option<String> {
    repository_entity(index, entities, id).and_then(|e| entities.table_of.get(&e).cloned())
}

/// Whether a repository method name reads or writes: `Some(true)` writes.
pub fn derived_write(name: &str) -> Option<bool> {
    const WRITE: [&str; 7] = [
        "save", "delete", "remove", "insert", "update", "persist", "merge",
    ];
    const READ: [&str; 9] = [
        "find", "get", "read", "query", "count", "exists", "search", "stream", "load",
    ];
    if WRITE.iter().any(|p| name.starts_with(p)) {
        Some(true)
    } else if READ.iter().any(|p| name.starts_with(p)) {
        Some(false)
    } else {
        None
    }
}

/// Whether a method named `name` on a receiver of (external) type
/// `receiver` takes SQL as its first string argument.
pub fn takes_sql(receiver: Option<&str>, name: &str) -> bool {
    if !SQL_METHODS.contains(&name) {
        return false;
    }
    // `update`/`execute`/`query` are common names: only on JDBC-like types.
    let receiver = receiver.unwrap_or_default();
    let jdbc_like = [
        "Jdbc",
        "Statement",
        "Connection",
        "EntityManager",
        "Session",
        "JdbcClient",
        "DataSource",
        "SqlSession",
        "Query",
    ];
    jdbc_like.iter().any(|k| receiver.contains(k))
        || matches!(
            name,
            "executeQuery"
                | "executeUpdate"
                | "prepareStatement"
                | "createNativeQuery"
                | "queryForObject"
                | "queryForList"
                | "batchUpdate"
        )
}

/// Whether `text` starts like a SQL (or JPQL) statement.
pub fn looks_like_sql(text: &str) -> bool {
    let first = text
        .trim_start()
        .trim_start_matches('(')
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "SELECT"
            | "INSERT"
            | "UPDATE"
            | "DELETE"
            | "WITH"
            | "MERGE"
            | "REPLACE"
            | "UPSERT"
            | "TRUNCATE"
            | "FROM"
    )
}

/// The tables a SQL or JPQL text reads and writes. JPQL entity names are
/// mapped to their tables and path expressions (`o.pets`) dropped; table
/// names are lower-cased. Parameters (`:name`, `?1`, `#{x}`, `${x}`) become
/// `?` first.
///
/// # Errors
/// The parser's message.
pub fn access_of(text: &str, jpql: bool, entities: &Entities) -> Result<Access, String> {
    let mut sql = placeholders(text);
    if jpql {
        sql = sql
            .split_whitespace()
            .filter(|w| !w.eq_ignore_ascii_case("fetch"))
            .collect::<Vec<_>>()
            .join(" ");
        // `FROM Owner` with no SELECT is valid JPQL.
        if sql.trim_start().to_ascii_uppercase().starts_with("FROM ") {
            sql = format!("SELECT * {sql}");
        }
    }
    let access = sql::sql_access(&sql, Dialect::Generic)?;
    let map = |tables: BTreeMap<String, u32>| -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for (t, n) in tables {
            let lower = t.to_lowercase();
            let mapped = if jpql {
                match entities.by_jpql_name.get(&lower) {
                    Some(table) => table.clone(),
                    None if lower.contains('.') => continue,
                    None => continue,
                }
            } else {
                entities
                    .by_jpql_name
                    .get(&lower)
                    .cloned()
                    .filter(|_| false)
                    .unwrap_or(lower)
            };
            *out.entry(mapped).or_default() += n;
        }
        out
    };
    Ok(Access {
        reads: map(access.reads),
        writes: map(access.writes),
    })
}

/// Replaces JDBC, JPQL and `MyBatis` parameters with `?` (with Spring
/// Data's `%` wildcards around a named parameter).
fn placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut quote = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quote = !quote;
            out.push(c);
            i += 1;
        } else if !quote && (c == '#' || c == '$') && chars.get(i + 1) == Some(&'{') {
            while i < chars.len() && chars[i] != '}' {
                i += 1;
            }
            out.push('?');
            i += 1;
        } else if !quote
            && c == ':'
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphabetic() || *n == '_')
            && (i == 0 || chars[i - 1] != ':')
        {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            // Spring Data's `LIKE %:name%` wildcards belong to the parameter.
            while out.ends_with('%') {
                out.pop();
            }
            while chars.get(i) == Some(&'%') {
                i += 1;
            }
            out.push('?');
        } else if !quote && c == '?' {
            out.push('?');
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// One `MyBatis` XML statement: the mapper method id it belongs to, whether
/// it is an `<insert>`/`<update>`/`<delete>`, its SQL and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapperStatement {
    /// `namespace.id`.
    pub method: String,
    /// Its SQL with dynamic elements flattened.
    pub sql: String,
    /// File, relative to the root.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// The statements of a `MyBatis` (or `iBATIS` `sqlMap`) XML mapper, or nothing
/// for another XML file; broken XML in a file that looks like a mapper is a
/// diagnostic.
pub fn mapper_statements(rel: &str, text: &str) -> (Vec<MapperStatement>, Vec<Diagnostic>) {
    let root = match xml_root(rel, text, &["mapper", "sqlMap"], "MyBatis mapper") {
        Ok(Some(root)) => root,
        Ok(None) => return (Vec::new(), Vec::new()),
        Err(diagnostic) => return (Vec::new(), vec![diagnostic]),
    };
    let Some(namespace) = root.attr("namespace").map(str::to_owned) else {
        return (
            Vec::new(),
            vec![Diagnostic::new(
                rel,
                Some(root.line),
                "mapper has no namespace; its statements are tied to no method",
            )],
        );
    };
    let fragments: BTreeMap<&str, &Element> = root
        .children_named("sql")
        .filter_map(|e| e.attr("id").map(|id| (id, e)))
        .collect();
    let mut out = Vec::new();
    for el in &root.children {
        if !matches!(el.name.as_str(), "select" | "insert" | "update" | "delete") {
            continue;
        }
        let Some(id) = el.attr("id") else { continue };
        let mut sql = String::new();
        flatten(el, &fragments, &mut sql, 0);
        out.push(MapperStatement {
            method: format!("{namespace}.{id}"),
            sql,
            file: rel.to_owned(),
            line: el.line,
        });
    }
    (out, Vec::new())
}

/// `MyBatis` dynamic SQL as one statement: every branch kept, `<where>` and
/// `<set>` as their keywords, `<include>` replaced by its `<sql>` fragment,
/// `<selectKey>` left out.
fn flatten(el: &Element, fragments: &BTreeMap<&str, &Element>, out: &mut String, depth: usize) {
    if depth > 32 {
        return;
    }
    for item in &el.items {
        let c = match item {
            Item::Text(t) => {
                out.push(' ');
                out.push_str(t);
                continue;
            }
            Item::Child(i) => match el.children.get(*i) {
                Some(c) => c,
                None => continue,
            },
        };
        match c.name.as_str() {
            "selectKey" | "bind" => {}
            "include" => {
                if let Some(f) = c.attr("refid").and_then(|r| fragments.get(r)) {
                    flatten(f, fragments, out, depth + 1);
                }
            }
            "where" | "set" => {
                let mut inner = String::new();
                flatten(c, fragments, &mut inner, depth + 1);
                let trimmed = inner.trim();
                let trimmed = trimmed
                    .strip_prefix("AND ")
                    .or_else(|| trimmed.strip_prefix("and "))
                    .or_else(|| trimmed.strip_prefix("OR "))
                    .unwrap_or(trimmed)
                    .trim_end_matches(',');
                out.push_str(if c.name == "where" {
                    " WHERE "
                } else {
                    " SET "
                });
                out.push_str(trimmed);
            }
            "trim" => {
                out.push(' ');
                out.push_str(c.attr("prefix").unwrap_or_default());
                flatten(c, fragments, out, depth + 1);
            }
            "foreach" => {
                out.push(' ');
                out.push_str(c.attr("open").unwrap_or_default());
                flatten(c, fragments, out, depth + 1);
                out.push_str(c.attr("close").unwrap_or_default());
            }
            "choose" => {
                // One branch is enough to see which tables are touched.
                if let Some(first) = c
                    .children
                    .iter()
                    .find(|w| w.name == "when" || w.name == "otherwise")
                {
                    flatten(first, fragments, out, depth + 1);
                }
            }
            _ => flatten(c, fragments, out, depth + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_queries() {
        assert_eq!(snake("PetType"), "pet_type");
        assert_eq!(snake("Owner"), "owner");
        assert_eq!(snake("HTTPLog"), "http_log");
        let mut entities = Entities::default();
        entities
            .by_jpql_name
            .insert("owner".into(), "owners".into());
        entities.by_jpql_name.insert("pet".into(), "pets".into());
        let a = access_of(
            "SELECT DISTINCT owner FROM Owner owner left join fetch owner.pets WHERE owner.lastName LIKE :lastName%",
            true,
            &entities,
        )
        .unwrap();
        assert_eq!(a.reads.keys().collect::<Vec<_>>(), ["owners"]);
        let a = access_of("UPDATE Pet p SET p.name = ?1", true, &entities).unwrap();
        assert_eq!(a.writes.keys().collect::<Vec<_>>(), ["pets"]);
        let a = access_of(
            "INSERT INTO ACCOUNT (userid) VALUES (#{username})",
            false,
            &entities,
        )
        .unwrap();
        assert_eq!(a.writes.keys().collect::<Vec<_>>(), ["account"]);
    }

    #[test]
    fn mapper_xml_flattens_dynamic_sql() {
        let (stmts, diags) = mapper_statements(
            "m.xml",
            r#"<mapper namespace="a.AccountMapper">
  <sql id="cols">USERID, EMAIL</sql>
  <select id="getAccount">SELECT <include refid="cols"/> FROM ACCOUNT <where><if test="u != null">AND USERID = #{u}</if></where></select>
  <update id="updateAccount">UPDATE ACCOUNT <set><if test="e">EMAIL = #{e},</if></set> WHERE USERID = #{u}</update>
</mapper>"#,
        );
        assert!(diags.is_empty());
        assert_eq!(stmts[0].method, "a.AccountMapper.getAccount");
        let e = Entities::default();
        let read = access_of(&stmts[0].sql, false, &e).unwrap();
        assert_eq!(
            read.reads.keys().collect::<Vec<_>>(),
            ["account"],
            "{}",
            stmts[0].sql
        );
        assert!(
            access_of(&stmts[1].sql, false, &e).is_ok(),
            "{}",
            stmts[1].sql
        );
    }
}
