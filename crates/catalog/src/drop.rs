//! Removing a view entirely: alias, every version's tables, catalog rows, and the streams
//! (slot and publication) that no longer feed any version.

use summa_plan::ident::qualified;
use summa_plan::sqlgen::{self, Target};
use summa_plan::MaintenancePlan;
use tokio_postgres::Client;

use crate::error::{CatalogError, DbContext};
use crate::lifecycle::drop_unused_streams;

/// Drop view `name` and everything summa keeps for it. A running sidecar reloads its versions;
/// a slot it still holds is dropped by the next `gc`.
pub async fn drop_view(client: &mut Client, name: &str) -> Result<bool, CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| format!("dropping {name}"))?;
    let Some(view) = tx
        .query_opt(
            "SELECT schema_name FROM summa.views WHERE name = $1",
            &[&name],
        )
        .await
        .ctx(|| format!("dropping {name}"))?
    else {
        return Ok(false);
    };
    let schema: String = view.get(0);
    tx.batch_execute(&format!("DROP VIEW IF EXISTS {}", qualified(&schema, name)))
        .await
        .ctx(|| format!("dropping alias view of {name}"))?;
    let versions = tx
        .query(
            "DELETE FROM summa.versions WHERE view_name = $1 RETURNING table_schema, table_name, plan, slot_name",
            &[&name],
        )
        .await
        .ctx(|| format!("dropping versions of {name}"))?;
    for v in versions {
        let target = Target::new(v.get::<_, String>(0), v.get::<_, String>(1));
        let plan = MaintenancePlan::from_json(v.get(2)).map_err(|e| CatalogError::Invalid {
            view: name.to_string(),
            message: format!("the stored plan of {} cannot be read: {e}", target.table()),
        })?;
        for stmt in sqlgen::drop_objects(&plan, &target) {
            tx.batch_execute(&stmt)
                .await
                .ctx(|| format!("dropping {} of {name}", target.table()))?;
        }
        // A running sidecar reloads its versions.
        tx.execute(
            "UPDATE summa.streams SET generation = generation + 1 WHERE slot_name = $1",
            &[&v.get::<_, Option<String>>(3)],
        )
        .await
        .ctx(|| format!("dropping {name}"))?;
    }
    tx.execute("DELETE FROM summa.views WHERE name = $1", &[&name])
        .await
        .ctx(|| format!("dropping {name}"))?;
    tx.commit().await.ctx(|| format!("dropping {name}"))?;
    // Streams nothing uses any more; one a running sidecar still holds goes at its next gc.
    drop_unused_streams(client).await?;
    Ok(true)
}
