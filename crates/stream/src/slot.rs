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
    let mut session =
        ReplicationClient::connect_gated(conn.replication(slot, publication, Lsn(0))).await?;
    // Slot names are restricted to [a-z0-9_] by Postgres, so the name needs no quoting;
    // callers build it with `summa_catalog` naming rules.
    let rows = session
        .simple_query(&format!(
            "CREATE_REPLICATION_SLOT {slot}{} LOGICAL pgoutput (SNAPSHOT 'export')",
            if temporary { " TEMPORARY" } else { "" }
        ))
        .await?;
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
