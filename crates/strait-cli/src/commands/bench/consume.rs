//! `strait bench consume`: catch-up read throughput.
//!
//! One reader per shard starts at TRIM_HORIZON and pages through with GetRecords as fast as
//! the node answers, until its shard is caught up: an empty page with nothing behind, or
//! the end of a closed shard. The run ends when every reader did, when `--count` records
//! were read, or at `--duration`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use strait_core::StreamName;
use tokio::time::Instant;

use super::driver::{Driver, Start};
use super::produce::{Load, drive};
use super::stats::{Counters, Latencies, Progress};
use super::{Budget, ConsumeArgs, Payload, check_common, print_summary};
use crate::cli::GlobalArgs;

/// The batch size and concurrency `--fill` writes with.
const FILL_BATCH: u32 = 500;
const FILL_CONCURRENCY: u32 = 8;
/// A reader gives its shard up after this many failed calls in a row.
const MAX_CONSECUTIVE_ERRORS: u32 = 5;
/// How long a reader pauses after a failed call.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

pub async fn run(global: &GlobalArgs, args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    check_common(common)?;
    let driver = Driver::new(global, common)?;
    driver.ensure_stream(&common.stream, common.shards).await?;

    if let Some(fill) = args.fill.filter(|fill| *fill > 0) {
        let load = Load {
            stream: common.stream.clone(),
            batch_size: FILL_BATCH,
            concurrency: FILL_CONCURRENCY,
            keys: common.keys,
            payload: Payload::fixed(common.record_size),
        };
        let budget = Arc::new(Budget::new(common.time_limit(), Some(fill), None));
        let counters = Arc::new(Counters::default());
        let progress = Progress::start("fill", counters.clone(), common.progress);
        drive(&driver, &load, budget.clone(), counters.clone()).await;
        progress.finish().await;
        eprintln!(
            "filled {} records in {:.2}s ({} failed)",
            counters.records(),
            budget.started().elapsed().as_secs_f64(),
            counters.failed()
        );
    }

    let shards = driver.shards(&common.stream, false).await?;
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let deadline = started + common.time_limit();
    let progress = Progress::start("consume", counters.clone(), common.progress);
    let readers: Vec<_> = shards
        .iter()
        .map(|shard| {
            let reader = Reader {
                driver: driver.clone(),
                stream: common.stream.clone(),
                shard: shard.clone(),
                limit: args.limit,
                deadline,
                count: common.count,
                counters: counters.clone(),
            };
            tokio::spawn(reader.read())
        })
        .collect();
    let mut latencies = Latencies::new();
    for reader in readers {
        match reader.await {
            Ok(histogram) => latencies.merge(&histogram),
            Err(error) => eprintln!("a reader stopped: {error}"),
        }
    }
    let elapsed = started.elapsed();
    progress.finish().await;

    let mut summary = serde_json::Map::new();
    summary.insert("mode".into(), "consume".into());
    summary.extend(common.describe(shards.len()));
    summary.insert("limit".into(), args.limit.into());
    summary.extend(counters.throughput_json(elapsed));
    summary.insert("get_records_latency_us".into(), latencies.to_json());
    print_summary(summary);
    Ok(if counters.errors() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One shard's reader.
struct Reader {
    driver: Driver,
    stream: StreamName,
    shard: String,
    limit: u32,
    deadline: Instant,
    count: Option<u64>,
    counters: Arc<Counters>,
}

impl Reader {
    /// Reads the shard until it is caught up; returns the latency of every call.
    async fn read(self) -> Latencies {
        let mut latencies = Latencies::new();
        let mut iterator: Option<String> = None;
        let mut errors = 0;
        while Instant::now() < self.deadline
            && self.count.is_none_or(|count| self.counters.records() < count)
            && errors < MAX_CONSECUTIVE_ERRORS
        {
            let current = match &iterator {
                Some(current) => current.clone(),
                None => match self
                    .driver
                    .iterator(&self.stream, &self.shard, Start::TrimHorizon)
                    .await
                {
                    Ok(opened) => opened,
                    Err(error) => {
                        self.failed(&mut errors, &error).await;
                        continue;
                    }
                },
            };
            let sent = Instant::now();
            let page = match self.driver.get_records(&current, self.limit).await {
                Ok(page) => page,
                Err(error) => {
                    self.failed(&mut errors, &error).await;
                    continue;
                }
            };
            errors = 0;
            let latency = sent.elapsed();
            latencies.record(latency);
            self.counters.note_latency(latency);
            let bytes: u64 = page.data.iter().map(|data| data.len() as u64).sum();
            self.counters.add(page.data.len() as u64, bytes);
            if page.data.is_empty() && page.behind_ms == 0 {
                break;
            }
            match page.next {
                Some(next) => iterator = Some(next),
                None => break,
            }
        }
        latencies
    }

    async fn failed(&self, errors: &mut u32, error: &anyhow::Error) {
        *errors += 1;
        if self.counters.errors.fetch_add(1, Ordering::Relaxed) < 5 {
            eprintln!("reading {}: {error:#}", self.shard);
        }
        tokio::time::sleep(ERROR_PAUSE).await;
    }
}
