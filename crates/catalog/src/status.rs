//! `summa status`: every version with its state, lag and table.
//!
//! Lag is how far a summary is behind its source, 0 when caught up. A stream is caught up
//! when its slot's confirmed position has reached the server's WAL position, or when its
//! session, streaming (slot active), recorded since its last batch that it had nothing left
//! to apply (`summa.streams.caught_up_at`, renewed while the WAL moves: WAL of other databases
//! and of summa's own writes is not lag). Otherwise lag bytes are the WAL it still has to read
//! and lag seconds count from the later of the last applied commit, the last caught-up stamp
//! and the stream's creation (WAL before its consistent point is not lag).

use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

#[derive(Debug, Clone)]
pub struct StatusRow {
    pub view: String,
    pub version: i32,
    /// A version's state, or for one asked for with `summa.define` and not built yet:
    /// `waiting for a sidecar`, `queued`, `planning` or `refused` (with the reason in `error`).
    pub state: String,
    /// The versioned table (`-` while it does not exist yet).
    pub table: String,
    pub alias: String,
    pub serving: bool,
    pub applied_lsn: Option<String>,
    /// WAL the stream still has to read (server position minus the slot's), 0 when caught up.
    pub lag_bytes: Option<i64>,
    /// 0 when caught up; else seconds since the later of the last applied commit and the last
    /// moment the stream was known caught up (an upper bound of the oldest unapplied commit's
    /// age; never counts WAL from before the stream started).
    pub lag_seconds: Option<f64>,
    /// Estimated rows (None until the table was analyzed).
    pub rows: Option<i64>,
    /// Bytes on disk: the summary table, its value tables, a join's copies of its inputs, and
    /// their indexes.
    pub size_bytes: Option<i64>,
    /// Fraction of the backfill done (while `backfilling`).
    pub progress: Option<f32>,
    pub error: Option<String>,
    /// The role that asked for it with `summa.define` (none for `summa create`).
    pub requested_by: Option<String>,
}

/// Every version (of `view`, or all) and every `summa.define` request not built yet, from the
/// `summa.status` view (`api.sql`, the one definition of lag), read-only: a role with SELECT
/// on `summa.*` can run it. A database without a catalog has no versions.
pub async fn status(
    client: &impl GenericClient,
    view: Option<&str>,
) -> Result<Vec<StatusRow>, CatalogError> {
    if !crate::schema::installed(client).await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT view_name, version, state, coalesce(table_name, '-'), alias, serving, \
                    applied_lsn::text, lag_bytes, lag_seconds, rows, size_bytes, progress, error, \
                    requested_by::text \
             FROM summa.status WHERE $1::text IS NULL OR view_name = $1 \
             ORDER BY view_name, version",
            &[&view],
        )
        .await
        .ctx(|| "reading status".into())?;
    Ok(rows
        .iter()
        .map(|r| StatusRow {
            view: r.get(0),
            version: r.get(1),
            state: r.get(2),
            table: r.get(3),
            alias: r.get(4),
            serving: r.get(5),
            applied_lsn: r.get(6),
            lag_bytes: r.get(7),
            lag_seconds: r.get(8),
            rows: r.get(9),
            size_bytes: r.get(10),
            progress: r.get(11),
            error: r.get(12),
            requested_by: r.get(13),
        })
        .collect())
}
