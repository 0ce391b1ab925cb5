//! `pigeon bench conn | pub | sub`: load generation in the spirit of emqtt-bench.
//!
//! Every connection is a pigeon-mqtt `Client` whose event loop runs in its own task, on one
//! thread by default (`--threads` for more). The open-file limit is raised to its hard value at
//! the start and `-c` is checked against it. A live progress line runs on stderr; the report
//! (text, or JSON with `--json`) goes to stdout.

mod conn;
mod fleet;
mod limits;
mod payload;
mod publish;
mod stats;
mod subscribe;

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::args::{BenchCommand, BenchCommon};
use crate::error::CliError;

use fleet::Progress;
use limits::{FdBudget, Memory};
use stats::{Counters, Report};

/// Runs a bench and prints its report.
pub fn run(command: BenchCommand) -> Result<(), CliError> {
    let common = match &command {
        BenchCommand::Conn(a) => &a.common,
        BenchCommand::Pub(a) => &a.common,
        BenchCommand::Sub(a) => &a.common,
    };
    let budget = FdBudget::raise()?;
    budget.check(common.connections)?;
    if common.connections == 0 {
        return Err(CliError::Usage("-c must be at least 1".to_owned()));
    }
    eprintln!(
        "pigeon bench: the open-file limit ({}, hard {}) leaves room for {} connections",
        budget.soft, budget.hard, budget.connections
    );
    let json = common.json;
    let runtime = runtime(common.threads)?;
    let report = runtime.block_on(async move {
        match command {
            BenchCommand::Conn(a) => conn::run(a, budget).await,
            BenchCommand::Pub(a) => publish::run(a, budget).await,
            BenchCommand::Sub(a) => subscribe::run(a, budget).await,
        }
    })?;
    // Connection tasks that did not end in time must not hold up the exit.
    runtime.shutdown_background();
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if report.made == 0 {
        let first = report.errors.keys().next().cloned().unwrap_or_default();
        return Err(CliError::Bench(format!(
            "no connection could be made ({first})"
        )));
    }
    Ok(())
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| CliError::io("cannot start the Tokio runtime", e))
}

/// Memory of this process and (with `--broker-pid`) of the broker, before connecting.
struct Baseline {
    own: Option<Memory>,
    broker: Option<(u32, Memory)>,
}

impl Baseline {
    fn take(common: &BenchCommon) -> Result<Baseline, CliError> {
        let broker = match common.broker_pid {
            Some(pid) => Some((
                pid,
                Memory::of(pid).ok_or_else(|| {
                    CliError::Usage(format!(
                        "--broker-pid {pid}: cannot read /proc/{pid}/status (no such process?)"
                    ))
                })?,
            )),
            None => None,
        };
        Ok(Baseline {
            own: Memory::own(),
            broker,
        })
    }

    /// (own before/after, broker pid before/after), read now.
    #[allow(clippy::type_complexity)]
    fn now(&self) -> (Option<(Memory, Memory)>, Option<(u32, Memory, Memory)>) {
        let own = self.own.zip(Memory::own());
        let broker = self
            .broker
            .and_then(|(pid, before)| Memory::of(pid).map(|after| (pid, before, after)));
        (own, broker)
    }
}

/// Ctrl-C, seen by every wait from the moment it is pressed.
#[derive(Debug, Clone)]
struct Interrupt(watch::Receiver<bool>);

impl Interrupt {
    /// Listens for Ctrl-C from now on (on the current runtime).
    fn listen() -> Interrupt {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        Interrupt(rx)
    }

    /// Resolves once Ctrl-C has been pressed (at once if it already was).
    async fn wait(&mut self) {
        if self.0.wait_for(|pressed| *pressed).await.is_err() {
            // No signal handling here: never interrupted.
            std::future::pending::<()>().await;
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// The condition became true.
    Done,
    /// The deadline passed.
    TimedOut,
    /// Ctrl-C.
    Interrupted,
}

/// Shows progress every 200 ms until `done()` is true, the deadline passes or Ctrl-C.
async fn wait_for<C, S>(
    progress: &Progress,
    interrupt: &mut Interrupt,
    deadline: Option<Instant>,
    mut done: C,
    mut status: S,
) -> Waited
where
    C: FnMut() -> bool,
    S: FnMut() -> String,
{
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        progress.show(status());
        if done() {
            return Waited::Done;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick() => {}
            () = sleep => return Waited::TimedOut,
            () = interrupt.wait() => return Waited::Interrupted,
        }
    }
}

/// Waits until every connection attempt has its outcome (or Ctrl-C, which stops launching).
async fn wait_connected(
    progress: &Progress,
    interrupt: &mut Interrupt,
    counters: &Counters,
    wanted: u64,
) -> Waited {
    let waited = wait_for(
        progress,
        interrupt,
        None,
        || counters.settled() >= wanted,
        || connect_status(counters, wanted),
    )
    .await;
    if waited == Waited::Interrupted {
        counters
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    waited
}

fn connect_status(counters: &Counters, wanted: u64) -> String {
    let connected = Counters::get(&counters.connected);
    let secs = counters.start.elapsed().as_secs_f64().max(0.001);
    format!(
        "connected {connected}/{wanted}, failed {}, {:.0} connections/s",
        Counters::get(&counters.failed),
        connected as f64 / secs
    )
}

/// The fields every report has, from the counters.
fn base_report(
    command: &'static str,
    budget: FdBudget,
    requested: u64,
    counters: &Counters,
) -> Report {
    Report {
        command,
        budget,
        requested,
        made: Counters::get(&counters.connected),
        failed: Counters::get(&counters.failed),
        lost: Counters::get(&counters.lost),
        connect_elapsed: counters.connect_elapsed(),
        connect_latency: counters.connect_latency.percentiles(),
        errors: counters.errors(),
        messages: None,
        latency: None,
        memory: None,
        broker_memory: None,
    }
}
