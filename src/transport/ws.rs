//! WebSocket transport (`ws://`, `wss://`): the HTTP upgrade with the `mqtt` subprotocol, then
//! the WebSocket message stream seen as a byte stream.
//!
//! Every write becomes one binary frame; incoming binary frames are read as one byte stream, so
//! a packet may span frames and a frame may hold several packets [MQTT-6.0.0-2].

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::error::ConnectionError;
use crate::options::{ConnectOptions, Server};

/// The subprotocol MQTT uses [MQTT-6.0.0-3].
const SUBPROTOCOL: &str = "mqtt";

/// Upgrades `stream` (TCP or TLS, already connected to `server`) to a WebSocket.
pub(crate) async fn connect<S>(
    stream: S,
    opts: &ConnectOptions,
    server: &Server,
) -> Result<WsIo<S>, ConnectionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let error = |message: String| ConnectionError::WebSocket {
        message,
        source: None,
    };
    let url = request_url(server);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| error(format!("{url} is not a valid WebSocket URL: {e}")))?;
    let headers = request.headers_mut();
    for (name, value) in &opts.ws_headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|e| error(format!("bad header name {name:?}: {e}")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|e| error(format!("bad value for header {name}: {e}")))?;
        headers.append(name, value);
    }
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    // MQTT limits packets itself; a WebSocket message may hold the largest packet allowed.
    let max = usize::try_from(opts.maximum_packet_size)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    // tungstenite checks that the server chose the `mqtt` subprotocol we asked for.
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| match e {
                WsError::Http(response) => error(format!(
                    "{url} answered the WebSocket upgrade with HTTP {} (check the path, and \
                     that this port serves MQTT over WebSockets)",
                    response.status()
                )),
                e => ConnectionError::WebSocket {
                    message: format!(
                        "WebSocket upgrade with {url} failed: {e} (check that this port serves \
                         MQTT over WebSockets)"
                    ),
                    source: Some(std::sync::Arc::new(e)),
                },
            })?;
    Ok(WsIo {
        ws,
        read: Bytes::new(),
        unflushed: false,
    })
}

/// The URL of the upgrade request. The default port is left out so that the `Host` header is
/// the bare host name, as signed URLs (e.g. AWS SigV4) expect.
fn request_url(server: &Server) -> String {
    let host = if server.host.contains(':') {
        format!("[{}]", server.host)
    } else {
        server.host.clone()
    };
    if server.port == server.scheme.default_port() {
        format!("{}://{host}{}", server.scheme, server.path)
    } else {
        format!("{}://{host}:{}{}", server.scheme, server.port, server.path)
    }
}

/// A WebSocket connection as an `AsyncRead + AsyncWrite` byte stream of binary frames.
pub(crate) struct WsIo<S> {
    ws: WebSocketStream<S>,
    /// What is left of the last binary frame received.
    read: Bytes,
    /// A frame was accepted but not yet flushed to the socket.
    unflushed: bool,
}

impl<S> fmt::Debug for WsIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsIo")
            .field("buffered", &self.read.len())
            .field("unflushed", &self.unflushed)
            .finish_non_exhaustive()
    }
}

/// A WebSocket failure carried inside an `io::Error` (see [`error_behind_io`]).
#[derive(Debug)]
struct WsFailure(String);

impl fmt::Display for WsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WsFailure {}

/// The WebSocket failure carried by an I/O error from [`WsIo`].
pub(crate) fn error_behind_io(
    inner: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<ConnectionError> {
    inner
        .downcast_ref::<WsFailure>()
        .map(|f| ConnectionError::WebSocket {
            message: f.0.clone(),
            source: None,
        })
}

fn to_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        // The server closed: like the end of a TCP stream (see `ConnectionError::from`).
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string())
        }
        e => io::Error::new(io::ErrorKind::InvalidData, WsFailure(e.to_string())),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsIo<S> {
    /// Pushes accepted frames towards the socket.
    fn poll_flush_frames(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.unflushed {
            ready!(Pin::new(&mut self.ws).poll_flush(cx)).map_err(to_io)?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, frame: Bytes) -> Poll<io::Result<usize>> {
        // Earlier frames first: this is the backpressure.
        ready!(self.poll_flush_frames(cx))?;
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(to_io)?;
        let n = frame.len();
        Pin::new(&mut self.ws)
            .start_send(Message::Binary(frame))
            .map_err(to_io)?;
        self.unflushed = true;
        // Start writing now; what does not fit yet goes out on the next write, flush or read.
        if let Poll::Ready(r) = self.poll_flush_frames(cx) {
            r?;
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The event loop waits by reading: finish writing a frame the socket had no room for.
        if let Poll::Ready(Err(e)) = this.poll_flush_frames(cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            if !this.read.is_empty() {
                let n = this.read.len().min(buf.remaining());
                buf.put_slice(&this.read[..n]);
                this.read.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.read = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        WsFailure(
                            "[MQTT-6.0.0-1] the server sent a text frame; MQTT uses binary frames"
                                .to_owned(),
                        ),
                    )))
                }
                // Pings are answered by tungstenite.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // A close frame or the end of the stream: end of file.
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return Poll::Ready(Ok(()))
                }
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, Bytes::copy_from_slice(buf))
    }

    /// All the slices go out as one frame.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut frame = BytesMut::with_capacity(bufs.iter().map(|b| b.len()).sum());
        for b in bufs {
            frame.extend_from_slice(b);
        }
        self.get_mut().poll_send(cx, frame.freeze())
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_flush(cx)).map_err(to_io)?;
        this.unflushed = false;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match ready!(Pin::new(&mut this.ws).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A client `WsIo` and the server's end of the WebSocket, over an in-memory pipe.
    #[allow(clippy::result_large_err)] // tungstenite's handshake callback signature
    async fn pair() -> (
        WsIo<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(tokio_tungstenite::accept_hdr_async(
            server,
            |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
             mut resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                assert_eq!(
                    req.headers()["Sec-WebSocket-Protocol"],
                    SUBPROTOCOL,
                    "the client asks for the mqtt subprotocol"
                );
                assert_eq!(req.headers()["x-test"], "yes");
                assert_eq!(req.headers()["host"], "127.0.0.1:9");
                assert_eq!(req.uri().path(), "/mqtt");
                resp.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_static(SUBPROTOCOL),
                );
                Ok(resp)
            },
        ));
        let opts = ConnectOptions::from_url("ws://127.0.0.1:9/mqtt")
            .unwrap()
            .ws_header("x-test", "yes");
        let client = connect(client, &opts, &opts.server_list()[0])
            .await
            .unwrap();
        (client, server.await.unwrap().unwrap())
    }

    #[test]
    fn host_header_leaves_out_the_default_port() {
        let url = |u: &str| request_url(&Server::from_url(u).unwrap());
        assert_eq!(url("ws://broker"), "ws://broker/");
        assert_eq!(url("ws://broker:80/mqtt?a=b"), "ws://broker/mqtt?a=b");
        assert_eq!(url("ws://[::1]:9001/mqtt"), "ws://[::1]:9001/mqtt");
        #[cfg(feature = "tls")]
        assert_eq!(url("wss://broker:443/mqtt"), "wss://broker/mqtt");
    }

    #[tokio::test]
    async fn frames_are_one_byte_stream() {
        let (mut client, mut server) = pair().await;
        // One packet over two frames, then two packets in one frame.
        server
            .send(Message::binary(vec![0x30, 0x03]))
            .await
            .unwrap();
        server
            .send(Message::binary(vec![0, 1, b'a']))
            .await
            .unwrap();
        server
            .send(Message::binary(vec![0xC0, 0x00, 0xD0, 0x00]))
            .await
            .unwrap();
        let mut got = [0u8; 9];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [0x30, 0x03, 0, 1, b'a', 0xC0, 0x00, 0xD0, 0x00]);
        // Pings are not data.
        server
            .send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        server
            .send(Message::binary(vec![0xE0, 0x00]))
            .await
            .unwrap();
        let mut got = [0u8; 2];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [0xE0, 0x00]);
    }

    #[tokio::test]
    async fn a_vectored_write_is_one_binary_frame() {
        let (mut client, mut server) = pair().await;
        let slices = [
            io::IoSlice::new(&[0x30, 0x03]),
            io::IoSlice::new(&[0, 1, b'a']),
        ];
        let n = client.write_vectored(&slices).await.unwrap();
        assert_eq!(n, 5);
        let msg = server.next().await.unwrap().unwrap();
        assert_eq!(msg, Message::binary(vec![0x30, 0x03, 0, 1, b'a']));
    }

    #[tokio::test]
    async fn large_frames_are_written_while_reading() {
        // The pipe holds 64 KiB; the frame is larger, so it completes only while the client
        // waits by reading (as the event loop does).
        let (mut client, mut server) = pair().await;
        let big = vec![7u8; 300 * 1024];
        client.write_all(&big).await.unwrap();
        let reader = tokio::spawn(async move {
            let mut b = [0u8; 1];
            client.read_exact(&mut b).await.map(|_| b[0])
        });
        let msg = server.next().await.unwrap().unwrap();
        assert_eq!(msg.len(), big.len());
        server.send(Message::binary(vec![42])).await.unwrap();
        assert_eq!(reader.await.unwrap().unwrap(), 42);
    }

    #[tokio::test]
    async fn text_frames_and_close() {
        let (mut client, mut server) = pair().await;
        server.send(Message::text("hello")).await.unwrap();
        let mut b = [0u8; 1];
        let err = client.read(&mut b).await.unwrap_err();
        let err = ConnectionError::from(err);
        assert!(
            matches!(&err, ConnectionError::WebSocket { message, .. } if message.contains("MQTT-6.0.0-1")),
            "{err:?}"
        );

        let (mut client, mut server) = pair().await;
        server.close(None).await.unwrap();
        assert_eq!(client.read(&mut b).await.unwrap(), 0);
    }
}
