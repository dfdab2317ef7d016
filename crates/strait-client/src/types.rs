//! The typed answers of the client, and every conversion between them and the wire types.
//!
//! The wire carries shard ids, sequence numbers and hash keys as strings. The client parses
//! them once, here, into `strait-core`'s newtypes, so that callers never handle an unchecked
//! string, and a node that sends a malformed one is reported as a [`ClientError::Protocol`]
//! naming the field rather than failing somewhere later.

use strait_core::{
    HashKey, HashKeyRange, IteratorType, Namespace, Record, SequenceNumber, ShardId, StoredRecord,
    StreamMode, StreamStatus,
};
use strait_proto::v1 as proto;

use crate::error::ClientError;

/// Where a record was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PutResult {
    /// The shard that took the record.
    pub shard_id: ShardId,
    /// The record's sequence number in that shard.
    pub sequence_number: SequenceNumber,
}

/// Why one record of a PutRecords request was not stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordFailure {
    /// The Kinesis error name: `ProvisionedThroughputExceededException`, `InternalFailure`,
    /// or the name of the error that failed the whole request.
    pub error_code: String,
    /// The message that came with it.
    pub message: String,
}

impl std::fmt::Display for RecordFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_code, self.message)
    }
}

impl From<&ClientError> for RecordFailure {
    fn from(error: &ClientError) -> RecordFailure {
        RecordFailure {
            error_code: error.error_type().to_owned(),
            message: error.message().to_owned(),
        }
    }
}

/// The outcome of one record of a PutRecords request.
pub type RecordOutcome = Result<PutResult, RecordFailure>;

/// A stream as DescribeStream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDescription {
    /// The stream's name.
    pub name: String,
    /// The stream's ARN.
    pub arn: String,
    /// Tells this stream apart from an earlier stream of the same name.
    pub incarnation: u64,
    /// CREATING, ACTIVE, UPDATING or DELETING.
    pub status: StreamStatus,
    /// Provisioned or on-demand.
    pub mode: StreamMode,
    /// How long records are kept.
    pub retention_hours: u32,
    /// When the stream was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Every shard of the stream, open and closed.
    pub shards: Vec<ShardDescription>,
}

/// A shard as DescribeStream and ListShards report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDescription {
    /// The shard's id.
    pub shard_id: ShardId,
    /// The shard it was split from, or the first of the two it was merged from.
    pub parent_shard_id: Option<ShardId>,
    /// The second shard it was merged from.
    pub adjacent_parent_shard_id: Option<ShardId>,
    /// The hash keys the shard owns (owned, once it is closed).
    pub hash_key_range: HashKeyRange,
    /// Below every sequence number the shard holds.
    pub starting_sequence_number: SequenceNumber,
    /// Set once the shard has been closed by a split or merge.
    pub ending_sequence_number: Option<SequenceNumber>,
    /// Node ids holding a replica of the shard's Raft group.
    pub replicas: Vec<u64>,
    /// The replica leading the group, when known.
    pub leader: Option<u64>,
}

impl ShardDescription {
    /// Returns the shard's parents: none for an original shard, one after a split, two after
    /// a merge.
    pub fn parents(&self) -> Vec<ShardId> {
        self.parent_shard_id
            .into_iter()
            .chain(self.adjacent_parent_shard_id)
            .collect()
    }

    /// Tells whether the shard has been closed by a split or merge.
    pub fn is_closed(&self) -> bool {
        self.ending_sequence_number.is_some()
    }
}

/// A shard that replaced a closed shard, as GetRecords reports it at the shard's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildShard {
    /// The child's id.
    pub shard_id: ShardId,
    /// All of the child's parents (two for a merge).
    pub parent_shards: Vec<ShardId>,
    /// The hash keys the child owns.
    pub hash_key_range: HashKeyRange,
}

/// One page of a shard, as GetRecords returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRecordsOutput {
    /// The records, in sequence-number order.
    pub records: Vec<StoredRecord>,
    /// The iterator to read on with; `None` once a closed shard has been read to its end.
    pub next_shard_iterator: Option<String>,
    /// How far behind the newest record of the shard this page ends, in milliseconds.
    pub millis_behind_latest: u64,
    /// At the end of a closed shard, the shards that replaced it.
    pub child_shards: Vec<ChildShard>,
}

/// One event of a Subscribe stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeEvent {
    /// The records, in sequence-number order.
    pub records: Vec<StoredRecord>,
    /// Resuming after this sequence number continues where this event ends.
    pub continuation_sequence_number: Option<SequenceNumber>,
    /// How far behind the newest record of the shard this event ends, in milliseconds.
    pub millis_behind_latest: u64,
    /// Set on the last event of a closed shard.
    pub child_shards: Vec<ChildShard>,
}

// -------------------------------------------------------------------------------------------
// Client to wire.
// -------------------------------------------------------------------------------------------

pub(crate) fn namespace_to_proto(namespace: &Namespace) -> proto::Namespace {
    proto::Namespace {
        account: namespace.account.as_str().to_owned(),
        region: namespace.region.as_str().to_owned(),
    }
}

/// The wire form of a starting point: the type, the sequence number and the timestamp.
pub(crate) fn iterator_type_to_proto(
    start: &IteratorType,
) -> (proto::ShardIteratorType, Option<String>, Option<u64>) {
    use proto::ShardIteratorType as Wire;
    match start {
        IteratorType::TrimHorizon => (Wire::TrimHorizon, None, None),
        IteratorType::Latest => (Wire::Latest, None, None),
        IteratorType::AtSequenceNumber(number) => (Wire::AtSequenceNumber, Some(number.to_string()), None),
        IteratorType::AfterSequenceNumber(number) => {
            (Wire::AfterSequenceNumber, Some(number.to_string()), None)
        }
        IteratorType::AtTimestamp(ms) => (Wire::AtTimestamp, None, Some(*ms)),
    }
}

pub(crate) fn record_to_entry(record: &Record) -> proto::PutRecordsEntry {
    proto::PutRecordsEntry {
        partition_key: record.partition_key.as_str().to_owned(),
        data: record.data.clone(),
        explicit_hash_key: record.explicit_hash_key.map(|key| key.to_string()),
    }
}

// -------------------------------------------------------------------------------------------
// Wire to client.
// -------------------------------------------------------------------------------------------

pub(crate) fn parse_shard_id(text: &str, field: &str) -> Result<ShardId, ClientError> {
    ShardId::parse_loose(text)
        .ok_or_else(|| ClientError::protocol(format!("{field} {text:?} is not a shard id")))
}

pub(crate) fn parse_sequence_number(text: &str, field: &str) -> Result<SequenceNumber, ClientError> {
    SequenceNumber::parse(text)
        .map_err(|_| ClientError::protocol(format!("{field} {text:?} is not a Strait sequence number")))
}

fn parse_hash_key_range(
    range: Option<&proto::HashKeyRange>,
    field: &str,
) -> Result<HashKeyRange, ClientError> {
    let range = range.ok_or_else(|| ClientError::protocol(format!("{field} is missing")))?;
    let parse = |text: &str| {
        HashKey::parse_decimal(text)
            .map_err(|_| ClientError::protocol(format!("{field} bound {text:?} is not a hash key")))
    };
    let start = parse(&range.starting_hash_key)?;
    let end = parse(&range.ending_hash_key)?;
    HashKeyRange::new(start, end)
        .ok_or_else(|| ClientError::protocol(format!("{field} starts after it ends")))
}

pub(crate) fn put_result_from_proto(shard_id: &str, sequence_number: &str) -> Result<PutResult, ClientError> {
    Ok(PutResult {
        shard_id: parse_shard_id(shard_id, "ShardId")?,
        sequence_number: parse_sequence_number(sequence_number, "SequenceNumber")?,
    })
}

pub(crate) fn put_records_from_proto(
    response: proto::PutRecordsResponse,
    sent: usize,
) -> Result<Vec<RecordOutcome>, ClientError> {
    if response.records.len() != sent {
        return Err(ClientError::protocol(format!(
            "PutRecords answered {} results for {sent} records",
            response.records.len()
        )));
    }
    response
        .records
        .into_iter()
        .map(|result| {
            if result.error_code.is_empty() {
                put_result_from_proto(&result.shard_id, &result.sequence_number).map(Ok)
            } else {
                Ok(Err(RecordFailure {
                    error_code: result.error_code,
                    message: result.error_message,
                }))
            }
        })
        .collect()
}

pub(crate) fn stored_record_from_proto(record: proto::Record) -> Result<StoredRecord, ClientError> {
    Ok(StoredRecord {
        sequence_number: parse_sequence_number(&record.sequence_number, "SequenceNumber")?,
        partition_key: record.partition_key,
        data: record.data,
        arrival_ms: record.approximate_arrival_timestamp_ms,
    })
}

fn stored_records_from_proto(records: Vec<proto::Record>) -> Result<Vec<StoredRecord>, ClientError> {
    records.into_iter().map(stored_record_from_proto).collect()
}

fn child_shards_from_proto(children: Vec<proto::ChildShard>) -> Result<Vec<ChildShard>, ClientError> {
    children
        .into_iter()
        .map(|child| {
            Ok(ChildShard {
                shard_id: parse_shard_id(&child.shard_id, "ChildShards.ShardId")?,
                parent_shards: child
                    .parent_shards
                    .iter()
                    .map(|parent| parse_shard_id(parent, "ChildShards.ParentShards"))
                    .collect::<Result<_, _>>()?,
                hash_key_range: parse_hash_key_range(
                    child.hash_key_range.as_ref(),
                    "ChildShards.HashKeyRange",
                )?,
            })
        })
        .collect()
}

pub(crate) fn get_records_from_proto(
    response: proto::GetRecordsResponse,
) -> Result<GetRecordsOutput, ClientError> {
    Ok(GetRecordsOutput {
        records: stored_records_from_proto(response.records)?,
        next_shard_iterator: response
            .next_shard_iterator
            .filter(|iterator| !iterator.is_empty()),
        millis_behind_latest: response.millis_behind_latest,
        child_shards: child_shards_from_proto(response.child_shards)?,
    })
}

pub(crate) fn subscribe_event_from_proto(
    event: proto::SubscribeEvent,
) -> Result<SubscribeEvent, ClientError> {
    let continuation_sequence_number = if event.continuation_sequence_number.is_empty() {
        None
    } else {
        Some(parse_sequence_number(
            &event.continuation_sequence_number,
            "ContinuationSequenceNumber",
        )?)
    };
    Ok(SubscribeEvent {
        records: stored_records_from_proto(event.records)?,
        continuation_sequence_number,
        millis_behind_latest: event.millis_behind_latest,
        child_shards: child_shards_from_proto(event.child_shards)?,
    })
}

pub(crate) fn shard_from_proto(shard: proto::Shard) -> Result<ShardDescription, ClientError> {
    let optional_shard = |text: Option<&String>, field: &str| {
        text.filter(|text| !text.is_empty())
            .map(|text| parse_shard_id(text, field))
            .transpose()
    };
    Ok(ShardDescription {
        shard_id: parse_shard_id(&shard.shard_id, "ShardId")?,
        parent_shard_id: optional_shard(shard.parent_shard_id.as_ref(), "ParentShardId")?,
        adjacent_parent_shard_id: optional_shard(
            shard.adjacent_parent_shard_id.as_ref(),
            "AdjacentParentShardId",
        )?,
        hash_key_range: parse_hash_key_range(shard.hash_key_range.as_ref(), "HashKeyRange")?,
        starting_sequence_number: parse_sequence_number(
            &shard.starting_sequence_number,
            "StartingSequenceNumber",
        )?,
        ending_sequence_number: shard
            .ending_sequence_number
            .filter(|text| !text.is_empty())
            .map(|text| parse_sequence_number(&text, "EndingSequenceNumber"))
            .transpose()?,
        replicas: shard.replicas,
        leader: shard.leader,
    })
}

pub(crate) fn stream_from_proto(
    stream: Option<proto::StreamDescription>,
) -> Result<StreamDescription, ClientError> {
    let stream = stream.ok_or_else(|| ClientError::protocol("StreamDescription is missing"))?;
    let status = StreamStatus::parse(&stream.status).ok_or_else(|| {
        ClientError::protocol(format!("StreamStatus {:?} is not a stream status", stream.status))
    })?;
    let mode = StreamMode::parse(&stream.mode)
        .ok_or_else(|| ClientError::protocol(format!("StreamMode {:?} is not a stream mode", stream.mode)))?;
    Ok(StreamDescription {
        name: stream.name,
        arn: stream.arn,
        incarnation: stream.incarnation,
        status,
        mode,
        retention_hours: stream.retention_hours,
        created_at_ms: stream.created_at_ms,
        shards: stream
            .shards
            .into_iter()
            .map(shard_from_proto)
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::{RecordPosition, StreamIncarnation};

    fn sequence(shard: u32, index: u64) -> SequenceNumber {
        SequenceNumber::new(
            StreamIncarnation::MIN,
            ShardId(shard),
            RecordPosition::new(index, 0),
        )
        .expect("offset in range")
    }

    #[test]
    fn parses_a_closed_merged_shard() {
        let shard = proto::Shard {
            shard_id: "shardId-000000000003".into(),
            parent_shard_id: Some("shardId-000000000001".into()),
            adjacent_parent_shard_id: Some("shardId-000000000002".into()),
            hash_key_range: Some(proto::HashKeyRange {
                starting_hash_key: "0".into(),
                ending_hash_key: HashKey::MAX.to_string(),
            }),
            starting_sequence_number: SequenceNumber::starting(StreamIncarnation::MIN, ShardId(3))
                .to_string(),
            ending_sequence_number: Some(sequence(3, 9).to_string()),
            replicas: vec![1, 2, 3],
            leader: Some(2),
        };
        let parsed = shard_from_proto(shard).expect("well-formed");
        assert_eq!(parsed.shard_id, ShardId(3));
        assert_eq!(parsed.parents(), vec![ShardId(1), ShardId(2)]);
        assert!(parsed.is_closed());
        assert_eq!(parsed.hash_key_range, HashKeyRange::FULL);
    }

    #[test]
    fn empty_optional_strings_mean_absent() {
        let shard = proto::Shard {
            shard_id: "shardId-000000000000".into(),
            parent_shard_id: Some(String::new()),
            adjacent_parent_shard_id: None,
            hash_key_range: Some(proto::HashKeyRange {
                starting_hash_key: "0".into(),
                ending_hash_key: "10".into(),
            }),
            starting_sequence_number: sequence(0, 0).to_string(),
            ending_sequence_number: Some(String::new()),
            replicas: vec![],
            leader: None,
        };
        let parsed = shard_from_proto(shard).expect("well-formed");
        assert!(parsed.parents().is_empty());
        assert!(!parsed.is_closed());
    }

    #[test]
    fn a_short_put_records_answer_is_a_protocol_error() {
        let response = proto::PutRecordsResponse {
            failed_record_count: 0,
            records: vec![],
        };
        let error = put_records_from_proto(response, 2).expect_err("one result per record");
        assert!(matches!(error, ClientError::Protocol { .. }));
    }

    #[test]
    fn per_record_failures_are_kept_in_order() {
        let ok = proto::PutRecordsResult {
            shard_id: "shardId-000000000000".into(),
            sequence_number: sequence(0, 5).to_string(),
            ..Default::default()
        };
        let failed = proto::PutRecordsResult {
            error_code: "ProvisionedThroughputExceededException".into(),
            error_message: "Rate exceeded".into(),
            ..Default::default()
        };
        let response = proto::PutRecordsResponse {
            failed_record_count: 1,
            records: vec![failed, ok],
        };
        let outcomes = put_records_from_proto(response, 2).expect("well-formed");
        assert_eq!(
            outcomes[0].as_ref().expect_err("failed").error_code,
            "ProvisionedThroughputExceededException"
        );
        assert_eq!(
            outcomes[1].as_ref().expect("stored").sequence_number,
            sequence(0, 5)
        );
    }
}
