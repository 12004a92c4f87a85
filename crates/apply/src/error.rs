//! The engine's errors, each with its retry class (`summa_stream::RetryClass`) and context.
//!
//! A failed statement of one version becomes a [`VersionError`] (view, version, the batch's
//! LSN, what was being done, Postgres' message): definite ones break only that version (the
//! session records it and restarts without it); transient ones are replayed by the runner
//! after a backoff and counted against `apply.max_attempts`. Everything else is the stream's
//! or the connection's ([`RunError`]): reconnect with backoff, or stop when definite.

use summa_catalog::CatalogError;
use summa_stream::{pgoutput::DecodeError, ConnError, Lsn, PgWireError, RetryClass};

use crate::version::VersionRuntime;

/// A version's work failed.
#[derive(Debug, thiserror::Error)]
#[error("{view} v{version}{}: {reason}", .lsn.map(|l| format!(" at {l}")).unwrap_or_default())]
pub struct VersionError {
    pub view: String,
    pub version: i32,
    /// End LSN of the batch it failed in.
    pub lsn: Option<Lsn>,
    pub class: RetryClass,
    pub reason: String,
}

/// The error of version `v`'s statement while `doing` (`None`: the connection failed, or the
/// target refuses every write, which is nobody's version).
pub(crate) fn version_error(
    v: &VersionRuntime,
    lsn: Option<Lsn>,
    doing: &str,
    err: &tokio_postgres::Error,
) -> Option<VersionError> {
    if err
        .code()
        .is_some_and(|c| summa_stream::retry::refuses_every_write(c.code()))
    {
        return None;
    }
    let class = RetryClass::of_db(err)?;
    Some(VersionError {
        view: v.record.view.clone(),
        version: v.record.version,
        lsn,
        class,
        reason: format!("{doing} failed: {}", summa_catalog::db_message(err)),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] ConnError),
    #[error("target database: {}", summa_catalog::db_message(.0))]
    Db(tokio_postgres::Error),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("replication: {0}")]
    Replication(#[from] PgWireError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the replication stream ended")]
    StreamEnded,
    /// One version's work failed: definite (already recorded as broken; the session restarts
    /// without it) or transient (the batch is replayed, and after `max_attempts` the version
    /// is marked broken).
    #[error("version {0}")]
    Version(VersionError),
    /// The stream's versions changed under an open batch; it is applied again after reload.
    #[error("the stream's versions changed; reloading")]
    VersionsChanged,
}

impl From<tokio_postgres::Error> for RunError {
    fn from(err: tokio_postgres::Error) -> Self {
        RunError::Db(err)
    }
}

impl RunError {
    /// Whether the stream can go on: a definite replication error (the slot or publication is
    /// gone, credentials are wrong) stops it; everything else is retried.
    pub fn is_definite(&self) -> bool {
        match self {
            RunError::Replication(err) => RetryClass::of_replication(err).is_definite(),
            _ => false,
        }
    }
}
