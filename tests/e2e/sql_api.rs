//! The SQL API a migration calls: `summa.define` records a request in the caller's
//! transaction (rolled back with it), a sidecar builds it, `wait_live`, `promote` (and back),
//! `retire`, `drop`, `summa.status`; bad input raises at once or shows in the status; the
//! requester's privileges bound what it may summarize; a sidecar killed mid-build builds the
//! version exactly once after its restart.

use std::time::Duration;

use tokio_postgres::Client;

use crate::harness::{texts, TestDb};
use crate::items;

const V1: &str = "SELECT grp, count(*), sum(val) FROM items GROUP BY grp";
const V2: &str = "SELECT grp, count(*), sum(val), max(qty) FROM items GROUP BY grp";

/// A database with `items` and a role `<db>_mig` that runs migrations: it reads `items` and
/// has the grants `summa setup --print --migrators` prints. The catalog is installed (as a
/// sidecar's first start does).
async fn with_migrator(tag: &str) -> (TestDb, String) {
    let db = TestDb::new(tag).await;
    let client = db.client().await;
    client.batch_execute(items::SCHEMA).await.unwrap();
    client
        .batch_execute("INSERT INTO items (grp, val, qty) SELECT g % 5, g, g % 3 FROM generate_series(1, 300) g")
        .await
        .unwrap();
    summa_catalog::install(&client).await.unwrap();
    let role = format!("{}_mig", db.name);
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT SELECT ON items TO {role}; {}",
            summa_cli_grants(&role)
        ))
        .await
        .unwrap();
    (db, role)
}

fn summa_cli_grants(role: &str) -> String {
    format!(
        "GRANT USAGE ON SCHEMA summa TO {role}; GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA summa TO {role}; \
         GRANT SELECT ON summa.status TO {role};"
    )
}

async fn define(client: &Client, name: &str, sql: &str) -> Result<i32, String> {
    client
        .query_one("SELECT summa.define($1, $2)", &[&name, &sql])
        .await
        .map(|r| r.get(0))
        .map_err(|e| summa_catalog::db_message(&e))
}

async fn wait_live(client: &Client, name: &str, version: i32) -> Result<bool, String> {
    client
        .query_one(
            "SELECT summa.wait_live($1, $2, '60 seconds')",
            &[&name, &version],
        )
        .await
        .map(|r| r.get(0))
        .map_err(|e| summa_catalog::db_message(&e))
}

/// `summa.status` rows of `name` as `vN state error`.
async fn status(client: &Client, name: &str) -> Vec<String> {
    client
        .query(
            "SELECT format('v%s %s %s', version, state, coalesce(error, '')) FROM summa.status \
             WHERE view_name = $1 ORDER BY version",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Poll `summa.status` until `name` vN shows `state` (up to 30 s); returns the row.
async fn wait_status(client: &Client, name: &str, version: i32, state: &str) -> String {
    let want = format!("v{version} {state}");
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen = status(client, name).await;
        if let Some(row) = seen.iter().find(|r| r.starts_with(&want)) {
            return row.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} v{version} never showed {state:?} in summa.status: {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_defines_promotes_and_rolls_back_through_sql() {
    let (db, role) = with_migrator("api_flow").await;
    let mig = db.as_role(&role).client().await;
    let _sidecar = db.sidecar();

    // Rolled back with the migration: nothing is requested.
    mig.batch_execute("BEGIN").await.unwrap();
    assert_eq!(define(&mig, "sales", V1).await, Ok(1));
    mig.batch_execute("ROLLBACK").await.unwrap();
    assert!(status(&mig, "sales").await.is_empty());

    // Committed: built by the sidecar; the same SQL again is the same version.
    assert_eq!(define(&mig, "sales", V1).await, Ok(1));
    assert_eq!(define(&mig, "sales", &format!("  {V1} ;\n")).await, Ok(1));
    assert_eq!(wait_live(&mig, "sales", 1).await, Ok(true));
    let owner = db.client().await;
    owner
        .batch_execute("INSERT INTO items (grp, val, qty) VALUES (1, 5, 7), (9, 1, 1)")
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("sales", V1).await;
    // The requester reads through the alias and the versioned name.
    assert!(!texts(&mig, "SELECT grp::text FROM sales").await.is_empty());
    assert!(!texts(&mig, "SELECT grp::text FROM sales__v1")
        .await
        .is_empty());
    let requested: Vec<String> = texts(
        &owner,
        "SELECT requested_by::text FROM summa.status WHERE view_name = 'sales'",
    )
    .await;
    assert_eq!(requested, vec![role.clone()]);

    // v2 beside v1; the alias moves with promote, and back (a downgrade) while v1 is kept.
    assert_eq!(define(&mig, "sales", V2).await, Ok(2));
    assert_eq!(wait_live(&mig, "sales", 2).await, Ok(true));
    let promoted: i32 = mig
        .query_one("SELECT summa.promote('sales', 2)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(promoted, 2);
    db.assert_equal("sales", V2).await;
    assert!(
        !texts(&mig, "SELECT max::text FROM sales WHERE max IS NOT NULL")
            .await
            .is_empty()
    );
    // A downgrade: v1 serves again at once (its columns differ: the alias is re-created).
    mig.query_one("SELECT summa.promote('sales', 1)", &[])
        .await
        .unwrap();
    db.assert_equal("sales", V1).await;
    let err = mig
        .execute("SELECT summa.retire('sales', 1)", &[])
        .await
        .unwrap_err();
    assert!(
        summa_catalog::db_message(&err).contains("serves the alias"),
        "{err}"
    );
    mig.execute("SELECT summa.retire('sales', 2)", &[])
        .await
        .unwrap();
    assert!(status(&mig, "sales").await[1].starts_with("v2 retired"));
    // summa status shows what the view shows.
    let (ok, out, err) = db.summa(&["status", "sales"]);
    assert!(
        ok && out.contains("sales__v1") && out.contains("retired"),
        "{out}\n{err}"
    );

    // Drop: the alias and every table go; a later define starts again at v1.
    let dropped: bool = mig
        .query_one("SELECT summa.drop('sales')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(dropped);
    assert!(texts(
        &owner,
        "SELECT relname::text FROM pg_class WHERE relname LIKE 'sales%'"
    )
    .await
    .is_empty());
    assert_eq!(define(&mig, "sales", V1).await, Ok(1));
    assert_eq!(wait_live(&mig, "sales", 1).await, Ok(true));
    db.assert_equal("sales", V1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_definitions_are_refused_at_once_or_in_the_status() {
    let (db, role) = with_migrator("api_bad").await;
    let mig = db.as_role(&role).client().await;
    let owner = db.client().await;
    owner
        .batch_execute("CREATE TABLE taken (x int)")
        .await
        .unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "bad sql",
            "v",
            "SELEC grp FROM items",
            "syntax error at or near \"SELEC\"",
        ),
        (
            "unknown column",
            "v",
            "SELECT nosuch FROM items",
            "column \"nosuch\" does not exist",
        ),
        (
            "two statements",
            "v",
            "SELECT 1; DROP TABLE items",
            "multi-query",
        ),
        (
            "not a query",
            "v",
            "DELETE FROM items",
            "cannot open DELETE query",
        ),
        ("upper case name", "Sales", V1, "is not a valid view name"),
        (
            "name over 63 bytes",
            &"n".repeat(64),
            V1,
            "is not a valid view name",
        ),
        (
            "not a summa view",
            "taken",
            V1,
            "already exists and is not a summa view",
        ),
    ];
    for (what, name, sql, expected) in cases {
        let err = define(&mig, name, sql).await.unwrap_err();
        assert!(err.contains(expected), "{what}: {err}");
    }
    let err = mig
        .query_one(
            "SELECT summa.define('v', $1, '{\"shcema\": \"x\"}')",
            &[&V1],
        )
        .await
        .unwrap_err();
    assert!(
        summa_catalog::db_message(&err).contains("unknown option shcema"),
        "{err}"
    );
    // Nothing was half-created.
    assert!(texts(&owner, "SELECT view_name FROM summa.requests")
        .await
        .is_empty());

    // No sidecar yet: the status says so; promote refuses what is not built.
    assert_eq!(define(&mig, "v", V1).await, Ok(1));
    wait_status(&mig, "v", 1, "waiting for a sidecar").await;
    let err = mig
        .query_one("SELECT summa.promote('v', 1)", &[])
        .await
        .unwrap_err();
    assert!(
        summa_catalog::db_message(&err).contains("still being built"),
        "{err}"
    );
    // What the planner refuses shows in the status, with `summa create`'s message.
    let window = "SELECT grp, rank() OVER (ORDER BY grp) FROM items";
    assert_eq!(define(&mig, "w", window).await, Ok(1));
    let (_, _, create_err) = db.summa(&["create", "w2", "--sql", window]);
    let _sidecar = db.sidecar();
    assert_eq!(wait_live(&mig, "v", 1).await, Ok(true));
    let refused = wait_status(&mig, "w", 1, "refused").await;
    let planner_line = create_err
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("summa create printed no error: {create_err}"))
        .trim_start_matches("error: ")
        .to_string();
    assert!(
        refused.contains(planner_line.trim()),
        "status {refused:?} lacks the create message {planner_line:?}"
    );
    let err = wait_live(&mig, "w", 1).await.unwrap_err();
    assert!(err.contains("was refused"), "{err}");
    // A refused definition may be defined again (fixed): it takes the number again.
    assert_eq!(
        define(&mig, "w", "SELECT grp, count(*) FROM items GROUP BY grp").await,
        Ok(1)
    );
    assert_eq!(wait_live(&mig, "w", 1).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_summarizes_only_what_it_can_read() {
    let (db, role) = with_migrator("api_priv").await;
    let owner = db.client().await;
    owner
        .batch_execute(
            "CREATE TABLE secret (id int PRIMARY KEY, grp int, pay int); \
             INSERT INTO secret SELECT g, g % 3, g FROM generate_series(1, 50) g",
        )
        .await
        .unwrap();
    let mig = db.as_role(&role).client().await;
    let secret = "SELECT grp, sum(pay) FROM secret GROUP BY grp";
    let err = define(&mig, "leak", secret).await.unwrap_err();
    assert!(err.contains("permission denied for table secret"), "{err}");
    // Readable at define, revoked before a sidecar builds it: refused by the sidecar.
    owner
        .batch_execute(&format!("GRANT SELECT ON secret TO {role}"))
        .await
        .unwrap();
    assert_eq!(define(&mig, "leak", secret).await, Ok(1));
    owner
        .batch_execute(&format!("REVOKE SELECT ON secret FROM {role}"))
        .await
        .unwrap();
    let _sidecar = db.sidecar();
    let refused = wait_status(&mig, "leak", 1, "refused").await;
    assert!(
        refused.contains(&format!(
            "role {role}, which asked for this version, cannot SELECT"
        )),
        "{refused}"
    );
    assert!(texts(
        &owner,
        "SELECT relname::text FROM pg_class WHERE relname LIKE 'leak%'"
    )
    .await
    .is_empty());
    // Without the API's grants a role cannot define at all.
    let other = format!("{}_other", db.name);
    owner
        .batch_execute(&format!(
            "CREATE ROLE {other} LOGIN; GRANT SELECT ON items TO {other}; GRANT USAGE ON SCHEMA summa TO {other}"
        ))
        .await
        .unwrap();
    let err = define(&db.as_role(&other).client().await, "x", V1)
        .await
        .unwrap_err();
    assert!(err.contains("permission denied for function"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sidecar_killed_mid_build_builds_the_version_once_after_restart() {
    let (db, role) = with_migrator("api_crash").await;
    let owner = db.client().await;
    owner
        .batch_execute(
            "INSERT INTO items (grp, val, qty) SELECT g % 5, g, g FROM generate_series(1, 20000) g",
        )
        .await
        .unwrap();
    let mig = db.as_role(&role).client().await;
    assert_eq!(define(&mig, "big", V1).await, Ok(1));
    let mut crashing = db.sidecar_with(
        "statement_budget_ms = 30000\n",
        &[("SUMMA_FAILPOINTS", "catalog.backfill.chunk=1")],
    );
    assert!(
        crashing.exits_within(Duration::from_secs(60)).await,
        "the sidecar did not crash at the failpoint:\n{}",
        crashing.log_text()
    );
    let _sidecar = db.sidecar();
    assert_eq!(wait_live(&mig, "big", 1).await, Ok(true));
    db.assert_equal("big", V1).await;
    let built: Vec<String> = texts(
        &owner,
        "SELECT format('%s v%s %s', view_name, version, state) FROM summa.requests",
    )
    .await;
    assert_eq!(built, vec!["big v1 done".to_string()]);
    assert_eq!(
        texts(
            &owner,
            "SELECT version::text FROM summa.versions WHERE view_name = 'big'"
        )
        .await,
        vec!["1".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_apply_a_directory_of_view_files() {
    let (db, _) = with_migrator("api_dir").await;
    let dir = std::env::temp_dir().join(format!("summa-views-{}", db.name));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("by_grp.sql"), format!("{V1};\n")).unwrap();
    std::fs::write(
        dir.join("by_qty.sql"),
        "SELECT qty, count(*) FROM items GROUP BY qty",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let _sidecar = db.sidecar();
    let code = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_summa"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, out, err) = code(&["plan", d]);
    assert_eq!(status, Some(2), "{out}\n{err}");
    assert!(
        out.contains("by_grp") && out.contains("new: v1 will be built"),
        "{out}"
    );
    let (status, out, err) = code(&["apply", d, "--wait"]);
    assert_eq!(status, Some(0), "{out}\n{err}");
    assert!(out.contains("by_qty v1 is live"), "{out}");
    db.assert_equal("by_grp", V1).await;
    // Nothing changed: exit 0, and apply again defines nothing.
    let (status, out, _) = code(&["plan", d]);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("unchanged (v1)"), "{out}");
    let (status, out, err) = code(&["apply", d]);
    assert_eq!(status, Some(0), "{out}\n{err}");
    assert!(out.contains("by_grp: unchanged (v1)"), "{out}");
    // One file changed, one removed: the plan says so in Markdown and JSON.
    std::fs::write(dir.join("by_grp.sql"), V2).unwrap();
    std::fs::remove_file(dir.join("by_qty.sql")).unwrap();
    let (status, md, _) = code(&["plan", d, "--format", "markdown"]);
    assert_eq!(status, Some(2), "{md}");
    assert!(
        md.contains("| `by_grp` | changed: v2 will be built beside v1 |"),
        "{md}"
    );
    assert!(
        md.contains("| `by_qty` | removed from the directory"),
        "{md}"
    );
    let (_, json, _) = code(&["plan", d, "--format", "json"]);
    assert!(
        json.contains("\"action\": \"changed\"") && json.contains("\"new_version\": 2"),
        "{json}"
    );
    let (status, out, err) = code(&["apply", d, "--promote"]);
    assert_eq!(status, Some(0), "{out}\n{err}");
    assert!(out.contains("by_grp now serves v2"), "{out}");
    db.assert_equal("by_grp", V2).await;
    // A file name that is not a view name: an error naming it, nothing defined.
    std::fs::write(dir.join("By-Grp.sql"), V1).unwrap();
    let (status, _, err) = code(&["apply", d]);
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains("By-Grp.sql"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
