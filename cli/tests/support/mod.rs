//! Helpers for the `pigeon` tests: the built binary, subscribers that are known to be subscribed
//! before anything is published, and the checks on exit status and stderr.
//!
//! The Mosquitto harness and the test PKI are the library's own (`tests/support/` at the
//! repository root), included by path, not copied.
#![allow(dead_code, unused_imports)]

#[path = "../../../tests/support/mosquitto.rs"]
pub mod mosquitto;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use assert_cmd::assert::OutputAssertExt;

pub use mosquitto::{Mosquitto, TlsListener};

/// How long one step may take (a subscriber's SUBACK, a process's exit).
pub const STEP: Duration = Duration::from_secs(10);

/// The `pigeon` binary built for these tests, with no stdin.
pub fn pigeon() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pigeon"));
    cmd.stdin(Stdio::null());
    cmd
}

/// `pigeon <command> -h 127.0.0.1 -p PORT <args>`.
pub fn pigeon_at(broker: &Mosquitto, command: &str, args: &[&str]) -> Command {
    let mut cmd = pigeon();
    cmd.arg(command)
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(args);
    cmd
}

/// Starts `pigeon sub -i ID <args>` and returns once the broker has acknowledged its
/// subscription (seen in the broker's log).
pub fn pigeon_sub(broker: &Mosquitto, id: &str, args: &[&str]) -> Child {
    let child = pigeon_at(broker, "sub", &["-i", id])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pigeon sub");
    wait_subscribed(broker, id);
    child
}

/// Starts `mosquitto_sub -i ID <args>` and returns once it is subscribed.
pub fn mosquitto_sub(broker: &Mosquitto, id: &str, args: &[&str]) -> Child {
    let mut all = vec!["-i", id];
    all.extend_from_slice(args);
    let child = broker.mosquitto_sub_spawn(&all);
    wait_subscribed(broker, id);
    child
}

/// Waits for the broker's SUBACK to `id`.
pub fn wait_subscribed(broker: &Mosquitto, id: &str) {
    assert!(
        broker.wait_for_log(&format!("Sending SUBACK to {id}"), STEP),
        "{id} did not subscribe within {STEP:?}; broker log:\n{}",
        broker.log()
    );
}

/// Waits for a subscriber (which was given -C and -W, so it ends by itself).
pub fn finish(child: Child) -> Output {
    child.wait_with_output().expect("wait for the subscriber")
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts success and an empty stderr (assert_cmd prints the whole output when not).
pub fn assert_ok(what: &str, out: &Output) {
    out.clone()
        .assert()
        .append_context("command", what.to_owned())
        .success()
        .stderr("");
}

/// Asserts a failure with exactly one non-empty line on stderr; returns the exit code and the
/// line.
pub fn assert_one_line_failure(what: &str, out: &Output) -> (i32, String) {
    out.clone()
        .assert()
        .append_context("command", what.to_owned())
        .failure();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && !lines[0].trim().is_empty() && stderr.ends_with('\n'),
        "{what}: expected exactly one line on stderr, got {stderr:?}"
    );
    (code, lines[0].to_owned())
}
