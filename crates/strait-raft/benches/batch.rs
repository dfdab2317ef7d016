//! Encoding a shard's log entry: the checksum the leader stamps on an append batch, and
//! the postcard encoding plus CRC frame every replica stores (and decodes on read).
//!
//! Sizes follow docs/benchmarks.md: one entry of 500 records of 100 B and of 1 KiB.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strait_raft::codec;
use strait_raft::shard::{AppendBatch, ProducerBatch, ShardCommand, ShardRecord};

const RECORDS: usize = 500;
const SIZES: [usize; 2] = [100, 1024];

fn records(size: usize) -> Vec<ShardRecord> {
    let data: Bytes = (0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
    (0..RECORDS)
        .map(|i| ShardRecord {
            partition_key: format!("{:032x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            data: data.clone(),
        })
        .collect()
}

fn command(size: usize) -> ShardCommand {
    ShardCommand::append(AppendBatch::new(
        1_700_000_000_000,
        vec![ProducerBatch {
            producer: 42,
            sequence: 7,
            records: records(size),
        }],
    ))
}

fn batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_batch");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for size in SIZES {
        let records = records(size);
        group.bench_with_input(BenchmarkId::new("checksum", size), &records, |b, records| {
            b.iter(|| {
                let producers = vec![ProducerBatch {
                    producer: 42,
                    sequence: 7,
                    records: records.clone(),
                }];
                black_box(AppendBatch::new(1_700_000_000_000, producers).checksum)
            })
        });
        let command = command(size);
        group.bench_with_input(BenchmarkId::new("encode_stored", size), &command, |b, command| {
            b.iter(|| black_box(codec::encode_stored(black_box(command)).expect("encodes")))
        });
        let stored = codec::encode_stored(&command).expect("encodes");
        group.bench_with_input(BenchmarkId::new("decode_stored", size), &stored, |b, stored| {
            b.iter(|| {
                let decoded: ShardCommand = codec::decode_stored(black_box(stored)).expect("decodes");
                black_box(decoded)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
