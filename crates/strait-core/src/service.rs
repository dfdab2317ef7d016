//! Requests and responses of the stream operations, as plain data.
//!
//! Strait implements each operation once, in the node, and exposes it twice: through the
//! Kinesis HTTP API and through gRPC. Both front doors translate their wire messages into the
//! types below and translate the results back, so neither knows how the node works and the
//! node knows nothing of either wire format. The operations themselves are the
//! [`StreamOperations`](crate::operations::StreamOperations) trait; this module holds only
//! their inputs and outputs.
//!
//! The types use validated domain values ([`StreamName`], [`ShardId`], [`SequenceNumber`],
//! ...) rather than strings, so a request that reaches the node is already well-formed; the
//! front door has reported every model violation before building it. Every request that
//! names a stream carries the [`Namespace`] it was resolved in (from the ARN, or from the
//! caller's account and region).

use serde::{Deserialize, Serialize};

use crate::error::StraitError;
use crate::hash_key::HashKey;
use crate::hash_range::HashKeyRange;
use crate::iterator::IteratorType;
use crate::record::{Record, StoredRecord};
use crate::sequence::SequenceNumber;
use crate::shard::ShardId;
use crate::stream::{Namespace, StreamIncarnation, StreamMode, StreamName, StreamStatus};

// -------------------------------------------------------------------------------------------
// Stream lifecycle.
// -------------------------------------------------------------------------------------------

/// CreateStream: create a stream whose shards divide the hash key space evenly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateStreamRequest {
    /// The namespace to create the stream in.
    pub namespace: Namespace,
    /// The new stream's name; it must not be taken in the namespace.
    pub stream: StreamName,
    /// The number of shards, at least 1. On-demand streams pick their own initial count.
    pub shard_count: u32,
    /// Whether the user or Strait manages the shard count.
    pub mode: StreamMode,
}

/// DeleteStream: delete a stream and, eventually, its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteStreamRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream to delete.
    pub stream: StreamName,
    /// Whether registered consumers are deleted too; without it, their presence is a
    /// ResourceInUse error.
    pub enforce_consumer_deletion: bool,
}

/// DescribeStream and DescribeStreamSummary: look up one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeStreamRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream to describe.
    pub stream: StreamName,
}

/// A stream and all its shards still inside retention, in shard id order.
///
/// The front door pages through the shards itself (DescribeStream's `Limit` and
/// `ExclusiveStartShardId`), since a stream holds at most a few thousand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDescription {
    /// The stream's name.
    pub name: StreamName,
    /// The stream's ARN, as [`StreamArn::format`](crate::StreamArn::format) renders it.
    pub arn: String,
    /// Which creation of the stream this is.
    pub incarnation: StreamIncarnation,
    /// The stream's lifecycle state.
    pub status: StreamStatus,
    /// Whether the user or Strait manages the shard count.
    pub mode: StreamMode,
    /// How long records are kept, in hours (24 to 8760).
    pub retention_hours: u32,
    /// When the stream was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// The trim horizon when the description was taken: records that arrived before it
    /// (ms since the Unix epoch) are past retention. ListShards filters shards by it.
    pub trim_horizon_ms: u64,
    /// The stream's shards, open and closed, in shard id order.
    pub shards: Vec<ShardDescription>,
}

impl StreamDescription {
    /// Returns the open shards: those that accept writes and together cover the key space.
    pub fn open_shards(&self) -> impl Iterator<Item = &ShardDescription> {
        self.shards.iter().filter(|shard| shard.is_open())
    }

    /// Returns the shard with this id, if the stream still lists it.
    pub fn shard(&self, shard_id: ShardId) -> Option<&ShardDescription> {
        self.shards.iter().find(|shard| shard.shard_id == shard_id)
    }
}

/// The answer to DescribeStream: the stream with all its listed shards.
pub type DescribeStreamResponse = StreamDescription;

/// One shard of a stream, with its lineage, range, sequence-number bounds and placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardDescription {
    /// The shard's id.
    pub shard_id: ShardId,
    /// The shard this one was split from, or the first of the two it was merged from.
    pub parent: Option<ShardId>,
    /// The second shard of a merge.
    pub adjacent_parent: Option<ShardId>,
    /// The hash keys the shard owns.
    pub hash_range: HashKeyRange,
    /// A sequence number below every record in the shard.
    pub starting_sequence_number: SequenceNumber,
    /// Set once the shard is closed: a sequence number at or above every record in it.
    pub ending_sequence_number: Option<SequenceNumber>,
    /// The nodes holding a replica of the shard's Raft group.
    pub replicas: Vec<u64>,
    /// The node currently leading the shard's Raft group, if known.
    pub leader: Option<u64>,
    /// When the shard was opened (with its stream, or by a split or merge), in
    /// milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When the shard was closed by a split or merge, if it was.
    pub closed_at_ms: Option<u64>,
}

impl ShardDescription {
    /// Tells whether the shard still accepts writes (it has no ending sequence number).
    pub fn is_open(&self) -> bool {
        self.ending_sequence_number.is_none()
    }

    /// Tells whether the shard was open at `at_ms`: opened at or before it and not closed
    /// before it (a shard closed exactly then still counts, so that a reader starting at
    /// that instant drains the parent before its children).
    pub fn was_open_at(&self, at_ms: u64) -> bool {
        self.created_at_ms <= at_ms && self.closed_at_ms.is_none_or(|closed| closed >= at_ms)
    }

    /// Returns the shard's parents: none for an original shard, one after a split, two after
    /// a merge.
    pub fn parent_shards(&self) -> Vec<ShardId> {
        self.parent.into_iter().chain(self.adjacent_parent).collect()
    }
}

/// ListStreams: the names of the streams in a namespace, in ascending byte order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStreamsRequest {
    /// The namespace to list.
    pub namespace: Namespace,
    /// List only streams whose names sort after this one.
    pub exclusive_start_stream: Option<StreamName>,
    /// A token from a previous response, to continue where it stopped.
    pub next_token: Option<String>,
    /// The most streams to return.
    pub limit: u32,
}

/// A short description of one stream, as ListStreams returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// The stream's name.
    pub name: StreamName,
    /// The stream's ARN.
    pub arn: String,
    /// The stream's lifecycle state.
    pub status: StreamStatus,
    /// Whether the user or Strait manages the shard count.
    pub mode: StreamMode,
    /// When the stream was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// The answer to ListStreams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStreamsResponse {
    /// The streams of this page, in ascending name order.
    pub streams: Vec<StreamSummary>,
    /// Whether more streams follow this page.
    pub has_more_streams: bool,
    /// An opaque token for the next page, present when more streams follow.
    pub next_token: Option<String>,
}

// -------------------------------------------------------------------------------------------
// Records.
// -------------------------------------------------------------------------------------------

/// PutRecord: write one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRecordRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream to write to.
    pub stream: StreamName,
    /// The record.
    pub record: Record,
    /// If given, the new record's sequence number must exceed this one.
    pub sequence_number_for_ordering: Option<SequenceNumber>,
}

/// The answer to PutRecord: where the record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRecordResponse {
    /// The shard that received the record.
    pub shard: ShardId,
    /// The record's sequence number.
    pub sequence_number: SequenceNumber,
}

/// PutRecords: write up to 500 records in one call, each succeeding or failing on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRecordsRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream to write to.
    pub stream: StreamName,
    /// The records, in request order.
    pub records: Vec<Record>,
}

/// The outcome of one record of a PutRecords call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutRecordResult {
    /// The record was committed.
    Ok {
        /// The shard that received the record.
        shard: ShardId,
        /// The record's sequence number.
        sequence_number: SequenceNumber,
    },
    /// The record was not written. Kinesis reports the error's
    /// [`kinesis_record_error_code`](StraitError::kinesis_record_error_code) and message.
    Err {
        /// Why the record was not written.
        error: StraitError,
    },
}

impl PutRecordResult {
    /// Tells whether the record was committed.
    pub fn is_ok(&self) -> bool {
        matches!(self, PutRecordResult::Ok { .. })
    }
}

/// The answer to PutRecords: one result per request record, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRecordsResponse {
    /// The results, one per request record, in the same order.
    pub records: Vec<PutRecordResult>,
}

impl PutRecordsResponse {
    /// Returns the number of records that failed (Kinesis's FailedRecordCount).
    pub fn failed_record_count(&self) -> usize {
        self.records.iter().filter(|result| !result.is_ok()).count()
    }
}

// -------------------------------------------------------------------------------------------
// Reads.
// -------------------------------------------------------------------------------------------

/// GetShardIterator: get an iterator for reading one shard from a starting point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetShardIteratorRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream.
    pub stream: StreamName,
    /// The shard to read.
    pub shard: ShardId,
    /// Where to start reading.
    pub iterator_type: IteratorType,
}

/// The answer to GetShardIterator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetShardIteratorResponse {
    /// The opaque iterator string, valid for five minutes.
    pub iterator: String,
}

/// GetRecords: read from the position an iterator names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRecordsRequest {
    /// The opaque iterator string from GetShardIterator or a previous GetRecords.
    pub iterator: String,
    /// The most records to return, 1 to 10000.
    pub limit: u32,
}

/// The answer to GetRecords.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRecordsResponse {
    /// The records read, in sequence-number order. May be empty while the shard is open.
    pub records: Vec<StoredRecord>,
    /// The iterator for the next call; absent once a closed shard has been read to its end.
    pub next_iterator: Option<String>,
    /// How far behind the shard's newest record the returned position is, in milliseconds.
    pub millis_behind_latest: u64,
    /// At the end of a closed shard, the shards that replaced it.
    pub child_shards: Vec<ChildShard>,
}

/// A shard that replaced a closed one, as GetRecords reports it at the parent's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildShard {
    /// The child's id.
    pub shard_id: ShardId,
    /// The child's parents: the split shard, or both merged shards.
    pub parent_shards: Vec<ShardId>,
    /// The hash keys the child owns.
    pub hash_range: HashKeyRange,
}

// -------------------------------------------------------------------------------------------
// Listing shards.
// -------------------------------------------------------------------------------------------

/// Which shards ListShards returns (Kinesis's ShardFilter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShardFilter {
    /// Shards whose ids come after this one.
    AfterShardId(ShardId),
    /// Shards that were open at the trim horizon.
    AtTrimHorizon,
    /// Every shard still inside retention (the default).
    FromTrimHorizon,
    /// Only the currently open shards.
    AtLatest,
    /// Shards open at this time, in milliseconds since the Unix epoch.
    AtTimestamp(u64),
    /// Shards open at or after this time, in milliseconds since the Unix epoch.
    FromTimestamp(u64),
}

impl ShardFilter {
    /// Returns the filter type as Kinesis spells it, e.g. `AT_LATEST`.
    pub fn as_kinesis_str(&self) -> &'static str {
        match self {
            ShardFilter::AfterShardId(_) => "AFTER_SHARD_ID",
            ShardFilter::AtTrimHorizon => "AT_TRIM_HORIZON",
            ShardFilter::FromTrimHorizon => "FROM_TRIM_HORIZON",
            ShardFilter::AtLatest => "AT_LATEST",
            ShardFilter::AtTimestamp(_) => "AT_TIMESTAMP",
            ShardFilter::FromTimestamp(_) => "FROM_TIMESTAMP",
        }
    }

    /// The filter type names, in the order the Kinesis model lists them.
    pub const KINESIS_NAMES: [&'static str; 6] = [
        "AFTER_SHARD_ID",
        "AT_TRIM_HORIZON",
        "FROM_TRIM_HORIZON",
        "AT_LATEST",
        "AT_TIMESTAMP",
        "FROM_TIMESTAMP",
    ];
}

/// ListShards: list a stream's shards, a page at a time.
///
/// Exactly one of `stream` and `next_token` is set: the first page names the stream, later
/// pages carry only the token, which encodes the stream and the filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListShardsRequest {
    /// The namespace of the stream (or of the caller, for a token-only request).
    pub namespace: Namespace,
    /// The stream, for the first page.
    pub stream: Option<StreamName>,
    /// An opaque token from a previous response, for later pages.
    pub next_token: Option<String>,
    /// List only shards whose ids come after this one.
    pub exclusive_start_shard_id: Option<ShardId>,
    /// The most shards to return.
    pub max_results: u32,
    /// Which shards to return; none means every shard inside retention.
    pub shard_filter: Option<ShardFilter>,
}

/// The answer to ListShards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListShardsResponse {
    /// The shards of this page, in shard id order.
    pub shards: Vec<ShardDescription>,
    /// An opaque token for the next page, present when more shards follow.
    pub next_token: Option<String>,
}

// -------------------------------------------------------------------------------------------
// Resharding and retention.
// -------------------------------------------------------------------------------------------

/// SplitShard: close a shard and open two children dividing its range at a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitShardRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream.
    pub stream: StreamName,
    /// The open shard to split.
    pub shard_to_split: ShardId,
    /// The first hash key of the upper child.
    pub new_starting_hash_key: HashKey,
}

/// MergeShards: close two adjacent shards and open one child over their union.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeShardsRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream.
    pub stream: StreamName,
    /// The shard that becomes the child's parent.
    pub shard_to_merge: ShardId,
    /// The shard that becomes the child's adjacent parent.
    pub adjacent_shard_to_merge: ShardId,
}

/// UpdateShardCount: reshard to a number of evenly sized open shards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateShardCountRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream.
    pub stream: StreamName,
    /// The number of open shards wanted.
    pub target_shard_count: u32,
}

/// The answer to UpdateShardCount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateShardCountResponse {
    /// The number of open shards before the update.
    pub current_shard_count: u32,
    /// The number of open shards the update aims for.
    pub target_shard_count: u32,
}

/// IncreaseStreamRetentionPeriod and DecreaseStreamRetentionPeriod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRetentionRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream.
    pub stream: StreamName,
    /// The new retention period, in hours (24 to 8760).
    pub retention_hours: u32,
    /// Which operation was called: an increase must not shorten the period and a decrease
    /// must not lengthen it.
    pub direction: RetentionChange,
}

/// Which retention operation was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RetentionChange {
    /// IncreaseStreamRetentionPeriod.
    Increase,
    /// DecreaseStreamRetentionPeriod.
    Decrease,
}

// -------------------------------------------------------------------------------------------
// Metadata-only settings: tags and enhanced fan-out consumers.
// -------------------------------------------------------------------------------------------

/// An enhanced fan-out consumer registered on a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// The consumer's name, unique within the stream.
    pub name: String,
    /// The stream's ARN.
    pub stream_arn: String,
    /// When the consumer was registered, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// A stream's metadata-only settings as DescribeStream(Summary) and the puts report them:
/// encryption, enhanced monitoring, the record size limit and the warm throughput.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamExtras {
    /// The KMS key id records are encrypted with, if encryption is on.
    pub encryption_key_id: Option<String>,
    /// The enabled enhanced shard-level metrics, in name order.
    pub shard_level_metrics: Vec<String>,
    /// The largest record the stream accepts (data plus partition key), in KiB.
    pub max_record_size_kib: u32,
    /// The warm throughput asked for an on-demand stream, in MiB/s, if any.
    pub warm_throughput_mibps: Option<u32>,
}

impl Default for StreamExtras {
    fn default() -> Self {
        StreamExtras {
            encryption_key_id: None,
            shard_level_metrics: Vec::new(),
            max_record_size_kib: DEFAULT_MAX_RECORD_SIZE_KIB,
            warm_throughput_mibps: None,
        }
    }
}

impl StreamExtras {
    /// The largest record the stream accepts, in bytes of data plus partition key.
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_size_kib as usize * 1024
    }

    /// The largest PutRecords request the stream accepts, summed over its records: 5 MiB,
    /// or 10 MiB once the stream takes records over 1 MiB (Kinesis's current rule).
    pub fn max_put_records_bytes(&self) -> usize {
        if self.max_record_size_kib > DEFAULT_MAX_RECORD_SIZE_KIB {
            crate::record::MAX_PUT_RECORDS_BYTES_LARGE
        } else {
            crate::record::MAX_PUT_RECORDS_BYTES
        }
    }
}

/// A stream's record size limit unless changed (CreateStream or UpdateMaxRecordSize): 1 MiB.
pub const DEFAULT_MAX_RECORD_SIZE_KIB: u32 = 1024;
/// The smallest and largest record size limits a stream may have, in KiB.
pub const MAX_RECORD_SIZE_KIB_RANGE: std::ops::RangeInclusive<u32> = 1024..=10240;

/// UpdateStreamMode: switch a stream between provisioned and on-demand capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStreamModeRequest {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream.
    pub stream: StreamName,
    /// The new mode.
    pub mode: StreamMode,
    /// The warm throughput for an on-demand stream, in MiB/s (only with ON_DEMAND).
    pub warm_throughput_mibps: Option<u32>,
}

/// Which resource a resource policy is attached to: a stream, or one of its consumers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTarget {
    /// The stream's namespace.
    pub namespace: Namespace,
    /// The stream (for a consumer, the stream it reads).
    pub stream: StreamName,
    /// The consumer's name and registration time in seconds (as its ARN ends), or `None`
    /// for the stream itself.
    pub consumer: Option<(String, u64)>,
}

/// The status of an account's minimum throughput billing commitment, as Kinesis spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommitmentStatus {
    /// In force.
    Enabled,
    /// Not in force.
    Disabled,
    /// Ended by the account, but in force until its earliest allowed end.
    EnabledUntilEarliestAllowedEnd,
}

impl CommitmentStatus {
    /// The status as Kinesis spells it.
    pub fn as_kinesis_str(self) -> &'static str {
        match self {
            CommitmentStatus::Enabled => "ENABLED",
            CommitmentStatus::Disabled => "DISABLED",
            CommitmentStatus::EnabledUntilEarliestAllowedEnd => "ENABLED_UNTIL_EARLIEST_ALLOWED_END",
        }
    }
}

/// An account's settings in one region (DescribeAccountSettings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettings {
    /// The minimum throughput billing commitment's status at the time of the answer.
    pub commitment_status: CommitmentStatus,
    /// When the commitment was last enabled (ms since the Unix epoch).
    pub commitment_started_at_ms: Option<u64>,
    /// When the commitment ended or will end, once disabled.
    pub commitment_ended_at_ms: Option<u64>,
    /// The earliest time an enabled commitment may end.
    pub commitment_earliest_allowed_end_at_ms: Option<u64>,
}

impl AccountSettings {
    /// Tells whether the commitment is in force (needed for warm throughput).
    pub fn commitment_in_force(&self) -> bool {
        self.commitment_status != CommitmentStatus::Disabled
    }
}

impl Consumer {
    /// Returns the consumer's ARN: `<stream ARN>/consumer/<name>:<registration epoch seconds>`.
    pub fn arn(&self) -> String {
        format!(
            "{}/consumer/{}:{}",
            self.stream_arn,
            self.name,
            self.created_at_ms / 1000
        )
    }

    /// Splits a consumer ARN into the stream ARN, the consumer name and the registration
    /// time in seconds; `None` if it does not have the consumer ARN's shape.
    pub fn parse_arn(arn: &str) -> Option<(&str, &str, u64)> {
        let (stream_arn, rest) = arn.rsplit_once("/consumer/")?;
        let (name, seconds) = rest.rsplit_once(':')?;
        Some((stream_arn, name, seconds.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition_key::PartitionKey;
    use crate::sequence::RecordPosition;
    use crate::stream::StreamArn;

    fn incarnation() -> StreamIncarnation {
        StreamIncarnation::new(1).expect("in range")
    }

    fn shard(ordinal: u32, range: HashKeyRange, closed: bool) -> ShardDescription {
        let id = ShardId(ordinal);
        ShardDescription {
            shard_id: id,
            parent: None,
            adjacent_parent: None,
            hash_range: range,
            starting_sequence_number: SequenceNumber::starting(incarnation(), id),
            ending_sequence_number: closed
                .then(|| SequenceNumber::new(incarnation(), id, RecordPosition::new(10, 0)).expect("valid")),
            replicas: vec![1, 2, 3],
            leader: Some(1),
            created_at_ms: 0,
            closed_at_ms: closed.then_some(10),
        }
    }

    #[test]
    fn description_lists_open_shards_and_lineage() {
        let name = StreamName::new("orders").expect("valid");
        let ranges = HashKeyRange::even_split(2);
        let mut child = shard(2, HashKeyRange::FULL, false);
        child.parent = Some(ShardId(0));
        child.adjacent_parent = Some(ShardId(1));
        let description = StreamDescription {
            arn: StreamArn::format(&Namespace::default(), &name),
            name,
            incarnation: incarnation(),
            status: StreamStatus::Active,
            mode: StreamMode::Provisioned,
            retention_hours: 24,
            created_at_ms: 0,
            trim_horizon_ms: 0,
            shards: vec![shard(0, ranges[0], true), shard(1, ranges[1], true), child],
        };
        let open: Vec<ShardId> = description.open_shards().map(|s| s.shard_id).collect();
        assert_eq!(open, vec![ShardId(2)]);
        assert_eq!(
            description.shard(ShardId(2)).map(ShardDescription::parent_shards),
            Some(vec![ShardId(0), ShardId(1)])
        );
        assert!(description.shard(ShardId(9)).is_none());
        let json = serde_json::to_string(&description).expect("serializes");
        let back: DescribeStreamResponse = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, description);
    }

    #[test]
    fn consumer_arns_round_trip() {
        let consumer = Consumer {
            name: "app".to_owned(),
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".to_owned(),
            created_at_ms: 1_700_000_000_999,
        };
        let arn = consumer.arn();
        assert_eq!(
            arn,
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/app:1700000000"
        );
        assert_eq!(
            Consumer::parse_arn(&arn),
            Some((consumer.stream_arn.as_str(), "app", 1_700_000_000))
        );
        assert_eq!(Consumer::parse_arn("arn:aws:kinesis:us-east-1:0:stream/s"), None);
        assert_eq!(Consumer::parse_arn("x/consumer/app:soon"), None);
    }

    #[test]
    fn put_records_response_counts_failures() {
        let ok = PutRecordResult::Ok {
            shard: ShardId(0),
            sequence_number: SequenceNumber::starting(incarnation(), ShardId(0)),
        };
        let failed = PutRecordResult::Err {
            error: StraitError::unavailable("no leader"),
        };
        let response = PutRecordsResponse {
            records: vec![ok.clone(), failed.clone(), ok, failed],
        };
        assert_eq!(response.failed_record_count(), 2);
        let bytes = postcard::to_allocvec(&response).expect("serializes");
        let back: PutRecordsResponse = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back, response);
    }

    #[test]
    fn requests_round_trip_through_serde() {
        let request = PutRecordsRequest {
            namespace: Namespace::default(),
            stream: StreamName::new("s").expect("valid"),
            records: vec![
                Record::new(PartitionKey::new("k").expect("valid"), &b"v"[..])
                    .with_explicit_hash_key(HashKey(1)),
            ],
        };
        let bytes = postcard::to_allocvec(&request).expect("serializes");
        assert_eq!(
            postcard::from_bytes::<PutRecordsRequest>(&bytes).expect("parses"),
            request
        );
        let filters = [
            ShardFilter::AfterShardId(ShardId(1)),
            ShardFilter::AtTrimHorizon,
            ShardFilter::FromTrimHorizon,
            ShardFilter::AtLatest,
            ShardFilter::AtTimestamp(1),
            ShardFilter::FromTimestamp(2),
        ];
        let names: Vec<&str> = filters.iter().map(ShardFilter::as_kinesis_str).collect();
        assert_eq!(names, ShardFilter::KINESIS_NAMES);
    }
}
