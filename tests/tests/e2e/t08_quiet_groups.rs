//! Idle shard groups stop their Raft timers, and still fail over when a node dies.
//!
//! Three nodes whose groups go quiet after 500 ms without a write, and a 6-shard stream.
//! Checks: once idle, every replica on every node is quiet (its ticker stopped); after
//! `kill -9` of the node leading the most shards, every shard takes writes again through
//! the survivors (the followers of the dead node's quiet groups notice its silence, not
//! their groups'); the killed node, restarted, goes quiet with the others; every record
//! acknowledged before and after is read back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};
use tonic::transport::Channel;

use crate::scrape::gauge;
use crate::support::read_all;

const STREAM: &str = "idle";
const SHARDS: u32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_groups_go_quiet_and_still_fail_over() -> Result<()> {
    let mut cluster = TestCluster::start(
        3,
        ClusterOptions {
            extra_args: vec![
                "--raft-quiet-after-ms".into(),
                "500".into(),
                "--log-level".into(),
                "info,strait_raft::quiescence=debug".into(),
            ],
        },
    )
    .await?;
    cluster.create_stream(1, STREAM, SHARDS).await?;
    let mut client = cluster.client(1).await?;
    let mut written = put_to_every_shard(&mut client, "before", Duration::from_secs(30))
        .await
        .with_context(|| cluster.logs())?;
    wait_all_quiet(&cluster, &[1, 2, 3]).await?;

    // The node leading the most shards dies.
    let shards = shards(&mut client).await?;
    let mut led: BTreeMap<u64, usize> = BTreeMap::new();
    for shard in &shards {
        *led.entry(shard.leader.context("a leader for every shard")?)
            .or_default() += 1;
    }
    let (&victim, &count) = led.iter().max_by_key(|(_, n)| **n).context("leaders")?;
    cluster.kill9(victim);
    let killed = Instant::now();
    let survivor = if victim == 1 { 2 } else { 1 };
    let mut client = cluster.client(survivor).await?;
    written.extend(
        put_to_every_shard(&mut client, "after", Duration::from_secs(30))
            .await
            .with_context(|| cluster.logs())?,
    );
    eprintln!(
        "every shard took writes {:?} after node {victim}, leading {count} quiet shards, was killed",
        killed.elapsed()
    );

    cluster.restart(victim)?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    wait_all_quiet(&cluster, &[1, 2, 3]).await?;

    let read: Vec<Vec<u8>> = read_all(&mut client, STREAM)
        .await?
        .into_iter()
        .map(|r| r.data)
        .collect();
    for data in &written {
        if !read.contains(data) {
            bail!(
                "acknowledged record {:?} not read back",
                String::from_utf8_lossy(data)
            );
        }
    }
    assert_eq!(read.len(), written.len(), "every record read back once");
    Ok(())
}

async fn shards(client: &mut StreamServiceClient<Channel>) -> Result<Vec<pb::Shard>> {
    Ok(client
        .describe_stream(pb::DescribeStreamRequest {
            stream: STREAM.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .stream
        .context("a description")?
        .shards)
}

/// Puts one record into every shard (by its starting hash key), retrying each until it is
/// acknowledged or `patience` has passed; each record has its own producer id, so a retry
/// of a put that was stored but not answered is not stored twice. Returns the records
/// written.
async fn put_to_every_shard(
    client: &mut StreamServiceClient<Channel>,
    tag: &str,
    patience: Duration,
) -> Result<Vec<Vec<u8>>> {
    let deadline = Instant::now() + patience;
    let mut written = Vec::new();
    let tag_id = tag
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    for (index, shard) in shards(client).await?.into_iter().enumerate() {
        let range = shard.hash_key_range.context("a hash key range")?;
        let data = format!("{tag}:{}", shard.shard_id).into_bytes();
        loop {
            let put = client
                .put_record(pb::PutRecordRequest {
                    stream: STREAM.into(),
                    partition_key: "k".into(),
                    data: data.clone().into(),
                    explicit_hash_key: Some(range.starting_hash_key.clone()),
                    producer: Some(pb::Producer {
                        producer_id: (tag_id << 8) | index as u64,
                        sequence: 0,
                    }),
                    ..Default::default()
                })
                .await;
            match put {
                Ok(response) => {
                    assert_eq!(response.into_inner().shard_id, shard.shard_id);
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => bail!(
                    "shard {} took no write within {patience:?}: {status}",
                    shard.shard_id
                ),
            }
        }
        written.push(data);
    }
    Ok(written)
}

/// Waits until every replica on each of `nodes` has its Raft timers stopped.
async fn wait_all_quiet(cluster: &TestCluster, nodes: &[u64]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for &id in nodes {
        let address = &cluster
            .nodes
            .iter()
            .find(|n| n.id == id)
            .context("node")?
            .kinesis_address;
        loop {
            let hosted = gauge(address, "strait_node_shard_groups").await?;
            let quiet = gauge(address, "strait_node_quiet_shard_groups").await?;
            if hosted == f64::from(SHARDS) && quiet == hosted {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "node {id}: {quiet} of {hosted} shard groups quiet after 30s\n{}",
                    cluster.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
