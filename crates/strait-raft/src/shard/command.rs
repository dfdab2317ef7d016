//! The entries of a shard's log and their replies.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use strait_core::RecordPosition;

/// What a shard's log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardCommand {
    /// Records from one or more producers, committed together as one entry (group
    /// commit). Record `i` of the entry, counting across producers, is at offset `i`.
    /// Shared, so that an entry held in the log cache and handed to replication and
    /// apply is not copied record by record.
    Append(Arc<AppendBatch>),
    /// Closes the shard: no later `Append` is accepted and its last position is fixed.
    Seal,
    /// Expires every record that arrived before `before_ms` (the stream's retention
    /// horizon as the leader saw it). Replicas apply the same cut, so every replica stops
    /// serving the same records; each deletes them from disk once its Raft log no longer
    /// needs the entries.
    Trim { before_ms: u64 },
}

impl ShardCommand {
    /// An `Append` of `batch`.
    pub fn append(batch: AppendBatch) -> Self {
        ShardCommand::Append(Arc::new(batch))
    }
}

impl std::fmt::Display for ShardCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardCommand::Append(batch) => write!(
                f,
                "append({} producers, {} records)",
                batch.producers.len(),
                batch.record_count()
            ),
            ShardCommand::Seal => f.write_str("seal"),
            ShardCommand::Trim { before_ms } => write!(f, "trim(before {before_ms} ms)"),
        }
    }
}

/// Records committed in one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendBatch {
    /// The leader's clock when it proposed the entry (ms since the Unix epoch). Replicas
    /// apply `max(arrival_ms, previous arrival)` so arrival times never go backwards.
    pub arrival_ms: u64,
    pub producers: Vec<ProducerBatch>,
    /// CRC32C of the records (see [`AppendBatch::compute_checksum`]), set by the leader
    /// when it proposes the entry and verified by every replica before applying it, so a
    /// batch damaged between the leader's memory and a replica's disk is never stored as
    /// good data. (Stored entries carry a checksum of their own as well.)
    pub checksum: u32,
}

impl AppendBatch {
    /// A batch of `producers` stamped with `arrival_ms` and its checksum.
    pub fn new(arrival_ms: u64, producers: Vec<ProducerBatch>) -> Self {
        let mut batch = Self {
            arrival_ms,
            producers,
            checksum: 0,
        };
        batch.checksum = batch.compute_checksum();
        batch
    }

    pub fn record_count(&self) -> usize {
        self.producers.iter().map(|p| p.records.len()).sum()
    }

    /// CRC32C over every record's partition key and data, with their lengths, in order.
    pub fn compute_checksum(&self) -> u32 {
        let mut crc = 0;
        for record in self.producers.iter().flat_map(|p| &p.records) {
            for part in [record.partition_key.as_bytes(), record.data.as_ref()] {
                crc = crc32c::crc32c_append(crc, &(part.len() as u32).to_be_bytes());
                crc = crc32c::crc32c_append(crc, part);
            }
        }
        crc
    }
}

/// One producer's records inside an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerBatch {
    /// With `sequence`, identifies the batch across retries: a batch whose
    /// `(producer, sequence)` the shard already committed is not stored again.
    pub producer: u64,
    pub sequence: u64,
    pub records: Vec<ShardRecord>,
}

/// A record as a shard stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub partition_key: String,
    /// A slice of the stored entry or the received message when decoded from one.
    #[serde(deserialize_with = "crate::codec::shared_bytes")]
    pub data: Bytes,
}

/// What applying an entry answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardReply {
    /// One outcome per producer batch of an `Append`, in order.
    Appended(Vec<BatchOutcome>),
    /// The shard is sealed; its last record is before `next_index`.
    Sealed { next_index: u64 },
    /// Records before this position are expired.
    Trimmed { first_retained: RecordPosition },
    /// Blank and membership entries answer nothing.
    None,
}

/// Where a producer batch ended up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchOutcome {
    /// Record `i` of the batch is at `(index, first_offset + i)`. For a retried batch
    /// this is where the first attempt was committed.
    Committed { index: u64, first_offset: u32 },
    /// The shard was sealed before this batch; nothing was stored.
    ShardSealed,
}
