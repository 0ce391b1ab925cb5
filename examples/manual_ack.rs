//! Manual acknowledgements: a worker acknowledges each job only after processing it, so a
//! worker that dies mid-job gets the job again from the broker (with a persistent session).
//!
//! ```text
//! cargo run --example manual_ack     # MQTT_URL overrides mqtt://127.0.0.1:1883
//! ```

use std::time::Duration;

use futures::StreamExt;
use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};

const JOBS: usize = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let base = ConnectOptions::from_url(&url)?;

    // The worker: a fixed client id and a persistent session, so unacknowledged jobs wait for
    // it at the broker; PUBACK only when the worker says so.
    let worker_opts = base
        .clone()
        .client_id("pigeon-manual-ack-example")
        .clean_start(true)
        .session_expiry(300)
        .manual_acks(true);
    let (worker, mut eventloop) = Client::new(worker_opts);
    eventloop.connect().await?;
    let mut jobs = eventloop.into_messages();
    worker.subscribe("pigeon/jobs/#", QoS::AtLeastOnce).await?;

    // Someone hands out jobs.
    let (boss, eventloop) = Client::new(base);
    let boss_loop = tokio::spawn(eventloop.run());
    for n in 1..=JOBS {
        let job = Message::new(format!("pigeon/jobs/{n}"), format!("job {n}"))?;
        boss.publish(job.qos(QoS::AtLeastOnce)).await?;
    }
    boss.disconnect().await?;
    boss_loop.await??;

    for _ in 0..JOBS {
        let job = tokio::time::timeout(Duration::from_secs(10), jobs.next())
            .await?
            .ok_or("the connection ended")?;
        println!("Processing {}", String::from_utf8_lossy(job.payload()));
        // ... the work; if the process dies here, the broker sends the job again ...
        worker.ack(&job).await?;
        println!("Acknowledged {}", String::from_utf8_lossy(job.payload()));
    }
    worker.disconnect().await?;
    println!("All jobs done");
    Ok(())
}
