//! Inner and LEFT joins (2 to 6 inputs): the specification of the join engine, with Postgres as
//! the oracle. A sidecar applies transaction T at its stream position while the source tables are
//! already later; an engine that reads the other input "as of now" double counts or loses
//! rows (T1 inserts an order in region 5, T2 renames region 5 'EU' to 'Europe': the result must
//! be "Europe 10", never "EU -10, Europe 20"). The corpus below names each such trap; every
//! scenario runs three ways: checked after every transaction, applied one transaction per batch
//! after the source has moved past the whole scenario, and applied as one batch.
//!
//! LEFT JOIN views (a star, a snowflake, inner then left, USING on a non-key, the anti-join,
//! a LEFT self-join) and joins without aggregates (multisets) run through the same traps: every order's first and last match switch it
//! between padded and joined. Join inputs keep their default REPLICA IDENTITY (summa keeps each
//! input's rows itself); RIGHT, FULL and LATERAL joins, a LEFT JOIN without an equality, and
//! inputs without a primary key are refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use crate::checks::{self, Report, Spec};
use crate::harness::{connect, seed, Rng, Sidecar, TestDb};

/// A star schema with the default replica identity (no FULL): orders reference a customer
/// and a region, customers a region. No foreign keys: orphans are allowed and tested.
pub(crate) const SCHEMA: &str = "CREATE TABLE regions (id int PRIMARY KEY, name text);
CREATE TABLE customers (id int PRIMARY KEY, region_id int, segment text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, region_id int, status text, amount numeric(10,2));";

/// The join views every scenario is checked with.
const VIEWS: &[(&str, &str)] = &[
    // Two inputs, filter on the fact side, GROUP BY a dimension column.
    (
        "j_region",
        "SELECT r.name, count(*), sum(o.amount) FROM orders o JOIN regions r ON r.id = o.region_id \
         WHERE o.status <> 'cancelled' GROUP BY r.name",
    ),
    // USING: a many-to-many join (every order with every customer of its region).
    (
        "j_using",
        "SELECT region_id, c.segment, count(*) AS pairs, sum(o.amount) AS total \
         FROM orders o JOIN customers c USING (region_id) GROUP BY region_id, c.segment",
    ),
    // A comma join with the equality and a filter in WHERE.
    (
        "j_comma",
        "SELECT c.segment, count(*) AS n, sum(o.amount) AS total FROM orders o, customers c \
         WHERE c.id = o.customer_id AND o.status = 'paid' GROUP BY c.segment",
    ),
    // Three inputs, regions reached through customers; min/max/avg/count(DISTINCT).
    (
        "j_three",
        "SELECT r.name, c.segment, min(o.amount) AS lo, max(o.amount) AS hi, avg(o.amount) AS mean, \
                count(DISTINCT o.customer_id) AS buyers, count(*) AS n \
         FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id \
         GROUP BY r.name, c.segment",
    ),
    // A self-join: a change of customers is on both sides of the join.
    (
        "j_self",
        "SELECT a.region_id, count(*) AS pairs FROM customers a JOIN customers b \
         ON a.region_id = b.region_id AND a.id < b.id GROUP BY a.region_id",
    ),
    // No GROUP BY: one row, also over an empty join.
    (
        "j_global",
        "SELECT count(*) AS n, sum(o.amount) AS total, count(DISTINCT r.name) AS names \
         FROM orders o JOIN regions r ON r.id = o.region_id",
    ),
    // HAVING: groups cross the threshold both ways.
    (
        "j_having",
        "SELECT r.name, sum(o.amount) AS total FROM orders o JOIN regions r ON r.id = o.region_id \
         GROUP BY r.name HAVING count(*) >= 2",
    ),
    // count(x), sum(DISTINCT), count(DISTINCT) of the other input's column; filter on the
    // dimension side.
    (
        "j_distinct",
        "SELECT c.segment, count(o.amount) AS priced, sum(DISTINCT o.amount) AS distinct_total, \
                count(DISTINCT o.region_id) AS regions \
         FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.segment IS NOT NULL \
         GROUP BY c.segment",
    ),
    // A filter and a GROUP BY expression on the dimension: renames move rows in and out.
    (
        "j_dimfilter",
        "SELECT o.status, upper(r.name) AS region, count(*) AS n, sum(o.amount) AS total \
         FROM orders o JOIN regions r ON r.id = o.region_id \
         WHERE r.name LIKE 'E%' OR r.name IS NULL GROUP BY o.status, upper(r.name)",
    ),
    // Two equalities between the same pair of inputs, then a third input.
    (
        "j_twokey",
        "SELECT r.name, count(*) AS n, max(o.amount) AS hi \
         FROM orders o JOIN customers c ON c.id = o.customer_id AND c.region_id = o.region_id \
         JOIN regions r ON r.id = o.region_id GROUP BY r.name",
    ),
    // Four inputs, regions twice: one rename changes both sides of the join.
    (
        "j_four",
        "SELECT r1.name AS order_region, r2.name AS customer_region, count(*) AS n, sum(o.amount) AS total \
         FROM orders o JOIN regions r1 ON r1.id = o.region_id \
         JOIN customers c ON c.id = o.customer_id JOIN regions r2 ON r2.id = c.region_id \
         GROUP BY r1.name, r2.name",
    ),
    // Six inputs, each table twice: orders of the same status by customers of the region of
    // each order's customer.
    (
        "j_six",
        "SELECT r1.name, count(*) AS n, sum(o.amount) AS total \
         FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r1 ON r1.id = o.region_id \
         JOIN regions r2 ON r2.id = c.region_id JOIN customers c2 ON c2.region_id = r2.id \
         JOIN orders o2 ON o2.customer_id = c2.id AND o2.status = o.status GROUP BY r1.name",
    ),
    // LEFT JOIN: every order counts, padded while its region is missing; count(r.id) and
    // count(r.name) ignore the padding. An order's first and last match switch it.
    (
        "l_region",
        "SELECT r.name, count(*) AS n, count(r.id) AS matched, sum(o.amount) AS total \
         FROM orders o LEFT JOIN regions r ON r.id = o.region_id GROUP BY r.name",
    ),
    // Two LEFT JOINs from the fact (a star), min/max over the fact.
    (
        "l_star",
        "SELECT c.segment, r.name, count(*) AS n, sum(o.amount) AS total, max(o.amount) AS hi \
         FROM orders o LEFT JOIN customers c ON c.id = o.customer_id \
         LEFT JOIN regions r ON r.id = o.region_id GROUP BY c.segment, r.name",
    ),
    // A snowflake: regions reached through the padded side (its probe is NULL when the
    // customer is missing).
    (
        "l_snowflake",
        "SELECT r.name, count(*) AS n, count(c.id) AS with_customer, sum(o.amount) AS total \
         FROM orders o LEFT JOIN customers c ON c.id = o.customer_id \
         LEFT JOIN regions r ON r.id = c.region_id GROUP BY r.name",
    ),
    // An inner join, then a LEFT JOIN whose condition also filters the dimension; WHERE on
    // the fact.
    (
        "l_mixed",
        "SELECT r.name, c.segment, count(*) AS n, sum(o.amount) AS total \
         FROM orders o JOIN customers c ON c.id = o.customer_id \
         LEFT JOIN regions r ON r.id = c.region_id AND r.name <> 'US' \
         WHERE o.status <> 'cancelled' GROUP BY r.name, c.segment",
    ),
    // LEFT JOIN … USING on a column that is no key: many matches per row, or none.
    (
        "l_using",
        "SELECT region_id, count(*) AS n, count(c.id) AS customers, sum(o.amount) AS total \
         FROM orders o LEFT JOIN customers c USING (region_id) GROUP BY region_id",
    ),
    // The anti-join: orders without a region, by status (WHERE on the padded side).
    (
        "l_orphans",
        "SELECT o.status, count(*) AS orphans, sum(o.amount) AS total \
         FROM orders o LEFT JOIN regions r ON r.id = o.region_id WHERE r.id IS NULL \
         GROUP BY o.status",
    ),
    // Joins without aggregates: the rows with their duplicates (a multiset), inner and LEFT.
    (
        "m_dups",
        "SELECT r.name, o.status FROM orders o JOIN regions r ON r.id = o.region_id \
         WHERE o.amount > 5",
    ),
    (
        "m_left",
        "SELECT o.status, r.name AS region, c.segment FROM orders o \
         LEFT JOIN regions r ON r.id = o.region_id JOIN customers c ON c.id = o.customer_id",
    ),
    // A LEFT self-join: each customer with the other customers of its region.
    (
        "l_self",
        "SELECT a.segment, count(*) AS n, count(b.id) AS neighbours \
         FROM customers a LEFT JOIN customers b ON b.region_id = a.region_id AND b.id <> a.id \
         GROUP BY a.segment",
    ),
];

fn view(name: &str) -> &'static str {
    VIEWS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sql)| *sql)
        .unwrap_or_else(|| panic!("no join view {name}"))
}

pub(crate) fn specs(names: &[&str]) -> Vec<Spec> {
    names.iter().map(|n| Spec::new(*n, view(n))).collect()
}

fn all_specs() -> Vec<Spec> {
    VIEWS.iter().map(|(n, sql)| Spec::new(*n, *sql)).collect()
}

/// The state every scenario starts from (one transaction, itself checked). Region 5 is 'EU'
/// with order 100 of amount 10; region 3 has a NULL name; customer 14 and order 105 have
/// NULL keys; order 106 is an orphan on both sides; order 108's region is not its customer's.
pub(crate) const FIXTURE: &str = "DELETE FROM orders; DELETE FROM customers; DELETE FROM regions;
INSERT INTO regions VALUES (1, 'US'), (2, 'APAC'), (3, NULL), (5, 'EU');
INSERT INTO customers VALUES (10, 5, 'retail'), (11, 5, 'corporate'), (12, 1, 'retail'),
    (13, 2, NULL), (14, NULL, 'retail'), (15, 5, 'retail');
INSERT INTO orders VALUES (100, 10, 5, 'paid', 10.00), (101, 11, 5, 'paid', 20.00),
    (102, 12, 1, 'open', 30.00), (103, 12, 1, 'cancelled', 40.00), (104, 13, 2, 'paid', NULL),
    (105, 14, NULL, 'paid', 5.00), (106, 99, 4, 'paid', 7.00), (107, 15, 3, 'paid', 20.00),
    (108, 10, 1, 'paid', 10.00)";

/// A trap: transactions (each one string, run as one transaction) applied after [`FIXTURE`].
struct Scenario {
    name: &'static str,
    steps: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    // An order inserted, then its region renamed: "Europe 10", not "EU -10, Europe 20".
    Scenario {
        name: "insert_then_rename",
        steps: &[
            "INSERT INTO orders VALUES (200, 10, 5, 'paid', 10.00)",
            "UPDATE regions SET name = 'Europe' WHERE id = 5",
        ],
    },
    // A fact deleted, then its dimension: the first retraction must not be lost because the
    // region is gone by the time it is applied; then a delete of an orphan, a re-insert.
    Scenario {
        name: "delete_fact_then_dimension",
        steps: &[
            "DELETE FROM orders WHERE id = 100",
            "DELETE FROM regions WHERE id = 5",
            "DELETE FROM orders WHERE id = 101",
            "INSERT INTO regions VALUES (5, 'EU')",
        ],
    },
    // Both (all three) inputs changed in one transaction: insert, update, delete.
    Scenario {
        name: "both_sides_in_one_transaction",
        steps: &[
            "INSERT INTO regions VALUES (6, 'LATAM'); INSERT INTO customers VALUES (20, 6, 'retail'); \
             INSERT INTO orders VALUES (201, 20, 6, 'paid', 12.50)",
            "UPDATE regions SET name = 'Europe' WHERE id = 5; UPDATE orders SET amount = amount + 1 WHERE region_id = 5; \
             UPDATE customers SET segment = 'smb' WHERE region_id = 5",
            "DELETE FROM orders WHERE region_id = 6; DELETE FROM customers WHERE region_id = 6; \
             DELETE FROM regions WHERE id = 6",
        ],
    },
    // Self-join: several rows of the same input change at once (delta joined with delta must
    // be counted once), rows move between regions, primary keys change the a.id < b.id order.
    Scenario {
        name: "self_join_deltas_on_both_sides",
        steps: &[
            "INSERT INTO customers VALUES (21, 1, 'retail'), (22, 1, 'corporate')",
            "UPDATE customers SET region_id = 1 WHERE region_id = 5",
            "UPDATE customers SET id = 130 - id WHERE id IN (12, 21)",
            "DELETE FROM customers WHERE id IN (109, 118, 10)",
        ],
    },
    // Updates moving a row's join key, on the fact and on the dimension (its primary key).
    Scenario {
        name: "updates_move_join_keys",
        steps: &[
            "UPDATE orders SET region_id = 1 WHERE id = 100",
            "UPDATE orders SET customer_id = 12 WHERE id = 101; UPDATE customers SET region_id = 2 WHERE id = 10",
            "UPDATE orders SET id = 300 WHERE id = 102",
            "UPDATE regions SET id = 7 WHERE id = 1",
            "UPDATE regions SET id = 1 WHERE id = 7",
        ],
    },
    // NULL join keys never match (not even each other in the self-join).
    Scenario {
        name: "null_join_keys",
        steps: &[
            "INSERT INTO orders VALUES (210, NULL, NULL, 'paid', 3.00)",
            "UPDATE orders SET region_id = NULL, customer_id = NULL WHERE id = 100",
            "UPDATE customers SET region_id = NULL WHERE id IN (11, 15)",
            "UPDATE orders SET region_id = 5, customer_id = 10 WHERE id = 100; \
             UPDATE customers SET region_id = 5 WHERE id = 11",
        ],
    },
    // Orphans: fact rows without a dimension row appear when it arrives, vanish when it goes,
    // come back under a new name.
    Scenario {
        name: "orphans_appear_and_vanish",
        steps: &[
            "INSERT INTO orders VALUES (220, 23, 8, 'paid', 8.00)",
            "INSERT INTO regions VALUES (8, 'MEA')",
            "INSERT INTO customers VALUES (23, 8, 'corporate'), (99, 4, 'retail')",
            "DELETE FROM regions WHERE id = 8",
            "INSERT INTO regions VALUES (8, 'Middle East'), (4, 'Africa')",
        ],
    },
    // Deletes on both sides of the join in one transaction, in either order.
    Scenario {
        name: "deletes_on_both_sides_in_one_transaction",
        steps: &[
            "DELETE FROM orders WHERE region_id = 1; DELETE FROM regions WHERE id = 1",
            "DELETE FROM regions WHERE id = 5; DELETE FROM orders WHERE id = 101; DELETE FROM customers WHERE id = 10",
        ],
    },
    // Deletes on both sides in interleaved transactions.
    Scenario {
        name: "deletes_interleaved",
        steps: &[
            "DELETE FROM regions WHERE id = 2",
            "DELETE FROM orders WHERE id = 104",
            "DELETE FROM customers WHERE id = 13",
            "DELETE FROM orders WHERE id = 102",
            "DELETE FROM regions WHERE id = 1",
            "DELETE FROM customers WHERE id = 12",
            "DELETE FROM orders WHERE id = 103",
        ],
    },
    // Rename then delete, in two transactions and in one.
    Scenario {
        name: "rename_then_delete",
        steps: &[
            "UPDATE regions SET name = 'Europe' WHERE id = 5",
            "DELETE FROM regions WHERE id = 5",
            "INSERT INTO regions VALUES (5, 'EU')",
            "UPDATE regions SET name = 'Eurozone' WHERE id = 5; DELETE FROM regions WHERE id = 5",
        ],
    },
    // Data-modifying CTEs: one statement changes two or three inputs.
    Scenario {
        name: "data_modifying_ctes",
        steps: &[
            "WITH r AS (UPDATE regions SET name = name || '+' WHERE id = 5 RETURNING id) \
             UPDATE orders o SET amount = o.amount * 2 FROM r WHERE o.region_id = r.id",
            "WITH d AS (DELETE FROM regions WHERE id = 1 RETURNING id) \
             DELETE FROM orders o USING d WHERE o.region_id = d.id",
            "WITH n AS (INSERT INTO regions VALUES (9, 'Nordics') RETURNING id), \
                  c AS (INSERT INTO customers SELECT 30, id, 'retail' FROM n RETURNING id, region_id) \
             INSERT INTO orders SELECT 400 + g, c.id, c.region_id, 'paid', g FROM c, generate_series(1, 3) g",
            "WITH m AS (UPDATE customers SET region_id = 9 WHERE id = 10 RETURNING id) \
             UPDATE orders o SET region_id = 9 FROM m WHERE o.customer_id = m.id",
        ],
    },
    // Renames that merge two groups, swap names, move a group to NULL and back.
    Scenario {
        name: "renames_merge_and_swap_groups",
        steps: &[
            "UPDATE regions SET name = 'EU' WHERE id = 1",
            "UPDATE regions SET name = CASE id WHEN 1 THEN 'APAC' ELSE 'EU' END WHERE id IN (1, 2)",
            "UPDATE regions SET name = NULL WHERE id = 5",
            "UPDATE regions SET name = 'EU' WHERE id = 5; UPDATE regions SET name = 'US' WHERE id = 1; \
             UPDATE regions SET name = 'APAC' WHERE id = 2",
        ],
    },
    // Three and four inputs: a customer moves region with new orders, then the customer and
    // the region go, then come back.
    Scenario {
        name: "three_inputs_customer_moves",
        steps: &[
            "UPDATE customers SET region_id = 1 WHERE id = 10; INSERT INTO orders VALUES (230, 10, 1, 'paid', 99.00)",
            "DELETE FROM customers WHERE id = 10",
            "DELETE FROM regions WHERE id = 1",
            "INSERT INTO customers VALUES (10, 2, 'corporate'); INSERT INTO regions VALUES (1, 'US')",
        ],
    },
    // One row changed several times in one transaction (net nothing, or delete and
    // re-insert of the same key with other values).
    Scenario {
        name: "same_row_many_times_in_one_transaction",
        steps: &[
            "INSERT INTO orders VALUES (240, 10, 5, 'paid', 1.00); UPDATE orders SET amount = 2.00 WHERE id = 240; \
             UPDATE orders SET region_id = 1 WHERE id = 240; DELETE FROM orders WHERE id = 240",
            "DELETE FROM orders WHERE id = 100; INSERT INTO orders VALUES (100, 11, 1, 'open', 55.00)",
            "UPDATE regions SET name = 'A' WHERE id = 5; UPDATE regions SET name = 'B' WHERE id = 5; \
             UPDATE regions SET name = 'EU' WHERE id = 5",
            "DELETE FROM regions WHERE id = 5; INSERT INTO regions VALUES (5, 'Europe')",
        ],
    },
    // HAVING and WHERE thresholds crossed both ways.
    Scenario {
        name: "having_and_filter_thresholds",
        steps: &[
            "UPDATE orders SET status = 'cancelled' WHERE id = 100",
            "DELETE FROM orders WHERE id = 101",
            "INSERT INTO orders VALUES (250, 11, 5, 'open', 1.00), (251, 11, 5, 'open', 2.00)",
            "UPDATE orders SET status = 'paid' WHERE id = 100",
        ],
    },
    // Every input emptied (the global aggregate keeps its one row), then refilled.
    Scenario {
        name: "empty_and_refill",
        steps: &[
            "DELETE FROM orders",
            "DELETE FROM customers",
            "DELETE FROM regions",
            "INSERT INTO regions VALUES (1, 'US'); INSERT INTO customers VALUES (10, 1, 'retail'); \
             INSERT INTO orders VALUES (100, 10, 1, 'paid', 1.00)",
        ],
    },
];

/// Run `sql` as one transaction.
pub(crate) async fn exec(client: &Client, sql: &str) {
    if let Err(e) = client.batch_execute(&format!("BEGIN; {sql}; COMMIT")).await {
        panic!("transaction failed: {e:?}\n{sql}");
    }
}

/// A database with the star schema and every join view created (one stream). A refused view
/// fails the test at once, with summa's message.
async fn corpus_database(tag: &str, report: &mut Report) -> (TestDb, Client, Vec<Spec>) {
    let db = TestDb::new(tag).await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    exec(&client, FIXTURE).await;
    let all = all_specs();
    let views = checks::create_in_groups(&db, &all, all.len(), report).await;
    if views.len() < all.len() {
        std::mem::replace(report, Report::new(0)).finish();
    }
    checks::check_columns(&db, &views, report).await;
    checks::check_equal(&db, &views, report, "after backfill").await;
    (db, client, views)
}

fn phase(scenario: &Scenario, what: &str) -> String {
    format!("in scenario {}, {what}", scenario.name)
}

/// Before each scenario: the fixture again, applied and checked.
async fn back_to_the_fixture(
    db: &TestDb,
    client: &Client,
    views: &[Spec],
    report: &mut Report,
    scenario: &Scenario,
) {
    exec(client, FIXTURE).await;
    db.wait_applied().await;
    checks::check_equal(db, views, report, &phase(scenario, "after the fixture")).await;
}

/// Source equals the stream position: the oracle after each transaction of each scenario.
#[tokio::test(flavor = "multi_thread")]
async fn join_traps_hold_after_every_transaction() {
    let mut report = Report::new(0);
    let (db, client, views) = corpus_database("join_step", &mut report).await;
    let _sidecar = db.sidecar_with_config("[apply]\nmax_batch_delay_ms = 20\n");
    for scenario in SCENARIOS {
        back_to_the_fixture(&db, &client, &views, &mut report, scenario).await;
        for (i, step) in scenario.steps.iter().enumerate() {
            exec(&client, step).await;
            db.wait_applied().await;
            let what = format!("after transaction {}: {step}", i + 1);
            checks::check_equal(&db, &views, &mut report, &phase(scenario, &what)).await;
        }
    }
    report.finish();
}

/// The source is past the whole scenario before the sidecar reads its first transaction;
/// each transaction is a batch of its own, applied while the inputs are already later.
#[tokio::test(flavor = "multi_thread")]
async fn join_traps_hold_when_applied_behind_the_source() {
    const ONE_PER_BATCH: &str = "[apply]\nmax_batch_changes = 1\n";
    let mut report = Report::new(0);
    let (db, client, views) = corpus_database("join_behind", &mut report).await;
    let mut sidecar = Some(db.sidecar_with_config(ONE_PER_BATCH));
    for scenario in SCENARIOS {
        back_to_the_fixture(&db, &client, &views, &mut report, scenario).await;
        sidecar.take().expect("sidecar").stop();
        for step in scenario.steps {
            exec(&client, step).await;
        }
        sidecar = Some(db.sidecar_with_config(ONE_PER_BATCH));
        db.wait_applied().await;
        let what = "after its transactions were applied one per batch behind the source";
        checks::check_equal(&db, &views, &mut report, &phase(scenario, what)).await;
    }
    drop(sidecar);
    report.finish();
}

/// Each scenario's transactions committed back to back: one batch holds them all (changes
/// of several transactions to the same rows and keys merged).
#[tokio::test(flavor = "multi_thread")]
async fn join_traps_hold_when_a_scenario_is_one_batch() {
    let mut report = Report::new(0);
    let (db, client, views) = corpus_database("join_burst", &mut report).await;
    let _sidecar = db.sidecar_with_config("[apply]\nmax_batch_delay_ms = 500\n");
    for scenario in SCENARIOS {
        back_to_the_fixture(&db, &client, &views, &mut report, scenario).await;
        for step in scenario.steps {
            exec(&client, step).await;
        }
        db.wait_applied().await;
        let what = "after its transactions were applied together";
        checks::check_equal(&db, &views, &mut report, &phase(scenario, what)).await;
    }
    report.finish();
}

/// A join key from a domain of `n` (1..=n), NULL one time in ten, a missing row
/// (n + 1, an orphan) one time in ten.
fn key(rng: &mut Rng, n: u64) -> String {
    match rng.below(10) {
        0 => "NULL".into(),
        1 => (n + 1).to_string(),
        _ => (1 + rng.below(n)).to_string(),
    }
}

fn pick(rng: &mut Rng, values: &[&str]) -> String {
    values[rng.below(values.len() as u64) as usize].to_string()
}

fn amount(rng: &mut Rng) -> String {
    if rng.chance(10) {
        "NULL".into()
    } else {
        // Few distinct values, so DISTINCT aggregates and min/max see duplicates.
        format!("{}.{}0", rng.below(5), rng.below(3))
    }
}

/// One random statement over tiny domains: 3 regions, 3 customers, 6 orders; inserts
/// (upserts), updates of values and of join keys and primary keys, deletes, bulk moves, and
/// data-modifying CTEs that change two inputs in one statement.
fn random_statement(rng: &mut Rng) -> String {
    let name = pick(rng, &["'EU'", "'US'", "'APAC'", "NULL"]);
    let segment = pick(rng, &["'retail'", "'corporate'", "NULL"]);
    let status = pick(rng, &["'paid'", "'open'", "'cancelled'"]);
    let (rid, cid, oid) = (1 + rng.below(3), 1 + rng.below(3), 1 + rng.below(6));
    match rng.below(16) {
        0 => format!(
            "INSERT INTO regions VALUES ({rid}, {name}) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name"
        ),
        1 => format!("UPDATE regions SET name = {name} WHERE id = {rid}"),
        2 => {
            let to = 1 + rng.below(4);
            format!(
                "UPDATE regions SET id = {to} WHERE id = {rid} AND NOT EXISTS (SELECT FROM regions WHERE id = {to})"
            )
        }
        3 => format!("DELETE FROM regions WHERE id = {rid}"),
        4 => format!(
            "INSERT INTO customers VALUES ({cid}, {}, {segment}) ON CONFLICT (id) DO UPDATE \
             SET region_id = EXCLUDED.region_id, segment = EXCLUDED.segment",
            key(rng, 3)
        ),
        5 => format!(
            "UPDATE customers SET region_id = {} WHERE id = {cid}",
            key(rng, 3)
        ),
        6 => format!("UPDATE customers SET segment = {segment} WHERE id = {cid}"),
        7 => format!("DELETE FROM customers WHERE id = {cid}"),
        8 | 9 => format!(
            "INSERT INTO orders VALUES ({oid}, {}, {}, {status}, {}) ON CONFLICT (id) DO UPDATE \
             SET customer_id = EXCLUDED.customer_id, region_id = EXCLUDED.region_id, \
             status = EXCLUDED.status, amount = EXCLUDED.amount",
            key(rng, 3),
            key(rng, 3),
            amount(rng)
        ),
        10 => format!(
            "UPDATE orders SET customer_id = {}, amount = {} WHERE id = {oid}",
            key(rng, 3),
            amount(rng)
        ),
        11 => format!(
            "UPDATE orders SET region_id = {}, status = {status} WHERE id = {oid}",
            key(rng, 3)
        ),
        12 => format!("DELETE FROM orders WHERE id = {oid}"),
        13 => {
            let to = 1 + rng.below(6);
            format!(
                "UPDATE orders SET id = {to} WHERE id = {oid} AND NOT EXISTS (SELECT FROM orders WHERE id = {to})"
            )
        }
        14 => "UPDATE customers SET region_id = region_id % 3 + 1 WHERE region_id IS NOT NULL".into(),
        _ => {
            if rng.chance(50) {
                format!(
                    "WITH d AS (DELETE FROM regions WHERE id = {rid} RETURNING id) \
                     UPDATE orders SET region_id = {} WHERE region_id IN (SELECT id FROM d)",
                    key(rng, 3)
                )
            } else {
                format!(
                    "WITH c AS (UPDATE customers SET region_id = {} WHERE id = {cid} RETURNING id) \
                     UPDATE orders SET amount = coalesce(amount, 0) + 1 WHERE customer_id IN (SELECT id FROM c)",
                    key(rng, 3)
                )
            }
        }
    }
}

/// A random transaction of 1 to 3 statements (often on two or three inputs).
fn random_transaction(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| random_statement(rng))
        .collect::<Vec<_>>()
        .join(";\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn random_join_workload_matches_after_every_transaction() {
    let db = TestDb::new("join_random").await;
    let client = db.client().await;
    let seed = seed("join_random");
    let mut rng = Rng::new(seed);
    let mut report = Report::new(seed);
    client.batch_execute(SCHEMA).await.unwrap();
    exec(
        &client,
        "INSERT INTO regions VALUES (1, 'EU'), (2, 'US'), (3, 'APAC');
         INSERT INTO customers VALUES (1, 1, 'retail'), (2, 1, 'corporate'), (3, 2, NULL)",
    )
    .await;
    for id in 1..=6 {
        let sql = format!(
            "INSERT INTO orders VALUES ({id}, {}, {}, 'paid', {})",
            key(&mut rng, 3),
            key(&mut rng, 3),
            amount(&mut rng)
        );
        exec(&client, &sql).await;
    }
    // Plain and eager (j_region, j_four: counts and sums kept per partial group) inner joins,
    // and LEFT JOINs.
    let views = specs(&[
        "j_three",
        "j_self",
        "j_region",
        "j_four",
        "l_snowflake",
        "l_self",
    ]);
    for spec in &views {
        db.create(&spec.name, &spec.sql);
    }
    checks::check_equal(&db, &views, &mut report, "after backfill").await;
    // One transaction per batch; every tenth cycle a burst of five transactions committed
    // back to back, so the sidecar applies them while the inputs are already later.
    let _sidecar = db.sidecar_with_config("[apply]\nmax_batch_changes = 1\n");
    for cycle in 0..100 {
        let burst = if cycle % 10 == 9 { 5 } else { 1 };
        let mut done = Vec::new();
        for _ in 0..burst {
            let sql = random_transaction(&mut rng);
            exec(&client, &sql).await;
            done.push(sql);
        }
        db.wait_applied().await;
        let what = format!("after cycle {cycle}:\n{}", done.join("\n--\n"));
        checks::check_equal(&db, &views, &mut report, &what).await;
        if views.iter().all(|v| !report.ok(v)) {
            break;
        }
    }
    report.finish();
}

/// Rows for the concurrency tests: 5 regions, 10 customers, 60 orders.
async fn preload(client: &Client) {
    client.batch_execute(SCHEMA).await.unwrap();
    exec(
        client,
        "INSERT INTO regions SELECT g, (ARRAY['EU', 'US', 'APAC'])[1 + g % 3] FROM generate_series(1, 5) g;
         INSERT INTO customers SELECT g, 1 + g % 5, (ARRAY['retail', 'corporate'])[1 + g % 2] FROM generate_series(1, 10) g;
         INSERT INTO orders SELECT g, 1 + g % 11, 1 + g % 6, (ARRAY['paid', 'open', 'cancelled'])[1 + g % 3], g % 17
         FROM generate_series(1, 60) g",
    )
    .await;
}

/// One transaction of a writer on orders: inserts, moves between regions and customers
/// (some of them missing), amount changes, deletes.
fn orders_transaction(rng: &mut Rng) -> String {
    let n = 1 + rng.below(4);
    (0..n)
        .map(|_| {
            let id = 1 + rng.below(80);
            match rng.below(4) {
                0 => format!(
                    "INSERT INTO orders VALUES ({id}, {}, {}, 'paid', {}) ON CONFLICT (id) DO UPDATE \
                     SET region_id = EXCLUDED.region_id, amount = EXCLUDED.amount",
                    key(rng, 10),
                    key(rng, 5),
                    amount(rng)
                ),
                1 => format!("UPDATE orders SET region_id = {} WHERE id = {id}", key(rng, 5)),
                2 => format!(
                    "UPDATE orders SET amount = {}, status = {} WHERE id = {id}",
                    amount(rng),
                    pick(rng, &["'paid'", "'open'", "'cancelled'"])
                ),
                _ => format!("DELETE FROM orders WHERE id = {id}"),
            }
        })
        .collect::<Vec<_>>()
        .join(";\n")
}

/// One transaction of a writer on the dimensions: renames, deletes, re-inserts of regions;
/// customers moving between regions.
fn regions_transaction(rng: &mut Rng) -> String {
    let id = 1 + rng.below(5);
    let name = pick(rng, &["'EU'", "'Europe'", "'US'", "'APAC'", "NULL"]);
    match rng.below(5) {
        0 | 1 => format!("UPDATE regions SET name = {name} WHERE id = {id}"),
        2 => format!("DELETE FROM regions WHERE id = {id}"),
        3 => format!(
            "INSERT INTO regions VALUES ({id}, {name}) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name"
        ),
        _ => format!(
            "UPDATE customers SET region_id = {} WHERE id = {}; UPDATE regions SET name = {name} WHERE id = {id}",
            key(rng, 5),
            1 + rng.below(10)
        ),
    }
}

/// Two writers until `stop`: one on orders, one on regions and customers.
fn spawn_writers(
    db: &TestDb,
    seed: u64,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..2u64)
        .map(|w| {
            let (url, stop) = (db.url.clone(), stop.clone());
            tokio::spawn(async move {
                let client = connect(&url).await;
                let mut rng = Rng::new(seed ^ ((w + 1) * 0x9E37));
                while !stop.load(Ordering::Relaxed) {
                    let sql = if w == 0 {
                        orders_transaction(&mut rng)
                    } else {
                        regions_transaction(&mut rng)
                    };
                    exec(&client, &sql).await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect()
}

async fn stop_writers(stop: &Arc<AtomicBool>, writers: Vec<tokio::task::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
}

fn create_all(db: &TestDb, views: &[Spec]) {
    for spec in views {
        db.create(&spec.name, &spec.sql);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_order_and_region_writers_are_joined_exactly_once() {
    let db = TestDb::new("join_concurrent").await;
    let client = db.client().await;
    let s = seed("join_concurrent");
    let mut report = Report::new(s);
    preload(&client).await;
    let views = specs(&[
        "j_region", "j_three", "j_self", "j_global", "j_four", "j_six",
    ]);
    create_all(&db, &views);
    let _sidecar = db.sidecar();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&db, s, &stop);
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop_writers(&stop, writers).await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after two concurrent writers").await;
    report.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_writers_change_both_join_inputs_loses_and_duplicates_nothing() {
    let db = TestDb::new("join_kill").await;
    let client = db.client().await;
    let s = seed("join_kill");
    let mut report = Report::new(s);
    preload(&client).await;
    let views = specs(&["j_region", "j_three", "j_self"]);
    create_all(&db, &views);
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&db, s, &stop);
    let mut rng = Rng::new(s);
    // Small chunks: the writers' transactions are shipped in several, and merged in parts.
    let config = "[apply]\nchunk_rows = 4\nmerge_rows = 8\n";
    let mut sidecar: Sidecar = db.sidecar_with_config(config);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500 + rng.below(700))).await;
        sidecar.kill();
        tokio::time::sleep(Duration::from_millis(100)).await;
        sidecar = db.sidecar_with_config(config);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_writers(&stop, writers).await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after three kill -9 and restarts").await;
    drop(sidecar);
    report.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn join_view_created_while_both_inputs_change_is_handed_off_exactly_once() {
    let db = TestDb::new("join_handoff").await;
    let client = db.client().await;
    let s = seed("join_handoff");
    let mut report = Report::new(s);
    preload(&client).await;
    // A sidecar already maintains one join view while the others are created.
    let first = specs(&["j_region"]);
    create_all(&db, &first);
    let _sidecar = db.sidecar();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&db, s, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = specs(&["j_three", "j_self", "j_four"]);
    create_all(&db, &later);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_writers(&stop, writers).await;
    db.wait_applied().await;
    let views: Vec<Spec> = first.into_iter().chain(later).collect();
    checks::check_equal(&db, &views, &mut report, "after creating views amid writes").await;
    report.finish();
    let not_live = db.versions_not_live().await;
    assert!(
        not_live.is_empty(),
        "versions not live after catching up: {not_live:?}"
    );
}

/// Names of the views `summa status --json` lists.
fn listed_views(db: &TestDb) -> Vec<String> {
    let (ok, out, err) = db.summa(&["status", "--json"]);
    assert!(ok, "summa status: {out}{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("status JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v["view"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn right_full_lateral_and_keyless_joins_are_refused_naming_the_construct() {
    let db = TestDb::new("join_refuse").await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE notes (region_id int, body text);
             CREATE TABLE t0 (id int PRIMARY KEY, v int); ALTER TABLE t0 REPLICA IDENTITY FULL;",
        )
        .await
        .unwrap();
    // One accepted view, so the catalog exists and status has something to list.
    db.create("base", "SELECT v, count(*) FROM t0 GROUP BY v");
    let slots = crate::harness::slot_count(&client).await;
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "bad_left_noeq",
            "SELECT r.name, count(o.id) FROM regions r LEFT JOIN orders o ON o.region_id > r.id GROUP BY r.name",
            &["LEFT JOIN without an equality", "o"],
        ),

        (
            "bad_right",
            "SELECT r.name, count(*) FROM orders o RIGHT JOIN regions r ON r.id = o.region_id GROUP BY r.name",
            &["RIGHT JOIN"],
        ),
        (
            "bad_full",
            "SELECT r.name, count(*) FROM orders o FULL JOIN regions r ON r.id = o.region_id GROUP BY r.name",
            &["FULL JOIN"],
        ),
        (
            "bad_lateral",
            "SELECT r.name, count(*) FROM regions r, LATERAL (SELECT o.id FROM orders o WHERE o.region_id = r.id) x \
             GROUP BY r.name",
            &["LATERAL"],
        ),
        (
            "bad_nokey",
            "SELECT r.name, count(*) FROM notes n JOIN regions r ON r.id = n.region_id GROUP BY r.name",
            &["primary key", "notes"],
        ),
    ];
    let mut problems = Vec::new();
    for (name, sql, needles) in cases {
        client.prepare(sql).await.expect("Postgres accepts the SQL");
        let (ok, out, err) = db.summa(&["create", name, "--sql", sql]);
        // The message itself, not the echoed SQL line and its caret (they contain the SQL).
        let lower = err
            .lines()
            .filter(|l| !l.starts_with("LINE ") && l.trim() != "^")
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase();
        if ok {
            problems.push(format!("{name} accepted:\n{out}"));
        } else if let Some(missing) = needles.iter().find(|n| !lower.contains(&n.to_lowercase())) {
            problems.push(format!("{name} refused without naming {missing:?}:\n{err}"));
        }
        let listed = listed_views(&db);
        if listed.iter().any(|v| v == name) {
            problems.push(format!(
                "{name} is listed by summa status after the refusal: {listed:?}"
            ));
        }
        let relations: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname LIKE $1 || '%'",
                &[name],
            )
            .await
            .unwrap()
            .get(0);
        if relations > 0 {
            problems.push(format!("{name} left {relations} relation(s) behind"));
        }
    }
    assert_eq!(
        crate::harness::slot_count(&client).await,
        slots,
        "refused creates left replication slots behind"
    );
    assert_eq!(listed_views(&db), vec!["base".to_string()]);
    assert!(
        problems.is_empty(),
        "{} join(s) not refused as required:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn join_inputs_keep_their_default_replica_identity() {
    let db = TestDb::new("join_identity").await;
    let client = db.client().await;
    let mut report = Report::new(0);
    client.batch_execute(SCHEMA).await.unwrap();
    exec(&client, FIXTURE).await;
    // Today's rule for one table still holds: a non-key column needs its old values.
    let (ok, out, err) = db.summa(&[
        "create",
        "single",
        "--sql",
        "SELECT status, sum(amount) FROM orders GROUP BY status",
    ]);
    assert!(
        !ok && err.contains("REPLICA IDENTITY"),
        "a single-table view over non-key columns of a default-identity table:\n{out}{err}"
    );
    // Join views read non-key columns of every input and need no FULL identity.
    let views = specs(&["j_region", "j_three", "j_self"]);
    for spec in &views {
        let (ok, out, err) = db.summa(&["create", &spec.name, "--sql", &spec.sql]);
        assert!(
            ok,
            "join view {} refused without --set-replica-identity-full:\n{out}\n{err}",
            spec.name
        );
        // `summa create` says what each input needs and where its rows are kept.
        assert!(
            out.contains(": only its primary key (\"id\") is logged")
                && out.contains("__input_1\""),
            "create does not say what the inputs need:\n{out}"
        );
    }
    let identities: Vec<(String, String)> = client
        .query(
            "SELECT relname::text, relreplident::text FROM pg_class \
             WHERE relname IN ('orders', 'customers', 'regions') ORDER BY relname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        identities.iter().all(|(_, i)| i == "d"),
        "summa changed the inputs' replica identity: {identities:?}"
    );
    // Updates and deletes log only the key: the old join keys and values come from summa.
    let _sidecar = db.sidecar();
    for step in [
        "UPDATE orders SET amount = amount * 3, region_id = 1 WHERE id IN (100, 101)",
        "UPDATE regions SET name = 'Europe' WHERE id = 5",
        "UPDATE customers SET region_id = 1, segment = 'smb' WHERE id = 10",
        "DELETE FROM orders WHERE id = 102; DELETE FROM regions WHERE id = 2; DELETE FROM customers WHERE id = 15",
    ] {
        exec(&client, step).await;
        db.wait_applied().await;
        checks::check_equal(&db, &views, &mut report, &format!("after {step}")).await;
    }
    report.finish();
}

/// TRUNCATE of a LEFT JOIN's preserved side empties the join (reset, maintained on); of its
/// NULL-supplying side pads every row instead: that version breaks with the reason, the others
/// go on.
#[tokio::test(flavor = "multi_thread")]
async fn truncate_of_a_left_joins_sides_resets_or_breaks_only_that_version() {
    let db = TestDb::new("join_truncate").await;
    let client = db.client().await;
    let mut report = Report::new(0);
    client.batch_execute(SCHEMA).await.unwrap();
    exec(&client, FIXTURE).await;
    let views = specs(&["l_region", "j_three"]);
    for spec in &views {
        db.create(&spec.name, &spec.sql);
    }
    let _sidecar = db.sidecar();
    exec(
        &client,
        "INSERT INTO orders VALUES (200, 10, 5, 'paid', 1.00); TRUNCATE orders; \
         INSERT INTO orders VALUES (201, 10, 5, 'paid', 2.00), (202, 99, 9, 'open', 3.00)",
    )
    .await;
    db.wait_applied().await;
    checks::check_equal(&db, &views, &mut report, "after TRUNCATE orders").await;
    report.finish();
    exec(&client, "TRUNCATE regions").await;
    db.wait_applied().await;
    let states: Vec<(String, String, Option<String>)> = client
        .query(
            "SELECT view_name, state, error FROM summa.versions ORDER BY view_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let (_, state, error) = &states[1];
    assert_eq!(states[1].0, "l_region");
    assert_eq!(state, "broken", "{states:?}");
    let error = error.as_deref().unwrap_or_default();
    assert!(
        error.contains("truncated") && error.contains("LEFT JOIN") && error.contains("rebuild"),
        "{error}"
    );
    assert_eq!(states[0].1, "live", "the inner join goes on: {states:?}");
    let mut report = Report::new(0);
    let inner = specs(&["j_three"]);
    exec(&client, "INSERT INTO regions VALUES (5, 'EU')").await;
    db.wait_applied().await;
    checks::check_equal(&db, &inner, &mut report, "after TRUNCATE regions").await;
    report.finish();
}
