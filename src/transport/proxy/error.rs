//! [`ProxyError`]: what went wrong with a proxy, naming it (never its password) and quoting
//! what it said.

use std::io;
use std::sync::Arc;

use super::Proxy;
use crate::options::UrlError;

/// Why a connection through a proxy failed. Each message names the proxy (never its password)
/// and says what it answered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// No TCP connection to the proxy: check its address and port, and that it is running.
    #[error("cannot reach the proxy {proxy}: {source}")]
    Unreachable {
        /// The proxy (`scheme://[user@]host:port`).
        proxy: String,
        /// Why the connection failed.
        source: Arc<io::Error>,
    },
    /// The HTTP proxy answered `407 Proxy Authentication Required` (RFC 9110 15.5.8).
    #[error(
        "the proxy {proxy} requires authentication ({status_line}): {}",
        if *.credentials_sent {
            "it refused the user name and password of the proxy URL"
        } else {
            "put user:password in the proxy URL"
        }
    )]
    HttpAuthRequired {
        /// The proxy.
        proxy: String,
        /// The status line it answered with.
        status_line: String,
        /// Whether a `Proxy-Authorization` header was sent.
        credentials_sent: bool,
    },
    /// The HTTP proxy answered `CONNECT` with a status other than 2xx and 407 (e.g. 403 when
    /// its rules forbid the broker's port, 502 when it cannot reach the broker).
    #[error("the proxy {proxy} refused a tunnel to {target}: {status_line}")]
    HttpStatus {
        /// The proxy.
        proxy: String,
        /// The broker address asked for (`host:port`).
        target: String,
        /// The status code.
        status: u16,
        /// The status line it answered with.
        status_line: String,
    },
    /// SOCKS5 authentication failed: user name or password rejected, or no method both sides
    /// accept (e.g. the proxy wants a password and the URL has none).
    #[error("the SOCKS5 proxy {proxy} refused authentication: {reason}")]
    SocksAuth {
        /// The proxy.
        proxy: String,
        /// What happened.
        reason: String,
    },
    /// The SOCKS5 proxy could not or would not connect to the broker (RFC 1928 reply field:
    /// 1 general failure, 2 not allowed by its rules, 3 network unreachable, 4 host unreachable,
    /// 5 connection refused, 6 TTL expired, 7 command not supported, 8 address type not
    /// supported).
    #[error("the SOCKS5 proxy {proxy} could not connect to {target}: {reason} (reply {code})")]
    SocksReply {
        /// The proxy.
        proxy: String,
        /// The broker address asked for (`host:port`).
        target: String,
        /// The reply code.
        code: u8,
        /// Its meaning.
        reason: &'static str,
    },
    /// The proxy closed the connection (or reset it) before it answered.
    #[error("the proxy {proxy} closed the connection before answering")]
    Closed {
        /// The proxy.
        proxy: String,
    },
    /// The proxy's answer is not HTTP (or not SOCKS5): is the URL's scheme the proxy's kind?
    #[error("the proxy {proxy} sent a malformed answer: {message}")]
    Malformed {
        /// The proxy.
        proxy: String,
        /// What is wrong with it.
        message: String,
    },
    /// Another I/O error while talking to the proxy.
    #[error("I/O error with the proxy {proxy}: {source}")]
    Io {
        /// The proxy.
        proxy: String,
        /// The error.
        source: Arc<io::Error>,
    },
    /// The broker's host cannot be put in a proxy request (control characters, or a name
    /// longer than SOCKS5's 255 bytes).
    #[error("the server name {host:?} cannot be sent to the proxy {proxy}: {reason}")]
    Target {
        /// The proxy.
        proxy: String,
        /// The broker's host.
        host: String,
        /// Why not.
        reason: &'static str,
    },
    /// A Unix socket server in a server list that has a proxy.
    #[error("{server} is a Unix socket and cannot be reached through the proxy {proxy}")]
    UnixSocket {
        /// The proxy.
        proxy: String,
        /// The server.
        server: String,
    },
    /// A proxy environment variable (see [`crate::ConnectOptions::proxy_from_env`]) holds a URL that
    /// cannot be used.
    #[error("the environment variable {variable} holds an unusable proxy URL: {source}")]
    Environment {
        /// The variable (`https_proxy`, `ALL_PROXY`, ...).
        variable: &'static str,
        /// What is wrong with it.
        source: UrlError,
    },
}

impl ProxyError {
    pub(super) fn unreachable(proxy: &Proxy, e: io::Error) -> ProxyError {
        ProxyError::Unreachable {
            proxy: proxy.to_string(),
            source: Arc::new(e),
        }
    }

    /// An I/O error in the handshake: an early end is [`ProxyError::Closed`].
    pub(super) fn io(proxy: &Proxy, e: io::Error) -> ProxyError {
        match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ProxyError::Closed {
                proxy: proxy.to_string(),
            },
            _ => ProxyError::Io {
                proxy: proxy.to_string(),
                source: Arc::new(e),
            },
        }
    }

    pub(super) fn malformed(proxy: &Proxy, message: impl Into<String>) -> ProxyError {
        ProxyError::Malformed {
            proxy: proxy.to_string(),
            message: message.into(),
        }
    }
}
