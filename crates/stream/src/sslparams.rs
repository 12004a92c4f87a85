//! The libpq TLS parameters of a database URL, taken out before tokio-postgres parses the rest.
//!
//! tokio-postgres knows `sslmode` = disable | prefer | require only and no certificate
//! files, so `sslmode`, `sslrootcert`, `sslcert` and `sslkey` are removed here (from a
//! `postgres://…?k=v` URL or a `k=v k=v` connection string) and the remainder is handed on.

use std::path::PathBuf;

use crate::conn::ConnError;
use crate::secret::{self, host_start, url_body, PercentError};

/// libpq's `sslmode`, without `allow` (plaintext first) which nobody should want.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it, unverified; plaintext otherwise. libpq's default.
    #[default]
    Prefer,
    /// TLS or fail; the certificate is not verified (unless `sslrootcert` is given, as libpq).
    Require,
    /// TLS with the certificate chain verified against `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<Self, ConnError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(ConnError::BadUrl(format!(
                    "sslmode {other:?} is not supported (use disable, prefer, require, \
                     verify-ca or verify-full)"
                )))
            }
        })
    }
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// `sslrootcert=PATH`: the PEM certificates in that file.
    File(PathBuf),
    /// No `sslrootcert`, or `sslrootcert=system`: the Mozilla roots built into the binary.
    Builtin,
}

/// The TLS parameters of one URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SslParams {
    pub mode: SslMode,
    pub root_cert: Option<RootCerts>,
    /// Client certificate and key (`sslcert`, `sslkey`), both or neither.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

const KEYS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Split `url` into the TLS parameters and the rest of the URL; also the password of a
/// key=value string (for [`crate::secret::redact`]; a URL's is found by
/// [`crate::secret::check_url_credentials`]).
pub fn take_ssl_params(url: &str) -> Result<(String, SslParams, Vec<String>), ConnError> {
    let (rest, pairs, secrets) = if url_body(url).is_some() {
        let (rest, pairs) = split_url(url)?;
        (rest, pairs, Vec::new())
    } else {
        split_key_values(url)?
    };
    let get = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
    let mode = get("sslmode")
        .map(|v| SslMode::parse(v))
        .transpose()?
        .unwrap_or_default();
    let root_cert = get("sslrootcert").map(|v| match v.as_str() {
        "system" => RootCerts::Builtin,
        path => RootCerts::File(PathBuf::from(path)),
    });
    if root_cert == Some(RootCerts::Builtin)
        && !matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull)
    {
        return Err(ConnError::BadUrl(format!(
            "sslrootcert=system needs sslmode=verify-full or verify-ca, not {}",
            mode.as_str()
        )));
    }
    let client_cert = match (get("sslcert"), get("sslkey")) {
        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => None,
        _ => {
            return Err(ConnError::BadUrl(
                "sslcert and sslkey must be given together".into(),
            ))
        }
    };
    let params = SslParams {
        mode,
        root_cert,
        client_cert,
    };
    Ok((rest, params, secrets))
}

type Pairs = Vec<(String, String)>;

/// `postgres://…?a=1&sslmode=x#f` → (`postgres://…?a=1#f`, [sslmode=x]). The query starts
/// at the first `?` after the credentials, so a `?` or `&` in a password stays in it.
fn split_url(url: &str) -> Result<(String, Pairs), ConnError> {
    let body = url_body(url).unwrap_or(url);
    let scheme = url.len() - body.len();
    let host = scheme + host_start(body);
    let Some(q) = url[host..].find('?').map(|i| host + i) else {
        return Ok((url.to_string(), Vec::new()));
    };
    let (base, query) = (&url[..q], &url[q + 1..]);
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if KEYS.contains(&key) {
            taken.push((key.to_string(), percent_decode(value)?));
        } else {
            kept.push(part);
        }
    }
    let mut rest = base.to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        rest.push('#');
        rest.push_str(f);
    }
    Ok((rest, taken))
}

fn percent_decode(value: &str) -> Result<String, ConnError> {
    secret::percent_decode(value).map_err(|e| {
        ConnError::BadUrl(match e {
            PercentError::BadEscape => "invalid percent-encoding in a TLS parameter".into(),
            PercentError::NotUtf8 => "a TLS parameter is not valid UTF-8".into(),
        })
    })
}

/// The parameters tokio-postgres knows besides [`KEYS`]; a key=value string with another
/// word is refused here, where the message can avoid quoting a piece of a password.
const OTHER_KEYS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// `host=h sslmode='x' user=u` → (`host='h' user='u'`, [sslmode=x], passwords). Values are
/// re-quoted, so quoting and `\` escapes in the input survive. No error quotes a word of the
/// input: an unquoted password with a space reads as a password and a stray word.
fn split_key_values(s: &str) -> Result<(String, Pairs, Vec<String>), ConnError> {
    const QUOTE_HINT: &str = "quote a value that holds spaces: password='a b'";
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    let mut secrets = Vec::new();
    let mut after_password = false;
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConnError::BadUrl(format!(
                "expected key=value in the connection string ({QUOTE_HINT})"
            )));
        }
        if !KEYS.contains(&key.as_str()) && !OTHER_KEYS.contains(&key.as_str()) {
            return Err(ConnError::BadUrl(if after_password {
                format!("unknown connection parameter after the password ({QUOTE_HINT})")
            } else {
                format!("unknown connection parameter {key:?}")
            }));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(ConnError::BadUrl(
                            "unterminated quoted value in the connection string".into(),
                        ))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        after_password = key == "password";
        if after_password {
            secrets.push(value.clone());
        }
        if KEYS.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{key}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), taken, secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(url: &str) -> (String, SslParams) {
        let (rest, params, _) = take_ssl_params(url).unwrap();
        (rest, params)
    }

    #[test]
    fn default_is_prefer_and_the_url_is_unchanged() {
        let url = "postgres://u:pw@h:5/db?application_name=x";
        assert_eq!(take(url), (url.to_string(), SslParams::default()));
        assert_eq!(SslParams::default().mode, SslMode::Prefer);
    }

    #[test]
    fn url_parameters_are_taken_out() {
        let (rest, p) = take(
            "postgresql://u@h/db?sslmode=verify-full&connect_timeout=3&sslrootcert=/x%20y/ca.pem",
        );
        assert_eq!(rest, "postgresql://u@h/db?connect_timeout=3");
        assert_eq!(p.mode, SslMode::VerifyFull);
        assert_eq!(p.root_cert, Some(RootCerts::File("/x y/ca.pem".into())));
        let (rest, p) = take("postgres://h/db?sslmode=require");
        assert_eq!(
            (rest.as_str(), p.mode),
            ("postgres://h/db", SslMode::Require)
        );
    }

    #[test]
    fn key_value_strings_are_supported() {
        let (rest, p) =
            take(r"host=h  sslmode = verify-ca password='a b\'c' sslrootcert='/ca.pem'");
        assert_eq!(rest, r"host='h' password='a b\'c'");
        assert_eq!(p.mode, SslMode::VerifyCa);
        assert_eq!(p.root_cert, Some(RootCerts::File("/ca.pem".into())));
    }

    #[test]
    fn bad_values_are_named_without_the_url() {
        let err = |url: &str| take_ssl_params(url).unwrap_err().to_string();
        let e = err("postgres://u:secret@h/db?sslmode=allow");
        assert!(e.contains("sslmode \"allow\" is not supported"), "{e}");
        assert!(!e.contains("secret"));
        assert!(err("postgres://h/db?sslcert=/c.pem").contains("sslcert and sslkey"));
        assert!(err("postgres://h/db?sslrootcert=system&sslmode=require")
            .contains("sslrootcert=system needs sslmode=verify-full"));
        assert!(err("host=h password='x").contains("unterminated"));
    }
}
