//! [`Client`]: a cloneable handle that sends requests to the [`EventLoop`] over a bounded
//! queue (`src/queue.rs`); requests that need an answer carry a one-shot sender.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::error::{ClientError, PublishError, SubscribeError};
use crate::eventloop::{EventLoop, Ticket};
use crate::message::{AckTag, Message};
use crate::options::ConnectOptions;
use crate::packet::{Disconnect, Properties, QoS, SubAck, SubscriptionOptions, UnsubAck};
use crate::queue::{self, SendError};
use crate::state::{Engine, PublishAck, Request};
use crate::store::{NoStore, SessionStore};
use crate::topic::{TopicError, TopicFilter};

/// A handle to an MQTT connection. `Clone + Send + Sync`: use it from any task.
///
/// Every method hands a request to the [`EventLoop`], which must be polled (or spawned) for
/// anything to happen.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};
/// let (client, eventloop) = Client::new(ConnectOptions::new("127.0.0.1", 1883));
/// tokio::spawn(eventloop.run());
/// let ack = client
///     .publish(Message::new("greetings", "hello")?.qos(QoS::AtLeastOnce))
///     .await?;
/// println!("acknowledged with {}", ack.reason_code);
/// client.disconnect().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    /// The request queue. Disconnect requests go into its control lane, which the event loop
    /// reads even while the queue is full or a write is blocked, so `disconnect` cannot be stuck
    /// behind a backlog.
    tx: queue::Sender<Request<Ticket>>,
}

impl Client {
    /// A client and its event loop. The session state lives in the engine's memory, for as long
    /// as the client; to resume it from another client, or after a restart, give a store to
    /// [`Client::with_store`] ([`MemoryStore`](crate::store::MemoryStore),
    /// [`FileStore`](crate::store::FileStore)).
    pub fn new(opts: ConnectOptions) -> (Client, EventLoop) {
        let engine = Engine::new(
            &opts,
            Box::new(NoStore),
            seed(),
            tokio::time::Instant::now().into_std(),
        );
        Client::with_engine(opts, engine)
    }

    /// A client and its event loop, resuming the session kept in `store`: messages an earlier
    /// client with this store accepted and did not complete are sent again, and report as
    /// [`crate::Event::RestoredPublished`]. Fails when the store cannot be read.
    pub fn with_store(
        opts: ConnectOptions,
        store: Box<dyn SessionStore>,
    ) -> Result<(Client, EventLoop), crate::store::StoreError> {
        let engine = Engine::try_new(&opts, store, seed(), tokio::time::Instant::now().into_std())?;
        Ok(Client::with_engine(opts, engine))
    }

    fn with_engine(opts: ConnectOptions, engine: Engine<Ticket>) -> (Client, EventLoop) {
        // Holds no slots until requests arrive (an idle connection keeps none).
        let (tx, rx) = queue::queue(opts.request_capacity);
        (Client { tx }, EventLoop::new(engine, rx))
    }

    /// Publishes and waits until the message is done at its QoS: written (QoS 0), PUBACK (QoS 1)
    /// or PUBCOMP (QoS 2). Waits for room in the request queue first (backpressure).
    pub async fn publish(&self, message: Message) -> Result<PublishAck, PublishError> {
        self.begin_publish(message)
            .await
            .map_err(|_| PublishError::Closed)?
            .await
    }

    /// Hands the message to the event loop (waiting for room in the request queue) and returns
    /// a token that resolves like [`Client::publish`]. Dropping the token does not cancel the
    /// publish. Messages handed over in order are sent in that order.
    pub async fn begin_publish(&self, message: Message) -> Result<PublishToken, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Publish {
            message,
            ticket: Ticket::Publish(tx),
        })
        .await?;
        Ok(PublishToken { rx })
    }

    /// Hands the message over and waits until it is in the session store: with a persistent
    /// store ([`crate::store::FileStore`]), on disk (committed in the event loop's next turn,
    /// together with everything else of that turn). A QoS 1/2 message enqueued this way is sent
    /// even if the process dies now: the next client with the store sends it (with DUP and its
    /// identifier where the broker kept the session, as a new publish otherwise) and reports
    /// its outcome as [`crate::Event::RestoredPublished`] with the id returned here. With the
    /// default in-memory state (or [`crate::store::MemoryStore`]) it only means the event loop has
    /// taken it.
    ///
    /// When the commit fails (a full disk, a file that became unwritable) this returns
    /// [`PublishError::Store`] and the message is not taken: it is never sent, so handing it over
    /// again later cannot send it twice. The connection ends with the same error (nothing that
    /// depends on the failed commit is written) and comes back once a commit succeeds.
    ///
    /// ```no_run
    /// # #[cfg(feature = "file-store")]
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use pigeon_mqtt::store::FileStore;
    /// use pigeon_mqtt::{Client, ConnectOptions, Message, QoS};
    /// let opts = ConnectOptions::new("127.0.0.1", 1883).client_id("sensor-7").clean_start(false);
    /// let (client, eventloop) = Client::with_store(opts, Box::new(FileStore::open("sensor.db")?))?;
    /// tokio::spawn(eventloop.run());
    /// let queued = client.enqueue(Message::new("sensors/7", "21.5")?.qos(QoS::AtLeastOnce)).await?;
    /// println!("message {} is on disk", queued.id);
    /// queued.token.await?; // PUBACK
    /// # Ok(()) }
    /// ```
    pub async fn enqueue(&self, message: Message) -> Result<Enqueued, PublishError> {
        let (stored_tx, stored_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        self.tx
            .send(Request::Publish {
                message,
                ticket: Ticket::Enqueue {
                    stored: stored_tx,
                    done: done_tx,
                },
            })
            .await
            .map_err(|_| PublishError::Closed)?;
        let id = stored_rx.await.unwrap_or(Err(PublishError::Closed))?;
        Ok(Enqueued {
            id,
            token: PublishToken { rx: done_rx },
        })
    }

    /// Like [`Client::begin_publish`] but never waits: fails with
    /// [`ClientError::QueueFull`] when the request queue is full.
    pub fn try_publish(&self, message: Message) -> Result<PublishToken, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.try_send(Request::Publish {
            message,
            ticket: Ticket::Publish(tx),
        })?;
        Ok(PublishToken { rx })
    }

    /// Subscribes to one filter with a maximum QoS; resolves with the SUBACK.
    pub async fn subscribe(
        &self,
        filter: impl IntoTopicFilter,
        qos: QoS,
    ) -> Result<SubAck, SubscribeError> {
        let filter = filter.into_topic_filter().map_err(ClientError::from)?;
        self.subscribe_with(
            vec![(filter, SubscriptionOptions::new(qos))],
            Properties::new(),
        )
        .await
    }

    /// Subscribes to several filters with their options and SUBSCRIBE properties (5.0, e.g. a
    /// Subscription Identifier); resolves with the SUBACK and its per-filter reason codes.
    pub async fn subscribe_with(
        &self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: Properties,
    ) -> Result<SubAck, SubscribeError> {
        if filters.is_empty() {
            return Err(ClientError::NoTopicFilters.into());
        }
        let (tx, rx) = oneshot::channel();
        self.send(Request::Subscribe {
            filters,
            properties,
            ticket: Ticket::Subscribe(tx),
        })
        .await?;
        rx.await.unwrap_or(Err(SubscribeError::Closed))
    }

    /// Unsubscribes from one filter; resolves with the UNSUBACK.
    pub async fn unsubscribe(
        &self,
        filter: impl IntoTopicFilter,
    ) -> Result<UnsubAck, SubscribeError> {
        let filter = filter.into_topic_filter().map_err(ClientError::from)?;
        self.unsubscribe_with(vec![filter], Properties::new()).await
    }

    /// Unsubscribes from several filters with UNSUBSCRIBE properties (5.0).
    pub async fn unsubscribe_with(
        &self,
        filters: Vec<TopicFilter>,
        properties: Properties,
    ) -> Result<UnsubAck, SubscribeError> {
        if filters.is_empty() {
            return Err(ClientError::NoTopicFilters.into());
        }
        let (tx, rx) = oneshot::channel();
        self.send(Request::Unsubscribe {
            filters,
            properties,
            ticket: Ticket::Unsubscribe(tx),
        })
        .await?;
        rx.await.unwrap_or(Err(SubscribeError::Closed))
    }

    /// Subscribes without waiting (usable inside callbacks): hands the request over and returns
    /// a token that resolves with the SUBACK. Fails with [`ClientError::QueueFull`] when the
    /// request queue is full.
    pub fn try_subscribe(
        &self,
        filter: impl IntoTopicFilter,
        qos: QoS,
    ) -> Result<AckToken<SubAck>, ClientError> {
        let filter = filter.into_topic_filter()?;
        let (tx, rx) = oneshot::channel();
        self.try_send(Request::Subscribe {
            filters: vec![(filter, SubscriptionOptions::new(qos))],
            properties: Properties::new(),
            ticket: Ticket::Subscribe(tx),
        })?;
        Ok(AckToken { rx })
    }

    /// Unsubscribes without waiting (usable inside callbacks); the token resolves with the
    /// UNSUBACK.
    pub fn try_unsubscribe(
        &self,
        filter: impl IntoTopicFilter,
    ) -> Result<AckToken<UnsubAck>, ClientError> {
        let filter = filter.into_topic_filter()?;
        let (tx, rx) = oneshot::channel();
        self.try_send(Request::Unsubscribe {
            filters: vec![filter],
            properties: Properties::new(),
            ticket: Ticket::Unsubscribe(tx),
        })?;
        Ok(AckToken { rx })
    }

    /// Acknowledges a message received under [`ConnectOptions::manual_acks`]: its PUBACK (for
    /// QoS 1) or PUBREC (for QoS 2) goes out, in the order the messages arrived. Waits for room in
    /// the request queue. Messages that need no acknowledgement (QoS 0, or automatic
    /// acknowledgements) are ignored.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use pigeon_mqtt::{Client, ConnectOptions, QoS};
    /// let opts = ConnectOptions::new("127.0.0.1", 1883).manual_acks(true);
    /// let (client, eventloop) = Client::new(opts);
    /// let mut messages = eventloop.into_messages();
    /// client.subscribe("jobs/#", QoS::AtLeastOnce).await?;
    /// while let Some(job) = messages.recv().await {
    ///     // ... process the job; if the process dies here, the broker sends it again ...
    ///     client.ack(&job).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn ack(&self, message: &Message) -> Result<(), ClientError> {
        match message.ack_tag() {
            Some(tag) => self.ack_tag(tag).await,
            None => Ok(()),
        }
    }

    /// Like [`Client::ack`] with a tag kept from the message ([`Message::ack_tag`]).
    pub async fn ack_tag(&self, tag: AckTag) -> Result<(), ClientError> {
        self.send(Request::Ack { tag }).await
    }

    /// Like [`Client::ack`] but never waits (usable inside callbacks): fails with
    /// [`ClientError::QueueFull`] when the request queue is full.
    pub fn try_ack(&self, message: &Message) -> Result<(), ClientError> {
        match message.ack_tag() {
            Some(tag) => self.try_send(Request::Ack { tag }),
            None => Ok(()),
        }
    }

    /// MQTT 5 re-authentication [MQTT-4.12.1] with the authenticator given in
    /// [`ConnectOptions::authenticator`]: sends AUTH Re-authenticate and resolves when the server
    /// answers AUTH Success (or fails, closing the connection as the specification requires).
    pub async fn reauthenticate(&self) -> Result<(), crate::auth::AuthError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Reauthenticate {
            ticket: Ticket::Reauth(tx),
        })
        .await
        .map_err(|_| crate::auth::AuthError::new("the client is closed"))?;
        rx.await
            .unwrap_or_else(|_| Err(crate::auth::AuthError::new("the client is closed")))
    }

    /// Starts a graceful disconnect without waiting for it (usable inside callbacks).
    pub fn try_disconnect(&self) -> Result<(), ClientError> {
        let (tx, _rx) = oneshot::channel();
        self.tx
            .send_control(Request::Disconnect {
                packet: Disconnect::default(),
                ticket: Ticket::Disconnect(tx),
            })
            .map_err(client_error)
    }

    fn try_send(&self, req: Request<Ticket>) -> Result<(), ClientError> {
        self.tx.try_send(req).map_err(client_error)
    }

    /// Graceful disconnect: lets what is already queued and in flight complete (up to the
    /// disconnect timeout), sends DISCONNECT, closes the connection and stops the event loop.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.disconnect_with(Disconnect::default()).await
    }

    /// Like [`Client::disconnect`], with a reason code and properties (5.0), for example
    /// `DisconnectWithWillMessage` to have the server publish the will.
    pub async fn disconnect_with(&self, packet: Disconnect) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send_control(Request::Disconnect {
                packet,
                ticket: Ticket::Disconnect(tx),
            })
            .map_err(client_error)?;
        // The event loop answers when it has closed; if it is gone it is closed too.
        let _ = rx.await;
        Ok(())
    }

    async fn send(&self, req: Request<Ticket>) -> Result<(), ClientError> {
        self.tx.send(req).await.map_err(client_error)
    }
}

fn client_error(e: SendError) -> ClientError {
    match e {
        SendError::Full => ClientError::QueueFull,
        SendError::Closed => ClientError::Closed,
    }
}

/// A message in the session store ([`Client::enqueue`]).
#[must_use = "the token resolves when the message is acknowledged"]
#[derive(Debug)]
pub struct Enqueued {
    /// Its message id: it increases by one per publish and, with a persistent store, goes on
    /// across restarts; a message restored after a restart reports with it
    /// ([`crate::Event::RestoredPublished`]).
    pub id: u64,
    /// Resolves like [`Client::publish`].
    pub token: PublishToken,
}

/// Resolves when a publish handed over with [`Client::begin_publish`] or
/// [`Client::try_publish`] is done at its QoS.
#[must_use = "the token resolves when the message is acknowledged; dropping it does not cancel the publish"]
#[derive(Debug)]
pub struct PublishToken {
    rx: oneshot::Receiver<Result<PublishAck, PublishError>>,
}

impl Future for PublishToken {
    type Output = Result<PublishAck, PublishError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(PublishError::Closed)))
    }
}

/// Resolves with the acknowledgement of a subscribe or unsubscribe started with
/// [`Client::try_subscribe`] or [`Client::try_unsubscribe`].
#[must_use = "the token resolves with the acknowledgement; dropping it does not cancel the request"]
#[derive(Debug)]
pub struct AckToken<A> {
    rx: oneshot::Receiver<Result<A, SubscribeError>>,
}

impl<A> Future for AckToken<A> {
    type Output = Result<A, SubscribeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(SubscribeError::Closed)))
    }
}

/// Incoming messages from a spawned event loop ([`EventLoop::into_messages`]); a bounded
/// [`futures::Stream`].
///
/// [`Messages::recv_many`] takes every message that has arrived (up to a limit) in one call,
/// so a busy consumer is woken once per batch instead of once per message.
#[derive(Debug)]
pub struct Messages {
    rx: queue::Receiver<Message>,
}

impl Messages {
    pub(crate) fn new(rx: queue::Receiver<Message>) -> Messages {
        Messages { rx }
    }

    /// The next message; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// Waits for messages, then appends every one that has arrived, up to `limit` (at least
    /// one), to `buf` and returns how many. Returns 0 only once the client is closed and every
    /// message was taken.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use pigeon_mqtt::{Client, ConnectOptions, QoS};
    /// let (client, eventloop) = Client::new(ConnectOptions::new("127.0.0.1", 1883));
    /// let mut messages = eventloop.into_messages();
    /// client.subscribe("sensors/#", QoS::AtLeastOnce).await.ok();
    /// let mut batch = Vec::with_capacity(64);
    /// while messages.recv_many(&mut batch, 64).await > 0 {
    ///     for m in batch.drain(..) {
    ///         println!("{} {:?}", m.topic(), m.payload());
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn recv_many(&mut self, buf: &mut Vec<Message>, limit: usize) -> usize {
        self.rx.recv_many(buf, limit).await
    }
}

impl futures::Stream for Messages {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

/// Anything that can be a topic filter: `&str`, `String`, or a validated [`TopicFilter`].
pub trait IntoTopicFilter {
    /// Validates and converts.
    fn into_topic_filter(self) -> Result<TopicFilter, TopicError>;
}

impl IntoTopicFilter for TopicFilter {
    fn into_topic_filter(self) -> Result<TopicFilter, TopicError> {
        Ok(self)
    }
}

impl IntoTopicFilter for &str {
    fn into_topic_filter(self) -> Result<TopicFilter, TopicError> {
        TopicFilter::new(self)
    }
}

impl IntoTopicFilter for String {
    fn into_topic_filter(self) -> Result<TopicFilter, TopicError> {
        TopicFilter::new(self)
    }
}

impl IntoTopicFilter for &String {
    fn into_topic_filter(self) -> Result<TopicFilter, TopicError> {
        TopicFilter::new(self.as_str())
    }
}

/// A seed for the reconnect jitter that differs between clients and processes.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}
