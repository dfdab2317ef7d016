//! `strait.v1.StreamService`: protobuf in, [`Operations`] in the middle, protobuf out.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use strait_core::service::{
    CreateStreamRequest, MergeShardsRequest, PutRecordResult, RetentionChange, ShardDescription,
    SplitShardRequest, StreamDescription, UpdateRetentionRequest, UpdateShardCountRequest,
};
use strait_core::{
    AccountId, HashKey, IteratorKind, IteratorType, Namespace, PartitionKey, Record, Region, ShardId,
    StraitError, StreamMode, StreamName,
};
use strait_proto::v1 as pb;
use strait_proto::v1::stream_service_server::StreamService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::status::to_status;
use crate::operations::Operations;
use crate::status::ClusterStatusProbe;

/// The public gRPC API of a node.
pub struct StreamServiceImpl {
    operations: Arc<Operations>,
    default_account: AccountId,
    status: Arc<ClusterStatusProbe>,
    /// Turns true when the node starts shutting down: subscriptions end then.
    draining: tokio::sync::watch::Receiver<bool>,
}

impl StreamServiceImpl {
    pub fn new(
        operations: Arc<Operations>,
        default_account: AccountId,
        status: Arc<ClusterStatusProbe>,
        draining: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            operations,
            default_account,
            status,
            draining,
        }
    }

    /// Validates an iterator request (GetShardIterator and Subscribe share it) and opens
    /// the iterator.
    async fn shard_iterator(
        &self,
        namespace: Option<pb::Namespace>,
        stream: String,
        shard: &str,
        kind: i32,
        starting_sequence_number: Option<String>,
        timestamp_ms: Option<u64>,
    ) -> Result<String, Status> {
        let namespace = self.namespace(namespace)?;
        let name = stream_name(stream)?;
        let shard = shard_id(shard, &name, &namespace.account)?;
        let kind = iterator_type(
            kind,
            starting_sequence_number,
            timestamp_ms,
            shard,
            &name,
            &namespace.account,
        )?;
        self.operations
            .get_shard_iterator(&namespace, &name, shard, kind)
            .await
            .map_err(to_status)
    }

    fn namespace(&self, namespace: Option<pb::Namespace>) -> Result<Namespace, Status> {
        let namespace = namespace.unwrap_or_default();
        let account = if namespace.account.is_empty() {
            self.default_account.clone()
        } else {
            AccountId::new(namespace.account).map_err(to_status)?
        };
        let region = if namespace.region.is_empty() {
            Region::default_region()
        } else {
            Region::new(namespace.region).map_err(to_status)?
        };
        Ok(Namespace { account, region })
    }
}

fn stream_name(name: String) -> Result<StreamName, Status> {
    StreamName::new(name).map_err(to_status)
}

fn shard_id(text: &str, stream: &StreamName, account: &AccountId) -> Result<ShardId, Status> {
    ShardId::parse_loose(text)
        .ok_or_else(|| to_status(StraitError::could_not_find_shard(text, stream, account)))
}

fn record(partition_key: String, data: Bytes, explicit_hash_key: Option<String>) -> Result<Record, Status> {
    let key = PartitionKey::new(partition_key).map_err(to_status)?;
    let mut record = Record::new(key, data);
    if let Some(text) = explicit_hash_key {
        let hash_key =
            HashKey::parse_decimal(&text).map_err(|e| to_status(e.into_error("explicitHashKey")))?;
        record = record.with_explicit_hash_key(hash_key);
    }
    Ok(record)
}

fn iterator_type(
    kind: i32,
    starting_sequence_number: Option<String>,
    timestamp_ms: Option<u64>,
    shard: ShardId,
    stream: &StreamName,
    account: &AccountId,
) -> Result<IteratorType, Status> {
    let kind = match pb::ShardIteratorType::try_from(kind) {
        Ok(pb::ShardIteratorType::TrimHorizon) => IteratorKind::TrimHorizon,
        Ok(pb::ShardIteratorType::Latest) => IteratorKind::Latest,
        Ok(pb::ShardIteratorType::AtSequenceNumber) => IteratorKind::AtSequenceNumber,
        Ok(pb::ShardIteratorType::AfterSequenceNumber) => IteratorKind::AfterSequenceNumber,
        Ok(pb::ShardIteratorType::AtTimestamp) => IteratorKind::AtTimestamp,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown shard iterator type {kind}"
            )));
        }
    };
    IteratorType::parse(
        kind.as_kinesis_str(),
        starting_sequence_number.as_deref(),
        timestamp_ms,
        shard,
        stream,
        account,
    )
    .map_err(to_status)
}

fn hash_range(range: &strait_core::HashKeyRange) -> pb::HashKeyRange {
    pb::HashKeyRange {
        starting_hash_key: range.start.to_string(),
        ending_hash_key: range.end.to_string(),
    }
}

fn shard_to_proto(shard: &ShardDescription) -> pb::Shard {
    pb::Shard {
        shard_id: shard.shard_id.to_string(),
        parent_shard_id: shard.parent.map(|s| s.to_string()),
        adjacent_parent_shard_id: shard.adjacent_parent.map(|s| s.to_string()),
        hash_key_range: Some(hash_range(&shard.hash_range)),
        starting_sequence_number: shard.starting_sequence_number.to_string(),
        ending_sequence_number: shard.ending_sequence_number.map(|s| s.to_string()),
        replicas: shard.replicas.clone(),
        leader: shard.leader,
    }
}

fn stream_to_proto(stream: &StreamDescription) -> pb::StreamDescription {
    pb::StreamDescription {
        name: stream.name.to_string(),
        arn: stream.arn.clone(),
        incarnation: stream.incarnation.get(),
        status: stream.status.as_kinesis_str().to_string(),
        mode: stream.mode.as_kinesis_str().to_string(),
        retention_hours: stream.retention_hours,
        created_at_ms: stream.created_at_ms,
        shards: stream.shards.iter().map(shard_to_proto).collect(),
    }
}

fn child_shard_to_proto(child: &strait_core::service::ChildShard) -> pb::ChildShard {
    pb::ChildShard {
        shard_id: child.shard_id.to_string(),
        parent_shards: child.parent_shards.iter().map(|p| p.to_string()).collect(),
        hash_key_range: Some(hash_range(&child.hash_range)),
    }
}

fn record_to_proto(record: strait_core::StoredRecord) -> pb::Record {
    pb::Record {
        sequence_number: record.sequence_number.to_string(),
        partition_key: record.partition_key,
        data: record.data,
        approximate_arrival_timestamp_ms: record.arrival_ms,
    }
}

/// Resolves once the node starts shutting down.
async fn until_draining(draining: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = draining.wait_for(|d| *d).await.map(|_| ());
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeEvent, Status>> + Send>>;

#[tonic::async_trait]
impl StreamService for StreamServiceImpl {
    async fn create_stream(
        &self,
        request: Request<pb::CreateStreamRequest>,
    ) -> Result<Response<pb::CreateStreamResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let mode = match pb::StreamMode::try_from(request.mode) {
            Ok(pb::StreamMode::OnDemand) => StreamMode::OnDemand,
            _ => StreamMode::Provisioned,
        };
        let description = self
            .operations
            .create_stream(CreateStreamRequest {
                namespace,
                stream: stream_name(request.stream)?,
                shard_count: request.shard_count,
                mode,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateStreamResponse {
            stream: Some(stream_to_proto(&description)),
        }))
    }

    async fn delete_stream(
        &self,
        request: Request<pb::DeleteStreamRequest>,
    ) -> Result<Response<pb::DeleteStreamResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        self.operations
            .delete_stream(&namespace, &stream_name(request.stream)?)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteStreamResponse {}))
    }

    async fn describe_stream(
        &self,
        request: Request<pb::DescribeStreamRequest>,
    ) -> Result<Response<pb::DescribeStreamResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let description = self
            .operations
            .describe_stream(&namespace, &stream_name(request.stream)?)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DescribeStreamResponse {
            stream: Some(stream_to_proto(&description)),
        }))
    }

    async fn list_streams(
        &self,
        request: Request<pb::ListStreamsRequest>,
    ) -> Result<Response<pb::ListStreamsResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let limit = match request.limit {
            0 => 10_000,
            n => n.min(10_000) as usize,
        };
        let start =
            (!request.exclusive_start_stream_name.is_empty()).then_some(request.exclusive_start_stream_name);
        let (names, more) = self.operations.list_streams(&namespace, start.as_deref(), limit);
        Ok(Response::new(pb::ListStreamsResponse {
            stream_names: names.into_iter().map(|n| n.to_string()).collect(),
            has_more_streams: more,
        }))
    }

    async fn list_shards(
        &self,
        request: Request<pb::ListShardsRequest>,
    ) -> Result<Response<pb::ListShardsResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let name = stream_name(request.stream)?;
        let description = self
            .operations
            .describe_stream(&namespace, &name)
            .await
            .map_err(to_status)?;
        let after = if request.exclusive_start_shard_id.is_empty() {
            None
        } else {
            Some(shard_id(
                &request.exclusive_start_shard_id,
                &name,
                &namespace.account,
            )?)
        };
        let max = match request.max_results {
            0 => 1000,
            n => n.min(10_000) as usize,
        };
        let shards = description
            .shards
            .iter()
            .filter(|s| after.is_none_or(|a| s.shard_id > a))
            .take(max)
            .map(shard_to_proto)
            .collect();
        Ok(Response::new(pb::ListShardsResponse { shards }))
    }

    async fn put_record(
        &self,
        request: Request<pb::PutRecordRequest>,
    ) -> Result<Response<pb::PutRecordResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let record = record(request.partition_key, request.data, request.explicit_hash_key)?;
        let mut results = self
            .operations
            .put_records(
                &namespace,
                &stream_name(request.stream)?,
                vec![record],
                request.producer.map(|p| (p.producer_id, p.sequence)),
            )
            .await
            .map_err(to_status)?;
        match results.pop() {
            Some(PutRecordResult::Ok {
                shard,
                sequence_number,
            }) => Ok(Response::new(pb::PutRecordResponse {
                shard_id: shard.to_string(),
                sequence_number: sequence_number.to_string(),
            })),
            Some(PutRecordResult::Err { error }) => Err(to_status(error)),
            None => Err(Status::internal("no result for the record")),
        }
    }

    async fn put_records(
        &self,
        request: Request<pb::PutRecordsRequest>,
    ) -> Result<Response<pb::PutRecordsResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let records = request
            .records
            .into_iter()
            .map(|r| record(r.partition_key, r.data, r.explicit_hash_key))
            .collect::<Result<Vec<_>, _>>()?;
        strait_core::check_put_records(
            &records,
            strait_core::MAX_RECORD_BYTES,
            strait_core::MAX_PUT_RECORDS_BYTES,
        )
        .map_err(to_status)?;
        let results = self
            .operations
            .put_records(
                &namespace,
                &stream_name(request.stream)?,
                records,
                request.producer.map(|p| (p.producer_id, p.sequence)),
            )
            .await
            .map_err(to_status)?;
        let failed = results.iter().filter(|r| !r.is_ok()).count() as u32;
        let records = results
            .into_iter()
            .map(|r| match r {
                PutRecordResult::Ok {
                    shard,
                    sequence_number,
                } => pb::PutRecordsResult {
                    shard_id: shard.to_string(),
                    sequence_number: sequence_number.to_string(),
                    ..Default::default()
                },
                PutRecordResult::Err { error } => pb::PutRecordsResult {
                    error_code: error.kinesis_record_error_code().to_string(),
                    error_message: error.message().to_string(),
                    ..Default::default()
                },
            })
            .collect();
        Ok(Response::new(pb::PutRecordsResponse {
            failed_record_count: failed,
            records,
        }))
    }

    async fn get_shard_iterator(
        &self,
        request: Request<pb::GetShardIteratorRequest>,
    ) -> Result<Response<pb::GetShardIteratorResponse>, Status> {
        let request = request.into_inner();
        let shard_iterator = self
            .shard_iterator(
                request.namespace,
                request.stream,
                &request.shard_id,
                request.shard_iterator_type,
                request.starting_sequence_number,
                request.timestamp_ms,
            )
            .await?;
        Ok(Response::new(pb::GetShardIteratorResponse { shard_iterator }))
    }

    async fn get_records(
        &self,
        request: Request<pb::GetRecordsRequest>,
    ) -> Result<Response<pb::GetRecordsResponse>, Status> {
        let request = request.into_inner();
        let response = self
            .operations
            .get_records(&request.shard_iterator, request.limit)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetRecordsResponse {
            records: response.records.into_iter().map(record_to_proto).collect(),
            next_shard_iterator: response.next_iterator,
            millis_behind_latest: response.millis_behind_latest,
            child_shards: response.child_shards.iter().map(child_shard_to_proto).collect(),
        }))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        let mut iterator = self
            .shard_iterator(
                request.namespace,
                request.stream,
                &request.shard_id,
                request.starting_position,
                request.starting_sequence_number,
                request.timestamp_ms,
            )
            .await?;
        let (tx, rx) = mpsc::channel(4);
        let operations = self.operations.clone();
        let mut draining = self.draining.clone();
        tokio::spawn(async move {
            let mut continuation = String::new();
            loop {
                let response = match operations.read_for_subscription(&iterator, 0).await {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                };
                let empty = response.records.is_empty();
                if let Some(last) = response.records.last() {
                    continuation = last.sequence_number.to_string();
                }
                let finished = response.next_iterator.is_none();
                if !empty || finished {
                    let event = pb::SubscribeEvent {
                        records: response.records.into_iter().map(record_to_proto).collect(),
                        continuation_sequence_number: continuation.clone(),
                        millis_behind_latest: response.millis_behind_latest,
                        child_shards: response.child_shards.iter().map(child_shard_to_proto).collect(),
                    };
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                match response.next_iterator {
                    Some(next) => iterator = next,
                    None => return,
                }
                if empty {
                    tokio::select! {
                        _ = tx.closed() => return,
                        _ = until_draining(&mut draining) => {
                            let _ = tx.send(Err(Status::unavailable("the node is shutting down; resubscribe elsewhere"))).await;
                            return;
                        }
                        _ = operations.wait_for_records(&iterator, Duration::from_secs(1)) => {}
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn split_shard(
        &self,
        request: Request<pb::SplitShardRequest>,
    ) -> Result<Response<pb::SplitShardResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let name = stream_name(request.stream)?;
        let shard = shard_id(&request.shard_to_split, &name, &namespace.account)?;
        let new_starting_hash_key = if request.new_starting_hash_key.is_empty() {
            let description = self
                .operations
                .describe_stream(&namespace, &name)
                .await
                .map_err(to_status)?;
            let range = description.shard(shard).map(|s| s.hash_range).ok_or_else(|| {
                to_status(StraitError::could_not_find_shard(
                    &request.shard_to_split,
                    &name,
                    &namespace.account,
                ))
            })?;
            range.midpoint()
        } else {
            HashKey::parse_decimal(&request.new_starting_hash_key)
                .map_err(|e| to_status(e.into_error("newStartingHashKey")))?
        };
        self.operations
            .split_shard(SplitShardRequest {
                namespace,
                stream: name,
                shard_to_split: shard,
                new_starting_hash_key,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SplitShardResponse {}))
    }

    async fn merge_shards(
        &self,
        request: Request<pb::MergeShardsRequest>,
    ) -> Result<Response<pb::MergeShardsResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let name = stream_name(request.stream)?;
        let shard_to_merge = shard_id(&request.shard_to_merge, &name, &namespace.account)?;
        let adjacent_shard_to_merge = shard_id(&request.adjacent_shard_to_merge, &name, &namespace.account)?;
        self.operations
            .merge_shards(MergeShardsRequest {
                namespace,
                stream: name,
                shard_to_merge,
                adjacent_shard_to_merge,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::MergeShardsResponse {}))
    }

    async fn update_shard_count(
        &self,
        request: Request<pb::UpdateShardCountRequest>,
    ) -> Result<Response<pb::UpdateShardCountResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let response = self
            .operations
            .update_shard_count(UpdateShardCountRequest {
                namespace,
                stream: stream_name(request.stream)?,
                target_shard_count: request.target_shard_count,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UpdateShardCountResponse {
            current_shard_count: response.current_shard_count,
            target_shard_count: response.target_shard_count,
        }))
    }

    async fn update_retention(
        &self,
        request: Request<pb::UpdateRetentionRequest>,
    ) -> Result<Response<pb::UpdateRetentionResponse>, Status> {
        let request = request.into_inner();
        let namespace = self.namespace(request.namespace)?;
        let stream = stream_name(request.stream)?;
        let current = self
            .operations
            .describe_stream(&namespace, &stream)
            .await
            .map_err(to_status)?
            .retention_hours;
        // One call for both directions: it is an increase or a decrease by its value.
        let direction = if request.retention_hours >= current {
            RetentionChange::Increase
        } else {
            RetentionChange::Decrease
        };
        self.operations
            .update_retention(UpdateRetentionRequest {
                namespace,
                stream,
                retention_hours: request.retention_hours,
                direction,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UpdateRetentionResponse {}))
    }

    async fn cluster_status(
        &self,
        _request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        Ok(Response::new(self.status.probe().await))
    }

    async fn decommission_node(
        &self,
        request: Request<pb::DecommissionNodeRequest>,
    ) -> Result<Response<pb::DecommissionNodeResponse>, Status> {
        let node = request.into_inner().node_id;
        crate::membership::decommission(self.operations.control(), node)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DecommissionNodeResponse {}))
    }
}
