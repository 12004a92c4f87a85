//! DDL of the `summa` schema. Idempotent; serialized with an advisory lock.

use tokio_postgres::Client;

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
CREATE UNIQUE INDEX IF NOT EXISTS streams_one_shared ON summa.streams ((true)) WHERE shared;
"#;

/// Create the `summa` schema and its tables if they do not exist.
pub async fn install(client: &Client) -> Result<(), CatalogError> {
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock(hashtext('summa.install')); {SCHEMA_SQL} COMMIT;"
        ))
        .await
        .ctx(|| "installing the summa schema".into())
}
