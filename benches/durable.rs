//! Durable publish throughput end to end: `FileStore` against `MemoryStore`, through a private
//! Mosquitto on loopback, in the same run.
//!
//! Run with `cargo bench --features file-store --bench durable` (about 2 minutes on 2 cores).
//! Without `--bench` (as under `cargo test --benches`) every case runs once with 1,000 messages,
//! as a smoke test. Results and their discussion: `benches/DURABLE_RESULTS.md`.
//!
//! One publisher connection (MQTT 3.1.1, persistent session `clean_start(false)` under a fresh
//! client id per run, window `max_inflight(20)`, otherwise default options) publishes N messages
//! of 64 B at QoS 1 or QoS 2; a run is timed from the first publish to the last
//! acknowledgement (PUBACK / PUBCOMP). Mosquitto answers; nobody subscribes. Cases:
//!
//! - `memory`: `Client::new`'s default `MemoryStore`, pipelined with `begin_publish`;
//! - `file`: `FileStore::open` (default durability: survives a killed process), pipelined;
//! - `file-sync`: `FileStore::options().sync(true)` (an fsync per commit: survives a power
//!   loss), pipelined;
//! - `enqueue-file`: `FileStore::open`, each message handed over with `Client::enqueue` and that
//!   awaited (the message is on disk when it returns) before the next; tokens awaited at the end;
//! - `enqueue-memory`: the same with `MemoryStore` (the cost of awaiting an event-loop turn per
//!   message, without any disk).
//!
//! A warm-up round (every case once with a tenth of the messages) comes first and is not
//! counted. Each store starts empty, in a fresh file in a temporary directory (on the machine's
//! disk, not a tmpfs: `TMPDIR` decides). Every repetition runs every case once per QoS,
//! interleaved, the first case rotating from one repetition to the next; the table gives
//! medians. For every run the bench records: client CPU (utime and stime of this process,
//! `/proc/self/stat`) and Mosquitto's (`/proc/<pid>/stat`), the bytes this process handed to
//! `write(2)` (`wchar`) and caused to be written to the storage layer (`write_bytes`) from
//! `/proc/self/io`, the store commits that had changes and the time spent in them (counted by a
//! wrapper around the store), and the load average at its start and end. The store's share of
//! `wchar` is the case's `wchar` minus the `memory` case's (the socket traffic, identical in all
//! cases; Tokio's eventfd wake-ups add a few bytes either way).
//!
//! Before starting, the full run waits (up to `DURABLE_BENCH_PATIENCE_S` seconds, default 300)
//! for the 1-minute load average to drop to `DURABLE_BENCH_MAX_LOAD` (default 1.5): the machine
//! is shared. `DURABLE_BENCH_N`, `DURABLE_BENCH_REPS` and `DURABLE_BENCH_WINDOW` override the
//! message count (50,000), the repetitions (7) and the window (20).
//! `DURABLE_BENCH_FILTER=<substring>` runs only the cases whose label contains it
//! (`qos1 file-sync`, `qos2`, `enqueue`; a whole label such as `qos1 file` selects that case
//! alone), for profiling one of them.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use common::{loadavg, median, mosquitto_version, Cpu};
use pigeon_mqtt::packet::PacketId;
use pigeon_mqtt::store::{
    FileStore, MemoryStore, OutgoingStage, SessionStore, StoreError, StoredMessage, StoredSession,
};
use pigeon_mqtt::{Client, ConnectOptions, Message, ProtocolLevel, QoS, ReconnectOptions};
use support::Mosquitto;

/// Messages in flight (the "window 20"; also the crate's default).
const WINDOW: u16 = 20;
const PAYLOAD: usize = 64;
const KEEP_ALIVE: Duration = Duration::from_secs(60);
/// The target for the default durability, as a fraction of the `MemoryStore` rate.
const TARGET: f64 = 0.5;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
    let n = env("DURABLE_BENCH_N").map_or(if full { 50_000 } else { 1_000 }, |v| v as usize);
    let reps = env("DURABLE_BENCH_REPS").map_or(if full { 7 } else { 1 }, |v| v as usize);
    let window = env("DURABLE_BENCH_WINDOW").map_or(WINDOW, |v| v as u16);
    let filter = std::env::var("DURABLE_BENCH_FILTER").unwrap_or_default();
    // A filter that is a whole label ("qos1 file") selects that case alone, not its longer
    // namesakes ("qos1 file-sync").
    let exact = [1, 2].iter().any(|q| {
        Case::ALL
            .iter()
            .any(|c| format!("qos{q} {}", c.label()) == filter)
    });
    let wanted = |label: &str| {
        if exact {
            label == filter
        } else {
            label.contains(filter.as_str())
        }
    };

    let waited = if full {
        wait_for_quiet(
            env("DURABLE_BENCH_MAX_LOAD").unwrap_or(1.5),
            Duration::from_secs_f64(env("DURABLE_BENCH_PATIENCE_S").unwrap_or(300.0)),
        )
    } else {
        Duration::ZERO
    };

    let broker = Mosquitto::builder().debug_log(false).build();
    let port = broker.port();
    let broker_pid = broker.pid().expect("mosquitto is running").to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-durable")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::Builder::new()
        .prefix("pigeon-durable-bench-")
        .tempdir()
        .expect("temporary directory for the stores");
    eprintln!(
        "mosquitto on port {port}; stores in {} ({}); {n} messages x {reps} reps",
        dir.path().display(),
        filesystem(dir.path())
    );
    let started = Instant::now();
    let load_before = loadavg();

    // One short run of every case first, not counted: the first runs of a process were up to a
    // third slower (cold caches, the allocator growing, SQLite's first files).
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for case in Case::ALL {
            if !wanted(&format!("qos{} {}", qos as u8, case.label())) {
                continue;
            }
            let path = dir
                .path()
                .join(format!("warmup-q{}-{}.db", qos as u8, case.label()));
            rt.block_on(rt.spawn(run(
                case,
                qos,
                port,
                (n / 10).max(100),
                window,
                path,
                broker_pid.clone(),
            )))
            .expect("warm-up task");
        }
    }

    let mut samples: Vec<Sample> = Vec::new();
    for rep in 0..reps {
        for (q, qos) in [QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate() {
            for case in Case::rotation(rep + q) {
                let label = format!("qos{} {}", qos as u8, case.label());
                if !wanted(&label) {
                    continue;
                }
                let path = dir
                    .path()
                    .join(format!("r{rep}-q{}-{}.db", qos as u8, case.label()));
                let sample = rt
                    .block_on(rt.spawn(run(case, qos, port, n, window, path, broker_pid.clone())))
                    .expect("bench task");
                eprintln!(
                    "rep {rep} {label:<22} {:>8.0} msg/s  cpu {:>6.2} us/msg  broker {:>6.2} us/msg  wchar {:>6.0} B/msg  \
                     write_bytes {:>6.0} B/msg  {:>5.1} msg/commit  commit {:>6.2} us/msg  \
                     load {} -> {}",
                    sample.rate(),
                    sample.cpu_us(),
                    sample.broker_cpu_us(),
                    sample.per_msg(sample.io.wchar),
                    sample.per_msg(sample.io.write_bytes),
                    sample.msgs_per_commit(),
                    sample.commit_us(),
                    sample.load.0,
                    sample.load.1,
                );
                samples.push(sample);
            }
        }
    }

    println!();
    println!(
        "pigeon-mqtt durable publish, {} ({reps} reps x {n} messages, window {window}, {:.0} s), \
         mosquitto {}, {} CPUs, stores on {}",
        if full { "full run" } else { "smoke run" },
        started.elapsed().as_secs_f64(),
        mosquitto_version(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        filesystem(dir.path()),
    );
    println!(
        "load average (1/5/15 min) before: {load_before} (after waiting {:.0} s), after: {}",
        waited.as_secs_f64(),
        loadavg()
    );
    println!();
    print_table(&samples);
    println!();
    print_runs(&samples);
    drop(broker);
}

// ---- cases ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Memory,
    File,
    FileSync,
    EnqueueFile,
    EnqueueMemory,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::Memory,
        Case::File,
        Case::FileSync,
        Case::EnqueueFile,
        Case::EnqueueMemory,
    ];

    /// Every case, starting at a different one each time (so no case always runs first).
    fn rotation(k: usize) -> impl Iterator<Item = Case> {
        (0..Case::ALL.len()).map(move |i| Case::ALL[(k + i) % Case::ALL.len()])
    }

    fn label(self) -> &'static str {
        match self {
            Case::Memory => "memory",
            Case::File => "file",
            Case::FileSync => "file-sync",
            Case::EnqueueFile => "enqueue-file",
            Case::EnqueueMemory => "enqueue-memory",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Case::Memory => "`MemoryStore` (default), `begin_publish`",
            Case::File => "`FileStore` default durability, `begin_publish`",
            Case::FileSync => "`FileStore` `sync(true)`, `begin_publish`",
            Case::EnqueueFile => "`FileStore` default, `enqueue` awaited per message",
            Case::EnqueueMemory => "`MemoryStore`, `enqueue` awaited per message",
        }
    }

    fn enqueue(self) -> bool {
        matches!(self, Case::EnqueueFile | Case::EnqueueMemory)
    }

    fn file(self) -> bool {
        matches!(self, Case::File | Case::FileSync | Case::EnqueueFile)
    }

    fn store(self, path: &Path) -> Result<Box<dyn SessionStore>, StoreError> {
        Ok(match self {
            Case::Memory | Case::EnqueueMemory => Box::new(MemoryStore::new()),
            Case::File | Case::EnqueueFile => Box::new(FileStore::open(path)?),
            Case::FileSync => Box::new(FileStore::options().sync(true).open(path)?),
        })
    }
}

// ---- one run --------------------------------------------------------------------------------

/// One run of one case.
#[derive(Debug, Clone)]
struct Sample {
    case: Case,
    qos: QoS,
    n: usize,
    elapsed: Duration,
    cpu: Cpu,
    /// Mosquitto's CPU time during the run.
    broker_cpu: Cpu,
    io: Io,
    /// Commits that had changes to write.
    commits: u64,
    /// Time spent in those commits.
    commit_time: Duration,
    /// Load average (1 min) at the start and the end of the run.
    load: (String, String),
}

impl Sample {
    fn rate(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64()
    }

    fn per_msg(&self, total: u64) -> f64 {
        total as f64 / self.n as f64
    }

    fn cpu_us(&self) -> f64 {
        (self.cpu.user + self.cpu.sys).as_secs_f64() * 1e6 / self.n as f64
    }

    fn broker_cpu_us(&self) -> f64 {
        (self.broker_cpu.user + self.broker_cpu.sys).as_secs_f64() * 1e6 / self.n as f64
    }

    fn msgs_per_commit(&self) -> f64 {
        if self.commits == 0 {
            f64::NAN
        } else {
            self.n as f64 / self.commits as f64
        }
    }

    fn commit_us(&self) -> f64 {
        self.commit_time.as_secs_f64() * 1e6 / self.n as f64
    }
}

fn next_id() -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    format!(
        "bench-durable-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

async fn run(
    case: Case,
    qos: QoS,
    port: u16,
    n: usize,
    window: u16,
    path: std::path::PathBuf,
    broker_pid: String,
) -> Sample {
    let stats = Arc::new(CommitStats::default());
    let store = Counted {
        inner: case.store(&path).expect("open the store"),
        dirty: false,
        stats: stats.clone(),
    };
    let opts = ConnectOptions::new("127.0.0.1", port)
        .protocol(ProtocolLevel::V3_1_1)
        .client_id(next_id())
        .clean_start(false)
        .keep_alive(KEEP_ALIVE)
        .max_inflight(window)
        .reconnect(ReconnectOptions::disabled());
    let (client, mut eventloop) = Client::with_store(opts, Box::new(store)).expect("with_store");
    eventloop.connect().await.expect("connect to mosquitto");
    let eventloop = tokio::spawn(eventloop.run());
    let topic = format!("bench/durable/{}/{}", case.label(), qos as u8);
    let payload = Bytes::from(vec![0xA5; PAYLOAD]);
    let message = || {
        Message::new(topic.as_str(), payload.clone())
            .expect("topic")
            .qos(qos)
    };

    let load0 = loadavg1();
    let (commits0, commit_ns0) = stats.read();
    let io0 = Io::now();
    let cpu0 = Cpu::now();
    let broker0 = Cpu::of(&broker_pid);
    let t0 = Instant::now();
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let token = if case.enqueue() {
            client.enqueue(message()).await.expect("enqueue").token
        } else {
            client
                .begin_publish(message())
                .await
                .expect("begin_publish")
        };
        tokens.push(token);
    }
    for token in tokens {
        token.await.expect("publish acknowledged");
    }
    let elapsed = t0.elapsed();
    let cpu = Cpu::now().since(cpu0);
    let broker_cpu = Cpu::of(&broker_pid).since(broker0);
    let io = Io::now().since(io0);
    let (commits1, commit_ns1) = stats.read();
    let load1 = loadavg1();

    client.disconnect().await.expect("disconnect");
    eventloop
        .await
        .expect("event loop task")
        .expect("event loop");
    if case.file() {
        // Every message was acknowledged: the store must have forgotten all of them.
        let left = FileStore::open(&path)
            .and_then(|mut s| s.load())
            .expect("reopen the store");
        assert!(
            left.outgoing.is_empty(),
            "{} messages left in the store after a complete run",
            left.outgoing.len()
        );
    }
    Sample {
        case,
        qos,
        n,
        elapsed,
        cpu,
        broker_cpu,
        io,
        commits: commits1 - commits0,
        commit_time: Duration::from_nanos(commit_ns1 - commit_ns0),
        load: (load0, load1),
    }
}

// ---- a store that counts its commits --------------------------------------------------------

#[derive(Debug, Default)]
struct CommitStats {
    commits: AtomicU64,
    nanos: AtomicU64,
}

impl CommitStats {
    fn read(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.nanos.load(Ordering::Relaxed),
        )
    }
}

/// Passes everything to the store inside, counting the commits that have something to write
/// and timing them. The same wrapper is around every case's store.
struct Counted {
    inner: Box<dyn SessionStore>,
    dirty: bool,
    stats: Arc<CommitStats>,
}

impl SessionStore for Counted {
    fn put_outgoing(&mut self, seq: u64, message: &StoredMessage) {
        self.dirty = true;
        self.inner.put_outgoing(seq, message);
    }

    fn set_stage(&mut self, seq: u64, stage: OutgoingStage) {
        self.dirty = true;
        self.inner.set_stage(seq, stage);
    }

    fn remove_outgoing(&mut self, seq: u64) {
        self.dirty = true;
        self.inner.remove_outgoing(seq);
    }

    fn put_incoming_qos2(&mut self, id: PacketId) {
        self.dirty = true;
        self.inner.put_incoming_qos2(id);
    }

    fn remove_incoming_qos2(&mut self, id: PacketId) {
        self.dirty = true;
        self.inner.remove_incoming_qos2(id);
    }

    fn set_next_packet_id(&mut self, id: PacketId) {
        self.dirty = true;
        self.inner.set_next_packet_id(id);
    }

    fn set_next_message_id(&mut self, seq: u64) {
        self.dirty = true;
        self.inner.set_next_message_id(seq);
    }

    fn clear(&mut self) {
        self.dirty = true;
        self.inner.clear();
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if !self.dirty {
            return self.inner.commit();
        }
        let t = Instant::now();
        let result = self.inner.commit();
        let nanos = t.elapsed().as_nanos() as u64;
        self.stats.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.dirty = result.is_err();
        result
    }

    fn load(&mut self) -> Result<StoredSession, StoreError> {
        self.inner.load()
    }
}

// ---- the tables -----------------------------------------------------------------------------

fn print_table(samples: &[Sample]) {
    println!(
        "| QoS | case | msgs/s (median) | ratio to `memory` | paired ratios min-max | \
         client CPU µs/msg (user + sys) | broker CPU µs/msg | store B/msg to `write(2)` | `write_bytes` B/msg | \
         msgs per commit | µs per commit | commit µs/msg |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let of = |case: Case| -> Vec<&Sample> {
            samples
                .iter()
                .filter(|s| s.case == case && s.qos == qos)
                .collect()
        };
        let memory = of(Case::Memory);
        let memory_rate = median(memory.iter().map(|s| s.rate()));
        let memory_wchar = median(memory.iter().map(|s| s.per_msg(s.io.wchar)));
        for case in Case::ALL {
            let runs = of(case);
            if runs.is_empty() {
                continue;
            }
            let rate = median(runs.iter().map(|s| s.rate()));
            // Each run against the `memory` run of the same repetition.
            let paired: Vec<f64> = runs
                .iter()
                .zip(&memory)
                .map(|(s, m)| s.rate() / m.rate())
                .collect();
            let (lo, hi) = paired
                .iter()
                .fold((f64::INFINITY, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            let ratio = rate / memory_rate;
            let paired = if paired.is_empty() {
                "-".to_owned()
            } else {
                format!("{lo:.2}-{hi:.2}")
            };
            let verdict = if ratio.is_nan() {
                " (no `memory` runs)"
            } else if case == Case::File {
                if ratio >= TARGET {
                    " (target >= 0.5: met)"
                } else {
                    " (target >= 0.5: **missed**)"
                }
            } else {
                ""
            };
            let user = median(
                runs.iter()
                    .map(|s| s.cpu.user.as_secs_f64() * 1e6 / s.n as f64),
            );
            let sys = median(
                runs.iter()
                    .map(|s| s.cpu.sys.as_secs_f64() * 1e6 / s.n as f64),
            );
            let store_bytes = median(runs.iter().map(|s| s.per_msg(s.io.wchar))) - memory_wchar;
            println!(
                "| {} | {} | {:.0} | {:.2}{verdict} | {paired} | {:.1} ({:.1} + {:.1}) | {:.1} | {:.0} | \
                 {:.0} | {:.1} | {:.0} | {:.2} |",
                qos as u8,
                case.description(),
                rate,
                ratio,
                median(runs.iter().map(|s| s.cpu_us())),
                user,
                sys,
                median(runs.iter().map(|s| s.broker_cpu_us())),
                store_bytes,
                median(runs.iter().map(|s| s.per_msg(s.io.write_bytes))),
                median(runs.iter().map(|s| s.msgs_per_commit())),
                median(runs.iter().map(|s| s.commit_us() * s.msgs_per_commit())),
                median(runs.iter().map(|s| s.commit_us())),
            );
        }
    }
}

fn print_runs(samples: &[Sample]) {
    println!("Runs in order (msgs/s, 1-minute load average at start -> end):");
    println!();
    for s in samples {
        println!(
            "- QoS {} {:<14} {:>7.0} msgs/s, load {} -> {}",
            s.qos as u8,
            s.case.label(),
            s.rate(),
            s.load.0,
            s.load.1
        );
    }
}

// ---- measurement helpers --------------------------------------------------------------------

/// I/O counters of this process from `/proc/self/io`.
#[derive(Debug, Clone, Copy)]
struct Io {
    /// Bytes handed to `write(2)` and friends, sockets included.
    wchar: u64,
    /// Bytes this process caused to be sent to the storage layer (page cache pages dirtied).
    write_bytes: u64,
}

impl Io {
    fn now() -> Io {
        let text = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/self/io"))
        };
        Io {
            wchar: field("wchar:"),
            write_bytes: field("write_bytes:"),
        }
    }

    fn since(self, earlier: Io) -> Io {
        Io {
            wchar: self.wchar - earlier.wchar,
            write_bytes: self.write_bytes - earlier.write_bytes,
        }
    }
}

/// The 1-minute load average.
fn loadavg1() -> String {
    loadavg()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

/// Waits (up to `patience`) until the 1-minute load average is at most `max`: other builds share
/// the machine. Returns how long it waited.
fn wait_for_quiet(max: f64, patience: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let load: f64 = loadavg1().parse().unwrap_or(0.0);
        if load <= max {
            break;
        }
        if start.elapsed() >= patience {
            eprintln!(
                "load average {load} still above {max} after {:.0} s: running anyway",
                patience.as_secs_f64()
            );
            break;
        }
        eprintln!("load average {load} > {max}: waiting for a quieter moment");
        std::thread::sleep(Duration::from_secs(10));
    }
    start.elapsed()
}

/// The file system type of `path` (`df --output=fstype`), to tell a disk from a tmpfs.
fn filesystem(path: &Path) -> String {
    Command::new("df")
        .args(["--output=fstype,source"])
        .arg(path)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" on "))
        })
        .unwrap_or_else(|| "?".to_owned())
}
