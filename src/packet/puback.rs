//! PUBACK, PUBREC, PUBREL and PUBCOMP [MQTT-3.4 .. 3.7]: one shape, four packet types.

use super::{PacketId, Properties, ReasonCode};

/// The body shared by PUBACK, PUBREC, PUBREL and PUBCOMP: a packet identifier, a reason code
/// (5.0) and properties (5.0). Which of the four it is comes from the [`super::Packet`] variant.
///
/// ```
/// use pigeon_mqtt::packet::{PacketId, PubAck, ReasonCode};
/// let ack = PubAck::new(PacketId::new(5).unwrap());
/// assert_eq!(ack.reason_code, ReasonCode::Success);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResponse {
    /// Identifier of the PUBLISH being acknowledged.
    pub packet_id: PacketId,
    /// Reason code (5.0); always `Success` at 3.1.1.
    pub reason_code: ReasonCode,
    /// Properties (5.0): Reason String, User Properties.
    pub properties: Properties,
}

impl PubResponse {
    /// A successful response without properties.
    pub fn new(packet_id: PacketId) -> PubResponse {
        PubResponse {
            packet_id,
            reason_code: ReasonCode::Success,
            properties: Properties::new(),
        }
    }

    /// A response with a reason code and no properties.
    pub fn with_reason(packet_id: PacketId, reason_code: ReasonCode) -> PubResponse {
        PubResponse {
            packet_id,
            reason_code,
            properties: Properties::new(),
        }
    }
}

/// PUBACK: QoS 1 acknowledgement.
pub type PubAck = PubResponse;
/// PUBREC: QoS 2 publish received.
pub type PubRec = PubResponse;
/// PUBREL: QoS 2 publish release.
pub type PubRel = PubResponse;
/// PUBCOMP: QoS 2 publish complete.
pub type PubComp = PubResponse;
