//! Authentication: MQTT 5 enhanced authentication and re-authentication against a scripted
//! broker (Mosquitto needs a plugin for AUTH), credentials refreshed before every connect, and
//! wrong passwords against a real Mosquitto.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pigeon_mqtt::auth::{AuthError, Authenticator, Credentials};
use pigeon_mqtt::packet::{Auth, ConnAck, Packet, Property, ProtocolLevel, ReasonCode};
use pigeon_mqtt::{
    Client, ConnectOptions, ConnectionError, Event, ProtocolError, ReconnectOptions,
};
use support::scripted::{Events, ScriptedBroker};
use support::Mosquitto;

/// Answers each challenge with the challenge reversed; records the server's final data.
struct Reverse {
    finals: Arc<Mutex<Vec<Option<Bytes>>>>,
    accept_final: bool,
}

impl Authenticator for Reverse {
    fn method(&self) -> &str {
        "REVERSE"
    }
    fn start(&mut self) -> Result<Option<Bytes>, AuthError> {
        Ok(Some(Bytes::from_static(b"hello")))
    }
    fn step(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, AuthError> {
        let mut v = challenge
            .ok_or_else(|| AuthError::new("no challenge"))?
            .to_vec();
        v.reverse();
        Ok(Some(v.into()))
    }
    fn finish(&mut self, data: Option<&Bytes>) -> Result<(), AuthError> {
        self.finals.lock().unwrap().push(data.cloned());
        if self.accept_final {
            Ok(())
        } else {
            Err(AuthError::new("server proof does not match"))
        }
    }
}

fn auth(reason: ReasonCode, method: &'static str, data: &'static [u8]) -> Packet {
    let mut a = Auth::new(reason);
    a.properties.push(Property::AuthenticationMethod(
        pigeon_mqtt::packet::MqttString::from_static(method),
    ));
    a.properties
        .push(Property::AuthenticationData(Bytes::from_static(data)));
    Packet::Auth(a)
}

fn auth_data(p: &Packet) -> (ReasonCode, Option<String>, Option<Bytes>) {
    match p {
        Packet::Auth(a) => (
            a.reason_code,
            a.properties.authentication_method().map(|m| m.to_string()),
            a.properties.authentication_data().cloned(),
        ),
        other => panic!("expected AUTH, got {other:?}"),
    }
}

fn reverse(accept_final: bool) -> (Reverse, Arc<Mutex<Vec<Option<Bytes>>>>) {
    let finals = Arc::new(Mutex::new(Vec::new()));
    (
        Reverse {
            finals: finals.clone(),
            accept_final,
        },
        finals,
    )
}

/// [MQTT-4.12.0-1] method and data in CONNECT; [MQTT-4.12.0-2] AUTH 0x18 challenges are
/// answered with AUTH 0x18; CONNACK ends the exchange with the server's final data.
#[tokio::test]
async fn enhanced_authentication_challenge_response_at_connect() {
    let broker = ScriptedBroker::start().await;
    let (authenticator, finals) = reverse(true);
    let (_client, eventloop) = Client::new(
        broker
            .options(ProtocolLevel::V5)
            .authenticator(authenticator),
    );
    let mut events = Events::spawn(eventloop);

    let mut conn = broker.accept().await;
    let connect = conn.expect_connect().await;
    assert_eq!(
        connect
            .properties
            .authentication_method()
            .map(|m| m.as_str()),
        Some("REVERSE")
    );
    assert_eq!(
        connect.properties.authentication_data(),
        Some(&Bytes::from_static(b"hello"))
    );
    conn.send(auth(ReasonCode::ContinueAuthentication, "REVERSE", b"abc"))
        .await;
    let reply = conn.expect().await;
    assert_eq!(
        auth_data(&reply),
        (
            ReasonCode::ContinueAuthentication,
            Some("REVERSE".into()),
            Some(Bytes::from_static(b"cba"))
        )
    );
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    ack.properties.push(Property::AuthenticationMethod(
        pigeon_mqtt::packet::MqttString::from_static("REVERSE"),
    ));
    ack.properties
        .push(Property::AuthenticationData(Bytes::from_static(b"proof")));
    conn.send(Packet::ConnAck(ack)).await;
    events.connected().await;
    assert_eq!(
        *finals.lock().unwrap(),
        vec![Some(Bytes::from_static(b"proof"))]
    );
}

/// The authenticator refusing the server's final data closes the connection with an
/// authentication error.
#[tokio::test]
async fn authenticator_can_refuse_the_server() {
    let broker = ScriptedBroker::start().await;
    let (authenticator, _) = reverse(false);
    let opts = broker
        .options(ProtocolLevel::V5)
        .authenticator(authenticator)
        .reconnect(ReconnectOptions::disabled());
    let (_client, eventloop) = Client::new(opts);
    let mut events = Events::spawn(eventloop);
    let mut conn = broker.accept().await;
    conn.expect_connect().await;
    conn.send(Packet::ConnAck(ConnAck::new(false, ReasonCode::Success)))
        .await;
    let (lost, _) = events.connection_lost().await;
    assert!(
        matches!(&lost.error, ConnectionError::Auth(e) if e.message().contains("proof")),
        "{:?}",
        lost.error
    );
}

/// [MQTT-4.12.0-5] an AUTH with another method is a protocol error.
#[tokio::test]
async fn auth_with_another_method_is_a_protocol_error() {
    let broker = ScriptedBroker::start().await;
    let (authenticator, _) = reverse(true);
    let opts = broker
        .options(ProtocolLevel::V5)
        .authenticator(authenticator);
    let (_client, eventloop) = Client::new(opts);
    let mut events = Events::spawn(eventloop);
    let mut conn = broker.accept().await;
    conn.expect_connect().await;
    conn.send(auth(ReasonCode::ContinueAuthentication, "OTHER", b"x"))
        .await;
    let (lost, _) = events.connection_lost().await;
    assert!(
        matches!(
            lost.error,
            ConnectionError::Protocol(ProtocolError::AuthMethodMismatch)
        ),
        "{:?}",
        lost.error
    );
}

/// [MQTT-4.12.1-1] re-authentication: AUTH 0x19 with the method, challenges answered, AUTH
/// Success completes it while the connection stays up.
#[tokio::test]
async fn client_initiated_reauthentication() {
    let broker = ScriptedBroker::start().await;
    let (authenticator, finals) = reverse(true);
    let (client, eventloop) = Client::new(
        broker
            .options(ProtocolLevel::V5)
            .authenticator(authenticator),
    );
    let mut events = Events::spawn(eventloop);
    let (mut conn, _) = broker
        .accept_connect(ConnAck::new(false, ReasonCode::Success))
        .await;
    events.connected().await;

    let reauth = tokio::spawn(async move { client.reauthenticate().await });
    let first = conn.expect().await;
    assert_eq!(
        auth_data(&first),
        (
            ReasonCode::ReAuthenticate,
            Some("REVERSE".into()),
            Some(Bytes::from_static(b"hello"))
        )
    );
    conn.send(auth(ReasonCode::ContinueAuthentication, "REVERSE", b"xyz"))
        .await;
    let second = conn.expect().await;
    assert_eq!(auth_data(&second).2, Some(Bytes::from_static(b"zyx")));
    conn.send(auth(ReasonCode::Success, "REVERSE", b"done"))
        .await;
    let result = tokio::time::timeout(Duration::from_secs(5), reauth)
        .await
        .expect("re-authentication completes")
        .unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(
        finals.lock().unwrap().last(),
        Some(&Some(Bytes::from_static(b"done")))
    );
    conn.expect_nothing(Duration::from_millis(200)).await;
}

/// Re-authentication without an authenticator fails at once, without sending anything.
#[tokio::test]
async fn reauthentication_needs_an_authenticator() {
    let broker = ScriptedBroker::start().await;
    let (client, eventloop) = Client::new(broker.options(ProtocolLevel::V5));
    let mut events = Events::spawn(eventloop);
    let (mut conn, _) = broker
        .accept_connect(ConnAck::new(false, ReasonCode::Success))
        .await;
    events.connected().await;
    let err = client.reauthenticate().await.unwrap_err();
    assert!(err.message().contains("no authenticator"), "{err}");
    conn.expect_nothing(Duration::from_millis(200)).await;
}

/// The credentials provider is called before every connect and its answer is sent.
#[tokio::test]
async fn credentials_are_refreshed_before_every_connect() {
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let broker = ScriptedBroker::start().await;
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let opts = broker.options(level).credentials_provider(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            Credentials {
                username: Some(format!("user-{n}")),
                password: Some(Bytes::from(format!("token-{n}"))),
            }
        });
        let (_client, eventloop) = Client::new(opts);
        let mut events = Events::spawn(eventloop);
        let (conn, first) = broker
            .accept_connect(ConnAck::new(false, ReasonCode::Success))
            .await;
        events.connected().await;
        assert_eq!(first.username.as_ref().map(|u| u.as_str()), Some("user-1"));
        assert_eq!(first.password, Some(Bytes::from_static(b"token-1")));
        conn.close();
        events.connection_lost().await;
        let (_conn, second) = broker
            .accept_connect(ConnAck::new(false, ReasonCode::Success))
            .await;
        assert_eq!(
            second.username.as_ref().map(|u| u.as_str()),
            Some("user-2"),
            "{level}"
        );
        assert_eq!(second.password, Some(Bytes::from_static(b"token-2")));
    }
}

/// A wrong password is reported as a refusal (CONNACK 0x86, section 3.2.2.2; 3.1.1 return code
/// 4 or 5) and the reconnect attempts back off instead of hammering the broker.
#[tokio::test]
async fn wrong_password_is_refused_and_retries_back_off() {
    let broker = Mosquitto::builder().password("alice", "right").build();
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let opts = ConnectOptions::new("127.0.0.1", broker.port())
            .protocol(level)
            .client_id(format!("wrong-{level}"))
            .credentials("alice", "wrong")
            .reconnect(
                ReconnectOptions::default()
                    .backoff(Duration::from_millis(200), Duration::from_secs(2))
                    .retry_first_connect(true),
            );
        let (_client, mut eventloop) = Client::new(opts);
        let start = Instant::now();
        let mut refusals = Vec::new();
        while refusals.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
                Ok(Ok(Event::ConnectionLost {
                    error,
                    was_connected,
                    reconnecting,
                })) => {
                    assert!(!was_connected && reconnecting);
                    refusals.push((start.elapsed(), error));
                }
                Ok(Ok(other)) => panic!("{level}: unexpected {other:?}"),
                other => panic!("{level}: {other:?}"),
            }
        }
        for (_, e) in &refusals {
            assert!(
                matches!(
                    e,
                    ConnectionError::Refused {
                        reason_code: ReasonCode::BadUserNameOrPassword | ReasonCode::NotAuthorized,
                        ..
                    }
                ),
                "{level}: {e:?}"
            );
        }
        // Delays of at least 200 ms and 400 ms (the minimum, then twice it: the backoff never
        // goes below its minimum) separate the three attempts.
        let gap1 = refusals[1].0 - refusals[0].0;
        let gap2 = refusals[2].0 - refusals[1].0;
        assert!(gap1 >= Duration::from_millis(200), "{level}: {gap1:?}");
        assert!(gap2 >= Duration::from_millis(400), "{level}: {gap2:?}");
    }
}
