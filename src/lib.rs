//! # pigeon-mqtt
//!
//! An async MQTT 3.1, 3.1.1 and 5.0 client for Tokio.
//!
//! ## Layout
//!
//! - [`packet`]: one packet model for every protocol level (a 5.0 superset).
//! - [`codec`]: framing and wire encoding; the only place where the versions differ.
//! - [`topic`]: topic name and filter validation and matching.
//! - [`state`]: the sans-IO protocol engine (QoS handshakes, keep alive, reconnection timing).
//! - [`store`]: session persistence behind a small trait.
//! - [`error`]: one error enum per layer.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod client;
pub mod codec;
pub mod error;
mod eventloop;
mod message;
mod options;
pub mod packet;
pub mod state;
pub mod store;
pub mod topic;

pub use client::{Client, IntoTopicFilter, Messages, PublishToken};
pub use error::{ClientError, ConnectionError, ProtocolError, PublishError, SubscribeError};
pub use eventloop::{Event, EventLoop};
pub use message::{IntoTopicName, Message};
pub use options::{ConnectOptions, ReconnectOptions, SessionLostPolicy, UrlError};
pub use packet::{ProtocolLevel, QoS};
pub use state::PublishAck;
