//! What a bench run counts: latency histograms, shared counters and the progress line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

/// The largest latency a histogram tells apart: one minute, in microseconds.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Latencies in microseconds, three significant digits.
#[derive(Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies(
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("infallible: the bounds and precision are valid constants"),
        )
    }

    /// Records one latency; anything over a minute counts as a minute.
    pub fn record(&mut self, latency: Duration) {
        self.record_micros(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records one latency given in microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        self.0.saturating_record(micros.clamp(1, MAX_LATENCY_US));
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Latencies) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The percentiles the summary reports, in microseconds.
    pub fn to_json(&self) -> serde_json::Value {
        if self.0.is_empty() {
            return json!({ "samples": 0 });
        }
        json!({
            "samples": self.0.len(),
            "min": self.0.min(),
            "p50": self.0.value_at_quantile(0.50),
            "p90": self.0.value_at_quantile(0.90),
            "p99": self.0.value_at_quantile(0.99),
            "p999": self.0.value_at_quantile(0.999),
            "max": self.0.max(),
            "mean": (self.0.mean() * 10.0).round() / 10.0,
        })
    }

    /// `p50 1.2ms p99 3.4ms p999 5.6ms`, for the progress line.
    pub fn short(&self) -> String {
        if self.0.is_empty() {
            return "no samples".to_owned();
        }
        format!(
            "p50 {} p99 {} p999 {}",
            millis(self.0.value_at_quantile(0.5)),
            millis(self.0.value_at_quantile(0.99)),
            millis(self.0.value_at_quantile(0.999))
        )
    }
}

fn millis(micros: u64) -> String {
    format!("{:.2}ms", micros as f64 / 1000.0)
}

/// Counters every worker of a run adds to, read by the progress line and the summary.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records stored (or read).
    pub records: AtomicU64,
    /// Payload bytes of those records.
    pub bytes: AtomicU64,
    /// Records a PutRecords answer reported as failed.
    pub failed: AtomicU64,
    /// Requests that failed as a whole.
    pub errors: AtomicU64,
    /// The slowest request since the progress line last printed, in microseconds: a
    /// stall shows in the line of the second it happened, not only in the summary.
    pub slowest_us: AtomicU64,
}

impl Counters {
    pub fn add(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Notes one request's latency for the progress line's `slowest` column.
    pub fn note_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.slowest_us.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The throughput members of a summary over `elapsed`.
    pub fn throughput_json(&self, elapsed: Duration) -> serde_json::Map<String, serde_json::Value> {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let mut members = serde_json::Map::new();
        members.insert("records".into(), self.records().into());
        members.insert("failed".into(), self.failed().into());
        members.insert("errors".into(), self.errors().into());
        members.insert("elapsed_s".into(), json!((seconds * 1000.0).round() / 1000.0));
        members.insert(
            "records_per_s".into(),
            json!((self.records() as f64 / seconds).round()),
        );
        members.insert(
            "mb_per_s".into(),
            json!((self.bytes() as f64 / seconds / 1e6 * 100.0).round() / 100.0),
        );
        members
    }
}

/// Prints a progress line to standard error every `interval` until stopped.
pub struct Progress {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts the line for `label`; an interval of zero prints nothing.
    pub fn start(label: &'static str, counters: Arc<Counters>, interval: Duration) -> Progress {
        let (stop, mut stopped) = watch::channel(false);
        let task = (!interval.is_zero()).then(|| {
            tokio::spawn(async move {
                let started = Instant::now();
                let mut ticks = tokio::time::interval_at(started + interval, interval);
                let mut last = (started, 0u64);
                loop {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        _ = stopped.changed() => return,
                    }
                    let now = Instant::now();
                    let records = counters.records();
                    let recent = (records - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
                    let overall = records as f64 / (now - started).as_secs_f64().max(1e-9);
                    let slowest = counters.slowest_us.swap(0, Ordering::Relaxed);
                    eprintln!(
                        "{label} {:>6.1}s {records:>11} records {overall:>9.0}/s (last {:.0}/s, slowest {}) {} failed {} errors",
                        (now - started).as_secs_f64(),
                        recent,
                        millis(slowest),
                        counters.failed(),
                        counters.errors(),
                    );
                    last = (now, records);
                }
            })
        });
        Progress { stop, task }
    }

    /// Stops the line.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_samples() {
        let mut latencies = Latencies::new();
        for micros in 1..=1000 {
            latencies.record_micros(micros);
        }
        let summary = latencies.to_json();
        assert_eq!(summary["samples"], 1000);
        let p50 = summary["p50"].as_u64().expect("a number");
        assert!((495..=505).contains(&p50), "{p50}");
        let p99 = summary["p99"].as_u64().expect("a number");
        assert!((985..=995).contains(&p99), "{p99}");
    }

    #[test]
    fn merged_histograms_add_up_and_huge_values_saturate() {
        let mut a = Latencies::new();
        a.record(Duration::from_millis(2));
        let mut b = Latencies::new();
        b.record(Duration::from_secs(3600));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert!(a.to_json()["max"].as_u64().expect("a number") >= MAX_LATENCY_US);
        assert_eq!(Latencies::new().to_json()["samples"], 0);
    }

    #[test]
    fn throughput_is_per_second() {
        let counters = Counters::default();
        counters.add(1000, 2_000_000);
        let summary = counters.throughput_json(Duration::from_secs(2));
        assert_eq!(summary["records_per_s"], json!(500.0));
        assert_eq!(summary["mb_per_s"], json!(1.0));
    }
}
