//! sea-orm: entity modules and what code does with them.
//!
//! An entity module is one whose `Model` struct carries
//! `#[sea_orm(table_name = "…")]` (with `schema_name`, the table is
//! schema-qualified unless the schema is `public`). The symbols pass records
//! it and gives the module the types sea-orm's derives generate and the
//! source does not show (`Entity`, `ActiveModel`, `Column`, `PrimaryKey`),
//! so imports and re-exports (`pub use super::users::Entity as User`)
//! resolve to them like any other type. The body pass then classifies each
//! path that names one of them ([`classify`]):
//!
//! - `Entity::insert`, `insert_many`, `update`, `update_many`, `delete`,
//!   `delete_many` and `delete_by_id` write the table;
//! - any other use of `Entity` (`find`, `find_by_id`, `find_related(other::Entity)`,
//!   `inner_join(other::Entity)`, a custom `impl Entity` method called
//!   through `Self::find()`) reads it;
//! - any use of `ActiveModel` (a struct literal, `ActiveModel::from(..)`)
//!   writes it: active models exist to be inserted, updated or deleted;
//! - `Column::X` reads it (a filter, an order, a selected column).
//!
//! **Heuristic:** values are not typed, so `model.into_active_model()`
//! followed by `.update(db)` without naming `ActiveModel` is not seen, and
//! an active model built only to be compared is counted as a write.

use super::TableDef;
use crate::source::line_of;

/// The types sea-orm's derives generate in an entity module.
pub const GENERATED_TYPES: &[&str] = &["Entity", "ActiveModel", "Column", "PrimaryKey"];

/// What a path naming an entity's type does to its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Reads the table.
    Read,
    /// Writes the table.
    Write,
}

/// The table a struct declares as a sea-orm entity model, with its columns
/// and primary key, or `None` when it is no entity.
#[must_use]
pub fn entity_table(item: &syn::ItemStruct, file: &str) -> Option<TableDef> {
    let mut table = None;
    let mut schema = None;
    for attr in item.attrs.iter().filter(|a| a.path().is_ident("sea_orm")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("table_name") {
                table = Some(string_value(&meta)?);
            } else if meta.path.is_ident("schema_name") {
                schema = Some(string_value(&meta)?);
            } else if meta.input.peek(syn::Token![=]) {
                // Another `key = value` setting: skip its value.
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    let table = table?;
    let name = match schema {
        Some(s) if s != "public" => format!("{s}.{table}"),
        _ => table,
    };
    let mut columns = Vec::new();
    let mut primary_key = Vec::new();
    for field in &item.fields {
        let Some(ident) = &field.ident else { continue };
        let mut column = ident.to_string().trim_start_matches("r#").to_owned();
        let mut key = false;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("sea_orm")) {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("column_name") {
                    column = string_value(&meta)?;
                } else if meta.path.is_ident("primary_key") {
                    key = true;
                } else if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                } else if meta.input.peek(syn::token::Paren) {
                    meta.parse_nested_meta(|_| Ok(()))?;
                }
                Ok(())
            });
        }
        if key {
            primary_key.push(column.clone());
        }
        columns.push(column);
    }
    Some(TableDef {
        name,
        columns,
        primary_key,
        foreign_keys: Vec::new(),
        view: false,
        defined_at: Some((file.to_owned(), line_of(item.ident.span()))),
    })
}

/// The entity paths a sea-orm `Relation` enum's variants belong to
/// (`#[sea_orm(belongs_to = "super::users::Entity", from = …, to = …)]`),
/// as written. `has_many` and `has_one` are the other side of a
/// `belongs_to` and add nothing.
#[must_use]
pub fn belongs_to(item: &syn::ItemEnum) -> Vec<String> {
    let mut paths = Vec::new();
    for variant in &item.variants {
        for attr in variant
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("sea_orm"))
        {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("belongs_to") {
                    paths.push(string_value(&meta)?);
                } else if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            });
        }
    }
    paths
}

fn string_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<String> {
    let lit: syn::LitStr = meta.value()?.parse()?;
    Ok(lit.value())
}

/// What naming the generated type `ty` (one of [`GENERATED_TYPES`]) of an
/// entity does, when the path goes on with `next` (`find` in
/// `Entity::find()`), or `None` when it says nothing about the table.
#[must_use]
pub fn classify(ty: &str, next: Option<&str>) -> Option<Use> {
    match ty {
        "Entity" => Some(match next {
            Some(
                "insert" | "insert_many" | "update" | "update_many" | "delete" | "delete_many"
                | "delete_by_id",
            ) => Use::Write,
            _ => Use::Read,
        }),
        "ActiveModel" => Some(Use::Write),
        "Column" => Some(Use::Read),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entity_model_gives_its_table_columns_and_key() {
        let item: syn::ItemStruct = syn::parse_quote! {
            #[derive(Clone, Debug, DeriveEntityModel)]
            #[sea_orm(table_name = "crate_meta", schema_name = "registry")]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub id: i64,
                #[sea_orm(column_name = "crate_version", indexed)]
                pub version: String,
                pub r#type: String,
            }
        };
        let table = entity_table(&item, "src/crate_meta.rs").unwrap();
        assert_eq!(table.name, "registry.crate_meta");
        assert_eq!(table.columns, ["id", "crate_version", "type"]);
        assert_eq!(table.primary_key, ["id"]);
        let plain: syn::ItemStruct = syn::parse_quote! {
            #[derive(DeriveEntityModel)]
            #[sea_orm(table_name = "users")]
            pub struct Model { pub id: i32 }
        };
        assert_eq!(entity_table(&plain, "x.rs").unwrap().name, "users");
        let other: syn::ItemStruct = syn::parse_quote! {
            #[derive(Debug)]
            pub struct Model { pub id: i32 }
        };
        assert_eq!(entity_table(&other, "x.rs"), None);
    }

    #[test]
    fn paths_read_or_write_by_type_and_method() {
        assert_eq!(classify("Entity", Some("find")), Some(Use::Read));
        assert_eq!(classify("Entity", None), Some(Use::Read));
        assert_eq!(classify("Entity", Some("delete_many")), Some(Use::Write));
        assert_eq!(classify("Entity", Some("insert")), Some(Use::Write));
        assert_eq!(classify("ActiveModel", None), Some(Use::Write));
        assert_eq!(classify("Column", Some("Name")), Some(Use::Read));
        assert_eq!(classify("PrimaryKey", None), None);
    }
}
