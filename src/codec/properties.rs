//! Property lists [MQTT-2.2.2]: length prefix, then identifier/value pairs.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::BufMut;

use super::wire::{field_len, put_binary, put_varint, varint_len, Reader, MAX_VARINT};
use crate::error::{DecodeError, EncodeError};
use crate::packet::{Properties, Property, PropertyContext, PropertyId, QoS};

/// Reads a property list (length prefix included) for `ctx`, checking that every property is
/// allowed there and that single-instance properties do not repeat.
pub(crate) fn decode(r: &mut Reader, ctx: PropertyContext) -> Result<Properties, DecodeError> {
    let len = r.varint("property length")? as usize;
    if len == 0 {
        return Ok(Properties::new());
    }
    let body = r.take(len, "properties")?;
    let mut r = Reader::new(body, r.packet);
    let mut props = Vec::new();
    let mut seen: u64 = 0;
    while r.remaining() > 0 {
        // The identifier is a variable byte integer, but every defined one fits in one byte.
        let raw = r.varint("property identifier")?;
        let id = u8::try_from(raw).ok().and_then(PropertyId::from_u8).ok_or(
            DecodeError::UnknownProperty {
                context: ctx,
                id: raw.min(255) as u8,
            },
        )?;
        admit(id, ctx, &mut seen).map_err(|r| match r {
            Refusal::NotAllowed => DecodeError::PropertyNotAllowed { context: ctx, id },
            Refusal::Repeated => DecodeError::DuplicateProperty { context: ctx, id },
        })?;
        props.push(decode_value(&mut r, id)?);
    }
    Ok(Properties::from(props))
}

fn decode_value(r: &mut Reader, id: PropertyId) -> Result<Property, DecodeError> {
    let invalid = |value: u32| DecodeError::InvalidPropertyValue { id, value };
    let boolean = |r: &mut Reader| -> Result<bool, DecodeError> {
        match r.u8("property value")? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(invalid(v.into())),
        }
    };
    const F: &str = "property value";
    Ok(match id {
        PropertyId::PayloadFormatIndicator => Property::PayloadFormatIndicator(boolean(r)?),
        PropertyId::MessageExpiryInterval => Property::MessageExpiryInterval(r.u32(F)?),
        PropertyId::ContentType => Property::ContentType(r.string(F)?),
        PropertyId::ResponseTopic => {
            let s = r.string(F)?;
            // [MQTT-3.3.2-14] the Response Topic is a Topic Name: no wildcards.
            crate::topic::check_wire_name(s.as_bytes()).map_err(|source| {
                DecodeError::InvalidTopic {
                    packet: r.packet,
                    source,
                }
            })?;
            Property::ResponseTopic(s)
        }
        PropertyId::CorrelationData => Property::CorrelationData(r.binary(F)?),
        PropertyId::SubscriptionIdentifier => {
            let v = r.varint(F)?;
            // [MQTT-3.8.2.1.2] a Subscription Identifier of 0 is a Protocol Error.
            Property::SubscriptionIdentifier(NonZeroU32::new(v).ok_or(invalid(0))?)
        }
        PropertyId::SessionExpiryInterval => Property::SessionExpiryInterval(r.u32(F)?),
        PropertyId::AssignedClientIdentifier => Property::AssignedClientIdentifier(r.string(F)?),
        PropertyId::ServerKeepAlive => Property::ServerKeepAlive(r.u16(F)?),
        PropertyId::AuthenticationMethod => Property::AuthenticationMethod(r.string(F)?),
        PropertyId::AuthenticationData => Property::AuthenticationData(r.binary(F)?),
        PropertyId::RequestProblemInformation => Property::RequestProblemInformation(boolean(r)?),
        PropertyId::WillDelayInterval => Property::WillDelayInterval(r.u32(F)?),
        PropertyId::RequestResponseInformation => Property::RequestResponseInformation(boolean(r)?),
        PropertyId::ResponseInformation => Property::ResponseInformation(r.string(F)?),
        PropertyId::ServerReference => Property::ServerReference(r.string(F)?),
        PropertyId::ReasonString => Property::ReasonString(r.string(F)?),
        PropertyId::ReceiveMaximum => {
            // [MQTT-3.1.2.11.3] / [MQTT-3.2.2.3.3] a value of 0 is a Protocol Error.
            Property::ReceiveMaximum(NonZeroU16::new(r.u16(F)?).ok_or(invalid(0))?)
        }
        PropertyId::TopicAliasMaximum => Property::TopicAliasMaximum(r.u16(F)?),
        PropertyId::TopicAlias => {
            Property::TopicAlias(NonZeroU16::new(r.u16(F)?).ok_or(DecodeError::ZeroTopicAlias)?)
        }
        PropertyId::MaximumQoS => match r.u8(F)? {
            0 => Property::MaximumQoS(QoS::AtMostOnce),
            1 => Property::MaximumQoS(QoS::AtLeastOnce),
            v => return Err(invalid(v.into())),
        },
        PropertyId::RetainAvailable => Property::RetainAvailable(boolean(r)?),
        PropertyId::UserProperty => Property::UserProperty(r.string(F)?, r.string(F)?),
        PropertyId::MaximumPacketSize => {
            Property::MaximumPacketSize(NonZeroU32::new(r.u32(F)?).ok_or(invalid(0))?)
        }
        PropertyId::WildcardSubscriptionAvailable => {
            Property::WildcardSubscriptionAvailable(boolean(r)?)
        }
        PropertyId::SubscriptionIdentifierAvailable => {
            Property::SubscriptionIdentifierAvailable(boolean(r)?)
        }
        PropertyId::SharedSubscriptionAvailable => {
            Property::SharedSubscriptionAvailable(boolean(r)?)
        }
    })
}

/// Length of the property list's contents (without its own length prefix), after checking that
/// it may be sent in `ctx`.
pub(crate) fn body_len(props: &Properties, ctx: PropertyContext) -> Result<usize, EncodeError> {
    let mut len = 0;
    let mut seen: u64 = 0;
    for p in props {
        let id = p.id();
        admit(id, ctx, &mut seen).map_err(|r| match r {
            Refusal::NotAllowed => EncodeError::PropertyNotAllowed { context: ctx, id },
            Refusal::Repeated => EncodeError::DuplicateProperty { context: ctx, id },
        })?;
        len += 1 + value_len(p)?;
    }
    Ok(len)
}

fn value_len(p: &Property) -> Result<usize, EncodeError> {
    const F: &str = "property value";
    Ok(match p {
        Property::PayloadFormatIndicator(_)
        | Property::RequestProblemInformation(_)
        | Property::RequestResponseInformation(_)
        | Property::RetainAvailable(_)
        | Property::WildcardSubscriptionAvailable(_)
        | Property::SubscriptionIdentifierAvailable(_)
        | Property::SharedSubscriptionAvailable(_) => 1,
        // [MQTT-3.2.2.3.4] Maximum QoS is 0 or 1; 2 is expressed by leaving it out.
        Property::MaximumQoS(QoS::ExactlyOnce) => {
            return Err(EncodeError::InvalidPropertyValue {
                id: PropertyId::MaximumQoS,
                value: 2,
            })
        }
        Property::MaximumQoS(_) => 1,
        Property::ServerKeepAlive(_)
        | Property::ReceiveMaximum(_)
        | Property::TopicAliasMaximum(_)
        | Property::TopicAlias(_) => 2,
        Property::MessageExpiryInterval(_)
        | Property::SessionExpiryInterval(_)
        | Property::WillDelayInterval(_)
        | Property::MaximumPacketSize(_) => 4,
        Property::SubscriptionIdentifier(v) => {
            if v.get() > MAX_VARINT {
                return Err(EncodeError::InvalidPropertyValue {
                    id: PropertyId::SubscriptionIdentifier,
                    value: v.get(),
                });
            }
            varint_len(v.get() as usize)
        }
        Property::ContentType(s)
        | Property::ResponseTopic(s)
        | Property::AssignedClientIdentifier(s)
        | Property::AuthenticationMethod(s)
        | Property::ResponseInformation(s)
        | Property::ServerReference(s)
        | Property::ReasonString(s) => field_len(s.len(), F)?,
        Property::CorrelationData(b) | Property::AuthenticationData(b) => field_len(b.len(), F)?,
        Property::UserProperty(k, v) => field_len(k.len(), F)? + field_len(v.len(), F)?,
    })
}

/// Writes a property list (length prefix included) whose `body_len` was computed already.
pub(crate) fn encode(props: &Properties, body_len: usize, buf: &mut impl BufMut) {
    put_varint(buf, body_len);
    for p in props {
        buf.put_u8(p.id() as u8);
        match p {
            Property::PayloadFormatIndicator(b)
            | Property::RequestProblemInformation(b)
            | Property::RequestResponseInformation(b)
            | Property::RetainAvailable(b)
            | Property::WildcardSubscriptionAvailable(b)
            | Property::SubscriptionIdentifierAvailable(b)
            | Property::SharedSubscriptionAvailable(b) => buf.put_u8(u8::from(*b)),
            Property::MaximumQoS(q) => buf.put_u8(*q as u8),
            Property::ServerKeepAlive(v) | Property::TopicAliasMaximum(v) => buf.put_u16(*v),
            Property::ReceiveMaximum(v) | Property::TopicAlias(v) => buf.put_u16(v.get()),
            Property::MessageExpiryInterval(v)
            | Property::SessionExpiryInterval(v)
            | Property::WillDelayInterval(v) => buf.put_u32(*v),
            Property::MaximumPacketSize(v) => buf.put_u32(v.get()),
            Property::SubscriptionIdentifier(v) => put_varint(buf, v.get() as usize),
            Property::ContentType(s)
            | Property::ResponseTopic(s)
            | Property::AssignedClientIdentifier(s)
            | Property::AuthenticationMethod(s)
            | Property::ResponseInformation(s)
            | Property::ServerReference(s)
            | Property::ReasonString(s) => put_binary(buf, s.as_bytes()),
            Property::CorrelationData(b) | Property::AuthenticationData(b) => put_binary(buf, b),
            Property::UserProperty(k, v) => {
                put_binary(buf, k.as_bytes());
                put_binary(buf, v.as_bytes());
            }
        }
    }
}

/// Why a property may not stand where it was found.
enum Refusal {
    NotAllowed,
    Repeated,
}

/// [MQTT-2.2.2.2] a property must be allowed in its packet, and only User Property (and
/// Subscription Identifier in PUBLISH) may appear more than once. `seen` tracks identifiers.
fn admit(id: PropertyId, ctx: PropertyContext, seen: &mut u64) -> Result<(), Refusal> {
    if !id.allowed_in(ctx) {
        return Err(Refusal::NotAllowed);
    }
    let bit = 1u64 << (id as u8);
    if *seen & bit != 0 && !id.may_repeat(ctx) {
        return Err(Refusal::Repeated);
    }
    *seen |= bit;
    Ok(())
}
