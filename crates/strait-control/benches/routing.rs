//! Routing a record: partition key → MD5 hash key → the open shard owning it.
//!
//! Every record written pays for this once on the node that takes the request, so it is
//! measured per record, with streams of a few and of many shards (the lookup walks the
//! stream's shards).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strait_control::{
    ControlCommand, ControlReply, ControlState, NodeInfo, NodeState, StreamKey, StreamMeta,
};
use strait_core::{AccountId, HashKey, Namespace, PartitionKey, Region, StreamMode, StreamName};

/// Partition keys as producers often pick them: 32 hexadecimal digits.
fn keys(count: usize) -> Vec<PartitionKey> {
    (0..count as u128)
        .map(|i| {
            let value = i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            PartitionKey::new(format!("{value:032x}")).expect("a valid key")
        })
        .collect()
}

/// A stream of `shards` evenly sized shards on a three-node cluster, created the way the
/// control plane creates one.
fn stream(shards: u32) -> StreamMeta {
    let key = StreamKey {
        namespace: Namespace::new(AccountId::default_account(), Region::default_region()),
        name: StreamName::new("bench").expect("a valid name"),
    };
    let mut state = ControlState::default();
    let nodes = (1..=3)
        .map(|id| NodeInfo {
            id,
            address: format!("127.0.0.1:{}", 7000 + id),
            voter: true,
            state: NodeState::Active,
        })
        .collect();
    let reply = state.apply(&ControlCommand::Bootstrap {
        nodes,
        iterator_secret: vec![7; 32],
    });
    assert_eq!(reply, ControlReply::Done, "the cluster bootstraps");
    let reply = state.apply(&ControlCommand::CreateStream {
        key: key.clone(),
        shard_count: shards,
        mode: StreamMode::Provisioned,
        retention_hours: 24,
        now_ms: 1_000,
        placements: (0..shards).map(|_| vec![1, 2, 3]).collect(),
    });
    assert!(matches!(reply, ControlReply::StreamCreated { .. }), "{reply:?}");
    state.streams.remove(&key).expect("the stream was created")
}

fn routing(c: &mut Criterion) {
    let keys = keys(1024);
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("md5_hash_key", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(HashKey::from_partition_key(black_box(key.as_str())));
            }
        })
    });
    for shards in [4u32, 64, 1000] {
        let stream = stream(shards);
        let hash_keys: Vec<HashKey> = keys.iter().map(PartitionKey::hash_key).collect();
        group.bench_with_input(BenchmarkId::new("shard_for", shards), &stream, |b, stream| {
            b.iter(|| {
                for hash_key in &hash_keys {
                    black_box(stream.shard_for(*hash_key).map(|shard| shard.id));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("key_to_shard", shards), &stream, |b, stream| {
            b.iter(|| {
                for key in &keys {
                    black_box(stream.shard_for(key.hash_key()).map(|shard| shard.id));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
