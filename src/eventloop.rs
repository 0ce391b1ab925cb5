//! [`EventLoop`]: owns the transport and the engine; the only code that reads the socket or the
//! clock.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::codec::{self, Decoded};
use crate::error::{ConnectionError, PublishError, SubscribeError};
use crate::message::Message;
use crate::options::ConnectOptions;
use crate::packet::{ConnAck, Packet, ProtocolLevel, SubAck, UnsubAck};
use crate::queue;
use crate::state::{Engine, Output, PublishAck, Request, Transmit};
use crate::transport::{self, Transport};

/// Payloads at least this large are written from their own buffer (vectored write) instead of
/// being copied into the write buffer.
const ZERO_COPY_THRESHOLD: usize = 4096;
/// Read granularity; the buffer grows to the size of a larger packet when one arrives.
const READ_CHUNK: usize = 4096;
/// At packet boundaries reads go through a buffer of this size on the stack, so an idle
/// connection holds no read buffer at all.
const STACK_READ: usize = 4096;
/// Read size while data streams in (the previous read filled its buffer).
const BUSY_READ: usize = 64 * 1024;
/// After DISCONNECT, how long to wait at most for the server to close its side.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// How a request is completed: the one-shot sender of the future that awaits it.
#[derive(Debug)]
pub(crate) enum Ticket {
    Publish(oneshot::Sender<Result<PublishAck, PublishError>>),
    /// A publish that also reports when it is in the session store ([`crate::Client::enqueue`]).
    Enqueue {
        stored: oneshot::Sender<Result<u64, PublishError>>,
        done: oneshot::Sender<Result<PublishAck, PublishError>>,
    },
    Subscribe(oneshot::Sender<Result<SubAck, SubscribeError>>),
    Unsubscribe(oneshot::Sender<Result<UnsubAck, SubscribeError>>),
    Disconnect(oneshot::Sender<()>),
    Reauth(oneshot::Sender<Result<(), crate::auth::AuthError>>),
}

/// What the event loop reports from [`EventLoop::poll`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Connected (CONNACK Success), on every connect and reconnect.
    Connected(ConnAck),
    /// A connection attempt failed, or the connection was lost.
    ConnectionLost {
        /// Why.
        error: ConnectionError,
        /// Whether CONNACK had accepted the connection.
        was_connected: bool,
        /// Whether the event loop will reconnect.
        reconnecting: bool,
    },
    /// An incoming message.
    Message(Message),
    /// A publish completed (its future has the same result).
    Published(Result<PublishAck, PublishError>),
    /// A SUBACK arrived.
    Subscribed(SubAck),
    /// An UNSUBACK arrived.
    Unsubscribed(UnsubAck),
    /// A publish restored from the session store completed: one accepted by an earlier client
    /// with this store (an earlier run of the program) that ended before it was acknowledged.
    /// `id` is the message id that client gave it ([`crate::Client::enqueue`]).
    RestoredPublished {
        /// The message id.
        id: u64,
        /// Its outcome.
        result: Result<PublishAck, PublishError>,
    },
    /// The server refused MQTT 5.0 on the first connection (a 3.1.1-only server: Azure IoT Hub,
    /// RabbitMQ before 3.13, NATS, Aedes), so the client connects again at 3.1.1. Only when the
    /// application did not choose the level ([`ConnectOptions::protocol`]); the level in use is
    /// [`EventLoop::protocol_level`].
    ProtocolFallback {
        /// The level refused.
        from: ProtocolLevel,
        /// The level tried now.
        to: ProtocolLevel,
        /// How the server refused.
        error: ConnectionError,
    },
}

/// Drives one client connection: connects, reconnects with backoff, reads and writes packets,
/// and hands the application its events. Get one from [`crate::Client::new`].
///
/// Call [`EventLoop::poll`] in a loop (nothing happens between calls: a slow caller slows the
/// reading from the socket, which is the backpressure), or hand the loop to a task with
/// [`EventLoop::run`] or [`EventLoop::into_messages`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use pigeon_mqtt::{Client, ConnectOptions, Event, QoS};
/// let (client, mut eventloop) = Client::new(ConnectOptions::new("127.0.0.1", 1883));
/// tokio::spawn(async move {
///     client.subscribe("sensors/#", QoS::AtLeastOnce).await.ok();
/// });
/// while let Ok(event) = eventloop.poll().await {
///     if let Event::Message(m) = event {
///         println!("{} {:?}", m.topic(), m.payload());
///     }
/// }
/// # Ok(()) }
/// ```
pub struct EventLoop {
    /// The engine; it also holds the options (see [`EventLoop::opts`]).
    engine: Engine<Ticket>,
    /// Connection attempts so far: the next one goes to server `attempts` of the list (failover).
    attempts: usize,
    /// Requests from the clients, and in its control lane their disconnects.
    requests: queue::Receiver<Request<Ticket>>,
    requests_open: bool,
    control_open: bool,
    transport: Option<Transport>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    chunks: VecDeque<Bytes>,
    written: Vec<Ticket>,
    events: VecDeque<Event>,
    finished: Option<ConnectionError>,
    close_deadline: Option<Instant>,
    read_busy: bool,
    /// A DISCONNECT was written on this connection.
    sent_disconnect: bool,
    /// The CONNACK of the current (or last) connection.
    connack: Option<ConnAck>,
    /// Enqueued publishes waiting for the next store commit, with their message ids.
    awaiting_commit: Vec<(u64, oneshot::Sender<Result<u64, PublishError>>)>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("engine", &self.engine)
            .field("connected", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    pub(crate) fn new(
        engine: Engine<Ticket>,
        requests: queue::Receiver<Request<Ticket>>,
    ) -> EventLoop {
        EventLoop {
            engine,
            attempts: 0,
            requests,
            requests_open: true,
            control_open: true,
            transport: None,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            chunks: VecDeque::new(),
            written: Vec::new(),
            events: VecDeque::new(),
            finished: None,
            close_deadline: None,
            read_busy: false,
            sent_disconnect: false,
            connack: None,
            awaiting_commit: Vec::new(),
        }
    }

    /// The id the next publish will get: ids go on across restarts with a persistent store
    /// (see [`crate::Client::enqueue`] and [`Event::RestoredPublished`]).
    pub fn next_message_id(&self) -> u64 {
        self.engine.next_message_id()
    }

    /// The protocol level in use: the one asked for, or 3.1.1 after a
    /// [`Event::ProtocolFallback`].
    pub fn protocol_level(&self) -> ProtocolLevel {
        self.engine.protocol_level()
    }

    /// Runs until the first connection is accepted and returns its CONNACK, or returns the error
    /// that made it fail, like paho's `connect()`: an unreachable broker, a refusal, a TLS
    /// failure. Spawn or poll the loop afterwards as usual; events other than the connection's
    /// own are kept for [`EventLoop::poll`]. Requests may be made before: they go out once
    /// connected, or fail with the same error.
    ///
    /// With [`crate::ReconnectOptions::retry_first_connect`] on, failed attempts are retried
    /// and this waits until one succeeds (or the loop ends). Once connected, it returns the
    /// CONNACK of the current connection at once.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use pigeon_mqtt::{Client, ConnectOptions};
    /// let (client, mut eventloop) = Client::new(ConnectOptions::new("127.0.0.1", 1883));
    /// let ack = eventloop.connect().await?; // Err: refused, unreachable, TLS, ...
    /// println!("connected, session present: {}", ack.session_present);
    /// tokio::spawn(eventloop.run());
    /// # Ok(()) }
    /// ```
    pub async fn connect(&mut self) -> Result<ConnAck, ConnectionError> {
        if self.engine.state() == crate::state::State::Connected {
            if let Some(ack) = &self.connack {
                return Ok(ack.clone());
            }
        }
        let mut kept = VecDeque::new();
        let result = loop {
            match self.poll().await {
                Ok(Event::Connected(ack)) => break Ok(ack),
                Ok(Event::ConnectionLost { .. } | Event::ProtocolFallback { .. }) => {}
                Ok(other) => kept.push_back(other),
                Err(e) => break Err(e),
            }
        };
        kept.append(&mut self.events);
        self.events = kept;
        result
    }

    /// Runs until the next event. Returns an error once the loop has stopped for good: after
    /// [`crate::Client::disconnect`] (`ConnectionError::Closed`), when reconnection is off and
    /// the connection is lost, or when a first connection fails and retrying it is off.
    pub async fn poll(&mut self) -> Result<Event, ConnectionError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            if let Some(err) = self.finished.clone() {
                // Whatever is still queued, or sent later, fails at once instead of waiting.
                self.shut_requests();
                return Err(err);
            }
            self.step().await;
        }
    }

    /// Takes the requests already waiting in the channel (up to the queue bound), so that
    /// requests made from inside a callback are picked up before the next event is dispatched.
    pub(crate) fn absorb_requests(&mut self) {
        if !self.requests_open {
            return;
        }
        let now = self.now();
        let mut intake = (&mut self.engine, &mut self.awaiting_commit);
        self.requests.take_while(
            &mut intake,
            |(e, _)| e.can_accept() && !e.is_closed(),
            |(e, a), req| hand_over(e, a, now, req),
        );
    }

    /// Runs until the client is closed, discarding events (for programs that only publish, or
    /// that consume messages some other way). Returns the error that ended it, if any.
    // Not an `async fn`: that would keep `self` twice in the future (the argument and the
    // moved-in copy), ~1.9 KB more for every spawned connection.
    #[allow(clippy::manual_async_fn)]
    pub fn run(mut self) -> impl std::future::Future<Output = Result<(), ConnectionError>> + Send {
        async move {
            loop {
                match self.poll().await {
                    Ok(_) => {}
                    Err(ConnectionError::Closed) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Spawns the loop on the current Tokio runtime and returns the incoming messages as a
    /// bounded stream (capacity from [`ConnectOptions::event_capacity`]). When the consumer falls
    /// behind, the loop stops reading from the socket; nothing is dropped. The stream ends when
    /// the client is closed.
    pub fn into_messages(mut self) -> crate::client::Messages {
        // Holds no slots until messages arrive, like the request queue.
        let (tx, rx) = queue::queue(self.opts().event_capacity);
        tokio::spawn(async move {
            loop {
                match self.poll().await {
                    Ok(Event::Message(m)) => {
                        if tx.send(m).await.is_err() && !self.requests_open {
                            // Neither messages nor client handles are wanted any more.
                            return;
                        }
                    }
                    Ok(Event::ConnectionLost { error, .. }) => {
                        tracing::info!(%error, "connection lost");
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        crate::client::Messages::new(rx)
    }

    /// The connection options, kept once per connection: in the engine.
    fn opts(&self) -> &ConnectOptions {
        self.engine.options()
    }

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    /// One turn: deliver outputs, connect if needed, flush writes, then wait for the socket, a
    /// request or a timer.
    async fn step(&mut self) {
        // One commit of the session store per turn (group commit), before anything that depends
        // on it is handed out or written: a message is delivered, and its PUBREC sent, only
        // once its QoS 2 identifier is stored; a PUBLISH goes out only once it is stored with
        // its identifier.
        if let Err(e) = self.commit() {
            tracing::error!(error = %e, "the session store cannot commit");
            if self.transport.is_some() {
                // Nothing that depends on the uncommitted state goes out; the changes stay
                // buffered and are committed again on the next turn.
                self.lost(Some(ConnectionError::Store(e)));
            }
        }
        self.drain_outputs();
        if !self.events.is_empty() {
            return;
        }
        if self.engine.is_closed() {
            self.finished.get_or_insert(ConnectionError::Closed);
            self.transport = None;
            // Refuse what is still queued in the channel, and anything sent later.
            self.shut_requests();
            return;
        }
        if self.transport.is_none() && self.engine.wants_transport(self.now()) {
            // Boxed: the connect future (~1.5 KB) would otherwise be part of every `poll()`
            // future, i.e. of every idle connection's task.
            Box::pin(self.open_transport()).await;
            return;
        }
        if let Err(e) = self.flush().await {
            self.lost(Some(e));
            return;
        }
        if !self.events.is_empty() {
            // Completions of QoS 0 publishes just written: hand them out now, not at the next
            // wake-up (which may be a keep alive away).
            return;
        }
        if self.engine.wants_close() {
            if let Some(mut t) = self.transport.take() {
                // A blocked write (keep alive timeout) would block the shutdown too: just drop.
                if self.chunks.is_empty() {
                    let _ = t.shutdown().await;
                    if std::mem::take(&mut self.sent_disconnect) {
                        // Closing a socket with unread data resets it, and the server may then
                        // discard what it has not read yet: the DISCONNECT itself. The server
                        // closes its side on DISCONNECT; wait for that (bounded).
                        let limit = self.opts().disconnect_timeout.min(LINGER);
                        let _ = tokio::time::timeout(limit, drain_until_eof(&mut t)).await;
                    }
                }
            }
            self.lost(None);
            return;
        }
        if !self.chunks.is_empty() {
            // A timer interrupted a blocked write: write the rest on the next turn.
            return;
        }
        self.wait().await;
    }

    async fn open_transport(&mut self) {
        // Each attempt goes to the next server in the list (failover).
        let server = self.opts().server_at(self.attempts);
        self.attempts += 1;
        tracing::debug!(%server, "connecting");
        let result = tokio::time::timeout(
            self.opts().connect_timeout,
            transport::connect(self.opts(), &server),
        )
        .await;
        let stream = match result {
            Ok(Ok(s)) => s,
            Ok(Err(err)) => {
                self.engine.handle_transport_down(self.now(), Some(err));
                return;
            }
            Err(_) => {
                self.engine
                    .handle_transport_down(self.now(), Some(ConnectionError::ConnectTimeout));
                return;
            }
        };
        self.transport = Some(stream);
        self.read_buf.clear();
        self.engine.handle_transport_up(self.now());
    }

    /// The connection ended: tell the engine, fail unwritten QoS 0 publishes.
    fn lost(&mut self, error: Option<ConnectionError>) {
        self.transport = None;
        self.close_deadline = None;
        self.read_busy = false;
        self.sent_disconnect = false;
        self.write_buf.clear();
        self.chunks.clear();
        for t in self.written.drain(..) {
            if let Ticket::Publish(tx) = t {
                let _ = tx.send(Err(PublishError::ConnectionLost));
            }
        }
        self.engine.handle_transport_down(self.now(), error);
        // Free the read buffer while disconnected.
        self.read_buf = BytesMut::new();
    }

    /// Encodes everything the engine wants to send into one buffer (large payloads as their own
    /// chunks) and writes it with as few system calls as possible.
    async fn flush(&mut self) -> Result<(), ConnectionError> {
        let level = self.engine.protocol_level();
        let now = self.now();
        while let Some(Transmit { packet, written }) = self.engine.poll_transmit(now) {
            let big =
                matches!(&packet, Packet::Publish(p) if p.payload.len() >= ZERO_COPY_THRESHOLD);
            let level = match &packet {
                Packet::Connect(c) => c.protocol,
                _ => level,
            };
            if big {
                let payload = codec::encode_without_payload(
                    &packet,
                    level,
                    codec::MAX_PACKET_SIZE,
                    &mut self.write_buf,
                )?;
                if let Some(payload) = payload {
                    self.chunks.push_back(self.write_buf.split().freeze());
                    self.chunks.push_back(payload);
                }
            } else {
                codec::encode(&packet, level, codec::MAX_PACKET_SIZE, &mut self.write_buf)?;
            }
            if let Some(t) = written {
                self.written.push(t);
            }
            self.sent_disconnect |= matches!(packet, Packet::Disconnect(_));
        }
        if !self.write_buf.is_empty() {
            self.chunks.push_back(self.write_buf.split().freeze());
        }
        if self.chunks.is_empty() {
            return Ok(());
        }
        let Some(stream) = self.transport.as_mut() else {
            // Nothing to write to: the engine already knows the connection is gone.
            self.chunks.clear();
            return Ok(());
        };
        // A peer that stopped reading blocks the write; keep alive and the connect timeout
        // must still fire, so the write races the engine's timer. While closing, what is queued
        // (e.g. DISCONNECT) gets up to the disconnect timeout, then is abandoned. `write` is
        // cancel safe and `write_chunks` drops only what was written, so the rest goes out on
        // the next turn.
        let deadline = if self.engine.wants_close() {
            let limit = self.engine.options().disconnect_timeout;
            Some(
                *self
                    .close_deadline
                    .get_or_insert_with(|| Instant::now() + limit),
            )
        } else {
            self.engine.poll_timeout().map(Instant::from_std)
        };
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            r = write_chunks(stream, &mut self.chunks) => r?,
            req = self.requests.recv_control(), if self.control_open => {
                self.take_control(req);
                return Ok(());
            }
            () = sleep => {
                if self.engine.wants_close() {
                    // The peer does not read: give up on the last writes and just close.
                    self.chunks.clear();
                } else {
                    self.engine.handle_timeout(self.now());
                }
                return Ok(());
            }
        }
        for t in self.written.drain(..) {
            if let Ticket::Publish(tx) = t {
                let result = Ok(PublishAck::default());
                self.events.push_back(Event::Published(result.clone()));
                let _ = tx.send(result);
            }
        }
        Ok(())
    }

    async fn wait(&mut self) {
        let deadline = self.engine.poll_timeout().map(Instant::from_std);
        let accept = self.requests_open && self.engine.can_accept();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let busy = self.read_busy;
        let read = async {
            match self.transport.as_mut() {
                // Quiet connection at a packet boundary: hold no buffer while waiting.
                Some(t) if self.read_buf.is_empty() && !busy => {
                    let n = read_at_boundary(t, &mut self.read_buf).await?;
                    Ok::<_, std::io::Error>((n, n == STACK_READ))
                }
                Some(t) => {
                    // Part of a packet is here, or data is streaming in: read straight into the
                    // buffer, as much as has arrived.
                    let want = if busy { BUSY_READ } else { READ_CHUNK };
                    if self.read_buf.capacity() - self.read_buf.len() < want {
                        self.read_buf.reserve(want);
                    }
                    let room = self.read_buf.capacity() - self.read_buf.len();
                    let n = t.read_buf(&mut self.read_buf).await?;
                    Ok((n, n == room))
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            r = read => match r {
                Ok((0, _)) => self.lost(Some(ConnectionError::ConnectionClosed)),
                Ok((_, filled)) => {
                    // A read that filled its buffer means more is waiting: stream in big reads
                    // until one comes back short.
                    self.read_busy = filled;
                    self.decode_incoming();
                }
                Err(e) => self.lost(Some(e.into())),
            },
            req = self.requests.recv(), if accept => match req {
                Some(req) => {
                    let now = self.now();
                    self.handle_request(now, req);
                    // Take whatever else is already waiting, so it is written in one batch.
                    let mut intake = (&mut self.engine, &mut self.awaiting_commit);
                    self.requests.take_while(
                        &mut intake,
                        |(e, _)| e.can_accept(),
                        |(e, a), req| hand_over(e, a, now, req),
                    );
                }
                None => self.requests_open = false,
            },
            req = self.requests.recv_control(), if self.control_open => self.take_control(req),
            () = sleep => self.engine.handle_timeout(self.now()),
        }
    }

    /// Hands a request to the engine. An [`Ticket::Enqueue`] publish waits for the next commit
    /// of the session store: it gets the id the engine gives it.
    fn handle_request(&mut self, now: std::time::Instant, req: Request<Ticket>) {
        hand_over(&mut self.engine, &mut self.awaiting_commit, now, req);
    }

    /// Commits the session store and tells the enqueued publishes. An enqueued message whose
    /// commit failed is taken back: `enqueue` answers with the store's error, and that message
    /// is not sent (an error means "not taken", so retrying it never sends it twice).
    fn commit(&mut self) -> Result<(), crate::store::StoreError> {
        let result = self.engine.commit();
        for (id, tx) in self.awaiting_commit.drain(..) {
            let answer = match &result {
                Ok(()) => Ok(id),
                Err(e) => {
                    self.engine.withdraw(id, e.clone());
                    Err(PublishError::Store(e.clone()))
                }
            };
            let _ = tx.send(answer);
        }
        result
    }

    /// Closes the request queue (both lanes) and refuses what is in it (the engine answers
    /// `Closed`).
    fn shut_requests(&mut self) {
        self.requests.close();
        let now = self.now();
        while let Some(req) = self.requests.try_recv() {
            self.handle_request(now, req);
        }
        while let Some(req) = self.requests.try_recv_control() {
            self.handle_request(now, req);
        }
        // Resolve the refusals' futures; their events are not reported after the end.
        self.drain_outputs();
        for (_, tx) in self.awaiting_commit.drain(..) {
            let _ = tx.send(Err(PublishError::Closed));
        }
        if self.finished.is_some() {
            self.events.clear();
        }
    }

    /// A disconnect request: what was handed over before it is taken first (it goes out before
    /// DISCONNECT), then the disconnect.
    fn take_control(&mut self, req: Option<Request<Ticket>>) {
        let Some(req) = req else {
            self.control_open = false;
            return;
        };
        let now = self.now();
        while let Some(earlier) = self.requests.try_recv() {
            self.handle_request(now, earlier);
        }
        self.handle_request(now, req);
    }

    fn decode_incoming(&mut self) {
        let level = self.engine.protocol_level();
        let max = self.opts().maximum_packet_size;
        let now = self.now();
        loop {
            match codec::decode(&mut self.read_buf, level, max) {
                Ok(Decoded::Packet(p)) => self.engine.handle_incoming(now, p),
                Ok(Decoded::Incomplete { needed }) => {
                    if self.read_buf.is_empty() && !self.read_busy {
                        // Idle: hold no buffer (decoded payloads keep their own bytes alive).
                        self.read_buf = BytesMut::new();
                    } else {
                        // Grow with the bytes that actually arrive, not with what the header
                        // announces: a large announced size allocates nothing by itself.
                        self.read_buf.reserve(needed.min(64 * 1024));
                    }
                    break;
                }
                Err(e) => {
                    // The engine answers (DISCONNECT with a reason code at 5.0) and asks for
                    // the close; nothing more is read from this connection.
                    self.read_buf = BytesMut::new();
                    self.read_busy = false;
                    self.engine.handle_decode_error(now, e);
                    break;
                }
            }
        }
    }

    fn drain_outputs(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Connected(ack) => {
                    self.connack = Some(ack.clone());
                    self.events.push_back(Event::Connected(ack));
                }
                Output::RestoredDone { id, result } => self
                    .events
                    .push_back(Event::RestoredPublished { id, result }),
                Output::ProtocolFallback { from, to, error } => self
                    .events
                    .push_back(Event::ProtocolFallback { from, to, error }),
                Output::ConnectionLost {
                    error,
                    was_connected,
                    reconnecting,
                } => self.events.push_back(Event::ConnectionLost {
                    error,
                    was_connected,
                    reconnecting,
                }),
                Output::Message(m) => self.events.push_back(Event::Message(m)),
                Output::PublishDone { ticket, result } => {
                    self.events.push_back(Event::Published(result.clone()));
                    if let Ticket::Publish(tx) = ticket {
                        let _ = tx.send(result);
                    }
                }
                Output::SubscribeDone { ticket, result } => {
                    if let Ok(ack) = &result {
                        self.events.push_back(Event::Subscribed(ack.clone()));
                    }
                    if let Ticket::Subscribe(tx) = ticket {
                        let _ = tx.send(result);
                    }
                }
                Output::UnsubscribeDone { ticket, result } => {
                    if let Ok(ack) = &result {
                        self.events.push_back(Event::Unsubscribed(ack.clone()));
                    }
                    if let Ticket::Unsubscribe(tx) = ticket {
                        let _ = tx.send(result);
                    }
                }
                Output::ReauthDone { ticket, result } => {
                    if let Ticket::Reauth(tx) = ticket {
                        let _ = tx.send(result);
                    }
                }
                Output::Closed { ticket, error } => {
                    if let Some(Ticket::Disconnect(tx)) = ticket {
                        let _ = tx.send(());
                    }
                    self.finished = Some(error.unwrap_or(ConnectionError::Closed));
                }
            }
        }
    }
}

async fn write_chunks(stream: &mut Transport, chunks: &mut VecDeque<Bytes>) -> std::io::Result<()> {
    while !chunks.is_empty() {
        let n = if chunks.len() == 1 {
            stream.write(&chunks[0]).await?
        } else {
            let slices: Vec<IoSlice<'_>> =
                chunks.iter().take(64).map(|c| IoSlice::new(c)).collect();
            stream.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut n = n;
        while n > 0 {
            let Some(front) = chunks.front_mut() else {
                break;
            };
            if n >= front.len() {
                n -= front.len();
                chunks.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
    Ok(())
}

/// Hands a request to the engine. An enqueued publish ([`Ticket::Enqueue`]) waits for the next
/// commit of the session store, with the message id the engine gives it.
fn hand_over(
    engine: &mut Engine<Ticket>,
    awaiting_commit: &mut Vec<(u64, oneshot::Sender<Result<u64, PublishError>>)>,
    now: std::time::Instant,
    req: Request<Ticket>,
) {
    let req = match req {
        Request::Publish {
            message,
            ticket: Ticket::Enqueue { stored, done },
        } => {
            awaiting_commit.push((engine.next_message_id(), stored));
            Request::Publish {
                message,
                ticket: Ticket::Publish(done),
            }
        }
        other => other,
    };
    engine.handle_request(now, req);
}

/// Reads and discards until the peer closes (or fails).
async fn drain_until_eof(t: &mut Transport) {
    let mut scratch = [0u8; 512];
    while let Ok(n) = t.read(&mut scratch).await {
        if n == 0 {
            break;
        }
    }
}

/// Reads at a packet boundary through a buffer on the stack (not in the future's state, which
/// lives as long as the connection), then keeps just the bytes that arrived.
async fn read_at_boundary(t: &mut Transport, buf: &mut BytesMut) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        // Not zeroed: a TCP read writes into it without looking (4 KiB of memset per read was
        // 2 % of the CPU in a round-trip profile); transports that need initialised memory
        // initialise what they use.
        let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); STACK_READ];
        let mut rb = tokio::io::ReadBuf::uninit(&mut stack);
        match std::pin::Pin::new(&mut **t).poll_read(cx, &mut rb) {
            std::task::Poll::Ready(Ok(())) => {
                buf.extend_from_slice(rb.filled());
                std::task::Poll::Ready(Ok(rb.filled().len()))
            }
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}
