//! The HTTP CONNECT handshake (RFC 9110 9.3.6): one request, one response head, then the
//! connection is a tunnel to the broker.
//!
//! ```text
//! CONNECT broker:8883 HTTP/1.1          HTTP/1.1 200 Connection established
//! Host: broker:8883                     (headers, ignored)
//! User-Agent: pigeon-mqtt/0.1.0         (empty line)
//! Proxy-Authorization: Basic dTpw       (tunnel bytes, possibly in the same read)
//! (empty line)
//! ```

use base64::Engine;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Proxy, ProxyError, Tunnel};
use crate::transport::authority;

/// The largest response head accepted (status line and headers).
const MAX_HEAD: usize = 8 * 1024;

/// Asks the proxy behind `stream` for a tunnel to `host:port`.
pub(super) async fn connect<S>(
    mut stream: S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<Tunnel<S>, ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = authority(host, port);
    let request = request(&target, proxy.credentials());
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| ProxyError::io(proxy, e))?;
    stream.flush().await.map_err(|e| ProxyError::io(proxy, e))?;

    let (head, early) = read_head(&mut stream, proxy).await?;
    let status_line = head.lines().next().unwrap_or_default().trim_end();
    let status = status_code(status_line).ok_or_else(|| {
        ProxyError::malformed(
            proxy,
            format!("{:?} is not an HTTP status line", printable(status_line)),
        )
    })?;
    match status {
        // Headers of a 2xx answer do not matter: "A client MUST ignore any Content-Length or
        // Transfer-Encoding header fields received in a successful response to CONNECT"
        // (RFC 9110 9.3.6). What follows the head is the broker's.
        200..=299 => Ok(Tunnel::new(stream, early)),
        407 => Err(ProxyError::HttpAuthRequired {
            proxy: proxy.to_string(),
            status_line: printable(status_line),
            credentials_sent: proxy.credentials().is_some(),
        }),
        _ => Err(ProxyError::HttpStatus {
            proxy: proxy.to_string(),
            target,
            status,
            status_line: printable(status_line),
        }),
    }
}

/// The request in authority form, with the `Host` header HTTP/1.1 requires (RFC 9112 3.2) and
/// Basic credentials (RFC 7617) when the proxy URL has some.
fn request(target: &str, credentials: Option<(&str, &str)>) -> String {
    let mut request = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: pigeon-mqtt/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str("Proxy-Authorization: Basic ");
        request.push_str(&token);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

/// Reads up to the end of the response head (an empty line); returns the head and the bytes
/// read after it.
async fn read_head<S>(stream: &mut S, proxy: &Proxy) -> Result<(String, Bytes), ProxyError>
where
    S: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let n = stream
            .read(&mut buf[len..])
            .await
            .map_err(|e| ProxyError::io(proxy, e))?;
        if n == 0 {
            return Err(if len == 0 {
                ProxyError::Closed {
                    proxy: proxy.to_string(),
                }
            } else {
                ProxyError::malformed(
                    proxy,
                    format!(
                        "the connection ended inside the response head, after {:?}",
                        printable(&String::from_utf8_lossy(&buf[..len]))
                    ),
                )
            });
        }
        // Only the new bytes (and the three before them) can complete the end marker.
        let from = len.saturating_sub(3);
        len += n;
        if let Some(end) = head_end(&buf[from..len]).map(|e| from + e) {
            let early = Bytes::copy_from_slice(&buf[end..len]);
            buf.truncate(end);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), early));
        }
        if len == MAX_HEAD {
            return Err(ProxyError::malformed(
                proxy,
                format!("no end of the response head within {MAX_HEAD} bytes"),
            ));
        }
    }
}

/// The index just past the empty line that ends a head: CRLF CRLF, or a bare LF LF, which
/// RFC 9112 2.2 lets a recipient take as a line end.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn status_code(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    let valid_version = version
        .strip_prefix("HTTP/")
        .is_some_and(|v| v.len() == 3 && v.starts_with(|c: char| c.is_ascii_digit()));
    if !valid_version || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

/// `text` fit for an error message: control characters escaped, at most 200 characters.
fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(200)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 200 {
        out.push_str("...");
    }
    out.replace("\\'", "'").replace("\\\"", "\"")
}

#[cfg(test)]
mod tests {
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    fn proxy(url: &str) -> Proxy {
        Proxy::from_url(url).unwrap()
    }

    /// Runs the handshake against a fake proxy that reads the request and answers `answer`
    /// (then closes its side); returns the result and the request it saw.
    async fn against(
        url: &str,
        host: &str,
        answer: &'static [u8],
    ) -> (Result<Tunnel<DuplexStream>, ProxyError>, String) {
        let (client, mut server) = duplex(64 * 1024);
        let fake = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut b = [0u8; 1];
            while !seen.ends_with(b"\r\n\r\n") {
                if server.read(&mut b).await.unwrap() == 0 {
                    break;
                }
                seen.push(b[0]);
            }
            server.write_all(answer).await.unwrap();
            String::from_utf8(seen).unwrap()
        });
        let result = connect(client, &proxy(url), host, 1883).await;
        (result, fake.await.unwrap())
    }

    #[tokio::test]
    async fn request_carries_target_host_and_basic_credentials() {
        let (result, request) = against(
            "http://Aladdin:open%20sesame@127.0.0.1:3128",
            "broker.example",
            b"HTTP/1.1 200 Connection established\r\n\r\n",
        )
        .await;
        result.unwrap();
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            request,
            format!(
                "CONNECT broker.example:1883 HTTP/1.1\r\nHost: broker.example:1883\r\n\
                 User-Agent: pigeon-mqtt/{version}\r\n\
                 Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
            )
        );
        let (result, request) =
            against("http://127.0.0.1:3128", "::1", b"HTTP/1.0 200 OK\n\n").await;
        result.unwrap();
        assert!(request.starts_with("CONNECT [::1]:1883 HTTP/1.1\r\nHost: [::1]:1883\r\n"));
        assert!(!request.contains("Proxy-Authorization"));
    }

    #[tokio::test]
    async fn bytes_after_the_head_belong_to_the_tunnel() {
        let (result, _) = against(
            "http://127.0.0.1:3128",
            "b",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\x20\x02\x00\x00rest",
        )
        .await;
        let mut tunnel = result.unwrap();
        let mut all = Vec::new();
        tunnel.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"\x20\x02\x00\x00rest");
    }

    #[tokio::test]
    async fn head_split_over_many_reads() {
        let (client, mut server) = duplex(64 * 1024);
        let fake = tokio::spawn(async move {
            let mut b = [0u8; 256];
            let _ = server.read(&mut b).await.unwrap();
            for chunk in [&b"HTTP/1.1 200 OK\r"[..], b"\n", b"Via: x\r\n\r", b"\nMQTT"] {
                server.write_all(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut tunnel = connect(client, &proxy("http://h:1"), "b", 1883)
            .await
            .unwrap();
        fake.await.unwrap();
        let mut all = Vec::new();
        tunnel.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"MQTT");
    }

    #[tokio::test]
    async fn statuses_become_typed_errors() {
        let (r, _) = against(
            "http://h:1",
            "b",
            b"HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
        )
        .await;
        let err = r.unwrap_err();
        assert!(
            matches!(&err, ProxyError::HttpAuthRequired { status_line, credentials_sent: false, .. }
                if status_line == "HTTP/1.0 407 Proxy Authentication Required"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("put user:password in the proxy URL"),
            "{err}"
        );

        let (r, _) = against(
            "http://u:hunter2@h:1",
            "b",
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
        )
        .await;
        let err = r.unwrap_err();
        assert!(matches!(
            &err,
            ProxyError::HttpAuthRequired {
                credentials_sent: true,
                ..
            }
        ));
        assert!(err
            .to_string()
            .contains("refused the user name and password"));
        assert!(!err.to_string().contains("hunter2"));

        let (r, _) = against("http://h:1", "b", b"HTTP/1.1 403 Forbidden\r\n\r\nbody").await;
        let err = r.unwrap_err();
        assert!(
            matches!(&err, ProxyError::HttpStatus { status: 403, status_line, target, .. }
                if status_line == "HTTP/1.1 403 Forbidden" && target == "b:1883"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the proxy http://h:1 refused a tunnel to b:1883: HTTP/1.1 403 Forbidden"
        );
    }

    #[tokio::test]
    async fn malformed_truncated_oversized_and_silent_answers() {
        for (answer, expected) in [
            (
                &b"SSH-2.0-OpenSSH_9.2\r\n\r\n"[..],
                "not an HTTP status line",
            ),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP status line"),
            (b"HTTP/1.1\r\n\r\n", "not an HTTP status line"),
            (b"\x05\x00", "the connection ended inside the response head"),
            (
                b"HTTP/1.1 200 OK\r\n",
                "the connection ended inside the response head",
            ),
        ] {
            let (client, mut server) = duplex(64 * 1024);
            tokio::spawn(async move {
                let mut b = [0u8; 256];
                let _ = server.read(&mut b).await;
                server.write_all(answer).await.unwrap();
            });
            let err = connect(client, &proxy("http://h:1"), "b", 1883)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ProxyError::Malformed { message, .. } if message.contains(expected)),
                "{answer:?}: {err:?}"
            );
        }

        let (r, _) = against("http://h:1", "b", b"").await;
        assert!(matches!(r.unwrap_err(), ProxyError::Closed { .. }));

        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'x', MAX_HEAD * 2));
        let (client, mut server) = duplex(64 * 1024);
        tokio::spawn(async move {
            let mut b = [0u8; 256];
            let _ = server.read(&mut b).await;
            let _ = server.write_all(&huge).await;
        });
        let err = connect(client, &proxy("http://h:1"), "b", 1883)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProxyError::Malformed { message, .. } if message.contains("8192 bytes")),
            "{err:?}"
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_code("HTTP/1.1 200 Connection established"),
            Some(200)
        );
        assert_eq!(status_code("HTTP/1.0 407 "), Some(407));
        assert_eq!(status_code("HTTP/1.1 502"), Some(502));
        assert_eq!(status_code("HTTP/2 200"), None);
        assert_eq!(status_code("HTTP/1.1 20 OK"), None);
        assert_eq!(status_code("HTTP/1.1 +20 OK"), None);
        assert_eq!(status_code(""), None);
        assert_eq!(printable("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(printable(&"x".repeat(300)).len(), 203);
    }

    #[test]
    fn head_end_marker() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nxyz"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\n\nxyz"), Some(17));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n"), None);
    }
}
