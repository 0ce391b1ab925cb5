//! MQTT over WebSockets (`ws://`, `wss://`) against Mosquitto websockets listeners.
#![cfg(feature = "websocket")]

mod support;
#[path = "support/transport.rs"]
mod transport;

use pigeon_mqtt::{ConnectOptions, ConnectionError, Event, Message, ProtocolLevel, QoS};
use support::Mosquitto;
use transport::{connect, connect_error, disconnect, exchange, round_trip, STEP};

#[tokio::test]
async fn ws_round_trip_at_qos1_on_both_levels() {
    let broker = Mosquitto::builder().websockets().build();
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let opts = ConnectOptions::from_url(&broker.ws_url())
            .unwrap()
            .protocol(level)
            .ws_header("X-Pigeon-Test", "1");
        round_trip(opts, "ws/t", b"over WebSockets".to_vec()).await;
    }
}

#[tokio::test]
async fn ws_large_and_many_messages() {
    let broker = Mosquitto::builder().websockets().build();
    let url = format!("ws://127.0.0.1:{}/", broker.ws_port());
    let (client, mut eventloop) = connect(ConnectOptions::from_url(&url).unwrap())
        .await
        .unwrap();
    // A 1 MB packet to the broker. Nobody subscribes: Mosquitto sends large WebSocket messages
    // a few KB per service round (eclipse-mosquitto/mosquitto#1390), too slowly for a test.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let c = client.clone();
    let mut publish = tokio::spawn(async move {
        c.publish(
            Message::new("ws/nobody", big)
                .unwrap()
                .qos(QoS::AtLeastOnce),
        )
        .await
    });
    let ack = loop {
        tokio::select! {
            done = &mut publish => break done.unwrap().unwrap(),
            event = tokio::time::timeout(STEP, eventloop.poll()) => {
                event.expect("no PUBACK in time").expect("connection ended");
            }
        }
    };
    assert!(ack.packet_id.is_some());
    assert!(broker.wait_for_log("'ws/nobody', ... (1000000 bytes)", STEP));
    // Packets both ways, large enough to span frames on the way back, and many small ones.
    exchange(&client, &mut eventloop, "ws/medium", vec![3; 20_000]).await;
    for i in 0..50u32 {
        exchange(
            &client,
            &mut eventloop,
            "ws/small",
            i.to_be_bytes().to_vec(),
        )
        .await;
    }
    disconnect(client, eventloop).await;
}

#[tokio::test]
async fn ws_and_tcp_clients_share_the_broker() {
    let broker = Mosquitto::builder().websockets().build();
    let (client, mut eventloop) = connect(ConnectOptions::from_url(&broker.ws_url()).unwrap())
        .await
        .unwrap();
    let c = client.clone();
    let subscribed =
        tokio::spawn(async move { c.subscribe("mixed/#", QoS::AtLeastOnce).await.unwrap() });
    loop {
        match tokio::time::timeout(STEP, eventloop.poll()).await.unwrap() {
            Ok(Event::Subscribed(_)) => break,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    subscribed.await.unwrap();
    broker.mosquitto_pub(&["-t", "mixed/tcp", "-m", "from tcp", "-q", "1"]);
    loop {
        match tokio::time::timeout(STEP, eventloop.poll()).await.unwrap() {
            Ok(Event::Message(m)) => {
                assert_eq!(m.payload_str(), Some("from tcp"));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    disconnect(client, eventloop).await;
}

#[tokio::test]
async fn ws_to_a_plain_mqtt_listener_is_a_websocket_error() {
    let broker = Mosquitto::start();
    let url = format!("ws://127.0.0.1:{}/mqtt", broker.port());
    let err = connect_error(ConnectOptions::from_url(&url).unwrap()).await;
    assert!(
        matches!(&err, ConnectionError::WebSocket { message, .. } if message.contains("upgrade")),
        "{err:?}"
    );
}

#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
#[tokio::test]
async fn wss_round_trip_with_a_private_ca() {
    use pigeon_mqtt::TlsOptions;
    use transport::{closed_port, Pki, Validity};

    let pki = Pki::new();
    let server = pki.server(&["localhost", "127.0.0.1"], Validity::Now);
    let port = closed_port();
    // A websockets listener with TLS (the harness's own ws listener is plain).
    let broker = Mosquitto::builder()
        .extra_config(&format!(
            "listener {port} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n\
             cafile {}\ncertfile {}\nkeyfile {}\n",
            pki.ca_file.display(),
            server.cert.display(),
            server.key.display()
        ))
        .build();
    wait_for_port(port).await;
    let _ = &broker;
    let url = format!("wss://127.0.0.1:{port}/mqtt?client_id=wss-1");
    let tls = || TlsOptions::new().ca_file(&pki.ca_file);
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        let opts = ConnectOptions::from_url(&url)
            .unwrap()
            .protocol(level)
            .tls(tls());
        round_trip(opts, "wss/t", vec![7; 10_000]).await;
    }
    // Certificate checks apply to wss:// as to mqtts://.
    let err = connect_error(
        ConnectOptions::from_url(&format!("wss://localhost:{port}/mqtt"))
            .unwrap()
            .tls(TlsOptions::new().ca_pem(Pki::named("another CA").ca_pem)),
    )
    .await;
    assert!(
        matches!(&err, ConnectionError::Tls { message, .. } if message.contains("UnknownIssuer")),
        "{err:?}"
    );
}

#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
async fn wait_for_port(port: u16) {
    let deadline = tokio::time::Instant::now() + STEP;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "port {port} never opened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
