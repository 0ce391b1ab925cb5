//! Transports: how the bytes of a connection travel. The event loop sees one boxed
//! `AsyncRead + AsyncWrite` whatever the scheme.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::ConnectionError;
use crate::options::ConnectOptions;

/// A connected byte stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The transport the event loop owns.
pub(crate) type Transport = Box<dyn Io>;

/// Opens the transport described by `opts` (TCP for `mqtt://` and `tcp://`).
pub(crate) async fn connect(opts: &ConnectOptions) -> Result<Transport, ConnectionError> {
    let stream = tcp(&opts.host, opts.port, opts.tcp_nodelay).await?;
    Ok(Box::new(stream))
}

/// A TCP connection with TCP_NODELAY as configured.
pub(crate) async fn tcp(
    host: &str,
    port: u16,
    nodelay: bool,
) -> Result<TcpStream, ConnectionError> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| ConnectionError::Address {
            address: format!("{host}:{port}"),
            message: e.to_string(),
        })?;
    if let Err(e) = stream.set_nodelay(nodelay) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    Ok(stream)
}
