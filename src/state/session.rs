//! The connection and session life cycle: CONNECT and CONNACK, resuming or losing the session,
//! reconnect timing, protocol errors, graceful disconnect and the final close.
//!
//! ```text
//!   Idle(retry_at) ──transport up, CONNECT──▶ Connecting(deadline) ──CONNACK ok──▶ Connected
//!        ▲                                        │                                  │
//!        └───────── backoff ◀── transport down ◀──┴──────────────────────────────────┘
//!                                        │
//!                  no reconnect, or graceful disconnect ──▶ Closed
//! ```

use std::time::{Duration, Instant};

use super::control::Control;
use super::sender::{Queued, STALE_SESSION_REFUSALS};
use super::{Engine, Output, PublishAck};
use crate::codec;
use crate::error::{ConnectionError, DecodeError, ProtocolError, PublishError, SubscribeError};
use crate::message::Message;
use crate::options::SessionLostPolicy;
use crate::packet::{
    ConnAck, Connect, Disconnect, MqttString, Packet, Property, PropertyId, ProtocolLevel,
    PubResponse, QoS, ReasonCode,
};
use crate::store::{OutgoingStage, StoredMessage};

/// Where the connection is.
#[derive(Debug)]
pub(super) enum Conn {
    Idle { retry_at: Instant },
    Connecting { deadline: Instant },
    Connected,
    Closed,
}

/// What the server said it can take, from CONNACK (5.0; defaults at 3.1.1).
#[derive(Debug, Clone)]
pub(super) struct ServerLimits {
    pub(super) receive_maximum: u16,
    pub(super) maximum_packet_size: u32,
    pub(super) topic_alias_maximum: u16,
    pub(super) maximum_qos: QoS,
    pub(super) retain_available: bool,
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

/// A graceful disconnect under way.
#[derive(Debug)]
pub(super) struct Disconnecting<T> {
    pub(super) packet: Disconnect,
    pub(super) ticket: Option<T>,
    pub(super) deadline: Instant,
    pub(super) sent: bool,
}

impl<T> Engine<T> {
    /// The transport is up: sends CONNECT.
    pub fn handle_transport_up(&mut self, now: Instant) {
        let mut connect = Connect::new(self.level, self.client_id.clone());
        // At 5.0 only the first connection may start clean; later ones resume the session
        // (it is gone anyway when the Session Expiry Interval is 0). At 3.1.1 the flag is kept.
        // A stale session is replaced by a fresh one (stale-session recovery).
        connect.clean_start = if self.fresh_session {
            true
        } else if self.level.is_v5() && self.ever_connected {
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
        self.connection += 1;
        self.aliases.clear();
        self.keep_alive.reset(now);
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
        let connecting = matches!(self.conn, Conn::Connecting { .. });
        let error = if connecting {
            closed_before_connack(error, self.level)
        } else {
            error
        };
        self.leaving_stale = false;
        if was_connected && closed_by_server(&error) {
            self.strike_oldest_unanswered();
            // [MQTT-3.3.4-9] we never exceed the server's Receive Maximum: when it says we did
            // on a resumed session, it counts messages we no longer know.
            if let ConnectionError::ServerDisconnect(d) = &error {
                if self.session_resumed && self.opts.stale_session_recovery {
                    match d.reason_code {
                        ReasonCode::ReceiveMaximumExceeded => self.fresh_session = true,
                        ReasonCode::QuotaExceeded => {
                            self.quota_refusals += 1;
                            if self.quota_refusals >= STALE_SESSION_REFUSALS {
                                self.fresh_session = true;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        // The backoff starts again only after a connection that stayed up for a while, so a
        // server that accepts and then drops the connection meets growing delays.
        if let Some(at) = self.connected_at.take() {
            if now.saturating_duration_since(at) >= self.opts.reconnect.stable_after {
                self.backoff.reset();
            }
        }
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
        self.keep_alive.stop();
        // Unacknowledged deliveries: the broker sends them again on the next connection.
        self.unacked.clear();
        self.fail_reauth("the connection was lost");

        // A server that speaks only 3.1.1 answers a 5.0 CONNECT with the 3.1.1 refusal
        // "unacceptable protocol version" (or closes the connection): unless the application
        // chose the level, the first connection is tried again at once at 3.1.1.
        let refused_v5 = matches!(
            error,
            ConnectionError::Refused {
                reason_code: ReasonCode::UnsupportedProtocolVersion,
                ..
            } | ConnectionError::ClosedBeforeConnAck { .. }
        );
        if connecting
            && refused_v5
            && !self.ever_connected
            && self.level == ProtocolLevel::V5
            && !self.opts.protocol_chosen
            && self.disconnecting.is_none()
        {
            tracing::info!(%error, "MQTT 5.0 refused: falling back to 3.1.1");
            self.level = ProtocolLevel::V3_1_1;
            self.output.push_back(Output::ProtocolFallback {
                from: ProtocolLevel::V5,
                to: ProtocolLevel::V3_1_1,
                error,
            });
            self.conn = Conn::Idle { retry_at: now };
            return;
        }

        let graceful = self.disconnecting.as_ref().is_some_and(|d| d.sent);
        // Without retries, a first connection still tries every server of the list once.
        let next_server = !self.ever_connected && self.first_attempts_left > 1;
        self.first_attempts_left = self.first_attempts_left.saturating_sub(1);
        let retry = !graceful
            && self.opts.reconnect.enabled
            && (self.ever_connected || self.opts.reconnect.retry_first_connect || next_server)
            && !(self.opts.reconnect.stop_on_permanent_error && error.is_permanent())
            && self.disconnecting.is_none();
        self.output.push_back(Output::ConnectionLost {
            error: error.clone(),
            was_connected,
            reconnecting: retry,
        });
        if retry && next_server && !self.opts.reconnect.retry_first_connect {
            self.conn = Conn::Idle { retry_at: now };
        } else if retry {
            self.conn = Conn::Idle {
                retry_at: now + self.backoff.next_delay(),
            };
        } else {
            self.close(if graceful { None } else { Some(error) });
        }
    }

    pub(super) fn on_connack(&mut self, now: Instant, ack: ConnAck) {
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
        self.keep_alive.interval = match p.server_keep_alive() {
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
        self.connected_at = Some(now);
        self.keep_alive.on_received(now);
        self.fresh_session = false;
        self.session_resumed = ack.session_present;
        if !ack.session_present {
            self.quota_refusals = 0;
        }

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
    pub(super) fn resend_inflight(&mut self, now: Instant) {
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
        let connection = self.connection;
        for m in self.inflight.values_mut() {
            m.sent_on = connection;
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
    pub(super) fn session_lost(&mut self, first: bool) {
        // The engine's set mirrors the store's, so it says which identifiers to forget there.
        for id in std::mem::take(&mut self.incoming_qos2) {
            self.store.remove_incoming_qos2(id);
        }
        let inflight = std::mem::take(&mut self.inflight);
        self.by_id.clear();
        let mut republish = Vec::new();
        for (seq, m) in inflight {
            if m.released {
                self.store.remove_outgoing(seq);
                let done = PublishAck {
                    packet_id: Some(m.id),
                    ..PublishAck::default()
                };
                self.report(seq, m.ticket, Ok(done));
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
                        strikes: m.strikes,
                    });
                }
                SessionLostPolicy::Fail => {
                    self.store.remove_outgoing(seq);
                    self.report(seq, m.ticket, Err(PublishError::SessionLost));
                }
            }
        }
        for q in republish.into_iter().rev() {
            self.queue.push_front(q);
        }
        if !first && self.opts.resubscribe && !self.subscriptions.is_empty() {
            self.resubscribe();
        }
    }

    /// The resumed session is stale (see [`crate::ConnectOptions::stale_session_recovery`]):
    /// the next connection starts a fresh session. Before this one ends, nothing new is sent
    /// and the QoS 2 messages past PUBREC get their PUBCOMP: the fresh session discards the
    /// broker's copy of anything still awaiting PUBREL, and such a message (PUBREC received,
    /// so never published again) would be lost. Then DISCONNECT (Normal) and the close.
    pub(super) fn start_fresh_session(&mut self, now: Instant) {
        tracing::warn!(
            refusals = self.quota_refusals,
            "the resumed session is stale: starting a fresh session"
        );
        self.fresh_session = true;
        self.leaving_stale = true;
        self.leave_stale_session(now);
    }

    /// Ends the stale session's connection once no message awaits PUBCOMP.
    pub(super) fn leave_stale_session(&mut self, now: Instant) {
        if !self.leaving_stale || self.inflight.values().any(|m| m.released) {
            return;
        }
        self.leaving_stale = false;
        if self.level.is_v5() && matches!(self.conn, Conn::Connected) {
            self.send(
                now,
                Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
            );
        }
        if self.close_reason.is_none() {
            self.close_reason = Some(ConnectionError::StaleSession {
                refusals: self.quota_refusals,
            });
        }
    }

    /// Bytes from the server that are not a valid packet: at 5.0 the connection ends with
    /// DISCONNECT and the reason code the rule names (0x81 Malformed Packet, 0x95 Packet too
    /// large, 0x82 Protocol Error) [MQTT-4.13.1-1]; then it is closed.
    pub fn handle_decode_error(&mut self, now: Instant, e: DecodeError) {
        if self.close_reason.is_some() || matches!(self.conn, Conn::Idle { .. } | Conn::Closed) {
            return;
        }
        tracing::warn!(error = %e, "malformed packet from the server, closing the connection");
        if self.level.is_v5() {
            let mut d = Disconnect::new(e.reason_code());
            d.properties.push(Property::ReasonString(
                MqttString::try_from(e.to_string()).unwrap_or_default(),
            ));
            self.send(now, Packet::Disconnect(d));
        }
        self.close_reason = Some(match e {
            DecodeError::PacketTooLarge { size, max } => {
                ConnectionError::PacketTooLarge { size, max }
            }
            other => ConnectionError::Decode(other),
        });
    }

    pub(super) fn protocol_error(&mut self, now: Instant, e: ProtocolError) {
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

    pub(super) fn maybe_finish_disconnect(&mut self, now: Instant) {
        let idle = self.queue.is_empty()
            && self.inflight.is_empty()
            && self.control.is_empty()
            && self.pending.is_empty();
        if idle && self.disconnecting.as_ref().is_some_and(|d| !d.sent) {
            self.send_disconnect(now);
        }
    }

    pub(super) fn send_disconnect(&mut self, now: Instant) {
        let Some(d) = self.disconnecting.as_mut() else {
            return;
        };
        d.sent = true;
        let packet = d.packet.clone();
        self.send(now, Packet::Disconnect(packet));
        self.close_reason = Some(ConnectionError::Closed);
    }

    pub(super) fn close(&mut self, error: Option<ConnectionError>) {
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
        // What is still pending fails with the error that ended the client (a first connection
        // that failed, a lost connection without reconnection), or as closed.
        self.closed_error = error.clone();
        for q in self.queue.take_all() {
            if let Some(ticket) = q.ticket {
                self.output.push_back(Output::PublishDone {
                    ticket,
                    result: Err(self.publish_refusal()),
                });
            }
        }
        for m in std::mem::take(&mut self.inflight).into_values() {
            if let Some(ticket) = m.ticket {
                self.output.push_back(Output::PublishDone {
                    ticket,
                    result: Err(self.publish_refusal()),
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
                    result: Err(self.subscribe_refusal()),
                },
                Control::Unsubscribe {
                    ticket: Some(ticket),
                    ..
                } => Output::UnsubscribeDone {
                    ticket,
                    result: Err(self.subscribe_refusal()),
                },
                _ => continue,
            });
        }
        self.fail_reauth("the client is closed");
        let ticket = self.disconnecting.take().and_then(|d| d.ticket);
        self.output.push_back(Output::Closed { ticket, error });
    }
}

impl<T> Engine<T> {
    /// Why a publish fails once the engine is closed.
    pub(super) fn publish_refusal(&self) -> PublishError {
        match &self.closed_error {
            Some(e) => PublishError::Connection(e.clone()),
            None => PublishError::Closed,
        }
    }

    /// Why a subscribe or unsubscribe fails once the engine is closed.
    pub(super) fn subscribe_refusal(&self) -> SubscribeError {
        match &self.closed_error {
            Some(e) => SubscribeError::Connection(e.clone()),
            None => SubscribeError::Closed,
        }
    }
}

/// A connection that ended while CONNACK was awaited: however the transport reported the close
/// (end of file on TCP, TLS or WebSocket, a reset), it is [`ConnectionError::ClosedBeforeConnAck`].
fn closed_before_connack(e: ConnectionError, level: ProtocolLevel) -> ConnectionError {
    use std::io::ErrorKind;
    match e {
        ConnectionError::ConnectionClosed => ConnectionError::ClosedBeforeConnAck {
            level,
            source: None,
        },
        ConnectionError::Io {
            kind: ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe,
            source,
            ..
        } => ConnectionError::ClosedBeforeConnAck {
            level,
            source: source.map(|s| s as crate::error::ErrorSource),
        },
        other => other,
    }
}

/// The server ended the connection (closed or reset the socket, or sent DISCONNECT with an
/// error), as opposed to the client giving up on it.
fn closed_by_server(e: &ConnectionError) -> bool {
    use std::io::ErrorKind;
    match e {
        ConnectionError::ConnectionClosed => true,
        ConnectionError::Io { kind, .. } => matches!(
            kind,
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
        ),
        ConnectionError::ServerDisconnect(d) => d.reason_code.is_error(),
        _ => false,
    }
}
