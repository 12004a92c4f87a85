//! min/max and DISTINCT state (value tables): intermediate states are prefix-consistent (each
//! batch shows the source as of its commit, never a later transaction), and batches too large
//! for memory go through the staging table with the same result, merged in parts inside
//! the transaction (bounded statements).

use crate::harness::{seed, Rng, TestDb};
use crate::ops::{free_port, get, sample};

const VIEW: &str = "SELECT min(v) AS lo, max(v) AS hi, count(DISTINCT v) AS nd FROM t";

#[tokio::test(flavor = "multi_thread")]
async fn each_batch_shows_min_and_max_as_of_its_own_commit() {
    let db = TestDb::new("prefix").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v int); ALTER TABLE t REPLICA IDENTITY FULL;
             INSERT INTO t VALUES (1, 1), (2, 2), (3, 3);",
        )
        .await
        .unwrap();
    db.create("ext", VIEW);
    // Record the summary's state at the end of every transaction that writes it.
    client
        .batch_execute(
            "CREATE TABLE audit (seq bigserial, tx bigint, lo int, hi int, nd bigint);
             CREATE FUNCTION audit_ext() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO audit (tx, lo, hi, nd) VALUES (txid_current(), NEW.lo, NEW.hi, NEW.nd); RETURN NEW; END $$;
             CREATE TRIGGER audit_ext AFTER UPDATE ON ext__v1 FOR EACH ROW EXECUTE FUNCTION audit_ext();",
        )
        .await
        .unwrap();
    // Three transactions, all committed before the sidecar reads any: a state read from the
    // source "as of now" would show 0 right after the first one.
    for sql in [
        "DELETE FROM t WHERE id = 1",      // lo 1 -> 2 (its last copy went)
        "INSERT INTO t VALUES (4, 0)",     // lo -> 0
        "UPDATE t SET v = 9 WHERE id = 4", // lo -> 2, hi -> 9
        "UPDATE t SET v = 2 WHERE id = 3", // hi 9, two copies of 2: nd 2
        "DELETE FROM t WHERE id = 4",      // hi -> 2
    ] {
        client.batch_execute(sql).await.unwrap();
    }
    let _sidecar = db.sidecar_with_config("[apply]\nmax_batch_changes = 1\n");
    db.wait_applied().await;
    let rows = client
        .query(
            "SELECT DISTINCT ON (tx) lo, hi, nd FROM audit ORDER BY tx, seq DESC",
            &[],
        )
        .await
        .unwrap();
    let states: Vec<(Option<i32>, Option<i32>, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        states,
        vec![
            (Some(2), Some(3), 2),
            (Some(0), Some(3), 3),
            (Some(2), Some(9), 3),
            (Some(2), Some(9), 2),
            (Some(2), Some(2), 1),
        ],
        "one state per source transaction, each as of that transaction"
    );
    db.assert_equal("ext", VIEW).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn large_batches_of_value_state_go_through_staging() {
    let db = TestDb::new("staged").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("staged"));
    client
        .batch_execute(
            "CREATE TABLE t (id serial PRIMARY KEY, g int, v int, s text COLLATE \"C\");
             ALTER TABLE t REPLICA IDENTITY FULL;",
        )
        .await
        .unwrap();
    let views = [
        ("staged_g", "SELECT g, min(v), max(s), count(DISTINCT v) AS nd, sum(DISTINCT v) AS sd, count(*) FROM t GROUP BY g"),
        ("staged_all", VIEW.replace(" FROM t", " FROM t WHERE g <> 3").leak()),
    ];
    for (name, sql) in views {
        db.create(name, sql);
    }
    // chunk_rows 100: every transaction below is shipped in many chunks; merge_rows 300: the
    // large ones are merged in parts (emptied groups, spent values and recomputed extremes
    // inside the one target transaction, between its parts).
    let port = free_port();
    let sidecar = db.sidecar_with_config(&format!(
        "metrics_address = \"127.0.0.1:{port}\"\n[apply]\nchunk_rows = 100\nmerge_rows = 300\n"
    ));
    let offset = rng.below(50) as i32;
    client
        .execute(
            "INSERT INTO t (g, v, s) SELECT i % 7, (i * 37 + $1) % 500, chr(65 + i % 50) \
             FROM generate_series(1, 5000) i",
            &[&offset],
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "UPDATE t SET v = v + 1000, g = g + 1 WHERE id % 3 = 0;
             DELETE FROM t WHERE v < 100 OR id % 11 = 0;",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    for (name, sql) in views {
        db.assert_equal(name, sql).await;
    }
    client.batch_execute("DELETE FROM t").await.unwrap();
    db.wait_applied().await;
    for (name, sql) in views {
        db.assert_equal(name, sql).await;
    }
    // Three transactions of 5,000+ changes for two views: without parts, at most 6 merges.
    let metrics = get(port, "/metrics").await.1;
    let merges = sample(&metrics, "summa_merges_total");
    assert!(
        merges > 6.0,
        "large transactions are merged in parts: {merges} merges"
    );
    assert!(sample(&metrics, "summa_longest_merge_seconds") > 0.0);
    let values: i64 = client
        .query_one("SELECT count(*) FROM staged_g__v1__values_0", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(values, 0, "spent values are deleted");

    // `summa drop` removes the value tables and the key type with the version.
    sidecar.stop();
    // The walsender of a stopped sidecar may hold the slot for a moment.
    let mut attempts = 0;
    loop {
        let (ok, out, err) = db.summa(&["drop", "staged_g"]);
        if ok {
            break;
        }
        attempts += 1;
        assert!(attempts < 20, "summa drop failed:\n{out}\n{err}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let left: Vec<String> = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relname LIKE 'staged\\_g%' \
             UNION ALL SELECT typname::text FROM pg_type WHERE typname LIKE 'staged\\_g%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
