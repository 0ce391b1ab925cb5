//! The command line: `pigeon pub`, `pigeon sub` (mosquitto_pub / mosquitto_sub flags) and
//! `pigeon bench conn|pub|sub` (emqtt-bench flags where they do not clash).
//!
//! `-h` is the broker host, as in mosquitto's tools, so help is `--help` only.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use pigeon_mqtt::{ProtocolLevel, QoS};

/// Publish, subscribe and load-test MQTT brokers.
#[derive(Debug, Parser)]
#[command(name = "pigeon", version, disable_help_subcommand = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The id of the `-D` argument.
const PROPERTY_ARG: &str = "property";

impl Cli {
    /// Parses the command line (exiting with clap's message and status 2 on a usage error),
    /// keeping each `-D` occurrence's values together.
    pub fn parse_grouped() -> Cli {
        let matches = Cli::command().get_matches();
        Cli::from_matches_grouped(&matches).unwrap_or_else(|e| e.exit())
    }

    /// [`Cli::parse_grouped`] for given arguments.
    #[cfg(test)]
    pub fn try_parse_grouped<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(args)?;
        Cli::from_matches_grouped(&matches)
    }

    fn from_matches_grouped(matches: &clap::ArgMatches) -> Result<Cli, clap::Error> {
        let mut cli = Cli::from_arg_matches(matches)?;
        let groups = |m: &clap::ArgMatches| -> Vec<Vec<String>> {
            m.get_occurrences::<String>(PROPERTY_ARG)
                .map(|o| o.map(|g| g.cloned().collect()).collect())
                .unwrap_or_default()
        };
        match (&mut cli.command, matches.subcommand()) {
            (Command::Pub(a), Some((_, m))) => a.session.properties = groups(m),
            (Command::Sub(a), Some((_, m))) => a.session.properties = groups(m),
            _ => {}
        }
        Ok(cli)
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish messages (mosquitto_pub's flags).
    #[command(disable_help_flag = true)]
    Pub(PubArgs),
    /// Subscribe and print messages (mosquitto_sub's flags).
    #[command(disable_help_flag = true)]
    Sub(SubArgs),
    /// Load-test a broker: many connections, publishers or subscribers (like emqtt-bench).
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `--help` (long only: `-h` is the host).
#[derive(Debug, Clone, Args)]
pub struct Help {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

/// Where the broker is and how to reach it; shared by every command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Broker")]
pub struct ServerArgs {
    /// Broker host name or address.
    #[arg(short = 'h', long, default_value = "localhost")]
    pub host: String,
    /// Broker port [default: 1883, or 8883 with TLS options].
    #[arg(short = 'p', long)]
    pub port: Option<u16>,
    /// Broker URL instead of -h/-p: mqtt://, mqtts://, ws://, wss:// or unix:///path, with
    /// user:password@ and ?client_id=..; for mqtt(s):// a path is the topic, as with mosquitto.
    #[arg(short = 'L', long, conflicts_with_all = ["host", "port", "unix"])]
    pub url: Option<String>,
    /// Connect to this Unix domain socket instead of -h/-p.
    #[arg(long, conflicts_with_all = ["host", "port"])]
    pub unix: Option<PathBuf>,
    /// MQTT version: 5 (mqttv5), 311 (mqttv311) or 31 (mqttv31) [default: 5].
    #[arg(short = 'V', long = "protocol-version", value_parser = parse_protocol)]
    pub protocol: Option<ProtocolLevel>,
    /// Keep alive in seconds (0 turns it off).
    #[arg(short = 'k', long, default_value_t = 60)]
    pub keepalive: u16,
    /// User name.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short = 'P', long = "pw")]
    pub password: Option<String>,
    /// Seconds to wait for the connection and CONNACK.
    #[arg(long = "connect-timeout", default_value_t = 10)]
    pub connect_timeout: u64,
    /// TLS settings (any of them turns TLS on for -h/-p).
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS flags, as mosquitto's.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// PEM file of the CA certificates to trust (instead of the system's roots).
    #[arg(long)]
    pub cafile: Option<PathBuf>,
    /// PEM file of the client certificate (with --key).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM file of the client's private key (with --cert).
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Do not verify the server certificate (throw-away test brokers only).
    #[arg(long)]
    pub insecure: bool,
    /// Verify the certificate against this name instead of the host.
    #[arg(long = "tls-server-name")]
    pub server_name: Option<String>,
}

impl TlsArgs {
    /// Whether any TLS flag was given.
    pub fn any(&self) -> bool {
        self.cafile.is_some() || self.cert.is_some() || self.insecure || self.server_name.is_some()
    }
}

/// Session, will and property flags of `pub` and `sub`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Session")]
pub struct SessionArgs {
    /// Client id [default: assigned by the broker at 5.0, "pigeon-PID" below].
    #[arg(short = 'i', long = "id")]
    pub id: Option<String>,
    /// Client id prefix; the process id is appended.
    #[arg(short = 'I', long = "id-prefix", conflicts_with = "id")]
    pub id_prefix: Option<String>,
    /// Keep the session: Clean Start / Clean Session off (needs -i).
    #[arg(short = 'c', long = "disable-clean-session")]
    pub disable_clean_session: bool,
    /// Session Expiry Interval in seconds (5.0).
    #[arg(short = 'x', long = "session-expiry-interval")]
    pub session_expiry: Option<u32>,
    /// MQTT 5 property: -D COMMAND NAME VALUE, -D COMMAND user-property KEY VALUE. Commands:
    /// connect, publish, subscribe, unsubscribe, disconnect, will.
    #[arg(
        id = PROPERTY_ARG,
        short = 'D',
        long = "property",
        num_args = 3..=4,
        value_names = ["COMMAND", "NAME", "VALUE"],
        action = ArgAction::Append
    )]
    pub property_values: Vec<String>,
    /// The `-D` values grouped by occurrence (filled in by [`Cli::parse_grouped`]).
    #[arg(skip)]
    pub properties: Vec<Vec<String>>,
    /// Last will: topic.
    #[arg(long = "will-topic")]
    pub will_topic: Option<String>,
    /// Last will: payload.
    #[arg(long = "will-payload", requires = "will_topic")]
    pub will_payload: Option<String>,
    /// Last will: QoS.
    #[arg(long = "will-qos", value_parser = parse_qos, default_value = "0", requires = "will_topic")]
    pub will_qos: QoS,
    /// Last will: retained.
    #[arg(long = "will-retain", requires = "will_topic")]
    pub will_retain: bool,
}

/// `pigeon pub`.
#[derive(Debug, Args)]
pub struct PubArgs {
    /// Topic to publish to.
    #[arg(short = 't', long)]
    pub topic: Option<String>,
    /// The message.
    #[arg(short = 'm', long = "message", group = "source")]
    pub message: Option<String>,
    /// Send the contents of a file as the message.
    #[arg(short = 'f', long = "file", group = "source")]
    pub file: Option<PathBuf>,
    /// Send each line of stdin as a message (a blank line is an empty message).
    #[arg(short = 'l', long = "stdin-line", group = "source")]
    pub stdin_line: bool,
    /// Send all of stdin as one message.
    #[arg(short = 's', long = "stdin-file", group = "source")]
    pub stdin_file: bool,
    /// Send an empty (null) message.
    #[arg(short = 'n', long = "null-message", group = "source")]
    pub null_message: bool,
    /// QoS of the messages.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0")]
    pub qos: QoS,
    /// Retain the messages.
    #[arg(short = 'r', long)]
    pub retain: bool,
    /// Send the message this many times.
    #[arg(long, default_value_t = 1)]
    pub repeat: u64,
    /// Seconds to wait between repeats (fractions allowed).
    #[arg(long = "repeat-delay", default_value_t = 0.0)]
    pub repeat_delay: f64,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub help: Help,
}

/// `pigeon sub`.
#[derive(Debug, Args)]
pub struct SubArgs {
    /// Topic filter to subscribe to (repeatable).
    #[arg(short = 't', long = "topic")]
    pub topics: Vec<String>,
    /// Do not print messages whose topic matches this filter (repeatable).
    #[arg(short = 'T', long = "filter-out")]
    pub filter_out: Vec<String>,
    /// Unsubscribe from this filter, then exit (repeatable; for persistent sessions).
    #[arg(short = 'U', long = "unsubscribe")]
    pub unsubscribe: Vec<String>,
    /// Maximum QoS of the subscriptions.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0")]
    pub qos: QoS,
    /// Exit after this many messages.
    #[arg(short = 'C', long = "count")]
    pub count: Option<u64>,
    /// Give up after this many seconds from connecting, with status 27 (as mosquitto_sub).
    #[arg(short = 'W', long = "timeout")]
    pub timeout: Option<u64>,
    /// Print "topic payload".
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// One JSON object per message: tst, topic, qos, retain, dup, payloadlen, properties,
    /// payload (or payload-hex when not UTF-8).
    #[arg(long, conflicts_with = "verbose")]
    pub json: bool,
    /// Do not end messages with a newline.
    #[arg(short = 'N')]
    pub no_eol: bool,
    /// Do not print retained (stale) messages.
    #[arg(short = 'R')]
    pub no_retained: bool,
    /// Print only retained messages; exit at the first message that is not retained.
    #[arg(long = "retained-only", conflicts_with = "no_retained")]
    pub retained_only: bool,
    /// Exit once the subscriptions are acknowledged.
    #[arg(short = 'E')]
    pub exit_after_subscribe: bool,
    /// No Local (5.0): do not receive own publications.
    #[arg(long = "nl")]
    pub no_local: bool,
    /// Retain As Published (5.0).
    #[arg(long = "rap")]
    pub retain_as_published: bool,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub help: Help,
}

/// `pigeon bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Open connections at a rate and hold them.
    #[command(disable_help_flag = true)]
    Conn(BenchConnArgs),
    /// Publishers that send messages at an interval.
    #[command(disable_help_flag = true)]
    Pub(BenchPubArgs),
    /// Subscribers that count messages and measure their latency.
    #[command(disable_help_flag = true)]
    Sub(BenchSubArgs),
}

/// Flags every bench has.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Bench")]
pub struct BenchCommon {
    /// Number of connections.
    #[arg(short = 'c', long = "count", default_value_t = 100)]
    pub connections: u64,
    /// Milliseconds between two connection attempts (0: as fast as --max-pending allows).
    #[arg(short = 'i', long = "interval", default_value_t = 0.0)]
    pub interval_ms: f64,
    /// Connection attempts per second (overrides -i).
    #[arg(short = 'R', long = "rate")]
    pub rate: Option<f64>,
    /// How many connection attempts may be under way at once.
    #[arg(long = "max-pending", default_value_t = 64)]
    pub max_pending: usize,
    /// Local addresses to connect from, in turn (each has its own ephemeral ports).
    #[arg(long = "ifaddr", value_delimiter = ',')]
    pub ifaddrs: Vec<IpAddr>,
    /// Client id prefix; the client index is appended [default: pigeon-COMMAND-PID-].
    #[arg(long)]
    pub prefix: Option<String>,
    /// Clean Start off (the broker keeps each client's session).
    #[arg(long = "no-clean")]
    pub no_clean: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Process id of a broker on this machine: its memory growth is reported too.
    #[arg(long = "broker-pid")]
    pub broker_pid: Option<u32>,
    /// Worker threads (1: everything on one thread).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub help: Help,
}

/// `pigeon bench conn`.
#[derive(Debug, Args)]
pub struct BenchConnArgs {
    /// Seconds to hold the connections once all are made (Ctrl-C ends earlier).
    #[arg(long, default_value_t = 0.0)]
    pub hold: f64,
    #[command(flatten)]
    pub common: BenchCommon,
}

/// `pigeon bench pub`.
#[derive(Debug, Args)]
pub struct BenchPubArgs {
    /// Topic; %i is the client index, %c the client id.
    #[arg(short = 't', long, default_value = "bench/%i")]
    pub topic: String,
    /// Milliseconds between two messages of one publisher (0: as fast as acknowledged).
    #[arg(short = 'I', long = "interval-of-msg", default_value_t = 1000.0)]
    pub msg_interval_ms: f64,
    /// Payload size in bytes (16 or more carries a timestamp for `bench sub`'s latency).
    #[arg(short = 's', long = "size", default_value_t = 256)]
    pub size: usize,
    /// QoS of the messages.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0")]
    pub qos: QoS,
    /// Retain the messages.
    #[arg(short = 'r', long)]
    pub retain: bool,
    /// Messages per publisher (0: no limit).
    #[arg(long = "limit", default_value_t = 0)]
    pub limit: u64,
    /// Seconds to publish for (0: until --limit or Ctrl-C).
    #[arg(long, default_value_t = 0.0)]
    pub duration: f64,
    /// Unacknowledged messages per publisher.
    #[arg(long, default_value_t = 20)]
    pub inflight: u16,
    #[command(flatten)]
    pub common: BenchCommon,
}

/// `pigeon bench sub`.
#[derive(Debug, Args)]
pub struct BenchSubArgs {
    /// Topic filter; %i is the client index, %c the client id.
    #[arg(short = 't', long, default_value = "bench/#")]
    pub topic: String,
    /// Maximum QoS of the subscriptions.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0")]
    pub qos: QoS,
    /// Stop after this many messages in all (0: no limit).
    #[arg(long = "limit", default_value_t = 0)]
    pub limit: u64,
    /// Seconds to run for once subscribed (0: until --limit or Ctrl-C).
    #[arg(long, default_value_t = 0.0)]
    pub duration: f64,
    #[command(flatten)]
    pub common: BenchCommon,
}

/// `5`, `mqttv5`, `311`, `mqttv311`, `31`, `mqttv31` (and `5.0`, `3.1.1`, `3.1`, `4`, `3`).
fn parse_protocol(s: &str) -> Result<ProtocolLevel, String> {
    match s {
        "5" | "5.0" | "mqttv5" => Ok(ProtocolLevel::V5),
        "311" | "3.1.1" | "4" | "mqttv311" => Ok(ProtocolLevel::V3_1_1),
        "31" | "3.1" | "3" | "mqttv31" => Ok(ProtocolLevel::V3_1),
        _ => Err("expected 5, 311 or 31 (or mqttv5, mqttv311, mqttv31)".to_owned()),
    }
}

/// `0`, `1` or `2`.
fn parse_qos(s: &str) -> Result<QoS, String> {
    match s {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        "2" => Ok(QoS::ExactlyOnce),
        _ => Err("QoS must be 0, 1 or 2".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn mosquitto_style_flags_parse() {
        let cli = Cli::try_parse_grouped([
            "pigeon",
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            "1884",
            "-t",
            "a/b",
            "-m",
            "hi",
            "-q",
            "2",
            "-V",
            "311",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-r",
        ])
        .unwrap();
        let Command::Pub(p) = cli.command else {
            panic!("not pub")
        };
        assert_eq!(p.server.host, "127.0.0.1");
        assert_eq!(p.server.port, Some(1884));
        assert_eq!(p.qos, QoS::ExactlyOnce);
        assert_eq!(p.server.protocol, Some(ProtocolLevel::V3_1_1));
        assert_eq!(
            p.session.properties,
            [
                vec!["publish", "user-property", "k", "v"],
                vec!["publish", "content-type", "text/plain"]
            ]
        );
        assert!(p.retain);
    }

    #[test]
    fn one_message_source_only() {
        let err = Cli::try_parse_from(["pigeon", "pub", "-t", "a", "-m", "x", "-n"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn url_conflicts_with_host() {
        let err = Cli::try_parse_from(["pigeon", "sub", "-t", "a", "-h", "x", "-L", "mqtt://y"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
