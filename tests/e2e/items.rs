//! The test schema and a seeded random workload over it: inserts, updates that move rows
//! between groups and change aggregated values, deletes, NULL keys and values, bulk
//! transactions.

use tokio_postgres::Client;

use crate::harness::Rng;

pub const SCHEMA: &str = "CREATE TABLE items (
    id bigserial PRIMARY KEY,
    grp int,
    cat text,
    val numeric(10,2),
    qty int,
    f float8,
    ts timestamptz,
    note text
);
ALTER TABLE items REPLICA IDENTITY FULL;";

/// Views over `items` covering the supported SQL of the first slice.
pub const VIEWS: &[(&str, &str)] = &[
    ("by_grp", "SELECT grp, count(*), sum(val), avg(val), count(qty) AS qty_count FROM items GROUP BY grp"),
    (
        "by_cat_grp",
        "SELECT cat, grp, sum(qty) AS total_qty, avg(qty) AS avg_qty FROM items \
         WHERE val BETWEEN 10 AND 900 AND cat IN ('a', 'b', 'c') GROUP BY 1, 2",
    ),
    (
        "daily",
        "SELECT date_trunc('day', ts) AS day, count(*) AS n, sum(f) AS f_sum, avg(f) AS f_avg \
         FROM items WHERE cat LIKE 'b%' OR cat IS NULL GROUP BY day",
    ),
    ("totals", "SELECT count(*) AS n, sum(val) AS total, avg(qty) AS mean_qty, count(cat) FROM items"),
    (
        "expr_keys",
        "SELECT (qty / 10) * 10 AS bucket, upper(cat) AS ucat, count(*), sum(val + 1) AS s \
         FROM items i WHERE NOT (i.qty IS NULL) AND i.grp <> 3 GROUP BY (qty / 10) * 10, upper(cat)",
    ),
];

fn opt<T>(rng: &mut Rng, nulls: u64, make: impl FnOnce(&mut Rng) -> T) -> Option<T> {
    let v = make(rng);
    (!rng.chance(nulls)).then_some(v)
}

/// (grp, cat, val as text, qty, f, ts as text), each possibly NULL.
type Row = (
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<f64>,
    Option<String>,
);

/// Values of one random row: few groups and categories so groups collide, appear and vanish.
pub fn random_row(rng: &mut Rng) -> Row {
    let grp = opt(rng, 8, |r| r.below(12) as i32);
    let cat = opt(rng, 8, |r| {
        ["a", "b", "c", "bb", "d"][r.below(5) as usize].to_string()
    });
    let val = opt(rng, 8, |r| format!("{}.{:02}", r.below(1000), r.below(100)));
    let qty = opt(rng, 8, |r| r.below(60) as i32);
    let f = opt(rng, 8, |r| (r.below(1_000_000) as f64) / 997.0);
    let ts = opt(rng, 5, |r| {
        format!(
            "2026-03-{:02} {:02}:{:02}:00+00",
            1 + r.below(5),
            r.below(24),
            r.below(60)
        )
    });
    (grp, cat, val, qty, f, ts)
}

pub async fn insert_random(client: &Client, rng: &mut Rng) {
    try_insert_random(client, rng).await.expect("insert");
}

async fn try_insert_random(client: &Client, rng: &mut Rng) -> Result<u64, tokio_postgres::Error> {
    let (grp, cat, val, qty, f, ts) = random_row(rng);
    client
        .execute(
            "INSERT INTO items (grp, cat, val, qty, f, ts) VALUES ($1, $2, $3::text::numeric, $4, $5, $6::text::timestamptz)",
            &[&grp, &cat, &val, &qty, &f, &ts],
        )
        .await
}

/// One random operation: insert, update (moving groups / changing values) or delete.
async fn random_op(client: &Client, rng: &mut Rng) -> Result<u64, tokio_postgres::Error> {
    let max_id: i64 = client
        .query_one("SELECT coalesce(max(id), 1) FROM items", &[])
        .await?
        .get(0);
    let id = 1 + rng.below(max_id as u64) as i64;
    match rng.below(10) {
        0..=3 => try_insert_random(client, rng).await,
        4..=7 => {
            let (grp, cat, val, qty, f, ts) = random_row(rng);
            let done = match rng.below(4) {
                0 => client.execute("UPDATE items SET grp = $2 WHERE id = $1", &[&id, &grp]).await,
                1 => {
                    client
                        .execute("UPDATE items SET val = $2::text::numeric, qty = $3 WHERE id = $1", &[&id, &val, &qty])
                        .await
                }
                2 => {
                    client
                        .execute(
                            "UPDATE items SET cat = $2, f = $3, ts = $4::text::timestamptz WHERE id = $1",
                            &[&id, &cat, &f, &ts],
                        )
                        .await
                }
                // Touches no column any view reads.
                _ => client.execute("UPDATE items SET note = 'touched' WHERE id = $1", &[&id]).await,
            };
            done
        }
        _ => {
            client
                .execute("DELETE FROM items WHERE id = $1", &[&id])
                .await
        }
    }
}

/// `txns` transactions of 1..=`max_ops` random operations each.
/// Concurrent writers can deadlock; such a transaction is rolled back and the workload goes on
/// (the oracle compares with whatever the source holds).
pub async fn run_workload(client: &Client, rng: &mut Rng, txns: usize, max_ops: u64) {
    for _ in 0..txns {
        client.batch_execute("BEGIN").await.unwrap();
        let mut result = Ok(0);
        for _ in 0..1 + rng.below(max_ops) {
            result = random_op(client, rng).await;
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(_) => client.batch_execute("COMMIT").await.unwrap(),
            Err(err)
                if err.code() == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED) =>
            {
                client.batch_execute("ROLLBACK").await.unwrap()
            }
            Err(err) => panic!("workload statement failed: {err}"),
        }
    }
}

pub async fn setup(client: &Client, rng: &mut Rng, rows: usize) {
    client.batch_execute(SCHEMA).await.expect("schema");
    client.batch_execute("BEGIN").await.unwrap();
    for _ in 0..rows {
        insert_random(client, rng).await;
    }
    client.batch_execute("COMMIT").await.unwrap();
}

/// A fresh database on `pg` (the shared cluster when `None`) holding `items` with `rows`
/// random rows; with a client and the test's seeded generator.
pub async fn database(
    pg: Option<&summa_localpg::LocalPostgres>,
    tag: &str,
    rows: usize,
) -> (crate::harness::TestDb, Client, Rng) {
    let db = match pg {
        Some(pg) => crate::harness::TestDb::on(pg, tag).await,
        None => crate::harness::TestDb::new(tag).await,
    };
    let client = db.client().await;
    let mut rng = Rng::new(crate::harness::seed(tag));
    setup(&client, &mut rng, rows).await;
    (db, client, rng)
}

/// Inserts touching only grp and val (columns every remaining view can still read).
pub async fn write_some(db: &crate::harness::TestDb, n: i32) {
    db.client()
        .await
        .batch_execute(&format!(
            "INSERT INTO items (grp, val) SELECT g % 5, g FROM generate_series(1, {n}) g; \
             UPDATE items SET grp = grp + 1 WHERE id % 7 = 0; DELETE FROM items WHERE id % 11 = 0"
        ))
        .await
        .unwrap();
}
