//! The QoS 1 and QoS 2 receiver: incoming PUBLISH packets, their acknowledgements, and the
//! identifiers of QoS 2 messages awaiting PUBREL, which make delivery exactly once
//! [MQTT-4.3.3-10].

use std::time::Instant;

use super::{Engine, Output};
use crate::error::ProtocolError;
use crate::message::Message;
use crate::packet::{Packet, PubResponse, Publish, QosPid, ReasonCode};

impl<T> Engine<T> {
    // The QoS 2 receiver [MQTT-4.3.3]:
    //
    //   PUBLISH(id) ──new id──▶ deliver, store id, PUBREC ──PUBREL(id)──▶ forget id, PUBCOMP
    //        │
    //        └──id already stored──▶ PUBREC only: never delivered twice [MQTT-4.3.3-10]
    pub(super) fn on_publish(&mut self, now: Instant, mut p: Publish) -> Result<(), ProtocolError> {
        self.aliases
            .resolve_incoming(&mut p, self.opts.topic_alias_maximum)?;
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
