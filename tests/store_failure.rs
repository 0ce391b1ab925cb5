//! A session store that fails (a disk that is full, a file that became unwritable) must reach
//! the application as a typed error: never a panic, never a silently dropped message. The store
//! here wraps `MemoryStore` and fails its commits on demand (fault injection: no real disk fills
//! up on cue); the broker is the scripted one.

#[macro_use]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pigeon_mqtt::packet::{ConnAck, Packet, PubResponse, ReasonCode};
use pigeon_mqtt::store::{
    MemoryStore, OutgoingStage, SessionStore, StoreError, StoredMessage, StoredSession,
};
use pigeon_mqtt::{
    Client, ConnectionError, Event, Message, ProtocolLevel, PublishError, QoS, ReconnectOptions,
};
use support::scripted::{expect_publish, ScriptedBroker, STEP};

/// A store whose commits fail while `full` is set, like a full disk.
#[derive(Clone)]
struct FlakyStore {
    inner: MemoryStore,
    full: Arc<AtomicBool>,
}

impl SessionStore for FlakyStore {
    fn put_outgoing(&mut self, seq: u64, message: &StoredMessage) {
        self.inner.put_outgoing(seq, message)
    }
    fn set_stage(&mut self, seq: u64, stage: OutgoingStage) {
        self.inner.set_stage(seq, stage)
    }
    fn remove_outgoing(&mut self, seq: u64) {
        self.inner.remove_outgoing(seq)
    }
    fn put_incoming_qos2(&mut self, id: pigeon_mqtt::packet::PacketId) {
        self.inner.put_incoming_qos2(id)
    }
    fn remove_incoming_qos2(&mut self, id: pigeon_mqtt::packet::PacketId) {
        self.inner.remove_incoming_qos2(id)
    }
    fn set_next_packet_id(&mut self, id: pigeon_mqtt::packet::PacketId) {
        self.inner.set_next_packet_id(id)
    }
    fn set_next_message_id(&mut self, seq: u64) {
        self.inner.set_next_message_id(seq)
    }
    fn clear(&mut self) {
        self.inner.clear()
    }
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(StoreError::DiskFull {
                path: "/injected/session.db".into(),
                source: Arc::new(std::io::Error::from_raw_os_error(28)),
            });
        }
        self.inner.commit()
    }
    fn load(&mut self) -> Result<StoredSession, StoreError> {
        self.inner.load()
    }
}

at_both_levels!(failed_commit_is_a_typed_error_and_the_message_is_not_sent);

/// While commits fail, `enqueue` fails with the store's error and the connection ends with it
/// (nothing that depends on the uncommitted state is written). The error means "not taken": the
/// message is never sent, not even once the store works again, so an application that retries
/// it does not send it twice; its `Event::Published` carries the same error. The next message
/// goes out and completes.
async fn failed_commit_is_a_typed_error_and_the_message_is_not_sent(level: ProtocolLevel) {
    let broker = ScriptedBroker::start().await;
    let full = Arc::new(AtomicBool::new(false));
    let store = FlakyStore {
        inner: MemoryStore::new(),
        full: full.clone(),
    };
    let opts = broker.options(level).reconnect(
        ReconnectOptions::default().backoff(Duration::from_millis(50), Duration::from_millis(200)),
    );
    let (client, eventloop) = Client::with_store(opts, Box::new(store)).unwrap();
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut eventloop = eventloop;
        while let Ok(e) = eventloop.poll().await {
            let _ = events_tx.send(e);
        }
    });
    let (mut conn, _) = broker
        .accept_connect(ConnAck::new(false, ReasonCode::Success))
        .await;
    match tokio::time::timeout(STEP, events.recv()).await.unwrap() {
        Some(Event::Connected(_)) => {}
        other => panic!("expected Connected, got {other:?}"),
    }

    full.store(true, Ordering::SeqCst);
    let m = Message::new("store/t", "refused")
        .unwrap()
        .qos(QoS::AtLeastOnce);
    let err = tokio::time::timeout(STEP, client.enqueue(m))
        .await
        .expect("enqueue answers")
        .expect_err("the store is full");
    match &err {
        PublishError::Store(StoreError::DiskFull { path, .. }) => {
            assert!(path.ends_with("session.db"))
        }
        other => panic!("expected the store's error, got {other:?}"),
    }
    // The connection ends with the store error; the PUBLISH never went out, and the message's
    // completion says why.
    let (mut lost, mut failed) = (false, false);
    while !(lost && failed) {
        match tokio::time::timeout(STEP, events.recv()).await.unwrap() {
            Some(Event::ConnectionLost { error, .. }) => {
                assert!(matches!(error, ConnectionError::Store(_)), "{error:?}");
                lost = true;
            }
            Some(Event::Published(r)) => {
                assert!(matches!(r, Err(PublishError::Store(_))), "{r:?}");
                failed = true;
            }
            Some(_) => {}
            None => panic!("the loop ended"),
        }
    }
    conn.expect_closed().await;

    // The disk has room again: the refused message stays unsent; the next one goes out first
    // and completes.
    full.store(false, Ordering::SeqCst);
    let (mut conn, _) = broker
        .accept_connect(ConnAck::new(false, ReasonCode::Success))
        .await;
    let m = Message::new("store/t", "next")
        .unwrap()
        .qos(QoS::AtLeastOnce);
    let queued = tokio::time::timeout(STEP, client.enqueue(m))
        .await
        .expect("enqueue answers")
        .expect("stored");
    let p = expect_publish(&mut conn).await;
    assert_eq!(
        &p.payload[..],
        b"next",
        "the refused message must not be sent"
    );
    conn.send(Packet::PubAck(PubResponse::new(p.qos.packet_id().unwrap())))
        .await;
    tokio::time::timeout(STEP, queued.token)
        .await
        .expect("the token resolves")
        .expect("acknowledged");
}
