//! # pigeon-mqtt
//!
//! An async MQTT 3.1, 3.1.1 and 5.0 client for Tokio.
//!
//! ## Layout
//!
//! - [`packet`]: one packet model for every protocol level (a 5.0 superset).
//! - [`codec`]: framing and wire encoding; the only place where the versions differ.
//! - [`topic`]: topic name and filter validation and matching.
//! - [`error`]: one error enum per layer.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod codec;
pub mod error;
pub mod packet;
pub mod topic;
