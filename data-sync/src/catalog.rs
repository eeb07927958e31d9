//! What the databases say about a table: columns, types, keys, replica
//! identity, size and indexes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tokio_postgres::Client;

use crate::error::{Context as _, Error};
use crate::spec::{TableName, quote_ident, quote_literal};

/// One column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// The type as SQL (`format_type`), such as `numeric(10,2)`.
    pub sql_type: String,
    /// The type's OID.
    pub type_oid: u32,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Has a default (or is an identity column).
    pub has_default: bool,
    /// Binary COPY of this type is portable between databases (built-in
    /// types, arrays of them, enums); user-defined composites and arrays of
    /// user-defined types embed OIDs and go as text.
    pub binary_portable: bool,
}

/// A table as the catalog describes it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// The table's OID.
    pub oid: u32,
    /// Columns in order, without dropped and generated ones.
    pub columns: Vec<Column>,
    /// The primary key's columns, in key order; empty without one.
    pub primary_key: Vec<String>,
    /// The replica identity index's columns (`REPLICA IDENTITY USING INDEX`).
    pub identity_index: Vec<String>,
    /// `relreplident`: `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: char,
    /// The primary key's index, when there is one.
    pub primary_key_index: Option<String>,
    /// The primary key is `DEFERRABLE` (`pg_index.indimmediate` false):
    /// PostgreSQL cannot use it as replica identity.
    pub primary_key_deferrable: bool,
    /// The replica identity index's name (`REPLICA IDENTITY USING INDEX`).
    pub identity_index_name: Option<String>,
    /// The replica identity index can identify rows: unique, immediate,
    /// valid, not partial, no expressions, on NOT NULL columns.
    pub identity_index_usable: bool,
    /// Size in blocks.
    pub blocks: i64,
    /// The planner's row estimate (0 when never analyzed).
    pub estimated_rows: i64,
    /// A partitioned table (`relkind = 'p'`): it holds no rows itself, and
    /// its changes are published under its partitions' names.
    pub partitioned: bool,
}

impl TableInfo {
    /// The columns that identify a row in the change stream, or `None`
    /// when UPDATE and DELETE cannot be replicated: the identity PostgreSQL
    /// really uses (`relreplident`). The default needs a primary key that
    /// is not deferrable; `USING INDEX` an index that is unique, immediate,
    /// not partial and on NOT NULL columns; `FULL` keeps the monolith
    /// writable, and the sync applies by its primary key; `NOTHING` cannot
    /// be replicated.
    #[must_use]
    pub fn identity(&self) -> Option<&[String]> {
        match self.replica_identity {
            'd' if !self.primary_key.is_empty() && !self.primary_key_deferrable => {
                Some(&self.primary_key)
            }
            'f' if !self.primary_key.is_empty() => Some(&self.primary_key),
            'i' if !self.identity_index.is_empty() && self.identity_index_usable => {
                Some(&self.identity_index)
            }
            _ => None,
        }
    }

    /// The column called `name`.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Reads a table's description, or `None` if it does not exist.
pub async fn table_info(client: &Client, table: &TableName) -> Result<Option<TableInfo>, Error> {
    let what = || format!("reading the catalog for {table}");
    let row = client
        .query_opt(
            "SELECT c.oid, c.relreplident::text, \
                    (pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint, \
                    greatest(c.reltuples, 0)::bigint, c.relkind = 'p' \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&table.schema, &table.name],
        )
        .await
        .ctx(what)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let oid: u32 = row.get(0);
    let ident: String = row.get(1);
    let blocks: i64 = row.get(2);
    let estimated_rows: i64 = row.get(3);
    let partitioned: bool = row.get(4);
    let columns = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid, \
                    a.attnotnull, (a.atthasdef OR a.attidentity <> ''), \
                    (a.atttypid < 16384 AND (e.oid IS NULL OR e.oid < 16384)) \
                      OR t.typtype = 'e' \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .ctx(what)?
        .iter()
        .map(|r| Column {
            name: r.get(0),
            sql_type: r.get(1),
            type_oid: r.get(2),
            not_null: r.get(3),
            has_default: r.get(4),
            binary_portable: r.get(5),
        })
        .collect();
    let keys = |flag: &'static str| {
        format!(
            "SELECT a.attname::text FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1 AND i.{flag} ORDER BY k.ord"
        )
    };
    let primary_key = client
        .query(&keys("indisprimary"), &[&oid])
        .await
        .ctx(what)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let identity_index = client
        .query(&keys("indisreplident"), &[&oid])
        .await
        .ctx(what)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let keys = key_indexes(client, oid).await.ctx(what)?;
    Ok(Some(TableInfo {
        oid,
        columns,
        primary_key,
        identity_index,
        replica_identity: ident.chars().next().unwrap_or('d'),
        primary_key_index: keys.primary_key_index,
        primary_key_deferrable: keys.primary_key_deferrable,
        identity_index_name: keys.identity_index_name,
        identity_index_usable: keys.identity_index_usable,
        blocks,
        estimated_rows,
        partitioned,
    }))
}

/// What the primary key and the replica identity index can do.
#[derive(Default)]
struct KeyIndexes {
    primary_key_index: Option<String>,
    primary_key_deferrable: bool,
    identity_index_name: Option<String>,
    identity_index_usable: bool,
}

async fn key_indexes(client: &Client, oid: u32) -> Result<KeyIndexes, tokio_postgres::Error> {
    let mut keys = KeyIndexes::default();
    for r in client
        .query(
            "SELECT ic.relname::text, i.indisprimary, i.indisreplident, NOT i.indimmediate, \
                    i.indisunique AND i.indimmediate AND i.indisvalid \
                      AND i.indpred IS NULL AND i.indexprs IS NULL \
                      AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) k(n) \
                                      LEFT JOIN pg_attribute a \
                                        ON a.attrelid = i.indrelid AND a.attnum = k.n \
                                      WHERE a.attnotnull IS NOT TRUE) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = $1 AND (i.indisprimary OR i.indisreplident)",
            &[&oid],
        )
        .await?
    {
        let name: String = r.get(0);
        if r.get::<_, bool>(1) {
            keys.primary_key_index = Some(name.clone());
            keys.primary_key_deferrable = r.get(3);
        }
        if r.get::<_, bool>(2) {
            keys.identity_index_name = Some(name);
            keys.identity_index_usable = r.get(4);
        }
    }
    Ok(keys)
}

/// The leaf partitions of the partitioned table `oid`, schema-qualified
/// where they are not in `public`, in name order.
pub async fn leaf_partitions(client: &Client, oid: u32) -> Result<Vec<String>, Error> {
    Ok(client
        .query(
            "SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text \
                         ELSE n.nspname || '.' || c.relname END \
             FROM pg_partition_tree($1::oid::regclass) p \
             JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE p.isleaf ORDER BY 1",
            &[&oid],
        )
        .await
        .ctx(|| "reading partitions".to_owned())?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A secondary index on the source, as plain columns where possible.
#[derive(Debug, Clone)]
pub struct IndexInfo {
    /// The index's name.
    pub name: String,
    /// `UNIQUE`.
    pub unique: bool,
    /// The access method (`btree`, `gin`, …).
    pub method: String,
    /// The key columns when the index is on plain columns without a
    /// predicate; `None` for expression or partial indexes.
    pub columns: Option<Vec<String>>,
    /// `pg_get_indexdef` for the others.
    pub definition: String,
}

/// The table's indexes other than the primary key.
pub async fn secondary_indexes(client: &Client, oid: u32) -> Result<Vec<IndexInfo>, Error> {
    let rows = client
        .query(
            "SELECT ic.relname::text, i.indisunique, am.amname::text, \
                    pg_get_indexdef(i.indexrelid), \
                    (i.indexprs IS NULL AND i.indpred IS NULL AND NOT (0 = ANY(i.indkey::int2[]))), \
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o) \
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n \
                          ORDER BY k.o) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_am am ON am.oid = ic.relam \
             WHERE i.indrelid = $1 AND NOT i.indisprimary ORDER BY ic.relname",
            &[&oid],
        )
        .await
        .ctx(|| "reading indexes".to_owned())?;
    Ok(rows
        .iter()
        .map(|r| {
            let plain: bool = r.get(4);
            IndexInfo {
                name: r.get(0),
                unique: r.get(1),
                method: r.get(2),
                definition: r.get(3),
                columns: plain.then(|| r.get(5)),
            }
        })
        .collect())
}

/// Every (table, column, sequence) where a column of one of `tables` takes
/// its values from a sequence the column owns (serial or identity), found
/// as [`sequence_of`] finds one column's.
pub(crate) async fn sequences(
    client: &Client,
    tables: &[TableName],
) -> Result<Vec<(String, String, String)>, Error> {
    let mut out = BTreeSet::new();
    for table in tables {
        let rows = client
            .query(
                "SELECT a.attname::text, pg_get_serial_sequence($1, a.attname) \
                 FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                   AND pg_get_serial_sequence($1, a.attname) IS NOT NULL",
                &[&table.quoted()],
            )
            .await
            .ctx(|| format!("reading the sequences of {table}"))?;
        for r in rows {
            out.insert((
                table.to_string(),
                r.get::<_, String>(0),
                r.get::<_, String>(1),
            ));
        }
    }
    Ok(out.into_iter().collect())
}

/// The sequence column `column` of `table` owns (`pg_get_serial_sequence`:
/// a serial column's, through `OWNED BY`, or an identity column's), as a
/// name the sequence functions take; `None` without one or without the
/// table. `sync schema` creates what this finds, and cutover sets it.
pub(crate) async fn sequence_of(
    client: &Client,
    table: &TableName,
    column: &str,
) -> Result<Option<String>, Error> {
    Ok(client
        .query_one(
            "SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL \
             ELSE pg_get_serial_sequence($1, $2) END",
            &[&table.quoted(), &column],
        )
        .await
        .ctx(|| format!("looking for the sequence of {table}.{column}"))?
        .get(0))
}

/// A sequence as `sync schema` recreates it.
#[derive(Debug, Clone)]
pub(crate) struct SequenceDef {
    /// The sequence's schema.
    pub(crate) schema: String,
    /// `AS type`, for `CREATE SEQUENCE` (an identity takes its column's).
    pub(crate) data_type: String,
    /// `START WITH … NO CYCLE`.
    pub(crate) options: String,
}

/// What `CREATE SEQUENCE` needs to recreate `sequence`, or `None` if it is
/// not one.
pub(crate) async fn sequence_def(
    client: &Client,
    sequence: &str,
) -> Result<Option<SequenceDef>, Error> {
    let row = client
        .query_opt(
            "SELECT n.nspname::text, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, \
                    s.seqmin, s.seqmax, s.seqcache, s.seqcycle \
             FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE s.seqrelid = to_regclass($1)",
            &[&sequence],
        )
        .await
        .ctx(|| format!("reading the definition of sequence {sequence}"))?;
    Ok(row.map(|r| {
        let (start, increment, min, max, cache): (i64, i64, i64, i64, i64) =
            (r.get(2), r.get(3), r.get(4), r.get(5), r.get(6));
        let cycle: bool = r.get(7);
        SequenceDef {
            schema: r.get(0),
            data_type: r.get(1),
            options: format!(
                "START WITH {start} INCREMENT BY {increment} MINVALUE {min} MAXVALUE {max} \
                 CACHE {cache} {}CYCLE",
                if cycle { "" } else { "NO " }
            ),
        }
    }))
}

/// A user-defined type a table's columns use, as `sync schema` recreates
/// it and compares it with the service's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserType {
    /// The type's schema.
    pub(crate) schema: String,
    /// The type's name.
    pub(crate) name: String,
    /// What it is.
    pub(crate) def: TypeDef,
}

impl UserType {
    /// `schema.name`, quoted.
    pub(crate) fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// The definition of a [`UserType`], by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeDef {
    /// `CREATE TYPE … AS ENUM`: the labels in order.
    Enum(Vec<String>),
    /// `CREATE DOMAIN`.
    Domain {
        /// The base type as SQL.
        base: String,
        /// `NOT NULL`.
        not_null: bool,
        /// The default expression.
        default: Option<String>,
        /// `CHECK` constraints: name and `pg_get_constraintdef`, by name.
        checks: Vec<(String, String)>,
    },
    /// `CREATE TYPE … AS (…)`: the fields' names and types, in order.
    Composite(Vec<(String, String)>),
    /// A kind `sync schema` does not create (range, base type, a table's
    /// row type), named.
    Other(&'static str),
}

impl TypeDef {
    /// The kind, in a word.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            TypeDef::Enum(_) => "enum",
            TypeDef::Domain { .. } => "domain",
            TypeDef::Composite(_) => "composite",
            TypeDef::Other(kind) => kind,
        }
    }

    /// The definition after the type's name in its `CREATE` statement
    /// (`AS ENUM ('a', 'b')`, `AS integer NOT NULL CHECK (…)`, `AS (a
    /// integer)`); `None` for [`TypeDef::Other`].
    pub(crate) fn body(&self) -> Option<String> {
        Some(match self {
            TypeDef::Enum(labels) => {
                let labels: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
                format!("AS ENUM ({})", labels.join(", "))
            }
            TypeDef::Domain {
                base,
                not_null,
                default,
                checks,
            } => {
                let mut body = format!("AS {base}");
                if let Some(default) = default {
                    let _ = write!(body, " DEFAULT {default}");
                }
                if *not_null {
                    body.push_str(" NOT NULL");
                }
                for (name, check) in checks {
                    let _ = write!(body, " CONSTRAINT {} {check}", quote_ident(name));
                }
                body
            }
            TypeDef::Composite(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(name, ty)| format!("{} {ty}", quote_ident(name)))
                    .collect();
                format!("AS ({})", fields.join(", "))
            }
            TypeDef::Other(_) => return None,
        })
    }
}

/// What a column's type is to `sync schema`.
#[derive(Debug, Clone)]
pub(crate) enum TypeNode {
    /// Built in, or an extension's: nothing to create.
    BuiltIn,
    /// An array of the type with this OID (created with its element).
    Array(u32),
    /// A user-defined type, and the OIDs of the types it is made of.
    User(UserType, Vec<u32>),
}

/// Describes the type `oid`, or `None` if there is no such type.
pub(crate) async fn user_type(client: &Client, oid: u32) -> Result<Option<TypeNode>, Error> {
    let what = || format!("reading the definition of type {oid}");
    let Some(r) = client
        .query_opt(
            "SELECT n.nspname::text, t.typname::text, t.typtype::text, \
                    t.typcategory = 'A' AND t.typelem <> 0, t.typelem, \
                    t.oid < 16384 OR EXISTS (SELECT 1 FROM pg_depend e \
                      WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid \
                        AND e.deptype = 'e'), \
                    t.typbasetype, format_type(t.typbasetype, t.typtypmod), t.typnotnull, \
                    pg_get_expr(t.typdefaultbin, 0), coalesce(c.relkind::text, ''), t.typrelid \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             LEFT JOIN pg_class c ON c.oid = t.typrelid \
             WHERE t.oid = $1",
            &[&oid],
        )
        .await
        .ctx(what)?
    else {
        return Ok(None);
    };
    let typtype: String = r.get(2);
    let built_in: bool = r.get(5);
    let mut deps = Vec::new();
    let def = match typtype.as_str() {
        "b" if r.get::<_, bool>(3) => return Ok(Some(TypeNode::Array(r.get(4)))),
        _ if built_in => return Ok(Some(TypeNode::BuiltIn)),
        "e" => TypeDef::Enum(
            client
                .query(
                    "SELECT enumlabel::text FROM pg_enum WHERE enumtypid = $1 \
                     ORDER BY enumsortorder",
                    &[&oid],
                )
                .await
                .ctx(what)?
                .iter()
                .map(|l| l.get(0))
                .collect(),
        ),
        "d" => {
            deps.push(r.get(6));
            TypeDef::Domain {
                base: r.get(7),
                not_null: r.get(8),
                default: r.get(9),
                checks: client
                    .query(
                        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
                         WHERE contypid = $1 AND contype = 'c' ORDER BY conname",
                        &[&oid],
                    )
                    .await
                    .ctx(what)?
                    .iter()
                    .map(|c| (c.get(0), c.get(1)))
                    .collect(),
            }
        }
        "c" if r.get::<_, String>(10) == "c" => {
            let fields = client
                .query(
                    "SELECT attname::text, format_type(atttypid, atttypmod), atttypid \
                     FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped \
                     ORDER BY attnum",
                    &[&r.get::<_, u32>(11)],
                )
                .await
                .ctx(what)?;
            deps.extend(fields.iter().map(|f| f.get::<_, u32>(2)));
            TypeDef::Composite(fields.iter().map(|f| (f.get(0), f.get(1))).collect())
        }
        "c" => TypeDef::Other("row type of a table"),
        "r" => TypeDef::Other("range type"),
        "m" => TypeDef::Other("multirange type"),
        _ => TypeDef::Other("base type"),
    };
    Ok(Some(TypeNode::User(
        UserType {
            schema: r.get(0),
            name: r.get(1),
            def,
        },
        deps,
    )))
}

/// The OID of the type called `quoted` (`schema.name`, quoted), or `None`.
pub(crate) async fn type_oid(client: &Client, quoted: &str) -> Result<Option<u32>, Error> {
    Ok(client
        .query_one("SELECT to_regtype($1)::oid", &[&quoted])
        .await
        .ctx(|| format!("looking for type {quoted}"))?
        .get(0))
}

/// A column as `sync schema` recreates it: unlike [`Column`], generated
/// columns are included, with what makes their values.
#[derive(Debug, Clone)]
pub struct DdlColumn {
    /// The column's name.
    pub name: String,
    /// The type as SQL (`format_type`).
    pub sql_type: String,
    /// The type's OID.
    pub type_oid: u32,
    /// `NOT NULL`.
    pub not_null: bool,
    /// `attidentity`: `a` (`GENERATED ALWAYS AS IDENTITY`), `d` (`BY
    /// DEFAULT`), or `None`.
    pub identity: Option<char>,
    /// The expression of a `GENERATED ALWAYS AS (…) STORED` column.
    pub generated: Option<String>,
    /// The default expression (`pg_get_expr`) of a column that is not
    /// generated.
    pub default: Option<String>,
    /// The columns a generated column's expression uses.
    pub uses: Vec<String>,
}

/// Every column of table `oid` (generated ones too), in order.
pub async fn ddl_columns(
    client: &Client,
    table: &TableName,
    oid: u32,
) -> Result<Vec<DdlColumn>, Error> {
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid, \
                    a.attnotnull, a.attidentity::text, a.attgenerated::text, \
                    pg_get_expr(d.adbin, d.adrelid), \
                    ARRAY(SELECT r.attname::text FROM pg_depend p \
                          JOIN pg_attribute r ON r.attrelid = p.refobjid AND r.attnum = p.refobjsubid \
                          WHERE p.classid = 'pg_class'::regclass AND p.objid = a.attrelid \
                            AND p.objsubid = a.attnum AND p.refclassid = 'pg_class'::regclass \
                            AND p.refobjid = a.attrelid AND p.refobjsubid > 0 \
                          ORDER BY r.attnum) \
             FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .ctx(|| format!("reading the columns of {table}"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let identity: String = r.get(4);
            let generated: String = r.get(5);
            let expr: Option<String> = r.get(6);
            let is_generated = !generated.is_empty();
            DdlColumn {
                name: r.get(0),
                sql_type: r.get(1),
                type_oid: r.get(2),
                not_null: r.get(3),
                identity: identity.chars().next(),
                generated: expr.clone().filter(|_| is_generated),
                default: expr.filter(|_| !is_generated),
                uses: if is_generated { r.get(7) } else { Vec::new() },
            }
        })
        .collect())
}
