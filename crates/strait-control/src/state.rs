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
    /// Whether the node takes new replicas or is being emptied.
    pub state: NodeState,
}

/// Where a member is in its life in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Holds replicas and is given new ones.
    Active,
    /// Being decommissioned: its replicas move to other nodes and it gets no new ones.
    /// Once it holds none, it is removed from the cluster.
    Draining,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Draining => "draining",
        }
    }
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
    /// A split or merge in flight: its children's groups exist, its parents are being
    /// sealed, and the routing switch has not committed yet.
    #[serde(default)]
    pub reshard: Option<ReshardIntent>,
    /// Records that arrived before this time stay expired whatever the retention becomes:
    /// increasing the retention never brings expired records back.
    #[serde(default)]
    pub expired_before_ms: u64,
}

impl StreamMeta {
    /// Records that arrived before the returned time (ms) are past retention at `now_ms`.
    pub fn retention_horizon_ms(&self, now_ms: u64) -> u64 {
        let retention_ms = u64::from(self.retention_hours) * 3_600_000;
        now_ms.saturating_sub(retention_ms).max(self.expired_before_ms)
    }
}

/// A split or merge recorded before it is carried out, so that whichever node leads the
/// control plane can finish it: seal every parent, then commit the switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshardIntent {
    pub id: u64,
    /// Shards to close (one for a split, two for a merge).
    pub parents: Vec<ShardId>,
    /// Shards to open once every parent is sealed.
    pub children: Vec<ShardMeta>,
    pub started_at_ms: u64,
}

/// A child shard a reshard will open, with where its replicas go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChild {
    pub range: HashKeyRange,
    pub parent: ShardId,
    pub adjacent_parent: Option<ShardId>,
    pub replicas: Vec<NodeId>,
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
    /// The nodes that should hold the group's replicas, its voters once every move in
    /// flight is done. Until the group is [`initialized`](Self::initialized) these are the
    /// members it is initialized with, and they do not change.
    pub replicas: Vec<NodeId>,
    /// Nodes a replica is moving away from: they keep hosting the group until its leader
    /// has taken them out of the group's Raft membership and said so
    /// ([`ControlCommand::ReplicaRetired`]); only then do they delete its data.
    pub retiring: Vec<NodeId>,
    /// Retired nodes that have not yet confirmed deleting their copy
    /// ([`ControlCommand::ReplicaDeleted`]). None of them gets a replica of the group again
    /// before it confirms: a node whose metadata lags could otherwise answer for the new
    /// replica with its old copy and then delete it, taking acknowledged entries with it.
    pub deleting: Vec<NodeId>,
    /// Whether the group has had a leader ([`ControlCommand::GroupsInitialized`]). Before
    /// that, any of its `replicas` whose copy is still pristine may initialize it with
    /// `replicas` (identical configurations, which Raft tolerates), and no replica moves:
    /// so a group created while one of its nodes is down still gets a log, and no node
    /// ever initializes a group that has one, even with an emptied copy.
    pub initialized: bool,
}

impl GroupMeta {
    /// Whether a replica move of this group is in flight.
    pub fn moving(&self) -> bool {
        !self.retiring.is_empty()
    }

    /// Whether `node` hosts (or still hosts) a replica of the group.
    pub fn hosted_on(&self, node: NodeId) -> bool {
        self.replicas.contains(&node) || self.retiring.contains(&node)
    }

    /// Whether `node` may be given a replica of the group: it holds none and has no old
    /// copy left to delete.
    pub fn can_move_to(&self, node: NodeId) -> bool {
        !self.replicas.contains(&node) && !self.deleting.contains(&node)
    }
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
    /// Records a split or merge: closes nothing yet, creates the children's groups so their
    /// replicas start, and marks the stream UPDATING.
    BeginReshard {
        key: StreamKey,
        parents: Vec<ShardId>,
        children: Vec<PlannedChild>,
        now_ms: u64,
    },
    /// Sets a stream's retention period. Records already expired stay expired.
    SetRetention {
        key: StreamKey,
        retention_hours: u32,
        now_ms: u64,
    },
    /// Commits a reshard whose parents are sealed: parents close at their sealed
    /// positions, children open, in one step (one routing version).
    CompleteReshard {
        key: StreamKey,
        intent: u64,
        /// Each parent's position after its last record.
        endings: Vec<(ShardId, RecordPosition)>,
        now_ms: u64,
    },
    /// Changes a stream's metadata-only settings (tags, consumers).
    Settings {
        key: StreamKey,
        command: crate::settings::SettingsCommand,
    },
    /// Admits a node that asked to join. Repeating it (a joining node retrying) is
    /// harmless; an id already taken by another address, or once removed, is refused.
    AddNode { node: NodeInfo },
    /// Moves one replica of a group from `from` to `to`: `to` joins the placement at once
    /// (its replica starts and catches up), `from` keeps hosting until the group's leader
    /// retires it. The planner moves one replica per group at a time, except to replace a
    /// replica whose node went down in the middle of a move.
    MoveReplica { group: u64, from: NodeId, to: NodeId },
    /// The group's leader took `node` out of the group's Raft membership: the node may
    /// delete its replica. Ignored unless `node` is retiring from the group.
    ReplicaRetired { group: u64, node: NodeId },
    /// Starts decommissioning a node: it gets no new replicas and its replicas move away.
    DrainNode { id: NodeId },
    /// Removes a drained node that hosts no replica. Its id is never reused.
    RemoveNode { id: NodeId },
    /// `node` deleted its copy of a group it retired from.
    ReplicaDeleted { group: u64, node: NodeId },
    /// Switches an ACTIVE stream between provisioned and on-demand capacity, with the
    /// warm throughput an on-demand stream keeps (cleared for a provisioned one).
    SetStreamMode {
        key: StreamKey,
        mode: StreamMode,
        warm_throughput_mibps: Option<u32>,
    },
    /// Changes an account's settings in one region.
    Account {
        namespace: Namespace,
        command: crate::settings::AccountCommand,
    },
    /// These groups have had a leader: from now on no node initializes them, and their
    /// replicas may move. Unknown groups are skipped.
    GroupsInitialized { groups: Vec<u64> },
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
            ControlCommand::BeginReshard {
                key,
                parents,
                children,
                ..
            } => write!(
                f,
                "begin-reshard({}, {} parents, {} children)",
                key.name,
                parents.len(),
                children.len()
            ),
            ControlCommand::SetRetention {
                key, retention_hours, ..
            } => write!(f, "set-retention({}, {retention_hours} h)", key.name),
            ControlCommand::CompleteReshard { key, intent, .. } => {
                write!(f, "complete-reshard({}, intent {intent})", key.name)
            }
            ControlCommand::Settings { key, .. } => write!(f, "settings({})", key.name),
            ControlCommand::AddNode { node } => write!(f, "add-node({} at {})", node.id, node.address),
            ControlCommand::MoveReplica { group, from, to } => {
                write!(f, "move-replica(group {group}, {from} -> {to})")
            }
            ControlCommand::ReplicaRetired { group, node } => {
                write!(f, "replica-retired(group {group}, node {node})")
            }
            ControlCommand::DrainNode { id } => write!(f, "drain-node({id})"),
            ControlCommand::RemoveNode { id } => write!(f, "remove-node({id})"),
            ControlCommand::ReplicaDeleted { group, node } => {
                write!(f, "replica-deleted(group {group}, node {node})")
            }
            ControlCommand::SetStreamMode { key, mode, .. } => {
                write!(f, "set-stream-mode({}, {})", key.name, mode.as_kinesis_str())
            }
            ControlCommand::Account { namespace, .. } => {
                write!(f, "account({}, {})", namespace.account, namespace.region)
            }
            ControlCommand::GroupsInitialized { groups } => write!(f, "groups-initialized({groups:?})"),
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
    #[error("stream {0} is not ACTIVE")]
    StreamNotActive(StreamName, StreamStatus),
    #[error("shard {0} is not an open shard of the stream")]
    ShardNotOpen(ShardId),
    #[error("the reshard is not the stream's reshard in flight")]
    NoSuchReshard,
    #[error("the children of a reshard do not cover exactly its parents")]
    ChildrenDoNotCoverParents,
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error("node {0} is already a member at {1}")]
    NodeIdTaken(NodeId, String),
    #[error("node {0} was removed from the cluster; a returning node needs a new id")]
    NodeRemoved(NodeId),
    #[error("node {0} is not a member")]
    NodeNotFound(NodeId),
    #[error("invalid replica move: {0}")]
    InvalidMove(String),
    #[error("node {0} still hosts {1} replicas")]
    NodeNotDrained(NodeId, usize),
}

/// What applying a command answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlReply {
    Done,
    StreamCreated { incarnation: StreamIncarnation },
    ReshardStarted { intent: u64 },
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
    /// Each stream's tags and consumers; a stream without any has no entry.
    #[serde(default)]
    pub settings: BTreeMap<StreamKey, crate::settings::StreamSettings>,
    /// Ids of nodes removed from the cluster; they are never reused.
    pub removed_nodes: std::collections::BTreeSet<NodeId>,
    /// Each account's settings per region; an account that never changed any has no entry.
    #[serde(default)]
    pub accounts: BTreeMap<Namespace, crate::settings::AccountSettings>,
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
                            retiring: Vec::new(),
                            deleting: Vec::new(),
                            initialized: false,
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
                        reshard: None,
                        expired_before_ms: 0,
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
                // The children of a reshard in flight have groups too.
                let children = stream.reshard.iter().flat_map(|r| r.children.iter());
                for shard in stream.shards.values().chain(children) {
                    self.groups.remove(&shard.group);
                }
                self.settings.remove(key);
                self.routing_version += 1;
                Ok(ControlReply::Done)
            }
            ControlCommand::BeginReshard {
                key,
                parents,
                children,
                now_ms,
            } => self.begin_reshard(key, parents, children, *now_ms),
            ControlCommand::CompleteReshard {
                key,
                intent,
                endings,
                now_ms,
            } => self.complete_reshard(key, *intent, endings, *now_ms),
            ControlCommand::Settings { key, command } => {
                if !self.streams.contains_key(key) {
                    return Err(ControlError::StreamNotFound(key.name.clone()));
                }
                let settings = self.settings.entry(key.clone()).or_default();
                let result = settings.apply(command);
                if settings.is_empty() {
                    self.settings.remove(key);
                }
                result?;
                Ok(ControlReply::Done)
            }
            ControlCommand::AddNode { node } => self.add_node(node),
            ControlCommand::MoveReplica { group, from, to } => self.move_replica(*group, *from, *to),
            ControlCommand::ReplicaRetired { group, node } => {
                if let Some(meta) = self.groups.get_mut(group)
                    && meta.retiring.contains(node)
                {
                    meta.retiring.retain(|n| n != node);
                    meta.deleting.push(*node);
                }
                Ok(ControlReply::Done)
            }
            ControlCommand::ReplicaDeleted { group, node } => {
                if let Some(meta) = self.groups.get_mut(group) {
                    meta.deleting.retain(|n| n != node);
                }
                Ok(ControlReply::Done)
            }
            ControlCommand::SetStreamMode {
                key,
                mode,
                warm_throughput_mibps,
            } => {
                let stream = self
                    .streams
                    .get_mut(key)
                    .ok_or_else(|| ControlError::StreamNotFound(key.name.clone()))?;
                if stream.status != StreamStatus::Active {
                    return Err(ControlError::StreamNotActive(key.name.clone(), stream.status));
                }
                stream.mode = *mode;
                let warm = match mode {
                    StreamMode::OnDemand => *warm_throughput_mibps,
                    StreamMode::Provisioned => None,
                };
                let settings = self.settings.entry(key.clone()).or_default();
                settings.warm_throughput_mibps = warm;
                if settings.is_empty() {
                    self.settings.remove(key);
                }
                Ok(ControlReply::Done)
            }
            ControlCommand::Account { namespace, command } => {
                let account = self.accounts.entry(namespace.clone()).or_default();
                account.apply(command);
                Ok(ControlReply::Done)
            }
            ControlCommand::GroupsInitialized { groups } => {
                for group in groups {
                    if let Some(meta) = self.groups.get_mut(group) {
                        meta.initialized = true;
                    }
                }
                Ok(ControlReply::Done)
            }
            ControlCommand::DrainNode { id } => {
                let node = self.nodes.get_mut(id).ok_or(ControlError::NodeNotFound(*id))?;
                node.state = NodeState::Draining;
                Ok(ControlReply::Done)
            }
            ControlCommand::RemoveNode { id } => {
                let node = self.nodes.get(id).ok_or(ControlError::NodeNotFound(*id))?;
                if node.state != NodeState::Draining {
                    return Err(ControlError::InvalidMove(format!("node {id} is not draining")));
                }
                let hosted = self.groups.values().filter(|g| g.hosted_on(*id)).count();
                if hosted > 0 {
                    return Err(ControlError::NodeNotDrained(*id, hosted));
                }
                // A removed node never returns under its id: nothing waits for it.
                for group in self.groups.values_mut() {
                    group.deleting.retain(|n| n != id);
                }
                self.nodes.remove(id);
                self.removed_nodes.insert(*id);
                Ok(ControlReply::Done)
            }
            ControlCommand::SetRetention {
                key,
                retention_hours,
                now_ms,
            } => {
                let stream = self
                    .streams
                    .get_mut(key)
                    .ok_or_else(|| ControlError::StreamNotFound(key.name.clone()))?;
                stream.expired_before_ms = stream.retention_horizon_ms(*now_ms);
                stream.retention_hours = *retention_hours;
                Ok(ControlReply::Done)
            }
        }
    }

    fn begin_reshard(
        &mut self,
        key: &StreamKey,
        parents: &[ShardId],
        children: &[PlannedChild],
        now_ms: u64,
    ) -> Result<ControlReply, ControlError> {
        let known_nodes: Vec<NodeId> = self.nodes.keys().copied().collect();
        let stream = self
            .streams
            .get_mut(key)
            .ok_or_else(|| ControlError::StreamNotFound(key.name.clone()))?;
        if stream.status != StreamStatus::Active || stream.reshard.is_some() {
            return Err(ControlError::StreamNotActive(key.name.clone(), stream.status));
        }
        let mut parent_ranges = Vec::new();
        for parent in parents {
            match stream.shards.get(parent) {
                Some(shard) if shard.closed_at_ms.is_none() => parent_ranges.push(shard.range),
                _ => return Err(ControlError::ShardNotOpen(*parent)),
            }
        }
        if !same_span(
            &parent_ranges,
            &children.iter().map(|c| c.range).collect::<Vec<_>>(),
        ) {
            return Err(ControlError::ChildrenDoNotCoverParents);
        }
        for child in children {
            let mut distinct = child.replicas.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if child.replicas.is_empty()
                || distinct.len() != child.replicas.len()
                || child.replicas.iter().any(|n| !known_nodes.contains(n))
            {
                return Err(ControlError::InvalidPlacement(format!(
                    "replicas {:?} are not distinct known nodes",
                    child.replicas
                )));
            }
        }
        let intent = self.next_group;
        let mut planned = Vec::with_capacity(children.len());
        for child in children {
            let shard = ShardId(stream.next_shard_ordinal);
            stream.next_shard_ordinal += 1;
            let group = self.next_group;
            self.next_group += 1;
            self.groups.insert(
                group,
                GroupMeta {
                    id: group,
                    stream: key.clone(),
                    incarnation: stream.incarnation,
                    shard,
                    replicas: child.replicas.clone(),
                    retiring: Vec::new(),
                    deleting: Vec::new(),
                    initialized: false,
                },
            );
            planned.push(ShardMeta {
                id: shard,
                range: child.range,
                parent: Some(child.parent),
                adjacent_parent: child.adjacent_parent,
                group,
                created_at_ms: now_ms,
                closed_at_ms: None,
                ending: None,
            });
        }
        stream.status = StreamStatus::Updating;
        stream.reshard = Some(ReshardIntent {
            id: intent,
            parents: parents.to_vec(),
            children: planned,
            started_at_ms: now_ms,
        });
        Ok(ControlReply::ReshardStarted { intent })
    }

    fn complete_reshard(
        &mut self,
        key: &StreamKey,
        intent: u64,
        endings: &[(ShardId, RecordPosition)],
        now_ms: u64,
    ) -> Result<ControlReply, ControlError> {
        let stream = self
            .streams
            .get_mut(key)
            .ok_or_else(|| ControlError::StreamNotFound(key.name.clone()))?;
        let reshard = match &stream.reshard {
            Some(r) if r.id == intent => r.clone(),
            // Already completed (a repeated step) or another reshard: nothing to do.
            _ => return Err(ControlError::NoSuchReshard),
        };
        for parent in &reshard.parents {
            let ending = endings
                .iter()
                .find(|(shard, _)| shard == parent)
                .map(|(_, position)| *position)
                .ok_or(ControlError::ShardNotOpen(*parent))?;
            let shard = stream
                .shards
                .get_mut(parent)
                .ok_or(ControlError::ShardNotOpen(*parent))?;
            shard.closed_at_ms = Some(now_ms);
            shard.ending = Some(ending);
        }
        for mut child in reshard.children {
            // A child opens when its parents close (ListShards' timestamp filters rely on
            // it), not when the reshard was planned.
            child.created_at_ms = now_ms;
            stream.shards.insert(child.id, child);
        }
        stream.reshard = None;
        stream.status = StreamStatus::Active;
        self.routing_version += 1;
        Ok(ControlReply::Done)
    }

    fn add_node(&mut self, node: &NodeInfo) -> Result<ControlReply, ControlError> {
        if self.removed_nodes.contains(&node.id) {
            return Err(ControlError::NodeRemoved(node.id));
        }
        if node.id == 0 {
            return Err(ControlError::InvalidPlacement("node ids start at 1".into()));
        }
        match self.nodes.get(&node.id) {
            Some(known) if known.address == node.address => Ok(ControlReply::Done),
            Some(known) => Err(ControlError::NodeIdTaken(node.id, known.address.clone())),
            None => {
                self.nodes.insert(
                    node.id,
                    NodeInfo {
                        voter: false,
                        state: NodeState::Active,
                        ..node.clone()
                    },
                );
                Ok(ControlReply::Done)
            }
        }
    }

    fn move_replica(&mut self, group: u64, from: NodeId, to: NodeId) -> Result<ControlReply, ControlError> {
        let target = self.nodes.get(&to).ok_or(ControlError::NodeNotFound(to))?;
        if target.state != NodeState::Active {
            return Err(ControlError::InvalidMove(format!("node {to} is draining")));
        }
        let meta = self
            .groups
            .get_mut(&group)
            .ok_or_else(|| ControlError::InvalidMove(format!("group {group} does not exist")))?;
        if !meta.replicas.contains(&from) {
            return Err(ControlError::InvalidMove(format!(
                "node {from} holds no replica of group {group}"
            )));
        }
        if meta.replicas.contains(&to) {
            return Err(ControlError::InvalidMove(format!(
                "node {to} already holds a replica of group {group}"
            )));
        }
        if meta.deleting.contains(&to) {
            return Err(ControlError::InvalidMove(format!(
                "node {to} has not yet deleted its old replica of group {group}"
            )));
        }
        if !meta.initialized {
            return Err(ControlError::InvalidMove(format!(
                "group {group} has not had a leader yet"
            )));
        }
        meta.replicas.retain(|n| *n != from);
        // A node still retiring from the group keeps its copy: moving back to it cancels
        // its retirement rather than starting an empty replica.
        meta.retiring.retain(|n| *n != to);
        meta.replicas.push(to);
        meta.retiring.push(from);
        Ok(ControlReply::Done)
    }

    /// The shard groups `node` hosts: those placed on it and those moving away from it.
    pub fn groups_on(&self, node: NodeId) -> impl Iterator<Item = &GroupMeta> {
        self.groups.values().filter(move |g| g.hosted_on(node))
    }

    /// Nodes that take new replicas, in id order.
    pub fn active_nodes(&self) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.state == NodeState::Active)
            .map(|n| n.id)
            .collect()
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

/// Whether two sets of ranges cover exactly the same keys, each without gaps or overlaps.
fn same_span(parents: &[HashKeyRange], children: &[HashKeyRange]) -> bool {
    fn span(ranges: &[HashKeyRange]) -> Option<(HashKey, HashKey)> {
        let mut sorted = ranges.to_vec();
        sorted.sort_by_key(|r| r.start);
        let first = sorted.first()?;
        let mut end = first.end;
        for range in &sorted[1..] {
            if end.0.checked_add(1) != Some(range.start.0) {
                return None;
            }
            end = range.end;
        }
        Some((first.start, end))
    }
    match (span(parents), span(children)) {
        (Some(p), Some(c)) => p == c,
        _ => false,
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
                state: NodeState::Active,
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
    fn stream_modes_switch_only_when_active_and_keep_warm_throughput_on_demand() {
        let mut state = bootstrapped();
        let incarnation = match create(&mut state, "modes", 1) {
            ControlReply::StreamCreated { incarnation } => incarnation,
            other => panic!("{other:?}"),
        };
        let switch = |mode, warm| ControlCommand::SetStreamMode {
            key: key("modes"),
            mode,
            warm_throughput_mibps: warm,
        };
        assert!(matches!(
            state.apply(&switch(StreamMode::OnDemand, None)),
            ControlReply::Rejected(ControlError::StreamNotActive(_, StreamStatus::Creating))
        ));
        state.apply(&ControlCommand::ActivateStream {
            key: key("modes"),
            incarnation,
        });
        assert_eq!(
            state.apply(&switch(StreamMode::OnDemand, Some(20))),
            ControlReply::Done
        );
        assert_eq!(state.streams[&key("modes")].mode, StreamMode::OnDemand);
        assert_eq!(state.settings[&key("modes")].warm_throughput_mibps, Some(20));
        assert_eq!(
            state.apply(&switch(StreamMode::Provisioned, Some(20))),
            ControlReply::Done
        );
        assert_eq!(state.streams[&key("modes")].mode, StreamMode::Provisioned);
        assert!(
            !state.settings.contains_key(&key("modes")),
            "a provisioned stream has no warm throughput"
        );
        assert!(matches!(
            state.apply(&ControlCommand::SetStreamMode {
                key: key("missing"),
                mode: StreamMode::OnDemand,
                warm_throughput_mibps: None,
            }),
            ControlReply::Rejected(ControlError::StreamNotFound(_))
        ));
    }

    #[test]
    fn account_settings_are_kept_per_namespace() {
        let mut state = bootstrapped();
        let namespace = key("any").namespace;
        let command = ControlCommand::Account {
            namespace: namespace.clone(),
            command: crate::settings::AccountCommand::SetBillingCommitment {
                enabled: true,
                now_ms: 5,
            },
        };
        assert_eq!(state.apply(&command), ControlReply::Done);
        let commitment = state.accounts[&namespace].commitment.clone().expect("enabled");
        assert!(commitment.enabled);
        assert_eq!(commitment.started_at_ms, 5);
        assert_eq!(state.accounts.len(), 1);
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

    fn split_children(state: &ControlState, name: &str, shard: u32, at: u128) -> Vec<PlannedChild> {
        let range = state.streams[&key(name)].shards[&ShardId(shard)].range;
        let (low, high) = range.split_at(HashKey(at)).unwrap();
        vec![
            PlannedChild {
                range: low,
                parent: ShardId(shard),
                adjacent_parent: None,
                replicas: vec![1, 2, 3],
            },
            PlannedChild {
                range: high,
                parent: ShardId(shard),
                adjacent_parent: None,
                replicas: vec![2, 3, 1],
            },
        ]
    }

    fn active(state: &mut ControlState, name: &str, shards: u32) {
        let ControlReply::StreamCreated { incarnation } = create(state, name, shards) else {
            panic!("not created")
        };
        state.apply(&ControlCommand::ActivateStream {
            key: key(name),
            incarnation,
        });
    }

    #[test]
    fn a_split_opens_two_children_only_when_it_completes() {
        let mut state = bootstrapped();
        active(&mut state, "s", 1);
        let version = state.routing_version;
        let children = split_children(&state, "s", 0, 1 << 127);
        let ControlReply::ReshardStarted { intent } = state.apply(&ControlCommand::BeginReshard {
            key: key("s"),
            parents: vec![ShardId(0)],
            children,
            now_ms: 5,
        }) else {
            panic!("not started")
        };
        let stream = &state.streams[&key("s")];
        assert_eq!(stream.status, StreamStatus::Updating);
        assert_eq!(
            stream.open_shards().count(),
            1,
            "routing is unchanged until completion"
        );
        assert_eq!(
            state.groups.len(),
            3,
            "the children's groups exist so their replicas start"
        );
        assert_eq!(state.routing_version, version);

        // A second reshard while one is in flight is refused.
        let again = split_children(&state, "s", 0, 1 << 126);
        assert!(matches!(
            state.apply(&ControlCommand::BeginReshard {
                key: key("s"),
                parents: vec![ShardId(0)],
                children: again,
                now_ms: 6
            }),
            ControlReply::Rejected(ControlError::StreamNotActive(..))
        ));

        let ending = RecordPosition::new(42, 0);
        let complete = ControlCommand::CompleteReshard {
            key: key("s"),
            intent,
            endings: vec![(ShardId(0), ending)],
            now_ms: 7,
        };
        assert_eq!(state.apply(&complete), ControlReply::Done);
        let stream = &state.streams[&key("s")];
        assert_eq!(stream.status, StreamStatus::Active);
        let open: Vec<_> = stream.open_shards().map(|s| (s.id, s.parent)).collect();
        assert_eq!(
            open,
            vec![(ShardId(1), Some(ShardId(0))), (ShardId(2), Some(ShardId(0)))]
        );
        assert_eq!(stream.shards[&ShardId(0)].ending, Some(ending));
        // The children open when the parent closes.
        assert_eq!(stream.shards[&ShardId(0)].closed_at_ms, Some(7));
        assert!(stream.open_shards().all(|s| s.created_at_ms == 7));
        let ranges: Vec<_> = stream.open_shards().map(|s| s.range).collect();
        HashKeyRange::check_coverage(&ranges).unwrap();
        assert_eq!(state.routing_version, version + 1);
        // Repeating the completion changes nothing.
        assert!(matches!(
            state.apply(&complete),
            ControlReply::Rejected(ControlError::NoSuchReshard)
        ));
    }

    #[test]
    fn a_merge_needs_children_covering_exactly_its_parents() {
        let mut state = bootstrapped();
        active(&mut state, "m", 3);
        let shards = &state.streams[&key("m")].shards;
        let (a, c) = (shards[&ShardId(0)].range, shards[&ShardId(2)].range);
        let gap = HashKeyRange::new(a.start, c.end).unwrap();
        let reply = state.apply(&ControlCommand::BeginReshard {
            key: key("m"),
            parents: vec![ShardId(0), ShardId(2)],
            children: vec![PlannedChild {
                range: gap,
                parent: ShardId(0),
                adjacent_parent: Some(ShardId(2)),
                replicas: vec![1, 2, 3],
            }],
            now_ms: 1,
        });
        assert_eq!(
            reply,
            ControlReply::Rejected(ControlError::ChildrenDoNotCoverParents)
        );
        let b = state.streams[&key("m")].shards[&ShardId(1)].range;
        let union = a.merge(b).unwrap();
        let reply = state.apply(&ControlCommand::BeginReshard {
            key: key("m"),
            parents: vec![ShardId(0), ShardId(1)],
            children: vec![PlannedChild {
                range: union,
                parent: ShardId(0),
                adjacent_parent: Some(ShardId(1)),
                replicas: vec![1, 2, 3],
            }],
            now_ms: 1,
        });
        assert!(matches!(reply, ControlReply::ReshardStarted { .. }));
        assert_eq!(
            state.streams[&key("m")].next_shard_ordinal,
            4,
            "the child got ordinal 3"
        );
    }

    #[test]
    fn increasing_retention_never_brings_expired_records_back() {
        let mut state = bootstrapped();
        active(&mut state, "r", 1);
        let hour = 3_600_000;
        let now = 100 * hour;
        assert_eq!(state.streams[&key("r")].retention_horizon_ms(now), 76 * hour);
        state.apply(&ControlCommand::SetRetention {
            key: key("r"),
            retention_hours: 48,
            now_ms: now,
        });
        let stream = &state.streams[&key("r")];
        assert_eq!(stream.retention_horizon_ms(now), 76 * hour, "still expired");
        assert_eq!(stream.retention_horizon_ms(now + 30 * hour), 82 * hour);
        state.apply(&ControlCommand::SetRetention {
            key: key("r"),
            retention_hours: 24,
            now_ms: now,
        });
        assert_eq!(state.streams[&key("r")].retention_horizon_ms(now), 76 * hour);
    }
}
