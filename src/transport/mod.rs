//! Transports: how the bytes of a connection travel. The event loop sees one boxed
//! `AsyncRead + AsyncWrite` whatever the scheme: TCP, TLS, WebSocket (over TCP or TLS) or a
//! Unix socket. Nothing here knows about MQTT packets.

#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "websocket")]
mod ws;

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

use crate::error::ConnectionError;
use crate::options::{ConnectOptions, Scheme, Server};

/// A connected byte stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The transport the event loop owns.
pub(crate) type Transport = Box<dyn Io>;

/// Opens the transport to `server`, with the TLS and WebSocket settings of `opts`. Everything
/// up to the first MQTT byte happens here: TCP connect, TLS handshake, WebSocket upgrade.
pub(crate) async fn connect(
    opts: &ConnectOptions,
    server: &Server,
) -> Result<Transport, ConnectionError> {
    match server.scheme {
        Scheme::Mqtt => Ok(Box::new(tcp(opts, server).await?)),
        Scheme::Mqtts => mqtts(opts, server).await,
        Scheme::Ws => ws(opts, server).await,
        Scheme::Wss => wss(opts, server).await,
        Scheme::Unix => unix(server).await,
    }
}

/// A TCP connection to `server` with TCP_NODELAY and the local address as configured.
pub(crate) async fn tcp(
    opts: &ConnectOptions,
    server: &Server,
) -> Result<TcpStream, ConnectionError> {
    let (host, port) = (server.host.as_str(), server.port);
    let connected = match opts.bind_address {
        None => TcpStream::connect((host, port)).await,
        Some(local) => connect_from(local, host, port).await,
    };
    let stream = connected.map_err(|e| ConnectionError::Address {
        address: format!("{host}:{port}"),
        message: e.to_string(),
    })?;
    if let Err(e) = stream.set_nodelay(opts.tcp_nodelay) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    Ok(stream)
}

/// Connects to the first address of `host` in `local`'s family that accepts, from `local`.
async fn connect_from(local: IpAddr, host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        if addr.is_ipv4() != local.is_ipv4() {
            continue;
        }
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        let bound = socket.bind(SocketAddr::new(local, 0)).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot bind local address {local}: {e}"))
        });
        match bound {
            Ok(()) => match socket.connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = Some(e),
            },
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{host} has no address in the family of the local address {local}"),
        )
    }))
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
        let stream = tcp(opts, server).await?;
        Ok(Box::new(tls.connect(&server.host, stream).await?))
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
        let stream = tcp(opts, server).await?;
        Ok(Box::new(ws::connect(stream, opts, server).await?))
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
        let stream = tcp(opts, server).await?;
        let stream = tls.connect(&server.host, stream).await?;
        Ok(Box::new(ws::connect(stream, opts, server).await?))
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
            .map_err(|e| ConnectionError::Address {
                address: server.to_string(),
                message: e.to_string(),
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
    ConnectionError::Address {
        address: server.to_string(),
        message: format!("this build of pigeon-mqtt lacks `{feature}`"),
    }
}
