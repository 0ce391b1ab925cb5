//! Last Will and Testament: the broker publishes the will when a client goes away without
//! DISCONNECT (crash, lost network, killed task).
//!
//! An observer subscribes to `pigeon/will/status`; a second connection sets a will ("offline")
//! and says "online"; then its task is aborted, which drops the socket without DISCONNECT, and
//! the observer receives the will.
//!
//! ```text
//! cargo run --example will           # MQTT_URL overrides mqtt://127.0.0.1:1883
//! ```

use std::time::Duration;

use futures::StreamExt;
use pigeon_mqtt::packet::Will;
use pigeon_mqtt::topic::TopicName;
use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};

const STATUS: &str = "pigeon/will/status";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let opts = ConnectOptions::from_url(&url)?;

    let (observer, eventloop) = Client::new(opts.clone());
    let mut statuses = eventloop.into_messages();
    observer.subscribe(STATUS, QoS::AtLeastOnce).await?;

    // paho's will_set(topic, payload, qos): part of the connect options.
    let will = Will::new(TopicName::new(STATUS)?, "offline", QoS::AtLeastOnce);
    let (device, eventloop) = Client::new(opts.will(will));
    let device_task = tokio::spawn(eventloop.run());
    device
        .publish(Message::new(STATUS, "online")?.qos(QoS::AtLeastOnce))
        .await?;

    // Simulate a crash: the event loop (and with it the socket) goes away without DISCONNECT.
    device_task.abort();
    println!("Device connection dropped without DISCONNECT");

    for _ in 0..2 {
        let msg = tokio::time::timeout(Duration::from_secs(10), statuses.next())
            .await?
            .ok_or("the observer's connection closed")?;
        println!("{} {}", msg.topic(), String::from_utf8_lossy(msg.payload()));
    }

    observer.disconnect().await?;
    Ok(())
}
