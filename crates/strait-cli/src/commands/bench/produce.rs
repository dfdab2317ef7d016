//! `strait bench produce`: write throughput and request latency.
//!
//! [`drive`] is the load loop, shared with `consume --fill` and `e2e`: `concurrency`
//! workers, each with its own key picker and latency histogram, claim records from the
//! run's [`Budget`] and send one request at a time. Histograms are merged once, at the end,
//! so workers share nothing but a few atomic counters.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use strait_core::{Record, StreamName};
use tokio::time::Instant;

use super::driver::Driver;
use super::stats::{Counters, Latencies, Progress};
use super::{Budget, KeyDistribution, KeyPicker, Payload, ProduceArgs, check_common, print_summary};
use crate::cli::GlobalArgs;

/// How long a worker pauses after a request failed as a whole, so that an unreachable
/// cluster is not hammered in a tight loop.
const ERROR_PAUSE: Duration = Duration::from_millis(20);

/// The shape of the load.
#[derive(Debug, Clone)]
pub struct Load {
    pub stream: StreamName,
    /// Records per request; 1 sends PutRecord.
    pub batch_size: u32,
    pub concurrency: u32,
    pub keys: KeyDistribution,
    pub payload: Payload,
}

pub async fn run(global: &GlobalArgs, args: ProduceArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    check_common(common)?;
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(crate::commands::usage("--rate must be a positive number"));
    }
    let driver = Driver::new(global, common)?;
    driver.ensure_stream(&common.stream, common.shards).await?;
    let shards = driver.shards(&common.stream, true).await?.len();
    let load = Load {
        stream: common.stream.clone(),
        batch_size: args.batch_size,
        concurrency: args.concurrency,
        keys: common.keys,
        payload: Payload::fixed(common.record_size),
    };
    if !args.warm_up.is_zero() {
        if !common.progress.is_zero() {
            eprintln!("warming up for {:?}, unmeasured", args.warm_up);
        }
        let warm_up = Arc::new(Budget::new(args.warm_up, None, args.rate));
        drive(&driver, &load, warm_up, Arc::new(Counters::default())).await;
    }
    let budget = Arc::new(Budget::new(common.time_limit(), common.count, args.rate));
    let counters = Arc::new(Counters::default());
    let progress = Progress::start("produce", counters.clone(), common.progress);
    let latencies = drive(&driver, &load, budget.clone(), counters.clone()).await;
    let elapsed = budget.started().elapsed();
    progress.finish().await;

    let mut summary = serde_json::Map::new();
    summary.insert("mode".into(), "produce".into());
    summary.extend(common.describe(shards));
    summary.insert("batch_size".into(), args.batch_size.into());
    summary.insert("concurrency".into(), args.concurrency.into());
    summary.insert("rate".into(), json!(args.rate));
    summary.insert("warm_up_s".into(), json!(args.warm_up.as_secs_f64()));
    summary.extend(counters.throughput_json(elapsed));
    summary.insert("latency_us".into(), latencies.to_json());
    eprintln!("request latency: {}", latencies.short());
    print_summary(summary);
    Ok(if counters.records() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the load until the budget is spent; returns the latency of every request that
/// was answered.
pub async fn drive(driver: &Driver, load: &Load, budget: Arc<Budget>, counters: Arc<Counters>) -> Latencies {
    let workers: Vec<_> = (0..load.concurrency)
        .map(|worker| {
            let driver = driver.clone();
            let load = load.clone();
            let budget = budget.clone();
            let counters = counters.clone();
            tokio::spawn(async move { work(worker, &driver, &load, &budget, &counters).await })
        })
        .collect();
    let mut latencies = Latencies::new();
    for worker in workers {
        match worker.await {
            Ok(histogram) => latencies.merge(&histogram),
            Err(error) => eprintln!("a bench worker stopped: {error}"),
        }
    }
    latencies
}

/// One worker: claim, build, send, count, until the budget says stop.
async fn work(worker: u32, driver: &Driver, load: &Load, budget: &Budget, counters: &Counters) -> Latencies {
    let mut keys = KeyPicker::new(load.keys, 0x5eed_0000 + u64::from(worker));
    let mut latencies = Latencies::new();
    let mut records: Vec<Record> = Vec::with_capacity(load.batch_size as usize);
    loop {
        let granted = budget.claim(u64::from(load.batch_size)).await;
        if granted == 0 {
            return latencies;
        }
        records.clear();
        records.extend((0..granted).map(|_| Record::new(keys.next_key(), load.payload.next_data())));
        let sent = Instant::now();
        let outcome = if load.batch_size == 1 {
            driver.put_record(&load.stream, &records[0]).await.map(|()| 0)
        } else {
            driver.put_records(&load.stream, &records).await
        };
        match outcome {
            Ok(failed) => {
                let latency = sent.elapsed();
                latencies.record(latency);
                counters.note_latency(latency);
                let stored = records.len() as u64 - failed.min(records.len() as u64);
                let bytes: u64 = records.iter().map(|r| r.data.len() as u64).sum();
                counters.add(stored, bytes * stored / records.len() as u64);
                counters.failed.fetch_add(failed, Ordering::Relaxed);
            }
            Err(error) => {
                if counters.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("request failed: {error:#}");
                }
                counters.failed.fetch_add(records.len() as u64, Ordering::Relaxed);
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
}
