//! One module per command, and what they share: the client, signals and exit codes.

pub mod bench;
pub mod cluster;
pub mod dev;
pub mod node;
pub mod put;
pub mod serve;
pub mod stream;
pub mod tail;

use std::process::ExitCode;

use anyhow::anyhow;
use strait_client::StraitClient;
use strait_core::{AccountId, Namespace, Region};

use crate::cli::{Cli, ClusterCommand, Command, GlobalArgs, LogFormat, NodeCommand, StreamCommand};
use crate::logging;

/// An error in how the command was invoked (a bad setting, an unsupported option), reported
/// with exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Runs the command and returns its exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        // `serve` installs logging itself: its config file may set the level.
        Command::Serve(args) => serve::run(&global, *args).await,
        Command::Dev(args) => {
            init_logging(&global, "info")?;
            dev::run(&global, args).await
        }
        Command::Stream(command) => {
            init_logging(&global, "warn")?;
            match command {
                StreamCommand::Create(args) => stream::create(&global, args).await,
                StreamCommand::Delete(args) => stream::delete(&global, args).await,
                StreamCommand::Describe(args) => stream::describe(&global, args).await,
                StreamCommand::List(args) => stream::list(&global, args).await,
                StreamCommand::Split(args) => stream::split(&global, args).await,
                StreamCommand::Merge(args) => stream::merge(&global, args).await,
                StreamCommand::Scale(args) => stream::scale(&global, args).await,
                StreamCommand::Retention(args) => stream::retention(&global, args).await,
            }
        }
        Command::Put(args) => {
            init_logging(&global, "warn")?;
            put::run(&global, args).await
        }
        Command::Tail(args) => {
            init_logging(&global, "warn")?;
            tail::run(&global, args).await
        }
        Command::Cluster(ClusterCommand::Status(args)) => {
            init_logging(&global, "warn")?;
            cluster::status(&global, args).await
        }
        Command::Node(NodeCommand::Decommission(args)) => {
            init_logging(&global, "warn")?;
            node::decommission(&global, args).await
        }
        Command::Bench(args) => {
            init_logging(&global, "warn")?;
            bench::run(&global, args).await
        }
    }
}

fn init_logging(global: &GlobalArgs, default: &str) -> anyhow::Result<()> {
    logging::init(
        global.log_level.as_deref(),
        default,
        global.log_format.unwrap_or(LogFormat::Text),
    )
}

/// Returns the namespace client commands address: `--account-id` and `--region`, the
/// region falling back to AWS_REGION and then us-east-1.
pub fn namespace(global: &GlobalArgs) -> anyhow::Result<Namespace> {
    let account = AccountId::new(
        global
            .account_id
            .clone()
            .unwrap_or_else(|| AccountId::DEFAULT.to_owned()),
    )
    .map_err(|error| usage(format!("--account-id: {}", error.message())))?;
    let region = global
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| Region::DEFAULT.to_owned());
    let region = Region::new(region).map_err(|error| usage(format!("--region: {}", error.message())))?;
    Ok(Namespace::new(account, region))
}

/// Builds the client of the cluster named by `--endpoint`.
pub fn client(global: &GlobalArgs) -> anyhow::Result<StraitClient> {
    StraitClient::builder(global.endpoint.iter().cloned())
        .namespace(namespace(global)?)
        .request_timeout(global.timeout)
        .build()
        .map_err(|error| usage(format!("--endpoint: {}", error.message())))
}

/// Wraps a message as a [`UsageError`].
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow!(UsageError(message.into()))
}

/// Resolves when the process receives SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Renders an error with its chain of causes, `outer: inner: innermost`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
