//! Checks before anything is created or copied, each failure with its fix.

use tokio_postgres::Client;

use crate::catalog::{self, TableInfo};
use crate::connect::connect;
use crate::error::{Context as _, Error, Problem};
use crate::spec::{SyncSpec, TableSpec};

/// A table that passed preflight, with the monolith's description of it.
#[derive(Debug, Clone)]
pub struct CheckedTable {
    /// The plan's mapping.
    pub spec: TableSpec,
    /// The monolith's table.
    pub source: TableInfo,
}

impl CheckedTable {
    /// Source columns that go to the service, with their target names, in
    /// source order.
    #[must_use]
    pub fn mapped_columns(&self) -> Vec<(&str, &str)> {
        self.source
            .columns
            .iter()
            .filter_map(|c| {
                self.spec
                    .target_column(&c.name)
                    .map(|t| (c.name.as_str(), t))
            })
            .collect()
    }

    /// The source's key columns (replica identity).
    #[must_use]
    pub fn source_key(&self) -> &[String] {
        self.source.identity().unwrap_or(&[])
    }
}

/// Checks the monolith: `wal_level`, the replication privilege, and that
/// every table exists with a key.
#[allow(clippy::too_many_lines)] // a flat list of checks
pub async fn check_source(
    client: &Client,
    spec: &SyncSpec,
) -> Result<(Vec<TableInfo>, Vec<Problem>), Error> {
    let mut problems = Vec::new();
    let wal_level: String = client
        .query_one("SELECT current_setting('wal_level')", &[])
        .await
        .ctx(|| "reading wal_level on the monolith".to_owned())?
        .get(0);
    if wal_level != "logical" {
        problems.push(Problem {
            message: format!(
                "the monolith's wal_level is `{wal_level}`; logical replication needs `logical`"
            ),
            fix: "run `ALTER SYSTEM SET wal_level = logical;` on the monolith's database and \
                  restart PostgreSQL"
                .to_owned(),
        });
    }
    let row = client
        .query_one(
            "SELECT current_user::text, rolreplication OR rolsuper FROM pg_roles \
             WHERE rolname = current_user",
            &[],
        )
        .await
        .ctx(|| "reading the role's privileges on the monolith".to_owned())?;
    let user: String = row.get(0);
    let can_replicate: bool = row.get(1);
    if !can_replicate {
        problems.push(Problem {
            message: format!("role `{user}` on the monolith lacks the REPLICATION privilege"),
            fix: format!(
                "run `ALTER ROLE {} WITH REPLICATION;` as a superuser",
                crate::spec::quote_ident(&user)
            ),
        });
    }
    let mut infos = Vec::new();
    for table in &spec.tables {
        let Some(info) = catalog::table_info(client, &table.table).await? else {
            problems.push(Problem {
                message: format!(
                    "table `{}` does not exist in the monolith's database",
                    table.name
                ),
                fix: "check the table's name in the plan (schema-qualify it when it is not in \
                      `public`)"
                    .to_owned(),
            });
            continue;
        };
        if info.partitioned {
            let leaves = catalog::leaf_partitions(client, info.oid).await?;
            problems.push(Problem {
                message: format!(
                    "table `{}` is partitioned; strangler does not sync a partitioned table \
                     through its parent yet (its changes are published under its partitions' \
                     names)",
                    table.name
                ),
                fix: if leaves.is_empty() {
                    "remove it from the plan until it has partitions, then list those instead"
                        .to_owned()
                } else {
                    format!(
                        "list its partitions in the plan instead of it ({}), each as a table \
                         of its own",
                        leaves
                            .iter()
                            .map(|l| format!("`{l}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            });
            continue;
        }
        if let Some(problem) = identity_problem(table, &info) {
            problems.push(problem);
        }
        for name in table.rename.keys().chain(table.exclude.iter()) {
            if info.column(name).is_none() {
                problems.push(Problem {
                    message: format!(
                        "the plan maps column `{name}` of `{}`, which the monolith's table does \
                         not have",
                        table.name
                    ),
                    fix: "fix `rename`/`exclude` for this table in the plan".to_owned(),
                });
            }
        }
        if let Some(key) = info.identity() {
            for k in key {
                if table.exclude.contains(k) {
                    problems.push(Problem {
                        message: format!(
                            "the plan excludes key column `{k}` of `{}`; changes are applied by \
                             key",
                            table.name
                        ),
                        fix: format!("remove `{k}` from the table's `exclude` list"),
                    });
                }
            }
        }
        infos.push(info);
    }
    Ok((infos, problems))
}

/// Why the monolith's table cannot be published, judged by the identity
/// PostgreSQL will really use (`relreplident`), or `None` when it can. A
/// table refused here is never added to a publication: published without a
/// usable identity, the monolith's own UPDATE and DELETE on it would fail.
fn identity_problem(table: &TableSpec, info: &TableInfo) -> Option<Problem> {
    if info.identity().is_some() {
        return None;
    }
    let quoted = table.table.quoted();
    let name = &table.name;
    let consequence = "strangler will not add it to a publication, because the monolith's own \
                       UPDATE and DELETE statements on it would then fail";
    let use_index = format!(
        "a unique, non-deferrable index on NOT NULL columns and `ALTER TABLE {quoted} REPLICA \
         IDENTITY USING INDEX <index>;`"
    );
    let key_columns = info
        .primary_key
        .iter()
        .map(|k| crate::spec::quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    Some(match (info.replica_identity, &info.primary_key_index) {
        ('d', Some(pk)) if info.primary_key_deferrable => Problem {
            message: format!(
                "table `{name}`'s primary key `{pk}` is DEFERRABLE, and PostgreSQL cannot use a \
                 deferrable key as replica identity; {consequence}"
            ),
            fix: format!(
                "make the key immediate: `ALTER TABLE {quoted} DROP CONSTRAINT {}, ADD PRIMARY \
                 KEY ({key_columns});` (or keep it and add {use_index})",
                crate::spec::quote_ident(pk)
            ),
        },
        ('n', _) => Problem {
            message: format!("table `{name}` has REPLICA IDENTITY NOTHING; {consequence}"),
            fix: format!(
                "`ALTER TABLE {quoted} REPLICA IDENTITY DEFAULT;` with a non-deferrable primary \
                 key, or {use_index}"
            ),
        },
        ('i', _) => Problem {
            message: match &info.identity_index_name {
                Some(index) => format!(
                    "table `{name}`'s replica identity index `{index}` cannot identify rows (it \
                     must be unique, not deferrable, not partial, without expressions, on NOT \
                     NULL columns); {consequence}"
                ),
                None => format!(
                    "table `{name}` has REPLICA IDENTITY USING INDEX, but that index was \
                     dropped; {consequence}"
                ),
            },
            fix: format!(
                "add {use_index}, or `ALTER TABLE {quoted} REPLICA IDENTITY DEFAULT;` with a \
                 non-deferrable primary key"
            ),
        },
        (ident, _) => Problem {
            message: format!(
                "table `{name}` has no primary key{}; {consequence}",
                if ident == 'f' {
                    " (REPLICA IDENTITY FULL keeps the monolith working, but gives the sync no \
                     key to apply changes by)"
                } else {
                    " or replica identity index"
                }
            ),
            fix: format!(
                "add a key: `ALTER TABLE {quoted} ADD PRIMARY KEY (<columns>);` (or {use_index})"
            ),
        },
    })
}

/// Checks the service's tables against the monolith's: every mapped column
/// present with the same type, extra columns nullable or defaulted, and the
/// same key.
#[allow(clippy::too_many_lines)] // a flat list of checks
pub async fn check_target(
    client: &Client,
    spec: &SyncSpec,
    sources: &[TableInfo],
) -> Result<(Vec<CheckedTable>, Vec<Problem>), Error> {
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    let has_state = crate::state::has_schema(client).await?;
    for (table, source) in spec.tables.iter().zip(sources) {
        let Some(target) = catalog::table_info(client, &table.table).await? else {
            problems.push(Problem {
                message: format!(
                    "table `{}` does not exist in service `{}`'s database",
                    table.name, spec.service
                ),
                fix: format!(
                    "run `strangler sync schema --plan <plan> --service {}` to create it from \
                     the monolith's DDL, or create it yourself",
                    spec.service
                ),
            });
            continue;
        };
        let mut table_ok = true;
        let mut mapped = Vec::new();
        for col in &source.columns {
            let Some(name) = table.target_column(&col.name) else {
                continue;
            };
            mapped.push(name.to_owned());
            match target.column(name) {
                None => {
                    table_ok = false;
                    problems.push(Problem {
                        message: format!(
                            "service table `{}` has no column `{name}` (the monolith's `{}` {})",
                            table.name, col.name, col.sql_type
                        ),
                        fix: format!(
                            "`ALTER TABLE {} ADD COLUMN {} {};`, or exclude/rename the column in \
                             the plan",
                            table.table.quoted(),
                            crate::spec::quote_ident(name),
                            col.sql_type
                        ),
                    });
                }
                Some(t) if t.sql_type != col.sql_type => {
                    table_ok = false;
                    problems.push(Problem {
                        message: format!(
                            "column `{name}` of service table `{}` is `{}` but the monolith's is \
                             `{}`",
                            table.name, t.sql_type, col.sql_type
                        ),
                        fix: format!(
                            "`ALTER TABLE {} ALTER COLUMN {} TYPE {};`",
                            table.table.quoted(),
                            crate::spec::quote_ident(name),
                            col.sql_type
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        for col in &target.columns {
            if !mapped.contains(&col.name) && col.not_null && !col.has_default {
                table_ok = false;
                problems.push(Problem {
                    message: format!(
                        "service table `{}` has a NOT NULL column `{}` without a default that \
                         the sync does not fill",
                        table.name, col.name
                    ),
                    fix: format!(
                        "give it a default (`ALTER TABLE {} ALTER COLUMN {} SET DEFAULT …`) or \
                         drop NOT NULL",
                        table.table.quoted(),
                        crate::spec::quote_ident(&col.name)
                    ),
                });
            }
        }
        let want_key: Vec<String> = source
            .identity()
            .unwrap_or(&[])
            .iter()
            .filter_map(|k| table.target_column(k).map(str::to_owned))
            .collect();
        let mut key_deferred = false;
        if target.primary_key.is_empty() && has_state {
            let row = client
                .query_one(
                    "SELECT count(*) FROM strangler.deferred_index \
                     WHERE table_name = $1 AND ddl LIKE '%PRIMARY KEY%'",
                    &[&table.name],
                )
                .await
                .ctx(|| "reading deferred indexes".to_owned())?;
            key_deferred = row.get::<_, i64>(0) > 0;
        }
        let mut have = target.primary_key.clone();
        have.sort();
        let mut want = want_key.clone();
        want.sort();
        if !key_deferred && have != want {
            table_ok = false;
            problems.push(Problem {
                message: format!(
                    "service table `{}` has primary key ({}) but the monolith's key maps to ({})",
                    table.name,
                    target.primary_key.join(", "),
                    want_key.join(", ")
                ),
                fix: format!(
                    "`ALTER TABLE {} ADD PRIMARY KEY ({});` (drop the other key first)",
                    table.table.quoted(),
                    want_key
                        .iter()
                        .map(|k| crate::spec::quote_ident(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        if table_ok {
            checked.push(CheckedTable {
                spec: table.clone(),
                source: source.clone(),
            });
        }
    }
    Ok((checked, problems))
}

/// Runs both checks and fails with every problem found.
pub async fn preflight(
    source: &Client,
    target: &Client,
    spec: &SyncSpec,
) -> Result<Vec<CheckedTable>, Error> {
    let (infos, mut problems) = check_source(source, spec).await?;
    if infos.len() == spec.tables.len() {
        let (checked, target_problems) = check_target(target, spec, &infos).await?;
        problems.extend(target_problems);
        if problems.is_empty() {
            return Ok(checked);
        }
    }
    Err(Error::Preflight(problems))
}

/// [`preflight`] as `run` does it at every (re)start: a table already in
/// `error` (named in `failed`, say after the monolith's table changed
/// shape) that no longer passes is left out, with its problems logged, and
/// stays in `error`; the other tables go on. Any other problem fails as in
/// [`preflight`].
pub async fn preflight_sparing_failed(
    source: &Client,
    target: &Client,
    spec: &SyncSpec,
    failed: &[String],
) -> Result<Vec<CheckedTable>, Error> {
    let (broken, healthy): (Vec<TableSpec>, Vec<TableSpec>) = spec
        .tables
        .iter()
        .cloned()
        .partition(|t| failed.contains(&t.name));
    let mut checked = preflight(
        source,
        target,
        &SyncSpec {
            tables: healthy,
            ..spec.clone()
        },
    )
    .await?;
    for table in broken {
        let name = table.name.clone();
        let one = SyncSpec {
            tables: vec![table],
            ..spec.clone()
        };
        match preflight(source, target, &one).await {
            Ok(passed) => checked.extend(passed),
            Err(Error::Preflight(problems)) => {
                let listed: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{} (fix: {})", p.message, p.fix))
                    .collect();
                tracing::warn!(
                    service = %spec.service,
                    "table {name} stays in error and out of the stream; the others go on: {}",
                    listed.join("; ")
                );
            }
            Err(e) => return Err(e),
        }
    }
    checked.sort_by_key(|c| spec.tables.iter().position(|t| t.name == c.spec.name));
    Ok(checked)
}

/// Runs the preflight checks for `spec` without changing anything: the
/// problems `run` would refuse to start with, each with its fix.
pub async fn check(spec: &SyncSpec) -> Result<(), Error> {
    let source = connect(&spec.source, "the monolith's database").await?;
    let target = connect(&spec.target, "the service's database").await?;
    preflight(&source, &target, spec).await.map(|_| ())
}
