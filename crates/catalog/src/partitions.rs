//! Partitioned sources at `summa create`: what the server must have, and the watch.
//!
//! The method (publish via the root, an event trigger and TRUNCATE triggers reporting the
//! commands that change rows without row changes) is in `partitions.sql`; the sidecar's side
//! in `summa-apply`'s `session/partitions.rs`. Here: a partitioned source is accepted only
//! where the event trigger exists and the publication publishes via the root, and it is
//! watched from before the version's snapshot on: a command between the watch and the
//! snapshot is reported at a position before the version's start (ignored) and its rows are
//! in the snapshot; one after is reported after it.

use summa_plan::ident::quote_ident;
use summa_plan::SourceTable;
use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

/// The event trigger of `partitions.sql`.
const EVENT_TRIGGER: &str = "summa_watch_partitions";

/// `source` (partitioned) can be maintained on this server: summa's event trigger is there
/// and enabled, and `publication` (a DBA's, when given) publishes via the partition root.
pub(crate) async fn check_partitioned(
    client: &impl GenericClient,
    view: &str,
    source: &SourceTable,
    publication: Option<&str>,
) -> Result<(), CatalogError> {
    let table = source.qualified_name();
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = $1 AND evtenabled <> 'D'), \
                    coalesce((SELECT pubviaroot FROM pg_publication WHERE pubname = $2), true)",
            &[&EVENT_TRIGGER, &publication.unwrap_or("")],
        )
        .await
        .ctx(|| format!("view {view}: checking partitioned source {table}"))?;
    let (trigger, via_root): (bool, bool) = (row.get(0), row.get(1));
    if !trigger {
        return Err(CatalogError::Invalid {
            view: view.to_string(),
            message: format!(
                "{table} is partitioned, and ATTACH, DETACH, DROP or TRUNCATE of \
                 a partition change its rows without row changes in the WAL; summa sees them \
                 through its event trigger {EVENT_TRIGGER}, which is missing (the catalog was \
                 installed by a role that is not a superuser) or disabled; have a superuser run:\n  \
                 CREATE EVENT TRIGGER {EVENT_TRIGGER} ON ddl_command_end EXECUTE FUNCTION summa.watch_partitions();"
            ),
        });
    }
    if !via_root {
        let publication = publication.expect("a publication was named");
        return Err(CatalogError::Invalid {
            view: view.to_string(),
            message: format!(
                "{table} is partitioned and publication {publication} publishes \
                 its partitions' changes under their own names; have a DBA run:\n  \
                 ALTER PUBLICATION {} SET (publish_via_partition_root = true);",
                quote_ident(publication)
            ),
        });
    }
    Ok(())
}

/// Watch `source`'s partitions from now on; `full_identity`: new partitions get REPLICA
/// IDENTITY FULL (the view needs old values beyond the primary key).
pub(crate) async fn watch(
    client: &impl GenericClient,
    view: &str,
    source: &SourceTable,
    full_identity: bool,
) -> Result<(), CatalogError> {
    client
        .execute(
            "SELECT summa.watch_root($1, $2)",
            &[&source.oid, &full_identity],
        )
        .await
        .ctx(|| {
            format!(
                "view {view}: watching the partitions of {}",
                source.qualified_name()
            )
        })?;
    Ok(())
}
