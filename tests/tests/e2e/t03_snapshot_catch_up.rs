//! A replica that was down while 6 MiB was written, with the log kept short, must catch
//! up and then serve every record: from the leader's log, sent in appends of bounded size,
//! or by installing a multi-chunk snapshot when the leader has already purged the entries
//! it needs (which of the two depends on when the leader purges, so both are accepted; a
//! snapshot that was installed must have come in several chunks).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};

use crate::support::replica_records;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_catches_up_by_snapshot() -> Result<()> {
    let options = ClusterOptions {
        extra_args: vec![
            "--raft-snapshot-every".into(),
            "20".into(),
            "--raft-keep-behind-snapshot".into(),
            "5".into(),
        ],
    };
    let mut cluster = TestCluster::start(3, options).await?;
    cluster.create_stream(1, "big", 1).await?;
    cluster.kill9(3);

    // 6 MiB in 96 batches of 16 records of 4 KiB.
    let mut client = cluster.client(1).await?;
    let mut expected = Vec::new();
    for batch in 0..96 {
        let records: Vec<pb::PutRecordsEntry> = (0..16)
            .map(|i| {
                let n = batch * 16 + i;
                let mut data = format!("record {n:05} ").into_bytes();
                data.resize(4096, b'a' + (n % 26) as u8);
                expected.push(data.clone());
                pb::PutRecordsEntry {
                    partition_key: format!("k{n}"),
                    data: data.into(),
                    explicit_hash_key: None,
                }
            })
            .collect();
        let response = client
            .put_records(pb::PutRecordsRequest {
                stream: "big".into(),
                records,
                ..Default::default()
            })
            .await?
            .into_inner();
        assert_eq!(response.failed_record_count, 0);
    }

    cluster.restart(3)?;
    cluster.wait_ready(Duration::from_secs(60)).await?;
    let status = cluster
        .client(3)
        .await?
        .cluster_status(pb::ClusterStatusRequest {})
        .await?
        .into_inner();
    let group = status
        .groups
        .iter()
        .find(|g| g.stream == "big")
        .expect("the stream's group");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = replica_records(&cluster.endpoint(3), group.group_id).await?;
        if got.len() == expected.len() {
            assert_eq!(
                got, expected,
                "node 3 serves every record with its bytes, in order"
            );
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "node 3 holds {} of {} records\n{}",
                got.len(),
                expected.len(),
                cluster.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(cluster.dir.path().join("node-3.log"))?;
    let chunks: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("snapshot received, installing"))
        .filter(|l| l.contains(&format!("group={} ", group.group_id)))
        .filter_map(|l| l.split("chunks=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(
        chunks.iter().all(|&c| c >= 2),
        "a 6 MiB snapshot is sent in several chunks, got {chunks:?}\n{}",
        cluster.logs()
    );
    Ok(())
}
