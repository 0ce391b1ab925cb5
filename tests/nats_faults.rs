//! A real broker that speaks only MQTT 3.1.1 with QoS 0 and 1: NATS 2.9 (`nats-server`, started
//! by `tests/support/nats.rs`). It answers a 5.0 CONNECT with the 3.1.1 CONNACK "unacceptable
//! protocol version" and closes the connection when it receives a QoS 2 PUBLISH. The client must
//! find its way to 3.1.1 by itself, and must not resend a QoS 2 message forever.

mod support;

use std::time::{Duration, Instant};

use pigeon_mqtt::packet::ReasonCode;
use pigeon_mqtt::{
    Client, ConnectOptions, ConnectionError, Event, EventLoop, Message, ProtocolLevel,
    PublishError, QoS, ReconnectOptions,
};
use support::Nats;

const STEP: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_client_falls_back_to_3_1_1_against_nats() {
    let nats = Nats::start();
    // No level chosen: 5.0 is asked for, NATS refuses it, the client says so and uses 3.1.1.
    let (client, mut eventloop) = Client::new(
        ConnectOptions::from_url(&nats.url())
            .unwrap()
            .client_id("fallback"),
    );
    let mut fell_back = None;
    let ack = tokio::time::timeout(STEP, async {
        loop {
            match eventloop.poll().await.expect("the loop runs") {
                Event::ProtocolFallback { from, to, error } => fell_back = Some((from, to, error)),
                Event::Connected(ack) => return ack,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("connected");
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let (from, to, error) = fell_back.expect("a ProtocolFallback event");
    assert_eq!((from, to), (ProtocolLevel::V5, ProtocolLevel::V3_1_1));
    assert!(
        matches!(
            error,
            ConnectionError::Refused {
                reason_code: ReasonCode::UnsupportedProtocolVersion,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(eventloop.protocol_level(), ProtocolLevel::V3_1_1);
    let run = tokio::spawn(eventloop.run());
    client
        .publish(
            Message::new("fallback/t", "x")
                .unwrap()
                .qos(QoS::AtLeastOnce),
        )
        .await
        .expect("QoS 1 at 3.1.1");
    client.disconnect().await.unwrap();
    run.await.unwrap().unwrap();

    // 5.0 chosen explicitly: no fallback, and the refusal says what it is.
    let (_client, mut eventloop) = Client::new(
        ConnectOptions::from_url(&nats.url())
            .unwrap()
            .protocol(ProtocolLevel::V5),
    );
    let err = tokio::time::timeout(STEP, eventloop.connect())
        .await
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
}

/// NATS 2.9 closes the connection on a QoS 2 PUBLISH. With reconnection on, the message fails
/// after three closures with an error naming the likely cause; a QoS 1 message queued behind it
/// then completes, and later QoS 2 publishes are refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_closing_on_qos2_fails_the_publish_after_bounded_attempts() {
    let nats = Nats::start();
    let opts = ConnectOptions::from_url(&nats.url())
        .unwrap()
        .protocol(ProtocolLevel::V3_1_1)
        .client_id("nats-q2")
        .reconnect(
            ReconnectOptions::default().backoff(Duration::from_millis(100), Duration::from_secs(1)),
        );
    let (client, mut eventloop) = Client::new(opts);
    tokio::time::timeout(STEP, eventloop.connect())
        .await
        .unwrap()
        .expect("connected");
    let counter = tokio::spawn(count_connections(eventloop));
    let started = Instant::now();
    let q2 = client
        .begin_publish(Message::new("nats/q2", "x").unwrap().qos(QoS::ExactlyOnce))
        .await
        .unwrap();
    let q1 = client
        .begin_publish(Message::new("nats/q1", "y").unwrap().qos(QoS::AtLeastOnce))
        .await
        .unwrap();
    match tokio::time::timeout(STEP, q2)
        .await
        .expect("not resent forever")
    {
        Err(e @ PublishError::ServerClosesConnection { attempts: 3, .. }) => {
            assert!(e.to_string().contains("does not support QoS 2"), "{e}");
        }
        other => panic!("expected ServerClosesConnection, got {other:?}"),
    }
    tokio::time::timeout(STEP, q1)
        .await
        .unwrap()
        .expect("the QoS 1 message completes");
    let took = started.elapsed();
    let late = client
        .publish(
            Message::new("nats/q2", "late")
                .unwrap()
                .qos(QoS::ExactlyOnce),
        )
        .await;
    assert!(
        matches!(
            late,
            Err(PublishError::Rejected {
                reason_code: ReasonCode::QoSNotSupported,
                ..
            })
        ),
        "{late:?}"
    );
    client.disconnect().await.unwrap();
    let connections = counter.await.unwrap();
    eprintln!("NATS QoS 2: gave up after {took:?}, {connections} connections");
    // Three connections closed on the QoS 2 PUBLISH, and the one that carries on.
    assert_eq!(connections, 4, "connections");
}

/// Counts the connections after the first one until the loop ends.
async fn count_connections(mut eventloop: EventLoop) -> usize {
    let mut n = 1;
    while let Ok(e) = eventloop.poll().await {
        if let Event::Connected(_) = e {
            n += 1;
        }
    }
    n
}
