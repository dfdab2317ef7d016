//! Reading a shard's records back out of its applied entries.
//!
//! Records are read only up to the applied index (every replica agrees on those), and
//! before the seal. Each entry's checksum is verified when it is read; a mismatch is an
//! error, never served data.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use openraft::EntryPayload;
use openraft::alias::EntryOf;
use strait_core::RecordPosition;
use strait_storage::KvEngine;
use strait_storage::keys::{self, Family};
use tokio::sync::watch;

use super::ShardRaftConfig;
use super::command::ShardCommand;
use super::state_machine::{EntryMeta, ShardTip};
use crate::codec;
use crate::group::GroupId;

/// A record read from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub position: RecordPosition,
    pub partition_key: String,
    pub data: Bytes,
    pub arrival_ms: u64,
}

/// What a replica of a sealed shard knows of one producer batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedLookup {
    /// The shard committed it here.
    Committed(super::state_machine::CommittedBatch),
    /// The shard never committed it (this replica has applied the seal).
    Absent,
    /// This replica has not applied the shard's seal yet, so it cannot tell.
    NotSealedHere,
}

/// Reads one shard's records on this replica.
#[derive(Clone)]
pub struct ShardReader {
    engine: Arc<dyn KvEngine>,
    group: GroupId,
    tip: watch::Receiver<ShardTip>,
}

impl ShardReader {
    pub fn new(engine: Arc<dyn KvEngine>, group: GroupId, tip: watch::Receiver<ShardTip>) -> Self {
        Self { engine, group, tip }
    }

    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The shard's tip as this replica last applied it.
    pub fn tip(&self) -> ShardTip {
        *self.tip.borrow()
    }

    /// A receiver that changes whenever the replica applies entries.
    pub fn watch_tip(&self) -> watch::Receiver<ShardTip> {
        self.tip.clone()
    }

    /// Where this sealed shard committed a producer's batch, if it did (within the dedup
    /// window). Only a replica that has applied the seal knows every batch the shard will
    /// ever hold, so one that has not answers [`SealedLookup::NotSealedHere`] rather than
    /// "absent": a lagging follower must not let a retry be committed a second time in a
    /// child.
    pub fn committed_batch(&self, producer: u64, sequence: u64) -> io::Result<SealedLookup> {
        // The tip first: once it shows the seal, every entry before it is applied.
        let sealed = self.tip().sealed_at.is_some();
        let found =
            super::state_machine::committed_batch(self.engine.as_ref(), self.group, producer, sequence)?;
        Ok(match found {
            Some(batch) => SealedLookup::Committed(batch),
            None if sealed => SealedLookup::Absent,
            None => SealedLookup::NotSealedHere,
        })
    }

    /// The oldest position not expired by a trim.
    pub fn trim_horizon(&self) -> RecordPosition {
        self.tip().first_retained
    }

    /// Reads up to `limit` records at or after `from`, stopping once `max_bytes` of data
    /// were collected (at least one record is returned when one exists).
    pub fn read(&self, from: RecordPosition, limit: usize, max_bytes: usize) -> io::Result<Vec<ReadRecord>> {
        let tip = self.tip();
        let mut last_index = tip.applied_index;
        if let Some(seal) = tip.sealed_at {
            last_index = last_index.min(seal.saturating_sub(1));
        }
        let from = from.max(tip.first_retained);
        let mut out = Vec::new();
        if limit == 0 || from.index > last_index {
            return Ok(out);
        }
        let group = self.group.0;
        let start = keys::log(group, from.index);
        let end = keys::log(group, last_index.saturating_add(1));
        let metas = self.entry_metas(from.index, last_index)?;
        let mut bytes = 0usize;
        for pair in self.engine.scan(&start, &end) {
            if out.len() >= limit || (bytes >= max_bytes && !out.is_empty()) {
                break;
            }
            let (key, value) = pair?;
            let index = keys::log_index(&key).ok_or_else(|| io::Error::other("malformed log key"))?;
            let entry: EntryOf<ShardRaftConfig> = codec::decode_stored(&value).map_err(|e| {
                tracing::error!(group, index, error = %e, "stored shard entry failed verification");
                e
            })?;
            let EntryPayload::Normal(ShardCommand::Append(batch)) = entry.payload else {
                continue;
            };
            let meta = metas.iter().find(|(i, _)| *i == index).map(|(_, m)| m);
            let arrival_ms = meta.and_then(|m| m.arrival_ms).unwrap_or(batch.arrival_ms);
            let mut offset = 0u32;
            // Decoded just now, so the batch is not shared and unwrapping copies nothing.
            for producer in std::sync::Arc::unwrap_or_clone(batch).producers {
                for record in producer.records {
                    let position = RecordPosition { index, offset };
                    offset += 1;
                    if position < from || meta.is_some_and(|m| m.is_hidden(position.offset)) {
                        continue;
                    }
                    if out.len() >= limit || (bytes >= max_bytes && !out.is_empty()) {
                        return Ok(out);
                    }
                    bytes += record.data.len() + record.partition_key.len();
                    out.push(ReadRecord {
                        position,
                        partition_key: record.partition_key,
                        data: record.data,
                        arrival_ms,
                    });
                }
            }
        }
        Ok(out)
    }

    fn entry_metas(&self, from: u64, to: u64) -> io::Result<Vec<(u64, EntryMeta)>> {
        let start = keys::entry_meta(self.group.0, from);
        let end = keys::entry_meta(self.group.0, to.saturating_add(1));
        let mut out = Vec::new();
        for pair in self.engine.scan(&start, &end) {
            let (k, v) = pair?;
            if let Some(index) = keys::entry_meta_index(&k) {
                out.push((index, codec::decode_stored(&v)?));
            }
        }
        Ok(out)
    }

    /// The position of the first record that arrived at or after `timestamp_ms`, or the
    /// tip when none has.
    pub fn find_timestamp(&self, timestamp_ms: u64) -> io::Result<RecordPosition> {
        let group = self.group.0;
        let start = keys::arrival(group, timestamp_ms, 0);
        let (_, end) = keys::group_range(Family::Arrival, group);
        let tip = self.tip();
        // The first arrival key at or after the time names the entry to start at.
        if let Some(pair) = self.engine.scan(&start, &end).next() {
            let (k, _) = pair?;
            if let Some((_, index)) = keys::arrival_parts(&k)
                && index <= tip.applied_index
            {
                return Ok(RecordPosition { index, offset: 0 });
            }
        }
        Ok(tip.next_position())
    }
}
