//! The password of a database URL: checked before anything else reads the URL, and kept out
//! of every message.
//!
//! URL parse errors are the easy place to leak one (an error that quotes the text around a bad
//! character quotes the password with it), so: the credentials of a `postgres://` URL are
//! checked here first with errors that name the problem and never the text; a key=value
//! string's tokenizer ([`crate::sslparams`]) never quotes a word; and whatever message
//! tokio-postgres's parser returns is passed through [`redact`] with the password in every
//! form it was written, as a last line of defence. [`crate::ConnInfo::display`] has no
//! password to show.
//!
//! As in libpq and tokio-postgres, the credentials end at the first `@`: an `@`, `?`, `#` or
//! `/` in a password is fine when `@` is written `%40`; a second `@` in the host is refused
//! rather than read as a host name made of the password's tail.

use crate::conn::ConnError;

/// `postgres://` or `postgresql://`, or `None` for a key=value string.
pub fn url_body(url: &str) -> Option<&str> {
    url.strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
}

/// Offset in `body` (the URL after its scheme) where the host starts: after the credentials,
/// which end at the first `@` (tokio-postgres's rule).
pub fn host_start(body: &str) -> usize {
    body.find('@').map_or(0, |at| at + 1)
}

/// Why a percent-encoded value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentError {
    /// A `%` not followed by two hexadecimal digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decode `%XX` escapes strictly (libpq refuses a bad escape; tokio-postgres keeps it as text).
pub fn percent_decode(value: &str) -> Result<String, PercentError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(PercentError::BadEscape)?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PercentError::NotUtf8)
}

/// Check the credentials and host of a `postgres://` URL; return the password in the forms it
/// may appear in (as written, decoded) for [`redact`]. Key=value strings return nothing here.
pub fn check_url_credentials(url: &str) -> Result<Vec<String>, ConnError> {
    let Some(body) = url_body(url) else {
        return Ok(Vec::new());
    };
    let start = host_start(body);
    let host_end = body[start..]
        .find(['/', '?'])
        .map_or(body.len(), |i| start + i);
    if body[start..host_end].contains('@') {
        return Err(ConnError::BadUrl(
            "more than one `@` before the host: write an `@` in the user name or password as %40"
                .into(),
        ));
    }
    let credentials = &body[..start.saturating_sub(1)];
    let Some((_, written)) = credentials.split_once(':') else {
        return Ok(Vec::new());
    };
    let decoded = percent_decode(written).map_err(|e| {
        ConnError::BadUrl(match e {
            PercentError::BadEscape => "the password has an invalid percent-encoding (a `%` not \
                                        followed by two hex digits; write `%` itself as %25)"
                .into(),
            PercentError::NotUtf8 => "the password is not UTF-8 once percent-decoded".into(),
        })
    })?;
    Ok(vec![written.to_string(), decoded])
}

/// `message` with every non-empty `secret` in it replaced by `***`.
pub fn redact(message: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    // The longest first, so a password is not half-replaced through a shorter form of it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = message.to_string();
    for secret in secrets {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_percent_decoding() {
        assert_eq!(percent_decode("a%40b%20%C3%BC").unwrap(), "a@b ü");
        assert_eq!(percent_decode("50%zz"), Err(PercentError::BadEscape));
        assert_eq!(percent_decode("5%"), Err(PercentError::BadEscape));
        assert_eq!(percent_decode("%+1"), Err(PercentError::BadEscape));
        assert_eq!(percent_decode("%FF"), Err(PercentError::NotUtf8));
    }

    #[test]
    fn credentials_end_at_the_first_at_sign() {
        let secrets = check_url_credentials("postgres://u:a%40b?c/d@h:5/db?x=1").unwrap();
        assert_eq!(secrets, ["a%40b?c/d", "a@b?c/d"]);
        assert!(check_url_credentials("postgres://h/db").unwrap().is_empty());
        assert!(check_url_credentials("host=h password=x")
            .unwrap()
            .is_empty());
        let err = check_url_credentials("postgres://u:pa@Zq9@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("%40") && !err.contains("Zq9"), "{err}");
    }

    #[test]
    fn redaction_replaces_every_form() {
        let secrets = vec!["p%40ss".to_string(), "p@ss".to_string(), String::new()];
        assert_eq!(redact("x p@ss y p%40ss", &secrets), "x *** y ***");
    }
}
