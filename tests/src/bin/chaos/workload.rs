//! The workload of a chaos run, run as its own process where the nodes are reachable (in the
//! client network namespace, or on the host for containers): producers writing continuously,
//! a reader following every shard's lineage, and after the faults a final read of every
//! shard. Everything goes to the history file; progress goes to standard output, one line
//! every half second, for the orchestrator. The workload stops when its standard input closes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};
use tokio::io::AsyncReadExt;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use crate::history::{Event, now_ms, write_event};

/// Partition keys per producer: enough to spread each producer over every shard.
const KEYS_PER_PRODUCER: u64 = 8;
/// Pause after a failed attempt before the next one.
const BACKOFF: Duration = Duration::from_millis(100);
/// How long a producer keeps retrying its last batch once the workload is told to stop.
const GIVE_UP_AFTER_STOP: Duration = Duration::from_secs(30);
/// How long the final read may take per shard.
const FINAL_READ_BUDGET: Duration = Duration::from_secs(60);

/// Settings of the workload.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkloadArgs {
    /// The nodes' gRPC endpoints, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub endpoints: Vec<String>,
    /// The stream to create and write.
    #[arg(long, default_value = "chaos")]
    pub stream: String,
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    #[arg(long, default_value_t = 4)]
    pub producers: u32,
    /// Records per PutRecords call.
    #[arg(long, default_value_t = 5)]
    pub batch: u32,
    /// Records per second over all producers.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Where to write the history (JSON lines).
    #[arg(long)]
    pub history: PathBuf,
    /// How long one request may take before the next node is tried.
    #[arg(long, default_value = "3000")]
    pub request_timeout_ms: u64,
}

/// What the producers, the reader and the final read share.
struct Ctx {
    args: WorkloadArgs,
    clients: Vec<StreamServiceClient<Channel>>,
    events: mpsc::UnboundedSender<Event>,
    stop: watch::Receiver<bool>,
    acked: AtomicU64,
    unknown: AtomicU64,
    failed_attempts: AtomicU64,
    /// Per producer, when it last got an acknowledgement (ms since the epoch).
    last_ack: Vec<AtomicU64>,
    /// The highest acknowledged sequence number per shard: the final read goes at least
    /// that far.
    tips: Mutex<BTreeMap<String, String>>,
}

impl Ctx {
    fn emit(&self, event: Event) {
        // The writer lives until every sender is gone, so this cannot fail.
        let _ = self.events.send(event);
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn client(&self, node: usize) -> StreamServiceClient<Channel> {
        self.clients[node % self.clients.len()].clone()
    }
}

fn describe(status: &tonic::Status) -> String {
    let kind = status
        .metadata()
        .get(strait_proto::ERROR_TYPE_METADATA)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:?}", status.code()));
    let message: String = status.message().chars().take(120).collect();
    format!("{kind}: {message}")
}

/// Runs the workload until standard input closes, then reads everything back.
pub async fn run(args: WorkloadArgs) -> Result<()> {
    if args.producers == 0 || args.batch == 0 {
        bail!("--producers and --batch must be at least 1");
    }
    let timeout = Duration::from_millis(args.request_timeout_ms);
    let clients = args
        .endpoints
        .iter()
        .map(|e| {
            Ok(StreamServiceClient::new(
                Endpoint::from_shared(e.clone())?
                    .connect_timeout(Duration::from_secs(1))
                    .timeout(timeout)
                    .connect_lazy(),
            )
            .max_decoding_message_size(64 << 20))
        })
        .collect::<Result<Vec<_>>>()?;
    let file = std::fs::File::create(&args.history)
        .with_context(|| format!("creating {}", args.history.display()))?;
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Event>();
    let writer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut out = std::io::BufWriter::new(file);
        while let Some(event) = events_rx.blocking_recv() {
            write_event(&mut out, &event)?;
        }
        std::io::Write::flush(&mut out)?;
        Ok(())
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        args: args.clone(),
        clients,
        events: events_tx,
        stop: stop_rx,
        acked: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        failed_attempts: AtomicU64::new(0),
        last_ack: (0..args.producers).map(|_| AtomicU64::new(now_ms())).collect(),
        tips: Mutex::new(BTreeMap::new()),
    });

    create_stream(&ctx).await?;
    println!("ready");

    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        let _ = stop_tx.send(true);
    });
    let progress = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                // The orchestrator waits for every producer to be acknowledged again
                // after a fault, so it watches the one that has waited longest.
                let oldest_last_ack = ctx.last_ack.iter().map(|t| t.load(Ordering::Relaxed)).min();
                println!(
                    "progress acked={} unknown={} failed_attempts={} oldest_last_ack={}",
                    ctx.acked.load(Ordering::Relaxed),
                    ctx.unknown.load(Ordering::Relaxed),
                    ctx.failed_attempts.load(Ordering::Relaxed),
                    oldest_last_ack.unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    let producers: Vec<_> = (0..ctx.args.producers)
        .map(|p| tokio::spawn(produce(ctx.clone(), p)))
        .collect();
    let reader = tokio::spawn(follow(ctx.clone()));
    for producer in producers {
        producer.await?;
    }
    reader.await?;
    progress.abort();

    let result = final_read(&ctx).await;
    let (acked, unknown) = (
        ctx.acked.load(Ordering::Relaxed),
        ctx.unknown.load(Ordering::Relaxed),
    );
    drop(ctx);
    writer.await??;
    result?;
    println!("done acked={acked} unknown={unknown}");
    Ok(())
}

async fn create_stream(ctx: &Ctx) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut node = 0;
    let mut created = false;
    loop {
        let mut client = ctx.client(node);
        if !created {
            let request = pb::CreateStreamRequest {
                stream: ctx.args.stream.clone(),
                shard_count: ctx.args.shards,
                ..Default::default()
            };
            match client.create_stream(request).await {
                Ok(_) => created = true,
                Err(s) if describe(&s).starts_with("ResourceInUseException") => created = true,
                Err(s) => eprintln!("create stream: {}", describe(&s)),
            }
        }
        if created {
            let request = pb::DescribeStreamRequest {
                stream: ctx.args.stream.clone(),
                ..Default::default()
            };
            match client.describe_stream(request).await {
                Ok(r) if r.get_ref().stream.as_ref().is_some_and(|s| s.status == "ACTIVE") => return Ok(()),
                Ok(_) => {}
                Err(s) => eprintln!("describe stream: {}", describe(&s)),
            }
        }
        if Instant::now() > deadline {
            bail!("stream {} not ACTIVE after 60s", ctx.args.stream);
        }
        node += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One producer: batches of unique records at a steady pace, each batch retried (with the
/// same producer sequence, so the cluster stores it once) until it is acknowledged. Only
/// after being told to stop does it give up, recording the outcome as unknown.
async fn produce(ctx: Arc<Ctx>, p: u32) {
    let args = &ctx.args;
    let producer_id = (now_ms() << 8) | u64::from(p);
    let interval =
        Duration::from_secs_f64(f64::from(args.batch * args.producers) / f64::from(args.rate.max(1)));
    let mut next_batch = Instant::now() + interval.mul_f64(f64::from(p) / f64::from(args.producers));
    let mut sequence = 0u64;
    let mut counter = 0u64;
    let mut node = p as usize;
    let mut stop = ctx.stop.clone();
    while !ctx.stopped() {
        tokio::select! {
            _ = tokio::time::sleep_until(next_batch) => {}
            _ = stop.changed() => break,
        }
        next_batch = (next_batch + interval).max(Instant::now());
        let mut pending: Vec<(String, String)> = (0..args.batch)
            .map(|_| {
                counter += 1;
                (
                    format!("p{p}-k{}", counter % KEYS_PER_PRODUCER),
                    format!("p{p}-{counter:08}"),
                )
            })
            .collect();
        let invoke = now_ms();
        let mut give_up_at: Option<Instant> = None;
        'batch: while !pending.is_empty() {
            let request = pb::PutRecordsRequest {
                stream: args.stream.clone(),
                records: pending
                    .iter()
                    .map(|(key, data)| pb::PutRecordsEntry {
                        partition_key: key.clone(),
                        data: data.clone().into_bytes().into(),
                        explicit_hash_key: None,
                    })
                    .collect(),
                producer: Some(pb::Producer {
                    producer_id,
                    sequence,
                }),
                ..Default::default()
            };
            loop {
                if ctx.stopped() {
                    let at = *give_up_at.get_or_insert_with(|| Instant::now() + GIVE_UP_AFTER_STOP);
                    if Instant::now() > at {
                        for (key, data) in pending.drain(..) {
                            ctx.unknown.fetch_add(1, Ordering::Relaxed);
                            ctx.emit(Event::Unknown {
                                producer: p,
                                key,
                                data,
                            });
                        }
                        break 'batch;
                    }
                }
                let start = now_ms();
                let result = ctx.client(node).put_records(request.clone()).await;
                let end = now_ms();
                let response = match result {
                    Ok(response) => response.into_inner(),
                    Err(status) => {
                        ctx.failed_attempts.fetch_add(1, Ordering::Relaxed);
                        ctx.emit(Event::Attempt {
                            producer: p,
                            start,
                            end,
                            node: node % ctx.clients.len() + 1,
                            ok: false,
                            error: describe(&status),
                        });
                        node += 1;
                        tokio::time::sleep(BACKOFF).await;
                        continue;
                    }
                };
                // Entries that failed were not stored: they go again in a new request.
                let mut failed = Vec::new();
                let mut error = String::new();
                let mut results = response.records.into_iter();
                for (key, data) in pending.drain(..) {
                    match results.next() {
                        Some(r) if r.error_code.is_empty() => {
                            ctx.acked.fetch_add(1, Ordering::Relaxed);
                            let mut tips = ctx.tips.lock().await;
                            let tip = tips.entry(r.shard_id.clone()).or_default();
                            if (r.sequence_number.len(), &r.sequence_number) > (tip.len(), tip) {
                                *tip = r.sequence_number.clone();
                            }
                            drop(tips);
                            ctx.emit(Event::Ack {
                                producer: p,
                                invoke,
                                at: end,
                                key,
                                data,
                                shard: r.shard_id,
                                seq: r.sequence_number,
                            });
                        }
                        Some(r) => {
                            error = format!("{}: {}", r.error_code, r.error_message);
                            failed.push((key, data));
                        }
                        None => {
                            error = "the response has fewer results than the request".into();
                            failed.push((key, data));
                        }
                    }
                }
                if failed.is_empty() {
                    ctx.last_ack[p as usize].store(end, Ordering::Relaxed);
                } else {
                    ctx.failed_attempts.fetch_add(1, Ordering::Relaxed);
                }
                ctx.emit(Event::Attempt {
                    producer: p,
                    start,
                    end,
                    node: node % ctx.clients.len() + 1,
                    ok: failed.is_empty(),
                    error,
                });
                sequence += 1;
                pending = failed;
                if !pending.is_empty() {
                    node += 1;
                    tokio::time::sleep(BACKOFF).await;
                }
                continue 'batch;
            }
        }
    }
}

/// Where the reader is in one shard.
#[derive(Default)]
struct Cursor {
    iterator: Option<String>,
    last: Option<String>,
    parents: Vec<String>,
    done: bool,
}

/// Lists the stream's shards, retrying across nodes; None once stopped.
async fn list_shards(ctx: &Ctx, node: &mut usize, budget: Duration) -> Option<Vec<pb::Shard>> {
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline {
        let request = pb::ListShardsRequest {
            stream: ctx.args.stream.clone(),
            ..Default::default()
        };
        match ctx.client(*node).list_shards(request).await {
            Ok(r) => return Some(r.into_inner().shards),
            Err(_) => {
                *node += 1;
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
    None
}

/// Opens an iterator at the start of a shard, or just after the last record read.
async fn open_iterator(
    ctx: &Ctx,
    node: usize,
    shard: &str,
    last: Option<&String>,
) -> Result<String, tonic::Status> {
    let (kind, start) = match last {
        Some(seq) => (pb::ShardIteratorType::AfterSequenceNumber, Some(seq.clone())),
        None => (pb::ShardIteratorType::TrimHorizon, None),
    };
    let request = pb::GetShardIteratorRequest {
        stream: ctx.args.stream.clone(),
        shard_id: shard.to_string(),
        shard_iterator_type: kind as i32,
        starting_sequence_number: start,
        ..Default::default()
    };
    Ok(ctx
        .client(node)
        .get_shard_iterator(request)
        .await?
        .into_inner()
        .shard_iterator)
}

/// The continuous reader: every shard from TRIM_HORIZON, children only once all their
/// parents are read to the end, resuming after the last record read whenever a node fails.
async fn follow(ctx: Arc<Ctx>) {
    let mut node = 0usize;
    let mut cursors: BTreeMap<String, Cursor> = BTreeMap::new();
    let Some(shards) = list_shards(&ctx, &mut node, Duration::from_secs(60)).await else {
        return;
    };
    for shard in shards {
        let parents = shard
            .parent_shard_id
            .into_iter()
            .chain(shard.adjacent_parent_shard_id)
            .collect();
        cursors.insert(
            shard.shard_id,
            Cursor {
                parents,
                ..Default::default()
            },
        );
    }
    while !ctx.stopped() {
        let finished: BTreeSet<String> = cursors
            .iter()
            .filter(|(_, c)| c.done)
            .map(|(s, _)| s.clone())
            .collect();
        let ready: Vec<String> = cursors
            .iter()
            .filter(|(_, c)| {
                !c.done
                    && c.parents
                        .iter()
                        .all(|p| finished.contains(p) || !cursors.contains_key(p))
            })
            .map(|(s, _)| s.clone())
            .collect();
        let mut got_any = false;
        for shard in ready {
            let cursor = cursors.get_mut(&shard).expect("listed above");
            let iterator = match cursor.iterator.take() {
                Some(iterator) => iterator,
                None => match open_iterator(&ctx, node, &shard, cursor.last.as_ref()).await {
                    Ok(iterator) => iterator,
                    Err(_) => {
                        node += 1;
                        continue;
                    }
                },
            };
            let request = pb::GetRecordsRequest {
                shard_iterator: iterator,
                limit: 1000,
            };
            let response = match ctx.client(node).get_records(request).await {
                Ok(r) => r.into_inner(),
                Err(_) => {
                    node += 1;
                    continue;
                }
            };
            if let Some(last) = response.records.last() {
                got_any = true;
                cursor.last = Some(last.sequence_number.clone());
                ctx.emit(Event::Read {
                    at: now_ms(),
                    shard: shard.clone(),
                    records: response
                        .records
                        .iter()
                        .map(|r| {
                            (
                                r.sequence_number.clone(),
                                String::from_utf8_lossy(&r.data).into_owned(),
                            )
                        })
                        .collect(),
                });
            }
            match response.next_shard_iterator {
                Some(next) => cursor.iterator = Some(next),
                None => {
                    cursor.done = true;
                    for child in response.child_shards {
                        cursors.entry(child.shard_id).or_insert_with(|| Cursor {
                            parents: child.parent_shards,
                            ..Default::default()
                        });
                    }
                }
            }
        }
        if !got_any {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Reads every shard from TRIM_HORIZON to its end (at least to the highest acknowledged
/// sequence number), retrying across nodes, and records each as a `Final` event.
async fn final_read(ctx: &Ctx) -> Result<()> {
    let mut node = 0usize;
    let shards = list_shards(ctx, &mut node, FINAL_READ_BUDGET)
        .await
        .context("the final read could not list the shards")?;
    let tips = ctx.tips.lock().await.clone();
    for shard in shards {
        let shard = shard.shard_id;
        let tip = tips.get(&shard);
        let deadline = Instant::now() + FINAL_READ_BUDGET;
        let mut records: Vec<(String, String, String)> = Vec::new();
        let mut iterator: Option<String> = None;
        loop {
            if Instant::now() > deadline {
                // What was read is still checked: missing records show up as lost.
                eprintln!("the final read of {shard} did not reach its end in {FINAL_READ_BUDGET:?}");
                break;
            }
            let last = records.last().map(|r| r.0.clone());
            let current = match iterator.take() {
                Some(iterator) => iterator,
                None => match open_iterator(ctx, node, &shard, last.as_ref()).await {
                    Ok(iterator) => iterator,
                    Err(_) => {
                        node += 1;
                        tokio::time::sleep(BACKOFF).await;
                        continue;
                    }
                },
            };
            let request = pb::GetRecordsRequest {
                shard_iterator: current,
                limit: 10_000,
            };
            let response = match ctx.client(node).get_records(request).await {
                Ok(r) => r.into_inner(),
                Err(_) => {
                    node += 1;
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            };
            let empty = response.records.is_empty();
            records.extend(response.records.into_iter().map(|r| {
                (
                    r.sequence_number,
                    r.partition_key,
                    String::from_utf8_lossy(&r.data).into_owned(),
                )
            }));
            let reached_tip = match (tip, records.last()) {
                (None, _) => true,
                (Some(tip), Some((last, _, _))) => (last.len(), last) >= (tip.len(), tip),
                (Some(_), None) => false,
            };
            match response.next_shard_iterator {
                Some(next) if !(empty && response.millis_behind_latest == 0 && reached_tip) => {
                    iterator = Some(next);
                    if empty {
                        tokio::time::sleep(BACKOFF).await;
                    }
                }
                _ => break,
            }
        }
        ctx.emit(Event::Final { shard, records });
    }
    Ok(())
}
