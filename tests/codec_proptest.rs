//! Property tests of the codec.
//!
//! - Arbitrary *valid* packets of every type at every level round-trip:
//!   `decode(encode(p)) == p`, and `encoded_len(p)` is the number of bytes written.
//!   What is valid is written here by hand from the specification (the property table of
//!   section 2.2.2.2 and the reason code tables of chapter 3), not taken from the crate.
//! - Decoding arbitrary bytes never panics: random bytes, random bodies behind a correct fixed
//!   header, and valid encodings with bytes flipped, truncated or extended. Whatever the decoder
//!   accepts re-encodes to something that decodes to the same packet.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use pigeon_mqtt::codec::{
    decode, decode_framed, encode, encode_without_payload, encoded_len, Decoded,
};
use pigeon_mqtt::packet::{
    Auth, ConnAck, Connect, Disconnect, MqttString, Packet, PacketId, Properties, Property,
    PropertyContext, ProtocolLevel, PubResponse, Publish, QoS, QosPid, ReasonCode, RetainHandling,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use pigeon_mqtt::topic::{TopicFilter, TopicName};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

const LEVELS: [ProtocolLevel; 3] = [
    ProtocolLevel::V3_1,
    ProtocolLevel::V3_1_1,
    ProtocolLevel::V5,
];

// ---------------------------------------------------------------------------------------------
// Field strategies
// ---------------------------------------------------------------------------------------------

/// Any character MQTT strings allow: not U+0000 (surrogates cannot be `char`s).
fn mqtt_char() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("no U+0000", |c| *c != '\0')
}

fn mqtt_string(max: usize) -> impl Strategy<Value = MqttString> {
    vec(mqtt_char(), 0..=max).prop_map(|cs| {
        MqttString::try_from(cs.into_iter().collect::<String>()).expect("valid MQTT string")
    })
}

/// Characters of one topic level: no separator, no wildcard.
fn level_char() -> impl Strategy<Value = char> {
    mqtt_char().prop_filter("no '/', '+', '#'", |c| !matches!(c, '/' | '+' | '#'))
}

fn level_text(min: usize, max: usize) -> impl Strategy<Value = String> {
    vec(level_char(), min..=max).prop_map(|cs| cs.into_iter().collect())
}

/// A topic name: one or more levels (possibly empty ones), no wildcards, at least one byte.
fn topic_name_string() -> impl Strategy<Value = String> {
    vec(level_text(0, 6), 1..4)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn topic_name() -> impl Strategy<Value = TopicName> {
    topic_name_string().prop_map(|s| TopicName::new(s).expect("valid topic name"))
}

/// A topic filter: levels that are text or '+', optionally ending in '#', optionally shared.
fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop_oneof![3 => level_text(0, 5), 1 => Just("+".to_string())];
    (
        vec(level, 1..4),
        any::<bool>(),
        proptest::option::of(level_text(1, 5)),
    )
        .prop_filter_map("valid filter", |(levels, hash, share)| {
            let mut f = levels.join("/");
            if hash {
                if f.is_empty() {
                    f.push('#');
                } else {
                    f.push_str("/#");
                }
            }
            if let Some(group) = share {
                f = format!("$share/{group}/{f}");
            }
            TopicFilter::new(f).ok()
        })
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|v| PacketId::new(v).expect("non-zero"))
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn reason(codes: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    select(codes).prop_map(|c| ReasonCode::try_from(c).expect("defined reason code"))
}

// Reason code tables of MQTT 5.0, chapter 3.
const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
const PUBACK_PUBREC_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_PUBCOMP_CODES: &[u8] = &[0x00, 0x92];
const SUBACK_CODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
const AUTH_CODES: &[u8] = &[0x00, 0x18, 0x19];
/// 3.1.1 CONNACK return codes 0..=5, as the codes they map onto.
const V3_CONNACK_CODES: &[u8] = &[0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
/// 3.1.1 SUBACK return codes 0x00, 0x01, 0x02 and 0x80.
const V3_SUBACK_CODES: &[u8] = &[0x00, 0x01, 0x02, 0x80];

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// An arbitrary valid value for property `id`.
fn property(id: u8) -> BoxedStrategy<Property> {
    let s = || mqtt_string(8);
    match id {
        0x01 => any::<bool>()
            .prop_map(Property::PayloadFormatIndicator)
            .boxed(),
        0x02 => any::<u32>()
            .prop_map(Property::MessageExpiryInterval)
            .boxed(),
        0x03 => s().prop_map(Property::ContentType).boxed(),
        // A topic name: non-empty, no wildcards [MQTT-3.3.2-14].
        0x08 => topic_name_string()
            .prop_map(|t| Property::ResponseTopic(MqttString::try_from(t).expect("string")))
            .boxed(),
        0x09 => bytes(8).prop_map(Property::CorrelationData).boxed(),
        0x0B => (1..=268_435_455u32)
            .prop_map(|v| Property::SubscriptionIdentifier(NonZeroU32::new(v).expect("nz")))
            .boxed(),
        0x11 => any::<u32>()
            .prop_map(Property::SessionExpiryInterval)
            .boxed(),
        0x12 => s().prop_map(Property::AssignedClientIdentifier).boxed(),
        0x13 => any::<u16>().prop_map(Property::ServerKeepAlive).boxed(),
        0x15 => s().prop_map(Property::AuthenticationMethod).boxed(),
        0x16 => bytes(8).prop_map(Property::AuthenticationData).boxed(),
        0x17 => any::<bool>()
            .prop_map(Property::RequestProblemInformation)
            .boxed(),
        0x18 => any::<u32>().prop_map(Property::WillDelayInterval).boxed(),
        0x19 => any::<bool>()
            .prop_map(Property::RequestResponseInformation)
            .boxed(),
        0x1A => s().prop_map(Property::ResponseInformation).boxed(),
        0x1C => s().prop_map(Property::ServerReference).boxed(),
        0x1F => s().prop_map(Property::ReasonString).boxed(),
        0x21 => (1..=u16::MAX)
            .prop_map(|v| Property::ReceiveMaximum(NonZeroU16::new(v).expect("nz")))
            .boxed(),
        0x22 => any::<u16>().prop_map(Property::TopicAliasMaximum).boxed(),
        0x23 => (1..=u16::MAX)
            .prop_map(|v| Property::TopicAlias(NonZeroU16::new(v).expect("nz")))
            .boxed(),
        // 0 or 1 only: absent means 2.
        0x24 => select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])
            .prop_map(Property::MaximumQoS)
            .boxed(),
        0x25 => any::<bool>().prop_map(Property::RetainAvailable).boxed(),
        0x27 => (1..=u32::MAX)
            .prop_map(|v| Property::MaximumPacketSize(NonZeroU32::new(v).expect("nz")))
            .boxed(),
        0x28 => any::<bool>()
            .prop_map(Property::WildcardSubscriptionAvailable)
            .boxed(),
        0x29 => any::<bool>()
            .prop_map(Property::SubscriptionIdentifierAvailable)
            .boxed(),
        0x2A => any::<bool>()
            .prop_map(Property::SharedSubscriptionAvailable)
            .boxed(),
        other => unreachable!("no property 0x{other:02x}"),
    }
}

/// The single-instance properties allowed in each context ("Used in" column of the table in
/// section 2.2.2.2), User Property aside.
fn single_instance(ctx: PropertyContext) -> &'static [u8] {
    match ctx {
        PropertyContext::Connect => &[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x27],
        PropertyContext::Will => &[0x01, 0x02, 0x03, 0x08, 0x09, 0x18],
        PropertyContext::ConnAck => &[
            0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x27, 0x28,
            0x29, 0x2A,
        ],
        // Subscription Identifier may repeat in PUBLISH: handled with the User Properties.
        PropertyContext::Publish => &[0x01, 0x02, 0x03, 0x08, 0x09, 0x23],
        PropertyContext::Subscribe => &[0x0B],
        PropertyContext::Unsubscribe => &[],
        PropertyContext::Disconnect => &[0x11, 0x1C, 0x1F],
        PropertyContext::Auth => &[0x15, 0x16, 0x1F],
        // PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK
        _ => &[0x1F],
    }
}

/// A valid property list for `ctx`: each single-instance property at most once, any number of
/// User Properties (and of Subscription Identifiers in PUBLISH), in any order.
fn properties(ctx: PropertyContext) -> BoxedStrategy<Properties> {
    let singles: Vec<BoxedStrategy<Option<Property>>> = single_instance(ctx)
        .iter()
        .map(|&id| proptest::option::weighted(0.3, property(id)).boxed())
        .collect();
    let users = vec(
        (mqtt_string(4), mqtt_string(4)).prop_map(|(k, v)| Property::UserProperty(k, v)),
        0..3,
    );
    let repeated_ids = if ctx == PropertyContext::Publish {
        vec(property(0x0B), 0..3).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (singles, users, repeated_ids)
        .prop_flat_map(|(singles, users, ids)| {
            let all: Vec<Property> = singles
                .into_iter()
                .flatten()
                .chain(users)
                .chain(ids)
                .collect();
            Just(all).prop_shuffle()
        })
        .prop_map(Properties::from)
        .boxed()
}

/// Properties at 5.0, none below.
fn props_at(level: ProtocolLevel, ctx: PropertyContext) -> BoxedStrategy<Properties> {
    if level.is_v5() {
        properties(ctx)
    } else {
        Just(Properties::new()).boxed()
    }
}

// ---------------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------------

/// The empty topic of a PUBLISH that uses a Topic Alias. There is no public constructor for
/// it, so it is taken from a decoded packet.
fn empty_alias_topic() -> TopicName {
    // PUBLISH QoS 0, remaining length 6: topic '' (00 00), properties: Topic Alias 1.
    let mut buf = BytesMut::from(&[0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01][..]);
    match decode(&mut buf, ProtocolLevel::V5, u32::MAX) {
        Ok(Decoded::Packet(Packet::Publish(p))) => p.topic,
        other => panic!("aliased PUBLISH fixture: {other:?}"),
    }
}

fn connect(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    let will = (
        topic_name(),
        bytes(16),
        qos(),
        any::<bool>(),
        props_at(level, PropertyContext::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        mqtt_string(23),
        proptest::option::of(will),
        proptest::option::of(mqtt_string(8)),
        proptest::option::of(bytes(8)),
        props_at(level, PropertyContext::Connect),
    )
        .prop_map(
            move |(
                clean_start,
                keep_alive,
                client_id,
                will,
                mut username,
                password,
                properties,
            )| {
                // [MQTT-3.1.2-22] below 5.0 a password needs a user name.
                if !level.is_v5() && password.is_some() && username.is_none() {
                    username = Some(MqttString::empty());
                }
                Packet::Connect(Box::new(Connect {
                    protocol: level,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
        .boxed()
}

fn connack(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    let codes = if level.is_v5() {
        CONNACK_CODES
    } else {
        V3_CONNACK_CODES
    };
    (
        any::<bool>(),
        reason(codes),
        props_at(level, PropertyContext::ConnAck),
    )
        .prop_map(|(session_present, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn publish(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    let qos_pid = prop_oneof![
        Just(QosPid::AtMostOnce),
        packet_id().prop_map(QosPid::AtLeastOnce),
        packet_id().prop_map(QosPid::ExactlyOnce),
    ];
    (
        qos_pid,
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        props_at(level, PropertyContext::Publish),
        bytes(64),
    )
        .prop_map(
            |(qos, dup, retain, topic, use_alias_only, properties, payload)| {
                // [MQTT-3.3.1-2] DUP only on QoS 1 and 2; an empty topic only with an alias.
                let aliased = properties.topic_alias().is_some();
                Packet::Publish(Publish {
                    dup: dup && qos != QosPid::AtMostOnce,
                    qos,
                    retain,
                    topic: if aliased && use_alias_only {
                        empty_alias_topic()
                    } else {
                        topic
                    },
                    properties,
                    payload,
                })
            },
        )
        .boxed()
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP (`kind` 0..4).
fn pub_response(level: ProtocolLevel, kind: usize) -> BoxedStrategy<Packet> {
    let (codes, ctx) = match kind {
        0 => (PUBACK_PUBREC_CODES, PropertyContext::PubAck),
        1 => (PUBACK_PUBREC_CODES, PropertyContext::PubRec),
        2 => (PUBREL_PUBCOMP_CODES, PropertyContext::PubRel),
        _ => (PUBREL_PUBCOMP_CODES, PropertyContext::PubComp),
    };
    let rc = if level.is_v5() {
        reason(codes).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    (packet_id(), rc, props_at(level, ctx))
        .prop_map(move |(packet_id, reason_code, properties)| {
            let r = PubResponse {
                packet_id,
                reason_code,
                properties,
            };
            match kind {
                0 => Packet::PubAck(r),
                1 => Packet::PubRec(r),
                2 => Packet::PubRel(r),
                _ => Packet::PubComp(r),
            }
        })
        .boxed()
}

fn subscribe(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    let v5 = level.is_v5();
    let entry = (
        topic_filter(),
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendIfNew,
            RetainHandling::DoNotSend,
        ]),
    )
        .prop_map(move |(f, qos, no_local, rap, rh)| {
            let opts = if v5 {
                SubscriptionOptions {
                    qos,
                    // [MQTT-3.8.3-4] not on shared subscriptions.
                    no_local: no_local && !f.is_shared(),
                    retain_as_published: rap,
                    retain_handling: rh,
                }
            } else {
                SubscriptionOptions::new(qos)
            };
            (f, opts)
        });
    (
        packet_id(),
        props_at(level, PropertyContext::Subscribe),
        vec(entry, 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters,
            })
        })
        .boxed()
}

fn suback(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    let codes = if level.is_v5() {
        SUBACK_CODES
    } else {
        V3_SUBACK_CODES
    };
    (
        packet_id(),
        props_at(level, PropertyContext::SubAck),
        vec(reason(codes), 1..5),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
        .boxed()
}

fn unsubscribe(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    (
        packet_id(),
        props_at(level, PropertyContext::Unsubscribe),
        vec(topic_filter(), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        })
        .boxed()
}

fn unsuback(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    // 3.1.1 UNSUBACK has no reason codes.
    let codes = if level.is_v5() {
        vec(reason(UNSUBACK_CODES), 1..5).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        packet_id(),
        props_at(level, PropertyContext::UnsubAck),
        codes,
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
        .boxed()
}

fn disconnect(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    if !level.is_v5() {
        return Just(Packet::Disconnect(Disconnect::default())).boxed();
    }
    (
        reason(DISCONNECT_CODES),
        properties(PropertyContext::Disconnect),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn auth() -> BoxedStrategy<Packet> {
    (reason(AUTH_CODES), properties(PropertyContext::Auth))
        .prop_map(|(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        })
        .boxed()
}

/// An arbitrary valid packet of any type that exists at `level`.
fn packet(level: ProtocolLevel) -> BoxedStrategy<Packet> {
    let mut all = vec![
        connect(level),
        connack(level),
        publish(level),
        pub_response(level, 0),
        pub_response(level, 1),
        pub_response(level, 2),
        pub_response(level, 3),
        subscribe(level),
        suback(level),
        unsubscribe(level),
        unsuback(level),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(level),
    ];
    if level.is_v5() {
        all.push(auth());
    }
    proptest::strategy::Union::new(all).boxed()
}

fn level() -> impl Strategy<Value = ProtocolLevel> {
    select(LEVELS.to_vec())
}

fn level_and_packet() -> impl Strategy<Value = (ProtocolLevel, Packet)> {
    level().prop_flat_map(|l| (Just(l), packet(l)))
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn round_trip(level: ProtocolLevel, p: &Packet) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    let n = encode(p, level, u32::MAX, &mut buf)
        .map_err(|e| TestCaseError::fail(format!("encode {p:?} at {level}: {e}")))?;
    prop_assert_eq!(n, buf.len());
    prop_assert_eq!(encoded_len(p, level), Ok(n));

    // encode_without_payload + the payload it hands back is the same byte string.
    let mut head = BytesMut::new();
    let payload = encode_without_payload(p, level, u32::MAX, &mut head)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    if let Some(payload) = payload {
        head.extend_from_slice(&payload);
    }
    prop_assert_eq!(&head[..], &buf[..]);

    // Exactly the needed size is allowed; one less is not.
    prop_assert!(encode(p, level, n as u32, &mut BytesMut::new()).is_ok());
    prop_assert!(encode(p, level, n as u32 - 1, &mut BytesMut::new()).is_err());

    let wire = buf.clone();
    let decoded = decode(&mut buf, level, u32::MAX)
        .map_err(|e| TestCaseError::fail(format!("decode {wire:02x?} at {level}: {e}")))?;
    prop_assert_eq!(
        decoded,
        Decoded::Packet(p.clone()),
        "wire {:02x?}",
        &wire[..]
    );
    prop_assert!(buf.is_empty());
    Ok(())
}

/// Decodes everything in `bytes` (which may hold several packets, or garbage) without
/// panicking. A packet that is accepted must re-encode, and the re-encoding must decode to the
/// same packet.
fn decode_everything(level: ProtocolLevel, bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::from(bytes);
    loop {
        let before = buf.len();
        match decode(&mut buf, level, u32::MAX) {
            Ok(Decoded::Packet(p)) => {
                prop_assert!(buf.len() < before, "a packet consumes bytes");
                let mut again = BytesMut::new();
                encode(&p, level, u32::MAX, &mut again).map_err(|e| {
                    TestCaseError::fail(format!("accepted {p:?} at {level} cannot be encoded: {e}"))
                })?;
                let back = decode(&mut again, level, u32::MAX)
                    .map_err(|e| TestCaseError::fail(format!("re-decode of {p:?}: {e}")))?;
                prop_assert_eq!(back, Decoded::Packet(p));
                prop_assert!(again.is_empty());
            }
            Ok(Decoded::Incomplete { needed }) => {
                prop_assert!(needed >= 1);
                prop_assert_eq!(buf.len(), before, "Incomplete leaves the buffer alone");
                return Ok(());
            }
            Err(e) => {
                prop_assert!(e.to_string().contains("[MQTT-"), "{}", e);
                return Ok(());
            }
        }
    }
}

fn encode_to_vec(level: ProtocolLevel, p: &Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(p, level, u32::MAX, &mut buf).expect("valid packet encodes");
    buf.to_vec()
}

/// A fixed header with the right remaining length for `body`.
fn framed(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut v = body.len();
    loop {
        let mut b = (v & 0x7f) as u8;
        v >>= 7;
        if v > 0 {
            b |= 0x80;
        }
        out.push(b);
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// The case count, overridable with `PIGEON_PROPTEST_CASES` for a longer run.
fn cases(default: u32) -> u32 {
    std::env::var("PIGEON_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generators reach the interesting corners (so the round trips above are not passing on
/// trivial packets): every packet type at every level, aliased empty topics, repeated User
/// Properties and Subscription Identifiers, will properties, shared subscriptions, No Local.
#[test]
fn generators_cover_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::HashSet;

    let mut runner = TestRunner::deterministic();
    for level in LEVELS {
        let strategy = packet(level);
        let mut types = HashSet::new();
        let (mut empty_topic, mut two_users, mut two_sub_ids, mut will_props) = (0, 0, 0, 0);
        let (mut shared, mut no_local, mut with_props) = (0, 0, 0);
        for _ in 0..3000 {
            let p = strategy.new_tree(&mut runner).expect("value").current();
            types.insert(p.packet_type() as u8);
            match &p {
                Packet::Publish(x) => {
                    empty_topic += usize::from(x.topic.is_empty());
                    two_users += usize::from(x.properties.user_properties().count() >= 2);
                    two_sub_ids +=
                        usize::from(x.properties.subscription_identifiers().count() >= 2);
                    with_props += usize::from(x.properties.len() >= 3);
                }
                Packet::Connect(c) => {
                    will_props +=
                        usize::from(c.will.as_ref().is_some_and(|w| !w.properties.is_empty()));
                }
                Packet::Subscribe(x) => {
                    shared += x.filters.iter().filter(|(f, _)| f.is_shared()).count();
                    no_local += x.filters.iter().filter(|(_, o)| o.no_local).count();
                }
                _ => {}
            }
        }
        let expected_types = if level.is_v5() { 15 } else { 14 };
        assert_eq!(types.len(), expected_types, "packet types at {level}");
        assert!(shared > 0, "shared subscriptions at {level}");
        if level.is_v5() {
            assert!(empty_topic > 0, "aliased empty topics");
            assert!(two_users > 0, "repeated User Properties");
            assert!(two_sub_ids > 0, "repeated Subscription Identifiers");
            assert!(will_props > 0, "will properties");
            assert!(no_local > 0, "No Local");
            assert!(with_props > 0, "PUBLISH with several properties");
        } else {
            assert_eq!(
                empty_topic + two_users + two_sub_ids + will_props + no_local,
                0
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(384),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// decode(encode(p)) == p and encoded_len(p) == bytes written, at every level.
    #[test]
    fn valid_packets_round_trip((level, p) in level_and_packet()) {
        round_trip(level, &p)?;
    }

    #[test]
    fn valid_v5_packets_round_trip(p in packet(ProtocolLevel::V5)) {
        round_trip(ProtocolLevel::V5, &p)?;
    }

    #[test]
    fn valid_v3_1_1_packets_round_trip(p in packet(ProtocolLevel::V3_1_1)) {
        round_trip(ProtocolLevel::V3_1_1, &p)?;
    }

    /// Several packets back to back decode in order.
    #[test]
    fn packet_sequences_round_trip(
        (level, list) in level().prop_flat_map(|l| (Just(l), vec(packet(l), 1..5)))
    ) {
        let mut buf = BytesMut::new();
        for p in &list {
            encode(p, level, u32::MAX, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        for p in &list {
            prop_assert_eq!(decode(&mut buf, level, u32::MAX), Ok(Decoded::Packet(p.clone())));
        }
        prop_assert!(buf.is_empty());
    }

    /// Any prefix of a valid encoding asks for more (1 <= needed <= missing).
    #[test]
    fn prefixes_are_incomplete((level, p) in level_and_packet(), cut in any::<Index>()) {
        let wire = encode_to_vec(level, &p);
        let cut = cut.index(wire.len());
        let mut buf = BytesMut::from(&wire[..cut]);
        match decode(&mut buf, level, u32::MAX) {
            Ok(Decoded::Incomplete { needed }) => {
                prop_assert!(needed >= 1 && needed <= wire.len() - cut);
            }
            other => prop_assert!(false, "prefix {}/{}: {:?}", cut, wire.len(), other),
        }
        prop_assert_eq!(buf.len(), cut);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(512),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// Random bytes: no panic, at every level.
    #[test]
    fn decoding_random_bytes_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        for level in LEVELS {
            decode_everything(level, &bytes)?;
            if let Some((&first, rest)) = bytes.split_first() {
                let _ = decode_framed(first, Bytes::copy_from_slice(rest), level);
            }
        }
    }

    /// Random bodies behind a correct fixed header of every type and flag combination, so the
    /// body parsers themselves see garbage.
    #[test]
    fn decoding_random_bodies_never_panics(
        first in any::<u8>(),
        body in vec(any::<u8>(), 0..256),
    ) {
        let wire = framed(first, &body);
        for level in LEVELS {
            decode_everything(level, &wire)?;
            let _ = decode_framed(first, Bytes::from(body.clone()), level);
        }
    }

    /// Valid encodings with random bytes flipped: no panic; whatever is accepted re-encodes.
    #[test]
    fn decoding_mutated_packets_never_panics(
        (level, p) in level_and_packet(),
        flips in vec((any::<Index>(), 1..=255u8), 1..4),
        other_level in level(),
    ) {
        let mut wire = encode_to_vec(level, &p);
        for (at, x) in flips {
            let i = at.index(wire.len());
            wire[i] ^= x;
        }
        decode_everything(level, &wire)?;
        decode_everything(other_level, &wire)?;
    }

    /// Valid encodings that are truncated, or followed by garbage: no panic.
    #[test]
    fn decoding_truncated_or_extended_packets_never_panics(
        (level, p) in level_and_packet(),
        cut in any::<Index>(),
        tail in vec(any::<u8>(), 0..32),
    ) {
        let wire = encode_to_vec(level, &p);
        let cut = cut.index(wire.len() + 1);
        let mut mutated = wire[..cut].to_vec();
        mutated.extend_from_slice(&tail);
        decode_everything(level, &mutated)?;
        // The packet's body declared one byte shorter or longer than it is.
        let (&first, _) = wire.split_first().expect("non-empty");
        if let Some(body) = wire.get(2..).filter(|_| wire[1] < 0x7f && wire[1] > 0) {
            let mut shorter = framed(first, &body[..body.len() - 1]);
            shorter.extend_from_slice(&tail);
            decode_everything(level, &shorter)?;
            let mut longer = body.to_vec();
            longer.extend_from_slice(&tail);
            decode_everything(level, &framed(first, &longer))?;
        }
    }
}
