//! The QoS 1 and QoS 2 receiver: incoming PUBLISH packets, their acknowledgements, and the
//! identifiers of QoS 2 messages awaiting PUBREL, which make delivery exactly once
//! [MQTT-4.3.3-10].
//!
//! ```text
//!   QoS 1:  PUBLISH(id) ──▶ deliver ──(acknowledged by the application)──▶ PUBACK
//!
//!   QoS 2:  PUBLISH(id) ──new id──▶ deliver ──(acknowledged)──▶ store id, PUBREC
//!                │                                   ──PUBREL(id)──▶ forget id, PUBCOMP
//!                └──id stored, or awaiting the application──▶ not delivered again
//!                                                              [MQTT-4.3.3-10]
//! ```
//!
//! Without manual acknowledgements a message counts as acknowledged when it is delivered.
//! With them ([`crate::ConnectOptions::manual_acks`]) PUBACK / PUBREC wait for
//! [`crate::Client::ack`]; the application may acknowledge in any order, and the acknowledgements
//! still go out in the order the messages were received [MQTT-4.6.0-2] [MQTT-4.6.0-3]. Until
//! then a QoS 2 identifier is not stored, so a process that dies before acknowledging gets the
//! message again from the broker.

use std::time::Instant;

use super::{Engine, Output};
use crate::error::ProtocolError;
use crate::message::{AckTag, Message};
use crate::packet::{Packet, PacketId, PubResponse, Publish, QoS, QosPid, ReasonCode};

/// An incoming QoS 1/2 message delivered under manual acknowledgements and not yet answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unacked {
    id: PacketId,
    qos: QoS,
    acked: bool,
}

impl<T> Engine<T> {
    pub(super) fn on_publish(&mut self, now: Instant, mut p: Publish) -> Result<(), ProtocolError> {
        self.aliases
            .resolve_incoming(&mut p, self.opts.topic_alias_maximum)?;
        let (id, qos) = match p.qos {
            QosPid::AtMostOnce => {
                self.output
                    .push_back(Output::Message(Message::from_publish(p)));
                return Ok(());
            }
            QosPid::AtLeastOnce(id) => (id, QoS::AtLeastOnce),
            QosPid::ExactlyOnce(id) => (id, QoS::ExactlyOnce),
        };
        let waiting = self.unacked.iter().any(|u| u.id == id && u.qos == qos);
        if qos == QoS::ExactlyOnce && (self.incoming_qos2.contains(&id) || waiting) {
            // A duplicate: never delivered twice. PUBREC again, unless the application has not
            // acknowledged the first copy yet (its PUBREC follows that acknowledgement).
            if !waiting {
                self.send(now, Packet::PubRec(PubResponse::new(id)));
            }
            return Ok(());
        }
        // [MQTT-3.3.4-9] the server may not exceed our Receive Maximum. A QoS 1 message answered
        // at once (automatic acknowledgements) is let through.
        let unanswered = self.incoming_qos2.len() + self.unacked.len();
        let counts = qos == QoS::ExactlyOnce || self.opts.manual_acks;
        if self.level.is_v5()
            && counts
            && !waiting
            && unanswered >= usize::from(self.opts.receive_maximum)
        {
            return Err(ProtocolError::ReceiveMaximumExceeded(
                self.opts.receive_maximum,
            ));
        }
        let mut message = Message::from_publish(p);
        if self.opts.manual_acks {
            message.ack = Some(AckTag {
                packet_id: id,
                qos,
                connection: self.connection,
            });
            if !waiting {
                self.unacked.push_back(Unacked {
                    id,
                    qos,
                    acked: false,
                });
            }
            self.output.push_back(Output::Message(message));
        } else {
            self.output.push_back(Output::Message(message));
            self.answer(now, id, qos);
        }
        Ok(())
    }

    /// PUBACK for QoS 1; for QoS 2 the identifier is stored (the message is not delivered
    /// again, even after a restart with a persistent store) and PUBREC sent.
    fn answer(&mut self, now: Instant, id: PacketId, qos: QoS) {
        if qos == QoS::AtLeastOnce {
            self.send(now, Packet::PubAck(PubResponse::new(id)));
        } else {
            self.incoming_qos2.insert(id);
            self.store.put_incoming_qos2(id);
            self.send(now, Packet::PubRec(PubResponse::new(id)));
        }
    }

    /// The application acknowledged a message delivered under manual acknowledgements. An
    /// acknowledgement for a connection that has ended is dropped: the broker sends the
    /// message again on the next one.
    pub(super) fn on_app_ack(&mut self, now: Instant, tag: AckTag) {
        if tag.connection != self.connection {
            tracing::debug!(
                packet_id = tag.packet_id.get(),
                "acknowledgement for an earlier connection dropped; the broker sends it again"
            );
            return;
        }
        if let Some(u) = self
            .unacked
            .iter_mut()
            .find(|u| u.id == tag.packet_id && u.qos == tag.qos && !u.acked)
        {
            u.acked = true;
        }
        // In the order received [MQTT-4.6.0-2] [MQTT-4.6.0-3].
        while self.unacked.front().is_some_and(|u| u.acked) {
            if let Some(u) = self.unacked.pop_front() {
                self.answer(now, u.id, u.qos);
            }
        }
    }

    pub(super) fn on_pubrel(&mut self, now: Instant, a: PubResponse) {
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
