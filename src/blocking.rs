//! A synchronous client for programs without an async runtime. It runs its own event loop on
//! a background thread (a one-worker Tokio runtime it creates itself).
//!
//! ```no_run
//! use pigeon_mqtt::blocking::BlockingClient;
//! use pigeon_mqtt::{ConnectOptions, Message, QoS};
//!
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = BlockingClient::connect(ConnectOptions::new("127.0.0.1", 1883))?;
//! client.subscribe("sensors/#", QoS::AtLeastOnce)?;
//! client.publish(Message::new("sensors/a", "1")?.qos(QoS::AtLeastOnce))?.wait()?;
//! for msg in client.messages().take(1) {
//!     println!("{} {:?}", msg.topic(), msg.payload());
//! }
//! client.disconnect()?;
//! # Ok(()) }
//! ```
//!
//! Its methods block the calling thread, so they must not be called from inside an async
//! runtime; there they return [`ClientError::InAsyncContext`] instead of blocking it (or
//! panicking). Dropping a client never blocks, wherever it happens; it closes the connection
//! without DISCONNECT (so the server publishes the will), while [`BlockingClient::disconnect`]
//! ends it gracefully.

use std::sync::Mutex;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot};

use crate::callbacks::CallbackClient;
use crate::client::{Client, IntoTopicFilter, PublishToken};
use crate::error::{ClientError, ConnectionError, PublishError, SubscribeError};
use crate::eventloop::Event;
use crate::message::Message;
use crate::options::ConnectOptions;
use crate::packet::{QoS, SubAck, UnsubAck};
use crate::state::PublishAck;

/// A blocking MQTT client. See the [module documentation](self).
#[derive(Debug)]
pub struct BlockingClient {
    client: Client,
    /// Runs every blocking call; valid while `runtime` is alive, which it is until drop.
    handle: Handle,
    /// Taken in `Drop` to shut the runtime down without blocking.
    runtime: Option<Runtime>,
    task: Option<tokio::task::JoinHandle<Result<(), ConnectionError>>>,
    messages: Mutex<Option<mpsc::Receiver<Message>>>,
}

/// Why [`BlockingClient::connect`], [`BlockingClient::with_callbacks`] or
/// [`BlockingClient::disconnect`] failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BlockingError {
    /// Called from inside an async runtime ([`ClientError::InAsyncContext`]).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Connecting failed, or the connection ended with an error.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

impl BlockingClient {
    /// Connects and waits for the first CONNACK. Incoming messages are kept (up to
    /// [`ConnectOptions::event_capacity`], then reading pauses) for [`BlockingClient::messages`].
    ///
    /// Like paho's `connect()`, a first connection that fails is returned as an error (after
    /// each server of the list was tried once): an unreachable broker
    /// ([`ConnectionError::Connect`], [`ConnectionError::Resolve`]), a refusal
    /// ([`ConnectionError::Refused`]), a TLS failure. With
    /// [`crate::ReconnectOptions::retry_first_connect`] on, failed attempts are retried and this
    /// waits until one succeeds. Once connected, lost connections are re-established.
    pub fn connect(opts: ConnectOptions) -> Result<BlockingClient, BlockingError> {
        not_in_runtime()?;
        let runtime = runtime()?;
        let capacity = opts.event_capacity;
        let (client, mut eventloop) = Client::new(opts);
        let (msg_tx, msg_rx) = mpsc::channel(capacity);
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = runtime.spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Connected(_)) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    Ok(Event::Message(m)) => {
                        // Waiting here is the backpressure: the loop reads no more until the
                        // application takes messages. Nobody listening: drop them.
                        let _ = msg_tx.send(m).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(Err(e.clone()));
                        }
                        return match e {
                            ConnectionError::Closed => Ok(()),
                            e => Err(e),
                        };
                    }
                }
            }
        });
        let first = runtime
            .block_on(ready_rx)
            .unwrap_or(Err(ConnectionError::Closed));
        first?;
        Ok(BlockingClient {
            client,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            task: Some(task),
            messages: Mutex::new(Some(msg_rx)),
        })
    }

    /// Runs a [`CallbackClient`]'s loop on the background thread; messages go to its callbacks
    /// (so [`BlockingClient::messages`] yields nothing). Returns at once; the callbacks report
    /// the connection.
    pub fn with_callbacks<U: Send + 'static>(
        mut callbacks: CallbackClient<U>,
    ) -> Result<BlockingClient, BlockingError> {
        not_in_runtime()?;
        let runtime = runtime()?;
        let client = callbacks.client().clone();
        let task = runtime.spawn(async move { callbacks.loop_forever().await });
        Ok(BlockingClient {
            client,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            task: Some(task),
            messages: Mutex::new(None),
        })
    }

    /// The async handle, to share with async code.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Hands a message over (waiting for room in the request queue); the token's
    /// [`BlockingToken::wait`] blocks until it is done at its QoS.
    pub fn publish(&self, message: Message) -> Result<BlockingToken, ClientError> {
        not_in_runtime()?;
        let token = self.handle.block_on(self.client.begin_publish(message))?;
        Ok(BlockingToken {
            token: Some(token),
            handle: self.handle.clone(),
        })
    }

    /// Acknowledges a message received under [`ConnectOptions::manual_acks`] (see
    /// [`Client::ack`]).
    pub fn ack(&self, message: &Message) -> Result<(), ClientError> {
        not_in_runtime()?;
        self.handle.block_on(self.client.ack(message))
    }

    /// Subscribes and waits for the SUBACK.
    pub fn subscribe(
        &self,
        filter: impl IntoTopicFilter,
        qos: QoS,
    ) -> Result<SubAck, SubscribeError> {
        not_in_runtime()?;
        self.handle.block_on(self.client.subscribe(filter, qos))
    }

    /// Unsubscribes and waits for the UNSUBACK.
    pub fn unsubscribe(&self, filter: impl IntoTopicFilter) -> Result<UnsubAck, SubscribeError> {
        not_in_runtime()?;
        self.handle.block_on(self.client.unsubscribe(filter))
    }

    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Message> {
        not_in_runtime().ok()?;
        let mut guard = self.messages.lock().ok()?;
        let rx = guard.as_mut()?;
        self.handle.block_on(async {
            tokio::time::timeout(timeout, rx.recv())
                .await
                .ok()
                .flatten()
        })
    }

    /// Incoming messages; the iterator blocks for the next one and ends when the client is
    /// closed.
    pub fn messages(&self) -> MessageIter<'_> {
        MessageIter { client: self }
    }

    /// Disconnects gracefully (in-flight messages complete first) and stops the background
    /// thread. Returns the error that had ended the loop, if it ended on its own.
    pub fn disconnect(mut self) -> Result<(), BlockingError> {
        not_in_runtime()?;
        let _ = self.handle.block_on(self.client.disconnect());
        match self.task.take() {
            Some(task) => Ok(self
                .handle
                .block_on(task)
                .unwrap_or(Err(ConnectionError::Closed))?),
            None => Ok(()),
        }
    }
}

impl Drop for BlockingClient {
    fn drop(&mut self) {
        // Dropping a `Runtime` waits for its worker thread, which panics inside an async
        // runtime (and blocks elsewhere); shutting it down in the background does neither.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A blocking iterator over incoming messages ([`BlockingClient::messages`]).
#[derive(Debug)]
pub struct MessageIter<'a> {
    client: &'a BlockingClient,
}

impl Iterator for MessageIter<'_> {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        not_in_runtime().ok()?;
        let mut guard = self.client.messages.lock().ok()?;
        let rx = guard.as_mut()?;
        self.client.handle.block_on(rx.recv())
    }
}

/// Completion of a blocking publish.
#[must_use = "wait() blocks until the message is acknowledged; dropping the token does not cancel it"]
#[derive(Debug)]
pub struct BlockingToken {
    token: Option<PublishToken>,
    handle: Handle,
}

impl BlockingToken {
    /// Blocks until the message is done at its QoS. Inside an async runtime it cannot block and
    /// returns [`PublishError::Closed`] at once (the message is still delivered); await the
    /// [`PublishToken`] from [`Client::begin_publish`] there instead.
    pub fn wait(mut self) -> Result<PublishAck, PublishError> {
        let token = self.token.take().ok_or(PublishError::Closed)?;
        if Handle::try_current().is_ok() {
            return Err(PublishError::Closed);
        }
        self.handle.block_on(token)
    }

    /// Blocks at most `timeout`; `None` when it is not done by then (the token can be waited on
    /// again), and also once a result has been returned. Inside an async runtime it returns
    /// `Some(Err(PublishError::Closed))` without waiting, like [`BlockingToken::wait`].
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<PublishAck, PublishError>> {
        if Handle::try_current().is_ok() {
            return Some(Err(PublishError::Closed));
        }
        let token = self.token.as_mut()?;
        let result = self
            .handle
            .block_on(async { tokio::time::timeout(timeout, token).await.ok() });
        if result.is_some() {
            self.token = None;
        }
        result
    }
}

fn runtime() -> Result<Runtime, ConnectionError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("pigeon-mqtt")
        .enable_all()
        .build()
        .map_err(ConnectionError::from)
}

fn not_in_runtime() -> Result<(), ClientError> {
    if Handle::try_current().is_ok() {
        return Err(ClientError::InAsyncContext);
    }
    Ok(())
}
