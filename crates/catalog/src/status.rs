//! `summa status`: every version with its state, lag and table.
//!
//! Lag is how far a summary is behind its source, 0 when caught up. A stream is caught up
//! when its slot's confirmed position has reached the server's WAL position, or when its
//! session, streaming (slot active), recorded since its last batch that it had nothing left
//! to apply (`summa.streams.caught_up_at`, renewed while the WAL moves: WAL of other databases
//! and of summa's own writes is not lag). Otherwise lag bytes are the WAL it still has to read
//! and lag seconds count from the later of the last applied commit, the last caught-up stamp
//! and the stream's creation (WAL before its consistent point is not lag).

use summa_plan::sqlgen::Target;
use summa_plan::MaintenancePlan;
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
}

/// Every version (of `view`, or all), read-only: a role with SELECT on `summa.*` can run it.
/// A database without a catalog has no versions.
pub async fn status(
    client: &impl GenericClient,
    view: Option<&str>,
) -> Result<Vec<StatusRow>, CatalogError> {
    if !crate::schema::installed(client).await? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT v.view_name, v.version, v.state, v.table_schema, v.table_name, \
                quote_ident(w.schema_name) || '.' || quote_ident(w.name), \
                coalesce(w.serving_version = v.version, false), \
                s.applied_lsn::text, \
                CASE WHEN l.caught_up THEN 0 ELSE l.behind END, \
                CASE WHEN l.caught_up THEN 0 \
                     ELSE greatest(extract(epoch FROM now() - greatest(s.applied_commit_time, s.caught_up_at, s.created_at))::float8, 0) END, \
                v.error, \
                v.plan, \
                (SELECT p.progress FROM summa.backfill_progress p \
                 WHERE p.view_name = v.view_name AND p.version = v.version) \
         FROM summa.versions v JOIN summa.views w ON w.name = v.view_name \
         LEFT JOIN summa.streams s ON s.slot_name = v.slot_name \
         LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name \
         LEFT JOIN LATERAL (SELECT b.behind, b.behind = 0 OR (coalesce(r.active, false) \
                 AND s.caught_up_at >= s.applied_at AND s.caught_up_at > now() - interval '{fresh}') AS caught_up \
             FROM (SELECT greatest(pg_current_wal_lsn() - greatest(s.applied_lsn, r.confirmed_flush_lsn), 0)::bigint AS behind) b \
         ) l ON s.slot_name IS NOT NULL \
         WHERE $1::text IS NULL OR v.view_name = $1 \
         ORDER BY v.view_name, v.version",
        fresh = crate::streams::CAUGHT_UP_FRESH
    );
    let rows = client
        .query(&sql, &[&view])
        .await
        .ctx(|| "reading status".into())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let target = Target::new(r.get::<_, String>(3), r.get::<_, String>(4));
        // A plan this summa cannot read still shows, sized without its value tables.
        let plan = MaintenancePlan::from_json(r.get(11)).ok();
        let value_tables = plan.as_ref().map(|p| p.value_tables.len()).unwrap_or(0);
        let copies = plan
            .as_ref()
            .filter(|p| p.is_join())
            .map(|p| p.inputs.len())
            .unwrap_or(0);
        let (estimated_rows, size_bytes) =
            table_size(client, &target, value_tables, copies).await?;
        out.push(StatusRow {
            view: r.get(0),
            version: r.get(1),
            state: r.get(2),
            table: target.table(),
            alias: r.get(5),
            serving: r.get(6),
            applied_lsn: r.get(7),
            lag_bytes: r.get(8),
            lag_seconds: r.get(9),
            rows: estimated_rows,
            error: r.get(10),
            size_bytes,
            progress: r.get(12),
        });
    }
    Ok(out)
}

/// Estimated rows of the summary table (None until analyzed) and bytes on disk of it and its
/// value tables with their indexes (None when none exists).
async fn table_size(
    client: &impl GenericClient,
    target: &Target,
    value_tables: usize,
    copies: usize,
) -> Result<(Option<i64>, Option<i64>), CatalogError> {
    let mut tables = vec![target.table()];
    tables.extend((0..value_tables).map(|i| target.values(i)));
    tables.extend((0..copies).map(|k| target.input_copy(k)));
    // An eager join's partial groups (to_regclass: NULL, so nothing, where there are none).
    if copies > 0 {
        tables.push(target.partials());
    }
    let row = client
        .query_one(
            "SELECT (SELECT nullif(greatest(c.reltuples, -1), -1)::bigint FROM pg_class c \
                     WHERE c.oid = to_regclass(($1::text[])[1])), \
                    (SELECT sum(pg_total_relation_size(to_regclass(t)))::bigint FROM unnest($1::text[]) t)",
            &[&tables],
        )
        .await
        .ctx(|| format!("reading the size of {}", target.table()))?;
    Ok((row.get(0), row.get(1)))
}
