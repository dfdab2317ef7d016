//! Quiescence: idle groups stop their timers, so a thousand idle shards cost little.
//!
//! openraft ticks every group about fifty times a second on every replica, and a leader
//! heartbeats each follower every interval. With a thousand idle shards that alone keeps
//! half a core per node busy. An idle group does not need any of it, as long as its
//! followers do not take the leader's silence for its death: one message per peer and
//! interval (a [`QuietPing`]) carries the liveness that per-group heartbeats would have.
//!
//! Every interval, on every node:
//! - A node pings each peer. In the ping to a follower of groups it leads, it claims quiet
//!   for every such group that is idle: no new entry for `idle_after`, every entry
//!   applied, one configuration without learners, and every live follower holding the
//!   last entry.
//! - A follower that gets a claim for a group from the group's leader (it leads nothing
//!   itself there, and its term is not newer than the claim's) stops the group's ticker.
//!   It acknowledges the claim once it knows the sender as its leader in that term.
//! - The leader stops its own ticker once every live follower acknowledged.
//! - A new entry ends the idleness: the leader ticks again and drops the claim, and its
//!   followers tick again at the next ping without it (as they do when the leader steps
//!   down). Appends and commits flow whether or not the timers run. A proposal first
//!   wakes a quiet leader and renews its lease ([`ProposalWaker`]), which openraft
//!   requires and a quiet leader lets run out. One renewal per wake-up is enough: the
//!   ticking leader's heartbeats keep the lease from then on, so the proposals that
//!   arrive meanwhile wait for that one renewal, and later ones go straight through.
//! - A follower that hears nothing from a quiet group's leader (neither a ping nor an
//!   answer to its own) for `dead_after` wakes the group, later by `stagger` for each
//!   other live voter ranked before it, so that one campaigns first instead of all
//!   splitting the vote. A node whose own rounds ran late was starved, and does not take
//!   its peers' silence for death in that round.
//!
//! Safety never rests on any of this: a stopped ticker only keeps a replica from starting
//! elections and sending heartbeats, and Raft is safe whatever the timing. What changes
//! is how a dead leader of an idle group is noticed: by its node's silence, not the
//! group's. A partition that cuts one follower off from a quiet leader lets that follower
//! win the group (the other follower, hearing no heartbeats, has no leader lease to
//! refuse it), which costs an election but never an acknowledged record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::rt::WatchReceiver;
use openraft::storage::RaftStateMachine;
use openraft::{Raft, RaftTypeConfig};
use strait_proto::internal::raft_transport_client::RaftTransportClient;
use strait_proto::internal::{QuietPing, QuietPong};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::group::{GroupId, NodeId};
use crate::network::PeerRouter;

/// When groups go quiet and when a silent leader counts as dead.
#[derive(Debug, Clone, Copy)]
pub struct QuietTiming {
    /// How often a node pings each peer: the Raft heartbeat interval.
    pub interval: Duration,
    /// How long a group must have had no new entry to go quiet.
    pub idle_after: Duration,
    /// How long a follower waits, hearing nothing from a node, before it takes the node
    /// for dead (see [`crate::config::RaftTuning::quiet_timing`]).
    pub dead_after: Duration,
    /// How much later each further follower wakes a group whose leader died.
    pub stagger: Duration,
}

/// What quiescence reads from one replica. [`QuietGroup::glance`] fills the first four
/// fields only; [`QuietGroup::observe`] all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    pub term: u64,
    /// The leader this replica knows for `term`.
    pub leader: Option<NodeId>,
    pub leading: bool,
    pub last_log_index: Option<u64>,
    /// The voters of the group's configuration, in id order.
    pub voters: Vec<NodeId>,
    /// On a leader: every entry applied, one configuration, no learners.
    pub settled: bool,
    /// On a leader: the voters whose log is known to end before the last entry.
    pub behind: Vec<NodeId>,
}

/// A replica whose ticker quiescence may stop.
#[tonic::async_trait]
pub trait QuietGroup: Send + Sync + 'static {
    /// Term, known leader, role and last log index: cheap enough for every replica every
    /// interval.
    fn glance(&self) -> Observation;

    /// Everything, membership and followers' progress included.
    fn observe(&self) -> Observation;

    /// Starts or stops the replica's ticker (its election and heartbeat timers).
    fn set_ticking(&self, on: bool);

    /// On a leader: confirms its leadership with a quorum now, which renews the lease
    /// openraft requires of a leader before it accepts a proposal. False if it could not.
    async fn renew_lease(&self) -> bool;
}

#[tonic::async_trait]
impl<C, SM> QuietGroup for Raft<C, SM>
where
    C: RaftTypeConfig<NodeId = u64, Term = u64>,
    SM: RaftStateMachine<C>,
{
    fn glance(&self) -> Observation {
        let receiver = self.metrics();
        let metrics = receiver.borrow_watched();
        Observation {
            term: metrics.current_term,
            leader: metrics.current_leader,
            leading: metrics.state.is_leader(),
            last_log_index: metrics.last_log_index,
            ..Default::default()
        }
    }

    fn observe(&self) -> Observation {
        let receiver = self.metrics();
        let metrics = receiver.borrow_watched();
        let membership = metrics.membership_config.membership();
        let configs = membership.get_joint_config();
        let voters: Vec<NodeId> = match configs.as_slice() {
            [one] => one.iter().copied().collect(),
            _ => membership.voter_ids().collect(),
        };
        let leading = metrics.state.is_leader();
        let last = metrics.last_log_index;
        let settled = leading
            && configs.len() == 1
            && membership.nodes().count() == voters.len()
            && metrics.last_applied.as_ref().map(|l| l.index()) == last;
        let behind = match (&metrics.replication, leading) {
            (Some(replication), true) => voters
                .iter()
                .copied()
                .filter(|v| *v != metrics.id)
                .filter(|v| replication.get(v).and_then(|m| m.as_ref().map(|l| l.index())) != last)
                .collect(),
            _ => Vec::new(),
        };
        Observation {
            term: metrics.current_term,
            leader: metrics.current_leader,
            leading,
            last_log_index: last,
            voters,
            settled,
            behind,
        }
    }

    fn set_ticking(&self, on: bool) {
        self.runtime_config().tick(on);
    }

    async fn renew_lease(&self) -> bool {
        // A read index is confirmed by a heartbeat round, whose answers extend the lease.
        match self.ensure_linearizable(openraft::ReadPolicy::ReadIndex).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "renewing the leader lease of a waking group failed");
                false
            }
        }
    }
}

/// The quiet claims of a ping: group and the term its sender leads it in. The server
/// refuses a ping whose lists differ in length before it gets here.
fn claims(ping: &QuietPing) -> BTreeMap<GroupId, u64> {
    ping.groups
        .iter()
        .zip(&ping.terms)
        .map(|(g, t)| (GroupId(*g), *t))
        .collect()
}

/// Readies one group for proposals: see [`Quiescence::waker`].
#[derive(Clone)]
pub struct ProposalWaker {
    quiescence: Arc<Quiescence>,
    group: GroupId,
}

impl ProposalWaker {
    /// Call before proposing to the group: appends, seals, trims, membership changes.
    pub async fn ready_to_propose(&self) {
        self.quiescence.ready_to_propose(self.group).await;
    }
}

/// The groups of one node that may go quiet, and what the node knows of its peers.
pub struct Quiescence {
    me: NodeId,
    timing: QuietTiming,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<GroupId, Tracked>,
    /// When each peer last proved alive: a ping from it, or its answer to one of ours.
    heard: BTreeMap<NodeId, Instant>,
    /// When the last round ran: a round much later than its interval means this node was
    /// starved, and its peers' pings may be waiting unread.
    last_round: Option<Instant>,
    /// The claims each follower acknowledged in its latest answer: group and term.
    acked: BTreeMap<NodeId, BTreeMap<GroupId, u64>>,
    /// Peers with a ping on the way: one at a time each.
    in_flight: BTreeSet<NodeId>,
}

struct Tracked {
    group: Arc<dyn QuietGroup>,
    ticking: bool,
    last_index: Option<u64>,
    /// When `last_index` last changed (or the group was added).
    changed_at: Instant,
    /// On a follower: the leader whose claim keeps this replica quiet.
    quiet_under: Option<Claim>,
    /// Since the ticker last started again after a quiet spell, on a leader whose lease
    /// may have run out meanwhile: the renewal the next proposals wait for. Cleared once a
    /// renewal succeeded.
    lease_owed: Option<Arc<LeaseRenewal>>,
    /// A leader's last full observation: while the leader is quiet and its glance is the
    /// same, nothing in it moved, and reading it again for every quiet group every interval
    /// would cost more than the timers did.
    last_seen: Option<Observation>,
}

/// One lease renewal, run by the first proposal that needs it and awaited by the others;
/// it holds whether the renewal succeeded.
type LeaseRenewal = tokio::sync::OnceCell<bool>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Claim {
    leader: NodeId,
    term: u64,
}

impl Tracked {
    fn tick(&mut self, id: GroupId, on: bool) {
        if self.ticking != on {
            tracing::debug!(group = %id, ticking = on, quiet_under = ?self.quiet_under, "group timers");
            if on {
                self.lease_owed = Some(Arc::new(LeaseRenewal::new()));
            }
            self.ticking = on;
            self.group.set_ticking(on);
        }
    }

    fn wake(&mut self, id: GroupId) {
        self.quiet_under = None;
        self.tick(id, true);
    }
}

impl State {
    fn live(&self, peer: NodeId, now: Instant, dead_after: Duration) -> bool {
        self.heard
            .get(&peer)
            .is_some_and(|at| now.saturating_duration_since(*at) < dead_after)
    }
}

impl Quiescence {
    pub fn new(me: NodeId, timing: QuietTiming) -> Arc<Self> {
        Arc::new(Self {
            me,
            timing,
            state: Mutex::new(State::default()),
        })
    }

    /// Starts tracking a group's replica; it ticks until its leader claims quiet.
    pub fn insert(&self, id: GroupId, group: Arc<dyn QuietGroup>) {
        let mut state = self.state.lock().expect("quiescence lock");
        state.groups.insert(
            id,
            Tracked {
                group,
                ticking: true,
                last_index: None,
                changed_at: Instant::now(),
                quiet_under: None,
                lease_owed: None,
                last_seen: None,
            },
        );
    }

    /// Stops tracking a group (its replica is shutting down).
    pub fn remove(&self, id: GroupId) {
        self.state.lock().expect("quiescence lock").groups.remove(&id);
    }

    /// A handle that readies `group` for proposals.
    pub fn waker(self: &Arc<Self>, group: GroupId) -> ProposalWaker {
        ProposalWaker {
            quiescence: self.clone(),
            group,
        }
    }

    /// Readies `group` for a proposal: the group stays awake for `idle_after` from now,
    /// and a leader whose ticker was stopped since its last renewal renews its lease
    /// first. openraft refuses proposals from a leader whose lease ran out, and a quiet
    /// leader hears from no quorum. Proposals that arrive while a renewal runs wait for it
    /// rather than start their own: each renewal is a heartbeat round.
    async fn ready_to_propose(&self, id: GroupId) {
        let (group, renewal) = {
            let mut state = self.state.lock().expect("quiescence lock");
            let Some(tracked) = state.groups.get_mut(&id) else {
                return;
            };
            tracked.changed_at = Instant::now();
            if !tracked.group.glance().leading {
                return;
            }
            tracked.tick(id, true);
            let Some(renewal) = tracked.lease_owed.clone() else {
                return;
            };
            (tracked.group.clone(), renewal)
        };
        let renewed = *renewal
            .get_or_init(|| async {
                tracing::trace!(target: "strait::write_path", group = id.0, "lease renewal");
                let renewed = tokio::time::timeout(self.timing.dead_after, group.renew_lease())
                    .await
                    .unwrap_or(false);
                tracing::trace!(target: "strait::write_path", group = id.0, renewed, "lease renewal done");
                renewed
            })
            .await;
        let mut state = self.state.lock().expect("quiescence lock");
        if let Some(tracked) = state.groups.get_mut(&id)
            && tracked
                .lease_owed
                .as_ref()
                .is_some_and(|owed| Arc::ptr_eq(owed, &renewal))
        {
            // A failed renewal is owed again, by the next proposal.
            tracked.lease_owed = (!renewed).then(|| Arc::new(LeaseRenewal::new()));
        }
    }

    /// How many of the tracked replicas have their ticker stopped.
    pub fn quiet_count(&self) -> usize {
        let state = self.state.lock().expect("quiescence lock");
        state.groups.values().filter(|t| !t.ticking).count()
    }

    /// Pings the followers of the groups led here every interval until `stop` turns.
    pub async fn run(self: Arc<Self>, router: Arc<PeerRouter>, mut stop: watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(self.timing.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = interval.tick() => {}
            }
            let peers: Vec<NodeId> = router.addresses().into_keys().collect();
            for (peer, ping) in self.round(Instant::now(), &peers) {
                let this = self.clone();
                let router = router.clone();
                tokio::spawn(async move { this.send(&router, peer, ping).await });
            }
        }
    }

    /// One interval's decisions: which replicas tick, and the pings to send: one to every
    /// peer in `peers` without one still on the way, with the claims for the groups it
    /// follows here. A node pings its peers whether or not it leads anything there, so a
    /// follower hears a leader that stopped claiming a group (it stepped down, or the group
    /// is busy) and wakes it.
    fn round(&self, now: Instant, peers: &[NodeId]) -> BTreeMap<NodeId, QuietPing> {
        let QuietTiming {
            idle_after,
            dead_after,
            stagger,
            ..
        } = self.timing;
        let me = self.me;
        let mut guard = self.state.lock().expect("quiescence lock");
        let state = &mut *guard;
        let mut pings: BTreeMap<NodeId, QuietPing> = peers
            .iter()
            .filter(|p| **p != me)
            .map(|p| {
                (
                    *p,
                    QuietPing {
                        from: me,
                        ..Default::default()
                    },
                )
            })
            .collect();
        // A late round means this node was starved: its peers' pings may be waiting unread,
        // so their silence proves nothing yet.
        let starved = state
            .last_round
            .is_some_and(|last| now.saturating_duration_since(last) > self.timing.interval * 3);
        state.last_round = Some(now);
        let mut groups = std::mem::take(&mut state.groups);
        for (&id, tracked) in groups.iter_mut() {
            let glance = tracked.group.glance();
            if glance.last_log_index != tracked.last_index {
                tracked.last_index = glance.last_log_index;
                tracked.changed_at = now;
            }
            if glance.leading {
                let unchanged = tracked.last_seen.as_ref().is_some_and(|seen| {
                    seen.term == glance.term && seen.leading && seen.last_log_index == glance.last_log_index
                });
                let seen = match tracked.last_seen.take() {
                    Some(seen) if unchanged && !tracked.ticking => seen,
                    _ => tracked.group.observe(),
                };
                let followers = || seen.voters.iter().copied().filter(move |v| *v != me);
                tracked.quiet_under = None;
                let idle = seen.settled
                    && now.saturating_duration_since(tracked.changed_at) >= idle_after
                    && seen.behind.iter().all(|v| !state.live(*v, now, dead_after));
                for follower in followers() {
                    let ping = pings.entry(follower).or_insert_with(|| QuietPing {
                        from: me,
                        ..Default::default()
                    });
                    if idle {
                        ping.groups.push(id.0);
                        ping.terms.push(seen.term);
                    }
                }
                let all_acked = followers().all(|f| {
                    !state.live(f, now, dead_after)
                        || state.acked.get(&f).and_then(|a| a.get(&id)) == Some(&seen.term)
                });
                tracked.last_seen = Some(seen);
                tracked.tick(id, !(idle && all_acked));
            } else if let Some(claim) = tracked.quiet_under {
                if glance.term > claim.term {
                    // An election happened since: the group is no longer the claimant's.
                    tracked.wake(id);
                } else if !starved && !state.live(claim.leader, now, dead_after) {
                    let silent_since = state.heard.get(&claim.leader).copied().unwrap_or(now);
                    let rank = tracked
                        .group
                        .observe()
                        .voters
                        .iter()
                        .filter(|v| **v != claim.leader && **v < me && state.live(**v, now, dead_after))
                        .count() as u32;
                    if now >= silent_since + dead_after + stagger * rank {
                        tracing::debug!(group = %id, leader = claim.leader, "quiet group's leader is silent, waking");
                        tracked.wake(id);
                    }
                }
            } else {
                tracked.tick(id, true);
            }
        }
        state.groups = groups;
        pings.retain(|peer, _| state.in_flight.insert(*peer));
        pings
    }

    /// Sends one ping and records what its answer proves.
    async fn send(&self, router: &PeerRouter, peer: NodeId, ping: QuietPing) {
        let claims = claims(&ping);
        let answer = match router.channel(peer) {
            Ok(channel) => {
                let mut client = RaftTransportClient::new(channel);
                match tokio::time::timeout(self.timing.dead_after, client.quiet(ping)).await {
                    Ok(Ok(pong)) => Some(Ok(pong.into_inner())),
                    Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => Some(Err(())),
                    Ok(Err(_)) | Err(_) => {
                        router.reset(peer);
                        None
                    }
                }
            }
            Err(_) => None,
        };
        let now = Instant::now();
        let mut state = self.state.lock().expect("quiescence lock");
        state.in_flight.remove(&peer);
        match answer {
            Some(Ok(pong)) => {
                state.heard.insert(peer, now);
                let acked = pong
                    .quiet
                    .iter()
                    .filter_map(|g| claims.get(&GroupId(*g)).map(|t| (GroupId(*g), *t)))
                    .collect();
                state.acked.insert(peer, acked);
            }
            // A peer that cannot go quiet is alive but acknowledges nothing, so the groups
            // it follows keep ticking.
            Some(Err(())) => {
                state.heard.insert(peer, now);
                state.acked.remove(&peer);
            }
            None => {
                state.acked.remove(&peer);
            }
        }
    }

    /// Answers a leader's ping: quiets the claimed groups this replica follows it in,
    /// wakes those it no longer claims, and says which claims are acknowledged.
    pub fn answer(&self, ping: &QuietPing) -> QuietPong {
        let now = Instant::now();
        let from = ping.from;
        let claims = claims(ping);
        let mut state = self.state.lock().expect("quiescence lock");
        state.heard.insert(from, now);
        let mut quiet = Vec::new();
        for (id, tracked) in state.groups.iter_mut() {
            match claims.get(id) {
                Some(&term) => {
                    let seen = tracked.group.glance();
                    let follows = !seen.leading
                        && (seen.term < term || (seen.term == term && seen.leader.is_none_or(|l| l == from)));
                    if !follows {
                        continue;
                    }
                    tracked.quiet_under = Some(Claim { leader: from, term });
                    tracked.tick(*id, false);
                    if seen.term == term && seen.leader == Some(from) {
                        quiet.push(id.0);
                    }
                }
                None => {
                    if tracked.quiet_under.is_some_and(|c| c.leader == from) {
                        tracked.wake(*id);
                    }
                }
            }
        }
        QuietPong { quiet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replica whose observation the test sets and whose ticker it reads.
    #[derive(Default)]
    struct Fake {
        seen: Mutex<Observation>,
        ticking: Mutex<Option<bool>>,
        renewed: Mutex<u32>,
        /// Renewals still to fail, and how long each renewal takes.
        failing_renewals: Mutex<u32>,
        renewal_takes: Mutex<Duration>,
    }

    impl Fake {
        fn set(&self, seen: Observation) {
            *self.seen.lock().unwrap() = seen;
        }
        fn ticking(&self) -> bool {
            self.ticking.lock().unwrap().unwrap_or(true)
        }
    }

    #[tonic::async_trait]
    impl QuietGroup for Fake {
        fn glance(&self) -> Observation {
            self.observe()
        }
        fn observe(&self) -> Observation {
            self.seen.lock().unwrap().clone()
        }
        fn set_ticking(&self, on: bool) {
            *self.ticking.lock().unwrap() = Some(on);
        }
        async fn renew_lease(&self) -> bool {
            *self.renewed.lock().unwrap() += 1;
            let takes = *self.renewal_takes.lock().unwrap();
            tokio::time::sleep(takes).await;
            let mut failing = self.failing_renewals.lock().unwrap();
            let fails = *failing > 0;
            *failing = failing.saturating_sub(1);
            !fails
        }
    }

    const TIMING: QuietTiming = QuietTiming {
        interval: Duration::from_millis(100),
        idle_after: Duration::from_millis(1000),
        dead_after: Duration::from_millis(300),
        stagger: Duration::from_millis(300),
    };
    const G: GroupId = GroupId(7);

    fn leader_view(term: u64, last: u64) -> Observation {
        Observation {
            term,
            leader: Some(1),
            leading: true,
            last_log_index: Some(last),
            voters: vec![1, 2, 3],
            settled: true,
            behind: vec![],
        }
    }

    fn follower_view(me_leader: Option<NodeId>, term: u64, last: u64) -> Observation {
        Observation {
            term,
            leader: me_leader,
            leading: false,
            last_log_index: Some(last),
            voters: vec![1, 2, 3],
            settled: false,
            behind: vec![],
        }
    }

    /// Three nodes' quiescence for one group led by node 1, with pings delivered by hand.
    struct Cluster {
        nodes: Vec<Arc<Quiescence>>,
        replicas: Vec<Arc<Fake>>,
        /// Whether node 1's pings reach the others.
        leader_reachable: bool,
    }

    impl Cluster {
        fn new() -> Self {
            let mut nodes = Vec::new();
            let mut replicas = Vec::new();
            for id in 1..=3u64 {
                let q = Quiescence::new(id, TIMING);
                let fake = Arc::new(Fake::default());
                fake.set(if id == 1 {
                    leader_view(2, 10)
                } else {
                    follower_view(Some(1), 2, 10)
                });
                q.insert(G, fake.clone());
                nodes.push(q);
                replicas.push(fake);
            }
            Self {
                nodes,
                replicas,
                leader_reachable: true,
            }
        }

        /// One interval passes: every node runs its round; node 1's pings are answered by
        /// nodes 2 and 3 if they get through, and nodes 2 and 3 hear each other (they lead
        /// other groups, say). Returns node 1's pings.
        async fn step(&self) -> BTreeMap<NodeId, QuietPing> {
            tokio::time::advance(TIMING.interval).await;
            let now = Instant::now();
            let leader = &self.nodes[0];
            let pings = leader.round(now, &[1, 2, 3]);
            for (peer, ping) in &pings {
                let mut answer = None;
                if self.leader_reachable {
                    answer = Some(self.nodes[*peer as usize - 1].answer(ping));
                }
                let mut state = leader.state.lock().unwrap();
                state.in_flight.remove(peer);
                match answer {
                    Some(pong) => {
                        state.heard.insert(*peer, now);
                        let acked = pong.quiet.iter().map(|g| (GroupId(*g), ping.terms[0])).collect();
                        state.acked.insert(*peer, acked);
                    }
                    None => {
                        state.acked.remove(peer);
                    }
                }
            }
            self.nodes[1].state.lock().unwrap().heard.insert(3, now);
            self.nodes[2].state.lock().unwrap().heard.insert(2, now);
            self.nodes[1].round(now, &[1, 2, 3]);
            self.nodes[2].round(now, &[1, 2, 3]);
            pings
        }

        /// Steps until node 1 claims quiet, which must take `idle_after` (and less than
        /// twice that).
        async fn idle(&self) -> BTreeMap<NodeId, QuietPing> {
            let start = Instant::now();
            loop {
                let pings = self.step().await;
                if pings.values().any(|p| !p.groups.is_empty()) {
                    assert!(start.elapsed() >= TIMING.idle_after);
                    return pings;
                }
                assert!(start.elapsed() < TIMING.idle_after * 2, "never idle");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_group_goes_quiet_on_every_replica_and_wakes_on_a_new_entry() {
        let cluster = Cluster::new();
        let pings = cluster.step().await;
        assert!(pings[&2].groups.is_empty(), "not idle yet: {pings:?}");
        // The first idle round claims quiet; the followers stop ticking and acknowledge.
        let pings = cluster.idle().await;
        assert_eq!(pings[&2].groups, vec![G.0]);
        assert!(
            cluster.replicas[0].ticking(),
            "the leader waits for acknowledgements"
        );
        assert!(!cluster.replicas[1].ticking() && !cluster.replicas[2].ticking());
        // The next round sees both acknowledgements: the leader stops too.
        cluster.step().await;
        assert!(!cluster.replicas[0].ticking());
        assert_eq!(cluster.nodes[0].quiet_count(), 1);
        for _ in 0..20 {
            cluster.step().await;
        }
        assert!(cluster.replicas.iter().all(|r| !r.ticking()), "it stays quiet");

        // A new entry: the leader ticks at once and the claim is dropped.
        cluster.replicas[0].set(leader_view(2, 11));
        let pings = cluster.step().await;
        assert!(pings[&3].groups.is_empty());
        assert!(cluster.replicas.iter().all(|r| r.ticking()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_proposal_wakes_a_quiet_leader_and_renews_its_lease_first() {
        let cluster = Cluster::new();
        cluster.idle().await;
        cluster.step().await;
        assert!(!cluster.replicas[0].ticking());
        let waker = cluster.nodes[0].waker(G);
        waker.ready_to_propose().await;
        assert!(cluster.replicas[0].ticking());
        assert_eq!(*cluster.replicas[0].renewed.lock().unwrap(), 1);
        // The group stays awake for a full idle period, though no entry was added yet.
        let pings = cluster.step().await;
        assert!(pings[&2].groups.is_empty());
        assert!(cluster.replicas[0].ticking());
        // Long after waking, a proposal to a ticking leader costs no round trip.
        for _ in 0..5 {
            cluster.step().await;
        }
        waker.ready_to_propose().await;
        assert_eq!(*cluster.replicas[0].renewed.lock().unwrap(), 1);
    }

    /// Right after a wake-up, proposals share the one renewal instead of each running a
    /// heartbeat round (which made every proposal slow until the wake-up was old); one that
    /// failed is tried again by the next proposal.
    #[tokio::test(start_paused = true)]
    async fn proposals_after_a_wake_up_share_one_lease_renewal() {
        let cluster = Cluster::new();
        cluster.idle().await;
        cluster.step().await;
        let leader = &cluster.replicas[0];
        assert!(!leader.ticking());
        *leader.renewal_takes.lock().unwrap() = Duration::from_millis(20);
        let waker = cluster.nodes[0].waker(G);
        let proposals: Vec<_> = (0..4)
            .map(|_| {
                let waker = waker.clone();
                tokio::spawn(async move { waker.ready_to_propose().await })
            })
            .collect();
        for proposal in proposals {
            proposal.await.unwrap();
        }
        assert!(leader.ticking());
        assert_eq!(*leader.renewed.lock().unwrap(), 1, "one renewal for all four");
        // Just after the renewal, a proposal costs no round trip.
        waker.ready_to_propose().await;
        assert_eq!(*leader.renewed.lock().unwrap(), 1);

        // Quiet again; this time the renewal fails, so the next proposal renews again.
        cluster.idle().await;
        cluster.step().await;
        assert!(!leader.ticking());
        *leader.failing_renewals.lock().unwrap() = 1;
        waker.ready_to_propose().await;
        assert_eq!(*leader.renewed.lock().unwrap(), 2);
        waker.ready_to_propose().await;
        assert_eq!(
            *leader.renewed.lock().unwrap(),
            3,
            "a failed renewal is owed again"
        );
        waker.ready_to_propose().await;
        assert_eq!(*leader.renewed.lock().unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_live_follower_keeps_the_group_awake() {
        let cluster = Cluster::new();
        let mut lagging = leader_view(2, 10);
        lagging.behind = vec![3];
        cluster.replicas[0].set(lagging);
        for _ in 0..30 {
            let pings = cluster.step().await;
            assert!(pings[&2].groups.is_empty());
            assert!(cluster.replicas.iter().all(|r| r.ticking()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_that_does_not_know_the_leader_goes_quiet_without_acknowledging() {
        let cluster = Cluster::new();
        cluster.replicas[2].set(follower_view(None, 1, 10));
        cluster.idle().await;
        cluster.step().await;
        assert!(
            !cluster.replicas[2].ticking(),
            "it must not campaign against a live leader"
        );
        assert!(
            cluster.replicas[0].ticking(),
            "the leader heartbeats until node 3 knows it"
        );
        // Once it knows the leader, it acknowledges and the leader goes quiet too.
        cluster.replicas[2].set(follower_view(Some(1), 2, 10));
        cluster.step().await;
        cluster.step().await;
        assert!(!cluster.replicas[0].ticking());
    }

    #[tokio::test(start_paused = true)]
    async fn followers_of_a_silent_leader_wake_one_after_the_other() {
        let mut cluster = Cluster::new();
        cluster.idle().await;
        cluster.step().await;
        assert!(cluster.replicas.iter().all(|r| !r.ticking()));
        cluster.leader_reachable = false;
        let start = Instant::now();
        let mut woke = BTreeMap::new();
        for _ in 0..20 {
            cluster.step().await;
            for i in [1, 2] {
                if cluster.replicas[i].ticking() {
                    woke.entry(i + 1).or_insert(Instant::now() - start);
                }
            }
        }
        assert!(
            woke[&2] >= TIMING.dead_after && woke[&2] <= TIMING.dead_after + TIMING.interval,
            "{woke:?}"
        );
        assert!(woke[&3] >= woke[&2] + TIMING.stagger, "{woke:?}");
        // The leader, hearing from no follower, needs no acknowledgement to stay quiet.
        assert!(!cluster.replicas[0].ticking());
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_that_steps_down_wakes_its_followers_with_its_next_ping() {
        let cluster = Cluster::new();
        cluster.idle().await;
        cluster.step().await;
        assert!(!cluster.replicas[1].ticking());
        // Node 1 no longer leads the group (say it was removed from it) but lives on and
        // pings: the claim is missing from its next ping.
        cluster.replicas[0].set(follower_view(None, 2, 10));
        let pings = cluster.step().await;
        assert!(pings[&2].groups.is_empty());
        assert!(cluster.replicas.iter().all(|r| r.ticking()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_starved_node_does_not_take_its_peers_silence_for_death() {
        let mut cluster = Cluster::new();
        cluster.idle().await;
        cluster.step().await;
        cluster.leader_reachable = false;
        // Node 2 runs no round for a second: when it runs again, node 1's pings may be
        // waiting unread, and it does not wake the group in that round.
        tokio::time::advance(Duration::from_secs(1)).await;
        cluster.nodes[1].round(Instant::now(), &[1, 2, 3]);
        assert!(!cluster.replicas[1].ticking());
        // The next, punctual round does.
        tokio::time::advance(TIMING.interval).await;
        cluster.nodes[1].round(Instant::now(), &[1, 2, 3]);
        assert!(cluster.replicas[1].ticking());
    }

    #[tokio::test(start_paused = true)]
    async fn a_newer_term_wakes_a_quiet_follower() {
        let cluster = Cluster::new();
        cluster.idle().await;
        assert!(!cluster.replicas[1].ticking());
        cluster.step().await;
        cluster.replicas[1].set(follower_view(Some(3), 3, 11));
        cluster.nodes[1].round(Instant::now(), &[1, 2, 3]);
        assert!(cluster.replicas[1].ticking());
        // A claim from a stale leader is not followed.
        let ping = QuietPing {
            from: 1,
            groups: vec![G.0],
            terms: vec![2],
        };
        assert!(cluster.nodes[1].answer(&ping).quiet.is_empty());
        assert!(cluster.replicas[1].ticking());
    }
}
