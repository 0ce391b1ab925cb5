//! Errors, one enum per layer: [`DecodeError`] and [`EncodeError`] for the codec.

use crate::packet::{PacketType, PropertyContext, PropertyId, ProtocolLevel, StringError};
use crate::topic::TopicError;

pub use crate::transport::ProxyError;

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

impl DecodeError {
    /// The reason code a 5.0 receiver closes the connection with for this error (DISCONNECT,
    /// [MQTT-4.13.1-1]): 0x95 Packet too large [MQTT-3.1.2-25], 0x82 Protocol Error for what the
    /// specification calls a protocol error (a property repeated or with a forbidden value,
    /// Topic Alias 0, an empty topic without alias), 0x81 Malformed Packet otherwise.
    ///
    /// ```
    /// use pigeon_mqtt::codec::DecodeError;
    /// use pigeon_mqtt::packet::ReasonCode;
    /// let e = DecodeError::PacketTooLarge { size: 2_000_000, max: 1_048_576 };
    /// assert_eq!(e.reason_code(), ReasonCode::PacketTooLarge);
    /// assert_eq!(DecodeError::VarIntTooLong.reason_code(), ReasonCode::MalformedPacket);
    /// ```
    pub fn reason_code(&self) -> crate::packet::ReasonCode {
        use crate::packet::ReasonCode;
        match self {
            DecodeError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            DecodeError::DuplicateProperty { .. }
            | DecodeError::InvalidPropertyValue { .. }
            | DecodeError::ZeroTopicAlias
            | DecodeError::EmptyTopic => ReasonCode::ProtocolError,
            _ => ReasonCode::MalformedPacket,
        }
    }
}

/// Why a packet cannot be encoded. Nothing is written to the buffer when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet is larger than the peer's Maximum Packet Size.
    #[error("[MQTT-3.2.2-15] packet of {size} bytes exceeds the peer's maximum packet size of {max} bytes")]
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
    #[error(
        "[MQTT-2.4] reason code 0x{code:02X} cannot be sent in {packet} at protocol level {level}"
    )]
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

/// The broker broke the protocol. The engine answers with DISCONNECT (reason code at 5.0) and
/// closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A packet the client must never receive, or one out of place (e.g. a second CONNACK).
    #[error("[MQTT-4.8.0-1] unexpected {0} from the server")]
    UnexpectedPacket(crate::packet::PacketType),
    /// A PUBLISH with a Topic Alias that was never set on this connection.
    #[error("[MQTT-3.3.2.3.4] unknown Topic Alias {0}: it was never set on this connection")]
    UnknownTopicAlias(u16),
    /// A Topic Alias above our Topic Alias Maximum.
    #[error("[MQTT-3.3.2-11] Topic Alias {alias} exceeds our Topic Alias Maximum {max}")]
    TopicAliasTooLarge {
        /// The alias received.
        alias: u16,
        /// Our maximum.
        max: u16,
    },
    /// More unacknowledged incoming QoS 1/2 messages than our Receive Maximum.
    #[error("[MQTT-3.3.4-9] the server exceeded our Receive Maximum of {0}")]
    ReceiveMaximumExceeded(u16),
    /// The server sent a QoS above the Maximum QoS we subscribed with is allowed; this one is
    /// a QoS 1/2 message with a packet identifier still in use by another message.
    #[error("[MQTT-2.2.1-3] packet identifier {0} reused by the server while still in use")]
    PacketIdInUse(u16),
    /// An AUTH packet whose Authentication Method differs from the one in CONNECT.
    #[error("[MQTT-4.12.0-5] AUTH with an Authentication Method other than the one in CONNECT")]
    AuthMethodMismatch,
    /// An acknowledgement of the wrong kind for a message in flight: PUBACK for a QoS 2
    /// PUBLISH, PUBREC or PUBCOMP for a QoS 1 PUBLISH, PUBCOMP before PUBREC [MQTT-4.3.2]
    /// [MQTT-4.3.3].
    #[error("{}", wrong_ack(*.qos, *.ack))]
    WrongAcknowledgement {
        /// The packet identifier.
        packet_id: u16,
        /// The QoS the message was published with.
        qos: crate::packet::QoS,
        /// What the server answered with.
        ack: crate::packet::PacketType,
    },
    /// Session Present 1 in a CONNACK that refused the connection.
    #[error("[MQTT-3.2.2-6] CONNACK with a non-zero reason code must have Session Present 0")]
    SessionPresentOnRefusal,
}

/// The underlying error of a [`ConnectionError`], reachable through
/// [`std::error::Error::source`]: shared, so that the error stays `Clone`.
pub type ErrorSource = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a connection attempt failed or an established connection ended.
///
/// The variant follows the cause, whatever the transport: [`Resolve`](Self::Resolve) (the host
/// name), [`Connect`](Self::Connect) (the TCP connection), [`Tls`](Self::Tls) (the TLS
/// handshake), [`WebSocket`](Self::WebSocket) (the upgrade), [`Proxy`](Self::Proxy),
/// [`ClosedBeforeConnAck`](Self::ClosedBeforeConnAck), [`Refused`](Self::Refused) (CONNACK),
/// [`Protocol`](Self::Protocol) and [`Decode`](Self::Decode) (the server broke the protocol),
/// [`KeepAliveTimeout`](Self::KeepAliveTimeout). Each message says what to check; the
/// underlying error, where there is one, is [`source()`](std::error::Error::source).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The broker's host name could not be resolved to an address.
    #[error("cannot resolve the broker's host name {host:?}: {source} (check the name, or use an IP address)")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        source: std::sync::Arc<std::io::Error>,
    },
    /// No connection could be opened to the broker's address (refused, unreachable): nothing
    /// listens there, or something blocks the way.
    #[error("cannot connect to {address}: {source} (is the broker running and listening there?)")]
    Connect {
        /// What was tried: `host:port`, or a Unix socket path.
        address: String,
        /// The socket error.
        source: std::sync::Arc<std::io::Error>,
    },
    /// A socket error on an open connection (reset, broken pipe, ...).
    #[error("I/O error: {message}")]
    Io {
        /// The kind of the I/O error.
        kind: std::io::ErrorKind,
        /// Its text.
        message: String,
        /// The error itself.
        #[source]
        source: Option<std::sync::Arc<std::io::Error>>,
    },
    /// The server closed the connection before answering CONNECT with CONNACK, whatever the
    /// transport (TCP, TLS, WebSocket): the port does not speak MQTT over this transport, or the
    /// server does not take this protocol level or client.
    #[error("the server closed the connection before CONNACK (MQTT {level}): check that this port speaks MQTT over this transport (mqtt://, mqtts://, ws://), and that the server accepts MQTT {level}")]
    ClosedBeforeConnAck {
        /// The protocol level of the CONNECT.
        level: crate::packet::ProtocolLevel,
        /// How the transport reported the close, if it said more than end of file.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The server sent bytes that are not a valid MQTT packet.
    #[error("malformed packet from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server refused the connection in CONNACK.
    #[error("connection refused by the server: {reason_code} ({reason}){}", .reason_string.as_deref().map(|s| format!(": {s}")).unwrap_or_default(), reason = .reason_code.description())]
    Refused {
        /// The CONNACK reason code (3.1.1 return codes mapped).
        reason_code: crate::packet::ReasonCode,
        /// Reason String, if the server gave one.
        reason_string: Option<String>,
    },
    /// No CONNACK (or no TCP connection) within the connect timeout.
    #[error("no CONNACK within the connect timeout (check the address and port, and whether a firewall drops the packets)")]
    ConnectTimeout,
    /// TLS failed: the server certificate was rejected (the message says why: expired, not
    /// valid yet, not valid for the name, unknown issuer), the server refused the handshake
    /// (e.g. it requires a client certificate), the port does not speak TLS, or the TLS settings
    /// cannot be used.
    #[error("TLS error: {message}")]
    Tls {
        /// What went wrong, and what to check.
        message: String,
        /// The server's certificate was rejected: this will not change by retrying.
        certificate_rejected: bool,
        /// The TLS library's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// A certificate or private key could not be loaded: unreadable file or malformed PEM.
    #[error("cannot load {what} from {origin}: {message}")]
    Pem {
        /// What was being loaded (`"CA certificate"`, `"client certificate"`, `"private key"`).
        what: &'static str,
        /// Where from: `file PATH` or `memory`.
        origin: String,
        /// Why it failed.
        message: String,
    },
    /// The WebSocket handshake failed (HTTP error status, no `mqtt` subprotocol, bad header),
    /// or the server broke the WebSocket protocol.
    #[error("WebSocket error: {message}")]
    WebSocket {
        /// What went wrong.
        message: String,
        /// The WebSocket library's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The session store could not commit the session state (disk full, permissions, a damaged
    /// file): the connection is closed without writing what depended on it, and the changes
    /// are committed again on the next turn.
    #[error("the session store failed: {0}")]
    Store(crate::store::StoreError),
    /// A proxy ([`crate::ConnectOptions::proxy`]) could not be used: it names the proxy and
    /// what it answered.
    #[error(transparent)]
    Proxy(#[from] crate::transport::ProxyError),
    /// Enhanced authentication failed on the client side (the authenticator refused the
    /// server's data).
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// The server did not answer PINGREQ in time.
    #[error("keep alive timeout: no PINGRESP from the server (MQTT 5.0 section 3.1.2.10)")]
    KeepAliveTimeout,
    /// The server closed the connection with DISCONNECT (5.0).
    #[error("the server sent DISCONNECT: {}{}", .0.reason_code, reason_string(.0))]
    ServerDisconnect(crate::packet::Disconnect),
    /// The server closed the connection (after CONNACK).
    #[error("the server closed the connection")]
    ConnectionClosed,
    /// The server sent a packet larger than the client's Maximum Packet Size. It is refused
    /// from its fixed header, before its body is read.
    #[error("the server sent a packet of {size} bytes, more than the maximum packet size of {max} bytes [MQTT-3.1.2-24] (raise it with ConnectOptions::maximum_packet_size)")]
    PacketTooLarge {
        /// Size the fixed header announced, fixed header included.
        size: usize,
        /// The client's maximum.
        max: u32,
    },
    /// The server's session state holds QoS 2 packet identifiers this client no longer knows
    /// (a broker that restored an old snapshot, or an earlier process that died between PUBREC
    /// and PUBREL), so it keeps refusing new messages with Quota exceeded. The client ends the
    /// connection and starts a fresh session ([`crate::ConnectOptions::stale_session_recovery`]).
    #[error("the server refused {refusals} messages with Quota exceeded on a resumed session: its session holds QoS 2 messages this client no longer knows; starting a fresh session")]
    StaleSession {
        /// How many refusals were seen.
        refusals: u32,
    },
    /// A packet could not be encoded (e.g. CONNECT larger than allowed).
    #[error("cannot encode packet: {0}")]
    Encode(#[from] EncodeError),
    /// The client was closed with `disconnect` or all handles were dropped.
    #[error("the client was closed")]
    Closed,
}

impl ConnectionError {
    /// A TLS error that is not about the server's certificate (settings, provider, name).
    pub(crate) fn tls(message: String) -> ConnectionError {
        ConnectionError::Tls {
            message,
            certificate_rejected: false,
            source: None,
        }
    }

    /// True for a failure that retrying will not mend without a change on one side: CONNACK
    /// refusals for bad credentials, authorization, a ban, an unsupported protocol version, an
    /// invalid client identifier or authentication method; a rejected server certificate; an
    /// unreadable certificate or key. [`crate::ReconnectOptions::stop_on_permanent_error`] ends
    /// the event loop on these.
    ///
    /// ```
    /// use pigeon_mqtt::packet::ReasonCode;
    /// use pigeon_mqtt::ConnectionError;
    /// let e = ConnectionError::Refused { reason_code: ReasonCode::NotAuthorized, reason_string: None };
    /// assert!(e.is_permanent());
    /// assert!(!ConnectionError::KeepAliveTimeout.is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        use crate::packet::ReasonCode;
        match self {
            ConnectionError::Refused { reason_code, .. } => matches!(
                reason_code,
                ReasonCode::BadUserNameOrPassword
                    | ReasonCode::NotAuthorized
                    | ReasonCode::Banned
                    | ReasonCode::UnsupportedProtocolVersion
                    | ReasonCode::ClientIdentifierNotValid
                    | ReasonCode::BadAuthenticationMethod
            ),
            ConnectionError::Tls {
                certificate_rejected,
                ..
            } => *certificate_rejected,
            ConnectionError::Pem { .. } => true,
            _ => false,
        }
    }
}

/// Two errors are equal when they are the same variant with the same message (the underlying
/// errors of some variants cannot be compared).
impl PartialEq for ConnectionError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for ConnectionError {}

fn wrong_ack(qos: crate::packet::QoS, ack: PacketType) -> String {
    use crate::packet::QoS;
    match (qos, ack) {
        (QoS::ExactlyOnce, PacketType::PubAck) => {
            "[MQTT-4.3.3] the server acknowledged a QoS 2 PUBLISH with PUBACK: it does not \
             support QoS 2"
                .to_owned()
        }
        (QoS::ExactlyOnce, _) => {
            format!("[MQTT-4.3.3] the server answered a QoS 2 PUBLISH with {ack} before PUBREC")
        }
        (qos, _) => format!(
            "[MQTT-4.3.2] the server acknowledged a QoS {} PUBLISH with {ack}",
            qos as u8
        ),
    }
}

fn reason_string(d: &crate::packet::Disconnect) -> String {
    d.properties
        .reason_string()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

impl From<std::io::Error> for ConnectionError {
    fn from(e: std::io::Error) -> Self {
        // A TLS alert or WebSocket failure surfaces through the stream as an I/O error.
        if let Some(err) = crate::transport::error_behind_io(&e) {
            return err;
        }
        // The peer closed: a TLS stream without close_notify, a WebSocket reset without its
        // closing handshake. Reported like a TCP end of file.
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return ConnectionError::ConnectionClosed;
        }
        ConnectionError::Io {
            kind: e.kind(),
            message: e.to_string(),
            source: Some(std::sync::Arc::new(e)),
        }
    }
}

/// Why a publish did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The broker answered with a reason code of 0x80 or above, or the client refused the
    /// message on the broker's behalf because CONNACK said it cannot take it
    /// (`QoSNotSupported` above Maximum QoS [MQTT-3.2.2-11], `RetainNotSupported`
    /// [MQTT-3.2.2-14]).
    #[error("the server refused the message: {reason_code}{}", .reason_string.as_deref().map(|s| format!(" ({s})")).unwrap_or_default())]
    Rejected {
        /// The PUBACK/PUBREC reason code.
        reason_code: crate::packet::ReasonCode,
        /// Reason String, if the server gave one.
        reason_string: Option<String>,
    },
    /// Larger than the server's Maximum Packet Size [MQTT-3.1.2-24].
    #[error("[MQTT-3.2.2-15] message of {size} bytes exceeds the server's maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Encoded size.
        size: usize,
        /// Server's maximum.
        max: u32,
    },
    /// The message cannot be encoded (e.g. a property not allowed in PUBLISH).
    #[error("cannot encode the message: {0}")]
    Encode(EncodeError),
    /// The session was lost on reconnect and the policy is to fail in-flight messages.
    #[error("the session was lost before the message was acknowledged")]
    SessionLost,
    /// The server broke the protocol answering this message (for example a PUBACK for a QoS 2
    /// PUBLISH: it does not support QoS 2). The connection was closed; the message is not sent
    /// again.
    #[error("the server broke the protocol: {0}")]
    Protocol(ProtocolError),
    /// The server closed the connection each time this message was sent
    /// ([`crate::ConnectOptions::max_publish_closures`] times in a row), so the client stopped
    /// sending it.
    #[error("{}", closes_connection(*.attempts, *.qos))]
    ServerClosesConnection {
        /// How many times in a row.
        attempts: u8,
        /// The message's QoS.
        qos: crate::packet::QoS,
    },
    /// A QoS 0 message could not be written because the connection was lost.
    #[error("the connection was lost before the message was written")]
    ConnectionLost,
    /// The client was closed before the message completed.
    #[error("the client was closed before the message completed")]
    Closed,
    /// The session store could not take the message (see [`crate::store::StoreError`]), for
    /// example because the disk is full: it is not sent, ever, so it can be handed over again
    /// once the store works.
    #[error("the session store failed: {0}")]
    Store(crate::store::StoreError),
    /// The message was dropped from a full queue
    /// ([`crate::ConnectOptions::queue_full_policy`]): drop-oldest dropped it for a newer one,
    /// drop-newest dropped it on arrival.
    #[error("the message was dropped: the queue of messages waiting to be sent is full ({queued} messages, {bytes} bytes)")]
    Dropped {
        /// Messages queued when it was dropped.
        queued: usize,
        /// Their bytes (topic and payload).
        bytes: usize,
    },
    /// The client stopped for good before the message completed, because of this connection
    /// error: the first connection failed (and retrying it is off), or the connection was lost
    /// with reconnection off.
    #[error("the message was not delivered: {0}")]
    Connection(ConnectionError),
}

fn closes_connection(attempts: u8, qos: crate::packet::QoS) -> String {
    if qos == crate::packet::QoS::ExactlyOnce {
        format!(
            "the server closed the connection each of the {attempts} times this QoS 2 message \
             was sent: it probably does not support QoS 2 (NATS 2.9 closes the connection on a \
             QoS 2 PUBLISH); publish at QoS 1"
        )
    } else {
        format!(
            "the server closed the connection each of the {attempts} times this message was \
             sent: it probably refuses it (not authorized for this topic, too large, or \
             malformed in its eyes)"
        )
    }
}

/// Why a client handle could not hand a request to the event loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The event loop is gone (closed, or dropped).
    #[error("the client is closed")]
    Closed,
    /// `try_*` found the request queue full.
    #[error("the request queue is full")]
    QueueFull,
    /// An invalid topic name or filter.
    #[error("invalid topic: {0}")]
    Topic(#[from] TopicError),
    /// A subscribe or unsubscribe without filters.
    #[error("[MQTT-3.8.3-2] at least one topic filter is needed")]
    NoTopicFilters,
    /// A blocking method was called from inside an async runtime, where it would block the
    /// runtime's thread.
    #[error("blocking client methods cannot be called from inside an async runtime")]
    InAsyncContext,
}

/// Why a subscribe or unsubscribe did not complete (per-filter refusals are in the SUBACK).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The request could not be handed to the event loop.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The packet cannot be encoded (e.g. larger than the server's maximum packet size).
    #[error("cannot encode the request: {0}")]
    Encode(EncodeError),
    /// The client was closed before the acknowledgement arrived.
    #[error("the client was closed before the acknowledgement arrived")]
    Closed,
    /// The client stopped for good before the acknowledgement arrived, because of this
    /// connection error (see [`PublishError::Connection`]).
    #[error("no acknowledgement: {0}")]
    Connection(ConnectionError),
}
