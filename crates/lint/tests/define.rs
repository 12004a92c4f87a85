//! `summa.define(...)` calls: extracted with their positions from `.sql`,
//! Alembic and Django migrations, never a matview finding, and checked
//! through the caller's [`DefineCheck`](summa_lint::DefineCheck).

mod common;

use common::{fixture, hits, lint};
use summa_lint::{lint_paths_with, DefineCall, Level, LintConfig, LintError, Severity};

fn calls(report: &summa_lint::Report) -> Vec<(String, usize, usize, &str, &str)> {
    report
        .defines
        .iter()
        .map(|d| {
            let name = d.file.rsplit('/').next().unwrap_or(&d.file).to_string();
            (name, d.line, d.column, d.name.as_str(), d.sql.as_str())
        })
        .collect()
}

#[test]
fn calls_are_extracted_with_positions_in_the_original_file() {
    let r = lint(&["define"]);
    assert_eq!(
        calls(&r),
        vec![
            (
                "0003_django_define.py".into(),
                7,
                21,
                "by_region",
                "SELECT region, count(*) FROM orders GROUP BY region"
            ),
            (
                "V3__define.sql".into(),
                2,
                8,
                "daily_sales",
                "\n  SELECT day, sum(amount) FROM sales GROUP BY day\n"
            ),
            (
                "V3__define.sql".into(),
                5,
                8,
                "weekly",
                "SELECT week, count(*) FROM sales GROUP BY week"
            ),
            ("V3__define.sql".into(), 7, 8, "skipped", "SELECT 1"),
            (
                "a1_alembic_define.py".into(),
                8,
                16,
                "daily_sales",
                "SELECT day, max(amount) FROM sales GROUP BY day"
            ),
        ]
    );
    let d = &r.defines[1];
    assert_eq!((d.end_line, d.end_column), (2, 34));
    assert!(d
        .source_line
        .starts_with("SELECT summa.define('daily_sales'"));
}

#[test]
fn the_safe_path_triggers_no_rule() {
    let r = lint(&["define"]);
    assert_eq!(hits(&r), vec![], "{:#?}", r.findings);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.files_checked, 3);
}

#[test]
fn the_check_reports_define_unmaintainable_at_the_call() {
    let mut asked = Vec::new();
    let paths = vec![fixture("define")];
    let r = lint_paths_with(&paths, &LintConfig::default(), &mut |call: &DefineCall| {
        asked.push(call.name.clone());
        Ok((call.name == "weekly").then(|| "column \"week\" does not exist".to_string()))
    })
    .expect("lint");
    // The suppressed call is never asked about.
    assert_eq!(asked, ["by_region", "daily_sales", "weekly", "daily_sales"]);
    assert_eq!(
        hits(&r),
        vec![(
            "V3__define.sql".into(),
            5,
            8,
            "define-unmaintainable",
            Severity::Error
        )]
    );
    let f = &r.findings[0];
    assert_eq!(
        f.message,
        "summa.define('weekly'): column \"week\" does not exist"
    );
    assert!(f.help.contains("docs/sql.md"), "{}", f.help);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(r.defines.len(), 5);
}

#[test]
fn the_check_is_skipped_when_the_rule_is_off_and_its_errors_stop_the_run() {
    let mut config = LintConfig::default();
    config.set(summa_lint::Rule::DefineUnmaintainable, Level::Off);
    let paths = vec![fixture("define/V3__define.sql")];
    let r = lint_paths_with(&paths, &config, &mut |_| panic!("not asked")).expect("lint");
    assert!(r.findings.is_empty());

    let err = lint_paths_with(&paths, &LintConfig::default(), &mut |_| {
        Err("connection refused".to_string())
    })
    .expect_err("the check failed");
    assert!(matches!(err, LintError::DefineCheck { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("V3__define.sql:2")
            && msg.contains("summa.define('daily_sales')")
            && msg.contains("connection refused"),
        "{msg}"
    );
}
