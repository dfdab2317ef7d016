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
    // Where each record's bytes were found, to tell a lost record from a moved one.
    let mut found: BTreeMap<&[u8], Vec<String>> = BTreeMap::new();
    for r in read {
        found
            .entry(&r.data)
            .or_default()
            .push(format!("{} {}", r.shard_id, r.sequence_number));
    }
    let mut out = Vec::new();
    let mut lost = 0usize;
    for ack in &history.acks {
        match at.get(&(ack.shard_id.as_str(), ack.sequence_number.as_str())) {
            None => {
                lost += 1;
                let elsewhere = found
                    .get(ack.data.as_slice())
                    .map_or("nowhere".to_string(), |at| at.join(" and "));
                out.push(format!(
                    "lost acknowledged record {:?} (c{} b{}) at {} {}; its bytes read back {elsewhere}",
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
