//! What the codec must refuse: one test per rule, each with the exact bytes and the exact
//! error, plus encode-side refusals and incremental (byte-at-a-time) decoding.
//!
//! Normative statements are cited as `[MQTT-x.y.z-n]` (MQTT 5.0 numbering unless the test is
//! about 3.1.1 only).

use std::num::NonZeroU32;

use bytes::{Bytes, BytesMut};
use pigeon_mqtt::codec::{
    decode, decode_framed, encode, encode_without_payload, encoded_len, DecodeError, Decoded,
    EncodeError, MAX_PACKET_SIZE,
};
use pigeon_mqtt::packet::{
    Auth, ConnAck, Connect, Disconnect, MqttString, Packet, PacketId, PacketType, Properties,
    Property, PropertyContext, PropertyId, ProtocolLevel, PubResponse, Publish, QoS, QosPid,
    ReasonCode, StringError, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use pigeon_mqtt::topic::{TopicError, TopicFilter, TopicName};

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

const V3_1: ProtocolLevel = ProtocolLevel::V3_1;
const V3_1_1: ProtocolLevel = ProtocolLevel::V3_1_1;
const V5: ProtocolLevel = ProtocolLevel::V5;
const ALL: [ProtocolLevel; 3] = [V3_1, V3_1_1, V5];

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

/// Decodes `wire` (the whole packet is present) and returns the error, checking that its
/// message names the rule.
fn decode_err(level: ProtocolLevel, wire: &[u8]) -> DecodeError {
    let mut buf = BytesMut::from(wire);
    match decode(&mut buf, level, u32::MAX) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("[MQTT-"),
                "error message does not name a rule: {msg}"
            );
            e
        }
        Ok(other) => panic!("{wire:02x?} at {level} must be rejected, got {other:?}"),
    }
}

fn decode_ok(level: ProtocolLevel, wire: &[u8]) -> Packet {
    let mut buf = BytesMut::from(wire);
    match decode(&mut buf, level, u32::MAX) {
        Ok(Decoded::Packet(p)) => {
            assert!(buf.is_empty(), "whole packet consumed");
            p
        }
        other => panic!("{wire:02x?} at {level} must decode, got {other:?}"),
    }
}

/// One `#[test]`: the bytes are rejected with exactly this error at every listed level.
macro_rules! reject {
    ($(#[$meta:meta])* $name:ident, [$($level:ident),+ $(,)?], $wire:expr, $err:expr $(,)?) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            let wire = h($wire);
            for level in [$($level),+] {
                assert_eq!(decode_err(level, &wire), $err, "at {level}");
            }
        }
    };
}

/// Encodes and expects an error; the buffer (pre-filled) must be left exactly as it was, for
/// `encode` and `encode_without_payload` alike, and `encoded_len` must fail the same way
/// (except for the size limit, which `encoded_len` does not know).
fn encode_err(packet: &Packet, level: ProtocolLevel, max: u32) -> EncodeError {
    let mut buf = BytesMut::from(&b"untouched"[..]);
    let err = encode(packet, level, max, &mut buf).expect_err("encode must refuse");
    assert_eq!(&buf[..], b"untouched", "nothing written on {err:?}");
    let err2 = encode_without_payload(packet, level, max, &mut buf)
        .expect_err("encode_without_payload must refuse");
    assert_eq!(err, err2);
    assert_eq!(&buf[..], b"untouched", "nothing written on {err:?}");
    if !matches!(err, EncodeError::PacketTooLarge { .. }) {
        assert_eq!(encoded_len(packet, level), Err(err.clone()));
    }
    err
}

fn encode_to_vec(packet: &Packet, level: ProtocolLevel) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(packet, level, u32::MAX, &mut buf).expect("encode");
    buf.to_vec()
}

// ---------------------------------------------------------------------------------------------
// Fixed header: variable byte integer, size, type, flags
// ---------------------------------------------------------------------------------------------

reject!(
    /// [MQTT-1.5.5-1] at most four bytes; a fifth is malformed.
    varint_of_five_bytes,
    [V3_1, V3_1_1, V5],
    "30 ff ff ff ff 7f",
    DecodeError::VarIntTooLong
);

/// The fifth byte need not even arrive: four continuation bytes are already malformed.
#[test]
fn varint_of_five_bytes_detected_after_four() {
    for level in ALL {
        let mut buf = BytesMut::from(&h("30 ff ff ff ff")[..]);
        assert_eq!(
            decode(&mut buf, level, u32::MAX),
            Err(DecodeError::VarIntTooLong)
        );
        // While the fourth byte is missing, more is needed.
        let mut buf = BytesMut::from(&h("30 ff ff ff")[..]);
        assert_eq!(
            decode(&mut buf, level, u32::MAX),
            Ok(Decoded::Incomplete { needed: 1 })
        );
    }
}

reject!(
    /// [MQTT-1.5.5-1] "the minimum number of bytes": 80 00 is a two-byte encoding of 0.
    varint_not_minimal,
    [V3_1, V3_1_1, V5],
    "30 80 00",
    DecodeError::VarIntNotMinimal
);

reject!(
    varint_not_minimal_three_bytes,
    [V3_1, V3_1_1, V5],
    "c0 80 80 00",
    DecodeError::VarIntNotMinimal
);

reject!(
    /// 81 00 encodes 1 in two bytes.
    varint_not_minimal_nonzero,
    [V3_1, V3_1_1, V5],
    "30 81 00  00 03 61 2f 62",
    DecodeError::VarIntNotMinimal
);

reject!(
    /// The Subscription Identifier is a variable byte integer too [MQTT-1.5.5-1].
    varint_not_minimal_in_subscription_identifier,
    [V5],
    "
    30 0a                    // PUBLISH, remaining length 10
    00 03 61 2f 62           // 'a/b'
    04                       // property length 4
      0b 81 00               //   Subscription Identifier 1, in two bytes
      00                     //   (padding so the property list length is right)
    ",
    DecodeError::VarIntNotMinimal
);

/// [MQTT-3.1.2-24] / [MQTT-3.2.2-15]: the remaining length in the fixed header is enough to
/// refuse an oversized packet, before its body arrives; the buffer is left untouched.
#[test]
fn remaining_length_above_max_rejected_from_fixed_header() {
    let cases: [(&str, u32, usize); 4] = [
        // two bytes: remaining length 101 -> 103 bytes in all
        ("30 65", 100, 103),
        // three bytes: remaining length 255 -> 258
        ("30 ff 01", 100, 258),
        // four bytes: remaining length 16384 -> 16388
        ("30 80 80 01", 16_387, 16_388),
        // five bytes: the largest remaining length 268,435,455 -> 268,435,460
        (
            "30 ff ff ff 7f",
            MAX_PACKET_SIZE - 1,
            MAX_PACKET_SIZE as usize,
        ),
    ];
    for level in ALL {
        for (header, max, size) in cases {
            let bytes = h(header);
            let mut buf = BytesMut::from(&bytes[..]);
            let err = decode(&mut buf, level, max).expect_err("too large");
            assert_eq!(err, DecodeError::PacketTooLarge { size, max });
            assert!(err.to_string().contains("[MQTT-"));
            assert_eq!(&buf[..], &bytes[..], "buffer untouched");
            // With a limit that allows it, the same header just needs the body.
            let mut buf = BytesMut::from(&bytes[..]);
            assert_eq!(
                decode(&mut buf, level, size as u32),
                Ok(Decoded::Incomplete {
                    needed: size - bytes.len()
                })
            );
        }
    }
}

/// [MQTT-2.1.3-1]: reserved flag bits of every packet type but PUBLISH must be exactly as the
/// table of section 2.1.3 says (0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE; 0000 otherwise).
#[test]
fn reserved_flag_bits_of_every_non_publish_type() {
    for level in ALL {
        for packet in samples(level) {
            if matches!(packet, Packet::Publish(_)) {
                continue;
            }
            let wire = encode_to_vec(&packet, level);
            let required = wire[0] & 0x0f;
            let expected_required = match packet.packet_type() {
                PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
                _ => 0,
            };
            assert_eq!(required, expected_required, "{:?}", packet.packet_type());
            for flags in 0..16u8 {
                if flags == required {
                    continue;
                }
                let mut bad = wire.clone();
                bad[0] = (bad[0] & 0xf0) | flags;
                assert_eq!(
                    decode_err(level, &bad),
                    DecodeError::InvalidFlags {
                        packet: packet.packet_type(),
                        flags
                    },
                    "{:?} with flags {flags:04b} at {level}",
                    packet.packet_type()
                );
            }
        }
    }
}

reject!(
    puback_flags_0001,
    [V3_1, V3_1_1, V5],
    "41 02 00 01",
    DecodeError::InvalidFlags {
        packet: PacketType::PubAck,
        flags: 0x1
    }
);

reject!(
    /// [MQTT-3.6.1-1] PUBREL must have flags 0010.
    pubrel_without_bit_1,
    [V3_1, V3_1_1, V5],
    "60 02 00 01",
    DecodeError::InvalidFlags {
        packet: PacketType::PubRel,
        flags: 0x0
    }
);

reject!(
    /// [MQTT-3.8.1-1] SUBSCRIBE must have flags 0010.
    subscribe_flags_0000,
    [V3_1, V3_1_1],
    "80 08 00 01 00 03 61 2f 62 00",
    DecodeError::InvalidFlags {
        packet: PacketType::Subscribe,
        flags: 0x0
    }
);

reject!(
    /// [MQTT-3.10.1-1] UNSUBSCRIBE must have flags 0010.
    unsubscribe_flags_0000,
    [V3_1, V3_1_1],
    "a0 07 00 01 00 03 61 2f 62",
    DecodeError::InvalidFlags {
        packet: PacketType::Unsubscribe,
        flags: 0x0
    }
);

reject!(
    /// [MQTT-3.3.1-4] a PUBLISH must not have both QoS bits set.
    publish_qos_3,
    [V3_1, V3_1_1],
    "36 07  00 03 61 2f 62  00 01",
    DecodeError::InvalidQoS
);

reject!(
    publish_qos_3_v5,
    [V5],
    "36 08  00 03 61 2f 62  00 01  00",
    DecodeError::InvalidQoS
);

reject!(
    /// [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
    publish_dup_on_qos_0,
    [V3_1, V3_1_1],
    "38 05  00 03 61 2f 62",
    DecodeError::DupOnQoS0
);

reject!(
    publish_dup_on_qos_0_v5,
    [V5],
    "39 06  00 03 61 2f 62  00",
    DecodeError::DupOnQoS0
);

/// [MQTT-2.1.2-1]: type 0 is reserved at every level.
#[test]
fn packet_type_0_reserved_at_every_level() {
    for level in ALL {
        assert_eq!(
            decode_err(level, &h("00 00")),
            DecodeError::ReservedPacketType {
                packet_type: 0,
                level
            }
        );
    }
}

/// Type 15 is AUTH at 5.0 and reserved below.
#[test]
fn packet_type_15_reserved_below_5() {
    for level in [V3_1, V3_1_1] {
        assert_eq!(
            decode_err(level, &h("f0 00")),
            DecodeError::ReservedPacketType {
                packet_type: 15,
                level
            }
        );
    }
    assert_eq!(decode_ok(V5, &h("f0 00")), Packet::Auth(Auth::default()));
}

// ---------------------------------------------------------------------------------------------
// Strings and binary data [MQTT-1.5.4], [MQTT-1.5.6]
// ---------------------------------------------------------------------------------------------

reject!(
    /// [MQTT-1.5.4-1] well-formed UTF-8 only.
    string_not_utf8,
    [V3_1, V3_1_1, V5],
    "30 04  00 02 ff fe",
    DecodeError::InvalidString {
        packet: PacketType::Publish,
        field: "topic name",
        source: StringError::InvalidUtf8
    }
);

reject!(
    /// [MQTT-1.5.4-1] an overlong encoding (c0 80 for U+0000) is not well-formed.
    string_overlong_utf8,
    [V3_1, V3_1_1, V5],
    "30 05  00 03 61 c0 80",
    DecodeError::InvalidString {
        packet: PacketType::Publish,
        field: "topic name",
        source: StringError::InvalidUtf8
    }
);

reject!(
    /// [MQTT-1.5.4-2] no U+0000.
    string_with_null_character,
    [V3_1, V3_1_1, V5],
    "30 05  00 03 61 00 62",
    DecodeError::InvalidString {
        packet: PacketType::Publish,
        field: "topic name",
        source: StringError::NullCharacter
    }
);

reject!(
    /// [MQTT-1.5.4-1] UTF-16 surrogates (U+D800..U+DFFF) encoded in UTF-8 are not allowed.
    string_with_utf16_surrogate,
    [V3_1, V3_1_1, V5],
    "30 05  00 03 ed a0 80",
    DecodeError::InvalidString {
        packet: PacketType::Publish,
        field: "topic name",
        source: StringError::InvalidUtf8
    }
);

reject!(
    /// A string property is checked the same way (User Property name with U+0000).
    string_property_with_null_character,
    [V5],
    "
    30 0d                    // PUBLISH, remaining length 13
    00 03 61 2f 62           // 'a/b'
    07                       // property length 7
      26 00 01 00 00 01 76   //   User Property '\\0'='v'
    ",
    DecodeError::InvalidString {
        packet: PacketType::Publish,
        field: "property value",
        source: StringError::NullCharacter
    }
);

reject!(
    client_identifier_not_utf8,
    [V3_1_1],
    "
    10 0e  00 04 4d 51 54 54  04  02  00 3c
    00 02 c3 28              // client identifier: invalid two-byte sequence
    ",
    DecodeError::InvalidString {
        packet: PacketType::Connect,
        field: "client identifier",
        source: StringError::InvalidUtf8
    }
);

reject!(
    /// [MQTT-1.5.4]: the length prefix says 5 bytes, the packet has 2 left.
    string_length_past_packet_end,
    [V3_1, V3_1_1, V5],
    "30 04  00 05 61 62",
    DecodeError::Truncated {
        packet: PacketType::Publish,
        field: "topic name"
    }
);

reject!(
    /// [MQTT-1.5.6]: binary data (the password) longer than what is left.
    binary_length_past_packet_end,
    [V3_1_1],
    "
    10 15                    // CONNECT, remaining length 21
    00 04 4d 51 54 54  04    // 'MQTT' level 4
    c2                       // flags: user name, password, clean session
    00 3c                    // keep alive
    00 02 63 31              // client identifier 'c1'
    00 01 75                 // user name 'u'
    00 0a 70 77              // password: length 10, only 2 bytes
    ",
    DecodeError::Truncated {
        packet: PacketType::Connect,
        field: "password"
    }
);

reject!(
    /// Binary data inside a property (Correlation Data) past the end of the property list.
    binary_property_past_end,
    [V5],
    "
    30 0b                    // PUBLISH, remaining length 11
    00 03 61 2f 62           // 'a/b'
    05                       // property length 5
      09 00 05 ca fe         //   Correlation Data: length 5, 2 bytes
    ",
    DecodeError::Truncated {
        packet: PacketType::Publish,
        field: "property value"
    }
);

reject!(
    property_length_past_packet_end,
    [V5],
    "
    30 08                    // PUBLISH, remaining length 8
    00 03 61 2f 62           // 'a/b'
    0a                       // property length 10 ...
      01 01                  //   ... but only 2 bytes left
    ",
    DecodeError::Truncated {
        packet: PacketType::Publish,
        field: "properties"
    }
);

// ---------------------------------------------------------------------------------------------
// Trailing bytes [MQTT-2.1.4]
// ---------------------------------------------------------------------------------------------

reject!(
    pingreq_with_remaining_length_1,
    [V3_1, V3_1_1, V5],
    "c0 01 00",
    DecodeError::TrailingBytes {
        packet: PacketType::PingReq,
        extra: 1
    }
);

reject!(
    pingresp_with_remaining_length_1,
    [V3_1, V3_1_1, V5],
    "d0 01 00",
    DecodeError::TrailingBytes {
        packet: PacketType::PingResp,
        extra: 1
    }
);

reject!(
    /// A 3.1.1 PUBACK is exactly two bytes of packet identifier [MQTT-3.4.2].
    puback_v3_with_remaining_length_3,
    [V3_1, V3_1_1],
    "40 03 00 01 00",
    DecodeError::TrailingBytes {
        packet: PacketType::PubAck,
        extra: 1
    }
);

reject!(
    pubrel_v3_with_remaining_length_4,
    [V3_1, V3_1_1],
    "62 04 00 01 00 00",
    DecodeError::TrailingBytes {
        packet: PacketType::PubRel,
        extra: 2
    }
);

reject!(
    connack_v3_with_extra_byte,
    [V3_1, V3_1_1],
    "20 03 00 00 00",
    DecodeError::TrailingBytes {
        packet: PacketType::ConnAck,
        extra: 1
    }
);

reject!(
    connack_v5_with_extra_byte,
    [V5],
    "20 04 00 00 00 ff",
    DecodeError::TrailingBytes {
        packet: PacketType::ConnAck,
        extra: 1
    }
);

reject!(
    /// 3.1.1 UNSUBACK has no payload [MQTT-3.11.3].
    unsuback_v3_with_payload,
    [V3_1, V3_1_1],
    "b0 03 00 01 00",
    DecodeError::TrailingBytes {
        packet: PacketType::UnsubAck,
        extra: 1
    }
);

reject!(
    /// 3.1.1 DISCONNECT has no variable header or payload [MQTT-3.14].
    disconnect_v3_with_body,
    [V3_1, V3_1_1],
    "e0 01 00",
    DecodeError::TrailingBytes {
        packet: PacketType::Disconnect,
        extra: 1
    }
);

reject!(
    puback_v5_after_properties,
    [V5],
    "40 05 00 01 00 00 ff",
    DecodeError::TrailingBytes {
        packet: PacketType::PubAck,
        extra: 1
    }
);

reject!(
    connect_with_extra_byte,
    [V3_1_1],
    "10 0f  00 04 4d 51 54 54  04  02  00 3c  00 02 63 31  ff",
    DecodeError::TrailingBytes {
        packet: PacketType::Connect,
        extra: 1
    }
);

reject!(
    auth_after_properties,
    [V5],
    "f0 03 18 00 00",
    DecodeError::TrailingBytes {
        packet: PacketType::Auth,
        extra: 1
    }
);

// ---------------------------------------------------------------------------------------------
// Properties [MQTT-2.2.2]
// ---------------------------------------------------------------------------------------------

reject!(
    /// Topic Alias is a PUBLISH property only (section 2.2.2.2 table).
    topic_alias_in_connack,
    [V5],
    "
    20 06  00 00             // CONNACK, flags 0, Success
    03                       // property length 3
      23 00 01               //   Topic Alias 1
    ",
    DecodeError::PropertyNotAllowed {
        context: PropertyContext::ConnAck,
        id: PropertyId::TopicAlias
    }
);

reject!(
    session_expiry_in_publish,
    [V5],
    "
    30 0b  00 03 61 2f 62
    05                       // property length 5
      11 00 00 00 01         //   Session Expiry Interval 1
    ",
    DecodeError::PropertyNotAllowed {
        context: PropertyContext::Publish,
        id: PropertyId::SessionExpiryInterval
    }
);

reject!(
    /// Will Delay Interval belongs in the will properties, not the CONNECT properties.
    will_delay_in_connect_properties,
    [V5],
    "
    10 14  00 04 4d 51 54 54  05  02  00 3c
    05                       // property length 5
      18 00 00 00 05         //   Will Delay Interval 5
    00 02 63 31
    ",
    DecodeError::PropertyNotAllowed {
        context: PropertyContext::Connect,
        id: PropertyId::WillDelayInterval
    }
);

reject!(
    subscription_identifier_in_unsubscribe,
    [V5],
    "
    a2 0a  00 01
    02                       // property length 2
      0b 01                  //   Subscription Identifier 1
    00 03 61 2f 62
    ",
    DecodeError::PropertyNotAllowed {
        context: PropertyContext::Unsubscribe,
        id: PropertyId::SubscriptionIdentifier
    }
);

reject!(
    unknown_property_identifier,
    [V5],
    "
    30 08  00 03 61 2f 62
    02                       // property length 2
      7f 00                  //   0x7f: not a property
    ",
    DecodeError::UnknownProperty {
        context: PropertyContext::Publish,
        id: 0x7f
    }
);

reject!(
    property_identifier_zero,
    [V5],
    "40 05 00 01 00 01 00",
    DecodeError::UnknownProperty {
        context: PropertyContext::PubAck,
        id: 0x00
    }
);

reject!(
    /// A Four Byte Integer property with two bytes.
    property_of_wrong_size,
    [V5],
    "
    30 09  00 03 61 2f 62
    03                       // property length 3
      02 00 00               //   Message Expiry Interval, truncated u32
    ",
    DecodeError::Truncated {
        packet: PacketType::Publish,
        field: "property value"
    }
);

reject!(
    /// [MQTT-3.3.2.3.3] "It is a Protocol Error to include the Message Expiry Interval more
    /// than once".
    message_expiry_twice_in_publish,
    [V5],
    "
    30 10  00 03 61 2f 62
    0a                       // property length 10
      02 00 00 00 01         //   Message Expiry Interval 1
      02 00 00 00 02         //   Message Expiry Interval 2
    ",
    DecodeError::DuplicateProperty {
        context: PropertyContext::Publish,
        id: PropertyId::MessageExpiryInterval
    }
);

reject!(
    /// [MQTT-3.4.2.2.2] Reason String at most once.
    reason_string_twice_in_puback,
    [V5],
    "
    40 0c  00 01  00
    08                       // property length 8
      1f 00 01 61            //   Reason String 'a'
      1f 00 01 62            //   Reason String 'b'
    ",
    DecodeError::DuplicateProperty {
        context: PropertyContext::PubAck,
        id: PropertyId::ReasonString
    }
);

reject!(
    /// Only PUBLISH may repeat the Subscription Identifier [MQTT-3.8.2.1.2].
    subscription_identifier_twice_in_subscribe,
    [V5],
    "
    82 0d  00 01
    04                       // property length 4
      0b 01  0b 02           //   Subscription Identifier 1, 2
    00 03 61 2f 62  00
    ",
    DecodeError::DuplicateProperty {
        context: PropertyContext::Subscribe,
        id: PropertyId::SubscriptionIdentifier
    }
);

/// User Property may repeat everywhere, keeping order [MQTT-3.3.2-18]; the Subscription
/// Identifier may repeat in PUBLISH [MQTT-3.3.4-4].
#[test]
fn repeated_user_property_and_subscription_identifier_accepted_in_publish() {
    let wire = h("
        30 1a  00 03 61 2f 62
        14                       // property length 20
          26 00 01 6b 00 01 31   //   User Property k=1
          0b 03                  //   Subscription Identifier 3
          26 00 01 6b 00 01 32   //   User Property k=2
          0b 04                  //   Subscription Identifier 4
          0b 03                  //   Subscription Identifier 3 again
    ");
    let Packet::Publish(p) = decode_ok(V5, &wire) else {
        panic!("PUBLISH")
    };
    let users: Vec<_> = p
        .properties
        .user_properties()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(users, [("k", "1"), ("k", "2")]);
    let ids: Vec<u32> = p
        .properties
        .subscription_identifiers()
        .map(|v| v.get())
        .collect();
    assert_eq!(ids, [3, 4, 3]);
    // And the same comes out again.
    assert_eq!(encode_to_vec(&Packet::Publish(p), V5), wire);
}

// ---------------------------------------------------------------------------------------------
// Packet identifiers, topics, topic aliases
// ---------------------------------------------------------------------------------------------

/// [MQTT-2.2.1-3]: every packet that carries a Packet Identifier needs a non-zero one.
#[test]
fn packet_identifier_zero() {
    let cases: [(ProtocolLevel, &str, PacketType); 20] = [
        (V3_1_1, "32 07 00 03 61 2f 62 00 00", PacketType::Publish),
        (V3_1_1, "34 07 00 03 61 2f 62 00 00", PacketType::Publish),
        (V5, "32 08 00 03 61 2f 62 00 00 00", PacketType::Publish),
        (V3_1_1, "40 02 00 00", PacketType::PubAck),
        (V5, "40 02 00 00", PacketType::PubAck),
        (V3_1_1, "50 02 00 00", PacketType::PubRec),
        (V5, "50 03 00 00 00", PacketType::PubRec),
        (V3_1_1, "62 02 00 00", PacketType::PubRel),
        (V5, "62 02 00 00", PacketType::PubRel),
        (V3_1_1, "70 02 00 00", PacketType::PubComp),
        (V5, "70 02 00 00", PacketType::PubComp),
        (
            V3_1_1,
            "82 08 00 00 00 03 61 2f 62 00",
            PacketType::Subscribe,
        ),
        (
            V5,
            "82 09 00 00 00 00 03 61 2f 62 00",
            PacketType::Subscribe,
        ),
        (V3_1_1, "90 03 00 00 00", PacketType::SubAck),
        (V5, "90 04 00 00 00 00", PacketType::SubAck),
        (
            V3_1_1,
            "a2 07 00 00 00 03 61 2f 62",
            PacketType::Unsubscribe,
        ),
        (V5, "a2 08 00 00 00 00 03 61 2f 62", PacketType::Unsubscribe),
        (V3_1_1, "b0 02 00 00", PacketType::UnsubAck),
        (V5, "b0 04 00 00 00 00", PacketType::UnsubAck),
        (V3_1, "40 02 00 00", PacketType::PubAck),
    ];
    for (level, wire, packet) in cases {
        assert_eq!(
            decode_err(level, &h(wire)),
            DecodeError::ZeroPacketId { packet },
            "{wire} at {level}"
        );
    }
}

reject!(
    /// [MQTT-3.3.2-8] Topic Alias 0 is not permitted.
    topic_alias_zero,
    [V5],
    "
    30 09  00 03 61 2f 62
    03                       // property length 3
      23 00 00               //   Topic Alias 0
    ",
    DecodeError::ZeroTopicAlias
);

reject!(
    /// [MQTT-4.7.3-1] topic names are at least one character; 3.1.1 has no alias.
    publish_empty_topic_v3,
    [V3_1, V3_1_1],
    "30 02  00 00",
    DecodeError::EmptyTopic
);

reject!(
    /// At 5.0 an empty topic needs a Topic Alias [MQTT-3.3.2-1]... and here has none.
    publish_empty_topic_without_alias_v5,
    [V5],
    "30 03  00 00  00",
    DecodeError::EmptyTopic
);

reject!(
    publish_empty_topic_other_properties_but_no_alias_v5,
    [V5],
    "30 05  00 00  02 01 01",
    DecodeError::EmptyTopic
);

reject!(
    /// [MQTT-3.3.2-2] the Topic Name in a PUBLISH must not contain wildcards.
    publish_topic_with_multi_level_wildcard,
    [V3_1, V3_1_1],
    "30 05  00 03 61 2f 23",
    DecodeError::InvalidTopic {
        packet: PacketType::Publish,
        source: TopicError::WildcardInName
    }
);

reject!(
    publish_topic_with_single_level_wildcard,
    [V5],
    "30 06  00 03 2b 2f 62  00",
    DecodeError::InvalidTopic {
        packet: PacketType::Publish,
        source: TopicError::WildcardInName
    }
);

reject!(
    /// [MQTT-3.1.3-11]: the Will Topic is a topic name.
    will_topic_with_wildcard,
    [V3_1_1],
    "
    10 14  00 04 4d 51 54 54  04
    06                       // flags: will, clean session
    00 3c
    00 02 63 31              // client identifier 'c1'
    00 01 23                 // will topic '#'
    00 01 78                 // will message 'x'
    ",
    DecodeError::InvalidTopic {
        packet: PacketType::Connect,
        source: TopicError::WildcardInName
    }
);

reject!(
    /// [MQTT-3.3.2-14] the Response Topic must not contain wildcards.
    response_topic_with_wildcard,
    [V5],
    "
    30 0c  00 03 61 2f 62
    06                       // property length 6
      08 00 03 72 2f 2b      //   Response Topic 'r/+'
    ",
    DecodeError::InvalidTopic {
        packet: PacketType::Publish,
        source: TopicError::WildcardInName
    }
);

reject!(
    /// [MQTT-4.7.1-1] '#' must be last, [MQTT-4.8.2-1] shared subscriptions need a share name.
    subscribe_invalid_filter,
    [V3_1_1],
    "82 0a  00 01  00 05 61 2f 23 2f 62  00",
    DecodeError::InvalidTopic {
        packet: PacketType::Subscribe,
        source: TopicError::MisplacedMultiLevelWildcard
    }
);

// ---------------------------------------------------------------------------------------------
// Empty lists
// ---------------------------------------------------------------------------------------------

reject!(
    /// [MQTT-3.9.3-1] one reason code per topic filter, so at least one.
    suback_without_reason_codes_v3,
    [V3_1, V3_1_1],
    "90 02 00 01",
    DecodeError::NoReasonCodes {
        packet: PacketType::SubAck
    }
);

reject!(
    suback_without_reason_codes_v5,
    [V5],
    "90 03 00 01 00",
    DecodeError::NoReasonCodes {
        packet: PacketType::SubAck
    }
);

reject!(
    /// [MQTT-3.11.3-1] one reason code per topic filter.
    unsuback_v5_without_reason_codes,
    [V5],
    "b0 03 00 01 00",
    DecodeError::NoReasonCodes {
        packet: PacketType::UnsubAck
    }
);

reject!(
    /// [MQTT-3.8.3-2] at least one topic filter.
    subscribe_without_filters_v3,
    [V3_1, V3_1_1],
    "82 02 00 01",
    DecodeError::NoTopicFilters {
        packet: PacketType::Subscribe
    }
);

reject!(
    subscribe_without_filters_v5,
    [V5],
    "82 03 00 01 00",
    DecodeError::NoTopicFilters {
        packet: PacketType::Subscribe
    }
);

reject!(
    /// [MQTT-3.10.3-2] at least one topic filter.
    unsubscribe_without_filters_v3,
    [V3_1, V3_1_1],
    "a2 02 00 01",
    DecodeError::NoTopicFilters {
        packet: PacketType::Unsubscribe
    }
);

reject!(
    unsubscribe_without_filters_v5,
    [V5],
    "a2 03 00 01 00",
    DecodeError::NoTopicFilters {
        packet: PacketType::Unsubscribe
    }
);

// ---------------------------------------------------------------------------------------------
// CONNACK, reason codes
// ---------------------------------------------------------------------------------------------

reject!(
    /// [MQTT-3.2.2-1] bits 7-1 of the acknowledge flags are reserved.
    connack_reserved_flag_bits_v3,
    [V3_1, V3_1_1],
    "20 02 02 00",
    DecodeError::ConnAckReservedFlags(0x02)
);

reject!(
    connack_reserved_flag_bits_v5,
    [V5],
    "20 03 80 00 00",
    DecodeError::ConnAckReservedFlags(0x80)
);

reject!(
    /// [MQTT-3.4.2-1] PUBACK must use a PUBACK reason code; 0x19 is Re-authenticate (AUTH).
    puback_reason_code_not_for_puback,
    [V5],
    "40 03 00 01 19",
    DecodeError::InvalidReasonCode {
        packet: PacketType::PubAck,
        code: 0x19
    }
);

reject!(
    /// 0x03 is not a reason code at all.
    puback_undefined_reason_code,
    [V5],
    "40 03 00 01 03",
    DecodeError::InvalidReasonCode {
        packet: PacketType::PubAck,
        code: 0x03
    }
);

reject!(
    /// [MQTT-3.6.2-1] PUBREL: only 0x00 and 0x92.
    pubrel_reason_code_not_for_pubrel,
    [V5],
    "62 03 00 01 10",
    DecodeError::InvalidReasonCode {
        packet: PacketType::PubRel,
        code: 0x10
    }
);

reject!(
    /// 3.1.1 CONNACK return codes 6-255 are reserved [MQTT-3.2.2.3].
    connack_v3_return_code_6,
    [V3_1, V3_1_1],
    "20 02 00 06",
    DecodeError::InvalidReasonCode {
        packet: PacketType::ConnAck,
        code: 6
    }
);

reject!(
    /// [MQTT-3.2.2-8] CONNACK must use a Connect Reason Code.
    connack_v5_reason_code_granted_qos_1,
    [V5],
    "20 03 00 01 00",
    DecodeError::InvalidReasonCode {
        packet: PacketType::ConnAck,
        code: 0x01
    }
);

reject!(
    /// [MQTT-3.9.3-2] (3.1.1): only 0x00, 0x01, 0x02 and 0x80.
    suback_v3_return_code_3,
    [V3_1, V3_1_1],
    "90 03 00 01 03",
    DecodeError::InvalidReasonCode {
        packet: PacketType::SubAck,
        code: 0x03
    }
);

reject!(
    /// 0x87 is a 5.0 code, not a 3.1.1 SUBACK return code.
    suback_v3_return_code_0x87,
    [V3_1, V3_1_1],
    "90 03 00 01 87",
    DecodeError::InvalidReasonCode {
        packet: PacketType::SubAck,
        code: 0x87
    }
);

reject!(
    suback_v5_reason_code_not_for_suback,
    [V5],
    "90 04 00 01 00 10",
    DecodeError::InvalidReasonCode {
        packet: PacketType::SubAck,
        code: 0x10
    }
);

reject!(
    unsuback_v5_reason_code_not_for_unsuback,
    [V5],
    "b0 04 00 01 00 02",
    DecodeError::InvalidReasonCode {
        packet: PacketType::UnsubAck,
        code: 0x02
    }
);

reject!(
    /// [MQTT-3.14.2-1] DISCONNECT must use a Disconnect Reason Code.
    disconnect_reason_code_not_for_disconnect,
    [V5],
    "e0 01 01",
    DecodeError::InvalidReasonCode {
        packet: PacketType::Disconnect,
        code: 0x01
    }
);

reject!(
    /// [MQTT-3.15.2-1] AUTH: 0x00, 0x18, 0x19 only.
    auth_reason_code_not_for_auth,
    [V5],
    "f0 02 87 00",
    DecodeError::InvalidReasonCode {
        packet: PacketType::Auth,
        code: 0x87
    }
);

// ---------------------------------------------------------------------------------------------
// CONNECT
// ---------------------------------------------------------------------------------------------

reject!(
    /// [MQTT-3.1.2-1] protocol name 'MQTT' (or 'MQIsdp' for 3.1).
    connect_bad_protocol_name,
    [V3_1, V3_1_1, V5],
    "10 0e  00 04 4d 51 54 58  04  02  00 3c  00 02 63 31",
    DecodeError::InvalidProtocolName
);

reject!(
    /// The name is case sensitive.
    connect_lower_case_protocol_name,
    [V3_1_1],
    "10 0e  00 04 6d 71 74 74  04  02  00 3c  00 02 63 31",
    DecodeError::InvalidProtocolName
);

reject!(
    /// [MQTT-3.1.2-2] unsupported protocol level.
    connect_protocol_level_6,
    [V3_1_1, V5],
    "10 0f  00 04 4d 51 54 54  06  02  00 3c  00  00 02 63 31",
    DecodeError::UnsupportedProtocolLevel(6)
);

reject!(
    /// 'MQTT' is levels 4 and 5; level 3 goes with 'MQIsdp'.
    connect_mqtt_with_level_3,
    [V3_1_1],
    "10 0e  00 04 4d 51 54 54  03  02  00 3c  00 02 63 31",
    DecodeError::UnsupportedProtocolLevel(3)
);

reject!(
    connect_mqisdp_with_level_4,
    [V3_1],
    "10 10  00 06 4d 51 49 73 64 70  04  02  00 3c  00 02 63 31",
    DecodeError::UnsupportedProtocolLevel(4)
);

reject!(
    /// [MQTT-3.1.2-3] the reserved flag (bit 0) must be 0.
    connect_reserved_flag,
    [V3_1_1],
    "10 0e  00 04 4d 51 54 54  04  03  00 3c  00 02 63 31",
    DecodeError::ConnectReservedFlag
);

reject!(
    connect_reserved_flag_v5,
    [V5],
    "10 0f  00 04 4d 51 54 54  05  01  00 3c  00  00 02 63 31",
    DecodeError::ConnectReservedFlag
);

reject!(
    /// [MQTT-3.1.2-14] Will QoS 3 is malformed.
    connect_will_qos_3,
    [V3_1_1],
    "
    10 14  00 04 4d 51 54 54  04
    1e                       // flags: will QoS 3 (18) | will | clean session
    00 3c
    00 02 63 31              // client identifier
    00 01 77                 // will topic 'w'
    00 01 78                 // will message 'x'
    ",
    DecodeError::InvalidWillFlags
);

reject!(
    /// [MQTT-3.1.2-15] Will Retain must be 0 without the Will Flag.
    connect_will_retain_without_will,
    [V3_1_1],
    "10 0e  00 04 4d 51 54 54  04  22  00 3c  00 02 63 31",
    DecodeError::InvalidWillFlags
);

reject!(
    /// [MQTT-3.1.2-13] Will QoS must be 0 without the Will Flag.
    connect_will_qos_without_will,
    [V5],
    "10 0f  00 04 4d 51 54 54  05  0a  00 3c  00  00 02 63 31",
    DecodeError::InvalidWillFlags
);

reject!(
    /// [MQTT-3.1.2-22] (3.1.1): no password without a user name.
    connect_v3_password_without_username,
    [V3_1_1],
    "
    10 12  00 04 4d 51 54 54  04
    42                       // flags: password | clean session
    00 3c
    00 02 63 31              // client identifier
    00 02 70 77              // password 'pw'
    ",
    DecodeError::PasswordWithoutUsername
);

reject!(
    connect_v3_1_password_without_username,
    [V3_1],
    "
    10 14  00 06 4d 51 49 73 64 70  03
    42  00 3c
    00 02 63 31
    00 02 70 77
    ",
    DecodeError::PasswordWithoutUsername
);

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE options
// ---------------------------------------------------------------------------------------------

reject!(
    /// [MQTT-3-8.3-4] (3.1.1): the upper six bits of the requested QoS byte are reserved, so
    /// 5.0's No Local bit is malformed at 3.1.1.
    subscribe_v3_reserved_option_bits,
    [V3_1, V3_1_1],
    "82 08  00 01  00 03 61 2f 62  04",
    DecodeError::InvalidSubscriptionOptions(0x04)
);

reject!(
    subscribe_v3_qos_3,
    [V3_1, V3_1_1],
    "82 08  00 01  00 03 61 2f 62  03",
    DecodeError::InvalidSubscriptionOptions(0x03)
);

reject!(
    /// [MQTT-3.8.3-5] bits 6 and 7 are reserved at 5.0.
    subscribe_v5_reserved_option_bits,
    [V5],
    "82 09  00 01  00  00 03 61 2f 62  40",
    DecodeError::InvalidSubscriptionOptions(0x40)
);

reject!(
    /// Retain Handling 3 is a Protocol Error [MQTT-3.8.3.1].
    subscribe_v5_retain_handling_3,
    [V5],
    "82 09  00 01  00  00 03 61 2f 62  30",
    DecodeError::InvalidSubscriptionOptions(0x30)
);

reject!(
    subscribe_v5_qos_3,
    [V5],
    "82 09  00 01  00  00 03 61 2f 62  03",
    DecodeError::InvalidSubscriptionOptions(0x03)
);

reject!(
    /// [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
    subscribe_v5_no_local_on_shared_subscription,
    [V5],
    "
    82 10  00 01  00
    00 0a 24 73 68 61 72 65 2f 67 2f 61   // '$share/g/a'
    04                                    // No Local
    ",
    DecodeError::NoLocalOnSharedSubscription
);

// ---------------------------------------------------------------------------------------------
// Invalid property values
// ---------------------------------------------------------------------------------------------

reject!(
    /// [MQTT-3.2.2.3.3] Receive Maximum 0 is a Protocol Error.
    receive_maximum_zero,
    [V5],
    "20 06  00 00  03  21 00 00",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::ReceiveMaximum,
        value: 0
    }
);

reject!(
    /// [MQTT-3.1.2.11.4] Maximum Packet Size 0 is a Protocol Error.
    maximum_packet_size_zero,
    [V5],
    "
    10 14  00 04 4d 51 54 54  05  02  00 3c
    05  27 00 00 00 00       // Maximum Packet Size 0
    00 02 63 31
    ",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::MaximumPacketSize,
        value: 0
    }
);

reject!(
    /// Payload Format Indicator is 0 or 1.
    payload_format_indicator_2,
    [V5],
    "30 08  00 03 61 2f 62  02  01 02",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::PayloadFormatIndicator,
        value: 2
    }
);

reject!(
    /// Maximum QoS is 0 or 1 (absent means 2).
    maximum_qos_2,
    [V5],
    "20 05  00 00  02  24 02",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::MaximumQoS,
        value: 2
    }
);

reject!(
    /// [MQTT-3.8.2.1.2] Subscription Identifier 0 is a Protocol Error.
    subscription_identifier_zero,
    [V5],
    "82 0b  00 01  02  0b 00  00 03 61 2f 62  00",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::SubscriptionIdentifier,
        value: 0
    }
);

reject!(
    subscription_identifier_zero_in_publish,
    [V5],
    "30 08  00 03 61 2f 62  02  0b 00",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::SubscriptionIdentifier,
        value: 0
    }
);

reject!(
    /// Byte properties that are booleans: any other value is a Protocol Error.
    request_problem_information_2,
    [V5],
    "10 11  00 04 4d 51 54 54  05  02  00 3c  02  17 02  00 02 63 31",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::RequestProblemInformation,
        value: 2
    }
);

reject!(
    retain_available_255,
    [V5],
    "20 05  00 00  02  25 ff",
    DecodeError::InvalidPropertyValue {
        id: PropertyId::RetainAvailable,
        value: 255
    }
);

// ---------------------------------------------------------------------------------------------
// Encode-side refusals: nothing is written to the buffer
// ---------------------------------------------------------------------------------------------

/// [MQTT-1.5.4] a UTF-8 string is at most 65,535 bytes.
#[test]
fn encode_string_longer_than_65535() {
    let long = MqttString::try_from("x".repeat(70_000)).expect("valid string");
    let c = Packet::Connect(Box::new(Connect::new(V3_1_1, long.clone())));
    for level in ALL {
        assert_eq!(
            encode_err(&c, level, u32::MAX),
            EncodeError::FieldTooLong {
                field: "client identifier",
                len: 70_000
            }
        );
    }
    // In a property too.
    let mut p = Publish::new(topic("a"), "x");
    p.properties.push(Property::UserProperty(s("k"), long));
    assert_eq!(
        encode_err(&Packet::Publish(p), V5, u32::MAX),
        EncodeError::FieldTooLong {
            field: "property value",
            len: 70_000
        }
    );
    // Binary data: the password.
    let mut c = Connect::new(V5, s("c"));
    c.password = Some(Bytes::from(vec![0u8; 65_536]));
    assert_eq!(
        encode_err(&Packet::Connect(Box::new(c)), V5, u32::MAX),
        EncodeError::FieldTooLong {
            field: "password",
            len: 65_536
        }
    );
    // 65,535 is fine.
    let ok = MqttString::try_from("x".repeat(65_535)).expect("valid string");
    let c = Packet::Connect(Box::new(Connect::new(V3_1_1, ok)));
    assert_eq!(encoded_len(&c, V3_1_1), Ok(1 + 3 + 10 + 2 + 65_535));
}

/// [MQTT-3.1.2-24]: a packet larger than the peer's Maximum Packet Size is not sent.
#[test]
fn encode_packet_larger_than_max_packet_size() {
    let p = Packet::Publish(Publish::new(topic("a/b"), vec![0u8; 100]));
    for level in ALL {
        let size = encoded_len(&p, level).expect("len");
        assert_eq!(
            encode_err(&p, level, 50),
            EncodeError::PacketTooLarge { size, max: 50 }
        );
        assert_eq!(
            encode_err(&p, level, size as u32 - 1),
            EncodeError::PacketTooLarge {
                size,
                max: size as u32 - 1
            }
        );
    }
}

/// AUTH exists only at 5.0.
#[test]
fn encode_auth_below_5() {
    for level in [V3_1, V3_1_1] {
        assert_eq!(
            encode_err(&Packet::Auth(Auth::default()), level, u32::MAX),
            EncodeError::NotAtLevel {
                packet: PacketType::Auth,
                level
            }
        );
    }
}

/// 3.1.1 CONNACK has return codes 0-5 only; Banned (0x8A) has no 3.1.1 equivalent.
#[test]
fn encode_v3_connack_with_5_0_only_reason_code() {
    for level in [V3_1, V3_1_1] {
        for rc in [
            ReasonCode::Banned,
            ReasonCode::UnspecifiedError,
            ReasonCode::QuotaExceeded,
        ] {
            assert_eq!(
                encode_err(&Packet::ConnAck(ConnAck::new(false, rc)), level, u32::MAX),
                EncodeError::ReasonCodeNotAtLevel {
                    packet: PacketType::ConnAck,
                    code: rc.code(),
                    level
                }
            );
        }
    }
}

/// 3.1.1 SUBACK: a success code other than a granted QoS has no equivalent; every failure
/// becomes 0x80.
#[test]
fn encode_v3_suback_codes() {
    let p = Packet::SubAck(SubAck::new(pid(1), vec![ReasonCode::NoMatchingSubscribers]));
    assert_eq!(
        encode_err(&p, V3_1_1, u32::MAX),
        EncodeError::ReasonCodeNotAtLevel {
            packet: PacketType::SubAck,
            code: 0x10,
            level: V3_1_1
        }
    );
    let p = Packet::SubAck(SubAck::new(pid(1), vec![ReasonCode::NotAuthorized]));
    assert_eq!(encode_to_vec(&p, V3_1_1), h("90 03 00 01 80"));
}

/// A reason code the packet may not carry is refused at 5.0 too: [MQTT-3.4.2-1] PUBACK,
/// [MQTT-3.5.2-1] PUBREC, [MQTT-3.6.2-1] PUBREL, [MQTT-3.7.2-1] PUBCOMP, [MQTT-3.2.2-8]
/// CONNACK, [MQTT-3.9.3-2] SUBACK, [MQTT-3.11.3-2] UNSUBACK, [MQTT-3.14.2-1] DISCONNECT,
/// [MQTT-3.15.2-1] AUTH. The decoder rejects these, so the encoder must not produce them.
#[test]
fn encode_v5_reason_code_not_valid_for_packet() {
    let cases: Vec<(Packet, PacketType, ReasonCode)> = vec![
        (
            Packet::PubAck(PubResponse::with_reason(pid(1), ReasonCode::ReAuthenticate)),
            PacketType::PubAck,
            ReasonCode::ReAuthenticate,
        ),
        (
            Packet::PubRec(PubResponse::with_reason(pid(1), ReasonCode::GrantedQoS2)),
            PacketType::PubRec,
            ReasonCode::GrantedQoS2,
        ),
        (
            Packet::PubRel(PubResponse::with_reason(pid(1), ReasonCode::NotAuthorized)),
            PacketType::PubRel,
            ReasonCode::NotAuthorized,
        ),
        (
            Packet::PubComp(PubResponse {
                packet_id: pid(1),
                reason_code: ReasonCode::UnspecifiedError,
                properties: Properties::new().with(Property::ReasonString(s("x"))),
            }),
            PacketType::PubComp,
            ReasonCode::UnspecifiedError,
        ),
        (
            Packet::ConnAck(ConnAck::new(false, ReasonCode::GrantedQoS1)),
            PacketType::ConnAck,
            ReasonCode::GrantedQoS1,
        ),
        (
            Packet::SubAck(SubAck::new(
                pid(1),
                vec![ReasonCode::GrantedQoS1, ReasonCode::NoMatchingSubscribers],
            )),
            PacketType::SubAck,
            ReasonCode::NoMatchingSubscribers,
        ),
        (
            Packet::UnsubAck(UnsubAck::new(pid(1), vec![ReasonCode::GrantedQoS1])),
            PacketType::UnsubAck,
            ReasonCode::GrantedQoS1,
        ),
        (
            Packet::Disconnect(Disconnect::new(ReasonCode::ContinueAuthentication)),
            PacketType::Disconnect,
            ReasonCode::ContinueAuthentication,
        ),
        (
            Packet::Auth(Auth::new(ReasonCode::NotAuthorized)),
            PacketType::Auth,
            ReasonCode::NotAuthorized,
        ),
    ];
    for (packet, t, rc) in cases {
        assert_eq!(
            encode_err(&packet, V5, u32::MAX),
            EncodeError::ReasonCodeNotAtLevel {
                packet: t,
                code: rc.code(),
                level: V5
            },
            "{packet:?}"
        );
    }
}

/// [MQTT-3.3.1-2] "The DUP flag MUST be set to 0 for all QoS 0 messages": the encoder never
/// writes DUP on a QoS 0 PUBLISH.
#[test]
fn encode_never_sets_dup_on_qos_0() {
    let mut p = Publish::new(topic("a/b"), "x");
    p.dup = true;
    for level in ALL {
        let wire = encode_to_vec(&Packet::Publish(p.clone()), level);
        assert_eq!(wire[0], 0x30, "at {level}");
        let Packet::Publish(back) = decode_ok(level, &wire) else {
            panic!("PUBLISH")
        };
        assert!(!back.dup);
    }
}

/// Maximum QoS can only be 0 or 1 on the wire [MQTT-3.2.2.3.4].
#[test]
fn encode_maximum_qos_2_refused() {
    let p = Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ReasonCode::Success,
        properties: Properties::new().with(Property::MaximumQoS(QoS::ExactlyOnce)),
    });
    assert_eq!(
        encode_err(&p, V5, u32::MAX),
        EncodeError::InvalidPropertyValue {
            id: PropertyId::MaximumQoS,
            value: 2
        }
    );
}

#[test]
fn encode_other_refusals() {
    // [MQTT-3.8.3-2], [MQTT-3.10.3-2]
    for level in ALL {
        assert_eq!(
            encode_err(
                &Packet::Subscribe(Subscribe::new(pid(1), vec![])),
                level,
                u32::MAX
            ),
            EncodeError::NoTopicFilters {
                packet: PacketType::Subscribe
            }
        );
        assert_eq!(
            encode_err(
                &Packet::Unsubscribe(Unsubscribe::new(pid(1), vec![])),
                level,
                u32::MAX
            ),
            EncodeError::NoTopicFilters {
                packet: PacketType::Unsubscribe
            }
        );
        assert_eq!(
            encode_err(
                &Packet::SubAck(SubAck::new(pid(1), vec![])),
                level,
                u32::MAX
            ),
            EncodeError::NoReasonCodes {
                packet: PacketType::SubAck
            }
        );
    }
    assert_eq!(
        encode_err(
            &Packet::UnsubAck(UnsubAck::new(pid(1), vec![])),
            V5,
            u32::MAX
        ),
        EncodeError::NoReasonCodes {
            packet: PacketType::UnsubAck
        }
    );
    // [MQTT-3.1.2-22]
    for level in [V3_1, V3_1_1] {
        let mut c = Connect::new(level, s("c"));
        c.password = Some(Bytes::from_static(b"pw"));
        assert_eq!(
            encode_err(&Packet::Connect(Box::new(c)), level, u32::MAX),
            EncodeError::PasswordWithoutUsername(level)
        );
    }
    // [MQTT-2.2.2.2] property not allowed / given twice
    let mut p = Publish::new(topic("a"), "x");
    p.properties.push(Property::SessionExpiryInterval(1));
    assert_eq!(
        encode_err(&Packet::Publish(p), V5, u32::MAX),
        EncodeError::PropertyNotAllowed {
            context: PropertyContext::Publish,
            id: PropertyId::SessionExpiryInterval
        }
    );
    let mut w = Will::new(topic("w"), "x", QoS::AtMostOnce);
    w.properties.push(Property::SessionExpiryInterval(1));
    let mut c = Connect::new(V5, s("c"));
    c.will = Some(w);
    assert_eq!(
        encode_err(&Packet::Connect(Box::new(c)), V5, u32::MAX),
        EncodeError::PropertyNotAllowed {
            context: PropertyContext::Will,
            id: PropertyId::SessionExpiryInterval
        }
    );
    let mut a = PubResponse::new(pid(1));
    a.properties.push(Property::ReasonString(s("a")));
    a.properties.push(Property::ReasonString(s("b")));
    assert_eq!(
        encode_err(&Packet::PubAck(a), V5, u32::MAX),
        EncodeError::DuplicateProperty {
            context: PropertyContext::PubAck,
            id: PropertyId::ReasonString
        }
    );
    // [MQTT-3.8.2.1.2] Subscription Identifier 1..=268,435,455
    let mut sub = Subscribe::new(
        pid(1),
        vec![(filter("a"), SubscriptionOptions::new(QoS::AtMostOnce))],
    );
    sub.properties.push(Property::SubscriptionIdentifier(
        NonZeroU32::new(268_435_456).expect("non-zero"),
    ));
    assert_eq!(
        encode_err(&Packet::Subscribe(sub), V5, u32::MAX),
        EncodeError::InvalidPropertyValue {
            id: PropertyId::SubscriptionIdentifier,
            value: 268_435_456
        }
    );
    // [MQTT-3.8.3-4]
    let mut o = SubscriptionOptions::new(QoS::AtLeastOnce);
    o.no_local = true;
    let sub = Subscribe::new(pid(1), vec![(filter("$share/g/a"), o)]);
    assert_eq!(
        encode_err(&Packet::Subscribe(sub), V5, u32::MAX),
        EncodeError::NoLocalOnSharedSubscription
    );
}

/// Every error names the rule it enforces in its message.
#[test]
fn encode_error_messages_name_the_rule() {
    let errors = [
        EncodeError::PacketTooLarge { size: 10, max: 5 },
        EncodeError::FieldTooLong {
            field: "client identifier",
            len: 70_000,
        },
        EncodeError::NotAtLevel {
            packet: PacketType::Auth,
            level: V3_1_1,
        },
        EncodeError::PropertyNotAllowed {
            context: PropertyContext::Publish,
            id: PropertyId::TopicAlias,
        },
        EncodeError::DuplicateProperty {
            context: PropertyContext::Publish,
            id: PropertyId::TopicAlias,
        },
        EncodeError::InvalidPropertyValue {
            id: PropertyId::SubscriptionIdentifier,
            value: 0,
        },
        EncodeError::NoTopicFilters {
            packet: PacketType::Subscribe,
        },
        EncodeError::NoReasonCodes {
            packet: PacketType::SubAck,
        },
        EncodeError::EmptyTopic,
        EncodeError::PasswordWithoutUsername(V3_1_1),
        EncodeError::NoLocalOnSharedSubscription,
    ];
    for e in errors {
        assert!(e.to_string().contains("[MQTT-"), "{e}");
    }
    // ReasonCodeNotAtLevel cites the reason code rule and names the code, packet and level.
    let e = EncodeError::ReasonCodeNotAtLevel {
        packet: PacketType::ConnAck,
        code: 0x8a,
        level: V3_1_1,
    };
    let msg = e.to_string();
    assert!(
        msg.contains("[MQTT-")
            && msg.contains("0x8A")
            && msg.contains("CONNACK")
            && msg.contains("3.1.1"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Incremental decoding, back-to-back packets, zero copy
// ---------------------------------------------------------------------------------------------

/// One packet of every type that exists at `level`, with fields set so every part of the
/// encoding is exercised.
fn samples(level: ProtocolLevel) -> Vec<Packet> {
    let v5 = level.is_v5();
    let with_props = |list: Vec<Property>| -> Properties {
        if v5 {
            Properties::from(list)
        } else {
            Properties::new()
        }
    };
    let mut will = Will::new(topic("w/x"), "gone", QoS::AtLeastOnce);
    will.retain = true;
    will.properties = with_props(vec![Property::WillDelayInterval(9)]);
    let mut connect = Connect::new(level, s("sample-client"));
    connect.will = Some(will);
    connect.username = Some(s("user"));
    connect.password = Some(Bytes::from_static(b"secret"));
    connect.properties = with_props(vec![
        Property::SessionExpiryInterval(60),
        Property::UserProperty(s("a"), s("b")),
    ]);

    let publish = |qos: QosPid| Publish {
        dup: qos != QosPid::AtMostOnce,
        qos,
        retain: true,
        topic: topic("sensors/kitchen/temp"),
        properties: with_props(vec![
            Property::MessageExpiryInterval(30),
            Property::UserProperty(s("unit"), s("C")),
            Property::SubscriptionIdentifier(NonZeroU32::new(300).expect("non-zero")),
        ]),
        payload: Bytes::from(vec![0xa5; 300]),
    };
    let response = |id: u16, rc: ReasonCode| PubResponse {
        packet_id: pid(id),
        reason_code: if v5 { rc } else { ReasonCode::Success },
        properties: with_props(vec![Property::ReasonString(s("why"))]),
    };
    let mut opts = SubscriptionOptions::new(QoS::ExactlyOnce);
    if v5 {
        opts.no_local = true;
        opts.retain_as_published = true;
    }
    let mut list = vec![
        Packet::Connect(Box::new(connect)),
        Packet::ConnAck(ConnAck {
            session_present: true,
            reason_code: ReasonCode::Success,
            properties: with_props(vec![Property::TopicAliasMaximum(10)]),
        }),
        Packet::Publish(publish(QosPid::AtMostOnce)),
        Packet::Publish(publish(QosPid::AtLeastOnce(pid(1)))),
        Packet::Publish(publish(QosPid::ExactlyOnce(pid(2)))),
        Packet::PubAck(response(1, ReasonCode::NoMatchingSubscribers)),
        Packet::PubRec(response(2, ReasonCode::QuotaExceeded)),
        Packet::PubRel(response(2, ReasonCode::PacketIdentifierNotFound)),
        Packet::PubComp(response(2, ReasonCode::Success)),
        Packet::Subscribe(Subscribe {
            packet_id: pid(3),
            properties: with_props(vec![Property::SubscriptionIdentifier(
                NonZeroU32::new(300).expect("non-zero"),
            )]),
            filters: vec![
                (filter("sensors/+/temp"), opts),
                (
                    filter("alerts/#"),
                    SubscriptionOptions::new(QoS::AtMostOnce),
                ),
            ],
        }),
        Packet::SubAck(SubAck {
            packet_id: pid(3),
            properties: with_props(vec![Property::ReasonString(s("ok"))]),
            reason_codes: vec![ReasonCode::GrantedQoS2, ReasonCode::UnspecifiedError],
        }),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(4),
            properties: with_props(vec![Property::UserProperty(s("k"), s("v"))]),
            filters: vec![filter("sensors/+/temp"), filter("alerts/#")],
        }),
        Packet::UnsubAck(UnsubAck {
            packet_id: pid(4),
            properties: with_props(vec![Property::ReasonString(s("done"))]),
            reason_codes: if v5 {
                vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            } else {
                vec![]
            },
        }),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(if v5 {
            Disconnect {
                reason_code: ReasonCode::ServerShuttingDown,
                properties: Properties::from(vec![Property::ServerReference(s("other"))]),
            }
        } else {
            Disconnect::default()
        }),
    ];
    if v5 {
        list.push(Packet::Auth(Auth {
            reason_code: ReasonCode::ContinueAuthentication,
            properties: Properties::from(vec![
                Property::AuthenticationMethod(s("SCRAM-SHA-1")),
                Property::AuthenticationData(Bytes::from_static(b"client-first")),
            ]),
        }));
    }
    list
}

/// Feeding one byte at a time: every call before the last returns `Incomplete { needed }` with
/// `1 <= needed <= bytes missing` and leaves the buffer alone; the last returns the packet.
#[test]
fn incremental_decoding_one_byte_at_a_time() {
    for level in ALL {
        for packet in samples(level) {
            let wire = encode_to_vec(&packet, level);
            let whole = decode_ok(level, &wire);
            assert_eq!(whole, packet, "round trip at {level}");

            let mut buf = BytesMut::new();
            assert_eq!(
                decode(&mut buf, level, u32::MAX),
                Ok(Decoded::Incomplete { needed: 2 })
            );
            for (i, &b) in wire.iter().enumerate() {
                buf.extend_from_slice(&[b]);
                let before = buf.clone();
                let r = decode(&mut buf, level, u32::MAX);
                if i + 1 < wire.len() {
                    let missing = wire.len() - (i + 1);
                    match r {
                        Ok(Decoded::Incomplete { needed }) => {
                            assert!(
                                (1..=missing).contains(&needed),
                                "{:?} at {level}: {i}+1 bytes, needed {needed}, missing {missing}",
                                packet.packet_type()
                            );
                        }
                        other => panic!(
                            "{:?} at {level}: after {} of {} bytes got {other:?}",
                            packet.packet_type(),
                            i + 1,
                            wire.len()
                        ),
                    }
                    assert_eq!(buf, before, "Incomplete leaves the buffer alone");
                } else {
                    assert_eq!(r, Ok(Decoded::Packet(whole.clone())));
                    assert!(buf.is_empty());
                }
            }
        }
    }
}

/// Two (and more) packets back to back in one buffer come out in order, and a partial third
/// one stays in the buffer.
#[test]
fn back_to_back_packets_decode_in_order() {
    for level in ALL {
        let list = samples(level);
        let mut buf = BytesMut::new();
        for p in &list {
            encode(p, level, u32::MAX, &mut buf).expect("encode");
        }
        // Half of a PINGREQ.
        buf.extend_from_slice(&[0xc0]);
        for p in &list {
            assert_eq!(
                decode(&mut buf, level, u32::MAX),
                Ok(Decoded::Packet(p.clone()))
            );
        }
        assert_eq!(
            decode(&mut buf, level, u32::MAX),
            Ok(Decoded::Incomplete { needed: 1 })
        );
        assert_eq!(&buf[..], &[0xc0]);
        buf.extend_from_slice(&[0x00]);
        assert_eq!(
            decode(&mut buf, level, u32::MAX),
            Ok(Decoded::Packet(Packet::PingReq))
        );
        assert!(buf.is_empty());
    }
}

/// A decoded PUBLISH payload, topic and string properties point into the read buffer.
///
/// The address range is taken from the very `BytesMut` handed to `decode` before the call, and
/// the buffer is kept alive until the end, so that range cannot have been freed and reused: a
/// copied payload would necessarily live elsewhere. The payload must sit exactly at its offset
/// in the packet.
#[test]
fn publish_payload_shares_the_read_buffer() {
    for level in ALL {
        let mut p = Publish::new(topic("zero/copy"), vec![0x42u8; 1000]);
        p.qos = QosPid::AtLeastOnce(pid(9));
        if level.is_v5() {
            p.properties
                .push(Property::UserProperty(s("key"), s("value")));
        }
        let packet = Packet::Publish(p);
        let mut buf = BytesMut::with_capacity(4096);
        encode(&packet, level, u32::MAX, &mut buf).expect("encode");
        // Something after it, so the PUBLISH is split off a larger buffer.
        encode(&Packet::PingReq, level, u32::MAX, &mut buf).expect("encode");

        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let payload_offset = buf.len() - 2 - 1000;

        let Ok(Decoded::Packet(Packet::Publish(decoded))) = decode(&mut buf, level, u32::MAX)
        else {
            panic!("PUBLISH")
        };
        assert_eq!(Packet::Publish(decoded.clone()), packet);
        let in_buffer = |ptr: *const u8| (start..end).contains(&(ptr as usize));
        assert_eq!(
            decoded.payload.as_ptr() as usize,
            start + payload_offset,
            "payload not copied"
        );
        assert!(
            in_buffer(decoded.topic.as_str().as_ptr()),
            "topic not copied"
        );
        if level.is_v5() {
            let (k, v) = decoded
                .properties
                .user_properties()
                .next()
                .expect("user property");
            assert!(in_buffer(k.as_str().as_ptr()) && in_buffer(v.as_str().as_ptr()));
        }
        // The rest of the buffer is the PINGREQ, still in place.
        assert_eq!(&buf[..], &[0xc0, 0x00]);
        assert_eq!(buf.as_ptr() as usize, end - 2);
    }
}

/// `decode_framed` shares the body it is given in the same way.
#[test]
fn decode_framed_shares_the_body() {
    let wire = h("32 0a  00 03 61 2f 62  00 05  78 79 7a");
    let body = Bytes::copy_from_slice(&wire[2..]);
    let start = body.as_ptr() as usize;
    let Ok(Packet::Publish(p)) = decode_framed(wire[0], body.clone(), V3_1_1) else {
        panic!("PUBLISH")
    };
    assert_eq!(&p.payload[..], b"xyz");
    assert_eq!(p.payload.as_ptr() as usize, start + 7);
    assert_eq!(p.qos, QosPid::AtLeastOnce(pid(5)));
    // Same rules as decode.
    assert_eq!(
        decode_framed(0x41, Bytes::from_static(&[0, 1]), V3_1_1),
        Err(DecodeError::InvalidFlags {
            packet: PacketType::PubAck,
            flags: 1
        })
    );
    assert_eq!(
        decode_framed(0xf0, Bytes::new(), V3_1_1),
        Err(DecodeError::ReservedPacketType {
            packet_type: 15,
            level: V3_1_1
        })
    );
}

/// Valid encodings that sit right next to the rules above, so the tests are not passing for
/// the wrong reason.
#[test]
fn near_misses_are_accepted() {
    // 5.0: a password without a user name is fine.
    decode_ok(
        V5,
        &h("10 13  00 04 4d 51 54 54  05  42  00 3c  00  00 02 63 31  00 02 70 77"),
    );
    // No Local on a non-shared filter at 5.0.
    decode_ok(V5, &h("82 09  00 01  00  00 03 61 2f 62  04"));
    // Retain Handling 2, RAP, No Local, QoS 2: all option bits but the reserved ones.
    decode_ok(V5, &h("82 09  00 01  00  00 03 61 2f 62  2e"));
    // Topic Alias 65535.
    decode_ok(V5, &h("30 06  00 00  03 23 ff ff"));
    // Subscription Identifier 268,435,455 (four-byte varint).
    decode_ok(V5, &h("30 0b  00 03 61 2f 62  05 0b ff ff ff 7f"));
    // Empty strings where allowed: client id, user property name and value.
    decode_ok(
        V5,
        &h("10 12  00 04 4d 51 54 54  05  02  00 3c  05 26 00 00 00 00  00 00"),
    );
    // The largest remaining length fits the default maximum.
    let mut buf = BytesMut::from(&h("30 ff ff ff 7f")[..]);
    assert_eq!(
        decode(&mut buf, V3_1_1, MAX_PACKET_SIZE),
        Ok(Decoded::Incomplete {
            needed: 268_435_455
        })
    );
    // Packet identifier 65535 and QoS 2.
    decode_ok(V3_1_1, &h("34 07 00 03 61 2f 62 ff ff"));
    // A U+FEFF (BOM) in a string is kept, not stripped [MQTT-1.5.4-3].
    let Packet::Publish(p) = decode_ok(V3_1_1, &h("30 06 00 04 ef bb bf 61")) else {
        panic!("PUBLISH")
    };
    assert_eq!(p.topic.as_str(), "\u{feff}a");
}
