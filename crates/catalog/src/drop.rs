//! Removing a view entirely: alias, every version's tables, catalog rows, and the streams
//! (slot and publication) that no longer feed any version.

use summa_plan::ident::qualified;
use tokio_postgres::Client;

use crate::error::{CatalogError, DbContext};
use crate::lifecycle::{drop_unused_streams, lock_version, remove_version};

/// Drop view `name` and everything summa keeps for it. A running sidecar reloads its versions;
/// a slot it still holds is dropped by the next `gc`.
pub async fn drop_view(client: &mut Client, name: &str) -> Result<bool, CatalogError> {
    if !crate::schema::installed(&*client).await? {
        return Ok(false);
    }
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
    let versions: Vec<i32> = tx
        .query(
            "SELECT version FROM summa.versions WHERE view_name = $1 ORDER BY version",
            &[&name],
        )
        .await
        .ctx(|| format!("dropping versions of {name}"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Each version as `summa drop --version` removes it (a running sidecar reloads).
    for version in versions {
        let v = lock_version(&tx, name, Some(version)).await?;
        remove_version(&tx, name, &v).await?;
    }
    tx.execute("DELETE FROM summa.views WHERE name = $1", &[&name])
        .await
        .ctx(|| format!("dropping {name}"))?;
    tx.commit().await.ctx(|| format!("dropping {name}"))?;
    // Streams nothing uses any more; one a running sidecar still holds goes at its next gc.
    drop_unused_streams(client).await?;
    Ok(true)
}
