//! **A reader following lineage sees every acknowledged record exactly once**, and never
//! a record nobody wrote.

use std::collections::BTreeMap;

use crate::history::History;

pub fn check(history: &History) -> Vec<String> {
    let Some(read) = &history.read else {
        return Vec::new();
    };
    let mut copies: BTreeMap<&[u8], Vec<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for record in read {
        copies
            .entry(&record.data)
            .or_default()
            .push(format!("{} {}", record.shard_id, record.sequence_number));
        if !history.attempts.contains_key(&record.data) {
            out.push(format!(
                "{} {} holds {:?}, which no client wrote",
                record.shard_id,
                record.sequence_number,
                String::from_utf8_lossy(&record.data)
            ));
        }
    }
    for ack in &history.acks {
        match copies.get(ack.data.as_slice()) {
            // None is reported by acked_durable.
            None => {}
            Some(at) if at.len() == 1 => {}
            Some(at) => out.push(format!(
                "acknowledged record {:?} read {} times, at {} (acknowledged at {} {})",
                String::from_utf8_lossy(&ack.data),
                at.len(),
                at.join(" and "),
                ack.shard_id,
                ack.sequence_number
            )),
        }
    }
    out
}
