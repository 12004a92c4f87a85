//! Removing a view entirely: alias, every version's tables, catalog rows, and the streams
//! (slot and publication) that no longer feed any version.

use tokio_postgres::Client;

use crate::error::CatalogError;
use crate::lifecycle::{api_error, drop_unused_streams};

/// Drop view `name` and everything summa keeps for it (`summa.drop`, what a migration calls).
/// A running sidecar reloads its versions; a slot it still holds is dropped by the next `gc`.
pub async fn drop_view(client: &mut Client, name: &str) -> Result<bool, CatalogError> {
    if !crate::schema::installed(&*client).await? {
        return Ok(false);
    }
    let dropped: bool = client
        .query_one("SELECT summa.drop($1)", &[&name])
        .await
        .map_err(|e| api_error(name, format!("dropping {name}"), e))?
        .get(0);
    // Streams nothing uses any more; one a running sidecar still holds goes at its next gc.
    drop_unused_streams(client).await?;
    Ok(dropped)
}
