//! What a `summa create` that died mid-way (`kill -9`, a lost connection) left behind: versions
//! stuck in `backfilling` with their tables, and a slot or publication no stream owns. Left
//! alone, the slot would retain WAL forever and the shared stream would keep filling the dead
//! version's pending table.
//!
//! A creating session holds a session advisory lock per version it builds ([`lock_build`]);
//! a `backfilling` version whose lock can be taken has no builder any more. Orphan slots and
//! publications are only reaped while no create is running, so a create between its
//! `CREATE PUBLICATION` and its first commit is never mistaken for one.

use tokio_postgres::{Client, GenericClient};

use crate::error::{CatalogError, DbContext};
use crate::lifecycle::remove_version;

/// Advisory lock class (first key) of version builds; the second key hashes view and version.
const BUILD_LOCK_CLASS: i32 = 0x5355_4d42; // "SUMB"

const BUILD_KEY: &str = "hashtext($2::text || '/' || $3::int4::text)";

/// Hold the build lock of `view` `version` for the rest of this session (or until
/// [`unlock_build`]).
pub(crate) async fn lock_build(
    client: &impl GenericClient,
    view: &str,
    version: i32,
) -> Result<(), CatalogError> {
    client
        .execute(
            &format!("SELECT pg_advisory_lock($1, {BUILD_KEY})"),
            &[&BUILD_LOCK_CLASS, &view, &version],
        )
        .await
        .ctx(|| format!("locking the build of {view} v{version}"))?;
    Ok(())
}

pub(crate) async fn unlock_build(client: &impl GenericClient, view: &str, version: i32) {
    let _ = client
        .execute(
            &format!("SELECT pg_advisory_unlock($1, {BUILD_KEY})"),
            &[&BUILD_LOCK_CLASS, &view, &version],
        )
        .await;
}

/// Remove abandoned builds, then (when no build is running) orphan slots and publications of
/// this database. Returns what was removed, for the log.
pub async fn reap_abandoned(client: &mut Client) -> Result<Vec<String>, CatalogError> {
    let building = client
        .query(
            "SELECT view_name, version FROM summa.versions WHERE state = 'backfilling' ORDER BY 1, 2",
            &[],
        )
        .await
        .ctx(|| "finding versions being built".into())?;
    let mut reaped = Vec::new();
    let mut running = false;
    for row in building {
        let (view, version): (String, i32) = (row.get(0), row.get(1));
        let free: bool = client
            .query_one(
                &format!("SELECT pg_try_advisory_lock($1, {BUILD_KEY})"),
                &[&BUILD_LOCK_CLASS, &view, &version],
            )
            .await
            .ctx(|| format!("checking the build of {view} v{version}"))?
            .get(0);
        if !free {
            running = true;
            continue;
        }
        let removed = remove_build(client, &view, version).await;
        unlock_build(&*client, &view, version).await;
        removed?;
        reaped.push(format!("{view} v{version} (abandoned while backfilling)"));
    }
    if !running {
        reaped.extend(drop_orphan_slots(client).await?);
    }
    Ok(reaped)
}

/// Remove an abandoned (or failed) version the way `summa drop --version` does, in one transaction (a
/// sidecar loading versions meanwhile sees all of it or none), with its progress row and, when
/// it was the view's only version, the view.
pub(crate) async fn remove_build(
    client: &mut Client,
    view: &str,
    version: i32,
) -> Result<(), CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| format!("removing abandoned {view} v{version}"))?;
    remove_version(&tx, view, version).await?;
    tx.execute(
        "DELETE FROM summa.backfill_progress WHERE view_name = $1 AND version = $2",
        &[&view, &version],
    )
    .await
    .ctx(|| format!("removing {view} v{version}"))?;
    tx.execute(
        "DELETE FROM summa.views v WHERE name = $1 AND NOT EXISTS \
         (SELECT 1 FROM summa.versions WHERE view_name = v.name)",
        &[&view],
    )
    .await
    .ctx(|| format!("removing view {view}"))?;
    tx.commit()
        .await
        .ctx(|| format!("removing abandoned {view} v{version}"))
}

/// Inactive permanent slots and publications named like this database's streams
/// (`summa_<database oid>_<n>`) that no stream owns.
async fn drop_orphan_slots(client: &Client) -> Result<Vec<String>, CatalogError> {
    const PATTERN: &str =
        "(SELECT 'summa\\_' || oid || '\\_%' FROM pg_database WHERE datname = current_database())";
    let slots = client
        .query(
            &format!(
                "SELECT slot_name::text FROM pg_replication_slots WHERE database = current_database() \
                 AND NOT active AND NOT temporary AND slot_name::text LIKE {PATTERN} \
                 AND slot_name::text NOT IN (SELECT slot_name FROM summa.streams)"
            ),
            &[],
        )
        .await
        .ctx(|| "finding orphan slots".into())?;
    let mut dropped = Vec::new();
    for row in slots {
        let slot: String = row.get(0);
        // Still inactive at the moment of the drop, or skipped.
        let gone = client
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND NOT active",
                &[&slot],
            )
            .await;
        if gone.is_ok_and(|n| n == 1) {
            dropped.push(format!("slot {slot} (no stream owns it)"));
        }
    }
    let publications = client
        .query(
            &format!(
                "SELECT pubname::text FROM pg_publication WHERE pubname::text LIKE {PATTERN} \
                 AND pubname::text NOT IN (SELECT publication FROM summa.streams) \
                 AND pubname NOT IN (SELECT slot_name FROM pg_replication_slots)"
            ),
            &[],
        )
        .await
        .ctx(|| "finding orphan publications".into())?;
    for row in publications {
        let publication: String = row.get(0);
        client
            .batch_execute(&format!(
                "DROP PUBLICATION IF EXISTS {}",
                summa_plan::ident::quote_ident(&publication)
            ))
            .await
            .ctx(|| format!("dropping orphan publication {publication}"))?;
        dropped.push(format!("publication {publication} (no stream owns it)"));
    }
    Ok(dropped)
}
