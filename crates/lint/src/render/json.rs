//! JSON format: an array of findings with stable keys.

use std::io::Write;

use crate::finding::Report;

pub(super) fn render(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &report.findings)?;
    writeln!(out)
}
