//! The paho-style surface against a real Mosquitto: callbacks (`CallbackClient`), the loop
//! variants, the blocking facade, the one-call helpers and `topic_matches_sub`. Every wait is
//! bounded, so a deadlock fails the test instead of hanging it; scenarios run at 3.1.1 and 5.0.

mod support;

use std::future::Future;
use std::net::TcpListener;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Duration;

use pigeon_mqtt::blocking::{BlockingClient, BlockingError};
use pigeon_mqtt::helpers::{self, HelperError};
use pigeon_mqtt::packet::ReasonCode;
use pigeon_mqtt::topic::topic_matches_sub;
use pigeon_mqtt::{
    CallbackClient, Client, ClientError, ConnectOptions, ConnectionError, Message, ProtocolLevel,
    QoS, ReconnectOptions, SubscribeError,
};
use support::Mosquitto;

const LEVELS: [ProtocolLevel; 2] = [ProtocolLevel::V3_1_1, ProtocolLevel::V5];
/// Upper bound for anything that should take milliseconds.
const WAIT: Duration = Duration::from_secs(10);

fn options(broker: &Mosquitto, level: ProtocolLevel) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", broker.port()).protocol(level)
}

/// A client id that differs per protocol level: "name-4" / "name-5".
fn id(name: &str, level: ProtocolLevel) -> String {
    format!("{name}-{}", if level.is_v5() { 5 } else { 4 })
}

/// Awaits `f` at most [`WAIT`]; a timeout means a deadlock or a lost event.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {WAIT:?}"))
}

/// A port on which nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

fn payload(m: &Message) -> String {
    String::from_utf8_lossy(m.payload()).into_owned()
}

// ---- callbacks --------------------------------------------------------------------------------

#[tokio::test]
async fn on_connect_reports_success_and_session_present() {
    let broker = Mosquitto::start();
    for level in LEVELS {
        // Clean Start off and (5.0) a Session Expiry Interval: the session outlives the first
        // connection, so the second one finds it.
        let opts = options(&broker, level)
            .client_id(id("paho-connect", level))
            .clean_start(false)
            .session_expiry(60);
        for expected_session_present in [false, true] {
            let mut mqttc = CallbackClient::with_userdata(opts.clone(), Vec::new());
            mqttc.on_connect(|client, acks, ack| {
                acks.push((ack.reason_code, ack.session_present));
                client.try_disconnect().expect("try_disconnect");
            });
            within("loop_forever", mqttc.loop_forever())
                .await
                .expect("loop ends with the disconnect");
            assert_eq!(
                *mqttc.userdata(),
                [(ReasonCode::Success, expected_session_present)],
                "{level}"
            );
        }
    }
}

#[tokio::test]
async fn callbacks_subscribe_and_publish_through_the_handle_without_deadlock() {
    #[derive(Default)]
    struct Echo {
        subacks: Vec<Vec<ReasonCode>>,
        echoed: Vec<String>,
        published: usize,
    }
    let broker = Mosquitto::start();
    for level in LEVELS {
        let mut mqttc = CallbackClient::with_userdata(options(&broker, level), Echo::default());
        mqttc.on_connect(|client, _, _| {
            drop(
                client
                    .try_subscribe("paho/echo/#", QoS::ExactlyOnce)
                    .expect("try_subscribe in on_connect"),
            );
        });
        mqttc.on_subscribe(|client, echo, ack| {
            echo.subacks.push(ack.reason_codes.clone());
            let ping = Message::new("paho/echo/in", "ping").expect("topic");
            drop(
                client
                    .try_publish(ping.qos(QoS::AtLeastOnce))
                    .expect("try_publish in on_subscribe"),
            );
        });
        mqttc.on_message(|client, echo, msg| match msg.topic() {
            // Echo to another topic from inside on_message.
            "paho/echo/in" => {
                let echo = Message::new("paho/echo/out", msg.payload().clone()).expect("topic");
                drop(
                    client
                        .try_publish(echo.qos(QoS::ExactlyOnce))
                        .expect("try_publish in on_message"),
                );
            }
            "paho/echo/out" => {
                echo.echoed.push(payload(msg));
                client.try_disconnect().expect("try_disconnect");
            }
            other => panic!("unexpected topic {other}"),
        });
        mqttc.on_publish(|_, echo, result| {
            result.as_ref().expect("publish completes");
            echo.published += 1;
        });

        within("the echo round trip", mqttc.loop_forever())
            .await
            .expect("loop ends with the disconnect");
        let echo = mqttc.userdata();
        assert_eq!(echo.subacks, [[ReasonCode::GrantedQoS2]], "{level}");
        assert_eq!(echo.echoed, ["ping"], "{level}");
        assert_eq!(echo.published, 2, "{level}: both publishes completed");
    }
}

#[tokio::test]
async fn a_panicking_callback_does_not_kill_the_loop() {
    let broker = Mosquitto::start();
    for level in LEVELS {
        let mut mqttc = CallbackClient::with_userdata(options(&broker, level), Vec::new());
        mqttc.on_connect(|client, _, _| {
            let _ = client.try_subscribe("paho/panic/#", QoS::AtLeastOnce);
        });
        mqttc.on_subscribe(|client, _, _| {
            for p in ["first", "second"] {
                let m = Message::new("paho/panic/t", p).expect("topic");
                let _ = client.try_publish(m.qos(QoS::AtLeastOnce));
            }
        });
        mqttc.on_message(|client, seen, msg| {
            seen.push(payload(msg));
            if msg.payload() == "first" {
                panic!("deliberate panic in on_message (the test expects this)");
            }
            let _ = client.try_disconnect();
        });
        within("the loop after a panic", mqttc.loop_forever())
            .await
            .expect("the loop survives the panic and ends with the disconnect");
        assert_eq!(*mqttc.userdata(), ["first", "second"], "{level}");
    }
}

#[tokio::test]
async fn message_callback_add_takes_matching_messages_from_on_message() {
    #[derive(Default)]
    struct Routed {
        special: Vec<String>,
        b: Vec<String>,
        general: Vec<String>,
    }
    let broker = Mosquitto::start();
    for level in LEVELS {
        let mut mqttc = CallbackClient::with_userdata(options(&broker, level), Routed::default());
        mqttc
            .message_callback_add("paho/route/special/#", |_, r, m| {
                r.special.push(m.topic().to_owned())
            })
            .expect("valid filter");
        // A message matching two filter callbacks goes to both (as in paho).
        mqttc
            .message_callback_add("paho/route/+/b", |_, r, m| r.b.push(m.topic().to_owned()))
            .expect("valid filter");
        mqttc
            .message_callback_add("paho/route/removed", |_, _, _| panic!("was removed"))
            .expect("valid filter");
        mqttc.message_callback_remove("paho/route/removed");
        assert!(mqttc
            .message_callback_add("paho/#/bad", |_, _, _| {})
            .is_err());

        mqttc.on_connect(|client, _, _| {
            let _ = client.try_subscribe("paho/route/#", QoS::AtLeastOnce);
        });
        mqttc.on_subscribe(|client, _, _| {
            for t in ["special/a", "other", "special/b", "removed", "done"] {
                let m = Message::new(format!("paho/route/{t}"), "x").expect("topic");
                let _ = client.try_publish(m.qos(QoS::AtLeastOnce));
            }
        });
        mqttc.on_message(|client, r, m| {
            r.general.push(m.topic().to_owned());
            if m.topic() == "paho/route/done" {
                let _ = client.try_disconnect();
            }
        });
        within("routing", mqttc.loop_forever())
            .await
            .expect("loop ends with the disconnect");
        let r = mqttc.userdata();
        assert_eq!(r.special, ["paho/route/special/a", "paho/route/special/b"]);
        assert_eq!(r.b, ["paho/route/special/b"]);
        assert_eq!(
            r.general,
            ["paho/route/other", "paho/route/removed", "paho/route/done"],
            "{level}: on_message gets only what no filter callback matched"
        );
    }
}

#[tokio::test]
async fn on_disconnect_is_called_after_disconnect() {
    let broker = Mosquitto::start();
    for level in LEVELS {
        let mut mqttc = CallbackClient::with_userdata(options(&broker, level), Vec::new());
        mqttc.on_connect(|client, _, _| client.try_disconnect().expect("try_disconnect"));
        mqttc.on_disconnect(|_, seen, info| {
            seen.push((
                info.from_server,
                info.reason_code,
                info.reconnecting,
                matches!(info.error, ConnectionError::Closed),
            ))
        });
        within("loop_forever", mqttc.loop_forever())
            .await
            .expect("loop ends with the disconnect");
        assert_eq!(
            *mqttc.userdata(),
            [(false, ReasonCode::Success, false, true)],
            "{level}"
        );
    }
}

/// paho's `retry_first_connection=False`: a first connection that fails calls
/// `on_connect_fail` once and ends `loop_forever` with that error.
#[tokio::test]
async fn on_connect_fail_ends_the_loop_for_an_unreachable_broker() {
    let opts = ConnectOptions::new("127.0.0.1", closed_port());
    let mut mqttc = CallbackClient::with_userdata(opts, Vec::new());
    mqttc.on_connect(|_, _, _| panic!("nothing listens there"));
    mqttc.on_connect_fail(|_, errors, error| errors.push(error.clone()));
    let end = within("loop_forever", mqttc.loop_forever()).await;
    assert!(
        matches!(end, Err(ConnectionError::Connect { .. })),
        "{end:?}"
    );
    let errors = mqttc.userdata();
    assert!(
        matches!(errors.as_slice(), [ConnectionError::Connect { .. }]),
        "{errors:?}"
    );
}

/// With `retry_first_connect`, every failed attempt calls `on_connect_fail` and the loop goes
/// on until the application stops it.
#[tokio::test]
async fn on_connect_fail_is_called_for_each_retried_attempt() {
    let opts = ConnectOptions::new("127.0.0.1", closed_port()).reconnect(
        ReconnectOptions::default()
            .backoff(Duration::from_millis(20), Duration::from_millis(100))
            .retry_first_connect(true),
    );
    let mut mqttc = CallbackClient::with_userdata(opts, Vec::new());
    mqttc.on_connect_fail(|client, errors, error| {
        errors.push(error.clone());
        if errors.len() == 2 {
            client.try_disconnect().expect("try_disconnect");
        }
    });
    within("loop_forever", mqttc.loop_forever())
        .await
        .expect("loop ends with the disconnect");
    assert_eq!(mqttc.userdata().len(), 2, "{:?}", mqttc.userdata());
}

#[tokio::test]
async fn on_connect_fail_is_called_when_the_broker_refuses() {
    let broker = Mosquitto::builder().password("alice", "s3cret").build();
    for level in LEVELS {
        let mut mqttc = CallbackClient::with_userdata(options(&broker, level), Vec::new());
        mqttc.on_connect_fail(|_, errors, error| errors.push(error.clone()));
        let end = within("loop_forever", mqttc.loop_forever()).await;
        assert!(
            matches!(end, Err(ConnectionError::Refused { .. })),
            "{level}: {end:?}"
        );
        let errors = mqttc.userdata();
        assert!(
            matches!(
                errors.as_slice(),
                [ConnectionError::Refused {
                    reason_code: ReasonCode::NotAuthorized | ReasonCode::BadUserNameOrPassword,
                    ..
                }]
            ),
            "{level}: {errors:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_start_then_stop_gives_back_the_typed_userdata() {
    #[derive(Debug, Default, PartialEq)]
    struct Counter {
        connects: u32,
        subacks: u32,
        messages: u32,
    }
    let broker = Mosquitto::start();
    for level in LEVELS {
        let (subscribed_tx, mut subscribed) = tokio::sync::mpsc::unbounded_channel();
        let (received_tx, mut received) = tokio::sync::mpsc::unbounded_channel();
        let mut mqttc = CallbackClient::with_userdata(options(&broker, level), Counter::default());
        mqttc.on_connect(|client, n, _| {
            n.connects += 1;
            let _ = client.try_subscribe("paho/loop/#", QoS::AtLeastOnce);
        });
        // Ordinary Rust state captured by the closures works too.
        mqttc.on_subscribe(move |_, n, _| {
            n.subacks += 1;
            let _ = subscribed_tx.send(());
        });
        mqttc.on_message(move |_, n, _| {
            n.messages += 1;
            let _ = received_tx.send(());
        });

        let handle = mqttc.loop_start();
        within("SUBACK", subscribed.recv()).await;
        for i in 0..3 {
            let m = Message::new("paho/loop/n", i.to_string()).expect("topic");
            within("publish", handle.client().publish(m.qos(QoS::AtLeastOnce)))
                .await
                .expect("publish");
        }
        for _ in 0..3 {
            within("message", received.recv()).await;
        }
        let (mqttc, result) = within("stop", handle.stop()).await;
        result.expect("the loop ended with the disconnect");
        let mut mqttc = mqttc.expect("the loop task gives the client back");
        assert_eq!(
            *mqttc.userdata(),
            Counter {
                connects: 1,
                subacks: 1,
                messages: 3
            },
            "{level}"
        );
    }
}

// ---- blocking ---------------------------------------------------------------------------------

/// Runs a blocking test body on its own thread and fails if it takes longer than `secs`.
fn on_thread(secs: u64, body: impl FnOnce() + Send + 'static) {
    let (done_tx, done) = std_mpsc::channel();
    let worker = thread::spawn(move || {
        body();
        let _ = done_tx.send(());
    });
    match done.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => worker.join().expect("test thread"),
        // The body panicked: re-raise its panic.
        Err(std_mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std_mpsc::RecvTimeoutError::Timeout) => panic!("blocked for more than {secs} s"),
    }
}

#[test]
fn blocking_client_connects_subscribes_publishes_and_iterates() {
    let broker = Mosquitto::start();
    for level in LEVELS {
        let opts = options(&broker, level);
        on_thread(30, move || {
            let client = BlockingClient::connect(opts).expect("connect");
            let suback = client
                .subscribe("paho/blocking/#", QoS::ExactlyOnce)
                .expect("subscribe");
            assert_eq!(suback.reason_codes, [ReasonCode::GrantedQoS2]);

            let one = Message::new("paho/blocking/1", "one").expect("topic");
            let ack = client
                .publish(one.qos(QoS::AtLeastOnce))
                .expect("publish")
                .wait()
                .expect("PUBACK");
            assert!(ack.packet_id.is_some());

            let two = Message::new("paho/blocking/2", "two").expect("topic");
            let mut token = client.publish(two.qos(QoS::ExactlyOnce)).expect("publish");
            let ack = token
                .wait_timeout(WAIT)
                .expect("PUBCOMP within the timeout")
                .expect("PUBCOMP");
            assert!(ack.packet_id.is_some());

            let got: Vec<(String, String)> = client
                .messages()
                .take(2)
                .map(|m| (m.topic().to_owned(), payload(&m)))
                .collect();
            assert_eq!(
                got,
                [
                    ("paho/blocking/1".to_owned(), "one".to_owned()),
                    ("paho/blocking/2".to_owned(), "two".to_owned())
                ]
            );
            assert!(client.recv_timeout(Duration::from_millis(100)).is_none());

            client.unsubscribe("paho/blocking/#").expect("unsubscribe");
            client.disconnect().expect("disconnect");
        });
    }
}

#[test]
fn blocking_token_wait_timeout_can_be_retried_after_an_outage() {
    let mut broker = Mosquitto::start();
    let opts = options(&broker, ProtocolLevel::V5).reconnect(
        ReconnectOptions::default().backoff(Duration::from_millis(50), Duration::from_millis(200)),
    );
    let client = BlockingClient::connect(opts).expect("connect");
    broker.stop();

    let msg = Message::new("paho/outage", "queued").expect("topic");
    let mut token = client.publish(msg.qos(QoS::AtLeastOnce)).expect("publish");
    assert!(
        token.wait_timeout(Duration::from_millis(300)).is_none(),
        "no PUBACK while the broker is down"
    );

    broker.start_again();
    token
        .wait_timeout(WAIT)
        .expect("PUBACK after reconnecting")
        .expect("PUBACK");
    client.disconnect().expect("disconnect");
}

#[test]
fn blocking_calls_inside_a_runtime_fail_instead_of_panicking() {
    let broker = Mosquitto::start();
    let client = BlockingClient::connect(options(&broker, ProtocolLevel::V5)).expect("connect");
    let other = BlockingClient::connect(options(&broker, ProtocolLevel::V5)).expect("connect");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let broker = &broker;
    let client = rt.block_on(async move {
        assert!(matches!(
            BlockingClient::connect(options(broker, ProtocolLevel::V5)),
            Err(BlockingError::Client(ClientError::InAsyncContext))
        ));
        let msg = Message::new("paho/ctx", "x").expect("topic");
        assert_eq!(
            client.publish(msg).unwrap_err(),
            ClientError::InAsyncContext
        );
        assert_eq!(
            client.subscribe("paho/ctx", QoS::AtMostOnce).unwrap_err(),
            SubscribeError::Client(ClientError::InAsyncContext)
        );
        assert_eq!(
            client.unsubscribe("paho/ctx").unwrap_err(),
            SubscribeError::Client(ClientError::InAsyncContext)
        );
        assert!(client.recv_timeout(Duration::from_millis(10)).is_none());
        assert!(client.messages().next().is_none());
        client
    });

    // Still usable outside the runtime.
    let msg = Message::new("paho/ctx", "after").expect("topic");
    client
        .publish(msg.qos(QoS::AtLeastOnce))
        .expect("publish")
        .wait()
        .expect("PUBACK");

    rt.block_on(async move {
        assert!(matches!(
            client.disconnect(),
            Err(BlockingError::Client(ClientError::InAsyncContext))
        ));
        // Dropping one inside a runtime does not panic either.
        drop(other);
    });
}

// ---- helpers ----------------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

#[test]
fn publish_single_and_multiple_reach_mosquitto_sub() {
    let broker = Mosquitto::start();
    let rt = runtime();
    for level in LEVELS {
        let watcher = id("watcher", level);
        let sub = broker.mosquitto_sub_spawn(&[
            "-i",
            &watcher,
            "-v",
            "-C",
            "3",
            "-W",
            "30",
            "-t",
            "paho/helpers/#",
        ]);
        assert!(broker.wait_for_log(&format!("Sending SUBACK to {watcher}"), WAIT));

        let opts = options(&broker, level);
        let single = Message::new("paho/helpers/single", "one").expect("topic");
        let ack = rt
            .block_on(within(
                "publish_single",
                helpers::publish_single(opts.clone(), single.qos(QoS::AtLeastOnce)),
            ))
            .expect("publish_single");
        assert!(ack.packet_id.is_some());

        let several = vec![
            Message::new("paho/helpers/multiple", "two")
                .expect("topic")
                .qos(QoS::ExactlyOnce),
            Message::new("paho/helpers/multiple", "three").expect("topic"),
        ];
        let acks = rt
            .block_on(within(
                "publish_multiple",
                helpers::publish_multiple(opts, several),
            ))
            .expect("publish_multiple");
        assert_eq!(acks.len(), 2);

        let out = sub.wait_with_output().expect("mosquitto_sub");
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "paho/helpers/multiple three",
                "paho/helpers/multiple two",
                "paho/helpers/single one"
            ],
            "{level}"
        );
    }
}

#[test]
fn subscribe_simple_returns_the_messages_published_by_mosquitto_pub() {
    let broker = Mosquitto::start();
    broker.mosquitto_pub(&["-t", "paho/simple/retained", "-m", "kept", "-r", "-q", "1"]);
    let rt = runtime();
    for level in LEVELS {
        let client_id = id("simple", level);
        let opts = options(&broker, level).client_id(&client_id);
        let task = rt.spawn(helpers::subscribe_simple(
            opts,
            &["paho/simple/#"],
            QoS::AtLeastOnce,
            3,
        ));
        assert!(broker.wait_for_log(&format!("Sending SUBACK to {client_id}"), WAIT));
        broker.mosquitto_pub(&["-t", "paho/simple/a", "-m", "1", "-q", "1"]);
        broker.mosquitto_pub(&["-t", "paho/simple/b", "-m", "2", "-q", "1"]);

        let msgs = rt
            .block_on(within("subscribe_simple", task))
            .expect("task")
            .expect("subscribe_simple");
        let got: Vec<(&str, String, bool)> = msgs
            .iter()
            .map(|m| (m.topic(), payload(m), m.is_retained()))
            .collect();
        assert_eq!(
            got,
            [
                ("paho/simple/retained", "kept".to_owned(), true),
                ("paho/simple/a", "1".to_owned(), false),
                ("paho/simple/b", "2".to_owned(), false)
            ],
            "{level}"
        );
    }
}

#[test]
fn subscribe_simple_does_not_hang_when_messages_beat_the_suback() {
    let broker = Mosquitto::start();
    let rt = runtime();
    for level in LEVELS {
        // A persistent session that subscribed, then went away; messages queue up for it.
        let opts = options(&broker, level)
            .client_id(id("resume", level))
            .clean_start(false)
            .session_expiry(300);
        rt.block_on(within("first session", async {
            let (client, eventloop) = Client::new(opts.clone());
            let driver = tokio::spawn(eventloop.run());
            client
                .subscribe("paho/resume/#", QoS::AtLeastOnce)
                .await
                .expect("subscribe");
            client.disconnect().await.expect("disconnect");
            driver.await.expect("driver").expect("event loop");
        }));
        broker.mosquitto_pub(&["-t", "paho/resume/x", "-m", "1", "-q", "1"]);
        broker.mosquitto_pub(&["-t", "paho/resume/x", "-m", "2", "-q", "1"]);

        // Resuming delivers them right after CONNACK, before the SUBACK of the new subscribe.
        let msgs = rt
            .block_on(within(
                "subscribe_simple",
                helpers::subscribe_simple(opts, &["paho/resume/#"], QoS::AtLeastOnce, 2),
            ))
            .expect("subscribe_simple");
        assert_eq!(
            msgs.iter().map(payload).collect::<Vec<_>>(),
            ["1", "2"],
            "{level}"
        );

        // Zero messages asked: connects, subscribes and disconnects.
        let none = rt
            .block_on(within(
                "subscribe_simple of 0",
                helpers::subscribe_simple(
                    options(&broker, level),
                    &["paho/none"],
                    QoS::AtMostOnce,
                    0,
                ),
            ))
            .expect("subscribe_simple");
        assert!(none.is_empty());
    }
}

#[test]
fn helpers_fail_fast_on_a_closed_port() {
    let rt = runtime();
    let opts = ConnectOptions::new("127.0.0.1", closed_port());
    let msg = Message::new("paho/nowhere", "x").expect("topic");
    let result = rt.block_on(within(
        "publish_single to a closed port",
        helpers::publish_single(opts.clone(), msg.qos(QoS::AtLeastOnce)),
    ));
    assert!(
        matches!(result, Err(HelperError::Connection(_))),
        "{result:?}"
    );
    let result = rt.block_on(within(
        "subscribe_simple to a closed port",
        helpers::subscribe_simple(opts, &["paho/#"], QoS::AtMostOnce, 1),
    ));
    assert!(
        matches!(result, Err(HelperError::Connection(_))),
        "{result:?}"
    );
}

// ---- topic_matches_sub ------------------------------------------------------------------------

#[test]
fn topic_matches_sub_works_on_its_own() {
    for (sub, topic) in [
        ("foo/bar", "foo/bar"),
        ("foo/+", "foo/bar"),
        ("foo/+/baz", "foo/bar/baz"),
        ("foo/+/#", "foo/bar/baz"),
        ("foo/#", "foo"),
        ("#", "foo/bar"),
        ("+/+", "/finance"),
        ("/+", "/finance"),
        ("$share/group/foo/#", "foo/bar"),
        ("$SYS/#", "$SYS/broker/uptime"),
    ] {
        assert!(topic_matches_sub(sub, topic), "{sub} should match {topic}");
    }
    for (sub, topic) in [
        ("foo/bar", "foo"),
        ("foo/+", "foo/bar/baz"),
        ("foo/+/baz", "foo/bar/bar"),
        ("+", "/finance"),
        ("#", "$SYS/broker/uptime"),
        ("+/broker/uptime", "$SYS/broker/uptime"),
        ("foo/#/bar", "foo/x/bar"),
        ("foo/bar", "foo/+"),
    ] {
        assert!(
            !topic_matches_sub(sub, topic),
            "{sub} should not match {topic}"
        );
    }
}
