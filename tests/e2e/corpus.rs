//! The corpus (`corpus_views.rs`): every supported view shape over the wide `facts` table is
//! accepted, backfilled equal to its SELECT, and stays equal through random workloads,
//! through emptying the table and refilling it; also when created over an empty table.

use std::time::Instant;

use crate::checks::{self, Report, Spec};
use crate::corpus_views::VIEWS;
use crate::harness::{seed, Rng, TestDb};
use crate::wide;

/// Views per `create_views` call: one replication slot each, shared by its views.
const PER_CALL: usize = 10;

fn specs() -> Vec<Spec> {
    VIEWS
        .iter()
        .map(|(name, sql)| Spec::new(*name, *sql))
        .collect()
}

/// Wait for the sidecar, then check every view.
async fn applied_and_equal(db: &TestDb, views: &[Spec], report: &mut Report, phase: &str) {
    let started = Instant::now();
    db.wait_applied().await;
    let applied = started.elapsed();
    checks::check_equal(db, views, report, phase).await;
    eprintln!(
        "{phase}: applied in {:.1}s, checked in {:.1}s",
        applied.as_secs_f64(),
        (started.elapsed() - applied).as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_views_stay_equal_to_their_selects() {
    assert!(VIEWS.len() >= 45, "the corpus has {} views", VIEWS.len());
    let db = wide::database("corpus").await;
    let client = db.client().await;
    let seed = seed("corpus");
    let mut rng = Rng::new(seed);
    let mut report = Report::new(seed);
    wide::setup(&client, &mut rng, 400).await;
    let views = checks::create_in_groups(&db, &specs(), PER_CALL, &mut report).await;
    eprintln!("corpus: {} of {} views created", views.len(), VIEWS.len());
    checks::check_columns(&db, &views, &mut report).await;
    checks::check_equal(&db, &views, &mut report, "after backfill").await;
    let sidecar = db.sidecar();
    for round in 1..=4 {
        wide::run_workload(&client, &mut rng, 40).await;
        applied_and_equal(&db, &views, &mut report, &format!("after round {round}")).await;
    }
    // Every group vanishes; global aggregates keep their one row over no rows.
    client.batch_execute("DELETE FROM facts").await.unwrap();
    applied_and_equal(&db, &views, &mut report, "after deleting every row").await;
    client
        .batch_execute(&wide::insert_sql(&mut rng, 40))
        .await
        .unwrap();
    applied_and_equal(&db, &views, &mut report, "after refilling the table").await;
    sidecar.stop();
    checks::drop_all(&db, &views).await;
    report.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_views_created_over_an_empty_table() {
    let db = wide::database("corpus_empty").await;
    let client = db.client().await;
    let seed = seed("corpus_empty");
    let mut rng = Rng::new(seed);
    let mut report = Report::new(seed);
    wide::setup(&client, &mut rng, 0).await;
    // Two calls: two slots for the whole corpus.
    let all = specs();
    let views = checks::create_in_groups(&db, &all, all.len().div_ceil(2), &mut report).await;
    checks::check_equal(
        &db,
        &views,
        &mut report,
        "after backfill over an empty table",
    )
    .await;
    let sidecar = db.sidecar();
    client
        .batch_execute(&wide::insert_sql(&mut rng, 1))
        .await
        .unwrap();
    applied_and_equal(&db, &views, &mut report, "after the first row").await;
    wide::run_workload(&client, &mut rng, 25).await;
    applied_and_equal(&db, &views, &mut report, "after a workload").await;
    client.batch_execute("DELETE FROM facts").await.unwrap();
    applied_and_equal(&db, &views, &mut report, "after deleting every row").await;
    sidecar.stop();
    checks::drop_all(&db, &views).await;
    report.finish();
}
