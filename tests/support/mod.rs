//! Shared integration-test support. Each test binary (and the benches, via
//! `#[path = "../tests/support/mod.rs"] mod support;`) includes this module
//! and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod mosquitto;
pub mod nats;
pub mod scripted;

pub use mosquitto::{Mosquitto, MosquittoBuilder, TlsListener};
pub use nats::{Nats, NatsCluster};
