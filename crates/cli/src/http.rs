//! The sidecar's HTTP endpoint (`metrics_address`): `/metrics` in Prometheus text format and
//! `/health` for readiness probes. A deliberately small HTTP/1.1 server: GET only, one request
//! per connection.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use summa_apply::Metrics;
use summa_stream::ConnInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// What every request needs: the process's counters and a connection for catalog reads.
struct State {
    metrics: Arc<Metrics>,
    conn: ConnInfo,
    client: Mutex<Option<tokio_postgres::Client>>,
    max_lag_seconds: f64,
    /// `statement_budget_ms`: the catalog reads of a scrape are bounded like every statement.
    budget: Duration,
}

/// Bind `address` and serve until the process ends. Binding errors are returned at once (a
/// wrong or busy address is a configuration error).
pub async fn serve(
    address: &str,
    metrics: Arc<Metrics>,
    conn: ConnInfo,
    max_lag_seconds: f64,
    budget: Duration,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("metrics_address {address}: cannot listen: {e}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics and /health");
    let state = Arc::new(State {
        metrics,
        conn,
        client: Mutex::new(None),
        max_lag_seconds,
        budget,
    });
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(30), handle(socket, &state)).await;
            });
        }
    });
    Ok(())
}

async fn handle(mut socket: TcpStream, state: &State) -> std::io::Result<()> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
        let n = socket.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => match render_metrics(state).await {
            Ok(text) => ("200 OK", "text/plain; version=0.0.4", text),
            Err(e) => (
                "503 Service Unavailable",
                "text/plain",
                format!("summa_up 0\n# {e}\n"),
            ),
        },
        ("GET", "/health") => {
            let (ready, body) = health(state).await;
            let status = if ready {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, "application/json", body)
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /health\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// Run `f` on the shared catalog connection, reconnecting once if it was lost.
async fn with_client<T>(
    state: &State,
    f: impl AsyncFn(&tokio_postgres::Client) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut guard = state.client.lock().await;
    if guard.as_ref().is_none_or(|c| c.is_closed()) {
        *guard = Some(summa_catalog::connect(&state.conn, "summa-metrics", state.budget).await?);
    }
    let client = guard.as_ref().expect("connected above");
    let result = f(client).await;
    if result.is_err() && client.is_closed() {
        *guard = None;
    }
    result
}

async fn read_catalog(
    state: &State,
) -> anyhow::Result<(
    Vec<summa_catalog::StatusRow>,
    Vec<summa_catalog::SlotRetention>,
)> {
    with_client(state, async |client| {
        let versions = summa_catalog::status(client, None).await?;
        let slots = summa_catalog::slot_retention(client).await?;
        Ok((versions, slots))
    })
    .await
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

async fn render_metrics(state: &State) -> anyhow::Result<String> {
    let m = &state.metrics;
    let mut out = String::new();
    let catalog = read_catalog(state).await;
    family(
        &mut out,
        "summa_up",
        "gauge",
        "1 when the catalog could be read for this scrape.",
    );
    let _ = writeln!(out, "summa_up {}", u8::from(catalog.is_ok()));
    family(
        &mut out,
        "summa_lease_held",
        "gauge",
        "1 when this sidecar applies (holds the lease), 0 on standby.",
    );
    let _ = writeln!(
        out,
        "summa_lease_held {}",
        u8::from(m.lease_held.load(Ordering::Relaxed))
    );
    family(
        &mut out,
        "summa_streaming_sessions",
        "gauge",
        "Replication sessions streaming now.",
    );
    let _ = writeln!(
        out,
        "summa_streaming_sessions {}",
        m.streaming.load(Ordering::Relaxed)
    );
    for (name, help, value) in [
        (
            "summa_changes_applied_total",
            "Source row changes applied and committed.",
            &m.applied_changes,
        ),
        (
            "summa_batches_applied_total",
            "Batches committed to the summaries.",
            &m.batches,
        ),
        (
            "summa_merges_total",
            "Merge statements run (a large source transaction is merged in parts).",
            &m.merges,
        ),
        (
            "summa_recomputed_groups_total",
            "Groups whose min/max was recomputed from their value table.",
            &m.recomputed_groups,
        ),
        (
            "summa_view_row_deltas_total",
            "View-row deltas merged: rows of a view's FROM/WHERE output (or partial groups of an eager join) a batch changed; over summa_changes_applied_total, the fan-out.",
            &m.view_row_deltas,
        ),
        (
            "summa_truncate_resets_total",
            "Summaries reset at a TRUNCATE of their source.",
            &m.truncate_resets,
        ),
        (
            "summa_versions_broken_total",
            "Versions this process marked broken.",
            &m.versions_broken,
        ),
        (
            "summa_retries_total",
            "Batches or sessions retried after an error.",
            &m.retries,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
    }
    family(
        &mut out,
        "summa_batch_duration_seconds",
        "histogram",
        "Time from a batch's first change to its commit.",
    );
    let (buckets, sum, count) = m.batch_seconds.snapshot();
    for (le, n) in buckets {
        let le = if le.is_infinite() {
            "+Inf".to_string()
        } else {
            le.to_string()
        };
        let _ = writeln!(
            out,
            "summa_batch_duration_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "summa_batch_duration_seconds_sum {sum}\nsumma_batch_duration_seconds_count {count}"
    );
    for (name, help, micros) in [
        (
            "summa_longest_batch_seconds",
            "The longest batch (first change to commit) since this process started.",
            &m.longest_batch_micros,
        ),
        (
            "summa_longest_merge_seconds",
            "The longest merge statement since this process started (statement_budget_ms bounds it).",
            &m.longest_merge_micros,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {}", micros.load(Ordering::Relaxed) as f64 / 1e6);
    }
    let (versions, slots) = catalog?;
    family(
        &mut out,
        "summa_version_state",
        "gauge",
        "1 for each version's current state.",
    );
    for v in &versions {
        let _ = writeln!(
            out,
            "summa_version_state{{view=\"{}\",version=\"{}\",state=\"{}\"}} 1",
            label(&v.view),
            v.version,
            label(&v.state)
        );
    }
    family(
        &mut out,
        "summa_version_lag_bytes",
        "gauge",
        "WAL bytes between the server's position and what the version has applied.",
    );
    family(
        &mut out,
        "summa_version_lag_seconds",
        "gauge",
        "Seconds since the version's stream last had nothing left to apply (0 when caught up).",
    );
    for v in versions
        .iter()
        .filter(|v| v.state == "live" || v.state == "catching_up")
    {
        let labels = format!("view=\"{}\",version=\"{}\"", label(&v.view), v.version);
        if let Some(bytes) = v.lag_bytes {
            let _ = writeln!(out, "summa_version_lag_bytes{{{labels}}} {bytes}");
        }
        if let Some(secs) = v.lag_seconds {
            let _ = writeln!(out, "summa_version_lag_seconds{{{labels}}} {secs}");
        }
    }
    family(
        &mut out,
        "summa_slot_retained_wal_bytes",
        "gauge",
        "WAL the stream's slot keeps on the server (current position minus restart_lsn).",
    );
    for s in &slots {
        let _ = writeln!(
            out,
            "summa_slot_retained_wal_bytes{{slot=\"{}\",wal_status=\"{}\"}} {}",
            label(&s.slot),
            label(&s.wal_status),
            s.retained_bytes.unwrap_or(0)
        );
    }
    Ok(out)
}

/// Ready: this sidecar holds the lease, the catalog is readable, and every live version is
/// within `health_max_lag_seconds`.
async fn health(state: &State) -> (bool, String) {
    let lease = state.metrics.lease_held.load(Ordering::Relaxed);
    let versions = read_catalog(state).await.map(|(v, _)| v);
    let (ready, reason) = match (&versions, lease) {
        (Err(e), _) => (false, format!("cannot read the catalog: {e}")),
        (_, false) => (false, "standby: another sidecar holds the lease".into()),
        (Ok(versions), true) => match versions
            .iter()
            .find(|v| v.state == "live" && v.lag_seconds.unwrap_or(0.0) > state.max_lag_seconds)
        {
            Some(v) => (
                false,
                format!(
                    "{} v{} lags {:.1}s",
                    v.view,
                    v.version,
                    v.lag_seconds.unwrap_or(0.0)
                ),
            ),
            None => (true, "ok".into()),
        },
    };
    let json = serde_json::json!({ "ready": ready, "reason": reason });
    (ready, format!("{json}\n"))
}
