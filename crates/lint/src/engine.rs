//! Runs the pipeline over the files of one run: read, extract SQL, split,
//! classify, check, suppress, configure.

use std::path::{Component, Path, PathBuf};

use crate::classify::classify;
use crate::config::LintConfig;
use crate::error::LintError;
use crate::finding::{Finding, Report, Severity};
use crate::rules::{check_file, Hit, Rule, RunState, Stmt, StmtProblem};
use crate::source::{self, Chunk, Kind, Part};
use crate::split::split;
use crate::srcmap::Pos;

/// Lints `files` in order as one run.
pub(crate) fn lint_files(files: &[PathBuf], config: &LintConfig) -> Result<Report, LintError> {
    let mut report = Report::default();
    let mut state = RunState::default();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| LintError::Read {
            path: path.clone(),
            source,
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let kind = Kind::of(path);
        if kind == Kind::Python && !source::python_has_sql(text) {
            continue;
        }
        report.files_checked += 1;
        let file = display_path(path);
        let mut findings = lint_text(&file, text, kind, config, &mut state);
        findings.sort_by_key(|f| (f.line, f.column, f.rule));
        report.findings.extend(findings);
    }
    Ok(report)
}

/// A statement with the rules suppressed for it.
struct Located {
    stmt: Stmt,
    allows: Vec<String>,
}

fn lint_text(
    file: &str,
    text: &str,
    kind: Kind,
    config: &LintConfig,
    state: &mut RunState,
) -> Vec<Finding> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut emit = |rule: Rule, default: Severity, start: Pos, end: Pos, message: String| {
        if let Some(severity) = config.effective(rule, default) {
            let source_line = lines
                .get(start.line.saturating_sub(1))
                .map(|l| l.trim_end_matches('\r').to_string())
                .unwrap_or_default();
            out.push(Finding {
                file: file.to_string(),
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                rule,
                severity,
                message,
                help: rule.help(),
                source_line,
            });
        }
    };

    let mut located = Vec::new();
    for part in source::extract(kind, text) {
        match part {
            Part::Chunk(chunk) => located.extend(statements(&chunk)),
            Part::Skipped(s) => {
                let rule = Rule::UnlintedPythonSql;
                if !allowed(&s.allows, rule) {
                    emit(
                        rule,
                        rule.default_severity(),
                        s.start,
                        s.end,
                        format!("SQL argument is {}, so summa-lint cannot check it", s.what),
                    );
                }
            }
        }
    }
    let stmts: Vec<Stmt> = located.iter().map(|l| l.stmt.clone()).collect();
    for Hit {
        rule,
        severity,
        start,
        end,
        message,
        stmt,
    } in check_file(&stmts, state)
    {
        let suppressed = located.get(stmt).is_some_and(|l| allowed(&l.allows, rule));
        if !suppressed {
            emit(rule, severity, start, end, message);
        }
    }
    out
}

fn allowed(allows: &[String], rule: Rule) -> bool {
    allows.iter().any(|a| a == rule.id())
}

/// Splits and classifies one SQL text, mapping positions to the file.
fn statements(chunk: &Chunk) -> Vec<Located> {
    let parts = split(&chunk.sql);
    parts
        .statements
        .iter()
        .map(|raw| {
            let start_loc = raw.start();
            let classified = classify(&raw.tokens);
            let mut problem = classified.problem.map(|p| StmtProblem {
                message: p.message,
                start: chunk.map.pos(p.start),
                end: chunk.map.end_pos(p.end),
            });
            if let Some((message, loc)) = &raw.lex_error {
                let at = chunk.map.pos(*loc);
                problem = Some(StmtProblem {
                    message: message.clone(),
                    start: at,
                    end: Pos::new(at.line, at.column + 1),
                });
            }
            let first_line = usize::try_from(start_loc.line).unwrap_or(usize::MAX);
            let mut allows = parts.comments.allows(first_line, first_line);
            allows.extend(chunk.allows.iter().cloned());
            Located {
                stmt: Stmt {
                    action: classified.action,
                    start: chunk.map.pos(start_loc),
                    head_end: chunk.map.end_pos(classified.head_end),
                    problem,
                },
                allows,
            }
        })
        .collect()
}

/// The path as printed: relative to the current directory when it is under
/// it, `.` components dropped, `/` separators.
fn display_path(path: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let parts: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::RootDir => String::new(),
            other => other.as_os_str().to_string_lossy().into_owned(),
        })
        .collect();
    let joined = parts.join("/");
    if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}
