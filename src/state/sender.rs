//! The QoS 1 and QoS 2 sender: the queue of accepted publishes, the in-flight window, packet
//! identifiers, and the acknowledgements that complete a publish [MQTT-4.3.2] [MQTT-4.3.3].
//!
//! ```text
//!   QoS 1:  queued ──PUBLISH──▶ (awaiting PUBACK) ──PUBACK──▶ done
//!
//!   QoS 2:  queued ──PUBLISH──▶ (awaiting PUBREC) ──PUBREC ok──▶ PUBREL ──▶ (awaiting PUBCOMP)
//!                                      │                                         │
//!                                      └──PUBREC >= 0x80──▶ done with error      └──PUBCOMP──▶ done
//! ```

use std::time::Instant;

use super::{Conn, Engine, Output, PublishAck, Transmit};
use crate::codec;
use crate::error::PublishError;
use crate::message::Message;
use crate::packet::{Packet, PacketId, PubResponse, Publish, QoS, QosPid, ReasonCode};
use crate::store::{OutgoingStage, StoredMessage};

/// An accepted publish waiting for room in the in-flight window.
#[derive(Debug)]
pub(super) struct Queued<T> {
    pub(super) seq: u64,
    pub(super) message: Message,
    pub(super) ticket: Option<T>,
}

/// A QoS 1/2 publish sent and not yet complete.
#[derive(Debug)]
pub(super) struct InFlight<T> {
    pub(super) id: PacketId,
    pub(super) publish: Publish,
    /// QoS 2: PUBREC received and PUBREL sent.
    pub(super) released: bool,
    pub(super) ticket: Option<T>,
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
        self.pump_control(now);
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

    /// [MQTT-3.2.2-15] a message larger than the server's Maximum Packet Size is refused here
    /// rather than sent.
    ///
    /// Likewise a QoS above the server's Maximum QoS [MQTT-3.2.2-11], or RETAIN when the
    /// server said Retain Available 0 [MQTT-3.2.2-14]: refused with the reason code the server
    /// would have answered with.
    pub(super) fn check_publish(&self, p: &Publish) -> Result<(), PublishError> {
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

    pub(super) fn complete(
        &mut self,
        now: Instant,
        id: PacketId,
        result: Result<PublishAck, PublishError>,
    ) {
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

    pub(super) fn on_pubcomp(&mut self, now: Instant, a: PubResponse) {
        let id = a.packet_id;
        match self.inflight_entry(id) {
            Some(m) if m.released => self.complete(now, id, Self::ack_result(a)),
            _ => tracing::debug!(
                packet_id = id.get(),
                "PUBCOMP for no released QoS 2 message"
            ),
        }
    }
}
