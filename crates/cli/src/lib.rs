//! The `summa` command. It only orchestrates: planning, streaming, applying and the catalog
//! live in their own crates.

mod bench;
mod commands;
pub mod config;
mod declare;
mod demo;
mod http;
mod lifecycle;
mod lint;
mod setup;
mod tunables;
pub mod workload;

pub use demo::load_plan;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "summa",
    version,
    about = "Keeps PostgreSQL summary tables fresh incrementally from the WAL"
)]
pub struct Cli {
    /// Config file (default: ./summa.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Target database URL (also DATABASE_URL).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Log filter, e.g. `info` or `summa_apply=debug` (also RUST_LOG).
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a private Postgres (unless --database-url), load the reference workload, keep
    /// two summaries fresh under a live writer, then verify them.
    Demo(demo::DemoArgs),
    /// Create a new version of a summary view and backfill it.
    Create(commands::CreateArgs),
    /// Compare a directory of view files (NAME.sql) with the catalog; exit code 2 on changes.
    Plan(declare::PlanArgs),
    /// Define every new or changed view of a directory (summa.define; safe to re-run).
    Apply(declare::ApplyArgs),
    /// Run the sidecar: keep every live version fresh until SIGINT/SIGTERM.
    Run,
    /// Show every version: state, lag, table to query.
    Status(commands::StatusArgs),
    /// Compare a version with its SELECT on the source; exit code 1 on any difference.
    Verify(commands::VerifyArgs),
    /// Drop a view (alias, every version, slots no longer needed), or one version with --version.
    Drop(commands::DropArgs),
    /// Serve a live version through the alias view (one short transaction).
    Promote(lifecycle::PromoteArgs),
    /// Stop maintaining a version; `gc` drops it after the retention.
    Retire(lifecycle::RetireArgs),
    /// Drop retired versions past their retention and streams nothing uses.
    Gc,
    /// Recompute a view into a new version from its source (drift, TRUNCATE, lost slot).
    Rebuild(lifecycle::RebuildArgs),
    /// Benchmark against REFRESH (and pg_ivm where installed): time to fresh, growth, sustained
    /// load, writer overhead, bulk memory, decode ceiling; writes a report (docs/benchmarks.md).
    /// Runs the summa-bench binary next to this one (`summa bench --help` lists its options).
    Bench(bench::BenchArgs),
    /// Lint migrations for materialized-view changes that break readers (docs/lint.md); with
    /// --database-url on the command line (DATABASE_URL alone is ignored here), also plan every
    /// summa.define SELECT.
    Lint(summa_lint::LintArgs),
    /// Print every summa.toml key with its default, as a commented summa.toml.
    Config,
    /// Print the role, grants and publication a DBA runs for least-privilege operation.
    Setup(setup::SetupArgs),
}

/// Logs go to stderr; colour codes only when it is a terminal (a log file or a pipe into a
/// collector gets plain text) and `NO_COLOR` is unset.
fn init_logging(filter: Option<&str>, default: &str, json: bool) {
    use std::io::IsTerminal;
    let filter = filter
        .map(str::to_string)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default.to_string());
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Entry point of the `summa` binary.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let url_on_command_line = url_given_on_command_line(&matches);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let cli = match cli.command {
        Command::Bench(args) => {
            let globals = bench::Globals {
                config: cli.config,
                database_url: cli.database_url,
                log: cli.log,
            };
            return bench::run(args, globals).unwrap_or_else(|err| {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            });
        }
        _ => cli,
    };
    if let Command::Lint(args) = &cli.command {
        let url = cli.database_url.clone().filter(|_| url_on_command_line);
        return lint::lint(args.clone(), cli.config.clone(), url);
    }
    let config = match config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    let quiet_default = matches!(cli.command, Command::Demo(_));
    init_logging(
        cli.log.as_deref(),
        if quiet_default { "warn" } else { "info" },
        config.log_format == "json",
    );
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
    let url = cli.database_url.clone().or(config.database_url.clone());
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args, url, &config).await,
            Command::Create(args) => commands::create(args, url, &config).await,
            Command::Plan(args) => declare::plan(args, url, &config).await,
            Command::Apply(args) => declare::apply(args, url, &config).await,
            Command::Run => commands::run(url, &config).await,
            Command::Status(args) => commands::status(args, url, &config).await,
            Command::Verify(args) => commands::verify(args, url, &config).await,
            Command::Drop(args) => commands::drop(args, url, &config).await,
            Command::Promote(args) => lifecycle::promote(args, url, &config).await,
            Command::Retire(args) => lifecycle::retire(args, url, &config).await,
            Command::Gc => lifecycle::gc(url, &config).await,
            Command::Rebuild(args) => lifecycle::rebuild(args, url, &config).await,
            Command::Lint(_) | Command::Bench(_) => {
                unreachable!("handled before the runtime starts")
            }
            Command::Setup(args) => setup::setup(args, url, &config),
            Command::Config => {
                print!("{}", tunables::defaults_toml());
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `--database-url` was given on the command line (not only through DATABASE_URL),
/// before or after the subcommand.
fn url_given_on_command_line(matches: &clap::ArgMatches) -> bool {
    let given =
        |m: &clap::ArgMatches| m.value_source("database_url") == Some(ValueSource::CommandLine);
    given(matches) || matches.subcommand().is_some_and(|(_, sub)| given(sub))
}
