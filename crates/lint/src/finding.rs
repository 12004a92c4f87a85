//! Findings, severities and the report of one run.

use serde::Serialize;

use crate::define::DefineCall;
use crate::rules::Rule;

/// How serious a finding is. Only errors make the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the run.
    Error,
    /// Reported; fails the run only with `--deny warnings`.
    Warning,
    /// Informational (e.g. SQL the linter could not see).
    Note,
}

impl Severity {
    /// Lower-case name as printed in every format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One problem at one place. Lines and columns are 1-based, columns count
/// characters; `end_line`/`end_column` point just past the reported range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Path as given on the command line (relative paths stay relative).
    pub file: String,
    /// Line of the start of the range.
    pub line: usize,
    /// Column of the start of the range.
    pub column: usize,
    /// Line of the end of the range.
    pub end_line: usize,
    /// Column just past the end of the range.
    pub end_column: usize,
    /// Rule id, e.g. `drop-recreate-matview`.
    pub rule: Rule,
    /// Effective severity after config and `--deny`.
    pub severity: Severity,
    /// What is wrong and why it matters.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// The source line at `line` (for the human format).
    #[serde(skip)]
    pub source_line: String,
}

/// Findings of one run, in file order, then position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// All findings that were not suppressed or switched off.
    pub findings: Vec<Finding>,
    /// How many migration files were linted.
    pub files_checked: usize,
    /// Every `summa.define(name, select)` call with literal arguments, in
    /// file order, then position (suppressed ones included).
    pub defines: Vec<DefineCall>,
}

impl Report {
    /// `--deny warnings`: every warning becomes an error.
    pub fn deny_warnings(&mut self) {
        for f in &mut self.findings {
            if f.severity == Severity::Warning {
                f.severity = Severity::Error;
            }
        }
    }

    /// Number of findings with the given severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// 1 if any finding is an error, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.count(Severity::Error) > 0)
    }
}
