//! The Raft groups hosted on this node, by id.
//!
//! Incoming RPCs name their group; the registry hands them to that group's Raft. A group
//! that is not (yet, or any more) here answers `UNAVAILABLE`: that is normal while a
//! group is being created on its replicas or removed, and the sender simply retries.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use openraft::alias::{LogIdOf, SnapshotMetaOf, VoteOf};
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::storage::RaftStateMachine;
use openraft::{Raft, RaftTypeConfig, Snapshot};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strait_proto::internal::RaftRpc;
use tonic::Status;

use crate::codec;
use crate::group::GroupId;
use crate::snapshot::SnapshotData;

/// One hosted group, as seen by the transport: untyped bytes in, bytes out.
#[tonic::async_trait]
pub trait GroupRpc: Send + Sync + 'static {
    async fn raft(&self, rpc: RaftRpc, body: Bytes) -> Result<Bytes, Status>;

    /// Installs a snapshot whose chunks were staged; `header` is the sender's
    /// postcard-encoded `(vote, meta)`.
    async fn install_snapshot(&self, header: Bytes, data: SnapshotData) -> Result<Bytes, Status>;
}

/// [`GroupRpc`] for any openraft group whose snapshots are [`SnapshotData`].
pub struct RaftGroupRpc<C: RaftTypeConfig, SM: RaftStateMachine<C>> {
    raft: Raft<C, SM>,
    /// Candidates whose last log id is below this are refused a vote.
    vote_floor: Option<LogIdOf<C>>,
    _config: PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig, SM: RaftStateMachine<C>> RaftGroupRpc<C, SM> {
    pub fn new(raft: Raft<C, SM>) -> Self {
        Self {
            raft,
            vote_floor: None,
            _config: PhantomData,
        }
    }

    /// Refuses (pre-)votes to candidates whose log ends before `floor`: the last log id
    /// an earlier, deleted copy of this replica held (see
    /// [`crate::log_store::LogStore::record_retirement`]). The new copy may hold less, but
    /// a candidate that the old copy would have refused must still be refused. Refusing a
    /// vote is always safe; a candidate with the group's current log is above the floor.
    pub fn refusing_votes_behind(mut self, floor: Option<LogIdOf<C>>) -> Self {
        self.vote_floor = floor;
        self
    }

    fn check_vote_floor(&self, req: &VoteRequest<C>) -> Result<(), Status> {
        match &self.vote_floor {
            Some(floor) if req.last_log_id.as_ref() < Some(floor) => {
                Err(Status::failed_precondition(format!(
                    "vote refused: the candidate's log ends at {:?}, before {floor:?}, which an earlier copy of this replica held",
                    req.last_log_id
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Record data in the decoded message slices `body` rather than copying it.
fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, Status> {
    codec::decode_shared(body).map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, Status> {
    codec::encode(value)
        .map(Bytes::from)
        .map_err(|e| Status::internal(e.to_string()))
}

/// A group that stopped (fatal error or shutdown) is unavailable, like an absent one.
fn stopped(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft group stopped: {e}"))
}

#[tonic::async_trait]
impl<C, SM> GroupRpc for RaftGroupRpc<C, SM>
where
    C: RaftTypeConfig,
    SM: RaftStateMachine<C, SnapshotData = SnapshotData>,
    AppendEntriesRequest<C>: DeserializeOwned,
    VoteRequest<C>: DeserializeOwned,
    TransferLeaderRequest<C>: DeserializeOwned,
    VoteOf<C>: DeserializeOwned,
    SnapshotMetaOf<C>: DeserializeOwned,
    openraft::raft::AppendEntriesResponse<C>: Serialize,
    openraft::raft::VoteResponse<C>: Serialize,
    openraft::raft::SnapshotResponse<C>: Serialize,
    openraft::raft::TransferLeaderResponse<C>: Serialize,
{
    async fn raft(&self, rpc: RaftRpc, body: Bytes) -> Result<Bytes, Status> {
        match rpc {
            RaftRpc::AppendEntries => {
                let req: AppendEntriesRequest<C> = decode(&body)?;
                let entries = req.entries.len();
                tracing::trace!(target: "strait::write_path", entries, bytes = body.len(), "append received");
                let answer = encode(&self.raft.append_entries(req).await.map_err(stopped)?);
                tracing::trace!(target: "strait::write_path", entries, "append handled");
                answer
            }
            RaftRpc::Vote => {
                let req: VoteRequest<C> = decode(&body)?;
                self.check_vote_floor(&req)?;
                encode(&self.raft.vote(req).await.map_err(stopped)?)
            }
            RaftRpc::PreVote => {
                let req: VoteRequest<C> = decode(&body)?;
                self.check_vote_floor(&req)?;
                encode(&self.raft.pre_vote(req).await.map_err(stopped)?)
            }
            RaftRpc::TransferLeader => {
                let req: TransferLeaderRequest<C> = decode(&body)?;
                encode(&self.raft.handle_transfer_leader(req).await.map_err(stopped)?)
            }
        }
    }

    async fn install_snapshot(&self, header: Bytes, data: SnapshotData) -> Result<Bytes, Status> {
        let (vote, meta): (VoteOf<C>, SnapshotMetaOf<C>) = decode(&header)?;
        let snapshot = Snapshot { meta, snapshot: data };
        encode(
            &self
                .raft
                .install_full_snapshot(vote, snapshot)
                .await
                .map_err(stopped)?,
        )
    }
}

/// The groups hosted on this node.
#[derive(Default)]
pub struct GroupRegistry {
    groups: RwLock<BTreeMap<GroupId, Arc<dyn GroupRpc>>>,
}

impl GroupRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&self, group: GroupId, rpc: Arc<dyn GroupRpc>) {
        self.groups.write().expect("registry lock").insert(group, rpc);
    }

    pub fn remove(&self, group: GroupId) {
        self.groups.write().expect("registry lock").remove(&group);
    }

    pub fn get(&self, group: GroupId) -> Option<Arc<dyn GroupRpc>> {
        self.groups.read().expect("registry lock").get(&group).cloned()
    }
}
