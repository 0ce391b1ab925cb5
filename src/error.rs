//! Errors, one enum per layer: [`DecodeError`] and [`EncodeError`] for the codec.

use crate::packet::{PacketType, PropertyContext, PropertyId, ProtocolLevel, StringError};
use crate::topic::TopicError;

/// Why bytes received are not a valid MQTT packet. Each message names the rule that broke.
///
/// "Need more bytes" is not an error: see [`crate::codec::Decoded::Incomplete`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A variable byte integer with a fifth byte.
    #[error("[MQTT-1.5.5-1] variable byte integer longer than 4 bytes")]
    VarIntTooLong,
    /// A variable byte integer that is not in its shortest form.
    #[error("[MQTT-1.5.5-1] variable byte integer not encoded in the minimum number of bytes")]
    VarIntNotMinimal,
    /// The fixed header announces a packet larger than the configured maximum.
    #[error(
        "[MQTT-3.1.2-24] packet of {size} bytes exceeds the maximum packet size of {max} bytes"
    )]
    PacketTooLarge {
        /// Size of the whole packet, fixed header included.
        size: usize,
        /// Configured maximum.
        max: u32,
    },
    /// Packet type 0, or 15 below protocol level 5.
    #[error("[MQTT-2.1.2-1] packet type {packet_type} is reserved at protocol level {level}")]
    ReservedPacketType {
        /// The type nibble.
        packet_type: u8,
        /// The level in force.
        level: ProtocolLevel,
    },
    /// Fixed header flags that are reserved for this packet type.
    #[error("[MQTT-2.1.3-1] invalid fixed header flags 0x{flags:X} for {packet}")]
    InvalidFlags {
        /// The packet.
        packet: PacketType,
        /// The flag nibble received.
        flags: u8,
    },
    /// A PUBLISH with both QoS bits set.
    #[error("[MQTT-3.3.1-4] PUBLISH with QoS 3")]
    InvalidQoS,
    /// DUP set on a QoS 0 PUBLISH.
    #[error("[MQTT-3.3.1-2] DUP flag set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    /// A field (or a length prefix) runs past the end of the packet.
    #[error("[MQTT-1.5] {packet}: {field} runs past the end of the packet")]
    Truncated {
        /// The packet.
        packet: PacketType,
        /// The field being read.
        field: &'static str,
    },
    /// Bytes left after the packet's last field.
    #[error("[MQTT-2.1.4] {packet} has {extra} bytes after its last field")]
    TrailingBytes {
        /// The packet.
        packet: PacketType,
        /// How many bytes were left.
        extra: usize,
    },
    /// A string that is not a valid MQTT UTF-8 string.
    #[error("{packet} {field}: {source}")]
    InvalidString {
        /// The packet.
        packet: PacketType,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        source: StringError,
    },
    /// An invalid topic name or topic filter.
    #[error("{packet}: {source}")]
    InvalidTopic {
        /// The packet.
        packet: PacketType,
        /// What is wrong with it.
        source: TopicError,
    },
    /// A property identifier MQTT 5 does not define.
    #[error("[MQTT-2.2.2.2] unknown property identifier 0x{id:02X} in {context}")]
    UnknownProperty {
        /// Where it appeared.
        context: PropertyContext,
        /// The identifier byte.
        id: u8,
    },
    /// A property that may not appear in this packet.
    #[error("[MQTT-2.2.2.2] property {id} is not allowed in {context}")]
    PropertyNotAllowed {
        /// Where it appeared.
        context: PropertyContext,
        /// The property.
        id: PropertyId,
    },
    /// A single-instance property that appears twice.
    #[error("[MQTT-2.2.2.2] property {id} appears more than once in {context}")]
    DuplicateProperty {
        /// Where it appeared.
        context: PropertyContext,
        /// The property.
        id: PropertyId,
    },
    /// A property value outside its allowed range (e.g. Receive Maximum 0).
    #[error("[MQTT-2.2.2.2] property {id} has the invalid value {value}")]
    InvalidPropertyValue {
        /// The property.
        id: PropertyId,
        /// The value received.
        value: u32,
    },
    /// Packet Identifier 0 where one is required.
    #[error("[MQTT-2.2.1-3] {packet} has Packet Identifier 0")]
    ZeroPacketId {
        /// The packet.
        packet: PacketType,
    },
    /// Topic Alias 0.
    #[error("[MQTT-3.3.2-8] Topic Alias 0 is not permitted")]
    ZeroTopicAlias,
    /// A PUBLISH with an empty topic and no Topic Alias.
    #[error("[MQTT-4.7.3-1] PUBLISH has an empty Topic Name and no Topic Alias")]
    EmptyTopic,
    /// SUBACK or UNSUBACK (5.0) without reason codes.
    #[error("[MQTT-3.9.3-1] {packet} has no reason codes")]
    NoReasonCodes {
        /// The packet.
        packet: PacketType,
    },
    /// SUBSCRIBE or UNSUBSCRIBE without topic filters.
    #[error("[MQTT-3.8.3-2] {packet} has no topic filters")]
    NoTopicFilters {
        /// The packet.
        packet: PacketType,
    },
    /// CONNACK acknowledge flags with reserved bits set.
    #[error("[MQTT-3.2.2-1] CONNACK acknowledge flags have reserved bits set (0x{0:02X})")]
    ConnAckReservedFlags(u8),
    /// A reason code that is not valid for this packet (or this protocol level).
    #[error("[MQTT-2.4] reason code 0x{code:02X} is not valid in {packet}")]
    InvalidReasonCode {
        /// The packet.
        packet: PacketType,
        /// The code.
        code: u8,
    },
    /// CONNECT with a protocol name other than `MQTT` / `MQIsdp`.
    #[error("[MQTT-3.1.2-1] CONNECT protocol name is not MQTT or MQIsdp")]
    InvalidProtocolName,
    /// CONNECT with an unsupported protocol level, or a name/level mismatch.
    #[error("[MQTT-3.1.2-2] unsupported protocol level {0}")]
    UnsupportedProtocolLevel(u8),
    /// CONNECT with the reserved flag set.
    #[error("[MQTT-3.1.2-3] CONNECT reserved flag is set")]
    ConnectReservedFlag,
    /// Will QoS / Will Retain without the Will Flag, or Will QoS 3.
    #[error(
        "[MQTT-3.1.2-11] inconsistent Will flags (will QoS/retain without will, or will QoS 3)"
    )]
    InvalidWillFlags,
    /// Password flag without user name flag at 3.1 / 3.1.1.
    #[error("[MQTT-3.1.2-22] password without user name")]
    PasswordWithoutUsername,
    /// Reserved bits of subscription options set, or Retain Handling 3.
    #[error("[MQTT-3.8.3-5] invalid subscription options byte 0x{0:02X}")]
    InvalidSubscriptionOptions(u8),
    /// No Local on a shared subscription.
    #[error("[MQTT-3.8.3-4] No Local set on a shared subscription")]
    NoLocalOnSharedSubscription,
}

/// Why a packet cannot be encoded. Nothing is written to the buffer when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet is larger than the peer's Maximum Packet Size.
    #[error("[MQTT-3.1.2-24] packet of {size} bytes exceeds the peer's maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Size of the whole packet.
        size: usize,
        /// The peer's maximum.
        max: u32,
    },
    /// A string or binary field longer than 65,535 bytes.
    #[error("[MQTT-1.5.4] {field} is {len} bytes long, more than 65535")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A packet that does not exist at this protocol level (AUTH below 5.0).
    #[error("[MQTT-2.1.2-1] {packet} does not exist at protocol level {level}")]
    NotAtLevel {
        /// The packet.
        packet: PacketType,
        /// The level.
        level: ProtocolLevel,
    },
    /// A reason code with no equivalent at this protocol level.
    #[error("reason code 0x{code:02X} cannot be sent in {packet} at protocol level {level}")]
    ReasonCodeNotAtLevel {
        /// The packet.
        packet: PacketType,
        /// The code.
        code: u8,
        /// The level.
        level: ProtocolLevel,
    },
    /// A property not allowed in this packet.
    #[error("[MQTT-2.2.2.2] property {id} is not allowed in {context}")]
    PropertyNotAllowed {
        /// Where.
        context: PropertyContext,
        /// Which.
        id: PropertyId,
    },
    /// A single-instance property given twice.
    #[error("[MQTT-2.2.2.2] property {id} given more than once in {context}")]
    DuplicateProperty {
        /// Where.
        context: PropertyContext,
        /// Which.
        id: PropertyId,
    },
    /// A property value that cannot be encoded (a Subscription Identifier above 268,435,455).
    #[error("[MQTT-3.8.2.1.2] property {id} has the invalid value {value}")]
    InvalidPropertyValue {
        /// Which.
        id: PropertyId,
        /// The value.
        value: u32,
    },
    /// SUBSCRIBE or UNSUBSCRIBE with no topic filters.
    #[error("[MQTT-3.8.3-2] {packet} needs at least one topic filter")]
    NoTopicFilters {
        /// The packet.
        packet: PacketType,
    },
    /// SUBACK or UNSUBACK (5.0) with no reason codes.
    #[error("[MQTT-3.9.3-1] {packet} needs at least one reason code")]
    NoReasonCodes {
        /// The packet.
        packet: PacketType,
    },
    /// A PUBLISH with an empty topic and no Topic Alias (or any empty topic below 5.0).
    #[error("[MQTT-4.7.3-1] PUBLISH needs a topic name (or, at 5.0, a Topic Alias)")]
    EmptyTopic,
    /// A password without a user name below 5.0.
    #[error("[MQTT-3.1.2-22] a password needs a user name at protocol level {0}")]
    PasswordWithoutUsername(ProtocolLevel),
    /// No Local on a shared subscription.
    #[error("[MQTT-3.8.3-4] No Local cannot be set on a shared subscription")]
    NoLocalOnSharedSubscription,
}
