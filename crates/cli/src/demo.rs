//! `summa demo`: the whole product in one command.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use summa_catalog::ViewSpec;
use summa_plan::ident::qualified;

use crate::commands::database_or_private;
use crate::config::Config;
use crate::workload;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Orders loaded before the summaries are created.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// How long the writer runs, in seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Writer target rate in changes/s (0 = as fast as the machine allows).
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Writer connections.
    #[arg(long, default_value_t = 2)]
    writers: u32,
}

const SCHEMA: &str = "summa_demo";
const VIEWS: [(&str, &str); 3] = [
    ("demo_customer_totals", workload::V1),
    ("demo_daily_status", workload::V2),
    ("demo_region_totals", workload::V3),
];

pub async fn run(args: DemoArgs, url: Option<String>, config: &Config) -> anyhow::Result<ExitCode> {
    let (conn, _private) = database_or_private(url).await?;
    let mut client = conn.connect("summa-demo").await?;
    check_wal_level(&client).await?;
    // Dropping an earlier run's views runs under the statement budget, as every catalog
    // command does; the bulk load after it is the demo's own and unbounded.
    summa_catalog::set_statement_budget(&client, config.statement_budget()).await?;
    for (name, _) in VIEWS {
        summa_catalog::drop_view(&mut client, name).await?;
    }
    client.batch_execute("RESET statement_timeout").await?;

    println!("loading {} orders into {SCHEMA}.orders…", args.rows);
    workload::create_schema(&client, SCHEMA).await?;
    let bar = bar(args.rows, "orders");
    let loaded = Instant::now();
    workload::load(&client, SCHEMA, args.rows, 100_000, |done| {
        bar.set_position(done)
    })
    .await?;
    bar.finish_and_clear();
    println!("  loaded in {:.1}s", loaded.elapsed().as_secs_f64());

    println!("creating summaries (backfill from one consistent snapshot)…");
    client
        .batch_execute(&format!("SET search_path = {SCHEMA}, public"))
        .await?;
    let mut opts = config.create_options();
    opts.schema = SCHEMA.into();
    opts.show_progress = true;
    let specs: Vec<ViewSpec> = VIEWS
        .iter()
        .map(|(name, sql)| ViewSpec {
            name: name.to_string(),
            sql: sql.to_string(),
        })
        .collect();
    let created = summa_catalog::create_views(&conn, &mut client, &specs, &opts).await?;
    for c in &created {
        println!(
            "  {} v{} → table {}, alias {} (backfill {:.1}s)",
            c.view,
            c.version,
            c.table,
            c.alias,
            c.backfill_elapsed.as_secs_f64()
        );
    }

    let metrics = Arc::new(summa_apply::Metrics::default());
    let (stop_sidecar, sidecar_rx) = tokio::sync::watch::channel(false);
    let sidecar = tokio::spawn(summa_apply::run(
        conn.clone(),
        config.apply_config(),
        metrics.clone(),
        sidecar_rx,
    ));

    println!(
        "writing for {}s ({} writers, target {} changes/s); one status line a second:",
        args.duration, args.writers, args.rate
    );
    let stop_writers = Arc::new(AtomicBool::new(false));
    let source_changes = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..args.writers {
        let wc = conn.connect("summa-demo-writer").await?;
        writers.push(tokio::spawn(workload::write(
            wc,
            SCHEMA.into(),
            10,
            args.rate / u64::from(args.writers.max(1)),
            source_changes.clone(),
            stop_writers.clone(),
        )));
    }
    let started = Instant::now();
    let (mut last_src, mut last_applied) = (0, 0);
    while started.elapsed() < Duration::from_secs(args.duration) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let src = source_changes.load(Ordering::Relaxed);
        let applied = metrics.applied_changes.load(Ordering::Relaxed);
        let (lag_bytes, lag_ms) = lag(&client).await?;
        println!(
            "  t={:>3}s  source {:>7} changes/s  applied {:>7} changes/s  lag {:>9} bytes {:>6} ms",
            started.elapsed().as_secs(),
            src - last_src,
            applied - last_applied,
            lag_bytes,
            lag_ms
        );
        (last_src, last_applied) = (src, applied);
    }
    stop_writers.store(true, Ordering::Relaxed);
    for w in writers {
        w.await?.context("writer failed")?;
    }
    let target: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0);
    println!("writer stopped at {target}; waiting until applied…");
    let waited = Instant::now();
    if !summa_apply::wait_applied(&client, &target, Duration::from_secs(300)).await? {
        anyhow::bail!(
            "summaries did not catch up within 300 s (see the log; rerun with --log info)"
        );
    }
    println!("  caught up in {} ms", waited.elapsed().as_millis());

    let mut all_equal = true;
    summa_catalog::set_statement_budget(&client, config.statement_budget()).await?;
    for c in &created {
        let v = summa_catalog::find_version(&client, &c.view, Some(c.version)).await?;
        let report = summa_catalog::verify_version(&mut client, &v.plan, &v.target).await?;
        if report.is_equal() {
            println!("verify {}: equal to its SELECT ✓", c.view);
        } else {
            all_equal = false;
            println!(
                "verify {}: {} DIFFERENT rows ✗",
                c.view,
                report.differences.len()
            );
            for (side, row) in report.differences.iter().take(10) {
                println!("    {side}: {row}");
            }
        }
    }
    let _ = stop_sidecar.send(true);
    sidecar.await??;
    println!(
        "applied {} source changes in {} batches ({} min/max recomputes); query {} or the versioned tables.",
        metrics.applied_changes.load(Ordering::Relaxed),
        metrics.batches.load(Ordering::Relaxed),
        metrics.recomputed_groups.load(Ordering::Relaxed),
        qualified(SCHEMA, VIEWS[0].0)
    );
    Ok(if all_equal {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "  [{{bar:30}}] {{pos}}/{{len}} {what}, eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

async fn check_wal_level(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    let level: String = client.query_one("SHOW wal_level", &[]).await?.get(0);
    if level != "logical" {
        anyhow::bail!(
            "the server runs with wal_level = {level}; summa reads the WAL through logical replication: \
             set wal_level = logical in postgresql.conf and restart the server"
        );
    }
    Ok(())
}

/// (bytes, ms) the summaries are behind their source, as `summa status` and `/metrics` report
/// it (the largest over the versions being maintained): 0 when caught up, and never the WAL
/// from before the stream's consistent point (the demo's first lines come before any batch).
pub(crate) async fn lag(client: &tokio_postgres::Client) -> anyhow::Result<(i64, i64)> {
    let rows = summa_catalog::status(client, None).await?;
    let maintained = rows
        .iter()
        .filter(|r| r.state == "live" || r.state == "catching_up");
    let (bytes, secs) = maintained.fold((0i64, 0f64), |(b, s), r| {
        (
            b.max(r.lag_bytes.unwrap_or(0)),
            s.max(r.lag_seconds.unwrap_or(0.0)),
        )
    });
    Ok((bytes, (secs * 1000.0) as i64))
}

/// A version's stored plan and its table (the demo and `summa-bench` verify with them).
pub async fn load_plan(
    client: &tokio_postgres::Client,
    view: &str,
    version: i32,
) -> anyhow::Result<(summa_plan::MaintenancePlan, summa_plan::sqlgen::Target)> {
    let v = summa_catalog::find_version(client, view, Some(version)).await?;
    Ok((v.plan, v.target))
}
