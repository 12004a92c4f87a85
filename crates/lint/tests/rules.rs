//! Each rule on fixture migrations: what must fire, and look-alikes that
//! must not.

mod common;

use common::{at, hits, lint, lint_with, of_rule};
use summa_lint::{Level, LintConfig, Rule, Severity};

const DRC: &str = "drop-recreate-matview";

#[test]
fn drop_recreate_fires_at_the_create_and_names_the_drop_line() {
    let r = lint(&["drop_recreate/positive/same_file.sql"]);
    assert_eq!(of_rule(&r, DRC), vec![at("same_file.sql", 4, 1)]);
    let f = &r.findings[0];
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("public.sales_daily"), "{}", f.message);
    assert!(f.message.contains("line 2"), "{}", f.message);
    assert!(f.help.contains("docs/versioning.md"), "{}", f.help);
    assert_eq!((f.end_line, f.end_column), (4, 37));
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn drop_recreate_matches_qualified_if_exists_multi_and_folded_names() {
    let r = lint(&["drop_recreate/positive"]);
    assert_eq!(
        of_rule(&r, DRC),
        vec![
            at("one_line.sql", 1, 34),
            at("qualified_if_exists.sql", 2, 1),
            at("same_file.sql", 4, 1),
            at("several_views_folded.sql", 2, 1),
            at("several_views_folded.sql", 3, 1),
        ]
    );
    assert_eq!(r.files_checked, 4);
}

#[test]
fn drop_recreate_look_alikes_do_not_fire() {
    let r = lint(&["drop_recreate/negative"]);
    assert_eq!(of_rule(&r, DRC), vec![], "{:#?}", r.findings);
    assert!(
        r.findings.iter().all(|f| f.rule != Rule::ParseError),
        "{:#?}",
        r.findings
    );
    // The negatives use WITH NO DATA, except the plain view: nothing at all fires.
    assert_eq!(hits(&r), vec![], "{:#?}", r.findings);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.files_checked, 7);
}

#[test]
fn matview_with_data_only_when_the_view_is_populated() {
    let r = lint(&["with_data/create.sql"]);
    assert_eq!(
        hits(&r),
        vec![
            (
                "create.sql".into(),
                1,
                1,
                "matview-with-data",
                Severity::Warning
            ),
            (
                "create.sql".into(),
                2,
                1,
                "matview-with-data",
                Severity::Warning
            ),
        ]
    );
    assert!(r.findings[0].help.contains("WITH NO DATA"));
    assert!(r.findings[0].help.contains("summa create"));
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn refresh_with_unique_index_from_an_earlier_migration() {
    let r = lint(&["refresh/indexed_earlier"]);
    assert_eq!(
        hits(&r),
        vec![(
            "V2__refresh.sql".into(),
            1,
            1,
            "refresh-in-migration",
            Severity::Warning
        )]
    );
}

#[test]
fn refresh_index_in_a_later_migration_does_not_count() {
    // V2 before V1 is impossible: files run in sorted order, so linting only
    // the refresh file finds no index.
    let r = lint(&["refresh/indexed_earlier/V2__refresh.sql"]);
    assert_eq!(
        of_rule(&r, "refresh-concurrently-no-unique-index"),
        vec![at("V2__refresh.sql", 1, 1)]
    );
}

#[test]
fn refresh_without_unique_index_and_blocking_refresh() {
    let r = lint(&["refresh/no_index"]);
    assert_eq!(
        hits(&r),
        vec![
            (
                "refresh.sql".into(),
                3,
                1,
                "refresh-in-migration",
                Severity::Warning
            ),
            (
                "refresh.sql".into(),
                3,
                1,
                "refresh-concurrently-no-unique-index",
                Severity::Error
            ),
            (
                "refresh.sql".into(),
                4,
                1,
                "refresh-in-migration",
                Severity::Error
            ),
        ]
    );
    assert!(r.findings[2].message.contains("ACCESS EXCLUSIVE"));
}

#[test]
fn refresh_same_file_index_counts_only_before_the_refresh() {
    let r = lint(&["refresh/same_file"]);
    assert_eq!(
        of_rule(&r, "refresh-concurrently-no-unique-index"),
        vec![at("refresh.sql", 4, 1)]
    );
}

#[test]
fn refresh_partial_or_expression_unique_index_does_not_count() {
    let r = lint(&["refresh/partial"]);
    let no_index = of_rule(&r, "refresh-concurrently-no-unique-index");
    assert_eq!(
        no_index,
        vec![at("refresh.sql", 3, 1), at("refresh.sql", 4, 1)]
    );
    assert!(r
        .findings
        .iter()
        .any(|f| f.message.contains("WHERE clause or expressions")));
}

#[test]
fn drop_cascade_only_with_cascade_on_a_matview() {
    let r = lint(&["cascade"]);
    assert_eq!(
        hits(&r),
        vec![(
            "drop.sql".into(),
            1,
            1,
            "drop-matview-cascade",
            Severity::Warning
        )]
    );
    assert!(r.findings[0].message.contains("public.old_rollup"));
}

#[test]
fn parse_errors_are_warnings_and_the_rest_is_still_checked() {
    let r = lint(&["parse_error/recover.sql"]);
    assert_eq!(
        hits(&r),
        vec![
            (
                "recover.sql".into(),
                2,
                29,
                "parse-error",
                Severity::Warning
            ),
            ("recover.sql".into(), 3, 1, "parse-error", Severity::Warning),
            ("recover.sql".into(), 4, 1, DRC, Severity::Error),
            ("recover.sql".into(), 5, 8, "parse-error", Severity::Warning),
        ]
    );
    assert!(r.findings[3].message.contains("Unterminated string"));
}

#[test]
fn unparsable_matview_statement_is_still_recognised() {
    let r = lint(&["parse_error/matview_head.sql"]);
    let rules: Vec<&str> = hits(&r).iter().map(|h| h.3).collect();
    assert_eq!(rules, vec![DRC, "matview-with-data", "parse-error"]);
    assert!(r.findings[2].message.contains("only its head was checked"));
}

#[test]
fn config_changes_severity_or_switches_rules_off() {
    let mut config = LintConfig::default();
    config.set(Rule::DropMatviewCascade, Level::Error);
    config.set(Rule::RefreshInMigration, Level::Off);
    let r = lint_with(&["cascade", "refresh/no_index"], &config);
    assert_eq!(
        hits(&r),
        vec![
            (
                "drop.sql".into(),
                1,
                1,
                "drop-matview-cascade",
                Severity::Error
            ),
            (
                "refresh.sql".into(),
                3,
                1,
                "refresh-concurrently-no-unique-index",
                Severity::Error
            ),
        ]
    );
}

#[test]
fn deny_warnings_turns_warnings_into_errors() {
    let mut r = lint(&["with_data/create.sql"]);
    assert_eq!(r.exit_code(), 0);
    r.deny_warnings();
    assert_eq!(r.exit_code(), 1);
    assert!(r.findings.iter().all(|f| f.severity == Severity::Error));
}
