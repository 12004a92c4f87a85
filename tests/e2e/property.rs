//! Randomized view definitions (`viewgen.rs`): random supported views stay equal to their
//! SELECTs under a random workload; random unsupported ones are refused by `summa create`
//! with the construct, its position and a caret, and leave nothing behind.

use tokio_postgres::Client;

use crate::checks::{self, Report, Spec};
use crate::harness::{seed, Rng, TestDb};
use crate::{viewgen, wide};

const CASES: usize = 8;
const VIEWS_PER_CASE: usize = 4;

/// Postgres itself must accept what the generator produced; otherwise the generator is wrong.
async fn assert_valid_sql(client: &Client, sql: &str, seed: u64) {
    if let Err(e) = client.prepare(sql).await {
        panic!("the generator produced SQL Postgres refuses (seed {seed}): {e:?}\n{sql}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn random_supported_views_stay_equal_to_their_selects() {
    let db = wide::database("property").await;
    let client = db.client().await;
    let seed = seed("property");
    let mut rng = Rng::new(seed);
    let mut report = Report::new(seed);
    wide::setup(&client, &mut rng, 300).await;
    for case in 0..CASES {
        let mut specs = Vec::new();
        for i in 0..VIEWS_PER_CASE {
            let sql = viewgen::supported(&mut rng).render();
            assert_valid_sql(&client, &sql, seed).await;
            specs.push(Spec::new(format!("p{case}_{i}"), sql));
        }
        // One create_views call per case: one slot, dropped again at the end of the case.
        let views = checks::create_in_groups(&db, &specs, specs.len(), &mut report).await;
        checks::check_columns(&db, &views, &mut report).await;
        let phase = format!("in case {case} after backfill");
        checks::check_equal(&db, &views, &mut report, &phase).await;
        let sidecar = db.sidecar();
        for round in 1..=2 {
            wide::run_workload(&client, &mut rng, 20).await;
            db.wait_applied().await;
            let phase = format!("in case {case} after round {round}");
            checks::check_equal(&db, &views, &mut report, &phase).await;
        }
        sidecar.stop();
        checks::drop_all(&db, &views).await;
    }
    report.finish();
}

/// What a refused create must not leave: tables or views named after it, catalog rows,
/// slots, publications.
async fn leftovers(client: &Client, name: &str) -> i64 {
    client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()) \
                  + (SELECT count(*) FROM pg_publication) \
                  + (SELECT count(*) FROM pg_class WHERE relname LIKE $1 || '%') \
                  + CASE WHEN to_regclass('summa.views') IS NULL THEN 0 \
                         ELSE (SELECT count(*) FROM summa.views) + (SELECT count(*) FROM summa.versions) \
                            + (SELECT count(*) FROM summa.streams) END",
            &[&name],
        )
        .await
        .expect("counting leftovers")
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn random_unsupported_views_are_refused_with_construct_and_position() {
    let db = TestDb::new("refuse_random").await;
    let client = db.client().await;
    let seed = seed("refuse_random");
    let mut rng = Rng::new(seed);
    wide::setup(&client, &mut rng, 50).await;
    client
        .batch_execute("CREATE TABLE dims (dim_id int PRIMARY KEY, label text); INSERT INTO dims VALUES (1, 'one')")
        .await
        .unwrap();
    let mut problems = Vec::new();
    for (i, kind) in viewgen::unsupported_kinds(&mut rng).into_iter().enumerate() {
        let (sql, construct) = viewgen::unsupported(&mut rng, kind);
        assert_valid_sql(&client, &sql, seed).await;
        let name = format!("bad{i}");
        let (ok, out, err) = db.summa(&["create", &name, "--sql", &sql]);
        let caret = err.lines().any(|l| l.trim() == "^");
        let problem = if ok {
            Some(format!("accepted:\n{out}"))
        } else if !err.contains(construct) {
            Some(format!("refused without naming {construct:?}:\n{err}"))
        } else if !caret || !err.contains("LINE ") {
            Some(format!("refused without a position and caret:\n{err}"))
        } else {
            None
        };
        if let Some(p) = problem {
            problems.push(format!("{construct}: {sql}\n  {}", p.replace('\n', "\n  ")));
        }
        if ok {
            checks::drop_all(&db, &[Spec::new(name.clone(), sql.clone())]).await;
        }
        let left = leftovers(&client, &name).await;
        assert_eq!(
            left, 0,
            "refusing {construct} left objects behind (seed {seed}):\n{sql}"
        );
    }
    assert!(
        problems.is_empty(),
        "{} unsupported definition(s) not refused as required (seed {seed}, replay with SUMMA_TEST_SEED={seed}):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}
