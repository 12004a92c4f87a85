//! The wide test schema `facts` (a column of every type users aggregate) and a seeded random
//! workload over it: few groups so they collide, appear and vanish; NULLs in every column,
//! keys included; many duplicates so DISTINCT and MIN/MAX ties matter; mixed-case text under a
//! linguistic default collation next to a `COLLATE "C"` column; and changes aimed at the rows
//! holding the current MIN/MAX of a group. Values stay modest and floats are multiples of
//! 1/4 or 1/16, so sums are exact and a 9-significant-digit comparison is meaningful.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::Client;

use crate::harness::{cluster, connect, Rng, TestDb};
use crate::server::{supports_or_runs_without, Needs};

pub const SCHEMA: &str = "CREATE TABLE facts (
    id bigserial PRIMARY KEY,
    g int,
    h int2,
    cat text,
    code text COLLATE \"C\",
    i2 int2,
    i4 int,
    i8 bigint,
    n numeric,
    n2 numeric(12,2),
    f4 real,
    f8 double precision,
    d date,
    ts timestamp,
    tstz timestamptz,
    iv interval,
    m money,
    b boolean
);
ALTER TABLE facts REPLICA IDENTITY FULL;";

/// The columns a random row sets, in INSERT order, with their types.
const COLUMNS: [(&str, &str); 17] = [
    ("g", "int"),
    ("h", "int2"),
    ("cat", "text"),
    ("code", "text"),
    ("i2", "int2"),
    ("i4", "int4"),
    ("i8", "int8"),
    ("n", "numeric"),
    ("n2", "numeric"),
    ("f4", "real"),
    ("f8", "float8"),
    ("d", "date"),
    ("ts", "timestamp"),
    ("tstz", "timestamptz"),
    ("iv", "interval"),
    ("m", "money"),
    ("b", "bool"),
];

/// Columns with an order, whose current extreme the workload aims at.
const ORDERED: [&str; 14] = [
    "i2", "i4", "i8", "n", "n2", "f4", "f8", "cat", "code", "d", "ts", "tstz", "iv", "m",
];

/// Columns the views group by.
const KEYS: [&str; 5] = ["g", "h", "cat", "code", "b"];

/// Text values whose order differs between the default (ICU) collation and "C".
const CATS: [&str; 7] = ["a", "A", "b", "B", "ä", "c", "ab"];
const CODES: [&str; 7] = ["a", "B", "b", "ä", "Z", "_x", "aa"];

/// Intervals with months, days and time parts; '30 days' equals '1 mon' in comparisons.
const INTERVALS: [&str; 10] = [
    "1 day",
    "2 hours",
    "30 days",
    "1 mon",
    "1 mon 2 days",
    "-3 hours",
    "90 minutes",
    "00:00:01.5",
    "0",
    "1 year",
];

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A fresh database whose default collation is ICU `en-US` (`a < A < ä < b < B`), unlike the
/// cluster's C.UTF-8, so `min(cat)` and `min(code)` (`COLLATE "C"`) disagree as they do on
/// real servers. On a server built without ICU the database keeps the cluster's C.UTF-8, the
/// test says so, and everything but the collation disagreement is still checked.
pub async fn database(tag: &str) -> TestDb {
    let pg = cluster();
    let name = format!("w{}_{tag}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
    let icu = supports_or_runs_without(
        Needs::Icu,
        "under the cluster's default collation C.UTF-8 instead of ICU en-US",
    )
    .await;
    let sql = if icu {
        format!(
            "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' \
             LOCALE 'C.UTF-8'"
        )
    } else {
        format!("CREATE DATABASE {name}")
    };
    connect(&pg.url("postgres"))
        .await
        .batch_execute(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    TestDb {
        url: pg.url(&name),
        name,
    }
}

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len() as u64) as usize]
}

/// A signed integer in `lo..=hi`.
fn int(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    lo + rng.below((hi - lo + 1) as u64) as i64
}

/// `k / 10^scale` written exactly, e.g. (-125, 2) → "-1.25".
fn decimal(k: i64, scale: u32) -> String {
    let sign = if k < 0 { "-" } else { "" };
    let (k, p) = (k.unsigned_abs(), 10u64.pow(scale));
    if scale == 0 {
        format!("{sign}{k}")
    } else {
        format!("{sign}{}.{:0w$}", k / p, k % p, w = scale as usize)
    }
}

/// The text of a random non-NULL value of `col`.
fn value_text(rng: &mut Rng, col: &str) -> String {
    match col {
        "g" => int(rng, 0, 5).to_string(),
        "h" => int(rng, 0, 3).to_string(),
        "cat" => pick(rng, &CATS).to_string(),
        "code" => pick(rng, &CODES).to_string(),
        "i2" => int(rng, -20, 20).to_string(),
        "i4" if rng.chance(10) => int(rng, -100_000, 100_000).to_string(),
        "i4" => int(rng, -30, 30).to_string(),
        "i8" => (int(rng, -10, 10) * 1_000_000_000_000 + int(rng, -3, 3)).to_string(),
        // Scales 0..=4, often the same number at another scale ("1.5" and "1.50").
        "n" => {
            let scale = rng.below(5) as u32;
            let k = int(rng, -40, 40) * 10i64.pow(scale) / 4;
            decimal(k, scale)
        }
        "n2" => decimal(int(rng, -2000, 2000) * 25 + int(rng, 0, 1), 2),
        "f4" => (int(rng, -400, 400) as f64 / 4.0).to_string(),
        "f8" if rng.chance(3) => "-0".into(),
        "f8" => (int(rng, -16_000, 16_000) as f64 / 16.0).to_string(),
        "d" => format!("2026-01-{:02}", int(rng, 1, 20)),
        "ts" => format!(
            "2026-01-{:02} {}:{}",
            int(rng, 1, 3),
            pick(rng, &["00", "06", "12", "18", "23"]),
            pick(rng, &["00", "30"])
        ),
        "tstz" => format!(
            "2026-01-{:02} {:02}:{}{}",
            int(rng, 1, 3),
            int(rng, 0, 23),
            pick(rng, &["00", "30"]),
            pick(rng, &["+00", "+05:30", "-08"])
        ),
        "iv" => pick(rng, &INTERVALS).to_string(),
        "m" => decimal(int(rng, -5000, 5000) * 5, 2),
        "b" => pick(rng, &["true", "false"]).to_string(),
        other => panic!("no values for column {other}"),
    }
}

fn type_of(col: &str) -> &'static str {
    COLUMNS
        .iter()
        .find(|(c, _)| *c == col)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("unknown column {col}"))
}

/// A random value of `col` as a typed SQL literal, NULL with `nulls` percent.
fn literal(rng: &mut Rng, col: &str, nulls: u64) -> String {
    let text = value_text(rng, col);
    if rng.chance(nulls) {
        return "NULL".into();
    }
    format!("'{}'::{}", text.replace('\'', "''"), type_of(col))
}

/// One random row as a VALUES tuple; about 8% NULLs in every column.
fn row(rng: &mut Rng) -> String {
    let values: Vec<String> = COLUMNS.iter().map(|(c, _)| literal(rng, c, 8)).collect();
    format!("({})", values.join(", "))
}

/// `INSERT` of `rows` random rows in one statement.
pub fn insert_sql(rng: &mut Rng, rows: usize) -> String {
    let names: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
    let tuples: Vec<String> = (0..rows).map(|_| row(rng)).collect();
    format!(
        "INSERT INTO facts ({}) VALUES {}",
        names.join(", "),
        tuples.join(",\n  ")
    )
}

/// A condition selecting one group of one key column (its NULL group included), or the
/// whole table (the group of a view without GROUP BY).
fn group_cond(rng: &mut Rng) -> String {
    if rng.chance(10) {
        return "true".into();
    }
    let key = pick(rng, &KEYS);
    match literal(rng, key, 12).as_str() {
        "NULL" => format!("{key} IS NULL"),
        v => format!("{key} = {v}"),
    }
}

/// An existing row (or none when `max_id` is past the last row): a scalar subquery.
fn some_row(rng: &mut Rng, max_id: i64) -> String {
    let from = 1 + rng.below(max_id.max(1) as u64);
    format!("(SELECT id FROM facts WHERE id >= {from} ORDER BY id LIMIT 1)")
}

/// UPDATE or DELETE aimed at the current MIN or MAX of a column in one group: one of the
/// rows holding it, or all tied rows. Updates may move the value anywhere, NULL included.
fn extreme_op(rng: &mut Rng, delete: bool) -> String {
    let col = pick(rng, &ORDERED);
    let cond = group_cond(rng);
    let (agg, dir) = if rng.chance(50) {
        ("max", "DESC")
    } else {
        ("min", "ASC")
    };
    let target = if rng.chance(50) {
        format!(
            "id = (SELECT id FROM facts WHERE {cond} AND {col} IS NOT NULL ORDER BY {col} {dir}, id LIMIT 1)"
        )
    } else {
        format!("{cond} AND {col} = (SELECT {agg}({col}) FROM facts WHERE {cond})")
    };
    if delete {
        format!("DELETE FROM facts WHERE {target}")
    } else {
        format!(
            "UPDATE facts SET {col} = {} WHERE {target}",
            literal(rng, col, 20)
        )
    }
}

/// `SET` of 1..=`max` distinct random columns among `from`.
fn set_list(rng: &mut Rng, from: &[&str], max: u64) -> String {
    let mut cols: Vec<&str> = Vec::new();
    for _ in 0..1 + rng.below(max) {
        let c = pick(rng, from);
        if !cols.contains(&c) {
            cols.push(c);
        }
    }
    cols.iter()
        .map(|c| format!("{c} = {}", literal(rng, c, 8)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One random single-row-ish operation.
fn random_op(rng: &mut Rng, max_id: i64) -> String {
    let all: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
    match rng.below(100) {
        0..=29 => insert_sql(rng, 1),
        // Move a row to other groups, sometimes changing values too.
        30..=44 => {
            let from: &[&str] = if rng.chance(70) { &KEYS } else { &all };
            format!(
                "UPDATE facts SET {} WHERE id = {}",
                set_list(rng, from, 3),
                some_row(rng, max_id)
            )
        }
        // Change aggregated values in place.
        45..=57 => format!(
            "UPDATE facts SET {} WHERE id = {}",
            set_list(rng, &ORDERED, 5),
            some_row(rng, max_id)
        ),
        58..=67 => extreme_op(rng, false),
        68..=81 => format!("DELETE FROM facts WHERE id = {}", some_row(rng, max_id)),
        82..=91 => extreme_op(rng, true),
        // Rewrites a row without changing it: old and new rows cancel.
        92..=95 => format!(
            "UPDATE facts SET g = g WHERE id = {}",
            some_row(rng, max_id)
        ),
        _ => format!(
            "UPDATE facts SET i4 = -i4, n2 = n2 + 1, f8 = -f8, b = NOT b WHERE {}",
            group_cond(rng)
        ),
    }
}

/// The statements of one random transaction.
fn transaction(rng: &mut Rng, max_id: i64) -> Vec<String> {
    match rng.below(100) {
        // Bulk: many rows at once, then changes to some of them in the same transaction.
        0..=9 => {
            let rows = 10 + rng.below(50) as usize;
            let mut stmts = vec![insert_sql(rng, rows)];
            for _ in 0..rng.below(4) {
                stmts.push(random_op(rng, max_id + 30));
            }
            stmts
        }
        // Every row of one group goes.
        10..=14 => {
            let mut cond = group_cond(rng);
            if cond == "true" {
                cond = "g IS NULL".into();
            }
            vec![format!("DELETE FROM facts WHERE {cond}")]
        }
        _ => (0..1 + rng.below(6))
            .map(|_| random_op(rng, max_id))
            .collect(),
    }
}

/// Run `txns` random transactions.
pub async fn run_workload(client: &Client, rng: &mut Rng, txns: usize) {
    for _ in 0..txns {
        let max_id: i64 = client
            .query_one("SELECT coalesce(max(id), 0) FROM facts", &[])
            .await
            .expect("max id")
            .get(0);
        let sql = format!("BEGIN;\n{};\nCOMMIT;", transaction(rng, max_id).join(";\n"));
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("workload transaction failed: {e:?}\n{sql}"));
    }
}

/// Create `facts` and fill it with `rows` random rows.
pub async fn setup(client: &Client, rng: &mut Rng, rows: usize) {
    client.batch_execute(SCHEMA).await.expect("facts schema");
    if rows > 0 {
        client
            .batch_execute(&insert_sql(rng, rows))
            .await
            .expect("initial rows");
    }
}
