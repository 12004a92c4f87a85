-- The SQL API: what a migration calls (summa.define, promote, retire, drop, wait_live and the
-- summa.status view). Installed and upgraded with the catalog (schema.rs); placeholders in
-- braces are filled there from the Rust constants they mirror.
--
-- Design note. A migration must stay short and transactional, so nothing here waits on a
-- backfill: `define` checks what Postgres can check at once (the name, the options, the
-- SELECT's syntax, names and the caller's SELECT privilege: a cursor is opened on it and
-- closed, which plans it and checks permissions without running it, and refuses anything but
-- one query) and records a request in the caller's transaction. A sidecar (`summa run`) picks
-- committed requests up (requests.rs), re-checks the requester's privileges on the sources it
-- found, and builds the version exactly as `summa create` does, with the version number
-- `define` returned. Version numbers come from `summa.next_version` under a per-view advisory
-- lock that `summa create` takes too, so the two never hand out one number twice.
--
-- Privileges: the functions that change the catalog or the alias are SECURITY DEFINER (owned
-- by the role that installed the catalog, the sidecar's) with EXECUTE revoked from PUBLIC; a
-- DBA grants them to the roles that run migrations (docs/versioning.md). The requesting role
-- is recorded from the session (its SET ROLE, else its login), never from an argument.

CREATE TABLE IF NOT EXISTS summa.requests (
    id bigserial PRIMARY KEY,
    view_name text NOT NULL,
    version int NOT NULL,
    schema_name text NOT NULL,
    sql text NOT NULL,
    options jsonb NOT NULL DEFAULT '{}',
    requested_by name NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    -- waiting → building → done, or refused (with the reason); a building request whose
    -- sidecar died is waiting again when the next one starts.
    state text NOT NULL DEFAULT 'waiting'
        CHECK (state IN ('waiting', 'building', 'done', 'refused')),
    error text,
    attempts int NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS requests_one_version ON summa.requests (view_name, version)
    WHERE state <> 'refused';

-- Catalogs created before the SQL API: what the lifecycle functions need of each version (the
-- SELECT the alias serves, the tables to drop), filled from the stored plans by schema.rs.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'summa.versions'::regclass
                   AND attname = 'objects' AND NOT attisdropped) THEN
        ALTER TABLE summa.versions ADD COLUMN serving_select text;
        ALTER TABLE summa.versions ADD COLUMN objects text[];
    END IF;
END $$;

-- The role a SECURITY DEFINER function acts for: the session's SET ROLE, else its login.
CREATE OR REPLACE FUNCTION summa.invoker() RETURNS name
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN current_setting('role') = 'none' THEN session_user
                ELSE current_setting('role')::name END
$fn$;

-- The next version number of a view: after every version and every request not refused.
-- Callers hold the view's advisory lock (summa.lock_view).
CREATE OR REPLACE FUNCTION summa.next_version(view text) RETURNS int
LANGUAGE sql STABLE AS $fn$
    SELECT greatest((SELECT max(v.version) FROM summa.versions v WHERE v.view_name = $1),
                    (SELECT max(r.version) FROM summa.requests r
                      WHERE r.view_name = $1 AND r.state <> 'refused'),
                    0) + 1
$fn$;

CREATE OR REPLACE FUNCTION summa.lock_view(view text) RETURNS void
LANGUAGE sql AS $fn$
    SELECT pg_advisory_xact_lock(hashtext('summa.version'), hashtext($1))
$fn$;

-- The same SELECT: equal once surrounding whitespace and trailing semicolons are removed.
CREATE OR REPLACE FUNCTION summa.query_text(select_sql text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT regexp_replace(regexp_replace($1, '^\s+', ''), '[\s;]+$', '')
$fn$;

-- Each view's newest definition that is or will be maintained (asked for, building or live):
-- what defining the same SQL again returns, and what `summa plan DIR` compares with.
CREATE OR REPLACE VIEW summa.definitions AS
SELECT DISTINCT ON (x.view_name) x.view_name, x.version, x.sql, x.state
  FROM (SELECT r.view_name, r.version, r.sql, r.state FROM summa.requests r
         WHERE r.state IN ('waiting', 'building')
        UNION ALL
        SELECT v.view_name, v.version, v.sql, v.state FROM summa.versions v
         WHERE v.state IN ('backfilling', 'catching_up', 'live')) x
 ORDER BY x.view_name, x.version DESC;

CREATE OR REPLACE FUNCTION summa.define(name text, select_sql text, options jsonb DEFAULT '{}')
RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
    query text := summa.query_text(select_sql);
    unknown text;
    checked refcursor;
BEGIN
    IF name IS NULL OR name !~ '^[a-z][a-z0-9_]*$' OR octet_length(name) > 48 THEN
        RAISE EXCEPTION 'summa.define: % is not a valid view name', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'invalid_name',
                  HINT = 'View names use lower-case letters, digits and _, start with a letter, at most 48 characters (the versioned tables add a suffix within Postgres'' 63 bytes).';
    END IF;
    IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'summa.define %: options must be a JSON object, not %', name, coalesce(options::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(quote_ident(k), ', ') INTO unknown FROM jsonb_object_keys(options) k
     WHERE k NOT IN ('schema', 'readers', 'replica_identity_full');
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'summa.define %: unknown option %', name, unknown
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The options are schema (text), readers (array of role names) and replica_identity_full (boolean).';
    END IF;
    IF options ? 'schema' AND jsonb_typeof(options->'schema') <> 'string' THEN
        RAISE EXCEPTION 'summa.define %: option schema must be a string', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF options ? 'replica_identity_full' AND jsonb_typeof(options->'replica_identity_full') <> 'boolean' THEN
        RAISE EXCEPTION 'summa.define %: option replica_identity_full must be true or false', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF options ? 'readers' AND (jsonb_typeof(options->'readers') <> 'array' OR EXISTS (
            SELECT 1 FROM jsonb_array_elements(options->'readers') e WHERE jsonb_typeof(e) <> 'string')) THEN
        RAISE EXCEPTION 'summa.define %: option readers must be an array of role names', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(quote_literal(e), ', ') INTO unknown FROM jsonb_array_elements_text(coalesce(options->'readers', '[]')) e
     WHERE to_regrole(quote_ident(e)) IS NULL;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'summa.define %: option readers names no such role: %', name, unknown USING ERRCODE = 'undefined_object';
    END IF;
    IF query IS NULL OR query = '' THEN
        RAISE EXCEPTION 'summa.define %: the SELECT is empty', name USING ERRCODE = 'syntax_error';
    END IF;
    -- Postgres checks the SELECT as the caller, without running it: syntax, names, SELECT
    -- privilege, and that it is one query (a cursor opens on nothing else).
    OPEN checked FOR EXECUTE query;
    CLOSE checked;
    RETURN summa.request_version(name, query, coalesce(options, '{}'),
                                 coalesce(options->>'schema', current_schema()));
END
$fn$;

-- define's catalog half, as the catalog's owner: one request per new SELECT.
CREATE OR REPLACE FUNCTION summa.request_version(view text, query text, options jsonb, target_schema text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    known_schema text;
    newest record;
    number int;
BEGIN
    PERFORM summa.lock_view(view);
    IF to_regnamespace(quote_ident(target_schema)) IS NULL THEN
        RAISE EXCEPTION 'summa.define %: schema % does not exist', view, quote_ident(target_schema)
            USING ERRCODE = 'invalid_schema_name';
    END IF;
    SELECT w.schema_name INTO known_schema FROM summa.views w WHERE w.name = view;
    IF known_schema IS NULL THEN
        SELECT r.schema_name INTO known_schema FROM summa.requests r
         WHERE r.view_name = view AND r.state IN ('waiting', 'building') LIMIT 1;
    END IF;
    IF known_schema IS NOT NULL AND known_schema <> target_schema THEN
        RAISE EXCEPTION 'summa.define %: the view lives in schema %, not %', view,
            quote_ident(known_schema), quote_ident(target_schema)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give options {"schema": "' || known_schema || '"}, or define it under another name.';
    END IF;
    IF known_schema IS NULL AND to_regclass(format('%I.%I', target_schema, view)) IS NOT NULL THEN
        RAISE EXCEPTION 'summa.define %: %.% already exists and is not a summa view', view,
            quote_ident(target_schema), quote_ident(view)
            USING ERRCODE = 'duplicate_object',
                  HINT = 'summa serves each view through a view of that name: choose another name, or drop the existing relation first.';
    END IF;
    SELECT d.version, d.sql INTO newest FROM summa.definitions d WHERE d.view_name = view;
    IF FOUND AND summa.query_text(newest.sql) = query THEN
        RETURN newest.version;
    END IF;
    number := summa.next_version(view);
    INSERT INTO summa.requests (view_name, version, schema_name, sql, options, requested_by)
    VALUES (view, number, target_schema, query, options, summa.invoker());
    PERFORM pg_notify('summa_requests', view);
    RETURN number;
END
$fn$;

-- The version `version` (default: the newest) of `view`, locked; raises when there is none.
CREATE OR REPLACE FUNCTION summa.lock_version(view text, version int)
RETURNS summa.versions LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    found_row summa.versions;
BEGIN
    SELECT v.* INTO found_row FROM summa.versions v
     WHERE v.view_name = view AND v.version = coalesce($2,
           (SELECT max(x.version) FROM summa.versions x WHERE x.view_name = view))
       FOR UPDATE;
    IF NOT FOUND THEN
        IF $2 IS NOT NULL AND EXISTS (SELECT 1 FROM summa.requests r WHERE r.view_name = view
                                       AND r.version = $2 AND r.state IN ('waiting', 'building')) THEN
            RAISE EXCEPTION 'view %: v% is still being built (see summa.status)', view, $2
                USING ERRCODE = 'object_not_in_prerequisite_state';
        ELSIF $2 IS NOT NULL AND EXISTS (SELECT 1 FROM summa.views w WHERE w.name = view) THEN
            RAISE EXCEPTION 'view %: there is no version % of %', view, $2, view
                USING ERRCODE = 'undefined_object';
        END IF;
        RAISE EXCEPTION 'view %: there is no view named %', view, view USING ERRCODE = 'undefined_object';
    END IF;
    RETURN found_row;
END
$fn$;

-- promote's work: serve `version` (default: the newest) through the alias, refusing a version
-- that is not live or still more than {max_lag_bytes} bytes of WAL behind the position of the
-- moment it was asked after {catch_up_seconds} s (an idle stream acknowledges about once a
-- second, so the current position runs ahead of any stream on a busy server). The alias is
-- replaced in place when its columns allow it, else dropped and created again with its GRANTs.
CREATE OR REPLACE FUNCTION summa.promote_version(view text, version int,
    OUT promoted int, OUT previous int, OUT replaced_in_place boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    asked_at pg_lsn := pg_current_wal_lsn();
    started timestamptz := clock_timestamp();
    lag bigint;
    v summa.versions;
    alias text;
    grants text[];
    grant_sql text;
BEGIN
    LOOP
        SELECT (asked_at - greatest(s.applied_lsn, r.confirmed_flush_lsn))::bigint INTO lag
          FROM summa.versions x JOIN summa.streams s ON s.slot_name = x.slot_name
          LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name
         WHERE x.view_name = view AND x.state = 'live' AND x.version = coalesce($2,
               (SELECT max(y.version) FROM summa.versions y WHERE y.view_name = view));
        EXIT WHEN NOT FOUND OR lag <= {max_lag_bytes}
              OR clock_timestamp() > started + interval '{catch_up_seconds} seconds';
        PERFORM pg_sleep(0.1);
    END LOOP;
    v := summa.lock_version(view, $2);
    IF v.state <> 'live' THEN
        RAISE EXCEPTION 'view %: v% is %, not live: only a live version can serve (see summa status)',
            view, v.version, v.state USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT (asked_at - greatest(s.applied_lsn, r.confirmed_flush_lsn))::bigint INTO lag
      FROM summa.streams s LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name
     WHERE s.slot_name = v.slot_name;
    IF coalesce(lag, 9223372036854775807) > {max_lag_bytes} THEN
        RAISE EXCEPTION 'view %: v% is % bytes of WAL behind (more than {max_lag_bytes}); is `summa run` running?',
            view, v.version, coalesce(lag::text, 'an unknown number of')
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT format('%I.%I', w.schema_name, w.name), w.serving_version INTO alias, previous
      FROM summa.views w WHERE w.name = view FOR UPDATE;
    replaced_in_place := true;
    BEGIN
        EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', alias, v.serving_select);
    EXCEPTION WHEN invalid_table_definition THEN
        -- A column renamed, retyped or dropped: only a new view can have it.
        replaced_in_place := false;
    END;
    IF NOT replaced_in_place THEN
        SELECT array_agg(format('GRANT %s ON %s TO %s%s', a.privilege_type, alias,
                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                   CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
          INTO grants
          FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.oid = to_regclass(alias) AND a.grantee <> c.relowner;
        EXECUTE format('DROP VIEW IF EXISTS %s', alias);
        EXECUTE format('CREATE VIEW %s AS %s', alias, v.serving_select);
        FOREACH grant_sql IN ARRAY coalesce(grants, '{}') LOOP
            EXECUTE grant_sql;
        END LOOP;
    END IF;
    UPDATE summa.views SET serving_version = v.version WHERE name = view;
    promoted := v.version;
END
$fn$;

CREATE OR REPLACE FUNCTION summa.promote(name text, version int DEFAULT NULL) RETURNS int
LANGUAGE sql AS $fn$
    SELECT p.promoted FROM summa.promote_version($1, $2) p
$fn$;

-- The serving version cannot be retired (promote another one first). A version still
-- waiting to be built is withdrawn.
CREATE OR REPLACE FUNCTION summa.retire(name text, version int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v summa.versions;
BEGIN
    UPDATE summa.requests r SET state = 'refused', error = 'withdrawn by summa.retire', updated_at = now()
     WHERE r.view_name = $1 AND r.version = $2 AND r.state = 'waiting';
    IF FOUND THEN
        RETURN;
    END IF;
    v := summa.lock_version($1, $2);
    IF EXISTS (SELECT 1 FROM summa.views w WHERE w.name = $1 AND w.serving_version = $2) THEN
        RAISE EXCEPTION 'view %: v% serves the alias %; promote another version first', $1, $2, $1
            USING ERRCODE = 'object_in_use';
    END IF;
    IF v.state = 'retired' THEN
        RETURN;
    END IF;
    UPDATE summa.versions x SET state = 'retired', retired_at = now(), updated_at = now()
     WHERE x.view_name = $1 AND x.version = $2;
    UPDATE summa.streams s SET generation = s.generation + 1 WHERE s.slot_name = v.slot_name;
END
$fn$;

-- One version's tables and catalog row; its stream's sidecar reloads (the stream itself goes
-- once nothing uses it: summa.drop_unused_streams is the sidecar's, it may hold the slot).
CREATE OR REPLACE FUNCTION summa.remove_version(view text, version int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v summa.versions;
    object text;
BEGIN
    v := summa.lock_version(view, version);
    FOREACH object IN ARRAY coalesce(v.objects, '{}') LOOP
        EXECUTE 'DROP TABLE IF EXISTS ' || object;
    END LOOP;
    DELETE FROM summa.versions x WHERE x.view_name = view AND x.version = v.version;
    UPDATE summa.streams s SET generation = s.generation + 1 WHERE s.slot_name = v.slot_name;
END
$fn$;

-- Drop a view: its alias, every version's tables and catalog rows, and its requests (a later
-- define starts again at v1). False when there is no such view.
CREATE OR REPLACE FUNCTION summa.drop(name text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    target_schema text;
    number int;
    requested boolean;
BEGIN
    PERFORM summa.lock_view($1);
    DELETE FROM summa.requests r WHERE r.view_name = $1;
    requested := FOUND;
    SELECT w.schema_name INTO target_schema FROM summa.views w WHERE w.name = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RETURN requested;
    END IF;
    EXECUTE format('DROP VIEW IF EXISTS %I.%I', target_schema, $1);
    FOR number IN SELECT x.version FROM summa.versions x WHERE x.view_name = $1 ORDER BY 1 LOOP
        PERFORM summa.remove_version($1, number);
    END LOOP;
    DELETE FROM summa.views w WHERE w.name = $1;
    RETURN true;
END
$fn$;

-- Every version and every request not built yet: state, lag, backfill progress, the table to
-- query, the reason of a refusal or a break. Lag as in status.rs' module note.
CREATE OR REPLACE VIEW summa.status AS
SELECT v.view_name, v.version, v.state,
       format('%I.%I', v.table_schema, v.table_name) AS table_name,
       format('%I.%I', w.schema_name, w.name) AS alias,
       coalesce(w.serving_version = v.version, false) AS serving,
       s.applied_lsn,
       CASE WHEN l.caught_up THEN 0 ELSE l.behind END AS lag_bytes,
       CASE WHEN l.caught_up THEN 0
            ELSE greatest(extract(epoch FROM now() - greatest(s.applied_commit_time, s.caught_up_at, s.created_at))::float8, 0)
       END AS lag_seconds,
       (SELECT p.progress FROM summa.backfill_progress p
         WHERE p.view_name = v.view_name AND p.version = v.version) AS progress,
       (SELECT nullif(greatest(c.reltuples, -1), -1)::bigint FROM pg_class c
         WHERE c.oid = to_regclass(format('%I.%I', v.table_schema, v.table_name))) AS rows,
       (SELECT sum(pg_total_relation_size(to_regclass(t)))::bigint FROM unnest(v.objects) t) AS size_bytes,
       v.error,
       r.requested_by,
       coalesce(r.requested_at, v.created_at) AS requested_at
  FROM summa.versions v JOIN summa.views w ON w.name = v.view_name
  LEFT JOIN summa.requests r ON r.view_name = v.view_name AND r.version = v.version AND r.state <> 'refused'
  LEFT JOIN summa.streams s ON s.slot_name = v.slot_name
  LEFT JOIN pg_replication_slots rs ON rs.slot_name = s.slot_name
  LEFT JOIN LATERAL (
       SELECT b.behind, b.behind = 0 OR (coalesce(rs.active, false)
              AND s.caught_up_at >= s.applied_at AND s.caught_up_at > now() - interval '{fresh}') AS caught_up
         FROM (SELECT greatest(pg_current_wal_lsn() - greatest(s.applied_lsn, rs.confirmed_flush_lsn), 0)::bigint AS behind) b
  ) l ON s.slot_name IS NOT NULL
UNION ALL
SELECT r.view_name, r.version,
       CASE WHEN r.state = 'refused' THEN 'refused'
            WHEN r.state = 'building' THEN 'planning'
            WHEN EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted
                          AND k.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
                          AND k.classid = {lease_high} AND k.objid = {lease_low} AND k.objsubid = 1)
                 THEN 'queued'
            ELSE 'waiting for a sidecar' END,
       NULL, format('%I.%I', r.schema_name, r.view_name), false, NULL, NULL, NULL, NULL, NULL, NULL,
       r.error, r.requested_by, r.requested_at
  FROM summa.requests r
 WHERE NOT EXISTS (SELECT 1 FROM summa.versions v WHERE v.view_name = r.view_name AND v.version = r.version)
   AND (r.state IN ('waiting', 'building')
        -- The newest refusal of a view, while no version is newer.
        OR (r.state = 'refused' AND r.id = (SELECT max(x.id) FROM summa.requests x WHERE x.view_name = r.view_name)
            AND NOT EXISTS (SELECT 1 FROM summa.versions v WHERE v.view_name = r.view_name AND v.version > r.version)));

-- Wait until `version` of `view` is live (true) or `timeout` passed (false); raises when it
-- was refused, broke or is gone. Call it after the transaction that defined it committed.
CREATE OR REPLACE FUNCTION summa.wait_live(name text, version int, timeout interval DEFAULT '10 minutes')
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout;
    v record;
    r record;
BEGIN
    LOOP
        SELECT x.state, x.error INTO v FROM summa.versions x WHERE x.view_name = $1 AND x.version = $2;
        IF FOUND THEN
            IF v.state = 'live' THEN
                RETURN true;
            ELSIF v.state NOT IN ('backfilling', 'catching_up') THEN
                RAISE EXCEPTION 'summa.wait_live: % v% is %', $1, $2,
                    v.state || coalesce(': ' || v.error, '') USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
        ELSE
            SELECT x.state, x.error, x.xmin::text::bigint = txid_current_if_assigned() % 4294967296 AS mine
              INTO r FROM summa.requests x WHERE x.view_name = $1 AND x.version = $2
             ORDER BY x.id DESC LIMIT 1;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'summa.wait_live: there is no version % of %', $2, $1
                    USING ERRCODE = 'undefined_object';
            ELSIF r.state = 'refused' THEN
                RAISE EXCEPTION 'summa.wait_live: % v% was refused: %', $1, $2, r.error
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            ELSIF r.mine THEN
                RAISE EXCEPTION 'summa.wait_live: % v% was defined in this transaction; a sidecar sees it once it commits', $1, $2
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Wait in a later transaction (a separate migration step).';
            END IF;
        END IF;
        IF clock_timestamp() >= deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.2);
    END LOOP;
END
$fn$;

REVOKE EXECUTE ON FUNCTION summa.request_version(text, text, jsonb, text),
    summa.lock_version(text, int), summa.promote_version(text, int),
    summa.retire(text, int), summa.remove_version(text, int), summa.drop(text),
    summa.wait_live(text, int, interval) FROM PUBLIC;
