//! What the databases say about a table: columns, types, keys, replica
//! identity, size and indexes.

use tokio_postgres::Client;

use crate::error::{Context as _, Error};
use crate::spec::TableName;

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
