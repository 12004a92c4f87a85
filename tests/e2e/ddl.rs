//! Source DDL and other faults mid-stream: each breaks (or resets) only what it must, says why,
//! and every other version keeps serving equal to its SELECT.

use std::time::Duration;

use crate::harness::{start_cluster, TestDb};
use crate::items;

const BY_GRP: &str = "SELECT grp, count(*), sum(val) FROM items GROUP BY grp";
const BY_CAT: &str = "SELECT cat, count(*) FROM items GROUP BY cat";
const QTY: &str = "SELECT grp, sum(qty) AS qty FROM items GROUP BY grp";
const EXTREMES: &str = "SELECT grp, min(val) AS lo, max(val) AS hi FROM items GROUP BY grp";
const TOTALS: &str = "SELECT count(*) AS n, sum(val) AS total, max(qty) AS top FROM items";

/// More writes reach `view`, which stays live and equal to its SELECT.
async fn assert_still_serving(db: &TestDb, view: &str, sql: &str) {
    items::write_some(db, 200).await;
    db.wait_applied().await;
    db.assert_equal(view, sql).await;
    assert_eq!(db.state_of(view).await, "live");
}

#[tokio::test(flavor = "multi_thread")]
async fn column_ddl_breaks_only_the_versions_reading_that_column() {
    let (db, client, mut rng) = items::database(None, "ddl", 200).await;
    for (name, sql) in [("by_grp", BY_GRP), ("by_cat", BY_CAT), ("qty", QTY)] {
        db.create(name, sql);
    }
    let sidecar = db.sidecar();

    // ADD COLUMN: nothing breaks.
    client
        .batch_execute("ALTER TABLE items ADD COLUMN extra int DEFAULT 7")
        .await
        .unwrap();
    items::run_workload(&client, &mut rng, 10, 5).await;
    db.wait_applied().await;
    for (name, sql) in [("by_grp", BY_GRP), ("by_cat", BY_CAT), ("qty", QTY)] {
        db.assert_equal(name, sql).await;
    }

    // DROP COLUMN of a column only `qty` reads: it breaks before any further change arrives.
    client
        .batch_execute("ALTER TABLE items DROP COLUMN qty")
        .await
        .unwrap();
    let error = db.wait_state("qty", "broken").await;
    assert!(
        error.contains("column qty") && error.contains("dropped"),
        "{error}"
    );
    // RENAME of a column `by_cat` reads.
    client
        .batch_execute("ALTER TABLE items RENAME COLUMN cat TO category")
        .await
        .unwrap();
    let error = db.wait_state("by_cat", "broken").await;
    assert!(
        error.contains("column cat") && error.contains("renamed"),
        "{error}"
    );
    // by_grp is untouched and keeps applying.
    assert_still_serving(&db, "by_grp", BY_GRP).await;

    // ALTER TYPE of a column by_grp reads.
    client
        .batch_execute("ALTER TABLE items ALTER COLUMN val TYPE float8")
        .await
        .unwrap();
    let error = db.wait_state("by_grp", "broken").await;
    assert!(
        error.contains("column val") && error.contains("changed type"),
        "{error}"
    );

    let (ok, out, _) = db.summa(&["status"]);
    assert!(ok && out.matches("broken").count() >= 3, "{out}");
    assert!(sidecar.log_text().contains("version broken"));
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_source_table_breaks_its_versions_and_the_others_keep_serving() {
    let (db, client, _) = items::database(None, "droptable", 100).await;
    client
        .batch_execute(
            "CREATE TABLE side (k int, v int); ALTER TABLE side REPLICA IDENTITY FULL; INSERT INTO side SELECT g % 3, g FROM generate_series(1, 50) g",
        )
        .await
        .unwrap();
    db.create("by_grp", BY_GRP);
    db.create("side_sum", "SELECT k, sum(v) FROM side GROUP BY k");
    let sidecar = db.sidecar();
    client.batch_execute("DROP TABLE side").await.unwrap();
    let error = db.wait_state("side_sum", "broken").await;
    assert!(
        error.contains("side") && error.contains("dropped"),
        "{error}"
    );
    assert_still_serving(&db, "by_grp", BY_GRP).await;
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate_resets_the_summary_at_its_position_in_the_stream() {
    let (db, client, mut rng) = items::database(None, "truncreset", 150).await;
    for (name, sql) in [
        ("by_grp", BY_GRP),
        ("extremes", EXTREMES),
        ("totals", TOTALS),
    ] {
        db.create(name, sql);
    }
    let sidecar = db.sidecar();
    // Changes before and after the TRUNCATE, in its own transaction and around it.
    items::run_workload(&client, &mut rng, 5, 6).await;
    client
        .batch_execute(
            "BEGIN; INSERT INTO items (grp, val, qty) VALUES (1, 5, 5), (2, 6, 6); \
             TRUNCATE items; INSERT INTO items (grp, val, qty) VALUES (3, 7, 7), (NULL, 8, 8); COMMIT",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    for (name, sql) in [
        ("by_grp", BY_GRP),
        ("extremes", EXTREMES),
        ("totals", TOTALS),
    ] {
        db.assert_equal(name, sql).await;
        assert_eq!(db.state_of(name).await, "live");
    }
    client.batch_execute("TRUNCATE items").await.unwrap();
    items::run_workload(&client, &mut rng, 10, 6).await;
    db.wait_applied().await;
    for (name, sql) in [
        ("by_grp", BY_GRP),
        ("extremes", EXTREMES),
        ("totals", TOTALS),
    ] {
        db.assert_equal(name, sql).await;
    }
    assert!(sidecar.log_text().contains("summary reset"));
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_blocked_by_a_lock_is_retried_then_breaks_only_its_version() {
    let (db, _, _) = items::database(None, "retries", 100).await;
    db.create("by_grp", BY_GRP);
    db.create("by_cat", BY_CAT);
    let sidecar = db.sidecar_with_config("statement_budget_ms = 300\n[apply]\nmax_attempts = 4\n");
    let locker = db.client().await;

    // A lock held for a moment: the batch is retried and applied.
    locker
        .batch_execute("BEGIN; LOCK TABLE by_grp__v1 IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    items::write_some(&db, 50).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    locker.batch_execute("COMMIT").await.unwrap();
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    db.assert_equal("by_cat", BY_CAT).await;

    // A lock that stays: after max_attempts the version is broken, the other keeps applying.
    locker
        .batch_execute("BEGIN; LOCK TABLE by_grp__v1 IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    items::write_some(&db, 50).await;
    let error = db.wait_state("by_grp", "broken").await;
    assert!(
        error.contains("failed 4 times") && error.contains("timeout"),
        "{error}"
    );
    locker.batch_execute("ROLLBACK").await.unwrap();
    items::write_some(&db, 50).await;
    db.wait_applied().await;
    db.assert_equal("by_cat", BY_CAT).await;
    let log = sidecar.log_text();
    assert!(log.contains("batch failed; retrying"), "{log}");
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_slot_marks_versions_stale_and_rebuild_recovers() {
    let (db, client, _) = items::database(None, "slotlost", 100).await;
    db.create("by_grp", BY_GRP);
    let sidecar = db.sidecar();
    items::write_some(&db, 50).await;
    db.wait_applied().await;
    sidecar.stop();
    // The walsender lets go of the slot a moment after the sidecar exits.
    let mut dropped = false;
    for _ in 0..100 {
        dropped = client
            .batch_execute("SELECT pg_drop_replication_slot(slot_name) FROM summa.streams")
            .await
            .is_ok();
        if dropped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dropped, "could not drop the slot");
    client
        .batch_execute("INSERT INTO items (grp, val) VALUES (1, 1), (2, 2)")
        .await
        .unwrap();
    let sidecar = db.sidecar();
    let error = db.wait_state("by_grp", "stale").await;
    assert!(
        error.contains("slot") && error.contains("summa rebuild"),
        "{error}"
    );
    let (ok, out, _) = db.summa(&["status"]);
    assert!(ok && out.contains("stale"), "{out}");
    // The sidecar keeps running; a rebuild builds a new version on a new stream.
    let (ok, out, err) = db.summa(&["rebuild", "by_grp", "--promote", "--timeout-secs", "60"]);
    assert!(ok, "rebuild: {out}{err}");
    items::write_some(&db, 50).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slot_invalidated_by_max_slot_wal_keep_size_marks_versions_stale() {
    let pg = start_cluster(
        &[
            ("max_slot_wal_keep_size", "'32MB'"),
            ("max_wal_size", "'64MB'"),
        ],
        "max_slot_wal_keep_size",
    )
    .await;
    let (db, client, _) = items::database(Some(&pg), "invalidated", 100).await;
    db.create("by_grp", BY_GRP);
    // No sidecar reads the slot while ~100 MB of WAL go by: a checkpoint invalidates it.
    client
        .batch_execute("CREATE TABLE ballast (x text)")
        .await
        .unwrap();
    for _ in 0..6 {
        client
            .batch_execute(
                "INSERT INTO ballast SELECT repeat('x', 1000) FROM generate_series(1, 16000); \
                 SELECT pg_switch_wal(); CHECKPOINT",
            )
            .await
            .unwrap();
    }
    let status: String = client
        .query_one(
            "SELECT coalesce(wal_status, '?') FROM pg_replication_slots WHERE slot_name LIKE 'summa%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "lost", "the slot should have been invalidated");
    let sidecar = db.sidecar();
    let error = db.wait_state("by_grp", "stale").await;
    assert!(error.contains("slot"), "{error}");
    let (ok, out, err) = db.summa(&["rebuild", "by_grp", "--promote", "--timeout-secs", "60"]);
    assert!(ok, "rebuild: {out}{err}");
    items::write_some(&db, 50).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    sidecar.stop();
}
