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
use crate::secret::{check_url_credentials, redact};
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

/// tokio-postgres's message and the cause it keeps as the error's source ("invalid value for
/// option `port`"): the first alone says only "invalid connection string".
fn with_cause(err: &tokio_postgres::Error) -> String {
    match std::error::Error::source(err) {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}

/// Settings every replication session runs with, so values arrive in one text format
/// whatever the server's defaults (what PostgreSQL's own apply worker does).
const WALSENDER_OPTIONS: &str =
    "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3";

impl ConnInfo {
    /// Parse a `postgres://` URL or a key=value string. No error quotes the password
    /// ([`crate::secret`]).
    pub fn parse(url: &str) -> Result<Self, ConnError> {
        let mut secrets = check_url_credentials(url)?;
        let (rest, ssl, more) = take_ssl_params(url)?;
        secrets.extend(more);
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| ConnError::BadUrl(redact(&with_cause(&e), &secrets)))?;
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

    /// A password made of every character that trips a URL parser.
    const PASSWORD: &str = "p@ss:w/rd %40 ?&#=ü✓'\"\\";

    fn encoded(password: &str) -> String {
        password
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    fn password_of(conn: &ConnInfo) -> String {
        String::from_utf8(conn.config.get_password().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn odd_passwords_parse_and_never_show() {
        let url = format!(
            "postgres://summa:{}@db.internal:6543/app?sslmode=disable&application_name=x",
            encoded(PASSWORD)
        );
        let conn = ConnInfo::parse(&url).unwrap();
        assert_eq!(password_of(&conn), PASSWORD);
        assert_eq!(conn.display(), "summa@db.internal:6543/app");
        assert_eq!(conn.ssl_mode(), SslMode::Disable);
        assert_eq!(conn.replication("s", "p", Lsn(0)).password, PASSWORD);
        assert!(!format!("{conn:?}").contains("ss:w"));
        // Only `@` must be encoded: `:`, `/`, `?`, `&`, `#` and spaces may be written as is.
        let raw = "postgres://summa:a:b/c?d&e#f g%40h@db/app?sslmode=require";
        let conn = ConnInfo::parse(raw).unwrap();
        assert_eq!(password_of(&conn), "a:b/c?d&e#f g@h");
        assert_eq!(conn.ssl_mode(), SslMode::Require);
        assert_eq!(conn.display(), "summa@db:5432/app");
        // The key=value form, quoted.
        let kv = r"host=db user=summa password='p@ss:w/rd %40 \'x' dbname=app";
        let conn = ConnInfo::parse(kv).unwrap();
        assert_eq!(password_of(&conn), "p@ss:w/rd %40 'x");
        assert_eq!(conn.display(), "summa@db:5432/app");
    }

    #[test]
    fn parse_errors_never_hold_the_password() {
        let secret = "Sekr1tPw";
        for (url, expect) in [
            (format!("postgres://u:{secret}@h:notaport/db"), "port"),
            (
                format!("postgres://u:{secret}@h/db?sslmode=sometimes"),
                "sslmode",
            ),
            (format!("postgres://u:{secret}%zz@h/db"), "percent-encoding"),
            (format!("postgres://u:{secret}%FF@h/db"), "UTF-8"),
            (
                format!("postgres://u:{secret}@h/db?sslmode=%zz"),
                "percent-encoding",
            ),
            (
                format!("postgres://u:{secret}@h/db?frobnicate=1"),
                "frobnicate",
            ),
            (
                format!("postgres://u:{secret}@h/db?connect_timeout=soon"),
                "connect_timeout",
            ),
            (format!("postgres://u:{secret}@h/%FF"), "utf-8"),
            (format!("postgres://u:{secret}@h@x/db"), "%40"),
            (format!("postgres://u:{secret}@[::1/db"), "host"),
            (format!("host=h password={secret} port=x"), "port"),
            (format!("host=h password={secret} frobnicate=1"), "unknown"),
            (format!("host=h password='{secret}"), "unterminated"),
            (format!("host=h password=my {secret}"), "key=value"),
            (
                format!("host=h password=my {secret}=x"),
                "after the password",
            ),
            (format!("host=h password={secret} sslmode=maybe"), "sslmode"),
        ] {
            let err = ConnInfo::parse(&url).unwrap_err().to_string();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(!err.contains(secret), "{url}: {err}");
        }
    }

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
