//! A shard's Raft group: its commands, state machine, stored records and group commit.
//!
//! - [`command`]: what a shard's log entries carry ([`ShardCommand`]) and what applying
//!   one answers ([`ShardReply`]).
//! - [`state_machine`]: applies entries. Records are not copied: an applied `Append`
//!   entry in the log *is* the stored batch. Applying updates small metadata only
//!   (arrival index, producer dedup table, the shard's tip).
//! - [`records`]: reads records back out of applied entries, by position or arrival time.
//! - [`batcher`]: the leader's group commit, turning concurrent appends into one entry.

pub mod batcher;
pub mod command;
pub mod records;
pub mod state_machine;

pub use batcher::{AppendError, ShardBatcher, seal};
pub use command::{AppendBatch, BatchOutcome, ProducerBatch, ShardCommand, ShardRecord, ShardReply};
pub use records::{SealedLookup, ShardReader};
pub use state_machine::{ShardStateMachine, ShardTip};

use openraft_rt_tokio::TokioRuntime;

openraft::declare_raft_types!(
    /// The Raft type configuration of every shard group.
    pub ShardRaftConfig:
        D = ShardCommand,
        R = ShardReply,
        NodeId = u64,
        Node = openraft::BasicNode,
        AsyncRuntime = openraft::rt::deterministic_rng::DeterministicRng<TokioRuntime>,
);

/// A shard group's Raft handle.
pub type ShardRaft = openraft::Raft<ShardRaftConfig, ShardStateMachine>;
