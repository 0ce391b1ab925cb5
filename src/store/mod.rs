//! Session persistence: what the engine must remember across reconnects (and, with a persistent
//! store, across process restarts).
//!
//! The engine keeps its working state in memory and reports every change of the session state
//! to a [`SessionStore`], which can replay it with [`SessionStore::load`]. The session state is
//! [MQTT-4.1.0]: outgoing QoS 1/2 messages not yet completed (queued, sent, or released), and the
//! packet identifiers of incoming QoS 2 messages awaiting PUBREL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::packet::{PacketId, Publish};

/// Where an outgoing QoS 1/2 message is in its handshake.
///
/// ```text
///   queued ──assign id, send PUBLISH──▶ sent ──PUBACK (QoS 1)──────────▶ done
///                                        │
///                                        └─PUBREC (QoS 2)─▶ released ─PUBCOMP─▶ done
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutgoingStage {
    /// Accepted, not yet sent (no packet identifier yet).
    Queued,
    /// PUBLISH sent with this identifier; awaiting PUBACK or PUBREC.
    Sent(PacketId),
    /// QoS 2: PUBREC received and PUBREL sent with this identifier; awaiting PUBCOMP.
    Released(PacketId),
}

/// One outgoing message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The PUBLISH (its payload is still needed to resend it while `Queued` or `Sent`).
    pub publish: Publish,
    /// Handshake stage.
    pub stage: OutgoingStage,
}

/// Everything a store hands back on [`SessionStore::load`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSession {
    /// Outgoing messages in the order they were accepted, keyed by a sequence number.
    pub outgoing: Vec<(u64, StoredMessage)>,
    /// Incoming QoS 2 packet identifiers awaiting PUBREL.
    pub incoming_qos2: Vec<PacketId>,
}

/// Receives every change of the session state, and gives it back after a restart.
///
/// Calls are made by the engine synchronously, in the order the changes happen. Sequence numbers
/// increase with the order in which messages were accepted, and are never reused by one engine.
pub trait SessionStore: Send {
    /// A new outgoing message (stage `Queued`), or a message changing stage.
    fn put_outgoing(&mut self, seq: u64, message: &StoredMessage);
    /// The message reached `stage` (the payload is no longer needed once `Released`).
    fn set_stage(&mut self, seq: u64, stage: OutgoingStage);
    /// The message is complete (acknowledged, refused, or abandoned).
    fn remove_outgoing(&mut self, seq: u64);
    /// An incoming QoS 2 PUBLISH was received and answered with PUBREC.
    fn put_incoming_qos2(&mut self, id: PacketId);
    /// PUBREL arrived for an incoming QoS 2 message.
    fn remove_incoming_qos2(&mut self, id: PacketId);
    /// The session ended: forget everything.
    fn clear(&mut self);
    /// The stored session, as it was after the last change.
    fn load(&mut self) -> StoredSession;
}

/// An in-memory [`SessionStore`]. Cloning it gives another handle to the same state, so a test
/// (or an application) can hand one clone to a client and later give another to a new client
/// to resume where the first one stopped.
///
/// ```
/// use pigeon_mqtt::store::{MemoryStore, SessionStore};
/// let mut store = MemoryStore::new();
/// assert!(store.load().outgoing.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    outgoing: BTreeMap<u64, StoredMessage>,
    incoming: BTreeSet<PacketId>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut MemoryInner) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update of plain maps; the maps
        // are still consistent enough to keep using.
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

impl SessionStore for MemoryStore {
    fn put_outgoing(&mut self, seq: u64, message: &StoredMessage) {
        self.with(|s| s.outgoing.insert(seq, message.clone()));
    }

    fn set_stage(&mut self, seq: u64, stage: OutgoingStage) {
        self.with(|s| {
            if let Some(m) = s.outgoing.get_mut(&seq) {
                m.stage = stage;
                if matches!(stage, OutgoingStage::Released(_)) {
                    m.publish.payload = bytes::Bytes::new();
                }
            }
        });
    }

    fn remove_outgoing(&mut self, seq: u64) {
        self.with(|s| s.outgoing.remove(&seq));
    }

    fn put_incoming_qos2(&mut self, id: PacketId) {
        self.with(|s| s.incoming.insert(id));
    }

    fn remove_incoming_qos2(&mut self, id: PacketId) {
        self.with(|s| s.incoming.remove(&id));
    }

    fn clear(&mut self) {
        self.with(|s| {
            s.outgoing.clear();
            s.incoming.clear();
        });
    }

    fn load(&mut self) -> StoredSession {
        self.with(|s| StoredSession {
            outgoing: s.outgoing.iter().map(|(k, v)| (*k, v.clone())).collect(),
            incoming_qos2: s.incoming.iter().copied().collect(),
        })
    }
}
