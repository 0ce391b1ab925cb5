//! Enhanced authentication (5.0) [MQTT-4.12]: the AUTH exchange at connect and
//! re-authentication on a live connection.
//!
//! ```text
//!   CONNECT(method, data) ──AUTH 0x18(challenge)──▶ AUTH 0x18(response) ── ... ──▶ CONNACK
//!   AUTH 0x19(method, data) ──AUTH 0x18 ... ──▶ AUTH 0x00 (re-authentication complete)
//! ```

use std::time::Instant;

use super::{Conn, Engine, Output};
use crate::auth::AuthError;
use crate::error::{ConnectionError, ProtocolError};
use crate::packet::{Auth, MqttString, Packet, PacketType, Property, ReasonCode};

impl<T> Engine<T> {
    pub(super) fn start_reauth(&mut self, now: Instant, ticket: T) {
        let Some(auth) = self
            .opts
            .authenticator
            .clone()
            .filter(|_| self.level.is_v5())
        else {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(AuthError::new(
                    "no authenticator is configured (MQTT 5 only)",
                )),
            });
            return;
        };
        if !matches!(self.conn, Conn::Connected) || self.reauth.is_some() {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(AuthError::new(
                    "re-authentication needs a connection with no other re-authentication under way",
                )),
            });
            return;
        }
        match auth.with(|a| a.start()) {
            Ok(data) => {
                self.reauth = Some(ticket);
                self.send_auth(now, &auth, ReasonCode::ReAuthenticate, data);
            }
            Err(e) => self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(e),
            }),
        }
    }

    pub(super) fn send_auth(
        &mut self,
        now: Instant,
        auth: &crate::auth::SharedAuthenticator,
        reason: ReasonCode,
        data: Option<bytes::Bytes>,
    ) {
        let mut packet = Auth::new(reason);
        let method = auth.with(|a| MqttString::try_from(a.method()).unwrap_or_default());
        packet
            .properties
            .push(Property::AuthenticationMethod(method));
        if let Some(d) = data {
            packet.properties.push(Property::AuthenticationData(d));
        }
        self.send(now, Packet::Auth(packet));
    }

    pub(super) fn on_auth(&mut self, now: Instant, a: Auth) -> Result<(), ProtocolError> {
        let Some(auth) = self.opts.authenticator.clone() else {
            // [MQTT-4.12.0-6] without a method in CONNECT the server must not send AUTH.
            return Err(ProtocolError::UnexpectedPacket(PacketType::Auth));
        };
        let method = auth.with(|a| a.method().to_owned());
        // [MQTT-4.12.0-5] every AUTH carries the method of CONNECT.
        if a.properties.authentication_method().map(|m| m.as_str()) != Some(method.as_str()) {
            return Err(ProtocolError::AuthMethodMismatch);
        }
        let connecting = matches!(self.conn, Conn::Connecting { .. });
        match a.reason_code {
            ReasonCode::ContinueAuthentication if connecting || self.reauth.is_some() => {
                match auth.with(|x| x.step(a.properties.authentication_data())) {
                    Ok(data) => {
                        self.send_auth(now, &auth, ReasonCode::ContinueAuthentication, data)
                    }
                    Err(e) => self.auth_failed(e),
                }
                Ok(())
            }
            ReasonCode::Success if !connecting && self.reauth.is_some() => {
                let result = auth.with(|x| x.finish(a.properties.authentication_data()));
                if let Some(ticket) = self.reauth.take() {
                    self.output.push_back(Output::ReauthDone {
                        ticket,
                        result: result.clone(),
                    });
                }
                if let Err(e) = result {
                    self.close_reason = Some(ConnectionError::Auth(e));
                }
                Ok(())
            }
            _ => Err(ProtocolError::UnexpectedPacket(PacketType::Auth)),
        }
    }

    pub(super) fn auth_failed(&mut self, e: AuthError) {
        if let Some(ticket) = self.reauth.take() {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(e.clone()),
            });
        }
        self.close_reason = Some(ConnectionError::Auth(e));
    }

    pub(super) fn fail_reauth(&mut self, why: &str) {
        if let Some(ticket) = self.reauth.take() {
            self.output.push_back(Output::ReauthDone {
                ticket,
                result: Err(AuthError::new(why)),
            });
        }
    }
}
