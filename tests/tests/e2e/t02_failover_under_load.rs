//! Three nodes, a 4-shard stream, 20,000 records from 16 producers through all three
//! nodes, and one node killed with SIGKILL in the middle of the load.
//!
//! Checks: every acknowledged record is present exactly once, at its sequence number,
//! with its bytes; per partition key the producers' counters appear in increasing order;
//! the killed node, restarted, catches up with every record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};
use tokio::sync::Mutex;

use crate::support::{Acked, assert_sequence_numbers_increase, data, read_all, replica_records};

const KEYS: usize = 16;
const RECORDS: usize = 20_000;
const BATCH: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_acknowledged_record() -> Result<()> {
    let cluster = Arc::new(Mutex::new(
        TestCluster::start(3, ClusterOptions::default()).await?,
    ));
    cluster.lock().await.create_stream(1, "load", 4).await?;
    let clients = {
        let c = cluster.lock().await;
        vec![c.client(1).await?, c.client(2).await?, c.client(3).await?]
    };
    let acked_count = Arc::new(AtomicUsize::new(0));
    let per_key = RECORDS / KEYS;

    let mut workers = Vec::new();
    for key in 0..KEYS {
        let clients = clients.clone();
        let acked_count = acked_count.clone();
        workers.push(tokio::spawn(async move {
            let producer_id = 0x5eed_0000 + key as u64;
            let mut acked = Vec::new();
            for (batch_no, start) in (0..per_key).step_by(BATCH).enumerate() {
                let counters: Vec<usize> = (start..(start + BATCH).min(per_key)).collect();
                let request = pb::PutRecordsRequest {
                    stream: "load".into(),
                    records: counters
                        .iter()
                        .map(|&c| pb::PutRecordsEntry {
                            partition_key: format!("key-{key}"),
                            data: data(key, c).into(),
                            explicit_hash_key: None,
                        })
                        .collect(),
                    producer: Some(pb::Producer {
                        producer_id,
                        sequence: batch_no as u64,
                    }),
                    ..Default::default()
                };
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut attempt = key + batch_no;
                loop {
                    let mut client = clients[attempt % 3].clone();
                    attempt += 1;
                    match client.put_records(request.clone()).await {
                        Ok(response) => {
                            let response = response.into_inner();
                            if response.failed_record_count == 0 {
                                for (&counter, result) in counters.iter().zip(response.records) {
                                    acked.push(Acked {
                                        key,
                                        counter,
                                        shard_id: result.shard_id,
                                        sequence_number: result.sequence_number,
                                    });
                                }
                                acked_count.fetch_add(counters.len(), Ordering::Relaxed);
                                break;
                            }
                        }
                        Err(status) if Instant::now() > deadline => {
                            panic!("key {key} batch {batch_no} never stored: {status}")
                        }
                        Err(_) => {}
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            acked
        }));
    }

    // Kill node 3 once a third of the load is acknowledged.
    let killer = {
        let cluster = cluster.clone();
        let acked_count = acked_count.clone();
        tokio::spawn(async move {
            while acked_count.load(Ordering::Relaxed) < RECORDS / 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            cluster.lock().await.kill9(3);
            acked_count.load(Ordering::Relaxed)
        })
    };

    let mut acked: Vec<Acked> = Vec::new();
    for worker in workers {
        acked.extend(worker.await?);
    }
    let killed_at = killer.await?;
    assert!(killed_at < RECORDS, "node 3 was killed during the load");
    assert_eq!(acked.len(), RECORDS);

    let mut client = clients[0].clone();
    let records = read_all(&mut client, "load").await?;
    assert_sequence_numbers_increase(&records);
    assert_eq!(records.len(), RECORDS, "no record lost, none stored twice");
    let by_sequence: BTreeMap<(&str, &str), &crate::support::ReadBack> = records
        .iter()
        .map(|r| ((r.shard_id.as_str(), r.sequence_number.as_str()), r))
        .collect();
    for a in &acked {
        let record = by_sequence
            .get(&(a.shard_id.as_str(), a.sequence_number.as_str()))
            .unwrap_or_else(|| panic!("acknowledged record {a:?} is missing"));
        assert_eq!(record.data, data(a.key, a.counter), "bytes of {a:?}");
        assert_eq!(record.partition_key, format!("key-{}", a.key));
    }
    let mut last_counter: BTreeMap<String, usize> = BTreeMap::new();
    for record in &records {
        let text = String::from_utf8(record.data.clone())?;
        let counter: usize = text.rsplit(':').next().unwrap_or_default().parse()?;
        if let Some(previous) = last_counter.insert(record.partition_key.clone(), counter) {
            assert!(
                counter > previous,
                "{}: counter {counter} after {previous}",
                record.partition_key
            );
        }
    }

    // The killed node comes back and catches up with every record.
    let mut guard = cluster.lock().await;
    guard.restart(3)?;
    guard.wait_ready(Duration::from_secs(60)).await?;
    let status = guard
        .client(3)
        .await?
        .cluster_status(pb::ClusterStatusRequest {})
        .await?
        .into_inner();
    let per_shard: BTreeMap<String, usize> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.shard_id.clone()).or_default() += 1;
        m
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    for group in status.groups.iter().filter(|g| g.replicas.contains(&3)) {
        let expected = per_shard.get(&group.shard_id).copied().unwrap_or(0);
        loop {
            // Ready says the cluster is; the restarted node may still be opening this
            // replica, and answers that it does not host it until it has.
            let held = match replica_records(&guard.endpoint(3), group.group_id).await {
                Ok(records) if records.len() == expected => break,
                Ok(records) => format!("{} of {expected} records", records.len()),
                Err(error) => format!("no replica yet ({error})"),
            };
            if Instant::now() > deadline {
                bail!("node 3 holds {held} of {}\n{}", group.shard_id, guard.logs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
