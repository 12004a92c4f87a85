//! `summa bench`: the first figures of docs/benchmarks.md, measured in one run on a private
//! Postgres (or --database-url): time until V1 is fresh after a committed change batch vs
//! `REFRESH MATERIALIZED VIEW` of the same SELECT, sustained apply rate with lag, and the
//! sidecar's peak RSS while applying one large transaction. Every run ends with verification.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use summa_catalog::ViewSpec;

use crate::commands::database_or_private;
use crate::config::Config;
use crate::workload;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Orders in the source table.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Rows changed by the change batch (half updates, a quarter inserts, a quarter deletes).
    #[arg(long, default_value_t = 10_000)]
    batch: u64,
    /// Repetitions of each timing (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Seconds of sustained writing per rate.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

const SCHEMA: &str = "summa_bench";

/// The reference views, and V2 without min/max to show what min/max cost.
const VIEWS: [(&str, &str); 3] = [
    ("bench_v1", workload::V1),
    ("bench_v2", workload::V2),
    ("bench_v2_linear", workload::V2_LINEAR),
];

type SidecarTask = tokio::task::JoinHandle<Result<(), summa_apply::RunError>>;

async fn start_sidecar(
    conn: &summa_stream::ConnInfo,
    config: &Config,
    metrics: &Arc<summa_apply::Metrics>,
) -> anyhow::Result<(tokio::sync::watch::Sender<bool>, SidecarTask)> {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(summa_apply::run(
        conn.clone(),
        config.apply_config(),
        metrics.clone(),
        rx,
    ));
    // Let it connect and settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok((stop, task))
}

async fn stop_sidecar(
    stop: tokio::sync::watch::Sender<bool>,
    task: SidecarTask,
) -> anyhow::Result<()> {
    let _ = stop.send(true);
    task.await??;
    Ok(())
}

/// Five linear views over `orders` for the shared-stream measurement (V1 first).
const FIVE: [(&str, &str); 5] = [
    ("bench_v1", workload::V1),
    ("bench_v2_linear", workload::V2_LINEAR),
    ("bench_paid", "SELECT customer_id, count(*), sum(amount) FROM orders WHERE status = 'paid' GROUP BY customer_id"),
    ("bench_region", "SELECT region_id, count(*), sum(amount), avg(amount) FROM orders GROUP BY region_id"),
    ("bench_status", "SELECT status, count(*), sum(amount) FROM orders GROUP BY status"),
];

/// Commit `change_batch` `repeat` times; per round the time until it is applied, the time of
/// `refresh` (if any) right after, and in total this process's CPU time while applying.
async fn measure_fresh(
    client: &tokio_postgres::Client,
    change_batch: &str,
    repeat: usize,
    metrics: &summa_apply::Metrics,
    refresh: Option<&str>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, f64)> {
    let (mut fresh, mut refreshed, mut cpu) = (Vec::new(), Vec::new(), 0.0);
    for _ in 0..repeat {
        client.batch_execute("BEGIN").await?;
        client.batch_execute(change_batch).await?;
        // The commit record ends after this position: fresh = a batch ending past it is in.
        let before_commit = current_lsn(client).await?;
        let cpu0 = process_cpu_ms();
        client.batch_execute("COMMIT").await?;
        let committed = Instant::now();
        wait_for(before_commit, metrics).await?;
        fresh.push(committed.elapsed().as_secs_f64() * 1000.0);
        cpu += process_cpu_ms() - cpu0;
        if let Some(sql) = refresh {
            let t = Instant::now();
            client.batch_execute(sql).await?;
            refreshed.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok((fresh, refreshed, cpu))
}

/// User + system CPU time of this process, in milliseconds (Linux).
fn process_cpu_ms() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            Some(after.get(11)?.parse::<f64>().ok()? + after.get(12)?.parse::<f64>().ok()?)
        })
        .unwrap_or(0.0);
    ticks * 10.0 // USER_HZ = 100
}

/// Drop the bench views; a just-stopped sidecar's walsender may hold its slot for a moment.
async fn drop_views(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    for (name, _) in VIEWS.iter().chain(&FIVE) {
        let mut attempt = 0;
        while let Err(err) = summa_catalog::drop_view(client, name).await {
            attempt += 1;
            if attempt > 20 {
                return Err(err.into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

async fn current_lsn(client: &tokio_postgres::Client) -> anyhow::Result<u64> {
    let lsn: String = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await?
        .get(0);
    Ok(summa_stream::Lsn::parse(&lsn)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .0)
}

/// Wait until the sidecar has applied `lsn`; returns how long that took.
async fn wait_for(lsn: u64, metrics: &summa_apply::Metrics) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while metrics.applied_lsn.load(Ordering::Relaxed) < lsn {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("not applied within 300 s");
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    Ok(started.elapsed())
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub async fn run(
    args: BenchArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let (conn, _private) = database_or_private(url).await?;
    let mut client = conn.connect("summa-bench").await?;
    summa_catalog::install(&client).await?;
    drop_views(&mut client).await?;
    workload::create_schema(&client, SCHEMA).await?;
    workload::load(&client, SCHEMA, args.rows, 250_000, |_| {}).await?;
    // One statement per call: VACUUM refuses the implicit transaction of a multi-statement call.
    client
        .batch_execute(&format!("SET search_path = {SCHEMA}"))
        .await?;
    client.batch_execute("VACUUM ANALYZE orders").await?;
    let mut opts = config.create_options();
    opts.schema = SCHEMA.into();
    println!("# summa bench: {} rows", args.rows);

    let metrics = Arc::new(summa_apply::Metrics::default());
    let k = args.batch as i64;
    let change_batch = format!(
        "UPDATE orders SET customer_id = 1 + (random() * 99999)::int, amount = round((random() * 500)::numeric, 2)
           WHERE id IN (SELECT (random() * {rows})::bigint FROM generate_series(1, {u}));
         INSERT INTO orders (customer_id, region_id, status, amount, created_at)
           SELECT 1 + (random() * 99999)::int, 1, 'new', round((random() * 500)::numeric, 2), now() FROM generate_series(1, {i});
         DELETE FROM orders WHERE id IN (SELECT (random() * {rows})::bigint FROM generate_series(1, {i}));",
        rows = args.rows,
        u = k / 2,
        i = k / 4
    );
    // Time to fresh, one view at a time (each alone on the stream).
    let mut sidecar = None;
    for (name, sql) in VIEWS {
        if let Some((stop, task)) = sidecar.take() {
            stop_sidecar(stop, task).await?;
        }
        drop_views(&mut client).await?;
        client
            .batch_execute(&format!(
                "SET search_path = {SCHEMA}; DROP MATERIALIZED VIEW IF EXISTS mv; CREATE MATERIALIZED VIEW mv AS {sql}"
            ))
            .await?;
        let created = summa_catalog::create_views(
            &conn,
            &mut client,
            &[ViewSpec {
                name: name.into(),
                sql: sql.into(),
            }],
            &opts,
        )
        .await?;
        println!(
            "{name} = {sql}\n  backfill {:.2} s",
            created[0].backfill_elapsed.as_secs_f64()
        );
        sidecar = Some(start_sidecar(&conn, config, &metrics).await?);
        let recomputed0 = metrics.recomputed_groups.load(Ordering::Relaxed);
        let (fresh, refresh, _) = measure_fresh(
            &client,
            &change_batch,
            args.repeat,
            &metrics,
            Some("REFRESH MATERIALIZED VIEW mv"),
        )
        .await?;
        let (f, fmin, fmax) = median(fresh);
        let (r, rmin, rmax) = median(refresh);
        println!("  time to fresh after a {}-row change batch: summa {f:.0} ms (min {fmin:.0}, max {fmax:.0}); REFRESH {r:.0} ms (min {rmin:.0}, max {rmax:.0}); ratio {:.1}x", args.batch, r / f);
        let recomputed = metrics.recomputed_groups.load(Ordering::Relaxed) - recomputed0;
        if recomputed > 0 {
            println!(
                "  min/max recomputed for {recomputed} groups over {} change batches ({:.3}% of the {} changed rows)",
                args.repeat,
                recomputed as f64 * 100.0 / (args.repeat as f64 * (k / 2 + k / 4) as f64),
                (k / 2 + k / 4) * args.repeat as i64,
            );
        }
    }
    // Five live versions on the one shared stream: each change is decoded once and applied
    // to every version; compare with V1 alone.
    let (stop, task) = sidecar.take().expect("sidecar started");
    stop_sidecar(stop, task).await?;
    for (views, label) in [
        (&FIVE[..1], "1 live version"),
        (&FIVE[..], "5 live versions"),
    ] {
        drop_views(&mut client).await?;
        let specs: Vec<ViewSpec> = views
            .iter()
            .map(|(name, sql)| ViewSpec {
                name: (*name).into(),
                sql: (*sql).into(),
            })
            .collect();
        summa_catalog::create_views(&conn, &mut client, &specs, &opts).await?;
        let (stop, task) = start_sidecar(&conn, config, &metrics).await?;
        let (fresh, _, cpu) =
            measure_fresh(&client, &change_batch, args.repeat, &metrics, None).await?;
        stop_sidecar(stop, task).await?;
        let (f, fmin, fmax) = median(fresh);
        println!(
            "{label} on the shared stream: time to fresh {f:.0} ms (min {fmin:.0}, max {fmax:.0}); summa CPU {:.0} ms per {}-row change batch",
            cpu / args.repeat as f64,
            args.batch
        );
    }

    // The sustained and bulk runs keep V1 alone on its stream.
    drop_views(&mut client).await?;
    let created = summa_catalog::create_views(
        &conn,
        &mut client,
        &[ViewSpec {
            name: VIEWS[0].0.into(),
            sql: VIEWS[0].1.into(),
        }],
        &opts,
    )
    .await?;
    let (stop, sidecar) = start_sidecar(&conn, config, &metrics).await?;

    // Sustained load at increasing writer rates.
    for rate in [5_000u64, 10_000, 20_000] {
        let stop_w = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(AtomicU64::new(0));
        let mut writers = Vec::new();
        for _ in 0..2 {
            let wc = conn.connect("summa-bench-writer").await?;
            writers.push(tokio::spawn(workload::write(
                wc,
                SCHEMA.into(),
                20,
                rate / 2,
                changes.clone(),
                stop_w.clone(),
            )));
        }
        let applied0 = metrics.applied_changes.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut lags = Vec::new();
        while started.elapsed() < Duration::from_secs(args.seconds) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, lag_ms) = crate::demo::lag(&client, &metrics).await?;
            lags.push(lag_ms as f64);
        }
        stop_w.store(true, Ordering::Relaxed);
        for w in writers {
            w.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        let written = changes.load(Ordering::Relaxed) as f64 / secs;
        let applied = (metrics.applied_changes.load(Ordering::Relaxed) - applied0) as f64 / secs;
        lags.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| lags[((lags.len() - 1) as f64 * q) as usize];
        println!("sustained, target {rate}/s: written {written:.0}/s, applied {applied:.0}/s, lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms", p(0.5), p(0.99), p(1.0));
        let lsn: String = client
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await?
            .get(0);
        summa_apply::wait_applied(&client, &lsn, Duration::from_secs(300)).await?;
    }

    // One large transaction.
    let before = vm_hwm_kib();
    let t = Instant::now();
    client.batch_execute("BEGIN").await?;
    client.batch_execute("INSERT INTO orders (customer_id, region_id, status, amount, created_at) SELECT 1 + (g % 100000), 1, 'paid', (g % 500)::numeric, now() FROM generate_series(1, 1000000) g").await?;
    let before_commit = current_lsn(&client).await?;
    client.batch_execute("COMMIT").await?;
    wait_for(before_commit, &metrics).await?;
    println!(
        "1M-row insert transaction: applied {:.1} s after its statement started; peak RSS of the summa process {} MiB (before: {} MiB)",
        t.elapsed().as_secs_f64(),
        vm_hwm_kib() / 1024,
        before / 1024
    );
    let lsn: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0);
    summa_apply::wait_applied(&client, &lsn, Duration::from_secs(300)).await?;
    let (plan, table) = crate::demo::load_plan(&client, VIEWS[0].0, created[0].version).await?;
    let report = summa_catalog::verify_version(&mut client, &plan, &table).await?;
    stop_sidecar(stop, sidecar).await?;
    if !report.is_equal() {
        bail!(
            "verification failed: {} differing rows",
            report.differences.len()
        );
    }
    println!("verified: V1 equals its SELECT");
    Ok(ExitCode::SUCCESS)
}
