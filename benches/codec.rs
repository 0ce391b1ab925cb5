//! Codec throughput: pigeon-mqtt against rumqttc 0.25 (`mqttbytes::v4` for 3.1.1,
//! `v5::mqttbytes::v5` for 5.0), in packets per second.
//!
//! Run with `cargo bench --bench codec` (about 4 minutes on 2 cores). The ratio of a case is
//! rumqttc's mean time per packet over pigeon's, from `target/criterion/<group>/<function>/new/
//! estimates.json`; `benches/RESULTS.md` has the latest table.
//!
//! Every case (PUBLISH QoS 1 with 64 B / 1 KiB / 64 KiB payloads, CONNECT, SUBSCRIBE with 10
//! filters), at each level (3.1.1, 5.0) and in each direction (encode, decode), is one criterion
//! group holding both libraries, so the ratio comes from one run on one machine state. The setup
//! asserts that both libraries write the very same bytes for the packet and that both decoders
//! accept them (pigeon giving back the packet it encoded), so both sides do the same job.
//!
//! What is timed, and why it is fair to both:
//!
//! * Encode: the packet value is built once, outside the timing. Each iteration clears one
//!   reused `BytesMut` (its capacity stays, so neither side pays for growing it after the first
//!   iteration) and appends the whole packet to it. pigeon goes through its public entry point
//!   `codec::encode(&Packet, level, max_packet_size, &mut BytesMut)`, which also validates the
//!   packet (field lengths, maximum packet size, properties allowed in the context, no duplicate,
//!   non-empty topic); rumqttc goes through the packet's own `write(&self, &mut BytesMut)`, its
//!   leanest path (no size check). Both copy the payload into the buffer, so the 1 KiB and
//!   64 KiB PUBLISH are dominated by that memcpy on both sides.
//! * `pigeon_without_payload` (encode groups of PUBLISH only): pigeon's `encode_without_payload`,
//!   what its event loop uses for large payloads: the header goes into the buffer and the payload
//!   `Bytes` is handed back (one reference count increment, and its decrement when it is dropped
//!   inside the timing) for a vectored write. rumqttc has no such path, so this is not the same
//!   work as rumqttc's `write` and is reported apart from the plain encode ratio.
//! * Decode: both decoders take a `&mut BytesMut`, split one whole packet off its front and keep
//!   the payload (and pigeon the topic too) as zero-copy `Bytes` sharing it. The input is a read
//!   buffer holding back-to-back copies of the packet, as a connection's read buffer does; it is
//!   filled outside the timing (up to ~4 MiB / 1024 packets at a time, with `iter_custom`), the
//!   same way for both, so copying the input (64 KiB per packet for the largest case) never
//!   counts. The timed loop decodes one packet per iteration and drops it, so the allocations
//!   each decoder makes (rumqttc's `String`s, pigeon's `Box`/`Vec`s) are freed inside the timing.
//!   A fresh `BytesMut` per packet would instead add the same allocation (the first `split_to`
//!   of a buffer allocates its shared header) to both sides at every iteration.
//!
//! Measurement: `Throughput::Elements(1)` (packets/s), 500 ms warm-up, 2 s measurement (0.3 s
//! for the 64 KiB decodes, whose input takes far longer to fill than to decode), 30 samples.

use std::hint::black_box;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{criterion_group, Bencher, BenchmarkGroup, Criterion, Throughput};

use pigeon_mqtt::codec::{decode, encode, encode_without_payload, Decoded};
use pigeon_mqtt::packet::{
    Connect, MqttString, Packet, PacketId, Properties, Property, ProtocolLevel, Publish, QoS,
    QosPid, Subscribe, SubscriptionOptions,
};
use pigeon_mqtt::topic::{TopicFilter, TopicName};

use rumqttc::mqttbytes::v4 as r4;
use rumqttc::mqttbytes::QoS as R4QoS;
use rumqttc::v5::mqttbytes::v5 as r5;
use rumqttc::v5::mqttbytes::QoS as R5QoS;

const TOPIC: &str = "sensors/building-1/floor-2/temperature";
const CLIENT_ID: &str = "pigeon-bench-client-0001";
const USERNAME: &str = "device-user";
const PASSWORD: &str = "s3cr3t-passw0rd";
const KEEP_ALIVE: u16 = 30;
const SESSION_EXPIRY: u32 = 3600;
const RECEIVE_MAXIMUM: u16 = 100;
const PKID: u16 = 42;
const MAX: u32 = u32::MAX;

fn filters() -> Vec<String> {
    (0..10)
        .map(|i| match i % 3 {
            0 => format!("sensors/building-{i}/+/temperature"),
            1 => format!("sensors/building-{i}/floor-{i}/#"),
            _ => format!("alerts/building-{i}/floor-{i}/smoke"),
        })
        .collect()
}

fn level_name(level: ProtocolLevel) -> &'static str {
    if level.is_v5() {
        "5.0"
    } else {
        "3.1.1"
    }
}

/// A packet in both libraries' models, and how rumqttc writes and reads it.
struct Case {
    name: String,
    level: ProtocolLevel,
    pigeon: Packet,
    rumqttc_write: Box<dyn Fn(&mut BytesMut)>,
    rumqttc_read: fn(&mut BytesMut),
}

fn rumqttc_read_v4(buf: &mut BytesMut) {
    let p = r4::Packet::read(buf, usize::MAX).expect("rumqttc v4 decode");
    black_box(&p);
}

fn rumqttc_read_v5(buf: &mut BytesMut) {
    let p = r5::Packet::read(buf, None).expect("rumqttc v5 decode");
    black_box(&p);
}

fn publish_case(level: ProtocolLevel, size: usize, label: &str) -> Case {
    let payload = Bytes::from(vec![0xA5u8; size]);
    let mut p = Publish::new(TopicName::from_static(TOPIC), payload.clone());
    p.qos = QosPid::AtLeastOnce(PacketId::new(PKID).unwrap());
    let rumqttc_write: Box<dyn Fn(&mut BytesMut)> = if level.is_v5() {
        let mut r = r5::Publish::new(TOPIC, R5QoS::AtLeastOnce, payload, None);
        r.pkid = PKID;
        Box::new(move |buf| {
            r.write(buf).expect("rumqttc v5 encode");
        })
    } else {
        let mut r = r4::Publish::from_bytes(TOPIC, R4QoS::AtLeastOnce, payload);
        r.pkid = PKID;
        Box::new(move |buf| {
            r.write(buf).expect("rumqttc v4 encode");
        })
    };
    Case {
        name: format!("publish_qos1_{label}"),
        level,
        pigeon: Packet::Publish(p),
        rumqttc_write,
        rumqttc_read: if level.is_v5() {
            rumqttc_read_v5
        } else {
            rumqttc_read_v4
        },
    }
}

fn connect_case(level: ProtocolLevel) -> Case {
    let mut c = Connect::new(level, MqttString::from_static(CLIENT_ID));
    c.keep_alive = KEEP_ALIVE;
    c.clean_start = true;
    c.username = Some(MqttString::from_static(USERNAME));
    c.password = Some(Bytes::from_static(PASSWORD.as_bytes()));
    let rumqttc_write: Box<dyn Fn(&mut BytesMut)> = if level.is_v5() {
        c.properties = Properties::new()
            .with(Property::SessionExpiryInterval(SESSION_EXPIRY))
            .with(Property::ReceiveMaximum(
                NonZeroU16::new(RECEIVE_MAXIMUM).unwrap(),
            ));
        let mut props = r5::ConnectProperties::new();
        props.session_expiry_interval = Some(SESSION_EXPIRY);
        props.receive_maximum = Some(RECEIVE_MAXIMUM);
        let r = r5::Connect {
            keep_alive: KEEP_ALIVE,
            client_id: CLIENT_ID.to_string(),
            clean_start: true,
            properties: Some(props),
        };
        let login = Some(r5::Login::new(USERNAME, PASSWORD));
        Box::new(move |buf| {
            r.write(&None, &login, buf).expect("rumqttc v5 encode");
        })
    } else {
        let mut r = r4::Connect::new(CLIENT_ID);
        r.keep_alive = KEEP_ALIVE;
        r.clean_session = true;
        r.set_login(USERNAME, PASSWORD);
        Box::new(move |buf| {
            r.write(buf).expect("rumqttc v4 encode");
        })
    };
    Case {
        name: "connect".to_string(),
        level,
        pigeon: Packet::Connect(Box::new(c)),
        rumqttc_write,
        rumqttc_read: if level.is_v5() {
            rumqttc_read_v5
        } else {
            rumqttc_read_v4
        },
    }
}

fn subscribe_case(level: ProtocolLevel) -> Case {
    let names = filters();
    let s = Subscribe::new(
        PacketId::new(PKID).unwrap(),
        names
            .iter()
            .map(|f| {
                (
                    TopicFilter::new(f.as_str()).unwrap(),
                    SubscriptionOptions::new(QoS::AtLeastOnce),
                )
            })
            .collect(),
    );
    let rumqttc_write: Box<dyn Fn(&mut BytesMut)> = if level.is_v5() {
        let mut r = r5::Subscribe::new_many(
            names
                .iter()
                .map(|f| r5::Filter::new(f.as_str(), R5QoS::AtLeastOnce)),
            None,
        );
        r.pkid = PKID;
        Box::new(move |buf| {
            r.write(buf).expect("rumqttc v5 encode");
        })
    } else {
        let mut r = r4::Subscribe::new_many(
            names
                .iter()
                .map(|f| r4::SubscribeFilter::new(f.clone(), R4QoS::AtLeastOnce)),
        );
        r.pkid = PKID;
        Box::new(move |buf| {
            r.write(buf).expect("rumqttc v4 encode");
        })
    };
    Case {
        name: "subscribe_10_filters".to_string(),
        level,
        pigeon: Packet::Subscribe(s),
        rumqttc_write,
        rumqttc_read: if level.is_v5() {
            rumqttc_read_v5
        } else {
            rumqttc_read_v4
        },
    }
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
}

/// Encodes with both libraries and checks they agree byte for byte; returns the wire bytes.
fn wire_bytes(case: &Case) -> Bytes {
    let mut ours = BytesMut::new();
    encode(&case.pigeon, case.level, MAX, &mut ours).expect("pigeon encode");
    let mut theirs = BytesMut::new();
    (case.rumqttc_write)(&mut theirs);
    assert_eq!(
        ours,
        theirs,
        "{} at {}: the two libraries disagree on the bytes",
        case.name,
        level_name(case.level)
    );
    // Both decoders must accept them, and pigeon must give back the packet it encoded.
    let mut input = BytesMut::from(&ours[..]);
    match decode(&mut input, case.level, MAX).expect("pigeon decode") {
        Decoded::Packet(p) => assert_eq!(p, case.pigeon),
        Decoded::Incomplete { .. } => panic!("pigeon: incomplete"),
    }
    (case.rumqttc_read)(&mut BytesMut::from(&ours[..]));
    ours.freeze()
}

fn bench_case(c: &mut Criterion, case: &Case) {
    let level = case.level;
    let bytes = wire_bytes(case);

    let mut g = c.benchmark_group(format!("{}/{}/encode", case.name, level_name(level)));
    configure(&mut g);
    let mut buf = BytesMut::with_capacity(bytes.len());
    g.bench_function("pigeon", |b| {
        b.iter(|| {
            buf.clear();
            encode(black_box(&case.pigeon), level, MAX, &mut buf).unwrap();
            black_box(&buf);
        })
    });
    if matches!(case.pigeon, Packet::Publish(_)) {
        g.bench_function("pigeon_without_payload", |b| {
            b.iter(|| {
                buf.clear();
                let payload =
                    encode_without_payload(black_box(&case.pigeon), level, MAX, &mut buf).unwrap();
                black_box((&buf, payload));
            })
        });
    }
    g.bench_function("rumqttc", |b| {
        b.iter(|| {
            buf.clear();
            (case.rumqttc_write)(black_box(&mut buf));
            black_box(&buf);
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("{}/{}/decode", case.name, level_name(level)));
    configure(&mut g);
    if bytes.len() > 16 * 1024 {
        // Filling the read buffer (outside the timing) costs far more than decoding here;
        // a shorter measurement keeps the wall time of the run reasonable.
        g.measurement_time(Duration::from_millis(300));
    }
    g.bench_function("pigeon", |b| {
        decode_stream(b, &bytes, |input| {
            let p = decode(input, level, MAX).unwrap();
            black_box(&p);
        })
    });
    g.bench_function("rumqttc", |b| decode_stream(b, &bytes, case.rumqttc_read));
    g.finish();
}

/// Times `decode_one` over a read buffer holding back-to-back copies of `packet`, as a
/// connection's read buffer does: the buffer is filled outside the timing, and each call splits
/// one packet off its front (and drops what it decoded).
fn decode_stream(b: &mut Bencher<'_>, packet: &Bytes, mut decode_one: impl FnMut(&mut BytesMut)) {
    // At most ~4 MiB of input per buffer, at most 1024 packets.
    let per_buffer = ((4usize << 20) / packet.len()).clamp(16, 1024) as u64;
    b.iter_custom(|iters| {
        let mut elapsed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(per_buffer);
            left -= n;
            let mut input = BytesMut::with_capacity(n as usize * packet.len());
            for _ in 0..n {
                input.extend_from_slice(packet);
            }
            let start = Instant::now();
            for _ in 0..n {
                decode_one(&mut input);
            }
            elapsed += start.elapsed();
            assert!(input.is_empty());
        }
        elapsed
    })
}

fn cases(level: ProtocolLevel) -> [Case; 5] {
    [
        publish_case(level, 64, "64B"),
        publish_case(level, 1024, "1KiB"),
        publish_case(level, 64 * 1024, "64KiB"),
        connect_case(level),
        subscribe_case(level),
    ]
}

fn benches(c: &mut Criterion) {
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        for case in &cases(level) {
            bench_case(c, case);
        }
    }
}

criterion_group!(codec, benches);

/// `CODEC_BENCH_INTERLEAVED=1 cargo bench --bench codec`: instead of criterion, alternates short
/// bursts of pigeon and rumqttc doing the same work as above, 60 rounds, and keeps each side's
/// fastest burst. On a shared machine (other builds running) that ratio moves far less than
/// criterion's means, which take the interference in.
fn interleaved() {
    fn burst(iters: u64, mut f: impl FnMut()) -> f64 {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed().as_nanos() as f64 / iters as f64
    }
    fn decode_burst(packet: &Bytes, n: usize, mut decode_one: impl FnMut(&mut BytesMut)) -> f64 {
        let mut input = BytesMut::with_capacity(n * packet.len());
        for _ in 0..n {
            input.extend_from_slice(packet);
        }
        burst(n as u64, || decode_one(&mut input))
    }
    println!(
        "| case | level | encode: ratio (pigeon / rumqttc ns) | encode_without_payload: ratio \
         | decode: ratio (pigeon / rumqttc ns) |"
    );
    println!("|---|---|---:|---:|---:|");
    // `CODEC_BENCH_FILTER=<substring of "case level">` keeps only the matching cases (for
    // profiling one of them).
    let filter = std::env::var("CODEC_BENCH_FILTER").unwrap_or_default();
    for level in [ProtocolLevel::V3_1_1, ProtocolLevel::V5] {
        for case in &cases(level) {
            if !format!("{} {}", case.name, level_name(level)).contains(filter.as_str()) {
                continue;
            }
            let bytes = wire_bytes(case);
            let mut buf = BytesMut::with_capacity(bytes.len());
            let iters = (2_000_000 / bytes.len().max(64)).clamp(200, 20_000) as u64;
            let n = ((1usize << 20) / bytes.len()).clamp(16, 1024);
            // pigeon encode, pigeon encode_without_payload, rumqttc encode, pigeon decode,
            // rumqttc decode: fastest ns per packet.
            let mut best = [f64::MAX; 5];
            for _ in 0..60 {
                let times = [
                    burst(iters, || {
                        buf.clear();
                        encode(black_box(&case.pigeon), level, MAX, &mut buf).unwrap();
                        black_box(&buf);
                    }),
                    burst(iters, || {
                        buf.clear();
                        let p =
                            encode_without_payload(black_box(&case.pigeon), level, MAX, &mut buf);
                        black_box((&buf, p.unwrap()));
                    }),
                    burst(iters, || {
                        buf.clear();
                        (case.rumqttc_write)(black_box(&mut buf));
                        black_box(&buf);
                    }),
                    decode_burst(&bytes, n, |input| {
                        black_box(decode(input, level, MAX).unwrap());
                    }),
                    decode_burst(&bytes, n, case.rumqttc_read),
                ];
                for (b, t) in best.iter_mut().zip(times) {
                    *b = b.min(t);
                }
            }
            let without = if matches!(case.pigeon, Packet::Publish(_)) {
                format!("{:.2}x", best[2] / best[1])
            } else {
                "-".to_string()
            };
            println!(
                "| {} | {} | {:.2}x ({:.1} / {:.1} ns) | {without} | {:.2}x ({:.1} / {:.1} ns) |",
                case.name,
                level_name(level),
                best[2] / best[0],
                best[0],
                best[2],
                best[4] / best[3],
                best[3],
                best[4],
            );
        }
    }
}

fn main() {
    if std::env::var_os("CODEC_BENCH_INTERLEAVED").is_some() {
        interleaved();
        return;
    }
    codec();
    Criterion::default().configure_from_args().final_summary();
}
