//! Output formats of a [`Report`](crate::Report).

mod github;
mod gitlab;
mod human;
mod json;
mod sarif;

use std::io::Write;

use crate::finding::Report;
use crate::Format;

/// Writes `report` to `out` in `format`.
pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Human => human::render(report, out),
        Format::Json => json::render(report, out),
        Format::Github => github::render(report, out),
        Format::Sarif => sarif::render(report, out),
        Format::Gitlab => gitlab::render(report, out),
    }
}
