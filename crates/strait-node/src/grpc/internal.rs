//! `NodeInternal`: what nodes ask of each other besides Raft.

use std::sync::Arc;

use strait_control::{ControlCommand, ControlReply, NodeInfo, NodeState};
use strait_core::RecordPosition;
use strait_proto::internal::node_internal_server::NodeInternal;
use strait_proto::internal::{
    AppendRecordsRequest, AppendRecordsResponse, CommittedBatchRequest, CommittedBatchResponse,
    ControlProposal, ControlProposalResult, ControlReadIndexRequest, ControlReadIndexResponse,
    FindTimestampRequest, FindTimestampResponse, GroupLeadersRequest, GroupLeadersResponse, JoinRequest,
    JoinResponse, ReadRecordsRequest, ReadRecordsResponse, SealShardRequest, SealShardResponse, ShardTip,
    ShardTipRequest, StoredRecord, TransferLeaderRequest, TransferLeaderResponse,
};
use strait_raft::GroupId;
use strait_raft::codec;
use strait_raft::shard::{AppendError, BatchOutcome, ProducerBatch, SealedLookup, ShardRecord};
use tonic::{Request, Response, Status};

use super::status::with_type;
use crate::control::ControlHandle;
use crate::shard_access::{
    LEADER_METADATA, NOT_LEADER, ROUTING_VERSION_METADATA, SHARD_SEALED, STALE_ROUTING, THROTTLED,
    tip_to_proto,
};
use crate::shards::{LocalShard, ShardHost};

/// Serves other nodes.
pub struct NodeInternalService {
    host: Arc<ShardHost>,
    control: ControlHandle,
    shutting_down: tokio::sync::watch::Receiver<bool>,
}

impl NodeInternalService {
    pub fn new(
        host: Arc<ShardHost>,
        control: ControlHandle,
        shutting_down: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            host,
            control,
            shutting_down,
        }
    }

    fn shard(&self, group: u64) -> Result<Arc<LocalShard>, Status> {
        self.host
            .get(GroupId(group))
            .ok_or_else(|| Status::unavailable(format!("shard group {group} is not hosted here")))
    }
}

fn not_leader(leader: Option<u64>) -> Status {
    let mut status = with_type(Status::failed_precondition("not the shard leader"), NOT_LEADER);
    if let Some(leader) = leader
        && let Ok(value) = leader.to_string().parse()
    {
        status.metadata_mut().insert(LEADER_METADATA, value);
    }
    status
}

#[tonic::async_trait]
impl NodeInternal for NodeInternalService {
    async fn append_records(
        &self,
        request: Request<AppendRecordsRequest>,
    ) -> Result<Response<AppendRecordsResponse>, Status> {
        let request = request.into_inner();
        // A sender that routed by older metadata than ours, to a group our metadata no
        // longer routes to, is told so. (A sender with newer metadata than ours may name
        // a group we do not know yet: that is only a retry.)
        let view = self.control.view();
        if !view.state.groups.contains_key(&request.group_id) {
            if view.state.routing_version >= request.routing_version {
                let mut status = with_type(
                    Status::failed_precondition("the routing table used for this append is out of date"),
                    STALE_ROUTING,
                );
                if let Ok(value) = view.state.routing_version.to_string().parse() {
                    status.metadata_mut().insert(ROUTING_VERSION_METADATA, value);
                }
                return Err(status);
            }
            return Err(Status::unavailable(format!(
                "shard group {} is not known here yet",
                request.group_id
            )));
        }
        let shard = self.shard(request.group_id)?;
        let batch = ProducerBatch {
            producer: request.producer_id,
            sequence: request.producer_sequence,
            records: request
                .records
                .into_iter()
                .map(|r| ShardRecord {
                    partition_key: r.partition_key,
                    data: r.data,
                })
                .collect(),
        };
        if !self.host.admit_write(&shard, &batch) {
            return Err(with_type(
                Status::resource_exhausted("the shard's write throughput limit is exceeded"),
                THROTTLED,
            ));
        }
        let started = tokio::time::Instant::now();
        match shard.batcher.append(batch).await {
            Ok(BatchOutcome::Committed { index, first_offset }) => {
                self.host
                    .metrics()
                    .observe_commit(request.group_id, started.elapsed());
                Ok(Response::new(AppendRecordsResponse {
                    log_index: index,
                    first_offset,
                }))
            }
            Ok(BatchOutcome::ShardSealed) | Err(AppendError::Sealed) => Err(with_type(
                Status::failed_precondition("the shard is sealed"),
                SHARD_SEALED,
            )),
            Err(AppendError::NotLeader { leader }) => Err(not_leader(leader)),
            Err(AppendError::Unavailable(e)) => Err(Status::unavailable(e)),
        }
    }

    async fn read_records(
        &self,
        request: Request<ReadRecordsRequest>,
    ) -> Result<Response<ReadRecordsResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(request.group_id)?;
        let from = RecordPosition::new(request.from_index, request.from_offset);
        let records = shard
            .reader
            .read(from, request.limit as usize, request.max_bytes as usize)
            .map_err(|e| Status::internal(format!("reading shard group {}: {e}", request.group_id)))?;
        Ok(Response::new(ReadRecordsResponse {
            records: records
                .into_iter()
                .map(|r| StoredRecord {
                    log_index: r.position.index,
                    offset: r.position.offset,
                    partition_key: r.partition_key,
                    data: r.data,
                    arrival_ms: r.arrival_ms,
                })
                .collect(),
            tip: Some(tip_to_proto(&shard.reader.tip())),
        }))
    }

    async fn get_shard_tip(&self, request: Request<ShardTipRequest>) -> Result<Response<ShardTip>, Status> {
        let shard = self.shard(request.into_inner().group_id)?;
        Ok(Response::new(tip_to_proto(&shard.reader.tip())))
    }

    async fn seal_shard(
        &self,
        request: Request<SealShardRequest>,
    ) -> Result<Response<SealShardResponse>, Status> {
        let shard = self.shard(request.into_inner().group_id)?;
        match shard.seal().await {
            Ok(sealed_at) => Ok(Response::new(SealShardResponse { sealed_at })),
            Err(AppendError::NotLeader { leader }) => Err(not_leader(leader)),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn committed_batch(
        &self,
        request: Request<CommittedBatchRequest>,
    ) -> Result<Response<CommittedBatchResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(request.group_id)?;
        let found = shard
            .reader
            .committed_batch(request.producer_id, request.producer_sequence)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(match found {
            SealedLookup::Committed(batch) => CommittedBatchResponse {
                found: true,
                log_index: batch.index,
                first_offset: batch.first_offset,
                count: batch.count,
            },
            SealedLookup::Absent => CommittedBatchResponse::default(),
            SealedLookup::NotSealedHere => {
                return Err(Status::unavailable(format!(
                    "this replica of group {} has not applied its seal yet",
                    request.group_id
                )));
            }
        }))
    }

    async fn find_timestamp(
        &self,
        request: Request<FindTimestampRequest>,
    ) -> Result<Response<FindTimestampResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(request.group_id)?;
        let position = shard
            .reader
            .find_timestamp(request.timestamp_ms)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(FindTimestampResponse {
            index: position.index,
            offset: position.offset,
        }))
    }

    async fn propose_control(
        &self,
        request: Request<ControlProposal>,
    ) -> Result<Response<ControlProposalResult>, Status> {
        let command: ControlCommand = codec::decode(&request.into_inner().command)
            .map_err(|e| Status::invalid_argument(format!("undecodable control command: {e}")))?;
        let response = self
            .control
            .raft()
            .client_write(command)
            .await
            .map_err(|e| Status::unavailable(format!("not the control leader: {e}")))?;
        let reply = codec::encode(&(response.data, response.log_id.index))
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(ControlProposalResult { reply: reply.into() }))
    }

    async fn control_read_index(
        &self,
        _request: Request<ControlReadIndexRequest>,
    ) -> Result<Response<ControlReadIndexResponse>, Status> {
        let read = self
            .control
            .raft()
            .ensure_linearizable(openraft::ReadPolicy::ReadIndex)
            .await
            .map_err(|e| Status::unavailable(format!("not the control leader: {e}")))?;
        Ok(Response::new(ControlReadIndexResponse { index: read.index() }))
    }

    async fn group_leaders(
        &self,
        request: Request<GroupLeadersRequest>,
    ) -> Result<Response<GroupLeadersResponse>, Status> {
        let view = self.control.view();
        let groups = request
            .into_inner()
            .group_ids
            .into_iter()
            .map(|id| crate::status::group_leader(&self.host, &view, id))
            .collect();
        Ok(Response::new(GroupLeadersResponse {
            groups,
            shutting_down: *self.shutting_down.borrow(),
        }))
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        let JoinRequest { node_id, address } = request.into_inner();
        if node_id == 0 || address.is_empty() {
            return Err(Status::invalid_argument(
                "a joining node needs an id of at least 1 and an address",
            ));
        }
        let node = NodeInfo {
            id: node_id,
            address,
            voter: false,
            state: NodeState::Active,
        };
        match self.control.propose(ControlCommand::AddNode { node }).await {
            Ok(ControlReply::Rejected(reason)) => Err(Status::already_exists(reason.to_string())),
            Ok(_) => Ok(Response::new(JoinResponse {})),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        let TransferLeaderRequest { group_id, to } = request.into_inner();
        let shard = self.shard(group_id)?;
        if shard.leader() != Some(self.host.node_id()) {
            return Err(not_leader(shard.leader()));
        }
        shard
            .raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(TransferLeaderResponse {}))
    }
}
