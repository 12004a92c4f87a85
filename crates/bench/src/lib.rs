//! summa-bench: the benchmark harness (`summa-bench`, also run as `summa bench`). It owns
//! every figure of docs/benchmarks.md: the scenarios, the floor they are compared with, the
//! statistics, the report and its plots (plotters lives here, not in the sidecar). It measures
//! the real `summa` binary as a child process and reads that sidecar's figures through its
//! supported interfaces only: `/metrics` (batches, batch durations) and the catalog
//! (`summa.streams`: applied position, lag).
//!
//! One run, on a private Postgres (or `--database-url`), writes `report.md`, `results.json`
//! and plots into a results directory.
//!
//! Flow: for each table size N (ascending; the table only grows), each view is measured alone
//! on its stream: time to fresh after a committed change batch of K rows against REFRESH and
//! REFRESH CONCURRENTLY of the same SELECT, and against the floor measured in the same run
//! (a bare slot drain of the same transaction + one upsert of its distinct groups). At the
//! first N the scenarios that need V1 and V2 live together follow, with the sidecar as a child
//! process so its CPU and memory are its own: sustained writers, the decode ceiling, one bulk
//! transaction, writer overhead (pgbench). Last, TPC-H ([`tpch`]: its own tables, seven of its
//! queries as views, its refresh functions as workload). Every view is verified against its SELECT after it
//! was measured: a benchmark of a wrong result is worthless, and the run fails.
//!
//! Ratios compare figures of one run on one machine; absolute figures move with its load.

mod changes;
mod drain;
mod floor;
mod fresh;
mod join;
mod machine;
mod options;
mod overhead;
mod plots;
mod report;
mod results;
mod scrape;
mod sidecar;
mod stats;
mod sustained;
mod tail;
mod tpch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use summa_catalog::ViewSpec;
use summa_cli::config::Config;

pub use options::{BenchArgs, Options, Scenario};
use results::{Results, Verified};
use summa_cli::workload;

pub const SCHEMA: &str = "summa_bench";

/// One view of the reference workload as the bench measures it.
#[derive(Debug, Clone, Copy)]
pub struct BenchView {
    /// V1, V2, V3.
    pub label: &'static str,
    pub name: &'static str,
    pub sql: &'static str,
    /// Group key columns of the SELECT's output (the materialized view's unique index).
    pub keys: &'static str,
}

pub const VIEWS: [BenchView; 2] = [
    BenchView {
        label: "V1",
        name: "bench_v1",
        sql: workload::V1,
        keys: "customer_id",
    },
    BenchView {
        label: "V2",
        name: "bench_v2",
        sql: workload::V2,
        keys: "day, status",
    },
];

/// V3, the join with `regions` (its own scenario, [`join`]).
pub const JOIN_VIEW: BenchView = BenchView {
    label: "V3",
    name: "bench_v3",
    sql: workload::V3,
    keys: "name",
};

/// What every scenario needs.
/// A version's backfill beside the materialized view of the same SELECT.
#[derive(Debug, Clone, Copy)]
pub struct Backfill {
    /// `summa create` of the version (plan, slot, backfill, indexes, ANALYZE).
    pub summa_s: f64,
    /// `CREATE MATERIALIZED VIEW … WITH DATA`, its unique index and ANALYZE.
    pub mv_s: f64,
}

pub struct Ctx {
    pub conn: summa_stream::ConnInfo,
    /// The database URL (for child processes: the sidecar, pgbench, pg_recvlogical).
    pub url: String,
    pub client: tokio_postgres::Client,
    pub config: Config,
    /// How the child sidecars are started (binary, summa.toml).
    pub sidecar: sidecar::Launch,
    pub opts: Options,
    pub out: PathBuf,
    pub metrics: Arc<summa_apply::Metrics>,
    /// Directory of the PostgreSQL client programs (pgbench, pg_recvlogical).
    pub pg_bin: Option<PathBuf>,
    pub results: Results,
}

impl Ctx {
    pub fn create_options(&self) -> summa_catalog::CreateOptions {
        let mut o = self.config.create_options();
        o.schema = SCHEMA.into();
        o.show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        o
    }

    /// Create summa versions of `views` with `opts` (one stream, one snapshot).
    pub async fn create_with(
        &mut self,
        views: &[BenchView],
        opts: &summa_catalog::CreateOptions,
    ) -> anyhow::Result<Vec<summa_catalog::CreatedVersion>> {
        let specs: Vec<ViewSpec> = views
            .iter()
            .map(|v| ViewSpec {
                name: v.name.into(),
                sql: v.sql.into(),
            })
            .collect();
        Ok(summa_catalog::create_views(&self.conn, &mut self.client, &specs, opts).await?)
    }

    /// Create summa versions of `views` (one stream, one snapshot); returns their versions.
    pub async fn create(&mut self, views: &[BenchView]) -> anyhow::Result<Vec<(BenchView, i32)>> {
        let opts = self.create_options();
        let created = self.create_with(views, &opts).await?;
        Ok(views
            .iter()
            .zip(&created)
            .map(|(v, c)| (*v, c.version))
            .collect())
    }

    /// With every earlier bench view dropped: `view` as the materialized view REFRESH is
    /// timed on (`bench_mv`, indexed on its keys), and as a summa version; returns the
    /// version, its backfill time (the whole `summa create`) and the materialized view's
    /// (`CREATE MATERIALIZED VIEW … WITH DATA`, its unique index and ANALYZE), in seconds.
    pub async fn create_beside_refresh(
        &mut self,
        view: BenchView,
    ) -> anyhow::Result<(i32, Backfill)> {
        self.drop_views().await?;
        let s = spinner(&format!("{}: CREATE MATERIALIZED VIEW", view.label));
        let mv_started = std::time::Instant::now();
        self.client
            .batch_execute(&format!(
                "CREATE MATERIALIZED VIEW {SCHEMA}.bench_mv AS {sql}; \
                 CREATE UNIQUE INDEX ON {SCHEMA}.bench_mv ({keys}); \
                 ANALYZE {SCHEMA}.bench_mv",
                sql = view.sql,
                keys = view.keys
            ))
            .await?;
        let mv_s = mv_started.elapsed().as_secs_f64();
        s.finish_and_clear();
        let created = std::time::Instant::now();
        let version = self.create(&[view]).await?[0].1;
        let summa_s = created.elapsed().as_secs_f64();
        println!(
            "{}: backfill {summa_s:.2} s, CREATE MATERIALIZED VIEW {mv_s:.2} s ({:.2}×)",
            view.label,
            summa_s / mv_s.max(1e-9)
        );
        Ok((version, Backfill { summa_s, mv_s }))
    }

    /// Drop every bench view (summa versions, the materialized view, floor tables).
    pub async fn drop_views(&mut self) -> anyhow::Result<()> {
        for v in VIEWS.iter().chain([&JOIN_VIEW]) {
            self.drop_view(v.name).await?;
        }
        self.client
            .batch_execute(&format!(
                "DROP MATERIALIZED VIEW IF EXISTS {SCHEMA}.bench_mv; \
                 DROP TABLE IF EXISTS {SCHEMA}.floor_v1, {SCHEMA}.floor_v2"
            ))
            .await?;
        Ok(())
    }

    /// Apply everything written (a child sidecar until its streams pass a commit marker), then
    /// verify each of `created` against its SELECT.
    pub async fn apply_and_verify(
        &mut self,
        created: Vec<(BenchView, i32)>,
        when: &str,
    ) -> anyhow::Result<()> {
        let child = self.start_child().await?;
        let marker = sidecar::commit_marker(&self.client).await?;
        sidecar::wait_streams(&self.client, marker, Duration::from_secs(900)).await?;
        for (view, version) in created {
            self.verify(view, version, when).await?;
        }
        child.stop().await
    }

    /// Drop one summa view (every version), retrying while its slot is still held.
    pub async fn drop_view(&mut self, name: &str) -> anyhow::Result<()> {
        let mut attempt = 0;
        // A just-stopped sidecar's walsender may hold the slot for a moment.
        while let Err(err) = summa_catalog::drop_view(&mut self.client, name).await {
            attempt += 1;
            if attempt > 40 {
                return Err(err.into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }

    /// Verify a version against its SELECT; records the outcome.
    pub async fn verify(
        &mut self,
        view: BenchView,
        version: i32,
        when: &str,
    ) -> anyhow::Result<()> {
        let spin = spinner(&format!("verifying {} ({when})", view.label));
        let (plan, table) = summa_cli::load_plan(&self.client, view.name, version).await?;
        let report = summa_catalog::verify_version_in_chunks(
            &mut self.client,
            &plan,
            &table,
            self.config.verify_chunk_groups,
        )
        .await?;
        let groups: i64 = self
            .client
            .query_one(&format!("SELECT count(*) FROM {}", table.table()), &[])
            .await?
            .get(0);
        spin.finish_and_clear();
        let equal = report.is_equal();
        println!(
            "  verify {} ({when}): {}",
            view.label,
            if equal {
                format!("equal to its SELECT ({groups} groups)")
            } else {
                format!("{} DIFFERING rows", report.differences.len())
            }
        );
        self.results.verified.push(Verified {
            view: view.label.into(),
            when: when.into(),
            groups,
            equal,
            differences: report
                .differences
                .iter()
                .take(10)
                .map(|(side, row)| format!("{side}: {row}"))
                .collect(),
        });
        Ok(())
    }

    /// Start `summa run` as a child (see [`sidecar::Child`]).
    pub async fn start_child(&self) -> anyhow::Result<sidecar::Child> {
        sidecar::Child::start(&self.sidecar, &self.url, &self.out, &self.client).await
    }

    /// A bare slot's name: per database, as slots are per cluster.
    pub fn slot(&self, kind: &str) -> String {
        let db: String = self
            .conn
            .database()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = format!("summa_bench_{kind}_{db}");
        name.truncate(63);
        name
    }

    pub async fn row_count(&self) -> anyhow::Result<u64> {
        let n: i64 = self
            .client
            .query_one(&format!("SELECT count(*) FROM {SCHEMA}.orders"), &[])
            .await?
            .get(0);
        Ok(n as u64)
    }
}

pub fn spinner(msg: &str) -> ProgressBar {
    let s = ProgressBar::new_spinner();
    s.set_style(
        ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    s.set_message(msg.to_string());
    s.enable_steady_tick(Duration::from_millis(200));
    s
}

pub fn bar(len: u64, msg: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template("  [{bar:30}] {pos}/{len} {msg}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_message(msg.to_string());
    b
}

/// Grow `orders` to `n` rows (it never shrinks), with a progress bar.
async fn grow_to(ctx: &mut Ctx, n: u64) -> anyhow::Result<()> {
    let have = ctx.row_count().await?;
    if have < n {
        println!("loading {} orders (table: {have} → {n})…", n - have);
        let b = bar(n - have, "orders");
        workload::load(&ctx.client, SCHEMA, n - have, 250_000, |done| {
            b.set_position(done)
        })
        .await?;
        b.finish_and_clear();
    }
    let s = spinner("VACUUM ANALYZE orders");
    ctx.client
        .batch_execute(&format!("VACUUM ANALYZE {SCHEMA}.orders"))
        .await?;
    s.finish_and_clear();
    Ok(())
}

/// Server settings of the private cluster the bench starts: those of
/// shared/research/perf-anchors.md (shared_buffers 1GB, fsync and full_page_writes on), so the
/// targets derived there compare like with like.
const BENCH_SERVER_SETTINGS: &[(&str, &str)] = &[
    ("shared_buffers", "'1GB'"),
    ("fsync", "on"),
    ("full_page_writes", "on"),
];

/// The command line: summa's global options, then [`BenchArgs`] (those of `summa bench`).
#[derive(Parser, Debug)]
#[command(
    name = "summa-bench",
    version,
    about = "Benchmark summa against REFRESH (and pg_ivm where installed): time to fresh, \
             growth, sustained load, writer overhead, bulk memory, decode ceiling; writes a \
             report (docs/benchmarks.md)"
)]
pub struct Cli {
    /// Config file of the measured sidecar (default: ./summa.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Target database URL (also DATABASE_URL); default: a private PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Log filter, e.g. `info` or `summa_apply=debug` (also RUST_LOG).
    #[arg(long)]
    log: Option<String>,
    /// The `summa` binary to measure (default: `summa` next to this executable).
    #[arg(long, env = "SUMMA_BIN")]
    summa_bin: Option<PathBuf>,
    #[command(flatten)]
    bench: BenchArgs,
}

/// Entry point of the `summa-bench` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    let filter = cli
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let launch = match sidecar::Launch::resolve(cli.summa_bin, cli.config) {
        Ok(l) => l,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let url = cli.database_url.or(config.database_url.clone());
    match runtime.block_on(run(cli.bench, url, config, launch)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    args: BenchArgs,
    url: Option<String>,
    config: Config,
    sidecar: sidecar::Launch,
) -> anyhow::Result<ExitCode> {
    let (opts, out) = Options::resolve(args)?;
    let started = std::time::Instant::now();
    let (date, stamp) = machine::utc_now();
    let out = out.unwrap_or_else(|| PathBuf::from("bench-results").join(&stamp));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let (url, private) = match url {
        Some(url) => (url, None),
        None => {
            println!("starting a private PostgreSQL (no --database-url given)…");
            let pg = tokio::task::spawn_blocking(|| {
                summa_localpg::LocalPostgres::start_with(BENCH_SERVER_SETTINGS)
            })
            .await??;
            println!("  listening on 127.0.0.1:{} (removed at exit)", pg.port());
            (pg.url("postgres"), Some(pg))
        }
    };
    let conn = summa_stream::ConnInfo::parse(&url)?;
    let client = conn.connect("summa-bench").await?;
    summa_catalog::install(&client).await?;
    let pg_bin = match &private {
        Some(pg) => Some(pg.bin_dir().to_path_buf()),
        None => summa_localpg::installed_bin_dir().ok(),
    };
    let machine = machine::Machine::read(&client, private.is_some()).await?;
    let mut ctx = Ctx {
        conn,
        url,
        client,
        config,
        sidecar,
        opts: opts.clone(),
        out: out.clone(),
        metrics: Arc::new(summa_apply::Metrics::default()),
        pg_bin,
        results: Results::new(date, machine, opts.clone()),
    };
    println!(
        "# summa bench{} → {}",
        if opts.quick { " --quick" } else { "" },
        out.display()
    );
    let outcome = run_scenarios(&mut ctx).await;
    ctx.results.elapsed_s = started.elapsed().as_secs_f64();
    ctx.results.machine.load_end = machine::loadavg();
    if let Err(err) = &outcome {
        ctx.results
            .notes
            .push(format!("the run stopped early: {err:#}"));
    }
    finish(&mut ctx).await?;
    outcome?;
    let failed = ctx.results.verified.iter().filter(|v| !v.equal).count();
    println!(
        "wrote {} ({:.0} s)",
        out.join("report.md").display(),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        eprintln!("error: {failed} verification(s) failed: the figures are not valid");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_scenarios(ctx: &mut Ctx) -> anyhow::Result<()> {
    ctx.drop_views().await?;
    workload::create_schema(&ctx.client, SCHEMA).await?;
    ctx.client
        .batch_execute(&format!(
            "DROP PUBLICATION IF EXISTS {pub_}; CREATE PUBLICATION {pub_} FOR TABLE {SCHEMA}.orders; \
             SET search_path = {SCHEMA}, public",
            pub_ = drain::PUBLICATION
        ))
        .await?;
    if ctx.opts.wants_orders() {
        run_orders_scenarios(ctx).await?;
    }
    if ctx.opts.wants(Scenario::Tpch) {
        println!("## TPC-H at SF {}", ctx.opts.tpch_sf);
        tpch::run(ctx).await?;
    }
    ctx.drop_views().await?;
    Ok(())
}

/// The scenarios of the reference workload (`orders`, `regions`).
async fn run_orders_scenarios(ctx: &mut Ctx) -> anyhow::Result<()> {
    let plan = ctx.opts.plan();
    let tail_at = ctx.opts.tail_rows();
    let mut tail_done = !ctx.opts.wants_tail();
    for (n, ks) in plan {
        if !tail_done && n > tail_at {
            grow_to(ctx, tail_at).await?;
            tail::run(ctx).await?;
            tail_done = true;
        }
        grow_to(ctx, n).await?;
        if !ks.is_empty() {
            let actual = ctx.row_count().await?;
            println!("## time to fresh at N = {actual} (K = {ks:?})");
            for view in VIEWS {
                fresh::run_view(ctx, view, actual, &ks).await?;
            }
        }
        if !tail_done && n == tail_at {
            tail::run(ctx).await?;
            tail_done = true;
        }
    }
    if ctx.opts.wants(Scenario::Join) {
        let n = ctx.row_count().await?;
        println!("## the join V3 at N = {n}");
        join::run(ctx, JOIN_VIEW, n).await?;
    }
    if !tail_done {
        grow_to(ctx, tail_at).await?;
        tail::run(ctx).await?;
    }
    Ok(())
}

/// Write results.json, the plots and report.md.
async fn finish(ctx: &mut Ctx) -> anyhow::Result<()> {
    let plots = plots::draw_all(&ctx.results, &ctx.out);
    match plots {
        Ok((files, note)) => {
            ctx.results.plots = files;
            if let Some(note) = note {
                ctx.results.notes.push(note);
            }
        }
        Err(err) => ctx.results.notes.push(format!("plots failed: {err:#}")),
    }
    write(
        &ctx.out.join("results.json"),
        &serde_json::to_string_pretty(&ctx.results)?,
    )?;
    write(&ctx.out.join("report.md"), &report::render(&ctx.results))?;
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
