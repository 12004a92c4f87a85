//! The reference workload (../shared/DESIGN.md): `orders` and `regions`, bulk load, and a
//! writer that inserts, updates (moving rows between groups) and deletes orders, and now and
//! then renames a region.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use summa_plan::ident::quote_ident;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// The reference views, over `orders` in the workload's schema.
pub const V1: &str =
    "SELECT customer_id, count(*), sum(amount), avg(amount) FROM orders GROUP BY customer_id";
pub const V2: &str = "SELECT date_trunc('day', created_at) AS day, status, count(*), sum(amount), \
     min(amount), max(amount) FROM orders GROUP BY 1, 2";
/// V3: orders joined with their region (a rename moves every order of the region).
pub const V3: &str = "SELECT r.name, count(*), sum(o.amount) FROM orders o \
     JOIN regions r ON r.id = o.region_id WHERE o.status <> 'cancelled' GROUP BY r.name";
/// V2 without min/max: what its value table costs.
pub const V2_LINEAR: &str = "SELECT date_trunc('day', created_at) AS day, status, count(*), \
     sum(amount) FROM orders GROUP BY 1, 2";

/// Row expressions of one random order (customers 1..100k, 20 regions, 5 statuses, a year).
/// `nulls`: about 2% of customer ids and amounts are NULL.
fn random_order_select(nulls: bool) -> String {
    let null_or = |expr: &str| {
        if nulls {
            format!("CASE WHEN random() < 0.02 THEN NULL ELSE {expr} END")
        } else {
            expr.to_string()
        }
    };
    format!(
        "{}, 1 + (random() * 19)::int, \
         (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + (random() * 4)::int], \
         {}, timestamptz '2025-01-01 00:00:00+00' + random() * interval '365 days'",
        null_or("1 + (random() * 99999)::int"),
        null_or("round((random() * 500)::numeric, 2)")
    )
}

/// `INSERT` of `$1` random orders into the schema's `orders` (`nulls`: some NULL customers and
/// amounts).
pub fn insert_random_sql(schema: &str, nulls: bool) -> String {
    format!(
        "INSERT INTO {}.orders (customer_id, region_id, status, amount, created_at) \
         SELECT {} FROM generate_series(1, $1::bigint)",
        quote_ident(schema),
        random_order_select(nulls)
    )
}

/// Create the schema's `regions` and `orders` (REPLICA IDENTITY FULL), dropping old ones.
pub async fn create_schema(client: &Client, schema: &str) -> Result<(), tokio_postgres::Error> {
    let s = quote_ident(schema);
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};
             CREATE TABLE {s}.regions (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO {s}.regions SELECT g, 'region ' || g FROM generate_series(1, 20) g;
             CREATE TABLE {s}.orders (id bigserial PRIMARY KEY, customer_id int, region_id int,
                 status text, amount numeric(12,2), created_at timestamptz);
             ALTER TABLE {s}.orders REPLICA IDENTITY FULL;"
        ))
        .await
}

/// Insert `rows` orders in transactions of `step` rows; `progress(done)` after each.
pub async fn load(
    client: &Client,
    schema: &str,
    rows: u64,
    step: u64,
    mut progress: impl FnMut(u64),
) -> Result<(), tokio_postgres::Error> {
    let sql = insert_random_sql(schema, false);
    let mut done = 0;
    while done < rows {
        let n = step.min(rows - done) as i64;
        client.execute(&sql, &[&n]).await?;
        done += n as u64;
        progress(done);
    }
    client
        .batch_execute(&format!("ANALYZE {}.orders", quote_ident(schema)))
        .await
}

/// A writer: transactions of `per_txn` inserts, updates and deletes each (updates move rows
/// between customers, days and statuses and change amounts; some values are NULL), paced to
/// `rate` changes/s (0 = as fast as it can), until `stop`.
pub async fn write(
    client: Client,
    schema: String,
    per_txn: i64,
    rate: u64,
    changes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<(), tokio_postgres::Error> {
    let s = quote_ident(&schema);
    let insert = client.prepare(&insert_random_sql(&schema, true)).await?;
    let ids = format!("SELECT (random() * (SELECT max(id) FROM {s}.orders))::bigint FROM generate_series(1, $1::bigint)");
    let update = client
        .prepare(&format!(
            "UPDATE {s}.orders SET customer_id = CASE WHEN random() < 0.5 THEN 1 + (random() * 99999)::int ELSE customer_id END, \
             amount = CASE WHEN random() < 0.02 THEN NULL ELSE round((random() * 500)::numeric, 2) END, \
             status = (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + (random() * 4)::int], \
             created_at = created_at + (random() - 0.5) * interval '2 days' \
             WHERE id IN ({ids})"
        ))
        .await?;
    let delete = client
        .prepare(&format!("DELETE FROM {s}.orders WHERE id IN ({ids})"))
        .await?;
    // Now and then a region is renamed (one of three names each), in the same transaction.
    let rename = client
        .prepare(&format!(
            "WITH pick AS (SELECT 1 + floor(random() * 20)::int AS id WHERE random() < 0.1) \
             UPDATE {s}.regions r SET name = 'region ' || r.id || \
             (ARRAY['', ' north', ' south'])[1 + floor(random() * 3)::int] FROM pick WHERE r.id = pick.id"
        ))
        .await?;
    let started = Instant::now();
    let mut done: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        client.batch_execute("BEGIN").await?;
        let written = async {
            let mut n = client.execute(&insert, &[&per_txn]).await?;
            n += client.execute(&update, &[&per_txn]).await?;
            n += client.execute(&delete, &[&(per_txn / 2).max(1)]).await?;
            n += client.execute(&rename, &[]).await?;
            Ok::<u64, tokio_postgres::Error>(n)
        }
        .await;
        let n = match written {
            Ok(n) => n,
            // Writers touch random rows in random order, so two can deadlock; Postgres cancels
            // one, which is rolled back and skipped (its changes never happened).
            Err(err) if err.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) => {
                client.batch_execute("ROLLBACK").await?;
                continue;
            }
            Err(err) => return Err(err),
        };
        client.batch_execute("COMMIT").await?;
        done += n;
        changes.fetch_add(n, Ordering::Relaxed);
        if rate > 0 {
            let due = Duration::from_secs_f64(done as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    Ok(())
}
