//! `pigeon pub`: mosquitto_pub on pigeon-mqtt.

use std::time::Duration;

use pigeon_mqtt::topic::TopicName;
use pigeon_mqtt::{Client, Message, PublishAck, PublishError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::task::JoinSet;

use crate::args::PubArgs;
use crate::error::CliError;
use crate::options::{server_options, session_options};
use crate::props::PropertySet;
use crate::session::Session;

/// Where the messages come from.
enum Source {
    /// One payload (`-m`, `-f`, `-s`, `-n`), sent `--repeat` times.
    Once(Vec<u8>),
    /// A message per line of stdin (`-l`).
    Lines,
}

/// Publishes as asked; returns once every message is done at its QoS and the client has
/// disconnected.
pub async fn run(args: PubArgs) -> Result<(), CliError> {
    let props = PropertySet::parse(&args.session.properties)?;
    let (opts, url_topic) = server_options(&args.server)?;
    let opts = session_options(opts, &args.session, &props)?;
    let topic = args
        .topic
        .clone()
        .or(url_topic)
        .ok_or_else(|| CliError::Usage("a topic is needed: -t TOPIC".to_owned()))?;
    let topic = TopicName::new(topic.as_str())
        .map_err(|e| CliError::Usage(format!("-t {topic:?}: {e}")))?;
    if !(args.repeat_delay >= 0.0 && args.repeat_delay.is_finite()) {
        return Err(CliError::Usage(
            "--repeat-delay must be 0 or more seconds".to_owned(),
        ));
    }
    let source = source(&args).await?;

    let session = Session::connect(opts).await?;
    let template = Message::new(topic.clone(), Vec::new())
        .map_err(|e| CliError::Usage(format!("-t {topic}: {e}")))?
        .qos(args.qos)
        .retain(args.retain)
        .properties(props.publish.clone());
    let mut pending = JoinSet::new();
    let sent = match source {
        Source::Once(payload) => {
            send_repeated(&session.client, &template, payload, &args, &mut pending).await
        }
        Source::Lines => send_lines(&session.client, &template, &mut pending).await,
    };
    // A graceful disconnect waits for what is in flight, so every token resolves.
    session.close(props.disconnect).await;
    sent?;
    while let Some(done) = pending.join_next().await {
        if let Ok(Err(error)) = done {
            return Err(CliError::Publish {
                topic: topic.as_str().to_owned(),
                error,
            });
        }
    }
    Ok(())
}

/// Reads the payload before connecting, so a missing file fails without touching the broker.
async fn source(args: &PubArgs) -> Result<Source, CliError> {
    if let Some(m) = &args.message {
        return Ok(Source::Once(m.clone().into_bytes()));
    }
    if let Some(path) = &args.file {
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
        return Ok(Source::Once(bytes));
    }
    if args.stdin_file {
        let mut bytes = Vec::new();
        tokio::io::stdin()
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| CliError::io("cannot read stdin", e))?;
        return Ok(Source::Once(bytes));
    }
    if args.null_message {
        return Ok(Source::Once(Vec::new()));
    }
    if args.stdin_line {
        return Ok(Source::Lines);
    }
    Err(CliError::Usage(
        "a message is needed: -m MESSAGE, -f FILE, -l, -s or -n".to_owned(),
    ))
}

type Pending = JoinSet<Result<PublishAck, PublishError>>;

async fn send_repeated(
    client: &Client,
    template: &Message,
    payload: Vec<u8>,
    args: &PubArgs,
    pending: &mut Pending,
) -> Result<(), CliError> {
    let payload = Message::new(template.topic_name(), payload)
        .map_err(|e| CliError::Usage(e.to_string()))?
        .into_payload();
    for i in 0..args.repeat.max(1) {
        if i > 0 && args.repeat_delay > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(args.repeat_delay)).await;
        }
        let mut message = Message::new(template.topic_name(), payload.clone())
            .map_err(|e| CliError::Usage(e.to_string()))?
            .qos(template.qos_level())
            .retain(template.is_retained())
            .properties(template.props().clone());
        message = message.qos(template.qos_level());
        send(client, message, pending).await?;
    }
    Ok(())
}

/// The template's topic, QoS, retain flag and properties with this payload.
fn with_payload(template: &Message, payload: Vec<u8>) -> Result<Message, CliError> {
    Ok(Message::new(template.topic_name(), payload)
        .map_err(|e| CliError::Usage(e.to_string()))?
        .qos(template.qos_level())
        .retain(template.is_retained())
        .properties(template.props().clone()))
}

/// A message per line of stdin, without its `\n` (blank lines are empty messages, as with
/// mosquitto_pub), until end of input.
async fn send_lines(
    client: &Client,
    template: &Message,
    pending: &mut Pending,
) -> Result<(), CliError> {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = stdin
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| CliError::io("cannot read stdin", e))?;
        if n == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        send(client, with_payload(template, line.clone())?, pending).await?;
    }
}

/// Hands a message to the event loop and keeps its token; fails on the first message that has
/// already failed.
async fn send(client: &Client, message: Message, pending: &mut Pending) -> Result<(), CliError> {
    let topic = message.topic().to_owned();
    let token = client
        .begin_publish(message)
        .await
        .map_err(|_| CliError::Publish {
            topic: topic.clone(),
            error: PublishError::Closed,
        })?;
    pending.spawn(token);
    while let Some(done) = pending.try_join_next() {
        if let Ok(Err(error)) = done {
            return Err(CliError::Publish { topic, error });
        }
    }
    Ok(())
}
