//! What the server and the role must provide before summa can work, checked up front so each
//! missing piece is reported with the statement that fixes it (docs/operations.md).

use tokio_postgres::Client;

use crate::error::{CatalogError, DbContext};

fn refuse(message: String) -> CatalogError {
    CatalogError::Setup { message }
}

/// Server encodings whose text summa cannot read. Both connections ask for
/// `client_encoding = UTF8` (tokio-postgres, and pgwire-replication's startup packet) and decode
/// every value as UTF-8; Postgres converts its text output to the client's encoding
/// (`pq_sendcountedtext`, pgoutput included), except from SQL_ASCII, which it passes through
/// unchecked, and MULE_INTERNAL, which has no conversion to UTF8.
const UNREADABLE_ENCODINGS: &[&str] = &["SQL_ASCII", "MULE_INTERNAL"];

/// `wal_level = logical`, a role with REPLICATION (or superuser), and a database encoding
/// summa can read.
pub async fn check_server(client: &Client) -> Result<(), CatalogError> {
    let row = client
        .query_one(
            "SELECT current_setting('wal_level'), current_user::text, \
                    (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), \
                    current_setting('server_encoding'), current_database()::text",
            &[],
        )
        .await
        .ctx(|| "checking the server's settings".into())?;
    let (wal_level, role, replication): (String, String, bool) =
        (row.get(0), row.get(1), row.get(2));
    let (encoding, database): (String, String) = (row.get(3), row.get(4));
    if UNREADABLE_ENCODINGS.contains(&encoding.as_str()) {
        return Err(refuse(format!(
            "database {database} uses encoding {encoding}: summa reads every value as UTF-8, and \
             PostgreSQL does not convert {encoding} text to UTF-8, so a non-ASCII value would be \
             misread or refused. A database's encoding cannot be changed in place: create one with \
             CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0; and move the data into it \
             (pg_dump / pg_restore)"
        )));
    }
    if wal_level != "logical" {
        return Err(refuse(format!(
            "wal_level is {wal_level}, but summa reads changes through logical decoding: run \
             ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL"
        )));
    }
    if !replication {
        return Err(refuse(format!(
            "role {role} lacks the REPLICATION attribute, which replication slots need: run \
             ALTER ROLE {} REPLICATION; (roles and grants: docs/operations.md)",
            summa_plan::ident::quote_ident(&role)
        )));
    }
    Ok(())
}

/// A free replication slot for a new stream.
pub async fn check_free_slot(client: &Client) -> Result<(), CatalogError> {
    let row = client
        .query_one(
            "SELECT current_setting('max_replication_slots')::int, \
                    (SELECT count(*)::int FROM pg_replication_slots)",
            &[],
        )
        .await
        .ctx(|| "counting replication slots".into())?;
    let (max, used): (i32, i32) = (row.get(0), row.get(1));
    if used >= max {
        return Err(refuse(format!(
            "all {max} replication slots are in use (max_replication_slots = {max}): drop unused \
             ones (SELECT slot_name FROM pg_replication_slots WHERE NOT active), retire old summa \
             versions (summa gc), or raise max_replication_slots and restart PostgreSQL"
        )));
    }
    Ok(())
}

/// The role can read `table` (backfill, verify and recompute read it).
pub async fn check_can_read(client: &Client, view: &str, table: &str) -> Result<(), CatalogError> {
    let row = client
        .query_one(
            "SELECT has_table_privilege($1, 'SELECT'), current_user::text",
            &[&table],
        )
        .await
        .ctx(|| format!("checking privileges on {table}"))?;
    let (can, role): (bool, String) = (row.get(0), row.get(1));
    if !can {
        return Err(CatalogError::Invalid {
            view: view.to_string(),
            message: format!(
                "role {role} cannot SELECT from {table}: run GRANT SELECT ON {table} TO {};",
                summa_plan::ident::quote_ident(&role)
            ),
        });
    }
    Ok(())
}

/// `table` is not one of summa's own tables (a version's summary, value tables, copies): a
/// summary of a summary is not maintained yet, and such a view would break at its first
/// change (a summary's outputs are generated columns, which logical replication does not
/// send on PostgreSQL 15–17).
pub async fn check_not_summa_state(
    client: &Client,
    view: &str,
    source: &summa_plan::SourceTable,
) -> Result<(), CatalogError> {
    let owner: Option<String> = client
        .query_opt(
            "SELECT format('%s v%s', view_name, version) FROM summa.versions \
             WHERE (table_schema = $1 AND table_name = $2) OR $3 = ANY(objects) LIMIT 1",
            &[&source.schema, &source.name, &source.qualified_name()],
        )
        .await
        .ctx(|| format!("checking whether {} is summa's", source.qualified_name()))?
        .map(|r| r.get(0));
    match owner {
        Some(owner) => Err(CatalogError::Invalid {
            view: view.to_string(),
            message: format!(
                "{} is a table of summa's {owner}: a summary over another summary is not \
                 maintained yet (its rows change through generated columns the change stream \
                 does not carry); write the view over the source tables {owner} reads",
                source.qualified_name()
            ),
        }),
        None => Ok(()),
    }
}

/// The role that asked for a version through `summa.define` can read every column of
/// `input` the view reads: summa reads the sources with its own role, so a request must never
/// summarize what its requester could not SELECT. (`define` checked the SELECT as that role;
/// this holds it to the same when the sidecar builds, after any REVOKE in between.)
pub async fn check_requester_can_read(
    client: &Client,
    view: &str,
    requester: &str,
    input: &summa_plan::Input,
) -> Result<(), CatalogError> {
    let table = input.qualified();
    let columns: Vec<String> = input.shipped.iter().map(|c| c.name.clone()).collect();
    let denied: Vec<String> = client
        .query_one(
            "SELECT coalesce(array_agg(c ORDER BY c) FILTER (WHERE NOT has_column_privilege($1::text, $2::text::regclass, c, 'SELECT')), '{}') \
             FROM unnest($3::text[]) c",
            &[&requester, &table, &columns],
        )
        .await
        .ctx(|| format!("checking {requester}'s privileges on {table}"))?
        .get(0);
    if !denied.is_empty() {
        return Err(CatalogError::Invalid {
            view: view.to_string(),
            message: format!(
                "role {requester}, which asked for this version, cannot SELECT column(s) {} of {table}; summa summarizes only what the requesting role can read",
                denied.join(", ")
            ),
        });
    }
    Ok(())
}

/// With a DBA-owned publication (`publication` in summa.toml), the source must be in it.
pub async fn check_published(
    client: &Client,
    view: &str,
    publication: &str,
    source: &summa_plan::SourceTable,
) -> Result<(), CatalogError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1), \
                    EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 \
                            AND schemaname = $2 AND tablename = $3)",
            &[&publication, &source.schema, &source.name],
        )
        .await
        .ctx(|| format!("reading publication {publication}"))?;
    let (exists, member): (bool, bool) = (row.get(0), row.get(1));
    let quoted = summa_plan::ident::quote_ident(publication);
    let table = source.qualified_name();
    let message = match (exists, member) {
        (true, true) => return Ok(()),
        (false, _) => format!(
            "publication {publication} (from summa.toml) does not exist; have a DBA run \
             `summa setup --print` or:\n  CREATE PUBLICATION {quoted} FOR TABLE {table};"
        ),
        (true, false) => format!(
            "{table} is not in publication {publication}; have a DBA run:\n  ALTER PUBLICATION {quoted} ADD TABLE {table};"
        ),
    };
    Err(CatalogError::Invalid {
        view: view.to_string(),
        message,
    })
}
