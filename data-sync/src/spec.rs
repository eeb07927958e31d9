//! What to sync, resolved from the plan: per service, the source and target
//! databases, the slot and publication names, and each table's mapping.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use strangler_plan::{Plan, TableStage};

use crate::error::Error;

/// One stream of a service: forward from the monolith's database into the
/// service's, or, after a cutover, reverse from the service's back into the
/// monolith's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// The service's name from the plan.
    pub service: String,
    /// Which way the changes flow.
    pub direction: Direction,
    /// The database changes come from: the monolith's (forward) or the
    /// service's (reverse).
    pub source: String,
    /// The database they are applied to, which keeps the bookkeeping.
    pub target: String,
    /// The logical replication slot on the source (`strangler_<service>`,
    /// reverse `strangler_rev_<service>`).
    pub slot: String,
    /// The publication on the source, named like the slot.
    pub publication: String,
    /// The tables: forward those at `syncing` or `cutover`, reverse those at
    /// `owned`.
    pub tables: Vec<TableSpec>,
}

/// Which way a [`SyncSpec`] moves changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the monolith into the service: tables at `syncing`.
    Forward,
    /// From the service back into the monolith's copy: tables at `owned`.
    /// Only `strangler cutover` starts one (the sides are equal then), so
    /// a reverse stream never copies.
    Reverse,
}

/// The slot and publication name of a service's stream:
/// `strangler_<service>` forward, `strangler_rev_<service>` reverse.
#[must_use]
pub(crate) fn stream_name(service: &str, direction: Direction) -> String {
    let ident = service.replace('-', "_");
    match direction {
        Direction::Forward => format!("strangler_{ident}"),
        Direction::Reverse => format!("strangler_rev_{ident}"),
    }
}

impl SyncSpec {
    /// The stream's name in logs, metrics and the follow loop: the
    /// service's name, with ` (reverse)` for a reverse stream.
    #[must_use]
    pub fn key(&self) -> String {
        match self.direction {
            Direction::Forward => self.service.clone(),
            Direction::Reverse => format!("{} (reverse)", self.service),
        }
    }
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

/// Resolves the streams to run: for every service with a table at
/// `syncing` or `cutover` a forward [`SyncSpec`], and for every service with
/// a table at `owned` a reverse one; or only `service`'s when given.
///
/// A service named on purpose must exist and have a database; without a
/// name, services with nothing to sync are skipped.
pub fn resolve(plan: &Plan, service: Option<&str>) -> Result<Vec<SyncSpec>, Error> {
    let mut specs = resolve_forward(plan, service)?;
    for spec in resolve_reverse(plan, service)? {
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(Error::Plan(
            "no table in the plan is at stage `syncing` or `owned`; set a table's stage to \
             \"syncing\" to sync it"
                .to_owned(),
        ));
    }
    Ok(specs)
}

/// The reverse streams: per service, its tables at `owned`, from the
/// service's database back into the monolith's, with the column mapping
/// turned around.
pub fn resolve_reverse(plan: &Plan, service: Option<&str>) -> Result<Vec<SyncSpec>, Error> {
    let mut specs = Vec::new();
    for svc in &plan.services {
        if service.is_some_and(|name| name != svc.name) {
            continue;
        }
        let tables: Vec<TableSpec> = svc
            .tables
            .iter()
            .filter(|t| t.stage == TableStage::Owned)
            .map(|t| TableSpec {
                name: t.name.clone(),
                table: TableName::parse(&t.name),
                rename: t
                    .rename
                    .iter()
                    .map(|(m, s)| (s.clone(), m.clone()))
                    .collect(),
                exclude: Vec::new(),
            })
            .collect();
        if tables.is_empty() {
            continue;
        }
        let (monolith, own) = databases(plan, svc)?;
        let name = stream_name(&svc.name, Direction::Reverse);
        specs.push(SyncSpec {
            service: svc.name.clone(),
            direction: Direction::Reverse,
            source: own,
            target: monolith,
            slot: name.clone(),
            publication: name,
            tables,
        });
    }
    Ok(specs)
}

/// The monolith's and the service's database URLs, checked.
fn databases(plan: &Plan, svc: &strangler_plan::Service) -> Result<(String, String), Error> {
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
    Ok((source, target))
}

/// The forward streams only (see [`resolve`]).
pub fn resolve_forward(plan: &Plan, service: Option<&str>) -> Result<Vec<SyncSpec>, Error> {
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
        let (source, target) = databases(plan, svc)?;
        let name = stream_name(&svc.name, Direction::Forward);
        specs.push(SyncSpec {
            service: svc.name.clone(),
            direction: Direction::Forward,
            source,
            target,
            slot: name.clone(),
            publication: name,
            tables,
        });
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
