//! SQL semantics against real Postgres: result types, refusals with positions, REPLICA
//! IDENTITY, pinned settings, unchanged TOAST values.

use crate::harness::TestDb;
use crate::items;

#[tokio::test(flavor = "multi_thread")]
async fn result_types_equal_what_postgres_gives_for_the_select() {
    let db = TestDb::new("types").await;
    let client = db.client().await;
    client
        .batch_execute(&format!(
            "{} CREATE TABLE nums (i2 int2, i4 int4, i8 int8, n numeric(12,3), r real, d float8, iv interval, m money, k text);
             ALTER TABLE nums REPLICA IDENTITY FULL;",
            items::SCHEMA
        ))
        .await
        .unwrap();
    let mut views: Vec<(&str, &str)> = items::VIEWS.to_vec();
    views.push((
        "num_aggs",
        "SELECT k, sum(i2) AS s2, sum(i4) AS s4, sum(i8) AS s8, sum(n) AS sn, sum(r) AS sr, sum(d) AS sd, \
         sum(iv) AS siv, sum(m) AS sm, avg(i2) AS a2, avg(i4) AS a4, avg(i8) AS a8, avg(n) AS an, \
         avg(r) AS ar, avg(d) AS ad, avg(iv) AS aiv, count(m) AS cm FROM nums GROUP BY k",
    ));
    for (name, sql) in &views {
        db.create(name, sql);
        client
            .batch_execute(&format!("CREATE TEMP VIEW expect_{name} AS {sql}"))
            .await
            .unwrap();
        let types = |rel: String| {
            let client = &client;
            async move {
                client
                    .query(
                        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
                         WHERE attrelid = $1::text::regclass AND attnum > 0 ORDER BY attnum",
                        &[&rel],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            types(name.to_string()).await,
            types(format!("pg_temp.expect_{name}")).await,
            "{name}"
        );
    }
    // And the values, on data with NULLs, after changes.
    let _sidecar = db.sidecar();
    client
        .batch_execute(
            "INSERT INTO nums VALUES (1, 2, 3, 4.5, 1.5, 2.25, '1 day', 3.5, 'x'), (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'x'), \
             (7, 8, 9, 10.125, 0.1, 0.2, '2 hours', 1, 'y'), (3, 3, 3, 3, 3, 3, '3 min', 3, NULL);
             UPDATE nums SET k = 'y' WHERE i2 = 1; DELETE FROM nums WHERE i2 = 3;",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("num_aggs", views.last().unwrap().1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_summary_over_a_summa_summary_is_refused_naming_it() {
    let db = TestDb::new("over_summary").await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    db.create(
        "by_grp",
        "SELECT grp, cat, count(*) AS n FROM items GROUP BY grp, cat",
    );
    for (sql, names) in [
        (
            "SELECT grp, sum(n) FROM by_grp__v1 GROUP BY grp",
            &["by_grp__v1", "by_grp v1", "not maintained yet"][..],
        ),
        (
            "SELECT grp, count(*) FROM by_grp GROUP BY grp",
            &["by_grp", "view"][..],
        ),
    ] {
        let (ok, out, err) = db.summa(&["create", "over", "--sql", sql]);
        assert!(!ok, "a summary over a summary was accepted:\n{out}");
        for name in names {
            assert!(
                err.contains(name),
                "{sql}: the refusal names {name}:\n{err}"
            );
        }
    }
    let versions: i64 = client
        .query_one(
            "SELECT count(*) FROM summa.versions WHERE view_name = 'over'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 0, "nothing is registered for a refused view");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_sql_is_refused_with_construct_position_and_reason() {
    let db = TestDb::new("refuse").await;
    db.client()
        .await
        .batch_execute(items::SCHEMA)
        .await
        .unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT grp, string_agg(cat, ',') FROM items GROUP BY grp",
            &["aggregate string_agg()", "1:13", "order"],
        ),
        (
            "SELECT grp, count(*) FROM items\nWHERE ts > now() - interval '1 day'\nGROUP BY grp",
            &["now()", "2:12", "clock"],
        ),
        (
            "SELECT grp, count(*) OVER () FROM items",
            &["window function", "1:13"],
        ),
        (
            "SELECT grp, count(*) FROM items GROUP BY grp LIMIT 5",
            &["LIMIT", "1:52"],
        ),
        (
            "SELECT i.grp, count(*) FROM items i RIGHT JOIN items j ON i.id = j.id GROUP BY 1",
            &["RIGHT JOIN", "1:48"],
        ),
        (
            "SELECT grp, percentile_cont(0.5) WITHIN GROUP (ORDER BY val) FROM items GROUP BY grp",
            &["WITHIN GROUP", "1:13", "ordered-set"],
        ),
        (
            "SELECT grp, count(*) FROM items WHERE grp IN (SELECT 1) GROUP BY grp",
            &["subquery", "1:39"],
        ),
        (
            "SELECT grpp, count(*) FROM items GROUP BY grpp",
            &["column \"grpp\" does not exist", "1:8"],
        ),
        (
            "SELECT grp, count(*) FROM itemz GROUP BY grp",
            &["relation \"itemz\" does not exist", "1:27"],
        ),
        (
            "SELECT grp, random() AS r, count(*) FROM items GROUP BY grp, 2",
            &["random()", "1:13"],
        ),
        (
            "SELECT grp, val, count(*) FROM items GROUP BY grp",
            &["val", "1:13", "GROUP BY"],
        ),
        (
            "SELECT grp, count(*) FROM items GROUP BY ROLLUP (grp)",
            &["not supported"],
        ),
        ("SELEC grp FROM items", &["syntax error", "1:1"]),
        (
            "WITH x AS (SELECT * FROM items) SELECT grp, count(*) FROM x GROUP BY grp",
            &["WITH", "1:"],
        ),
    ];
    for (sql, expected) in cases {
        let (ok, out, err) = db.summa(&["create", "bad", "--sql", sql]);
        assert!(!ok, "accepted {sql:?}: {out}");
        for e in *expected {
            assert!(
                err.contains(e),
                "refusing {sql:?}: expected {e:?} in:\n{err}"
            );
        }
    }
    // Nothing was left behind by the refusals.
    let client = db.client().await;
    let left: i64 = crate::harness::slot_count(&client).await;
    assert_eq!(left, 0);
    // The error shows the SQL line and a caret under the construct.
    let (_, _, err) = db.summa(&["create", "bad", "--sql", cases[1].0]);
    assert!(
        err.contains("LINE 2: WHERE ts > now()") && err.contains("           ^"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replica_identity_is_required_for_columns_without_old_values() {
    let db = TestDb::new("replident").await;
    let client = db.client().await;
    client
        .batch_execute("CREATE TABLE plain (id int PRIMARY KEY, g int, v int); INSERT INTO plain VALUES (1, 1, 10), (2, 1, 20);")
        .await
        .unwrap();
    let sql = "SELECT g, sum(v) FROM plain GROUP BY g";
    let (ok, _, err) = db.summa(&["create", "pv", "--sql", sql]);
    assert!(!ok);
    assert!(
        err.contains("ALTER TABLE \"public\".\"plain\" REPLICA IDENTITY FULL"),
        "{err}"
    );
    assert!(err.contains("--set-replica-identity-full"), "{err}");
    // A view over key columns only needs no more than the primary key.
    db.create("by_id", "SELECT id, count(*) FROM plain GROUP BY id");
    let (ok, out, err) = db.summa(&["create", "pv", "--sql", sql, "--set-replica-identity-full"]);
    assert!(ok, "{out}{err}");
    let _sidecar = db.sidecar();
    client
        .batch_execute("UPDATE plain SET g = 2 WHERE id = 1; UPDATE plain SET v = 5; DELETE FROM plain WHERE id = 2; INSERT INTO plain VALUES (3, 2, 1); UPDATE plain SET id = 4 WHERE id = 3;")
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("pv", sql).await;
    db.assert_equal("by_id", "SELECT id, count(*) FROM plain GROUP BY id")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn date_trunc_on_timestamptz_uses_the_pinned_time_zone() {
    let db = TestDb::new("timezone").await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} SET timezone = 'Asia/Kolkata'",
            db.name
        ))
        .await
        .unwrap();
    let sql = "SELECT date_trunc('day', ts) AS day, count(*) FROM items GROUP BY 1";
    db.create("per_day", sql);
    // The database default changes later; the version keeps Kolkata.
    client
        .batch_execute(&format!("ALTER DATABASE {} SET timezone = 'UTC'", db.name))
        .await
        .unwrap();
    let _sidecar = db.sidecar();
    let writer = db.client().await;
    writer
        .batch_execute(
            "INSERT INTO items (ts) SELECT timestamptz '2026-03-01 00:00:00+00' + g * interval '37 minutes' FROM generate_series(1, 200) g",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    let kolkata = db.client().await;
    kolkata
        .batch_execute("SET timezone = 'Asia/Kolkata'")
        .await
        .unwrap();
    let diff = crate::harness::oracle_diff(&kolkata, "per_day", sql).await;
    assert!(diff.is_empty(), "{diff:?}");
    let utc = db.client().await;
    utc.batch_execute("SET timezone = 'UTC'").await.unwrap();
    let counts_utc: Vec<i64> = utc
        .query(&format!("SELECT count FROM ({sql}) q ORDER BY 1"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let counts_summary: Vec<i64> = utc
        .query("SELECT count FROM per_day ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_ne!(
        counts_utc, counts_summary,
        "day boundaries must follow the pinned zone, not the session's"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_toast_values_come_from_the_old_row() {
    let db = TestDb::new("toast").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE docs (id int PRIMARY KEY, body text, n int); ALTER TABLE docs REPLICA IDENTITY FULL;
             ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;",
        )
        .await
        .unwrap();
    let sql = "SELECT md5(body) AS h, length(body) AS len, sum(n) AS total, count(*) FROM docs GROUP BY 1, 2";
    db.create("by_body", sql);
    let _sidecar = db.sidecar();
    client
        .batch_execute(
            "INSERT INTO docs SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 700) i), g FROM generate_series(1, 5) g;
             UPDATE docs SET n = n + 100;
             UPDATE docs SET n = n * 2 WHERE id < 3;",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("by_body", sql).await;
    let nulls: i64 = client
        .query_one("SELECT count(*) FROM by_body WHERE h IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(nulls, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_backfill_leaves_nothing_behind() {
    let db = TestDb::new("failed_backfill").await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO items (grp, qty) SELECT g % 3, g % 10 FROM generate_series(1, 100) g",
        )
        .await
        .unwrap();
    // Plans fine (Postgres accepts it) but fails while aggregating rows with qty = 5.
    let (ok, out, err) = db.summa(&[
        "create",
        "boom",
        "--sql",
        "SELECT grp, sum(100 / (qty - 5)) FROM items GROUP BY grp",
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("division by zero") && err.contains("backfill"),
        "{err}"
    );
    let leftovers: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()) \
                  + (SELECT count(*) FROM pg_publication) \
                  + (SELECT count(*) FROM summa.versions) + (SELECT count(*) FROM summa.views) \
                  + (SELECT count(*) FROM summa.streams) + (SELECT count(*) FROM pg_class WHERE relname LIKE 'boom%')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0, "a failed create left objects behind");
    // And the same name works afterwards.
    db.create("boom", "SELECT grp, count(*) FROM items GROUP BY grp");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_is_analyzed_after_its_backfill() {
    let (db, client, _) = items::database(None, "analyzed", 200).await;
    db.create(
        "extremes",
        "SELECT grp, min(val) AS lo, count(*) FROM items GROUP BY grp",
    );
    // Without statistics the planner takes the just-filled tables for empty (the benchmark's
    // first batch after a 10M-row backfill took 103 s).
    for table in ["extremes__v1", "extremes__v1__values_0"] {
        let analyzed: bool = client
            .query_one(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = $1",
                &[&table],
            )
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"))
            .get(0);
        assert!(analyzed, "{table} has no statistics after the backfill");
    }
}
