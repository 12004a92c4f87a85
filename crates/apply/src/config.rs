use std::time::Duration;

/// Tunables of the applier (documented in docs/configuration.md).
#[derive(Debug, Clone)]
pub struct ApplyConfig {
    /// Close a batch once it holds this many source changes (at a transaction boundary).
    pub max_batch_changes: usize,
    /// Close a batch at the first transaction boundary after it is this old.
    pub max_batch_delay: Duration,
    /// Signed rows per version buffered in memory before a chunk is shipped.
    pub chunk_rows: usize,
    /// statement_timeout of every statement the applier runs.
    pub statement_budget: Duration,
    /// How often the catalog is checked for new streams.
    pub poll_interval: Duration,
    /// Retired versions older than this are dropped (`summa_catalog::gc`, run every
    /// [`GC_INTERVAL`]).
    pub retention: Duration,
    /// What a TRUNCATE of a source table does to its versions.
    pub on_truncate: TruncatePolicy,
    /// Attempts at a batch that keeps failing in one version with a retryable error (statement
    /// or lock timeout, deadlock, serialization failure) before that version is marked broken.
    pub max_attempts: u32,
}

/// What a TRUNCATE of a source table does to the versions it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TruncatePolicy {
    /// Empty the summary inside the batch at the TRUNCATE's position in the stream: the
    /// version is rebuilt (an empty table's summary) with no backfill and stays live.
    Reset,
    /// Mark the versions broken; an operator rebuilds them.
    Break,
}

/// How often the sidecar drops retired versions past their retention and unused streams.
pub const GC_INTERVAL: Duration = Duration::from_secs(60);

impl Default for ApplyConfig {
    fn default() -> Self {
        ApplyConfig {
            max_batch_changes: 50_000,
            max_batch_delay: Duration::from_millis(200),
            chunk_rows: 20_000,
            statement_budget: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            retention: Duration::from_secs(24 * 3600),
            on_truncate: TruncatePolicy::Reset,
            max_attempts: 5,
        }
    }
}
