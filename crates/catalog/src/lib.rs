//! Catalog and lifecycle: the `summa` schema in the target database (views, versions, streams
//! and their applied LSNs), creating a version (plan → summary table → slot with exported
//! snapshot → chunked backfill → `catching_up`), verifying a version against its SELECT, and
//! the status report, and the SQL API a migration calls (`summa.define`, `promote`, `retire`,
//! `drop`, `wait_live`, the `summa.status` view; `api.sql`), whose requests a sidecar builds
//! (`requests.rs`).
//!
//! This crate owns every statement on `summa.*`: the applier and the binary call its
//! functions, and the names of a version's pending and value tables come only from
//! `summa_plan::sqlgen::Target`.
//!
//! Version states: `backfilling → catching_up → live → retired` (dropped by `gc` after the
//! retention), or `broken` with a reason. `promote` switches the alias view to a live version. Each
//! stream is one logical slot + publication feeding a set of versions; its applied LSN is
//! written in the same transaction as the summary rows it covers.

mod backfill;
mod budget;
mod create;
mod definitions;
mod drop;
mod error;
mod generated;
mod lifecycle;
mod lookup;
mod observe;
mod partitions;
mod preflight;
mod reap;
mod rebuild;
mod records;
mod requests;
mod schema;
mod status;
mod streams;
mod verify;

/// Advisory lock key of the sidecars' lease (one applying sidecar per database; advisory
/// locks are per database). `summa create` takes it briefly when no sidecar runs.
pub const SIDECAR_LEASE: i64 = 0x5355_4d4d_4131; // "SUMMA1"

pub use budget::{connect, set_statement_budget};
pub use create::{create_views, CreateOptions, CreatedVersion, Requested, ViewSpec};
pub use definitions::{compare, define, defined_views, wait_defined, Change};
pub use drop::drop_view;
pub use error::{db_message, CatalogError};
pub use lifecycle::{
    drop_unused_streams, drop_version, gc, promote, retire, Promoted, PROMOTE_MAX_LAG_BYTES,
};
pub use lookup::{find_version, wait_live, StoredVersion};
pub use observe::{applied_at_epoch, inactive_streams, lowest_applied};
pub use preflight::{check_free_slot, check_server};
pub use reap::reap_abandoned;
pub use rebuild::{rebuild, verify_exact};
pub use records::{
    list_streams, mark_broken, mark_drained, mark_live, mark_stream_lost, stream_versions,
    StreamRecord, VersionRecord, VersionState,
};
pub use requests::{serve_requests, REQUESTS_LEASE};
pub use schema::{api_sql, install, install_sql, installed};
pub use status::{status, StatusRow};
pub use streams::{
    caught_up, record_applied, record_loaded_generation, slot_retention, stamp_caught_up,
    stream_generation, SlotRetention, WalSeen,
};
pub use verify::{
    compare_versions, verify_version, verify_version_in_chunks, VerifyReport, DEFAULT_CHUNK_GROUPS,
};
