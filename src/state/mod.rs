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

mod backoff;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::auth::AuthError;
use crate::codec;
use crate::error::{ConnectionError, ProtocolError, PublishError, SubscribeError};
use crate::message::Message;
use crate::options::{ConnectOptions, SessionLostPolicy};
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, MqttString, Packet, PacketId, PacketType, Properties,
    Property, PropertyId, ProtocolLevel, PubResponse, Publish, QoS, QosPid, ReasonCode, SubAck,
    Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use crate::store::{OutgoingStage, SessionStore, StoredMessage};
use crate::topic::{TopicFilter, TopicName};
use backoff::Backoff;

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

#[derive(Debug)]
enum Conn {
    Idle { retry_at: Instant },
    Connecting { deadline: Instant },
    Connected,
    Closed,
}

#[derive(Debug)]
struct Queued<T> {
    seq: u64,
    message: Message,
    ticket: Option<T>,
}

#[derive(Debug)]
struct InFlight<T> {
    id: PacketId,
    publish: Publish,
    released: bool,
    ticket: Option<T>,
}

#[derive(Debug)]
enum Control<T> {
    Subscribe {
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: Properties,
        ticket: Option<T>,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        properties: Properties,
        ticket: Option<T>,
    },
}

#[derive(Debug, Clone)]
struct ServerLimits {
    receive_maximum: u16,
    maximum_packet_size: u32,
    topic_alias_maximum: u16,
    maximum_qos: QoS,
    retain_available: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: codec::MAX_PACKET_SIZE,
            topic_alias_maximum: 0,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
        }
    }
}

#[derive(Debug)]
struct Disconnecting<T> {
    packet: Disconnect,
    ticket: Option<T>,
    deadline: Instant,
    sent: bool,
}

#[derive(Debug, Clone)]
struct SubRecord {
    filter: TopicFilter,
    options: SubscriptionOptions,
    properties: Properties,
}

/// The sans-IO MQTT client engine. See the [module documentation](self) for the call order.
pub struct Engine<T> {
    opts: ConnectOptions,
    level: ProtocolLevel,
    conn: Conn,
    ever_connected: bool,
    client_id: MqttString,
    server: ServerLimits,
    keep_alive: Duration,

    seq: u64,
    queue: VecDeque<Queued<T>>,
    inflight: BTreeMap<u64, InFlight<T>>,
    by_id: HashMap<PacketId, u64>,
    next_id: PacketId,

    control: VecDeque<Control<T>>,
    pending: HashMap<PacketId, Control<T>>,
    subscriptions: Vec<SubRecord>,

    incoming_qos2: HashSet<PacketId>,
    aliases_in: HashMap<u16, TopicName>,
    aliases_out: HashMap<TopicName, u16>,

    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,

    transmit: VecDeque<Transmit<T>>,
    output: VecDeque<Output<T>>,
    close_reason: Option<ConnectionError>,
    disconnecting: Option<Disconnecting<T>>,
    reauth: Option<T>,
    backoff: Backoff,
    store: Box<dyn SessionStore>,
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
    pub fn new(
        opts: &ConnectOptions,
        mut store: Box<dyn SessionStore>,
        seed: u64,
        now: Instant,
    ) -> Engine<T> {
        let stored = store.load();
        let mut engine = Engine {
            level: opts.protocol,
            conn: Conn::Idle { retry_at: now },
            ever_connected: false,
            client_id: opts.client_id.clone(),
            server: ServerLimits::default(),
            keep_alive: opts.keep_alive,
            seq: 0,
            queue: VecDeque::new(),
            inflight: BTreeMap::new(),
            by_id: HashMap::new(),
            next_id: PacketId::ONE,
            control: VecDeque::new(),
            pending: HashMap::new(),
            subscriptions: Vec::new(),
            incoming_qos2: stored.incoming_qos2.iter().copied().collect(),
            aliases_in: HashMap::new(),
            aliases_out: HashMap::new(),
            last_sent: now,
            last_received: now,
            ping_sent: None,
            transmit: VecDeque::new(),
            output: VecDeque::new(),
            close_reason: None,
            disconnecting: None,
            reauth: None,
            backoff: Backoff::new(opts.reconnect.min_delay, opts.reconnect.max_delay, seed),
            store,
            opts: opts.clone(),
        };
        for (seq, m) in stored.outgoing {
            engine.seq = engine.seq.max(seq + 1);
            match m.stage {
                OutgoingStage::Queued => engine.queue.push_back(Queued {
                    seq,
                    message: Message::from_publish(m.publish),
                    ticket: None,
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

    /// True when another request can be taken without exceeding the configured queue bound.
    pub fn can_accept(&self) -> bool {
        self.queue.len() < self.opts.max_queued && !self.is_closed()
    }

    /// Number of outgoing QoS 1/2 messages in flight (sent, not yet completed).
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Number of accepted publishes not yet sent.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// The transport is up: sends CONNECT.
    pub fn handle_transport_up(&mut self, now: Instant) {
        let mut connect = Connect::new(self.level, self.client_id.clone());
        // At 5.0 only the first connection may start clean; later ones resume the session
        // (it is gone anyway when the Session Expiry Interval is 0). At 3.1.1 the flag is kept.
        connect.clean_start = if self.level.is_v5() && self.ever_connected {
            false
        } else {
            self.opts.clean_start
        };
        connect.keep_alive = self.opts.keep_alive.as_secs().min(u16::MAX.into()) as u16;
        connect.will = self.opts.will.clone();
        connect.username = self.opts.username.clone();
        connect.password = self.opts.password.clone();
        if let Some(provider) = &self.opts.credentials_provider {
            let fresh = provider();
            connect.username = fresh.username.and_then(|u| MqttString::try_from(u).ok());
            connect.password = fresh.password;
        }
        if self.level.is_v5() {
            let mut p = self.opts.connect_properties.clone();
            if let Some(auth) = &self.opts.authenticator {
                // [MQTT-4.12.0-1] enhanced authentication starts with the method (and data) in
                // CONNECT.
                let start = auth.with(|a| {
                    let method = MqttString::try_from(a.method()).unwrap_or_default();
                    a.start().map(|data| (method, data))
                });
                match start {
                    Ok((method, data)) => {
                        p.set(Property::AuthenticationMethod(method));
                        p.remove(PropertyId::AuthenticationData);
                        if let Some(d) = data {
                            p.push(Property::AuthenticationData(d));
                        }
                    }
                    Err(e) => self.close_reason = Some(ConnectionError::Auth(e)),
                }
            }
            if self.opts.session_expiry != 0 {
                p.set(Property::SessionExpiryInterval(self.opts.session_expiry));
            }
            if self.opts.receive_maximum != u16::MAX {
                if let Some(v) = std::num::NonZeroU16::new(self.opts.receive_maximum) {
                    p.set(Property::ReceiveMaximum(v));
                }
            }
            if self.opts.maximum_packet_size < codec::MAX_PACKET_SIZE {
                if let Some(v) = std::num::NonZeroU32::new(self.opts.maximum_packet_size) {
                    p.set(Property::MaximumPacketSize(v));
                }
            }
            if self.opts.topic_alias_maximum > 0 {
                p.set(Property::TopicAliasMaximum(self.opts.topic_alias_maximum));
            }
            connect.properties = p;
        }
        self.conn = Conn::Connecting {
            deadline: now + self.opts.connect_timeout,
        };
        self.aliases_in.clear();
        self.aliases_out.clear();
        self.ping_sent = None;
        self.last_received = now;
        self.send(now, Packet::Connect(Box::new(connect)));
    }

    /// The transport closed, failed, or could not be opened. `error` says why, unless the engine
    /// itself asked for the close ([`Engine::wants_close`]).
    pub fn handle_transport_down(&mut self, now: Instant, error: Option<ConnectionError>) {
        if self.is_closed() {
            return;
        }
        let error = self
            .close_reason
            .take()
            .or(error)
            .unwrap_or(ConnectionError::ConnectionClosed);
        let was_connected = matches!(self.conn, Conn::Connected);
        // Unwritten QoS 0 publishes are lost with the connection.
        for t in std::mem::take(&mut self.transmit) {
            if let Some(ticket) = t.written {
                self.output.push_back(Output::PublishDone {
                    ticket,
                    result: Err(PublishError::ConnectionLost),
                });
            }
        }
        // Subscribe/unsubscribe awaiting their acks are sent again after reconnecting.
        let mut pending: Vec<_> = self.pending.drain().collect();
        pending.sort_by_key(|(id, _)| id.get());
        for (_, c) in pending.into_iter().rev() {
            self.control.push_front(c);
        }
        self.ping_sent = None;
        self.fail_reauth("the connection was lost");

        let graceful = self.disconnecting.as_ref().is_some_and(|d| d.sent);
        let retry = !graceful
            && self.opts.reconnect.enabled
            && (self.ever_connected || self.opts.reconnect.retry_first_connect)
            && self.disconnecting.is_none();
        self.output.push_back(Output::ConnectionLost {
            error: error.clone(),
            was_connected,
            reconnecting: retry,
        });
        if retry {
            self.conn = Conn::Idle {
                retry_at: now + self.backoff.next_delay(),
            };
        } else {
            self.close(if graceful { None } else { Some(error) });
        }
    }

    /// A request from the application.
    pub fn handle_request(&mut self, now: Instant, request: Request<T>) {
        if self.is_closed() || self.disconnecting.is_some() {
            self.refuse(request);
            return;
        }
        match request {
            Request::Publish { message, ticket } => {
                let seq = self.seq;
                self.seq += 1;
                if message.qos != QoS::AtMostOnce {
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
        }
        self.pump(now);
    }

    fn refuse(&mut self, request: Request<T>) {
        let out = match request {
            Request::Publish { ticket, .. } => Output::PublishDone {
                ticket,
                result: Err(PublishError::Closed),
            },
            Request::Subscribe { ticket, .. } => Output::SubscribeDone {
                ticket,
                result: Err(SubscribeError::Closed),
            },
            Request::Unsubscribe { ticket, .. } => Output::UnsubscribeDone {
                ticket,
                result: Err(SubscribeError::Closed),
            },
            Request::Disconnect { ticket, .. } => Output::Closed {
                ticket: Some(ticket),
                error: None,
            },
            Request::Reauthenticate { ticket } => Output::ReauthDone {
                ticket,
                result: Err(AuthError::new("the client is closed")),
            },
        };
        self.output.push_back(out);
    }

    /// A packet from the server.
    pub fn handle_incoming(&mut self, now: Instant, packet: Packet) {
        if matches!(self.conn, Conn::Idle { .. } | Conn::Closed) || self.close_reason.is_some() {
            // Nothing is read from a connection that is gone or being closed.
            return;
        }
        self.last_received = now;
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
                self.ping_sent = None;
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
                let ka = self.keep_alive;
                if ka.is_zero() || self.close_reason.is_some() {
                    return;
                }
                match self.ping_sent {
                    // The server has half the keep alive to answer, so a dead server is detected
                    // within 1.5 x keep alive of the last packet it sent.
                    Some(sent) if now >= sent + ka / 2 => {
                        self.close_reason = Some(ConnectionError::KeepAliveTimeout);
                    }
                    Some(_) => {}
                    None if now >= self.ping_due() => {
                        self.ping_sent = Some(now);
                        self.send(now, Packet::PingReq);
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// PINGREQ is due when nothing was sent for the keep alive interval [MQTT-3.1.2-20], or when
    /// acknowledgements are awaited and nothing was received for that long (a broker that
    /// stopped answering is otherwise never noticed while the client keeps sending).
    fn ping_due(&self) -> Instant {
        let idle_send = self.last_sent + self.keep_alive;
        if self.inflight.is_empty() && self.pending.is_empty() {
            idle_send
        } else {
            idle_send.min(self.last_received + self.keep_alive)
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
                let ka = if self.keep_alive.is_zero() || self.close_reason.is_some() {
                    None
                } else {
                    Some(match self.ping_sent {
                        Some(sent) => sent + self.keep_alive / 2,
                        None => self.ping_due(),
                    })
                };
                match (disconnect, ka) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Conn::Closed => None,
        }
    }

    /// The next packet to write.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<T>> {
        let t = self.transmit.pop_front()?;
        self.last_sent = now;
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

    // ---- connection ------------------------------------------------------------------------

    fn on_connack(&mut self, now: Instant, ack: ConnAck) {
        if ack.reason_code.is_error() {
            self.close_reason = Some(ConnectionError::Refused {
                reason_code: ack.reason_code,
                reason_string: ack.properties.reason_string().map(|s| s.to_string()),
            });
            return;
        }
        if let Some(auth) = &self.opts.authenticator {
            if self.level.is_v5() {
                // The server's final Authentication Data lets the client verify the server.
                let data = ack.properties.authentication_data();
                if let Err(e) = auth.with(|a| a.finish(data)) {
                    self.close_reason = Some(ConnectionError::Auth(e));
                    return;
                }
            }
        }
        let p = &ack.properties;
        self.server = ServerLimits {
            receive_maximum: p.receive_maximum().map_or(u16::MAX, |v| v.get()),
            maximum_packet_size: p
                .maximum_packet_size()
                .map_or(codec::MAX_PACKET_SIZE, |v| v.get()),
            topic_alias_maximum: p.topic_alias_maximum().unwrap_or(0),
            maximum_qos: p.maximum_qos().unwrap_or(QoS::ExactlyOnce),
            retain_available: p.retain_available().unwrap_or(true),
        };
        // [MQTT-3.2.2-21] the Server Keep Alive replaces ours.
        self.keep_alive = match p.server_keep_alive() {
            Some(secs) => Duration::from_secs(secs.into()),
            None => self.opts.keep_alive,
        };
        // [MQTT-3.2.2-16] an Assigned Client Identifier is used from now on.
        if let Some(id) = p.assigned_client_identifier() {
            self.client_id = id.clone();
        }
        self.conn = Conn::Connected;
        let first = !self.ever_connected;
        self.ever_connected = true;
        self.backoff.reset();
        self.last_received = now;

        if ack.session_present {
            self.resend_inflight(now);
        } else {
            self.session_lost(first);
        }
        self.output.push_back(Output::Connected(ack));
        self.pump(now);
    }

    /// [MQTT-4.4.0-1] with a session present, unacknowledged PUBLISH packets are sent again with
    /// their original identifiers and DUP set [MQTT-3.3.1-1], in their original order, then the
    /// PUBREL packets of QoS 2 messages past PUBREC. A PUBLISH is never sent again after its
    /// PUBREL [MQTT-4.3.3-6].
    fn resend_inflight(&mut self, now: Instant) {
        let mut resend = Vec::new();
        let mut release = Vec::new();
        for m in self.inflight.values() {
            if m.released {
                release.push(m.id);
            } else {
                let mut p = m.publish.clone();
                p.dup = true;
                resend.push(p);
            }
        }
        for p in resend {
            self.send(now, Packet::Publish(p));
        }
        for id in release {
            self.send(now, Packet::PubRel(PubResponse::new(id)));
        }
    }

    /// [MQTT-3.2.2-5] Session Present 0 while the client had session state: the state is
    /// discarded. In-flight messages are republished as new ones or failed, by option; QoS 2
    /// messages past PUBREC had been accepted by the server and complete. Subscriptions are
    /// restored (by option).
    fn session_lost(&mut self, first: bool) {
        self.incoming_qos2.clear();
        let inflight = std::mem::take(&mut self.inflight);
        self.by_id.clear();
        let mut republish = Vec::new();
        for (seq, m) in inflight {
            if m.released {
                self.store.remove_outgoing(seq);
                if let Some(ticket) = m.ticket {
                    self.output.push_back(Output::PublishDone {
                        ticket,
                        result: Ok(PublishAck {
                            packet_id: Some(m.id),
                            ..PublishAck::default()
                        }),
                    });
                }
                continue;
            }
            match self.opts.session_lost {
                SessionLostPolicy::Republish => {
                    let mut p = m.publish;
                    p.dup = false;
                    self.store.put_outgoing(
                        seq,
                        &StoredMessage {
                            publish: p.clone(),
                            stage: OutgoingStage::Queued,
                        },
                    );
                    republish.push(Queued {
                        seq,
                        message: Message::from_publish(p),
                        ticket: m.ticket,
                    });
                }
                SessionLostPolicy::Fail => {
                    self.store.remove_outgoing(seq);
                    if let Some(ticket) = m.ticket {
                        self.output.push_back(Output::PublishDone {
                            ticket,
                            result: Err(PublishError::SessionLost),
                        });
                    }
                }
            }
        }
        for q in republish.into_iter().rev() {
            self.queue.push_front(q);
        }
        let stored = self.store.load();
        for id in stored.incoming_qos2 {
            self.store.remove_incoming_qos2(id);
        }
        if !first && self.opts.resubscribe && !self.subscriptions.is_empty() {
            self.resubscribe();
        }
    }

    /// Queues SUBSCRIBE packets restoring every acknowledged subscription, one per distinct set
    /// of properties (so Subscription Identifiers are kept), ahead of other control requests.
    fn resubscribe(&mut self) {
        let mut groups: Vec<(Properties, Vec<(TopicFilter, SubscriptionOptions)>)> = Vec::new();
        for s in &self.subscriptions {
            match groups.iter_mut().find(|(p, _)| *p == s.properties) {
                Some((_, filters)) => filters.push((s.filter.clone(), s.options)),
                None => groups.push((s.properties.clone(), vec![(s.filter.clone(), s.options)])),
            }
        }
        for (properties, filters) in groups.into_iter().rev() {
            self.control.push_front(Control::Subscribe {
                filters,
                properties,
                ticket: None,
            });
        }
    }

    fn protocol_error(&mut self, now: Instant, e: ProtocolError) {
        tracing::warn!(error = %e, "protocol error, closing the connection");
        if self.level.is_v5() && matches!(self.conn, Conn::Connected) {
            let reason = match e {
                ProtocolError::UnknownTopicAlias(_) | ProtocolError::UnexpectedPacket(_) => {
                    ReasonCode::ProtocolError
                }
                ProtocolError::TopicAliasTooLarge { .. } => ReasonCode::TopicAliasInvalid,
                ProtocolError::ReceiveMaximumExceeded(_) => ReasonCode::ReceiveMaximumExceeded,
                _ => ReasonCode::ProtocolError,
            };
            let mut d = Disconnect::new(reason);
            d.properties.push(Property::ReasonString(
                MqttString::try_from(e.to_string()).unwrap_or_default(),
            ));
            self.send(now, Packet::Disconnect(d));
        }
        if self.close_reason.is_none() {
            self.close_reason = Some(ConnectionError::Protocol(e));
        }
    }

    fn close(&mut self, error: Option<ConnectionError>) {
        self.conn = Conn::Closed;
        // The session outlives the client only when it was asked to.
        let session_persists = if self.level.is_v5() {
            self.opts.session_expiry != 0
        } else {
            !self.opts.clean_start
        };
        if !session_persists {
            self.store.clear();
        }
        for q in std::mem::take(&mut self.queue) {
            if let Some(ticket) = q.ticket {
                self.output.push_back(Output::PublishDone {
                    ticket,
                    result: Err(PublishError::Closed),
                });
            }
        }
        for m in std::mem::take(&mut self.inflight).into_values() {
            if let Some(ticket) = m.ticket {
                self.output.push_back(Output::PublishDone {
                    ticket,
                    result: Err(PublishError::Closed),
                });
            }
        }
        self.by_id.clear();
        let control: Vec<_> = self
            .control
            .drain(..)
            .chain(self.pending.drain().map(|(_, c)| c))
            .collect();
        for c in control {
            self.output.push_back(match c {
                Control::Subscribe {
                    ticket: Some(ticket),
                    ..
                } => Output::SubscribeDone {
                    ticket,
                    result: Err(SubscribeError::Closed),
                },
                Control::Unsubscribe {
                    ticket: Some(ticket),
                    ..
                } => Output::UnsubscribeDone {
                    ticket,
                    result: Err(SubscribeError::Closed),
                },
                _ => continue,
            });
        }
        self.fail_reauth("the client is closed");
        let ticket = self.disconnecting.take().and_then(|d| d.ticket);
        self.output.push_back(Output::Closed { ticket, error });
    }

    // ---- enhanced authentication [MQTT-4.12] ------------------------------------------------
    //
    //   CONNECT(method, data) ──AUTH 0x18(challenge)──▶ AUTH 0x18(response) ── ... ──▶ CONNACK
    //   AUTH 0x19(method, data) ──AUTH 0x18 ... ──▶ AUTH 0x00 (re-authentication complete)

    fn start_reauth(&mut self, now: Instant, ticket: T) {
        let Some(auth) = self
            .opts
            .authenticator
            .clone()
            .filter(|_| self.level.is_v5())
        else {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(AuthError::new(
                    "no authenticator is configured (MQTT 5 only)",
                )),
            });
            return;
        };
        if !matches!(self.conn, Conn::Connected) || self.reauth.is_some() {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(AuthError::new(
                    "re-authentication needs a connection with no other re-authentication under way",
                )),
            });
            return;
        }
        match auth.with(|a| a.start()) {
            Ok(data) => {
                self.reauth = Some(ticket);
                self.send_auth(now, &auth, ReasonCode::ReAuthenticate, data);
            }
            Err(e) => self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(e),
            }),
        }
    }

    fn send_auth(
        &mut self,
        now: Instant,
        auth: &crate::auth::SharedAuthenticator,
        reason: ReasonCode,
        data: Option<bytes::Bytes>,
    ) {
        let mut packet = Auth::new(reason);
        let method = auth.with(|a| MqttString::try_from(a.method()).unwrap_or_default());
        packet
            .properties
            .push(Property::AuthenticationMethod(method));
        if let Some(d) = data {
            packet.properties.push(Property::AuthenticationData(d));
        }
        self.send(now, Packet::Auth(packet));
    }

    fn on_auth(&mut self, now: Instant, a: Auth) -> Result<(), ProtocolError> {
        let Some(auth) = self.opts.authenticator.clone() else {
            // [MQTT-4.12.0-6] without a method in CONNECT the server must not send AUTH.
            return Err(ProtocolError::UnexpectedPacket(PacketType::Auth));
        };
        let method = auth.with(|a| a.method().to_owned());
        // [MQTT-4.12.0-5] every AUTH carries the method of CONNECT.
        if a.properties.authentication_method().map(|m| m.as_str()) != Some(method.as_str()) {
            return Err(ProtocolError::AuthMethodMismatch);
        }
        let connecting = matches!(self.conn, Conn::Connecting { .. });
        match a.reason_code {
            ReasonCode::ContinueAuthentication if connecting || self.reauth.is_some() => {
                match auth.with(|x| x.step(a.properties.authentication_data())) {
                    Ok(data) => {
                        self.send_auth(now, &auth, ReasonCode::ContinueAuthentication, data)
                    }
                    Err(e) => self.auth_failed(e),
                }
                Ok(())
            }
            ReasonCode::Success if !connecting && self.reauth.is_some() => {
                let result = auth.with(|x| x.finish(a.properties.authentication_data()));
                if let Some(ticket) = self.reauth.take() {
                    self.output.push_back(Output::ReauthDone {
                        ticket,
                        result: result.clone(),
                    });
                }
                if let Err(e) = result {
                    self.close_reason = Some(ConnectionError::Auth(e));
                }
                Ok(())
            }
            _ => Err(ProtocolError::UnexpectedPacket(PacketType::Auth)),
        }
    }

    fn auth_failed(&mut self, e: AuthError) {
        if let Some(ticket) = self.reauth.take() {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(e.clone()),
            });
        }
        self.close_reason = Some(ConnectionError::Auth(e));
    }

    fn fail_reauth(&mut self, why: &str) {
        if let Some(ticket) = self.reauth.take() {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(AuthError::new(why)),
            });
        }
    }

    // ---- outgoing --------------------------------------------------------------------------

    fn send(&mut self, _now: Instant, packet: Packet) {
        self.transmit.push_back(Transmit {
            packet,
            written: None,
        });
    }

    fn window(&self) -> usize {
        usize::from(self.opts.max_inflight.min(self.server.receive_maximum))
    }

    /// A free packet identifier. One pool serves PUBLISH, SUBSCRIBE and UNSUBSCRIBE, and an
    /// identifier is never reused while in use [MQTT-2.2.1-3]; acks arriving out of order only
    /// leave holes that later allocations skip.
    fn alloc_id(&mut self) -> Option<PacketId> {
        let mut id = self.next_id;
        for _ in 0..u16::MAX {
            if !self.by_id.contains_key(&id) && !self.pending.contains_key(&id) {
                self.next_id = id.next();
                return Some(id);
            }
            id = id.next();
        }
        None
    }

    /// Moves queued work onto the wire as far as the connection, the in-flight window and the
    /// packet identifier pool allow.
    fn pump(&mut self, now: Instant) {
        if !matches!(self.conn, Conn::Connected) || self.close_reason.is_some() {
            return;
        }
        while let Some(c) = self.control.pop_front() {
            let Some(id) = self.alloc_id() else {
                self.control.push_front(c);
                break;
            };
            let packet = match &c {
                Control::Subscribe {
                    filters,
                    properties,
                    ..
                } => Packet::Subscribe(Subscribe {
                    packet_id: id,
                    properties: properties.clone(),
                    filters: filters.clone(),
                }),
                Control::Unsubscribe {
                    filters,
                    properties,
                    ..
                } => Packet::Unsubscribe(Unsubscribe {
                    packet_id: id,
                    properties: properties.clone(),
                    filters: filters.clone(),
                }),
            };
            if let Err(e) = self.check_size(&packet) {
                self.fail_control(c, e);
                continue;
            }
            self.pending.insert(id, c);
            self.send(now, packet);
        }
        let window = self.window();
        while let Some(front) = self.queue.front() {
            let qos = front.message.qos;
            if qos != QoS::AtMostOnce && self.inflight.len() >= window {
                break;
            }
            let id = if qos == QoS::AtMostOnce {
                PacketId::ONE
            } else {
                match self.alloc_id() {
                    Some(id) => id,
                    None => break,
                }
            };
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            let publish = q.message.into_publish(QosPid::new(qos, id));
            if let Err(e) = self.check_publish(&publish) {
                if qos != QoS::AtMostOnce {
                    self.store.remove_outgoing(q.seq);
                }
                if let Some(ticket) = q.ticket {
                    self.output.push_back(Output::PublishDone {
                        ticket,
                        result: Err(e),
                    });
                }
                continue;
            }
            if qos == QoS::AtMostOnce {
                // Nothing is kept of a QoS 0 message: it goes out without a copy.
                let wire = self.with_alias(publish);
                self.transmit.push_back(Transmit {
                    packet: Packet::Publish(wire),
                    written: q.ticket,
                });
                continue;
            }
            let wire = self.with_alias(publish.clone());
            self.store.put_outgoing(
                q.seq,
                &StoredMessage {
                    publish: publish.clone(),
                    stage: OutgoingStage::Sent(id),
                },
            );
            self.by_id.insert(id, q.seq);
            self.inflight.insert(
                q.seq,
                InFlight {
                    id,
                    publish,
                    released: false,
                    ticket: q.ticket,
                },
            );
            self.send(now, Packet::Publish(wire));
        }
        self.maybe_finish_disconnect(now);
    }

    fn check_size(&self, packet: &Packet) -> Result<(), codec::EncodeError> {
        let size = codec::encoded_len(packet, self.level)?;
        if size > self.server.maximum_packet_size as usize {
            return Err(codec::EncodeError::PacketTooLarge {
                size,
                max: self.server.maximum_packet_size,
            });
        }
        Ok(())
    }

    /// [MQTT-3.2.2-15] a message larger than the server's Maximum Packet Size is refused here
    /// rather than sent.
    ///
    /// Likewise a QoS above the server's Maximum QoS [MQTT-3.2.2-11], or RETAIN when the
    /// server said Retain Available 0 [MQTT-3.2.2-14]: refused with the reason code the server
    /// would have answered with.
    fn check_publish(&self, p: &Publish) -> Result<(), PublishError> {
        if p.qos.qos() > self.server.maximum_qos {
            return Err(PublishError::Rejected {
                reason_code: ReasonCode::QoSNotSupported,
                reason_string: Some(format!(
                    "[MQTT-3.2.2-11] the server's Maximum QoS is {}",
                    self.server.maximum_qos as u8
                )),
            });
        }
        if p.retain && !self.server.retain_available {
            return Err(PublishError::Rejected {
                reason_code: ReasonCode::RetainNotSupported,
                reason_string: Some(
                    "[MQTT-3.2.2-14] the server does not support retained messages".to_owned(),
                ),
            });
        }
        let size = codec::publish_len(p, self.level).map_err(PublishError::Encode)?;
        if size > self.server.maximum_packet_size as usize {
            return Err(PublishError::PacketTooLarge {
                size,
                max: self.server.maximum_packet_size,
            });
        }
        Ok(())
    }

    fn fail_control(&mut self, c: Control<T>, e: codec::EncodeError) {
        match c {
            Control::Subscribe {
                ticket: Some(ticket),
                ..
            } => self.output.push_back(Output::SubscribeDone {
                ticket,
                result: Err(SubscribeError::Encode(e)),
            }),
            Control::Unsubscribe {
                ticket: Some(ticket),
                ..
            } => self.output.push_back(Output::UnsubscribeDone {
                ticket,
                result: Err(SubscribeError::Encode(e)),
            }),
            _ => tracing::warn!(error = %e, "cannot restore a subscription"),
        }
    }

    /// Outgoing topic aliases (opt-in, 5.0): the first message on a topic sets an alias within
    /// the server's Topic Alias Maximum [MQTT-3.2.2-17]; later ones send only the alias.
    fn with_alias(&mut self, mut wire: Publish) -> Publish {
        if !self.opts.auto_topic_alias
            || !self.level.is_v5()
            || self.server.topic_alias_maximum == 0
            || wire.properties.topic_alias().is_some()
        {
            return wire;
        }
        if let Some(&alias) = self.aliases_out.get(&wire.topic) {
            wire.topic = TopicName::empty_for_alias();
            if let Some(a) = std::num::NonZeroU16::new(alias) {
                wire.properties.push(Property::TopicAlias(a));
            }
        } else if self.aliases_out.len() < usize::from(self.server.topic_alias_maximum) {
            let alias = self.aliases_out.len() as u16 + 1;
            if let Some(a) = std::num::NonZeroU16::new(alias) {
                wire.properties.push(Property::TopicAlias(a));
            }
            // Setting an alias makes this PUBLISH longer: rather than exceed the server's
            // Maximum Packet Size [MQTT-3.2.2-15], send it without one.
            let fits = codec::publish_len(&wire, self.level)
                .is_ok_and(|n| n <= self.server.maximum_packet_size as usize);
            if !fits {
                // There was no alias before this one (checked above).
                wire.properties.remove(PropertyId::TopicAlias);
                return wire;
            }
            self.aliases_out.insert(wire.topic.clone(), alias);
        }
        wire
    }

    fn maybe_finish_disconnect(&mut self, now: Instant) {
        let idle = self.queue.is_empty()
            && self.inflight.is_empty()
            && self.control.is_empty()
            && self.pending.is_empty();
        if idle && self.disconnecting.as_ref().is_some_and(|d| !d.sent) {
            self.send_disconnect(now);
        }
    }

    fn send_disconnect(&mut self, now: Instant) {
        let Some(d) = self.disconnecting.as_mut() else {
            return;
        };
        d.sent = true;
        let packet = d.packet.clone();
        self.send(now, Packet::Disconnect(packet));
        self.close_reason = Some(ConnectionError::Closed);
    }

    fn complete(&mut self, now: Instant, id: PacketId, result: Result<PublishAck, PublishError>) {
        let Some(seq) = self.by_id.remove(&id) else {
            return;
        };
        self.store.remove_outgoing(seq);
        if let Some(m) = self.inflight.remove(&seq) {
            if let Some(ticket) = m.ticket {
                self.output
                    .push_back(Output::PublishDone { ticket, result });
            }
        }
        self.pump(now);
    }

    fn ack_result(a: PubResponse) -> Result<PublishAck, PublishError> {
        if a.reason_code.is_error() {
            Err(PublishError::Rejected {
                reason_code: a.reason_code,
                reason_string: a.properties.reason_string().map(|s| s.to_string()),
            })
        } else {
            Ok(PublishAck {
                packet_id: Some(a.packet_id),
                reason_code: a.reason_code,
                properties: a.properties,
            })
        }
    }

    /// The QoS 1 sender: PUBLISH sent, PUBACK completes it.
    fn on_puback(&mut self, now: Instant, a: PubResponse) {
        let id = a.packet_id;
        match self.inflight_entry(id) {
            Some(m) if m.publish.qos.qos() == QoS::AtLeastOnce => {
                self.complete(now, id, Self::ack_result(a));
            }
            _ => tracing::debug!(
                packet_id = id.get(),
                "PUBACK for no QoS 1 message in flight"
            ),
        }
    }

    fn inflight_entry(&mut self, id: PacketId) -> Option<&mut InFlight<T>> {
        let seq = self.by_id.get(&id)?;
        self.inflight.get_mut(seq)
    }

    // The QoS 2 sender [MQTT-4.3.3]:
    //
    //   PUBLISH ──▶ (awaiting PUBREC) ──PUBREC ok──▶ PUBREL ──▶ (awaiting PUBCOMP) ──PUBCOMP──▶ done
    //                      │
    //                      └──PUBREC >= 0x80──▶ done with error (no PUBREL)
    fn on_pubrec(&mut self, now: Instant, a: PubResponse) {
        let id = a.packet_id;
        let Some(m) = self.inflight_entry(id) else {
            // [MQTT-4.3.3] an unknown PUBREC is answered with PUBREL 0x92 at 5.0.
            if self.level.is_v5() {
                self.send(
                    now,
                    Packet::PubRel(PubResponse::with_reason(
                        id,
                        ReasonCode::PacketIdentifierNotFound,
                    )),
                );
            }
            return;
        };
        if m.publish.qos.qos() != QoS::ExactlyOnce {
            tracing::debug!(packet_id = id.get(), "PUBREC for a QoS 1 message ignored");
            return;
        }
        if a.reason_code.is_error() {
            self.complete(now, id, Self::ack_result(a));
            return;
        }
        if !m.released {
            m.released = true;
            // The payload is not needed any more: the PUBLISH is never sent again.
            m.publish.payload = bytes::Bytes::new();
            if let Some(&seq) = self.by_id.get(&id) {
                self.store.set_stage(seq, OutgoingStage::Released(id));
            }
        }
        self.send(now, Packet::PubRel(PubResponse::new(id)));
    }

    fn on_pubcomp(&mut self, now: Instant, a: PubResponse) {
        let id = a.packet_id;
        match self.inflight_entry(id) {
            Some(m) if m.released => self.complete(now, id, Self::ack_result(a)),
            _ => tracing::debug!(
                packet_id = id.get(),
                "PUBCOMP for no released QoS 2 message"
            ),
        }
    }

    fn on_suback(&mut self, now: Instant, a: SubAck) {
        match self.pending.remove(&a.packet_id) {
            Some(Control::Subscribe {
                filters,
                properties,
                ticket,
            }) => {
                for ((filter, options), rc) in filters.into_iter().zip(&a.reason_codes) {
                    if rc.is_error() {
                        continue;
                    }
                    self.subscriptions.retain(|s| s.filter != filter);
                    self.subscriptions.push(SubRecord {
                        filter,
                        options,
                        properties: properties.clone(),
                    });
                }
                if let Some(ticket) = ticket {
                    self.output.push_back(Output::SubscribeDone {
                        ticket,
                        result: Ok(a),
                    });
                }
            }
            Some(other) => {
                self.pending.insert(a.packet_id, other);
                self.protocol_error(now, ProtocolError::UnexpectedPacket(PacketType::SubAck));
            }
            None => tracing::debug!(packet_id = a.packet_id.get(), "SUBACK for no SUBSCRIBE"),
        }
        self.pump(now);
    }

    fn on_unsuback(&mut self, now: Instant, a: UnsubAck) {
        match self.pending.remove(&a.packet_id) {
            Some(Control::Unsubscribe {
                filters, ticket, ..
            }) => {
                self.subscriptions.retain(|s| !filters.contains(&s.filter));
                if let Some(ticket) = ticket {
                    self.output.push_back(Output::UnsubscribeDone {
                        ticket,
                        result: Ok(a),
                    });
                }
            }
            Some(other) => {
                self.pending.insert(a.packet_id, other);
                self.protocol_error(now, ProtocolError::UnexpectedPacket(PacketType::UnsubAck));
            }
            None => tracing::debug!(packet_id = a.packet_id.get(), "UNSUBACK for no UNSUBSCRIBE"),
        }
        self.pump(now);
    }

    // ---- incoming --------------------------------------------------------------------------

    // The QoS 2 receiver [MQTT-4.3.3]:
    //
    //   PUBLISH(id) ──new id──▶ deliver, store id, PUBREC ──PUBREL(id)──▶ forget id, PUBCOMP
    //        │
    //        └──id already stored──▶ PUBREC only: never delivered twice [MQTT-4.3.3-10]
    fn on_publish(&mut self, now: Instant, mut p: Publish) -> Result<(), ProtocolError> {
        if let Some(alias) = p.properties.topic_alias() {
            let alias = alias.get();
            // [MQTT-3.3.2-11] the server must not send an alias above our Topic Alias Maximum.
            if alias > self.opts.topic_alias_maximum {
                return Err(ProtocolError::TopicAliasTooLarge {
                    alias,
                    max: self.opts.topic_alias_maximum,
                });
            }
            if p.topic.is_empty() {
                p.topic = self
                    .aliases_in
                    .get(&alias)
                    .cloned()
                    .ok_or(ProtocolError::UnknownTopicAlias(alias))?;
            } else {
                self.aliases_in.insert(alias, p.topic.clone());
            }
        }
        match p.qos {
            QosPid::AtMostOnce => self
                .output
                .push_back(Output::Message(Message::from_publish(p))),
            QosPid::AtLeastOnce(id) => {
                self.output
                    .push_back(Output::Message(Message::from_publish(p)));
                self.send(now, Packet::PubAck(PubResponse::new(id)));
            }
            QosPid::ExactlyOnce(id) => {
                if !self.incoming_qos2.contains(&id) {
                    // [MQTT-3.3.4-9] the server may not exceed our Receive Maximum.
                    if self.level.is_v5()
                        && self.incoming_qos2.len() >= usize::from(self.opts.receive_maximum)
                    {
                        return Err(ProtocolError::ReceiveMaximumExceeded(
                            self.opts.receive_maximum,
                        ));
                    }
                    self.incoming_qos2.insert(id);
                    self.store.put_incoming_qos2(id);
                    self.output
                        .push_back(Output::Message(Message::from_publish(p)));
                }
                self.send(now, Packet::PubRec(PubResponse::new(id)));
            }
        }
        Ok(())
    }

    fn on_pubrel(&mut self, now: Instant, a: PubResponse) {
        let id = a.packet_id;
        let reply = if self.incoming_qos2.remove(&id) {
            self.store.remove_incoming_qos2(id);
            PubResponse::new(id)
        } else if self.level.is_v5() {
            // An unknown PUBREL is answered, not treated as an error: 0x92 at 5.0.
            PubResponse::with_reason(id, ReasonCode::PacketIdentifierNotFound)
        } else {
            PubResponse::new(id)
        };
        self.send(now, Packet::PubComp(reply));
    }
}
