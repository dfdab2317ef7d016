//! **A partition key's records keep their order across a reshard**: records of one key
//! acknowledged one after another appear in that order to a reader following lineage
//! (every parent read to its end before its children), even when the first went to a
//! parent and the second to a child. A write accepted by a sealed parent after its child
//! took the key's writes, or a reader that visits children first, breaks it.
//!
//! Each producer owns its keys and waits for a batch before sending the next, so the
//! order of acknowledgments is the order of writes. Order within one shard is also
//! checked by `sequence_order` (by sequence number); this module reports inversions
//! between records the reader found in different shards. The admin's barrier records
//! are left out: they share one partition key but carry explicit hash keys, one per
//! shard, so they do not follow a lineage.

use std::collections::BTreeMap;

use crate::history::{Ack, History};

pub fn check(history: &History) -> Vec<String> {
    let Some(read) = &history.read else {
        return Vec::new();
    };
    // Where the reader first met each record (duplicates are lineage_once's concern).
    let mut position: BTreeMap<&[u8], usize> = BTreeMap::new();
    for (i, record) in read.iter().enumerate() {
        position.entry(record.data.as_slice()).or_insert(i);
    }
    let mut latest: BTreeMap<&str, (usize, &Ack)> = BTreeMap::new();
    let mut out = Vec::new();
    for ack in history.acks.iter().filter(|a| a.client != 0) {
        // A lost record is acked_durable's concern.
        let Some(&at) = position.get(ack.data.as_slice()) else {
            continue;
        };
        match latest.get(ack.partition_key.as_str()) {
            Some(&(before, earlier)) if at < before => {
                if earlier.shard_id != ack.shard_id {
                    out.push(format!(
                        "key {}: {:?} ({} {}) was acknowledged after {:?} ({} {}) but read before it",
                        ack.partition_key,
                        String::from_utf8_lossy(&ack.data),
                        ack.shard_id,
                        ack.sequence_number,
                        String::from_utf8_lossy(&earlier.data),
                        earlier.shard_id,
                        earlier.sequence_number,
                    ));
                }
            }
            _ => {
                latest.insert(&ack.partition_key, (at, ack));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ReadRecord;

    fn ack(client: u32, key: &str, data: &str, shard: &str, sequence: &str) -> Ack {
        Ack {
            client,
            batch: 0,
            partition_key: key.to_string(),
            data: data.as_bytes().to_vec(),
            shard_id: shard.to_string(),
            sequence_number: sequence.to_string(),
        }
    }

    fn read(shard: &str, sequence: &str, key: &str, data: &str) -> ReadRecord {
        ReadRecord {
            shard_id: shard.to_string(),
            sequence_number: sequence.to_string(),
            partition_key: key.to_string(),
            data: data.as_bytes().to_vec(),
            arrival_ms: 0,
        }
    }

    fn history(read_order: &[(&str, &str, &str, &str)]) -> History {
        History {
            acks: vec![
                ack(1, "k", "a", "parent", "1"),
                ack(1, "other", "x", "child", "9"),
                ack(1, "k", "b", "parent", "2"),
                ack(1, "k", "c", "child", "3"),
                ack(0, "barrier", "barrier-parent", "parent", "4"),
                ack(0, "barrier", "barrier-child", "child", "5"),
            ],
            read: Some(
                read_order
                    .iter()
                    .map(|(shard, seq, key, data)| read(shard, seq, key, data))
                    .collect(),
            ),
            ..History::default()
        }
    }

    #[test]
    fn parents_read_before_children_keep_each_keys_order() {
        let h = history(&[
            ("parent", "1", "k", "a"),
            ("parent", "2", "k", "b"),
            ("parent", "4", "barrier", "barrier-parent"),
            ("child", "9", "other", "x"),
            ("child", "3", "k", "c"),
            ("child", "5", "barrier", "barrier-child"),
        ]);
        assert_eq!(check(&h), Vec::<String>::new());
    }

    #[test]
    fn children_read_first_are_reported() {
        let h = history(&[
            ("child", "5", "barrier", "barrier-child"),
            ("child", "3", "k", "c"),
            ("child", "9", "other", "x"),
            ("parent", "1", "k", "a"),
            ("parent", "2", "k", "b"),
            ("parent", "4", "barrier", "barrier-parent"),
        ]);
        let found = check(&h);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("key k: \"c\" (child 3)"), "{found:?}");
    }
}
