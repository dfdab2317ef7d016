//! Carrying out replica moves in the shard groups this node leads.
//!
//! The control plane records a move ([`ControlCommand::MoveReplica`]) by changing a
//! group's placement: the new node joins `replicas` (so its supervisor starts an empty
//! replica), the old one goes to `retiring` (so it keeps its copy for now). The group's
//! leader then makes the group's Raft membership match the placement:
//!
//! 1. add each new node as a learner and wait until it has caught up, from the log or
//!    from a snapshot;
//! 2. replace the voters with the placement in one joint-consensus change, so the group
//!    keeps a quorum of caught-up replicas throughout;
//! 3. tell the control plane that each retiring node is out
//!    ([`ControlCommand::ReplicaRetired`]); only then does that node delete its copy.
//!
//! 4. the retired node deletes its copy and confirms it ([`ControlCommand::ReplicaDeleted`]);
//!    until then no replica of the group is placed on it again, so a node whose metadata
//!    lags never answers for a new replica with an old copy it is about to delete.
//!
//! A leader that is itself moving away first hands leadership to a remaining voter,
//! which carries on. Like the reconciler, this observes rather than remembers: each pass
//! compares a group's membership with its placement and does the next missing step, so a
//! leader change or a restart in the middle of a move resumes it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::BasicNode;
use openraft::rt::WatchReceiver;
use strait_control::{ControlCommand, ControlView, GroupMeta};
use strait_raft::GroupId;

use crate::control::ControlHandle;
use crate::shards::{LocalShard, ShardHost};

/// How long one step waits for a new replica to catch up. The learner stays in the group
/// and keeps receiving entries when the wait ends; the next step waits again.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(120);

/// Drives the moves of the groups this node leads, one task per moving group.
pub struct ReplicaMover {
    node_id: u64,
    host: Arc<ShardHost>,
    control: ControlHandle,
    /// Groups with a step in progress on this node.
    busy: Mutex<BTreeSet<GroupId>>,
    /// Groups whose deletion this node is confirming.
    confirming: Mutex<BTreeSet<GroupId>>,
}

/// What a group's membership is, as its leader sees it.
struct Membership {
    voters: BTreeSet<u64>,
    nodes: BTreeSet<u64>,
    /// No change is in flight: one uniform config, and it is committed.
    settled: bool,
}

impl Membership {
    fn of(shard: &LocalShard) -> Self {
        let metrics = shard.raft.metrics().borrow_watched().clone();
        let config = &metrics.membership_config;
        Membership {
            voters: config.voter_ids().collect(),
            nodes: config.nodes().map(|(id, _)| *id).collect(),
            settled: config.get_joint_config().len() == 1
                && metrics.committed_membership_config.log_id() == config.log_id(),
        }
    }
}

impl ReplicaMover {
    pub fn new(node_id: u64, host: Arc<ShardHost>, control: ControlHandle) -> Arc<Self> {
        Arc::new(Self {
            node_id,
            host,
            control,
            busy: Mutex::new(BTreeSet::new()),
            confirming: Mutex::new(BTreeSet::new()),
        })
    }

    /// Tells the control plane about each retired copy this node no longer has. Call it
    /// after the shard host reconciled, which is what deletes them.
    pub fn confirm_deletions(self: &Arc<Self>, view: &Arc<ControlView>) {
        for meta in view.state.groups.values() {
            let group = GroupId(meta.id);
            if !meta.deleting.contains(&self.node_id) || self.host.holds(group) {
                continue;
            }
            if !self.confirming.lock().expect("mover lock").insert(group) {
                continue;
            }
            let mover = self.clone();
            tokio::spawn(async move {
                let command = ControlCommand::ReplicaDeleted {
                    group: group.0,
                    node: mover.node_id,
                };
                match mover.control.propose(command).await {
                    Ok(_) => tracing::info!(%group, "deletion of the retired replica confirmed"),
                    Err(e) => tracing::info!(%group, error = %e, "deletion not confirmed yet; will retry"),
                }
                mover.confirming.lock().expect("mover lock").remove(&group);
            });
        }
    }

    /// Starts the next step of every move in the groups this node leads.
    pub fn advance(self: &Arc<Self>, view: &Arc<ControlView>) {
        for shard in self.host.all() {
            if shard.leader() != Some(self.node_id) {
                continue;
            }
            let Some(meta) = view.state.groups.get(&shard.group.0) else {
                continue;
            };
            let membership = Membership::of(&shard);
            let desired: BTreeSet<u64> = meta.replicas.iter().copied().collect();
            if membership.settled && membership.voters == desired && !meta.moving() {
                continue;
            }
            if !self.busy.lock().expect("mover lock").insert(shard.group) {
                continue;
            }
            let mover = self.clone();
            let meta = meta.clone();
            let view = view.clone();
            tokio::spawn(async move {
                let group = shard.group;
                if let Err(e) = mover.step(&shard, &meta, &view).await {
                    tracing::info!(%group, error = %e, "replica move step not done; will retry");
                }
                mover.busy.lock().expect("mover lock").remove(&group);
            });
        }
    }

    /// One step towards the placement of `meta`.
    async fn step(&self, shard: &LocalShard, meta: &GroupMeta, view: &ControlView) -> Result<(), String> {
        let group = shard.group;
        let desired: BTreeSet<u64> = meta.replicas.iter().copied().collect();
        let membership = Membership::of(shard);

        if membership.settled && membership.voters == desired {
            for &node in &meta.retiring {
                if membership.nodes.contains(&node) {
                    // A learner left over from an interrupted change.
                    shard.ready_to_propose().await;
                    shard
                        .raft
                        .change_membership(
                            openraft::ChangeMembers::RemoveNodes(BTreeSet::from([node])),
                            false,
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                }
                self.control
                    .propose(ControlCommand::ReplicaRetired { group: group.0, node })
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(%group, node, "replica retired");
            }
            return Ok(());
        }

        if !desired.contains(&self.node_id) {
            let Some(&to) = meta.replicas.iter().find(|n| membership.voters.contains(n)) else {
                return Err("no remaining voter to hand leadership to".into());
            };
            tracing::info!(%group, to, "moving away: handing over leadership");
            return shard
                .raft
                .trigger()
                .transfer_leader(to)
                .await
                .map_err(|e| e.to_string());
        }

        let addresses: BTreeMap<u64, String> = view
            .state
            .nodes
            .values()
            .map(|n| (n.id, n.address.clone()))
            .collect();
        for &node in desired.difference(&membership.voters) {
            if !membership.nodes.contains(&node) {
                let address = addresses
                    .get(&node)
                    .ok_or_else(|| format!("node {node} is not a member"))?;
                tracing::info!(%group, node, "adding a replica as a learner");
                shard.ready_to_propose().await;
                shard
                    .raft
                    .add_learner(node, BasicNode::new(address), false)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            wait_until_caught_up(shard, node).await?;
            tracing::info!(%group, node, "the new replica has caught up");
        }
        tracing::info!(%group, voters = ?desired, "changing the group's voters");
        shard.ready_to_propose().await;
        shard
            .raft
            .change_membership(desired, false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Waits until `node`, a learner of the group this node leads, holds every entry the
/// leader had when the wait began. openraft's own blocking `add_learner` counts a learner
/// as caught up within 5,000 entries, and any lag allowance has the same flaw: a small or
/// sealed shard is within it while the learner holds nothing, and would get an empty voter.
/// Entries written during the catch-up are sent on as usual.
async fn wait_until_caught_up(shard: &LocalShard, node: u64) -> Result<(), String> {
    let target = shard.raft.metrics().borrow_watched().last_log_index.unwrap_or(0);
    let matched = |metrics: &openraft::RaftMetrics<strait_raft::shard::ShardRaftConfig>| {
        metrics
            .replication
            .as_ref()?
            .get(&node)?
            .as_ref()
            .map(|log_id| log_id.index)
    };
    let waited = shard
        .raft
        .wait(Some(CATCH_UP_DEADLINE))
        .metrics(
            |metrics| matched(metrics).is_some_and(|index| index >= target),
            "new replica caught up",
        )
        .await;
    match waited {
        Ok(_) => Ok(()),
        Err(e) => {
            let at = matched(&shard.raft.metrics().borrow_watched().clone())
                .map_or_else(|| "nothing".to_string(), |index| format!("entry {index}"));
            Err(format!(
                "node {node} has not caught up (it holds {at} of {target}): {e}"
            ))
        }
    }
}
