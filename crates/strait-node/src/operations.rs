//! The operations both front doors call: stream lifecycle, puts, iterators and reads.
//!
//! Requests arrive here already parsed into domain types; this layer checks them against
//! the metadata, routes records to shards, and reaches shard groups through
//! [`ShardAccess`]. The gRPC service translates to and from protobuf around it; the
//! Kinesis HTTP API will translate to and from JSON and CBOR around the same calls.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strait_control::placement::PlacementPlanner;
use strait_control::{ControlCommand, ControlError, ControlReply, GroupMeta, StreamKey, StreamMeta};
use strait_core::service::{
    ChildShard, CreateStreamRequest, GetRecordsResponse, MergeShardsRequest, PutRecordResult,
    ShardDescription, SplitShardRequest, StreamDescription, UpdateRetentionRequest, UpdateShardCountRequest,
    UpdateShardCountResponse,
};
use strait_core::{
    IteratorError, IteratorType, Namespace, Record, RecordPosition, SequenceNumber, ShardId,
    ShardIteratorToken, StoredRecord, StraitError, StraitResult, StreamArn, StreamName, StreamStatus,
};
use strait_raft::Clock;
use strait_raft::shard::{ProducerBatch, ShardRecord};

use crate::control::ControlHandle;
use crate::disk_guard::DiskGuard;
use crate::metrics::NodeMetrics;
use crate::shard_access::{AppendFailure, ShardAccess};

/// Most shards one stream may have.
pub const MAX_SHARDS_PER_STREAM: u32 = 10_000;
/// Most bytes one GetRecords returns.
pub const MAX_GET_RECORDS_BYTES: usize = 10 << 20;
/// Default and maximum GetRecords limit.
pub const MAX_GET_RECORDS_LIMIT: u32 = 10_000;
/// How often one put re-routes records after learning that its routing was stale.
const MAX_ROUTING_ROUNDS: usize = 4;
/// Default retention of a new stream.
pub const DEFAULT_RETENTION_HOURS: u32 = 24;

/// The operations of a node.
pub struct Operations {
    control: ControlHandle,
    shards: Arc<ShardAccess>,
    clock: Arc<dyn Clock>,
    /// Free-space check for writes; absent where there is no disk to watch.
    disk: Option<Arc<DiskGuard>>,
    replication_factor: usize,
    /// Identifies this node's producer session to shard groups (random per start).
    producer_id: u64,
    producer_sequence: AtomicU64,
    /// Per-shard counters of what this node served.
    metrics: Arc<NodeMetrics>,
}

impl Operations {
    pub fn new(
        control: ControlHandle,
        shards: Arc<ShardAccess>,
        clock: Arc<dyn Clock>,
        disk: Option<Arc<DiskGuard>>,
        replication_factor: usize,
        producer_id: u64,
        metrics: Arc<NodeMetrics>,
    ) -> Self {
        Self {
            control,
            shards,
            clock,
            disk,
            replication_factor,
            producer_id,
            producer_sequence: AtomicU64::new(0),
            metrics,
        }
    }

    pub fn control(&self) -> &ControlHandle {
        &self.control
    }

    /// Replicas per shard group (fewer when the cluster is smaller).
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn shard_access(&self) -> &Arc<ShardAccess> {
        &self.shards
    }

    /// The stream as this node's metadata has it, without waiting.
    fn lookup_stream(&self, namespace: &Namespace, name: &StreamName) -> Option<StreamMeta> {
        let key = StreamKey {
            namespace: namespace.clone(),
            name: name.clone(),
        };
        self.control.view().state.streams.get(&key).cloned()
    }

    /// The stream, catching up with the control leader first when this node does not know
    /// it yet: a stream created through another node is visible here right after.
    pub(crate) async fn stream(&self, namespace: &Namespace, name: &StreamName) -> StraitResult<StreamMeta> {
        if let Some(stream) = self.lookup_stream(namespace, name) {
            return Ok(stream);
        }
        self.control.catch_up().await;
        self.lookup_stream(namespace, name)
            .ok_or_else(|| StraitError::stream_not_found(name, &namespace.account))
    }

    /// A stream that accepts reads and writes: ACTIVE or UPDATING (CREATING is not found
    /// yet, as in Kinesis).
    async fn data_stream(&self, namespace: &Namespace, name: &StreamName) -> StraitResult<StreamMeta> {
        let mut stream = self.stream(namespace, name).await?;
        if !stream.status.accepts_data_operations() {
            self.control.catch_up().await;
            stream = self.stream(namespace, name).await?;
        }
        if !stream.status.accepts_data_operations() {
            return Err(StraitError::stream_not_found(name, &namespace.account));
        }
        Ok(stream)
    }

    fn group(
        &self,
        meta: &StreamMeta,
        shard: ShardId,
    ) -> StraitResult<(strait_control::ShardMeta, GroupMeta)> {
        let shard_meta = meta.shards.get(&shard).cloned().ok_or_else(|| {
            StraitError::shard_not_found(shard, &meta.key.name, &meta.key.namespace.account)
        })?;
        let group = self
            .control
            .view()
            .state
            .groups
            .get(&shard_meta.group)
            .cloned()
            .ok_or_else(|| {
                StraitError::shard_not_found(shard, &meta.key.name, &meta.key.namespace.account)
            })?;
        Ok((shard_meta, group))
    }

    pub async fn create_stream(&self, request: CreateStreamRequest) -> StraitResult<StreamDescription> {
        if request.shard_count == 0 {
            return Err(StraitError::validation(vec![strait_core::Violation::min_value(
                request.shard_count.to_string(),
                "shardCount",
                1,
            )]));
        }
        if request.shard_count > MAX_SHARDS_PER_STREAM {
            return Err(StraitError::limit_exceeded(format!(
                "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: 0. Limit: {MAX_SHARDS_PER_STREAM}. Number of additional shards that would have resulted from this request: {}.",
                request.namespace.account, request.namespace.region, request.shard_count
            )));
        }
        let view = self.control.view();
        let key = StreamKey {
            namespace: request.namespace.clone(),
            name: request.stream.clone(),
        };
        if view.state.streams.contains_key(&key) {
            return Err(StraitError::stream_exists(
                &request.stream,
                &request.namespace.account,
            ));
        }
        // Draining nodes get no new replicas.
        let nodes: Vec<u64> = view.state.active_nodes();
        if nodes.is_empty() {
            return Err(StraitError::unavailable("the cluster is still starting"));
        }
        let mut planner = PlacementPlanner::new(&nodes, view.state.load());
        let placements = (0..request.shard_count)
            .map(|ordinal| planner.place(view.state.next_incarnation, ordinal, self.replication_factor))
            .collect();
        let reply = self
            .control
            .propose(ControlCommand::CreateStream {
                key: key.clone(),
                shard_count: request.shard_count,
                mode: request.mode,
                retention_hours: DEFAULT_RETENTION_HOURS,
                now_ms: self.clock.now_ms(),
                placements,
            })
            .await?;
        match reply {
            ControlReply::StreamCreated { .. } => {
                self.describe_stream(&request.namespace, &request.stream).await
            }
            ControlReply::Rejected(e) => Err(control_error(e, &request.namespace)),
            other => Err(StraitError::internal(format!(
                "unexpected control reply {other:?}"
            ))),
        }
    }

    pub async fn delete_stream(&self, namespace: &Namespace, name: &StreamName) -> StraitResult<()> {
        self.stream(namespace, name).await?;
        let key = StreamKey {
            namespace: namespace.clone(),
            name: name.clone(),
        };
        match self.control.propose(ControlCommand::DeleteStream { key }).await? {
            ControlReply::Rejected(e) => Err(control_error(e, namespace)),
            _ => Ok(()),
        }
    }

    pub async fn describe_stream(
        &self,
        namespace: &Namespace,
        name: &StreamName,
    ) -> StraitResult<StreamDescription> {
        let stream = self.stream(namespace, name).await?;
        let view = self.control.view();
        let horizon = stream.retention_horizon_ms(self.clock.now_ms());
        let shards = stream
            .shards
            .values()
            // A closed shard whose every record has expired is gone.
            .filter(|shard| shard.closed_at_ms.is_none_or(|closed| closed >= horizon))
            .map(|shard| {
                let group = view.state.groups.get(&shard.group);
                ShardDescription {
                    shard_id: shard.id,
                    parent: shard.parent,
                    adjacent_parent: shard.adjacent_parent,
                    hash_range: shard.range,
                    starting_sequence_number: SequenceNumber::starting(stream.incarnation, shard.id),
                    ending_sequence_number: shard
                        .ending
                        .and_then(|end| SequenceNumber::new(stream.incarnation, shard.id, end)),
                    replicas: group.map(|g| g.replicas.clone()).unwrap_or_default(),
                    leader: group.and_then(|g| self.shards.leader(g)),
                    created_at_ms: shard.created_at_ms,
                    closed_at_ms: shard.closed_at_ms,
                }
            })
            .collect();
        Ok(StreamDescription {
            name: stream.key.name.clone(),
            arn: StreamArn::format(namespace, name),
            incarnation: stream.incarnation,
            status: stream.status,
            mode: stream.mode,
            retention_hours: stream.retention_hours,
            created_at_ms: stream.created_at_ms,
            trim_horizon_ms: horizon,
            shards,
        })
    }

    /// Stream names of a namespace after `exclusive_start`, at most `limit`, and whether
    /// more follow.
    pub fn list_streams(
        &self,
        namespace: &Namespace,
        exclusive_start: Option<&str>,
        limit: usize,
    ) -> (Vec<StreamName>, bool) {
        let view = self.control.view();
        let mut names: Vec<StreamName> = view
            .state
            .streams
            .keys()
            .filter(|k| &k.namespace == namespace)
            .filter(|k| exclusive_start.is_none_or(|start| k.name.as_str() > start))
            .map(|k| k.name.clone())
            .collect();
        let more = names.len() > limit;
        names.truncate(limit);
        (names, more)
    }

    /// Puts records, each routed to the open shard owning its hash key. Returns one
    /// result per record, in order; a failure of one shard does not fail the others.
    ///
    /// `producer` is the caller's `(producer id, sequence)` when it wants retries of this
    /// request to be idempotent; without it the node's own producer session is used,
    /// which covers the node's retries through shard-leader failovers.
    pub async fn put_records(
        &self,
        namespace: &Namespace,
        name: &StreamName,
        records: Vec<Record>,
        producer: Option<(u64, u64)>,
    ) -> StraitResult<Vec<PutRecordResult>> {
        tracing::trace!(target: "strait::write_path", records = records.len(), "put received");
        let target = self.data_stream(namespace, name).await?;
        if let Some(disk) = &self.disk {
            disk.check_writable()?;
        }
        let max_record_bytes = self.stream_settings(&target.key).max_record_bytes();
        for record in &records {
            record.check_size(max_record_bytes, "data")?;
        }
        let mut results: Vec<Option<PutRecordResult>> = vec![None; records.len()];
        let mut pending: Vec<usize> = (0..records.len()).collect();
        // Each round routes the pending records by the current metadata. A shard that
        // answers that the routing is stale sends its records to the next round, after
        // this node's metadata caught up.
        for _ in 0..MAX_ROUTING_ROUNDS {
            let stream = self.data_stream(namespace, name).await?;
            let routing_version = self.control.view().state.routing_version;
            let mut by_shard: BTreeMap<ShardId, Vec<usize>> = BTreeMap::new();
            // In request order, whatever rounds the records went through: a retry of the
            // batch is answered from the first commit's position, record by record, so
            // every attempt must store a shard's records in the same order.
            pending.sort_unstable();
            for &i in &pending {
                let shard = stream
                    .shard_for(records[i].hash_key())
                    .ok_or_else(|| StraitError::internal("no open shard covers the hash key"))?;
                by_shard.entry(shard.id).or_default().push(i);
            }
            // A caller's retry may reach a child of the shard that committed its first
            // attempt (the answer was lost, then the shard split or merged): such records
            // are answered from the parent that holds them.
            if let Some((producer, sequence)) = producer {
                for (shard, indexes) in by_shard.iter_mut() {
                    self.answer_from_parents(
                        &stream,
                        *shard,
                        indexes,
                        &records,
                        (producer, sequence),
                        &mut results,
                    )
                    .await?;
                }
                by_shard.retain(|_, indexes| !indexes.is_empty());
            }
            let appends = by_shard.into_iter().map(|(shard, indexes)| {
                // Each shard is its own group with its own dedup table, so one caller
                // sequence serves every shard the request touches.
                let (producer, sequence) = producer.unwrap_or_else(|| {
                    (
                        self.producer_id,
                        self.producer_sequence.fetch_add(1, Ordering::Relaxed),
                    )
                });
                let batch = ProducerBatch {
                    producer,
                    sequence,
                    records: indexes
                        .iter()
                        .map(|&i| ShardRecord {
                            partition_key: records[i].partition_key.as_str().to_string(),
                            data: records[i].data.clone(),
                        })
                        .collect(),
                };
                let stream = &stream;
                async move {
                    let (group, result) = match self.group(stream, shard) {
                        Ok((_, group)) => (
                            Some(group.id),
                            self.shards.append(&group, batch, routing_version).await,
                        ),
                        Err(e) => (None, Err(AppendFailure::Failed(e))),
                    };
                    (shard, indexes, group, result)
                }
            });
            pending.clear();
            let mut newer_version = routing_version;
            for (shard, indexes, group, result) in futures::future::join_all(appends).await {
                if let Some(group) = group {
                    match &result {
                        Ok(_) => {
                            let bytes = indexes.iter().map(|&i| records[i].data.len()).sum();
                            self.metrics.record_put(group, indexes.len(), bytes);
                        }
                        Err(AppendFailure::Failed(_)) => {
                            self.metrics.record_put_failure(group, indexes.len())
                        }
                        Err(AppendFailure::StaleRouting { .. }) => {}
                    }
                }
                match result {
                    Err(AppendFailure::StaleRouting { version }) => {
                        newer_version = newer_version.max(version);
                        pending.extend(indexes);
                    }
                    Err(AppendFailure::Failed(error)) => {
                        for i in indexes {
                            results[i] = Some(PutRecordResult::Err { error: error.clone() });
                        }
                    }
                    Ok(appended) => {
                        for (n, i) in indexes.into_iter().enumerate() {
                            let position =
                                RecordPosition::new(appended.index, appended.first_offset + n as u32);
                            results[i] =
                                Some(match SequenceNumber::new(stream.incarnation, shard, position) {
                                    Some(sequence_number) => PutRecordResult::Ok {
                                        shard,
                                        sequence_number,
                                    },
                                    None => PutRecordResult::Err {
                                        error: StraitError::internal(
                                            "record offset beyond the sequence number range",
                                        ),
                                    },
                                });
                        }
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            tracing::debug!(
                records = pending.len(),
                newer_version,
                "routing table stale; refreshing"
            );
            self.control.wait_routing_version(newer_version).await;
        }
        for i in pending {
            results[i] = Some(PutRecordResult::Err {
                error: StraitError::unavailable("the stream's shards are changing; retry"),
            });
        }
        tracing::trace!(target: "strait::write_path", "put answered");
        Ok(results
            .into_iter()
            .map(|r| r.expect("infallible: every record index gets a result"))
            .collect())
    }

    /// Moves out of `indexes` the records whose batch `(producer, sequence)` a recently
    /// closed ancestor of `shard` already committed, filling their results with the
    /// ancestor's sequence numbers. Ancestors are searched nearest first, through as many
    /// reshards as closed within the dedup window (a retry may come back after the
    /// parent that committed it split, and its children split again).
    async fn answer_from_parents(
        &self,
        stream: &StreamMeta,
        shard: ShardId,
        indexes: &mut Vec<usize>,
        records: &[Record],
        (producer, sequence): (u64, u64),
        results: &mut [Option<PutRecordResult>],
    ) -> StraitResult<()> {
        let Some(child) = stream.shards.get(&shard) else {
            return Ok(());
        };
        let now_ms = self.clock.now_ms();
        let mut queue: VecDeque<ShardId> = child.parent.into_iter().chain(child.adjacent_parent).collect();
        let mut visited: BTreeSet<ShardId> = BTreeSet::new();
        while let Some(parent_id) = queue.pop_front() {
            if indexes.is_empty() || !visited.insert(parent_id) {
                continue;
            }
            let Some(parent) = stream.shards.get(&parent_id) else {
                continue;
            };
            let recently_closed = parent
                .closed_at_ms
                .is_some_and(|closed| closed + strait_raft::shard::state_machine::DEDUP_WINDOW_MS >= now_ms);
            if !recently_closed {
                continue;
            }
            // Its own parents closed before it: they are worth a look only if it is.
            queue.extend(parent.parent.into_iter().chain(parent.adjacent_parent));
            let in_parent: Vec<usize> = indexes
                .iter()
                .copied()
                .filter(|&i| parent.range.contains(records[i].hash_key()))
                .collect();
            if in_parent.is_empty() {
                continue;
            }
            let Some(group) = self.control.view().state.groups.get(&parent.group).cloned() else {
                continue;
            };
            let Some(batch) = self.shards.committed_batch(&group, producer, sequence).await? else {
                continue;
            };
            // The parent committed every record of the request in its range, in request
            // order, as one batch; after a split this child holds only some of them, so
            // a record's offset is its rank among all of them.
            let parent_part: Vec<usize> = (0..records.len())
                .filter(|&i| parent.range.contains(records[i].hash_key()))
                .collect();
            if batch.count as usize != parent_part.len() {
                continue;
            }
            for &i in &in_parent {
                let n = parent_part.partition_point(|&j| j < i);
                let position = RecordPosition::new(batch.index, batch.first_offset + n as u32);
                results[i] = Some(
                    match SequenceNumber::new(stream.incarnation, parent_id, position) {
                        Some(sequence_number) => PutRecordResult::Ok {
                            shard: parent_id,
                            sequence_number,
                        },
                        None => PutRecordResult::Err {
                            error: StraitError::internal("record offset beyond the sequence number range"),
                        },
                    },
                );
            }
            indexes.retain(|i| !in_parent.contains(i));
        }
        Ok(())
    }

    pub async fn get_shard_iterator(
        &self,
        namespace: &Namespace,
        name: &StreamName,
        shard: ShardId,
        iterator_type: IteratorType,
    ) -> StraitResult<String> {
        let stream = self.data_stream(namespace, name).await?;
        let (_, group) = self.group(&stream, shard)?;
        let now_ms = self.clock.now_ms();
        iterator_type.check_origin(stream.incarnation, shard, name, &namespace.account)?;
        iterator_type.check_timestamp(now_ms)?;
        let horizon = stream.retention_horizon_ms(now_ms);
        let position = match iterator_type {
            IteratorType::TrimHorizon if horizon == 0 => RecordPosition::START,
            IteratorType::TrimHorizon => self.shards.find_timestamp(&group, horizon).await?,
            IteratorType::Latest => self.shards.tip(&group).await?.next_position(),
            // A time before the retention horizon reads from the horizon.
            IteratorType::AtTimestamp(ts) => self.shards.find_timestamp(&group, ts.max(horizon)).await?,
            other => other
                .sequence_position()
                .expect("infallible: the remaining types carry a sequence number"),
        };
        let token = ShardIteratorToken {
            namespace: namespace.clone(),
            stream: name.clone(),
            incarnation: stream.incarnation,
            shard,
            position,
            issued_at_ms: now_ms,
        };
        Ok(token.encode(&self.control.view().state.iterator_secret))
    }

    /// GetRecords: charged against the shard's read throughput limits when they are on.
    pub async fn get_records(&self, iterator: &str, limit: u32) -> StraitResult<GetRecordsResponse> {
        self.read(iterator, limit, true).await
    }

    /// Reads for a push subscription, which the per-shard read limits do not cover
    /// (Kinesis gives each enhanced fan-out consumer its own budget).
    pub async fn read_for_subscription(
        &self,
        iterator: &str,
        limit: u32,
    ) -> StraitResult<GetRecordsResponse> {
        self.read(iterator, limit, false).await
    }

    async fn read(&self, iterator: &str, limit: u32, charged: bool) -> StraitResult<GetRecordsResponse> {
        let now_ms = self.clock.now_ms();
        let view = self.control.view();
        let token = ShardIteratorToken::decode(iterator, &view.state.iterator_secret, now_ms).map_err(
            |e| match e {
                IteratorError::Invalid => StraitError::invalid_iterator(),
                IteratorError::Expired { issued_at_ms, now_ms } => {
                    StraitError::expired_iterator(issued_at_ms, now_ms)
                }
            },
        )?;
        let stream = self
            .data_stream(&token.namespace, &token.stream)
            .await
            .ok()
            .filter(|s| s.incarnation == token.incarnation)
            .ok_or_else(|| {
                StraitError::shard_not_found(token.shard, &token.stream, &token.namespace.account)
            })?;
        let (shard_meta, group) = self.group(&stream, token.shard)?;
        let limits = self.shards.throughput().filter(|_| charged);
        if let Some(limits) = limits
            && !limits.admit_read(strait_raft::GroupId(group.id))
        {
            return Err(StraitError::rate_exceeded_for_shard(
                token.shard,
                &token.stream,
                &token.namespace.account,
            ));
        }
        let limit = if limit == 0 {
            MAX_GET_RECORDS_LIMIT
        } else {
            limit.min(MAX_GET_RECORDS_LIMIT)
        };
        let horizon = stream.retention_horizon_ms(now_ms);
        let (mut records, mut tip) = self
            .shards
            .read(&group, token.position, limit as usize, MAX_GET_RECORDS_BYTES)
            .await?;
        // Records past retention are never returned; an iterator left behind the horizon
        // moves up to it.
        if records.first().is_some_and(|r| r.arrival_ms < horizon) {
            let from = self
                .shards
                .find_timestamp(&group, horizon)
                .await?
                .max(token.position);
            (records, tip) = self
                .shards
                .read(&group, from, limit as usize, MAX_GET_RECORDS_BYTES)
                .await?;
            records.retain(|r| r.arrival_ms >= horizon);
        }
        let next_position = records
            .last()
            .map(|r| r.position.successor())
            .unwrap_or(token.position);
        let millis_behind_latest = match records.last() {
            Some(last) if tip.last_record.is_some_and(|end| end > last.position) => {
                tip.last_arrival_ms.saturating_sub(last.arrival_ms)
            }
            _ => 0,
        };
        if let Some(limits) = limits {
            let bytes = records.iter().map(|r| r.data.len() + r.partition_key.len()).sum();
            limits.charge_read(strait_raft::GroupId(group.id), bytes);
        }
        let records: Vec<StoredRecord> = records
            .into_iter()
            .filter_map(|r| {
                Some(StoredRecord {
                    sequence_number: SequenceNumber::new(stream.incarnation, token.shard, r.position)?,
                    partition_key: r.partition_key,
                    data: r.data,
                    arrival_ms: r.arrival_ms,
                })
            })
            .collect();
        // A closed shard read to its end has no next iterator; its children follow.
        // A closed shard is read to its end once the replica that answered has applied
        // the seal and nothing is left after what was returned.
        let nothing_left = match (records.last(), tip.last_record) {
            (_, None) => true,
            (Some(last), Some(end)) => last.sequence_number.position() >= end,
            (None, Some(end)) => token.position > end,
        };
        let at_end = shard_meta
            .ending
            .is_some_and(|end| next_position >= end || (tip.sealed_at.is_some() && nothing_left));
        let child_shards = if at_end {
            stream
                .shards
                .values()
                .filter(|s| s.parent == Some(token.shard) || s.adjacent_parent == Some(token.shard))
                .map(|s| ChildShard {
                    shard_id: s.id,
                    parent_shards: s.parent.into_iter().chain(s.adjacent_parent).collect(),
                    hash_range: s.range,
                })
                .collect()
        } else {
            Vec::new()
        };
        let next_iterator = (!at_end).then(|| {
            token
                .advanced_to(next_position, now_ms)
                .encode(&view.state.iterator_secret)
        });
        let bytes = records.iter().map(|r| r.data.len()).sum();
        self.metrics
            .record_get(group.id, records.len(), bytes, millis_behind_latest);
        Ok(GetRecordsResponse {
            records,
            next_iterator,
            millis_behind_latest,
            child_shards,
        })
    }

    /// Waits until the shard an iterator reads may have new records: until the local
    /// replica applies more entries, or `max_wait` when the shard has no local replica.
    pub async fn wait_for_records(&self, iterator: &str, max_wait: std::time::Duration) {
        let view = self.control.view();
        let local_tip =
            ShardIteratorToken::decode(iterator, &view.state.iterator_secret, self.clock.now_ms())
                .ok()
                .and_then(|token| {
                    let stream = self.lookup_stream(&token.namespace, &token.stream)?;
                    let (_, group) = self.group(&stream, token.shard).ok()?;
                    Some((token.position, self.shards.local_tip(&group)?))
                });
        match local_tip {
            Some((position, mut tip)) => {
                // Records that arrived since the last read need no waiting.
                if tip
                    .borrow_and_update()
                    .last_record
                    .is_some_and(|last| last >= position)
                {
                    return;
                }
                let _ = tokio::time::timeout(max_wait, tip.changed()).await;
            }
            None => tokio::time::sleep(max_wait.min(std::time::Duration::from_millis(50))).await,
        }
    }

    pub async fn split_shard(&self, request: SplitShardRequest) -> StraitResult<()> {
        crate::reshard::split(self, request).await
    }

    pub async fn merge_shards(&self, request: MergeShardsRequest) -> StraitResult<()> {
        crate::reshard::merge(self, request).await
    }

    pub async fn update_shard_count(
        &self,
        request: UpdateShardCountRequest,
    ) -> StraitResult<UpdateShardCountResponse> {
        crate::reshard::update_shard_count(self, request).await
    }

    pub async fn update_retention(&self, request: UpdateRetentionRequest) -> StraitResult<()> {
        crate::retention::update(self, request).await
    }

    /// Whether a stream exists and is ACTIVE (used by waiters).
    pub fn stream_status(&self, namespace: &Namespace, name: &StreamName) -> Option<StreamStatus> {
        self.lookup_stream(namespace, name).map(|s| s.status)
    }
}

/// Maps a control-plane rejection to the Kinesis error a caller expects.
pub(crate) fn control_error(error: ControlError, namespace: &Namespace) -> StraitError {
    match error {
        ControlError::StreamExists(name) => StraitError::stream_exists(&name, &namespace.account),
        ControlError::StreamNotFound(name) => StraitError::stream_not_found(&name, &namespace.account),
        ControlError::AlreadyBootstrapped => StraitError::internal("the cluster is already bootstrapped"),
        ControlError::InvalidPlacement(e) => StraitError::unavailable(format!("placement rejected: {e}")),
        ControlError::StreamNotActive(name, status) => {
            StraitError::stream_not_active(&name, &namespace.account, status)
        }
        other => StraitError::internal(other.to_string()),
    }
}
