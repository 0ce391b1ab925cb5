//! Opening many connections at a rate, each in its own task, and closing them again.

use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pigeon_mqtt::{Client, ConnectOptions, Event, EventLoop, Scheme};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};

use crate::args::{BenchCommon, ServerArgs};
use crate::error::CliError;
use crate::options::server_options;

use super::stats::Counters;

/// How to open the connections.
#[derive(Debug)]
pub struct Plan {
    /// How many.
    pub count: u64,
    /// Time between two attempts, if any.
    pub interval: Option<Duration>,
    /// Attempts under way at once.
    pub max_pending: usize,
    /// Options shared by every connection (the server already resolved to an address).
    pub base: ConnectOptions,
    /// Local addresses, used in turn.
    pub ifaddrs: Vec<IpAddr>,
    /// Client id prefix.
    pub prefix: String,
    /// Clean Start.
    pub clean: bool,
}

impl Plan {
    /// The plan the flags describe, for `bench conn`, `pub` or `sub` (`command`).
    pub fn new(common: &BenchCommon, command: &str) -> Result<Plan, CliError> {
        let interval = match common.rate {
            Some(rate) if rate > 0.0 && rate.is_finite() => {
                Some(Duration::from_secs_f64(1.0 / rate))
            }
            Some(_) => return Err(CliError::Usage("-R must be a positive rate".to_owned())),
            None if common.interval_ms > 0.0 && common.interval_ms.is_finite() => {
                Some(Duration::from_secs_f64(common.interval_ms / 1000.0))
            }
            None if common.interval_ms == 0.0 => None,
            None => {
                return Err(CliError::Usage(
                    "-i must be 0 or more milliseconds".to_owned(),
                ))
            }
        };
        if common.max_pending == 0 {
            return Err(CliError::Usage(
                "--max-pending must be at least 1".to_owned(),
            ));
        }
        let base = resolved_server(&common.server, &common.ifaddrs)?;
        Ok(Plan {
            count: common.connections,
            interval,
            max_pending: common.max_pending,
            base,
            ifaddrs: common.ifaddrs.clone(),
            // Unique per process, so that benches running side by side do not take over each
            // other's sessions [MQTT-3.1.4-3].
            prefix: common
                .prefix
                .clone()
                .unwrap_or_else(|| format!("pigeon-{command}-{}-", std::process::id())),
            clean: !common.no_clean,
        })
    }

    /// The client id of connection `i`.
    pub fn client_id(&self, i: u64) -> String {
        format!("{}{i}", self.prefix)
    }

    fn options(&self, i: u64) -> ConnectOptions {
        let mut opts = self
            .base
            .clone()
            .client_id(self.client_id(i))
            .clean_start(self.clean);
        if !self.ifaddrs.is_empty() {
            let n = self.ifaddrs.len() as u64;
            if let Some(addr) = self.ifaddrs.get((i % n) as usize) {
                opts = opts.bind_address(*addr);
            }
        }
        opts
    }
}

/// The broker's options with its host name resolved once, here: thousands of connections must
/// not each ask the resolver. A TLS certificate is still verified against the name.
fn resolved_server(args: &ServerArgs, ifaddrs: &[IpAddr]) -> Result<ConnectOptions, CliError> {
    let (opts, _) = server_options(args)?;
    let Some(server) = opts.server_list().first().cloned() else {
        return Ok(opts);
    };
    if server.scheme() == Scheme::Unix {
        if !ifaddrs.is_empty() {
            return Err(CliError::Usage(
                "--ifaddr does not apply to a Unix socket".to_owned(),
            ));
        }
        return Ok(opts);
    }
    if let Some(bad) = ifaddrs.iter().find(|a| a.is_ipv4() != ifaddrs[0].is_ipv4()) {
        return Err(CliError::Usage(format!(
            "--ifaddr mixes IPv4 and IPv6 ({bad}): use one family"
        )));
    }
    if server.host().parse::<IpAddr>().is_ok() {
        return Ok(opts);
    }
    let addrs: Vec<SocketAddr> = (server.host(), server.port())
        .to_socket_addrs()
        .map_err(|e| CliError::Usage(format!("cannot resolve {}: {e}", server.host())))?
        .collect();
    let want_v4 = ifaddrs.first().is_none_or(|a| a.is_ipv4());
    // IPv4 first unless --ifaddr says otherwise: "localhost" often lists ::1 first while the
    // broker listens on 127.0.0.1 only.
    let ip = addrs
        .iter()
        .find(|a| a.is_ipv4() == want_v4)
        .or(addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| CliError::Usage(format!("{} has no address", server.host())))?;
    let mut args = args.clone();
    if server.scheme().is_tls() && args.tls.server_name.is_none() {
        args.tls.server_name = Some(server.host().to_owned());
    }
    let (opts, _) = server_options(&args)?;
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let url = format!(
        "{}://{host}:{}{}",
        server.scheme(),
        server.port(),
        server.path()
    );
    opts.servers([url])
        .map_err(|e| CliError::Usage(format!("bad broker address: {e}")))
}

/// Starts `plan.count` connections (or fewer after Ctrl-C), each in a task that runs `job` once
/// connected. Returns a handle per connection once every attempt has been started.
///
/// The event loop is boxed: it is large (about 2 KiB), and a future keeps a copy of each
/// argument of an `async fn` beside the local it is moved into; boxed, it is stored once and
/// the tasks' futures stay small.
pub async fn launch<F, Fut>(plan: Arc<Plan>, counters: Arc<Counters>, job: F) -> Vec<Client>
where
    F: Fn(u64, Client, Box<EventLoop>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let job = Arc::new(job);
    let pending = Arc::new(Semaphore::new(plan.max_pending));
    let mut ticker = plan.interval.map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    let mut clients = Vec::with_capacity(usize::try_from(plan.count).unwrap_or(0));
    for i in 0..plan.count {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let Ok(permit) = pending.clone().acquire_owned().await else {
            break;
        };
        if counters.stop.load(Ordering::Relaxed) {
            break;
        }
        let (client, eventloop) = Client::new(plan.options(i));
        let eventloop = Box::new(eventloop);
        clients.push(client.clone());
        counters.running.fetch_add(1, Ordering::Relaxed);
        let running = Running(counters.clone());
        let job = job.clone();
        tokio::spawn(async move {
            connection(i, client, eventloop, permit, &running.0, &*job).await;
        });
    }
    clients
}

/// Counts a connection task as running until it ends (however it ends).
struct Running(Arc<Counters>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection<F, Fut>(
    i: u64,
    client: Client,
    mut eventloop: Box<EventLoop>,
    permit: OwnedSemaphorePermit,
    counters: &Counters,
    job: &F,
) where
    F: Fn(u64, Client, Box<EventLoop>) -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    loop {
        // The first connection is not retried (see `server_options`): its outcome comes first.
        match eventloop.poll().await {
            Ok(Event::Connected(_)) => {
                let now = Instant::now();
                counters.connect_latency.record(now - started);
                counters.connected.fetch_add(1, Ordering::Relaxed);
                counters.settled_at(now.into_std());
                break;
            }
            Ok(Event::ConnectionLost { error, .. }) | Err(error) => {
                counters.error(format!("connect: {error}"));
                counters.failed.fetch_add(1, Ordering::Relaxed);
                counters.settled_at(std::time::Instant::now());
                return;
            }
            Ok(_) => {}
        }
    }
    drop(permit);
    job(i, client, eventloop).await;
}

/// Polls an event loop until it ends, counting lost connections (for connections that only
/// need to stay up).
pub async fn drive(mut eventloop: Box<EventLoop>, counters: Arc<Counters>) {
    while let Ok(event) = eventloop.poll().await {
        count_loss(&counters, &event);
    }
}

/// Counts a lost connection that the client recovers from: the end of the bench's own graceful
/// disconnect is reported too, without reconnecting, and is not counted.
pub fn count_loss(counters: &Counters, event: &Event) {
    if let Event::ConnectionLost {
        error,
        reconnecting: true,
        ..
    } = event
    {
        counters.lost.fetch_add(1, Ordering::Relaxed);
        counters.error(format!("lost: {error}"));
    }
}

/// Disconnects every client gracefully and waits (up to `patience`) for their tasks to end.
pub async fn shutdown(clients: Vec<Client>, counters: &Counters, patience: Duration) {
    for c in &clients {
        // Only fails when the loop is already gone or a disconnect is already queued.
        let _ = c.try_disconnect();
    }
    let deadline = Instant::now() + patience;
    while Counters::get(&counters.running) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(clients);
}

/// The live progress line on stderr (hidden when stderr is not a terminal).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner with elapsed time and a message.
    pub fn new() -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        Progress { bar }
    }

    /// Replaces the message.
    pub fn show(&self, message: String) {
        self.bar.set_message(message);
        self.bar.tick();
    }

    /// A line above the progress line (or on its own when the line is hidden).
    pub fn say(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("pigeon bench: {line}");
        } else {
            self.bar.println(format!("pigeon bench: {line}"));
        }
    }

    /// Removes the progress line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
