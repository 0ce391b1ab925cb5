//! A broker whose session state holds QoS 2 packet identifiers the client no longer knows, built
//! with exact bytes against a real Mosquitto, and the client's recovery.
//!
//! An earlier process with the same client id sent 20 QoS 2 PUBLISH packets, got their PUBREC
//! and died before sending PUBREL. With a persistent session Mosquitto keeps those 20
//! identifiers awaiting PUBREL, and they fill its Receive Maximum (20, from
//! `max_inflight_messages`). The same state arises when a broker killed mid-stream restores an
//! old snapshot. A new client resuming that session must not be wedged:
//!
//! - at 5.0 Mosquitto refuses every new QoS 2 message with PUBREC 0x97 (Quota exceeded). The
//!   client detects the stale session and starts a fresh one (stale-session recovery): every
//!   publish completes and every message arrives;
//! - at 3.1.1 there is no such refusal: Mosquitto acknowledges the first message beyond its
//!   quota and drops it (a PUBREL for an identifier it does not hold then frees a slot). The
//!   client cannot see that; it is not wedged, and the loss is bounded by the stale entries.
//!
//! A third test kills Mosquitto (persistence, `autosave_interval 1`) with SIGKILL during a QoS 2
//! stream and restarts it, the realistic version of the same state.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::StreamExt;
use pigeon_mqtt::codec;
use pigeon_mqtt::packet::{
    Connect, MqttString, Packet, PacketId, Property, ProtocolLevel, Publish, QoS, QosPid,
};
use pigeon_mqtt::topic::TopicName;
use pigeon_mqtt::{Client, ConnectOptions, Event, Message, ReconnectOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::Mosquitto;

/// How long the publisher may take, from its first publish to its last completion.
const BOUND: Duration = Duration::from_secs(30);
const MESSAGES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_qos2_identifiers_do_not_wedge_a_v5_publisher() {
    let broker = Mosquitto::start();
    let id = "stale-v5";
    orphan_qos2_messages(&broker, ProtocolLevel::V5, id, 20).await;
    let report = publish_numbered(&broker, ProtocolLevel::V5, id, MESSAGES).await;
    eprintln!("5.0 stale session: {report:?}");
    assert_eq!(report.completed, MESSAGES, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    // A fresh session discards the stale entries: every new message arrives, none twice.
    assert_eq!(report.received, MESSAGES, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
    // One connection for the stale session, one for the fresh one; recovered within seconds.
    assert!(report.connections <= 3, "{report:?}");
    assert!(report.took < Duration::from_secs(10), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_qos2_identifiers_do_not_wedge_a_v3_1_1_publisher() {
    let broker = Mosquitto::start();
    let id = "stale-v311";
    orphan_qos2_messages(&broker, ProtocolLevel::V3_1_1, id, 20).await;
    let report = publish_numbered(&broker, ProtocolLevel::V3_1_1, id, MESSAGES).await;
    eprintln!("3.1.1 stale session: {report:?}");
    // Not wedged: every future resolves, on one connection.
    assert_eq!(report.completed, MESSAGES, "{report:?}");
    assert_eq!(report.connections, 1, "{report:?}");
    // Mosquitto drops what exceeds its quota although it acknowledged it (3.1.1 has no way to
    // refuse): at most one message per stale entry.
    assert!(report.received >= MESSAGES - 20, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
}

/// The realistic case: Mosquitto with persistence and `autosave_interval 1`, killed with SIGKILL
/// three times during a QoS 2 stream and restarted, restores snapshots in which identifiers the
/// client completed may still await PUBREL. Within a bounded time after each restart new
/// publishes complete; no publish is left pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_mid_stream_does_not_wedge_a_qos2_publisher() {
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let mut broker = Mosquitto::builder()
            .persistence(true)
            .debug_log(false)
            .extra_config("autosave_interval 1\nautosave_on_changes false\n")
            .build();
        let id = format!("killed-{level}");
        let topic = format!("killed/{level}");
        let (sub, sub_loop) = Client::new(publisher_options(&broker, level, &format!("{id}-sub")));
        let messages = sub_loop.into_messages();
        sub.subscribe(topic.as_str(), QoS::ExactlyOnce)
            .await
            .unwrap();
        // The subscriber reads all along (a stream that is not read holds its event loop back).
        let collector = tokio::spawn(collect_numbers(messages));
        // Let a snapshot hold the subscriber's session before the first crash.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (client, eventloop) = Client::new(publisher_options(&broker, level, &id));
        let events = tokio::spawn(record_events(eventloop));
        let total = 4000;
        let publisher = {
            let client = client.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                let mut tokens = Vec::with_capacity(total);
                for n in 0..total {
                    let m = Message::new(topic.as_str(), format!("{n}")).unwrap();
                    tokens.push(client.begin_publish(m.qos(QoS::ExactlyOnce)).await.unwrap());
                    if n % 100 == 99 {
                        // About 1,000 messages a second: the stream spans the three kills.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                futures::future::join_all(tokens).await
            })
        };
        let mut restarts = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            tokio::task::block_in_place(|| {
                broker.kill();
                broker.start_again();
            });
            restarts.push(Instant::now());
        }
        let results = tokio::time::timeout(Duration::from_secs(60), publisher)
            .await
            .expect("the publisher is not wedged")
            .unwrap();
        let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        // A marker: once it arrives, everything before it has been forwarded.
        client
            .publish(
                Message::new(topic.as_str(), "end")
                    .unwrap()
                    .qos(QoS::ExactlyOnce),
            )
            .await
            .unwrap();
        let (seen, duplicates) = tokio::time::timeout(Duration::from_secs(20), collector)
            .await
            .expect("the marker arrives")
            .unwrap();
        client.disconnect().await.ok();
        sub.disconnect().await.ok();
        let log = events.await.unwrap();
        let connections = log.iter().filter(|(_, connected)| *connected).count();
        // Time to recover: from each restart to the first completion after it.
        let recover: Vec<Duration> = restarts
            .iter()
            .filter_map(|r| {
                log.iter()
                    .find(|(t, connected)| t >= r && !connected)
                    .map(|(t, _)| *t - *r)
            })
            .collect();
        eprintln!(
            "{level} SIGKILL x3: {} of {total} publishes completed, {} failed {:?}; received {} \
             ({} lost, {duplicates} duplicates); {connections} connections; recovery after each \
             restart {recover:?}",
            total - failed.len(),
            failed.len(),
            failed.first(),
            seen.len(),
            total - seen.len(),
        );
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(recover.len(), 3, "a completion after every restart");
        for r in &recover {
            assert!(*r < Duration::from_secs(10), "{recover:?}");
        }
    }
}

/// Reads numbered messages until the marker `end`; returns the numbers seen and how many
/// arrived more than once.
async fn collect_numbers(mut messages: pigeon_mqtt::Messages) -> (BTreeSet<usize>, usize) {
    let (mut seen, mut duplicates) = (BTreeSet::new(), 0);
    while let Some(m) = messages.next().await {
        let body = String::from_utf8_lossy(m.payload()).into_owned();
        if body == "end" {
            break;
        }
        if let Ok(n) = body.parse::<usize>() {
            if !seen.insert(n) {
                duplicates += 1;
            }
        }
    }
    (seen, duplicates)
}

/// Records `(when, connected)` for each `Connected` (true) and each completed publish (false)
/// until the loop ends.
async fn record_events(mut eventloop: pigeon_mqtt::EventLoop) -> Vec<(Instant, bool)> {
    let mut log = Vec::new();
    while let Ok(e) = eventloop.poll().await {
        match e {
            Event::Connected(_) => log.push((Instant::now(), true)),
            Event::Published(Ok(_)) => log.push((Instant::now(), false)),
            _ => {}
        }
    }
    log
}

/// What a publisher run saw.
#[derive(Debug)]
struct Report {
    completed: usize,
    failed: usize,
    received: usize,
    duplicates: usize,
    connections: usize,
    /// From the first publish to the last completion.
    took: Duration,
}

fn publisher_options(broker: &Mosquitto, level: ProtocolLevel, id: &str) -> ConnectOptions {
    ConnectOptions::from_url(&broker.url())
        .unwrap()
        .protocol(level)
        .client_id(id)
        .clean_start(false)
        .session_expiry(3600)
        .reconnect(
            ReconnectOptions::default()
                .backoff(Duration::from_millis(50), Duration::from_millis(500)),
        )
}

/// Counts `Connected` events until the loop ends.
async fn count_connections(mut eventloop: pigeon_mqtt::EventLoop) -> usize {
    let mut n = 0;
    while let Ok(e) = eventloop.poll().await {
        if let Event::Connected(_) = e {
            n += 1;
        }
    }
    n
}

/// Publishes `count` numbered QoS 2 messages with client id `id`, resuming its session, while a
/// separate subscriber counts what arrives.
async fn publish_numbered(
    broker: &Mosquitto,
    level: ProtocolLevel,
    id: &str,
    count: usize,
) -> Report {
    let topic = format!("stale/{id}");
    let (sub, sub_loop) = Client::new(
        ConnectOptions::from_url(&broker.url())
            .unwrap()
            .protocol(level)
            .client_id(format!("{id}-sub")),
    );
    let mut messages = sub_loop.into_messages();
    sub.subscribe(topic.as_str(), QoS::ExactlyOnce)
        .await
        .unwrap();

    let (client, eventloop) = Client::new(publisher_options(broker, level, id));
    let events = tokio::spawn(count_connections(eventloop));
    let started = Instant::now();
    let mut tokens = Vec::new();
    for n in 0..count {
        let m = Message::new(topic.as_str(), format!("{n}")).unwrap();
        tokens.push(client.begin_publish(m.qos(QoS::ExactlyOnce)).await.unwrap());
    }
    let results = tokio::time::timeout(BOUND, futures::future::join_all(tokens))
        .await
        .unwrap_or_else(|_| panic!("{level}: publishes still pending after {BOUND:?}"));
    let took = started.elapsed();
    let completed = results.iter().filter(|r| r.is_ok()).count();
    let failed = results.len() - completed;

    // A marker after the stream: once it arrives, everything before it has been forwarded.
    client
        .publish(
            Message::new(topic.as_str(), "end")
                .unwrap()
                .qos(QoS::ExactlyOnce),
        )
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut duplicates = 0;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the marker arrives")
            .expect("the subscriber runs");
        let body = String::from_utf8_lossy(m.payload()).into_owned();
        if body == "end" {
            break;
        }
        if let Ok(n) = body.parse::<usize>() {
            if !seen.insert(n) {
                duplicates += 1;
            }
        }
    }
    client.disconnect().await.ok();
    sub.disconnect().await.ok();
    let connections = events.await.unwrap();
    Report {
        completed,
        failed,
        received: seen.len(),
        duplicates,
        connections,
        took,
    }
}

/// Plays the earlier process with exact bytes: CONNECT with a persistent session, `count` QoS 2
/// PUBLISH packets (identifiers 1..=count), their PUBREC read, and the socket dropped without
/// PUBREL or DISCONNECT.
async fn orphan_qos2_messages(broker: &Mosquitto, level: ProtocolLevel, id: &str, count: u16) {
    let mut s = TcpStream::connect(broker.addr()).await.unwrap();
    let mut connect = Connect::new(level, MqttString::try_from(id).unwrap());
    connect.keep_alive = 60;
    if level.is_v5() {
        connect.clean_start = true;
        connect
            .properties
            .push(Property::SessionExpiryInterval(3600));
    } else {
        connect.clean_start = false;
    }
    let mut out = BytesMut::new();
    codec::encode(
        &Packet::Connect(Box::new(connect)),
        level,
        codec::MAX_PACKET_SIZE,
        &mut out,
    )
    .unwrap();
    for n in 1..=count {
        let mut p = Publish::new(
            TopicName::new("stale/orphan").unwrap(),
            format!("orphan {n}"),
        );
        p.qos = QosPid::ExactlyOnce(PacketId::new(n).unwrap());
        codec::encode(&Packet::Publish(p), level, codec::MAX_PACKET_SIZE, &mut out).unwrap();
    }
    s.write_all(&out).await.unwrap();
    // CONNACK, then one PUBREC per PUBLISH.
    let mut buf = BytesMut::new();
    let mut pubrecs = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pubrecs < count {
        assert!(Instant::now() < deadline, "only {pubrecs} PUBREC received");
        while let codec::Decoded::Packet(p) =
            codec::decode(&mut buf, level, codec::MAX_PACKET_SIZE).unwrap()
        {
            if let Packet::PubRec(_) = p {
                pubrecs += 1;
            }
        }
        if pubrecs < count {
            let n = tokio::time::timeout(Duration::from_secs(10), s.read_buf(&mut buf))
                .await
                .expect("the broker answers")
                .unwrap();
            assert!(n > 0, "the broker closed the connection");
        }
    }
    drop(s);
    // Mosquitto has processed the close when a new connection with this id is accepted; give
    // it a moment so the session is stored as disconnected.
    tokio::time::sleep(Duration::from_millis(100)).await;
}
