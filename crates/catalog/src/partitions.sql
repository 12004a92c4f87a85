-- Partitioned sources: the commands that change a partitioned table's rows without any row
-- change in the WAL, reported at their position in the stream. Installed with the catalog
-- (schema.rs); the sidecar's side is crates/apply/src/session/partitions.rs.
--
-- Design note. A partitioned source is published via its root, so its rows' INSERT, UPDATE
-- and DELETE (a row moving between partitions is a DELETE and an INSERT) arrive under its own
-- name, and a partition created later is published without any action. Four commands change
-- its rows without a row change: ATTACH PARTITION of a filled table, DETACH and DROP of a
-- filled partition, TRUNCATE of one partition (pgoutput sends no TRUNCATE of a partition when
-- publishing via the root). An event trigger (every DDL command; it returns at once when no
-- partitioned source is watched) compares each watched root's leaf partitions with the set
-- summa last saw; for a leaf that came or went with rows, and for every TRUNCATE of a leaf (a
-- statement trigger summa puts on each one), it emits a transactional logical message in the
-- command's own transaction: the message is decoded exactly where the command committed, and
-- the versions reading the root break there. The emptiness checks are exact: ATTACH and
-- DETACH hold ACCESS EXCLUSIVE on the partition until commit. A dropped partition cannot be
-- read any more and always counts as filled (delete its rows, detach it, then drop it).
-- Creating a partition, or attaching an empty one, changes no row: it is recorded, given the
-- TRUNCATE trigger (and REPLICA IDENTITY FULL when a view needs the old values of columns
-- beyond the primary key), and nothing is emitted.
--
-- CREATE EVENT TRIGGER needs a superuser: a catalog installed by another role has no trigger,
-- and `summa create` refuses partitioned sources there, naming the statement a superuser runs.

CREATE TABLE IF NOT EXISTS summa.partitioned_sources (
    root oid PRIMARY KEY,
    -- The leaf partitions (plain tables) as last seen, sorted.
    leaves oid[] NOT NULL,
    -- New leaves get REPLICA IDENTITY FULL.
    full_identity boolean NOT NULL DEFAULT false
);

CREATE OR REPLACE FUNCTION summa.partition_leaves(root oid) RETURNS oid[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT coalesce(array_agg(t.relid::oid ORDER BY t.relid::oid), '{}')
    FROM pg_partition_tree(root::regclass) t JOIN pg_class c ON c.oid = t.relid
    WHERE t.isleaf AND c.relkind = 'r'
$fn$;

CREATE OR REPLACE FUNCTION summa.partition_event(root oid, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    PERFORM pg_logical_emit_message(true, 'summa.partitions', root::text || E'\n' || what);
END $fn$;

CREATE OR REPLACE FUNCTION summa.partition_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    r oid;
BEGIN
    FOR r IN SELECT s.root FROM summa.partitioned_sources s
             WHERE s.root IN (SELECT relid FROM pg_partition_ancestors(TG_RELID)) LOOP
        PERFORM summa.partition_event(r, format('partition %I.%I was truncated',
                                                 TG_TABLE_SCHEMA, TG_TABLE_NAME));
    END LOOP;
    RETURN NULL;
END $fn$;

-- A new leaf of a watched root: the TRUNCATE trigger, and the identity the views need.
CREATE OR REPLACE FUNCTION summa.watch_leaf(leaf oid, full_identity boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    -- The identity first: the trigger's own CREATE TRIGGER fires the event trigger again.
    IF full_identity AND (SELECT relreplident FROM pg_class WHERE oid = leaf) <> 'f' THEN
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', leaf::regclass);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = leaf AND tgname = 'summa_truncated') THEN
        EXECUTE format('CREATE TRIGGER summa_truncated AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION summa.partition_truncated()',
                       leaf::regclass);
    END IF;
END $fn$;

-- `summa create`, before the version's snapshot: watch `root` from now on.
CREATE OR REPLACE FUNCTION summa.watch_root(root oid, full_identity boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    leaf oid;
    leaves oid[] := summa.partition_leaves(root);
BEGIN
    INSERT INTO summa.partitioned_sources AS s (root, leaves, full_identity)
    VALUES (root, leaves, full_identity)
    ON CONFLICT ON CONSTRAINT partitioned_sources_pkey DO UPDATE
        SET leaves = EXCLUDED.leaves, full_identity = s.full_identity OR EXCLUDED.full_identity;
    FOREACH leaf IN ARRAY leaves LOOP
        PERFORM summa.watch_leaf(leaf, full_identity);
    END LOOP;
END $fn$;

CREATE OR REPLACE FUNCTION summa.watch_partitions() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    s record;
    now_leaves oid[];
    leaf oid;
    filled boolean;
    what text[];
BEGIN
    FOR s IN SELECT * FROM summa.partitioned_sources ORDER BY root LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = s.root) THEN
            DELETE FROM summa.partitioned_sources WHERE root = s.root;
            CONTINUE;
        END IF;
        -- pgoutput flags a partition's old tuple by the root's identity, not the partition's:
        -- where the views need old values beyond the key, every partition must log them, and
        -- one that stops doing so is reported like a row change outside the WAL.
        IF s.full_identity THEN
            SELECT array_agg(format('partition %s no longer has REPLICA IDENTITY FULL',
                                    c.oid::regclass) ORDER BY c.oid)
              INTO what FROM pg_class c WHERE c.oid = ANY (s.leaves) AND c.relreplident <> 'f';
            IF what IS NOT NULL THEN
                PERFORM summa.partition_event(s.root, array_to_string(what, '; '));
            END IF;
        END IF;
        CONTINUE WHEN summa.partition_leaves(s.root) = s.leaves;
        -- Changed: lock the row (a concurrent command on the same tree waits here and then
        -- compares with what this one recorded) and compare again.
        SELECT * INTO s FROM summa.partitioned_sources p WHERE p.root = s.root FOR UPDATE;
        now_leaves := summa.partition_leaves(s.root);
        CONTINUE WHEN now_leaves = s.leaves;
        -- Recorded first: the commands below fire this trigger again, which then has nothing
        -- to do.
        UPDATE summa.partitioned_sources SET leaves = now_leaves WHERE root = s.root;
        what := '{}';
        FOR leaf IN SELECT unnest(now_leaves) EXCEPT SELECT unnest(s.leaves) LOOP
            PERFORM summa.watch_leaf(leaf, s.full_identity);
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s)', leaf::regclass) INTO filled;
            IF filled THEN
                what := what || format('partition %s was attached with rows', leaf::regclass);
            END IF;
        END LOOP;
        FOR leaf IN SELECT unnest(s.leaves) EXCEPT SELECT unnest(now_leaves) LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = leaf) THEN
                what := what || format('a partition (OID %s) was dropped', leaf);
                CONTINUE;
            END IF;
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s)', leaf::regclass) INTO filled;
            IF filled THEN
                what := what || format('partition %s was detached with rows', leaf::regclass);
            END IF;
        END LOOP;
        IF cardinality(what) > 0 THEN
            PERFORM summa.partition_event(s.root, array_to_string(what, '; '));
        END IF;
    END LOOP;
END $fn$;

REVOKE EXECUTE ON FUNCTION summa.watch_root(oid, boolean), summa.watch_leaf(oid, boolean),
    summa.partition_event(oid, text) FROM PUBLIC;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'summa_watch_partitions')
       AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        CREATE EVENT TRIGGER summa_watch_partitions ON ddl_command_end
            EXECUTE FUNCTION summa.watch_partitions();
    END IF;
END $$;
