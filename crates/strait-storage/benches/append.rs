//! Appending a Raft log entry to the engine: one write batch holding one entry of 500
//! records, as the log store writes it, on the in-memory engine and on sled; on sled also
//! with the fsync that makes it durable (one per entry here, the worst case of group
//! commit).
//!
//! Entries cycle over a fixed window of log indexes, so a long measurement overwrites its
//! own keys instead of filling the disk.
//!
//! `small_writes` is the other half of a Raft entry's storage cost: the few small keys
//! written around it (a vote or commit point alone; a state machine's dedup record,
//! arrival index and applied point together), and a batch just past the size that still
//! takes sled's own atomic batch.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strait_storage::{KvEngine, MemoryEngine, SledEngine, WriteBatch, checksum, keys};

const RECORDS_PER_ENTRY: usize = 500;
const SIZES: [usize; 2] = [100, 1024];
/// Log indexes the benchmark cycles over.
const WINDOW: u64 = 256;
const SLED_CACHE_BYTES: u64 = 64 << 20;

/// A sealed entry the size of 500 records of `size` bytes with their keys.
fn entry(size: usize) -> Bytes {
    let payload: Vec<u8> = (0..RECORDS_PER_ENTRY * (size + 34))
        .map(|i| (i % 251) as u8)
        .collect();
    checksum::seal(&payload)
}

fn append(engine: &dyn KvEngine, index: &mut u64, value: &Bytes) {
    let mut batch = WriteBatch::new();
    batch.put(keys::log(1, *index % WINDOW), value.clone());
    engine.write(batch).expect("the write succeeds");
    *index += 1;
}

fn log_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append");
    group.sample_size(20);
    group.throughput(Throughput::Elements(RECORDS_PER_ENTRY as u64));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sled: Arc<dyn KvEngine> =
        Arc::new(SledEngine::open(dir.path(), SLED_CACHE_BYTES).expect("sled opens"));
    let memory: Arc<dyn KvEngine> = Arc::new(MemoryEngine::new());
    for size in SIZES {
        let value = entry(size);
        for (name, engine) in [("memory", &memory), ("sled", &sled)] {
            let mut index = 0;
            group.bench_with_input(BenchmarkId::new(name, size), &value, |b, value| {
                b.iter(|| append(engine.as_ref(), &mut index, black_box(value)))
            });
        }
        let mut index = 0;
        group.bench_with_input(BenchmarkId::new("sled_fsync", size), &value, |b, value| {
            b.iter(|| {
                append(sled.as_ref(), &mut index, black_box(value));
                sled.flush().expect("the flush succeeds");
            })
        });
    }
    group.finish();
}

/// A batch of `keys` keys of `value_len` bytes each, cycling over `WINDOW` key sets.
fn small_batch(round: u64, keys: usize, value_len: usize) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for k in 0..keys as u64 {
        let index = (round % WINDOW) * 64 + k;
        batch.put(keys::log(2, index), vec![(index % 251) as u8; value_len]);
    }
    batch
}

fn small_writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("small_writes");
    group.sample_size(20);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sled = SledEngine::open(dir.path(), SLED_CACHE_BYTES).expect("sled opens");
    // One key; three keys of a state machine's apply; 40 keys of 512 bytes, past the size
    // a redo record takes.
    for (name, keys, value_len) in [
        ("one_key", 1, 64),
        ("three_keys", 3, 64),
        ("large_batch", 40, 512),
    ] {
        let mut round = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                sled.write(black_box(small_batch(round, keys, value_len)))
                    .expect("the write succeeds");
                round += 1;
            })
        });
    }
    group.finish();
}

criterion_group!(benches, log_append, small_writes);
criterion_main!(benches);
