//! What operators see: `/metrics` and `/health`, credentials kept out of logs and output, and
//! clear refusals of bad credentials.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{seed, Rng, TestDb};
use crate::items;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from 127.0.0.1:`port`: (status code, body). Retries while the server starts.
async fn get(port: u16, path: &str) -> (u16, String) {
    for _ in 0..100 {
        let Ok(mut socket) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        socket
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        socket.read_to_string(&mut response).await.unwrap();
        let code = response[9..12].parse().unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        return (code, body);
    }
    panic!("nothing listens on port {port}");
}

/// The value of the first sample line starting with `series`.
fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_report_lag_counters_and_broken_versions() {
    let db = TestDb::new("metrics").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("metrics"));
    items::setup(&client, &mut rng, 100).await;
    db.create(
        "by_grp",
        "SELECT grp, count(*), sum(val) FROM items GROUP BY grp",
    );
    db.create(
        "by_qty",
        "SELECT grp, sum(qty) AS q FROM items GROUP BY grp",
    );
    let port = free_port();
    let sidecar = db.sidecar_with_config(&format!("metrics_address = \"127.0.0.1:{port}\"\n"));
    items::run_workload(&client, &mut rng, 20, 5).await;
    db.wait_applied().await;

    let (code, body) = get(port, "/metrics").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(sample(&body, "summa_up"), 1.0);
    assert_eq!(sample(&body, "summa_lease_held"), 1.0);
    assert!(sample(&body, "summa_changes_applied_total") > 0.0);
    assert!(sample(&body, "summa_batches_applied_total") > 0.0);
    assert!(sample(&body, "summa_batch_duration_seconds_count") > 0.0);
    assert!(body.contains("summa_batch_duration_seconds_bucket{le=\"+Inf\"}"));
    assert!(body.contains("summa_version_lag_bytes{view=\"by_grp\",version=\"1\"}"));
    assert!(body.contains("summa_version_lag_seconds{view=\"by_qty\",version=\"1\"}"));
    assert!(body.contains("summa_slot_retained_wal_bytes{slot=\"summa_"));
    assert!(body.contains("summa_version_state{view=\"by_grp\",version=\"1\",state=\"live\"} 1"));
    let (code, body) = get(port, "/health").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"ready\":true"), "{body}");

    // A broken version shows in the state series and the counter.
    client
        .batch_execute("ALTER TABLE items DROP COLUMN qty")
        .await
        .unwrap();
    let mut body = String::new();
    for _ in 0..100 {
        body = get(port, "/metrics").await.1;
        if body.contains("state=\"broken\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        body.contains("summa_version_state{view=\"by_qty\",version=\"1\",state=\"broken\"} 1"),
        "{body}"
    );
    assert_eq!(sample(&body, "summa_versions_broken_total"), 1.0);
    assert_eq!(get(port, "/nope").await.0, 404);

    // A second sidecar stands by: not ready.
    let standby_port = free_port();
    let standby =
        db.sidecar_with_config(&format!("metrics_address = \"127.0.0.1:{standby_port}\"\n"));
    let (code, body) = get(standby_port, "/health").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("standby"), "{body}");
    standby.stop();
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_metrics_address_is_a_clear_startup_error() {
    let db = TestDb::new("busyport").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut sidecar = db.sidecar_with_config(&format!("metrics_address = \"127.0.0.1:{port}\"\n"));
    for _ in 0..100 {
        if sidecar.has_exited() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sidecar.has_exited(), "the sidecar should refuse to start");
    let log = sidecar.log_text();
    assert!(
        log.contains("metrics_address") && log.contains("cannot listen"),
        "{log}"
    );
}
