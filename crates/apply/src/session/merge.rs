//! One version's statements inside the open target transaction: shipping a chunk of its rows
//! into staging (or its pending table), and merging what it has into its summary.
//!
//! Every failure of these statements is classified once (`crate::error::version_error`):
//! definite errors and negative counts break only this version (the batch is rolled back and
//! the session restarts without it); transient ones roll the batch back and the runner replays
//! it after a backoff, counting the attempts.

use std::time::{Duration, Instant};

use summa_plan::sqlgen::MergeResult;
use summa_stream::Lsn;
use tokio_postgres::Client;

use super::Session;
use crate::batch::SignedRows;
use crate::error::{version_error, RunError};
use crate::metrics::Metrics;
use crate::version::{Phase, VersionRuntime};

/// Pending rows a joining version drains per batch (or per idle tick).
const DRAIN_CHUNK: i64 = 20_000;

impl Session<'_> {
    /// Ship version `i`'s buffered rows into its staging table (bounded memory); once the
    /// staged rows reach the version's merge target, merge them (bounded statements).
    ///
    /// Merging part of a source transaction is exact: the changes arrive in the order they
    /// were made, so every prefix of them takes each input from one state it had to the
    /// next, no count goes below zero, and the merges add up (inside the one target
    /// transaction, so no reader sees a prefix).
    pub(super) async fn ship_chunk(&mut self, i: usize) -> Result<(), RunError> {
        self.begin_target().await?;
        let v = &mut self.versions[i];
        let rows = v.rows.take();
        if let Err(err) = stage(&self.target, v, &rows).await {
            return self.failed(i, "shipping changes", err).await;
        }
        let v = &mut self.versions[i];
        v.staged_chunks += 1;
        v.staged_rows += rows.len();
        summa_failpoint::hit("apply.chunk.shipped");
        let budget = self.cfg.statement_budget;
        if v.merge_target == 0 {
            v.merge_target = self.cfg.merge_rows.max(self.cfg.chunk_rows);
        }
        if v.records_pending() || v.staged_rows < v.merge_target {
            return Ok(());
        }
        let merged = v.staged_rows;
        let started = Instant::now();
        self.merge_into_batch(i, "inside a large source transaction")
            .await?;
        let v = &mut self.versions[i];
        v.merge_target = next_merge_target(merged, started.elapsed(), budget, self.cfg.chunk_rows);
        tracing::debug!(view = %v.record.view, version = v.record.version, merged, next = v.merge_target, took_ms = started.elapsed().as_millis() as u64, "merged part of a large transaction");
        Ok(())
    }

    /// Merge version `i`'s pending work into the open transaction; `at` places it in the
    /// reason when it fails.
    pub(super) async fn merge_into_batch(&mut self, i: usize, at: &str) -> Result<(), RunError> {
        match merge_version(&self.target, &mut self.versions[i], self.metrics).await {
            Ok(0) => Ok(()),
            Ok(negative) => {
                let reason = format!(
                    "{negative} group(s) would have a negative row count {at}: a change was applied twice or missed; rebuild the view"
                );
                self.abandon_batch_breaking(i, reason).await
            }
            Err(err) => {
                self.failed(i, &format!("applying the changes {at}"), err)
                    .await
            }
        }
    }

    /// Version `i`'s statement failed while `doing`: break it (definite), replay the batch
    /// (transient, counted), or end the session (the connection failed).
    pub(super) async fn failed(
        &mut self,
        i: usize,
        doing: &str,
        err: tokio_postgres::Error,
    ) -> Result<(), RunError> {
        let lsn = self.batch_end.map(|(lsn, _)| Lsn(lsn));
        match version_error(&self.versions[i], lsn, doing, &err) {
            Some(failed) if failed.class.is_definite() => {
                self.abandon_batch_breaking(i, failed.reason).await
            }
            Some(failed) => {
                // The batch is replayed after a backoff; the runner counts the attempts.
                let _ = self.target.batch_execute("ROLLBACK").await;
                self.target_open = false;
                Err(RunError::Version(failed))
            }
            None => Err(err.into()),
        }
    }
}

/// Ship rows into the version's staging table (or, for a joining version, its pending table).
async fn stage(
    target: &Client,
    v: &VersionRuntime,
    rows: &SignedRows,
) -> Result<(), tokio_postgres::Error> {
    target.batch_execute(&v.sql_settings).await?;
    let stmt = match &v.stmts().insert_pending {
        Some(insert) => insert,
        None => &v.stmts().stage_rows,
    };
    target.execute(stmt, &rows.params()).await?;
    Ok(())
}

/// Merge version `v`'s pending rows (direct, or via its staging table) into its summary,
/// delete emptied groups and spent values, and recompute extremes that went; returns the
/// number of groups or values left with a negative count (the caller rolls back).
async fn merge_version(
    target: &Client,
    v: &mut VersionRuntime,
    metrics: &Metrics,
) -> Result<i64, tokio_postgres::Error> {
    target.batch_execute(&v.sql_settings).await?;
    if v.records_pending() {
        // A joining version: record the rows, then drain the oldest pending chunk (from the
        // consistent point on) through the staging table.
        if !v.rows.is_empty() {
            let rows = v.rows.take();
            let insert = v.stmts().insert_pending.as_ref().expect("prepared");
            target.execute(insert, &rows.params()).await?;
        }
        v.staged_chunks = 0;
        let Phase::Draining { start } = v.phase else {
            return Ok(0);
        };
        let drain = v.stmts().drain_pending.as_ref().expect("prepared");
        target
            .execute(drain, &[&DRAIN_CHUNK, &Lsn(start).to_string()])
            .await?;
        summa_failpoint::hit("apply.drain.merged");
        v.staged_chunks = 1;
    }
    let join = v.record.plan.is_join();
    let staged = v.staged_chunks > 0 || join;
    let merge_started = Instant::now();
    let row = if v.staged_chunks == 0 && !join {
        let rows = v.rows.take();
        target
            .query_one(&v.stmts().merge_rows, &rows.params())
            .await?
    } else {
        if !v.rows.is_empty() {
            let rows = v.rows.take();
            target
                .execute(&v.stmts().stage_rows, &rows.params())
                .await?;
        }
        v.staged_chunks = 0;
        v.staged_rows = 0;
        target.query_one(&v.stmts().merge_staged, &[]).await?
    };
    metrics.record_merge(merge_started.elapsed());
    let result = MergeResult::from_row(&row);
    if result.negative > 0 {
        return Ok(result.negative);
    }
    metrics.record_view_rows(result.view_rows.max(0) as u64);
    let stmts = v.stmts();
    for update in &stmts.copy_updates {
        target.execute(update, &[]).await?;
    }
    if staged {
        // Merged: a later merge in this transaction (after a TRUNCATE) must not see them again.
        target.execute(&stmts.clear_staging, &[]).await?;
    }
    if !result.empty_groups.is_empty() {
        target
            .execute(&stmts.delete_empty, &[&result.empty_groups])
            .await?;
    }
    for (stmt, spent) in stmts.delete_spent.iter().zip(&result.spent_values) {
        if !spent.is_empty() {
            target.execute(stmt, &[spent]).await?;
        }
    }
    if let (Some(stmt), false) = (&stmts.recompute, result.recompute.is_empty()) {
        target.execute(stmt, &[&result.recompute]).await?;
        metrics.record_recomputes(result.recompute.len() as u64);
    }
    if v.must_drain() {
        let left: bool = target
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", v.target.pending()),
                &[],
            )
            .await?
            .get(0);
        if !left {
            v.phase = Phase::Drained;
        }
    }
    Ok(0)
}

/// The next merge target from the last one: `merged` rows took `took`; aim at a quarter of
/// the budget, changing by at most 4× per step.
fn next_merge_target(merged: usize, took: Duration, budget: Duration, chunk_rows: usize) -> usize {
    let took = took.as_secs_f64().max(0.001);
    let aim = budget.as_secs_f64() / 4.0;
    let next = (merged as f64 * (aim / took).clamp(0.25, 4.0)) as usize;
    next.clamp(chunk_rows, 4_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_targets_follow_the_budget() {
        let budget = Duration::from_secs(30);
        // 200k rows in 15 s: twice the aim of 7.5 s, so half as many next time.
        assert_eq!(
            next_merge_target(200_000, Duration::from_secs(15), budget, 20_000),
            100_000
        );
        // Fast merges grow by at most 4× per step, and never past 4M rows.
        assert_eq!(
            next_merge_target(200_000, Duration::from_millis(10), budget, 20_000),
            800_000
        );
        assert_eq!(
            next_merge_target(2_000_000, Duration::from_millis(10), budget, 20_000),
            4_000_000
        );
        // Never below one shipped chunk.
        assert_eq!(
            next_merge_target(20_000, Duration::from_secs(100), budget, 20_000),
            20_000
        );
    }
}
