//! Errors of starting and running a node (not of requests: those are `StraitError`).

use std::io;

/// Why a node could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("storage: {0}")]
    Storage(#[from] io::Error),
    #[error("raft: {0}")]
    Raft(String),
    #[error("cannot bind {address}: {source}")]
    Bind { address: String, source: io::Error },
    #[error("grpc server: {0}")]
    Server(#[from] tonic::transport::Error),
}
