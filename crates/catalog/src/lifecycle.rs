//! A view's versions over time: promote one to serve the alias, retire the ones no longer
//! needed, drop them (at once, or after the retention by `gc`).

use std::time::Duration;

use tokio_postgres::{Client, GenericClient, Transaction};

use crate::error::{CatalogError, DbContext};

/// How far (bytes of WAL) a version's stream may be behind for `promote` to accept it.
pub const PROMOTE_MAX_LAG_BYTES: i64 = 16 * 1024 * 1024;

/// How long `promote` waits for a live version's stream to come within
/// [`PROMOTE_MAX_LAG_BYTES`] of the WAL position at the moment it was asked.
pub const PROMOTE_CATCH_UP: Duration = Duration::from_secs(5);

/// An error raised by the SQL API's functions (`api.sql`): their own refusals name the view
/// (`view v: …`) and become [`CatalogError::Invalid`], like the CLI's checks always were.
pub(crate) fn api_error(view: &str, context: String, err: tokio_postgres::Error) -> CatalogError {
    let prefix = format!("view {view}: ");
    if let Some(message) = err
        .as_db_error()
        .and_then(|db| db.message().strip_prefix(&prefix))
    {
        return CatalogError::Invalid {
            view: view.to_string(),
            message: message.to_string(),
        };
    }
    CatalogError::Db {
        context,
        error: err,
    }
}

/// What `promote` did.
#[derive(Debug, Clone)]
pub struct Promoted {
    pub version: i32,
    pub previous: Option<i32>,
    /// `CREATE OR REPLACE VIEW` (columns compatible) or drop-and-create.
    pub replaced_in_place: bool,
}

/// Make `version` (default: the newest) the one the alias view serves, in one short
/// transaction: `summa.promote_version` (`api.sql`, what a migration's `summa.promote` runs),
/// under `lock_timeout`. It refuses a version that is not live or whose stream is still more
/// than [`PROMOTE_MAX_LAG_BYTES`] behind the WAL position of the moment it was asked after
/// [`PROMOTE_CATCH_UP`]. Readers of the alias see the old or the new version, never an
/// error: the alias is replaced in place when the columns allow it, else dropped and
/// re-created in the same transaction (with its GRANTs).
pub async fn promote(
    client: &mut Client,
    view: &str,
    version: Option<i32>,
    lock_timeout: Duration,
) -> Result<Promoted, CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| format!("promoting {view}"))?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        lock_timeout.as_millis()
    ))
    .await
    .ctx(|| "setting lock_timeout".into())?;
    let row = tx
        .query_one(
            "SELECT promoted, previous, replaced_in_place FROM summa.promote_version($1, $2)",
            &[&view, &version],
        )
        .await
        .map_err(|e| api_error(view, format!("promoting {view}"), e))?;
    summa_failpoint::hit("catalog.promote.swapped");
    tx.commit().await.ctx(|| format!("promoting {view}"))?;
    Ok(Promoted {
        version: row.get(0),
        previous: row.get(1),
        replaced_in_place: row.get(2),
    })
}

/// Stop maintaining `version` (`summa.retire`); `gc` drops it after the retention. The serving
/// version cannot be retired (promote another one first).
pub async fn retire(client: &mut Client, view: &str, version: i32) -> Result<(), CatalogError> {
    client
        .execute("SELECT summa.retire($1, $2)", &[&view, &version])
        .await
        .map_err(|e| api_error(view, format!("retiring {view} v{version}"), e))?;
    Ok(())
}

async fn refuse_serving(
    tx: &Transaction<'_>,
    view: &str,
    version: i32,
) -> Result<(), CatalogError> {
    let serving: Option<i32> = tx
        .query_opt(
            "SELECT serving_version FROM summa.views WHERE name = $1",
            &[&view],
        )
        .await
        .ctx(|| format!("reading {view}"))?
        .and_then(|r| r.get(0));
    if serving == Some(version) {
        return Err(invalid(
            view,
            format!("v{version} serves the alias {view}; promote another version first"),
        ));
    }
    Ok(())
}

fn invalid(view: &str, message: String) -> CatalogError {
    CatalogError::Invalid {
        view: view.to_string(),
        message,
    }
}

/// Drop one version now (not the serving one): its tables, then streams nothing uses.
pub async fn drop_version(
    client: &mut Client,
    view: &str,
    version: i32,
) -> Result<(), CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| format!("dropping {view} v{version}"))?;
    refuse_serving(&tx, view, version).await?;
    remove_version(&tx, view, version).await?;
    tx.commit()
        .await
        .ctx(|| format!("dropping {view} v{version}"))?;
    drop_unused_streams(client).await?;
    Ok(())
}

/// One version's tables and catalog row (`summa.remove_version`); its stream's session
/// reloads.
pub(crate) async fn remove_version(
    client: &impl GenericClient,
    view: &str,
    version: i32,
) -> Result<(), CatalogError> {
    client
        .execute("SELECT summa.remove_version($1, $2)", &[&view, &version])
        .await
        .map_err(|e| api_error(view, format!("dropping {view} v{version}"), e))?;
    Ok(())
}

/// Drop retired versions older than `retention`, then streams no version uses (a slot still
/// held by a sidecar is left for the next run). Returns the dropped `view vN` labels.
/// Needs write access to the catalog, not its ownership (it runs no schema DDL); a database
/// without a catalog has nothing to collect.
pub async fn gc(client: &mut Client, retention: Duration) -> Result<Vec<String>, CatalogError> {
    if !crate::schema::installed(&*client).await? {
        return Ok(Vec::new());
    }
    let due = client
        .query(
            "SELECT view_name, version FROM summa.versions WHERE state = 'retired' \
             AND retired_at <= now() - make_interval(secs => $1::float8) ORDER BY 1, 2",
            &[&retention.as_secs_f64()],
        )
        .await
        .ctx(|| "finding retired versions".into())?;
    let mut dropped = Vec::new();
    for row in due {
        let (view, version): (String, i32) = (row.get(0), row.get(1));
        remove_version(&*client, &view, version).await?;
        dropped.push(format!("{view} v{version}"));
    }
    dropped.extend(crate::reap::reap_abandoned(client).await?);
    drop_unused_streams(client).await?;
    Ok(dropped)
}

/// Streams (slot + publication) that feed no version any more. A slot still held by a
/// walsender (its sidecar has not let go yet) is kept for the next call.
pub async fn drop_unused_streams(client: &mut Client) -> Result<Vec<String>, CatalogError> {
    let unused = client
        .query(
            "SELECT s.slot_name, s.publication FROM summa.streams s WHERE NOT EXISTS \
             (SELECT 1 FROM summa.versions v WHERE v.slot_name = s.slot_name) \
             AND NOT EXISTS (SELECT 1 FROM pg_replication_slots r WHERE r.slot_name = s.slot_name AND r.active)",
            &[],
        )
        .await
        .ctx(|| "finding unused streams".into())?;
    let mut dropped = Vec::new();
    for s in unused {
        let (slot, publication): (String, String) = (s.get(0), s.get(1));
        let tx = client
            .transaction()
            .await
            .ctx(|| format!("dropping stream {slot}"))?;
        tx.execute("DELETE FROM summa.streams WHERE slot_name = $1", &[&slot])
            .await
            .ctx(|| format!("dropping stream {slot}"))?;
        crate::records::drop_own_publication(&tx, &slot, &publication).await?;
        let held = tx
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await;
        match held {
            Ok(_) => {
                tx.commit()
                    .await
                    .ctx(|| format!("dropping stream {slot}"))?;
                dropped.push(slot);
            }
            // Taken by a walsender in the meantime: keep it for the next call.
            Err(_) => {
                let _ = tx.rollback().await;
            }
        }
    }
    Ok(dropped)
}
