//! `summa status`: every version with its state, lag and table.

use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

#[derive(Debug, Clone)]
pub struct StatusRow {
    pub view: String,
    pub version: i32,
    pub state: String,
    pub table: String,
    pub alias: String,
    pub serving: bool,
    pub applied_lsn: Option<String>,
    pub lag_bytes: Option<i64>,
    pub lag_seconds: Option<f64>,
    /// Estimated rows (None until the table was analyzed).
    pub rows: Option<i64>,
    /// Bytes on disk: the summary table, its value tables and their indexes.
    pub size_bytes: Option<i64>,
    /// Fraction of the backfill done (while `backfilling`).
    pub progress: Option<f32>,
    pub error: Option<String>,
}

pub async fn status(
    client: &impl GenericClient,
    view: Option<&str>,
) -> Result<Vec<StatusRow>, CatalogError> {
    let rows = client
        .query(
            "SELECT v.view_name, v.version, v.state, \
                    quote_ident(v.table_schema) || '.' || quote_ident(v.table_name), \
                    quote_ident(w.schema_name) || '.' || quote_ident(w.name), \
                    coalesce(w.serving_version = v.version, false), \
                    s.applied_lsn::text, \
                    greatest(pg_current_wal_lsn() - greatest(s.applied_lsn, r.confirmed_flush_lsn), 0)::bigint, \
                    CASE WHEN pg_current_wal_lsn() - greatest(s.applied_lsn, r.confirmed_flush_lsn) <= 0 THEN 0 \
                         ELSE greatest(extract(epoch FROM now() - s.applied_at)::float8, 0) END, \
                    (SELECT nullif(greatest(c.reltuples, -1), -1)::bigint FROM pg_class c \
                     WHERE c.oid = to_regclass(quote_ident(v.table_schema) || '.' || quote_ident(v.table_name))), \
                    v.error, \
                    (SELECT sum(pg_total_relation_size(r))::bigint FROM ( \
                        SELECT to_regclass(quote_ident(v.table_schema) || '.' || quote_ident(v.table_name)) AS r \
                        UNION ALL SELECT to_regclass(quote_ident(v.table_schema) || '.' || quote_ident(v.table_name || '__values_' || i)) \
                        FROM generate_series(0, coalesce(jsonb_array_length(v.plan->'value_tables'), 0) - 1) i) t), \
                    (SELECT p.progress FROM summa.backfill_progress p \
                     WHERE p.view_name = v.view_name AND p.version = v.version) \
             FROM summa.versions v JOIN summa.views w ON w.name = v.view_name \
             LEFT JOIN summa.streams s ON s.slot_name = v.slot_name \
             LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name \
             WHERE $1::text IS NULL OR v.view_name = $1 \
             ORDER BY v.view_name, v.version",
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
            error: r.get(10),
            size_bytes: r.get(11),
            progress: r.get(12),
        })
        .collect())
}
