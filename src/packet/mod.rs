//! The packet model: one set of types for MQTT 3.1, 3.1.1 and 5.0.
//!
//! Every packet is a single struct that is a superset of what the protocol versions carry: the
//! MQTT 5 parts (properties, reason codes) are simply empty or `Success` when talking 3.1.1. How
//! the versions differ on the wire is the business of [`crate::codec`] alone; nothing here knows
//! about bytes or sockets.

mod auth;
mod connack;
mod connect;
mod disconnect;
mod properties;
mod puback;
mod publish;
mod reason;
mod string;
mod subscribe;

use std::fmt;
use std::num::NonZeroU16;

pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use properties::{Properties, Property, PropertyContext, PropertyId};
pub use puback::{PubAck, PubComp, PubRec, PubRel, PubResponse};
pub use publish::{Publish, QosPid};
pub use reason::ReasonCode;
pub use string::{MqttString, StringError};
pub use subscribe::{
    RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};

/// The protocol level spoken on a connection.
///
/// ```
/// use pigeon_mqtt::packet::ProtocolLevel;
/// assert_eq!(ProtocolLevel::V5.level_byte(), 5);
/// assert!(ProtocolLevel::V5.is_v5());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum ProtocolLevel {
    /// MQTT 3.1 (protocol name `MQIsdp`, level 3), for old brokers.
    V3_1,
    /// MQTT 3.1.1 (protocol name `MQTT`, level 4).
    V3_1_1,
    /// MQTT 5.0 (protocol name `MQTT`, level 5).
    #[default]
    V5,
}

impl ProtocolLevel {
    /// The protocol level byte sent in CONNECT.
    pub fn level_byte(self) -> u8 {
        match self {
            ProtocolLevel::V3_1 => 3,
            ProtocolLevel::V3_1_1 => 4,
            ProtocolLevel::V5 => 5,
        }
    }

    /// The protocol name sent in CONNECT (`MQIsdp` for 3.1, `MQTT` otherwise).
    pub fn protocol_name(self) -> &'static str {
        match self {
            ProtocolLevel::V3_1 => "MQIsdp",
            _ => "MQTT",
        }
    }

    /// True for MQTT 5.0.
    pub fn is_v5(self) -> bool {
        self == ProtocolLevel::V5
    }
}

impl fmt::Display for ProtocolLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolLevel::V3_1 => "3.1",
            ProtocolLevel::V3_1_1 => "3.1.1",
            ProtocolLevel::V5 => "5.0",
        })
    }
}

/// Quality of service of a message.
///
/// ```
/// use pigeon_mqtt::packet::QoS;
/// assert_eq!(QoS::try_from(1).unwrap(), QoS::AtLeastOnce);
/// assert!(QoS::try_from(3).is_err());
/// assert!(QoS::AtMostOnce < QoS::ExactlyOnce);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: fire and forget.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: acknowledged with PUBACK, may be duplicated.
    AtLeastOnce = 1,
    /// QoS 2: four-step handshake, delivered exactly once.
    ExactlyOnce = 2,
}

/// A byte that is not a valid QoS (3 or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("[MQTT-3.3.1-4] invalid QoS value {0}")]
pub struct InvalidQoS(pub u8);

impl TryFrom<u8> for QoS {
    type Error = InvalidQoS;
    fn try_from(v: u8) -> Result<Self, InvalidQoS> {
        match v {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            other => Err(InvalidQoS(other)),
        }
    }
}

/// A packet identifier: never zero [MQTT-2.2.1-3].
///
/// ```
/// use pigeon_mqtt::packet::PacketId;
/// assert!(PacketId::new(0).is_none());
/// assert_eq!(PacketId::new(7).unwrap().get(), 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The identifier `1`.
    pub const ONE: PacketId = PacketId(NonZeroU16::MIN);

    /// A packet identifier, or `None` for zero.
    pub fn new(v: u16) -> Option<PacketId> {
        NonZeroU16::new(v).map(PacketId)
    }

    /// The numeric value.
    pub fn get(self) -> u16 {
        self.0.get()
    }

    /// The next identifier, wrapping from 65535 to 1.
    pub fn next(self) -> PacketId {
        PacketId::new(self.get().wrapping_add(1)).unwrap_or(PacketId::ONE)
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The kind of a control packet (the upper four bits of its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketType {
    /// CONNECT (1)
    Connect = 1,
    /// CONNACK (2)
    ConnAck = 2,
    /// PUBLISH (3)
    Publish = 3,
    /// PUBACK (4)
    PubAck = 4,
    /// PUBREC (5)
    PubRec = 5,
    /// PUBREL (6)
    PubRel = 6,
    /// PUBCOMP (7)
    PubComp = 7,
    /// SUBSCRIBE (8)
    Subscribe = 8,
    /// SUBACK (9)
    SubAck = 9,
    /// UNSUBSCRIBE (10)
    Unsubscribe = 10,
    /// UNSUBACK (11)
    UnsubAck = 11,
    /// PINGREQ (12)
    PingReq = 12,
    /// PINGRESP (13)
    PingResp = 13,
    /// DISCONNECT (14)
    Disconnect = 14,
    /// AUTH (15, MQTT 5 only)
    Auth = 15,
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        };
        f.write_str(name)
    }
}

/// An MQTT control packet.
///
/// ```
/// use pigeon_mqtt::packet::{Packet, PacketType};
/// assert_eq!(Packet::PingReq.packet_type(), PacketType::PingReq);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// CONNECT: client to server.
    Connect(Box<Connect>),
    /// CONNACK: server to client.
    ConnAck(ConnAck),
    /// PUBLISH: both directions.
    Publish(Publish),
    /// PUBACK: QoS 1 acknowledgement.
    PubAck(PubAck),
    /// PUBREC: QoS 2, first acknowledgement.
    PubRec(PubRec),
    /// PUBREL: QoS 2, release.
    PubRel(PubRel),
    /// PUBCOMP: QoS 2, completion.
    PubComp(PubComp),
    /// SUBSCRIBE: client to server.
    Subscribe(Subscribe),
    /// SUBACK: server to client.
    SubAck(SubAck),
    /// UNSUBSCRIBE: client to server.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK: server to client.
    UnsubAck(UnsubAck),
    /// PINGREQ: client to server.
    PingReq,
    /// PINGRESP: server to client.
    PingResp,
    /// DISCONNECT: both directions (server to client at 5.0 only).
    Disconnect(Disconnect),
    /// AUTH: MQTT 5 enhanced authentication.
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}
