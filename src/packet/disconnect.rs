//! DISCONNECT [MQTT-3.14].

use super::{Properties, ReasonCode};

/// DISCONNECT. At 3.1.1 it has no body and only the client sends it.
///
/// ```
/// use pigeon_mqtt::packet::{Disconnect, ReasonCode};
/// assert_eq!(Disconnect::default().reason_code, ReasonCode::Success);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Disconnect Reason Code (5.0); `Success` is Normal disconnection.
    pub reason_code: ReasonCode,
    /// DISCONNECT properties (5.0).
    pub properties: Properties,
}

impl Disconnect {
    /// A DISCONNECT with a reason code and no properties.
    pub fn new(reason_code: ReasonCode) -> Disconnect {
        Disconnect {
            reason_code,
            properties: Properties::new(),
        }
    }
}
