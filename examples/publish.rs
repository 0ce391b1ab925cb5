//! Publish one message at each QoS and wait for each to complete (written, PUBACK, PUBCOMP).
//!
//! ```text
//! cargo run --example publish
//! ```

use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let (client, eventloop) = Client::new(ConnectOptions::from_url(&url)?);
    let driver = tokio::spawn(eventloop.run());
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let msg = Message::new("/mq/pub", format!("{{\"qos\":{}}}", qos as u8))?.qos(qos);
        let ack = client.publish(msg).await?;
        println!(
            "{qos:?} done: packet id {:?}, reason {}",
            ack.packet_id, ack.reason_code
        );
    }
    client.disconnect().await?;
    driver.await??;
    Ok(())
}
