//! The `strait` binary: runs a node or a local cluster, and manages and uses streams.
//!
//! # Layout
//!
//! - `cli` declares every command and flag with clap, including the help text.
//! - `parse` holds the parsers of flag values (addresses, the initial cluster, durations,
//!   `--from`, timestamps), shared with the config file.
//! - `config_file` reads `strait serve`'s TOML file and layers defaults, file, environment
//!   and flags into the node's configuration.
//! - `commands` has one module per command: `serve`, `dev`, `stream`, `put`, `tail` and
//!   `cluster`. Each parses nothing itself; it gets typed arguments and returns an exit code.
//! - `output` renders records, JSON and tables; `logging` installs the `tracing` subscriber.
//!
//! Errors end up in [`report`], which prints `error: <name>: <message>` and picks the exit
//! code: 1 when the cluster answered with an error, 2 when it could not be reached or the
//! command line was wrong.

mod cli;
mod commands;
mod config_file;
mod identity;
mod logging;
mod output;
mod parse;

use std::process::ExitCode;

use clap::Parser;
use strait_client::ClientError;

use crate::cli::Cli;
use crate::commands::UsageError;

/// A node allocates and frees small buffers for every request, Raft message and stored
/// entry from many threads at once; mimalloc's per-thread free lists make that cheaper
/// than the C library's allocator (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strait")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(commands::run(cli));
    // Readers and forwarders may still be running; they hold nothing worth waiting for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

/// Prints an error to standard error and returns the exit code it calls for.
fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(client) = error.downcast_ref::<ClientError>() {
        eprintln!("error: {client}");
        return if client.is_unreachable() {
            ExitCode::from(2)
        } else {
            ExitCode::FAILURE
        };
    }
    if let Some(usage) = error.downcast_ref::<UsageError>() {
        eprintln!("error: {usage}");
        return ExitCode::from(2);
    }
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}
