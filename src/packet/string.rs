//! `MqttString`: a UTF-8 string held in `Bytes`, so decoding shares the read buffer.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// An MQTT UTF-8 encoded string [MQTT-1.5.4]: valid UTF-8, no U+0000, at most 65,535 bytes
/// on the wire.
///
/// It is stored as [`Bytes`], so a decoded topic or property shares the read buffer instead of
/// being copied into a `String`. Converting from a `String` or `&'static str` does not copy either.
///
/// ```
/// use pigeon_mqtt::packet::MqttString;
/// let s = MqttString::from_static("sensors/kitchen");
/// assert_eq!(MqttString::try_from("a/b".to_string()).unwrap(), "a/b");
/// assert_eq!(s.as_str(), "sensors/kitchen");
/// assert!(MqttString::try_from_bytes(bytes::Bytes::from_static(b"a\0b")).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttString(ByteString);

/// Why bytes are not an MQTT string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StringError {
    /// Not well-formed UTF-8 (this includes encoded surrogates U+D800..U+DFFF).
    #[error("[MQTT-1.5.4-1] string is not well-formed UTF-8")]
    InvalidUtf8,
    /// Contains the null character U+0000.
    #[error("[MQTT-1.5.4-2] string contains the null character U+0000")]
    NullCharacter,
}

impl MqttString {
    /// The empty string.
    pub fn empty() -> MqttString {
        MqttString(ByteString::new())
    }

    /// Validates `bytes` as an MQTT string without copying them.
    pub fn try_from_bytes(bytes: Bytes) -> Result<MqttString, StringError> {
        if bytes.contains(&0) {
            return Err(StringError::NullCharacter);
        }
        // Validated once here; reading it back as `&str` costs nothing after that.
        ByteString::try_from(bytes)
            .map(MqttString)
            .map_err(|_| StringError::InvalidUtf8)
    }

    /// Validates UTF-8 only: the caller has already checked that `bytes` holds no U+0000.
    pub(crate) fn from_utf8_without_nul(bytes: Bytes) -> Result<MqttString, StringError> {
        ByteString::try_from(bytes)
            .map(MqttString)
            .map_err(|_| StringError::InvalidUtf8)
    }

    /// The string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes (a cheap reference-counted clone).
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Consumes the string, giving its bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for MqttString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for MqttString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for MqttString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MqttString {
    /// A string from a literal, without copying.
    ///
    /// # Panics
    ///
    /// If the literal contains U+0000: like `http::HeaderValue::from_static`, this is for
    /// literals written in code; use `TryFrom` for anything that comes from outside.
    pub fn from_static(s: &'static str) -> MqttString {
        assert!(!s.contains('\0'), "MQTT strings must not contain U+0000");
        MqttString(ByteString::from_static(s))
    }
}

impl TryFrom<String> for MqttString {
    type Error = StringError;
    fn try_from(s: String) -> Result<MqttString, StringError> {
        if s.contains('\0') {
            return Err(StringError::NullCharacter);
        }
        Ok(MqttString(ByteString::from(s)))
    }
}

impl TryFrom<&str> for MqttString {
    type Error = StringError;
    fn try_from(s: &str) -> Result<MqttString, StringError> {
        MqttString::try_from(s.to_owned())
    }
}

impl TryFrom<Bytes> for MqttString {
    type Error = StringError;
    fn try_from(b: Bytes) -> Result<MqttString, StringError> {
        MqttString::try_from_bytes(b)
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
