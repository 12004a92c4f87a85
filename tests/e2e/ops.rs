//! What operators see: `/metrics` and `/health`, credentials kept out of logs and output, and
//! clear refusals of bad credentials.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{start_cluster, TestDb};
use crate::items;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from 127.0.0.1:`port`: (status code, body). Retries while the server starts.
pub(crate) async fn get(port: u16, path: &str) -> (u16, String) {
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
pub(crate) fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_report_lag_counters_and_broken_versions() {
    let (db, client, mut rng) = items::database(None, "metrics", 100).await;
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
    assert!(sample(&body, "summa_longest_batch_seconds") > 0.0);
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
    assert!(
        sidecar.exits_within(Duration::from_secs(10)).await,
        "the sidecar should refuse to start"
    );
    let log = sidecar.log_text();
    assert!(
        log.contains("metrics_address") && log.contains("cannot listen"),
        "{log}"
    );
}

const BY_GRP: &str = "SELECT grp, count(*), sum(val) FROM items GROUP BY grp";

/// Write `toml` to a config file of its own; returns its path.
fn config_file(db: &TestDb, tag: &str, toml: &str) -> String {
    let path = std::env::temp_dir().join(format!("summa-{}-{tag}.toml", db.name));
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecar_works_with_exactly_what_setup_print_grants() {
    let (db, admin, mut rng) = items::database(None, "leastpriv", 100).await;
    admin
        .batch_execute("CREATE TABLE other (k int, v int); ALTER TABLE other REPLICA IDENTITY FULL")
        .await
        .unwrap();
    let (ok, sql, err) = db.summa(&[
        "setup",
        "--print",
        "--role",
        "summa_lp",
        "--tables",
        "items",
        "--publication",
        "summa_pub",
    ]);
    assert!(ok, "{err}");
    let password = "s3cret-Pw-42";
    admin
        .batch_execute(&sql.replace("'change-me'", &format!("'{password}'")))
        .await
        .unwrap_or_else(|e| panic!("setup SQL failed: {e:?}\n{sql}"));
    admin
        .batch_execute("GRANT SELECT ON other TO summa_lp")
        .await
        .unwrap();
    let app_url = db.url.replace(
        "postgres://postgres@",
        &format!("postgres://summa_lp:{password}@"),
    );
    let env = [("DATABASE_URL", app_url.as_str())];
    let config = config_file(&db, "lp", "publication = \"summa_pub\"\n");

    let (ok, out, err) = db.summa_with_env(
        &["--config", &config, "create", "by_grp", "--sql", BY_GRP],
        &env,
    );
    assert!(ok, "create as summa_lp: {out}{err}");
    // A table outside the DBA's publication is refused with the statement to run.
    let (ok, _, err) = db.summa_with_env(
        &[
            "--config",
            &config,
            "create",
            "other_sum",
            "--sql",
            "SELECT k, sum(v) FROM other GROUP BY k",
        ],
        &env,
    );
    assert!(
        !ok && err.contains("not in publication summa_pub") && err.contains("ALTER PUBLICATION"),
        "{err}"
    );

    let sidecar = db.sidecar_with("publication = \"summa_pub\"\n", &env);
    items::run_workload(&admin, &mut rng, 20, 5).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    let (ok, status, err) = db.summa_with_env(&["status"], &env);
    assert!(ok && status.contains("live"), "{status}{err}");
    let owner: String = admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'by_grp__v1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "summa_lp");
    sidecar.stop();
    // The DBA's publication is never dropped by summa.
    let (ok, out, err) = db.summa_with_env(&["drop", "by_grp"], &env);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = db.summa_with_env(&["gc"], &env);
    assert!(ok, "{out}{err}");
    let kept: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'summa_pub')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(kept, "summa dropped the DBA's publication");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_refused_clearly_and_passwords_never_printed() {
    let hba = std::env::temp_dir().join(format!("summa-hba-{}.conf", std::process::id()));
    std::fs::write(
        &hba,
        "host all postgres 127.0.0.1/32 trust\nhost replication postgres 127.0.0.1/32 trust\n\
         host all all 127.0.0.1/32 scram-sha-256\nhost replication all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    let hba_setting = format!("'{}'", hba.display());
    let pg = start_cluster(
        &[("hba_file", hba_setting.as_str())],
        "password authentication",
    )
    .await;
    let (db, admin, mut rng) = items::database(Some(&pg), "creds", 50).await;
    admin
        .batch_execute("CREATE ROLE app LOGIN SUPERUSER PASSWORD 'right-Pw-1'")
        .await
        .unwrap();
    let url = |pw: &str| {
        db.url
            .replace("postgres://postgres@", &format!("postgres://app:{pw}@"))
    };

    let wrong = url("wrong-Pw-2");
    let (ok, out, err) = db.summa_with_env(&["status"], &[("DATABASE_URL", &wrong)]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("password authentication failed for user \"app\""),
        "{err}"
    );
    assert!(
        err.contains("app@127.0.0.1"),
        "names where it connected: {err}"
    );
    assert!(
        !err.contains("wrong-Pw-2") && !out.contains("wrong-Pw-2"),
        "{err}"
    );
    let mut sidecar = db.sidecar_with("", &[("DATABASE_URL", &wrong)]);
    assert!(
        sidecar.exits_within(Duration::from_secs(10)).await,
        "summa run should stop on wrong credentials"
    );
    let log = sidecar.log_text();
    assert!(
        log.contains("password authentication failed") && !log.contains("wrong-Pw-2"),
        "{log}"
    );

    // The right password works for queries and for the replication connection (SCRAM).
    let right = url("right-Pw-1");
    let env = [("DATABASE_URL", right.as_str()), ("RUST_LOG", "debug")];
    let (ok, out, err) = db.summa_with_env(&["create", "by_grp", "--sql", BY_GRP], &env);
    assert!(ok, "{out}{err}");
    assert!(
        !err.contains("right-Pw-1") && !out.contains("right-Pw-1"),
        "{err}"
    );
    let sidecar = db.sidecar_with("", &[("DATABASE_URL", &right), ("RUST_LOG", "debug")]);
    items::run_workload(&admin, &mut rng, 10, 5).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", BY_GRP).await;
    let log = sidecar.log_text();
    assert!(!log.contains("right-Pw-1"), "the password reached the log");
    sidecar.stop();
    let _ = std::fs::remove_file(&hba);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_is_refused_before_anything_runs_and_json_logs_parse() {
    let db = TestDb::new("badcfg").await;
    for (toml, expected) in [
        ("retention_hourz = 3\n", "retention_hourz"),
        ("[apply]\nmax_attempts = 0\n", "max_attempts"),
        ("[apply]\non_truncate = \"maybe\"\n", "on_truncate"),
        ("statement_budget_ms = \"soon\"\n", "statement_budget_ms"),
        ("log_format = \"xml\"\n", "log_format"),
        ("metrics_address = \"nowhere\"\n", "metrics_address"),
    ] {
        let config = config_file(&db, "bad", toml);
        let (ok, _, err) = db.summa(&["--config", &config, "run"]);
        assert!(
            !ok && err.contains(expected) && err.contains(&config),
            "{toml}: {err}"
        );
    }
    let (ok, _, err) = db.summa(&["--config", "/nonexistent/summa.toml", "status"]);
    assert!(!ok && err.contains("/nonexistent/summa.toml"), "{err}");

    // log_format = "json": every log line is one JSON object.
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    db.create("by_grp", BY_GRP);
    let sidecar = db.sidecar_with_config("log_format = \"json\"\n");
    client
        .batch_execute("INSERT INTO items (grp, val) VALUES (1, 2)")
        .await
        .unwrap();
    db.wait_applied().await;
    let text = sidecar.log_text();
    sidecar.stop();
    let log: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!log.is_empty());
    for line in &log {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("fields").is_some(),
            "{line}"
        );
    }
}
