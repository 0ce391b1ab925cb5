//! MQTT 5 enhanced authentication [MQTT-4.12] and credentials refreshed before each connect.
//!
//! An [`Authenticator`] drives the AUTH exchange: its method and first data go in CONNECT, each
//! AUTH with reason code Continue authentication (0x18) from the server is answered with the
//! data it returns, and the final data (in CONNACK, or in AUTH Success after a
//! re-authentication) is handed to [`Authenticator::finish`] to verify the server.
//!
//! ```
//! use bytes::Bytes;
//! use pigeon_mqtt::auth::{AuthError, Authenticator};
//!
//! /// A challenge-response scheme: the server sends a nonce, we answer with it reversed.
//! struct Reverse;
//!
//! impl Authenticator for Reverse {
//!     fn method(&self) -> &str {
//!         "REVERSE"
//!     }
//!     fn start(&mut self) -> Result<Option<Bytes>, AuthError> {
//!         Ok(Some(Bytes::from_static(b"hello")))
//!     }
//!     fn step(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, AuthError> {
//!         let mut v = challenge.ok_or_else(|| AuthError::new("no challenge"))?.to_vec();
//!         v.reverse();
//!         Ok(Some(v.into()))
//!     }
//! }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Why authentication failed on the client side (the server's refusals arrive as reason codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("authentication failed: {message}")]
pub struct AuthError {
    message: String,
}

impl AuthError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> AuthError {
        AuthError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// One enhanced authentication method (SCRAM, Kerberos, a token exchange, ...).
///
/// Called by the engine synchronously, in protocol order: [`Authenticator::start`] for CONNECT
/// (and again for each re-authentication), [`Authenticator::step`] for each server challenge,
/// [`Authenticator::finish`] when the server reports success.
pub trait Authenticator: Send {
    /// The Authentication Method, sent in CONNECT and every AUTH.
    fn method(&self) -> &str;

    /// The initial Authentication Data (CONNECT, or AUTH Re-authenticate).
    fn start(&mut self) -> Result<Option<Bytes>, AuthError>;

    /// Answers a challenge (AUTH 0x18 from the server) with the data of our AUTH 0x18.
    fn step(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, AuthError>;

    /// The server reported success with this final data; an error closes the connection.
    fn finish(&mut self, data: Option<&Bytes>) -> Result<(), AuthError> {
        let _ = data;
        Ok(())
    }
}

/// An authenticator shared between the options (which are `Clone`) and the engine.
#[derive(Clone)]
pub struct SharedAuthenticator(Arc<Mutex<dyn Authenticator>>);

impl SharedAuthenticator {
    /// Wraps an authenticator.
    pub fn new(a: impl Authenticator + 'static) -> SharedAuthenticator {
        SharedAuthenticator(Arc::new(Mutex::new(a)))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut dyn Authenticator) -> R) -> R {
        let mut guard = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut *guard)
    }
}

impl fmt::Debug for SharedAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = self.with(|a| a.method().to_owned());
        f.debug_tuple("SharedAuthenticator").field(&method).finish()
    }
}

/// User name and password returned by a credentials provider.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User Name.
    pub username: Option<String>,
    /// Password (binary at 5.0).
    pub password: Option<Bytes>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Called before every connect and reconnect to supply fresh credentials (a rotated password,
/// a token that expires).
pub type CredentialsProvider = Arc<dyn Fn() -> Credentials + Send + Sync>;
