//! PUBLISH [MQTT-3.3] and its responses PUBACK, PUBREC, PUBREL, PUBCOMP [MQTT-3.4 .. 3.7].

use bytes::{BufMut, BytesMut};

use super::properties;
use super::wire::{field_len, put_binary, put_varint, varint_len, Reader};
use super::{context, packet_id, reason_code, Lens};
use crate::error::{DecodeError, EncodeError};
use crate::packet::{
    PacketType, Properties, PropertyContext, PropertyId, ProtocolLevel, PubResponse, Publish,
    QosPid, ReasonCode,
};
use crate::topic::TopicName;

#[inline]
pub(crate) fn decode(
    r: &mut Reader,
    flags: u8,
    level: ProtocolLevel,
) -> Result<Publish, DecodeError> {
    let dup = flags & 0b1000 != 0;
    let retain = flags & 0b0001 != 0;
    let qos_bits = (flags >> 1) & 0b11;
    let raw_topic = topic_name(r)?;
    let qos = match qos_bits {
        0 if dup => return Err(DecodeError::DupOnQoS0),
        0 => QosPid::AtMostOnce,
        1 => QosPid::AtLeastOnce(packet_id(r)?),
        2 => QosPid::ExactlyOnce(packet_id(r)?),
        _ => return Err(DecodeError::InvalidQoS),
    };
    let properties = if level.is_v5() {
        properties::decode(r, PropertyContext::Publish)?
    } else {
        Properties::new()
    };
    let topic = if raw_topic.is_empty() {
        // [MQTT-3.3.2-1] / [MQTT-4.7.3-1]: a zero-length topic is allowed only at 5.0, when a
        // Topic Alias stands for it.
        if properties.topic_alias().is_none() {
            return Err(DecodeError::EmptyTopic);
        }
        TopicName::empty_for_alias()
    } else {
        TopicName::from_checked(raw_topic)
    };
    let payload = r.rest();
    Ok(Publish {
        dup,
        qos,
        retain,
        topic,
        properties,
        payload,
    })
}

/// The Topic Name of a PUBLISH, checked in one pass over its bytes for U+0000 [MQTT-1.5.4-2]
/// and wildcards [MQTT-3.3.2-2], then for UTF-8 [MQTT-1.5.4-1]; the errors are those of
/// reading a string, then of checking a topic.
#[inline]
fn topic_name(r: &mut Reader) -> Result<crate::packet::MqttString, DecodeError> {
    const FIELD: &str = "topic name";
    let raw = r.binary(FIELD)?;
    let (mut nul, mut wildcard) = (false, false);
    for &c in raw.iter() {
        nul |= c == 0;
        wildcard |= (c == b'+') | (c == b'#');
    }
    let invalid = |source| DecodeError::InvalidString {
        packet: PacketType::Publish,
        field: FIELD,
        source,
    };
    if nul {
        return Err(invalid(crate::packet::StringError::NullCharacter));
    }
    let s = crate::packet::MqttString::from_utf8_without_nul(raw).map_err(invalid)?;
    if wildcard {
        return Err(DecodeError::InvalidTopic {
            packet: PacketType::Publish,
            source: crate::topic::TopicError::WildcardInName,
        });
    }
    Ok(s)
}

/// The flag nibble of a PUBLISH fixed header.
pub(crate) fn flags(p: &Publish) -> u8 {
    // [MQTT-3.3.1-2] DUP is 0 for every QoS 0 message.
    let dup = p.dup && p.qos != QosPid::AtMostOnce;
    u8::from(dup) << 3 | (p.qos.qos() as u8) << 1 | u8::from(p.retain)
}

#[inline]
pub(crate) fn lens(p: &Publish, level: ProtocolLevel) -> Result<Lens, EncodeError> {
    if p.topic.is_empty()
        && !(level.is_v5()
            && p.properties
                .iter()
                .any(|x| x.id() == PropertyId::TopicAlias))
    {
        return Err(EncodeError::EmptyTopic);
    }
    let mut lens = Lens::default();
    // The byte length of the topic's `Bytes` (not `str::len` through `Deref`, which would run
    // UTF-8 validation again).
    let mut n = field_len(p.topic.as_mqtt_string().len(), "topic name")?;
    if p.qos.packet_id().is_some() {
        n += 2;
    }
    if level.is_v5() {
        // Fast path: no properties is one zero length byte (what `body_len` returns for them).
        if !p.properties.is_empty() {
            lens.props = properties::body_len(&p.properties, PropertyContext::Publish)?;
        }
        n += varint_len(lens.props) + lens.props;
    }
    lens.remaining = n + p.payload.len();
    Ok(lens)
}

/// The whole of `encode` / `encode_without_payload` for a PUBLISH, kept in one function so the
/// lengths stay in registers: the same checks in the same order as the generic path, then one
/// reservation and the writes. Returns the packet's total size.
#[inline]
pub(crate) fn encode(
    p: &Publish,
    level: ProtocolLevel,
    max_packet_size: u32,
    buf: &mut BytesMut,
    payload: bool,
) -> Result<usize, EncodeError> {
    let lens = lens(p, level)?;
    let total = super::check_size(lens.remaining, max_packet_size)?;
    buf.reserve(if payload {
        total
    } else {
        total - p.payload.len()
    });
    buf.put_u8((PacketType::Publish as u8) << 4 | flags(p));
    put_varint(buf, lens.remaining);
    put_binary(buf, p.topic.as_mqtt_string().as_bytes());
    if let Some(id) = p.qos.packet_id() {
        buf.put_u16(id.get());
    }
    if level.is_v5() {
        if p.properties.is_empty() {
            buf.put_u8(0);
        } else {
            properties::encode(&p.properties, lens.props, buf);
        }
    }
    if payload {
        buf.put_slice(&p.payload);
    }
    Ok(total)
}

pub(crate) fn put(
    p: &Publish,
    level: ProtocolLevel,
    lens: &Lens,
    buf: &mut BytesMut,
    payload: bool,
) {
    put_binary(buf, p.topic.as_mqtt_string().as_bytes());
    if let Some(id) = p.qos.packet_id() {
        buf.put_u16(id.get());
    }
    if level.is_v5() {
        properties::encode(&p.properties, lens.props, buf);
    }
    if payload {
        buf.put_slice(&p.payload);
    }
}

/// PUBACK/PUBREC/PUBREL/PUBCOMP: packet identifier, then at 5.0 an optional reason code and
/// optional properties [MQTT-3.4.2-1].
pub(crate) fn decode_response(
    r: &mut Reader,
    level: ProtocolLevel,
) -> Result<PubResponse, DecodeError> {
    let packet_id = packet_id(r)?;
    if !level.is_v5() || r.remaining() == 0 {
        return Ok(PubResponse::new(packet_id));
    }
    let reason_code = reason_code(r, "reason code")?;
    let properties = if r.remaining() > 0 {
        properties::decode(r, context(r.packet))?
    } else {
        Properties::new()
    };
    Ok(PubResponse {
        packet_id,
        reason_code,
        properties,
    })
}

#[inline]
pub(crate) fn response_lens(
    a: &PubResponse,
    t: PacketType,
    level: ProtocolLevel,
) -> Result<Lens, EncodeError> {
    if !level.is_v5() {
        return Ok(Lens {
            remaining: 2,
            ..Lens::default()
        });
    }
    super::check_reason(t, a.reason_code, level)?;
    if a.properties.is_empty() {
        // [MQTT-3.4.2.1] the reason code may be omitted when it is Success and there are no
        // properties.
        let remaining = if a.reason_code == ReasonCode::Success {
            2
        } else {
            3
        };
        return Ok(Lens {
            remaining,
            ..Lens::default()
        });
    }
    let props = properties::body_len(&a.properties, context(t))?;
    Ok(Lens {
        remaining: 3 + varint_len(props) + props,
        props,
        will_props: 0,
    })
}

pub(crate) fn put_response(a: &PubResponse, lens: &Lens, buf: &mut BytesMut) {
    buf.put_u16(a.packet_id.get());
    if lens.remaining > 2 {
        buf.put_u8(a.reason_code as u8);
    }
    if lens.remaining > 3 {
        properties::encode(&a.properties, lens.props, buf);
    }
}
