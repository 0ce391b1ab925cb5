//! End-to-end tests against a real Mosquitto broker.
//!
//! Every test starts its own broker(s) on a free loopback port (`tests/support/mosquitto.rs`)
//! and runs each scenario at MQTT 3.1.1 and 5.0 with one body (`for level in LEVELS`). Every
//! wait is bounded. Where something has to be shown NOT to happen (a will that must not be
//! published, a message after UNSUBSCRIBE, a cleared retained message), a marker message is
//! awaited instead of sleeping: it is published once the broker has processed whatever would
//! cause the unwanted message (earlier on the same connection, or seen in the broker log), and
//! Mosquitto forwards to a subscriber in the order it processes messages, so the unwanted one
//! would arrive first. (The specification only promises order per topic [MQTT-4.6.0-6].)
//!
//! The harness is synchronous (it polls the broker log and waits for processes); its calls run
//! under `block_in_place`, so the tests use the multi-threaded runtime.

mod support;

use std::future::Future;
use std::num::NonZeroU32;
use std::process::Child;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use pigeon_mqtt::packet::{
    ConnAck, Disconnect, MqttString, Properties, Property, ReasonCode, SubAck, SubscriptionOptions,
    Will,
};
use pigeon_mqtt::topic::{TopicFilter, TopicName};
use pigeon_mqtt::{
    Client, ConnectOptions, ConnectionError, Event, Message, ProtocolLevel, PublishAck,
    PublishError, QoS, ReconnectOptions,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use support::Mosquitto;

/// Every scenario runs once per protocol level, with the same body.
const LEVELS: [ProtocolLevel; 2] = [ProtocolLevel::V3_1_1, ProtocolLevel::V5];
const ALL_QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
/// Bound on every single wait: an event, an acknowledgement, a log line, a child process.
const WAIT: Duration = Duration::from_secs(10);
/// `mosquitto_sub -W`: a spawned subscriber exits on its own even when a test fails.
const SUB_TIMEOUT_SECS: &str = "15";

// ---- QoS 0 / 1 / 2 in both directions ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_in_both_directions() {
    for level in LEVELS {
        let broker = start_broker();
        let id = client_id("qos", level);
        let mut me = Conn::connect(&id, options(&broker, level, &id)).await;

        // Our client publishes; mosquitto_sub receives the exact payloads with their QoS.
        let sub = spawn_sub(
            &broker,
            &client_id("qos-cli-sub", level),
            &[
                "-V",
                cli_version(level),
                "-q",
                "2",
                "-t",
                "qos/out/#",
                "-C",
                "3",
                "-F",
                "%q %t %p",
            ],
        );
        for qos in ALL_QOS {
            let payload = format!("out {qos:?} at {level}");
            let ack = me
                .publish(msg(&format!("qos/out/{}", qos as u8), payload, qos))
                .await;
            assert_eq!(ack.reason_code, ReasonCode::Success, "{level} {qos:?}");
            // The future resolves on the broker's acknowledgement, not on the write: by then
            // the broker has logged sending PUBACK [MQTT-4.3.2-4] / PUBCOMP [MQTT-4.3.3-11]
            // for exactly this packet identifier.
            let log = broker.log();
            match qos {
                QoS::AtMostOnce => assert_eq!(ack.packet_id, None, "{level}: QoS 0 has no id"),
                QoS::AtLeastOnce | QoS::ExactlyOnce => {
                    let pid = ack
                        .packet_id
                        .unwrap_or_else(|| panic!("{level} {qos:?}: ack without packet id"))
                        .get();
                    let kind = if qos == QoS::AtLeastOnce {
                        "PUBACK"
                    } else {
                        "PUBCOMP"
                    };
                    // "(m1, rc0)" for PUBACK, "(m2)" for PUBCOMP.
                    let line = format!("Sending {kind} to {id} (m{pid}");
                    let logged = [",", ")"]
                        .iter()
                        .any(|end| log.contains(&format!("{line}{end}")));
                    assert!(logged, "{level}: no {line:?} in\n{log}");
                }
            }
        }
        assert_eq!(
            sub_lines(sub),
            [
                format!("0 qos/out/0 out AtMostOnce at {level}"),
                format!("1 qos/out/1 out AtLeastOnce at {level}"),
                format!("2 qos/out/2 out ExactlyOnce at {level}"),
            ]
        );
        if level.is_v5() {
            // The PUBACK's reason code reaches the future: Mosquitto answers 0x10 when nobody
            // subscribes (5.0 only; 3.1.1 PUBACK has no reason code).
            let ack = me.publish(msg("qos/nobody", "x", QoS::AtLeastOnce)).await;
            assert_eq!(ack.reason_code, ReasonCode::NoMatchingSubscribers);
        }

        // mosquitto_pub publishes; our client receives each message with its QoS: the minimum
        // of the published QoS and the granted QoS 2 [MQTT-3.8.4-8].
        let suback = me.subscribe("qos/in/#", QoS::ExactlyOnce).await;
        assert_eq!(suback.reason_codes, [ReasonCode::GrantedQoS2]);
        for qos in ALL_QOS {
            let q = (qos as u8).to_string();
            let topic = format!("qos/in/{q}");
            let payload = format!("in {qos:?} at {level}");
            blocking(|| {
                broker.mosquitto_pub(&[
                    "-V",
                    cli_version(level),
                    "-q",
                    &q,
                    "-t",
                    &topic,
                    "-m",
                    &payload,
                ])
            });
        }
        for qos in ALL_QOS {
            let m = me.message().await;
            assert_eq!(m.topic(), format!("qos/in/{}", qos as u8), "{level}");
            assert_eq!(m.payload_str(), Some(&*format!("in {qos:?} at {level}")));
            assert_eq!(m.qos_level(), qos, "{level}");
            assert!(!m.is_retained() && !m.is_dup(), "{level}: {m:?}");
        }
        me.close().await;
    }
}

// ---- retained messages -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_is_kept_and_cleared_by_an_empty_payload() {
    for level in LEVELS {
        let broker = start_broker();
        let publisher = Conn::connect("publisher", options(&broker, level, "ret-pub")).await;
        publisher
            .publish(msg("ret/t", "kept", QoS::AtLeastOnce).retain(true))
            .await;

        // [MQTT-3.3.1-5] the broker stores it; a new subscription receives it with RETAIN 1
        // (3.1.1 [MQTT-3.3.1-8]; 5.0 [MQTT-3.3.1-9], section 3.3.1.3).
        let mut first = Conn::connect("first", options(&broker, level, "ret-sub-1")).await;
        first.subscribe("ret/#", QoS::AtLeastOnce).await;
        let m = first.message().await;
        assert_eq!((m.topic(), m.payload_str()), ("ret/t", Some("kept")));
        assert!(m.is_retained(), "{level}: retained message without RETAIN");
        assert_eq!(m.qos_level(), QoS::AtLeastOnce);

        // An empty retained payload is forwarded to existing subscribers (RETAIN 0 on an
        // established subscription: 3.1.1 [MQTT-3.3.1-9], 5.0 [MQTT-3.3.1-12]) and removes
        // the retained message (3.1.1 [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6]).
        publisher
            .publish(msg("ret/t", Bytes::new(), QoS::AtLeastOnce).retain(true))
            .await;
        let m = first.message().await;
        assert!(m.payload().is_empty() && !m.is_retained(), "{level}: {m:?}");
        first.close().await;

        // A later subscriber gets nothing retained: the first message it sees is a marker
        // published after its SUBACK.
        let mut later = Conn::connect("later", options(&broker, level, "ret-sub-2")).await;
        later.subscribe("ret/#", QoS::AtLeastOnce).await;
        publisher
            .publish(msg("ret/marker", "after", QoS::AtLeastOnce))
            .await;
        let m = later.message().await;
        assert_eq!(
            (m.topic(), m.payload_str(), m.is_retained()),
            ("ret/marker", Some("after"), false),
            "{level}: the cleared retained message was still delivered"
        );
        later.close().await;
        publisher.close().await;
    }
}

// ---- will --------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_on_abrupt_loss_only() {
    for level in LEVELS {
        let broker = start_broker();
        let mut watcher = Conn::connect("watcher", options(&broker, level, "will-watch")).await;
        watcher.subscribe("will/#", QoS::AtLeastOnce).await;
        let with_will = |name: &str| {
            let mut will = Will::new(
                TopicName::new(format!("will/{name}")).expect("topic"),
                format!("{name} gone"),
                QoS::AtLeastOnce,
            );
            if level.is_v5() {
                will.properties.push(Property::WillDelayInterval(0));
            }
            options(&broker, level, &client_id(name, level)).will(will)
        };
        // A: connected with a will; nothing is published while it is connected (the watcher's
        // next message is its own marker, see the module docs).
        let a = Conn::connect("a", with_will("a")).await;
        watcher
            .publish(msg("will/marker", "a up", QoS::AtLeastOnce))
            .await;
        assert_eq!(
            watcher.message().await.payload_str(),
            Some("a up"),
            "{level}"
        );

        // The event loop task is aborted: its TCP socket is closed without DISCONNECT. The
        // broker publishes the will [MQTT-3.1.2-8] (5.0: Will Delay Interval 0).
        a.kill().await;
        let m = watcher.message().await;
        assert_eq!(
            (m.topic(), m.payload_str(), m.qos_level()),
            ("will/a", Some("a gone"), QoS::AtLeastOnce),
            "{level}"
        );
        let log = broker.log();
        let a_id = client_id("a", level);
        assert!(
            !log.contains(&format!("Received DISCONNECT from {a_id}")),
            "{level}: the aborted client sent DISCONNECT:\n{log}"
        );

        // B: a graceful disconnect() discards the will [MQTT-3.14.4-3].
        let b = Conn::connect("b", with_will("b")).await;
        b.close().await;
        let b_id = client_id("b", level);
        let gone = blocking(|| broker.wait_for_log(&format!("Client {b_id} disconnected"), WAIT));
        assert!(
            gone,
            "{level}: broker did not see B leave:\n{}",
            broker.log()
        );
        watcher
            .publish(msg("will/marker", "b down", QoS::AtLeastOnce))
            .await;
        let m = watcher.message().await;
        assert_eq!(
            (m.topic(), m.payload_str()),
            ("will/marker", Some("b down")),
            "{level}: will published after a graceful disconnect"
        );

        // C (5.0): DISCONNECT with reason code 0x04 asks the broker to publish the will
        // (section 3.14.2.1).
        if level.is_v5() {
            let c = Conn::connect("c", with_will("c")).await;
            c.close_with(Disconnect::new(ReasonCode::DisconnectWithWillMessage))
                .await;
            let m = watcher.message().await;
            assert_eq!((m.topic(), m.payload_str()), ("will/c", Some("c gone")));
        }
        watcher.close().await;
    }
}

// ---- session resumption ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_resumes_with_messages_queued_while_away() {
    for level in LEVELS {
        let broker = start_broker();
        let id = client_id("resume", level);
        // 5.0: the session outlives the connection only with a Session Expiry Interval
        // [MQTT-3.1.2-23]; 3.1.1: Clean Session 0 keeps it.
        let opts = || {
            options(&broker, level, &id)
                .clean_start(false)
                .session_expiry(300)
        };
        let mut first = Conn::start("first", opts());
        assert!(
            !first.connected().await.session_present,
            "{level}: fresh id"
        );
        let suback = first.subscribe("resume/t", QoS::AtLeastOnce).await;
        assert_eq!(suback.reason_codes, [ReasonCode::GrantedQoS1]);
        first.close().await;
        let gone = blocking(|| broker.wait_for_log(&format!("Client {id} disconnected"), WAIT));
        assert!(gone, "{level}: broker did not see the subscriber leave");

        for i in 0..3 {
            let payload = format!("away {i}");
            blocking(|| {
                broker.mosquitto_pub(&[
                    "-V",
                    cli_version(level),
                    "-q",
                    "1",
                    "-t",
                    "resume/t",
                    "-m",
                    &payload,
                ])
            });
        }

        // Same id again: Session Present 1 (5.0 [MQTT-3.2.2-3], 3.1.1 [MQTT-3.2.2-2]) and the
        // QoS 1 messages kept in the session arrive, in order, without subscribing again.
        let mut again = Conn::start("again", opts());
        assert!(
            again.connected().await.session_present,
            "{level}: session not present"
        );
        for i in 0..3 {
            let m = again.message().await;
            assert_eq!(m.topic(), "resume/t");
            assert_eq!(m.payload_str(), Some(&*format!("away {i}")), "{level}");
            assert_eq!(m.qos_level(), QoS::AtLeastOnce);
        }
        again.close().await;
    }
}

// ---- broker restarted mid-stream ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_qos1_loses_nothing() {
    for level in LEVELS {
        restart_mid_stream(level, QoS::AtLeastOnce).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_qos2_delivers_exactly_once() {
    for level in LEVELS {
        restart_mid_stream(level, QoS::ExactlyOnce).await;
    }
}

/// A persistent subscriber and a publisher of our own stream 10,000 numbered messages at `qos`
/// through a broker with persistence. After 3,000 have been received the broker is stopped
/// with SIGTERM (it saves its database) from a blocking thread; messages 7,000 and up are
/// handed to the publisher while it is down, and then it starts again. Both clients reconnect
/// to their sessions: in-flight messages are sent again with their identifiers and DUP
/// [MQTT-4.4.0-1] [MQTT-3.3.1-1], and what was published meanwhile leaves the client's queue.
///
/// QoS 1: every number arrives at least once. QoS 2: every number exactly once, as the
/// receiver never delivers a PUBLISH again before its PUBREL (5.0 [MQTT-4.3.3-10], 3.1.1
/// [MQTT-4.3.3-2]).
async fn restart_mid_stream(level: ProtocolLevel, qos: QoS) {
    const STREAM: usize = 10_000;
    const RESTART_AFTER: usize = 3_000;
    const WHILE_DOWN_FROM: usize = 7_000;
    const TOPIC: &str = "stream/numbers";
    let started = Instant::now();

    // The packet log (`debug_log`) is kept: the QoS 2 check below reads it.
    let broker = blocking(|| Mosquitto::builder().persistence(true).build());
    let fast =
        ReconnectOptions::default().backoff(Duration::from_millis(50), Duration::from_millis(500));
    let persistent = |name: &str| {
        options(&broker, level, &client_id(name, level))
            .clean_start(false)
            .session_expiry(3600)
            .reconnect(fast.clone())
    };
    let mut sub = Conn::connect("subscriber", persistent("stream-sub")).await;
    let suback = sub.subscribe(TOPIC, qos).await;
    assert_eq!(suback.reason_codes, [ReasonCode::granted(qos)]);
    // At most 20 in flight, Mosquitto's `max_inflight_messages`. At 5.0 the broker says so
    // (Receive Maximum 20, which the client obeys anyway); at 3.1.1 it cannot, and Mosquitto
    // 2.0 answers a QoS 2 PUBLISH beyond that quota with a PUBREC (its log says "rc151",
    // Quota exceeded, which 3.1.1 cannot carry) and then drops the message.
    let mut publisher = Conn::connect(
        "publisher",
        persistent("stream-pub")
            .max_inflight(20)
            .max_queued(STREAM + 1),
    )
    .await;

    // The first part of the stream is handed over at once; the rest only while the broker is
    // down, so it waits in the client's queue until the reconnect.
    let (down_tx, down_rx) = oneshot::channel::<()>();
    let (resume_tx, resume_rx) = oneshot::channel::<()>();
    let (mut down_tx, mut resume_rx) = (Some(down_tx), Some(resume_rx));
    let client = publisher.client.clone();
    let publishing = tokio::spawn(async move {
        let mut down_rx = Some(down_rx);
        let mut tokens = Vec::with_capacity(STREAM);
        for n in 0..STREAM {
            if n == WHILE_DOWN_FROM {
                if let Some(down) = down_rx.take() {
                    down.await.expect("the broker is stopped");
                }
            }
            let token = client
                .begin_publish(msg(TOPIC, n.to_string(), qos))
                .await
                .expect("the publisher's event loop is running");
            tokens.push(token);
        }
        let _ = resume_tx.send(());
        let mut results = Vec::with_capacity(STREAM);
        for token in tokens {
            results.push(token.await);
        }
        results
    });

    let mut broker = Some(broker);
    let mut restart: Option<JoinHandle<Mosquitto>> = None;
    let mut seen = vec![0u32; STREAM];
    let (mut received, mut distinct, mut published) = (0usize, 0usize, 0usize);
    let mut published_at_loss = None;
    let (mut sub_sessions, mut pub_sessions) = (Vec::new(), Vec::new());
    let mut marker_sent = false;
    let mut stalled = false;
    loop {
        if !marker_sent && distinct == STREAM && published == STREAM {
            // Everything arrived and every publish completed. A last message on the same topic
            // flushes out any late duplicate: it would be delivered before the marker.
            let handle = restart.take().expect("the restart was triggered");
            broker = Some(within("broker restart", handle).await.expect("restart"));
            publisher.publish(msg(TOPIC, "end", qos)).await;
            marker_sent = true;
        }
        let idle = tokio::time::sleep(WAIT);
        tokio::select! {
            e = sub.events.recv() => match e {
                Some(Ok(Event::Message(m))) => {
                    if m.payload() == "end" {
                        break;
                    }
                    let n: usize = m
                        .payload_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| panic!("unexpected payload {:?}", m.payload()));
                    assert_eq!(m.qos_level(), qos);
                    seen[n] += 1;
                    if seen[n] == 1 {
                        distinct += 1;
                    }
                    received += 1;
                    if received == RESTART_AFTER {
                        // SIGTERM (Mosquitto saves its database), then start again once the
                        // rest of the stream has been handed to the client.
                        let mut b = broker.take().expect("broker");
                        let (down, resume) = (down_tx.take(), resume_rx.take());
                        restart = Some(tokio::task::spawn_blocking(move || {
                            b.stop();
                            if let (Some(down), Some(resume)) = (down, resume) {
                                let _ = down.send(());
                                let _ = resume.blocking_recv();
                            }
                            b.start_again();
                            b
                        }));
                    }
                }
                Some(Ok(Event::Connected(ack))) => sub_sessions.push(ack.session_present),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{level}: subscriber stopped: {e}"),
                None => panic!("{level}: subscriber task gone"),
            },
            e = publisher.events.recv(), if published < STREAM => match e {
                Some(Ok(Event::Published(_))) => published += 1,
                Some(Ok(Event::ConnectionLost { .. })) => {
                    published_at_loss.get_or_insert(published);
                }
                Some(Ok(Event::Connected(ack))) => pub_sessions.push(ack.session_present),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{level}: publisher stopped: {e}"),
                None => panic!("{level}: publisher task gone"),
            },
            () = idle => {
                stalled = true;
                break;
            }
        }
    }
    if let Some(handle) = restart.take() {
        broker = Some(within("broker restart", handle).await.expect("restart"));
    }
    let broker = broker.expect("broker");

    let missing: Vec<usize> = (0..STREAM).filter(|&n| seen[n] == 0).collect();
    let duplicated: Vec<usize> = (0..STREAM).filter(|&n| seen[n] > 1).collect();
    let summary = format!(
        "{level} {qos:?}: {received} received, {distinct} distinct, {} missing (first {:?}), \
         {} duplicated (first {:?}), {published} publishes completed, publisher had \
         {published_at_loss:?} completed when the broker went down, reconnects with session \
         present: subscriber {sub_sessions:?} publisher {pub_sessions:?}, stalled: {stalled}",
        missing.len(),
        &missing[..missing.len().min(10)],
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)],
    );
    assert!(
        !stalled && missing.is_empty(),
        "messages lost: {summary}\n--- broker log ---\n{}",
        broker.log()
    );
    if qos == QoS::ExactlyOnce {
        // Mosquitto 2.0.11 sometimes sends PUBLISH (DUP 1) again after a restart for a message
        // whose PUBREL it had already sent, against [MQTT-4.3.3-6]. When the client had
        // answered that PUBREL, it must take the PUBLISH as a new message (5.0 [MQTT-4.3.3-12],
        // 3.1.1 [MQTT-4.3.3-2]): such a duplicate is the broker's. Any other one is ours. The
        // broker numbers its PUBLISHes to the subscriber 1, 2, 3, ..., so message n went as
        // packet identifier n + 1.
        let resent = publish_after_pubrel(&broker.log(), &client_id("stream-sub", level));
        let ours: Vec<usize> = duplicated
            .iter()
            .copied()
            .filter(|&n| seen[n] > 1 + resent.iter().filter(|&&id| id == n + 1).count() as u32)
            .collect();
        assert!(
            ours.is_empty(),
            "QoS 2 duplicates not caused by the broker: {ours:?}; {summary}"
        );
        if !duplicated.is_empty() {
            eprintln!(
                "{level}: {} QoS 2 duplicates, all from Mosquitto re-sending PUBLISH after \
                 PUBREL (packet ids {:?}..)",
                duplicated.len(),
                &resent[..resent.len().min(5)]
            );
        }
    }
    let results = within("publish results", publishing)
        .await
        .expect("publishing task");
    let failed: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| !matches!(r, Ok(a) if a.packet_id.is_some()))
        .take(10)
        .collect();
    assert!(failed.is_empty(), "publishes failed: {failed:?}; {summary}");
    // [MQTT-4.4.0-1] [MQTT-3.3.1-1] on the new connection the publisher first sends its
    // unacknowledged messages again, in order [MQTT-4.6.0-1]: PUBLISH with DUP 1 (QoS 2 past
    // PUBREC: PUBREL) before any new PUBLISH.
    let log = broker.log();
    let after_restart = &log[log.rfind("mosquitto version").unwrap_or(0)..];
    let pub_id = client_id("stream-pub", level);
    let first = after_restart.lines().find(|l| {
        l.contains(&format!("Received PUBLISH from {pub_id} "))
            || l.contains(&format!("Received PUBREL from {pub_id} "))
    });
    assert!(
        first.is_some_and(|l| l.contains(" (d1, ") || l.contains("PUBREL")),
        "first packet from the publisher after the restart: {first:?}; {summary}"
    );
    // The restart really cut the stream: the publisher still had work when it lost the broker,
    // and both clients found their sessions again.
    assert!(
        published_at_loss.is_some_and(|n| n < WHILE_DOWN_FROM),
        "the restart did not interrupt the publisher: {summary}"
    );
    assert!(
        !sub_sessions.is_empty() && sub_sessions.iter().all(|&p| p),
        "subscriber: {summary}"
    );
    assert!(
        !pub_sessions.is_empty() && pub_sessions.iter().all(|&p| p),
        "publisher: {summary}"
    );
    sub.close().await;
    publisher.close().await;
    eprintln!("{summary}; took {:?}", started.elapsed());
}

// ---- subscribe / unsubscribe -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suback_has_a_code_per_filter_and_unsubscribe_stops_delivery() {
    for level in LEVELS {
        let broker = start_broker();
        let mut me = Conn::connect("me", options(&broker, level, "sub-unsub")).await;
        let filters = ALL_QOS
            .iter()
            .map(|&q| {
                let filter = TopicFilter::new(format!("sub/q{}", q as u8)).expect("filter");
                (filter, SubscriptionOptions::new(q))
            })
            .collect();
        let suback = within(
            "SUBACK",
            me.client.subscribe_with(filters, Properties::new()),
        )
        .await
        .expect("subscribe");
        // One code per filter, in the order of the filters [MQTT-3.9.3-1].
        assert_eq!(
            suback.reason_codes,
            [
                ReasonCode::Success,
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS2
            ],
            "{level}"
        );
        // Delivery is at the minimum of the published and the granted QoS [MQTT-3.8.4-8].
        for q in ALL_QOS {
            let topic = format!("sub/q{}", q as u8);
            me.publish(msg(&topic, "both", QoS::ExactlyOnce)).await;
            let m = me.message().await;
            assert_eq!((m.topic(), m.qos_level()), (&*topic, q), "{level}");
        }

        let unsuback = within(
            "UNSUBACK",
            me.client.unsubscribe_with(
                vec![
                    TopicFilter::new("sub/q1").expect("filter"),
                    TopicFilter::new("sub/never").expect("filter"),
                ],
                Properties::new(),
            ),
        )
        .await
        .expect("unsubscribe");
        if level.is_v5() {
            // [MQTT-3.11.3-1] one code per filter, in order.
            assert_eq!(
                unsuback.reason_codes,
                [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            );
        } else {
            assert!(
                unsuback.reason_codes.is_empty(),
                "3.1.1 UNSUBACK has no payload"
            );
        }
        // [MQTT-3.10.4-2] nothing new is delivered for the removed filter; the other
        // subscriptions stay.
        me.publish(msg("sub/q1", "dropped", QoS::AtLeastOnce)).await;
        me.publish(msg("sub/q2", "kept", QoS::AtLeastOnce)).await;
        let m = me.message().await;
        assert_eq!(
            (m.topic(), m.payload_str()),
            ("sub/q2", Some("kept")),
            "{level}: delivered after UNSUBSCRIBE"
        );
        me.close().await;
    }
}

// ---- 5.0 properties ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_publish_properties_pass_through_mosquitto() {
    for level in LEVELS {
        let broker = start_broker();
        let mut sub = Conn::connect("sub", options(&broker, level, "props-sub")).await;
        let sub_id = NonZeroU32::new(42).expect("non-zero");
        let filter = TopicFilter::new("props/#").expect("filter");
        within(
            "SUBACK",
            sub.client.subscribe_with(
                vec![(filter, SubscriptionOptions::new(QoS::AtLeastOnce))],
                Properties::new().with(Property::SubscriptionIdentifier(sub_id)),
            ),
        )
        .await
        .expect("subscribe");

        let publisher = Conn::connect("pub", options(&broker, level, "props-pub")).await;
        let s = |v: &'static str| MqttString::from_static(v);
        let correlation = Bytes::from_static(&[0, 1, 2, 0xFF]);
        let message = msg("props/t", r#"{"n":1}"#, QoS::AtLeastOnce)
            .property(Property::UserProperty(s("k"), s("v1")))
            .property(Property::ContentType(s("application/json")))
            .property(Property::UserProperty(s("k"), s("v2")))
            .property(Property::ResponseTopic(s("props/reply")))
            .property(Property::CorrelationData(correlation.clone()))
            .property(Property::PayloadFormatIndicator(true))
            .property(Property::MessageExpiryInterval(300))
            .property(Property::UserProperty(s("other"), s("x")));
        publisher.publish(message).await;

        let m = sub.message().await;
        assert_eq!(m.payload_str(), Some(r#"{"n":1}"#));
        let p = m.props();
        if !level.is_v5() {
            // 3.1.1 has no properties: none are sent, none come back.
            assert!(p.is_empty(), "3.1.1 message with properties: {p:?}");
        } else {
            // [MQTT-3.3.2-17] [MQTT-3.3.2-18] all user properties, unaltered, in order, the
            // repeated key included.
            let users: Vec<_> = p
                .user_properties()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(users, [("k", "v1"), ("k", "v2"), ("other", "x")]);
            // [MQTT-3.3.2-20] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-4] unaltered.
            assert_eq!(
                p.content_type().map(|v| v.as_str()),
                Some("application/json")
            );
            assert_eq!(p.response_topic().map(|v| v.as_str()), Some("props/reply"));
            assert_eq!(p.correlation_data(), Some(&correlation));
            assert_eq!(p.payload_format_indicator(), Some(true));
            // [MQTT-3.3.2-6] the expiry minus the time the message waited in the broker.
            let expiry = p.message_expiry_interval().expect("message expiry");
            assert!((295..=300).contains(&expiry), "expiry {expiry}");
            // [MQTT-3.3.4-3] the subscription's identifier comes with the message.
            assert_eq!(p.subscription_identifiers().collect::<Vec<_>>(), [sub_id]);
            // Nothing else was added or lost.
            assert_eq!(p.len(), 9, "{p:?}");
        }
        sub.close().await;
        publisher.close().await;
    }
}

// ---- backpressure ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_gets_every_message_in_order() {
    const COUNT: usize = 5_000;
    for level in LEVELS {
        let started = Instant::now();
        let broker = blocking(|| Mosquitto::builder().debug_log(false).build());
        // A small message stream: once 8 messages wait, the event loop stops reading the
        // socket, stops acknowledging, and the broker keeps the rest queued.
        let (client, eventloop) =
            Client::new(options(&broker, level, &client_id("bp-sub", level)).event_capacity(8));
        let mut messages = eventloop.into_messages();
        let suback = within("SUBACK", client.subscribe("bp/t", QoS::AtLeastOnce))
            .await
            .expect("subscribe");
        assert_eq!(suback.reason_codes, [ReasonCode::GrantedQoS1]);

        let publisher = Conn::connect(
            "publisher",
            options(&broker, level, &client_id("bp-pub", level)).max_queued(COUNT),
        )
        .await;
        let mut tokens = Vec::with_capacity(COUNT);
        for n in 0..COUNT {
            let token = within(
                "room in the request queue",
                publisher
                    .client
                    .begin_publish(msg("bp/t", n.to_string(), QoS::AtLeastOnce)),
            )
            .await
            .expect("publisher running");
            tokens.push(token);
        }
        // The consumer has not read anything yet; the publisher completes regardless.
        for token in tokens {
            within("PUBACK", token).await.expect("publish");
        }

        // Now the consumer reads, slowly at first, and gets every message in order
        // [MQTT-4.6.0-6].
        for n in 0..COUNT {
            let m = within("next message", messages.recv())
                .await
                .unwrap_or_else(|| panic!("{level}: stream ended after {n} messages"));
            assert_eq!(m.payload_str(), Some(&*n.to_string()), "{level}");
            assert_eq!(m.qos_level(), QoS::AtLeastOnce);
            if n < 50 {
                // Simulated processing time.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        within("disconnect", client.disconnect())
            .await
            .expect("disconnect");
        assert!(
            within("end of stream", messages.recv()).await.is_none(),
            "{level}: message after the last one"
        );
        publisher.close().await;
        eprintln!(
            "backpressure {level}: {COUNT} messages in {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_many_hands_over_batches_in_order_within_the_stream_bound() {
    const COUNT: usize = 2_000;
    const CAPACITY: usize = 8;
    for level in LEVELS {
        let broker = start_broker();
        let (client, eventloop) = Client::new(
            options(&broker, level, &client_id("batch-sub", level)).event_capacity(CAPACITY),
        );
        let mut messages = eventloop.into_messages();
        within("SUBACK", client.subscribe("batch/t", QoS::AtLeastOnce))
            .await
            .expect("subscribe");
        let publisher = Conn::connect(
            "publisher",
            options(&broker, level, &client_id("batch-pub", level)).max_queued(COUNT),
        )
        .await;
        let mut tokens = Vec::with_capacity(COUNT);
        for n in 0..COUNT {
            let token = within(
                "room in the request queue",
                publisher
                    .client
                    .begin_publish(msg("batch/t", n.to_string(), QoS::AtLeastOnce)),
            )
            .await
            .expect("publisher running");
            tokens.push(token);
        }

        // Every message once, in order [MQTT-4.6.0-6]; no batch larger than the stream holds
        // or than asked for, and a slow consumer gets fuller batches than one message.
        let mut batch = Vec::new();
        let (mut next, mut batches, mut largest) = (0, 0, 0);
        while next < COUNT {
            batch.clear();
            let n = within("next batch", messages.recv_many(&mut batch, 64)).await;
            assert!(n > 0, "{level}: stream ended after {next} messages");
            assert_eq!(n, batch.len());
            assert!(
                n <= CAPACITY,
                "{level}: batch of {n} from a stream of {CAPACITY}"
            );
            for m in &batch {
                assert_eq!(m.payload_str(), Some(&*next.to_string()), "{level}");
                next += 1;
            }
            batches += 1;
            largest = largest.max(n);
            if batches % 50 == 0 {
                // Let the event loop fill the stream while "processing".
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        assert!(
            largest > 1,
            "{level}: never more than one message per batch"
        );
        for token in tokens {
            within("PUBACK", token).await.expect("publish");
        }
        within("disconnect", client.disconnect())
            .await
            .expect("disconnect");
        assert_eq!(
            within("end of stream", messages.recv_many(&mut batch, 64)).await,
            0,
            "{level}: message after the last one"
        );
        publisher.close().await;
    }
}

// ---- graceful disconnect -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_waits_for_inflight_publishes() {
    const COUNT: usize = 100;
    for level in LEVELS {
        let broker = start_broker();
        let count = COUNT.to_string();
        let sub = spawn_sub(
            &broker,
            &client_id("gd-cli-sub", level),
            &[
                "-V",
                cli_version(level),
                "-q",
                "1",
                "-t",
                "gd/t",
                "-C",
                &count,
            ],
        );
        let id = client_id("gd", level);
        let me = Conn::connect(&id, options(&broker, level, &id)).await;
        let mut tokens = Vec::with_capacity(COUNT);
        for n in 0..COUNT {
            let token = within(
                "begin_publish",
                me.client
                    .begin_publish(msg("gd/t", n.to_string(), QoS::AtLeastOnce)),
            )
            .await
            .expect("event loop running");
            tokens.push(token);
        }
        // disconnect() returns once the loop has closed, and it closes only after every
        // message in flight has been acknowledged: all tokens are already resolved.
        me.close().await;
        for (n, token) in tokens.into_iter().enumerate() {
            // Polled once, outside Tokio's cooperative budget (which would make a ready
            // one-shot report Pending after a hundred polls in one go).
            let result = tokio::task::unconstrained(token)
                .now_or_never()
                .unwrap_or_else(|| panic!("{level}: publish {n} pending after disconnect"));
            let ack = result.unwrap_or_else(|e| panic!("{level}: publish {n}: {e}"));
            assert!(ack.packet_id.is_some());
        }
        let disconnected =
            blocking(|| broker.wait_for_log(&format!("Received DISCONNECT from {id}"), WAIT));
        assert!(disconnected, "{level}: no DISCONNECT:\n{}", broker.log());
        let expected: Vec<String> = (0..COUNT).map(|n| n.to_string()).collect();
        assert_eq!(sub_lines(sub), expected, "{level}");
    }
}

// ---- helpers -----------------------------------------------------------------------------------

/// One client with its event loop spawned; every event is forwarded to `events`, the loop's
/// final error last.
struct Conn {
    name: String,
    client: Client,
    events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    task: JoinHandle<()>,
}

impl Conn {
    /// Spawns the event loop (connecting starts at once).
    fn start(name: &str, opts: ConnectOptions) -> Conn {
        let (client, mut eventloop) = Client::new(opts);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await;
                let end = event.is_err();
                let _ = tx.send(event);
                if end {
                    return;
                }
            }
        });
        Conn {
            name: name.to_owned(),
            client,
            events,
            task,
        }
    }

    /// Spawns the event loop and waits until it is connected.
    async fn connect(name: &str, opts: ConnectOptions) -> Conn {
        let mut conn = Conn::start(name, opts);
        conn.connected().await;
        conn
    }

    async fn event(&mut self) -> Event {
        let what = format!("an event on {}", self.name);
        match within(&what, self.events.recv()).await {
            Some(Ok(e)) => e,
            Some(Err(e)) => panic!("{}: the event loop stopped: {e}", self.name),
            None => panic!("{}: the event loop task is gone", self.name),
        }
    }

    /// The next CONNACK; a failed attempt is an error.
    async fn connected(&mut self) -> ConnAck {
        loop {
            match self.event().await {
                Event::Connected(ack) => return ack,
                Event::ConnectionLost { error, .. } => {
                    panic!("{}: connection failed: {error}", self.name)
                }
                _ => {}
            }
        }
    }

    /// The next incoming message; a lost connection is an error.
    async fn message(&mut self) -> Message {
        loop {
            match self.event().await {
                Event::Message(m) => return m,
                Event::ConnectionLost { error, .. } => {
                    panic!("{}: connection lost: {error}", self.name)
                }
                _ => {}
            }
        }
    }

    async fn subscribe(&self, filter: &str, qos: QoS) -> SubAck {
        let what = format!("SUBACK for {} on {filter}", self.name);
        within(&what, self.client.subscribe(filter, qos))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    async fn publish(&self, message: Message) -> PublishAck {
        let what = format!("{} publishing to {}", self.name, message.topic());
        within(&what, self.client.publish(message))
            .await
            .unwrap_or_else(|e: PublishError| panic!("{what}: {e}"))
    }

    /// Graceful disconnect; the event loop must end with `Closed`.
    async fn close(self) {
        self.close_with(Disconnect::default()).await;
    }

    async fn close_with(mut self, packet: Disconnect) {
        let what = format!("{} disconnecting", self.name);
        within(&what, self.client.disconnect_with(packet))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        loop {
            match within(&what, self.events.recv()).await {
                Some(Ok(_)) => {}
                Some(Err(ConnectionError::Closed)) => break,
                Some(Err(e)) => panic!("{what}: the event loop ended with {e}"),
                None => panic!("{what}: the event loop task is gone"),
            }
        }
        within(&what, self.task).await.expect("event loop task");
    }

    /// Abrupt loss: the event loop task is aborted, which drops the `EventLoop` and with it
    /// the TCP stream; the socket is closed without DISCONNECT.
    async fn kill(self) {
        self.task.abort();
        let what = format!("{} to be aborted", self.name);
        let joined = within(&what, self.task).await;
        assert!(
            joined.is_err_and(|e| e.is_cancelled()),
            "{}: the event loop had already ended",
            self.name
        );
    }
}

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Runs a blocking harness call without stalling the runtime's other tasks.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

fn start_broker() -> Mosquitto {
    blocking(Mosquitto::start)
}

fn client_id(name: &str, level: ProtocolLevel) -> String {
    format!("{name}-{}", level.level_byte())
}

fn cli_version(level: ProtocolLevel) -> &'static str {
    if level.is_v5() {
        "mqttv5"
    } else {
        "mqttv311"
    }
}

/// Options for the broker at `level`, without reconnection (a lost connection is a failure).
fn options(broker: &Mosquitto, level: ProtocolLevel, id: &str) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", broker.port())
        .protocol(level)
        .client_id(id)
        .reconnect(ReconnectOptions::disabled())
}

fn msg(topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Message {
    Message::new(topic, payload).expect("valid topic").qos(qos)
}

/// Spawns `mosquitto_sub` and waits until the broker has sent it its SUBACK, so nothing
/// published afterwards can be missed.
fn spawn_sub(broker: &Mosquitto, id: &str, args: &[&str]) -> Child {
    let mut all = vec!["-i", id, "-W", SUB_TIMEOUT_SECS];
    all.extend_from_slice(args);
    let child = broker.mosquitto_sub_spawn(&all);
    let subscribed = blocking(|| broker.wait_for_log(&format!("Sending SUBACK to {id}"), WAIT));
    assert!(
        subscribed,
        "mosquitto_sub {id} did not subscribe:\n{}",
        broker.log()
    );
    child
}

/// The packet identifiers of QoS 2 PUBLISH packets the broker sent `client` again after it
/// had sent their PUBREL (and before their PUBCOMP), read from the broker's packet log.
fn publish_after_pubrel(log: &str, client: &str) -> Vec<usize> {
    let id_after = |line: &str, prefix: &str| -> Option<usize> {
        let rest = &line[line.find(prefix)? + prefix.len()..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..digits].parse().ok()
    };
    let pubrel = format!("Sending PUBREL to {client} (m");
    let pubcomp = format!("Received PUBCOMP from {client} (Mid: ");
    let publish = format!("Sending PUBLISH to {client} (d1, q2, ");
    let mut released = std::collections::HashSet::new();
    let mut resent = Vec::new();
    for line in log.lines() {
        if let Some(id) = id_after(line, &pubrel) {
            released.insert(id);
        } else if let Some(id) = id_after(line, &pubcomp) {
            released.remove(&id);
        } else if line.contains(&publish) {
            if let Some(id) = id_after(line, ", m") {
                if released.remove(&id) {
                    resent.push(id);
                }
            }
        }
    }
    resent
}

/// Waits for a `mosquitto_sub` started with `-C n` to exit; its output lines.
fn sub_lines(child: Child) -> Vec<String> {
    let out = blocking(|| child.wait_with_output()).expect("wait for mosquitto_sub");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mosquitto_sub failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}
