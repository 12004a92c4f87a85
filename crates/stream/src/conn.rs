//! Connection settings from one database URL, for ordinary and replication connections.
//!
//! The libpq TLS parameters (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) are taken out of
//! the URL first ([`crate::sslparams`]) and apply to both kinds ([`crate::tls`]).

use std::str::FromStr;
use std::time::Duration;

use pgwire_replication::{Lsn, ReplicationConfig};
use tokio_postgres::config::Host;
use tokio_postgres::Client;

use crate::names::{check_slot_name, publication_ident, slot_ident};
use crate::sslparams::{take_ssl_params, SslMode};
use crate::tls::Tls;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
    /// TLS was the reason a connection failed (no SSL on the server, a certificate refused).
    #[error("cannot connect to {target}: {reason}")]
    Tls { target: String, reason: String },
    /// A certificate file named in the URL is missing or unusable.
    #[error("{param} {path}: {reason}")]
    TlsFile {
        param: &'static str,
        path: String,
        reason: String,
    },
}

/// Where the database is and who we are; never prints the password.
#[derive(Clone)]
pub struct ConnInfo {
    config: tokio_postgres::Config,
    tls: Tls,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ConnInfo({} sslmode={})",
            self.display(),
            self.tls.mode().as_str()
        )
    }
}

/// Settings every replication session runs with, so values arrive in one text format
/// whatever the server's defaults (what PostgreSQL's own apply worker does).
const WALSENDER_OPTIONS: &str =
    "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3";

impl ConnInfo {
    pub fn parse(url: &str) -> Result<Self, ConnError> {
        let (rest, ssl) = take_ssl_params(url)?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| ConnError::BadUrl(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(ConnError::BadUrl("no host given".into()));
        }
        let tls = Tls::new(ssl)?;
        config.ssl_mode(tls.postgres_mode());
        Ok(ConnInfo { config, tls })
    }

    /// The `sslmode` in force (`prefer` when the URL names none).
    pub fn ssl_mode(&self) -> SslMode {
        self.tls.mode()
    }

    /// `user@host:port/db`, without credentials.
    pub fn display(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.config.get_user().unwrap_or("?"),
            self.host(),
            self.port(),
            self.database()
        )
    }

    fn host(&self) -> String {
        match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        }
    }

    fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    pub fn database(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }

    pub fn user(&self) -> String {
        self.config.get_user().unwrap_or("postgres").to_string()
    }

    /// An ordinary connection; its driver task runs in the background.
    pub async fn connect(&self, application_name: &str) -> Result<Client, ConnError> {
        let mut config = self.config.clone();
        config.application_name(application_name);
        config.connect_timeout(Duration::from_secs(10));
        config.keepalives_idle(Duration::from_secs(30));
        let (client, connection) =
            config
                .connect(self.tls.connector())
                .await
                .map_err(|source| match self.tls.failure_reason(&source) {
                    Some(reason) => ConnError::Tls {
                        target: self.display(),
                        reason,
                    },
                    None => ConnError::Connect {
                        target: self.display(),
                        source,
                    },
                })?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "database connection ended");
            }
        });
        Ok(client)
    }

    /// Settings for a replication session on `slot`, reading `publication`, starting at
    /// `start` (the durable position; also what the slot is told we have applied).
    pub fn replication(&self, slot: &str, publication: &str, start: Lsn) -> ReplicationConfig {
        let password = self
            .config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let host = self.host();
        // `pgwire-replication` pastes both names into START_REPLICATION as given.
        ReplicationConfig::new(
            host.clone(),
            self.user(),
            password,
            self.database(),
            slot_ident(slot),
            publication_ident(publication),
        )
        .with_port(self.port())
        .with_tls(self.tls.replication(&host))
        .with_start_lsn(start)
        .with_ack_lsn(start)
        .with_options(WALSENDER_OPTIONS)
        .with_status_interval(Duration::from_secs(1))
        .with_wakeup_interval(Duration::from_secs(1))
        .with_buffer_size(4096)
        .with_application_name(match check_slot_name(slot) {
            Ok(()) => format!("summa:{slot}"),
            Err(_) => "summa".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_commands_get_quoted_names() {
        let conn = ConnInfo::parse("postgres://u@h/db").unwrap();
        let cfg = conn.replication("summa_1_2", "My Pub", Lsn(0));
        assert_eq!(cfg.slot, "\"summa_1_2\"");
        assert_eq!(cfg.publication.names(), ["\"My Pub\""]);
        assert_eq!(cfg.application_name.as_deref(), Some("summa:summa_1_2"));
        let hostile = conn.replication("s LOGICAL 0/0; x\n", "p", Lsn(0));
        assert_eq!(hostile.slot, "\"s LOGICAL 0/0; x\n\"");
        assert_eq!(hostile.application_name.as_deref(), Some("summa"));
    }
}
