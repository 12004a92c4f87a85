//! Batch policy and the batch transaction.
//!
//! A batch gathers whole source transactions. It closes at a COMMIT once it holds
//! `max_batch_changes` changes or is `max_batch_delay` old, or as soon as the stream has been
//! quiet for `IDLE_FLUSH` (nothing more to batch it with). Closing it applies every version's
//! rows in one target transaction with the stream's applied LSN, commits, and only then
//! acknowledges that LSN to the slot (the exactly-once argument in the parent module).

use std::time::Instant;

use summa_stream::{Lsn, ReplicationClient};

use super::{Session, GENERATION_CHECK, IDLE_FLUSH};
use crate::error::RunError;
use crate::version::Phase;

impl Session<'_> {
    /// A source transaction of ours committed at `end_lsn`: it joins the open batch, which is
    /// applied when due.
    pub(super) async fn on_commit(
        &mut self,
        end_lsn: Lsn,
        commit_time_micros: i64,
        repl: &ReplicationClient,
    ) -> Result<(), RunError> {
        let has_work = self.versions.iter().any(|v| v.has_work() || v.is_broken());
        if !has_work && self.batch_end.is_none() && !self.target_open {
            // Nothing of ours in it and nothing pending: safe to acknowledge at once.
            repl.update_applied_lsn(end_lsn);
            return Ok(());
        }
        self.batch_started.get_or_insert_with(Instant::now);
        self.batch_end = Some((end_lsn.0, commit_time_micros));
        let due = self.batch_changes >= self.cfg.max_batch_changes as u64
            || self
                .batch_started
                .is_some_and(|s| s.elapsed() >= self.cfg.max_batch_delay);
        if due {
            self.flush(repl).await?;
        }
        Ok(())
    }

    /// When the open batch must be applied: `max_batch_delay` after it opened, or as soon as
    /// the stream has been quiet for [`IDLE_FLUSH`].
    pub(super) fn batch_deadline(&self) -> Option<tokio::time::Instant> {
        match (
            self.batch_started,
            self.txn.is_none() && self.batch_end.is_some(),
        ) {
            (Some(started), true) => {
                let full = started + self.cfg.max_batch_delay;
                let idle = self.last_event + IDLE_FLUSH;
                Some(tokio::time::Instant::from_std(full.min(idle)))
            }
            _ => None,
        }
    }

    /// Apply the batch in one target transaction, then acknowledge its end LSN.
    pub(super) async fn flush(&mut self, repl: &ReplicationClient) -> Result<(), RunError> {
        let Some((end_lsn, commit_time)) = self.batch_end else {
            return Ok(());
        };
        let flush_started = Instant::now();
        self.begin_target().await?;
        let changes = self.batch_changes;
        for i in 0..self.versions.len() {
            let v = &mut self.versions[i];
            if v.is_broken() {
                v.discard_buffered();
                continue;
            }
            if v.has_work() {
                self.merge_into_batch(i, &format!("at {}", Lsn(end_lsn)))
                    .await?;
            }
        }
        for v in &self.versions {
            if let Phase::Broken(reason) = &v.phase {
                summa_catalog::mark_broken(&self.target, &v.record.view, v.record.version, reason)
                    .await?;
                self.metrics.record_broken();
            }
            if v.phase == Phase::Drained {
                summa_catalog::mark_drained(&self.target, &v.record, &self.slot).await?;
                // This session's own change: it goes on with the version applied directly.
                self.generation += 1;
            }
        }
        summa_failpoint::hit("apply.batch.merged");
        let generation = summa_catalog::record_applied(
            &self.target,
            &self.slot,
            &Lsn(end_lsn).to_string(),
            commit_time,
        )
        .await?;
        if generation != self.generation {
            // Versions joined, retired or were dropped since this session loaded them: apply
            // this batch again with the new set (nothing of it is acknowledged).
            self.target.batch_execute("ROLLBACK").await?;
            self.target_open = false;
            return Err(RunError::VersionsChanged);
        }
        self.target.batch_execute("COMMIT").await?;
        self.target_open = false;
        self.batch_end = None;
        summa_failpoint::hit("apply.batch.after_commit");
        // Acknowledge only what is now durable in the target.
        repl.update_applied_lsn(Lsn(end_lsn));
        self.applied = end_lsn;
        for v in &mut self.versions {
            if v.phase == Phase::Drained {
                v.go_live();
            }
        }
        let took = self
            .batch_started
            .map(|s| s.elapsed())
            .unwrap_or_else(|| flush_started.elapsed());
        self.metrics
            .record_batch(changes, end_lsn, commit_time, took);
        tracing::debug!(
            slot = %self.slot,
            lsn = %Lsn(end_lsn),
            changes,
            batch_ms = took.as_millis() as u64,
            flush_ms = flush_started.elapsed().as_millis() as u64,
            "batch applied"
        );
        self.batch_started = None;
        self.batch_changes = 0;
        self.versions.retain(|v| !v.is_broken());
        // A busy stream is never idle: check its sources between batches too.
        if self.last_generation_check.elapsed() >= GENERATION_CHECK {
            self.check_generation().await?;
            self.check_sources().await?;
        }
        Ok(())
    }
}
