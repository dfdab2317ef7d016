//! openraft glue for Strait: storage adapters, the shard group, and the multi-group
//! network.
//!
//! - [`group`]: group and node identities.
//! - [`log_store`]: the Raft log of any group in the node's shared engine, with group
//!   commit through the node's flusher.
//! - [`snapshot`]: snapshots as lazily produced, checksummed chunks.
//! - [`shard`]: a shard's type config, commands, state machine, record reader and the
//!   leader's group-commit batcher.
//! - [`network`]: every group's Raft traffic over one connection per peer.
//! - [`config`]: Raft timing defaults for shard and control groups.
//! - [`quiescence`]: idle shard groups stop their timers; one ping per peer stands in
//!   for their heartbeats.
//! - [`clock`]: wall-clock time behind a seam for the simulation.
//!
//! The control plane's state machine lives in `strait-control`, built on the same log
//! store, snapshot and network.

pub mod clock;
pub mod codec;
pub mod config;
pub mod group;
pub mod log_cache;
pub mod log_store;
pub mod network;
pub mod quiescence;
pub mod shard;
pub mod snapshot;

pub use clock::{Clock, SystemClock};
pub use group::{GroupId, NodeId};
pub use log_store::{AppliedFloor, LogStore};
pub use snapshot::SnapshotData;
