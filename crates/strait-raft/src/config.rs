//! Raft timing for Strait's groups.
//!
//! How long writes stop when a leader dies is set by these timings. openraft gives a
//! follower's leader a lease of `election_max_ms` from the last message it heard, during
//! which the follower refuses (pre-)votes, and a follower campaigns only once the lease
//! and then its own random election timeout (`election_min_ms..election_max_ms`) have
//! passed. A dead leader is so replaced `election_max_ms + rand(election_min_ms,
//! election_max_ms)` after its last message: 450–600 ms with the defaults, so writes
//! resume within a second even when two followers split the first vote and campaign
//! again. A heartbeat every 100 ms (three per lease, four and a half before anyone
//! campaigns) keeps a healthy leader's followers quiet even when a loaded machine delays
//! a few; heartbeats to a peer are coalesced across groups, so their cost grows with
//! groups only in per-group work, not in calls. Pre-vote keeps a node that was cut off
//! from disrupting a healthy leader when it returns. A shard group idle for
//! `quiet_after_ms` stops its timers altogether ([`crate::quiescence`]): the followers of
//! a dead leader's idle groups notice its node's silence after twice `election_max_ms`
//! and campaign at once.

use std::sync::Arc;
use std::time::Duration;

use openraft::{Config, SnapshotPolicy};

use crate::quiescence::QuietTiming;

/// Knobs that differ between production and tests.
#[derive(Debug, Clone)]
pub struct RaftTuning {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Build a snapshot (and let the log be purged) after this many entries.
    pub snapshot_every_entries: u64,
    /// Entries kept in the log behind the last snapshot; a follower further behind
    /// catches up by snapshot.
    pub keep_entries_behind_snapshot: u64,
    /// A shard group with no new entry for this long stops its timers (see
    /// [`crate::quiescence`]); `None` keeps every group ticking.
    pub quiet_after_ms: Option<u64>,
}

impl Default for RaftTuning {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_min_ms: 150,
            election_max_ms: 300,
            snapshot_every_entries: 20_000,
            keep_entries_behind_snapshot: 5_000,
            quiet_after_ms: Some(2_000),
        }
    }
}

impl RaftTuning {
    /// When shard groups go quiet, if they do: pings at the heartbeat interval, and a
    /// silent node taken for dead after twice the longest election timeout. That is later
    /// than a ticking group's followers give up on their leader, but a quiet group's
    /// followers then campaign at once rather than after an election timeout, and one
    /// silent node wakes all the groups it leads together, so a loaded machine must not
    /// fake a death.
    pub fn quiet_timing(&self) -> Option<QuietTiming> {
        self.quiet_after_ms.map(|idle| QuietTiming {
            interval: Duration::from_millis(self.heartbeat_ms),
            idle_after: Duration::from_millis(idle),
            dead_after: Duration::from_millis(self.election_max_ms * 2),
            stagger: Duration::from_millis(self.election_max_ms),
        })
    }

    /// An openraft config for a group named `cluster_name`.
    pub fn config(&self, cluster_name: &str) -> Arc<Config> {
        let config = Config {
            cluster_name: cluster_name.to_string(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            enable_pre_vote: Some(true),
            install_snapshot_timeout: 120_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every_entries),
            max_in_snapshot_log_to_keep: self.keep_entries_behind_snapshot,
            purge_batch_size: (self.snapshot_every_entries / 4).clamp(1, 256),
            ..Default::default()
        };
        Arc::new(
            config
                .validate()
                .expect("infallible: the tuning keeps heartbeat below election timeout"),
        )
    }
}
