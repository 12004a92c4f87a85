//! The retry class of every error at the edge to Postgres, by SQLSTATE (STYLE.md #3).
//!
//! - **Definite**: retrying cannot fix it; the version it belongs to is wrong or blocked and is
//!   marked broken with the reason (data exceptions 22, integrity violations 23, syntax,
//!   undefined objects and missing privileges 42, unsupported features 0A, invalid
//!   authorization 28, invalid catalog name 3D).
//! - **Transient**: it may pass; the work is retried with backoff and counted against
//!   `apply.max_attempts` (statement and lock timeouts, deadlocks and serialization failures,
//!   resources, operator intervention, and every other server error).
//!
//! An error without a SQLSTATE is the connection itself (closed, I/O): it is transient, and the
//! session reconnects; it is not charged to any version. Neither is an error of a target that
//! refuses every write for now ([`refuses_every_write`]: read-only, shutting down, disk full).
//!
//! The streaming edge (pgwire-replication) reports server errors as text that carries the
//! SQLSTATE field (`… (SQLSTATE 42704)`); [`sqlstate_in`] reads that field back.

/// Whether retrying can fix an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// This version is wrong and stays wrong: broken with the reason.
    Definite,
    /// May pass: retry with backoff, counted.
    Transient,
}

impl RetryClass {
    /// The class of a SQLSTATE.
    pub fn of_sqlstate(code: &str) -> RetryClass {
        match code.get(..2) {
            Some("22" | "23" | "42" | "0A" | "28" | "3D") => RetryClass::Definite,
            _ => RetryClass::Transient,
        }
    }

    /// The class of a database error; `None` when it carries no SQLSTATE (the connection
    /// failed, not a statement).
    pub fn of_db(err: &tokio_postgres::Error) -> Option<RetryClass> {
        err.code().map(|c| RetryClass::of_sqlstate(c.code()))
    }

    /// The class of a replication error: server errors by their SQLSTATE, authentication
    /// failures definite, everything else (I/O, protocol, timeouts) transient.
    pub fn of_replication(err: &pgwire_replication::PgWireError) -> RetryClass {
        use pgwire_replication::PgWireError as E;
        match err {
            E::Auth(_) => RetryClass::Definite,
            E::Server(text) => {
                sqlstate_in(text).map_or(RetryClass::Transient, RetryClass::of_sqlstate)
            }
            _ => RetryClass::Transient,
        }
    }

    pub fn is_definite(self) -> bool {
        self == RetryClass::Definite
    }
}

/// The SQLSTATE field of a server error rendered as text (`… SQLSTATE 42704 …`).
pub fn sqlstate_in(text: &str) -> Option<&str> {
    let at = text.find("SQLSTATE ")? + "SQLSTATE ".len();
    let code = text.get(at..at + 5)?;
    code.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .then_some(code)
}

/// SQLSTATEs of a target that refuses every write for now, whatever the version: read-only
/// (25006: `default_transaction_read_only`, a server in recovery), shutting down or starting
/// (57P01, 57P02, 57P03), disk full (53100). The stream retries with backoff for as long as it
/// lasts (`summa_retries_total`); charging it to the version would mark healthy versions
/// broken after `apply.max_attempts`.
pub fn refuses_every_write(code: &str) -> bool {
    matches!(code, "25006" | "57P01" | "57P02" | "57P03" | "53100")
}

/// Statement timeout (`statement_timeout` reached): the work was too big for the budget.
pub fn is_statement_timeout(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_sqlstate() {
        for definite in [
            "22012", "23505", "42P01", "42501", "0A000", "28P01", "3D000",
        ] {
            assert_eq!(
                RetryClass::of_sqlstate(definite),
                RetryClass::Definite,
                "{definite}"
            );
        }
        for transient in [
            "57014", "55P03", "40001", "40P01", "53100", "57P01", "XX000", "08006",
        ] {
            assert_eq!(
                RetryClass::of_sqlstate(transient),
                RetryClass::Transient,
                "{transient}"
            );
        }
    }

    #[test]
    fn sqlstate_from_server_text() {
        assert_eq!(
            sqlstate_in("replication slot \"x\" does not exist (SQLSTATE 42704)"),
            Some("42704")
        );
        assert_eq!(sqlstate_in("no code here"), None);
        assert_eq!(sqlstate_in("SQLSTATE 12"), None);
    }
}
