//! `strait serve`: runs one node until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::anyhow;
use tracing::info;

use crate::cli::{GlobalArgs, LogFormat, ServeArgs};
use crate::commands::{error_chain, shutdown_signal, usage};
use crate::config_file::{ServeFile, resolve};
use crate::logging;

/// The log filter when none is given: the node's own messages at info, and openraft's,
/// which narrate every vote and heartbeat failure, only from warn up.
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn";

/// Resolves the node's configuration, then serves until a shutdown signal arrives.
pub async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => ServeFile::load(path).map_err(|error| usage(format!("{error:#}")))?,
        None => ServeFile::default(),
    };
    let log_level = global.log_level.clone().or_else(|| file.log_level.clone());
    let log_format = global.log_format.or(file.log_format).unwrap_or(LogFormat::Text);
    logging::init(log_level.as_deref(), DEFAULT_LOG_FILTER, log_format)?;

    let settings =
        resolve(&args, global.account_id.as_deref(), &file).map_err(|error| usage(format!("{error:#}")))?;
    let config = settings
        .node_config()
        .map_err(|error| usage(format!("{error:#}")))?;
    info!(
        node = config.node_id,
        listen = %config.listen,
        advertise = %config.advertise,
        data_dir = %config.data_dir.display(),
        members = ?config.initial_cluster,
        join = ?config.join,
        replication_factor = config.replication_factor,
        "starting node"
    );
    strait_node::serve(config, shutdown_signal())
        .await
        .map_err(|error| anyhow!("the node failed: {}", error_chain(&error)))?;
    info!("node stopped");
    Ok(ExitCode::SUCCESS)
}
