//! The key-value engine contract and its two implementations.
//!
//! Contract, which the Raft log store relies on:
//! - `write` applies a batch atomically: after a crash either all of it or none of it
//!   is visible. It is *not* durable by itself. A concurrent reader may see a batch's
//!   operations land one by one, so writers publish what they wrote (a shard's tip, an
//!   applied index) only once `write` has returned, and readers stay below it.
//! - `flush` makes every write that returned before the call durable. Once a flush
//!   fails the engine is poisoned: every later flush fails too, because the state of the
//!   failed writes on disk is unknown and must never be reported as durable.
//! - Reads see every write that returned, flushed or not.

use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::redo::{self, RedoLog};
use crate::sled_files::SledFiles;

/// One atomic group of puts and deletes.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<(Bytes, Option<Bytes>)>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    pub fn delete(&mut self, key: impl Into<Bytes>) {
        self.ops.push((key.into(), None));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// An iterator over key/value pairs in key order.
pub type KvIter<'a> = Box<dyn Iterator<Item = io::Result<(Bytes, Bytes)>> + Send + 'a>;

/// An ordered key-value store with explicit durability. See the module docs.
pub trait KvEngine: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> io::Result<Option<Bytes>>;

    /// Pairs with `start <= key < end`, ascending.
    fn scan(&self, start: &[u8], end: &[u8]) -> KvIter<'_>;

    /// Pairs with `start <= key < end`, descending.
    fn scan_rev(&self, start: &[u8], end: &[u8]) -> KvIter<'_>;

    fn write(&self, batch: WriteBatch) -> io::Result<()>;

    /// Blocks until everything written so far is durable. Called from the node's
    /// flusher on a blocking-capable thread, never from a latency-critical task.
    fn flush(&self) -> io::Result<()>;

    /// Bytes the engine occupies on disk, when it knows.
    fn size_on_disk(&self) -> Option<u64> {
        None
    }
}

/// The production engine: one sled tree. Keys of every family share the tree so one
/// atomic batch covers log entries, Raft state and indexes alike. Small batches are made
/// atomic with a redo record ([`crate::redo`]), large ones with sled's `apply_batch`.
///
/// sled's `flush` alone is not durable (see [`crate::sled_files`]), so a flush here also
/// syncs the files sled wrote.
pub struct SledEngine {
    db: sled::Db,
    tree: sled::Tree,
    redo: RedoLog,
    files: SledFiles,
    poisoned: AtomicBool,
}

impl SledEngine {
    /// Opens (or creates) the database in `dir`. sled's own periodic flush is off: the
    /// node flushes explicitly, so durability has one owner.
    pub fn open(dir: &Path, cache_bytes: u64) -> io::Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(sled_error)?;
        let tree = db.open_tree("strait").map_err(sled_error)?;
        let redo = RedoLog::open(&db).map_err(sled_error)?;
        let replayed = redo.replay(&tree)?;
        if replayed > 0 {
            tracing::info!(replayed, "completed write batches interrupted by a crash");
        }
        let files = SledFiles::open(dir)?;
        Ok(Self {
            db,
            tree,
            redo,
            files,
            poisoned: AtomicBool::new(false),
        })
    }

    /// Blob files fsynced one by one so far, and flushes that fell back to syncing the
    /// whole file system (see [`crate::sled_files`]): a diagnostic for the flush path.
    pub fn sync_counts(&self) -> (u64, u64) {
        self.files.sync_counts()
    }
}

fn sled_error(e: sled::Error) -> io::Error {
    match e {
        sled::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Hands sled's buffer over without copying it: a log entry of a few hundred kilobytes
/// read for replication or a reader is then never copied on its way out.
fn ivec(v: sled::IVec) -> Bytes {
    Bytes::from_owner(v)
}

impl KvEngine for SledEngine {
    fn get(&self, key: &[u8]) -> io::Result<Option<Bytes>> {
        Ok(self.tree.get(key).map_err(sled_error)?.map(ivec))
    }

    fn scan(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        Box::new(
            self.tree
                .range(start.to_vec()..end.to_vec())
                .map(|r| r.map(|(k, v)| (ivec(k), ivec(v))).map_err(sled_error)),
        )
    }

    fn scan_rev(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        Box::new(
            self.tree
                .range(start.to_vec()..end.to_vec())
                .rev()
                .map(|r| r.map(|(k, v)| (ivec(k), ivec(v))).map_err(sled_error)),
        )
    }

    /// A lone put or delete is atomic by itself and goes straight into the tree; a small
    /// batch goes through a redo record; only a large one takes sled's `apply_batch`,
    /// whose atomicity costs two log-buffer seals and a tree-wide lock (see
    /// [`crate::redo`]). An empty batch costs nothing.
    fn write(&self, batch: WriteBatch) -> io::Result<()> {
        match batch.ops.len() {
            0 => return Ok(()),
            1 => return redo::apply_each(&self.tree, &batch.ops).map_err(sled_error),
            _ if redo::encoded_len(&batch.ops) <= redo::MAX_REDO_BYTES => {
                return self.redo.write(&self.tree, &batch.ops).map_err(sled_error);
            }
            _ => {}
        }
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k.as_ref(), v.as_ref()),
                None => b.remove(k.as_ref()),
            }
        }
        self.tree.apply_batch(b).map_err(sled_error)
    }

    fn flush(&self) -> io::Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(io::Error::other("storage poisoned by an earlier flush failure"));
        }
        let synced = self
            .files
            .sync_after(|| self.db.flush().map(drop).map_err(sled_error));
        match synced {
            Ok(()) => Ok(()),
            Err(e) => {
                self.poisoned.store(true, Ordering::Release);
                Err(e)
            }
        }
    }

    fn size_on_disk(&self) -> Option<u64> {
        self.db.size_on_disk().ok()
    }
}

/// An in-memory engine that models durability: `flush` copies the live map into the
/// durable map, and [`MemoryEngine::crash`] throws away whatever was not flushed, the
/// way a power loss would. Tests and the simulation use it in place of sled.
#[derive(Clone, Default)]
pub struct MemoryEngine {
    inner: Arc<Mutex<MemoryState>>,
}

#[derive(Default)]
struct MemoryState {
    live: BTreeMap<Bytes, Bytes>,
    durable: BTreeMap<Bytes, Bytes>,
    fail_flushes: bool,
    poisoned: bool,
}

impl MemoryEngine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every write that was not flushed.
    pub fn crash(&self) {
        let mut s = self.inner.lock().expect("memory engine lock");
        s.live = s.durable.clone();
        s.poisoned = false;
    }

    /// Makes every later flush fail, as a dying disk would.
    pub fn fail_flushes(&self, fail: bool) {
        self.inner.lock().expect("memory engine lock").fail_flushes = fail;
    }

    fn collect(&self, start: &[u8], end: &[u8], reverse: bool) -> Vec<io::Result<(Bytes, Bytes)>> {
        let s = self.inner.lock().expect("memory engine lock");
        if start >= end {
            return Vec::new();
        }
        let range = s
            .live
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
        let pairs = range.map(|(k, v)| Ok((k.clone(), v.clone())));
        if reverse {
            pairs.rev().collect()
        } else {
            pairs.collect()
        }
    }
}

impl KvEngine for MemoryEngine {
    fn get(&self, key: &[u8]) -> io::Result<Option<Bytes>> {
        Ok(self
            .inner
            .lock()
            .expect("memory engine lock")
            .live
            .get(key)
            .cloned())
    }

    fn scan(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        Box::new(self.collect(start, end, false).into_iter())
    }

    fn scan_rev(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        Box::new(self.collect(start, end, true).into_iter())
    }

    fn write(&self, batch: WriteBatch) -> io::Result<()> {
        let mut s = self.inner.lock().expect("memory engine lock");
        for (k, v) in batch.ops {
            match v {
                Some(v) => s.live.insert(k, v),
                None => s.live.remove(&k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut s = self.inner.lock().expect("memory engine lock");
        if s.fail_flushes || s.poisoned {
            s.poisoned = true;
            return Err(io::Error::other("simulated flush failure"));
        }
        s.durable = s.live.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(engine: &dyn KvEngine) {
        let mut b = WriteBatch::new();
        b.put(&b"a1"[..], &b"x"[..]);
        b.put(&b"a2"[..], &b"y"[..]);
        b.put(&b"b1"[..], &b"z"[..]);
        engine.write(b).unwrap();
        let keys: Vec<_> = engine.scan(b"a", b"b").map(|r| r.unwrap().0).collect();
        assert_eq!(keys, vec![Bytes::from_static(b"a1"), Bytes::from_static(b"a2")]);
        let rev: Vec<_> = engine.scan_rev(b"a", b"c").map(|r| r.unwrap().0).collect();
        assert_eq!(rev[0], Bytes::from_static(b"b1"));
        let mut b = WriteBatch::new();
        b.delete(&b"a1"[..]);
        engine.write(b).unwrap();
        assert_eq!(engine.get(b"a1").unwrap(), None);
        assert_eq!(engine.get(b"a2").unwrap(), Some(Bytes::from_static(b"y")));
        engine.flush().unwrap();
    }

    #[test]
    fn sled_engine_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
        exercise(&engine);
    }

    /// A value above sled's log-buffer size goes to a blob file of its own, which the
    /// flush must cover; after a reopen it reads back whole.
    #[test]
    fn sled_engine_keeps_values_larger_than_a_log_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let big: Bytes = (0..(600u32 << 10))
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        {
            let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
            let mut b = WriteBatch::new();
            b.put(&b"big"[..], big.clone());
            b.put(&b"small"[..], &b"s"[..]);
            engine.write(b).unwrap();
            engine.flush().unwrap();
            #[cfg(target_os = "linux")]
            {
                let (blob_syncs, whole_file_system_syncs) = engine.sync_counts();
                assert!(
                    blob_syncs >= 1,
                    "the flush was expected to fsync the new blob by name"
                );
                assert_eq!(whole_file_system_syncs, 0);
            }
        }
        let blobs = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert!(blobs > 0, "the large value was expected in a blob file");
        let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
        assert_eq!(engine.get(b"big").unwrap(), Some(big));
        assert_eq!(engine.get(b"small").unwrap(), Some(Bytes::from_static(b"s")));
    }

    #[test]
    fn memory_engine_meets_the_contract() {
        exercise(&MemoryEngine::new());
    }

    #[test]
    fn memory_engine_crash_loses_unflushed_writes() {
        let engine = MemoryEngine::new();
        let mut b = WriteBatch::new();
        b.put(&b"k1"[..], &b"v"[..]);
        engine.write(b).unwrap();
        engine.flush().unwrap();
        let mut b = WriteBatch::new();
        b.put(&b"k2"[..], &b"v"[..]);
        engine.write(b).unwrap();
        engine.crash();
        assert!(engine.get(b"k1").unwrap().is_some());
        assert!(engine.get(b"k2").unwrap().is_none());
    }

    #[test]
    fn a_failed_flush_poisons_the_engine() {
        let engine = MemoryEngine::new();
        engine.fail_flushes(true);
        assert!(engine.flush().is_err());
        engine.fail_flushes(false);
        assert!(
            engine.flush().is_err(),
            "a flush after a failure must not report success"
        );
    }
}
