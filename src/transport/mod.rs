//! Transports: how the bytes of a connection travel. The event loop sees one boxed
//! `AsyncRead + AsyncWrite` whatever the scheme: TCP, TLS, WebSocket (over TCP or TLS) or a
//! Unix socket, each network one directly or through a proxy. Nothing here knows about MQTT
//! packets.

pub(crate) mod proxy;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "websocket")]
mod ws;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

use crate::error::ConnectionError;
use crate::options::{ConnectOptions, Scheme, Server};

pub use proxy::{Proxy, ProxyError, ProxyKind};

/// A connected byte stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The transport the event loop owns.
pub(crate) type Transport = Box<dyn Io>;

/// Opens the transport to `server`, with the TLS, WebSocket and proxy settings of `opts`.
/// Everything up to the first MQTT byte happens here (within the connect timeout): TCP
/// connect, proxy handshake, TLS handshake, WebSocket upgrade.
pub(crate) async fn connect(
    opts: &ConnectOptions,
    server: &Server,
) -> Result<Transport, ConnectionError> {
    match server.scheme {
        Scheme::Mqtt => over_tcp!(opts, server, |stream| Ok(Box::new(stream))),
        Scheme::Mqtts => mqtts(opts, server).await,
        Scheme::Ws => ws(opts, server).await,
        Scheme::Wss => wss(opts, server).await,
        Scheme::Unix => {
            // Fails when a proxy is configured: a socket path cannot be tunnelled.
            proxy::route(opts, server)?;
            unix(server).await
        }
    }
}

/// Evaluates `$finish` with `$stream` bound to a TCP connection to `$server`: a direct one
/// ([`tcp`]), or a tunnel through the proxy `$opts` chooses for it ([`proxy::connect`]).
/// (A macro rather than a function: the two streams are different types.)
macro_rules! over_tcp {
    ($opts:expr, $server:expr, |$stream:ident| $finish:expr) => {
        match proxy::route($opts, $server)? {
            None => {
                let $stream = tcp($opts, &$server.host, $server.port).await?;
                $finish
            }
            Some(via) => {
                let $stream = proxy::connect(&via, $server, $opts.tcp_nodelay).await?;
                $finish
            }
        }
    };
}
use over_tcp;

/// The addresses of `host` (an IP address is taken as it is, without a lookup).
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectionError> {
    let resolve_error = |source: io::Error| ConnectionError::Resolve {
        host: host.to_owned(),
        source: Arc::new(source),
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(resolve_error)?
        .collect();
    if addrs.is_empty() {
        return Err(resolve_error(io::Error::new(
            io::ErrorKind::NotFound,
            "the name has no address",
        )));
    }
    Ok(addrs)
}

/// A TCP connection with TCP_NODELAY and the local address
/// ([`ConnectOptions::bind_address`]) as configured: the name is resolved, then each of its
/// addresses (of the local address's family, when one is set) is tried in turn.
pub(crate) async fn tcp(
    opts: &ConnectOptions,
    host: &str,
    port: u16,
) -> Result<TcpStream, ConnectionError> {
    let mut last = None;
    for addr in resolve(host, port).await? {
        let connected = match opts.bind_address {
            None => TcpStream::connect(addr).await,
            Some(local) if local.is_ipv4() != addr.is_ipv4() => continue,
            Some(local) => connect_from(local, addr).await,
        };
        match connected {
            Ok(stream) => {
                if let Err(e) = stream.set_nodelay(opts.tcp_nodelay) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(ConnectionError::Connect {
        address: authority(host, port),
        source: Arc::new(last.unwrap_or_else(|| match opts.bind_address {
            Some(local) => io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{host} has no address in the family of the local address {local}"),
            ),
            None => io::Error::new(io::ErrorKind::NotFound, "no address"),
        })),
    })
}

/// A TCP connection to `addr` from the local address `local` (any port).
async fn connect_from(local: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket
        .bind(SocketAddr::new(local, 0))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind local address {local}: {e}")))?;
    socket.connect(addr).await
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The typed error carried inside an I/O error by a TLS or WebSocket stream (an alert received
/// after the handshake, a WebSocket protocol violation), if there is one.
pub(crate) fn error_behind_io(e: &std::io::Error) -> Option<ConnectionError> {
    let inner = e.get_ref()?;
    #[cfg(feature = "tls")]
    if let Some(err) = tls::error_behind_io(inner) {
        return Some(err);
    }
    #[cfg(feature = "websocket")]
    if let Some(err) = ws::error_behind_io(inner) {
        return Some(err);
    }
    let _ = inner;
    None
}

async fn mqtts(opts: &ConnectOptions, server: &Server) -> Result<Transport, ConnectionError> {
    #[cfg(feature = "tls")]
    {
        let tls = tls::Connector::new(&opts.tls).await?;
        // The broker's name, not the proxy's, is sent as SNI and verified.
        over_tcp!(opts, server, |stream| Ok(Box::new(
            tls.connect(&server.host, stream).await?
        )))
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = opts;
        Err(not_built(server, "tls-ring"))
    }
}

async fn ws(opts: &ConnectOptions, server: &Server) -> Result<Transport, ConnectionError> {
    #[cfg(feature = "websocket")]
    {
        over_tcp!(opts, server, |stream| Ok(Box::new(
            ws::connect(stream, opts, server).await?
        )))
    }
    #[cfg(not(feature = "websocket"))]
    {
        let _ = opts;
        Err(not_built(server, "websocket"))
    }
}

async fn wss(opts: &ConnectOptions, server: &Server) -> Result<Transport, ConnectionError> {
    #[cfg(all(feature = "websocket", feature = "tls"))]
    {
        let tls = tls::Connector::new(&opts.tls).await?;
        over_tcp!(opts, server, |stream| {
            let stream = tls.connect(&server.host, stream).await?;
            Ok(Box::new(ws::connect(stream, opts, server).await?))
        })
    }
    #[cfg(not(all(feature = "websocket", feature = "tls")))]
    {
        let _ = opts;
        Err(not_built(server, "websocket` and `tls-ring"))
    }
}

async fn unix(server: &Server) -> Result<Transport, ConnectionError> {
    #[cfg(unix)]
    {
        let stream = tokio::net::UnixStream::connect(&server.path)
            .await
            .map_err(|e| ConnectionError::Connect {
                address: server.path.clone(),
                source: Arc::new(e),
            })?;
        Ok(Box::new(stream))
    }
    #[cfg(not(unix))]
    {
        Err(not_built(server, "a Unix platform"))
    }
}

/// A server whose scheme this build cannot reach (URL parsing refuses those, so only a
/// hand-made server list gets here).
#[allow(dead_code)]
fn not_built(server: &Server, feature: &str) -> ConnectionError {
    ConnectionError::Connect {
        address: server.to_string(),
        source: Arc::new(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this build of pigeon-mqtt lacks `{feature}`"),
        )),
    }
}
