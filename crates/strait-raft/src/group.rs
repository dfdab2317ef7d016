//! Identities shared by every Raft group on a node.

use serde::{Deserialize, Serialize};

/// A node of the cluster. Raft groups use it as their node id.
pub type NodeId = u64;

/// One Raft group: the control plane's, or one shard's. Every Raft RPC carries it, so
/// many groups share one connection per peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupId(pub u64);

impl GroupId {
    /// The control plane's metadata group. Shard groups are numbered from 1.
    pub const CONTROL: GroupId = GroupId(0);

    pub fn is_control(self) -> bool {
        self == Self::CONTROL
    }
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "g{}", self.0)
    }
}
