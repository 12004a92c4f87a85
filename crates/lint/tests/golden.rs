//! Golden output per format over `tests/fixtures/golden/`. Regenerate the
//! files under `tests/golden/` with `SUMMA_BLESS=1 cargo test -p summa-lint`.

mod common;

use std::path::Path;

use summa_lint::{render, Format};

fn check(format: Format, golden: &str) {
    let report = common::lint(&["golden"]);
    let mut out = Vec::new();
    render(&report, format, &mut out).expect("render to memory");
    let got = String::from_utf8(out).expect("output is UTF-8");
    let path = Path::new("tests/golden").join(golden);
    if std::env::var_os("SUMMA_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SUMMA_BLESS=1)", path.display()));
    assert!(
        got == want,
        "{} differs (run with SUMMA_BLESS=1 to accept):\n--- got ---\n{got}\n--- want ---\n{want}",
        path.display()
    );
}

#[test]
fn human() {
    check(Format::Human, "human.txt");
}

#[test]
fn json() {
    check(Format::Json, "findings.json");
}

#[test]
fn github() {
    check(Format::Github, "github.txt");
}

#[test]
fn sarif() {
    check(Format::Sarif, "findings.sarif");
}

#[test]
fn gitlab() {
    check(Format::Gitlab, "gitlab.json");
}

#[test]
fn gitlab_issues_have_the_code_quality_fields() {
    let report = common::lint(&["golden"]);
    let mut out = Vec::new();
    render(&report, Format::Gitlab, &mut out).expect("render to memory");
    let issues: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    let issues = issues.as_array().expect("an array of issues");
    assert_eq!(issues.len(), report.findings.len());
    let mut fingerprints = std::collections::HashSet::new();
    for (issue, f) in issues.iter().zip(&report.findings) {
        assert_eq!(issue["check_name"], format!("summa-lint/{}", f.rule.id()));
        assert_eq!(issue["location"]["path"], f.file.as_str());
        assert_eq!(issue["location"]["lines"]["begin"], f.line);
        let want = match f.severity {
            summa_lint::Severity::Error => "major",
            summa_lint::Severity::Warning => "minor",
            summa_lint::Severity::Note => "info",
        };
        assert_eq!(issue["severity"], want);
        assert!(issue["description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&f.message)));
        let fp = issue["fingerprint"].as_str().expect("fingerprint");
        assert_eq!(fp.len(), 32);
        assert!(fingerprints.insert(fp.to_string()), "duplicate {fp}");
    }
    // Stable: the same run gives the same fingerprints.
    let mut again = Vec::new();
    render(&common::lint(&["golden"]), Format::Gitlab, &mut again).expect("render");
    assert_eq!(out, again);
}
