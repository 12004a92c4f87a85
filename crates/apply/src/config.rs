//! The applier's tunables and the one definition of every tunable's default.
//!
//! [`tunables`] holds each tunable once: its summa.toml key, default, unit and meaning.
//! [`ApplyConfig::default`] reads it here, the CLI's `Config::default` reads it for the keys it
//! owns, `summa config` prints it as a commented summa.toml, and docs/configuration.md's
//! table is generated from it (a summa-cli unit test fails when they disagree).

use std::time::Duration;

/// Tunables, each defined once (STYLE.md #13). The CLI adds the keys only it reads.
pub mod tunables {
    /// A default as summa.toml writes it.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum DefaultValue {
        Int(u64),
        Float(f64),
        Text(&'static str),
        /// No default: the key is off unless set; `example` is a TOML value to show.
        Unset {
            example: &'static str,
        },
    }

    /// One summa.toml key.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Tunable {
        /// Key in summa.toml; `section.key` for a key of a `[section]`.
        pub key: &'static str,
        pub default: DefaultValue,
        /// Unit of a number ("ms", "hours", …), or "".
        pub unit: &'static str,
        /// One line, the comment beside the key in `summa config`.
        pub summary: &'static str,
        /// The full meaning, for docs/configuration.md.
        pub doc: &'static str,
    }

    impl Tunable {
        /// The default of an integer tunable (a mistake in this file fails to compile).
        pub const fn int(&self) -> u64 {
            match self.default {
                DefaultValue::Int(v) => v,
                _ => panic!("not an integer tunable"),
            }
        }

        pub const fn float(&self) -> f64 {
            match self.default {
                DefaultValue::Float(v) => v,
                _ => panic!("not a float tunable"),
            }
        }

        pub const fn text(&self) -> &'static str {
            match self.default {
                DefaultValue::Text(v) => v,
                _ => panic!("not a text tunable"),
            }
        }
    }

    use DefaultValue::*;

    pub const RETENTION_HOURS: Tunable = Tunable {
        key: "retention_hours",
        default: Int(24),
        unit: "hours",
        summary: "retired versions are dropped this long after `summa retire`",
        doc: "A retired version is dropped by `summa gc` (run by the sidecar every minute) this \
              long after `summa retire`.",
    };

    pub const STATEMENT_BUDGET_MS: Tunable = Tunable {
        key: "statement_budget_ms",
        default: Int(30_000),
        unit: "ms",
        summary: "statement_timeout of every statement summa runs",
        doc: "`statement_timeout` (and `lock_timeout` for the applier) of every statement summa \
              issues: create's planner probes, registration, backfill chunks and ANALYZE; every \
              batch; verify; status, promote, retire, gc and drop (docs/operations.md, \
              \"Statement budget\", names each). Backfill chunks adapt to a third of it. At least 100.",
    };

    pub const MAX_BATCH_CHANGES: Tunable = Tunable {
        key: "apply.max_batch_changes",
        default: Int(50_000),
        unit: "changes",
        summary: "close a batch after this many source changes",
        doc: "A batch closes at the first commit after this many changes. Larger batches write \
              each hot group fewer times.",
    };

    pub const MAX_BATCH_DELAY_MS: Tunable = Tunable {
        key: "apply.max_batch_delay_ms",
        default: Int(200),
        unit: "ms",
        summary: "... or this long after it opened (at a commit)",
        doc: "A batch closes at the first commit after it is this old: the freshness/throughput \
              trade-off.",
    };

    pub const CHUNK_ROWS: Tunable = Tunable {
        key: "apply.chunk_rows",
        default: Int(20_000),
        unit: "rows",
        summary: "signed rows per view held in memory before shipping",
        doc: "Memory bound: per view, rows beyond this are shipped in chunks to a staging table \
              inside the batch's transaction.",
    };

    pub const MERGE_ROWS: Tunable = Tunable {
        key: "apply.merge_rows",
        default: Int(200_000),
        unit: "rows",
        summary: "staged rows merged per statement inside a large source transaction (first size)",
        doc:
            "Bounded statements: a source transaction larger than this is merged in parts, all in \
              its one target transaction (a prefix of a transaction's changes is itself exact). \
              The first part has this many rows; later ones adapt to about a quarter of \
              `statement_budget_ms` per merge statement (at least `apply.chunk_rows`).",
    };

    pub const ON_TRUNCATE: Tunable = Tunable {
        key: "apply.on_truncate",
        default: Text("reset"),
        unit: "",
        summary: "reset: empty the summary at the TRUNCATE | break: mark broken",
        doc: "`reset`: a TRUNCATE of a source empties its versions' summaries inside the batch at \
              the TRUNCATE's stream position; they stay live. `break`: they are marked broken.",
    };

    pub const MAX_ATTEMPTS: Tunable = Tunable {
        key: "apply.max_attempts",
        default: Int(5),
        unit: "attempts",
        summary: "a batch failing on timeouts/locks in one version: tries before broken",
        doc: "A batch that fails in one version with a timeout, lock, deadlock or serialization \
              error is retried with backoff this many times, then that version is marked broken.",
    };
}

use tunables::{
    CHUNK_ROWS, MAX_ATTEMPTS, MAX_BATCH_CHANGES, MAX_BATCH_DELAY_MS, MERGE_ROWS, ON_TRUNCATE,
    RETENTION_HOURS, STATEMENT_BUDGET_MS,
};

/// Tunables of the applier (the summa.toml keys are in [`tunables`]).
#[derive(Debug, Clone)]
pub struct ApplyConfig {
    /// Close a batch once it holds this many source changes (at a transaction boundary).
    pub max_batch_changes: usize,
    /// Close a batch at the first transaction boundary after it is this old.
    pub max_batch_delay: Duration,
    /// Signed rows per version buffered in memory before a chunk is shipped.
    pub chunk_rows: usize,
    /// Staged rows of one version merged per statement inside a large source transaction
    /// (the first part; later ones adapt to the budget).
    pub merge_rows: usize,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TruncatePolicy {
    /// Empty the summary inside the batch at the TRUNCATE's position in the stream: the
    /// version is rebuilt (an empty table's summary) with no backfill and stays live.
    Reset,
    /// Mark the versions broken; an operator rebuilds them.
    Break,
}

impl TruncatePolicy {
    /// The policy summa.toml names `name` (`reset`, `break`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "reset" => Some(TruncatePolicy::Reset),
            "break" => Some(TruncatePolicy::Break),
            _ => None,
        }
    }
}

/// How often the catalog is checked for new streams (not a summa.toml key).
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How often the sidecar drops retired versions past their retention and unused streams.
pub const GC_INTERVAL: Duration = Duration::from_secs(60);

impl Default for ApplyConfig {
    fn default() -> Self {
        ApplyConfig {
            max_batch_changes: MAX_BATCH_CHANGES.int() as usize,
            max_batch_delay: Duration::from_millis(MAX_BATCH_DELAY_MS.int()),
            chunk_rows: CHUNK_ROWS.int() as usize,
            merge_rows: MERGE_ROWS.int() as usize,
            statement_budget: Duration::from_millis(STATEMENT_BUDGET_MS.int()),
            poll_interval: POLL_INTERVAL,
            retention: Duration::from_secs(RETENTION_HOURS.int() * 3600),
            on_truncate: TruncatePolicy::from_name(ON_TRUNCATE.text())
                .expect("the default of apply.on_truncate names a policy"),
            max_attempts: MAX_ATTEMPTS.int() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_tunables() {
        let d = ApplyConfig::default();
        assert_eq!(d.max_batch_changes as u64, MAX_BATCH_CHANGES.int());
        assert_eq!(
            d.max_batch_delay.as_millis() as u64,
            MAX_BATCH_DELAY_MS.int()
        );
        assert_eq!(d.chunk_rows as u64, CHUNK_ROWS.int());
        assert_eq!(d.merge_rows as u64, MERGE_ROWS.int());
        assert_eq!(
            d.statement_budget.as_millis() as u64,
            STATEMENT_BUDGET_MS.int()
        );
        assert_eq!(d.retention.as_secs(), RETENTION_HOURS.int() * 3600);
        assert_eq!(d.on_truncate, TruncatePolicy::Reset);
        assert_eq!(d.max_attempts as u64, MAX_ATTEMPTS.int());
        assert_eq!(
            TruncatePolicy::from_name("break"),
            Some(TruncatePolicy::Break)
        );
        assert_eq!(TruncatePolicy::from_name("ignore"), None);
    }
}
