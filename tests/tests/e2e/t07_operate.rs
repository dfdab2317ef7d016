//! What an orchestrator sees of a three-node cluster: probes, metrics, and a graceful stop.
//!
//! Checks: `/healthz` and `/readyz` answer 200 on every node's Kinesis port; after puts,
//! `/metrics` is valid Prometheus text with per-shard put counters that add up to the
//! records written, Raft group metrics and the Kinesis API's request metrics; SIGTERM on
//! the node leading a shard group makes it hand its leaderships off and exit within
//! `--shutdown-timeout`; the two other nodes keep taking writes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};

use crate::scrape::{get, http, parse_exposition, sum};
use crate::support::put;

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kinesis API call with an empty JSON body.
async fn kinesis_call(address: &str, operation: &str) -> Result<(u16, String)> {
    http(
        address,
        format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
             X-Amz-Target: Kinesis_20131202.{operation}\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{{}}"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_and_a_graceful_stop() -> Result<()> {
    let mut cluster = TestCluster::start(
        3,
        ClusterOptions {
            extra_args: vec![
                "--shutdown-timeout".into(),
                format!("{}s", SHUTDOWN_TIMEOUT.as_secs()),
            ],
        },
    )
    .await?;
    let kinesis: BTreeMap<u64, String> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.kinesis_address.clone()))
        .collect();

    // Probes.
    for (id, address) in &kinesis {
        assert_eq!(
            get(address, "/healthz").await?,
            (200, "ok\n".to_owned()),
            "node {id}"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match get(address, "/readyz").await? {
                (200, body) => {
                    assert_eq!(body, "ok\n");
                    break;
                }
                (503, reason) if Instant::now() < deadline => {
                    assert!(reason.starts_with("not ready: "), "{reason}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => bail!("node {id} /readyz: {other:?}"),
            }
        }
    }

    // Puts through node 1, and one Kinesis API call, then its metrics.
    cluster.create_stream(1, "ops", 2).await?;
    let mut client = cluster.client(1).await?;
    const RECORDS: usize = 40;
    let started = Instant::now();
    for i in 0..RECORDS {
        put(&mut client, "ops", &format!("key-{i}"), b"0123456789").await?;
    }
    eprintln!("{RECORDS} puts took {:?}", started.elapsed());
    let (status, body) = kinesis_call(&kinesis[&1], "ListStreams").await?;
    assert_eq!(status, 200, "{body}");
    let (status, text) = get(&kinesis[&1], "/metrics").await?;
    assert_eq!(status, 200);
    let samples = parse_exposition(&text)?;
    let stream = [("stream", "ops")];
    assert_eq!(
        sum(&samples, "strait_shard_put_records_total", &stream),
        RECORDS as f64,
        "{text}"
    );
    assert_eq!(
        sum(&samples, "strait_shard_put_bytes_total", &stream),
        (RECORDS * 10) as f64
    );
    assert_eq!(
        sum(&samples, "strait_shard_put_requests_total", &stream),
        RECORDS as f64
    );
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        assert!(
            sum(
                &samples,
                "strait_shard_put_records_total",
                &[("stream", "ops"), ("shard", shard)]
            ) > 0.0,
            "no puts counted for {shard}\n{text}"
        );
    }
    assert_eq!(
        sum(
            &samples,
            "strait_api_request_duration_seconds_count",
            &[
                ("api", "kinesis"),
                ("operation", "ListStreams"),
                ("error", "none")
            ]
        ),
        1.0,
        "{text}"
    );
    // Every node hosts a replica of both shards (three replicas) and of the control group.
    assert_eq!(sum(&samples, "strait_node_shard_groups", &[]), 2.0, "{text}");
    assert_eq!(sum(&samples, "strait_raft_role", &stream), 2.0, "{text}");
    assert_eq!(
        sum(&samples, "strait_raft_role", &[("group", "0")]),
        1.0,
        "{text}"
    );
    assert!(
        sum(&samples, "strait_raft_commit_index", &[("group", "0")]) > 0.0,
        "{text}"
    );
    assert!(
        sum(&samples, "strait_raft_term", &[("group", "0")]) > 0.0,
        "{text}"
    );
    assert_eq!(sum(&samples, "strait_node_ready", &[]), 1.0, "{text}");
    assert!(sum(&samples, "strait_node_disk_bytes", &[]) > 0.0, "{text}");
    // Each committed batch is timed once, by the replica that led its group then (leaders
    // may move between nodes meanwhile, so only the sum over nodes is fixed).
    let mut commits = 0.0;
    for address in kinesis.values() {
        let (_, text) = get(address, "/metrics").await?;
        let samples = parse_exposition(&text)?;
        assert_eq!(sum(&samples, "strait_raft_role", &stream), 2.0, "{text}");
        commits += sum(&samples, "strait_raft_commit_latency_seconds_count", &stream);
    }
    assert!(
        commits >= RECORDS as f64,
        "{commits} commits timed for {RECORDS} puts"
    );

    // SIGTERM on the leader of shard 0's group.
    let status = client
        .cluster_status(pb::ClusterStatusRequest {})
        .await?
        .into_inner();
    let leader = status
        .groups
        .iter()
        .find(|g| g.stream == "ops" && g.shard_id == "shardId-000000000000")
        .and_then(|g| g.leader)
        .context("shard 0 has a leader")?;
    let took = cluster
        .terminate(leader, SHUTDOWN_TIMEOUT + Duration::from_secs(5))
        .await?;
    eprintln!("node {leader} stopped {took:?} after SIGTERM");
    let log = std::fs::read_to_string(cluster.dir.path().join(format!("node-{leader}.log")))?;
    assert!(
        log.contains("leadership hand-off done") && log.contains("still_led=0"),
        "node {leader} did not hand off every leadership:\n{log}"
    );

    // The others keep taking writes; with the leaderships handed off, at once.
    let survivor = if leader == 1 { 2 } else { 1 };
    let mut client = cluster.client(survivor).await?;
    let started = Instant::now();
    let mut retries = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..RECORDS {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let attempt = Instant::now();
            match put(&mut client, "ops", &format!("after-{i}"), b"x").await {
                Ok(_) => {
                    slowest = slowest.max(attempt.elapsed());
                    break;
                }
                Err(error) if Instant::now() < deadline => {
                    retries += 1;
                    eprintln!("put after SIGTERM failed, retrying: {error:#}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => return Err(error.context(cluster.logs())),
            }
        }
    }
    eprintln!(
        "{RECORDS} puts after the stop took {:?}, the slowest {slowest:?}, {retries} retries",
        started.elapsed()
    );
    Ok(())
}
