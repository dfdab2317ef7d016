//! Logging to standard error with `tracing`.

use std::io::IsTerminal;

use anyhow::anyhow;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. `filter` is a RUST_LOG-style filter from `--log-level`;
/// without it RUST_LOG is used, and `default` when that is unset too.
pub fn init(filter: Option<&str>, default: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = match filter {
        Some(filter) => EnvFilter::try_new(filter)
            .map_err(|error| anyhow!("--log-level {filter:?} is not a valid filter: {error}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|error| anyhow!("cannot install the logger: {error}"))
}
