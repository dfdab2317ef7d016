//! Strait's control plane: the cluster's metadata, replicated by its own Raft group.
//!
//! - [`state`]: the metadata itself ([`ControlState`]: nodes, streams, shards, hash-key
//!   ranges, replica placement, the iterator-signing secret, the routing version) and
//!   its deterministic, synchronous `apply` of [`ControlCommand`]s. Pure: no I/O.
//! - [`placement`]: where a new shard's replicas go: distinct nodes, balanced by replica
//!   and leader counts, with consistent hashing so that the choice moves little when
//!   nodes come and go. Decided by the proposer and stored in the command, never
//!   recomputed on apply.
//! - [`rebalance`]: which replicas to move where, so that groups on nodes that are down or
//!   draining get new replicas and a joining node receives its share; and which leaders
//!   to move so that every node leads about as many groups. Pure, like placement.
//! - [`settings`]: a stream's metadata-only settings (tags, enhanced fan-out consumers,
//!   encryption key, enhanced shard-level metrics),
//!   changed by [`ControlCommand::Settings`] and dropped with the stream.
//! - [`state_machine`]: the openraft state machine around [`ControlState`], with
//!   snapshots persisted in the node's engine.
//!
//! Every node applies the control log (as a voter or a learner), so every node holds the
//! routing table locally and reads it without a network hop.

pub mod placement;
pub mod rebalance;
pub mod settings;
pub mod state;
pub mod state_machine;

pub use settings::{
    AccountCommand, AccountSettings, ConsumerMeta, SettingsCommand, SettingsError, StreamSettings,
};
pub use state::{
    ControlCommand, ControlError, ControlReply, ControlState, GroupMeta, NodeInfo, NodeState, PlannedChild,
    ReshardIntent, ShardMeta, StreamKey, StreamMeta,
};
pub use state_machine::{ControlRaft, ControlRaftConfig, ControlStateMachine, ControlView};
