//! **Every acknowledged record is readable at its sequence number with its exact
//! bytes**: the reader finds, in the shard the acknowledgment named and at the sequence
//! number it returned, a record with the same partition key and data.

use std::collections::BTreeMap;

use crate::history::{History, ReadRecord};

pub fn check(history: &History) -> Vec<String> {
    let Some(read) = &history.read else {
        return Vec::new();
    };
    let at: BTreeMap<(&str, &str), &ReadRecord> = read
        .iter()
        .map(|r| ((r.shard_id.as_str(), r.sequence_number.as_str()), r))
        .collect();
    let mut out = Vec::new();
    let mut lost = 0usize;
    for ack in &history.acks {
        match at.get(&(ack.shard_id.as_str(), ack.sequence_number.as_str())) {
            None => {
                lost += 1;
                out.push(format!(
                    "lost acknowledged record {:?} (c{} b{}) at {} {}",
                    String::from_utf8_lossy(&ack.data),
                    ack.client,
                    ack.batch,
                    ack.shard_id,
                    ack.sequence_number
                ));
            }
            Some(record) if record.data != ack.data || record.partition_key != ack.partition_key => {
                out.push(format!(
                    "at {} {} the acknowledged record {:?}/{:?} reads back as {:?}/{:?}",
                    ack.shard_id,
                    ack.sequence_number,
                    ack.partition_key,
                    String::from_utf8_lossy(&ack.data),
                    record.partition_key,
                    String::from_utf8_lossy(&record.data)
                ));
            }
            Some(_) => {}
        }
    }
    if lost > 0 {
        out.insert(
            0,
            format!("{lost} of {} acknowledged records lost", history.acks.len()),
        );
    }
    out
}
