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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::keys::Family;
use crate::lock;
use crate::redo::{self, RedoLog};
use crate::sled_files::SledFiles;
use crate::value_log::{ValueLog, ValuePointer};

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

/// An iterator over keys in key order.
pub type KeyIter<'a> = Box<dyn Iterator<Item = io::Result<Bytes>> + Send + 'a>;

/// An ordered key-value store with explicit durability. See the module docs.
pub trait KvEngine: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> io::Result<Option<Bytes>>;

    /// Pairs with `start <= key < end`, ascending.
    fn scan(&self, start: &[u8], end: &[u8]) -> KvIter<'_>;

    /// Pairs with `start <= key < end`, descending.
    fn scan_rev(&self, start: &[u8], end: &[u8]) -> KvIter<'_>;

    /// Keys with `start <= key < end`, ascending, for callers that delete or count:
    /// an engine that keeps values apart (sled's value log) need not read them.
    fn scan_keys(&self, start: &[u8], end: &[u8]) -> KeyIter<'_> {
        Box::new(self.scan(start, end).map(|pair| pair.map(|(key, _)| key)))
    }

    fn write(&self, batch: WriteBatch) -> io::Result<()>;

    /// Blocks until everything written so far is durable. Called from the node's
    /// flusher on a blocking-capable thread, never from a latency-critical task.
    fn flush(&self) -> io::Result<()>;

    /// Bytes the engine occupies on disk, when it knows.
    fn size_on_disk(&self) -> Option<u64> {
        None
    }
}

/// The production engine: one sled tree, plus a value log for large Raft entries. Keys of
/// every family share the tree so one atomic batch covers log entries, Raft state and
/// indexes alike. Small batches are made atomic with a redo record ([`crate::redo`]),
/// large ones with sled's `apply_batch`.
///
/// **Large values.** A log entry of [`SEPARATE_FROM`] bytes or more is appended once to
/// the value log ([`crate::value_log`]) and sled stores a pointer to it, so sled never
/// writes those bytes as blobs nor rewrites them with its leaves. A pointer must never
/// become durable before the bytes it names, and sled writes its log back whenever it
/// likes; so a batch holding such a value is not given to sled at once. It waits, readable,
/// in a deferred generation, and every later write joins it (sled recovers a prefix of
/// what it was given, and that prefix must stay a prefix of what callers wrote). `flush`
/// seals the generation, syncs the value log, hands the generation's batches to sled in
/// their order, and then makes sled durable; what was written meanwhile follows it into
/// sled at once when it holds no large value, so a node that writes no large values
/// writes straight to sled again after one flush.
///
/// sled's `flush` alone is not durable (see [`crate::sled_files`]), so a flush here also
/// syncs the files sled wrote.
pub struct SledEngine {
    inner: Arc<SledInner>,
    collector: Option<Collector>,
}

/// The value-log collector thread, stopped and joined when the engine is dropped, so
/// that sled is closed once the drop returns.
struct Collector {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for SledEngine {
    fn drop(&mut self) {
        if let Some(Collector { stop, thread }) = self.collector.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

struct SledInner {
    db: sled::Db,
    tree: sled::Tree,
    redo: RedoLog,
    files: SledFiles,
    values: ValueLog,
    deferred: RwLock<Deferred>,
    /// One flush at a time: a flush moves deferred generations into sled in order.
    flush_lock: Mutex<()>,
    /// Log keys deleted so far, so the collector only scans after something could have
    /// freed a segment.
    log_deletes: AtomicU64,
    poisoned: AtomicBool,
}

/// Log entries at least this large are kept in the value log, not in sled's pages: a
/// batch of records, as opposed to a single small put.
pub const SEPARATE_FROM: usize = 4 << 10;

/// How often the collector looks for value-log segments nothing points at, when log
/// entries were deleted meanwhile. Each look reads every log key (see
/// [`SledInner::collect_garbage`]).
const COLLECT_EVERY: Duration = Duration::from_secs(60);

/// Every this many periods the collector looks even without deletions: a snapshot
/// install overwrites entries in place, and a restart forgets the count.
const COLLECT_ANYWAY_EVERY: u64 = 10;

/// After a collection that took `d`, the next waits at least `d` times this: on a node
/// holding so many entries that a scan takes long, collection stays under about 5% of a
/// core, and disk space comes back later instead.
const COLLECT_COST_FACTOR: u32 = 20;

/// How often a read follows a key whose value moved into a collected segment while it
/// was read, before it gives up (each time needs a deletion racing the read).
const RESOLVE_ATTEMPTS: usize = 4;

/// The first byte of every value in sled's tree: the value itself follows, or a pointer
/// into the value log.
const STORED_INLINE: u8 = 0;
const STORED_POINTER: u8 = 1;

/// Marks a database whose values carry the tag above.
const FORMAT_TREE: &str = "strait-format";
const FORMAT_KEY: &[u8] = b"stored-values";
const FORMAT_TAGGED: &[u8] = b"tagged-1";

impl SledEngine {
    /// Opens (or creates) the database in `dir`. sled's own periodic flush is off: the
    /// node flushes explicitly, so durability has one owner.
    pub fn open(dir: &Path, cache_bytes: u64) -> io::Result<Self> {
        Self::open_tuned(dir, cache_bytes, crate::value_log::SEGMENT_BYTES, COLLECT_EVERY)
    }

    fn open_tuned(
        dir: &Path,
        cache_bytes: u64,
        segment_bytes: u64,
        collect_every: Duration,
    ) -> io::Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(sled_error)?;
        let tree = db.open_tree("strait").map_err(sled_error)?;
        check_format(&db, &tree)?;
        let redo = RedoLog::open(&db).map_err(sled_error)?;
        let replayed = redo.replay(&tree)?;
        if replayed > 0 {
            tracing::info!(replayed, "completed write batches interrupted by a crash");
        }
        let files = SledFiles::open(dir)?;
        let values = ValueLog::open(&dir.join("values"), segment_bytes)?;
        let inner = Arc::new(SledInner {
            db,
            tree,
            redo,
            files,
            values,
            deferred: RwLock::new(Deferred::default()),
            flush_lock: Mutex::new(()),
            log_deletes: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
        });
        let collector = start_collector(Arc::downgrade(&inner), collect_every)?;
        Ok(Self {
            inner,
            collector: Some(collector),
        })
    }

    /// Blob files fsynced one by one so far, and flushes that fell back to syncing the
    /// whole file system (see [`crate::sled_files`]): a diagnostic for the flush path.
    pub fn sync_counts(&self) -> (u64, u64) {
        self.inner.files.sync_counts()
    }

    /// Deletes the value-log segments no stored pointer names any more, and returns how
    /// many. Runs on its own every [`COLLECT_EVERY`] once log entries were deleted.
    pub fn collect_garbage(&self) -> io::Result<usize> {
        self.inner.collect_garbage()
    }
}

/// A database written before values were tagged would be misread: refuse it clearly.
fn check_format(db: &sled::Db, tree: &sled::Tree) -> io::Result<()> {
    let format = db.open_tree(FORMAT_TREE).map_err(sled_error)?;
    match format.get(FORMAT_KEY).map_err(sled_error)? {
        Some(v) if v.as_ref() == FORMAT_TAGGED => Ok(()),
        Some(v) => Err(io::Error::other(format!(
            "the database stores values as {:?}, which this version of Strait does not read",
            String::from_utf8_lossy(&v)
        ))),
        None if tree.is_empty() => {
            format.insert(FORMAT_KEY, FORMAT_TAGGED).map_err(sled_error)?;
            Ok(())
        }
        None => Err(io::Error::other(
            "the database was written by an earlier version of Strait whose stored values this \
             version does not read; start this node on an empty data directory",
        )),
    }
}

/// The collector thread: wakes every `every`, and stops once the engine is dropped.
fn start_collector(inner: Weak<SledInner>, every: Duration) -> io::Result<Collector> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("strait-values-gc".into())
        .spawn(move || {
            let mut deletes_seen = 0;
            let mut periods = 0u64;
            let mut not_before = Instant::now();
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let Some(inner) = inner.upgrade() else { return };
                periods += 1;
                let deletes = inner.log_deletes.load(Ordering::Relaxed);
                if deletes == deletes_seen && periods % COLLECT_ANYWAY_EVERY != 1 {
                    continue;
                }
                if Instant::now() < not_before {
                    continue;
                }
                deletes_seen = deletes;
                let started = Instant::now();
                let collected = inner.collect_garbage();
                not_before = Instant::now() + started.elapsed() * COLLECT_COST_FACTOR;
                match collected {
                    Ok(0) => {}
                    Ok(removed) => tracing::debug!(removed, "removed value-log segments nothing points at"),
                    Err(e) => tracing::warn!(error = %e, "could not collect value-log segments"),
                }
            }
        })?;
    Ok(Collector { stop, thread })
}

fn sled_error(e: sled::Error) -> io::Error {
    match e {
        sled::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Hands sled's buffer over without copying it: a log entry read for replication or a
/// reader is then never copied on its way out.
fn ivec(v: sled::IVec) -> Bytes {
    Bytes::from_owner(v)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One operation as the engine holds it until sled has it: the caller's value, and where
/// the value log put it when it went there.
struct Op {
    key: Bytes,
    value: Option<Bytes>,
    pointer: Option<ValuePointer>,
}

impl Op {
    /// What sled stores for this operation.
    fn stored(&self) -> Option<Bytes> {
        let value = self.value.as_ref()?;
        Some(match self.pointer {
            Some(pointer) => {
                let mut out = BytesMut::with_capacity(1 + ValuePointer::ENCODED_LEN);
                out.put_u8(STORED_POINTER);
                pointer.encode_into(&mut out);
                out.freeze()
            }
            None => {
                let mut out = BytesMut::with_capacity(1 + value.len());
                out.put_u8(STORED_INLINE);
                out.put_slice(value);
                out.freeze()
            }
        })
    }
}

fn is_log_key(key: &[u8]) -> bool {
    key.first() == Some(&(Family::Log as u8))
}

fn separates(key: &[u8], value: Option<&Bytes>) -> bool {
    value.is_some_and(|v| v.len() >= SEPARATE_FROM) && is_log_key(key)
}

/// Batches written since the last flush sealed them, in order, with the latest value of
/// each key they touch for reads.
#[derive(Default)]
struct Generation {
    batches: Vec<Vec<Op>>,
    latest: BTreeMap<Bytes, Option<Bytes>>,
    /// Operations that point into the value log.
    pointers: usize,
}

/// Writes the engine holds back from sled until a flush: the open generation, and the
/// sealed ones a flush is moving into sled.
#[derive(Default)]
struct Deferred {
    sealed: Vec<Arc<Generation>>,
    open: Generation,
}

impl Deferred {
    fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.batches.is_empty()
    }

    fn push(&mut self, ops: Vec<Op>) {
        for op in &ops {
            self.open.latest.insert(op.key.clone(), op.value.clone());
            self.open.pointers += usize::from(op.pointer.is_some());
        }
        self.open.batches.push(ops);
    }

    /// `Some(None)` for a key deleted here, `None` for a key this does not touch.
    fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        std::iter::once(&self.open)
            .chain(self.sealed.iter().rev().map(|g| g.as_ref()))
            .find_map(|g| g.latest.get(key).cloned())
    }

    /// The latest value of every key in `[start, end)`, ascending.
    fn range(&self, start: &[u8], end: &[u8]) -> Vec<(Bytes, Option<Bytes>)> {
        if start >= end || self.is_empty() {
            return Vec::new();
        }
        let mut merged = BTreeMap::new();
        for generation in self
            .sealed
            .iter()
            .map(|g| g.as_ref())
            .chain(std::iter::once(&self.open))
        {
            let range = generation
                .latest
                .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
            merged.extend(range.map(|(k, v)| (k.clone(), v.clone())));
        }
        merged.into_iter().collect()
    }

    /// Seals the open generation and returns every sealed one, oldest first.
    fn seal(&mut self) -> Vec<Arc<Generation>> {
        if !self.open.batches.is_empty() {
            self.sealed.push(Arc::new(std::mem::take(&mut self.open)));
        }
        self.sealed.clone()
    }
}

/// A value read from sled (still tagged), or one still held back from it.
enum Found {
    Stored(sled::IVec),
    Deferred(Bytes),
}

type RawIter<'a> = Box<dyn Iterator<Item = io::Result<(Bytes, Found)>> + Send + 'a>;

/// sled's pairs with the deferred writes laid over them, in the scan's direction.
struct Overlaid<'a> {
    stored: std::iter::Peekable<RawIter<'a>>,
    deferred: std::iter::Peekable<std::vec::IntoIter<(Bytes, Option<Bytes>)>>,
    reverse: bool,
}

impl Iterator for Overlaid<'_> {
    type Item = io::Result<(Bytes, Found)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.stored.peek(), self.deferred.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) | (Some(Ok(_)), None) => return self.stored.next(),
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(Ok((stored, _))), Some((deferred, _))) => {
                    let order = deferred.as_ref().cmp(stored.as_ref());
                    if self.reverse { order.reverse() } else { order }
                }
            };
            match order {
                std::cmp::Ordering::Greater => return self.stored.next(),
                std::cmp::Ordering::Equal | std::cmp::Ordering::Less => {
                    if order == std::cmp::Ordering::Equal {
                        self.stored.next();
                    }
                    let (key, value) = self.deferred.next().expect("infallible: peeked");
                    if let Some(value) = value {
                        return Some(Ok((key, Found::Deferred(value))));
                    }
                }
            }
        }
    }
}

impl SledInner {
    /// What a read finds under `key` now: a deferred write, or sled's stored form.
    fn lookup(&self, key: &[u8]) -> io::Result<Option<Found>> {
        if let Some(deferred) = read(&self.deferred).get(key) {
            return Ok(deferred.map(Found::Deferred));
        }
        Ok(self.tree.get(key).map_err(sled_error)?.map(Found::Stored))
    }

    /// The value a read found under `key`, or `None` when the key was deleted while the
    /// read held its pointer. The collector removes a segment only once no key names it,
    /// so a reader that found a pointer just before its key was deleted can reach the
    /// segment after it is gone: the key is then looked up again, and the read answers
    /// as if it had come after the deletion. A key that still names a missing segment is
    /// corruption, not a race.
    fn resolve(&self, key: &[u8], found: Found) -> io::Result<Option<Bytes>> {
        let mut found = found;
        for _ in 0..RESOLVE_ATTEMPTS {
            let stored = match found {
                Found::Deferred(value) => return Ok(Some(value)),
                Found::Stored(stored) => stored,
            };
            let gone = match self.resolve_stored(&stored) {
                Ok(value) => return Ok(Some(value)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => e,
                Err(e) => return Err(e),
            };
            found = match self.lookup(key)? {
                None => return Ok(None),
                Some(Found::Stored(now)) if now == stored => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, gone.to_string()));
                }
                Some(now) => now,
            };
        }
        Err(io::Error::other(format!(
            "the value under a key changed {RESOLVE_ATTEMPTS} times while it was read, each time into a collected segment"
        )))
    }

    /// The caller's value of something sled stores.
    fn resolve_stored(&self, stored: &sled::IVec) -> io::Result<Bytes> {
        match stored.first() {
            Some(&STORED_INLINE) => Ok(ivec(stored.clone()).slice(1..)),
            Some(&STORED_POINTER) => self.values.read(ValuePointer::decode(&stored[1..])?),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stored value with an unknown tag",
            )),
        }
    }

    fn scan(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_> {
        Box::new(self.scan_raw(start, end, reverse).filter_map(|pair| match pair {
            Ok((key, found)) => match self.resolve(&key, found) {
                Ok(Some(value)) => Some(Ok((key, value))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        }))
    }

    /// sled's pairs with the deferred writes laid over them, values not yet resolved.
    fn scan_raw(&self, start: &[u8], end: &[u8], reverse: bool) -> RawIter<'_> {
        let deferred = read(&self.deferred).range(start, end);
        let range = self.tree.range(start.to_vec()..end.to_vec());
        let stored: RawIter<'_> = if reverse {
            Box::new(
                range
                    .rev()
                    .map(|r| r.map(|(k, v)| (ivec(k), Found::Stored(v))).map_err(sled_error)),
            )
        } else {
            Box::new(range.map(|r| r.map(|(k, v)| (ivec(k), Found::Stored(v))).map_err(sled_error)))
        };
        if deferred.is_empty() {
            return stored;
        }
        let mut deferred = deferred;
        if reverse {
            deferred.reverse();
        }
        Box::new(Overlaid {
            stored: stored.peekable(),
            deferred: deferred.into_iter().peekable(),
            reverse,
        })
    }

    /// Gives sled one batch, atomically. A lone put or delete is atomic by itself and
    /// goes straight into the tree; a small batch goes through a redo record; only a
    /// large one takes sled's `apply_batch`, whose atomicity costs two log-buffer seals
    /// and a tree-wide lock (see [`crate::redo`]).
    fn write_to_sled<'a>(&self, ops: impl IntoIterator<Item = &'a Op>) -> io::Result<()> {
        let mut deletes = 0;
        let ops: Vec<(Bytes, Option<Bytes>)> = ops
            .into_iter()
            .inspect(|op| deletes += u64::from(op.value.is_none() && is_log_key(&op.key)))
            .map(|op| (op.key.clone(), op.stored()))
            .collect();
        if deletes > 0 {
            self.log_deletes.fetch_add(deletes, Ordering::Relaxed);
        }
        match ops.len() {
            0 => return Ok(()),
            1 => return redo::apply_each(&self.tree, &ops).map_err(sled_error),
            _ if redo::encoded_len(&ops) <= redo::MAX_REDO_BYTES => {
                return self.redo.write(&self.tree, &ops).map_err(sled_error);
            }
            _ => {}
        }
        let mut b = sled::Batch::default();
        for (k, v) in ops {
            match v {
                Some(v) => b.insert(k.as_ref(), v.as_ref()),
                None => b.remove(k.as_ref()),
            }
        }
        self.tree.apply_batch(b).map_err(sled_error)
    }

    fn write(&self, batch: WriteBatch) -> io::Result<()> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let to_separate: Vec<&Bytes> = batch
            .ops
            .iter()
            .filter(|(k, v)| separates(k, v.as_ref()))
            .filter_map(|(_, v)| v.as_ref())
            .collect();
        if to_separate.is_empty() {
            let ops: Vec<Op> = batch
                .ops
                .into_iter()
                .map(|(key, value)| Op {
                    key,
                    value,
                    pointer: None,
                })
                .collect();
            let deferred = read(&self.deferred);
            if deferred.is_empty() {
                // Under the read lock, so no flush seals a generation in between and
                // this write cannot overtake a deferred one.
                return self.write_to_sled(&ops);
            }
            drop(deferred);
            write(&self.deferred).push(ops);
            return Ok(());
        }
        // The generation learns of the pointers while the value log is still locked: a
        // collection that looks at the sealed segments afterwards knows every pointer
        // into them is deferred or in sled.
        let ops = &batch.ops;
        self.values.append(&to_separate, |pointers| {
            let mut pointers = pointers.into_iter();
            let ops = ops
                .iter()
                .map(|(key, value)| Op {
                    key: key.clone(),
                    value: value.clone(),
                    pointer: if separates(key, value.as_ref()) {
                        pointers.next()
                    } else {
                        None
                    },
                })
                .collect();
            write(&self.deferred).push(ops);
        })
    }

    fn flush(&self) -> io::Result<()> {
        let _one_at_a_time = lock(&self.flush_lock);
        if self.poisoned.load(Ordering::Acquire) {
            return Err(io::Error::other("storage poisoned by an earlier flush failure"));
        }
        let sealed = write(&self.deferred).seal();
        let result = (|| {
            // The bytes first: only then may sled hold pointers to them.
            self.values.sync()?;
            // A generation goes in as one atomic batch: a crash then keeps all of it or
            // none, still a prefix of what was written, for one sled batch per flush
            // instead of a redo record per write.
            for generation in &sealed {
                self.write_to_sled(generation.batches.iter().flatten())?;
            }
            if !sealed.is_empty() {
                let mut deferred = write(&self.deferred);
                deferred.sealed.drain(..sealed.len());
                // What came meanwhile follows at once if it needs no value-log sync, so
                // the node goes back to writing straight to sled. Under the lock: no
                // write may overtake it.
                if deferred.open.pointers == 0 && !deferred.open.batches.is_empty() {
                    self.write_to_sled(deferred.open.batches.iter().flatten())?;
                    deferred.open = Generation::default();
                }
            }
            self.files
                .sync_after(|| self.db.flush().map(drop).map_err(sled_error))
        })();
        if result.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        result
    }

    /// Mark and sweep. The candidates are the sealed segments; every pointer into them
    /// is deferred or in sled by the time they are listed (see [`SledInner::write`]). A
    /// flush moves the deferred ones into sled, a scan of the log keys finds the
    /// segments still named, and a second flush makes the deletions that scan saw
    /// durable before a file goes: a crash can then never bring back a pointer into a
    /// deleted segment.
    fn collect_garbage(&self) -> io::Result<usize> {
        let mut unreferenced = self.values.sealed_segments();
        if unreferenced.is_empty() {
            return Ok(0);
        }
        self.flush()?;
        let (start, end) = (vec![Family::Log as u8], vec![Family::Log as u8 + 1]);
        for pair in self.tree.range(start..end) {
            let (_, stored) = pair.map_err(sled_error)?;
            if stored.first() == Some(&STORED_POINTER) {
                unreferenced.remove(&ValuePointer::decode(&stored[1..])?.segment);
                if unreferenced.is_empty() {
                    return Ok(0);
                }
            }
        }
        self.flush()?;
        self.values.remove(&unreferenced)?;
        Ok(unreferenced.len())
    }
}

impl KvEngine for SledEngine {
    fn get(&self, key: &[u8]) -> io::Result<Option<Bytes>> {
        match self.inner.lookup(key)? {
            Some(found) => self.inner.resolve(key, found),
            None => Ok(None),
        }
    }

    fn scan(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        self.inner.scan(start, end, false)
    }

    fn scan_rev(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        self.inner.scan(start, end, true)
    }

    fn scan_keys(&self, start: &[u8], end: &[u8]) -> KeyIter<'_> {
        Box::new(
            self.inner
                .scan_raw(start, end, false)
                .map(|pair| pair.map(|(key, _)| key)),
        )
    }

    fn write(&self, batch: WriteBatch) -> io::Result<()> {
        self.inner.write(batch)
    }

    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }

    fn size_on_disk(&self) -> Option<u64> {
        Some(self.inner.db.size_on_disk().ok()? + self.inner.values.size())
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
    use crate::keys;

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

    fn entry(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>()
            .into()
    }

    fn keys_in(engine: &dyn KvEngine, reverse: bool) -> Vec<Bytes> {
        let (start, end) = (vec![0u8], vec![0xffu8]);
        let pairs = if reverse {
            engine.scan_rev(&start, &end)
        } else {
            engine.scan(&start, &end)
        };
        pairs.map(|r| r.unwrap().0).collect()
    }

    /// Large log entries are readable at once, held back from sled until a flush, and
    /// after it read from the value log, across a reopen too; scans lay writes not yet
    /// flushed over what sled holds, in both directions.
    #[test]
    fn large_log_entries_live_in_the_value_log() {
        let dir = tempfile::tempdir().unwrap();
        let big = entry(SEPARATE_FROM * 3, 7);
        {
            let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
            let mut b = WriteBatch::new();
            b.put(keys::log(1, 1), big.clone());
            b.put(keys::log(1, 2), &b"small"[..]);
            b.put(keys::log(1, 3), big.slice(1..));
            engine.write(b).unwrap();
            engine.flush().unwrap();
            assert_eq!(engine.get(&keys::log(1, 1)).unwrap(), Some(big.clone()));

            let mut b = WriteBatch::new();
            b.delete(keys::log(1, 2));
            b.put(keys::log(1, 4), big.slice(2..));
            b.put(keys::log(1, 0), &b"first"[..]);
            engine.write(b).unwrap();
            assert!(
                !read(&engine.inner.deferred).is_empty(),
                "a large value waits for the flush"
            );
            // Not in sled yet, yet visible: the delete hides sled's key, the puts show.
            assert!(engine.inner.tree.get(keys::log(1, 4)).unwrap().is_none());
            assert_eq!(engine.get(&keys::log(1, 4)).unwrap(), Some(big.slice(2..)));
            assert_eq!(engine.get(&keys::log(1, 2)).unwrap(), None);
            let expected: Vec<Bytes> = [0, 1, 3, 4].map(|i| keys::log(1, i)).into();
            assert_eq!(keys_in(&engine, false), expected);
            assert_eq!(
                keys_in(&engine, true),
                expected.iter().rev().cloned().collect::<Vec<_>>()
            );
            let keys: Vec<Bytes> = engine.scan_keys(&[0], &[0xff]).map(|k| k.unwrap()).collect();
            assert_eq!(keys, expected);
            let values: Vec<Bytes> = engine
                .scan(&keys::log(1, 1), &keys::log(1, 5))
                .map(|r| r.unwrap().1)
                .collect();
            assert_eq!(values, vec![big.clone(), big.slice(1..), big.slice(2..)]);
            engine.flush().unwrap();
            assert!(read(&engine.inner.deferred).is_empty());
            let stored = engine.inner.tree.get(keys::log(1, 4)).unwrap().unwrap();
            assert_eq!(stored[0], STORED_POINTER, "sled holds a pointer, not the entry");
            assert_eq!(keys_in(&engine, false), expected);
        }
        let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
        assert_eq!(engine.get(&keys::log(1, 1)).unwrap(), Some(big.clone()));
        assert_eq!(engine.get(&keys::log(1, 3)).unwrap(), Some(big.slice(1..)));
        assert_eq!(engine.get(&keys::log(1, 4)).unwrap(), Some(big.slice(2..)));
        assert_eq!(
            engine.get(&keys::log(1, 0)).unwrap(),
            Some(Bytes::from_static(b"first"))
        );
        assert_eq!(engine.get(&keys::log(1, 2)).unwrap(), None);
    }

    /// What was written after the last flush is lost as a whole when the process goes
    /// away: a large entry and the small write after it alike, so what survives stays a
    /// prefix of what was written.
    #[test]
    fn writes_after_a_large_entry_wait_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let big = entry(SEPARATE_FROM, 1);
        {
            let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
            let mut b = WriteBatch::new();
            b.put(keys::log(2, 1), big.clone());
            engine.write(b).unwrap();
            engine.flush().unwrap();
            let mut b = WriteBatch::new();
            b.put(keys::log(2, 2), big.clone());
            engine.write(b).unwrap();
            let mut b = WriteBatch::new();
            b.put(keys::state(2, keys::StateKey::Applied), &b"2"[..]);
            engine.write(b).unwrap();
            assert!(
                engine
                    .inner
                    .tree
                    .get(keys::state(2, keys::StateKey::Applied))
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                engine.get(&keys::state(2, keys::StateKey::Applied)).unwrap(),
                Some(Bytes::from_static(b"2"))
            );
        }
        let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
        assert_eq!(engine.get(&keys::log(2, 1)).unwrap(), Some(big));
        assert_eq!(engine.get(&keys::log(2, 2)).unwrap(), None);
        assert_eq!(
            engine.get(&keys::state(2, keys::StateKey::Applied)).unwrap(),
            None
        );
    }

    /// Segments whose every entry was deleted are removed; the ones still named stay,
    /// and what they hold reads back, also after a reopen.
    #[test]
    fn collection_removes_only_segments_nothing_points_at() {
        let dir = tempfile::tempdir().unwrap();
        let values = dir.path().join("values");
        let segments = || std::fs::read_dir(&values).unwrap().count();
        let big = |i: u64| entry(SEPARATE_FROM * 4, i as u8);
        {
            let engine =
                SledEngine::open_tuned(dir.path(), 8 << 20, 40 << 10, Duration::from_secs(3600)).unwrap();
            // Two entries of 16 KiB per 40 KiB segment: entries 0-1, 2-3, ... 8-9.
            for i in 0..10 {
                let mut b = WriteBatch::new();
                b.put(keys::log(5, i), big(i));
                engine.write(b).unwrap();
            }
            engine.flush().unwrap();
            assert_eq!(segments(), 5);
            assert_eq!(
                engine.collect_garbage().unwrap(),
                0,
                "every segment is still named"
            );

            let mut b = WriteBatch::new();
            for i in [0, 1, 2, 5, 6, 7] {
                b.delete(keys::log(5, i));
            }
            engine.write(b).unwrap();
            // The open segment (8-9) is never collected; of the sealed ones, 0-1 and 6-7
            // are unreferenced, 2-3 and 4-5 still hold entries 3 and 4.
            assert_eq!(engine.collect_garbage().unwrap(), 2);
            assert_eq!(segments(), 3);
            for i in [3, 4, 8, 9] {
                assert_eq!(engine.get(&keys::log(5, i)).unwrap(), Some(big(i)), "entry {i}");
            }
        }
        let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
        let kept: Vec<_> = engine
            .scan(&keys::log(5, 0), &keys::log(5, 10))
            .map(|r| r.unwrap())
            .map(|(k, v)| (keys::log_index(&k).unwrap(), v))
            .collect();
        assert_eq!(kept, [3, 4, 8, 9].map(|i| (i, big(i))).to_vec());
    }

    /// A read that found a pointer just before its key was deleted and its segment
    /// collected answers as if it came after the deletion, in gets and scans alike; a key
    /// re-written meanwhile reads its new value.
    #[test]
    fn a_read_racing_the_collector_sees_the_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let engine =
            SledEngine::open_tuned(dir.path(), 8 << 20, 40 << 10, Duration::from_secs(3600)).unwrap();
        let big = |i: u64| entry(SEPARATE_FROM * 4, i as u8);
        // Entries 0-1 fill the first segment; 2-3 the second, which stays open.
        for i in 0..4 {
            let mut b = WriteBatch::new();
            b.put(keys::log(5, i), big(i));
            engine.write(b).unwrap();
        }
        engine.flush().unwrap();
        let inner = &engine.inner;
        let found = |i: u64| inner.lookup(&keys::log(5, i)).unwrap().unwrap();
        let (held_0, held_1) = (found(0), found(1));

        let mut b = WriteBatch::new();
        b.delete(keys::log(5, 0));
        b.delete(keys::log(5, 1));
        engine.write(b).unwrap();
        assert_eq!(engine.collect_garbage().unwrap(), 1);
        assert_eq!(inner.resolve(&keys::log(5, 0), held_0).unwrap(), None);

        let mut b = WriteBatch::new();
        b.put(keys::log(5, 1), Bytes::from_static(b"rewritten"));
        engine.write(b).unwrap();
        assert_eq!(
            inner.resolve(&keys::log(5, 1), held_1).unwrap(),
            Some(Bytes::from_static(b"rewritten"))
        );
        let keys: Vec<u64> = engine
            .scan(&keys::log(5, 0), &keys::log(5, 4))
            .map(|r| keys::log_index(&r.unwrap().0).unwrap())
            .collect();
        assert_eq!(keys, [1, 2, 3]);
    }

    /// A pointer naming bytes its segment does not hold is an error, not a huge read.
    #[test]
    fn a_pointer_past_its_segment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let engine = SledEngine::open(dir.path(), 8 << 20).unwrap();
        let mut b = WriteBatch::new();
        b.put(keys::log(1, 1), entry(SEPARATE_FROM, 3));
        engine.write(b).unwrap();
        engine.flush().unwrap();
        let stored = engine.inner.tree.get(keys::log(1, 1)).unwrap().unwrap();
        let pointer = ValuePointer::decode(&stored[1..]).unwrap();
        for wrong in [
            ValuePointer {
                len: u32::MAX,
                ..pointer
            },
            ValuePointer {
                offset: u64::MAX,
                ..pointer
            },
            ValuePointer {
                segment: pointer.segment + 1,
                ..pointer
            },
        ] {
            let mut tagged = BytesMut::new();
            tagged.put_u8(STORED_POINTER);
            wrong.encode_into(&mut tagged);
            engine
                .inner
                .tree
                .insert(keys::log(1, 2), tagged.as_ref())
                .unwrap();
            let error = engine.get(&keys::log(1, 2)).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        }
    }

    /// A database whose values were stored untagged is refused, not misread.
    #[test]
    fn a_database_of_an_older_value_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("strait")
                .unwrap()
                .insert(keys::log(1, 1), &b"v"[..])
                .unwrap();
            db.flush().unwrap();
        }
        let error = SledEngine::open(dir.path(), 8 << 20).err().expect("refused");
        assert!(error.to_string().contains("earlier version"), "{error}");
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
