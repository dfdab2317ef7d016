//! The simulated disk of one node.
//!
//! [`SimDisk`] wraps a [`MemoryEngine`] (which models flush and crash) and lives outside
//! the host closure, so it survives a crash and restart of the node. It adds two things:
//!
//! - **Torn tails.** Writes since the last flush are kept in order. On a crash the
//!   engine drops them, and then a seeded prefix of them is written back: a real disk
//!   may have written some unflushed batches before the power went, in order, each
//!   batch whole (the engine contract makes a batch atomic, so a batch is never split).
//! - **A lying disk** ([`SimDisk::set_lying`]): flush reports success without making
//!   anything durable. This is deliberately unsafe; the checker must notice the
//!   acknowledged records it loses.

use std::io;
use std::sync::{Arc, Mutex};

use rand::Rng;
use rand::rngs::StdRng;
use strait_storage::engine::KvIter;
use strait_storage::{KvEngine, MemoryEngine, WriteBatch};

/// A node's disk. Clones share the same state.
#[derive(Clone, Default)]
pub struct SimDisk {
    engine: MemoryEngine,
    state: Arc<Mutex<DiskState>>,
}

#[derive(Default)]
struct DiskState {
    /// Batches written since the last real flush, oldest first.
    unflushed: Vec<WriteBatch>,
    lying: bool,
}

/// What a crash did to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashReport {
    /// Unflushed batches lost.
    pub lost: usize,
    /// Unflushed batches that reached the disk anyway (the torn prefix).
    pub kept: usize,
}

impl SimDisk {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, flushes report success without making anything durable.
    pub fn set_lying(&self, lying: bool) {
        self.state.lock().expect("disk lock").lying = lying;
    }

    /// Makes every later flush fail, as a dying disk would.
    pub fn fail_flushes(&self, fail: bool) {
        self.engine.fail_flushes(fail);
    }

    /// Batches written and not yet durable.
    pub fn unflushed(&self) -> usize {
        self.state.lock().expect("disk lock").unflushed.len()
    }

    /// Loses power: every unflushed write is dropped, except a prefix of them chosen by
    /// `rng` when `tear` is set (at least the last one is always lost). Call it only while
    /// the node is down.
    pub fn crash(&self, rng: &mut StdRng, tear: bool) -> CrashReport {
        let mut state = self.state.lock().expect("disk lock");
        let pending = std::mem::take(&mut state.unflushed);
        let kept = if tear && !pending.is_empty() {
            rng.random_range(0..pending.len())
        } else {
            0
        };
        self.engine.crash();
        for batch in pending.iter().take(kept) {
            // Infallible: the memory engine's write never fails.
            let _ = self.engine.write(batch.clone());
        }
        if kept > 0 && !state.lying {
            // The torn prefix is on the platter now; it survives the next crash too.
            let _ = self.engine.flush();
        } else if kept > 0 {
            state.unflushed = pending[..kept].to_vec();
        }
        CrashReport {
            lost: pending.len() - kept,
            kept,
        }
    }
}

impl KvEngine for SimDisk {
    fn get(&self, key: &[u8]) -> io::Result<Option<bytes::Bytes>> {
        self.engine.get(key)
    }

    fn scan(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        self.engine.scan(start, end)
    }

    fn scan_rev(&self, start: &[u8], end: &[u8]) -> KvIter<'_> {
        self.engine.scan_rev(start, end)
    }

    fn write(&self, batch: WriteBatch) -> io::Result<()> {
        // One lock orders the engine's writes and the record of unflushed batches alike.
        let mut state = self.state.lock().expect("disk lock");
        self.engine.write(batch.clone())?;
        state.unflushed.push(batch);
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut state = self.state.lock().expect("disk lock");
        if state.lying {
            return Ok(());
        }
        self.engine.flush()?;
        state.unflushed.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;

    fn put(disk: &SimDisk, key: &[u8]) {
        let mut batch = WriteBatch::new();
        batch.put(key.to_vec(), b"v".to_vec());
        disk.write(batch).unwrap();
    }

    #[test]
    fn a_crash_keeps_flushed_writes_and_drops_the_rest() {
        let disk = SimDisk::new();
        put(&disk, b"a");
        disk.flush().unwrap();
        put(&disk, b"b");
        let report = disk.crash(&mut StdRng::seed_from_u64(1), false);
        assert_eq!(report, CrashReport { lost: 1, kept: 0 });
        assert!(disk.get(b"a").unwrap().is_some());
        assert!(disk.get(b"b").unwrap().is_none());
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_whole_batches() {
        for seed in 0..20 {
            let disk = SimDisk::new();
            for key in [&b"k1"[..], b"k2", b"k3", b"k4"] {
                put(&disk, key);
            }
            let report = disk.crash(&mut StdRng::seed_from_u64(seed), true);
            assert_eq!(report.lost + report.kept, 4);
            let present: Vec<bool> = [&b"k1"[..], b"k2", b"k3", b"k4"]
                .iter()
                .map(|k| disk.get(k).unwrap().is_some())
                .collect();
            assert_eq!(present.iter().filter(|p| **p).count(), report.kept);
            assert!(
                present.windows(2).all(|w| w[0] || !w[1]),
                "a prefix survives: {present:?}"
            );
        }
    }

    #[test]
    fn a_lying_disk_loses_what_it_claimed_to_flush() {
        let disk = SimDisk::new();
        put(&disk, b"a");
        disk.flush().unwrap();
        disk.set_lying(true);
        put(&disk, b"b");
        disk.flush().unwrap();
        disk.crash(&mut StdRng::seed_from_u64(1), false);
        assert_eq!(disk.get(b"a").unwrap(), Some(Bytes::from_static(b"v")));
        assert!(disk.get(b"b").unwrap().is_none());
    }
}
