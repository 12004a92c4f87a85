//! Test certificates made with the `openssl` command: a self-signed CA and a server
//! certificate it signs for `localhost` and `127.0.0.1`, so clients can verify the chain
//! (`sslmode=verify-ca`) and the name (`sslmode=verify-full`) of a private cluster.
//!
//! The CA is a separate certificate because webpki (rustls) refuses a self-signed end-entity
//! certificate as its own trust anchor; libpq clients accept the same files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::LocalPgError;

/// Files of a test CA made by [`generate_ca`].
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA certificate (PEM): what clients pass as `sslrootcert`.
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The server's certificate and key (PEM), signed by a [`TestCa`].
#[derive(Debug, Clone)]
pub(crate) struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `openssl` with the fixed flags `flags` (split on spaces) followed by `values` (paths and
/// names, passed as they are), run in `dir`.
fn openssl(
    step: &'static str,
    flags: &str,
    values: &[&str],
    dir: &Path,
) -> Result<(), LocalPgError> {
    let out = Command::new("openssl")
        .args(flags.split_whitespace())
        .args(values)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LocalPgError::Io { step, source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LocalPgError::Command {
            step,
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A new self-signed CA (P-256, valid for 7 days) in `dir`, as `NAME.crt` and `NAME.key`.
pub fn generate_ca(dir: &Path, name: &str) -> Result<TestCa, LocalPgError> {
    let (cert, key) = (format!("{name}.crt"), format!("{name}.key"));
    let subject = format!("/CN=summa test CA {name}");
    openssl(
        "openssl: making a test CA",
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        &["-keyout", &key, "-out", &cert, "-subj", &subject],
        dir,
    )?;
    Ok(TestCa {
        cert: dir.join(cert),
        key: dir.join(key),
    })
}

/// A server certificate for `localhost` and `127.0.0.1` in `dir`, signed by `ca`.
pub(crate) fn generate_server_cert(dir: &Path, ca: &TestCa) -> Result<ServerCert, LocalPgError> {
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .map_err(|source| LocalPgError::Io {
        step: "writing the server certificate's extensions",
        source,
    })?;
    openssl(
        "openssl: making the server key",
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
         -keyout server.key -out server.csr",
        &[],
        dir,
    )?;
    let (ca_cert, ca_key) = (ca.cert.display().to_string(), ca.key.display().to_string());
    openssl(
        "openssl: signing the server certificate",
        "x509 -req -in server.csr -set_serial 1 -days 7 -extfile server.ext -out server.crt",
        &["-CA", &ca_cert, "-CAkey", &ca_key],
        dir,
    )?;
    Ok(ServerCert {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    })
}
