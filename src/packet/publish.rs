//! PUBLISH [MQTT-3.3].

use std::fmt;

use bytes::Bytes;

use super::{PacketId, Properties, QoS};
use crate::topic::TopicName;

/// QoS together with the packet identifier it requires: QoS 0 has none, QoS 1 and 2 always have
/// one [MQTT-2.2.1-2], so a PUBLISH cannot be built with the wrong combination.
///
/// ```
/// use pigeon_mqtt::packet::{PacketId, QoS, QosPid};
/// let q = QosPid::AtLeastOnce(PacketId::new(3).unwrap());
/// assert_eq!(q.qos(), QoS::AtLeastOnce);
/// assert_eq!(q.packet_id().map(|p| p.get()), Some(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QosPid {
    /// QoS 0, no packet identifier.
    #[default]
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(PacketId),
}

impl QosPid {
    /// Pairs a QoS with an identifier (ignored for QoS 0).
    pub fn new(qos: QoS, id: PacketId) -> QosPid {
        match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            QoS::AtLeastOnce => QosPid::AtLeastOnce(id),
            QoS::ExactlyOnce => QosPid::ExactlyOnce(id),
        }
    }

    /// The QoS.
    pub fn qos(self) -> QoS {
        match self {
            QosPid::AtMostOnce => QoS::AtMostOnce,
            QosPid::AtLeastOnce(_) => QoS::AtLeastOnce,
            QosPid::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier, for QoS 1 and 2.
    pub fn packet_id(self) -> Option<PacketId> {
        match self {
            QosPid::AtMostOnce => None,
            QosPid::AtLeastOnce(id) | QosPid::ExactlyOnce(id) => Some(id),
        }
    }
}

/// PUBLISH: an application message.
///
/// The topic and payload are [`Bytes`]: a decoded PUBLISH shares the read buffer, and `Debug`
/// prints the payload's length, not its contents.
///
/// ```
/// use pigeon_mqtt::packet::{Publish, QosPid};
/// use pigeon_mqtt::topic::TopicName;
/// let p = Publish::new(TopicName::new("a/b").unwrap(), "hello");
/// assert_eq!(p.qos, QosPid::AtMostOnce);
/// assert_eq!(&p.payload[..], b"hello");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: set on a re-delivery of a QoS 1/2 PUBLISH [MQTT-3.3.1-1].
    pub dup: bool,
    /// QoS and, for QoS 1/2, the packet identifier.
    pub qos: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name. Empty only at 5.0 when a Topic Alias stands for it.
    pub topic: TopicName,
    /// PUBLISH properties (5.0).
    pub properties: Properties,
    /// The application payload.
    pub payload: Bytes,
}

impl Publish {
    /// A QoS 0 publish, not retained, without properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>) -> Publish {
        Publish {
            dup: false,
            qos: QosPid::AtMostOnce,
            retain: false,
            topic,
            properties: Properties::new(),
            payload: payload.into(),
        }
    }

    /// The packet identifier, for QoS 1 and 2.
    pub fn packet_id(&self) -> Option<PacketId> {
        self.qos.packet_id()
    }
}

impl fmt::Debug for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("dup", &self.dup)
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("topic", &self.topic)
            .field("properties", &self.properties)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}
