//! `pigeon sub`: mosquitto_sub on pigeon-mqtt.

use std::io::ErrorKind;
use std::time::Duration;

use pigeon_mqtt::packet::{SubAck, SubscriptionOptions};
use pigeon_mqtt::topic::TopicFilter;
use pigeon_mqtt::{ConnectionError, Message, SubscribeError};
use tokio::time::Instant;

use crate::args::SubArgs;
use crate::error::CliError;
use crate::options::{server_options, session_options};
use crate::output::{Format, Printer};
use crate::props::PropertySet;
use crate::session::{Incoming, Session};

/// Subscribes and prints messages until `-C` messages were printed, `-W` expired, Ctrl-C, or
/// (with `-E`) the subscription is acknowledged.
pub async fn run(args: SubArgs) -> Result<(), CliError> {
    let props = PropertySet::parse(&args.session.properties)?;
    let (opts, url_topic) = server_options(&args.server)?;
    let opts = session_options(opts, &args.session, &props)?;
    let mut topics = args.topics.clone();
    if topics.is_empty() {
        topics.extend(url_topic);
    }
    if topics.is_empty() && args.unsubscribe.is_empty() {
        return Err(CliError::Usage(
            "a topic filter is needed: -t FILTER".to_owned(),
        ));
    }
    let filters = parse_filters("-t", &topics)?;
    let filter_out = parse_filters("-T", &args.filter_out)?;
    let unsubscribe = parse_filters("-U", &args.unsubscribe)?;
    if args.no_local {
        if let Some(shared) = filters.iter().find(|f| f.is_shared()) {
            return Err(CliError::Usage(format!(
                "--nl cannot be used with the shared subscription {shared} [MQTT-3.8.3-4]"
            )));
        }
    }
    let options = SubscriptionOptions {
        no_local: args.no_local,
        retain_as_published: args.retain_as_published,
        ..SubscriptionOptions::new(args.qos)
    };
    let format = if args.json {
        Format::Json
    } else if args.verbose {
        Format::Verbose
    } else {
        Format::Payload
    };
    let printer = Printer::new(std::io::stdout(), format, !args.no_eol);

    let mut session = Session::connect(opts).await?;
    // As mosquitto_sub: the timeout starts once connected.
    let deadline = args
        .timeout
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    let outcome = if !unsubscribe.is_empty() && filters.is_empty() {
        unsubscribe_all(&session, unsubscribe, &props).await
    } else {
        if !unsubscribe.is_empty() {
            unsubscribe_all(&session, unsubscribe, &props).await?;
        }
        let filters = filters.into_iter().map(|f| (f, options)).collect();
        let receive = Receive {
            args: &args,
            filter_out,
            printer,
            printed: 0,
        };
        receive
            .run(&mut session, filters, props.subscribe.clone(), deadline)
            .await
    };
    session.close(props.disconnect).await;
    outcome
}

fn parse_filters(flag: &str, texts: &[String]) -> Result<Vec<TopicFilter>, CliError> {
    texts
        .iter()
        .map(|t| {
            TopicFilter::new(t.as_str()).map_err(|e| CliError::Usage(format!("{flag} {t:?}: {e}")))
        })
        .collect()
}

async fn unsubscribe_all(
    session: &Session,
    filters: Vec<TopicFilter>,
    props: &PropertySet,
) -> Result<(), CliError> {
    session
        .client
        .unsubscribe_with(filters, props.unsubscribe.clone())
        .await
        .map(|_| ())
        .map_err(|error| CliError::Subscribe {
            what: "unsubscribe",
            error,
        })
}

/// The receiving part of `sub`.
struct Receive<'a> {
    args: &'a SubArgs,
    filter_out: Vec<TopicFilter>,
    printer: Printer<std::io::Stdout>,
    printed: u64,
}

/// Whether to go on after a message.
enum Next {
    More,
    Done,
}

impl Receive<'_> {
    async fn run(
        mut self,
        session: &mut Session,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: pigeon_mqtt::packet::Properties,
        deadline: Option<Instant>,
    ) -> Result<(), CliError> {
        let names = filters
            .iter()
            .map(|(f, _)| f.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let client = session.client.clone();
        let mut suback =
            tokio::spawn(async move { client.subscribe_with(filters, properties).await });
        let mut subscribed = false;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timeout);
        if self.args.count == Some(0) {
            return Ok(());
        }
        loop {
            tokio::select! {
                ack = &mut suback, if !subscribed => {
                    subscribed = true;
                    let ack = ack.unwrap_or(Err(SubscribeError::Closed));
                    check_suback(&names, ack)?;
                    if self.args.exit_after_subscribe {
                        return Ok(());
                    }
                }
                incoming = session.incoming.recv() => match incoming {
                    Some(Incoming::Message(m)) => {
                        if let Next::Done = self.message(&m)? {
                            return Ok(());
                        }
                    }
                    Some(Incoming::Ended(ConnectionError::Closed)) | None => return Ok(()),
                    Some(Incoming::Ended(e)) => return Err(CliError::ConnectionLost(e)),
                },
                () = &mut timeout => {
                    return Err(CliError::Timeout(self.args.timeout.unwrap_or_default()));
                }
                _ = &mut ctrl_c => return Ok(()),
            }
        }
    }

    fn message(&mut self, m: &Message) -> Result<Next, CliError> {
        if self.filter_out.iter().any(|f| f.matches(m.topic())) {
            return Ok(Next::More);
        }
        if self.args.no_retained && m.is_retained() {
            return Ok(Next::More);
        }
        if self.args.retained_only && !m.is_retained() {
            return Ok(Next::Done);
        }
        match self.printer.print(m) {
            Ok(()) => {}
            // `pigeon sub | head -1`: the reader is gone, which ends the command quietly.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(Next::Done),
            Err(e) => return Err(CliError::io("cannot write to stdout", e)),
        }
        self.printed += 1;
        Ok(match self.args.count {
            Some(count) if self.printed >= count => Next::Done,
            _ => Next::More,
        })
    }
}

/// Fails when the broker refused every filter; warns about the ones it refused otherwise.
fn check_suback(names: &str, ack: Result<SubAck, SubscribeError>) -> Result<(), CliError> {
    let ack = ack.map_err(|error| CliError::Subscribe {
        what: "subscribe",
        error,
    })?;
    let refused: Vec<_> = ack.reason_codes.iter().filter(|c| c.is_error()).collect();
    if let Some(first) = refused.first() {
        if refused.len() == ack.reason_codes.len() {
            return Err(CliError::SubscriptionRefused {
                filters: names.to_owned(),
                reason: format!("{first} ({})", first.description()),
            });
        }
        eprintln!(
            "pigeon: the broker refused {} of the filters {names}: {first}",
            refused.len()
        );
    }
    Ok(())
}
