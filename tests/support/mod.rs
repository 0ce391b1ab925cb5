//! Shared integration-test support. Each test binary (and the benches, via
//! `#[path = "../tests/support/mod.rs"] mod support;`) includes this module
//! and uses only part of it.
#![allow(dead_code, unused_imports, unused_macros)]

/// Runs async scenarios at both protocol levels: for each `$name`, generates
/// `mod $name { fn v3_1_1(); fn v5(); }`, two tests running `$name(level)`. Test binaries
/// that use it declare `#[macro_use] mod support;`.
macro_rules! at_both_levels {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn v3_1_1() {
                super::$name(pigeon_mqtt::ProtocolLevel::V3_1_1).await;
            }

            #[tokio::test]
            async fn v5() {
                super::$name(pigeon_mqtt::ProtocolLevel::V5).await;
            }
        }
    )*};
}

pub mod mosquitto;
pub mod nats;
pub mod scripted;

pub use mosquitto::{Mosquitto, MosquittoBuilder, TlsListener};
pub use nats::{Nats, NatsCluster};
