//! The Alembic and Django examples (examples/alembic, examples/django), run for real against a
//! fresh database with a sidecar: the migrations define region_sales v1 and v2 through the SQL
//! API, the ORM writes orders and reads the summary, a later migration promotes v2, and its
//! downgrade serves v1 again at once.
//!
//! Python comes from a virtual environment under the target directory, created once for the
//! examples' requirements.txt files (pinned) and the python3 version, and kept: a second run
//! skips pip. These tests need python3 with venv, and PyPI for the first run; without them
//! they fail, never skip.
//!
//! The migrations run as the test cluster's superuser `postgres`, the only role it has; a
//! deployment runs them as a migrating role with the grants `summa setup --print --migrators`
//! prints (tests/e2e/sql_api.rs checks those).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{texts, TestDb};

const V1: &str =
    "SELECT region, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY region";
const V2: &str = "SELECT region, count(*) AS orders, sum(amount) AS total, \
                  max(amount) AS largest FROM orders GROUP BY region";
const V1_COLUMNS: &[&str] = &["region", "orders", "total"];
const V2_COLUMNS: &[&str] = &["region", "orders", "total", "largest"];

/// What differs between the two examples: the commands of each step.
struct Example {
    dir: &'static str,
    /// Migrate to 0003: v1 and v2 requested, v1 serves.
    to_0003: &'static [&'static str],
    /// Migrate to the newest migration (0004 promotes v2).
    to_head: &'static [&'static str],
    /// Back one step, to 0003 (0004's downgrade promotes v1).
    back_to_0003: &'static [&'static str],
    /// Check the models agree with the migrations (the database at head).
    check_models: &'static [&'static str],
    /// Insert N orders (N appended), update and delete some of them, through the ORM.
    write: &'static [&'static str],
    /// Print the summary through the ORM, as JSON.
    read: &'static [&'static str],
    /// The migration the database is at, as SQL.
    current_sql: &'static str,
    /// It at 0003.
    at_0003: &'static str,
}

const ALEMBIC: Example = Example {
    dir: "alembic",
    to_0003: &["-m", "alembic", "upgrade", "0003"],
    to_head: &["-m", "alembic", "upgrade", "head"],
    back_to_0003: &["-m", "alembic", "downgrade", "-1"],
    check_models: &["-m", "alembic", "check"],
    write: &["app.py", "write"],
    read: &["app.py", "read"],
    current_sql: "SELECT version_num::text FROM alembic_version",
    at_0003: "0003",
};

const DJANGO: Example = Example {
    dir: "django",
    to_0003: &["manage.py", "migrate", "sales", "0003"],
    to_head: &["manage.py", "migrate", "sales"],
    back_to_0003: &["manage.py", "migrate", "sales", "0003"],
    check_models: &[
        "manage.py",
        "makemigrations",
        "--check",
        "--dry-run",
        "sales",
    ],
    write: &["manage.py", "write_orders"],
    read: &["manage.py", "read_summary"],
    current_sql: "SELECT max(name)::text FROM django_migrations WHERE app = 'sales'",
    at_0003: "0003_region_sales_v2",
};

#[tokio::test(flavor = "multi_thread")]
async fn the_alembic_example_defines_promotes_and_downgrades() {
    run_example(&ALEMBIC).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_django_example_defines_promotes_and_downgrades() {
    run_example(&DJANGO).await;
}

async fn run_example(ex: &Example) {
    let python = python();
    let db = TestDb::new(&format!("ex_{}", ex.dir)).await;
    let _sidecar = db.sidecar();
    let client = db.client().await;
    wait_for_catalog(&client).await;
    let py = |args: &[&str]| run_python(python, ex.dir, &db.url, args);

    let started = Instant::now();
    py(ex.to_0003);
    for version in [1, 2] {
        let live: bool = client
            .query_one(
                "SELECT summa.wait_live('region_sales', $1, '60 seconds')",
                &[&version],
            )
            .await
            .unwrap_or_else(|e| panic!("wait_live v{version}: {e}"))
            .get(0);
        assert!(live, "region_sales v{version} was not live within 60 s");
    }
    assert_eq!(serving(&db).await, 1, "0003 only defines v2");

    py(&[ex.write, &["100"][..]].concat());
    db.wait_applied().await;
    db.assert_equal("region_sales", V1).await;
    assert_orm_reads(&db, &py(ex.read), V1_COLUMNS).await;

    // 0004 promotes v2: the ORM reads the new column through the same alias.
    py(ex.to_head);
    assert_eq!(serving(&db).await, 2);
    db.assert_equal("region_sales", V2).await;
    assert_orm_reads(&db, &py(ex.read), V2_COLUMNS).await;
    py(ex.check_models);
    py(&[ex.write, &["50"][..]].concat());
    db.wait_applied().await;
    db.assert_equal("region_sales", V2).await;

    // Downgrade one step: v1 was kept fresh beside v2, so it serves again at once (nothing to
    // wait for, nothing rebuilt).
    py(ex.back_to_0003);
    assert_eq!(serving(&db).await, 1);
    db.assert_equal("region_sales", V1).await;
    assert_orm_reads(&db, &py(ex.read), V1_COLUMNS).await;
    assert_eq!(texts(&client, ex.current_sql).await, vec![ex.at_0003]);
    assert_eq!(
        texts(
            &client,
            "SELECT format('v%s %s', version, state) FROM summa.status \
             WHERE view_name = 'region_sales' ORDER BY version"
        )
        .await,
        vec!["v1 live", "v2 live"]
    );
    eprintln!(
        "{} example: migrations, writes and reads in {:.1} s",
        ex.dir,
        started.elapsed().as_secs_f64()
    );
}

/// The version the alias serves.
async fn serving(db: &TestDb) -> i32 {
    db.client()
        .await
        .query_one(
            "SELECT version FROM summa.status WHERE view_name = 'region_sales' AND serving",
            &[],
        )
        .await
        .expect("one serving version")
        .get(0)
}

/// The ORM's rows (`json`, values as text, by region) are the alias' rows, with `columns`.
async fn assert_orm_reads(db: &TestDb, json: &str, columns: &[&str]) {
    let orm: serde_json::Value = serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("the ORM's read printed no JSON ({e}): {json}"));
    let fields: Vec<String> = columns
        .iter()
        .map(|c| format!("'{c}', {c}::text"))
        .collect();
    let sql = format!(
        "SELECT coalesce(json_agg(json_build_object({}) ORDER BY region), '[]')::text \
         FROM region_sales",
        fields.join(", ")
    );
    let direct: serde_json::Value =
        serde_json::from_str(&texts(&db.client().await, &sql).await[0]).unwrap();
    assert_eq!(
        direct.as_array().map(Vec::len),
        Some(5),
        "one row per region"
    );
    assert_eq!(orm, direct, "the ORM read other rows than region_sales has");
}

/// `summa run` installs the catalog (with the SQL API) when it starts.
async fn wait_for_catalog(client: &tokio_postgres::Client) {
    for _ in 0..300 {
        let ready: bool = client
            .query_one(
                "SELECT to_regprocedure('summa.wait_live(text, int, interval)') IS NOT NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sidecar did not install the catalog within 30 s");
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// `python ARGS` in examples/`dir` with DATABASE_URL `url`; its stdout. Panics with both
/// outputs when it fails.
fn run_python(python: &Path, dir: &str, url: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .args(args)
        .current_dir(examples_dir().join(dir))
        .env("DATABASE_URL", url)
        .env("DJANGO_SETTINGS_MODULE", "summa_example.settings")
        // No __pycache__ in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "examples/{dir}: python {} failed ({}):\n{stdout}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The virtual environment's python, created on first use in this run, and kept under the
/// target directory for later runs (keyed by the requirements and the python3 version).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(create_venv)
}

const READY: &str = "summa-examples-ready";

fn create_venv() -> PathBuf {
    let requirements: Vec<PathBuf> = ["alembic", "django"]
        .iter()
        .map(|e| examples_dir().join(e).join("requirements.txt"))
        .collect();
    let version = checked(
        Command::new("python3").arg("--version"),
        "python3 --version (the examples tests need python3 with venv and pip)",
    );
    let mut key = version.clone();
    for r in &requirements {
        key += &std::fs::read_to_string(r).unwrap_or_else(|e| panic!("{}: {e}", r.display()));
    }
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("examples-venv-{:016x}", fnv1a(&key)));
    let python = dir.join("bin").join("python");
    if dir.join(READY).exists() {
        return python;
    }
    // Built beside and renamed when complete: an interrupted install is never taken for a
    // ready one, and a run beside this one keeps whichever finished first. The tests run
    // `python -m alembic`, never the scripts whose first line names the directory.
    let started = Instant::now();
    let building = dir.with_file_name(format!(
        "{}.partial-{}",
        dir.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    checked(
        Command::new("python3").args(["-m", "venv"]).arg(&building),
        "python3 -m venv (Debian: apt-get install python3-venv)",
    );
    let mut pip = Command::new(building.join("bin").join("python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    for r in &requirements {
        pip.arg("-r").arg(r);
    }
    checked(&mut pip, "pip install of the examples' requirements.txt");
    std::fs::write(building.join(READY), &key).expect("mark the environment ready");
    if !dir.join(READY).exists() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if std::fs::rename(&building, &dir).is_err() {
        assert!(
            dir.join(READY).exists(),
            "could not move {} to {}",
            building.display(),
            dir.display()
        );
        let _ = std::fs::remove_dir_all(&building);
    }
    eprintln!(
        "examples: created the Python environment {} ({}) in {:.1} s",
        dir.display(),
        version.trim(),
        started.elapsed().as_secs_f64()
    );
    python
}

/// Run `cmd`, which must succeed; its stdout.
fn checked(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// FNV-1a: a hash that stays the same across Rust versions (the cache key).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
