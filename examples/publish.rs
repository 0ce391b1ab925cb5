//! Publish one message at each QoS and wait until each is complete: written to the socket
//! (QoS 0), acknowledged with PUBACK (QoS 1) or with PUBCOMP (QoS 2). Then disconnect.
//!
//! ```text
//! cargo run --example publish        # MQTT_URL overrides mqtt://127.0.0.1:1883
//! mosquitto_sub -h localhost -t /mq/pub -v   # in another terminal, to watch
//! ```

use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let (client, eventloop) = Client::new(ConnectOptions::from_url(&url)?);
    let driver = tokio::spawn(eventloop.run());

    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("{{\"data\":111,\"qos\":{}}}", qos as u8);
        let ack = client
            .publish(Message::new("/mq/pub", payload)?.qos(qos))
            .await?;
        let done = match qos {
            QoS::AtMostOnce => "written",
            QoS::AtLeastOnce => "PUBACK",
            QoS::ExactlyOnce => "PUBCOMP",
        };
        let id = ack.packet_id.map(|id| format!(", packet id {id}"));
        println!(
            "QoS {} complete: {done}{}",
            qos as u8,
            id.unwrap_or_default()
        );
    }

    client.disconnect().await?;
    driver.await??;
    println!("Disconnected");
    Ok(())
}
