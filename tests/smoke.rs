mod support;

use std::time::Duration;

use pigeon_mqtt::{Client, ConnectOptions, Event, Message, ProtocolLevel, QoS};
use support::Mosquitto;

#[tokio::test]
async fn publish_and_receive_each_qos_at_both_levels() {
    let broker = Mosquitto::start();
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let opts = ConnectOptions::new("127.0.0.1", broker.port())
            .protocol(level)
            .client_id(format!("smoke-{level}"));
        let (client, mut eventloop) = Client::new(opts);
        let c = client.clone();
        let task = tokio::spawn(async move {
            c.subscribe("smoke/#", QoS::ExactlyOnce).await.unwrap();
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let ack = c
                    .publish(
                        Message::new("smoke/t", format!("{qos:?}"))
                            .unwrap()
                            .qos(qos),
                    )
                    .await
                    .unwrap();
                if qos != QoS::AtMostOnce {
                    assert!(ack.packet_id.is_some());
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
                Ok(Ok(Event::Message(m))) => {
                    got.push((m.qos_level(), m.payload_str().unwrap().to_owned()))
                }
                Ok(Ok(_)) => {}
                other => panic!("{level}: {other:?}"),
            }
        }
        // The publisher's QoS 2 future resolves on PUBCOMP, which the loop must still read.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !task.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "{level}: publisher did not finish"
            );
            match tokio::time::timeout(Duration::from_millis(50), eventloop.poll()).await {
                Ok(Ok(Event::Message(m))) => panic!("{level}: unexpected {m:?}"),
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => panic!("{level}: {e}"),
            }
        }
        task.await.unwrap();
        assert_eq!(
            got,
            vec![
                (QoS::AtMostOnce, "AtMostOnce".to_owned()),
                (QoS::AtLeastOnce, "AtLeastOnce".to_owned()),
                (QoS::ExactlyOnce, "ExactlyOnce".to_owned())
            ]
        );
        let d = tokio::spawn(async move { client.disconnect().await });
        loop {
            match eventloop.poll().await {
                Ok(_) => {}
                Err(pigeon_mqtt::ConnectionError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        d.await.unwrap().unwrap();
    }
}

/// After the event loop has ended, requests fail at once with `Closed` instead of waiting.
#[tokio::test]
async fn requests_after_the_loop_ended_fail_fast() {
    let broker = Mosquitto::start();
    let opts = ConnectOptions::new("127.0.0.1", broker.port()).client_id("after-end");
    let (client, mut eventloop) = Client::new(opts);
    let c = client.clone();
    let d = tokio::spawn(async move { c.disconnect().await });
    loop {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(_)) => {}
            Ok(Err(pigeon_mqtt::ConnectionError::Closed)) => break,
            other => panic!("{other:?}"),
        }
    }
    d.await.unwrap().unwrap();
    // The loop is still owned (not dropped) but no longer polled.
    let m = Message::new("t", "x").unwrap().qos(QoS::AtLeastOnce);
    let r = tokio::time::timeout(Duration::from_secs(2), client.publish(m)).await;
    assert_eq!(r, Ok(Err(pigeon_mqtt::PublishError::Closed)));
    let s = tokio::time::timeout(
        Duration::from_secs(2),
        client.subscribe("t", QoS::AtMostOnce),
    )
    .await;
    assert!(matches!(s, Ok(Err(_))), "{s:?}");
    drop(eventloop);
}
