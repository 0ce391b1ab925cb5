//! `pigeon bench` against a private Mosquitto: a short `bench pub` with `bench sub` listening,
//! whose JSON reports must add up; `bench conn` from two local addresses with the broker's
//! memory; and the open-file limit check.

mod support;

use std::process::Stdio;

use serde_json::Value;
use support::{assert_one_line_failure, finish, stdout, wait_subscribed, Mosquitto};

fn report(what: &str, out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: report is not JSON ({e}): {}", stdout(out)))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Percentiles are ordered, positive, and count `n` samples.
fn check_latency(what: &str, l: &Value, n: u64) {
    assert_eq!(u(&l["count"]), n, "{what}: {l}");
    let (p50, p90, p99, max) = (
        f(&l["p50_ms"]),
        f(&l["p90_ms"]),
        f(&l["p99_ms"]),
        f(&l["max_ms"]),
    );
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{what}: {l}"
    );
}

#[test]
fn bench_pub_and_sub_reports_add_up() {
    let broker = Mosquitto::start();
    let port = broker.port().to_string();
    // Two subscribers, each on its own publisher's topic; they stop after 400 messages in all.
    let sub = support::pigeon()
        .args(["bench", "sub", "-h", "127.0.0.1", "-p", &port])
        .args(["-c", "2", "-t", "bench/%i", "-q", "1", "--prefix", "subs-"])
        .args(["--limit", "400", "--duration", "30", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pigeon bench sub");
    wait_subscribed(&broker, "subs-0");
    wait_subscribed(&broker, "subs-1");

    let out = support::pigeon()
        .args(["bench", "pub", "-h", "127.0.0.1", "-p", &port])
        .args([
            "-c", "2", "-t", "bench/%i", "-q", "1", "-I", "0", "--limit", "200",
        ])
        .args(["-s", "64", "--prefix", "pubs-", "--json"])
        .output()
        .expect("run pigeon bench pub");
    let r = report("bench pub", &out);
    assert_eq!(r["command"], "pub");
    let c = &r["connections"];
    assert_eq!(
        (u(&c["requested"]), u(&c["made"]), u(&c["failed"])),
        (2, 2, 0),
        "{r}"
    );
    assert_eq!(u(&c["lost"]), 0, "{r}");
    let m = &r["messages"];
    assert_eq!(
        (u(&m["sent"]), u(&m["acked"]), u(&m["failed"])),
        (400, 400, 0),
        "{r}"
    );
    assert!(f(&m["per_second"]) > 0.0, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    check_latency("bench pub", &r["latency"], 400);
    check_latency("bench pub connect", &c["latency"], 2);
    assert!(u(&r["memory"]["rss_after_kib"]) > 0, "{r}");

    let out = finish(sub);
    let r = report("bench sub", &out);
    assert_eq!(r["command"], "sub");
    let m = &r["messages"];
    assert_eq!(
        (
            u(&m["subscribed"]),
            u(&m["subscribe_failed"]),
            u(&m["received"])
        ),
        (2, 0, 400),
        "{r}"
    );
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    // Every payload carried the publisher's timestamp.
    check_latency("bench sub", &r["latency"], 400);
}

#[test]
fn bench_conn_from_two_local_addresses_with_broker_memory() {
    let broker = Mosquitto::start();
    let pid = broker.pid().expect("broker pid").to_string();
    let out = support::pigeon()
        .args([
            "bench",
            "conn",
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port().to_string(),
        ])
        .args([
            "-c",
            "40",
            "--ifaddr",
            "127.0.0.1,127.0.0.2",
            "--prefix",
            "held-",
        ])
        .args(["--broker-pid", &pid, "--json"])
        .output()
        .expect("run pigeon bench conn");
    let r = report("bench conn", &out);
    let c = &r["connections"];
    assert_eq!(
        (u(&c["made"]), u(&c["failed"]), u(&c["lost"])),
        (40, 0, 0),
        "{r}"
    );
    assert!(f(&c["per_second"]) > 0.0, "{r}");
    assert!(u(&r["fd_limit"]["max_connections"]) >= 40, "{r}");
    assert_eq!(r["broker_memory"]["pid"].to_string(), pid, "{r}");
    assert!(
        u(&r["memory"]["rss_after_kib"]) >= u(&r["memory"]["rss_before_kib"]),
        "{r}"
    );
    // Half of the connections came from 127.0.0.2 (even indexes from .1, odd from .2).
    let log = broker.log();
    for (i, from) in [(0, "127.0.0.1"), (1, "127.0.0.2")] {
        assert!(
            log.lines().any(
                |l| l.contains(&format!("New client connected from {from}:"))
                    && l.contains(&format!(" as held-{i} "))
            ),
            "held-{i} did not come from {from}:\n{log}"
        );
    }
}

#[test]
fn bench_refuses_more_connections_than_the_open_file_limit() {
    let out = support::pigeon()
        .args(["bench", "conn", "-h", "127.0.0.1", "-c", "100000000"])
        .output()
        .expect("run pigeon bench conn");
    let (code, line) = assert_one_line_failure("bench conn -c 100000000", &out);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("open-file limit"), "{line}");
}
