//! The cluster's metadata and how commands change it.
//!
//! `apply` is deterministic and synchronous: every replica of the control group computes
//! the same state from the same log. A command that is invalid against the current state
//! (a stream that already exists, say) is not an error of the replica: it is an answer,
//! [`ControlReply::Rejected`], committed like any other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strait_core::{
    HashKey, HashKeyRange, Namespace, RecordPosition, ShardId, StreamIncarnation, StreamMode, StreamName,
    StreamStatus,
};

/// Node ids, as in the Raft groups.
pub type NodeId = u64;

/// A stream's identity: its namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamKey {
    pub namespace: Namespace,
    pub name: StreamName,
}

/// A member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    /// The address peers dial (`host:port`).
    pub address: String,
    /// Whether the node votes in the control group.
    pub voter: bool,
}

/// A stream and its shards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub key: StreamKey,
    pub incarnation: StreamIncarnation,
    pub status: StreamStatus,
    pub mode: StreamMode,
    pub retention_hours: u32,
    pub created_at_ms: u64,
    pub shards: BTreeMap<ShardId, ShardMeta>,
    /// The ordinal the next shard gets; ordinals are never reused in a stream.
    pub next_shard_ordinal: u32,
}

impl StreamMeta {
    /// The open shard owning `hash_key`.
    pub fn shard_for(&self, hash_key: HashKey) -> Option<&ShardMeta> {
        self.shards
            .values()
            .find(|s| s.closed_at_ms.is_none() && s.range.contains(hash_key))
    }

    pub fn open_shards(&self) -> impl Iterator<Item = &ShardMeta> {
        self.shards.values().filter(|s| s.closed_at_ms.is_none())
    }
}

/// A shard of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub id: ShardId,
    pub range: HashKeyRange,
    pub parent: Option<ShardId>,
    pub adjacent_parent: Option<ShardId>,
    /// The Raft group holding the shard's records.
    pub group: u64,
    pub created_at_ms: u64,
    pub closed_at_ms: Option<u64>,
    /// Position after the last record, once closed.
    pub ending: Option<RecordPosition>,
}

/// A shard group and where its replicas live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMeta {
    pub id: u64,
    pub stream: StreamKey,
    pub incarnation: StreamIncarnation,
    pub shard: ShardId,
    /// Replica nodes; the first one initializes the group.
    pub replicas: Vec<NodeId>,
}

/// Changes to the metadata. Stored in the control log: variants may be added, never
/// renumbered or changed in meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlCommand {
    /// The first entry of a cluster: its initial members and iterator-signing secret.
    Bootstrap {
        nodes: Vec<NodeInfo>,
        iterator_secret: Vec<u8>,
    },
    /// Creates a stream in CREATING with `shard_count` evenly divided shards whose
    /// replicas are `placements[i]` for shard `i`.
    CreateStream {
        key: StreamKey,
        shard_count: u32,
        mode: StreamMode,
        retention_hours: u32,
        now_ms: u64,
        placements: Vec<Vec<NodeId>>,
    },
    /// Marks a stream ACTIVE once every shard group has a leader.
    ActivateStream {
        key: StreamKey,
        incarnation: StreamIncarnation,
    },
    /// Removes a stream; its groups are shut down and their data deleted on every node.
    DeleteStream { key: StreamKey },
}

impl std::fmt::Display for ControlCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlCommand::Bootstrap { nodes, .. } => {
                write!(f, "bootstrap({} nodes)", nodes.len())
            }
            ControlCommand::CreateStream { key, shard_count, .. } => {
                write!(f, "create-stream({}, {shard_count} shards)", key.name)
            }
            ControlCommand::ActivateStream { key, .. } => {
                write!(f, "activate-stream({})", key.name)
            }
            ControlCommand::DeleteStream { key } => write!(f, "delete-stream({})", key.name),
        }
    }
}

/// Why the control plane refused a command. Deterministic: part of the replicated reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ControlError {
    #[error("stream {0} already exists")]
    StreamExists(StreamName),
    #[error("stream {0} not found")]
    StreamNotFound(StreamName),
    #[error("already bootstrapped")]
    AlreadyBootstrapped,
    #[error("invalid placement: {0}")]
    InvalidPlacement(String),
}

/// What applying a command answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlReply {
    Done,
    StreamCreated { incarnation: StreamIncarnation },
    Rejected(ControlError),
}

/// The whole metadata of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlState {
    pub bootstrapped: bool,
    pub iterator_secret: Vec<u8>,
    pub nodes: BTreeMap<NodeId, NodeInfo>,
    pub streams: BTreeMap<StreamKey, StreamMeta>,
    pub groups: BTreeMap<u64, GroupMeta>,
    /// Shard groups are numbered from 1; 0 is the control group.
    pub next_group: u64,
    pub next_incarnation: u64,
    /// Bumped by every change to which shard owns which hash keys.
    pub routing_version: u64,
}

impl ControlState {
    /// Applies one committed command.
    pub fn apply(&mut self, command: &ControlCommand) -> ControlReply {
        match self.try_apply(command) {
            Ok(reply) => reply,
            Err(e) => ControlReply::Rejected(e),
        }
    }

    fn try_apply(&mut self, command: &ControlCommand) -> Result<ControlReply, ControlError> {
        match command {
            ControlCommand::Bootstrap {
                nodes,
                iterator_secret,
            } => {
                if self.bootstrapped {
                    return Err(ControlError::AlreadyBootstrapped);
                }
                self.bootstrapped = true;
                self.iterator_secret = iterator_secret.clone();
                self.nodes = nodes.iter().map(|n| (n.id, n.clone())).collect();
                self.next_group = self.next_group.max(1);
                self.next_incarnation = self.next_incarnation.max(1);
                Ok(ControlReply::Done)
            }
            ControlCommand::CreateStream {
                key,
                shard_count,
                mode,
                retention_hours,
                now_ms,
                placements,
            } => {
                if self.streams.contains_key(key) {
                    return Err(ControlError::StreamExists(key.name.clone()));
                }
                if placements.len() != *shard_count as usize {
                    return Err(ControlError::InvalidPlacement(format!(
                        "{} placements for {shard_count} shards",
                        placements.len()
                    )));
                }
                for replicas in placements {
                    let mut distinct = replicas.clone();
                    distinct.sort_unstable();
                    distinct.dedup();
                    if replicas.is_empty()
                        || distinct.len() != replicas.len()
                        || replicas.iter().any(|n| !self.nodes.contains_key(n))
                    {
                        return Err(ControlError::InvalidPlacement(format!(
                            "replicas {replicas:?} are not distinct known nodes"
                        )));
                    }
                }
                let incarnation = StreamIncarnation::new(self.next_incarnation)
                    .ok_or_else(|| ControlError::InvalidPlacement("stream incarnations exhausted".into()))?;
                self.next_incarnation += 1;
                let mut shards = BTreeMap::new();
                for (ordinal, range) in HashKeyRange::even_split(*shard_count).into_iter().enumerate() {
                    let shard = ShardId(ordinal as u32);
                    let group = self.next_group;
                    self.next_group += 1;
                    self.groups.insert(
                        group,
                        GroupMeta {
                            id: group,
                            stream: key.clone(),
                            incarnation,
                            shard,
                            replicas: placements[ordinal].clone(),
                        },
                    );
                    shards.insert(
                        shard,
                        ShardMeta {
                            id: shard,
                            range,
                            parent: None,
                            adjacent_parent: None,
                            group,
                            created_at_ms: *now_ms,
                            closed_at_ms: None,
                            ending: None,
                        },
                    );
                }
                self.streams.insert(
                    key.clone(),
                    StreamMeta {
                        key: key.clone(),
                        incarnation,
                        status: StreamStatus::Creating,
                        mode: *mode,
                        retention_hours: *retention_hours,
                        created_at_ms: *now_ms,
                        shards,
                        next_shard_ordinal: *shard_count,
                    },
                );
                self.routing_version += 1;
                Ok(ControlReply::StreamCreated { incarnation })
            }
            ControlCommand::ActivateStream { key, incarnation } => {
                let stream = self
                    .streams
                    .get_mut(key)
                    .filter(|s| s.incarnation == *incarnation)
                    .ok_or_else(|| ControlError::StreamNotFound(key.name.clone()))?;
                if stream.status == StreamStatus::Creating {
                    stream.status = StreamStatus::Active;
                }
                Ok(ControlReply::Done)
            }
            ControlCommand::DeleteStream { key } => {
                let stream = self
                    .streams
                    .remove(key)
                    .ok_or_else(|| ControlError::StreamNotFound(key.name.clone()))?;
                for shard in stream.shards.values() {
                    self.groups.remove(&shard.group);
                }
                self.routing_version += 1;
                Ok(ControlReply::Done)
            }
        }
    }

    /// The shard groups with a replica on `node`.
    pub fn groups_on(&self, node: NodeId) -> impl Iterator<Item = &GroupMeta> {
        self.groups.values().filter(move |g| g.replicas.contains(&node))
    }

    /// `(replicas, preferred leaders)` per node, for placement.
    pub fn load(&self) -> BTreeMap<NodeId, (usize, usize)> {
        let mut load: BTreeMap<NodeId, (usize, usize)> = self.nodes.keys().map(|&n| (n, (0, 0))).collect();
        for group in self.groups.values() {
            for (i, node) in group.replicas.iter().enumerate() {
                let entry = load.entry(*node).or_default();
                entry.0 += 1;
                if i == 0 {
                    entry.1 += 1;
                }
            }
        }
        load
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::{AccountId, Region};

    fn key(name: &str) -> StreamKey {
        StreamKey {
            namespace: Namespace {
                account: AccountId::default_account(),
                region: Region::default_region(),
            },
            name: StreamName::new(name).unwrap(),
        }
    }

    fn bootstrapped() -> ControlState {
        let mut state = ControlState::default();
        let nodes = (1..=3)
            .map(|id| NodeInfo {
                id,
                address: format!("127.0.0.1:700{id}"),
                voter: true,
            })
            .collect();
        assert_eq!(
            state.apply(&ControlCommand::Bootstrap {
                nodes,
                iterator_secret: vec![7; 32]
            }),
            ControlReply::Done
        );
        state
    }

    fn create(state: &mut ControlState, name: &str, shards: u32) -> ControlReply {
        state.apply(&ControlCommand::CreateStream {
            key: key(name),
            shard_count: shards,
            mode: StreamMode::Provisioned,
            retention_hours: 24,
            now_ms: 1000,
            placements: (0..shards).map(|_| vec![1, 2, 3]).collect(),
        })
    }

    #[test]
    fn a_created_stream_covers_the_key_space_with_one_group_per_shard() {
        let mut state = bootstrapped();
        let reply = create(&mut state, "orders", 4);
        assert!(matches!(reply, ControlReply::StreamCreated { .. }));
        let stream = &state.streams[&key("orders")];
        assert_eq!(stream.status, StreamStatus::Creating);
        let ranges: Vec<_> = stream.shards.values().map(|s| s.range).collect();
        HashKeyRange::check_coverage(&ranges).unwrap();
        assert_eq!(state.groups.len(), 4);
        assert_eq!(state.routing_version, 1);
    }

    #[test]
    fn a_second_stream_of_the_same_name_is_rejected() {
        let mut state = bootstrapped();
        create(&mut state, "orders", 1);
        assert_eq!(
            create(&mut state, "orders", 1),
            ControlReply::Rejected(ControlError::StreamExists(StreamName::new("orders").unwrap()))
        );
    }

    #[test]
    fn a_recreated_stream_gets_a_new_incarnation_and_new_groups() {
        let mut state = bootstrapped();
        let ControlReply::StreamCreated { incarnation: first } = create(&mut state, "orders", 2) else {
            panic!("not created")
        };
        state.apply(&ControlCommand::DeleteStream { key: key("orders") });
        assert!(state.groups.is_empty());
        let ControlReply::StreamCreated { incarnation: second } = create(&mut state, "orders", 2) else {
            panic!("not created")
        };
        assert_ne!(first, second);
        assert!(state.groups.keys().all(|&g| g > 2), "group ids are never reused");
    }

    #[test]
    fn placements_must_name_distinct_known_nodes() {
        let mut state = bootstrapped();
        let reply = state.apply(&ControlCommand::CreateStream {
            key: key("bad"),
            shard_count: 1,
            mode: StreamMode::Provisioned,
            retention_hours: 24,
            now_ms: 0,
            placements: vec![vec![1, 1, 9]],
        });
        assert!(matches!(
            reply,
            ControlReply::Rejected(ControlError::InvalidPlacement(_))
        ));
        assert!(state.streams.is_empty());
    }

    #[test]
    fn activation_moves_creating_to_active() {
        let mut state = bootstrapped();
        let ControlReply::StreamCreated { incarnation } = create(&mut state, "orders", 1) else {
            panic!("not created")
        };
        state.apply(&ControlCommand::ActivateStream {
            key: key("orders"),
            incarnation,
        });
        assert_eq!(state.streams[&key("orders")].status, StreamStatus::Active);
    }
}
