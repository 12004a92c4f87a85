//! The statement budget (invariant 4): every statement summa issues runs under
//! `statement_timeout = statement_budget_ms`. Commands open their catalog session with
//! [`connect`], which bounds the whole session; `create_views` bounds its own statements
//! (planner probes, registration, backfill chunks, ANALYZE) with `CreateOptions::statement_budget`
//! and gives the caller's session its previous setting back. A statement that runs past the
//! budget (a table locked by another session, a budget too small) fails with a message that
//! names `statement_budget_ms` (see `db_message`).

use std::time::Duration;

use summa_stream::ConnInfo;
use tokio_postgres::{Client, GenericClient};

use crate::error::{CatalogError, DbContext};

/// A session for catalog work whose every statement runs under `budget`.
pub async fn connect(
    conn: &ConnInfo,
    application_name: &str,
    budget: Duration,
) -> Result<Client, CatalogError> {
    let client = conn.connect(application_name).await?;
    set_statement_budget(&client, budget).await?;
    Ok(client)
}

/// Bound every later statement of this session by `budget` (its `statement_timeout`).
pub async fn set_statement_budget(
    client: &impl GenericClient,
    budget: Duration,
) -> Result<(), CatalogError> {
    client
        .execute(
            "SELECT set_config('statement_timeout', $1, false)",
            &[&budget.as_millis().max(1).to_string()],
        )
        .await
        .ctx(|| "setting statement_timeout to the statement budget".into())?;
    Ok(())
}

/// The session's `statement_timeout` now (to give it back later with [`restore`]).
pub(crate) async fn current(client: &impl GenericClient) -> Result<String, CatalogError> {
    Ok(client
        .query_one("SELECT current_setting('statement_timeout')", &[])
        .await
        .ctx(|| "reading statement_timeout".into())?
        .get(0))
}

/// Give the session back the `statement_timeout` [`current`] read (best effort: a closed
/// session has nothing to give back).
pub(crate) async fn restore(client: &impl GenericClient, previous: &str) {
    let _ = client
        .execute(
            "SELECT set_config('statement_timeout', $1, false)",
            &[&previous],
        )
        .await;
}
