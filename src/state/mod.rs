//! The sans-IO protocol engine: session state, QoS 1/2 handshakes, keep alive, topic aliases,
//! flow control and reconnection timing. It performs no I/O and never reads the clock: time is
//! passed in, packets come in as values and go out as values.
//!
//! # Call order
//!
//! The driver (normally [`crate::EventLoop`]) repeats:
//!
//! 1. While [`Engine::wants_transport`] is true at `now`, open a transport and call
//!    [`Engine::handle_transport_up`] (or [`Engine::handle_transport_down`] if opening failed).
//! 2. Feed what happened: [`Engine::handle_incoming`] for each decoded packet,
//!    [`Engine::handle_request`] for each client request (only while [`Engine::can_accept`]),
//!    [`Engine::handle_timeout`] when the deadline from [`Engine::poll_timeout`] passes.
//! 3. Drain [`Engine::poll_transmit`] and write the packets (then resolve the `written` tickets
//!    of QoS 0 publishes once the write is flushed); drain [`Engine::poll_output`].
//! 4. If [`Engine::wants_close`], close the transport after the writes and call
//!    [`Engine::handle_transport_down`]. Stop when [`Engine::is_closed`].
//!
//! # Layout
//!
//! One file per concern, each with the state diagram it implements: `session` (CONNECT,
//! CONNACK, resuming or losing the session, reconnect timing, close), `sender` (the QoS 1/2
//! sender: queue, in-flight window, packet identifiers), `receiver` (the QoS 1/2 receiver),
//! `control` (SUBSCRIBE / UNSUBSCRIBE and restoring subscriptions), `keepalive`, `alias` (topic
//! aliases), `auth` (enhanced authentication) and `backoff` (reconnect delays).
//!
//! Requests carry an opaque ticket `T` (the event loop uses one-shot senders) that comes back in
//! the [`Output`] that completes the request, so the engine itself needs no runtime.
//!
//! ```
//! use std::time::Instant;
//! use pigeon_mqtt::packet::{ConnAck, Packet, ReasonCode};
//! use pigeon_mqtt::state::{Engine, Output};
//! use pigeon_mqtt::store::MemoryStore;
//! use pigeon_mqtt::ConnectOptions;
//!
//! let now = Instant::now();
//! let mut engine: Engine<u32> =
//!     Engine::new(&ConnectOptions::new("127.0.0.1", 1883), Box::new(MemoryStore::new()), 1, now);
//! assert!(engine.wants_transport(now));
//! engine.handle_transport_up(now);
//! let connect = engine.poll_transmit(now).unwrap();
//! assert!(matches!(connect.packet, Packet::Connect(_)));
//! engine.handle_incoming(now, Packet::ConnAck(ConnAck::new(false, ReasonCode::Success)));
//! assert!(matches!(engine.poll_output(), Some(Output::Connected(_))));
//! ```

mod alias;
mod auth;
mod backoff;
mod control;
mod keepalive;
mod queue;
mod receiver;
mod sender;
mod session;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use crate::auth::AuthError;
use crate::error::{ConnectionError, ProtocolError, PublishError, SubscribeError};
use crate::message::Message;
use crate::options::{ConnectOptions, QueueFullPolicy};
use crate::packet::{
    ConnAck, Disconnect, MqttString, Packet, PacketId, Properties, ProtocolLevel, QoS, QosPid,
    ReasonCode, SubAck, SubscriptionOptions, UnsubAck,
};
use crate::store::{OutgoingStage, SessionStore, StoreError, StoredMessage, StoredSession};
use crate::topic::TopicFilter;
use alias::Aliases;
use backoff::Backoff;
use control::{Control, SubRecord};
use keepalive::{KeepAlive, Ping};
use queue::SendQueue;
use sender::{InFlight, Queued};
use session::{Conn, Disconnecting, ServerLimits};

/// A request from the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum Request<T> {
    /// Publish a message; completes with [`Output::PublishDone`].
    Publish {
        /// The message.
        message: Message,
        /// Returned on completion.
        ticket: T,
    },
    /// Subscribe; completes with [`Output::SubscribeDone`].
    Subscribe {
        /// Filters with their options.
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        /// SUBSCRIBE properties (5.0).
        properties: Properties,
        /// Returned on completion.
        ticket: T,
    },
    /// Unsubscribe; completes with [`Output::UnsubscribeDone`].
    Unsubscribe {
        /// Filters.
        filters: Vec<TopicFilter>,
        /// UNSUBSCRIBE properties (5.0).
        properties: Properties,
        /// Returned on completion.
        ticket: T,
    },
    /// Graceful disconnect: waits (up to the disconnect timeout) for in-flight messages, then
    /// sends DISCONNECT and closes; completes with [`Output::Closed`] carrying the ticket.
    Disconnect {
        /// The DISCONNECT to send (reason code and properties at 5.0).
        packet: Disconnect,
        /// Returned on completion.
        ticket: T,
    },
    /// Acknowledge a message delivered under manual acknowledgements
    /// ([`crate::ConnectOptions::manual_acks`]): sends its PUBACK or PUBREC (in the order the
    /// messages were received). No completion.
    Ack {
        /// The message's tag.
        tag: crate::message::AckTag,
    },
    /// Re-authenticate with the configured [`crate::auth::Authenticator`] (5.0,
    /// [MQTT-4.12.1]); completes with [`Output::ReauthDone`].
    Reauthenticate {
        /// Returned on completion.
        ticket: T,
    },
}

/// A successful publish: for QoS 1 the PUBACK, for QoS 2 the PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishAck {
    /// The packet identifier the message used (QoS 1/2).
    pub packet_id: Option<PacketId>,
    /// The reason code (below 0x80; e.g. `NoMatchingSubscribers`).
    pub reason_code: ReasonCode,
    /// Properties of the acknowledgement (reason string, user properties).
    pub properties: Properties,
}

/// A packet to write. `written` is the ticket of a QoS 0 publish, to be completed once the
/// packet has been flushed to the transport.
#[derive(Debug)]
pub struct Transmit<T> {
    /// The packet.
    pub packet: Packet,
    /// QoS 0 completion to resolve after the write.
    pub written: Option<T>,
}

/// What the engine reports to the application or to the driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Output<T> {
    /// CONNACK with reason code Success, on every connect and reconnect.
    Connected(ConnAck),
    /// A connection attempt failed (transport, timeout, or CONNACK refusal), or an established
    /// connection ended.
    ConnectionLost {
        /// Why.
        error: ConnectionError,
        /// Whether the connection had been accepted with CONNACK.
        was_connected: bool,
        /// Whether the engine will try again.
        reconnecting: bool,
    },
    /// An incoming application message (QoS 2 ones exactly once).
    Message(Message),
    /// A publish completed.
    PublishDone {
        /// The request's ticket.
        ticket: T,
        /// Its outcome.
        result: Result<PublishAck, PublishError>,
    },
    /// A subscribe completed.
    SubscribeDone {
        /// The request's ticket.
        ticket: T,
        /// The SUBACK with per-filter reason codes.
        result: Result<SubAck, SubscribeError>,
    },
    /// An unsubscribe completed.
    UnsubscribeDone {
        /// The request's ticket.
        ticket: T,
        /// The UNSUBACK.
        result: Result<UnsubAck, SubscribeError>,
    },
    /// A re-authentication completed.
    ReauthDone {
        /// The request's ticket.
        ticket: T,
        /// Its outcome.
        result: Result<(), AuthError>,
    },
    /// The first connection is tried again at another protocol level: the server refused `from`
    /// (a 3.1.1-only server answers a 5.0 CONNECT with "unacceptable protocol version", or
    /// closes the connection). Only when the application did not choose the level.
    ProtocolFallback {
        /// The level refused.
        from: ProtocolLevel,
        /// The level tried next.
        to: ProtocolLevel,
        /// How the server refused.
        error: ConnectionError,
    },
    /// A publish restored from the store (accepted by an earlier client with this store, which
    /// ended before it completed) completed. `id` is the message id the earlier client gave
    /// out ([`Engine::next_message_id`]).
    RestoredDone {
        /// The message id.
        id: u64,
        /// Its outcome.
        result: Result<PublishAck, PublishError>,
    },
    /// The engine stopped for good: after a graceful disconnect (with that request's ticket),
    /// or when it gave up connecting.
    Closed {
        /// The disconnect request's ticket, if it was one.
        ticket: Option<T>,
        /// The error that ended it, if it was not a graceful disconnect.
        error: Option<ConnectionError>,
    },
}

/// The engine's connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// No transport; wants one at the given time.
    Disconnected,
    /// CONNECT sent, awaiting CONNACK.
    Connecting,
    /// CONNACK received.
    Connected,
    /// Stopped for good.
    Closed,
}

/// The sans-IO MQTT client engine. See the [module documentation](self) for the call order.
pub struct Engine<T> {
    opts: ConnectOptions,
    level: ProtocolLevel,
    conn: Conn,
    ever_connected: bool,
    client_id: MqttString,
    server: ServerLimits,
    keep_alive: KeepAlive,

    seq: u64,
    queue: SendQueue<T>,
    inflight: BTreeMap<u64, InFlight<T>>,
    by_id: HashMap<PacketId, u64>,
    next_id: PacketId,

    control: VecDeque<Control<T>>,
    pending: HashMap<PacketId, Control<T>>,
    subscriptions: Vec<SubRecord>,

    incoming_qos2: HashSet<PacketId>,
    /// Manual acknowledgements: messages delivered, awaiting the application, in arrival order.
    unacked: VecDeque<receiver::Unacked>,
    aliases: Aliases,

    transmit: VecDeque<Transmit<T>>,
    output: VecDeque<Output<T>>,
    close_reason: Option<ConnectionError>,
    disconnecting: Option<Disconnecting<T>>,
    reauth: Option<T>,
    backoff: Backoff,
    store: Box<dyn SessionStore>,

    /// Connections opened so far: numbers the connection a PUBLISH was last sent on.
    connection: u64,
    /// When the current connection was accepted (the backoff restarts once it proves stable).
    connected_at: Option<Instant>,
    /// The server showed that it does not support QoS 2.
    qos2_unsupported: bool,
    /// The session in use was resumed (Session Present 1), not started by this engine.
    session_resumed: bool,
    /// Quota-exceeded refusals on the resumed session (stale-session recovery).
    quota_refusals: u32,
    /// The next CONNECT starts a fresh session (Clean Start 1).
    fresh_session: bool,
    /// The stale session's connection ends once no message awaits PUBCOMP.
    leaving_stale: bool,
    /// The error that closed the engine, if it was not a graceful close.
    closed_error: Option<ConnectionError>,
    /// First connection attempts left before a failure is final without retries: one per
    /// server of the list.
    first_attempts_left: usize,
}

impl<T> std::fmt::Debug for Engine<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state", &self.state())
            .field("level", &self.level)
            .field("queued", &self.queue.len())
            .field("inflight", &self.inflight.len())
            .finish_non_exhaustive()
    }
}

impl<T> Engine<T> {
    /// A new engine, resuming whatever session `store` holds. `seed` drives the reconnect jitter.
    ///
    /// A store that cannot be read is logged and the engine starts with an empty session; use
    /// [`Engine::try_new`] to get the error instead.
    pub fn new(
        opts: &ConnectOptions,
        mut store: Box<dyn SessionStore>,
        seed: u64,
        now: Instant,
    ) -> Engine<T> {
        let stored = store.load().unwrap_or_else(|error| {
            tracing::error!(%error, "cannot load the session store: starting with an empty session");
            StoredSession::default()
        });
        Engine::from_stored(opts, store, stored, seed, now)
    }

    /// Like [`Engine::new`], but a store that cannot be read is an error.
    pub fn try_new(
        opts: &ConnectOptions,
        mut store: Box<dyn SessionStore>,
        seed: u64,
        now: Instant,
    ) -> Result<Engine<T>, StoreError> {
        let stored = store.load()?;
        Ok(Engine::from_stored(opts, store, stored, seed, now))
    }

    fn from_stored(
        opts: &ConnectOptions,
        store: Box<dyn SessionStore>,
        stored: StoredSession,
        seed: u64,
        now: Instant,
    ) -> Engine<T> {
        let mut engine = Engine {
            level: opts.protocol,
            conn: Conn::Idle { retry_at: now },
            ever_connected: false,
            client_id: opts.client_id.clone(),
            server: ServerLimits::default(),
            keep_alive: KeepAlive::new(opts.keep_alive, now),
            seq: stored.next_message_id.unwrap_or(0),
            queue: SendQueue::default(),
            inflight: BTreeMap::new(),
            by_id: HashMap::new(),
            next_id: stored.next_packet_id.unwrap_or(PacketId::ONE),
            control: VecDeque::new(),
            pending: HashMap::new(),
            subscriptions: Vec::new(),
            incoming_qos2: stored.incoming_qos2.iter().copied().collect(),
            unacked: VecDeque::new(),
            aliases: Aliases::default(),
            transmit: VecDeque::new(),
            output: VecDeque::new(),
            close_reason: None,
            disconnecting: None,
            reauth: None,
            backoff: Backoff::new(opts.reconnect.min_delay, opts.reconnect.max_delay, seed),
            store,
            opts: opts.clone(),
            connection: 0,
            connected_at: None,
            qos2_unsupported: false,
            session_resumed: false,
            quota_refusals: 0,
            fresh_session: false,
            leaving_stale: false,
            closed_error: None,
            first_attempts_left: opts.servers.len().max(1),
        };
        for (seq, m) in stored.outgoing {
            engine.seq = engine.seq.max(seq + 1);
            match m.stage {
                OutgoingStage::Queued => engine.queue.push_back(Queued {
                    seq,
                    message: Message::from_publish(m.publish),
                    ticket: None,
                    strikes: 0,
                }),
                OutgoingStage::Sent(id) | OutgoingStage::Released(id) => {
                    engine.by_id.insert(id, seq);
                    engine.inflight.insert(
                        seq,
                        InFlight {
                            id,
                            publish: m.publish,
                            released: matches!(m.stage, OutgoingStage::Released(_)),
                            ticket: None,
                            sent_on: 0,
                            strikes: 0,
                        },
                    );
                }
            }
        }
        engine
    }

    /// The connection state.
    pub fn state(&self) -> State {
        match self.conn {
            Conn::Idle { .. } => State::Disconnected,
            Conn::Connecting { .. } => State::Connecting,
            Conn::Connected => State::Connected,
            Conn::Closed => State::Closed,
        }
    }

    /// The options the engine was made with (the event loop reads its own from here: one copy
    /// per connection).
    pub(crate) fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    /// The protocol level in use.
    pub fn protocol_level(&self) -> ProtocolLevel {
        self.level
    }

    /// True when a new transport should be opened now.
    pub fn wants_transport(&self, now: Instant) -> bool {
        matches!(self.conn, Conn::Idle { retry_at } if now >= retry_at)
            && self.close_reason.is_none()
    }

    /// True when the transport should be closed once pending writes are flushed.
    pub fn wants_close(&self) -> bool {
        self.close_reason.is_some()
    }

    /// True once the engine has stopped for good.
    pub fn is_closed(&self) -> bool {
        matches!(self.conn, Conn::Closed)
    }

    /// True when another request can be taken without exceeding the configured queue bound
    /// (with a drop policy the engine makes room itself, so it always takes requests).
    pub fn can_accept(&self) -> bool {
        let room = self.opts.queue_full != QueueFullPolicy::Wait || !self.queue_full(0);
        room && !self.is_closed()
    }

    /// The queue would be over its bounds with `extra` more bytes.
    fn queue_full(&self, extra: usize) -> bool {
        self.queue.len() >= self.opts.max_queued
            || self.queue.bytes().saturating_add(extra.max(1)) > self.opts.max_queued_bytes
    }

    /// With a drop policy, makes room for a message of `size` bytes: drop-oldest fails the
    /// oldest queued messages; drop-newest says the new one must go (false).
    fn make_room(&mut self, size: usize) -> bool {
        match self.opts.queue_full {
            QueueFullPolicy::DropNewest => !self.queue_full(size),
            QueueFullPolicy::DropOldest => {
                while self.queue_full(size) {
                    let dropped = PublishError::Dropped {
                        queued: self.queue.len(),
                        bytes: self.queue.bytes(),
                    };
                    let Some(q) = self.queue.pop_front() else {
                        break;
                    };
                    if q.message.qos != QoS::AtMostOnce {
                        self.store.remove_outgoing(q.seq);
                    }
                    self.report(q.seq, q.ticket, Err(dropped));
                }
                true
            }
            _ => true,
        }
    }

    /// Number of outgoing QoS 1/2 messages in flight (sent, not yet completed).
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Number of accepted publishes not yet sent.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// A request from the application.
    pub fn handle_request(&mut self, now: Instant, request: Request<T>) {
        // Acknowledgements of received messages still go out while disconnecting.
        let ack = matches!(request, Request::Ack { .. });
        if self.is_closed() || (self.disconnecting.is_some() && !ack) {
            self.refuse(request);
            return;
        }
        match request {
            Request::Publish { message, ticket } => {
                let seq = self.seq;
                self.seq += 1;
                if !self.make_room(message.topic().len() + message.payload().len()) {
                    let dropped = PublishError::Dropped {
                        queued: self.queue.len(),
                        bytes: self.queue.bytes(),
                    };
                    self.report(seq, Some(ticket), Err(dropped));
                    return;
                }
                if message.qos != QoS::AtMostOnce {
                    self.store.set_next_message_id(self.seq);
                    // The stored PUBLISH must keep the QoS, which only a `QosPid` with an
                    // identifier can carry: the identifier is a placeholder while `Queued`
                    // (the real one is assigned, and stored, when the message is sent).
                    self.store.put_outgoing(
                        seq,
                        &StoredMessage {
                            publish: message
                                .clone()
                                .into_publish(QosPid::new(message.qos, PacketId::ONE)),
                            stage: OutgoingStage::Queued,
                        },
                    );
                }
                self.queue.push_back(Queued {
                    seq,
                    message,
                    ticket: Some(ticket),
                    strikes: 0,
                });
            }
            Request::Subscribe {
                filters,
                properties,
                ticket,
            } => self.control.push_back(Control::Subscribe {
                filters,
                properties,
                ticket: Some(ticket),
            }),
            Request::Unsubscribe {
                filters,
                properties,
                ticket,
            } => self.control.push_back(Control::Unsubscribe {
                filters,
                properties,
                ticket: Some(ticket),
            }),
            Request::Disconnect { packet, ticket } => {
                self.disconnecting = Some(Disconnecting {
                    packet,
                    ticket: Some(ticket),
                    deadline: now + self.opts.disconnect_timeout,
                    sent: false,
                });
                if !matches!(self.conn, Conn::Connected) {
                    // Nothing to wait for: close now.
                    self.close(None);
                    return;
                }
            }
            Request::Reauthenticate { ticket } => {
                self.start_reauth(now, ticket);
                return;
            }
            Request::Ack { tag } => {
                if matches!(self.conn, Conn::Connected) && self.close_reason.is_none() {
                    self.on_app_ack(now, tag);
                }
                return;
            }
        }
        self.pump(now);
    }

    fn refuse(&mut self, request: Request<T>) {
        let out = match request {
            Request::Publish { ticket, .. } => Output::PublishDone {
                ticket,
                result: Err(self.publish_refusal()),
            },
            Request::Subscribe { ticket, .. } => Output::SubscribeDone {
                ticket,
                result: Err(self.subscribe_refusal()),
            },
            Request::Unsubscribe { ticket, .. } => Output::UnsubscribeDone {
                ticket,
                result: Err(self.subscribe_refusal()),
            },
            Request::Disconnect { ticket, .. } => Output::Closed {
                ticket: Some(ticket),
                error: None,
            },
            Request::Reauthenticate { ticket } => Output::ReauthDone {
                ticket,
                result: Err(AuthError::new("the client is closed")),
            },
            // The broker sends an unacknowledged message again on the next session.
            Request::Ack { .. } => return,
        };
        self.output.push_back(out);
    }

    /// A packet from the server.
    pub fn handle_incoming(&mut self, now: Instant, packet: Packet) {
        if matches!(self.conn, Conn::Idle { .. } | Conn::Closed) || self.close_reason.is_some() {
            // Nothing is read from a connection that is gone or being closed.
            return;
        }
        self.keep_alive.on_received(now);
        let result = match (&self.conn, packet) {
            (Conn::Connecting { .. }, Packet::ConnAck(ack)) => {
                self.on_connack(now, ack);
                Ok(())
            }
            (Conn::Connected, Packet::Publish(p)) => self.on_publish(now, p),
            (Conn::Connected, Packet::PubAck(a)) => {
                self.on_puback(now, a);
                Ok(())
            }
            (Conn::Connected, Packet::PubRec(a)) => {
                self.on_pubrec(now, a);
                Ok(())
            }
            (Conn::Connected, Packet::PubRel(a)) => {
                self.on_pubrel(now, a);
                Ok(())
            }
            (Conn::Connected, Packet::PubComp(a)) => {
                self.on_pubcomp(now, a);
                Ok(())
            }
            (Conn::Connected, Packet::SubAck(a)) => {
                self.on_suback(now, a);
                Ok(())
            }
            (Conn::Connected, Packet::UnsubAck(a)) => {
                self.on_unsuback(now, a);
                Ok(())
            }
            (Conn::Connected, Packet::PingResp) => {
                self.keep_alive.on_pingresp();
                Ok(())
            }
            (Conn::Connected | Conn::Connecting { .. }, Packet::Auth(a)) if self.level.is_v5() => {
                self.on_auth(now, a)
            }
            (Conn::Connected | Conn::Connecting { .. }, Packet::Disconnect(d))
                if self.level.is_v5() =>
            {
                // [MQTT-3.14.4-1] the server closes the connection after DISCONNECT.
                self.close_reason = Some(ConnectionError::ServerDisconnect(d));
                Ok(())
            }
            (_, other) => Err(ProtocolError::UnexpectedPacket(other.packet_type())),
        };
        if let Err(e) = result {
            self.protocol_error(now, e);
        }
    }

    /// Time passed: connect timeout, keep alive, disconnect timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.conn {
            Conn::Connecting { deadline } if now >= deadline && self.close_reason.is_none() => {
                self.close_reason = Some(ConnectionError::ConnectTimeout);
            }
            Conn::Connected => {
                if let Some(d) = &self.disconnecting {
                    if !d.sent && now >= d.deadline {
                        self.send_disconnect(now);
                        return;
                    }
                }
                if self.close_reason.is_some() {
                    return;
                }
                match self.keep_alive.poll(now, self.awaiting_acks()) {
                    Ping::Send => self.send(now, Packet::PingReq),
                    Ping::TimedOut => self.close_reason = Some(ConnectionError::KeepAliveTimeout),
                    Ping::Wait => {}
                }
            }
            _ => {}
        }
    }

    /// The next time [`Engine::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.conn {
            Conn::Idle { retry_at } => Some(retry_at),
            Conn::Connecting { deadline } => Some(deadline),
            Conn::Connected => {
                let disconnect = self
                    .disconnecting
                    .as_ref()
                    .filter(|d| !d.sent)
                    .map(|d| d.deadline);
                let ka = if self.close_reason.is_some() {
                    None
                } else {
                    self.keep_alive.deadline(self.awaiting_acks())
                };
                match (disconnect, ka) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Conn::Closed => None,
        }
    }

    /// Reports the outcome of the publish `seq`: to its request, or, for a message restored
    /// from the store, as [`Output::RestoredDone`].
    fn report(&mut self, seq: u64, ticket: Option<T>, result: Result<PublishAck, PublishError>) {
        self.output.push_back(match ticket {
            Some(ticket) => Output::PublishDone { ticket, result },
            None => Output::RestoredDone { id: seq, result },
        });
    }

    /// The id the next publish request will get: ids increase by one per publish request and,
    /// with a persistent store, go on across restarts, so an application can key its own
    /// records by them (see [`Output::RestoredDone`]).
    pub fn next_message_id(&self) -> u64 {
        self.seq
    }

    /// Makes every change of the session state since the last call durable, in one
    /// transaction (group commit; the event loop calls it once per turn, before it writes).
    /// A message the store cannot hold fails with [`PublishError::Store`] and the others are
    /// committed.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        loop {
            match self.store.commit() {
                Err(e @ StoreError::Unstorable { .. }) => {
                    let StoreError::Unstorable { seq, .. } = e else {
                        return Err(e);
                    };
                    tracing::warn!(seq, error = %e, "a message the store cannot hold failed");
                    if !self.withdraw(seq, e.clone()) {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// Takes back the message `seq` because the store could not take it: the commit that was
    /// to store it failed ([`crate::Client::enqueue`] then answers with the store's error), or
    /// the store cannot encode it ([`StoreError::Unstorable`]). It is failed with `error`, never
    /// sent, and its record leaves the store's pending changes. False if the engine no longer
    /// holds it.
    pub fn withdraw(&mut self, seq: u64, error: StoreError) -> bool {
        let e = PublishError::Store(error);
        if let Some(q) = self.queue.remove(seq) {
            self.store.remove_outgoing(seq);
            self.report(seq, q.ticket, Err(e));
            return true;
        }
        if let Some(m) = self.inflight.get(&seq) {
            // `finish` removes the record too.
            let id = m.id;
            self.finish(id, Err(e));
            return true;
        }
        false
    }

    /// Acknowledgements are outstanding (keep alive then also watches what is received).
    fn awaiting_acks(&self) -> bool {
        !self.inflight.is_empty() || !self.pending.is_empty()
    }

    /// The next packet to write.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<T>> {
        let t = self.transmit.pop_front()?;
        self.keep_alive.on_sent(now);
        Some(t)
    }

    /// The next output for the application or the driver.
    pub fn poll_output(&mut self) -> Option<Output<T>> {
        self.output.pop_front()
    }

    /// True when outputs are waiting.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    fn send(&mut self, _now: Instant, packet: Packet) {
        self.transmit.push_back(Transmit {
            packet,
            written: None,
        });
    }
}
