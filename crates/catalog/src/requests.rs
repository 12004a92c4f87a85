//! Building what `summa.define` asked for: the sidecar's half of the SQL API (`api.sql`).
//!
//! Invariant: each request becomes its version at most once, with the number `define`
//! returned. One session per database serves requests (it holds [`REQUESTS_LEASE`]); it claims
//! a waiting request (`building`, committed) and builds it with [`create_views`], which leaves
//! nothing behind when it fails. A sidecar killed mid-build leaves the request `building`:
//! the next server, on taking the lease (no one else can be building then), first removes
//! what the interrupted build left (`reap_abandoned`) and puts the request back to `waiting`;
//! a request whose version already exists was built, and is only marked done. Refusals
//! (definite errors) are recorded with the message `summa create` would print; transient
//! errors leave the request waiting with the reason, retried after [`RETRY_AFTER`].

use std::time::Duration;

use summa_stream::ConnInfo;
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::create::{create_views, CreateOptions, Requested, ViewSpec};
use crate::error::{CatalogError, DbContext};

/// Advisory lock key of the session that serves `summa.define` requests ("SUMMA2").
pub const REQUESTS_LEASE: i64 = 0x5355_4d4d_4132;

/// How often a waiting request is looked for.
const POLL: Duration = Duration::from_millis(500);

/// How long a request that failed transiently waits before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// One claimed request.
struct Claimed {
    id: i64,
    view: String,
    version: i32,
    schema: String,
    sql: String,
    role: String,
    /// Option `replica_identity_full` when given.
    replica_identity_full: Option<bool>,
    /// Option `readers`.
    readers: Vec<String>,
}

/// Serve requests until `shutdown`: `opts` are the sidecar's create options (summa.toml);
/// a request's own options (`schema`, `readers`, `replica_identity_full`) override them.
pub async fn serve_requests(
    conn: ConnInfo,
    opts: CreateOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut session: Option<Client> = None;
    let mut standby: Option<Client> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if session.is_none() {
            session = take_lease(&conn, &mut standby).await;
        }
        let idle = match session.as_mut() {
            Some(client) => match serve_one(&conn, client, &opts).await {
                Ok(served) => !served,
                Err(err) => {
                    tracing::warn!(error = %err, "serving summa.define requests; reconnecting");
                    session = None;
                    true
                }
            },
            None => true,
        };
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// A session holding [`REQUESTS_LEASE`], after recovering what a previous holder left;
/// `None` while another session holds it (`standby` keeps the connection that asks) or the
/// database cannot be reached.
async fn take_lease(conn: &ConnInfo, standby: &mut Option<Client>) -> Option<Client> {
    let mut client = match standby.take() {
        Some(client) if !client.is_closed() => client,
        _ => conn.connect("summa-define").await.ok()?,
    };
    let leased: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&REQUESTS_LEASE])
        .await
        .ok()?
        .get(0);
    if !leased {
        *standby = Some(client);
        return None;
    }
    match recover(&mut client).await {
        Ok(()) => Some(client),
        Err(err) => {
            tracing::warn!(error = %err, "recovering interrupted summa.define builds");
            None
        }
    }
}

/// Requests a previous server was building: what its build left is removed, and they wait
/// again (or are done, when their version was completed).
async fn recover(client: &mut Client) -> Result<(), CatalogError> {
    for reaped in crate::reap::reap_abandoned(client).await? {
        tracing::warn!(%reaped, "removed what an interrupted build left");
    }
    client
        .execute(
            "UPDATE summa.requests r SET state = CASE WHEN EXISTS (SELECT 1 FROM summa.versions v \
                 WHERE v.view_name = r.view_name AND v.version = r.version) THEN 'done' ELSE 'waiting' END, \
                 updated_at = now() \
             WHERE r.state = 'building'",
            &[],
        )
        .await
        .ctx(|| "recovering summa.define requests".into())?;
    Ok(())
}

/// Build the oldest waiting request, if any (true when one was taken). Errors are of the
/// serving session itself; a request's own failure is recorded on it.
async fn serve_one(
    conn: &ConnInfo,
    client: &mut Client,
    opts: &CreateOptions,
) -> Result<bool, CatalogError> {
    let Some(request) = claim(client).await? else {
        return Ok(false);
    };
    tracing::info!(view = %request.view, version = request.version, requested_by = %request.role,
        "building a version asked for with summa.define");
    let result = build(conn, client, opts, &request).await;
    let (state, error) = match &result {
        Ok(()) => ("done", None),
        Err(err) if err.retry_class().is_definite() => {
            tracing::warn!(view = %request.view, version = request.version, error = %err,
                "refused a summa.define request");
            ("refused", Some(err.describe(&request.sql)))
        }
        Err(err) => {
            tracing::warn!(view = %request.view, version = request.version, error = %err,
                "a summa.define request failed; it is tried again");
            (
                "waiting",
                Some(format!(
                    "failed, tried again every {} s: {}",
                    RETRY_AFTER.as_secs(),
                    err.describe(&request.sql)
                )),
            )
        }
    };
    client
        .execute(
            "UPDATE summa.requests SET state = $2, error = $3, updated_at = now() \
             WHERE id = $1 AND state = 'building'",
            &[&request.id, &state, &error],
        )
        .await
        .ctx(|| {
            format!(
                "recording the outcome of {} v{}",
                request.view, request.version
            )
        })?;
    Ok(true)
}

/// The oldest waiting request (a failed one only after [`RETRY_AFTER`]), now `building`.
async fn claim(client: &Client) -> Result<Option<Claimed>, CatalogError> {
    let row = client
        .query_opt(
            "UPDATE summa.requests SET state = 'building', attempts = attempts + 1, updated_at = now() \
             WHERE id = (SELECT id FROM summa.requests WHERE state = 'waiting' \
                          AND (error IS NULL OR updated_at <= now() - make_interval(secs => $1)) \
                          ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, view_name, version, schema_name, sql, requested_by::text, \
                 (options->>'replica_identity_full')::boolean, \
                 ARRAY(SELECT jsonb_array_elements_text(coalesce(options->'readers', '[]')))",
            &[&RETRY_AFTER.as_secs_f64()],
        )
        .await
        .ctx(|| "claiming a summa.define request".into())?;
    Ok(row.map(|r| Claimed {
        id: r.get(0),
        view: r.get(1),
        version: r.get(2),
        schema: r.get(3),
        sql: r.get(4),
        role: r.get(5),
        replica_identity_full: r.get(6),
        readers: r.get(7),
    }))
}

/// `summa create` of the request, as its requester, with its number.
async fn build(
    conn: &ConnInfo,
    client: &mut Client,
    opts: &CreateOptions,
    request: &Claimed,
) -> Result<(), CatalogError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM summa.versions WHERE view_name = $1 AND version = $2)",
            &[&request.view, &request.version],
        )
        .await
        .ctx(|| format!("reading {} v{}", request.view, request.version))?
        .get(0);
    if exists {
        return Ok(());
    }
    let mut opts = opts.clone();
    opts.schema = request.schema.clone();
    opts.show_progress = false;
    if let Some(full) = request.replica_identity_full {
        opts.set_replica_identity_full = full;
    }
    opts.requested = Some(Requested {
        version: request.version,
        role: request.role.clone(),
        readers: request.readers.clone(),
    });
    let spec = ViewSpec {
        name: request.view.clone(),
        sql: request.sql.clone(),
    };
    create_views(conn, client, &[spec], &opts).await.map(|_| ())
}
