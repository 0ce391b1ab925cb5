//! Session persistence: what the engine must remember across reconnects (and, with a persistent
//! store, across process restarts).
//!
//! The engine keeps its working state in memory and reports every change of the session state
//! to a [`SessionStore`], which can replay it with [`SessionStore::load`]. The session state is
//! [MQTT-4.1.0]: outgoing QoS 1/2 messages not yet completed (queued, sent, or released), the
//! packet identifiers of incoming QoS 2 messages awaiting PUBREL, and the next packet identifier
//! to try (so that a restarted client does not start again at 1 while the server still holds
//! the old ones).
//!
//! Without a store ([`crate::Client::new`]) the engine alone holds the session state: it survives
//! reconnects, not the process, and nothing else can read it. Two stores come with the crate, for
//! [`crate::Client::with_store`]: [`MemoryStore`] (in memory, shared by its clones, so another
//! client in the same process can resume the session) and, with the `file-store` feature,
//! `FileStore` (an SQLite file; survives a crash of the process and, in its power-loss-safe mode,
//! of the machine).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::packet::{PacketId, Publish};

mod error;
#[cfg(feature = "file-store")]
mod file;

pub use error::{StoreError, StoreErrorSource};
#[cfg(feature = "file-store")]
pub use file::{FileStore, FileStoreOptions};

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
    /// The next packet identifier the engine will try, if one was stored.
    pub next_packet_id: Option<PacketId>,
    /// The next message id (sequence number) the engine gives out, if one was stored.
    pub next_message_id: Option<u64>,
}

/// Receives every change of the session state, and gives it back after a restart.
///
/// Calls are made by the engine synchronously, in the order the changes happen. Sequence numbers
/// increase with the order in which messages were accepted, and are never reused by one engine.
///
/// The change methods (`put_outgoing` ... `clear`) are buffered and cannot fail: a store keeps
/// them until [`commit`](SessionStore::commit), which makes every change since the previous
/// commit durable in one transaction (all of them or none). The event loop commits once per
/// turn, covering every change of that turn (group commit). A failed commit keeps the changes
/// buffered; the next commit tries them again.
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
    /// The next packet identifier the engine will try (it skips those in use).
    fn set_next_packet_id(&mut self, id: PacketId);
    /// The next message id (sequence number) the engine gives out: ids go on across restarts,
    /// even when every stored message has completed. Kept by [`SessionStore::clear`].
    fn set_next_message_id(&mut self, seq: u64);
    /// The session ended: forget the messages, the incoming QoS 2 identifiers and the packet
    /// identifier state (not the next message id).
    fn clear(&mut self);
    /// Makes every change since the last commit durable, in one transaction: after a crash the
    /// store holds either all of them or none. What "durable" covers (a crash of the process,
    /// or a power loss too) is the store's to document.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// The stored session, as of the last successful commit (changes not yet committed are not
    /// included; in a store that commits each change at once, such as [`MemoryStore`], that is
    /// every change).
    fn load(&mut self) -> Result<StoredSession, StoreError>;
}

/// The store of [`crate::Client::new`]: the engine keeps the session state in memory itself, and
/// nothing can resume it from another client, so there is nothing to record (copying each
/// message into a store nobody reads cost about a fifth of the client's CPU per QoS 1 message).
#[derive(Debug, Default)]
pub(crate) struct NoStore;

impl SessionStore for NoStore {
    fn put_outgoing(&mut self, _seq: u64, _message: &StoredMessage) {}
    fn set_stage(&mut self, _seq: u64, _stage: OutgoingStage) {}
    fn remove_outgoing(&mut self, _seq: u64) {}
    fn put_incoming_qos2(&mut self, _id: PacketId) {}
    fn remove_incoming_qos2(&mut self, _id: PacketId) {}
    fn set_next_packet_id(&mut self, _id: PacketId) {}
    fn set_next_message_id(&mut self, _seq: u64) {}
    fn clear(&mut self) {}
    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    fn load(&mut self) -> Result<StoredSession, StoreError> {
        Ok(StoredSession::default())
    }
}

/// An in-memory [`SessionStore`]. Cloning it gives another handle to the same state, so a test
/// (or an application) can hand one clone to a client and later give another to a new client
/// to resume where the first one stopped.
///
/// Every change takes effect at once (so [`commit`](SessionStore::commit) has nothing to do and
/// never fails), and lives as long as the process.
///
/// ```
/// use pigeon_mqtt::store::{MemoryStore, SessionStore};
/// let mut store = MemoryStore::new();
/// assert!(store.load()?.outgoing.is_empty());
/// # Ok::<(), pigeon_mqtt::store::StoreError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    outgoing: BTreeMap<u64, StoredMessage>,
    incoming: BTreeSet<PacketId>,
    next_packet_id: Option<PacketId>,
    next_message_id: Option<u64>,
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

    fn set_next_packet_id(&mut self, id: PacketId) {
        self.with(|s| s.next_packet_id = Some(id));
    }

    fn set_next_message_id(&mut self, seq: u64) {
        self.with(|s| s.next_message_id = Some(seq));
    }

    fn clear(&mut self) {
        self.with(|s| {
            s.outgoing.clear();
            s.incoming.clear();
            s.next_packet_id = None;
        });
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn load(&mut self) -> Result<StoredSession, StoreError> {
        Ok(self.with(|s| StoredSession {
            outgoing: s.outgoing.iter().map(|(k, v)| (*k, v.clone())).collect(),
            incoming_qos2: s.incoming.iter().copied().collect(),
            next_packet_id: s.next_packet_id,
            next_message_id: s.next_message_id,
        }))
    }
}
