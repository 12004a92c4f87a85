//! The replication edge: connection settings, slots with exported snapshots, and a decoder
//! for the `pgoutput` (protocol version 1) messages that `pgwire-replication` hands over raw.
//!
//! Acknowledgement policy lives with the applier (it alone knows what committed); this crate
//! only makes connections and turns bytes into [`pgoutput::Message`]s.

mod conn;
mod names;
pub mod pgoutput;
pub mod retry;
mod secret;
mod slot;
mod sslparams;
mod tls;

pub use conn::{ConnError, ConnInfo};
pub use names::{check_slot_name, InvalidSlotName};
pub use pgwire_replication::{Lsn, PgWireError, ReplicationClient, ReplicationEvent};
pub use retry::RetryClass;
pub use slot::{create_slot_with_snapshot, ExportedSlot};
pub use sslparams::SslMode;
