//! One replication session of one stream: read, batch, apply, acknowledge.
//!
//! The path of one change: `on_event` (Begin/Commit framing) → `on_message` (routes an
//! Insert/Update/Delete to the versions that read its relation) → `VersionRuntime` (signed rows
//! of the columns each reads) → at a COMMIT that closes the batch, `flush` (one target
//! transaction: `merge` per version, the applied LSN, COMMIT) → acknowledge.
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
//!
//! The jobs around it, one module each: `flush` (batch policy and the batch transaction),
//! `merge` (one version's statements), `drain` (the pending-table protocol of joining
//! versions), `truncate` (TRUNCATE at its stream position), `watch` (source DDL and changed
//! version sets, polled).

mod drain;
mod flush;
mod merge;
mod partitions;
mod truncate;
mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use summa_catalog::{StreamRecord, VersionRecord, VersionState};
use summa_stream::pgoutput::{self, Message};
use summa_stream::{ConnInfo, Lsn, ReplicationClient, ReplicationEvent};
use tokio::sync::watch as signal;
use tokio_postgres::Client;

use crate::config::ApplyConfig;
use crate::error::{version_error, RunError};
use crate::metrics::Metrics;
use crate::version::VersionRuntime;

/// A batch is applied once no replication event arrived for this long.
const IDLE_FLUSH: Duration = Duration::from_millis(2);

/// How often an idle session drains joining versions' pending tables.
const DRAIN_TICK: Duration = Duration::from_millis(50);

/// How often an idle session checks whether its versions changed.
const GENERATION_CHECK: Duration = Duration::from_secs(1);

pub(crate) enum SessionEnd {
    Shutdown,
    NoVersions,
    /// The stream's versions changed (retire, drop): reconnect and reload them.
    Reload,
}

struct OpenTxn {
    commit_lsn: u64,
    skip: bool,
    /// Sources truncated in this transaction with no change of theirs since (see
    /// `partitions`).
    truncated: Vec<u32>,
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
    /// The server's WAL insert position at the last idle check (after its stamp, if any).
    wal_seen: summa_catalog::WalSeen,
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
        let mut versions: Vec<VersionRuntime> = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| VersionRuntime::new(r, i))
            .collect();
        for v in &mut versions {
            target
                .batch_execute(&summa_plan::sqlgen::create_staging(
                    &v.record.plan,
                    &v.staging,
                ))
                .await?;
            // A lock on the version's tables shows here first: counted like a failed batch. A
            // statement Postgres refuses for good breaks only this version.
            if let Err(err) = v.prepare(&target).await {
                let Some(failed) = version_error(v, None, "preparing its statements", &err) else {
                    return Err(err.into());
                };
                if failed.class.is_definite() {
                    summa_catalog::mark_broken(
                        &target,
                        &failed.view,
                        failed.version,
                        &failed.reason,
                    )
                    .await?;
                    metrics.record_broken();
                    tracing::error!(view = %failed.view, version = failed.version, reason = %failed.reason, "version broken");
                }
                return Err(RunError::Version(failed));
            }
        }
        // Versions waiting to join this stream may now take their snapshot (see
        // `summa_catalog::create_views`): every change from here on reaches their pending table.
        summa_catalog::record_loaded_generation(&target, &stream.slot_name, stream.generation)
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
                wal_seen: Default::default(),
            },
            repl,
        ))
    }

    /// No source transaction is being read and no batch is pending or open.
    fn idle(&self) -> bool {
        self.txn.is_none() && self.batch_end.is_none() && !self.target_open
    }

    pub(crate) async fn run(
        mut self,
        mut repl: ReplicationClient,
        shutdown: &mut signal::Receiver<bool>,
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
                    } else if self.idle() {
                        // Lag of the stopped stream counts from now, not from its last batch.
                        let _ = summa_catalog::stamp_caught_up(&self.target, &self.slot, true, &Default::default()).await;
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
            if self.reload && self.idle() {
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
                    truncated: Vec::new(),
                });
            }
            ReplicationEvent::XLogData { data, .. } => {
                let msg = pgoutput::decode(&data)?;
                self.on_message(msg).await?;
            }
            ReplicationEvent::Message {
                transactional: true,
                prefix,
                content,
                ..
            } if prefix == partitions::PREFIX => self.on_partition_event(&content),
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
                self.on_commit(end_lsn, commit_time_micros, repl).await?;
            }
            // Idle: everything before the keepalive position is applied or irrelevant.
            ReplicationEvent::KeepAlive { wal_end, .. } if self.idle() => {
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
                    self.on_relation(rel);
                }
                return Ok(());
            }
        };
        let (rel, change) = match &msg {
            Message::Relation(rel) => {
                self.on_relation(rel);
                return Ok(());
            }
            Message::Truncate { rels } => {
                let truncated: Vec<usize> = (0..self.versions.len())
                    .filter(|&i| {
                        let v = &self.versions[i];
                        rels.iter().any(|&r| v.reads(r))
                            && !v.is_broken()
                            && commit_lsn >= v.record.start_lsn
                    })
                    .collect();
                let rels = rels.clone();
                if let Some(txn) = self.txn.as_mut() {
                    txn.truncated.extend(&rels);
                }
                for i in truncated {
                    self.on_truncate(i, commit_lsn, &rels).await?;
                }
                return Ok(());
            }
            Message::Insert { rel, .. }
            | Message::Update { rel, .. }
            | Message::Delete { rel, .. } => (*rel, &msg),
            _ => return Ok(()),
        };
        if let Some(txn) = self.txn.as_mut() {
            txn.truncated.retain(|&r| r != rel);
        }
        let mut full = Vec::new();
        let mut relevant = false;
        let lsn_text = Lsn(commit_lsn).to_string();
        for (i, v) in self.versions.iter_mut().enumerate() {
            if !v.reads(rel) || v.is_broken() || commit_lsn < v.record.start_lsn {
                continue;
            }
            relevant = true;
            v.set_commit_lsn(&lsn_text);
            match change {
                Message::Insert { new, .. } => v.insert(rel, new),
                Message::Update { old, new, .. } => v.update(rel, old.as_ref(), new),
                Message::Delete { old, .. } => v.delete(rel, old),
                _ => unreachable!("routed above"),
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

    fn on_relation(&mut self, rel: &pgoutput::Relation) {
        self.versions
            .iter_mut()
            .filter(|v| v.reads(rel.oid))
            .for_each(|v| v.on_relation(rel));
    }

    async fn begin_target(&mut self) -> Result<(), RunError> {
        if !self.target_open {
            self.target.batch_execute("BEGIN").await?;
            self.target_open = true;
        }
        Ok(())
    }

    /// Roll the open batch back (nothing of it is acknowledged), record version `i` as broken
    /// with `reason`, and end the session: it restarts from the applied LSN without `i`.
    async fn abandon_batch_breaking(&mut self, i: usize, reason: String) -> Result<(), RunError> {
        let record = &self.versions[i].record;
        let (view, version) = (record.view.clone(), record.version);
        self.target.batch_execute("ROLLBACK").await?;
        self.target_open = false;
        summa_catalog::mark_broken(&self.target, &view, version, &reason).await?;
        self.metrics.record_broken();
        tracing::error!(view = %view, version, reason = %reason, "version broken");
        Err(RunError::Version(crate::error::VersionError {
            view,
            version,
            lsn: self.batch_end.map(|(lsn, _)| Lsn(lsn)),
            class: summa_stream::RetryClass::Definite,
            reason,
        }))
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
