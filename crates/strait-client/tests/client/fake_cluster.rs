//! An in-memory StreamService that behaves like a Strait node where the client can tell,
//! and lets a test inject the failures the client must survive: UNAVAILABLE answers,
//! per-record PutRecords failures, expired iterators, nodes going away, and shards that
//! split while they are read.
//!
//! Several servers can share one [`FakeState`], standing in for the nodes of one cluster.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use strait_core::{RecordPosition, SequenceNumber, ShardId, StreamIncarnation};
use strait_proto::ERROR_TYPE_METADATA;
use strait_proto::v1 as proto;
use strait_proto::v1::stream_service_server::{StreamService, StreamServiceServer};
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// The stream every fake serves.
pub const STREAM: &str = "orders";

/// One shard of the fake stream.
#[derive(Debug, Clone, Default)]
pub struct FakeShard {
    pub id: u32,
    pub parents: Vec<u32>,
    pub records: Vec<(String, bytes::Bytes)>,
    pub closed: bool,
    pub children: Vec<u32>,
    /// Whether ListShards shows the shard (a shard created "later" is hidden until then).
    pub listed: bool,
}

/// The cluster-wide state every fake server reads and changes.
#[derive(Debug, Default)]
pub struct FakeState {
    pub shards: Vec<FakeShard>,
    /// The addresses ClusterStatus reports.
    pub members: Vec<String>,
    /// How many of the next calls (of any kind except ClusterStatus) answer UNAVAILABLE.
    pub unavailable_calls: u32,
    /// Partition keys whose first PutRecords entry fails with a per-record error.
    pub flaky_keys: BTreeSet<String>,
    /// When set, the next GetRecords with an iterator past the start fails as expired.
    pub expire_next_iterator: bool,
    /// Every RPC answered, by name, for assertions.
    pub calls: Vec<&'static str>,
    /// The node ListShards names as every shard's leader (node 1 when unset); node `i` is
    /// the `i`-th of `members`.
    pub leader: Option<u64>,
    /// The server that answered each PutRecord and PutRecords, in order.
    pub puts_served_by: Vec<SocketAddr>,
}

impl FakeState {
    pub fn shard(&mut self, id: u32) -> &mut FakeShard {
        self.shards
            .iter_mut()
            .find(|shard| shard.id == id)
            .expect("the shard exists")
    }

    /// Adds `count` records with the given key prefix to a shard.
    pub fn append(&mut self, id: u32, prefix: &str, count: usize) {
        let shard = self.shard(id);
        for i in 0..count {
            let data = format!("{prefix}-{i}");
            shard.records.push((prefix.to_owned(), bytes::Bytes::from(data)));
        }
    }

    /// Stores a put record in the first open shard; returns its shard id and sequence number.
    pub fn store(&mut self, partition_key: String, data: bytes::Bytes) -> (String, String) {
        let target = self
            .shards
            .iter()
            .find(|shard| !shard.closed)
            .expect("an open shard")
            .id;
        let shard = self.shard(target);
        shard.records.push((partition_key, data));
        (
            ShardId(target).to_string(),
            sequence(target, shard.records.len() - 1),
        )
    }

    /// Closes `parent` and opens `children` in its place.
    pub fn split(&mut self, parent: u32, children: &[u32]) {
        let shard = self.shard(parent);
        shard.closed = true;
        shard.children = children.to_vec();
        for child in children {
            self.shards.push(FakeShard {
                id: *child,
                parents: vec![parent],
                listed: true,
                ..FakeShard::default()
            });
        }
    }
}

pub type Shared = Arc<Mutex<FakeState>>;

/// A running fake server; dropping the handle does not stop it, [`FakeServer::stop`] does.
pub struct FakeServer {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub async fn start(state: Shared) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("bound");
        let (stop, stopped) = oneshot::channel::<()>();
        let service = StreamServiceServer::new(Fake { state, address });
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("the fake server runs");
        });
        FakeServer {
            address,
            stop: Some(stop),
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops the server and waits until its port is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

struct Fake {
    state: Shared,
    /// This server's own address, to tell which node served a put.
    address: SocketAddr,
}

fn named_error(code: tonic::Code, name: &str, message: &str) -> Status {
    let mut status = Status::new(code, message);
    status
        .metadata_mut()
        .insert(ERROR_TYPE_METADATA, name.parse().expect("ascii"));
    status
}

fn sequence(shard: u32, index: usize) -> String {
    SequenceNumber::new(
        StreamIncarnation::MIN,
        ShardId(shard),
        RecordPosition::new(index as u64, 0),
    )
    .expect("offset in range")
    .to_string()
}

fn full_range() -> Option<proto::HashKeyRange> {
    Some(proto::HashKeyRange {
        starting_hash_key: "0".into(),
        ending_hash_key: u128::MAX.to_string(),
    })
}

impl Fake {
    /// Records the call and answers UNAVAILABLE while failures are queued.
    fn enter(&self, rpc: &'static str) -> Result<std::sync::MutexGuard<'_, FakeState>, Status> {
        let mut state = self.state.lock().expect("not poisoned");
        state.calls.push(rpc);
        if state.unavailable_calls > 0 {
            state.unavailable_calls -= 1;
            return Err(named_error(
                tonic::Code::Unavailable,
                "InternalFailure",
                "no leader yet",
            ));
        }
        Ok(state)
    }

    fn check_stream(stream: &str) -> Result<(), Status> {
        if stream == STREAM {
            Ok(())
        } else {
            Err(named_error(
                tonic::Code::NotFound,
                "ResourceNotFoundException",
                &format!("Stream {stream} under account 000000000000 not found."),
            ))
        }
    }
}

#[tonic::async_trait]
impl StreamService for Fake {
    async fn create_stream(
        &self,
        _: Request<proto::CreateStreamRequest>,
    ) -> Result<Response<proto::CreateStreamResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn update_retention(
        &self,
        _: Request<proto::UpdateRetentionRequest>,
    ) -> Result<Response<proto::UpdateRetentionResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn split_shard(
        &self,
        _: Request<proto::SplitShardRequest>,
    ) -> Result<Response<proto::SplitShardResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn merge_shards(
        &self,
        _: Request<proto::MergeShardsRequest>,
    ) -> Result<Response<proto::MergeShardsResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn update_shard_count(
        &self,
        _: Request<proto::UpdateShardCountRequest>,
    ) -> Result<Response<proto::UpdateShardCountResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn delete_stream(
        &self,
        _: Request<proto::DeleteStreamRequest>,
    ) -> Result<Response<proto::DeleteStreamResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn describe_stream(
        &self,
        _: Request<proto::DescribeStreamRequest>,
    ) -> Result<Response<proto::DescribeStreamResponse>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn list_streams(
        &self,
        _: Request<proto::ListStreamsRequest>,
    ) -> Result<Response<proto::ListStreamsResponse>, Status> {
        let _state = self.enter("ListStreams")?;
        Ok(Response::new(proto::ListStreamsResponse {
            stream_names: vec![STREAM.into()],
            has_more_streams: false,
        }))
    }

    async fn list_shards(
        &self,
        request: Request<proto::ListShardsRequest>,
    ) -> Result<Response<proto::ListShardsResponse>, Status> {
        let state = self.enter("ListShards")?;
        Self::check_stream(&request.get_ref().stream)?;
        let shards = state
            .shards
            .iter()
            .filter(|shard| shard.listed)
            .map(|shard| proto::Shard {
                shard_id: ShardId(shard.id).to_string(),
                parent_shard_id: shard.parents.first().map(|p| ShardId(*p).to_string()),
                adjacent_parent_shard_id: shard.parents.get(1).map(|p| ShardId(*p).to_string()),
                hash_key_range: full_range(),
                starting_sequence_number: SequenceNumber::starting(StreamIncarnation::MIN, ShardId(shard.id))
                    .to_string(),
                ending_sequence_number: shard.closed.then(|| sequence(shard.id, shard.records.len())),
                replicas: vec![1],
                leader: Some(state.leader.unwrap_or(1)),
            })
            .collect();
        Ok(Response::new(proto::ListShardsResponse { shards }))
    }

    /// Stores the record in the first open shard.
    async fn put_record(
        &self,
        request: Request<proto::PutRecordRequest>,
    ) -> Result<Response<proto::PutRecordResponse>, Status> {
        let mut state = self.enter("PutRecord")?;
        state.puts_served_by.push(self.address);
        let request = request.into_inner();
        Self::check_stream(&request.stream)?;
        let (shard_id, sequence_number) = state.store(request.partition_key, request.data);
        Ok(Response::new(proto::PutRecordResponse {
            shard_id,
            sequence_number,
        }))
    }

    /// Stores every entry in the first open shard, except a flaky key's first entry.
    async fn put_records(
        &self,
        request: Request<proto::PutRecordsRequest>,
    ) -> Result<Response<proto::PutRecordsResponse>, Status> {
        let mut state = self.enter("PutRecords")?;
        state.puts_served_by.push(self.address);
        let request = request.into_inner();
        Self::check_stream(&request.stream)?;
        let mut results = Vec::new();
        let mut failed = 0;
        for entry in request.records {
            if state.flaky_keys.remove(&entry.partition_key) {
                failed += 1;
                results.push(proto::PutRecordsResult {
                    error_code: "ProvisionedThroughputExceededException".into(),
                    error_message: "Rate exceeded for shard".into(),
                    ..Default::default()
                });
                continue;
            }
            let (shard_id, sequence_number) = state.store(entry.partition_key, entry.data);
            results.push(proto::PutRecordsResult {
                shard_id,
                sequence_number,
                ..Default::default()
            });
        }
        Ok(Response::new(proto::PutRecordsResponse {
            failed_record_count: failed,
            records: results,
        }))
    }

    /// Iterators are `shard:position`, the position an index into the shard's records.
    async fn get_shard_iterator(
        &self,
        request: Request<proto::GetShardIteratorRequest>,
    ) -> Result<Response<proto::GetShardIteratorResponse>, Status> {
        let mut state = self.enter("GetShardIterator")?;
        let request = request.into_inner();
        Self::check_stream(&request.stream)?;
        let id = ShardId::parse_loose(&request.shard_id).expect("a shard id").0;
        let shard = state.shard(id);
        let position_of = |text: &Option<String>| {
            let number = SequenceNumber::parse(text.as_deref().expect("a sequence number"))
                .expect("a Strait sequence number");
            assert_eq!(number.shard(), ShardId(id), "the number is from this shard");
            number.position().index as usize
        };
        use proto::ShardIteratorType as Kind;
        let position = match request.shard_iterator_type() {
            Kind::TrimHorizon | Kind::AtTimestamp => 0,
            Kind::Latest => shard.records.len(),
            Kind::AtSequenceNumber => position_of(&request.starting_sequence_number),
            Kind::AfterSequenceNumber => position_of(&request.starting_sequence_number) + 1,
        };
        Ok(Response::new(proto::GetShardIteratorResponse {
            shard_iterator: format!("{id}:{position}"),
        }))
    }

    async fn get_records(
        &self,
        request: Request<proto::GetRecordsRequest>,
    ) -> Result<Response<proto::GetRecordsResponse>, Status> {
        let mut state = self.enter("GetRecords")?;
        let request = request.into_inner();
        let (id, position) = request.shard_iterator.split_once(':').expect("a fake iterator");
        let id: u32 = id.parse().expect("a shard ordinal");
        let position: usize = position.parse().expect("a position");
        if position > 0 && state.expire_next_iterator {
            state.expire_next_iterator = false;
            return Err(named_error(
                tonic::Code::InvalidArgument,
                "ExpiredIteratorException",
                "Iterator expired.",
            ));
        }
        // Small pages, so that reading takes several calls.
        let limit = 7;
        let shard = state.shard(id).clone();
        let end = shard.records.len().min(position + limit);
        let records = shard.records[position.min(end)..end]
            .iter()
            .enumerate()
            .map(|(offset, (key, data))| proto::Record {
                sequence_number: sequence(id, position + offset),
                partition_key: key.clone(),
                data: data.clone(),
                approximate_arrival_timestamp_ms: 1,
            })
            .collect();
        let at_end = end == shard.records.len();
        let (next_shard_iterator, child_shards) = if shard.closed && at_end {
            let children = shard
                .children
                .iter()
                .map(|child| proto::ChildShard {
                    shard_id: ShardId(*child).to_string(),
                    parent_shards: vec![ShardId(id).to_string()],
                    hash_key_range: full_range(),
                })
                .collect();
            (None, children)
        } else {
            (Some(format!("{id}:{end}")), Vec::new())
        };
        Ok(Response::new(proto::GetRecordsResponse {
            records,
            next_shard_iterator,
            millis_behind_latest: if at_end { 0 } else { 1000 },
            child_shards,
        }))
    }

    type SubscribeStream = futures::stream::BoxStream<'static, Result<proto::SubscribeEvent, Status>>;

    async fn subscribe(
        &self,
        _: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("not faked"))
    }

    async fn decommission_node(
        &self,
        _: Request<proto::DecommissionNodeRequest>,
    ) -> Result<Response<proto::DecommissionNodeResponse>, Status> {
        self.state
            .lock()
            .expect("not poisoned")
            .calls
            .push("DecommissionNode");
        Ok(Response::new(proto::DecommissionNodeResponse {}))
    }

    async fn cluster_status(
        &self,
        _: Request<proto::ClusterStatusRequest>,
    ) -> Result<Response<proto::ClusterStatusResponse>, Status> {
        let mut state = self.state.lock().expect("not poisoned");
        state.calls.push("ClusterStatus");
        Ok(Response::new(proto::ClusterStatusResponse {
            node_id: 1,
            control_leader: Some(1),
            nodes: state
                .members
                .iter()
                .enumerate()
                .map(|(i, address)| proto::NodeStatus {
                    node_id: i as u64 + 1,
                    address: address.clone(),
                    reachable: true,
                    voter: true,
                    state: "active".into(),
                })
                .collect(),
            groups: Vec::new(),
            ready: true,
            not_ready_reasons: Vec::new(),
        }))
    }
}
