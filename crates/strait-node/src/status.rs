//! What `ClusterStatus` reports: members and whether they answer, the control leader,
//! every shard group's leader, and whether this node is ready to serve.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use openraft::rt::WatchReceiver;
use strait_control::ControlView;
use strait_proto::internal::node_internal_client::NodeInternalClient;
use strait_proto::internal::{GroupLeader, GroupLeadersRequest};
use strait_proto::v1 as pb;
use strait_raft::GroupId;
use strait_raft::network::PeerRouter;
use tokio::sync::watch;

use crate::control::ControlHandle;
use crate::shards::ShardHost;

/// Gathers cluster status by asking every member which groups it sees a leader for.
pub struct ClusterStatusProbe {
    node_id: u64,
    control: ControlHandle,
    host: Arc<ShardHost>,
    router: Arc<PeerRouter>,
    shutting_down: watch::Receiver<bool>,
    /// Set once every shard group the metadata places on this node was open: a restarted
    /// node that caught up with the control plane cannot serve its shards before that.
    /// Latched, so that a stream created later does not make the node unready for the
    /// moment its new groups take to start.
    replicas_opened: AtomicBool,
}

/// What the members answered about leadership.
#[derive(Debug, Default)]
pub struct LeaderSurvey {
    /// Each shard group's leader, `None` when no replica reports one.
    pub leaders: BTreeMap<u64, Option<u64>>,
    /// Whether each member answered.
    pub reachable: BTreeMap<u64, bool>,
    /// Members that answered that they are shutting down.
    pub shutting_down: BTreeSet<u64>,
    /// Per group, as its leader answered: placed replicas that are not voters yet.
    pub catching_up: BTreeMap<u64, Vec<u64>>,
}

impl LeaderSurvey {
    /// Members that should not be given leaderships or replicas now: those that did not
    /// answer and those shutting down.
    pub fn unavailable(&self) -> BTreeSet<u64> {
        self.reachable
            .iter()
            .filter(|(_, answered)| !**answered)
            .map(|(node, _)| *node)
            .chain(self.shutting_down.iter().copied())
            .collect()
    }
}

/// One member's answer: each asked group's leader (and, from a leader, its replicas
/// still catching up), and whether it is shutting down.
type Answer = (Vec<GroupLeader>, bool);

/// What this node knows of one group's leadership, as a `GroupLeaders` answer carries it.
pub fn group_leader(host: &ShardHost, view: &ControlView, group_id: u64) -> GroupLeader {
    let shard = host.get(GroupId(group_id));
    let placement = view
        .state
        .groups
        .get(&group_id)
        .map(|g| g.replicas.as_slice())
        .unwrap_or(&[]);
    GroupLeader {
        group_id,
        leader: shard.as_ref().and_then(|s| s.leader()),
        catching_up: shard.map(|s| s.catching_up(placement)).unwrap_or_default(),
    }
}

impl ClusterStatusProbe {
    pub fn new(
        node_id: u64,
        control: ControlHandle,
        host: Arc<ShardHost>,
        router: Arc<PeerRouter>,
        shutting_down: watch::Receiver<bool>,
    ) -> Self {
        Self {
            node_id,
            control,
            host,
            router,
            shutting_down,
            replicas_opened: AtomicBool::new(false),
        }
    }

    /// Leaders of `groups` as `node` sees them, or `None` when it does not answer.
    async fn ask(&self, node: u64, groups: Vec<u64>) -> Option<Answer> {
        if node == self.node_id {
            let view = self.control.view();
            let leaders = groups
                .into_iter()
                .map(|g| group_leader(&self.host, &view, g))
                .collect();
            return Some((leaders, *self.shutting_down.borrow()));
        }
        let channel = self.router.channel(node).ok()?;
        let mut client = NodeInternalClient::new(channel);
        let call = client.group_leaders(GroupLeadersRequest { group_ids: groups });
        match tokio::time::timeout(Duration::from_secs(1), call).await {
            Ok(Ok(response)) => {
                let response = response.into_inner();
                Some((response.groups, response.shutting_down))
            }
            _ => {
                self.router.reset(node);
                None
            }
        }
    }

    /// Asks every member which groups it sees a leader for.
    pub async fn group_leaders(&self) -> LeaderSurvey {
        let view = self.control.view();
        let mut survey = LeaderSurvey {
            leaders: view.state.groups.keys().map(|&g| (g, None)).collect(),
            ..LeaderSurvey::default()
        };
        let asks = view.state.nodes.keys().map(|&node| {
            let groups: Vec<u64> = view.state.groups_on(node).map(|g| g.id).collect();
            async move { (node, self.ask(node, groups).await) }
        });
        for (node, answer) in futures::future::join_all(asks).await {
            survey.reachable.insert(node, answer.is_some());
            let Some((leaders, shutting_down)) = answer else {
                continue;
            };
            if shutting_down {
                survey.shutting_down.insert(node);
            }
            for answer in leaders {
                if let Some(leader) = answer.leader {
                    survey.leaders.insert(answer.group_id, Some(leader));
                }
                if !answer.catching_up.is_empty() {
                    survey.catching_up.insert(answer.group_id, answer.catching_up);
                }
            }
        }
        survey
    }

    /// Why this node itself should not take traffic yet; empty when it should. It must know
    /// a control-plane leader, the cluster must be bootstrapped, this node must be a
    /// member whose metadata has applied everything known committed, and, once after a
    /// start, every shard group placed on it must be open. Unlike
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
        if reasons.is_empty() && !self.replicas_opened.load(Ordering::Acquire) {
            let closed = view
                .state
                .groups_on(self.node_id)
                .filter(|group| self.host.get(GroupId(group.id)).is_none())
                .count();
            if closed == 0 {
                self.replicas_opened.store(true, Ordering::Release);
            } else {
                reasons.push(format!(
                    "{closed} shard groups placed on node {} are not open yet",
                    self.node_id
                ));
            }
        }
        reasons
    }

    pub async fn probe(&self) -> pb::ClusterStatusResponse {
        let view = self.control.view();
        let metrics = self.control.raft().metrics().borrow_watched().clone();
        let control_leader = metrics.current_leader;
        let voters: std::collections::BTreeSet<u64> = metrics.membership_config.voter_ids().collect();
        let LeaderSurvey {
            leaders,
            reachable,
            catching_up,
            ..
        } = self.group_leaders().await;
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
                    catching_up: catching_up.get(&g.id).cloned().unwrap_or_default(),
                })
                .collect(),
            ready: reasons.is_empty(),
            not_ready_reasons: reasons,
        }
    }
}
