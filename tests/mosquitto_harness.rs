//! Self-test of the Mosquitto test harness in `tests/support/`.

mod support;

use std::net::TcpStream;
use std::process::Child;
use std::time::Duration;

use support::Mosquitto;

const LOG_WAIT: Duration = Duration::from_secs(5);

/// Spawns `mosquitto_sub` with a known client id and waits until the broker
/// has acknowledged its subscription, so a following publish cannot race it.
fn subscribe(broker: &Mosquitto, id: &str, extra: &[&str]) -> Child {
    let mut args = vec!["-i", id];
    args.extend_from_slice(extra);
    let sub = broker.mosquitto_sub_spawn(&args);
    assert!(
        broker.wait_for_log(&format!("Sending SUBACK to {id}"), LOG_WAIT),
        "mosquitto_sub {id} did not subscribe; log:\n{}",
        broker.log()
    );
    sub
}

fn stdout_of(child: Child) -> String {
    let out = child.wait_with_output().expect("wait for mosquitto_sub");
    assert!(
        out.status.success(),
        "mosquitto_sub failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn pub_sub_round_trip() {
    let broker = Mosquitto::start();
    assert_eq!(broker.addr(), format!("127.0.0.1:{}", broker.port()));
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));

    let sub = subscribe(
        &broker,
        "harness-sub",
        &["-C", "1", "-W", "10", "-t", "t/1"],
    );
    broker.mosquitto_pub(&["-t", "t/1", "-m", "hello"]);
    assert_eq!(stdout_of(sub).trim_end(), "hello");
}

#[test]
fn restart_keeps_port_and_persisted_retained_message() {
    let mut broker = Mosquitto::builder().persistence(true).build();
    let port = broker.port();
    let pid = broker.pid();

    broker.mosquitto_pub(&["-t", "t/r", "-m", "kept", "-r", "-q", "1"]);
    broker.restart();

    assert_eq!(broker.port(), port);
    assert_ne!(broker.pid(), pid, "a new process after restart");
    assert!(broker.log().contains("Saving in-memory database"));

    let sub = broker.mosquitto_sub_spawn(&["-C", "1", "-W", "5", "-t", "t/r"]);
    assert_eq!(stdout_of(sub).trim_end(), "kept");
}

#[test]
fn stop_then_start_again_and_kill() {
    let mut broker = Mosquitto::start();
    let port = broker.port();
    assert!(broker.is_running());

    let status = broker.stop().expect("was running");
    assert!(status.success(), "SIGTERM exits cleanly: {status}");
    assert!(!broker.is_running());
    assert!(
        TcpStream::connect(broker.addr()).is_err(),
        "port closed while stopped"
    );
    assert!(broker.stop().is_none(), "stop() twice is a no-op");

    broker.start_again();
    assert_eq!(broker.port(), port);
    broker.mosquitto_pub(&["-t", "t/x", "-m", "up again"]);

    let status = broker.kill().expect("was running");
    assert!(!status.success(), "SIGKILL: {status}");
    broker.start_again();
    broker.mosquitto_pub(&["-t", "t/x", "-m", "up after crash"]);
}

#[test]
fn password_file_rejects_anonymous() {
    let broker = Mosquitto::builder().password("alice", "s3cret").build();

    let anon = broker.mosquitto_pub_output(&["-t", "t/p", "-m", "x"]);
    assert!(!anon.status.success(), "anonymous publish must be rejected");

    let wrong = broker.mosquitto_pub_output(&["-u", "alice", "-P", "nope", "-t", "t/p", "-m", "x"]);
    assert!(!wrong.status.success(), "wrong password must be rejected");

    broker.mosquitto_pub(&["-u", "alice", "-P", "s3cret", "-t", "t/p", "-m", "x"]);
}

#[test]
fn websockets_listener_starts() {
    let broker = Mosquitto::builder().websockets().build();
    assert_ne!(broker.ws_port(), broker.port());
    TcpStream::connect(("127.0.0.1", broker.ws_port())).expect("connect to websockets port");
    // The plain listener still works alongside it.
    broker.mosquitto_pub(&["-t", "t/ws", "-m", "x"]);
    assert!(broker.config().contains("socket_domain ipv4"));
}
