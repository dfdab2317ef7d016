//! The shard groups hosted on this node, kept in step with the control plane.
//!
//! A supervisor watches the local replica of the metadata. For every shard group placed
//! on this node it starts a Raft instance (log store, state machine, group-commit
//! batcher) and registers it with the transport. A new group (one that never had a
//! leader) is initialized by the first replica in its placement, or by the others if that
//! one has not done it within a grace period. A group that the metadata positively says
//! is gone (its id was allocated and it is no longer listed) is shut down and its data
//! deleted; if the group lives on elsewhere, its vote and last log id stay. A group
//! the metadata does not know *yet* (this node's control replica is still catching up)
//! is left alone, so a restart never deletes data it will need.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::BasicNode;
use openraft::rt::WatchReceiver;
use strait_control::{ControlView, GroupMeta};
use strait_raft::config::RaftTuning;
use strait_raft::log_cache::{LOG_CACHE_BYTES, LogCacheBudget};
use strait_raft::log_store::{AppliedFloor, LogStore};
use strait_raft::network::{GroupNetworkFactory, GroupRegistry, PeerRouter, RaftGroupRpc};
use strait_raft::quiescence::{ProposalWaker, Quiescence};
use strait_raft::shard::{
    ShardBatcher, ShardCommand, ShardRaft, ShardRaftConfig, ShardReader, ShardStateMachine,
};
use strait_raft::{Clock, GroupId};
use strait_storage::keys::{self, Family, StateKey};
use strait_storage::{Flusher, KvEngine, WriteBatch};
use tokio::time::Instant;

use crate::metrics::NodeMetrics;

/// One shard group's replica on this node.
pub struct LocalShard {
    pub group: GroupId,
    pub raft: ShardRaft,
    pub batcher: ShardBatcher,
    pub reader: ShardReader,
    /// When this replica started on this node.
    started: Instant,
    /// Readies the group for a proposal when groups may go quiet.
    waker: Option<ProposalWaker>,
}

impl LocalShard {
    /// Call before proposing anything to the group (the batcher does for appends): a
    /// quiet leader wakes and renews its lease, without which openraft refuses proposals.
    pub async fn ready_to_propose(&self) {
        if let Some(waker) = &self.waker {
            waker.ready_to_propose().await;
        }
    }

    /// Seals the shard on its leader: see [`strait_raft::shard::seal`].
    pub async fn seal(&self) -> Result<u64, strait_raft::shard::AppendError> {
        self.ready_to_propose().await;
        strait_raft::shard::seal(&self.raft).await
    }

    /// The group's leader as this replica knows it.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// The nodes of `placement` that are not voters of the group yet, as its leader sees
    /// them: new replicas still catching up. Empty on a replica that is not the leader,
    /// which cannot tell.
    pub fn catching_up(&self, placement: &[u64]) -> Vec<u64> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        if !metrics.state.is_leader() {
            return Vec::new();
        }
        let voters: std::collections::BTreeSet<u64> = metrics.membership_config.voter_ids().collect();
        placement
            .iter()
            .copied()
            .filter(|node| !voters.contains(node))
            .collect()
    }
}

/// Everything the supervisor needs to start groups.
pub struct ShardHost {
    node_id: u64,
    engine: Arc<dyn KvEngine>,
    flusher: Flusher,
    router: Arc<PeerRouter>,
    registry: Arc<GroupRegistry>,
    clock: Arc<dyn Clock>,
    tuning: RaftTuning,
    shards: Mutex<BTreeMap<GroupId, Arc<LocalShard>>>,
    /// Groups with data on this node that are not running (found at start-up).
    dormant: Mutex<BTreeSet<GroupId>>,
    /// The retention horizon each led group was last trimmed to.
    last_trim: Mutex<BTreeMap<GroupId, u64>>,
    /// Where appends to the groups led here record their commit latency.
    metrics: Arc<NodeMetrics>,
    /// Per-shard throughput limits, when turned on.
    throughput: std::sync::OnceLock<Arc<crate::throughput::ThroughputLimiter>>,
    /// Stops the timers of idle groups, unless the tuning keeps them ticking.
    quiescence: Option<Arc<Quiescence>>,
    /// The memory the hosted groups' log caches share.
    log_cache: Arc<LogCacheBudget>,
}

/// Trims wait until the horizon moved at least this far, so a trim entry is rare.
const MIN_TRIM_STEP_MS: u64 = 60_000;

/// How many maximal election timeouts a new group's other replicas give its first replica
/// to initialize it before they do.
const INITIALIZE_GRACE_ELECTIONS: u64 = 4;

impl ShardHost {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node_id: u64,
        engine: Arc<dyn KvEngine>,
        flusher: Flusher,
        router: Arc<PeerRouter>,
        registry: Arc<GroupRegistry>,
        clock: Arc<dyn Clock>,
        tuning: RaftTuning,
        metrics: Arc<NodeMetrics>,
    ) -> std::io::Result<Self> {
        let dormant = stored_groups(engine.as_ref())?;
        let quiescence = tuning
            .quiet_timing()
            .map(|timing| Quiescence::new(node_id, timing));
        Ok(Self {
            node_id,
            engine,
            flusher,
            router,
            registry,
            clock,
            tuning,
            shards: Mutex::new(BTreeMap::new()),
            dormant: Mutex::new(dormant),
            last_trim: Mutex::new(BTreeMap::new()),
            metrics,
            throughput: std::sync::OnceLock::new(),
            quiescence,
            log_cache: LogCacheBudget::new(LOG_CACHE_BYTES),
        })
    }

    /// The quiescence of the groups hosted here, unless they always tick.
    pub fn quiescence(&self) -> Option<&Arc<Quiescence>> {
        self.quiescence.as_ref()
    }

    /// Turns the per-shard throughput limits on (they are off unless the node is told).
    pub fn enable_throughput_limits(&self) {
        self.throughput
            .get_or_init(|| Arc::new(crate::throughput::ThroughputLimiter::new(self.clock.clone())));
    }

    /// The per-shard throughput limits, when they are on.
    pub fn throughput(&self) -> Option<&Arc<crate::throughput::ThroughputLimiter>> {
        self.throughput.get()
    }

    /// Whether a batch may be appended to `shard` now: always, unless the throughput limits
    /// are on and this node, as the shard's leader, has no budget left for it. Only the
    /// leader charges, so a batch sent to a follower (which refuses it) costs nothing.
    pub fn admit_write(&self, shard: &LocalShard, batch: &strait_raft::shard::ProducerBatch) -> bool {
        let Some(limits) = self.throughput() else {
            return true;
        };
        if shard.leader() != Some(self.node_id) {
            return true;
        }
        let bytes = batch
            .records
            .iter()
            .map(|r| r.data.len() + r.partition_key.len())
            .sum();
        limits.admit_write(shard.group, batch.records.len(), bytes)
    }

    /// The node's metrics, for the paths that append to hosted groups.
    pub fn metrics(&self) -> &Arc<NodeMetrics> {
        &self.metrics
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The local replica of `group`, if this node hosts it.
    pub fn get(&self, group: GroupId) -> Option<Arc<LocalShard>> {
        self.shards.lock().expect("shard host lock").get(&group).cloned()
    }

    /// Whether this node has a copy of `group`: running, or stored and not started.
    pub fn holds(&self, group: GroupId) -> bool {
        self.get(group).is_some() || self.dormant.lock().expect("shard host lock").contains(&group)
    }

    pub fn all(&self) -> Vec<Arc<LocalShard>> {
        self.shards
            .lock()
            .expect("shard host lock")
            .values()
            .cloned()
            .collect()
    }

    /// Brings the hosted groups in line with `view`.
    pub async fn reconcile(&self, view: &ControlView) {
        let state = &view.state;
        let desired: BTreeMap<GroupId, &GroupMeta> = state
            .groups_on(self.node_id)
            .map(|g| (GroupId(g.id), g))
            .collect();
        for node in state.nodes.values() {
            if node.id != self.node_id {
                self.router.set_address(node.id, &node.address);
            }
        }

        let running: BTreeSet<GroupId> = self
            .shards
            .lock()
            .expect("shard host lock")
            .keys()
            .copied()
            .collect();
        for (&group, meta) in &desired {
            if running.contains(&group) {
                continue;
            }
            match self.start(group, meta, view).await {
                Ok(()) => {
                    self.dormant.lock().expect("shard host lock").remove(&group);
                }
                Err(e) => tracing::error!(%group, error = %e, "cannot start shard group"),
            }
        }

        let dormant: BTreeSet<GroupId> = self.dormant.lock().expect("shard host lock").clone();
        for group in running.union(&dormant) {
            let gone = !desired.contains_key(group) && group.0 < state.next_group;
            if gone {
                // A group that lives on elsewhere may be placed here again: its new replica
                // must remember what this one voted and held.
                let retired = state.groups.contains_key(&group.0);
                self.remove(*group, retired).await;
            }
        }
    }

    async fn start(&self, group: GroupId, meta: &GroupMeta, view: &ControlView) -> Result<(), String> {
        let floor = Arc::new(AppliedFloor::default());
        let log: LogStore<ShardRaftConfig> = LogStore::new(
            self.engine.clone(),
            self.flusher.clone(),
            group,
            Some(floor.clone()),
        )
        .with_cache(self.log_cache.clone());
        let vote_floor = log.retired_last_log_id().map_err(|e| e.to_string())?;
        let sm = ShardStateMachine::open(self.engine.clone(), self.flusher.clone(), group, floor)
            .map_err(|e| e.to_string())?;
        let tip = sm.subscribe_tip();
        let network = GroupNetworkFactory::new(self.router.clone(), group);
        let config = self.tuning.config(&format!("shard-{}", group.0));
        let raft = ShardRaft::new(self.node_id, config, network, log, sm)
            .await
            .map_err(|e| e.to_string())?;
        self.registry.insert(
            group,
            Arc::new(RaftGroupRpc::new(raft.clone()).refusing_votes_behind(vote_floor)),
        );
        let waker = self.quiescence.as_ref().map(|q| q.waker(group));
        let batcher = ShardBatcher::start(raft.clone(), self.clock.clone(), waker.clone());
        let reader = ShardReader::new(self.engine.clone(), group, tip);
        let shard = Arc::new(LocalShard {
            group,
            raft: raft.clone(),
            batcher,
            reader,
            started: Instant::now(),
            waker,
        });
        self.shards
            .lock()
            .expect("shard host lock")
            .insert(group, shard.clone());
        if let Some(quiescence) = &self.quiescence {
            quiescence.insert(group, Arc::new(raft.clone()));
        }

        tracing::info!(%group, stream = %meta.stream.name, shard = %meta.shard, "shard group started");
        // The first replica initializes a new group at once: initializing starts an
        // election, so a new stream or a reshard's children take writes within
        // milliseconds rather than an election timeout. The others wait their turn in
        // `initialize_stranded`, so that three simultaneous candidates do not split the vote.
        if meta.replicas.first() == Some(&self.node_id) {
            self.initialize_new(&shard, meta, view).await;
        }
        Ok(())
    }

    /// Initializes the groups whose first replica has not, within a grace period after
    /// this replica started: that node may be down, and a group nobody initializes never
    /// gets a leader (nor, without one, a move to other nodes).
    pub async fn initialize_stranded(&self, view: &ControlView) {
        let grace = Duration::from_millis(self.tuning.election_max_ms * INITIALIZE_GRACE_ELECTIONS);
        for shard in self.all() {
            if shard.started.elapsed() < grace {
                continue;
            }
            if let Some(meta) = view.state.groups.get(&shard.group.0) {
                self.initialize_new(&shard, meta, view).await;
            }
        }
    }

    /// Initializes `shard` with its placement if the group is new: it never had a leader
    /// (as far as the metadata says), this node is one of its initial replicas, and this
    /// replica holds no log and no vote. Every initial replica initializes with the same
    /// members, which Raft tolerates; a node never initializes a group that had a leader,
    /// so an emptied copy placed back on a node cannot start a rival log.
    async fn initialize_new(&self, shard: &LocalShard, meta: &GroupMeta, view: &ControlView) {
        let group = shard.group;
        if meta.initialized
            || !meta.replicas.contains(&self.node_id)
            || shard.raft.is_initialized().await.unwrap_or(true)
        {
            return;
        }
        let members: BTreeMap<u64, BasicNode> = meta
            .replicas
            .iter()
            .filter_map(|id| {
                view.state
                    .nodes
                    .get(id)
                    .map(|n| (*id, BasicNode::new(&n.address)))
            })
            .collect();
        match shard.raft.initialize(members).await {
            Ok(()) => tracing::info!(%group, replicas = ?meta.replicas, "shard group initialized"),
            Err(e) => tracing::debug!(%group, error = %e, "shard group already initialized"),
        }
    }

    /// Stops a group and deletes its data on this node. A `retired` replica (the group
    /// lives on elsewhere) keeps its vote and the last log id it held: see
    /// [`LogStore::record_retirement`].
    async fn remove(&self, group: GroupId, retired: bool) {
        let shard = self.shards.lock().expect("shard host lock").remove(&group);
        self.registry.remove(group);
        if let Some(quiescence) = &self.quiescence {
            quiescence.remove(group);
        }
        if let Some(shard) = shard
            && let Err(e) = shard.raft.shutdown().await
        {
            tracing::warn!(%group, error = %e, "shard group shutdown failed");
        }
        match self.delete_data(group, retired).await {
            Ok(()) => {
                self.dormant.lock().expect("shard host lock").remove(&group);
                tracing::info!(%group, "shard group removed and its data deleted");
            }
            Err(e) => {
                // Still held: the next reconcile tries again, and the deletion is not
                // confirmed meanwhile.
                self.dormant.lock().expect("shard host lock").insert(group);
                tracing::error!(%group, error = %e, "deleting shard group data failed");
            }
        }
    }

    /// Deletes a stopped group's data, durably: the control plane hears that the copy is
    /// gone (and may place the group here again) only after this returns.
    async fn delete_data(&self, group: GroupId, retired: bool) -> std::io::Result<()> {
        let mut keep = Vec::new();
        if retired {
            let mut log: LogStore<ShardRaftConfig> =
                LogStore::new(self.engine.clone(), self.flusher.clone(), group, None);
            log.record_retirement().await?;
            keep = vec![
                keys::state(group.0, StateKey::Vote),
                keys::state(group.0, StateKey::Retired),
            ];
        }
        delete_group_data(self.engine.as_ref(), group, &keep)?;
        self.flusher.flush().await
    }

    /// Proposes a trim on every shard this node leads whose stream's retention horizon
    /// moved since the last trim here and expires a retained record. Every replica applies
    /// the same cut.
    pub async fn trim_expired(&self, view: &ControlView, now_ms: u64) {
        for shard in self.all() {
            if shard.leader() != Some(self.node_id) {
                continue;
            }
            let Some(meta) = view.state.groups.get(&shard.group.0) else {
                continue;
            };
            let Some(stream) = view.state.streams.get(&meta.stream) else {
                continue;
            };
            let horizon = stream.retention_horizon_ms(now_ms);
            let previous = self
                .last_trim
                .lock()
                .expect("shard host lock")
                .get(&shard.group)
                .copied();
            if horizon == 0 || previous.is_some_and(|p| horizon < p + MIN_TRIM_STEP_MS) {
                continue;
            }
            // No record is retained, or none that arrived before the horizon (and whatever
            // is appended next arrives after it): a trim entry would change nothing, and
            // would wake an idle group once a minute for it.
            let tip = shard.reader.tip();
            if tip.last_record.is_none_or(|last| last < tip.first_retained) {
                continue;
            }
            match shard.reader.find_timestamp(horizon) {
                Ok(cut) if cut <= tip.first_retained => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(group = %shard.group, error = %e, "reading the arrival index failed");
                    continue;
                }
            }
            shard.ready_to_propose().await;
            match shard
                .raft
                .client_write(ShardCommand::Trim { before_ms: horizon })
                .await
            {
                Ok(_) => {
                    self.last_trim
                        .lock()
                        .expect("shard host lock")
                        .insert(shard.group, horizon);
                }
                Err(e) => tracing::debug!(group = %shard.group, error = %e, "trim not committed"),
            }
        }
    }

    /// Stops every group (node shutdown); data stays.
    pub async fn shutdown(&self) {
        let shards: Vec<_> = std::mem::take(&mut *self.shards.lock().expect("shard host lock"))
            .into_values()
            .collect();
        for shard in shards {
            self.registry.remove(shard.group);
            if let Some(quiescence) = &self.quiescence {
                quiescence.remove(shard.group);
            }
            let _ = shard.raft.shutdown().await;
        }
    }
}

/// Shard groups that have Raft state in the engine.
fn stored_groups(engine: &dyn KvEngine) -> std::io::Result<BTreeSet<GroupId>> {
    let mut groups = BTreeSet::new();
    let start = keys::state(1, StateKey::Vote);
    let (_, end) = keys::group_range(Family::RaftState, u64::MAX);
    for pair in engine.scan(&start, &end) {
        let (key, _) = pair?;
        if key.len() >= 9 {
            groups.insert(GroupId(u64::from_be_bytes(
                key[1..9].try_into().expect("infallible: length checked"),
            )));
        }
    }
    Ok(groups)
}

/// Deletes every key of a group but those in `keep`, family by family.
fn delete_group_data(engine: &dyn KvEngine, group: GroupId, keep: &[bytes::Bytes]) -> std::io::Result<()> {
    for family in keys::GROUP_FAMILIES {
        let (start, end) = keys::group_range(family, group.0);
        let mut batch = WriteBatch::new();
        for key in engine.scan_keys(&start, &end) {
            let key = key?;
            if keep.iter().any(|k| k[..] == key[..]) {
                continue;
            }
            batch.delete(key);
            if batch.len() >= 1024 {
                engine.write(std::mem::take(&mut batch))?;
            }
        }
        engine.write(batch)?;
    }
    Ok(())
}
