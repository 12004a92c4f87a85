//! TLS for both connection kinds from one set of libpq parameters ([`SslParams`]).
//!
//! Ordinary connections get a rustls `ClientConfig` (crypto from `ring`) through
//! tokio-postgres-rustls; replication sessions get the equivalent `pgwire_replication`
//! `TlsConfig`, which pgwire turns into its own rustls config. What is verified:
//!
//! | sslmode | encrypted | chain verified | host name verified |
//! |---|---|---|---|
//! | disable | no | – | – |
//! | prefer | if the server offers it | no | no |
//! | require | yes | only with `sslrootcert` (as libpq: then it acts as verify-ca) | no |
//! | verify-ca | yes | yes | no |
//! | verify-full | yes | yes | yes |
//!
//! Certificate files are read when the URL is parsed, so a wrong path fails at startup and
//! names the file, not at the first reconnect.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conn::ConnError;
use crate::sslparams::{RootCerts, SslMode, SslParams};

/// TLS settings of a [`crate::ConnInfo`], with the ordinary connections' connector built.
#[derive(Clone)]
pub(crate) struct Tls {
    params: SslParams,
    connector: MakeRustlsConnect,
}

fn file_error(param: &'static str, path: &Path, reason: impl ToString) -> ConnError {
    ConnError::TlsFile {
        param,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl Tls {
    pub(crate) fn new(params: SslParams) -> Result<Self, ConnError> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnError::BadUrl(format!("TLS setup: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match effective_mode(&params) {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => {
                Arc::new(NoVerification(provider))
            }
            mode => {
                let roots = Arc::new(root_store(params.root_cert.as_ref())?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| ConnError::BadUrl(format!("TLS setup: {e}")))?;
                if mode == SslMode::VerifyCa {
                    Arc::new(ChainOnly(webpki))
                } else {
                    webpki
                }
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &params.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| file_error("sslcert", cert, e))?;
                let key_der =
                    PrivateKeyDer::from_pem_file(key).map_err(|e| file_error("sslkey", key, e))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| file_error("sslcert", cert, e))?
            }
        };
        Ok(Tls {
            params,
            connector: MakeRustlsConnect::new(config),
        })
    }

    pub(crate) fn mode(&self) -> SslMode {
        self.params.mode
    }

    /// The mode tokio-postgres negotiates with; verification is our verifier's business.
    pub(crate) fn postgres_mode(&self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Pg;
        match self.params.mode {
            SslMode::Disable => Pg::Disable,
            SslMode::Prefer => Pg::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Pg::Require,
        }
    }

    pub(crate) fn connector(&self) -> MakeRustlsConnect {
        self.connector.clone()
    }

    /// The same settings for a replication session to `host`.
    pub(crate) fn replication(&self, host: &str) -> pgwire_replication::TlsConfig {
        use pgwire_replication::SslMode as Pw;
        let mode = match effective_mode(&self.params) {
            SslMode::Disable => Pw::Disable,
            SslMode::Prefer => Pw::Prefer,
            SslMode::Require => Pw::Require,
            SslMode::VerifyCa => Pw::VerifyCa,
            SslMode::VerifyFull => Pw::VerifyFull,
        };
        let ca_pem_path = match &self.params.root_cert {
            Some(RootCerts::File(path)) => Some(path.clone()),
            _ => None,
        };
        // pgwire refuses verify-full to an IP address unless a name is given for SNI; rustls
        // then checks the address against the certificate's IP entries, as libpq does.
        let sni_hostname = host
            .parse::<std::net::IpAddr>()
            .is_ok()
            .then(|| host.to_string());
        let (client_cert_pem_path, client_key_pem_path) = match &self.params.client_cert {
            Some((cert, key)) => (Some(cert.clone()), Some(key.clone())),
            None => (None, None),
        };
        pgwire_replication::TlsConfig {
            mode,
            ca_pem_path,
            sni_hostname,
            client_cert_pem_path,
            client_key_pem_path,
        }
    }

    /// Why an ordinary connection failed, when TLS is the reason; `None` otherwise.
    pub(crate) fn failure_reason(&self, err: &tokio_postgres::Error) -> Option<String> {
        let mode = self.params.mode.as_str();
        let roots = match &self.params.root_cert {
            Some(RootCerts::File(path)) => format!("sslrootcert {}", path.display()),
            _ => "the built-in Mozilla roots".to_string(),
        };
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = next {
            let inner = e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|i| i as &(dyn std::error::Error + 'static))
                .unwrap_or(e);
            match inner.downcast_ref::<rustls::Error>() {
                Some(rustls::Error::InvalidCertificate(_)) => {
                    return Some(format!(
                        "server certificate verification failed (sslmode={mode}, checked \
                         against {roots}): {inner}"
                    ))
                }
                Some(other) => {
                    return Some(format!("TLS handshake failed (sslmode={mode}): {other}"))
                }
                None if e.to_string() == "server does not support TLS" => {
                    return Some(format!(
                        "the server does not support SSL, but sslmode={mode}"
                    ))
                }
                None => next = e.source(),
            }
        }
        None
    }
}

/// libpq: `require` with a root certificate file verifies the chain like `verify-ca`.
fn effective_mode(params: &SslParams) -> SslMode {
    match (params.mode, &params.root_cert) {
        (SslMode::Require, Some(RootCerts::File(_))) => SslMode::VerifyCa,
        (mode, _) => mode,
    }
}

fn root_store(roots: Option<&RootCerts>) -> Result<RootCertStore, ConnError> {
    let mut store = RootCertStore::empty();
    match roots {
        Some(RootCerts::File(path)) => {
            let bytes = std::fs::read(path).map_err(|e| file_error("sslrootcert", path, e))?;
            let certs = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file_error("sslrootcert", path, e))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(file_error(
                    "sslrootcert",
                    path,
                    "no usable PEM certificate in it",
                ));
            }
        }
        None | Some(RootCerts::Builtin) => {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
    }
    Ok(store)
}

/// `prefer` and `require`: any certificate, but the handshake signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_root_certificate_is_named() {
        let params = SslParams {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCerts::File("/nonexistent/ca.pem".into())),
            client_cert: None,
        };
        let err = Tls::new(params).err().expect("missing file").to_string();
        assert!(
            err.starts_with("sslrootcert /nonexistent/ca.pem: No such file"),
            "{err}"
        );
    }

    #[test]
    fn require_with_a_root_file_verifies_the_chain_on_both_kinds() {
        let dir = std::env::temp_dir().join(format!("summa-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let params = SslParams {
            mode: SslMode::Require,
            root_cert: Some(RootCerts::File(empty.clone())),
            client_cert: None,
        };
        let err = Tls::new(params.clone())
            .err()
            .expect("no certificate")
            .to_string();
        assert!(err.contains("no usable PEM certificate"), "{err}");
        assert_eq!(effective_mode(&params), SslMode::VerifyCa);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn replication_settings_follow_the_url() {
        let tls = Tls::new(SslParams {
            mode: SslMode::Require,
            ..SslParams::default()
        })
        .unwrap();
        let cfg = tls.replication("127.0.0.1");
        assert_eq!(cfg.mode, pgwire_replication::SslMode::Require);
        assert_eq!(cfg.sni_hostname.as_deref(), Some("127.0.0.1"));
        assert_eq!(tls.replication("db.example").sni_hostname, None);
    }
}
