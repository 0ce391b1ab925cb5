//! A scripted fake MQTT broker, for edge cases no real broker produces (duplicate or stray
//! acknowledgements, unknown topic aliases, malformed bytes, half-open sockets, ...).
//! End-to-end behaviour is tested against Mosquitto (see `mosquitto.rs`).
//!
//! A test drives each accepted connection step by step: it [`Conn::expect`]s the next packet the
//! client sends (decoded with `pigeon_mqtt::codec::decode` at the connection's protocol level,
//! learnt from CONNECT) and asserts on it, [`Conn::send`]s packets (encoded with
//! `codec::encode`) or exact bytes ([`Conn::send_raw`]), drops the connection
//! ([`Conn::close`]) or keeps it open without ever answering ([`Conn::go_silent`]). Every wait
//! has a timeout and panics when it expires, so a test fails instead of hanging.
//!
//! [`Events`] runs a client's event loop on a task and hands its events over, also with
//! timeouts.
//!
//! ```ignore
//! mod support;
//! use support::scripted::{Events, ScriptedBroker};
//!
//! let broker = ScriptedBroker::start().await;
//! let (client, eventloop) = Client::new(broker.options(ProtocolLevel::V5));
//! let mut events = Events::spawn(eventloop);
//! let (mut conn, connect) = broker.accept_connect(ConnAck::new(false, ReasonCode::Success)).await;
//! events.connected().await;
//! conn.send(Packet::PingResp).await;
//! ```
//!
//! Everything binds to 127.0.0.1 only.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use bytes::Bytes;
use pigeon_mqtt::codec::{self, Decoded};
use pigeon_mqtt::packet::{
    ConnAck, Connect, Packet, PacketId, ProtocolLevel, Publish, QosPid, ReasonCode,
};
use pigeon_mqtt::topic::TopicName;
use pigeon_mqtt::{
    Client, ConnectOptions, ConnectionError, Event, EventLoop, Message, ReconnectOptions,
};

/// How long any single step (accept, expect, an event) may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);

/// A listening fake broker on `127.0.0.1:0`. Connections are accepted one at a time with
/// [`ScriptedBroker::accept`].
#[derive(Debug)]
pub struct ScriptedBroker {
    listener: TcpListener,
    port: u16,
}

impl ScriptedBroker {
    /// Binds a fresh loopback port.
    pub async fn start() -> ScriptedBroker {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        ScriptedBroker { listener, port }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Client options for this broker at `level`, with a fixed client id and a short reconnect
    /// backoff (50 to 200 ms) so reconnection tests run quickly.
    pub fn options(&self, level: ProtocolLevel) -> ConnectOptions {
        ConnectOptions::new("127.0.0.1", self.port)
            .protocol(level)
            .client_id("scripted")
            .reconnect(
                ReconnectOptions::default()
                    .backoff(Duration::from_millis(50), Duration::from_millis(200)),
            )
    }

    /// The next connection; panics if none arrives within [`STEP`].
    pub async fn accept(&self) -> Conn {
        match self.accept_within(STEP).await {
            Some(conn) => conn,
            None => panic!("no connection to the scripted broker within {STEP:?}"),
        }
    }

    /// The next connection, or `None` if none arrives within `timeout`.
    pub async fn accept_within(&self, timeout: Duration) -> Option<Conn> {
        let (stream, _) = tokio::time::timeout(timeout, self.listener.accept())
            .await
            .ok()?
            .expect("accept a connection");
        Some(Conn::new(stream))
    }

    /// Accepts a connection, expects CONNECT and answers with `connack`.
    pub async fn accept_connect(&self, connack: ConnAck) -> (Conn, Connect) {
        let mut conn = self.accept().await;
        let connect = conn.accept_connect(connack).await;
        (conn, connect)
    }
}

/// What [`Conn::recv_within`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recv {
    /// A whole packet from the client.
    Packet(Packet),
    /// The client closed (or reset) the connection.
    Closed,
    /// Nothing within the timeout.
    Silent,
}

/// One accepted client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    level: ProtocolLevel,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            // Replaced by the CONNECT's level; CONNECT itself is decoded at its own level.
            level: ProtocolLevel::V5,
        }
    }

    /// The protocol level packets are decoded and encoded at (the CONNECT's, once it arrived).
    pub fn level(&self) -> ProtocolLevel {
        self.level
    }

    /// The next packet from the client; panics if none arrives within [`STEP`] or the
    /// connection closes first.
    pub async fn expect(&mut self) -> Packet {
        self.expect_within(STEP).await
    }

    /// Like [`Conn::expect`] with another timeout.
    pub async fn expect_within(&mut self, timeout: Duration) -> Packet {
        match self.recv_within(timeout).await {
            Recv::Packet(p) => p,
            Recv::Closed => panic!("the client closed the connection while a packet was expected"),
            Recv::Silent => panic!("no packet from the client within {timeout:?}"),
        }
    }

    /// Expects CONNECT (and learns the protocol level from it).
    pub async fn expect_connect(&mut self) -> Connect {
        match self.expect().await {
            Packet::Connect(c) => *c,
            other => panic!("expected CONNECT, got {other:?}"),
        }
    }

    /// Expects CONNECT and answers with `connack`; returns the CONNECT.
    pub async fn accept_connect(&mut self, connack: ConnAck) -> Connect {
        let connect = self.expect_connect().await;
        self.send(Packet::ConnAck(connack)).await;
        connect
    }

    /// Asserts that the client sends nothing (and keeps the connection open) for `duration`.
    pub async fn expect_nothing(&mut self, duration: Duration) {
        match self.recv_within(duration).await {
            Recv::Silent => {}
            other => panic!("expected silence for {duration:?}, got {other:?}"),
        }
    }

    /// Asserts that the client closes the connection within [`STEP`] without sending anything
    /// more.
    pub async fn expect_closed(&mut self) {
        match self.recv_within(STEP).await {
            Recv::Closed => {}
            other => panic!("expected the client to close the connection, got {other:?}"),
        }
    }

    /// The next packet, the end of the connection, or silence for `timeout`.
    pub async fn recv_within(&mut self, timeout: Duration) -> Recv {
        let deadline = Instant::now() + timeout;
        loop {
            match codec::decode(&mut self.buf, self.level, codec::MAX_PACKET_SIZE) {
                Ok(Decoded::Packet(p)) => {
                    if let Packet::Connect(c) = &p {
                        self.level = c.protocol;
                    }
                    return Recv::Packet(p);
                }
                Ok(Decoded::Incomplete { needed }) => self.buf.reserve(needed.max(4096)),
                Err(e) => panic!("the client sent a malformed packet: {e}"),
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Recv::Silent,
                Ok(Ok(0)) => {
                    assert!(
                        self.buf.is_empty(),
                        "the client closed the connection inside a packet ({} bytes left)",
                        self.buf.len()
                    );
                    return Recv::Closed;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) if is_reset(&e) => return Recv::Closed,
                Ok(Err(e)) => panic!("reading from the client: {e}"),
            }
        }
    }

    /// Encodes `packet` at the connection's level and writes it.
    pub async fn send(&mut self, packet: Packet) {
        let mut buf = BytesMut::new();
        codec::encode(&packet, self.level, codec::MAX_PACKET_SIZE, &mut buf)
            .unwrap_or_else(|e| panic!("cannot encode {packet:?} at {}: {e}", self.level));
        self.send_raw(&buf).await;
    }

    /// Writes exact bytes (for packets the codec refuses to produce).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(STEP, self.stream.write_all(bytes))
            .await
            .unwrap_or_else(|_| panic!("writing to the client blocked for {STEP:?}"))
            .expect("write to the client");
    }

    /// Like [`Conn::send`], but may block as long as the client does not read (no timeout):
    /// for backpressure tests, which bound the whole exchange themselves.
    pub async fn send_blocking(&mut self, packet: Packet) {
        let mut buf = BytesMut::new();
        codec::encode(&packet, self.level, codec::MAX_PACKET_SIZE, &mut buf)
            .unwrap_or_else(|e| panic!("cannot encode {packet:?} at {}: {e}", self.level));
        self.stream
            .write_all(&buf)
            .await
            .expect("write to the client");
    }

    /// Drops the connection (the client sees the socket close).
    pub fn close(self) {
        drop(self);
    }

    /// Half-open: keeps the connection open and reads (and records) whatever the client sends,
    /// but never answers, until the client closes it.
    pub fn go_silent(mut self) -> Silent {
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                match self.recv_within(Duration::from_secs(3600)).await {
                    Recv::Packet(p) => seen.push(p),
                    Recv::Closed | Recv::Silent => return seen,
                }
            }
        });
        Silent { task }
    }
}

/// A connection that no longer answers ([`Conn::go_silent`]).
#[derive(Debug)]
pub struct Silent {
    task: JoinHandle<Vec<Packet>>,
}

impl Silent {
    /// Waits (up to [`STEP`]) for the client to close the connection; returns what it sent.
    pub async fn closed(self) -> Vec<Packet> {
        tokio::time::timeout(STEP, self.task)
            .await
            .unwrap_or_else(|_| panic!("the client kept the silent connection open for {STEP:?}"))
            .expect("silent connection task")
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
    )
}

/// Why a connection ended, as reported by [`Event::ConnectionLost`].
#[derive(Debug, Clone)]
pub struct Lost {
    /// The error.
    pub error: ConnectionError,
    /// Whether CONNACK had accepted the connection.
    pub was_connected: bool,
    /// Whether the event loop reconnects.
    pub reconnecting: bool,
}

/// A client's event loop running on its own task, its events (and its final error) forwarded
/// over a channel. The task is aborted when this is dropped.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    task: JoinHandle<()>,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Events {
    /// Spawns a task that polls `eventloop` until it returns an error.
    pub fn spawn(mut eventloop: EventLoop) -> Events {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let r = eventloop.poll().await;
                let end = r.is_err();
                if tx.send(r).is_err() || end {
                    return;
                }
            }
        });
        Events { rx, task }
    }

    /// The next event (or the loop's final error); panics after [`STEP`].
    pub async fn next(&mut self) -> Result<Event, ConnectionError> {
        match self.next_within(STEP).await {
            Some(r) => r,
            None => panic!("no event within {STEP:?}"),
        }
    }

    /// The next event, or `None` after `timeout`.
    pub async fn next_within(
        &mut self,
        timeout: Duration,
    ) -> Option<Result<Event, ConnectionError>> {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Ok(Some(r)) => Some(r),
            Ok(None) => panic!("the event loop task ended without an error"),
            Err(_) => None,
        }
    }

    /// Waits for [`Event::Connected`], skipping publish/subscribe completions; panics on any
    /// other event.
    pub async fn connected(&mut self) -> ConnAck {
        loop {
            match self.next().await {
                Ok(Event::Connected(ack)) => return ack,
                Ok(e) if is_completion(&e) => {}
                other => panic!("expected Connected, got {other:?}"),
            }
        }
    }

    /// Waits for the next [`Event::Message`], skipping publish/subscribe completions; panics
    /// on any other event (a connection change is not expected).
    pub async fn message(&mut self) -> Message {
        loop {
            match self.next().await {
                Ok(Event::Message(m)) => return m,
                Ok(e) if is_completion(&e) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Waits for [`Event::ConnectionLost`]; returns it with the messages received before it,
    /// skipping completions and panicking on anything else.
    pub async fn connection_lost(&mut self) -> (Lost, Vec<Message>) {
        let mut messages = Vec::new();
        loop {
            match self.next().await {
                Ok(Event::ConnectionLost {
                    error,
                    was_connected,
                    reconnecting,
                }) => {
                    let lost = Lost {
                        error,
                        was_connected,
                        reconnecting,
                    };
                    return (lost, messages);
                }
                Ok(Event::Message(m)) => messages.push(m),
                Ok(e) if is_completion(&e) => {}
                other => panic!("expected ConnectionLost, got {other:?}"),
            }
        }
    }
}

fn is_completion(e: &Event) -> bool {
    matches!(
        e,
        Event::Published(_) | Event::Subscribed(_) | Event::Unsubscribed(_)
    )
}

// ---- a connected client and its broker, and small builders ------------------------------------

/// A client connected to a fresh scripted broker, with the first connection accepted.
pub struct Session {
    pub broker: ScriptedBroker,
    pub client: Client,
    pub events: Events,
    pub conn: Conn,
    /// The CONNECT of the first connection.
    pub connect: Connect,
}

impl Session {
    pub async fn connect(
        level: ProtocolLevel,
        opts: impl FnOnce(ConnectOptions) -> ConnectOptions,
    ) -> Session {
        Session::connect_with(level, opts, success()).await
    }

    pub async fn connect_with(
        level: ProtocolLevel,
        opts: impl FnOnce(ConnectOptions) -> ConnectOptions,
        connack: ConnAck,
    ) -> Session {
        let broker = ScriptedBroker::start().await;
        let (client, eventloop) = Client::new(opts(broker.options(level)));
        let mut events = Events::spawn(eventloop);
        let (conn, connect) = broker.accept_connect(connack).await;
        assert_eq!(connect.protocol, level);
        events.connected().await;
        Session {
            broker,
            client,
            events,
            conn,
            connect,
        }
    }
}

pub fn success() -> ConnAck {
    ConnAck::new(false, ReasonCode::Success)
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero packet identifier")
}

pub async fn within<F: std::future::IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("not completed within {STEP:?}"))
}

pub async fn expect_publish(conn: &mut Conn) -> Publish {
    match conn.expect().await {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

pub fn publish(topic: &str, payload: impl Into<Bytes>, qos: QosPid) -> Publish {
    let mut p = Publish::new(TopicName::new(topic).expect("valid topic"), payload);
    p.qos = qos;
    p
}
