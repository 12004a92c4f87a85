//! What the server and the role must provide: each missing piece is refused up front with the
//! statement that fixes it, and nothing is left behind. Plus read-your-writes through
//! `summa.wait_fresh`.

use crate::harness::start_cluster;

use crate::harness::{seed, Rng, TestDb};
use crate::items;

const VIEW: &str = "SELECT grp, count(*) FROM items GROUP BY grp";

fn as_role(db: &TestDb, role: &str) -> TestDb {
    TestDb {
        url: db
            .url
            .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1),
        name: db.name.clone(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_logical_wal_is_refused_with_the_fix() {
    let pg = start_cluster(&[("wal_level", "replica")], "wal_level = replica").await;
    let db = TestDb::on(&pg, "wal_level").await;
    db.client()
        .await
        .batch_execute(items::SCHEMA)
        .await
        .unwrap();
    for args in [vec!["create", "v", "--sql", VIEW], vec!["run"]] {
        let (ok, _, err) = db.summa(&args);
        assert!(!ok, "{args:?} accepted a server with wal_level = replica");
        assert!(
            err.contains("wal_level is replica")
                && err.contains("ALTER SYSTEM SET wal_level = logical"),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_replication_or_select_is_refused_with_the_grant() {
    let db = TestDb::new("roles").await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    let role = format!("{}_app", db.name);
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT CREATE ON DATABASE {db} TO {role}; GRANT CREATE, USAGE ON SCHEMA public TO {role};",
            db = db.name
        ))
        .await
        .unwrap();
    let (ok, _, err) = as_role(&db, &role).summa(&["create", "v", "--sql", VIEW]);
    assert!(
        !ok && err.contains("lacks the REPLICATION attribute") && err.contains("REPLICATION;"),
        "{err}"
    );

    client
        .batch_execute(&format!("ALTER ROLE {role} REPLICATION"))
        .await
        .unwrap();
    let (ok, _, err) = as_role(&db, &role).summa(&["create", "v", "--sql", VIEW]);
    assert!(
        !ok && err.contains("cannot SELECT from")
            && err.contains("GRANT SELECT ON \"public\".\"items\""),
        "{err}"
    );
    let slots: i64 = crate::harness::slot_count(&client).await;
    assert_eq!(slots, 0, "a refused create leaves no slot");
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_replication_slots_are_reported_before_anything_is_created() {
    let pg = start_cluster(&[("max_replication_slots", "1")], "one replication slot").await;
    let db = TestDb::on(&pg, "slots").await;
    db.client()
        .await
        .batch_execute(items::SCHEMA)
        .await
        .unwrap();
    db.create("first", VIEW);
    let (ok, _, err) = db.summa(&["create", "second", "--sql", VIEW]);
    assert!(
        !ok && err.contains("all 1 replication slots are in use"),
        "{err}"
    );
    let left: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM summa.versions WHERE view_name = 'second'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_fresh_returns_once_the_serving_version_has_applied_a_write() {
    let db = TestDb::new("wait_fresh").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("wait_fresh"));
    items::setup(&client, &mut rng, 50).await;
    db.create("counts", VIEW);
    let sidecar = db.sidecar();
    db.wait_applied().await;
    for round in 0..5 {
        client
            .batch_execute("INSERT INTO items (grp) VALUES (424242)")
            .await
            .unwrap();
        let fresh: bool = client
            .query_one(
                "SELECT summa.wait_fresh('counts', pg_current_wal_lsn(), '30 seconds')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(fresh);
        let n: i64 = client
            .query_one("SELECT count FROM counts WHERE grp = 424242", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, round + 1, "the write is visible right after wait_fresh");
    }
    // Without a sidecar it times out with false.
    sidecar.stop();
    client
        .batch_execute("INSERT INTO items (grp) VALUES (424242)")
        .await
        .unwrap();
    let fresh: bool = client
        .query_one(
            "SELECT summa.wait_fresh('counts', pg_current_wal_lsn(), '300 milliseconds')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!fresh);
    let err = client
        .query_one("SELECT summa.wait_fresh('nope', pg_current_wal_lsn())", &[])
        .await
        .unwrap_err();
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("no view named nope"), "{err:?}");
}
