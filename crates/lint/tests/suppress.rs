//! `-- summa-lint: allow <rule> <reason>` suppressions in SQL files.

mod common;

use common::{hits, lint};
use summa_lint::Severity;

#[test]
fn suppressions_above_or_on_the_first_line() {
    let r = lint(&["suppress/allowed.sql"]);
    assert_eq!(
        hits(&r),
        vec![
            (
                "allowed.sql".into(),
                9,
                1,
                "matview-with-data",
                Severity::Warning
            ),
            (
                "allowed.sql".into(),
                12,
                1,
                "matview-with-data",
                Severity::Warning
            ),
        ],
        "{:#?}",
        r.findings
    );
}
