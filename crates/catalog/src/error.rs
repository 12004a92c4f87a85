use summa_plan::PlanError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("view {view}: {error}")]
    Plan { view: String, error: PlanError },
    #[error(
        "view {view}: table {table} does not log the old values of column(s) {columns} on UPDATE and DELETE \
         (REPLICA IDENTITY), so their changes cannot be subtracted from the summary.\n  \
         Run:  {fix_sql};\n  or pass --set-replica-identity-full to let summa run it"
    )]
    ReplicaIdentity {
        view: String,
        table: String,
        columns: String,
        fix_sql: String,
    },
    #[error("view {view}: {message}")]
    Invalid { view: String, message: String },
    #[error("{context}: {}", db_message(.error))]
    Db {
        context: String,
        error: tokio_postgres::Error,
    },
    #[error(transparent)]
    Connect(#[from] summa_stream::ConnError),
    #[error("replication: {context}: {error}")]
    Replication {
        context: String,
        error: summa_stream::PgWireError,
    },
    /// The server or the role lacks something summa needs (the message says how to fix it).
    #[error("{message}")]
    Setup { message: String },
    #[error("stored plan of {view} v{version} cannot be read: {error}")]
    StoredPlan {
        view: String,
        version: i32,
        error: summa_plan::StoredPlanError,
    },
}

/// Attach context to a database error.
pub(crate) trait DbContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, CatalogError>;
}

impl<T> DbContext<T> for Result<T, tokio_postgres::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, CatalogError> {
        self.map_err(|error| CatalogError::Db {
            context: context(),
            error,
        })
    }
}

/// Postgres' message (and detail) of a database error, for people. A statement cancelled by
/// `statement_timeout` says which setting bounded it and the usual cause.
pub fn db_message(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let text = match db.detail() {
                Some(detail) => {
                    format!("{} ({detail}; SQLSTATE {})", db.message(), db.code().code())
                }
                None => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            };
            if db.code() == &tokio_postgres::error::SqlState::QUERY_CANCELED
                && db.message().contains("statement timeout")
            {
                format!(
                    "{text}: the statement ran past statement_budget_ms; is a table it reads \
                     locked by another session (pg_locks), or is the budget too small?"
                )
            } else {
                text
            }
        }
        None => err.to_string(),
    }
}

impl CatalogError {
    /// Whether building again can fix it: a plan summa refuses, an invalid name, a missing
    /// replica identity or a statement the server rejects for good (by SQLSTATE) are
    /// definite; the connection, the replication stream, a server short of slots or locks,
    /// and a timeout are transient.
    pub fn retry_class(&self) -> summa_stream::RetryClass {
        use summa_stream::RetryClass;
        match self {
            CatalogError::Plan { .. }
            | CatalogError::ReplicaIdentity { .. }
            | CatalogError::Invalid { .. }
            | CatalogError::StoredPlan { .. } => RetryClass::Definite,
            CatalogError::Db { error, .. } => {
                RetryClass::of_db(error).unwrap_or(RetryClass::Transient)
            }
            CatalogError::Replication { error, .. } => RetryClass::of_replication(error),
            CatalogError::Connect(_) | CatalogError::Setup { .. } => RetryClass::Transient,
        }
    }

    /// The message for people, a planning error with the line of `sql` and a caret under
    /// the construct, as Postgres shows its own (what `summa create` prints and what
    /// `summa.status` shows for a refused `summa.define`).
    pub fn describe(&self, sql: &str) -> String {
        match self {
            CatalogError::Plan { view, error } => format!("view {view}:\n{}", error.render(sql)),
            other => other.to_string(),
        }
    }
}
