//! The whole keyspace of a node's database.
//!
//! Every key starts with a one-byte family tag, then the Raft group id as a big-endian
//! `u64`, so one group's data is contiguous inside each family and byte order is numeric
//! order. The tags are persisted: never renumber or reuse one.
//!
//! | family | key after the tag | value |
//! |---|---|---|
//! | [`Family::Log`] | group, log index | a Raft entry, checksummed (see `strait-raft`); from 4 KiB on, the engine keeps it in its value log and sled holds a pointer. For shard groups the entries that carry records stay after Raft purges its log: they *are* the shard's records, written once. |
//! | [`Family::RaftState`] | group, [`StateKey`] | vote, committed log id, purge point, state-machine meta (postcard) |
//! | [`Family::Arrival`] | group, arrival ms, log index | empty: the first entry at or after a time, for AT_TIMESTAMP |
//! | [`Family::EntryMeta`] | group, log index | facts about an applied entry that differ from its payload: records hidden as producer retries, an adjusted arrival time. Absent for almost every entry |
//! | [`Family::Snapshot`] | group, [`SnapshotSlot`], chunk number | a snapshot being received, or the group's persisted snapshot, checksummed |
//! | [`Family::Producer`] | group, producer id, producer sequence | where a producer's batch was committed, to drop retried duplicates |
//! | [`Family::Node`] | name | node-wide facts, e.g. that the cluster was bootstrapped |

use bytes::{BufMut, Bytes, BytesMut};

/// The key families. The discriminants are stored on disk.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Log = 0x01,
    RaftState = 0x02,
    Arrival = 0x03,
    EntryMeta = 0x04,
    Snapshot = 0x05,
    Node = 0x06,
    Producer = 0x07,
}

/// Which snapshot of a group a chunk belongs to. Stored on disk.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSlot {
    /// The group's last built or installed snapshot.
    Current = 0,
    /// A snapshot being received from a leader; promoted or dropped on install.
    Incoming = 1,
}

/// The per-group Raft state keys. Stored on disk.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKey {
    Vote = 1,
    Committed = 2,
    Purged = 3,
    Applied = 4,
    SnapshotMeta = 5,
    /// The last log id a replica held when its copy was deleted (see
    /// `strait_raft::log_store::LogStore::record_retirement`).
    Retired = 6,
}

/// Families holding per-group data, in the order a group is wiped. Raft state goes last:
/// a node finds the groups it holds by their Raft state keys, so a wipe cut short by a
/// crash leaves the group found, and wiped again, rather than leftovers nobody owns (a
/// new replica of the group would inherit them: old producer entries hid its records as
/// retries).
pub const GROUP_FAMILIES: [Family; 6] = [
    Family::Log,
    Family::Arrival,
    Family::EntryMeta,
    Family::Snapshot,
    Family::Producer,
    Family::RaftState,
];

fn group_key(family: Family, group: u64, extra: usize) -> BytesMut {
    let mut k = BytesMut::with_capacity(9 + extra);
    k.put_u8(family as u8);
    k.put_u64(group);
    k
}

/// `[Log][group][index]`.
pub fn log(group: u64, index: u64) -> Bytes {
    let mut k = group_key(Family::Log, group, 8);
    k.put_u64(index);
    k.freeze()
}

/// Decodes the log index from a [`log`] key.
pub fn log_index(key: &[u8]) -> Option<u64> {
    (key.len() == 17 && key[0] == Family::Log as u8)
        .then(|| u64::from_be_bytes(key[9..17].try_into().expect("infallible: length checked")))
}

/// `[RaftState][group][kind]`.
pub fn state(group: u64, kind: StateKey) -> Bytes {
    let mut k = group_key(Family::RaftState, group, 1);
    k.put_u8(kind as u8);
    k.freeze()
}

/// `[Arrival][group][arrival_ms][index]`.
pub fn arrival(group: u64, arrival_ms: u64, index: u64) -> Bytes {
    let mut k = group_key(Family::Arrival, group, 16);
    k.put_u64(arrival_ms);
    k.put_u64(index);
    k.freeze()
}

/// Decodes `(arrival_ms, index)` from an [`arrival`] key.
pub fn arrival_parts(key: &[u8]) -> Option<(u64, u64)> {
    (key.len() == 25 && key[0] == Family::Arrival as u8).then(|| {
        (
            u64::from_be_bytes(key[9..17].try_into().expect("infallible: length checked")),
            u64::from_be_bytes(key[17..25].try_into().expect("infallible: length checked")),
        )
    })
}

/// `[EntryMeta][group][index]`.
pub fn entry_meta(group: u64, index: u64) -> Bytes {
    let mut k = group_key(Family::EntryMeta, group, 8);
    k.put_u64(index);
    k.freeze()
}

/// Decodes the log index from an [`entry_meta`] key.
pub fn entry_meta_index(key: &[u8]) -> Option<u64> {
    (key.len() == 17 && key[0] == Family::EntryMeta as u8)
        .then(|| u64::from_be_bytes(key[9..17].try_into().expect("infallible: length checked")))
}

/// `[Snapshot][group][slot][chunk]`.
pub fn snapshot_chunk(group: u64, slot: SnapshotSlot, chunk: u64) -> Bytes {
    let mut k = group_key(Family::Snapshot, group, 9);
    k.put_u8(slot as u8);
    k.put_u64(chunk);
    k.freeze()
}

/// The key range `[start, end)` of one snapshot slot of a group.
pub fn snapshot_slot_range(group: u64, slot: SnapshotSlot) -> (Bytes, Bytes) {
    (snapshot_chunk(group, slot, 0), {
        let mut k = group_key(Family::Snapshot, group, 1);
        k.put_u8(slot as u8 + 1);
        k.freeze()
    })
}

/// `[Producer][group][producer][sequence]`.
pub fn producer(group: u64, producer: u64, sequence: u64) -> Bytes {
    let mut k = group_key(Family::Producer, group, 16);
    k.put_u64(producer);
    k.put_u64(sequence);
    k.freeze()
}

/// Decodes `(producer, sequence)` from a [`producer`] key.
pub fn producer_parts(key: &[u8]) -> Option<(u64, u64)> {
    (key.len() == 25 && key[0] == Family::Producer as u8).then(|| {
        (
            u64::from_be_bytes(key[9..17].try_into().expect("infallible: length checked")),
            u64::from_be_bytes(key[17..25].try_into().expect("infallible: length checked")),
        )
    })
}

/// `[Node][name]`.
pub fn node(name: &str) -> Bytes {
    let mut k = BytesMut::with_capacity(1 + name.len());
    k.put_u8(Family::Node as u8);
    k.put_slice(name.as_bytes());
    k.freeze()
}

/// The half-open key range `[start, end)` of one group inside one family.
pub fn group_range(family: Family, group: u64) -> (Bytes, Bytes) {
    let start = group_key(family, group, 0).freeze();
    let end = match group.checked_add(1) {
        Some(next) => group_key(family, next, 0).freeze(),
        None => Bytes::from(vec![family as u8 + 1]),
    };
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn log_keys_sort_by_group_then_index(g1 in any::<u64>(), i1 in any::<u64>(), g2 in any::<u64>(), i2 in any::<u64>()) {
            prop_assert_eq!(log(g1, i1).cmp(&log(g2, i2)), (g1, i1).cmp(&(g2, i2)));
            prop_assert_eq!(log_index(&log(g1, i1)), Some(i1));
        }

        #[test]
        fn arrival_keys_round_trip(g in any::<u64>(), t in any::<u64>(), i in any::<u64>()) {
            prop_assert_eq!(arrival_parts(&arrival(g, t, i)), Some((t, i)));
        }

        #[test]
        fn group_range_holds_exactly_the_group(g in any::<u64>(), i in any::<u64>(), other in any::<u64>()) {
            let (start, end) = group_range(Family::Log, g);
            let k = log(g, i);
            prop_assert!(start <= k && k < end);
            if other != g {
                let o = log(other, i);
                prop_assert!(!(start <= o && o < end));
            }
        }
    }
}
