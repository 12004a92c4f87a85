//! GitLab Code Quality report: a JSON array of issues in the Code Climate
//! subset GitLab reads (`description`, `check_name`, `fingerprint`,
//! `severity`, `location.path`, `location.lines.begin`).
//!
//! Severities: error is `major`, warning `minor`, note `info`. The
//! fingerprint is a stable hash (FNV-1a, 128 bits as hex) of rule, file,
//! line and message, so the same finding keeps its fingerprint from one
//! pipeline to the next; a second identical finding on the same line gets
//! `#2` mixed in, so fingerprints in one report are unique.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::finding::{Finding, Report, Severity};

#[derive(Serialize)]
struct Issue {
    description: String,
    check_name: String,
    fingerprint: String,
    severity: &'static str,
    location: Location,
}

#[derive(Serialize)]
struct Location {
    path: String,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let issues: Vec<Issue> = report
        .findings
        .iter()
        .map(|f| {
            let mut key = format!("{}\0{}\0{}\0{}", f.rule.id(), f.file, f.line, f.message);
            let n = seen.entry(key.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                key.push_str(&format!("\0#{n}"));
            }
            issue(f, fingerprint(&key))
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &issues)?;
    writeln!(out)
}

fn issue(f: &Finding, fingerprint: String) -> Issue {
    Issue {
        description: format!("{} (help: {})", f.message, f.help),
        check_name: format!("summa-lint/{}", f.rule.id()),
        fingerprint,
        severity: severity(f.severity),
        location: Location {
            path: f.file.clone(),
            lines: Lines { begin: f.line },
        },
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "major",
        Severity::Warning => "minor",
        Severity::Note => "info",
    }
}

/// FNV-1a over `text`, 128-bit, as 32 hex digits.
pub(crate) fn fingerprint(text: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in text.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(PRIME);
    }
    format!("{h:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_fnv1a_128() {
        // Published FNV-1a 128 test vectors.
        assert_eq!(fingerprint(""), "6c62272e07bb014262b821756295c58d");
        assert_eq!(fingerprint("a"), "d228cb696f1a8caf78912b704e4a8964");
    }
}
