//! Comparing a directory of view files with what the catalog maintains (`summa plan DIR`), and
//! defining what changed (`summa apply DIR`), through the SQL API a migration calls
//! (`summa.definitions`, `summa.define`, `summa.wait_live`; `api.sql`), so both paths agree on
//! what "the same SQL" and "the next version" are.

use std::time::Duration;

use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};
use crate::lifecycle::api_error;

/// What applying one view file would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The newest maintained version has this SQL.
    Unchanged { version: i32 },
    /// The SQL differs from version `from`'s: `to` will be built beside it.
    Changed { from: i32, to: i32 },
    /// No version is maintained (or asked for): `to` will be built.
    New { to: i32 },
}

/// `name`'s change if its SELECT were `sql`. A database without a catalog has no views.
pub async fn compare(
    client: &impl GenericClient,
    name: &str,
    sql: &str,
) -> Result<Change, CatalogError> {
    if !crate::schema::installed(client).await? {
        return Ok(Change::New { to: 1 });
    }
    let row = client
        .query_one(
            "SELECT d.version, summa.query_text(d.sql) = summa.query_text($2), summa.next_version($1) \
             FROM (SELECT 1) one LEFT JOIN summa.definitions d ON d.view_name = $1",
            &[&name, &sql],
        )
        .await
        .ctx(|| format!("comparing {name} with the catalog"))?;
    let (newest, same, next): (Option<i32>, Option<bool>, i32) =
        (row.get(0), row.get(1), row.get(2));
    Ok(match (newest, same) {
        (Some(version), Some(true)) => Change::Unchanged { version },
        (Some(from), _) => Change::Changed { from, to: next },
        (None, _) => Change::New { to: next },
    })
}

/// Every view the catalog maintains or was asked for (a file missing for one of them means it
/// was removed from the directory).
pub async fn defined_views(client: &impl GenericClient) -> Result<Vec<String>, CatalogError> {
    if !crate::schema::installed(client).await? {
        return Ok(Vec::new());
    }
    Ok(client
        .query(
            "SELECT name FROM summa.views UNION \
             SELECT view_name FROM summa.requests WHERE state IN ('waiting', 'building') ORDER BY 1",
            &[],
        )
        .await
        .ctx(|| "reading the catalog's views".into())?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// `summa.define(name, sql)`: the version that will serve this SQL (a new one, or the newest
/// when it has the same SQL).
pub async fn define(
    client: &impl GenericClient,
    name: &str,
    sql: &str,
) -> Result<i32, CatalogError> {
    if !crate::schema::installed(client).await? {
        return Err(CatalogError::Setup {
            message: "this database has no summa catalog yet: start `summa run` against it once \
                      (it installs the catalog and its SQL API), or have a DBA install it \
                      (`summa setup --print --with-catalog`)"
                .into(),
        });
    }
    Ok(client
        .query_one("SELECT summa.define($1, $2)", &[&name, &sql])
        .await
        .map_err(|e| api_error(name, format!("summa.define of {name}"), e))?
        .get(0))
}

/// `summa.wait_live`: true once `version` is live, false after `timeout`; an error when it was
/// refused, broke or is gone (the reason in the message).
pub async fn wait_defined(
    client: &impl GenericClient,
    name: &str,
    version: i32,
    timeout: Duration,
) -> Result<bool, CatalogError> {
    Ok(client
        .query_one(
            "SELECT summa.wait_live($1, $2, make_interval(secs => $3))",
            &[&name, &version, &timeout.as_secs_f64()],
        )
        .await
        .map_err(|e| api_error(name, format!("waiting for {name} v{version}"), e))?
        .get(0))
}
