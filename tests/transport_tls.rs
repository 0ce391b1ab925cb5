//! MQTT over TLS against Mosquitto TLS listeners, with certificates made at test time: trust,
//! rejections and why, mutual TLS with each private key form, and unreadable PEM.
// Needs a crypto provider, which the `tls` feature alone does not bring.
#![cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]

mod support;
#[path = "support/transport.rs"]
mod transport;

use pigeon_mqtt::{ConnectOptions, ConnectionError, ProtocolLevel, TlsOptions};
use support::Mosquitto;
use transport::{connect_error, round_trip, KeyForm, Pki, Validity};

/// A broker with a TLS listener using a certificate for `names` issued by `pki`.
fn broker(pki: &Pki, names: &[&str], validity: Validity, require_cert: bool) -> Mosquitto {
    let server = pki.server(names, validity);
    Mosquitto::builder()
        .tls(pki.listener(&server, require_cert))
        .build()
}

fn options(broker: &Mosquitto, tls: TlsOptions) -> ConnectOptions {
    ConnectOptions::from_url(&broker.tls_url())
        .expect("URL")
        .tls(tls)
}

fn tls_message(e: &ConnectionError) -> &str {
    match e {
        ConnectionError::Tls { message, .. } => message,
        other => panic!("expected ConnectionError::Tls, got {other:?} ({other})"),
    }
}

#[tokio::test]
async fn trusted_server_round_trip_at_qos1_on_both_levels() {
    let pki = Pki::new();
    let broker = broker(&pki, &["localhost", "127.0.0.1"], Validity::Now, false);
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let opts = options(&broker, TlsOptions::new().ca_file(&pki.ca_file)).protocol(level);
        round_trip(opts, "tls/file", b"over TLS".to_vec()).await;
    }
    // The CA from memory, and the ssl:// synonym.
    let url = format!("ssl://127.0.0.1:{}", broker.tls_port());
    let opts = ConnectOptions::from_url(&url)
        .unwrap()
        .tls(TlsOptions::new().ca_pem(&pki.ca_pem));
    round_trip(opts, "tls/memory", vec![0xAB; 100_000]).await;
}

#[tokio::test]
async fn server_name_override_sets_sni_and_verified_name() {
    let pki = Pki::new();
    let broker = broker(&pki, &["broker.test"], Validity::Now, false);
    let tls = TlsOptions::new()
        .ca_file(&pki.ca_file)
        .server_name("broker.test");
    round_trip(options(&broker, tls), "tls/sni", b"x".to_vec()).await;
}

#[tokio::test]
async fn untrusted_self_signed_server_is_rejected() {
    let pki = Pki::new();
    let server = pki.self_signed_server(&["127.0.0.1"]);
    let broker = Mosquitto::builder()
        .tls(pki.listener(&server, false))
        .build();
    let err = connect_error(options(&broker, TlsOptions::new().ca_file(&pki.ca_file))).await;
    let message = tls_message(&err);
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(err.to_string().starts_with("TLS error: "), "{err}");
}

#[tokio::test]
async fn wrong_host_name_is_rejected() {
    let pki = Pki::new();
    let broker = broker(&pki, &["other.example"], Validity::Now, false);
    let err = connect_error(options(&broker, TlsOptions::new().ca_file(&pki.ca_file))).await;
    let message = tls_message(&err);
    assert!(message.contains("not valid for name"), "{message}");
    assert!(message.contains("127.0.0.1"), "{message}");
}

#[tokio::test]
async fn expired_server_certificate_is_rejected() {
    let pki = Pki::new();
    let broker = broker(&pki, &["127.0.0.1"], Validity::Expired, false);
    let err = connect_error(options(&broker, TlsOptions::new().ca_file(&pki.ca_file))).await;
    let message = tls_message(&err);
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn not_yet_valid_server_certificate_is_rejected() {
    let pki = Pki::new();
    let broker = broker(&pki, &["127.0.0.1"], Validity::NotYetValid, false);
    let err = connect_error(options(&broker, TlsOptions::new().ca_file(&pki.ca_file))).await;
    let message = tls_message(&err);
    assert!(message.contains("not valid yet"), "{message}");
}

#[tokio::test]
async fn mutual_tls_with_each_key_form() {
    let pki = Pki::new();
    let broker = broker(&pki, &["127.0.0.1"], Validity::Now, true);
    for form in [KeyForm::Pkcs8, KeyForm::Sec1, KeyForm::Pkcs1] {
        let client = pki.client(&format!("client-{form:?}"), form);
        let tls = TlsOptions::new()
            .ca_file(&pki.ca_file)
            .client_cert_files(&client.cert, &client.key);
        round_trip(
            options(&broker, tls),
            "tls/mutual",
            format!("{form:?}").into_bytes(),
        )
        .await;
    }
    // From memory.
    let client = pki.client("client-memory", KeyForm::Sec1);
    let tls = TlsOptions::new().ca_pem(&pki.ca_pem).client_cert_pem(
        std::fs::read(&client.cert).unwrap(),
        std::fs::read(&client.key).unwrap(),
    );
    round_trip(options(&broker, tls), "tls/mutual", b"memory".to_vec()).await;
}

#[tokio::test]
async fn listener_requiring_a_certificate_rejects_a_client_without_one() {
    let pki = Pki::new();
    let broker = broker(&pki, &["127.0.0.1"], Validity::Now, true);
    let err = connect_error(options(&broker, TlsOptions::new().ca_file(&pki.ca_file))).await;
    let message = tls_message(&err);
    assert!(message.contains("CertificateRequired"), "{message}");
    assert!(
        message.contains("requires a client certificate"),
        "{message}"
    );

    // A certificate from another CA is refused too.
    let other_ca = Pki::named("some other CA");
    let other = other_ca.client("stranger", KeyForm::Pkcs8);
    let tls = TlsOptions::new()
        .ca_file(&pki.ca_file)
        .client_cert_files(&other.cert, &other.key);
    let err = connect_error(options(&broker, tls)).await;
    let message = tls_message(&err);
    assert!(
        message.contains("rejected our client certificate"),
        "{message}"
    );
}

#[tokio::test]
async fn unreadable_or_malformed_pem_names_the_file() {
    let pki = Pki::new();
    let broker = broker(&pki, &["127.0.0.1"], Validity::Now, false);
    let client = pki.client("c", KeyForm::Pkcs8);
    let missing = pki.dir().join("does-not-exist.pem");
    let garbage = pki.file(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
    );
    let truncated = pki.file(
        "truncated.key",
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n",
    );
    let not_pem = pki.file("notes.txt", "just some text\n");

    let cases = [
        (
            TlsOptions::new().ca_file(&missing),
            "CA certificate",
            &missing,
            "cannot read the file",
        ),
        (
            TlsOptions::new().ca_file(&garbage),
            "CA certificate",
            &garbage,
            "malformed PEM",
        ),
        (
            TlsOptions::new().ca_file(&not_pem),
            "CA certificate",
            &not_pem,
            "no PEM certificate",
        ),
        (
            TlsOptions::new()
                .ca_file(&pki.ca_file)
                .client_cert_files(&client.cert, &missing),
            "private key",
            &missing,
            "cannot read the file",
        ),
        (
            TlsOptions::new()
                .ca_file(&pki.ca_file)
                .client_cert_files(&client.cert, &truncated),
            "private key",
            &truncated,
            "malformed PEM",
        ),
        (
            TlsOptions::new()
                .ca_file(&pki.ca_file)
                .client_cert_files(&client.cert, &not_pem),
            "private key",
            &not_pem,
            "no PEM private key",
        ),
        (
            TlsOptions::new()
                .ca_file(&pki.ca_file)
                .client_cert_files(&garbage, &client.key),
            "client certificate",
            &garbage,
            "malformed PEM",
        ),
    ];
    for (tls, what_expected, file, why) in cases {
        let err = connect_error(options(&broker, tls)).await;
        let ConnectionError::Pem {
            what,
            origin,
            message,
        } = &err
        else {
            panic!("expected ConnectionError::Pem, got {err:?}");
        };
        assert_eq!(*what, what_expected, "{err}");
        assert_eq!(*origin, format!("file {}", file.display()), "{err}");
        assert!(message.contains(why), "{err}");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }

    // From memory.
    let err = connect_error(options(&broker, TlsOptions::new().ca_pem("not PEM at all"))).await;
    assert!(
        matches!(&err, ConnectionError::Pem { origin, .. } if origin == "memory"),
        "{err:?}"
    );
}

#[tokio::test]
async fn key_that_does_not_match_the_certificate_is_a_tls_error() {
    let pki = Pki::new();
    let broker = broker(&pki, &["127.0.0.1"], Validity::Now, true);
    let a = pki.client("a", KeyForm::Pkcs8);
    let b = pki.client("b", KeyForm::Pkcs8);
    let tls = TlsOptions::new()
        .ca_file(&pki.ca_file)
        .client_cert_files(&a.cert, &b.key);
    let err = connect_error(options(&broker, tls)).await;
    let message = tls_message(&err);
    assert!(message.contains("client certificate and key"), "{message}");
}

#[cfg(feature = "dangerous-insecure-tls")]
#[tokio::test]
async fn dangerous_option_accepts_an_untrusted_server() {
    let pki = Pki::new();
    let server = pki.self_signed_server(&["somewhere.else"]);
    let broker = Mosquitto::builder()
        .tls(pki.listener(&server, false))
        .build();
    let tls = TlsOptions::new().dangerous_accept_any_server_certificate();
    round_trip(options(&broker, tls), "tls/danger", b"x".to_vec()).await;
}

#[tokio::test]
async fn custom_rustls_config_is_used_as_is() {
    use std::sync::Arc;

    use pigeon_mqtt::rustls;

    let pki = Pki::new();
    let broker = broker(&pki, &["127.0.0.1"], Validity::Now, false);
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::pem::PemObject::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(default_provider()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = TlsOptions::from_config(Arc::new(config));
    round_trip(options(&broker, tls), "tls/custom", b"TLS 1.2".to_vec()).await;
}

#[cfg(feature = "tls-aws-lc-rs")]
fn default_provider() -> pigeon_mqtt::rustls::crypto::CryptoProvider {
    pigeon_mqtt::rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(all(feature = "tls-ring", not(feature = "tls-aws-lc-rs")))]
fn default_provider() -> pigeon_mqtt::rustls::crypto::CryptoProvider {
    pigeon_mqtt::rustls::crypto::ring::default_provider()
}
