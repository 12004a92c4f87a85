//! The workload: TPC-H's refresh functions and dimension updates, each one committed
//! transaction, from a seeded generator (the same seed gives the same changes).
//! - RF1: new orders above the highest order key, dated in the spec's range (1992-01-01 to
//!   1998-08-02), each with 1–7 lineitems of existing parts and one of each part's four
//!   suppliers (the spec's formula), prices and flags derived as dbgen does;
//! - RF2: the oldest orders (lowest keys) and their lineitems deleted;
//! - one nation of ASIA renamed (and renamed back the next time): every Q5 and Q10 row of it
//!   moves to another group;
//! - customers' `c_mktsegment` and parts' `p_type` changed (a random segment; PROMO ↔ ECONOMY).

use std::time::Instant;

use tokio_postgres::{Client, Statement};

use crate::sidecar::insert_lsn;
use crate::SCHEMA;

/// What a renamed nation's name ends with.
const RENAMED: &str = " (renamed)";

/// Orders of one RF1 or RF2 step.
pub const STEP_ORDERS: u64 = 1_000;
/// Customers or parts of one dimension update.
pub const DIM_ROWS: u64 = 100;

/// Days from 1992-01-01 (the spec's STARTDATE) to 1998-08-02 (ENDDATE − 151 days), the last
/// order date, and to 1995-06-17 (CURRENTDATE), which decides line status and return flag.
const LAST_ORDER_DAY: i64 = 2405;
const CURRENT_DAY: i64 = 1263;

const PRIORITIES: [&str; 5] = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"];
const INSTRUCTIONS: [&str; 4] = [
    "DELIVER IN PERSON",
    "COLLECT COD",
    "NONE",
    "TAKE BACK RETURN",
];
const MODES: [&str; 7] = ["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"];
const SEGMENTS: [&str; 5] = [
    "AUTOMOBILE",
    "BUILDING",
    "FURNITURE",
    "MACHINERY",
    "HOUSEHOLD",
];

/// One kind of committed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Rf1,
    Rf2,
    Nation,
    Segment,
    PartType,
}

impl Change {
    pub const ALL: [Change; 5] = [
        Change::Rf1,
        Change::Rf2,
        Change::Nation,
        Change::Segment,
        Change::PartType,
    ];

    /// The tables the change writes.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Change::Rf1 | Change::Rf2 => &["orders", "lineitem"],
            Change::Nation => &["nation"],
            Change::Segment => &["customer"],
            Change::PartType => &["part"],
        }
    }

    pub fn label(self) -> String {
        match self {
            Change::Rf1 => format!("RF1: {STEP_ORDERS} new orders"),
            Change::Rf2 => format!("RF2: {STEP_ORDERS} oldest orders deleted"),
            Change::Nation => "one ASIA nation renamed".into(),
            Change::Segment => format!("{DIM_ROWS} customers' c_mktsegment"),
            Change::PartType => format!("{DIM_ROWS} parts' p_type"),
        }
    }
}

/// splitmix64: small, seeded, and good enough to pick keys and values.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.range(0, of.len() as i64 - 1) as usize]
    }
}

pub struct Refresh {
    rng: Rng,
    next_orderkey: i64,
    customers: i64,
    parts: i64,
    suppliers: i64,
    clerks: i64,
    /// ASIA's nations: key, spec name, renamed now.
    nations: Vec<(i64, String, bool)>,
    renames: usize,
    insert_orders: Statement,
    insert_lineitems: Statement,
    oldest: Statement,
    delete_lineitems: Statement,
    delete_orders: Statement,
    rename: Statement,
    segment: Statement,
    part_type: Statement,
}

impl Refresh {
    pub async fn prepare(client: &Client, sf: f64, seed: u64) -> anyhow::Result<Refresh> {
        let s = SCHEMA;
        let max =
            |table: &str, key: &str| format!("SELECT coalesce(max({key}), 0) FROM {s}.{table}");
        let one = |sql: String| async move {
            let v: i64 = client.query_one(&sql, &[]).await?.get(0);
            anyhow::Ok(v)
        };
        let nations = client
            .query(
                &format!(
                    "SELECT n_nationkey, rtrim(n_name) FROM {s}.nation \
                     JOIN {s}.region ON r_regionkey = n_regionkey \
                     WHERE r_name = 'ASIA' ORDER BY 1"
                ),
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                // A nation an earlier measurement left renamed keeps its spec name here.
                let name: String = r.get(1);
                match name.strip_suffix(RENAMED) {
                    Some(base) => (r.get::<_, i64>(0), base.to_string(), true),
                    None => (r.get::<_, i64>(0), name, false),
                }
            })
            .collect();
        Ok(Refresh {
            rng: Rng::new(seed),
            next_orderkey: one(max("orders", "o_orderkey")).await? + 1,
            customers: one(max("customer", "c_custkey")).await?.max(1),
            parts: one(max("part", "p_partkey")).await?.max(1),
            suppliers: one(max("supplier", "s_suppkey")).await?.max(1),
            clerks: ((sf * 1000.0) as i64).max(1),
            nations,
            renames: 0,
            insert_orders: client
                .prepare(&format!(
                    "INSERT INTO {s}.orders (o_orderkey, o_custkey, o_orderstatus, o_totalprice, \
                     o_orderdate, o_orderpriority, o_clerk, o_shippriority, o_comment) \
                     SELECT k, c, st, tp / 100.0, date '1992-01-01' + d, pr, \
                     'Clerk#' || lpad(cl::text, 9, '0'), 0, 'summa bench RF1' \
                     FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], \
                     $5::int[], $6::text[], $7::bigint[]) AS u(k, c, st, tp, d, pr, cl)"
                ))
                .await?,
            insert_lineitems: client
                .prepare(&format!(
                    "INSERT INTO {s}.lineitem (l_orderkey, l_partkey, l_suppkey, l_linenumber, \
                     l_quantity, l_extendedprice, l_discount, l_tax, l_returnflag, l_linestatus, \
                     l_shipdate, l_commitdate, l_receiptdate, l_shipinstruct, l_shipmode, \
                     l_comment) \
                     SELECT k, p, su, ln, q, ep / 100.0, di / 100.0, tx / 100.0, rf, ls, \
                     date '1992-01-01' + sd, date '1992-01-01' + cd, date '1992-01-01' + rd, \
                     si, sm, 'summa bench RF1' \
                     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], \
                     $5::int[], $6::bigint[], $7::int[], $8::int[], $9::text[], $10::text[], \
                     $11::int[], $12::int[], $13::int[], $14::text[], $15::text[]) \
                     AS u(k, p, su, ln, q, ep, di, tx, rf, ls, sd, cd, rd, si, sm)"
                ))
                .await?,
            oldest: client
                .prepare(&format!(
                    "SELECT o_orderkey FROM {s}.orders ORDER BY o_orderkey LIMIT $1"
                ))
                .await?,
            delete_lineitems: client
                .prepare(&format!(
                    "DELETE FROM {s}.lineitem WHERE l_orderkey = ANY($1::bigint[])"
                ))
                .await?,
            delete_orders: client
                .prepare(&format!(
                    "DELETE FROM {s}.orders WHERE o_orderkey = ANY($1::bigint[])"
                ))
                .await?,
            rename: client
                .prepare(&format!(
                    "UPDATE {s}.nation SET n_name = $2 WHERE n_nationkey = $1"
                ))
                .await?,
            segment: client
                .prepare(&format!(
                    "UPDATE {s}.customer c SET c_mktsegment = u.seg \
                     FROM unnest($1::bigint[], $2::text[]) AS u(k, seg) WHERE c.c_custkey = u.k"
                ))
                .await?,
            part_type: client
                .prepare(&format!(
                    "UPDATE {s}.part SET p_type = CASE WHEN p_type LIKE 'PROMO %' \
                     THEN 'ECONOMY' || substr(p_type, 6) \
                     ELSE 'PROMO' || substr(p_type, strpos(p_type, ' ')) END \
                     WHERE p_partkey = ANY($1::bigint[])"
                ))
                .await?,
        })
    }

    /// Commit one change of `kind` touching `n` orders (RF1, RF2) or rows (customers, parts):
    /// (a position its COMMIT ends beyond, source rows changed, when COMMIT returned).
    pub async fn commit(
        &mut self,
        client: &Client,
        kind: Change,
        n: u64,
    ) -> anyhow::Result<(u64, u64, Instant)> {
        client.batch_execute("BEGIN").await?;
        let changed = match kind {
            Change::Rf1 => self.rf1(client, n).await?,
            Change::Rf2 => self.rf2(client, n).await?,
            Change::Nation => self.rename_nation(client).await?,
            Change::Segment => {
                let keys = self.keys(n, self.customers);
                let segs: Vec<String> = keys
                    .iter()
                    .map(|_| self.rng.pick(&SEGMENTS).to_string())
                    .collect();
                client.execute(&self.segment, &[&keys, &segs]).await?
            }
            Change::PartType => {
                let keys = self.keys(n, self.parts);
                client.execute(&self.part_type, &[&keys]).await?
            }
        };
        let lsn = insert_lsn(client).await?;
        client.batch_execute("COMMIT").await?;
        Ok((lsn, changed, Instant::now()))
    }

    /// `n` distinct keys in `1..=max` (fewer when `max` is smaller).
    fn keys(&mut self, n: u64, max: i64) -> Vec<i64> {
        let mut keys: Vec<i64> = (0..n).map(|_| self.rng.range(1, max)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    async fn rf1(&mut self, client: &Client, n: u64) -> anyhow::Result<u64> {
        let mut o = Orders::default();
        let mut l = Lines::default();
        let r = &mut self.rng;
        for _ in 0..n {
            let key = self.next_orderkey;
            self.next_orderkey += 1;
            let day = r.range(0, LAST_ORDER_DAY);
            let (mut total, mut open, mut lines) = (0i64, 0, 0);
            for line in 1..=r.range(1, 7) {
                let part = r.range(1, self.parts);
                let s = self.suppliers;
                let supp = (part + r.range(0, 3) * (s / 4 + (part - 1) / s)) % s + 1;
                let qty = r.range(1, 50);
                let retail = 90_000 + (part / 10) % 20_001 + 100 * (part % 1_000);
                let price = qty * retail;
                let (disc, tax) = (r.range(0, 10), r.range(0, 8));
                let ship = day + r.range(1, 121);
                let receipt = ship + r.range(1, 30);
                let flag = if receipt <= CURRENT_DAY {
                    r.pick(&["R", "A"])
                } else {
                    "N"
                };
                let status = if ship > CURRENT_DAY { "O" } else { "F" };
                open += i32::from(status == "O");
                lines += 1;
                // extendedprice × (1 + tax) × (1 − discount), in cents.
                total += price * (100 + tax) * (100 - disc) / 10_000;
                l.key.push(key);
                l.part.push(part);
                l.supp.push(supp);
                l.line.push(line as i32);
                l.qty.push(qty as i32);
                l.price.push(price);
                l.disc.push(disc as i32);
                l.tax.push(tax as i32);
                l.flag.push(flag.into());
                l.status.push(status.into());
                l.ship.push(ship as i32);
                l.commit.push((day + r.range(30, 90)) as i32);
                l.receipt.push(receipt as i32);
                l.instruct.push(r.pick(&INSTRUCTIONS).into());
                l.mode.push(r.pick(&MODES).into());
            }
            o.key.push(key);
            o.cust.push(r.range(1, self.customers));
            o.status.push(
                match open {
                    0 => "F",
                    x if x == lines => "O",
                    _ => "P",
                }
                .into(),
            );
            o.total.push(total);
            o.day.push(day as i32);
            o.priority.push(r.pick(&PRIORITIES).into());
            o.clerk.push(r.range(1, self.clerks));
        }
        let orders = client
            .execute(
                &self.insert_orders,
                &[
                    &o.key,
                    &o.cust,
                    &o.status,
                    &o.total,
                    &o.day,
                    &o.priority,
                    &o.clerk,
                ],
            )
            .await?;
        let lineitems = client
            .execute(
                &self.insert_lineitems,
                &[
                    &l.key,
                    &l.part,
                    &l.supp,
                    &l.line,
                    &l.qty,
                    &l.price,
                    &l.disc,
                    &l.tax,
                    &l.flag,
                    &l.status,
                    &l.ship,
                    &l.commit,
                    &l.receipt,
                    &l.instruct,
                    &l.mode,
                ],
            )
            .await?;
        Ok(orders + lineitems)
    }

    async fn rf2(&mut self, client: &Client, n: u64) -> anyhow::Result<u64> {
        let keys: Vec<i64> = client
            .query(&self.oldest, &[&(n as i64)])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let lineitems = client.execute(&self.delete_lineitems, &[&keys]).await?;
        let orders = client.execute(&self.delete_orders, &[&keys]).await?;
        Ok(orders + lineitems)
    }

    async fn rename_nation(&mut self, client: &Client) -> anyhow::Result<u64> {
        if self.nations.is_empty() {
            return Ok(0);
        }
        let i = self.renames % self.nations.len();
        self.renames += 1;
        let (key, name, renamed) = &mut self.nations[i];
        *renamed = !*renamed;
        let to = if *renamed {
            format!("{name}{RENAMED}")
        } else {
            name.clone()
        };
        let key = *key;
        Ok(client.execute(&self.rename, &[&key, &to]).await?)
    }
}

#[derive(Default)]
struct Orders {
    key: Vec<i64>,
    cust: Vec<i64>,
    status: Vec<String>,
    total: Vec<i64>,
    day: Vec<i32>,
    priority: Vec<String>,
    clerk: Vec<i64>,
}

#[derive(Default)]
struct Lines {
    key: Vec<i64>,
    part: Vec<i64>,
    supp: Vec<i64>,
    line: Vec<i32>,
    qty: Vec<i32>,
    price: Vec<i64>,
    disc: Vec<i32>,
    tax: Vec<i32>,
    flag: Vec<String>,
    status: Vec<String>,
    ship: Vec<i32>,
    commit: Vec<i32>,
    receipt: Vec<i32>,
    instruct: Vec<String>,
    mode: Vec<String>,
}
