//! The blocking facade: no async, no Tokio in this program. `BlockingClient` runs its own event
//! loop on a background thread.
//!
//! Subscribes to `pigeon/blocking/#`, publishes three messages (waiting on each token), reads
//! them back from the blocking iterator, and disconnects.
//!
//! ```text
//! cargo run --example blocking       # MQTT_URL overrides mqtt://127.0.0.1:1883
//! ```

use pigeon_mqtt::blocking::BlockingClient;
use pigeon_mqtt::{ConnectOptions, Message, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let client = BlockingClient::connect(ConnectOptions::from_url(&url)?)?;
    println!("Connected");

    let suback = client.subscribe("pigeon/blocking/#", QoS::AtLeastOnce)?;
    println!("Subscribed: {:?}", suback.reason_codes);

    for n in 1..=3 {
        let msg = Message::new(format!("pigeon/blocking/{n}"), format!("message {n}"))?;
        let token = client.publish(msg.qos(QoS::AtLeastOnce))?;
        // Blocks until the PUBACK; `wait_timeout` gives up after a while instead.
        let ack = token.wait()?;
        println!("Published {n}: {}", ack.reason_code);
    }

    // Blocks for each next message; `recv_timeout` waits a bounded time instead.
    for msg in client.messages().take(3) {
        println!(
            "Received {} {}",
            msg.topic(),
            String::from_utf8_lossy(msg.payload())
        );
    }

    client.disconnect()?;
    println!("Disconnected");
    Ok(())
}
