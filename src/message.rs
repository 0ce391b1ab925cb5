//! [`Message`]: an application message, outgoing or incoming.

use bytes::Bytes;

use crate::packet::{PacketId, Properties, Property, Publish, QoS, QosPid};
use crate::topic::{TopicError, TopicName};

/// An application message: topic, payload, QoS, retain flag and (5.0) properties.
///
/// The same type is published and received. Building one validates the topic; the payload is
/// anything that converts into [`Bytes`] (`&'static str`, `String`, `Vec<u8>`, `Bytes`).
///
/// ```
/// use pigeon_mqtt::{Message, QoS};
/// let m = Message::new("sensors/kitchen/temp", "21.5")?
///     .qos(QoS::AtLeastOnce)
///     .retain(true);
/// assert_eq!(m.topic(), "sensors/kitchen/temp");
/// assert_eq!(m.payload(), &b"21.5"[..]);
/// # Ok::<(), pigeon_mqtt::topic::TopicError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) topic: TopicName,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) dup: bool,
    pub(crate) properties: Properties,
    /// The packet identifier of a received QoS 1/2 message.
    pub(crate) packet_id: Option<PacketId>,
    /// Set on a received QoS 1/2 message under manual acknowledgements.
    pub(crate) ack: Option<AckTag>,
}

/// What [`crate::Client::ack`] needs to acknowledge a received message under manual
/// acknowledgements: its packet identifier and QoS, and the connection it arrived on. Small and
/// `Copy`, so an application can keep it after dropping the message ([`Message::ack_tag`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckTag {
    pub(crate) packet_id: PacketId,
    pub(crate) qos: QoS,
    pub(crate) connection: u64,
}

impl Message {
    /// A QoS 0, non-retained message. Fails when `topic` is not a valid topic name.
    pub fn new(
        topic: impl IntoTopicName,
        payload: impl Into<Bytes>,
    ) -> Result<Message, TopicError> {
        Ok(Message {
            topic: topic.into_topic_name()?,
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: Properties::new(),
            packet_id: None,
            ack: None,
        })
    }

    /// Sets the QoS.
    pub fn qos(mut self, qos: QoS) -> Message {
        self.qos = qos;
        self
    }

    /// Sets the retain flag.
    pub fn retain(mut self, retain: bool) -> Message {
        self.retain = retain;
        self
    }

    /// Replaces the properties (5.0; ignored at 3.1.1).
    pub fn properties(mut self, properties: Properties) -> Message {
        self.properties = properties;
        self
    }

    /// Adds one property (5.0; ignored at 3.1.1).
    pub fn property(mut self, p: Property) -> Message {
        self.properties.push(p);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.topic.as_str()
    }

    /// The topic as a validated [`TopicName`].
    pub fn topic_name(&self) -> &TopicName {
        &self.topic
    }

    /// The payload (shares the buffer it was received in).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The payload as UTF-8 text, if it is.
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The QoS the message was sent (or received) with.
    pub fn qos_level(&self) -> QoS {
        self.qos
    }

    /// The retain flag.
    pub fn is_retained(&self) -> bool {
        self.retain
    }

    /// For a received QoS 1 or 2 message: the packet identifier of the PUBLISH that carried it
    /// (paho's `msg.mid`); `None` for QoS 0 and for messages built to be sent.
    pub fn packet_id(&self) -> Option<PacketId> {
        self.packet_id
    }

    /// True for a received message that waits for [`crate::Client::ack`] (QoS 1/2 under
    /// [`crate::ConnectOptions::manual_acks`]).
    pub fn needs_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// What acknowledges this message with [`crate::Client::ack_tag`], if it needs one.
    pub fn ack_tag(&self) -> Option<AckTag> {
        self.ack
    }

    /// For a received message: the DUP flag of the PUBLISH that carried it.
    pub fn is_dup(&self) -> bool {
        self.dup
    }

    /// The properties (5.0), in the order received.
    pub fn props(&self) -> &Properties {
        &self.properties
    }

    /// Consumes the message, giving its payload.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    pub(crate) fn into_publish(self, qos: QosPid) -> Publish {
        Publish {
            dup: false,
            qos,
            retain: self.retain,
            topic: self.topic,
            properties: self.properties,
            payload: self.payload,
        }
    }

    pub(crate) fn from_publish(p: Publish) -> Message {
        Message {
            qos: p.qos.qos(),
            topic: p.topic,
            payload: p.payload,
            retain: p.retain,
            dup: p.dup,
            properties: p.properties,
            packet_id: p.qos.packet_id(),
            ack: None,
        }
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("payload_len", &self.payload.len())
            .field("properties", &self.properties)
            .finish()
    }
}

/// Anything that can name a topic: `&str`, `String`, or an already validated [`TopicName`].
pub trait IntoTopicName {
    /// Validates and converts.
    fn into_topic_name(self) -> Result<TopicName, TopicError>;
}

impl IntoTopicName for TopicName {
    fn into_topic_name(self) -> Result<TopicName, TopicError> {
        Ok(self)
    }
}

impl IntoTopicName for &TopicName {
    fn into_topic_name(self) -> Result<TopicName, TopicError> {
        Ok(self.clone())
    }
}

impl IntoTopicName for &str {
    fn into_topic_name(self) -> Result<TopicName, TopicError> {
        TopicName::new(self)
    }
}

impl IntoTopicName for String {
    fn into_topic_name(self) -> Result<TopicName, TopicError> {
        TopicName::new(self)
    }
}

impl IntoTopicName for &String {
    fn into_topic_name(self) -> Result<TopicName, TopicError> {
        TopicName::new(self.as_str())
    }
}
