//! Helpers for the transport tests (`transport_tls`, `transport_ws`, `urls`): a throw-away PKI
//! made with rcgen at test time, and a client round trip.
//!
//! Included with `#[path = "support/transport.rs"] mod transport;` so the other test binaries
//! do not compile rcgen code they do not use.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;

use pigeon_mqtt::{
    Client, ConnectOptions, ConnectionError, Event, EventLoop, Message, QoS, ReconnectOptions,
};

use super::support::TlsListener;

/// How long one step of a test may take.
pub const STEP: Duration = Duration::from_secs(10);

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// 1975 to 4096 (rcgen's default).
    Now,
    /// 2000 to 2001.
    Expired,
    /// 2090 to 2091.
    NotYetValid,
}

/// The form of a private key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// ECDSA P-256, `-----BEGIN PRIVATE KEY-----`.
    Pkcs8,
    /// ECDSA P-256, `-----BEGIN EC PRIVATE KEY-----` (converted with the openssl CLI).
    Sec1,
    /// RSA 2048, `-----BEGIN RSA PRIVATE KEY-----` (made with the openssl CLI).
    Pkcs1,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A test CA that issues server and client certificates into a temporary directory.
pub struct Pki {
    dir: TempDir,
    issuer: Issuer<'static, KeyPair>,
    pub ca_file: PathBuf,
    pub ca_pem: String,
    next: AtomicUsize,
}

impl Pki {
    pub fn new() -> Pki {
        Pki::named("pigeon-mqtt test CA")
    }

    /// A CA with this common name (CAs that share a name are told apart only by signature).
    pub fn named(common_name: &str) -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("pigeon-pki-")
            .tempdir()
            .expect("temp dir");
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        let ca_file = dir.path().join("ca.pem");
        fs::write(&ca_file, cert.pem()).expect("write ca.pem");
        Pki {
            ca_pem: cert.pem(),
            dir,
            issuer: Issuer::new(params, key),
            ca_file,
            next: AtomicUsize::new(0),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate for `names` (DNS names or IP addresses) signed by this CA.
    pub fn server(&self, names: &[&str], validity: Validity) -> CertFiles {
        let key = KeyPair::generate().expect("server key");
        let params = leaf_params(names, "server", validity);
        let cert = params.signed_by(&key, &self.issuer).expect("sign server");
        self.write("server", &cert.pem(), &key.serialize_pem())
    }

    /// A self-signed server certificate (not issued by this CA).
    pub fn self_signed_server(&self, names: &[&str]) -> CertFiles {
        let key = KeyPair::generate().expect("server key");
        let cert = leaf_params(names, "self-signed", Validity::Now)
            .self_signed(&key)
            .expect("self-sign");
        self.write("selfsigned", &cert.pem(), &key.serialize_pem())
    }

    /// A client certificate signed by this CA, with its key in the given form.
    pub fn client(&self, name: &str, form: KeyForm) -> CertFiles {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let params = leaf_params(&[], name, Validity::Now);
        match form {
            KeyForm::Pkcs8 | KeyForm::Sec1 => {
                let key = KeyPair::generate().expect("client key");
                let cert = params.signed_by(&key, &self.issuer).expect("sign client");
                let files = self.write("client", &cert.pem(), &key.serialize_pem());
                if form == KeyForm::Pkcs8 {
                    return files;
                }
                let sec1 = self.dir().join(format!("client-{n}-sec1.key"));
                openssl(&["ec", "-in", path(&files.key), "-out", path(&sec1)]);
                assert_pem_kind(&sec1, "EC PRIVATE KEY");
                CertFiles {
                    cert: files.cert,
                    key: sec1,
                }
            }
            KeyForm::Pkcs1 => {
                let pkcs8 = self.dir().join(format!("client-{n}-rsa-pkcs8.key"));
                openssl(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    path(&pkcs8),
                ]);
                let pem = fs::read_to_string(&pkcs8).expect("read RSA key");
                let key = KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
                    .expect("load RSA key");
                let cert = params.signed_by(&key, &self.issuer).expect("sign client");
                let cert_file = self.dir().join(format!("client-{n}-rsa.pem"));
                fs::write(&cert_file, cert.pem()).expect("write cert");
                let pkcs1 = self.dir().join(format!("client-{n}-rsa-pkcs1.key"));
                openssl(&[
                    "rsa",
                    "-in",
                    path(&pkcs8),
                    "-traditional",
                    "-out",
                    path(&pkcs1),
                ]);
                assert_pem_kind(&pkcs1, "RSA PRIVATE KEY");
                CertFiles {
                    cert: cert_file,
                    key: pkcs1,
                }
            }
        }
    }

    /// A Mosquitto TLS listener using `server`, trusting this CA for client certificates.
    pub fn listener(&self, server: &CertFiles, require_certificate: bool) -> TlsListener {
        TlsListener {
            cafile: self.ca_file.clone(),
            certfile: server.cert.clone(),
            keyfile: server.key.clone(),
            require_certificate,
        }
    }

    /// Writes a file into the PKI directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir().join(name);
        fs::write(&p, contents).expect("write file");
        p
    }

    fn write(&self, what: &str, cert: &str, key: &str) -> CertFiles {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let cert_file = self.dir().join(format!("{what}-{n}.pem"));
        let key_file = self.dir().join(format!("{what}-{n}.key"));
        fs::write(&cert_file, cert).expect("write cert");
        fs::write(&key_file, key).expect("write key");
        CertFiles {
            cert: cert_file,
            key: key_file,
        }
    }
}

fn leaf_params(names: &[&str], common_name: &str, validity: Validity) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    match validity {
        Validity::Now => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        Validity::NotYetValid => {
            params.not_before = rcgen::date_time_ymd(2090, 1, 1);
            params.not_after = rcgen::date_time_ymd(2091, 1, 1);
        }
    }
    params
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Runs the `openssl` CLI (Debian package `openssl`), used only to turn keys into the
/// PKCS#1 and SEC1 forms rcgen does not write.
fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install it with `apt-get install -y openssl`")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_pem_kind(file: &Path, label: &str) {
    let text = fs::read_to_string(file).expect("read key");
    assert!(
        text.starts_with(&format!("-----BEGIN {label}-----")),
        "{} is not {label}: {}",
        file.display(),
        text.lines().next().unwrap_or_default()
    );
}

/// Connects with reconnection off; the error of the first attempt if it fails.
pub async fn connect(opts: ConnectOptions) -> Result<(Client, EventLoop), ConnectionError> {
    let (client, mut eventloop) = Client::new(
        opts.reconnect(ReconnectOptions::disabled())
            .connect_timeout(STEP),
    );
    loop {
        match tokio::time::timeout(STEP, eventloop.poll())
            .await
            .expect("no event within the step timeout")
        {
            Ok(Event::Connected(_)) => return Ok((client, eventloop)),
            Ok(Event::ConnectionLost { error, .. }) => return Err(error),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The error that ends the first connection attempt; panics if it connects.
pub async fn connect_error(opts: ConnectOptions) -> ConnectionError {
    match connect(opts).await {
        Ok(_) => panic!("the connection was expected to fail"),
        Err(e) => e,
    }
}

/// Subscribes, publishes `payload` at QoS 1 and waits for it to come back; then disconnects.
pub async fn round_trip(opts: ConnectOptions, topic: &str, payload: Vec<u8>) {
    let (client, mut eventloop) = connect(opts).await.expect("connect");
    exchange(&client, &mut eventloop, topic, payload).await;
    disconnect(client, eventloop).await;
}

/// Subscribes to `topic`, publishes `payload` at QoS 1 and waits until it arrives.
pub async fn exchange(client: &Client, eventloop: &mut EventLoop, topic: &str, payload: Vec<u8>) {
    let c = client.clone();
    let (t, p) = (topic.to_owned(), payload.clone());
    let mut task = tokio::spawn(async move {
        c.subscribe(t.as_str(), QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        c.publish(
            Message::new(t.as_str(), p)
                .expect("message")
                .qos(QoS::AtLeastOnce),
        )
        .await
        .expect("publish")
    });
    loop {
        match tokio::time::timeout(STEP, eventloop.poll())
            .await
            .expect("no event within the step timeout")
        {
            Ok(Event::Message(m)) => {
                assert_eq!(m.topic(), topic);
                assert_eq!(m.qos_level(), QoS::AtLeastOnce);
                assert_eq!(m.payload().len(), payload.len());
                assert!(m.payload()[..] == payload[..], "payload differs");
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("connection ended: {e}"),
        }
    }
    // The PUBACK may still be on its way: keep the event loop running until it arrives.
    let ack = loop {
        tokio::select! {
            done = &mut task => break done.expect("publisher task"),
            event = tokio::time::timeout(STEP, eventloop.poll()) => match event {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("connection ended: {e}"),
                Err(_) => panic!("no PUBACK within the step timeout"),
            },
        }
    };
    assert!(ack.packet_id.is_some(), "QoS 1 publish has a packet id");
}

/// Disconnects and drives the event loop until it closes.
pub async fn disconnect(client: Client, mut eventloop: EventLoop) {
    let d = tokio::spawn(async move { client.disconnect().await });
    loop {
        match tokio::time::timeout(STEP, eventloop.poll())
            .await
            .expect("no event within the step timeout")
        {
            Ok(_) => {}
            Err(ConnectionError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    d.await.expect("disconnect task").expect("disconnect");
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
