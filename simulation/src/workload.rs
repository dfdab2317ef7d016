//! The simulated clients: producers, the leader observer and the admin (setup, recovery
//! barrier and the final lineage read).
//!
//! Every call has a deadline: turmoil's TCP does not retransmit, so a stream that lost a
//! segment never delivers again. After a timeout the client drops the channel and the
//! next call dials afresh.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};
use strait_raft::network::Dialer;
use tonic::transport::Channel;

use crate::history::{Ack, Attempt, ReadRecord, ShardView, now};
use crate::net::{PORT, SimDialer};
use crate::run::Shared;

/// Producer ids of the workload's clients start here; the admin's barrier writes use
/// [`BARRIER_PRODUCER`].
pub const PRODUCER_BASE: u64 = 0x5eed_0000;
pub const BARRIER_PRODUCER: u64 = 0xba77_1e00;

const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a producer keeps retrying one batch before it records it as unknown.
const BATCH_DEADLINE: Duration = Duration::from_secs(12);

/// Channels to every node, dialed lazily, dropped after a failure.
struct Nodes {
    names: Vec<String>,
    dialer: SimDialer,
    clients: Vec<Option<StreamServiceClient<Channel>>>,
}

impl Nodes {
    fn new(names: &[String]) -> Self {
        Self {
            names: names.to_vec(),
            dialer: SimDialer::default(),
            clients: vec![None; names.len()],
        }
    }

    fn client(&mut self, index: usize) -> StreamServiceClient<Channel> {
        let name = &self.names[index];
        let dialer = &self.dialer;
        self.clients[index]
            .get_or_insert_with(|| {
                let channel = dialer
                    .dial(&format!("{name}:{PORT}"))
                    .expect("infallible: node addresses are well formed");
                StreamServiceClient::new(channel)
            })
            .clone()
    }

    fn reset(&mut self, index: usize) {
        self.clients[index] = None;
    }

    fn len(&self) -> usize {
        self.names.len()
    }
}

/// Runs one call against node `index` with a deadline; resets the channel on failure.
async fn call<T, F, Fut>(nodes: &mut Nodes, index: usize, f: F) -> Result<T, String>
where
    F: FnOnce(StreamServiceClient<Channel>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    call_within(nodes, index, CALL_TIMEOUT, f).await
}

async fn call_within<T, F, Fut>(nodes: &mut Nodes, index: usize, timeout: Duration, f: F) -> Result<T, String>
where
    F: FnOnce(StreamServiceClient<Channel>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let client = nodes.client(index);
    match tokio::time::timeout(timeout, f(client)).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => {
            if matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ) {
                nodes.reset(index);
            }
            Err(format!("{:?}: {}", status.code(), status.message()))
        }
        Err(_) => {
            nodes.reset(index);
            Err("timeout".to_string())
        }
    }
}

/// What one producer does.
#[derive(Debug, Clone)]
pub struct ProducerPlan {
    pub client: u32,
    pub nodes: Vec<String>,
    pub stream: String,
    /// The partition keys this producer owns (no other producer writes them).
    pub keys: Vec<String>,
    pub seed: u64,
    /// Spells, from the workload's start, in which every producer holds back: long
    /// enough for the shard groups to go quiet, so that faults meet quiet groups too.
    pub lulls: Vec<std::ops::Range<Duration>>,
}

/// Draws the lulls every producer of a run shares: two spells of 1.5–3 s, longer than
/// the simulated nodes' `quiet_after_ms`, somewhere in the fault window.
pub fn lulls(rng: &mut StdRng, window: Duration) -> Vec<std::ops::Range<Duration>> {
    let window_ms = window.as_millis() as u64;
    (0..2)
        .map(|_| {
            let start = Duration::from_millis(rng.random_range(0..window_ms.max(1)));
            start..start + Duration::from_millis(rng.random_range(1500..3000))
        })
        .collect()
}

/// Puts batches until the driver stops the workload, retrying each batch with the same
/// producer sequence so a retry is stored once; a batch never acknowledged is recorded
/// as unknown.
pub async fn producer(plan: ProducerPlan, shared: Shared) -> turmoil::Result {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let actor = format!("c{}", plan.client);
    while shared.lock().expect("state").workload_start.is_none() {
        if shared.lock().expect("state").finished {
            shared.lock().expect("state").producers_running -= 1;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut nodes = Nodes::new(&plan.nodes);
    let mut batch = 0u64;
    while !shared.lock().expect("state").stop_workload {
        let count = rng.random_range(1..=4usize);
        let mut entries = Vec::with_capacity(count);
        {
            let mut state = shared.lock().expect("state");
            for i in 0..count {
                let key = plan.keys[rng.random_range(0..plan.keys.len())].clone();
                let data = format!("c{}-b{batch}-r{i}", plan.client).into_bytes();
                state.history.attempts.insert(
                    data.clone(),
                    Attempt {
                        client: plan.client,
                        batch,
                        partition_key: key.clone(),
                    },
                );
                entries.push(pb::PutRecordsEntry {
                    partition_key: key,
                    data: data.into(),
                    explicit_hash_key: None,
                });
            }
            let keys: Vec<&str> = entries.iter().map(|e| e.partition_key.as_str()).collect();
            state
                .history
                .log(now(), &actor, format!("put b{batch} keys={}", keys.join(",")));
        }
        let request = pb::PutRecordsRequest {
            stream: plan.stream.clone(),
            records: entries,
            producer: Some(pb::Producer {
                producer_id: PRODUCER_BASE + u64::from(plan.client),
                sequence: batch,
            }),
            ..Default::default()
        };
        let done = put_until_acked(
            &mut nodes,
            &mut rng,
            &shared,
            &actor,
            plan.client,
            batch,
            &request,
            now() + BATCH_DEADLINE,
        )
        .await;
        if !done {
            let mut state = shared.lock().expect("state");
            state.history.unknown.push((plan.client, batch));
            state.history.log(now(), &actor, format!("unknown b{batch}"));
        }
        batch += 1;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
        let start = shared.lock().expect("state").workload_start.unwrap_or_default();
        let elapsed = now().saturating_sub(start);
        if let Some(lull) = plan.lulls.iter().find(|l| l.contains(&elapsed)) {
            tokio::time::sleep(lull.end - elapsed).await;
        }
    }
    shared.lock().expect("state").producers_running -= 1;
    Ok(())
}

/// Sends `request` (retrying on any node) until every record is acknowledged or the
/// deadline passes. Records acknowledged on the way are recorded at once.
#[allow(clippy::too_many_arguments)]
async fn put_until_acked(
    nodes: &mut Nodes,
    rng: &mut StdRng,
    shared: &Shared,
    actor: &str,
    client: u32,
    batch: u64,
    request: &pb::PutRecordsRequest,
    deadline: Duration,
) -> bool {
    let mut acked: BTreeMap<usize, (String, String)> = BTreeMap::new();
    loop {
        let node = rng.random_range(0..nodes.len());
        let outcome = call(nodes, node, |mut c| {
            let request = request.clone();
            async move { c.put_records(request).await }
        })
        .await;
        {
            let mut state = shared.lock().expect("state");
            match outcome {
                Ok(response) => {
                    let mut failed = Vec::new();
                    for (i, result) in response.records.iter().enumerate() {
                        if !result.error_code.is_empty() {
                            failed.push(format!("{i}:{}", result.error_code));
                            continue;
                        }
                        let position = (result.shard_id.clone(), result.sequence_number.clone());
                        match acked.get(&i) {
                            Some(previous) if *previous != position => {
                                state.history.ack_conflicts.push(format!(
                                    "c{client} b{batch} record {i}: acknowledged at {}/{} then at {}/{}",
                                    previous.0, previous.1, position.0, position.1
                                ))
                            }
                            Some(_) => {}
                            None => {
                                let entry = &request.records[i];
                                acked.insert(i, position.clone());
                                state.history.acks.push(Ack {
                                    client,
                                    batch,
                                    partition_key: entry.partition_key.clone(),
                                    data: entry.data.to_vec(),
                                    shard_id: position.0,
                                    sequence_number: position.1,
                                });
                            }
                        }
                    }
                    if failed.is_empty() && acked.len() == request.records.len() {
                        let seqs: Vec<String> = acked
                            .values()
                            .map(|(shard, seq)| format!("{}/{}", short_shard(shard), short_seq(seq)))
                            .collect();
                        state.history.log(
                            now(),
                            actor,
                            format!("ack b{batch} via n{} {}", node + 1, seqs.join(" ")),
                        );
                        return true;
                    }
                    state.history.log(
                        now(),
                        actor,
                        format!("partial b{batch} via n{} failed {}", node + 1, failed.join(",")),
                    );
                }
                Err(error) => {
                    state
                        .history
                        .log(now(), actor, format!("fail b{batch} via n{} {error}", node + 1));
                }
            }
        }
        if now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..300))).await;
    }
}

fn short_shard(shard_id: &str) -> &str {
    let digits = shard_id.trim_start_matches("shardId-");
    match digits.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    }
}

/// The record position part of a sequence number (index digits then offset), for traces.
fn short_seq(sequence_number: &str) -> String {
    if sequence_number.len() == 56 {
        let index = sequence_number[31..51].trim_start_matches('0');
        let offset = sequence_number[51..].trim_start_matches('0');
        format!(
            "{}.{}",
            if index.is_empty() { "0" } else { index },
            if offset.is_empty() { "0" } else { offset }
        )
    } else {
        sequence_number.to_string()
    }
}

/// Current leaders as ClusterStatus reports them, for the nemesis.
#[derive(Debug, Default, Clone)]
pub struct Leaders {
    /// Node id of the control-plane leader.
    pub control: Option<u64>,
    /// Node ids of the stream's shard leaders, by shard id.
    pub shards: BTreeMap<String, u64>,
}

/// Polls ClusterStatus round-robin until the run is finished.
pub async fn observer(node_names: Vec<String>, stream: String, shared: Shared) -> turmoil::Result {
    let mut nodes = Nodes::new(&node_names);
    let mut next = 0;
    while !shared.lock().expect("state").finished {
        let node = next % nodes.len();
        next += 1;
        if let Ok(status) = call(&mut nodes, node, |mut c| async move {
            c.cluster_status(pb::ClusterStatusRequest {}).await
        })
        .await
        {
            let leaders = Leaders {
                control: status.control_leader,
                shards: status
                    .groups
                    .iter()
                    .filter(|g| g.stream == stream)
                    .filter_map(|g| g.leader.map(|l| (g.shard_id.clone(), l)))
                    .collect(),
            };
            shared.lock().expect("state").leaders = leaders;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// A reshard the nemesis asked for; the operations client picks the shards when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReshardOrder {
    /// Merge two adjacent open shards, or split one.
    pub merge: bool,
    /// Which shard (or adjacent pair), modulo the open shards at the time.
    pub pick: u64,
}

/// How long a split or merge may take: it returns once the children accept writes.
const RESHARD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the operations client waits before retrying a reshard that failed.
const RESHARD_RETRY: Duration = Duration::from_millis(500);
/// How long after healing a reshard still pending (none completed under the faults) is
/// retried.
const RESHARD_AFTER_HEAL: Duration = Duration::from_secs(10);

/// Carries out the nemesis' reshard orders (a split or merge is a client request, so it
/// runs inside the simulation) until the run is finished. An order that fails (the
/// node was cut off, the shard was already being resharded) is retried against the
/// shards open at the time, until it succeeds or the faults stop.
pub async fn resharder(node_names: Vec<String>, stream: String, shared: Shared) -> turmoil::Result {
    let mut nodes = Nodes::new(&node_names);
    let mut next = 0;
    while !shared.lock().expect("state").finished {
        let order = {
            let mut state = shared.lock().expect("state");
            let order = (!state.reshards.is_empty()).then(|| state.reshards.remove(0));
            state.reshard_in_flight = order.is_some();
            order
        };
        let Some(order) = order else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let retry = |shared: &Shared| {
            let mut state = shared.lock().expect("state");
            state.reshard_in_flight = false;
            let after_heal = state.history.reshards == 0
                && state
                    .healed_at
                    .is_some_and(|healed| now() < healed + RESHARD_AFTER_HEAL);
            if !state.stop_workload || after_heal {
                state.reshards.insert(0, order);
            }
        };
        let node = next % nodes.len();
        next += 1;
        let request = pb::ListShardsRequest {
            stream: stream.clone(),
            ..Default::default()
        };
        let shards = match call(
            &mut nodes,
            node,
            |mut c| async move { c.list_shards(request).await },
        )
        .await
        {
            Ok(response) => response.shards,
            Err(e) => {
                shared.lock().expect("state").history.log(
                    now(),
                    "ops",
                    format!("reshard waits: ListShards {e}"),
                );
                retry(&shared);
                tokio::time::sleep(RESHARD_RETRY).await;
                continue;
            }
        };
        let mut open: Vec<ShardView> = shards
            .iter()
            .filter(|s| s.ending_sequence_number.is_none())
            .map(view)
            .collect();
        open.sort_by_key(|s| s.start);
        if open.is_empty() {
            shared.lock().expect("state").reshard_in_flight = false;
            continue;
        }
        let (what, outcome) = if order.merge && open.len() >= 2 {
            let i = (order.pick % (open.len() as u64 - 1)) as usize;
            let request = pb::MergeShardsRequest {
                stream: stream.clone(),
                shard_to_merge: open[i].shard_id.clone(),
                adjacent_shard_to_merge: open[i + 1].shard_id.clone(),
                ..Default::default()
            };
            let what = format!(
                "merge {}+{}",
                short_shard(&open[i].shard_id),
                short_shard(&open[i + 1].shard_id)
            );
            let outcome = call_within(&mut nodes, node, RESHARD_TIMEOUT, |mut c| async move {
                c.merge_shards(request).await
            })
            .await
            .map(|_| ());
            (what, outcome)
        } else {
            let i = (order.pick % open.len() as u64) as usize;
            let request = pb::SplitShardRequest {
                stream: stream.clone(),
                shard_to_split: open[i].shard_id.clone(),
                ..Default::default()
            };
            let what = format!("split {}", short_shard(&open[i].shard_id));
            let outcome = call_within(&mut nodes, node, RESHARD_TIMEOUT, |mut c| async move {
                c.split_shard(request).await
            })
            .await
            .map(|_| ());
            (what, outcome)
        };
        let failed = {
            let mut state = shared.lock().expect("state");
            state.reshard_in_flight = false;
            let result = match &outcome {
                Ok(()) => {
                    state.history.reshards += 1;
                    "done".to_string()
                }
                Err(e) => e.clone(),
            };
            state
                .history
                .log(now(), "ops", format!("{what} via n{}: {result}", node + 1));
            outcome.is_err()
        };
        if failed {
            retry(&shared);
            tokio::time::sleep(RESHARD_RETRY).await;
        }
    }
    Ok(())
}

/// What the admin client does.
#[derive(Debug, Clone)]
pub struct AdminPlan {
    pub nodes: Vec<String>,
    pub stream: String,
    pub shard_count: u32,
    pub setup_timeout: Duration,
    pub recovery_bound: Duration,
    pub read_timeout: Duration,
    pub reader: ReaderOrder,
}

/// The order in which the final reader visits shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderOrder {
    /// Parents before children, as a Kinesis consumer must.
    Lineage,
    /// Deliberately wrong: children before their parents. The per-key lineage order
    /// check must report it.
    ChildrenFirst,
}

impl ReaderOrder {
    pub fn name(self) -> &'static str {
        match self {
            ReaderOrder::Lineage => "lineage",
            ReaderOrder::ChildrenFirst => "children-first",
        }
    }

    pub fn parse(name: &str) -> Option<ReaderOrder> {
        [ReaderOrder::Lineage, ReaderOrder::ChildrenFirst]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// Creates the stream, starts the workload, and after the driver healed the cluster
/// checks recovery (a barrier write to every open shard within the bound) and reads
/// everything back following shard lineage.
pub async fn admin(plan: AdminPlan, shared: Shared) -> turmoil::Result {
    let mut nodes = Nodes::new(&plan.nodes);
    if !setup(&plan, &mut nodes, &shared).await {
        let mut state = shared.lock().expect("state");
        state.history.run_errors.push(format!(
            "liveness: stream {} not ACTIVE within {:?} of a fault-free start",
            plan.stream, plan.setup_timeout
        ));
        state.finished = true;
        state.stop_workload = true;
        return Ok(());
    }
    {
        let mut state = shared.lock().expect("state");
        state.workload_start = Some(now());
        state
            .history
            .log(now(), "admin", "stream active, workload starts");
    }
    let healed_at = loop {
        if let Some(at) = shared.lock().expect("state").healed_at {
            break at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    shared.lock().expect("state").history.recovery_bound = plan.recovery_bound;
    // Every producer batch must be resolved (acknowledged or unknown) before the read, or
    // an acknowledgment could arrive after the reader passed its position.
    while {
        let state = shared.lock().expect("state");
        state.producers_running > 0 || state.reshard_in_flight || !state.reshards.is_empty()
    } {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = barrier(&plan, &mut nodes, &shared, healed_at).await;
    if recovered {
        let after = now() - healed_at;
        let mut state = shared.lock().expect("state");
        state.history.recovered_after = Some(after);
        state.history.log(
            now(),
            "admin",
            format!("recovered {:.3}s after healing", after.as_secs_f64()),
        );
    }
    read_everything(&plan, &mut nodes, &shared).await;
    shared.lock().expect("state").finished = true;
    Ok(())
}

async fn setup(plan: &AdminPlan, nodes: &mut Nodes, shared: &Shared) -> bool {
    let deadline = now() + plan.setup_timeout;
    let mut created = false;
    let mut attempt = 0usize;
    while now() < deadline {
        let node = attempt % nodes.len();
        attempt += 1;
        if !created {
            let request = pb::CreateStreamRequest {
                stream: plan.stream.clone(),
                shard_count: plan.shard_count,
                ..Default::default()
            };
            let outcome = call(nodes, node, |mut c| async move { c.create_stream(request).await }).await;
            match outcome {
                Ok(_) => created = true,
                Err(e) if e.contains("InUse") || e.contains("AlreadyExists") || e.contains("exists") => {
                    created = true
                }
                Err(_) => {}
            }
        }
        if created {
            let request = pb::DescribeStreamRequest {
                stream: plan.stream.clone(),
                ..Default::default()
            };
            if let Ok(response) = call(
                nodes,
                node,
                |mut c| async move { c.describe_stream(request).await },
            )
            .await
                && response.stream.is_some_and(|s| s.status == "ACTIVE")
            {
                return true;
            }
        }
        let _ = shared;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn list_shards(
    plan: &AdminPlan,
    nodes: &mut Nodes,
    deadline: Duration,
    first_node: usize,
) -> Option<Vec<pb::Shard>> {
    let mut attempt = first_node;
    while now() < deadline {
        let node = attempt % nodes.len();
        attempt += 1;
        let request = pb::ListShardsRequest {
            stream: plan.stream.clone(),
            ..Default::default()
        };
        if let Ok(response) = call(nodes, node, |mut c| async move { c.list_shards(request).await }).await {
            return Some(response.shards);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// One acknowledged write to every open shard: the cluster serves writes again. Repeats
/// until a listing shows no open shard without its barrier (a reshard that a failed
/// request left behind may still complete and open new shards).
async fn barrier(plan: &AdminPlan, nodes: &mut Nodes, shared: &Shared, healed_at: Duration) -> bool {
    let deadline = healed_at + plan.recovery_bound;
    let mut rng = StdRng::seed_from_u64(0);
    loop {
        let Some(shards) = list_shards(plan, nodes, deadline, 0).await else {
            shared.lock().expect("state").history.run_errors.push(format!(
                "liveness: ListShards did not answer within {:?} after healing",
                plan.recovery_bound
            ));
            return false;
        };
        let missing: Vec<&pb::Shard> = shards
            .iter()
            .filter(|s| s.ending_sequence_number.is_none())
            .filter(|s| !barrier_acked(shared, &s.shard_id))
            .collect();
        if missing.is_empty() {
            return true;
        }
        for shard in missing {
            let ordinal: u64 = short_shard(&shard.shard_id).parse().unwrap_or(u64::MAX);
            let start = shard
                .hash_key_range
                .as_ref()
                .map(|r| r.starting_hash_key.clone())
                .unwrap_or_default();
            let data = format!("barrier-{}", shard.shard_id).into_bytes();
            let key = "barrier".to_string();
            shared.lock().expect("state").history.attempts.insert(
                data.clone(),
                Attempt {
                    client: 0,
                    batch: ordinal,
                    partition_key: key.clone(),
                },
            );
            let request = pb::PutRecordsRequest {
                stream: plan.stream.clone(),
                records: vec![pb::PutRecordsEntry {
                    partition_key: key,
                    data: data.into(),
                    explicit_hash_key: Some(start),
                }],
                producer: Some(pb::Producer {
                    producer_id: BARRIER_PRODUCER,
                    sequence: ordinal,
                }),
                ..Default::default()
            };
            if !put_until_acked(nodes, &mut rng, shared, "admin", 0, ordinal, &request, deadline).await {
                let mut state = shared.lock().expect("state");
                state.history.unknown.push((0, ordinal));
                state.history.run_errors.push(format!(
                    "liveness: no write to {} acknowledged within {:?} after healing",
                    shard.shard_id, plan.recovery_bound
                ));
                return false;
            }
        }
    }
}

fn barrier_acked(shared: &Shared, shard_id: &str) -> bool {
    let barrier = format!("barrier-{shard_id}").into_bytes();
    shared
        .lock()
        .expect("state")
        .history
        .acks
        .iter()
        .any(|a| a.data == barrier)
}

fn view(shard: &pb::Shard) -> ShardView {
    let range = shard.hash_key_range.clone().unwrap_or_default();
    ShardView {
        shard_id: shard.shard_id.clone(),
        parents: shard
            .parent_shard_id
            .iter()
            .chain(shard.adjacent_parent_shard_id.iter())
            .cloned()
            .collect(),
        start: range.starting_hash_key.parse().unwrap_or(u128::MAX),
        end: range.ending_hash_key.parse().unwrap_or(0),
        open: shard.ending_sequence_number.is_none(),
    }
}

/// Reads every shard from TRIM_HORIZON, parents before children. An open shard is read
/// until its barrier record and then to its end, so a lagging replica cannot cut the
/// read short.
///
/// A node answers ListShards from its own replica of the metadata, which may lag (a node
/// that just restarted): a shard listed as open may already have ended in a reshard the
/// listing does not show yet. Like a Kinesis consumer that re-lists when a shard ends,
/// the reader then lists again (starting at another node) and reads everything anew.
async fn read_everything(plan: &AdminPlan, nodes: &mut Nodes, shared: &Shared) {
    let deadline = now() + plan.read_timeout;
    let mut pass = 0usize;
    loop {
        match read_pass(plan, nodes, shared, deadline, pass).await {
            ReadPass::Done(records, views) => {
                let mut state = shared.lock().expect("state");
                state.history.read = Some(records);
                state.history.shards = Some(views);
                return;
            }
            ReadPass::Stale(shard_id) => {
                shared.lock().expect("state").history.log(
                    now(),
                    "admin",
                    format!(
                        "{} ended but was listed open: stale listing, reading again",
                        short_shard(&shard_id)
                    ),
                );
                pass += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            ReadPass::Failed => return,
        }
    }
}

/// The outcome of one listing and the reads that follow it.
enum ReadPass {
    Done(Vec<ReadRecord>, Vec<ShardView>),
    /// This shard, listed as open, ended while being read.
    Stale(String),
    /// Recorded as a run error.
    Failed,
}

async fn read_pass(
    plan: &AdminPlan,
    nodes: &mut Nodes,
    shared: &Shared,
    deadline: Duration,
    pass: usize,
) -> ReadPass {
    let Some(shards) = list_shards(plan, nodes, deadline, pass).await else {
        shared
            .lock()
            .expect("state")
            .history
            .run_errors
            .push("reader: ListShards never answered".to_string());
        return ReadPass::Failed;
    };
    let views: Vec<ShardView> = shards.iter().map(view).collect();
    {
        let listed: Vec<String> = views
            .iter()
            .map(|v| {
                let parents: Vec<&str> = v.parents.iter().map(|p| short_shard(p)).collect();
                format!(
                    "{}{}<-[{}]",
                    short_shard(&v.shard_id),
                    if v.open { "" } else { "(closed)" },
                    parents.join(",")
                )
            })
            .collect();
        shared
            .lock()
            .expect("state")
            .history
            .log(now(), "admin", format!("shards {}", listed.join(" ")));
    }
    let known: BTreeSet<&str> = views.iter().map(|v| v.shard_id.as_str()).collect();
    // Lineage order: a shard is read once every parent it names (and that still exists)
    // has been read.
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < views.len() {
        let before = order.len();
        for v in &views {
            if !done.contains(&v.shard_id)
                && v.parents
                    .iter()
                    .all(|p| done.contains(p) || !known.contains(p.as_str()))
            {
                done.insert(v.shard_id.clone());
                order.push(v.clone());
            }
        }
        if order.len() == before {
            shared
                .lock()
                .expect("state")
                .history
                .run_errors
                .push("reader: shard lineage has a cycle".to_string());
            return ReadPass::Failed;
        }
    }
    if plan.reader == ReaderOrder::ChildrenFirst {
        order.reverse();
    }
    let mut records = Vec::new();
    let mut attempt = 0usize;
    for shard in &order {
        let barrier = format!("barrier-{}", shard.shard_id).into_bytes();
        let barrier_acked = barrier_acked(shared, &shard.shard_id);
        'shard: loop {
            if now() >= deadline {
                shared.lock().expect("state").history.run_errors.push(format!(
                    "reader: could not read {} within {:?}",
                    shard.shard_id, plan.read_timeout
                ));
                return ReadPass::Failed;
            }
            let node = attempt % nodes.len();
            attempt += 1;
            let request = pb::GetShardIteratorRequest {
                stream: plan.stream.clone(),
                shard_id: shard.shard_id.clone(),
                shard_iterator_type: pb::ShardIteratorType::TrimHorizon as i32,
                ..Default::default()
            };
            let Ok(response) = call(
                nodes,
                node,
                |mut c| async move { c.get_shard_iterator(request).await },
            )
            .await
            else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut iterator = response.shard_iterator;
            let mut read: Vec<ReadRecord> = Vec::new();
            let mut seen_barrier = !shard.open || !barrier_acked;
            let mut ended = false;
            loop {
                if now() >= deadline {
                    continue 'shard;
                }
                let request = pb::GetRecordsRequest {
                    shard_iterator: iterator.clone(),
                    limit: 1000,
                };
                let response =
                    match call(nodes, node, |mut c| async move { c.get_records(request).await }).await {
                        Ok(r) => r,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue 'shard;
                        }
                    };
                let empty = response.records.is_empty();
                for record in response.records {
                    if record.data.as_ref() == barrier.as_slice() {
                        seen_barrier = true;
                    }
                    read.push(ReadRecord {
                        shard_id: shard.shard_id.clone(),
                        sequence_number: record.sequence_number,
                        partition_key: record.partition_key,
                        data: record.data.to_vec(),
                        arrival_ms: record.approximate_arrival_timestamp_ms,
                    });
                }
                match response.next_shard_iterator {
                    None => {
                        ended = true;
                        break;
                    }
                    Some(next) => {
                        iterator = next;
                        // An open shard is read until caught up past the barrier; a
                        // closed one to its end (no next iterator): an empty page from a
                        // replica still catching up says nothing about what follows.
                        if empty && response.millis_behind_latest == 0 {
                            if seen_barrier && shard.open {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
            shared.lock().expect("state").history.log(
                now(),
                "admin",
                format!(
                    "read {} records from {}",
                    read.len(),
                    short_shard(&shard.shard_id)
                ),
            );
            if shard.open && ended {
                return ReadPass::Stale(shard.shard_id.clone());
            }
            records.extend(read);
            break;
        }
    }
    ReadPass::Done(records, views)
}
