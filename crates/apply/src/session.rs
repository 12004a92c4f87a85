//! One replication session of one stream: read, batch, apply, acknowledge.
//!
//! Ordering of a batch (the exactly-once argument):
//! 1. changes of whole source transactions accumulate as signed rows (chunks beyond
//!    `chunk_rows` are shipped into staging tables inside the open target transaction);
//! 2. at a source COMMIT that closes the batch: merge every version's delta, delete emptied
//!    groups, record broken versions, `UPDATE summa.streams SET applied_lsn = <commit end>`;
//! 3. COMMIT the target transaction;
//! 4. only then acknowledge `<commit end>` to the slot.
//!
//! A crash before 3 loses the target transaction and the stream resumes from the previous
//! applied LSN; a crash between 3 and 4 resumes from the new LSN, and transactions whose
//! commit precedes it are skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use summa_catalog::{StreamRecord, VersionRecord, VersionState};
use summa_plan::sqlgen::{MergeResult, Target};
use summa_stream::pgoutput::{self, Message};
use summa_stream::{ConnInfo, Lsn, ReplicationClient, ReplicationEvent};
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::config::{ApplyConfig, TruncatePolicy};
use crate::metrics::Metrics;
use crate::runner::RunError;
use crate::version::VersionRuntime;

/// A batch is applied once no replication event arrived for this long.
const IDLE_FLUSH: Duration = Duration::from_millis(2);

pub(crate) enum SessionEnd {
    Shutdown,
    NoVersions,
    /// The stream's versions changed (retire, drop): reconnect and reload them.
    Reload,
}

struct OpenTxn {
    commit_lsn: u64,
    skip: bool,
}

pub(crate) struct Session<'a> {
    cfg: &'a ApplyConfig,
    metrics: &'a Arc<Metrics>,
    slot: String,
    target: Client,
    versions: Vec<VersionRuntime>,
    /// The stream's applied LSN: end of the last source transaction committed to the summaries.
    applied: u64,
    txn: Option<OpenTxn>,
    /// Target transaction open (chunks shipped or flush in progress).
    target_open: bool,
    batch_started: Option<Instant>,
    batch_changes: u64,
    /// End LSN and commit time of the last source transaction in the open batch.
    batch_end: Option<(u64, i64)>,
    catching_up: bool,
    /// When the last replication event arrived.
    last_event: Instant,
    /// The stream's generation when the versions were loaded; a newer one means reload.
    generation: i64,
    reload: bool,
    last_generation_check: Instant,
}

/// Pending rows a joining version drains per batch (or per idle tick).
const DRAIN_CHUNK: i64 = 20_000;

/// How often an idle session drains joining versions' pending tables.
const DRAIN_TICK: Duration = Duration::from_millis(50);

/// How often an idle session checks whether its versions changed.
const GENERATION_CHECK: Duration = Duration::from_secs(1);

fn is_relevant(v: &VersionRuntime, rel: u32) -> bool {
    v.source_oid() == rel && v.broken.is_none()
}

impl<'a> Session<'a> {
    pub(crate) async fn open(
        conn: &ConnInfo,
        cfg: &'a ApplyConfig,
        metrics: &'a Arc<Metrics>,
        stream: &StreamRecord,
        records: Vec<VersionRecord>,
    ) -> Result<(Session<'a>, ReplicationClient), RunError> {
        let target = conn.connect("summa-apply").await?;
        target
            .batch_execute(&format!(
                "SET statement_timeout = {}; SET lock_timeout = {}",
                cfg.statement_budget.as_millis(),
                cfg.statement_budget.as_millis()
            ))
            .await?;
        let catching_up = records.iter().any(|r| r.state == VersionState::CatchingUp);
        let versions: Vec<VersionRuntime> = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| VersionRuntime::new(r, i))
            .collect();
        let mut versions = versions;
        for v in &mut versions {
            target
                .batch_execute(&summa_plan::sqlgen::create_staging(
                    &v.record.plan,
                    &v.staging,
                ))
                .await?;
            // A lock on the version's tables shows here first: counted like a failed batch.
            if let Err(err) = v.prepare(&target).await {
                return Err(match is_retryable_in_version(&err) {
                    true => batch_failed(v, &err),
                    false => err.into(),
                });
            }
        }
        // Versions waiting to join this stream may now take their snapshot (see
        // `summa_catalog::create_views`): every change from here on reaches their pending table.
        target
            .execute(
                "UPDATE summa.streams SET loaded_generation = $2 WHERE slot_name = $1",
                &[&stream.slot_name, &stream.generation],
            )
            .await?;
        let repl = ReplicationClient::connect(conn.replication(
            &stream.slot_name,
            &stream.publication,
            Lsn(stream.applied_lsn),
        ))
        .await?;
        Ok((
            Session {
                cfg,
                metrics,
                slot: stream.slot_name.clone(),
                target,
                versions,
                applied: stream.applied_lsn,
                txn: None,
                target_open: false,
                batch_started: None,
                batch_changes: 0,
                batch_end: None,
                catching_up,
                last_event: Instant::now(),
                generation: stream.generation,
                reload: false,
                last_generation_check: Instant::now(),
            },
            repl,
        ))
    }

    /// An idle session notices changed versions (retire, drop, a version joining) within
    /// [`GENERATION_CHECK`], keepalives or not.
    ///
    /// When idle (nothing received is left to apply) it also stamps the stream's `applied_at`,
    /// so lag in seconds means "time since the sidecar last had nothing left to apply". The
    /// stamp is written at most every 10 s and only while the server's WAL moves past the
    /// slot, so an idle database stays idle.
    async fn check_generation(&mut self) -> Result<(), RunError> {
        self.last_generation_check = Instant::now();
        if self.idle() {
            self.target
                .execute(
                    "UPDATE summa.streams s SET applied_at = now() WHERE s.slot_name = $1 \
                     AND s.applied_at < now() - interval '10 seconds' AND EXISTS ( \
                       SELECT 1 FROM pg_replication_slots r WHERE r.slot_name = s.slot_name \
                       AND r.confirmed_flush_lsn < pg_current_wal_lsn())",
                    &[&self.slot],
                )
                .await?;
        }
        let generation: i64 = self
            .target
            .query_one(
                "SELECT generation FROM summa.streams WHERE slot_name = $1",
                &[&self.slot],
            )
            .await?
            .get(0);
        self.reload |= generation != self.generation;
        Ok(())
    }

    /// No source transaction is being read and no batch is pending or open.
    fn idle(&self) -> bool {
        self.txn.is_none() && self.batch_end.is_none() && !self.target_open
    }

    /// Drain a chunk of each joining version's pending table in a transaction of its own
    /// (the stream's position does not move); a drained version goes live and the session
    /// reloads it for direct application.
    async fn drain_idle(&mut self) -> Result<(), RunError> {
        self.begin_target().await?;
        for i in 0..self.versions.len() {
            if !self.versions[i].must_drain() {
                continue;
            }
            if !self
                .merge_or_abandon(i, "while draining its pending changes")
                .await?
            {
                return Ok(());
            }
            if self.versions[i].drained {
                summa_catalog::mark_drained(&self.target, &self.versions[i].record, &self.slot)
                    .await?;
                self.versions[i].go_direct();
                self.generation += 1;
            }
        }
        self.target.batch_execute("COMMIT").await?;
        self.target_open = false;
        Ok(())
    }

    /// When the open batch must be applied: `max_batch_delay` after it opened, or as soon as
    /// the stream has been quiet for [`IDLE_FLUSH`] (nothing more to batch it with).
    fn batch_deadline(&self) -> Option<tokio::time::Instant> {
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

    pub(crate) async fn run(
        mut self,
        mut repl: ReplicationClient,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<SessionEnd, RunError> {
        if self.versions.is_empty() {
            return Ok(SessionEnd::NoVersions);
        }
        tracing::info!(slot = %self.slot, versions = self.versions.len(), lsn = %Lsn(self.applied), "streaming");
        let _streaming = crate::metrics::StreamingGuard::new(self.metrics);
        loop {
            let deadline = self.batch_deadline();
            tokio::select! {
                _ = shutdown.changed() => {
                    if self.target_open {
                        // Abandon the open batch: nothing of it was acknowledged.
                        let _ = self.target.batch_execute("ROLLBACK").await;
                    }
                    let _ = repl.shutdown().await;
                    return Ok(SessionEnd::Shutdown);
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    self.flush(&repl).await?;
                }
                _ = tokio::time::sleep(DRAIN_TICK), if self.idle() && self.versions.iter().any(|v| v.must_drain()) => {
                    self.drain_idle().await?;
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(self.last_generation_check + GENERATION_CHECK)), if self.idle() => {
                    self.check_generation().await?;
                    self.check_sources().await?;
                }
                event = repl.recv() => {
                    match event? {
                        None => return Err(RunError::StreamEnded),
                        Some(ev) => {
                            self.last_event = Instant::now();
                            self.on_event(ev, &repl).await?
                        }
                    }
                }
            }
            // Broken versions leave at the batch that records them.
            if self.versions.is_empty() {
                return Ok(SessionEnd::NoVersions);
            }
            if self.reload && self.txn.is_none() && !self.target_open && self.batch_end.is_none() {
                tracing::info!(slot = %self.slot, "versions changed; reloading");
                let _ = repl.shutdown().await;
                return Ok(SessionEnd::Reload);
            }
        }
    }

    async fn on_event(
        &mut self,
        ev: ReplicationEvent,
        repl: &ReplicationClient,
    ) -> Result<(), RunError> {
        match ev {
            ReplicationEvent::Begin { final_lsn, .. } => {
                self.txn = Some(OpenTxn {
                    commit_lsn: final_lsn.0,
                    skip: final_lsn.0 < self.applied,
                });
            }
            ReplicationEvent::XLogData { data, .. } => {
                let msg = pgoutput::decode(&data)?;
                self.on_message(msg).await?;
            }
            ReplicationEvent::Commit {
                end_lsn,
                commit_time_micros,
                ..
            } => {
                let Some(txn) = self.txn.take() else {
                    return Ok(());
                };
                if txn.skip {
                    return Ok(());
                }
                let has_work = self
                    .versions
                    .iter()
                    .any(|v| v.has_work() || v.broken.is_some());
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
            }
            // Idle: everything before the keepalive position is applied or irrelevant.
            ReplicationEvent::KeepAlive { wal_end, .. }
                if self.txn.is_none() && self.batch_end.is_none() && !self.target_open =>
            {
                repl.update_applied_lsn(wal_end);
                if self.catching_up {
                    summa_catalog::mark_live(&self.target, &self.slot).await?;
                    self.catching_up = false;
                    tracing::info!(slot = %self.slot, "caught up: versions live");
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_message(&mut self, msg: Message) -> Result<(), RunError> {
        let commit_lsn = match &self.txn {
            Some(t) if !t.skip => t.commit_lsn,
            // Relation messages matter even inside skipped transactions.
            _ => {
                if let Message::Relation(rel) = &msg {
                    self.versions
                        .iter_mut()
                        .filter(|v| v.source_oid() == rel.oid)
                        .for_each(|v| v.on_relation(rel));
                }
                return Ok(());
            }
        };
        let rel_of = |m: &Message| match m {
            Message::Insert { rel, .. }
            | Message::Update { rel, .. }
            | Message::Delete { rel, .. } => Some(*rel),
            _ => None,
        };
        match &msg {
            Message::Relation(rel) => {
                self.versions
                    .iter_mut()
                    .filter(|v| v.source_oid() == rel.oid)
                    .for_each(|v| v.on_relation(rel));
            }
            Message::Truncate { rels } => {
                let truncated: Vec<usize> = (0..self.versions.len())
                    .filter(|&i| {
                        let v = &self.versions[i];
                        rels.contains(&v.source_oid())
                            && v.broken.is_none()
                            && commit_lsn >= v.record.start_lsn
                    })
                    .collect();
                for i in truncated {
                    self.on_truncate(i, commit_lsn).await?;
                }
            }
            _ => {}
        }
        let Some(rel) = rel_of(&msg) else {
            return Ok(());
        };
        let mut full = Vec::new();
        let mut relevant = false;
        let lsn_text = Lsn(commit_lsn).to_string();
        for (i, v) in self.versions.iter_mut().enumerate() {
            if !is_relevant(v, rel) || commit_lsn < v.record.start_lsn {
                continue;
            }
            relevant = true;
            v.set_commit_lsn(&lsn_text);
            match &msg {
                Message::Insert { new, .. } => v.insert(new),
                Message::Update { old, new, .. } => v.update(old.as_ref(), new),
                Message::Delete { old, .. } => v.delete(old),
                _ => {}
            }
            if v.rows.len() >= self.cfg.chunk_rows {
                full.push(i);
            }
        }
        if relevant {
            self.batch_changes += 1;
        }
        for i in full {
            self.ship_chunk(i).await?;
        }
        Ok(())
    }

    /// Version `i`'s source was truncated in the transaction committing at `commit_lsn`: reset
    /// its summary at exactly this point of the batch (what came before is merged first), or
    /// break it, as configured.
    async fn on_truncate(&mut self, i: usize, commit_lsn: u64) -> Result<(), RunError> {
        let v = &mut self.versions[i];
        let at = format!(
            "source table {} was truncated at {}",
            v.record.plan.source_qualified(),
            Lsn(commit_lsn)
        );
        if self.cfg.on_truncate == TruncatePolicy::Break {
            v.break_with(format!(
                "{at}; rebuild the view (apply.on_truncate = \"break\")"
            ));
            return Ok(());
        }
        let mut stmts = Vec::new();
        let target = Target::new(&v.record.table_schema, &v.record.table_name);
        match v.pending {
            None => {
                self.begin_target().await?;
                if self.versions[i].has_work() {
                    self.merge_or_abandon(
                        i,
                        &format!("before the TRUNCATE at {}", Lsn(commit_lsn)),
                    )
                    .await?;
                }
            }
            // Joining, consistent point known: every change waiting in the pending table, or
            // buffered, precedes the TRUNCATE and is moot.
            Some(Some(_)) => {
                v.rows.take();
                v.staged_chunks = 0;
                stmts.push(format!("DELETE FROM {}", target.pending()));
                self.begin_target().await?;
            }
            Some(None) => {
                v.break_with(format!(
                    "{at} while the version was still backfilling; rebuild the view"
                ));
                return Ok(());
            }
        }
        let v = &self.versions[i];
        stmts.extend(summa_plan::sqlgen::reset_objects(&v.record.plan, &target));
        for stmt in stmts {
            if let Err(err) = self.target.batch_execute(&stmt).await {
                let reason = format!(
                    "resetting after a TRUNCATE failed: {}",
                    summa_catalog::db_message(&err)
                );
                return self.abandon_batch_breaking(i, reason).await;
            }
        }
        tracing::warn!(view = %v.record.view, version = v.record.version, "{at}: summary reset");
        self.metrics.record_reset();
        Ok(())
    }

    /// Break versions whose source table was dropped, or whose columns were dropped, renamed
    /// or changed type, as soon as the catalog shows it (pgoutput sends no DDL; a Relation
    /// message only comes with the next change, and a dropped table sends none).
    async fn check_sources(&mut self) -> Result<(), RunError> {
        for i in 0..self.versions.len() {
            let v = &self.versions[i];
            if v.broken.is_some() {
                continue;
            }
            let rows = self
                .target
                .query(
                    "SELECT attname::text, atttypid FROM pg_attribute \
                     WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
                    &[&v.source_oid()],
                )
                .await?;
            let table = v.record.plan.source_qualified();
            let reason = if rows.is_empty() {
                Some(format!("source table {table} was dropped; recreate it and rebuild the view, or drop the view"))
            } else {
                let columns: Vec<(String, u32)> =
                    rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                let columns: Vec<(&str, u32)> =
                    columns.iter().map(|(n, t)| (n.as_str(), *t)).collect();
                v.schema_mismatch(&table, &columns)
            };
            if let Some(reason) = reason {
                let (view, version) = (v.record.view.clone(), v.record.version);
                summa_catalog::mark_broken(&self.target, &view, version, &reason).await?;
                self.metrics.record_broken();
                tracing::error!(view = %view, version, reason = %reason, "version broken");
                self.versions[i].broken = Some(reason);
                self.reload = true;
            }
        }
        Ok(())
    }

    async fn begin_target(&mut self) -> Result<(), RunError> {
        if !self.target_open {
            self.target.batch_execute("BEGIN").await?;
            self.target_open = true;
        }
        Ok(())
    }

    /// Ship version `i`'s buffered rows into its staging table (bounded memory).
    async fn ship_chunk(&mut self, i: usize) -> Result<(), RunError> {
        self.begin_target().await?;
        let v = &mut self.versions[i];
        let rows = v.rows.take();
        if let Err(err) = stage(&self.target, v, &rows).await {
            if is_definite(&err) {
                let reason = format!(
                    "shipping changes failed: {}",
                    summa_catalog::db_message(&err)
                );
                return self.abandon_batch_breaking(i, reason).await;
            }
            return Err(err.into());
        }
        v.staged_chunks += 1;
        summa_failpoint::hit("apply.chunk.shipped");
        Ok(())
    }

    /// Merge version `i`'s pending work into the open transaction. A change that cannot be
    /// applied (a negative count, or an error retrying cannot fix) abandons the batch and breaks
    /// only that version: then false, and the caller returns. `at` places it for the reason.
    async fn merge_or_abandon(&mut self, i: usize, at: &str) -> Result<bool, RunError> {
        let v = &mut self.versions[i];
        let reason = match merge_version(&self.target, v, self.metrics).await {
            Ok(0) => return Ok(true),
            Ok(negative) => format!(
                "{negative} group(s) would have a negative row count {at}: a change was applied twice or missed; rebuild the view"
            ),
            Err(err) if is_definite(&err) => format!(
                "applying the changes {at} failed: {}",
                summa_catalog::db_message(&err)
            ),
            Err(err) if is_retryable_in_version(&err) => {
                // The batch is replayed after a backoff; the runner counts the attempts.
                let _ = self.target.batch_execute("ROLLBACK").await;
                self.target_open = false;
                return Err(batch_failed(v, &err));
            }
            Err(err) => return Err(err.into()),
        };
        self.abandon_batch_breaking(i, reason).await?;
        Ok(false)
    }

    /// Roll the open batch back (nothing of it is acknowledged), record version `i` as broken
    /// with `reason`, and end the session: it restarts from the applied LSN without `i`.
    async fn abandon_batch_breaking(&mut self, i: usize, reason: String) -> Result<(), RunError> {
        let (view, version) = (
            self.versions[i].record.view.clone(),
            self.versions[i].record.version,
        );
        self.target.batch_execute("ROLLBACK").await?;
        self.target_open = false;
        summa_catalog::mark_broken(&self.target, &view, version, &reason).await?;
        self.metrics.record_broken();
        tracing::error!(view = %view, version, reason = %reason, "version broken");
        Err(RunError::VersionBroken(format!(
            "{view} v{version}: {reason}"
        )))
    }

    /// Apply the batch in one target transaction, then acknowledge its end LSN.
    async fn flush(&mut self, repl: &ReplicationClient) -> Result<(), RunError> {
        let Some((end_lsn, commit_time)) = self.batch_end.take() else {
            return Ok(());
        };
        let flush_started = Instant::now();
        self.begin_target().await?;
        let changes = self.batch_changes;
        for i in 0..self.versions.len() {
            let v = &mut self.versions[i];
            if !v.has_work() {
                continue;
            }
            if v.broken.is_some() {
                v.rows.take();
                v.staged_chunks = 0;
                continue;
            }
            if !self
                .merge_or_abandon(i, &format!("at {}", Lsn(end_lsn)))
                .await?
            {
                return Ok(());
            }
        }
        for v in &self.versions {
            if let Some(reason) = &v.broken {
                summa_catalog::mark_broken(&self.target, &v.record.view, v.record.version, reason)
                    .await?;
                self.metrics.record_broken();
            }
            if v.drained {
                summa_catalog::mark_drained(&self.target, &v.record, &self.slot).await?;
                // This session's own change: it goes on with the version applied directly.
                self.generation += 1;
            }
        }
        for v in &mut self.versions {
            if v.drained {
                v.go_direct();
            }
        }
        summa_failpoint::hit("apply.batch.merged");
        let lsn_text = Lsn(end_lsn).to_string();
        let generation: i64 = self
            .target
            .query_one(
                "UPDATE summa.streams SET applied_lsn = $2::text::pg_lsn, \
                 applied_commit_time = '2000-01-01 00:00:00+00'::timestamptz + make_interval(secs => $3::float8 / 1e6), \
                 applied_at = now() WHERE slot_name = $1 RETURNING generation",
                &[&self.slot, &lsn_text, &(commit_time as f64)],
            )
            .await?
            .get(0);
        if generation != self.generation {
            // Versions joined, retired or were dropped since this session loaded them: apply
            // this batch again with the new set (nothing of it is acknowledged).
            self.target.batch_execute("ROLLBACK").await?;
            self.target_open = false;
            return Err(RunError::VersionsChanged);
        }
        self.target.batch_execute("COMMIT").await?;
        self.target_open = false;
        summa_failpoint::hit("apply.batch.after_commit");
        // Acknowledge only what is now durable in the target.
        repl.update_applied_lsn(Lsn(end_lsn));
        self.applied = end_lsn;
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
            batch_ms = self.batch_started.map(|s| s.elapsed().as_millis() as u64).unwrap_or(0),
            flush_ms = flush_started.elapsed().as_millis() as u64,
            "batch applied"
        );
        self.batch_started = None;
        self.batch_changes = 0;
        self.versions.retain(|v| v.broken.is_none());
        // A busy stream is never idle: check its sources between batches too.
        if self.last_generation_check.elapsed() >= GENERATION_CHECK {
            self.check_generation().await?;
            self.check_sources().await?;
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Duration helper for the runner's backoff.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.min(6)).min(10_000))
}

/// SQLSTATE classes that retrying cannot fix for this version: data exceptions (22),
/// integrity violations (23), syntax, undefined objects and missing privileges (42), and
/// unsupported features (0A). Timeouts, lock and serialization failures, lost connections and
/// resource shortages are retried.
fn is_definite(err: &tokio_postgres::Error) -> bool {
    err.code()
        .map(|c| matches!(&c.code()[..2], "22" | "23" | "42" | "0A"))
        .unwrap_or(false)
}

/// Errors of one version's statements that may pass (statement or lock timeout, deadlock,
/// serialization failure): retried, and counted against `max_attempts`.
fn is_retryable_in_version(err: &tokio_postgres::Error) -> bool {
    err.code()
        .map(|c| matches!(c.code(), "57014" | "55P03") || c.code().starts_with("40"))
        .unwrap_or(false)
}

/// Version `v`'s statement failed retryably: the runner replays the batch and counts this.
fn batch_failed(v: &VersionRuntime, err: &tokio_postgres::Error) -> RunError {
    RunError::BatchFailed {
        view: v.record.view.clone(),
        version: v.record.version,
        message: summa_catalog::db_message(err),
    }
}

/// Ship rows into the version's staging table (or, for a joining version, its pending table).
async fn stage(
    target: &Client,
    v: &VersionRuntime,
    rows: &crate::batch::SignedRows,
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
    if let Some(start) = v.pending {
        // A joining version: record the rows, then drain the oldest pending chunk (from the
        // consistent point on) through the staging table.
        if !v.rows.is_empty() {
            let rows = v.rows.take();
            let insert = v.stmts().insert_pending.as_ref().expect("prepared");
            target.execute(insert, &rows.params()).await?;
        }
        v.staged_chunks = 0;
        let Some(start) = start else {
            return Ok(0);
        };
        let drain = v.stmts().drain_pending.as_ref().expect("prepared");
        let chunk = DRAIN_CHUNK;
        target
            .execute(drain, &[&chunk, &Lsn(start).to_string()])
            .await?;
        summa_failpoint::hit("apply.drain.merged");
        v.staged_chunks = 1;
    }
    let row = if v.staged_chunks == 0 {
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
        target.query_one(&v.stmts().merge_staged, &[]).await?
    };
    let result = MergeResult::from_row(&row);
    if result.negative > 0 {
        return Ok(result.negative);
    }
    let stmts = v.stmts();
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
        let pending = Target::new(&v.record.table_schema, &v.record.table_name).pending();
        let left: bool = target
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {pending})"), &[])
            .await?
            .get(0);
        v.drained = !left;
    }
    Ok(0)
}
