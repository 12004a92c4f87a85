//! `summa lint --database-url`: every `summa.define` SELECT in the migrations is planned against
//! the database, and the planner's refusal is a `define-unmaintainable` finding at the call;
//! a SELECT summa maintains passes. DATABASE_URL alone (which the harness sets) plans nothing.

use crate::harness::TestDb;

const MIGRATION: &str = "-- V7: new versions of the summaries\n\
SELECT summa.define('daily_sales', $$SELECT day, sum(amount) FROM sales GROUP BY day$$);\n\
SELECT summa.define('top_days', $$SELECT day, sum(amount) FROM sales GROUP BY day ORDER BY day LIMIT 3$$);\n\
SELECT summa.define('gone', 'SELECT day, count(*) FROM no_such_table GROUP BY day');\n";

#[tokio::test]
async fn lint_plans_each_define_against_the_database() {
    let db = TestDb::new("lint_define").await;
    let client = db.client().await;
    client
        .batch_execute("CREATE TABLE sales (day date, amount numeric)")
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("summa-lint-define-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("V7__define.sql");
    std::fs::write(&file, MIGRATION).unwrap();
    let path = file.to_str().unwrap();

    // Only --database-url on the command line connects.
    let (ok, out, err) = db.summa(&["lint", path, "--format", "json"]);
    assert!(ok, "no planning without --database-url:\n{out}\n{err}");
    assert_eq!(out.trim(), "[]");

    let (ok, out, err) = db.summa(&["lint", "--database-url", &db.url, path, "--format", "json"]);
    assert!(!ok, "refusals are errors:\n{out}\n{err}");
    let findings: serde_json::Value = serde_json::from_str(&out).expect("JSON findings");
    let got: Vec<(u64, u64, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["rule"], "define-unmaintainable");
            assert_eq!(f["severity"], "error");
            (
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (3, 8));
    assert!(
        got[0].2.starts_with("summa.define('top_days'): LIMIT"),
        "{}",
        got[0].2
    );
    assert_eq!((got[1].0, got[1].1), (4, 8));
    assert!(got[1].2.contains("no_such_table"), "{}", got[1].2);

    // Planning left nothing behind: the probes run in a rolled-back transaction.
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%summa%' OR relname LIKE '%daily%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    std::fs::remove_dir_all(&dir).ok();
}
