//! The shard state machine.
//!
//! A shard's records are the `Append` entries of its log, stored once by the log store.
//! Applying an entry therefore writes only small facts about it:
//! - the shard's meta (`[RaftState][group][Applied]`): last applied log id, membership,
//!   last arrival time, last record position, seal;
//! - an arrival-index key when the entry starts a new millisecond, for AT_TIMESTAMP;
//! - where each producer batch landed, so a retried batch is answered with its first
//!   position instead of being stored twice;
//! - rarely, an entry-meta key: records hidden as retries, or an arrival time adjusted so
//!   arrival times never go backwards within a shard.
//!
//! Applying is deterministic: every replica computes the same facts from the same entries,
//! and re-applying after a crash (the facts are written without a flush; the entries
//! themselves are durable) writes the same keys again.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, SnapshotMeta, StoredMembership};
use serde::{Deserialize, Serialize};
use strait_core::RecordPosition;
use strait_storage::keys::{self, Family, SnapshotSlot, StateKey};
use strait_storage::{Flusher, KvEngine, WriteBatch};
use tokio::sync::watch;

use super::ShardRaftConfig;
use super::command::{BatchOutcome, ShardCommand, ShardReply};
use crate::codec;
use crate::group::GroupId;
use crate::log_store::AppliedFloor;
use crate::snapshot::{Frame, FrameSource, SnapshotData, clear_slot};

/// How long a committed producer batch is remembered for deduplication, in arrival time.
/// A forwarding node retries a batch for much less than this.
pub const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

type LogId = LogIdOf<ShardRaftConfig>;

/// The persisted facts of an applied shard.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ShardMeta {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembershipOf<ShardRaftConfig>,
    /// Arrival time of the last stored record.
    pub last_arrival_ms: u64,
    /// The last arrival time written to the arrival index.
    pub last_indexed_arrival_ms: u64,
    /// Position of the last stored record.
    pub last_record: Option<RecordPosition>,
    /// Log index of the seal entry once the shard is closed.
    pub sealed_at: Option<u64>,
    /// Records before this position have expired (retention).
    #[serde(default)]
    pub first_retained: RecordPosition,
    /// The arrival-time cut of the last trim.
    #[serde(default)]
    pub trimmed_before_ms: u64,
}

/// Facts about one entry that differ from its payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// The arrival time replicas applied, when it differs from the payload's.
    pub arrival_ms: Option<u64>,
    /// `(first_offset, count)` ranges of records that retried an earlier batch.
    pub hidden: Vec<(u32, u32)>,
}

impl EntryMeta {
    pub fn is_hidden(&self, offset: u32) -> bool {
        self.hidden
            .iter()
            .any(|&(first, count)| offset >= first && offset < first + count)
    }
}

/// Where a producer batch was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct ProducerEntry {
    index: u64,
    first_offset: u32,
    arrival_ms: u64,
    /// How many records the batch had.
    count: u32,
}

/// Where a producer's batch was committed in a shard, as its dedup table remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedBatch {
    pub index: u64,
    pub first_offset: u32,
    pub count: u32,
}

/// Looks `(producer, sequence)` up in a shard's stored dedup table. A sealed shard's table
/// is final, so a retry that now routes to a child can learn that its batch was already
/// committed in the parent.
pub fn committed_batch(
    engine: &dyn KvEngine,
    group: GroupId,
    producer: u64,
    sequence: u64,
) -> io::Result<Option<CommittedBatch>> {
    match engine.get(&keys::producer(group.0, producer, sequence))? {
        Some(v) => {
            let entry: ProducerEntry = codec::decode_stored(&v)?;
            Ok(Some(CommittedBatch {
                index: entry.index,
                first_offset: entry.first_offset,
                count: entry.count,
            }))
        }
        None => Ok(None),
    }
}

/// The live end of a shard, as its state machine last applied it. Readers use it to bound
/// reads to applied entries and to wait for new records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardTip {
    pub applied_index: u64,
    pub last_record: Option<RecordPosition>,
    pub last_arrival_ms: u64,
    pub sealed_at: Option<u64>,
    /// The first position not expired by retention.
    pub first_retained: RecordPosition,
}

impl ShardTip {
    /// The position just after everything applied: where a LATEST iterator starts.
    pub fn next_position(&self) -> RecordPosition {
        match self.sealed_at {
            Some(seal) => RecordPosition {
                index: seal,
                offset: 0,
            },
            None => RecordPosition {
                index: self.applied_index + 1,
                offset: 0,
            },
        }
    }
}

/// The state machine of one shard group.
pub struct ShardStateMachine {
    engine: Arc<dyn KvEngine>,
    /// Makes an installed snapshot durable before openraft acknowledges it.
    flusher: Flusher,
    group: GroupId,
    floor: Arc<AppliedFloor>,
    meta: ShardMeta,
    producers: BTreeMap<(u64, u64), ProducerEntry>,
    /// `(arrival_ms, producer, sequence)`, oldest first, to expire `producers`.
    producer_expiry: BTreeMap<(u64, u64, u64), ()>,
    tip: watch::Sender<ShardTip>,
    /// Whether a snapshot was built or installed since start-up; until then, and while
    /// nothing is applied, there is no current snapshot.
    snapshot_taken: bool,
}

impl ShardStateMachine {
    /// Opens the state machine of `group`, loading what the engine holds.
    pub fn open(
        engine: Arc<dyn KvEngine>,
        flusher: Flusher,
        group: GroupId,
        floor: Arc<AppliedFloor>,
    ) -> io::Result<Self> {
        let meta: ShardMeta = match engine.get(&keys::state(group.0, StateKey::Applied))? {
            Some(v) => codec::decode_stored(&v)?,
            None => ShardMeta::default(),
        };
        let mut sm = Self {
            engine,
            flusher,
            group,
            floor,
            meta,
            producers: BTreeMap::new(),
            producer_expiry: BTreeMap::new(),
            tip: watch::channel(ShardTip::default()).0,
            snapshot_taken: false,
        };
        sm.load_producers()?;
        sm.publish();
        Ok(sm)
    }

    /// A receiver of the shard's tip, updated after every applied batch of entries.
    pub fn subscribe_tip(&self) -> watch::Receiver<ShardTip> {
        self.tip.subscribe()
    }

    /// The sender side, so a registry can hand out receivers after the state machine
    /// moved into openraft.
    pub fn tip_sender(&self) -> watch::Sender<ShardTip> {
        self.tip.clone()
    }

    fn load_producers(&mut self) -> io::Result<()> {
        self.producers.clear();
        self.producer_expiry.clear();
        let (start, end) = keys::group_range(Family::Producer, self.group.0);
        for pair in self.engine.scan(&start, &end) {
            let (k, v) = pair?;
            let Some((producer, sequence)) = keys::producer_parts(&k) else {
                continue;
            };
            let entry: ProducerEntry = codec::decode_stored(&v)?;
            self.producers.insert((producer, sequence), entry);
            self.producer_expiry
                .insert((entry.arrival_ms, producer, sequence), ());
        }
        Ok(())
    }

    fn publish(&self) {
        let applied = self.meta.last_applied.as_ref().map(|id| id.index());
        self.floor.set(applied);
        let applied_index = applied.unwrap_or(0);
        self.tip.send_replace(ShardTip {
            applied_index,
            last_record: self.meta.last_record,
            last_arrival_ms: self.meta.last_arrival_ms,
            sealed_at: self.meta.sealed_at,
            first_retained: self.meta.first_retained,
        });
    }

    fn apply_command(
        &mut self,
        index: u64,
        command: &ShardCommand,
        batch: &mut WriteBatch,
    ) -> io::Result<ShardReply> {
        let append = match command {
            ShardCommand::Trim { before_ms } => {
                // The trim finds its cut in the engine's arrival index: write the facts
                // of the entries applied before it in this call first, or a record that
                // has just arrived looks as if nothing had arrived since the cut.
                self.engine.write(std::mem::take(batch))?;
                return self.trim(*before_ms, batch);
            }
            ShardCommand::Seal => {
                let seal = *self.meta.sealed_at.get_or_insert(index);
                return Ok(ShardReply::Sealed { next_index: seal });
            }
            // After the seal a batch is refused, unless it retries one committed before
            // the seal: its answer is where it was committed, so a retry that reaches a
            // sealed shard is never re-routed and stored a second time elsewhere.
            ShardCommand::Append(append) if self.meta.sealed_at.is_some() => {
                let outcomes = append
                    .producers
                    .iter()
                    .map(|p| {
                        match self
                            .producers
                            .get(&(p.producer, p.sequence))
                            .filter(|first| first.count as usize == p.records.len())
                        {
                            Some(first) => BatchOutcome::Committed {
                                index: first.index,
                                first_offset: first.first_offset,
                            },
                            None => BatchOutcome::ShardSealed,
                        }
                    })
                    .collect();
                return Ok(ShardReply::Appended(outcomes));
            }
            ShardCommand::Append(append) => append,
        };
        let computed = append.compute_checksum();
        if computed != append.checksum {
            tracing::error!(
                group = self.group.0,
                index,
                stored = append.checksum,
                computed,
                "record batch failed its checksum; stopping this replica of the group"
            );
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("record batch at index {index} failed its checksum"),
            ));
        }

        let arrival_ms = append.arrival_ms.max(self.meta.last_arrival_ms);
        let mut entry_meta = EntryMeta {
            arrival_ms: (arrival_ms != append.arrival_ms).then_some(arrival_ms),
            hidden: Vec::new(),
        };
        let mut outcomes = Vec::with_capacity(append.producers.len());
        let mut offset: u32 = 0;
        let mut last_visible = None;
        for producer in &append.producers {
            let count = producer.records.len() as u32;
            let key = (producer.producer, producer.sequence);
            // A batch with another record count is not a retry of the committed one (its
            // records were routed differently): answering the first positions would hand
            // out sequence numbers of other records.
            if let Some(first) = self.producers.get(&key).filter(|first| first.count == count) {
                outcomes.push(BatchOutcome::Committed {
                    index: first.index,
                    first_offset: first.first_offset,
                });
                if count > 0 {
                    entry_meta.hidden.push((offset, count));
                }
            } else {
                let entry = ProducerEntry {
                    index,
                    first_offset: offset,
                    arrival_ms,
                    count,
                };
                self.producers.insert(key, entry);
                self.producer_expiry.insert((arrival_ms, key.0, key.1), ());
                batch.put(
                    keys::producer(self.group.0, key.0, key.1),
                    codec::encode_stored(&entry)?,
                );
                outcomes.push(BatchOutcome::Committed {
                    index,
                    first_offset: offset,
                });
                if count > 0 {
                    last_visible = Some(RecordPosition {
                        index,
                        offset: offset + count - 1,
                    });
                }
            }
            offset += count;
        }

        if entry_meta != EntryMeta::default() {
            batch.put(
                keys::entry_meta(self.group.0, index),
                codec::encode_stored(&entry_meta)?,
            );
        }
        if let Some(last) = last_visible {
            if arrival_ms > self.meta.last_indexed_arrival_ms || self.meta.last_record.is_none() {
                batch.put(keys::arrival(self.group.0, arrival_ms, index), Vec::<u8>::new());
                self.meta.last_indexed_arrival_ms = arrival_ms;
            }
            self.meta.last_record = Some(last);
            self.meta.last_arrival_ms = arrival_ms;
        }
        self.expire_producers(arrival_ms, batch);
        Ok(ShardReply::Appended(outcomes))
    }

    /// Expires records that arrived before `before_ms`: the cut is the first entry whose
    /// arrival is at or after it (every replica finds the same one in its arrival index).
    /// Entries below the cut are deleted only where the Raft log has been purged past
    /// them, since Raft may still need to send unpurged entries to a lagging follower.
    fn trim(&mut self, before_ms: u64, batch: &mut WriteBatch) -> io::Result<ShardReply> {
        if before_ms <= self.meta.trimmed_before_ms {
            return Ok(ShardReply::Trimmed {
                first_retained: self.meta.first_retained,
            });
        }
        let group = self.group.0;
        let (_, arrival_end) = keys::group_range(Family::Arrival, group);
        let cut = match self
            .engine
            .scan(&keys::arrival(group, before_ms, 0), &arrival_end)
            .next()
        {
            Some(pair) => {
                let (k, _) = pair?;
                let (_, index) =
                    keys::arrival_parts(&k).ok_or_else(|| io::Error::other("malformed arrival key"))?;
                RecordPosition::new(index, 0)
            }
            // Nothing arrived at or after the cut: everything stored so far expires.
            None => match self.meta.last_record {
                Some(last) => RecordPosition::new(last.index + 1, 0),
                None => self.meta.first_retained,
            },
        };
        self.meta.first_retained = self.meta.first_retained.max(cut);
        self.meta.trimmed_before_ms = before_ms;

        let purged: Option<LogId> = match self.engine.get(&keys::state(group, StateKey::Purged))? {
            Some(v) => Some(codec::decode_stored(&v)?),
            None => None,
        };
        if let Some(purged) = purged {
            let delete_below = self.meta.first_retained.index.min(purged.index() + 1);
            let (log_start, _) = keys::group_range(Family::Log, group);
            for key in self.engine.scan_keys(&log_start, &keys::log(group, delete_below)) {
                batch.delete(key?);
            }
            let (meta_start, _) = keys::group_range(Family::EntryMeta, group);
            for pair in self
                .engine
                .scan(&meta_start, &keys::entry_meta(group, delete_below))
            {
                batch.delete(pair?.0);
            }
            let (arrival_start, _) = keys::group_range(Family::Arrival, group);
            for pair in self.engine.scan(&arrival_start, &arrival_end) {
                let (k, _) = pair?;
                match keys::arrival_parts(&k) {
                    Some((_, index)) if index < delete_below => batch.delete(k),
                    _ => break,
                }
            }
        }
        Ok(ShardReply::Trimmed {
            first_retained: self.meta.first_retained,
        })
    }

    fn expire_producers(&mut self, now_ms: u64, batch: &mut WriteBatch) {
        let horizon = now_ms.saturating_sub(DEDUP_WINDOW_MS);
        while let Some((&(arrival, producer, sequence), ())) = self.producer_expiry.first_key_value() {
            if arrival >= horizon {
                break;
            }
            self.producer_expiry.pop_first();
            self.producers.remove(&(producer, sequence));
            batch.delete(keys::producer(self.group.0, producer, sequence));
        }
    }

    /// A snapshot of everything applied so far. Building one costs nothing: it is a view.
    fn snapshot_view(&self) -> SnapshotOf<ShardRaftConfig, SnapshotData> {
        let last_log_id = self.meta.last_applied;
        let source = ShardSnapshotSource {
            engine: self.engine.clone(),
            group: self.group,
            meta: self.meta.clone(),
            producers: self.producers.iter().map(|(k, v)| (*k, *v)).collect(),
            upto_index: last_log_id.as_ref().map(|id| id.index()).unwrap_or(0),
        };
        SnapshotOf::<ShardRaftConfig, SnapshotData> {
            meta: SnapshotMeta {
                last_log_id,
                last_membership: self.meta.membership.clone(),
            },
            snapshot: SnapshotData::Local(Arc::new(source)),
        }
    }

    /// Replaces this shard's state with a received snapshot.
    fn install_frames(
        &mut self,
        meta: &SnapshotMetaOf<ShardRaftConfig>,
        data: &SnapshotData,
    ) -> io::Result<()> {
        let upto = meta.last_log_id.as_ref().map(|id| id.index()).unwrap_or(0);
        // The snapshot's keys overwrite this replica's in place, and the old keys it does
        // not have (trimmed or expired on the leader, or a divergent tail of this
        // replica's log) are deleted as the frames pass them: nothing is deleted up
        // front, so a crash in the middle never leaves the replica without entries it may
        // have acknowledged, nor without the facts derived from them. Facts are a
        // deterministic function of committed entries, so old and new ones agree.
        let group = self.group.0;
        let mut log = KeyReplacer::new(
            keys::group_range(Family::Log, group).0,
            keys::log(group, upto.saturating_add(1)),
        );
        let [mut entry_metas, mut arrivals, mut producers] =
            [Family::EntryMeta, Family::Arrival, Family::Producer].map(|family| {
                let (start, end) = keys::group_range(family, group);
                KeyReplacer::new(start, end)
            });
        let mut new_meta = None;
        let mut batch = WriteBatch::new();
        for frame in data.frames() {
            let frame = frame?;
            let engine = self.engine.as_ref();
            match frame.kind {
                FRAME_META => new_meta = Some(codec::decode::<ShardMeta>(&frame.value)?),
                FRAME_ENTRY => log.put(engine, &mut batch, keys::log(group, frame.key), frame.value)?,
                FRAME_ENTRY_META => entry_metas.put(
                    engine,
                    &mut batch,
                    keys::entry_meta(group, frame.key),
                    frame.value,
                )?,
                FRAME_ARRIVAL => {
                    let arrival_ms: u64 = codec::decode(&frame.value)?;
                    let key = keys::arrival(group, arrival_ms, frame.key);
                    arrivals.put(engine, &mut batch, key, Bytes::new())?;
                }
                FRAME_PRODUCER => {
                    let (producer, sequence, entry): (u64, u64, ProducerEntry) = codec::decode(&frame.value)?;
                    let key = keys::producer(group, producer, sequence);
                    producers.put(engine, &mut batch, key, codec::encode_stored(&entry)?)?;
                }
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unknown shard snapshot frame kind {other}"),
                    ));
                }
            }
            if batch.len() >= 256 {
                self.engine.write(std::mem::take(&mut batch))?;
            }
        }
        for replacer in [log, entry_metas, arrivals, producers] {
            replacer.finish(self.engine.as_ref(), &mut batch)?;
        }
        let mut new_meta = new_meta
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "shard snapshot without meta frame"))?;
        new_meta.last_applied = meta.last_log_id;
        new_meta.membership = meta.last_membership.clone();
        batch.put(
            keys::state(self.group.0, StateKey::Applied),
            codec::encode_stored(&new_meta)?,
        );
        self.engine.write(batch)?;
        clear_slot(self.engine.as_ref(), self.group, SnapshotSlot::Incoming)?;
        self.meta = new_meta;
        self.load_producers()?;
        Ok(())
    }
}

const FRAME_META: u8 = 0;
/// Replaces the keys of one range by a sorted stream of new ones, deleting each old key
/// the stream passes without writing it.
struct KeyReplacer {
    /// Old keys from here on have not been passed yet.
    next: Bytes,
    end: Bytes,
}

impl KeyReplacer {
    fn new(start: Bytes, end: Bytes) -> Self {
        Self { next: start, end }
    }

    /// Queues the deletion of the old keys between the previous key and `key`, then `key`.
    /// Snapshot frames come in key order; a key out of order deletes nothing.
    fn put(
        &mut self,
        engine: &dyn KvEngine,
        batch: &mut WriteBatch,
        key: Bytes,
        value: Bytes,
    ) -> io::Result<()> {
        if key >= self.next {
            for old in engine.scan_keys(&self.next, &key) {
                batch.delete(old?);
            }
            let mut after = key.to_vec();
            after.push(0);
            self.next = after.into();
        }
        batch.put(key, value);
        Ok(())
    }

    /// Queues the deletion of the old keys after the last one written.
    fn finish(self, engine: &dyn KvEngine, batch: &mut WriteBatch) -> io::Result<()> {
        for old in engine.scan_keys(&self.next, &self.end) {
            batch.delete(old?);
        }
        Ok(())
    }
}

const FRAME_ENTRY: u8 = 1;
const FRAME_ENTRY_META: u8 = 2;
const FRAME_ARRIVAL: u8 = 3;
const FRAME_PRODUCER: u8 = 4;

/// A consistent view of a shard at one applied index. Entries at or below it never
/// change, so the view reads them lazily from the engine while it is sent.
struct ShardSnapshotSource {
    engine: Arc<dyn KvEngine>,
    group: GroupId,
    meta: ShardMeta,
    producers: Vec<((u64, u64), ProducerEntry)>,
    upto_index: u64,
}

impl FrameSource for ShardSnapshotSource {
    fn frames(&self) -> Box<dyn Iterator<Item = io::Result<Frame>> + Send + '_> {
        let group = self.group.0;
        let meta = std::iter::once(codec::encode(&self.meta).map(|v| Frame {
            kind: FRAME_META,
            key: 0,
            value: v.into(),
        }));
        let (log_start, _) = keys::group_range(Family::Log, group);
        let log_end = keys::log(group, self.upto_index.saturating_add(1));
        let entries = self.engine.scan(&log_start, &log_end).map(|pair| {
            let (k, v) = pair?;
            let index = keys::log_index(&k).ok_or_else(|| io::Error::other("malformed log key"))?;
            Ok(Frame {
                kind: FRAME_ENTRY,
                key: index,
                value: v,
            })
        });
        let (meta_start, _) = keys::group_range(Family::EntryMeta, group);
        let meta_end = keys::entry_meta(group, self.upto_index.saturating_add(1));
        let entry_metas = self.engine.scan(&meta_start, &meta_end).map(|pair| {
            let (k, v) = pair?;
            let index =
                keys::entry_meta_index(&k).ok_or_else(|| io::Error::other("malformed entry meta key"))?;
            Ok(Frame {
                kind: FRAME_ENTRY_META,
                key: index,
                value: v,
            })
        });
        let (arr_start, arr_end) = keys::group_range(Family::Arrival, group);
        let upto = self.upto_index;
        let arrivals = self
            .engine
            .scan(&arr_start, &arr_end)
            .filter_map(move |pair| match pair {
                Err(e) => Some(Err(e)),
                Ok((k, _)) => {
                    let (arrival_ms, index) = keys::arrival_parts(&k)?;
                    (index <= upto).then(|| {
                        codec::encode(&arrival_ms).map(|v| Frame {
                            kind: FRAME_ARRIVAL,
                            key: index,
                            value: v.into(),
                        })
                    })
                }
            });
        let producers = self.producers.iter().map(|&((producer, sequence), entry)| {
            codec::encode(&(producer, sequence, entry)).map(|v| Frame {
                kind: FRAME_PRODUCER,
                key: 0,
                value: v.into(),
            })
        });
        Box::new(
            meta.chain(entries)
                .chain(entry_metas)
                .chain(arrivals)
                .chain(producers),
        )
    }
}

/// Builds a shard snapshot: a lazy view, so building costs nothing.
pub struct ShardSnapshotBuilder {
    view: Option<SnapshotOf<ShardRaftConfig, SnapshotData>>,
}

impl RaftSnapshotBuilder<ShardRaftConfig> for ShardSnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<ShardRaftConfig, SnapshotData>, io::Error> {
        self.view
            .take()
            .ok_or_else(|| io::Error::other("snapshot builder used twice"))
    }
}

impl RaftStateMachine<ShardRaftConfig> for ShardStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = ShardSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembershipOf<ShardRaftConfig>), io::Error> {
        Ok((self.meta.last_applied, self.meta.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<openraft::storage::EntryResponder<ShardRaftConfig>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        tracing::trace!(target: "strait::write_path", group = self.group.0, "apply");
        let mut batch = WriteBatch::new();
        let mut replies = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let log_id = entry.log_id();
            let index = log_id.index();
            let reply = match &entry.payload {
                EntryPayload::Blank => ShardReply::None,
                EntryPayload::Membership(m) => {
                    self.meta.membership = StoredMembership::new(Some(log_id), m.clone());
                    ShardReply::None
                }
                EntryPayload::Normal(command) => self.apply_command(index, command, &mut batch)?,
            };
            self.meta.last_applied = Some(log_id);
            if let Some(responder) = responder {
                replies.push((responder, reply));
            }
        }
        batch.put(
            keys::state(self.group.0, StateKey::Applied),
            codec::encode_stored(&self.meta)?,
        );
        self.engine.write(batch)?;
        self.publish();
        tracing::trace!(target: "strait::write_path", group = self.group.0, "applied");
        for (responder, reply) in replies {
            responder.send(reply);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_taken = true;
        ShardSnapshotBuilder {
            view: Some(self.snapshot_view()),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<ShardRaftConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        match &snapshot {
            // A view of this very state machine (openraft restoring at startup): the
            // state is already in place.
            SnapshotData::Local(_) if meta.last_log_id == self.meta.last_applied => {}
            _ => {
                self.install_frames(meta, &snapshot)?;
                // openraft tells the leader the snapshot is installed once this returns,
                // and the leader then counts this replica as holding it.
                self.flusher.flush().await?;
            }
        }
        self.snapshot_taken = true;
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<ShardRaftConfig, SnapshotData>>, io::Error> {
        let has_snapshot = self.snapshot_taken || self.meta.last_applied.is_some();
        Ok(has_snapshot.then(|| self.snapshot_view()))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use openraft::impls::leader_id_adv::LeaderId;
    use openraft::storage::RaftStateMachine;
    use openraft::{Entry, LogId};
    use strait_storage::MemoryEngine;

    use super::*;
    use crate::shard::command::{AppendBatch, ProducerBatch, ShardRecord};
    use crate::shard::records::ShardReader;

    fn append(arrival_ms: u64, batches: &[(u64, u64, &[&str])]) -> ShardCommand {
        ShardCommand::append(AppendBatch::new(
            arrival_ms,
            batches
                .iter()
                .map(|(producer, sequence, records)| ProducerBatch {
                    producer: *producer,
                    sequence: *sequence,
                    records: records
                        .iter()
                        .map(|r| ShardRecord {
                            partition_key: "k".into(),
                            data: Bytes::from(r.to_string()),
                        })
                        .collect(),
                })
                .collect(),
        ))
    }

    /// A shard on a memory engine; entries are written to the log keys as the log
    /// store would, then applied.
    struct Harness {
        engine: Arc<dyn KvEngine>,
        sm: ShardStateMachine,
        next_index: u64,
    }

    impl Harness {
        fn new() -> Self {
            let engine: Arc<dyn KvEngine> = Arc::new(MemoryEngine::new());
            let flusher = Flusher::start(engine.clone(), false);
            let sm = ShardStateMachine::open(
                engine.clone(),
                flusher,
                GroupId(1),
                Arc::new(AppliedFloor::default()),
            )
            .unwrap();
            Self {
                engine,
                sm,
                next_index: 1,
            }
        }

        async fn apply(&mut self, command: ShardCommand) {
            self.apply_together(vec![command]).await;
        }

        /// Applies `commands` as consecutive entries in one `apply` call, as openraft
        /// does with entries committed together.
        async fn apply_together(&mut self, commands: Vec<ShardCommand>) {
            let mut entries = Vec::new();
            let mut batch = WriteBatch::new();
            for command in commands {
                let entry: Entry<LeaderId<u64, u64>, _> = Entry {
                    log_id: LogId::new(LeaderId { term: 1, node_id: 1 }, self.next_index),
                    payload: EntryPayload::Normal(command),
                };
                self.next_index += 1;
                batch.put(
                    keys::log(1, entry.log_id.index),
                    codec::encode_stored(&entry).unwrap(),
                );
                entries.push(Ok((entry, None)));
            }
            self.engine.write(batch).unwrap();
            self.sm.apply(futures::stream::iter(entries)).await.unwrap();
        }

        fn reader(&self) -> ShardReader {
            ShardReader::new(self.engine.clone(), GroupId(1), self.sm.subscribe_tip())
        }

        fn read_all(&self) -> Vec<(RecordPosition, String, u64)> {
            self.reader()
                .read(RecordPosition::START, 1000, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|r| {
                    (
                        r.position,
                        String::from_utf8(r.data.to_vec()).unwrap(),
                        r.arrival_ms,
                    )
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn records_are_read_back_at_their_positions() {
        let mut h = Harness::new();
        h.apply(append(100, &[(1, 1, &["a", "b"]), (2, 1, &["c"])])).await;
        h.apply(append(101, &[(1, 2, &["d"])])).await;
        let records = h.read_all();
        let positions: Vec<_> = records
            .iter()
            .map(|r| (r.0.index, r.0.offset, r.1.as_str()))
            .collect();
        assert_eq!(
            positions,
            vec![(1, 0, "a"), (1, 1, "b"), (1, 2, "c"), (2, 0, "d")]
        );
        let later = h
            .reader()
            .read(RecordPosition::new(1, 2), 10, usize::MAX)
            .unwrap();
        assert_eq!(
            later.len(),
            2,
            "a read starts at the given offset inside an entry"
        );
    }

    #[tokio::test]
    async fn a_retried_batch_is_answered_with_its_first_position_and_hidden() {
        let mut h = Harness::new();
        h.apply(append(100, &[(7, 1, &["a", "b"])])).await;
        h.apply(append(
            101,
            &[(8, 1, &["x"]), (7, 1, &["a", "b"]), (8, 2, &["y"])],
        ))
        .await;
        let data: Vec<String> = h.read_all().into_iter().map(|r| r.1).collect();
        assert_eq!(data, vec!["a", "b", "x", "y"], "the retry is not stored twice");
        let tip = *h.sm.subscribe_tip().borrow();
        assert_eq!(tip.last_record, Some(RecordPosition::new(2, 3)));
    }

    #[tokio::test]
    async fn arrival_times_never_go_backwards() {
        let mut h = Harness::new();
        h.apply(append(500, &[(1, 1, &["a"])])).await;
        h.apply(append(400, &[(1, 2, &["b"])])).await;
        let arrivals: Vec<u64> = h.read_all().into_iter().map(|r| r.2).collect();
        assert_eq!(arrivals, vec![500, 500]);
        assert_eq!(h.reader().find_timestamp(450).unwrap(), RecordPosition::new(1, 0));
        assert_eq!(
            h.reader().find_timestamp(501).unwrap(),
            RecordPosition::new(3, 0),
            "after the last record: the tip"
        );
    }

    #[tokio::test]
    async fn a_sealed_shard_accepts_no_more_records() {
        let mut h = Harness::new();
        h.apply(append(100, &[(1, 1, &["a"])])).await;
        h.apply(ShardCommand::Seal).await;
        h.apply(append(101, &[(1, 2, &["late"])])).await;
        let data: Vec<String> = h.read_all().into_iter().map(|r| r.1).collect();
        assert_eq!(data, vec!["a"]);
        assert_eq!(h.sm.subscribe_tip().borrow().sealed_at, Some(2));
    }

    #[tokio::test]
    async fn a_snapshot_rebuilds_the_same_shard_elsewhere() {
        let mut h = Harness::new();
        h.apply(append(100, &[(1, 1, &["a", "b"])])).await;
        h.apply(append(200, &[(2, 1, &["c"])])).await;
        let snapshot = h.sm.get_current_snapshot().await.unwrap().unwrap();

        let mut other = Harness::new();
        other
            .sm
            .install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .unwrap();
        assert_eq!(other.read_all(), h.read_all());
        // The dedup table travelled too: a retry after the install is still recognised.
        other.next_index = 3;
        other.apply(append(300, &[(1, 1, &["a", "b"])])).await;
        assert_eq!(other.read_all().len(), 3);
    }

    #[tokio::test]
    async fn a_snapshot_overwrites_this_replicas_entries_and_drops_those_it_lacks() {
        // The leader's log holds index 2 only (index 1 trimmed away).
        let mut leader = Harness::new();
        leader.next_index = 2;
        leader.apply(append(200, &[(2, 1, &["c"])])).await;
        let snapshot = leader.sm.get_current_snapshot().await.unwrap().unwrap();

        // This replica holds its own entries at both indexes, and one past the snapshot,
        // which the snapshot leaves alone (openraft truncates or keeps it).
        let mut replica = Harness::new();
        replica.apply(append(100, &[(7, 1, &["x"])])).await;
        replica.apply(append(150, &[(7, 2, &["y", "z"])])).await;
        replica.apply(append(160, &[(7, 3, &["w"])])).await;
        replica
            .sm
            .install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .unwrap();
        assert_eq!(replica.read_all(), leader.read_all());
        let (start, end) = keys::group_range(Family::Log, 1);
        let indexes: Vec<u64> = replica
            .engine
            .scan(&start, &end)
            .map(|pair| keys::log_index(&pair.unwrap().0).unwrap())
            .collect();
        assert_eq!(indexes, vec![2, 3]);
        // The dedup table is the snapshot's: this replica's own batches are gone from it.
        let (start, end) = keys::group_range(Family::Producer, 1);
        let producers: Vec<Vec<u8>> = replica
            .engine
            .scan(&start, &end)
            .map(|pair| pair.unwrap().0.to_vec())
            .collect();
        assert_eq!(producers, vec![keys::producer(1, 2, 1).to_vec()]);
    }

    #[tokio::test]
    async fn a_corrupted_entry_is_reported_never_served() {
        let mut h = Harness::new();
        h.apply(append(100, &[(1, 1, &["good"])])).await;
        h.apply(append(101, &[(1, 2, &["soon corrupted"])])).await;
        let key = keys::log(1, 2);
        let mut stored = h.engine.get(&key).unwrap().unwrap().to_vec();
        let last = stored.len() - 2;
        stored[last] ^= 0x55;
        let mut batch = WriteBatch::new();
        batch.put(key, stored);
        h.engine.write(batch).unwrap();

        let error = h
            .reader()
            .read(RecordPosition::START, 10, usize::MAX)
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        // Records before the damaged entry are still served on their own.
        let before = h.reader().read(RecordPosition::START, 1, usize::MAX).unwrap();
        assert_eq!(before.len(), 1);
    }

    #[tokio::test]
    async fn a_trim_expires_records_by_arrival_and_deletes_purged_entries() {
        let mut h = Harness::new();
        h.apply(append(100, &[(1, 1, &["a"])])).await;
        h.apply(append(200, &[(1, 2, &["b"])])).await;
        h.apply(append(300, &[(1, 3, &["c"])])).await;
        // Raft purged its log up to entry 1 only.
        let purged = LogId::new(LeaderId { term: 1, node_id: 1 }, 1);
        let mut batch = WriteBatch::new();
        batch.put(
            keys::state(1, StateKey::Purged),
            codec::encode_stored(&purged).unwrap(),
        );
        h.engine.write(batch).unwrap();

        h.apply(ShardCommand::Trim { before_ms: 250 }).await;
        let data: Vec<String> = h.read_all().into_iter().map(|r| r.1).collect();
        assert_eq!(data, vec!["c"], "records before the cut are no longer served");
        assert_eq!(h.reader().trim_horizon(), RecordPosition::new(3, 0));
        assert!(
            h.engine.get(&keys::log(1, 1)).unwrap().is_none(),
            "a purged, expired entry is deleted"
        );
        assert!(
            h.engine.get(&keys::log(1, 2)).unwrap().is_some(),
            "an expired entry Raft may still send stays on disk (but hidden)"
        );
        // A trim that cuts nothing new changes nothing; one past everything expires all.
        h.apply(ShardCommand::Trim { before_ms: 250 }).await;
        assert_eq!(h.read_all().len(), 1);
        h.apply(ShardCommand::Trim { before_ms: 1_000 }).await;
        assert!(h.read_all().is_empty());
    }

    /// A trim committed right after an append, and applied in the same call, must see
    /// that append's arrival-index key: the cut is found in the engine, not in the facts
    /// the call has yet to write.
    #[tokio::test]
    async fn a_trim_applied_with_the_append_before_it_keeps_the_append() {
        let mut h = Harness::new();
        h.apply_together(vec![
            append(1_000, &[(1, 1, &["fresh"])]),
            ShardCommand::Trim { before_ms: 500 },
        ])
        .await;
        let data: Vec<String> = h.read_all().into_iter().map(|r| r.1).collect();
        assert_eq!(data, vec!["fresh"], "a record newer than the cut is not expired");
        assert_eq!(h.reader().trim_horizon(), RecordPosition::new(1, 0));
    }

    #[tokio::test]
    async fn a_batch_damaged_in_transit_is_never_applied() {
        let mut h = Harness::new();
        let ShardCommand::Append(mut batch) = append(100, &[(1, 1, &["intact"])]) else {
            unreachable!()
        };
        std::sync::Arc::make_mut(&mut batch).producers[0].records[0].data = Bytes::from_static(b"damaged");
        let entry: Entry<LeaderId<u64, u64>, _> = Entry {
            log_id: LogId::new(LeaderId { term: 1, node_id: 1 }, 1),
            payload: EntryPayload::Normal(ShardCommand::Append(batch)),
        };
        let result = h.sm.apply(futures::stream::iter(vec![Ok((entry, None))])).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(h.read_all().is_empty());
    }

    #[tokio::test]
    async fn a_retry_reaching_a_sealed_shard_gets_its_first_position() {
        let mut h = Harness::new();
        h.apply(append(100, &[(1, 1, &["a", "b"])])).await;
        h.apply(ShardCommand::Seal).await;
        // The retry of (1, 1) is answered; a new batch is refused.
        let retry = append(101, &[(1, 1, &["a", "b"]), (1, 2, &["c"])]);
        let mut write = WriteBatch::new();
        let reply = h.sm.apply_command(3, &retry, &mut write).unwrap();
        assert_eq!(
            reply,
            ShardReply::Appended(vec![
                BatchOutcome::Committed {
                    index: 1,
                    first_offset: 0
                },
                BatchOutcome::ShardSealed
            ])
        );
    }
}
