//! Slot creation with an exported snapshot: the consistent handoff.
//!
//! `CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')` on a replication session returns the slot's
//! consistent point and the name of a snapshot that sees exactly the transactions committed
//! before it. A backfill that reads under that snapshot, followed by streaming from the
//! consistent point, counts every transaction exactly once. The snapshot lives only while the
//! creating session sends nothing else, so the session is kept (gated, not started) in
//! [`ExportedSlot`] until the backfill has committed, then dropped.

use pgwire_replication::{Lsn, PgWireError, ReplicationClient};

use crate::conn::ConnInfo;
use crate::names::{check_slot_name, slot_ident, InvalidSlotName};

pub struct ExportedSlot {
    /// Keep alive until the backfill committed; dropping it ends the snapshot.
    pub session: ReplicationClient,
    pub consistent_point: Lsn,
    pub snapshot_name: String,
}

/// Create `slot` (a `temporary` one is dropped by the server when the session ends: it only
/// exports the snapshot of a version joining the shared stream).
pub async fn create_slot_with_snapshot(
    conn: &ConnInfo,
    slot: &str,
    publication: &str,
    temporary: bool,
) -> Result<ExportedSlot, PgWireError> {
    // Refused before connecting: a bad name is a bug in the caller's naming, not the server's.
    let command =
        create_command(slot, temporary).map_err(|err| PgWireError::Internal(err.to_string()))?;
    let mut session =
        ReplicationClient::connect_gated(conn.replication(slot, publication, Lsn(0))).await?;
    let rows = session.simple_query(&command).await?;
    let row = rows
        .first()
        .ok_or_else(|| PgWireError::Protocol("CREATE_REPLICATION_SLOT returned no row".into()))?;
    let text = |i: usize| -> Result<String, PgWireError> {
        row.get(i)
            .and_then(|v| v.as_ref())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .ok_or_else(|| {
                PgWireError::Protocol(format!("CREATE_REPLICATION_SLOT: column {i} missing"))
            })
    };
    let consistent_point = Lsn::parse(&text(1)?)
        .map_err(|e| PgWireError::Protocol(format!("bad consistent point: {e:?}")))?;
    Ok(ExportedSlot {
        session,
        consistent_point,
        snapshot_name: text(2)?,
    })
}

/// `CREATE_REPLICATION_SLOT` for a checked, quoted `slot`.
fn create_command(slot: &str, temporary: bool) -> Result<String, InvalidSlotName> {
    check_slot_name(slot)?;
    Ok(format!(
        "CREATE_REPLICATION_SLOT {}{} LOGICAL pgoutput (SNAPSHOT 'export')",
        slot_ident(slot),
        if temporary { " TEMPORARY" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_command_quotes_a_checked_name() {
        assert_eq!(
            create_command("summa_5_1", true).unwrap(),
            "CREATE_REPLICATION_SLOT \"summa_5_1\" TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')"
        );
        for hostile in [
            "s\nDROP_REPLICATION_SLOT x",
            "s\" x",
            "s; x",
            &"s".repeat(64),
        ] {
            let err = create_command(hostile, false).unwrap_err().to_string();
            assert!(err.contains("invalid replication slot name"), "{err}");
        }
    }
}
