//! `summa lint`: a migration linter for materialized-view changes.
//!
//! This crate owns everything behind the `summa lint` subcommand: finding
//! migration files (`.sql`, Alembic and Django `.py`), pulling the SQL out of
//! them, splitting it into statements with the sqlparser tokenizer, parsing
//! each statement with sqlparser (PostgreSQL dialect), running the rules
//! (dropping and recreating a materialized view in one migration, populating
//! or refreshing one inside a migration, `CASCADE` drops, …), honouring
//! `summa-lint: allow` suppressions and the `[lint]` table of `summa.toml`,
//! and rendering the findings as human text, JSON, GitHub annotations or
//! SARIF. The `summa` CLI only wires [`LintArgs`] and [`run`] into its
//! subcommand list.
//!
//! Rules, suppressions and configuration are documented in `docs/lint.md`.

mod classify;
mod config;
mod engine;
mod error;
mod finding;
mod python;
mod render;
mod rules;
mod source;
mod split;
mod srcmap;
mod suppress;
mod walk;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use config::{Level, LintConfig};
pub use error::LintError;
pub use finding::{Finding, Report, Severity};
pub use render::render;
pub use rules::Rule;

/// Output format of `summa lint`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `file:line:col`, the source line with a caret, the message and the fix.
    Human,
    /// A stable JSON array of findings.
    Json,
    /// GitHub Actions workflow commands (`::error file=…`), shown as annotations.
    Github,
    /// SARIF 2.1.0, for code-scanning uploads.
    Sarif,
}

/// What `--deny` may turn into errors.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyLevel {
    /// Treat every warning as an error (exit code 1).
    Warnings,
}

/// Arguments of `summa lint`.
#[derive(clap::Args, Debug, Clone)]
pub struct LintArgs {
    /// Migration files or directories (walked recursively: `.sql`, and `.py`
    /// files that call `op.execute` or `RunSQL`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// `--deny warnings` turns warnings into errors.
    #[arg(long, value_enum)]
    pub deny: Vec<DenyLevel>,
    /// Config file with a `[lint]` table (default: ./summa.toml if it exists).
    /// Set from the `summa` command's global `--config`.
    #[arg(skip)]
    pub config: Option<PathBuf>,
}

/// Runs `summa lint`: loads the config, lints `args.paths`, writes the report
/// to `out` and returns the exit code (1 if any finding is an error, else 0).
pub fn run(args: &LintArgs, out: &mut dyn Write) -> Result<i32, LintError> {
    let config = match &args.config {
        Some(path) => LintConfig::load(path)?,
        None => {
            let default = Path::new("summa.toml");
            if default.is_file() {
                LintConfig::load(default)?
            } else {
                LintConfig::default()
            }
        }
    };
    let mut report = lint_paths(&args.paths, &config)?;
    if args.deny.contains(&DenyLevel::Warnings) {
        report.deny_warnings();
    }
    render(&report, args.format, out).map_err(LintError::Output)?;
    Ok(report.exit_code())
}

/// Lints the given files and directories as one run: each file is one
/// migration, files are taken in sorted order.
pub fn lint_paths(paths: &[PathBuf], config: &LintConfig) -> Result<Report, LintError> {
    let files = walk::collect(paths)?;
    engine::lint_files(&files, config)
}
