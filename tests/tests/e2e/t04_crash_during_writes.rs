//! One node killed with SIGKILL while producers write, several times over: a single
//! replica is the only copy, so every acknowledged record surviving proves that a write
//! is durable (flushed) before it is acknowledged, and that the restarted node's log,
//! state machine and indexes are consistent, for entries kept in sled and in the value log
//! alike. A restarted node reports itself ready only once its shard groups are open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};
use tokio::sync::Mutex;

use crate::scrape::{get, parse_exposition, sum};
use crate::support::{assert_sequence_numbers_increase, read_all};

/// `(sequence number, data)` of every acknowledged put.
type Acknowledged = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_kill_9() -> Result<()> {
    let mut cluster = TestCluster::start(1, ClusterOptions::default()).await?;
    cluster.create_stream(1, "crash", 2).await?;
    let acked: Acknowledged = Arc::default();

    for round in 0..3u32 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for writer in 0..4u32 {
            let client = cluster.client(1).await?;
            let stop = stop.clone();
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                let mut client = client;
                let mut n = 0u32;
                // Bounded: at most 2,000 puts per writer per round.
                while !stop.load(Ordering::Relaxed) && n < 2_000 {
                    let mut data = format!("round {round} writer {writer} record {n}").into_bytes();
                    if writer == 3 {
                        // Entries of 4 KiB and more are stored in the value log: one writer
                        // puts records that large, so that path is killed mid-write too.
                        data.resize(6 << 10, b'.');
                    }
                    let put = client
                        .put_record(pb::PutRecordRequest {
                            stream: "crash".into(),
                            partition_key: format!("w{writer}"),
                            data: data.clone().into(),
                            ..Default::default()
                        })
                        .await;
                    match put {
                        Ok(response) => acked
                            .lock()
                            .await
                            .push((response.into_inner().sequence_number, data)),
                        Err(_) => return,
                    }
                    n += 1;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(400 + 300 * round as u64)).await;
        cluster.kill9(1);
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await?;
        }
        cluster.restart(1)?;
        ready_means_open(&cluster, "crash", 2).await?;
        cluster.wait_ready(Duration::from_secs(30)).await?;
    }

    let acked = acked.lock().await.clone();
    assert!(
        acked.len() > 100,
        "the writers got going: {} acknowledged",
        acked.len()
    );
    let mut client = cluster.client(1).await?;
    let records = read_all(&mut client, "crash").await?;
    assert_sequence_numbers_increase(&records);
    for (sequence_number, data) in &acked {
        let found = records.iter().find(|r| &r.sequence_number == sequence_number);
        let found = found.unwrap_or_else(|| panic!("acknowledged record {sequence_number} lost"));
        assert_eq!(&found.data, data);
    }
    // Still writable after three crashes.
    let after = client
        .put_record(pb::PutRecordRequest {
            stream: "crash".into(),
            partition_key: "after".into(),
            data: bytes::Bytes::from_static(b"after"),
            ..Default::default()
        })
        .await?;
    assert_eq!(after.into_inner().sequence_number.len(), 56);
    Ok(())
}

/// Waits for the restarted node's `/readyz` to answer 200, then checks that its metrics
/// already list every shard group of `stream`: a node must not take traffic for shards it
/// has not opened.
async fn ready_means_open(cluster: &TestCluster, stream: &str, shards: usize) -> Result<()> {
    let address = cluster.nodes[0].kinesis_address.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match get(&address, "/readyz").await {
            Ok((200, _)) => break,
            _ if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => bail!("the restarted node never became ready: {other:?}"),
        }
    }
    let (_, text) = get(&address, "/metrics").await?;
    let open = sum(
        &parse_exposition(&text)?,
        "strait_raft_role",
        &[("stream", stream)],
    );
    assert_eq!(
        open, shards as f64,
        "ready with {open} of {shards} shard groups open: {text}"
    );
    Ok(())
}
