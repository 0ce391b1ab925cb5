//! # pigeon-mqtt
//!
//! An async MQTT 3.1, 3.1.1 and 5.0 client for Tokio.
//!
//! ## Getting started
//!
//! [`Client::new`] gives a cloneable [`Client`] handle and the [`EventLoop`] that owns the
//! connection. Poll the event loop (or spawn it with [`EventLoop::run`] /
//! [`EventLoop::into_messages`]) and use the client from any task:
//!
//! ```no_run
//! use pigeon_mqtt::{Client, ConnectOptions, Event, Message, QoS};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut eventloop) = Client::new(ConnectOptions::from_url("mqtt://127.0.0.1:1883")?);
//! let publisher = client.clone();
//! tokio::spawn(async move {
//!     publisher.subscribe("sensors/#", QoS::AtLeastOnce).await?;
//!     publisher
//!         .publish(Message::new("sensors/kitchen", "21.5")?.qos(QoS::AtLeastOnce))
//!         .await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//! while let Ok(event) = eventloop.poll().await {
//!     if let Event::Message(m) = event {
//!         println!("{}: {:?}", m.topic(), m.payload_str());
//!     }
//! }
//! # Ok(()) }
//! ```
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
//! `ws://` and `wss://`; `dangerous-insecure-tls` adds
//! `TlsOptions::dangerous_accept_any_server_certificate` (tests only).
//!
//! ## Reconnection
//!
//! A lost connection is re-established with exponential backoff and jitter
//! ([`ReconnectOptions`]). With a session present, unacknowledged messages are resent with DUP
//! set and their original identifiers [MQTT-4.4.0-1]; without one, subscriptions are restored and
//! in-flight messages follow the [`SessionLostPolicy`].
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
pub mod state;
pub mod store;
pub mod topic;
mod transport;

pub use callbacks::{CallbackClient, DisconnectInfo, LoopHandle};
pub use client::{AckToken, Client, IntoTopicFilter, Messages, PublishToken};
pub use error::{
    ClientError, ConnectionError, ProtocolError, ProxyError, PublishError, SubscribeError,
};
pub use eventloop::{Event, EventLoop};
pub use message::{IntoTopicName, Message};
#[cfg(feature = "tls")]
pub use options::TlsOptions;
pub use options::{
    ConnectOptions, ReconnectOptions, Scheme, Server, SessionLostPolicy, UrlError,
    DEFAULT_MAXIMUM_PACKET_SIZE,
};
pub use packet::{ProtocolLevel, QoS};
pub use state::PublishAck;
/// The rustls version this crate is built with, for [`TlsOptions::from_config`].
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;
pub use transport::{Proxy, ProxyKind};
