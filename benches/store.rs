//! Session store commit throughput: `FileStore` (default durability, and `sync(true)`) against
//! `MemoryStore`, at K = 1, 20 and 100 messages per commit.
//!
//! Run with `cargo bench --features file-store --bench store` (about a minute). Under
//! `cargo test --benches` each case runs once, as a smoke test. Results: `benches/STORE_RESULTS.md`.
//!
//! One iteration is one event-loop turn as the engine would make it with K messages: K new
//! messages of 150 B payload put (stage `Sent`, 5.0 PUBLISH with a user property), the K of the
//! previous turn removed (acknowledged), then one `commit`. The store holds up to 2K messages.
//! `Throughput::Elements(K)`: criterion reports messages per second; commits per second are
//! that divided by K. After criterion, the bytes each store handed to `write(2)` per message
//! (`wchar` of `/proc/self/io`) are measured over 2,000 messages per case and printed.

use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use pigeon_mqtt::packet::{MqttString, PacketId, Properties, Property, Publish, QosPid};
use pigeon_mqtt::store::{FileStore, MemoryStore, OutgoingStage, SessionStore, StoredMessage};
use pigeon_mqtt::topic::TopicName;

const PER_COMMIT: [u64; 3] = [1, 20, 100];

/// A store under test, and the turns it has taken.
struct Bench {
    store: Box<dyn SessionStore>,
    next: u64,
    message: StoredMessage,
    _dir: Option<tempfile::TempDir>,
}

impl Bench {
    fn new(kind: &str) -> Bench {
        let (store, dir): (Box<dyn SessionStore>, _) = match kind {
            "memory" => (Box::new(MemoryStore::new()), None),
            "file" | "file-sync" => {
                let dir = tempfile::tempdir().unwrap();
                let store = FileStore::options()
                    .sync(kind == "file-sync")
                    .open(dir.path().join("bench.db"))
                    .unwrap();
                (Box::new(store), Some(dir))
            }
            other => panic!("unknown store {other}"),
        };
        let mut publish = Publish::new(
            TopicName::new("bench/sensor/42").unwrap(),
            Bytes::from(vec![0xA5; 150]),
        );
        publish.properties = Properties::new().with(Property::UserProperty(
            MqttString::from_static("unit"),
            MqttString::from_static("celsius"),
        ));
        Bench {
            store,
            next: 0,
            message: StoredMessage {
                publish,
                stage: OutgoingStage::Queued,
            },
            _dir: dir,
        }
    }

    /// One turn: K puts, the previous turn's K removals, one commit.
    fn turn(&mut self, k: u64) {
        for seq in self.next..self.next + k {
            let id = PacketId::new((seq % 65_535 + 1) as u16).unwrap();
            self.message.publish.qos = QosPid::AtLeastOnce(id);
            self.message.stage = OutgoingStage::Sent(id);
            self.store.put_outgoing(seq, &self.message);
            if seq >= k {
                self.store.remove_outgoing(seq - k);
            }
        }
        self.next += k;
        self.store.commit().unwrap();
    }
}

fn commits(c: &mut Criterion) {
    for k in PER_COMMIT {
        let mut group = c.benchmark_group(format!("store commit, {k} per commit"));
        group
            .throughput(Throughput::Elements(k))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        for kind in ["memory", "file", "file-sync"] {
            let mut bench = Bench::new(kind);
            group.bench_function(BenchmarkId::from_parameter(kind), |b| {
                b.iter(|| bench.turn(k))
            });
        }
        group.finish();
    }
}

fn wchar() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes handed to `write(2)` per message, over 2,000 messages (after a warm-up turn).
fn bytes_written() {
    println!("\nbytes written per message (wchar of /proc/self/io over 2,000 messages)");
    for k in PER_COMMIT {
        for kind in ["file", "file-sync"] {
            let mut bench = Bench::new(kind);
            bench.turn(k);
            let before = wchar();
            let turns = 2_000 / k;
            for _ in 0..turns {
                bench.turn(k);
            }
            let per = (wchar() - before) as f64 / (turns * k) as f64;
            println!("  {kind:9} K={k:3}: {per:7.0} B/message");
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    commits(&mut c);
    c.final_summary();
    bytes_written();
}
