//! Deterministic scenarios for the sans-IO engine ([`pigeon_mqtt::state::Engine`]).
//!
//! Nothing here opens a socket or sleeps. A [`Harness`] plays the event loop and the broker: it
//! hands the engine packets, requests and a fake clock (one `Instant` captured at the start plus
//! `Duration` offsets), and reads back what the engine transmits and reports.
//!
//! Every scenario that exists at both protocol levels is written once and run at MQTT 3.1.1 and
//! at MQTT 5.0 by [`both_versions!`]; scenarios about features only MQTT 5.0 has (properties in
//! CONNACK, topic aliases, reason codes, server DISCONNECT) are plain tests at 5.0. Each assertion
//! names the normative statement it checks, numbered as in the OASIS MQTT 5.0 standard.

use std::collections::VecDeque;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use pigeon_mqtt::codec::{self, Decoded};
use pigeon_mqtt::packet::{
    ConnAck, Connect, Disconnect, MqttString, Packet, PacketId, Properties, Property,
    ProtocolLevel, PubResponse, Publish, QoS, QosPid, ReasonCode, SubAck, SubscriptionOptions,
    UnsubAck, Will,
};
use pigeon_mqtt::state::{Engine, Output, PublishAck, Request, State};
use pigeon_mqtt::store::{MemoryStore, SessionStore};
use pigeon_mqtt::topic::{TopicFilter, TopicName};
use pigeon_mqtt::{
    ConnectOptions, ConnectionError, Message, ProtocolError, PublishError, ReconnectOptions,
    SessionLostPolicy, SubscribeError,
};

/// Runs one scenario body as two tests, `name::v3_1_1` and `name::v5`.
macro_rules! both_versions {
    ($name:ident, |$level:ident| $body:block) => {
        mod $name {
            use super::*;

            fn scenario($level: ProtocolLevel) $body

            #[test]
            fn v3_1_1() {
                scenario(ProtocolLevel::V3_1_1)
            }

            #[test]
            fn v5() {
                scenario(ProtocolLevel::V5)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// CONNECT and CONNACK
// ---------------------------------------------------------------------------------------------

both_versions!(connect_carries_the_options, |level| {
    let will = Will::new(
        TopicName::new("status/dev-1").unwrap(),
        "offline",
        QoS::AtLeastOnce,
    );
    let opts = options(level)
        .client_id("dev-1")
        .clean_start(true)
        .keep_alive(Duration::from_secs(30))
        .will(will.clone())
        .credentials("user", "secret")
        .session_expiry(3600)
        .receive_maximum(10)
        .maximum_packet_size(4096)
        .topic_alias_maximum(5);
    let mut h = Harness::new(opts);
    let c = h.open();
    assert_eq!(c.protocol, level);
    // [MQTT-3.1.2-4] the first connection starts clean when asked to.
    assert!(c.clean_start);
    assert_eq!(c.keep_alive, 30);
    // [MQTT-3.1.3-3] the Client Identifier.
    assert_eq!(c.client_id.as_str(), "dev-1");
    // [MQTT-3.1.2-9] the will, [MQTT-3.1.2-17] / [MQTT-3.1.2-19] user name and password.
    assert_eq!(c.will, Some(will));
    assert_eq!(c.username.as_ref().map(|u| u.as_str()), Some("user"));
    assert_eq!(c.password.as_deref(), Some(&b"secret"[..]));
    let p = &c.properties;
    if level.is_v5() {
        // Section 3.1.2.11: our limits travel as CONNECT properties.
        assert_eq!(p.session_expiry_interval(), Some(3600));
        assert_eq!(p.receive_maximum().map(NonZeroU16::get), Some(10));
        assert_eq!(p.maximum_packet_size().map(NonZeroU32::get), Some(4096));
        assert_eq!(p.topic_alias_maximum(), Some(5));
    } else {
        assert!(p.is_empty(), "no properties at 3.1.1: {p:?}");
    }

    h.accept(ConnAck::new(false, ReasonCode::Success));
    h.drop_link();
    h.wait_backoff();
    let again = h.open();
    // [MQTT-3.1.2-5] at 5.0 a reconnect asks to resume the session (Clean Start 0); at 3.1.1
    // every connection uses the configured Clean Session flag.
    assert_eq!(again.clean_start, !level.is_v5());
    assert_eq!(again.client_id.as_str(), "dev-1");
});

#[test]
fn assigned_client_identifier_is_used_on_reconnect() {
    let mut h = Harness::new(options(ProtocolLevel::V5).client_id(""));
    // [MQTT-3.1.3-6] an empty Client Identifier asks the server to assign one.
    assert_eq!(h.open().client_id.as_str(), "");
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    ack.properties
        .push(Property::AssignedClientIdentifier(MqttString::from_static(
            "srv-42",
        )));
    h.accept(ack);
    h.drop_link();
    h.wait_backoff();
    // [MQTT-3.2.2-16] the Assigned Client Identifier names the session from now on, so the
    // reconnect (Clean Start 0) resumes it.
    let c = h.open();
    assert_eq!(c.client_id.as_str(), "srv-42");
    assert!(!c.clean_start);
}

// ---------------------------------------------------------------------------------------------
// Keep alive
// ---------------------------------------------------------------------------------------------

both_versions!(keep_alive_pings_only_when_nothing_was_sent, |level| {
    let ka = Duration::from_secs(10);
    let mut h = Harness::new(options(level).keep_alive(ka));
    h.connect(false);
    assert_eq!(h.engine.poll_timeout(), Some(h.now + ka));
    // Traffic inside the interval: no PINGREQ, however long it goes on.
    for i in 0..5 {
        h.advance(Duration::from_secs(6));
        h.publish_qos(&format!("m/{i}"), QoS::AtMostOnce);
        assert_eq!(shape(&h.transmit()), [format!("PUBLISH m/{i} q0")]);
    }
    // [MQTT-3.1.2-20] PINGREQ once nothing was sent for the whole Keep Alive, not earlier.
    h.advance(ka - Duration::from_millis(1));
    assert!(h.transmit().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(wire(&h.transmit()), ["PINGREQ"]);
    assert!(h.recv(Packet::PingResp).is_empty());
    h.advance(ka - Duration::from_millis(1));
    assert!(h.transmit().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(wire(&h.transmit()), ["PINGREQ"]);
    assert!(!h.engine.wants_close());
});

both_versions!(keep_alive_without_pingresp_closes, |level| {
    let ka = Duration::from_secs(10);
    let mut h = Harness::new(options(level).keep_alive(ka));
    h.connect(false);
    let last_heard = h.now;
    h.advance(ka);
    assert_eq!(wire(&h.transmit()), ["PINGREQ"]);
    // The server has half the Keep Alive to answer.
    h.advance(ka / 2 - Duration::from_millis(1));
    assert!(!h.engine.wants_close());
    h.advance(Duration::from_millis(1));
    assert!(h.engine.wants_close());
    // Section 3.1.2.10: a dead server is noticed within 1.5 x Keep Alive of its last packet.
    assert!(h.now - last_heard <= ka * 3 / 2);
    h.close_transport();
    let outs = h.outputs();
    assert!(
        matches!(
            lost(&outs)[..],
            [(ConnectionError::KeepAliveTimeout, true, true)]
        ),
        "{outs:?}"
    );
});

#[test]
fn server_keep_alive_replaces_ours() {
    let mut h = Harness::new(options(ProtocolLevel::V5).keep_alive(Duration::from_secs(60)));
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    ack.properties.push(Property::ServerKeepAlive(5));
    h.connect_with(ack);
    // [MQTT-3.2.2-21] the Server Keep Alive is used instead of the value we sent.
    h.advance(Duration::from_secs(5));
    assert_eq!(wire(&h.transmit()), ["PINGREQ"]);
    h.recv(Packet::PingResp);

    // A reconnect without Server Keep Alive goes back to our own value.
    h.reconnect(true);
    h.advance(Duration::from_secs(59));
    assert!(h.transmit().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(wire(&h.transmit()), ["PINGREQ"]);
    h.recv(Packet::PingResp);

    // Server Keep Alive 0 turns keep alive off.
    let mut ack = ConnAck::new(true, ReasonCode::Success);
    ack.properties.push(Property::ServerKeepAlive(0));
    h.reconnect_with(ack);
    assert_eq!(h.engine.poll_timeout(), None);
    for _ in 0..24 {
        h.advance(Duration::from_secs(3600));
        assert!(h.transmit().is_empty());
    }
    assert!(!h.engine.wants_close());
}

both_versions!(keep_alive_zero_never_pings, |level| {
    let mut h = Harness::new(options(level).keep_alive(Duration::ZERO));
    // Section 3.1.2.10: Keep Alive 0 turns the mechanism off.
    assert_eq!(h.open().keep_alive, 0);
    h.accept(ConnAck::new(false, ReasonCode::Success));
    assert_eq!(h.engine.poll_timeout(), None);
    for _ in 0..24 {
        h.advance(Duration::from_secs(3600));
        assert!(h.transmit().is_empty());
    }
    assert!(!h.engine.wants_close());
});

// ---------------------------------------------------------------------------------------------
// Connection failures and backoff
// ---------------------------------------------------------------------------------------------

both_versions!(connect_timeout_without_connack, |level| {
    let timeout = Duration::from_secs(5);
    let mut h = Harness::new(options(level).connect_timeout(timeout));
    h.open();
    assert_eq!(h.engine.poll_timeout(), Some(h.now + timeout));
    h.advance(timeout - Duration::from_millis(1));
    assert!(!h.engine.wants_close());
    h.advance(Duration::from_millis(1));
    assert!(h.engine.wants_close());
    h.close_transport();
    let outs = h.outputs();
    assert!(
        matches!(
            lost(&outs)[..],
            [(ConnectionError::ConnectTimeout, false, true)]
        ),
        "{outs:?}"
    );
    assert_eq!(h.engine.state(), State::Disconnected);
    h.wait_backoff();
    h.connect(false);
});

both_versions!(refused_connack_reconnects_with_growing_backoff, |level| {
    let (min, max) = (Duration::from_millis(100), Duration::from_secs(1));
    let mut h = Harness::new(
        options(level).reconnect(
            ReconnectOptions::default()
                .backoff(min, max)
                .retry_first_connect(true),
        ),
    );
    let mut delays = Vec::new();
    for _ in 0..8 {
        h.open();
        h.recv(Packet::ConnAck(ConnAck::new(
            false,
            ReasonCode::NotAuthorized,
        )));
        // [MQTT-3.2.2-7] a refusal is followed by the close of the connection.
        assert!(h.engine.wants_close());
        h.close_transport();
        let outs = h.outputs();
        assert!(
            matches!(
                lost(&outs)[..],
                [(
                    ConnectionError::Refused {
                        reason_code: ReasonCode::NotAuthorized,
                        ..
                    },
                    false,
                    true
                )]
            ),
            "{outs:?}"
        );
        assert!(!h.engine.wants_transport(h.now));
        delays.push(h.wait_backoff());
    }
    // Exponential backoff with jitter: attempt k waits within [min * 2^k, min * 2^(k+1)],
    // capped at max (then within [max / 2, max]); never below min.
    for (k, d) in delays.iter().enumerate() {
        let lo = (min * (1 << k)).min(max);
        let (lo, hi) = if lo * 2 <= max {
            (lo, lo * 2)
        } else {
            (max / 2, max)
        };
        assert!(
            *d >= lo && *d <= hi,
            "attempt {k}: {d:?} not in [{lo:?}, {hi:?}]"
        );
        assert!(*d >= min, "attempt {k}: {d:?} below the minimum {min:?}");
    }
    assert!(delays.last() > delays.first());

    // A connection that stays up for `stable_after` starts the sequence again.
    h.connect(false);
    h.advance(ReconnectOptions::default().stable_after);
    h.drop_link();
    let d = h.wait_backoff();
    assert!(d >= min && d <= min * 2, "{d:?}");
});

both_versions!(connections_dropped_after_connack_back_off, |level| {
    // A broker that accepts the connection and drops it at once (overloaded, an ACL that kicks
    // the client, a broker rejecting what the client sends): the delays must grow as they do
    // for refused connections, and never go below the minimum.
    let (min, max) = (Duration::from_millis(500), Duration::from_secs(30));
    let mut h =
        Harness::new(options(level).reconnect(ReconnectOptions::default().backoff(min, max)));
    let mut delays = Vec::new();
    h.connect(false);
    for _ in 0..6 {
        h.advance(Duration::from_millis(20));
        h.drop_link();
        delays.push(h.wait_backoff());
        h.connect(false);
    }
    for (k, d) in delays.iter().enumerate() {
        assert!(*d >= min * (1 << k), "attempt {k}: {d:?} in {delays:?}");
    }
    assert!(delays[5] >= Duration::from_secs(16), "{delays:?}");
});

both_versions!(first_connect_failure_closes_by_default, |level| {
    // paho's connect(): by default a first connection that fails is not retried.
    let mut h = Harness::new(options(level).reconnect(ReconnectOptions::default()));
    // Requests handed over before the outcome is known.
    let early = h.publish_qos("m/early", QoS::AtLeastOnce);
    let sub = h.subscribe("m/#");
    h.open();
    h.recv(Packet::ConnAck(ConnAck::new(
        false,
        ReasonCode::BadUserNameOrPassword,
    )));
    h.close_transport();
    let outs = h.outputs();
    assert!(matches!(lost(&outs)[..], [(_, false, false)]), "{outs:?}");
    let refused = ConnectionError::Refused {
        reason_code: ReasonCode::BadUserNameOrPassword,
        reason_string: None,
    };
    assert_eq!(closed(&outs), [(None, Some(refused.clone()))], "{outs:?}");
    // None is left pending: each fails with the error that ended the client.
    assert_eq!(
        results(&outs),
        [(early, Err(PublishError::Connection(refused.clone())))]
    );
    assert_eq!(
        subscribed(&outs),
        [(sub, Err(SubscribeError::Connection(refused.clone())))]
    );
    assert!(h.engine.is_closed());
    h.advance(Duration::from_secs(3600));
    assert!(!h.engine.wants_transport(h.now));
    let t = h.publish_qos("m/1", QoS::AtLeastOnce);
    assert_eq!(
        results(&h.outputs()),
        [(t, Err(PublishError::Connection(refused)))]
    );
});

both_versions!(
    first_connect_tries_every_server_once_without_retries,
    |level| {
        let opts = options(level)
            .servers([
                "mqtt://127.0.0.1:1",
                "mqtt://127.0.0.1:2",
                "mqtt://127.0.0.1:3",
            ])
            .unwrap()
            .reconnect(ReconnectOptions::default());
        let mut h = Harness::new(opts);
        for attempt in 0..3 {
            assert!(h.engine.wants_transport(h.now), "attempt {attempt} at once");
            h.engine
                .handle_transport_down(h.now, Some(ConnectionError::ConnectTimeout));
        }
        let outs = h.outputs();
        assert_eq!(
            lost(&outs)
                .iter()
                .map(|(_, _, reconnecting)| *reconnecting)
                .collect::<Vec<_>>(),
            [true, true, false]
        );
        assert!(h.engine.is_closed());
    }
);

both_versions!(permanent_refusal_can_stop_the_reconnects, |level| {
    let reconnect = ReconnectOptions::default()
        .retry_first_connect(true)
        .stop_on_permanent_error(true);
    let mut h = Harness::new(options(level).reconnect(reconnect));
    h.connect(false);
    h.drop_link();
    h.wait_backoff();
    // A server unavailable for a while is retried...
    h.open();
    h.recv(Packet::ConnAck(ConnAck::new(
        false,
        ReasonCode::ServerUnavailable,
    )));
    h.close_transport();
    assert!(matches!(lost(&h.outputs())[..], [_, (_, false, true)]));
    h.wait_backoff();
    // ...bad credentials are not: the refusal is reported and the client stops.
    h.open();
    h.recv(Packet::ConnAck(ConnAck::new(
        false,
        ReasonCode::NotAuthorized,
    )));
    h.close_transport();
    let outs = h.outputs();
    assert!(matches!(lost(&outs)[..], [(_, false, false)]), "{outs:?}");
    assert!(h.engine.is_closed());
});

#[test]
fn v5_refused_by_a_3_1_1_server_falls_back_to_3_1_1() {
    // The level is not chosen: 5.0 is asked for, and a 3.1.1 CONNACK "unacceptable protocol
    // version" (decoded as 0x84 at 5.0) makes the client try again at once at 3.1.1.
    let opts = ConnectOptions::new("broker.test", 1883).client_id("fallback");
    let mut h = Harness::new(opts);
    assert_eq!(h.open().protocol, ProtocolLevel::V5);
    h.recv(Packet::ConnAck(ConnAck::new(
        false,
        ReasonCode::UnsupportedProtocolVersion,
    )));
    h.close_transport();
    let outs = h.outputs();
    assert!(
        outs.iter().any(|o| matches!(
            o,
            Output::ProtocolFallback {
                from: ProtocolLevel::V5,
                to: ProtocolLevel::V3_1_1,
                ..
            }
        )),
        "{outs:?}"
    );
    assert!(
        lost(&outs).is_empty(),
        "not reported as a failure: {outs:?}"
    );
    assert_eq!(h.open().protocol, ProtocolLevel::V3_1_1);
    h.accept(ConnAck::new(false, ReasonCode::Success));
    assert_eq!(h.engine.protocol_level(), ProtocolLevel::V3_1_1);

    // A connection closed before CONNACK falls back the same way.
    let mut h = Harness::new(ConnectOptions::new("broker.test", 1883));
    h.open();
    h.drop_link();
    assert!(h
        .outputs()
        .iter()
        .any(|o| matches!(o, Output::ProtocolFallback { .. })));
    assert_eq!(h.open().protocol, ProtocolLevel::V3_1_1);
}

#[test]
fn an_explicitly_chosen_level_never_falls_back() {
    let opts = ConnectOptions::new("broker.test", 1883).protocol(ProtocolLevel::V5);
    let mut h = Harness::new(opts);
    h.open();
    h.recv(Packet::ConnAck(ConnAck::new(
        false,
        ReasonCode::UnsupportedProtocolVersion,
    )));
    h.close_transport();
    let outs = h.outputs();
    assert!(
        matches!(
            closed(&outs)[..],
            [(
                None,
                Some(ConnectionError::Refused {
                    reason_code: ReasonCode::UnsupportedProtocolVersion,
                    ..
                })
            )]
        ),
        "{outs:?}"
    );
}

#[test]
fn connection_closed_before_connack_is_reported_as_such() {
    let mut h = Harness::new(options(ProtocolLevel::V3_1_1));
    h.open();
    h.drop_link();
    let outs = h.outputs();
    assert!(
        matches!(
            lost(&outs)[..],
            [(
                ConnectionError::ClosedBeforeConnAck {
                    level: ProtocolLevel::V3_1_1,
                    ..
                },
                false,
                true
            )]
        ),
        "{outs:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Packet identifiers
// ---------------------------------------------------------------------------------------------

both_versions!(
    one_packet_id_pool_for_publish_subscribe_unsubscribe,
    |level| {
        let mut h = Harness::new(options(level));
        h.connect(false);
        h.publish_qos("m/1", QoS::AtLeastOnce);
        let s = h.subscribe("a/#");
        h.unsubscribe("b/#");
        h.publish_qos("m/2", QoS::ExactlyOnce);
        let sent = h.transmit();
        // [MQTT-2.2.1-3] each new SUBSCRIBE, UNSUBSCRIBE and QoS > 0 PUBLISH gets an identifier
        // that is currently unused.
        let ids = packet_ids(&sent);
        assert_eq!(ids.len(), 4, "{sent:?}");
        assert_distinct(&ids);
        let sub_id = ids[1];
        assert!(h.recv(suback(sub_id, ReasonCode::Success)).is_empty());
        assert!(matches!(subscribed(&h.outputs())[..], [(t, Ok(_))] if t == s));
        // Identifiers still in use are not handed out again.
        h.publish_qos("m/3", QoS::AtLeastOnce);
        let next = packet_ids(&h.transmit());
        assert_eq!(next.len(), 1);
        assert!(![ids[0], ids[2], ids[3]].contains(&next[0]), "{next:?}");
    }
);

both_versions!(out_of_order_acks_do_not_stall, |level| {
    let mut h = Harness::new(options(level).max_inflight(2));
    h.connect(false);
    let t: Vec<u32> = (1..=4)
        .map(|i| h.publish_qos(&format!("m/{i}"), QoS::AtLeastOnce))
        .collect();
    assert_eq!(
        wire(&h.transmit()),
        ["PUBLISH m/1 q1 #1", "PUBLISH m/2 q1 #2"]
    );
    // [MQTT-4.3.2-3] each message is unacknowledged until its own PUBACK: the PUBACK for 2
    // completes message 2 only, and frees a slot for message 3.
    assert_eq!(wire(&h.recv(puback(2))), ["PUBLISH m/3 q1 #3"]);
    assert_eq!(results(&h.outputs()), [(t[1], Ok(acked(2)))]);
    assert_eq!(wire(&h.recv(puback(1))), ["PUBLISH m/4 q1 #4"]);
    assert_eq!(results(&h.outputs()), [(t[0], Ok(acked(1)))]);
    assert!(h.recv(puback(4)).is_empty());
    assert!(h.recv(puback(3)).is_empty());
    assert_eq!(
        results(&h.outputs()),
        [(t[3], Ok(acked(4))), (t[2], Ok(acked(3)))]
    );
    assert_eq!(h.engine.inflight_len(), 0);
});

both_versions!(packet_ids_wrap_around_skipping_ids_in_use, |level| {
    let mut h = Harness::new(options(level).max_inflight(4));
    h.connect(false);
    // Messages 1 and 3 stay unacknowledged for the whole test.
    h.publish_qos("keep/1", QoS::AtLeastOnce);
    h.publish_qos("gone/2", QoS::AtLeastOnce);
    h.publish_qos("keep/3", QoS::ExactlyOnce);
    assert_eq!(packet_ids(&h.transmit()), [1, 2, 3]);
    h.recv(puback(2));
    for id in 4..=u16::MAX {
        h.publish_qos("cycle", QoS::AtLeastOnce);
        assert_eq!(packet_ids(&h.transmit()), [id]);
        h.recv(puback(id));
    }
    h.outputs();
    // [MQTT-2.2.1-3] after 65535 the identifiers wrap to 1, skipping those still in use.
    h.publish_qos("wrapped/a", QoS::AtLeastOnce);
    h.publish_qos("wrapped/b", QoS::AtLeastOnce);
    assert_eq!(
        wire(&h.transmit()),
        ["PUBLISH wrapped/a q1 #2", "PUBLISH wrapped/b q1 #4"]
    );
});

// ---------------------------------------------------------------------------------------------
// Flow control
// ---------------------------------------------------------------------------------------------

both_versions!(inflight_bounded_by_receive_maximum, |level| {
    let mut h = Harness::new(options(level).max_inflight(3));
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    if level.is_v5() {
        ack.properties
            .push(Property::ReceiveMaximum(NonZeroU16::new(2).unwrap()));
    }
    h.connect_with(ack);
    // The window is min(max_inflight, the server's Receive Maximum); 3.1.1 has only our own.
    let window = if level.is_v5() { 2 } else { 3 };
    let t: Vec<u32> = (1..=6)
        .map(|i| {
            let qos = if i % 2 == 0 {
                QoS::ExactlyOnce
            } else {
                QoS::AtLeastOnce
            };
            h.publish_qos(&format!("m/{i}"), qos)
        })
        .collect();
    // [MQTT-3.3.4-7] no more unacknowledged QoS 1/2 PUBLISH packets than Receive Maximum.
    let sent = h.transmit();
    assert_eq!(packet_ids(&sent).len(), window, "{sent:?}");
    assert_eq!(h.engine.inflight_len(), window);
    assert_eq!(h.engine.queued_len(), 6 - window);
    // [MQTT-3.3.4-8] / [MQTT-4.9.0-3] other packets are not held back by a full window.
    h.subscribe("a/#");
    assert_eq!(shape(&h.transmit()), ["SUBSCRIBE a/#"]);
    let reply = h.recv(incoming("in/1", QosPid::AtLeastOnce(pid(100)), "x"));
    assert_eq!(wire(&reply), ["PUBACK #100"]);
    // Each completion lets exactly one queued message go.
    let next = window + 1;
    let next_qos = if next % 2 == 0 { 2 } else { 1 };
    assert_eq!(
        shape(&h.recv(puback(1))),
        [format!("PUBLISH m/{next} q{next_qos}")]
    );
    assert_eq!(results(&h.outputs()), [(t[0], Ok(acked(1)))]);
    assert_eq!(wire(&h.recv(pubrec(2))), ["PUBREL #2"]);
    // PUBREC keeps the message in flight until PUBCOMP: nothing more is sent.
    assert_eq!(h.engine.inflight_len(), window);
    assert_eq!(h.engine.queued_len(), 6 - window - 1);
    let freed = h.recv(pubcomp(2));
    assert_eq!(packet_ids(&freed).len(), 1, "{freed:?}");
});

both_versions!(can_accept_is_bounded_by_max_queued, |level| {
    let mut h = Harness::new(options(level).max_queued(3).max_inflight(1));
    // While disconnected, requests are queued up to max_queued.
    for i in 0..3 {
        assert!(h.engine.can_accept());
        h.publish_qos(&format!("m/{i}"), QoS::AtLeastOnce);
    }
    assert!(!h.engine.can_accept());
    h.connect(false);
    // One is in flight, two wait for the window: the queue has room again.
    assert_eq!(h.engine.queued_len(), 2);
    assert!(h.engine.can_accept());
    h.publish_qos("m/3", QoS::AtLeastOnce);
    assert!(!h.engine.can_accept());
    h.recv(puback(1));
    assert!(h.engine.can_accept());
});

// ---------------------------------------------------------------------------------------------
// QoS 1 and QoS 2, sender side
// ---------------------------------------------------------------------------------------------

both_versions!(qos1_completes_only_on_puback, |level| {
    let mut h = Harness::new(options(level));
    h.connect(false);
    let t = h.publish_qos("m/1", QoS::AtLeastOnce);
    // [MQTT-4.3.2-1] / [MQTT-4.3.2-2] a new identifier, QoS 1, DUP 0.
    assert_eq!(wire(&h.transmit()), ["PUBLISH m/1 q1 #1"]);
    // [MQTT-4.3.2-3] unacknowledged until PUBACK: the future is not resolved by the write.
    h.advance(Duration::from_secs(1));
    assert!(results(&h.outputs()).is_empty());
    assert!(h.recv(puback(1)).is_empty());
    assert_eq!(results(&h.outputs()), [(t, Ok(acked(1)))]);
    // A second PUBACK for the same identifier completes nothing.
    h.recv(puback(1));
    assert!(h.outputs().is_empty());
});

#[test]
fn qos1_refused_puback_is_an_error_and_is_not_resent() {
    let mut h = Harness::new(options(ProtocolLevel::V5).session_expiry(600));
    h.connect(false);
    let t = h.publish_qos("m/1", QoS::AtLeastOnce);
    h.transmit();
    let mut refusal = PubResponse::with_reason(pid(1), ReasonCode::NotAuthorized);
    refusal
        .properties
        .push(Property::ReasonString(MqttString::from_static(
            "no publishing here",
        )));
    h.recv(Packet::PubAck(refusal));
    assert_eq!(
        results(&h.outputs()),
        [(
            t,
            Err(PublishError::Rejected {
                reason_code: ReasonCode::NotAuthorized,
                reason_string: Some("no publishing here".into()),
            })
        )]
    );
    // [MQTT-4.4.0-2] a PUBLISH refused with 0x80 or above is acknowledged: never sent again.
    assert!(h.reconnect(true).is_empty());
}

both_versions!(qos2_sender_handshake, |level| {
    let mut h = Harness::new(options(level));
    h.connect(false);
    let t = h.publish_qos("m/1", QoS::ExactlyOnce);
    // [MQTT-4.3.3-1] / [MQTT-4.3.3-2]
    assert_eq!(wire(&h.transmit()), ["PUBLISH m/1 q2 #1"]);
    // [MQTT-4.3.3-4] PUBREC answered with PUBREL of the same identifier.
    assert_eq!(wire(&h.recv(pubrec(1))), ["PUBREL #1"]);
    // [MQTT-4.3.3-5] not complete before PUBCOMP.
    assert!(results(&h.outputs()).is_empty());
    // A repeated PUBREC (the server did not see our PUBREL) gets the PUBREL again.
    assert_eq!(wire(&h.recv(pubrec(1))), ["PUBREL #1"]);
    assert!(h.recv(pubcomp(1)).is_empty());
    assert_eq!(results(&h.outputs()), [(t, Ok(acked(1)))]);

    if level.is_v5() {
        // [MQTT-4.3.3-4] only a PUBREC below 0x80 is released; a refusal ends the exchange.
        let t = h.publish_qos("m/2", QoS::ExactlyOnce);
        assert_eq!(wire(&h.transmit()), ["PUBLISH m/2 q2 #2"]);
        let mut refusal = PubResponse::with_reason(pid(2), ReasonCode::QuotaExceeded);
        refusal
            .properties
            .push(Property::ReasonString(MqttString::from_static("slow down")));
        assert!(h.recv(Packet::PubRec(refusal)).is_empty());
        assert_eq!(
            results(&h.outputs()),
            [(
                t,
                Err(PublishError::Rejected {
                    reason_code: ReasonCode::QuotaExceeded,
                    reason_string: Some("slow down".into()),
                })
            )]
        );
        assert_eq!(h.engine.inflight_len(), 0);
    }
});

// ---------------------------------------------------------------------------------------------
// QoS 2, receiver side
// ---------------------------------------------------------------------------------------------

both_versions!(qos2_receiver_delivers_exactly_once, |level| {
    let mut h = Harness::new(options(level));
    h.connect(false);
    let first = incoming("in/x", QosPid::ExactlyOnce(pid(7)), "one");
    // [MQTT-4.3.3-8] delivered, and answered with PUBREC.
    assert_eq!(wire(&h.recv(first.clone())), ["PUBREC #7"]);
    assert_eq!(delivered(&h.outputs()), ["in/x one"]);
    // [MQTT-4.3.3-10] the same PUBLISH again before PUBREL (DUP or not): PUBREC again, and
    // not delivered a second time.
    let Packet::Publish(mut dup) = first else {
        panic!("not a PUBLISH")
    };
    dup.dup = true;
    assert_eq!(wire(&h.recv(Packet::Publish(dup.clone()))), ["PUBREC #7"]);
    dup.dup = false;
    assert_eq!(wire(&h.recv(Packet::Publish(dup))), ["PUBREC #7"]);
    assert!(delivered(&h.outputs()).is_empty());
    // [MQTT-4.3.3-11] PUBREL answered with PUBCOMP of the same identifier.
    assert_eq!(wire(&h.recv(pubrel(7))), ["PUBCOMP #7"]);
    // [MQTT-4.3.3-12] after PUBCOMP the identifier starts a new message.
    let again = incoming("in/x", QosPid::ExactlyOnce(pid(7)), "two");
    assert_eq!(wire(&h.recv(again)), ["PUBREC #7"]);
    assert_eq!(delivered(&h.outputs()), ["in/x two"]);
    assert_eq!(wire(&h.recv(pubrel(7))), ["PUBCOMP #7"]);
    // A PUBREL for nothing is still answered [MQTT-4.3.3-11]; at 5.0 with 0x92 Packet
    // Identifier not found (section 3.7.2.1). It is not a reason to disconnect.
    let reply = wire(&h.recv(pubrel(9)));
    if level.is_v5() {
        assert_eq!(reply, ["PUBCOMP #9 0x92"]);
    } else {
        assert_eq!(reply, ["PUBCOMP #9"]);
    }
    assert!(!h.engine.wants_close());
});

both_versions!(qos2_receiver_state_survives_a_reconnect, |level| {
    let mut h = Harness::new(options(level).clean_start(false).session_expiry(600));
    h.connect(false);
    h.recv(incoming("in/x", QosPid::ExactlyOnce(pid(7)), "one"));
    assert_eq!(delivered(&h.outputs()), ["in/x one"]);
    // The PUBREC was lost with the connection; the server resends the PUBLISH with DUP 1
    // [MQTT-4.4.0-1]. It is still awaiting PUBREL, so [MQTT-4.3.3-10] applies.
    h.reconnect(true);
    let mut dup = Publish {
        qos: QosPid::ExactlyOnce(pid(7)),
        ..Publish::new(TopicName::new("in/x").unwrap(), "one")
    };
    dup.dup = true;
    assert_eq!(wire(&h.recv(Packet::Publish(dup))), ["PUBREC #7"]);
    assert!(delivered(&h.outputs()).is_empty());
    assert_eq!(wire(&h.recv(pubrel(7))), ["PUBCOMP #7"]);
});

#[test]
fn receive_maximum_exceeded_by_the_server_disconnects() {
    let mut h = Harness::new(options(ProtocolLevel::V5).receive_maximum(2));
    h.connect(false);
    h.recv(incoming("in/1", QosPid::ExactlyOnce(pid(1)), "a"));
    h.recv(incoming("in/2", QosPid::ExactlyOnce(pid(2)), "b"));
    // Released messages no longer count; QoS 1 ones are acknowledged at once.
    assert_eq!(wire(&h.recv(pubrel(1))), ["PUBCOMP #1"]);
    h.recv(incoming("in/3", QosPid::ExactlyOnce(pid(3)), "c"));
    h.recv(incoming("in/q1", QosPid::AtLeastOnce(pid(50)), "d"));
    assert!(!h.engine.wants_close());
    assert_eq!(
        delivered(&h.outputs()),
        ["in/1 a", "in/2 b", "in/3 c", "in/q1 d"]
    );
    // [MQTT-3.3.4-9] the server may not exceed our Receive Maximum; section 3.3.4: the client
    // then disconnects with 0x93 Receive Maximum exceeded.
    let sent = h.recv(incoming("in/4", QosPid::ExactlyOnce(pid(4)), "e"));
    assert_eq!(wire(&sent), ["DISCONNECT 0x93"]);
    assert!(h.engine.wants_close());
    h.close_transport();
    let outs = h.outputs();
    assert!(delivered(&outs).is_empty(), "{outs:?}");
    assert!(
        matches!(
            lost(&outs)[..],
            [(
                ConnectionError::Protocol(ProtocolError::ReceiveMaximumExceeded(2)),
                true,
                true
            )]
        ),
        "{outs:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Topic aliases (5.0)
// ---------------------------------------------------------------------------------------------

#[test]
fn incoming_topic_aliases_map_and_reset_per_connection() {
    let mut h = Harness::new(options(ProtocolLevel::V5).topic_alias_maximum(2));
    h.connect(false);
    // [MQTT-3.3.2-10] any alias from 1 to our Topic Alias Maximum is accepted.
    h.recv(with_alias(incoming("a/b", QosPid::AtMostOnce, "1"), 1));
    assert_eq!(
        wire(&h.recv(aliased(1, QosPid::AtLeastOnce(pid(1)), "2"))),
        ["PUBACK #1"]
    );
    h.recv(with_alias(incoming("c/d", QosPid::AtMostOnce, "3"), 2));
    h.recv(aliased(2, QosPid::AtMostOnce, "4"));
    // A PUBLISH with a topic and a known alias remaps it.
    h.recv(with_alias(incoming("e/f", QosPid::AtMostOnce, "5"), 1));
    h.recv(aliased(1, QosPid::AtMostOnce, "6"));
    assert_eq!(
        delivered(&h.outputs()),
        ["a/b 1", "a/b 2", "c/d 3", "c/d 4", "e/f 5", "e/f 6"]
    );

    // [MQTT-3.3.2-7] mappings are not carried over to a new connection: alias 1 is unknown
    // now, which is a Protocol Error (section 3.3.2.3.4), never a message with an empty topic.
    h.reconnect(true);
    h.outputs();
    let sent = h.recv(aliased(1, QosPid::AtMostOnce, "7"));
    assert_eq!(wire(&sent), ["DISCONNECT 0x82"]);
    assert!(h.engine.wants_close());
    h.close_transport();
    let outs = h.outputs();
    assert!(delivered(&outs).is_empty(), "{outs:?}");
    assert!(
        matches!(
            lost(&outs)[..],
            [(
                ConnectionError::Protocol(ProtocolError::UnknownTopicAlias(1)),
                true,
                true
            )]
        ),
        "{outs:?}"
    );
}

#[test]
fn incoming_topic_alias_above_our_maximum_disconnects() {
    for (max, alias) in [(2, 3), (0, 1)] {
        let mut h = Harness::new(options(ProtocolLevel::V5).topic_alias_maximum(max));
        h.connect(false);
        // [MQTT-3.3.2-11] the server must stay within our Topic Alias Maximum (none at 0,
        // [MQTT-3.1.2-27]); section 3.3.2.3.4: DISCONNECT 0x94 Topic Alias invalid.
        let sent = h.recv(with_alias(incoming("a/b", QosPid::AtMostOnce, "x"), alias));
        assert_eq!(wire(&sent), ["DISCONNECT 0x94"], "max {max}");
        assert!(h.engine.wants_close());
        h.close_transport();
        let outs = h.outputs();
        assert!(delivered(&outs).is_empty(), "{outs:?}");
        assert!(
            matches!(
                &lost(&outs)[..],
                [(
                    ConnectionError::Protocol(ProtocolError::TopicAliasTooLarge { alias: a, max: m }),
                    true,
                    true
                )] if *a == alias && *m == max
            ),
            "{outs:?}"
        );
    }
}

#[test]
fn outgoing_topic_aliases_stay_within_the_server_maximum() {
    let alias_max = |session_present: bool, n: u16| {
        let mut ack = ConnAck::new(session_present, ReasonCode::Success);
        ack.properties.push(Property::TopicAliasMaximum(n));
        ack
    };
    let mut h = Harness::new(
        options(ProtocolLevel::V5)
            .auto_topic_alias(true)
            .session_expiry(600),
    );
    h.connect_with(alias_max(false, 2));
    for topic in ["t/1", "t/1", "t/2", "t/3", "t/3", "t/2"] {
        h.publish_qos(topic, QoS::AtMostOnce);
    }
    // The first message on a topic carries topic and alias, later ones only the alias;
    // [MQTT-3.2.2-17] never an alias above the server's Topic Alias Maximum.
    assert_eq!(
        shape(&h.transmit()),
        [
            "PUBLISH t/1 q0 alias=1",
            "PUBLISH \"\" q0 alias=1",
            "PUBLISH t/2 q0 alias=2",
            "PUBLISH t/3 q0",
            "PUBLISH t/3 q0",
            "PUBLISH \"\" q0 alias=2",
        ]
    );
    h.publish_qos("t/1", QoS::AtLeastOnce);
    assert_eq!(wire(&h.transmit()), ["PUBLISH \"\" q1 #1 alias=1"]);

    // [MQTT-3.3.2-7] a new connection starts without aliases: the resent PUBLISH carries its
    // topic, and the next message sets the alias again.
    let resent = h.reconnect_with(alias_max(true, 2));
    assert_eq!(wire(&resent), ["PUBLISH t/1 q1 #1 DUP"]);
    h.publish_qos("t/1", QoS::AtMostOnce);
    assert_eq!(shape(&h.transmit()), ["PUBLISH t/1 q0 alias=1"]);

    // [MQTT-3.2.2-18] no Topic Alias Maximum from the server: no aliases at all.
    h.reconnect(true);
    h.publish_qos("t/1", QoS::AtMostOnce);
    h.publish_qos("t/1", QoS::AtMostOnce);
    assert_eq!(shape(&h.transmit()), ["PUBLISH t/1 q0", "PUBLISH t/1 q0"]);
}

// ---------------------------------------------------------------------------------------------
// Server limits (5.0)
// ---------------------------------------------------------------------------------------------

#[test]
fn publish_larger_than_server_maximum_packet_size_fails_locally() {
    let mut h = Harness::new(options(ProtocolLevel::V5));
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    ack.properties
        .push(Property::MaximumPacketSize(NonZeroU32::new(64).unwrap()));
    h.connect_with(ack);
    let big = h.publish(
        Message::new("m/big", vec![b'x'; 100])
            .unwrap()
            .qos(QoS::AtLeastOnce),
    );
    // [MQTT-3.2.2-15] nothing larger than the server's Maximum Packet Size is sent.
    assert!(h.transmit().is_empty());
    assert!(
        matches!(
            &results(&h.outputs())[..],
            [(t, Err(PublishError::PacketTooLarge { max: 64, .. }))] if *t == big
        ),
        "too large"
    );
    // The connection goes on.
    let small = h.publish_qos("m/small", QoS::AtLeastOnce);
    let sent = h.transmit();
    assert_eq!(shape(&sent), ["PUBLISH m/small q1"]);
    h.recv(puback(packet_ids(&sent)[0]));
    assert!(matches!(&results(&h.outputs())[..], [(t, Ok(_))] if *t == small));
    assert!(!h.engine.wants_close());
}

#[test]
fn topic_alias_never_pushes_a_publish_past_the_maximum_packet_size() {
    let plain = Publish {
        qos: QosPid::AtLeastOnce(pid(1)),
        ..Publish::new(TopicName::new("t/alias").unwrap(), "0123456789")
    };
    let limit = codec::encoded_len(&Packet::Publish(plain), ProtocolLevel::V5).unwrap() as u32;
    let mut h = Harness::new(options(ProtocolLevel::V5).auto_topic_alias(true));
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    ack.properties
        .push(Property::MaximumPacketSize(NonZeroU32::new(limit).unwrap()));
    ack.properties.push(Property::TopicAliasMaximum(5));
    h.connect_with(ack);
    // The message fits exactly; adding a Topic Alias property to it must not make it too large
    // [MQTT-3.2.2-15].
    let t = h.publish(
        Message::new("t/alias", "0123456789")
            .unwrap()
            .qos(QoS::AtLeastOnce),
    );
    let sent = h.transmit();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let size = codec::encoded_len(&sent[0], ProtocolLevel::V5).unwrap();
    assert!(size <= limit as usize, "{size} > {limit}: {sent:?}");
    h.recv(puback(1));
    assert_eq!(results(&h.outputs()), [(t, Ok(acked(1)))]);
}

#[test]
fn server_maximum_qos_and_retain_available_are_respected() {
    let mut h = Harness::new(options(ProtocolLevel::V5));
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    ack.properties.push(Property::MaximumQoS(QoS::AtLeastOnce));
    ack.properties.push(Property::RetainAvailable(false));
    h.connect_with(ack);
    let q2 = h.publish_qos("m/q2", QoS::ExactlyOnce);
    let retained = h.publish(Message::new("m/r", "x").unwrap().retain(true));
    let q1 = h.publish_qos("m/q1", QoS::AtLeastOnce);
    // [MQTT-3.2.2-11] no PUBLISH above the server's Maximum QoS; [MQTT-3.2.2-14] no RETAIN
    // when Retain Available is 0. The others still go out.
    let sent = h.transmit();
    assert_eq!(shape(&sent), ["PUBLISH m/q1 q1"]);
    let outs = h.outputs();
    let r = results(&outs);
    assert_eq!(r.len(), 2, "{outs:?}");
    assert!(
        matches!(&r[0], (t, Err(PublishError::Rejected { reason_code: ReasonCode::QoSNotSupported, .. })) if *t == q2),
        "{r:?}"
    );
    assert!(
        matches!(&r[1], (t, Err(PublishError::Rejected { reason_code: ReasonCode::RetainNotSupported, .. })) if *t == retained),
        "{r:?}"
    );
    h.recv(puback(packet_ids(&sent)[0]));
    assert!(matches!(&results(&h.outputs())[..], [(t, Ok(_))] if *t == q1));
}

// ---------------------------------------------------------------------------------------------
// Reconnecting
// ---------------------------------------------------------------------------------------------

both_versions!(session_present_resends_publish_then_pubrel, |level| {
    let mut h = Harness::new(options(level).clean_start(false).session_expiry(600));
    h.connect(false);
    let t1 = h.publish_qos("m/1", QoS::AtLeastOnce);
    let t2 = h.publish_qos("m/2", QoS::ExactlyOnce);
    let t3 = h.publish_qos("m/3", QoS::ExactlyOnce);
    let t4 = h.publish_qos("m/4", QoS::AtLeastOnce);
    let first = h.transmit();
    assert_eq!(packet_ids(&first), [1, 2, 3, 4]);
    assert_eq!(wire(&h.recv(pubrec(2))), ["PUBREL #2"]);
    h.recv(puback(4));
    assert_eq!(results(&h.outputs()), [(t4, Ok(acked(4)))]);

    h.drop_link();
    let outs = h.outputs();
    assert!(
        matches!(
            lost(&outs)[..],
            [(ConnectionError::ConnectionClosed, true, true)]
        ),
        "{outs:?}"
    );
    // Requested while disconnected: sent after the resends.
    let t5 = h.publish_qos("m/5", QoS::AtLeastOnce);
    assert!(h.transmit().is_empty());
    h.wait_backoff();
    let sent = h.connect(true);
    // [MQTT-4.4.0-1] unacknowledged PUBLISH packets again with their original identifiers and
    // [MQTT-3.3.1-1] DUP 1, [MQTT-4.6.0-1] in their original order, then the PUBREL of the
    // message past PUBREC; [MQTT-4.3.3-6] never its PUBLISH again.
    assert_eq!(
        wire(&sent),
        [
            "PUBLISH m/1 q1 #1 DUP",
            "PUBLISH m/3 q2 #3 DUP",
            "PUBREL #2",
            "PUBLISH m/5 q1 #5",
        ]
    );
    let payloads: Vec<_> = publishes(&sent).iter().map(|p| p.payload.clone()).collect();
    assert_eq!(payloads, [&b"m/1"[..], b"m/3", b"m/5"]);
    assert!(h.outputs().is_empty());

    h.recv(puback(1));
    assert_eq!(wire(&h.recv(pubrec(3))), ["PUBREL #3"]);
    h.recv(pubcomp(2));
    h.recv(pubcomp(3));
    h.recv(puback(5));
    assert_eq!(
        results(&h.outputs()),
        [
            (t1, Ok(acked(1))),
            (t2, Ok(acked(2))),
            (t3, Ok(acked(3))),
            (t5, Ok(acked(5)))
        ]
    );
});

both_versions!(session_lost_republishes_as_new_and_resubscribes, |level| {
    let mut h = Harness::new(options(level));
    h.connect(false);
    let s = h.subscribe("a/#");
    let sub = h.transmit();
    h.recv(suback(packet_ids(&sub)[0], ReasonCode::GrantedQoS2));
    assert!(matches!(subscribed(&h.outputs())[..], [(t, Ok(_))] if t == s));
    // An incoming QoS 2 message awaiting PUBREL.
    h.recv(incoming("in/x", QosPid::ExactlyOnce(pid(9)), "old"));
    assert_eq!(delivered(&h.outputs()), ["in/x old"]);
    let t1 = h.publish_qos("m/1", QoS::AtLeastOnce);
    let t2 = h.publish_qos("m/2", QoS::ExactlyOnce);
    let t3 = h.publish_qos("m/3", QoS::ExactlyOnce);
    let ids = packet_ids(&h.transmit());
    assert_eq!(
        wire(&h.recv(pubrec(ids[2]))),
        [format!("PUBREL #{}", ids[2])]
    );

    let sent = h.reconnect(false);
    // [MQTT-3.2.2-5] the session is gone: the subscription is restored, unacknowledged
    // messages are published again as new ones ([MQTT-4.3.2-2] / [MQTT-4.3.3-2] DUP 0, fresh
    // identifiers) in order, and the message the server had received (PUBREC) completes.
    assert_eq!(
        shape(&sent),
        ["SUBSCRIBE a/#", "PUBLISH m/1 q1", "PUBLISH m/2 q2"]
    );
    let outs = h.outputs();
    assert_eq!(
        results(&outs),
        [(t3, Ok(acked(ids[2])))],
        "the PUBREC'd message completes: {outs:?}"
    );
    let new_ids = packet_ids(&sent);
    assert_distinct(&new_ids);
    // The incoming QoS 2 identifier was forgotten with the session: the same identifier is a
    // new message.
    h.recv(incoming("in/x", QosPid::ExactlyOnce(pid(9)), "new"));
    assert_eq!(delivered(&h.outputs()), ["in/x new"]);

    h.recv(suback(new_ids[0], ReasonCode::GrantedQoS2));
    h.recv(puback(new_ids[1]));
    h.recv(pubrec(new_ids[2]));
    h.recv(pubcomp(new_ids[2]));
    let outs = h.outputs();
    assert!(
        subscribed(&outs).is_empty(),
        "a restore has no ticket: {outs:?}"
    );
    assert_eq!(
        results(&outs),
        [(t1, Ok(acked(new_ids[1]))), (t2, Ok(acked(new_ids[2])))]
    );
});

both_versions!(session_lost_with_fail_policy_fails_inflight, |level| {
    let mut h = Harness::new(options(level).session_lost_policy(SessionLostPolicy::Fail));
    h.connect(false);
    let t1 = h.publish_qos("m/1", QoS::AtLeastOnce);
    let t2 = h.publish_qos("m/2", QoS::ExactlyOnce);
    h.transmit();
    // [MQTT-3.2.2-5] the state is discarded, and with it the messages.
    assert!(h.reconnect(false).is_empty());
    assert_eq!(
        results(&h.outputs()),
        [
            (t1, Err(PublishError::SessionLost)),
            (t2, Err(PublishError::SessionLost))
        ]
    );
    assert_eq!(h.engine.inflight_len(), 0);
});

both_versions!(
    subscriptions_restored_only_when_the_session_is_lost,
    |level| {
        for resubscribe in [true, false] {
            let mut h = Harness::new(options(level).resubscribe(resubscribe));
            h.connect(false);
            for filter in ["a/#", "b/+", "c/#"] {
                h.subscribe(filter);
            }
            for id in packet_ids(&h.transmit()) {
                h.recv(suback(id, ReasonCode::GrantedQoS1));
            }
            // Neither a filter the server refused nor one unsubscribed since is restored.
            h.subscribe("refused/#");
            let id = packet_ids(&h.transmit())[0];
            h.recv(suback(id, ReasonCode::UnspecifiedError));
            h.unsubscribe("b/+");
            let id = packet_ids(&h.transmit())[0];
            h.recv(unsuback(level, id));
            // Session present: the server still has them.
            assert!(h.reconnect(true).is_empty());
            // [MQTT-3.2.2-5] session lost: restored (by option) with one SUBSCRIBE.
            let sent = h.reconnect(false);
            if resubscribe {
                assert_eq!(shape(&sent), ["SUBSCRIBE a/#,c/#"]);
            } else {
                assert!(sent.is_empty(), "{sent:?}");
            }
        }
    }
);

#[test]
fn resubscribe_keeps_subscription_identifiers_apart() {
    let mut h = Harness::new(options(ProtocolLevel::V5));
    h.connect(false);
    let with_id = |n: u32| {
        Properties::new().with(Property::SubscriptionIdentifier(
            NonZeroU32::new(n).unwrap(),
        ))
    };
    for (filter, properties) in [
        ("a/#", with_id(1)),
        ("b/#", with_id(2)),
        ("c/#", with_id(1)),
    ] {
        let filters = vec![(
            TopicFilter::new(filter).unwrap(),
            SubscriptionOptions::new(QoS::AtLeastOnce),
        )];
        h.request(|ticket| Request::Subscribe {
            filters,
            properties,
            ticket,
        });
    }
    for id in packet_ids(&h.transmit()) {
        h.recv(suback(id, ReasonCode::GrantedQoS1));
    }
    // Section 3.8.2.1.2: the Subscription Identifier belongs to the subscription, so the
    // restore sends one SUBSCRIBE per identifier.
    let sent = h.reconnect(false);
    assert_eq!(shape(&sent), ["SUBSCRIBE a/#,c/#", "SUBSCRIBE b/#"]);
    let ids: Vec<_> = sent
        .iter()
        .map(|p| match p {
            Packet::Subscribe(s) => s.properties.subscription_identifier().map(NonZeroU32::get),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [Some(1), Some(2)]);
}

both_versions!(
    requests_while_disconnected_are_sent_after_connack,
    |level| {
        let mut h = Harness::new(options(level));
        let t0 = h.publish_qos("m/0", QoS::AtMostOnce);
        h.publish_qos("m/1", QoS::AtLeastOnce);
        h.subscribe("a/+");
        h.publish_qos("m/2", QoS::ExactlyOnce);
        assert!(h.transmit().is_empty());
        // [MQTT-3.1.0-1] CONNECT first, and nothing else before CONNACK.
        h.open();
        h.publish_qos("m/3", QoS::AtLeastOnce);
        assert!(h.transmit().is_empty());
        let sent = h.accept(ConnAck::new(false, ReasonCode::Success));
        assert_eq!(
            shape(&sent),
            [
                "SUBSCRIBE a/+",
                "PUBLISH m/0 q0",
                "PUBLISH m/1 q1",
                "PUBLISH m/2 q2",
                "PUBLISH m/3 q1",
            ]
        );
        assert_distinct(&packet_ids(&sent));
        // The QoS 0 ticket is handed back with the packet, to be resolved once written.
        assert_eq!(h.written, [t0]);
    }
);

both_versions!(subscribe_in_flight_is_resent_after_reconnect, |level| {
    let mut h = Harness::new(options(level).session_expiry(600));
    h.connect(false);
    let s = h.subscribe("a/#");
    let u = h.unsubscribe("z/#");
    assert_eq!(shape(&h.transmit()), ["SUBSCRIBE a/#", "UNSUBSCRIBE z/#"]);
    // A QoS 0 publish not yet written when the link drops fails instead of hanging.
    let q0 = h.publish_qos("m/0", QoS::AtMostOnce);
    h.drop_link();
    assert_eq!(
        results(&h.outputs()),
        [(q0, Err(PublishError::ConnectionLost))]
    );
    h.wait_backoff();
    let sent = h.connect(level.is_v5());
    assert_eq!(shape(&sent), ["SUBSCRIBE a/#", "UNSUBSCRIBE z/#"]);
    let ids = packet_ids(&sent);
    h.recv(suback(ids[0], ReasonCode::GrantedQoS1));
    h.recv(unsuback(level, ids[1]));
    let outs = h.outputs();
    assert!(
        matches!(subscribed(&outs)[..], [(t, Ok(_))] if t == s),
        "{outs:?}"
    );
    assert!(
        outs.iter().any(
            |o| matches!(o, Output::UnsubscribeDone { ticket, result: Ok(_) } if *ticket == u)
        ),
        "{outs:?}"
    );
});

#[test]
fn server_disconnect_ends_the_connection_with_its_reason() {
    let mut h = Harness::new(options(ProtocolLevel::V5));
    h.connect(false);
    let mut d = Disconnect::new(ReasonCode::UseAnotherServer);
    d.properties
        .push(Property::ReasonString(MqttString::from_static(
            "maintenance",
        )));
    d.properties
        .push(Property::ServerReference(MqttString::from_static(
            "other.example:1883",
        )));
    // Section 3.14: the server closes the connection after DISCONNECT; nothing is answered.
    assert!(h.recv(Packet::Disconnect(d.clone())).is_empty());
    assert!(h.engine.wants_close());
    // Nothing more is read from a connection that is ending.
    assert!(h
        .recv(incoming("in/late", QosPid::AtLeastOnce(pid(1)), "x"))
        .is_empty());
    h.close_transport();
    let outs = h.outputs();
    assert!(delivered(&outs).is_empty());
    let l = lost(&outs);
    assert_eq!(l.len(), 1, "{outs:?}");
    let (ConnectionError::ServerDisconnect(got), true, true) = &l[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(got.reason_code, ReasonCode::UseAnotherServer);
    assert_eq!(
        got.properties.reason_string().map(|s| s.as_str()),
        Some("maintenance")
    );
    assert_eq!(
        got.properties.server_reference().map(|s| s.as_str()),
        Some("other.example:1883")
    );
}

// ---------------------------------------------------------------------------------------------
// Graceful disconnect
// ---------------------------------------------------------------------------------------------

both_versions!(graceful_disconnect_waits_for_inflight, |level| {
    let mut h = Harness::new(options(level));
    h.connect(false);
    let t1 = h.publish_qos("m/1", QoS::AtLeastOnce);
    assert_eq!(wire(&h.transmit()), ["PUBLISH m/1 q1 #1"]);
    let d = h.disconnect();
    // In flight: DISCONNECT waits; new requests are refused.
    assert!(h.transmit().is_empty());
    assert!(!h.engine.wants_close());
    let late = h.publish_qos("m/late", QoS::AtLeastOnce);
    assert_eq!(results(&h.outputs()), [(late, Err(PublishError::Closed))]);
    // Incoming messages are still acknowledged while waiting.
    let reply = h.recv(incoming("in/1", QosPid::AtLeastOnce(pid(40)), "x"));
    assert_eq!(wire(&reply), ["PUBACK #40"]);
    // The last completion lets DISCONNECT go.
    assert_eq!(wire(&h.recv(puback(1))), ["DISCONNECT 0x00"]);
    assert!(h.engine.wants_close());
    // [MQTT-3.14.4-1] nothing is sent after DISCONNECT.
    assert!(h
        .recv(incoming("in/2", QosPid::AtLeastOnce(pid(41)), "y"))
        .is_empty());
    h.advance(Duration::from_secs(600));
    assert!(h.transmit().is_empty());
    // [MQTT-3.14.4-2] the connection is closed, and the engine with it.
    h.close_transport();
    let outs = h.outputs();
    assert_eq!(results(&outs), [(t1, Ok(acked(1)))]);
    assert!(
        matches!(closed(&outs)[..], [(Some(t), None)] if t == d),
        "{outs:?}"
    );
    assert!(h.engine.is_closed());
    assert!(!h.engine.wants_transport(h.now + Duration::from_secs(3600)));
    let after = h.publish_qos("m/after", QoS::AtMostOnce);
    let sub = h.subscribe("a/#");
    let outs = h.outputs();
    assert_eq!(results(&outs), [(after, Err(PublishError::Closed))]);
    assert!(
        matches!(subscribed(&outs)[..], [(t, Err(SubscribeError::Closed))] if t == sub),
        "{outs:?}"
    );
});

both_versions!(graceful_disconnect_gives_up_after_its_timeout, |level| {
    let timeout = Duration::from_secs(5);
    let mut h = Harness::new(options(level).disconnect_timeout(timeout));
    h.connect(false);
    let t1 = h.publish_qos("m/1", QoS::AtLeastOnce);
    h.transmit();
    let d = h.disconnect();
    h.advance(timeout - Duration::from_millis(1));
    assert!(h.transmit().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(wire(&h.transmit()), ["DISCONNECT 0x00"]);
    h.close_transport();
    let outs = h.outputs();
    assert_eq!(results(&outs), [(t1, Err(PublishError::Closed))]);
    assert!(
        matches!(closed(&outs)[..], [(Some(t), None)] if t == d),
        "{outs:?}"
    );
});

// ---------------------------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------------------------

both_versions!(
    a_restarted_client_goes_on_with_the_next_packet_identifier,
    |level| {
        // The server may still hold state for an identifier the client used before it stopped
        // (a QoS 2 message it received, for one); the store keeps the next identifier to try, so a
        // restarted client does not start again at 1.
        let opts = options(level).clean_start(false).session_expiry(3600);
        let store = MemoryStore::new();
        let mut a = Harness::with_store(opts.clone(), store.clone(), Instant::now());
        a.connect(false);
        a.publish_qos("m/1", QoS::AtLeastOnce);
        a.publish_qos("m/2", QoS::AtLeastOnce);
        assert_eq!(
            wire(&a.transmit()),
            ["PUBLISH m/1 q1 #1", "PUBLISH m/2 q1 #2"]
        );
        a.recv(puback(1));
        a.recv(puback(2));
        assert_eq!(store.clone().load().unwrap().next_packet_id, Some(pid(3)));
        let stopped_at = a.now;
        drop(a);

        let mut b = Harness::with_store(opts, store.clone(), stopped_at);
        b.open();
        b.accept(ConnAck::new(true, ReasonCode::Success));
        b.publish_qos("m/3", QoS::AtLeastOnce);
        assert_eq!(wire(&b.transmit()), ["PUBLISH m/3 q1 #3"]);
    }
);

both_versions!(session_survives_a_process_restart, |level| {
    // [MQTT-3.1.2-23] with a Session Expiry Interval (5.0) / Clean Session 0 (3.1.1) the
    // client keeps its session state after the connection closes; a store keeps it across
    // a restart of the process.
    let opts = options(level)
        .clean_start(false)
        .session_expiry(3600)
        .max_inflight(3);
    let store = MemoryStore::new();
    let mut a = Harness::with_store(opts.clone(), store.clone(), Instant::now());
    a.connect(false);
    a.recv(incoming("in/x", QosPid::ExactlyOnce(pid(5)), "once"));
    assert_eq!(delivered(&a.outputs()), ["in/x once"]);
    a.publish_qos("m/1", QoS::AtLeastOnce);
    a.publish_qos("m/2", QoS::ExactlyOnce);
    a.publish_qos("m/3", QoS::ExactlyOnce);
    // Beyond the window: accepted, not yet sent.
    a.publish_qos("m/4", QoS::AtLeastOnce);
    assert_eq!(
        wire(&a.transmit()),
        [
            "PUBLISH m/1 q1 #1",
            "PUBLISH m/2 q2 #2",
            "PUBLISH m/3 q2 #3"
        ]
    );
    assert_eq!(wire(&a.recv(pubrec(3))), ["PUBREL #3"]);
    let crashed_at = a.now;
    drop(a);

    let mut b = Harness::with_store(opts, store.clone(), crashed_at);
    let c = b.open();
    assert!(!c.clean_start);
    let sent = b.accept(ConnAck::new(true, ReasonCode::Success));
    // [MQTT-4.4.0-1] / [MQTT-3.3.1-1] / [MQTT-4.3.3-6] as after a reconnect.
    assert_eq!(
        wire(&sent),
        [
            "PUBLISH m/1 q1 #1 DUP",
            "PUBLISH m/2 q2 #2 DUP",
            "PUBREL #3"
        ]
    );
    // The queued message keeps its QoS, and gets an identifier not in use.
    let next = b.recv(puback(1));
    assert_eq!(shape(&next), ["PUBLISH m/4 q1"]);
    let m4 = packet_ids(&next)[0];
    assert!(![2, 3].contains(&m4), "{next:?}");
    // [MQTT-4.3.3-10] the incoming message awaiting PUBREL is still known: its retransmission
    // is not delivered again.
    let mut dup = Publish {
        qos: QosPid::ExactlyOnce(pid(5)),
        ..Publish::new(TopicName::new("in/x").unwrap(), "once")
    };
    dup.dup = true;
    assert_eq!(wire(&b.recv(Packet::Publish(dup))), ["PUBREC #5"]);
    assert!(delivered(&b.outputs()).is_empty());
    assert_eq!(wire(&b.recv(pubrel(5))), ["PUBCOMP #5"]);

    assert_eq!(wire(&b.recv(pubrec(2))), ["PUBREL #2"]);
    b.recv(pubcomp(2));
    b.recv(pubcomp(3));
    b.recv(puback(m4));
    assert_eq!(b.engine.inflight_len() + b.engine.queued_len(), 0);
    let left = store.clone().load().unwrap();
    assert!(left.outgoing.is_empty(), "{left:?}");
    assert!(left.incoming_qos2.is_empty(), "{left:?}");
});

both_versions!(restored_session_not_present_republishes, |level| {
    let opts = options(level).clean_start(false).session_expiry(3600);
    let store = MemoryStore::new();
    let mut a = Harness::with_store(opts.clone(), store.clone(), Instant::now());
    a.connect(false);
    a.publish_qos("m/1", QoS::AtLeastOnce);
    a.publish_qos("m/2", QoS::ExactlyOnce);
    a.publish_qos("m/3", QoS::ExactlyOnce);
    a.transmit();
    a.recv(pubrec(3));
    a.recv(incoming("in/x", QosPid::ExactlyOnce(pid(5)), "old"));
    let crashed_at = a.now;
    drop(a);

    // The server lost the session meanwhile [MQTT-3.2.2-5]: the restored messages go out as
    // new ones, the one past PUBREC is done, the incoming identifier is forgotten.
    let mut b = Harness::with_store(opts, store.clone(), crashed_at);
    let sent = b.connect(false);
    assert_eq!(shape(&sent), ["PUBLISH m/1 q1", "PUBLISH m/2 q2"]);
    let ids = packet_ids(&sent);
    assert_eq!(store.clone().load().unwrap().outgoing.len(), 2);
    assert!(store.clone().load().unwrap().incoming_qos2.is_empty());
    b.recv(incoming("in/x", QosPid::ExactlyOnce(pid(5)), "new"));
    assert_eq!(delivered(&b.outputs()), ["in/x new"]);
    b.recv(pubrel(5));
    b.recv(puback(ids[0]));
    b.recv(pubrec(ids[1]));
    b.recv(pubcomp(ids[1]));
    let left = store.clone().load().unwrap();
    assert!(
        left.outgoing.is_empty() && left.incoming_qos2.is_empty(),
        "{left:?}"
    );
});

// ---------------------------------------------------------------------------------------------
// Misbehaving brokers: never stall, never hammer
// ---------------------------------------------------------------------------------------------

#[test]
fn refused_publish_uses_no_packet_identifier() {
    let mut h = Harness::new(options(ProtocolLevel::V5));
    let mut ack = ConnAck::new(false, ReasonCode::Success);
    ack.properties.push(Property::MaximumQoS(QoS::AtLeastOnce));
    h.connect_with(ack);
    // Refused before it is sent: above the Maximum QoS [MQTT-3.2.2-11].
    h.publish_qos("m/q2", QoS::ExactlyOnce);
    h.publish_qos("m/q1", QoS::AtLeastOnce);
    // The next publish gets the first identifier: the refused one took none.
    assert_eq!(wire(&h.transmit()), ["PUBLISH m/q1 q1 #1"]);
}

both_versions!(
    puback_for_qos2_fails_it_frees_the_slot_and_closes,
    |level| {
        let mut h = Harness::new(options(level).max_inflight(2));
        h.connect(false);
        let t1 = h.publish_qos("m/1", QoS::ExactlyOnce);
        let t2 = h.publish_qos("m/2", QoS::ExactlyOnce);
        let t3 = h.publish_qos("m/3", QoS::AtLeastOnce);
        assert_eq!(packet_ids(&h.transmit()), [1, 2]);
        let sent = h.recv(puback(1));
        // [MQTT-4.3.3] PUBACK does not answer QoS 2: a protocol violation, DISCONNECT 0x82 at 5.0.
        if level.is_v5() {
            assert_eq!(wire(&sent), ["DISCONNECT 0x82"]);
        } else {
            assert!(sent.is_empty(), "{sent:?}");
        }
        assert!(h.engine.wants_close());
        let r = results(&h.outputs());
        assert!(
            matches!(
                &r[..],
                [
                    (a, Err(PublishError::Protocol(ProtocolError::WrongAcknowledgement { packet_id: 1, .. }))),
                    (b, Err(PublishError::Rejected { reason_code: ReasonCode::QoSNotSupported, .. })),
                ] if *a == t1 && *b == t2
            ),
            "{r:?}"
        );
        // Both slots are free: the QoS 1 message goes out first on the next connection.
        h.close_transport();
        h.wait_backoff();
        let sent = h.connect(false);
        assert_eq!(shape(&sent), ["PUBLISH m/3 q1"]);
        h.recv(puback(packet_ids(&sent)[0]));
        assert!(matches!(&results(&h.outputs())[..], [(t, Ok(_))] if *t == t3));
    }
);

both_versions!(pubrec_or_pubcomp_for_qos1_is_a_protocol_error, |level| {
    for ack in [pubrec(1), pubcomp(1)] {
        let mut h = Harness::new(options(level));
        h.connect(false);
        let t = h.publish_qos("m/1", QoS::AtLeastOnce);
        h.transmit();
        h.recv(ack.clone());
        assert!(h.engine.wants_close(), "{ack:?}");
        let r = results(&h.outputs());
        assert!(
            matches!(&r[..], [(x, Err(PublishError::Protocol(ProtocolError::WrongAcknowledgement { qos: QoS::AtLeastOnce, .. })))] if *x == t),
            "{ack:?}: {r:?}"
        );
        assert_eq!(h.engine.inflight_len(), 0);
    }
});

both_versions!(
    server_closing_on_one_message_gives_it_up_after_three_closures,
    |level| {
        let mut h = Harness::new(options(level));
        h.connect(false);
        let q1 = h.publish_qos("m/ok", QoS::AtLeastOnce);
        let q2 = h.publish_qos("m/q2", QoS::ExactlyOnce);
        let q1b = h.publish_qos("m/after", QoS::AtLeastOnce);
        h.transmit();
        // The server answers the first message, then closes the connection on the QoS 2 one.
        h.recv(puback(1));
        assert!(matches!(&results(&h.outputs())[..], [(t, Ok(_))] if *t == q1));
        for attempt in 1..=3 {
            h.drop_link();
            let outs = h.outputs();
            if attempt < 3 {
                assert!(results(&outs).is_empty(), "attempt {attempt}: {outs:?}");
                h.wait_backoff();
                // The session was lost: both messages are published again, QoS 2 first.
                let sent = h.connect(false);
                assert_eq!(shape(&sent), ["PUBLISH m/q2 q2", "PUBLISH m/after q1"]);
            } else {
                let r = results(&outs);
                assert!(
                    matches!(&r[..], [(t, Err(PublishError::ServerClosesConnection { attempts: 3, qos: QoS::ExactlyOnce }))] if *t == q2),
                    "{r:?}"
                );
            }
        }
        h.wait_backoff();
        let sent = h.connect(false);
        assert_eq!(shape(&sent), ["PUBLISH m/after q1"]);
        h.recv(puback(packet_ids(&sent)[0]));
        assert!(matches!(&results(&h.outputs())[..], [(t, Ok(_))] if *t == q1b));
        // QoS 2 is now refused at once.
        let late = h.publish_qos("m/late", QoS::ExactlyOnce);
        assert!(h.transmit().is_empty());
        assert!(
            matches!(&results(&h.outputs())[..], [(t, Err(PublishError::Rejected { reason_code: ReasonCode::QoSNotSupported, .. }))] if *t == late)
        );
    }
);

both_versions!(
    network_cuts_do_not_give_up_a_message_the_server_answers,
    |level| {
        // A connection cut while a message is in flight, which the server then answers on the next
        // connection, is not held against it, however often that happens.
        let mut h = Harness::new(options(level).clean_start(false).session_expiry(600));
        h.connect(false);
        let mut ids = Vec::new();
        for i in 0..10 {
            let t = h.publish_qos(&format!("m/{i}"), QoS::AtLeastOnce);
            let sent = h.transmit();
            h.drop_link();
            h.wait_backoff();
            let resent = h.connect(true);
            assert_eq!(packet_ids(&resent), packet_ids(&sent), "{resent:?}");
            h.recv(puback(packet_ids(&sent)[0]));
            let r = results(&h.outputs());
            assert!(matches!(&r[..], [(x, Ok(_))] if *x == t), "{r:?}");
            ids.push(packet_ids(&sent)[0]);
        }
        assert_distinct(&ids);
    }
);

/// A resumed 5.0 session whose broker keeps refusing with Quota exceeded (0x97): the broker
/// holds QoS 2 identifiers this client no longer knows. The refused messages are kept, and after
/// three refusals the client ends the connection and starts a fresh session, where they are
/// published again and complete; subscriptions are restored.
#[test]
fn quota_refusals_on_a_resumed_session_start_a_fresh_session() {
    let opts = options(ProtocolLevel::V5)
        .clean_start(false)
        .session_expiry(600);
    let mut h = Harness::new(opts);
    h.connect(false);
    let sub = h.subscribe("cmd/#");
    let sent = h.transmit();
    h.recv(suback(packet_ids(&sent)[0], ReasonCode::GrantedQoS2));
    assert!(matches!(&subscribed(&h.outputs())[..], [(t, Ok(_))] if *t == sub));

    // The broker restarts from an old snapshot: the session is resumed, stale.
    h.drop_link();
    h.wait_backoff();
    h.connect(true);
    let t: Vec<u32> = (0..3)
        .map(|i| h.publish_qos(&format!("m/{i}"), QoS::ExactlyOnce))
        .collect();
    let sent = h.transmit();
    assert_eq!(sent.len(), 3);
    let quota =
        |id: u16| Packet::PubRec(PubResponse::with_reason(pid(id), ReasonCode::QuotaExceeded));
    // The first refusals: the message is kept and sent again (PUBREC >= 0x80 ends the
    // exchange and frees the identifier [MQTT-4.3.3]), not failed.
    let again = h.recv(quota(packet_ids(&sent)[0]));
    assert_eq!(shape(&again), ["PUBLISH m/0 q2"]);
    h.recv(quota(packet_ids(&sent)[1]));
    assert!(results(&h.outputs()).is_empty());
    // The third: DISCONNECT (Normal) and a fresh session.
    let bye = h.recv(quota(packet_ids(&sent)[2]));
    assert_eq!(
        wire(&bye).last().map(String::as_str),
        Some("DISCONNECT 0x00")
    );
    assert!(h.engine.wants_close());
    h.close_transport();
    let outs = h.outputs();
    assert!(
        matches!(
            lost(&outs)[..],
            [(ConnectionError::StaleSession { refusals: 3 }, true, true)]
        ),
        "{outs:?}"
    );
    assert!(results(&outs).is_empty(), "{outs:?}");
    h.wait_backoff();
    // [MQTT-3.1.2-4] Clean Start 1: the broker discards the stale session.
    let c = h.open();
    assert!(c.clean_start);
    let sent = h.accept(ConnAck::new(false, ReasonCode::Success));
    assert_eq!(
        shape(&sent),
        [
            "SUBSCRIBE cmd/#",
            "PUBLISH m/0 q2",
            "PUBLISH m/1 q2",
            "PUBLISH m/2 q2"
        ]
    );
    for id in packet_ids(&sent)[1..].to_vec() {
        assert_eq!(wire(&h.recv(pubrec(id))), [format!("PUBREL #{id}")]);
        h.recv(pubcomp(id));
    }
    let r = results(&h.outputs());
    assert_eq!(r.iter().map(|(x, _)| *x).collect::<Vec<_>>(), t);
    assert!(r.iter().all(|(_, res)| res.is_ok()), "{r:?}");

    // On a session this engine started, Quota exceeded is the broker's own limit: the message
    // fails with it, and nothing else happens.
    let t4 = h.publish_qos("m/4", QoS::ExactlyOnce);
    let sent = h.transmit();
    h.recv(quota(packet_ids(&sent)[0]));
    assert!(!h.engine.wants_close());
    let r = results(&h.outputs());
    assert!(
        matches!(&r[..], [(x, Err(PublishError::Rejected { reason_code: ReasonCode::QuotaExceeded, .. }))] if *x == t4),
        "{r:?}"
    );
    // Later reconnects resume the (fresh) session again.
    h.drop_link();
    h.wait_backoff();
    assert!(!h.open().clean_start);
}

#[test]
fn receive_maximum_exceeded_on_a_resumed_session_starts_a_fresh_session() {
    let opts = options(ProtocolLevel::V5)
        .clean_start(false)
        .session_expiry(600);
    let mut h = Harness::new(opts);
    h.connect(true);
    h.publish_qos("m/0", QoS::ExactlyOnce);
    h.transmit();
    // We never exceed the server's Receive Maximum [MQTT-3.3.4-9]: when it says we did, it
    // counts messages we no longer know.
    h.recv(Packet::Disconnect(Disconnect::new(
        ReasonCode::ReceiveMaximumExceeded,
    )));
    h.close_transport();
    h.wait_backoff();
    assert!(h.open().clean_start);
    let sent = h.accept(ConnAck::new(false, ReasonCode::Success));
    assert_eq!(shape(&sent), ["PUBLISH m/0 q2"]);
}

#[test]
fn stale_session_recovery_can_be_turned_off() {
    let opts = options(ProtocolLevel::V5)
        .clean_start(false)
        .session_expiry(600)
        .stale_session_recovery(false);
    let mut h = Harness::new(opts);
    h.connect(true);
    let t = h.publish_qos("m/0", QoS::ExactlyOnce);
    let sent = h.transmit();
    h.recv(Packet::PubRec(PubResponse::with_reason(
        pid(packet_ids(&sent)[0]),
        ReasonCode::QuotaExceeded,
    )));
    let r = results(&h.outputs());
    assert!(
        matches!(&r[..], [(x, Err(PublishError::Rejected { reason_code: ReasonCode::QuotaExceeded, .. }))] if *x == t),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Manual acknowledgements
// ---------------------------------------------------------------------------------------------

/// The messages delivered, with their tags.
fn delivered_messages(outs: Vec<Output<u32>>) -> Vec<Message> {
    outs.into_iter()
        .filter_map(|o| match o {
            Output::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn ack(h: &mut Harness, m: &Message) -> Vec<Packet> {
    let tag = m.ack_tag().expect("a message to acknowledge");
    h.engine.handle_request(h.now, Request::Ack { tag });
    h.transmit()
}

both_versions!(
    manual_acks_go_out_in_arrival_order_whatever_the_ack_order,
    |level| {
        let mut h = Harness::new(options(level).manual_acks(true));
        h.connect(false);
        for n in 1..=3 {
            // Held back: no PUBACK until the application acknowledges.
            assert!(h
                .recv(incoming("m/t", QosPid::AtLeastOnce(pid(n)), "x"))
                .is_empty());
        }
        let m = delivered_messages(h.outputs());
        assert_eq!(m.len(), 3);
        assert!(m.iter().all(Message::needs_ack));
        // [MQTT-4.6.0-2] PUBACK in the order the PUBLISH packets arrived.
        assert!(ack(&mut h, &m[1]).is_empty());
        assert_eq!(wire(&ack(&mut h, &m[0])), ["PUBACK #1", "PUBACK #2"]);
        assert_eq!(wire(&ack(&mut h, &m[2])), ["PUBACK #3"]);
        // A second acknowledgement of the same message does nothing.
        assert!(ack(&mut h, &m[2]).is_empty());
    }
);

both_versions!(
    manual_ack_of_qos2_holds_pubrec_and_never_delivers_twice,
    |level| {
        let store = MemoryStore::new();
        let mut h = Harness::with_store(
            options(level).manual_acks(true),
            store.clone(),
            Instant::now(),
        );
        h.connect(false);
        assert!(h
            .recv(incoming("m/q2", QosPid::ExactlyOnce(pid(5)), "once"))
            .is_empty());
        let m = delivered_messages(h.outputs());
        assert_eq!(m.len(), 1);
        // Not stored until acknowledged: a process that dies now gets it again from the broker.
        assert!(store.clone().load().unwrap().incoming_qos2.is_empty());
        // A duplicate before the acknowledgement is neither delivered nor answered [MQTT-4.3.3-10].
        let mut dup = incoming("m/q2", QosPid::ExactlyOnce(pid(5)), "once");
        if let Packet::Publish(p) = &mut dup {
            p.dup = true;
        }
        assert!(h.recv(dup.clone()).is_empty());
        assert!(delivered_messages(h.outputs()).is_empty());
        assert_eq!(wire(&ack(&mut h, &m[0])), ["PUBREC #5"]);
        assert_eq!(store.clone().load().unwrap().incoming_qos2, [pid(5)]);
        // After PUBREC a duplicate is answered again, still not delivered.
        assert_eq!(wire(&h.recv(dup)), ["PUBREC #5"]);
        assert!(delivered_messages(h.outputs()).is_empty());
        assert_eq!(wire(&h.recv(pubrel(5))), ["PUBCOMP #5"]);
    }
);

both_versions!(manual_ack_for_an_ended_connection_is_dropped, |level| {
    let mut h = Harness::new(
        options(level)
            .manual_acks(true)
            .clean_start(false)
            .session_expiry(600),
    );
    h.connect(false);
    h.recv(incoming("m/t", QosPid::AtLeastOnce(pid(1)), "x"));
    let first = delivered_messages(h.outputs());
    h.drop_link();
    h.wait_backoff();
    h.connect(true);
    // The late acknowledgement is not sent on the new connection...
    assert!(ack(&mut h, &first[0]).is_empty());
    // ...the broker sends the message again, and that copy is acknowledged.
    let mut again = incoming("m/t", QosPid::AtLeastOnce(pid(1)), "x");
    if let Packet::Publish(p) = &mut again {
        p.dup = true;
    }
    h.recv(again);
    let second = delivered_messages(h.outputs());
    assert_eq!(wire(&ack(&mut h, &second[0])), ["PUBACK #1"]);
});

#[test]
fn unacknowledged_messages_count_against_our_receive_maximum() {
    let mut h = Harness::new(
        options(ProtocolLevel::V5)
            .manual_acks(true)
            .receive_maximum(2),
    );
    h.connect(false);
    h.recv(incoming("m/t", QosPid::AtLeastOnce(pid(1)), "x"));
    h.recv(incoming("m/t", QosPid::ExactlyOnce(pid(2)), "x"));
    // [MQTT-3.3.4-9] a third unacknowledged message exceeds the Receive Maximum of 2.
    let sent = h.recv(incoming("m/t", QosPid::AtLeastOnce(pid(3)), "x"));
    assert_eq!(wire(&sent), ["DISCONNECT 0x93"]);
}

#[test]
fn automatic_acknowledgements_need_no_ack() {
    let mut h = Harness::new(options(ProtocolLevel::V5));
    h.connect(false);
    assert_eq!(
        wire(&h.recv(incoming("m/t", QosPid::AtLeastOnce(pid(1)), "x"))),
        ["PUBACK #1"]
    );
    assert!(delivered_messages(h.outputs())
        .iter()
        .all(|m| !m.needs_ack()));
}

// ---------------------------------------------------------------------------------------------
// Durable sessions: restored messages, message ids, bounded queues
// ---------------------------------------------------------------------------------------------

both_versions!(
    restored_messages_report_with_their_ids_and_ids_go_on,
    |level| {
        let store = MemoryStore::new();
        let now = Instant::now();
        let opts = options(level).clean_start(false).session_expiry(600);
        let mut first = Harness::with_store(opts.clone(), store.clone(), now);
        assert_eq!(first.engine.next_message_id(), 0);
        first.publish_qos("m/0", QoS::AtLeastOnce);
        first.publish_qos("m/1", QoS::ExactlyOnce);
        first.engine.commit().unwrap();
        // The process dies here (nothing sent). The next one resumes from the store...
        let mut second = Harness::with_store(opts, store.clone(), now);
        assert_eq!(second.engine.next_message_id(), 2, "ids go on");
        let sent = second.connect(false);
        assert_eq!(shape(&sent), ["PUBLISH m/0 q1", "PUBLISH m/1 q2"]);
        let ids = packet_ids(&sent);
        second.recv(puback(ids[0]));
        second.recv(pubrec(ids[1]));
        second.recv(pubcomp(ids[1]));
        // ...and reports the outcome of each with the id the first one gave it.
        let restored: Vec<u64> = second
            .outputs()
            .iter()
            .filter_map(|o| match o {
                Output::RestoredDone { id, result: Ok(_) } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(restored, [0, 1]);
        // Even with nothing left in the store, the next id is not reused.
        let third = Harness::with_store(options(level), store, now);
        assert_eq!(third.engine.next_message_id(), 2);
    }
);

both_versions!(queue_full_policies_drop_oldest_or_newest, |level| {
    use pigeon_mqtt::QueueFullPolicy;
    for policy in [QueueFullPolicy::DropOldest, QueueFullPolicy::DropNewest] {
        // Offline: everything queues.
        let mut h = Harness::new(options(level).max_queued(2).queue_full_policy(policy));
        let t: Vec<u32> = (0..3)
            .map(|i| h.publish_qos(&format!("m/{i}"), QoS::AtLeastOnce))
            .collect();
        assert!(h.engine.can_accept(), "a drop policy never pushes back");
        let dropped = if policy == QueueFullPolicy::DropOldest {
            t[0]
        } else {
            t[2]
        };
        let r = results(&h.outputs());
        assert!(
            matches!(&r[..], [(x, Err(PublishError::Dropped { queued: 2, .. }))] if *x == dropped),
            "{policy:?}: {r:?}"
        );
        let sent = h.connect(false);
        let expected: Vec<String> = if policy == QueueFullPolicy::DropOldest {
            vec!["PUBLISH m/1 q1".into(), "PUBLISH m/2 q1".into()]
        } else {
            vec!["PUBLISH m/0 q1".into(), "PUBLISH m/1 q1".into()]
        };
        assert_eq!(shape(&sent), expected, "{policy:?}");
    }
});

both_versions!(queue_bounded_by_bytes_pushes_back, |level| {
    let mut h = Harness::new(options(level).max_queued_bytes(100));
    h.publish(
        Message::new("m/a", vec![0u8; 60])
            .unwrap()
            .qos(QoS::AtLeastOnce),
    );
    assert!(h.engine.can_accept());
    h.publish(
        Message::new("m/b", vec![0u8; 60])
            .unwrap()
            .qos(QoS::AtLeastOnce),
    );
    // 126 bytes queued: the event loop takes no more requests (publish waits, try_publish
    // fails) until some are sent.
    assert!(!h.engine.can_accept());
    h.connect(false);
    assert!(h.engine.can_accept());
});

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/// Plays the event loop and the broker around one engine, on a fake clock.
struct Harness {
    engine: Engine<u32>,
    now: Instant,
    tickets: u32,
    /// Outputs set aside by [`Harness::accept`], returned first by [`Harness::outputs`].
    held: VecDeque<Output<u32>>,
    /// Tickets of QoS 0 publishes handed back with their packet, in write order.
    written: Vec<u32>,
}

impl Harness {
    fn new(opts: ConnectOptions) -> Harness {
        Harness::with_store(opts, MemoryStore::new(), Instant::now())
    }

    fn with_store(opts: ConnectOptions, store: MemoryStore, now: Instant) -> Harness {
        Harness {
            engine: Engine::new(&opts, Box::new(store), 7, now),
            now,
            tickets: 0,
            held: VecDeque::new(),
            written: Vec::new(),
        }
    }

    /// Opens the transport; returns the CONNECT, which must be the only packet sent.
    fn open(&mut self) -> Connect {
        assert!(self.engine.wants_transport(self.now), "no transport wanted");
        self.engine.handle_transport_up(self.now);
        assert_eq!(self.engine.state(), State::Connecting);
        let mut sent = self.transmit();
        assert_eq!(sent.len(), 1, "{sent:?}");
        match sent.remove(0) {
            Packet::Connect(c) => *c,
            other => panic!("[MQTT-3.1.0-1] first packet {other:?} is not CONNECT"),
        }
    }

    /// Answers the CONNECT with a successful CONNACK; returns what the engine sends then.
    fn accept(&mut self, ack: ConnAck) -> Vec<Packet> {
        let sent = self.recv(Packet::ConnAck(ack));
        assert_eq!(self.engine.state(), State::Connected);
        let mut connected = 0;
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Connected(_) => connected += 1,
                other => self.held.push_back(other),
            }
        }
        assert_eq!(connected, 1);
        sent
    }

    fn connect(&mut self, session_present: bool) -> Vec<Packet> {
        self.connect_with(ConnAck::new(session_present, ReasonCode::Success))
    }

    fn connect_with(&mut self, ack: ConnAck) -> Vec<Packet> {
        self.open();
        self.accept(ack)
    }

    /// The link breaks, the reconnect delay passes, and the server answers `session_present`.
    fn reconnect(&mut self, session_present: bool) -> Vec<Packet> {
        self.reconnect_with(ConnAck::new(session_present, ReasonCode::Success))
    }

    fn reconnect_with(&mut self, ack: ConnAck) -> Vec<Packet> {
        self.drop_link();
        self.wait_backoff();
        self.connect_with(ack)
    }

    /// A packet from the server; returns what the engine sends in answer.
    fn recv(&mut self, packet: Packet) -> Vec<Packet> {
        self.engine.handle_incoming(self.now, packet);
        self.transmit()
    }

    /// Writes out everything the engine wants to send, now.
    fn transmit(&mut self) -> Vec<Packet> {
        let mut sent = Vec::new();
        while let Some(t) = self.engine.poll_transmit(self.now) {
            self.written.extend(t.written);
            sent.push(t.packet);
        }
        sent
    }

    fn outputs(&mut self) -> Vec<Output<u32>> {
        let mut outs: Vec<_> = self.held.drain(..).collect();
        outs.extend(std::iter::from_fn(|| self.engine.poll_output()));
        outs
    }

    /// Moves the clock and lets the engine see the time.
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.engine.handle_timeout(self.now);
    }

    /// The network fails under the engine.
    fn drop_link(&mut self) {
        self.engine
            .handle_transport_down(self.now, Some(ConnectionError::ConnectionClosed));
    }

    /// Closes the transport the engine asked to close.
    fn close_transport(&mut self) {
        assert!(self.engine.wants_close());
        self.engine.handle_transport_down(self.now, None);
    }

    /// Waits out the reconnect delay: no transport is wanted before it ends, one is at its end.
    fn wait_backoff(&mut self) -> Duration {
        assert_eq!(self.engine.state(), State::Disconnected);
        let retry_at = self.engine.poll_timeout().expect("a reconnect time");
        let delay = retry_at - self.now;
        assert!(delay > Duration::ZERO);
        assert!(!self.engine.wants_transport(self.now));
        assert!(!self
            .engine
            .wants_transport(retry_at - Duration::from_nanos(1)));
        self.advance(delay);
        assert!(self.engine.wants_transport(self.now));
        delay
    }

    fn request(&mut self, build: impl FnOnce(u32) -> Request<u32>) -> u32 {
        self.tickets += 1;
        let ticket = self.tickets;
        self.engine.handle_request(self.now, build(ticket));
        ticket
    }

    fn publish(&mut self, message: Message) -> u32 {
        self.request(|ticket| Request::Publish { message, ticket })
    }

    /// Publishes with the topic as payload.
    fn publish_qos(&mut self, topic: &str, qos: QoS) -> u32 {
        self.publish(Message::new(topic, topic.to_owned()).unwrap().qos(qos))
    }

    fn subscribe(&mut self, filter: &str) -> u32 {
        let filters = vec![(
            TopicFilter::new(filter).unwrap(),
            SubscriptionOptions::new(QoS::ExactlyOnce),
        )];
        self.request(|ticket| Request::Subscribe {
            filters,
            properties: Properties::new(),
            ticket,
        })
    }

    fn unsubscribe(&mut self, filter: &str) -> u32 {
        let filters = vec![TopicFilter::new(filter).unwrap()];
        self.request(|ticket| Request::Unsubscribe {
            filters,
            properties: Properties::new(),
            ticket,
        })
    }

    fn disconnect(&mut self) -> u32 {
        self.request(|ticket| Request::Disconnect {
            packet: Disconnect::default(),
            ticket,
        })
    }
}

/// Test options: a fixed client id, keep alive 60 s, fast reconnects, first connection retried.
fn options(level: ProtocolLevel) -> ConnectOptions {
    ConnectOptions::new("broker.test", 1883)
        .protocol(level)
        .client_id("engine-test")
        .keep_alive(Duration::from_secs(60))
        .reconnect(
            ReconnectOptions::default()
                .backoff(Duration::from_millis(100), Duration::from_secs(2))
                .retry_first_connect(true),
        )
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn puback(n: u16) -> Packet {
    Packet::PubAck(PubResponse::new(pid(n)))
}

fn pubrec(n: u16) -> Packet {
    Packet::PubRec(PubResponse::new(pid(n)))
}

fn pubrel(n: u16) -> Packet {
    Packet::PubRel(PubResponse::new(pid(n)))
}

fn pubcomp(n: u16) -> Packet {
    Packet::PubComp(PubResponse::new(pid(n)))
}

fn suback(n: u16, code: ReasonCode) -> Packet {
    Packet::SubAck(SubAck::new(pid(n), vec![code]))
}

fn unsuback(level: ProtocolLevel, n: u16) -> Packet {
    // One reason code per filter at 5.0, none at 3.1.1.
    let codes = if level.is_v5() {
        vec![ReasonCode::Success]
    } else {
        vec![]
    };
    Packet::UnsubAck(UnsubAck::new(pid(n), codes))
}

/// The successful completion of the message with identifier `n`.
fn acked(n: u16) -> PublishAck {
    PublishAck {
        packet_id: Some(pid(n)),
        reason_code: ReasonCode::Success,
        properties: Properties::new(),
    }
}

/// A PUBLISH from the server.
fn incoming(topic: &str, qos: QosPid, payload: &'static str) -> Packet {
    Packet::Publish(Publish {
        qos,
        ..Publish::new(TopicName::new(topic).unwrap(), payload)
    })
}

fn with_alias(packet: Packet, alias: u16) -> Packet {
    let Packet::Publish(mut p) = packet else {
        panic!("not a PUBLISH")
    };
    p.properties
        .push(Property::TopicAlias(NonZeroU16::new(alias).unwrap()));
    Packet::Publish(p)
}

/// A PUBLISH from the server with an empty topic and a Topic Alias, decoded from its bytes
/// (the only way such a packet can be built).
fn aliased(alias: u16, qos: QosPid, payload: &str) -> Packet {
    let mut body = BytesMut::new();
    body.put_u16(0); // empty Topic Name
    if let Some(id) = qos.packet_id() {
        body.put_u16(id.get());
    }
    body.put_u8(3); // property length
    body.put_u8(0x23); // Topic Alias
    body.put_u16(alias);
    body.put_slice(payload.as_bytes());
    let mut buf = BytesMut::new();
    buf.put_u8(0x30 | (qos.qos() as u8) << 1);
    buf.put_u8(u8::try_from(body.len()).unwrap());
    buf.put_slice(&body);
    match codec::decode(&mut buf, ProtocolLevel::V5, codec::MAX_PACKET_SIZE) {
        Ok(Decoded::Packet(p)) => p,
        other => panic!("{other:?}"),
    }
}

fn publishes(packets: &[Packet]) -> Vec<&Publish> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// The identifiers of PUBLISH, SUBSCRIBE and UNSUBSCRIBE packets, in order.
fn packet_ids(packets: &[Packet]) -> Vec<u16> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => p.packet_id(),
            Packet::Subscribe(s) => Some(s.packet_id),
            Packet::Unsubscribe(u) => Some(u.packet_id),
            _ => None,
        })
        .map(PacketId::get)
        .collect()
}

fn assert_distinct(ids: &[u16]) {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "identifiers reused: {ids:?}");
}

/// Packets as short text: `PUBLISH m/1 q1 #1 DUP alias=1`, `PUBREL #2`, `DISCONNECT 0x93`.
fn wire(packets: &[Packet]) -> Vec<String> {
    packets.iter().map(|p| describe(p, true)).collect()
}

/// Like [`wire`], without packet identifiers (for identifiers the test does not pin down).
fn shape(packets: &[Packet]) -> Vec<String> {
    packets.iter().map(|p| describe(p, false)).collect()
}

fn describe(packet: &Packet, with_ids: bool) -> String {
    let id = |id: PacketId| {
        if with_ids {
            format!(" #{id}")
        } else {
            String::new()
        }
    };
    let reason = |r: &PubResponse| {
        let mut s = id(r.packet_id);
        if r.reason_code != ReasonCode::Success {
            s += &format!(" 0x{:02x}", r.reason_code.code());
        }
        s
    };
    match packet {
        Packet::Publish(p) => {
            let mut s = if p.topic.is_empty() {
                "PUBLISH \"\"".to_owned()
            } else {
                format!("PUBLISH {}", p.topic.as_str())
            };
            s += &format!(" q{}", p.qos.qos() as u8);
            if let Some(i) = p.packet_id() {
                s += &id(i);
            }
            if p.dup {
                s += " DUP";
            }
            if let Some(a) = p.properties.topic_alias() {
                s += &format!(" alias={a}");
            }
            s
        }
        Packet::PubAck(r) => format!("PUBACK{}", reason(r)),
        Packet::PubRec(r) => format!("PUBREC{}", reason(r)),
        Packet::PubRel(r) => format!("PUBREL{}", reason(r)),
        Packet::PubComp(r) => format!("PUBCOMP{}", reason(r)),
        Packet::Subscribe(s) => {
            let filters: Vec<_> = s.filters.iter().map(|(f, _)| f.as_str()).collect();
            format!("SUBSCRIBE{} {}", id(s.packet_id), filters.join(","))
        }
        Packet::Unsubscribe(u) => {
            let filters: Vec<_> = u.filters.iter().map(|f| f.as_str()).collect();
            format!("UNSUBSCRIBE{} {}", id(u.packet_id), filters.join(","))
        }
        Packet::Disconnect(d) => format!("DISCONNECT 0x{:02x}", d.reason_code.code()),
        Packet::PingReq => "PINGREQ".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Completed publishes: (ticket, result).
fn results(outs: &[Output<u32>]) -> Vec<(u32, Result<PublishAck, PublishError>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::PublishDone { ticket, result } => Some((*ticket, result.clone())),
            _ => None,
        })
        .collect()
}

/// Completed subscribes: (ticket, result).
fn subscribed(outs: &[Output<u32>]) -> Vec<(u32, Result<SubAck, SubscribeError>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::SubscribeDone { ticket, result } => Some((*ticket, result.clone())),
            _ => None,
        })
        .collect()
}

/// Delivered messages as `topic payload`.
fn delivered(outs: &[Output<u32>]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Message(m) => Some(format!("{} {}", m.topic(), m.payload_str().unwrap())),
            _ => None,
        })
        .collect()
}

/// Lost connections: (error, was_connected, reconnecting).
fn lost(outs: &[Output<u32>]) -> Vec<(ConnectionError, bool, bool)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::ConnectionLost {
                error,
                was_connected,
                reconnecting,
            } => Some((error.clone(), *was_connected, *reconnecting)),
            _ => None,
        })
        .collect()
}

/// `Closed` outputs: (ticket, error).
fn closed(outs: &[Output<u32>]) -> Vec<(Option<u32>, Option<ConnectionError>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Closed { ticket, error } => Some((*ticket, error.clone())),
            _ => None,
        })
        .collect()
}
