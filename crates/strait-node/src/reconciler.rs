//! Work the control leader drives: bootstrapping the metadata of a new cluster, recording
//! each new shard group's first leader, turning streams ACTIVE once every shard group has
//! elected a leader, finishing reshards whose initiating node went away, and keeping the
//! membership healthy ([`MembershipKeeper`]).
//!
//! Each step is observed, not remembered: a new control leader looks at the metadata and
//! the groups, and does whatever is still missing, so a failover in the middle simply
//! resumes. Repeating a step is harmless (bootstrap is refused once done; activation of
//! an ACTIVE stream changes nothing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use strait_control::{ControlCommand, NodeInfo, StreamKey};
use strait_core::StreamStatus;
use tokio::time::Instant;

use crate::control::ControlHandle;
use crate::membership::MembershipKeeper;
use crate::operations::Operations;
use crate::status::ClusterStatusProbe;

/// How often the leader looks for work.
const INTERVAL: Duration = Duration::from_millis(100);
/// A reshard this leader has seen in flight for this long is assumed abandoned by its
/// initiator and finished here.
const STALLED_RESHARD: Duration = Duration::from_secs(3);

/// Times how long each reshard has been in flight, as this control leader observed it.
///
/// The intent's recorded start is the initiating node's wall clock, which may be far from
/// the leader's (a clock 57 s ahead made a reshard look as if it started in the future,
/// so it was not finished for about a minute). Timing from when this node first saw the
/// intent, on its own monotonic clock, needs no agreement between two nodes' clocks; a
/// new leader starts timing afresh, which delays finishing by at most one threshold.
#[derive(Debug, Default)]
struct StallTimer {
    first_seen: BTreeMap<(StreamKey, u64), Instant>,
}

impl StallTimer {
    /// Records the reshards in flight at `now` and returns those first seen at least
    /// `threshold` earlier. Intents no longer in flight are forgotten.
    fn stalled(
        &mut self,
        in_flight: impl IntoIterator<Item = (StreamKey, u64)>,
        now: Instant,
        threshold: Duration,
    ) -> Vec<(StreamKey, u64)> {
        let mut seen = BTreeMap::new();
        for intent in in_flight {
            let since = self.first_seen.get(&intent).copied().unwrap_or(now);
            seen.insert(intent, since);
        }
        self.first_seen = seen;
        self.first_seen
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= threshold)
            .map(|(intent, _)| intent.clone())
            .collect()
    }

    /// Forgets every intent: this node no longer leads, so its observations stop.
    fn clear(&mut self) {
        self.first_seen.clear();
    }
}

/// Runs until `shutdown` fires.
pub async fn run(
    operations: Arc<Operations>,
    control: ControlHandle,
    probe: Arc<ClusterStatusProbe>,
    initial_cluster: Vec<NodeInfo>,
    iterator_secret: Vec<u8>,
    mut keeper: MembershipKeeper,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut stall_timer = StallTimer::default();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        let view = control.view();
        keeper.pass(&view, &probe).await;
        if !control.raft().is_leader() {
            stall_timer.clear();
            continue;
        }
        if !view.state.bootstrapped {
            let command = ControlCommand::Bootstrap {
                nodes: initial_cluster.clone(),
                iterator_secret: iterator_secret.clone(),
            };
            match control.propose(command).await {
                Ok(reply) => tracing::info!(?reply, "cluster bootstrapped"),
                Err(e) => tracing::warn!(error = %e, "bootstrap failed; retrying"),
            }
            continue;
        }
        // A reshard whose initiating node went away is finished here.
        let in_flight = view
            .state
            .streams
            .values()
            .filter_map(|s| s.reshard.as_ref().map(|r| (s.key.clone(), r.id)));
        for (key, intent) in stall_timer.stalled(in_flight, Instant::now(), STALLED_RESHARD) {
            match crate::reshard::finish(&operations, &key, intent).await {
                Ok(()) => tracing::info!(stream = %key.name, intent, "stalled reshard finished"),
                Err(e) => {
                    tracing::warn!(stream = %key.name, intent, error = %e, "stalled reshard not finished yet")
                }
            }
        }
        let creating: Vec<(StreamKey, strait_core::StreamIncarnation, Vec<u64>)> = view
            .state
            .streams
            .values()
            .filter(|s| s.status == StreamStatus::Creating)
            .map(|s| {
                (
                    s.key.clone(),
                    s.incarnation,
                    s.shards.values().map(|sh| sh.group).collect(),
                )
            })
            .collect();
        let uninitialized: Vec<u64> = view
            .state
            .groups
            .values()
            .filter(|g| !g.initialized)
            .map(|g| g.id)
            .collect();
        if creating.is_empty() && uninitialized.is_empty() {
            continue;
        }
        let leaders = probe.group_leaders().await.leaders;
        record_first_leaders(&control, &uninitialized, &leaders).await;
        for (key, incarnation, groups) in creating {
            if groups.iter().all(|g| leaders.get(g).copied().flatten().is_some()) {
                let name = key.name.clone();
                match control
                    .propose(ControlCommand::ActivateStream { key, incarnation })
                    .await
                {
                    Ok(_) => tracing::info!(stream = %name, "stream active"),
                    Err(e) => {
                        tracing::warn!(stream = %name, error = %e, "activation failed; retrying")
                    }
                }
            }
        }
    }
}

/// Records that the groups among `uninitialized` with a leader in `leaders` have had one,
/// which lets their replicas move and stops any node from initializing them again.
async fn record_first_leaders(
    control: &ControlHandle,
    uninitialized: &[u64],
    leaders: &BTreeMap<u64, Option<u64>>,
) {
    let groups: Vec<u64> = uninitialized
        .iter()
        .copied()
        .filter(|g| leaders.get(g).copied().flatten().is_some())
        .collect();
    if groups.is_empty() {
        return;
    }
    match control
        .propose(ControlCommand::GroupsInitialized {
            groups: groups.clone(),
        })
        .await
    {
        Ok(_) => tracing::debug!(?groups, "shard groups have had a leader"),
        Err(e) => tracing::warn!(?groups, error = %e, "first leaders not recorded; retrying"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> StreamKey {
        StreamKey {
            namespace: strait_core::Namespace::default(),
            name: name.parse().unwrap(),
        }
    }

    #[test]
    fn a_reshard_is_stalled_only_once_seen_in_flight_for_the_threshold() {
        let mut timer = StallTimer::default();
        let start = Instant::now();
        let threshold = Duration::from_secs(3);
        let intent = (key("s"), 7);
        assert!(timer.stalled([intent.clone()], start, threshold).is_empty());
        assert!(
            timer
                .stalled([intent.clone()], start + Duration::from_millis(2_900), threshold)
                .is_empty()
        );
        assert_eq!(
            timer.stalled([intent.clone()], start + threshold, threshold),
            vec![intent]
        );
    }

    #[test]
    fn a_finished_reshard_is_forgotten_and_a_new_leader_times_afresh() {
        let mut timer = StallTimer::default();
        let start = Instant::now();
        let threshold = Duration::from_secs(3);
        let first = (key("s"), 1);
        let second = (key("s"), 2);
        timer.stalled([first.clone()], start, threshold);
        // The first finished and a second began.
        timer.stalled([second.clone()], start + Duration::from_secs(2), threshold);
        assert!(
            timer
                .stalled([first.clone()], start + Duration::from_secs(4), threshold)
                .is_empty(),
            "an intent seen again is timed from its new sighting"
        );
        timer.clear();
        assert!(
            timer
                .stalled([first], start + Duration::from_secs(10), threshold)
                .is_empty()
        );
    }
}
