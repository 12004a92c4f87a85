//! The eight TPC-H tables in the bench schema, with the spec's column types (numeric(15,2) for
//! money, date for dates) and primary keys, filled by the `tpchgen` generators at the run's
//! scale factor: each table is sent as CSV through COPY, its primary key added after, then
//! everything is analyzed.

use std::fmt::{Display, Write};
use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::Client;
use tpchgen::csv::{
    CustomerCsv, LineItemCsv, NationCsv, OrderCsv, PartCsv, PartSuppCsv, RegionCsv, SupplierCsv,
};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};

use crate::{bar, spinner, SCHEMA};

/// The tables, in load order, with their primary keys.
const TABLES: [(&str, &str); 8] = [
    ("region", "r_regionkey"),
    ("nation", "n_nationkey"),
    ("part", "p_partkey"),
    ("supplier", "s_suppkey"),
    ("partsupp", "ps_partkey, ps_suppkey"),
    ("customer", "c_custkey"),
    ("orders", "o_orderkey"),
    ("lineitem", "l_orderkey, l_linenumber"),
];

const DDL: &str = "
CREATE TABLE {s}.region (r_regionkey bigint NOT NULL, r_name char(25) NOT NULL,
    r_comment varchar(152));
CREATE TABLE {s}.nation (n_nationkey bigint NOT NULL, n_name char(25) NOT NULL,
    n_regionkey bigint NOT NULL, n_comment varchar(152));
CREATE TABLE {s}.part (p_partkey bigint NOT NULL, p_name varchar(55) NOT NULL,
    p_mfgr char(25) NOT NULL, p_brand char(10) NOT NULL, p_type varchar(25) NOT NULL,
    p_size int NOT NULL, p_container char(10) NOT NULL, p_retailprice numeric(15,2) NOT NULL,
    p_comment varchar(23) NOT NULL);
CREATE TABLE {s}.supplier (s_suppkey bigint NOT NULL, s_name char(25) NOT NULL,
    s_address varchar(40) NOT NULL, s_nationkey bigint NOT NULL, s_phone char(15) NOT NULL,
    s_acctbal numeric(15,2) NOT NULL, s_comment varchar(101) NOT NULL);
CREATE TABLE {s}.partsupp (ps_partkey bigint NOT NULL, ps_suppkey bigint NOT NULL,
    ps_availqty int NOT NULL, ps_supplycost numeric(15,2) NOT NULL,
    ps_comment varchar(199) NOT NULL);
CREATE TABLE {s}.customer (c_custkey bigint NOT NULL, c_name varchar(25) NOT NULL,
    c_address varchar(40) NOT NULL, c_nationkey bigint NOT NULL, c_phone char(15) NOT NULL,
    c_acctbal numeric(15,2) NOT NULL, c_mktsegment char(10) NOT NULL,
    c_comment varchar(117) NOT NULL);
CREATE TABLE {s}.orders (o_orderkey bigint NOT NULL, o_custkey bigint NOT NULL,
    o_orderstatus char(1) NOT NULL, o_totalprice numeric(15,2) NOT NULL, o_orderdate date NOT NULL,
    o_orderpriority char(15) NOT NULL, o_clerk char(15) NOT NULL, o_shippriority int NOT NULL,
    o_comment varchar(79) NOT NULL);
CREATE TABLE {s}.lineitem (l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL,
    l_suppkey bigint NOT NULL, l_linenumber int NOT NULL, l_quantity numeric(15,2) NOT NULL,
    l_extendedprice numeric(15,2) NOT NULL, l_discount numeric(15,2) NOT NULL,
    l_tax numeric(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
    l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
    l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL,
    l_comment varchar(44) NOT NULL);
";

/// Drop the TPC-H tables (and the reference workload's `orders` and `regions`: TPC-H has an
/// `orders` of its own, and this scenario runs after every scenario that reads them), create
/// them empty, load them at scale factor `sf`; returns (table, rows) and the seconds it took.
pub async fn create_and_load(
    client: &Client,
    sf: f64,
) -> anyhow::Result<(Vec<(String, u64)>, f64)> {
    let started = Instant::now();
    let names: Vec<String> = TABLES
        .iter()
        .map(|(t, _)| format!("{SCHEMA}.{t}"))
        .collect();
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {SCHEMA}.regions, {} CASCADE; {}",
            names.join(", "),
            DDL.replace("{s}", SCHEMA)
        ))
        .await?;
    // The row counts of the spec (lineitem: about 4 per order, for the progress bar).
    let n = |base: f64| ((base * sf).round() as u64).max(1);
    let mut rows = Vec::new();
    rows.push(
        copy(
            client,
            "region",
            RegionCsv::header(),
            RegionGenerator::new(sf, 1, 1).iter().map(RegionCsv::new),
            5,
        )
        .await?,
    );
    rows.push(
        copy(
            client,
            "nation",
            NationCsv::header(),
            NationGenerator::new(sf, 1, 1).iter().map(NationCsv::new),
            25,
        )
        .await?,
    );
    rows.push(
        copy(
            client,
            "part",
            PartCsv::header(),
            PartGenerator::new(sf, 1, 1).iter().map(PartCsv::new),
            n(200_000.0),
        )
        .await?,
    );
    rows.push(
        copy(
            client,
            "supplier",
            SupplierCsv::header(),
            SupplierGenerator::new(sf, 1, 1)
                .iter()
                .map(SupplierCsv::new),
            n(10_000.0),
        )
        .await?,
    );
    rows.push(
        copy(
            client,
            "partsupp",
            PartSuppCsv::header(),
            PartSuppGenerator::new(sf, 1, 1)
                .iter()
                .map(PartSuppCsv::new),
            n(800_000.0),
        )
        .await?,
    );
    rows.push(
        copy(
            client,
            "customer",
            CustomerCsv::header(),
            CustomerGenerator::new(sf, 1, 1)
                .iter()
                .map(CustomerCsv::new),
            n(150_000.0),
        )
        .await?,
    );
    rows.push(
        copy(
            client,
            "orders",
            OrderCsv::header(),
            OrderGenerator::new(sf, 1, 1).iter().map(OrderCsv::new),
            n(1_500_000.0),
        )
        .await?,
    );
    rows.push(
        copy(
            client,
            "lineitem",
            LineItemCsv::header(),
            LineItemGenerator::new(sf, 1, 1)
                .iter()
                .map(LineItemCsv::new),
            n(6_000_000.0),
        )
        .await?,
    );
    let s = spinner("primary keys, ANALYZE");
    let mut ddl = String::new();
    for (table, key) in TABLES {
        let _ = write!(
            ddl,
            "ALTER TABLE {SCHEMA}.{table} ADD PRIMARY KEY ({key}); "
        );
    }
    // Q1 reads lineitem alone: to subtract a deleted row its old values must be in the WAL.
    let _ = write!(ddl, "ALTER TABLE {SCHEMA}.lineitem REPLICA IDENTITY FULL; ");
    for (table, _) in TABLES {
        let _ = write!(ddl, "ANALYZE {SCHEMA}.{table}; ");
    }
    client.batch_execute(&ddl).await?;
    s.finish_and_clear();
    Ok((rows, started.elapsed().as_secs_f64()))
}

/// COPY `rows` (CSV lines) into `table`, in chunks of about 1 MiB, with a progress bar of
/// `expected` rows; returns (table, rows sent).
async fn copy<T: Display>(
    client: &Client,
    table: &str,
    columns: &str,
    rows: impl Iterator<Item = T>,
    expected: u64,
) -> anyhow::Result<(String, u64)> {
    const CHUNK: usize = 1 << 20;
    let sink = client
        .copy_in::<_, Bytes>(&format!(
            "COPY {SCHEMA}.{table} ({columns}) FROM STDIN (FORMAT csv)"
        ))
        .await?;
    let mut sink = std::pin::pin!(sink);
    let progress = bar(expected, table);
    let mut buf = String::with_capacity(CHUNK + 4096);
    let mut sent = 0u64;
    for row in rows {
        let _ = writeln!(buf, "{row}");
        sent += 1;
        if buf.len() >= CHUNK {
            sink.send(Bytes::from(std::mem::replace(
                &mut buf,
                String::with_capacity(CHUNK + 4096),
            )))
            .await?;
            progress.set_position(sent.min(expected));
        }
    }
    if !buf.is_empty() {
        sink.send(Bytes::from(buf)).await?;
    }
    sink.as_mut().finish().await?;
    progress.finish_and_clear();
    Ok((table.to_string(), sent))
}
