//! Topic names and topic filters [MQTT-4.7]: validation and matching.
//!
//! A [`TopicName`] is where a message is published (no wildcards); a [`TopicFilter`] is what a
//! subscription matches (`+` and `#` allowed where the specification allows them, and shared
//! subscriptions `$share/{group}/{filter}`).
//!
//! ```
//! use pigeon_mqtt::topic::{topic_matches_sub, TopicFilter, TopicName};
//! assert!(topic_matches_sub("sensors/+/temp", "sensors/kitchen/temp"));
//! assert!(!topic_matches_sub("#", "$SYS/uptime"));
//! assert!(TopicName::new("a/+").is_err());
//! assert!(TopicFilter::new("a/#/b").is_err());
//! ```

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::packet::MqttString;

/// Why a string is not a valid topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Zero length.
    #[error("[MQTT-4.7.3-1] topic names and topic filters must be at least one character long")]
    Empty,
    /// Longer than 65,535 bytes.
    #[error("[MQTT-4.7.3-3] topic is longer than 65535 bytes")]
    TooLong,
    /// Contains U+0000.
    #[error("[MQTT-4.7.3-2] topic contains the null character U+0000")]
    NullCharacter,
    /// Not well-formed UTF-8.
    #[error("[MQTT-1.5.4-1] topic is not well-formed UTF-8")]
    InvalidUtf8,
    /// A topic name with `+` or `#`.
    #[error("[MQTT-3.3.2-2] topic name contains a wildcard character")]
    WildcardInName,
    /// `#` not alone in the last level.
    #[error(
        "[MQTT-4.7.1-1] multi-level wildcard '#' must be the last character, alone in its level"
    )]
    MisplacedMultiLevelWildcard,
    /// `+` sharing its level with other characters.
    #[error("[MQTT-4.7.1-2] single-level wildcard '+' must occupy an entire level")]
    MisplacedSingleLevelWildcard,
    /// `$share/` with an empty or invalid share name, or no filter.
    #[error("[MQTT-4.8.2-1] shared subscription needs a share name without '/', '+', '#' and a topic filter")]
    InvalidSharedSubscription,
}

impl From<crate::packet::StringError> for TopicError {
    fn from(e: crate::packet::StringError) -> TopicError {
        match e {
            crate::packet::StringError::NullCharacter => TopicError::NullCharacter,
            _ => TopicError::InvalidUtf8,
        }
    }
}

/// A validated topic name: non-empty, no wildcards, no U+0000, at most 65,535 bytes.
///
/// Holds its text as `Bytes`, so a topic decoded from a PUBLISH shares the read buffer.
///
/// ```
/// use pigeon_mqtt::topic::TopicName;
/// let t = TopicName::new("home/kitchen/temp").unwrap();
/// assert_eq!(t.as_str(), "home/kitchen/temp");
/// assert!(TopicName::new("").is_err());
/// assert!(TopicName::new("a/#").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(MqttString);

impl TopicName {
    /// Validates a topic name.
    pub fn new(s: impl Into<String>) -> Result<TopicName, TopicError> {
        let s: String = s.into();
        check_name(s.as_bytes())?;
        Ok(TopicName(MqttString::try_from(s)?))
    }

    /// A topic name from a literal, without copying.
    ///
    /// # Panics
    ///
    /// If the literal is not a valid topic name (meant for literals written in code).
    pub fn from_static(s: &'static str) -> TopicName {
        assert!(
            check_name(s.as_bytes()).is_ok(),
            "invalid topic name literal {s:?}"
        );
        TopicName(MqttString::from_static(s))
    }

    /// Validates an MQTT string as a topic name.
    pub fn from_mqtt_string(s: MqttString) -> Result<TopicName, TopicError> {
        check_name(s.as_bytes())?;
        Ok(TopicName(s))
    }

    /// Validates bytes as a topic name without copying them.
    pub fn from_bytes(b: Bytes) -> Result<TopicName, TopicError> {
        check_name(&b)?;
        Ok(TopicName(MqttString::try_from_bytes(b)?))
    }

    /// A topic name from an MQTT string known to hold no wildcard (checked by the decoder in
    /// the same pass as its U+0000 check).
    pub(crate) fn from_checked(s: MqttString) -> TopicName {
        TopicName(s)
    }

    /// The empty topic of a PUBLISH that uses a Topic Alias instead (5.0).
    pub(crate) fn empty_for_alias() -> TopicName {
        TopicName(MqttString::empty())
    }

    /// The topic as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The topic as an [`MqttString`].
    pub fn as_mqtt_string(&self) -> &MqttString {
        &self.0
    }

    /// True only for the empty topic of an aliased PUBLISH.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_name(b: &[u8]) -> Result<(), TopicError> {
    if b.is_empty() {
        return Err(TopicError::Empty);
    }
    if b.len() > u16::MAX as usize {
        return Err(TopicError::TooLong);
    }
    if b.iter().any(|&c| c == b'+' || c == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks what a topic name decoded from the wire must satisfy besides being an MQTT string.
pub(crate) fn check_wire_name(b: &[u8]) -> Result<(), TopicError> {
    if b.iter().any(|&c| c == b'+' || c == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

impl Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<TopicName, TopicError> {
        TopicName::new(s)
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicError;
    fn try_from(s: String) -> Result<TopicName, TopicError> {
        TopicName::new(s)
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A validated topic filter: wildcards only where allowed, or a shared subscription
/// `$share/{ShareName}/{filter}`.
///
/// ```
/// use pigeon_mqtt::topic::TopicFilter;
/// let f = TopicFilter::new("$share/group/sensors/#").unwrap();
/// assert_eq!(f.share_name(), Some("group"));
/// assert_eq!(f.filter(), "sensors/#");
/// assert!(f.matches("sensors/a/b"));
/// assert!(TopicFilter::new("a+/b").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(MqttString);

impl TopicFilter {
    /// Validates a topic filter.
    pub fn new(s: impl Into<String>) -> Result<TopicFilter, TopicError> {
        let s: String = s.into();
        check_filter(&s)?;
        Ok(TopicFilter(MqttString::try_from(s)?))
    }

    /// Validates an MQTT string (for example, one decoded from the wire) as a topic filter.
    pub fn from_mqtt_string(s: MqttString) -> Result<TopicFilter, TopicError> {
        check_filter(s.as_str())?;
        Ok(TopicFilter(s))
    }

    /// The whole filter as written, including any `$share/{group}/` prefix.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The filter as an [`MqttString`].
    pub fn as_mqtt_string(&self) -> &MqttString {
        &self.0
    }

    /// The share name of a shared subscription.
    pub fn share_name(&self) -> Option<&str> {
        split_shared(self.as_str()).map(|(g, _)| g)
    }

    /// True for `$share/...` filters.
    pub fn is_shared(&self) -> bool {
        self.share_name().is_some()
    }

    /// The filter that topics are matched against (without any `$share/{group}/` prefix).
    pub fn filter(&self) -> &str {
        match split_shared(self.as_str()) {
            Some((_, f)) => f,
            None => self.as_str(),
        }
    }

    /// True when the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.filter().bytes().any(|c| c == b'+' || c == b'#')
    }

    /// Whether `topic` matches this filter [MQTT-4.7].
    pub fn matches(&self, topic: &str) -> bool {
        matches_filter(self.filter(), topic)
    }
}

fn split_shared(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("$share/")?;
    rest.split_once('/')
}

fn check_filter(s: &str) -> Result<(), TopicError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(TopicError::Empty);
    }
    if b.len() > u16::MAX as usize {
        return Err(TopicError::TooLong);
    }
    let filter = match b.strip_prefix(b"$share/") {
        Some(rest) => {
            // [MQTT-4.8.2-1] ShareName: at least one character, no '/', '+' or '#';
            // [MQTT-4.8.2-2] followed by '/' and a Topic Filter.
            let slash = rest
                .iter()
                .position(|&c| c == b'/')
                .ok_or(TopicError::InvalidSharedSubscription)?;
            let (group, filter) = (&rest[..slash], &rest[slash + 1..]);
            if group.is_empty() || filter.is_empty() {
                return Err(TopicError::InvalidSharedSubscription);
            }
            for &c in group {
                match c {
                    0 => return Err(TopicError::NullCharacter),
                    b'+' | b'#' => return Err(TopicError::InvalidSharedSubscription),
                    _ => {}
                }
            }
            filter
        }
        None => b,
    };
    // One pass over the bytes: wildcards must fill their level [MQTT-4.7.1-2], and '#' must be
    // the last level [MQTT-4.7.1-1].
    let last = filter.len() - 1;
    for (i, &c) in filter.iter().enumerate() {
        let alone = (i == 0 || filter[i - 1] == b'/') && (i == last || filter[i + 1] == b'/');
        match c {
            0 => return Err(TopicError::NullCharacter),
            b'#' if !alone || i != last => return Err(TopicError::MisplacedMultiLevelWildcard),
            b'+' if !alone => {
                // "a+#": the level holds '#' too, which is the first rule broken.
                let level_end = filter[i..]
                    .iter()
                    .position(|&c| c == b'/')
                    .map_or(filter.len(), |p| i + p);
                if filter[i..level_end].contains(&b'#') {
                    return Err(TopicError::MisplacedMultiLevelWildcard);
                }
                return Err(TopicError::MisplacedSingleLevelWildcard);
            }
            _ => {}
        }
    }
    Ok(())
}

fn matches_filter(filter: &str, topic: &str) -> bool {
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with '$'.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Deref for TopicFilter {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<TopicFilter, TopicError> {
        TopicFilter::new(s)
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: String) -> Result<TopicFilter, TopicError> {
        TopicFilter::new(s)
    }
}

/// paho's `topic_matches_sub`: whether `topic` matches the subscription filter `sub`.
///
/// Returns `false` when `sub` is not a valid filter or `topic` not a valid topic name.
/// A shared subscription matches what its inner filter matches.
///
/// ```
/// use pigeon_mqtt::topic::topic_matches_sub;
/// assert!(topic_matches_sub("foo/#", "foo/bar/baz"));
/// assert!(topic_matches_sub("foo/#", "foo"));
/// assert!(!topic_matches_sub("foo/+", "foo/bar/baz"));
/// ```
pub fn topic_matches_sub(sub: &str, topic: &str) -> bool {
    if check_filter(sub).is_err() || check_name(topic.as_bytes()).is_err() {
        return false;
    }
    let filter = split_shared(sub).map(|(_, f)| f).unwrap_or(sub);
    matches_filter(filter, topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_validation_cites_rules() {
        for ok in [
            "#",
            "+",
            "a/+/b",
            "a/#",
            "+/+",
            "/",
            "a//b",
            "$share/g/a/#",
            "$SYS/#",
        ] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            TopicFilter::new("a/#/b"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            TopicFilter::new("a#"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            TopicFilter::new("a/b+"),
            Err(TopicError::MisplacedSingleLevelWildcard)
        );
        assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
        for bad in [
            "$share/",
            "$share//a",
            "$share/g",
            "$share/g/",
            "$share/g+/a",
            "$share/#/a",
        ] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::InvalidSharedSubscription),
                "{bad}"
            );
        }
    }

    #[test]
    fn matching_follows_section_4_7() {
        // Examples of [MQTT-4.7.1] non-normative text.
        assert!(topic_matches_sub(
            "sport/tennis/player1/#",
            "sport/tennis/player1"
        ));
        assert!(topic_matches_sub(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(topic_matches_sub("sport/#", "sport"));
        assert!(topic_matches_sub("sport/tennis/+", "sport/tennis/player1"));
        assert!(!topic_matches_sub(
            "sport/tennis/+",
            "sport/tennis/player1/ranking"
        ));
        assert!(!topic_matches_sub("sport/+", "sport"));
        assert!(topic_matches_sub("sport/+", "sport/"));
        assert!(topic_matches_sub("+/+", "/finance"));
        assert!(topic_matches_sub("/+", "/finance"));
        assert!(!topic_matches_sub("+", "/finance"));
        // [MQTT-4.7.2-1]
        assert!(!topic_matches_sub("#", "$SYS/x"));
        assert!(!topic_matches_sub(
            "+/monitor/Clients",
            "$SYS/monitor/Clients"
        ));
        assert!(topic_matches_sub("$SYS/#", "$SYS/monitor/Clients"));
        assert!(topic_matches_sub("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(topic_matches_sub("$share/g/a/+", "a/b"));
        assert!(!topic_matches_sub("a/+", "a/#"));
    }

    #[test]
    fn topic_name_rules() {
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new("a\0"), Err(TopicError::NullCharacter));
        assert_eq!(TopicName::new("x".repeat(65536)), Err(TopicError::TooLong));
        assert!(TopicName::new("x".repeat(65535)).is_ok());
    }
}
