//! Reading one version of a view as the commands need it (verify, rebuild, demo).

use std::time::{Duration, Instant};

use summa_plan::sqlgen::Target;
use summa_plan::MaintenancePlan;
use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

/// A version as stored in `summa.versions`.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub view: String,
    pub version: i32,
    /// `backfilling`, `catching_up`, `live`, `broken`, `stale` or `retired`.
    pub state: String,
    /// The SELECT it was created from.
    pub sql: String,
    /// Its plan, with the session settings pinned at its creation (`plan.settings`).
    pub plan: MaintenancePlan,
    pub target: Target,
    /// The stream feeding it (none once its stream was lost).
    pub slot: Option<String>,
}

/// Version `version` of `view`; without one, the version the alias serves, else the newest.
pub async fn find_version(
    client: &impl GenericClient,
    view: &str,
    version: Option<i32>,
) -> Result<StoredVersion, CatalogError> {
    if !crate::schema::installed(client).await? {
        return Err(CatalogError::Invalid {
            view: view.to_string(),
            message: "there is no summa catalog in this database (no view was created yet)".into(),
        });
    }
    let row = client
        .query_opt(
            "SELECT v.version, v.state, v.sql, v.plan, v.table_schema, v.table_name, v.slot_name \
             FROM summa.versions v JOIN summa.views w ON w.name = v.view_name \
             WHERE v.view_name = $1 AND v.version = coalesce($2, w.serving_version, \
                 (SELECT max(version) FROM summa.versions WHERE view_name = $1))",
            &[&view, &version],
        )
        .await
        .ctx(|| format!("reading {view}"))?
        .ok_or_else(|| CatalogError::Invalid {
            view: view.to_string(),
            message: match version {
                Some(n) => format!("there is no version {n} of {view}"),
                None => format!("there is no view named {view}"),
            },
        })?;
    let number: i32 = row.get(0);
    let plan =
        MaintenancePlan::from_json(row.get(3)).map_err(|error| CatalogError::StoredPlan {
            view: view.to_string(),
            version: number,
            error,
        })?;
    Ok(StoredVersion {
        view: view.to_string(),
        version: number,
        state: row.get(1),
        sql: row.get(2),
        plan,
        target: Target::new(row.get::<_, String>(4), row.get::<_, String>(5)),
        slot: row.get(6),
    })
}

/// Wait until `view` `version` is live (true), or until it is broken, gone, or `timeout` has
/// passed (false). Someone else applies meanwhile: a sidecar, or the caller's own applier.
pub async fn wait_live(
    client: &impl GenericClient,
    view: &str,
    version: i32,
    timeout: Duration,
) -> Result<bool, CatalogError> {
    let started = Instant::now();
    loop {
        let state: Option<String> = client
            .query_opt(
                "SELECT state FROM summa.versions WHERE view_name = $1 AND version = $2",
                &[&view, &version],
            )
            .await
            .ctx(|| format!("reading the state of {view} v{version}"))?
            .map(|r| r.get(0));
        match state.as_deref() {
            Some("live") => return Ok(true),
            Some("backfilling" | "catching_up") if started.elapsed() <= timeout => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            _ => return Ok(false),
        }
    }
}
