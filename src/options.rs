//! Connection options and URL parsing.

use std::fmt;
#[cfg(feature = "tls")]
use std::path::PathBuf;
#[cfg(feature = "tls")]
use std::sync::Arc;
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

/// The default of [`ConnectOptions::maximum_packet_size`]: 1 MiB, the largest packet the client
/// accepts unless told otherwise (EMQX's default limit is 1 MB; AWS IoT Core allows 128 KB
/// payloads).
pub const DEFAULT_MAXIMUM_PACKET_SIZE: u32 = 1024 * 1024;

/// What happens to a publish when the queue of messages waiting to be sent is full
/// ([`ConnectOptions::max_queued`], [`ConnectOptions::max_queued_bytes`]), for example while the
/// broker has been unreachable for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueFullPolicy {
    /// Backpressure: `publish` waits for room, `try_publish` fails with
    /// [`crate::ClientError::QueueFull`].
    #[default]
    Wait,
    /// Make room by dropping the oldest queued message: its publish fails with
    /// [`crate::PublishError::Dropped`].
    DropOldest,
    /// Drop the new message: its publish fails at once with [`crate::PublishError::Dropped`].
    DropNewest,
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
    /// Retry a first connection that fails (default `false`, as paho's
    /// `retry_first_connection=False`): the first failure (unreachable broker, refusal, TLS
    /// failure) ends the event loop with that error, and requests already handed to the client
    /// fail with it. Once a connection has succeeded, losses are retried (see `enabled`).
    pub retry_first_connect: bool,
    /// End the event loop, instead of retrying, when a connection fails for a reason retrying
    /// will not mend (default `false`): bad user name or password, not authorized, banned,
    /// unsupported protocol version, a rejected server certificate (see
    /// [`crate::ConnectionError::is_permanent`]). Every refusal reaches the application as an
    /// event either way.
    pub stop_on_permanent_error: bool,
    /// Delay before the first retry (default 500 ms).
    pub min_delay: Duration,
    /// Upper bound of the delay, which doubles after each failed attempt (default 30 s).
    pub max_delay: Duration,
    /// How long a connection must stay up before the delay starts again from `min_delay`
    /// (default 10 s). A broker that accepts the connection and then drops it at once (an
    /// overloaded broker, an ACL that kicks the client, a broker that rejects what the client
    /// sends) therefore meets growing delays, not a tight reconnect loop.
    pub stable_after: Duration,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        ReconnectOptions {
            enabled: true,
            retry_first_connect: false,
            stop_on_permanent_error: false,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
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

    /// Sets the backoff bounds: each delay lies between `min` and `max`, doubling after each
    /// failed attempt, with random jitter so that clients restarted together spread out.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_delay = min;
        self.max_delay = max.max(min);
        self
    }

    /// Retries a first connection that fails, with the same backoff as later ones (see
    /// [`ReconnectOptions::retry_first_connect`]).
    ///
    /// ```
    /// use pigeon_mqtt::ReconnectOptions;
    /// assert!(ReconnectOptions::default().retry_first_connect(true).retry_first_connect);
    /// ```
    pub fn retry_first_connect(mut self, on: bool) -> Self {
        self.retry_first_connect = on;
        self
    }

    /// Ends the event loop on a permanent failure (see
    /// [`ReconnectOptions::stop_on_permanent_error`]).
    ///
    /// ```
    /// use pigeon_mqtt::ReconnectOptions;
    /// assert!(ReconnectOptions::default().stop_on_permanent_error(true).stop_on_permanent_error);
    /// ```
    pub fn stop_on_permanent_error(mut self, on: bool) -> Self {
        self.stop_on_permanent_error = on;
        self
    }

    /// Sets how long a connection must stay up before the backoff starts again from its
    /// minimum (see [`ReconnectOptions::stable_after`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use pigeon_mqtt::ReconnectOptions;
    /// let r = ReconnectOptions::default().stable_after(Duration::from_secs(60));
    /// assert_eq!(r.stable_after, Duration::from_secs(60));
    /// ```
    pub fn stable_after(mut self, d: Duration) -> Self {
        self.stable_after = d;
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
    /// A scheme this client does not know.
    #[error("URL scheme {0:?} is not supported (supported: mqtt, tcp, mqtts, ssl, ws, wss, unix)")]
    UnsupportedScheme(String),
    /// A scheme this build of the crate was compiled without (e.g. `wss://` without the
    /// `websocket` feature).
    #[error("URL scheme {scheme:?} needs the `{feature}` feature of pigeon-mqtt")]
    FeatureDisabled {
        /// The scheme.
        scheme: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// No host.
    #[error("URL {0:?} has no host")]
    MissingHost(String),
    /// A `unix://` URL without a socket path.
    #[error("URL {0:?} has no socket path (expected unix:///path/to/socket)")]
    MissingPath(String),
    /// An empty list given to [`ConnectOptions::servers`].
    #[error("the server list is empty")]
    NoServers,
    /// A port that is not a number from 1 to 65535.
    #[error("URL port {0:?} is not a number from 1 to 65535")]
    InvalidPort(String),
    /// A proxy URL whose scheme is not `http`, `socks5` or `socks5h`.
    #[error("proxy URL scheme {0:?} is not supported (supported: http, socks5, socks5h)")]
    UnsupportedProxyScheme(String),
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
    pub(crate) servers: Vec<Server>,
    #[cfg(feature = "tls")]
    pub(crate) tls: TlsOptions,
    #[cfg(feature = "websocket")]
    pub(crate) ws_headers: Vec<(String, String)>,
    /// The proxy every server is reached through (`ConnectOptions::proxy`).
    pub(crate) proxy: Option<crate::transport::Proxy>,
    /// Read the proxy from the environment when `proxy` is `None`.
    pub(crate) proxy_from_env: bool,
    pub(crate) protocol: ProtocolLevel,
    /// The application chose the protocol level (no fallback to 3.1.1).
    pub(crate) protocol_chosen: bool,
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
    pub(crate) bind_address: Option<std::net::IpAddr>,
    pub(crate) reconnect: ReconnectOptions,
    pub(crate) resubscribe: bool,
    pub(crate) session_lost: SessionLostPolicy,
    pub(crate) auto_topic_alias: bool,
    pub(crate) disconnect_timeout: Duration,
    pub(crate) authenticator: Option<crate::auth::SharedAuthenticator>,
    pub(crate) credentials_provider: Option<crate::auth::CredentialsProvider>,
    pub(crate) max_publish_closures: u8,
    pub(crate) stale_session_recovery: bool,
    pub(crate) manual_acks: bool,
    pub(crate) max_queued_bytes: usize,
    pub(crate) queue_full: QueueFullPolicy,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: Vec<String> = self.servers.iter().map(|s| s.to_string()).collect();
        f.debug_struct("ConnectOptions")
            .field("servers", &servers)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("reconnect", &self.reconnect)
            .field("proxy", &self.proxy)
            .field("proxy_from_env", &self.proxy_from_env)
            .finish_non_exhaustive()
    }
}

impl ConnectOptions {
    /// Options for `host:port` with MQTT 5.0, an empty client id (the server assigns one), clean
    /// start, keep alive 60 s, and reconnection on.
    pub fn new(host: impl Into<String>, port: u16) -> ConnectOptions {
        ConnectOptions {
            servers: vec![Server {
                scheme: Scheme::Mqtt,
                host: host.into(),
                port,
                path: String::new(),
            }],
            #[cfg(feature = "tls")]
            tls: TlsOptions::new(),
            #[cfg(feature = "websocket")]
            ws_headers: Vec::new(),
            proxy: None,
            proxy_from_env: false,
            protocol: ProtocolLevel::V5,
            protocol_chosen: false,
            client_id: MqttString::empty(),
            clean_start: true,
            keep_alive: Duration::from_secs(60),
            session_expiry: 0,
            username: None,
            password: None,
            will: None,
            receive_maximum: u16::MAX,
            maximum_packet_size: DEFAULT_MAXIMUM_PACKET_SIZE,
            topic_alias_maximum: 0,
            connect_properties: Properties::new(),
            max_inflight: 20,
            max_queued: 1000,
            request_capacity: 64,
            event_capacity: 64,
            connect_timeout: Duration::from_secs(10),
            tcp_nodelay: true,
            bind_address: None,
            reconnect: ReconnectOptions::default(),
            resubscribe: true,
            session_lost: SessionLostPolicy::Republish,
            auto_topic_alias: false,
            disconnect_timeout: Duration::from_secs(10),
            authenticator: None,
            credentials_provider: None,
            max_publish_closures: 3,
            stale_session_recovery: true,
            manual_acks: false,
            max_queued_bytes: usize::MAX,
            queue_full: QueueFullPolicy::Wait,
        }
    }

    /// Options from a URL: `scheme://[user[:password]@]host[:port][/path][?options]`.
    ///
    /// | scheme | transport | default port |
    /// | --- | --- | --- |
    /// | `mqtt://`, `tcp://` | TCP | 1883 |
    /// | `mqtts://`, `ssl://` | TLS (a TLS feature) | 8883 |
    /// | `ws://` | WebSocket (`websocket` feature) | 80 |
    /// | `wss://` | WebSocket over TLS (`websocket` and a TLS feature) | 443 |
    /// | `unix:///path/to/socket` | Unix domain socket (Unix only) | |
    ///
    /// Options: `client_id=ID`, `keep_alive=SECS`, `clean_start=true|false`,
    /// `protocol=5|4|3`, `proxy=URL` (percent-encoded, see [`ConnectOptions::proxy`]). A path is only allowed for WebSockets (default `/`); there, query
    /// parameters other than these options stay in the request path (for pre-signed URLs).
    /// TLS settings come from [`ConnectOptions::tls`]; more servers from
    /// [`ConnectOptions::add_server`].
    ///
    /// ```
    /// use pigeon_mqtt::{ConnectOptions, Scheme};
    /// let opts = ConnectOptions::from_url("mqtt://user:secret@127.0.0.1:1884?client_id=abc")?;
    /// assert_eq!((opts.host(), opts.port()), ("127.0.0.1", 1884));
    /// let opts = ConnectOptions::from_url("unix:///run/mosquitto/mqtt.sock")?;
    /// assert_eq!(opts.server_list()[0].scheme(), Scheme::Unix);
    /// assert_eq!(opts.server_list()[0].path(), "/run/mosquitto/mqtt.sock");
    /// # Ok::<(), pigeon_mqtt::UrlError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<ConnectOptions, UrlError> {
        let parsed = ParsedUrl::parse(url)?;
        let mut opts = ConnectOptions::new(String::new(), 0);
        opts.servers = vec![parsed.server];
        if let Some((user, pass)) = parsed.userinfo {
            opts = opts.username(user);
            if let Some(pass) = pass {
                opts.password = Some(Bytes::from(pass));
            }
        }
        for (pair, k, v) in &parsed.options {
            let bad = || UrlError::InvalidQuery(pair.clone());
            opts = match k.as_str() {
                "client_id" => opts.client_id(v.as_str()),
                "keep_alive" => opts.keep_alive(Duration::from_secs(v.parse().map_err(|_| bad())?)),
                "clean_start" | "clean_session" => opts.clean_start(v.parse().map_err(|_| bad())?),
                "protocol" => opts.protocol(match v.as_str() {
                    "5" | "5.0" => ProtocolLevel::V5,
                    "4" | "3.1.1" => ProtocolLevel::V3_1_1,
                    "3" | "3.1" => ProtocolLevel::V3_1,
                    _ => return Err(bad()),
                }),
                // The value is percent-encoded; the proxy URL hides its password in errors.
                "proxy" => {
                    let url = percent_decode(v).ok_or_else(|| {
                        UrlError::Malformed(
                            "proxy=...".to_owned(),
                            "invalid percent-encoding in the proxy URL",
                        )
                    })?;
                    opts.proxy(&url)?
                }
                _ => return Err(bad()),
            };
        }
        Ok(opts)
    }

    /// Adds a server to try, after the ones already listed, when a connection attempt fails or
    /// the connection is lost (failover). Each attempt goes to the next server in turn, after
    /// the reconnect backoff. The URL gives only the server (`scheme://host[:port][/path]`):
    /// user name, password and options belong to the first URL.
    ///
    /// ```
    /// use pigeon_mqtt::ConnectOptions;
    /// let opts = ConnectOptions::from_url("mqtt://10.0.0.1")?.add_server("mqtt://10.0.0.2:1884")?;
    /// assert_eq!(opts.server_list().len(), 2);
    /// # Ok::<(), pigeon_mqtt::UrlError>(())
    /// ```
    pub fn add_server(mut self, url: &str) -> Result<Self, UrlError> {
        self.servers.push(ParsedUrl::parse_server_only(url)?);
        Ok(self)
    }

    /// Replaces the servers with this list, tried in turn (see [`ConnectOptions::add_server`]).
    ///
    /// ```
    /// use pigeon_mqtt::ConnectOptions;
    /// let opts = ConnectOptions::new("unused", 1883)
    ///     .servers(["mqtt://10.0.0.1", "mqtt://10.0.0.2"])?;
    /// assert_eq!(opts.host(), "10.0.0.1");
    /// # Ok::<(), pigeon_mqtt::UrlError>(())
    /// ```
    pub fn servers<I, S>(mut self, urls: I) -> Result<Self, UrlError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let servers = urls
            .into_iter()
            .map(|u| ParsedUrl::parse_server_only(u.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err(UrlError::NoServers);
        }
        self.servers = servers;
        Ok(self)
    }

    /// The servers, in the order they are tried.
    pub fn server_list(&self) -> &[Server] {
        &self.servers
    }

    /// The server for attempt `attempt` (counting from 0, round the list).
    pub(crate) fn server_at(&self, attempt: usize) -> Server {
        let i = attempt % self.servers.len().max(1);
        self.servers.get(i).cloned().unwrap_or_else(|| Server {
            scheme: Scheme::Mqtt,
            host: String::new(),
            port: 0,
            path: String::new(),
        })
    }

    /// Host name or address of the first server (empty for a Unix socket).
    pub fn host(&self) -> &str {
        self.servers.first().map_or("", |s| s.host.as_str())
    }

    /// Port of the first server (0 for a Unix socket).
    pub fn port(&self) -> u16 {
        self.servers.first().map_or(0, |s| s.port)
    }

    /// TLS settings for the servers reached over TLS (`mqtts://`, `ssl://`, `wss://`); other
    /// servers ignore them. Without this call those servers are verified against the default
    /// trust roots (see [`TlsOptions::new`]).
    ///
    /// ```no_run
    /// use pigeon_mqtt::{ConnectOptions, TlsOptions};
    /// let opts = ConnectOptions::from_url("mqtts://broker.example:8883")?.tls(
    ///     TlsOptions::new()
    ///         .ca_file("/etc/mqtt/ca.pem")
    ///         .client_cert_files("/etc/mqtt/client.pem", "/etc/mqtt/client.key"),
    /// );
    /// # Ok::<(), pigeon_mqtt::UrlError>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Adds a header to the WebSocket handshake request of `ws://` and `wss://` servers
    /// (`Sec-WebSocket-Protocol: mqtt` is always sent).
    ///
    /// ```
    /// use pigeon_mqtt::ConnectOptions;
    /// let opts = ConnectOptions::from_url("ws://broker.example/mqtt")?
    ///     .ws_header("Authorization", "Bearer abc123");
    /// # Ok::<(), pigeon_mqtt::UrlError>(())
    /// ```
    #[cfg(feature = "websocket")]
    pub fn ws_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.ws_headers.push((name.into(), value.into()));
        self
    }

    /// The protocol level requested.
    pub fn protocol_level(&self) -> ProtocolLevel {
        self.protocol
    }

    /// Protocol level: 5.0 (default), 3.1.1 or 3.1. A level set here (or with `protocol=` in
    /// the URL) is used as it is; without it the client asks for 5.0 and falls back to 3.1.1
    /// when the server refuses 5.0 (a 3.1.1 CONNACK "unacceptable protocol version", or a close
    /// before CONNACK) on the first connection, and [`crate::Event::ProtocolFallback`] says so.
    pub fn protocol(mut self, level: ProtocolLevel) -> Self {
        self.protocol = level;
        self.protocol_chosen = true;
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

    /// Own Maximum Packet Size: the largest packet the client accepts from the server, fixed
    /// header included (default [`DEFAULT_MAXIMUM_PACKET_SIZE`], 1 MiB). At 5.0 it is announced
    /// in CONNECT, so the server does not send larger packets [MQTT-3.1.2-24]; at every level a
    /// larger packet is refused from its fixed header, before its body is read, and ends the
    /// connection with [`crate::ConnectionError::PacketTooLarge`]. The memory a connection uses
    /// for reading is bounded by this value.
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
    /// applies). Zero is treated as 1. The default, 20, is what paho and libmosquitto use: at
    /// 3.1.1 a broker has no way to announce its limit, and Mosquitto 2.0 acknowledges QoS 2
    /// messages beyond its default of 20 in flight and then drops them.
    pub fn max_inflight(mut self, max: u16) -> Self {
        self.max_inflight = max.max(1);
        self
    }

    /// How many publishes may wait (while disconnected, or for the in-flight window; with a
    /// persistent store they wait on disk) before the [`QueueFullPolicy`] applies: by default
    /// `publish` waits and `try_publish` fails with [`crate::ClientError::QueueFull`]
    /// (default 1000).
    pub fn max_queued(mut self, max: usize) -> Self {
        self.max_queued = max.max(1);
        self
    }

    /// How many bytes of topics and payloads may wait, like [`ConnectOptions::max_queued`]
    /// (default: no limit).
    pub fn max_queued_bytes(mut self, max: usize) -> Self {
        self.max_queued_bytes = max.max(1);
        self
    }

    /// What happens to a publish when the queue is full ([`ConnectOptions::max_queued`],
    /// [`ConnectOptions::max_queued_bytes`]); by default the publisher waits.
    ///
    /// ```
    /// use pigeon_mqtt::{ConnectOptions, QueueFullPolicy};
    /// // A sensor offline for days keeps the newest 10,000 readings.
    /// let opts = ConnectOptions::new("127.0.0.1", 1883)
    ///     .max_queued(10_000)
    ///     .queue_full_policy(QueueFullPolicy::DropOldest);
    /// ```
    pub fn queue_full_policy(mut self, policy: QueueFullPolicy) -> Self {
        self.queue_full = policy;
        self
    }

    /// Capacity of the request queue from the client handles to the event loop (its slots are
    /// allocated as requests arrive, not up front).
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

    /// The local IP address that TCP connections (`mqtt://`, `mqtts://`, `ws://`, `wss://`) are
    /// made from, with a port the operating system picks; by default the system chooses the
    /// address too. Each local address has its own range of ephemeral ports, so a load generator
    /// spreading connections over several addresses can open more connections to one server
    /// than a single range allows. The address must be assigned to this machine (any address
    /// in 127.0.0.0/8 is, on Linux); only servers of the same address family are reached.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use pigeon_mqtt::ConnectOptions;
    /// let opts = ConnectOptions::new("127.0.0.1", 1883)
    ///     .bind_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    /// ```
    pub fn bind_address(mut self, addr: std::net::IpAddr) -> Self {
        self.bind_address = Some(addr);
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

    /// MQTT 5 enhanced authentication: the authenticator's method and data go in CONNECT, and
    /// it answers the server's AUTH challenges (see [`crate::auth`]). Ignored below 5.0.
    pub fn authenticator(mut self, a: impl crate::auth::Authenticator + 'static) -> Self {
        self.authenticator = Some(crate::auth::SharedAuthenticator::new(a));
        self
    }

    /// A function called before every connect and reconnect for fresh credentials; what it
    /// returns replaces the user name and password given with [`ConnectOptions::credentials`].
    pub fn credentials_provider(
        mut self,
        f: impl Fn() -> crate::auth::Credentials + Send + Sync + 'static,
    ) -> Self {
        self.credentials_provider = Some(std::sync::Arc::new(f));
        self
    }

    /// Manual acknowledgements (paho's `manual_ack_set`, rumqttc's `manual_acks`; default off):
    /// the PUBACK of an incoming QoS 1 message and the PUBREC of a QoS 2 message wait until the
    /// application calls [`crate::Client::ack`] (or `try_ack`, or
    /// [`crate::blocking::BlockingClient::ack`]), so a consumer that dies mid-processing gets the
    /// message again from the broker (with a persistent session). Acknowledge in any order:
    /// they go out in the order the messages arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3]. The broker
    /// sends no more unacknowledged messages than the Receive Maximum announced
    /// ([`ConnectOptions::receive_maximum`]) at 5.0, or its own in-flight limit at 3.1.1. An
    /// acknowledgement made after its connection ended is dropped: the broker delivers the
    /// message again.
    pub fn manual_acks(mut self, on: bool) -> Self {
        self.manual_acks = on;
        self
    }

    /// How many times in a row the server may close the connection in answer to the same
    /// message before the message is given up (default 3; 0 never gives up). Each time, the
    /// message was the oldest one the server had not answered when it closed the connection.
    /// A broker that drops the connection on a QoS 2 PUBLISH it does not support (NATS 2.9), or
    /// on a message its ACL forbids, would otherwise make the client resend it forever. The
    /// publish then fails with [`crate::PublishError::ServerClosesConnection`]; when it was a
    /// QoS 2 message, the other QoS 2 messages fail too and later ones are refused with
    /// `QoSNotSupported`, as if the server had announced Maximum QoS 1.
    pub fn max_publish_closures(mut self, n: u8) -> Self {
        self.max_publish_closures = n;
        self
    }

    /// Recover from a broker whose session state holds QoS 2 packet identifiers this client no
    /// longer knows (default on, 5.0). A broker that restored an old snapshot after a crash, or
    /// that keeps the session of an earlier process that died between PUBREC and PUBREL, counts
    /// those identifiers against its Receive Maximum and refuses new QoS 2 messages with
    /// `QuotaExceeded` (0x97) for good. After 3 such refusals on a resumed session the client
    /// ends the connection and starts a fresh session (Clean Start 1): the refused messages and
    /// the ones in flight are published again there (by [`SessionLostPolicy`]), subscriptions are
    /// restored, and the stale identifiers are gone. What the fresh session costs: messages the
    /// broker had queued for this client's subscriptions while it was away. See the crate
    /// documentation, "When a broker forgets", for what can and cannot be lost.
    pub fn stale_session_recovery(mut self, on: bool) -> Self {
        self.stale_session_recovery = on;
        self
    }

    /// How long a graceful `disconnect` waits for in-flight messages to complete.
    pub fn disconnect_timeout(mut self, t: Duration) -> Self {
        self.disconnect_timeout = t;
        self
    }
}

/// TLS settings: which servers to trust, our certificate, the name to verify and ALPN.
///
/// Files are read on every connection attempt, so a renewed certificate is picked up on the
/// next reconnect. Certificates and keys are PEM (one or more certificates per file; private keys
/// in PKCS#8, PKCS#1 (RSA) or SEC1 (EC) form).
///
/// Trust: without [`TlsOptions::ca_file`] / [`TlsOptions::ca_pem`], servers are verified against
/// the platform's root certificates (`native-roots` feature, on by default) and Mozilla's
/// (`webpki-roots` feature); once a CA is given, only the CAs given are trusted unless
/// `native_roots(true)` / `webpki_roots(true)` asks for those too.
///
/// The crypto provider is a process default installed by the application
/// (`rustls::crypto::CryptoProvider::install_default`), else aws-lc-rs with the `tls-aws-lc-rs`
/// feature, else ring with `tls-ring`.
///
/// ```no_run
/// use pigeon_mqtt::{ConnectOptions, TlsOptions};
/// // AWS IoT Core on port 443: mutual TLS and the ALPN protocol it expects.
/// let tls = TlsOptions::new()
///     .ca_file("AmazonRootCA1.pem")
///     .client_cert_files("device.pem.crt", "private.pem.key")
///     .alpn(["x-amzn-mqtt-ca"]);
/// let opts = ConnectOptions::from_url("mqtts://example-ats.iot.eu-west-1.amazonaws.com:443")?
///     .client_id("thing-1")
///     .tls(tls);
/// # Ok::<(), pigeon_mqtt::UrlError>(())
/// ```
#[cfg(feature = "tls")]
#[derive(Clone, Default)]
pub struct TlsOptions {
    pub(crate) ca: Vec<PemSource>,
    pub(crate) native_roots: Option<bool>,
    pub(crate) webpki_roots: Option<bool>,
    pub(crate) client_cert: Option<(PemSource, PemSource)>,
    pub(crate) server_name: Option<String>,
    pub(crate) alpn: Vec<Vec<u8>>,
    pub(crate) config: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    #[cfg(feature = "dangerous-insecure-tls")]
    pub(crate) dangerous_no_verification: bool,
}

/// Where PEM text comes from.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) enum PemSource {
    File(PathBuf),
    Memory(Arc<[u8]>),
}

#[cfg(feature = "tls")]
impl fmt::Display for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(p) => write!(f, "file {}", p.display()),
            PemSource::Memory(_) => f.write_str("memory"),
        }
    }
}

#[cfg(feature = "tls")]
impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ca: Vec<String> = self.ca.iter().map(|c| c.to_string()).collect();
        let mut d = f.debug_struct("TlsOptions");
        d.field("ca", &ca)
            .field("native_roots", &self.native_roots)
            .field("webpki_roots", &self.webpki_roots)
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|(c, _)| c.to_string()),
            )
            .field("server_name", &self.server_name)
            .field("alpn", &self.alpn)
            .field("custom_config", &self.config.is_some());
        #[cfg(feature = "dangerous-insecure-tls")]
        d.field("dangerous_no_verification", &self.dangerous_no_verification);
        d.finish()
    }
}

#[cfg(feature = "tls")]
impl TlsOptions {
    /// Verify servers against the default roots, no client certificate, SNI from the host name,
    /// no ALPN.
    pub fn new() -> TlsOptions {
        TlsOptions::default()
    }

    /// Uses this rustls configuration as it is (roots, client certificate, ALPN, versions, ...);
    /// only [`TlsOptions::server_name`] still applies. For anything the other setters do not
    /// cover.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use pigeon_mqtt::{rustls, TlsOptions};
    /// # #[cfg(feature = "tls-ring")] {
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_protocol_versions(&[&rustls::version::TLS13])
    ///     .unwrap()
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let tls = TlsOptions::from_config(Arc::new(config));
    /// # }
    /// ```
    pub fn from_config(config: Arc<tokio_rustls::rustls::ClientConfig>) -> TlsOptions {
        TlsOptions {
            config: Some(config),
            ..TlsOptions::default()
        }
    }

    /// Trusts the CA certificates in this PEM file (may be called several times).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca.push(PemSource::File(path.into()));
        self
    }

    /// Trusts the CA certificates in this PEM text (may be called several times).
    pub fn ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.ca.push(PemSource::Memory(pem.as_ref().into()));
        self
    }

    /// Whether to trust the operating system's root certificates (default: when no CA is
    /// given).
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self, on: bool) -> Self {
        self.native_roots = Some(on);
        self
    }

    /// Whether to trust Mozilla's root certificates compiled into the binary (default: when no
    /// CA is given).
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots(mut self, on: bool) -> Self {
        self.webpki_roots = Some(on);
        self
    }

    /// Our certificate chain and private key (mutual TLS), from PEM files.
    pub fn client_cert_files(
        mut self,
        cert_chain: impl Into<PathBuf>,
        private_key: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((
            PemSource::File(cert_chain.into()),
            PemSource::File(private_key.into()),
        ));
        self
    }

    /// Our certificate chain and private key (mutual TLS), from PEM text.
    pub fn client_cert_pem(
        mut self,
        cert_chain: impl AsRef<[u8]>,
        private_key: impl AsRef<[u8]>,
    ) -> Self {
        self.client_cert = Some((
            PemSource::Memory(cert_chain.as_ref().into()),
            PemSource::Memory(private_key.as_ref().into()),
        ));
        self
    }

    /// The name to send as SNI and to verify the server certificate against, instead of the
    /// host of the URL (for example when connecting by IP address to a server whose
    /// certificate names a DNS name). SNI is only sent for DNS names, never for IP addresses.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// ALPN protocols to offer, in order of preference (e.g. `x-amzn-mqtt-ca` for AWS IoT on
    /// port 443).
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// **Dangerous**: accepts any server certificate, so anyone on the path can read and change
    /// the traffic. Handshake signatures are still checked. Only for tests against throw-away
    /// brokers; exists only with the `dangerous-insecure-tls` feature.
    #[cfg(feature = "dangerous-insecure-tls")]
    pub fn dangerous_accept_any_server_certificate(mut self) -> Self {
        self.dangerous_no_verification = true;
        self
    }
}

/// How a server is reached: the scheme of its URL.
///
/// ```
/// use pigeon_mqtt::{ConnectOptions, Scheme};
/// let opts = ConnectOptions::from_url("tcp://127.0.0.1")?;
/// assert_eq!(opts.server_list()[0].scheme(), Scheme::Mqtt);
/// assert_eq!(Scheme::Mqtts.default_port(), 8883);
/// # Ok::<(), pigeon_mqtt::UrlError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// MQTT over TCP: `mqtt://`, `tcp://` (default port 1883).
    Mqtt,
    /// MQTT over TLS: `mqtts://`, `ssl://` (default port 8883). Needs a TLS feature.
    Mqtts,
    /// MQTT over WebSocket: `ws://` (default port 80). Needs the `websocket` feature.
    Ws,
    /// MQTT over WebSocket over TLS: `wss://` (default port 443). Needs the `websocket`
    /// feature and a TLS feature.
    Wss,
    /// MQTT over a Unix domain socket: `unix:///path/to/socket`. Unix only.
    Unix,
}

impl Scheme {
    /// The canonical URL scheme (`"mqtt"`, `"mqtts"`, `"ws"`, `"wss"`, `"unix"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Unix => "unix",
        }
    }

    /// The port used when a URL gives none (0 for Unix sockets).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
            Scheme::Unix => 0,
        }
    }

    /// Whether the connection is encrypted with TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }

    fn parse(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => Scheme::Mqtt,
            "mqtts" | "ssl" => Scheme::Mqtts,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "unix" => Scheme::Unix,
            _ => return None,
        })
    }

    /// The feature this build lacks for the scheme, if any.
    fn missing_feature(self) -> Option<&'static str> {
        let tls = cfg!(feature = "tls");
        let ws = cfg!(feature = "websocket");
        match self {
            Scheme::Mqtts if !tls => Some("tls-ring"),
            Scheme::Ws if !ws => Some("websocket"),
            Scheme::Wss if !ws => Some("websocket"),
            Scheme::Wss if !tls => Some("tls-ring"),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One server a client can connect to, from a URL (see [`ConnectOptions::from_url`]).
///
/// ```
/// use pigeon_mqtt::{Scheme, Server};
/// let s = Server::from_url("mqtt://[::1]")?;
/// assert_eq!((s.scheme(), s.host(), s.port(), s.path()), (Scheme::Mqtt, "::1", 1883, ""));
/// assert_eq!(s.to_string(), "mqtt://[::1]:1883");
/// # Ok::<(), pigeon_mqtt::UrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl Server {
    /// Parses `scheme://host[:port][/path]` (or `unix:///path`): a URL without user name,
    /// password or options.
    pub fn from_url(url: &str) -> Result<Server, UrlError> {
        ParsedUrl::parse_server_only(url)
    }

    /// How the server is reached.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Host name or IP address (without brackets); empty for a Unix socket.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// TCP port; 0 for a Unix socket.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The WebSocket request path with its query (`/` when the URL has none), the socket path
    /// of a Unix socket, and empty otherwise.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheme == Scheme::Unix {
            return write!(f, "unix://{}", self.path);
        }
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)?;
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)?;
        }
        f.write_str(&self.path)
    }
}

/// Query parameters that set options (everything else is an error, or for WebSockets part of
/// the request path).
const URL_OPTIONS: [&str; 6] = [
    "client_id",
    "keep_alive",
    "clean_start",
    "clean_session",
    "protocol",
    "proxy",
];

/// A URL split into the server, credentials and option parameters.
struct ParsedUrl {
    server: Server,
    userinfo: Option<(String, Option<String>)>,
    /// `(pair, key, value)` of each option parameter.
    options: Vec<(String, String, String)>,
}

impl ParsedUrl {
    fn parse(url: &str) -> Result<ParsedUrl, UrlError> {
        let (scheme_str, rest) = url
            .split_once("://")
            .filter(|(s, _)| !s.is_empty())
            .ok_or_else(|| UrlError::MissingScheme(url.to_owned()))?;
        let scheme = Scheme::parse(scheme_str)
            .ok_or_else(|| UrlError::UnsupportedScheme(scheme_str.to_owned()))?;
        if let Some(feature) = scheme.missing_feature() {
            return Err(UrlError::FeatureDisabled {
                scheme: scheme_str.to_owned(),
                feature,
            });
        }
        if scheme == Scheme::Unix && !cfg!(unix) {
            return Err(UrlError::Malformed(
                url.to_owned(),
                "Unix domain sockets are not available on this platform",
            ));
        }
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, q),
            None => (rest, ""),
        };
        let websocket = matches!(scheme, Scheme::Ws | Scheme::Wss);
        let mut options = Vec::new();
        let mut passthrough = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if URL_OPTIONS.contains(&k) {
                options.push((pair.to_owned(), k.to_owned(), v.to_owned()));
            } else if websocket {
                passthrough.push(pair);
            } else {
                return Err(UrlError::InvalidQuery(pair.to_owned()));
            }
        }

        if scheme == Scheme::Unix {
            if before_query.is_empty() {
                return Err(UrlError::MissingPath(url.to_owned()));
            }
            if !before_query.starts_with('/') {
                return Err(UrlError::Malformed(
                    url.to_owned(),
                    "a unix:// URL has no host: use unix:///absolute/path/to/socket",
                ));
            }
            let server = Server {
                scheme,
                host: String::new(),
                port: 0,
                path: before_query.to_owned(),
            };
            return Ok(ParsedUrl {
                server,
                userinfo: None,
                options,
            });
        }

        let (authority, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, ""),
        };
        let path = if websocket {
            let mut p = if path.is_empty() { "/" } else { path }.to_owned();
            if !passthrough.is_empty() {
                p.push('?');
                p.push_str(&passthrough.join("&"));
            }
            p
        } else if path.is_empty() || path == "/" {
            String::new()
        } else {
            return Err(UrlError::Malformed(
                url.to_owned(),
                "a path is only meaningful for ws:// and wss://",
            ));
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, scheme.default_port())?;
        if host.is_empty() {
            return Err(UrlError::MissingHost(url.to_owned()));
        }
        // RFC 3986 3.2.1: user and password are percent-encoded ("p%40ss" is "p@ss").
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| {
                UrlError::Malformed(
                    url.to_owned(),
                    "invalid percent-encoding in user information",
                )
            })
        };
        let userinfo = match userinfo.map(|u| u.split_once(':').ok_or(u)) {
            Some(Ok((user, pass))) => Some((decode(user)?, Some(decode(pass)?))),
            Some(Err(user)) => Some((decode(user)?, None)),
            None => None,
        };
        Ok(ParsedUrl {
            server: Server {
                scheme,
                host,
                port,
                path,
            },
            userinfo,
            options,
        })
    }

    fn parse_server_only(url: &str) -> Result<Server, UrlError> {
        let parsed = ParsedUrl::parse(url)?;
        if parsed.userinfo.is_some() || !parsed.options.is_empty() {
            return Err(UrlError::Malformed(
                url.to_owned(),
                "user name, password and options belong in the first URL (ConnectOptions::from_url)",
            ));
        }
        Ok(parsed.server)
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16), UrlError> {
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
    fn url_credentials_are_percent_decoded() {
        let o = ConnectOptions::from_url("mqtt://us%65r:p%40ss%3Aword@h").unwrap();
        assert_eq!(o.username.as_ref().map(|u| u.as_str()), Some("user"));
        assert_eq!(o.password.as_deref(), Some(&b"p@ss:word"[..]));
        assert!(matches!(
            ConnectOptions::from_url("mqtt://u:%zz@h"),
            Err(UrlError::Malformed(..))
        ));
        assert!(matches!(
            ConnectOptions::from_url("mqtt://u:%4@h"),
            Err(UrlError::Malformed(..))
        ));
    }

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
