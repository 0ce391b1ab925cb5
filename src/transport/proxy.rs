//! Proxies: an HTTP CONNECT tunnel (`http://`) or SOCKS5 (`socks5://`, `socks5h://`) between
//! the client and the broker. The proxy only carries bytes: TLS and WebSockets run inside the
//! tunnel, end to end with the broker, and verify the broker's name.
//!
//! - [`Proxy`]: a parsed proxy URL (its password never printed).
//! - [`ProxyError`]: what went wrong with the proxy, naming it and quoting what it said.
//! - `route`: which proxy, if any, a server is reached through (explicit, or from the
//!   environment the way curl reads it, see `env`).
//! - `connect`: the TCP connection to the proxy and its handshake (`http`, `socks`), giving a
//!   [`Tunnel`] to the broker.

mod env;
mod error;
mod http;
mod socks;

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::ConnectionError;
use crate::options::{self, ConnectOptions, Scheme, Server, UrlError};
use crate::transport::authority;

pub use error::ProxyError;

/// The port of a proxy URL that gives none, as curl assumes.
const DEFAULT_PORT: u16 = 1080;

/// The kind of proxy, from the scheme of its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// `http://`: an HTTP proxy asked for a tunnel with `CONNECT host:port` (RFC 9110 9.3.6).
    Http,
    /// `socks5://`: SOCKS5 (RFC 1928); the client resolves the broker's name and sends the
    /// address.
    Socks5,
    /// `socks5h://`: SOCKS5 where the proxy resolves the broker's name (the client sends the
    /// name), for names only the proxy's network knows.
    Socks5h,
}

impl ProxyKind {
    /// The URL scheme: `"http"`, `"socks5"` or `"socks5h"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }
}

/// A proxy to reach the broker through, from a URL:
/// `http://[user[:password]@]host[:port]` (HTTP CONNECT), `socks5://...` or `socks5h://...`.
/// User name and password are percent-decoded (`p%40ss` is `p@ss`); without a port, 1080 is
/// used, as curl does. Neither `Display` nor `Debug` shows the password.
///
/// ```
/// use pigeon_mqtt::{Proxy, ProxyKind};
/// let proxy = Proxy::from_url("socks5h://alice:s%40cret@127.0.0.1:1080")?;
/// assert_eq!(proxy.kind(), ProxyKind::Socks5h);
/// assert_eq!((proxy.host(), proxy.port()), ("127.0.0.1", 1080));
/// assert_eq!(proxy.username(), Some("alice"));
/// assert_eq!(proxy.to_string(), "socks5h://alice@127.0.0.1:1080");
/// # Ok::<(), pigeon_mqtt::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    /// User name and password (empty when the URL has only a user name).
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL (see [`Proxy`]). Errors never contain the password.
    pub fn from_url(url: &str) -> Result<Proxy, UrlError> {
        let shown = redact(url);
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| !s.is_empty())
            .ok_or_else(|| UrlError::MissingScheme(shown.clone()))?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "http" => ProxyKind::Http,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            _ => return Err(UrlError::UnsupportedProxyScheme(scheme.to_owned())),
        };
        let authority = match rest.split_once('/') {
            Some((a, "")) => a,
            Some(_) => {
                return Err(UrlError::Malformed(
                    shown,
                    "a proxy URL has no path, query or fragment",
                ))
            }
            None if rest.contains(['?', '#']) => {
                return Err(UrlError::Malformed(
                    shown,
                    "a proxy URL has no path, query or fragment",
                ))
            }
            None => rest,
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = options::split_host_port(hostport, DEFAULT_PORT)
            .map_err(|e| redact_error(e, &shown))?;
        if host.is_empty() {
            return Err(UrlError::MissingHost(shown));
        }
        if !valid_host(&host) {
            return Err(UrlError::Malformed(
                shown,
                "the proxy host contains characters a host name cannot have",
            ));
        }
        let decode = |s: &str| {
            options::percent_decode(s).ok_or_else(|| {
                UrlError::Malformed(
                    shown.clone(),
                    "invalid percent-encoding in user information",
                )
            })
        };
        let credentials = match userinfo {
            None => None,
            Some(u) => Some(match u.split_once(':') {
                Some((user, pass)) => (decode(user)?, decode(pass)?),
                None => (decode(u)?, String::new()),
            }),
        };
        if let Some((user, pass)) = &credentials {
            // RFC 1929: ULEN and PLEN are one byte each, and zero is not a valid length.
            let fits = |s: &str| (1..=255).contains(&s.len());
            if kind != ProxyKind::Http && !(fits(user) && fits(pass)) {
                return Err(UrlError::Malformed(
                    shown,
                    "SOCKS5 user name and password must each be 1 to 255 bytes (RFC 1929)",
                ));
            }
            if kind == ProxyKind::Http && user.contains(':') {
                return Err(UrlError::Malformed(
                    shown,
                    "an HTTP proxy user name cannot contain ':' (RFC 7617)",
                ));
            }
        }
        Ok(Proxy {
            kind,
            host,
            port,
            credentials,
        })
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// Host name or IP address of the proxy (without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port of the proxy.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name to authenticate with, if any.
    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(u, _)| u.as_str())
    }

    fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

impl fmt::Display for Proxy {
    /// `scheme://[user@]host:port`: the password is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.kind.as_str())?;
        if let Some(user) = self.username() {
            write!(f, "{user}@")?;
        }
        f.write_str(&authority(&self.host, self.port))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username())
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ConnectOptions {
    /// Reaches every server through this proxy: `http://[user:password@]host:port` (an HTTP
    /// CONNECT tunnel), `socks5://[user:password@]host:port` (SOCKS5, names resolved here) or
    /// `socks5h://...` (SOCKS5, names resolved by the proxy). See [`Proxy`] for the URL.
    ///
    /// TLS (`mqtts://`) and WebSockets (`ws://`, `wss://`) run inside the tunnel: the TLS
    /// handshake sends and verifies the broker's name, not the proxy's. A proxy set here is
    /// used whatever the environment says. Unix socket servers cannot go through a proxy
    /// (an error here, or [`ProxyError::UnixSocket`] when one is added later). The URL option
    /// `?proxy=URL` (percent-encoded) does the same.
    ///
    /// ```
    /// use pigeon_mqtt::ConnectOptions;
    /// let opts = ConnectOptions::from_url("mqtts://broker.example:8883")?
    ///     .proxy("http://user:secret@127.0.0.1:3128")?;
    /// assert_eq!(opts.proxy_setting().unwrap().to_string(), "http://user@127.0.0.1:3128");
    ///
    /// let opts = ConnectOptions::from_url(
    ///     "mqtt://broker.example?proxy=socks5h%3A%2F%2F127.0.0.1%3A1080",
    /// )?;
    /// assert_eq!(opts.proxy_setting().unwrap().port(), 1080);
    /// # Ok::<(), pigeon_mqtt::UrlError>(())
    /// ```
    pub fn proxy(mut self, url: &str) -> Result<Self, UrlError> {
        let proxy = Proxy::from_url(url)?;
        if let Some(unix) = self.servers.iter().find(|s| s.scheme == Scheme::Unix) {
            return Err(UrlError::Malformed(
                unix.to_string(),
                "a unix:// server cannot be reached through a proxy",
            ));
        }
        self.proxy = Some(proxy);
        Ok(self)
    }

    /// Reads the proxy from the environment at each connection attempt, the way curl does
    /// (off by default; a proxy given with [`ConnectOptions::proxy`] comes first):
    ///
    /// - `https_proxy` / `HTTPS_PROXY` for TLS servers (`mqtts://`, `wss://`), `http_proxy` /
    ///   `HTTP_PROXY` for the others, then `all_proxy` / `ALL_PROXY`; lowercase first, empty
    ///   means unset. A value without a scheme is an HTTP proxy. (curl ignores the uppercase
    ///   `HTTP_PROXY` for `http://` URLs, which CGI scripts get from a request header; MQTT
    ///   URLs are not affected, so it is read here.)
    /// - `no_proxy` / `NO_PROXY`: a list of hosts reached directly, separated by commas or
    ///   spaces. `*` alone matches every host. `example.com` and `.example.com` match
    ///   that host and every name under it; an IP address or CIDR range (`10.0.0.0/8`,
    ///   `fd00::/8`) matches addresses. The broker's port does not matter, but an entry with a
    ///   port (`host:8883`, `[::1]:1883`) matches only that port (an addition to curl,
    ///   which ignores such entries).
    /// - Unix socket servers are always reached directly.
    ///
    /// A variable with an unusable URL fails the attempt with [`ProxyError::Environment`].
    ///
    /// ```
    /// use pigeon_mqtt::ConnectOptions;
    /// let opts = ConnectOptions::from_url("mqtts://broker.example")?.proxy_from_env(true);
    /// # Ok::<(), pigeon_mqtt::UrlError>(())
    /// ```
    pub fn proxy_from_env(mut self, on: bool) -> Self {
        self.proxy_from_env = on;
        self
    }

    /// The proxy set with [`ConnectOptions::proxy`] or `?proxy=`, if any.
    pub fn proxy_setting(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }
}

/// The proxy to reach `server` through, if any: the configured one, or (when enabled) the one
/// the environment gives for it.
pub(crate) fn route(opts: &ConnectOptions, server: &Server) -> Result<Option<Proxy>, ProxyError> {
    if let Some(proxy) = &opts.proxy {
        if server.scheme == Scheme::Unix {
            return Err(ProxyError::UnixSocket {
                proxy: proxy.to_string(),
                server: server.to_string(),
            });
        }
        return Ok(Some(proxy.clone()));
    }
    if opts.proxy_from_env {
        return env::proxy_for(server, |name| std::env::var(name).ok());
    }
    Ok(None)
}

/// Connects to `proxy` and has it open a tunnel to `server`.
pub(crate) async fn connect(
    proxy: &Proxy,
    server: &Server,
    nodelay: bool,
) -> Result<Tunnel<TcpStream>, ConnectionError> {
    if !valid_host(&server.host) {
        return Err(ProxyError::Target {
            proxy: proxy.to_string(),
            host: server.host.clone(),
            reason: "it contains spaces or control characters",
        }
        .into());
    }
    match proxy.kind {
        ProxyKind::Http => {
            let stream = dial(proxy, nodelay).await?;
            Ok(http::connect(stream, proxy, &server.host, server.port).await?)
        }
        ProxyKind::Socks5 | ProxyKind::Socks5h => {
            let stream = socks::connect(proxy, &server.host, server.port, nodelay).await?;
            Ok(Tunnel::new(stream, Bytes::new()))
        }
    }
}

/// The TCP connection to the proxy, with TCP_NODELAY as configured (it carries MQTT).
async fn dial(proxy: &Proxy, nodelay: bool) -> Result<TcpStream, ProxyError> {
    let stream = TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .map_err(|e| ProxyError::unreachable(proxy, e))?;
    if let Err(e) = stream.set_nodelay(nodelay) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    Ok(stream)
}

/// No spaces, control characters or characters that end a host in a request line.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"/?#@[]\\".contains(c))
}

/// `url` with the password (between `user:` and `@`) replaced by `***`.
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let Some(at) = url[start..end].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}:***{}", &url[..colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// A host/port error of a proxy URL, with the URL part replaced by the redacted URL.
fn redact_error(e: UrlError, shown: &str) -> UrlError {
    match e {
        UrlError::Malformed(_, why) => UrlError::Malformed(shown.to_owned(), why),
        other => other,
    }
}

/// The byte stream through a proxy: the bytes the proxy sent after its answer (already read
/// with it), then the connection.
#[derive(Debug)]
pub(crate) struct Tunnel<S> {
    early: Bytes,
    stream: S,
}

impl<S> Tunnel<S> {
    fn new(stream: S, early: Bytes) -> Tunnel<S> {
        Tunnel { early, stream }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tunnel<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early[..n]);
            this.early.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tunnel<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[test]
    fn proxy_urls() {
        let p = Proxy::from_url("http://127.0.0.1:3128").unwrap();
        assert_eq!(
            (p.kind(), p.host(), p.port()),
            (ProxyKind::Http, "127.0.0.1", 3128)
        );
        assert_eq!(p.credentials(), None);
        let p = Proxy::from_url("SOCKS5://u%3Ax:p%40ss@[::1]:1081/").unwrap();
        assert_eq!(
            (p.kind(), p.host(), p.port()),
            (ProxyKind::Socks5, "::1", 1081)
        );
        assert_eq!(p.credentials(), Some(("u:x", "p@ss")));
        assert_eq!(p.to_string(), "socks5://u:x@[::1]:1081");
        let p = Proxy::from_url("socks5h://localhost").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Socks5h, 1080));
        let p = Proxy::from_url("http://user@h:1").unwrap();
        assert_eq!(p.credentials(), Some(("user", "")));
        assert_eq!(p.to_string(), "http://user@h:1");
    }

    #[test]
    fn bad_proxy_urls_say_why_and_hide_the_password() {
        let cases = [
            "127.0.0.1:3128",
            "https://u:secret@h:443",
            "socks4://u:secret@h",
            "http://u:secret@:3128",
            "http://u:secret@h:0",
            "http://u:secret@h:99999",
            "http://u:secret@h:1/path",
            "http://u:secret@h:1?x=y",
            "http://u:secret%zz@h:1",
            "socks5://u:@h:1",
            "socks5://:secret@h:1",
            "http://a%3Ab:secret@h:1",
            "http://u:secret@[::1",
            "http://u:secret@h h:1",
        ];
        for url in cases {
            let err = Proxy::from_url(url).expect_err(url);
            let text = format!("{err} {err:?}");
            assert!(!text.contains("secret"), "{url}: {text}");
        }
        assert!(matches!(
            Proxy::from_url("https://h"),
            Err(UrlError::UnsupportedProxyScheme(s)) if s == "https"
        ));
        assert!(matches!(
            Proxy::from_url("h:1"),
            Err(UrlError::MissingScheme(_))
        ));
        assert!(matches!(
            Proxy::from_url("http://h:x"),
            Err(UrlError::InvalidPort(_))
        ));
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let p = Proxy::from_url("http://alice:hunter2@h:1").unwrap();
        assert!(!format!("{p} {p:?}").contains("hunter2"));
        assert_eq!(redact("http://a:b@h:1/x@y"), "http://a:***@h:1/x@y");
        assert_eq!(redact("http://a@h:1"), "http://a@h:1");
        assert_eq!(redact("h:1"), "h:1");
    }

    #[test]
    fn options_take_the_proxy_from_the_method_and_the_url() {
        let o = ConnectOptions::new("127.0.0.1", 1883)
            .proxy("socks5://127.0.0.1:1080")
            .unwrap();
        assert_eq!(o.proxy_setting().unwrap().kind(), ProxyKind::Socks5);
        assert!(format!("{o:?}").contains("Socks5"));
        let o = ConnectOptions::from_url(
            "mqtt://h?client_id=c&proxy=http%3A%2F%2Fu%3Ap%2540ss%40127.0.0.1%3A3128",
        )
        .unwrap();
        let p = o.proxy_setting().unwrap();
        assert_eq!(p.credentials(), Some(("u", "p@ss")));
        assert_eq!(p.port(), 3128);
        // Unencoded works as long as it has no '&'; it is not part of a WebSocket path.
        let o = ConnectOptions::from_url("mqtt://h?proxy=http://127.0.0.1:3128").unwrap();
        assert_eq!(o.proxy_setting().unwrap().port(), 3128);
        #[cfg(feature = "websocket")]
        {
            let o =
                ConnectOptions::from_url("ws://h/mqtt?proxy=http://127.0.0.1:3128&a=b").unwrap();
            assert_eq!(o.proxy_setting().unwrap().port(), 3128);
            assert_eq!(o.server_list()[0].path(), "/mqtt?a=b");
        }
        // The password of a bad proxy URL stays hidden.
        let err =
            ConnectOptions::from_url("mqtt://h?proxy=ftp%3A%2F%2Fu%3Asecret%40h").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("secret"), "{err}");
        assert!(ConnectOptions::from_url("mqtt://h?proxy=").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn unix_sockets_cannot_use_a_proxy() {
        let err = ConnectOptions::from_url("unix:///tmp/s?proxy=http%3A%2F%2Fh%3A1").unwrap_err();
        assert!(err.to_string().contains("proxy"), "{err}");
        let err = ConnectOptions::from_url("unix:///tmp/s")
            .unwrap()
            .proxy("http://h:1")
            .unwrap_err();
        assert!(err.to_string().contains("proxy"), "{err}");
        // A Unix server added after the proxy fails at connection time.
        let o = ConnectOptions::new("127.0.0.1", 1883)
            .proxy("http://h:1")
            .unwrap()
            .add_server("unix:///tmp/s")
            .unwrap();
        let err = route(&o, &o.server_list()[1]).unwrap_err();
        assert!(matches!(err, ProxyError::UnixSocket { .. }), "{err}");
        // From the environment, Unix sockets are simply direct.
        let o = ConnectOptions::from_url("unix:///tmp/s")
            .unwrap()
            .proxy_from_env(true);
        assert!(route(&o, &o.server_list()[0]).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_tunnel_reads_the_early_bytes_first() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut tunnel = Tunnel::new(client, Bytes::from_static(b"early"));
        tokio::io::AsyncWriteExt::write_all(&mut server, b" later")
            .await
            .unwrap();
        drop(server);
        let mut all = Vec::new();
        tunnel.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"early later");
    }
}
