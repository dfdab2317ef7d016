//! The Raft log of one group, stored in the node's shared engine.
//!
//! Entries live under `[Log][group][index]` (see `strait_storage::keys`). `append` writes
//! a batch and hands openraft's completion callback to the node's [`Flusher`], so entries
//! of many groups become durable with one fsync (group commit), and a replica only
//! acknowledges an entry to its leader once the flush that covers it returned.
//!
//! Shard groups keep their records *in* their log: an applied entry carrying records is
//! the shard's stored batch, written once. For those groups `purge` only moves the purge
//! point (the entries stay until retention trims them) and `truncate_after` never removes
//! an entry at or below the state machine's applied index. The control group purges
//! normally.
//!
//! Shard groups also keep the entries they append in memory until they are applied
//! ([`crate::log_cache`]), so replication and apply read them back without the engine.

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strait_storage::keys::{self, Family, StateKey};
use strait_storage::{Flusher, KvEngine, WriteBatch};

use crate::codec;
use crate::group::GroupId;
use crate::log_cache::{LogCache, LogCacheBudget};

/// The state machine's applied index, shared with the log store of a group whose
/// entries double as its stored records. Stored as `index + 1`, so 0 means "nothing
/// applied yet".
#[derive(Debug, Default)]
pub struct AppliedFloor(AtomicU64);

impl AppliedFloor {
    /// The last applied index, if any entry was applied.
    pub fn get(&self) -> Option<u64> {
        self.0.load(Ordering::Acquire).checked_sub(1)
    }

    /// Records the applied index (which may go down when a snapshot replaces the state).
    pub fn set(&self, applied: Option<u64>) {
        self.0.store(applied.map_or(0, |i| i + 1), Ordering::Release);
    }
}

/// One group's log store; cheap to clone (clones share the engine).
pub struct LogStore<C: RaftTypeConfig> {
    engine: Arc<dyn KvEngine>,
    flusher: Flusher,
    group: GroupId,
    /// `Some` for groups whose applied entries are state-machine data (shards).
    retained: Option<Arc<AppliedFloor>>,
    /// Entries appended and not yet applied, shared by the clones that read them back.
    cache: Option<Arc<LogCache<EntryOf<C>>>>,
    _config: PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            flusher: self.flusher.clone(),
            group: self.group,
            retained: self.retained.clone(),
            cache: self.cache.clone(),
            _config: PhantomData,
        }
    }
}

impl<C: RaftTypeConfig> LogStore<C> {
    pub fn new(
        engine: Arc<dyn KvEngine>,
        flusher: Flusher,
        group: GroupId,
        retained: Option<Arc<AppliedFloor>>,
    ) -> Self {
        Self {
            engine,
            flusher,
            group,
            retained,
            cache: None,
            _config: PhantomData,
        }
    }

    fn read_state<T: DeserializeOwned>(&self, kind: StateKey) -> io::Result<Option<T>> {
        match self.engine.get(&keys::state(self.group.0, kind))? {
            Some(v) => codec::decode_stored(&v).map(Some),
            None => Ok(None),
        }
    }

    fn write_state<T: Serialize>(&self, kind: StateKey, value: &T) -> io::Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(keys::state(self.group.0, kind), codec::encode_stored(value)?);
        self.engine.write(batch)
    }

    /// Entries from `start` up to `end` (exclusive; `None` for the end of the log), as
    /// the engine holds them.
    fn read_entries(&self, start: u64, end: Option<u64>) -> io::Result<Vec<EntryOf<C>>>
    where
        EntryOf<C>: DeserializeOwned,
    {
        let start_key = keys::log(self.group.0, start);
        let end_key = match end {
            Some(e) => keys::log(self.group.0, e),
            None => keys::group_range(Family::Log, self.group.0).1,
        };
        let mut entries = Vec::new();
        for pair in self.engine.scan(&start_key, &end_key) {
            let (_, value) = pair?;
            entries.push(codec::decode_stored::<EntryOf<C>>(&value)?);
        }
        Ok(entries)
    }

    /// Deletes log keys for indexes in `[from, to)`.
    fn delete_range(&self, from: u64, to: u64) -> io::Result<()> {
        if from >= to {
            return Ok(());
        }
        let start = keys::log(self.group.0, from);
        let end = keys::log(self.group.0, to);
        let mut batch = WriteBatch::new();
        for key in self.engine.scan_keys(&start, &end) {
            batch.delete(key?);
        }
        self.engine.write(batch)
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig,
    EntryOf<C>: Serialize + DeserializeOwned + Clone,
    VoteOf<C>: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        let (mut start, end) = bounds(&range);
        // The cache holds nothing at or below the purge point.
        if let Some(cache) = &self.cache
            && let Some((mut entries, next)) = cache.read(start, end)
        {
            if end.is_none_or(|end| end > next) {
                entries.extend(self.read_entries(next, end)?);
            }
            return Ok(entries);
        }
        // Entries kept past a purge (a shard's records) are state-machine data, not log.
        if self.retained.is_some()
            && let Some(purged) = self.read_state::<LogIdOf<C>>(StateKey::Purged)?
        {
            start = start.max(purged.index() + 1);
        }
        self.read_entries(start, end)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.read_state(StateKey::Vote)
    }
}

impl<C: RaftTypeConfig> LogStore<C>
where
    EntryOf<C>: Clone,
{
    /// Keeps the entries this store appends in memory until they are applied, drawing on
    /// `budget` (see [`crate::log_cache`]). Only for groups whose state machine shares
    /// an [`AppliedFloor`] with the store; others are left uncached.
    pub fn with_cache(mut self, budget: Arc<LogCacheBudget>) -> Self {
        if let Some(applied) = &self.retained {
            self.cache = Some(Arc::new(LogCache::new(budget, applied.clone())));
        }
        self
    }
}

/// A replica whose copy was deleted (it moved away) keeps its vote and the last log id it
/// held, so that if the group is placed on its node again the new, empty replica is not
/// an amnesiac voter. Raft's safety rests on every voter remembering its vote and its log:
/// a node of an old membership that missed the changes since (down meanwhile) still counts
/// this node as a voter, and with a forgotten log it would grant that stale node's
/// candidacy and so let it overwrite committed entries. The kept vote stops a stale leader
/// from appending; the kept last log id lets the transport refuse a candidate whose log is
/// behind it ([`crate::network::RaftGroupRpc::refusing_votes_behind`]).
impl<C> LogStore<C>
where
    C: RaftTypeConfig,
    EntryOf<C>: Serialize + DeserializeOwned + Clone,
    VoteOf<C>: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
{
    /// Records the last log id this replica holds (or held before an earlier retirement,
    /// whichever is later) under `[RaftState][group][Retired]`. Call it before deleting
    /// the replica's data, and keep that key and the vote.
    pub async fn record_retirement(&mut self) -> io::Result<()> {
        let current = self.get_log_state().await?.last_log_id;
        let earlier = self.retired_last_log_id()?;
        let last = current.max(earlier);
        if let Some(last) = last {
            self.write_state(StateKey::Retired, &last)?;
        }
        Ok(())
    }

    /// The last log id an earlier copy of this replica held, if one was deleted.
    pub fn retired_last_log_id(&self) -> io::Result<Option<LogIdOf<C>>> {
        self.read_state(StateKey::Retired)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig,
    EntryOf<C>: Serialize + DeserializeOwned + Clone,
    VoteOf<C>: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let last_purged: Option<LogIdOf<C>> = self.read_state(StateKey::Purged)?;
        let (start, end) = keys::group_range(Family::Log, self.group.0);
        let last_entry = match self.engine.scan_rev(&start, &end).next() {
            Some(pair) => Some(codec::decode_stored::<EntryOf<C>>(&pair?.1)?.log_id()),
            None => None,
        };
        let last_log_id = match (&last_entry, &last_purged) {
            (Some(entry), Some(purged)) if entry.index() < purged.index() => Some(purged.clone()),
            (Some(entry), _) => Some(entry.clone()),
            (None, purged) => purged.clone(),
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.write_state(StateKey::Vote, vote)?;
        self.flusher.flush().await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        // Not flushed on its own: a stale committed id only means a restarted node
        // re-applies less eagerly; the next flush of the node persists it.
        self.write_state(StateKey::Committed, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        Ok(self
            .read_state::<Option<LogIdOf<C>>>(StateKey::Committed)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        let group = self.group.0;
        tracing::trace!(target: "strait::write_path", group, "log append");
        let mut written = Vec::new();
        for entry in entries {
            let stored = codec::encode_stored(&entry)?;
            let size = stored.len();
            batch.put(keys::log(self.group.0, entry.index()), stored);
            if self.cache.is_some() {
                written.push((entry, size));
            }
        }
        self.engine.write(batch)?;
        if let Some(cache) = &self.cache {
            cache.appended(written);
        }
        tracing::trace!(target: "strait::write_path", group, "log append written, flush requested");
        self.flusher.request(Box::new(move |result| {
            tracing::trace!(target: "strait::write_path", group, "log append durable");
            callback.io_completed(result)
        }));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let mut from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        if let Some(cache) = &self.cache {
            cache.truncated_from(from);
        }
        if let Some(applied) = self.retained.as_ref().and_then(|floor| floor.get()) {
            from = from.max(applied + 1);
        }
        self.delete_range(from, u64::MAX)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        // The purge point is written first, so a crash in between never leaves a hole
        // that the log state would not account for.
        self.write_state(StateKey::Purged, &log_id)?;
        if let Some(cache) = &self.cache {
            cache.purged_through(log_id.index());
        }
        if self.retained.is_none() {
            self.delete_range(0, log_id.index() + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::LogId;
    use openraft::impls::leader_id_adv::LeaderId;
    use strait_storage::MemoryEngine;

    use super::*;
    use crate::shard::ShardRaftConfig;

    fn log_id(term: u64, index: u64) -> LogIdOf<ShardRaftConfig> {
        LogId::new(LeaderId { term, node_id: 1 }, index)
    }

    #[tokio::test]
    async fn a_retired_replica_remembers_the_latest_log_it_ever_held() {
        let engine: Arc<dyn KvEngine> = Arc::new(MemoryEngine::new());
        let flusher = Flusher::start(engine.clone(), false);
        let mut store: LogStore<ShardRaftConfig> = LogStore::new(engine.clone(), flusher, GroupId(3), None);

        store.record_retirement().await.unwrap();
        assert_eq!(
            store.retired_last_log_id().unwrap(),
            None,
            "an empty replica held nothing"
        );

        store.purge(log_id(2, 10)).await.unwrap();
        store.record_retirement().await.unwrap();
        assert_eq!(store.retired_last_log_id().unwrap(), Some(log_id(2, 10)));

        // Its data deleted, a new copy of the group here holds less when it retires again
        // (in Raft's order: the term first, then the index): the floor stays at what the
        // first copy held.
        let mut batch = WriteBatch::new();
        batch.delete(keys::state(3, StateKey::Purged));
        engine.write(batch).unwrap();
        store.purge(log_id(2, 4)).await.unwrap();
        store.record_retirement().await.unwrap();
        assert_eq!(store.retired_last_log_id().unwrap(), Some(log_id(2, 10)));

        store.purge(log_id(3, 5)).await.unwrap();
        store.record_retirement().await.unwrap();
        assert_eq!(store.retired_last_log_id().unwrap(), Some(log_id(3, 5)));
    }
}
