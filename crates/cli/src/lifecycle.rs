//! promote, retire, gc, rebuild: a view's versions over time (docs/versioning.md). The
//! workflows live in summa-catalog; here they are sequenced, with an applier where a new
//! version must catch up.
//!
//! None of these installs or upgrades the catalog (`summa run` and `summa create` do): they
//! need write access to `summa.*`, not its ownership.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use tokio_postgres::Client;

use crate::commands::{conn_info, connect};
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
    let mut client = connect(&conn, "summa-promote", config).await?;
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
    let mut client = connect(&conn, "summa-retire", config).await?;
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
    let mut client = connect(&conn, "summa-gc", config).await?;
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
    let mut client = connect(&conn, "summa-rebuild", config).await?;
    let mut opts = config.create_options();
    opts.show_progress = true;
    let c = &summa_catalog::rebuild(&conn, &mut client, &args.name, args.version, &opts).await?;
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
pub(crate) async fn catch_up(
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
    let live =
        summa_catalog::wait_live(client, view, version, Duration::from_secs(timeout_secs)).await;
    let _ = stop.send(true);
    applier.await??;
    Ok(live?)
}
