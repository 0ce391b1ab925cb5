//! A persistent session: connect with a fixed client id, Clean Start off and a Session Expiry
//! Interval; subscribe; go away; messages published meanwhile are kept by the broker and
//! delivered on reconnect, without subscribing again.
//!
//! ```text
//! cargo run --example persistent_session     # MQTT_URL overrides mqtt://127.0.0.1:1883
//! ```

use std::time::Duration;

use pigeon_mqtt::packet::{Disconnect, Property, ReasonCode};
use pigeon_mqtt::{CallbackClient, Client, ConnectOptions, Message, ProtocolLevel, QoS};

const CLIENT_ID: &str = "pigeon-persistent-session-example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let base = ConnectOptions::from_url(&url)?;
    // The Session Expiry Interval is MQTT 5: keep the session 5 minutes after a disconnect.
    let session = base
        .clone()
        .protocol(ProtocolLevel::V5)
        .client_id(CLIENT_ID)
        .session_expiry(300);

    // 1. Start a fresh session (discarding one left by an earlier run), subscribe, go away.
    let (client, eventloop) = Client::new(session.clone().clean_start(true));
    let driver = tokio::spawn(eventloop.run());
    client
        .subscribe("pigeon/persistent/#", QoS::AtLeastOnce)
        .await?;
    client.disconnect().await?;
    driver.await??;
    println!("Subscribed, then disconnected; the broker keeps the session");

    // 2. Meanwhile, someone else publishes.
    let (publisher, eventloop) = Client::new(base);
    let driver = tokio::spawn(eventloop.run());
    for n in 1..=3 {
        let msg = Message::new(format!("pigeon/persistent/{n}"), format!("message {n}"))?;
        publisher.publish(msg.qos(QoS::AtLeastOnce)).await?;
    }
    publisher.disconnect().await?;
    driver.await??;
    println!("Published 3 messages while the subscriber was away");

    // 3. Come back with Clean Start off: the session, its subscription and the queued messages
    //    are still there.
    let mut subscriber = CallbackClient::with_userdata(session.clean_start(false), 0_usize);
    subscriber.on_connect(|_client, _received, ack| {
        println!("Reconnected: session present {}", ack.session_present);
    });
    subscriber.on_message(|client, received, msg| {
        println!(
            "Received while away: {} {}",
            msg.topic(),
            String::from_utf8_lossy(msg.payload())
        );
        *received += 1;
        if *received == 3 {
            // Done: end the session now rather than in 5 minutes (Session Expiry Interval 0 in
            // DISCONNECT). An awaiting call inside a callback goes on a task of its own.
            let client = client.clone();
            let mut end = Disconnect::new(ReasonCode::Success);
            end.properties.push(Property::SessionExpiryInterval(0));
            tokio::spawn(async move { client.disconnect_with(end).await });
        }
    });
    let done = tokio::time::timeout(Duration::from_secs(10), subscriber.loop_forever()).await;
    done.map_err(|_| "the queued messages did not all arrive within 10 s")??;
    println!("Session ended");
    Ok(())
}
