//! Alembic and Django migrations: SQL from string literals, positions in
//! the original file.

mod common;

use common::{hits, lint, of_rule};
use summa_lint::Severity;

#[test]
fn alembic_triple_quoted_text_and_concatenation() {
    let r = lint(&["python/alembic"]);
    assert_eq!(
        hits(&r),
        vec![
            (
                "a1b2c3_rebuild_rollup.py".into(),
                17,
                9,
                "drop-recreate-matview",
                Severity::Error
            ),
            (
                "a1b2c3_rebuild_rollup.py".into(),
                22,
                25,
                "drop-matview-cascade",
                Severity::Warning
            ),
            (
                "a1b2c3_rebuild_rollup.py".into(),
                24,
                23,
                "refresh-in-migration",
                Severity::Error
            ),
            (
                "a1b2c3_rebuild_rollup.py".into(),
                25,
                16,
                "unlinted-python-sql",
                Severity::Note
            ),
        ]
    );
    let drc = &r.findings[0];
    assert!(drc.message.contains("line 16"), "{}", drc.message);
    assert_eq!(
        drc.source_line.trim(),
        "CREATE MATERIALIZED VIEW sales_daily AS"
    );
    assert_eq!((drc.end_line, drc.end_column), (17, 45));
    // `"Weekly"` is not `weekly`: no drop-recreate for line 26.
    assert!(of_rule(&r, "matview-with-data").is_empty());
}

#[test]
fn django_runsql_list_and_keyword() {
    let r = lint(&["python/django"]);
    assert_eq!(
        hits(&r),
        vec![
            (
                "0002_rebuild.py".into(),
                11,
                19,
                "drop-recreate-matview",
                Severity::Error
            ),
            (
                "0002_rebuild.py".into(),
                11,
                19,
                "matview-with-data",
                Severity::Warning
            ),
            (
                "0002_rebuild.py".into(),
                15,
                32,
                "refresh-in-migration",
                Severity::Error
            ),
        ]
    );
    assert!(r.findings[0].message.contains("line 10"));
}

#[test]
fn python_files_without_migration_calls_are_not_linted() {
    let r = lint(&["python/helpers"]);
    assert_eq!(r.files_checked, 0);
    assert!(r.findings.is_empty());
    let r = lint(&["python"]);
    assert_eq!(r.files_checked, 2);
}

#[test]
fn suppressions_in_python_comments_and_in_the_sql() {
    let r = lint(&["suppress/alembic_allowed.py"]);
    assert_eq!(
        hits(&r),
        vec![(
            "alembic_allowed.py".into(),
            14,
            9,
            "refresh-in-migration",
            Severity::Error
        )]
    );
    assert_eq!(of_rule(&r, "drop-recreate-matview"), vec![]);
}
