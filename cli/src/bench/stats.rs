//! Counters shared by the connection tasks, latency histograms, and the final report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::limits::{FdBudget, Memory};

/// Latencies in microseconds, from 1 µs to 10 minutes with 3 significant digits.
#[derive(Debug)]
pub struct Latency(Mutex<Option<Histogram<u64>>>);

impl Latency {
    /// An empty histogram.
    pub fn new() -> Latency {
        // hdrhistogram refuses only bounds or a precision out of its range; these are in it.
        Latency(Mutex::new(
            Histogram::new_with_bounds(1, 600_000_000, 3).ok(),
        ))
    }

    /// Records one latency (values beyond the range count as the maximum).
    pub fn record(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Some(h) = self.lock().as_mut() {
            h.saturating_record(micros);
        }
    }

    /// Percentiles so far; `None` before the first sample.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let guard = self.lock();
        let h = guard.as_ref()?;
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Histogram<u64>>> {
        // A panic elsewhere while the lock was held cannot leave a histogram half-updated in a
        // way that matters for a report.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Percentiles {
    fn json(&self) -> Value {
        json!({
            "count": self.count,
            "p50_ms": round3(self.p50_ms),
            "p90_ms": round3(self.p90_ms),
            "p99_ms": round3(self.p99_ms),
            "max_ms": round3(self.max_ms),
            "mean_ms": round3(self.mean_ms),
        })
    }

    fn text(&self) -> String {
        format!(
            "p50 {} ms, p90 {} ms, p99 {} ms, max {} ms ({} samples)",
            round3(self.p50_ms),
            round3(self.p90_ms),
            round3(self.p99_ms),
            round3(self.max_ms),
            self.count
        )
    }
}

/// What every connection task updates.
#[derive(Debug)]
pub struct Counters {
    /// When the bench started; message timestamps below are relative to it.
    pub start: Instant,
    /// Connections that got CONNACK Success.
    pub connected: AtomicU64,
    /// First connections that failed.
    pub failed: AtomicU64,
    /// Connections lost after they were made (the client reconnects).
    pub lost: AtomicU64,
    /// Connection tasks still running.
    pub running: AtomicU64,
    /// Time from the start of each attempt to its CONNACK.
    pub connect_latency: Latency,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Messages handed to the clients.
    pub sent: AtomicU64,
    /// Messages done at their QoS (written, PUBACK, PUBCOMP).
    pub acked: AtomicU64,
    /// Messages that failed.
    pub publish_failed: AtomicU64,
    /// Subscriptions acknowledged.
    pub subscribed: AtomicU64,
    /// Subscriptions refused or failed.
    pub subscribe_failed: AtomicU64,
    /// Messages received.
    pub received: AtomicU64,
    /// Payload bytes received.
    pub received_bytes: AtomicU64,
    /// Publish-to-acknowledgement latency (`bench pub`) or publish-to-receipt latency from the
    /// payload's timestamp (`bench sub`).
    pub latency: Latency,
    /// Publishers that have sent everything they were asked to.
    pub publishers_done: AtomicU64,
    /// Set to stop launching connections (Ctrl-C).
    pub stop: AtomicBool,
    settled_ns: AtomicU64,
    first_message_ns: AtomicU64,
    last_message_ns: AtomicU64,
}

impl Counters {
    /// All zero, starting now.
    pub fn new() -> Counters {
        Counters {
            start: Instant::now(),
            connected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            running: AtomicU64::new(0),
            connect_latency: Latency::new(),
            errors: Mutex::new(BTreeMap::new()),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            publish_failed: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
            subscribe_failed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            latency: Latency::new(),
            publishers_done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            settled_ns: AtomicU64::new(0),
            first_message_ns: AtomicU64::new(u64::MAX),
            last_message_ns: AtomicU64::new(0),
        }
    }

    /// Counts an error by its message (the report lists each distinct one).
    pub fn error(&self, message: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.entry(message).or_insert(0) += 1;
    }

    /// Notes that a message was sent or received now, for the message rate.
    pub fn message_at(&self, at: Instant) {
        let ns = self.since_start(at);
        self.first_message_ns.fetch_min(ns, Ordering::Relaxed);
        self.last_message_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Notes that a connection attempt had its outcome now.
    pub fn settled_at(&self, at: Instant) {
        self.settled_ns
            .fetch_max(self.since_start(at), Ordering::Relaxed);
    }

    /// Time from the start to the last connection attempt's outcome.
    pub fn connect_elapsed(&self) -> Duration {
        Duration::from_nanos(self.settled_ns.load(Ordering::Relaxed))
    }

    /// Connection attempts that have had their outcome.
    pub fn settled(&self) -> u64 {
        Counters::get(&self.connected) + Counters::get(&self.failed)
    }

    fn since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Time from the first to the last message.
    pub fn message_span(&self) -> Duration {
        let first = self.first_message_ns.load(Ordering::Relaxed);
        let last = self.last_message_ns.load(Ordering::Relaxed);
        Duration::from_nanos(last.saturating_sub(first))
    }

    /// Every error message with its count.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Shorthand for a relaxed load.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

/// The final report of a bench.
#[derive(Debug)]
pub struct Report {
    /// `conn`, `pub` or `sub`.
    pub command: &'static str,
    /// The open-file budget found at the start.
    pub budget: FdBudget,
    /// Connections asked for.
    pub requested: u64,
    /// Connections made.
    pub made: u64,
    /// First connections that failed.
    pub failed: u64,
    /// Connections lost later.
    pub lost: u64,
    /// Time until every connection attempt had its outcome.
    pub connect_elapsed: Duration,
    /// Connect latency.
    pub connect_latency: Option<Percentiles>,
    /// Errors by message.
    pub errors: BTreeMap<String, u64>,
    /// Message counts (`pub`, `sub`).
    pub messages: Option<MessageStats>,
    /// Publish latency (`pub`: until acknowledged; `sub`: from the payload's timestamp).
    pub latency: Option<Percentiles>,
    /// Own memory before connecting and once connected.
    pub memory: Option<(Memory, Memory)>,
    /// The broker's memory before and after, with its pid.
    pub broker_memory: Option<(u32, Memory, Memory)>,
}

/// Messages of a `pub` or `sub` bench.
#[derive(Debug, Clone, Copy)]
pub struct MessageStats {
    /// Sent (`pub`).
    pub sent: u64,
    /// Acknowledged (`pub`).
    pub acked: u64,
    /// Failed (`pub`).
    pub failed: u64,
    /// Subscriptions acknowledged (`sub`).
    pub subscribed: u64,
    /// Subscriptions refused (`sub`).
    pub subscribe_failed: u64,
    /// Received (`sub`).
    pub received: u64,
    /// Time from the first to the last message.
    pub elapsed: Duration,
}

impl MessageStats {
    /// Completed messages (acknowledged or received) per second.
    pub fn per_second(&self) -> f64 {
        rate(self.acked.max(self.received), self.elapsed)
    }
}

impl Report {
    /// Connections made per second of the connect phase.
    pub fn connections_per_second(&self) -> f64 {
        rate(self.made, self.connect_elapsed)
    }

    /// KiB of VmRSS and RssAnon per connection made.
    pub fn memory_per_connection(&self) -> Option<(f64, Option<f64>)> {
        let (before, after) = self.memory?;
        per_connection(before, after, self.made)
    }

    /// KiB of the broker's VmRSS and RssAnon per connection made.
    pub fn broker_memory_per_connection(&self) -> Option<(f64, Option<f64>)> {
        let (_, before, after) = self.broker_memory?;
        per_connection(before, after, self.made)
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        let memory = |m: Option<(Memory, Memory)>, per: Option<(f64, Option<f64>)>| {
            m.map(|(before, after)| {
                json!({
                    "rss_before_kib": before.rss_kib,
                    "rss_after_kib": after.rss_kib,
                    "rss_anon_before_kib": before.anon_kib,
                    "rss_anon_after_kib": after.anon_kib,
                    "per_connection_kib": per.map(|p| round1(p.0)),
                    "anon_per_connection_kib": per.and_then(|p| p.1).map(round1),
                })
            })
        };
        let mut broker = memory(
            self.broker_memory.map(|(_, b, a)| (b, a)),
            self.broker_memory_per_connection(),
        );
        if let (Some(Value::Object(obj)), Some((pid, _, _))) = (&mut broker, self.broker_memory) {
            obj.insert("pid".into(), json!(pid));
        }
        json!({
            "command": self.command,
            "fd_limit": {
                "soft": self.budget.soft,
                "hard": self.budget.hard,
                "in_use_at_start": self.budget.in_use,
                "max_connections": self.budget.connections,
            },
            "connections": {
                "requested": self.requested,
                "made": self.made,
                "failed": self.failed,
                "lost": self.lost,
                "elapsed_s": round3(self.connect_elapsed.as_secs_f64()),
                "per_second": round1(self.connections_per_second()),
                "latency": self.connect_latency.map(|p| p.json()),
            },
            "errors": self.errors,
            "messages": self.messages.map(|m| json!({
                "sent": m.sent,
                "acked": m.acked,
                "failed": m.failed,
                "subscribed": m.subscribed,
                "subscribe_failed": m.subscribe_failed,
                "received": m.received,
                "elapsed_s": round3(m.elapsed.as_secs_f64()),
                "per_second": round1(m.per_second()),
            })),
            "latency": self.latency.map(|p| p.json()),
            "memory": memory(self.memory, self.memory_per_connection()),
            "broker_memory": broker,
        })
    }

    /// The report as text lines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "connections: {} made, {} failed (of {}) in {:.2} s: {:.0} connections/s{}",
            self.made,
            self.failed,
            self.requested,
            self.connect_elapsed.as_secs_f64(),
            self.connections_per_second(),
            if self.lost > 0 {
                format!("; {} lost later", self.lost)
            } else {
                String::new()
            }
        ));
        if let Some(p) = &self.connect_latency {
            line(format!("connect latency: {}", p.text()));
        }
        for (error, n) in &self.errors {
            line(format!("error ({n}x): {error}"));
        }
        if let Some(m) = &self.messages {
            match self.command {
                "pub" => line(format!(
                    "messages: {} sent, {} acknowledged, {} failed in {:.2} s: {:.0} msg/s",
                    m.sent,
                    m.acked,
                    m.failed,
                    m.elapsed.as_secs_f64(),
                    m.per_second()
                )),
                _ => line(format!(
                    "subscriptions: {} acknowledged, {} refused; messages: {} received in {:.2} s: {:.0} msg/s",
                    m.subscribed,
                    m.subscribe_failed,
                    m.received,
                    m.elapsed.as_secs_f64(),
                    m.per_second()
                )),
            }
        }
        if let Some(p) = &self.latency {
            let what = if self.command == "pub" {
                "publish latency (until acknowledged)"
            } else {
                "message latency (publish to receipt)"
            };
            line(format!("{what}: {}", p.text()));
        }
        if let (Some((before, after)), Some((rss, anon))) =
            (self.memory, self.memory_per_connection())
        {
            let anon = anon
                .map(|a| format!("{a:.1} KiB RssAnon (heap and stacks), "))
                .unwrap_or_default();
            line(format!(
                "memory per connection: {anon}{rss:.1} KiB VmRSS (VmRSS {} -> {} KiB)",
                before.rss_kib, after.rss_kib
            ));
        }
        if let (Some((pid, before, after)), Some((rss, _))) =
            (self.broker_memory, self.broker_memory_per_connection())
        {
            line(format!(
                "broker memory per connection (pid {pid}): {rss:.1} KiB VmRSS (VmRSS {} -> {} KiB)",
                before.rss_kib, after.rss_kib
            ));
        }
        out
    }
}

fn per_connection(before: Memory, after: Memory, made: u64) -> Option<(f64, Option<f64>)> {
    if made == 0 {
        return None;
    }
    let per = |b: u64, a: u64| a.saturating_sub(b) as f64 / made as f64;
    let anon = match (before.anon_kib, after.anon_kib) {
        (Some(b), Some(a)) => Some(per(b, a)),
        _ => None,
    };
    Some((per(before.rss_kib, after.rss_kib), anon))
}

fn rate(n: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered() {
        let l = Latency::new();
        assert!(l.percentiles().is_none());
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        let p = l.percentiles().unwrap();
        assert_eq!(p.count, 100);
        assert!((49.0..=51.0).contains(&p.p50_ms), "{p:?}");
        assert!(p.p50_ms <= p.p90_ms && p.p90_ms <= p.p99_ms && p.p99_ms <= p.max_ms);
        assert!((99.0..=101.0).contains(&p.max_ms), "{p:?}");
    }

    #[test]
    fn memory_per_connection_divides_the_growth() {
        let before = Memory {
            rss_kib: 1000,
            anon_kib: Some(500),
        };
        let after = Memory {
            rss_kib: 2000,
            anon_kib: Some(1300),
        };
        assert_eq!(per_connection(before, after, 100), Some((10.0, Some(8.0))));
        assert_eq!(per_connection(before, after, 0), None);
    }
}
