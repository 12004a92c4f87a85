//! Hostile input, as a corpus: names, SQL text, files and config values that trip parsers and
//! quoting. Each case either works (created, then the sidecar maintains it and it equals its
//! SELECT after writes) or is refused with a message naming what was wrong; and in every case
//! nothing else happened: the table a `; DROP TABLE` would drop still holds its rows, and a
//! refusal leaves no version, slot or table behind.
//!
//! Covered elsewhere, not repeated here: passwords with odd characters in URLs and passwords kept
//! out of logs and URL errors (`edges.rs`), names like summa's internal SQL names as source
//! columns (`names.rs`), refused SQL constructs with positions (`sql.rs`), missing server
//! settings and grants (`preflight.rs`), slot and setup names (`summa setup --print`, unit
//! tests in crates/cli/src/setup.rs).

use std::time::Duration;

use crate::harness::TestDb;

/// A source whose table and column names are upper case, quoted, spaced, unicode, reserved
/// words, 63 bytes long, or named like summa's state columns.
fn long_table() -> String {
    "T".repeat(63)
}

fn long_column() -> String {
    "c".repeat(63)
}

fn schema() -> String {
    format!(
        "CREATE TABLE t (id int PRIMARY KEY, k int, \"Odd Col\" int, \"order\" int, \"group\" text, \
           \"ünï ✓\" int, \"__rows\" int, \"__summa_sign\" int, \"__key_0\" int, \"MixedCase\" int, \
           \"q\"\"uote\" text);
         ALTER TABLE t REPLICA IDENTITY FULL;
         CREATE TABLE \"{t}\" (id int PRIMARY KEY, \"{c}\" int, \"Ω ü\" text);
         ALTER TABLE \"{t}\" REPLICA IDENTITY FULL;",
        t = long_table(),
        c = long_column()
    )
}

/// Rows `from..to` of both tables.
fn rows(from: i32, to: i32) -> String {
    format!(
        "INSERT INTO t SELECT g, g % 3, g % 7, g % 2, (g % 4)::text || $$;'$$, g % 5, g % 3, g % 2, \
           g % 4, g, CASE WHEN g % 3 = 0 THEN 'a''b' ELSE $$x\"y$$ END FROM generate_series({from}, {to}) g;
         INSERT INTO \"{t}\" SELECT g, g % 4, (g % 3)::text FROM generate_series({from}, {to}) g;",
        t = long_table()
    )
}

/// Cases that must work: (view name, SQL).
fn working() -> Vec<(String, String)> {
    let (t, c) = (long_table(), long_column());
    let mut cases: Vec<(String, String)> = [
        // View names: reserved words, summa's own names, the longest accepted.
        ("select", "SELECT k, count(*) FROM t GROUP BY k"),
        ("user", "SELECT k, sum(id) FROM t GROUP BY k"),
        ("summa", "SELECT k, max(id) FROM t GROUP BY k"),
        ("x", "SELECT k, min(id) FROM t GROUP BY k"),
        // Source columns: spaces, reserved words, unicode, upper case, summa's state names.
        (
            "odd_columns",
            "SELECT \"Odd Col\" % 3 AS \"Odd Key\", \"order\", min(\"group\") AS \"group\", \
             max(\"ünï ✓\") AS \"ünï ✓\", sum(\"__rows\") AS r, sum(\"__summa_sign\") AS s, \
             count(DISTINCT \"__key_0\") AS k0, sum(\"MixedCase\") AS \"MixedCase\", \
             max(\"q\"\"uote\") AS \"q\"\"uote\" FROM t GROUP BY 1, 2",
        ),
        // Table aliases: a reserved word, summa's names, quotes and unicode.
        (
            "alias_select",
            "SELECT \"select\".k, count(*) FROM t AS \"select\" GROUP BY 1",
        ),
        (
            "alias_rows",
            "SELECT \"__rows\".k, sum(\"__rows\".\"__rows\") FROM t AS \"__rows\" GROUP BY 1",
        ),
        (
            "alias_sign",
            "SELECT \"__summa_sign\".k, count(*) FROM t \"__summa_sign\" GROUP BY 1",
        ),
        (
            "alias_quoted",
            "SELECT \"Q \"\"x\"\" ü\".k, count(*) FROM t \"Q \"\"x\"\" ü\" GROUP BY 1",
        ),
        // SQL text: comments (also at the end), dollar quotes holding ; and ', a trailing ;.
        (
            "trailing_semicolon",
            "SELECT k, count(*) FROM t GROUP BY k;",
        ),
        (
            "trailing_line_comment",
            "SELECT k, count(*) FROM t GROUP BY k -- ; DROP TABLE t",
        ),
        (
            "trailing_block_comment",
            "SELECT k, count(*) FROM t GROUP BY k /* ; DROP TABLE t */",
        ),
        (
            "inner_comments",
            "SELECT k, /* it's ; a /* nested */ comment */ count(*) -- ; DROP TABLE t\n\
             FROM t GROUP BY k; -- the end",
        ),
        (
            "dollar_quotes",
            "SELECT k, count(*) FILTER (WHERE \"group\" <> $$1;'$$) AS c, \
             count(*) FILTER (WHERE \"group\" <> $q$ ; DROP TABLE t; ' $q$) AS d FROM t GROUP BY k",
        ),
        (
            "escape_string",
            "SELECT k, count(*) FROM t WHERE \"group\" <> E'a\\' ; DROP TABLE t; --' GROUP BY k",
        ),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), s.to_string()))
    .collect();
    // 48 bytes: the longest view name (its tables get suffixes up to Postgres' 63 bytes).
    cases.push((
        "v".repeat(48),
        "SELECT k, count(*) FROM t GROUP BY k".into(),
    ));
    // A 63-byte table, a 63-byte column, a 63-byte output name, value tables of them.
    cases.push((
        "long_names".into(),
        format!("SELECT \"{c}\", \"Ω ü\", count(*), sum(id) FROM \"{t}\" GROUP BY 1, 2"),
    ));
    cases.push((
        "long_values".into(),
        format!("SELECT \"{c}\", min(\"Ω ü\"), count(DISTINCT id) FROM \"{t}\" GROUP BY 1"),
    ));
    cases.push((
        "long_output".into(),
        format!("SELECT count(*) AS \"{c}\" FROM \"public\".\"{t}\""),
    ));
    cases
}

/// Cases that must be refused: (view name, SQL, what the message must say).
fn refused() -> Vec<(String, String, Vec<&'static str>)> {
    let ok = "SELECT k, count(*) FROM t GROUP BY k";
    let name_rule = "view names use lower-case letters";
    let mut cases: Vec<(String, String, Vec<&str>)> = Vec::new();
    for name in [
        "Upper",
        "has space",
        "q\"uote",
        "ünï",
        "__rows",
        "_x",
        "1x",
        "",
        "a;DROP TABLE t",
    ] {
        cases.push((name.into(), ok.into(), vec![name_rule]));
    }
    for len in [49, 63, 64] {
        cases.push(("v".repeat(len), ok.into(), vec![name_rule, "48"]));
    }
    // `x__v1` is the table of view x's first version: its alias would take the table's name.
    cases.push(("x__v1".into(), ok.into(), vec!["x__v1", "is not a view"]));
    for (sql, what) in [
        (
            "SELECT k, count(*) FROM t GROUP BY k; DROP TABLE t",
            "found 2",
        ),
        (
            "SELECT k, count(*) FROM t GROUP BY k; DROP TABLE t;",
            "found 2",
        ),
        (
            "SELECT k, count(*) FROM t GROUP BY k;;DROP TABLE t --",
            "found 2",
        ),
        (
            "SELECT k, count(*) FROM t WHERE \"group\" = 'a\\' ; DROP TABLE t; --' GROUP BY k",
            "found 2",
        ),
        (
            "SELECT k, count(*) FROM t GROUP BY k /* ; */ ; DROP TABLE t",
            "found 2",
        ),
        (
            "SELECT k, count(*) FROM t GROUP BY k --\r; DROP TABLE t",
            "found 2",
        ),
        ("DROP TABLE t", "must be a SELECT"),
        (
            "SELECT k, count(*) AS \"__rows\" FROM t GROUP BY k",
            "\"__rows\" is reserved",
        ),
        (
            "SELECT k AS \"__key_0\", count(*) FROM t GROUP BY k",
            "\"__key_0\" is reserved",
        ),
        (
            "SELECT k, count(*) FROM t GROUP BY k $$",
            "Unterminated dollar-quoted",
        ),
        (
            "SELECT k, count(*) FROM t GROUP BY k /* ",
            "multi-line comment",
        ),
    ] {
        cases.push(("bad".into(), sql.into(), vec![what]));
    }
    cases
}

/// The comment some cases end with, after their `;`.
const END: &str = "-- the end";

/// `sql` as the oracle's subquery: without the final `;` (and the comment after it), and on a
/// line of its own so that a trailing `--` comment does not swallow the closing parenthesis.
fn oracle_sql(sql: &str) -> String {
    let sql = sql.trim_end();
    let sql = sql.strip_suffix(END).unwrap_or(sql).trim_end();
    format!("{}\n", sql.strip_suffix(';').unwrap_or(sql))
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.client().await.query_one(sql, &[]).await.unwrap().get(0)
}

/// What a refused create could leave: versions, slots, relations (tables, views, sequences).
async fn footprint(db: &TestDb) -> (i64, i64, i64) {
    (
        count(db, "SELECT count(*) FROM summa.versions").await,
        count(
            db,
            "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()",
        )
        .await,
        count(
            db,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
        )
        .await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_and_sql_work_or_are_refused_and_nothing_else_happens() {
    let db = TestDb::new("hostile").await;
    let client = db.client().await;
    client.batch_execute(&schema()).await.unwrap();
    client.batch_execute(&rows(1, 60)).await.unwrap();
    let working = working();
    for (name, sql) in &working {
        let (ok, out, err) = db.summa(&["create", name, "--sql", sql]);
        assert!(
            ok,
            "summa create {name:?} --sql {sql:?} failed:\n{out}\n{err}"
        );
    }
    // Files: a UTF-8 byte order mark, CRLF line ends, a comment at the end.
    let dir = std::env::temp_dir();
    let files = [
        (
            "file_bom",
            "\u{feff}SELECT k, count(*) FROM t GROUP BY k;\n",
        ),
        (
            "file_crlf",
            "SELECT k,\r\n  count(*) -- the count\r\nFROM t\r\nGROUP BY k;\r\n-- the end\r\n",
        ),
        (
            "file_bom_crlf",
            "\u{feff}SELECT k, sum(id)\r\nFROM t\r\nGROUP BY k\r\n",
        ),
    ];
    for (name, text) in files {
        let path = dir.join(format!("summa-{}-{name}.sql", db.name));
        std::fs::write(&path, text).unwrap();
        let (ok, out, err) = db.summa(&["create", name, "--file", path.to_str().unwrap()]);
        assert!(
            ok,
            "summa create {name} --file {text:?} failed:\n{out}\n{err}"
        );
    }

    let before = footprint(&db).await;
    for (name, sql, expected) in refused() {
        let (ok, out, err) = db.summa(&["create", &name, "--sql", &sql]);
        assert!(!ok, "accepted view {name:?} {sql:?}:\n{out}");
        for e in &expected {
            assert!(
                err.contains(e),
                "refusing view {name:?} {sql:?}: expected {e:?} in:\n{err}"
            );
        }
        assert!(
            !err.contains("panicked"),
            "view {name:?} {sql:?} crashed summa:\n{err}"
        );
        assert_eq!(
            footprint(&db).await,
            before,
            "refusing view {name:?} {sql:?} left something behind (versions, slots, relations)"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM t").await,
        60,
        "t lost rows"
    );

    // Every working case is maintained through inserts, updates and deletes.
    let sidecar = db.sidecar();
    let t = long_table();
    client.batch_execute(&rows(61, 150)).await.unwrap();
    client
        .batch_execute(&format!(
            "UPDATE t SET k = k + 1, \"group\" = \"group\" || ';''', \"ünï ✓\" = -\"ünï ✓\" WHERE id % 7 = 0;
             DELETE FROM t WHERE id % 5 = 0;
             UPDATE \"{t}\" SET \"Ω ü\" = 'ü' WHERE id % 4 = 0;
             DELETE FROM \"{t}\" WHERE id % 3 = 0;"
        ))
        .await
        .unwrap();
    db.wait_applied().await;
    let all = working.iter().cloned().chain(files.iter().map(|(n, text)| {
        (
            n.to_string(),
            text.trim_start_matches('\u{feff}').to_string(),
        )
    }));
    for (name, sql) in all {
        db.assert_equal(&format!("\"{name}\""), &oracle_sql(&sql))
            .await;
        let (ok, out, err) = db.summa(&["verify", &name]);
        assert!(ok && out.contains("equal"), "verify {name}:\n{out}\n{err}");
    }
    sidecar.stop();
}

/// summa.toml values out of range or of the wrong type: refused naming the key, before
/// anything is created.
#[tokio::test(flavor = "multi_thread")]
async fn config_values_out_of_range_are_refused_naming_the_key() {
    let db = TestDb::new("hostile_config").await;
    db.client()
        .await
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, k int)")
        .await
        .unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("statement_budget_ms = -5", &["statement_budget_ms", "-5"]),
        (
            "statement_budget_ms = 0",
            &["statement_budget_ms", "at least 100"],
        ),
        (
            "statement_budget_ms = 99999999999999",
            &["statement_budget_ms", "at most"],
        ),
        (
            "statement_budget_ms = \"30s\"",
            &["statement_budget_ms", "string"],
        ),
        (
            "statement_budget_ms = 1e3",
            &["statement_budget_ms", "floating point"],
        ),
        (
            "statement_budget_ms = 184467440737095516150",
            &["statement_budget_ms"],
        ),
        (
            "promote_lock_timeout_ms = 99999999999999",
            &["promote_lock_timeout_ms", "at most"],
        ),
        (
            "retention_hours = 9223372036854775807",
            &["retention_hours", "at most"],
        ),
        ("retention_hours = -1", &["retention_hours"]),
        ("health_max_lag_seconds = inf", &["health_max_lag_seconds"]),
        ("health_max_lag_seconds = -1.0", &["health_max_lag_seconds"]),
        ("verify_chunk_groups = 0", &["verify_chunk_groups"]),
        ("[apply]\nmax_batch_changes = 0", &["max_batch_changes"]),
        (
            "[apply]\nmax_batch_delay_ms = -1",
            &["apply.max_batch_delay_ms"],
        ),
        ("[apply]\nchunk_rows = true", &["chunk_rows"]),
        ("[apply]\nmax_attempts = 4294967296", &["max_attempts"]),
        ("schema = 5", &["schema"]),
        ("table_pattern = \"{name}\"", &["table_pattern"]),
    ];
    for (toml, expected) in cases {
        let config = db.config_file(toml);
        for args in [
            vec![
                "create",
                "v",
                "--sql",
                "SELECT k, count(*) FROM t GROUP BY k",
            ],
            vec!["status"],
        ] {
            let mut argv = vec!["--config", config.to_str().unwrap()];
            argv.extend(args.iter().copied());
            let (ok, out, err) = db.summa(&argv);
            assert!(!ok, "{toml:?} accepted by {args:?}:\n{out}");
            for e in *expected {
                assert!(err.contains(e), "{toml:?}: expected {e:?} in:\n{err}");
            }
            assert!(!err.contains("panicked"), "{toml:?} crashed summa:\n{err}");
        }
    }
    // The sidecar refuses them too, at once.
    let mut sidecar = db.sidecar_with_config("retention_hours = 9223372036854775807");
    assert!(sidecar.exits_within(Duration::from_secs(10)).await);
    assert!(
        sidecar.log_text().contains("retention_hours"),
        "{}",
        sidecar.log_text()
    );
    let slots = count(
        &db,
        "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()",
    )
    .await;
    assert_eq!(slots, 0, "a refused config created a slot");
}

/// A schema (and table pattern) with quotes, spaces, unicode and upper case in summa.toml:
/// the versions live there and are maintained; one that does not exist is refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn an_odd_schema_name_in_the_config_works() {
    let db = TestDb::new("hostile_schema").await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE SCHEMA \"Odd \"\"Schéma\"\" x\";
             CREATE TABLE t (id int PRIMARY KEY, k int, s text); ALTER TABLE t REPLICA IDENTITY FULL;
             INSERT INTO t SELECT g, g % 3, g::text FROM generate_series(1, 30) g",
        )
        .await
        .unwrap();
    let toml = "schema = \"Odd \\\"Schéma\\\" x\"\ntable_pattern = \"{name} ü {version}\"\n";
    let config = db.config_file(toml);
    let config = config.to_str().unwrap();
    let sql = "SELECT k, min(s), count(*) FROM t GROUP BY k";
    let (ok, out, err) = db.summa(&["--config", config, "create", "odd", "--sql", sql]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("\"Odd \"\"Schéma\"\" x\".\"odd ü 1\""),
        "{out}"
    );
    let sidecar = db.sidecar_with_config(toml);
    client
        .batch_execute("INSERT INTO t SELECT g, g % 4, g::text FROM generate_series(31, 90) g; DELETE FROM t WHERE id % 5 = 0")
        .await
        .unwrap();
    db.wait_applied().await;
    db.assert_equal("\"Odd \"\"Schéma\"\" x\".odd", sql).await;
    let (ok, out, err) = db.summa(&["--config", config, "verify", "odd"]);
    assert!(ok && out.contains("equal"), "{out}\n{err}");
    sidecar.stop();

    let missing = db.config_file("schema = \"Nö \\\"such\\\"\"\n");
    let (ok, _, err) = db.summa(&[
        "--config",
        missing.to_str().unwrap(),
        "create",
        "other",
        "--sql",
        sql,
    ]);
    assert!(
        !ok && err.contains("schema \"Nö \"such\"\" does not exist"),
        "{err}"
    );
    let left = count(
        &db,
        "SELECT count(*) FROM summa.versions WHERE view_name = 'other'",
    )
    .await;
    assert_eq!(left, 0);
}

/// A password in the URL never reaches what summa prints: `status`, a refused `create`, a
/// created view, and a running sidecar (its log at debug level). The server trusts local
/// connections, so the password is carried but not checked; `edges.rs` covers real password
/// authentication and unreachable servers.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_in_the_url_is_never_printed() {
    const SECRET: &str = "S3cr3tPw";
    let plain = TestDb::new("hostile_secret").await;
    plain
        .client()
        .await
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, k int); ALTER TABLE t REPLICA IDENTITY FULL",
        )
        .await
        .unwrap();
    let db = TestDb {
        url: plain.url.replacen(
            "postgres://postgres@",
            &format!("postgres://postgres:{SECRET}%40x@"),
            1,
        ),
        name: plain.name.clone(),
    };
    assert!(db.url.contains(SECRET));
    let debug = [("RUST_LOG", "debug")];
    let mut printed = Vec::new();
    for args in [
        vec!["status"],
        vec![
            "create",
            "v",
            "--sql",
            "SELECT nope, count(*) FROM t GROUP BY nope",
        ],
        vec![
            "create",
            "v",
            "--sql",
            "SELECT k, count(*) FROM missing GROUP BY k",
        ],
        vec![
            "create",
            "Bad Name",
            "--sql",
            "SELECT k, count(*) FROM t GROUP BY k",
        ],
        vec![
            "create",
            "v",
            "--sql",
            "SELECT k, count(*) FROM t GROUP BY k",
        ],
        vec!["status"],
        vec!["verify", "v"],
        vec!["verify", "nope"],
    ] {
        let (_, out, err) = db.summa_with_env(&args, &debug);
        printed.push((format!("{args:?}"), out + &err));
    }
    let sidecar = db.sidecar_with("", &debug);
    plain
        .client()
        .await
        .batch_execute("INSERT INTO t SELECT g, g % 3 FROM generate_series(1, 20) g")
        .await
        .unwrap();
    plain.wait_applied().await;
    printed.push(("summa run".into(), sidecar.log_text()));
    sidecar.stop();
    assert!(
        printed[4].1.contains("created v v1"),
        "the create with a password failed:\n{}",
        printed[4].1
    );
    for (what, text) in &printed {
        assert!(
            !text.contains(SECRET),
            "{what} printed the password:\n{text}"
        );
    }
}
