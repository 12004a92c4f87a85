//! Removing a view entirely: alias, every version's table, catalog rows, and the streams
//! (slot and publication) that no longer feed any version.

use summa_plan::ident::{qualified, quote_ident};
use summa_plan::sqlgen::{self, Target};
use summa_plan::MaintenancePlan;
use tokio_postgres::Client;

use crate::error::{CatalogError, DbContext};

/// Drop view `name` and everything summa keeps for it. Fails if a sidecar is still reading
/// one of its slots (stop it first).
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
            "DELETE FROM summa.versions WHERE view_name = $1 RETURNING table_schema, table_name, plan",
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
    }
    tx.execute("DELETE FROM summa.views WHERE name = $1", &[&name])
        .await
        .ctx(|| format!("dropping {name}"))?;
    let unused = tx
        .query(
            "DELETE FROM summa.streams s WHERE NOT EXISTS \
             (SELECT 1 FROM summa.versions v WHERE v.slot_name = s.slot_name) RETURNING slot_name, publication",
            &[],
        )
        .await
        .ctx(|| "dropping unused streams".into())?;
    for s in &unused {
        let slot: String = s.get(0);
        let publication: String = s.get(1);
        tx.batch_execute(&format!(
            "DROP PUBLICATION IF EXISTS {}",
            quote_ident(&publication)
        ))
        .await
        .ctx(|| format!("dropping publication {publication}"))?;
        tx.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .ctx(|| format!("dropping replication slot {slot} (is a sidecar still running?)"))?;
    }
    tx.commit().await.ctx(|| format!("dropping {name}"))?;
    Ok(true)
}
