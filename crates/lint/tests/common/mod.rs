//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use summa_lint::{lint_paths, LintConfig, Report, Severity};

/// Path of a fixture, relative to the crate (cargo runs tests there).
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from("tests/fixtures").join(rel)
}

/// Lints fixtures with the default config.
pub fn lint(rels: &[&str]) -> Report {
    lint_with(rels, &LintConfig::default())
}

pub fn lint_with(rels: &[&str], config: &LintConfig) -> Report {
    let paths: Vec<PathBuf> = rels.iter().map(|r| fixture(r)).collect();
    lint_paths(&paths, config).expect("fixtures are readable")
}

/// (file name, line, column, rule id, severity) of every finding.
pub fn hits(report: &Report) -> Vec<(String, usize, usize, &'static str, Severity)> {
    report
        .findings
        .iter()
        .map(|f| {
            let name = f.file.rsplit('/').next().unwrap_or(&f.file).to_string();
            (name, f.line, f.column, f.rule.id(), f.severity)
        })
        .collect()
}

/// Findings of one rule as (file name, line, column).
pub fn of_rule(report: &Report, rule: &str) -> Vec<(String, usize, usize)> {
    hits(report)
        .into_iter()
        .filter(|h| h.3 == rule)
        .map(|h| (h.0, h.1, h.2))
        .collect()
}

pub fn at(file: &str, line: usize, col: usize) -> (String, usize, usize) {
    (file.to_string(), line, col)
}
