//! A real NATS server with MQTT and JetStream for integration tests: one
//! node ([`Nats`]) or a cluster of several ([`NatsCluster`]).
//!
//! Modelled on `mosquitto.rs`: every node is one `nats-server` process
//! listening on free loopback ports (client, HTTP monitoring, MQTT and, in a
//! cluster, routes), configured from a file written to a temporary directory
//! that also holds its log and its JetStream store. Every process is paired
//! with the same watchdog as Mosquitto's, so it dies with the test process
//! however that ends; nodes are stopped when the value is dropped.
//!
//! NATS speaks MQTT 3.1.1 (QoS 0 and 1) and keeps MQTT sessions and QoS 1
//! messages in JetStream streams (`$MQTT_sess`, `$MQTT_msgs`, ...), so MQTT
//! needs JetStream and an explicit `server_name`. In a cluster those streams
//! and the consumers behind QoS 1 subscriptions are replicated on every node
//! (`mqtt { stream_replicas: N, consumer_replicas: N }`), so a session and its
//! undelivered messages survive a node going down while a majority is up, and
//! a client with the same client id can resume its session on another node.
//! NATS 2.9 sends a QoS 1 message again only after `ack_wait` without a
//! PUBACK, also to a resumed session (not at once on reconnect), so a cluster
//! sets it to [`ACK_WAIT`] (5 s) instead of the default 30 s.
//!
//! ```ignore
//! mod support;
//! use support::{Nats, NatsCluster};
//!
//! let nats = Nats::start();
//! let url = nats.url(); // "mqtt://127.0.0.1:PORT"
//!
//! let mut cluster = NatsCluster::start(3);
//! let urls = cluster.mqtt_urls();
//! let node = cluster.node_of("my-client"); // Some(i) once connected
//! cluster.stop(0);
//! cluster.start_again(0); // same ports and store, waits until healthy
//! ```
//!
//! The harness talks to the servers only through TCP: `/healthz`, `/jsz` and
//! `/connz` over plain HTTP/1.0 on the monitoring port, and a bare MQTT
//! CONNECT to check that the MQTT side answers. Everything binds to
//! 127.0.0.1 only.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::mosquitto::{can_connect, read_lossy, spawn_watchdog, stop_process, Process};

/// How long to wait for a node to open its listeners.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for JetStream (meta leader elected, every node current,
/// the MQTT streams created and answering CONNECT). Elections after a node
/// went away take a few seconds; this is generous on purpose.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `start_again` keeps retrying when an old port is still taken.
const REBIND_TIMEOUT: Duration = Duration::from_secs(10);
/// Fresh-port attempts on the very first start (another process may grab a
/// port between our probe bind and the server's bind).
const FIRST_START_ATTEMPTS: usize = 5;
const POLL: Duration = Duration::from_millis(100);
/// One HTTP request or MQTT probe. NATS answers an MQTT CONNECT only after
/// its JetStream requests (4 s timeout each) have completed.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// MQTT `ack_wait` in a cluster: how long NATS waits for a PUBACK before it
/// sends a QoS 1 message to the subscriber again (see `write_config`).
pub const ACK_WAIT: Duration = Duration::from_secs(5);

const LOOPBACK: &str = "127.0.0.1";
const CLUSTER_NAME: &str = "pigeon";
const INSTALL_HINT: &str = "install it with `apt-get install -y nats-server`";
/// Log lines of each node shown in a failure message.
const LOG_TAIL_LINES: usize = 80;

/// A single NATS node with JetStream and an MQTT listener. Stopped on drop.
#[derive(Debug)]
pub struct Nats {
    node: Node,
    // Last field: removed after the process has been stopped.
    dir: TempDir,
}

impl Nats {
    /// Starts the node and waits until JetStream is up and its MQTT listener
    /// answers a CONNECT with "accepted". Panics on failure (with the log).
    pub fn start() -> Nats {
        let bin = find_nats_server();
        let dir = temp_dir();
        let mut node = Node::new(bin, "n1", dir.path());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = pick_ports(1, false);
            node.ports = ports[0];
            node.write_config(&[], 1);
            node.spawn(dir.path());
            match node.wait_listening(Instant::now() + LISTEN_TIMEOUT) {
                Ok(()) => break,
                Err(_) if attempt < FIRST_START_ATTEMPTS && node.port_conflict() => {
                    node.stop();
                }
                Err(why) => fail(&why, std::slice::from_ref(&node)),
            }
        }
        let nats = Nats { node, dir };
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        if let Err(why) = nats.node.wait_healthy(deadline) {
            fail(&why, std::slice::from_ref(&nats.node));
        }
        nats
    }

    /// Port of the MQTT listener.
    pub fn port(&self) -> u16 {
        self.node.ports.mqtt
    }

    /// `"mqtt://127.0.0.1:PORT"` (the MQTT listener).
    pub fn url(&self) -> String {
        self.node.mqtt_url()
    }

    /// Port of the HTTP monitoring endpoint.
    pub fn http_port(&self) -> u16 {
        self.node.ports.http
    }

    /// Whether an MQTT client with this client id is connected (`/connz`).
    pub fn is_connected(&self, client_id: &str) -> bool {
        self.node.has_mqtt_client(client_id)
    }

    /// The temp dir (config, log, JetStream store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server log (all runs).
    pub fn log(&self) -> String {
        self.node.log()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.node.stop();
    }
}

/// A cluster of NATS nodes joined by routes, with clustered JetStream and an
/// MQTT listener on each node. Stopped on drop.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<Node>,
    // Last field: removed after the processes have been stopped.
    dir: TempDir,
}

impl NatsCluster {
    /// Starts `size` nodes (at least 3: JetStream needs a majority to stay
    /// up when one node stops) and waits until the JetStream meta leader is
    /// elected, every node is healthy and every MQTT listener accepts a
    /// CONNECT. MQTT streams and consumers get `size` replicas.
    pub fn start(size: usize) -> NatsCluster {
        assert!(
            size >= 3,
            "a NATS cluster that survives a stopped node needs at least 3 nodes, not {size}"
        );
        let bin = find_nats_server();
        let dir = temp_dir();
        let mut nodes: Vec<Node> = (0..size)
            .map(|i| Node::new(bin.clone(), &format!("n{}", i + 1), dir.path()))
            .collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = pick_ports(size, true);
            let routes: Vec<u16> = ports.iter().filter_map(|p| p.cluster).collect();
            for (node, ports) in nodes.iter_mut().zip(&ports) {
                node.ports = *ports;
                node.write_config(&routes, size);
            }
            // All at once: the meta leader needs a majority to be elected.
            for node in &mut nodes {
                node.spawn(dir.path());
            }
            let deadline = Instant::now() + LISTEN_TIMEOUT;
            let started = nodes
                .iter_mut()
                .try_for_each(|node| node.wait_listening(deadline));
            match started {
                Ok(()) => break,
                Err(_)
                    if attempt < FIRST_START_ATTEMPTS
                        && nodes.iter().any(|n| n.port_conflict()) =>
                {
                    for node in &mut nodes {
                        node.stop();
                        // A fresh store: the old one knows the old routes.
                        let _ = fs::remove_dir_all(node.dir.join("store"));
                    }
                }
                Err(why) => fail(&why, &nodes),
            }
        }
        let cluster = NatsCluster { nodes, dir };
        cluster.wait_healthy();
        cluster
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The name of node `i` (`"n1"`, `"n2"`, ...), as the server knows it.
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// `"mqtt://127.0.0.1:PORT"` of node `i`.
    pub fn mqtt_url(&self, i: usize) -> String {
        self.nodes[i].mqtt_url()
    }

    /// The MQTT URLs of all nodes, in node order.
    pub fn mqtt_urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::mqtt_url).collect()
    }

    /// MQTT port of node `i`.
    pub fn mqtt_port(&self, i: usize) -> u16 {
        self.nodes[i].ports.mqtt
    }

    /// HTTP monitoring port of node `i`.
    pub fn http_port(&self, i: usize) -> u16 {
        self.nodes[i].ports.http
    }

    /// Whether node `i`'s process is alive.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.nodes[i].is_running()
    }

    /// Stops node `i`: SIGTERM, wait for exit (SIGKILL after 5 s). Returns
    /// its exit status; `None` if it was not running.
    pub fn stop(&mut self, i: usize) -> Option<ExitStatus> {
        self.nodes[i].stop()
    }

    /// Freezes node `i` (SIGSTOP): it keeps its sockets open but reads,
    /// answers and votes no more, as a hung machine would. Follow with
    /// [`NatsCluster::stop`] (the node shuts down as soon as it runs
    /// again), [`NatsCluster::kill`] or [`NatsCluster::thaw`].
    pub fn freeze(&mut self, i: usize) {
        self.nodes[i].signal("STOP");
        self.nodes[i].frozen = true;
    }

    /// Lets a frozen node `i` run again (SIGCONT).
    pub fn thaw(&mut self, i: usize) {
        self.nodes[i].signal("CONT");
        self.nodes[i].frozen = false;
    }

    /// Kills node `i` (SIGKILL: a crash, nothing flushed) and reaps it.
    /// Returns its exit status; `None` if it was not running.
    ///
    /// With nats-server 2.9.10, a node restarted after SIGKILL sometimes
    /// does not get some of its JetStream consumer replicas current again
    /// for a minute or more (`/healthz` stays 503 "consumer ... is not
    /// current"), and then [`NatsCluster::start_again`] fails after its 30 s
    /// wait. The failover test therefore stops nodes with SIGTERM.
    pub fn kill(&mut self, i: usize) -> Option<ExitStatus> {
        self.nodes[i].kill()
    }

    /// Starts a stopped (or killed) node `i` again with the same config, ports and
    /// JetStream store, and waits until it has caught up: every running node
    /// healthy and the node's MQTT listener accepting a CONNECT.
    pub fn start_again(&mut self, i: usize) {
        assert!(
            !self.nodes[i].is_running(),
            "start_again({i}): node {} is still running; call stop({i}) first",
            self.nodes[i].name
        );
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            let node = &mut self.nodes[i];
            while !node.ports_free() && Instant::now() < deadline {
                thread::sleep(POLL);
            }
            node.spawn(self.dir.path());
            match node.wait_listening(Instant::now() + LISTEN_TIMEOUT) {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline && node.port_conflict() => {
                    node.stop();
                    thread::sleep(POLL);
                }
                Err(why) => fail(&why, &self.nodes),
            }
        }
        self.wait_healthy();
    }

    /// The node an MQTT client with this client id is connected to, from
    /// each running (not frozen) node's `/connz?mqtt_client=ID`.
    pub fn node_of(&self, client_id: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.process.is_some() && !n.frozen && n.has_mqtt_client(client_id))
    }

    /// Polls [`NatsCluster::node_of`] until it names a node for which
    /// `accept` is true; `None` on timeout.
    pub fn wait_node_of(
        &self,
        client_id: &str,
        timeout: Duration,
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.node_of(client_id) {
                Some(i) if accept(i) => return Some(i),
                _ if Instant::now() >= deadline => return None,
                _ => thread::sleep(POLL),
            }
        }
    }

    /// The JetStream meta leader's node name as node `i` sees it (`/jsz`).
    pub fn meta_leader(&self, i: usize) -> Option<String> {
        self.nodes[i].meta_leader()
    }

    /// Waits until every running node reports `/healthz` ok (JetStream meta
    /// leader known, every stream and consumer replica on it current), all
    /// agree on the meta leader, and every MQTT listener accepts a CONNECT.
    /// Panics with the logs after 30 s.
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        let running: Vec<&Node> = self.nodes.iter().filter(|n| n.process.is_some()).collect();
        for node in &running {
            if let Err(why) = node.wait_healthy(deadline) {
                fail(&why, &self.nodes);
            }
        }
        loop {
            let leaders: Vec<Option<String>> = running.iter().map(|n| n.meta_leader()).collect();
            if leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]) {
                return;
            }
            if Instant::now() >= deadline {
                fail(
                    &format!("the nodes do not agree on a JetStream meta leader: {leaders:?}"),
                    &self.nodes,
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The log of node `i` (all runs).
    pub fn log(&self, i: usize) -> String {
        self.nodes[i].log()
    }

    /// The last lines of every node's log, for failure messages.
    pub fn logs_tail(&self) -> String {
        logs_tail(&self.nodes)
    }

    /// The cluster's temp dir (one sub-directory per node).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }
}

/// The listening ports of one node.
#[derive(Debug, Clone, Copy, Default)]
struct Ports {
    client: u16,
    http: u16,
    mqtt: u16,
    cluster: Option<u16>,
}

impl Ports {
    fn all(&self) -> Vec<u16> {
        [self.client, self.http, self.mqtt]
            .into_iter()
            .chain(self.cluster)
            .collect()
    }
}

/// One `nats-server` process, its config, log and store (in `dir`).
#[derive(Debug)]
struct Node {
    bin: PathBuf,
    name: String,
    dir: PathBuf,
    ports: Ports,
    process: Option<Process>,
    /// Stopped with SIGSTOP.
    frozen: bool,
    /// "Server is ready" lines in the log before the current run.
    ready_before: usize,
}

impl Node {
    fn new(bin: PathBuf, name: &str, parent: &Path) -> Node {
        let dir = parent.join(name);
        fs::create_dir_all(&dir).expect("create node dir");
        Node {
            bin,
            name: name.to_owned(),
            dir,
            ports: Ports::default(),
            process: None,
            frozen: false,
            ready_before: 0,
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("nats.conf")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("nats.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.join("nats.stderr")
    }

    fn mqtt_url(&self) -> String {
        format!("mqtt://{LOOPBACK}:{}", self.ports.mqtt)
    }

    fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// `routes`: every node's cluster port (empty: a single node);
    /// `replicas`: MQTT stream and consumer replicas.
    fn write_config(&self, routes: &[u16], replicas: usize) {
        let p = &self.ports;
        let mut c = String::new();
        c.push_str("# generated by tests/support/nats.rs\n");
        // MQTT refuses to start without an explicit server name.
        let _ = writeln!(c, "server_name: {:?}", self.name);
        let _ = writeln!(c, "host: {LOOPBACK:?}");
        let _ = writeln!(c, "port: {}", p.client);
        let _ = writeln!(c, "http: \"{LOOPBACK}:{}\"", p.http);
        let _ = writeln!(c, "log_file: {:?}", self.log_path());
        c.push_str("logtime: true\n");
        c.push_str("jetstream {\n");
        let _ = writeln!(c, "  store_dir: {:?}", self.dir.join("store"));
        c.push_str("}\n");
        if let Some(cluster) = p.cluster {
            c.push_str("cluster {\n");
            let _ = writeln!(c, "  name: {CLUSTER_NAME:?}");
            let _ = writeln!(c, "  listen: \"{LOOPBACK}:{cluster}\"");
            let others: Vec<String> = routes
                .iter()
                .filter(|&&r| r != cluster)
                .map(|r| format!("\"nats-route://{LOOPBACK}:{r}\""))
                .collect();
            let _ = writeln!(c, "  routes: [{}]", others.join(", "));
            c.push_str("}\n");
        }
        c.push_str("mqtt {\n");
        let _ = writeln!(c, "  host: {LOOPBACK:?}");
        let _ = writeln!(c, "  port: {}", p.mqtt);
        if replicas > 1 {
            // Sessions, QoS 1 messages and the consumers feeding QoS 1
            // subscriptions on every node: a majority keeps them available
            // when one node stops, and the client can resume its session
            // on any node.
            let _ = writeln!(c, "  stream_replicas: {replicas}");
            let _ = writeln!(c, "  consumer_replicas: {replicas}");
            // NATS 2.9 sends a QoS 1 message again only when its PUBACK is
            // ack_wait overdue (default 30 s), also to a session resumed
            // on another node, rather than at once on reconnect as
            // [MQTT-4.4.0-1] asks. A message its old node took from
            // JetStream but never wrote out would come 30 s late.
            let _ = writeln!(c, "  ack_wait: {:?}", format!("{}s", ACK_WAIT.as_secs()));
        }
        c.push_str("}\n");
        fs::write(self.config_path(), c).expect("write nats.conf");
    }

    fn spawn(&mut self, watchdog_dir: &Path) {
        assert!(self.process.is_none(), "node {} already running", self.name);
        self.ready_before = count_ready(&self.log());
        let stderr = fs::File::create(self.stderr_path()).expect("create nats.stderr");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| spawn_failed(&e));
        let watchdog = spawn_watchdog(child.id(), watchdog_dir);
        self.process = Some(Process { child, watchdog });
    }

    /// Waits until this run logged "Server is ready" and every listener
    /// accepts TCP connections. On error the process is gone.
    fn wait_listening(&mut self, deadline: Instant) -> Result<(), String> {
        let ports = self.ports.all();
        loop {
            let Some(p) = self.process.as_mut() else {
                return Err(format!("node {} is not running", self.name));
            };
            match p.child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    self.stop();
                    return Err(format!(
                        "nats-server {} exited during startup with {status}",
                        self.name
                    ));
                }
                Err(e) => return Err(format!("waiting for nats-server {}: {e}", self.name)),
            }
            let ready = count_ready(&self.log()) > self.ready_before;
            if ready && ports.iter().all(|&p| can_connect(p)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!(
                    "nats-server {} did not accept connections on 127.0.0.1 ports {ports:?} within {LISTEN_TIMEOUT:?}",
                    self.name
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Waits for `/healthz` ok, then for the MQTT listener to accept a
    /// CONNECT (the first one creates the MQTT streams).
    fn wait_healthy(&self, deadline: Instant) -> Result<(), String> {
        loop {
            let last = match http_get(self.ports.http, "/healthz") {
                Ok((200, _)) => break,
                Ok((status, body)) => format!("HTTP {status}: {}", body.trim()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {} not healthy within {HEALTHY_TIMEOUT:?}; last /healthz: {last}",
                    self.name
                ));
            }
            thread::sleep(POLL);
        }
        let probe_id = format!("pigeon-harness-probe-{}", self.name);
        loop {
            let last = match mqtt_probe(self.ports.mqtt, &probe_id) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {} did not accept an MQTT CONNECT within {HEALTHY_TIMEOUT:?}: {last}",
                    self.name
                ));
            }
            thread::sleep(POLL);
        }
    }

    fn has_mqtt_client(&self, client_id: &str) -> bool {
        let path = format!("/connz?mqtt_client={}", percent_encode(client_id));
        match http_get(self.ports.http, &path) {
            Ok((200, body)) => json_number(&body, "num_connections").is_some_and(|n| n > 0),
            _ => false,
        }
    }

    fn meta_leader(&self) -> Option<String> {
        let (status, body) = http_get(self.ports.http, "/jsz").ok()?;
        if status != 200 {
            return None;
        }
        let meta = &body[body.find("\"meta_cluster\"")?..];
        json_string(meta, "leader")
    }

    fn is_running(&mut self) -> bool {
        match &mut self.process {
            Some(p) => matches!(p.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGTERM, wait; SIGKILL after 5 s. A frozen node gets its SIGTERM
    /// before SIGCONT, so it shuts down as soon as it runs again.
    fn stop(&mut self) -> Option<ExitStatus> {
        if self.frozen {
            self.signal("TERM");
            self.signal("CONT");
            self.frozen = false;
        }
        let p = self.process.take()?;
        Some(stop_process(p, true))
    }

    fn kill(&mut self) -> Option<ExitStatus> {
        self.frozen = false;
        let p = self.process.take()?;
        Some(stop_process(p, false))
    }

    fn signal(&self, name: &str) {
        let p = self
            .process
            .as_ref()
            .unwrap_or_else(|| panic!("SIG{name}: node {} is not running", self.name));
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(p.child.id().to_string())
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("kill -{name}: {e}"));
        assert!(
            status.success(),
            "kill -{name} {} failed: {status}",
            p.child.id()
        );
    }

    fn ports_free(&self) -> bool {
        self.ports
            .all()
            .iter()
            .all(|&p| TcpListener::bind((LOOPBACK, p)).is_ok())
    }

    /// Did the last run die because a port was in use?
    fn port_conflict(&self) -> bool {
        let log = self.log();
        let this_run = nth_ready_onwards(&log, self.ready_before);
        let text = format!("{}{this_run}", read_lossy(&self.stderr_path()));
        text.contains("address already in use")
    }
}

/// The text after the `n`-th "Server is ready" line (the current run).
fn nth_ready_onwards(log: &str, n: usize) -> &str {
    let mut rest = log;
    for _ in 0..n {
        match rest.find("Server is ready") {
            Some(i) => rest = &rest[i + 1..],
            None => break,
        }
    }
    rest
}

fn count_ready(log: &str) -> usize {
    log.matches("Server is ready").count()
}

/// Probe-binds 127.0.0.1:0 for every listener of every node (all held at
/// once so they differ), then releases them for the servers.
fn pick_ports(nodes: usize, cluster: bool) -> Vec<Ports> {
    let per_node = if cluster { 4 } else { 3 };
    let held: Vec<TcpListener> = (0..nodes * per_node)
        .map(|_| TcpListener::bind((LOOPBACK, 0)).expect("bind 127.0.0.1:0"))
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect();
    ports
        .chunks(per_node)
        .map(|c| Ports {
            client: c[0],
            http: c[1],
            mqtt: c[2],
            cluster: c.get(3).copied(),
        })
        .collect()
}

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("pigeon-nats-")
        .tempdir()
        .expect("create temp dir for nats-server")
}

/// A plain HTTP/1.0 GET on 127.0.0.1:`port` (the server closes the
/// connection after the response). Returns the status code and the body.
fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("GET {path} on port {port}: {e}"))?;
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {LOOPBACK}:{port}\r\n\r\n");
    let mut response = Vec::new();
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.read_to_end(&mut response))
        .map_err(|e| format!("GET {path} on port {port}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path} on port {port}: no HTTP header in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path} on port {port}: bad status line in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// Connects over MQTT 3.1.1 with a clean session, expects CONNACK
/// "accepted", disconnects.
fn mqtt_probe(port: u16, client_id: &str) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("MQTT probe on port {port}: {e}"))?;
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let id = client_id.as_bytes();
    let mut connect = vec![0x10, (12 + id.len()) as u8];
    // Protocol name "MQTT", level 4 (3.1.1), clean session, keep alive 60 s.
    connect.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60]);
    connect.extend_from_slice(&(id.len() as u16).to_be_bytes());
    connect.extend_from_slice(id);
    let mut connack = [0u8; 4];
    stream
        .write_all(&connect)
        .and_then(|()| stream.read_exact(&mut connack))
        .map_err(|e| format!("MQTT probe on port {port}: no CONNACK: {e}"))?;
    if connack[..2] != [0x20, 0x02] || connack[3] != 0 {
        return Err(format!(
            "MQTT probe on port {port}: CONNACK {connack:02x?} (return code {})",
            connack[3]
        ));
    }
    let _ = stream.write_all(&[0xe0, 0x00]);
    Ok(())
}

/// The number after `"key":` in a JSON text.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let rest = after_key(json, key)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The string after `"key":` in a JSON text (no escapes expected).
fn json_string(json: &str, key: &str) -> Option<String> {
    let rest = after_key(json, key)?.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

fn after_key<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":");
    let at = json.find(&needle)? + needle.len();
    Some(json[at..].trim_start())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn logs_tail(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        let log = node.log();
        let lines: Vec<&str> = log.lines().collect();
        // Our own /healthz polling logs a warning per failed check.
        let lines: Vec<&str> = lines
            .into_iter()
            .filter(|l| !l.contains("Healthcheck failed"))
            .collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        let _ = writeln!(
            out,
            "--- {} (ports {:?}) nats.log, last {} lines ---",
            node.name,
            node.ports,
            lines.len() - from
        );
        for line in &lines[from..] {
            let _ = writeln!(out, "{line}");
        }
        let stderr = read_lossy(&node.stderr_path());
        if !stderr.trim().is_empty() {
            let _ = writeln!(out, "--- {} stderr ---\n{stderr}", node.name);
        }
    }
    out
}

fn fail(why: &str, nodes: &[Node]) -> ! {
    let config = nodes
        .first()
        .map(|n| read_lossy(&n.config_path()))
        .unwrap_or_default();
    panic!(
        "{why}\n--- nats.conf of the first node ---\n{config}\n{}",
        logs_tail(nodes)
    );
}

/// Finds `nats-server` on PATH or in the usual sbin directories (the Debian
/// package installs it in `/usr/sbin`, often not on a non-root PATH).
/// Panics with an install hint if it is missing.
fn find_nats_server() -> PathBuf {
    super::mosquitto::find_installed("nats-server", INSTALL_HINT)
}

fn spawn_failed(e: &std::io::Error) -> ! {
    if e.kind() == ErrorKind::NotFound {
        panic!("nats-server not found: {INSTALL_HINT}");
    }
    panic!("failed to run nats-server: {e}");
}
