//! promote, retire, gc, rebuild: a view's versions over time (docs/versioning.md).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use summa_catalog::ViewSpec;
use tokio_postgres::Client;

use crate::commands::conn_info;
use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct PromoteArgs {
    name: String,
    /// Version to serve (default: the newest).
    #[arg(long)]
    version: Option<i32>,
}

pub async fn promote(
    args: PromoteArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let mut client = conn.connect("summa-promote").await?;
    summa_catalog::install(&client).await?;
    let p = summa_catalog::promote(&mut client, &args.name, args.version, config.lock_timeout())
        .await?;
    println!(
        "{} now serves v{}{} ({})",
        args.name,
        p.version,
        p.previous
            .map(|v| format!(" (was v{v})"))
            .unwrap_or_default(),
        if p.replaced_in_place {
            "view replaced in place"
        } else {
            "columns changed: view re-created in one transaction, grants kept"
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct RetireArgs {
    name: String,
    /// The version to stop maintaining.
    #[arg(long)]
    version: i32,
}

pub async fn retire(
    args: RetireArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let mut client = conn.connect("summa-retire").await?;
    summa_catalog::install(&client).await?;
    summa_catalog::retire(&mut client, &args.name, args.version).await?;
    println!(
        "{} v{} retired: no longer maintained; dropped by `summa gc` after {} h (or now with `summa drop {} --version {}`)",
        args.name,
        args.version,
        config.retention_hours,
        args.name,
        args.version
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn gc(url: Option<String>, config: &Config) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let mut client = conn.connect("summa-gc").await?;
    summa_catalog::install(&client).await?;
    let dropped = summa_catalog::gc(&mut client, config.retention()).await?;
    if dropped.is_empty() {
        println!(
            "nothing to drop (retired versions are kept {} h)",
            config.retention_hours
        );
    }
    for label in dropped {
        println!("dropped {label}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct RebuildArgs {
    name: String,
    /// Rebuild from this version's SQL (default: the serving version's).
    #[arg(long)]
    version: Option<i32>,
    /// Serve the new version once it is live (catching up here if no sidecar runs).
    #[arg(long)]
    promote: bool,
    /// How long --promote waits for the new version to become live.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

/// A full recompute into a new version: for drift, a TRUNCATEd source or a lost slot.
pub async fn rebuild(
    args: RebuildArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let mut client = conn.connect("summa-rebuild").await?;
    summa_catalog::install(&client).await?;
    let sql: String = client
        .query_opt(
            "SELECT v.sql FROM summa.versions v JOIN summa.views w ON w.name = v.view_name \
             WHERE v.view_name = $1 AND v.version = coalesce($2, w.serving_version, \
                 (SELECT max(version) FROM summa.versions WHERE view_name = $1))",
            &[&args.name, &args.version],
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("no such view or version: {}", args.name))?
        .get(0);
    let mut opts = config.create_options();
    opts.show_progress = true;
    let created = summa_catalog::create_views(
        &conn,
        &mut client,
        &[ViewSpec {
            name: args.name.clone(),
            sql,
        }],
        &opts,
    )
    .await?;
    let c = &created[0];
    println!(
        "rebuilt {} as v{}: table {}, backfilled in {:.1}s",
        c.view,
        c.version,
        c.table,
        c.backfill_elapsed.as_secs_f64()
    );
    if !args.promote {
        println!(
            "it becomes live once `summa run` has caught up; then `summa promote {}`",
            c.view
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !catch_up(
        &conn,
        &client,
        config,
        &c.view,
        c.version,
        args.timeout_secs,
    )
    .await?
    {
        bail!(
            "v{} did not become live within {} s (see `summa status {}`); promote it later",
            c.version,
            args.timeout_secs,
            c.view
        );
    }
    let p = summa_catalog::promote(&mut client, &c.view, Some(c.version), config.lock_timeout())
        .await?;
    println!(
        "{} now serves v{}{}",
        c.view,
        p.version,
        p.previous
            .map(|v| format!(
                " (was v{v}; retire it with `summa retire {} --version {v}`)",
                c.view
            ))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// Wait until `view` v`version` is live, applying here when no sidecar runs (with one running,
/// this applier stands by on the lease and the sidecar does the work). False on timeout or
/// when the version broke.
async fn catch_up(
    conn: &summa_stream::ConnInfo,
    client: &Client,
    config: &Config,
    view: &str,
    version: i32,
    timeout_secs: u64,
) -> anyhow::Result<bool> {
    let metrics = Arc::new(summa_apply::Metrics::default());
    let (stop, rx) = tokio::sync::watch::channel(false);
    let applier = tokio::spawn(summa_apply::run(
        conn.clone(),
        config.apply_config(),
        metrics,
        rx,
    ));
    let started = Instant::now();
    let live = loop {
        let state: String = client
            .query_one(
                "SELECT state FROM summa.versions WHERE view_name = $1 AND version = $2",
                &[&view, &version],
            )
            .await?
            .get(0);
        match state.as_str() {
            "live" => break true,
            "broken" => break false,
            _ if started.elapsed() > Duration::from_secs(timeout_secs) => break false,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let _ = stop.send(true);
    applier.await??;
    Ok(live)
}

/// `summa verify --exact`: build a fresh version of the same SELECT on the shared stream, let
/// it catch up, compare the two in one snapshot (both at the same applied position, so writers
/// running meanwhile cannot cause a difference), and drop the fresh one.
pub async fn verify_exact(
    conn: &summa_stream::ConnInfo,
    client: &mut Client,
    config: &Config,
    view: &str,
    version: i32,
) -> anyhow::Result<summa_catalog::VerifyReport> {
    let row = client
        .query_one(
            "SELECT sql, plan, table_schema, table_name, slot_name FROM summa.versions \
             WHERE view_name = $1 AND version = $2",
            &[&view, &version],
        )
        .await?;
    let plan = summa_plan::MaintenancePlan::from_json(row.get(1))?;
    let checked = summa_plan::sqlgen::Target::new(row.get::<_, String>(2), row.get::<_, String>(3));
    let slot: Option<String> = row.get(4);
    let mut opts = config.create_options();
    opts.show_progress = true;
    let created = summa_catalog::create_views(
        conn,
        client,
        &[ViewSpec {
            name: view.to_string(),
            sql: row.get(0),
        }],
        &opts,
    )
    .await?;
    let fresh = &created[0];
    let fresh_target: Option<(String, String)> = client
        .query_opt(
            "SELECT table_schema, table_name FROM summa.versions WHERE view_name = $1 AND version = $2",
            &[&view, &fresh.version],
        )
        .await?
        .map(|r| (r.get(0), r.get(1)));
    let result = async {
        if Some(&fresh.slot) != slot.as_ref() {
            bail!(
                "{view} v{version} is on a stream of its own (created before the shared stream): \
                 compare with `summa verify {view}`, or rebuild it"
            );
        }
        if !catch_up(conn, client, config, view, fresh.version, 600).await? {
            bail!("the fresh rebuild v{} did not become live", fresh.version);
        }
        let (schema, table) = fresh_target.clone().expect("the fresh version exists");
        let fresh_target = summa_plan::sqlgen::Target::new(schema, table);
        Ok(summa_catalog::compare_versions(
            client,
            &plan,
            &checked,
            &fresh_target,
            config.verify_chunk_groups,
        )
        .await?)
    }
    .await;
    summa_catalog::drop_version(client, view, fresh.version).await?;
    result
}
