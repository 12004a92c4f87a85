//! Resource limits on the target: a read-only target (a failover in progress, an operator's
//! `default_transaction_read_only`) is an outage the sidecar waits out, retrying and counting
//! it; no version ends broken, and every version catches up when writes are allowed again.

use std::time::Duration;

use crate::harness::{start_cluster, TestDb};
use crate::ops::{free_port, get, sample};

const VIEW_A: &str = "SELECT g, count(*), sum(v) FROM a GROUP BY g";
const VIEW_B: &str = "SELECT g, count(*), max(v) FROM b GROUP BY g";

async fn write_both(client: &tokio_postgres::Client, round: i32) {
    client
        .execute(
            "INSERT INTO a (g, v) SELECT i % 7, i * $1 FROM generate_series(1, 50) i",
            &[&round],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO b (g, v) SELECT i % 5, i + $1 FROM generate_series(1, 50) i",
            &[&round],
        )
        .await
        .unwrap();
    client
        .execute("DELETE FROM a WHERE id % 11 = $1 % 11", &[&round])
        .await
        .unwrap();
}

/// End every session of the sidecar on `db` (not the test's own, not the walsenders): its
/// new sessions pick up the database's settings.
async fn end_sidecar_sessions(client: &tokio_postgres::Client) {
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap();
}

/// Two views on two sources on one stream, applied.
async fn two_views(db: &TestDb, client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE TABLE a (id bigserial PRIMARY KEY, g int, v int); ALTER TABLE a REPLICA IDENTITY FULL; \
             CREATE TABLE b (id bigserial PRIMARY KEY, g int, v int); ALTER TABLE b REPLICA IDENTITY FULL;",
        )
        .await
        .unwrap();
    write_both(client, 1).await;
    db.create("va", VIEW_A);
    db.create("vb", VIEW_B);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_target_is_retried_and_no_version_breaks() {
    let db = TestDb::new("read_only").await;
    let client = db.client().await;
    two_views(&db, &client).await;
    let port = free_port();
    let sidecar = db.sidecar_with_config(&format!("metrics_address = \"127.0.0.1:{port}\"\n"));
    write_both(&client, 2).await;
    db.wait_applied().await;
    let retries_before = sample(&get(port, "/metrics").await.1, "summa_retries_total");

    // The target turns read-only for new sessions; the sidecar's sessions are ended.
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = on",
            db.name
        ))
        .await
        .unwrap();
    end_sidecar_sessions(&client).await;
    // The test's own session was opened before: it still writes.
    for round in 3..8 {
        write_both(&client, round).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut retries = retries_before;
    for _ in 0..100 {
        retries = sample(&get(port, "/metrics").await.1, "summa_retries_total");
        if retries >= retries_before + 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        retries >= retries_before + 3.0,
        "retries {retries_before} -> {retries} while the target was read-only\n{}",
        sidecar.log_text()
    );
    // An outage longer than max_attempts' backoff (about 3 s) breaks nothing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        sidecar.log_text().contains("read-only transaction"),
        "the log names the cause:\n{}",
        sidecar.log_text()
    );

    client
        .batch_execute(&format!(
            "ALTER DATABASE {} RESET default_transaction_read_only",
            db.name
        ))
        .await
        .unwrap();
    end_sidecar_sessions(&client).await;
    write_both(&client, 9).await;
    db.wait_applied().await;
    assert_eq!(db.state_of("va").await, "live", "{}", sidecar.log_text());
    assert_eq!(db.state_of("vb").await, "live", "{}", sidecar.log_text());
    db.assert_equal("va", VIEW_A).await;
    db.assert_equal("vb", VIEW_B).await;
    sidecar.stop();
}

/// The server turns read-only under running sessions (`ALTER SYSTEM` and a reload): the
/// batches of both versions fail with SQLSTATE 25006 for longer than `apply.max_attempts`'
/// backoff. That is the target's outage, not a version's fault: nothing is marked broken.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_turned_read_only_under_the_sidecar_breaks_no_version() {
    let pg = start_cluster(&[], "ALTER SYSTEM default_transaction_read_only").await;
    let db = TestDb::on(&pg, "read_only_reload").await;
    let client = db.client().await;
    two_views(&db, &client).await;
    let port = free_port();
    let sidecar = db.sidecar_with_config(&format!("metrics_address = \"127.0.0.1:{port}\"\n"));
    write_both(&client, 2).await;
    db.wait_applied().await;

    // This session keeps writing: its own setting outranks the server's.
    client
        .batch_execute("SET default_transaction_read_only = off")
        .await
        .unwrap();
    client
        .batch_execute("ALTER SYSTEM SET default_transaction_read_only = on")
        .await
        .unwrap();
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for round in 3..20 {
        write_both(&client, round).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let body = get(port, "/metrics").await.1;
    assert!(
        sample(&body, "summa_retries_total") >= 5.0,
        "{body}\n{}",
        sidecar.log_text()
    );
    client
        .batch_execute("ALTER SYSTEM RESET default_transaction_read_only")
        .await
        .unwrap();
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    write_both(&client, 21).await;
    db.wait_applied().await;
    let log = sidecar.log_text();
    assert!(log.contains("read-only transaction"), "{log}");
    assert!(!log.contains("version broken"), "{log}");
    // Charged to the stream, not to a version (whose failures would count toward breaking it).
    assert!(!log.contains("batch failed; retrying"), "{log}");
    let body = get(port, "/metrics").await.1;
    assert_eq!(sample(&body, "summa_versions_broken_total"), 0.0, "{body}");
    assert_eq!(db.state_of("va").await, "live", "{log}");
    assert_eq!(db.state_of("vb").await, "live", "{log}");
    db.assert_equal("va", VIEW_A).await;
    db.assert_equal("vb", VIEW_B).await;
    sidecar.stop();
}
