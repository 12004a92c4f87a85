//! Exactly once across restarts and the backfill handoff (invariants 2 and 3).

use std::time::Duration;

use crate::harness::{connect, seed, Rng, TestDb};
use crate::items;

/// Writes in the background while `f` runs, then stops and waits for the writer.
async fn with_background_writes<F: std::future::Future<Output = ()>>(db: &TestDb, seed: u64, f: F) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = db.url.clone();
    let flag = stop.clone();
    let writer = tokio::spawn(async move {
        let client = connect(&url).await;
        let mut rng = Rng::new(seed);
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            items::run_workload(&client, &mut rng, 5, 8).await;
        }
    });
    f.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_after_graceful_stop_and_kill_9_counts_nothing_twice() {
    let db = TestDb::new("restart").await;
    let client = db.client().await;
    let s = seed("restart");
    let mut rng = Rng::new(s);
    items::setup(&client, &mut rng, 200).await;
    db.create("by_grp", items::VIEWS[0].1);
    db.create("totals", items::VIEWS[3].1);
    let mut sidecar = Some(db.sidecar());
    for round in 0..6u64 {
        with_background_writes(&db, s + round, async {
            tokio::time::sleep(Duration::from_millis(400 + 150 * round)).await;
            let running = sidecar.take().expect("sidecar");
            if round % 2 == 0 {
                running.kill();
            } else {
                running.stop();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            sidecar = Some(db.sidecar());
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
        .await;
    }
    db.wait_applied().await;
    db.assert_equal("by_grp", items::VIEWS[0].1).await;
    db.assert_equal("totals", items::VIEWS[3].1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_written_during_backfill_are_counted_exactly_once() {
    let db = TestDb::new("handoff").await;
    let client = db.client().await;
    let s = seed("handoff");
    let mut rng = Rng::new(s);
    items::setup(&client, &mut rng, 2000).await;
    // A sidecar is already running for another view while the new one is created.
    db.create("totals", items::VIEWS[3].1);
    let _sidecar = db.sidecar();
    with_background_writes(&db, s + 1, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (name, sql) in items::VIEWS.iter().filter(|(name, _)| *name != "totals") {
            db.create(name, sql);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
    db.wait_applied().await;
    for (name, sql) in items::VIEWS {
        db.assert_equal(name, sql).await;
    }
    let not_live = db.versions_not_live().await;
    assert!(
        not_live.is_empty(),
        "versions not live after catching up: {not_live:?}"
    );
    // Every version joined the one shared stream: the snapshot slots were temporary.
    let slots: i64 = crate::harness::slot_count(&client).await;
    assert_eq!(slots, 1, "one replication slot for all versions");
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate_with_on_truncate_break_marks_the_version_broken() {
    let db = TestDb::new("truncate").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("truncate"));
    items::setup(&client, &mut rng, 50).await;
    db.create("by_grp", items::VIEWS[0].1);
    let _sidecar = db.sidecar_with_config("[apply]\non_truncate = \"break\"\n");
    client.batch_execute("TRUNCATE items").await.unwrap();
    let error = db.wait_state("by_grp", "broken").await;
    assert!(error.contains("truncated"), "{error}");
    let (ok, out, _) = db.summa(&["status"]);
    assert!(
        ok && out.contains("broken") && out.contains("truncated"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn terminated_walsender_reconnects_and_resumes_exactly_once() {
    let db = TestDb::new("walsender").await;
    let client = db.client().await;
    let s = seed("walsender");
    let mut rng = Rng::new(s);
    items::setup(&client, &mut rng, 200).await;
    db.create("by_grp", items::VIEWS[0].1);
    let sidecar = db.sidecar();
    let mut terminated = 0;
    with_background_writes(&db, s + 1, async {
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            terminated += crate::harness::terminate_walsenders(&client).await;
        }
    })
    .await;
    db.wait_applied().await;
    db.assert_equal("by_grp", items::VIEWS[0].1).await;
    assert!(
        terminated >= 2,
        "walsender was terminated {terminated} times"
    );
    assert!(
        sidecar.log_text().contains("reconnecting"),
        "{}",
        sidecar.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarts_fast_and_immediate_lose_and_duplicate_nothing() {
    // Restarting the server would disturb the other tests: this one runs its own cluster.
    let pg = summa_localpg::LocalPostgres::start().expect("start a private cluster");
    let db = TestDb::on(&pg, "pgrestart").await;
    let s = seed("pg_restart");
    let mut rng = Rng::new(s);
    items::setup(&db.client().await, &mut rng, 200).await;
    db.create("by_grp", items::VIEWS[0].1);
    db.create("totals", items::VIEWS[3].1);
    let sidecar = db.sidecar();
    for mode in ["fast", "immediate"] {
        let client = db.client().await;
        items::run_workload(&client, &mut rng, 40, 8).await;
        pg.restart(mode).expect("restart");
        let client = db.client().await;
        items::run_workload(&client, &mut rng, 40, 8).await;
    }
    db.wait_applied().await;
    db.assert_equal("by_grp", items::VIEWS[0].1).await;
    db.assert_equal("totals", items::VIEWS[3].1).await;
    drop(sidecar);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_that_cannot_be_applied_breaks_only_its_version() {
    let db = TestDb::new("definite").await;
    let mut client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO items (grp, qty) SELECT g % 3, g % 5 FROM generate_series(1, 50) g",
        )
        .await
        .unwrap();
    // Both views on one stream: the first divides by zero once a row with qty = 7 arrives.
    let fragile = "SELECT grp, sum(100 / (qty - 7)) AS s FROM items GROUP BY grp";
    let healthy = items::VIEWS[0].1;
    let conn = summa_stream::ConnInfo::parse(&db.url).unwrap();
    summa_catalog::create_views(
        &conn,
        &mut client,
        &[
            summa_catalog::ViewSpec {
                name: "fragile".into(),
                sql: fragile.into(),
            },
            summa_catalog::ViewSpec {
                name: "healthy".into(),
                sql: healthy.into(),
            },
        ],
        &summa_catalog::CreateOptions::default(),
    )
    .await
    .unwrap();
    let _sidecar = db.sidecar();
    client
        .batch_execute("INSERT INTO items (grp, qty) VALUES (1, 7), (2, 3)")
        .await
        .unwrap();
    client
        .batch_execute("UPDATE items SET grp = 2 WHERE qty = 1")
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("healthy", healthy).await;
    let row = client
        .query_one(
            "SELECT state, coalesce(error, '') FROM summa.versions WHERE view_name = 'fragile'",
            &[],
        )
        .await
        .unwrap();
    let (state, error): (String, String) = (row.get(0), row.get(1));
    assert_eq!(state, "broken");
    assert!(
        error.contains("division by zero") && error.contains("22012"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sidecar_stands_by_and_takes_over_when_the_first_dies() {
    let db = TestDb::new("lease").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("lease"));
    items::setup(&client, &mut rng, 100).await;
    let (name, sql) = items::VIEWS[0];
    db.create(name, sql);
    let first = db.sidecar();
    db.wait_applied().await;
    let second = db.sidecar();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    items::run_workload(&client, &mut rng, 20, 5).await;
    db.wait_applied().await;
    let standby_log = second.log_text();
    assert!(
        standby_log.contains("standing by") && !standby_log.contains("streaming"),
        "the second sidecar must not apply while the first holds the lease:\n{standby_log}"
    );
    first.kill();
    items::run_workload(&client, &mut rng, 20, 5).await;
    db.wait_applied().await;
    db.assert_equal(name, sql).await;
    let log = second.log_text();
    assert!(log.contains("took over the lease"), "{log}");
}
