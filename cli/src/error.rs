//! [`CliError`]: everything that ends a command early, and the exit status it gives.
//!
//! Exit statuses follow mosquitto_pub / mosquitto_sub: 0 on success; the CONNACK code the
//! broker sent when it refused the connection (5 for "not authorized" at 3.1.1, 135 at 5.0);
//! 27 when `sub -W` timed out; 2 for a usage error; 1 for anything else (broker unreachable,
//! TLS failure, connection lost, a message refused). The message is always one line.

use std::process::ExitCode;

use pigeon_mqtt::packet::{ProtocolLevel, ReasonCode};
use pigeon_mqtt::{ConnectionError, PublishError, SubscribeError};

/// mosquitto's `MOSQ_ERR_TIMEOUT`, which mosquitto_sub exits with when `-W` expires.
pub const EXIT_TIMEOUT: u8 = 27;
/// A usage error (clap uses the same status for the errors it finds).
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed. The `Display` text is the single line printed on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments do not make sense together, or a value is invalid.
    #[error("{0}")]
    Usage(String),
    /// The first connection failed: refused, unreachable, TLS, timeout, ...
    #[error("connection to {server} failed: {error}")]
    Connect {
        /// The server tried.
        server: String,
        /// Why it failed.
        error: ConnectionError,
        /// The protocol level asked for (to report a refusal's code as the broker sent it).
        level: ProtocolLevel,
    },
    /// The connection ended for good while the command ran.
    #[error("connection lost: {0}")]
    ConnectionLost(ConnectionError),
    /// `sub -W` expired.
    #[error("timed out after {0} s (-W {0})")]
    Timeout(u64),
    /// A publish did not complete.
    #[error("publish to {topic} failed: {error}")]
    Publish {
        /// Its topic.
        topic: String,
        /// Why.
        error: PublishError,
    },
    /// A subscribe or unsubscribe request failed before its acknowledgement.
    #[error("{what} failed: {error}")]
    Subscribe {
        /// `subscribe` or `unsubscribe`.
        what: &'static str,
        /// Why.
        error: SubscribeError,
    },
    /// The broker refused every topic filter of a SUBSCRIBE.
    #[error("the broker refused the subscription to {filters}: {reason}")]
    SubscriptionRefused {
        /// The filters, comma separated.
        filters: String,
        /// The first reason code's description.
        reason: String,
    },
    /// Reading the message to send (file or stdin) or writing the output failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being read or written.
        what: String,
        /// The error.
        error: std::io::Error,
    },
    /// A bench cannot run as asked (open-file limit, nothing connected, ...).
    #[error("{0}")]
    Bench(String),
}

impl CliError {
    /// The process exit status for this error (see the module docs).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Connect {
                error: ConnectionError::Refused { reason_code, .. },
                level,
                ..
            } => connack_code(*reason_code, *level),
            CliError::Timeout(_) => EXIT_TIMEOUT,
            _ => 1,
        })
    }

    /// Shorthand for an I/O error with what was being done.
    pub fn io(what: impl Into<String>, error: std::io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            error,
        }
    }
}

/// The CONNACK code as it was on the wire: the library maps 3.1.1 return codes onto 5.0 reason
/// codes, so map them back at 3.1 / 3.1.1 [MQTT-3.2.2.3].
fn connack_code(reason: ReasonCode, level: ProtocolLevel) -> u8 {
    if level.is_v5() {
        return reason.code();
    }
    match reason {
        ReasonCode::UnsupportedProtocolVersion => 1,
        ReasonCode::ClientIdentifierNotValid => 2,
        ReasonCode::ServerUnavailable => 3,
        ReasonCode::BadUserNameOrPassword => 4,
        ReasonCode::NotAuthorized => 5,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_exit_with_the_code_on_the_wire() {
        assert_eq!(
            connack_code(ReasonCode::NotAuthorized, ProtocolLevel::V5),
            0x87
        );
        assert_eq!(
            connack_code(ReasonCode::NotAuthorized, ProtocolLevel::V3_1_1),
            5
        );
        assert_eq!(
            connack_code(ReasonCode::BadUserNameOrPassword, ProtocolLevel::V3_1),
            4
        );
    }
}
