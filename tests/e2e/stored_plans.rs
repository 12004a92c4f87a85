//! Stored plans keep their format: a version created by an earlier summa (its plan stored in
//! format 2, committed as fixtures under tests/fixtures/plans/) is loaded and maintained by
//! this one, with format 2's SQL, and stays equal to its SELECT; so are plans of formats 3 to
//! 5 (one table, an inner join, LEFT JOINs) committed the same way. A plan from a newer summa
//! is refused with the reason: the stream waits for a summa that reads it (its WAL is kept),
//! and nothing is guessed.

use std::time::Duration;

use crate::harness::TestDb;

const V1: &str =
    "SELECT customer_id, count(*), sum(amount), avg(amount) FROM orders GROUP BY customer_id";
const V2: &str = "SELECT date_trunc('day', created_at) AS day, status, count(*), sum(amount), min(amount), max(amount) FROM orders GROUP BY 1, 2";

fn fixture(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plans")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The reference workload's orders table, as the fixtures' plans read it.
async fn orders(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int, region_id int, status text, \
             amount numeric(12,2), created_at timestamptz); ALTER TABLE orders REPLICA IDENTITY FULL",
        )
        .await
        .unwrap();
}

async fn writes(client: &tokio_postgres::Client, round: i32) {
    client
        .batch_execute(&format!(
            "INSERT INTO orders (customer_id, status, amount, created_at) \
             SELECT g % 7, (ARRAY['new','paid','cancelled'])[1 + g % 3], (g * {round}) % 97 + 0.5, \
                    timestamptz '2026-01-01 00:00+00' + g * interval '5 hours' \
             FROM generate_series(1, 200) g; \
             UPDATE orders SET amount = amount + 1, status = 'paid' WHERE id % 5 = {round} % 5; \
             DELETE FROM orders WHERE id % 11 = {round} % 11;"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn format_2_plans_from_an_earlier_summa_are_maintained_with_their_format() {
    let db = TestDb::new("format2").await;
    let client = db.client().await;
    orders(&client).await;
    writes(&client, 1).await;
    db.create("v1", V1);
    db.create("v2", V2);
    // Both live (v2's pending table drained and gone), as an earlier summa left them.
    let sidecar = db.sidecar();
    db.wait_state("v2", "live").await;
    db.wait_applied().await;
    sidecar.stop();
    // Replace the stored plans by the fixtures an earlier summa wrote (the source's OID is
    // this database's).
    let oid: u32 = client
        .query_one("SELECT 'orders'::regclass::oid", &[])
        .await
        .unwrap()
        .get(0);
    for (view, file) in [("v1", "format2_v1.json"), ("v2", "format2_v2.json")] {
        let mut plan = fixture(file);
        assert_eq!(plan["format"], 2);
        plan["source_oid"] = oid.into();
        client
            .execute(
                "UPDATE summa.versions SET plan = $2, plan_format = 2 WHERE view_name = $1",
                &[&view, &plan],
            )
            .await
            .unwrap();
    }
    let sidecar = db.sidecar();
    for round in 2..6 {
        writes(&client, round).await;
        db.wait_applied().await;
        db.assert_equal("v1", V1).await;
        db.assert_equal("v2", V2).await;
    }
    assert_eq!(db.state_of("v1").await, "live");
    // The stored plans were maintained as they are, not rewritten.
    let format: i32 = client
        .query_one(
            "SELECT (plan->>'format')::int FROM summa.versions WHERE view_name = 'v2'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(format, 2);
    sidecar.stop();
}

#[tokio::test]
async fn a_plan_from_a_newer_summa_is_refused_with_the_reason() {
    let db = TestDb::new("format_new").await;
    let client = db.client().await;
    orders(&client).await;
    db.create("v1", V1);
    client
        .execute(
            "UPDATE summa.versions SET plan = jsonb_set(plan, '{format}', to_jsonb(plan_format + 100)) \
             WHERE view_name = 'v1'",
            &[],
        )
        .await
        .unwrap();
    let mut sidecar = db.sidecar();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    while std::time::Instant::now() < deadline {
        log = sidecar.log_text();
        if log.contains("newer than this summa") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(log.contains("newer than this summa"), "log:\n{log}");
    // Nothing is guessed or skipped: the stream waits (its WAL kept) for a summa that reads
    // the plan, and the version is not marked broken.
    assert_ne!(db.state_of("v1").await, "broken");
    let _ = sidecar.exits_within(Duration::from_millis(10)).await;
    sidecar.stop();
}

/// Plans of the current formats, committed as fixtures (taken from the golden files when each
/// format was current): one table (3), an inner join (4), LEFT JOINs (5), an eager inner join
/// (7). Later code must keep maintaining them exactly as they are.
#[tokio::test]
async fn plans_of_formats_3_to_7_committed_as_fixtures_are_maintained() {
    let db = TestDb::new("format345").await;
    let client = db.client().await;
    orders(&client).await;
    client
        .batch_execute(
            "CREATE TABLE regions (id int PRIMARY KEY, name text); \
             INSERT INTO regions SELECT g, 'region ' || g FROM generate_series(0, 5) g",
        )
        .await
        .unwrap();
    writes(&client, 1).await;
    client
        .batch_execute("UPDATE orders SET region_id = id % 7")
        .await
        .unwrap();
    let fixtures = [
        ("f3", "format3_v1.json", 3),
        ("f4", "format4_join.json", 4),
        ("f5", "format5_left.json", 5),
        ("f7", "format7_eager.json", 7),
    ];
    let mut views = Vec::new();
    for (view, file, format) in fixtures {
        let plan = fixture(file);
        assert_eq!(plan["format"], format, "{file}");
        let sql = plan["sql"].as_str().unwrap().trim().to_string();
        db.create(view, &sql);
        views.push((view, file, format, sql));
    }
    let sidecar = db.sidecar();
    for (view, ..) in &views {
        db.wait_state(view, "live").await;
    }
    db.wait_applied().await;
    sidecar.stop();
    for (view, file, format, _) in &views {
        let mut plan = fixture(file);
        for input in plan["inputs"].as_array_mut().unwrap() {
            let table = input["table"].as_str().unwrap().to_string();
            let oid: u32 = client
                .query_one("SELECT $1::text::regclass::oid", &[&table])
                .await
                .unwrap()
                .get(0);
            input["oid"] = oid.into();
        }
        client
            .execute(
                "UPDATE summa.versions SET plan = $2, plan_format = $3 WHERE view_name = $1",
                &[view, &plan, format],
            )
            .await
            .unwrap();
    }
    let sidecar = db.sidecar();
    for round in 2..5 {
        writes(&client, round).await;
        client
            .batch_execute(&format!(
                "UPDATE orders SET region_id = (id + {round}) % 7 WHERE id % 3 = 0; \
                 UPDATE regions SET name = name || '+' WHERE id = {round} % 6; \
                 DELETE FROM regions WHERE id = ({round} + 3) % 6; \
                 INSERT INTO regions VALUES (({round} + 2) % 6, 'back') ON CONFLICT (id) DO NOTHING"
            ))
            .await
            .unwrap();
        db.wait_applied().await;
        for (view, _, _, sql) in &views {
            db.assert_equal(view, sql).await;
        }
    }
    for (view, _, format, _) in &views {
        assert_eq!(db.state_of(view).await, "live", "{view}");
        let stored: i32 = client
            .query_one(
                "SELECT (plan->>'format')::int FROM summa.versions WHERE view_name = $1",
                &[view],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, *format, "{view} keeps its format");
    }
    sidecar.stop();
}
