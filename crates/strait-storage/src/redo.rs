//! Crash-atomic small batches on sled without its batch manifest.
//!
//! sled makes `apply_batch` atomic by sealing and writing its current log buffer twice
//! (before and after a manifest message) and by holding a tree-wide write lock while the
//! batch goes in. Each seal is a `pwrite`, a `sync_file_range` and a job for sled's IO
//! thread pool, which wakes every idle IO thread. For the few small keys a Raft group
//! writes per entry (a state machine's dedup record, arrival index and applied point)
//! that overhead is most of the cost of the write.
//!
//! A small batch is instead made atomic with a redo record: the whole batch is first
//! inserted, as one value, into a tree of its own under a fresh number; then its
//! operations go into the data tree one by one; then the record is removed. Each of
//! those is a single-key operation, atomic by itself, and sled recovers its log as a
//! contiguous prefix (it cuts recovery at the first torn or missing message). So after a
//! crash either none of the batch is visible, or its redo record is, or the whole batch
//! and the record's removal are. [`RedoLog::replay`] runs at open, before anything reads: it
//! applies every record left behind, in the order they were numbered, and removes it.
//! Re-applying a batch whose operations were partly or wholly applied is harmless: each
//! operation sets a key to its final value. Batches written at the same time come from
//! different Raft groups or key families; where two can touch one key (a log purge and a
//! retention trim deleting the same old entries) both delete it, in either order.
//!
//! Large batches still take `apply_batch`: their redo record would write every byte twice.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// The largest encoded batch that goes through a redo record; larger ones are worth
/// sled's own batch and are not written twice.
pub const MAX_REDO_BYTES: usize = 16 << 10;

const PUT: u8 = 1;
const DELETE: u8 = 0;

/// Numbers redo records; a number is never reused while its record may exist.
pub struct RedoLog {
    records: sled::Tree,
    next: AtomicU64,
}

impl RedoLog {
    /// Opens the redo tree. Call [`RedoLog::replay`] before using the data tree.
    pub fn open(db: &sled::Db) -> sled::Result<Self> {
        let records = db.open_tree("strait-redo")?;
        let next = match records.last()? {
            Some((k, _)) => decode_number(&k).map_or(0, |n| n + 1),
            None => 0,
        };
        Ok(Self {
            records,
            next: AtomicU64::new(next),
        })
    }

    /// Writes `ops` into `tree` atomically with respect to a crash.
    pub fn write(&self, tree: &sled::Tree, ops: &[(Bytes, Option<Bytes>)]) -> sled::Result<()> {
        let number = self.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        self.records.insert(number, encode(ops))?;
        apply_each(tree, ops)?;
        self.records.remove(number)?;
        Ok(())
    }

    /// Applies every redo record a crash left behind, oldest first, and removes it.
    /// Returns how many there were.
    pub fn replay(&self, tree: &sled::Tree) -> io::Result<usize> {
        let mut replayed = 0;
        for record in self.records.iter() {
            let (number, encoded) = record.map_err(io::Error::other)?;
            let ops = decode(&encoded)?;
            apply_each(tree, &ops).map_err(io::Error::other)?;
            self.records.remove(number).map_err(io::Error::other)?;
            replayed += 1;
        }
        Ok(replayed)
    }
}

/// Applies `ops` in order, each atomic by itself: a lone op needs nothing more.
pub fn apply_each(tree: &sled::Tree, ops: &[(Bytes, Option<Bytes>)]) -> sled::Result<()> {
    for (k, v) in ops {
        match v {
            Some(v) => tree.insert(k.as_ref(), v.as_ref()).map(drop)?,
            None => tree.remove(k.as_ref()).map(drop)?,
        }
    }
    Ok(())
}

fn decode_number(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

/// The encoded size of `ops`, to choose between a redo record and sled's batch.
pub fn encoded_len(ops: &[(Bytes, Option<Bytes>)]) -> usize {
    ops.iter()
        .map(|(k, v)| 1 + 4 + k.len() + v.as_ref().map_or(0, |v| 4 + v.len()))
        .sum()
}

/// Each op as a kind byte, a big-endian u32 key length and the key, then for a put a
/// u32 value length and the value.
fn encode(ops: &[(Bytes, Option<Bytes>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(ops));
    for (k, v) in ops {
        out.push(if v.is_some() { PUT } else { DELETE });
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        if let Some(v) = v {
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        }
    }
    out
}

fn decode(mut bytes: &[u8]) -> io::Result<Vec<(Bytes, Option<Bytes>)>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
        if bytes.len() < n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated redo record",
            ));
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    fn take_len(bytes: &mut &[u8]) -> io::Result<usize> {
        let raw = take(bytes, 4)?;
        Ok(u32::from_be_bytes(raw.try_into().expect("infallible: four bytes")) as usize)
    }
    let mut ops = Vec::new();
    while !bytes.is_empty() {
        let kind = take(&mut bytes, 1)?[0];
        let key_len = take_len(&mut bytes)?;
        let key = Bytes::copy_from_slice(take(&mut bytes, key_len)?);
        let value = match kind {
            PUT => {
                let len = take_len(&mut bytes)?;
                Some(Bytes::copy_from_slice(take(&mut bytes, len)?))
            }
            DELETE => None,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown redo operation {other}"),
                ));
            }
        };
        ops.push((key, value));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> Vec<(Bytes, Option<Bytes>)> {
        vec![
            (Bytes::from_static(b"a"), Some(Bytes::from_static(b"1"))),
            (Bytes::from_static(b"b"), None),
            (Bytes::from_static(b""), Some(Bytes::new())),
        ]
    }

    #[test]
    fn records_round_trip() {
        let encoded = encode(&ops());
        assert_eq!(encoded.len(), encoded_len(&ops()));
        assert_eq!(decode(&encoded).unwrap(), ops());
    }

    #[test]
    fn a_truncated_or_unknown_record_is_an_error_not_a_panic() {
        let encoded = encode(&ops());
        for cut in 1..encoded.len() {
            if let Ok(decoded) = decode(&encoded[..cut]) {
                assert!(decoded.len() < ops().len(), "cut {cut} decoded everything");
            }
        }
        assert!(decode(&[7, 0, 0, 0, 0]).is_err());
    }

    /// A record left behind by a crash between the record and the end of the batch is
    /// applied at the next open, and removed.
    #[test]
    fn a_record_left_by_a_crash_is_replayed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let tree = db.open_tree("data").unwrap();
            tree.insert(b"b", &b"old"[..]).unwrap();
            let redo = RedoLog::open(&db).unwrap();
            // As if the process died right after inserting the records.
            let first = vec![(Bytes::from_static(b"a"), Some(Bytes::from_static(b"1")))];
            let second = vec![
                (Bytes::from_static(b"a"), Some(Bytes::from_static(b"2"))),
                (Bytes::from_static(b"b"), None),
            ];
            redo.records.insert(0u64.to_be_bytes(), encode(&first)).unwrap();
            redo.records.insert(1u64.to_be_bytes(), encode(&second)).unwrap();
            db.flush().unwrap();
        }
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let tree = db.open_tree("data").unwrap();
        let redo = RedoLog::open(&db).unwrap();
        assert_eq!(
            redo.next.load(Ordering::Relaxed),
            2,
            "numbers continue after the last record"
        );
        assert_eq!(redo.replay(&tree).unwrap(), 2);
        assert_eq!(tree.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(tree.get(b"b").unwrap(), None);
        assert!(redo.records.is_empty());
        assert_eq!(redo.replay(&tree).unwrap(), 0);
    }

    #[test]
    fn a_write_leaves_no_record_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let tree = db.open_tree("data").unwrap();
        let redo = RedoLog::open(&db).unwrap();
        redo.write(&tree, &ops()).unwrap();
        assert_eq!(tree.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(tree.get(b"").unwrap().as_deref(), Some(&b""[..]));
        assert!(redo.records.is_empty());
    }
}
