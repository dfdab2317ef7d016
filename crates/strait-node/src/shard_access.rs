//! Reaching a shard group from any node: appends go to its leader, reads to its leader
//! (falling back to any replica), locally when this node holds the replica and over one
//! gRPC hop otherwise.
//!
//! Appends retry through leader changes until a deadline. A retried batch keeps its
//! producer id and sequence, so if an earlier attempt did commit (and only its answer
//! was lost), the shard answers with the first attempt's position instead of storing
//! the records twice. Between attempts a node holding a replica waits for that replica to
//! learn of a new leader rather than for a fixed delay, so writes move to the new leader
//! the moment it is elected.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strait_control::GroupMeta;
use strait_core::{RecordPosition, StraitError};
use strait_proto::internal::node_internal_client::NodeInternalClient;
use strait_proto::internal::{
    AppendRecord, AppendRecordsRequest, FindTimestampRequest, ReadRecordsRequest, SealShardRequest,
    ShardTipRequest,
};
use strait_raft::GroupId;
use strait_raft::network::{MAX_MESSAGE_BYTES, PeerRouter};
use strait_raft::shard::records::ReadRecord;
use strait_raft::shard::{AppendError, BatchOutcome, ProducerBatch, SealedLookup, ShardTip};
use tonic::transport::Channel;

use crate::shards::ShardHost;

/// gRPC metadata carrying a shard leader hint with a NOT_LEADER answer.
pub const LEADER_METADATA: &str = "x-strait-leader";
/// The error type of a NOT_LEADER answer between nodes.
pub const NOT_LEADER: &str = "NotShardLeader";
/// The error type of a sealed-shard answer between nodes.
pub const SHARD_SEALED: &str = "ShardSealed";
/// The error type of an answer to a sender whose routing table is out of date.
pub const STALE_ROUTING: &str = "StaleRouting";
/// The error type of a leader's refusal under the per-shard throughput limits.
pub const THROTTLED: &str = "ShardThrottled";
/// gRPC metadata carrying the receiver's routing version with a StaleRouting answer.
pub const ROUTING_VERSION_METADATA: &str = "x-strait-routing-version";

/// How long an append keeps retrying through failovers.
const APPEND_DEADLINE: Duration = Duration::from_secs(15);
/// How long one hop may take.
const HOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The first pause between attempts to reach a group's leader; it doubles up to
/// [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(25);
/// The longest pause between attempts. A node with a local replica cuts a pause short as
/// soon as the replica learns of another leader, so the cap only bounds how late a node
/// without one (or whose replica hears of no new leader) asks again: an election takes a
/// few hundred milliseconds, and a retry costs one refused connect or NotLeader answer.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// The shortest pause, even when a leader worth trying is already known: a target that
/// fails at once (a refused connect) and a local replica that still believes itself the
/// leader would otherwise make the loop spin without ever yielding time.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(5);

/// Where an append of one batch ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub index: u64,
    pub first_offset: u32,
}

/// Why an append did not commit.
#[derive(Debug, Clone)]
pub enum AppendFailure {
    /// The routing table used to pick this shard is out of date: the shard was closed or
    /// removed as of routing version `version`. The caller refreshes and routes again.
    StaleRouting {
        version: u64,
    },
    Failed(StraitError),
}

impl From<StraitError> for AppendFailure {
    fn from(e: StraitError) -> Self {
        AppendFailure::Failed(e)
    }
}

/// One attempt's failure, classified for the retry loop.
enum Attempt {
    NotLeader(Option<u64>),
    Retry(String),
    Fail(AppendFailure),
    /// The leader refused the batch under the per-shard throughput limits.
    Throttled,
}

/// Access to every shard group, wherever its replicas are.
pub struct ShardAccess {
    node_id: u64,
    host: Arc<ShardHost>,
    router: Arc<PeerRouter>,
    leader_hints: Mutex<BTreeMap<GroupId, u64>>,
}

impl ShardAccess {
    pub fn new(node_id: u64, host: Arc<ShardHost>, router: Arc<PeerRouter>) -> Self {
        Self {
            node_id,
            host,
            router,
            leader_hints: Mutex::new(BTreeMap::new()),
        }
    }

    /// The group's leader: from the local replica, else the last hint, else its first
    /// replica (the usual leader).
    pub fn leader(&self, meta: &GroupMeta) -> Option<u64> {
        let group = GroupId(meta.id);
        if let Some(local) = self.host.get(group)
            && let Some(leader) = local.leader()
        {
            return Some(leader);
        }
        self.leader_hints.lock().expect("hint lock").get(&group).copied()
    }

    fn target(&self, meta: &GroupMeta, attempt: usize) -> u64 {
        match self.leader(meta) {
            Some(leader) if attempt % 4 != 3 => leader,
            _ => meta.replicas[attempt % meta.replicas.len().max(1)],
        }
    }

    /// The per-shard throughput limits, when they are on.
    pub fn throughput(&self) -> Option<&Arc<crate::throughput::ThroughputLimiter>> {
        self.host.throughput()
    }

    /// A receiver of the group's tip when this node holds a replica, to wait for new
    /// records instead of polling.
    pub fn local_tip(&self, meta: &GroupMeta) -> Option<tokio::sync::watch::Receiver<ShardTip>> {
        self.host.get(GroupId(meta.id)).map(|s| s.reader.watch_tip())
    }

    /// Replicas to read from, best first: the leader (it has applied every acknowledged
    /// record), then the others in placement order.
    fn read_order(&self, meta: &GroupMeta) -> Vec<u64> {
        let mut order: Vec<u64> = self.leader(meta).into_iter().collect();
        for replica in &meta.replicas {
            if !order.contains(replica) {
                order.push(*replica);
            }
        }
        order
    }

    fn hint(&self, group: GroupId, leader: Option<u64>) {
        let mut hints = self.leader_hints.lock().expect("hint lock");
        match leader {
            Some(l) => hints.insert(group, l),
            None => hints.remove(&group),
        };
    }

    fn client(&self, node: u64) -> Result<NodeInternalClient<Channel>, StraitError> {
        let channel = self
            .router
            .channel(node)
            .map_err(|e| StraitError::unavailable(e.to_string()))?;
        Ok(NodeInternalClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// Commits one producer batch on the group's leader.
    pub async fn append(
        &self,
        meta: &GroupMeta,
        batch: ProducerBatch,
        routing_version: u64,
    ) -> Result<Appended, AppendFailure> {
        let group = GroupId(meta.id);
        let started = tokio::time::Instant::now();
        let deadline = started + APPEND_DEADLINE;
        let mut backoff = FIRST_RETRY_PAUSE;
        let mut last_error = String::new();
        for attempt in 0.. {
            let believed_leader = self.leader(meta);
            let target = self.target(meta, attempt);
            let result = if target == self.node_id {
                self.append_local(group, batch.clone(), routing_version).await
            } else {
                self.append_remote(target, group, &batch, routing_version).await
            };
            let passed_over = match result {
                Ok(appended) => {
                    if attempt > 0 {
                        tracing::debug!(
                            group = meta.id,
                            attempt,
                            leader = target,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            after = %last_error,
                            "append committed after retrying"
                        );
                    }
                    return Ok(appended);
                }
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Throttled) => {
                    let stream = &meta.stream;
                    return Err(AppendFailure::Failed(StraitError::rate_exceeded_for_shard(
                        meta.shard,
                        &stream.name,
                        &stream.namespace.account,
                    )));
                }
                Err(Attempt::NotLeader(Some(leader))) if leader != target => {
                    self.hint(group, Some(leader));
                    last_error = format!("node {target} is not the leader");
                    continue;
                }
                // The target knows no leader, or names itself but refused. Any leader is
                // worth trying next, unless the target was tried as the leader: then
                // another one.
                Err(Attempt::NotLeader(leader)) => {
                    self.hint(group, None);
                    last_error = format!("no leader known to node {target}");
                    leader.or(believed_leader.filter(|&l| l == target))
                }
                Err(Attempt::Retry(e)) => {
                    self.hint(group, None);
                    last_error = e;
                    Some(target)
                }
            };
            if tokio::time::Instant::now() + backoff > deadline {
                break;
            }
            tracing::debug!(
                group = meta.id,
                attempt,
                target,
                elapsed_ms = started.elapsed().as_millis() as u64,
                error = %last_error,
                "append attempt failed; waiting for a leader"
            );
            self.pause(group, passed_over, backoff).await;
            backoff = (backoff * 2).min(MAX_RETRY_PAUSE);
        }
        Err(AppendFailure::Failed(StraitError::unavailable(format!(
            "shard group {} has no reachable leader: {last_error}",
            meta.id
        ))))
    }

    /// Waits up to `delay` before the next attempt on `group`. With a local replica the
    /// wait ends as soon as the replica knows a leader worth trying: any leader when the
    /// last target knew of none, else one other than `failed`, the target that could not
    /// be reached. Usually that is the moment a new leader is elected, and the next attempt
    /// goes to it.
    async fn pause(&self, group: GroupId, failed: Option<u64>, delay: Duration) {
        let floor = tokio::time::Instant::now() + MIN_RETRY_PAUSE;
        match self.host.get(group) {
            Some(local) => {
                // A timeout is the expected way out when no new leader turns up.
                let _ = local
                    .raft
                    .wait(Some(delay))
                    .metrics(
                        |m| m.current_leader.is_some_and(|leader| Some(leader) != failed),
                        "a leader worth trying",
                    )
                    .await;
            }
            None => tokio::time::sleep(delay).await,
        }
        tokio::time::sleep_until(floor).await;
    }

    async fn append_local(
        &self,
        group: GroupId,
        batch: ProducerBatch,
        routing_version: u64,
    ) -> Result<Appended, Attempt> {
        let shard = self
            .host
            .get(group)
            .ok_or_else(|| Attempt::Retry(format!("group {group} not hosted here")))?;
        if !self.host.admit_write(&shard, &batch) {
            return Err(Attempt::Throttled);
        }
        let started = tokio::time::Instant::now();
        match shard.batcher.append(batch).await {
            Ok(BatchOutcome::Committed { index, first_offset }) => {
                self.host.metrics().observe_commit(group.0, started.elapsed());
                Ok(Appended { index, first_offset })
            }
            // The routing change that closed the shard follows its seal.
            Ok(BatchOutcome::ShardSealed) | Err(AppendError::Sealed) => {
                Err(Attempt::Fail(AppendFailure::StaleRouting {
                    version: routing_version + 1,
                }))
            }
            Err(AppendError::NotLeader { leader }) => Err(Attempt::NotLeader(leader)),
            Err(AppendError::Unavailable(e)) => Err(Attempt::Retry(e)),
        }
    }

    async fn append_remote(
        &self,
        target: u64,
        group: GroupId,
        batch: &ProducerBatch,
        routing_version: u64,
    ) -> Result<Appended, Attempt> {
        let mut client = self.client(target).map_err(|e| Attempt::Retry(e.to_string()))?;
        let request = AppendRecordsRequest {
            group_id: group.0,
            producer_id: batch.producer,
            producer_sequence: batch.sequence,
            routing_version,
            records: batch
                .records
                .iter()
                .map(|r| AppendRecord {
                    partition_key: r.partition_key.clone(),
                    data: r.data.clone(),
                })
                .collect(),
        };
        match tokio::time::timeout(HOP_TIMEOUT, client.append_records(request)).await {
            Ok(Ok(response)) => {
                let r = response.into_inner();
                Ok(Appended {
                    index: r.log_index,
                    first_offset: r.first_offset,
                })
            }
            Ok(Err(status)) => Err(classify(&self.router, target, status, routing_version)),
            Err(_) => {
                self.router.reset(target);
                Err(Attempt::Retry(format!("node {target} timed out")))
            }
        }
    }

    /// Where a (sealed) shard group committed a producer's batch, asking its replicas in
    /// read order. Only a replica that has applied the seal may say the batch is absent;
    /// one that has not is skipped.
    pub async fn committed_batch(
        &self,
        meta: &GroupMeta,
        producer: u64,
        sequence: u64,
    ) -> Result<Option<strait_raft::shard::state_machine::CommittedBatch>, StraitError> {
        let group = GroupId(meta.id);
        let mut last = StraitError::unavailable(format!("shard group {} has no replica", meta.id));
        for target in self.read_order(meta) {
            if target == self.node_id
                && let Some(local) = self.host.get(group)
            {
                match local.reader.committed_batch(producer, sequence) {
                    Ok(SealedLookup::Committed(batch)) => return Ok(Some(batch)),
                    Ok(SealedLookup::Absent) => return Ok(None),
                    Ok(SealedLookup::NotSealedHere) => {
                        last = StraitError::unavailable(format!(
                            "the local replica of group {} has not applied its seal yet",
                            meta.id
                        ));
                        continue;
                    }
                    Err(e) => return Err(StraitError::internal(e.to_string())),
                }
            }
            match self.client(target) {
                Ok(mut client) => {
                    let call = client.committed_batch(strait_proto::internal::CommittedBatchRequest {
                        group_id: group.0,
                        producer_id: producer,
                        producer_sequence: sequence,
                    });
                    match tokio::time::timeout(HOP_TIMEOUT, call).await {
                        Ok(Ok(r)) => {
                            let r = r.into_inner();
                            return Ok(r.found.then_some(
                                strait_raft::shard::state_machine::CommittedBatch {
                                    index: r.log_index,
                                    first_offset: r.first_offset,
                                    count: r.count,
                                },
                            ));
                        }
                        Ok(Err(status)) => last = StraitError::unavailable(status.message().to_string()),
                        Err(_) => last = StraitError::unavailable(format!("node {target} timed out")),
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Seals a shard group on its leader; returns the seal's log index.
    pub async fn seal(&self, meta: &GroupMeta) -> Result<u64, StraitError> {
        let group = GroupId(meta.id);
        let deadline = tokio::time::Instant::now() + APPEND_DEADLINE;
        let mut backoff = FIRST_RETRY_PAUSE;
        let mut last_error = String::new();
        for attempt in 0.. {
            let believed_leader = self.leader(meta);
            let target = self.target(meta, attempt);
            let result = if target == self.node_id {
                match self.host.get(group) {
                    Some(local) => local.seal().await.map_err(|e| match e {
                        AppendError::NotLeader { leader } => Attempt::NotLeader(leader),
                        other => Attempt::Retry(other.to_string()),
                    }),
                    None => Err(Attempt::Retry(format!("group {group} not hosted here"))),
                }
            } else {
                match self.client(target) {
                    Ok(mut client) => {
                        let call = client.seal_shard(SealShardRequest { group_id: group.0 });
                        match tokio::time::timeout(HOP_TIMEOUT, call).await {
                            Ok(Ok(response)) => Ok(response.into_inner().sealed_at),
                            Ok(Err(status)) => Err(classify(&self.router, target, status, 0)),
                            Err(_) => {
                                self.router.reset(target);
                                Err(Attempt::Retry(format!("node {target} timed out")))
                            }
                        }
                    }
                    Err(e) => Err(Attempt::Retry(e.to_string())),
                }
            };
            let passed_over = match result {
                Ok(sealed_at) => return Ok(sealed_at),
                Err(Attempt::NotLeader(Some(leader))) if leader != target => {
                    self.hint(group, Some(leader));
                    continue;
                }
                Err(Attempt::NotLeader(leader)) => {
                    self.hint(group, None);
                    last_error = format!("no leader known to node {target}");
                    leader.or(believed_leader.filter(|&l| l == target))
                }
                Err(Attempt::Retry(e)) => {
                    self.hint(group, None);
                    last_error = e;
                    Some(target)
                }
                Err(Attempt::Fail(_) | Attempt::Throttled) => {
                    last_error = "unexpected answer to a seal".into();
                    Some(target)
                }
            };
            if tokio::time::Instant::now() + backoff > deadline {
                break;
            }
            self.pause(group, passed_over, backoff).await;
            backoff = (backoff * 2).min(MAX_RETRY_PAUSE);
        }
        Err(StraitError::unavailable(format!(
            "cannot seal shard group {}: {last_error}",
            meta.id
        )))
    }

    /// Reads committed records, preferring the leader (which has applied every
    /// acknowledged record) and falling back to other replicas.
    pub async fn read(
        &self,
        meta: &GroupMeta,
        from: RecordPosition,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<ReadRecord>, ShardTip), StraitError> {
        let group = GroupId(meta.id);
        let mut last = StraitError::unavailable(format!("shard group {} has no replica", meta.id));
        for target in self.read_order(meta) {
            if target == self.node_id
                && let Some(local) = self.host.get(group)
            {
                match local.reader.read(from, limit, max_bytes) {
                    Ok(records) => return Ok((records, local.reader.tip())),
                    // A replica whose stored entry fails its checksum serves nothing;
                    // another replica answers instead.
                    Err(e) => {
                        tracing::error!(group = meta.id, error = %e, "local shard read failed; trying another replica");
                        last = StraitError::internal(format!("reading shard group {}: {e}", meta.id));
                        continue;
                    }
                }
            }
            let request = ReadRecordsRequest {
                group_id: group.0,
                from_index: from.index,
                from_offset: from.offset,
                limit: limit as u32,
                max_bytes: max_bytes as u64,
            };
            let result = match self.client(target) {
                Ok(mut client) => tokio::time::timeout(HOP_TIMEOUT, client.read_records(request)).await,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match result {
                Ok(Ok(response)) => {
                    let response = response.into_inner();
                    let tip = tip_from_proto(response.tip.unwrap_or_default());
                    let records = response
                        .records
                        .into_iter()
                        .map(|r| ReadRecord {
                            position: RecordPosition::new(r.log_index, r.offset),
                            partition_key: r.partition_key,
                            data: r.data,
                            arrival_ms: r.arrival_ms,
                        })
                        .collect();
                    return Ok((records, tip));
                }
                Ok(Err(status)) => {
                    last = StraitError::unavailable(status.message().to_string());
                    self.hint(group, None);
                }
                Err(_) => {
                    self.router.reset(target);
                    last = StraitError::unavailable(format!("node {target} timed out"));
                }
            }
        }
        Err(last)
    }

    /// The shard's tip, from its leader when possible.
    pub async fn tip(&self, meta: &GroupMeta) -> Result<ShardTip, StraitError> {
        let group = GroupId(meta.id);
        let mut last = StraitError::unavailable(format!("shard group {} has no replica", meta.id));
        for target in self.read_order(meta) {
            if target == self.node_id
                && let Some(local) = self.host.get(group)
            {
                return Ok(local.reader.tip());
            }
            match self.client(target) {
                Ok(mut client) => {
                    let call = client.get_shard_tip(ShardTipRequest { group_id: group.0 });
                    match tokio::time::timeout(HOP_TIMEOUT, call).await {
                        Ok(Ok(tip)) => return Ok(tip_from_proto(tip.into_inner())),
                        Ok(Err(status)) => last = StraitError::unavailable(status.message().to_string()),
                        Err(_) => last = StraitError::unavailable(format!("node {target} timed out")),
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The first position at or after `timestamp_ms`.
    pub async fn find_timestamp(
        &self,
        meta: &GroupMeta,
        timestamp_ms: u64,
    ) -> Result<RecordPosition, StraitError> {
        let group = GroupId(meta.id);
        let mut last = StraitError::unavailable(format!("shard group {} has no replica", meta.id));
        for target in self.read_order(meta) {
            if target == self.node_id
                && let Some(local) = self.host.get(group)
            {
                return local
                    .reader
                    .find_timestamp(timestamp_ms)
                    .map_err(|e| StraitError::internal(e.to_string()));
            }
            match self.client(target) {
                Ok(mut client) => {
                    let call = client.find_timestamp(FindTimestampRequest {
                        group_id: group.0,
                        timestamp_ms,
                    });
                    match tokio::time::timeout(HOP_TIMEOUT, call).await {
                        Ok(Ok(r)) => {
                            let r = r.into_inner();
                            return Ok(RecordPosition::new(r.index, r.offset));
                        }
                        Ok(Err(status)) => last = StraitError::unavailable(status.message().to_string()),
                        Err(_) => last = StraitError::unavailable(format!("node {target} timed out")),
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn classify(router: &PeerRouter, target: u64, status: tonic::Status, routing_version: u64) -> Attempt {
    let error_type = status
        .metadata()
        .get(strait_proto::ERROR_TYPE_METADATA)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match error_type.as_str() {
        NOT_LEADER => Attempt::NotLeader(
            status
                .metadata()
                .get(LEADER_METADATA)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        ),
        SHARD_SEALED => Attempt::Fail(AppendFailure::StaleRouting {
            version: routing_version + 1,
        }),
        THROTTLED => Attempt::Throttled,
        STALE_ROUTING => Attempt::Fail(AppendFailure::StaleRouting {
            version: status
                .metadata()
                .get(ROUTING_VERSION_METADATA)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(routing_version + 1),
        }),
        _ => {
            if matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ) {
                router.reset(target);
            }
            Attempt::Retry(format!("node {target}: {}", status.message()))
        }
    }
}

/// The wire form of a tip.
pub fn tip_to_proto(tip: &ShardTip) -> strait_proto::internal::ShardTip {
    strait_proto::internal::ShardTip {
        applied_index: tip.applied_index,
        last_record_index: tip.last_record.map(|p| p.index),
        last_record_offset: tip.last_record.map(|p| p.offset).unwrap_or(0),
        last_arrival_ms: tip.last_arrival_ms,
        sealed_at: tip.sealed_at,
        first_retained_index: tip.first_retained.index,
        first_retained_offset: tip.first_retained.offset,
    }
}

/// Reads a tip back from its wire form.
pub fn tip_from_proto(tip: strait_proto::internal::ShardTip) -> ShardTip {
    ShardTip {
        applied_index: tip.applied_index,
        last_record: tip
            .last_record_index
            .map(|index| RecordPosition::new(index, tip.last_record_offset)),
        last_arrival_ms: tip.last_arrival_ms,
        sealed_at: tip.sealed_at,
        first_retained: RecordPosition::new(tip.first_retained_index, tip.first_retained_offset),
    }
}
