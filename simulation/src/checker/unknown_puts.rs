//! **A put that timed out is unknown, never absent**: the checker does not require it to
//! be missing (it may have been committed before the answer was lost), but if it appears
//! it appears once, at one position, and only for a batch that really was unresolved.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::History;

pub fn check(history: &History) -> Vec<String> {
    let Some(read) = &history.read else {
        return Vec::new();
    };
    let unknown: BTreeSet<(u32, u64)> = history.unknown.iter().copied().collect();
    let acked: BTreeSet<&[u8]> = history.acks.iter().map(|a| a.data.as_slice()).collect();
    let mut count: BTreeMap<&[u8], usize> = BTreeMap::new();
    let mut out = Vec::new();
    for record in read {
        if acked.contains(record.data.as_slice()) {
            continue;
        }
        let Some(attempt) = history.attempts.get(&record.data) else {
            continue; // reported by lineage_once
        };
        *count.entry(&record.data).or_default() += 1;
        if !unknown.contains(&(attempt.client, attempt.batch)) {
            out.push(format!(
                "{:?} is stored but its batch c{} b{} was neither acknowledged nor unresolved",
                String::from_utf8_lossy(&record.data),
                attempt.client,
                attempt.batch
            ));
        }
    }
    for (data, n) in count {
        if n > 1 {
            out.push(format!(
                "unacknowledged record {:?} stored {n} times",
                String::from_utf8_lossy(data)
            ));
        }
    }
    out
}
