//! create, run, status, verify, drop: each parses its arguments, calls the crate that owns
//! the work, and prints the result.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use summa_catalog::{CatalogError, ViewSpec};
use summa_stream::ConnInfo;

use crate::config::Config;

/// A catalog session whose every statement runs under `statement_budget_ms`.
pub(crate) async fn connect(
    conn: &ConnInfo,
    application_name: &str,
    config: &Config,
) -> anyhow::Result<tokio_postgres::Client> {
    Ok(summa_catalog::connect(conn, application_name, config.statement_budget()).await?)
}

pub(crate) fn conn_info(url: Option<String>) -> anyhow::Result<ConnInfo> {
    let url = url.ok_or_else(|| {
        anyhow!("no database given: pass --database-url, set DATABASE_URL, or put database_url in summa.toml")
    })?;
    Ok(ConnInfo::parse(&url)?)
}

/// The given database, or a private PostgreSQL started from the installed binaries (kept
/// alive by the returned handle, removed when it drops).
pub(crate) async fn database_or_private(
    url: Option<String>,
) -> anyhow::Result<(ConnInfo, Option<summa_localpg::LocalPostgres>)> {
    if let Some(url) = url {
        return Ok((conn_info(Some(url))?, None));
    }
    println!("starting a private PostgreSQL (no --database-url given)…");
    let pg = tokio::task::spawn_blocking(summa_localpg::LocalPostgres::start).await??;
    println!("  listening on 127.0.0.1:{} (removed at exit)", pg.port());
    Ok((conn_info(Some(pg.url("postgres")))?, Some(pg)))
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// View name; the alias view gets this name, versions get the table pattern.
    name: String,
    /// The view's SELECT.
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    sql: Option<String>,
    /// File holding the view's SELECT.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Run `ALTER TABLE … REPLICA IDENTITY FULL` on the source when it cannot supply old values.
    #[arg(long)]
    set_replica_identity_full: bool,
}

/// Render a planning error with the SQL line and a caret, as Postgres does.
fn explain(err: CatalogError, sql: &str) -> anyhow::Error {
    match err {
        CatalogError::Plan { .. } => anyhow!(err.describe(sql)),
        other => anyhow!(other),
    }
}

pub async fn create(
    args: CreateArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        // An editor's UTF-8 byte order mark is not SQL: without it the file is the SELECT.
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .trim_start_matches('\u{feff}')
            .to_string(),
        (None, None) => bail!("give the view's SELECT with --sql or --file"),
    };
    let conn = conn_info(url)?;
    let mut client = conn.connect("summa-create").await?;
    let mut opts = config.create_options();
    opts.set_replica_identity_full = args.set_replica_identity_full;
    opts.show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let created = summa_catalog::create_views(
        &conn,
        &mut client,
        &[ViewSpec {
            name: args.name.clone(),
            sql: sql.clone(),
        }],
        &opts,
    )
    .await
    .map_err(|e| explain(e, &sql))?;
    for c in created {
        for notice in &c.notices {
            eprintln!("NOTICE: view {}: {notice}", c.view);
        }
        println!(
            "created {} v{}: table {} (alias {}), backfilled in {:.1}s ({} statements); \
             it becomes live once `summa run` has caught up from {}",
            c.view,
            c.version,
            c.table,
            c.alias,
            c.backfill_elapsed.as_secs_f64(),
            c.backfill_statements,
            c.consistent_point
        );
        for input in &c.inputs {
            println!("  input {input}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(url: Option<String>, config: &Config) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: abandoning any open batch, acknowledging nothing unapplied");
        let _ = tx.send(true);
    });
    tracing::info!(database = %conn.display(), "summa sidecar starting");
    let metrics = Arc::new(summa_apply::Metrics::default());
    if let Some(address) = &config.metrics_address {
        crate::http::serve(
            address,
            metrics.clone(),
            conn.clone(),
            config.health_max_lag_seconds,
            config.statement_budget(),
        )
        .await?;
    }
    // The catalog first: the request server reads it at once (the applier's own install
    // then finds it current).
    {
        let setup = conn.connect("summa-setup").await?;
        summa_catalog::check_server(&setup).await?;
        summa_catalog::install(&setup).await?;
    }
    // Versions migrations ask for with summa.define are built beside the applier.
    let requests = tokio::spawn(summa_catalog::serve_requests(
        conn.clone(),
        config.create_options(),
        rx.clone(),
    ));
    let applied = summa_apply::run(conn, config.apply_config(), metrics, rx).await;
    requests.abort();
    applied?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Only this view.
    name: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Read-only: a role with SELECT on `summa.*` can run it (no schema DDL here).
pub async fn status(
    args: StatusArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let client = connect(&conn, "summa-status", config).await?;
    let rows = summa_catalog::status(&client, args.name.as_deref()).await?;
    if args.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "view": r.view, "version": r.version, "state": r.state, "table": r.table,
                    "alias": r.alias, "serving": r.serving, "applied_lsn": r.applied_lsn,
                    "lag_bytes": r.lag_bytes, "lag_seconds": r.lag_seconds, "rows": r.rows,
                    "size_bytes": r.size_bytes, "backfill_progress": r.progress, "error": r.error,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no views yet: create one with `summa create NAME --sql \"SELECT …\"`");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:>3} {:<12} {:<40} {:>12} {:>8} {:>10} {:>10}",
        "VIEW", "VER", "STATE", "TABLE (alias serves *)", "LAG BYTES", "LAG S", "ROWS", "SIZE"
    );
    for r in rows {
        println!(
            "{:<24} {:>3} {:<12} {:<40} {:>12} {:>8} {:>10} {:>10}",
            r.view,
            r.version,
            match (r.state.as_str(), r.progress) {
                ("backfilling", Some(p)) => format!("backfill {:.0}%", p * 100.0),
                _ => r.state.clone(),
            },
            format!("{}{}", r.table, if r.serving { " *" } else { "" }),
            r.lag_bytes
                .map(|b| b.max(0).to_string())
                .unwrap_or_else(|| "-".into()),
            r.lag_seconds
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into()),
            r.rows.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            r.size_bytes
                .map(|b| format!("{} kB", b / 1024))
                .unwrap_or_else(|| "-".into()),
        );
        if let Some(err) = r.error {
            println!("    error: {err}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    name: String,
    /// Version to check (default: the one the alias serves).
    #[arg(long)]
    version: Option<i32>,
    /// Compare with a fresh rebuild on the shared stream, exactly even while writers run
    /// (costs a backfill).
    #[arg(long)]
    exact: bool,
}

pub async fn verify(
    args: VerifyArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let mut client = connect(&conn, "summa-verify", config).await?;
    let checked = summa_catalog::find_version(&client, &args.name, args.version).await?;
    let version = checked.version;
    let report = if args.exact {
        let mut opts = config.create_options();
        opts.show_progress = true;
        summa_catalog::verify_exact(
            &conn,
            &mut client,
            &checked,
            &opts,
            config.verify_chunk_groups,
            async |client: &tokio_postgres::Client, fresh: i32| {
                crate::lifecycle::catch_up(&conn, client, config, &args.name, fresh, 600).await
            },
        )
        .await?
    } else {
        summa_catalog::verify_version_in_chunks(
            &mut client,
            &checked.plan,
            &checked.target,
            config.verify_chunk_groups,
        )
        .await?
    };
    if report.unsettled > 0 {
        println!(
            "{} group(s) differed at first and matched once the stream applied the changes in flight",
            report.unsettled
        );
    }
    if report.is_equal() {
        println!("{} v{version}: equal to its SELECT", args.name);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} v{version}: {} differing rows",
        args.name,
        report.differences.len()
    );
    for (side, row) in report.differences.iter().take(50) {
        println!("  {side}: {row}");
    }
    Ok(ExitCode::from(1))
}

#[derive(clap::Args, Debug)]
pub struct DropArgs {
    name: String,
    /// Drop only this version (not the one the alias serves).
    #[arg(long)]
    version: Option<i32>,
}

pub async fn drop(
    args: DropArgs,
    url: Option<String>,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let conn = conn_info(url)?;
    let mut client = connect(&conn, "summa-drop", config).await?;
    if let Some(version) = args.version {
        summa_catalog::drop_version(&mut client, &args.name, version).await?;
        println!("dropped {} v{version}", args.name);
        return Ok(ExitCode::SUCCESS);
    }
    if summa_catalog::drop_view(&mut client, &args.name).await? {
        println!("dropped {}", args.name);
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("no view named {}", args.name)
    }
}
