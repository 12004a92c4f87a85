//! The applier: replication stream → signed rows → one target transaction per batch.
//!
//! Each change of a source row becomes signed rows holding only the columns a version reads
//! (old row −1, new row +1). A batch gathers whole source transactions; its rows are shipped
//! to Postgres as arrays and the plan's delta SQL filters, groups and merges them into the
//! summary, so Postgres evaluates every expression. Rows beyond `chunk_rows` are shipped in
//! chunks into a session-local staging table inside the same target transaction, so memory
//! stays bounded however large a source transaction is.
//!
//! Exactly once (invariant 2): the batch's summary rows and the stream's applied LSN (the end
//! LSN of its last source transaction) commit in one target transaction; only then is that LSN
//! acknowledged to the slot. After any crash the stream resumes from the recorded LSN, and a
//! transaction whose commit precedes it is skipped. When no transaction is open and nothing is
//! pending, keepalive positions are acknowledged so an idle publication does not pin WAL.

mod batch;
mod config;
mod error;
mod metrics;
mod runner;
mod session;
mod version;

pub use config::{tunables, ApplyConfig, TruncatePolicy};
pub use error::{RunError, VersionError};
pub use metrics::Metrics;
pub use runner::{run, wait_applied};
