//! TLS over any byte stream with tokio-rustls: the rustls configuration built from
//! [`TlsOptions`], the handshake, and errors that say why a handshake failed.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{
    AlertDescription, CertificateError, ClientConfig, Error as RustlsError, RootCertStore,
};
use tokio_rustls::TlsConnector;

use crate::error::ConnectionError;
use crate::options::{PemSource, TlsOptions};

/// A TLS client ready to run handshakes: the rustls configuration and the name to verify.
pub(crate) struct Connector {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl Connector {
    /// Builds the rustls configuration from `tls`: reads the CA, certificate and key files and
    /// the platform's roots (on the blocking pool), so a bad file fails before any connection.
    pub(crate) async fn new(tls: &TlsOptions) -> Result<Connector, ConnectionError> {
        let config = match &tls.config {
            Some(config) => Arc::clone(config),
            None => {
                let tls = tls.clone();
                tokio::task::spawn_blocking(move || client_config(&tls))
                    .await
                    .map_err(|e| {
                        ConnectionError::tls(format!("building the TLS configuration failed: {e}"))
                    })??
            }
        };
        Ok(Connector {
            config,
            server_name: tls.server_name.clone(),
        })
    }

    /// Runs the handshake over `stream`, with `host` (or the configured server name) as SNI
    /// and as the name the server certificate must be valid for.
    pub(crate) async fn connect<S>(
        self,
        host: &str,
        stream: S,
    ) -> Result<TlsStream<S>, ConnectionError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_owned()).map_err(|e| {
            ConnectionError::tls(format!("{name:?} cannot be used as a TLS server name: {e}"))
        })?;
        TlsConnector::from(self.config)
            .connect(server_name, stream)
            .await
            .map_err(
                |e| match e.get_ref().and_then(|i| i.downcast_ref::<RustlsError>()) {
                    Some(err) => rustls_error(err, name),
                    None => ConnectionError::Tls {
                        message: format!(
                            "handshake with {name} failed: {e} (does this port speak TLS? A \
                             plain MQTT port closes the connection on a TLS client hello)"
                        ),
                        certificate_rejected: false,
                        source: Some(Arc::new(e)),
                    },
                },
            )
    }
}

/// A rustls error carried by an I/O error after the handshake (an alert from the server).
pub(crate) fn error_behind_io(
    inner: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<ConnectionError> {
    inner
        .downcast_ref::<RustlsError>()
        .map(|err| rustls_error(err, "the server"))
}

/// The rustls configuration for `tls`.
fn client_config(tls: &TlsOptions) -> Result<Arc<ClientConfig>, ConnectionError> {
    let provider = crypto_provider()?;
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectionError::tls(format!("the crypto provider cannot be used: {e}")))?;
    #[cfg(feature = "dangerous-insecure-tls")]
    let builder = if tls.dangerous_no_verification {
        tracing::warn!("TLS server certificate verification is turned off");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(danger::AcceptAnyServerCert(provider)))
    } else {
        builder.with_root_certificates(roots(tls)?)
    };
    #[cfg(not(feature = "dangerous-insecure-tls"))]
    let builder = builder.with_root_certificates(roots(tls)?);

    let mut config = match &tls.client_cert {
        Some((chain, key)) => {
            let chain = certificates(chain, "client certificate")?;
            let key = private_key(key)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                ConnectionError::tls(format!(
                    "the client certificate and key cannot be used: {e}"
                ))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols.clone_from(&tls.alpn);
    Ok(Arc::new(config))
}

/// The process-wide default provider if the application installed one, else the one our
/// features select (aws-lc-rs over ring when both are built).
fn crypto_provider() -> Result<Arc<CryptoProvider>, ConnectionError> {
    if let Some(p) = CryptoProvider::get_default() {
        return Ok(Arc::clone(p));
    }
    #[cfg(feature = "tls-aws-lc-rs")]
    let provider = Some(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    #[cfg(all(feature = "tls-ring", not(feature = "tls-aws-lc-rs")))]
    let provider = Some(tokio_rustls::rustls::crypto::ring::default_provider());
    #[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc-rs")))]
    let provider: Option<CryptoProvider> = None;
    provider.map(Arc::new).ok_or_else(|| {
        ConnectionError::tls(
            "no crypto provider: enable the `tls-ring` or `tls-aws-lc-rs` feature, or install \
             one with rustls::crypto::CryptoProvider::install_default"
                .to_owned(),
        )
    })
}

/// The trust anchors: the CAs given, plus the platform's and Mozilla's roots when asked for
/// (by default only when no CA is given).
fn roots(tls: &TlsOptions) -> Result<RootCertStore, ConnectionError> {
    let mut roots = RootCertStore::empty();
    for source in &tls.ca {
        for cert in certificates(source, "CA certificate")? {
            roots.add(cert).map_err(|e| ConnectionError::Pem {
                what: "CA certificate",
                origin: source.to_string(),
                message: format!("not a usable CA certificate: {e}"),
            })?;
        }
    }
    let defaults = tls.ca.is_empty();
    if tls.native_roots.unwrap_or(defaults) {
        add_native_roots(&mut roots);
    }
    if tls.webpki_roots.unwrap_or(defaults) {
        add_webpki_roots(&mut roots);
    }
    if roots.is_empty() {
        return Err(ConnectionError::tls(
            "no trusted root certificates: give a CA with TlsOptions::ca_file or ca_pem, or \
             enable the `native-roots` or `webpki-roots` feature"
                .to_owned(),
        ));
    }
    Ok(roots)
}

#[cfg(feature = "native-roots")]
fn add_native_roots(roots: &mut RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "cannot load some of the platform's root certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "platform root certificates");
}

#[cfg(not(feature = "native-roots"))]
fn add_native_roots(_: &mut RootCertStore) {}

#[cfg(feature = "webpki-roots")]
fn add_webpki_roots(roots: &mut RootCertStore) {
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
}

#[cfg(not(feature = "webpki-roots"))]
fn add_webpki_roots(_: &mut RootCertStore) {}

/// Every certificate in a PEM source; at least one.
fn certificates(
    source: &PemSource,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ConnectionError> {
    let text = read(source, what)?;
    let pem_error = |message: String| ConnectionError::Pem {
        what,
        origin: source.to_string(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(format!("malformed PEM: {}", pem_message(&e))))?;
    if certs.is_empty() {
        return Err(pem_error(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found".to_owned(),
        ));
    }
    Ok(certs)
}

/// The first private key in a PEM source: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn private_key(source: &PemSource) -> Result<PrivateKeyDer<'static>, ConnectionError> {
    let what = "private key";
    let text = read(source, what)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| ConnectionError::Pem {
        what,
        origin: source.to_string(),
        message: match e {
            pem::Error::NoItemsFound => "no PEM private key (PKCS#8 `PRIVATE KEY`, PKCS#1 \
                                         `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`) found"
                .to_owned(),
            e => format!("malformed PEM: {}", pem_message(&e)),
        },
    })
}

fn read(source: &PemSource, what: &'static str) -> Result<Vec<u8>, ConnectionError> {
    match source {
        PemSource::Memory(bytes) => Ok(bytes.to_vec()),
        PemSource::File(path) => std::fs::read(path).map_err(|e| ConnectionError::Pem {
            what,
            origin: source.to_string(),
            message: format!("cannot read the file: {e}"),
        }),
    }
}

fn pem_message(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "missing end marker {:?}",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => {
            format!("bad begin line {:?}", String::from_utf8_lossy(line))
        }
        e => e.to_string(),
    }
}

/// Says why a handshake failed, in words and with rustls' own reason.
/// The [`ConnectionError::Tls`] for a rustls error met with `name`.
fn rustls_error(err: &RustlsError, name: &str) -> ConnectionError {
    ConnectionError::Tls {
        message: describe(err, name),
        certificate_rejected: matches!(err, RustlsError::InvalidCertificate(_)),
        source: Some(Arc::new(err.clone())),
    }
}

fn describe(err: &RustlsError, name: &str) -> String {
    match err {
        RustlsError::InvalidCertificate(cert) => {
            let why = match cert {
                CertificateError::Expired => "certificate expired".to_owned(),
                CertificateError::NotValidYet => "certificate not valid yet".to_owned(),
                CertificateError::NotValidForName => format!("certificate not valid for name {name:?}"),
                CertificateError::BadSignature => {
                    "BadSignature: its signature does not verify (is it issued by another CA \
                     with the same name as a trusted one?)"
                        .to_owned()
                }
                CertificateError::UnknownIssuer => {
                    "UnknownIssuer: it is not signed by a trusted certificate authority (self-signed, \
                     or the CA is not among the trusted roots)"
                        .to_owned()
                }
                other => other.to_string(),
            };
            format!("the server certificate of {name} was rejected: {why}")
        }
        RustlsError::AlertReceived(alert) => {
            let hint = match alert {
                AlertDescription::CertificateRequired => {
                    ": the server requires a client certificate"
                }
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateRevoked
                | AlertDescription::AccessDenied => ": the server rejected our client certificate",
                AlertDescription::NoApplicationProtocol => {
                    ": the server accepts none of the ALPN protocols offered"
                }
                _ => "",
            };
            format!("{name} refused the connection with the TLS alert {alert:?}{hint}")
        }
        RustlsError::NoApplicationProtocol => {
            format!("{name} accepts none of the ALPN protocols offered")
        }
        other => format!("handshake with {name} failed: {other}"),
    }
}

#[cfg(feature = "dangerous-insecure-tls")]
mod danger {
    use std::sync::Arc;

    use tokio_rustls::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use tokio_rustls::rustls::crypto::{
        verify_tls12_signature, verify_tls13_signature, CryptoProvider,
    };
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use tokio_rustls::rustls::{DigitallySignedStruct, Error, SignatureScheme};

    /// Accepts every server certificate; checks handshake signatures with the provider.
    #[derive(Debug)]
    pub(super) struct AcceptAnyServerCert(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyServerCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(all(test, any(feature = "tls-ring", feature = "tls-aws-lc-rs")))]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::TlsAcceptor;

    use super::*;

    /// What a TLS server saw of the client's handshake: SNI and the ALPN protocol chosen.
    async fn handshake_seen_by_server(
        tls: TlsOptions,
        host: &str,
        cert_names: &[&str],
    ) -> (Option<String>, Option<Vec<u8>>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = cert_names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let mut server = ServerConfig::builder_with_provider(crypto_provider().unwrap())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        server.alpn_protocols = vec![b"x-amzn-mqtt-ca".to_vec()];
        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let server = tokio::spawn(async move {
            let mut s = TlsAcceptor::from(Arc::new(server))
                .accept(server_io)
                .await
                .unwrap();
            let (_, conn) = s.get_ref();
            let seen = (
                conn.server_name().map(str::to_owned),
                conn.alpn_protocol().map(<[u8]>::to_vec),
            );
            s.write_all(b"ok").await.unwrap();
            s.flush().await.unwrap();
            seen
        });
        let tls = tls.ca_pem(cert.pem());
        let mut client = Connector::new(&tls)
            .await
            .unwrap()
            .connect(host, client_io)
            .await
            .unwrap();
        let mut ok = [0u8; 2];
        client.read_exact(&mut ok).await.unwrap();
        server.await.unwrap()
    }

    #[tokio::test]
    async fn sni_for_dns_names_only_and_alpn() {
        let alpn = || TlsOptions::new().alpn(["x-amzn-mqtt-ca"]);
        let (sni, alpn_seen) =
            handshake_seen_by_server(alpn(), "broker.test", &["broker.test"]).await;
        assert_eq!(sni.as_deref(), Some("broker.test"));
        assert_eq!(alpn_seen.as_deref(), Some(&b"x-amzn-mqtt-ca"[..]));

        let (sni, alpn_seen) =
            handshake_seen_by_server(TlsOptions::new(), "127.0.0.1", &["127.0.0.1"]).await;
        assert_eq!(sni, None, "no SNI for an IP address");
        assert_eq!(alpn_seen, None);

        let overridden = TlsOptions::new().server_name("broker.test");
        let (sni, _) = handshake_seen_by_server(overridden, "127.0.0.1", &["broker.test"]).await;
        assert_eq!(sni.as_deref(), Some("broker.test"));
    }

    #[tokio::test]
    async fn no_roots_at_all_is_an_error_that_says_so() {
        let tls = TlsOptions {
            native_roots: Some(false),
            webpki_roots: Some(false),
            ..TlsOptions::new()
        };
        let Err(ConnectionError::Tls { message, .. }) = Connector::new(&tls).await else {
            panic!("expected a TLS error");
        };
        assert!(
            message.contains("no trusted root certificates"),
            "{message}"
        );
    }
}
