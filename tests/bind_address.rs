//! `ConnectOptions::bind_address`: TCP connections made from a chosen local address (what
//! `pigeon bench --ifaddr` uses to go past one address's ephemeral port range).

mod support;
#[path = "support/transport.rs"]
mod transport;

use std::net::IpAddr;

use pigeon_mqtt::ConnectOptions;
use support::Mosquitto;
use transport::{connect_error, round_trip, STEP};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP address")
}

#[tokio::test]
async fn connections_come_from_the_bound_address() {
    let broker = Mosquitto::start();
    // Linux routes all of 127.0.0.0/8 on the loopback interface.
    for (i, local) in ["127.0.0.2", "127.0.0.3"].into_iter().enumerate() {
        let id = format!("bound-{i}");
        let opts = ConnectOptions::from_url(&broker.url())
            .expect("url")
            .client_id(id.as_str())
            .bind_address(ip(local));
        round_trip(opts, "bind/test", b"from a chosen address".to_vec()).await;
        let line = format!("New client connected from {local}:");
        assert!(
            broker.wait_for_log(&line, STEP)
                && broker
                    .log()
                    .lines()
                    .any(|l| l.contains(&line) && l.contains(&format!(" as {id} "))),
            "no {line:?} for {id} in the broker log:\n{}",
            broker.log()
        );
    }
}

#[tokio::test]
async fn a_local_address_of_the_other_family_is_refused_with_a_reason() {
    let broker = Mosquitto::start();
    let opts = ConnectOptions::from_url(&broker.url())
        .expect("url")
        .bind_address(ip("::1"));
    let err = connect_error(opts).await.to_string();
    assert!(
        err.contains("no address in the family of the local address ::1"),
        "{err}"
    );
}
