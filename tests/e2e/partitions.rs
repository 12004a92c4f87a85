//! Partitioned sources (issue 14): changes of every partition arrive under the root's name,
//! rows move between partitions, partitions are created, attached and detached while the
//! views are live, sub-partitions too; ATTACH, DETACH, DROP and TRUNCATE of a partition that
//! change rows without row changes in the WAL break the version at their position (never
//! silently wrong), and `summa rebuild` recovers. Postgres is the oracle after every
//! transaction.

use crate::harness::{self, Rng, TestDb};
use tokio_postgres::Client;

const SCHEMA: &str = "
CREATE TABLE ev (id int NOT NULL, d int NOT NULL, g int, v numeric(10,2), PRIMARY KEY (id, d))
    PARTITION BY RANGE (d);
CREATE TABLE ev_0 PARTITION OF ev FOR VALUES FROM (0) TO (10);
CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM (10) TO (20);
CREATE TABLE ev_2 PARTITION OF ev FOR VALUES FROM (20) TO (40) PARTITION BY RANGE (d);
CREATE TABLE ev_2a PARTITION OF ev_2 FOR VALUES FROM (20) TO (30);
CREATE TABLE ev_2b PARTITION OF ev_2 FOR VALUES FROM (30) TO (40);
INSERT INTO ev SELECT i, i % 40, i % 5, i FROM generate_series(1, 400) i;";

/// Reads columns beyond the primary key: needs REPLICA IDENTITY FULL on every partition.
const BY_G: &str =
    "SELECT g, count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi FROM ev GROUP BY g";
/// Reads only primary key columns: the key every partition logs is enough.
const BY_D: &str = "SELECT d, count(*) AS n FROM ev GROUP BY d";

async fn database(tag: &str) -> (TestDb, Client, Rng) {
    let db = TestDb::new(tag).await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    let rng = Rng::new(harness::seed(tag));
    (db, client, rng)
}

fn create_both(db: &TestDb) {
    db.create("by_d", BY_D);
    let (ok, out, err) = db.summa(&[
        "create",
        "by_g",
        "--sql",
        BY_G,
        "--set-replica-identity-full",
    ]);
    assert!(ok, "summa create by_g: {out}{err}");
}

async fn assert_both(db: &TestDb) {
    db.wait_applied().await;
    db.assert_equal("by_g", BY_G).await;
    db.assert_equal("by_d", BY_D).await;
}

/// One random transaction over `ev` rows with d in `lo..hi`: inserts, updates that move rows
/// between partitions (d) and groups (g), deletes.
async fn random_txn(client: &Client, rng: &mut Rng, (lo, hi): (u64, u64), next_id: &mut u64) {
    let mut sql = String::from("BEGIN;");
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 => {
                *next_id += 1;
                sql += &format!(
                    "INSERT INTO ev VALUES ({}, {}, {}, {});",
                    *next_id,
                    lo + rng.below(hi - lo),
                    rng.below(6),
                    rng.below(1000)
                );
            }
            1 => {
                sql += &format!(
                    "UPDATE ev SET d = {} WHERE id % 17 = {} AND d >= {lo} AND d < {hi};",
                    lo + rng.below(hi - lo),
                    rng.below(17)
                )
            }
            2 => {
                sql += &format!(
                "UPDATE ev SET g = {}, v = v + 1 WHERE id % 13 = {} AND d >= {lo} AND d < {hi};",
                rng.below(6),
                rng.below(13)
            )
            }
            _ => {
                sql += &format!(
                    "DELETE FROM ev WHERE id % 31 = {} AND d >= {lo} AND d < {hi};",
                    rng.below(31)
                )
            }
        }
    }
    sql += "COMMIT";
    client.batch_execute(&sql).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partitioned_source_is_maintained_as_partitions_come_and_rows_move() {
    let (db, client, mut rng) = database("parts").await;
    // Without the identity the first view needs, create names every partition to set.
    let (ok, out, err) = db.summa(&["create", "by_g", "--sql", BY_G]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("ALTER TABLE public.ev_0 REPLICA IDENTITY FULL")
            && err.contains("public.ev_2b"),
        "{err}"
    );
    create_both(&db);
    let sidecar = db.sidecar();
    let mut next_id = 1000;
    for _ in 0..12 {
        random_txn(&client, &mut rng, (0, 40), &mut next_id).await;
        assert_both(&db).await;
    }
    // A new partition while the views are live: its rows are published via the root, and it
    // gets the identity by_g needs.
    client
        .batch_execute("CREATE TABLE ev_4 PARTITION OF ev FOR VALUES FROM (40) TO (50)")
        .await
        .unwrap();
    let identity: Vec<String> = harness::texts(
        &client,
        "SELECT relreplident::text FROM pg_class WHERE relname = 'ev_4'",
    )
    .await;
    assert_eq!(identity, ["f"]);
    for _ in 0..12 {
        random_txn(&client, &mut rng, (0, 50), &mut next_id).await;
        assert_both(&db).await;
    }
    // An empty table attached, filled through the root, an empty partition detached: no row
    // changes outside the WAL, the views stay live.
    client
        .batch_execute(
            "CREATE TABLE ev_5 (LIKE ev); \
             ALTER TABLE ev ATTACH PARTITION ev_5 FOR VALUES FROM (50) TO (60); \
             INSERT INTO ev VALUES (5001, 55, 1, 10), (5002, 56, 2, 20); \
             UPDATE ev SET d = 57 WHERE id = 1;",
        )
        .await
        .unwrap();
    assert_both(&db).await;
    client
        .batch_execute(
            "DELETE FROM ev WHERE d >= 40 AND d < 50; ALTER TABLE ev DETACH PARTITION ev_4",
        )
        .await
        .unwrap();
    assert_both(&db).await;
    for _ in 0..6 {
        random_txn(&client, &mut rng, (0, 40), &mut next_id).await;
        assert_both(&db).await;
    }
    // TRUNCATE of the root empties every partition: the summaries are reset, not broken.
    client
        .batch_execute(
            "BEGIN; TRUNCATE ev; INSERT INTO ev VALUES (1, 1, 1, 1), (2, 25, 2, 2); COMMIT",
        )
        .await
        .unwrap();
    assert_both(&db).await;
    assert!(
        db.versions_not_live().await.is_empty(),
        "{:?}",
        db.versions_not_live().await
    );
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn partition_commands_that_change_rows_outside_the_wal_break_the_version_there() {
    let (db, client, mut rng) = database("partbreak").await;
    create_both(&db);
    let sidecar = db.sidecar();
    let mut next_id = 1000;
    random_txn(&client, &mut rng, (0, 40), &mut next_id).await;
    assert_both(&db).await;

    let steps: [(&str, &str); 4] = [
        (
            "CREATE TABLE ev_6 (LIKE ev); INSERT INTO ev_6 VALUES (9001, 65, 1, 5); \
             ALTER TABLE ev ATTACH PARTITION ev_6 FOR VALUES FROM (60) TO (70)",
            "partition public.ev_6 was attached with rows",
        ),
        (
            "ALTER TABLE ev DETACH PARTITION ev_1",
            "partition public.ev_1 was detached with rows",
        ),
        ("TRUNCATE ev_2a", "partition public.ev_2a was truncated"),
        ("DROP TABLE ev_0", "was dropped"),
    ];
    for (command, reason) in steps {
        // Changes before the command in the same batch, and after it.
        client
            .batch_execute(&format!(
                "INSERT INTO ev VALUES ({0}, 35, 1, 1); {command}; INSERT INTO ev VALUES ({1}, 36, 2, 2)",
                next_id + 1,
                next_id + 2
            ))
            .await
            .unwrap();
        next_id += 2;
        for view in ["by_g", "by_d"] {
            let error = db.wait_state(view, "broken").await;
            assert!(
                error.contains(reason) && error.contains("summa rebuild"),
                "{view} after {command}: {error}"
            );
        }
        for (view, sql) in [("by_g", BY_G), ("by_d", BY_D)] {
            let (ok, out, err) = db.summa(&["rebuild", view, "--promote", "--timeout-secs", "60"]);
            assert!(ok, "rebuild {view}: {out}{err}");
            let broken = harness::texts(
                &client,
                &format!(
                    "SELECT version::text FROM summa.versions WHERE view_name = '{view}' AND state = 'broken'"
                ),
            )
            .await;
            for version in broken {
                let (ok, out, err) = db.summa(&["retire", view, "--version", &version]);
                assert!(ok, "retire {view} v{version}: {out}{err}");
            }
            db.wait_applied().await;
            db.assert_equal(view, sql).await;
        }
        random_txn(&client, &mut rng, (20, 40), &mut next_id).await;
        db.wait_applied().await;
        db.assert_equal("by_g", BY_G).await;
        db.assert_equal("by_d", BY_D).await;
    }
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partitioned_source_without_the_event_trigger_is_refused() {
    let (db, client, _) = database("partrefuse").await;
    // The event trigger is per database; this one's install made it (the tests run as a
    // superuser). Without it, nothing would see ATTACH or DETACH.
    db.create("by_d", BY_D);
    client
        .batch_execute("ALTER EVENT TRIGGER summa_watch_partitions DISABLE")
        .await
        .unwrap();
    let (ok, out, err) = db.summa(&["create", "by_d2", "--sql", BY_D]);
    client
        .batch_execute("ALTER EVENT TRIGGER summa_watch_partitions ENABLE")
        .await
        .unwrap();
    assert!(!ok, "{out}");
    assert!(
        err.contains("partitioned") && err.contains("CREATE EVENT TRIGGER summa_watch_partitions"),
        "{err}"
    );
    let versions = harness::texts(&client, "SELECT view_name FROM summa.versions ORDER BY 1").await;
    assert_eq!(versions, ["by_d"]);
}
