//! The sidecar under measurement, two ways:
//! - in this process ([`InProcess`]), for time to fresh: its metrics say at once when a batch
//!   committed, with no polling query competing with the merge for the server's CPU;
//! - as a child `summa run` ([`Child`]), for the scenarios that report the sidecar's own CPU
//!   and memory; it logs every batch (`flush_ms`) to `sidecar.log` in the results directory,
//!   and progress is read from `summa.streams`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::SCHEMA;
use crate::config::Config;

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
        let inactive: i64 = client
            .query_one(
                "SELECT count(*) FROM summa.streams s LEFT JOIN pg_replication_slots r \
                 ON r.slot_name = s.slot_name WHERE r.active IS NOT TRUE",
                &[],
            )
            .await?
            .get(0);
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
    let row = client
        .query_one(
            "SELECT min(applied_lsn)::text, \
                    CASE WHEN pg_current_wal_lsn() > min(applied_lsn) \
                         THEN extract(epoch FROM clock_timestamp() - min(applied_commit_time)) * 1000 \
                         ELSE 0 END::float8 \
             FROM summa.streams",
            &[],
        )
        .await?;
    let lsn: Option<String> = row.get(0);
    let lag: Option<f64> = row.get(1);
    Ok((
        lsn.map(|l| parse_lsn(&l)).transpose()?.unwrap_or(0),
        lag.unwrap_or(0.0).max(0.0),
    ))
}

/// `summa run` as a child process.
pub struct Child {
    child: std::process::Child,
    pub log: PathBuf,
}

impl Child {
    pub async fn start(
        url: &str,
        log: &Path,
        client: &tokio_postgres::Client,
    ) -> anyhow::Result<Child> {
        Self::start_with(url, log, client, None).await
    }

    /// As [`Child::start`], with `config` as its summa.toml.
    pub async fn start_with(
        url: &str,
        log: &Path,
        client: &tokio_postgres::Client,
        config: Option<&Path>,
    ) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find the summa executable")?;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut cmd = Command::new(exe);
        // The same summa.toml as this process, when one was given.
        let args: Vec<String> = std::env::args().collect();
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        } else if let Some(i) = args.iter().position(|a| a == "--config") {
            if let Some(path) = args.get(i + 1) {
                cmd.arg("--config").arg(path);
            }
        }
        let child = cmd
            .args(["--log", "summa_apply=debug,warn", "run"])
            .env("DATABASE_URL", url)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("cannot start `summa run`")?;
        let mut me = Child {
            child,
            log: log.to_path_buf(),
        };
        if let Err(err) = wait_streaming(client).await {
            me.kill();
            return Err(err);
        }
        Ok(me)
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

    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
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

/// The per-batch figures the sidecar logged after byte `from` of its log: (batches, changes,
/// flush_ms of each batch).
pub fn batches_logged(log: &Path, from: u64) -> (u64, u64, Vec<f64>) {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let field = |line: &str, name: &str| -> Option<f64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        line[at..]
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()?
            .parse()
            .ok()
    };
    let (mut batches, mut changes, mut flush) = (0, 0, Vec::new());
    for line in text.lines().filter(|l| l.contains("batch applied")) {
        batches += 1;
        changes += field(line, "changes").unwrap_or(0.0) as u64;
        if let Some(ms) = field(line, "flush_ms") {
            flush.push(ms);
        }
    }
    (batches, changes, flush)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_batch_lines() {
        let dir = std::env::temp_dir().join(format!("summa-bench-log-{}", std::process::id()));
        std::fs::write(
            &dir,
            "2026 DEBUG summa_apply::session: batch applied slot=s lsn=0/1 changes=12 batch_ms=3 flush_ms=7\n\
             2026 INFO other\n\
             2026 DEBUG summa_apply::session: batch applied slot=s lsn=0/2 changes=3 batch_ms=1 flush_ms=2\n",
        )
        .unwrap();
        let (batches, changes, flush) = super::batches_logged(&dir, 0);
        let _ = std::fs::remove_file(&dir);
        assert_eq!((batches, changes, flush), (2, 15, vec![7.0, 2.0]));
    }
}
