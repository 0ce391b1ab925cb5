//! `pigeon`: publish, subscribe and load-test MQTT brokers from the command line, built on the
//! pigeon-mqtt client's public API.
//!
//! ```text
//! pigeon sub -t /mq/pub -v
//! pigeon pub -t /mq/pub -m '{"data":111}' -q 1
//! pigeon bench conn -c 10000 --ifaddr 127.0.0.1,127.0.0.2
//! ```
//!
//! `pub` and `sub` take mosquitto_pub's and mosquitto_sub's flags; `bench` follows
//! emqtt-bench. Errors are one line on stderr; exit statuses are mosquitto's (see
//! [`error`]).
#![forbid(unsafe_code)]

mod args;
mod bench;
mod error;
mod options;
mod output;
mod props;
mod publish;
mod session;
mod subscribe;

use std::process::ExitCode;

use args::{Cli, Command};
use error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse_grouped();
    let result = match cli.command {
        Command::Pub(args) => block_on(publish::run(args)),
        Command::Sub(args) => block_on(subscribe::run(args)),
        Command::Bench(command) => bench::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pigeon: {e}");
            e.exit_code()
        }
    }
}

/// `pub` and `sub` run one connection: a runtime on this thread is all they need.
fn block_on<F: std::future::Future<Output = Result<(), CliError>>>(f: F) -> Result<(), CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("cannot start the Tokio runtime", e))?
        .block_on(f)
}
