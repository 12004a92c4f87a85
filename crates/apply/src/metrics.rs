use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Counters of this sidecar process, read by `summa demo`'s status line and `/metrics`.
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
    /// View-row deltas merged (a join's fan-out: per source change, how many rows of the
    /// join's output, or partial groups of an eager join, changed).
    pub view_row_deltas: AtomicU64,
    /// Summaries emptied at a TRUNCATE of their source (`apply.on_truncate = "reset"`).
    pub truncate_resets: AtomicU64,
    /// Versions this process marked broken.
    pub versions_broken: AtomicU64,
    /// Batches that failed and were retried (timeouts, locks, lost connections).
    pub retries: AtomicU64,
    /// This process holds the lease (it is the applying sidecar, not a standby).
    pub lease_held: AtomicBool,
    /// Replication sessions currently streaming.
    pub streaming: AtomicI64,
    /// Time from a batch's first change to its commit in the target.
    pub batch_seconds: Histogram,
    /// The longest of those since this process started, in µs (a huge source transaction
    /// shows here exactly; the histogram only bounds it by a bucket).
    pub longest_batch_micros: AtomicU64,
    /// The longest merge statement since this process started, in µs: what
    /// `statement_budget_ms` bounds (a huge source transaction is merged in several).
    pub longest_merge_micros: AtomicU64,
    /// Merge statements run (one per version per batch, more for a large source transaction).
    pub merges: AtomicU64,
}

/// Upper bounds (seconds) of the batch latency histogram's buckets.
pub const BATCH_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A fixed-bucket histogram (Prometheus style: cumulative on export).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BATCH_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BATCH_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BATCH_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// (upper bound, cumulative count) per bucket, the last one `+Inf`; then sum and count.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut total = 0;
        let mut buckets = Vec::new();
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            buckets.push((
                BATCH_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY),
                total,
            ));
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, sum, total)
    }
}

impl Metrics {
    pub(crate) fn record_batch(
        &self,
        changes: u64,
        end_lsn: u64,
        commit_time: i64,
        took: Duration,
    ) {
        self.applied_changes.fetch_add(changes, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.applied_lsn.fetch_max(end_lsn, Ordering::Relaxed);
        self.applied_commit_time
            .fetch_max(commit_time.max(0) as u64, Ordering::Relaxed);
        self.batch_seconds.observe(took);
        self.longest_batch_micros
            .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_merge(&self, took: Duration) {
        self.merges.fetch_add(1, Ordering::Relaxed);
        self.longest_merge_micros
            .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_recomputes(&self, groups: u64) {
        self.recomputed_groups.fetch_add(groups, Ordering::Relaxed);
    }

    pub(crate) fn record_view_rows(&self, rows: u64) {
        self.view_row_deltas.fetch_add(rows, Ordering::Relaxed);
    }

    pub(crate) fn record_reset(&self) {
        self.truncate_resets.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_broken(&self) {
        self.versions_broken.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a streaming session for as long as it lives.
pub(crate) struct StreamingGuard<'a>(&'a Metrics);

impl<'a> StreamingGuard<'a> {
    pub(crate) fn new(metrics: &'a Metrics) -> Self {
        metrics.streaming.fetch_add(1, Ordering::Relaxed);
        StreamingGuard(metrics)
    }
}

impl Drop for StreamingGuard<'_> {
    fn drop(&mut self) {
        self.0.streaming.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_batch_is_kept() {
        let m = Metrics::default();
        m.record_batch(10, 1, 0, Duration::from_millis(40));
        m.record_batch(10, 2, 0, Duration::from_millis(1500));
        m.record_batch(10, 3, 0, Duration::from_millis(7));
        assert_eq!(m.longest_batch_micros.load(Ordering::Relaxed), 1_500_000);
        assert_eq!(m.batches.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let (buckets, sum, count) = h.snapshot();
        assert_eq!(buckets[0], (0.005, 1));
        assert_eq!(buckets[3], (0.05, 2));
        assert_eq!(buckets.last().unwrap().1, 3);
        assert!(buckets.last().unwrap().0.is_infinite());
        assert_eq!(count, 3);
        assert!((sum - 60.033).abs() < 1e-6);
    }
}
