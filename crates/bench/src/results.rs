//! What a run measured: `results.json`, and the input of the report and the plots.

use serde::Serialize;

use super::machine::Machine;
use super::stats::{ratio, Stat};
use super::Options;

#[derive(Debug, Serialize)]
pub struct Results {
    pub summa_version: String,
    pub date: String,
    pub command: String,
    pub elapsed_s: f64,
    pub machine: Machine,
    pub options: Options,
    pub fresh: Vec<FreshRow>,
    /// V3 (the join): a fact-side change transaction and a region rename.
    pub join: Vec<JoinRow>,
    pub sustained: Vec<SustainedRow>,
    pub ceiling: Option<Ceiling>,
    pub bulk: Option<Bulk>,
    pub overhead: Option<Overhead>,
    /// TPC-H: seven queries under the refresh functions and dimension updates.
    pub tpch: Option<Tpch>,
    pub verified: Vec<Verified>,
    /// Findings and caveats of this run, printed in the report.
    pub notes: Vec<String>,
    /// Plot files written next to the report.
    pub plots: Vec<String>,
}

impl Results {
    pub fn new(date: String, machine: Machine, options: Options) -> Self {
        Results {
            summa_version: env!("CARGO_PKG_VERSION").into(),
            date,
            command: command_line(),
            elapsed_s: 0.0,
            machine,
            options,
            fresh: Vec::new(),
            join: Vec::new(),
            sustained: Vec::new(),
            ceiling: None,
            bulk: None,
            overhead: None,
            tpch: None,
            verified: Vec::new(),
            notes: Vec::new(),
            plots: Vec::new(),
        }
    }

    /// The growth rows: time to fresh at the growth K, per view, ascending N.
    pub fn growth(&self, view: &str) -> Vec<&FreshRow> {
        let mut rows: Vec<&FreshRow> = self
            .fresh
            .iter()
            .filter(|r| r.view == view && r.k == self.options.growth_k)
            .collect();
        rows.sort_by_key(|r| r.rows);
        rows
    }
}

/// The command line, with the database URL's credentials hidden.
fn command_line() -> String {
    let mut out = vec!["summa".to_string()];
    let mut hide_next = false;
    for a in std::env::args().skip(1) {
        if hide_next {
            out.push("<url>".into());
            hide_next = false;
        } else if a == "--database-url" {
            out.push(a);
            hide_next = true;
        } else if a.starts_with("--database-url=") {
            out.push("--database-url=<url>".into());
        } else {
            out.push(a);
        }
    }
    out.join(" ")
}

/// Time to fresh after one committed change batch of `k` rows, at `rows` source rows.
#[derive(Debug, Clone, Serialize)]
pub struct FreshRow {
    pub view: String,
    pub rows: u64,
    pub k: u64,
    /// Source row changes in the committed transaction (ids picked at random may be gone).
    pub changes: Stat,
    /// Distinct groups of the view the transaction touched.
    pub groups: Stat,
    /// From COMMIT returning to the summary holding the transaction.
    pub summa_ms: Stat,
    /// Of `summa_ms`: from COMMIT returning until summa's target transaction began (walsender
    /// decode and send, summa's decode, batching): `summa.streams.applied_at` (the server's
    /// wall clock) − our wall clock at COMMIT (the same machine). For K beyond `chunk_rows` the
    /// target transaction begins at the first shipped chunk, while the source transaction is
    /// still being received.
    pub receive_ms: Stat,
    /// The rest: the batch's target transaction (merge, bookkeeping, commit).
    pub apply_ms: Stat,
    pub refresh_ms: Stat,
    pub concurrently_ms: Stat,
    /// The floor: from COMMIT returning until a bare consumer (summa's decoder, no apply)
    /// received the transaction's Commit (another batch of K, the sidecar stopped meanwhile).
    pub decode_ms: Stat,
    /// The floor: one upsert of the distinct groups into a table shaped like the view's.
    pub upsert_ms: Stat,
    /// decode + upsert, per repetition.
    pub floor_ms: Stat,
    pub backfill_s: f64,
    /// `CREATE MATERIALIZED VIEW … WITH DATA` of the same SELECT, its unique index and ANALYZE.
    pub create_mv_s: f64,
    /// Groups whose min/max was recomputed, over all repetitions.
    pub recomputed: u64,
}

impl FreshRow {
    pub fn vs_refresh(&self) -> f64 {
        ratio(self.refresh_ms.median, self.summa_ms.median)
    }
    pub fn vs_concurrently(&self) -> f64 {
        ratio(self.concurrently_ms.median, self.summa_ms.median)
    }
    pub fn vs_floor(&self) -> f64 {
        ratio(self.summa_ms.median, self.floor_ms.median)
    }
}

/// Time to fresh of the join view V3 after one committed change, at `rows` orders.
#[derive(Debug, Clone, Serialize)]
pub struct JoinRow {
    pub view: String,
    pub rows: u64,
    /// What the transaction changed: K orders, or one region's name.
    pub change: String,
    /// Orders changed (fact side), or the view rows the rename moves between groups (the
    /// region's orders that pass the WHERE).
    pub view_rows: Stat,
    /// View-row deltas the sidecar merged for it (`summa_view_row_deltas_total`): the orders
    /// joined, or for an eager view the partial groups the rename met.
    pub view_row_deltas: Stat,
    /// From COMMIT returning to the summary holding the transaction.
    pub summa_ms: Stat,
    pub refresh_ms: Stat,
    pub backfill_s: f64,
    /// `CREATE MATERIALIZED VIEW … WITH DATA` of the same SELECT, its unique index and ANALYZE.
    pub create_mv_s: f64,
}

impl JoinRow {
    pub fn vs_refresh(&self) -> f64 {
        ratio(self.refresh_ms.median, self.summa_ms.median)
    }
}

/// A writer at a fixed rate with V1 and V2 live.
#[derive(Debug, Clone, Serialize)]
pub struct SustainedRow {
    pub target_rate: u64,
    pub seconds: f64,
    pub written_rate: f64,
    /// Changes written / (writing time + time to apply the rest after the writers stopped).
    pub applied_rate: f64,
    /// From the writers' stop until everything they wrote was applied.
    pub catchup_ms: f64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// Sidecar CPU time / wall time, from the writers' start until all applied (100 = one core).
    pub cpu_pct: f64,
    pub rss_max_mib: f64,
    /// Batches the sidecar committed in the window (`summa_batches_applied_total`).
    pub batches: u64,
    /// Batch duration, a batch's first change to its commit (`summa_batch_duration_seconds`):
    /// the mean is exact, p50 and p99 are interpolated inside the histogram's buckets.
    pub batch_ms_mean: f64,
    pub batch_ms_p50: f64,
    pub batch_ms_p99: f64,
    /// (seconds since start, lag ms), sampled every 100 ms.
    pub lag_series: Vec<(f64, f64)>,
}

/// A backlog written with the sidecar stopped: drained through summa's decoder alone (the
/// ceiling), then applied by summa from the same slot position.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    pub changes: u64,
    pub transactions: u64,
    pub bytes: u64,
    pub decode_s: f64,
    pub decode_rate: f64,
    pub apply_s: f64,
    pub apply_rate: f64,
    /// The bulk transaction's decode on the same bare slot, when it ran.
    pub bulk_decode_s: Option<f64>,
}

/// One transaction inserting `rows` rows, with V1 and V2 live.
#[derive(Debug, Clone, Serialize)]
pub struct Bulk {
    pub rows: u64,
    pub statement_s: f64,
    pub applied_after_commit_s: f64,
    pub rss_before_mib: f64,
    pub rss_peak_mib: f64,
    /// The longest batch (first change to commit) of the sidecar that applied it
    /// (`summa_longest_batch_seconds`).
    pub longest_batch_ms: f64,
    /// Its longest merge statement (`summa_longest_merge_seconds`): the budget bounds it.
    pub longest_merge_ms: f64,
    /// The configured statement budget.
    pub budget_ms: u64,
}

/// pgbench writer throughput with and without WAL consumers and maintained views.
#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    pub clients: u32,
    pub seconds: u64,
    pub script: String,
    pub rows: Vec<OverheadRow>,
    /// Why pg_ivm was not measured (None: it was).
    pub pg_ivm_unavailable: Option<String>,
    /// After each summa run: time until the sidecar had applied what pgbench wrote.
    pub summa_catchup_ms: Stat,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverheadRow {
    pub setup: String,
    pub tps: Stat,
    pub vs_none: f64,
}

/// TPC-H at one scale factor: the seven versions live together on one stream.
#[derive(Debug, Clone, Serialize)]
pub struct Tpch {
    pub sf: f64,
    /// Seed of the changes (`--tpch-seed`).
    pub seed: u64,
    /// Each query alone on its stream (`--tpch-alone`), else the seven live together.
    pub alone: bool,
    /// Orders of one RF1 or RF2 step.
    pub step_orders: u64,
    /// Customers or parts of one dimension update.
    pub dim_rows: u64,
    /// statement_budget_ms of the sidecar that applied the changes (the bench raises it).
    pub budget_ms: u64,
    /// (table, rows loaded).
    pub tables: Vec<(String, u64)>,
    /// Generate + COPY + primary keys + ANALYZE.
    pub load_s: f64,
    /// `summa create` of the versions (added up over the creates when alone).
    pub backfill_s: f64,
    pub rows: Vec<TpchRow>,
}

/// One query (or "all seven") after one kind of change.
#[derive(Debug, Clone, Serialize)]
pub struct TpchRow {
    /// Q1 … Q14, or "all seven" (the seven REFRESHes of a step added up).
    pub query: String,
    /// RF1, RF2 or a dimension update.
    pub change: String,
    /// Source rows the transaction changed (orders + lineitems; customers; parts; nations).
    pub source_rows: Stat,
    /// From COMMIT returning until the sidecar applied it to all seven versions (one batch).
    pub summa_ms: Stat,
    /// REFRESH MATERIALIZED VIEW of this query's SELECT, right after.
    pub refresh_ms: Stat,
    /// REFRESH ÷ summa (medians).
    pub vs_refresh: f64,
    /// This version's backfill within the joint `summa create` (all seven: the whole create).
    pub backfill_s: f64,
    /// Equal to its SELECT at the end of the run.
    pub verified: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub view: String,
    pub when: String,
    pub groups: i64,
    pub equal: bool,
    pub differences: Vec<String>,
}
