//! AUTH [MQTT-3.15] (5.0 only).

use super::{Properties, ReasonCode};

/// AUTH: one step of MQTT 5 enhanced authentication.
///
/// ```
/// use pigeon_mqtt::packet::{Auth, ReasonCode};
/// let a = Auth::new(ReasonCode::ContinueAuthentication);
/// assert!(a.properties.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Success (0x00), Continue authentication (0x18) or Re-authenticate (0x19).
    pub reason_code: ReasonCode,
    /// AUTH properties: Authentication Method and Data, Reason String, User Properties.
    pub properties: Properties,
}

impl Auth {
    /// An AUTH with a reason code and no properties.
    pub fn new(reason_code: ReasonCode) -> Auth {
        Auth {
            reason_code,
            properties: Properties::new(),
        }
    }
}
