//! How long writes to a shard stop when its leader is killed with SIGKILL.
//!
//! Starts three `strait` nodes, creates a 4-shard stream and keeps producers writing to
//! every shard through one node. Each round picks a shard (round-robin), finds its
//! leader from ClusterStatus, routes the producers through a node that is not that
//! leader, kills the leader with `kill -9`, and waits until every shard the victim led
//! acknowledges writes again. A shard's gap is the time between its last acknowledgement
//! before the kill and its first one after it: what a producer sees as a stall. The
//! victim is then restarted and the cluster must be ready again before the next round.
//! At the end it prints p50/p99/max of the gaps of the chosen shards and of the worst
//! shard per kill, and one JSON line.
//!
//! ```text
//! cargo build -p strait-cli && cargo run -p strait-tests --bin failover -- --kills 20
//! ```
//!
//! Extra `strait serve` arguments (e.g. Raft timing) follow `--`:
//! `failover --kills 20 -- --raft-election-min-ms 1000 --raft-election-max-ms 2000`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};
use tonic::transport::Channel;

const STREAM: &str = "failover";
const SHARDS: u32 = 4;
const NODES: u64 = 3;

#[derive(Parser, Debug)]
#[command(about = "Measures how long writes stall after kill -9 of a shard leader")]
struct Args {
    /// Leaders to kill, one per round.
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Producers per shard, each with one PutRecords in flight.
    #[arg(long, default_value_t = 2)]
    producers_per_shard: usize,
    /// Records per PutRecords call.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Bytes per record.
    #[arg(long, default_value_t = 100)]
    record_bytes: usize,
    /// Longest a round may wait for writes to resume before the run fails.
    #[arg(long, default_value_t = 30)]
    resume_timeout_secs: u64,
    /// Extra arguments for every `strait serve`.
    #[arg(last = true)]
    serve_args: Vec<String>,
}

/// A shard's latest acknowledgement: when its request was sent and when it was answered.
#[derive(Debug, Clone, Copy)]
struct Ack {
    sent: Instant,
    acked: Instant,
}

/// When each shard last acknowledged a write.
#[derive(Default)]
struct Acks {
    last: Mutex<BTreeMap<String, Ack>>,
}

impl Acks {
    fn record(&self, shard: &str, ack: Ack) {
        let mut last = self.last.lock().expect("acks lock");
        let entry = last.entry(shard.to_string()).or_insert(ack);
        if ack.acked > entry.acked {
            *entry = ack;
        }
    }

    fn last(&self, shard: &str) -> Option<Ack> {
        self.last.lock().expect("acks lock").get(shard).copied()
    }

    /// When the shard acknowledged a write that the kill at `kill` could not have
    /// preceded: one sent after it, or one answered well after it (a request that waited
    /// out the failover). An answer already on its way when the leader died is not one.
    fn resumed(&self, shard: &str, kill: Instant) -> Option<Instant> {
        self.last(shard)
            .filter(|a| a.sent > kill || a.acked > kill + Duration::from_millis(100))
            .map(|a| a.acked)
    }
}

/// An explicit hash key inside shard `index` of an evenly split stream.
fn hash_key_of(index: u32) -> String {
    ((u128::from(index) << 126) + 1).to_string()
}

/// One producer: PutRecords to one shard through the current writer node, as fast as
/// the acknowledgements come back, retrying failures after a short pause.
async fn produce(
    clients: Arc<Vec<StreamServiceClient<Channel>>>,
    writer: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acks: Arc<Acks>,
    shard: u32,
    args: Arc<Args>,
) -> u64 {
    let payload = bytes::Bytes::from(vec![b'x'; args.record_bytes]);
    let key = hash_key_of(shard);
    let mut failures = 0;
    while !stop.load(Ordering::Relaxed) {
        let request = pb::PutRecordsRequest {
            stream: STREAM.into(),
            records: (0..args.batch)
                .map(|_| pb::PutRecordsEntry {
                    partition_key: "k".into(),
                    data: payload.clone(),
                    explicit_hash_key: Some(key.clone()),
                })
                .collect(),
            ..Default::default()
        };
        let mut client = clients[writer.load(Ordering::Relaxed)].clone();
        let sent = Instant::now();
        match client.put_records(request).await {
            Ok(response) => {
                let response = response.into_inner();
                let acked = Instant::now();
                if response.failed_record_count == 0 {
                    if let Some(first) = response.records.first() {
                        acks.record(&first.shard_id, Ack { sent, acked });
                    }
                    continue;
                }
                failures += 1;
            }
            Err(_) => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    failures
}

async fn status(client: &mut StreamServiceClient<Channel>) -> Result<pb::ClusterStatusResponse> {
    Ok(client
        .cluster_status(pb::ClusterStatusRequest {})
        .await?
        .into_inner())
}

/// The shard groups of the stream, by shard id, with their leader as the node behind
/// `client` sees it; waits until every one has a leader.
async fn leaders(client: &mut StreamServiceClient<Channel>) -> Result<BTreeMap<String, u64>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = status(client).await?;
        let groups: Vec<&pb::GroupStatus> = status.groups.iter().filter(|g| g.stream == STREAM).collect();
        if groups.len() == SHARDS as usize && groups.iter().all(|g| g.leader.is_some()) {
            return Ok(groups
                .iter()
                .map(|g| (g.shard_id.clone(), g.leader.unwrap_or_default()))
                .collect());
        }
        if Instant::now() > deadline {
            bail!("shard groups without a leader after 30 s: {:?}", status.groups);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The leaders every node names alike: just after a restart one node's view may lag,
/// and a round aimed at a node that no longer leads would measure nothing.
async fn agreed_leaders(clients: &[StreamServiceClient<Channel>]) -> Result<BTreeMap<String, u64>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut views = Vec::new();
        for client in clients {
            views.push(leaders(&mut client.clone()).await?);
        }
        if views.windows(2).all(|w| w[0] == w[1]) {
            return Ok(views.swap_remove(0));
        }
        if Instant::now() > deadline {
            bail!("nodes disagree on the shard leaders after 30 s: {views:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, gaps: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = gaps.to_vec();
    sorted.sort();
    let (p50, p99, max) = (
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        sorted.last().copied().unwrap_or_default(),
    );
    println!(
        "{name}: n={} p50={:.0}ms p99={:.0}ms max={:.0}ms",
        sorted.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    (p50, p99, max)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Arc::new(Args::parse());
    let mut cluster = TestCluster::start(
        NODES,
        ClusterOptions {
            extra_args: args.serve_args.clone(),
        },
    )
    .await?;
    cluster.create_stream(1, STREAM, SHARDS).await?;
    let mut clients = Vec::new();
    for id in 1..=NODES {
        clients.push(cluster.client(id).await?);
    }
    let clients = Arc::new(clients);
    let writer = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Acks::default());
    let mut producers = Vec::new();
    for shard in 0..SHARDS {
        for _ in 0..args.producers_per_shard {
            producers.push(tokio::spawn(produce(
                clients.clone(),
                writer.clone(),
                stop.clone(),
                acks.clone(),
                shard,
                args.clone(),
            )));
        }
    }

    let resume_timeout = Duration::from_secs(args.resume_timeout_secs);
    // The gap of the shard each round aimed at, and the worst gap of any shard the victim led.
    let mut chosen_gaps = Vec::new();
    let mut worst_gaps = Vec::new();
    for round in 0..args.kills {
        let led = agreed_leaders(&clients).await?;
        let (shard, victim) = led
            .iter()
            .nth(round % SHARDS as usize)
            .map(|(s, l)| (s.clone(), *l))
            .context("a shard to aim at")?;
        let new_writer = (1..=NODES).find(|&n| n != victim).context("a surviving node")?;
        writer.store((new_writer - 1) as usize, Ordering::Relaxed);
        let victim_shards: Vec<String> = led
            .iter()
            .filter(|(_, l)| **l == victim)
            .map(|(s, _)| s.clone())
            .collect();
        // Every shard the victim leads is acknowledging through the new writer.
        let settle_from = Instant::now();
        let settled = Instant::now() + Duration::from_secs(10);
        while !victim_shards.iter().all(|s| {
            acks.last(s)
                .is_some_and(|a| a.acked > settle_from + Duration::from_millis(200))
        }) {
            if Instant::now() > settled {
                bail!("round {round}: shards {victim_shards:?} not acknowledging before the kill");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let before: BTreeMap<String, Instant> = victim_shards
            .iter()
            .filter_map(|s| acks.last(s).map(|a| (s.clone(), a.acked)))
            .collect();
        let kill = Instant::now();
        cluster.kill9(victim);
        let mut gaps: BTreeMap<String, Duration> = BTreeMap::new();
        // When the writer node first names another leader for the chosen shard: the part
        // of the gap spent electing, the rest is routing and committing.
        let mut status_client = clients[(new_writer - 1) as usize].clone();
        let mut new_leader_seen: Option<Duration> = None;
        while gaps.len() < victim_shards.len() {
            if new_leader_seen.is_none()
                && let Ok(now) = status(&mut status_client).await
                && now.groups.iter().any(|g| {
                    g.stream == STREAM && g.shard_id == shard && g.leader.is_some_and(|l| l != victim)
                })
            {
                new_leader_seen = Some(kill.elapsed() + (kill - before[&shard]));
            }
            for s in &victim_shards {
                if gaps.contains_key(s) {
                    continue;
                }
                if let Some(at) = acks.resumed(s, kill) {
                    gaps.insert(s.clone(), at - before[s]);
                }
            }
            if kill.elapsed() > resume_timeout {
                bail!(
                    "round {round}: writes to {victim_shards:?} did not resume within {resume_timeout:?}\n{}",
                    cluster.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let chosen = gaps[&shard];
        let worst = gaps.values().copied().max().unwrap_or_default();
        println!(
            "round {round:>2}: killed node {victim} (led {}), writes via node {new_writer}: {shard} gap {:.0}ms \
             (new leader known after {:.0}ms), worst {:.0}ms",
            victim_shards.join(","),
            chosen.as_secs_f64() * 1e3,
            new_leader_seen.unwrap_or_default().as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3
        );
        chosen_gaps.push(chosen);
        worst_gaps.push(worst);

        cluster.restart(victim)?;
        cluster.wait_ready(Duration::from_secs(60)).await?;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = 0;
    for producer in producers {
        failures += producer.await?;
    }
    let (p50, p99, max) = summary("gap of the chosen shard", &chosen_gaps);
    let (_, worst_p99, worst_max) = summary("worst gap per kill", &worst_gaps);
    println!("failed PutRecords calls (retried): {failures}");
    println!(
        "{}",
        serde_json::json!({
            "kills": chosen_gaps.len(),
            "p50_ms": p50.as_millis(),
            "p99_ms": p99.as_millis(),
            "max_ms": max.as_millis(),
            "worst_p99_ms": worst_p99.as_millis(),
            "worst_max_ms": worst_max.as_millis(),
            "failed_calls": failures,
        })
    );
    Ok(())
}
