//! Whole-client benchmark: pigeon-mqtt against rumqttc 0.25 over real sockets.
//!
//! Run with `cargo bench --bench client` (about 4 minutes on 2 cores). Without `--bench` (as
//! under `cargo test --benches`) it runs a seconds-long smoke version of every scenario. Results
//! and their discussion live in `benches/CLIENT_RESULTS.md`.
//!
//! One Mosquitto (from `tests/support`, packet logging off) serves every broker scenario, and one
//! Tokio runtime runs every client: multi-threaded with 2 workers, or current-thread with
//! `CLIENT_BENCH_RUNTIME=current` (the idle-memory child then uses one too). Both libraries get
//! the same settings: MQTT 3.1.1, clean session, TCP_NODELAY, 100 messages in flight, a request
//! channel of 64, keep alive 60 s, packets up to 1 MiB. pigeon also runs at 5.0 as a third
//! column.
//!
//! Scenarios, each repeated `reps` times with the libraries interleaved in rotating order
//! (medians reported):
//!
//! 1. End to end: one publisher and one subscriber connection; N messages at QoS 0/1/2 with
//!    64 B and 16 KiB payloads; messages/s from the first publish to the last receipt. pigeon
//!    pipelines with `begin_publish` and awaits every token at the end; rumqttc pipelines with
//!    `AsyncClient::publish_bytes` (its zero-copy `Bytes` entry point) while a task polls its
//!    event loop and counts the acks (or, at QoS 0, the written publishes). Both subscribers
//!    poll their event loop directly (pigeon's takes `Messages` from `into_messages` instead with
//!    `CLIENT_BENCH_PIGEON_SUBSCRIBER=stream`, or batches of them with `Messages::recv_many` with
//!    `=batch`). The count received is checked (Mosquitto may drop QoS 0 under load; the table
//!    says so when it did).
//!    Fan-in: the same with 4 publisher connections publishing N/4 messages each at once, at
//!    QoS 0 and 1; "publisher msgs/s" is N over the time until the last publisher had all its
//!    messages complete (written at QoS 0, acknowledged at QoS 1).
//! 2. Client CPU per message: utime and stime of this process (`/proc/self/stat`, 10 ms ticks)
//!    around each run, so publisher and subscriber together; the broker is another process.
//! 3. QoS 1 latency: sequential publish-and-await-PUBACK round trips; p50 / p99. rumqttc polls
//!    its event loop in the publishing task until the PubAck event; pigeon awaits
//!    `Client::publish` with the loop spawned, and again with the loop polled in the
//!    publishing task (same shape as rumqttc).
//! 4. Memory per idle connection: a child process (fresh heap per library) opens 1,000
//!    connected, idle clients, each with its event loop spawned; VmRSS delta / 1,000.
//! 5. Own ceiling: the same publisher against a sink server (a child process running this
//!    binary with `--sink-child`, current-thread runtime) that answers CONNECT with CONNACK and
//!    each QoS 1 PUBLISH with PUBACK at once. It is another process so that its CPU is not
//!    counted as the client's.
//!
//! `CLIENT_BENCH_FILTER=<substring>[|<substring>...]` runs only the scenarios whose label contains
//! one of them.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use common::{loadavg, median, mosquitto_version, Cpu};
use pigeon_mqtt::{Client, ConnectOptions, Event, Message, ProtocolLevel, QoS, ReconnectOptions};
use support::Mosquitto;

/// Client settings shared by both libraries.
const INFLIGHT: u16 = 100;
const CHANNEL_CAPACITY: usize = 64;
const MAX_PACKET: usize = 1 << 20;
const KEEP_ALIVE: Duration = Duration::from_secs(60);
/// A subscriber that received nothing for this long after the publisher finished is done
/// (Mosquitto may drop QoS 0 messages under load).
const IDLE: Duration = Duration::from_secs(1);
/// Idle connections are opened in batches of this many (Mosquitto's listen backlog).
const CONNECT_BATCH: usize = 50;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--sink-child") => return sink_child(),
        Some("--mem-child") => return mem_child(&args[2..]),
        _ => {}
    }
    let plan = if args.iter().any(|a| a == "--bench") {
        Plan::FULL
    } else {
        Plan::QUICK
    };
    check_fd_limit(plan.idle_connections);

    let broker = Mosquitto::builder()
        .debug_log(false)
        // Broker-to-subscriber window, like the clients' own.
        .extra_config("max_inflight_messages 100\n")
        .build();
    let flavor = Flavor::from_env();
    let rt = flavor.runtime();
    let port = broker.port();
    let started = Instant::now();
    eprintln!("mosquitto on port {port}; runtime: {flavor:?}; plan: {plan:?}");
    let load_before = loadavg();

    // `CLIENT_BENCH_FILTER=<substring>` runs only the scenarios whose label contains it, e.g.
    // "e2e QoS 1 64 B pigeon 3.1.1" or "latency" (for profiling one case).
    let filter = std::env::var("CLIENT_BENCH_FILTER").unwrap_or_default();
    // Alternatives are separated by `|`: "e2e QoS 1 64 B pigeon 3.1.1|e2e QoS 1 64 B rumqttc".
    let wanted = |label: &str| filter.split('|').any(|f| label.contains(f));
    let mut table = Table::default();
    let run = |f: std::pin::Pin<Box<dyn std::future::Future<Output = Sample> + Send>>| {
        rt.block_on(rt.spawn(f)).expect("scenario task")
    };

    // 1 + 2: end to end through Mosquitto.
    let cases = [
        (QoS::AtMostOnce, 64, plan.small_n),
        (QoS::AtLeastOnce, 64, plan.small_n),
        (QoS::ExactlyOnce, 64, plan.small_n),
        (QoS::AtMostOnce, 16 * 1024, plan.big_n),
        (QoS::AtLeastOnce, 16 * 1024, plan.big_n),
        (QoS::ExactlyOnce, 16 * 1024, plan.big_n),
    ];
    for rep in 0..plan.reps {
        for (case, &(qos, size, n)) in cases.iter().enumerate() {
            let key = format!("e2e QoS {} {}", qos as u8, size_label(size));
            for lib in Lib::rotation(rep + case) {
                if !wanted(&format!("{key} {}", lib.name())) {
                    continue;
                }
                let topic = format!("bench/e2e/{}/{case}/{rep}", lib.tag());
                let sample = run(Box::pin(throughput(
                    lib,
                    port,
                    topic,
                    qos,
                    n,
                    Bytes::from(vec![0xA5; size]),
                    Some(1),
                )));
                eprintln!(
                    "e2e {:<13} qos{} {:>5} B: {:>9.0} msg/s, {:>6.2} us cpu/msg, received {}/{}",
                    lib.name(),
                    qos as u8,
                    size,
                    sample.rate(),
                    sample.cpu_per_msg_us(),
                    sample.received,
                    sample.sent
                );
                table.add(&key, lib, sample);
            }
        }
    }

    // 1b: several publishers into one subscriber (the publishers share the runtime with it).
    for rep in 0..plan.reps {
        for (case, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce].into_iter().enumerate() {
            let key = format!("e2e {PUBLISHERS} publishers QoS {} 64 B", qos as u8);
            for lib in Lib::rotation(rep + case) {
                if !wanted(&format!("{key} {}", lib.name())) {
                    continue;
                }
                let topic = format!("bench/fan-in/{}/{case}/{rep}", lib.tag());
                let sample = run(Box::pin(throughput(
                    lib,
                    port,
                    topic,
                    qos,
                    plan.small_n,
                    Bytes::from(vec![0xA5; 64]),
                    Some(PUBLISHERS),
                )));
                eprintln!(
                    "{key} {:<13}: {:>9.0} msg/s, publishers {:>9.0} msg/s, {:>6.2} us cpu/msg, \
                     received {}/{}",
                    lib.name(),
                    sample.rate(),
                    sample.publisher_rate(),
                    sample.cpu_per_msg_us(),
                    sample.received,
                    sample.sent
                );
                table.add(&key, lib, sample);
            }
        }
    }

    // 3: QoS 1 round trips. pigeon runs twice: as users write it (event loop spawned,
    // `publish().await`), and with its event loop polled in the publishing task, which is how
    // a rumqttc user awaits a PUBACK (there is no per-publish future to await).
    for rep in 0..plan.reps {
        for lib in Lib::rotation(rep) {
            for same_task in [false, true] {
                if same_task && lib == Lib::Rumqttc {
                    continue;
                }
                let key = if same_task {
                    "QoS 1 round trip, event loop in the publishing task"
                } else {
                    "QoS 1 round trip"
                };
                if !wanted(&format!("latency {key} {}", lib.name())) {
                    continue;
                }
                let (p50, p99) = rt
                    .block_on(rt.spawn(latency(lib, port, plan.latency_n, same_task)))
                    .expect("latency task");
                eprintln!("latency {:<13} {key}: p50 {p50:?} p99 {p99:?}", lib.name());
                table.add_latency(key, lib, (p50, p99));
                if lib == Lib::Rumqttc {
                    // rumqttc always polls in the publishing task: same figures in both rows.
                    let key = "QoS 1 round trip, event loop in the publishing task";
                    table.add_latency(key, lib, (p50, p99));
                }
            }
        }
    }

    // 4: idle connections, one fresh child process per library.
    for lib in Lib::ALL {
        if !wanted(&format!("idle {}", lib.name())) {
            continue;
        }
        let kib = idle_memory(lib, port, plan.idle_connections);
        eprintln!(
            "idle {:<13} {kib:.1} KiB per connection ({} connections)",
            lib.name(),
            plan.idle_connections
        );
        table.memory.push((lib, kib));
    }

    // 5: own ceiling against the sink.
    let sink = Sink::start();
    for rep in 0..plan.reps {
        for (case, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce].into_iter().enumerate() {
            let key = format!("sink QoS {} 64 B", qos as u8);
            for lib in Lib::rotation(rep + case) {
                if !wanted(&format!("{key} {}", lib.name())) {
                    continue;
                }
                let sample = run(Box::pin(throughput(
                    lib,
                    sink.port,
                    "bench/sink".to_owned(),
                    qos,
                    plan.sink_n,
                    Bytes::from(vec![0xA5; 64]),
                    None,
                )));
                eprintln!(
                    "sink {:<13} qos{}: {:>9.0} msg/s, {:>6.2} us cpu/msg",
                    lib.name(),
                    qos as u8,
                    sample.rate(),
                    sample.cpu_per_msg_us(),
                );
                table.add(&key, lib, sample);
            }
        }
    }
    drop(sink);

    println!();
    println!(
        "pigeon-mqtt vs rumqttc 0.25.1, {} ({} reps, {:.0} s), {flavor:?} runtime, mosquitto {}, \
         {} CPUs",
        if plan.reps > 1 {
            "full run"
        } else {
            "smoke run"
        },
        plan.reps,
        started.elapsed().as_secs_f64(),
        mosquitto_version(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "load average (1/5/15 min) before: {load_before}, after: {}",
        loadavg()
    );
    println!();
    table.print();
    drop(broker);
}

// ---- plan ---------------------------------------------------------------------------------

/// How pigeon's subscriber takes its messages: `CLIENT_BENCH_PIGEON_SUBSCRIBER=stream`
/// (`EventLoop::into_messages`, one `Messages::recv` per message), `batch` (`into_messages`
/// and `Messages::recv_many`), or by default `EventLoop::poll` in its own task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PigeonSubscriber {
    Poll,
    Stream,
    Batch,
}

impl PigeonSubscriber {
    fn from_env() -> PigeonSubscriber {
        match std::env::var("CLIENT_BENCH_PIGEON_SUBSCRIBER").as_deref() {
            Ok("stream") => PigeonSubscriber::Stream,
            Ok("batch") => PigeonSubscriber::Batch,
            _ => PigeonSubscriber::Poll,
        }
    }
}

/// Publisher connections of the fan-in scenario.
const PUBLISHERS: usize = 4;

/// The Tokio runtime every client runs on: `CLIENT_BENCH_RUNTIME=current` for a current-thread
/// runtime, anything else (the default) for a multi-threaded one with 2 workers. The idle
/// memory child process uses the same flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    MultiThread,
    CurrentThread,
}

impl Flavor {
    fn from_env() -> Flavor {
        match std::env::var("CLIENT_BENCH_RUNTIME").as_deref() {
            Ok("current") | Ok("current-thread") => Flavor::CurrentThread,
            _ => Flavor::MultiThread,
        }
    }

    fn runtime(self) -> tokio::runtime::Runtime {
        match self {
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("bench-client")
                .enable_all()
                .build(),
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        }
        .expect("tokio runtime")
    }
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    small_n: usize,
    big_n: usize,
    reps: usize,
    latency_n: usize,
    idle_connections: usize,
    sink_n: usize,
}

impl Plan {
    const FULL: Plan = Plan {
        small_n: 50_000,
        big_n: 5_000,
        reps: 5,
        latency_n: 10_000,
        idle_connections: 1_000,
        sink_n: 200_000,
    };
    const QUICK: Plan = Plan {
        small_n: 2_000,
        big_n: 200,
        reps: 1,
        latency_n: 200,
        idle_connections: 20,
        sink_n: 5_000,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lib {
    Pigeon311,
    Rumqttc,
    Pigeon5,
}

impl Lib {
    const ALL: [Lib; 3] = [Lib::Pigeon311, Lib::Rumqttc, Lib::Pigeon5];

    /// All three, starting at a different one each time (so no library always runs first).
    fn rotation(k: usize) -> impl Iterator<Item = Lib> {
        (0..3).map(move |i| Lib::ALL[(k + i) % 3])
    }

    fn name(self) -> &'static str {
        match self {
            Lib::Pigeon311 => "pigeon 3.1.1",
            Lib::Rumqttc => "rumqttc 3.1.1",
            Lib::Pigeon5 => "pigeon 5.0",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Lib::Pigeon311 => "p4",
            Lib::Rumqttc => "r4",
            Lib::Pigeon5 => "p5",
        }
    }

    fn parse(tag: &str) -> Lib {
        match tag {
            "p4" => Lib::Pigeon311,
            "r4" => Lib::Rumqttc,
            "p5" => Lib::Pigeon5,
            other => panic!("unknown library tag {other:?}"),
        }
    }

    fn level(self) -> ProtocolLevel {
        match self {
            Lib::Pigeon5 => ProtocolLevel::V5,
            _ => ProtocolLevel::V3_1_1,
        }
    }
}

fn size_label(size: usize) -> String {
    if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

// ---- the two libraries, set up identically -------------------------------------------------

fn next_id(role: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    format!(
        "bench-{role}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn pigeon_options(port: u16, level: ProtocolLevel, id: String) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", port)
        .protocol(level)
        .client_id(id)
        .clean_start(true)
        .keep_alive(KEEP_ALIVE)
        .max_inflight(INFLIGHT)
        .request_capacity(CHANNEL_CAPACITY)
        .tcp_nodelay(true)
        .maximum_packet_size(MAX_PACKET as u32)
        .reconnect(ReconnectOptions::disabled())
}

async fn pigeon_connect(
    port: u16,
    level: ProtocolLevel,
    id: String,
) -> (Client, pigeon_mqtt::EventLoop) {
    let (client, mut eventloop) = Client::new(pigeon_options(port, level, id));
    loop {
        match eventloop.poll().await {
            Ok(Event::Connected(_)) => return (client, eventloop),
            Ok(Event::ConnectionLost { error, .. }) => panic!("pigeon cannot connect: {error}"),
            Ok(_) => {}
            Err(e) => panic!("pigeon cannot connect: {e}"),
        }
    }
}

fn rumqttc_new(port: u16, id: String) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
    opts.set_clean_session(true)
        .set_keep_alive(KEEP_ALIVE)
        .set_inflight(INFLIGHT)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, CHANNEL_CAPACITY);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net);
    (client, eventloop)
}

async fn rumqttc_connect(port: u16, id: String) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let (client, mut eventloop) = rumqttc_new(port, id);
    loop {
        match eventloop.poll().await {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                return (client, eventloop)
            }
            Ok(_) => {}
            Err(e) => panic!("rumqttc cannot connect: {e}"),
        }
    }
}

fn rumqttc_qos(qos: QoS) -> rumqttc::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

// ---- 1, 2, 5: throughput and CPU -----------------------------------------------------------

/// One throughput run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    sent: usize,
    received: usize,
    elapsed: Duration,
    /// From the first publish until every publisher had all its messages complete.
    published: Duration,
    cpu: Cpu,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64()
    }

    fn publisher_rate(&self) -> f64 {
        self.sent as f64 / self.published.as_secs_f64()
    }

    fn cpu_per_msg_us(&self) -> f64 {
        (self.cpu.user + self.cpu.sys).as_secs_f64() * 1e6 / self.sent as f64
    }

    fn user_per_msg_us(&self) -> f64 {
        self.cpu.user.as_secs_f64() * 1e6 / self.sent as f64
    }

    fn sys_per_msg_us(&self) -> f64 {
        self.cpu.sys.as_secs_f64() * 1e6 / self.sent as f64
    }
}

/// Publishes `n` messages (after connecting a subscriber if `publishers` is `Some`; from that
/// many publisher connections, `n / publishers` each, all at once) and measures from the first
/// publish to the last receipt (or, without subscriber, to the last ack).
async fn throughput(
    lib: Lib,
    port: u16,
    topic: String,
    qos: QoS,
    n: usize,
    payload: Bytes,
    publishers: Option<usize>,
) -> Sample {
    let subscriber = if publishers.is_some() {
        Some(Subscriber::start(lib, port, &topic, qos, n).await)
    } else {
        None
    };
    let count = publishers.unwrap_or(1).max(1);
    let mut pubs = Vec::with_capacity(count);
    for _ in 0..count {
        pubs.push(Publisher::connect(lib, port, qos, n / count).await);
    }
    let n = n / count * count;

    let cpu0 = Cpu::now();
    let t0 = Instant::now();
    let published = if count == 1 {
        pubs[0].publish_all(&topic, qos, n, &payload).await;
        t0.elapsed()
    } else {
        let tasks: Vec<_> = pubs
            .into_iter()
            .map(|mut p| {
                let (topic, payload) = (topic.clone(), payload.clone());
                tokio::spawn(async move {
                    p.publish_all(&topic, qos, n / count, &payload).await;
                    (p, t0.elapsed())
                })
            })
            .collect();
        pubs = Vec::with_capacity(count);
        let mut last = Duration::ZERO;
        for t in tasks {
            let (p, done) = t.await.expect("publisher task");
            pubs.push(p);
            last = last.max(done);
        }
        last
    };
    let (received, elapsed) = match subscriber {
        Some(s) => {
            let (received, last) = s.finish().await;
            (received, last.map_or(published, |l| l.duration_since(t0)))
        }
        None => (n, published),
    };
    let cpu = Cpu::now().since(cpu0);
    for p in pubs {
        p.disconnect().await;
    }
    Sample {
        sent: n,
        received,
        elapsed,
        published,
        cpu,
    }
}

enum Publisher {
    Pigeon {
        client: Client,
        eventloop: JoinHandle<Result<(), pigeon_mqtt::ConnectionError>>,
    },
    Rumqttc {
        client: rumqttc::AsyncClient,
        /// Polls the event loop until `n` publishes are complete, then hands it back.
        acks: Option<JoinHandle<rumqttc::EventLoop>>,
        eventloop: Option<Box<rumqttc::EventLoop>>,
    },
}

impl Publisher {
    async fn connect(lib: Lib, port: u16, qos: QoS, n: usize) -> Publisher {
        match lib {
            Lib::Pigeon311 | Lib::Pigeon5 => {
                let (client, eventloop) = pigeon_connect(port, lib.level(), next_id("pub")).await;
                Publisher::Pigeon {
                    client,
                    eventloop: tokio::spawn(eventloop.run()),
                }
            }
            Lib::Rumqttc => {
                let (client, mut eventloop) = rumqttc_connect(port, next_id("pub")).await;
                let acks = tokio::spawn(async move {
                    use rumqttc::{Event as E, Outgoing, Packet};
                    let mut done = 0;
                    while done < n {
                        let event = eventloop.poll().await.expect("rumqttc publisher");
                        let complete = matches!(
                            (qos, event),
                            (QoS::AtMostOnce, E::Outgoing(Outgoing::Publish(_)))
                                | (QoS::AtLeastOnce, E::Incoming(Packet::PubAck(_)))
                                | (QoS::ExactlyOnce, E::Incoming(Packet::PubComp(_)))
                        );
                        done += usize::from(complete);
                    }
                    eventloop
                });
                Publisher::Rumqttc {
                    client,
                    acks: Some(acks),
                    eventloop: None,
                }
            }
        }
    }

    /// Publishes `n` messages pipelined and returns once all are complete at their QoS.
    async fn publish_all(&mut self, topic: &str, qos: QoS, n: usize, payload: &Bytes) {
        match self {
            Publisher::Pigeon { client, .. } => {
                let mut tokens = Vec::with_capacity(n);
                for _ in 0..n {
                    let message = Message::new(topic, payload.clone())
                        .expect("topic")
                        .qos(qos);
                    tokens.push(client.begin_publish(message).await.expect("begin_publish"));
                }
                for token in tokens {
                    token.await.expect("publish");
                }
            }
            Publisher::Rumqttc {
                client,
                acks,
                eventloop,
            } => {
                let q = rumqttc_qos(qos);
                for _ in 0..n {
                    client
                        .publish_bytes(topic, q, false, payload.clone())
                        .await
                        .expect("publish_bytes");
                }
                let handle = acks.take().expect("publish_all called once");
                *eventloop = Some(Box::new(handle.await.expect("rumqttc publisher task")));
            }
        }
    }

    async fn disconnect(self) {
        match self {
            Publisher::Pigeon { client, eventloop } => {
                client.disconnect().await.expect("disconnect");
                eventloop
                    .await
                    .expect("pigeon event loop task")
                    .expect("pigeon event loop");
            }
            Publisher::Rumqttc {
                client, eventloop, ..
            } => {
                let Some(mut eventloop) = eventloop else {
                    return;
                };
                client.disconnect().await.expect("disconnect");
                loop {
                    match eventloop.poll().await {
                        Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => {
                            break
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
    }
}

/// A subscriber whose event loop runs in its own task and counts messages.
struct Subscriber {
    task: JoinHandle<()>,
    count: Arc<AtomicUsize>,
    /// Nanoseconds after `base` of the last receipt.
    last: Arc<AtomicU64>,
    base: Instant,
    /// The client handle, kept alive while the event loop runs.
    _client: Box<dyn std::any::Any + Send>,
}

impl Subscriber {
    async fn start(lib: Lib, port: u16, topic: &str, qos: QoS, n: usize) -> Subscriber {
        let count = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(AtomicU64::new(0));
        let base = Instant::now();
        let (c, l) = (count.clone(), last.clone());
        let note = move |received: usize| {
            l.store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
            c.store(received, Ordering::Relaxed);
        };
        match lib {
            Lib::Pigeon311 | Lib::Pigeon5 => {
                let (client, mut eventloop) =
                    pigeon_connect(port, lib.level(), next_id("sub")).await;
                let task = match PigeonSubscriber::from_env() {
                    PigeonSubscriber::Poll => tokio::spawn(async move {
                        let mut received = 0;
                        while received < n {
                            match eventloop.poll().await {
                                Ok(Event::Message(_)) => {
                                    received += 1;
                                    note(received);
                                }
                                Ok(_) => {}
                                Err(e) => panic!("pigeon subscriber: {e}"),
                            }
                        }
                    }),
                    PigeonSubscriber::Stream => {
                        let mut messages = eventloop.into_messages();
                        tokio::spawn(async move {
                            let mut received = 0;
                            while received < n {
                                match messages.recv().await {
                                    Some(_) => {
                                        received += 1;
                                        note(received);
                                    }
                                    None => panic!("pigeon subscriber: stream ended"),
                                }
                            }
                        })
                    }
                    PigeonSubscriber::Batch => {
                        let mut messages = eventloop.into_messages();
                        tokio::spawn(async move {
                            let mut received = 0;
                            let mut batch = Vec::with_capacity(256);
                            while received < n {
                                match messages.recv_many(&mut batch, 256).await {
                                    0 => panic!("pigeon subscriber: stream ended"),
                                    k => {
                                        batch.clear();
                                        received += k;
                                        note(received);
                                    }
                                }
                            }
                        })
                    }
                };
                client.subscribe(topic, qos).await.expect("subscribe");
                Subscriber {
                    task,
                    count,
                    last,
                    base,
                    _client: Box::new(client),
                }
            }
            Lib::Rumqttc => {
                use rumqttc::{Event as E, Packet};
                let (client, mut eventloop) = rumqttc_connect(port, next_id("sub")).await;
                client
                    .subscribe(topic, rumqttc_qos(qos))
                    .await
                    .expect("subscribe");
                loop {
                    match eventloop.poll().await {
                        Ok(E::Incoming(Packet::SubAck(_))) => break,
                        Ok(_) => {}
                        Err(e) => panic!("rumqttc subscriber: {e}"),
                    }
                }
                let task = tokio::spawn(async move {
                    let mut received = 0;
                    while received < n {
                        match eventloop.poll().await {
                            Ok(E::Incoming(Packet::Publish(_))) => {
                                received += 1;
                                note(received);
                            }
                            Ok(_) => {}
                            Err(e) => panic!("rumqttc subscriber: {e}"),
                        }
                    }
                });
                Subscriber {
                    task,
                    count,
                    last,
                    base,
                    _client: Box::new(client),
                }
            }
        }
    }

    /// Waits for all messages, or for `IDLE` without a new one. Returns the count received and
    /// the time of the last receipt. The subscriber's connection is dropped.
    async fn finish(mut self) -> (usize, Option<Instant>) {
        let mut seen = self.count.load(Ordering::Relaxed);
        let mut changed = Instant::now();
        loop {
            tokio::select! {
                r = &mut self.task => {
                    r.expect("subscriber task");
                    break;
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    let now = self.count.load(Ordering::Relaxed);
                    if now != seen {
                        seen = now;
                        changed = Instant::now();
                    } else if changed.elapsed() >= IDLE {
                        self.task.abort();
                        break;
                    }
                }
            }
        }
        let received = self.count.load(Ordering::Relaxed);
        let last = (received > 0)
            .then(|| self.base + Duration::from_nanos(self.last.load(Ordering::Relaxed)));
        (received, last)
    }
}

// ---- 3: latency ------------------------------------------------------------------------------

async fn latency(lib: Lib, port: u16, n: usize, same_task: bool) -> (Duration, Duration) {
    let warmup = n / 20;
    let topic = format!("bench/latency/{}", lib.tag());
    let payload = Bytes::from(vec![0xA5; 64]);
    let mut times = Vec::with_capacity(n + warmup);
    match lib {
        Lib::Pigeon311 | Lib::Pigeon5 if same_task => {
            let (client, mut eventloop) = pigeon_connect(port, lib.level(), next_id("lat")).await;
            for _ in 0..n + warmup {
                let message = Message::new(topic.as_str(), payload.clone())
                    .expect("topic")
                    .qos(QoS::AtLeastOnce);
                let t = Instant::now();
                let publish = client.publish(message);
                tokio::pin!(publish);
                loop {
                    // `biased`: the publish is checked first, so a poll of the event loop is
                    // only dropped before it was ever polled.
                    tokio::select! {
                        biased;
                        r = &mut publish => {
                            r.expect("publish");
                            break;
                        }
                        e = eventloop.poll() => {
                            e.expect("pigeon event loop");
                        }
                    }
                }
                times.push(t.elapsed());
            }
        }
        Lib::Pigeon311 | Lib::Pigeon5 => {
            let (client, eventloop) = pigeon_connect(port, lib.level(), next_id("lat")).await;
            let task = tokio::spawn(eventloop.run());
            for _ in 0..n + warmup {
                let message = Message::new(topic.as_str(), payload.clone())
                    .expect("topic")
                    .qos(QoS::AtLeastOnce);
                let t = Instant::now();
                client.publish(message).await.expect("publish");
                times.push(t.elapsed());
            }
            client.disconnect().await.expect("disconnect");
            task.await.expect("task").expect("event loop");
        }
        Lib::Rumqttc => {
            use rumqttc::{Event as E, Packet};
            let (client, mut eventloop) = rumqttc_connect(port, next_id("lat")).await;
            for _ in 0..n + warmup {
                let t = Instant::now();
                client
                    .publish_bytes(
                        topic.as_str(),
                        rumqttc::QoS::AtLeastOnce,
                        false,
                        payload.clone(),
                    )
                    .await
                    .expect("publish");
                loop {
                    match eventloop.poll().await.expect("rumqttc") {
                        E::Incoming(Packet::PubAck(_)) => break,
                        _ => continue,
                    }
                }
                times.push(t.elapsed());
            }
        }
    }
    let mut times = times.split_off(warmup);
    times.sort_unstable();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    (pct(50), pct(99))
}

// ---- 4: memory per idle connection ----------------------------------------------------------

/// Runs `--mem-child` in a fresh process and returns KiB of RSS per idle connection.
fn idle_memory(lib: Lib, port: u16, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args(["--mem-child", lib.tag(), &port.to_string(), &n.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run --mem-child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("MEM "))
        .unwrap_or_else(|| panic!("--mem-child failed ({}): {text}", out.status));
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().expect("number"))
        .collect();
    (v[1] - v[0]) / n as f64
}

/// `--mem-child TAG PORT N`: prints `MEM <rss before KiB> <rss after KiB>`.
fn mem_child(args: &[String]) {
    let lib = Lib::parse(&args[0]);
    let port: u16 = args[1].parse().expect("port");
    let n: usize = args[2].parse().expect("count");
    let rt = Flavor::from_env().runtime();
    rt.block_on(async move {
        let connected = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(n + 1);
        // One connection first, so the runtime, the I/O driver and the allocator are warm.
        handles.push(idle_client(lib, port, connected.clone()));
        wait_for(&connected, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = vm_rss_kib();
        let mut opened = 1;
        while opened < n + 1 {
            let batch = CONNECT_BATCH.min(n + 1 - opened);
            for _ in 0..batch {
                handles.push(idle_client(lib, port, connected.clone()));
            }
            opened += batch;
            wait_for(&connected, opened).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = vm_rss_kib();
        println!("MEM {before} {after}");
        std::io::stdout().flush().expect("stdout");
        // Exit without tearing down (the kernel closes the sockets).
        std::process::exit(0);
    });
}

/// A connected client whose event loop runs in its own task; the handle keeps it alive.
fn idle_client(lib: Lib, port: u16, connected: Arc<AtomicUsize>) -> Box<dyn std::any::Any> {
    match lib {
        Lib::Pigeon311 | Lib::Pigeon5 => {
            let (client, mut eventloop) =
                Client::new(pigeon_options(port, lib.level(), next_id("idle")));
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Connected(_)) => {
                            connected.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => panic!("pigeon idle connection: {e}"),
                    }
                }
            });
            Box::new(client)
        }
        Lib::Rumqttc => {
            let (client, mut eventloop) = rumqttc_new(port, next_id("idle"));
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                            connected.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => panic!("rumqttc idle connection: {e}"),
                    }
                }
            });
            Box::new(client)
        }
    }
}

async fn wait_for(counter: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} connections came up",
            counter.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---- 5: the sink -----------------------------------------------------------------------------

/// The sink server in a child process; stopped on drop.
struct Sink {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Sink {
    fn start() -> Sink {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .arg("--sink-child")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn --sink-child");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("sink port");
        let port = line
            .trim()
            .strip_prefix("SINK ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("sink said {line:?}"));
        Sink { child, stdin, port }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.stdin.take()); // the sink exits when its stdin closes
        if matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--sink-child`: answers CONNECT, QoS 1/2 PUBLISH, PUBREL, SUBSCRIBE and PINGREQ at once.
fn sink_child() {
    std::thread::spawn(|| {
        // Exit when the parent closes our stdin (or dies).
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        println!("SINK {port}");
        std::io::stdout().flush().expect("stdout");
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            let _ = stream.set_nodelay(true);
            tokio::spawn(sink_connection(stream));
        }
    });
}

async fn sink_connection(mut stream: TcpStream) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut out = Vec::with_capacity(16 * 1024);
    let mut v5 = false;
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let Some((first, start, total)) = frame(&buf) {
            let body = &buf[start..total];
            let pid = |at: usize| [body[at], body[at + 1]];
            match first >> 4 {
                1 => {
                    let name_len = usize::from(u16::from_be_bytes(pid(0)));
                    v5 = body[2 + name_len] == 5;
                    out.extend_from_slice(if v5 {
                        &[0x20, 3, 0, 0, 0]
                    } else {
                        &[0x20, 2, 0, 0]
                    });
                }
                3 => {
                    let qos = (first >> 1) & 3;
                    if qos > 0 {
                        let at = 2 + usize::from(u16::from_be_bytes(pid(0)));
                        let [a, b] = pid(at);
                        out.extend_from_slice(&[if qos == 1 { 0x40 } else { 0x50 }, 2, a, b]);
                    }
                }
                6 => {
                    let [a, b] = pid(0);
                    out.extend_from_slice(&[0x70, 2, a, b]);
                }
                8 => {
                    // One granted QoS 0 (the sink does not route messages).
                    let [a, b] = pid(0);
                    if v5 {
                        out.extend_from_slice(&[0x90, 4, a, b, 0, 0]);
                    } else {
                        out.extend_from_slice(&[0x90, 3, a, b, 0]);
                    }
                }
                12 => out.extend_from_slice(&[0xD0, 0]),
                14 => return,
                _ => {}
            }
            buf.advance(total);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// `(first byte, body start, total length)` of the whole packet at the front of `buf`.
fn frame(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let mut len = 0usize;
    let mut i = 1;
    loop {
        let b = *buf.get(i)?;
        len |= usize::from(b & 0x7F) << (7 * (i - 1));
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 4 {
            return None;
        }
    }
    (buf.len() >= i + len).then(|| (buf[0], i, i + len))
}

// ---- measurement helpers --------------------------------------------------------------------

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Our soft RLIMIT_NOFILE must cover the idle connections (Mosquitto inherits it too).
fn check_fd_limit(connections: usize) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|s| s.parse::<usize>().ok());
    if let Some(soft) = soft {
        assert!(
            soft >= connections + 200,
            "open-file limit {soft} is too low for {connections} connections: run \
             `bash -c 'ulimit -n 8192; cargo bench --bench client'`"
        );
    }
}

// ---- the table -------------------------------------------------------------------------------

/// p50 and p99 of one latency run.
type Percentiles = (Duration, Duration);

#[derive(Default)]
struct Table {
    /// (scenario, library, samples) in first-seen order.
    rows: Vec<(String, Lib, Vec<Sample>)>,
    /// (variant, library, (p50, p99) per repetition).
    latency: Vec<(String, Lib, Vec<Percentiles>)>,
    memory: Vec<(Lib, f64)>,
}

impl Table {
    fn add(&mut self, key: &str, lib: Lib, sample: Sample) {
        match self.rows.iter_mut().find(|(k, l, _)| k == key && *l == lib) {
            Some((_, _, v)) => v.push(sample),
            None => self.rows.push((key.to_owned(), lib, vec![sample])),
        }
    }

    fn add_latency(&mut self, key: &str, lib: Lib, p: (Duration, Duration)) {
        match self
            .latency
            .iter_mut()
            .find(|(k, l, _)| k == key && *l == lib)
        {
            Some((_, _, v)) => v.push(p),
            None => self.latency.push((key.to_owned(), lib, vec![p])),
        }
    }

    fn samples(&self, key: &str, lib: Lib) -> &[Sample] {
        self.rows
            .iter()
            .find(|(k, l, _)| k == key && *l == lib)
            .map_or(&[], |(_, _, v)| v.as_slice())
    }

    fn print(&self) {
        println!("| metric | pigeon 3.1.1 | rumqttc 3.1.1 | pigeon/rumqttc | pigeon 5.0 | 5.0/rumqttc | goal (3.1.1) |");
        println!("|---|---:|---:|---:|---:|---:|---|");
        let mut keys: Vec<&str> = Vec::new();
        for (k, _, _) in &self.rows {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        for key in &keys {
            let rate = |lib| median(self.samples(key, lib).iter().map(Sample::rate));
            let cpu = |lib| median(self.samples(key, lib).iter().map(Sample::cpu_per_msg_us));
            let user = |lib| median(self.samples(key, lib).iter().map(Sample::user_per_msg_us));
            let sys = |lib| median(self.samples(key, lib).iter().map(Sample::sys_per_msg_us));
            let received = |lib: Lib| {
                let s = self.samples(key, lib);
                let min = s.iter().map(|x| x.received).min().unwrap_or(0);
                let sent = s.first().map_or(0, |x| x.sent);
                if min < sent {
                    format!(" (min {min}/{sent} recv)")
                } else {
                    String::new()
                }
            };
            let (p, r, p5) = (rate(Lib::Pigeon311), rate(Lib::Rumqttc), rate(Lib::Pigeon5));
            println!(
                "| {key} msgs/s | {:.0}{} | {:.0}{} | {:.2} | {:.0}{} | {:.2} | >= 1.00 {} |",
                p,
                received(Lib::Pigeon311),
                r,
                received(Lib::Rumqttc),
                p / r,
                p5,
                received(Lib::Pigeon5),
                p5 / r,
                noisy_verdict(p / r >= 1.0, p / r >= 0.95),
            );
            let (p, r, p5) = (cpu(Lib::Pigeon311), cpu(Lib::Rumqttc), cpu(Lib::Pigeon5));
            println!(
                "| {key} client CPU µs/msg | {p:.2} | {r:.2} | {:.2} | {p5:.2} | {:.2} | <= 0.50 {} |",
                p / r,
                p5 / r,
                verdict(p / r <= 0.5),
            );
            if key.contains("publishers") {
                let pubrate =
                    |lib| median(self.samples(key, lib).iter().map(Sample::publisher_rate));
                let (p, r, p5) = (
                    pubrate(Lib::Pigeon311),
                    pubrate(Lib::Rumqttc),
                    pubrate(Lib::Pigeon5),
                );
                println!(
                    "| {key} publisher msgs/s | {p:.0} | {r:.0} | {:.2} | {p5:.0} | {:.2} | (info) |",
                    p / r,
                    p5 / r,
                );
            }
            let split = |lib| format!("{:.2} / {:.2}", user(lib), sys(lib));
            println!(
                "| {key} CPU user / sys µs/msg | {} | {} | {:.2} / {:.2} | {} | | (info) |",
                split(Lib::Pigeon311),
                split(Lib::Rumqttc),
                user(Lib::Pigeon311) / user(Lib::Rumqttc),
                sys(Lib::Pigeon311) / sys(Lib::Rumqttc),
                split(Lib::Pigeon5),
            );
        }
        for (n, key) in [
            "QoS 1 round trip",
            "QoS 1 round trip, event loop in the publishing task",
        ]
        .into_iter()
        .enumerate()
        {
            let lat = |lib: Lib, which: usize| {
                let v = self
                    .latency
                    .iter()
                    .find(|(k, l, _)| k == key && *l == lib)
                    .map_or(&[][..], |(_, _, v)| v.as_slice());
                median(v.iter().map(|p| {
                    let d = if which == 0 { p.0 } else { p.1 };
                    d.as_secs_f64() * 1e6
                }))
            };
            for (which, label) in [(0, "p50"), (1, "p99")] {
                let (p, r, p5) = (
                    lat(Lib::Pigeon311, which),
                    lat(Lib::Rumqttc, which),
                    lat(Lib::Pigeon5, which),
                );
                let goal = if n == 0 && which == 0 {
                    format!("<= 1.00 {}", noisy_verdict(p <= r, p / r <= 1.05))
                } else {
                    "(info)".to_owned()
                };
                println!(
                    "| {key} {label} µs | {p:.0} | {r:.0} | {:.2} | {p5:.0} | {:.2} | {goal} |",
                    p / r,
                    p5 / r,
                );
            }
        }
        let mem = |lib: Lib| {
            self.memory
                .iter()
                .find(|(l, _)| *l == lib)
                .map_or(f64::NAN, |(_, m)| *m)
        };
        let (p, r, p5) = (mem(Lib::Pigeon311), mem(Lib::Rumqttc), mem(Lib::Pigeon5));
        println!(
            "| RSS per idle connection KiB | {p:.1} | {r:.1} | {:.2} | {p5:.1} | {:.2} | <= 8 KiB {} |",
            p / r,
            p5 / r,
            verdict(p <= 8.0),
        );
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// For wall-clock figures on a shared machine: within 5 % of the goal is reported as such.
fn noisy_verdict(ok: bool, within_noise: bool) -> &'static str {
    if ok {
        "met"
    } else if within_noise {
        "missed by < 5 % (noise level)"
    } else {
        "**missed**"
    }
}
