//! Planner without a database: accepted shapes produce the expected analysis; each refused
//! construct gives its error and position.

use summa_plan::{
    analyze, analyze_inputs, parse_view, AggKind, OutputSource, PlanError, ReplicaIdentity,
    SourceColumn, SourceTable,
};

fn orders() -> SourceTable {
    let col = |name: &str, ty: &str| SourceColumn {
        name: name.into(),
        type_sql: ty.into(),
        type_oid: 0,
        generated: None,
    };
    SourceTable {
        oid: 1,
        schema: "public".into(),
        name: "orders".into(),
        columns: vec![
            col("id", "bigint"),
            col("customer_id", "integer"),
            col("region_id", "integer"),
            col("status", "text"),
            col("amount", "numeric(12,2)"),
            col("created_at", "timestamp with time zone"),
            col("Mixed", "integer"),
        ],
        replica_identity: ReplicaIdentity::Full,
        primary_key: vec!["id".into()],
        partitions: Vec::new(),
        partitioned: false,
    }
}

fn plan(sql: &str) -> Result<summa_plan::Analysis, PlanError> {
    let parsed = parse_view(sql)?;
    if parsed.from.len() > 1 {
        return joined(sql);
    }
    analyze(&parsed, &orders())
}

fn regions() -> SourceTable {
    SourceTable {
        oid: 2,
        name: "regions".into(),
        columns: vec![
            SourceColumn {
                name: "id".into(),
                type_sql: "integer".into(),
                type_oid: 0,
                generated: None,
            },
            SourceColumn {
                name: "name".into(),
                type_sql: "text".into(),
                type_oid: 0,
                generated: None,
            },
        ],
        ..orders()
    }
}

/// A join of orders with regions (as the FROM clause lists them: orders first).
fn joined(sql: &str) -> Result<summa_plan::Analysis, PlanError> {
    let parsed = parse_view(sql)?;
    let sources: Vec<SourceTable> = parsed
        .from
        .iter()
        .map(|f| {
            if f.table == "regions" {
                regions()
            } else {
                orders()
            }
        })
        .collect();
    analyze_inputs(&parsed, &sources)
}

#[test]
fn inner_joins_put_their_conditions_in_the_filter_and_qualify_each_input() {
    let a = joined(
        "SELECT r.name, count(*), sum(o.amount) FROM orders o JOIN regions r ON r.id = o.region_id \
         WHERE o.status <> 'cancelled' GROUP BY r.name",
    )
    .unwrap();
    assert_eq!(a.keys, vec!["\"r\".\"name\""]);
    assert_eq!(
        a.filter.as_deref(),
        Some("(\"r\".\"id\" = \"o\".\"region_id\") AND (\"o\".\"status\" <> 'cancelled')")
    );
    assert_eq!(
        a.columns_read,
        vec![vec!["region_id", "status", "amount"], vec!["id", "name"]]
    );
    // Comma joins and USING give the same shape.
    let comma = joined(
        "SELECT name, count(*) FROM orders, regions WHERE regions.id = orders.region_id GROUP BY name",
    )
    .unwrap();
    assert_eq!(comma.keys, vec!["\"regions\".\"name\""]);
    let using =
        joined("SELECT status, count(*) FROM orders a JOIN orders b USING (id) GROUP BY status");
    // `status` is in both occurrences and not a USING column: ambiguous, as in Postgres.
    let err = using.unwrap_err().to_string();
    assert!(
        err.contains("column reference \"status\" is ambiguous"),
        "{err}"
    );
    let using =
        joined("SELECT id, count(*) FROM orders a JOIN orders b USING (id) GROUP BY id").unwrap();
    assert_eq!(using.keys, vec!["\"a\".\"id\""]);
    assert_eq!(using.filter.as_deref(), Some("\"a\".\"id\" = \"b\".\"id\""));
    let twice = joined("SELECT count(*) FROM orders JOIN orders ON true").unwrap_err();
    assert!(
        twice.to_string().contains("specified more than once"),
        "{twice}"
    );
}

#[test]
fn left_joins_keep_their_condition_apart_with_the_equality_that_probes_it() {
    let a = joined(
        "SELECT r.name, count(*), count(r.id) FROM orders o LEFT JOIN regions r \
         ON r.id = o.region_id AND r.name <> 'x' WHERE o.status <> 'cancelled' GROUP BY r.name",
    )
    .unwrap();
    // The LEFT JOIN's condition is not part of the row filter: it decides padding.
    assert_eq!(a.filter.as_deref(), Some("\"o\".\"status\" <> 'cancelled'"));
    assert!(a.left_joins[0].is_none());
    let left = a.left_joins[1].as_ref().expect("regions is LEFT JOINed");
    assert_eq!(
        left.on,
        "\"r\".\"id\" = \"o\".\"region_id\" AND \"r\".\"name\" <> 'x'"
    );
    assert_eq!(
        (left.column.as_str(), left.probe.as_str()),
        ("id", "\"o\".\"region_id\"")
    );
    // The equality written the other way round, and USING.
    let b = joined("SELECT count(*) FROM orders o LEFT JOIN regions r ON o.region_id + 1 = r.id")
        .unwrap();
    let left = b.left_joins[1].as_ref().unwrap();
    assert_eq!(
        (left.column.as_str(), left.probe.as_str()),
        ("id", "\"o\".\"region_id\" + 1")
    );
    let c = joined("SELECT id, count(*) FROM orders a LEFT JOIN orders b USING (id) GROUP BY id")
        .unwrap();
    assert_eq!(c.filter, None);
    let left = c.left_joins[1].as_ref().unwrap();
    assert_eq!(left.on, "(\"a\".\"id\" = \"b\".\"id\")");
    assert_eq!(left.probe, "\"a\".\"id\"");
    // USING binds to the tables of its own FROM item, as in Postgres, and refuses a column
    // two of them have.
    let c =
        joined("SELECT count(*) FROM regions x, orders a LEFT JOIN orders b USING (id)").unwrap();
    assert_eq!(c.left_joins[2].as_ref().unwrap().probe, "\"a\".\"id\"");
    let err = joined(
        "SELECT count(*) FROM orders a JOIN orders b ON a.id = b.id JOIN orders c USING (id)",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("common column name \"id\" appears more than once"),
        "{err}"
    );
    // Postgres scopes a LEFT JOIN's condition to its own FROM item.
    let err = joined(
        "SELECT count(*) FROM regions r, customers c LEFT JOIN orders o ON o.region_id = r.id",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("invalid reference to FROM-clause entry for table \"r\""),
        "{err}"
    );
}

#[test]
fn a_join_without_aggregates_is_a_multiset_grouped_by_every_output() {
    let a = joined(
        "SELECT r.name, o.status, o.status FROM orders o JOIN regions r ON r.id = o.region_id",
    )
    .unwrap();
    assert!(a.multiset);
    assert_eq!(a.keys, vec!["\"r\".\"name\"", "\"o\".\"status\""]);
    assert!(a.aggs.is_empty());
    // DISTINCT keeps its meaning (no duplicates), and one table's projection is still refused.
    let d =
        joined("SELECT DISTINCT r.name FROM orders o LEFT JOIN regions r ON r.id = o.region_id")
            .unwrap();
    assert!(!d.multiset);
    assert!(plan("SELECT status FROM orders").is_err());
}

fn refused(sql: &str, construct: &str, line: u64, column: u64) {
    let err = plan(sql).expect_err(sql);
    let text = err.to_string();
    assert!(
        text.contains(construct),
        "{sql}: expected {construct:?} in {text}"
    );
    let pos = err
        .pos()
        .unwrap_or_else(|| panic!("{sql}: no position in {text}"));
    assert_eq!((pos.line, pos.column), (line, column), "{sql}: {text}");
}

#[test]
fn reference_view_v1() {
    let a = plan(
        "SELECT customer_id, count(*), sum(amount), avg(amount) FROM orders GROUP BY customer_id",
    )
    .unwrap();
    assert_eq!(a.keys, vec!["\"orders\".\"customer_id\""]);
    assert_eq!(a.filter, None);
    let kinds: Vec<AggKind> = a.aggs.iter().map(|g| g.kind).collect();
    assert_eq!(kinds, vec![AggKind::CountStar, AggKind::Sum, AggKind::Avg]);
    assert_eq!(a.aggs[1].arg.as_deref(), Some("\"orders\".\"amount\""));
    assert_eq!(
        a.outputs,
        vec![
            OutputSource::Key(0),
            OutputSource::Agg(0),
            OutputSource::Agg(1),
            OutputSource::Agg(2)
        ]
    );
    assert_eq!(a.columns_read, vec![vec!["customer_id", "amount"]]);
}

#[test]
fn group_keys_by_expression_alias_and_ordinal_are_the_same_key() {
    // Columns are qualified with the name the FROM clause gives the table (alias or name).
    for (sql, input) in [
        ("SELECT date_trunc('day', created_at) AS day, status, count(*) FROM orders GROUP BY 1, 2", "orders"),
        ("SELECT date_trunc('day', created_at) AS day, status, count(*) FROM orders GROUP BY day, status", "orders"),
        ("SELECT date_trunc('day', o.created_at) AS day, o.status, count(*) FROM orders o GROUP BY date_trunc('day', created_at), status", "o"),
    ] {
        let a = plan(sql).unwrap();
        assert_eq!(
            a.keys,
            vec![
                format!("date_trunc('day', \"{input}\".\"created_at\")"),
                format!("\"{input}\".\"status\"")
            ],
            "{sql}"
        );
        assert_eq!(a.outputs[..2], [OutputSource::Key(0), OutputSource::Key(1)], "{sql}");
    }
}

#[test]
fn row_filters_are_kept_as_canonical_sql() {
    let a = plan(
        "SELECT status, count(amount) FROM orders WHERE amount BETWEEN 1 AND 10 AND status IN ('a', 'b') \
         AND NOT (customer_id IS NULL) AND status LIKE 'p%' AND amount::int > 2 GROUP BY status",
    )
    .unwrap();
    let f = a.filter.unwrap();
    assert!(f.contains("\"orders\".\"amount\" BETWEEN 1 AND 10"), "{f}");
    assert!(f.contains("\"orders\".\"status\" IN ('a', 'b')"), "{f}");
    assert!(f.contains("\"orders\".\"status\" LIKE 'p%'"), "{f}");
}

#[test]
fn global_aggregate_and_quoted_identifiers() {
    let a = plan("SELECT count(*), sum(\"Mixed\") AS m FROM orders").unwrap();
    assert!(a.keys.is_empty());
    assert_eq!(a.aggs[1].arg.as_deref(), Some("\"orders\".\"Mixed\""));
    // Unquoted Mixed folds to mixed, which does not exist.
    refused(
        "SELECT sum(Mixed) FROM orders",
        "column \"mixed\" does not exist",
        1,
        12,
    );
}

#[test]
fn refused_constructs_name_their_position() {
    refused(
        "SELECT customer_id, string_agg(status, ',') FROM orders GROUP BY 1",
        "aggregate string_agg()",
        1,
        21,
    );
    refused(
        "SELECT customer_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders GROUP BY 1",
        "WITHIN GROUP",
        1,
        21,
    );
    refused(
        "SELECT customer_id, 1 + array_agg(amount) FROM orders GROUP BY 1",
        "aggregate array_agg()",
        1,
        25,
    );
    refused(
        "SELECT status, stddev(DISTINCT amount) FROM orders GROUP BY 1",
        "stddev(DISTINCT",
        1,
        16,
    );
    refused(
        "SELECT status, count(*) FROM orders\nWHERE created_at > now()\nGROUP BY 1",
        "now()",
        2,
        20,
    );
    refused(
        "SELECT status, sum(amount) OVER () FROM orders",
        "window function",
        1,
        16,
    );
    refused(
        "SELECT status, count(*) FILTER (WHERE random() > 0.5) FROM orders GROUP BY 1",
        "random()",
        1,
        39,
    );
    refused(
        "SELECT status, count(*) FROM orders GROUP BY 1 HAVING sum(amount) > avg(customer_id) + region_id",
        "column \"region_id\" must appear in the GROUP BY clause",
        1,
        88,
    );
    refused(
        "SELECT DISTINCT count(*) FROM orders GROUP BY status",
        "SELECT DISTINCT with GROUP BY",
        1,
        1,
    );
    refused(
        "SELECT DISTINCT ON (status) status, amount FROM orders",
        "DISTINCT ON",
        1,
        21,
    );
    refused(
        "SELECT status, count(*) FROM orders GROUP BY ROLLUP (status)",
        "GROUPING SETS/ROLLUP/CUBE",
        1,
        54,
    );
    refused(
        "SELECT status, count(*) FROM orders GROUP BY GROUPING SETS ((status), ())",
        "GROUPING SETS/ROLLUP/CUBE",
        1,
        62,
    );
    refused(
        "SELECT o.status, count(*) FROM orders o LEFT JOIN regions r ON r.id > o.region_id GROUP BY 1",
        "a LEFT JOIN without an equality to the tables before it",
        1,
        64,
    );
    refused(
        "SELECT o.status, count(*) FROM orders o RIGHT JOIN regions r ON r.id = o.region_id GROUP BY 1",
        "RIGHT JOIN",
        1,
        52,
    );
    refused(
        "SELECT o.status, count(*) FROM orders o FULL JOIN regions r ON r.id = o.region_id GROUP BY 1",
        "FULL JOIN",
        1,
        51,
    );
    refused(
        "SELECT o.status, count(*) FROM orders o NATURAL JOIN regions GROUP BY 1",
        "NATURAL JOIN",
        1,
        54,
    );
    refused(
        "SELECT status, count(*) FROM (SELECT * FROM orders) s GROUP BY 1",
        "subquery in FROM",
        1,
        31,
    );
    refused(
        "SELECT status, count(*) FROM orders WHERE EXISTS (SELECT 1) GROUP BY 1",
        "subquery",
        1,
        51,
    );
    refused("SELECT * FROM orders", "* in the select list", 1, 8);
    refused(
        "SELECT status, amount, count(*) FROM orders GROUP BY status",
        "column \"amount\" must appear in the GROUP BY clause",
        1,
        16,
    );
    refused(
        "SELECT status, amount FROM orders",
        "without aggregates or GROUP BY",
        1,
        1,
    );
    refused(
        "SELECT status, count(*) FROM orders WHERE sum(amount) > 1 GROUP BY 1",
        "not allowed in WHERE",
        1,
        43,
    );
    refused(
        "SELECT status, count(*) FROM orders GROUP BY 3",
        "GROUP BY position 3",
        1,
        46,
    );
    refused(
        "SELECT status, count(*) FROM orders x GROUP BY orders.status",
        "missing FROM-clause entry",
        1,
        48,
    );
    refused(
        "SELECT status, count(*) AS __rows FROM orders GROUP BY 1",
        "reserved",
        1,
        16,
    );
}

#[test]
fn aggregates_filters_having_and_expressions_over_aggregates() {
    let a = plan(
        "SELECT status, upper(status) AS s, min(amount), count(DISTINCT customer_id), \
         sum(amount) FILTER (WHERE region_id = 3), sum(amount) / count(*) AS mean, \
         count(*) FILTER (WHERE amount > 1) \
         FROM orders GROUP BY status HAVING max(amount) > 10 ORDER BY 1",
    )
    .unwrap();
    let kinds: Vec<AggKind> = a.aggs.iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AggKind::Min,
            AggKind::Count,
            AggKind::Sum,
            AggKind::Sum,
            AggKind::CountStar,
            AggKind::Count,
            AggKind::Max
        ]
    );
    assert!(a.aggs[1].distinct);
    assert_eq!(
        a.aggs[2].arg.as_deref(),
        Some("CASE WHEN \"orders\".\"region_id\" = 3 THEN \"orders\".\"amount\" END")
    );
    assert_eq!(
        a.aggs[5].arg.as_deref(),
        Some("CASE WHEN \"orders\".\"amount\" > 1 THEN 1 END")
    );
    assert_eq!(
        a.outputs[1],
        OutputSource::Expr("upper(\"__summa_key_0\")".into())
    );
    assert_eq!(
        a.outputs[5],
        OutputSource::Expr("\"__summa_agg_3\" / \"__summa_agg_4\"".into())
    );
    assert_eq!(a.having.as_deref(), Some("\"__summa_agg_6\" > 10"));
    let parsed = parse_view("SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1").unwrap();
    assert!(
        parsed.notices[0].contains("ORDER BY at 1:57 is ignored"),
        "{:?}",
        parsed.notices
    );
}

#[test]
fn select_distinct_is_grouping() {
    let a = plan("SELECT DISTINCT status, region_id + 1 AS r FROM orders").unwrap();
    assert_eq!(
        a.keys,
        vec!["\"orders\".\"status\"", "\"orders\".\"region_id\" + 1"]
    );
    assert!(a.aggs.is_empty());
    let a = plan("SELECT DISTINCT status, count(*) FROM orders GROUP BY status").unwrap();
    assert_eq!(a.outputs[0], OutputSource::Key(0));
    assert!(plan("SELECT status FROM orders GROUP BY status").is_ok());
}

#[test]
fn statement_level_refusals() {
    for (sql, text) in [
        ("SELECT 1; SELECT 2", "exactly one SELECT"),
        ("DELETE FROM orders", "must be a SELECT"),
        (
            "SELECT status, count(*) FROM orders GROUP BY 1 UNION SELECT 'x', 1",
            "set operation",
        ),
        (
            "WITH o AS (SELECT * FROM orders) SELECT status, count(*) FROM o GROUP BY 1",
            "WITH",
        ),
        ("SELEC status FROM orders", "syntax error"),
    ] {
        let err = plan(sql).expect_err(sql);
        assert!(err.to_string().contains(text), "{sql}: {err}");
    }
}

#[test]
fn errors_render_with_a_caret_under_the_position() {
    let sql = "SELECT status, count(*)\nFROM orders\nWHERE random() > 0.5\nGROUP BY 1";
    let err = plan(sql).unwrap_err();
    let rendered = err.render(sql);
    assert!(
        rendered.contains("LINE 3: WHERE random() > 0.5"),
        "{rendered}"
    );
    assert!(
        rendered.ends_with(&format!("{}^", " ".repeat("LINE 3: ".len() + 6))),
        "{rendered}"
    );
}
