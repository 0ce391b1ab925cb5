//! Edge cases against a scripted fake broker (`tests/support/scripted.rs`): duplicate and stray
//! acknowledgements, protocol violations, malformed bytes, half-open sockets, flow control and
//! session resumption. Each scenario that exists at both protocol levels runs at both, from one
//! body (see [`at_both_levels`]).

#[macro_use]
mod support;

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pigeon_mqtt::packet::{
    ConnAck, Disconnect, MqttString, Packet, Property, PubResponse, Publish, QosPid, ReasonCode,
    SubAck, SubscriptionOptions,
};
use pigeon_mqtt::topic::TopicFilter;
use pigeon_mqtt::{
    Client, ConnectionError, Event, Message, ProtocolError, ProtocolLevel, PublishError, QoS,
    ReconnectOptions,
};
use support::scripted::{
    expect_publish, pid, publish, success, within, Conn, Events, ScriptedBroker, Session, STEP,
};

at_both_levels!(
    duplicate_qos2_publish_is_delivered_once,
    stray_pubrel_is_answered_and_the_connection_stays,
    half_open_socket_is_detected_by_keep_alive,
    half_open_socket_is_detected_while_writes_block,
    disconnect_returns_when_the_broker_stops_reading,
    malformed_packet_ends_the_connection_with_a_decode_error,
    packet_above_own_maximum_packet_size_ends_the_connection,
    out_of_order_pubacks_complete_the_right_publishes,
    reconnect_with_session_present_resends_publish_and_pubrel,
    reconnect_without_session_resubscribes,
    refused_connack_is_reported,
    slow_consumer_gets_every_message_in_order,
);

// ---- scenarios at both levels ------------------------------------------------------------------

/// [MQTT-4.3.3-10] a QoS 2 PUBLISH sent again (DUP 1) before PUBREL is acknowledged again but
/// delivered once.
async fn duplicate_qos2_publish_is_delivered_once(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o).await;
    let id = pid(7);
    let mut p = publish("dup/t", "once", QosPid::ExactlyOnce(id));
    s.conn.send(Packet::Publish(p.clone())).await;
    assert_eq!(s.conn.expect().await, Packet::PubRec(PubResponse::new(id)));
    p.dup = true;
    s.conn.send(Packet::Publish(p)).await;
    assert_eq!(s.conn.expect().await, Packet::PubRec(PubResponse::new(id)));
    s.conn.send(Packet::PubRel(PubResponse::new(id))).await;
    assert_eq!(s.conn.expect().await, Packet::PubComp(PubResponse::new(id)));

    // A marker after the handshake: everything delivered before it has been seen.
    s.conn
        .send(Packet::Publish(publish("dup/end", "", QosPid::AtMostOnce)))
        .await;
    let mut got = Vec::new();
    loop {
        let m = s.events.message().await;
        if m.topic() == "dup/end" {
            break;
        }
        got.push((m.topic().to_owned(), m.payload_str().map(str::to_owned)));
    }
    assert_eq!(got, [("dup/t".to_owned(), Some("once".to_owned()))]);
}

/// A graceful disconnect towards a broker that stopped reading does not hang: the writes
/// still queued (DISCONNECT included) get the disconnect timeout, then the socket is closed.
async fn disconnect_returns_when_the_broker_stops_reading(level: ProtocolLevel) {
    let s = Session::connect(level, |o| {
        o.keep_alive(Duration::from_secs(60))
            .disconnect_timeout(Duration::from_millis(300))
    })
    .await;
    let client = s.client.clone();
    // Fill the socket buffers: QoS 0 publishes complete only once written.
    let publisher = tokio::spawn(async move {
        for _ in 0..1024 {
            let m = Message::new("stuck/t", vec![0u8; 64 * 1024]).unwrap();
            if client.begin_publish(m).await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let done = tokio::time::timeout(Duration::from_secs(5), s.client.disconnect()).await;
    assert!(
        done.is_ok(),
        "{level}: disconnect hung against a broker that does not read"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{level}: {:?}",
        started.elapsed()
    );
    publisher.abort();
    drop(s.conn);
}

/// A PUBREL for an identifier the client does not know is answered with PUBCOMP (0x92 at 5.0)
/// and is not a reason to close the connection.
async fn stray_pubrel_is_answered_and_the_connection_stays(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o).await;
    let stray = pid(42);
    s.conn.send(Packet::PubRel(PubResponse::new(stray))).await;
    let expected = if level.is_v5() {
        PubResponse::with_reason(stray, ReasonCode::PacketIdentifierNotFound)
    } else {
        PubResponse::new(stray)
    };
    assert_eq!(s.conn.expect().await, Packet::PubComp(expected));

    let id = pid(1);
    s.conn
        .send(Packet::Publish(publish(
            "after/pubrel",
            "still here",
            QosPid::AtLeastOnce(id),
        )))
        .await;
    assert_eq!(s.conn.expect().await, Packet::PubAck(PubResponse::new(id)));
    let m = s.events.message().await;
    assert_eq!(
        (m.topic(), m.payload_str()),
        ("after/pubrel", Some("still here"))
    );
}

/// A broker that reads but never answers PINGREQ is detected within 1.5 x keep alive, and the
/// client reconnects.
async fn half_open_socket_is_detected_by_keep_alive(level: ProtocolLevel) {
    // Measured from before the connection: the client's last packet (CONNECT, or its last
    // write) is later, so at least 1.5 s pass; the upper bound leaves room for a loaded machine.
    let start = Instant::now();
    let mut s = Session::connect(level, |o| o.keep_alive(Duration::from_secs(1))).await;
    let silent = s.conn.go_silent();
    let (lost, _) = s.events.connection_lost().await;
    let elapsed = start.elapsed();
    assert!(
        matches!(lost.error, ConnectionError::KeepAliveTimeout),
        "{lost:?}"
    );
    assert!(lost.was_connected && lost.reconnecting, "{lost:?}");
    // Keep alive 1 s: PINGREQ after 1 s of silence, then 0.5 s for PINGRESP. Generous bounds
    // for a loaded machine.
    assert!(
        elapsed >= Duration::from_millis(1000) && elapsed <= Duration::from_millis(2500),
        "keep alive timeout after {elapsed:?}"
    );
    let seen = silent.closed().await;
    assert!(seen.contains(&Packet::PingReq), "client sent {seen:?}");

    let (_conn, connect) = s.broker.accept_connect(success()).await;
    assert_eq!(connect.keep_alive, 1);
    s.events.connected().await;
}

/// A broker that vanished without closing the socket (it neither reads nor answers) while the
/// client has a backlog to write: the writes block, and keep alive must still end the
/// connection within about 1.5 x keep alive.
async fn half_open_socket_is_detected_while_writes_block(level: ProtocolLevel) {
    // Measured from before the connection: the client's last packet (CONNECT, or its last
    // write) is later, so at least 1.5 s pass; the upper bound leaves room for a loaded machine.
    let start = Instant::now();
    let mut s = Session::connect(level, |o| o.keep_alive(Duration::from_secs(1))).await;
    // The broker keeps `s.conn` open but never touches it again.
    let client = s.client.clone();
    let publisher = tokio::spawn(async move {
        // 64 MiB in total, far more than the socket buffers hold.
        for _ in 0..1024 {
            let m = Message::new("block/t", vec![0u8; 64 * 1024]).unwrap();
            if client.publish(m).await.is_err() {
                break;
            }
        }
    });
    let (lost, _) = s.events.connection_lost().await;
    let elapsed = start.elapsed();
    assert!(
        matches!(lost.error, ConnectionError::KeepAliveTimeout),
        "{lost:?}"
    );
    assert!(lost.was_connected && lost.reconnecting, "{lost:?}");
    assert!(
        elapsed >= Duration::from_millis(1000) && elapsed <= Duration::from_millis(3000),
        "keep alive timeout after {elapsed:?}"
    );
    publisher.abort();
    drop(s.conn);
    let (_conn, _) = s.broker.accept_connect(success()).await;
    s.events.connected().await;
}

/// Bytes that are not a valid packet (a PUBLISH with QoS 3) end the connection with a decode
/// error that names the rule; the client survives and reconnects.
async fn malformed_packet_ends_the_connection_with_a_decode_error(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o).await;
    // PUBLISH, flags 0110 (QoS 3), topic "a", packet identifier 1.
    s.conn
        .send_raw(&[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01])
        .await;
    let (lost, messages) = s.events.connection_lost().await;
    assert!(messages.is_empty(), "{messages:?}");
    match &lost.error {
        ConnectionError::Decode(e) => {
            assert!(e.to_string().contains("[MQTT-3.3.1-4]"), "{e}")
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(lost.was_connected && lost.reconnecting, "{lost:?}");
    if level.is_v5() {
        // [MQTT-4.13.1-1] at 5.0 the client says why before it closes: 0x81 Malformed Packet.
        match s.conn.expect().await {
            Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::MalformedPacket),
            other => panic!("expected DISCONNECT 0x81, got {other:?}"),
        }
    }
    s.conn.expect_closed().await;

    let (_conn, _) = s.broker.accept_connect(success()).await;
    s.events.connected().await;
}

/// A packet larger than the client's own Maximum Packet Size (announced in CONNECT at 5.0) is
/// refused from its fixed header, before the body is buffered, and never delivered.
async fn packet_above_own_maximum_packet_size_ends_the_connection(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o.maximum_packet_size(1000)).await;
    if level.is_v5() {
        assert_eq!(
            s.connect.properties.maximum_packet_size(),
            NonZeroU32::new(1000),
            "Maximum Packet Size sent in CONNECT"
        );
    }
    s.conn
        .send(Packet::Publish(publish(
            "big/t",
            vec![0u8; 2000],
            QosPid::AtMostOnce,
        )))
        .await;
    let (lost, messages) = s.events.connection_lost().await;
    assert!(messages.is_empty(), "{messages:?}");
    assert!(
        matches!(
            lost.error,
            ConnectionError::PacketTooLarge { max: 1000, .. }
        ),
        "{lost:?}"
    );
    // The error names the option to raise.
    assert!(
        lost.error
            .to_string()
            .contains("ConnectOptions::maximum_packet_size"),
        "{}",
        lost.error
    );
    assert!(lost.reconnecting);
    if level.is_v5() {
        // [MQTT-4.13.1-1] 0x95 Packet too large, then the close.
        match s.conn.expect().await {
            Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::PacketTooLarge),
            other => panic!("expected DISCONNECT 0x95, got {other:?}"),
        }
    }
    let (_conn, _) = s.broker.accept_connect(success()).await;
    s.events.connected().await;
}

/// PUBACKs in another order than the PUBLISHes complete the right futures, and publishing goes
/// on afterwards.
async fn out_of_order_pubacks_complete_the_right_publishes(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o).await;
    let mut tokens = Vec::new();
    for i in 0..3 {
        let m = Message::new("ooo/t", format!("m{i}"))
            .unwrap()
            .qos(QoS::AtLeastOnce);
        tokens.push(s.client.begin_publish(m).await.unwrap());
    }
    let mut ids = Vec::new();
    for i in 0..3 {
        let p = expect_publish(&mut s.conn).await;
        assert_eq!(p.payload, format!("m{i}").as_bytes());
        ids.push(p.packet_id().expect("QoS 1 has an identifier"));
    }
    for &i in &[2, 0, 1] {
        s.conn.send(Packet::PubAck(PubResponse::new(ids[i]))).await;
    }
    for (token, id) in tokens.into_iter().zip(&ids) {
        let ack = within(token).await.expect("acknowledged");
        assert_eq!(ack.packet_id, Some(*id));
    }
    // A late duplicate PUBACK is ignored.
    s.conn.send(Packet::PubAck(PubResponse::new(ids[0]))).await;

    let token = s
        .client
        .begin_publish(
            Message::new("ooo/next", "more")
                .unwrap()
                .qos(QoS::AtLeastOnce),
        )
        .await
        .unwrap();
    let p = expect_publish(&mut s.conn).await;
    assert_eq!(p.topic.as_str(), "ooo/next");
    let id = p.packet_id().unwrap();
    assert!(!ids.contains(&id), "identifier {id:?} reused");
    s.conn.send(Packet::PubAck(PubResponse::new(id))).await;
    assert_eq!(within(token).await.unwrap().packet_id, Some(id));
}

/// The broker drops the connection while a QoS 1 PUBLISH and a QoS 2 PUBREL are unacknowledged;
/// with Session Present on the next connection the client sends the PUBLISH again (DUP 1, same
/// identifier) and then the PUBREL [MQTT-4.4.0-1].
async fn reconnect_with_session_present_resends_publish_and_pubrel(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| {
        if level.is_v5() {
            o.session_expiry(3600)
        } else {
            o.clean_start(false)
        }
    })
    .await;
    assert_eq!(s.connect.clean_start, level.is_v5());

    let t1 = s
        .client
        .begin_publish(Message::new("sess/1", "one").unwrap().qos(QoS::AtLeastOnce))
        .await
        .unwrap();
    let t2 = s
        .client
        .begin_publish(Message::new("sess/2", "two").unwrap().qos(QoS::ExactlyOnce))
        .await
        .unwrap();
    let p1 = expect_publish(&mut s.conn).await;
    let p2 = expect_publish(&mut s.conn).await;
    assert!(
        matches!(p1.qos, QosPid::AtLeastOnce(_)) && !p1.dup,
        "{p1:?}"
    );
    assert!(
        matches!(p2.qos, QosPid::ExactlyOnce(_)) && !p2.dup,
        "{p2:?}"
    );
    let (id1, id2) = (p1.packet_id().unwrap(), p2.packet_id().unwrap());
    s.conn.send(Packet::PubRec(PubResponse::new(id2))).await;
    assert_eq!(s.conn.expect().await, Packet::PubRel(PubResponse::new(id2)));
    // An incoming QoS 2 message, received but not released when the connection drops.
    let incoming = pid(9);
    s.conn
        .send(Packet::Publish(publish(
            "sess/in",
            "in",
            QosPid::ExactlyOnce(incoming),
        )))
        .await;
    assert_eq!(
        s.conn.expect().await,
        Packet::PubRec(PubResponse::new(incoming))
    );
    let m = s.events.message().await;
    assert_eq!(m.topic(), "sess/in");

    s.conn.close();
    let (lost, _) = s.events.connection_lost().await;
    assert!(lost.was_connected && lost.reconnecting, "{lost:?}");

    let mut conn = s.broker.accept().await;
    let connect = conn.expect_connect().await;
    assert!(!connect.clean_start, "the session is resumed: {connect:?}");
    conn.send(Packet::ConnAck(ConnAck::new(true, ReasonCode::Success)))
        .await;
    let again = expect_publish(&mut conn).await;
    assert!(again.dup, "resent with DUP: {again:?}");
    assert_eq!(again.qos, p1.qos);
    assert_eq!(
        (again.topic.as_str(), &again.payload[..]),
        ("sess/1", &b"one"[..])
    );
    assert_eq!(conn.expect().await, Packet::PubRel(PubResponse::new(id2)));
    assert!(s.events.connected().await.session_present);

    conn.send(Packet::PubAck(PubResponse::new(id1))).await;
    conn.send(Packet::PubComp(PubResponse::new(id2))).await;
    assert_eq!(within(t1).await.unwrap().packet_id, Some(id1));
    assert_eq!(within(t2).await.unwrap().packet_id, Some(id2));

    // The server resends the unreleased incoming QoS 2 PUBLISH: acknowledged, not delivered
    // again [MQTT-4.3.3-10]; its PUBREL completes normally (the identifier is known).
    let mut dup = publish("sess/in", "in", QosPid::ExactlyOnce(incoming));
    dup.dup = true;
    conn.send(Packet::Publish(dup)).await;
    assert_eq!(
        conn.expect().await,
        Packet::PubRec(PubResponse::new(incoming))
    );
    conn.send(Packet::PubRel(PubResponse::new(incoming))).await;
    assert_eq!(
        conn.expect().await,
        Packet::PubComp(PubResponse::new(incoming))
    );
    conn.send(Packet::Publish(publish("sess/end", "", QosPid::AtMostOnce)))
        .await;
    assert_eq!(s.events.message().await.topic(), "sess/end");
}

/// Session Present 0 on a reconnect: the client subscribes again to every filter it had.
async fn reconnect_without_session_resubscribes(level: ProtocolLevel) {
    let mut s = Session::connect(level, |o| o).await;
    let first = vec![
        (filter("rs/a/+"), SubscriptionOptions::new(QoS::AtLeastOnce)),
        (filter("rs/b/#"), SubscriptionOptions::new(QoS::ExactlyOnce)),
    ];
    let (acked, sub) = tokio::join!(
        within(
            s.client
                .subscribe_with(first.clone(), pigeon_mqtt::packet::Properties::new())
        ),
        expect_subscribe_and_ack(&mut s.conn),
    );
    acked.unwrap();
    assert_eq!(sub, first);
    let (acked, sub) = tokio::join!(
        within(s.client.subscribe("rs/c", QoS::AtMostOnce)),
        expect_subscribe_and_ack(&mut s.conn),
    );
    acked.unwrap();
    assert_eq!(
        sub,
        [(filter("rs/c"), SubscriptionOptions::new(QoS::AtMostOnce))]
    );

    // A third subscription is in flight (no SUBACK yet) when the connection drops.
    let client = s.client.clone();
    let in_flight = tokio::spawn(async move { client.subscribe("rs/d", QoS::AtLeastOnce).await });
    match s.conn.expect().await {
        Packet::Subscribe(sub) => assert_eq!(
            sub.filters,
            [(filter("rs/d"), SubscriptionOptions::new(QoS::AtLeastOnce))]
        ),
        other => panic!("expected SUBSCRIBE, got {other:?}"),
    }

    s.conn.close();
    let (lost, _) = s.events.connection_lost().await;
    assert!(lost.reconnecting, "{lost:?}");

    let (mut conn, _) = s.broker.accept_connect(success()).await;
    assert!(!s.events.connected().await.session_present);
    let mut expected: Vec<_> = first
        .iter()
        .cloned()
        .chain([
            (filter("rs/c"), SubscriptionOptions::new(QoS::AtMostOnce)),
            (filter("rs/d"), SubscriptionOptions::new(QoS::AtLeastOnce)),
        ])
        .map(|(f, o)| (f.as_str().to_owned(), o))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let mut resent = Vec::new();
    while resent.len() < expected.len() {
        resent.extend(
            expect_subscribe_and_ack(&mut conn)
                .await
                .into_iter()
                .map(|(f, o)| (f.as_str().to_owned(), o)),
        );
    }
    resent.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(resent, expected);
    // The subscription that was in flight completes with the SUBACK of its re-sent SUBSCRIBE.
    within(in_flight).await.unwrap().unwrap();
    // Nothing else (no duplicate SUBSCRIBE) follows.
    conn.expect_nothing(Duration::from_millis(200)).await;
}

/// CONNACK with Bad User Name or Password (5.0 reason 0x86, 3.1.1 return code 4) is reported;
/// the first connection is retried only when `retry_first_connect` says so.
async fn refused_connack_is_reported(level: ProtocolLevel) {
    for retry in [false, true] {
        let broker = ScriptedBroker::start().await;
        let opts = broker.options(level).reconnect(ReconnectOptions {
            retry_first_connect: retry,
            ..ReconnectOptions::default()
                .backoff(Duration::from_millis(50), Duration::from_millis(200))
        });
        let (_client, eventloop) = Client::new(opts);
        let mut events = Events::spawn(eventloop);
        let mut conn = broker.accept().await;
        conn.expect_connect().await;
        if level.is_v5() {
            let mut ack = ConnAck::new(false, ReasonCode::BadUserNameOrPassword);
            ack.properties
                .push(Property::ReasonString(MqttString::from_static(
                    "wrong password",
                )));
            conn.send(Packet::ConnAck(ack)).await;
        } else {
            conn.send_raw(&[0x20, 0x02, 0x00, 0x04]).await;
        }
        let (lost, _) = events.connection_lost().await;
        match &lost.error {
            ConnectionError::Refused {
                reason_code: ReasonCode::BadUserNameOrPassword,
                reason_string,
            } => assert_eq!(
                reason_string.as_deref(),
                level.is_v5().then_some("wrong password")
            ),
            other => panic!("expected Refused, got {other:?}"),
        }
        assert!(!lost.was_connected);
        assert_eq!(lost.reconnecting, retry);
        conn.expect_closed().await;
        if retry {
            let mut again = broker.accept().await;
            again.expect_connect().await;
        } else {
            match events.next().await {
                Err(ConnectionError::Refused {
                    reason_code: ReasonCode::BadUserNameOrPassword,
                    ..
                }) => {}
                other => panic!("expected poll to fail with Refused, got {other:?}"),
            }
            assert!(broker
                .accept_within(Duration::from_millis(300))
                .await
                .is_none());
        }
    }
}

/// Backpressure: while the application does not poll, the client reads nothing (the broker's
/// writes block); once it polls, all 2,000 QoS 1 messages arrive, in order, none dropped.
async fn slow_consumer_gets_every_message_in_order(level: ProtocolLevel) {
    const COUNT: usize = 2000;
    // 2,000 x 32 KiB = 64 MiB: more than the kernel can buffer on this loopback connection
    // (checked below against the socket buffer limits), so the broker must block.
    const PAYLOAD: usize = 32 * 1024;

    let broker = ScriptedBroker::start().await;
    let (_client, mut eventloop) = Client::new(broker.options(level));
    let (accepted, connected) = tokio::join!(broker.accept_connect(success()), async {
        loop {
            match tokio::time::timeout(STEP, eventloop.poll()).await {
                Ok(Ok(Event::Connected(_))) => break,
                Ok(Ok(_)) => {}
                other => panic!("expected Connected, got {other:?}"),
            }
        }
    });
    let ((mut conn, _), ()) = (accepted, connected);

    let written = Arc::new(AtomicUsize::new(0));
    let progress = written.clone();
    let writer = tokio::spawn(async move {
        for i in 0..COUNT {
            let mut payload = vec![b'.'; PAYLOAD];
            let n = format!("{i:06}");
            payload[..n.len()].copy_from_slice(n.as_bytes());
            let id = pid(i as u16 + 1);
            conn.send_blocking(Packet::Publish(publish(
                "slow/t",
                payload,
                QosPid::AtLeastOnce(id),
            )))
            .await;
            progress.fetch_add(1, Ordering::SeqCst);
        }
        // The client acknowledges each message, in order.
        for i in 0..COUNT {
            let id = pid(i as u16 + 1);
            assert_eq!(conn.expect().await, Packet::PubAck(PubResponse::new(id)));
        }
        conn
    });

    // The application is busy: no polling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = written.load(Ordering::SeqCst);
    if let Some(limit) = socket_buffer_limit() {
        if COUNT * PAYLOAD > limit {
            assert!(
                before < COUNT,
                "the broker wrote all {COUNT} messages although nobody read them"
            );
        }
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut next = 0;
    while next < COUNT {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(Event::Message(m))) => {
                let n = format!("{next:06}");
                assert_eq!(
                    &m.payload()[..n.len()],
                    n.as_bytes(),
                    "message {next} out of order"
                );
                assert_eq!(m.payload().len(), PAYLOAD);
                next += 1;
            }
            Ok(Ok(Event::Published(_) | Event::Subscribed(_))) => {}
            other => panic!("after {next} messages: {other:?}"),
        }
    }
    // Keep polling so the last PUBACKs are written, until the broker has seen them all.
    let mut writer = writer;
    let _conn = loop {
        tokio::select! {
            done = &mut writer => break done.expect("broker task"),
            event = tokio::time::timeout_at(deadline, eventloop.poll()) => match event {
                Ok(Ok(Event::Message(m))) => panic!("message beyond {COUNT}: {m:?}"),
                Ok(Ok(_)) => {}
                other => panic!("while finishing: {other:?}"),
            },
        }
    };
    eprintln!("{level}: broker had written {before} of {COUNT} messages before the first poll");
}

// ---- 5.0 only ---------------------------------------------------------------------------------

/// A PUBLISH with an empty topic and a Topic Alias never set on this connection is a protocol
/// error [MQTT-3.3.2-7]: DISCONNECT 0x82, the connection closes, and no message with an empty
/// topic reaches the application.
#[tokio::test]
async fn unknown_topic_alias_is_a_protocol_error() {
    let mut s = Session::connect(ProtocolLevel::V5, |o| o.topic_alias_maximum(10)).await;
    // A valid alias first: set (topic + alias 3), then used (empty topic + alias 3).
    let mut p = publish("alias/a", "set", QosPid::AtMostOnce);
    p.properties.push(Property::TopicAlias(nz16(3)));
    s.conn.send(Packet::Publish(p)).await;
    // PUBLISH, empty topic, properties: Topic Alias 3, payload "used".
    s.conn
        .send_raw(&[
            0x30, 0x0A, 0x00, 0x00, 0x03, 0x23, 0x00, 0x03, b'u', b's', b'e', b'd',
        ])
        .await;
    // The same with alias 5, which was never set.
    s.conn
        .send_raw(&[0x30, 0x08, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, b'x', b'x'])
        .await;

    match s.conn.expect().await {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::ProtocolError, "{d:?}"),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    s.conn.expect_closed().await;
    let (lost, messages) = s.events.connection_lost().await;
    assert!(
        matches!(
            lost.error,
            ConnectionError::Protocol(ProtocolError::UnknownTopicAlias(5))
        ),
        "{lost:?}"
    );
    assert!(lost.was_connected);
    let got: Vec<_> = messages
        .iter()
        .map(|m| (m.topic(), m.payload_str().unwrap_or("?")))
        .collect();
    assert_eq!(got, [("alias/a", "set"), ("alias/a", "used")]);
}

/// [MQTT-3.3.2-9] a Topic Alias above the client's Topic Alias Maximum: DISCONNECT 0x94.
#[tokio::test]
async fn topic_alias_above_our_maximum_is_a_protocol_error() {
    let mut s = Session::connect(ProtocolLevel::V5, |o| o.topic_alias_maximum(2)).await;
    let mut p = publish("alias/big", "x", QosPid::AtMostOnce);
    p.properties.push(Property::TopicAlias(nz16(3)));
    s.conn.send(Packet::Publish(p)).await;
    match s.conn.expect().await {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::TopicAliasInvalid, "{d:?}"),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    s.conn.expect_closed().await;
    let (lost, messages) = s.events.connection_lost().await;
    assert!(messages.is_empty(), "{messages:?}");
    assert!(
        matches!(
            lost.error,
            ConnectionError::Protocol(ProtocolError::TopicAliasTooLarge { alias: 3, max: 2 })
        ),
        "{lost:?}"
    );
}

/// The server sends more unacknowledged QoS 2 messages than our Receive Maximum: DISCONNECT 0x93.
#[tokio::test]
async fn receive_maximum_violation_is_a_protocol_error() {
    let mut s = Session::connect(ProtocolLevel::V5, |o| o.receive_maximum(2)).await;
    assert_eq!(
        s.connect.properties.receive_maximum(),
        Some(nz16(2)),
        "Receive Maximum sent in CONNECT"
    );
    let qos2 = |i: u16| {
        Packet::Publish(publish(
            "rm/t",
            format!("m{i}"),
            QosPid::ExactlyOnce(pid(i)),
        ))
    };
    s.conn.send(qos2(1)).await;
    s.conn.send(qos2(2)).await;
    assert_eq!(
        s.conn.expect().await,
        Packet::PubRec(PubResponse::new(pid(1)))
    );
    assert_eq!(
        s.conn.expect().await,
        Packet::PubRec(PubResponse::new(pid(2)))
    );
    // Releasing one frees a slot: a third message is within the limit.
    s.conn.send(Packet::PubRel(PubResponse::new(pid(1)))).await;
    assert_eq!(
        s.conn.expect().await,
        Packet::PubComp(PubResponse::new(pid(1)))
    );
    s.conn.send(qos2(3)).await;
    assert_eq!(
        s.conn.expect().await,
        Packet::PubRec(PubResponse::new(pid(3)))
    );
    // Two unreleased (2 and 3): a fourth exceeds Receive Maximum 2.
    s.conn.send(qos2(4)).await;
    match s.conn.expect().await {
        Packet::Disconnect(d) => {
            assert_eq!(d.reason_code, ReasonCode::ReceiveMaximumExceeded, "{d:?}")
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    s.conn.expect_closed().await;
    let (lost, messages) = s.events.connection_lost().await;
    assert!(
        matches!(
            lost.error,
            ConnectionError::Protocol(ProtocolError::ReceiveMaximumExceeded(2))
        ),
        "{lost:?}"
    );
    let got: Vec<_> = messages
        .iter()
        .map(|m| m.payload_str().unwrap_or("?"))
        .collect();
    assert_eq!(got, ["m1", "m2", "m3"]);
}

/// DISCONNECT from the server (Use Another Server, with Reason String and Server Reference) is
/// reported with everything it carried, and the client reconnects after a backoff.
#[tokio::test]
async fn server_disconnect_is_reported_and_the_client_reconnects() {
    let min_delay = Duration::from_millis(200);
    let mut s = Session::connect(ProtocolLevel::V5, |o| {
        o.reconnect(ReconnectOptions::default().backoff(min_delay, Duration::from_secs(1)))
    })
    .await;
    let mut d = Disconnect::new(ReasonCode::UseAnotherServer);
    d.properties
        .push(Property::ReasonString(MqttString::from_static(
            "maintenance",
        )));
    d.properties
        .push(Property::ServerReference(MqttString::from_static(
            "other.example:1883",
        )));
    s.conn.send(Packet::Disconnect(d.clone())).await;
    let sent = Instant::now();
    let (lost, _) = s.events.connection_lost().await;
    match &lost.error {
        ConnectionError::ServerDisconnect(got) => {
            assert_eq!(got, &d);
            assert_eq!(got.reason_code, ReasonCode::UseAnotherServer);
            assert_eq!(
                got.properties.reason_string().map(MqttString::as_str),
                Some("maintenance")
            );
            assert_eq!(
                got.properties.server_reference().map(MqttString::as_str),
                Some("other.example:1883")
            );
        }
        other => panic!("expected ServerDisconnect, got {other:?}"),
    }
    assert!(lost.was_connected && lost.reconnecting, "{lost:?}");
    s.conn.expect_closed().await;

    let (_conn, _) = s.broker.accept_connect(success()).await;
    let gap = sent.elapsed();
    // The first delay is drawn from [min / 2, min].
    assert!(
        gap >= min_delay / 2,
        "reconnected after {gap:?}, before the backoff"
    );
    s.events.connected().await;
}

/// PUBACK (and PUBREC) with a reason code of 0x80 or above fails that publish only.
#[tokio::test]
async fn puback_with_an_error_reason_rejects_the_publish() {
    let mut s = Session::connect(ProtocolLevel::V5, |o| o).await;
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let token = s
            .client
            .begin_publish(Message::new("deny/t", "x").unwrap().qos(qos))
            .await
            .unwrap();
        let id = expect_publish(&mut s.conn).await.packet_id().unwrap();
        let mut ack = PubResponse::with_reason(id, ReasonCode::NotAuthorized);
        ack.properties
            .push(Property::ReasonString(MqttString::from_static("acl")));
        s.conn
            .send(if qos == QoS::AtLeastOnce {
                Packet::PubAck(ack)
            } else {
                Packet::PubRec(ack)
            })
            .await;
        assert_eq!(
            within(token).await,
            Err(PublishError::Rejected {
                reason_code: ReasonCode::NotAuthorized,
                reason_string: Some("acl".to_owned()),
            })
        );
    }
    // No PUBREL follows the refused PUBREC; the connection is still usable.
    let token = s
        .client
        .begin_publish(Message::new("deny/ok", "y").unwrap().qos(QoS::AtLeastOnce))
        .await
        .unwrap();
    let p = expect_publish(&mut s.conn).await;
    assert_eq!(p.topic.as_str(), "deny/ok");
    let id = p.packet_id().unwrap();
    s.conn.send(Packet::PubAck(PubResponse::new(id))).await;
    assert_eq!(within(token).await.unwrap().packet_id, Some(id));
}

/// [MQTT-3.1.2-24] a message above the server's Maximum Packet Size fails without being sent.
#[tokio::test]
async fn message_above_server_maximum_packet_size_is_refused_locally() {
    let mut connack = success();
    connack
        .properties
        .push(Property::MaximumPacketSize(NonZeroU32::new(100).unwrap()));
    let mut s = Session::connect_with(ProtocolLevel::V5, |o| o, connack).await;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        let big = Message::new("mps/big", vec![0u8; 200]).unwrap().qos(qos);
        match within(s.client.publish(big)).await {
            Err(PublishError::PacketTooLarge { size, max: 100 }) => assert!(size > 200),
            other => panic!("expected PacketTooLarge, got {other:?}"),
        }
    }
    let token = s
        .client
        .begin_publish(
            Message::new("mps/small", "small")
                .unwrap()
                .qos(QoS::AtLeastOnce),
        )
        .await
        .unwrap();
    // The first thing the broker sees is the small message.
    let p = expect_publish(&mut s.conn).await;
    assert_eq!(p.topic.as_str(), "mps/small");
    let id = p.packet_id().unwrap();
    s.conn.send(Packet::PubAck(PubResponse::new(id))).await;
    within(token).await.unwrap();
}

/// The server's Receive Maximum bounds the QoS 1 messages in flight.
#[tokio::test]
async fn server_receive_maximum_bounds_the_inflight_window() {
    let mut connack = success();
    connack.properties.push(Property::ReceiveMaximum(nz16(2)));
    let mut s = Session::connect_with(ProtocolLevel::V5, |o| o, connack).await;
    let mut tokens = Vec::new();
    for i in 0..5 {
        let m = Message::new("rmax/t", format!("m{i}"))
            .unwrap()
            .qos(QoS::AtLeastOnce);
        tokens.push(s.client.begin_publish(m).await.unwrap());
    }
    let mut unacked = std::collections::VecDeque::new();
    let mut received = 0;
    while received < 5 || !unacked.is_empty() {
        if unacked.len() < 2 && received < 5 {
            let p = expect_publish(&mut s.conn).await;
            assert_eq!(p.payload, format!("m{received}").as_bytes());
            received += 1;
            unacked.push_back(p.packet_id().unwrap());
            continue;
        }
        // Window full (or everything sent): the client must wait for an acknowledgement.
        s.conn.expect_nothing(Duration::from_millis(150)).await;
        let id = unacked.pop_front().unwrap();
        s.conn.send(Packet::PubAck(PubResponse::new(id))).await;
    }
    for t in tokens {
        within(t).await.unwrap();
    }
}

/// [MQTT-3.2.2-21] a Server Keep Alive in CONNACK replaces the client's: a half-open socket is
/// detected within 1.5 x the server's value.
#[tokio::test]
async fn server_keep_alive_governs_half_open_detection() {
    let mut connack = success();
    connack.properties.push(Property::ServerKeepAlive(1));
    let start = Instant::now();
    let mut s = Session::connect_with(
        ProtocolLevel::V5,
        |o| o.keep_alive(Duration::from_secs(60)),
        connack,
    )
    .await;
    let silent = s.conn.go_silent();
    let (lost, _) = s.events.connection_lost().await;
    let elapsed = start.elapsed();
    assert!(
        matches!(lost.error, ConnectionError::KeepAliveTimeout),
        "{lost:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(1000) && elapsed <= Duration::from_millis(2500),
        "keep alive timeout after {elapsed:?}"
    );
    assert!(silent.closed().await.contains(&Packet::PingReq));
}

/// Outgoing topic aliases (auto, within the server's Topic Alias Maximum) belong to one
/// connection: after a reconnect the topic is sent in full again to set the alias anew.
#[tokio::test]
async fn outgoing_topic_aliases_are_reset_on_reconnect() {
    let mut connack = success();
    connack.properties.push(Property::TopicAliasMaximum(1));
    let mut s = Session::connect_with(
        ProtocolLevel::V5,
        |o| o.auto_topic_alias(true),
        connack.clone(),
    )
    .await;
    let wire = |p: &Publish| (p.topic.as_str().to_owned(), p.properties.topic_alias());
    let sent = [("ta/a", "1"), ("ta/a", "2"), ("ta/b", "3")];
    let mut got = Vec::new();
    for (topic, payload) in sent {
        within(s.client.publish(Message::new(topic, payload).unwrap()))
            .await
            .unwrap();
        let p = expect_publish(&mut s.conn).await;
        assert_eq!(&p.payload[..], payload.as_bytes());
        got.push(wire(&p));
    }
    assert_eq!(
        got,
        [
            ("ta/a".to_owned(), Some(nz16(1))),
            (String::new(), Some(nz16(1))),
            ("ta/b".to_owned(), None),
        ]
    );

    s.conn.close();
    s.events.connection_lost().await;
    let (mut conn, _) = s.broker.accept_connect(connack).await;
    s.events.connected().await;
    within(s.client.publish(Message::new("ta/a", "4").unwrap()))
        .await
        .unwrap();
    let p = expect_publish(&mut conn).await;
    assert_eq!(wire(&p), ("ta/a".to_owned(), Some(nz16(1))));
}

// ---- helpers ----------------------------------------------------------------------------------

fn nz16(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("non-zero")
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("valid topic filter")
}

/// Expects SUBSCRIBE, answers with SUBACK granting every filter its QoS; returns the filters.
async fn expect_subscribe_and_ack(conn: &mut Conn) -> Vec<(TopicFilter, SubscriptionOptions)> {
    match conn.expect().await {
        Packet::Subscribe(sub) => {
            let codes = sub
                .filters
                .iter()
                .map(|(_, o)| ReasonCode::granted(o.qos))
                .collect();
            conn.send(Packet::SubAck(SubAck::new(sub.packet_id, codes)))
                .await;
            sub.filters
        }
        other => panic!("expected SUBSCRIBE, got {other:?}"),
    }
}

/// The most a loopback TCP connection can buffer in one direction (the sender's and the
/// receiver's maximum socket buffers), if the kernel says.
fn socket_buffer_limit() -> Option<usize> {
    let max = |path: &str| -> Option<usize> {
        std::fs::read_to_string(path)
            .ok()?
            .split_whitespace()
            .last()?
            .parse()
            .ok()
    };
    Some(max("/proc/sys/net/ipv4/tcp_rmem")? + max("/proc/sys/net/ipv4/tcp_wmem")?)
}
