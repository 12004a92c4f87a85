//! Many views at once: created through `summa_catalog::create_views` several per call (one
//! replication slot per call), then checked against their SELECTs — column names, types and
//! collations, version state, and the oracle. Problems are collected into one [`Report`] that
//! names each view, its SQL and the seed, so one run shows everything that is wrong.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use summa_catalog::{CatalogError, CreateOptions, ViewSpec};
use summa_stream::ConnInfo;

use crate::harness::{oracle_diff, TestDb};

#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub sql: String,
}

impl Spec {
    pub fn new(name: impl Into<String>, sql: impl Into<String>) -> Spec {
        Spec {
            name: name.into(),
            sql: sql.into(),
        }
    }
}

/// Problems found so far; [`Report::finish`] fails the test with all of them.
pub struct Report {
    seed: u64,
    problems: Vec<String>,
    failed: BTreeSet<String>,
}

impl Report {
    pub fn new(seed: u64) -> Report {
        Report {
            seed,
            problems: Vec::new(),
            failed: BTreeSet::new(),
        }
    }

    /// Record a problem of `view`; later checks skip a view that already failed.
    pub fn fail(&mut self, view: &Spec, what: &str, detail: &str) {
        self.failed.insert(view.name.clone());
        self.problems.push(format!(
            "view {} {what} (seed {}):\n  SQL: {}\n  {}",
            view.name,
            self.seed,
            view.sql.replace('\n', "\n       "),
            detail.replace('\n', "\n  ")
        ));
    }

    pub(crate) fn ok(&self, view: &Spec) -> bool {
        !self.failed.contains(&view.name)
    }

    /// Panic with every recorded problem, if any.
    pub fn finish(self) {
        assert!(
            self.problems.is_empty(),
            "{} problem(s); replay with SUMMA_TEST_SEED={}\n\n{}",
            self.problems.len(),
            self.seed,
            self.problems.join("\n\n")
        );
    }
}

/// Create `specs`, `per_call` views per `create_views` call. A view the planner (or the
/// backfill) refuses is reported with summa's message and left out; the call is retried
/// with the others. Returns the views that exist.
pub async fn create_in_groups(
    db: &TestDb,
    specs: &[Spec],
    per_call: usize,
    report: &mut Report,
) -> Vec<Spec> {
    let conn = ConnInfo::parse(&db.url).expect("connection url");
    let mut client = db.client().await;
    let opts = CreateOptions::default();
    let mut created = Vec::new();
    for group in specs.chunks(per_call) {
        let mut group: Vec<Spec> = group.to_vec();
        while !group.is_empty() {
            let views: Vec<ViewSpec> = group
                .iter()
                .map(|s| ViewSpec {
                    name: s.name.clone(),
                    sql: s.sql.clone(),
                })
                .collect();
            let result = summa_catalog::create_views(&conn, &mut client, &views, &opts).await;
            let (view, message) = match result {
                Ok(_) => {
                    created.append(&mut group);
                    break;
                }
                Err(CatalogError::Plan { view, error }) => {
                    let sql = spec_sql(&group, &view);
                    (view, format!("summa refused it:\n{}", error.render(&sql)))
                }
                Err(err) => match &err {
                    CatalogError::Invalid { view, .. }
                    | CatalogError::ReplicaIdentity { view, .. } => {
                        (view.clone(), format!("could not be created: {err}"))
                    }
                    _ => panic!("create_views failed for {:?}: {err}", names(&group)),
                },
            };
            // A version label ("name v1") names the view too.
            let name = view.split(' ').next().unwrap_or(&view).to_string();
            let Some(at) = group.iter().position(|s| s.name == name) else {
                panic!(
                    "create_views blamed {view}, not one of {:?}: {message}",
                    names(&group)
                );
            };
            let spec = group.remove(at);
            report.fail(&spec, "was not created", &message);
        }
    }
    created
}

fn spec_sql(group: &[Spec], view: &str) -> String {
    group
        .iter()
        .find(|s| s.name == view)
        .map(|s| s.sql.clone())
        .unwrap_or_default()
}

fn names(specs: &[Spec]) -> Vec<&str> {
    specs.iter().map(|s| s.name.as_str()).collect()
}

/// Each view's columns (name, type, collation) equal those of its SELECT as a Postgres view.
pub async fn check_columns(db: &TestDb, specs: &[Spec], report: &mut Report) {
    let client = db.client().await;
    let columns = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), coalesce(c.collname::text, '') \
                   FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation \
                   WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
    for spec in specs {
        if !report.ok(spec) {
            continue;
        }
        let expect = format!("pg_temp.expect_{}", spec.name);
        if let Err(e) = client
            .batch_execute(&format!(
                "CREATE TEMP VIEW expect_{} AS {}",
                spec.name, spec.sql
            ))
            .await
        {
            panic!("Postgres refuses view {}: {e:?}\n{}", spec.name, spec.sql);
        }
        let read = |rel: String| {
            let client = &client;
            async move {
                client
                    .query(columns, &[&rel])
                    .await
                    .unwrap_or_else(|e| panic!("columns of {rel}: {e:?}"))
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {}{}",
                            r.get::<_, String>(0),
                            r.get::<_, String>(1),
                            match r.get::<_, String>(2).as_str() {
                                "" | "default" => String::new(),
                                c => format!(" COLLATE \"{c}\""),
                            }
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        let (got, want) = (read(spec.name.clone()).await, read(expect).await);
        if got != want {
            report.fail(
                spec,
                "has other columns than its SELECT",
                &format!("summary: {}\nselect:  {}", got.join(", "), want.join(", ")),
            );
        }
    }
}

/// No version of `specs` is broken; then every view equals its SELECT (the oracle).
pub async fn check_equal(db: &TestDb, specs: &[Spec], report: &mut Report, phase: &str) {
    let client = Arc::new(db.client().await);
    let broken = client
        .query(
            "SELECT view_name, version, state, coalesce(error, '') FROM summa.versions \
             WHERE state NOT IN ('catching_up', 'live')",
            &[],
        )
        .await
        .expect("version states");
    for row in broken {
        let view: String = row.get(0);
        if let Some(spec) = specs.iter().find(|s| s.name == view && report.ok(s)) {
            let detail = format!(
                "v{} is {}: {}",
                row.get::<_, i32>(1),
                row.get::<_, String>(2),
                row.get::<_, String>(3)
            );
            report.fail(spec, &format!("is not maintained {phase}"), &detail);
        }
    }
    for spec in specs {
        if !report.ok(spec) {
            continue;
        }
        // The oracle panics when its query fails; keep that as this view's problem.
        let (c, name, sql) = (client.clone(), spec.name.clone(), spec.sql.clone());
        let diff = tokio::spawn(async move { oracle_diff(&c, &name, &sql).await }).await;
        match diff {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => {
                let columns = column_names(&client, &spec.name).await;
                report.fail(
                    spec,
                    &format!("differs from its SELECT {phase}"),
                    &format!(
                        "{} differing rows (at most 50; {columns}):\n{}",
                        rows.len(),
                        rows.join("\n")
                    ),
                )
            }
            Err(panic) => report.fail(
                spec,
                &format!("cannot be compared {phase}"),
                &panic_text(panic),
            ),
        }
    }
}

/// "x0 = g, x1 = count": the oracle's names for the view's columns.
async fn column_names(client: &tokio_postgres::Client, view: &str) -> String {
    client
        .query(
            "SELECT 'x' || (row_number() OVER (ORDER BY attnum) - 1) || ' = ' || attname FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&view],
        )
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn panic_text(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "oracle panicked".into()),
        Err(e) => e.to_string(),
    }
}

/// Drop every view in `specs` with its tables, slots and publications (the sidecar must be
/// stopped), so a long test run does not hold the cluster's replication slots. A slot stays
/// active until the stopped sidecar's walsender has exited: retry for a while.
pub async fn drop_all(db: &TestDb, specs: &[Spec]) {
    let mut client = db.client().await;
    for spec in specs {
        let mut attempt = 0;
        while let Err(e) = summa_catalog::drop_view(&mut client, &spec.name).await {
            attempt += 1;
            assert!(attempt < 50, "dropping {}: {e}", spec.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
