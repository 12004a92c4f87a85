//! The sidecar's main loop: one task per stream, each reconnecting with backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use summa_stream::ConnInfo;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ApplyConfig, GC_INTERVAL};
use crate::error::{RunError, VersionError};
use crate::metrics::Metrics;
use crate::session::{backoff, Session, SessionEnd};

/// Keep every stream in the catalog applied until `shutdown` turns true.
///
/// One sidecar per database applies: it holds the lease (a session advisory lock on its
/// control connection). Another one started beside it stands by and takes over within
/// `poll_interval` once the first one's connection is gone.
pub async fn run(
    conn: ConnInfo,
    cfg: ApplyConfig,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    // Errors at startup (credentials, privileges, no database) are reported, not retried.
    let first = conn.connect("summa-control").await?;
    summa_catalog::check_server(&first).await?;
    summa_catalog::install(&first).await?;
    let mut control = Some(first);
    let mut shutdown_watch = shutdown.clone();
    loop {
        let Some(leased) = acquire_lease(&conn, control.take(), &cfg, &mut shutdown_watch).await
        else {
            return Ok(());
        };
        metrics
            .lease_held
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let shut_down = serve(&conn, &cfg, &metrics, leased, &mut shutdown_watch).await;
        metrics
            .lease_held
            .store(false, std::sync::atomic::Ordering::Relaxed);
        if shut_down {
            return Ok(());
        }
        tracing::warn!("lost the control connection (and with it the lease); re-acquiring");
    }
}

use summa_catalog::SIDECAR_LEASE as LEASE_KEY;

/// Wait until this process holds the lease; `None` when shutdown came first.
async fn acquire_lease(
    conn: &ConnInfo,
    mut control: Option<tokio_postgres::Client>,
    cfg: &ApplyConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<tokio_postgres::Client> {
    let mut told = false;
    loop {
        if *shutdown.borrow() {
            return None;
        }
        if control.is_none() {
            control = conn.connect("summa-control").await.ok();
        }
        if let Some(c) = &control {
            match c
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEASE_KEY])
                .await
            {
                Ok(row) if row.get::<_, bool>(0) => {
                    if told {
                        tracing::info!("took over the lease: applying");
                    }
                    return control;
                }
                Ok(_) => {
                    if !told {
                        tracing::info!(
                            "another sidecar holds the lease for this database; standing by"
                        );
                        told = true;
                    }
                }
                Err(_) => control = None,
            }
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(cfg.poll_interval) => {}
        }
    }
}

/// Run stream tasks while `control` (holding the lease) lives. Returns true on shutdown,
/// false when the control connection was lost (its tasks are stopped first).
async fn serve(
    conn: &ConnInfo,
    cfg: &ApplyConfig,
    metrics: &Arc<Metrics>,
    mut control: tokio_postgres::Client,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    // The control connection's catalog work (gc included) runs under the statement budget.
    if let Err(err) = summa_catalog::set_statement_budget(&control, cfg.statement_budget).await {
        tracing::warn!(error = %err, "cannot set the control connection's statement budget");
        return false;
    }
    let (stop_tasks, tasks_stopped) = watch::channel(false);
    let mut tasks: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut last_gc: Option<Instant> = None;
    let shut_down = loop {
        let streams = match summa_catalog::list_streams(&control).await {
            Ok(streams) => streams,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the catalog");
                break false;
            }
        };
        if last_gc.is_none_or(|t| t.elapsed() >= GC_INTERVAL) {
            last_gc = Some(Instant::now());
            match summa_catalog::gc(&mut control, cfg.retention).await {
                Ok(dropped) if !dropped.is_empty() => {
                    tracing::info!(?dropped, "dropped retired versions past their retention")
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "gc failed; retrying later"),
            }
        }
        for stream in streams {
            let running = tasks
                .get(&stream.slot_name)
                .is_some_and(|t| !t.is_finished());
            if running {
                continue;
            }
            let (conn, cfg, metrics, stop) = (
                conn.clone(),
                cfg.clone(),
                metrics.clone(),
                tasks_stopped.clone(),
            );
            let slot = stream.slot_name.clone();
            tasks.insert(
                slot.clone(),
                tokio::spawn(async move { stream_task(conn, cfg, metrics, stop, slot).await }),
            );
        }
        tokio::select! {
            _ = shutdown.changed() => break true,
            _ = tokio::time::sleep(cfg.poll_interval) => {}
        }
    };
    let _ = stop_tasks.send(true);
    for (_, task) in tasks {
        let _ = task.await;
    }
    shut_down
}

/// One stream, reconnecting with backoff until shutdown or until it has nothing to maintain.
async fn stream_task(
    conn: ConnInfo,
    cfg: ApplyConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    slot: String,
) {
    let mut attempt = 0;
    let mut failures: HashMap<(String, i32), u32> = HashMap::new();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = Instant::now();
        let batches_before = metrics.batches.load(std::sync::atomic::Ordering::Relaxed);
        let result = run_once(&conn, &cfg, &metrics, &mut shutdown, &slot).await;
        if metrics.batches.load(std::sync::atomic::Ordering::Relaxed) > batches_before {
            failures.clear();
        }
        match result {
            Ok(SessionEnd::Shutdown) => return,
            Ok(SessionEnd::NoVersions) => {
                tracing::debug!(slot, "no maintained versions on this stream");
                return;
            }
            Ok(SessionEnd::Reload) | Err(RunError::VersionsChanged) => {
                tracing::info!(slot, "versions changed; reloading");
                attempt = 0;
            }
            Err(err @ RunError::Replication(_)) if slot_is_lost(&conn, &slot).await => {
                lose_stream(&conn, cfg.statement_budget, &slot, &err).await;
                return;
            }
            // Definite: the session recorded the version as broken and goes on without it.
            Err(RunError::Version(failed)) if failed.class.is_definite() => {
                tracing::info!(slot, error = %failed, "restarting the stream without the broken version");
                attempt = 0;
            }
            Err(RunError::Version(VersionError {
                view,
                version,
                reason: message,
                ..
            })) => {
                let n = failures.entry((view.clone(), version)).or_insert(0);
                *n += 1;
                if *n >= cfg.max_attempts {
                    let reason = format!("a batch failed {n} times in a row: {message}");
                    break_after_retries(
                        &conn,
                        cfg.statement_budget,
                        &metrics,
                        &view,
                        version,
                        &reason,
                    )
                    .await;
                    failures.remove(&(view, version));
                    attempt = 0;
                    continue;
                }
                let wait = backoff(*n - 1);
                metrics.record_retry();
                tracing::warn!(slot, view = %view, version, attempt = *n, error = %message, retry_in_ms = wait.as_millis() as u64, "batch failed; retrying");
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(err) => {
                if started.elapsed() > Duration::from_secs(30) {
                    attempt = 0;
                }
                let wait = backoff(attempt);
                attempt += 1;
                if err.is_definite() {
                    tracing::error!(slot, error = %err, "stream stopped");
                    return;
                }
                metrics.record_retry();
                tracing::warn!(slot, error = %err, retry_in_ms = wait.as_millis() as u64, "stream interrupted; reconnecting");
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// The slot was dropped, or invalidated by `max_slot_wal_keep_size` (`wal_status = 'lost'`):
/// the changes since the applied LSN are gone, so its versions can only be rebuilt.
async fn slot_is_lost(conn: &ConnInfo, slot: &str) -> bool {
    let Ok(client) = conn.connect("summa-control").await else {
        return false;
    };
    match client
        .query_opt(
            "SELECT coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
    {
        Ok(None) => true,
        Ok(Some(row)) => row.get::<_, String>(0) == "lost",
        Err(_) => false,
    }
}

/// Record that `slot` is gone: its versions become `stale` (see
/// `summa_catalog::mark_stream_lost`).
async fn lose_stream(conn: &ConnInfo, budget: Duration, slot: &str, err: &RunError) {
    let reason = format!(
        "the replication slot {slot} was lost ({err}); changes since the applied LSN cannot be read: run `summa rebuild` for each view"
    );
    tracing::error!(slot, error = %err, "replication slot lost; its versions are stale");
    let marked = match summa_catalog::connect(conn, "summa-control", budget).await {
        Ok(mut client) => summa_catalog::mark_stream_lost(&mut client, slot, &reason).await,
        Err(e) => Err(e),
    };
    match marked {
        Ok(versions) => tracing::error!(slot, ?versions, "marked stale"),
        Err(e) => tracing::error!(slot, error = %e, "cannot record the lost slot"),
    }
}

/// Mark `view` `version` broken after its batch kept failing.
async fn break_after_retries(
    conn: &ConnInfo,
    budget: Duration,
    metrics: &Metrics,
    view: &str,
    version: i32,
    reason: &str,
) {
    tracing::error!(view, version, reason, "version broken");
    metrics.record_broken();
    let result = match summa_catalog::connect(conn, "summa-control", budget).await {
        Ok(client) => summa_catalog::mark_broken(&client, view, version, reason).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(view, version, error = %e, "cannot record the broken version");
    }
}

async fn run_once(
    conn: &ConnInfo,
    cfg: &ApplyConfig,
    metrics: &Arc<Metrics>,
    shutdown: &mut watch::Receiver<bool>,
    slot: &str,
) -> Result<SessionEnd, RunError> {
    let control = summa_catalog::connect(conn, "summa-control", cfg.statement_budget).await?;
    let Some(stream) = summa_catalog::list_streams(&control)
        .await?
        .into_iter()
        .find(|s| s.slot_name == slot)
    else {
        return Ok(SessionEnd::NoVersions);
    };
    let versions = summa_catalog::stream_versions(&control, slot).await?;
    if versions.is_empty() {
        return Ok(SessionEnd::NoVersions);
    }
    drop(control);
    let (session, repl) = Session::open(conn, cfg, metrics, &stream, versions).await?;
    session.run(repl, shutdown).await
}

/// Wait until every stream's slot has confirmed `lsn` (text form) or later, i.e. everything
/// committed before `lsn` is applied, and no joining version is still draining its pending
/// table (`summa_catalog::caught_up`). Returns false on timeout.
pub async fn wait_applied(
    client: &tokio_postgres::Client,
    lsn: &str,
    timeout: Duration,
) -> Result<bool, summa_catalog::CatalogError> {
    let started = Instant::now();
    loop {
        if summa_catalog::caught_up(client, lsn).await? {
            return Ok(true);
        }
        if started.elapsed() > timeout {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
