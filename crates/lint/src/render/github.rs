//! GitHub Actions workflow commands, shown as annotations on the diff.

use std::io::Write;

use crate::finding::{Report, Severity};

pub(super) fn render(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    for f in &report.findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            property(&f.file),
            f.line,
            f.column,
            property(&format!("summa-lint/{}", f.rule.id())),
            data(&format!("{}\nhelp: {}", f.message, f.help)),
        )?;
    }
    Ok(())
}

/// Escapes a message (`%`, CR, LF).
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (as `data`, plus `:` and `,`).
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}
