//! The first connection, as a new user meets it: a program written like the README must not
//! wait forever when the broker is unreachable or refuses it (paho's `connect()` raises), the
//! error must follow the cause whatever the transport, and a 5.0 client must find its way to a
//! broker that speaks only 3.1.1.

mod support;
#[path = "support/transport.rs"]
mod transport;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pigeon_mqtt::blocking::{BlockingClient, BlockingError};
use pigeon_mqtt::packet::{ConnAck, Packet, ReasonCode};
use pigeon_mqtt::rustls::pki_types::pem::PemObject;
use pigeon_mqtt::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use pigeon_mqtt::{
    Client, ConnectOptions, ConnectionError, Event, Message, ProtocolLevel, PublishError, QoS,
    SubscribeError, TlsOptions,
};
use support::scripted::{ScriptedBroker, STEP};
use support::Mosquitto;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use transport::{closed_port, Pki, Validity};

/// How long a first connection that cannot succeed may take to say so.
const PROMPT: Duration = Duration::from_secs(5);

/// The README's program against a broker that refuses the credentials: the subscribe (and a
/// publish) fail with the refusal instead of waiting for ever.
#[tokio::test]
async fn readme_program_gets_the_refusal_instead_of_waiting() {
    let broker = Mosquitto::builder().password("alice", "right").build();
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let opts = ConnectOptions::from_url(&broker.url())
            .unwrap()
            .protocol(level)
            .credentials("alice", "wrong");
        let (client, eventloop) = Client::new(opts);
        let mut messages = eventloop.into_messages();
        let publish =
            client.begin_publish(Message::new("readme/t", "x").unwrap().qos(QoS::AtLeastOnce));
        let token = tokio::time::timeout(PROMPT, publish)
            .await
            .unwrap()
            .unwrap();
        let sub = tokio::time::timeout(PROMPT, client.subscribe("readme/#", QoS::AtLeastOnce))
            .await
            .unwrap_or_else(|_| panic!("{level}: subscribe still pending after {PROMPT:?}"));
        match sub {
            Err(SubscribeError::Connection(ConnectionError::Refused { reason_code, .. })) => {
                assert!(
                    matches!(
                        reason_code,
                        ReasonCode::BadUserNameOrPassword | ReasonCode::NotAuthorized
                    ),
                    "{level}: {reason_code:?}"
                );
            }
            other => panic!("{level}: expected the refusal, got {other:?}"),
        }
        match tokio::time::timeout(PROMPT, token).await.unwrap() {
            Err(PublishError::Connection(ConnectionError::Refused { .. })) => {}
            other => panic!("{level}: expected the refusal, got {other:?}"),
        }
        // The message stream ends.
        assert!(tokio::time::timeout(PROMPT, messages.recv())
            .await
            .unwrap()
            .is_none());
    }
}

/// `EventLoop::connect` gives the outcome of the first connection.
#[tokio::test]
async fn eventloop_connect_returns_the_connack_or_the_error() {
    let broker = Mosquitto::builder().password("alice", "right").build();
    let good = ConnectOptions::from_url(&broker.url())
        .unwrap()
        .credentials("alice", "right");
    let (client, mut eventloop) = Client::new(good);
    let ack = tokio::time::timeout(PROMPT, eventloop.connect())
        .await
        .unwrap()
        .expect("accepted");
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert_eq!(eventloop.protocol_level(), ProtocolLevel::V5);
    // Once connected it answers at once, and the loop carries on as usual.
    assert_eq!(eventloop.connect().await.unwrap(), ack);
    let run = tokio::spawn(eventloop.run());
    client
        .publish(
            Message::new("connect/t", "x")
                .unwrap()
                .qos(QoS::AtLeastOnce),
        )
        .await
        .unwrap();
    client.disconnect().await.unwrap();
    run.await.unwrap().unwrap();

    let bad = ConnectOptions::from_url(&broker.url())
        .unwrap()
        .credentials("alice", "wrong");
    let (_client, mut eventloop) = Client::new(bad);
    let err = tokio::time::timeout(PROMPT, eventloop.connect())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, ConnectionError::Refused { .. }), "{err:?}");
    assert!(err.is_permanent(), "{err}");
}

/// `BlockingClient::connect` returns the first attempt's error, as paho's `connect()` raises:
/// a refused port, a host name that does not resolve, `mqtts://` to a plain MQTT port. Each is
/// a different error kind, and each says what to check.
#[test]
fn blocking_connect_returns_the_first_error() {
    let broker = Mosquitto::start();
    type Kind = fn(&ConnectionError) -> bool;
    let cases: Vec<(&str, String, Kind, &str)> = vec![
        (
            "refused port",
            format!("mqtt://127.0.0.1:{}", closed_port()),
            |e| matches!(e, ConnectionError::Connect { .. }),
            "is the broker running",
        ),
        (
            // A label longer than 63 bytes is refused by the resolver itself, before any
            // query leaves the machine (only loopback is ever used by these tests).
            "unknown host",
            format!("mqtt://{}.invalid:1883", "x".repeat(70)),
            |e| matches!(e, ConnectionError::Resolve { .. }),
            "check the name",
        ),
        (
            "mqtts:// to a plain MQTT port",
            format!("mqtts://127.0.0.1:{}", broker.port()),
            |e| {
                matches!(
                    e,
                    ConnectionError::Tls {
                        certificate_rejected: false,
                        ..
                    }
                )
            },
            "does this port speak TLS",
        ),
    ];
    for (what, url, kind, hint) in cases {
        let started = Instant::now();
        let result = BlockingClient::connect(ConnectOptions::from_url(&url).unwrap());
        let took = started.elapsed();
        match result {
            Err(BlockingError::Connection(e)) => {
                assert!(kind(&e), "{what}: unexpected kind {e:?}");
                assert!(e.to_string().contains(hint), "{what}: {e}");
                // The underlying error stays reachable.
                if !matches!(e, ConnectionError::Tls { .. }) {
                    assert!(std::error::Error::source(&e).is_some(), "{what}: {e:?}");
                }
            }
            Err(other) => panic!("{what}: {other:?}"),
            Ok(_) => panic!("{what}: connected"),
        }
        assert!(took < PROMPT, "{what}: took {took:?}");
    }
}

/// A server list: without retries, a first connection still tries each server once.
#[tokio::test]
async fn first_connection_tries_each_server_of_the_list() {
    let broker = Mosquitto::start();
    let dead = format!("mqtt://127.0.0.1:{}", closed_port());
    let opts = ConnectOptions::from_url(&dead)
        .unwrap()
        .add_server(&broker.url())
        .unwrap();
    let (_client, mut eventloop) = Client::new(opts);
    tokio::time::timeout(PROMPT, eventloop.connect())
        .await
        .unwrap()
        .expect("the second server accepts");
}

/// A 3.1.1-only broker answers a 5.0 CONNECT with `20 02 00 01`. Without a chosen level the
/// client connects again at once at 3.1.1 and says so; with 5.0 chosen it reports the refusal
/// as Unsupported Protocol Version.
#[tokio::test]
async fn v3_1_1_only_broker_gets_a_fallback_or_a_clear_refusal() {
    let broker = ScriptedBroker::start().await;
    let opts = ConnectOptions::new("127.0.0.1", broker.port()).client_id("fallback");
    let (_client, mut eventloop) = Client::new(opts);
    let events = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            match eventloop.poll().await {
                Ok(e @ Event::Connected(_)) => {
                    seen.push(e);
                    return (seen, eventloop.protocol_level());
                }
                Ok(e) => seen.push(e),
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    let mut conn = broker.accept().await;
    let connect = conn.expect_connect().await;
    assert_eq!(connect.protocol, ProtocolLevel::V5);
    conn.send_raw(&[0x20, 0x02, 0x00, 0x01]).await;
    conn.close();
    let (_conn, connect) = broker
        .accept_connect(ConnAck::new(false, ReasonCode::Success))
        .await;
    assert_eq!(connect.protocol, ProtocolLevel::V3_1_1);
    let (seen, level) = tokio::time::timeout(STEP, events).await.unwrap().unwrap();
    assert_eq!(level, ProtocolLevel::V3_1_1);
    assert!(
        matches!(
            &seen[..],
            [
                Event::ProtocolFallback {
                    from: ProtocolLevel::V5,
                    to: ProtocolLevel::V3_1_1,
                    error: ConnectionError::Refused {
                        reason_code: ReasonCode::UnsupportedProtocolVersion,
                        ..
                    },
                },
                Event::Connected(_)
            ]
        ),
        "{seen:?}"
    );

    // An explicitly chosen 5.0 never falls back: the refusal is the error.
    let broker = ScriptedBroker::start().await;
    let opts = ConnectOptions::new("127.0.0.1", broker.port()).protocol(ProtocolLevel::V5);
    let (_client, mut eventloop) = Client::new(opts);
    let connect = tokio::spawn(async move { eventloop.connect().await });
    let mut conn = broker.accept().await;
    conn.expect_connect().await;
    conn.send_raw(&[0x20, 0x02, 0x00, 0x01]).await;
    let err = tokio::time::timeout(STEP, connect)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::Refused {
                reason_code: ReasonCode::UnsupportedProtocolVersion,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("Unsupported Protocol Version"),
        "{err}"
    );
}

/// A server that closes the connection before CONNACK (rumqttd on the wrong protocol port) is
/// `ClosedBeforeConnAck` over TCP, TLS and WebSockets alike.
#[tokio::test]
async fn close_before_connack_is_one_error_on_every_transport() {
    let pki = Pki::new();
    let certs = pki.server(&["localhost", "127.0.0.1"], Validity::Now);
    for transport in ["tcp", "tls", "ws"] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tls_acceptor(&certs);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            match transport {
                "tcp" => read_then_drop(tcp).await,
                "tls" => read_then_drop(acceptor.accept(tcp).await.unwrap()).await,
                _ => {
                    let ws = tokio_tungstenite::accept_hdr_async(tcp, with_mqtt_subprotocol)
                        .await
                        .unwrap();
                    // Reads the CONNECT frame, then drops the socket: no closing handshake.
                    let mut ws = ws;
                    use futures::StreamExt;
                    let _ = ws.next().await;
                }
            }
        });
        let url = match transport {
            "tcp" => format!("mqtt://127.0.0.1:{port}"),
            "tls" => format!("mqtts://localhost:{port}"),
            _ => format!("ws://127.0.0.1:{port}/mqtt"),
        };
        let opts = ConnectOptions::from_url(&url)
            .unwrap()
            .protocol(ProtocolLevel::V3_1_1)
            .tls(TlsOptions::new().ca_file(&pki.ca_file));
        let (_client, mut eventloop) = Client::new(opts);
        let err = tokio::time::timeout(STEP, eventloop.connect())
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectionError::ClosedBeforeConnAck {
                    level: ProtocolLevel::V3_1_1,
                    ..
                }
            ),
            "{transport}: {err:?}"
        );
        assert!(
            err.to_string().contains("speaks MQTT"),
            "{transport}: {err}"
        );
        server.await.unwrap();
    }
}

/// A received QoS 1/2 message carries its packet identifier (paho's `msg.mid`).
#[tokio::test]
async fn received_messages_carry_their_packet_identifier() {
    let broker = ScriptedBroker::start().await;
    let (_client, eventloop) = Client::new(broker.options(ProtocolLevel::V5));
    let mut messages = eventloop.into_messages();
    let (mut conn, _) = broker
        .accept_connect(ConnAck::new(false, ReasonCode::Success))
        .await;
    let mut p = support::scripted::publish(
        "mid/t",
        "x",
        pigeon_mqtt::packet::QosPid::AtLeastOnce(support::scripted::pid(42)),
    );
    conn.send(Packet::Publish(p.clone())).await;
    let m = tokio::time::timeout(STEP, messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.packet_id().map(|id| id.get()), Some(42));
    p.qos = pigeon_mqtt::packet::QosPid::AtMostOnce;
    conn.send(Packet::Publish(p)).await;
    let m = tokio::time::timeout(STEP, messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.packet_id(), None);
}

/// The WebSocket upgrade answer with the `mqtt` subprotocol [MQTT-6.0.0-3].
#[allow(clippy::result_large_err)] // the signature tungstenite's callback takes
fn with_mqtt_subprotocol(
    _request: &tokio_tungstenite::tungstenite::handshake::server::Request,
    mut response: tokio_tungstenite::tungstenite::handshake::server::Response,
) -> Result<
    tokio_tungstenite::tungstenite::handshake::server::Response,
    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse,
> {
    response
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    Ok(response)
}

async fn read_then_drop<S: tokio::io::AsyncRead + Unpin>(mut s: S) {
    let mut buf = [0u8; 256];
    let _ = s.read(&mut buf).await;
}

fn tls_acceptor(certs: &transport::CertFiles) -> tokio_rustls::TlsAcceptor {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
    let config = pigeon_mqtt::rustls::ServerConfig::builder_with_provider(Arc::new(
        pigeon_mqtt::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
