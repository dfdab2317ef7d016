//! Membership changes while producers write: a fourth node joins and receives its share
//! of replicas and leaders; a node is killed and its replicas are re-created on the
//! others; it returns and gets replicas again; the first node is decommissioned (replicas
//! and leaderships move away, including its control-plane vote) and leaves.
//!
//! Checks: after each change the placement converges (replica counts even, no move in
//! flight, every group led); every acknowledged record is read back exactly once, in
//! per-key order; the replicas created by moves hold every record of their shard.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};
use tonic::transport::Channel;

use crate::support::{Acked, assert_sequence_numbers_increase, data, read_all, replica_records};

const KEYS: usize = 6;
const BATCH: usize = 10;
const STREAM: &str = "members";

/// Writes batches for one key through `client` until `stop`, retrying a batch (with the
/// same producer sequence, so a retry is never stored twice) until it is acknowledged.
async fn produce(
    mut client: StreamServiceClient<Channel>,
    key: usize,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Acked>> {
    let mut acked = Vec::new();
    // Bounded: at most 2,000 batches, each retried for at most a minute.
    for batch in 0..2_000u64 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let first = acked.len();
        let request = pb::PutRecordsRequest {
            stream: STREAM.into(),
            records: (first..first + BATCH)
                .map(|c| pb::PutRecordsEntry {
                    partition_key: format!("key-{key}"),
                    data: data(key, c).into(),
                    explicit_hash_key: None,
                })
                .collect(),
            producer: Some(pb::Producer {
                producer_id: 0x6e0d_0000 + key as u64,
                sequence: batch,
            }),
            ..Default::default()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client.put_records(request.clone()).await {
                Ok(response) if response.get_ref().failed_record_count == 0 => {
                    for (i, result) in response.into_inner().records.into_iter().enumerate() {
                        acked.push(Acked {
                            key,
                            counter: first + i,
                            shard_id: result.shard_id,
                            sequence_number: result.sequence_number,
                        });
                    }
                    break;
                }
                other if Instant::now() > deadline => {
                    bail!("key {key} batch {batch} not stored within a minute: {other:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(acked)
}

/// Polls node `via`'s cluster status until `done` holds.
async fn wait_for(
    cluster: &TestCluster,
    via: u64,
    what: &str,
    timeout: Duration,
    done: impl Fn(&pb::ClusterStatusResponse) -> bool,
) -> Result<pb::ClusterStatusResponse> {
    let deadline = Instant::now() + timeout;
    let mut client = cluster.client(via).await?;
    loop {
        let status = client.cluster_status(pb::ClusterStatusRequest {}).await;
        if let Ok(status) = &status
            && done(status.get_ref())
        {
            return Ok(status.get_ref().clone());
        }
        if Instant::now() > deadline {
            bail!(
                "{what}: not reached within {timeout:?}; last status {status:#?}\n{}",
                cluster.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn replicas_per_node(status: &pb::ClusterStatusResponse) -> BTreeMap<u64, usize> {
    let mut counts: BTreeMap<u64, usize> = status.nodes.iter().map(|n| (n.node_id, 0)).collect();
    for group in &status.groups {
        for node in &group.replicas {
            *counts.entry(*node).or_default() += 1;
        }
    }
    counts
}

/// No move in flight (no replica retiring or catching up), every group led, and every group's replicas on `nodes` only, with
/// each of `nodes` holding `per_node` replicas.
fn settled_on(status: &pb::ClusterStatusResponse, nodes: &[u64], per_node: usize) -> bool {
    let counts = replicas_per_node(status);
    status
        .groups
        .iter()
        .all(|g| g.retiring.is_empty() && g.catching_up.is_empty() && g.leader.is_some())
        && status
            .groups
            .iter()
            .all(|g| g.replicas.iter().all(|r| nodes.contains(r)))
        && nodes.iter().all(|n| counts.get(n) == Some(&per_node))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_fail_return_and_leave_while_producers_write() -> Result<()> {
    let options = ClusterOptions {
        extra_args: vec!["--down-after".into(), "3s".into()],
    };
    let mut cluster = TestCluster::start(3, options).await?;
    cluster.create_stream(1, STREAM, 4).await?;

    // Producers enter through node 3, which stays up and a member throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for key in 0..KEYS {
        let client = cluster.client(3).await?;
        workers.push(tokio::spawn(produce(client, key, stop.clone())));
    }

    // 1. A fourth node joins: 12 replicas over 4 nodes is 3 each, and it leads a group.
    let joined = cluster.join(1)?;
    assert_eq!(joined, 4);
    let status = wait_for(
        &cluster,
        3,
        "node 4 holds its share",
        Duration::from_secs(90),
        |s| settled_on(s, &[1, 2, 3, 4], 3),
    )
    .await?;
    assert!(status.nodes.iter().any(|n| n.node_id == 4 && n.state == "active"));
    wait_for(
        &cluster,
        3,
        "every node leads a group",
        Duration::from_secs(60),
        |s| (1..=4).all(|n| s.groups.iter().any(|g| g.leader == Some(n))),
    )
    .await?;

    // 2. Node 2 dies: after the down timeout its replicas are re-created on 1, 3 and 4.
    cluster.kill9(2);
    wait_for(
        &cluster,
        3,
        "node 2's replicas replaced",
        Duration::from_secs(90),
        |s| settled_on(s, &[1, 3, 4], 4),
    )
    .await?;

    // 3. It returns: it deletes the replicas that moved away and gets its share again.
    cluster.restart(2)?;
    wait_for(
        &cluster,
        3,
        "node 2 holds its share again",
        Duration::from_secs(90),
        |s| settled_on(s, &[1, 2, 3, 4], 3),
    )
    .await?;

    // 4. Node 1, an initial member and control-plane voter, is decommissioned with the
    //    CLI, which waits until the node has left.
    let output = tokio::process::Command::new(strait_tests::strait_binary())
        .args([
            "--endpoint",
            &cluster.endpoint(3),
            "node",
            "decommission",
            "1",
            "--wait-timeout",
            "120s",
        ])
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() || !stderr.contains("node 1 has left the cluster") {
        bail!(
            "strait node decommission 1 failed: {:?}\n{stderr}\n{}",
            output.status,
            cluster.logs()
        );
    }
    let mut client = cluster.client(3).await?;
    let status = wait_for(
        &cluster,
        3,
        "node 1 drained and removed",
        Duration::from_secs(120),
        |s| !s.nodes.iter().any(|n| n.node_id == 1) && settled_on(s, &[2, 3, 4], 4),
    )
    .await?;
    assert!(
        status.nodes.iter().filter(|n| n.voter).count() >= 3,
        "the control plane kept three voters: {:?}",
        status.nodes
    );

    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for worker in workers {
        acked.extend(worker.await??);
    }
    assert!(acked.len() >= KEYS * BATCH, "the producers made progress");

    let records = read_all(&mut client, STREAM).await?;
    assert_sequence_numbers_increase(&records);
    assert_eq!(records.len(), acked.len(), "no record lost, none stored twice");
    let by_position: BTreeMap<(&str, &str), &crate::support::ReadBack> = records
        .iter()
        .map(|r| ((r.shard_id.as_str(), r.sequence_number.as_str()), r))
        .collect();
    for a in &acked {
        let record = by_position
            .get(&(a.shard_id.as_str(), a.sequence_number.as_str()))
            .unwrap_or_else(|| panic!("acknowledged record {a:?} is missing"));
        assert_eq!(record.data, data(a.key, a.counter), "bytes of {a:?}");
    }
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &records {
        let text = std::str::from_utf8(&record.data)?;
        let counter: usize = text.rsplit(':').next().unwrap_or_default().parse()?;
        if let Some(previous) = last.insert(record.partition_key.as_str(), counter) {
            assert!(
                counter > previous,
                "{}: {counter} after {previous}",
                record.partition_key
            );
        }
    }

    // Every replica, including those created by moves, holds every record of its shard.
    let per_shard: BTreeMap<&str, usize> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.shard_id.as_str()).or_default() += 1;
        m
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    for group in &status.groups {
        let expected = per_shard.get(group.shard_id.as_str()).copied().unwrap_or(0);
        for node in &group.replicas {
            loop {
                let held = replica_records(&cluster.endpoint(*node), group.group_id)
                    .await?
                    .len();
                if held == expected {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "node {node} holds {held} of {expected} records of {}",
                        group.shard_id
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}
