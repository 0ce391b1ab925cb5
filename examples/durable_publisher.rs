//! A sensor loop whose readings survive `kill -9`: each reading is on disk (a
//! [`FileStore`](pigeon_mqtt::store::FileStore)) before the loop goes on, so a reading taken
//! before a crash is sent by the next run, which reports it as
//! [`Event::RestoredPublished`](pigeon_mqtt::Event::RestoredPublished). The broker may be away:
//! readings wait on disk until it is back.
//!
//! ```text
//! cargo run --features file-store --example durable_publisher
//! # kill it with kill -9 halfway through, run it again: it goes on, nothing is lost
//! READINGS=100 DURABLE_STORE=/tmp/sensor.db MQTT_URL=mqtt://127.0.0.1:1883 cargo run ...
//! ```

use std::time::Duration;

use pigeon_mqtt::store::FileStore;
use pigeon_mqtt::{Client, ConnectOptions, Event, Message, QoS, ReconnectOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let path = std::env::var("DURABLE_STORE").unwrap_or_else(|_| "durable_publisher.db".into());
    let readings: u64 = std::env::var("READINGS").map_or(Ok(5), |n| n.parse())?;

    let opts = ConnectOptions::from_url(&url)?
        .client_id("pigeon-durable-publisher-example")
        .clean_start(false)
        .session_expiry(3600)
        // Store and forward: start even when the broker is unreachable.
        .reconnect(ReconnectOptions::default().retry_first_connect(true));
    let (client, mut eventloop) = Client::with_store(opts, Box::new(FileStore::open(&path)?))?;
    let first = eventloop.next_message_id();
    println!("Store {path}: the next reading is message {first}");
    let driver = tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::RestoredPublished { id, result } = event {
                match result {
                    Ok(_) => println!("Message {id} of an earlier run delivered"),
                    Err(e) => println!("Message {id} of an earlier run failed: {e}"),
                }
            }
        }
    });

    let mut tokens = Vec::new();
    // Readings are numbered by message id, which goes on across runs.
    for n in first..first + readings {
        let celsius = 20.0 + (n % 50) as f64 / 10.0;
        let reading = format!("{{\"reading\":{n},\"celsius\":{celsius:.1}}}");
        let queued = client
            .enqueue(Message::new("pigeon/sensor/7", reading)?.qos(QoS::AtLeastOnce))
            .await?;
        println!("Reading {} on disk", queued.id);
        tokens.push(queued.token);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for token in tokens {
        token.await?;
    }
    println!("All readings acknowledged");
    client.disconnect().await?;
    driver.await?;
    Ok(())
}
