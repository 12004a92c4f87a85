//! Lag as operators read it (`summa status --json`, `/metrics`): 0 while caught up, growing
//! while the sidecar is away, back to 0 after it returns, never the WAL from before the
//! stream started; and a read-only target is a transient outage, not a broken version.

use std::time::Duration;

use tokio_postgres::Client;

use crate::harness::{start_cluster, TestDb};
use crate::items;
use crate::ops::{free_port, get, sample};

const VIEW: &str = "SELECT grp, count(*), sum(val) FROM items GROUP BY grp";

/// (lag_bytes, lag_seconds) of `view` v1 in `summa status --json`.
fn status_lag(db: &TestDb, view: &str) -> (i64, f64) {
    let (ok, out, err) = db.summa(&["status", "--json"]);
    assert!(ok, "summa status --json failed:\n{out}\n{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["view"] == view)
        .unwrap_or_else(|| panic!("no {view} in {out}"));
    (
        row["lag_bytes"].as_i64().unwrap_or_else(|| panic!("{out}")),
        row["lag_seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("{out}")),
    )
}

/// (lag bytes, lag seconds) of `view` v1 in `/metrics`.
async fn metrics_lag(port: u16, view: &str) -> (f64, f64) {
    let body = get(port, "/metrics").await.1;
    let labels = format!("{{view=\"{view}\",version=\"1\"}}");
    (
        sample(&body, &format!("summa_version_lag_bytes{labels}")),
        sample(&body, &format!("summa_version_lag_seconds{labels}")),
    )
}

async fn current_lsn(client: &Client) -> String {
    client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_caught_up_view_reports_no_lag() {
    let (db, client, mut rng) = items::database(None, "lag_idle", 100).await;
    db.create("v", VIEW);
    let port = free_port();
    let sidecar = db.sidecar_with_config(&format!("metrics_address = \"127.0.0.1:{port}\"\n"));
    items::run_workload(&client, &mut rng, 20, 5).await;
    db.wait_applied().await;
    // Another database on the server writes all along: its WAL moves the server's position
    // past the slot, and is not this view's lag.
    let other = TestDb::new("lag_other").await.client().await;
    other
        .batch_execute("CREATE TABLE noise (id bigserial PRIMARY KEY, at timestamptz)")
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise = tokio::spawn({
        let stop = stop.clone();
        async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                other
                    .execute("INSERT INTO noise (at) VALUES (now())", &[])
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    for round in 0..6 {
        let from_status = status_lag(&db, "v");
        let from_metrics = metrics_lag(port, "v").await;
        assert_eq!(from_status, (0, 0.0), "summa status, sample {round}");
        assert_eq!(from_metrics, (0.0, 0.0), "/metrics, sample {round}");
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    noise.await.unwrap();
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn lag_grows_while_the_sidecar_is_stopped_and_returns_to_zero() {
    let (db, client, mut rng) = items::database(None, "lag_stopped", 100).await;
    db.create("v", VIEW);
    let sidecar = db.sidecar();
    items::run_workload(&client, &mut rng, 10, 5).await;
    db.wait_applied().await;
    sidecar.stop();

    items::run_workload(&client, &mut rng, 10, 5).await;
    let (bytes1, secs1) = status_lag(&db, "v");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    items::run_workload(&client, &mut rng, 10, 5).await;
    let (bytes2, secs2) = status_lag(&db, "v");
    assert!(
        bytes1 > 0 && bytes2 > bytes1,
        "lag bytes {bytes1} then {bytes2}"
    );
    assert!(
        secs1 > 0.0 && secs2 >= secs1 + 1.0,
        "lag seconds {secs1} then {secs2}"
    );
    // Counted from when the sidecar stopped, not from the stream's start or an old batch.
    assert!(secs2 < 30.0, "lag seconds {secs2}");

    let sidecar = db.sidecar();
    db.wait_applied().await;
    let mut seen = (-1, -1.0);
    for _ in 0..40 {
        seen = status_lag(&db, "v");
        if seen == (0, 0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(seen, (0, 0.0), "lag after the sidecar caught up");
    db.assert_equal("v", VIEW).await;
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn before_the_first_batch_lag_is_not_the_wal_before_the_stream() {
    let (db, client, _) = items::database(None, "lag_start", 100).await;
    // WAL written before the view exists is no summary's lag.
    client
        .batch_execute(
            "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 100000) g",
        )
        .await
        .unwrap();
    let before: String = current_lsn(&client).await;
    db.create("v", VIEW);
    let (bytes, secs) = status_lag(&db, "v");
    let behind_start: i64 = client
        .query_one(
            "SELECT (pg_current_wal_lsn() - $1::text::pg_lsn)::bigint",
            &[&before],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        bytes <= behind_start,
        "lag {bytes} bytes counts WAL from before the stream (only {behind_start} written since)"
    );
    assert!(secs < 30.0, "lag seconds {secs} before any change");
    // The sidecar starts, nothing is written: it is caught up without a batch.
    let sidecar = db.sidecar();
    let mut seen = (-1, -1.0);
    for _ in 0..60 {
        seen = status_lag(&db, "v");
        if seen == (0, 0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        seen,
        (0, 0.0),
        "lag of a started sidecar with nothing to apply"
    );
    sidecar.stop();
}

/// `summa demo`'s status lines read lag as `summa status` does: lines before its first batch
/// (here: no writer, so no batch at all) do not count the server's whole WAL (everything before
/// the stream's start) as lag.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_status_lines_do_not_count_wal_from_before_the_stream() {
    let db = TestDb::new("lag_demo").await;
    let client = db.client().await;
    let total: i64 = client
        .query_one("SELECT (pg_current_wal_lsn() - '0/0')::bigint", &[])
        .await
        .unwrap()
        .get(0);
    let (ok, out, err) = db.summa(&[
        "demo",
        "--rows",
        "2000",
        "--duration",
        "3",
        "--writers",
        "0",
    ]);
    assert!(ok, "summa demo failed:\n{out}\n{err}");
    let lags: Vec<i64> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("t="))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "lag").unwrap();
            words[at + 1].parse().unwrap()
        })
        .collect();
    assert!(!lags.is_empty(), "no status lines:\n{out}");
    for bytes in &lags {
        assert!(
            *bytes < total / 2,
            "a status line shows {bytes} bytes of lag; the server's whole WAL was {total}:\n{out}"
        );
    }
}

/// On a server where nothing else writes, an idle caught-up sidecar writes nothing either:
/// no caught-up stamp every few seconds (each would be WAL to archive, and the background
/// writer's standby snapshot after it must not make it write again), and lag stays 0.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_server_stays_idle() {
    let pg = start_cluster(&[("autovacuum", "off")], "autovacuum off").await;
    let (db, client, mut rng) = items::database(Some(&pg), "lag_quiet", 100).await;
    db.create("v", VIEW);
    let sidecar = db.sidecar();
    items::run_workload(&client, &mut rng, 20, 5).await;
    db.wait_applied().await;
    // After the last batch: at most one stamp, for the background writer's standby snapshot
    // (written within 15 s of any write; the slot may be read behind it).
    tokio::time::sleep(Duration::from_secs(16)).await;
    let stamp = "SELECT caught_up_at::text FROM summa.streams";
    let before: Option<String> = client.query_one(stamp, &[]).await.unwrap().get(0);
    // Longer than the stamp period (10 s) and the standby snapshot period (15 s).
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after: Option<String> = client.query_one(stamp, &[]).await.unwrap().get(0);
    assert_eq!(before, after, "the idle sidecar stamped again");
    assert_eq!(status_lag(&db, "v"), (0, 0.0), "lag of the idle stream");
    sidecar.stop();
}
