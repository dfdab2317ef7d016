//! What happened in a run: the event log (one line per event, the run's fingerprint)
//! and the structured history the checker reads.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A record a client asked to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub client: u32,
    pub batch: u64,
    pub partition_key: String,
}

/// A record the cluster acknowledged, in acknowledgment order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub client: u32,
    pub batch: u64,
    pub partition_key: String,
    pub data: Vec<u8>,
    pub shard_id: String,
    pub sequence_number: String,
}

/// A record the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// ApproximateArrivalTimestamp, in ms since the Unix epoch.
    pub arrival_ms: u64,
}

/// A shard as the final ListShards described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardView {
    pub shard_id: String,
    pub parents: Vec<String>,
    pub start: u128,
    pub end: u128,
    pub open: bool,
}

/// The recorded history of one run.
#[derive(Debug, Default)]
pub struct History {
    /// One line per event: `time actor text`.
    pub events: Vec<String>,
    /// Every record any client sent, by its (unique) data.
    pub attempts: BTreeMap<Vec<u8>, Attempt>,
    /// Acknowledged records, in the order the acknowledgments arrived.
    pub acks: Vec<Ack>,
    /// Batches that were never acknowledged: they may or may not be stored.
    pub unknown: Vec<(u32, u64)>,
    /// What the final reader read, if it finished.
    pub read: Option<Vec<ReadRecord>>,
    /// The stream's shards at the end, if the reader got them.
    pub shards: Option<Vec<ShardView>>,
    /// How long after healing the cluster first acknowledged a write to every shard.
    pub recovered_after: Option<Duration>,
    /// The bound on recovery the run was given.
    pub recovery_bound: Duration,
    /// A retried batch answered with a different position than before.
    pub ack_conflicts: Vec<String>,
    /// Problems the run itself noticed (a reader that could not finish, …).
    pub run_errors: Vec<String>,
    /// Nodes that lost power (each node of a simultaneous crash counts).
    pub crashes: usize,
    /// Crashes that dropped unflushed writes.
    pub lossy_crashes: usize,
    pub partitions: usize,
    /// Crashes of a node while it led the control plane or a shard.
    pub leader_kills: usize,
    pub clock_jumps: usize,
    /// Splits and merges that completed.
    pub reshards: usize,
}

impl History {
    /// Appends an event line stamped with simulated time.
    pub fn log(&mut self, at: Duration, actor: &str, text: impl AsRef<str>) {
        let mut line = String::new();
        let _ = write!(line, "{:>9.3} {actor:<9} {}", at.as_secs_f64(), text.as_ref());
        self.events.push(line);
    }

    /// The event log as one text, one event per line.
    pub fn event_log(&self) -> String {
        let mut out = String::new();
        for line in &self.events {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// The history shared by every actor of a run.
pub type SharedHistory = Arc<Mutex<History>>;

/// Simulated time now, inside a simulated host.
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}
