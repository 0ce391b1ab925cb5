//! Framing and wire encoding of MQTT packets: the only place where protocol versions differ.
//!
//! [`decode`] reads one packet from the front of a buffer, or says how many more bytes it needs;
//! [`encode`] appends one packet to a buffer, computing the remaining length before it writes
//! the body so that nothing is written twice or into a temporary buffer.
//!
//! ```
//! use bytes::BytesMut;
//! use pigeon_mqtt::codec::{decode, encode, Decoded};
//! use pigeon_mqtt::packet::{Packet, ProtocolLevel, Publish};
//! use pigeon_mqtt::topic::TopicName;
//!
//! let packet = Packet::Publish(Publish::new(TopicName::new("a/b").unwrap(), "hi"));
//! let mut buf = BytesMut::new();
//! encode(&packet, ProtocolLevel::V3_1_1, u32::MAX, &mut buf).unwrap();
//! assert_eq!(&buf[..], b"\x30\x07\x00\x03a/bhi");
//!
//! let mut half = BytesMut::from(&buf[..4]);
//! assert_eq!(decode(&mut half, ProtocolLevel::V3_1_1, u32::MAX).unwrap(), Decoded::Incomplete { needed: 5 });
//! assert_eq!(decode(&mut buf, ProtocolLevel::V3_1_1, u32::MAX).unwrap(), Decoded::Packet(packet));
//! ```

mod connect;
mod properties;
mod publish;
mod subscribe;
mod wire;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub use crate::error::{DecodeError, EncodeError};
use crate::packet::{
    Auth, Disconnect, Packet, PacketType, PropertyContext, ProtocolLevel, ReasonCode,
};
pub use wire::MAX_VARINT;
use wire::{put_varint, read_varint, varint_len, Reader};

/// The largest packet MQTT can express: a 5-byte fixed header and 268,435,455 bytes.
pub const MAX_PACKET_SIZE: u32 = 1 + 4 + MAX_VARINT;

/// What [`decode`] found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole packet, now removed from the buffer.
    Packet(Packet),
    /// Not a whole packet yet: at least `needed` more bytes must arrive. The buffer is untouched.
    Incomplete {
        /// Lower bound on the number of bytes still missing.
        needed: usize,
    },
}

/// Decodes one packet from the front of `buf`.
///
/// `level` is the protocol level of the connection (a CONNECT carries its own and is read at
/// that level). `max_packet_size` is checked against the fixed header before the body is
/// waited for, so an oversized packet is refused without buffering it. On success the packet's
/// bytes are split off `buf`, and the PUBLISH topic and payload share them without copying.
pub fn decode(
    buf: &mut BytesMut,
    level: ProtocolLevel,
    max_packet_size: u32,
) -> Result<Decoded, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(Decoded::Incomplete { needed: 2 });
    };
    let Some((remaining, len_bytes)) = read_varint(&buf[1..])? else {
        return Ok(Decoded::Incomplete { needed: 1 });
    };
    let total = 1 + len_bytes + remaining as usize;
    if total > max_packet_size as usize {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    if buf.len() < total {
        return Ok(Decoded::Incomplete {
            needed: total - buf.len(),
        });
    }
    // Validate the header before consuming anything, so an error leaves the buffer as it was.
    let packet_type = packet_type(first >> 4, level)?;
    let mut body = buf.split_to(total).freeze();
    body.advance(1 + len_bytes);
    if packet_type == PacketType::Publish {
        // The most frequent packet, decoded in place: what `decode_body` does for it (PUBLISH
        // carries flags of its own, so there is no flag check), without moving the packet
        // through the generic match.
        let mut r = Reader::new(body, packet_type);
        let publish = publish::decode(&mut r, first & 0x0F, level)?;
        r.finish()?;
        return Ok(Decoded::Packet(Packet::Publish(publish)));
    }
    decode_body(packet_type, first & 0x0F, body, level).map(Decoded::Packet)
}

/// Decodes a packet whose fixed header has been split off already: `first` is the first byte of
/// the fixed header and `body` exactly the remaining-length bytes that followed it.
pub fn decode_framed(first: u8, body: Bytes, level: ProtocolLevel) -> Result<Packet, DecodeError> {
    let packet_type = packet_type(first >> 4, level)?;
    decode_body(packet_type, first & 0x0F, body, level)
}

#[inline]
fn packet_type(nibble: u8, level: ProtocolLevel) -> Result<PacketType, DecodeError> {
    Ok(match nibble {
        1 => PacketType::Connect,
        2 => PacketType::ConnAck,
        3 => PacketType::Publish,
        4 => PacketType::PubAck,
        5 => PacketType::PubRec,
        6 => PacketType::PubRel,
        7 => PacketType::PubComp,
        8 => PacketType::Subscribe,
        9 => PacketType::SubAck,
        10 => PacketType::Unsubscribe,
        11 => PacketType::UnsubAck,
        12 => PacketType::PingReq,
        13 => PacketType::PingResp,
        14 => PacketType::Disconnect,
        15 if level.is_v5() => PacketType::Auth,
        other => {
            return Err(DecodeError::ReservedPacketType {
                packet_type: other,
                level,
            })
        }
    })
}

/// The fixed header flags every packet type but PUBLISH must carry [MQTT-2.1.3-1].
fn required_flags(t: PacketType) -> u8 {
    match t {
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    }
}

fn decode_body(
    t: PacketType,
    flags: u8,
    body: Bytes,
    level: ProtocolLevel,
) -> Result<Packet, DecodeError> {
    if t != PacketType::Publish && flags != required_flags(t) {
        return Err(DecodeError::InvalidFlags { packet: t, flags });
    }
    let mut r = Reader::new(body, t);
    let packet = match t {
        PacketType::Connect => Packet::Connect(Box::new(connect::decode_connect(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(connect::decode_connack(&mut r, level)?),
        PacketType::Publish => Packet::Publish(publish::decode(&mut r, flags, level)?),
        PacketType::PubAck => Packet::PubAck(publish::decode_response(&mut r, level)?),
        PacketType::PubRec => Packet::PubRec(publish::decode_response(&mut r, level)?),
        PacketType::PubRel => Packet::PubRel(publish::decode_response(&mut r, level)?),
        PacketType::PubComp => Packet::PubComp(publish::decode_response(&mut r, level)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe::decode_subscribe(&mut r, level)?),
        PacketType::SubAck => Packet::SubAck(subscribe::decode_suback(&mut r, level)?),
        PacketType::Unsubscribe => {
            Packet::Unsubscribe(subscribe::decode_unsubscribe(&mut r, level)?)
        }
        PacketType::UnsubAck => Packet::UnsubAck(subscribe::decode_unsuback(&mut r, level)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => {
            let (reason_code, properties) = decode_reason_and_properties(&mut r, level)?;
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        }
        PacketType::Auth => {
            let (reason_code, properties) = decode_reason_and_properties(&mut r, level)?;
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        }
    };
    r.finish()?;
    Ok(packet)
}

/// DISCONNECT and AUTH bodies at 5.0: an optional reason code, then optional properties
/// [MQTT-3.14.2.1], [MQTT-3.15.2.1]. Below 5.0 DISCONNECT has no body.
fn decode_reason_and_properties(
    r: &mut Reader,
    level: ProtocolLevel,
) -> Result<(ReasonCode, crate::packet::Properties), DecodeError> {
    if !level.is_v5() || r.remaining() == 0 {
        return Ok((ReasonCode::Success, Default::default()));
    }
    let reason = reason_code(r, "reason code")?;
    let ctx = context(r.packet);
    let props = if r.remaining() > 0 {
        properties::decode(r, ctx)?
    } else {
        Default::default()
    };
    Ok((reason, props))
}

/// Reads a reason code and checks it is one the packet may carry [MQTT-2.4].
pub(crate) fn reason_code(r: &mut Reader, field: &'static str) -> Result<ReasonCode, DecodeError> {
    let code = r.u8(field)?;
    let packet = r.packet;
    ReasonCode::try_from(code)
        .ok()
        .filter(|rc| allowed_reason(packet, *rc))
        .ok_or(DecodeError::InvalidReasonCode { packet, code })
}

/// Refuses to encode a reason code the packet may not carry at 5.0 ([MQTT-3.2.2-8],
/// [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1], [MQTT-3.9.3-2],
/// [MQTT-3.11.3-2], [MQTT-3.14.2-1], [MQTT-3.15.2-1]): the decoder would reject it.
pub(crate) fn check_reason(
    packet: PacketType,
    rc: ReasonCode,
    level: ProtocolLevel,
) -> Result<(), EncodeError> {
    if allowed_reason(packet, rc) {
        Ok(())
    } else {
        Err(EncodeError::ReasonCodeNotAtLevel {
            packet,
            code: rc as u8,
            level,
        })
    }
}

/// The "Reason Codes" tables of chapter 3 for 5.0.
fn allowed_reason(packet: PacketType, rc: ReasonCode) -> bool {
    use ReasonCode::*;
    match packet {
        PacketType::ConnAck => matches!(
            rc,
            Success
                | UnspecifiedError
                | MalformedPacket
                | ProtocolError
                | ImplementationSpecificError
                | UnsupportedProtocolVersion
                | ClientIdentifierNotValid
                | BadUserNameOrPassword
                | NotAuthorized
                | ServerUnavailable
                | ServerBusy
                | Banned
                | BadAuthenticationMethod
                | TopicNameInvalid
                | PacketTooLarge
                | QuotaExceeded
                | PayloadFormatInvalid
                | RetainNotSupported
                | QoSNotSupported
                | UseAnotherServer
                | ServerMoved
                | ConnectionRateExceeded
        ),
        PacketType::PubAck | PacketType::PubRec => matches!(
            rc,
            Success
                | NoMatchingSubscribers
                | UnspecifiedError
                | ImplementationSpecificError
                | NotAuthorized
                | TopicNameInvalid
                | PacketIdentifierInUse
                | QuotaExceeded
                | PayloadFormatInvalid
        ),
        PacketType::PubRel | PacketType::PubComp => {
            matches!(rc, Success | PacketIdentifierNotFound)
        }
        PacketType::SubAck => matches!(
            rc,
            Success
                | GrantedQoS1
                | GrantedQoS2
                | UnspecifiedError
                | ImplementationSpecificError
                | NotAuthorized
                | TopicFilterInvalid
                | PacketIdentifierInUse
                | QuotaExceeded
                | SharedSubscriptionsNotSupported
                | SubscriptionIdentifiersNotSupported
                | WildcardSubscriptionsNotSupported
        ),
        PacketType::UnsubAck => matches!(
            rc,
            Success
                | NoSubscriptionExisted
                | UnspecifiedError
                | ImplementationSpecificError
                | NotAuthorized
                | TopicFilterInvalid
                | PacketIdentifierInUse
        ),
        PacketType::Disconnect => !matches!(
            rc,
            GrantedQoS1
                | GrantedQoS2
                | NoMatchingSubscribers
                | NoSubscriptionExisted
                | ContinueAuthentication
                | ReAuthenticate
                | UnsupportedProtocolVersion
                | ClientIdentifierNotValid
                | BadUserNameOrPassword
                | ServerUnavailable
                | Banned
                | BadAuthenticationMethod
                | PacketIdentifierInUse
                | PacketIdentifierNotFound
        ),
        PacketType::Auth => matches!(rc, Success | ContinueAuthentication | ReAuthenticate),
        _ => false,
    }
}

/// The property context of a packet type.
pub(crate) fn context(t: PacketType) -> PropertyContext {
    match t {
        PacketType::Connect => PropertyContext::Connect,
        PacketType::ConnAck => PropertyContext::ConnAck,
        PacketType::Publish => PropertyContext::Publish,
        PacketType::PubAck => PropertyContext::PubAck,
        PacketType::PubRec => PropertyContext::PubRec,
        PacketType::PubRel => PropertyContext::PubRel,
        PacketType::PubComp => PropertyContext::PubComp,
        PacketType::Subscribe => PropertyContext::Subscribe,
        PacketType::SubAck => PropertyContext::SubAck,
        PacketType::Unsubscribe => PropertyContext::Unsubscribe,
        PacketType::UnsubAck => PropertyContext::UnsubAck,
        PacketType::Auth => PropertyContext::Auth,
        PacketType::Disconnect | PacketType::PingReq | PacketType::PingResp => {
            PropertyContext::Disconnect
        }
    }
}

/// Reads a non-zero packet identifier [MQTT-2.2.1-3].
pub(crate) fn packet_id(r: &mut Reader) -> Result<crate::packet::PacketId, DecodeError> {
    let v = r.u16("packet identifier")?;
    crate::packet::PacketId::new(v).ok_or(DecodeError::ZeroPacketId { packet: r.packet })
}

/// Sizes computed by the length pass and reused by the write pass.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lens {
    /// The remaining length.
    pub remaining: usize,
    /// Length of the packet's property list contents (5.0).
    pub props: usize,
    /// Length of the will property list contents (CONNECT at 5.0).
    pub will_props: usize,
}

/// Appends `packet` to `buf`, encoded for `level`, and returns the number of bytes written.
///
/// Refuses, without writing anything, a packet larger than `max_packet_size` (the peer's
/// Maximum Packet Size), a string longer than 65,535 bytes, and anything the level cannot
/// express. MQTT 5 properties are not sent below 5.0.
pub fn encode(
    packet: &Packet,
    level: ProtocolLevel,
    max_packet_size: u32,
    buf: &mut BytesMut,
) -> Result<usize, EncodeError> {
    if let Packet::Publish(p) = packet {
        return publish::encode(p, level, max_packet_size, buf, true);
    }
    encode_other(packet, level, max_packet_size, buf)
}

/// [`encode`] for every packet but PUBLISH. Kept out of line: inlined, its register saves and
/// stack frame were paid by every PUBLISH too (about 30 instructions, an eighth of a 64 B
/// PUBLISH encode).
#[inline(never)]
fn encode_other(
    packet: &Packet,
    level: ProtocolLevel,
    max_packet_size: u32,
    buf: &mut BytesMut,
) -> Result<usize, EncodeError> {
    let (first, lens) = header(packet, level)?;
    let total = check_size(lens.remaining, max_packet_size)?;
    buf.reserve(total);
    buf.put_u8(first);
    put_varint(buf, lens.remaining);
    write_body(packet, level, &lens, buf, true);
    Ok(total)
}

/// Like [`encode`], but a PUBLISH payload is not copied: everything before it is appended to
/// `buf` and the payload is returned, to be written after it (vectored write or a chained
/// buffer). For other packets this is `encode` and returns `None`.
pub fn encode_without_payload(
    packet: &Packet,
    level: ProtocolLevel,
    max_packet_size: u32,
    buf: &mut BytesMut,
) -> Result<Option<Bytes>, EncodeError> {
    if let Packet::Publish(p) = packet {
        publish::encode(p, level, max_packet_size, buf, false)?;
        return Ok(Some(p.payload.clone()));
    }
    encode(packet, level, max_packet_size, buf).map(|_| None)
}

/// The size `packet` takes on the wire at `level`, fixed header included.
pub fn encoded_len(packet: &Packet, level: ProtocolLevel) -> Result<usize, EncodeError> {
    let (_, lens) = header(packet, level)?;
    check_size(lens.remaining, MAX_PACKET_SIZE)
}

#[inline]
fn check_size(remaining: usize, max: u32) -> Result<usize, EncodeError> {
    let total = 1 + varint_len(remaining) + remaining;
    if remaining > MAX_VARINT as usize || total > max as usize {
        return Err(EncodeError::PacketTooLarge {
            size: total,
            max: max.min(MAX_PACKET_SIZE),
        });
    }
    Ok(total)
}

/// The first byte of the fixed header and the lengths of the body.
// Inlined so that the lengths reach the write pass in registers, not through a returned struct.
#[inline(always)]
fn header(packet: &Packet, level: ProtocolLevel) -> Result<(u8, Lens), EncodeError> {
    let t = packet.packet_type();
    let mut first = (t as u8) << 4 | required_flags(t);
    let lens = match packet {
        Packet::Connect(c) => connect::connect_lens(c)?,
        Packet::ConnAck(c) => connect::connack_lens(c, level)?,
        Packet::Publish(p) => {
            first |= publish::flags(p);
            publish::lens(p, level)?
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            publish::response_lens(a, t, level)?
        }
        Packet::Subscribe(s) => subscribe::subscribe_lens(s, level)?,
        Packet::SubAck(s) => subscribe::suback_lens(s, level)?,
        Packet::Unsubscribe(u) => subscribe::unsubscribe_lens(u, level)?,
        Packet::UnsubAck(u) => subscribe::unsuback_lens(u, level)?,
        Packet::PingReq | Packet::PingResp => Lens::default(),
        Packet::Disconnect(d) if level.is_v5() => {
            check_reason(t, d.reason_code, level)?;
            reason_and_properties_lens(
                d.reason_code,
                &d.properties,
                PropertyContext::Disconnect,
                level,
            )?
        }
        Packet::Disconnect(d) => reason_and_properties_lens(
            d.reason_code,
            &d.properties,
            PropertyContext::Disconnect,
            level,
        )?,
        Packet::Auth(a) => {
            if !level.is_v5() {
                return Err(EncodeError::NotAtLevel { packet: t, level });
            }
            check_reason(t, a.reason_code, level)?;
            reason_and_properties_lens(a.reason_code, &a.properties, PropertyContext::Auth, level)?
        }
    };
    Ok((first, lens))
}

fn reason_and_properties_lens(
    reason: ReasonCode,
    props: &crate::packet::Properties,
    ctx: PropertyContext,
    level: ProtocolLevel,
) -> Result<Lens, EncodeError> {
    // [MQTT-3.14.2.1] the reason code and properties may be omitted when they are Success and
    // empty; below 5.0 there is no body at all.
    if !level.is_v5() || (reason == ReasonCode::Success && props.is_empty()) {
        return Ok(Lens::default());
    }
    // Without properties the property length is left out too (3.14.2.2.1, 3.15.2.2.1: a
    // Remaining Length below 2 means no properties), as for the acknowledgements.
    if props.is_empty() {
        return Ok(Lens {
            remaining: 1,
            ..Lens::default()
        });
    }
    let body = properties::body_len(props, ctx)?;
    Ok(Lens {
        remaining: 1 + varint_len(body) + body,
        props: body,
        will_props: 0,
    })
}

fn write_body(
    packet: &Packet,
    level: ProtocolLevel,
    lens: &Lens,
    buf: &mut BytesMut,
    payload: bool,
) {
    match packet {
        Packet::Connect(c) => connect::put_connect(c, lens, buf),
        Packet::ConnAck(c) => connect::put_connack(c, level, lens, buf),
        Packet::Publish(p) => publish::put(p, level, lens, buf, payload),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            publish::put_response(a, lens, buf)
        }
        Packet::Subscribe(s) => subscribe::put_subscribe(s, level, lens, buf),
        Packet::SubAck(s) => subscribe::put_suback(s, level, lens, buf),
        Packet::Unsubscribe(u) => subscribe::put_unsubscribe(u, level, lens, buf),
        Packet::UnsubAck(u) => subscribe::put_unsuback(u, level, lens, buf),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(Disconnect {
            reason_code,
            properties,
        })
        | Packet::Auth(Auth {
            reason_code,
            properties,
        }) => {
            if lens.remaining > 0 {
                buf.put_u8(*reason_code as u8);
            }
            if lens.remaining > 1 {
                properties::encode(properties, lens.props, buf);
            }
        }
    }
}

/// The size of a PUBLISH on the wire at `level`, fixed header included.
pub fn publish_len(p: &crate::packet::Publish, level: ProtocolLevel) -> Result<usize, EncodeError> {
    let lens = publish::lens(p, level)?;
    check_size(lens.remaining, MAX_PACKET_SIZE)
}
