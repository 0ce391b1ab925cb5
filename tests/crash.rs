//! Crash tests with real processes against a real Mosquitto: a process is killed with SIGKILL
//! and what it had not finished must not be lost.
//!
//! This test binary has no libtest harness (`harness = false` in Cargo.toml): run without
//! arguments it runs each scenario and exits non-zero on the first failure; run with
//! `PIGEON_CRASH_ROLE` set it plays one of the processes to be killed (it is its own child).
//!
//! - A subscriber with manual acknowledgements receives messages and is killed before it
//!   acknowledges them: the broker sends them again to the next process with the same client id,
//!   and nothing is lost (no QoS 2 message twice).
//! - A publisher with a [`pigeon_mqtt::store::FileStore`] is killed at random points, 20 times,
//!   during a stream of 10,000 numbered QoS 1 and QoS 2 messages, and restarted each time from
//!   the same store: the subscriber receives all 10,000, no QoS 2 message twice.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use pigeon_mqtt::{Client, ConnectOptions, Message, ProtocolLevel, QoS};
use support::Mosquitto;

const ROLE: &str = "PIGEON_CRASH_ROLE";
const WAIT: Duration = Duration::from_secs(20);

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        match role.as_str() {
            "subscriber" => runtime.block_on(subscriber_role(&args[0], level(&args[1]), &args[2])),
            #[cfg(feature = "file-store")]
            "publisher" => runtime.block_on(durable::publisher_role(
                &args[0],
                level(&args[1]),
                &args[2],
                args[3].parse().expect("a count"),
                args[4] == "paced",
            )),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    // `cargo test -- --list` and filters: this binary has one scenario set.
    if std::env::args().any(|a| a == "--list") {
        println!("crash: test");
        return;
    }
    let mut scenarios: Vec<(&str, fn())> = vec![(
        "manual_ack_subscriber_killed_before_acknowledging_loses_nothing",
        manual_ack_subscriber_killed_before_acknowledging_loses_nothing,
    )];
    #[cfg(feature = "file-store")]
    scenarios.push((
        "durable_publisher_killed_20_times_loses_nothing",
        durable::publisher_killed_20_times_loses_nothing,
    ));
    for (name, run) in scenarios {
        let started = Instant::now();
        run();
        println!("test {name} ... ok ({:.1?})", started.elapsed());
    }
}

fn level(s: &str) -> ProtocolLevel {
    if s == "5" {
        ProtocolLevel::V5
    } else {
        ProtocolLevel::V3_1_1
    }
}

/// A persistent session with manual acknowledgements.
fn subscriber_options(url: &str, level: ProtocolLevel, id: &str) -> ConnectOptions {
    let opts = ConnectOptions::from_url(url)
        .unwrap()
        .protocol(level)
        .client_id(id)
        .clean_start(false)
        .manual_acks(true);
    if level.is_v5() {
        opts.session_expiry(600)
    } else {
        opts
    }
}

/// The child: subscribes, prints each message it gets, never acknowledges, runs until killed.
async fn subscriber_role(url: &str, level: ProtocolLevel, id: &str) {
    let (client, mut eventloop) = Client::new(subscriber_options(url, level, id));
    eventloop.connect().await.expect("connected");
    let mut messages = eventloop.into_messages();
    client
        .subscribe("crash/#", QoS::ExactlyOnce)
        .await
        .expect("subscribed");
    println!("subscribed");
    while let Some(m) = messages.next().await {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "got {}", String::from_utf8_lossy(m.payload()));
        let _ = out.flush();
    }
}

fn manual_ack_subscriber_killed_before_acknowledging_loses_nothing() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for (level, arg) in [(ProtocolLevel::V3_1_1, "4"), (ProtocolLevel::V5, "5")] {
        let broker = Mosquitto::builder().debug_log(false).build();
        let id = format!("crash-sub-{arg}");
        let mut child = Role::spawn("subscriber", &[&broker.url(), arg, &id]);
        child.wait_for_line("subscribed");

        // 50 QoS 1 and 50 QoS 2 messages.
        let sent: Vec<String> = (0..100)
            .map(|n| format!("{}-{n}", if n % 2 == 0 { "q1" } else { "q2" }))
            .collect();
        runtime.block_on(async {
            let (publisher, eventloop) = Client::new(
                ConnectOptions::from_url(&broker.url())
                    .unwrap()
                    .protocol(level),
            );
            let run = tokio::spawn(eventloop.run());
            for body in &sent {
                let qos = if body.starts_with("q1") {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                let m = Message::new(format!("crash/{body}"), body.clone()).unwrap();
                publisher.publish(m.qos(qos)).await.expect("published");
            }
            publisher.disconnect().await.unwrap();
            run.await.unwrap().unwrap();
        });
        // The broker sends as many as its in-flight limit allows without acknowledgements.
        let got_before = child.wait_for_lines_starting("got ", 10);
        child.kill();

        // The next process with the same client id gets everything, acknowledges it, and no
        // QoS 2 message twice.
        let received = runtime.block_on(async {
            let (client, mut eventloop) =
                Client::new(subscriber_options(&broker.url(), level, &id));
            let ack = eventloop.connect().await.expect("reconnected");
            assert!(ack.session_present, "{level}: the session was kept");
            let mut messages = eventloop.into_messages();
            let mut received: BTreeMap<String, usize> = BTreeMap::new();
            while received.len() < sent.len() {
                let m = tokio::time::timeout(WAIT, messages.next())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("{level}: only {} of {} again", received.len(), sent.len())
                    })
                    .expect("stream open");
                *received
                    .entry(String::from_utf8_lossy(m.payload()).into_owned())
                    .or_default() += 1;
                assert!(m.needs_ack());
                client.ack(&m).await.unwrap();
            }
            client.disconnect().await.unwrap();
            received
        });
        for body in &sent {
            let n = received.get(body).copied().unwrap_or(0);
            assert!(n >= 1, "{level}: {body} lost");
            if body.starts_with("q2") {
                assert_eq!(n, 1, "{level}: {body} delivered {n} times");
            }
        }
        println!(
            "  {level}: {} received before the kill, none acknowledged; all {} after the restart",
            got_before.len(),
            sent.len()
        );
    }
}

/// A child process playing a role, with its stdout read line by line on a thread.
struct Role {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Role {
    fn spawn(role: &str, args: &[&str]) -> Role {
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .args(args)
            .env(ROLE, role)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the role process");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Role {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the next line starting with `prefix` and records the number after it.
    #[cfg(feature = "file-store")]
    fn wait_for_line_starting(&mut self, prefix: &str, numbers: &mut Vec<u64>) {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no {prefix:?} line from the child"));
        let n = line
            .strip_prefix(prefix)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"));
        numbers.push(n);
    }

    fn wait_for_line(&mut self, wanted: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.seen.iter().any(|l| l == wanted) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {wanted:?} from the child; saw {:?}", self.seen),
            }
        }
    }

    /// Waits for at least `min` lines starting with `prefix`, then for a quiet moment; returns
    /// them all.
    fn wait_for_lines_starting(&mut self, prefix: &str, min: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let count = self.seen.iter().filter(|l| l.starts_with(prefix)).count();
            let wait = if count >= min {
                Duration::from_millis(300)
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            match self.lines.recv_timeout(wait) {
                Ok(line) => self.seen.push(line),
                Err(_) if count >= min => break,
                Err(_) => panic!("only {count} lines {prefix:?}; saw {:?}", self.seen),
            }
        }
        self.seen
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// SIGKILL, and wait for the process to end.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "file-store")]
mod durable {
    use super::*;
    use pigeon_mqtt::store::FileStore;
    use pigeon_mqtt::{Event, ReconnectOptions};

    const MESSAGES: u64 = 10_000;
    const KILLS: usize = 20;

    fn publisher_options(url: &str, level: ProtocolLevel) -> ConnectOptions {
        let opts = ConnectOptions::from_url(url)
            .unwrap()
            .protocol(level)
            .client_id(format!("durable-pub-{level}"))
            .clean_start(false)
            .disconnect_timeout(Duration::from_secs(60))
            .reconnect(
                ReconnectOptions::default()
                    .backoff(Duration::from_millis(50), Duration::from_millis(500))
                    .retry_first_connect(true),
            );
        if level.is_v5() {
            opts.session_expiry(600)
        } else {
            opts
        }
    }

    /// The child: opens the store, goes on from the next message id (message `n` has id `n`),
    /// enqueues the rest of the numbered messages, and once all are enqueued disconnects
    /// gracefully (which waits for every acknowledgement) and says "done". A `paced` run (one
    /// that is to be killed) sends at most 800 messages a second.
    pub(super) async fn publisher_role(
        url: &str,
        level: ProtocolLevel,
        store: &str,
        total: u64,
        paced: bool,
    ) {
        let store = FileStore::open(store).expect("the store opens");
        let (client, eventloop) =
            Client::with_store(publisher_options(url, level), Box::new(store)).expect("loaded");
        let start = eventloop.next_message_id();
        println!("start {start}");
        let run = tokio::spawn(eventloop.run());
        for n in start..total {
            let qos = if n % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            let m = Message::new("durable/t", n.to_string()).unwrap().qos(qos);
            let queued = client.enqueue(m).await.expect("enqueued");
            assert_eq!(queued.id, n, "message ids follow the numbers");
            if paced && n % 8 == 7 {
                // At most 800 messages a second: a run lasts at most 500 ms before its kill,
                // so the 20 killed runs send at most 8,000 of the 10,000 messages and every
                // kill falls mid-stream (2,500 a second let a fast machine finish early).
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        client.disconnect().await.expect("disconnected");
        run.await.unwrap().expect("the loop ended cleanly");
        println!("done");
    }

    pub(super) fn publisher_killed_20_times_loses_nothing() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let mut rng = seed();
        println!("  seed {rng}");
        for (level, arg) in [(ProtocolLevel::V3_1_1, "4"), (ProtocolLevel::V5, "5")] {
            let broker = Mosquitto::builder().debug_log(false).build();
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("publisher.db");
            let store = store.to_str().unwrap().to_owned();
            // The subscriber, connected throughout.
            let (sub, mut eventloop) = Client::new(
                ConnectOptions::from_url(&broker.url())
                    .unwrap()
                    .protocol(level)
                    .client_id(format!("durable-sub-{arg}")),
            );
            let collector = runtime.block_on(async {
                eventloop.connect().await.expect("subscriber connected");
                let task = collect(eventloop);
                sub.subscribe("durable/t", QoS::ExactlyOnce).await.unwrap();
                task
            });
            let total = MESSAGES.to_string();
            let started = Instant::now();
            let mut starts = Vec::new();
            for _ in 0..KILLS {
                let mut child =
                    Role::spawn("publisher", &[&broker.url(), arg, &store, &total, "paced"]);
                child.wait_for_line_starting("start ", &mut starts);
                rng = next(rng);
                std::thread::sleep(Duration::from_millis(100 + rng % 400));
                child.kill();
            }
            // The last run is not killed and goes at full speed.
            let mut last = Role::spawn("publisher", &[&broker.url(), arg, &store, &total, "free"]);
            last.wait_for_line_starting("start ", &mut starts);
            last.wait_for_line("done");
            let (received, qos2_twice) = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(60), async {
                    loop {
                        let (n, dup) = collector_state(&collector).await;
                        if n == MESSAGES as usize {
                            return (n, dup);
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("{level}: not every message arrived"))
            });
            println!(
                "  {level}: {KILLS} kills, each run started at {starts:?}; {received} of {MESSAGES} \
                 received, {qos2_twice} QoS 2 duplicates, in {:.1?}",
                started.elapsed()
            );
            assert_eq!(received, MESSAGES as usize);
            assert_eq!(qos2_twice, 0, "{level}: a QoS 2 message arrived twice");
            // Each run went on where the last one stopped, and every kill was mid-stream.
            assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
            assert!(
                starts[KILLS - 1] < MESSAGES,
                "killed after the stream: {starts:?}"
            );
        }
    }

    type Seen = std::sync::Arc<std::sync::Mutex<(BTreeMap<u64, usize>, usize)>>;

    /// The subscriber's loop: counts each number, and QoS 2 numbers seen twice.
    fn collect(mut eventloop: pigeon_mqtt::EventLoop) -> CollectTask {
        let seen: Seen = Default::default();
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let Event::Message(m) = event {
                    let Ok(n) = String::from_utf8_lossy(m.payload()).parse::<u64>() else {
                        continue;
                    };
                    let mut s = shared.lock().unwrap();
                    let count = s.0.entry(n).or_default();
                    *count += 1;
                    if *count > 1 && n % 2 == 1 {
                        s.1 += 1;
                    }
                }
            }
        });
        CollectTask { seen, _task: task }
    }

    pub(super) struct CollectTask {
        seen: Seen,
        _task: tokio::task::JoinHandle<()>,
    }

    async fn collector_state(c: &CollectTask) -> (usize, usize) {
        let s = c.seen.lock().unwrap();
        (s.0.len(), s.1)
    }

    fn seed() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    }

    fn next(x: u64) -> u64 {
        x.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 1
    }
}
