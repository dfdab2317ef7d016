//! `strait bench e2e`: how long a record takes from the start of its put to a reader.
//!
//! Records carry their send time in their first eight bytes. Readers are positioned at
//! LATEST on every open shard before the first record is written: a GetRecords poller per
//! shard and, over gRPC, a Subscribe stream per shard. The producer then writes at a steady
//! `--rate`; each reader records, for every record it receives, the time since its stamp.
//! Both sides run in this process, so one clock serves for both stamps.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use strait_client::SubscribeStream;
use strait_core::IteratorType;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::driver::{Driver, Start, parse_shard};
use super::produce::{Load, drive};
use super::stats::{Counters, Latencies, Progress};
use super::{Budget, E2eArgs, Payload, Via, check_common, now_micros, print_summary, stamp_of};
use crate::cli::GlobalArgs;
use crate::commands::usage;

/// Producer workers: enough that a slow put does not hold back the rate.
const PRODUCERS: u32 = 4;
/// How long readers get, after the last put, to see every record.
const GRACE: Duration = Duration::from_secs(2);
/// How long a reader pauses after a failed call.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

pub async fn run(global: &GlobalArgs, args: E2eArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    check_common(common)?;
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(usage("--rate must be a positive number"));
    }
    let driver = Driver::new(global, common)?;
    if args.via != Via::Poll && driver.grpc().is_none() {
        return Err(usage(
            "--via subscribe and both need --api grpc; use --via poll with --api kinesis",
        ));
    }
    driver.ensure_stream(&common.stream, common.shards).await?;
    let shards = driver.shards(&common.stream, true).await?;
    let hard_deadline = Instant::now() + common.time_limit() + GRACE * 2;
    let (stop, stopped) = watch::channel(false);

    let mut pollers = Vec::new();
    let mut subscribers = Vec::new();
    for shard in &shards {
        if args.via != Via::Subscribe {
            let iterator = driver.iterator(&common.stream, shard, Start::Latest).await?;
            let poller = Poller {
                driver: driver.clone(),
                shard: shard.clone(),
                iterator,
                interval: args.poll_interval,
                stopped: stopped.clone(),
                deadline: hard_deadline,
            };
            pollers.push(tokio::spawn(poller.read()));
        }
        if args.via != Via::Poll
            && let Some(client) = driver.grpc()
        {
            let events = client
                .subscribe(&common.stream, parse_shard(shard)?, &IteratorType::Latest)
                .await?;
            subscribers.push(tokio::spawn(subscribed(events, stopped.clone(), hard_deadline)));
        }
    }

    let load = Load {
        stream: common.stream.clone(),
        batch_size: args.batch_size,
        concurrency: PRODUCERS,
        keys: common.keys,
        payload: Payload::Stamped(common.record_size),
    };
    let budget = Arc::new(Budget::new(common.time_limit(), common.count, Some(args.rate)));
    let counters = Arc::new(Counters::default());
    let progress = Progress::start("e2e", counters.clone(), common.progress);
    let put_latencies = drive(&driver, &load, budget.clone(), counters.clone()).await;
    let elapsed = budget.started().elapsed();
    progress.finish().await;
    tokio::time::sleep(GRACE).await;
    let _ = stop.send(true);

    let produced = counters.records();
    let mut summary = serde_json::Map::new();
    summary.insert("mode".into(), "e2e".into());
    summary.extend(common.describe(shards.len()));
    summary.insert("batch_size".into(), args.batch_size.into());
    summary.insert("rate".into(), args.rate.into());
    summary.extend(counters.throughput_json(elapsed));
    summary.insert("put_latency_us".into(), put_latencies.to_json());
    for (name, readers) in [("poll", pollers), ("subscribe", subscribers)] {
        if readers.is_empty() {
            continue;
        }
        let seen = collect(readers).await;
        eprintln!("put to {name}: {}", seen.short());
        let mut reader = serde_json::Map::new();
        reader.insert("received".into(), seen.count().into());
        reader.insert("missing".into(), produced.saturating_sub(seen.count()).into());
        reader.insert("latency_us".into(), seen.to_json());
        summary.insert(name.into(), reader.into());
    }
    print_summary(summary);
    Ok(if produced > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Merges the histograms of a kind of reader.
async fn collect(readers: Vec<JoinHandle<Latencies>>) -> Latencies {
    let mut merged = Latencies::new();
    for reader in readers {
        match reader.await {
            Ok(latencies) => merged.merge(&latencies),
            Err(error) => eprintln!("a reader stopped: {error}"),
        }
    }
    merged
}

/// Records the put-to-read latency of every stamped record in `data`.
fn record_arrivals<'a>(latencies: &mut Latencies, data: impl IntoIterator<Item = &'a bytes::Bytes>) {
    let now = now_micros();
    for stamp in data.into_iter().filter_map(|data| stamp_of(data)) {
        latencies.record_micros(now.saturating_sub(stamp));
    }
}

/// A GetRecords poller on one shard.
struct Poller {
    driver: Driver,
    shard: String,
    iterator: String,
    interval: Duration,
    stopped: watch::Receiver<bool>,
    deadline: Instant,
}

impl Poller {
    async fn read(mut self) -> Latencies {
        let mut latencies = Latencies::new();
        let mut failures = 0u32;
        while !*self.stopped.borrow() && Instant::now() < self.deadline {
            match self.driver.get_records(&self.iterator, 10_000).await {
                Ok(page) => {
                    record_arrivals(&mut latencies, &page.data);
                    let empty = page.data.is_empty();
                    match page.next {
                        Some(next) => self.iterator = next,
                        None => break,
                    }
                    if empty {
                        self.pause(self.interval).await;
                    }
                }
                Err(error) => {
                    failures += 1;
                    if failures <= 3 {
                        eprintln!("polling {}: {error:#}", self.shard);
                    }
                    self.pause(ERROR_PAUSE).await;
                }
            }
        }
        latencies
    }

    async fn pause(&mut self, pause: Duration) {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = self.stopped.changed() => {}
        }
    }
}

/// A Subscribe stream on one shard.
async fn subscribed(
    mut events: SubscribeStream,
    mut stopped: watch::Receiver<bool>,
    deadline: Instant,
) -> Latencies {
    let mut latencies = Latencies::new();
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = stopped.changed() => return latencies,
            () = tokio::time::sleep_until(deadline) => return latencies,
        };
        match event {
            Some(Ok(event)) => {
                record_arrivals(&mut latencies, event.records.iter().map(|record| &record.data))
            }
            Some(Err(error)) => {
                eprintln!("subscription ended: {error}");
                return latencies;
            }
            None => return latencies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_measured_from_the_stamp() {
        let mut latencies = Latencies::new();
        let stamped = bytes::Bytes::copy_from_slice(&(now_micros() - 5_000).to_le_bytes());
        let unstamped = bytes::Bytes::from_static(b"abc");
        record_arrivals(&mut latencies, [&stamped, &unstamped]);
        assert_eq!(latencies.count(), 1);
        let p50 = latencies.to_json()["p50"].as_u64().expect("a number");
        assert!((5_000..50_000).contains(&p50), "{p50}");
    }
}
