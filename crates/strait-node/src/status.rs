//! What `ClusterStatus` reports: members and whether they answer, the control leader,
//! every shard group's leader, and whether this node is ready to serve.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::rt::WatchReceiver;
use strait_proto::internal::GroupLeadersRequest;
use strait_proto::internal::node_internal_client::NodeInternalClient;
use strait_proto::v1 as pb;
use strait_raft::GroupId;
use strait_raft::network::PeerRouter;

use crate::control::ControlHandle;
use crate::shards::ShardHost;

/// Gathers cluster status by asking every member which groups it sees a leader for.
pub struct ClusterStatusProbe {
    node_id: u64,
    control: ControlHandle,
    host: Arc<ShardHost>,
    router: Arc<PeerRouter>,
}

impl ClusterStatusProbe {
    pub fn new(node_id: u64, control: ControlHandle, host: Arc<ShardHost>, router: Arc<PeerRouter>) -> Self {
        Self {
            node_id,
            control,
            host,
            router,
        }
    }

    /// Leaders of `groups` as `node` sees them, or `None` when it does not answer.
    async fn ask(&self, node: u64, groups: Vec<u64>) -> Option<BTreeMap<u64, Option<u64>>> {
        if node == self.node_id {
            return Some(
                groups
                    .into_iter()
                    .map(|g| (g, self.host.get(GroupId(g)).and_then(|s| s.leader())))
                    .collect(),
            );
        }
        let channel = self.router.channel(node).ok()?;
        let mut client = NodeInternalClient::new(channel);
        let call = client.group_leaders(GroupLeadersRequest { group_ids: groups });
        match tokio::time::timeout(Duration::from_secs(1), call).await {
            Ok(Ok(response)) => Some(
                response
                    .into_inner()
                    .groups
                    .into_iter()
                    .map(|g| (g.group_id, g.leader))
                    .collect(),
            ),
            _ => {
                self.router.reset(node);
                None
            }
        }
    }

    /// Leaders of every shard group, asking each replica; `None` for a group no replica
    /// reports a leader for.
    pub async fn group_leaders(&self) -> (BTreeMap<u64, Option<u64>>, BTreeMap<u64, bool>) {
        let view = self.control.view();
        let mut reachable = BTreeMap::new();
        let mut leaders: BTreeMap<u64, Option<u64>> = view.state.groups.keys().map(|&g| (g, None)).collect();
        let asks = view.state.nodes.keys().map(|&node| {
            let groups: Vec<u64> = view.state.groups_on(node).map(|g| g.id).collect();
            async move { (node, self.ask(node, groups).await) }
        });
        for (node, answer) in futures::future::join_all(asks).await {
            reachable.insert(node, answer.is_some());
            for (group, leader) in answer.unwrap_or_default() {
                if let Some(leader) = leader {
                    leaders.insert(group, Some(leader));
                }
            }
        }
        (leaders, reachable)
    }

    /// Why this node itself should not take traffic yet; empty when it should. It must know
    /// a control-plane leader, the cluster must be bootstrapped, and this node must be a
    /// member whose metadata has applied everything known committed. Unlike
    /// [`probe`](Self::probe) it asks no other node, so that one slow or leaderless peer
    /// does not take every node out of a load balancer.
    pub fn local_readiness(&self) -> Vec<String> {
        let view = self.control.view();
        let metrics = self.control.raft().metrics().borrow_watched().clone();
        let mut reasons = Vec::new();
        if metrics.current_leader.is_none() {
            reasons.push("no control-plane leader".to_string());
        }
        if !view.state.bootstrapped {
            reasons.push("the cluster is not bootstrapped yet".to_string());
        }
        let applied = metrics.last_applied.as_ref().map(|id| id.index).unwrap_or(0);
        let committed = metrics.cluster_committed.as_ref().map(|id| id.index).unwrap_or(0);
        if applied < committed || !view.state.nodes.contains_key(&self.node_id) {
            reasons.push(format!("node {} is not a caught-up member", self.node_id));
        }
        reasons
    }

    pub async fn probe(&self) -> pb::ClusterStatusResponse {
        let view = self.control.view();
        let metrics = self.control.raft().metrics().borrow_watched().clone();
        let control_leader = metrics.current_leader;
        let voters: std::collections::BTreeSet<u64> = metrics.membership_config.voter_ids().collect();
        let (leaders, reachable) = self.group_leaders().await;
        let mut reasons = self.local_readiness();
        let leaderless: Vec<String> = leaders
            .iter()
            .filter(|(_, l)| l.is_none())
            .map(|(g, _)| g.to_string())
            .collect();
        if !leaderless.is_empty() {
            reasons.push(format!(
                "shard groups without a leader: {}",
                leaderless.join(", ")
            ));
        }
        pb::ClusterStatusResponse {
            node_id: self.node_id,
            control_leader,
            nodes: view
                .state
                .nodes
                .values()
                .map(|n| pb::NodeStatus {
                    node_id: n.id,
                    address: n.address.clone(),
                    reachable: reachable.get(&n.id).copied().unwrap_or(false),
                    voter: voters.contains(&n.id),
                    state: n.state.as_str().to_string(),
                })
                .collect(),
            groups: view
                .state
                .groups
                .values()
                .map(|g| pb::GroupStatus {
                    group_id: g.id,
                    stream: g.stream.name.to_string(),
                    shard_id: g.shard.to_string(),
                    replicas: g.replicas.clone(),
                    leader: leaders.get(&g.id).copied().flatten(),
                    retiring: g.retiring.clone(),
                })
                .collect(),
            ready: reasons.is_empty(),
            not_ready_reasons: reasons,
        }
    }
}
