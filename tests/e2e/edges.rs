//! The edges where outside text enters summa: documentation kept clean of merge debris, logs
//! written to files and pipes, and database URLs whose passwords hold odd characters.

use std::path::{Path, PathBuf};

/// Lines that are git merge-conflict markers.
fn conflict_markers(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.starts_with("<<<<<<<") || line.starts_with(">>>>>>>") || *line == "======="
        })
        .map(|(i, line)| (i + 1, line))
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn docs_hold_no_merge_conflict_markers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    files_under(&root.join("docs"), &mut files);
    let mut found = Vec::new();
    for path in &files {
        // Binary files (figures) are not text and cannot hold markers worth reporting.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (line, marker) in conflict_markers(&text) {
            found.push(format!("{}:{line}: {marker}", path.display()));
        }
    }
    assert!(
        found.is_empty(),
        "merge-conflict markers left in the docs:\n{}",
        found.join("\n")
    );
    assert!(!conflict_markers("a\n=======\nb").is_empty());
    assert!(conflict_markers("a\n========\n| = |").is_empty());
}

/// A local port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// `summa run` against `url`, stderr a pipe; it logs its start, fails to connect and exits.
fn run_unreachable(url: &str) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_summa"))
        .arg("run")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run summa");
    assert!(
        !out.status.success(),
        "summa run succeeded against {url:?}?"
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let url = format!("postgres://summa@127.0.0.1:{}/app", closed_port());
    let (out, err) = run_unreachable(&url);
    assert!(
        err.contains("summa sidecar starting"),
        "no log line:\n{err}"
    );
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "ANSI escape codes in piped output:\n{err:?}"
    );
}

/// A password made of what trips URL parsers: `@ : / ? & # =`, a literal `%40`, spaces,
/// quotes, a backslash and non-ASCII letters (already in SASLprep's normal form).
const ODD_PASSWORD: &str = "p@ss:w/rd %40 ?&#= 'q\"\\ ü✓";

/// Every byte outside the URL's unreserved set percent-encoded.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Make `role` log in with its password (SCRAM), for queries and replication, on `pg`: its
/// lines go first in pg_hba.conf, before the harness's `trust` for everyone.
async fn require_password_for(pg: &summa_localpg::LocalPostgres, role: &str) {
    let admin = crate::harness::connect(&pg.url("postgres")).await;
    let row = admin.query_one("SHOW hba_file", &[]).await.unwrap();
    let path: String = row.get(0);
    let old = std::fs::read_to_string(&path).expect("read pg_hba.conf");
    let lines = format!(
        "host all {role} 127.0.0.1/32 scram-sha-256\nhost replication {role} 127.0.0.1/32 scram-sha-256\n"
    );
    std::fs::write(&path, lines + &old).expect("write pg_hba.conf");
    admin.execute("SELECT pg_reload_conf()", &[]).await.unwrap();
    // The reload is asynchronous: wait until a wrong password is refused.
    let wrong = format!("postgres://{role}:wrong@127.0.0.1:{}/postgres", pg.port());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio_postgres::connect(&wrong, tokio_postgres::NoTls)
        .await
        .is_ok()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "pg_hba.conf not reloaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_with_odd_characters_connects_for_queries_and_replication() {
    let pg = crate::harness::start_cluster(&[], "password authentication").await;
    let db = crate::harness::TestDb::on(&pg, "oddpw").await;
    let admin = db.client().await;
    admin
        .batch_execute(&format!(
            "SET password_encryption = 'scram-sha-256';
             CREATE ROLE summa_pw LOGIN REPLICATION PASSWORD {};
             GRANT CREATE ON DATABASE {} TO summa_pw;
             CREATE TABLE t (id int PRIMARY KEY);
             CREATE PUBLICATION oddpw_pub FOR TABLE t;",
            summa_plan::ident::quote_literal(ODD_PASSWORD),
            db.name
        ))
        .await
        .unwrap();
    require_password_for(&pg, "summa_pw").await;

    let url = format!(
        "postgres://summa_pw:{}@127.0.0.1:{}/{}",
        url_encoded(ODD_PASSWORD),
        pg.port(),
        db.name
    );
    let conn = summa_stream::ConnInfo::parse(&url).expect("the URL parses");
    assert_eq!(
        conn.display(),
        format!("summa_pw@127.0.0.1:{}/{}", pg.port(), db.name)
    );
    let client = conn.connect("summa-test").await.expect("query connection");
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, "summa_pw");
    // The replication protocol authenticates on its own (pgwire-replication's SCRAM).
    let slot = summa_stream::create_slot_with_snapshot(&conn, "oddpw_slot", "oddpw_pub", true)
        .await
        .expect("replication connection with the odd password");
    drop(slot);

    // A wrong password is refused, and the error names neither password.
    let wrong = url.replace(&url_encoded(ODD_PASSWORD), "Wr0ng-S3cret%40x");
    let err = summa_stream::ConnInfo::parse(&wrong)
        .unwrap()
        .connect("summa-test")
        .await
        .expect_err("a wrong password connects?")
        .to_string();
    assert!(err.contains("summa_pw@127.0.0.1"), "{err}");
    for secret in ["Wr0ng-S3cret", "S3cret@x", "p@ss:w/rd"] {
        assert!(!err.contains(secret), "{err}");
    }
}

#[test]
fn passwords_stay_out_of_logs_and_errors() {
    let port = closed_port();
    for url in [
        format!("postgres://summa:Sekr1t%40pw@127.0.0.1:{port}/app"),
        format!("host=127.0.0.1 port={port} user=summa password='Sekr1t@pw' dbname=app"),
    ] {
        let (out, err) = run_unreachable(&url);
        assert!(err.contains("summa sidecar starting"), "{err}");
        for text in [&out, &err] {
            assert!(!text.contains("Sekr1t"), "password in the output:\n{text}");
        }
    }
    // A URL the parser refuses: the error names the problem, not the password.
    for url in [
        "postgres://summa:Sekr1t%40pw@127.0.0.1:port/app",
        "postgres://summa:Sekr1t%zzpw@127.0.0.1/app",
        "postgres://summa:Sekr1t@pw@127.0.0.1/app",
        "postgres://summa:Sekr1t%40pw@127.0.0.1/app?sslmode=maybe",
        "postgres://summa:Sekr1t%40pw@127.0.0.1/app?frobnicate=1",
    ] {
        let (out, err) = run_unreachable(url);
        assert!(err.contains("invalid database URL"), "{url}: {err}");
        assert!(
            !out.contains("Sekr1t") && !err.contains("Sekr1t"),
            "{url}: {err}"
        );
    }
}
