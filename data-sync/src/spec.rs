//! What to sync, resolved from the plan: per service, the source and target
//! databases, the slot and publication names, and each table's mapping.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use strangler_plan::{Plan, TableStage};

use crate::error::Error;

/// One service's sync: from the monolith's database into the service's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// The service's name from the plan.
    pub service: String,
    /// The monolith's database URL.
    pub source: String,
    /// The service's database URL.
    pub target: String,
    /// The logical replication slot on the monolith (`strangler_<service>`).
    pub slot: String,
    /// The publication on the monolith (`strangler_<service>`).
    pub publication: String,
    /// The tables being synced (stage `syncing` or `cutover`).
    pub tables: Vec<TableSpec>,
}

/// One table's mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table as the plan names it (`orders`, `billing.invoices`).
    pub name: String,
    /// The table in both databases.
    pub table: TableName,
    /// Monolith column name → service column name.
    pub rename: BTreeMap<String, String>,
    /// Monolith columns left behind.
    pub exclude: Vec<String>,
}

impl TableSpec {
    /// The service's name for a monolith column, or `None` if it is excluded.
    #[must_use]
    pub fn target_column<'a>(&'a self, source: &'a str) -> Option<&'a str> {
        if self.exclude.iter().any(|c| c == source) {
            None
        } else {
            Some(self.rename.get(source).map_or(source, String::as_str))
        }
    }
}

/// A schema-qualified table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema, `public` unless the plan says otherwise.
    pub schema: String,
    /// The table's name within the schema.
    pub name: String,
}

impl TableName {
    /// Parses `table` or `schema.table` as the plan writes them.
    #[must_use]
    pub fn parse(text: &str) -> TableName {
        match text.split_once('.') {
            Some((schema, name)) => TableName {
                schema: schema.to_owned(),
                name: name.to_owned(),
            },
            None => TableName {
                schema: "public".to_owned(),
                name: text.to_owned(),
            },
        }
    }

    /// The name quoted for SQL: `"schema"."table"`.
    #[must_use]
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.schema == "public" {
            f.write_str(&self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

/// Quotes an SQL identifier.
#[must_use]
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
#[must_use]
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Resolves the services to sync: every service with a table at `syncing`
/// or `cutover`, or only `service` when given.
///
/// A service named on purpose must exist and have a database; without a
/// name, services with nothing to sync are skipped.
pub fn resolve(plan: &Plan, service: Option<&str>) -> Result<Vec<SyncSpec>, Error> {
    if let Some(name) = service
        && !plan.services.iter().any(|s| s.name == name)
    {
        let known: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::Plan(format!(
            "no service named `{name}` in the plan; services: {}",
            known.join(", ")
        )));
    }
    let mut specs = Vec::new();
    for svc in &plan.services {
        if service.is_some_and(|name| name != svc.name) {
            continue;
        }
        let tables: Vec<TableSpec> = svc
            .tables
            .iter()
            .filter(|t| matches!(t.stage, TableStage::Syncing | TableStage::Cutover))
            .map(|t| TableSpec {
                name: t.name.clone(),
                table: TableName::parse(&t.name),
                rename: t.rename.clone(),
                exclude: t.exclude.clone(),
            })
            .collect();
        if tables.is_empty() && service.is_none() {
            continue;
        }
        let source = plan.monolith.database.clone().ok_or_else(|| {
            Error::Plan(
                "the plan's [monolith] has no `database`; add the monolith's PostgreSQL URL \
                 (database = \"postgres://user@host:5432/db\")"
                    .to_owned(),
            )
        })?;
        let target = svc.database.clone().ok_or_else(|| {
            Error::Plan(format!(
                "service `{}` has no `database`; add the service's PostgreSQL URL to its \
                 [[service]] entry",
                svc.name
            ))
        })?;
        check_url("monolith", &source)?;
        check_url(&format!("service {}", svc.name), &target)?;
        let ident = svc.name.replace('-', "_");
        specs.push(SyncSpec {
            service: svc.name.clone(),
            source,
            target,
            slot: format!("strangler_{ident}"),
            publication: format!("strangler_{ident}"),
            tables,
        });
    }
    if specs.is_empty() {
        return Err(Error::Plan(
            "no table in the plan is at stage `syncing`; set a table's stage to \"syncing\" \
             to sync it"
                .to_owned(),
        ));
    }
    Ok(specs)
}

fn check_url(what: &str, url: &str) -> Result<(), Error> {
    tokio_postgres::Config::from_str(url)
        .map(|_| ())
        .map_err(|e| Error::Url {
            what: what.to_owned(),
            reason: e.to_string(),
        })
}
