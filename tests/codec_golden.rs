//! Golden bytes for every packet type at every protocol level where it exists.
//!
//! Every expected byte string here was written by hand from the specifications (MQTT 3.1,
//! OASIS MQTT 3.1.1 and OASIS MQTT 5.0, chapters 2 and 3), field by field, not captured from
//! the encoder. Each case asserts both directions: `encode(packet) == bytes` and
//! `decode(bytes) == packet`, plus `encoded_len`, `encode_without_payload` and the
//! maximum-packet-size boundary.
//!
//! The last tests talk to a real Mosquitto broker over a raw `TcpStream` with hand-built
//! packets, and decode what the broker sends back.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pigeon_mqtt::codec::{
    decode, encode, encode_without_payload, encoded_len, DecodeError, Decoded, EncodeError,
    MAX_PACKET_SIZE,
};
use pigeon_mqtt::packet::{
    Auth, ConnAck, Connect, Disconnect, MqttString, Packet, PacketId, Properties, Property,
    ProtocolLevel, PubResponse, Publish, QoS, QosPid, ReasonCode, RetainHandling, SubAck,
    Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use pigeon_mqtt::topic::{TopicFilter, TopicName};

use support::Mosquitto;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Parses hex written with whitespace and `//` comments to the end of the line.
fn h(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn hexdump(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn pid(v: u16) -> PacketId {
    PacketId::new(v).expect("non-zero packet id")
}

fn s(v: &'static str) -> MqttString {
    MqttString::from_static(v)
}

fn topic(v: &'static str) -> TopicName {
    TopicName::from_static(v)
}

fn filter(v: &str) -> TopicFilter {
    TopicFilter::new(v).expect("valid filter")
}

fn props(list: Vec<Property>) -> Properties {
    Properties::from(list)
}

fn nz16(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).expect("non-zero")
}

fn nz32(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).expect("non-zero")
}

fn decode_all(bytes: &[u8], level: ProtocolLevel, max: u32) -> Result<Decoded, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let r = decode(&mut buf, level, max);
    if let Ok(Decoded::Packet(_)) = r {
        assert!(buf.is_empty(), "decode left {} bytes", buf.len());
    }
    r
}

/// The golden check: at each level, `packet` encodes to exactly `wire` and `wire` decodes to
/// exactly `packet`.
fn check(levels: &[ProtocolLevel], packet: Packet, wire: &[u8]) {
    for &level in levels {
        // encode
        let mut buf = BytesMut::new();
        let n = encode(&packet, level, u32::MAX, &mut buf)
            .unwrap_or_else(|e| panic!("encode at {level} failed: {e}"));
        assert_eq!(
            hexdump(&buf),
            hexdump(wire),
            "encode of {packet:?} at {level}"
        );
        assert_eq!(n, wire.len(), "bytes written at {level}");
        assert_eq!(
            encoded_len(&packet, level),
            Ok(wire.len()),
            "encoded_len at {level}"
        );

        // encode appends: existing contents are kept
        let mut buf = BytesMut::from(&b"prefix"[..]);
        encode(&packet, level, u32::MAX, &mut buf).expect("encode after prefix");
        assert_eq!(&buf[..6], b"prefix");
        assert_eq!(&buf[6..], wire);

        // encode_without_payload + payload == encode
        let mut head = BytesMut::new();
        let payload = encode_without_payload(&packet, level, u32::MAX, &mut head)
            .expect("encode_without_payload");
        let mut joined = head.to_vec();
        if let Some(p) = &payload {
            assert!(matches!(packet, Packet::Publish(_)));
            joined.extend_from_slice(p);
        } else {
            assert!(!matches!(packet, Packet::Publish(_)));
        }
        assert_eq!(
            hexdump(&joined),
            hexdump(wire),
            "encode_without_payload at {level}"
        );

        // maximum packet size boundary, both directions [MQTT-3.1.2-24]
        let exact = wire.len() as u32;
        let mut buf = BytesMut::new();
        assert!(encode(&packet, level, exact, &mut buf).is_ok());
        let mut buf = BytesMut::new();
        assert_eq!(
            encode(&packet, level, exact - 1, &mut buf),
            Err(EncodeError::PacketTooLarge {
                size: wire.len(),
                max: exact - 1
            })
        );
        assert!(buf.is_empty());

        // decode
        assert_eq!(
            decode_all(wire, level, u32::MAX),
            Ok(Decoded::Packet(packet.clone())),
            "decode of {} at {level}",
            hexdump(wire)
        );
        assert_eq!(
            decode_all(wire, level, exact),
            Ok(Decoded::Packet(packet.clone()))
        );
        assert_eq!(
            decode_all(wire, level, exact - 1),
            Err(DecodeError::PacketTooLarge {
                size: wire.len(),
                max: exact - 1
            })
        );
    }
}

/// A decode-only golden: a valid but non-canonical form (the encoder picks a shorter or
/// different form, given as `canonical`).
fn check_decode_only(level: ProtocolLevel, wire: &[u8], packet: Packet, canonical: &[u8]) {
    assert_eq!(
        decode_all(wire, level, u32::MAX),
        Ok(Decoded::Packet(packet.clone())),
        "decode of {}",
        hexdump(wire)
    );
    check(&[level], packet, canonical);
}

/// One `#[test]` per golden case; the same bytes are checked at every listed level.
macro_rules! golden {
    ($(#[$meta:meta])* $name:ident, [$($level:ident),+ $(,)?], $packet:expr, $wire:expr $(,)?) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            check(&[$(ProtocolLevel::$level),+], $packet, &h($wire));
        }
    };
}

const V3_1: ProtocolLevel = ProtocolLevel::V3_1;
const V3_1_1: ProtocolLevel = ProtocolLevel::V3_1_1;
const V5: ProtocolLevel = ProtocolLevel::V5;

// ---------------------------------------------------------------------------------------------
// CONNECT [MQTT-3.1]
// ---------------------------------------------------------------------------------------------

golden!(
    /// MQTT 3.1: protocol name "MQIsdp", level 3 (CONNECT carries its own level).
    connect_v3_1_minimal,
    [V3_1],
    Packet::Connect(Box::new(Connect::new(V3_1, s("c1")))),
    "
    10 10                    // CONNECT, remaining length 16
    00 06 4d 51 49 73 64 70  // protocol name 'MQIsdp'
    03                       // protocol level 3
    02                       // connect flags: clean session
    00 3c                    // keep alive 60
    00 02 63 31              // client identifier 'c1'
    "
);

golden!(
    /// MQTT 3.1.1: protocol name "MQTT", level 4 [MQTT-3.1.2-1], [MQTT-3.1.2-2].
    connect_v3_1_1_minimal,
    [V3_1_1],
    Packet::Connect(Box::new(Connect::new(V3_1_1, s("c1")))),
    "
    10 0e                    // CONNECT, remaining length 14
    00 04 4d 51 54 54        // protocol name 'MQTT'
    04                       // protocol level 4
    02                       // connect flags: clean session
    00 3c                    // keep alive 60
    00 02 63 31              // client identifier 'c1'
    "
);

fn connect_full_v3(level: ProtocolLevel) -> Packet {
    let mut will = Will::new(topic("w"), Bytes::from_static(b"bye"), QoS::AtLeastOnce);
    will.retain = true;
    let mut c = Connect::new(level, s("c1"));
    c.clean_start = false;
    c.keep_alive = 10;
    c.will = Some(will);
    c.username = Some(s("u"));
    c.password = Some(Bytes::from_static(b"pw"));
    Packet::Connect(Box::new(c))
}

golden!(
    /// Will, will QoS 1, will retain, user name and password: flag bits of [MQTT-3.1.2].
    connect_v3_1_1_will_username_password,
    [V3_1_1],
    connect_full_v3(V3_1_1),
    "
    10 1d                    // CONNECT, remaining length 29
    00 04 4d 51 54 54        // 'MQTT'
    04                       // level 4
    ec                       // flags: user name 80 | password 40 | will retain 20
                             //        | will QoS 1 (08) | will 04; clean session 0
    00 0a                    // keep alive 10
    00 02 63 31              // client identifier 'c1'
    00 01 77                 // will topic 'w'
    00 03 62 79 65           // will message 'bye'
    00 01 75                 // user name 'u'
    00 02 70 77              // password 'pw'
    "
);

golden!(
    connect_v3_1_will_username_password,
    [V3_1],
    connect_full_v3(V3_1),
    "
    10 1f                    // CONNECT, remaining length 31
    00 06 4d 51 49 73 64 70  // 'MQIsdp'
    03                       // level 3
    ec                       // flags as in the 3.1.1 case
    00 0a                    // keep alive 10
    00 02 63 31              // client identifier 'c1'
    00 01 77                 // will topic 'w'
    00 03 62 79 65           // will message 'bye'
    00 01 75                 // user name 'u'
    00 02 70 77              // password 'pw'
    "
);

golden!(
    connect_v5_minimal,
    [V5],
    Packet::Connect(Box::new(Connect::new(V5, s("c1")))),
    "
    10 0f                    // CONNECT, remaining length 15
    00 04 4d 51 54 54        // 'MQTT'
    05                       // level 5
    02                       // flags: clean start
    00 3c                    // keep alive 60
    00                       // property length 0
    00 02 63 31              // client identifier 'c1'
    "
);

golden!(
    /// Properties, will with will properties, user name and password [MQTT-3.1.2], [MQTT-3.1.3].
    connect_v5_full,
    [V5],
    {
        let mut will = Will::new(topic("w/1"), Bytes::from_static(b"gone"), QoS::ExactlyOnce);
        will.properties = props(vec![
            Property::WillDelayInterval(5),
            Property::PayloadFormatIndicator(true),
            Property::ContentType(s("t")),
        ]);
        let mut c = Connect::new(V5, s("c5"));
        c.keep_alive = 30;
        c.properties = props(vec![
            Property::SessionExpiryInterval(3600),
            Property::ReceiveMaximum(nz16(20)),
            Property::UserProperty(s("k"), s("v")),
        ]);
        c.will = Some(will);
        c.username = Some(s("user"));
        c.password = Some(Bytes::from_static(&[1, 2]));
        Packet::Connect(Box::new(c))
    },
    "
    10 3f                    // CONNECT, remaining length 63
    00 04 4d 51 54 54        // 'MQTT'
    05                       // level 5
    d6                       // flags: user name 80 | password 40 | will QoS 2 (10)
                             //        | will 04 | clean start 02
    00 1e                    // keep alive 30
    0f                       // property length 15
      11 00 00 0e 10         //   Session Expiry Interval 3600
      21 00 14               //   Receive Maximum 20
      26 00 01 6b 00 01 76   //   User Property k=v
    00 02 63 35              // client identifier 'c5'
    0b                       // will property length 11
      18 00 00 00 05         //   Will Delay Interval 5
      01 01                  //   Payload Format Indicator 1 (UTF-8)
      03 00 01 74            //   Content Type 't'
    00 03 77 2f 31           // will topic 'w/1'
    00 04 67 6f 6e 65        // will payload 'gone'
    00 04 75 73 65 72        // user name 'user'
    00 02 01 02              // password 01 02
    "
);

golden!(
    /// At 5.0 a password may be sent without a user name (unlike [MQTT-3.1.2-22] of 3.1.1).
    connect_v5_password_without_username,
    [V5],
    {
        let mut c = Connect::new(V5, MqttString::empty());
        c.clean_start = false;
        c.keep_alive = 0;
        c.password = Some(Bytes::from_static(b"tok"));
        Packet::Connect(Box::new(c))
    },
    "
    10 12                    // CONNECT, remaining length 18
    00 04 4d 51 54 54        // 'MQTT'
    05                       // level 5
    40                       // flags: password only
    00 00                    // keep alive 0
    00                       // property length 0
    00 00                    // client identifier '' (server assigns one)
    00 03 74 6f 6b           // password 'tok'
    "
);

// ---------------------------------------------------------------------------------------------
// CONNACK [MQTT-3.2]
// ---------------------------------------------------------------------------------------------

/// 3.1.1 return codes 0..=5 [MQTT-3.2.2.3] and the 5.0 reason codes they are mapped onto.
#[test]
fn connack_v3_return_codes_map_to_reason_codes() {
    let table = [
        (0x00, ReasonCode::Success),
        (0x01, ReasonCode::UnsupportedProtocolVersion),
        (0x02, ReasonCode::ClientIdentifierNotValid),
        (0x03, ReasonCode::ServerUnavailable),
        (0x04, ReasonCode::BadUserNameOrPassword),
        (0x05, ReasonCode::NotAuthorized),
    ];
    for (code, reason) in table {
        // 20 02: CONNACK, remaining length 2; 00: acknowledge flags; then the return code.
        let wire = [0x20, 0x02, 0x00, code];
        check(
            &[V3_1, V3_1_1],
            Packet::ConnAck(ConnAck::new(false, reason)),
            &wire,
        );
    }
}

golden!(
    connack_v3_session_present,
    [V3_1, V3_1_1],
    Packet::ConnAck(ConnAck::new(true, ReasonCode::Success)),
    "
    20 02                    // CONNACK, remaining length 2
    01                       // acknowledge flags: session present
    00                       // return code 0: accepted
    "
);

golden!(
    connack_v5_minimal,
    [V5],
    Packet::ConnAck(ConnAck::new(false, ReasonCode::Success)),
    "
    20 03                    // CONNACK, remaining length 3
    00                       // acknowledge flags
    00                       // reason code Success
    00                       // property length 0
    "
);

golden!(
    connack_v5_not_authorized,
    [V5],
    Packet::ConnAck(ConnAck::new(false, ReasonCode::NotAuthorized)),
    "
    20 03 00
    87                       // reason code 0x87 Not authorized
    00
    "
);

golden!(
    connack_v5_with_properties,
    [V5],
    Packet::ConnAck(ConnAck {
        session_present: true,
        reason_code: ReasonCode::Success,
        properties: props(vec![
            Property::ReceiveMaximum(nz16(10)),
            Property::MaximumQoS(QoS::AtLeastOnce),
            Property::RetainAvailable(false),
            Property::AssignedClientIdentifier(s("id")),
            Property::TopicAliasMaximum(5),
        ]),
    }),
    "
    20 12                    // CONNACK, remaining length 18
    01                       // session present
    00                       // Success
    0f                       // property length 15
      21 00 0a               //   Receive Maximum 10
      24 01                  //   Maximum QoS 1
      25 00                  //   Retain Available 0
      12 00 02 69 64         //   Assigned Client Identifier 'id'
      22 00 05               //   Topic Alias Maximum 5
    "
);

// ---------------------------------------------------------------------------------------------
// PUBLISH [MQTT-3.3]
// ---------------------------------------------------------------------------------------------

fn publish(
    qos: QosPid,
    dup: bool,
    retain: bool,
    t: &'static str,
    payload: &'static [u8],
) -> Publish {
    Publish {
        dup,
        qos,
        retain,
        topic: topic(t),
        properties: Properties::new(),
        payload: Bytes::from_static(payload),
    }
}

golden!(
    publish_v3_qos0,
    [V3_1, V3_1_1],
    Packet::Publish(publish(QosPid::AtMostOnce, false, false, "a/b", b"hello")),
    "
    30 0a                    // PUBLISH, DUP 0, QoS 0, RETAIN 0; remaining length 10
    00 03 61 2f 62           // topic name 'a/b'
                             // (no packet identifier at QoS 0 [MQTT-2.2.1-2])
    68 65 6c 6c 6f           // payload 'hello'
    "
);

golden!(
    publish_v3_qos0_empty_payload,
    [V3_1, V3_1_1],
    Packet::Publish(publish(QosPid::AtMostOnce, false, false, "a/b", b"")),
    "
    30 05                    // PUBLISH QoS 0, remaining length 5
    00 03 61 2f 62           // topic name 'a/b'; zero-length payload
    "
);

golden!(
    publish_v3_qos1_retain,
    [V3_1, V3_1_1],
    Packet::Publish(publish(
        QosPid::AtLeastOnce(pid(10)),
        false,
        true,
        "a/b",
        b"x"
    )),
    "
    33 08                    // PUBLISH, QoS 1 (02) | RETAIN (01); remaining length 8
    00 03 61 2f 62           // topic name 'a/b'
    00 0a                    // packet identifier 10
    78                       // payload 'x'
    "
);

golden!(
    publish_v3_qos2_dup,
    [V3_1, V3_1_1],
    Packet::Publish(publish(
        QosPid::ExactlyOnce(pid(11)),
        true,
        false,
        "a/b",
        b"y"
    )),
    "
    3c 08                    // PUBLISH, DUP (08) | QoS 2 (04); remaining length 8
    00 03 61 2f 62           // topic name 'a/b'
    00 0b                    // packet identifier 11
    79                       // payload 'y'
    "
);

golden!(
    publish_v3_qos2_dup_retain,
    [V3_1, V3_1_1],
    Packet::Publish(publish(
        QosPid::ExactlyOnce(pid(0xffff)),
        true,
        true,
        "a/b",
        b"y"
    )),
    "
    3d 08                    // PUBLISH, DUP | QoS 2 | RETAIN
    00 03 61 2f 62           // topic name 'a/b'
    ff ff                    // packet identifier 65535
    79                       // payload 'y'
    "
);

golden!(
    publish_v5_qos0_no_properties,
    [V5],
    Packet::Publish(publish(QosPid::AtMostOnce, false, false, "a/b", b"hello")),
    "
    30 0b                    // PUBLISH QoS 0, remaining length 11
    00 03 61 2f 62           // topic name 'a/b'
    00                       // property length 0
    68 65 6c 6c 6f           // payload 'hello'
    "
);

golden!(
    /// All PUBLISH properties; two User Properties keep their order [MQTT-3.3.2-18] and two
    /// Subscription Identifiers are allowed in one PUBLISH [MQTT-3.3.4-4].
    publish_v5_qos1_with_properties,
    [V5],
    Packet::Publish(Publish {
        properties: props(vec![
            Property::PayloadFormatIndicator(true),
            Property::MessageExpiryInterval(60),
            Property::ContentType(s("txt")),
            Property::ResponseTopic(s("r")),
            Property::CorrelationData(Bytes::from_static(&[0xca, 0xfe])),
            Property::UserProperty(s("a"), s("1")),
            Property::UserProperty(s("a"), s("2")),
            Property::SubscriptionIdentifier(nz32(1)),
            Property::SubscriptionIdentifier(nz32(200)),
        ]),
        ..publish(QosPid::AtLeastOnce(pid(7)), false, false, "a/b", b"hi")
    }),
    "
    32 33                    // PUBLISH QoS 1, remaining length 51
    00 03 61 2f 62           // topic name 'a/b'
    00 07                    // packet identifier 7
    29                       // property length 41
      01 01                  //   Payload Format Indicator 1
      02 00 00 00 3c         //   Message Expiry Interval 60
      03 00 03 74 78 74      //   Content Type 'txt'
      08 00 01 72            //   Response Topic 'r'
      09 00 02 ca fe         //   Correlation Data ca fe
      26 00 01 61 00 01 31   //   User Property a=1
      26 00 01 61 00 01 32   //   User Property a=2
      0b 01                  //   Subscription Identifier 1
      0b c8 01               //   Subscription Identifier 200 (variable byte integer)
    68 69                    // payload 'hi'
    "
);

golden!(
    /// Establishing a Topic Alias: topic name and alias together [MQTT-3.3.2.3.4].
    publish_v5_topic_alias_with_topic,
    [V5],
    Packet::Publish(Publish {
        properties: props(vec![Property::TopicAlias(nz16(7))]),
        ..publish(QosPid::AtMostOnce, false, false, "a/b", b"z")
    }),
    "
    30 0a                    // PUBLISH QoS 0, remaining length 10
    00 03 61 2f 62           // topic name 'a/b'
    03                       // property length 3
      23 00 07               //   Topic Alias 7
    7a                       // payload 'z'
    "
);

/// Using a Topic Alias: zero-length topic name with the alias [MQTT-3.3.2-1] allows it at 5.0.
///
/// There is no public constructor for the empty topic of an aliased PUBLISH, so the expected
/// packet takes its topic from the decoded one (after checking it is empty); every other field
/// is written by hand.
#[test]
fn publish_v5_topic_alias_with_empty_topic() {
    let wire = h("
        30 07                // PUBLISH QoS 0, remaining length 7
        00 00                // topic name '' (zero length)
        03                   // property length 3
          23 00 07           //   Topic Alias 7
        7a                   // payload 'z'
    ");
    let Ok(Decoded::Packet(Packet::Publish(decoded))) = decode_all(&wire, V5, u32::MAX) else {
        panic!("aliased PUBLISH must decode");
    };
    assert!(decoded.topic.is_empty());
    assert_eq!(decoded.topic.as_str(), "");
    let expected = Publish {
        dup: false,
        qos: QosPid::AtMostOnce,
        retain: false,
        topic: decoded.topic.clone(),
        properties: props(vec![Property::TopicAlias(nz16(7))]),
        payload: Bytes::from_static(b"z"),
    };
    check(&[V5], Packet::Publish(expected), &wire);
}

/// Remaining length as a variable byte integer at its size boundaries [MQTT-1.5.5]:
/// 127 (1 byte), 128 and 16383 (2 bytes), 16384 (3 bytes).
#[test]
fn publish_remaining_length_varint_boundaries() {
    for (remaining, header) in [
        (127usize, "30 7f"),
        (128, "30 80 01"),
        (16_383, "30 ff 7f"),
        (16_384, "30 80 80 01"),
        (2_097_152, "30 80 80 80 01"),
    ] {
        // topic 'a/b' takes 5 bytes; the rest is payload.
        let payload = vec![0x5a; remaining - 5];
        let mut wire = h(header);
        wire.extend_from_slice(&h("00 03 61 2f 62"));
        wire.extend_from_slice(&payload);
        let p = Publish::new(topic("a/b"), payload);
        check(&[V3_1_1], Packet::Publish(p), &wire);
    }
}

// ---------------------------------------------------------------------------------------------
// PUBACK, PUBREC, PUBREL, PUBCOMP [MQTT-3.4 .. 3.7]
// ---------------------------------------------------------------------------------------------

golden!(
    /// At 5.0 the reason code and properties are omitted when Success and empty
    /// ([MQTT-3.4.2.1]): the same two bytes at every level.
    puback_short,
    [V3_1, V3_1_1, V5],
    Packet::PubAck(PubResponse::new(pid(1))),
    "
    40 02                    // PUBACK, remaining length 2
    00 01                    // packet identifier 1
    "
);

golden!(
    pubrec_short,
    [V3_1, V3_1_1, V5],
    Packet::PubRec(PubResponse::new(pid(2))),
    "
    50 02                    // PUBREC, remaining length 2
    00 02                    // packet identifier 2
    "
);

golden!(
    /// PUBREL fixed header flags are 0010 [MQTT-3.6.1-1].
    pubrel_short,
    [V3_1, V3_1_1, V5],
    Packet::PubRel(PubResponse::new(pid(3))),
    "
    62 02                    // PUBREL (flags 0010), remaining length 2
    00 03                    // packet identifier 3
    "
);

golden!(
    pubcomp_short,
    [V3_1, V3_1_1, V5],
    Packet::PubComp(PubResponse::new(pid(4))),
    "
    70 02                    // PUBCOMP, remaining length 2
    00 04                    // packet identifier 4
    "
);

golden!(
    /// Reason code without properties: remaining length 3 [MQTT-3.4.2.2.1].
    puback_v5_reason_only,
    [V5],
    Packet::PubAck(PubResponse::with_reason(pid(1), ReasonCode::NoMatchingSubscribers)),
    "
    40 03                    // PUBACK, remaining length 3
    00 01                    // packet identifier 1
    10                       // reason code 0x10 No matching subscribers
    "
);

golden!(
    pubrec_v5_reason_only,
    [V5],
    Packet::PubRec(PubResponse::with_reason(
        pid(2),
        ReasonCode::PacketIdentifierInUse
    )),
    "
    50 03                    // PUBREC, remaining length 3
    00 02                    // packet identifier 2
    91                       // reason code 0x91 Packet Identifier in use
    "
);

golden!(
    pubrel_v5_reason_only,
    [V5],
    Packet::PubRel(PubResponse::with_reason(
        pid(3),
        ReasonCode::PacketIdentifierNotFound
    )),
    "
    62 03                    // PUBREL, remaining length 3
    00 03                    // packet identifier 3
    92                       // reason code 0x92 Packet Identifier not found
    "
);

golden!(
    pubcomp_v5_reason_only,
    [V5],
    Packet::PubComp(PubResponse::with_reason(
        pid(4),
        ReasonCode::PacketIdentifierNotFound
    )),
    "
    70 03                    // PUBCOMP, remaining length 3
    00 04                    // packet identifier 4
    92                       // reason code 0x92 Packet Identifier not found
    "
);

golden!(
    puback_v5_long_with_reason_string,
    [V5],
    Packet::PubAck(PubResponse {
        packet_id: pid(1),
        reason_code: ReasonCode::UnspecifiedError,
        properties: props(vec![Property::ReasonString(s("bad"))]),
    }),
    "
    40 0a                    // PUBACK, remaining length 10
    00 01                    // packet identifier 1
    80                       // reason code 0x80 Unspecified error
    06                       // property length 6
      1f 00 03 62 61 64      //   Reason String 'bad'
    "
);

golden!(
    pubrec_v5_long_with_reason_string,
    [V5],
    Packet::PubRec(PubResponse {
        packet_id: pid(2),
        reason_code: ReasonCode::QuotaExceeded,
        properties: props(vec![Property::ReasonString(s("full"))]),
    }),
    "
    50 0b                    // PUBREC, remaining length 11
    00 02                    // packet identifier 2
    97                       // reason code 0x97 Quota exceeded
    07                       // property length 7
      1f 00 04 66 75 6c 6c   //   Reason String 'full'
    "
);

golden!(
    /// Success with properties: the reason code must then be present.
    pubcomp_v5_long_success_with_user_property,
    [V5],
    Packet::PubComp(PubResponse {
        packet_id: pid(4),
        reason_code: ReasonCode::Success,
        properties: props(vec![Property::UserProperty(s("k"), s("v"))]),
    }),
    "
    70 0b                    // PUBCOMP, remaining length 11
    00 04                    // packet identifier 4
    00                       // reason code Success
    07                       // property length 7
      26 00 01 6b 00 01 76   //   User Property k=v
    "
);

golden!(
    pubrel_v5_long_with_reason_string,
    [V5],
    Packet::PubRel(PubResponse {
        packet_id: pid(3),
        reason_code: ReasonCode::PacketIdentifierNotFound,
        properties: props(vec![Property::ReasonString(s("?"))]),
    }),
    "
    62 08                    // PUBREL, remaining length 8
    00 03                    // packet identifier 3
    92                       // reason code 0x92
    04                       // property length 4
      1f 00 01 3f            //   Reason String '?'
    "
);

/// [MQTT-3.4.2.2.1] "If the Remaining Length is less than 4 there is no Property Length and the
/// value of 0 is used": a reason code with an explicit empty property list is the same packet.
#[test]
fn puback_v5_explicit_empty_properties_decode() {
    check_decode_only(
        V5,
        &h("40 04 00 01 10 00"),
        Packet::PubAck(PubResponse::with_reason(
            pid(1),
            ReasonCode::NoMatchingSubscribers,
        )),
        &h("40 03 00 01 10"),
    );
    check_decode_only(
        V5,
        &h("40 04 00 01 00 00"),
        Packet::PubAck(PubResponse::new(pid(1))),
        &h("40 02 00 01"),
    );
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE, SUBACK [MQTT-3.8], [MQTT-3.9]
// ---------------------------------------------------------------------------------------------

golden!(
    /// SUBSCRIBE fixed header flags 0010 [MQTT-3.8.1-1]; options byte is the plain QoS.
    subscribe_v3,
    [V3_1, V3_1_1],
    Packet::Subscribe(Subscribe::new(
        pid(10),
        vec![
            (filter("a/b"), SubscriptionOptions::new(QoS::AtLeastOnce)),
            (filter("c/#"), SubscriptionOptions::new(QoS::ExactlyOnce)),
        ],
    )),
    "
    82 0e                    // SUBSCRIBE (flags 0010), remaining length 14
    00 0a                    // packet identifier 10
    00 03 61 2f 62  01       // 'a/b', requested QoS 1
    00 03 63 2f 23  02       // 'c/#', requested QoS 2
    "
);

golden!(
    /// Options bits at 5.0 [MQTT-3.8.3.1]: QoS bits 0-1, No Local bit 2, Retain As Published
    /// bit 3, Retain Handling bits 4-5.
    subscribe_v5_options_and_subscription_identifier,
    [V5],
    Packet::Subscribe(Subscribe {
        packet_id: pid(10),
        properties: props(vec![Property::SubscriptionIdentifier(nz32(5))]),
        filters: vec![
            (
                filter("a/b"),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            ),
            (
                filter("$share/g/c"),
                SubscriptionOptions {
                    qos: QoS::AtMostOnce,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: RetainHandling::SendIfNew,
                },
            ),
        ],
    }),
    "
    82 18                    // SUBSCRIBE, remaining length 24
    00 0a                    // packet identifier 10
    02                       // property length 2
      0b 05                  //   Subscription Identifier 5
    00 03 61 2f 62           // 'a/b'
    2d                       //   options: RH 2 (20) | RAP (08) | NL (04) | QoS 1
    00 0a 24 73 68 61 72 65 2f 67 2f 63   // '$share/g/c'
    10                       //   options: RH 1 (10), QoS 0
    "
);

golden!(
    subscribe_v5_plain,
    [V5],
    Packet::Subscribe(Subscribe::new(
        pid(1),
        vec![(filter("a/b"), SubscriptionOptions::new(QoS::ExactlyOnce))],
    )),
    "
    82 09                    // SUBSCRIBE, remaining length 9
    00 01                    // packet identifier 1
    00                       // property length 0
    00 03 61 2f 62  02       // 'a/b', QoS 2, other options 0
    "
);

golden!(
    /// 3.1.1 SUBACK return codes 0x00, 0x01, 0x02 and 0x80 (failure) [MQTT-3.9.3].
    suback_v3_with_failure,
    [V3_1, V3_1_1],
    Packet::SubAck(SubAck::new(
        pid(10),
        vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ],
    )),
    "
    90 06                    // SUBACK, remaining length 6
    00 0a                    // packet identifier 10
    00 01 02 80              // granted QoS 0, 1, 2; 0x80 failure
    "
);

golden!(
    suback_v5_minimal,
    [V5],
    Packet::SubAck(SubAck::new(pid(10), vec![ReasonCode::GrantedQoS2])),
    "
    90 04                    // SUBACK, remaining length 4
    00 0a                    // packet identifier 10
    00                       // property length 0
    02                       // Granted QoS 2
    "
);

golden!(
    suback_v5_with_properties,
    [V5],
    Packet::SubAck(SubAck {
        packet_id: pid(10),
        properties: props(vec![Property::ReasonString(s("ok"))]),
        reason_codes: vec![
            ReasonCode::GrantedQoS1,
            ReasonCode::NotAuthorized,
            ReasonCode::WildcardSubscriptionsNotSupported,
        ],
    }),
    "
    90 0b                    // SUBACK, remaining length 11
    00 0a                    // packet identifier 10
    05                       // property length 5
      1f 00 02 6f 6b         //   Reason String 'ok'
    01 87 a2                 // Granted QoS 1, Not authorized, Wildcard Subscriptions not supported
    "
);

// ---------------------------------------------------------------------------------------------
// UNSUBSCRIBE, UNSUBACK [MQTT-3.10], [MQTT-3.11]
// ---------------------------------------------------------------------------------------------

golden!(
    /// UNSUBSCRIBE fixed header flags 0010 [MQTT-3.10.1-1].
    unsubscribe_v3,
    [V3_1, V3_1_1],
    Packet::Unsubscribe(Unsubscribe::new(pid(11), vec![filter("a/b"), filter("#")])),
    "
    a2 0a                    // UNSUBSCRIBE (flags 0010), remaining length 10
    00 0b                    // packet identifier 11
    00 03 61 2f 62           // 'a/b'
    00 01 23                 // '#'
    "
);

golden!(
    unsubscribe_v5,
    [V5],
    Packet::Unsubscribe(Unsubscribe::new(pid(11), vec![filter("a/b"), filter("#")])),
    "
    a2 0b                    // UNSUBSCRIBE, remaining length 11
    00 0b                    // packet identifier 11
    00                       // property length 0
    00 03 61 2f 62           // 'a/b'
    00 01 23                 // '#'
    "
);

golden!(
    unsubscribe_v5_with_user_property,
    [V5],
    Packet::Unsubscribe(Unsubscribe {
        packet_id: pid(11),
        properties: props(vec![Property::UserProperty(s("k"), s("v"))]),
        filters: vec![filter("a/b"), filter("#")],
    }),
    "
    a2 12                    // UNSUBSCRIBE, remaining length 18
    00 0b                    // packet identifier 11
    07                       // property length 7
      26 00 01 6b 00 01 76   //   User Property k=v
    00 03 61 2f 62           // 'a/b'
    00 01 23                 // '#'
    "
);

golden!(
    /// 3.1.1 UNSUBACK has no payload [MQTT-3.11.3].
    unsuback_v3,
    [V3_1, V3_1_1],
    Packet::UnsubAck(UnsubAck::new(pid(11), vec![])),
    "
    b0 02                    // UNSUBACK, remaining length 2
    00 0b                    // packet identifier 11
    "
);

golden!(
    /// 5.0 UNSUBACK: one reason code per topic filter [MQTT-3.11.3-1].
    unsuback_v5,
    [V5],
    Packet::UnsubAck(UnsubAck::new(
        pid(11),
        vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
    )),
    "
    b0 05                    // UNSUBACK, remaining length 5
    00 0b                    // packet identifier 11
    00                       // property length 0
    00 11                    // Success, No subscription existed
    "
);

golden!(
    unsuback_v5_with_reason_string,
    [V5],
    Packet::UnsubAck(UnsubAck {
        packet_id: pid(11),
        properties: props(vec![Property::ReasonString(s("no"))]),
        reason_codes: vec![ReasonCode::NotAuthorized],
    }),
    "
    b0 09                    // UNSUBACK, remaining length 9
    00 0b                    // packet identifier 11
    05                       // property length 5
      1f 00 02 6e 6f         //   Reason String 'no'
    87                       // Not authorized
    "
);

// ---------------------------------------------------------------------------------------------
// PINGREQ, PINGRESP, DISCONNECT, AUTH [MQTT-3.12 .. 3.15]
// ---------------------------------------------------------------------------------------------

golden!(
    pingreq,
    [V3_1, V3_1_1, V5],
    Packet::PingReq,
    "c0 00  // PINGREQ, remaining length 0"
);

golden!(
    pingresp,
    [V3_1, V3_1_1, V5],
    Packet::PingResp,
    "d0 00  // PINGRESP, remaining length 0"
);

golden!(
    /// At 5.0 the reason code (Normal disconnection) and properties may be omitted
    /// [MQTT-3.14.2.1]: the same two bytes at every level.
    disconnect_short,
    [V3_1, V3_1_1, V5],
    Packet::Disconnect(Disconnect::default()),
    "e0 00  // DISCONNECT, remaining length 0"
);

golden!(
    disconnect_v5_reason_and_properties,
    [V5],
    Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::DisconnectWithWillMessage,
        properties: props(vec![
            Property::SessionExpiryInterval(0),
            Property::ReasonString(s("bye")),
        ]),
    }),
    "
    e0 0d                    // DISCONNECT, remaining length 13
    04                       // reason code 0x04 Disconnect with Will Message
    0b                       // property length 11
      11 00 00 00 00         //   Session Expiry Interval 0
      1f 00 03 62 79 65      //   Reason String 'bye'
    "
);

golden!(
    disconnect_v5_server_reference,
    [V5],
    Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::UseAnotherServer,
        properties: props(vec![Property::ServerReference(s("h2"))]),
    }),
    "
    e0 07                    // DISCONNECT, remaining length 7
    9c                       // reason code 0x9C Use another server
    05                       // property length 5
      1c 00 02 68 32         //   Server Reference 'h2'
    "
);

/// [MQTT-3.14.2.2.1] "If the Remaining Length is less than 2, a value of 0 is used": a
/// DISCONNECT of remaining length 1 carries only the reason code. The encoder writes the
/// property length explicitly.
#[test]
fn disconnect_v5_reason_code_only() {
    // Without properties the property length is left out (3.14.2.2.1), like PUBACK's.
    check(
        &[V5],
        Packet::Disconnect(Disconnect::new(ReasonCode::SessionTakenOver)),
        &h("e0 01 8e  // DISCONNECT, remaining length 1, Session taken over"),
    );
    // The long form with an explicit property length 0 decodes to the same packet.
    assert_eq!(
        decode_all(&h("e0 02 8e 00"), V5, u32::MAX),
        Ok(Decoded::Packet(Packet::Disconnect(Disconnect::new(
            ReasonCode::SessionTakenOver
        ))))
    );
}

/// A 3.1.1-only server answers a 5.0 CONNECT with its own two-byte CONNACK, return code 0x01
/// "unacceptable protocol version" (NATS, Aedes, amqtt): at 5.0 it reads as 0x84 Unsupported
/// Protocol Version, not as a malformed packet.
#[test]
fn connack_v3_answer_to_a_v5_connect_is_unsupported_protocol_version() {
    for (wire, rc) in [
        ("20 02 00 01", ReasonCode::UnsupportedProtocolVersion),
        ("20 02 00 00", ReasonCode::UnsupportedProtocolVersion),
        ("20 02 00 05", ReasonCode::NotAuthorized),
    ] {
        assert_eq!(
            decode_all(&h(wire), V5, u32::MAX),
            Ok(Decoded::Packet(Packet::ConnAck(ConnAck::new(false, rc)))),
            "{wire}"
        );
    }
}

/// Every reason code of the DISCONNECT table (Table 3-10 of MQTT 5.0, [MQTT-3.14.2-1]) is
/// accepted and round-trips.
#[test]
fn disconnect_v5_every_reason_code_of_the_table() {
    let table: [u8; 29] = [
        0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
        0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
    ];
    for code in table {
        let rc = ReasonCode::try_from(code).expect("defined reason code");
        let wire: Vec<u8> = if code == 0 {
            h("e0 00")
        } else {
            vec![0xe0, 0x01, code]
        };
        check(&[V5], Packet::Disconnect(Disconnect::new(rc)), &wire);
    }
}

golden!(
    /// AUTH with Success and no properties has remaining length 0 [MQTT-3.15.2.1].
    auth_v5_short,
    [V5],
    Packet::Auth(Auth::default()),
    "f0 00  // AUTH, remaining length 0"
);

golden!(
    auth_v5_with_method_and_data,
    [V5],
    Packet::Auth(Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: props(vec![
            Property::AuthenticationMethod(s("PLAIN")),
            Property::AuthenticationData(Bytes::from_static(&[1, 2, 3])),
        ]),
    }),
    "
    f0 10                    // AUTH, remaining length 16
    18                       // reason code 0x18 Continue authentication
    0e                       // property length 14
      15 00 05 50 4c 41 49 4e   // Authentication Method 'PLAIN'
      16 00 03 01 02 03      //   Authentication Data 01 02 03
    "
);

// ---------------------------------------------------------------------------------------------
// Interoperability with a real broker (Mosquitto)
// ---------------------------------------------------------------------------------------------

struct Raw {
    stream: TcpStream,
    level: ProtocolLevel,
    inbuf: BytesMut,
}

impl Raw {
    fn connect(broker: &Mosquitto, level: ProtocolLevel) -> Raw {
        let stream = TcpStream::connect(broker.addr()).expect("connect to mosquitto");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            level,
            inbuf: BytesMut::new(),
        }
    }

    fn send(&mut self, packet: &Packet) {
        let mut buf = BytesMut::new();
        encode(packet, self.level, MAX_PACKET_SIZE, &mut buf).expect("encode");
        self.stream.write_all(&buf).expect("write to broker");
    }

    fn recv(&mut self) -> Packet {
        loop {
            match decode(&mut self.inbuf, self.level, MAX_PACKET_SIZE) {
                Ok(Decoded::Packet(p)) => return p,
                Ok(Decoded::Incomplete { needed }) => {
                    assert!(needed >= 1);
                    let mut chunk = [0u8; 4096];
                    let n = self.stream.read(&mut chunk).expect("read from broker");
                    assert!(n > 0, "broker closed the connection");
                    self.inbuf.extend_from_slice(&chunk[..n]);
                }
                Err(e) => panic!("cannot decode what Mosquitto sent: {e}"),
            }
        }
    }

    /// The next packet that is not a QoS 0 copy of a PUBLISH (overlapping subscriptions may
    /// deliver a message once per matching subscription).
    fn recv_skipping_qos0_publish(&mut self) -> Packet {
        loop {
            match self.recv() {
                Packet::Publish(p) if p.qos == QosPid::AtMostOnce => continue,
                other => return other,
            }
        }
    }
}

/// CONNECT/SUBSCRIBE encoded by us, CONNACK/SUBACK/PUBLISH/UNSUBACK/PINGRESP decoded by us, at
/// each protocol level, against Mosquitto.
fn interop_at(level: ProtocolLevel, client_id: &'static str) {
    let broker = Mosquitto::start();
    let topic_str = "golden/interop";

    // A retained message sent before we subscribe comes back with RETAIN set.
    broker.mosquitto_pub(&["-t", "golden/retained", "-m", "kept", "-r", "-q", "1"]);

    let mut c = Raw::connect(&broker, level);
    let mut connect = Connect::new(level, s(client_id));
    connect.keep_alive = 30;
    if level.is_v5() {
        connect.properties = props(vec![
            Property::SessionExpiryInterval(0),
            Property::ReceiveMaximum(nz16(16)),
            Property::UserProperty(s("from"), s("pigeon")),
        ]);
    }
    c.send(&Packet::Connect(Box::new(connect)));

    let Packet::ConnAck(ack) = c.recv() else {
        panic!("expected CONNACK")
    };
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert!(!ack.session_present, "clean start: no session");
    if level.is_v5() && client_id.is_empty() {
        // [MQTT-3.2.2-16]: the server must assign one and send it back.
        let assigned = ack
            .properties
            .assigned_client_identifier()
            .expect("Assigned Client Identifier for an empty client id");
        assert!(!assigned.is_empty());
    } else {
        assert!(ack.properties.assigned_client_identifier().is_none());
    }
    if !level.is_v5() {
        assert!(ack.properties.is_empty());
    }

    // SUBSCRIBE to two filters.
    let mut sub = Subscribe::new(
        pid(1),
        vec![
            (
                filter(topic_str),
                SubscriptionOptions::new(QoS::AtLeastOnce),
            ),
            (
                filter("golden/+"),
                SubscriptionOptions::new(QoS::AtMostOnce),
            ),
        ],
    );
    if level.is_v5() {
        sub.properties = props(vec![Property::SubscriptionIdentifier(nz32(42))]);
        // No Local on the second filter only (it is not shared).
        sub.filters[1].1.no_local = true;
        sub.filters[1].1.retain_handling = RetainHandling::DoNotSend;
    }
    c.send(&Packet::Subscribe(sub));
    let Packet::SubAck(suback) = c.recv() else {
        panic!("expected SUBACK")
    };
    assert_eq!(suback.packet_id, pid(1));
    assert_eq!(
        suback.reason_codes,
        vec![ReasonCode::GrantedQoS1, ReasonCode::Success]
    );

    if !level.is_v5() {
        // The retained message matches 'golden/+' (QoS 0) and arrives with RETAIN set.
        let Packet::Publish(retained) = c.recv() else {
            panic!("expected retained PUBLISH")
        };
        assert_eq!(retained.topic.as_str(), "golden/retained");
        assert!(
            retained.retain,
            "retained message keeps RETAIN on subscribe"
        );
        assert_eq!(&retained.payload[..], b"kept");
        assert_eq!(retained.qos, QosPid::AtMostOnce);
    }
    // At 5.0 'golden/+' has Retain Handling 2: no retained message is sent.

    // A QoS 1 message from another client.
    let mut args = vec!["-t", topic_str, "-m", "hello from mosquitto_pub", "-q", "1"];
    if level.is_v5() {
        args.extend_from_slice(&[
            "-V",
            "mqttv5",
            "-D",
            "publish",
            "user-property",
            "k1",
            "v1",
            "-D",
            "publish",
            "user-property",
            "k2",
            "v2",
            "-D",
            "publish",
            "content-type",
            "text/plain",
        ]);
    }
    broker.mosquitto_pub(&args);

    // It matches both filters; Mosquitto may send one copy per matching subscription: skip
    // QoS 0 copies until the QoS 1 one arrives.
    let publish = loop {
        let Packet::Publish(p) = c.recv() else {
            panic!("expected PUBLISH")
        };
        assert_eq!(p.topic.as_str(), topic_str);
        assert_eq!(&p.payload[..], b"hello from mosquitto_pub");
        assert!(!p.retain);
        assert!(!p.dup);
        if p.qos != QosPid::AtMostOnce {
            break p;
        }
    };
    let QosPid::AtLeastOnce(publish_id) = publish.qos else {
        panic!("expected QoS 1, got {:?}", publish.qos)
    };
    if level.is_v5() {
        let users: Vec<(&str, &str)> = publish
            .properties
            .user_properties()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            users,
            [("k1", "v1"), ("k2", "v2")],
            "user properties in order"
        );
        assert_eq!(
            publish.properties.content_type().map(|c| c.as_str()),
            Some("text/plain")
        );
        assert!(
            publish
                .properties
                .subscription_identifiers()
                .any(|id| id.get() == 42),
            "Subscription Identifier of our SUBSCRIBE: {:?}",
            publish.properties
        );
    } else {
        assert!(publish.properties.is_empty());
    }
    c.send(&Packet::PubAck(PubResponse::new(publish_id)));

    // UNSUBSCRIBE -> UNSUBACK
    c.send(&Packet::Unsubscribe(Unsubscribe::new(
        pid(2),
        vec![filter(topic_str), filter("never/subscribed")],
    )));
    let Packet::UnsubAck(unsuback) = c.recv_skipping_qos0_publish() else {
        panic!("expected UNSUBACK")
    };
    assert_eq!(unsuback.packet_id, pid(2));
    if level.is_v5() {
        assert_eq!(
            unsuback.reason_codes,
            vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        );
    } else {
        assert!(unsuback.reason_codes.is_empty());
    }

    // PINGREQ -> PINGRESP
    c.send(&Packet::PingReq);
    assert_eq!(c.recv_skipping_qos0_publish(), Packet::PingResp);

    c.send(&Packet::Disconnect(Disconnect::default()));
    // The broker closes the connection after DISCONNECT.
    let mut rest = Vec::new();
    let _ = c.stream.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "nothing after DISCONNECT: {}",
        hexdump(&rest)
    );
}

#[test]
fn interop_mosquitto_v3_1() {
    interop_at(V3_1, "pigeon-golden-31");
}

#[test]
fn interop_mosquitto_v3_1_1() {
    interop_at(V3_1_1, "pigeon-golden-311");
}

#[test]
fn interop_mosquitto_v5() {
    interop_at(V5, "pigeon-golden-5");
}

/// At 5.0 an empty client id gets an Assigned Client Identifier in CONNACK.
#[test]
fn interop_mosquitto_v5_assigned_client_id() {
    interop_at(V5, "");
}

/// Mosquitto refuses a 5.0 CONNECT asking for an unsupported feature with a CONNACK whose
/// reason code and properties we decode; here: a bad authentication method.
#[test]
fn interop_mosquitto_v5_connack_failure_reason() {
    let broker = Mosquitto::start();
    let mut c = Raw::connect(&broker, V5);
    let mut connect = Connect::new(V5, s("pigeon-golden-auth"));
    connect.properties = props(vec![Property::AuthenticationMethod(s("NOPE-METHOD"))]);
    c.send(&Packet::Connect(Box::new(connect)));
    let Packet::ConnAck(ack) = c.recv() else {
        panic!("expected CONNACK")
    };
    assert_eq!(ack.reason_code, ReasonCode::BadAuthenticationMethod);
    assert!(!ack.session_present);
}
