//! Failover against a real NATS cluster (3 nodes, MQTT and clustered JetStream on loopback).
//!
//! NATS speaks MQTT 3.1.1 with QoS 0 and 1 and keeps sessions and QoS 1 messages in replicated
//! JetStream streams, so a client that loses its node can resume its session on another one.
//! The proof: a publisher given all three nodes streams numbered QoS 1 messages while the node
//! it is connected to is stopped, several times; a subscriber with a persistent session (also
//! given all three nodes, so it fails over too when its node is the one stopped) must receive
//! every number, and every publish future must resolve Ok.
//!
//! A message the subscriber's old node had taken from JetStream but not written out when it went
//! away reaches the subscriber when NATS sends it again, `ack_wait` after it first sent it (the
//! harness sets 5 s; NATS 2.9 does not send unacknowledged messages at once to a resumed session
//! as [MQTT-4.4.0-1] asks). The final wait for the subscriber is longer than that.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pigeon_mqtt::{
    Client, ConnectOptions, Event, EventLoop, Message, ProtocolLevel, PublishAck, PublishError,
    QoS, ReconnectOptions,
};
use support::{Nats, NatsCluster};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

const TOPIC: &str = "pigeon/failover";
/// How many times the publisher's node goes away (SIGTERM: the node closes its connections and
/// hands its JetStream leaderships over). Every other time the node is first frozen (SIGSTOP)
/// until publishes are waiting for their PUBACK, so the client certainly has unacknowledged
/// messages to send again on the next node.
const FAILOVERS: usize = 4;
/// The clients' window of unacknowledged QoS 1 messages (the default).
const IN_FLIGHT_WINDOW: u16 = 20;
/// Publishes handed over but not acknowledged when a frozen node is stopped: more than the
/// in-flight window, so a full window was written to the node that goes away.
const IN_FLIGHT_AT_FREEZE: u64 = 2 * IN_FLIGHT_WINDOW as u64;
/// A steady stream, not a flood: BURST messages every BURST_EVERY (250 a second), in bursts so
/// that several are in flight when a node goes away.
const BURST: u64 = 10;
const BURST_EVERY: Duration = Duration::from_millis(40);
/// Acknowledged messages before the first failover, between failovers and after the last.
const PROGRESS: u64 = 400;
/// Generous bounds for conditions that normally hold within a few seconds.
const WAIT: Duration = Duration::from_secs(20);
// A message NATS sends again after ack_wait still arrives within the final wait.
const _: () = assert!(WAIT.as_secs() > 2 * support::nats::ACK_WAIT.as_secs());

#[tokio::test]
async fn single_node_qos1_round_trip_at_3_1_1() {
    let nats = tokio::task::spawn_blocking(Nats::start).await.unwrap();
    let opts = ConnectOptions::from_url(&nats.url())
        .unwrap()
        .protocol(ProtocolLevel::V3_1_1)
        .client_id("nats-single");
    let (client, eventloop) = Client::new(opts);
    let mut messages = eventloop.into_messages();

    let suback = client
        .subscribe("single/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(suback.reason_codes.len(), 1);
    let ack = client
        .publish(
            Message::new("single/t", "over NATS")
                .unwrap()
                .qos(QoS::AtLeastOnce),
        )
        .await
        .unwrap();
    assert!(ack.packet_id.is_some(), "a QoS 1 publish has a packet id");

    let m = tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("no message within 20 s")
        .expect("message stream ended");
    assert_eq!(m.topic(), "single/t");
    assert_eq!(m.payload_str(), Some("over NATS"));
    assert_eq!(m.qos_level(), QoS::AtLeastOnce);
    assert!(nats.is_connected("nats-single"), "log:\n{}", nats.log());
    client.disconnect().await.unwrap();
}

/// What a client's event loop saw, shared with the test thread.
#[derive(Default)]
struct Seen {
    connects: AtomicU64,
    session_present: AtomicU64,
    /// Numbers received (subscriber).
    numbers: Mutex<BTreeSet<u64>>,
    received: AtomicU64,
}

impl Seen {
    fn missing(&self, upto: u64) -> Vec<u64> {
        let numbers = self.numbers.lock().unwrap();
        (0..upto).filter(|n| !numbers.contains(n)).collect()
    }
}

fn options(id: &str, urls: &[String]) -> ConnectOptions {
    ConnectOptions::from_url(&urls[0])
        .unwrap()
        .servers(urls)
        .unwrap()
        .protocol(ProtocolLevel::V3_1_1)
        .client_id(id)
        .clean_start(false)
        .keep_alive(Duration::from_secs(5))
        .max_inflight(IN_FLIGHT_WINDOW)
        .connect_timeout(Duration::from_secs(5))
        .reconnect(
            ReconnectOptions::default().backoff(Duration::from_millis(50), Duration::from_secs(1)),
        )
}

/// Polls the event loop until it ends, recording connections and messages.
async fn drive(mut eventloop: EventLoop, seen: Arc<Seen>, start: Instant, who: &'static str) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Connected(connack)) => {
                seen.connects.fetch_add(1, Ordering::SeqCst);
                if connack.session_present {
                    seen.session_present.fetch_add(1, Ordering::SeqCst);
                }
                note(
                    start,
                    format!(
                        "{who}: connected, session present {}",
                        connack.session_present
                    ),
                );
            }
            Ok(Event::ConnectionLost {
                error,
                was_connected,
                ..
            }) => {
                note(
                    start,
                    format!("{who}: connection lost (was connected {was_connected}): {error}"),
                );
            }
            Ok(Event::Message(m)) => {
                seen.received.fetch_add(1, Ordering::SeqCst);
                let n: u64 = m
                    .payload_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("{who}: unexpected payload {:?}", m.payload()));
                seen.numbers.lock().unwrap().insert(n);
            }
            Ok(_) => {}
            Err(e) => {
                note(start, format!("{who}: event loop ended: {e}"));
                return;
            }
        }
    }
}

/// The test's timeline on stderr (shown when the test fails, or with `--nocapture`).
fn note(start: Instant, what: String) {
    eprintln!("{:>7.3}s {what}", start.elapsed().as_secs_f64());
}

/// Polls `cond` until it holds; panics with `context()` after `timeout`.
fn wait_until(
    what: &str,
    timeout: Duration,
    cond: impl Fn() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                context()
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The numbered QoS 1 stream: bursts of BURST messages every BURST_EVERY until told to stop.
/// Each publish future is awaited on its own task and its result sent to `results`.
struct Publisher {
    stop: Arc<AtomicBool>,
    /// Handed to the client (`begin_publish` returned).
    sent: Arc<AtomicU64>,
    /// Futures resolved Ok.
    acked: Arc<AtomicU64>,
    /// Futures resolved (Ok or not).
    resolved: Arc<AtomicU64>,
    results: mpsc::UnboundedReceiver<(u64, Result<PublishAck, PublishError>)>,
    done: oneshot::Receiver<u64>,
}

impl Publisher {
    fn spawn(rt: &Runtime, client: Client) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let acked = Arc::new(AtomicU64::new(0));
        let resolved = Arc::new(AtomicU64::new(0));
        let (results_tx, results) = mpsc::unbounded_channel();
        let (done_tx, done) = oneshot::channel();
        let (stop2, sent2, acked2, resolved2) =
            (stop.clone(), sent.clone(), acked.clone(), resolved.clone());
        rt.spawn(async move {
            let mut tick = tokio::time::interval(BURST_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0u64;
            while !stop2.load(Ordering::SeqCst) {
                tick.tick().await;
                for _ in 0..BURST {
                    let message = Message::new(TOPIC, n.to_string())
                        .unwrap()
                        .qos(QoS::AtLeastOnce);
                    let token = client.begin_publish(message).await.unwrap();
                    sent2.fetch_add(1, Ordering::SeqCst);
                    let (results, acked, resolved) =
                        (results_tx.clone(), acked2.clone(), resolved2.clone());
                    tokio::spawn(async move {
                        let result = token.await;
                        if result.is_ok() {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        resolved.fetch_add(1, Ordering::SeqCst);
                        let _ = results.send((n, result));
                    });
                    n += 1;
                }
            }
            let _ = done_tx.send(n);
        });
        Publisher {
            stop,
            sent,
            acked,
            resolved,
            results,
            done,
        }
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Handed to the client but not resolved yet.
    fn in_flight(&self) -> u64 {
        // `resolved` first: it can only be behind `sent` read after it.
        let resolved = self.resolved.load(Ordering::SeqCst);
        self.sent.load(Ordering::SeqCst) - resolved
    }

    /// Stops the stream; returns how many were sent and the failed ones, once every future
    /// has resolved (panics with `context()` if some do not within WAIT).
    fn finish(self, rt: &Runtime, context: impl Fn() -> String) -> (u64, Vec<(u64, PublishError)>) {
        self.stop.store(true, Ordering::SeqCst);
        let Publisher {
            mut results, done, ..
        } = self;
        let sent = rt.block_on(done).unwrap();
        let mut failed = Vec::new();
        let mut resolved = 0;
        rt.block_on(async {
            while resolved < sent {
                match tokio::time::timeout(WAIT, results.recv()).await {
                    Ok(Some((n, result))) => {
                        resolved += 1;
                        if let Err(e) = result {
                            failed.push((n, e));
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        });
        assert_eq!(
            resolved,
            sent,
            "only {resolved} of {sent} publish futures resolved\n{}",
            context()
        );
        (sent, failed)
    }
}

#[test]
fn publisher_fails_over_between_three_nats_nodes_without_losing_a_message() {
    let start = Instant::now();
    let mut cluster = NatsCluster::start(3);
    let cluster_up = start.elapsed();
    let urls = cluster.mqtt_urls();
    let rt = Runtime::new().unwrap();

    // The subscriber: persistent session, QoS 1. It lists the nodes from the last one, so it
    // starts on another node than the publisher, and fails over itself when its node stops.
    let sub_seen = Arc::new(Seen::default());
    let sub_urls: Vec<String> = [2, 0, 1].iter().map(|&i| urls[i].clone()).collect();
    let (subscriber, sub_loop) = Client::new(options("cluster-sub", &sub_urls));
    let sub_task = rt.spawn(drive(sub_loop, sub_seen.clone(), start, "sub"));
    rt.block_on(async {
        tokio::time::timeout(WAIT, subscriber.subscribe(TOPIC, QoS::AtLeastOnce))
            .await
            .expect("no SUBACK within 20 s")
            .expect("subscribe failed")
    });

    let pub_seen = Arc::new(Seen::default());
    let (publisher, pub_loop) = Client::new(options("cluster-pub", &urls));
    let pub_task = rt.spawn(drive(pub_loop, pub_seen.clone(), start, "pub"));
    let stream = Publisher::spawn(&rt, publisher.clone());

    // The client events are on stderr (see `note`); the failure message adds the servers' view.
    let report = |cluster: &NatsCluster, stream_acked: u64| {
        format!(
            "acked {stream_acked}, received {} ({} distinct)\n{}",
            sub_seen.received.load(Ordering::SeqCst),
            sub_seen.numbers.lock().unwrap().len(),
            cluster.logs_tail()
        )
    };

    let mut recoveries = Vec::new();
    let mut in_flight_at_stop = Vec::new();
    for round in 0..FAILOVERS {
        let target = stream.acked() + PROGRESS;
        wait_until(
            &format!("{PROGRESS} more acknowledged publishes before failover {round}"),
            WAIT,
            || stream.acked() >= target,
            || report(&cluster, stream.acked()),
        );
        let node = cluster
            .wait_node_of("cluster-pub", WAIT, |_| true)
            .unwrap_or_else(|| {
                panic!("publisher on no node\n{}", report(&cluster, stream.acked()))
            });
        let connects = pub_seen.connects.load(Ordering::SeqCst);
        let freeze = round % 2 == 1;
        let stopped_at = Instant::now();
        if freeze {
            cluster.freeze(node);
            wait_until(
                "publishes waiting for PUBACK from the frozen node",
                WAIT,
                || stream.in_flight() >= IN_FLIGHT_AT_FREEZE,
                || report(&cluster, stream.acked()),
            );
        }
        in_flight_at_stop.push(stream.in_flight());
        cluster.stop(node);
        note(
            start,
            format!(
                "test: stopped {}{} with {} publishes in flight",
                cluster.name(node),
                if freeze { " (frozen first)" } else { "" },
                in_flight_at_stop[round]
            ),
        );

        // The publisher moves to a live node, resumes its session and its publishes
        // complete again.
        wait_until(
            "the publisher to reconnect",
            WAIT,
            || pub_seen.connects.load(Ordering::SeqCst) > connects,
            || report(&cluster, stream.acked()),
        );
        let moved_to = cluster
            .wait_node_of("cluster-pub", WAIT, |i| i != node)
            .unwrap_or_else(|| {
                panic!(
                    "publisher on no live node\n{}",
                    report(&cluster, stream.acked())
                )
            });
        let target = stream.acked() + BURST * 5;
        wait_until(
            "publishes to complete after the failover",
            WAIT,
            || stream.acked() >= target,
            || report(&cluster, stream.acked()),
        );
        recoveries.push(stopped_at.elapsed());
        note(
            start,
            format!(
                "test: publishing again on {} {:?} after the stop; restarting {}",
                cluster.name(moved_to),
                stopped_at.elapsed(),
                cluster.name(node)
            ),
        );
        // Back to three nodes before the next stop, so JetStream keeps its majority.
        cluster.start_again(node);
        note(start, format!("test: {} healthy again", cluster.name(node)));
    }
    let target = stream.acked() + PROGRESS;
    wait_until(
        "acknowledged publishes after the last failover",
        WAIT,
        || stream.acked() >= target,
        || report(&cluster, stream.acked()),
    );

    // Every publish future resolves Ok.
    let (sent, failed) = stream.finish(&rt, || report(&cluster, 0));
    assert!(
        failed.is_empty(),
        "{} publishes failed, first: {:?}\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        report(&cluster, sent)
    );

    // Every number arrives (QoS 1: duplicates allowed, none missing).
    wait_until(
        "the subscriber to receive every message",
        WAIT,
        || sub_seen.missing(sent).is_empty(),
        || {
            let missing = sub_seen.missing(sent);
            format!(
                "{} of {sent} missing, first {:?}\n{}",
                missing.len(),
                &missing[..missing.len().min(20)],
                report(&cluster, sent)
            )
        },
    );

    // Each client connected once, then once per failover it went through (its node stopped),
    // and every reconnect resumed the session.
    let pub_connects = pub_seen.connects.load(Ordering::SeqCst);
    let sub_connects = sub_seen.connects.load(Ordering::SeqCst);
    let received = sub_seen.received.load(Ordering::SeqCst);
    eprintln!(
        "NATS cluster failover: cluster up in {cluster_up:.1?}; {FAILOVERS} failovers \
         (every other one frozen first), publishes in flight at each stop {in_flight_at_stop:?}, publishing \
         again after {recoveries:.2?}; {sent} messages, {received} received ({} duplicates); \
         publisher connected {pub_connects} times ({} with session present), subscriber \
         {sub_connects} times ({} with session present); total {:.1?}",
        received - sent,
        pub_seen.session_present.load(Ordering::SeqCst),
        sub_seen.session_present.load(Ordering::SeqCst),
        start.elapsed()
    );
    assert_eq!(
        pub_connects,
        FAILOVERS as u64 + 1,
        "the publisher connects once per failover (no reconnect loop)\n{}",
        report(&cluster, sent)
    );
    for (who, seen, connects) in [
        ("publisher", &pub_seen, pub_connects),
        ("subscriber", &sub_seen, sub_connects),
    ] {
        assert_eq!(
            seen.session_present.load(Ordering::SeqCst),
            connects - 1,
            "every reconnect of the {who} resumes its session\n{}",
            report(&cluster, sent)
        );
    }

    rt.block_on(async {
        publisher.disconnect().await.unwrap();
        subscriber.disconnect().await.unwrap();
        pub_task.await.unwrap();
        sub_task.await.unwrap();
    });
}
