//! Splits, a merge and a uniform scaling while producers write: producers see no error,
//! every acknowledged record is stored exactly once, and reading parents before children
//! gives every partition key's records in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};

use crate::support::read_all;

const KEYS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharding_under_load_loses_and_duplicates_nothing() -> Result<()> {
    let cluster = TestCluster::start(3, ClusterOptions::default()).await?;
    cluster.create_stream(1, "rs", 2).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut producers = Vec::new();
    for key in 0..KEYS {
        let mut client = cluster.client(1 + (key as u64 % 3)).await?;
        let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
        producers.push(tokio::spawn(async move {
            let mut counter = 0usize;
            let mut failures = Vec::new();
            // Bounded: at most 400 batches per producer.
            for batch in 0..400u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let request = pb::PutRecordsRequest {
                    stream: "rs".into(),
                    records: (0..10)
                        .map(|i| pb::PutRecordsEntry {
                            partition_key: format!("key-{key}"),
                            data: format!("key-{key}:{:06}", counter + i).into(),
                            explicit_hash_key: None,
                        })
                        .collect(),
                    producer: Some(pb::Producer {
                        producer_id: 0xabc0 + key as u64,
                        sequence: batch,
                    }),
                    ..Default::default()
                };
                match client.put_records(request).await {
                    Ok(response) if response.get_ref().failed_record_count == 0 => {
                        counter += 10;
                        acknowledged.fetch_add(10, Ordering::Relaxed);
                    }
                    Ok(response) => failures.push(format!("{:?}", response.into_inner().records)),
                    Err(status) => failures.push(status.to_string()),
                }
            }
            (counter, failures)
        }));
    }
    let wait_for = |n: usize| {
        let acknowledged = acknowledged.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while acknowledged.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    let mut admin = cluster.client(2).await?;
    wait_for(500).await;
    let started = Instant::now();
    admin
        .split_shard(pb::SplitShardRequest {
            stream: "rs".into(),
            shard_to_split: "shardId-000000000000".into(),
            ..Default::default()
        })
        .await?;
    let split_ms = started.elapsed().as_millis();
    wait_for(1500).await;
    // Shard 3 is the upper half of shard 0; shard 1 starts right after it.
    let started = Instant::now();
    admin
        .merge_shards(pb::MergeShardsRequest {
            stream: "rs".into(),
            shard_to_merge: "shardId-000000000003".into(),
            adjacent_shard_to_merge: "shardId-000000000001".into(),
            ..Default::default()
        })
        .await?;
    let merge_ms = started.elapsed().as_millis();
    wait_for(2500).await;
    let started = Instant::now();
    admin
        .update_shard_count(pb::UpdateShardCountRequest {
            stream: "rs".into(),
            target_shard_count: 4,
            ..Default::default()
        })
        .await?;
    let scale_ms = started.elapsed().as_millis();
    wait_for(3500).await;
    stop.store(true, Ordering::Relaxed);
    eprintln!("split {split_ms} ms, merge {merge_ms} ms, scale 2->4 {scale_ms} ms under load");

    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for (key, producer) in producers.into_iter().enumerate() {
        let (count, failures) = producer.await?;
        assert!(failures.is_empty(), "producer {key} saw errors: {failures:?}");
        expected.insert(format!("key-{key}"), count);
    }

    let mut client = cluster.client(3).await?;
    let description = client
        .describe_stream(pb::DescribeStreamRequest {
            stream: "rs".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .stream
        .expect("a stream");
    assert_eq!(description.status, "ACTIVE");
    let open: Vec<_> = description
        .shards
        .iter()
        .filter(|s| s.ending_sequence_number.is_none())
        .collect();
    assert_eq!(open.len(), 4, "the stream ends with 4 open shards");
    // read_all reads shards in id order, and a child's id is always above its parents'.
    let records = read_all(&mut client, "rs").await?;
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for record in &records {
        let text = String::from_utf8(record.data.clone())?;
        let counter: usize = text.rsplit(':').next().unwrap_or_default().parse()?;
        seen.entry(record.partition_key.clone())
            .or_default()
            .push(counter);
    }
    for (key, count) in expected {
        let counters = seen.remove(&key).unwrap_or_default();
        assert_eq!(
            counters,
            (0..count).collect::<Vec<_>>(),
            "{key}: every acknowledged record exactly once, in order across the lineage"
        );
    }
    Ok(())
}
