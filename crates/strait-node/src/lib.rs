//! A Strait node: the crate that wires storage, Raft groups and the control plane
//! together and serves them.
//!
//! - [`config`]: the node's typed configuration.
//! - [`node`]: start-up, the running node, clean shutdown ([`serve`]).
//! - [`control`]: this node's handle on the control plane (local metadata replica,
//!   proposals through the leader from anywhere).
//! - [`disk_guard`]: refuses writes while the disk is nearly full.
//! - [`shards`]: the shard groups hosted here, kept in step with the metadata.
//! - [`shard_access`]: reaching any shard group from any node (appends to the leader,
//!   reads from the leader or a replica).
//! - [`operations`]: the operations both front doors call.
//! - [`reshard`]: split and merge (intent, seal, switch); [`scaling`]: UpdateShardCount as
//!   a plan of splits and merges.
//! - [`settings_ops`]: tags and consumers, kept in the control plane.
//! - [`reconciler`]: what the control leader drives (bootstrap, stream activation).
//! - [`membership`]: joins, down nodes, decommissioning, replica and leader balance (on
//!   the control leader); [`replica_moves`]: moves carried out by the groups' leaders.
//! - [`status`]: cluster status and readiness.
//! - [`health`]: `/readyz` and `/metrics` of the HTTP listener; [`metrics`]: what the
//!   node records and exposes to Prometheus; [`drain`]: leadership hand-off on shutdown.
//! - [`grpc`]: the gRPC services.
//!
//! New request handling goes into [`operations`] (once) and is translated in each front
//! door; new background work of the control leader goes into [`reconciler`].

pub mod config;
pub mod control;
pub mod disk_guard;
pub mod drain;
pub mod error;
pub mod grpc;
pub mod health;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod operations;
pub mod reconciler;
pub mod replica_moves;
pub mod reshard;
pub mod retention;
pub mod scaling;
mod service_impl;
pub mod settings_ops;
pub mod shard_access;
pub mod shards;
pub mod status;
pub mod throughput;

pub use config::NodeConfig;
pub use error::NodeError;
pub use node::{NodeEnvironment, serve, serve_with};
