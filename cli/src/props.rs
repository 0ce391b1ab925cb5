//! `-D COMMAND NAME VALUE`: MQTT 5 properties in mosquitto's syntax.
//!
//! ```text
//! -D connect session-expiry-interval 3600
//! -D publish user-property sensor kitchen
//! -D publish content-type application/json
//! -D subscribe subscription-identifier 7
//! -D will will-delay-interval 30
//! ```

use std::num::{NonZeroU16, NonZeroU32};

use pigeon_mqtt::packet::{MqttString, Properties, Property};

use crate::error::CliError;

/// The properties mosquitto's clients accept, per packet, that this tool supports. (Topic Alias
/// and the authentication properties are left out: the library manages aliases, and enhanced
/// authentication needs an authenticator.)
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "connect",
        &[
            "maximum-packet-size",
            "receive-maximum",
            "request-problem-information",
            "request-response-information",
            "session-expiry-interval",
            "topic-alias-maximum",
            "user-property",
        ],
    ),
    (
        "publish",
        &[
            "content-type",
            "correlation-data",
            "message-expiry-interval",
            "payload-format-indicator",
            "response-topic",
            "user-property",
        ],
    ),
    ("subscribe", &["subscription-identifier", "user-property"]),
    ("unsubscribe", &["user-property"]),
    ("disconnect", &["session-expiry-interval", "user-property"]),
    (
        "will",
        &[
            "content-type",
            "correlation-data",
            "message-expiry-interval",
            "payload-format-indicator",
            "response-topic",
            "user-property",
            "will-delay-interval",
        ],
    ),
];

/// The `-D` properties of one command line, sorted by the packet they go in.
#[derive(Debug, Clone, Default)]
pub struct PropertySet {
    /// CONNECT properties.
    pub connect: Properties,
    /// Every PUBLISH.
    pub publish: Properties,
    /// SUBSCRIBE.
    pub subscribe: Properties,
    /// UNSUBSCRIBE.
    pub unsubscribe: Properties,
    /// DISCONNECT.
    pub disconnect: Properties,
    /// The will message.
    pub will: Properties,
}

impl PropertySet {
    /// Parses every `-D` occurrence.
    pub fn parse(specs: &[Vec<String>]) -> Result<PropertySet, CliError> {
        let mut set = PropertySet::default();
        for spec in specs {
            let (command, name, values) = match spec.as_slice() {
                [c, n, rest @ ..] if !rest.is_empty() => (c.as_str(), n.as_str(), rest),
                _ => return Err(usage(spec, "expected -D COMMAND NAME VALUE")),
            };
            let Some((_, names)) = ALLOWED.iter().find(|(c, _)| *c == command) else {
                return Err(usage(
                    spec,
                    "COMMAND must be connect, publish, subscribe, unsubscribe, disconnect or will",
                ));
            };
            if !names.contains(&name) {
                return Err(usage(
                    spec,
                    &format!(
                        "{name} is not a {command} property here (supported: {})",
                        names.join(", ")
                    ),
                ));
            }
            let property = parse_property(name, values).map_err(|why| usage(spec, &why))?;
            let target = match command {
                "connect" => &mut set.connect,
                "publish" => &mut set.publish,
                "subscribe" => &mut set.subscribe,
                "unsubscribe" => &mut set.unsubscribe,
                "disconnect" => &mut set.disconnect,
                _ => &mut set.will,
            };
            if name == "user-property" {
                target.push(property);
            } else {
                target.set(property);
            }
        }
        Ok(set)
    }

    /// Whether no property was given.
    pub fn is_empty(&self) -> bool {
        [
            &self.connect,
            &self.publish,
            &self.subscribe,
            &self.unsubscribe,
            &self.disconnect,
            &self.will,
        ]
        .iter()
        .all(|p| p.is_empty())
    }
}

fn usage(spec: &[String], why: &str) -> CliError {
    CliError::Usage(format!("-D {}: {why}", spec.join(" ")))
}

fn parse_property(name: &str, values: &[String]) -> Result<Property, String> {
    let value = match (name, values) {
        ("user-property", [key, value]) => {
            return Ok(Property::UserProperty(string(key)?, string(value)?));
        }
        ("user-property", _) => return Err("user-property takes a KEY and a VALUE".to_owned()),
        (_, [value]) => value.as_str(),
        _ => return Err(format!("{name} takes one VALUE")),
    };
    Ok(match name {
        "content-type" => Property::ContentType(string(value)?),
        "response-topic" => Property::ResponseTopic(string(value)?),
        "correlation-data" => Property::CorrelationData(value.as_bytes().to_vec().into()),
        "message-expiry-interval" => Property::MessageExpiryInterval(number(value)?),
        "session-expiry-interval" => Property::SessionExpiryInterval(number(value)?),
        "will-delay-interval" => Property::WillDelayInterval(number(value)?),
        "maximum-packet-size" => Property::MaximumPacketSize(non_zero_u32(value)?),
        "receive-maximum" => Property::ReceiveMaximum(
            NonZeroU16::new(number(value)?).ok_or("receive-maximum must be 1 to 65535")?,
        ),
        "topic-alias-maximum" => Property::TopicAliasMaximum(number(value)?),
        "payload-format-indicator" => Property::PayloadFormatIndicator(flag(value)?),
        "request-problem-information" => Property::RequestProblemInformation(flag(value)?),
        "request-response-information" => Property::RequestResponseInformation(flag(value)?),
        "subscription-identifier" => {
            let id = non_zero_u32(value)?;
            // [MQTT-3.8.2.1.2] a variable byte integer: at most 268,435,455.
            if id.get() > 268_435_455 {
                return Err("subscription-identifier must be 1 to 268435455".to_owned());
            }
            Property::SubscriptionIdentifier(id)
        }
        _ => return Err(format!("{name} is not supported")),
    })
}

fn string(s: &str) -> Result<MqttString, String> {
    MqttString::try_from(s).map_err(|e| format!("{s:?}: {e}"))
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a number in the property's range"))
}

fn non_zero_u32(s: &str) -> Result<NonZeroU32, String> {
    NonZeroU32::new(number(s)?).ok_or_else(|| format!("{s:?} must not be 0"))
}

fn flag(s: &str) -> Result<bool, String> {
    match s {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("{s:?} must be 0 or 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn properties_go_to_their_packets() {
        let set = PropertySet::parse(&[
            spec("publish user-property a 1"),
            spec("publish user-property a 2"),
            spec("publish content-type text/plain"),
            spec("connect session-expiry-interval 60"),
            spec("subscribe subscription-identifier 7"),
            spec("will will-delay-interval 5"),
        ])
        .unwrap();
        let users: Vec<_> = set
            .publish
            .user_properties()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(users, [("a", "1"), ("a", "2")]);
        assert_eq!(
            set.publish.content_type().map(|c| c.as_str()),
            Some("text/plain")
        );
        assert_eq!(set.connect.session_expiry_interval(), Some(60));
        assert_eq!(
            set.subscribe.subscription_identifier().map(|i| i.get()),
            Some(7)
        );
        assert_eq!(set.will.will_delay_interval(), Some(5));
        assert!(set.disconnect.is_empty());
    }

    #[test]
    fn wrong_properties_say_why() {
        for (bad, says) in [
            (
                "publish session-expiry-interval 5",
                "not a publish property",
            ),
            ("frobnicate content-type x", "COMMAND must be"),
            ("publish message-expiry-interval soon", "not a number"),
            ("publish user-property lonely", "KEY and a VALUE"),
            ("subscribe subscription-identifier 0", "must not be 0"),
            ("publish payload-format-indicator 2", "0 or 1"),
        ] {
            let err = PropertySet::parse(&[spec(bad)]).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }
}
