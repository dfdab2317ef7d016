//! **Sequence numbers are unique and increase within each shard**: in read order within
//! a shard, and per partition key in the order the acknowledgments arrived. A batch
//! retried with the same producer sequence is answered with the same positions.

use std::collections::BTreeMap;

use strait_core::SequenceNumber;

use crate::history::History;

pub fn check(history: &History) -> Vec<String> {
    let mut out: Vec<String> = history
        .ack_conflicts
        .iter()
        .map(|c| format!("retried batch stored twice: {c}"))
        .collect();
    if let Some(read) = &history.read {
        let mut last: BTreeMap<&str, &str> = BTreeMap::new();
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for record in read {
            if SequenceNumber::parse(&record.sequence_number).is_err() {
                out.push(format!("malformed sequence number {:?}", record.sequence_number));
            }
            if let Some(previous) = last.insert(&record.shard_id, &record.sequence_number)
                && record.sequence_number.as_str() <= previous
            {
                out.push(format!(
                    "{}: sequence number {} read after {previous}",
                    record.shard_id, record.sequence_number
                ));
            }
            if let Some(shard) = seen.insert(&record.sequence_number, &record.shard_id) {
                out.push(format!(
                    "sequence number {} appears twice (in {shard} and {})",
                    record.sequence_number, record.shard_id
                ));
            }
        }
    }
    let mut per_key: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for ack in &history.acks {
        if let Some((shard, previous)) =
            per_key.insert(&ack.partition_key, (&ack.shard_id, &ack.sequence_number))
            && shard == ack.shard_id
            && ack.sequence_number.as_str() <= previous
        {
            out.push(format!(
                "key {}: acknowledged {} after {previous} in {shard}",
                ack.partition_key, ack.sequence_number
            ));
        }
    }
    out
}
