//! The seven TPC-H queries the scenario maintains, as views: the spec's text with its
//! validation parameters, ORDER BY and LIMIT removed (a summary has no order). Date arithmetic
//! on constants is written as the date it yields (`date '1998-12-01' - interval '90' day` is
//! `date '1998-09-02'`), and `0.06 ± 0.01` as its bounds: the same rows, one constant each.

use crate::BenchView;

/// Q1, pricing summary report (DELTA = 90: `date '1998-12-01' - interval '90' day`).
const Q1: &str = "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, \
     sum(l_extendedprice) AS sum_base_price, \
     sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price, \
     sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, \
     avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price, \
     avg(l_discount) AS avg_disc, count(*) AS count_order \
     FROM lineitem WHERE l_shipdate <= date '1998-09-02' \
     GROUP BY l_returnflag, l_linestatus";

/// Q3, shipping priority (SEGMENT = BUILDING, DATE = 1995-03-15).
const Q3: &str = "SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, \
     o_orderdate, o_shippriority \
     FROM customer, orders, lineitem \
     WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey \
     AND o_orderdate < date '1995-03-15' AND l_shipdate > date '1995-03-15' \
     GROUP BY l_orderkey, o_orderdate, o_shippriority";

/// Q5, local supplier volume (REGION = ASIA, DATE = 1994-01-01; `+ interval '1' year` is
/// 1995-01-01).
const Q5: &str = "SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue \
     FROM customer, orders, lineitem, supplier, nation, region \
     WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey \
     AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey \
     AND n_regionkey = r_regionkey AND r_name = 'ASIA' \
     AND o_orderdate >= date '1994-01-01' AND o_orderdate < date '1995-01-01' \
     GROUP BY n_name";

/// Q6, forecasting revenue change (DATE = 1994-01-01, DISCOUNT = 0.06, QUANTITY = 24).
const Q6: &str = "SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem \
     WHERE l_shipdate >= date '1994-01-01' AND l_shipdate < date '1995-01-01' \
     AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24";

/// Q10, returned item reporting (DATE = 1993-10-01; `+ interval '3' month` is 1994-01-01).
const Q10: &str = "SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, \
     c_acctbal, n_name, c_address, c_phone, c_comment \
     FROM customer, orders, lineitem, nation \
     WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey \
     AND o_orderdate >= date '1993-10-01' AND o_orderdate < date '1994-01-01' \
     AND l_returnflag = 'R' AND c_nationkey = n_nationkey \
     GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment";

/// Q12, shipping modes and order priority (SHIPMODE1 = MAIL, SHIPMODE2 = SHIP,
/// DATE = 1994-01-01; `+ interval '1' year` is 1995-01-01).
const Q12: &str = "SELECT l_shipmode, \
     sum(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH' \
     THEN 1 ELSE 0 END) AS high_line_count, \
     sum(CASE WHEN o_orderpriority <> '1-URGENT' AND o_orderpriority <> '2-HIGH' \
     THEN 1 ELSE 0 END) AS low_line_count \
     FROM orders, lineitem \
     WHERE o_orderkey = l_orderkey AND l_shipmode IN ('MAIL', 'SHIP') \
     AND l_commitdate < l_receiptdate AND l_shipdate < l_commitdate \
     AND l_receiptdate >= date '1994-01-01' AND l_receiptdate < date '1995-01-01' \
     GROUP BY l_shipmode";

/// Q14, promotion effect (DATE = 1995-09-01; `+ interval '1' month` is 1995-10-01).
const Q14: &str = "SELECT 100.00 * sum(CASE WHEN p_type LIKE 'PROMO%' \
     THEN l_extendedprice * (1 - l_discount) ELSE 0 END) \
     / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue \
     FROM lineitem, part \
     WHERE l_partkey = p_partkey \
     AND l_shipdate >= date '1995-09-01' AND l_shipdate < date '1995-10-01'";

const fn query(
    label: &'static str,
    name: &'static str,
    sql: &'static str,
    keys: &'static str,
) -> BenchView {
    BenchView {
        label,
        name,
        sql,
        keys,
    }
}

/// The queries; `keys` index the materialized view REFRESH is timed on (empty: one row).
pub const QUERIES: [BenchView; 7] = [
    query("Q1", "tpch_q1", Q1, "l_returnflag, l_linestatus"),
    query(
        "Q3",
        "tpch_q3",
        Q3,
        "l_orderkey, o_orderdate, o_shippriority",
    ),
    query("Q5", "tpch_q5", Q5, "n_name"),
    query("Q6", "tpch_q6", Q6, ""),
    query("Q10", "tpch_q10", Q10, "c_custkey"),
    query("Q12", "tpch_q12", Q12, "l_shipmode"),
    query("Q14", "tpch_q14", Q14, ""),
];
