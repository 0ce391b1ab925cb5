//! SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK [MQTT-3.8 .. 3.11] on the wire.

use bytes::{BufMut, BytesMut};

use super::properties;
use super::wire::{field_len, put_binary, varint_len, Reader};
use super::{packet_id, reason_code, Lens};
use crate::error::{DecodeError, EncodeError};
use crate::packet::{
    PacketType, Properties, PropertyContext, ProtocolLevel, QoS, ReasonCode, RetainHandling,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use crate::topic::TopicFilter;

fn props_or_empty(
    r: &mut Reader,
    level: ProtocolLevel,
    ctx: PropertyContext,
) -> Result<Properties, DecodeError> {
    if level.is_v5() {
        properties::decode(r, ctx)
    } else {
        Ok(Properties::new())
    }
}

/// How many length-prefixed entries, each followed by `extra` bytes, `b` seems to hold: a
/// capacity hint so the filter list is allocated once, capped so that a hostile packet cannot
/// make it allocate more than a few entries ahead of what it validates.
fn capacity_hint(mut b: &[u8], extra: usize) -> usize {
    const CAP: usize = 32;
    let mut n = 0;
    while n < CAP && b.len() >= 2 {
        n += 1;
        let step = 2 + usize::from(u16::from_be_bytes([b[0], b[1]])) + extra;
        match b.get(step..) {
            Some(rest) => b = rest,
            None => break,
        }
    }
    n
}

fn filter(r: &mut Reader) -> Result<TopicFilter, DecodeError> {
    let s = r.string("topic filter")?;
    TopicFilter::from_mqtt_string(s).map_err(|source| DecodeError::InvalidTopic {
        packet: r.packet,
        source,
    })
}

pub(crate) fn decode_subscribe(
    r: &mut Reader,
    level: ProtocolLevel,
) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = props_or_empty(r, level, PropertyContext::Subscribe)?;
    let mut filters = Vec::with_capacity(capacity_hint(&r.buf, 1));
    while r.remaining() > 0 {
        let f = filter(r)?;
        let byte = r.u8("subscription options")?;
        let opts = decode_options(byte, level)?;
        if opts.no_local && f.is_shared() {
            return Err(DecodeError::NoLocalOnSharedSubscription);
        }
        filters.push((f, opts));
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters {
            packet: PacketType::Subscribe,
        });
    }
    Ok(Subscribe {
        packet_id,
        properties,
        filters,
    })
}

fn decode_options(byte: u8, level: ProtocolLevel) -> Result<SubscriptionOptions, DecodeError> {
    let invalid = DecodeError::InvalidSubscriptionOptions(byte);
    // [MQTT-3-8.3-4] (3.1.1): the upper six bits are reserved; [MQTT-3.8.3-5] (5.0): bits 6-7.
    let reserved = if level.is_v5() { 0xC0 } else { 0xFC };
    if byte & reserved != 0 {
        return Err(invalid);
    }
    let qos = QoS::try_from(byte & 0x03).map_err(|_| invalid.clone())?;
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(invalid),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

fn encode_options(o: &SubscriptionOptions, level: ProtocolLevel) -> u8 {
    let mut b = o.qos as u8;
    if level.is_v5() {
        b |= u8::from(o.no_local) << 2
            | u8::from(o.retain_as_published) << 3
            | (o.retain_handling as u8) << 4;
    }
    b
}

/// Property list length on the wire (0 below 5.0) and its contents' length.
fn props_lens(
    props: &Properties,
    level: ProtocolLevel,
    ctx: PropertyContext,
) -> Result<(usize, usize), EncodeError> {
    if !level.is_v5() {
        return Ok((0, 0));
    }
    let body = properties::body_len(props, ctx)?;
    Ok((varint_len(body) + body, body))
}

fn put_props(props: &Properties, level: ProtocolLevel, lens: &Lens, buf: &mut BytesMut) {
    if level.is_v5() {
        properties::encode(props, lens.props, buf);
    }
}

#[inline]
pub(crate) fn subscribe_lens(s: &Subscribe, level: ProtocolLevel) -> Result<Lens, EncodeError> {
    if s.filters.is_empty() {
        return Err(EncodeError::NoTopicFilters {
            packet: PacketType::Subscribe,
        });
    }
    let (wire, props) = props_lens(&s.properties, level, PropertyContext::Subscribe)?;
    let mut n = 2 + wire;
    for (f, o) in &s.filters {
        if level.is_v5() && o.no_local && f.is_shared() {
            return Err(EncodeError::NoLocalOnSharedSubscription);
        }
        n += field_len(f.as_mqtt_string().len(), "topic filter")? + 1;
    }
    Ok(Lens {
        remaining: n,
        props,
        will_props: 0,
    })
}

pub(crate) fn put_subscribe(s: &Subscribe, level: ProtocolLevel, lens: &Lens, buf: &mut BytesMut) {
    buf.put_u16(s.packet_id.get());
    put_props(&s.properties, level, lens, buf);
    for (f, o) in &s.filters {
        put_binary(buf, f.as_mqtt_string().as_bytes());
        buf.put_u8(encode_options(o, level));
    }
}

pub(crate) fn decode_suback(r: &mut Reader, level: ProtocolLevel) -> Result<SubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = props_or_empty(r, level, PropertyContext::SubAck)?;
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while r.remaining() > 0 {
        let rc = if level.is_v5() {
            reason_code(r, "reason code")?
        } else {
            // [MQTT-3.9.3-2] 3.1.1 return codes: 0x00, 0x01, 0x02 and 0x80.
            match r.u8("return code")? {
                0x00 => ReasonCode::Success,
                0x01 => ReasonCode::GrantedQoS1,
                0x02 => ReasonCode::GrantedQoS2,
                0x80 => ReasonCode::UnspecifiedError,
                code => {
                    return Err(DecodeError::InvalidReasonCode {
                        packet: PacketType::SubAck,
                        code,
                    })
                }
            }
        };
        reason_codes.push(rc);
    }
    if reason_codes.is_empty() {
        return Err(DecodeError::NoReasonCodes {
            packet: PacketType::SubAck,
        });
    }
    Ok(SubAck {
        packet_id,
        properties,
        reason_codes,
    })
}

fn v3_suback_code(rc: ReasonCode, level: ProtocolLevel) -> Result<u8, EncodeError> {
    match rc {
        ReasonCode::Success | ReasonCode::GrantedQoS1 | ReasonCode::GrantedQoS2 => Ok(rc as u8),
        rc if rc.is_error() => Ok(0x80),
        rc => Err(EncodeError::ReasonCodeNotAtLevel {
            packet: PacketType::SubAck,
            code: rc as u8,
            level,
        }),
    }
}

#[inline]
pub(crate) fn suback_lens(s: &SubAck, level: ProtocolLevel) -> Result<Lens, EncodeError> {
    if s.reason_codes.is_empty() {
        return Err(EncodeError::NoReasonCodes {
            packet: PacketType::SubAck,
        });
    }
    for rc in &s.reason_codes {
        if level.is_v5() {
            super::check_reason(PacketType::SubAck, *rc, level)?;
        } else {
            v3_suback_code(*rc, level)?;
        }
    }
    let (wire, props) = props_lens(&s.properties, level, PropertyContext::SubAck)?;
    Ok(Lens {
        remaining: 2 + wire + s.reason_codes.len(),
        props,
        will_props: 0,
    })
}

pub(crate) fn put_suback(s: &SubAck, level: ProtocolLevel, lens: &Lens, buf: &mut BytesMut) {
    buf.put_u16(s.packet_id.get());
    put_props(&s.properties, level, lens, buf);
    for rc in &s.reason_codes {
        let b = if level.is_v5() {
            *rc as u8
        } else {
            v3_suback_code(*rc, level).unwrap_or(0x80)
        };
        buf.put_u8(b);
    }
}

pub(crate) fn decode_unsubscribe(
    r: &mut Reader,
    level: ProtocolLevel,
) -> Result<Unsubscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = props_or_empty(r, level, PropertyContext::Unsubscribe)?;
    let mut filters = Vec::with_capacity(capacity_hint(&r.buf, 0));
    while r.remaining() > 0 {
        filters.push(filter(r)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters {
            packet: PacketType::Unsubscribe,
        });
    }
    Ok(Unsubscribe {
        packet_id,
        properties,
        filters,
    })
}

#[inline]
pub(crate) fn unsubscribe_lens(u: &Unsubscribe, level: ProtocolLevel) -> Result<Lens, EncodeError> {
    if u.filters.is_empty() {
        return Err(EncodeError::NoTopicFilters {
            packet: PacketType::Unsubscribe,
        });
    }
    let (wire, props) = props_lens(&u.properties, level, PropertyContext::Unsubscribe)?;
    let mut n = 2 + wire;
    for f in &u.filters {
        n += field_len(f.as_mqtt_string().len(), "topic filter")?;
    }
    Ok(Lens {
        remaining: n,
        props,
        will_props: 0,
    })
}

pub(crate) fn put_unsubscribe(
    u: &Unsubscribe,
    level: ProtocolLevel,
    lens: &Lens,
    buf: &mut BytesMut,
) {
    buf.put_u16(u.packet_id.get());
    put_props(&u.properties, level, lens, buf);
    for f in &u.filters {
        put_binary(buf, f.as_mqtt_string().as_bytes());
    }
}

pub(crate) fn decode_unsuback(
    r: &mut Reader,
    level: ProtocolLevel,
) -> Result<UnsubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    if !level.is_v5() {
        // 3.1.1 UNSUBACK has no payload [MQTT-3.11.3].
        return Ok(UnsubAck::new(packet_id, Vec::new()));
    }
    let properties = properties::decode(r, PropertyContext::UnsubAck)?;
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while r.remaining() > 0 {
        reason_codes.push(reason_code(r, "reason code")?);
    }
    if reason_codes.is_empty() {
        // [MQTT-3.11.3-1] one reason code per topic filter.
        return Err(DecodeError::NoReasonCodes {
            packet: PacketType::UnsubAck,
        });
    }
    Ok(UnsubAck {
        packet_id,
        properties,
        reason_codes,
    })
}

#[inline]
pub(crate) fn unsuback_lens(u: &UnsubAck, level: ProtocolLevel) -> Result<Lens, EncodeError> {
    if !level.is_v5() {
        return Ok(Lens {
            remaining: 2,
            ..Lens::default()
        });
    }
    if u.reason_codes.is_empty() {
        return Err(EncodeError::NoReasonCodes {
            packet: PacketType::UnsubAck,
        });
    }
    for rc in &u.reason_codes {
        super::check_reason(PacketType::UnsubAck, *rc, level)?;
    }
    let (wire, props) = props_lens(&u.properties, level, PropertyContext::UnsubAck)?;
    Ok(Lens {
        remaining: 2 + wire + u.reason_codes.len(),
        props,
        will_props: 0,
    })
}

pub(crate) fn put_unsuback(u: &UnsubAck, level: ProtocolLevel, lens: &Lens, buf: &mut BytesMut) {
    buf.put_u16(u.packet_id.get());
    if level.is_v5() {
        properties::encode(&u.properties, lens.props, buf);
        for rc in &u.reason_codes {
            buf.put_u8(*rc as u8);
        }
    }
}
