//! openraft's network traits for one (group, peer) pair.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::alias::{LogIdOf, SnapshotOf, VoteOf};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetworkFactory, RaftNetworkV2, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strait_proto::internal::raft_transport_client::RaftTransportClient;
use strait_proto::internal::{RaftRequest, RaftRpc, SnapshotChunk};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::MAX_MESSAGE_BYTES;
use super::router::PeerRouter;
use crate::codec;
use crate::group::{GroupId, NodeId};
use crate::snapshot::SnapshotData;

/// The most entry bytes one AppendEntries call carries (one entry always goes whole). A
/// follower far behind is caught up in calls of this size, each answered as a partial
/// success, instead of one call of hundreds of entries that cannot finish in time.
const MAX_APPEND_BYTES: usize = 8 << 20;
/// The least time an AppendEntries call with entries is given. openraft's own deadline is
/// the heartbeat interval, fine for heartbeats but not for megabytes of records.
const MIN_APPEND_DEADLINE: Duration = Duration::from_secs(1);
/// The transfer rate an append's deadline assumes on top of [`MIN_APPEND_DEADLINE`].
const APPEND_BYTES_PER_SEC: u64 = 16 << 20;

/// What a call that ran out of time does to the peer's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    /// Drop it: the connection may be wedged, and the next call dials afresh.
    DropChannel,
    /// Keep it: lateness says the peer is busy, not that the connection is broken.
    KeepChannel,
}

/// Creates the per-peer networks of one group.
pub struct GroupNetworkFactory<C> {
    router: Arc<PeerRouter>,
    group: GroupId,
    _config: PhantomData<fn() -> C>,
}

impl<C> GroupNetworkFactory<C> {
    pub fn new(router: Arc<PeerRouter>, group: GroupId) -> Self {
        Self {
            router,
            group,
            _config: PhantomData,
        }
    }
}

impl<C> RaftNetworkFactory<C> for GroupNetworkFactory<C>
where
    C: RaftTypeConfig<NodeId = NodeId, Node = BasicNode>,
    AppendEntriesRequest<C>: Serialize,
    AppendEntriesResponse<C>: DeserializeOwned,
    VoteRequest<C>: Serialize,
    VoteResponse<C>: DeserializeOwned,
    VoteOf<C>: Serialize,
    SnapshotResponse<C>: DeserializeOwned,
    TransferLeaderRequest<C>: Serialize,
    TransferLeaderResponse<C>: DeserializeOwned,
    openraft::alias::SnapshotMetaOf<C>: Serialize,
{
    type Network = GroupNetwork<C>;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        self.router.set_address(target, &node.addr);
        GroupNetwork {
            router: self.router.clone(),
            group: self.group,
            target,
            commit_sent: None,
            _config: PhantomData,
        }
    }
}

/// The network from one group's replica to one peer.
pub struct GroupNetwork<C: RaftTypeConfig> {
    router: Arc<PeerRouter>,
    group: GroupId,
    target: NodeId,
    /// The commit point this client last told the peer. An append without entries that
    /// moves it is a commit notice (the follower applies, and answers reads and
    /// subscriptions, once it has it), not a heartbeat: it must not wait to be coalesced.
    commit_sent: Option<LogIdOf<C>>,
    _config: PhantomData<fn() -> C>,
}

/// A failed call, before it is mapped to the error type a given openraft method wants.
enum CallError {
    /// The peer could not be reached or did not answer in time: back off, redial.
    Unreachable(Box<dyn std::error::Error + Send + Sync>),
    /// The peer answered with an error or garbage.
    Network(Box<dyn std::error::Error + Send + Sync>),
}

impl CallError {
    fn into_rpc<C: RaftTypeConfig>(self) -> RPCError<C> {
        match self {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&ErrorText(e.to_string()))),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&ErrorText(e.to_string()))),
        }
    }

    fn into_streaming<C: RaftTypeConfig>(self) -> StreamingError<C> {
        match self {
            CallError::Unreachable(e) => {
                StreamingError::Unreachable(Unreachable::new(&ErrorText(e.to_string())))
            }
            CallError::Network(e) => StreamingError::Network(NetworkError::new(&ErrorText(e.to_string()))),
        }
    }
}

#[derive(Debug)]
struct ErrorText(String);

impl std::fmt::Display for ErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ErrorText {}

impl<C: RaftTypeConfig> GroupNetwork<C> {
    fn client(&self) -> Result<RaftTransportClient<tonic::transport::Channel>, CallError> {
        let channel = self
            .router
            .channel(self.target)
            .map_err(|e| CallError::Unreachable(Box::new(e)))?;
        Ok(RaftTransportClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// Runs a call under `ttl`; a timeout or a transport failure drops the channel.
    async fn deadline<T>(
        &self,
        ttl: Duration,
        call: impl Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, CallError> {
        self.deadline_or(ttl, call, Late::DropChannel).await
    }

    /// Runs a call under `ttl`; a transport failure drops the channel, and a timeout does
    /// when `late` says so.
    async fn deadline_or<T>(
        &self,
        ttl: Duration,
        call: impl Future<Output = Result<T, tonic::Status>>,
        late: Late,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(ttl, call).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(status)) => match status.code() {
                tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown => {
                    self.router.reset(self.target);
                    Err(CallError::Unreachable(Box::new(status)))
                }
                _ => Err(CallError::Network(Box::new(status))),
            },
            Err(elapsed) => {
                if late == Late::DropChannel {
                    self.router.reset(self.target);
                }
                Err(CallError::Unreachable(Box::new(elapsed)))
            }
        }
    }

    async fn unary<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        rpc: RaftRpc,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, CallError> {
        let body = codec::encode(request).map_err(|e| CallError::Network(Box::new(e)))?;
        self.send_encoded(rpc, body, option.soft_ttl()).await
    }

    /// Sends an encoded request under `ttl` and decodes the answer.
    async fn send_encoded<Resp: DeserializeOwned>(
        &self,
        rpc: RaftRpc,
        body: Vec<u8>,
        ttl: Duration,
    ) -> Result<Resp, CallError> {
        let mut client = self.client()?;
        let request = RaftRequest {
            group_id: self.group.0,
            rpc: rpc as i32,
            body: Bytes::from(body),
        };
        let call = async move { client.raft(request).await.map(|r| r.into_inner().body) };
        let body = self.deadline(ttl, call).await?;
        codec::decode(&body).map_err(|e| CallError::Network(Box::new(e)))
    }

    /// Sends a heartbeat through the peer's coalescer.
    async fn heartbeat<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, CallError> {
        let body = codec::encode(request).map_err(|e| CallError::Network(Box::new(e)))?;
        let request = RaftRequest {
            group_id: self.group.0,
            rpc: RaftRpc::AppendEntries as i32,
            body: Bytes::from(body),
        };
        let heartbeats = self.router.heartbeats();
        // openraft gives a heartbeat 75 ms. On a busy node it can take longer, queued behind
        // megabytes of appends on the same connection; dropping the connection then would
        // fail all of those too and set off elections. A wedged connection still goes: the
        // batch call's own timeout, failed appends and votes drop it, and keep-alives close it.
        let body = self
            .deadline_or(
                option.soft_ttl(),
                heartbeats.send(self.target, request),
                Late::KeepChannel,
            )
            .await?;
        codec::decode(&body).map_err(|e| CallError::Network(Box::new(e)))
    }
}

impl<C> RaftNetworkV2<C> for GroupNetwork<C>
where
    C: RaftTypeConfig<NodeId = NodeId, Node = BasicNode>,
    AppendEntriesRequest<C>: Serialize,
    AppendEntriesResponse<C>: DeserializeOwned,
    VoteRequest<C>: Serialize,
    VoteResponse<C>: DeserializeOwned,
    VoteOf<C>: Serialize,
    SnapshotResponse<C>: DeserializeOwned,
    TransferLeaderRequest<C>: Serialize,
    TransferLeaderResponse<C>: DeserializeOwned,
    openraft::alias::SnapshotMetaOf<C>: Serialize,
{
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        let moves_commit = rpc.leader_commit > self.commit_sent;
        if moves_commit {
            self.commit_sent = rpc.leader_commit.clone();
        }
        if rpc.entries.is_empty() && !moves_commit {
            return self.heartbeat(&rpc, &option).await.map_err(CallError::into_rpc);
        }
        let entries = rpc.entries.len();
        let (body, partial) = encode_append(rpc).map_err(CallError::into_rpc)?;
        tracing::trace!(target: "strait::write_path", group = self.group.0, peer = self.target, entries, bytes = body.len(), "append sent");
        let deadline = option.soft_ttl().max(
            MIN_APPEND_DEADLINE + Duration::from_millis(body.len() as u64 * 1000 / APPEND_BYTES_PER_SEC),
        );
        let response: AppendEntriesResponse<C> = self
            .send_encoded(RaftRpc::AppendEntries, body, deadline)
            .await
            .map_err(CallError::into_rpc)?;
        tracing::trace!(target: "strait::write_path", group = self.group.0, peer = self.target, "append answered");
        // Only a prefix was sent: report how far the follower now matches.
        Ok(match (response, partial) {
            (AppendEntriesResponse::Success, Some(last_sent)) => {
                AppendEntriesResponse::PartialSuccess(Some(last_sent))
            }
            (response, _) => response,
        })
    }

    async fn vote(&mut self, rpc: VoteRequest<C>, option: RPCOption) -> Result<VoteResponse<C>, RPCError<C>> {
        self.unary(RaftRpc::Vote, &rpc, &option)
            .await
            .map_err(CallError::into_rpc)
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.unary(RaftRpc::PreVote, &rpc, &option)
            .await
            .map_err(CallError::into_rpc)
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<C>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<C>, RPCError<C>> {
        self.unary(RaftRpc::TransferLeader, &req, &option)
            .await
            .map_err(CallError::into_rpc)
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: SnapshotOf<C, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let header = codec::encode(&(&vote, &snapshot.meta))
            .map_err(|e| CallError::Network(Box::new(e)).into_streaming::<C>())?;
        let group = self.group.0;
        let data = snapshot.snapshot;
        // Chunks are read from storage by a task of their own and handed over through a
        // small channel: memory stays bounded by a couple of chunks whatever the size.
        let (tx, rx) = mpsc::channel::<SnapshotChunk>(2);
        tokio::spawn(async move {
            let mut header = Some(Bytes::from(header));
            let mut chunks = data.chunks().peekable();
            while let Some(chunk) = chunks.next() {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(group, error = %e, "reading snapshot chunk failed");
                        return;
                    }
                };
                let done = chunks.peek().is_none();
                let message = SnapshotChunk {
                    group_id: group,
                    header: header.take().unwrap_or_default(),
                    data: chunk,
                    done,
                };
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        });
        let mut client = self.client().map_err(CallError::into_streaming::<C>)?;
        let call = self.deadline(option.hard_ttl(), async move {
            client
                .install_snapshot(ReceiverStream::new(rx))
                .await
                .map(|r| r.into_inner().body)
        });
        let response = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            response = call => response.map_err(CallError::into_streaming::<C>)?,
        };
        codec::decode(&response).map_err(|e| CallError::Network(Box::new(e)).into_streaming::<C>())
    }
}

/// Encodes an AppendEntries request, keeping only as many entries as fit in
/// [`MAX_APPEND_BYTES`] (at least one). Returns the body and, when entries were left out,
/// the id of the last entry sent.
fn encode_append<C>(
    mut rpc: AppendEntriesRequest<C>,
) -> Result<(Vec<u8>, Option<openraft::alias::LogIdOf<C>>), CallError>
where
    C: RaftTypeConfig,
    AppendEntriesRequest<C>: Serialize,
{
    let encode =
        |rpc: &AppendEntriesRequest<C>| codec::encode(rpc).map_err(|e| CallError::Network(Box::new(e)));
    let body = encode(&rpc)?;
    if body.len() <= MAX_APPEND_BYTES || rpc.entries.len() < 2 {
        return Ok((body, None));
    }
    // Over budget (a follower catching up): measure entries one by one, only now.
    let mut kept = 0;
    let mut bytes = 0;
    for entry in &rpc.entries {
        let size = codec::encode(entry)
            .map_err(|e| CallError::Network(Box::new(e)))?
            .len();
        if kept > 0 && bytes + size > MAX_APPEND_BYTES {
            break;
        }
        bytes += size;
        kept += 1;
    }
    rpc.entries.truncate(kept);
    let last_sent = rpc.entries.last().map(openraft::entry::RaftEntry::log_id);
    Ok((encode(&rpc)?, last_sent))
}
