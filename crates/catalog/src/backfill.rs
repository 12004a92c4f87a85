//! Loading a new version from the slot's snapshot, inside the backfill's transaction.
//!
//! Bounded steps (invariant 4): every statement runs under `statement_timeout = budget`.
//! The source is read in ranges of heap blocks, each in a savepoint; a range that hits the
//! budget is retried at half the size, and the range size adapts to aim at a third of the
//! budget per statement.
//!
//! **Bulk load** (every plan with group keys, `summa_plan::sqlgen::bulk`): the version's
//! tables were registered empty and without indexes; a join's copies are filled in ranges of
//! their own tables' blocks, an eager join's partial groups from the fact's copy; the ranges
//! of the source append their groups and
//! values to session-local tables, which are then combined into the version's tables in
//! slices of about [`COMBINE_ROWS`] partial rows (scaled by the budget), and only then are
//! the indexes built: the work of `CREATE MATERIALIZED VIEW … WITH DATA` plus one sort per
//! index. A source of at most [`DIRECT_BLOCKS`] (scaled by the budget) is loaded in one
//! statement instead, straight into the version's tables (should that hit the budget, in
//! ranges). Should a combine slice or an index build still hit the budget, the version's load
//! is rolled back to its savepoint and done by the merge instead (below): slower, never
//! unbounded.
//!
//! **Merge** (a global aggregate, or the fallback): the indexes first, then each range merged
//! into the summary by the applier's own statement (`sqlgen::backfill_chunk`).
//!
//! Either way the whole load is in the backfill's one transaction: a crash or an error leaves
//! the registered, empty tables of a `backfilling` version, which `reap` removes; nothing is
//! half-built.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use summa_plan::sqlgen::{self, Target};
use summa_stream::RetryClass;
use tokio_postgres::Transaction;

use crate::create::{CreateOptions, Pending};
use crate::error::{db_message, CatalogError, DbContext};

/// Attempts at a backfill range that fails with a transient error other than the budget.
const BACKFILL_RETRIES: u32 = 3;

/// Partial rows combined per statement at the default 30 s budget (proportionally fewer
/// with a smaller one): about 3 s on the benchmark machine.
const COMBINE_ROWS: f64 = 1_000_000.0;

/// Sources up to this many heap blocks (128 MB) at the default 30 s budget (proportionally
/// fewer with a smaller one) are loaded in one statement: a few seconds on the benchmark
/// machine.
const DIRECT_BLOCKS: f64 = 16_384.0;

/// Backfill one version (`n`: its place in this backfill, naming its session-local tables);
/// returns the number of statements run.
pub(crate) async fn backfill_one(
    tx: &Transaction<'_>,
    p: &Pending,
    target: &Target,
    opts: &CreateOptions,
    progress: Option<&tokio_postgres::Client>,
    n: usize,
) -> Result<u64, CatalogError> {
    let label = format!("{} v{}", p.spec.name, p.version);
    tx.batch_execute(&p.plan.settings.set_local_sql())
        .await
        .ctx(|| format!("{label}: applying pinned settings"))?;
    let blocks: i64 = tx
        .query_one(&sqlgen::source_blocks(&p.plan), &[])
        .await
        .ctx(|| format!("{label}: sizing the source"))?
        .get(0);
    let load = Load {
        tx,
        p,
        target,
        opts,
        progress,
        label: &label,
        blocks,
        bar: progress_bar(opts, &label, blocks),
    };
    if sqlgen::bulk_loaded(&p.plan) {
        load.savepoint("SAVEPOINT summa_bulk").await?;
        match load.bulk(n).await {
            Ok(statements) => {
                load.savepoint("RELEASE SAVEPOINT summa_bulk").await?;
                load.bar.finish_and_clear();
                return Ok(statements);
            }
            Err(Failed::Budget(what)) => {
                load.savepoint("ROLLBACK TO SAVEPOINT summa_bulk").await?;
                tracing::warn!(view = %label, step = %what, "the bulk load stopped (statement budget, or keys it cannot slice); loading by merging ranges instead");
                load.bar.set_position(0);
            }
            Err(Failed::Error(err)) => return Err(err),
        }
    }
    let statements = load.merged().await?;
    load.bar.finish_and_clear();
    Ok(statements)
}

fn progress_bar(opts: &CreateOptions, label: &str, blocks: i64) -> ProgressBar {
    if !opts.show_progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(blocks.max(1) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {percent}% {pos}/{len} blocks, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("backfilling {label}"));
    bar
}

/// Why a bulk load stopped.
enum Failed {
    /// A step that cannot be split further hit the budget, or the groups cannot be sliced
    /// (named): load by merging instead.
    Budget(String),
    Error(CatalogError),
}

impl From<CatalogError> for Failed {
    fn from(err: CatalogError) -> Self {
        Failed::Error(err)
    }
}

/// One version's load, in the backfill's transaction.
struct Load<'a> {
    tx: &'a Transaction<'a>,
    p: &'a Pending,
    target: &'a Target,
    opts: &'a CreateOptions,
    progress: Option<&'a tokio_postgres::Client>,
    label: &'a str,
    blocks: i64,
    bar: ProgressBar,
}

impl Load<'_> {
    async fn savepoint(&self, sql: &str) -> Result<(), CatalogError> {
        self.tx
            .batch_execute(sql)
            .await
            .ctx(|| format!("{}: savepoint", self.label))
    }

    /// A statement doing `what` failed: over the budget it is [`Failed::Budget`].
    fn classify(&self, err: &tokio_postgres::Error, what: &str) -> Failed {
        if summa_stream::retry::is_statement_timeout(err) {
            return Failed::Budget(what.to_string());
        }
        Failed::Error(CatalogError::Invalid {
            view: self.label.to_string(),
            message: format!("{what} failed: {}", db_message(err)),
        })
    }

    /// Run `sql` on its own ([`Load::classify`] its failure).
    async fn step(&self, sql: &str, what: &str) -> Result<(), Failed> {
        self.tx
            .batch_execute(sql)
            .await
            .map_err(|err| self.classify(&err, what))
    }

    /// A join's copies of its inputs, as of the same snapshot as the summary, and an eager
    /// join's partial groups, from the fact's copy just filled.
    async fn fill_copies(&self) -> Result<u64, Failed> {
        let plan = &self.p.plan;
        let mut statements = 0;
        if plan.is_join() {
            for k in 0..plan.inputs.len() {
                let blocks: i64 = self
                    .tx
                    .query_one(&sqlgen::input_blocks(plan, k), &[])
                    .await
                    .ctx(|| {
                        format!(
                            "{}: sizing input {}",
                            self.label,
                            plan.inputs[k].qualified()
                        )
                    })?
                    .get(0);
                let (ranges, _) = self
                    .in_ranges(
                        blocks,
                        false,
                        &sqlgen::fill_copy(plan, self.target, k, true),
                        &sqlgen::fill_copy(plan, self.target, k, false),
                    )
                    .await?;
                statements += ranges;
            }
        }
        if let Some(sql) = sqlgen::fill_partials(plan, self.target) {
            self.step(&sql, "pre-aggregating the fact").await?;
            statements += 1;
        }
        Ok(statements)
    }

    async fn build_indexes(&self) -> Result<u64, Failed> {
        let stmts = sqlgen::create_indexes(&self.p.plan, self.target);
        for sql in &stmts {
            self.step(sql, "building an index").await?;
        }
        Ok(stmts.len() as u64)
    }

    /// The bulk load (module doc); returns the statements run.
    async fn bulk(&self, n: usize) -> Result<u64, Failed> {
        let plan = &self.p.plan;
        let mut statements = self.fill_copies().await?;
        let scale = self.opts.statement_budget.as_secs_f64() / 30.0;
        if self.blocks as f64 <= DIRECT_BLOCKS * scale {
            // A small source: the whole load in one statement, unless even that hits the
            // budget (then in ranges, below).
            self.savepoint("SAVEPOINT summa_direct").await?;
            match self
                .tx
                .execute(&sqlgen::bulk_direct(plan, self.target), &[&0i64])
                .await
            {
                Ok(_) => {
                    self.savepoint("RELEASE SAVEPOINT summa_direct").await?;
                    summa_failpoint::hit("catalog.backfill.chunk");
                    self.bar.set_position(self.blocks.max(0) as u64);
                    statements += 1 + self.build_indexes().await?;
                    tracing::debug!(view = %self.label, ranges = 0, slices = 0, "bulk load done in one statement");
                    return Ok(statements);
                }
                Err(err) => match self.classify(&err, "the backfill") {
                    Failed::Budget(_) => {
                        self.savepoint("ROLLBACK TO SAVEPOINT summa_direct").await?;
                        tracing::warn!(view = %self.label, "loading in one statement hit the budget; loading in ranges");
                    }
                    failed => return Err(failed),
                },
            }
        }
        for sql in sqlgen::bulk_tables(plan, n) {
            self.step(&sql, "creating the load's session tables")
                .await?;
        }
        let (ranges, partial_rows) = self
            .in_ranges(
                self.blocks,
                true,
                &sqlgen::bulk_chunk(plan, n, true),
                &sqlgen::bulk_chunk(plan, n, false),
            )
            .await?;
        statements += ranges;
        let per_slice = COMBINE_ROWS * scale;
        let slices = ((partial_rows as f64 / per_slice.max(1.0)).ceil() as i64).max(1);
        self.bar.set_message(format!("combining {}", self.label));
        let combine = sqlgen::bulk_combine(plan, self.target, n);
        for slice in 0..slices {
            match self.tx.execute(&combine, &[&slice, &slices]).await {
                Ok(_) => statements += 1,
                // A group key type without a hash function cannot be sliced.
                Err(err)
                    if slices > 1
                        && err.code()
                            == Some(&tokio_postgres::error::SqlState::UNDEFINED_FUNCTION) =>
                {
                    return Err(Failed::Budget(format!(
                        "slicing the groups ({}): load by merging instead",
                        db_message(&err)
                    )));
                }
                Err(err) => {
                    let what = format!(
                        "combining slice {} of {slices} ({partial_rows} partial rows)",
                        slice + 1
                    );
                    return Err(self.classify(&err, &what));
                }
            }
        }
        self.step(
            &sqlgen::drop_bulk_tables(plan, n),
            "dropping the load's session tables",
        )
        .await?;
        self.bar.set_message(format!("indexing {}", self.label));
        statements += self.build_indexes().await?;
        tracing::debug!(view = %self.label, ranges, partial_rows, slices, "bulk load done");
        Ok(statements)
    }

    /// The load by merging ranges (module doc); returns the statements run.
    async fn merged(&self) -> Result<u64, CatalogError> {
        let flatten = |failed: Failed| match failed {
            Failed::Budget(what) => CatalogError::Invalid {
                view: self.label.to_string(),
                message: format!(
                    "{what} ran past statement_budget_ms ({} ms); raise it for this backfill",
                    self.opts.statement_budget.as_millis()
                ),
            },
            Failed::Error(err) => err,
        };
        let mut statements = self.build_indexes().await.map_err(flatten)?;
        statements += self.fill_copies().await.map_err(flatten)?;
        let (ranges, _) = self
            .in_ranges(
                self.blocks,
                true,
                &sqlgen::backfill_chunk(&self.p.plan, self.target, true),
                &sqlgen::backfill_chunk(&self.p.plan, self.target, false),
            )
            .await?;
        Ok(statements + ranges)
    }

    /// Run `bounded` ($1, $2: a block range) or, for the last range, `unbounded` ($1 on) over
    /// a heap of `blocks` blocks (`shown`: the source's, on the progress bar and in `summa
    /// status`); returns the statements run and the sum of what they return when that is a
    /// count (an `int8` first column of a first row), else 0.
    async fn in_ranges(
        &self,
        blocks: i64,
        shown: bool,
        bounded: &str,
        unbounded: &str,
    ) -> Result<(u64, i64), CatalogError> {
        let label = self.label;
        let aim = self.opts.statement_budget / 3;
        let mut reported = Instant::now();
        let mut chunk: i64 = 1024;
        let mut start: i64 = 0;
        let mut statements = 0;
        let mut rows = 0;
        let mut retries = 0;
        loop {
            let last = start + chunk >= blocks;
            let began = Instant::now();
            self.savepoint("SAVEPOINT summa_chunk").await?;
            let result = if last {
                self.tx.query(unbounded, &[&start]).await
            } else {
                self.tx.query(bounded, &[&start, &(start + chunk)]).await
            };
            statements += 1;
            match result {
                Ok(returned) => {
                    self.savepoint("RELEASE SAVEPOINT summa_chunk").await?;
                    let count = returned.first().and_then(|r| r.try_get::<_, i64>(0).ok());
                    rows += count.unwrap_or(0);
                    summa_failpoint::hit("catalog.backfill.chunk");
                }
                // The statement hit the budget: the range was too big, halve it.
                Err(err) if summa_stream::retry::is_statement_timeout(&err) && chunk > 1 => {
                    self.savepoint("ROLLBACK TO SAVEPOINT summa_chunk").await?;
                    chunk = (chunk / 2).max(1);
                    tracing::warn!(view = %label, chunk, "backfill chunk hit the statement budget; halving");
                    continue;
                }
                // Another transient error (a lock wait, a deadlock): the same range again, a few times.
                Err(err)
                    if RetryClass::of_db(&err) == Some(RetryClass::Transient)
                        && !summa_stream::retry::is_statement_timeout(&err)
                        && retries < BACKFILL_RETRIES =>
                {
                    self.savepoint("ROLLBACK TO SAVEPOINT summa_chunk").await?;
                    retries += 1;
                    tracing::warn!(view = %label, attempt = retries, error = %db_message(&err), "backfill chunk failed; retrying it");
                    tokio::time::sleep(Duration::from_millis(100 << retries)).await;
                    continue;
                }
                Err(err) => {
                    let class = match RetryClass::of_db(&err) {
                        Some(RetryClass::Definite) => "",
                        _ => " (kept failing; try again later)",
                    };
                    return Err(CatalogError::Invalid {
                        view: label.to_string(),
                        message: format!(
                            "backfill of blocks from {start} failed{class}: {}",
                            db_message(&err)
                        ),
                    });
                }
            }
            retries = 0;
            if last {
                break;
            }
            if shown {
                self.bar.set_position((start + chunk) as u64);
            }
            // `summa status` shows the fraction done (written outside the backfill's transaction).
            let due = shown && reported.elapsed() >= Duration::from_secs(1);
            if let (Some(c), true) = (self.progress, due) {
                reported = Instant::now();
                let done = ((start + chunk) as f64 / blocks.max(1) as f64).min(1.0) as f32;
                let _ = c
                    .execute(
                        "INSERT INTO summa.backfill_progress (view_name, version, progress) VALUES ($1, $2, $3) \
                         ON CONFLICT (view_name, version) DO UPDATE SET progress = excluded.progress, updated_at = now()",
                        &[&self.p.spec.name, &self.p.version, &done],
                    )
                    .await;
            }
            start += chunk;
            let took = began.elapsed().max(Duration::from_millis(1));
            let scale = (aim.as_secs_f64() / took.as_secs_f64()).clamp(0.25, 4.0);
            chunk = ((chunk as f64 * scale) as i64).clamp(16, 1 << 22);
        }
        Ok((statements, rows))
    }
}
