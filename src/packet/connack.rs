//! CONNACK [MQTT-3.2].

use super::{Properties, ReasonCode};

/// CONNACK: the server's answer to CONNECT.
///
/// ```
/// use pigeon_mqtt::packet::{ConnAck, ReasonCode};
/// let ack = ConnAck::new(false, ReasonCode::Success);
/// assert!(!ack.reason_code.is_error());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAck {
    /// Session Present.
    pub session_present: bool,
    /// Connect Reason Code (3.1.1 return codes are mapped onto it).
    pub reason_code: ReasonCode,
    /// CONNACK properties (5.0).
    pub properties: Properties,
}

impl ConnAck {
    /// A CONNACK without properties.
    pub fn new(session_present: bool, reason_code: ReasonCode) -> ConnAck {
        ConnAck {
            session_present,
            reason_code,
            properties: Properties::new(),
        }
    }
}
