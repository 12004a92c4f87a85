//! End-to-end tests against a real PostgreSQL started by the harness (one cluster per run, a
//! fresh database per test). Every maintained view is checked against its SELECT on the source.

mod checks;
mod corpus_views;
mod harness;
mod items;
mod lag;
mod limits;
mod server;
mod viewgen;
mod wide;

mod backfill;
mod catalog_api;
mod corpus;
mod crash;
mod ddl;
mod eager;
mod edges;
mod examples;
mod extremes;
mod faults;
mod generated;
mod golden;
mod hostile;
mod joins;
mod lint_define;
mod names;
pub(crate) mod ops;
mod oracle;
mod partitions;
mod preflight;
mod property;
mod restore;
mod soak;
mod sql;
mod sql_api;
mod stored_plans;
mod tls;
mod versioning;
