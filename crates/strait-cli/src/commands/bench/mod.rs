//! `strait bench`: a load generator for a running cluster.
//!
//! Three modes, one module each:
//!
//! - [`produce`]: writes records as fast as the cluster takes them (or at `--rate`) and
//!   reports records/s, MB/s and per-request latency percentiles;
//! - [`consume`]: reads a filled stream from its oldest record until every shard is caught
//!   up, and reports the read throughput;
//! - [`e2e`]: writes time-stamped records at a steady rate and measures how long each takes
//!   to reach a GetRecords poller and a push subscriber.
//!
//! Every mode talks to the cluster through a [`driver::Driver`], gRPC (the Rust client) or
//! the Kinesis HTTP API (AWS JSON 1.1, [`kinesis_http`]), so the two front doors can be
//! compared with the same load. Latencies go into HDR histograms ([`stats`]); a progress
//! line goes to standard error while the run lasts, and one JSON object summarising the run
//! goes to standard output at the end, for scripts.
//!
//! Every loop is bounded twice: by `--count` records and by `--duration` (a run given only a
//! count still stops after [`COUNT_ONLY_TIME_LIMIT`]).

pub mod consume;
pub mod driver;
pub mod e2e;
pub mod kinesis_http;
pub mod produce;
pub mod stats;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strait_core::{PartitionKey, StreamName};
use tokio::time::Instant;

use crate::cli::GlobalArgs;
use crate::parse;

/// How long a run bounded only by `--count` may last.
pub const COUNT_ONLY_TIME_LIMIT: Duration = Duration::from_secs(600);
/// How long a run bounded by neither `--count` nor `--duration` lasts.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// How many distinct partition keys the uniform distribution draws from.
const KEY_POOL: usize = 4096;
/// The share of records that carry the hot key under `--keys hot`.
const HOT_KEY_SHARE: f64 = 0.8;

/// `strait bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub mode: BenchMode,
}

/// The modes of `strait bench`.
#[derive(Debug, Subcommand)]
pub enum BenchMode {
    /// Writes records and reports throughput and request latency.
    #[command(
        long_about = "Writes records and reports throughput (records/s, MB/s) and the \
        latency of each request (p50, p99, p999, from an HDR histogram).\n\n\
        --concurrency workers each send one request at a time: PutRecords of --batch-size \
        records, or PutRecord when --batch-size is 1. Without --rate the workers send as fast \
        as the cluster answers (closed loop); with --rate they pace themselves to that many \
        records per second in total. Failed records are counted, not retried.\n\n\
        A progress line is printed to standard error every --progress seconds and one JSON \
        object to standard output at the end."
    )]
    Produce(ProduceArgs),

    /// Reads a filled stream from its oldest record and reports the read throughput.
    #[command(
        long_about = "Reads every shard of a stream from TRIM_HORIZON with GetRecords, \
        one reader per shard, until every shard is caught up (a page comes back empty with \
        nothing behind), --count records were read, or --duration passed; then reports \
        records/s and MB/s.\n\n\
        With --fill N, first writes N records (PutRecords of 500, 8 in flight) and reads them \
        back; without it, the stream's current contents are read."
    )]
    Consume(ConsumeArgs),

    /// Measures put-to-read latency through GetRecords polling and the push subscription.
    #[command(long_about = "Writes records stamped with their send time at --rate records \
        per second and reads them back as they commit, and reports how long each record took \
        from the start of its put to its arrival at the reader, for a GetRecords poller \
        (polling every --poll-interval when a page is empty) and a push subscriber \
        (Subscribe; gRPC only).\n\n\
        Readers start at LATEST on every open shard before the first record is written. \
        Records not seen by a reader within two seconds of the end of the run are reported \
        as missing.")]
    E2e(E2eArgs),
}

/// The front door the bench talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// Strait's gRPC API, through the Rust client.
    Grpc,
    /// The Kinesis HTTP API (AWS JSON 1.1).
    Kinesis,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Grpc => "grpc",
            Api::Kinesis => "kinesis",
        }
    }
}

/// How records pick their partition keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyDistribution {
    /// Uniformly from 4096 random keys, which spreads records evenly over the shards.
    Uniform,
    /// 80% of records carry one hot key; the rest are uniform.
    Hot,
}

impl KeyDistribution {
    fn name(self) -> &'static str {
        match self {
            KeyDistribution::Uniform => "uniform",
            KeyDistribution::Hot => "hot",
        }
    }
}

/// Flags every mode shares: where to send load, and how much.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// The stream to use. It is created with --shards shards when it does not exist; an
    /// existing stream is used as it is.
    #[arg(long, default_value = "bench", value_parser = parse::stream_name, value_name = "NAME")]
    pub stream: StreamName,

    /// `grpc` (the endpoints of --endpoint) or `kinesis` (the HTTP API at
    /// --kinesis-endpoint).
    #[arg(long, value_enum, default_value_t = Api::Grpc)]
    pub api: Api,

    /// The Kinesis HTTP endpoint used with --api kinesis.
    #[arg(long, default_value = "http://127.0.0.1:4567", value_name = "URL")]
    pub kinesis_endpoint: String,

    /// How many shards the stream is created with when it does not exist.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub shards: u32,

    /// The size of each record's data, in bytes.
    #[arg(long, default_value_t = 100, value_name = "BYTES")]
    pub record_size: usize,

    /// Stops after this many records.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Stops after this long, such as 30s or 2m. The default is 10s, or 10 minutes when
    /// --count is given.
    #[arg(long, value_parser = parse::duration, value_name = "DURATION")]
    pub duration: Option<Duration>,

    /// How partition keys are chosen.
    #[arg(long, value_enum, default_value_t = KeyDistribution::Uniform)]
    pub keys: KeyDistribution,

    /// How often the progress line is printed to standard error; 0s prints none.
    #[arg(long, default_value = "1s", value_parser = parse::duration, value_name = "DURATION")]
    pub progress: Duration,

    /// How long one request (with its retries through failovers) may take before it counts
    /// as an error.
    #[arg(long, default_value = "10s", value_parser = parse::duration, value_name = "DURATION")]
    pub request_deadline: Duration,
}

impl CommonArgs {
    /// How long the run may last.
    pub fn time_limit(&self) -> Duration {
        match (self.duration, self.count) {
            (Some(duration), _) => duration,
            (None, Some(_)) => COUNT_ONLY_TIME_LIMIT,
            (None, None) => DEFAULT_DURATION,
        }
    }

    /// The JSON members describing the load, shared by every summary.
    fn describe(&self, shards: usize) -> serde_json::Map<String, serde_json::Value> {
        let mut members = serde_json::Map::new();
        members.insert("api".into(), self.api.name().into());
        members.insert("stream".into(), self.stream.to_string().into());
        members.insert("shards".into(), shards.into());
        members.insert("record_size".into(), self.record_size.into());
        members.insert("keys".into(), self.keys.name().into());
        members
    }
}

/// `strait bench produce`.
#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Records per request: PutRecords of this many, or PutRecord when 1 (at most 500).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500), value_name = "N")]
    pub batch_size: u32,

    /// How many requests are in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096), value_name = "N")]
    pub concurrency: u32,

    /// Paces the workers to this many records per second in total; without it they send
    /// as fast as the cluster answers.
    #[arg(long, value_name = "RECORDS_PER_S")]
    pub rate: Option<f64>,

    /// Sends the same load for this long first and counts none of it. The first second or
    /// so of traffic after a quiet spell is slower than what follows; a warm-up keeps it
    /// out of a steady-state measurement.
    #[arg(long, default_value = "0s", value_parser = parse::duration, value_name = "DURATION")]
    pub warm_up: Duration,
}

/// `strait bench consume`.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Writes this many records before reading.
    #[arg(long, value_name = "N")]
    pub fill: Option<u64>,

    /// The most records one GetRecords call returns.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000), value_name = "N")]
    pub limit: u32,
}

/// Which readers `strait bench e2e` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    /// GetRecords polling only.
    Poll,
    /// The push subscription only.
    Subscribe,
    /// Both, side by side.
    Both,
}

/// `strait bench e2e`.
#[derive(Debug, Clone, Args)]
pub struct E2eArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Records written per second.
    #[arg(long, default_value_t = 100.0, value_name = "RECORDS_PER_S")]
    pub rate: f64,

    /// Records per request (1 sends PutRecord).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=500), value_name = "N")]
    pub batch_size: u32,

    /// Which readers to measure.
    #[arg(long, value_enum, default_value_t = Via::Both)]
    pub via: Via,

    /// How long a poller waits after an empty page before asking again.
    #[arg(long, default_value = "20ms", value_parser = parse::duration, value_name = "DURATION")]
    pub poll_interval: Duration,
}

/// Runs the chosen mode.
pub async fn run(global: &GlobalArgs, args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.mode {
        BenchMode::Produce(args) => produce::run(global, args).await,
        BenchMode::Consume(args) => consume::run(global, args).await,
        BenchMode::E2e(args) => e2e::run(global, args).await,
    }
}

/// Checks the knobs every mode shares.
fn check_common(common: &CommonArgs) -> anyhow::Result<()> {
    if common.record_size == 0 || common.record_size > strait_core::MAX_RECORD_BYTES / 2 {
        return Err(super::usage(format!(
            "--record-size must be between 1 and {} bytes",
            strait_core::MAX_RECORD_BYTES / 2
        )));
    }
    if common.shards == 0 {
        return Err(super::usage("--shards must be at least 1"));
    }
    if common.time_limit().is_zero() {
        return Err(super::usage("--duration must be longer than zero"));
    }
    Ok(())
}

/// Hands out the records a run may still send, bounded by count and by time, and paces
/// them when a rate is set.
///
/// Workers claim records before sending them; the claim's position in the run also gives
/// its scheduled send time under `--rate`, so any number of workers together keep to the
/// rate without coordinating otherwise.
pub struct Budget {
    started: Instant,
    deadline: Instant,
    count: Option<u64>,
    rate: Option<f64>,
    claimed: AtomicU64,
}

impl Budget {
    pub fn new(time_limit: Duration, count: Option<u64>, rate: Option<f64>) -> Budget {
        let started = Instant::now();
        Budget {
            started,
            deadline: started + time_limit,
            count,
            rate: rate.filter(|rate| rate.is_finite() && *rate > 0.0),
            claimed: AtomicU64::new(0),
        }
    }

    /// When the run started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Claims up to `wanted` records and waits for their scheduled time. Returns how many
    /// may be sent now; 0 means the run is over.
    pub async fn claim(&self, wanted: u64) -> u64 {
        if Instant::now() >= self.deadline {
            return 0;
        }
        let first = self.claimed.fetch_add(wanted, Ordering::Relaxed);
        let granted = match self.count {
            Some(count) => wanted.min(count.saturating_sub(first)),
            None => wanted,
        };
        if granted == 0 {
            return 0;
        }
        if let Some(rate) = self.rate {
            let due = self.started + Duration::from_secs_f64(first as f64 / rate);
            if due >= self.deadline {
                return 0;
            }
            tokio::time::sleep_until(due).await;
        }
        granted
    }
}

/// Picks partition keys by the chosen distribution, from a fixed pool so that no key is
/// formatted on the hot path.
pub struct KeyPicker {
    keys: Vec<PartitionKey>,
    hot: Option<PartitionKey>,
    rng: StdRng,
}

impl KeyPicker {
    pub fn new(distribution: KeyDistribution, seed: u64) -> KeyPicker {
        let mut rng = StdRng::seed_from_u64(seed);
        let keys = (0..KEY_POOL)
            .map(|_| {
                let value: u128 = rng.random();
                PartitionKey::new(format!("{value:032x}")).expect("infallible: 32 hex digits are a valid key")
            })
            .collect();
        let hot = (distribution == KeyDistribution::Hot)
            .then(|| PartitionKey::new("hot-key").expect("infallible: a valid key"));
        KeyPicker { keys, hot, rng }
    }

    /// The key of the next record.
    pub fn next_key(&mut self) -> PartitionKey {
        if let Some(hot) = &self.hot
            && self.rng.random::<f64>() < HOT_KEY_SHARE
        {
            return hot.clone();
        }
        let index = self.rng.random_range(0..self.keys.len());
        self.keys[index].clone()
    }
}

/// The data records carry.
#[derive(Debug, Clone)]
pub enum Payload {
    /// The same bytes in every record: no per-record work on the client.
    Fixed(Bytes),
    /// `size` bytes starting with the send time (microseconds since the Unix epoch, little
    /// endian), so a reader can tell how long the record took to reach it.
    Stamped(usize),
}

impl Payload {
    /// A fixed payload of `size` bytes of varied (not all-zero) content.
    pub fn fixed(size: usize) -> Payload {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        Payload::Fixed(Bytes::from(data))
    }

    /// The data of the next record.
    pub fn next_data(&self) -> Bytes {
        match self {
            Payload::Fixed(data) => data.clone(),
            Payload::Stamped(size) => {
                let mut data = vec![0u8; (*size).max(STAMP_BYTES)];
                data[..STAMP_BYTES].copy_from_slice(&now_micros().to_le_bytes());
                Bytes::from(data)
            }
        }
    }
}

/// The length of the send-time stamp at the start of a stamped record.
pub const STAMP_BYTES: usize = 8;

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
        })
}

/// Reads the send time from a stamped record.
pub fn stamp_of(data: &[u8]) -> Option<u64> {
    let stamp: [u8; STAMP_BYTES] = data.get(..STAMP_BYTES)?.try_into().ok()?;
    Some(u64::from_le_bytes(stamp))
}

/// Prints the summary as one line of JSON on standard output.
fn print_summary(summary: serde_json::Map<String, serde_json::Value>) {
    println!("{}", serde_json::Value::Object(summary));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_stops_at_the_count() {
        let budget = Budget::new(Duration::from_secs(60), Some(250), None);
        assert_eq!(budget.claim(100).await, 100);
        assert_eq!(budget.claim(100).await, 100);
        assert_eq!(budget.claim(100).await, 50);
        assert_eq!(budget.claim(100).await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_stops_at_the_deadline() {
        let budget = Budget::new(Duration::from_secs(1), None, None);
        assert_eq!(budget.claim(10).await, 10);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(budget.claim(10).await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_paces_claims_to_the_rate() {
        let budget = Budget::new(Duration::from_secs(60), None, Some(100.0));
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(budget.claim(10).await, 10);
        }
        // The fifth claim starts at record 40, due 0.4 s into the run.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[test]
    fn hot_keys_dominate_and_uniform_keys_spread() {
        let mut hot = KeyPicker::new(KeyDistribution::Hot, 7);
        let hot_count = (0..10_000)
            .filter(|_| hot.next_key().as_str() == "hot-key")
            .count();
        assert!((7_000..9_000).contains(&hot_count), "{hot_count}");
        let mut uniform = KeyPicker::new(KeyDistribution::Uniform, 7);
        let distinct: std::collections::BTreeSet<String> = (0..10_000)
            .map(|_| uniform.next_key().as_str().to_owned())
            .collect();
        assert!(distinct.len() > 3_000, "{}", distinct.len());
    }

    #[test]
    fn stamped_payloads_carry_their_send_time() {
        let before = now_micros();
        let data = Payload::Stamped(100).next_data();
        assert_eq!(data.len(), 100);
        let stamp = stamp_of(&data).expect("stamped");
        assert!(stamp >= before && stamp <= now_micros());
        assert_eq!(Payload::Stamped(3).next_data().len(), STAMP_BYTES);
        assert_eq!(stamp_of(b"short"), None);
    }
}
