//! `pigeon bench pub`: publishers sending at an interval; reports throughput and the latency
//! until each message is done at its QoS (written, PUBACK, PUBCOMP).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pigeon_mqtt::{Client, EventLoop, Message, QoS};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};

use crate::args::BenchPubArgs;
use crate::error::CliError;

use super::fleet::{drive, launch, shutdown, Plan, Progress};
use super::limits::FdBudget;
use super::payload;
use super::stats::{Counters, MessageStats, Report};
use super::{base_report, wait_connected, wait_for, Baseline, Interrupt, Waited};

/// What each publisher does.
#[derive(Debug)]
struct Publishing {
    topic: String,
    interval: Option<Duration>,
    size: usize,
    qos: QoS,
    retain: bool,
    limit: u64,
    inflight: u16,
}

/// Connects the publishers, lets them publish until `--limit`, `--duration` or Ctrl-C, and
/// reports.
pub async fn run(args: BenchPubArgs, budget: FdBudget) -> Result<Report, CliError> {
    let common = &args.common;
    let interval = match args.msg_interval_ms {
        ms if ms > 0.0 && ms.is_finite() => Some(Duration::from_secs_f64(ms / 1000.0)),
        0.0 => None,
        _ => {
            return Err(CliError::Usage(
                "-I must be 0 or more milliseconds".to_owned(),
            ))
        }
    };
    if !(args.duration >= 0.0 && args.duration.is_finite()) {
        return Err(CliError::Usage(
            "--duration must be 0 or more seconds".to_owned(),
        ));
    }
    if args.limit == 0 && args.duration == 0.0 {
        eprintln!("pigeon bench: no --limit and no --duration: publishing until Ctrl-C");
    }
    let plan = Arc::new(Plan::new(common, "pub")?);
    // Checked once here rather than by every publisher.
    let sample = args
        .topic
        .replace("%i", "0")
        .replace("%c", &plan.client_id(0));
    pigeon_mqtt::topic::TopicName::new(sample.as_str())
        .map_err(|e| CliError::Usage(format!("-t {:?}: {e}", args.topic)))?;
    let publishing = Arc::new(Publishing {
        topic: args.topic.clone(),
        interval,
        size: args.size,
        qos: args.qos,
        retain: args.retain,
        limit: args.limit,
        inflight: args.inflight.max(1),
    });
    let mut interrupt = Interrupt::listen();
    let progress = Progress::new();
    let counters = Arc::new(Counters::new());
    let baseline = Baseline::take(common)?;
    let (stop_tx, stop_rx) = watch::channel(false);

    let job_counters = counters.clone();
    let job_plan = plan.clone();
    let launcher = tokio::spawn(launch(
        plan.clone(),
        counters.clone(),
        move |i, client, el| {
            publisher(
                i,
                job_plan.client_id(i),
                client,
                el,
                publishing.clone(),
                job_counters.clone(),
                stop_rx.clone(),
            )
        },
    ));
    let mut waited = wait_connected(&progress, &mut interrupt, &counters, plan.count).await;
    let clients = launcher.await.unwrap_or_default();
    let (memory, broker_memory) = baseline.now();
    let made = Counters::get(&counters.connected);
    progress.say(&format!(
        "{made} publishers connected, {} failed",
        Counters::get(&counters.failed)
    ));

    if waited == Waited::Done {
        let deadline =
            (args.duration > 0.0).then(|| Instant::now() + Duration::from_secs_f64(args.duration));
        let mut rate = Rate::new(&counters);
        waited = wait_for(
            &progress,
            &mut interrupt,
            deadline,
            || Counters::get(&counters.publishers_done) >= made,
            || {
                format!(
                    "sent {}, acknowledged {}, failed {}; {:.0} msg/s",
                    Counters::get(&counters.sent),
                    Counters::get(&counters.acked),
                    Counters::get(&counters.publish_failed),
                    rate.update(&counters)
                )
            },
        )
        .await;
    }
    let _ = stop_tx.send(true);
    if waited != Waited::Interrupted {
        // Let the messages in flight complete.
        let until = Instant::now() + Duration::from_secs(15);
        wait_for(
            &progress,
            &mut interrupt,
            Some(until),
            || Counters::get(&counters.publishers_done) >= made,
            || "waiting for the last acknowledgements".to_owned(),
        )
        .await;
    }
    progress.show(format!("closing {} connections", clients.len()));
    shutdown(clients, &counters, Duration::from_secs(10)).await;
    progress.finish();
    let mut report = base_report("pub", budget, plan.count, &counters);
    report.memory = memory;
    report.broker_memory = broker_memory;
    report.messages = Some(MessageStats {
        sent: Counters::get(&counters.sent),
        acked: Counters::get(&counters.acked),
        failed: Counters::get(&counters.publish_failed),
        subscribed: 0,
        subscribe_failed: 0,
        received: 0,
        elapsed: counters.message_span(),
    });
    report.latency = counters.latency.percentiles();
    Ok(report)
}

/// One publisher: publishes with at most `inflight` messages unacknowledged, records each
/// message's latency until done at its QoS, and keeps the event loop running until the client
/// is closed.
async fn publisher(
    index: u64,
    client_id: String,
    client: Client,
    eventloop: Box<EventLoop>,
    p: Arc<Publishing>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let driver = tokio::spawn(drive(eventloop, counters.clone()));
    let topic = p
        .topic
        .replace("%i", &index.to_string())
        .replace("%c", &client_id);
    let window = Arc::new(Semaphore::new(p.inflight.into()));
    let mut ticker = p.interval.map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    let mut seq: u64 = 0;
    while p.limit == 0 || seq < p.limit {
        let permit = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            permit = async {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                window.clone().acquire_owned().await
            } => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let payload = payload::make(p.size, seq as u32, SystemTime::now());
        let message = match Message::new(topic.as_str(), payload) {
            Ok(m) => m.qos(p.qos).retain(p.retain),
            Err(e) => {
                counters.error(format!("topic {topic:?}: {e}"));
                break;
            }
        };
        let started = Instant::now();
        let token = match client.begin_publish(message).await {
            Ok(token) => token,
            Err(e) => {
                counters.error(format!("publish: {e}"));
                break;
            }
        };
        counters.sent.fetch_add(1, Ordering::Relaxed);
        counters.message_at(started.into_std());
        let c = counters.clone();
        tokio::spawn(async move {
            let result = token.await;
            let done = Instant::now();
            match result {
                Ok(_) => {
                    c.latency.record(done - started);
                    c.acked.fetch_add(1, Ordering::Relaxed);
                    c.message_at(done.into_std());
                }
                Err(e) => {
                    c.publish_failed.fetch_add(1, Ordering::Relaxed);
                    c.error(format!("publish: {e}"));
                }
            }
            drop(permit);
        });
        seq += 1;
    }
    // Every permit back means every message has its outcome.
    let _ = window.acquire_many(p.inflight.into()).await;
    counters.publishers_done.fetch_add(1, Ordering::Relaxed);
    drop(client);
    let _ = driver.await;
}

/// Messages per second over the last progress interval.
struct Rate {
    at: Instant,
    acked: u64,
    last: f64,
}

impl Rate {
    fn new(counters: &Counters) -> Rate {
        Rate {
            at: Instant::now(),
            acked: Counters::get(&counters.acked),
            last: 0.0,
        }
    }

    fn update(&mut self, counters: &Counters) -> f64 {
        let now = Instant::now();
        let secs = (now - self.at).as_secs_f64();
        if secs >= 0.5 {
            let acked = Counters::get(&counters.acked);
            self.last = acked.saturating_sub(self.acked) as f64 / secs;
            self.acked = acked;
            self.at = now;
        }
        self.last
    }
}
