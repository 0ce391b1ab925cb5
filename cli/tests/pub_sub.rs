//! `pigeon pub` and `pigeon sub` against a private Mosquitto: with each other and with
//! mosquitto_pub / mosquitto_sub at QoS 0, 1 and 2 and MQTT 3.1.1 and 5.0; -C and -W; the
//! message sources; TLS, WebSocket and Unix socket URLs; and the failures that must end with a
//! non-zero status and one line on stderr.

mod support;
#[path = "../../tests/support/transport.rs"]
mod transport;

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;
use support::{
    assert_ok, assert_one_line_failure, finish, mosquitto_sub, pigeon, pigeon_at, pigeon_sub,
    stdout, Mosquitto, STEP,
};
use transport::{closed_port, Pki, Validity};

/// `-V` values: pigeon's and mosquitto's spelling of each level.
const LEVELS: [(&str, &str); 2] = [("311", "mqttv311"), ("5", "mqttv5")];
const QOS: [&str; 3] = ["0", "1", "2"];

fn json_line(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

#[test]
fn pigeon_pub_to_pigeon_sub_at_every_qos_and_level() {
    let broker = Mosquitto::start();
    for (level, _) in LEVELS {
        for qos in QOS {
            let id = format!("psub-{level}-{qos}");
            let topic = format!("pp/{level}/{qos}");
            let sub = pigeon_sub(
                &broker,
                &id,
                &[
                    "-t", &topic, "-q", qos, "-V", level, "-C", "1", "-W", "10", "--json",
                ],
            );
            let mut publish = pigeon_at(
                &broker,
                "pub",
                &["-t", &topic, "-m", "{\"data\":111}", "-q", qos, "-V", level],
            );
            if level == "5" {
                publish.args(["-D", "publish", "user-property", "sensor", "kitchen"]);
                publish.args(["-D", "publish", "content-type", "application/json"]);
            }
            assert_ok("pigeon pub", &publish.output().expect("run pigeon pub"));
            let out = finish(sub);
            assert_ok("pigeon sub", &out);
            let text = stdout(&out);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 1, "{text}");
            let m = json_line(lines[0]);
            assert_eq!(m["topic"], topic.as_str());
            assert_eq!(m["payload"], "{\"data\":111}");
            assert_eq!(m["payloadlen"], 12);
            assert_eq!(m["qos"].to_string(), qos, "{m}");
            assert_eq!(m["retain"], 0);
            if level == "5" {
                let props = &m["properties"];
                assert_eq!(props["content-type"], "application/json", "{m}");
                assert_eq!(
                    props["user-properties"],
                    serde_json::json!([["sensor", "kitchen"]])
                );
            } else {
                assert!(m.get("properties").is_none(), "{m}");
            }
        }
    }
}

#[test]
fn mosquitto_pub_to_pigeon_sub_at_every_qos_and_level() {
    let broker = Mosquitto::start();
    for (level, mosquitto_level) in LEVELS {
        for qos in QOS {
            let id = format!("msub-{level}-{qos}");
            let topic = format!("mp/{level}/{qos}");
            let sub = pigeon_sub(
                &broker,
                &id,
                &[
                    "-t", "mp/#", "-q", qos, "-V", level, "-C", "1", "-W", "10", "-v",
                ],
            );
            broker.mosquitto_pub(&[
                "-t",
                &topic,
                "-m",
                "from mosquitto",
                "-q",
                qos,
                "-V",
                mosquitto_level,
            ]);
            let out = finish(sub);
            assert_ok("pigeon sub", &out);
            assert_eq!(stdout(&out), format!("{topic} from mosquitto\n"));
        }
    }
}

#[test]
fn pigeon_pub_to_mosquitto_sub_at_every_qos_and_level() {
    let broker = Mosquitto::start();
    for (level, mosquitto_level) in LEVELS {
        for qos in QOS {
            let id = format!("mosq-{level}-{qos}");
            let topic = format!("pm/{level}/{qos}");
            let sub = mosquitto_sub(
                &broker,
                &id,
                &[
                    "-t",
                    &topic,
                    "-q",
                    qos,
                    "-V",
                    mosquitto_level,
                    "-C",
                    "1",
                    "-W",
                    "10",
                    "-F",
                    "%q %t %p",
                ],
            );
            let out = pigeon_at(
                &broker,
                "pub",
                &["-t", &topic, "-m", "from pigeon", "-q", qos, "-V", level],
            )
            .output()
            .expect("run pigeon pub");
            assert_ok("pigeon pub", &out);
            let out = finish(sub);
            assert_ok("mosquitto_sub", &out);
            assert_eq!(stdout(&out), format!("{qos} {topic} from pigeon\n"));
        }
    }
}

#[test]
fn count_ends_sub_and_timeout_ends_it_with_status_27() {
    let broker = Mosquitto::start();
    let sub = pigeon_sub(&broker, "counted", &["-t", "c/t", "-C", "2", "-W", "10"]);
    let out = pigeon_at(
        &broker,
        "pub",
        &["-t", "c/t", "-m", "again", "--repeat", "3", "-q", "1"],
    )
    .output()
    .expect("run pigeon pub");
    assert_ok("pigeon pub --repeat 3", &out);
    let out = finish(sub);
    assert_ok("pigeon sub -C 2", &out);
    assert_eq!(stdout(&out), "again\nagain\n");

    let out = pigeon_at(&broker, "sub", &["-t", "quiet/t", "-W", "1"])
        .output()
        .expect("run pigeon sub -W 1");
    let (code, line) = assert_one_line_failure("pigeon sub -W 1", &out);
    assert_eq!(code, 27, "mosquitto_sub's status for -W: {line}");
    assert!(line.contains("timed out"), "{line}");
    assert!(out.stdout.is_empty());
}

#[test]
fn message_sources_lines_stdin_file_and_null() {
    let broker = Mosquitto::start();
    let sub = pigeon_sub(
        &broker,
        "sources",
        &["-t", "src/#", "-C", "6", "-W", "10", "--json"],
    );
    // -l: a message per line; a blank line is an empty message, as with mosquitto_pub.
    let mut lines = pigeon_at(&broker, "pub", &["-t", "src/l", "-l", "-q", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pigeon pub -l");
    lines
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"one\n\nthree\n")
        .expect("write stdin");
    assert_ok("pigeon pub -l", &lines.wait_with_output().expect("wait"));
    // -s: all of stdin as one message.
    let mut whole = pigeon_at(&broker, "pub", &["-t", "src/s", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pigeon pub -s");
    whole
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a\nb")
        .expect("write stdin");
    assert_ok("pigeon pub -s", &whole.wait_with_output().expect("wait"));
    // -f: a file, here not UTF-8.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, [0xff, 0x00, 0x41]).expect("write file");
    let out = pigeon_at(
        &broker,
        "pub",
        &["-t", "src/f", "-f", file.to_str().expect("path")],
    )
    .output()
    .expect("run pigeon pub -f");
    assert_ok("pigeon pub -f", &out);
    // -n: an empty message.
    let out = pigeon_at(&broker, "pub", &["-t", "src/n", "-n"])
        .output()
        .expect("run pigeon pub -n");
    assert_ok("pigeon pub -n", &out);

    let out = finish(sub);
    assert_ok("pigeon sub", &out);
    let got: Vec<(String, Value)> = stdout(&out)
        .lines()
        .map(json_line)
        .map(|m| {
            let payload = if m.get("payload-hex").is_some() {
                m["payload-hex"].clone()
            } else {
                m["payload"].clone()
            };
            (m["topic"].as_str().unwrap_or_default().to_owned(), payload)
        })
        .collect();
    let want: Vec<(String, Value)> = [
        ("src/l", "one"),
        ("src/l", ""),
        ("src/l", "three"),
        ("src/s", "a\nb"),
        ("src/f", "ff0041"),
        ("src/n", ""),
    ]
    .iter()
    .map(|(t, p)| (t.to_string(), Value::String(p.to_string())))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn wrong_password_fails_with_the_connack_code_and_one_line() {
    let broker = Mosquitto::builder().password("alice", "secret").build();
    for (level, code) in [("5", 135), ("311", 5)] {
        for command in ["pub", "sub"] {
            let mut cmd = pigeon_at(
                &broker,
                command,
                &["-t", "a/b", "-u", "alice", "-P", "wrong", "-V", level],
            );
            if command == "pub" {
                cmd.args(["-m", "x"]);
            }
            let out = cmd.output().expect("run pigeon");
            let what = format!("pigeon {command} -V {level} with a wrong password");
            let (status, line) = assert_one_line_failure(&what, &out);
            assert_eq!(status, code, "{what}: {line}");
            assert!(
                line.contains("refused") && line.contains("authorized"),
                "{line}"
            );
        }
    }
    // The right password works.
    let out = pigeon_at(
        &broker,
        "pub",
        &["-t", "a/b", "-m", "x", "-u", "alice", "-P", "secret"],
    )
    .output()
    .expect("run pigeon pub");
    assert_ok("pigeon pub with the right password", &out);
}

#[test]
fn unreachable_broker_and_usage_errors_say_one_line() {
    let port = closed_port().to_string();
    let out = pigeon()
        .args(["pub", "-h", "127.0.0.1", "-p", &port, "-t", "a", "-m", "x"])
        .output()
        .expect("run pigeon pub");
    let (code, line) = assert_one_line_failure("pigeon pub to a closed port", &out);
    assert_eq!(code, 1);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");

    for (args, says) in [
        (vec!["pub", "-t", "a/#", "-m", "x"], "wildcard"),
        (vec!["pub", "-t", "a"], "a message is needed"),
        (
            vec![
                "sub",
                "-V",
                "311",
                "-t",
                "a",
                "-D",
                "subscribe",
                "user-property",
                "k",
                "v",
            ],
            "MQTT 5",
        ),
        (vec!["sub", "-t", "a", "-c"], "-c needs a client id"),
    ] {
        let out = pigeon().args(&args).output().expect("run pigeon");
        let (code, line) = assert_one_line_failure(&format!("pigeon {args:?}"), &out);
        assert_eq!(code, 2, "{line}");
        assert!(line.contains(says), "{args:?}: {line}");
    }
}

#[test]
fn a_broker_that_never_answers_times_out_with_one_line() {
    // The kernel completes the TCP handshake for the listen queue; nothing ever answers CONNECT.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port().to_string();
    for command in ["pub", "sub"] {
        let out = pigeon()
            .args([command, "-h", "127.0.0.1", "-p", &port, "-t", "a"])
            .args(["--connect-timeout", "1"])
            .args(if command == "pub" {
                ["-m", "x"]
            } else {
                ["-W", "30"]
            })
            .output()
            .expect("run pigeon");
        let what = format!("pigeon {command} to a broker that never answers");
        let (code, line) = assert_one_line_failure(&what, &out);
        assert_eq!(code, 1, "{line}");
        assert!(line.to_lowercase().contains("timeout"), "{what}: {line}");
    }
    drop(silent);
}

#[test]
fn tls_trusted_untrusted_and_insecure() {
    let pki = Pki::new();
    let server = pki.server(&["127.0.0.1"], Validity::Now);
    let broker = Mosquitto::builder()
        .tls(pki.listener(&server, false))
        .build();
    let url = broker.tls_url();
    let ca = pki.ca_file.to_str().expect("path").to_owned();

    let sub = mosquitto_sub(
        &broker,
        "tls-watch",
        &["-t", "tls/#", "-C", "2", "-W", "10", "-v"],
    );
    let out = pigeon()
        .args([
            "pub",
            "-L",
            &url,
            "-t",
            "tls/verified",
            "-m",
            "x",
            "--cafile",
            &ca,
        ])
        .output()
        .expect("run pigeon pub");
    assert_ok("pigeon pub over TLS with the right CA", &out);

    let other = Pki::named("another CA");
    let other_ca = other.ca_file.to_str().expect("path").to_owned();
    for extra in [vec!["--cafile", other_ca.as_str()], vec![]] {
        let mut args = vec!["pub", "-L", &url, "-t", "tls/untrusted", "-m", "x"];
        args.extend(extra.iter().copied());
        let out = pigeon().args(&args).output().expect("run pigeon pub");
        let (code, line) = assert_one_line_failure("pigeon pub to an untrusted certificate", &out);
        assert_eq!(code, 1, "{line}");
        assert!(
            line.contains("TLS") && line.contains("UnknownIssuer"),
            "{line}"
        );
    }

    let out = pigeon()
        .args([
            "pub",
            "-L",
            &url,
            "-t",
            "tls/insecure",
            "-m",
            "y",
            "--insecure",
        ])
        .output()
        .expect("run pigeon pub");
    assert_ok("pigeon pub --insecure", &out);
    let out = finish(sub);
    assert_ok("mosquitto_sub", &out);
    assert_eq!(stdout(&out), "tls/verified x\ntls/insecure y\n");
}

#[test]
fn websocket_and_unix_socket_urls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("mqtt.sock");
    let broker = Mosquitto::builder()
        .websockets()
        .extra_config(&format!("listener 0 {}\n", sock.display()))
        .build();
    let deadline = std::time::Instant::now() + STEP;
    while !sock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no socket at {}",
            sock.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let unix = format!("unix://{}", sock.display());
    let sub = pigeon()
        .args([
            "sub", "-L", &unix, "-t", "via/#", "-C", "2", "-W", "10", "-v", "-i", "unix-sub",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pigeon sub");
    support::wait_subscribed(&broker, "unix-sub");
    let out = pigeon()
        .args([
            "pub",
            "-L",
            &broker.ws_url(),
            "-t",
            "via/ws",
            "-m",
            "over websocket",
            "-q",
            "1",
        ])
        .output()
        .expect("run pigeon pub");
    assert_ok("pigeon pub -L ws://", &out);
    let out = pigeon()
        .args([
            "pub",
            "--unix",
            sock.to_str().expect("path"),
            "-t",
            "via/unix",
            "-m",
            "over a socket",
        ])
        .output()
        .expect("run pigeon pub");
    assert_ok("pigeon pub --unix", &out);
    let out = finish(sub);
    assert_ok("pigeon sub -L unix://", &out);
    assert_eq!(
        stdout(&out),
        "via/ws over websocket\nvia/unix over a socket\n"
    );
}

#[test]
fn will_is_published_when_the_connection_drops() {
    let broker = Mosquitto::start();
    let watch = mosquitto_sub(
        &broker,
        "will-watch",
        &["-t", "wills/#", "-C", "1", "-W", "10", "-v"],
    );
    let mut sub = pigeon_at(
        &broker,
        "sub",
        &[
            "-i",
            "will-holder",
            "-t",
            "nothing/here",
            "--will-topic",
            "wills/holder",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn pigeon sub");
    support::wait_subscribed(&broker, "will-holder");
    // SIGKILL: no DISCONNECT, so the broker publishes the will.
    sub.kill().expect("kill pigeon sub");
    let _ = sub.wait();
    let out = finish(watch);
    assert_ok("mosquitto_sub", &out);
    assert_eq!(stdout(&out), "wills/holder gone\n");
}
