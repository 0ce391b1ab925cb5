//! Wire primitives [MQTT-1.5]: integers, variable byte integers, strings, binary data.

use bytes::{Buf, BufMut, Bytes};

use crate::error::{DecodeError, EncodeError};
use crate::packet::{MqttString, PacketType};

/// Largest value of a variable byte integer (268,435,455).
pub const MAX_VARINT: u32 = 268_435_455;

/// Reads the fields of one packet body, naming the packet in every error.
pub(crate) struct Reader {
    pub(crate) buf: Bytes,
    pub(crate) packet: PacketType,
}

impl Reader {
    #[inline]
    pub(crate) fn new(buf: Bytes, packet: PacketType) -> Reader {
        Reader { buf, packet }
    }

    #[cold]
    fn truncated(&self, field: &'static str) -> DecodeError {
        DecodeError::Truncated {
            packet: self.packet,
            field,
        }
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        if self.buf.is_empty() {
            return Err(self.truncated(field));
        }
        Ok(self.buf.get_u8())
    }

    #[inline]
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        if self.buf.len() < 2 {
            return Err(self.truncated(field));
        }
        Ok(self.buf.get_u16())
    }

    #[inline]
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        if self.buf.len() < 4 {
            return Err(self.truncated(field));
        }
        Ok(self.buf.get_u32())
    }

    #[inline]
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        match read_varint(&self.buf)? {
            Some((v, n)) => {
                self.buf.advance(n);
                Ok(v)
            }
            None => Err(self.truncated(field)),
        }
    }

    /// Splits off `n` bytes without copying.
    #[inline]
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        if self.buf.len() < n {
            return Err(self.truncated(field));
        }
        Ok(self.buf.split_to(n))
    }

    /// Binary Data [MQTT-1.5.6]: a two-byte length and that many bytes.
    #[inline]
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)? as usize;
        self.take(len, field)
    }

    /// UTF-8 Encoded String [MQTT-1.5.4].
    #[inline]
    pub(crate) fn string(&mut self, field: &'static str) -> Result<MqttString, DecodeError> {
        let raw = self.binary(field)?;
        MqttString::try_from_bytes(raw).map_err(|source| DecodeError::InvalidString {
            packet: self.packet,
            field,
            source,
        })
    }

    /// The rest of the packet (a PUBLISH payload).
    #[inline]
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// [MQTT-2.1.4] nothing may follow the last field.
    #[inline]
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                packet: self.packet,
                extra: self.buf.len(),
            })
        }
    }
}

/// Reads a variable byte integer from the front of `buf`: `Ok(None)` when more bytes are needed,
/// else the value and how many bytes it took.
#[inline]
pub(crate) fn read_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    // Fast path: one byte, the usual case for lengths below 128.
    if let Some(&byte) = buf.first() {
        if byte & 0x80 == 0 {
            return Ok(Some((u32::from(byte), 1)));
        }
    }
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // [MQTT-1.5.5-1] a final zero byte after continuation bytes is a longer encoding
            // than necessary.
            if i > 0 && byte == 0 {
                return Err(DecodeError::VarIntNotMinimal);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        return Err(DecodeError::VarIntTooLong);
    }
    Ok(None)
}

/// Number of bytes a variable byte integer takes.
#[inline]
pub(crate) fn varint_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

#[inline]
pub(crate) fn put_varint(buf: &mut impl BufMut, mut v: usize) {
    loop {
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if v == 0 {
            return;
        }
    }
}

/// Length on the wire of a string or binary field, refusing anything over 65,535 bytes.
#[inline]
pub(crate) fn field_len(len: usize, field: &'static str) -> Result<usize, EncodeError> {
    if len > u16::MAX as usize {
        return Err(EncodeError::FieldTooLong { field, len });
    }
    Ok(2 + len)
}

/// Writes a string or binary field whose length was checked by [`field_len`].
#[inline]
pub(crate) fn put_binary(buf: &mut impl BufMut, b: &[u8]) {
    buf.put_u16(b.len() as u16);
    buf.put_slice(b);
}
