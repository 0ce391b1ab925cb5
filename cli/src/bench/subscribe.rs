//! `pigeon bench sub`: subscribers that count messages and measure their latency from the
//! timestamp `bench pub` puts in the payload.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pigeon_mqtt::{Client, Event, EventLoop, QoS};
use tokio::time::Instant;

use crate::args::BenchSubArgs;
use crate::error::CliError;

use super::fleet::{count_loss, launch, shutdown, Plan, Progress};
use super::limits::FdBudget;
use super::payload;
use super::stats::{Counters, MessageStats, Report};
use super::{base_report, wait_connected, wait_for, Baseline, Interrupt, Waited};

/// Connects and subscribes, counts messages until `--limit`, `--duration` or Ctrl-C, reports.
pub async fn run(args: BenchSubArgs, budget: FdBudget) -> Result<Report, CliError> {
    let common = &args.common;
    if !(args.duration >= 0.0 && args.duration.is_finite()) {
        return Err(CliError::Usage(
            "--duration must be 0 or more seconds".to_owned(),
        ));
    }
    let plan = Arc::new(Plan::new(common, "sub")?);
    let sample = args
        .topic
        .replace("%i", "0")
        .replace("%c", &plan.client_id(0));
    pigeon_mqtt::topic::TopicFilter::new(sample.as_str())
        .map_err(|e| CliError::Usage(format!("-t {:?}: {e}", args.topic)))?;
    let mut interrupt = Interrupt::listen();
    let progress = Progress::new();
    let counters = Arc::new(Counters::new());
    let baseline = Baseline::take(common)?;

    let job_counters = counters.clone();
    let job_plan = plan.clone();
    let topic = args.topic.clone();
    let qos = args.qos;
    let launcher = tokio::spawn(launch(
        plan.clone(),
        counters.clone(),
        move |i, client, el| {
            let filter = topic
                .replace("%i", &i.to_string())
                .replace("%c", &job_plan.client_id(i));
            subscriber(client, el, filter, qos, job_counters.clone())
        },
    ));
    let mut waited = wait_connected(&progress, &mut interrupt, &counters, plan.count).await;
    let clients = launcher.await.unwrap_or_default();
    let (memory, broker_memory) = baseline.now();
    let made = Counters::get(&counters.connected);
    if waited == Waited::Done {
        waited = wait_for(
            &progress,
            &mut interrupt,
            None,
            || {
                Counters::get(&counters.subscribed) + Counters::get(&counters.subscribe_failed)
                    >= made
            },
            || {
                format!(
                    "{made} connected, {} subscribed",
                    Counters::get(&counters.subscribed)
                )
            },
        )
        .await;
    }
    progress.say(&format!(
        "{made} connected, {} failed; {} subscribed, {} refused",
        Counters::get(&counters.failed),
        Counters::get(&counters.subscribed),
        Counters::get(&counters.subscribe_failed)
    ));
    if waited == Waited::Done {
        let deadline =
            (args.duration > 0.0).then(|| Instant::now() + Duration::from_secs_f64(args.duration));
        wait_for(
            &progress,
            &mut interrupt,
            deadline,
            || args.limit > 0 && Counters::get(&counters.received) >= args.limit,
            || format!("received {}", Counters::get(&counters.received)),
        )
        .await;
    }
    progress.show(format!("closing {} connections", clients.len()));
    shutdown(clients, &counters, Duration::from_secs(10)).await;
    progress.finish();
    let mut report = base_report("sub", budget, plan.count, &counters);
    report.memory = memory;
    report.broker_memory = broker_memory;
    report.messages = Some(MessageStats {
        sent: 0,
        acked: 0,
        failed: 0,
        subscribed: Counters::get(&counters.subscribed),
        subscribe_failed: Counters::get(&counters.subscribe_failed),
        received: Counters::get(&counters.received),
        elapsed: counters.message_span(),
    });
    report.latency = counters.latency.percentiles();
    Ok(report)
}

/// Subscribes (in a task, while this one runs the event loop) and counts what arrives.
async fn subscriber(
    client: Client,
    mut eventloop: Box<EventLoop>,
    filter: String,
    qos: QoS,
    counters: Arc<Counters>,
) {
    let c = counters.clone();
    tokio::spawn(async move {
        match client.subscribe(filter.as_str(), qos).await {
            Ok(ack) if ack.reason_codes.iter().all(|r| !r.is_error()) => {
                c.subscribed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(ack) => {
                c.subscribe_failed.fetch_add(1, Ordering::Relaxed);
                let codes: Vec<String> = ack.reason_codes.iter().map(|r| r.to_string()).collect();
                c.error(format!(
                    "subscribe {filter}: refused ({})",
                    codes.join(", ")
                ));
            }
            Err(e) => {
                c.subscribe_failed.fetch_add(1, Ordering::Relaxed);
                c.error(format!("subscribe {filter}: {e}"));
            }
        }
    });
    loop {
        match eventloop.poll().await {
            Ok(Event::Message(m)) => {
                let now = Instant::now();
                counters.received.fetch_add(1, Ordering::Relaxed);
                counters
                    .received_bytes
                    .fetch_add(m.payload().len() as u64, Ordering::Relaxed);
                counters.message_at(now.into_std());
                if let Some(age) = payload::age(m.payload(), SystemTime::now()) {
                    counters.latency.record(age);
                }
            }
            Ok(other) => count_loss(&counters, &other),
            Err(_) => return,
        }
    }
}
