use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared with `summa demo`'s status line (and later `/metrics`).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Source row changes (insert, update, delete) applied and committed.
    pub applied_changes: AtomicU64,
    pub batches: AtomicU64,
    /// Highest LSN committed to a summary (any stream).
    pub applied_lsn: AtomicU64,
    /// Commit time of the last applied source transaction (µs since 2000-01-01).
    pub applied_commit_time: AtomicU64,
    /// Groups whose min/max was recomputed from their value table (the extreme's last copy
    /// went).
    pub recomputed_groups: AtomicU64,
    /// Summaries emptied at a TRUNCATE of their source (`apply.on_truncate = "reset"`).
    pub truncate_resets: AtomicU64,
    /// Versions this process marked broken.
    pub versions_broken: AtomicU64,
}

impl Metrics {
    pub(crate) fn record_batch(&self, changes: u64, end_lsn: u64, commit_time: i64) {
        self.applied_changes.fetch_add(changes, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.applied_lsn.fetch_max(end_lsn, Ordering::Relaxed);
        self.applied_commit_time
            .fetch_max(commit_time.max(0) as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_reset(&self) {
        self.truncate_resets.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_broken(&self) {
        self.versions_broken.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_recomputes(&self, groups: u64) {
        self.recomputed_groups.fetch_add(groups, Ordering::Relaxed);
    }
}
