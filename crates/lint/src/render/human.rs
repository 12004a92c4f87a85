//! Human format: location, source line with carets, rule, message, fix.

use std::io::Write;

use crate::finding::{Finding, Report, Severity};

pub(super) fn render(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    for f in &report.findings {
        finding(f, out)?;
    }
    writeln!(out, "{}", summary(report))
}

fn finding(f: &Finding, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}:{}:{}: {}[{}]: {}",
        f.file,
        f.line,
        f.column,
        f.severity.as_str(),
        f.rule.id(),
        f.message
    )?;
    let number = f.line.to_string();
    let pad = " ".repeat(number.len());
    writeln!(out, "{pad} |")?;
    writeln!(out, "{number} | {}", f.source_line)?;
    writeln!(out, "{pad} | {}", carets(f))?;
    writeln!(out, "{pad} = help: {}", f.help)?;
    writeln!(out)
}

/// Spaces (tabs kept, so carets line up) then `^` under the range on the
/// finding's line.
fn carets(f: &Finding) -> String {
    let chars: Vec<char> = f.source_line.chars().collect();
    let start = f.column.saturating_sub(1);
    let end = if f.end_line == f.line {
        f.end_column.saturating_sub(1)
    } else {
        chars.len()
    };
    let width = end.saturating_sub(start).max(1);
    let lead: String = (0..start)
        .map(|i| {
            if chars.get(i) == Some(&'\t') {
                '\t'
            } else {
                ' '
            }
        })
        .collect();
    format!("{lead}{}", "^".repeat(width))
}

fn summary(report: &Report) -> String {
    let counts = [
        (report.count(Severity::Error), "error"),
        (report.count(Severity::Warning), "warning"),
        (report.count(Severity::Note), "note"),
    ];
    let files = plural(report.files_checked, "file");
    if report.findings.is_empty() {
        return format!("summa-lint: no problems in {files}");
    }
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| plural(*n, what))
        .collect();
    format!("summa-lint: {} in {files}", parts.join(", "))
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
