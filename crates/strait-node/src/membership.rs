//! Keeping the cluster's membership healthy, driven by the control leader.
//!
//! Each pass, the control leader:
//!
//! - notices nodes that stopped answering: a member whose last heartbeat
//!   acknowledgement is older than the configured timeout is *down* ([`Liveness`]);
//! - admits joined nodes to the control group as learners, so they receive the metadata,
//!   and keeps three healthy voters there when it can (a cluster started with one node
//!   grows to three as nodes join), replacing voters that are down or draining with
//!   healthy learners;
//! - proposes replica moves ([`strait_control::rebalance::plan_moves`]): replacements for
//!   replicas on down or draining nodes, then moves onto nodes with fewer replicas, a few
//!   groups at a time; the groups' leaders carry them out ([`crate::replica_moves`]);
//! - every few seconds, moves one group's leadership from the node leading the most
//!   groups to one leading the fewest (and away from draining nodes);
//! - removes a draining node once it hosts nothing.
//!
//! Nothing here is remembered between passes except when each node was last heard from:
//! a new control leader recomputes everything from the metadata and what it observes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::Instant as _;
use openraft::rt::WatchReceiver;
use strait_control::rebalance::{self, LeaderTransfer};
use strait_control::{ControlCommand, ControlReply, ControlView, NodeState};
use strait_proto::internal::TransferLeaderRequest;
use strait_proto::internal::node_internal_client::NodeInternalClient;
use strait_raft::GroupId;
use strait_raft::network::PeerRouter;
use tokio::time::Instant;

use crate::control::ControlHandle;
use crate::shards::ShardHost;
use crate::status::ClusterStatusProbe;

/// Groups moving at once, cluster-wide.
const MAX_MOVES_IN_FLIGHT: usize = 4;
/// The control group is grown to this many voters when it has the healthy nodes.
const MIN_CONTROL_VOTERS: usize = 3;
/// How often leadership is rebalanced (one transfer per round).
const LEADER_BALANCE_INTERVAL: Duration = Duration::from_secs(2);
/// A member is counted as answering while its last acknowledgement is younger than this.
const HEARTBEAT_STALE: Duration = Duration::from_secs(1);

/// Which members have not answered the control leader for longer than `down_after`.
pub struct Liveness {
    down_after: Duration,
    /// Members that stopped answering, with when this leader first saw them silent.
    silent_since: BTreeMap<u64, Instant>,
    /// Whether the last observation was made as leader; a new term starts afresh.
    was_leader: bool,
}

impl Liveness {
    pub fn new(down_after: Duration) -> Self {
        Self {
            down_after,
            silent_since: BTreeMap::new(),
            was_leader: false,
        }
    }

    /// Updates the record from the control leader's heartbeat metrics and returns the
    /// members that are down and those silent right now (a superset). Only meaningful on
    /// the leader; elsewhere both are empty.
    pub fn observe(&mut self, control: &ControlHandle, node_id: u64) -> Observation {
        let metrics = control.raft().metrics().borrow_watched().clone();
        let Some(heartbeats) = metrics.heartbeat.as_ref() else {
            self.was_leader = false;
            self.silent_since.clear();
            return Observation::default();
        };
        if !self.was_leader {
            self.was_leader = true;
            self.silent_since.clear();
        }
        let now = Instant::now();
        for (&node, acked) in heartbeats {
            if node == node_id {
                continue;
            }
            // openraft records acknowledgements on the runtime's clock, as `elapsed` reads it.
            let answering = acked.as_ref().is_some_and(|at| at.elapsed() < HEARTBEAT_STALE);
            if answering {
                self.silent_since.remove(&node);
            } else {
                self.silent_since.entry(node).or_insert(now);
            }
        }
        self.silent_since.retain(|node, _| heartbeats.contains_key(node));
        Observation {
            down: self
                .silent_since
                .iter()
                .filter(|(_, since)| now.saturating_duration_since(**since) >= self.down_after)
                .map(|(node, _)| *node)
                .collect(),
            silent: self.silent_since.keys().copied().collect(),
        }
    }
}

/// What the control leader knows of its members' health.
#[derive(Debug, Default)]
pub struct Observation {
    /// Silent for longer than the down timeout: their replicas are replaced.
    pub down: BTreeSet<u64>,
    /// Not answering right now (includes `down`): they get no new replica or leadership.
    pub silent: BTreeSet<u64>,
}

/// The control leader's membership duties; see the module documentation.
pub struct MembershipKeeper {
    node_id: u64,
    control: ControlHandle,
    host: Arc<ShardHost>,
    router: Arc<PeerRouter>,
    liveness: Liveness,
    last_leader_balance: Instant,
}

impl MembershipKeeper {
    pub fn new(
        node_id: u64,
        control: ControlHandle,
        host: Arc<ShardHost>,
        router: Arc<PeerRouter>,
        down_after: Duration,
    ) -> Self {
        Self {
            node_id,
            control,
            host,
            router,
            liveness: Liveness::new(down_after),
            last_leader_balance: Instant::now(),
        }
    }

    /// One pass; `probe` is asked for the groups' leaders when leadership is balanced.
    pub async fn pass(&mut self, view: &ControlView, probe: &ClusterStatusProbe) {
        let Observation { down, silent } = self.liveness.observe(&self.control, self.node_id);
        if !self.control.raft().is_leader() || !view.state.bootstrapped {
            return;
        }
        self.align_control_group(view, &down).await;
        for planned in rebalance::plan_moves(&view.state, &down, &silent, MAX_MOVES_IN_FLIGHT) {
            let command = ControlCommand::MoveReplica {
                group: planned.group,
                from: planned.from,
                to: planned.to,
            };
            match self.control.propose(command).await {
                Ok(ControlReply::Rejected(reason)) => {
                    tracing::debug!(group = planned.group, %reason, "replica move not started")
                }
                Ok(_) => tracing::info!(
                    group = planned.group,
                    from = planned.from,
                    to = planned.to,
                    down = down.contains(&planned.from),
                    "replica move started"
                ),
                Err(e) => tracing::warn!(group = planned.group, error = %e, "replica move not proposed"),
            }
        }
        self.remove_drained(view).await;
        if self.last_leader_balance.elapsed() >= LEADER_BALANCE_INTERVAL {
            self.last_leader_balance = Instant::now();
            let survey = probe.group_leaders().await;
            let mut unavailable = survey.unavailable();
            unavailable.extend(&silent);
            if let Some(transfer) =
                rebalance::plan_leader_transfer(&view.state, &survey.leaders, &unavailable)
            {
                self.transfer_leader(transfer).await;
            }
        }
    }

    /// Admits new members as learners, replaces voters that are down or draining, and
    /// drops removed nodes from the control group.
    async fn align_control_group(&self, view: &ControlView, down: &BTreeSet<u64>) {
        let raft = self.control.raft();
        let metrics = raft.metrics().borrow_watched().clone();
        let config = metrics.membership_config.clone();
        let settled = config.get_joint_config().len() == 1
            && metrics.committed_membership_config.log_id() == config.log_id();
        if !settled {
            return;
        }
        let members: BTreeSet<u64> = config.nodes().map(|(id, _)| *id).collect();
        let voters: BTreeSet<u64> = config.voter_ids().collect();

        // One membership change at a time: admit one new node per pass.
        if let Some(node) = view.state.nodes.values().find(|n| !members.contains(&n.id)) {
            self.router.set_address(node.id, &node.address);
            match raft
                .add_learner(node.id, BasicNode::new(&node.address), false)
                .await
            {
                Ok(_) => tracing::info!(node = node.id, "node admitted to the control group as a learner"),
                Err(e) => {
                    tracing::warn!(node = node.id, error = %e, "cannot admit node to the control group")
                }
            }
            return;
        }

        let healthy = |id: &u64| {
            !down.contains(id)
                && view
                    .state
                    .nodes
                    .get(id)
                    .is_some_and(|n| n.state == NodeState::Active)
        };
        // Healthy voters stay; healthy learners are promoted up to an odd number of voters
        // (two voters tolerate no more failures than one).
        let healthy_members = members.iter().filter(|id| healthy(id)).count();
        let mut target = MIN_CONTROL_VOTERS.min(healthy_members);
        if target % 2 == 0 {
            target = target.saturating_sub(1);
        }
        let mut wanted: BTreeSet<u64> = voters.iter().copied().filter(healthy).collect();
        for candidate in members
            .iter()
            .copied()
            .filter(|id| !voters.contains(id) && healthy(id))
        {
            if wanted.len() >= target {
                break;
            }
            wanted.insert(candidate);
        }
        if !wanted.is_empty() && wanted != voters {
            if !wanted.contains(&self.node_id) {
                if let Some(&to) = wanted.iter().find(|n| voters.contains(n)) {
                    tracing::info!(to, "leaving the control voters: handing over control leadership");
                    let _ = raft.trigger().transfer_leader(to).await;
                }
                return;
            }
            tracing::info!(from = ?voters, to = ?wanted, "changing the control group's voters");
            // Former voters stay learners: a draining node still needs the metadata to
            // learn when its replicas are retired, and a down node may come back.
            if let Err(e) = raft.change_membership(wanted, true).await {
                tracing::warn!(error = %e, "control voter change failed");
            }
            return;
        }

        let departed: BTreeSet<u64> = members
            .iter()
            .copied()
            .filter(|id| view.state.removed_nodes.contains(id))
            .collect();
        if !departed.is_empty() {
            tracing::info!(nodes = ?departed, "removing departed nodes from the control group");
            if let Err(e) = raft
                .change_membership(openraft::ChangeMembers::RemoveNodes(departed), false)
                .await
            {
                tracing::warn!(error = %e, "removing departed nodes failed");
            }
        }
    }

    /// Removes draining nodes that host nothing and no longer vote in the control group.
    async fn remove_drained(&self, view: &ControlView) {
        let voters: BTreeSet<u64> = self
            .control
            .raft()
            .metrics()
            .borrow_watched()
            .membership_config
            .voter_ids()
            .collect();
        for node in view.state.nodes.values() {
            if node.state != NodeState::Draining
                || voters.contains(&node.id)
                || view.state.groups_on(node.id).next().is_some()
            {
                continue;
            }
            match self
                .control
                .propose(ControlCommand::RemoveNode { id: node.id })
                .await
            {
                Ok(ControlReply::Done) => {
                    tracing::info!(node = node.id, "drained node removed from the cluster")
                }
                Ok(reply) => tracing::debug!(node = node.id, ?reply, "drained node not removed"),
                Err(e) => tracing::warn!(node = node.id, error = %e, "drained node not removed"),
            }
        }
    }

    /// Asks the current leader of a group to hand leadership over.
    async fn transfer_leader(&self, transfer: LeaderTransfer) {
        tracing::info!(
            group = transfer.group,
            from = transfer.from,
            to = transfer.to,
            "balancing leadership"
        );
        if transfer.from == self.node_id {
            if let Some(shard) = self.host.get(GroupId(transfer.group)) {
                let _ = shard.raft.trigger().transfer_leader(transfer.to).await;
            }
            return;
        }
        let Ok(channel) = self.router.channel(transfer.from) else {
            return;
        };
        let mut client = NodeInternalClient::new(channel);
        let call = client.transfer_leader(TransferLeaderRequest {
            group_id: transfer.group,
            to: transfer.to,
        });
        if let Ok(Err(status)) = tokio::time::timeout(Duration::from_secs(2), call).await {
            tracing::debug!(group = transfer.group, error = %status.message(), "leadership transfer refused");
        }
    }
}

/// Asks the members at `seeds`, in turn, to admit this node, retrying until it is
/// admitted, refused for good (an id taken or removed), or the node stops. Admission is
/// idempotent, so a restarted node asks again harmlessly.
pub async fn join(
    seeds: Vec<String>,
    node_id: u64,
    advertise: String,
    dialer: Arc<dyn strait_raft::network::Dialer>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let seeds: Vec<String> = seeds
        .iter()
        .map(|seed| {
            seed.trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    let mut backoff = Duration::from_millis(200);
    for attempt in 0usize.. {
        let Some(seed) = seeds.get(attempt % seeds.len().max(1)).cloned() else {
            tracing::error!("no member to join through");
            return;
        };
        let attempt = async {
            let channel = dialer.dial(&seed).map_err(|e| e.to_string())?;
            let mut client = NodeInternalClient::new(channel);
            let request = strait_proto::internal::JoinRequest {
                node_id,
                address: advertise.clone(),
            };
            match tokio::time::timeout(Duration::from_secs(15), client.join(request)).await {
                Ok(Ok(_)) => Ok(true),
                Ok(Err(status)) if status.code() == tonic::Code::AlreadyExists => {
                    tracing::error!(seed = %seed, reason = %status.message(), "the cluster refused to admit this node");
                    Ok(false)
                }
                Ok(Err(status)) => Err(status.message().to_string()),
                Err(_) => Err("timed out".to_string()),
            }
        };
        match attempt.await {
            Ok(true) => {
                tracing::info!(seed = %seed, node = node_id, "admitted to the cluster");
                return;
            }
            Ok(false) => return,
            Err(e) => tracing::info!(seed = %seed, error = %e, "joining the cluster; retrying"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Starts decommissioning `node`: it is marked draining, and the control leader moves
/// its replicas and leaderships away and then removes it. Repeating it is harmless.
pub async fn decommission(control: &ControlHandle, node: u64) -> Result<(), strait_core::StraitError> {
    let view = control.view();
    if view.state.removed_nodes.contains(&node) {
        return Ok(());
    }
    let active_others = view
        .state
        .active_nodes()
        .into_iter()
        .filter(|n| *n != node)
        .count();
    if view.state.nodes.contains_key(&node) && active_others == 0 {
        return Err(strait_core::StraitError::invalid_argument(format!(
            "node {node} is the last active node; there is nowhere to move its replicas"
        )));
    }
    match control.propose(ControlCommand::DrainNode { id: node }).await? {
        ControlReply::Rejected(reason) => {
            Err(strait_core::StraitError::resource_not_found(reason.to_string()))
        }
        _ => Ok(()),
    }
}
