//! Runs the pipeline over the files of one run: read, extract SQL, split,
//! classify, check, suppress (statement and file level), configure, and
//! hand every `summa.define` call to the caller's check.

use std::path::PathBuf;

use crate::classify::classify;
use crate::config::LintConfig;
use crate::define::{self, DefineCall, RawDefine};
use crate::error::LintError;
use crate::finding::{Finding, Report, Severity};
use crate::rules::{check_file, Hit, Rule, RunState, Stmt, StmtProblem};
use crate::source::{self, Chunk, Kind, Part};
use crate::split::split;
use crate::srcmap::Pos;
use crate::walk::display_path;

/// What the caller says about one `summa.define` call: `Ok(Some(message))`
/// when summa cannot maintain its SELECT, `Ok(None)` when it can, `Err`
/// when it could not find out (the run stops).
pub type DefineCheck<'a> = dyn FnMut(&DefineCall) -> Result<Option<String>, String> + 'a;

/// Lints `files` in order as one run.
pub(crate) fn lint_files(
    files: &[PathBuf],
    config: &LintConfig,
    check: &mut DefineCheck<'_>,
) -> Result<Report, LintError> {
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
        let linted = lint_text(&file, text, kind, config, &mut state, check)?;
        let mut findings = linted.findings;
        findings.sort_by_key(|f| (f.line, f.column, f.rule));
        report.findings.extend(findings);
        report.defines.extend(linted.defines);
    }
    Ok(report)
}

/// A statement with the rules suppressed for it and its `summa.define`
/// calls (positions in the file).
struct Located {
    stmt: Stmt,
    allows: Vec<String>,
    defines: Vec<(RawDefine, Pos, Pos)>,
}

/// Findings and `summa.define` calls of one file.
struct Linted {
    findings: Vec<Finding>,
    defines: Vec<DefineCall>,
}

fn lint_text(
    file: &str,
    text: &str,
    kind: Kind,
    config: &LintConfig,
    state: &mut RunState,
    check: &mut DefineCheck<'_>,
) -> Result<Linted, LintError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let line_at = |line: usize| {
        lines
            .get(line.saturating_sub(1))
            .map(|l| l.trim_end_matches('\r').to_string())
            .unwrap_or_default()
    };
    let extracted = source::extract(kind, text);
    let mut file_allows = extracted.file_allows;
    let mut located = Vec::new();
    let mut skipped = Vec::new();
    for part in extracted.parts {
        match part {
            Part::Chunk(chunk) => {
                let (stmts, allows) = statements(&chunk);
                located.extend(stmts);
                file_allows.extend(allows);
            }
            Part::Skipped(s) => skipped.push(s),
        }
    }

    let mut out = Vec::new();
    let mut emit = |rule: Rule, default: Severity, start: Pos, end: Pos, message: String| {
        if allowed(&file_allows, rule) {
            return;
        }
        if let Some(severity) = config.effective(rule, default) {
            let source_line = line_at(start.line);
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

    for s in skipped {
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

    let mut defines = Vec::new();
    let rule = Rule::DefineUnmaintainable;
    for l in &located {
        for (raw, start, end) in &l.defines {
            let call = DefineCall {
                file: file.to_string(),
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                name: raw.name.clone(),
                sql: raw.sql.clone(),
                source_line: line_at(start.line),
            };
            let wanted = !allowed(&l.allows, rule)
                && config.effective(rule, rule.default_severity()).is_some();
            if wanted {
                let verdict = check(&call).map_err(|message| LintError::DefineCheck {
                    file: call.file.clone(),
                    line: call.line,
                    name: call.name.clone(),
                    message,
                })?;
                if let Some(message) = verdict {
                    emit(
                        rule,
                        rule.default_severity(),
                        *start,
                        *end,
                        format!("summa.define('{}'): {message}", call.name),
                    );
                }
            }
            defines.push(call);
        }
    }
    Ok(Linted {
        findings: out,
        defines,
    })
}

fn allowed(allows: &[String], rule: Rule) -> bool {
    allows.iter().any(|a| a == rule.id())
}

/// Splits and classifies one SQL text, mapping positions to the file; also
/// the rules its `allow-file` comments suppress.
fn statements(chunk: &Chunk) -> (Vec<Located>, Vec<String>) {
    let parts = split(&chunk.sql);
    let file_allows = parts.comments.file_allows();
    let located = parts
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
            let defines = define::find(&raw.tokens)
                .into_iter()
                .map(|d| {
                    let (start, end) = d.span(&chunk.map);
                    (d, start, end)
                })
                .collect();
            Located {
                defines,
                stmt: Stmt {
                    action: classified.action,
                    start: chunk.map.pos(start_loc),
                    head_end: chunk.map.end_pos(classified.head_end),
                    problem,
                },
                allows,
            }
        })
        .collect();
    (located, file_allows)
}
