//! paho-mqtt's first script, in Rust: subscribe in `on_connect`, print every message.
//!
//! ```text
//! cargo run --example subscribe                      # broker at mqtt://127.0.0.1:1883
//! MQTT_URL=mqtt://127.0.0.1:18830 cargo run --example subscribe
//! mosquitto_pub -h localhost -t /mq/pub -m '{"data":111}'
//! ```
//!
//! Prints `Connected with result code Success`, then `/mq/pub {"data":111}` for that message.
//! Runs until killed, like paho's `loop_forever()`; it reconnects (and so subscribes again) when
//! the broker goes away and comes back.

use pigeon_mqtt::{CallbackClient, ConnectOptions, QoS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());

    let mut mqttc = CallbackClient::new(ConnectOptions::from_url(&url)?);
    mqttc.on_connect(|client, _userdata, ack| {
        println!("Connected with result code {}", ack.reason_code);
        // Sent as soon as this callback returns; the SUBACK goes to `on_subscribe`.
        let _ = client.try_subscribe("/mq/pub", QoS::AtMostOnce);
    });
    mqttc.on_message(|_client, _userdata, msg| {
        println!("{} {}", msg.topic(), String::from_utf8_lossy(msg.payload()));
    });
    mqttc.on_connect_fail(|_client, _userdata, error| {
        eprintln!("Connect failed: {error}; retrying");
    });
    mqttc.loop_forever().await?;
    Ok(())
}
