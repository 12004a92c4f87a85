//! A stream's progress record (`summa.streams`): which version set its session has loaded,
//! how far it has applied, and when it last had nothing left to apply. The applier
//! (`summa-apply`) writes these through the functions here, inside its own transactions: the
//! applied LSN commits together with the summary rows it covers (invariant 2).

use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

/// A session of `slot` has loaded the version set of `generation`: versions waiting to join
/// the stream may now take their snapshot (see `create_views`), since every change from here
/// on reaches their pending tables. The new session has not shown yet that it is caught up
/// (a stamp of the session before it must not hide a backlog), so the stamp is cleared.
pub async fn record_loaded_generation(
    client: &impl GenericClient,
    slot: &str,
    generation: i64,
) -> Result<(), CatalogError> {
    client
        .execute(
            "UPDATE summa.streams SET loaded_generation = $2, caught_up_at = NULL WHERE slot_name = $1",
            &[&slot, &generation],
        )
        .await
        .ctx(|| format!("recording the versions loaded for stream {slot}"))?;
    Ok(())
}

/// What an idle session's caught-up checks saw of the server's WAL: where it was at the last
/// check, and at how many checks since the last stamp it had moved.
#[derive(Debug, Clone, Default)]
pub struct WalSeen {
    at: Option<String>,
    moves: i32,
}

/// An idle session (nothing it received is left to apply) records that the stream is caught
/// up: `summa status` and `/metrics` report lag 0 while the slot is active and this stamp is
/// newer than the last batch and than [`CAUGHT_UP_FRESH`]. Called about every second with
/// what the previous call returned; writes only when the stamp is needed:
/// - after a batch, once the server's WAL is past the slot's (else the slot's position shows
///   the stream caught up);
/// - 10 s after the last stamp, when the WAL moved at two or more checks since then: WAL of
///   others goes on, and without a stamp status would count it as lag.
///
/// So an idle server stays idle. The slot's position alone cannot drive the renewal either
/// way: another database writing all along is confirmed by the walsender every second (the
/// replication client's status interval, the period of these calls), so at the phase of the
/// second when this runs the slot can look current every time; and on an idle server the
/// background writer logs a standby snapshot after any write, this stamp included, so one
/// move after a stamp is the stamp's own echo, and renewing for it would write every 15 s.
///
/// `force` (a session ending while idle) writes the stamp regardless, so a stopped sidecar's
/// lag counts from when it stopped rather than from its last batch.
pub async fn stamp_caught_up(
    client: &impl GenericClient,
    slot: &str,
    force: bool,
    seen: &WalSeen,
) -> Result<WalSeen, CatalogError> {
    let row = client
        .query_one(
            "WITH w AS (SELECT pg_current_wal_insert_lsn() AS at, \
                        coalesce(pg_current_wal_insert_lsn() > $3::text::pg_lsn, false) AS moved), \
             stamped AS (UPDATE summa.streams s SET caught_up_at = now() FROM w \
                 WHERE s.slot_name = $1 \
                 AND ($2 \
                      OR ((s.caught_up_at IS NULL OR s.caught_up_at < s.applied_at) \
                          AND EXISTS (SELECT 1 FROM pg_replication_slots r \
                                      WHERE r.slot_name = s.slot_name \
                                      AND r.confirmed_flush_lsn < pg_current_wal_lsn())) \
                      OR (s.caught_up_at < now() - interval '10 seconds' \
                          AND $4 + w.moved::int >= 2)) \
                 RETURNING 1) \
             SELECT w.at::text, w.moved, EXISTS (SELECT 1 FROM stamped) FROM w",
            &[&slot, &force, &seen.at, &seen.moves],
        )
        .await
        .ctx(|| format!("recording stream {slot} caught up"))?;
    let (at, moved): (String, bool) = (row.get(0), row.get(1));
    if !row.get::<_, bool>(2) {
        let moves = seen.moves + i32::from(moved);
        return Ok(WalSeen {
            at: Some(at),
            moves,
        });
    }
    // Read after the stamp committed, so the stamp's own WAL is not a move.
    let at = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await
        .ctx(|| format!("reading the WAL position after stamping stream {slot}"))?
        .get(0);
    Ok(WalSeen {
        at: Some(at),
        moves: 0,
    })
}

/// How long a caught-up stamp counts (it is renewed every 10 s while needed, checked every
/// second): SQL interval text, used by `status`.
pub(crate) const CAUGHT_UP_FRESH: &str = "15 seconds";

/// The stream's generation now: a value other than the one a session loaded means its
/// versions changed (retire, drop, a version joining) and it must reload.
pub async fn stream_generation(
    client: &impl GenericClient,
    slot: &str,
) -> Result<i64, CatalogError> {
    Ok(client
        .query_one(
            "SELECT generation FROM summa.streams WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .ctx(|| format!("reading the generation of stream {slot}"))?
        .get(0))
}

/// Inside a batch's transaction: the stream has applied every source transaction up to
/// `lsn` (text form, the last commit's end), committed at `commit_time_micros` (Postgres
/// epoch, microseconds). Returns the stream's generation, which the caller compares with the
/// one it loaded before committing.
pub async fn record_applied(
    client: &impl GenericClient,
    slot: &str,
    lsn: &str,
    commit_time_micros: i64,
) -> Result<i64, CatalogError> {
    Ok(client
        .query_one(
            "UPDATE summa.streams SET applied_lsn = $2::text::pg_lsn, \
             applied_commit_time = '2000-01-01 00:00:00+00'::timestamptz + make_interval(secs => $3::float8 / 1e6), \
             applied_at = now() WHERE slot_name = $1 RETURNING generation",
            &[&slot, &lsn, &(commit_time_micros as f64)],
        )
        .await
        .ctx(|| format!("recording the applied position of stream {slot}"))?
        .get(0))
}

/// Everything committed before `lsn` (text form) is applied: every stream feeding a
/// maintained version has applied `lsn` or later, and no joining version is still draining
/// its pending table. A stream's position is the later of the end its last batch recorded
/// (committed with the batch, so seen at once) and its slot's `confirmed_flush_lsn` (which also
/// moves past WAL of no interest, but only at the next status update, up to a second later).
pub async fn caught_up(client: &impl GenericClient, lsn: &str) -> Result<bool, CatalogError> {
    let behind: i64 = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.slot_name IS NULL \
                 OR greatest(st.applied_lsn, s.confirmed_flush_lsn) < $1::text::pg_lsn) \
                + (SELECT count(*) FROM summa.versions v WHERE v.state = 'catching_up' AND v.pending) \
             FROM summa.streams st LEFT JOIN pg_replication_slots s ON s.slot_name = st.slot_name \
             WHERE EXISTS (SELECT 1 FROM summa.versions v WHERE v.slot_name = st.slot_name AND v.state IN ('catching_up', 'live'))",
            &[&lsn],
        )
        .await
        .ctx(|| "reading the streams' positions".into())?
        .get(0);
    Ok(behind == 0)
}

/// One stream's slot: the WAL it keeps on the server.
#[derive(Debug, Clone)]
pub struct SlotRetention {
    pub slot: String,
    /// The server's WAL position minus the slot's `restart_lsn` (None when the slot is gone).
    pub retained_bytes: Option<i64>,
    /// `pg_replication_slots.wal_status`, or `missing` when the slot does not exist.
    pub wal_status: String,
}

/// Every stream's slot and the WAL it retains (`/metrics`).
pub async fn slot_retention(
    client: &impl GenericClient,
) -> Result<Vec<SlotRetention>, CatalogError> {
    Ok(client
        .query(
            "SELECT s.slot_name, (pg_current_wal_lsn() - r.restart_lsn)::bigint, coalesce(r.wal_status, 'missing') \
             FROM summa.streams s LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name ORDER BY 1",
            &[],
        )
        .await
        .ctx(|| "reading the streams' slots".into())?
        .iter()
        .map(|r| SlotRetention {
            slot: r.get(0),
            retained_bytes: r.get(1),
            wal_status: r.get(2),
        })
        .collect())
}
