//! CONNECT [MQTT-3.1] and CONNACK [MQTT-3.2] on the wire.

use bytes::{BufMut, BytesMut};

use super::properties;
use super::wire::{field_len, put_binary, varint_len, Reader};
use super::{reason_code, Lens};
use crate::error::{DecodeError, EncodeError};
use crate::packet::{
    ConnAck, Connect, PacketType, Properties, PropertyContext, ProtocolLevel, QoS, ReasonCode, Will,
};
use crate::topic::TopicName;

const USERNAME: u8 = 0x80;
const PASSWORD: u8 = 0x40;
const WILL_RETAIN: u8 = 0x20;
const WILL_QOS_SHIFT: u8 = 3;
const WILL: u8 = 0x04;
const CLEAN: u8 = 0x02;
const RESERVED: u8 = 0x01;

pub(crate) fn decode_connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let name = r.binary("protocol name")?;
    let level_byte = r.u8("protocol level")?;
    let protocol = match (&name[..], level_byte) {
        (b"MQTT", 4) => ProtocolLevel::V3_1_1,
        (b"MQTT", 5) => ProtocolLevel::V5,
        (b"MQIsdp", 3) => ProtocolLevel::V3_1,
        (b"MQTT", l) | (b"MQIsdp", l) => return Err(DecodeError::UnsupportedProtocolLevel(l)),
        _ => return Err(DecodeError::InvalidProtocolName),
    };
    let flags = r.u8("connect flags")?;
    if flags & RESERVED != 0 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let will_qos = (flags >> WILL_QOS_SHIFT) & 0x03;
    // [MQTT-3.1.2-11] / [MQTT-3.1.2-13] / [MQTT-3.1.2-15]: will QoS and retain only with the
    // will flag; [MQTT-3.1.2-14] will QoS 3 is malformed.
    if (flags & WILL == 0 && (will_qos != 0 || flags & WILL_RETAIN != 0)) || will_qos == 3 {
        return Err(DecodeError::InvalidWillFlags);
    }
    // [MQTT-3.1.2-22] below 5.0 a password requires a user name.
    if !protocol.is_v5() && flags & PASSWORD != 0 && flags & USERNAME == 0 {
        return Err(DecodeError::PasswordWithoutUsername);
    }
    let keep_alive = r.u16("keep alive")?;
    let properties = if protocol.is_v5() {
        properties::decode(r, PropertyContext::Connect)?
    } else {
        Properties::new()
    };
    let client_id = r.string("client identifier")?;
    let will = if flags & WILL != 0 {
        let will_props = if protocol.is_v5() {
            properties::decode(r, PropertyContext::Will)?
        } else {
            Properties::new()
        };
        let topic = r.string("will topic")?;
        let topic =
            TopicName::from_mqtt_string(topic).map_err(|source| DecodeError::InvalidTopic {
                packet: PacketType::Connect,
                source,
            })?;
        let payload = r.binary("will payload")?;
        Some(Will {
            topic,
            payload,
            qos: QoS::try_from(will_qos).map_err(|_| DecodeError::InvalidWillFlags)?,
            retain: flags & WILL_RETAIN != 0,
            properties: will_props,
        })
    } else {
        None
    };
    let username = if flags & USERNAME != 0 {
        Some(r.string("user name")?)
    } else {
        None
    };
    let password = if flags & PASSWORD != 0 {
        Some(r.binary("password")?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start: flags & CLEAN != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

/// CONNECT is encoded at its own `protocol` level, whatever the connection's level.
#[inline]
pub(crate) fn connect_lens(c: &Connect) -> Result<Lens, EncodeError> {
    let v5 = c.protocol.is_v5();
    if !v5 && c.password.is_some() && c.username.is_none() {
        return Err(EncodeError::PasswordWithoutUsername(c.protocol));
    }
    let mut lens = Lens::default();
    // protocol name, level, flags, keep alive
    let mut n = 2 + c.protocol.protocol_name().len() + 1 + 1 + 2;
    if v5 {
        lens.props = properties::body_len(&c.properties, PropertyContext::Connect)?;
        n += varint_len(lens.props) + lens.props;
    }
    n += field_len(c.client_id.len(), "client identifier")?;
    if let Some(w) = &c.will {
        if v5 {
            lens.will_props = properties::body_len(&w.properties, PropertyContext::Will)?;
            n += varint_len(lens.will_props) + lens.will_props;
        }
        n += field_len(w.topic.as_mqtt_string().len(), "will topic")?;
        n += field_len(w.payload.len(), "will payload")?;
    }
    if let Some(u) = &c.username {
        n += field_len(u.len(), "user name")?;
    }
    if let Some(p) = &c.password {
        n += field_len(p.len(), "password")?;
    }
    lens.remaining = n;
    Ok(lens)
}

pub(crate) fn put_connect(c: &Connect, lens: &Lens, buf: &mut BytesMut) {
    let v5 = c.protocol.is_v5();
    put_binary(buf, c.protocol.protocol_name().as_bytes());
    buf.put_u8(c.protocol.level_byte());
    let mut flags = 0;
    if c.clean_start {
        flags |= CLEAN;
    }
    if let Some(w) = &c.will {
        flags |= WILL | (w.qos as u8) << WILL_QOS_SHIFT;
        if w.retain {
            flags |= WILL_RETAIN;
        }
    }
    if c.username.is_some() {
        flags |= USERNAME;
    }
    if c.password.is_some() {
        flags |= PASSWORD;
    }
    buf.put_u8(flags);
    buf.put_u16(c.keep_alive);
    if v5 {
        properties::encode(&c.properties, lens.props, buf);
    }
    put_binary(buf, c.client_id.as_bytes());
    if let Some(w) = &c.will {
        if v5 {
            properties::encode(&w.properties, lens.will_props, buf);
        }
        put_binary(buf, w.topic.as_mqtt_string().as_bytes());
        put_binary(buf, &w.payload);
    }
    if let Some(u) = &c.username {
        put_binary(buf, u.as_bytes());
    }
    if let Some(p) = &c.password {
        put_binary(buf, p);
    }
}

/// 3.1.1 CONNACK return codes [MQTT-3.2.2.3] and the 5.0 reason codes of the same meaning.
const V3_RETURN_CODES: [ReasonCode; 6] = [
    ReasonCode::Success,
    ReasonCode::UnsupportedProtocolVersion,
    ReasonCode::ClientIdentifierNotValid,
    ReasonCode::ServerUnavailable,
    ReasonCode::BadUserNameOrPassword,
    ReasonCode::NotAuthorized,
];

pub(crate) fn decode_connack(r: &mut Reader, level: ProtocolLevel) -> Result<ConnAck, DecodeError> {
    let flags = r.u8("acknowledge flags")?;
    // [MQTT-3.2.2-1] bits 7-1 are reserved and must be 0.
    if flags & 0xFE != 0 {
        return Err(DecodeError::ConnAckReservedFlags(flags));
    }
    // A 3.1.1-only server answers a 5.0 CONNECT with its own CONNACK, two bytes with return code
    // 0x01 "unacceptable protocol version" (NATS, Aedes, amqtt do). A 5.0 CONNACK always has a
    // property length, so a body of two bytes at 5.0 is this answer: the 5.0 equivalent is
    // 0x84 Unsupported Protocol Version, whatever the code (even 0x00: a server that took our
    // 5.0 CONNECT for 3.1.1 does not speak 5.0 either).
    if level.is_v5() && r.remaining() == 1 {
        let code = r.u8("return code")?;
        let reason_code = match V3_RETURN_CODES.get(code as usize) {
            Some(ReasonCode::Success) | None => ReasonCode::UnsupportedProtocolVersion,
            Some(rc) => *rc,
        };
        return Ok(ConnAck::new(false, reason_code));
    }
    if !level.is_v5() {
        let code = r.u8("return code")?;
        let reason_code =
            *V3_RETURN_CODES
                .get(code as usize)
                .ok_or(DecodeError::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code,
                })?;
        return Ok(ConnAck::new(flags & 1 != 0, reason_code));
    }
    let reason_code = reason_code(r, "reason code")?;
    let properties = properties::decode(r, PropertyContext::ConnAck)?;
    Ok(ConnAck {
        session_present: flags & 1 != 0,
        reason_code,
        properties,
    })
}

#[inline]
pub(crate) fn connack_lens(c: &ConnAck, level: ProtocolLevel) -> Result<Lens, EncodeError> {
    if !level.is_v5() {
        v3_return_code(c.reason_code, level)?;
        return Ok(Lens {
            remaining: 2,
            ..Lens::default()
        });
    }
    super::check_reason(PacketType::ConnAck, c.reason_code, level)?;
    let props = properties::body_len(&c.properties, PropertyContext::ConnAck)?;
    Ok(Lens {
        remaining: 2 + varint_len(props) + props,
        props,
        will_props: 0,
    })
}

fn v3_return_code(rc: ReasonCode, level: ProtocolLevel) -> Result<u8, EncodeError> {
    V3_RETURN_CODES
        .iter()
        .position(|c| *c == rc)
        .map(|p| p as u8)
        .ok_or(EncodeError::ReasonCodeNotAtLevel {
            packet: PacketType::ConnAck,
            code: rc as u8,
            level,
        })
}

pub(crate) fn put_connack(c: &ConnAck, level: ProtocolLevel, lens: &Lens, buf: &mut BytesMut) {
    buf.put_u8(u8::from(c.session_present));
    if level.is_v5() {
        buf.put_u8(c.reason_code as u8);
        properties::encode(&c.properties, lens.props, buf);
    } else {
        // Checked by connack_lens.
        buf.put_u8(v3_return_code(c.reason_code, level).unwrap_or(0x03));
    }
}
