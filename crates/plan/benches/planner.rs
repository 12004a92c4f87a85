//! Planner and SQL generation without a database: parsing and analysing a view's SQL (the
//! part of `summa create` before Postgres resolves types), and generating the merge statement
//! from a stored plan (done once per version per session). Plans in `fixtures/` are those
//! `summa create` stored for the reference views V1 and V2.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use summa_plan::sqlgen::{merge_changes, merge_staged, Target};
use summa_plan::{
    analyze, parse_view, MaintenancePlan, ReplicaIdentity, SourceColumn, SourceTable,
};

const V1: &str =
    "SELECT customer_id, count(*), sum(amount), avg(amount) FROM orders GROUP BY customer_id";
const V2: &str = "SELECT date_trunc('day', created_at) AS day, status, count(*), sum(amount), \
     min(amount), max(amount) FROM orders GROUP BY 1, 2";
const WIDE: &str = "SELECT region_id, status, date_trunc('month', created_at) AS month, \
     count(*), count(DISTINCT customer_id), sum(amount) FILTER (WHERE status <> 'cancelled'), \
     avg(amount), min(amount), max(created_at), stddev_samp(amount), bool_and(amount > 0) \
     FROM orders WHERE amount IS NOT NULL AND customer_id % 10 <> 3 \
     GROUP BY region_id, status, 3 HAVING count(*) > 1";

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
        ],
        replica_identity: ReplicaIdentity::Full,
        primary_key: vec!["id".into()],
        partitions: Vec::new(),
        partitioned: false,
    }
}

fn planner(c: &mut Criterion) {
    let source = orders();
    let mut g = c.benchmark_group("planner");
    for (name, sql) in [("V1", V1), ("V2", V2), ("wide", WIDE)] {
        g.bench_function(format!("parse + analyze {name}"), |b| {
            b.iter(|| {
                let parsed = parse_view(black_box(sql)).expect("parses");
                analyze(&parsed, &source).expect("maintainable")
            })
        });
    }
    g.finish();
}

fn fixture(name: &str) -> MaintenancePlan {
    let path = format!(
        "{}/benches/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    MaintenancePlan::from_json(serde_json::from_str(&text).expect("json")).expect("a plan")
}

fn merge_sql(c: &mut Criterion) {
    let target = Target::new("public", "bench__v1");
    let mut g = c.benchmark_group("sqlgen");
    for name in ["v1", "v2"] {
        let plan = fixture(name);
        g.bench_function(format!("merge statements {name}"), |b| {
            b.iter(|| {
                let direct = merge_changes(black_box(&plan), &target);
                let staged = merge_staged(&plan, &target, "pg_temp.summa_staging_0");
                direct.len() + staged.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, planner, merge_sql);
criterion_main!(benches);
