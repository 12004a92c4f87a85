//! Sustained load (scenario 3): writers at a fixed rate for `--seconds` with V1 and V2 live and
//! the sidecar as a child process; lag sampled every 100 ms as the age of the newest applied
//! source commit while WAL is pending (0 when caught up), the sidecar's CPU and RSS beside it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::results::SustainedRow;
use super::sidecar::{self, Child};
use super::stats::{num, percentile};
use super::{bar, Ctx, SCHEMA};
use summa_cli::workload;

/// Writer connections, and source changes per writer transaction (20 inserts, 20 updates,
/// 10 deletes: 50).
const WRITERS: u64 = 2;
const PER_TXN: i64 = 20;

/// Writers until `stop`; returns their handles.
pub async fn start_writers(
    ctx: &Ctx,
    rate: u64,
    changes: &Arc<AtomicU64>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>>> {
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let wc = ctx.conn.connect("summa-bench-writer").await?;
        writers.push(tokio::spawn(workload::write(
            wc,
            SCHEMA.into(),
            PER_TXN,
            rate / WRITERS,
            changes.clone(),
            stop.clone(),
        )));
    }
    Ok(writers)
}

pub async fn run(ctx: &mut Ctx, child: &Child) -> anyhow::Result<()> {
    let seconds = ctx.opts.seconds;
    for rate in ctx.opts.rates.clone() {
        // Start from a fresh applied commit: the lag is the age of the newest applied commit.
        let marker = sidecar::commit_marker(&ctx.client).await?;
        sidecar::wait_streams(&ctx.client, marker, Duration::from_secs(900)).await?;
        let b = bar(seconds, &format!("s of writing at {rate} changes/s"));
        let before = child.scrape().await?;
        let stop = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(AtomicU64::new(0));
        let cpu0 = child.cpu_ms();
        let writers = start_writers(ctx, rate, &changes, &stop).await?;
        let started = Instant::now();
        let (mut series, mut rss_max) = (Vec::new(), 0.0f64);
        while started.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, lag) = sidecar::streams_applied(&ctx.client).await?;
            series.push((started.elapsed().as_secs_f64(), lag));
            rss_max = rss_max.max(child.rss_mib().0);
            b.set_position(started.elapsed().as_secs());
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await??;
        }
        let window = started.elapsed();
        let stopped = Instant::now();
        let marker = sidecar::commit_marker(&ctx.client).await?;
        sidecar::wait_streams(&ctx.client, marker, Duration::from_secs(900)).await?;
        let catchup = stopped.elapsed();
        let cpu = child.cpu_ms() - cpu0;
        b.finish_and_clear();
        let written = changes.load(Ordering::Relaxed) as f64;
        let lags: Vec<f64> = series.iter().map(|s| s.1).collect();
        let figures = child.scrape().await?.since(&before);
        let row = SustainedRow {
            target_rate: rate,
            seconds: window.as_secs_f64(),
            written_rate: written / window.as_secs_f64(),
            applied_rate: written / (window + catchup).as_secs_f64(),
            catchup_ms: catchup.as_secs_f64() * 1000.0,
            lag_p50_ms: percentile(&lags, 0.5),
            lag_p99_ms: percentile(&lags, 0.99),
            lag_max_ms: percentile(&lags, 1.0),
            cpu_pct: cpu / (window + catchup).as_secs_f64() / 10.0,
            rss_max_mib: rss_max,
            batches: figures.batches,
            batch_ms_mean: figures.mean_ms(),
            batch_ms_p50: figures.quantile_ms(0.5),
            batch_ms_p99: figures.quantile_ms(0.99),
            lag_series: series,
        };
        println!(
            "  sustained at {rate}/s: written {}/s, applied {}/s (caught up {} ms after the writers stopped), lag p50 {} ms p99 {} ms max {} ms; sidecar CPU {}% RSS {} MiB; {} batches, batch mean {} ms p50 {} ms p99 {} ms",
            num(row.written_rate),
            num(row.applied_rate),
            num(row.catchup_ms),
            num(row.lag_p50_ms),
            num(row.lag_p99_ms),
            num(row.lag_max_ms),
            num(row.cpu_pct),
            num(row.rss_max_mib),
            row.batches,
            num(row.batch_ms_mean),
            num(row.batch_ms_p50),
            num(row.batch_ms_p99),
        );
        ctx.results.sustained.push(row);
    }
    Ok(())
}
