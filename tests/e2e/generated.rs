//! Source tables with stored generated columns, on both branches of the server version:
//! PostgreSQL 18 publishes generated columns (from a publication that asks for them), 15–17
//! never do. (crates/catalog/src/generated.rs.)

use crate::harness::TestDb;
use crate::server::server;

const TABLE: &str = "CREATE TABLE t (id int PRIMARY KEY, a int, \
                     b int GENERATED ALWAYS AS (a % 3) STORED); \
                     ALTER TABLE t REPLICA IDENTITY FULL; \
                     INSERT INTO t (id, a) SELECT g, g FROM generate_series(1, 30) g;";

const WRITES: &str = "INSERT INTO t (id, a) SELECT g, g * 7 FROM generate_series(31, 60) g; \
                      UPDATE t SET a = a + 1 WHERE id % 4 = 0; \
                      DELETE FROM t WHERE id % 5 = 0;";

const OVER_B: &str = "SELECT b, count(*), sum(a) FROM t GROUP BY b";

/// On 18 a view grouping by a generated column is maintained (updates move rows between its
/// groups); before 18 it is refused at create with the column's expression, creating nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_view_over_a_generated_column_is_maintained_on_18_and_refused_before() {
    let db = TestDb::new("gen_read").await;
    let client = db.client().await;
    client.batch_execute(TABLE).await.unwrap();
    let (ok, out, err) = db.summa(&["create", "v", "--sql", OVER_B]);
    if server().await.version_num < 180000 {
        assert!(!ok, "created a view over a generated column:\n{out}");
        assert!(
            err.contains("column \"b\" of \"public\".\"t\" is a generated column")
                && err.contains("does not publish generated columns")
                && err.contains("(a % 3)"),
            "{err}"
        );
        let (_, status, _) = db.summa(&["status"]);
        assert!(status.contains("no views yet"), "{status}");
        return;
    }
    assert!(ok, "create: {out}{err}");
    let sidecar = db.sidecar();
    client.batch_execute(WRITES).await.unwrap();
    db.wait_applied().await;
    db.assert_equal("v", OVER_B).await;
    sidecar.stop();
}

/// A table with a generated column that no view reads joins summa's publication, and the
/// users' UPDATE and DELETE keep working: on 18, a REPLICA IDENTITY FULL table in a
/// publication that does not publish generated columns refuses them.
#[tokio::test(flavor = "multi_thread")]
async fn writes_to_a_table_with_a_generated_column_keep_working_once_it_is_published() {
    let db = TestDb::new("gen_writes").await;
    let client = db.client().await;
    client.batch_execute(TABLE).await.unwrap();
    let over_id = "SELECT id % 4 AS k, count(*), sum(a) FROM t GROUP BY 1";
    db.create("by_k", over_id);
    let sidecar = db.sidecar();
    client
        .batch_execute(WRITES)
        .await
        .unwrap_or_else(|e| panic!("the users' writes failed once summa published t: {e:?}"));
    db.wait_applied().await;
    db.assert_equal("by_k", over_id).await;
    sidecar.stop();
}

/// On 18, a DBA-owned publication that does not publish generated columns is named with the
/// statement that fixes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_dba_publication_without_generated_columns_is_refused_with_the_fix_on_18() {
    if server().await.version_num < 180000 {
        // Before 18 the view is refused for the server version (the test above).
        return;
    }
    let db = TestDb::new("gen_pub").await;
    let client = db.client().await;
    client.batch_execute(TABLE).await.unwrap();
    client
        .batch_execute("CREATE PUBLICATION dba_pub FOR TABLE t")
        .await
        .unwrap();
    let config = db.config_file("publication = \"dba_pub\"\n");
    let config = config.to_str().unwrap();
    let (ok, out, err) = db.summa(&["--config", config, "create", "v", "--sql", OVER_B]);
    assert!(!ok, "created v from a publication without b:\n{out}");
    assert!(
        err.contains("publication dba_pub does not publish generated columns")
            && err.contains(
                "ALTER PUBLICATION \"dba_pub\" SET (publish_generated_columns = stored);"
            ),
        "{err}"
    );
    client
        .batch_execute("ALTER PUBLICATION dba_pub SET (publish_generated_columns = stored)")
        .await
        .unwrap();
    let (ok, out, err) = db.summa(&["--config", config, "create", "v", "--sql", OVER_B]);
    assert!(ok, "create after the fix: {out}{err}");
}
