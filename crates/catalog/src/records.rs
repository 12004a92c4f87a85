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
}

#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub view: String,
    pub version: i32,
    pub state: VersionState,
    pub table_schema: String,
    pub table_name: String,
    pub plan: MaintenancePlan,
    /// Changes committed at or after this LSN are not in the backfill and must be applied.
    pub start_lsn: u64,
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
            "SELECT slot_name, publication, (applied_lsn - '0/0')::bigint, generation FROM summa.streams ORDER BY slot_name",
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
        })
        .collect())
}

/// Versions fed by `slot` that are being maintained (catching up or live).
pub async fn stream_versions(
    client: &impl GenericClient,
    slot: &str,
) -> Result<Vec<VersionRecord>, CatalogError> {
    let rows = client
        .query(
            "SELECT view_name, version, state, table_schema, table_name, plan, \
                    (start_lsn - '0/0')::bigint \
             FROM summa.versions WHERE slot_name = $1 AND state IN ('catching_up', 'live') \
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

/// `catching_up` versions of `slot` become `live` (the stream has reached the WAL's end).
pub async fn mark_live(client: &impl GenericClient, slot: &str) -> Result<u64, CatalogError> {
    client
        .execute(
            "UPDATE summa.versions SET state = 'live', updated_at = now() \
             WHERE slot_name = $1 AND state = 'catching_up'",
            &[&slot],
        )
        .await
        .ctx(|| format!("marking versions of {slot} live"))
}
