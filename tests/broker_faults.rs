//! Brokers that misbehave, scripted byte for byte (`tests/support/scripted.rs`): the client must
//! never stall and never hammer. An acknowledgement of the wrong kind, a broker that drops the
//! connection on every QoS 2 PUBLISH, a packet announced far beyond the client's limit, and the
//! completion events of QoS 0 publishes. Real-broker versions of these cases (NATS, Mosquitto)
//! are in `tests/nats_faults.rs` and `tests/stale_session.rs`.

#[macro_use]
mod support;

use std::time::Duration;

use pigeon_mqtt::packet::{Packet, PacketType, PubResponse, QoS, ReasonCode};
use pigeon_mqtt::{
    ConnectionError, Event, Message, ProtocolError, ProtocolLevel, PublishError, ReconnectOptions,
    DEFAULT_MAXIMUM_PACKET_SIZE,
};
use support::scripted::{expect_publish, success, within, Session};

at_both_levels!(
    qos2_answered_with_puback_fails_and_frees_its_slot,
    qos1_answered_with_pubrec_is_a_protocol_error,
    qos2_answered_with_pubcomp_before_pubrec_is_a_protocol_error,
    broker_closing_on_every_qos2_publish_makes_it_fail_after_bounded_attempts,
    qos0_published_event_is_handed_out_at_once,
    packet_announced_beyond_the_limit_is_refused_from_its_header,
);

fn fast_reconnect() -> ReconnectOptions {
    ReconnectOptions::default().backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// A broker that takes QoS 0 and 1 only and answers QoS 2 with PUBACK (RabbitMQ 3.10): the
/// publish fails with an error that says so, its slot is freed, QoS 2 publishes queued behind it
/// fail the same way, and a QoS 1 publish behind them completes. [MQTT-4.3.3]
async fn qos2_answered_with_puback_fails_and_frees_its_slot(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o.max_inflight(2).reconnect(fast_reconnect())).await;
    let mut q2 = Vec::new();
    for i in 0..3 {
        let m = Message::new("rabbit/q2", format!("{i}")).unwrap();
        q2.push(
            within(s.client.begin_publish(m.qos(QoS::ExactlyOnce)))
                .await
                .unwrap(),
        );
    }
    let q1 = within(
        s.client.begin_publish(
            Message::new("rabbit/q1", "behind")
                .unwrap()
                .qos(QoS::AtLeastOnce),
        ),
    )
    .await
    .unwrap();
    // The window holds two: the first two QoS 2 messages go out.
    let first = expect_publish(&mut s.conn).await;
    let _second = expect_publish(&mut s.conn).await;
    let id = first.qos.packet_id().expect("QoS 2 has an identifier");
    s.conn.send(Packet::PubAck(PubResponse::new(id))).await;

    let results: Vec<_> = futures::future::join_all(q2).await;
    match &results[0] {
        Err(PublishError::Protocol(e @ ProtocolError::WrongAcknowledgement { .. })) => {
            assert!(
                e.to_string().contains(
                    "acknowledged a QoS 2 PUBLISH with PUBACK: it does not support QoS 2"
                ),
                "{e}"
            );
        }
        other => panic!("expected the wrong-acknowledgement error, got {other:?}"),
    }
    for r in &results[1..] {
        assert!(
            matches!(
                r,
                Err(PublishError::Rejected {
                    reason_code: ReasonCode::QoSNotSupported,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    // A protocol violation closes the connection; at 5.0 with DISCONNECT 0x82 first.
    if level.is_v5() {
        match s.conn.expect().await {
            Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::ProtocolError),
            other => panic!("expected DISCONNECT 0x82, got {other:?}"),
        }
    }
    s.conn.expect_closed().await;
    let (lost, _) = s.events.connection_lost().await;
    assert!(
        matches!(
            lost.error,
            ConnectionError::Protocol(ProtocolError::WrongAcknowledgement {
                ack: PacketType::PubAck,
                ..
            })
        ),
        "{lost:?}"
    );
    // The QoS 1 publish goes out on the next connection and completes.
    let (mut conn, _) = s.broker.accept_connect(success()).await;
    let p = expect_publish(&mut conn).await;
    assert_eq!(p.qos.qos(), QoS::AtLeastOnce);
    let id = p.qos.packet_id().expect("QoS 1 has an identifier");
    conn.send(Packet::PubAck(PubResponse::new(id))).await;
    within(q1).await.expect("the QoS 1 publish completes");
    // Later QoS 2 publishes are refused at once, as above a Maximum QoS of 1.
    let late = s.client.publish(
        Message::new("rabbit/q2", "late")
            .unwrap()
            .qos(QoS::ExactlyOnce),
    );
    assert!(
        matches!(
            within(late).await,
            Err(PublishError::Rejected {
                reason_code: ReasonCode::QoSNotSupported,
                ..
            })
        ),
        "a later QoS 2 publish is refused"
    );
}

/// PUBREC for a QoS 1 message is a protocol violation [MQTT-4.3.2]: the publish fails with it
/// and the connection is closed.
async fn qos1_answered_with_pubrec_is_a_protocol_error(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o.reconnect(fast_reconnect())).await;
    let token = within(
        s.client
            .begin_publish(Message::new("q1/t", "x").unwrap().qos(QoS::AtLeastOnce)),
    )
    .await
    .unwrap();
    let p = expect_publish(&mut s.conn).await;
    let id = p.qos.packet_id().expect("identifier");
    s.conn.send(Packet::PubRec(PubResponse::new(id))).await;
    match within(token).await {
        Err(PublishError::Protocol(ProtocolError::WrongAcknowledgement {
            qos: QoS::AtLeastOnce,
            ack: PacketType::PubRec,
            ..
        })) => {}
        other => panic!("expected the wrong-acknowledgement error, got {other:?}"),
    }
    let (lost, _) = s.events.connection_lost().await;
    assert!(
        matches!(lost.error, ConnectionError::Protocol(_)),
        "{lost:?}"
    );
    assert!(lost.reconnecting);
    // The message is not sent again on the next connection: the slot is free.
    let (mut conn, _) = s.broker.accept_connect(success()).await;
    conn.expect_nothing(Duration::from_millis(200)).await;
}

/// PUBCOMP for a QoS 2 message that has not had its PUBREC is a protocol violation
/// [MQTT-4.3.3].
async fn qos2_answered_with_pubcomp_before_pubrec_is_a_protocol_error(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o.reconnect(fast_reconnect())).await;
    let token = within(
        s.client
            .begin_publish(Message::new("q2/t", "x").unwrap().qos(QoS::ExactlyOnce)),
    )
    .await
    .unwrap();
    let p = expect_publish(&mut s.conn).await;
    let id = p.qos.packet_id().expect("identifier");
    s.conn.send(Packet::PubComp(PubResponse::new(id))).await;
    match within(token).await {
        Err(PublishError::Protocol(e)) => {
            assert!(e.to_string().contains("PUBCOMP before PUBREC"), "{e}")
        }
        other => panic!("expected the wrong-acknowledgement error, got {other:?}"),
    }
    let (lost, _) = s.events.connection_lost().await;
    assert!(
        matches!(lost.error, ConnectionError::Protocol(_)),
        "{lost:?}"
    );
}

/// A broker that closes the connection whenever it receives a QoS 2 PUBLISH (NATS 2.9 does):
/// after three closures in a row the publish fails with an error naming the likely cause, and
/// a QoS 1 publish behind it then completes. Without the bound the client would resend it
/// forever.
async fn broker_closing_on_every_qos2_publish_makes_it_fail_after_bounded_attempts(
    level: ProtocolLevel,
) {
    let mut s = Session::connect(level, |o| o.reconnect(fast_reconnect())).await;
    let q2 = within(
        s.client
            .begin_publish(Message::new("nats/q2", "x").unwrap().qos(QoS::ExactlyOnce)),
    )
    .await
    .unwrap();
    let q1 = within(
        s.client
            .begin_publish(Message::new("nats/q1", "y").unwrap().qos(QoS::AtLeastOnce)),
    )
    .await
    .unwrap();
    let mut conn = Some(s.conn);
    for attempt in 1..=3 {
        let mut c = match conn.take() {
            Some(c) => c,
            None => {
                let c = s.broker.accept_connect(success()).await.0;
                s.events.connected().await;
                c
            }
        };
        let p = expect_publish(&mut c).await;
        assert_eq!(p.qos.qos(), QoS::ExactlyOnce, "attempt {attempt}: {p:?}");
        // The broker drops the connection on the QoS 2 PUBLISH, before reading further.
        c.close();
        let (lost, _) = s.events.connection_lost().await;
        assert!(lost.reconnecting, "{lost:?}");
    }
    match within(q2).await {
        Err(e @ PublishError::ServerClosesConnection { attempts: 3, .. }) => {
            assert!(e.to_string().contains("does not support QoS 2"), "{e}");
        }
        other => panic!("expected ServerClosesConnection, got {other:?}"),
    }
    // The next connection carries only the QoS 1 message, which completes.
    let (mut conn, _) = s.broker.accept_connect(success()).await;
    let p = expect_publish(&mut conn).await;
    assert_eq!(p.qos.qos(), QoS::AtLeastOnce);
    let id = p.qos.packet_id().expect("identifier");
    conn.send(Packet::PubAck(PubResponse::new(id))).await;
    within(q1).await.expect("the QoS 1 publish completes");
}

/// The completion event of a QoS 0 publish is handed out as soon as the message is written,
/// not at the event loop's next wake-up (which, idle, is a keep alive away).
async fn qos0_published_event_is_handed_out_at_once(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o.keep_alive(Duration::from_secs(60))).await;
    let token = within(s.client.begin_publish(Message::new("q0/t", "x").unwrap()))
        .await
        .unwrap();
    expect_publish(&mut s.conn).await;
    within(token).await.expect("written");
    match s.events.next_within(Duration::from_secs(2)).await {
        Some(Ok(Event::Published(Ok(_)))) => {}
        other => panic!("expected Event::Published at once, got {other:?}"),
    }
}

/// A PUBLISH whose fixed header announces 200 MiB is refused from its header with the default
/// limit (1 MiB, announced as Maximum Packet Size at 5.0), without waiting for (or buffering) its
/// body; the error names the option to raise. [MQTT-3.1.2-24]
async fn packet_announced_beyond_the_limit_is_refused_from_its_header(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o.reconnect(fast_reconnect())).await;
    if level.is_v5() {
        assert_eq!(
            s.connect.properties.maximum_packet_size().map(|v| v.get()),
            Some(DEFAULT_MAXIMUM_PACKET_SIZE),
            "Maximum Packet Size announced in CONNECT"
        );
    }
    // PUBLISH QoS 0, remaining length 200 MiB (variable byte integer 0x80 0x80 0x80 0x64), then
    // the first bytes of a topic; the rest never comes.
    s.conn
        .send_raw(&[0x30, 0x80, 0x80, 0x80, 0x64, 0x00, 0x03, b'b', b'i', b'g'])
        .await;
    let (lost, messages) = s.events.connection_lost().await;
    assert!(messages.is_empty());
    match &lost.error {
        ConnectionError::PacketTooLarge { size, max } => {
            assert_eq!(*max, DEFAULT_MAXIMUM_PACKET_SIZE);
            assert!(*size > 200 * 1024 * 1024, "{size}");
        }
        other => panic!("expected PacketTooLarge, got {other:?}"),
    }
    assert!(
        lost.error
            .to_string()
            .contains("ConnectOptions::maximum_packet_size"),
        "{}",
        lost.error
    );
    if level.is_v5() {
        match s.conn.expect().await {
            Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::PacketTooLarge),
            other => panic!("expected DISCONNECT 0x95, got {other:?}"),
        }
    }
    s.conn.expect_closed().await;
}
