//! [`StraitClient`]: typed calls to a Strait cluster, with failover and retries.
//!
//! Every call goes through one loop, `StraitClient::call`:
//!
//! ```text
//!   try the preferred endpoint ── answer ─────────────────────────────▶ Ok
//!        │                    └── error a retry cannot cure ─────────▶ Err
//!        │ refused / cut off / timed out / UNAVAILABLE / throttled
//!        ▼
//!   prefer the next endpoint; after a full round without an answer,
//!   back off (50 ms doubling to 1 s, jittered) ── deadline passed ──▶ Err
//! ```
//!
//! The deadline bounds the whole loop, 30 seconds unless changed with
//! [`StraitClient::with_retry_deadline`]; the request timeout bounds each attempt. A write
//! retried after a timeout may be applied twice, as with any Kinesis client: a failed or
//! timed-out write has an unknown outcome, not a negative one.
//!
//! Before its first call the client asks a node for ClusterStatus and adds every member's
//! address to its endpoints, so it survives the loss of the node it was pointed at. Puts
//! then go to the leader of their records' shard when the client knows it (see
//! `leaders`): the first attempt is routed, the retries are ordinary.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use strait_core::{HashKey, IteratorType, Namespace, PartitionKey, Record, ShardId, StreamMode, StreamName};
use strait_proto::v1 as proto;
use strait_proto::v1::stream_service_client::StreamServiceClient;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tracing::{debug, warn};

use crate::endpoints::{ChannelSettings, EndpointSet, MAX_MESSAGE_BYTES, normalize_uri};
use crate::error::{ClientError, error_type_of};
use crate::leaders::{LeaderMap, Lookup};
use crate::retry::Backoff;
use crate::types::{
    GetRecordsOutput, PutResult, RecordOutcome, ShardDescription, StreamDescription, SubscribeEvent,
    get_records_from_proto, iterator_type_to_proto, namespace_to_proto, put_records_from_proto,
    put_result_from_proto, record_to_entry, shard_from_proto, stream_from_proto, subscribe_event_from_proto,
};

/// The default bound on one attempt of a call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The default bound on opening a connection to one endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The default bound on a call's whole retry loop.
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(30);

/// How long a failed discovery is left alone before a later call tries again.
const REDISCOVERY_INTERVAL: Duration = Duration::from_secs(5);
/// The page size used when listing streams and shards.
const PAGE_SIZE: u32 = 1000;
/// The bound on a background refresh of a stream's shard leaders.
const LEADER_REFRESH_DEADLINE: Duration = Duration::from_secs(5);
/// How many of a PutRecords request's records choose the node it is sent to. Hashing a
/// few dozen partition keys finds the leader of most records in a batch bound for one or
/// two shards, without hashing all 500 of a batch that spans every shard anyway.
const ROUTE_SAMPLE: usize = 32;

/// The records of one Subscribe call, as they commit.
pub type SubscribeStream = BoxStream<'static, Result<SubscribeEvent, ClientError>>;

/// Builds a [`StraitClient`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    namespace: Namespace,
    request_timeout: Duration,
    connect_timeout: Duration,
    retry_deadline: Duration,
    discover: bool,
}

impl ClientBuilder {
    /// Sets the namespace (account and region) sent with every request. The default is
    /// account `000000000000` in `us-east-1`.
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// Sets the bound on one attempt of a call (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the bound on opening a connection (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the bound on a call's whole retry loop (default 30 s).
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry_deadline = deadline;
        self
    }

    /// Chooses whether the client learns the other members of the cluster from the first
    /// node that answers (default yes). A client that must talk to exactly one node, such
    /// as a readiness probe, turns it off.
    pub fn discover(mut self, discover: bool) -> Self {
        self.discover = discover;
        self
    }

    /// Builds the client. No connection is opened until the first call.
    pub fn build(self) -> Result<StraitClient, ClientError> {
        let settings = ChannelSettings {
            connect_timeout: self.connect_timeout,
        };
        let endpoints = EndpointSet::new(&self.endpoints, settings)?;
        Ok(StraitClient {
            inner: Arc::new(Inner {
                endpoints: Mutex::new(endpoints),
                namespace: namespace_to_proto(&self.namespace),
                request_timeout: self.request_timeout,
                discovery: self.discover.then(|| Discovery {
                    done: AtomicBool::new(false),
                    last_attempt: tokio::sync::Mutex::new(None),
                    leaders: Mutex::new(LeaderMap::default()),
                }),
            }),
            retry_deadline: self.retry_deadline,
        })
    }
}

/// A client of a Strait cluster. Cloning is cheap; clones share endpoints and connections.
#[derive(Debug, Clone)]
pub struct StraitClient {
    inner: Arc<Inner>,
    retry_deadline: Duration,
}

#[derive(Debug)]
struct Inner {
    /// Locked only for short, synchronous bookkeeping, never across an await.
    endpoints: Mutex<EndpointSet>,
    namespace: proto::Namespace,
    request_timeout: Duration,
    /// `None` when discovery is turned off.
    discovery: Option<Discovery>,
}

#[derive(Debug)]
struct Discovery {
    /// Set once a node has answered ClusterStatus; checked without locking on every call.
    done: AtomicBool,
    /// Serializes discovery attempts, so that concurrent first calls ask once, and spaces
    /// out attempts while no node answers.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    /// Shard leaders and node addresses, for sending puts straight to a shard's leader.
    /// Locked only for lookups and updates, never across an await.
    leaders: Mutex<LeaderMap>,
}

/// The endpoint a call tries first instead of the preferred one: the leader of the shard
/// of the records it carries.
struct Route {
    stream: String,
    uri: String,
}

/// How one failed attempt is handled.
enum Failure {
    /// Another attempt, on this or another endpoint, may succeed. `answered` tells whether a
    /// node sent the error (as opposed to the transport or a timeout).
    Retry { error: ClientError, answered: bool },
    /// The answer is final.
    Final(ClientError),
}

impl StraitClient {
    /// Starts building a client for the given endpoints (`http://host:port`, or a bare
    /// `host:port`).
    pub fn builder<I, S>(endpoints: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientBuilder {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            namespace: Namespace::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry_deadline: DEFAULT_RETRY_DEADLINE,
            discover: true,
        }
    }

    /// Builds a client for the given endpoints with every default.
    pub fn connect<I, S>(endpoints: I) -> Result<StraitClient, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::builder(endpoints).build()
    }

    /// Returns a client sharing this one's endpoints and connections whose calls retry for
    /// at most `deadline` in total.
    pub fn with_retry_deadline(&self, deadline: Duration) -> StraitClient {
        StraitClient {
            inner: Arc::clone(&self.inner),
            retry_deadline: deadline,
        }
    }

    /// Returns the bound on a call's whole retry loop.
    pub fn retry_deadline(&self) -> Duration {
        self.retry_deadline
    }

    /// Returns every endpoint the client knows, the given ones first, then the discovered.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoint_set().uris()
    }

    // ---------------------------------------------------------------------------------------
    // Streams.
    // ---------------------------------------------------------------------------------------

    /// Creates a stream of `shard_count` shards. The stream starts in CREATING; see
    /// [`describe_stream`](Self::describe_stream) to wait for ACTIVE.
    pub async fn create_stream(
        &self,
        stream: &StreamName,
        shard_count: u32,
        mode: StreamMode,
    ) -> Result<Option<StreamDescription>, ClientError> {
        let request = proto::CreateStreamRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            shard_count,
            mode: match mode {
                StreamMode::Provisioned => proto::StreamMode::Provisioned,
                StreamMode::OnDemand => proto::StreamMode::OnDemand,
            } as i32,
        };
        let response = self
            .call("CreateStream", self.deadline(), |mut grpc| {
                let request = request.clone();
                async move { grpc.create_stream(request).await }
            })
            .await?;
        response
            .stream
            .map(|stream| stream_from_proto(Some(stream)))
            .transpose()
    }

    /// Deletes a stream and all its records.
    pub async fn delete_stream(&self, stream: &StreamName) -> Result<(), ClientError> {
        let request = proto::DeleteStreamRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
        };
        self.call("DeleteStream", self.deadline(), |mut grpc| {
            let request = request.clone();
            async move { grpc.delete_stream(request).await }
        })
        .await?;
        Ok(())
    }

    /// Splits an open shard at `new_starting_hash_key` (its middle when `None`); returns
    /// once the two children accept writes.
    pub async fn split_shard(
        &self,
        stream: &StreamName,
        shard: ShardId,
        new_starting_hash_key: Option<HashKey>,
    ) -> Result<(), ClientError> {
        let request = proto::SplitShardRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            shard_to_split: shard.to_string(),
            new_starting_hash_key: new_starting_hash_key.map(|k| k.to_string()).unwrap_or_default(),
        };
        self.call("SplitShard", self.deadline(), |mut grpc| {
            let request = request.clone();
            async move { grpc.split_shard(request).await }
        })
        .await?;
        Ok(())
    }

    /// Merges two adjacent open shards; returns once the child accepts writes.
    pub async fn merge_shards(
        &self,
        stream: &StreamName,
        shard: ShardId,
        adjacent: ShardId,
    ) -> Result<(), ClientError> {
        let request = proto::MergeShardsRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            shard_to_merge: shard.to_string(),
            adjacent_shard_to_merge: adjacent.to_string(),
        };
        self.call("MergeShards", self.deadline(), |mut grpc| {
            let request = request.clone();
            async move { grpc.merge_shards(request).await }
        })
        .await?;
        Ok(())
    }

    /// Reshards to `target` evenly sized open shards; returns the count before and after.
    pub async fn update_shard_count(
        &self,
        stream: &StreamName,
        target: u32,
    ) -> Result<(u32, u32), ClientError> {
        let request = proto::UpdateShardCountRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            target_shard_count: target,
        };
        let response = self
            .call("UpdateShardCount", self.deadline(), |mut grpc| {
                let request = request.clone();
                async move { grpc.update_shard_count(request).await }
            })
            .await?;
        Ok((response.current_shard_count, response.target_shard_count))
    }

    /// Sets a stream's retention period in hours (24 to 8760).
    pub async fn update_retention(
        &self,
        stream: &StreamName,
        retention_hours: u32,
    ) -> Result<(), ClientError> {
        let request = proto::UpdateRetentionRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            retention_hours,
        };
        self.call("UpdateRetention", self.deadline(), |mut grpc| {
            let request = request.clone();
            async move { grpc.update_retention(request).await }
        })
        .await?;
        Ok(())
    }

    /// Describes a stream and all its shards.
    pub async fn describe_stream(&self, stream: &StreamName) -> Result<StreamDescription, ClientError> {
        let request = proto::DescribeStreamRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
        };
        let response = self
            .call("DescribeStream", self.deadline(), |mut grpc| {
                let request = request.clone();
                async move { grpc.describe_stream(request).await }
            })
            .await?;
        stream_from_proto(response.stream)
    }

    /// Lists the names of every stream in the namespace, in name order, following
    /// pagination to the end.
    pub async fn list_streams(&self) -> Result<Vec<String>, ClientError> {
        let mut names: Vec<String> = Vec::new();
        loop {
            let request = proto::ListStreamsRequest {
                namespace: Some(self.namespace()),
                limit: PAGE_SIZE,
                exclusive_start_stream_name: names.last().cloned().unwrap_or_default(),
            };
            let page = self
                .call("ListStreams", self.deadline(), |mut grpc| {
                    let request = request.clone();
                    async move { grpc.list_streams(request).await }
                })
                .await?;
            let got_any = !page.stream_names.is_empty();
            names.extend(page.stream_names);
            // A page that says "more" but brings nothing would loop forever.
            if !page.has_more_streams || !got_any {
                return Ok(names);
            }
        }
    }

    /// Lists every shard of a stream, open and closed, following pagination to the end.
    pub async fn list_shards(&self, stream: &StreamName) -> Result<Vec<ShardDescription>, ClientError> {
        let mut shards: Vec<ShardDescription> = Vec::new();
        loop {
            let request = proto::ListShardsRequest {
                namespace: Some(self.namespace()),
                stream: stream.to_string(),
                exclusive_start_shard_id: shards
                    .last()
                    .map(|shard| shard.shard_id.to_string())
                    .unwrap_or_default(),
                max_results: PAGE_SIZE,
            };
            let page = self
                .call("ListShards", self.deadline(), |mut grpc| {
                    let request = request.clone();
                    async move { grpc.list_shards(request).await }
                })
                .await?;
            let count = page.shards.len();
            for shard in page.shards {
                shards.push(shard_from_proto(shard)?);
            }
            if count < PAGE_SIZE as usize {
                return Ok(shards);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Records.
    // ---------------------------------------------------------------------------------------

    /// Stores one record.
    pub async fn put_record(&self, stream: &StreamName, record: &Record) -> Result<PutResult, ClientError> {
        let request = proto::PutRecordRequest {
            producer: None,
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            partition_key: record.partition_key.as_str().to_owned(),
            data: record.data.clone(),
            explicit_hash_key: record.explicit_hash_key.map(|key| key.to_string()),
        };
        let route = self.route(stream, std::iter::once_with(|| record.hash_key()));
        let response = self
            .call_routed("PutRecord", self.deadline(), route, |mut grpc| {
                let request = request.clone();
                async move { grpc.put_record(request).await }
            })
            .await?;
        put_result_from_proto(&response.shard_id, &response.sequence_number)
    }

    /// Stores one record with the given partition key.
    pub async fn put(
        &self,
        stream: &StreamName,
        partition_key: PartitionKey,
        data: impl Into<bytes::Bytes>,
    ) -> Result<PutResult, ClientError> {
        self.put_record(stream, &Record::new(partition_key, data)).await
    }

    /// Stores up to 500 records in one request and returns one outcome per record, in
    /// order. Records can fail one by one (a throttled shard, a shard without a leader);
    /// the [`Producer`](crate::Producer) retries those.
    pub async fn put_records(
        &self,
        stream: &StreamName,
        records: &[Record],
    ) -> Result<Vec<RecordOutcome>, ClientError> {
        self.put_records_until(stream, records, self.deadline(), None)
            .await
    }

    /// [`put_records`](Self::put_records) with the retry loop bounded by `deadline`.
    /// With `producer` (a producer id and a sequence for this batch), a retry that reaches
    /// a shard which already committed the batch returns the first attempt's sequence
    /// numbers instead of storing the records twice.
    pub(crate) async fn put_records_until(
        &self,
        stream: &StreamName,
        records: &[Record],
        deadline: Instant,
        producer: Option<(u64, u64)>,
    ) -> Result<Vec<RecordOutcome>, ClientError> {
        let request = proto::PutRecordsRequest {
            producer: producer.map(|(producer_id, sequence)| proto::Producer {
                producer_id,
                sequence,
            }),
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            records: records.iter().map(record_to_entry).collect(),
        };
        let route = self.route(stream, records.iter().map(Record::hash_key));
        let response = self
            .call_routed("PutRecords", deadline, route, |mut grpc| {
                let request = request.clone();
                async move { grpc.put_records(request).await }
            })
            .await?;
        put_records_from_proto(response, records.len())
    }

    /// Returns an iterator for reading `shard` from `start`. It expires five minutes after
    /// it was issued, and can be used on any node.
    pub async fn get_shard_iterator(
        &self,
        stream: &StreamName,
        shard: ShardId,
        start: &IteratorType,
    ) -> Result<String, ClientError> {
        let (kind, starting_sequence_number, timestamp_ms) = iterator_type_to_proto(start);
        let request = proto::GetShardIteratorRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            shard_id: shard.to_string(),
            shard_iterator_type: kind as i32,
            starting_sequence_number,
            timestamp_ms,
        };
        let response = self
            .call("GetShardIterator", self.deadline(), |mut grpc| {
                let request = request.clone();
                async move { grpc.get_shard_iterator(request).await }
            })
            .await?;
        Ok(response.shard_iterator)
    }

    /// Reads the page of records at `shard_iterator`, at most `limit` of them (the node's
    /// default, 10000, when `None`).
    pub async fn get_records(
        &self,
        shard_iterator: &str,
        limit: Option<u32>,
    ) -> Result<GetRecordsOutput, ClientError> {
        let request = proto::GetRecordsRequest {
            shard_iterator: shard_iterator.to_owned(),
            limit: limit.unwrap_or(0),
        };
        let response = self
            .call("GetRecords", self.deadline(), |mut grpc| {
                let request = request.clone();
                async move { grpc.get_records(request).await }
            })
            .await?;
        get_records_from_proto(response)
    }

    /// Subscribes to a shard's records as they commit, starting at `start`. The stream ends
    /// after the last event of a closed shard, or with an error when the connection is lost;
    /// resume from the last event's continuation sequence number.
    pub async fn subscribe(
        &self,
        stream: &StreamName,
        shard: ShardId,
        start: &IteratorType,
    ) -> Result<SubscribeStream, ClientError> {
        let (kind, starting_sequence_number, timestamp_ms) = iterator_type_to_proto(start);
        let request = proto::SubscribeRequest {
            namespace: Some(self.namespace()),
            stream: stream.to_string(),
            shard_id: shard.to_string(),
            starting_position: kind as i32,
            starting_sequence_number,
            timestamp_ms,
        };
        let events = self
            .call("Subscribe", self.deadline(), |mut grpc| {
                let request = request.clone();
                async move { grpc.subscribe(request).await }
            })
            .await?;
        Ok(events
            .map(|event| match event {
                Ok(event) => subscribe_event_from_proto(event),
                Err(status) => Err(ClientError::from_status(&status)),
            })
            .boxed())
    }

    // ---------------------------------------------------------------------------------------
    // The cluster.
    // ---------------------------------------------------------------------------------------

    /// Asks a node for the state of the cluster, and adds every member it names to the
    /// client's endpoints.
    pub async fn cluster_status(&self) -> Result<proto::ClusterStatusResponse, ClientError> {
        let status = self
            .call("ClusterStatus", self.deadline(), |mut grpc| async move {
                grpc.cluster_status(proto::ClusterStatusRequest {}).await
            })
            .await?;
        self.learn_members(&status);
        Ok(status)
    }

    /// Starts decommissioning a node: its replicas and leaderships move to the other
    /// nodes, then it is removed from the cluster. Returns once the drain has started;
    /// [`StraitClient::cluster_status`] shows its progress.
    pub async fn decommission_node(&self, node_id: u64) -> Result<(), ClientError> {
        self.call("DecommissionNode", self.deadline(), |mut grpc| async move {
            grpc.decommission_node(proto::DecommissionNodeRequest { node_id })
                .await
        })
        .await?;
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // The call loop.
    // ---------------------------------------------------------------------------------------

    fn namespace(&self) -> proto::Namespace {
        self.inner.namespace.clone()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.retry_deadline
    }

    fn endpoint_set(&self) -> MutexGuard<'_, EndpointSet> {
        lock(&self.inner.endpoints)
    }

    fn grpc(channel: Channel) -> StreamServiceClient<Channel> {
        StreamServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Runs one RPC with failover and retries until it succeeds, fails for good, or
    /// `deadline` passes. `attempt` sends the request once on the client it is given.
    async fn call<T, F, Fut>(
        &self,
        rpc: &'static str,
        deadline: Instant,
        attempt: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(StreamServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_routed(rpc, deadline, None, attempt).await
    }

    /// [`call`](Self::call) whose first attempt goes to `route` when given. A routed attempt
    /// that fails drops the stream's leaders and leaves the preferred endpoint as it was:
    /// the retries go where any call would.
    async fn call_routed<T, F, Fut>(
        &self,
        rpc: &'static str,
        deadline: Instant,
        mut route: Option<Route>,
        mut attempt: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(StreamServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.discover_if_needed().await;
        let mut backoff = Backoff::for_calls();
        let mut failures_this_round = 0;
        let mut last_answer: Option<ClientError> = None;
        let mut last_failure = String::new();
        let mut tried: Vec<String> = Vec::new();
        loop {
            let routed = route.take().and_then(|route| {
                let (index, channel) = self.endpoint_set().find(&route.uri)?;
                Some((index, route, channel))
            });
            let (index, uri, channel, routed) = match routed {
                Some((index, route, channel)) => (index, route.uri, channel, Some(route.stream)),
                None => {
                    let (index, uri, channel) = self.endpoint_set().preferred();
                    (index, uri, channel, None)
                }
            };
            let outcome =
                tokio::time::timeout(self.inner.request_timeout, attempt(Self::grpc(channel))).await;
            let failure = match outcome {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => classify(&status),
                Err(_elapsed) => Failure::Retry {
                    error: ClientError::Unreachable {
                        message: format!(
                            "{uri} did not answer {rpc} within {:?}",
                            self.inner.request_timeout
                        ),
                    },
                    answered: false,
                },
            };
            let (error, answered) = match failure {
                Failure::Final(error) => return Err(error),
                Failure::Retry { error, answered } => (error, answered),
            };
            debug!(rpc, endpoint = %uri, %error, "attempt failed; failing over");
            let throttled = error.is(ClientError::THROUGHPUT_EXCEEDED);
            if answered {
                last_answer = Some(error);
            } else {
                last_failure = format!("{uri}: {}", error.message());
            }
            match &routed {
                Some(stream) => self.routed_attempt_failed(stream, &uri, !answered),
                None => {
                    self.endpoint_set().fail_over_from(index);
                    failures_this_round += 1;
                }
            }
            if !tried.contains(&uri) {
                tried.push(uri);
            }
            let endpoint_count = self.endpoint_set().len();
            let keep_going = if throttled || failures_this_round >= endpoint_count {
                failures_this_round = 0;
                backoff.wait(deadline).await
            } else {
                Instant::now() < deadline
            };
            if !keep_going {
                return Err(last_answer.unwrap_or_else(|| ClientError::Unreachable {
                    message: format!(
                        "no endpoint answered {rpc} (tried {}); last error: {last_failure}",
                        tried.join(", ")
                    ),
                }));
            }
        }
    }

    /// The leader to send records with these hash keys to: the node leading the shard
    /// most of the first [`ROUTE_SAMPLE`] belong to, when the client knows it. Starts a
    /// background refresh of the stream's leaders when they are missing or old; a put never
    /// waits for one.
    fn route(&self, stream: &StreamName, keys: impl Iterator<Item = HashKey>) -> Option<Route> {
        let discovery = self.inner.discovery.as_ref()?;
        if !discovery.done.load(Ordering::Acquire) {
            return None;
        }
        let now = Instant::now();
        let mut refresh = false;
        // Votes per leader; a handful of leaders at most, so a list will do.
        let mut votes: Vec<(u64, usize)> = Vec::new();
        let uri = {
            let mut leaders = lock(&discovery.leaders);
            for key in keys.take(ROUTE_SAMPLE) {
                let leader = match leaders.lookup(stream.as_str(), key, now) {
                    Lookup::Known(leader) => leader,
                    Lookup::Refresh(leader) => {
                        refresh = true;
                        leader
                    }
                };
                let Some(leader) = leader else { continue };
                match votes.iter_mut().find(|(node, _)| *node == leader) {
                    Some((_, count)) => *count += 1,
                    None => votes.push((leader, 1)),
                }
            }
            let winner = votes
                .iter()
                .max_by_key(|(_, count)| *count)
                .map(|(node, _)| *node);
            winner
                .and_then(|node| leaders.route_to(node, now))
                .map(str::to_owned)
        };
        if refresh {
            let client = self.with_retry_deadline(LEADER_REFRESH_DEADLINE);
            let stream = stream.clone();
            tokio::spawn(async move { client.refresh_leaders(&stream).await });
        }
        Some(Route {
            stream: stream.to_string(),
            uri: uri?,
        })
    }

    /// Fetches the leaders of a stream's open shards, and the members' addresses when a
    /// leader is a node the client has not heard of.
    async fn refresh_leaders(&self, stream: &StreamName) {
        let Some(discovery) = &self.inner.discovery else {
            return;
        };
        match self.list_shards(stream).await {
            Ok(shards) => {
                let unknown_leader = {
                    let leaders = lock(&discovery.leaders);
                    shards
                        .iter()
                        .filter_map(|shard| shard.leader)
                        .any(|leader| leaders.address(leader).is_none())
                };
                if unknown_leader && let Err(error) = self.cluster_status().await {
                    debug!(%stream, %error, "could not learn the addresses of shard leaders");
                }
                lock(&discovery.leaders).store(stream.as_str(), &shards, Instant::now());
            }
            Err(error) => {
                debug!(%stream, %error, "could not fetch shard leaders");
                lock(&discovery.leaders).refresh_done(stream.as_str());
            }
        }
    }

    /// Drops what the client knows of a stream's leaders after an attempt routed to `uri`
    /// failed, and avoids the node for a while when it did not answer.
    fn routed_attempt_failed(&self, stream: &str, uri: &str, unreachable: bool) {
        if let Some(discovery) = &self.inner.discovery {
            let mut leaders = lock(&discovery.leaders);
            leaders.forget(stream);
            if unreachable {
                leaders.avoid(uri, Instant::now());
            }
        }
    }

    /// Learns the cluster's members from the first node that answers ClusterStatus, once.
    /// Failures are ignored: the call that follows reports them in its own terms.
    async fn discover_if_needed(&self) {
        let Some(discovery) = &self.inner.discovery else {
            return;
        };
        if discovery.done.load(Ordering::Acquire) {
            return;
        }
        let mut last_attempt = discovery.last_attempt.lock().await;
        if discovery.done.load(Ordering::Acquire)
            || last_attempt.is_some_and(|at| at.elapsed() < REDISCOVERY_INTERVAL)
        {
            return;
        }
        *last_attempt = Some(Instant::now());
        let endpoint_count = self.endpoint_set().len();
        for _ in 0..endpoint_count {
            let (index, uri, channel) = self.endpoint_set().preferred();
            let mut grpc = Self::grpc(channel);
            let probe = grpc.cluster_status(proto::ClusterStatusRequest {});
            match tokio::time::timeout(self.inner.request_timeout, probe).await {
                Ok(Ok(response)) => {
                    self.learn_members(response.get_ref());
                    discovery.done.store(true, Ordering::Release);
                    return;
                }
                Ok(Err(status)) => {
                    debug!(endpoint = %uri, error = %status.message(), "discovery failed");
                }
                Err(_elapsed) => debug!(endpoint = %uri, "discovery timed out"),
            }
            self.endpoint_set().fail_over_from(index);
        }
    }

    /// Adds every member a ClusterStatus answer names to the endpoints, and remembers which
    /// node has which address.
    fn learn_members(&self, status: &proto::ClusterStatusResponse) {
        let mut endpoints = self.endpoint_set();
        for node in &status.nodes {
            if node.address.is_empty() {
                continue;
            }
            if let (Some(discovery), Ok(uri)) = (&self.inner.discovery, normalize_uri(&node.address)) {
                lock(&discovery.leaders).set_node(node.node_id, uri);
            }
            match endpoints.add(&node.address) {
                Ok(true) => {
                    debug!(node = node.node_id, address = %node.address, "learned endpoint")
                }
                Ok(false) => {}
                Err(error) => {
                    warn!(node = node.node_id, address = %node.address, %error, "ignoring member address");
                }
            }
        }
    }
}

/// Locks a mutex that only guards short, synchronous bookkeeping: a panic while holding it
/// cannot leave the data half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Decides whether a failed attempt is worth another try.
///
/// A status carrying a Kinesis error name came from a node: it is retried when the node
/// says UNAVAILABLE or the shard is throttled. A status without one came from the transport
/// (refused or reset connection, broken HTTP/2 stream) and is retried on another endpoint
/// when its code says so.
fn classify(status: &Status) -> Failure {
    let error = ClientError::from_status(status);
    if error_type_of(status).is_some() {
        return if error.is_retryable() {
            Failure::Retry {
                error,
                answered: true,
            }
        } else {
            Failure::Final(error)
        };
    }
    match status.code() {
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::Internal => {
            Failure::Retry {
                error: ClientError::Unreachable {
                    message: describe_transport_failure(status),
                },
                answered: false,
            }
        }
        _ => Failure::Final(error),
    }
}

/// Renders a transport failure with its causes, e.g. "tcp connect error: Connection refused".
fn describe_transport_failure(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_proto::ERROR_TYPE_METADATA;

    fn named(code: Code, name: &str) -> Status {
        let mut status = Status::new(code, "message");
        status
            .metadata_mut()
            .insert(ERROR_TYPE_METADATA, name.parse().expect("ascii"));
        status
    }

    #[test]
    fn node_answers_are_retried_only_when_retryable() {
        assert!(matches!(
            classify(&named(Code::Unavailable, "InternalFailure")),
            Failure::Retry { answered: true, .. }
        ));
        assert!(matches!(
            classify(&named(Code::NotFound, "ResourceNotFoundException")),
            Failure::Final(_)
        ));
        // A node's Internal error is a bug, not a transport failure.
        assert!(matches!(
            classify(&named(Code::Internal, "InternalFailure")),
            Failure::Final(_)
        ));
    }

    #[test]
    fn transport_failures_are_retried_elsewhere() {
        for status in [
            Status::unavailable("tcp connect error"),
            Status::unknown("connection reset"),
            Status::cancelled("timeout expired"),
        ] {
            assert!(matches!(
                classify(&status),
                Failure::Retry {
                    answered: false,
                    error: ClientError::Unreachable { .. }
                }
            ));
        }
        assert!(matches!(
            classify(&Status::unimplemented("no such method")),
            Failure::Final(_)
        ));
    }

    #[tokio::test]
    async fn an_unreachable_cluster_is_reported_as_such() {
        // Port 9 on loopback: nothing listens there, so connections are refused at once.
        let client = StraitClient::builder(["http://127.0.0.1:9"])
            .retry_deadline(Duration::from_millis(300))
            .build()
            .expect("valid endpoint");
        let error = client
            .list_streams()
            .await
            .expect_err("nothing listens on port 9");
        assert!(error.is_unreachable(), "{error}");
        assert!(error.is_retryable());
        assert!(error.to_string().starts_with("ServiceUnavailable: "));
    }
}
