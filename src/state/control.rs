//! Subscriptions: SUBSCRIBE and UNSUBSCRIBE requests awaiting their acknowledgements, the
//! record of acknowledged subscriptions, and their restoration when a session is lost.
//!
//! ```text
//!   request ──SUBSCRIBE(id)──▶ (awaiting SUBACK) ──SUBACK(id)──▶ done, filters recorded
//!                                     │
//!                                     └──connection lost──▶ sent again after reconnecting
//! ```

use std::time::Instant;

use super::{Engine, Output};
use crate::codec;
use crate::error::{ProtocolError, SubscribeError};
use crate::packet::{
    Packet, PacketType, Properties, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use crate::topic::TopicFilter;

/// A subscribe or unsubscribe request, queued or awaiting its acknowledgement.
#[derive(Debug)]
pub(super) enum Control<T> {
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

/// An acknowledged subscription, restored when the session is lost.
#[derive(Debug, Clone)]
pub(super) struct SubRecord {
    pub(super) filter: TopicFilter,
    pub(super) options: SubscriptionOptions,
    pub(super) properties: Properties,
}

impl<T> Engine<T> {
    /// Sends queued subscribe and unsubscribe requests as far as packet identifiers allow.
    pub(super) fn pump_control(&mut self, now: Instant) {
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
    }

    pub(super) fn check_size(&self, packet: &Packet) -> Result<(), codec::EncodeError> {
        let size = codec::encoded_len(packet, self.level)?;
        if size > self.server.maximum_packet_size as usize {
            return Err(codec::EncodeError::PacketTooLarge {
                size,
                max: self.server.maximum_packet_size,
            });
        }
        Ok(())
    }

    pub(super) fn fail_control(&mut self, c: Control<T>, e: codec::EncodeError) {
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

    pub(super) fn on_suback(&mut self, now: Instant, a: SubAck) {
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

    pub(super) fn on_unsuback(&mut self, now: Instant, a: UnsubAck) {
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

    /// Queues SUBSCRIBE packets restoring every acknowledged subscription, one per distinct set
    /// of properties (so Subscription Identifiers are kept), ahead of other control requests.
    pub(super) fn resubscribe(&mut self) {
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
}
