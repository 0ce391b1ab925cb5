//! CONNECT [MQTT-3.1].

use bytes::Bytes;

use super::{MqttString, Properties, ProtocolLevel, QoS};
use crate::topic::TopicName;

/// CONNECT: the first packet a client sends.
///
/// ```
/// use pigeon_mqtt::packet::{Connect, MqttString, ProtocolLevel};
/// let mut c = Connect::new(ProtocolLevel::V5, MqttString::from_static("client-1"));
/// c.keep_alive = 30;
/// assert!(c.clean_start);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level (and so protocol name) requested.
    pub protocol: ProtocolLevel,
    /// Clean Start (5.0) / Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// Client Identifier; may be empty (the server assigns one).
    pub client_id: MqttString,
    /// Last Will and Testament.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<MqttString>,
    /// Password (binary data).
    pub password: Option<Bytes>,
    /// CONNECT properties (5.0).
    pub properties: Properties,
}

impl Connect {
    /// A CONNECT with clean start, keep alive 60 s and nothing else.
    pub fn new(protocol: ProtocolLevel, client_id: MqttString) -> Connect {
        Connect {
            protocol,
            clean_start: true,
            keep_alive: 60,
            client_id,
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        }
    }
}

/// A Will Message, published by the server when the connection is lost without DISCONNECT.
///
/// ```
/// use pigeon_mqtt::packet::{QoS, Will};
/// use pigeon_mqtt::topic::TopicName;
/// let will = Will::new(TopicName::new("status/dev1").unwrap(), "offline", QoS::AtLeastOnce);
/// assert!(!will.retain);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic the will is published to.
    pub topic: TopicName,
    /// Will payload.
    pub payload: Bytes,
    /// QoS of the will message.
    pub qos: QoS,
    /// Whether the will is retained.
    pub retain: bool,
    /// Will properties (5.0): delay interval, expiry, content type, ...
    pub properties: Properties,
}

impl Will {
    /// A will with no properties, not retained.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>, qos: QoS) -> Will {
        Will {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: Properties::new(),
        }
    }
}
