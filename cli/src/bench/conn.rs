//! `pigeon bench conn`: open connections at a rate, hold them, report rate and memory.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::args::BenchConnArgs;
use crate::error::CliError;

use super::fleet::{drive, launch, shutdown, Plan, Progress};
use super::limits::FdBudget;
use super::stats::{Counters, Report};
use super::{base_report, wait_connected, wait_for, Baseline, Interrupt, Waited};

/// Opens the connections, measures, holds them for `--hold` seconds, closes them.
pub async fn run(args: BenchConnArgs, budget: FdBudget) -> Result<Report, CliError> {
    let common = &args.common;
    if !(args.hold >= 0.0 && args.hold.is_finite()) {
        return Err(CliError::Usage(
            "--hold must be 0 or more seconds".to_owned(),
        ));
    }
    let plan = Arc::new(Plan::new(common, "conn")?);
    let mut interrupt = Interrupt::listen();
    let progress = Progress::new();
    let counters = Arc::new(Counters::new());
    let baseline = Baseline::take(common)?;

    let job_counters = counters.clone();
    let launcher = tokio::spawn(launch(
        plan.clone(),
        counters.clone(),
        move |_, client, el| {
            // The launcher keeps a handle for the shutdown; this task only runs the event loop.
            drop(client);
            drive(el, job_counters.clone())
        },
    ));
    let waited = wait_connected(&progress, &mut interrupt, &counters, plan.count).await;
    let clients = launcher.await.unwrap_or_default();
    let (memory, broker_memory) = baseline.now();
    let made = Counters::get(&counters.connected);
    progress.say(&format!(
        "{made} connections made, {} failed",
        Counters::get(&counters.failed)
    ));
    if waited == Waited::Done && args.hold > 0.0 {
        let until = Instant::now() + Duration::from_secs_f64(args.hold);
        wait_for(
            &progress,
            &mut interrupt,
            Some(until),
            || false,
            || {
                format!(
                    "holding {made} connections ({} lost)",
                    Counters::get(&counters.lost)
                )
            },
        )
        .await;
    }
    progress.show(format!("closing {} connections", clients.len()));
    shutdown(clients, &counters, Duration::from_secs(10)).await;
    progress.finish();
    let mut report = base_report("conn", budget, plan.count, &counters);
    report.memory = memory;
    report.broker_memory = broker_memory;
    Ok(report)
}
