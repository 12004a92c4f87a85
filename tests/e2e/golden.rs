//! Golden files for the planner and SQL generation: each `tests/golden/plans/NAME.sql` (one
//! view shape) is planned against a real Postgres (sources from `tests/golden/setup.sql`),
//! and its plan JSON and every statement summa generates from it are compared with
//! `NAME.out`. Regenerate with `SUMMA_BLESS=1 cargo test --test e2e golden` and review the diff.
//!
//! Every generated statement is also handed to Postgres: the version's objects are created and
//! every other statement prepared, so a statement Postgres refuses (an ambiguous column, a
//! type error) fails here, not in a sidecar. `hostile_names` reads columns named like every
//! internal name summa's SQL uses.

use std::path::{Path, PathBuf};

use summa_plan::sqlgen::{self, Target};
use summa_plan::{plan_view, MaintenancePlan, PinnedSettings};

use crate::harness::TestDb;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every statement generated from `plan`, named.
fn statements(plan: &MaintenancePlan, target: &Target, staging: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, s) in sqlgen::create_objects(plan, target).into_iter().enumerate() {
        out.push((format!("create_objects[{i}]"), s));
    }
    out.push((
        "create_pending".into(),
        sqlgen::create_pending(plan, target),
    ));
    out.push((
        "create_staging".into(),
        sqlgen::create_staging(plan, staging),
    ));
    out.push(("merge_changes".into(), sqlgen::merge_changes(plan, target)));
    out.push(("stage_rows".into(), sqlgen::stage_rows(plan, staging)));
    out.push((
        "merge_staged".into(),
        sqlgen::merge_staged(plan, target, staging),
    ));
    out.push((
        "backfill_chunk(bounded)".into(),
        sqlgen::backfill_chunk(plan, target, true),
    ));
    out.push((
        "backfill_chunk(open)".into(),
        sqlgen::backfill_chunk(plan, target, false),
    ));
    if sqlgen::bulk_loaded(plan) {
        for (i, s) in sqlgen::bulk_tables(plan, 0).into_iter().enumerate() {
            out.push((format!("create_bulk_tables[{i}]"), s));
        }
        out.push((
            "bulk_chunk(bounded)".into(),
            sqlgen::bulk_chunk(plan, 0, true),
        ));
        out.push((
            "bulk_chunk(open)".into(),
            sqlgen::bulk_chunk(plan, 0, false),
        ));
        out.push(("bulk_combine".into(), sqlgen::bulk_combine(plan, target, 0)));
        out.push(("drop_bulk_tables".into(), sqlgen::drop_bulk_tables(plan, 0)));
        out.push(("bulk_direct".into(), sqlgen::bulk_direct(plan, target)));
    }
    out.push((
        "delete_empty_groups".into(),
        sqlgen::delete_empty_groups(target),
    ));
    for j in 0..plan.value_tables.len() {
        out.push((
            format!("delete_spent_values[{j}]"),
            sqlgen::delete_spent_values(target, j),
        ));
    }
    if let Some(s) = sqlgen::recompute_extremes(plan, target) {
        out.push(("recompute_extremes".into(), s));
    }
    out.push((
        "insert_pending".into(),
        sqlgen::insert_pending(plan, target),
    ));
    out.push((
        "drain_pending".into(),
        sqlgen::drain_pending(plan, target, staging),
    ));
    out.push((
        "alias_view".into(),
        sqlgen::alias_view(plan, "\"golden\".\"alias\"", target),
    ));
    out.push((
        "verify_diff".into(),
        sqlgen::verify_diff(plan, target, "true", 10),
    ));
    out.push((
        "compare_diff".into(),
        sqlgen::compare_diff(plan, target, target, "true", 10),
    ));
    out.push(("source_blocks".into(), sqlgen::source_blocks(plan)));
    if plan.is_join() {
        for k in 0..plan.inputs.len() {
            out.push((
                format!("fill_copy[{k}]"),
                sqlgen::fill_copy(plan, target, k, true),
            ));
            out.push((
                format!("delete_from_copy[{k}]"),
                sqlgen::delete_from_copy(plan, target, staging, k),
            ));
            out.push((
                format!("insert_into_copy[{k}]"),
                sqlgen::insert_into_copy(plan, target, staging, k),
            ));
        }
    }
    if let Some(s) = sqlgen::fill_partials(plan, target) {
        out.push(("fill_partials".into(), s));
    }
    for (i, s) in sqlgen::update_partials(plan, target, staging)
        .into_iter()
        .enumerate()
    {
        out.push((format!("update_partials[{i}]"), s));
    }
    if let Some(s) = sqlgen::key_boundaries(plan, target, 100) {
        out.push(("key_boundaries".into(), s));
    }
    for (i, s) in sqlgen::reset_objects(plan, target).into_iter().enumerate() {
        out.push((format!("reset_objects[{i}]"), s));
    }
    for (i, s) in sqlgen::drop_objects(plan, target).into_iter().enumerate() {
        out.push((format!("drop_objects[{i}]"), s));
    }
    out
}

/// The plan as stored, with what differs between runs (OIDs) fixed.
fn stable_json(plan: &MaintenancePlan) -> String {
    let mut json = plan.to_json();
    for input in json["inputs"].as_array_mut().expect("inputs") {
        input["oid"] = 0.into();
    }
    for col in json["inputs"][0]["shipped"]
        .as_array_mut()
        .expect("shipped")
    {
        col["type_oid"] = 0.into();
    }
    serde_json::to_string_pretty(&json).unwrap()
}

#[tokio::test]
async fn planner_and_generated_sql_match_their_golden_files_and_prepare() {
    let db = TestDb::new("golden").await;
    let mut client = db.client().await;
    let setup = std::fs::read_to_string(golden_dir().join("setup.sql")).unwrap();
    client
        .batch_execute(&format!("{setup}; CREATE SCHEMA golden;"))
        .await
        .unwrap();
    let settings = PinnedSettings(vec![("TimeZone".into(), "UTC".into())]);
    let bless = std::env::var_os("SUMMA_BLESS").is_some_and(|v| v == "1");
    let mut shapes: Vec<PathBuf> = std::fs::read_dir(golden_dir().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    shapes.sort();
    assert!(shapes.len() >= 6, "golden shapes missing: {shapes:?}");
    let mut failures = Vec::new();
    for path in &shapes {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let sql = std::fs::read_to_string(path).unwrap();
        let (plan, _) = plan_view(&mut client, &sql, &settings)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", e.render(&sql)));
        let target = Target::new("golden", format!("{name}__v1"));
        let staging = "pg_temp.\"summa_staging_0\"";
        let stmts = statements(&plan, &target, staging);
        let mut got = format!("-- plan\n{}\n", stable_json(&plan));
        for (what, stmt) in &stmts {
            got.push_str(&format!("\n-- {what}\n{stmt};\n"));
        }
        let out = path.with_extension("out");
        if bless {
            std::fs::write(&out, &got).unwrap();
        } else {
            let want = std::fs::read_to_string(&out)
                .unwrap_or_else(|e| panic!("{}: {e} (run with SUMMA_BLESS=1)", out.display()));
            if got != want {
                failures.push(format!(
                    "{} differs (run with SUMMA_BLESS=1 to accept and review the diff):\n--- got ---\n{got}",
                    out.display()
                ));
            }
        }
        // Postgres accepts every statement: objects created, the rest prepared.
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(&plan.settings.set_local_sql())
            .await
            .unwrap();
        for (what, stmt) in &stmts {
            let creates = what.starts_with("create_") || what == "alias_view";
            let result = if creates {
                tx.batch_execute(stmt).await.map(|_| ())
            } else {
                tx.prepare(stmt).await.map(|_| ())
            };
            if let Err(e) = result {
                failures.push(format!(
                    "{name}: {what} is refused by Postgres: {e:?}\n{stmt}"
                ));
            }
        }
        tx.rollback().await.unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
