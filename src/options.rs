//! Connection options and URL parsing.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::packet::{MqttString, Properties, Property, ProtocolLevel, Will};

/// What to do with QoS 1/2 messages the client still had in flight when the broker answers a
/// reconnect with Session Present 0 (the session, and so the messages' state, is gone
/// [MQTT-3.2.2-5]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionLostPolicy {
    /// Publish them again as new messages (new packet identifiers, DUP 0). A QoS 1 message may
    /// then arrive twice; a QoS 2 message whose PUBREC had been received is not sent again.
    #[default]
    Republish,
    /// Resolve their futures with [`crate::PublishError::SessionLost`].
    Fail,
}

/// Automatic reconnection with exponential backoff and jitter.
///
/// ```
/// use std::time::Duration;
/// use pigeon_mqtt::ReconnectOptions;
/// let r = ReconnectOptions::default().backoff(Duration::from_millis(100), Duration::from_secs(5));
/// assert!(r.enabled);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectOptions {
    /// Reconnect after the connection is lost (default `true`).
    pub enabled: bool,
    /// Retry a first connection that fails (default `true`); when `false`, the first failure is
    /// returned as an error by the event loop.
    pub retry_first_connect: bool,
    /// Delay before the first retry (default 500 ms).
    pub min_delay: Duration,
    /// Upper bound of the delay, which doubles after each failed attempt (default 30 s).
    pub max_delay: Duration,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        ReconnectOptions {
            enabled: true,
            retry_first_connect: true,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl ReconnectOptions {
    /// No reconnection: a lost connection ends the event loop.
    pub fn disabled() -> Self {
        ReconnectOptions {
            enabled: false,
            retry_first_connect: false,
            ..ReconnectOptions::default()
        }
    }

    /// Sets the backoff bounds.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_delay = min;
        self.max_delay = max.max(min);
        self
    }
}

/// Why a URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// No `scheme://`.
    #[error("URL {0:?} has no scheme (expected mqtt://host:port)")]
    MissingScheme(String),
    /// A scheme this build does not support.
    #[error("URL scheme {0:?} is not supported (supported: mqtt, tcp)")]
    UnsupportedScheme(String),
    /// No host.
    #[error("URL {0:?} has no host")]
    MissingHost(String),
    /// A port that is not a number from 1 to 65535.
    #[error("URL port {0:?} is not a number from 1 to 65535")]
    InvalidPort(String),
    /// A query parameter that is unknown or has a bad value.
    #[error("URL query parameter {0:?} is unknown or has an invalid value")]
    InvalidQuery(String),
    /// Text after the host that is not a path, query or port.
    #[error("URL {0:?} is malformed: {1}")]
    Malformed(String, &'static str),
}

/// Everything needed to connect: the server, the CONNECT contents, limits, and behaviour on
/// reconnect. Built with chained setters.
///
/// ```
/// use std::time::Duration;
/// use pigeon_mqtt::{ConnectOptions, ProtocolLevel};
/// let opts = ConnectOptions::new("127.0.0.1", 1883)
///     .client_id("sensor-1")
///     .protocol(ProtocolLevel::V3_1_1)
///     .keep_alive(Duration::from_secs(30));
/// assert_eq!(opts.port(), 1883);
///
/// let opts = ConnectOptions::from_url("mqtt://user:secret@127.0.0.1:1884?client_id=abc").unwrap();
/// assert_eq!(opts.host(), "127.0.0.1");
/// assert_eq!(opts.port(), 1884);
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) protocol: ProtocolLevel,
    pub(crate) client_id: MqttString,
    pub(crate) clean_start: bool,
    pub(crate) keep_alive: Duration,
    pub(crate) session_expiry: u32,
    pub(crate) username: Option<MqttString>,
    pub(crate) password: Option<Bytes>,
    pub(crate) will: Option<Will>,
    pub(crate) receive_maximum: u16,
    pub(crate) maximum_packet_size: u32,
    pub(crate) topic_alias_maximum: u16,
    pub(crate) connect_properties: Properties,
    pub(crate) max_inflight: u16,
    pub(crate) max_queued: usize,
    pub(crate) request_capacity: usize,
    pub(crate) event_capacity: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) tcp_nodelay: bool,
    pub(crate) reconnect: ReconnectOptions,
    pub(crate) resubscribe: bool,
    pub(crate) session_lost: SessionLostPolicy,
    pub(crate) auto_topic_alias: bool,
    pub(crate) disconnect_timeout: Duration,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

impl ConnectOptions {
    /// Options for `host:port` with MQTT 5.0, an empty client id (the server assigns one), clean
    /// start, keep alive 60 s, and reconnection on.
    pub fn new(host: impl Into<String>, port: u16) -> ConnectOptions {
        ConnectOptions {
            host: host.into(),
            port,
            protocol: ProtocolLevel::V5,
            client_id: MqttString::empty(),
            clean_start: true,
            keep_alive: Duration::from_secs(60),
            session_expiry: 0,
            username: None,
            password: None,
            will: None,
            receive_maximum: u16::MAX,
            maximum_packet_size: crate::codec::MAX_PACKET_SIZE,
            topic_alias_maximum: 0,
            connect_properties: Properties::new(),
            max_inflight: 100,
            max_queued: 1000,
            request_capacity: 64,
            event_capacity: 64,
            connect_timeout: Duration::from_secs(10),
            tcp_nodelay: true,
            reconnect: ReconnectOptions::default(),
            resubscribe: true,
            session_lost: SessionLostPolicy::Republish,
            auto_topic_alias: false,
            disconnect_timeout: Duration::from_secs(10),
        }
    }

    /// Options from a URL: `mqtt://[user[:password]@]host[:port][?client_id=ID&keep_alive=SECS&clean_start=true|false&protocol=5|4|3]`.
    /// `tcp://` is a synonym of `mqtt://`; the default port is 1883.
    pub fn from_url(url: &str) -> Result<ConnectOptions, UrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| UrlError::MissingScheme(url.to_owned()))?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => 1883,
            other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains('/') {
            return Err(UrlError::Malformed(
                url.to_owned(),
                "a path is only meaningful for ws:// and wss://",
            ));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, default_port)?;
        if host.is_empty() {
            return Err(UrlError::MissingHost(url.to_owned()));
        }
        let mut opts = ConnectOptions::new(host, port);
        if let Some(u) = userinfo {
            let (user, pass) = match u.split_once(':') {
                Some((a, b)) => (a, Some(b)),
                None => (u, None),
            };
            opts = opts.username(user);
            if let Some(pass) = pass {
                opts.password = Some(bytes::Bytes::copy_from_slice(pass.as_bytes()));
            }
        }
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || UrlError::InvalidQuery(pair.to_owned());
            opts = match k {
                "client_id" => opts.client_id(v),
                "keep_alive" => opts.keep_alive(Duration::from_secs(v.parse().map_err(|_| bad())?)),
                "clean_start" | "clean_session" => opts.clean_start(v.parse().map_err(|_| bad())?),
                "protocol" => opts.protocol(match v {
                    "5" | "5.0" => ProtocolLevel::V5,
                    "4" | "3.1.1" => ProtocolLevel::V3_1_1,
                    "3" | "3.1" => ProtocolLevel::V3_1,
                    _ => return Err(bad()),
                }),
                _ => return Err(bad()),
            };
        }
        Ok(opts)
    }

    /// Host name or address of the server.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port of the server.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The protocol level requested.
    pub fn protocol_level(&self) -> ProtocolLevel {
        self.protocol
    }

    /// Protocol level: 5.0 (default), 3.1.1 or 3.1.
    pub fn protocol(mut self, level: ProtocolLevel) -> Self {
        self.protocol = level;
        self
    }

    /// Client identifier. Empty asks the server to assign one (at 5.0 the Assigned Client
    /// Identifier is then used on reconnects). A U+0000 in the id is dropped with what follows.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        let mut id: String = id.into();
        if let Some(end) = id.find('\0') {
            id.truncate(end);
        }
        self.client_id = MqttString::try_from(id).unwrap_or_default();
        self
    }

    /// Clean Start (5.0) / Clean Session (3.1.1) for the first connection. At 5.0 reconnects
    /// always ask to resume (Clean Start 0), so a session with a non-zero expiry survives a lost
    /// connection; at 3.1.1 every connection uses this flag.
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.clean_start = clean;
        self
    }

    /// Keep Alive; zero turns keep alive off. Sent in whole seconds (at most 65,535).
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive.min(Duration::from_secs(u16::MAX.into()));
        self
    }

    /// Session Expiry Interval in seconds (5.0). `u32::MAX` never expires.
    pub fn session_expiry(mut self, secs: u32) -> Self {
        self.session_expiry = secs;
        self
    }

    /// User name and password.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<Bytes>) -> Self {
        self.username = MqttString::try_from(username.into()).ok();
        self.password = Some(password.into());
        self
    }

    /// User name only.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = MqttString::try_from(username.into()).ok();
        self
    }

    /// Last Will and Testament.
    pub fn will(mut self, will: Will) -> Self {
        self.will = Some(will);
        self
    }

    /// Own Receive Maximum (5.0): how many incoming QoS 1/2 messages may be unacknowledged.
    /// Zero is not allowed and is treated as 1.
    pub fn receive_maximum(mut self, max: u16) -> Self {
        self.receive_maximum = max.max(1);
        self
    }

    /// Own Maximum Packet Size: larger incoming packets are refused.
    pub fn maximum_packet_size(mut self, max: u32) -> Self {
        self.maximum_packet_size = max.clamp(2, crate::codec::MAX_PACKET_SIZE);
        self
    }

    /// Own Topic Alias Maximum (5.0): how many topic aliases the server may use towards us.
    pub fn topic_alias_maximum(mut self, max: u16) -> Self {
        self.topic_alias_maximum = max;
        self
    }

    /// Use topic aliases automatically for outgoing messages, within the server's Topic Alias
    /// Maximum (5.0; off by default).
    pub fn auto_topic_alias(mut self, on: bool) -> Self {
        self.auto_topic_alias = on;
        self
    }

    /// Adds a property to CONNECT (5.0): user properties, request problem/response information,
    /// authentication method and data. Limits set with the dedicated setters take precedence.
    pub fn connect_property(mut self, p: Property) -> Self {
        self.connect_properties.push(p);
        self
    }

    /// Own limit of outgoing QoS 1/2 messages in flight (the server's Receive Maximum also
    /// applies). Zero is treated as 1.
    pub fn max_inflight(mut self, max: u16) -> Self {
        self.max_inflight = max.max(1);
        self
    }

    /// How many publishes may wait (while disconnected, or for the in-flight window) before
    /// `publish` waits and `try_publish` fails.
    pub fn max_queued(mut self, max: usize) -> Self {
        self.max_queued = max.max(1);
        self
    }

    /// Capacity of the channel from the client handles to the event loop.
    pub fn request_capacity(mut self, cap: usize) -> Self {
        self.request_capacity = cap.max(1);
        self
    }

    /// Capacity of the incoming message stream; when it is full, reading from the socket pauses.
    pub fn event_capacity(mut self, cap: usize) -> Self {
        self.event_capacity = cap.max(1);
        self
    }

    /// How long to wait for the TCP connection and CONNACK.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// TCP_NODELAY (default on: with Nagle a QoS 1 round trip takes ~40 ms instead of µs).
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.tcp_nodelay = on;
        self
    }

    /// Reconnection behaviour.
    pub fn reconnect(mut self, r: ReconnectOptions) -> Self {
        self.reconnect = r;
        self
    }

    /// Restore subscriptions after reconnecting to a session that is not present (default on).
    pub fn resubscribe(mut self, on: bool) -> Self {
        self.resubscribe = on;
        self
    }

    /// What happens to in-flight messages when the session is lost.
    pub fn session_lost_policy(mut self, p: SessionLostPolicy) -> Self {
        self.session_lost = p;
        self
    }

    /// How long a graceful `disconnect` waits for in-flight messages to complete.
    pub fn disconnect_timeout(mut self, t: Duration) -> Self {
        self.disconnect_timeout = t;
        self
    }
}

fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16), UrlError> {
    let port_of = |p: &str| -> Result<u16, UrlError> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(UrlError::InvalidPort(p.to_owned())),
        }
    };
    if let Some(rest) = s.strip_prefix('[') {
        // [::1]:1883
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| UrlError::Malformed(s.to_owned(), "unclosed '[' in IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => port_of(p)?,
            None if after.is_empty() => default_port,
            None => return Err(UrlError::Malformed(s.to_owned(), "text after IPv6 address")),
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_owned(), port_of(p)?)),
        None => Ok((s.to_owned(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let o = ConnectOptions::from_url("mqtt://127.0.0.1").unwrap();
        assert_eq!((o.host(), o.port()), ("127.0.0.1", 1883));
        let o = ConnectOptions::from_url("tcp://[::1]:1884/").unwrap();
        assert_eq!((o.host(), o.port()), ("::1", 1884));
        let o = ConnectOptions::from_url("mqtt://u:p@h:1?protocol=4&keep_alive=5").unwrap();
        assert_eq!(o.username.as_ref().map(|u| u.as_str()), Some("u"));
        assert_eq!(o.password.as_deref(), Some(&b"p"[..]));
        assert_eq!(o.protocol, ProtocolLevel::V3_1_1);
        assert_eq!(o.keep_alive, Duration::from_secs(5));
    }

    #[test]
    fn url_errors_say_what_is_wrong() {
        assert!(matches!(
            ConnectOptions::from_url("127.0.0.1:1883"),
            Err(UrlError::MissingScheme(_))
        ));
        assert!(matches!(
            ConnectOptions::from_url("http://h"),
            Err(UrlError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            ConnectOptions::from_url("mqtt://h:0"),
            Err(UrlError::InvalidPort(_))
        ));
        assert!(matches!(
            ConnectOptions::from_url("mqtt://h:99999"),
            Err(UrlError::InvalidPort(_))
        ));
        assert!(matches!(
            ConnectOptions::from_url("mqtt://:1883"),
            Err(UrlError::MissingHost(_))
        ));
        assert!(matches!(
            ConnectOptions::from_url("mqtt://h?x=1"),
            Err(UrlError::InvalidQuery(_))
        ));
        assert!(matches!(
            ConnectOptions::from_url("mqtt://h/path"),
            Err(UrlError::Malformed(..))
        ));
    }
}
