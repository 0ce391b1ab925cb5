//! The async stream style: the event loop runs on its own task and incoming messages arrive as
//! a [`futures::Stream`]. The same engine as the callbacks, without callbacks.
//!
//! Subscribes to `pigeon/stream/#`, publishes three readings to it, reads them back from the
//! stream, and disconnects, which ends the stream.
//!
//! ```text
//! cargo run --example stream         # MQTT_URL overrides mqtt://127.0.0.1:1883
//! ```

use std::time::Duration;

use futures::StreamExt;
use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let (client, eventloop) = Client::new(ConnectOptions::from_url(&url)?);
    // Bounded: when this program reads slowly, the event loop stops reading the socket.
    let mut messages = eventloop.into_messages();

    let suback = client
        .subscribe("pigeon/stream/#", QoS::AtLeastOnce)
        .await?;
    println!("Subscribed: {:?}", suback.reason_codes);
    for room in ["kitchen", "hall", "attic"] {
        let reading = Message::new(format!("pigeon/stream/{room}"), "21.5")?;
        client.publish(reading.qos(QoS::AtLeastOnce)).await?;
    }

    // Any stream combinator works: here, the first three messages, each awaited at most 10 s.
    let mut first_three = messages.by_ref().take(3);
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(10), first_three.next()).await? {
        println!("{} {}", msg.topic(), String::from_utf8_lossy(msg.payload()));
    }

    client.disconnect().await?;
    // After the disconnect the stream ends.
    while messages.next().await.is_some() {}
    println!("Stream ended");
    Ok(())
}
