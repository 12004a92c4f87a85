//! Versioned summaries: a new version built beside the serving one under live writes, the
//! alias switched while readers query it, old versions retired and dropped, and a rebuild
//! that repairs drift.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{seed, Rng, TestDb};
use crate::items;

const V1: &str = "SELECT grp, count(*) AS n, sum(val) AS total FROM items GROUP BY grp";
/// Other columns: the alias must be re-created, not replaced in place.
const V2: &str = "SELECT grp, count(*) AS n, max(val) AS top, count(DISTINCT cat) AS cats FROM items GROUP BY grp";

/// Query the alias until `stop`: counts errors and reads that saw no groups.
fn reader(db: &TestDb, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<(u64, u64, u64)> {
    let url = db.url.clone();
    tokio::spawn(async move {
        let client = crate::harness::connect(&url).await;
        let (mut reads, mut errors, mut empty) = (0, 0, 0);
        while !stop.load(Ordering::Relaxed) {
            match client
                .query_one("SELECT count(*), sum(n) FROM sales", &[])
                .await
            {
                Ok(row) => {
                    reads += 1;
                    if row.get::<_, i64>(0) == 0 {
                        empty += 1;
                    }
                }
                Err(err) => {
                    eprintln!("reader: {err}");
                    errors += 1;
                }
            }
        }
        (reads, errors, empty)
    })
}

/// Run random transactions until `stop`.
fn writer(
    db: &TestDb,
    seed: u64,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    let url = db.url.clone();
    tokio::spawn(async move {
        let client = crate::harness::connect(&url).await;
        let mut rng = Rng::new(seed);
        while !stop.load(Ordering::Relaxed) {
            items::run_workload(&client, &mut rng, 1, 5).await;
            done.fetch_add(1, Ordering::Relaxed);
        }
    })
}

async fn state(db: &TestDb, version: i32) -> String {
    db.client()
        .await
        .query_one(
            "SELECT state FROM summa.versions WHERE view_name = 'sales' AND version = $1",
            &[&version],
        )
        .await
        .unwrap()
        .get(0)
}

async fn wait_live(db: &TestDb, version: i32) {
    for _ in 0..600 {
        if state(db, version).await == "live" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "v{version} did not become live: {}",
        state(db, version).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_is_built_under_writes_and_promoted_while_readers_query_the_alias() {
    let db = TestDb::new("promote").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("promote"));
    items::setup(&client, &mut rng, 300).await;
    db.create("sales", V1);
    client
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE sales_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT SELECT ON sales TO sales_reader;",
        )
        .await
        .unwrap();
    let _sidecar = db.sidecar();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writing = writer(&db, rng.next(), stop.clone(), written.clone());
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reading = reader(&db, stop_reading.clone());

    // v2 is built beside v1 while writers run; v1 keeps serving.
    db.create("sales", V2);
    wait_live(&db, 2).await;
    let (ok, out, err) = db.summa(&["promote", "sales"]);
    assert!(ok, "promote failed:\n{out}\n{err}");
    assert!(out.contains("now serves v2 (was v1)"), "{out}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_reading.store(true, Ordering::Relaxed);
    let (reads, errors, empty) = reading.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    writing.await.unwrap();
    assert!(written.load(Ordering::Relaxed) > 0 && reads > 0);
    assert_eq!(
        (errors, empty),
        (0, 0),
        "readers of the alias saw errors or no groups ({reads} reads)"
    );

    db.wait_applied().await;
    // The alias serves v2's columns; both versions equal their SELECTs.
    db.assert_equal("sales", V2).await;
    let (ok, out, _) = db.summa(&["verify", "sales", "--version", "1"]);
    assert!(ok, "v1 stayed equal to its SELECT: {out}");
    let granted: bool = client
        .query_one(
            "SELECT has_table_privilege('sales_reader', 'sales', 'SELECT')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(granted, "the alias kept its GRANTs");
    // Only a live version can be promoted.
    let (ok, _, err) = db.summa(&["promote", "sales", "--version", "7"]);
    assert!(!ok && err.contains("no version 7"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retired_versions_stop_being_maintained_and_are_dropped() {
    let db = TestDb::new("retire").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("retire"));
    items::setup(&client, &mut rng, 100).await;
    db.create("sales", V1);
    db.create("sales", V2);
    let _sidecar = db.sidecar();
    wait_live(&db, 2).await;
    let (ok, _, err) = db.summa(&["retire", "sales", "--version", "1"]);
    assert!(
        !ok && err.contains("promote another version first"),
        "the serving version: {err}"
    );
    assert!(db.summa(&["promote", "sales"]).0);
    let (ok, out, err) = db.summa(&["retire", "sales", "--version", "1"]);
    assert!(ok, "{out}{err}");
    assert_eq!(state(&db, 1).await, "retired");

    // The sidecar lets go of v1: later changes leave its table as it was.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: i64 = client
        .query_one("SELECT sum(n)::bigint FROM sales__v1", &[])
        .await
        .unwrap()
        .get(0);
    items::run_workload(&client, &mut rng, 20, 5).await;
    db.wait_applied().await;
    db.assert_equal("sales", V2).await;
    let after: i64 = client
        .query_one("SELECT sum(n)::bigint FROM sales__v1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(before, after, "a retired version is not maintained");

    // gc keeps it within the retention, drops it after.
    assert!(db.summa(&["gc"]).1.contains("nothing to drop"));
    let config = std::env::temp_dir().join(format!("summa-{}-gc.toml", db.name));
    // Behind a reader of the retired table, gc fails within the statement budget and drops
    // nothing.
    std::fs::write(&config, "retention_hours = 0\nstatement_budget_ms = 500\n").unwrap();
    let reader = db.client().await;
    reader
        .batch_execute("BEGIN; LOCK TABLE sales__v1 IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let (ok, out, err) = db
        .summa_within(
            &["--config", config.to_str().unwrap(), "gc"],
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("gc hung behind the reader (no budget)"));
    assert!(!ok && err.contains("statement timeout"), "{out}{err}");
    reader.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        state(&db, 1).await,
        "retired",
        "gc behind a reader dropped it"
    );
    std::fs::write(&config, "retention_hours = 0\n").unwrap();
    let (ok, out, err) = db.summa(&["--config", config.to_str().unwrap(), "gc"]);
    assert!(ok && out.contains("dropped sales v1"), "{out}{err}");
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'sales\\_\\_v1%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // The serving version cannot be dropped alone.
    let (ok, _, err) = db.summa(&["drop", "sales", "--version", "2"]);
    assert!(!ok && err.contains("serves the alias"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_drift_and_rebuild_repairs_it() {
    let db = TestDb::new("rebuild").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("rebuild"));
    items::setup(&client, &mut rng, 200).await;
    db.create("sales", V1);
    let _sidecar = db.sidecar();
    items::run_workload(&client, &mut rng, 30, 5).await;
    db.wait_applied().await;
    assert!(db.summa(&["verify", "sales"]).0);
    let small = std::env::temp_dir().join(format!("summa-{}-chunks.toml", db.name));
    std::fs::write(&small, "verify_chunk_groups = 3\n").unwrap();
    let (ok, out, err) = db.summa(&["--config", small.to_str().unwrap(), "verify", "sales"]);
    assert!(ok, "chunked verify of an equal view:\n{out}{err}");
    // --exact compares with a fresh rebuild fed by the same stream: writers running meanwhile
    // cause no difference.
    let stop = Arc::new(AtomicBool::new(false));
    let writing = writer(&db, rng.next(), stop.clone(), Arc::new(AtomicU64::new(0)));
    let (ok, out, err) = db.summa(&["verify", "sales", "--exact"]);
    stop.store(true, Ordering::Relaxed);
    writing.await.unwrap();
    assert!(ok, "verify --exact under writes:\n{out}{err}");
    db.wait_applied().await;

    // Drift: a summary row changed by hand.
    client
        .batch_execute(
            "UPDATE sales__v1 SET __rows = __rows + 1 WHERE grp = (SELECT min(grp) FROM sales__v1)",
        )
        .await
        .unwrap();
    let (ok, out, _) = db.summa(&["verify", "sales"]);
    assert!(
        !ok && out.contains("only in summary") && out.contains("only in select"),
        "{out}"
    );
    let (ok, out, err) = db.summa(&["verify", "sales", "--exact"]);
    assert!(
        !ok && out.contains("only in the fresh rebuild"),
        "{out}{err}"
    );
    // In key ranges of 3 groups (one statement each, NULL keys last), the drifted group is
    // found and nothing else.
    let (ok, out, err) = db.summa(&["--config", small.to_str().unwrap(), "verify", "sales"]);
    assert!(!ok && out.contains("2 differing rows"), "{out}{err}");
    let (ok, out, err) = db.summa(&[
        "--config",
        small.to_str().unwrap(),
        "verify",
        "sales",
        "--exact",
    ]);
    assert!(!ok && out.contains("2 differing rows"), "{out}{err}");

    let (ok, out, err) = db.summa(&["rebuild", "sales", "--promote"]);
    assert!(ok, "rebuild failed:\n{out}\n{err}");
    assert!(out.contains("now serves v2"), "{out}");
    let (ok, out, _) = db.summa(&["verify", "sales"]);
    assert!(ok, "{out}");
    items::run_workload(&client, &mut rng, 10, 5).await;
    db.wait_applied().await;
    db.assert_equal("sales", V1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuild_works_without_a_running_sidecar() {
    let db = TestDb::new("offline").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("offline"));
    items::setup(&client, &mut rng, 100).await;
    db.create("sales", V1);
    // No sidecar: changes pile up in the WAL; rebuild catches its new version up itself.
    items::run_workload(&client, &mut rng, 20, 5).await;
    let (ok, out, err) = db.summa(&["rebuild", "sales", "--promote", "--timeout-secs", "120"]);
    assert!(ok && out.contains("now serves v2"), "{out}{err}");
    let (ok, out, _) = db.summa(&["verify", "sales"]);
    assert!(ok, "{out}");
    db.assert_equal("sales", V1).await;
}

/// A caught-up version is promoted while another database on the server writes WAL faster
/// than the idle stream's acknowledgements (every second) advance: the lag check must not
/// count WAL written after the promote began.
#[tokio::test(flavor = "multi_thread")]
async fn promote_succeeds_while_another_database_writes_heavily() {
    let pg = crate::harness::start_cluster(&[], "a heavy writer").await;
    let (db, _client, _) = items::database(Some(&pg), "promote_busy", 100).await;
    db.create("sales", V1);
    let sidecar = db.sidecar();
    db.wait_state("sales", "live").await;
    let other = TestDb::on(&pg, "ballast").await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (other.url.clone(), stop.clone());
        tokio::spawn(async move {
            let client = crate::harness::connect(&url).await;
            client
                .batch_execute("CREATE TABLE ballast (x text)")
                .await
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                // About 8 MB of WAL per statement.
                client
                    .batch_execute(
                        "INSERT INTO ballast SELECT repeat('x', 1000) FROM generate_series(1, 8000); \
                         TRUNCATE ballast",
                    )
                    .await
                    .unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut refused = Vec::new();
    for _ in 0..5 {
        let (ok, out, err) = db.summa(&["promote", "sales"]);
        if !ok {
            refused.push(format!("{out}{err}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    sidecar.stop();
    assert!(refused.is_empty(), "promote refused: {refused:?}");
}
