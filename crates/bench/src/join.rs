//! V3, the reference workload's join (orders ⋈ regions), alone on its stream at the largest N
//! of the run: time to fresh after a committed change transaction on the fact side (K rows of
//! orders, as in scenario 1) and after the rename of one region (a dimension change that moves
//! every order of the region to another group), each against REFRESH of the same SELECT right
//! after. Verified against its SELECT at the end.
//!
//! There is no floor here: a bare drain plus one upsert is not what a join costs (the delta of
//! each input is joined against the other inputs' copies at the stream position).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::changes::ChangeBatch;
use super::fresh::{commit_batch, ms, start_warm, timed};
use super::results::JoinRow;
use super::sidecar::{self, insert_lsn};
use super::stats::{num, Stat};
use super::{bar, BenchView, Ctx, SCHEMA};

const APPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// Rows of orders the fact-side change transaction changes.
pub const FACT_K: u64 = 1_000;

pub async fn run(ctx: &mut Ctx, view: BenchView, n: u64) -> anyhow::Result<()> {
    let (version, backfill) = ctx.create_beside_refresh(view).await?;
    let backfill_s = backfill.summa_s;
    println!(
        "{} = {}\n  backfill {:.1} s",
        view.label, view.sql, backfill_s
    );
    let rename = ctx
        .client
        .prepare(&format!(
            "UPDATE {SCHEMA}.regions SET name = CASE WHEN name LIKE '% renamed' \
             THEN left(name, -8) ELSE name || ' renamed' END WHERE id = $1"
        ))
        .await?;
    let orders_of = ctx
        .client
        .prepare(&format!(
            "SELECT count(*) FROM {SCHEMA}.orders WHERE region_id = $1 AND status <> 'cancelled'"
        ))
        .await?;

    let mut batch = ChangeBatch::prepare(&ctx.client).await?;
    let runner = start_warm(ctx, &mut batch).await?;
    let repeat = ctx.opts.repeat;
    let progress = bar((2 * repeat) as u64, &format!("{} changes", view.label));
    let (mut fact, mut dim) = (Samples::default(), Samples::default());
    for rep in 0..repeat {
        // The fact side: K orders changed in one transaction.
        let deltas = ctx.metrics.view_row_deltas.load(Ordering::Relaxed);
        let (lsn, changed, committed) = commit_batch(&ctx.client, &mut batch, FACT_K).await?;
        sidecar::wait_metric(lsn, &ctx.metrics, APPLY_TIMEOUT).await?;
        fact.summa.push(ms(committed.elapsed()));
        fact.deltas
            .push((ctx.metrics.view_row_deltas.load(Ordering::Relaxed) - deltas) as f64);
        fact.changes.push(changed as f64);
        fact.refresh.push(refresh(ctx).await?);
        progress.inc(1);

        // The dimension side: one region renamed (1 + rep, so each repetition a different
        // one), which moves every order of the region to another group.
        let region = 1 + (rep % 20) as i32;
        let moved: i64 = ctx.client.query_one(&orders_of, &[&region]).await?.get(0);
        let deltas = ctx.metrics.view_row_deltas.load(Ordering::Relaxed);
        ctx.client.batch_execute("BEGIN").await?;
        ctx.client.execute(&rename, &[&region]).await?;
        let lsn = insert_lsn(&ctx.client).await?;
        ctx.client.batch_execute("COMMIT").await?;
        let committed = Instant::now();
        sidecar::wait_metric(lsn, &ctx.metrics, APPLY_TIMEOUT).await?;
        dim.summa.push(ms(committed.elapsed()));
        dim.deltas
            .push((ctx.metrics.view_row_deltas.load(Ordering::Relaxed) - deltas) as f64);
        dim.changes.push(moved as f64);
        dim.refresh.push(refresh(ctx).await?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    for (change, m) in [
        (format!("{FACT_K} orders changed"), fact),
        ("one region renamed".to_string(), dim),
    ] {
        let row = JoinRow {
            view: view.label.into(),
            rows: n,
            change,
            view_rows: Stat::of(m.changes),
            view_row_deltas: Stat::of(m.deltas),
            summa_ms: Stat::of(m.summa),
            refresh_ms: Stat::of(m.refresh),
            backfill_s,
            create_mv_s: backfill.mv_s,
        };
        println!(
            "  {}: summa {} | REFRESH {} ({}×) | view rows moved {} | view-row deltas merged {}",
            row.change,
            row.summa_ms.show(" ms"),
            row.refresh_ms.show(" ms"),
            num(row.vs_refresh()),
            num(row.view_rows.median),
            num(row.view_row_deltas.median)
        );
        ctx.results.join.push(row);
    }
    ctx.verify(view, version, &format!("N = {n}, after the changes"))
        .await?;
    runner.stop().await?;
    ctx.drop_views().await?;
    Ok(())
}

async fn refresh(ctx: &Ctx) -> anyhow::Result<f64> {
    timed(
        &ctx.client,
        &format!("REFRESH MATERIALIZED VIEW {SCHEMA}.bench_mv"),
    )
    .await
}

#[derive(Default)]
struct Samples {
    /// Source rows changed (fact side) or view rows the change moves (dimension side).
    changes: Vec<f64>,
    /// View-row deltas the sidecar merged for it (`summa_view_row_deltas_total`).
    deltas: Vec<f64>,
    summa: Vec<f64>,
    refresh: Vec<f64>,
}
