//! End-to-end tests against a real PostgreSQL started by the harness (one cluster per run, a
//! fresh database per test). Every maintained view is checked against its SELECT on the source.

mod harness;
mod items;

mod faults;
mod oracle;
mod sql;
