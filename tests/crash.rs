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
            other => panic!("unknown role {other}"),
        }
        return;
    }
    // `cargo test -- --list` and filters: this binary has one scenario set.
    if std::env::args().any(|a| a == "--list") {
        println!("crash: test");
        return;
    }
    let scenarios: [(&str, fn()); 1] = [(
        "manual_ack_subscriber_killed_before_acknowledging_loses_nothing",
        manual_ack_subscriber_killed_before_acknowledging_loses_nothing,
    )];
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
