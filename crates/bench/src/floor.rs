//! The floor's apply half: one upsert of a transaction's distinct groups into a table shaped
//! like the view's summary (group key, row count, the view's states), the least work any
//! applier that writes each touched group once must do.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::drain::Group;
use super::{BenchView, SCHEMA};

/// A table shaped like the view's summary (group key, row count and the view's states),
/// filled with the view's groups, and the statement upserting shipped group deltas into it.
pub async fn create_floor_table(client: &Client, view: BenchView) -> anyhow::Result<String> {
    if view.label == "V1" {
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {SCHEMA}.floor_v1;
                 CREATE TABLE {SCHEMA}.floor_v1 (customer_id int PRIMARY KEY, n int8 NOT NULL,
                     s numeric, c int8 NOT NULL) WITH (fillfactor = 70);
                 INSERT INTO {SCHEMA}.floor_v1 SELECT customer_id, count(*), sum(amount), count(amount)
                     FROM {SCHEMA}.orders WHERE customer_id IS NOT NULL GROUP BY 1;
                 ANALYZE {SCHEMA}.floor_v1;"
            ))
            .await?;
        Ok(format!(
            "INSERT INTO {SCHEMA}.floor_v1 AS t SELECT k::int, 1, 1.00, 1 FROM unnest($1::text[]) k \
             ON CONFLICT (customer_id) DO UPDATE SET n = t.n + excluded.n, s = t.s + excluded.s, \
             c = t.c + excluded.c"
        ))
    } else {
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {SCHEMA}.floor_v2;
                 CREATE TABLE {SCHEMA}.floor_v2 (day timestamptz, status text, n int8 NOT NULL,
                     s numeric, c int8 NOT NULL, lo numeric, hi numeric, PRIMARY KEY (day, status))
                     WITH (fillfactor = 70);
                 INSERT INTO {SCHEMA}.floor_v2 SELECT date_trunc('day', created_at), status, count(*),
                     sum(amount), count(amount), min(amount), max(amount)
                     FROM {SCHEMA}.orders WHERE created_at IS NOT NULL AND status IS NOT NULL GROUP BY 1, 2;
                 ANALYZE {SCHEMA}.floor_v2;"
            ))
            .await?;
        Ok(format!(
            "INSERT INTO {SCHEMA}.floor_v2 AS t SELECT d::timestamptz, st, 1, 1.00, 1, 1.00, 1.00 \
             FROM unnest($1::text[], $2::text[]) AS u(d, st) \
             ON CONFLICT (day, status) DO UPDATE SET n = t.n + excluded.n, s = t.s + excluded.s, \
             c = t.c + excluded.c, lo = LEAST(t.lo, excluded.lo), hi = GREATEST(t.hi, excluded.hi)"
        ))
    }
}

/// One upsert of `groups` (one autocommit statement, as a batch commits); its duration.
pub async fn upsert_groups(
    client: &Client,
    stmt: &tokio_postgres::Statement,
    groups: &HashSet<Group>,
) -> anyhow::Result<Duration> {
    let a: Vec<&str> = groups.iter().map(|g| g.0.as_str()).collect();
    let b: Vec<&str> = groups
        .iter()
        .map(|g| g.1.as_deref().unwrap_or_default())
        .collect();
    let started = Instant::now();
    if stmt.params().len() == 1 {
        client.execute(stmt, &[&a]).await?;
    } else {
        client.execute(stmt, &[&a, &b]).await?;
    }
    Ok(started.elapsed())
}
