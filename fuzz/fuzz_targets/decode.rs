//! Decodes arbitrary bytes at every protocol level, and checks that whatever decodes survives a
//! round trip through the encoder.
//!
//! The first input byte selects the connection's protocol level (bits 0-1) and the maximum
//! packet size given to the decoder (bits 2-4); the rest is the read buffer. Packets are decoded
//! from its front until the decoder needs more bytes or refuses the input. For every packet:
//!
//! * `encode` must accept it (a decoded packet that cannot be re-encoded is a bug), report the
//!   size it wrote, and agree with `encoded_len`;
//! * decoding those bytes must give back the very same packet, using up exactly those bytes;
//! * encoding is canonical: re-encoding the re-decoded packet gives the same bytes;
//! * `encode_without_payload` writes the same bytes minus the payload it hands back;
//! * `Incomplete` leaves the buffer untouched and asks for at least one byte; once the fixed
//!   header is complete, for exactly the rest of a packet that fits the maximum packet size.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pigeon_mqtt::codec::{decode, encode, encode_without_payload, encoded_len, Decoded};
use pigeon_mqtt::packet::{Packet, ProtocolLevel};

const MAX_SIZES: [u32; 8] = [u32::MAX, 2, 5, 16, 64, 256, 4096, 268_435_460];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let level = match selector & 0b11 {
        0 => ProtocolLevel::V3_1,
        1 => ProtocolLevel::V3_1_1,
        _ => ProtocolLevel::V5,
    };
    let max = MAX_SIZES[usize::from((selector >> 2) & 0b111)];
    let mut buf = BytesMut::from(input);
    loop {
        let before = buf.len();
        match decode(&mut buf, level, max) {
            Ok(Decoded::Packet(packet)) => {
                let used = before - buf.len();
                assert!(
                    used >= 2 && used as u64 <= u64::from(max),
                    "used {used}, max {max}"
                );
                round_trip(&packet, level);
            }
            Ok(Decoded::Incomplete { needed }) => {
                assert!(needed > 0);
                assert_eq!(
                    buf.len(),
                    before,
                    "Incomplete must leave the buffer untouched"
                );
                if let Some(total) = framed_len(&buf) {
                    // The fixed header is complete: the decoder waits for exactly the rest of
                    // the packet, and only for a packet it would accept.
                    assert_eq!(buf.len() + needed, total);
                    assert!(total as u64 <= u64::from(max), "waits for {total} > {max}");
                }
                break;
            }
            Err(_) => break,
        }
    }
});

/// Size of the packet at the front of `buf` when its fixed header is complete and well formed.
fn framed_len(buf: &[u8]) -> Option<usize> {
    let mut value = 0usize;
    for (i, &b) in buf.get(1..)?.iter().take(4).enumerate() {
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some(1 + i + 1 + value);
        }
    }
    None
}

fn round_trip(packet: &Packet, level: ProtocolLevel) {
    let mut out = BytesMut::new();
    let written = match encode(packet, level, u32::MAX, &mut out) {
        Ok(n) => n,
        Err(e) => panic!("decoded packet does not re-encode: {e}\n{packet:#?}"),
    };
    assert_eq!(written, out.len());
    assert_eq!(encoded_len(packet, level).ok(), Some(written));

    // The zero-copy path writes the same bytes, minus the payload it returns.
    let mut head = BytesMut::new();
    let payload = encode_without_payload(packet, level, u32::MAX, &mut head)
        .expect("encode_without_payload refused what encode accepted");
    match payload {
        Some(p) => {
            assert_eq!(&out[..head.len()], &head[..]);
            assert_eq!(&out[head.len()..], &p[..]);
        }
        None => assert_eq!(out, head),
    }

    // A packet too large for the peer is refused, and nothing is written.
    if written > 2 {
        let mut small = BytesMut::new();
        assert!(encode(packet, level, (written - 1) as u32, &mut small).is_err());
        assert!(small.is_empty());
    }

    let mut again = out.clone();
    match decode(&mut again, level, u32::MAX) {
        Ok(Decoded::Packet(p)) => {
            assert_eq!(&p, packet, "round trip changed the packet");
            assert!(again.is_empty(), "re-decoding left {} bytes", again.len());
            let mut canon = BytesMut::new();
            encode(&p, level, u32::MAX, &mut canon).expect("re-encode");
            assert_eq!(canon, out, "encoding is not canonical");
        }
        other => panic!("re-encoded packet does not decode: {other:?}\n{packet:#?}"),
    }
}
