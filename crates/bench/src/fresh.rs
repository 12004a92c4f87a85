//! Time to fresh (scenario 1) and its growth with N (scenario 2), one view alone on its stream.
//!
//! Per repetition:
//! 1. commit a change batch of K rows; time from COMMIT returning until the in-process sidecar
//!    committed a batch ending beyond it;
//! 2. the floor: stop the sidecar, stream a bare slot (summa's decoder, no apply), commit
//!    another batch of K; time from COMMIT returning until the bare consumer received that
//!    transaction's Commit, plus one upsert of the distinct groups it touched into a table
//!    shaped like the view's; restart the sidecar, which applies that batch too;
//! 3. REFRESH MATERIALIZED VIEW and REFRESH MATERIALIZED VIEW CONCURRENTLY of the same SELECT.
//!
//! Both walsenders never decode at the same time, so neither measurement pays for the other.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::changes::ChangeBatch;
use super::drain::BareSlot;
use super::floor;
use super::results::FreshRow;
use super::sidecar::{self, InProcess};
use super::stats::{num, Stat};
use super::{bar, spinner, BenchView, Ctx, SCHEMA};

/// Every statement of one time-to-fresh measurement is bounded by this.
const APPLY_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run_view(ctx: &mut Ctx, view: BenchView, n: u64, ks: &[u64]) -> anyhow::Result<()> {
    let (version, backfill) = ctx.create_beside_refresh(view).await?;
    let backfill_s = backfill.summa_s;
    let s = spinner("floor table");
    let upsert_sql = floor::create_floor_table(&ctx.client, view).await?;
    let upsert = ctx.client.prepare(&upsert_sql).await?;
    s.finish_and_clear();
    println!(
        "{} = {}\n  backfill {:.1} s",
        view.label, view.sql, backfill_s
    );

    let mut batch = ChangeBatch::prepare(&ctx.client).await?;
    let mut runner = start_warm(ctx, &mut batch).await?;
    let mut slot = BareSlot::create(&ctx.client, &ctx.conn, &ctx.slot("floor")).await?;
    let repeat = ctx.opts.repeat;
    let progress = bar(
        (ks.len() * repeat) as u64,
        &format!("{} change batches", view.label),
    );
    for &k in ks {
        let mut m = Samples::default();
        let recomputed0 = ctx.metrics.recomputed_groups.load(Ordering::Relaxed);
        for _ in 0..repeat {
            // summa: a change batch, until its summary holds it.
            let (before_commit, changed, committed) =
                commit_batch(&ctx.client, &mut batch, k).await?;
            let committed_at = unix_seconds();
            sidecar::wait_metric(before_commit, &ctx.metrics, APPLY_TIMEOUT).await?;
            let summa_ms = ms(committed.elapsed());
            m.summa.push(summa_ms);
            m.changes.push(changed as f64);
            // COMMIT returned → summa's target transaction began: its now() by the server's
            // wall clock, ours at COMMIT (the same machine's clock).
            let began = summa_catalog::applied_at_epoch(&ctx.client).await?;
            let receive = (began - committed_at) * 1000.0;
            m.receive.push(receive);
            m.apply.push(summa_ms - receive);

            // The floor: another batch of K with the sidecar stopped and a bare consumer
            // streaming, until it received the commit; then one upsert of its groups.
            runner.stop().await?;
            let mut live = slot.open().await?;
            live.until(before_commit, None).await?;
            let (floor_lsn, _, committed) = commit_batch(&ctx.client, &mut batch, k).await?;
            let drained = live.until(floor_lsn, Some(view)).await?;
            let decode = committed.elapsed();
            slot.close(&ctx.client, live).await?;
            let up = floor::upsert_groups(&ctx.client, &upsert, &drained.groups).await?;
            m.decode.push(ms(decode));
            m.upsert.push(ms(up));
            m.floor.push(ms(decode + up));
            m.groups.push(drained.groups.len() as f64);
            runner = start_warm(ctx, &mut batch).await?;
            sidecar::wait_metric(floor_lsn, &ctx.metrics, APPLY_TIMEOUT).await?;

            let client = &ctx.client;
            m.refresh.push(
                timed(
                    client,
                    &format!("REFRESH MATERIALIZED VIEW {SCHEMA}.bench_mv"),
                )
                .await?,
            );
            m.concurrently.push(
                timed(
                    client,
                    &format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {SCHEMA}.bench_mv"),
                )
                .await?,
            );
            progress.inc(1);
        }
        let row = FreshRow {
            view: view.label.into(),
            rows: n,
            k,
            changes: Stat::of(m.changes),
            groups: Stat::of(m.groups),
            summa_ms: Stat::of(m.summa),
            receive_ms: Stat::of(m.receive),
            apply_ms: Stat::of(m.apply),
            refresh_ms: Stat::of(m.refresh),
            concurrently_ms: Stat::of(m.concurrently),
            decode_ms: Stat::of(m.decode),
            upsert_ms: Stat::of(m.upsert),
            floor_ms: Stat::of(m.floor),
            backfill_s,
            create_mv_s: backfill.mv_s,
            recomputed: ctx.metrics.recomputed_groups.load(Ordering::Relaxed) - recomputed0,
        };
        let line = format!(
            "  K = {k}: summa {} (receive {} + apply {}) | REFRESH {} ({}×) | CONCURRENTLY {} ({}×) | floor {} (decode {} + upsert of {} groups {}), summa/floor {}",
            row.summa_ms.show(" ms"),
            num(row.receive_ms.median),
            num(row.apply_ms.median),
            row.refresh_ms.show(" ms"),
            num(row.vs_refresh()),
            row.concurrently_ms.show(" ms"),
            num(row.vs_concurrently()),
            row.floor_ms.show(" ms"),
            row.decode_ms.show(" ms"),
            num(row.groups.median),
            row.upsert_ms.show(" ms"),
            num(row.vs_floor()),
        );
        progress.suspend(|| println!("{line}"));
        ctx.results.fresh.push(row);
    }
    progress.finish_and_clear();
    slot.drop(&ctx.client).await?;
    ctx.verify(view, version, &format!("N = {n}, after the change batches"))
        .await?;
    runner.stop().await?;
    ctx.drop_views().await?;
    Ok(())
}

#[derive(Default)]
struct Samples {
    changes: Vec<f64>,
    groups: Vec<f64>,
    summa: Vec<f64>,
    receive: Vec<f64>,
    apply: Vec<f64>,
    refresh: Vec<f64>,
    concurrently: Vec<f64>,
    decode: Vec<f64>,
    upsert: Vec<f64>,
    floor: Vec<f64>,
}

/// Batches a session applies before it is measured.
const WARM_UP_BATCHES: usize = 6;

/// Start the in-process sidecar and let it apply [`WARM_UP_BATCHES`] small batches first, as a
/// long-running sidecar has: Postgres plans a prepared statement anew for each of its first
/// five executions before it may settle on a generic plan, and the merge statement is large.
pub(super) async fn start_warm(ctx: &Ctx, batch: &mut ChangeBatch) -> anyhow::Result<InProcess> {
    let runner = InProcess::start(&ctx.conn, &ctx.client, &ctx.config, &ctx.metrics).await?;
    for _ in 0..WARM_UP_BATCHES {
        let (lsn, _, _) = commit_batch(&ctx.client, batch, 8).await?;
        sidecar::wait_metric(lsn, &ctx.metrics, APPLY_TIMEOUT).await?;
    }
    Ok(runner)
}

/// Commit a change batch of `k`: (a position its COMMIT ends beyond, rows changed, when COMMIT
/// returned).
pub(super) async fn commit_batch(
    client: &tokio_postgres::Client,
    batch: &mut ChangeBatch,
    k: u64,
) -> anyhow::Result<(u64, u64, Instant)> {
    client.batch_execute("BEGIN").await?;
    let changed = batch.run(client, k).await?;
    let before_commit = sidecar::insert_lsn(client).await?;
    client.batch_execute("COMMIT").await?;
    Ok((before_commit, changed, Instant::now()))
}

fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) async fn timed(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    client.batch_execute(sql).await?;
    Ok(ms(t.elapsed()))
}
