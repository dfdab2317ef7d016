//! The history a chaos run records: what the workload did and saw, and when the faults
//! happened. Written as JSON lines by the workload and as JSON by the orchestrator, so a run
//! can be checked again later (`chaos check DIR`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: the one clock shared by the workload process and the
/// orchestrator, which run on the same machine.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// One PutRecords call by a producer: `ok` when every entry was stored.
    Attempt {
        producer: u32,
        start: u64,
        end: u64,
        node: usize,
        ok: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
    /// A record the cluster acknowledged, with where it says it stored it. Emitted in the
    /// order the producer received the acknowledgements.
    Ack {
        producer: u32,
        /// When the producer first sent the batch holding this record.
        invoke: u64,
        at: u64,
        key: String,
        data: String,
        shard: String,
        seq: String,
    },
    /// A record whose outcome the producer never learned (it stopped retrying): it may or
    /// may not be stored, but at most once.
    Unknown {
        producer: u32,
        key: String,
        data: String,
    },
    /// One GetRecords answer of the continuous reader that returned records.
    Read {
        at: u64,
        shard: String,
        /// (sequence number, data), in the order returned.
        records: Vec<(String, String)>,
    },
    /// Every record of one shard, read from TRIM_HORIZON after the faults were healed.
    Final {
        shard: String,
        /// (sequence number, partition key, data), in shard order.
        records: Vec<(String, String, String)>,
    },
}

/// One fault the orchestrator injected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// kill9, pause, partition, rolling-restart, restart, disk-full.
    pub kind: String,
    /// The node it hit (0 for all of them).
    pub node: usize,
    pub start: u64,
    /// When the fault was removed (node restarted, resumed, rejoined, space freed).
    pub healed: u64,
    /// When every node reported the cluster ready again and writes were being acknowledged.
    pub recovered: u64,
    /// Records acknowledged between `start` and `healed`.
    pub acked_during: u64,
}

/// Reads `history.jsonl`.
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut events = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        events.push(serde_json::from_str(&line).with_context(|| format!("{}:{}", path.display(), n + 1))?);
    }
    Ok(events)
}

/// Writes one event as a line.
pub fn write_event(out: &mut impl Write, event: &Event) -> Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")?;
    Ok(())
}
