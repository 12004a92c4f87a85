//! The scenarios with V1 and V2 live together on one stream, the sidecar a child process:
//! sustained load (3), decode ceiling (6), bulk transaction (5), writer overhead (4). They
//! run once, at the first table size; both views are verified at the end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::drain::BareSlot;
use super::results::{Bulk, Ceiling};
use super::sidecar::{self, Child};
use super::stats::num;
use super::{overhead, spinner, sustained, Ctx, Scenario, SCHEMA, VIEWS};
use summa_cli::workload;

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let n = ctx.row_count().await?;
    println!("## V1 and V2 live together (N = {n}), sidecar as a child process");
    ctx.drop_views().await?;
    let created = ctx.create(&VIEWS).await?;

    if ctx.opts.wants(Scenario::Sustained) {
        let child = ctx.start_child().await?;
        let outcome = sustained::run(ctx, &child).await;
        child.stop().await?;
        outcome?;
    }
    if ctx.opts.wants(Scenario::Ceiling) || ctx.opts.wants(Scenario::Bulk) {
        let mut slot = BareSlot::create(&ctx.client, &ctx.conn, &ctx.slot("ceiling")).await?;
        let mut ceiling = None;
        if ctx.opts.wants(Scenario::Ceiling) {
            ceiling = Some(measure_ceiling(ctx, &mut slot).await?);
        }
        if ctx.opts.wants(Scenario::Bulk) {
            let (bulk, decode_s) = measure_bulk(ctx, &mut slot).await?;
            ctx.results.bulk = Some(bulk);
            if let Some(c) = &mut ceiling {
                c.bulk_decode_s = Some(decode_s);
            }
        }
        ctx.results.ceiling = ceiling;
        slot.drop(&ctx.client).await?;
    }
    if ctx.opts.wants(Scenario::Overhead) {
        overhead::run(ctx).await?;
    }
    ctx.apply_and_verify(created, "after the scenarios with both views live")
        .await?;
    ctx.drop_views().await?;
    Ok(())
}

/// Write a backlog with the sidecar stopped; drain it through the decoder alone, then let
/// summa apply the same changes from the same position.
async fn measure_ceiling(ctx: &mut Ctx, slot: &mut BareSlot) -> anyhow::Result<Ceiling> {
    let target = ctx.opts.backlog_changes;
    let s = spinner(&format!(
        "decode ceiling: writing a backlog of {target} changes (sidecar stopped)"
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    let writers = sustained::start_writers(ctx, 0, &changes, &stop).await?;
    while changes.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await??;
    }
    let marker = sidecar::commit_marker(&ctx.client).await?;
    s.set_message("decode ceiling: draining the backlog through the decoder alone");
    let drained = slot.drain(&ctx.client, marker).await?;
    s.set_message("decode ceiling: summa applying the same backlog");
    let started = Instant::now();
    let child = ctx.start_child().await?;
    sidecar::wait_streams(&ctx.client, marker, Duration::from_secs(1800)).await?;
    let apply = started.elapsed();
    child.stop().await?;
    s.finish_and_clear();
    let c = Ceiling {
        changes: drained.changes,
        transactions: drained.transactions,
        bytes: drained.bytes,
        decode_s: drained.elapsed.as_secs_f64(),
        decode_rate: drained.changes as f64 / drained.elapsed.as_secs_f64(),
        apply_s: apply.as_secs_f64(),
        apply_rate: drained.changes as f64 / apply.as_secs_f64(),
        bulk_decode_s: None,
    };
    println!(
        "  decode ceiling: {} changes in {} transactions ({} MiB) drained in {} s = {}/s; summa applied them in {} s = {}/s ({}% of the ceiling)",
        c.changes,
        c.transactions,
        num(c.bytes as f64 / 1048576.0),
        num(c.decode_s),
        num(c.decode_rate),
        num(c.apply_s),
        num(c.apply_rate),
        num(c.apply_rate / c.decode_rate * 100.0)
    );
    Ok(c)
}

/// One transaction inserting `bulk_rows` random orders, with a sidecar started just before
/// (so its peak RSS is this transaction's); then the same transaction through the decoder
/// alone. Returns the figures and the decode time.
async fn measure_bulk(ctx: &mut Ctx, slot: &mut BareSlot) -> anyhow::Result<(Bulk, f64)> {
    let rows = ctx.opts.bulk_rows;
    // The configured budget: a large transaction is merged in parts that stay within it.
    let child = Child::start_with(
        &ctx.sidecar,
        &ctx.url,
        &ctx.out,
        &ctx.client,
        &toml::Table::new(),
    )
    .await?;
    let rss_before = child.rss_mib().1;
    let s = spinner(&format!("bulk: one transaction inserting {rows} orders"));
    let started = Instant::now();
    ctx.client.batch_execute("BEGIN").await?;
    ctx.client
        .execute(
            &workload::insert_random_sql(SCHEMA, false),
            &[&(rows as i64)],
        )
        .await?;
    let before_commit = sidecar::insert_lsn(&ctx.client).await?;
    ctx.client.batch_execute("COMMIT").await?;
    let statement = started.elapsed();
    let committed = Instant::now();
    s.set_message("bulk: waiting until applied");
    sidecar::wait_streams(&ctx.client, before_commit, Duration::from_secs(1800)).await?;
    let applied = committed.elapsed();
    let peak = child.rss_mib().1;
    // This sidecar started just before the transaction: its longest batch is the one that
    // applied it, its longest merge statement that batch's.
    let scrape = child.scrape().await?;
    let (longest_ms, longest_merge_ms) = (
        scrape.longest_batch_s * 1000.0,
        scrape.longest_merge_s * 1000.0,
    );
    child.stop().await?;
    s.set_message("bulk: the same transaction through the decoder alone");
    let drained = slot.drain(&ctx.client, before_commit).await?;
    s.finish_and_clear();
    let bulk = Bulk {
        rows,
        statement_s: statement.as_secs_f64(),
        applied_after_commit_s: applied.as_secs_f64(),
        rss_before_mib: rss_before,
        rss_peak_mib: peak,
        longest_batch_ms: longest_ms,
        longest_merge_ms,
        budget_ms: ctx.config.statement_budget_ms,
    };
    if longest_merge_ms > ctx.config.statement_budget_ms as f64 {
        ctx.results.notes.push(format!(
            "bulk: a merge statement of the {rows}-row transaction took {} s, longer than the \
             statement budget ({} s)",
            num(longest_merge_ms / 1000.0),
            num(ctx.config.statement_budget_ms as f64 / 1000.0)
        ));
    }
    println!(
        "  bulk: {rows}-row transaction (statement + commit {} s) applied {} s after its commit; sidecar peak RSS {} MiB (at start {} MiB); decoder alone drained it in {} s",
        num(bulk.statement_s),
        num(bulk.applied_after_commit_s),
        num(bulk.rss_peak_mib),
        num(bulk.rss_before_mib),
        num(drained.elapsed.as_secs_f64())
    );
    Ok((bulk, drained.elapsed.as_secs_f64()))
}
