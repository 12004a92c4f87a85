//! Equivalence under seeded random workloads (invariant 1).

use std::time::Duration;

use crate::harness::{seed, Rng, TestDb};
use crate::items;

async fn create_all(db: &TestDb) {
    for (name, sql) in items::VIEWS {
        db.create(name, sql);
    }
}

async fn assert_all_equal(db: &TestDb) {
    for (name, sql) in items::VIEWS {
        db.assert_equal(name, sql).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn random_workload_keeps_every_view_equal_to_its_select() {
    let db = TestDb::new("random").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("random_workload"));
    items::setup(&client, &mut rng, 300).await;
    create_all(&db).await;
    // Backfill alone is already equal.
    assert_all_equal(&db).await;
    let sidecar = db.sidecar();
    items::run_workload(&client, &mut rng, 150, 12).await;
    db.wait_applied().await;
    assert_all_equal(&db).await;
    // A second round after an idle period (keepalive acknowledgements in between).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    items::run_workload(&client, &mut rng, 50, 40).await;
    db.wait_applied().await;
    assert_all_equal(&db).await;
    drop(sidecar);
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_vanish_with_their_last_row_and_global_aggregate_keeps_one_row() {
    let db = TestDb::new("vanish").await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    // Over an empty table: exactly one row, count 0, sum NULL.
    db.create("totals", items::VIEWS[3].1);
    db.create("by_grp", items::VIEWS[0].1);
    let row = client
        .query_one("SELECT n, total::text FROM totals", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
    assert!(row.get::<_, Option<String>>(1).is_none());
    let _sidecar = db.sidecar();
    client
        .batch_execute(
            "INSERT INTO items (grp, val) VALUES (1, 5), (1, 6), (NULL, 7), (NULL, NULL)",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("by_grp", items::VIEWS[0].1).await;
    let groups: i64 = client
        .query_one("SELECT count(*) FROM by_grp__v1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(groups, 2, "NULL keys form one group");
    client.batch_execute("DELETE FROM items").await.unwrap();
    db.wait_applied().await;
    let groups: i64 = client
        .query_one("SELECT count(*) FROM by_grp__v1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(groups, 0, "a group disappears when its last row goes");
    db.assert_equal("totals", items::VIEWS[3].1).await;
    let n: i64 = client
        .query_one("SELECT n FROM totals", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_are_applied_exactly_once() {
    let db = TestDb::new("concurrent").await;
    let client = db.client().await;
    let base = seed("concurrent_writers");
    let mut rng = Rng::new(base);
    items::setup(&client, &mut rng, 200).await;
    create_all(&db).await;
    let _sidecar = db.sidecar();
    let mut writers = Vec::new();
    for w in 0..2u64 {
        let url = db.url.clone();
        writers.push(tokio::spawn(async move {
            let client = crate::harness::connect(&url).await;
            let mut rng = Rng::new(base + 1 + w);
            items::run_workload(&client, &mut rng, 80, 10).await;
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    db.wait_applied().await;
    assert_all_equal(&db).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_million_row_transaction_is_applied_in_bounded_memory() {
    let db = TestDb::new("bulk").await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    db.create("by_grp", items::VIEWS[0].1);
    db.create("daily", items::VIEWS[2].1);
    let sidecar = db.sidecar();
    client
        .batch_execute(
            "INSERT INTO items (grp, cat, val, qty, f, ts) \
             SELECT g % 1000, (ARRAY['a','b','bb'])[1 + g % 3], (g % 997) / 10.0, g % 50, g / 7.0, \
                    timestamptz '2026-01-01' + (g % 90) * interval '1 day' \
             FROM generate_series(1, 1000000) g",
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "UPDATE items SET grp = grp + 1 WHERE id % 10 = 0; DELETE FROM items WHERE id % 7 = 0",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("by_grp", items::VIEWS[0].1).await;
    db.assert_equal("daily", items::VIEWS[2].1).await;
    let peak = sidecar.peak_rss_kib();
    eprintln!(
        "sidecar peak RSS while applying 1M-row transactions: {} MiB",
        peak / 1024
    );
    assert!(
        peak > 0 && peak < 512 * 1024,
        "peak RSS {peak} KiB is not bounded"
    );
}
