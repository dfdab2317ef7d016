//! The `RaftTransport` gRPC service: every group's incoming Raft RPCs on one port.

use std::sync::Arc;

use strait_proto::internal::raft_transport_server::RaftTransport;
use strait_proto::internal::{
    QuietPing, QuietPong, RaftBatchItem, RaftBatchRequest, RaftBatchResponse, RaftRequest, RaftResponse,
    RaftRpc, SnapshotChunk,
};
use strait_storage::KvEngine;
use strait_storage::keys::SnapshotSlot;
use tonic::{Request, Response, Status, Streaming};

use super::registry::GroupRegistry;
use crate::group::GroupId;
use crate::quiescence::Quiescence;
use crate::snapshot::ChunkWriter;

/// Serves Raft RPCs for every group in the registry.
pub struct RaftTransportService {
    registry: Arc<GroupRegistry>,
    engine: Arc<dyn KvEngine>,
    quiescence: Option<Arc<Quiescence>>,
}

impl RaftTransportService {
    pub fn new(registry: Arc<GroupRegistry>, engine: Arc<dyn KvEngine>) -> Self {
        Self {
            registry,
            engine,
            quiescence: None,
        }
    }

    /// Answers leaders' quiet pings with this node's quiescence; without it, they are
    /// refused as unimplemented and the groups here keep ticking.
    pub fn with_quiescence(mut self, quiescence: Arc<Quiescence>) -> Self {
        self.quiescence = Some(quiescence);
        self
    }

    async fn dispatch(&self, request: RaftRequest) -> Result<bytes::Bytes, Status> {
        let rpc = RaftRpc::try_from(request.rpc)
            .map_err(|_| Status::invalid_argument(format!("unknown raft rpc {}", request.rpc)))?;
        self.group(request.group_id)?.raft(rpc, request.body).await
    }

    fn group(&self, id: u64) -> Result<Arc<dyn super::GroupRpc>, Status> {
        self.registry
            .get(GroupId(id))
            .ok_or_else(|| Status::unavailable(format!("raft group {id} is not hosted here")))
    }
}

#[tonic::async_trait]
impl RaftTransport for RaftTransportService {
    async fn raft(&self, request: Request<RaftRequest>) -> Result<Response<RaftResponse>, Status> {
        let body = self.dispatch(request.into_inner()).await?;
        Ok(Response::new(RaftResponse { body }))
    }

    async fn raft_batch(
        &self,
        request: Request<RaftBatchRequest>,
    ) -> Result<Response<RaftBatchResponse>, Status> {
        let calls = request
            .into_inner()
            .requests
            .into_iter()
            .map(|r| self.dispatch(r));
        let items = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|result| match result {
                Ok(body) => RaftBatchItem {
                    body,
                    ..Default::default()
                },
                Err(status) => RaftBatchItem {
                    body: Default::default(),
                    error_code: status.code() as i32,
                    error_message: status.message().to_string(),
                },
            })
            .collect();
        Ok(Response::new(RaftBatchResponse { items }))
    }

    async fn quiet(&self, request: Request<QuietPing>) -> Result<Response<QuietPong>, Status> {
        let quiescence = self
            .quiescence
            .as_ref()
            .ok_or_else(|| Status::unimplemented("quiescence is off on this node"))?;
        let ping = request.into_inner();
        if ping.groups.len() != ping.terms.len() {
            return Err(Status::invalid_argument(format!(
                "quiet ping with {} groups and {} terms",
                ping.groups.len(),
                ping.terms.len()
            )));
        }
        Ok(Response::new(quiescence.answer(&ping)))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftResponse>, Status> {
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        let group_id = first.group_id;
        let group = self.group(group_id)?;
        let header = first.header.clone();
        let io = |e: std::io::Error| Status::internal(format!("staging snapshot: {e}"));
        let mut writer =
            ChunkWriter::start(self.engine.clone(), GroupId(group_id), SnapshotSlot::Incoming).map_err(io)?;
        let mut done = first.done;
        let mut chunks = 1u64;
        writer.write(first.data).map_err(io)?;
        while !done {
            let chunk = stream
                .message()
                .await?
                .ok_or_else(|| Status::aborted("snapshot stream ended before its last chunk"))?;
            if chunk.group_id != group_id {
                return Err(Status::invalid_argument(
                    "snapshot chunks of several groups in one stream",
                ));
            }
            done = chunk.done;
            chunks += 1;
            writer.write(chunk.data).map_err(io)?;
        }
        tracing::info!(group = group_id, chunks, "snapshot received, installing");
        let body = group.install_snapshot(header, writer.finish()).await?;
        Ok(Response::new(RaftResponse { body }))
    }
}
