//! Records as producers send them and as consumers read them back, and the limits on both.
//!
//! A producer's [`Record`] carries a partition key, an optional explicit hash key and an
//! opaque blob of data. The hash key decides the shard (see [`crate::hash_key`]); the data is
//! never interpreted (KPL-aggregated records, for instance, pass through untouched).
//!
//! Once committed, the record becomes a [`StoredRecord`]: it gains a sequence number and an
//! arrival time and loses the explicit hash key, which Kinesis does not return to consumers.
//! The partition key is kept as a plain string at that point, since it was validated on the
//! way in and is only ever read back.
//!
//! The size of a record, for every limit that Kinesis applies, is its data length plus the
//! UTF-8 length of its partition key.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{StraitError, StraitResult, Violation};
use crate::hash_key::HashKey;
use crate::partition_key::PartitionKey;
use crate::sequence::SequenceNumber;

/// The default largest record, in bytes of data plus partition key: 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The most records one PutRecords request may carry.
pub const MAX_PUT_RECORDS_ENTRIES: usize = 500;

/// The largest total size of one PutRecords request, summed over its records: 5 MiB.
pub const MAX_PUT_RECORDS_BYTES: usize = 5 << 20;

/// The largest total size of one PutRecords request to a stream that accepts records over
/// 1 MiB: 10 MiB.
pub const MAX_PUT_RECORDS_BYTES_LARGE: usize = 10 << 20;

/// The largest record data the Kinesis model allows, whatever the stream's limit: 10 MiB.
pub const MODEL_MAX_DATA_BYTES: usize = 10 << 20;

/// A record as a producer sends it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Record {
    /// The partition key; its MD5 digest routes the record unless an explicit hash key is
    /// given.
    pub partition_key: PartitionKey,
    /// A hash key that overrides the partition key's for routing. The partition key is still
    /// stored and returned.
    pub explicit_hash_key: Option<HashKey>,
    /// The record's payload, opaque to Strait.
    pub data: Bytes,
}

impl Record {
    /// Builds a record routed by its partition key.
    pub fn new(partition_key: PartitionKey, data: impl Into<Bytes>) -> Record {
        Record {
            partition_key,
            explicit_hash_key: None,
            data: data.into(),
        }
    }

    /// Returns the record with an explicit hash key that overrides its partition key's.
    pub fn with_explicit_hash_key(mut self, hash_key: HashKey) -> Record {
        self.explicit_hash_key = Some(hash_key);
        self
    }

    /// Returns the hash key that routes the record: the explicit one if given, else the MD5
    /// of the partition key.
    pub fn hash_key(&self) -> HashKey {
        self.explicit_hash_key
            .unwrap_or_else(|| self.partition_key.hash_key())
    }

    /// Returns the record's size as Kinesis counts it: data length plus the partition key's
    /// UTF-8 length.
    pub fn size_bytes(&self) -> usize {
        self.data.len() + self.partition_key.utf8_len()
    }

    /// Checks the record against a per-record size limit, reporting a violation at `field`
    /// (`data` in PutRecord, `records.<n>.member.data` in PutRecords).
    pub fn check_size(&self, max_bytes: usize, field: &str) -> StraitResult<()> {
        if self.size_bytes() > max_bytes {
            Err(StraitError::record_too_large(self.data.len(), max_bytes, field))
        } else {
            Ok(())
        }
    }
}

/// Checks the limits on a whole PutRecords request: 1 to [`MAX_PUT_RECORDS_ENTRIES`] records
/// of at most `max_record_bytes` each, together at most `max_request_bytes`.
///
/// All per-record problems (the count and each oversized record, up to the ValidationException
/// cap) are reported together, as AWS does; the total size is checked only once those pass.
pub fn check_put_records(
    records: &[Record],
    max_record_bytes: usize,
    max_request_bytes: usize,
) -> StraitResult<()> {
    let mut violations = Vec::new();
    if records.is_empty() {
        violations.push(Violation::min_length("[]", "records", 1));
    }
    if records.len() > MAX_PUT_RECORDS_ENTRIES {
        violations.push(Violation::max_length(
            format!("[{} records]", records.len()),
            "records",
            MAX_PUT_RECORDS_ENTRIES,
        ));
    }
    for (i, record) in records.iter().enumerate() {
        if record.size_bytes() > max_record_bytes {
            violations.push(Violation::data_too_long(
                record.data.len(),
                format!("records.{}.member.data", i + 1),
                max_record_bytes,
            ));
        }
    }
    if !violations.is_empty() {
        return Err(StraitError::validation(violations));
    }
    let total: usize = records.iter().map(Record::size_bytes).sum();
    if total > max_request_bytes {
        return Err(StraitError::put_records_too_large(max_request_bytes));
    }
    Ok(())
}

/// A committed record as a consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The record's sequence number, unique in the stream and increasing within the shard.
    pub sequence_number: SequenceNumber,
    /// The partition key the producer gave.
    pub partition_key: String,
    /// The payload, byte for byte as the producer sent it.
    pub data: Bytes,
    /// When the record was durably accepted, in milliseconds since the Unix epoch (Kinesis's
    /// ApproximateArrivalTimestamp). Non-decreasing within a shard.
    pub arrival_ms: u64,
}

impl StoredRecord {
    /// Returns the record's size as Kinesis counts it: data length plus the partition key's
    /// UTF-8 length.
    pub fn size_bytes(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sequence::RecordPosition;
    use crate::shard::ShardId;
    use crate::stream::StreamIncarnation;
    use proptest::prelude::*;

    fn key(text: &str) -> PartitionKey {
        PartitionKey::new(text).expect("valid key")
    }

    #[test]
    fn explicit_hash_key_overrides_the_partition_key() {
        let record = Record::new(key("a"), &b"x"[..]);
        assert_eq!(record.hash_key(), HashKey(16955237001963240173058271559858726497));
        let record = record.with_explicit_hash_key(HashKey::MAX);
        assert_eq!(record.hash_key(), HashKey::MAX);
        assert_eq!(record.partition_key.as_str(), "a");
    }

    #[test]
    fn size_counts_data_and_utf8_key_bytes() {
        let record = Record::new(key("é"), vec![0u8; 10]);
        assert_eq!(record.size_bytes(), 12);
    }

    #[test]
    fn record_size_limit_is_inclusive() {
        let exact = Record::new(key("key"), vec![0u8; MAX_RECORD_BYTES - 3]);
        assert_eq!(exact.check_size(MAX_RECORD_BYTES, "data"), Ok(()));
        let over = Record::new(key("key"), vec![0u8; MAX_RECORD_BYTES - 2]);
        let err = over
            .check_size(MAX_RECORD_BYTES, "data")
            .expect_err("one byte over");
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048574 \
             cap=1048574]' at 'data' failed to satisfy constraint: Member must have length less \
             than or equal to 1048576"
        );
    }

    #[test]
    fn put_records_limits() {
        let small = Record::new(key("k"), vec![0u8; 1]);
        assert_eq!(
            check_put_records(
                std::slice::from_ref(&small),
                MAX_RECORD_BYTES,
                MAX_PUT_RECORDS_BYTES
            ),
            Ok(())
        );
        let err = check_put_records(&[], MAX_RECORD_BYTES, MAX_PUT_RECORDS_BYTES).expect_err("empty");
        assert!(err.message().contains("at 'records'"));
        let too_many = vec![small; MAX_PUT_RECORDS_ENTRIES + 1];
        let err =
            check_put_records(&too_many, MAX_RECORD_BYTES, MAX_PUT_RECORDS_BYTES).expect_err("501 entries");
        assert!(err.message().contains(
            "at 'records' failed to satisfy constraint: Member must have length less than or \
             equal to 500"
        ));
        // Five records of exactly 1 MiB fit; one more byte does not.
        let full = Record::new(key("key"), vec![0u8; MAX_RECORD_BYTES - 3]);
        let mut five = vec![full; 5];
        assert_eq!(
            check_put_records(&five, MAX_RECORD_BYTES, MAX_PUT_RECORDS_BYTES),
            Ok(())
        );
        five.push(Record::new(key("k"), Bytes::new()));
        let err = check_put_records(&five, MAX_RECORD_BYTES, MAX_PUT_RECORDS_BYTES).expect_err("over 5 MiB");
        assert_eq!(err.kinesis_type(), "InvalidArgumentException");
        assert_eq!(err.message(), "Records size exceeds 5 MB limit");
        // Oversized entries are reported by their 1-based index.
        let records = vec![
            Record::new(key("k"), vec![0u8; 1]),
            Record::new(key("k"), vec![0u8; MAX_RECORD_BYTES]),
        ];
        let err = check_put_records(&records, MAX_RECORD_BYTES, MAX_PUT_RECORDS_BYTES)
            .expect_err("second record too large");
        assert!(err.message().contains("'records.2.member.data'"));
    }

    #[test]
    fn records_round_trip_through_serde() {
        let record = Record::new(key("k"), &b"payload"[..]).with_explicit_hash_key(HashKey(5));
        let bytes = postcard::to_allocvec(&record).expect("serializes");
        assert_eq!(postcard::from_bytes::<Record>(&bytes).expect("parses"), record);
        let stored = StoredRecord {
            sequence_number: SequenceNumber::new(
                StreamIncarnation::new(1).expect("in range"),
                ShardId(0),
                RecordPosition::new(1, 0),
            )
            .expect("valid"),
            partition_key: "k".to_owned(),
            data: Bytes::from_static(b"payload"),
            arrival_ms: 1_700_000_000_000,
        };
        assert_eq!(stored.size_bytes(), 8);
        let json = serde_json::to_string(&stored).expect("serializes");
        assert_eq!(
            serde_json::from_str::<StoredRecord>(&json).expect("parses"),
            stored
        );
    }

    proptest! {
        #[test]
        fn size_is_data_plus_key_bytes(text in "\\PC{1,256}", len in 0usize..4096) {
            let record = Record::new(key(&text), vec![7u8; len]);
            prop_assert_eq!(record.size_bytes(), len + text.len());
        }
    }
}
