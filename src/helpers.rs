//! One-call helpers, like paho-mqtt's `publish.single`, `publish.multiple` and
//! `subscribe.simple`. Each takes the same [`ConnectOptions`] as the client, connects, does its
//! work, and disconnects cleanly. A first connection that fails is returned as an error (it is
//! not retried), so a wrong address fails fast.
//!
//! ```no_run
//! use pigeon_mqtt::{helpers, ConnectOptions, Message, QoS};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = ConnectOptions::new("127.0.0.1", 1883);
//! helpers::publish_single(opts.clone(), Message::new("a/b", "hello")?.qos(QoS::AtLeastOnce)).await?;
//! let msgs = helpers::subscribe_simple(opts, &["a/#"], QoS::AtLeastOnce, 1).await?;
//! println!("{:?}", msgs[0].payload());
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::{ClientError, ConnectionError, PublishError, SubscribeError};
use crate::eventloop::Event;
use crate::message::Message;
use crate::options::{ConnectOptions, ReconnectOptions};
use crate::packet::{QoS, SubscriptionOptions};
use crate::state::PublishAck;
use crate::topic::{topic_matches_sub, TopicFilter};

/// Why a helper failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HelperError {
    /// Connecting failed, or the connection was lost.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// A publish failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The subscribe failed, or the server refused a filter.
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
    /// A filter refused by the server in SUBACK.
    #[error("the server refused the subscription to {filter:?}: {reason_code}")]
    Refused {
        /// The filter.
        filter: String,
        /// The SUBACK reason code.
        reason_code: crate::packet::ReasonCode,
    },
    /// A bad argument.
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn once(opts: ConnectOptions) -> ConnectOptions {
    let reconnect = ReconnectOptions {
        retry_first_connect: false,
        ..opts.reconnect.clone()
    };
    opts.reconnect(reconnect)
}

/// Publishes one message, waits for it to complete, and disconnects.
pub async fn publish_single(
    opts: ConnectOptions,
    message: Message,
) -> Result<PublishAck, HelperError> {
    let mut acks = publish_multiple(opts, vec![message]).await?;
    acks.pop()
        .ok_or(HelperError::Connection(ConnectionError::Closed))
}

/// Publishes several messages in order, waits for all of them, and disconnects.
pub async fn publish_multiple(
    opts: ConnectOptions,
    messages: Vec<Message>,
) -> Result<Vec<PublishAck>, HelperError> {
    let (client, eventloop) = Client::new(once(opts));
    let driver = tokio::spawn(eventloop.run());
    let work = async {
        let mut tokens = Vec::with_capacity(messages.len());
        for m in messages {
            tokens.push(client.begin_publish(m).await?);
        }
        let mut acks = Vec::with_capacity(tokens.len());
        for t in tokens {
            acks.push(t.await?);
        }
        client.disconnect().await?;
        Ok::<_, HelperError>(acks)
    };
    finish(work.await, driver).await
}

/// Subscribes to `filters`, collects `count` messages, and disconnects. Retained messages count.
pub async fn subscribe_simple(
    opts: ConnectOptions,
    filters: &[&str],
    qos: QoS,
    count: usize,
) -> Result<Vec<Message>, HelperError> {
    let filters: Vec<(TopicFilter, SubscriptionOptions)> = filters
        .iter()
        .map(|f| Ok((TopicFilter::new(*f)?, SubscriptionOptions::new(qos))))
        .collect::<Result<_, crate::topic::TopicError>>()
        .map_err(ClientError::from)?;
    let (client, mut eventloop) = Client::new(once(opts));
    let sub_client = client.clone();
    let subs = filters.clone();
    let subscribe = tokio::spawn(async move {
        sub_client
            .subscribe_with(subs, crate::packet::Properties::new())
            .await
    });
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        match eventloop.poll().await? {
            Event::Message(m)
                if filters
                    .iter()
                    .any(|(f, _)| topic_matches_sub(f.as_str(), m.topic())) =>
            {
                got.push(m)
            }
            Event::Subscribed(ack) => {
                if let Some((i, rc)) = ack
                    .reason_codes
                    .iter()
                    .enumerate()
                    .find(|(_, rc)| rc.is_error())
                {
                    return Err(HelperError::Refused {
                        filter: filters
                            .get(i)
                            .map(|(f, _)| f.to_string())
                            .unwrap_or_default(),
                        reason_code: *rc,
                    });
                }
            }
            _ => {}
        }
    }
    // The SUBACK may still be on its way (a resumed session delivers queued messages before
    // it), so keep polling while disconnecting rather than awaiting the subscribe first: that
    // would wait for an event loop nobody polls.
    let disconnect = tokio::spawn(async move { client.disconnect().await });
    loop {
        match eventloop.poll().await {
            Ok(_) => {}
            Err(ConnectionError::Closed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let _ = disconnect.await;
    // Dropping the event loop fails whatever is still queued for it, so this cannot wait for
    // an event loop that has stopped.
    drop(eventloop);
    let _ = subscribe.await;
    Ok(got)
}

/// The helper's result, unless the event loop ended with an error first (then that error, which
/// says more than the `Closed` the helper saw).
async fn finish<T>(
    result: Result<T, HelperError>,
    driver: tokio::task::JoinHandle<Result<(), ConnectionError>>,
) -> Result<T, HelperError> {
    match result {
        Ok(v) => {
            let _ = driver.await;
            Ok(v)
        }
        Err(e) => match driver.await {
            Ok(Err(conn)) => Err(conn.into()),
            _ => Err(e),
        },
    }
}
