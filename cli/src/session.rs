//! One connection for `pub` and `sub`: the first connection's outcome decides whether the
//! command goes on; after that the event loop runs in its own task and hands over messages.

use pigeon_mqtt::{Client, ConnectOptions, ConnectionError, Event, EventLoop, Message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::CliError;

/// What the event loop task hands to the command.
#[derive(Debug)]
pub enum Incoming {
    /// A message from a subscription.
    Message(Message),
    /// The event loop stopped: `Closed` after a disconnect, or why it gave up.
    Ended(ConnectionError),
}

/// A connected client whose event loop runs in a task.
#[derive(Debug)]
pub struct Session {
    /// The handle.
    pub client: Client,
    /// Messages, then the end of the event loop.
    pub incoming: mpsc::Receiver<Incoming>,
    task: JoinHandle<()>,
}

impl Session {
    /// Connects once. A refusal, an unreachable broker, a TLS failure or a timeout is returned
    /// as [`CliError::Connect`] (the options do not retry the first connection).
    pub async fn connect(opts: ConnectOptions) -> Result<Session, CliError> {
        let server = opts
            .server_list()
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let level = opts.protocol_level();
        let (client, mut eventloop) = Client::new(opts);
        let failed = |error| CliError::Connect {
            server: server.clone(),
            error,
            level,
        };
        // The CONNACK, or the first connection's error (each server of a list tried once; a
        // 3.1.1-only broker answered at 3.1.1 when no level was chosen).
        eventloop.connect().await.map_err(failed)?;
        // Room for a burst of messages; when it is full the event loop stops reading from the
        // socket until the command catches up.
        let (tx, incoming) = mpsc::channel(256);
        let task = tokio::spawn(forward(eventloop, tx));
        Ok(Session {
            client,
            incoming,
            task,
        })
    }

    /// Disconnects gracefully (in-flight messages complete first, up to the disconnect timeout)
    /// with these DISCONNECT properties, and waits for the event loop to stop.
    pub async fn close(self, properties: pigeon_mqtt::packet::Properties) {
        let packet = pigeon_mqtt::packet::Disconnect {
            properties,
            ..Default::default()
        };
        // Stop taking messages first: the event loop must not wait for room in the channel
        // while the disconnect waits for the event loop.
        drop(self.incoming);
        // The event loop may already be gone; then there is nothing to close.
        let _ = self.client.disconnect_with(packet).await;
        let _ = self.task.await;
    }
}

/// Runs the event loop: messages go to the command, reconnections are reported on stderr.
async fn forward(mut eventloop: EventLoop, tx: mpsc::Sender<Incoming>) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Message(m)) => {
                // When the command no longer reads, keep polling: it is disconnecting.
                let _ = tx.send(Incoming::Message(m)).await;
            }
            Ok(Event::ConnectionLost {
                error,
                reconnecting: true,
                ..
            }) => eprintln!("pigeon: connection lost ({error}); reconnecting"),
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Incoming::Ended(e)).await;
                return;
            }
        }
    }
}
