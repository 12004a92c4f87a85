//! The bulk backfill (`summa_catalog::backfill`): a version loaded in several ranges of the
//! source and combined in several slices of its groups equals its SELECT, has its indexes
//! (the applier's upserts need them), and is maintained from there; a small source is loaded
//! in one statement; a global aggregate is loaded by the merge.

use crate::harness::{seed, texts, Rng, TestDb};

/// Values in tiny domains, so groups and (group, value) pairs repeat across ranges.
const VIEWS: [(&str, &str); 6] = [
    (
        "bf_values",
        "SELECT g, d, count(*), sum(v), avg(v), min(v), max(s), count(DISTINCT v) AS nd, \
         sum(DISTINCT k) AS sk FROM t GROUP BY g, d",
    ),
    (
        "bf_expr",
        "SELECT g % 7 AS g7, date_trunc('month', d) AS m, count(v), sum(k) FROM t \
         WHERE s <> 'c' GROUP BY 1, 2 HAVING count(*) > 2",
    ),
    (
        "bf_join",
        "SELECT dim.name, count(*), sum(t.v), max(t.k) FROM t JOIN dim ON dim.id = t.g \
         GROUP BY dim.name",
    ),
    (
        "bf_global",
        "SELECT count(*), sum(v), min(k), max(k) FROM t",
    ),
    // Equal keys with different text (5, 5.0, 5.00): one group, in one combine slice.
    (
        "bf_scale",
        "SELECT round(k::numeric, id % 3) AS r, count(*), min(v) FROM t GROUP BY 1",
    ),
    (
        "bf_small",
        "SELECT name, count(*), min(id), count(DISTINCT id % 7) AS d7 FROM dim GROUP BY name",
    ),
];

/// `key=N` of the debug line `summa create` logs when a bulk load is done.
fn logged(stderr: &str, view: &str, key: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("bulk load done") && l.contains(view))?;
    let at = line.find(&format!("{key}="))? + key.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_load_in_ranges_and_slices_equals_its_select_and_is_maintained() {
    let db = TestDb::new("bulk").await;
    let client = db.client().await;
    let s = seed("bulk");
    let mut rng = Rng::new(s);
    let offset = rng.below(1000) as i32;
    // 150k rows (~1.1k heap blocks): more than one statement loads at a 1.5 s budget, and more
    // than the first range of 1,024 blocks.
    client
        .batch_execute(&format!(
            "CREATE TABLE dim (id int PRIMARY KEY, name text);
             INSERT INTO dim SELECT i, 'n' || (i % 13) FROM generate_series(0, 199) i;
             ALTER TABLE dim REPLICA IDENTITY FULL;
             CREATE TABLE t (id serial PRIMARY KEY, g int, d date, s text, v numeric(10,2), k int);
             ALTER TABLE t REPLICA IDENTITY FULL;
             INSERT INTO t (g, d, s, v, k)
             SELECT (i * 7 + {offset}) % 200, date '2026-01-01' + (i % 90), chr(97 + i % 5),
                    ((i * 31 + {offset}) % 4000) / 4.0, i % 977
             FROM generate_series(1, 150000) i;
             ANALYZE t;"
        ))
        .await
        .unwrap();
    // A 1.5 s budget: a half-second aim per range, and 50k partial rows per combine slice.
    let config = db.config_file("statement_budget_ms = 1500\n");
    let config = config.to_str().unwrap();
    for (name, sql) in VIEWS {
        let (ok, out, err) = db.summa_with_env(
            &["--config", config, "create", name, "--sql", sql],
            &[("RUST_LOG", "summa_catalog=debug")],
        );
        assert!(ok, "summa create {name} failed:\n{out}\n{err}");
        let label = format!("{name} v1");
        if name == "bf_small" {
            assert_eq!(
                logged(&err, &label, "ranges"),
                Some(0),
                "a small source is loaded in one statement:\n{err}"
            );
        } else if name == "bf_global" {
            assert!(
                logged(&err, &label, "ranges").is_none(),
                "a global aggregate is merged, not bulk loaded:\n{err}"
            );
        } else {
            let ranges = logged(&err, &label, "ranges").unwrap_or(0);
            assert!(ranges >= 2, "{name}: loaded in {ranges} range(s):\n{err}");
        }
        if name == "bf_values" || name == "bf_scale" {
            let slices = logged(&err, &label, "slices").unwrap_or(0);
            assert!(slices >= 2, "{name}: combined in {slices} slice(s):\n{err}");
        }
        db.assert_equal(name, sql).await;
    }
    // Every state table got its indexes after the load.
    let unindexed = texts(
        &client,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'bf\\_%' \
         AND c.relname NOT LIKE '%\\_\\_pending' AND c.relname NOT LIKE 'bf\\_global%' \
         AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique)",
    )
    .await;
    assert!(unindexed.is_empty(), "no unique index on {unindexed:?}");

    // Maintained from the loaded state: the upserts find their indexes, the values their rows.
    let _sidecar = db.sidecar();
    client
        .batch_execute(
            "UPDATE t SET v = v + 1, g = (g + 1) % 200 WHERE id % 5 = 0;
             DELETE FROM t WHERE id % 7 = 0;
             UPDATE dim SET name = 'renamed' WHERE id = 3;
             INSERT INTO t (g, d, s, v, k) SELECT i % 200, date '2026-03-01', 'z', i, i FROM generate_series(1, 500) i;",
        )
        .await
        .unwrap();
    db.wait_applied().await;
    for (name, sql) in VIEWS {
        db.assert_equal(name, sql).await;
    }
}
