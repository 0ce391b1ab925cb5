//! Runs every example binary against a private Mosquitto (MQTT_URL = the test broker) and checks
//! what it prints. The examples are built once per run with the features of this test binary,
//! so under `cargo test` the build finds them up to date.

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use pigeon_mqtt::{Client, ConnectOptions, Event, ProtocolLevel};
use support::Mosquitto;

/// How long an example that ends by itself may take (a loaded 2-core machine included).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a line from the long-running `subscribe` example.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

#[test]
fn subscribe_prints_connected_then_each_message() {
    let broker = Mosquitto::start();
    let mut example = Running::spawn("subscribe", &broker.url());

    example.wait_for_stdout("Connected with result code Success");
    assert!(
        broker.wait_for_log("Sending SUBACK to", LINE_TIMEOUT),
        "the example did not subscribe; broker log:\n{}",
        broker.log()
    );
    broker.mosquitto_pub(&["-t", "/mq/pub", "-m", r#"{"data":111}"#]);
    example.wait_for_stdout(r#"/mq/pub {"data":111}"#);
    broker.mosquitto_pub(&["-t", "/mq/pub", "-m", "second"]);
    example.wait_for_stdout("/mq/pub second");

    assert_eq!(
        example.stdout().lines().collect::<Vec<_>>(),
        [
            "Connected with result code Success",
            r#"/mq/pub {"data":111}"#,
            "/mq/pub second",
        ],
        "stderr:\n{}",
        example.stderr()
    );
    assert!(example.is_running(), "subscribe runs until killed");
}

#[test]
fn publish_completes_each_qos_and_the_messages_arrive() {
    let broker = Mosquitto::start();
    let sub =
        broker.mosquitto_sub_spawn(&["-i", "watcher", "-C", "3", "-W", "60", "-t", "/mq/pub"]);
    assert!(broker.wait_for_log("Sending SUBACK to watcher", LINE_TIMEOUT));

    let out = run_to_end("publish", &broker.url());
    out.assert_lines(&[
        "QoS 0 complete: written",
        "QoS 1 complete: PUBACK, packet id ",
        "QoS 2 complete: PUBCOMP, packet id ",
        "Disconnected",
    ]);

    let received = sub.wait_with_output().expect("mosquitto_sub");
    assert_eq!(
        String::from_utf8_lossy(&received.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            r#"{"data":111,"qos":0}"#,
            r#"{"data":111,"qos":1}"#,
            r#"{"data":111,"qos":2}"#
        ]
    );
}

#[test]
fn stream_reads_its_messages_then_ends() {
    let broker = Mosquitto::start();
    run_to_end("stream", &broker.url()).assert_lines(&[
        "Subscribed: [GrantedQoS1]",
        "pigeon/stream/kitchen 21.5",
        "pigeon/stream/hall 21.5",
        "pigeon/stream/attic 21.5",
        "Stream ended",
    ]);
}

#[test]
fn blocking_publishes_receives_and_disconnects() {
    let broker = Mosquitto::start();
    run_to_end("blocking", &broker.url()).assert_lines(&[
        "Connected",
        "Subscribed: [GrantedQoS1]",
        "Published 1: Success",
        "Published 2: Success",
        "Published 3: Success",
        "Received pigeon/blocking/1 message 1",
        "Received pigeon/blocking/2 message 2",
        "Received pigeon/blocking/3 message 3",
        "Disconnected",
    ]);
}

#[test]
fn v5_request_response_matches_responses_to_requests() {
    let broker = Mosquitto::start();
    run_to_end("v5_request_response", &broker.url()).assert_lines(&[
        "Request req-1: square of 7",
        "Response req-1: 49",
        "Request req-2: square of 12",
        "Response req-2: 144",
    ]);
}

#[test]
fn will_is_published_when_the_connection_is_dropped() {
    let broker = Mosquitto::start();
    run_to_end("will", &broker.url()).assert_lines(&[
        "Device connection dropped without DISCONNECT",
        "pigeon/will/status online",
        "pigeon/will/status offline",
    ]);
}

#[test]
fn persistent_session_receives_what_was_published_while_away() {
    let broker = Mosquitto::start();
    run_to_end("persistent_session", &broker.url()).assert_lines(&[
        "Subscribed, then disconnected; the broker keeps the session",
        "Published 3 messages while the subscriber was away",
        "Reconnected: session present true",
        "Received while away: pigeon/persistent/1 message 1",
        "Received while away: pigeon/persistent/2 message 2",
        "Received while away: pigeon/persistent/3 message 3",
        "Session ended",
    ]);

    // "Session ended" is true: resuming it now finds nothing.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let session_present = rt.block_on(async {
        let opts = ConnectOptions::from_url(&broker.url())
            .expect("url")
            .protocol(ProtocolLevel::V5)
            .client_id("pigeon-persistent-session-example")
            .clean_start(false);
        let (client, mut eventloop) = Client::new(opts);
        let ack = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Event::Connected(ack) = eventloop.poll().await.expect("connect") {
                    return ack;
                }
            }
        })
        .await
        .expect("CONNACK within 10 s");
        let _ = client.try_disconnect();
        while eventloop.poll().await.is_ok() {}
        ack.session_present
    });
    assert!(!session_present, "the example leaves no session behind");
}

#[test]
fn manual_ack_processes_then_acknowledges_each_job() {
    let broker = Mosquitto::start();
    run_to_end("manual_ack", &broker.url()).assert_lines(&[
        "Processing job 1",
        "Acknowledged job 1",
        "Processing job 2",
        "Acknowledged job 2",
        "Processing job 3",
        "Acknowledged job 3",
        "All jobs done",
    ]);
    // Acknowledged means acknowledged: the broker sent the PUBACKs on to the worker's session,
    // so nothing is left for it.
    assert!(
        broker
            .log()
            .matches("Received PUBACK from pigeon-manual-ack-example")
            .count()
            >= 3,
        "broker log:\n{}",
        broker.log()
    );
}

/// The sensor loop is killed with SIGKILL halfway through; the next run with the same store
/// sends what the first had stored, and every reading arrives.
#[test]
#[cfg(feature = "file-store")]
fn durable_publisher_survives_kill_9() {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    let broker = Mosquitto::start();
    // A subscriber in this process, collecting reading numbers.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let seen: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let (_watcher, mut eventloop) = Client::new(
        ConnectOptions::from_url(&broker.url())
            .expect("url")
            .client_id("sensor-watcher"),
    );
    rt.block_on(async {
        eventloop.connect().await.expect("watcher connected");
        let mut messages = eventloop.into_messages();
        _watcher
            .subscribe("pigeon/sensor/7", pigeon_mqtt::QoS::AtLeastOnce)
            .await
            .expect("subscribed");
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(m) = messages.recv().await {
                if let Some(n) = json_number(&String::from_utf8_lossy(m.payload()), "reading") {
                    seen.lock().expect("lock").insert(n);
                }
            }
        });
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("sensor.db");
    let store = store.to_str().expect("UTF-8 path");

    let mut first = Running::spawn_with(
        "durable_publisher",
        &broker.url(),
        &[("DURABLE_STORE", store), ("READINGS", "40")],
    );
    first.wait_for_stdout("Reading 10 on disk");
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let out = first.stdout();
    let stored = out.lines().filter(|l| l.ends_with(" on disk")).count() as u64;
    assert!(stored < 40, "killed before the end: {out}");

    let mut second = Running::spawn_with(
        "durable_publisher",
        &broker.url(),
        &[("DURABLE_STORE", store), ("READINGS", "5")],
    );
    let deadline = Instant::now() + RUN_TIMEOUT;
    while second.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the second run did not end");
        thread::sleep(POLL);
    }
    let out = second.stdout();
    assert!(
        out.starts_with(&format!(
            "Store {store}: the next reading is message {stored}"
        )),
        "the second run goes on after the last stored reading:\n{out}"
    );
    assert!(out.contains("All readings acknowledged"), "{out}");

    // Every reading stored by the killed run arrives, then the new ones.
    let expected: BTreeSet<u64> = (0..stored + 5).collect();
    let deadline = Instant::now() + LINE_TIMEOUT;
    while *seen.lock().expect("lock") != expected {
        assert!(
            Instant::now() < deadline,
            "readings {:?}, expected 0..{}; broker log:\n{}",
            seen.lock().expect("lock"),
            stored + 5,
            broker.log()
        );
        thread::sleep(POLL);
    }
}

/// The number after `"field":` in a JSON line.
fn json_number(line: &str, field: &str) -> Option<u64> {
    let rest = line.split(&format!("\"{field}\":")).nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn examples_speak_3_1_1_too() {
    let broker = Mosquitto::start();
    let url = format!("{}?protocol=4", broker.url());
    for name in ["publish", "stream", "blocking", "will"] {
        let out = run_to_end(name, &url);
        assert!(
            !out.stdout.is_empty(),
            "{name} printed nothing; stderr:\n{}",
            out.stderr
        );
    }
    assert!(
        broker.log().contains("(p2, c1, k60)"),
        "the examples connected with MQTT 3.1.1; broker log:\n{}",
        broker.log()
    );
}

// ---- running examples ------------------------------------------------------------------------

/// What an example that ended by itself printed.
#[derive(Debug)]
struct Finished {
    name: &'static str,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    /// Exit status 0, and one line per expectation, in order, each starting with it.
    fn assert_lines(&self, expected: &[&str]) {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let ok = self.status.success()
            && lines.len() == expected.len()
            && lines.iter().zip(expected).all(|(l, e)| l.starts_with(e));
        assert!(
            ok,
            "{} exited with {}\nexpected lines starting with: {expected:#?}\nstdout:\n{}\nstderr:\n{}",
            self.name, self.status, self.stdout, self.stderr
        );
    }
}

/// Runs an example to its end (at most [`RUN_TIMEOUT`]); panics, with its output, if it has to
/// be killed.
fn run_to_end(name: &'static str, url: &str) -> Finished {
    let mut example = Running::spawn(name, url);
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        if let Some(status) = example.child.try_wait().expect("wait for example") {
            return Finished {
                name,
                status,
                stdout: example.stdout(),
                stderr: example.stderr(),
            };
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not finish within {RUN_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
            example.stdout(),
            example.stderr()
        );
        thread::sleep(POLL);
    }
}

/// A running example; killed when dropped (also when a test fails). Its output goes to files,
/// so nothing blocks on a full pipe.
struct Running {
    name: &'static str,
    child: Child,
    dir: tempfile::TempDir,
}

impl Running {
    fn spawn(name: &'static str, url: &str) -> Running {
        Running::spawn_with(name, url, &[])
    }

    fn spawn_with(name: &'static str, url: &str, env: &[(&str, &str)]) -> Running {
        let exe = example(name);
        let dir = tempfile::tempdir().expect("temp dir");
        let stdout = fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let stderr = fs::File::create(dir.path().join("stderr")).expect("stderr file");
        // Another build sharing the target directory may be replacing the file right now
        // (cargo unlinks and re-links it): retry briefly.
        let deadline = Instant::now() + Duration::from_secs(10);
        let child = loop {
            let spawned = Command::new(&exe)
                .env("MQTT_URL", url)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(stdout.try_clone().expect("stdout file"))
                .stderr(stderr.try_clone().expect("stderr file"))
                .spawn();
            match spawned {
                Ok(child) => break child,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("cannot run {}: {e}", exe.display()),
            }
        };
        Running { name, child, dir }
    }

    fn stdout(&self) -> String {
        read(&self.dir.path().join("stdout"))
    }

    fn stderr(&self) -> String {
        read(&self.dir.path().join("stderr"))
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn wait_for_stdout(&mut self, needle: &str) {
        let deadline = Instant::now() + LINE_TIMEOUT;
        while !self.stdout().contains(needle) {
            let ended = self.child.try_wait().ok().flatten();
            assert!(
                ended.is_none() && Instant::now() < deadline,
                "{} did not print {needle:?} (exit status: {ended:?})\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout(),
                self.stderr()
            );
            thread::sleep(POLL);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

// ---- building examples -----------------------------------------------------------------------

/// The path of an example binary, building all examples on first use.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(build_examples);
    built
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no example {name:?} among {:?}", built.keys()))
}

/// `cargo build --examples` with this test binary's cargo, profile and features (so that the
/// library artifacts are shared and, under `cargo test`, nothing is rebuilt); the executables'
/// paths come from cargo's JSON messages, so no target directory layout is assumed.
fn build_examples() -> HashMap<String, PathBuf> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build")
        .arg("--examples")
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--no-default-features");
    let features = enabled_features();
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    // Cargo sets these for the test process; a build script that watches one of them (ring
    // watches CARGO_MANIFEST_DIR) would otherwise be rerun, rebuilding half the dependency tree
    // on every run and for every other build sharing the target directory.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_") || SET_FOR_TESTS.contains(&key.as_ref()) {
            cmd.env_remove(key.as_ref());
        }
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build --examples");
    assert!(
        out.status.success(),
        "cargo build --examples failed ({})",
        out.status
    );
    let mut built = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if !line.contains(r#""reason":"compiler-artifact""#) || !line.contains(r#""example""#) {
            continue;
        }
        if let Some(exe) = json_string_field(line, "executable") {
            let exe = PathBuf::from(exe);
            if let Some(stem) = exe.file_stem().and_then(|s| s.to_str()) {
                built.insert(stem.to_owned(), exe.clone());
            }
        }
    }
    assert!(
        !built.is_empty(),
        "cargo reported no example executables:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    built
}

/// Variables cargo sets for a test process (besides `CARGO_PKG_*`) that a build does not see.
const SET_FOR_TESTS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// The crate features this test binary was compiled with.
fn enabled_features() -> Vec<&'static str> {
    let all = [
        ("default", cfg!(feature = "default")),
        ("tls", cfg!(feature = "tls")),
        ("tls-ring", cfg!(feature = "tls-ring")),
        ("tls-aws-lc-rs", cfg!(feature = "tls-aws-lc-rs")),
        ("native-roots", cfg!(feature = "native-roots")),
        ("webpki-roots", cfg!(feature = "webpki-roots")),
        ("websocket", cfg!(feature = "websocket")),
        (
            "dangerous-insecure-tls",
            cfg!(feature = "dangerous-insecure-tls"),
        ),
        ("file-store", cfg!(feature = "file-store")),
    ];
    all.iter().filter(|(_, on)| *on).map(|(f, _)| *f).collect()
}

/// The string value of `"field":"..."` in one line of cargo's JSON output.
fn json_string_field(line: &str, field: &str) -> Option<String> {
    let start = line.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}
