//! promote, retire, gc, rebuild: a view's versions over time (docs/versioning.md).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use summa_catalog::ViewSpec;

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
    // Catch up here: if a sidecar already holds the new stream, this applier just waits.
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
                &[&c.view, &c.version],
            )
            .await?
            .get(0);
        match state.as_str() {
            "live" => break true,
            "broken" => break false,
            _ if started.elapsed() > Duration::from_secs(args.timeout_secs) => break false,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let _ = stop.send(true);
    applier.await??;
    if !live {
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
