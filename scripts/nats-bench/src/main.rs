//! Publishes to a NATS JetStream stream the way `strait bench produce` writes to Strait,
//! and prints the same one-line JSON summary.
//!
//! A "batch" of N is N publishes sent back to back whose acknowledgements are awaited
//! together: JetStream 2.9 has no batch publish, and this is how its clients pipeline.
//! `--concurrency` workers each keep one batch in flight. The run stops at `--count`
//! messages or after `--duration` seconds, whichever comes first.
//!
//! Usage: nats-bench [--url nats://127.0.0.1:4222] [--stream bench] [--replicas 3]
//!        [--record-size 100] [--batch-size 100] [--concurrency 8] [--duration 10]
//!        [--count N] [--max-bytes 4294967296]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use hdrhistogram::Histogram;

struct Options {
    url: String,
    stream: String,
    replicas: usize,
    record_size: usize,
    batch_size: u64,
    concurrency: u64,
    duration: Duration,
    count: Option<u64>,
    max_bytes: i64,
}

fn options() -> Result<Options, String> {
    let mut given: BTreeMap<String, String> = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag}"))?;
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        given.insert(name.to_owned(), value);
    }
    let take = |name: &str, default: &str| given.get(name).cloned().unwrap_or_else(|| default.to_owned());
    let number = |name: &str, default: &str| -> Result<u64, String> {
        take(name, default)
            .parse()
            .map_err(|_| format!("--{name} must be a whole number"))
    };
    let options = Options {
        url: take("url", "nats://127.0.0.1:4222"),
        stream: take("stream", "bench"),
        replicas: number("replicas", "3")? as usize,
        record_size: number("record-size", "100")? as usize,
        batch_size: number("batch-size", "100")?.max(1),
        concurrency: number("concurrency", "8")?.max(1),
        duration: Duration::from_secs(number("duration", "10")?.max(1)),
        count: given.get("count").map(|c| c.parse()).transpose().map_err(|_| "--count".to_owned())?,
        max_bytes: number("max-bytes", "4294967296")? as i64,
    };
    for name in given.keys() {
        if ![
            "url", "stream", "replicas", "record-size", "batch-size", "concurrency", "duration", "count",
            "max-bytes",
        ]
        .contains(&name.as_str())
        {
            return Err(format!("unknown flag --{name}"));
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    if let Err(error) = run(options).await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = async_nats::connect(&options.url).await?;
    let js = jetstream::new(client);
    let subject = format!("{}.data", options.stream);
    js.get_or_create_stream(stream::Config {
        name: options.stream.clone(),
        subjects: vec![format!("{}.>", options.stream)],
        num_replicas: options.replicas,
        storage: stream::StorageType::File,
        max_bytes: options.max_bytes,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await?;

    let payload = Bytes::from((0..options.record_size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let claimed = Arc::new(AtomicU64::new(0));
    let stored = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let js = js.clone();
        let subject = subject.clone();
        let payload = payload.clone();
        let (claimed, stored, failed) = (claimed.clone(), stored.clone(), failed.clone());
        let (batch, count) = (options.batch_size, options.count);
        workers.push(tokio::spawn(async move {
            let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let first = claimed.fetch_add(batch, Ordering::Relaxed);
                let n = match count {
                    Some(count) => batch.min(count.saturating_sub(first)),
                    None => batch,
                };
                if n == 0 {
                    break;
                }
                let sent = Instant::now();
                let mut acks = Vec::with_capacity(n as usize);
                let mut errors = 0;
                for _ in 0..n {
                    match js.publish(subject.clone(), payload.clone()).await {
                        Ok(ack) => acks.push(ack),
                        Err(_) => errors += 1,
                    }
                }
                for result in futures::future::join_all(acks.into_iter().map(std::future::IntoFuture::into_future)).await {
                    if result.is_err() {
                        errors += 1;
                    }
                }
                latencies.saturating_record(sent.elapsed().as_micros().clamp(1, 60_000_000) as u64);
                stored.fetch_add(n - errors, Ordering::Relaxed);
                failed.fetch_add(errors, Ordering::Relaxed);
            }
            latencies
        }));
    }
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for worker in workers {
        latencies.add(worker.await?)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let records = stored.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "mode": "produce",
        "system": "nats-jetstream",
        "replicas": options.replicas,
        "record_size": options.record_size,
        "batch_size": options.batch_size,
        "concurrency": options.concurrency,
        "records": records,
        "failed": failed.load(Ordering::Relaxed),
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "records_per_s": (records as f64 / elapsed).round(),
        "mb_per_s": ((records * options.record_size as u64) as f64 / elapsed / 1e6 * 100.0).round() / 100.0,
        "latency_us": {
            "samples": latencies.len(),
            "p50": latencies.value_at_quantile(0.5),
            "p99": latencies.value_at_quantile(0.99),
            "p999": latencies.value_at_quantile(0.999),
            "max": latencies.max(),
        },
    });
    println!("{summary}");
    Ok(())
}
