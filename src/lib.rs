//! # pigeon-mqtt
//!
//! An async MQTT 3.1, 3.1.1 and 5.0 client for Tokio.
//!
//! ## Getting started
//!
//! [`Client::new`] gives a cloneable [`Client`] handle and the [`EventLoop`] that owns the
//! connection. [`EventLoop::connect`] awaits the first connection, like paho's `connect()`: it
//! returns the CONNACK, or the error that made it fail (unreachable broker, refusal, TLS). Then
//! spawn the event loop ([`EventLoop::run`] / [`EventLoop::into_messages`]) or poll it, and use the
//! client from any task:
//!
//! ```no_run
//! use futures::StreamExt;
//! use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut eventloop) = Client::new(ConnectOptions::from_url("mqtt://127.0.0.1:1883")?);
//! eventloop.connect().await?; // Err(ConnectionError::Refused { .. }), Connect, Resolve, Tls, ...
//! let mut messages = eventloop.into_messages();
//! client.subscribe("sensors/#", QoS::AtLeastOnce).await?;
//! client
//!     .publish(Message::new("sensors/kitchen", "21.5")?.qos(QoS::AtLeastOnce))
//!     .await?;
//! while let Some(m) = messages.next().await {
//!     println!("{}: {:?}", m.topic(), m.payload_str());
//! }
//! # Ok(()) }
//! ```
//!
//! A first connection that fails is not retried by default
//! ([`ReconnectOptions::retry_first_connect`]): requests already made fail with its error. Once
//! connected, lost connections are re-established with backoff, and every failure reaches the
//! application as [`Event::ConnectionLost`] with its typed [`ConnectionError`], whose variant
//! follows the cause (host name, TCP, TLS, WebSocket, proxy, closed before CONNACK, refused,
//! protocol violation, keep alive). Without an explicitly chosen protocol level the client asks
//! for 5.0 and falls back to 3.1.1 for a broker that speaks only 3.1.1
//! ([`Event::ProtocolFallback`]).
//!
//! ## Layout
//!
//! - [`packet`]: one packet model for every protocol level (a 5.0 superset).
//! - [`codec`]: framing and wire encoding; the only place where the versions differ.
//! - [`topic`]: topic name and filter validation and matching.
//! - [`state`]: the sans-IO protocol engine (QoS handshakes, keep alive, topic aliases, flow
//!   control, reconnection timing); no I/O, no clock.
//! - [`store`]: session persistence behind a small trait.
//! - [`Client`] / [`EventLoop`]: the handle and the driver that owns the socket and the clock.
//! - [`error`]: one error enum per layer.
//!
//! ## Protocol versions
//!
//! [`ConnectOptions::protocol`] selects 5.0 (default), 3.1.1 or 3.1. Everything else is written
//! once: MQTT 5 properties and reason codes are absent (not sent) at 3.1.1.
//!
//! ## TLS
//!
//! The URL scheme picks the transport ([`Scheme`]): `mqtt://` / `tcp://` (TCP), `mqtts://` /
//! `ssl://` (TLS), `ws://` / `wss://` (WebSocket with the `mqtt` subprotocol, `websocket`
//! feature) and `unix:///path` (Unix socket). TLS is rustls; [`TlsOptions`] sets the trusted
//! CAs (file or memory; by default the platform's roots), a client certificate for mutual TLS,
//! the server name and ALPN, or takes a whole [`rustls::ClientConfig`]. A failed handshake is a
//! [`ConnectionError::Tls`] that says why (expired, not valid for the name, unknown issuer).
//! Several servers can be given ([`ConnectOptions::add_server`]); each connection attempt goes to
//! the next one.
//! Any of them but a Unix socket can go through a proxy ([`ConnectOptions::proxy`]: HTTP
//! CONNECT or SOCKS5, or from the environment); TLS then runs inside the tunnel, for the
//! broker's name.
//!
//! Features: `tls-ring` (default) or `tls-aws-lc-rs` choose the crypto provider;
//! `native-roots` (default) and `webpki-roots` the default trust roots; `websocket` adds
//! `ws://` and `wss://`; `file-store` adds `store::FileStore`, a session store in an SQLite
//! file; `dangerous-insecure-tls` adds
//! `TlsOptions::dangerous_accept_any_server_certificate` (tests only).
//!
//! ## Reconnection
//!
//! A lost connection is re-established with exponential backoff and jitter
//! ([`ReconnectOptions`]). With a session present, unacknowledged messages are resent with DUP
//! set and their original identifiers [MQTT-4.4.0-1]; without one, subscriptions are restored and
//! in-flight messages follow the [`SessionLostPolicy`]. Delays lie between the minimum and the
//! maximum, doubling after each failed attempt, and start again only once a connection has stayed
//! up for [`ReconnectOptions::stable_after`], so a broker that accepts and drops at once is not
//! hammered.
//!
//! ## Brokers that misbehave
//!
//! No publish is left pending because of what a broker does:
//!
//! - an acknowledgement of the wrong kind (PUBACK for QoS 2, as RabbitMQ 3.10 sends; PUBREC or
//!   PUBCOMP for QoS 1) fails that publish with [`PublishError::Protocol`], frees its slot and
//!   closes the connection (DISCONNECT 0x82 at 5.0);
//! - a message on which the server closes the connection again and again (NATS 2.9 on QoS 2)
//!   fails with [`PublishError::ServerClosesConnection`] after
//!   [`ConnectOptions::max_publish_closures`] attempts;
//! - a server that showed it does not support QoS 2 (either way) gets no more QoS 2: those
//!   publishes fail with `QoSNotSupported`, as above a Maximum QoS of 1;
//! - a packet larger than [`ConnectOptions::maximum_packet_size`] (1 MiB by default) is refused
//!   from its fixed header ([`ConnectionError::PacketTooLarge`]), so a connection's memory stays
//!   within its options.
//!
//! ## When a broker forgets
//!
//! A broker that loses state it had acknowledged (restarted from an old snapshot, or a session
//! kept from an earlier process that died between PUBREC and PUBREL) may still hold QoS 2
//! packet identifiers awaiting a PUBREL that will never come. Such identifiers count against the
//! broker's Receive Maximum, and this client never reuses an identifier the broker might hold
//! (a broker treats a PUBLISH with such an identifier as a duplicate [MQTT-4.3.3-10]: the new
//! message would be lost and the stale one released instead).
//!
//! - At 5.0 the broker refuses new messages with Quota exceeded (0x97). After 3 such refusals
//!   on a resumed session, the client lets the QoS 2 messages past PUBREC complete, ends the
//!   connection and starts a fresh session ([`ConnectOptions::stale_session_recovery`]); the
//!   refused and in-flight messages are published again there (by [`SessionLostPolicy`]) and
//!   subscriptions restored. Nothing the client holds is lost silently. What the fresh session costs: messages the broker had
//!   queued for this client's subscriptions, and the stale messages themselves (which the broker
//!   had delivered before it forgot, or which an earlier process never completed).
//! - At 3.1.1 a broker cannot refuse a message: Mosquitto acknowledges one beyond its quota and
//!   drops it. The client cannot tell, and the publish resolves `Ok`: measured against Mosquitto,
//!   20 stale identifiers lost 20 of the next 200 messages, then publishing went on normally. A
//!   broker with durable, synchronous persistence does not forget.
//! - Whatever the level, a message the broker had taken (PUBACK, PUBREC) and then forgot is lost;
//!   a QoS 2 message it had delivered and forgot may be delivered again. The client cannot undo a
//!   broker's data loss; it is never wedged by it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod blocking;
mod callbacks;
mod client;
pub mod codec;
pub mod error;
mod eventloop;
pub mod helpers;
mod message;
mod options;
pub mod packet;
mod queue;
pub mod state;
pub mod store;
pub mod topic;
mod transport;

pub use callbacks::{CallbackClient, DisconnectInfo, LoopHandle};
pub use client::{AckToken, Client, Enqueued, IntoTopicFilter, Messages, PublishToken};
pub use error::{
    ClientError, ConnectionError, ProtocolError, ProxyError, PublishError, SubscribeError,
};
pub use eventloop::{Event, EventLoop};
pub use message::{AckTag, IntoTopicName, Message};
#[cfg(feature = "tls")]
pub use options::TlsOptions;
pub use options::{
    ConnectOptions, QueueFullPolicy, ReconnectOptions, Scheme, Server, SessionLostPolicy, UrlError,
    DEFAULT_MAXIMUM_PACKET_SIZE,
};
pub use packet::{ProtocolLevel, QoS};
pub use state::PublishAck;
/// The rustls version this crate is built with, for [`TlsOptions::from_config`].
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;
pub use transport::{Proxy, ProxyKind};
