//! SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK [MQTT-3.8 .. 3.11].

use super::{PacketId, Properties, QoS, ReasonCode};
use crate::topic::TopicFilter;

/// Retain Handling subscription option (5.0) [MQTT-3.8.3.1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send retained messages only if the subscription does not already exist.
    SendIfNew = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

/// Subscription options: maximum QoS and, at 5.0, No Local, Retain As Published and Retain
/// Handling.
///
/// ```
/// use pigeon_mqtt::packet::{QoS, SubscriptionOptions};
/// let o = SubscriptionOptions::new(QoS::AtLeastOnce);
/// assert!(!o.no_local);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the server may deliver with.
    pub qos: QoS,
    /// No Local (5.0): do not receive own publications. Not allowed on shared subscriptions.
    pub no_local: bool,
    /// Retain As Published (5.0): keep the RETAIN flag on forwarded messages.
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with a maximum QoS and the defaults for everything else.
    pub fn new(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        }
    }
}

/// SUBSCRIBE: one or more topic filters with their options.
///
/// ```
/// use pigeon_mqtt::packet::{PacketId, QoS, Subscribe, SubscriptionOptions};
/// use pigeon_mqtt::topic::TopicFilter;
/// let s = Subscribe::new(
///     PacketId::new(1).unwrap(),
///     vec![(TopicFilter::new("a/#").unwrap(), SubscriptionOptions::new(QoS::AtLeastOnce))],
/// );
/// assert_eq!(s.filters.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// SUBSCRIBE properties (5.0): Subscription Identifier, User Properties.
    pub properties: Properties,
    /// The filters; never empty on the wire [MQTT-3.8.3-2].
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
}

impl Subscribe {
    /// A SUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, filters: Vec<(TopicFilter, SubscriptionOptions)>) -> Subscribe {
        Subscribe {
            packet_id,
            properties: Properties::new(),
            filters,
        }
    }
}

/// SUBACK: one reason code per filter of the SUBSCRIBE, in order.
///
/// ```
/// use pigeon_mqtt::packet::{PacketId, ReasonCode, SubAck};
/// let s = SubAck::new(PacketId::new(1).unwrap(), vec![ReasonCode::GrantedQoS1]);
/// assert_eq!(s.reason_codes.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// SUBACK properties (5.0).
    pub properties: Properties,
    /// One per filter; 3.1.1 return codes are mapped (0x80 is `UnspecifiedError`).
    pub reason_codes: Vec<ReasonCode>,
}

impl SubAck {
    /// A SUBACK without properties.
    pub fn new(packet_id: PacketId, reason_codes: Vec<ReasonCode>) -> SubAck {
        SubAck {
            packet_id,
            properties: Properties::new(),
            reason_codes,
        }
    }
}

/// UNSUBSCRIBE: one or more topic filters.
///
/// ```
/// use pigeon_mqtt::packet::{PacketId, Unsubscribe};
/// use pigeon_mqtt::topic::TopicFilter;
/// let u = Unsubscribe::new(PacketId::new(2).unwrap(), vec![TopicFilter::new("a/+").unwrap()]);
/// assert_eq!(u.filters.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// UNSUBSCRIBE properties (5.0).
    pub properties: Properties,
    /// The filters; never empty on the wire [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter>,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, filters: Vec<TopicFilter>) -> Unsubscribe {
        Unsubscribe {
            packet_id,
            properties: Properties::new(),
            filters,
        }
    }
}

/// UNSUBACK. At 3.1.1 it carries no reason codes; at 5.0 one per filter.
///
/// ```
/// use pigeon_mqtt::packet::{PacketId, UnsubAck};
/// let u = UnsubAck::new(PacketId::new(2).unwrap(), vec![]);
/// assert!(u.reason_codes.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// UNSUBACK properties (5.0).
    pub properties: Properties,
    /// One per filter at 5.0; empty at 3.1.1.
    pub reason_codes: Vec<ReasonCode>,
}

impl UnsubAck {
    /// An UNSUBACK without properties.
    pub fn new(packet_id: PacketId, reason_codes: Vec<ReasonCode>) -> UnsubAck {
        UnsubAck {
            packet_id,
            properties: Properties::new(),
            reason_codes,
        }
    }
}
