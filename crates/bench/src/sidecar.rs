//! The sidecar under measurement, two ways:
//! - in this process ([`InProcess`]), for time to fresh: its metrics say at once when a batch
//!   committed, with no polling query competing with the merge for the server's CPU;
//! - as a child `summa run` ([`Child`]) of the real `summa` binary, for the scenarios that
//!   report the sidecar's own CPU and memory. It is read through its supported interfaces
//!   only: progress and lag from the catalog (`summa.streams`), batches and their durations
//!   from its `/metrics` endpoint (crate::scrape), served on a port the bench picks. Its log
//!   goes to `sidecar.log` in the results directory, for people, not for figures.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use summa_cli::config::Config;

use super::scrape::{self, Scrape};
use super::SCHEMA;

type Task = tokio::task::JoinHandle<Result<(), summa_apply::RunError>>;

pub struct InProcess {
    stop: tokio::sync::watch::Sender<bool>,
    task: Task,
}

impl InProcess {
    pub async fn start(
        conn: &summa_stream::ConnInfo,
        client: &tokio_postgres::Client,
        config: &Config,
        metrics: &Arc<summa_apply::Metrics>,
    ) -> anyhow::Result<InProcess> {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(summa_apply::run(
            conn.clone(),
            config.apply_config(),
            metrics.clone(),
            rx,
        ));
        wait_streaming(client).await?;
        Ok(InProcess { stop, task })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await??;
        Ok(())
    }
}

/// Wait until every stream's slot is active (its session is reading), and a moment more.
pub async fn wait_streaming(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let inactive = summa_catalog::inactive_streams(client).await?;
        if inactive == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the sidecar did not start streaming within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The WAL insert position: a COMMIT issued after reading it ends beyond it.
pub async fn insert_lsn(client: &tokio_postgres::Client) -> anyhow::Result<u64> {
    let lsn: String = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await?
        .get(0);
    parse_lsn(&lsn)
}

pub fn parse_lsn(text: &str) -> anyhow::Result<u64> {
    Ok(summa_stream::Lsn::parse(text)
        .map_err(|e| anyhow::anyhow!("bad LSN {text}: {e:?}"))?
        .0)
}

/// Wait until the in-process sidecar committed a batch ending beyond `lsn`.
pub async fn wait_metric(
    lsn: u64,
    metrics: &summa_apply::Metrics,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while metrics.applied_lsn.load(Ordering::Relaxed) <= lsn {
        if started.elapsed() > timeout {
            bail!("not applied within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_micros(250)).await;
    }
    Ok(started.elapsed())
}

/// Insert one order in a transaction of its own (every live view takes it: it is applied in a
/// batch); returns the position its COMMIT ends beyond.
pub async fn commit_marker(client: &tokio_postgres::Client) -> anyhow::Result<u64> {
    client.batch_execute("BEGIN").await?;
    client
        .batch_execute(&format!(
            "INSERT INTO {SCHEMA}.orders (customer_id, region_id, status, amount, created_at) \
             VALUES (1, 1, 'paid', 1.00, '2025-06-01 12:00:00+00')"
        ))
        .await?;
    let lsn = insert_lsn(client).await?;
    client.batch_execute("COMMIT").await?;
    Ok(lsn)
}

/// Wait until every stream's applied LSN (in `summa.streams`) is beyond `lsn`.
pub async fn wait_streams(
    client: &tokio_postgres::Client,
    lsn: u64,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let applied = streams_applied(client).await?.0;
        if applied > lsn {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("not applied within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// (lowest applied LSN of the streams, its lag in ms: the age of the last applied commit
/// while WAL is pending, 0 when caught up).
pub async fn streams_applied(client: &tokio_postgres::Client) -> anyhow::Result<(u64, f64)> {
    let (lsn, lag) = summa_catalog::lowest_applied(client).await?;
    Ok((
        lsn.map(|l| parse_lsn(&l)).transpose()?.unwrap_or(0),
        lag.unwrap_or(0.0).max(0.0),
    ))
}

/// How child sidecars start: which `summa` binary, and the summa.toml they build on.
#[derive(Debug, Clone)]
pub struct Launch {
    exe: PathBuf,
    /// The user's config file (`--config`, or ./summa.toml when it exists), if any.
    config: Option<PathBuf>,
}

impl Launch {
    /// `exe` (`--summa-bin`), or `summa` next to this executable; an error says how to build
    /// it when it is missing.
    pub fn resolve(exe: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<Launch> {
        let exe = match exe {
            Some(exe) => exe,
            None => std::env::current_exe()
                .context("cannot find the summa-bench executable")?
                .with_file_name(format!("summa{}", std::env::consts::EXE_SUFFIX)),
        };
        if !exe.is_file() {
            bail!(
                "the bench measures the summa binary and there is none at {}: build it with \
                 `cargo build --release -p summa` (or `cargo build --release`, which builds \
                 both), or pass --summa-bin",
                exe.display()
            );
        }
        let config = config.or_else(|| Some(PathBuf::from("summa.toml")).filter(|p| p.exists()));
        Ok(Launch { exe, config })
    }

    /// Write the child's summa.toml to `path`: the user's keys, `overrides` on top, and
    /// `metrics_address` on `metrics`.
    fn write_config(
        &self,
        path: &Path,
        metrics: SocketAddr,
        overrides: &toml::Table,
    ) -> anyhow::Result<()> {
        let mut table = match &self.config {
            Some(user) => {
                let text = std::fs::read_to_string(user)
                    .with_context(|| format!("cannot read config file {}", user.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .with_context(|| format!("config file {} is not valid TOML", user.display()))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in overrides {
            table.insert(key.clone(), value.clone());
        }
        table.insert("metrics_address".into(), metrics.to_string().into());
        std::fs::write(path, toml::to_string(&table)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A free local port for a child's `/metrics` (taken back by the child a moment later).
fn free_address() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("no free local port")?;
    Ok(probe.local_addr()?)
}

/// `summa run` as a child process.
pub struct Child {
    child: std::process::Child,
    log: PathBuf,
    metrics: SocketAddr,
}

impl Child {
    /// Start `summa run` logging to `sidecar.log` in `out`, and wait until it serves
    /// `/metrics` and every stream is read.
    pub async fn start(
        launch: &Launch,
        url: &str,
        out: &Path,
        client: &tokio_postgres::Client,
    ) -> anyhow::Result<Child> {
        Self::start_with(launch, url, out, client, &toml::Table::new()).await
    }

    /// As [`Child::start`], with `overrides` (top-level summa.toml keys) over the user's config.
    pub async fn start_with(
        launch: &Launch,
        url: &str,
        out: &Path,
        client: &tokio_postgres::Client,
        overrides: &toml::Table,
    ) -> anyhow::Result<Child> {
        let log = out.join("sidecar.log");
        let config = out.join("sidecar.toml");
        let metrics = free_address()?;
        launch.write_config(&config, metrics, overrides)?;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let child = Command::new(&launch.exe)
            .arg("--config")
            .arg(&config)
            .args(["--log", "info", "run"])
            .env("DATABASE_URL", url)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start `{} run`", launch.exe.display()))?;
        let mut me = Child {
            child,
            log,
            metrics,
        };
        if let Err(err) = me.wait_ready(client).await {
            me.kill();
            return Err(err);
        }
        Ok(me)
    }

    /// Until `/metrics` answers and every stream is read; an exit on the way is an error
    /// pointing at the log.
    async fn wait_ready(&mut self, client: &tokio_postgres::Client) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "`summa run` exited at start ({status}); see {}",
                    self.log.display()
                );
            }
            match scrape::fetch(self.metrics).await {
                Ok(_) => break,
                Err(err) if started.elapsed() > Duration::from_secs(60) => {
                    return Err(err.context(format!(
                        "the sidecar did not serve /metrics within 60 s; see {}",
                        self.log.display()
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        wait_streaming(client).await
    }

    /// The sidecar's figures now (see crate::scrape).
    pub async fn scrape(&self) -> anyhow::Result<Scrape> {
        scrape::fetch(self.metrics).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) so far, in ms.
    pub fn cpu_ms(&self) -> f64 {
        proc_cpu_ms(&format!("/proc/{}/stat", self.pid()))
    }

    /// (VmRSS, VmHWM) in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (the sidecar abandons any open batch and exits), SIGKILL after 15 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    tracing::warn!(%status, "the sidecar exited with an error; see sidecar.log");
                }
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(15) {
                self.kill();
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// User + system CPU time of the process whose stat file is `path`, in ms (Linux).
pub fn proc_cpu_ms(path: &str) -> f64 {
    let ticks = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            Some(after.get(11)?.parse::<f64>().ok()? + after.get(12)?.parse::<f64>().ok()?)
        })
        .unwrap_or(0.0);
    ticks * 10.0 // USER_HZ = 100
}
