//! No internal name meets a user's: a source whose columns are named like every name summa's
//! generated SQL introduces (sign, CTEs, aliases, placeholders) is created, maintained and
//! verified; and a view defined in a file that ends in a `--` comment verifies.

use crate::harness::TestDb;

const HOSTILE: &str = "SELECT n, tid, c1, count(*) AS n_rows, sum(\"__s\"), min(\"__summa_sign\"), max(g1), \
     count(DISTINCT \"__v\") AS distinct_v, sum(e1) FILTER (WHERE \"Quoted \"\"Name\"\"\" <> 'x') AS f, \
     count(*)::text || ' \"__summa_agg_0\" ' AS label \
     FROM hostile WHERE \"__src\" IS NOT NULL OR \"__r\" > 0 GROUP BY n, tid, c1";

#[tokio::test]
async fn columns_named_like_summas_internal_names_are_maintained() {
    let db = TestDb::new("names").await;
    let client = db.client().await;
    let setup = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/setup.sql"),
    )
    .unwrap();
    client.batch_execute(&setup).await.unwrap();
    client
        .batch_execute("ALTER TABLE hostile REPLICA IDENTITY FULL")
        .await
        .unwrap();
    let cols = "\"__summa_sign\", \"__s\", \"__r\", \"__src\", \"__v\", n, tid, c1, g1, e1, \"Quoted \"\"Name\"\"\"";
    let insert = |seed: i32| {
        format!(
            "INSERT INTO hostile ({cols}) SELECT g % 4, g % 5, g % 3 - 1, CASE WHEN g % 6 = 0 THEN NULL ELSE g END, \
             g % 7, g % 2, (g + {seed}) % 3, g % 2, g * {seed}, g, CASE WHEN g % 4 = 0 THEN 'x' ELSE 'y' END \
             FROM generate_series(1, 120) g"
        )
    };
    client.batch_execute(&insert(1)).await.unwrap();
    db.create("hostile_view", HOSTILE);
    db.assert_equal("hostile_view", HOSTILE).await;
    let sidecar = db.sidecar();
    for seed in 2..5 {
        client.batch_execute(&insert(seed)).await.unwrap();
        client
            .batch_execute(&format!(
                "UPDATE hostile SET g1 = g1 + {seed}, n = (n + 1) % 3 WHERE tid = {} ; \
                 DELETE FROM hostile WHERE c1 = {}",
                seed % 5,
                seed % 3
            ))
            .await
            .unwrap();
        db.wait_applied().await;
        db.assert_equal("hostile_view", HOSTILE).await;
    }
    sidecar.stop();
}

#[tokio::test]
async fn a_view_file_ending_in_a_comment_verifies() {
    let db = TestDb::new("comment").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, k int, x int); ALTER TABLE t REPLICA IDENTITY FULL; \
             INSERT INTO t SELECT g, g % 3, g FROM generate_series(1, 30) g",
        )
        .await
        .unwrap();
    let file = std::env::temp_dir().join(format!("summa-{}-view.sql", db.name));
    std::fs::write(
        &file,
        "SELECT k, count(*), sum(x) FROM t GROUP BY k; -- per k",
    )
    .unwrap();
    let (ok, out, err) = db.summa(&["create", "per_k", "--file", file.to_str().unwrap()]);
    assert!(ok, "create failed:\n{out}\n{err}");
    let (ok, out, err) = db.summa(&["verify", "per_k"]);
    assert!(
        ok,
        "verify of a view whose SQL ends in a comment failed:\n{out}\n{err}"
    );
}
