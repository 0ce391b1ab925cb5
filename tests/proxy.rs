//! MQTT through real proxies to Mosquitto: tinyproxy (HTTP CONNECT) and Dante (SOCKS5), with
//! and without authentication, over TCP, TLS (verified for the broker's name, inside the tunnel)
//! and WebSockets; and each way a proxy can fail, as its typed error.
// TLS cases need a crypto provider, which the `tls` feature alone does not bring.
#![cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]

#[path = "support/proxy.rs"]
mod proxy_support;
mod support;
#[path = "support/transport.rs"]
mod transport;

use std::time::{Duration, Instant};

use pigeon_mqtt::{ConnectOptions, ConnectionError, ProxyError, TlsOptions};
use proxy_support::{encode, Dante, Tinyproxy, HTTP_USER, SOCKS_PASSWORD};
use support::Mosquitto;
use transport::{closed_port, connect_error, round_trip, Pki, Validity};

/// Mosquitto with a plain, a TLS and (with the feature) a WebSocket listener. The TLS
/// certificate names only `localhost`: the proxies are reached as 127.0.0.1, so a handshake
/// that verified the proxy's address instead of the broker's name would fail.
struct Broker {
    mosquitto: Mosquitto,
    pki: Pki,
}

impl Broker {
    fn start() -> Broker {
        let pki = Pki::new();
        let cert = pki.server(&["localhost"], Validity::Now);
        let builder = Mosquitto::builder().tls(pki.listener(&cert, false));
        #[cfg(feature = "websocket")]
        let builder = builder.websockets();
        Broker {
            mosquitto: builder.build(),
            pki,
        }
    }

    /// `mqtt://127.0.0.1:PORT`
    fn tcp(&self) -> ConnectOptions {
        ConnectOptions::from_url(&self.mosquitto.url()).unwrap()
    }

    fn tcp_target(&self) -> String {
        self.mosquitto.addr()
    }

    /// `mqtts://localhost:PORT`, trusting the test CA.
    fn tls(&self) -> ConnectOptions {
        ConnectOptions::from_url(&format!("mqtts://localhost:{}", self.mosquitto.tls_port()))
            .unwrap()
            .tls(TlsOptions::new().ca_file(&self.pki.ca_file))
    }

    fn tls_target(&self) -> String {
        format!("localhost:{}", self.mosquitto.tls_port())
    }

    /// `ws://127.0.0.1:PORT/mqtt`
    #[cfg(feature = "websocket")]
    fn ws(&self) -> ConnectOptions {
        ConnectOptions::from_url(&self.mosquitto.ws_url()).unwrap()
    }

    #[cfg(feature = "websocket")]
    fn ws_target(&self) -> String {
        format!("127.0.0.1:{}", self.mosquitto.ws_port())
    }
}

fn via(opts: ConnectOptions, proxy: &str) -> ConnectOptions {
    opts.proxy(proxy)
        .unwrap_or_else(|e| panic!("proxy URL {proxy}: {e}"))
}

/// The proxy error of a failed connection attempt.
async fn proxy_error(opts: ConnectOptions) -> ProxyError {
    match connect_error(opts).await {
        ConnectionError::Proxy(e) => e,
        other => panic!("expected ConnectionError::Proxy, got {other:?} ({other})"),
    }
}

/// Waits (briefly) until `count()` reaches `n`: proxies write their logs as they go.
fn wait_for(n: usize, count: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let c = count();
        if c >= n || Instant::now() >= deadline {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn tinyproxy_tcp_tls_and_websocket() {
    let broker = Broker::start();
    let proxy = Tinyproxy::start();
    round_trip(via(broker.tcp(), &proxy.url()), "http/tcp", b"tcp".to_vec()).await;
    round_trip(via(broker.tls(), &proxy.url()), "http/tls", vec![7; 50_000]).await;
    #[cfg(feature = "websocket")]
    round_trip(via(broker.ws(), &proxy.url()), "http/ws", b"ws".to_vec()).await;

    // Every connection went through the proxy, which was asked for the broker's name.
    assert_eq!(
        wait_for(1, || proxy.connects_to(&broker.tcp_target())),
        1,
        "{}",
        proxy.log()
    );
    assert_eq!(
        wait_for(1, || proxy.connects_to(&broker.tls_target())),
        1,
        "{}",
        proxy.log()
    );
    #[cfg(feature = "websocket")]
    assert_eq!(
        wait_for(1, || proxy.connects_to(&broker.ws_target())),
        1,
        "{}",
        proxy.log()
    );
}

#[tokio::test]
async fn tinyproxy_with_basic_auth() {
    let broker = Broker::start();
    let proxy = Tinyproxy::with_basic_auth();
    let with_credentials = proxy.url_with_credentials();
    round_trip(
        via(broker.tcp(), &with_credentials),
        "auth/tcp",
        b"tcp".to_vec(),
    )
    .await;
    round_trip(
        via(broker.tls(), &with_credentials),
        "auth/tls",
        b"tls".to_vec(),
    )
    .await;

    // No credentials: 407, with the status line and a hint.
    let err = proxy_error(via(broker.tcp(), &proxy.url())).await;
    let ProxyError::HttpAuthRequired {
        proxy: name,
        status_line,
        credentials_sent,
    } = &err
    else {
        panic!("expected HttpAuthRequired, got {err:?}");
    };
    assert_eq!(name, &proxy.url());
    assert!(
        status_line.contains("407 Proxy Authentication Required"),
        "{err}"
    );
    assert!(!credentials_sent);
    assert!(
        err.to_string()
            .contains("put user:password in the proxy URL"),
        "{err}"
    );

    // A wrong password: tinyproxy answers 401 (not 407); the password never shows.
    let wrong = format!(
        "http://{HTTP_USER}:not-the-password@127.0.0.1:{}",
        proxy.port()
    );
    let err = proxy_error(via(broker.tcp(), &wrong)).await;
    assert!(
        matches!(&err, ProxyError::HttpStatus { status: 401, status_line, .. }
            if status_line.contains("Unauthorized")),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(
        text.contains(&format!("http://{HTTP_USER}@127.0.0.1:{}", proxy.port())),
        "{text}"
    );
}

#[tokio::test]
async fn tinyproxy_that_cannot_reach_the_broker_says_so() {
    let proxy = Tinyproxy::start();
    let port = closed_port();
    let opts = ConnectOptions::new("127.0.0.1", port);
    let err = proxy_error(via(opts, &proxy.url())).await;
    assert!(
        matches!(&err, ProxyError::HttpStatus { status: 500, target, .. }
            if *target == format!("127.0.0.1:{port}")),
        "{err:?}"
    );
    assert!(err.to_string().contains("Unable to connect"), "{err}");
}

#[tokio::test]
async fn proxy_from_the_url_query() {
    let broker = Broker::start();
    let proxy = Tinyproxy::with_basic_auth();
    let url = format!(
        "{}?client_id=via-query&proxy={}",
        broker.mosquitto.url(),
        encode(&proxy.url_with_credentials())
    );
    let opts = ConnectOptions::from_url(&url).unwrap();
    assert_eq!(opts.proxy_setting().unwrap().port(), proxy.port());
    round_trip(opts, "query/tcp", b"q".to_vec()).await;
    assert_eq!(
        wait_for(1, || proxy.connects_to(&broker.tcp_target())),
        1,
        "{}",
        proxy.log()
    );
}

#[tokio::test]
async fn dante_tcp_tls_and_websocket() {
    let broker = Broker::start();
    let dante = Dante::start();
    for scheme in ["socks5", "socks5h"] {
        let url = dante.url(scheme);
        round_trip(via(broker.tcp(), &url), "socks/tcp", scheme.into()).await;
        round_trip(via(broker.tls(), &url), "socks/tls", vec![9; 50_000]).await;
    }
    #[cfg(feature = "websocket")]
    round_trip(
        via(broker.ws(), &dante.url("socks5")),
        "socks/ws",
        b"ws".to_vec(),
    )
    .await;
    let tls_port = format!("127.0.0.1.{}", broker.mosquitto.tls_port());
    assert!(dante.wait_for_log(&tls_port), "{}", dante.log());
}

#[tokio::test]
async fn dante_with_password() {
    let broker = Broker::start();
    let dante = Dante::with_password();
    let url = dante.url_with_password("socks5h", SOCKS_PASSWORD);
    round_trip(via(broker.tcp(), &url), "socks-auth/tcp", b"tcp".to_vec()).await;
    round_trip(via(broker.tls(), &url), "socks-auth/tls", b"tls".to_vec()).await;

    // A wrong password.
    let wrong = dante.url_with_password("socks5", "not-the-password");
    let err = proxy_error(via(broker.tcp(), &wrong)).await;
    assert!(
        matches!(&err, ProxyError::SocksAuth { reason, .. }
            if reason.contains("rejected the user name and password")),
        "{err:?}"
    );
    assert!(
        !format!("{err} {err:?}").contains("not-the-password"),
        "{err}"
    );
    // No credentials at all.
    let err = proxy_error(via(broker.tcp(), &dante.url("socks5"))).await;
    assert!(
        matches!(&err, ProxyError::SocksAuth { reason, .. } if reason.contains("put user:password")),
        "{err:?}"
    );
}

#[tokio::test]
async fn dante_reply_errors() {
    let blocked = closed_port();
    let dante = Dante::builder().block_port(blocked).build();
    let socks = dante.url("socks5");

    // Nothing listens on the broker's port: refused (reply 5).
    let refused = closed_port();
    let err = proxy_error(via(ConnectOptions::new("127.0.0.1", refused), &socks)).await;
    assert!(
        matches!(&err, ProxyError::SocksReply { code: 5, target, .. }
            if *target == format!("127.0.0.1:{refused}")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("connection refused (reply 5)"),
        "{err}"
    );

    // A rule forbids the port: not allowed (reply 2).
    let err = proxy_error(via(ConnectOptions::new("127.0.0.1", blocked), &socks)).await;
    assert!(
        matches!(&err, ProxyError::SocksReply { code: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not allowed"), "{err}");

    // A name no resolver can look up (a label longer than 63 bytes fails before any DNS query
    // is sent): socks5h hands it to the proxy, which answers host unreachable (reply 4)...
    let name = format!("{}.invalid", "a".repeat(70));
    let err = proxy_error(via(
        ConnectOptions::new(name.as_str(), 1883),
        &dante.url("socks5h"),
    ))
    .await;
    assert!(
        matches!(&err, ProxyError::SocksReply { code: 4, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("host unreachable"), "{err}");
    assert!(
        dante.wait_for_log(&format!("could not resolve hostname \"{name}\"")),
        "the proxy resolved the name: {}",
        dante.log()
    );
    // ...while socks5 resolves it here and fails before asking the proxy.
    let err = connect_error(via(ConnectOptions::new(name.as_str(), 1883), &socks)).await;
    assert!(matches!(&err, ConnectionError::Resolve { .. }), "{err:?}");
}

#[tokio::test]
async fn socks5h_lets_the_proxy_resolve_localhost() {
    let broker = Broker::start();
    let dante = Dante::start();
    let opts = ConnectOptions::new("localhost", broker.mosquitto.port());
    round_trip(
        via(opts, &dante.url("socks5h")),
        "socks5h/name",
        b"x".to_vec(),
    )
    .await;
}

#[tokio::test]
async fn unreachable_proxy_names_its_address() {
    let port = closed_port();
    for scheme in ["http", "socks5", "socks5h"] {
        let url = format!("{scheme}://user:secret@127.0.0.1:{port}");
        let err = proxy_error(via(ConnectOptions::new("127.0.0.1", 1883), &url)).await;
        assert!(
            matches!(&err, ProxyError::Unreachable { source, .. }
                if source.kind() == std::io::ErrorKind::ConnectionRefused),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("{scheme}://user@127.0.0.1:{port}")),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(std::error::Error::source(&err).is_some());
    }
}

#[tokio::test]
async fn proxy_closing_before_answering() {
    // Accepts, reads the first bytes of the request, closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut b = [0u8; 1];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut b).await;
        }
    });
    for scheme in ["http", "socks5"] {
        let url = format!("{scheme}://127.0.0.1:{port}");
        let err = proxy_error(via(ConnectOptions::new("127.0.0.1", 1883), &url)).await;
        assert!(
            matches!(&err, ProxyError::Closed { .. }),
            "{scheme}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("the proxy {url} closed the connection before answering")
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_with_a_proxy_is_an_error() {
    let err = ConnectOptions::from_url("unix:///tmp/pigeon-no-such.sock")
        .unwrap()
        .proxy("http://127.0.0.1:3128")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot be reached through a proxy"),
        "{err}"
    );
    let opts = ConnectOptions::new("127.0.0.1", 1883)
        .proxy("http://127.0.0.1:3128")
        .unwrap()
        .servers(["unix:///tmp/pigeon-no-such.sock"])
        .unwrap();
    let err = proxy_error(opts).await;
    assert!(matches!(&err, ProxyError::UnixSocket { .. }), "{err:?}");
}
