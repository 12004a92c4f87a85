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
