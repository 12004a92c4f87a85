//! Eager aggregation (plan format 7): an inner join whose aggregates are counts and sums over
//! one input keeps that input pre-aggregated per join key, so a change of another input costs
//! the partial groups it meets, not the fact rows. The join traps (`joins.rs`) run through the
//! eager views among theirs (`j_region`, `j_using`, `j_comma`, `j_having`, `j_dimfilter`,
//! `j_four`, `j_six`); here: which views are eager, what a rename costs (the fan-out metric),
//! that the partial groups are the fact's as it is, and TRUNCATE of either side.

use crate::checks::{self, Report};
use crate::harness::{texts, TestDb};
use crate::joins::{exec, specs, FIXTURE, SCHEMA};
use crate::ops::{free_port, get, sample};

/// `view`'s plan format.
async fn format(client: &tokio_postgres::Client, view: &str) -> i64 {
    client
        .query_one(
            "SELECT (plan->>'format')::int8 FROM summa.versions WHERE view_name = $1",
            &[&view],
        )
        .await
        .unwrap()
        .get(0)
}

/// The fact's partial groups of `j_region` that differ from its aggregation of `orders` now
/// (both ways), as text.
async fn partials_differ(client: &tokio_postgres::Client) -> Vec<String> {
    let truth = "SELECT region_id, count(*)::int8, count(amount)::int8, coalesce(sum(amount), 0) \
                 FROM orders WHERE status <> 'cancelled' GROUP BY region_id";
    let kept = "SELECT region_id, \"__summa_p0\", \"__summa_p1\", \"__summa_p2\" \
                FROM public.j_region__v1__partials";
    texts(
        client,
        &format!(
            "SELECT 'missing ' || x::text FROM (({truth}) EXCEPT ALL ({kept})) x \
             UNION ALL SELECT 'extra ' || y::text FROM (({kept}) EXCEPT ALL ({truth})) y"
        ),
    )
    .await
}

#[tokio::test]
async fn a_rename_costs_the_partial_groups_it_meets_not_the_orders() {
    let db = TestDb::new("eager_rename").await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    exec(&client, FIXTURE).await;
    // j_region is eager; j_region_hi (a max) and j_self (its partial key would hold the
    // whole primary key) are not.
    let mut views = specs(&["j_region", "j_self"]);
    views.push(checks::Spec::new(
        "j_region_hi",
        "SELECT r.name, count(*), max(o.amount) AS hi FROM orders o JOIN regions r \
         ON r.id = o.region_id WHERE o.status <> 'cancelled' GROUP BY r.name",
    ));
    for spec in &views {
        db.create(&spec.name, &spec.sql);
    }
    assert_eq!(format(&client, "j_region").await, 7, "j_region is eager");
    assert_eq!(
        format(&client, "j_region_hi").await,
        4,
        "a max is not a sum"
    );
    assert_eq!(
        format(&client, "j_self").await,
        4,
        "its partials would be the table"
    );
    // The backfill leaves statistics on everything it filled: without them the first
    // batches' join plans took the copies for empty (nested loops over whole copies).
    let unanalyzed = texts(
        &client,
        "SELECT t FROM unnest(ARRAY['j_region__v1__input_0', 'j_region__v1__input_1', \
         'j_region__v1__partials', 'j_region__v1']) t \
         WHERE NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.tablename = t) ORDER BY 1",
    )
    .await;
    assert_eq!(unanalyzed, Vec::<String>::new(), "never analyzed");
    let port = free_port();
    let _sidecar = db.sidecar_with_config(&format!("metrics_address = \"127.0.0.1:{port}\"\n"));
    let mut report = Report::new(0);
    exec(
        &client,
        "INSERT INTO orders SELECT 1000 + g, 10, 5, CASE WHEN g % 10 = 0 THEN 'cancelled' \
         ELSE 'paid' END, g FROM generate_series(1, 300) g",
    )
    .await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after 300 orders in region 5").await;
    assert_eq!(partials_differ(&client).await, Vec::<String>::new());
    let orders: i64 = client
        .query_one(
            "SELECT count(*) FROM orders WHERE region_id = 5 AND status <> 'cancelled'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let deltas = || async {
        let body = get(port, "/metrics").await.1;
        sample(&body, "summa_view_row_deltas_total")
    };
    let before = deltas().await;
    exec(&client, "UPDATE regions SET name = 'Europe' WHERE id = 5").await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after the rename").await;
    // j_region meets one partial group, which leaves 'EU' and enters 'Europe'; j_region_hi
    // moves each of the region's orders out and in; j_self reads no region.
    assert_eq!(
        deltas().await - before,
        (2 + 2 * orders) as f64,
        "view-row deltas of the rename (region 5 has {orders} orders)"
    );
    // The fact's own changes move its partial groups: a key move, a filter flip, a delete.
    exec(
        &client,
        "UPDATE orders SET region_id = 1 WHERE id BETWEEN 1001 AND 1050; \
         UPDATE orders SET status = 'cancelled' WHERE id BETWEEN 1051 AND 1060; \
         UPDATE orders SET amount = NULL WHERE id = 1100; \
         DELETE FROM orders WHERE id BETWEEN 1200 AND 1300",
    )
    .await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after the fact's changes").await;
    assert_eq!(partials_differ(&client).await, Vec::<String>::new());
    let groups: i64 = client
        .query_one("SELECT count(*) FROM public.j_region__v1__partials", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        groups <= 6,
        "one partial group per region, not per order: {groups}"
    );
    report.finish();
}

#[tokio::test]
async fn truncate_of_either_side_of_an_eager_join_keeps_it_exact() {
    let db = TestDb::new("eager_truncate").await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    exec(&client, FIXTURE).await;
    let views = specs(&["j_region"]);
    db.create(&views[0].name, &views[0].sql);
    let _sidecar = db.sidecar();
    let mut report = Report::new(0);
    // The dimension emptied and refilled: the partial groups of the fact stay as they are.
    exec(&client, "TRUNCATE regions").await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after TRUNCATE regions").await;
    exec(&client, "INSERT INTO regions VALUES (5, 'EU'), (1, 'US')").await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after regions came back").await;
    assert_eq!(partials_differ(&client).await, Vec::<String>::new());
    // The fact emptied in the middle of a transaction: its partial groups go with it.
    exec(
        &client,
        "INSERT INTO orders VALUES (300, 10, 5, 'paid', 1.00); TRUNCATE orders; \
         INSERT INTO orders VALUES (301, 10, 5, 'paid', 2.00), (302, 12, 1, 'open', 3.00)",
    )
    .await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after TRUNCATE orders").await;
    assert_eq!(partials_differ(&client).await, Vec::<String>::new());
    report.finish();
}

#[tokio::test]
async fn eager_aggregation_is_chosen_where_its_rule_allows() {
    let db = TestDb::new("eager_rule").await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    // (view, SQL, format, the fact input when eager)
    let cases: &[(&str, &str, i64, Option<i64>)] = &[
        // count(*) alone: the fact is the first input whose partial groups are not its rows
        // (regions' would hold its key; orders' are per region_id).
        (
            "e_dim_first",
            "SELECT r.name, count(*) FROM regions r JOIN orders o ON o.region_id = r.id GROUP BY r.name",
            7,
            Some(1),
        ),
        // Three inputs, group keys on the fact and a dimension, a filter over two inputs.
        (
            "e_three",
            "SELECT o.status, r.name, count(o.amount) AS n, sum(o.amount) AS total, avg(o.amount) \
             FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id \
             WHERE c.segment <> r.name GROUP BY o.status, r.name",
            7,
            Some(0),
        ),
        // Aggregates over two inputs: no single fact.
        (
            "p_two_facts",
            "SELECT r.name, sum(o.amount) AS total, sum(r.id) AS ids FROM orders o JOIN regions r ON r.id = o.region_id GROUP BY r.name",
            4,
            None,
        ),
        // DISTINCT and min/max keep value tables, not sums of partials.
        (
            "p_distinct",
            "SELECT r.name, count(DISTINCT o.customer_id) FROM orders o JOIN regions r ON r.id = o.region_id GROUP BY r.name",
            4,
            None,
        ),
        // The join reads the fact's primary key: its partial groups would be its rows.
        (
            "p_by_key",
            "SELECT c.segment, count(*) FROM orders o JOIN customers c ON c.id = o.id::int GROUP BY c.segment",
            4,
            None,
        ),
        // LEFT JOIN keeps its own path.
        (
            "p_left",
            "SELECT r.name, count(*) FROM orders o LEFT JOIN regions r ON r.id = o.region_id GROUP BY r.name",
            5,
            None,
        ),
    ];
    for (view, sql, _, _) in cases {
        db.create(view, sql);
    }
    for (view, sql, want, fact) in cases {
        let row = client
            .query_one(
                "SELECT (plan->>'format')::int8, (plan->'eager'->>'fact')::int8 \
                 FROM summa.versions WHERE view_name = $1",
                &[view],
            )
            .await
            .unwrap();
        let (format, eager): (i64, Option<i64>) = (row.get(0), row.get(1));
        assert_eq!((format, eager), (*want, *fact), "{view}: {sql}");
    }
}
