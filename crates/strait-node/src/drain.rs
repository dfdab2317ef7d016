//! Handing off leadership before a node stops.
//!
//! A node that stops while leading groups leaves them without a leader for an election
//! timeout; writes to them fail until a follower notices. Before its servers stop, a
//! draining node instead asks each group it leads to elect a chosen follower at once
//! (openraft's leader transfer), and waits, up to a bound, until every group has a leader
//! elsewhere. Requests keep being served meanwhile: they are forwarded to the new leaders.
//!
//! [`Drain::on`] is the node's shutdown sequence up to the servers' stop: readiness fails
//! at the signal, leadership moves, then the servers are told to stop accepting.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::rt::WatchReceiver;
use openraft::storage::RaftStateMachine;
use openraft::{Raft, RaftMetrics, RaftTypeConfig, ServerState};
use strait_control::ControlRaft;
use strait_raft::GroupId;
use tokio::sync::watch;

use crate::shards::ShardHost;

/// What a node's shutdown sequence acts on.
pub struct Drain {
    pub node_id: u64,
    /// The whole shutdown's bound, from the signal.
    pub shutdown_timeout: Duration,
    /// The longest Raft election timeout.
    pub election_max: Duration,
    pub control: ControlRaft,
    pub host: Arc<ShardHost>,
    /// Receives the time the node must be stopped by, at the signal.
    pub deadline: watch::Sender<Option<tokio::time::Instant>>,
    /// Turns true at the signal: readiness fails from then on.
    pub shutting_down: watch::Sender<bool>,
    /// Turns true once leadership is handed off: servers stop accepting, subscriptions end.
    pub draining: watch::Sender<bool>,
}

impl Drain {
    /// Waits for `shutdown`, then drains up to the point where the servers stop.
    pub async fn on(self, shutdown: impl Future<Output = ()>) {
        shutdown.await;
        let _ = self
            .deadline
            .send(Some(tokio::time::Instant::now() + self.shutdown_timeout));
        let _ = self.shutting_down.send(true);
        tracing::info!(node = self.node_id, timeout = ?self.shutdown_timeout, "draining");
        hand_off_leadership(self.node_id, &self.control, &self.host, self.hand_off_limit()).await;
        let _ = self.draining.send(true);
    }

    /// The longest the hand-off may take: a couple of election timeouts (a transfer not
    /// done by then is not going to be), and at most half the shutdown timeout, leaving
    /// the rest to the requests in flight.
    fn hand_off_limit(&self) -> Duration {
        (self.shutdown_timeout / 2).min(2 * self.election_max)
    }
}

/// Hands the leadership of every group this node leads (the control group's and its
/// shard groups') to another voter, and waits until each has a leader elsewhere or
/// `timeout` passes. Returns how many groups are still led here.
pub async fn hand_off_leadership(
    node_id: u64,
    control: &ControlRaft,
    host: &ShardHost,
    timeout: Duration,
) -> usize {
    let shards = host.all();
    let hand_offs = shards
        .iter()
        .map(|shard| hand_off(&shard.raft, shard.group, node_id, timeout));
    let (control_kept, shards_kept) = futures::future::join(
        hand_off(control, GroupId::CONTROL, node_id, timeout),
        futures::future::join_all(hand_offs),
    )
    .await;
    let kept = usize::from(control_kept) + shards_kept.into_iter().filter(|kept| *kept).count();
    tracing::info!(node = node_id, still_led = kept, "leadership hand-off done");
    kept
}

/// Hands one group's leadership to its most caught-up other voter. Returns whether this
/// node still leads the group afterwards.
async fn hand_off<C, SM>(raft: &Raft<C, SM>, group: GroupId, node_id: u64, timeout: Duration) -> bool
where
    C: RaftTypeConfig<NodeId = u64>,
    SM: RaftStateMachine<C>,
{
    let metrics = raft.metrics().borrow_watched().clone();
    if metrics.state != ServerState::Leader {
        return false;
    }
    let Some(to) = successor(&metrics) else {
        // A group with no other voter has nobody to hand to.
        return true;
    };
    if let Err(error) = raft.trigger().transfer_leader(to).await {
        tracing::warn!(%group, to, %error, "leader transfer refused");
        return true;
    }
    let moved = raft
        .wait(Some(timeout))
        .metrics(
            |m| m.current_leader.is_some_and(|leader| leader != node_id),
            "leadership handed off",
        )
        .await;
    match moved {
        Ok(_) => {
            tracing::debug!(%group, to, "leadership handed off");
            false
        }
        Err(error) => {
            tracing::warn!(%group, to, %error, "leadership not handed off in time");
            true
        }
    }
}

/// The voter, other than this leader, whose log matches the most of the leader's: the
/// one that can win the election soonest. Ties go to the lowest id.
fn successor<C>(metrics: &RaftMetrics<C>) -> Option<u64>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    let matched = |node: u64| {
        metrics
            .replication
            .as_ref()
            .and_then(|replication| replication.get(&node))
            .and_then(|log_id| log_id.as_ref().map(|l| l.index()))
    };
    metrics
        .membership_config
        .membership()
        .voter_ids()
        .filter(|voter| *voter != metrics.id)
        .max_by_key(|voter| (matched(*voter), std::cmp::Reverse(*voter)))
}
