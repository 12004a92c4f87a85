//! DDL of the `summa` schema. Idempotent; serialized with an advisory lock.
//!
//! Only `summa run` and `summa create` install or upgrade the schema (they need its owner);
//! every other command reads and writes the tables as they are, so a role with SELECT on
//! `summa.*` can run `summa status` and `summa verify`.

use summa_plan::sqlgen::Target;
use tokio_postgres::{Client, GenericClient};

use crate::error::{CatalogError, DbContext};

const SCHEMA_SQL: &str = r#"
CREATE SCHEMA IF NOT EXISTS summa;
CREATE SEQUENCE IF NOT EXISTS summa.stream_ids;
CREATE TABLE IF NOT EXISTS summa.streams (
    slot_name text PRIMARY KEY,
    publication text NOT NULL,
    applied_lsn pg_lsn NOT NULL,
    applied_commit_time timestamptz,
    applied_at timestamptz NOT NULL DEFAULT now(),
    -- When an idle session last had nothing left to apply (lag is 0 while it is recent).
    caught_up_at timestamptz,
    generation bigint NOT NULL DEFAULT 0,
    -- The generation a running session has loaded (new versions wait for it).
    loaded_generation bigint NOT NULL DEFAULT 0,
    -- The one stream new versions join (a version's own slot only exports its snapshot).
    shared boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS summa.views (
    name text PRIMARY KEY,
    schema_name text NOT NULL,
    serving_version int,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS summa.versions (
    view_name text NOT NULL REFERENCES summa.views (name),
    version int NOT NULL,
    state text NOT NULL CONSTRAINT versions_state_check
        CHECK (state IN ('backfilling', 'catching_up', 'live', 'broken', 'stale', 'retired')),
    table_schema text NOT NULL,
    table_name text NOT NULL,
    sql text NOT NULL,
    plan jsonb NOT NULL,
    plan_format int NOT NULL,
    slot_name text REFERENCES summa.streams (slot_name),
    start_lsn pg_lsn,
    -- The version has a pending table (it joins the shared stream and is not drained yet).
    pending boolean NOT NULL DEFAULT false,
    error text,
    retired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (view_name, version)
);
-- Backfill progress, written from a second connection while the backfill's transaction is
-- open (a row of its own: updating summa.versions would conflict with that transaction).
CREATE TABLE IF NOT EXISTS summa.backfill_progress (
    view_name text NOT NULL,
    version int NOT NULL,
    progress real NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (view_name, version),
    FOREIGN KEY (view_name, version) REFERENCES summa.versions ON DELETE CASCADE
);
-- Read-your-writes: true once the alias's serving version has applied everything committed
-- before `lsn` (false after `timeout`). Call it in its own statement, outside a REPEATABLE READ
-- transaction: it re-reads the catalog every few milliseconds.
CREATE OR REPLACE FUNCTION summa.wait_fresh(view text, lsn pg_lsn, timeout interval DEFAULT '10 seconds')
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout;
    applied pg_lsn;
BEGIN
    LOOP
        SELECT greatest(s.applied_lsn, r.confirmed_flush_lsn) INTO applied
          FROM summa.views w
          JOIN summa.versions v ON v.view_name = w.name AND v.version = w.serving_version
          JOIN summa.streams s ON s.slot_name = v.slot_name
          LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name
         WHERE w.name = view;
        IF NOT FOUND OR applied IS NULL THEN
            RAISE EXCEPTION 'summa.wait_fresh: no view named % with a serving version', view;
        END IF;
        IF applied >= lsn THEN
            RETURN true;
        END IF;
        IF clock_timestamp() >= deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
END
$fn$;
-- Catalogs created before versioning: add what it needs (no lock taken when up to date).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'summa.streams'::regclass
                   AND attname = 'shared') THEN
        ALTER TABLE summa.streams ADD COLUMN IF NOT EXISTS generation bigint NOT NULL DEFAULT 0;
        ALTER TABLE summa.streams ADD COLUMN loaded_generation bigint NOT NULL DEFAULT 0;
        ALTER TABLE summa.streams ADD COLUMN shared boolean NOT NULL DEFAULT false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'summa.versions'::regclass
                   AND attname = 'retired_at') THEN
        ALTER TABLE summa.versions ADD COLUMN retired_at timestamptz;
        ALTER TABLE summa.versions DROP CONSTRAINT IF EXISTS versions_state_check;
        ALTER TABLE summa.versions ADD CONSTRAINT versions_state_check
            CHECK (state IN ('backfilling', 'catching_up', 'live', 'broken', 'stale', 'retired'));
    END IF;
END $$;
-- Catalogs created before the stream-lost state `stale`.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'versions_state_check'
                   AND pg_get_constraintdef(oid) LIKE '%stale%') THEN
        ALTER TABLE summa.versions DROP CONSTRAINT IF EXISTS versions_state_check;
        ALTER TABLE summa.versions ADD CONSTRAINT versions_state_check
            CHECK (state IN ('backfilling', 'catching_up', 'live', 'broken', 'stale', 'retired'));
    END IF;
END $$;
-- Catalogs created before lag knew when a stream was caught up.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'summa.streams'::regclass
                   AND attname = 'caught_up_at') THEN
        ALTER TABLE summa.streams ADD COLUMN caught_up_at timestamptz;
    END IF;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS streams_one_shared ON summa.streams ((true)) WHERE shared;
"#;

/// The SQL API (`summa.define` and the rest, `api.sql`), with the constants it mirrors.
pub fn api_sql() -> String {
    // A request waits for a sidecar while no session serves requests.
    let lease = crate::requests::REQUESTS_LEASE;
    include_str!("api.sql")
        .replace(
            "{max_lag_bytes}",
            &crate::lifecycle::PROMOTE_MAX_LAG_BYTES.to_string(),
        )
        .replace(
            "{catch_up_seconds}",
            &crate::lifecycle::PROMOTE_CATCH_UP.as_secs().to_string(),
        )
        .replace("{fresh}", crate::streams::CAUGHT_UP_FRESH)
        .replace("{lease_high}", &(lease >> 32).to_string())
        .replace("{lease_low}", &(lease & 0xffff_ffff).to_string())
}

/// The whole catalog and SQL API as one script (`summa setup --print`, for a DBA who installs
/// it by hand; `summa run` installs and upgrades it itself).
pub fn install_sql() -> String {
    format!(
        "{SCHEMA_SQL}{}\n{}",
        api_sql(),
        include_str!("partitions.sql")
    )
}

/// Create the `summa` schema, its tables and its SQL API if they do not exist, and upgrade a
/// catalog created by an older summa. One transaction.
///
/// A catalog installed by this very script (its digest is the schema's comment) is left
/// untouched: even idempotent DDL takes strong locks (`CREATE OR REPLACE VIEW`, `CREATE INDEX IF
/// NOT EXISTS`), and a sidecar starting while a migration calls `summa.define` must not
/// deadlock with it.
pub async fn install(client: &Client) -> Result<(), CatalogError> {
    let script = install_sql();
    let marker = format!("summa catalog {:016x}", fnv1a(&script));
    let current: bool = client
        .query_one(
            "SELECT coalesce(obj_description(to_regnamespace('summa'), 'pg_namespace') = $1, false)",
            &[&marker],
        )
        .await
        .ctx(|| "reading the summa catalog's version".into())?
        .get(0);
    if current {
        return Ok(());
    }
    let upgraded = match client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock(hashtext('summa.install')); {script}; COMMENT ON SCHEMA summa IS {}",
            summa_plan::ident::quote_literal(&marker)
        ))
        .await
        .ctx(|| "installing the summa schema".into())
    {
        Ok(()) => match record_pending_tables(client).await {
            Ok(()) => record_lifecycle_sql(client).await,
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    let end = if upgraded.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = client
        .batch_execute(end)
        .await
        .ctx(|| "installing the summa schema".into());
    upgraded.and(ended)
}

/// 64-bit FNV-1a of the install script: which script installed a catalog.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Catalogs created before the SQL API: each version's serving SELECT and state tables, from
/// its stored plan (a plan this summa cannot read is left for a newer one).
async fn record_lifecycle_sql(client: &Client) -> Result<(), CatalogError> {
    let versions = client
        .query(
            "SELECT view_name, version, table_schema, table_name, plan FROM summa.versions \
             WHERE objects IS NULL",
            &[],
        )
        .await
        .ctx(|| "reading summa.versions".into())?;
    for row in versions {
        let (view, version): (String, i32) = (row.get(0), row.get(1));
        let Ok(plan) = summa_plan::MaintenancePlan::from_json(row.get(4)) else {
            continue;
        };
        let target = Target::new(row.get::<_, String>(2), row.get::<_, String>(3));
        record_version_sql(client, &view, version, &plan, &target).await?;
    }
    Ok(())
}

/// Store what the SQL API's lifecycle functions need of a version: the SELECT its alias
/// serves and the tables to drop (`api.sql` never generates SQL from a plan).
pub(crate) async fn record_version_sql(
    client: &impl GenericClient,
    view: &str,
    version: i32,
    plan: &summa_plan::MaintenancePlan,
    target: &Target,
) -> Result<(), CatalogError> {
    client
        .execute(
            "UPDATE summa.versions SET serving_select = $3, objects = $4 \
             WHERE view_name = $1 AND version = $2",
            &[
                &view,
                &version,
                &summa_plan::sqlgen::serving_select(plan, target),
                &target.state_tables(plan),
            ],
        )
        .await
        .ctx(|| format!("recording the lifecycle SQL of {view} v{version}"))?;
    Ok(())
}

/// Catalogs created before `summa.versions.pending`: add it, set once from the pending
/// tables that exist (their names come from [`Target::pending`], as everywhere else).
async fn record_pending_tables(client: &Client) -> Result<(), CatalogError> {
    let has_column: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'summa.versions'::regclass \
             AND attname = 'pending' AND NOT attisdropped)",
            &[],
        )
        .await
        .ctx(|| "reading the catalog's columns".into())?
        .get(0);
    if has_column {
        return Ok(());
    }
    client
        .batch_execute(
            "ALTER TABLE summa.versions ADD COLUMN pending boolean NOT NULL DEFAULT false",
        )
        .await
        .ctx(|| "adding summa.versions.pending".into())?;
    let versions = client
        .query(
            "SELECT view_name, version, table_schema, table_name FROM summa.versions",
            &[],
        )
        .await
        .ctx(|| "reading summa.versions".into())?;
    for row in versions {
        let (view, version): (String, i32) = (row.get(0), row.get(1));
        let target = Target::new(row.get::<_, String>(2), row.get::<_, String>(3));
        client
            .execute(
                "UPDATE summa.versions SET pending = to_regclass($3) IS NOT NULL \
                 WHERE view_name = $1 AND version = $2",
                &[&view, &version, &target.pending()],
            )
            .await
            .ctx(|| format!("recording the pending table of {view} v{version}"))?;
    }
    Ok(())
}

/// Whether this database has a summa catalog (commands that only read it say so, instead of
/// creating it).
pub async fn installed(client: &impl GenericClient) -> Result<bool, CatalogError> {
    Ok(client
        .query_one("SELECT to_regclass('summa.versions') IS NOT NULL", &[])
        .await
        .ctx(|| "looking for the summa catalog".into())?
        .get(0))
}
