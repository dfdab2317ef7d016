//! Work the control leader drives: bootstrapping the metadata of a new cluster, turning
//! streams ACTIVE once every shard group has elected a leader, finishing reshards whose
//! initiating node went away, and keeping the membership healthy ([`MembershipKeeper`]).
//!
//! Each step is observed, not remembered: a new control leader looks at the metadata and
//! the groups, and does whatever is still missing, so a failover in the middle simply
//! resumes. Repeating a step is harmless (bootstrap is refused once done; activation of
//! an ACTIVE stream changes nothing).

use std::sync::Arc;
use std::time::Duration;

use strait_control::{ControlCommand, NodeInfo, StreamKey};
use strait_core::StreamStatus;

use crate::control::ControlHandle;
use crate::membership::MembershipKeeper;
use crate::operations::Operations;
use crate::status::ClusterStatusProbe;

/// How often the leader looks for work.
const INTERVAL: Duration = Duration::from_millis(100);
/// A reshard older than this is assumed abandoned by its initiator and finished here.
const STALLED_RESHARD_MS: u64 = 3_000;

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
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        let view = control.view();
        keeper.pass(&view, &probe).await;
        if !control.raft().is_leader() {
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
        let now_ms = operations.clock().now_ms();
        let stalled: Vec<(StreamKey, u64)> = view
            .state
            .streams
            .values()
            .filter_map(|s| s.reshard.as_ref().map(|r| (s.key.clone(), r.id, r.started_at_ms)))
            .filter(|(_, _, started)| now_ms.saturating_sub(*started) > STALLED_RESHARD_MS)
            .map(|(key, id, _)| (key, id))
            .collect();
        for (key, intent) in stalled {
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
        if creating.is_empty() {
            continue;
        }
        let leaders = probe.group_leaders().await.leaders;
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
