//! TLS to PostgreSQL: a cluster with `ssl = on` and a certificate from a self-signed test CA.
//! Both connection kinds (queries and the walsender) must be encrypted, verified when asked,
//! and refused with a clear reason when the CA is wrong or the server has no SSL.

use std::sync::OnceLock;

use summa_localpg::LocalPostgres;
use summa_stream::{create_slot_with_snapshot, ConnInfo};

use crate::harness::{cluster, seed, Rng, TestDb};
use crate::items;
use crate::server::{supports, Needs};

const VIEW: &str = "SELECT grp, count(*), sum(val) FROM items GROUP BY grp";
/// In URLs of failing connections, to check no message repeats it (trust auth ignores it).
const PASSWORD: &str = "not-a-real-secret";

static TLS_CLUSTER: OnceLock<LocalPostgres> = OnceLock::new();

fn tls_cluster() -> &'static LocalPostgres {
    TLS_CLUSTER.get_or_init(|| {
        LocalPostgres::start_with_tls(&[]).unwrap_or_else(|e| panic!("start a TLS cluster: {e}"))
    })
}

/// `db` reached with the extra URL parameters `params` (and a password), for `summa` runs;
/// the harness's own checks keep using the plain `db`.
fn with_params(db: &TestDb, params: &str) -> TestDb {
    TestDb {
        url: format!(
            "{}?{params}",
            db.url.replacen(
                "postgres://postgres@",
                &format!("postgres://postgres:{PASSWORD}@"),
                1
            )
        ),
        name: db.name.clone(),
    }
}

fn ca_path() -> String {
    tls_cluster()
        .ca()
        .expect("a TLS cluster has a CA")
        .cert
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn require_streams_over_tls_on_both_connections() {
    if !supports(Needs::Tls).await {
        return;
    }
    let db = TestDb::on(tls_cluster(), "tls_require").await;
    let client = db.client().await;
    let mut rng = Rng::new(seed("tls_require"));
    items::setup(&client, &mut rng, 100).await;
    let tls = with_params(&db, "sslmode=require");
    tls.create("by_grp", VIEW);
    let sidecar = tls.sidecar();
    items::run_workload(&client, &mut rng, 20, 10).await;
    db.wait_applied().await;
    db.assert_equal("by_grp", VIEW).await;

    let rows = client
        .query(
            "SELECT a.backend_type, a.application_name, s.ssl \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name LIKE 'summa%' AND a.datname = current_database()",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, String, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(
        seen.iter().any(|(kind, _, _)| kind == "walsender"),
        "no walsender: {seen:?}"
    );
    assert!(
        seen.iter().any(|(kind, _, _)| kind == "client backend"),
        "no query connection: {seen:?}"
    );
    assert!(seen.iter().all(|(_, _, ssl)| *ssl), "unencrypted: {seen:?}");
    sidecar.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_with_the_right_ca_succeeds() {
    if !supports(Needs::Tls).await {
        return;
    }
    let db = TestDb::on(tls_cluster(), "tls_verify").await;
    db.client()
        .await
        .batch_execute(items::SCHEMA)
        .await
        .unwrap();
    let ca = ca_path();
    // `create` opens a query connection and a replication session (the slot's snapshot).
    for (view, params) in [
        ("by_ip", format!("sslmode=verify-full&sslrootcert={ca}")),
        ("by_ca", format!("sslmode=verify-ca&sslrootcert={ca}")),
    ] {
        with_params(&db, &params).create(view, VIEW);
    }
    let by_name = TestDb {
        url: with_params(&db, &format!("sslmode=verify-full&sslrootcert={ca}"))
            .url
            .replacen("@127.0.0.1:", "@localhost:", 1),
        name: db.name.clone(),
    };
    by_name.create("by_name", VIEW);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_with_a_wrong_ca_is_refused_for_both_connections() {
    if !supports(Needs::Tls).await {
        return;
    }
    let db = TestDb::on(tls_cluster(), "tls_wrong_ca").await;
    let dir = std::env::temp_dir().join(format!("summa-wrong-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrong = summa_localpg::generate_ca(&dir, "wrong").expect("make a second CA");
    let tls = with_params(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}", wrong.cert.display()),
    );

    let (ok, _, err) = tls.summa(&["status"]);
    assert!(!ok, "a certificate from another CA was accepted");
    assert!(
        err.contains("server certificate verification failed")
            && err.contains("sslmode=verify-full")
            && err.contains(&wrong.cert.display().to_string()),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");

    let conn = ConnInfo::parse(&tls.url).unwrap();
    let err = create_slot_with_snapshot(&conn, "tls_wrong_ca", "p", true)
        .await
        .err()
        .expect("the replication session must be refused too")
        .to_string();
    assert!(err.contains("invalid peer certificate"), "{err}");

    let missing = with_params(&db, "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    let (ok, _, err) = missing.summa(&["status"]);
    assert!(
        !ok && err.contains("sslrootcert /nonexistent/ca.pem: No such file"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn require_against_a_server_without_ssl_fails_and_prefer_falls_back() {
    let db = TestDb::on(cluster(), "tls_nossl").await;
    let tls = with_params(&db, "sslmode=require");
    let (ok, _, err) = tls.summa(&["status"]);
    assert!(
        !ok && err.contains("the server does not support SSL, but sslmode=require"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    let conn = ConnInfo::parse(&tls.url).unwrap();
    let err = create_slot_with_snapshot(&conn, "tls_nossl", "p", true)
        .await
        .err()
        .expect("the replication session must be refused too")
        .to_string();
    assert!(err.contains("server does not support TLS"), "{err}");

    // prefer (libpq's default, also when no sslmode is given) uses plaintext here.
    let conn = ConnInfo::parse(&with_params(&db, "sslmode=prefer").url).unwrap();
    conn.connect("summa-test-prefer")
        .await
        .expect("prefer connects");
    create_slot_with_snapshot(&conn, "tls_prefer", "p", true)
        .await
        .expect("prefer opens a replication session");
}
