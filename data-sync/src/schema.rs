//! `strangler sync schema`: creates the service's tables from the
//! monolith's DDL. Columns (renamed and excluded as the plan says) and enum
//! types are created now; the primary key and the other indexes are
//! recorded in `strangler.deferred_index` and built after the copy, which
//! loads much faster into a table without indexes.

use std::fmt::Write as _;
use tokio_postgres::Client;

use crate::catalog;
use crate::error::{Context as _, Error};
use crate::spec::{SyncSpec, quote_ident, quote_literal};

/// What `schema` did for one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchemaReport {
    /// The table as the plan names it.
    pub table: String,
    /// Created now, or already there and left alone.
    pub created: bool,
    /// Index statements deferred until after the copy.
    pub deferred: Vec<String>,
    /// Indexes that could not be carried over, and why.
    pub skipped: Vec<String>,
}

/// Creates the service's missing tables for `spec`.
#[allow(clippy::too_many_lines)] // the DDL is built in one pass
pub async fn create_schema(
    source: &Client,
    target: &Client,
    spec: &SyncSpec,
) -> Result<Vec<SchemaReport>, Error> {
    crate::state::ensure_schema(target).await?;
    let mut reports = Vec::new();
    for table in &spec.tables {
        let info = catalog::table_info(source, &table.table)
            .await?
            .ok_or_else(|| {
                Error::Plan(format!(
                    "table `{}` does not exist in the monolith's database",
                    table.name
                ))
            })?;
        if catalog::table_info(target, &table.table).await?.is_some() {
            reports.push(SchemaReport {
                table: table.name.clone(),
                created: false,
                deferred: Vec::new(),
                skipped: Vec::new(),
            });
            continue;
        }
        let mut ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {};\n",
            quote_ident(&table.table.schema)
        );
        ddl.push_str(&enum_ddl(source, &info).await?);
        let columns: Vec<String> = info
            .columns
            .iter()
            .filter_map(|c| {
                table.target_column(&c.name).map(|name| {
                    format!(
                        "{} {}{}",
                        quote_ident(name),
                        c.sql_type,
                        if c.not_null { " NOT NULL" } else { "" }
                    )
                })
            })
            .collect();
        let _ = writeln!(
            ddl,
            "CREATE TABLE {} (\n    {}\n);",
            table.table.quoted(),
            columns.join(",\n    ")
        );
        let mut deferred = Vec::new();
        let mut skipped = Vec::new();
        if let Some(key) = info.identity() {
            let cols: Vec<String> = key
                .iter()
                .filter_map(|k| table.target_column(k).map(quote_ident))
                .collect();
            deferred.push(format!(
                "ALTER TABLE {} ADD PRIMARY KEY ({})",
                table.table.quoted(),
                cols.join(", ")
            ));
        }
        for index in catalog::secondary_indexes(source, info.oid).await? {
            match &index.columns {
                Some(cols) => {
                    let mapped: Option<Vec<String>> = cols
                        .iter()
                        .map(|c| table.target_column(c).map(quote_ident))
                        .collect();
                    match mapped {
                        Some(mapped) => deferred.push(format!(
                            "CREATE {}INDEX IF NOT EXISTS {} ON {} USING {} ({})",
                            if index.unique { "UNIQUE " } else { "" },
                            quote_ident(&index.name),
                            table.table.quoted(),
                            index.method,
                            mapped.join(", ")
                        )),
                        None => skipped.push(format!("{}: uses an excluded column", index.name)),
                    }
                }
                None if table.rename.is_empty() && table.exclude.is_empty() => {
                    deferred.push(index.definition.clone());
                }
                None => skipped.push(format!(
                    "{}: an expression or partial index on a table with renamed or excluded \
                     columns; create it on the service by hand ({})",
                    index.name, index.definition
                )),
            }
        }
        for (ord, stmt) in deferred.iter().enumerate() {
            let _ = writeln!(
                ddl,
                "INSERT INTO strangler.deferred_index (table_name, ord, ddl) VALUES ({}, {ord}, {}) \
                 ON CONFLICT (table_name, ord) DO UPDATE SET ddl = EXCLUDED.ddl;",
                quote_literal(&table.name),
                quote_literal(stmt)
            );
        }
        target
            .batch_execute(&format!("BEGIN;\n{ddl}COMMIT;"))
            .await
            .ctx(|| format!("creating {} in service {}", table.name, spec.service))?;
        reports.push(SchemaReport {
            table: table.name.clone(),
            created: true,
            deferred,
            skipped,
        });
    }
    Ok(reports)
}

/// `CREATE TYPE … AS ENUM` for the enum types the table uses (directly or
/// as array elements) that the target may lack.
async fn enum_ddl(source: &Client, info: &catalog::TableInfo) -> Result<String, Error> {
    let oids: Vec<u32> = info.columns.iter().map(|c| c.type_oid).collect();
    let rows = source
        .query(
            "SELECT DISTINCT n.nspname::text, t.typname::text, \
                    ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid \
                          ORDER BY e.enumsortorder) \
             FROM pg_type c JOIN pg_type t ON t.oid = CASE WHEN c.typtype = 'e' THEN c.oid \
                                                            ELSE c.typelem END \
             JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE c.oid = ANY($1) AND t.typtype = 'e'",
            &[&oids],
        )
        .await
        .ctx(|| "reading enum types".to_owned())?;
    let mut ddl = String::new();
    for row in rows {
        let schema: String = row.get(0);
        let name: String = row.get(1);
        let labels: Vec<String> = row.get(2);
        let labels: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
        let _ = writeln!(
            ddl,
            "CREATE SCHEMA IF NOT EXISTS {schema_q};\n\
             DO $strangler$ BEGIN \
               IF to_regtype({regname}) IS NULL THEN \
                 CREATE TYPE {schema_q}.{name_q} AS ENUM ({labels}); \
               END IF; \
             END $strangler$;",
            schema_q = quote_ident(&schema),
            name_q = quote_ident(&name),
            regname = quote_literal(&format!("{}.{}", quote_ident(&schema), quote_ident(&name))),
            labels = labels.join(", ")
        );
    }
    Ok(ddl)
}

/// Builds the deferred indexes of `table` (plan name) on the target, each
/// in the transaction that forgets it, so a crash never builds one twice.
pub async fn build_deferred(target: &mut Client, table: &str) -> Result<usize, Error> {
    let rows = target
        .query(
            "SELECT ord, ddl FROM strangler.deferred_index WHERE table_name = $1 ORDER BY ord",
            &[&table],
        )
        .await
        .ctx(|| format!("reading deferred indexes of {table}"))?;
    target
        .batch_execute("SET maintenance_work_mem = '256MB'")
        .await
        .ctx(|| "setting maintenance_work_mem".to_owned())?;
    for row in &rows {
        let ord: i32 = row.get(0);
        let ddl: String = row.get(1);
        let tx = target
            .transaction()
            .await
            .ctx(|| "starting an index build".to_owned())?;
        tx.batch_execute(&ddl)
            .await
            .ctx(|| format!("building an index on {table}: {ddl}"))?;
        tx.execute(
            "DELETE FROM strangler.deferred_index WHERE table_name = $1 AND ord = $2",
            &[&table, &ord],
        )
        .await
        .ctx(|| "forgetting a built index".to_owned())?;
        tx.commit()
            .await
            .ctx(|| format!("building an index on {table}"))?;
    }
    Ok(rows.len())
}
