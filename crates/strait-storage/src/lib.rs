//! Strait's storage: one ordered key-value engine per node, shared by every Raft group
//! the node hosts.
//!
//! - [`engine`] defines [`KvEngine`], the small contract every backend meets: ordered
//!   keys, atomic write batches, and an explicit `flush` after which everything written
//!   before it is durable. [`SledEngine`] is the production backend; [`MemoryEngine`]
//!   keeps data in memory and models what a crash loses, for tests and the simulation.
//! - [`keys`] is the whole keyspace in one place: which key families exist, how each key
//!   is laid out, and what its value holds. Nothing else builds keys by hand.
//! - `value_log` keeps large Raft entries out of sled's pages, in append-only segment
//!   files that sled points into.
//! - `redo` makes small batches crash-atomic on sled more cheaply than sled's own batches.
//! - [`checksum`] frames stored values with a CRC32C so corruption is detected on read
//!   and never served.
//! - [`flusher`] turns many concurrent "make this durable" requests into one fsync:
//!   the node's group commit.
//! - [`disk`] reports free space so writers get a clear retryable error before the disk
//!   fills, while reads keep working.
//!
//! The Raft log store and the state machines built on this live in `strait-raft`; this
//! crate knows nothing about Raft beyond the key layout it stores for it.

pub mod checksum;
pub mod disk;
pub mod engine;
pub mod flusher;
pub mod keys;
mod redo;
mod sled_files;
mod value_log;

/// Locks `m` even if a thread panicked while holding it: these locks guard bookkeeping
/// updated in single steps, and a failed flush poisons the engine by its own flag.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub use engine::{KeyIter, KvEngine, MemoryEngine, SledEngine, WriteBatch};
pub use flusher::Flusher;
