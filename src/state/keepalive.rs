//! Keep alive [MQTT-3.1.2-20] [MQTT-3.1.2-22]: when to send PINGREQ and when to give up on a
//! server that stopped answering.
//!
//! ```text
//!   idle ──nothing sent for keep alive (or acks awaited and nothing received)──▶ PINGREQ sent
//!     ▲                                                                          │
//!     └─────────────────────────── PINGRESP ◀──────────────────────────────────┤
//!                                                                                │
//!                              no PINGRESP within keep alive / 2 ──▶ KeepAliveTimeout
//! ```

use std::time::{Duration, Instant};

/// What the keep-alive timer asks for when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ping {
    /// Nothing to do yet.
    Wait,
    /// Send PINGREQ now.
    Send,
    /// The server did not answer in time: close the connection.
    TimedOut,
}

/// Keep-alive bookkeeping of one connection.
#[derive(Debug)]
pub(super) struct KeepAlive {
    /// The interval in force: ours, or the Server Keep Alive [MQTT-3.2.2-21]. Zero turns the
    /// mechanism off.
    pub(super) interval: Duration,
    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,
}

impl KeepAlive {
    pub(super) fn new(interval: Duration, now: Instant) -> KeepAlive {
        KeepAlive {
            interval,
            last_sent: now,
            last_received: now,
            ping_sent: None,
        }
    }

    /// A new connection: no ping outstanding, the clock starts now.
    pub(super) fn reset(&mut self, now: Instant) {
        self.ping_sent = None;
        self.last_received = now;
    }

    /// The connection ended.
    pub(super) fn stop(&mut self) {
        self.ping_sent = None;
    }

    pub(super) fn on_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    pub(super) fn on_received(&mut self, now: Instant) {
        self.last_received = now;
    }

    pub(super) fn on_pingresp(&mut self) {
        self.ping_sent = None;
    }

    /// The timer fired at `now`; `awaiting_acks` says whether acknowledgements are outstanding.
    pub(super) fn poll(&mut self, now: Instant, awaiting_acks: bool) -> Ping {
        if self.interval.is_zero() {
            return Ping::Wait;
        }
        match self.ping_sent {
            // The server has half the keep alive to answer, so a dead server is detected
            // within 1.5 x keep alive of the last packet it sent.
            Some(sent) if now >= sent + self.interval / 2 => Ping::TimedOut,
            Some(_) => Ping::Wait,
            None if now >= self.ping_due(awaiting_acks) => {
                self.ping_sent = Some(now);
                Ping::Send
            }
            None => Ping::Wait,
        }
    }

    /// When [`KeepAlive::poll`] must be called next, if ever.
    pub(super) fn deadline(&self, awaiting_acks: bool) -> Option<Instant> {
        if self.interval.is_zero() {
            return None;
        }
        Some(match self.ping_sent {
            Some(sent) => sent + self.interval / 2,
            None => self.ping_due(awaiting_acks),
        })
    }

    /// PINGREQ is due when nothing was sent for the keep alive interval [MQTT-3.1.2-20], or when
    /// acknowledgements are awaited and nothing was received for that long (a broker that
    /// stopped answering is otherwise never noticed while the client keeps sending).
    fn ping_due(&self, awaiting_acks: bool) -> Instant {
        let idle_send = self.last_sent + self.interval;
        if awaiting_acks {
            idle_send.min(self.last_received + self.interval)
        } else {
            idle_send
        }
    }
}
