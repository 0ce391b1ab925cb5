//! The proxy from the environment, read the way curl reads it (`lib/url.c` `detect_proxy`,
//! `lib/noproxy.c`). Pure functions of the variables, so they are tested without touching the
//! process environment.

use std::net::IpAddr;

use super::{Proxy, ProxyError};
use crate::options::{Scheme, Server};

/// The proxy the environment gives for `server` (`var` reads one variable), or `None` when
/// the server is to be reached directly.
pub(crate) fn proxy_for(
    server: &Server,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, ProxyError> {
    if server.scheme == Scheme::Unix {
        return Ok(None);
    }
    let first = |names: &[&'static str]| {
        names.iter().find_map(|&name| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        })
    };
    if let Some((_, list)) = first(&["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(&list, &server.host, server.port) {
            return Ok(None);
        }
    }
    let specific: [&'static str; 2] = if server.scheme.is_tls() {
        ["https_proxy", "HTTPS_PROXY"]
    } else {
        ["http_proxy", "HTTP_PROXY"]
    };
    let Some((variable, url)) = first(&specific).or_else(|| first(&["all_proxy", "ALL_PROXY"]))
    else {
        return Ok(None);
    };
    // curl takes a value without a scheme as an HTTP proxy.
    let url = if url.contains("://") {
        url
    } else {
        format!("http://{url}")
    };
    Proxy::from_url(&url)
        .map(Some)
        .map_err(|source| ProxyError::Environment { variable, source })
}

/// Whether `host` (a name or an IP address without brackets) at `port` is in the `NO_PROXY`
/// list `list`.
pub(crate) fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return false;
    }
    let ip = host.parse::<IpAddr>().ok();
    list.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .any(|token| {
            let (pattern, token_port) = split_port(token);
            if token_port.is_some_and(|p| p != port) {
                return false;
            }
            match ip {
                Some(ip) => ip_matches(ip, pattern),
                None => name_matches(host, pattern),
            }
        })
}

/// `pattern[:port]`: the port of `name:port` and `[v6]:port`; an entry with more than one
/// colon and no brackets is an IPv6 address without a port.
fn split_port(token: &str) -> (&str, Option<u16>) {
    if let Some(rest) = token.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((addr, "")) => (addr, None),
            Some((addr, p)) => match p.strip_prefix(':').and_then(|p| p.parse().ok()) {
                Some(port) => (addr, Some(port)),
                None => (token, None),
            },
            None => (token, None),
        };
    }
    match token.split_once(':') {
        Some((name, p)) if !p.contains(':') => match p.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (token, None),
        },
        _ => (token, None),
    }
}

/// `example.com` and `.example.com` match `example.com` and `www.example.com`, not
/// `notexample.com`; trailing dots and case do not matter.
fn name_matches(host: &str, pattern: &str) -> bool {
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
    let pattern = pattern.strip_prefix('.').unwrap_or(pattern);
    if pattern.is_empty() || pattern.len() > host.len() {
        return false;
    }
    let split = host.len() - pattern.len();
    let Some(tail) = host.get(split..) else {
        return false;
    };
    tail.eq_ignore_ascii_case(pattern) && (split == 0 || host.as_bytes()[split - 1] == b'.')
}

/// An address, or a CIDR range `addr/bits`.
fn ip_matches(ip: IpAddr, pattern: &str) -> bool {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(bits) => (a, Some(bits)),
            Err(_) => return false,
        },
        None => (pattern, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => prefix_equal(
            u128::from(u32::from(ip)),
            u128::from(u32::from(net)),
            32,
            bits,
        ),
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            prefix_equal(u128::from(ip), u128::from(net), 128, bits)
        }
        _ => false,
    }
}

/// Whether the first `bits` (all `width` when `None`) of two `width`-bit numbers agree.
fn prefix_equal(a: u128, b: u128, width: u32, bits: Option<u32>) -> bool {
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::ProxyKind;
    use super::*;

    fn server(url: &str) -> Server {
        Server::from_url(url).unwrap()
    }

    /// The proxy for `url` with these variables set.
    fn pick(url: &str, vars: &[(&str, &str)]) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        proxy_for(&server(url), |name| vars.get(name).cloned())
            .unwrap()
            .map(|p| p.to_string())
    }

    #[test]
    fn scheme_specific_variable_then_all_proxy() {
        let vars = [
            ("http_proxy", "http://127.0.0.1:1"),
            ("https_proxy", "http://127.0.0.1:2"),
            ("all_proxy", "socks5h://127.0.0.1:3"),
        ];
        assert_eq!(
            pick("mqtt://b", &vars).as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            pick("mqtt://b", &vars[1..]).as_deref(),
            Some("socks5h://127.0.0.1:3")
        );
        assert_eq!(
            pick("mqtt://b", &vars[2..]).as_deref(),
            Some("socks5h://127.0.0.1:3")
        );
        assert_eq!(pick("mqtt://b", &[]), None);
        #[cfg(feature = "tls")]
        {
            assert_eq!(
                pick("mqtts://b", &vars).as_deref(),
                Some("http://127.0.0.1:2")
            );
            assert_eq!(
                pick("mqtts://b", &[vars[0], vars[2]]).as_deref(),
                Some("socks5h://127.0.0.1:3")
            );
        }
        #[cfg(all(feature = "tls", feature = "websocket"))]
        assert_eq!(
            pick("wss://b", &vars).as_deref(),
            Some("http://127.0.0.1:2")
        );
        #[cfg(feature = "websocket")]
        assert_eq!(pick("ws://b", &vars).as_deref(), Some("http://127.0.0.1:1"));
    }

    #[test]
    fn lowercase_first_uppercase_too_empty_is_unset() {
        let both = [
            ("HTTP_PROXY", "http://127.0.0.1:9"),
            ("http_proxy", "http://127.0.0.1:1"),
        ];
        assert_eq!(
            pick("mqtt://b", &both).as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            pick("mqtt://b", &both[..1]).as_deref(),
            Some("http://127.0.0.1:9")
        );
        let empty = [("http_proxy", " "), ("ALL_PROXY", "socks5://127.0.0.1:4")];
        assert_eq!(
            pick("mqtt://b", &empty).as_deref(),
            Some("socks5://127.0.0.1:4")
        );
        #[cfg(feature = "tls")]
        assert_eq!(
            pick("mqtts://b", &[("HTTPS_PROXY", "127.0.0.1:5")]).as_deref(),
            Some("http://127.0.0.1:5")
        );
    }

    #[test]
    fn a_value_without_scheme_is_http_and_credentials_are_kept() {
        let vars = [("http_proxy", "u:p%40ss@127.0.0.1:3128")];
        let s = server("mqtt://b");
        let p = proxy_for(&s, |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
        .unwrap();
        assert_eq!(p.kind(), ProxyKind::Http);
        assert_eq!(p.credentials(), Some(("u", "p@ss")));
        assert_eq!(p.port(), 3128);
        assert_eq!(
            pick("mqtt://b", &[("http_proxy", "127.0.0.1")]).as_deref(),
            Some("http://127.0.0.1:1080")
        );
    }

    #[test]
    fn a_bad_value_names_the_variable_and_hides_the_password() {
        let s = server("mqtt://b");
        let err = proxy_for(&s, |n| {
            (n == "ALL_PROXY").then(|| "ftp://u:secret@127.0.0.1".to_owned())
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(
            err,
            ProxyError::Environment {
                variable: "ALL_PROXY",
                ..
            }
        ));
        assert!(
            text.contains("ALL_PROXY") && !text.contains("secret"),
            "{text}"
        );
    }

    #[test]
    fn no_proxy_skips_the_proxy() {
        let proxy = ("http_proxy", "http://127.0.0.1:1");
        assert_eq!(pick("mqtt://b.example", &[proxy, ("no_proxy", "*")]), None);
        assert_eq!(
            pick("mqtt://b.example", &[proxy, ("NO_PROXY", "xample")]).as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            pick("mqtt://b.example", &[proxy, ("NO_PROXY", "example")]),
            None
        );
        assert_eq!(
            pick("mqtt://b.example", &[proxy, ("NO_PROXY", ".example")]),
            None
        );
        // Lowercase first.
        let vars = [proxy, ("no_proxy", "other"), ("NO_PROXY", "*")];
        assert!(pick("mqtt://b.example", &vars).is_some());
        let vars = [proxy, ("no_proxy", ""), ("NO_PROXY", "*")];
        assert!(pick("mqtt://b.example", &vars).is_none());
    }

    #[test]
    fn no_proxy_names() {
        let m = no_proxy_matches;
        assert!(m("example.com", "example.com", 1883));
        assert!(m("example.com", "www.example.com", 1883));
        assert!(m(".example.com", "example.com", 1883));
        assert!(m(".example.com", "a.b.example.com", 1883));
        assert!(!m("example.com", "notexample.com", 1883));
        assert!(!m("www.example.com", "example.com", 1883));
        assert!(m("EXAMPLE.com.", "www.Example.COM.", 1883));
        assert!(m("other, localhost", "localhost", 1));
        assert!(m("other localhost", "localhost", 1));
        assert!(m(",, ,localhost,,", "localhost", 1));
        assert!(!m("", "localhost", 1));
        assert!(!m(",", "localhost", 1));
        assert!(!m(".", "localhost", 1));
        // `*` only alone, as in curl.
        assert!(m(" * ", "anything", 1));
        assert!(!m("*, other", "anything", 1));
        assert!(!m("*.example.com", "www.example.com", 1));
        // Names do not match addresses and the other way round.
        assert!(!m("localhost", "127.0.0.1", 1));
        assert!(!m("127.0.0.1", "localhost", 1));
        // Multi-byte characters do not upset the suffix arithmetic.
        assert!(!m("é", "aé", 1));
        assert!(m("é.com", "x.é.com", 1));
    }

    #[test]
    fn no_proxy_addresses_and_ranges() {
        let m = no_proxy_matches;
        assert!(m("127.0.0.1", "127.0.0.1", 1));
        assert!(!m("127.0.0.1", "127.0.0.2", 1));
        assert!(m("127.0.0.0/8", "127.1.2.3", 1));
        assert!(!m("127.0.0.0/16", "127.1.2.3", 1));
        assert!(m("0.0.0.0/0", "127.1.2.3", 1));
        assert!(!m("127.0.0.0/33", "127.0.0.1", 1));
        assert!(!m("127.0.0.0/x", "127.0.0.1", 1));
        assert!(m("::1", "::1", 1));
        assert!(m("[::1]", "::1", 1));
        assert!(m("fd00::/8", "fd12:3456::1", 1));
        assert!(!m("fd00::/16", "fd12:3456::1", 1));
        assert!(!m("::1", "127.0.0.1", 1));
        assert!(!m("127.0.0.1", "::1", 1));
    }

    #[test]
    fn no_proxy_ports() {
        let m = no_proxy_matches;
        // The broker's port does not matter for an entry without one...
        assert!(m("broker", "broker", 8883));
        // ...and an entry with a port matches that port only.
        assert!(m("broker:8883", "broker", 8883));
        assert!(!m("broker:8883", "broker", 1883));
        assert!(m(".example.com:1883", "b.example.com", 1883));
        assert!(m("127.0.0.1:1883", "127.0.0.1", 1883));
        assert!(!m("127.0.0.1:1883", "127.0.0.1", 1884));
        assert!(m("[::1]:1883", "::1", 1883));
        assert!(!m("[::1]:1883", "::1", 1884));
        assert!(!m("broker:x", "broker", 1883));
    }
}
