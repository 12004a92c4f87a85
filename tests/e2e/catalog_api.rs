//! The catalog's contract with the commands: read-only commands work for a role that can only
//! read, every statement runs under the budget, a rebuild keeps its version's pinned settings,
//! a database encoding summa cannot read is refused, and an older catalog learns which
//! versions have pending tables.

use std::time::{Duration, Instant};

use crate::harness::{cluster, connect, TestDb};
use crate::items;

const VIEW: &str = "SELECT grp, count(*), sum(val) FROM items GROUP BY grp";

async fn with_items(tag: &str) -> TestDb {
    let db = TestDb::new(tag).await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO items (grp, val) SELECT g % 7, g FROM generate_series(1, 500) g",
        )
        .await
        .unwrap();
    db
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_verify_work_for_a_role_that_can_only_read() {
    let db = with_items("reader").await;
    db.create("v", VIEW);
    let reader = format!("{}_reader", db.name);
    db.client()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN; GRANT USAGE ON SCHEMA summa TO {reader}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA summa TO {reader}; \
             GRANT SELECT ON items, v__v1 TO {reader};"
        ))
        .await
        .unwrap();
    let as_reader = db.as_role(&reader);
    let (ok, out, err) = as_reader.summa(&["status"]);
    assert!(
        ok && out.contains("v__v1"),
        "status as {reader}:\n{out}\n{err}"
    );
    let (ok, out, err) = as_reader.summa(&["status", "--json"]);
    assert!(ok && out.contains("\"serving\": true"), "{out}\n{err}");
    let (ok, out, err) = as_reader.summa(&["verify", "v"]);
    assert!(
        ok && out.contains("equal to its SELECT"),
        "verify as {reader}:\n{out}\n{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_against_a_locked_source_fail_within_the_budget() {
    let db = with_items("budget").await;
    db.create("v", VIEW);
    let config = db.config_file("statement_budget_ms = 500\n");
    let config = config.to_str().unwrap();
    // Another session holds the source locked (a long migration, say) and keeps it.
    let locker = db.client().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    for args in [
        vec!["--config", config, "verify", "v"],
        vec!["--config", config, "create", "w", "--sql", VIEW],
    ] {
        let started = Instant::now();
        let (ok, out, err) = db
            .summa_within(&args, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{args:?} hung on the locked source (no budget)"));
        assert!(!ok, "{args:?} succeeded on a locked source:\n{out}");
        assert!(
            err.contains("statement timeout"),
            "{args:?}: not a clear budget error:\n{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    locker.batch_execute("ROLLBACK").await.unwrap();
    let client = db.client().await;
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM summa.versions WHERE view_name = 'w'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the refused create left a version behind");
    let (ok, out, err) = db.summa(&["verify", "v"]);
    assert!(ok && out.contains("equal"), "{out}\n{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_behind_a_reader_fails_within_the_budget_and_keeps_the_view() {
    let db = with_items("drop_budget").await;
    db.create("v", VIEW);
    let config = db.config_file("statement_budget_ms = 500\n");
    let config = config.to_str().unwrap();
    // A long report reads the summary: DROP TABLE would wait for it.
    let reader = db.client().await;
    reader
        .batch_execute("BEGIN; LOCK TABLE public.v__v1 IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let (ok, out, err) = db
        .summa_within(&["--config", config, "drop", "v"], Duration::from_secs(20))
        .unwrap_or_else(|| panic!("drop hung behind the reader (no budget)"));
    assert!(!ok, "drop succeeded behind the reader:\n{out}");
    assert!(
        err.contains("statement timeout"),
        "not a clear budget error:\n{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "drop took {:?}",
        started.elapsed()
    );
    reader.batch_execute("ROLLBACK").await.unwrap();
    // Nothing was half dropped: the view is still there and equal to its SELECT.
    let (ok, out, err) = db.summa(&["verify", "v"]);
    assert!(ok && out.contains("equal"), "{out}\n{err}");
    let (ok, out, err) = db.summa(&["drop", "v"]);
    assert!(ok, "{out}\n{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuild_and_exact_verify_keep_the_pinned_time_zone() {
    let db = TestDb::new("pinned_tz").await;
    connect(&cluster().url("postgres"))
        .await
        .batch_execute(&format!("ALTER DATABASE {} SET timezone = 'UTC'", db.name))
        .await
        .unwrap();
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, ts timestamptz NOT NULL); \
             ALTER TABLE events REPLICA IDENTITY FULL; \
             INSERT INTO events (ts) SELECT '2026-03-01 02:00+00'::timestamptz + g * interval '1 day' \
             FROM generate_series(0, 9) g;",
        )
        .await
        .unwrap();
    db.create(
        "d",
        "SELECT date_trunc('day', ts) AS day, count(*) FROM events GROUP BY 1",
    );
    // The database's default changes after the version was created: in New York these rows
    // fall on the previous day.
    connect(&cluster().url("postgres"))
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET timezone = 'America/New_York'",
            db.name
        ))
        .await
        .unwrap();

    let (ok, out, err) = db.summa(&["verify", "d", "--exact"]);
    assert!(
        ok && out.contains("equal"),
        "verify --exact built its fresh version with other settings:\n{out}\n{err}"
    );

    let (ok, out, err) = db.summa(&["rebuild", "d"]);
    assert!(ok, "rebuild failed:\n{out}\n{err}");
    let client = db.client().await;
    let rebuilt: String = client
        .query_one(
            "SELECT table_name FROM summa.versions WHERE view_name = 'd' ORDER BY version DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_ne!(rebuilt, "d__v1");
    let differing: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM ((SELECT day, count FROM d__v1 EXCEPT ALL SELECT day, count FROM {rebuilt}) \
                 UNION ALL (SELECT day, count FROM {rebuilt} EXCEPT ALL SELECT day, count FROM d__v1)) x"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        differing, 0,
        "the rebuild grouped by the new TimeZone's days, not the version's"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_summa_cannot_read_is_refused_with_the_fix() {
    // One cluster per test run: the name is free.
    let name = "sql_ascii_db".to_string();
    connect(&cluster().url("postgres"))
        .await
        .batch_execute(&format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        ))
        .await
        .unwrap();
    let db = TestDb {
        url: cluster().url(&name),
        name,
    };
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    let (ok, _, err) = db.summa(&["create", "v", "--sql", VIEW]);
    assert!(!ok, "summa create accepted a SQL_ASCII database");
    assert!(
        err.contains("encoding SQL_ASCII") && err.contains("ENCODING 'UTF8'"),
        "{err}"
    );
    let (ok, _, err) = db
        .summa_within(&["run"], Duration::from_secs(20))
        .expect("summa run kept running on a SQL_ASCII database");
    assert!(!ok && err.contains("encoding SQL_ASCII"), "{err}");
    let slots: i64 = crate::harness::slot_count(&client).await;
    assert_eq!(slots, 0, "a refused create leaves no slot");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_catalog_learns_which_versions_have_pending_tables() {
    let db = with_items("pending_state").await;
    db.create("a", VIEW);
    // `b` joins the shared stream; with no sidecar running its pending table stays.
    db.create("b", "SELECT grp, max(val) FROM items GROUP BY grp");
    let client = db.client().await;
    let pending = async |view: &str| -> bool {
        client
            .query_one(
                "SELECT pending FROM summa.versions WHERE view_name = $1",
                &[&view],
            )
            .await
            .unwrap()
            .get(0)
    };
    assert!(!pending("a").await && pending("b").await);
    // A catalog from before the column (and before the SQL API's lifecycle columns; an older
    // summa left no install marker): the next install sets them from the tables that exist
    // and the stored plans.
    client
        .batch_execute(
            "DROP VIEW summa.status, summa.definitions; DROP TABLE summa.requests; \
             ALTER TABLE summa.versions DROP COLUMN pending, DROP COLUMN objects, \
             DROP COLUMN serving_select; COMMENT ON SCHEMA summa IS NULL",
        )
        .await
        .unwrap();
    db.create("c", VIEW);
    assert!(!pending("a").await && pending("b").await && pending("c").await);
    client
        .batch_execute("INSERT INTO items (grp, val) VALUES (1, 5000), (2, 1)")
        .await
        .unwrap();
    let sidecar = db.sidecar();
    for view in ["a", "b", "c"] {
        db.wait_state(view, "live").await;
    }
    db.wait_applied().await;
    assert!(!pending("b").await && !pending("c").await);
    db.assert_equal("a", VIEW).await;
    db.assert_equal("b", "SELECT grp, max(val) FROM items GROUP BY grp")
        .await;
    db.assert_equal("c", VIEW).await;
    // The lifecycle SQL found what an older catalog's version holds: drop removes its tables.
    let dropped: bool = client
        .query_one("SELECT summa.drop('b')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(dropped);
    assert!(crate::harness::texts(
        &client,
        "SELECT relname::text FROM pg_class WHERE relname LIKE 'b\\_\\_%'"
    )
    .await
    .is_empty());
    sidecar.stop();
}
