//! SOCKS5 (RFC 1928) with user name / password authentication (RFC 1929), through
//! tokio-socks. `socks5h://` sends the broker's name for the proxy to resolve; `socks5://`
//! resolves it here and tries each address in turn, as a direct connection would.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;
use tokio_socks::tcp::Socks5Stream;
use tokio_socks::{Error as SocksError, TargetAddr};

use super::{dial, Proxy, ProxyError, ProxyKind};
use crate::error::ConnectionError;
use crate::transport::authority;

/// A TCP connection through the SOCKS5 proxy `proxy` to `host:port`.
pub(super) async fn connect(
    proxy: &Proxy,
    host: &str,
    port: u16,
    nodelay: bool,
) -> Result<TcpStream, ConnectionError> {
    let targets: Vec<TargetAddr<'_>> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![TargetAddr::Ip(SocketAddr::new(ip, port))],
        Err(_) if proxy.kind == ProxyKind::Socks5h => {
            if host.len() > 255 {
                return Err(ProxyError::Target {
                    proxy: proxy.to_string(),
                    host: host.to_owned(),
                    reason: "SOCKS5 carries names of at most 255 bytes",
                }
                .into());
            }
            vec![TargetAddr::Domain(host.into(), port)]
        }
        Err(_) => crate::transport::resolve(host, port)
            .await?
            .into_iter()
            .map(TargetAddr::Ip)
            .collect(),
    };
    let mut last = None;
    for target in targets {
        let stream = dial(proxy, nodelay).await?;
        let result = match proxy.credentials() {
            None => Socks5Stream::connect_with_socket(stream, target).await,
            Some((user, password)) => {
                Socks5Stream::connect_with_password_and_socket(stream, target, user, password).await
            }
        };
        match result {
            Ok(tunnel) => return Ok(tunnel.into_inner()),
            Err(e) => match error(proxy, &authority(host, port), e) {
                // The next address may work.
                e @ ProxyError::SocksReply { .. } => last = Some(e),
                e => return Err(e.into()),
            },
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => ConnectionError::Resolve {
            host: host.to_owned(),
            source: std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name has no address",
            )),
        },
    })
}

/// The [`ProxyError`] for a failed SOCKS5 handshake with `proxy` for `target`.
fn error(proxy: &Proxy, target: &str, e: SocksError) -> ProxyError {
    let auth = |reason: &str| ProxyError::SocksAuth {
        proxy: proxy.to_string(),
        reason: reason.to_owned(),
    };
    let reply = |code: u8, reason: &'static str| ProxyError::SocksReply {
        proxy: proxy.to_string(),
        target: target.to_owned(),
        code,
        reason,
    };
    match e {
        SocksError::Io(e) => ProxyError::io(proxy, e),
        SocksError::NoAcceptableAuthMethods if proxy.credentials().is_some() => {
            auth("it accepts neither no authentication nor user name and password")
        }
        SocksError::NoAcceptableAuthMethods | SocksError::AuthorizationRequired => {
            auth("it requires a user name and password: put user:password in the proxy URL")
        }
        SocksError::PasswordAuthFailure(status) => auth(&format!(
            "it rejected the user name and password (status {status})"
        )),
        SocksError::InvalidAuthValues(why) => auth(why),
        SocksError::GeneralSocksServerFailure => reply(1, "general SOCKS server failure"),
        SocksError::ConnectionNotAllowedByRuleset => {
            reply(2, "connection not allowed by its rules")
        }
        SocksError::NetworkUnreachable => reply(3, "network unreachable"),
        SocksError::HostUnreachable => reply(4, "host unreachable"),
        SocksError::ConnectionRefused => reply(5, "connection refused"),
        SocksError::TtlExpired => reply(6, "TTL expired"),
        SocksError::CommandNotSupported => reply(7, "command not supported"),
        SocksError::AddressTypeNotSupported => reply(8, "address type not supported"),
        // tokio-socks reports a reply code above 8 as an unknown auth method.
        SocksError::UnknownAuthMethod => ProxyError::malformed(
            proxy,
            "an authentication method we did not offer, or an unknown reply code",
        ),
        SocksError::InvalidResponseVersion => {
            ProxyError::malformed(proxy, "not a SOCKS5 answer (wrong version byte)")
        }
        e => ProxyError::malformed(proxy, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A fake SOCKS5 proxy on loopback that runs `script` on each connection: read so many
    /// bytes, answer these; then closes. Returns its port.
    async fn fake(script: &'static [(usize, &'static [u8])]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                for (expect, answer) in script {
                    let mut buf = vec![0u8; *expect];
                    if s.read_exact(&mut buf).await.is_err() || s.write_all(answer).await.is_err() {
                        break;
                    }
                }
            }
        });
        port
    }

    async fn run(url: &str, host: &str) -> ConnectionError {
        let proxy = Proxy::from_url(url).unwrap();
        connect(&proxy, host, 1883, true).await.unwrap_err()
    }

    #[tokio::test]
    async fn answers_become_typed_errors() {
        // Not SOCKS at all.
        let port = fake(&[(3, b"HTTP/1.1 400 Bad Request\r\n\r\n")]).await;
        let err = run(&format!("socks5://127.0.0.1:{port}"), "127.0.0.1").await;
        assert!(
            matches!(&err, ConnectionError::Proxy(ProxyError::Malformed { message, .. }) if message.contains("version")),
            "{err:?}"
        );
        // Host unreachable after no authentication (reply 4).
        let port = fake(&[(3, b"\x05\x00"), (10, b"\x05\x04\x00\x01\0\0\0\0\0\0")]).await;
        let err = run(&format!("socks5://127.0.0.1:{port}"), "127.0.0.1").await;
        assert!(
            matches!(&err, ConnectionError::Proxy(ProxyError::SocksReply { code: 4, target, .. }) if target == "127.0.0.1:1883"),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("host unreachable (reply 4)"),
            "{err}"
        );
        // Wants a password we do not have.
        let port = fake(&[(3, b"\x05\xff")]).await;
        let err = run(&format!("socks5://127.0.0.1:{port}"), "127.0.0.1").await;
        assert!(
            matches!(&err, ConnectionError::Proxy(ProxyError::SocksAuth { reason, .. }) if reason.contains("put user:password")),
            "{err:?}"
        );
        // Closes without a word.
        let port = fake(&[(3, b"")]).await;
        let err = run(&format!("socks5h://127.0.0.1:{port}"), "broker").await;
        assert!(
            matches!(&err, ConnectionError::Proxy(ProxyError::Closed { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn names_longer_than_socks_allows_are_refused_before_connecting() {
        let long = "a".repeat(256);
        let err = run("socks5h://127.0.0.1:9", &long).await;
        assert!(
            matches!(&err, ConnectionError::Proxy(ProxyError::Target { .. })),
            "{err:?}"
        );
    }
}
