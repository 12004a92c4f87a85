//! The command line of `summa bench` and the options of one run: `--quick` changes the
//! defaults, flags override them.

use std::path::PathBuf;

use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Source table sizes for time to fresh (comma-separated).
    #[arg(long, value_delimiter = ',')]
    rows: Option<Vec<u64>>,
    /// Table sizes for the growth scenario (time to fresh at a fixed K as N grows).
    #[arg(long, value_delimiter = ',')]
    growth: Option<Vec<u64>>,
    /// Change batch sizes K: rows changed by one committed transaction (half updates, a
    /// quarter inserts, a quarter deletes).
    #[arg(long, value_delimiter = ',')]
    batch: Option<Vec<u64>>,
    /// Repetitions of each timing (median, min and max are reported).
    #[arg(long)]
    repeat: Option<usize>,
    /// Seconds of sustained writing per rate.
    #[arg(long)]
    seconds: Option<u64>,
    /// Writer target rates for the sustained scenario, in changes/s.
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<u64>>,
    /// Rows of the one bulk insert transaction.
    #[arg(long)]
    bulk_rows: Option<u64>,
    /// Results directory (default: bench-results/<UTC timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Small and short (N = 200k, TPC-H SF 0.01): finishes in a few minutes, for reviews.
    #[arg(long)]
    quick: bool,
    /// TPC-H scale factor of the tpch scenario (default 1; 0.01 with --quick).
    #[arg(long)]
    tpch_sf: Option<f64>,
    /// Seed of the tpch scenario's changes (RF1, RF2, dimension updates).
    #[arg(long)]
    tpch_seed: Option<u64>,
    /// Measure each TPC-H query alone on its stream (default: the seven live together).
    #[arg(long)]
    tpch_alone: bool,
    /// Only these scenarios: fresh, growth, join, sustained, ceiling, bulk, overhead, tpch.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<Scenario>>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Fresh,
    Growth,
    /// V3 (orders ⋈ regions) at the largest size: a fact-side change and a region rename.
    Join,
    Sustained,
    Ceiling,
    Bulk,
    Overhead,
    /// TPC-H Q1, Q3, Q5, Q6, Q10, Q12, Q14 under RF1, RF2 and dimension updates.
    Tpch,
}

/// The resolved options of one run (`--quick` changes the defaults, flags override them).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    pub rows: Vec<u64>,
    pub growth: Vec<u64>,
    pub batch: Vec<u64>,
    /// K of the growth scenario.
    pub growth_k: u64,
    pub repeat: usize,
    pub seconds: u64,
    pub rates: Vec<u64>,
    pub bulk_rows: u64,
    /// Changes written while the sidecar is stopped, for the decode ceiling.
    pub backlog_changes: u64,
    /// Seconds of each pgbench run.
    pub pgbench_seconds: u64,
    pub pgbench_clients: u32,
    pub quick: bool,
    pub only: Vec<Scenario>,
    /// TPC-H scale factor.
    pub tpch_sf: f64,
    pub tpch_seed: u64,
    pub tpch_alone: bool,
}

impl Options {
    pub(super) fn resolve(a: BenchArgs) -> anyhow::Result<(Options, Option<PathBuf>)> {
        let q = a.quick;
        let rows = a.rows.unwrap_or_else(|| {
            if q {
                vec![200_000]
            } else {
                vec![1_000_000, 10_000_000]
            }
        });
        let growth = a.growth.unwrap_or_else(|| {
            if q {
                vec![50_000, 200_000]
            } else {
                vec![1_000_000, 3_000_000, 10_000_000]
            }
        });
        let batch = a.batch.unwrap_or_else(|| {
            if q {
                vec![1_000, 10_000]
            } else {
                vec![1_000, 10_000, 100_000]
            }
        });
        if rows.is_empty() || batch.is_empty() || rows.contains(&0) || batch.contains(&0) {
            bail!("--rows and --batch need at least one size, none of them 0");
        }
        let growth_k = if batch.contains(&10_000) {
            10_000
        } else {
            batch[batch.len() / 2]
        };
        let seconds = a.seconds.unwrap_or(if q { 10 } else { 60 });
        let only = a.only.unwrap_or_else(|| {
            vec![
                Scenario::Fresh,
                Scenario::Growth,
                Scenario::Join,
                Scenario::Sustained,
                Scenario::Ceiling,
                Scenario::Bulk,
                Scenario::Overhead,
                Scenario::Tpch,
            ]
        });
        let tpch_sf = a.tpch_sf.unwrap_or(if q { 0.01 } else { 1.0 });
        if !(tpch_sf.is_finite() && tpch_sf > 0.0) {
            bail!("--tpch-sf must be a positive number");
        }
        let bulk_rows = a.bulk_rows.unwrap_or(if q { 200_000 } else { 1_000_000 });
        let backlog: u64 = if q { 50_000 } else { 500_000 };
        Ok((
            Options {
                rows,
                growth,
                batch,
                growth_k,
                repeat: a.repeat.unwrap_or(3).max(1),
                seconds,
                rates: a.rates.unwrap_or_else(|| {
                    if q {
                        vec![5_000, 20_000]
                    } else {
                        vec![5_000, 20_000, 50_000]
                    }
                }),
                bulk_rows,
                backlog_changes: backlog.min(bulk_rows.max(20_000)),
                pgbench_seconds: (seconds / 4).clamp(2, 15),
                pgbench_clients: 4,
                quick: q,
                only,
                tpch_sf,
                tpch_seed: a.tpch_seed.unwrap_or(20_251_202),
                tpch_alone: a.tpch_alone,
            },
            a.out,
        ))
    }

    pub fn wants(&self, s: Scenario) -> bool {
        self.only.contains(&s)
    }

    /// Table sizes to visit, ascending, and the batch sizes to measure at each.
    pub(super) fn plan(&self) -> Vec<(u64, Vec<u64>)> {
        let mut sizes: Vec<u64> = Vec::new();
        if self.wants(Scenario::Fresh) {
            sizes.extend(&self.rows);
        }
        if self.wants(Scenario::Growth) {
            sizes.extend(&self.growth);
        }
        if sizes.is_empty() {
            sizes.push(self.rows[0]);
        }
        sizes.sort_unstable();
        sizes.dedup();
        sizes
            .into_iter()
            .map(|n| {
                let mut ks = Vec::new();
                if self.wants(Scenario::Fresh) && self.rows.contains(&n) {
                    ks.extend(&self.batch);
                }
                if self.wants(Scenario::Growth)
                    && self.growth.contains(&n)
                    && !ks.contains(&self.growth_k)
                {
                    ks.push(self.growth_k);
                }
                ks.sort_unstable();
                (n, ks)
            })
            .collect()
    }

    /// Whether a scenario of the reference workload (orders, regions) runs.
    pub(super) fn wants_orders(&self) -> bool {
        [Scenario::Fresh, Scenario::Growth, Scenario::Join]
            .iter()
            .any(|s| self.wants(*s))
            || self.wants_tail()
    }

    /// The size at which the scenarios with V1 and V2 live together run.
    pub(super) fn tail_rows(&self) -> u64 {
        self.rows[0]
    }

    pub(super) fn wants_tail(&self) -> bool {
        [
            Scenario::Sustained,
            Scenario::Ceiling,
            Scenario::Bulk,
            Scenario::Overhead,
        ]
        .iter()
        .any(|s| self.wants(*s))
    }
}
