//! MQTT 5 properties [MQTT-2.2.2]: all 27 identifiers, typed.

use std::fmt;
use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;

use super::{MqttString, QoS};

/// A property identifier [MQTT-2.2.2.2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum PropertyId {
    /// 0x01 Payload Format Indicator: `true` when the payload is UTF-8 text.
    PayloadFormatIndicator = 0x01,
    /// 0x02 Message Expiry Interval in seconds.
    MessageExpiryInterval = 0x02,
    /// 0x03 Content Type of the payload.
    ContentType = 0x03,
    /// 0x08 Response Topic for request/response.
    ResponseTopic = 0x08,
    /// 0x09 Correlation Data for request/response.
    CorrelationData = 0x09,
    /// 0x0B Subscription Identifier (1..=268,435,455); may repeat in PUBLISH.
    SubscriptionIdentifier = 0x0B,
    /// 0x11 Session Expiry Interval in seconds.
    SessionExpiryInterval = 0x11,
    /// 0x12 Assigned Client Identifier.
    AssignedClientIdentifier = 0x12,
    /// 0x13 Server Keep Alive in seconds.
    ServerKeepAlive = 0x13,
    /// 0x15 Authentication Method.
    AuthenticationMethod = 0x15,
    /// 0x16 Authentication Data.
    AuthenticationData = 0x16,
    /// 0x17 Request Problem Information.
    RequestProblemInformation = 0x17,
    /// 0x18 Will Delay Interval in seconds.
    WillDelayInterval = 0x18,
    /// 0x19 Request Response Information.
    RequestResponseInformation = 0x19,
    /// 0x1A Response Information.
    ResponseInformation = 0x1A,
    /// 0x1C Server Reference (another server to use).
    ServerReference = 0x1C,
    /// 0x1F Reason String, human readable.
    ReasonString = 0x1F,
    /// 0x21 Receive Maximum: QoS 1/2 publishes in flight the sender accepts.
    ReceiveMaximum = 0x21,
    /// 0x22 Topic Alias Maximum.
    TopicAliasMaximum = 0x22,
    /// 0x23 Topic Alias (never 0 [MQTT-3.3.2-8]).
    TopicAlias = 0x23,
    /// 0x24 Maximum QoS the server supports (0 or 1; absent means 2).
    MaximumQoS = 0x24,
    /// 0x25 Retain Available.
    RetainAvailable = 0x25,
    /// 0x26 User Property: a name/value pair; may repeat and keeps its order.
    UserProperty = 0x26,
    /// 0x27 Maximum Packet Size the sender accepts.
    MaximumPacketSize = 0x27,
    /// 0x28 Wildcard Subscription Available.
    WildcardSubscriptionAvailable = 0x28,
    /// 0x29 Subscription Identifiers Available.
    SubscriptionIdentifierAvailable = 0x29,
    /// 0x2A Shared Subscription Available.
    SharedSubscriptionAvailable = 0x2A,
}

impl PropertyId {
    /// The identifier for a byte on the wire, if it is one.
    pub fn from_u8(b: u8) -> Option<PropertyId> {
        Some(match b {
            0x01 => PropertyId::PayloadFormatIndicator,
            0x02 => PropertyId::MessageExpiryInterval,
            0x03 => PropertyId::ContentType,
            0x08 => PropertyId::ResponseTopic,
            0x09 => PropertyId::CorrelationData,
            0x0B => PropertyId::SubscriptionIdentifier,
            0x11 => PropertyId::SessionExpiryInterval,
            0x12 => PropertyId::AssignedClientIdentifier,
            0x13 => PropertyId::ServerKeepAlive,
            0x15 => PropertyId::AuthenticationMethod,
            0x16 => PropertyId::AuthenticationData,
            0x17 => PropertyId::RequestProblemInformation,
            0x18 => PropertyId::WillDelayInterval,
            0x19 => PropertyId::RequestResponseInformation,
            0x1A => PropertyId::ResponseInformation,
            0x1C => PropertyId::ServerReference,
            0x1F => PropertyId::ReasonString,
            0x21 => PropertyId::ReceiveMaximum,
            0x22 => PropertyId::TopicAliasMaximum,
            0x23 => PropertyId::TopicAlias,
            0x24 => PropertyId::MaximumQoS,
            0x25 => PropertyId::RetainAvailable,
            0x26 => PropertyId::UserProperty,
            0x27 => PropertyId::MaximumPacketSize,
            0x28 => PropertyId::WildcardSubscriptionAvailable,
            0x29 => PropertyId::SubscriptionIdentifierAvailable,
            0x2A => PropertyId::SharedSubscriptionAvailable,
            _ => return None,
        })
    }

    /// True when the property may appear more than once in one packet (User Property, and
    /// Subscription Identifier in PUBLISH).
    pub fn may_repeat(self, ctx: PropertyContext) -> bool {
        matches!(self, PropertyId::UserProperty)
            || (self == PropertyId::SubscriptionIdentifier && ctx == PropertyContext::Publish)
    }

    /// True when the property may appear in `ctx` (the "Used in" column of section 2.2.2.2).
    pub fn allowed_in(self, ctx: PropertyContext) -> bool {
        let mask: u16 = match self {
            PropertyId::PayloadFormatIndicator => {
                PropertyContext::Publish.bit() | PropertyContext::Will.bit()
            }
            PropertyId::MessageExpiryInterval => {
                PropertyContext::Publish.bit() | PropertyContext::Will.bit()
            }
            PropertyId::ContentType => PropertyContext::Publish.bit() | PropertyContext::Will.bit(),
            PropertyId::ResponseTopic => {
                PropertyContext::Publish.bit() | PropertyContext::Will.bit()
            }
            PropertyId::CorrelationData => {
                PropertyContext::Publish.bit() | PropertyContext::Will.bit()
            }
            PropertyId::SubscriptionIdentifier => {
                PropertyContext::Publish.bit() | PropertyContext::Subscribe.bit()
            }
            PropertyId::SessionExpiryInterval => {
                PropertyContext::Connect.bit()
                    | PropertyContext::ConnAck.bit()
                    | PropertyContext::Disconnect.bit()
            }
            PropertyId::AssignedClientIdentifier => PropertyContext::ConnAck.bit(),
            PropertyId::ServerKeepAlive => PropertyContext::ConnAck.bit(),
            PropertyId::AuthenticationMethod => {
                PropertyContext::Connect.bit()
                    | PropertyContext::ConnAck.bit()
                    | PropertyContext::Auth.bit()
            }
            PropertyId::AuthenticationData => {
                PropertyContext::Connect.bit()
                    | PropertyContext::ConnAck.bit()
                    | PropertyContext::Auth.bit()
            }
            PropertyId::RequestProblemInformation => PropertyContext::Connect.bit(),
            PropertyId::WillDelayInterval => PropertyContext::Will.bit(),
            PropertyId::RequestResponseInformation => PropertyContext::Connect.bit(),
            PropertyId::ResponseInformation => PropertyContext::ConnAck.bit(),
            PropertyId::ServerReference => {
                PropertyContext::ConnAck.bit() | PropertyContext::Disconnect.bit()
            }
            PropertyId::ReasonString => {
                PropertyContext::ConnAck.bit()
                    | PropertyContext::PubAck.bit()
                    | PropertyContext::PubRec.bit()
                    | PropertyContext::PubRel.bit()
                    | PropertyContext::PubComp.bit()
                    | PropertyContext::SubAck.bit()
                    | PropertyContext::UnsubAck.bit()
                    | PropertyContext::Disconnect.bit()
                    | PropertyContext::Auth.bit()
            }
            PropertyId::ReceiveMaximum => {
                PropertyContext::Connect.bit() | PropertyContext::ConnAck.bit()
            }
            PropertyId::TopicAliasMaximum => {
                PropertyContext::Connect.bit() | PropertyContext::ConnAck.bit()
            }
            PropertyId::TopicAlias => PropertyContext::Publish.bit(),
            PropertyId::MaximumQoS => PropertyContext::ConnAck.bit(),
            PropertyId::RetainAvailable => PropertyContext::ConnAck.bit(),
            PropertyId::UserProperty => {
                PropertyContext::Connect.bit()
                    | PropertyContext::Will.bit()
                    | PropertyContext::ConnAck.bit()
                    | PropertyContext::Publish.bit()
                    | PropertyContext::PubAck.bit()
                    | PropertyContext::PubRec.bit()
                    | PropertyContext::PubRel.bit()
                    | PropertyContext::PubComp.bit()
                    | PropertyContext::Subscribe.bit()
                    | PropertyContext::SubAck.bit()
                    | PropertyContext::Unsubscribe.bit()
                    | PropertyContext::UnsubAck.bit()
                    | PropertyContext::Disconnect.bit()
                    | PropertyContext::Auth.bit()
            }
            PropertyId::MaximumPacketSize => {
                PropertyContext::Connect.bit() | PropertyContext::ConnAck.bit()
            }
            PropertyId::WildcardSubscriptionAvailable => PropertyContext::ConnAck.bit(),
            PropertyId::SubscriptionIdentifierAvailable => PropertyContext::ConnAck.bit(),
            PropertyId::SharedSubscriptionAvailable => PropertyContext::ConnAck.bit(),
        };
        mask & ctx.bit() != 0
    }
}

impl fmt::Display for PropertyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (0x{:02X})", self, *self as u8)
    }
}

/// Where a property list sits: a packet, or the will properties inside CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropertyContext {
    /// CONNECT
    Connect,
    /// the Will Properties of CONNECT
    Will,
    /// CONNACK
    ConnAck,
    /// PUBLISH
    Publish,
    /// PUBACK
    PubAck,
    /// PUBREC
    PubRec,
    /// PUBREL
    PubRel,
    /// PUBCOMP
    PubComp,
    /// SUBSCRIBE
    Subscribe,
    /// SUBACK
    SubAck,
    /// UNSUBSCRIBE
    Unsubscribe,
    /// UNSUBACK
    UnsubAck,
    /// DISCONNECT
    Disconnect,
    /// AUTH
    Auth,
}

impl PropertyContext {
    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for PropertyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PropertyContext::Connect => "CONNECT",
            PropertyContext::Will => "Will Properties",
            PropertyContext::ConnAck => "CONNACK",
            PropertyContext::Publish => "PUBLISH",
            PropertyContext::PubAck => "PUBACK",
            PropertyContext::PubRec => "PUBREC",
            PropertyContext::PubRel => "PUBREL",
            PropertyContext::PubComp => "PUBCOMP",
            PropertyContext::Subscribe => "SUBSCRIBE",
            PropertyContext::SubAck => "SUBACK",
            PropertyContext::Unsubscribe => "UNSUBSCRIBE",
            PropertyContext::UnsubAck => "UNSUBACK",
            PropertyContext::Disconnect => "DISCONNECT",
            PropertyContext::Auth => "AUTH",
        })
    }
}

/// One MQTT 5 property with its value, typed as the specification defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Property {
    /// 0x01 Payload Format Indicator: `true` when the payload is UTF-8 text.
    PayloadFormatIndicator(bool),
    /// 0x02 Message Expiry Interval in seconds.
    MessageExpiryInterval(u32),
    /// 0x03 Content Type of the payload.
    ContentType(MqttString),
    /// 0x08 Response Topic for request/response.
    ResponseTopic(MqttString),
    /// 0x09 Correlation Data for request/response.
    CorrelationData(Bytes),
    /// 0x0B Subscription Identifier (1..=268,435,455); may repeat in PUBLISH.
    SubscriptionIdentifier(NonZeroU32),
    /// 0x11 Session Expiry Interval in seconds.
    SessionExpiryInterval(u32),
    /// 0x12 Assigned Client Identifier.
    AssignedClientIdentifier(MqttString),
    /// 0x13 Server Keep Alive in seconds.
    ServerKeepAlive(u16),
    /// 0x15 Authentication Method.
    AuthenticationMethod(MqttString),
    /// 0x16 Authentication Data.
    AuthenticationData(Bytes),
    /// 0x17 Request Problem Information.
    RequestProblemInformation(bool),
    /// 0x18 Will Delay Interval in seconds.
    WillDelayInterval(u32),
    /// 0x19 Request Response Information.
    RequestResponseInformation(bool),
    /// 0x1A Response Information.
    ResponseInformation(MqttString),
    /// 0x1C Server Reference (another server to use).
    ServerReference(MqttString),
    /// 0x1F Reason String, human readable.
    ReasonString(MqttString),
    /// 0x21 Receive Maximum: QoS 1/2 publishes in flight the sender accepts.
    ReceiveMaximum(NonZeroU16),
    /// 0x22 Topic Alias Maximum.
    TopicAliasMaximum(u16),
    /// 0x23 Topic Alias (never 0 [MQTT-3.3.2-8]).
    TopicAlias(NonZeroU16),
    /// 0x24 Maximum QoS the server supports (0 or 1; absent means 2).
    MaximumQoS(QoS),
    /// 0x25 Retain Available.
    RetainAvailable(bool),
    /// 0x26 User Property: a name/value pair; may repeat and keeps its order.
    UserProperty(MqttString, MqttString),
    /// 0x27 Maximum Packet Size the sender accepts.
    MaximumPacketSize(NonZeroU32),
    /// 0x28 Wildcard Subscription Available.
    WildcardSubscriptionAvailable(bool),
    /// 0x29 Subscription Identifiers Available.
    SubscriptionIdentifierAvailable(bool),
    /// 0x2A Shared Subscription Available.
    SharedSubscriptionAvailable(bool),
}

impl Property {
    /// This property's identifier.
    pub fn id(&self) -> PropertyId {
        match self {
            Property::PayloadFormatIndicator(..) => PropertyId::PayloadFormatIndicator,
            Property::MessageExpiryInterval(..) => PropertyId::MessageExpiryInterval,
            Property::ContentType(..) => PropertyId::ContentType,
            Property::ResponseTopic(..) => PropertyId::ResponseTopic,
            Property::CorrelationData(..) => PropertyId::CorrelationData,
            Property::SubscriptionIdentifier(..) => PropertyId::SubscriptionIdentifier,
            Property::SessionExpiryInterval(..) => PropertyId::SessionExpiryInterval,
            Property::AssignedClientIdentifier(..) => PropertyId::AssignedClientIdentifier,
            Property::ServerKeepAlive(..) => PropertyId::ServerKeepAlive,
            Property::AuthenticationMethod(..) => PropertyId::AuthenticationMethod,
            Property::AuthenticationData(..) => PropertyId::AuthenticationData,
            Property::RequestProblemInformation(..) => PropertyId::RequestProblemInformation,
            Property::WillDelayInterval(..) => PropertyId::WillDelayInterval,
            Property::RequestResponseInformation(..) => PropertyId::RequestResponseInformation,
            Property::ResponseInformation(..) => PropertyId::ResponseInformation,
            Property::ServerReference(..) => PropertyId::ServerReference,
            Property::ReasonString(..) => PropertyId::ReasonString,
            Property::ReceiveMaximum(..) => PropertyId::ReceiveMaximum,
            Property::TopicAliasMaximum(..) => PropertyId::TopicAliasMaximum,
            Property::TopicAlias(..) => PropertyId::TopicAlias,
            Property::MaximumQoS(..) => PropertyId::MaximumQoS,
            Property::RetainAvailable(..) => PropertyId::RetainAvailable,
            Property::UserProperty(..) => PropertyId::UserProperty,
            Property::MaximumPacketSize(..) => PropertyId::MaximumPacketSize,
            Property::WildcardSubscriptionAvailable(..) => {
                PropertyId::WildcardSubscriptionAvailable
            }
            Property::SubscriptionIdentifierAvailable(..) => {
                PropertyId::SubscriptionIdentifierAvailable
            }
            Property::SharedSubscriptionAvailable(..) => PropertyId::SharedSubscriptionAvailable,
        }
    }
}

/// An ordered list of MQTT 5 properties.
///
/// Order is kept, so repeated User Properties reach the application in the order they were sent.
/// An empty list does not allocate, and at 3.1.1 properties are not sent at all.
///
/// ```
/// use pigeon_mqtt::packet::{MqttString, Properties, Property};
/// let mut props = Properties::new();
/// props.push(Property::MessageExpiryInterval(60));
/// props.push_user_property("k", "v1");
/// props.push_user_property("k", "v2");
/// assert_eq!(props.message_expiry_interval(), Some(60));
/// let users: Vec<_> = props.user_properties().map(|(k, v)| (k.as_str(), v.as_str())).collect();
/// assert_eq!(users, [("k", "v1"), ("k", "v2")]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties(Vec<Property>);

impl Properties {
    /// An empty list.
    pub const fn new() -> Properties {
        Properties(Vec::new())
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, Property> {
        self.0.iter()
    }

    /// Appends a property. A single-instance property pushed twice is refused when encoding.
    pub fn push(&mut self, p: Property) {
        self.0.push(p);
    }

    /// Appends a property, builder style.
    pub fn with(mut self, p: Property) -> Properties {
        self.0.push(p);
        self
    }

    /// Replaces every instance of `p`'s identifier with `p`.
    pub fn set(&mut self, p: Property) {
        let id = p.id();
        self.0.retain(|q| q.id() != id);
        self.0.push(p);
    }

    /// Removes every instance of a property.
    pub fn remove(&mut self, id: PropertyId) {
        self.0.retain(|q| q.id() != id);
    }

    /// Appends a User Property.
    ///
    /// # Panics
    ///
    /// When a literal contains U+0000 (see [`MqttString::from_static`]).
    pub fn push_user_property(&mut self, key: &'static str, value: &'static str) {
        self.0.push(Property::UserProperty(
            MqttString::from_static(key),
            MqttString::from_static(value),
        ));
    }

    /// User Properties in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&MqttString, &MqttString)> {
        self.0.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k, v)),
            _ => None,
        })
    }

    /// Subscription Identifiers in order (PUBLISH may carry several).
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = NonZeroU32> + '_ {
        self.0.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
    }

    /// The first PayloadFormatIndicator property, if present.
    pub fn payload_format_indicator(&self) -> Option<bool> {
        self.0.iter().find_map(|p| match p {
            Property::PayloadFormatIndicator(x) => Some(*x),
            _ => None,
        })
    }

    /// The first MessageExpiryInterval property, if present.
    pub fn message_expiry_interval(&self) -> Option<u32> {
        self.0.iter().find_map(|p| match p {
            Property::MessageExpiryInterval(x) => Some(*x),
            _ => None,
        })
    }

    /// The first ContentType property, if present.
    pub fn content_type(&self) -> Option<&MqttString> {
        self.0.iter().find_map(|p| match p {
            Property::ContentType(x) => Some(x),
            _ => None,
        })
    }

    /// The first ResponseTopic property, if present.
    pub fn response_topic(&self) -> Option<&MqttString> {
        self.0.iter().find_map(|p| match p {
            Property::ResponseTopic(x) => Some(x),
            _ => None,
        })
    }

    /// The first CorrelationData property, if present.
    pub fn correlation_data(&self) -> Option<&Bytes> {
        self.0.iter().find_map(|p| match p {
            Property::CorrelationData(x) => Some(x),
            _ => None,
        })
    }

    /// The first SubscriptionIdentifier property, if present.
    pub fn subscription_identifier(&self) -> Option<NonZeroU32> {
        self.0.iter().find_map(|p| match p {
            Property::SubscriptionIdentifier(x) => Some(*x),
            _ => None,
        })
    }

    /// The first SessionExpiryInterval property, if present.
    pub fn session_expiry_interval(&self) -> Option<u32> {
        self.0.iter().find_map(|p| match p {
            Property::SessionExpiryInterval(x) => Some(*x),
            _ => None,
        })
    }

    /// The first AssignedClientIdentifier property, if present.
    pub fn assigned_client_identifier(&self) -> Option<&MqttString> {
        self.0.iter().find_map(|p| match p {
            Property::AssignedClientIdentifier(x) => Some(x),
            _ => None,
        })
    }

    /// The first ServerKeepAlive property, if present.
    pub fn server_keep_alive(&self) -> Option<u16> {
        self.0.iter().find_map(|p| match p {
            Property::ServerKeepAlive(x) => Some(*x),
            _ => None,
        })
    }

    /// The first AuthenticationMethod property, if present.
    pub fn authentication_method(&self) -> Option<&MqttString> {
        self.0.iter().find_map(|p| match p {
            Property::AuthenticationMethod(x) => Some(x),
            _ => None,
        })
    }

    /// The first AuthenticationData property, if present.
    pub fn authentication_data(&self) -> Option<&Bytes> {
        self.0.iter().find_map(|p| match p {
            Property::AuthenticationData(x) => Some(x),
            _ => None,
        })
    }

    /// The first RequestProblemInformation property, if present.
    pub fn request_problem_information(&self) -> Option<bool> {
        self.0.iter().find_map(|p| match p {
            Property::RequestProblemInformation(x) => Some(*x),
            _ => None,
        })
    }

    /// The first WillDelayInterval property, if present.
    pub fn will_delay_interval(&self) -> Option<u32> {
        self.0.iter().find_map(|p| match p {
            Property::WillDelayInterval(x) => Some(*x),
            _ => None,
        })
    }

    /// The first RequestResponseInformation property, if present.
    pub fn request_response_information(&self) -> Option<bool> {
        self.0.iter().find_map(|p| match p {
            Property::RequestResponseInformation(x) => Some(*x),
            _ => None,
        })
    }

    /// The first ResponseInformation property, if present.
    pub fn response_information(&self) -> Option<&MqttString> {
        self.0.iter().find_map(|p| match p {
            Property::ResponseInformation(x) => Some(x),
            _ => None,
        })
    }

    /// The first ServerReference property, if present.
    pub fn server_reference(&self) -> Option<&MqttString> {
        self.0.iter().find_map(|p| match p {
            Property::ServerReference(x) => Some(x),
            _ => None,
        })
    }

    /// The first ReasonString property, if present.
    pub fn reason_string(&self) -> Option<&MqttString> {
        self.0.iter().find_map(|p| match p {
            Property::ReasonString(x) => Some(x),
            _ => None,
        })
    }

    /// The first ReceiveMaximum property, if present.
    pub fn receive_maximum(&self) -> Option<NonZeroU16> {
        self.0.iter().find_map(|p| match p {
            Property::ReceiveMaximum(x) => Some(*x),
            _ => None,
        })
    }

    /// The first TopicAliasMaximum property, if present.
    pub fn topic_alias_maximum(&self) -> Option<u16> {
        self.0.iter().find_map(|p| match p {
            Property::TopicAliasMaximum(x) => Some(*x),
            _ => None,
        })
    }

    /// The first TopicAlias property, if present.
    pub fn topic_alias(&self) -> Option<NonZeroU16> {
        self.0.iter().find_map(|p| match p {
            Property::TopicAlias(x) => Some(*x),
            _ => None,
        })
    }

    /// The first MaximumQoS property, if present.
    pub fn maximum_qos(&self) -> Option<QoS> {
        self.0.iter().find_map(|p| match p {
            Property::MaximumQoS(x) => Some(*x),
            _ => None,
        })
    }

    /// The first RetainAvailable property, if present.
    pub fn retain_available(&self) -> Option<bool> {
        self.0.iter().find_map(|p| match p {
            Property::RetainAvailable(x) => Some(*x),
            _ => None,
        })
    }

    /// The first MaximumPacketSize property, if present.
    pub fn maximum_packet_size(&self) -> Option<NonZeroU32> {
        self.0.iter().find_map(|p| match p {
            Property::MaximumPacketSize(x) => Some(*x),
            _ => None,
        })
    }

    /// The first WildcardSubscriptionAvailable property, if present.
    pub fn wildcard_subscription_available(&self) -> Option<bool> {
        self.0.iter().find_map(|p| match p {
            Property::WildcardSubscriptionAvailable(x) => Some(*x),
            _ => None,
        })
    }

    /// The first SubscriptionIdentifierAvailable property, if present.
    pub fn subscription_identifier_available(&self) -> Option<bool> {
        self.0.iter().find_map(|p| match p {
            Property::SubscriptionIdentifierAvailable(x) => Some(*x),
            _ => None,
        })
    }

    /// The first SharedSubscriptionAvailable property, if present.
    pub fn shared_subscription_available(&self) -> Option<bool> {
        self.0.iter().find_map(|p| match p {
            Property::SharedSubscriptionAvailable(x) => Some(*x),
            _ => None,
        })
    }
}

impl FromIterator<Property> for Properties {
    fn from_iter<I: IntoIterator<Item = Property>>(iter: I) -> Properties {
        Properties(iter.into_iter().collect())
    }
}

impl From<Vec<Property>> for Properties {
    fn from(v: Vec<Property>) -> Properties {
        Properties(v)
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a Property;
    type IntoIter = std::slice::Iter<'a, Property>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
