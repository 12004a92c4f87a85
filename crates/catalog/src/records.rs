//! Reading and updating catalog rows.

use summa_plan::MaintenancePlan;
use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    Backfilling,
    CatchingUp,
    Live,
    Broken,
}

impl VersionState {
    pub fn parse(s: &str) -> VersionState {
        match s {
            "backfilling" => VersionState::Backfilling,
            "catching_up" => VersionState::CatchingUp,
            "live" => VersionState::Live,
            _ => VersionState::Broken,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub slot_name: String,
    pub publication: String,
    pub applied_lsn: u64,
    /// Bumped whenever the set of versions the stream feeds changes (retire, drop, create):
    /// a running session reloads when it sees a new value.
    pub generation: i64,
    /// New versions join this stream.
    pub shared: bool,
}

#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub view: String,
    pub version: i32,
    pub state: VersionState,
    pub table_schema: String,
    pub table_name: String,
    pub plan: MaintenancePlan,
    /// Changes committed at or after this LSN are not in the backfill and must be applied
    /// (0 while a version joining the shared stream is still backfilling).
    pub start_lsn: u64,
    /// The version joins the shared stream: its changes go through its pending table until
    /// that is drained (`summa_plan::sqlgen::drain_pending`).
    pub pending: bool,
}

impl VersionRecord {
    pub fn table_qualified(&self) -> String {
        summa_plan::ident::qualified(&self.table_schema, &self.table_name)
    }

    pub fn label(&self) -> String {
        format!("{} v{}", self.view, self.version)
    }
}

pub async fn list_streams(client: &impl GenericClient) -> Result<Vec<StreamRecord>, CatalogError> {
    let rows = client
        .query(
            "SELECT slot_name, publication, (applied_lsn - '0/0')::bigint, generation, shared FROM summa.streams ORDER BY slot_name",
            &[],
        )
        .await
        .ctx(|| "reading summa.streams".into())?;
    Ok(rows
        .iter()
        .map(|r| StreamRecord {
            slot_name: r.get(0),
            publication: r.get(1),
            applied_lsn: r.get::<_, i64>(2) as u64,
            generation: r.get(3),
            shared: r.get(4),
        })
        .collect())
}

/// Versions fed by `slot` that are being maintained (catching up or live), and versions
/// joining it whose changes it records while they backfill.
pub async fn stream_versions(
    client: &impl GenericClient,
    slot: &str,
) -> Result<Vec<VersionRecord>, CatalogError> {
    let rows = client
        .query(
            "SELECT view_name, version, state, table_schema, table_name, plan, \
                    coalesce((start_lsn - '0/0')::bigint, 0), state <> 'live' AND pending \
             FROM summa.versions WHERE slot_name = $1 AND state IN ('backfilling', 'catching_up', 'live') \
             AND (state <> 'backfilling' OR pending) \
             ORDER BY view_name, version",
            &[&slot],
        )
        .await
        .ctx(|| format!("reading versions of stream {slot}"))?;
    rows.iter()
        .map(|r| {
            let view: String = r.get(0);
            let version: i32 = r.get(1);
            let plan =
                MaintenancePlan::from_json(r.get(5)).map_err(|error| CatalogError::StoredPlan {
                    view: view.clone(),
                    version,
                    error,
                })?;
            Ok(VersionRecord {
                view,
                version,
                state: VersionState::parse(r.get(2)),
                table_schema: r.get(3),
                table_name: r.get(4),
                plan,
                start_lsn: r.get::<_, i64>(6) as u64,
                pending: r.get(7),
            })
        })
        .collect()
}

/// Record that a version can no longer be maintained, and why (shown by `summa status`).
pub async fn mark_broken(
    client: &impl GenericClient,
    view: &str,
    version: i32,
    reason: &str,
) -> Result<(), CatalogError> {
    client
        .execute(
            "UPDATE summa.versions SET state = 'broken', error = $3, updated_at = now() \
             WHERE view_name = $1 AND version = $2",
            &[&view, &version, &reason],
        )
        .await
        .ctx(|| format!("marking {view} v{version} broken"))?;
    Ok(())
}

/// The stream's slot is gone (dropped, or invalidated by `max_slot_wal_keep_size`): its
/// changes since the applied LSN are lost to us. Its maintained versions become `stale` with
/// `reason` (they stay readable, correct as of the applied LSN; `summa rebuild` builds a fresh
/// version on a new stream), and the stream and its publication are removed. Returns the
/// versions marked.
pub async fn mark_stream_lost(
    client: &mut tokio_postgres::Client,
    slot: &str,
    reason: &str,
) -> Result<Vec<String>, CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| format!("recording the loss of stream {slot}"))?;
    let marked = tx
        .query(
            "UPDATE summa.versions SET state = CASE WHEN state IN ('live', 'catching_up') THEN 'stale' ELSE state END, \
             error = CASE WHEN state IN ('live', 'catching_up') THEN $2 ELSE error END, slot_name = NULL, updated_at = now() \
             WHERE slot_name = $1 RETURNING format('%s v%s', view_name, version), state",
            &[&slot, &reason],
        )
        .await
        .ctx(|| format!("marking the versions of stream {slot} stale"))?;
    let publication: Option<String> = tx
        .query_opt(
            "DELETE FROM summa.streams WHERE slot_name = $1 RETURNING publication",
            &[&slot],
        )
        .await
        .ctx(|| format!("removing stream {slot}"))?
        .map(|r| r.get(0));
    if let Some(publication) = publication {
        drop_own_publication(&tx, slot, &publication).await?;
    }
    tx.commit()
        .await
        .ctx(|| format!("recording the loss of stream {slot}"))?;
    Ok(marked
        .iter()
        .filter(|r| r.get::<_, String>(1) == "stale")
        .map(|r| r.get(0))
        .collect())
}

/// Drop the stream's publication if it is summa's own (named after its slot); a DBA's one
/// (`publication` in summa.toml) is left alone.
pub(crate) async fn drop_own_publication(
    client: &impl GenericClient,
    slot: &str,
    publication: &str,
) -> Result<(), CatalogError> {
    if publication != slot {
        return Ok(());
    }
    client
        .batch_execute(&format!(
            "DROP PUBLICATION IF EXISTS {}",
            summa_plan::ident::quote_ident(publication)
        ))
        .await
        .ctx(|| format!("dropping publication {publication}"))
}

/// `catching_up` versions of `slot` become `live` (the stream has reached the WAL's end);
/// versions still draining a pending table wait for [`mark_drained`].
pub async fn mark_live(client: &impl GenericClient, slot: &str) -> Result<u64, CatalogError> {
    client
        .execute(
            "UPDATE summa.versions SET state = 'live', updated_at = now() \
             WHERE slot_name = $1 AND state = 'catching_up' AND NOT pending",
            &[&slot],
        )
        .await
        .ctx(|| format!("marking versions of {slot} live"))
}

/// A joining version drained its pending table: drop it, the version is live, and the
/// stream's session reloads it for direct application. Run inside the caller's transaction.
pub async fn mark_drained(
    client: &impl GenericClient,
    record: &VersionRecord,
    slot: &str,
) -> Result<(), CatalogError> {
    let target = summa_plan::sqlgen::Target::new(&record.table_schema, &record.table_name);
    client
        .batch_execute(&format!("DROP TABLE {}", target.pending()))
        .await
        .ctx(|| format!("dropping the pending table of {}", record.label()))?;
    client
        .execute(
            "UPDATE summa.versions SET state = 'live', pending = false, updated_at = now() \
             WHERE view_name = $1 AND version = $2",
            &[&record.view, &record.version],
        )
        .await
        .ctx(|| format!("marking {} live", record.label()))?;
    bump_generation(client, Some(slot)).await?;
    Ok(())
}

/// Record that the versions `slot` feeds changed, so its running session reloads them;
/// returns the new generation (`None` when there is no such stream).
pub async fn bump_generation(
    client: &impl GenericClient,
    slot: Option<&str>,
) -> Result<Option<i64>, CatalogError> {
    Ok(client
        .query_opt(
            "UPDATE summa.streams SET generation = generation + 1 WHERE slot_name = $1 RETURNING generation",
            &[&slot],
        )
        .await
        .ctx(|| format!("recording a change of stream {} for running sidecars", slot.unwrap_or("-")))?
        .map(|r| r.get(0)))
}
