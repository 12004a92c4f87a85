//! Test harness: one private PostgreSQL cluster per test run (started on first use), a fresh
//! database per test, the `summa` binary as a real child process, and Postgres as the oracle.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use summa_localpg::LocalPostgres;
use tokio_postgres::{Client, NoTls};

static CLUSTER: OnceLock<LocalPostgres> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The shared cluster; panics loudly when PostgreSQL is not installed (never skips).
pub fn cluster() -> &'static LocalPostgres {
    CLUSTER.get_or_init(|| {
        LocalPostgres::start().unwrap_or_else(|e| {
            panic!(
                "these tests need PostgreSQL server binaries (15, or the directory in \
                 SUMMA_PG_BIN) and could not start them: {e}"
            )
        })
    })
}

/// A cluster of the test's own with extra server `settings` (the shared one cannot be
/// misconfigured); `what` names it in the failure message.
pub async fn start_cluster(settings: &[(&str, &str)], what: &str) -> LocalPostgres {
    let owned: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let settings: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        LocalPostgres::start_with(&settings)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("start a cluster with {what}: {e}"))
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh database for one test.
pub struct TestDb {
    pub url: String,
    pub name: String,
}

impl TestDb {
    pub async fn new(tag: &str) -> TestDb {
        TestDb::on(cluster(), tag).await
    }

    /// A fresh database on `pg` (a test that restarts its server uses a cluster of its own).
    pub async fn on(pg: &LocalPostgres, tag: &str) -> TestDb {
        let name = format!("t{}_{tag}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let admin = connect(&pg.url("postgres")).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        TestDb {
            url: pg.url(&name),
            name,
        }
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Run `summa ARGS` against this database and return (success, stdout, stderr).
    pub fn summa(&self, args: &[&str]) -> (bool, String, String) {
        self.summa_with_env(args, &[])
    }

    /// `summa ARGS` with extra environment variables (e.g. `SUMMA_FAILPOINTS`).
    pub fn summa_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_summa"))
            .args(args)
            .env("DATABASE_URL", &self.url)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run summa");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `summa create NAME --sql SQL`, which must succeed.
    pub fn create(&self, name: &str, sql: &str) {
        let (ok, out, err) = self.summa(&["create", name, "--sql", sql]);
        assert!(ok, "summa create {name} failed:\n{out}\n{err}");
    }

    /// Start the sidecar (`summa run`) as a child process.
    pub fn sidecar(&self) -> Sidecar {
        self.sidecar_with_config("")
    }

    /// Start the sidecar with `toml` as its summa.toml (see docs/configuration.md).
    pub fn sidecar_with_config(&self, toml: &str) -> Sidecar {
        self.sidecar_with(toml, &[])
    }

    /// Start the sidecar with `toml` and extra environment variables.
    pub fn sidecar_with(&self, toml: &str, env: &[(&str, &str)]) -> Sidecar {
        let config = std::env::temp_dir().join(format!("summa-{}.toml", self.name));
        std::fs::write(&config, toml).expect("write summa.toml");
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "summa-{}-{}-{}.log",
            self.name,
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_summa"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("DATABASE_URL", &self.url)
            .env("RUST_LOG", "summa_apply=info,warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start summa run");
        Sidecar { child, log }
    }

    /// The state of `view`'s newest version.
    /// Every version that is not live, as `view vN: state error`.
    pub async fn versions_not_live(&self) -> Vec<String> {
        texts(
            &self.client().await,
            "SELECT format('%s v%s: %s %s', view_name, version, state, coalesce(error, '')) \
             FROM summa.versions WHERE state <> 'live' ORDER BY view_name, version",
        )
        .await
    }

    pub async fn state_of(&self, view: &str) -> String {
        self.client()
            .await
            .query_one(
                "SELECT state FROM summa.versions WHERE view_name = $1 ORDER BY version DESC LIMIT 1",
                &[&view],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Wait (up to 20 s) for `view`'s newest version to reach `state`; returns its error text.
    pub async fn wait_state(&self, view: &str, state: &str) -> String {
        let client = self.client().await;
        let mut seen = String::new();
        for _ in 0..400 {
            let row = client
                .query_one(
                    "SELECT state, coalesce(error, '') FROM summa.versions WHERE view_name = $1 \
                     ORDER BY version DESC LIMIT 1",
                    &[&view],
                )
                .await
                .unwrap();
            seen = row.get(0);
            if seen == state {
                return row.get(1);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{view} did not become {state} (is {seen})");
    }

    /// Wait until every summa slot has confirmed the current WAL position (all applied).
    pub async fn wait_applied(&self) {
        let client = self.client().await;
        let lsn: String = client
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .unwrap()
            .get(0);
        let caught_up = summa_apply::wait_applied(&client, &lsn, Duration::from_secs(240))
            .await
            .expect("reading slot positions");
        assert!(caught_up, "summaries did not catch up with {lsn}");
    }

    /// The oracle: the alias view equals its SELECT run on the source, as multisets
    /// (EXCEPT ALL both ways). Float columns are compared at 9 significant digits.
    pub async fn assert_equal(&self, alias: &str, sql: &str) {
        let client = self.client().await;
        // A broken version is not applied any more: report why, not a stale difference.
        let broken: Vec<String> = client
            .query(
                "SELECT format('v%s: %s', version, error) FROM summa.versions \
                 WHERE view_name = $1 AND state = 'broken'",
                &[&alias],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(broken.is_empty(), "{alias} is broken: {broken:?}");
        let diff = oracle_diff(&client, alias, sql).await;
        assert!(
            diff.is_empty(),
            "{alias} differs from its SELECT ({} rows):\n{}",
            diff.len(),
            diff.join("\n")
        );
    }
}

/// The first column of every row `sql` returns, as text.
pub async fn texts(client: &Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Rows in `alias` but not in `sql` and vice versa (as JSON), with floats rounded.
pub async fn oracle_diff(client: &Client, alias: &str, sql: &str) -> Vec<String> {
    let cols = client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&alias],
        )
        .await
        .expect("alias columns");
    let projection: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let ty: String = r.get(1);
            let col = format!("x{i}");
            if ty == "double precision" || ty == "real" {
                // 9 significant digits: incremental float sums round differently.
                format!(
                    "CASE WHEN {col} IS NULL OR {col} = 0 THEN {col}::numeric \
                     ELSE round({col}::numeric, 8 - floor(log(abs({col}::numeric)))::int) END AS {col}"
                )
            } else {
                col
            }
        })
        .collect();
    let names: Vec<String> = (0..cols.len()).map(|i| format!("x{i}")).collect();
    let q = format!(
        "WITH s AS (SELECT {p} FROM (SELECT * FROM {alias}) a({n})), \
              q AS (SELECT {p} FROM ({sql}) b({n})) \
         SELECT 'only in summary: ' || to_jsonb(d)::text FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM q) d \
         UNION ALL SELECT 'only in select: ' || to_jsonb(e)::text FROM (SELECT * FROM q EXCEPT ALL SELECT * FROM s) e LIMIT 50",
        p = projection.join(", "),
        n = names.join(", ")
    );
    client
        .query(&q, &[])
        .await
        .unwrap_or_else(|e| panic!("oracle query failed: {e:?}\n{q}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

pub struct Sidecar {
    child: Child,
    log: std::path::PathBuf,
}

impl Sidecar {
    /// SIGTERM and wait: the graceful path.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sidecar did not stop on SIGTERM; log:\n{}", self.log_text());
    }

    /// The process exits by itself within `patience` (a crash point fired, a startup error).
    pub async fn exits_within(&mut self, patience: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < patience {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// kill -9: the crash path.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak resident memory of the sidecar so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Resident memory of the sidecar now, in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// A `/proc/<pid>/status` field in KiB (0 when the process is gone).
    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- sidecar log ---\n{}", self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small seeded PRNG (xorshift*), so failing workloads replay from their printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Seed from SUMMA_TEST_SEED or the clock; printed so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("SUMMA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(42)
        });
    eprintln!("{test}: seed {seed} (replay with SUMMA_TEST_SEED={seed})");
    seed
}

impl TestDb {
    /// The same database, connecting as `role` (the cluster trusts local connections).
    pub fn as_role(&self, role: &str) -> TestDb {
        TestDb {
            url: self
                .url
                .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1),
            name: self.name.clone(),
        }
    }

    /// Write `toml` as this test's summa.toml (for `--config`).
    pub fn config_file(&self, toml: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("summa-{}-cli.toml", self.name));
        std::fs::write(&path, toml).expect("write summa.toml");
        path
    }

    /// `summa ARGS`, killed when it has not finished within `patience`: `None` then, else
    /// (success, stdout, stderr).
    pub fn summa_within(
        &self,
        args: &[&str],
        patience: Duration,
    ) -> Option<(bool, String, String)> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_summa"))
            .args(args)
            .env("DATABASE_URL", &self.url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run summa");
        let started = Instant::now();
        let finished = loop {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break true;
            }
            if started.elapsed() > patience {
                let _ = child.kill();
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = child.wait_with_output().expect("summa output");
        finished.then(|| {
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
    }
}

/// Replication slots of the database `client` is connected to.
pub async fn slot_count(client: &Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Terminate the walsenders streaming this database's slots; returns how many there were.
pub async fn terminate_walsenders(client: &Client) -> usize {
    client
        .query(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
             WHERE database = current_database() AND active_pid IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .len()
}
