//! The first thing a paho-mqtt user writes: connect, subscribe in "on connect", print messages.
//!
//! ```text
//! cargo run --example subscribe                      # broker at mqtt://127.0.0.1:1883
//! MQTT_URL=mqtt://127.0.0.1:18830 cargo run --example subscribe
//! mosquitto_pub -h localhost -t /mq/pub -m '{"data":111}'
//! ```

use pigeon_mqtt::{Client, ConnectOptions, Event, QoS};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let (client, mut eventloop) = Client::new(ConnectOptions::from_url(&url)?);
    loop {
        match eventloop.poll().await? {
            Event::Connected(ack) => {
                println!("Connected with result code {}", ack.reason_code);
                // Subscribing on every (re)connect, as paho scripts do in on_connect.
                let client = client.clone();
                tokio::spawn(async move { client.subscribe("/mq/pub", QoS::AtMostOnce).await });
            }
            Event::Message(msg) => {
                println!("{} {}", msg.topic(), String::from_utf8_lossy(msg.payload()));
            }
            Event::ConnectionLost { error, .. } => eprintln!("connection lost: {error}"),
            _ => {}
        }
    }
}
