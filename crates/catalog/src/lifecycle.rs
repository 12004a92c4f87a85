//! A view's versions over time: promote one to serve the alias, retire the ones no longer
//! needed, drop them (at once, or after the retention by `gc`).

use std::time::Duration;

use summa_plan::ident::qualified;
use summa_plan::sqlgen::{self, Target};
use summa_plan::MaintenancePlan;
use tokio_postgres::{Client, Transaction};

use crate::error::{CatalogError, DbContext};
use crate::records::bump_generation;

/// How far (bytes of WAL) a version's stream may be behind for `promote` to accept it.
pub const PROMOTE_MAX_LAG_BYTES: i64 = 16 * 1024 * 1024;

/// How long `promote` waits for a live version's stream to come within
/// [`PROMOTE_MAX_LAG_BYTES`] of the WAL position at the moment it was asked.
pub const PROMOTE_CATCH_UP: Duration = Duration::from_secs(5);

/// The stream's lag behind `asked_at` (a WAL position read when promote began): `None` when
/// its position is unknown.
const LAG_BEHIND: &str =
    "SELECT ($2::text::pg_lsn - greatest(s.applied_lsn, r.confirmed_flush_lsn))::bigint \
     FROM summa.streams s LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name \
     WHERE s.slot_name = $1";

/// One version's row, locked for the lifecycle change.
pub(crate) struct Locked {
    version: i32,
    state: String,
    target: Target,
    plan: MaintenancePlan,
    slot: Option<String>,
}

fn invalid(view: &str, message: String) -> CatalogError {
    CatalogError::Invalid {
        view: view.to_string(),
        message,
    }
}

pub(crate) async fn lock_version(
    tx: &Transaction<'_>,
    view: &str,
    version: Option<i32>,
) -> Result<Locked, CatalogError> {
    let row = tx
        .query_opt(
            "SELECT v.version, v.state, v.table_schema, v.table_name, v.plan, v.slot_name \
             FROM summa.versions v JOIN summa.views w ON w.name = v.view_name \
             WHERE v.view_name = $1 AND v.version = coalesce($2, \
                 (SELECT max(version) FROM summa.versions WHERE view_name = $1)) \
             FOR UPDATE OF v",
            &[&view, &version],
        )
        .await
        .ctx(|| format!("reading {view}"))?
        .ok_or_else(|| match version {
            Some(n) => invalid(view, format!("there is no version {n} of {view}")),
            None => invalid(view, format!("there is no view named {view}")),
        })?;
    let version: i32 = row.get(0);
    let plan =
        MaintenancePlan::from_json(row.get(4)).map_err(|error| CatalogError::StoredPlan {
            view: view.to_string(),
            version,
            error,
        })?;
    Ok(Locked {
        version,
        state: row.get(1),
        target: Target::new(row.get::<_, String>(2), row.get::<_, String>(3)),
        plan,
        slot: row.get(5),
    })
}

/// The WAL position now (returned), once `view`'s live version `version` (default: the
/// newest) is within [`PROMOTE_MAX_LAG_BYTES`] of it, or after [`PROMOTE_CATCH_UP`].
///
/// Promote measures lag against this position, not the current one at its check: an idle
/// stream acknowledges keepalive positions about once a second, so on a server whose other
/// databases write more WAL than the allowance per second, the current position always runs
/// ahead of any stream, however caught up. The wait happens outside the promoting
/// transaction, which holds the version's row lock.
async fn wait_caught_up(
    client: &Client,
    view: &str,
    version: Option<i32>,
) -> Result<String, CatalogError> {
    let asked_at: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .ctx(|| "reading the WAL position".into())?
        .get(0);
    let Some(row) = client
        .query_opt(
            "SELECT slot_name FROM summa.versions WHERE view_name = $1 AND state = 'live' \
             AND version = coalesce($2, (SELECT max(version) FROM summa.versions WHERE view_name = $1))",
            &[&view, &version],
        )
        .await
        .ctx(|| format!("reading {view}"))?
    else {
        // Not live (or no such version): the promoting transaction says why.
        return Ok(asked_at);
    };
    let slot: Option<String> = row.get(0);
    let started = std::time::Instant::now();
    while started.elapsed() < PROMOTE_CATCH_UP {
        let lag: Option<i64> = client
            .query_opt(LAG_BEHIND, &[&slot, &asked_at])
            .await
            .ctx(|| "reading the stream's position".into())?
            .and_then(|r| r.get(0));
        if lag.is_some_and(|l| l <= PROMOTE_MAX_LAG_BYTES) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(asked_at)
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
/// transaction. Refuses a version that is not live or whose stream is still more than
/// [`PROMOTE_MAX_LAG_BYTES`] behind the WAL position of the moment it was asked after
/// [`PROMOTE_CATCH_UP`]. Readers of the
/// alias see the old or the new version, never an error: the alias is replaced in place when
/// the columns allow it, else dropped and re-created in the same transaction (with its GRANTs).
pub async fn promote(
    client: &mut Client,
    view: &str,
    version: Option<i32>,
    lock_timeout: Duration,
) -> Result<Promoted, CatalogError> {
    let asked_at = wait_caught_up(client, view, version).await?;
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
    let v = lock_version(&tx, view, version).await?;
    if v.state != "live" {
        return Err(invalid(
            view,
            format!(
                "v{} is {}, not live: only a live version can serve (see summa status)",
                v.version, v.state
            ),
        ));
    }
    let lag: Option<i64> = tx
        .query_one(LAG_BEHIND, &[&v.slot, &asked_at])
        .await
        .ctx(|| "reading the stream's position".into())?
        .get(0);
    if lag.unwrap_or(i64::MAX) > PROMOTE_MAX_LAG_BYTES {
        return Err(invalid(
            view,
            format!(
                "v{} is {} bytes of WAL behind (more than {PROMOTE_MAX_LAG_BYTES}); is `summa run` running?",
                v.version,
                lag.map(|l| l.to_string()).unwrap_or_else(|| "an unknown number of".into())
            ),
        ));
    }
    let (schema, previous): (String, Option<i32>) = {
        let row = tx
            .query_one(
                "SELECT schema_name, serving_version FROM summa.views WHERE name = $1 FOR UPDATE",
                &[&view],
            )
            .await
            .ctx(|| format!("reading {view}"))?;
        (row.get(0), row.get(1))
    };
    let alias = qualified(&schema, view);
    let replaced_in_place = match previous {
        Some(p) if p == v.version => true,
        Some(p) => {
            let old = lock_version(&tx, view, Some(p)).await?;
            columns_compatible(&old.plan, &v.plan)
        }
        None => true,
    };
    if replaced_in_place {
        tx.batch_execute(&sqlgen::alias_view(&v.plan, &alias, &v.target))
            .await
            .ctx(|| format!("replacing {alias}"))?;
    } else {
        let grants = alias_grants(&tx, &alias).await?;
        tx.batch_execute(&format!("DROP VIEW IF EXISTS {alias}"))
            .await
            .ctx(|| format!("dropping {alias}"))?;
        tx.batch_execute(&sqlgen::alias_view(&v.plan, &alias, &v.target))
            .await
            .ctx(|| format!("creating {alias}"))?;
        for grant in grants {
            tx.batch_execute(&grant)
                .await
                .ctx(|| format!("restoring a grant on {alias}"))?;
        }
    }
    tx.execute(
        "UPDATE summa.views SET serving_version = $2 WHERE name = $1",
        &[&view, &v.version],
    )
    .await
    .ctx(|| format!("recording the serving version of {view}"))?;
    summa_failpoint::hit("catalog.promote.swapped");
    tx.commit().await.ctx(|| format!("promoting {view}"))?;
    Ok(Promoted {
        version: v.version,
        previous,
        replaced_in_place,
    })
}

/// `CREATE OR REPLACE VIEW` keeps the existing columns' names and types in order and may add
/// columns at the end.
fn columns_compatible(old: &MaintenancePlan, new: &MaintenancePlan) -> bool {
    old.outputs.len() <= new.outputs.len()
        && old
            .outputs
            .iter()
            .zip(&new.outputs)
            .all(|(a, b)| a.name == b.name && a.type_sql == b.type_sql)
}

/// `GRANT …` statements that re-create the privileges on `alias`.
async fn alias_grants(tx: &Transaction<'_>, alias: &str) -> Result<Vec<String>, CatalogError> {
    let rows = tx
        .query(
            "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' \
                    ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.is_grantable \
             FROM pg_class c, aclexplode(c.relacl) a \
             WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner",
            &[&alias],
        )
        .await
        .ctx(|| format!("reading the grants on {alias}"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let privilege: String = r.get(0);
            let grantee: String = r.get(1);
            let grantable: bool = r.get(2);
            format!(
                "GRANT {privilege} ON {alias} TO {grantee}{}",
                if grantable { " WITH GRANT OPTION" } else { "" }
            )
        })
        .collect())
}

/// Stop maintaining `version`; `gc` drops it after the retention. The serving version cannot
/// be retired (promote another one first).
pub async fn retire(client: &mut Client, view: &str, version: i32) -> Result<(), CatalogError> {
    let tx = client
        .transaction()
        .await
        .ctx(|| format!("retiring {view} v{version}"))?;
    let v = lock_version(&tx, view, Some(version)).await?;
    refuse_serving(&tx, view, version).await?;
    if v.state == "retired" {
        return Ok(());
    }
    tx.execute(
        "UPDATE summa.versions SET state = 'retired', retired_at = now(), updated_at = now() \
         WHERE view_name = $1 AND version = $2",
        &[&view, &version],
    )
    .await
    .ctx(|| format!("retiring {view} v{version}"))?;
    bump_generation(&tx, v.slot.as_deref()).await?;
    tx.commit()
        .await
        .ctx(|| format!("retiring {view} v{version}"))
}

async fn refuse_serving(
    tx: &Transaction<'_>,
    view: &str,
    version: i32,
) -> Result<(), CatalogError> {
    let serving: Option<i32> = tx
        .query_one(
            "SELECT serving_version FROM summa.views WHERE name = $1",
            &[&view],
        )
        .await
        .ctx(|| format!("reading {view}"))?
        .get(0);
    if serving == Some(version) {
        return Err(invalid(
            view,
            format!("v{version} serves the alias {view}; promote another version first"),
        ));
    }
    Ok(())
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
    let v = lock_version(&tx, view, Some(version)).await?;
    refuse_serving(&tx, view, version).await?;
    remove_version(&tx, view, &v).await?;
    tx.commit()
        .await
        .ctx(|| format!("dropping {view} v{version}"))?;
    drop_unused_streams(client).await?;
    Ok(())
}

pub(crate) async fn remove_version(
    tx: &Transaction<'_>,
    view: &str,
    v: &Locked,
) -> Result<(), CatalogError> {
    for stmt in sqlgen::drop_objects(&v.plan, &v.target) {
        tx.batch_execute(&stmt)
            .await
            .ctx(|| format!("dropping {}", v.target.table()))?;
    }
    tx.execute(
        "DELETE FROM summa.versions WHERE view_name = $1 AND version = $2",
        &[&view, &v.version],
    )
    .await
    .ctx(|| format!("dropping {view} v{}", v.version))?;
    bump_generation(tx, v.slot.as_deref()).await?;
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
        let tx = client
            .transaction()
            .await
            .ctx(|| format!("dropping {view} v{version}"))?;
        let v = lock_version(&tx, &view, Some(version)).await?;
        remove_version(&tx, &view, &v).await?;
        tx.commit()
            .await
            .ctx(|| format!("dropping {view} v{version}"))?;
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
