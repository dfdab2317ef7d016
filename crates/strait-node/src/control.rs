//! This node's handle on the control plane: the local replica of the metadata, and
//! proposals that reach the control leader from any node.

use std::sync::Arc;
use std::time::Duration;

use openraft::rt::WatchReceiver;
use strait_control::{ControlCommand, ControlRaft, ControlReply, ControlView};
use strait_core::StraitError;
use strait_proto::internal::node_internal_client::NodeInternalClient;
use strait_proto::internal::{ControlProposal, ControlReadIndexRequest};
use strait_raft::codec;
use strait_raft::network::PeerRouter;
use tokio::sync::watch;

/// How long a proposal keeps trying to find a control leader.
const PROPOSE_DEADLINE: Duration = Duration::from_secs(10);

/// The control plane as seen from this node.
#[derive(Clone)]
pub struct ControlHandle {
    raft: ControlRaft,
    view: watch::Receiver<Arc<ControlView>>,
    router: Arc<PeerRouter>,
}

impl ControlHandle {
    pub fn new(raft: ControlRaft, view: watch::Receiver<Arc<ControlView>>, router: Arc<PeerRouter>) -> Self {
        Self { raft, view, router }
    }

    pub fn raft(&self) -> &ControlRaft {
        &self.raft
    }

    /// The metadata as this node last applied it.
    pub fn view(&self) -> Arc<ControlView> {
        self.view.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<Arc<ControlView>> {
        self.view.clone()
    }

    /// The control leader as this node knows it.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Commits a command through the control leader, wherever it is, and waits until
    /// this node applied it, so a caller reads its own change.
    pub async fn propose(&self, command: ControlCommand) -> Result<ControlReply, StraitError> {
        let deadline = tokio::time::Instant::now() + PROPOSE_DEADLINE;
        let mut backoff = Duration::from_millis(20);
        loop {
            let attempt = match self.raft.client_write(command.clone()).await {
                Ok(response) => Ok((response.data, response.log_id.index)),
                Err(e) => match e.forward_to_leader().and_then(|f| f.leader_id) {
                    Some(leader) => self.propose_remote(leader, &command).await,
                    None => Err(StraitError::unavailable(format!("no control-plane leader: {e}"))),
                },
            };
            match attempt {
                Ok((reply, index)) => {
                    self.wait_applied(index).await;
                    return Ok(reply);
                }
                Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "control proposal retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn propose_remote(
        &self,
        leader: u64,
        command: &ControlCommand,
    ) -> Result<(ControlReply, u64), StraitError> {
        let channel = self
            .router
            .channel(leader)
            .map_err(|e| StraitError::unavailable(e.to_string()))?;
        let body = codec::encode(command).map_err(|e| StraitError::internal(e.to_string()))?;
        let mut client = NodeInternalClient::new(channel);
        let call = client.propose_control(ControlProposal { command: body.into() });
        match tokio::time::timeout(Duration::from_secs(5), call).await {
            Ok(Ok(response)) => {
                codec::decode(&response.into_inner().reply).map_err(|e| StraitError::internal(e.to_string()))
            }
            Ok(Err(status)) => {
                self.router.reset(leader);
                Err(StraitError::unavailable(format!(
                    "control leader {leader}: {}",
                    status.message()
                )))
            }
            Err(_) => {
                self.router.reset(leader);
                Err(StraitError::unavailable(format!(
                    "control leader {leader} timed out"
                )))
            }
        }
    }

    /// The control leader's read index: the metadata up to it includes every change
    /// committed before this call.
    pub async fn read_index(&self) -> Result<u64, StraitError> {
        match self
            .raft
            .ensure_linearizable(openraft::ReadPolicy::ReadIndex)
            .await
        {
            Ok(read) => Ok(read.index()),
            Err(e) => {
                let Some(leader) = e.forward_to_leader().and_then(|f| f.leader_id) else {
                    return Err(StraitError::unavailable(format!("no control-plane leader: {e}")));
                };
                let channel = self
                    .router
                    .channel(leader)
                    .map_err(|e| StraitError::unavailable(e.to_string()))?;
                let mut client = NodeInternalClient::new(channel);
                let call = client.control_read_index(ControlReadIndexRequest {});
                match tokio::time::timeout(Duration::from_secs(2), call).await {
                    Ok(Ok(response)) => Ok(response.into_inner().index),
                    Ok(Err(status)) => Err(StraitError::unavailable(status.message().to_string())),
                    Err(_) => Err(StraitError::unavailable(format!(
                        "control leader {leader} timed out"
                    ))),
                }
            }
        }
    }

    /// Brings this node's metadata up to date with everything committed so far. Used
    /// when a request names something this node does not know yet, so that a stream
    /// created (or activated) through another node is visible here right after.
    pub async fn catch_up(&self) {
        match self.read_index().await {
            Ok(index) => self.wait_applied(index).await,
            Err(e) => tracing::debug!(error = %e, "cannot catch up with the control leader"),
        }
    }

    /// Waits (briefly) until the local metadata reaches routing version `version`.
    pub async fn wait_routing_version(&self, version: u64) {
        let mut view = self.view.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            view.wait_for(|v| v.state.routing_version >= version),
        )
        .await;
    }

    /// Waits (briefly) until the local replica applied `index`.
    pub async fn wait_applied(&self, index: u64) {
        let mut view = self.view.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            view.wait_for(|v| v.applied_index >= index),
        )
        .await;
    }
}
