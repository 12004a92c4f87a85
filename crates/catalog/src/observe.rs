//! What an observer outside the sidecar reads of the streams (the benchmark harness): read
//! only, one statement each.

use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

/// Streams whose slot is not being read by a session right now.
pub async fn inactive_streams(client: &impl GenericClient) -> Result<i64, CatalogError> {
    Ok(client
        .query_one(
            "SELECT count(*) FROM summa.streams s LEFT JOIN pg_replication_slots r \
             ON r.slot_name = s.slot_name WHERE r.active IS NOT TRUE",
            &[],
        )
        .await
        .ctx(|| "reading which streams are active".into())?
        .get(0))
}

/// The lowest applied LSN of the streams (text), and its lag in ms: the age of the last
/// applied source commit while WAL is pending, 0 when caught up. `None` without streams.
pub async fn lowest_applied(
    client: &impl GenericClient,
) -> Result<(Option<String>, Option<f64>), CatalogError> {
    let row = client
        .query_one(
            "SELECT min(applied_lsn)::text, \
                    CASE WHEN pg_current_wal_lsn() > min(applied_lsn) \
                         THEN extract(epoch FROM clock_timestamp() - min(applied_commit_time)) * 1000 \
                         ELSE 0 END::float8 \
             FROM summa.streams",
            &[],
        )
        .await
        .ctx(|| "reading the streams' applied positions".into())?;
    Ok((row.get(0), row.get(1)))
}

/// When the (one) stream last committed a batch or was stamped idle, as Unix seconds by the
/// server's clock.
pub async fn applied_at_epoch(client: &impl GenericClient) -> Result<f64, CatalogError> {
    Ok(client
        .query_one(
            "SELECT extract(epoch FROM max(applied_at))::float8 FROM summa.streams",
            &[],
        )
        .await
        .ctx(|| "reading when the stream last applied".into())?
        .get(0))
}
