//! SARIF 2.1.0, with the rules' metadata, for code-scanning uploads.
//!
//! Built from structs (not `json!`) so key order does not depend on
//! serde_json features.

use std::io::Write;

use serde::Serialize;

use crate::finding::{Finding, Report, Severity};
use crate::rules::Rule;

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
struct Driver {
    name: &'static str,
    rules: Vec<RuleMeta>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleMeta {
    id: &'static str,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Text,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "summa-lint",
                    rules: Rule::ALL.iter().map(|r| rule(*r)).collect(),
                },
            },
            column_kind: "unicodeCodePoints",
            results: report.findings.iter().map(result).collect(),
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

fn rule(r: Rule) -> RuleMeta {
    RuleMeta {
        id: r.id(),
        name: camel(r.id()),
        short_description: Text {
            text: r.summary().to_string(),
        },
        full_description: Text {
            text: r.explanation().to_string(),
        },
        help: Text { text: r.help() },
        default_configuration: Configuration {
            level: level(r.default_severity()),
        },
    }
}

fn result(f: &Finding) -> SarifResult {
    SarifResult {
        rule_id: f.rule.id(),
        rule_index: Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0),
        level: level(f.severity),
        message: Text {
            text: format!("{} (help: {})", f.message, f.help),
        },
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation { uri: uri(&f.file) },
                region: Region {
                    start_line: f.line,
                    start_column: f.column,
                    end_line: f.end_line,
                    end_column: f.end_column,
                },
            },
        }],
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// `drop-recreate-matview` -> `DropRecreateMatview`.
fn camel(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Relative URI reference: `/` separators, reserved characters escaped.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
