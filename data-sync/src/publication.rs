//! The service's publication on the monolith: created on the first run and
//! kept in line with the plan's tables on every start and join.

use tokio_postgres::Client;

use crate::error::{Context as _, Error};
use crate::spec::{SyncSpec, quote_ident};

/// Creates the publication, or brings its table list in line with the plan.
pub(crate) async fn ensure_publication(source: &Client, spec: &SyncSpec) -> Result<(), Error> {
    let what = || format!("maintaining publication {}", spec.publication);
    let exists = source
        .query_opt(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&spec.publication],
        )
        .await
        .ctx(what)?
        .is_some();
    let wanted: Vec<String> = spec.tables.iter().map(|t| t.table.quoted()).collect();
    if !exists {
        // An empty publication (a cutover prepares the reverse stream's
        // before any table joins it) has no FOR clause.
        let tables = if wanted.is_empty() {
            String::new()
        } else {
            format!(" FOR TABLE {}", wanted.join(", "))
        };
        source
            .batch_execute(&format!(
                "CREATE PUBLICATION {}{tables}",
                quote_ident(&spec.publication)
            ))
            .await
            .ctx(what)?;
        return Ok(());
    }
    let have: Vec<String> = source
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables \
             WHERE pubname = $1",
            &[&spec.publication],
        )
        .await
        .ctx(what)?
        .iter()
        .map(|r| format!("{}.{}", quote_ident(r.get(0)), quote_ident(r.get(1))))
        .collect();
    let add: Vec<&String> = wanted.iter().filter(|t| !have.contains(t)).collect();
    let drop: Vec<&String> = have.iter().filter(|t| !wanted.contains(t)).collect();
    let publication = quote_ident(&spec.publication);
    for t in add {
        source
            .batch_execute(&format!("ALTER PUBLICATION {publication} ADD TABLE {t}"))
            .await
            .ctx(what)?;
    }
    for t in drop {
        source
            .batch_execute(&format!("ALTER PUBLICATION {publication} DROP TABLE {t}"))
            .await
            .ctx(what)?;
    }
    Ok(())
}
