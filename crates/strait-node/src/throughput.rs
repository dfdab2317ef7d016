//! Optional per-shard throughput limits, so users can exercise their backoff code against
//! Strait as they would against Kinesis (off by default: `--shard-throughput-limits`).
//!
//! | direction | limits per shard | charged on |
//! |---|---|---|
//! | writes (PutRecord, PutRecords) | 1 MiB/s and 1,000 records/s | the shard's leader, before appending |
//! | reads (GetRecords) | 5 calls/s and 2 MiB/s | the node serving the GetRecords call |
//!
//! Each limit is a token bucket refilled continuously at its rate and holding at most one
//! second's worth. A call is admitted while its bucket holds any tokens and is then charged
//! in full, so the balance may go negative: a large batch or a 10 MiB read is served at once
//! and the shard refuses the next calls until the debt is repaid (a 10 MiB read blocks reads
//! for about five seconds, as Kinesis does). A refused call is a
//! ProvisionedThroughputExceededException; PutRecords reports it in place for the records of
//! the refused shard. Enhanced fan-out subscriptions are not charged: Kinesis gives each
//! consumer its own read budget.
//!
//! Time comes from the node's [`Clock`], so the limits behave the same under simulated time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use strait_raft::{Clock, GroupId};

/// Bytes per second a shard accepts.
pub const WRITE_BYTES_PER_SEC: f64 = (1 << 20) as f64;
/// Records per second a shard accepts.
pub const WRITE_RECORDS_PER_SEC: f64 = 1_000.0;
/// Bytes per second GetRecords may read from a shard.
pub const READ_BYTES_PER_SEC: f64 = (2 << 20) as f64;
/// GetRecords calls per second a shard answers.
pub const READ_CALLS_PER_SEC: f64 = 5.0;

/// A token bucket holding at most one second of its rate, allowed to go into debt.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate_per_sec: f64,
    tokens: f64,
    updated_ms: u64,
}

impl Bucket {
    fn full(rate_per_sec: f64, now_ms: u64) -> Bucket {
        Bucket {
            rate_per_sec,
            tokens: rate_per_sec,
            updated_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed_ms = now_ms.saturating_sub(self.updated_ms);
        self.tokens = (self.tokens + self.rate_per_sec * elapsed_ms as f64 / 1000.0).min(self.rate_per_sec);
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    /// Whether a call may start now (any tokens left, or a whole one for `whole`).
    fn admits(&self, whole: bool) -> bool {
        if whole {
            self.tokens >= 1.0
        } else {
            self.tokens > 0.0
        }
    }
}

/// One shard's buckets.
#[derive(Debug, Clone, Copy)]
struct ShardBuckets {
    write_bytes: Bucket,
    write_records: Bucket,
    read_bytes: Bucket,
    read_calls: Bucket,
}

impl ShardBuckets {
    fn new(now_ms: u64) -> ShardBuckets {
        ShardBuckets {
            write_bytes: Bucket::full(WRITE_BYTES_PER_SEC, now_ms),
            write_records: Bucket::full(WRITE_RECORDS_PER_SEC, now_ms),
            read_bytes: Bucket::full(READ_BYTES_PER_SEC, now_ms),
            read_calls: Bucket::full(READ_CALLS_PER_SEC, now_ms),
        }
    }

    fn refill(&mut self, now_ms: u64) {
        for bucket in [
            &mut self.write_bytes,
            &mut self.write_records,
            &mut self.read_bytes,
            &mut self.read_calls,
        ] {
            bucket.refill(now_ms);
        }
    }

    /// Whether every bucket is full at `now_ms`: the shard is then as if never used.
    fn idle_at(&self, now_ms: u64) -> bool {
        let mut buckets = *self;
        buckets.refill(now_ms);
        [
            buckets.write_bytes,
            buckets.write_records,
            buckets.read_bytes,
            buckets.read_calls,
        ]
        .iter()
        .all(|b| b.tokens >= b.rate_per_sec)
    }
}

/// The throughput limits of the shards this node leads or serves.
pub struct ThroughputLimiter {
    clock: Arc<dyn Clock>,
    shards: Mutex<BTreeMap<GroupId, ShardBuckets>>,
}

impl ThroughputLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> ThroughputLimiter {
        ThroughputLimiter {
            clock,
            shards: Mutex::new(BTreeMap::new()),
        }
    }

    fn with_shard<T>(&self, group: GroupId, f: impl FnOnce(&mut ShardBuckets) -> T) -> T {
        let now_ms = self.clock.now_ms();
        let mut shards = self.shards.lock().expect("throughput lock");
        if !shards.contains_key(&group) {
            // Idle shards (full buckets) need no entry; dropping them keeps the map to the
            // shards in use, whatever streams come and go.
            shards.retain(|_, buckets| !buckets.idle_at(now_ms));
        }
        let buckets = shards.entry(group).or_insert_with(|| ShardBuckets::new(now_ms));
        buckets.refill(now_ms);
        f(buckets)
    }

    /// Admits and charges a write of `records` records totalling `bytes` (data plus
    /// partition keys), or refuses it and charges nothing.
    pub fn admit_write(&self, group: GroupId, records: usize, bytes: usize) -> bool {
        self.with_shard(group, |b| {
            if !(b.write_bytes.admits(false) && b.write_records.admits(false)) {
                return false;
            }
            b.write_bytes.tokens -= bytes as f64;
            b.write_records.tokens -= records as f64;
            true
        })
    }

    /// Admits a GetRecords call (charging one call), or refuses it: five calls a second, and
    /// none while the read bytes are in debt.
    pub fn admit_read(&self, group: GroupId) -> bool {
        self.with_shard(group, |b| {
            if !(b.read_calls.admits(true) && b.read_bytes.admits(false)) {
                return false;
            }
            b.read_calls.tokens -= 1.0;
            true
        })
    }

    /// Charges the bytes an admitted GetRecords returned.
    pub fn charge_read(&self, group: GroupId, bytes: usize) {
        self.with_shard(group, |b| b.read_bytes.tokens -= bytes as f64);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A clock the test moves by hand.
    #[derive(Default)]
    struct ManualClock(AtomicU64);

    impl Clock for ManualClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn limiter() -> (Arc<ManualClock>, ThroughputLimiter) {
        let clock = Arc::new(ManualClock::default());
        clock.0.store(1_000_000, Ordering::SeqCst);
        (clock.clone(), ThroughputLimiter::new(clock))
    }

    const G: GroupId = GroupId(7);

    #[test]
    fn writes_beyond_a_thousand_records_a_second_are_refused_until_refilled() {
        let (clock, limits) = limiter();
        let admitted = (0..2_000).filter(|_| limits.admit_write(G, 1, 10)).count();
        assert_eq!(admitted, 1_000);
        clock.0.fetch_add(100, Ordering::SeqCst);
        let admitted = (0..2_000).filter(|_| limits.admit_write(G, 1, 10)).count();
        assert_eq!(admitted, 100, "a tenth of a second refills a tenth");
        assert!(
            limits.admit_write(GroupId(8), 1, 10),
            "shards are limited separately"
        );
    }

    #[test]
    fn a_large_write_is_served_and_then_repaid() {
        let (clock, limits) = limiter();
        assert!(
            limits.admit_write(G, 1, 3 << 20),
            "admitted while the bucket has tokens"
        );
        clock.0.fetch_add(1_500, Ordering::SeqCst);
        assert!(!limits.admit_write(G, 1, 1), "still 0.5 MiB in debt");
        clock.0.fetch_add(600, Ordering::SeqCst);
        assert!(limits.admit_write(G, 1, 1));
    }

    #[test]
    fn reads_are_five_calls_a_second_and_a_big_read_blocks_for_seconds() {
        let (clock, limits) = limiter();
        let admitted = (0..10).filter(|_| limits.admit_read(G)).count();
        assert_eq!(admitted, 5);
        clock.0.fetch_add(1_000, Ordering::SeqCst);
        assert!(limits.admit_read(G));
        limits.charge_read(G, 10 << 20);
        clock.0.fetch_add(4_000, Ordering::SeqCst);
        assert!(
            !limits.admit_read(G),
            "10 MiB at 2 MiB/s takes five seconds to repay"
        );
        clock.0.fetch_add(1_001, Ordering::SeqCst);
        assert!(limits.admit_read(G));
    }

    #[test]
    fn idle_shards_are_forgotten() {
        let (clock, limits) = limiter();
        for group in 0..100 {
            assert!(limits.admit_write(GroupId(group), 1, 1));
        }
        clock.0.fetch_add(2_000, Ordering::SeqCst);
        assert!(
            limits.admit_write(GroupId(1_000), 1, 1),
            "a shard not seen before"
        );
        assert_eq!(limits.shards.lock().expect("lock").len(), 1);
    }
}
