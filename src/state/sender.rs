//! The QoS 1 and QoS 2 sender: the queue of accepted publishes, the in-flight window, packet
//! identifiers, and the acknowledgements that complete a publish [MQTT-4.3.2] [MQTT-4.3.3].
//!
//! ```text
//!   QoS 1:  queued ──PUBLISH──▶ (awaiting PUBACK) ──PUBACK──▶ done
//!
//!   QoS 2:  queued ──PUBLISH──▶ (awaiting PUBREC) ──PUBREC ok──▶ PUBREL ──▶ (awaiting PUBCOMP)
//!                                      │                                         │
//!                                      └──PUBREC >= 0x80──▶ done with error      └──PUBCOMP──▶ done
//!
//!   An acknowledgement of the wrong kind (PUBACK for QoS 2, PUBREC or PUBCOMP for QoS 1,
//!   PUBCOMP before PUBREC) is a protocol violation: the message fails with that error and the
//!   connection is closed (DISCONNECT 0x82 at 5.0).
//!
//!   A message is given up when the server closed the connection each of the last
//!   `max_publish_closures` times it was the oldest message the server had not answered.
//! ```

use std::time::Instant;

use super::{Conn, Engine, PublishAck, Transmit};
use crate::codec;
use crate::error::{ProtocolError, PublishError};
use crate::message::Message;
use crate::packet::{Packet, PacketId, PacketType, PubResponse, Publish, QoS, QosPid, ReasonCode};
use crate::store::{OutgoingStage, StoredMessage};

/// An accepted publish waiting for room in the in-flight window.
#[derive(Debug)]
pub(super) struct Queued<T> {
    pub(super) seq: u64,
    pub(super) message: Message,
    pub(super) ticket: Option<T>,
    /// Connections the server closed in answer to this message, in a row (kept when a lost
    /// session puts the message back in the queue).
    pub(super) strikes: u8,
}

/// A QoS 1/2 publish sent and not yet complete.
#[derive(Debug)]
pub(super) struct InFlight<T> {
    pub(super) id: PacketId,
    pub(super) publish: Publish,
    /// QoS 2: PUBREC received and PUBREL sent.
    pub(super) released: bool,
    pub(super) ticket: Option<T>,
    /// The connection (see `Engine::connection`) the PUBLISH was last sent on.
    pub(super) sent_on: u64,
    pub(super) strikes: u8,
}

impl<T> Engine<T> {
    pub(super) fn window(&self) -> usize {
        usize::from(self.opts.max_inflight.min(self.server.receive_maximum))
    }

    /// A free packet identifier. One pool serves PUBLISH, SUBSCRIBE and UNSUBSCRIBE, and an
    /// identifier is never reused while in use [MQTT-2.2.1-3]; acks arriving out of order only
    /// leave holes that later allocations skip.
    pub(super) fn alloc_id(&mut self) -> Option<PacketId> {
        let mut id = self.next_id;
        for _ in 0..u16::MAX {
            if !self.by_id.contains_key(&id) && !self.pending.contains_key(&id) {
                self.next_id = id.next();
                self.store.set_next_packet_id(self.next_id);
                return Some(id);
            }
            id = id.next();
        }
        None
    }

    /// Applies the outgoing topic alias, when automatic aliases are on.
    pub(super) fn with_alias(&mut self, wire: Publish) -> Publish {
        if !self.opts.auto_topic_alias {
            return wire;
        }
        self.aliases.apply_outgoing(
            wire,
            self.level,
            self.server.topic_alias_maximum,
            self.server.maximum_packet_size,
        )
    }

    /// Moves queued work onto the wire as far as the connection, the in-flight window and the
    /// packet identifier pool allow.
    pub(super) fn pump(&mut self, now: Instant) {
        if !matches!(self.conn, Conn::Connected) || self.close_reason.is_some() {
            return;
        }
        if self.leaving_stale {
            // Nothing new goes to a session about to be replaced.
            self.leave_stale_session(now);
            return;
        }
        self.pump_control(now);
        let window = self.window();
        while let Some(front) = self.queue.front() {
            let qos = front.message.qos;
            if qos != QoS::AtMostOnce && self.inflight.len() >= window {
                break;
            }
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            // The server's limits are checked before an identifier is taken: a refused message
            // uses none. The placeholder identifier does not change the size.
            let mut publish = q.message.into_publish(QosPid::new(qos, PacketId::ONE));
            if let Err(e) = self.check_publish(&publish) {
                if qos != QoS::AtMostOnce {
                    self.store.remove_outgoing(q.seq);
                }
                self.report(q.seq, q.ticket, Err(e));
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
            let Some(id) = self.alloc_id() else {
                // Every identifier is in use: wait for an acknowledgement to free one.
                self.queue.push_front(Queued {
                    message: Message::from_publish(publish),
                    ..q
                });
                break;
            };
            publish.qos = QosPid::new(qos, id);
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
                    sent_on: self.connection,
                    strikes: q.strikes,
                },
            );
            self.send(now, Packet::Publish(wire));
        }
        self.maybe_finish_disconnect(now);
    }

    /// The highest QoS the server takes: its Maximum QoS [MQTT-3.2.2-11], or 1 once it showed
    /// that it does not support QoS 2.
    fn maximum_qos(&self) -> QoS {
        if self.qos2_unsupported {
            self.server.maximum_qos.min(QoS::AtLeastOnce)
        } else {
            self.server.maximum_qos
        }
    }

    /// [MQTT-3.2.2-15] a message larger than the server's Maximum Packet Size is refused here
    /// rather than sent.
    ///
    /// Likewise a QoS above the server's Maximum QoS [MQTT-3.2.2-11] (or QoS 2 once the server
    /// showed it does not support it), or RETAIN when the server said Retain Available 0
    /// [MQTT-3.2.2-14]: refused with the reason code the server would have answered with.
    pub(super) fn check_publish(&self, p: &Publish) -> Result<(), PublishError> {
        if p.qos.qos() > self.maximum_qos() {
            return Err(if self.server.maximum_qos < QoS::ExactlyOnce {
                PublishError::Rejected {
                    reason_code: ReasonCode::QoSNotSupported,
                    reason_string: Some(format!(
                        "[MQTT-3.2.2-11] the server's Maximum QoS is {}",
                        self.server.maximum_qos as u8
                    )),
                }
            } else {
                qos2_unsupported()
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

    /// Ends the handshake of the in-flight message with identifier `id`: frees its slot and its
    /// identifier and reports `result`.
    pub(super) fn complete(
        &mut self,
        now: Instant,
        id: PacketId,
        result: Result<PublishAck, PublishError>,
    ) {
        self.finish(id, result);
        self.pump(now);
    }

    /// [`Engine::complete`] without moving queued work on (for use while closing).
    pub(super) fn finish(&mut self, id: PacketId, result: Result<PublishAck, PublishError>) {
        let Some(seq) = self.by_id.remove(&id) else {
            return;
        };
        self.store.remove_outgoing(seq);
        if let Some(m) = self.inflight.remove(&seq) {
            self.report(seq, m.ticket, result);
        }
    }

    pub(super) fn ack_result(a: PubResponse) -> Result<PublishAck, PublishError> {
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
    pub(super) fn on_puback(&mut self, now: Instant, a: PubResponse) {
        let id = a.packet_id;
        let Some(m) = self.inflight_entry(id) else {
            tracing::debug!(packet_id = id.get(), "PUBACK for no message in flight");
            return;
        };
        match m.publish.qos.qos() {
            QoS::AtLeastOnce if self.quota_refused(&a) => self.requeue(now, id),
            QoS::AtLeastOnce => self.complete(now, id, Self::ack_result(a)),
            // RabbitMQ 3.10 answers QoS 2 with PUBACK: it takes QoS 0 and 1 only.
            qos => self.wrong_ack(now, id, qos, PacketType::PubAck),
        }
    }

    pub(super) fn inflight_entry(&mut self, id: PacketId) -> Option<&mut InFlight<T>> {
        let seq = self.by_id.get(&id)?;
        self.inflight.get_mut(seq)
    }

    // The QoS 2 sender [MQTT-4.3.3]:
    //
    //   PUBLISH ──▶ (awaiting PUBREC) ──PUBREC ok──▶ PUBREL ──▶ (awaiting PUBCOMP) ──PUBCOMP──▶ done
    //                      │
    //                      └──PUBREC >= 0x80──▶ done with error (no PUBREL)
    pub(super) fn on_pubrec(&mut self, now: Instant, a: PubResponse) {
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
        let qos = m.publish.qos.qos();
        if qos != QoS::ExactlyOnce {
            self.wrong_ack(now, id, qos, PacketType::PubRec);
            return;
        }
        if a.reason_code.is_error() {
            if self.quota_refused(&a) {
                self.requeue(now, id);
            } else {
                self.complete(now, id, Self::ack_result(a));
            }
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

    pub(super) fn on_pubcomp(&mut self, now: Instant, a: PubResponse) {
        let id = a.packet_id;
        let Some(m) = self.inflight_entry(id) else {
            tracing::debug!(packet_id = id.get(), "PUBCOMP for no message in flight");
            return;
        };
        let (released, qos) = (m.released, m.publish.qos.qos());
        if released {
            self.complete(now, id, Self::ack_result(a));
        } else {
            self.wrong_ack(now, id, qos, PacketType::PubComp);
        }
    }

    /// An acknowledgement of the wrong kind for a message in flight [MQTT-4.3.2] [MQTT-4.3.3]:
    /// a protocol violation. The message fails with it (it is not sent again: the server's
    /// answer shows it will not complete its handshake), which frees its slot, and the
    /// connection is closed (DISCONNECT 0x82 at 5.0). A PUBACK for QoS 2 shows the server does
    /// not support QoS 2: the other QoS 2 messages fail too, and later ones are refused.
    fn wrong_ack(&mut self, now: Instant, id: PacketId, qos: QoS, ack: PacketType) {
        let e = ProtocolError::WrongAcknowledgement {
            packet_id: id.get(),
            qos,
            ack,
        };
        self.finish(id, Err(PublishError::Protocol(e.clone())));
        if qos == QoS::ExactlyOnce && ack == PacketType::PubAck {
            self.give_up_qos2();
        }
        self.protocol_error(now, e);
    }

    /// The server showed that it does not support QoS 2 (it answered one with PUBACK, or
    /// closed the connection on it again and again): from now on QoS 2 is treated as above its
    /// Maximum QoS, and QoS 2 messages not yet past PUBREC fail.
    fn give_up_qos2(&mut self) {
        self.qos2_unsupported = true;
        let ids: Vec<PacketId> = self
            .inflight
            .values()
            .filter(|m| !m.released && m.publish.qos.qos() == QoS::ExactlyOnce)
            .map(|m| m.id)
            .collect();
        for id in ids {
            self.finish(id, Err(qos2_unsupported()));
        }
        let refused = self.queue.take_where(|q| q.message.qos == QoS::ExactlyOnce);
        for q in refused {
            self.store.remove_outgoing(q.seq);
            self.report(q.seq, q.ticket, Err(qos2_unsupported()));
        }
    }

    /// The connection ended because the server closed it: the oldest message it had not
    /// answered is the likely cause. After `max_publish_closures` such closures in a row the
    /// message is given up.
    pub(super) fn strike_oldest_unanswered(&mut self) {
        let max = self.opts.max_publish_closures;
        let connection = self.connection;
        let Some(m) = self
            .inflight
            .values_mut()
            .find(|m| !m.released && m.sent_on == connection)
        else {
            return;
        };
        m.strikes = m.strikes.saturating_add(1);
        if max == 0 || m.strikes < max {
            return;
        }
        let (id, qos, attempts) = (m.id, m.publish.qos.qos(), m.strikes);
        tracing::warn!(
            packet_id = id.get(),
            attempts,
            "the server closes the connection on this message: giving it up"
        );
        self.finish(
            id,
            Err(PublishError::ServerClosesConnection { attempts, qos }),
        );
        if qos == QoS::ExactlyOnce {
            self.give_up_qos2();
        }
    }

    /// A refusal with Quota exceeded (0x97) on a resumed session: the server counts QoS 2
    /// messages this client no longer knows against its Receive Maximum (a broker that restored
    /// an old snapshot, or an earlier process that died between PUBREC and PUBREL). Such a
    /// refusal is counted, and the message kept, when stale-session recovery may still act.
    fn quota_refused(&mut self, a: &PubResponse) -> bool {
        if a.reason_code != ReasonCode::QuotaExceeded
            || !self.level.is_v5()
            || !self.opts.stale_session_recovery
            || !self.session_resumed
        {
            return false;
        }
        self.quota_refusals += 1;
        true
    }

    /// Puts a message the server refused for lack of quota back in the queue, in its place, and
    /// starts a fresh session once the refusals show that the resumed one is stale.
    fn requeue(&mut self, now: Instant, id: PacketId) {
        let Some(seq) = self.by_id.remove(&id) else {
            return;
        };
        let Some(m) = self.inflight.remove(&seq) else {
            return;
        };
        let mut publish = m.publish;
        publish.dup = false;
        self.store.put_outgoing(
            seq,
            &StoredMessage {
                publish: publish.clone(),
                stage: OutgoingStage::Queued,
            },
        );
        self.queue.insert_in_order(Queued {
            seq,
            message: Message::from_publish(publish),
            ticket: m.ticket,
            strikes: m.strikes,
        });
        if self.quota_refusals >= STALE_SESSION_REFUSALS {
            self.start_fresh_session(now);
        } else {
            self.pump(now);
        }
    }
}

/// Quota refusals on a resumed session after which it is taken to be stale.
pub(super) const STALE_SESSION_REFUSALS: u32 = 3;

fn qos2_unsupported() -> PublishError {
    PublishError::Rejected {
        reason_code: ReasonCode::QoSNotSupported,
        reason_string: Some(
            "the server does not support QoS 2: it answered QoS 2 with PUBACK or closed the \
             connection on it"
                .to_owned(),
        ),
    }
}
