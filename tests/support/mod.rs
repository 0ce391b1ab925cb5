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

/// The effective user and group ids of this process, from `/proc/self/status`.
pub fn ids() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let real = |prefix: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} line in /proc/self/status"))
    };
    (real("Uid:"), real("Gid:"))
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    ids().0 == 0
}

pub mod mosquitto;
pub mod nats;
pub mod scripted;

pub use mosquitto::{Mosquitto, MosquittoBuilder, TlsListener};
pub use nats::{Nats, NatsCluster};
