//! The tail of a shard group's log, kept in memory after it is written.
//!
//! openraft reads every entry back soon after it was appended: the leader's replication
//! reads it once per follower to send it, and every replica's state-machine worker reads
//! it to apply it. From the engine each such read is a scan, a `pread` from the value log
//! for a large entry, a checksum and a decode of every record: at 1 KiB x 500 records per
//! request that was an eighth of the servers' CPU. The cache keeps the entries appended
//! since the last applied one and answers those reads with clones, which copy no record
//! (an `Append` shares its records through an `Arc`).
//!
//! What it holds is always a contiguous run of entries ending at the last one appended:
//! an append that would leave a gap, or an entry the budget cannot take, starts the run
//! afresh, and a read that starts before the run goes to the engine. Entries at or below
//! the applied index leave at the next append or read: by then apply has read them, and
//! replication nearly always has too; a follower that lags is sent entries read from the
//! engine, as before.
//!
//! Memory is bounded per node: the caches of all groups draw on one [`LogCacheBudget`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::entry::RaftEntry;

use crate::log_store::AppliedFloor;

/// Bytes (as stored) of entries the log caches of one node may hold together.
pub const LOG_CACHE_BYTES: usize = 64 << 20;

/// The memory the log caches of one node's groups share.
#[derive(Debug)]
pub struct LogCacheBudget {
    used: AtomicUsize,
    limit: usize,
}

impl LogCacheBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes held now, over all groups.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One group's cached entries: a contiguous run, each with its stored size.
pub(crate) struct LogCache<E> {
    entries: Mutex<VecDeque<(E, usize)>>,
    budget: Arc<LogCacheBudget>,
    applied: Arc<AppliedFloor>,
}

impl<E: RaftEntry + Clone> LogCache<E> {
    pub fn new(budget: Arc<LogCacheBudget>, applied: Arc<AppliedFloor>) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            budget,
            applied,
        }
    }

    /// Takes entries just written to the engine, in log order, with their stored sizes.
    pub fn appended(&self, appended: impl IntoIterator<Item = (E, usize)>) {
        let mut entries = self.lock_and_evict_applied();
        for (entry, size) in appended {
            let index = entry.index();
            match entries.back().map(|(last, _)| last.index()) {
                // Re-appended after a conflict: what followed is replaced.
                Some(last) if index <= last => self.remove_where(&mut entries, |i| i >= index),
                Some(last) if index > last + 1 => self.remove_where(&mut entries, |_| true),
                _ => {}
            }
            if !self.budget.take(size) {
                // The run cannot grow by this entry: start it again from here, or, if
                // even that does not fit, after it (a run must not have a hole).
                self.remove_where(&mut entries, |_| true);
                if !self.budget.take(size) {
                    continue;
                }
            }
            entries.push_back((entry, size));
        }
    }

    /// The log lost every entry from `index` on.
    pub fn truncated_from(&self, index: u64) {
        let mut entries = self.lock();
        self.remove_where(&mut entries, |i| i >= index);
    }

    /// The log no longer serves entries up to and including `index`.
    pub fn purged_through(&self, index: u64) {
        let mut entries = self.lock();
        self.remove_where(&mut entries, |i| i <= index);
    }

    /// Entries from `start` up to `end` (exclusive; `None` for the end of the log), and
    /// the index after the last cached entry, when the cache holds `start`. A caller
    /// wanting entries past that index reads them from the engine: an append may have
    /// written them there and not yet reached the cache.
    pub fn read(&self, start: u64, end: Option<u64>) -> Option<(Vec<E>, u64)> {
        let entries = self.lock_and_evict_applied();
        let first = entries.front()?.0.index();
        let next = entries.back()?.0.index() + 1;
        if start < first || start > next {
            return None;
        }
        let stop = end.map_or(next, |end| end.min(next));
        let skip = (start - first) as usize;
        let take = stop.saturating_sub(start) as usize;
        let found = entries
            .iter()
            .skip(skip)
            .take(take)
            .map(|(entry, _)| entry.clone())
            .collect();
        Some((found, next))
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(E, usize)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_and_evict_applied(&self) -> MutexGuard<'_, VecDeque<(E, usize)>> {
        let mut entries = self.lock();
        if let Some(applied) = self.applied.get() {
            self.remove_where(&mut entries, |i| i <= applied);
        }
        entries
    }

    /// Removes the entries whose index matches, from either end of the run, returning
    /// their bytes to the budget. `matches` must select a prefix or a suffix of the run.
    fn remove_where(&self, entries: &mut VecDeque<(E, usize)>, matches: impl Fn(u64) -> bool) {
        let mut freed = 0;
        while let Some((entry, size)) = entries.front() {
            if !matches(entry.index()) {
                break;
            }
            freed += size;
            entries.pop_front();
        }
        while let Some((entry, size)) = entries.back() {
            if !matches(entry.index()) {
                break;
            }
            freed += size;
            entries.pop_back();
        }
        self.budget.give_back(freed);
    }
}

impl<E> Drop for LogCache<E> {
    fn drop(&mut self) {
        let entries = self
            .entries
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.budget.give_back(entries.iter().map(|(_, size)| size).sum());
    }
}

#[cfg(test)]
mod tests {
    use openraft::impls::leader_id_adv::LeaderId;
    use openraft::{Entry, EntryPayload, LogId};

    use super::*;
    use crate::shard::ShardRaftConfig;

    type E = openraft::alias::EntryOf<ShardRaftConfig>;

    fn entry(term: u64, index: u64) -> (E, usize) {
        let entry = Entry {
            log_id: LogId::new(LeaderId { term, node_id: 1 }, index),
            payload: EntryPayload::Blank,
        };
        (entry, 100)
    }

    fn cache(limit: usize) -> (LogCache<E>, Arc<LogCacheBudget>, Arc<AppliedFloor>) {
        let budget = LogCacheBudget::new(limit);
        let applied = Arc::new(AppliedFloor::default());
        (LogCache::new(budget.clone(), applied.clone()), budget, applied)
    }

    fn ids(read: Option<(Vec<E>, u64)>) -> Option<(Vec<(u64, u64)>, u64)> {
        read.map(|(entries, next)| {
            let ids = entries
                .iter()
                .map(|e| (e.log_id.leader_id.term, e.log_id.index))
                .collect();
            (ids, next)
        })
    }

    #[test]
    fn serves_the_run_it_holds_and_says_where_it_ends() {
        let (cache, budget, _) = cache(10_000);
        cache.appended((1..=5).map(|i| entry(1, i)));
        assert_eq!(budget.used(), 500);
        assert_eq!(ids(cache.read(2, Some(4))), Some((vec![(1, 2), (1, 3)], 6)));
        assert_eq!(ids(cache.read(4, None)), Some((vec![(1, 4), (1, 5)], 6)));
        // Past the end: nothing cached, and the caller reads from 6 on in the engine.
        assert_eq!(ids(cache.read(6, Some(9))), Some((vec![], 6)));
        assert_eq!(ids(cache.read(0, Some(3))), None, "starts before the run");
        assert_eq!(ids(cache.read(7, None)), None, "starts after the run");
    }

    #[test]
    fn applied_entries_leave_and_return_their_bytes() {
        let (cache, budget, applied) = cache(10_000);
        cache.appended((1..=5).map(|i| entry(1, i)));
        applied.set(Some(3));
        assert_eq!(ids(cache.read(4, None)), Some((vec![(1, 4), (1, 5)], 6)));
        assert_eq!(budget.used(), 200);
        drop(cache);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_conflicting_append_replaces_the_tail_and_a_gap_restarts_the_run() {
        let (cache, budget, _) = cache(10_000);
        cache.appended((1..=5).map(|i| entry(1, i)));
        cache.appended([entry(2, 4)]);
        assert_eq!(
            ids(cache.read(1, None)),
            Some((vec![(1, 1), (1, 2), (1, 3), (2, 4)], 5))
        );
        cache.appended([entry(2, 9)]);
        assert_eq!(ids(cache.read(1, None)), None);
        assert_eq!(ids(cache.read(9, None)), Some((vec![(2, 9)], 10)));
        assert_eq!(budget.used(), 100);
    }

    #[test]
    fn truncation_and_purge_cut_the_run() {
        let (cache, budget, _) = cache(10_000);
        cache.appended((1..=6).map(|i| entry(1, i)));
        cache.truncated_from(5);
        cache.purged_through(2);
        assert_eq!(ids(cache.read(3, None)), Some((vec![(1, 3), (1, 4)], 5)));
        assert_eq!(budget.used(), 200);
    }

    #[test]
    fn the_budget_is_shared_and_an_entry_it_cannot_take_restarts_the_run() {
        let budget = LogCacheBudget::new(450);
        let applied = Arc::new(AppliedFloor::default());
        let one = LogCache::<E>::new(budget.clone(), applied.clone());
        let two = LogCache::<E>::new(budget.clone(), Arc::new(AppliedFloor::default()));
        one.appended((1..=3).map(|i| entry(1, i)));
        two.appended([entry(1, 1)]);
        assert_eq!(budget.used(), 400);
        // Entry 4 does not fit beside the rest: the run restarts with it.
        one.appended([entry(1, 4)]);
        assert_eq!(budget.used(), 200);
        one.appended([entry(1, 5)]);
        assert_eq!(ids(one.read(3, None)), None);
        assert_eq!(ids(one.read(4, None)), Some((vec![(1, 4), (1, 5)], 6)));
        assert_eq!(budget.used(), 300);
        // An entry larger than the whole budget is not cached, and leaves no hole.
        one.appended([(entry(1, 6).0, 1_000)]);
        assert_eq!(ids(one.read(6, None)), None);
        one.appended([entry(1, 7)]);
        assert_eq!(ids(one.read(7, None)), Some((vec![(1, 7)], 8)));
    }
}
