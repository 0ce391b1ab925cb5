//! The paho-style API: register callbacks, then run the loop.
//!
//! ```no_run
//! use pigeon_mqtt::{CallbackClient, ConnectOptions, QoS};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut mqttc = CallbackClient::new(ConnectOptions::new("127.0.0.1", 1883));
//! mqttc.on_connect(|client, _userdata, ack| {
//!     println!("Connected with result code {}", ack.reason_code);
//!     let _ = client.try_subscribe("/mq/pub", QoS::AtMostOnce);
//! });
//! mqttc.on_message(|_client, _userdata, msg| {
//!     println!("{} {}", msg.topic(), String::from_utf8_lossy(msg.payload()));
//! });
//! mqttc.loop_forever().await?;
//! # Ok(()) }
//! ```
//!
//! Callbacks run on the event loop's task, one at a time. They get a [`Client`] handle and may
//! call its non-waiting methods (`try_publish`, `try_subscribe`, `try_unsubscribe`,
//! `try_disconnect`): the request is picked up as soon as the callback returns, so nothing
//! deadlocks. (Blocking on an awaiting method inside a callback would stop the very loop that
//! must serve it; spawn a task for that instead.) A panic in a callback is caught and logged and
//! the loop goes on.
//!
//! User data is ordinary Rust state: capture it in the closures, or give the client a typed value
//! with [`CallbackClient::with_userdata`] and receive it as `&mut U` in every callback.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::client::Client;
use crate::error::{ConnectionError, PublishError};
use crate::eventloop::{Event, EventLoop};
use crate::message::Message;
use crate::options::ConnectOptions;
use crate::packet::{ConnAck, Properties, ReasonCode, SubAck, UnsubAck};
use crate::state::PublishAck;
use crate::topic::{TopicError, TopicFilter};

type Callback<U, A> = Box<dyn FnMut(&Client, &mut U, &A) + Send>;

/// Why a connection ended, as passed to the disconnect callback.
#[derive(Debug, Clone)]
pub struct DisconnectInfo {
    /// True when the server sent DISCONNECT (5.0) before closing.
    pub from_server: bool,
    /// The server's reason code, or `Success` for a disconnect the client asked for, or
    /// `UnspecifiedError` when the connection was simply lost.
    pub reason_code: ReasonCode,
    /// The server's DISCONNECT properties (reason string, server reference), if it sent one.
    pub properties: Properties,
    /// The error that ended the connection (`ConnectionError::Closed` after `disconnect`).
    pub error: ConnectionError,
    /// Whether the client will reconnect.
    pub reconnecting: bool,
}

impl DisconnectInfo {
    fn new(error: ConnectionError, reconnecting: bool) -> DisconnectInfo {
        let (from_server, reason_code, properties) = match &error {
            ConnectionError::ServerDisconnect(d) => (true, d.reason_code, d.properties.clone()),
            ConnectionError::Closed => (false, ReasonCode::Success, Properties::new()),
            _ => (false, ReasonCode::UnspecifiedError, Properties::new()),
        };
        DisconnectInfo {
            from_server,
            reason_code,
            properties,
            error,
            reconnecting,
        }
    }
}

/// A client driven by callbacks, like paho-mqtt's `Client`. `U` is the user data type.
pub struct CallbackClient<U = ()> {
    client: Client,
    eventloop: EventLoop,
    userdata: U,
    on_connect: Option<Callback<U, ConnAck>>,
    on_connect_fail: Option<Callback<U, ConnectionError>>,
    on_disconnect: Option<Callback<U, DisconnectInfo>>,
    on_message: Option<Callback<U, Message>>,
    on_publish: Option<Callback<U, Result<PublishAck, PublishError>>>,
    on_subscribe: Option<Callback<U, SubAck>>,
    on_unsubscribe: Option<Callback<U, UnsubAck>>,
    filters: Vec<(TopicFilter, Callback<U, Message>)>,
}

impl<U> std::fmt::Debug for CallbackClient<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackClient")
            .field("eventloop", &self.eventloop)
            .field(
                "filters",
                &self.filters.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl CallbackClient<()> {
    /// A callback client without user data.
    pub fn new(opts: ConnectOptions) -> CallbackClient<()> {
        CallbackClient::with_userdata(opts, ())
    }
}

impl<U: Send + 'static> CallbackClient<U> {
    /// A callback client whose callbacks receive `&mut userdata`.
    pub fn with_userdata(opts: ConnectOptions, userdata: U) -> CallbackClient<U> {
        let (client, eventloop) = Client::new(opts);
        CallbackClient::from_parts(client, eventloop, userdata)
    }

    /// Wraps an existing client and event loop (for example one built with a session store).
    pub fn from_parts(client: Client, eventloop: EventLoop, userdata: U) -> CallbackClient<U> {
        CallbackClient {
            client,
            eventloop,
            userdata,
            on_connect: None,
            on_connect_fail: None,
            on_disconnect: None,
            on_message: None,
            on_publish: None,
            on_subscribe: None,
            on_unsubscribe: None,
            filters: Vec::new(),
        }
    }

    /// A handle for use outside the callbacks (other tasks, other threads).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The user data.
    pub fn userdata(&mut self) -> &mut U {
        &mut self.userdata
    }

    /// Called on every connect and reconnect with the CONNACK (session present, reason code,
    /// properties).
    pub fn on_connect(&mut self, f: impl FnMut(&Client, &mut U, &ConnAck) + Send + 'static) {
        self.on_connect = Some(Box::new(f));
    }

    /// Called when a connection attempt fails (refused, timed out, unreachable).
    pub fn on_connect_fail(
        &mut self,
        f: impl FnMut(&Client, &mut U, &ConnectionError) + Send + 'static,
    ) {
        self.on_connect_fail = Some(Box::new(f));
    }

    /// Called when an established connection ends, including after `disconnect`.
    pub fn on_disconnect(
        &mut self,
        f: impl FnMut(&Client, &mut U, &DisconnectInfo) + Send + 'static,
    ) {
        self.on_disconnect = Some(Box::new(f));
    }

    /// Called for each message that no per-filter callback matched.
    pub fn on_message(&mut self, f: impl FnMut(&Client, &mut U, &Message) + Send + 'static) {
        self.on_message = Some(Box::new(f));
    }

    /// Called when a publish completes (or fails).
    pub fn on_publish(
        &mut self,
        f: impl FnMut(&Client, &mut U, &Result<PublishAck, PublishError>) + Send + 'static,
    ) {
        self.on_publish = Some(Box::new(f));
    }

    /// Called with each SUBACK (per-filter reason codes).
    pub fn on_subscribe(&mut self, f: impl FnMut(&Client, &mut U, &SubAck) + Send + 'static) {
        self.on_subscribe = Some(Box::new(f));
    }

    /// Called with each UNSUBACK.
    pub fn on_unsubscribe(&mut self, f: impl FnMut(&Client, &mut U, &UnsubAck) + Send + 'static) {
        self.on_unsubscribe = Some(Box::new(f));
    }

    /// Adds a callback for messages matching `filter` (paho's `message_callback_add`); it
    /// replaces an earlier one for the same filter. Messages it matches do not reach
    /// [`CallbackClient::on_message`].
    pub fn message_callback_add(
        &mut self,
        filter: &str,
        f: impl FnMut(&Client, &mut U, &Message) + Send + 'static,
    ) -> Result<(), TopicError> {
        let filter = TopicFilter::new(filter)?;
        self.filters.retain(|(g, _)| *g != filter);
        self.filters.push((filter, Box::new(f)));
        Ok(())
    }

    /// Removes the callback for `filter` (paho's `message_callback_remove`).
    pub fn message_callback_remove(&mut self, filter: &str) {
        self.filters.retain(|(g, _)| g.as_str() != filter);
    }

    /// Runs the loop until the client is closed with `disconnect`, calling the callbacks.
    /// Returns the error that ended it when it was not a disconnect: as with paho's
    /// `retry_first_connection=False`, a first connection that fails calls `on_connect_fail`
    /// and ends the loop with its error, unless
    /// [`crate::ReconnectOptions::retry_first_connect`] is on.
    pub async fn loop_forever(&mut self) -> Result<(), ConnectionError> {
        loop {
            match self.eventloop.poll().await {
                Ok(event) => {
                    self.dispatch(event);
                    self.eventloop.absorb_requests();
                }
                Err(ConnectionError::Closed) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Spawns the loop on the current Tokio runtime (paho's `loop_start`); the handle stops it.
    pub fn loop_start(mut self) -> LoopHandle<U> {
        let client = self.client.clone();
        let task = tokio::spawn(async move {
            let result = self.loop_forever().await;
            (self, result)
        });
        LoopHandle { client, task }
    }

    fn dispatch(&mut self, event: Event) {
        let client = &self.client;
        let ud = &mut self.userdata;
        match event {
            Event::Connected(ack) => call(&mut self.on_connect, client, ud, &ack),
            Event::ConnectionLost {
                error,
                was_connected,
                reconnecting,
            } => {
                if was_connected {
                    let info = DisconnectInfo::new(error, reconnecting);
                    call(&mut self.on_disconnect, client, ud, &info);
                } else {
                    call(&mut self.on_connect_fail, client, ud, &error);
                }
            }
            Event::Message(m) => {
                let mut matched = false;
                for (filter, cb) in &mut self.filters {
                    if filter.matches(m.topic()) {
                        matched = true;
                        guarded(|| cb(client, ud, &m));
                    }
                }
                if !matched {
                    call(&mut self.on_message, client, ud, &m);
                }
            }
            Event::Published(r) => call(&mut self.on_publish, client, ud, &r),
            Event::Subscribed(a) => call(&mut self.on_subscribe, client, ud, &a),
            Event::Unsubscribed(a) => call(&mut self.on_unsubscribe, client, ud, &a),
            // A message of an earlier run completed: `on_publish` reports it too.
            Event::RestoredPublished { result, .. } => {
                call(&mut self.on_publish, client, ud, &result)
            }
            Event::ProtocolFallback { from, to, error } => {
                tracing::info!(%from, %to, %error, "protocol level fallback");
            }
        }
    }
}

fn call<U, A>(cb: &mut Option<Callback<U, A>>, client: &Client, ud: &mut U, arg: &A) {
    if let Some(cb) = cb {
        guarded(|| cb(client, ud, arg));
    }
}

/// Runs a user callback; a panic is logged and does not stop the loop.
fn guarded(f: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        tracing::error!(panic = %what, "a callback panicked; the loop goes on");
    }
}

/// A loop running on its own task ([`CallbackClient::loop_start`]).
#[derive(Debug)]
pub struct LoopHandle<U> {
    client: Client,
    task: tokio::task::JoinHandle<(CallbackClient<U>, Result<(), ConnectionError>)>,
}

impl<U> LoopHandle<U> {
    /// A client handle.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Disconnects gracefully and waits for the loop to end (paho's `disconnect` +
    /// `loop_stop`); gives back the callback client and how the loop ended.
    pub async fn stop(self) -> (Option<CallbackClient<U>>, Result<(), ConnectionError>) {
        let _ = self.client.disconnect().await;
        self.join().await
    }

    /// Waits for the loop to end on its own (after a `disconnect` made elsewhere).
    pub async fn join(self) -> (Option<CallbackClient<U>>, Result<(), ConnectionError>) {
        match self.task.await {
            Ok((cb, result)) => (Some(cb), result),
            Err(_) => (None, Err(ConnectionError::Closed)),
        }
    }
}
