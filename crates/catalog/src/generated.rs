//! Stored generated columns of a source, and what the publication carries of them.
//!
//! pgoutput sends the values of generated columns only on PostgreSQL 18 and later, and only
//! from a publication with `publish_generated_columns = stored`. So:
//! - before 18 a view that reads a generated column could never be maintained (its values
//!   never arrive): `summa create` refuses it and names the column's expression to write
//!   instead;
//! - on 18 summa's own publications carry generated columns, and a DBA-owned one must. Besides
//!   feeding such views, this keeps users' writes working: on 18 a table with
//!   `REPLICA IDENTITY FULL` and a generated column, in a publication that does not publish
//!   generated columns, refuses every UPDATE and DELETE ("Replica identity must not contain
//!   unpublished generated columns"), and summa adds tables to its publication and asks for
//!   `REPLICA IDENTITY FULL`.

use summa_plan::ident::quote_ident;
use summa_plan::{Input, SourceTable};
use tokio_postgres::GenericClient;

use crate::error::{CatalogError, DbContext};

/// The first server version (`server_version_num`) that publishes generated columns.
const PUBLISHES_GENERATED: i32 = 180000;

async fn server_version_num(client: &impl GenericClient) -> Result<i32, CatalogError> {
    Ok(client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .ctx(|| "reading the server version".into())?
        .get(0))
}

/// The `WITH` clause of a publication summa creates: partitioned tables publish via their
/// root (their changes arrive under their own name, see `partitions.sql`); on 18 and later it
/// publishes generated columns.
pub(crate) async fn publication_options(
    client: &impl GenericClient,
) -> Result<&'static str, CatalogError> {
    Ok(
        if server_version_num(client).await? >= PUBLISHES_GENERATED {
            " WITH (publish_via_partition_root = true, publish_generated_columns = stored)"
        } else {
            " WITH (publish_via_partition_root = true)"
        },
    )
}

/// On 18 and later, make summa's own `publication` publish generated columns (one created by
/// an earlier summa does not), before a table joins it.
pub(crate) async fn publish_generated_columns(
    client: &impl GenericClient,
    publication: &str,
) -> Result<(), CatalogError> {
    if server_version_num(client).await? < PUBLISHES_GENERATED {
        return Ok(());
    }
    client
        .batch_execute(&format!(
            "ALTER PUBLICATION {} SET (publish_generated_columns = stored)",
            quote_ident(publication)
        ))
        .await
        .ctx(|| format!("making publication {publication} publish generated columns"))
}

/// Refuse `view` when it reads a generated column of `input` whose values cannot reach summa: before
/// 18 (never published), or from the DBA-owned `publication` that does not publish them.
pub(crate) async fn check_generated_columns(
    client: &impl GenericClient,
    view: &str,
    input: &Input,
    source: &SourceTable,
    publication: Option<&str>,
) -> Result<(), CatalogError> {
    let generated: Vec<(&str, &str)> = input
        .shipped
        .iter()
        .filter_map(|c| {
            let col = source.column(&c.name)?;
            Some((col.name.as_str(), col.generated.as_deref()?))
        })
        .collect();
    let Some((column, expr)) = generated.first() else {
        return Ok(());
    };
    let table = source.qualified_name();
    let version = server_version_num(client).await?;
    if version < PUBLISHES_GENERATED {
        return Err(CatalogError::Invalid {
            view: view.to_string(),
            message: format!(
                "column {} of {table} is a generated column, and PostgreSQL {} does not publish \
                 generated columns to logical replication (18 does), so its changes would never \
                 reach summa; write its expression instead: {expr}",
                quote_ident(column),
                version / 10000
            ),
        });
    }
    let Some(publication) = publication else {
        return Ok(());
    };
    let publishes: bool = client
        .query_one(
            "SELECT coalesce((SELECT pubgencols::text = 's' FROM pg_publication WHERE pubname = $1), false)",
            &[&publication],
        )
        .await
        .ctx(|| format!("reading publication {publication}"))?
        .get(0);
    if publishes {
        return Ok(());
    }
    Err(CatalogError::Invalid {
        view: view.to_string(),
        message: format!(
            "column {} of {table} is a generated column, and publication {publication} does not \
             publish generated columns; have a DBA run:\n  ALTER PUBLICATION {} SET \
             (publish_generated_columns = stored);",
            quote_ident(column),
            quote_ident(publication)
        ),
    })
}
