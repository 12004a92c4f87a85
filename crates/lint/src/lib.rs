//! `summa lint`: a migration linter for materialized-view changes.
//!
//! This crate owns everything behind the `summa lint` subcommand: finding
//! migration files (`.sql`, Alembic and Django `.py`), pulling the SQL out of
//! them, splitting it into statements with the sqlparser tokenizer, parsing
//! each statement with sqlparser (PostgreSQL dialect), running the rules
//! (dropping and recreating a materialized view in one migration, populating
//! or refreshing one inside a migration, `CASCADE` drops, …), honouring
//! `summa-lint: allow` / `allow-file` suppressions, `--exclude` and the
//! `[lint]` table of `summa.toml`, and rendering the findings as human text,
//! JSON, GitHub annotations, SARIF or GitLab Code Quality. It also extracts
//! every `summa.define(name, select)` call ([`DefineCall`]) so that a caller
//! with a database can plan the SELECT and report `define-unmaintainable`
//! ([`run_with`], [`lint_paths_with`]); this crate itself never connects to
//! one. The `summa` CLI wires [`LintArgs`] and [`run_with`] into its
//! subcommand list.
//!
//! Rules, suppressions and configuration are documented in `docs/lint.md`.

mod classify;
mod config;
mod define;
mod engine;
mod error;
mod finding;
mod glob;
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
pub use define::DefineCall;
pub use engine::DefineCheck;
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
    /// GitLab Code Quality report (a JSON array of issues).
    Gitlab,
}

/// The formats to print when `--format` is `format`: the one given, or
/// human text, followed by GitHub annotations when running in GitHub
/// Actions (`github_actions`: `GITHUB_ACTIONS=true`).
pub fn formats(format: Option<Format>, github_actions: bool) -> Vec<Format> {
    match format {
        Some(f) => vec![f],
        None if github_actions => vec![Format::Human, Format::Github],
        None => vec![Format::Human],
    }
}

/// Whether the environment is a GitHub Actions job.
pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
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
    /// Output format (default: human; in GitHub Actions, `GITHUB_ACTIONS=true`,
    /// human followed by GitHub annotations).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// `--deny warnings` turns warnings into errors.
    #[arg(long, value_enum)]
    pub deny: Vec<DenyLevel>,
    /// Skip paths matching this glob (repeatable; also `exclude = [...]` in
    /// the `[lint]` table), e.g. `migrations/legacy/**`, `**/*_old.sql`.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Config file with a `[lint]` table (default: ./summa.toml if it exists).
    /// Set from the `summa` command's global `--config`.
    #[arg(skip)]
    pub config: Option<PathBuf>,
}

/// Runs `summa lint`: loads the config, lints `args.paths`, writes the report
/// to `out` and returns the exit code (1 if any finding is an error, else 0).
pub fn run(args: &LintArgs, out: &mut dyn Write) -> Result<i32, LintError> {
    run_with(args, out, &mut |_| Ok(None))
}

/// [`run`], asking `check` about every `summa.define` call that is not
/// suppressed (see [`DefineCheck`]).
pub fn run_with(
    args: &LintArgs,
    out: &mut dyn Write,
    check: &mut DefineCheck<'_>,
) -> Result<i32, LintError> {
    let mut config = match &args.config {
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
    for pattern in &args.exclude {
        config
            .exclude(pattern)
            .map_err(|message| LintError::Exclude {
                pattern: pattern.clone(),
                message,
            })?;
    }
    let mut report = lint_paths_with(&args.paths, &config, check)?;
    if args.deny.contains(&DenyLevel::Warnings) {
        report.deny_warnings();
    }
    for format in formats(args.format, in_github_actions()) {
        render(&report, format, out).map_err(LintError::Output)?;
    }
    Ok(report.exit_code())
}

/// Lints the given files and directories as one run: each file is one
/// migration, files are taken in sorted order. `summa.define` calls are
/// listed in [`Report::defines`], not checked.
pub fn lint_paths(paths: &[PathBuf], config: &LintConfig) -> Result<Report, LintError> {
    lint_paths_with(paths, config, &mut |_| Ok(None))
}

/// [`lint_paths`], asking `check` about every `summa.define` call that is
/// not suppressed; its messages become `define-unmaintainable` findings at
/// the call.
pub fn lint_paths_with(
    paths: &[PathBuf],
    config: &LintConfig,
    check: &mut DefineCheck<'_>,
) -> Result<Report, LintError> {
    let files = walk::collect(paths, config)?;
    engine::lint_files(&files, config, check)
}
