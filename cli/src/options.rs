//! From command line flags to the library's [`ConnectOptions`].

use std::path::Path;
use std::time::Duration;

use pigeon_mqtt::packet::{Property, ProtocolLevel, Will};
use pigeon_mqtt::topic::TopicName;
use pigeon_mqtt::{ConnectOptions, ReconnectOptions, TlsOptions};

use crate::args::{ServerArgs, SessionArgs};
use crate::error::CliError;
use crate::props::PropertySet;

/// The broker part of the options: server, protocol, credentials, keep alive, TLS. Also returns
/// the topic given as the path of an `mqtt://host/topic` URL (mosquitto's `-L` form).
///
/// The first connection is not retried: a refusal, an unreachable broker or a TLS failure ends
/// the command with one line. Once connected, a lost connection is re-established.
pub fn server_options(args: &ServerArgs) -> Result<(ConnectOptions, Option<String>), CliError> {
    let (url, topic) = match (&args.url, &args.unix) {
        (Some(url), _) => split_topic(url),
        (None, Some(path)) => (format!("unix://{}", absolute(path)?), None),
        (None, None) => {
            let scheme = if args.tls.any() { "mqtts" } else { "mqtt" };
            let port = args
                .port
                .unwrap_or(if args.tls.any() { 8883 } else { 1883 });
            let host = if args.host.contains(':') && !args.host.starts_with('[') {
                format!("[{}]", args.host)
            } else {
                args.host.clone()
            };
            (format!("{scheme}://{host}:{port}"), None)
        }
    };
    let mut opts = ConnectOptions::from_url(&url)
        .map_err(|e| CliError::Usage(format!("bad broker address: {e}")))?;
    let scheme = opts
        .server_list()
        .first()
        .map(|s| s.scheme())
        .ok_or_else(|| CliError::Usage(format!("bad broker address {url:?}")))?;
    if args.tls.any() && !scheme.is_tls() {
        return Err(CliError::Usage(format!(
            "TLS options given for a {scheme}:// URL: use mqtts:// or wss://"
        )));
    }
    if let Some(level) = args.protocol {
        opts = opts.protocol(level);
    }
    opts = opts
        .keep_alive(Duration::from_secs(args.keepalive.into()))
        .connect_timeout(Duration::from_secs(args.connect_timeout))
        // A first connection that fails is an error (the library's default, like
        // mosquitto_pub); later losses are retried.
        .reconnect(ReconnectOptions::default().retry_first_connect(false));
    match (&args.username, &args.password) {
        (Some(user), Some(pass)) => opts = opts.credentials(user.as_str(), pass.clone()),
        (Some(user), None) => opts = opts.username(user.as_str()),
        (None, Some(_)) => return Err(CliError::Usage("-P needs a user name (-u)".to_owned())),
        (None, None) => {}
    }
    if args.tls.any() {
        let t = &args.tls;
        let mut tls = TlsOptions::new();
        if let Some(ca) = &t.cafile {
            tls = tls.ca_file(ca);
        }
        if let (Some(cert), Some(key)) = (&t.cert, &t.key) {
            tls = tls.client_cert_files(cert, key);
        }
        if let Some(name) = &t.server_name {
            tls = tls.server_name(name.as_str());
        }
        if t.insecure {
            tls = tls.dangerous_accept_any_server_certificate();
        }
        opts = opts.tls(tls);
    }
    Ok((opts, topic))
}

/// The session part: client id, clean start, session expiry, will and `-D` properties.
pub fn session_options(
    mut opts: ConnectOptions,
    args: &SessionArgs,
    props: &PropertySet,
) -> Result<ConnectOptions, CliError> {
    let level = opts.protocol_level();
    if !props.is_empty() && !level.is_v5() {
        return Err(CliError::Usage(
            "-D properties need MQTT 5 (-V 5)".to_owned(),
        ));
    }
    let id = match (&args.id, &args.id_prefix) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(prefix)) => Some(format!("{prefix}{}", std::process::id())),
        // At 3.1 the client id must be 1 to 23 characters; at 3.1.1 an empty one is allowed
        // with a clean session [MQTT-3.1.3-7] but brokers may refuse it [MQTT-3.1.3-8].
        (None, None) if level != ProtocolLevel::V5 => {
            Some(format!("pigeon-{}", std::process::id()))
        }
        (None, None) => None,
    };
    if args.disable_clean_session && args.id.is_none() && args.id_prefix.is_none() {
        return Err(CliError::Usage(
            "-c needs a client id (-i or -I): a kept session is found again by its id".to_owned(),
        ));
    }
    if let Some(id) = id {
        if id.is_empty() || id.len() > 65_535 {
            return Err(CliError::Usage(
                "the client id must be 1 to 65535 bytes".to_owned(),
            ));
        }
        opts = opts.client_id(id);
    }
    opts = opts.clean_start(!args.disable_clean_session);
    // As mosquitto: with -c and no -x the session never expires (5.0).
    match (args.session_expiry, args.disable_clean_session) {
        (Some(secs), _) => opts = opts.session_expiry(secs),
        (None, true) => opts = opts.session_expiry(u32::MAX),
        (None, false) => {}
    }
    if let Some(topic) = &args.will_topic {
        let topic = TopicName::new(topic.as_str())
            .map_err(|e| CliError::Usage(format!("--will-topic {topic:?}: {e}")))?;
        let payload = args.will_payload.clone().unwrap_or_default();
        let mut will = Will::new(topic, payload, args.will_qos);
        will.retain = args.will_retain;
        will.properties = props.will.clone();
        opts = opts.will(will);
    }
    for p in props.connect.iter() {
        opts = match p {
            Property::SessionExpiryInterval(secs) => opts.session_expiry(*secs),
            Property::ReceiveMaximum(max) => opts.receive_maximum(max.get()),
            Property::MaximumPacketSize(max) => opts.maximum_packet_size(max.get()),
            Property::TopicAliasMaximum(max) => opts.topic_alias_maximum(*max),
            other => opts.connect_property(other.clone()),
        };
    }
    Ok(opts)
}

/// `mqtt://host:port/some/topic` gives `mqtt://host:port` and `some/topic` (mosquitto's `-L`);
/// other URLs are left alone (a WebSocket URL's path is the HTTP path).
fn split_topic(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    if !matches!(
        scheme.to_ascii_lowercase().as_str(),
        "mqtt" | "mqtts" | "tcp" | "ssl"
    ) {
        return (url.to_owned(), None);
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let Some((authority, path)) = before_query.split_once('/') else {
        return (url.to_owned(), None);
    };
    let mut base = format!("{scheme}://{authority}");
    if let Some(q) = query {
        base.push('?');
        base.push_str(q);
    }
    let topic = (!path.is_empty()).then(|| path.to_owned());
    (base, topic)
}

fn absolute(path: &Path) -> Result<String, CliError> {
    let abs = std::path::absolute(path)
        .map_err(|e| CliError::io(format!("--unix {}", path.display()), e))?;
    Ok(abs.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_url_topic() {
        assert_eq!(
            split_topic("mqtt://u:p@127.0.0.1:1884/a/b"),
            (
                "mqtt://u:p@127.0.0.1:1884".to_owned(),
                Some("a/b".to_owned())
            )
        );
        assert_eq!(
            split_topic("mqtt://127.0.0.1?protocol=4"),
            ("mqtt://127.0.0.1?protocol=4".to_owned(), None)
        );
        assert_eq!(
            split_topic("ws://127.0.0.1:8080/mqtt"),
            ("ws://127.0.0.1:8080/mqtt".to_owned(), None)
        );
    }
}
