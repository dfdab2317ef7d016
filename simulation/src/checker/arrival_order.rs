//! **Arrival timestamps never go backwards within a shard**, whatever the leaders'
//! clocks do: a shard's state machine applies `max(leader's clock, previous arrival)`,
//! in the replicated apply path, so every replica stores the same non-decreasing
//! ApproximateArrivalTimestamp even after a clock jumps back or leadership moves to a
//! node whose clock is behind.
//!
//! Across a reshard nothing is promised: a child's first arrival comes from its own
//! leader's clock and may be earlier than its parent's last (Kinesis promises no more).
//! Arrival times are not compared with the simulation's own time either, since a
//! leader's clock may legitimately be off by the size of a jump.

use std::collections::BTreeMap;

use crate::history::{History, ReadRecord};

pub fn check(history: &History) -> Vec<String> {
    let Some(read) = &history.read else {
        return Vec::new();
    };
    let mut last: BTreeMap<&str, &ReadRecord> = BTreeMap::new();
    let mut out = Vec::new();
    for record in read {
        if let Some(previous) = last.insert(&record.shard_id, record)
            && record.arrival_ms < previous.arrival_ms
        {
            out.push(format!(
                "{}: {} arrived at {} ms, {} ms before the record read before it ({} at {} ms)",
                record.shard_id,
                record.sequence_number,
                record.arrival_ms,
                previous.arrival_ms - record.arrival_ms,
                previous.sequence_number,
                previous.arrival_ms
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(shard: &str, sequence: &str, arrival_ms: u64) -> ReadRecord {
        ReadRecord {
            shard_id: shard.to_string(),
            sequence_number: sequence.to_string(),
            partition_key: "k".to_string(),
            data: sequence.as_bytes().to_vec(),
            arrival_ms,
        }
    }

    #[test]
    fn a_timestamp_going_back_within_a_shard_is_reported_but_not_across_shards() {
        let history = History {
            read: Some(vec![
                record("shard-0", "1", 500),
                record("shard-0", "2", 500),
                record("shard-1", "3", 100),
                record("shard-0", "4", 400),
            ]),
            ..History::default()
        };
        let found = check(&history);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("shard-0: 4 arrived at 400 ms"), "{found:?}");
    }
}
