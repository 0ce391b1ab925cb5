//! Connection URLs: every scheme, what each malformed URL says, Unix sockets, and failover
//! across a list of servers.

mod support;
#[path = "support/transport.rs"]
mod transport;

use std::time::Duration;

use pigeon_mqtt::{
    Client, ConnectOptions, ConnectionError, Event, ProtocolLevel, ReconnectOptions, Scheme,
    Server, UrlError,
};
use support::Mosquitto;
use transport::{closed_port, disconnect, round_trip, STEP};

fn server(url: &str) -> Server {
    let opts = ConnectOptions::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(opts.server_list().len(), 1);
    opts.server_list()[0].clone()
}

fn parts(s: &Server) -> (Scheme, &str, u16, &str) {
    (s.scheme(), s.host(), s.port(), s.path())
}

#[test]
fn tcp_schemes_and_default_port() {
    for url in [
        "mqtt://broker",
        "tcp://broker",
        "MQTT://broker/",
        "mqtt://broker:1883",
    ] {
        assert_eq!(
            parts(&server(url)),
            (Scheme::Mqtt, "broker", 1883, ""),
            "{url}"
        );
    }
    assert_eq!(
        parts(&server("mqtt://[::1]:1884")),
        (Scheme::Mqtt, "::1", 1884, "")
    );
    assert_eq!(server("tcp://[::1]:1884").to_string(), "mqtt://[::1]:1884");
}

#[cfg(feature = "tls")]
#[test]
fn tls_schemes_and_default_port() {
    for url in ["mqtts://broker", "ssl://broker", "SSL://broker:8883"] {
        assert_eq!(
            parts(&server(url)),
            (Scheme::Mqtts, "broker", 8883, ""),
            "{url}"
        );
    }
    assert!(Scheme::Mqtts.is_tls() && !Scheme::Mqtt.is_tls());
}

#[cfg(feature = "websocket")]
#[test]
fn websocket_schemes_paths_and_query() {
    assert_eq!(
        parts(&server("ws://broker")),
        (Scheme::Ws, "broker", 80, "/")
    );
    assert_eq!(
        parts(&server("ws://broker:9001/mqtt")),
        (Scheme::Ws, "broker", 9001, "/mqtt")
    );
    // Options are taken out of the query; anything else stays in the request path.
    let opts =
        ConnectOptions::from_url("ws://u:p@broker/a/b?X-Amz-Date=1&client_id=c1&sig=z").unwrap();
    assert_eq!(
        parts(&opts.server_list()[0]),
        (Scheme::Ws, "broker", 80, "/a/b?X-Amz-Date=1&sig=z")
    );
    assert_eq!(
        opts.server_list()[0].to_string(),
        "ws://broker:80/a/b?X-Amz-Date=1&sig=z"
    );
    #[cfg(feature = "tls")]
    assert_eq!(
        parts(&server("wss://broker/mqtt")),
        (Scheme::Wss, "broker", 443, "/mqtt")
    );
}

#[test]
fn unix_socket_urls() {
    assert_eq!(
        parts(&server("unix:///run/mosquitto/mqtt.sock")),
        (Scheme::Unix, "", 0, "/run/mosquitto/mqtt.sock")
    );
    let opts = ConnectOptions::from_url("unix:///tmp/s?client_id=x&protocol=4").unwrap();
    assert_eq!(opts.server_list()[0].path(), "/tmp/s");
    assert_eq!(opts.protocol_level(), ProtocolLevel::V3_1_1);
    assert_eq!(server("unix:///tmp/s").to_string(), "unix:///tmp/s");
}

#[test]
fn malformed_urls_say_what_is_wrong() {
    use UrlError as E;
    type Check = fn(&UrlError) -> bool;
    let cases: Vec<(&str, Check, &str)> = vec![
        (
            "127.0.0.1:1883",
            |e| matches!(e, E::MissingScheme(_)),
            "no scheme",
        ),
        (
            "://broker",
            |e| matches!(e, E::MissingScheme(_)),
            "no scheme",
        ),
        (
            "http://broker",
            |e| matches!(e, E::UnsupportedScheme(s) if s == "http"),
            "\"http\" is not supported",
        ),
        (
            "mqtt://broker:0",
            |e| matches!(e, E::InvalidPort(p) if p == "0"),
            "port \"0\"",
        ),
        (
            "mqtt://broker:99999",
            |e| matches!(e, E::InvalidPort(_)),
            "1 to 65535",
        ),
        (
            "mqtt://broker:abc",
            |e| matches!(e, E::InvalidPort(p) if p == "abc"),
            "\"abc\"",
        ),
        ("mqtt://broker:", |e| matches!(e, E::InvalidPort(_)), "port"),
        (
            "mqtt://:1883",
            |e| matches!(e, E::MissingHost(_)),
            "has no host",
        ),
        ("mqtt://", |e| matches!(e, E::MissingHost(_)), "has no host"),
        (
            "mqtt://user@",
            |e| matches!(e, E::MissingHost(_)),
            "has no host",
        ),
        (
            "mqtt://[::1",
            |e| matches!(e, E::Malformed(..)),
            "unclosed '['",
        ),
        (
            "mqtt://broker/path",
            |e| matches!(e, E::Malformed(..)),
            "only meaningful for ws://",
        ),
        (
            "mqtt://broker?nope=1",
            |e| matches!(e, E::InvalidQuery(q) if q == "nope=1"),
            "\"nope=1\"",
        ),
        (
            "mqtt://broker?keep_alive=x",
            |e| matches!(e, E::InvalidQuery(_)),
            "keep_alive=x",
        ),
        (
            "mqtt://broker?protocol=6",
            |e| matches!(e, E::InvalidQuery(_)),
            "protocol=6",
        ),
        (
            "unix://",
            |e| matches!(e, E::MissingPath(_)),
            "no socket path",
        ),
        (
            "unix://?client_id=a",
            |e| matches!(e, E::MissingPath(_)),
            "no socket path",
        ),
        (
            "unix://host/sock",
            |e| matches!(e, E::Malformed(..)),
            "unix:///absolute/path",
        ),
    ];
    for (url, is_expected, text) in cases {
        let err = ConnectOptions::from_url(url).expect_err(url);
        assert!(is_expected(&err), "{url}: unexpected {err:?}");
        assert!(err.to_string().contains(text), "{url}: {err}");
    }
}

#[cfg(feature = "websocket")]
#[test]
fn malformed_websocket_urls() {
    let err = ConnectOptions::from_url("ws:///mqtt").unwrap_err();
    assert!(matches!(err, UrlError::MissingHost(_)), "{err:?}");
    let err = ConnectOptions::from_url("ws://broker:70000/mqtt").unwrap_err();
    assert!(matches!(err, UrlError::InvalidPort(_)), "{err:?}");
}

#[cfg(not(feature = "websocket"))]
#[test]
fn websocket_urls_without_the_feature_say_which_feature() {
    for url in ["ws://broker/mqtt", "wss://broker/mqtt"] {
        let err = ConnectOptions::from_url(url).unwrap_err();
        assert!(
            matches!(
                &err,
                UrlError::FeatureDisabled {
                    feature: "websocket",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("`websocket` feature"), "{err}");
    }
}

#[cfg(all(feature = "websocket", not(feature = "tls")))]
#[test]
fn wss_without_tls_says_which_feature() {
    let err = ConnectOptions::from_url("wss://broker/mqtt").unwrap_err();
    assert!(
        matches!(
            &err,
            UrlError::FeatureDisabled {
                feature: "tls-ring",
                ..
            }
        ),
        "{err:?}"
    );
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_urls_without_the_feature_say_which_feature() {
    for url in ["mqtts://broker", "ssl://broker"] {
        let err = ConnectOptions::from_url(url).unwrap_err();
        assert!(matches!(&err, UrlError::FeatureDisabled { .. }), "{err:?}");
        assert!(err.to_string().contains("tls-ring"), "{err}");
    }
}

#[test]
fn server_lists() {
    let opts = ConnectOptions::from_url("mqtt://u:p@a:1?client_id=x")
        .unwrap()
        .add_server("tcp://b:2")
        .unwrap()
        .add_server("unix:///c")
        .unwrap();
    let urls: Vec<String> = opts.server_list().iter().map(|s| s.to_string()).collect();
    assert_eq!(urls, ["mqtt://a:1", "mqtt://b:2", "unix:///c"]);
    assert_eq!((opts.host(), opts.port()), ("a", 1));

    let opts = opts.servers(["mqtt://d", "mqtt://e"]).unwrap();
    assert_eq!(opts.server_list().len(), 2);
    assert_eq!(opts.host(), "d");

    let err = ConnectOptions::new("a", 1)
        .servers(Vec::<String>::new())
        .unwrap_err();
    assert_eq!(err, UrlError::NoServers);
    let err = ConnectOptions::new("a", 1)
        .add_server("mqtt://user:pass@b")
        .unwrap_err();
    assert!(matches!(err, UrlError::Malformed(..)), "{err:?}");
    assert!(err.to_string().contains("belong in the first URL"), "{err}");
    let err = ConnectOptions::new("a", 1)
        .add_server("mqtt://b?client_id=z")
        .unwrap_err();
    assert!(matches!(err, UrlError::Malformed(..)), "{err:?}");
    let err = ConnectOptions::new("a", 1)
        .servers(["mqtt://ok", "bogus://x"])
        .unwrap_err();
    assert!(matches!(err, UrlError::UnsupportedScheme(_)), "{err:?}");
    assert!(Server::from_url("mqtt://h:1").is_ok());
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mqtt.sock");
    // Mosquitto 2.0 listens on a Unix socket with `listener 0 PATH`.
    let _broker = Mosquitto::builder()
        .extra_config(&format!("listener 0 {}\n", sock.display()))
        .build();
    let deadline = std::time::Instant::now() + STEP;
    while !sock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no socket at {}",
            sock.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for level in ["4", "5"] {
        let url = format!("unix://{}?protocol={level}", sock.display());
        round_trip(
            ConnectOptions::from_url(&url).unwrap(),
            "unix/t",
            b"local".to_vec(),
        )
        .await;
    }
    let path = dir.path().join("nothing.sock").display().to_string();
    let missing = format!("unix://{path}");
    let err = transport::connect_error(ConnectOptions::from_url(&missing).unwrap()).await;
    assert!(
        matches!(&err, ConnectionError::Connect { address, .. } if address == &path),
        "{err:?}"
    );
}

fn fast_reconnect(opts: ConnectOptions) -> ConnectOptions {
    opts.reconnect(
        ReconnectOptions::default()
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
            .retry_first_connect(true),
    )
    .connect_timeout(STEP)
}

/// The next connection event: `Ok(())` for Connected, `Err(..)` for ConnectionLost.
async fn next_connection_event(
    eventloop: &mut pigeon_mqtt::EventLoop,
) -> Result<(), (ConnectionError, bool)> {
    loop {
        match tokio::time::timeout(STEP, eventloop.poll())
            .await
            .expect("no event within the step timeout")
            .expect("the event loop stopped")
        {
            Event::Connected(_) => return Ok(()),
            Event::ConnectionLost {
                error,
                was_connected,
                ..
            } => return Err((error, was_connected)),
            _ => {}
        }
    }
}

#[tokio::test]
async fn failover_to_the_next_server_when_a_connect_fails() {
    let broker = Mosquitto::start();
    let dead = format!("mqtt://127.0.0.1:{}", closed_port());
    let opts = ConnectOptions::from_url(&dead)
        .unwrap()
        .add_server(&broker.url())
        .unwrap();
    let (client, mut eventloop) = Client::new(fast_reconnect(opts));
    let (error, was_connected) = next_connection_event(&mut eventloop).await.unwrap_err();
    assert!(!was_connected);
    assert!(
        matches!(&error, ConnectionError::Connect { address, .. } if dead.ends_with(address.as_str())),
        "{error:?}"
    );
    next_connection_event(&mut eventloop)
        .await
        .expect("the second server accepts");
    transport::exchange(&client, &mut eventloop, "failover/t", b"x".to_vec()).await;
    disconnect(client, eventloop).await;
}

#[tokio::test]
async fn a_lost_connection_moves_on_to_the_next_server() {
    let mut first = Mosquitto::start();
    let second = Mosquitto::start();
    let opts = ConnectOptions::new("unused", 1)
        .servers([first.url(), second.url()])
        .unwrap()
        .client_id("failover-lost");
    let (client, mut eventloop) = Client::new(fast_reconnect(opts));
    next_connection_event(&mut eventloop).await.unwrap();
    assert!(first.wait_for_log("failover-lost", STEP));
    first.kill();
    let (_, was_connected) = next_connection_event(&mut eventloop).await.unwrap_err();
    assert!(was_connected);
    // The very next attempt goes to the second server, and succeeds.
    next_connection_event(&mut eventloop)
        .await
        .expect("reconnected to the second server");
    assert!(second.wait_for_log("failover-lost", STEP));
    transport::exchange(&client, &mut eventloop, "failover/lost", b"y".to_vec()).await;
    disconnect(client, eventloop).await;
}
