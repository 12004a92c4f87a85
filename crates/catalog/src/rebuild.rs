//! Workflows over a view's versions that build a new one from an existing one: `summa
//! rebuild` (a full recompute into a new version) and `summa verify --exact` (a fresh version
//! compared with the checked one, then dropped).
//!
//! Both reuse the existing version's SQL **and its pinned settings** (`plan.settings`): the new
//! version is planned, backfilled and maintained with exactly the TimeZone, DateStyle,
//! search_path, … the old one was created with, so `date_trunc('day', created_at)` keeps its
//! meaning even after the database's or the role's defaults changed.
//!
//! Catching a new version up needs an applier (`summa-apply`, which depends on this crate): the
//! caller passes it in as `catch_up`.

use summa_stream::ConnInfo;
use tokio_postgres::Client;

use crate::create::{create_views, CreateOptions, CreatedVersion, ViewSpec};
use crate::error::CatalogError;
use crate::lookup::{find_version, StoredVersion};
use crate::verify::{compare_versions, VerifyReport};

/// A new version of `from`'s view with `from`'s SQL and pinned settings (`opts.settings` is
/// ignored).
async fn recreate(
    conn: &ConnInfo,
    client: &mut Client,
    from: &StoredVersion,
    opts: &CreateOptions,
) -> Result<CreatedVersion, CatalogError> {
    let opts = CreateOptions {
        settings: Some(from.plan.settings.clone()),
        ..opts.clone()
    };
    let spec = ViewSpec {
        name: from.view.clone(),
        sql: from.sql.clone(),
    };
    let mut created = create_views(conn, client, &[spec], &opts).await?;
    created.pop().ok_or_else(|| CatalogError::Invalid {
        view: from.view.clone(),
        message: "creating the new version returned nothing".into(),
    })
}

/// `summa rebuild`: recompute `view` into a new version from the source, from `version`'s SQL
/// (default: the serving version's, else the newest's) and with its pinned settings.
pub async fn rebuild(
    conn: &ConnInfo,
    client: &mut Client,
    view: &str,
    version: Option<i32>,
    opts: &CreateOptions,
) -> Result<CreatedVersion, CatalogError> {
    let from = find_version(&*client, view, version).await?;
    recreate(conn, client, &from, opts).await
}

/// `summa verify --exact`: build a fresh version of `checked`'s SELECT (same settings) on the
/// shared stream, let `catch_up` bring it live, compare the two in one snapshot (both stand at
/// the same applied position, so writers running meanwhile cannot cause a difference), and
/// drop the fresh one, whatever happened.
///
/// `catch_up(client, fresh_version)` returns whether the fresh version became live.
pub async fn verify_exact<E>(
    conn: &ConnInfo,
    client: &mut Client,
    checked: &StoredVersion,
    opts: &CreateOptions,
    chunk_groups: i64,
    catch_up: impl AsyncFnOnce(&Client, i32) -> Result<bool, E>,
) -> Result<VerifyReport, E>
where
    E: From<CatalogError>,
{
    let view = &checked.view;
    let fresh = recreate(conn, client, checked, opts).await?;
    let result = async {
        if Some(&fresh.slot) != checked.slot.as_ref() {
            return Err(E::from(CatalogError::Invalid {
                view: view.clone(),
                message: format!(
                    "v{} is on a stream of its own (created before the shared stream): \
                     compare with `summa verify {view}`, or rebuild it",
                    checked.version
                ),
            }));
        }
        if !catch_up(&*client, fresh.version).await? {
            return Err(E::from(CatalogError::Invalid {
                view: view.clone(),
                message: format!("the fresh rebuild v{} did not become live", fresh.version),
            }));
        }
        let fresh_target = find_version(&*client, view, Some(fresh.version))
            .await?
            .target;
        Ok(compare_versions(
            client,
            &checked.plan,
            &checked.target,
            &fresh_target,
            chunk_groups,
        )
        .await?)
    }
    .await;
    crate::lifecycle::drop_version(client, view, fresh.version).await?;
    result
}
